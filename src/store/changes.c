/*
 * The change feed (tb_changes.h): table changes (migration 19 in store.c),
 * written on PostgreSQL by stores with a node name, read by the other
 * nodes (daemon_sync.c) to re-render what was stored elsewhere.
 */
#include "store_int.h"
#include "tb_buf.h"
#include "tb_changes.h"
#include "tb_db.h"
#include "tb_vec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int by_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* Sorts ids[0..n) and drops repeats; the new count. */
static size_t uniq(int64_t *ids, size_t n)
{
    size_t i, k = 0;

    if (n == 0)
        return 0;
    qsort(ids, n, sizeof(*ids), by_id);
    for (i = 1; i < n; i++)
        if (ids[i] != ids[k])
            ids[++k] = ids[i];
    return k + 1;
}

int tb_changes_enable(struct tb_store *s, const char *node)
{
    char *copy;

    if (s == NULL || node == NULL || node[0] == '\0')
        return -EINVAL;
    if (tb_db_dialect(s->sql) != TB_DB_PG)
        return 0;
    copy = strdup(node);
    if (copy == NULL)
        return -ENOMEM;
    free(s->node);
    s->node = copy;
    return 0;
}

int tb__changes_note(struct tb_store *s, const int64_t *ids, size_t n)
{
    if (n == 0)
        return 0;
    if (TB_VEC_RESERVE(s->changed, s->achanged, s->nchanged + n, TB_VEC_MAX) != 0)
        return -ENOMEM;
    memcpy(s->changed + s->nchanged, ids, n * sizeof(*ids));
    s->nchanged += n;
    return 0;
}

int tb__changes_record(struct tb_store *s, char *err, size_t errlen)
{
    struct tb_buf arr;
    size_t i, n;
    int rc;

    if (s->node == NULL || s->nchanged == 0)
        return 0;
    n = uniq(s->changed, s->nchanged);
    tb_buf_init(&arr, (size_t)1 << 30);
    rc = tb_buf_adds(&arr, "{");
    for (i = 0; rc == 0 && i < n; i++)
        rc = tb_buf_addf(&arr, "%s%lld", i ? "," : "", (long long)s->changed[i]);
    rc = rc ? rc : tb_buf_adds(&arr, "}");
    if (rc != 0) {
        snprintf(err, errlen, "change feed: %s", tb_strerror(rc));
        goto out;
    }
    /* Held to the commit: seq values are allocated in commit order. */
    rc = tb_db_run(s->sql, err, errlen, "SELECT pg_advisory_xact_lock(?1)", "i",
                   (int64_t)TB_CHANGES_LOCK);
    rc = rc ? rc
            : tb_db_run(s->sql, err, errlen,
                        "INSERT INTO changes(node, entry_id, at)"
                        " SELECT ?1, x, ?3 FROM unnest(CAST(?2 AS bigint[])) AS x",
                        "tti", s->node, (const char *)arr.data, (int64_t)time(NULL));
    rc = rc ? rc
            : tb_db_run(s->sql, err, errlen, "SELECT pg_notify(?1, ?2)", "tt", TB_CHANGES_CHANNEL,
                        s->node);
out:
    s->nchanged = 0;
    tb_buf_free(&arr);
    return rc;
}

int tb_changes_head(struct tb_store *s, int64_t *seq, char *err, size_t errlen)
{
    *seq = 0;
    return tb_db_scalar(s->sql, seq, err, errlen, "SELECT coalesce(max(seq), 0) FROM changes", "");
}

int tb_changes_read(struct tb_store *s, int64_t after, const char *self, size_t max, int64_t **ids,
                    size_t *n, int64_t *last, int *more, char *err, size_t errlen)
{
    struct tb_db_stmt *st = NULL;
    int64_t *v = NULL;
    size_t nv = 0, av = 0, rows = 0;
    int rc;

    *ids = NULL;
    *n = 0;
    *last = after;
    *more = 0;
    rc = tb_db_query(s->sql, &st, err, errlen,
                     "SELECT seq, node, entry_id FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                     "ii", after, (int64_t)max);
    while (rc == 0) {
        rc = tb_db_step(st, err, errlen);
        if (rc != TB_DB_ROW)
            break;
        rc = 0;
        rows++;
        *last = tb_db_column_int64(st, 0);
        if (self != NULL && strcmp(tb_db_column_text(st, 1), self) == 0)
            continue;
        if (TB_VEC_RESERVE(v, av, nv + 1, TB_VEC_MAX) != 0) {
            rc = -ENOMEM;
            snprintf(err, errlen, "change feed: out of memory");
            break;
        }
        v[nv++] = tb_db_column_int64(st, 2);
    }
    tb_db_finalize(st);
    if (rc < 0) {
        free(v);
        *last = after;
        return rc;
    }
    *ids = v;
    *n = uniq(v, nv);
    *more = rows == max;
    return 0;
}

int tb_changes_notify(struct tb_store *s, const char *payload, char *err, size_t errlen)
{
    if (tb_db_dialect(s->sql) != TB_DB_PG)
        return 0;
    return tb_db_run(s->sql, err, errlen, "SELECT pg_notify(?1, ?2)", "tt", TB_CHANGES_CHANNEL,
                     payload);
}

int tb_changes_prune(struct tb_store *s, int64_t before, char *err, size_t errlen)
{
    return tb_db_run(s->sql, err, errlen, "DELETE FROM changes WHERE at < ?1", "i", before);
}

/* Moves the moment, in one transaction fenced by j's claim when j is not NULL. */
static int set_moment(struct tb_store *s, const struct tb_job *j, int64_t at, int64_t *out,
                      char *err, size_t errlen)
{
    int rc = tb_db_begin(s->sql, TB_DB_IMMEDIATE, err, errlen);

    *out = at;
    if (rc != 0)
        return rc;
    if (j != NULL)
        rc = tb_jobs_fence(s, j, err, errlen);
    rc = rc ? rc
            : tb_db_scalar(
                  s->sql, out, err, errlen,
                  "INSERT INTO trending_at(id, at) VALUES (1, ?1)"
                  " ON CONFLICT(id) DO UPDATE SET at = {greatest}(trending_at.at, excluded.at)"
                  " RETURNING at",
                  "i", at);
    if (rc == 0 && tb_db_dialect(s->sql) == TB_DB_PG)
        rc = tb_db_run(s->sql, err, errlen, "SELECT pg_notify(?1, ?2)", "tt", TB_CHANGES_CHANNEL,
                       TB_CHANGES_TRENDING);
    if (rc == 0)
        return tb_db_commit(s->sql, err, errlen);
    (void)tb_db_rollback(s->sql);
    return rc;
}

int tb_changes_trending_set(struct tb_store *s, int64_t at, int64_t *out, char *err, size_t errlen)
{
    return set_moment(s, NULL, at, out, err, errlen);
}

int tb_changes_trending_run(struct tb_store *s, const struct tb_job *j, int64_t at, int64_t *out,
                            char *err, size_t errlen)
{
    if (j == NULL)
        return -EINVAL;
    return set_moment(s, j, at, out, err, errlen);
}

int tb_changes_trending_at(struct tb_store *s, int64_t *at, char *err, size_t errlen)
{
    int rc;

    *at = 0;
    rc = tb_db_scalar(s->sql, at, err, errlen, "SELECT at FROM trending_at WHERE id = 1", "");
    return rc == -ENOENT ? 0 : rc;
}

int tb_changes_doc_moment(struct tb_store *s, const char *path, const char *hash, int64_t *at,
                          char *err, size_t errlen)
{
    int rc;

    /* A second node inserting the same version at the same time waits for
     * the first one's row and does nothing; both then read the same. */
    rc = tb_db_run(s->sql, err, errlen,
                   "INSERT INTO doc_versions(path, hash, at)"
                   " SELECT ?1, ?2, {greatest}({now}, coalesce(max(at) + 1, 0))"
                   " FROM doc_versions WHERE path = ?1"
                   " ON CONFLICT(path, hash) DO NOTHING",
                   "tt", path, hash);
    *at = 0;
    return rc ? rc
              : tb_db_scalar(s->sql, at, err, errlen,
                             "SELECT at FROM doc_versions WHERE path = ?1 AND hash = ?2", "tt",
                             path, hash);
}

int tb_changes_doc_prune(struct tb_store *s, int64_t before, char *err, size_t errlen)
{
    return tb_db_run(s->sql, err, errlen,
                     "DELETE FROM doc_versions WHERE at < ?1 AND at < (SELECT max(d.at)"
                     " FROM doc_versions d WHERE d.path = doc_versions.path)",
                     "i", before);
}
