/*
 * The WebSub subscriptions (tb_push.h) in the store's database: table
 * push_subs (migration 16 in store.c), one row per source. Each call is one
 * statement, so one transaction of its own (or part of the caller's).
 * Statements are prepared per call: a subscription changes a few times a
 * lease, a push once. The SQL is tb_db's, the same on SQLite and
 * PostgreSQL.
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
    " p.next_try, p.failures, p.reason, p.last_push, p.pushes, p.rejected, p.claim_token"
#define FROM " FROM push_subs p LEFT JOIN sources s ON s.id = p.source_id"

static char *col_str(struct tb_db_stmt *q, int i, int *oom)
{
    const char *t = tb_db_column_text(q, i);
    char *s;

    if (t == NULL)
        return NULL;
    s = strdup(t);
    if (s == NULL)
        *oom = 1;
    return s;
}

/* Reads the current row of a COLS query into *out. 0 or -ENOMEM. */
static int read_row(struct tb_db_stmt *q, struct tb_push_sub *out)
{
    int oom = 0;

    memset(out, 0, sizeof(*out));
    out->source_id = tb_db_column_int64(q, 0);
    out->source = col_str(q, 1, &oom);
    out->hub = col_str(q, 2, &oom);
    out->topic = col_str(q, 3, &oom);
    out->id = col_str(q, 4, &oom);
    out->secret = col_str(q, 5, &oom);
    out->state = (enum tb_push_state)tb_db_column_int64(q, 6);
    out->requested = tb_db_column_int64(q, 7);
    out->lease_end = tb_db_column_int64(q, 8);
    out->next_try = tb_db_column_int64(q, 9);
    out->failures = (int)tb_db_column_int64(q, 10);
    out->reason = col_str(q, 11, &oom);
    out->last_push = tb_db_column_int64(q, 12);
    out->pushes = tb_db_column_int64(q, 13);
    out->rejected = tb_db_column_int64(q, 14);
    out->claim_token = tb_db_column_int64(q, 15);
    if (oom)
        tb_push_sub_clear(out);
    return oom ? -ENOMEM : 0;
}

/* One row of `sql` (COLS, one text or int parameter) into *out. */
static int get_one(struct tb_store *st, const char *sql, const char *text, int64_t num,
                   struct tb_push_sub *out, char *err, size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (text != NULL)
        rc = tb_db_query(st->sql, &q, err, errlen, sql, "t", text);
    else
        rc = tb_db_query(st->sql, &q, err, errlen, sql, "i", num);
    if (rc == 0)
        rc = tb_db_step(q, err, errlen);
    if (rc == TB_DB_ROW)
        rc = read_row(q, out);
    else if (rc == TB_DB_DONE)
        rc = -ENOENT;
    tb_db_finalize(q);
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
        " ON CONFLICT(source_id) DO UPDATE SET hub = excluded.hub, topic = excluded.topic,"
        " id = excluded.id, secret = excluded.secret, state = excluded.state,"
        " requested = excluded.requested, lease_end = excluded.lease_end,"
        " next_try = excluded.next_try, failures = excluded.failures,"
        " reason = excluded.reason, last_push = excluded.last_push,"
        " pushes = excluded.pushes, rejected = excluded.rejected";

    int rc;

    /* A taken callback id fails the insert (its UNIQUE constraint). On
     * PostgreSQL a failed statement spoils the transaction it is in, so
     * the put runs in its own (a savepoint inside a caller's), undone
     * alone. */
    rc = tb_db_begin(st->sql, TB_DB_DEFERRED, err, errlen);
    if (rc != 0)
        return rc;
    rc = tb_db_run(st->sql, err, errlen, sql, "ittttiiiiitiii", s->source_id, s->hub, s->topic,
                   s->id, s->secret, (int64_t)s->state, s->requested, s->lease_end, s->next_try,
                   (int64_t)s->failures, s->reason, s->last_push, s->pushes, s->rejected);
    if (rc == 0)
        return tb_db_commit(st->sql, err, errlen);
    (void)tb_db_rollback(st->sql);
    return rc == TB_EDB_CONSTRAINT ? TB_ESTORE : rc;
}

int tb_push_claim(struct tb_store *st, const char *id, int64_t *token, int64_t until, char *err,
                  size_t errlen)
{
    int64_t got = 0;
    int rc = tb_db_scalar(st->sql, &got, err, errlen,
                          "UPDATE push_subs SET next_try = ?3, claim_token = claim_token + 1"
                          " WHERE id = ?1 AND claim_token = ?2 RETURNING claim_token",
                          "tii", id, *token, until);

    if (rc == -ENOENT)
        return 0;
    if (rc == 0)
        *token = got;
    return rc == 0 ? 1 : rc;
}

int tb_push_delete(struct tb_store *st, const char *id, char *err, size_t errlen)
{
    int rc = tb_db_run(st->sql, err, errlen, "DELETE FROM push_subs WHERE id = ?1", "t", id);

    if (rc == 0 && tb_db_changes(st->sql) == 0)
        rc = -ENOENT;
    return rc;
}

int tb_push_list(struct tb_store *st, struct tb_push_sub **out, size_t *n, char *err, size_t errlen)
{
    /* NULLS FIRST: a subscription whose source row is gone sorts first on
     * PostgreSQL too, as on SQLite (PostgreSQL puts NULLs last by default). */
    static const char sql[] = "SELECT " COLS FROM " ORDER BY s.name NULLS FIRST, p.source_id";
    struct tb_db_stmt *q = NULL;
    struct tb_push_sub *v = NULL;
    size_t cap = 0, len = 0;
    int rc = tb_db_prepare(st->sql, sql, &q, err, errlen);

    *out = NULL;
    *n = 0;
    while (rc == 0) {
        rc = tb_db_step(q, err, errlen);
        if (rc != TB_DB_ROW)
            break;
        rc = TB_VEC_RESERVE(v, cap, len + 1, TB_VEC_MAX);
        if (rc == 0)
            rc = read_row(q, &v[len]);
        if (rc == 0)
            len++;
    }
    tb_db_finalize(q);
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
