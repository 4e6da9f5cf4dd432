/*
 * The store's half of resolving papers through the arXiv API (tb_arxiv.h):
 * which mentioned arXiv ids no entry carries yet, and what asking for them
 * gave (table arxiv_resolve).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "tb_arxiv.h"

#define RETRY_MAX 86400 /* longest wait before asking again, s */

/* The open ids (state 0: not resolved, not held by an arXiv record; see
 * migration 12) voiced within the window, through their partial index:
 * the cost follows the ids still to resolve, not the window's mentions.
 * INDEXED BY is SQLite's alone (PostgreSQL plans by its statistics), so
 * each query has a copy with and one without it: due_sql[engine]. */
#define DUE_SQL(indexed)                                                                           \
    "SELECT id FROM arxiv_resolve" indexed " WHERE state = 0 AND voiced >= ?4 AND next_try <= ?1"  \
    " AND tries < ?2 ORDER BY id LIMIT ?3"
static const char *const due_sql[] = {
    [TB_DB_SQLITE] = DUE_SQL(" INDEXED BY arxiv_resolve_open"),
    [TB_DB_PG] = DUE_SQL(""),
};

/* The failed ids through their partial index, soonest first. */
#define NEXT_SQL(indexed)                                                                          \
    "SELECT min(next_try) FROM arxiv_resolve" indexed                                              \
    " WHERE state = 0 AND tries > 0 AND tries < ?2 AND next_try > ?1"
static const char *const next_sql[] = {
    [TB_DB_SQLITE] = NEXT_SQL(" INDEXED BY arxiv_resolve_retry"),
    [TB_DB_PG] = NEXT_SQL(""),
};

static const char record_sql[] =
    "INSERT INTO arxiv_resolve(id, state, tries, next_try) VALUES(?1, ?2, ?3, ?4)"
    " ON CONFLICT(id) DO UPDATE SET"
    " state = CASE WHEN arxiv_resolve.state = 2 THEN 2 ELSE excluded.state END," /* held meanwhile
                                                                                  */
    " tries = CASE WHEN excluded.state = 1 THEN arxiv_resolve.tries"
    "  ELSE arxiv_resolve.tries + 1 END,"
    " next_try = CASE WHEN excluded.state = 1 THEN 0"
    "  ELSE ?5 + {least}(?6, ?7 * (CAST(1 AS bigint) << CAST({least}(arxiv_resolve.tries, 20) AS "
    "integer))) END";

int tb_store_arxiv_due(struct tb_store *s, int64_t now, int64_t since, size_t max, char **ids,
                       size_t *n, char *err, size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    size_t i;
    int rc, step = TB_DB_DONE;

    *n = 0;
    if (max > TB_ARXIV_BATCH_MAX)
        max = TB_ARXIV_BATCH_MAX;
    rc = tb_db_query(s->sql, &q, err, errlen, due_sql[tb_db_dialect(s->sql)], "iiii", now,
                     (int64_t)TB_ARXIV_MAX_TRIES, (int64_t)max, since);
    while (rc == 0 && *n < max) {
        step = tb_db_step(q, err, errlen);
        if (step != TB_DB_ROW)
            break;
        ids[*n] = strdup(tb_db_column_text(q, 0));
        if (ids[*n] == NULL) {
            rc = -ENOMEM;
            break;
        }
        (*n)++;
    }
    if (rc == 0 && step < 0)
        rc = step;
    tb_db_finalize(q);
    if (rc) {
        for (i = 0; i < *n; i++)
            free(ids[i]);
        *n = 0;
    }
    return rc;
}

int tb_store_arxiv_record(struct tb_store *s, const char *const *ids, size_t n, int ok, int64_t now,
                          int64_t retry, char *err, size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    size_t i;
    int rc;

    if (n == 0)
        return 0;
    if (retry < 1)
        retry = 1;
    rc = tb_db_prepare(s->sql, record_sql, &q, err, errlen);
    for (i = 0; i < n && rc == 0; i++) {
        tb_db_reset(q);
        (void)tb_db_bind_text(q, 1, ids[i]);
        (void)tb_db_bind_int64(q, 2, ok ? 1 : 0);
        (void)tb_db_bind_int64(q, 3, ok ? 0 : 1);
        (void)tb_db_bind_int64(q, 4, ok ? 0 : now + (retry < RETRY_MAX ? retry : RETRY_MAX));
        (void)tb_db_bind_int64(q, 5, now);
        (void)tb_db_bind_int64(q, 6, RETRY_MAX);
        (void)tb_db_bind_int64(q, 7, retry);
        rc = tb_db_step(q, err, errlen);
    }
    tb_db_finalize(q);
    return rc;
}

int tb_store_arxiv_next(struct tb_store *s, int64_t now, int64_t *next, char *err, size_t errlen)
{
    *next = 0;
    return tb_db_scalar(s->sql, next, err, errlen, next_sql[tb_db_dialect(s->sql)], "ii", now,
                        (int64_t)TB_ARXIV_MAX_TRIES);
}
