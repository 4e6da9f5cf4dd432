/*
 * Polling by leases (tb_lease.h): claims of due sources, their renewal and
 * release, and the fenced writes of a poll's entries and outcome. The SQL
 * is the same on both engines but for the claim's row locks: PostgreSQL
 * claimers lock the rows they pick and skip those others locked (FOR
 * UPDATE SKIP LOCKED), so two nodes claiming at once get different
 * sources without waiting for each other; SQLite has one writer at a time,
 * which serialises claims by itself.
 */
#include "store_int.h"
#include "tb_lease.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The due sources, longest due first; %s: the row locks on PostgreSQL. */
#define CLAIM_SQL                                                                                  \
    "UPDATE sources SET lease_node = ?1, lease_until = ?2 + ?3, lease_token = lease_token + 1"     \
    " WHERE id IN (SELECT id FROM sources WHERE active = 1 AND gone = 0 AND next_poll <= ?2"       \
    " AND (lease_until IS NULL OR lease_until <= ?2) ORDER BY next_poll, id LIMIT ?4%s)"           \
    " RETURNING id, lease_token"

static const char renew_sql[] =
    "UPDATE sources SET lease_until = ?3 WHERE id = ?1 AND lease_token = ?2";
static const char release_sql[] = "UPDATE sources SET lease_node = NULL, lease_until = NULL"
                                  " WHERE id = ?1 AND lease_token = ?2";
/* The fence: a write that changes nothing, so that on PostgreSQL the row
 * stays locked (a claim skips it) until the poll's transaction ends. */
static const char fence_sql[] =
    "UPDATE sources SET lease_token = lease_token WHERE id = ?1 AND lease_token = ?2";
static const char done_sql[] =
    "UPDATE sources SET lease_node = NULL, lease_until = NULL,"
    " polled_node = ?3, polled_at = ?4 WHERE id = ?1 AND lease_token = ?2";
static const char poll_by_sql[] = "UPDATE sources SET next_poll = ?2"
                                  " WHERE id = ?1 AND (next_poll IS NULL OR next_poll > ?2)";
static const char first_sql[] =
    "UPDATE sources SET next_poll = ?2 WHERE id = ?1 AND next_poll IS NULL";

/* Says in err that l's claim was overtaken; returns TB_ELEASE. */
static int lost(const struct tb_lease *l, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "source %lld: lease token %lld is no longer the latest claim",
                 (long long)l->source_id, (long long)l->token);
    return TB_ELEASE;
}

/* Runs sql on l's row: ?1 the source, ?2 the token, then ?3 `node` and
 * ?4 `t` (fmt "ii", "iii" or "iiti" says which). TB_ELEASE when the row no
 * longer holds the token, else 0 or an error. */
static int on_row(struct tb_store *s, const struct tb_lease *l, const char *sql, const char *fmt,
                  int64_t t, const char *node, char *err, size_t errlen)
{
    int rc;

    if (strcmp(fmt, "iiti") == 0)
        rc = tb_db_run(s->sql, err, errlen, sql, fmt, l->source_id, l->token, node, t);
    else if (strcmp(fmt, "iii") == 0)
        rc = tb_db_run(s->sql, err, errlen, sql, fmt, l->source_id, l->token, t);
    else
        rc = tb_db_run(s->sql, err, errlen, sql, "ii", l->source_id, l->token);
    if (rc == 0 && tb_db_changes(s->sql) == 0)
        rc = lost(l, err, errlen);
    return rc;
}

int tb_lease_claim(struct tb_store *s, const char *node, int64_t now, int64_t lease,
                   struct tb_lease *out, size_t max, size_t *n, char *err, size_t errlen)
{
    int pg = tb_db_dialect(s->sql) == TB_DB_PG;
    struct tb_db_stmt *q = NULL;
    char sql[sizeof(CLAIM_SQL) + 32];
    int rc, step = TB_DB_DONE;

    *n = 0;
    if (node == NULL || lease < 1)
        return -EINVAL;
    if (max == 0)
        return 0;
    snprintf(sql, sizeof(sql), CLAIM_SQL, pg ? " FOR UPDATE SKIP LOCKED" : "");
    rc = tb_db_query(s->sql, &q, err, errlen, sql, "tiii", node, now, lease, (int64_t)max);
    while (rc == 0) {
        step = tb_db_step(q, err, errlen);
        if (step != TB_DB_ROW)
            break;
        /* LIMIT bounds the rows; the check keeps out[] safe regardless. */
        if (*n < max) {
            out[*n].source_id = tb_db_column_int64(q, 0);
            out[*n].token = tb_db_column_int64(q, 1);
            (*n)++;
        }
    }
    if (rc == 0 && step < 0)
        rc = step;
    tb_db_finalize(q);
    if (rc != 0)
        *n = 0;
    return rc;
}

int tb_lease_renew(struct tb_store *s, const struct tb_lease *l, int64_t until, char *err,
                   size_t errlen)
{
    return on_row(s, l, renew_sql, "iii", until, NULL, err, errlen);
}

int tb_lease_release(struct tb_store *s, const struct tb_lease *l, char *err, size_t errlen)
{
    return on_row(s, l, release_sql, "ii", 0, NULL, err, errlen);
}

int tb_lease_put(struct tb_store *s, const struct tb_lease *l, const struct tb_feed *f,
                 const struct tb_store_prep *prep, int64_t seen_at, struct tb_store_stats *st,
                 int64_t **new_ids, size_t *n_new, char *err, size_t errlen)
{
    size_t mark = s->nunindexed;
    int rc = tb_db_begin(s->sql, TB_DB_IMMEDIATE, err, errlen);

    if (new_ids != NULL) {
        *new_ids = NULL;
        *n_new = 0;
    }
    if (rc != 0)
        return rc;
    rc = on_row(s, l, fence_sql, "ii", 0, NULL, err, errlen);
    if (rc == 0)
        rc = tb_store_put_prepared(s, l->source_id, f, prep, seen_at, st, new_ids, n_new, err,
                                   errlen);
    /* The put nested in this transaction leaves its new entries to be
     * indexed at the batch's commit; alone, they are indexed here. */
    if (rc == 0 && !s->in_txn)
        rc = tb__store_index_all(s, err, errlen);
    if (rc == 0)
        return tb_db_commit(s->sql, err, errlen);
    (void)tb_db_rollback(s->sql);
    s->nunindexed = mark;
    if (new_ids != NULL) {
        free(*new_ids);
        *new_ids = NULL;
        *n_new = 0;
    }
    return rc;
}

int tb_lease_record(struct tb_store *s, const struct tb_lease *l, const char *node, int64_t now,
                    const struct tb_store_state *st, char *err, size_t errlen)
{
    int rc;

    if (node == NULL || st->source_id != l->source_id)
        return -EINVAL;
    rc = tb_db_begin(s->sql, TB_DB_IMMEDIATE, err, errlen);
    if (rc != 0)
        return rc;
    rc = on_row(s, l, done_sql, "iiti", now, node, err, errlen);
    if (rc == 0)
        rc = tb_store_state_put(s, st, err, errlen);
    if (rc == 0)
        return tb_db_commit(s->sql, err, errlen);
    (void)tb_db_rollback(s->sql);
    return rc;
}

int tb_lease_forget(struct tb_store *s, const char *node, size_t *n, char *err, size_t errlen)
{
    int rc = tb_db_run(s->sql, err, errlen,
                       "UPDATE sources SET lease_node = NULL, lease_until = NULL,"
                       " lease_token = lease_token + 1 WHERE lease_node = ?1",
                       "t", node);

    if (n != NULL)
        *n = rc == 0 ? (size_t)tb_db_changes(s->sql) : 0;
    return rc;
}

int tb_lease_end_own(struct tb_store *s, int64_t source_id, const char *node, size_t *n, char *err,
                     size_t errlen)
{
    int rc = tb_db_run(s->sql, err, errlen,
                       "UPDATE sources SET lease_node = NULL, lease_until = NULL,"
                       " lease_token = lease_token + 1 WHERE id = ?1 AND lease_node = ?2",
                       "it", source_id, node);

    if (n != NULL)
        *n = rc == 0 ? (size_t)tb_db_changes(s->sql) : 0;
    return rc;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Sets active on the rows whose value changes only: on PostgreSQL an
 * UPDATE locks every row it matches, and a node joining a cluster would
 * otherwise wait on (or deadlock with) the other nodes' polls, which hold
 * their sources' rows to their commits, and fail its start. */
int tb_lease_sync(struct tb_store *s, const int64_t *ids, size_t n, char *err, size_t errlen)
{
    struct tb_db_stmt *q = NULL, *off = NULL;
    int64_t *sorted = NULL, *gone = NULL, id;
    size_t i, ngone = 0, cap = 0;
    int rc = 0, st;

    if (n > 0) {
        sorted = malloc(n * sizeof(*sorted));
        if (sorted == NULL)
            return -ENOMEM;
        memcpy(sorted, ids, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), cmp_id);
    }
    rc = tb_db_begin(s->sql, TB_DB_IMMEDIATE, err, errlen);
    if (rc != 0)
        goto out;
    rc = tb_db_prepare(s->sql, "SELECT id FROM sources WHERE active != 0", &q, err, errlen);
    while (rc == 0) {
        st = tb_db_step(q, err, errlen);
        if (st != TB_DB_ROW) {
            rc = st < 0 ? st : 0;
            break;
        }
        id = tb_db_column_int64(q, 0);
        if (n > 0 && bsearch(&id, sorted, n, sizeof(*sorted), cmp_id) != NULL)
            continue;
        if (ngone == cap) {
            int64_t *g = realloc(gone, (cap ? cap * 2 : 64) * sizeof(*gone));

            if (g == NULL) {
                rc = -ENOMEM;
                break;
            }
            gone = g;
            cap = cap ? cap * 2 : 64;
        }
        gone[ngone++] = id;
    }
    tb_db_finalize(q);
    q = NULL;
    if (rc == 0)
        rc = tb_db_prepare(s->sql, "UPDATE sources SET active = 0 WHERE id = ?1 AND active != 0",
                           &off, err, errlen);
    for (i = 0; rc == 0 && i < ngone; i++) {
        rc = tb_db_bind_int64(off, 1, gone[i]);
        rc = rc ? rc : tb_db_step(off, err, errlen);
        tb_db_reset(off);
    }
    if (rc == 0)
        rc = tb_db_prepare(s->sql, "UPDATE sources SET active = 1 WHERE id = ?1 AND active != 1",
                           &q, err, errlen);
    for (i = 0; rc == 0 && i < n; i++) {
        rc = tb_db_bind_int64(q, 1, ids[i]);
        rc = rc ? rc : tb_db_step(q, err, errlen);
        tb_db_reset(q);
    }
    tb_db_finalize(q);
    tb_db_finalize(off);
    if (rc == 0)
        rc = tb_db_commit(s->sql, err, errlen);
    else
        (void)tb_db_rollback(s->sql);
out:
    free(sorted);
    free(gone);
    return rc;
}

int tb_lease_first_poll(struct tb_store *s, int64_t source_id, int64_t t, char *err, size_t errlen)
{
    return tb_db_run(s->sql, err, errlen, first_sql, "ii", source_id, t);
}

int tb_lease_poll_by(struct tb_store *s, int64_t source_id, int64_t t, char *err, size_t errlen)
{
    return tb_db_run(s->sql, err, errlen, poll_by_sql, "ii", source_id, t);
}
