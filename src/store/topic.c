/*
 * Topic selection: an FTS5 query over the store's index, newest first,
 * optionally restricted to some sources and/or to some rowids: what `merge`
 * and the daemon's publishing run (all entries of a topic), and what the
 * daemon runs after each poll (only the entries just stored). The lists
 * travel to SQLite as JSON arrays read with json_each(), so one statement
 * shape serves any number of rowids or names.
 *
 * The statements are prepared per call: a topic is selected once per
 * publish, so a prepare is noise next to the query itself. A query that
 * does not compile surfaces when the statement is first stepped, as a
 * plain SQLITE_ERROR; that is the only case reported as TB_EQUERY.
 */
#include "tb_topic.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tb_buf.h"
#include "tb_vec.h"

/* LIMIT 1, not LIMIT 0: with LIMIT 0 SQLite never runs the FTS filter, so a
 * broken query would pass the check unnoticed. */
static const char check_sql[] = "SELECT 1 FROM entries_fts WHERE entries_fts MATCH ?1 LIMIT 1";

/* SQL for the restrictions asked for; ?1 query, ?2 rowids, ?3 names, ?4
 * limit. by_time: walk the sort index newest first and keep the entries in
 * the query's set of rowids (the unary + keeps SQLite from driving the
 * search by that set), rather than read every matching entry's row to
 * sort them all (see by_time()). */
static int build_sql(struct tb_buf *b, int fts, int within, int sources, int by_time)
{
    int rc = tb_buf_adds(b, "SELECT e.id FROM entries e");

    if (rc == 0 && fts && by_time)
        rc = tb_buf_adds(b, " WHERE +e.id IN (SELECT rowid FROM entries_fts"
                            " WHERE entries_fts MATCH ?1)");
    else if (rc == 0 && fts)
        rc = tb_buf_adds(b, " JOIN entries_fts ON entries_fts.rowid = e.id"
                            " WHERE entries_fts MATCH ?1");
    else if (rc == 0)
        rc = tb_buf_adds(b, " WHERE 1");
    if (rc == 0 && within)
        rc = tb_buf_adds(b, " AND e.id IN (SELECT value FROM json_each(?2))");
    if (rc == 0 && sources)
        rc = tb_buf_adds(b, " AND EXISTS (SELECT 1 FROM entry_sources es"
                            " JOIN sources s ON s.id = es.source_id WHERE es.entry_id = e.id"
                            " AND s.name IN (SELECT value FROM json_each(?3)))");
    if (rc == 0)
        rc = tb_buf_adds(b, " ORDER BY e.sort_time DESC, e.out_id LIMIT ?4");
    return rc;
}

/* JSON text of the rowids or the names (malloc'd), or NULL when out of memory. */
static char *json_list(const int64_t *ids, char *const *names, size_t n)
{
    json_t *a = json_array();
    char *s = NULL;
    size_t i;
    int bad = a == NULL;

    for (i = 0; i < n && !bad; i++)
        bad = json_array_append_new(a, ids ? json_integer(ids[i]) : json_string(names[i])) != 0;
    if (!bad)
        s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static int push(int64_t **ids, size_t *n, size_t *alloc, int64_t id)
{
    int rc = TB_VEC_RESERVE(*ids, *alloc, *n + 1, TB_VEC_MAX);

    if (rc == 0)
        (*ids)[(*n)++] = id;
    return rc;
}

/* Steps q to its end collecting rowids; a query that does not compile is
 * reported by the first step as SQLITE_ERROR. */
static int collect(sqlite3 *db, sqlite3_stmt *q, int fts, int64_t **ids, size_t *n, char *err,
                   size_t errlen)
{
    size_t alloc = 0;
    int rc = 0, step;

    for (;;) {
        step = sqlite3_step(q);
        if (step != SQLITE_ROW)
            break;
        rc = push(ids, n, &alloc, sqlite3_column_int64(q, 0));
        if (rc != 0)
            return rc;
    }
    if (step == SQLITE_DONE)
        return 0;
    snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    return (fts && step == SQLITE_ERROR) ? TB_EQUERY : TB_ESTORE;
}

/* Binds the restriction lists; -ENOMEM when they cannot be built. */
static int bind_lists(sqlite3_stmt *q, char *const *sources, size_t nsources, const int64_t *within,
                      size_t nwithin)
{
    char *s;

    if (within != NULL) {
        s = json_list(within, NULL, nwithin);
        if (s == NULL || sqlite3_bind_text(q, 2, s, -1, free) != SQLITE_OK)
            return -ENOMEM;
    }
    if (nsources > 0) {
        s = json_list(NULL, sources, nsources);
        if (s == NULL || sqlite3_bind_text(q, 3, s, -1, free) != SQLITE_OK)
            return -ENOMEM;
    }
    return 0;
}

/* Whether the newest `limit` matches of an FTS query are better found by
 * walking the sort index (by_time in build_sql) than by reading the row of
 * every match: when the query matches more than 4 x limit entries, so that
 * the walk meets a match every N / (4 x limit) entries or sooner. A topic
 * matching half of 80,000 entries read ~40,000 rows (~0.1 s, most of the
 * table's pages) at every publish; the walk reads ~100 index entries.
 * Counting the matches reads the FTS index only. A store without the sort
 * index (TB_STORE_TEMP) or a query that fails here keeps the join (which
 * then reports the error). */
static int by_time(sqlite3 *db, const char *query, size_t limit)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'entries_sort'),"
        " (SELECT count(*) FROM entries_fts WHERE entries_fts MATCH ?1)";
    sqlite3_stmt *st = NULL;
    int yes = 0;

    if (limit == 0 || limit > (size_t)INT64_MAX / 4 ||
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        yes = sqlite3_column_int(st, 0) == 1 &&
              (uint64_t)sqlite3_column_int64(st, 1) > 4 * (uint64_t)limit;
    sqlite3_finalize(st);
    return yes;
}

int tb_topic_select_in(struct tb_store *s, const char *query, char *const *sources, size_t nsources,
                       const int64_t *within, size_t nwithin, size_t limit, int64_t **ids,
                       size_t *n, char *err, size_t errlen)
{
    sqlite3 *db = tb_store_db(s);
    int fts = query != NULL && query[0] != '\0';
    sqlite3_stmt *q = NULL;
    struct tb_buf sql;
    int rc;

    *ids = NULL;
    *n = 0;
    tb_buf_init(&sql, 4096);
    rc = fts ? tb_store_sync_index(s, err, errlen) : 0;
    if (rc == 0)
        rc = build_sql(&sql, fts, within != NULL, nsources > 0,
                       fts && within == NULL && by_time(db, query, limit));
    if (rc == 0 && sqlite3_prepare_v2(db, sql.data, -1, &q, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        rc = TB_ESTORE;
    }
    if (rc == 0 && fts)
        sqlite3_bind_text(q, 1, query, -1, SQLITE_STATIC);
    if (rc == 0)
        rc = bind_lists(q, sources, nsources, within, nwithin);
    if (rc == 0) {
        /* LIMIT -1 is SQLite's "no limit". */
        sqlite3_bind_int64(q, 4, (limit == 0 || limit > INT64_MAX) ? -1 : (int64_t)limit);
        rc = collect(db, q, fts, ids, n, err, errlen);
    }
    sqlite3_finalize(q);
    tb_buf_free(&sql);
    if (rc != 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int tb_topic_select(struct tb_store *s, const char *query, size_t limit, int64_t **ids, size_t *n,
                    char *err, size_t errlen)
{
    return tb_topic_select_in(s, query, NULL, 0, NULL, 0, limit, ids, n, err, errlen);
}

int tb_topic_check(struct tb_store *s, const char *query, char *err, size_t errlen)
{
    sqlite3 *db = tb_store_db(s);
    sqlite3_stmt *st = NULL;
    int rc;

    if (query == NULL || query[0] == '\0')
        return 0;
    rc = sqlite3_prepare_v2(db, check_sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        rc = 0;
    else if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == 0 ? 0 : rc == SQLITE_ERROR ? TB_EQUERY : TB_ESTORE;
}
