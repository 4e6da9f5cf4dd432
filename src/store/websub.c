/*
 * The WebSub hub's tables (tb_websub.h): websub_subs, one row per (topic,
 * callback), and websub_docs, the hash of each feed document last seen
 * (migration 15 in store.c).
 *
 * Each call is one statement in its own (autocommit) transaction, except
 * tb_websub_store_flush(), which writes what the hub collected (deliveries
 * owed and done, document hashes) in one transaction and, on the loop,
 * never waits for the store job's lock. The SQL is tb_db's, the same on
 * SQLite and PostgreSQL.
 */
#include "store_int.h"
#include "tb_websub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLS "id, topic, callback, secret, lease, expires, pending, attempts, next_try"

/* How long a flush that must not wait waits for a lock, in ms: at once on
 * SQLite (its busy timeout 0); PostgreSQL's lock_timeout 0 would mean for
 * ever, so there 1 ms. */
#define NOWAIT_MS(db) (tb_db_dialect(db) == TB_DB_PG ? 1 : 0)

int tb_websub_store_put(struct tb_store *s, const char *topic, const char *callback,
                        const char *secret, int64_t lease, int64_t now, int64_t *id, char *err,
                        size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    int rc = tb_db_query(s->sql, &q, err, errlen,
                         "INSERT INTO websub_subs(topic, callback, secret, lease, expires, created)"
                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(topic, callback) DO UPDATE"
                         " SET secret = excluded.secret, lease = excluded.lease,"
                         " expires = excluded.expires RETURNING id",
                         "tttiii", topic, callback, secret, lease, now + lease, now);

    if (rc == 0)
        rc = tb_db_step(q, err, errlen);
    if (rc == TB_DB_ROW) {
        *id = tb_db_column_int64(q, 0);
        rc = 0;
    } else if (rc == TB_DB_DONE) {
        snprintf(err, errlen, "websub: no id for the subscription");
        rc = TB_ESTORE; /* an upsert returns its row: not reached */
    }
    tb_db_finalize(q);
    return rc;
}

int tb_websub_store_del(struct tb_store *s, const char *topic, const char *callback, char *err,
                        size_t errlen)
{
    return tb_db_run(s->sql, err, errlen,
                     "DELETE FROM websub_subs WHERE topic = ?1 AND callback = ?2", "tt", topic,
                     callback);
}

int tb_websub_store_del_id(struct tb_store *s, int64_t id, char *err, size_t errlen)
{
    return tb_db_run(s->sql, err, errlen, "DELETE FROM websub_subs WHERE id = ?1", "i", id);
}

static char *col_dup(struct tb_db_stmt *q, int i, int *oom)
{
    const char *t = tb_db_column_text(q, i);
    char *c;

    if (t == NULL)
        return NULL;
    c = strdup(t);
    *oom |= c == NULL;
    return c;
}

/* Appends the row q is on to *subs. 0 or -ENOMEM. */
static int add_row(struct tb_db_stmt *q, struct tb_websub_sub **subs, size_t *n, size_t *cap)
{
    struct tb_websub_sub *u;
    int oom = 0;

    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct tb_websub_sub *p = realloc(*subs, ncap * sizeof(*p));

        if (p == NULL)
            return -ENOMEM;
        *subs = p;
        *cap = ncap;
    }
    u = &(*subs)[*n];
    memset(u, 0, sizeof(*u));
    u->id = tb_db_column_int64(q, 0);
    u->topic = col_dup(q, 1, &oom);
    u->callback = col_dup(q, 2, &oom);
    u->secret = col_dup(q, 3, &oom);
    u->lease = tb_db_column_int64(q, 4);
    u->expires = tb_db_column_int64(q, 5);
    u->pending = (int)tb_db_column_int64(q, 6);
    u->attempts = (int)tb_db_column_int64(q, 7);
    u->next_try = tb_db_column_int64(q, 8);
    (*n)++;
    return oom || u->topic == NULL || u->callback == NULL ? -ENOMEM : 0;
}

int tb_websub_store_load(struct tb_store *s, int64_t now, struct tb_websub_sub **subs, size_t *n,
                         char *err, size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    size_t cap = 0;
    int rc =
        tb_db_query(s->sql, &q, err, errlen,
                    "SELECT " COLS " FROM websub_subs WHERE expires > ?1 ORDER BY id", "i", now);

    *subs = NULL;
    *n = 0;
    while (rc == 0) {
        rc = tb_db_step(q, err, errlen);
        if (rc != TB_DB_ROW)
            break;
        rc = add_row(q, subs, n, &cap);
    }
    tb_db_finalize(q);
    if (rc != 0) {
        tb_websub_subs_free(*subs, *n);
        *subs = NULL;
        *n = 0;
    }
    return rc;
}

int tb_websub_store_expire(struct tb_store *s, int64_t now, size_t *removed, char *err,
                           size_t errlen)
{
    int rc =
        tb_db_run(s->sql, err, errlen, "DELETE FROM websub_subs WHERE expires <= ?1", "i", now);

    *removed = rc == 0 ? (size_t)tb_db_changes(s->sql) : 0;
    return rc;
}

/* Runs one flush's statements inside its transaction. */
static int flush_rows(struct tb_store *s, const struct tb_websub_owed *owed, size_t n,
                      const struct tb_websub_hash *hashes, size_t nh, char *err, size_t errlen)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = tb_db_run(s->sql, err, errlen,
                       "UPDATE websub_subs SET pending = ?2,"
                       " attempts = CASE WHEN ?3 < 0 THEN attempts ELSE ?3 END,"
                       " next_try = CASE WHEN ?3 < 0 THEN next_try ELSE ?4 END WHERE id = ?1",
                       "iiii", owed[i].id, (int64_t)owed[i].pending, (int64_t)owed[i].attempts,
                       owed[i].next_try);
    for (size_t i = 0; rc == 0 && i < nh; i++)
        rc = tb_db_run(s->sql, err, errlen,
                       "INSERT INTO websub_docs(path, hash) VALUES(?1, ?2)"
                       " ON CONFLICT(path) DO UPDATE SET hash = excluded.hash",
                       "tt", hashes[i].path, hashes[i].hash);
    return rc;
}

int tb_websub_store_flush(struct tb_store *s, const struct tb_websub_owed *owed, size_t n,
                          const struct tb_websub_hash *hashes, size_t nh, int wait, char *err,
                          size_t errlen)
{
    int rc;

    if (n == 0 && nh == 0)
        return 0;
    /* Without waiting, a writer elsewhere (the store job's batch; on
     * PostgreSQL another node holding the rows) makes this fail at once
     * rather than hold the loop for up to 5 s. On SQLite the wait is the
     * BEGIN IMMEDIATE's; on PostgreSQL, which locks rows as it writes
     * them, the statements'. The timeout is set back once the transaction
     * is over (PostgreSQL refuses a SET in a failed one). */
    rc = wait ? 0 : tb_db_busy_timeout(s->sql, NOWAIT_MS(s->sql), err, errlen);
    if (rc == 0)
        rc = tb_db_begin(s->sql, TB_DB_IMMEDIATE, err, errlen);
    if (rc == 0) {
        rc = flush_rows(s, owed, n, hashes, nh, err, errlen);
        if (rc == 0)
            rc = tb_db_commit(s->sql, err, errlen);
        else
            (void)tb_db_rollback(s->sql);
    }
    if (!wait && tb_db_busy_timeout(s->sql, TB__STORE_BUSY_MS, NULL, 0) != 0)
        tb_log(TB_LOG_WARN, "websub", "store lock wait not set back: %s", tb_db_errmsg(s->sql));
    return rc == TB_EDB_RETRY ? -EAGAIN : rc;
}

int tb_websub_store_hash(struct tb_store *s, const char *path, char hash[65], char *err,
                         size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    int rc = tb_db_query(s->sql, &q, err, errlen, "SELECT hash FROM websub_docs WHERE path = ?1",
                         "t", path);

    hash[0] = '\0';
    if (rc == 0)
        rc = tb_db_step(q, err, errlen);
    if (rc == TB_DB_ROW && tb_db_column_text(q, 0) != NULL)
        snprintf(hash, 65, "%s", tb_db_column_text(q, 0));
    tb_db_finalize(q);
    return rc == TB_DB_ROW ? 0 : rc;
}

static const char claim_sql[] =
    "UPDATE websub_subs SET claim_node = ?3, claim_until = ?4 + ?5, claim_token = claim_token + 1"
    " WHERE id = ?1 AND (sent_hash IS NULL OR sent_hash <> ?2) AND expires > ?4"
    " AND (claim_until IS NULL OR claim_until <= ?4) AND next_try <= ?4"
    " RETURNING claim_token, attempts";

/* Why the claim of (id, hash) at now found nothing to do: c->wait_until. */
static int claim_why(struct tb_store *s, int64_t id, const char *hash, int64_t now,
                     struct tb_websub_claim *c, char *err, size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    int rc = tb_db_query(s->sql, &q, err, errlen,
                         "SELECT sent_hash, coalesce(claim_until, 0), next_try, expires"
                         " FROM websub_subs WHERE id = ?1",
                         "i", id);

    if (rc == 0)
        rc = tb_db_step(q, err, errlen);
    if (rc == TB_DB_ROW) {
        const char *sent = tb_db_column_text(q, 0);
        int64_t until = tb_db_column_int64(q, 1), next = tb_db_column_int64(q, 2);

        if ((sent == NULL || strcmp(sent, hash) != 0) && tb_db_column_int64(q, 3) > now) {
            c->wait_until = until > next ? until : next;
            c->held = until > now;
            /* The claim ended between the two statements: soon again. */
            if (c->wait_until <= now)
                c->wait_until = now + 1;
        }
        rc = 0;
    } else if (rc == TB_DB_DONE) {
        rc = 0;
    }
    tb_db_finalize(q);
    return rc;
}

int tb_websub_store_claim(struct tb_store *s, int64_t id, const char *hash, const char *node,
                          int64_t now, int64_t lease, struct tb_websub_claim *c, char *err,
                          size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    int rc = tb_db_query(s->sql, &q, err, errlen, claim_sql, "itiii", id, hash, node, now, lease);

    memset(c, 0, sizeof(*c));
    if (rc == 0)
        rc = tb_db_step(q, err, errlen);
    if (rc == TB_DB_ROW) {
        c->token = tb_db_column_int64(q, 0);
        c->attempts = (int)tb_db_column_int64(q, 1);
    }
    tb_db_finalize(q);
    if (rc == TB_DB_ROW)
        return 1;
    if (rc == TB_DB_DONE)
        return claim_why(s, id, hash, now, c, err, errlen);
    return rc;
}

int tb_websub_store_settle(struct tb_store *s, int64_t id, int64_t token, const char *sent,
                           int attempts, int64_t next_try, char *err, size_t errlen)
{
    int rc;

    if (sent != NULL)
        rc = tb_db_run(s->sql, err, errlen,
                       "UPDATE websub_subs SET sent_hash = ?3, claim_node = NULL,"
                       " claim_until = NULL, pending = 0, attempts = 0, next_try = 0"
                       " WHERE id = ?1 AND claim_token = ?2",
                       "iit", id, token, sent);
    else
        rc = tb_db_run(s->sql, err, errlen,
                       "UPDATE websub_subs SET claim_node = NULL, claim_until = NULL,"
                       " pending = 1, attempts = ?3, next_try = ?4"
                       " WHERE id = ?1 AND claim_token = ?2",
                       "iiii", id, token, (int64_t)attempts, next_try);
    if (rc == 0 && tb_db_changes(s->sql) == 0) {
        snprintf(err, errlen, "websub: delivery claim %lld of subscription %lld was taken over",
                 (long long)token, (long long)id);
        rc = TB_ELEASE;
    }
    return rc;
}

void tb_websub_subs_free(struct tb_websub_sub *subs, size_t n)
{
    for (size_t i = 0; subs != NULL && i < n; i++) {
        free(subs[i].topic);
        free(subs[i].callback);
        free(subs[i].secret);
    }
    free(subs);
}
