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
 * the cost follows the ids still to resolve, not the window's mentions. */
static const char due_sql[] = "SELECT id FROM arxiv_resolve INDEXED BY arxiv_resolve_open"
                              " WHERE state = 0 AND voiced >= ?4 AND next_try <= ?1 AND tries < ?2"
                              " ORDER BY id LIMIT ?3";

/* The failed ids through their partial index, soonest first. */
static const char next_sql[] =
    "SELECT min(next_try) FROM arxiv_resolve INDEXED BY arxiv_resolve_retry"
    " WHERE state = 0 AND tries > 0 AND tries < ?2 AND next_try > ?1";

static const char record_sql[] =
    "INSERT INTO arxiv_resolve(id, state, tries, next_try) VALUES(?1, ?2, ?3, ?4)"
    " ON CONFLICT(id) DO UPDATE SET"
    " state = CASE WHEN state = 2 THEN 2 ELSE excluded.state END," /* held meanwhile */
    " tries = CASE WHEN excluded.state = 1 THEN tries ELSE tries + 1 END,"
    " next_try = CASE WHEN excluded.state = 1 THEN 0"
    "  ELSE ?5 + min(?6, ?7 * (1 << min(tries, 20))) END";

int tb_store_arxiv_due(struct tb_store *s, int64_t now, int64_t since, size_t max, char **ids,
                       size_t *n, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    size_t i;
    int rc = 0, step;

    *n = 0;
    if (max > TB_ARXIV_BATCH_MAX)
        max = TB_ARXIV_BATCH_MAX;
    if (sqlite3_prepare_v2(s->db, due_sql, -1, &q, NULL) != SQLITE_OK)
        return tb__store_fail(s, err, errlen, "arxiv due");
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int(q, 2, TB_ARXIV_MAX_TRIES);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)max);
    sqlite3_bind_int64(q, 4, since);
    while ((step = sqlite3_step(q)) == SQLITE_ROW && *n < max) {
        ids[*n] = strdup((const char *)sqlite3_column_text(q, 0));
        if (ids[*n] == NULL) {
            rc = -ENOMEM;
            break;
        }
        (*n)++;
    }
    if (rc == 0 && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = tb__store_fail(s, err, errlen, "arxiv due");
    sqlite3_finalize(q);
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
    sqlite3_stmt *q = NULL;
    size_t i;
    int rc = 0;

    if (n == 0)
        return 0;
    if (retry < 1)
        retry = 1;
    if (sqlite3_prepare_v2(s->db, record_sql, -1, &q, NULL) != SQLITE_OK)
        return tb__store_fail(s, err, errlen, "arxiv record");
    for (i = 0; i < n && rc == 0; i++) {
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, ids[i], -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 2, ok ? 1 : 0);
        sqlite3_bind_int(q, 3, ok ? 0 : 1);
        sqlite3_bind_int64(q, 4, ok ? 0 : now + (retry < RETRY_MAX ? retry : RETRY_MAX));
        sqlite3_bind_int64(q, 5, now);
        sqlite3_bind_int64(q, 6, RETRY_MAX);
        sqlite3_bind_int64(q, 7, retry);
        if (sqlite3_step(q) != SQLITE_DONE)
            rc = tb__store_fail(s, err, errlen, "arxiv record");
    }
    sqlite3_finalize(q);
    return rc;
}

int tb_store_arxiv_next(struct tb_store *s, int64_t now, int64_t *next, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int rc = 0;

    *next = 0;
    if (sqlite3_prepare_v2(s->db, next_sql, -1, &q, NULL) != SQLITE_OK)
        return tb__store_fail(s, err, errlen, "arxiv next");
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int(q, 2, TB_ARXIV_MAX_TRIES);
    if (sqlite3_step(q) == SQLITE_ROW)
        *next = sqlite3_column_int64(q, 0);
    else
        rc = tb__store_fail(s, err, errlen, "arxiv next");
    sqlite3_finalize(q);
    return rc;
}
