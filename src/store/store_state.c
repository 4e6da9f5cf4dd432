/*
 * Per-source poll state in the sources table: validators, schedule, last
 * outcome. The daemon reads a source's state once when it is configured
 * and writes it after every fetch, through store.c's cached statements:
 * preparing them per call was most of the start-up of a daemon with 5,000
 * sources (five prepares each, ~0.25 s).
 */
#include "store_int.h"
#include "tb_vec.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char list_sql[] = "SELECT " TB__STATE_COLS " FROM sources ORDER BY name";

/* A copy of text column i, or NULL for SQL NULL. -ENOMEM on failure. */
static int col_str(sqlite3_stmt *q, int i, char **out)
{
    const unsigned char *v = sqlite3_column_text(q, i);

    *out = NULL;
    if (v == NULL)
        return 0;
    *out = strdup((const char *)v);
    return *out ? 0 : -ENOMEM;
}

/* Fills st from the current row of a STATE_COLS statement. */
static int read_row(sqlite3_stmt *q, struct tb_store_state *st)
{
    int rc;

    memset(st, 0, sizeof(*st));
    st->source_id = sqlite3_column_int64(q, 0);
    st->gone = sqlite3_column_int(q, 4) != 0;
    st->last_attempt = sqlite3_column_int64(q, 7);
    st->last_success = sqlite3_column_int64(q, 8);
    st->last_status = (long)sqlite3_column_int64(q, 9);
    st->next_poll = sqlite3_column_int64(q, 11);
    st->failures = sqlite3_column_int(q, 12);
    st->entries_seen = sqlite3_column_int64(q, 13);
    st->ttl_minutes = sqlite3_column_int(q, 14);
    rc = col_str(q, 1, &st->name);
    rc = rc ? rc : col_str(q, 2, &st->url);
    rc = rc ? rc : col_str(q, 3, &st->config_url);
    rc = rc ? rc : col_str(q, 5, &st->etag);
    rc = rc ? rc : col_str(q, 6, &st->last_modified);
    rc = rc ? rc : col_str(q, 10, &st->last_error);
    if (rc)
        tb_store_state_clear(st);
    return rc;
}

/* Runs a statement taking (name, url) that returns no row. */
static int exec2(struct tb_store *s, enum tb__stmt which, const char *name, const char *url,
                 char *err, size_t errlen)
{
    sqlite3_stmt *q = tb__store_stmt(s, which);
    int rc;

    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(q) >= 2)
        sqlite3_bind_text(q, 2, url, -1, SQLITE_STATIC);
    rc = sqlite3_step(q) == SQLITE_DONE ? 0 : tb__store_fail(s, err, errlen, "source state");
    sqlite3_reset(q);
    return rc;
}

/* Reads the row named `name` into st; -ENOENT when there is none. */
static int read_named(struct tb_store *s, const char *name, struct tb_store_state *st, char *err,
                      size_t errlen)
{
    sqlite3_stmt *q = tb__store_stmt(s, TB__ST_STATE_GET);
    int rc;

    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        rc = read_row(q, st);
    else
        rc = rc == SQLITE_DONE ? -ENOENT : tb__store_fail(s, err, errlen, "source state");
    sqlite3_reset(q);
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
    rc = exec2(s, TB__ST_STATE_INS, name, NULL, err, errlen);
    if (rc == 0)
        rc = read_named(s, name, st, err, errlen);
    if (rc != 0 || same_str(st->config_url, config_url))
        return rc;
    /* A new source, or the config now names another URL: the config wins
     * and what was learnt about the old URL no longer applies. */
    tb_store_state_clear(st);
    rc = exec2(s, TB__ST_STATE_RESET, name, config_url, err, errlen);
    if (rc == 0)
        rc = read_named(s, name, st, err, errlen);
    return rc;
}

static void bind_str(sqlite3_stmt *q, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(q, i);
    else
        sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
}

static void bind_time(sqlite3_stmt *q, int i, int64_t v)
{
    if (v == 0)
        sqlite3_bind_null(q, i);
    else
        sqlite3_bind_int64(q, i, v);
}

int tb_store_state_put(struct tb_store *s, const struct tb_store_state *st, char *err,
                       size_t errlen)
{
    sqlite3_stmt *q = tb__store_stmt(s, TB__ST_STATE_PUT);
    int rc;

    sqlite3_bind_int64(q, 1, st->source_id);
    bind_str(q, 2, st->url);
    bind_str(q, 3, st->config_url);
    sqlite3_bind_int(q, 4, st->gone ? 1 : 0);
    bind_str(q, 5, st->etag);
    bind_str(q, 6, st->last_modified);
    bind_time(q, 7, st->last_attempt);
    bind_time(q, 8, st->last_success);
    bind_time(q, 9, st->last_status);
    bind_str(q, 10, st->last_error);
    bind_time(q, 11, st->next_poll);
    sqlite3_bind_int(q, 12, st->failures);
    sqlite3_bind_int(q, 13, st->ttl_minutes);
    rc = sqlite3_step(q) == SQLITE_DONE ? 0 : tb__store_fail(s, err, errlen, "source state");
    sqlite3_reset(q);
    return rc;
}

/* Appends the current row to a growing array. */
static int list_push(sqlite3_stmt *q, struct tb_store_state **v, size_t *n, size_t *alloc)
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
    sqlite3 *db = tb_store_db(s);
    sqlite3_stmt *q = NULL;
    size_t alloc = 0;
    int rc = 0, step;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, list_sql, -1, &q, NULL) != SQLITE_OK)
        return tb__store_fail(s, err, errlen, "source list");
    for (;;) {
        step = sqlite3_step(q);
        if (step != SQLITE_ROW)
            break;
        rc = list_push(q, out, n, &alloc);
        if (rc != 0)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = tb__store_fail(s, err, errlen, "source list");
    sqlite3_finalize(q);
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
    return sqlite3_exec(tb_store_db(s), "SELECT 1", NULL, NULL, NULL) == SQLITE_OK ? 0 : TB_ESTORE;
}
