/*
 * The WebSub subscriptions (tb_push.h) in the store's database: table
 * push_subs (migration 16 in store.c), one row per source. Each call is one
 * statement, so one transaction of its own (or part of the caller's).
 * Statements are prepared per call: a subscription changes a few times a
 * lease, a push once.
 */
#include "store_int.h"
#include "tb_push.h"
#include "tb_vec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLS                                                                                       \
    "p.source_id, s.name, p.hub, p.topic, p.id, p.secret, p.state, p.requested, p.lease_end,"      \
    " p.next_try, p.failures, p.reason, p.last_push, p.pushes, p.rejected"
#define FROM " FROM push_subs p LEFT JOIN sources s ON s.id = p.source_id"

static char *col_str(sqlite3_stmt *q, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    char *s;

    if (t == NULL)
        return NULL;
    s = strdup((const char *)t);
    if (s == NULL)
        *oom = 1;
    return s;
}

/* Reads the current row of a COLS query into *out. 0 or -ENOMEM. */
static int read_row(sqlite3_stmt *q, struct tb_push_sub *out)
{
    int oom = 0;

    memset(out, 0, sizeof(*out));
    out->source_id = sqlite3_column_int64(q, 0);
    out->source = col_str(q, 1, &oom);
    out->hub = col_str(q, 2, &oom);
    out->topic = col_str(q, 3, &oom);
    out->id = col_str(q, 4, &oom);
    out->secret = col_str(q, 5, &oom);
    out->state = (enum tb_push_state)sqlite3_column_int(q, 6);
    out->requested = sqlite3_column_int64(q, 7);
    out->lease_end = sqlite3_column_int64(q, 8);
    out->next_try = sqlite3_column_int64(q, 9);
    out->failures = sqlite3_column_int(q, 10);
    out->reason = col_str(q, 11, &oom);
    out->last_push = sqlite3_column_int64(q, 12);
    out->pushes = sqlite3_column_int64(q, 13);
    out->rejected = sqlite3_column_int64(q, 14);
    if (oom)
        tb_push_sub_clear(out);
    return oom ? -ENOMEM : 0;
}

/* One row of `sql` (COLS, one text or int parameter) into *out. */
static int get_one(struct tb_store *st, const char *sql, const char *text, int64_t num,
                   struct tb_push_sub *out, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
        return tb__store_fail(st, err, errlen, "push subscription");
    if (text != NULL)
        sqlite3_bind_text(q, 1, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(q, 1, num);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        rc = read_row(q, out);
    else if (rc == SQLITE_DONE)
        rc = -ENOENT;
    else
        rc = tb__store_fail(st, err, errlen, "push subscription");
    sqlite3_finalize(q);
    return rc;
}

int tb_push_get(struct tb_store *st, int64_t source_id, struct tb_push_sub *out, char *err,
                size_t errlen)
{
    return get_one(st, "SELECT " COLS FROM " WHERE p.source_id = ?1", NULL, source_id, out, err,
                   errlen);
}

int tb_push_get_by_id(struct tb_store *st, const char *id, struct tb_push_sub *out, char *err,
                      size_t errlen)
{
    return get_one(st, "SELECT " COLS FROM " WHERE p.id = ?1", id, 0, out, err, errlen);
}

int tb_push_put(struct tb_store *st, const struct tb_push_sub *s, char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT INTO push_subs(source_id, hub, topic, id, secret, state, requested,"
        " lease_end, next_try, failures, reason, last_push, pushes, rejected)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        " ON CONFLICT(source_id) DO UPDATE SET hub = ?2, topic = ?3, id = ?4, secret = ?5,"
        " state = ?6, requested = ?7, lease_end = ?8, next_try = ?9, failures = ?10,"
        " reason = ?11, last_push = ?12, pushes = ?13, rejected = ?14";
    sqlite3_stmt *q = NULL;
    int rc;

    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
        return tb__store_fail(st, err, errlen, "push subscription");
    sqlite3_bind_int64(q, 1, s->source_id);
    sqlite3_bind_text(q, 2, s->hub, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, s->topic, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, s->secret, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 6, (int)s->state);
    sqlite3_bind_int64(q, 7, s->requested);
    sqlite3_bind_int64(q, 8, s->lease_end);
    sqlite3_bind_int64(q, 9, s->next_try);
    sqlite3_bind_int(q, 10, s->failures);
    sqlite3_bind_text(q, 11, s->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 12, s->last_push);
    sqlite3_bind_int64(q, 13, s->pushes);
    sqlite3_bind_int64(q, 14, s->rejected);
    rc = sqlite3_step(q) == SQLITE_DONE ? 0 : tb__store_fail(st, err, errlen, "push subscription");
    sqlite3_finalize(q);
    return rc;
}

int tb_push_delete(struct tb_store *st, const char *id, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int rc;

    if (sqlite3_prepare_v2(st->db, "DELETE FROM push_subs WHERE id = ?1", -1, &q, NULL) !=
        SQLITE_OK)
        return tb__store_fail(st, err, errlen, "push subscription");
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        rc = tb__store_fail(st, err, errlen, "push subscription");
    else
        rc = sqlite3_changes(st->db) > 0 ? 0 : -ENOENT;
    sqlite3_finalize(q);
    return rc;
}

int tb_push_list(struct tb_store *st, struct tb_push_sub **out, size_t *n, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    struct tb_push_sub *v = NULL;
    size_t cap = 0, len = 0;
    int rc = 0, step;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(st->db, "SELECT " COLS FROM " ORDER BY s.name, p.source_id", -1, &q,
                           NULL) != SQLITE_OK)
        return tb__store_fail(st, err, errlen, "push subscriptions");
    step = sqlite3_step(q);
    for (; rc == 0 && step == SQLITE_ROW; step = sqlite3_step(q)) {
        rc = TB_VEC_RESERVE(v, cap, len + 1, TB_VEC_MAX);
        if (rc == 0)
            rc = read_row(q, &v[len]);
        if (rc == 0)
            len++;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = tb__store_fail(st, err, errlen, "push subscriptions");
    sqlite3_finalize(q);
    if (rc != 0) {
        tb_push_list_free(v, len);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

void tb_push_list_free(struct tb_push_sub *v, size_t n)
{
    size_t i;

    for (i = 0; v != NULL && i < n; i++)
        tb_push_sub_clear(&v[i]);
    free(v);
}
