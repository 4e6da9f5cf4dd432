/*
 * tb_db's PostgreSQL driver, over libpq's synchronous calls (the store's
 * calls block, as SQLite's do).
 *
 * A statement is prepared on the server at its first run, named and typed
 * by the values bound then, and the name kept in the connection's cache
 * under its SQL and parameter types: the store's statements are a fixed
 * set, each prepared once per connection however often the caller
 * prepares and finalizes it. Values go as text (numbers printed in full
 * precision) or, for blobs, binary; rows come back as text, one result
 * per row (single-row mode), so a scan holds one row at a time. libpq
 * runs one query at a time: a statement that needs the connection while
 * another's rows are still coming first reads those into memory (drain).
 */
#include "db_int.h"
#include "tb_map.h"
#include "tb_utf8.h"
#include "tb_vec.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX 4096 /* named statements per connection before they are all dropped */
#define BOOLOID 16
#define BYTEAOID 17
#define INT8OID 20
#define TEXTOID 25
#define FLOAT8OID 701

/* A statement's state. */
enum { IDLE, STREAM, BUFFERED, DONE };

/* A bound value: text in p (borrowed, or num) or, for a blob, binary. */
struct param {
    int type;      /* TB__DB_* */
    const char *p; /* the value as sent, NULL for NULL */
    int len;       /* its bytes (blobs) */
    char num[32];  /* a number printed */
    char *fixed;   /* text that was not UTF-8, repaired (malloc'd), or NULL */
};

/* A server-side statement: its name and the key it is cached under. */
struct named {
    char name[16]; /* "tb<n>" */
    size_t len;    /* bytes of key */
    char key[];    /* SQL, NUL, one type letter per parameter */
};

/* A bytea column decoded (PQunescapeBytea). */
struct blob {
    unsigned char *p; /* the bytes, or NULL before decoding */
    size_t n;         /* their number */
};

struct pg_stmt;

struct pg_db {
    struct tb_db base;      /* common head */
    PGconn *conn;           /* the connection */
    struct tb_map cache;    /* key -> struct named */
    unsigned names;         /* statements named so far */
    struct pg_stmt *active; /* the statement whose rows are coming, or NULL */
    int64_t changes;        /* rows the last statement changed */
    char *target;           /* the URI it was opened with (tb_db_renew_start) */
    int busy_ms;            /* the lock_timeout last set, or -1: none (set again on a renewal) */
};

struct pg_stmt {
    struct tb_db_stmt base;  /* common head */
    char *sql;               /* rewritten with $N */
    struct param *params;    /* nparams of them */
    const char **values;     /* for PQsendQueryPrepared */
    int *lengths, *formats;  /* for PQsendQueryPrepared */
    int state;               /* IDLE, STREAM, BUFFERED, DONE */
    PGresult *row;           /* the current row, or NULL */
    PGresult **buf;          /* BUFFERED: the results read ahead */
    size_t nbuf, abuf, ibuf; /* their number, allocated, next to return */
    Oid *types;              /* the parameters' types when last sent */
    struct blob *blobs;      /* the current row's decoded bytea columns, or NULL */
};

static struct pg_db *pgdb(struct tb_db *db)
{
    return (struct pg_db *)db;
}

static struct pg_stmt *pgst(struct tb_db_stmt *st)
{
    return (struct pg_stmt *)st;
}

/* The tb_db code for a failed result (or, res NULL, the connection), with
 * the server's message recorded. */
static int fail(struct pg_db *d, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(d->conn);
    size_t n = strlen(msg);
    int code = TB_ESTORE;

    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    if (PQstatus(d->conn) == CONNECTION_BAD)
        code = TB_EDB_LOST;
    else if (state == NULL)
        code = TB_ESTORE;
    else if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
        code = TB_EDB_RETRY;
    else if (!strcmp(state, "23505"))
        code = TB_EDB_CONSTRAINT;
    else if (!strncmp(state, "08", 2) || !strcmp(state, "57P01") || !strcmp(state, "57P02") ||
             !strcmp(state, "57P03"))
        code = TB_EDB_LOST;
    return tb__db_fail(&d->base, code, "%.*s%s%s", (int)n, n ? msg : "no answer from the server",
                       state ? " SQLSTATE " : "", state ? state : "");
}

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* NOTICEs ("there is no transaction in progress") are not errors */
}

/* Refuses a URI that carries a password: the config file would hold it. */
static int check_target(const char *target, char *err, size_t errlen)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(target, &msg), *o;
    int rc = 0;

    if (opts == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s", msg ? msg : "out of memory");
        rc = msg ? -EINVAL : -ENOMEM;
    }
    for (o = opts; rc == 0 && o->keyword != NULL; o++) {
        if (!strcmp(o->keyword, "password") && o->val != NULL && *o->val != '\0') {
            if (err != NULL && errlen > 0)
                snprintf(err, errlen, "a password in the database URI: use ~/.pgpass instead");
            rc = -EINVAL;
        }
    }
    PQfreemem(msg);
    PQconninfoFree(opts);
    return rc;
}

/* Settings of a new (or renewed) connection. */
static int setup(struct pg_db *d)
{
    if (PQstatus(d->conn) != CONNECTION_OK)
        return fail(d, NULL);
    PQsetNoticeProcessor(d->conn, quiet, NULL);
    if (PQsetClientEncoding(d->conn, "UTF8") != 0)
        return fail(d, NULL);
    return 0;
}

static int pg_open(struct tb_db **out, const char *target, int flags, char *err, size_t errlen)
{
    struct pg_db *d;
    int rc = check_target(target, err, errlen);

    if (rc != 0)
        return rc;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -ENOMEM;
    d->base.ops = &tb__db_pg;
    d->busy_ms = -1;
    tb_map_init(&d->cache, CACHE_MAX);
    d->target = strdup(target);
    d->conn = d->target ? PQconnectdb(target) : NULL;
    rc = d->conn ? setup(d) : -ENOMEM;
    if (rc != 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s", d->conn ? d->base.msg : "out of memory");
        tb_db_close(&d->base);
        return rc;
    }
    *out = &d->base;
    return 0;
}

/* Forgets the server's statements (after a reconnect, or a full cache). */
static void forget(struct pg_db *d)
{
    const struct tb_map_slot *sl;
    size_t pos = 0;

    while ((sl = tb_map_next(&d->cache, &pos)) != NULL)
        free(sl->value);
    tb_map_free(&d->cache);
    tb_map_init(&d->cache, CACHE_MAX);
}

static void pg_close(struct tb_db *db)
{
    struct pg_db *d = pgdb(db);

    forget(d);
    tb_map_free(&d->cache);
    PQfinish(d->conn);
    free(d->target);
    free(d);
}

static int pg_exec(struct tb_db *db, const char *sql);

static int pg_busy_timeout(struct tb_db *db, int ms)
{
    char sql[64];

    snprintf(sql, sizeof(sql), "SET lock_timeout = %d", ms);
    pgdb(db)->busy_ms = ms;
    return pg_exec(db, sql);
}

static int pg_prepare(struct tb_db *db, const char *sql, int nparams, struct tb_db_stmt **out)
{
    struct pg_stmt *s = calloc(1, sizeof(*s));
    size_t n = nparams > 0 ? (size_t)nparams : 1;

    if (s != NULL) {
        s->sql = strdup(sql);
        s->params = calloc(n, sizeof(*s->params));
        s->values = calloc(n, sizeof(*s->values));
        s->lengths = calloc(n, sizeof(*s->lengths));
        s->formats = calloc(n, sizeof(*s->formats));
        s->types = calloc(n, sizeof(*s->types));
    }
    if (s == NULL || !s->sql || !s->params || !s->values || !s->lengths || !s->formats ||
        !s->types) {
        if (s != NULL) {
            free(s->types);
            free(s->sql);
            free(s->params);
            free(s->values);
            free(s->lengths);
            free(s->formats);
        }
        free(s);
        return tb__db_fail(db, -ENOMEM, "out of memory");
    }
    s->base.db = db;
    s->base.nparams = nparams;
    *out = &s->base;
    return 0;
}

static int pg_bind(struct tb_db_stmt *st, int i, int type, const void *p, size_t n, int64_t iv,
                   double dv)
{
    struct param *v = &pgst(st)->params[i - 1];

    struct tb_buf b;

    if (n > INT32_MAX)
        return TB_ETOOBIG;
    free(v->fixed);
    v->fixed = NULL;
    v->type = type;
    v->p = p;
    v->len = (int)n;
    /* PostgreSQL refuses text that is not UTF-8 (SQLite keeps the bytes):
     * each invalid byte becomes U+FFFD, as the parser does with a feed's. */
    if (type == TB__DB_TEXT && p != NULL && !tb_utf8_valid(p, strlen(p))) {
        tb_buf_init(&b, (size_t)INT32_MAX);
        if (tb_utf8_clean(&b, p, strlen(p), TB_UTF8_FFFD) != 0)
            return -ENOMEM; /* b freed */
        if (tb_buf_add(&b, "", 1) != 0) {
            tb_buf_free(&b);
            return -ENOMEM;
        }
        v->fixed = b.data;
        v->p = v->fixed;
    }
    if (type == TB__DB_INT) {
        snprintf(v->num, sizeof(v->num), "%" PRId64, iv);
        v->p = v->num;
    } else if (type == TB__DB_DOUBLE) {
        snprintf(v->num, sizeof(v->num), "%.17g", dv);
        v->p = v->num;
    }
    return 0;
}

/* Frees the current row and its decoded blobs. */
static void drop_row(struct pg_stmt *s)
{
    int i, n = s->row ? PQnfields(s->row) : 0;

    for (i = 0; s->blobs != NULL && i < n; i++)
        PQfreemem(s->blobs[i].p);
    free(s->blobs);
    s->blobs = NULL;
    PQclear(s->row);
    s->row = NULL;
}

/* Reads the active statement's remaining results into its memory, so that
 * the connection is free for another query. */
static int drain(struct pg_db *d)
{
    struct pg_stmt *s = d->active;
    PGresult *res;
    int rc = 0;

    d->active = NULL;
    s->state = BUFFERED;
    s->nbuf = s->ibuf = 0;
    while ((res = PQgetResult(d->conn)) != NULL) {
        if (rc == 0 && s->nbuf == s->abuf)
            rc = TB_VEC_RESERVE(s->buf, s->abuf, s->nbuf + 1, TB_VEC_MAX);
        if (rc == 0)
            s->buf[s->nbuf++] = res;
        else
            PQclear(res);
    }
    return rc;
}

/* Reads and drops the active statement's remaining results. */
static void discard(struct pg_db *d)
{
    PGresult *res;

    while ((res = PQgetResult(d->conn)) != NULL)
        PQclear(res);
    d->active->state = DONE;
    d->active = NULL;
}

/* Frees the connection for a new query: an unfinished scan is drained. */
static int settle(struct pg_db *d)
{
    if (d->active == NULL)
        return 0;
    if (drain(d) != 0)
        return tb__db_fail(&d->base, -ENOMEM, "out of memory reading rows ahead");
    return 0;
}

/* The server-side name of s with its bound types, preparing it once. */
/* Whether sql (rewritten: $N parameters) reads parameter n. */
static int mentions(const char *sql, size_t n)
{
    const char *p = sql;
    char *end;

    while ((p = strchr(p, '$')) != NULL) {
        p++;
        if (*p >= '0' && *p <= '9' && strtoul(p, &end, 10) == n)
            return 1;
    }
    return 0;
}

static int named(struct pg_db *d, struct pg_stmt *s, const char **name)
{
    static const char letter[] = {'n', 'i', 'd', 't', 'b'};
    static const Oid oid[] = {0, INT8OID, FLOAT8OID, TEXTOID, BYTEAOID};
    size_t sqllen = strlen(s->sql), n = (size_t)s->base.nparams, i;
    struct named *e = malloc(sizeof(*e) + sqllen + 1 + n);
    Oid *types = s->types;
    PGresult *res;
    int rc;

    if (e == NULL)
        return tb__db_fail(&d->base, -ENOMEM, "out of memory");
    memcpy(e->key, s->sql, sqllen + 1);
    for (i = 0; i < n; i++) {
        e->key[sqllen + 1 + i] = letter[s->params[i].type];
        types[i] = oid[s->params[i].type];
        /* A NULL the SQL never reads (one statement's binder shared by
         * two, as SQLite allows) has no type PostgreSQL could infer. */
        if (types[i] == 0 && !mentions(s->sql, i + 1))
            types[i] = TEXTOID;
    }
    e->len = sqllen + 1 + n;
    *name = NULL;
    if (tb_map_get(&d->cache, e->key, e->len) != NULL) {
        *name = ((struct named *)tb_map_get(&d->cache, e->key, e->len))->name;
        free(e);
        return 0;
    }
    if (d->cache.n >= CACHE_MAX) {
        (void)pg_exec(&d->base, "DEALLOCATE ALL");
        forget(d);
    }
    snprintf(e->name, sizeof(e->name), "tb%u", ++d->names);
    res = PQprepare(d->conn, e->name, s->sql, (int)n, types);
    rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : fail(d, res);
    PQclear(res);
    if (rc == 0 && tb_map_put(&d->cache, e->key, e->len, e) != 0)
        rc = tb__db_fail(&d->base, -ENOMEM, "out of memory");
    if (rc != 0) {
        free(e);
        return rc;
    }
    *name = e->name;
    return 0;
}

/* Sends s with its values and switches to one result per row. */
static int start(struct pg_db *d, struct pg_stmt *s)
{
    const char *name = NULL;
    int i, rc = settle(d);

    if (rc == 0 && PQstatus(d->conn) == CONNECTION_BAD)
        rc = fail(d, NULL);
    if (rc == 0)
        rc = named(d, s, &name);
    if (rc != 0)
        return rc;
    for (i = 0; i < s->base.nparams; i++) {
        s->values[i] = s->params[i].p;
        s->lengths[i] = s->params[i].len;
        s->formats[i] = s->params[i].type == TB__DB_BLOB;
    }
    if (!PQsendQueryPrepared(d->conn, name, s->base.nparams, s->values, s->lengths, s->formats, 0))
        return fail(d, NULL);
    (void)PQsetSingleRowMode(d->conn);
    s->state = STREAM;
    d->active = s;
    return 0;
}

/* The statement's next result: read ahead, or from the connection. */
static PGresult *next_result(struct pg_db *d, struct pg_stmt *s)
{
    if (s->state == BUFFERED)
        return s->ibuf < s->nbuf ? s->buf[s->ibuf++] : NULL;
    return PQgetResult(d->conn);
}

/* After the statement's last result: the connection is free again. */
static void finish(struct pg_db *d, struct pg_stmt *s)
{
    size_t i;

    if (s->state == STREAM)
        discard(d);
    for (i = s->ibuf; i < s->nbuf; i++)
        PQclear(s->buf[i]);
    free(s->buf);
    s->buf = NULL;
    s->nbuf = s->abuf = s->ibuf = 0;
    s->state = DONE;
}

static int pg_step(struct tb_db_stmt *st)
{
    struct pg_db *d = pgdb(st->db);
    struct pg_stmt *s = pgst(st);
    PGresult *res;
    int rc;

    drop_row(s);
    if (s->state == DONE)
        s->state = IDLE; /* stepping past the end runs it again, as in SQLite */
    if (s->state == IDLE) {
        rc = start(d, s);
        if (rc != 0)
            return rc;
    }
    res = next_result(d, s);
    if (PQresultStatus(res) == PGRES_SINGLE_TUPLE) {
        s->row = res;
        return TB_DB_ROW;
    }
    if (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK) {
        d->changes = strtoll(PQcmdTuples(res), NULL, 10);
        rc = TB_DB_DONE;
    } else {
        rc = fail(d, res); /* NULL: the connection failed */
    }
    PQclear(res);
    finish(d, s);
    return rc;
}

static int pg_column_count(struct tb_db_stmt *st)
{
    return pgst(st)->row ? PQnfields(pgst(st)->row) : 0;
}

/* The text of column i of the current row, or NULL (NULL, or no such column). */
static const char *value(struct pg_stmt *s, int i)
{
    if (s->row == NULL || i < 0 || i >= PQnfields(s->row) || PQgetisnull(s->row, 0, i))
        return NULL;
    return PQgetvalue(s->row, 0, i);
}

static int pg_column_is_null(struct tb_db_stmt *st, int i)
{
    return value(pgst(st), i) == NULL;
}

static int64_t pg_column_int64(struct tb_db_stmt *st, int i)
{
    const char *v = value(pgst(st), i);

    if (v == NULL)
        return 0;
    if (PQftype(pgst(st)->row, i) == BOOLOID)
        return *v == 't';
    return strtoll(v, NULL, 10);
}

static double pg_column_double(struct tb_db_stmt *st, int i)
{
    const char *v = value(pgst(st), i);

    if (v == NULL)
        return 0;
    if (PQftype(pgst(st)->row, i) == BOOLOID)
        return *v == 't';
    return strtod(v, NULL);
}

static const char *pg_column_text(struct tb_db_stmt *st, int i)
{
    return value(pgst(st), i);
}

static const void *pg_column_blob(struct tb_db_stmt *st, int i, size_t *n)
{
    struct pg_stmt *s = pgst(st);
    const char *v = value(s, i);
    struct blob *b;

    *n = 0;
    if (v == NULL)
        return NULL;
    if (PQftype(s->row, i) != BYTEAOID) {
        *n = (size_t)PQgetlength(s->row, 0, i);
        return v;
    }
    if (s->blobs == NULL)
        s->blobs = calloc((size_t)PQnfields(s->row), sizeof(*s->blobs));
    if (s->blobs == NULL)
        return NULL;
    b = &s->blobs[i];
    if (b->p == NULL)
        b->p = PQunescapeBytea((const unsigned char *)v, &b->n);
    *n = b->p ? b->n : 0;
    return b->p;
}

static void pg_reset(struct tb_db_stmt *st)
{
    struct pg_stmt *s = pgst(st);
    int i;

    drop_row(s);
    if (s->state != IDLE)
        finish(pgdb(st->db), s);
    s->state = IDLE;
    for (i = 0; i < st->nparams; i++)
        free(s->params[i].fixed);
    memset(s->params, 0, (size_t)(st->nparams > 0 ? st->nparams : 1) * sizeof(*s->params));
}

static void pg_finalize(struct tb_db_stmt *st)
{
    struct pg_stmt *s = pgst(st);

    pg_reset(st);
    free(s->sql);
    free(s->params);
    free(s->values);
    free(s->lengths);
    free(s->formats);
    free(s->types);
    free(s);
}

static int pg_exec(struct tb_db *db, const char *sql)
{
    struct pg_db *d = pgdb(db);
    PGresult *res;
    int rc = settle(d);

    if (rc != 0)
        return rc;
    res = PQexec(d->conn, sql);
    if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK) {
        d->changes = strtoll(PQcmdTuples(res), NULL, 10);
        rc = 0;
    } else {
        rc = fail(d, res);
    }
    PQclear(res);
    return rc;
}

static int pg_in_txn(struct tb_db *db)
{
    struct pg_db *d = pgdb(db);

    if (settle(d) != 0)
        return TB__TXN_FAILED;
    if (PQstatus(d->conn) == CONNECTION_BAD)
        return TB__TXN_GONE;
    switch (PQtransactionStatus(d->conn)) {
    case PQTRANS_INTRANS:
        return TB__TXN_OPEN;
    case PQTRANS_INERROR:
        return TB__TXN_FAILED;
    default:
        return TB__TXN_NONE;
    }
}

static int64_t pg_changes(struct tb_db *db)
{
    return pgdb(db)->changes;
}

static int pg_reconnect(struct tb_db *db)
{
    struct pg_db *d = pgdb(db);
    int rc;

    if (d->active != NULL)
        discard(d);
    forget(d);
    PQreset(d->conn);
    rc = setup(d);
    if (rc == 0 && d->busy_ms >= 0)
        rc = pg_busy_timeout(db, d->busy_ms);
    return rc;
}

const struct tb__db_ops tb__db_pg = {
    .dialect = TB_DB_PG,
    .open = pg_open,
    .close = pg_close,
    .busy_timeout = pg_busy_timeout,
    .prepare = pg_prepare,
    .bind = pg_bind,
    .step = pg_step,
    .column_count = pg_column_count,
    .column_is_null = pg_column_is_null,
    .column_int64 = pg_column_int64,
    .column_double = pg_column_double,
    .column_text = pg_column_text,
    .column_blob = pg_column_blob,
    .reset = pg_reset,
    .finalize = pg_finalize,
    .exec = pg_exec,
    .in_txn = pg_in_txn,
    .changes = pg_changes,
    .reconnect = pg_reconnect,
};

struct pg_conn *tb_db_pg(struct tb_db *db)
{
    return db->ops == &tb__db_pg ? pgdb(db)->conn : NULL;
}

/* ------------------------------------------ connecting again, in steps */

struct tb_db_renew {
    PGconn *conn; /* the connection being made */
    int polled;   /* PQconnectPoll was called since the start */
};

int tb_db_renew_start(struct tb_db *db, struct tb_db_renew **out, char *err, size_t errlen)
{
    /* The encoding goes with the startup packet: PQsetClientEncoding
     * would be a round trip that blocks. */
    static const char *const keys[] = {"dbname", "client_encoding", NULL};
    const char *values[] = {NULL, "UTF8", NULL};
    struct tb_db_renew *r;

    /* db itself is not touched (another thread may be using it). */
    *out = NULL;
    if (db->ops != &tb__db_pg) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "not a PostgreSQL connection");
        return -EINVAL;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    values[0] = pgdb(db)->target;
    r->conn = PQconnectStartParams(keys, values, 1);
    if (r->conn == NULL || PQstatus(r->conn) == CONNECTION_BAD) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s", r->conn ? PQerrorMessage(r->conn) : "out of memory");
        tb_db_renew_cancel(r);
        return TB_EDB_LOST;
    }
    *out = r;
    return 0;
}

int tb_db_renew_poll(struct tb_db_renew *r, int *fd, char *err, size_t errlen)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;

    /* libpq's rule: wait for the socket to be writable before the first
     * PQconnectPoll. */
    if (r->polled)
        st = PQconnectPoll(r->conn);
    r->polled = 1;
    *fd = PQsocket(r->conn);
    switch (st) {
    case PGRES_POLLING_READING:
        return *fd >= 0 ? TB_DB_RENEW_READ : TB_EDB_LOST;
    case PGRES_POLLING_WRITING:
        return *fd >= 0 ? TB_DB_RENEW_WRITE : TB_EDB_LOST;
    case PGRES_POLLING_OK:
        return 0;
    default:
        if (err != NULL && errlen > 0) {
            size_t n;

            snprintf(err, errlen, "%s", PQerrorMessage(r->conn));
            n = strlen(err);
            while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
                err[--n] = '\0';
        }
        return TB_EDB_LOST;
    }
}

int tb_db_renew_finish(struct tb_db *db, struct tb_db_renew *r, char *err, size_t errlen)
{
    struct pg_db *d = pgdb(db);
    int rc = 0;

    if (db->ops != &tb__db_pg || PQstatus(r->conn) != CONNECTION_OK) {
        tb_db_renew_cancel(r);
        return tb__db_renewed(db, tb__db_fail(db, TB_EDB_LOST, "not connected"), err, errlen);
    }
    if (d->active != NULL)
        discard(d);
    forget(d);
    PQfinish(d->conn);
    d->conn = r->conn;
    r->conn = NULL;
    tb_db_renew_cancel(r);
    PQsetNoticeProcessor(d->conn, quiet, NULL);
    /* A session setting is the one round trip left here, on a server that
     * has just answered the whole startup. */
    if (d->busy_ms >= 0)
        rc = pg_busy_timeout(db, d->busy_ms);
    return tb__db_renewed(db, rc, err, errlen);
}

void tb_db_renew_cancel(struct tb_db_renew *r)
{
    if (r == NULL)
        return;
    PQfinish(r->conn);
    free(r);
}
