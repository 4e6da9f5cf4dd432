/*
 * The backend a store test runs on. ctest runs each store test twice
 * (CMakeLists.txt TB_STORE_PG_TESTS): as NAME on SQLite files, and as
 * NAME_pg with TB_TEST_DB=pg inside tests/pgserver.py, which starts a
 * PostgreSQL 15 server and names it in TB_TEST_PG. There every database a
 * test names (st_target) is a database of its own on that server, created
 * empty at its first use, so the same assertions run on both engines.
 * Cases that cannot mean the same on PostgreSQL (SQLite files, PRAGMAs,
 * the FTS5 index) say so with st_skip_pg(), which prints the reason and
 * counts them; the count is printed at the end (st_report), and such a
 * case is never counted as passed.
 */
#ifndef TB_STORETEST_H
#define TB_STORETEST_H

#include "tb_db.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define ST_MAX_DBS 64

static int st_pg_skips;             /* cases left out on PostgreSQL */
static char st_dbs[ST_MAX_DBS][64]; /* PostgreSQL databases created so far */
static int st_ndbs;

/* Whether this run is the PostgreSQL one (TB_TEST_DB=pg). */
static inline int st_is_pg(void)
{
    const char *v = getenv("TB_TEST_DB");

    return v != NULL && strcmp(v, "pg") == 0;
}

/*
 * Whether the test can run: on the PostgreSQL run without a server
 * (pgserver.py found no PostgreSQL) the whole program is skipped (77),
 * or fails under CI (CHECK_NEED).
 */
static inline int st_ready(void)
{
    if (!st_is_pg())
        return 1;
    return CHECK_NEED(getenv("TB_TEST_PG") != NULL, "PostgreSQL (TB_TEST_PG)");
}

/* On PostgreSQL: prints why case `what` is left out and counts it; returns
 * 1 then (the caller returns), 0 on SQLite. */
static inline int st_skip_pg(const char *what, const char *why)
{
    if (!st_is_pg())
        return 0;
    fprintf(stderr, "SKIPPED on PostgreSQL: %s: %s\n", what, why);
    st_pg_skips++;
    return 1;
}

/* The database name for `name` ("a.db" -> "t_a_db"). */
static inline void st_dbname(const char *name, char *out, size_t n)
{
    size_t i, j = 0;

    j = (size_t)snprintf(out, n, "t_");
    for (i = 0; name[i] != '\0' && j + 1 < n; i++)
        out[j++] = isalnum((unsigned char)name[i]) ? (char)tolower((unsigned char)name[i]) : '_';
    out[j] = '\0';
}

/* Runs sql on the server's maintenance database; exits the test on failure. */
static inline void st_admin(const char *sql)
{
    struct tb_db *db = NULL;
    char err[512];

    if (tb_db_open(&db, getenv("TB_TEST_PG"), 0, err, sizeof(err)) != 0 ||
        tb_db_exec(db, sql, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", sql, err);
        exit(1);
    }
    tb_db_close(db);
}

/*
 * What tb_store_open() is given for the database `name` of this test:
 * dir/name on SQLite; on PostgreSQL the URI of TB_TEST_PG with its
 * database replaced by one for `name`, created empty at its first use.
 * Static storage, valid until the next call.
 */
static inline const char *st_target(const char *dir, const char *name)
{
    static char out[1024];
    const char *uri, *slash, *q;
    char db[64], sql[160];
    int i;

    if (!st_is_pg()) {
        snprintf(out, sizeof(out), "%s/%s", dir, name);
        return out;
    }
    uri = getenv("TB_TEST_PG");
    st_dbname(name, db, sizeof(db));
    for (i = 0; i < st_ndbs && strcmp(st_dbs[i], db) != 0; i++)
        ;
    if (i == st_ndbs) {
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", db);
        st_admin(sql);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
        st_admin(sql);
        if (st_ndbs < ST_MAX_DBS)
            snprintf(st_dbs[st_ndbs++], sizeof(st_dbs[0]), "%s", db);
    }
    /* postgresql://user@host/DATABASE?params: the path after the authority. */
    slash = strstr(uri, "://");
    slash = slash ? strchr(slash + 3, '/') : NULL;
    if (slash == NULL) {
        fprintf(stderr, "TB_TEST_PG has no database: %s\n", uri);
        exit(1);
    }
    q = strchr(slash, '?');
    snprintf(out, sizeof(out), "%.*s/%s%s", (int)(slash - uri), uri, db, q ? q : "");
    return out;
}

/* Forgets database `name`: on PostgreSQL dropped, so the next st_target
 * gives a new empty one (SQLite: the caller removes its files). */
static inline void st_drop(const char *name)
{
    char db[64], sql[160];
    int i;

    if (!st_is_pg())
        return;
    st_dbname(name, db, sizeof(db));
    for (i = 0; i < st_ndbs && strcmp(st_dbs[i], db) != 0; i++)
        ;
    if (i < st_ndbs) {
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
        st_admin(sql);
        st_dbs[i][0] = '\0';
        memmove(st_dbs[i], st_dbs[st_ndbs - 1], sizeof(st_dbs[0]));
        st_ndbs--;
    }
}

/* Prints how many cases were left out on PostgreSQL (call before CHECK_DONE). */
static inline void st_report(void)
{
    if (st_pg_skips > 0)
        fprintf(stderr, "%d case(s) SKIPPED on PostgreSQL (not passed; reasons above)\n",
                st_pg_skips);
}

#endif
