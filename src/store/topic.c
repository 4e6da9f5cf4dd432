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
 * plain SQLite error (TB_ESTORE from tb_db); that is the only case
 * reported as TB_EQUERY.
 *
 * SQLite only, through tb_db: FTS5 (entries_fts, MATCH), json_each() and
 * sqlite_master. On PostgreSQL topics are matched by an in-memory FTS5
 * matcher in the node that stores the entries, and the memberships kept
 * in the database (issue 13); this file's SQL does not run there.
 */
#include "store_int.h"
#include "tb_topic.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tb_buf.h"
#include "tb_vec.h"

/* LIMIT 1, not LIMIT 0: with LIMIT 0 SQLite never runs the FTS filter, so a
 * broken query would pass the check unnoticed. */
static const char check_sql[] = "SELECT 1 FROM entries_fts WHERE entries_fts MATCH ?1 LIMIT 1";

/* SQL for the restrictions asked for; ?1 query, ?2 rowids, ?3 names, ?4
 * limit (none without `limited`: no LIMIT -1, which PostgreSQL refuses). by_time: walk the sort
 * index newest first and keep the entries in the query's set of rowids (the unary + keeps SQLite
 * from driving the search by that set), rather than read every matching entry's row to sort them
 * all (see by_time()). */
static int build_sql(struct tb_buf *b, int fts, int within, int sources, int limited, int by_time)
{
    int rc = tb_buf_adds(b, "SELECT e.id FROM entries e");

    if (rc == 0 && fts && by_time)
        rc = tb_buf_adds(b, " WHERE +e.id IN (SELECT rowid FROM entries_fts"
                            " WHERE entries_fts MATCH ?1)");
    else if (rc == 0 && fts)
        rc = tb_buf_adds(b, " JOIN entries_fts ON entries_fts.rowid = e.id"
                            " WHERE entries_fts MATCH ?1");
    else if (rc == 0)
        rc = tb_buf_adds(b, " WHERE true");
    if (rc == 0 && within)
        rc = tb_buf_adds(b, " AND e.id IN (SELECT value FROM json_each(?2))");
    if (rc == 0 && sources)
        rc = tb_buf_adds(b, " AND EXISTS (SELECT 1 FROM entry_sources es"
                            " JOIN sources s ON s.id = es.source_id WHERE es.entry_id = e.id"
                            " AND s.name IN (SELECT value FROM json_each(?3)))");
    if (rc == 0)
        rc = tb_buf_adds(b, " ORDER BY e.sort_time DESC, e.out_id");
    if (rc == 0 && limited)
        rc = tb_buf_adds(b, " LIMIT ?4");
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

/* TB_EQUERY for a failure that is SQLite's plain error (how FTS5 reports a
 * query it cannot parse), else rc. SQLite only, as FTS5. */
static int query_error(struct tb_db *db, int rc)
{
    if (rc == TB_ESTORE && sqlite3_errcode(tb_db_sqlite(db)) == SQLITE_ERROR)
        return TB_EQUERY;
    return rc;
}

/* Steps q to its end collecting rowids; a query that does not compile is
 * reported by the first step as a plain SQLite error (TB_ESTORE). */
static int collect(struct tb_db *db, struct tb_db_stmt *q, int fts, int64_t **ids, size_t *n,
                   char *err, size_t errlen)
{
    size_t alloc = 0;
    int rc = 0, step;

    for (;;) {
        step = tb_db_step(q, err, errlen);
        if (step != TB_DB_ROW)
            break;
        rc = push(ids, n, &alloc, tb_db_column_int64(q, 0));
        if (rc != 0)
            return rc;
    }
    if (step == TB_DB_DONE)
        return 0;
    return fts ? query_error(db, step) : step;
}

/* Binds the restriction lists, built into *within_json and *sources_json
 * (malloc'd, the caller frees them after the statement); -ENOMEM when they
 * cannot be built. */
static int bind_lists(struct tb_db_stmt *q, char *const *sources, size_t nsources,
                      const int64_t *within, size_t nwithin, char **within_json,
                      char **sources_json)
{
    if (within != NULL) {
        *within_json = json_list(within, NULL, nwithin);
        if (*within_json == NULL || tb_db_bind_text(q, 2, *within_json) != 0)
            return -ENOMEM;
    }
    if (nsources > 0) {
        *sources_json = json_list(NULL, sources, nsources);
        if (*sources_json == NULL || tb_db_bind_text(q, 3, *sources_json) != 0)
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
static int by_time(struct tb_db *db, const char *query, size_t limit)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'entries_sort'),"
        " (SELECT count(*) FROM entries_fts WHERE entries_fts MATCH ?1)";
    struct tb_db_stmt *st = NULL;
    int yes = 0;

    if (limit == 0 || limit > (size_t)INT64_MAX / 4 ||
        tb_db_query(db, &st, NULL, 0, sql, "t", query) != 0)
        return 0;
    if (tb_db_step(st, NULL, 0) == TB_DB_ROW)
        yes = tb_db_column_int64(st, 0) == 1 &&
              (uint64_t)tb_db_column_int64(st, 1) > 4 * (uint64_t)limit;
    tb_db_finalize(st);
    return yes;
}

int tb_topic_select_in(struct tb_store *s, const char *query, char *const *sources, size_t nsources,
                       const int64_t *within, size_t nwithin, size_t limit, int64_t **ids,
                       size_t *n, char *err, size_t errlen)
{
    struct tb_db *db = s->sql;
    int fts = query != NULL && query[0] != '\0';
    int limited = limit != 0 && limit <= INT64_MAX;
    char *within_json = NULL, *sources_json = NULL;
    struct tb_db_stmt *q = NULL;
    struct tb_buf sql;
    int rc;

    *ids = NULL;
    *n = 0;
    tb_buf_init(&sql, 4096);
    rc = fts ? tb_store_sync_index(s, err, errlen) : 0;
    if (rc == 0)
        rc = build_sql(&sql, fts, within != NULL, nsources > 0, limited,
                       fts && within == NULL && by_time(db, query, limit));
    if (rc == 0)
        rc = tb_db_prepare(db, sql.data, &q, err, errlen);
    if (rc == 0 && fts)
        rc = tb_db_bind_text(q, 1, query);
    if (rc == 0)
        rc = bind_lists(q, sources, nsources, within, nwithin, &within_json, &sources_json);
    if (rc == 0 && limited)
        rc = tb_db_bind_int64(q, 4, (int64_t)limit);
    if (rc == 0)
        rc = collect(db, q, fts, ids, n, err, errlen);
    tb_db_finalize(q);
    free(within_json);
    free(sources_json);
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
    struct tb_db_stmt *st = NULL;
    int rc;

    if (query == NULL || query[0] == '\0')
        return 0;
    rc = tb_db_query(s->sql, &st, err, errlen, check_sql, "t", query);
    if (rc == 0)
        rc = tb_db_step(st, err, errlen);
    if (rc == TB_DB_ROW)
        rc = 0;
    rc = query_error(s->sql, rc); /* before the finalize, which may set another code */
    tb_db_finalize(st);
    return rc;
}
