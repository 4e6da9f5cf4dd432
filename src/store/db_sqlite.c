/*
 * tb_db's SQLite driver: a thin layer over the sqlite3 calls, which the API
 * copies. Statements are compiled by sqlite3_prepare_v3 as they come (the
 * store caches the ones it reuses); busy and locked map to TB_EDB_RETRY,
 * unique and primary key violations to TB_EDB_CONSTRAINT.
 */
#include "db_int.h"

#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_MAX 16 /* transaction-control statements kept compiled */

/* A compiled BEGIN, COMMIT, SAVEPOINT tb_N ...: a batch of 5,000 feeds
 * runs two of them per feed, and compiling each anew (sqlite3_exec) was
 * a few percent of storing a feed. */
struct sq_ctl {
    char sql[40];    /* its text */
    sqlite3_stmt *h; /* compiled */
};

struct sq_db {
    struct tb_db base;          /* common head */
    sqlite3 *h;                 /* the connection */
    int borrowed;               /* tb_db_wrap_sqlite: h is the caller's, not closed here */
    struct sq_ctl ctl[CTL_MAX]; /* compiled control statements */
    int nctl;                   /* slots of ctl used */
};

struct sq_stmt {
    struct tb_db_stmt base; /* common head */
    sqlite3_stmt *h;        /* the compiled statement */
    int rowid;              /* RETURNING id answered from the rowid (see returning_rowid) */
    int state;              /* with rowid: 0 not run, 1 on its row, 2 done */
    int64_t id;             /* with rowid: the inserted row's id */
    char text[24];          /* with rowid: id as text, for tb_db_column_text */
};

static sqlite3 *handle(struct tb_db *db)
{
    return ((struct sq_db *)db)->h;
}

static sqlite3_stmt *stmt(struct tb_db_stmt *st)
{
    return ((struct sq_stmt *)st)->h;
}

/* The tb_db code for SQLite's rc, with its message recorded. */
static int fail(struct tb_db *db, int rc)
{
    int code = TB_ESTORE;
    int ext = sqlite3_extended_errcode(handle(db));

    if (rc == SQLITE_NOMEM)
        code = -ENOMEM;
    else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        code = TB_EDB_RETRY;
    else if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        code = TB_EDB_CONSTRAINT;
    return tb__db_fail(db, code, "%s", sqlite3_errmsg(handle(db)));
}

static int sq_open(struct tb_db **out, const char *path, int flags, char *err, size_t errlen)
{
    struct sq_db *d = calloc(1, sizeof(*d));
    int rc;

    if (d == NULL)
        return -ENOMEM;
    d->base.ops = &tb__db_sqlite;
    rc = sqlite3_open_v2(path, &d->h,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             ((flags & TB_DB_PRIVATE) ? SQLITE_OPEN_NOMUTEX : 0),
                         NULL);
    if (rc != SQLITE_OK) {
        rc = d->h ? fail(&d->base, rc) : -ENOMEM;
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: %s", path, d->base.msg);
        sqlite3_close(d->h);
        free(d);
        return rc;
    }
    sqlite3_extended_result_codes(d->h, 1);
    *out = &d->base;
    return 0;
}

static void sq_close(struct tb_db *db)
{
    struct sq_db *d = (struct sq_db *)db;
    int i;

    /* Before the handle closes, and also for a borrowed one, whose owner
     * could not close it with statements still open. */
    for (i = 0; i < d->nctl; i++)
        sqlite3_finalize(d->ctl[i].h);
    if (!d->borrowed)
        sqlite3_close(handle(db));
    free(db);
}

static int sq_busy_timeout(struct tb_db *db, int ms)
{
    int rc = sqlite3_busy_timeout(handle(db), ms);

    return rc == SQLITE_OK ? 0 : fail(db, rc);
}

/* Whether id is table's rowid: an INTEGER PRIMARY KEY of a rowid table. */
static int is_rowid(sqlite3 *h, const char *table, const char *id)
{
    const char *type = NULL;
    sqlite3_stmt *q = NULL;
    char sql[160];
    int pk = 0, ok;

    if (sqlite3_table_column_metadata(h, NULL, table, id, &type, NULL, NULL, &pk, NULL) !=
            SQLITE_OK ||
        !pk || type == NULL || sqlite3_stricmp(type, "INTEGER") != 0)
        return 0;
    /* A WITHOUT ROWID table has no rowid to select. */
    snprintf(sql, sizeof(sql), "SELECT rowid FROM \"%s\"", table);
    ok = sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK;
    sqlite3_finalize(q);
    return ok;
}

/*
 * SQLite runs RETURNING through a buffer of the returned rows, which cost
 * a fifth of storing an entry. A one-row INSERT ... VALUES ... [ON CONFLICT
 * ... DO NOTHING] RETURNING id, where id is the table's rowid, returns
 * nothing but the rowid SQLite hands out anyway: such a statement runs
 * without its RETURNING, and its one row (none when nothing was inserted)
 * comes from sqlite3_last_insert_rowid. Its length without the clause
 * into *n, or 0 for any other statement.
 */
static size_t returning_rowid(sqlite3 *h, const char *sql, size_t *n)
{
    static const char tail[] = " RETURNING id";
    size_t len = strlen(sql), t = sizeof(tail) - 1, i;
    char table[64];

    *n = 0;
    if (len <= t || sqlite3_strnicmp(sql, "INSERT INTO ", 12) != 0 ||
        sqlite3_stricmp(sql + len - t, tail) != 0 || strstr(sql, " SELECT ") != NULL ||
        strstr(sql, "DO UPDATE") != NULL || strstr(sql, "),(") != NULL ||
        strstr(sql, "), (") != NULL)
        return 0;
    for (i = 0;
         i + 1 < sizeof(table) && (isalnum((unsigned char)sql[12 + i]) || sql[12 + i] == '_'); i++)
        table[i] = sql[12 + i];
    table[i] = '\0';
    if (i == 0 || !is_rowid(h, table, "id"))
        return 0;
    *n = len - t;
    return *n;
}

static int sq_prepare(struct tb_db *db, const char *sql, int nparams, struct tb_db_stmt **out)
{
    struct sq_stmt *s = calloc(1, sizeof(*s));
    const char *tail = NULL;
    size_t n = 0;
    int rc;

    if (s == NULL)
        return -ENOMEM;
    s->rowid = returning_rowid(handle(db), sql, &n) > 0;
    rc = sqlite3_prepare_v3(handle(db), sql, s->rowid ? (int)n : -1, SQLITE_PREPARE_PERSISTENT,
                            &s->h, &tail);
    if (rc == SQLITE_OK && s->h == NULL)
        rc = tb__db_fail(db, -EINVAL, "empty SQL statement");
    else if (rc != SQLITE_OK)
        rc = fail(db, rc);
    if (rc != 0) {
        sqlite3_finalize(s->h);
        free(s);
        return rc;
    }
    s->base.db = db;
    s->base.nparams = sqlite3_bind_parameter_count(s->h);
    (void)nparams;
    *out = &s->base;
    return 0;
}

static int sq_bind(struct tb_db_stmt *st, int i, int type, const void *p, size_t n, int64_t iv,
                   double dv)
{
    sqlite3_stmt *h = stmt(st);
    int rc;

    switch (type) {
    case TB__DB_INT:
        rc = sqlite3_bind_int64(h, i, iv);
        break;
    case TB__DB_DOUBLE:
        rc = sqlite3_bind_double(h, i, dv);
        break;
    case TB__DB_TEXT:
        rc = sqlite3_bind_text64(h, i, p, n, SQLITE_STATIC, SQLITE_UTF8);
        break;
    case TB__DB_BLOB:
        /* A NULL pointer would bind NULL: an empty blob needs an address. */
        rc = sqlite3_bind_blob64(h, i, n ? p : (const void *)"", n, SQLITE_STATIC);
        break;
    default:
        rc = sqlite3_bind_null(h, i);
    }
    return rc == SQLITE_OK ? 0 : rc == SQLITE_RANGE ? -ERANGE : fail(st->db, rc);
}

/* The step of a statement whose RETURNING id comes from the rowid. */
static int rowid_step(struct sq_stmt *s)
{
    sqlite3 *h = handle(s->base.db);
    int64_t before;
    int rc;

    if (s->state != 0) {
        s->state = 2;
        return TB_DB_DONE;
    }
    before = sqlite3_total_changes64(h);
    rc = sqlite3_step(s->h);
    if (rc != SQLITE_DONE)
        return fail(s->base.db, rc);
    s->state = 2;
    if (sqlite3_total_changes64(h) == before)
        return TB_DB_DONE; /* nothing inserted (DO NOTHING) */
    s->id = sqlite3_last_insert_rowid(h);
    snprintf(s->text, sizeof(s->text), "%lld", (long long)s->id);
    s->state = 1;
    return TB_DB_ROW;
}

static int sq_step(struct tb_db_stmt *st)
{
    int rc;

    if (((struct sq_stmt *)st)->rowid)
        return rowid_step((struct sq_stmt *)st);
    rc = sqlite3_step(stmt(st));

    if (rc == SQLITE_ROW)
        return TB_DB_ROW;
    if (rc == SQLITE_DONE)
        return TB_DB_DONE;
    return fail(st->db, rc);
}

/* The row of a rowid statement on its row: its column i is the id. */
static struct sq_stmt *rowid_row(struct tb_db_stmt *st, int i)
{
    struct sq_stmt *s = (struct sq_stmt *)st;

    return s->rowid && s->state == 1 && i == 0 ? s : NULL;
}

static int sq_column_count(struct tb_db_stmt *st)
{
    struct sq_stmt *s = (struct sq_stmt *)st;

    if (s->rowid)
        return s->state == 1;
    return sqlite3_data_count(stmt(st));
}

static int sq_column_is_null(struct tb_db_stmt *st, int i)
{
    if (((struct sq_stmt *)st)->rowid)
        return rowid_row(st, i) == NULL;
    return sqlite3_column_type(stmt(st), i) == SQLITE_NULL;
}

static int64_t sq_column_int64(struct tb_db_stmt *st, int i)
{
    if (((struct sq_stmt *)st)->rowid)
        return rowid_row(st, i) ? rowid_row(st, i)->id : 0;
    return sqlite3_column_int64(stmt(st), i);
}

static double sq_column_double(struct tb_db_stmt *st, int i)
{
    if (((struct sq_stmt *)st)->rowid)
        return (double)sq_column_int64(st, i);
    return sqlite3_column_double(stmt(st), i);
}

static const char *sq_column_text(struct tb_db_stmt *st, int i)
{
    if (((struct sq_stmt *)st)->rowid)
        return rowid_row(st, i) ? rowid_row(st, i)->text : NULL;
    return (const char *)sqlite3_column_text(stmt(st), i);
}

static const void *sq_column_blob(struct tb_db_stmt *st, int i, size_t *n)
{
    const void *p;

    if (((struct sq_stmt *)st)->rowid) {
        p = sq_column_text(st, i);
        *n = p ? strlen(p) : 0;
        return p;
    }
    p = sqlite3_column_blob(stmt(st), i);
    *n = (size_t)sqlite3_column_bytes(stmt(st), i);
    return p;
}

static void sq_reset(struct tb_db_stmt *st)
{
    ((struct sq_stmt *)st)->state = 0;
    sqlite3_reset(stmt(st));
    sqlite3_clear_bindings(stmt(st));
}

static void sq_finalize(struct tb_db_stmt *st)
{
    sqlite3_finalize(stmt(st));
    free(st);
}

static int sq_exec(struct tb_db *db, const char *sql)
{
    int rc = sqlite3_exec(handle(db), sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : fail(db, rc);
}

/* Runs a transaction-control statement through its compiled copy,
 * compiling it at its first use (short texts only; others run by exec). */
static int sq_control(struct tb_db *db, const char *sql)
{
    struct sq_db *d = (struct sq_db *)db;
    sqlite3_stmt *h = NULL;
    int i, rc;

    for (i = 0; i < d->nctl && h == NULL; i++) {
        if (strcmp(d->ctl[i].sql, sql) == 0)
            h = d->ctl[i].h;
    }
    if (h == NULL && (d->nctl == CTL_MAX || strlen(sql) >= sizeof(d->ctl[0].sql)))
        return sq_exec(db, sql);
    if (h == NULL) {
        rc = sqlite3_prepare_v3(d->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &h, NULL);
        if (rc != SQLITE_OK)
            return fail(db, rc);
        snprintf(d->ctl[d->nctl].sql, sizeof(d->ctl[0].sql), "%s", sql);
        d->ctl[d->nctl++].h = h;
    }
    rc = sqlite3_step(h);
    /* Recorded before the reset, which would repeat the error code. */
    rc = rc == SQLITE_DONE ? 0 : fail(db, rc);
    sqlite3_reset(h);
    return rc;
}

static int sq_in_txn(struct tb_db *db)
{
    return sqlite3_get_autocommit(handle(db)) ? TB__TXN_NONE : TB__TXN_OPEN;
}

static int64_t sq_changes(struct tb_db *db)
{
    return sqlite3_changes64(handle(db));
}

static int sq_reconnect(struct tb_db *db)
{
    return 0;
}

const struct tb__db_ops tb__db_sqlite = {
    .dialect = TB_DB_SQLITE,
    .open = sq_open,
    .close = sq_close,
    .busy_timeout = sq_busy_timeout,
    .prepare = sq_prepare,
    .bind = sq_bind,
    .step = sq_step,
    .column_count = sq_column_count,
    .column_is_null = sq_column_is_null,
    .column_int64 = sq_column_int64,
    .column_double = sq_column_double,
    .column_text = sq_column_text,
    .column_blob = sq_column_blob,
    .reset = sq_reset,
    .finalize = sq_finalize,
    .exec = sq_exec,
    .control = sq_control,
    .in_txn = sq_in_txn,
    .changes = sq_changes,
    .reconnect = sq_reconnect,
};

struct sqlite3 *tb_db_sqlite(struct tb_db *db)
{
    return db->ops == &tb__db_sqlite ? handle(db) : NULL;
}

int tb_db_wrap_sqlite(struct tb_db **out, struct sqlite3 *h)
{
    struct sq_db *d;

    *out = NULL;
    if (h == NULL)
        return -EINVAL;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -ENOMEM;
    d->base.ops = &tb__db_sqlite;
    d->h = h;
    d->borrowed = 1;
    /* The owner's setting stays as it was for its own calls. */
    *out = &d->base;
    return 0;
}
