/*
 * tb_db (include/tb_db.h): one test body run against SQLite (a file in a
 * temporary directory) and PostgreSQL (the server tests/pgserver.py starts
 * and names in TB_TEST_PG; without it the PostgreSQL half is skipped, or
 * fails under CI). Then what only two connections show (busy, lock
 * timeout, serialization failure, deadlock, with threads), and on
 * PostgreSQL the connection lost when the server stops, and regained,
 * also without blocking (tb_db_renew_*: stepped by poll(2) on its socket,
 * the lock timeout set again).
 */
#include "check.h"
#include "tb_db.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROWS 3000 /* rows of the scan test */
#define THREADS 2 /* connections incrementing one counter */
#define INCREMENTS 40

static char err[512];

static struct tb_db *open_db(const char *target)
{
    struct tb_db *db = NULL;
    int rc = tb_db_open(&db, target, 0, err, sizeof(err));

    if (rc != 0) {
        fprintf(stderr, "open %s: %s\n", target, err);
        exit(1);
    }
    return db;
}

static void exec_ok(struct tb_db *db, const char *sql)
{
    int rc = tb_db_exec(db, sql, err, sizeof(err));

    if (rc != 0)
        fprintf(stderr, "exec %s: %s\n", sql, err);
    CHECK_OK(rc);
}

static struct tb_db_stmt *prep(struct tb_db *db, const char *sql)
{
    struct tb_db_stmt *st = NULL;

    if (tb_db_prepare(db, sql, &st, err, sizeof(err)) != 0) {
        fprintf(stderr, "prepare %s: %s\n", sql, err);
        exit(1);
    }
    return st;
}

/* The integer the one-row query sql gives. */
static int64_t scalar(struct tb_db *db, const char *sql)
{
    struct tb_db_stmt *st = prep(db, sql);
    int64_t v = -1;

    if (tb_db_step(st, err, sizeof(err)) == TB_DB_ROW)
        v = tb_db_column_int64(st, 0);
    else
        fprintf(stderr, "%s: %s\n", sql, err);
    tb_db_finalize(st);
    return v;
}

/* Values of every type through bind and the column getters, NULLs, extremes. */
static void test_values(struct tb_db *db)
{
    static const unsigned char bytes[] = {0x00, 0xff, 0x5c, 0x27, 0x01, 0x00};
    const char *utf8 = "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9d\x84\x9e 'quoted' \\x00";
    struct tb_db_stmt *ins, *sel;
    const void *p;
    size_t n;

    exec_ok(db, "CREATE TABLE v(id {id}, i bigint, d double precision, s TEXT, b {blob});"
                "CREATE TABLE w(x bigint)");
    ins = prep(db, "INSERT INTO v(i, d, s, b) VALUES(?1, ?2, ?3, ?4)");
    CHECK_OK(tb_db_bind_int64(ins, 1, INT64_MAX));
    CHECK_OK(tb_db_bind_double(ins, 2, 0.1));
    CHECK_OK(tb_db_bind_text(ins, 3, utf8));
    CHECK_OK(tb_db_bind_blob(ins, 4, bytes, sizeof(bytes)));
    CHECK_EQ(tb_db_bind_int64(ins, 5, 1), -ERANGE);
    CHECK_EQ(tb_db_bind_int64(ins, 0, 1), -ERANGE);
    CHECK_EQ(tb_db_step(ins, err, sizeof(err)), TB_DB_DONE);
    CHECK_EQ(tb_db_changes(db), 1);
    tb_db_reset(ins); /* every parameter NULL again */
    CHECK_OK(tb_db_bind_int64(ins, 1, INT64_MIN));
    CHECK_OK(tb_db_bind_double(ins, 2, -1.5e308));
    CHECK_OK(tb_db_bind_blob(ins, 4, "", 0)); /* empty, not NULL */
    CHECK_EQ(tb_db_step(ins, err, sizeof(err)), TB_DB_DONE);
    tb_db_reset(ins);
    CHECK_EQ(tb_db_step(ins, err, sizeof(err)), TB_DB_DONE); /* all NULL */
    tb_db_finalize(ins);

    sel = prep(db, "SELECT i, d, s, b, id FROM v ORDER BY id");
    CHECK_EQ(tb_db_step(sel, err, sizeof(err)), TB_DB_ROW);
    CHECK_EQ(tb_db_column_count(sel), 5);
    CHECK(tb_db_column_int64(sel, 0) == INT64_MAX);
    CHECK(tb_db_column_double(sel, 1) == 0.1);
    CHECK_STR(tb_db_column_text(sel, 2), utf8);
    p = tb_db_column_blob(sel, 3, &n);
    CHECK(n == sizeof(bytes) && p != NULL && memcmp(p, bytes, n) == 0);
    p = tb_db_column_blob(sel, 3, &n); /* asked again: the same bytes */
    CHECK(n == sizeof(bytes) && p != NULL && memcmp(p, bytes, n) == 0);
    CHECK_EQ(tb_db_column_int64(sel, 4), 1);
    CHECK_EQ(tb_db_step(sel, err, sizeof(err)), TB_DB_ROW);
    CHECK(tb_db_column_int64(sel, 0) == INT64_MIN);
    CHECK(tb_db_column_double(sel, 1) == -1.5e308);
    CHECK(!tb_db_column_is_null(sel, 3));
    (void)tb_db_column_blob(sel, 3, &n);
    CHECK_EQ(n, 0);
    CHECK_EQ(tb_db_step(sel, err, sizeof(err)), TB_DB_ROW);
    CHECK(tb_db_column_is_null(sel, 0) && tb_db_column_is_null(sel, 1));
    CHECK(tb_db_column_is_null(sel, 2) && tb_db_column_is_null(sel, 3));
    CHECK(!tb_db_column_is_null(sel, 4));
    CHECK_EQ(tb_db_column_int64(sel, 0), 0);
    CHECK(tb_db_column_text(sel, 2) == NULL);
    CHECK(tb_db_column_blob(sel, 3, &n) == NULL && n == 0);
    CHECK_EQ(tb_db_step(sel, err, sizeof(err)), TB_DB_DONE);
    tb_db_finalize(sel);
    /* A boolean (PostgreSQL's EXISTS) reads as 1 / 0, as SQLite's integer. */
    CHECK_EQ(scalar(db, "SELECT EXISTS(SELECT 1 FROM v WHERE i IS NULL)"), 1);
    CHECK_EQ(scalar(db, "SELECT 2 > 3"), 0);
}

/* tb_db_query, tb_db_run, tb_db_scalar and their value letters. */
static void test_helpers(struct tb_db *db)
{
    struct tb_db_stmt *st = (struct tb_db_stmt *)1;
    size_t n;
    int64_t v = -1;

    CHECK_OK(tb_db_run(db, err, sizeof(err),
                       "INSERT INTO v(i, d, s, b) VALUES(?1, ?2, ?3, ?4) RETURNING id", "idtb",
                       (int64_t)-7, 2.5, "seven", "\x01\x02", (size_t)2));
    CHECK_OK(tb_db_scalar(db, &v, err, sizeof(err), "SELECT i FROM v WHERE s = ?1 AND d = ?2", "td",
                          "seven", 2.5));
    CHECK_EQ(v, -7);
    CHECK_OK(tb_db_query(db, &st, err, sizeof(err), "SELECT b, s FROM v WHERE i = ?1", "i",
                         (int64_t)-7));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_ROW);
    CHECK(memcmp(tb_db_column_blob(st, 0, &n), "\x01\x02", 2) == 0 && n == 2);
    tb_db_finalize(st);
    CHECK_OK(tb_db_run(db, err, sizeof(err), "DELETE FROM v WHERE i = ?1 OR s = ?2", "it",
                       (int64_t)-7, (const char *)NULL));
    CHECK_EQ(tb_db_changes(db), 1);
    v = 99;
    CHECK_EQ(
        tb_db_scalar(db, &v, err, sizeof(err), "SELECT i FROM v WHERE i = ?1", "i", (int64_t)-7),
        -ENOENT);
    CHECK_EQ(v, 99);
    CHECK_OK(tb_db_scalar(db, &v, err, sizeof(err), "SELECT CAST(?1 AS bigint)", "n"));
    CHECK_EQ(v, 0);
    CHECK_EQ(tb_db_query(db, &st, err, sizeof(err), "SELECT ?1", "x", 1), -EINVAL);
    CHECK(st == NULL && err[0] != '\0');
    CHECK_EQ(tb_db_run(db, err, sizeof(err), "SELECT ?1", "ii", (int64_t)1, (int64_t)2), -ERANGE);
}

/* ?N numbering, reuse and order; what is inside literals and comments untouched. */
static void test_params(struct tb_db *db)
{
    struct tb_db_stmt *st;
    int i;

    st = prep(db, "SELECT ?2, ?1, ?2 || 'x', '?1 {nope} ''?2''', \"i\" FROM (SELECT 1 AS i) t"
                  " -- ?9 {nope}\n /* ?8 {nope} */");
    CHECK_OK(tb_db_bind_text(st, 1, "one"));
    CHECK_OK(tb_db_bind_text(st, 2, "two"));
    CHECK_EQ(tb_db_bind_text(st, 3, "three"), -ERANGE);
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_ROW);
    CHECK_STR(tb_db_column_text(st, 0), "two");
    CHECK_STR(tb_db_column_text(st, 1), "one");
    CHECK_STR(tb_db_column_text(st, 2), "twox");
    CHECK_STR(tb_db_column_text(st, 3), "?1 {nope} '?2'");
    CHECK_EQ(tb_db_column_int64(st, 4), 1);
    tb_db_finalize(st);

    /* A bare ? is the highest number so far plus one, as in SQLite. */
    st = prep(db, "SELECT ?, ?5, ?");
    CHECK_OK(tb_db_bind_int64(st, 1, 10));
    CHECK_OK(tb_db_bind_int64(st, 5, 50));
    CHECK_OK(tb_db_bind_int64(st, 6, 60));
    for (i = 2; i <= 4; i++) /* unused, but PostgreSQL wants their types */
        CHECK_OK(tb_db_bind_int64(st, i, 0));
    CHECK_EQ(tb_db_bind_int64(st, 7, 70), -ERANGE);
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_ROW);
    CHECK_EQ(tb_db_column_int64(st, 0), 10);
    CHECK_EQ(tb_db_column_int64(st, 1), 50);
    CHECK_EQ(tb_db_column_int64(st, 2), 60);
    tb_db_finalize(st);

    /* The dialect tokens; an unknown one fails the prepare. */
    st = prep(db, "SELECT {greatest}(?1, ?2), {least}(?1, ?2), {now}");
    CHECK_OK(tb_db_bind_int64(st, 1, 3));
    CHECK_OK(tb_db_bind_int64(st, 2, 7));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_ROW);
    CHECK_EQ(tb_db_column_int64(st, 0), 7);
    CHECK_EQ(tb_db_column_int64(st, 1), 3);
    CHECK(tb_db_column_int64(st, 2) > 1700000000);
    tb_db_finalize(st);
    st = (struct tb_db_stmt *)1;
    CHECK_EQ(tb_db_prepare(db, "SELECT {nope}(1)", &st, err, sizeof(err)), -EINVAL);
    CHECK(st == NULL && strstr(err, "{nope}") != NULL);

    /* The same statement run with a value, then NULL, then a value of
     * another type: each set of types is its own statement on PostgreSQL. */
    st = prep(db, "SELECT CASE WHEN CAST(?1 AS TEXT) IS NULL THEN 'null' ELSE 'set' END,"
                  " coalesce(?2, ?3)");
    CHECK_OK(tb_db_bind_text(st, 1, "a"));
    CHECK_OK(tb_db_bind_text(st, 3, "b"));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_ROW);
    CHECK_STR(tb_db_column_text(st, 0), "set");
    CHECK_STR(tb_db_column_text(st, 1), "b");
    tb_db_reset(st);
    CHECK_OK(tb_db_bind_int64(st, 3, 42));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_ROW);
    CHECK_STR(tb_db_column_text(st, 0), "null");
    CHECK_EQ(tb_db_column_int64(st, 1), 42);
    tb_db_reset(st);
    CHECK_OK(tb_db_bind_int64(st, 2, 5));
    CHECK_OK(tb_db_bind_int64(st, 3, 42));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_ROW);
    CHECK_EQ(tb_db_column_int64(st, 1), 5);
    /* Stepping past the end runs it again, bindings kept (as SQLite). */
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_DONE);
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_ROW);
    CHECK_EQ(tb_db_column_int64(st, 1), 5);
    tb_db_finalize(st);
}

static int64_t count(struct tb_db *db, const char *table)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    return scalar(db, sql);
}

static void insert_x(struct tb_db *db, int64_t x)
{
    struct tb_db_stmt *st = prep(db, "INSERT INTO w(x) VALUES(?1)");

    CHECK_OK(tb_db_bind_int64(st, 1, x));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_DONE);
    tb_db_finalize(st);
}

/* Nested transactions: the inner ones are savepoints. */
static void test_txn(struct tb_db *db)
{
    CHECK_EQ(tb_db_commit(db, err, sizeof(err)), -EINVAL);
    CHECK_EQ(tb_db_rollback(db), -EINVAL);
    CHECK_OK(tb_db_begin(db, TB_DB_IMMEDIATE, err, sizeof(err)));
    CHECK(tb_db_in_txn(db));
    insert_x(db, 1);
    CHECK_OK(tb_db_begin(db, TB_DB_IMMEDIATE, err, sizeof(err)));
    CHECK_EQ(tb_db_depth(db), 2);
    insert_x(db, 2);
    CHECK_OK(tb_db_rollback(db));
    CHECK_OK(tb_db_begin(db, TB_DB_DEFERRED, err, sizeof(err)));
    insert_x(db, 3);
    CHECK_OK(tb_db_begin(db, TB_DB_DEFERRED, err, sizeof(err)));
    insert_x(db, 4);
    CHECK_OK(tb_db_commit(db, err, sizeof(err)));
    CHECK_OK(tb_db_commit(db, err, sizeof(err)));
    CHECK_EQ(tb_db_depth(db), 1);
    CHECK_OK(tb_db_commit(db, err, sizeof(err)));
    CHECK_EQ(tb_db_depth(db), 0);
    CHECK(!tb_db_in_txn(db));
    CHECK_EQ(scalar(db, "SELECT sum(x) FROM w"), 1 + 3 + 4);

    CHECK_OK(tb_db_begin(db, TB_DB_DEFERRED, err, sizeof(err)));
    insert_x(db, 100);
    CHECK_OK(tb_db_rollback(db));
    CHECK(!tb_db_in_txn(db));
    CHECK_EQ(scalar(db, "SELECT sum(x) FROM w"), 8);
}

/* RETURNING, ON CONFLICT DO UPDATE / DO NOTHING, changes(). */
static void test_upsert(struct tb_db *db)
{
    struct tb_db_stmt *st;
    int64_t id;
    int i;

    exec_ok(db, "CREATE TABLE kv(k TEXT PRIMARY KEY, n bigint NOT NULL)");
    st = prep(db, "INSERT INTO kv(k, n) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE"
                  " SET n = kv.n + excluded.n RETURNING n");
    for (i = 1; i <= 3; i++) {
        CHECK_OK(tb_db_bind_text(st, 1, "a"));
        CHECK_OK(tb_db_bind_int64(st, 2, 10));
        CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_ROW);
        CHECK_EQ(tb_db_column_int64(st, 0), 10 * i);
        CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_DONE);
        CHECK_EQ(tb_db_changes(db), 1);
        tb_db_reset(st);
    }
    tb_db_finalize(st);
    st = prep(db, "INSERT INTO kv(k, n) VALUES(?1, 0) ON CONFLICT DO NOTHING RETURNING n");
    CHECK_OK(tb_db_bind_text(st, 1, "a"));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_DONE); /* nothing inserted, no row */
    CHECK_EQ(tb_db_changes(db), 0);
    tb_db_finalize(st);
    exec_ok(db, "UPDATE w SET x = x + 1 WHERE x > 1");
    CHECK_EQ(tb_db_changes(db), 2);
    st = prep(db, "INSERT INTO v(i) VALUES(?1) RETURNING id, i");
    CHECK_OK(tb_db_bind_int64(st, 1, 77));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_ROW);
    id = tb_db_column_int64(st, 0);
    CHECK(id > 3); /* three rows before; PostgreSQL's identity leaves gaps */
    CHECK_EQ(tb_db_column_int64(st, 1), 77);
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_DONE);
    tb_db_finalize(st);
    CHECK_EQ(scalar(db, "SELECT id FROM v WHERE i = 77"), id);
}

/* Failures: codes and messages, and a transaction after one. */
static void test_errors(struct tb_db *db)
{
    struct tb_db_stmt *st = NULL;
    int rc;

    err[0] = '\0';
    rc = tb_db_prepare(db, "SELEC 1", &st, err, sizeof(err));
    if (rc == 0) /* PostgreSQL: at the first step */
        rc = tb_db_step(st, err, sizeof(err));
    CHECK_EQ(rc, TB_ESTORE);
    CHECK(strstr(err, "syntax") != NULL);
    CHECK_STR(tb_db_errmsg(db), err);
    tb_db_finalize(st);
    CHECK_EQ(tb_db_exec(db, "SELECT * FROM no_such_table", err, sizeof(err)), TB_ESTORE);
    CHECK(strstr(err, "no_such_table") != NULL);

    st = prep(db, "INSERT INTO kv(k, n) VALUES(?1, 1)");
    CHECK_OK(tb_db_bind_text(st, 1, "a"));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_EDB_CONSTRAINT);
    CHECK(strcasestr(err, "unique") != NULL);
    tb_db_reset(st);

    /* The expected failure inside its own savepoint leaves the transaction usable. */
    CHECK_OK(tb_db_begin(db, TB_DB_IMMEDIATE, err, sizeof(err)));
    insert_x(db, 1000);
    CHECK_OK(tb_db_begin(db, TB_DB_IMMEDIATE, err, sizeof(err)));
    CHECK_OK(tb_db_bind_text(st, 1, "a"));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_EDB_CONSTRAINT);
    tb_db_reset(st);
    CHECK_OK(tb_db_rollback(db));
    insert_x(db, 2000);
    CHECK_OK(tb_db_commit(db, err, sizeof(err)));
    CHECK_EQ(scalar(db, "SELECT count(*) FROM w WHERE x >= 1000"), 2);

    /* Without the savepoint PostgreSQL aborts the transaction: its commit
     * fails and undoes it; SQLite goes on. */
    CHECK_OK(tb_db_begin(db, TB_DB_IMMEDIATE, err, sizeof(err)));
    insert_x(db, 3000);
    CHECK_OK(tb_db_bind_text(st, 1, "a"));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_EDB_CONSTRAINT);
    tb_db_reset(st);
    rc = tb_db_commit(db, err, sizeof(err));
    CHECK_EQ(tb_db_depth(db), 0);
    CHECK(!tb_db_in_txn(db));
    if (tb_db_dialect(db) == TB_DB_PG) {
        CHECK_EQ(rc, TB_ESTORE);
        CHECK_EQ(count(db, "w WHERE x = 3000"), 0);
    } else {
        CHECK_EQ(rc, 0);
        CHECK_EQ(count(db, "w WHERE x = 3000"), 1);
    }
    tb_db_finalize(st);
}

/* A scan read a row at a time, with other statements run in the middle of it. */
static void test_scan(struct tb_db *db)
{
    struct tb_db_stmt *ins, *scan, *point;
    int64_t sum = 0, rows = 0;
    int i, rc;

    exec_ok(db, "CREATE TABLE big(i bigint PRIMARY KEY, s TEXT)");
    CHECK_OK(tb_db_begin(db, TB_DB_IMMEDIATE, err, sizeof(err)));
    ins = prep(db, "INSERT INTO big(i, s) VALUES(?1, 'row ' || ?2)");
    for (i = 1; i <= ROWS; i++) {
        CHECK_OK(tb_db_bind_int64(ins, 1, i));
        CHECK_OK(tb_db_bind_text(ins, 2, "x"));
        CHECK_EQ(tb_db_step(ins, err, sizeof(err)), TB_DB_DONE);
        tb_db_reset(ins);
    }
    tb_db_finalize(ins);
    CHECK_OK(tb_db_commit(db, err, sizeof(err)));

    scan = prep(db, "SELECT i, s FROM big ORDER BY i");
    point = prep(db, "SELECT s FROM big WHERE i = ?1");
    while ((rc = tb_db_step(scan, err, sizeof(err))) == TB_DB_ROW) {
        rows++;
        sum += tb_db_column_int64(scan, 0);
        if (rows == 10 || rows == ROWS / 2) {
            /* PostgreSQL: the scan's remaining rows are read ahead first. */
            CHECK_OK(tb_db_bind_int64(point, 1, rows));
            CHECK_EQ(tb_db_step(point, err, sizeof(err)), TB_DB_ROW);
            CHECK_STR(tb_db_column_text(point, 0), "row x");
            tb_db_reset(point);
            exec_ok(db, "UPDATE w SET x = x");
        }
        CHECK_STR(tb_db_column_text(scan, 1), "row x");
    }
    CHECK_EQ(rc, TB_DB_DONE);
    CHECK_EQ(rows, ROWS);
    CHECK_EQ(sum, (int64_t)ROWS * (ROWS + 1) / 2);
    /* Abandoned after a few rows: the connection is usable again. */
    tb_db_reset(scan);
    CHECK_EQ(tb_db_step(scan, err, sizeof(err)), TB_DB_ROW);
    CHECK_EQ(tb_db_step(scan, err, sizeof(err)), TB_DB_ROW);
    tb_db_reset(scan);
    CHECK_EQ(count(db, "big"), ROWS);
    tb_db_finalize(scan);
    /* Finalized in the middle of a scan, too. */
    scan = prep(db, "SELECT i FROM big");
    CHECK_EQ(tb_db_step(scan, err, sizeof(err)), TB_DB_ROW);
    tb_db_finalize(scan);
    tb_db_finalize(point);
    CHECK_EQ(count(db, "big"), ROWS);
}

/* Two connections: one holds a lock the other wants. */
static void test_locks(const char *target)
{
    struct tb_db *a = open_db(target), *b = open_db(target);
    struct tb_db_stmt *st;
    int rc;

    CHECK_OK(tb_db_busy_timeout(b, 100, err, sizeof(err)));
    exec_ok(a, "CREATE TABLE acct(id bigint PRIMARY KEY, n bigint NOT NULL);"
               "INSERT INTO acct VALUES(1, 0), (2, 0)");
    /* The writer's lock (SQLite: the database; PostgreSQL: the row). */
    CHECK_OK(tb_db_begin(a, TB_DB_IMMEDIATE, err, sizeof(err)));
    exec_ok(a, "UPDATE acct SET n = n + 1 WHERE id = 1");
    rc = tb_db_begin(b, TB_DB_IMMEDIATE, err, sizeof(err));
    if (rc == 0)
        rc = tb_db_exec(b, "UPDATE acct SET n = n + 1 WHERE id = 1", err, sizeof(err));
    CHECK_EQ(rc, TB_EDB_RETRY);
    if (tb_db_depth(b) > 0)
        CHECK_OK(tb_db_rollback(b));
    CHECK_OK(tb_db_commit(a, err, sizeof(err)));

    /* A serialization failure: both read, one writes and commits first. */
    CHECK_OK(tb_db_begin(a, TB_DB_SERIAL, err, sizeof(err)));
    CHECK_EQ(scalar(a, "SELECT n FROM acct WHERE id = 1"), 1);
    rc = tb_db_begin(b, TB_DB_SERIAL, err, sizeof(err));
    if (tb_db_dialect(a) == TB_DB_PG) {
        CHECK_OK(rc);
        CHECK_EQ(scalar(b, "SELECT n FROM acct WHERE id = 1"), 1);
        exec_ok(a, "UPDATE acct SET n = n + 1 WHERE id = 1");
        CHECK_OK(tb_db_commit(a, err, sizeof(err)));
        st = prep(b, "UPDATE acct SET n = n + 1 WHERE id = 1");
        CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_EDB_RETRY);
        CHECK(strstr(err, "40001") != NULL);
        tb_db_finalize(st);
        CHECK_EQ(tb_db_commit(b, err, sizeof(err)), TB_ESTORE);
    } else {
        CHECK_EQ(rc, TB_EDB_RETRY); /* SQLite: one writer at a time */
        exec_ok(a, "UPDATE acct SET n = n + 1 WHERE id = 1");
        CHECK_OK(tb_db_commit(a, err, sizeof(err)));
    }
    CHECK_EQ(tb_db_depth(b), 0);
    CHECK_EQ(scalar(b, "SELECT n FROM acct WHERE id = 1"), 2);
    tb_db_close(a);
    tb_db_close(b);
}

/* What one thread of the counter and deadlock tests needs. */
struct worker {
    const char *target;         /* the database */
    int id;                     /* 0 or 1 */
    int retries;                /* TB_EDB_RETRY met */
    int failures;               /* anything else */
    pthread_barrier_t *barrier; /* the deadlock test's meeting point */
};

/* Runs sql in a TB_DB_SERIAL transaction until it commits. */
static void *counter(void *arg)
{
    struct worker *w = arg;
    struct tb_db *db = open_db(w->target);
    char e[512];
    int i, rc;

    if (tb_db_busy_timeout(db, 5000, e, sizeof(e)) != 0)
        w->failures++;
    for (i = 0; i < INCREMENTS; i++) {
        do {
            rc = tb_db_begin(db, TB_DB_SERIAL, e, sizeof(e));
            if (rc == 0)
                rc = tb_db_exec(db, "UPDATE acct SET n = n + 1 WHERE id = 2", e, sizeof(e));
            if (rc == 0)
                rc = tb_db_commit(db, e, sizeof(e));
            else if (tb_db_depth(db) > 0)
                (void)tb_db_rollback(db);
            if (rc == TB_EDB_RETRY)
                w->retries++;
            else if (rc != 0 && w->failures++ == 0)
                fprintf(stderr, "counter: %s\n", e);
        } while (rc == TB_EDB_RETRY);
    }
    tb_db_close(db);
    return NULL;
}

/* Locks row 1 + id then row 2 - id, after the other thread took its first. */
static void *crosser(void *arg)
{
    struct worker *w = arg;
    struct tb_db *db = open_db(w->target);
    char sql[96], e[512];
    int rc;

    rc = tb_db_begin(db, TB_DB_IMMEDIATE, e, sizeof(e));
    snprintf(sql, sizeof(sql), "UPDATE acct SET n = n WHERE id = %d", 1 + w->id);
    if (rc == 0)
        rc = tb_db_exec(db, sql, e, sizeof(e));
    pthread_barrier_wait(w->barrier);
    snprintf(sql, sizeof(sql), "UPDATE acct SET n = n WHERE id = %d", 2 - w->id);
    if (rc == 0)
        rc = tb_db_exec(db, sql, e, sizeof(e));
    if (rc == TB_EDB_RETRY) {
        w->retries++;
        if (strstr(e, "40P01") == NULL)
            w->failures++;
    } else if (rc != 0) {
        w->failures++;
    }
    if (tb_db_depth(db) > 0)
        (void)tb_db_rollback(db); /* lets the other one through */
    tb_db_close(db);
    return NULL;
}

/* Real concurrency: threads, each with its own connection. */
static void test_threads(const char *target, int deadlock)
{
    struct worker w[THREADS];
    pthread_t t[THREADS];
    pthread_barrier_t barrier;
    struct tb_db *db = open_db(target);
    int64_t before = scalar(db, "SELECT n FROM acct WHERE id = 2");
    int i, retries = 0;

    pthread_barrier_init(&barrier, NULL, THREADS);
    for (i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.target = target, .id = i, .barrier = &barrier};
        CHECK_OK(pthread_create(&t[i], NULL, deadlock ? crosser : counter, &w[i]));
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(w[i].failures, 0);
        retries += w[i].retries;
    }
    pthread_barrier_destroy(&barrier);
    if (deadlock)
        CHECK_EQ(retries, 1); /* PostgreSQL broke the deadlock by failing one */
    else
        CHECK_EQ(scalar(db, "SELECT n FROM acct WHERE id = 2"), before + THREADS * INCREMENTS);
    tb_db_close(db);
}

/* PostgreSQL stopped under a connection, then started again. */
static void test_lost(const char *target)
{
    const char *stop = getenv("TB_TEST_PG_STOP"), *start = getenv("TB_TEST_PG_START");
    struct tb_db *db = open_db(target);
    struct tb_db_stmt *st = prep(db, "SELECT count(*) FROM big WHERE i > ?1");

    if (!CHECK_NEED(stop != NULL && start != NULL, "TB_TEST_PG_STOP/START (tests/pgserver.py)"))
        goto out;
    CHECK_OK(tb_db_bind_int64(st, 1, 10));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_ROW);
    CHECK_EQ(tb_db_column_int64(st, 0), ROWS - 10);
    tb_db_reset(st);
    CHECK(!tb_db_lost(db));
    CHECK_OK(tb_db_begin(db, TB_DB_IMMEDIATE, err, sizeof(err)));
    CHECK_EQ(system(stop), 0);
    CHECK(!tb_db_lost(db)); /* nothing asked the server yet */
    CHECK_OK(tb_db_bind_int64(st, 1, 10));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_EDB_LOST);
    CHECK(err[0] != '\0');
    tb_db_reset(st);
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_EDB_LOST); /* and again, at once */
    tb_db_reset(st);
    CHECK(!tb_db_in_txn(db));
    CHECK_EQ(tb_db_commit(db, err, sizeof(err)), TB_EDB_LOST); /* the transaction is gone */
    CHECK_EQ(tb_db_depth(db), 0);
    CHECK(tb_db_lost(db));
    CHECK_EQ(tb_db_reconnect(db, err, sizeof(err)), TB_EDB_LOST);
    CHECK(tb_db_lost(db)); /* a failed reconnect leaves it lost */
    CHECK_EQ(system(start), 0);
    CHECK_OK(tb_db_reconnect(db, err, sizeof(err)));
    CHECK(!tb_db_lost(db));
    CHECK_OK(tb_db_bind_int64(st, 1, 20));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_ROW); /* prepared again on the server */
    CHECK_EQ(tb_db_column_int64(st, 0), ROWS - 20);
out:
    tb_db_finalize(st);
    tb_db_close(db);
}

/* A connection terminated by the server, made again in steps: db fails
 * with TB_EDB_LOST until the new connection is put in place, which then
 * runs statements prepared before and keeps the lock timeout. SQLite:
 * -EINVAL. */
static void test_renew(const char *target)
{
    struct tb_db *db = open_db(target), *other;
    struct tb_db_renew *r = NULL;
    struct tb_db_stmt *st;
    struct pollfd pfd;
    int64_t pid = 0;
    int rc = -1, fd = -1, steps = 0;

    if (!tb_db_is_pg(target)) {
        CHECK_EQ(tb_db_renew_start(db, &r, err, sizeof(err)), -EINVAL);
        CHECK(r == NULL);
        tb_db_close(db);
        return;
    }
    other = open_db(target);
    st = prep(db, "SELECT count(*) FROM big WHERE i > ?1");
    CHECK_OK(tb_db_busy_timeout(db, 1234, err, sizeof(err)));
    CHECK_OK(tb_db_scalar(db, &pid, err, sizeof(err), "SELECT pg_backend_pid()", ""));
    CHECK_OK(tb_db_run(other, err, sizeof(err), "SELECT pg_terminate_backend(CAST(?1 AS integer))",
                       "i", pid));
    CHECK_OK(tb_db_bind_int64(st, 1, 10));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_EDB_LOST);
    tb_db_reset(st);
    CHECK(tb_db_lost(db));
    CHECK_OK(tb_db_renew_start(db, &r, err, sizeof(err)));
    while (r != NULL && (rc = tb_db_renew_poll(r, &fd, err, sizeof(err))) > 0 && steps++ < 100) {
        pfd.fd = fd;
        pfd.events = rc == TB_DB_RENEW_READ ? POLLIN : POLLOUT;
        CHECK_EQ(poll(&pfd, 1, 10000), 1);
        CHECK(tb_db_lost(db)); /* untouched meanwhile */
    }
    CHECK_EQ(rc, 0);
    CHECK(steps > 1);
    CHECK_OK(tb_db_renew_finish(db, r, err, sizeof(err)));
    CHECK(!tb_db_lost(db));
    CHECK_OK(tb_db_bind_int64(st, 1, 20));
    CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_ROW);
    CHECK_EQ(tb_db_column_int64(st, 0), ROWS - 20);
    tb_db_reset(st);
    CHECK_EQ(scalar(db, "SELECT CAST(extract(epoch FROM current_setting('lock_timeout')::interval)"
                        " * 1000 AS bigint)"),
             1234);
    /* Given up: cancelled, nothing changes. */
    CHECK_OK(tb_db_renew_start(db, &r, err, sizeof(err)));
    tb_db_renew_cancel(r);
    tb_db_renew_cancel(NULL);
    CHECK_EQ(scalar(db, "SELECT 7"), 7);
    tb_db_finalize(st);
    tb_db_close(other);
    tb_db_close(db);
}

static void test_all(const char *target)
{
    struct tb_db *db = open_db(target);

    fprintf(stderr, "== %s\n", target);
    test_values(db);
    test_helpers(db);
    test_params(db);
    test_txn(db);
    test_upsert(db);
    test_errors(db);
    test_scan(db);
    tb_db_close(db);
    test_locks(target);
    test_threads(target, 0);
    if (tb_db_is_pg(target))
        test_threads(target, 1);
    test_renew(target);
}

/* INSERT ... ON CONFLICT DO NOTHING RETURNING id, which SQLite answers
 * from the rowid on a rowid table and by RETURNING elsewhere: one row with
 * the new id, no row when the insert did nothing, the same after a reset. */
static void returning_once(struct tb_db *db, const char *sql, const char *key, int64_t want)
{
    struct tb_db_stmt *st = NULL;
    int64_t id = -1;
    int rc, i;

    CHECK_OK(tb_db_query(db, &st, err, sizeof(err), sql, "t", key));
    for (i = 0; i < 2; i++) {
        rc = tb_db_step(st, err, sizeof(err));
        if (want == 0) {
            CHECK_EQ(rc, TB_DB_DONE);
        } else {
            CHECK_EQ(rc, TB_DB_ROW);
            CHECK_EQ(tb_db_column_count(st), 1);
            id = tb_db_column_int64(st, 0);
            CHECK_EQ(id, want);
            CHECK(!tb_db_column_is_null(st, 0));
            CHECK_EQ(tb_db_step(st, err, sizeof(err)), TB_DB_DONE);
        }
        tb_db_reset(st);
        CHECK_OK(tb_db_bind_text(st, 1, key));
        want = 0; /* run again: the key is taken now */
    }
    tb_db_finalize(st);
}

static void test_rowid(sqlite3 *h)
{
    struct tb_db *db = NULL;

    CHECK_OK(tb_db_wrap_sqlite(&db, h));
    exec_ok(db, "CREATE TABLE r1(id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE);"
                "CREATE TABLE r2(id INTEGER NOT NULL PRIMARY KEY, k TEXT NOT NULL UNIQUE)"
                " WITHOUT ROWID;"
                "CREATE TABLE r3(id bigint, k TEXT NOT NULL UNIQUE);"
                "INSERT INTO r1(id, k) VALUES(41, 'old');");
    returning_once(db, "INSERT INTO r1(k) VALUES(?1) ON CONFLICT(k) DO NOTHING RETURNING id", "a",
                   42);
    returning_once(db, "INSERT INTO r1(k) VALUES(?1) ON CONFLICT(k) DO NOTHING RETURNING id", "old",
                   0);
    returning_once(db, "INSERT INTO r2(id, k) VALUES(7, ?1) ON CONFLICT(k) DO NOTHING RETURNING id",
                   "a", 7);
    returning_once(db, "INSERT INTO r3(id, k) VALUES(9, ?1) ON CONFLICT(k) DO NOTHING RETURNING id",
                   "a", 9);
    tb_db_close(db);
}

/* A wrapped SQLite handle: the owner's transaction is the outer one
 * (tb_db_begin nests savepoints in it and never ends it), and closing the
 * wrapper leaves the handle open. */
static void test_wrap(const char *path)
{
    struct tb_db *db = NULL;
    sqlite3 *h = NULL;
    int64_t n = -1;

    CHECK_EQ(tb_db_wrap_sqlite(&db, NULL), -EINVAL);
    CHECK_EQ(sqlite3_open(path, &h), SQLITE_OK);
    sqlite3_extended_result_codes(h, 1);
    CHECK_OK(tb_db_wrap_sqlite(&db, h));
    CHECK(tb_db_sqlite(db) == h && tb_db_dialect(db) == TB_DB_SQLITE);
    exec_ok(db, "CREATE TABLE w(x bigint PRIMARY KEY)");
    CHECK_EQ(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    CHECK_OK(tb_db_begin(db, TB_DB_IMMEDIATE, err, sizeof(err)));
    CHECK_OK(tb_db_run(db, err, sizeof(err), "INSERT INTO w(x) VALUES(1)", ""));
    CHECK_OK(tb_db_rollback(db));
    CHECK(tb_db_in_txn(db) && tb_db_depth(db) == 0);
    CHECK_OK(tb_db_begin(db, TB_DB_IMMEDIATE, err, sizeof(err)));
    CHECK_OK(tb_db_run(db, err, sizeof(err), "INSERT INTO w(x) VALUES(2)", ""));
    CHECK_EQ(tb_db_run(db, err, sizeof(err), "INSERT INTO w(x) VALUES(2)", ""), TB_EDB_CONSTRAINT);
    CHECK_OK(tb_db_commit(db, err, sizeof(err)));
    CHECK(tb_db_in_txn(db) && tb_db_depth(db) == 0);
    CHECK_EQ(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    CHECK_OK(tb_db_scalar(db, &n, err, sizeof(err), "SELECT sum(x) FROM w", ""));
    CHECK_EQ(n, 2);
    /* Without an outer transaction, tb_db_begin begins and ends its own. */
    CHECK_OK(tb_db_begin(db, TB_DB_IMMEDIATE, err, sizeof(err)));
    CHECK_OK(tb_db_run(db, err, sizeof(err), "INSERT INTO w(x) VALUES(3)", ""));
    CHECK_OK(tb_db_commit(db, err, sizeof(err)));
    CHECK(!tb_db_in_txn(db));
    tb_db_close(db);
    test_rowid(h);
    CHECK_EQ(sqlite3_exec(h, "SELECT 1", NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ(sqlite3_close(h), SQLITE_OK);
}

/* Opening: what selects PostgreSQL, a password refused, no server. */
static void test_open(void)
{
    struct tb_db *db = (struct tb_db *)1;

    CHECK(tb_db_is_pg("postgresql://u@h/db") && tb_db_is_pg("postgres:///db"));
    CHECK(!tb_db_is_pg("/var/lib/tributary/db") && !tb_db_is_pg("postgresql.db"));
    CHECK_EQ(tb_db_open(&db, "postgresql://u:secret@/db?host=/nonexistent", 0, err, sizeof(err)),
             -EINVAL);
    CHECK(db == NULL && strstr(err, "pgpass") != NULL && strstr(err, "secret") == NULL);
    CHECK_EQ(tb_db_open(&db, "postgresql://u@/db?host=/nonexistent", 0, err, sizeof(err)),
             TB_EDB_LOST);
    CHECK(db == NULL && err[0] != '\0');
    CHECK_EQ(tb_db_open(&db, "", 0, err, sizeof(err)), -EINVAL);
    CHECK_STR(tb_strerror(TB_EDB_LOST), "database connection lost");
    CHECK_EQ(tb_db_open(&db, "/nonexistent/dir/x.db", 0, err, sizeof(err)), TB_ESTORE);
    CHECK(db == NULL && strstr(err, "/nonexistent/dir/x.db") != NULL);
}

int main(void)
{
    char dir[] = "/tmp/tb-db-XXXXXX", path[64], cmd[96];
    const char *pg = getenv("TB_TEST_PG");

    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(path, sizeof(path), "%s/t.db", dir);
    test_open();
    test_all(path);
    snprintf(path, sizeof(path), "%s/w.db", dir);
    test_wrap(path);
    if (CHECK_NEED(pg != NULL && *pg != '\0',
                   "PostgreSQL server (run through tests/pgserver.py)")) {
        test_all(pg);
        test_lost(pg);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    CHECK_DONE();
}
