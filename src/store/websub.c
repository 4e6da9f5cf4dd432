/*
 * The WebSub hub's tables (tb_websub.h): websub_subs, one row per (topic,
 * callback), and websub_docs, the hash of each feed document last seen
 * (migration 15 in store.c).
 *
 * Each call is one statement in its own (autocommit) transaction, except
 * tb_websub_store_flush(), which writes what the hub collected (deliveries
 * owed and done, document hashes) in one transaction and, on the loop,
 * never waits for the store job's lock.
 */
#include "store_int.h"
#include "tb_websub.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLS "id, topic, callback, secret, lease, expires, pending, attempts, next_try"

/* Prepares sql and binds fmt's parameters in order: 'i' an int64_t, 't' a
 * string (NULL: SQL NULL). 0 or TB_ESTORE; the caller finalizes *q. */
static int prepare(struct tb_store *s, sqlite3_stmt **q, char *err, size_t errlen, const char *sql,
                   const char *fmt, ...)
{
    va_list ap;
    int rc = SQLITE_OK;

    *q = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, q, NULL) != SQLITE_OK)
        return tb__store_fail(s, err, errlen, "websub");
    va_start(ap, fmt);
    for (int i = 0; fmt[i] != '\0' && rc == SQLITE_OK; i++) {
        if (fmt[i] == 'i') {
            rc = sqlite3_bind_int64(*q, i + 1, va_arg(ap, int64_t));
        } else {
            const char *t = va_arg(ap, const char *);

            rc = t ? sqlite3_bind_text(*q, i + 1, t, -1, SQLITE_STATIC)
                   : sqlite3_bind_null(*q, i + 1);
        }
    }
    va_end(ap);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(*q);
        *q = NULL;
        return tb__store_fail(s, err, errlen, "websub");
    }
    return 0;
}

/* Steps a prepared statement that returns no row and finalizes it. */
static int finish(struct tb_store *s, sqlite3_stmt *q, int rc, char *err, size_t errlen)
{
    if (rc == 0 && sqlite3_step(q) != SQLITE_DONE)
        rc = tb__store_fail(s, err, errlen, "websub");
    sqlite3_finalize(q);
    return rc;
}

int tb_websub_store_put(struct tb_store *s, const char *topic, const char *callback,
                        const char *secret, int64_t lease, int64_t now, int64_t *id, char *err,
                        size_t errlen)
{
    sqlite3_stmt *q;
    int rc = prepare(s, &q, err, errlen,
                     "INSERT INTO websub_subs(topic, callback, secret, lease, expires, created)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(topic, callback) DO UPDATE SET"
                     " secret = excluded.secret, lease = excluded.lease,"
                     " expires = excluded.expires RETURNING id",
                     "tttiii", topic, callback, secret, lease, now + lease, now);

    if (rc != 0)
        return rc;
    if (sqlite3_step(q) == SQLITE_ROW)
        *id = sqlite3_column_int64(q, 0);
    else
        rc = tb__store_fail(s, err, errlen, "websub");
    sqlite3_finalize(q);
    return rc;
}

int tb_websub_store_del(struct tb_store *s, const char *topic, const char *callback, char *err,
                        size_t errlen)
{
    sqlite3_stmt *q;
    int rc =
        prepare(s, &q, err, errlen, "DELETE FROM websub_subs WHERE topic = ?1 AND callback = ?2",
                "tt", topic, callback);

    return finish(s, q, rc, err, errlen);
}

int tb_websub_store_del_id(struct tb_store *s, int64_t id, char *err, size_t errlen)
{
    sqlite3_stmt *q;
    int rc = prepare(s, &q, err, errlen, "DELETE FROM websub_subs WHERE id = ?1", "i", id);

    return finish(s, q, rc, err, errlen);
}

static char *col_dup(sqlite3_stmt *q, int i, int *oom)
{
    const char *t = (const char *)sqlite3_column_text(q, i);
    char *c;

    if (t == NULL)
        return NULL;
    c = strdup(t);
    *oom |= c == NULL;
    return c;
}

/* Appends the row q is on to *subs. 0 or -ENOMEM. */
static int add_row(sqlite3_stmt *q, struct tb_websub_sub **subs, size_t *n, size_t *cap)
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
    u->id = sqlite3_column_int64(q, 0);
    u->topic = col_dup(q, 1, &oom);
    u->callback = col_dup(q, 2, &oom);
    u->secret = col_dup(q, 3, &oom);
    u->lease = sqlite3_column_int64(q, 4);
    u->expires = sqlite3_column_int64(q, 5);
    u->pending = sqlite3_column_int(q, 6);
    u->attempts = sqlite3_column_int(q, 7);
    u->next_try = sqlite3_column_int64(q, 8);
    (*n)++;
    return oom || u->topic == NULL || u->callback == NULL ? -ENOMEM : 0;
}

int tb_websub_store_load(struct tb_store *s, int64_t now, struct tb_websub_sub **subs, size_t *n,
                         char *err, size_t errlen)
{
    sqlite3_stmt *q;
    size_t cap = 0;
    int rc = prepare(s, &q, err, errlen,
                     "SELECT " COLS " FROM websub_subs WHERE expires > ?1 ORDER BY id", "i", now);
    int step;

    *subs = NULL;
    *n = 0;
    if (rc != 0)
        return rc;
    while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW)
        rc = add_row(q, subs, n, &cap);
    if (rc == 0 && step != SQLITE_DONE)
        rc = tb__store_fail(s, err, errlen, "websub");
    sqlite3_finalize(q);
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
    sqlite3_stmt *q;
    int rc = prepare(s, &q, err, errlen, "DELETE FROM websub_subs WHERE expires <= ?1", "i", now);

    rc = finish(s, q, rc, err, errlen);
    *removed = rc == 0 ? (size_t)sqlite3_changes(s->db) : 0;
    return rc;
}

/* Runs one flush's statements inside its transaction. */
static int flush_rows(struct tb_store *s, const struct tb_websub_owed *owed, size_t n,
                      const struct tb_websub_hash *hashes, size_t nh, char *err, size_t errlen)
{
    sqlite3_stmt *q;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = prepare(s, &q, err, errlen,
                     "UPDATE websub_subs SET pending = ?2, attempts = ?3, next_try = ?4"
                     " WHERE id = ?1",
                     "iiii", owed[i].id, (int64_t)owed[i].pending, (int64_t)owed[i].attempts,
                     owed[i].next_try);
        rc = finish(s, q, rc, err, errlen);
    }
    for (size_t i = 0; rc == 0 && i < nh; i++) {
        rc = prepare(s, &q, err, errlen,
                     "INSERT INTO websub_docs(path, hash) VALUES(?1, ?2)"
                     " ON CONFLICT(path) DO UPDATE SET hash = excluded.hash",
                     "tt", hashes[i].path, hashes[i].hash);
        rc = finish(s, q, rc, err, errlen);
    }
    return rc;
}

int tb_websub_store_flush(struct tb_store *s, const struct tb_websub_owed *owed, size_t n,
                          const struct tb_websub_hash *hashes, size_t nh, int wait, char *err,
                          size_t errlen)
{
    int rc, begin;

    if (n == 0 && nh == 0)
        return 0;
    /* Without waiting, a writer elsewhere (the store job's batch) makes
     * this fail at once rather than hold the loop for up to 5 s. */
    if (!wait)
        sqlite3_busy_timeout(s->db, 0);
    begin = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (!wait)
        sqlite3_busy_timeout(s->db, TB__STORE_BUSY_MS);
    if (begin == SQLITE_BUSY || begin == SQLITE_LOCKED)
        return -EAGAIN;
    if (begin != SQLITE_OK)
        return tb__store_fail(s, err, errlen, "websub");
    rc = flush_rows(s, owed, n, hashes, nh, err, errlen);
    if (rc == 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = tb__store_fail(s, err, errlen, "websub");
    if (rc != 0 && !sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int tb_websub_store_hash(struct tb_store *s, const char *path, char hash[65], char *err,
                         size_t errlen)
{
    sqlite3_stmt *q;
    int rc = prepare(s, &q, err, errlen, "SELECT hash FROM websub_docs WHERE path = ?1", "t", path);
    int step;

    hash[0] = '\0';
    if (rc != 0)
        return rc;
    step = sqlite3_step(q);
    if (step == SQLITE_ROW && sqlite3_column_text(q, 0) != NULL)
        snprintf(hash, 65, "%s", (const char *)sqlite3_column_text(q, 0));
    else if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = tb__store_fail(s, err, errlen, "websub");
    sqlite3_finalize(q);
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
