/*
 * Per-source poll state in the sources table: validators, schedule, last
 * outcome. The daemon reads a source's state once when it is configured
 * and writes it after every fetch, through the store's cached tb_db
 * statements (tb__store_q): preparing them per call was most of the
 * start-up of a daemon with 5,000 sources (five prepares each, ~0.25 s).
 */
#include "store_int.h"
#include "tb_vec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char list_sql[] = "SELECT " TB__STATE_COLS " FROM sources ORDER BY name";
static const char ins_sql[] = "INSERT INTO sources(name) VALUES(?1) ON CONFLICT DO NOTHING";
static const char get_sql[] = "SELECT " TB__STATE_COLS " FROM sources WHERE name = ?1";
static const char reset_sql[] =
    "UPDATE sources SET url = ?2, config_url = ?2, gone = 0, etag = NULL,"
    " last_modified = NULL, last_status = NULL, last_error = NULL,"
    " next_poll = NULL, failures = 0, ttl = 0 WHERE name = ?1";
static const char put_sql[] =
    "UPDATE sources SET url = ?2, config_url = ?3, gone = ?4, etag = ?5,"
    " last_modified = ?6, last_attempt = ?7, last_success = ?8,"
    " last_status = ?9, last_error = ?10, next_poll = ?11, failures = ?12,"
    " ttl = ?13, entries_seen = (SELECT count(*) FROM entry_sources es"
    " WHERE es.source_id = ?1) WHERE id = ?1";

/* A copy of text column i, or NULL for SQL NULL. -ENOMEM on failure. */
static int col_str(struct tb_db_stmt *q, int i, char **out)
{
    const char *v = tb_db_column_text(q, i);

    *out = NULL;
    if (v == NULL)
        return 0;
    *out = strdup(v);
    return *out ? 0 : -ENOMEM;
}

/* Fills st from the current row of a STATE_COLS statement. */
static int read_row(struct tb_db_stmt *q, struct tb_store_state *st)
{
    int rc;

    memset(st, 0, sizeof(*st));
    st->source_id = tb_db_column_int64(q, 0);
    st->gone = (int)tb_db_column_int64(q, 4) != 0;
    st->last_attempt = tb_db_column_int64(q, 7);
    st->last_success = tb_db_column_int64(q, 8);
    st->last_status = (long)tb_db_column_int64(q, 9);
    st->next_poll = tb_db_column_int64(q, 11);
    st->failures = (int)tb_db_column_int64(q, 12);
    st->entries_seen = tb_db_column_int64(q, 13);
    st->ttl_minutes = (int)tb_db_column_int64(q, 14);
    st->polled_at = tb_db_column_int64(q, 16);
    st->lease_until = tb_db_column_int64(q, 18);
    rc = col_str(q, 1, &st->name);
    rc = rc ? rc : col_str(q, 2, &st->url);
    rc = rc ? rc : col_str(q, 3, &st->config_url);
    rc = rc ? rc : col_str(q, 5, &st->etag);
    rc = rc ? rc : col_str(q, 6, &st->last_modified);
    rc = rc ? rc : col_str(q, 10, &st->last_error);
    rc = rc ? rc : col_str(q, 15, &st->polled_node);
    rc = rc ? rc : col_str(q, 17, &st->lease_node);
    if (rc)
        tb_store_state_clear(st);
    return rc;
}

/* Runs the cached statement `which` (sql) taking (name, url), or (name)
 * when url is NULL, that returns no row. */
static int exec2(struct tb_store *s, enum tb__q which, const char *sql, const char *name,
                 const char *url, char *err, size_t errlen)
{
    struct tb_db_stmt *q;
    int rc = tb__store_q(s, which, sql, &q, err, errlen);

    if (rc == 0)
        rc = tb_db_bind_text(q, 1, name);
    if (rc == 0 && url != NULL)
        rc = tb_db_bind_text(q, 2, url);
    if (rc == 0)
        rc = tb_db_step(q, err, errlen);
    if (q != NULL)
        tb_db_reset(q);
    return rc == TB_DB_ROW ? 0 : rc;
}

/* Reads the row named `name` into st; -ENOENT when there is none. */
static int read_named(struct tb_store *s, const char *name, struct tb_store_state *st, char *err,
                      size_t errlen)
{
    struct tb_db_stmt *q;
    int rc = tb__store_q(s, TB__Q_STATE_GET, get_sql, &q, err, errlen);

    if (rc == 0)
        rc = tb_db_bind_text(q, 1, name);
    if (rc == 0)
        rc = tb_db_step(q, err, errlen);
    if (rc == TB_DB_ROW)
        rc = read_row(q, st);
    else if (rc == TB_DB_DONE)
        rc = -ENOENT;
    if (q != NULL)
        tb_db_reset(q);
    return rc;
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

int tb_store_state_get(struct tb_store *s, const char *name, const char *config_url,
                       struct tb_store_state *st, char *err, size_t errlen)
{
    int rc;

    memset(st, 0, sizeof(*st));
    if (name == NULL)
        return -EINVAL;
    rc = exec2(s, TB__Q_STATE_INS, ins_sql, name, NULL, err, errlen);
    if (rc == 0)
        rc = read_named(s, name, st, err, errlen);
    if (rc != 0 || same_str(st->config_url, config_url))
        return rc;
    /* A new source, or the config now names another URL: the config wins
     * and what was learnt about the old URL no longer applies. */
    tb_store_state_clear(st);
    rc = exec2(s, TB__Q_STATE_RESET, reset_sql, name, config_url, err, errlen);
    if (rc == 0)
        rc = read_named(s, name, st, err, errlen);
    return rc;
}

/* A time of 0 (never) is stored as NULL. */
static int bind_time(struct tb_db_stmt *q, int i, int64_t v)
{
    return v == 0 ? tb_db_bind_null(q, i) : tb_db_bind_int64(q, i, v);
}

int tb_store_state_put(struct tb_store *s, const struct tb_store_state *st, char *err,
                       size_t errlen)
{
    struct tb_db_stmt *q;
    int rc = tb__store_q(s, TB__Q_STATE_PUT, put_sql, &q, err, errlen);

    if (rc != 0)
        return rc;
    /* Binding cannot fail: every number is within the SQL's parameters. */
    (void)tb_db_bind_int64(q, 1, st->source_id);
    (void)tb_db_bind_text(q, 2, st->url);
    (void)tb_db_bind_text(q, 3, st->config_url);
    (void)tb_db_bind_int64(q, 4, st->gone ? 1 : 0);
    (void)tb_db_bind_text(q, 5, st->etag);
    (void)tb_db_bind_text(q, 6, st->last_modified);
    (void)bind_time(q, 7, st->last_attempt);
    (void)bind_time(q, 8, st->last_success);
    (void)bind_time(q, 9, st->last_status);
    (void)tb_db_bind_text(q, 10, st->last_error);
    (void)bind_time(q, 11, st->next_poll);
    (void)tb_db_bind_int64(q, 12, st->failures);
    (void)tb_db_bind_int64(q, 13, st->ttl_minutes);
    rc = tb_db_step(q, err, errlen);
    tb_db_reset(q);
    return rc == TB_DB_ROW ? 0 : rc;
}

/* Appends the current row to a growing array. */
static int list_push(struct tb_db_stmt *q, struct tb_store_state **v, size_t *n, size_t *alloc)
{
    int rc = TB_VEC_RESERVE(*v, *alloc, *n + 1, TB_VEC_MAX);

    if (rc)
        return rc;
    if (read_row(q, &(*v)[*n]) != 0)
        return -ENOMEM;
    (*n)++;
    return 0;
}

int tb_store_state_list(struct tb_store *s, struct tb_store_state **out, size_t *n, char *err,
                        size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    size_t alloc = 0;
    int rc, step = TB_DB_DONE;

    *out = NULL;
    *n = 0;
    rc = tb_db_prepare(s->sql, list_sql, &q, err, errlen);
    for (;;) {
        if (rc != 0)
            break;
        step = tb_db_step(q, err, errlen);
        if (step != TB_DB_ROW)
            break;
        rc = list_push(q, out, n, &alloc);
    }
    if (rc == 0 && step != TB_DB_DONE)
        rc = step;
    tb_db_finalize(q);
    if (rc != 0) {
        tb_store_state_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void tb_store_state_clear(struct tb_store_state *st)
{
    free(st->name);
    free(st->url);
    free(st->config_url);
    free(st->etag);
    free(st->last_modified);
    free(st->last_error);
    free(st->polled_node);
    free(st->lease_node);
    memset(st, 0, sizeof(*st));
}

void tb_store_state_free(struct tb_store_state *v, size_t n)
{
    size_t i;

    for (i = 0; i < n && v != NULL; i++)
        tb_store_state_clear(&v[i]);
    free(v);
}

int tb_store_ping(struct tb_store *s)
{
    return tb_db_exec(s->sql, "SELECT 1", NULL, 0) == 0 ? 0 : TB_ESTORE;
}
