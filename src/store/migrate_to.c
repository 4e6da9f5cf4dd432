/*
 * `tributary migrate --to`: copies a SQLite database into an empty
 * PostgreSQL one, table by table, in one transaction.
 *
 * The tables are PostgreSQL's (the schema tb_store_open() made there); each
 * must exist in the SQLite file with the same columns (both were opened,
 * hence migrated, by this tributary), except tables SQLite does not have,
 * which hold what a node derives again (topic memberships). Rows travel by
 * COPY in its text format (as pg_dump and pgloader load rows: one stream
 * per table, no statement per row); then each identity's sequence moves
 * past the highest id copied, so that new rows never collide.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tb_buf.h"
#include "tb_db.h"
#include "tb_store.h"
#include "tb_utf8.h"
#include "tb_vec.h"

#define COPY_CHUNK (256 * 1024) /* bytes handed to COPY at a time */
#define ROW_CAP (256u << 20)    /* most bytes of one row (entries hold a few MB at most) */

/* A table to copy: its name and columns, as PostgreSQL has them. */
struct table {
    char *name;
    char **cols;
    size_t ncols, alloc;
    int identity; /* index of its identity column, or -1 */
};

static void tables_free(struct table *t, size_t n)
{
    size_t i, j;

    for (i = 0; i < n; i++) {
        for (j = 0; j < t[i].ncols; j++)
            free(t[i].cols[j]);
        free(t[i].cols);
        free(t[i].name);
    }
    free(t);
}

/* Appends a copy of s to the array. */
static int push(char ***v, size_t *n, size_t *alloc, const char *s)
{
    int rc = TB_VEC_RESERVE(*v, *alloc, *n + 1, TB_VEC_MAX);

    if (rc == 0 && ((*v)[*n] = strdup(s)) == NULL)
        rc = -ENOMEM;
    if (rc == 0)
        (*n)++;
    return rc;
}

/* PostgreSQL's tables (but tb_schema) with their columns in order. */
static int pg_tables(struct tb_db *dst, struct table **out, size_t *nout, char *err, size_t errlen)
{
    struct tb_db_stmt *st = NULL;
    struct table *t = NULL;
    size_t n = 0, alloc = 0;
    int rc;

    rc = tb_db_query(dst, &st, err, errlen,
                     "SELECT c.table_name, c.column_name, c.is_identity"
                     " FROM information_schema.columns c JOIN information_schema.tables t"
                     " ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
                     " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
                     " AND c.table_name <> 'tb_schema'"
                     " ORDER BY c.table_name COLLATE \"C\", c.ordinal_position",
                     "");
    while (rc == 0 && (rc = tb_db_step(st, err, errlen)) == TB_DB_ROW) {
        const char *table = tb_db_column_text(st, 0), *col = tb_db_column_text(st, 1);

        rc = 0;
        if (n == 0 || strcmp(t[n - 1].name, table) != 0) {
            rc = TB_VEC_RESERVE(t, alloc, n + 1, TB_VEC_MAX);
            if (rc == 0) {
                memset(&t[n], 0, sizeof(t[n]));
                t[n].identity = -1;
                t[n].name = strdup(table);
                rc = t[n++].name != NULL ? 0 : -ENOMEM;
            }
        }
        if (rc == 0 && strcmp(tb_db_column_text(st, 2), "YES") == 0)
            t[n - 1].identity = (int)t[n - 1].ncols;
        if (rc == 0)
            rc = push(&t[n - 1].cols, &t[n - 1].ncols, &t[n - 1].alloc, col);
        if (rc)
            snprintf(err, errlen, "reading PostgreSQL's tables: %s", tb_strerror(rc));
    }
    tb_db_finalize(st);
    if (rc != TB_DB_DONE) {
        tables_free(t, n);
        return rc;
    }
    *out = t;
    *nout = n;
    return 0;
}

/* 1 when SQLite has table t with each of its columns, 0 when it has no such
 * table, else TB_ESTORE (a column missing: another schema version). */
static int sqlite_has(sqlite3 *db, const struct table *t, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    size_t i;
    int rc, have = 0, cols = 0;

    rc = sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1)", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);

        rc = SQLITE_OK;
        cols++;
        for (i = 0; name != NULL && i < t->ncols; i++)
            have += strcmp(name, t->cols[i]) == 0;
    }
    if (rc != SQLITE_DONE)
        snprintf(err, errlen, "%s: %s", t->name, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return TB_ESTORE;
    if (cols == 0)
        return 0;
    if ((size_t)have != t->ncols || cols != have) {
        snprintf(err, errlen,
                 "%s: the SQLite table has %d columns, %d of PostgreSQL's %zu (another schema "
                 "version)",
                 t->name, cols, have, t->ncols);
        return TB_ESTORE;
    }
    return 1;
}

/* TB_ESTORE when SQLite has a table of data that PostgreSQL lacks (other
 * than its own and the full-text index, which PostgreSQL does not keep):
 * copying would lose it. */
static int sqlite_extra(sqlite3 *db, const struct table *t, size_t n, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc, found = 1;
    size_t i;

    rc = sqlite3_prepare_v2(db,
                            "SELECT name FROM sqlite_schema WHERE type = 'table'"
                            " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                            " AND name NOT LIKE 'entries\\_fts%' ESCAPE '\\' ORDER BY name",
                            -1, &st, NULL);
    while (rc == SQLITE_OK && found && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);

        rc = SQLITE_OK;
        for (found = 0, i = 0; name != NULL && i < n && !found; i++)
            found = strcmp(name, t[i].name) == 0;
        if (!found)
            snprintf(err, errlen, "SQLite table %s has no PostgreSQL twin (another schema version)",
                     name ? name : "?");
    }
    if (rc != SQLITE_DONE && found)
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : TB_ESTORE;
}

/* Appends the column list "a", "b" (quoted) to b. */
static int add_cols(struct tb_buf *b, const struct table *t)
{
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < t->ncols; i++)
        rc = tb_buf_addf(b, "%s\"%s\"", i ? ", " : "", t->cols[i]);
    return rc;
}

/* Appends text to a COPY text-format row, escaped; invalid UTF-8 becomes
 * U+FFFD (PostgreSQL refuses it; the store never writes it). */
static int add_text(struct tb_buf *b, const char *s, size_t n)
{
    struct tb_buf clean;
    size_t i, from = 0;
    int rc = 0;

    tb_buf_init(&clean, ROW_CAP);
    if (!tb_utf8_valid(s, n)) {
        rc = tb_utf8_clean(&clean, s, n, TB_UTF8_FFFD);
        s = clean.data;
        n = clean.len;
    }
    for (i = 0; rc == 0 && i < n; i++) {
        const char *esc = s[i] == '\\'   ? "\\\\"
                          : s[i] == '\n' ? "\\n"
                          : s[i] == '\r' ? "\\r"
                          : s[i] == '\t' ? "\\t"
                                         : NULL;

        if (esc == NULL)
            continue;
        rc = tb_buf_add(b, s + from, i - from);
        if (rc == 0)
            rc = tb_buf_adds(b, esc);
        from = i + 1;
    }
    if (rc == 0)
        rc = tb_buf_add(b, s + from, n - from);
    tb_buf_free(&clean);
    return rc;
}

/* Appends column i of the SQLite row to a COPY text-format row. */
static int add_value(struct tb_buf *b, sqlite3_stmt *st, int i)
{
    const unsigned char *p;
    int n, j, rc = 0;

    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        return tb_buf_adds(b, "\\N");
    case SQLITE_INTEGER:
        return tb_buf_addf(b, "%lld", (long long)sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return tb_buf_addf(b, "%.17g", sqlite3_column_double(st, i));
    case SQLITE_BLOB:
        p = sqlite3_column_blob(st, i);
        n = sqlite3_column_bytes(st, i);
        rc = tb_buf_adds(b, "\\\\x");
        for (j = 0; rc == 0 && j < n; j++)
            rc = tb_buf_addf(b, "%02x", p[j]);
        return rc;
    default:
        p = sqlite3_column_text(st, i);
        n = sqlite3_column_bytes(st, i);
        return p != NULL ? add_text(b, (const char *)p, (size_t)n) : -ENOMEM;
    }
}

/* Sends b to the COPY in progress and empties it. */
static int send_copy(PGconn *pg, struct tb_buf *b, const char *table, char *err, size_t errlen)
{
    if (b->len > 0 && PQputCopyData(pg, b->data, (int)b->len) != 1) {
        snprintf(err, errlen, "%s: %s", table, PQerrorMessage(pg));
        return TB_EDB_LOST;
    }
    tb_buf_reset(b);
    return 0;
}

/* Copies table t's rows from SQLite into PostgreSQL by COPY; *rows counts them. */
static int copy_table(sqlite3 *db, PGconn *pg, const struct table *t, int64_t *rows, char *err,
                      size_t errlen)
{
    struct tb_buf sql, row;
    sqlite3_stmt *st = NULL;
    PGresult *res;
    size_t i;
    int rc, step;

    *rows = 0;
    tb_buf_init(&sql, 64 * 1024);
    tb_buf_init(&row, ROW_CAP);
    rc = tb_buf_adds(&sql, "SELECT ");
    rc = rc ? rc : add_cols(&sql, t);
    rc = rc ? rc : tb_buf_addf(&sql, " FROM \"%s\"", t->name);
    if (rc == 0 && sqlite3_prepare_v2(db, sql.data, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", t->name, sqlite3_errmsg(db));
        rc = TB_ESTORE;
    }
    tb_buf_reset(&sql);
    rc = rc ? rc : tb_buf_addf(&sql, "COPY \"%s\" (", t->name);
    rc = rc ? rc : add_cols(&sql, t);
    rc = rc ? rc : tb_buf_adds(&sql, ") FROM STDIN");
    if (rc == 0) {
        res = PQexec(pg, sql.data);
        if (PQresultStatus(res) != PGRES_COPY_IN) {
            snprintf(err, errlen, "%s: %s", t->name, PQerrorMessage(pg));
            rc = TB_ESTORE;
        }
        PQclear(res);
    }
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        for (i = 0; rc == 0 && i < t->ncols; i++) {
            if (i > 0)
                rc = tb_buf_add(&row, "\t", 1);
            rc = rc ? rc : add_value(&row, st, (int)i);
        }
        rc = rc ? rc : tb_buf_add(&row, "\n", 1);
        (*rows)++;
        if (rc == 0 && row.len >= COPY_CHUNK)
            rc = send_copy(pg, &row, t->name, err, errlen);
    }
    if (rc == 0 && step != SQLITE_DONE) {
        snprintf(err, errlen, "%s: %s", t->name, sqlite3_errmsg(db));
        rc = TB_ESTORE;
    }
    if (rc == 0)
        rc = send_copy(pg, &row, t->name, err, errlen);
    /* Ends the COPY (abandoned on an error), so the connection is usable. */
    if (st != NULL && PQputCopyEnd(pg, rc ? "tributary migrate failed" : NULL) == 1) {
        while ((res = PQgetResult(pg)) != NULL) {
            if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
                snprintf(err, errlen, "%s: %s", t->name, PQresultErrorMessage(res));
                rc = TB_ESTORE;
            }
            PQclear(res);
        }
    }
    if (rc == -ENOMEM || rc == TB_ETOOBIG)
        snprintf(err, errlen, "%s: %s", t->name, tb_strerror(rc));
    sqlite3_finalize(st);
    tb_buf_free(&sql);
    tb_buf_free(&row);
    return rc;
}

/* Moves t's identity sequence past its highest id. */
static int bump_identity(struct tb_db *dst, const struct table *t, char *err, size_t errlen)
{
    char sql[512];

    if (t->identity < 0)
        return 0;
    snprintf(sql, sizeof(sql),
             "SELECT setval(pg_get_serial_sequence('\"%s\"', '%s'), max(\"%s\")) FROM \"%s\""
             " HAVING max(\"%s\") IS NOT NULL",
             t->name, t->cols[t->identity], t->cols[t->identity], t->name, t->cols[t->identity]);
    return tb_db_exec(dst, sql, err, errlen);
}

/* Tables the schema itself fills (mail_totals' two counters): the copy
 * replaces their rows. */
static int seeded(const char *table)
{
    return strcmp(table, "mail_totals") == 0;
}

/* 0 when PostgreSQL's tables t[0..n) hold no row but the schema's own;
 * else -EEXIST. */
static int check_empty(struct tb_db *dst, const struct table *t, size_t n, char *err, size_t errlen)
{
    char sql[300];
    int64_t any = 0;
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < n && !any; i++) {
        if (seeded(t[i].name))
            continue;
        snprintf(sql, sizeof(sql), "SELECT EXISTS (SELECT 1 FROM \"%s\")", t[i].name);
        rc = tb_db_scalar(dst, &any, err, errlen, sql, "");
        if (rc == 0 && any) {
            snprintf(err, errlen,
                     "the PostgreSQL database is not empty (table %s has rows): migrate copies "
                     "into a new database only",
                     t[i].name);
            rc = -EEXIST;
        }
    }
    return rc;
}

int tb_store_migrate_to(struct tb_store *from, struct tb_store *to,
                        void (*progress)(void *data, const char *table, int64_t rows), void *data,
                        char *err, size_t errlen)
{
    struct tb_db *src = tb_store_sql(from), *dst = tb_store_sql(to);
    sqlite3 *db = tb_db_sqlite(src);
    PGconn *pg = (PGconn *)tb_db_pg(dst);
    struct table *t = NULL;
    size_t n = 0, i;
    int64_t rows;
    int rc, has;

    if (db == NULL || pg == NULL) {
        snprintf(err, errlen, "migrate copies a SQLite database into PostgreSQL");
        return -EINVAL;
    }
    rc = pg_tables(dst, &t, &n, err, errlen);
    if (rc == 0)
        rc = check_empty(dst, t, n, err, errlen);
    if (rc == 0)
        rc = sqlite_extra(db, t, n, err, errlen);
    /* One read transaction: every table as of one moment, even beside a
     * daemon still writing the file. */
    if (rc == 0 && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        rc = TB_ESTORE;
    }
    /* One transaction: a failure (or a kill) leaves the target empty. */
    if (rc == 0)
        rc = tb_db_begin(dst, TB_DB_IMMEDIATE, err, errlen);
    for (i = 0; rc == 0 && i < n; i++) {
        has = sqlite_has(db, &t[i], err, errlen);
        if (has < 0)
            rc = has;
        if (has == 1 && seeded(t[i].name)) {
            char sql[300];

            snprintf(sql, sizeof(sql), "DELETE FROM \"%s\"", t[i].name);
            rc = tb_db_exec(dst, sql, err, errlen);
        }
        if (has == 1 && rc == 0)
            rc = copy_table(db, pg, &t[i], &rows, err, errlen);
        if (has == 1 && rc == 0)
            rc = bump_identity(dst, &t[i], err, errlen);
        if (rc == 0 && progress != NULL)
            progress(data, t[i].name, has == 1 ? rows : -1);
    }
    if (rc == 0)
        rc = tb_db_commit(dst, err, errlen);
    else if (tb_db_in_txn(dst))
        tb_db_rollback(dst);
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    tables_free(t, n);
    return rc;
}
