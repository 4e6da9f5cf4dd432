/*
 * Topic selection: an FTS5 query over the store's index, newest first.
 *
 * The statements are prepared per call: a topic is selected once per
 * publish, so a prepare is noise next to the query itself. A query that
 * does not compile surfaces when the statement is first stepped, as a
 * plain SQLITE_ERROR; that is the only case reported as TB_EQUERY.
 */
#include "tb_topic.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

static const char all_sql[] = "SELECT id FROM entries ORDER BY sort_time DESC, out_id LIMIT ?1";
static const char match_sql[] = "SELECT e.id FROM entries_fts JOIN entries e"
                                " ON e.id = entries_fts.rowid WHERE entries_fts MATCH ?2"
                                " ORDER BY e.sort_time DESC, e.out_id LIMIT ?1";
/* LIMIT 1, not LIMIT 0: with LIMIT 0 SQLite never runs the FTS filter, so a
 * broken query would pass the check unnoticed. */
static const char check_sql[] = "SELECT 1 FROM entries_fts WHERE entries_fts MATCH ?1 LIMIT 1";

static int fail(sqlite3 *db, int rc, int is_query, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    return (is_query && rc == SQLITE_ERROR) ? TB_EQUERY : TB_ESTORE;
}

static int push(int64_t **ids, size_t *n, size_t *alloc, int64_t id)
{
    int64_t *v;

    if (*n == *alloc) {
        size_t a = *alloc ? 2 * *alloc : 64;

        v = realloc(*ids, a * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        *ids = v;
        *alloc = a;
    }
    (*ids)[(*n)++] = id;
    return 0;
}

/* Steps st to the end, collecting column 0 of each row. */
static int collect(sqlite3 *db, sqlite3_stmt *st, int is_query, int64_t **ids, size_t *n, char *err,
                   size_t errlen)
{
    size_t alloc = 0;
    int rc, step;

    for (;;) {
        step = sqlite3_step(st);
        if (step != SQLITE_ROW)
            break;
        rc = push(ids, n, &alloc, sqlite3_column_int64(st, 0));
        if (rc != 0)
            return rc;
    }
    return step == SQLITE_DONE ? 0 : fail(db, step, is_query, err, errlen);
}

int tb_topic_select(struct tb_store *s, const char *query, size_t limit, int64_t **ids, size_t *n,
                    char *err, size_t errlen)
{
    sqlite3 *db = tb_store_db(s);
    int is_query = query != NULL && query[0] != '\0';
    sqlite3_stmt *st = NULL;
    int rc;

    *ids = NULL;
    *n = 0;
    if (is_query) {
        rc = tb_store_sync_index(s, err, errlen);
        if (rc != 0)
            return rc;
    }
    if (sqlite3_prepare_v2(db, is_query ? match_sql : all_sql, -1, &st, NULL) != SQLITE_OK)
        return fail(db, SQLITE_INTERNAL, 0, err, errlen);
    /* LIMIT -1 is SQLite's "no limit". */
    sqlite3_bind_int64(st, 1, (limit == 0 || limit > INT64_MAX) ? -1 : (int64_t)limit);
    if (is_query)
        sqlite3_bind_text(st, 2, query, -1, SQLITE_STATIC);
    rc = collect(db, st, is_query, ids, n, err, errlen);
    sqlite3_finalize(st);
    if (rc != 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int tb_topic_check(struct tb_store *s, const char *query, char *err, size_t errlen)
{
    sqlite3 *db = tb_store_db(s);
    sqlite3_stmt *st = NULL;
    int rc;

    if (query == NULL || query[0] == '\0')
        return 0;
    if (sqlite3_prepare_v2(db, check_sql, -1, &st, NULL) != SQLITE_OK)
        return fail(db, SQLITE_INTERNAL, 0, err, errlen);
    sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : fail(db, rc, 1, err, errlen);
    sqlite3_finalize(st);
    return rc;
}
