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
 * Two ways to a topic's entries, with the same answers (tests/test_matcher.c):
 * - SQLite: FTS5 over the store's own index (entries_fts, MATCH), lists
 *   read with json_each(): the embedded default, proven, and kept;
 * - memberships (s->members; always on PostgreSQL, which has no FTS5):
 *   the node that stores entries matches them with the in-memory matcher
 *   (matcher.h: the same columns and tokenizer) against every query the
 *   database knows, and writes topic_members in the same transaction; a
 *   query new to the database (a changed query is a new one) is
 *   registered, then backfilled by streaming the stored entries through
 *   the matcher in id batches, each its own transaction that records how
 *   far it got (what a node dying mid-backfill left, the next selection
 *   finishes). On PostgreSQL a put holds a shared advisory lock from
 *   reading the queries to its commit and a registration takes it
 *   exclusively, so each entry is either committed before the query is
 *   (the backfill sees it) or matched against it by its own put.
 */
#include "store_int.h"
#include "tb_topic.h"
#include "matcher.h"

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

/* The first failure of two. */
static int keep(int rc, int rc2)
{
    return rc != 0 ? rc : rc2;
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

/* ---- memberships (s->members) ---- */

/* Entries per backfill transaction: small enough that a transaction stays
 * short beside the pollers' (tests lower it to see several). */
size_t tb__topic_batch = 500;

/* The advisory lock between puts (shared, from reading the queries to
 * their commit) and a query's registration (exclusive); PostgreSQL only. */
#define TOPIC_LOCK "7523094288207667828"

static const char text_sql[] = "SELECT title, text, authors, categories FROM entries WHERE id = ?1";
static const char queries_sql[] = "SELECT id, query FROM topic_queries ORDER BY id";
static const char unmember_sql[] = "DELETE FROM topic_members WHERE entry_id = ?1";
static const char find_sql[] = "SELECT id, complete FROM topic_queries WHERE query = ?1";
static const char register_sql[] =
    "INSERT INTO topic_queries(query) VALUES(?1) ON CONFLICT(query) DO NOTHING";
static const char scan_sql[] = "SELECT id, title, text, authors, categories FROM entries"
                               " WHERE id > ?1 ORDER BY id LIMIT ?2";
static const char progress_sql[] =
    "UPDATE topic_queries SET done = ?2, complete = ?3 WHERE id = ?1";

/* The topic queries the database knows. */
struct known {
    int64_t *id;
    char **query;
    size_t n, alloc;
};

static void known_free(struct known *k)
{
    size_t i;

    for (i = 0; i < k->n; i++)
        free(k->query[i]);
    free(k->id);
    free(k->query);
}

/* Makes s->matcher at its first use. */
static int matcher(struct tb_store *s, char *err, size_t errlen)
{
    return s->matcher != NULL ? 0 : tb__matcher_new(&s->matcher, err, errlen);
}

/* PostgreSQL: takes the topic lock until the transaction ends. */
static int lock_topics(struct tb_store *s, int exclusive, char *err, size_t errlen)
{
    if (tb_db_dialect(s->sql) != TB_DB_PG)
        return 0; /* SQLite: the write transaction excludes the others */
    return tb_db_run(s->sql, err, errlen,
                     exclusive ? "SELECT pg_advisory_xact_lock(" TOPIC_LOCK ")"
                               : "SELECT pg_advisory_xact_lock_shared(" TOPIC_LOCK ")",
                     "");
}

int tb__topic_use_members(struct tb_store *s, int on)
{
    if (!on && tb_db_dialect(s->sql) == TB_DB_PG)
        return -EINVAL;
    s->members = on != 0;
    return 0;
}

int tb__topic_touch(struct tb_store *s, int64_t id)
{
    int rc = TB_VEC_RESERVE(s->touched, s->atouched, s->ntouched + 1, TB_VEC_MAX);

    if (rc == 0)
        s->touched[s->ntouched++] = id;
    return rc;
}

static int load_known(struct tb_store *s, struct known *k, char *err, size_t errlen)
{
    struct tb_db_stmt *st = NULL;
    size_t alloc_q = 0;
    const char *q;
    int rc = tb_db_prepare(s->sql, queries_sql, &st, err, errlen), step = TB_DB_DONE;

    while (rc == 0 && (step = tb_db_step(st, err, errlen)) == TB_DB_ROW) {
        q = tb_db_column_text(st, 1);
        rc = TB_VEC_RESERVE(k->id, k->alloc, k->n + 1, TB_VEC_MAX);
        rc = rc ? rc : TB_VEC_RESERVE(k->query, alloc_q, k->n + 1, TB_VEC_MAX);
        if (rc == 0) {
            k->query[k->n] = strdup(q ? q : "");
            rc = k->query[k->n] != NULL ? 0 : -ENOMEM;
        }
        if (rc == 0)
            k->id[k->n++] = tb_db_column_int64(st, 0);
    }
    if (rc == 0 && step != TB_DB_DONE)
        rc = step;
    tb_db_finalize(st);
    return rc;
}

/* Adds entry id to the matcher with the text the table holds now (get:
 * text_sql); an id no longer there is skipped. */
static int add_stored(struct tb_store *s, struct tb_db_stmt *get, int64_t id, char *err,
                      size_t errlen)
{
    const char *col[TB__FTS_NCOLS];
    int rc, i;

    tb_db_reset(get);
    (void)tb_db_bind_int64(get, 1, id);
    rc = tb_db_step(get, err, errlen);
    if (rc == TB_DB_ROW) {
        for (i = 0; i < TB__FTS_NCOLS; i++)
            col[i] = tb_db_column_text(get, i);
        rc = tb__matcher_add(s->matcher, id, col, err, errlen);
    }
    tb_db_reset(get);
    return rc == TB_DB_DONE ? 0 : rc;
}

/* A subquery of the list bound to parameter ?p (JSON text): integers or
 * names, in the engine's words. */
static int add_list(struct tb_buf *b, struct tb_db *db, int p, int integers)
{
    if (tb_db_dialect(db) != TB_DB_PG)
        return tb_buf_addf(b, "SELECT value FROM json_each(?%d)", p);
    return tb_buf_addf(b, "SELECT %s FROM json_array_elements_text(CAST(?%d AS json))",
                       integers ? "CAST(value AS bigint) AS value" : "value", p);
}

/* Writes the memberships of the matcher's batch for query qid, in one
 * statement with the ids as a JSON list (one statement per membership
 * cost a round trip each on PostgreSQL: +180 us per stored entry with 10
 * queries, contrib/bench/matcher). A query that does not compile has
 * none (config checks refuse it earlier). */
static int write_members(struct tb_store *s, int64_t qid, const char *query, char *err,
                         size_t errlen)
{
    int64_t *ids = NULL;
    char *json = NULL;
    struct tb_buf sql;
    size_t n = 0;
    int rc = tb__matcher_match(s->matcher, query, &ids, &n, err, errlen);

    if (rc == TB_EQUERY) {
        tb_log(TB_LOG_WARN, "topic", "query %s: %s", query, err != NULL ? err : "does not compile");
        return 0;
    }
    if (rc != 0 || n == 0) {
        free(ids);
        return rc;
    }
    tb_buf_init(&sql, 1024);
    json = json_list(ids, NULL, n);
    rc = json != NULL ? 0 : -ENOMEM;
    rc = rc ? rc
            : tb_buf_adds(
                  &sql, "INSERT INTO topic_members(query_id, entry_id) SELECT ?1, l.value FROM (");
    rc = rc ? rc : add_list(&sql, s->sql, 2, 1);
    rc =
        rc ? rc : tb_buf_adds(&sql, ") AS l WHERE true ON CONFLICT(query_id, entry_id) DO NOTHING");
    rc = rc ? rc : tb_db_run(s->sql, err, errlen, sql.data, "it", qid, json);
    tb_buf_free(&sql);
    free(json);
    free(ids);
    return rc;
}

static int by_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* Puts the transaction's entries into the matcher; a rewritten one loses
 * its memberships first (the match writes the new ones). */
static int batch_stored(struct tb_store *s, char *err, size_t errlen)
{
    struct tb_db_stmt *get = NULL, *drop = NULL;
    const struct tb__unindexed *u;
    size_t i;
    int rc = tb_db_prepare(s->sql, text_sql, &get, err, errlen);

    for (i = 0; rc == 0 && i < s->nunindexed; i++) {
        u = &s->unindexed[i];
        rc = u->reread ? add_stored(s, get, u->id, err, errlen)
                       : tb__matcher_add(s->matcher, u->id, u->col, err, errlen);
    }
    if (rc == 0 && s->ntouched > 0) {
        qsort(s->touched, s->ntouched, sizeof(*s->touched), by_id);
        rc = tb_db_prepare(s->sql, unmember_sql, &drop, err, errlen);
    }
    for (i = 0; rc == 0 && i < s->ntouched; i++) {
        if (i > 0 && s->touched[i] == s->touched[i - 1])
            continue;
        tb_db_reset(drop);
        (void)tb_db_bind_int64(drop, 1, s->touched[i]);
        rc = tb_db_step(drop, err, errlen);
        rc = rc ? rc : add_stored(s, get, s->touched[i], err, errlen);
    }
    tb_db_finalize(get);
    tb_db_finalize(drop);
    return rc;
}

int tb__topic_stored(struct tb_store *s, char *err, size_t errlen)
{
    struct known k = {0};
    size_t i;
    int rc;

    if (s->nunindexed == 0 && s->ntouched == 0)
        return 0;
    rc = lock_topics(s, 0, err, errlen);
    rc = rc ? rc : load_known(s, &k, err, errlen);
    if (rc == 0 && k.n > 0) {
        rc = matcher(s, err, errlen);
        rc = rc ? rc : batch_stored(s, err, errlen);
        for (i = 0; rc == 0 && i < k.n; i++)
            rc = write_members(s, k.id[i], k.query[i], err, errlen);
        if (s->matcher != NULL)
            rc = keep(rc, tb__matcher_clear(s->matcher, NULL, 0));
    }
    known_free(&k);
    s->ntouched = 0;
    return rc;
}

/* The id and completeness of query in topic_queries; -ENOENT when absent. */
static int find_query(struct tb_store *s, const char *query, int64_t *id, int *complete, char *err,
                      size_t errlen)
{
    struct tb_db_stmt *st = NULL;
    int rc = tb_db_query(s->sql, &st, err, errlen, find_sql, "t", query);

    rc = rc ? rc : tb_db_step(st, err, errlen);
    if (rc == TB_DB_ROW) {
        *id = tb_db_column_int64(st, 0);
        *complete = tb_db_column_int64(st, 1) != 0;
        rc = 0;
    } else if (rc == TB_DB_DONE) {
        rc = -ENOENT;
    }
    tb_db_finalize(st);
    return rc;
}

/* Registers query (another node may have done it): after the exclusive
 * lock, every put that read the queries without it has committed. */
static int register_query(struct tb_store *s, const char *query, char *err, size_t errlen)
{
    int rc = tb_db_begin(s->sql, TB_DB_IMMEDIATE, err, errlen);

    if (rc != 0)
        return rc;
    rc = lock_topics(s, 1, err, errlen);
    rc = rc ? rc : tb_db_run(s->sql, err, errlen, register_sql, "t", query);
    if (rc != 0) {
        (void)tb_db_rollback(s->sql);
        return rc;
    }
    return tb_db_commit(s->sql, err, errlen);
}

/* One backfill step in its own transaction: the next tb__topic_batch
 * entries past the query's `done` through the matcher, their memberships,
 * and the new `done`. *complete once the scan met the end. The row lock
 * (PostgreSQL) keeps two nodes from doing the same step. The topic lock,
 * exclusive, keeps a put that rewrites one of the entries from committing
 * between the scan and the step's commit: a put ends by dropping the
 * entry's memberships and matching its new text, so whichever commits
 * last, the memberships are the new text's. */
static int backfill_step(struct tb_store *s, int64_t qid, const char *query, int *complete,
                         char *err, size_t errlen)
{
    const char *progress = tb_db_dialect(s->sql) == TB_DB_PG
                               ? "SELECT done, complete FROM topic_queries WHERE id = ?1 FOR UPDATE"
                               : "SELECT done, complete FROM topic_queries WHERE id = ?1";
    struct tb_db_stmt *st = NULL;
    const char *col[TB__FTS_NCOLS];
    int64_t done = 0, last;
    size_t n = 0;
    int rc, step, i;

    rc = tb_db_begin(s->sql, TB_DB_IMMEDIATE, err, errlen);
    if (rc != 0)
        return rc;
    rc = lock_topics(s, 1, err, errlen);
    rc = rc ? rc : tb_db_query(s->sql, &st, err, errlen, progress, "i", qid);
    rc = rc ? rc : tb_db_step(st, err, errlen);
    if (rc == TB_DB_ROW) {
        done = tb_db_column_int64(st, 0);
        *complete = tb_db_column_int64(st, 1) != 0;
        rc = 0;
    } else if (rc == TB_DB_DONE) {
        rc = -ENOENT;
    }
    tb_db_finalize(st);
    st = NULL;
    last = done;
    if (rc == 0 && !*complete)
        rc = tb_db_query(s->sql, &st, err, errlen, scan_sql, "ii", done, (int64_t)tb__topic_batch);
    while (rc == 0 && st != NULL && (step = tb_db_step(st, err, errlen)) != TB_DB_DONE) {
        if (step != TB_DB_ROW) {
            rc = step;
            break;
        }
        last = tb_db_column_int64(st, 0);
        for (i = 0; i < TB__FTS_NCOLS; i++)
            col[i] = tb_db_column_text(st, 1 + i);
        rc = tb__matcher_add(s->matcher, last, col, err, errlen);
        n++;
    }
    tb_db_finalize(st);
    if (rc == 0 && !*complete) {
        *complete = n < tb__topic_batch;
        rc = write_members(s, qid, query, err, errlen);
        rc =
            rc ? rc
               : tb_db_run(s->sql, err, errlen, progress_sql, "iii", qid, last, (int64_t)*complete);
    }
    rc = keep(rc, tb__matcher_clear(s->matcher, NULL, 0));
    if (rc != 0) {
        (void)tb_db_rollback(s->sql);
        return rc;
    }
    return tb_db_commit(s->sql, err, errlen);
}

int tb__topic_query_id(struct tb_store *s, const char *query, int64_t *id, char *err, size_t errlen)
{
    int complete = 0;
    int rc = matcher(s, err, errlen);

    rc = rc ? rc : tb__matcher_check(s->matcher, query, err, errlen);
    if (rc == 0) {
        rc = find_query(s, query, id, &complete, err, errlen);
        if (rc == -ENOENT) {
            rc = register_query(s, query, err, errlen);
            rc = rc ? rc : find_query(s, query, id, &complete, err, errlen);
        }
    }
    while (rc == 0 && !complete)
        rc = backfill_step(s, *id, query, &complete, err, errlen);
    return rc;
}

/* tb_topic_select_in's SQL through memberships, its parameters numbered as
 * build_sql's: ?1 the query's registered id, ?2 within, ?3 sources, ?4 the
 * limit (tb_db types a parameter the SQL leaves out as text). */
static int members_sql(struct tb_buf *sql, struct tb_db *db, int fts, int within, int sources,
                       int limited)
{
    int rc = tb_buf_adds(sql, "SELECT e.id FROM entries e");

    if (rc == 0 && fts)
        rc = tb_buf_adds(sql, " JOIN topic_members tm ON tm.entry_id = e.id AND tm.query_id = ?1");
    rc = rc ? rc : tb_buf_adds(sql, " WHERE true");
    if (rc == 0 && within) {
        rc = tb_buf_adds(sql, " AND e.id IN (");
        rc = rc ? rc : add_list(sql, db, 2, 1);
        rc = rc ? rc : tb_buf_adds(sql, ")");
    }
    if (rc == 0 && sources) {
        rc = tb_buf_adds(sql, " AND EXISTS (SELECT 1 FROM entry_sources es JOIN sources s"
                              " ON s.id = es.source_id WHERE es.entry_id = e.id AND s.name IN (");
        rc = rc ? rc : add_list(sql, db, 3, 0);
        rc = rc ? rc : tb_buf_adds(sql, "))");
    }
    rc = rc ? rc : tb_buf_adds(sql, " ORDER BY e.sort_time DESC, e.out_id");
    if (rc == 0 && limited)
        rc = tb_buf_adds(sql, " LIMIT ?4");
    return rc;
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
    int64_t qid = 0;
    int rc;

    *ids = NULL;
    *n = 0;
    tb_buf_init(&sql, 4096);
    if (s->members) {
        rc = fts ? tb__topic_query_id(s, query, &qid, err, errlen) : 0;
        rc = rc ? rc : members_sql(&sql, db, fts, within != NULL, nsources > 0, limited);
    } else {
        rc = fts ? tb_store_sync_index(s, err, errlen) : 0;
        if (rc == 0)
            rc = build_sql(&sql, fts, within != NULL, nsources > 0, limited,
                           fts && within == NULL && by_time(db, query, limit));
    }
    if (rc == 0)
        rc = tb_db_prepare(db, sql.data, &q, err, errlen);
    if (rc == 0 && fts)
        rc = s->members ? tb_db_bind_int64(q, 1, qid) : tb_db_bind_text(q, 1, query);
    if (rc == 0)
        rc = bind_lists(q, sources, nsources, within, nwithin, &within_json, &sources_json);
    if (rc == 0 && limited)
        rc = tb_db_bind_int64(q, 4, (int64_t)limit);
    if (rc == 0)
        rc = collect(db, q, fts && !s->members, ids, n, err, errlen);
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
    if (s->members) {
        rc = matcher(s, err, errlen);
        return rc ? rc : tb__matcher_check(s->matcher, query, err, errlen);
    }
    rc = tb_db_query(s->sql, &st, err, errlen, check_sql, "t", query);
    if (rc == 0)
        rc = tb_db_step(st, err, errlen);
    if (rc == TB_DB_ROW)
        rc = 0;
    rc = query_error(s->sql, rc); /* before the finalize, which may set another code */
    tb_db_finalize(st);
    return rc;
}
