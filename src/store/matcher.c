/*
 * The topic matcher: an in-memory SQLite database with one contentless FTS5
 * table defined as the store's entries_fts (matcher.h). A batch lives in an
 * open transaction: its entries are inserted as they come, each query runs
 * once over all of them, and the batch is dropped by rolling back, which
 * costs nothing next to deleting its rows from the index.
 *
 * Contentless (content=''): only the index is kept, which is all MATCH and
 * the rowid need; the text is the caller's. The table keeps the store's
 * name, so that no message FTS5 writes can tell the two apart.
 *
 * The connection goes through tb_db as the store's does, so a query that
 * does not compile comes back with the same code and the same message as
 * from tb_topic_check on an SQLite store.
 */
#include "matcher.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tb_db.h"
#include "tb_vec.h"

static const char create_sql[] = "CREATE VIRTUAL TABLE entries_fts USING fts5(" TB__FTS_COLUMNS
                                 ", content='', " TB__FTS_TOKENIZE ");";

static const char insert_sql[] = "INSERT INTO entries_fts(rowid, " TB__FTS_COLUMNS ")"
                                 " VALUES(?1, ?2, ?3, ?4, ?5)";

static const char match_sql[] =
    "SELECT rowid FROM entries_fts WHERE entries_fts MATCH ?1 ORDER BY rowid";

/* LIMIT 1 for the same reason as topic.c's check: FTS5 parses the query
 * even on an empty table, and LIMIT 0 would skip it. */
static const char check_sql[] = "SELECT 1 FROM entries_fts WHERE entries_fts MATCH ?1 LIMIT 1";

struct tb__matcher {
    struct tb_db *db;          /* the in-memory database */
    struct tb_db_stmt *insert; /* insert_sql */
    struct tb_db_stmt *match;  /* match_sql */
    int64_t *ids;              /* the batch's ids, as added */
    size_t n, alloc;           /* count, slots of ids */
    int open;                  /* the batch's transaction is open */
};

/* TB_EQUERY for SQLite's plain error (how FTS5 reports a query it cannot
 * parse), else rc: topic.c's rule, on the matcher's connection. */
static int query_error(struct tb__matcher *m, int rc)
{
    if (rc == TB_ESTORE && sqlite3_errcode(tb_db_sqlite(m->db)) == SQLITE_ERROR)
        return TB_EQUERY;
    return rc;
}

int tb__matcher_new(struct tb__matcher **out, char *err, size_t errlen)
{
    struct tb__matcher *m = calloc(1, sizeof(*m));
    int rc;

    *out = NULL;
    if (m == NULL)
        return -ENOMEM;
    rc = tb_db_open(&m->db, ":memory:", TB_DB_PRIVATE, err, errlen);
    if (rc == 0)
        rc = tb_db_exec(m->db, create_sql, err, errlen);
    if (rc == 0)
        rc = tb_db_prepare(m->db, insert_sql, &m->insert, err, errlen);
    if (rc == 0)
        rc = tb_db_prepare(m->db, match_sql, &m->match, err, errlen);
    if (rc != 0) {
        tb__matcher_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void tb__matcher_free(struct tb__matcher *m)
{
    if (m == NULL)
        return;
    tb_db_finalize(m->insert);
    tb_db_finalize(m->match);
    if (m->open)
        (void)tb_db_rollback(m->db);
    tb_db_close(m->db);
    free(m->ids);
    free(m);
}

int tb__matcher_add(struct tb__matcher *m, int64_t id, const char *const col[TB__FTS_NCOLS],
                    char *err, size_t errlen)
{
    int rc = TB_VEC_RESERVE(m->ids, m->alloc, m->n + 1, TB_VEC_MAX);
    int i;

    if (rc == 0 && !m->open) {
        rc = tb_db_begin(m->db, TB_DB_DEFERRED, err, errlen);
        m->open = rc == 0;
    }
    if (rc != 0)
        return rc;
    tb_db_reset(m->insert);
    (void)tb_db_bind_int64(m->insert, 1, id);
    for (i = 0; i < TB__FTS_NCOLS; i++)
        (void)tb_db_bind_text(m->insert, 2 + i, col[i]);
    rc = tb_db_step(m->insert, err, errlen);
    tb_db_reset(m->insert);
    if (rc != TB_DB_DONE)
        return rc < 0 ? rc : TB_ESTORE;
    m->ids[m->n++] = id;
    return 0;
}

size_t tb__matcher_count(const struct tb__matcher *m)
{
    return m->n;
}

static int by_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* Every id of the batch, ascending: the answer to an empty query. */
static int all_ids(struct tb__matcher *m, int64_t **ids, size_t *n)
{
    if (m->n == 0)
        return 0;
    *ids = malloc(m->n * sizeof(**ids));
    if (*ids == NULL)
        return -ENOMEM;
    memcpy(*ids, m->ids, m->n * sizeof(**ids));
    qsort(*ids, m->n, sizeof(**ids), by_id);
    *n = m->n;
    return 0;
}

int tb__matcher_match(struct tb__matcher *m, const char *query, int64_t **ids, size_t *n, char *err,
                      size_t errlen)
{
    size_t alloc = 0;
    int rc = 0, step;

    *ids = NULL;
    *n = 0;
    if (query == NULL || query[0] == '\0')
        return all_ids(m, ids, n);
    tb_db_reset(m->match);
    (void)tb_db_bind_text(m->match, 1, query);
    for (;;) {
        step = tb_db_step(m->match, err, errlen);
        if (step != TB_DB_ROW)
            break;
        rc = TB_VEC_RESERVE(*ids, alloc, *n + 1, TB_VEC_MAX);
        if (rc != 0)
            break;
        (*ids)[(*n)++] = tb_db_column_int64(m->match, 0);
    }
    if (rc == 0 && step != TB_DB_DONE)
        rc = query_error(m, step);
    tb_db_reset(m->match);
    if (rc != 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int tb__matcher_check(struct tb__matcher *m, const char *query, char *err, size_t errlen)
{
    struct tb_db_stmt *st = NULL;
    int rc;

    if (query == NULL || query[0] == '\0')
        return 0;
    rc = tb_db_query(m->db, &st, err, errlen, check_sql, "t", query);
    if (rc == 0)
        rc = tb_db_step(st, err, errlen);
    if (rc == TB_DB_ROW)
        rc = 0;
    rc = query_error(m, rc); /* before the finalize, as topic.c */
    tb_db_finalize(st);
    return rc;
}

int tb__matcher_clear(struct tb__matcher *m, char *err, size_t errlen)
{
    int rc = 0;

    if (m->open)
        rc = tb_db_rollback(m->db);
    m->open = 0;
    m->n = 0;
    if (rc != 0 && err != NULL && errlen > 0)
        snprintf(err, errlen, "matcher: %s", tb_db_errmsg(m->db));
    return rc;
}
