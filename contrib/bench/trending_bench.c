/*
 * trending_bench: times tb_trending_select() (limit 30) on a database of
 * ENTRIES papers with MENTIONS rows in the 7-day window, then again after
 * adding OLD entries (and as many carrying plus as many mentioning rows)
 * outside the window: the cost must follow the window, not the archive.
 *
 *   trending_bench DB [ENTRIES [MENTIONS [OLD]]]   (default 100000 300000 1000000)
 *
 * The rows are written with SQL straight into the store's tables (the
 * store's own schema, made by tb_store_open()); built against
 * build/libtributary_core.a by contrib/bench/trending.
 */
#include "tb_arxiv.h"
#include "tb_store.h"
#include "tb_site.h"
#include "tb_trending.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOW 1700000000LL
#define DAY 86400LL
#define NSOURCES 60
#define RUNS 5

static unsigned long long rnd_state = 88172645463325252ULL;

static unsigned long long rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, msg);
        exit(1);
    }
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
        exit(1);
    }
    return st;
}

static void step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE && rc != SQLITE_CONSTRAINT) {
        fprintf(stderr, "step: %d\n", rc);
        exit(1);
    }
    sqlite3_reset(st);
}

/* Papers first..first+n, carried by a random source at a time in [t0, t0+span). */
static void fill(sqlite3 *db, long first, long n, long extra, long long t0, long long span)
{
    sqlite3_stmt *ent = prep(db, "INSERT INTO entries(id, out_id, origin, arxiv_id, first_seen,"
                                 " sort_time, hash) VALUES(?1, ?2, ?3, ?4, ?5, ?5, x'00')");
    sqlite3_stmt *men = prep(db, "INSERT OR IGNORE INTO mentions(paper, source_id, entry_id, at,"
                                 " carries) VALUES(?1, ?2, ?3, ?4, ?5)");
    char id[32], key[40], out[64];
    long i;

    exec(db, "BEGIN");
    for (i = 0; i < n; i++) {
        long long t = t0 + (long long)(rnd() % (unsigned long long)span);
        int src = 1 + (int)(rnd() % NSOURCES);

        snprintf(id, sizeof(id), "%02ld%02ld.%05ld", 10 + (first + i) / 1200000 % 80,
                 1 + (first + i) / 100000 % 12, (first + i) % 100000);
        snprintf(key, sizeof(key), "arxiv:%s", id);
        snprintf(out, sizeof(out), "https://arxiv.org/abs/%s", id);
        sqlite3_bind_int64(ent, 1, first + i + 1);
        sqlite3_bind_text(ent, 2, out, -1, SQLITE_STATIC);
        sqlite3_bind_int(ent, 3, src);
        sqlite3_bind_text(ent, 4, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ent, 5, t);
        step(ent);
        sqlite3_bind_text(men, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int(men, 2, src);
        sqlite3_bind_int64(men, 3, first + i + 1);
        sqlite3_bind_int64(men, 4, t);
        sqlite3_bind_int(men, 5, 1);
        step(men);
    }
    /* Mentions: a skewed choice of paper (some are talked about a lot). */
    for (i = 0; i < extra; i++) {
        unsigned long long r = rnd();
        long p = (long)((r % (unsigned long long)n) * (r % 1000) / 1000);
        long long t = t0 + (long long)(rnd() % (unsigned long long)span);

        snprintf(id, sizeof(id), "%02ld%02ld.%05ld", 10 + (first + p) / 1200000 % 80,
                 1 + (first + p) / 100000 % 12, (first + p) % 100000);
        snprintf(key, sizeof(key), "arxiv:%s", id);
        sqlite3_bind_text(men, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int(men, 2, 1 + (int)(rnd() % NSOURCES));
        sqlite3_bind_int64(men, 3, first + p + 1);
        sqlite3_bind_int64(men, 4, t);
        sqlite3_bind_int(men, 5, 0);
        step(men);
    }
    exec(db, "COMMIT");
    sqlite3_finalize(ent);
    sqlite3_finalize(men);
}

/* Mention rows within the window. */
static long long rows_in(sqlite3 *db)
{
    sqlite3_stmt *st = prep(db, "SELECT count(*) FROM mentions WHERE at >= ?1 AND at <= ?2");
    long long n = 0;

    sqlite3_bind_int64(st, 1, NOW - 7 * DAY);
    sqlite3_bind_int64(st, 2, NOW);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* All mention rows. */
static long long rows_all(sqlite3 *db)
{
    sqlite3_stmt *st = prep(db, "SELECT count(*) FROM mentions");
    long long n = 0;

    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int count(const struct tb_trending_paper *p, void *data)
{
    (void)p;
    ++*(int *)data;
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Median of RUNS walks, in ms. */
static double time_trending(struct tb_store *s)
{
    struct tb_trending_opts o = {.now = NOW, .window = 7 * DAY, .half_life = DAY, .limit = 30};
    double v[RUNS], t;
    char err[256];
    int n;

    for (int i = 0; i < RUNS; i++) {
        n = 0;
        t = now_ms();
        if (tb_trending_select(s, &o, count, &n, err, sizeof(err)) != 0) {
            fprintf(stderr, "trending: %s\n", err);
            exit(1);
        }
        v[i] = now_ms() - t;
        if (n != 30) {
            fprintf(stderr, "trending gave %d papers\n", n);
            exit(1);
        }
    }
    qsort(v, RUNS, sizeof(*v), cmp);
    return v[RUNS / 2];
}

/* Median of RUNS rewrites of trending.atom, .rss and .json (what the
 * daemon does: the walk, loading the entries, their footers, writing each
 * document with its .gz, fsync and rename) into dir, in ms. */
static double time_publish(struct tb_store *s, const char *dir)
{
    struct tb_config cfg = {0};
    struct tb_site site = {0};
    double v[RUNS], t;
    char err[256] = "";

    cfg.public_dir = (char *)dir;
    cfg.base_url = "http://localhost:8080/";
    cfg.trending.window = 7 * DAY;
    cfg.trending.half_life = DAY;
    cfg.trending.limit = 30;
    site.cfg = &cfg;
    site.store = s;
    for (int i = 0; i < RUNS; i++) {
        t = now_ms();
        if (tb_site_publish_trending(&site, NOW, err, sizeof(err)) != 0) {
            fprintf(stderr, "publish trending: %s\n", err);
            exit(1);
        }
        v[i] = now_ms() - t;
    }
    qsort(v, RUNS, sizeof(*v), cmp);
    return v[RUNS / 2];
}

/* The arXiv resolver's look at the ids due (tb_store_arxiv_due(), on the
 * daemon's loop thread): median of RUNS, in ms; *due the ids it gave. */
static double time_due(struct tb_store *s, size_t *due)
{
    char *ids[TB_ARXIV_BATCH_MAX], err[256];
    double v[RUNS], t;

    for (int i = 0; i < RUNS; i++) {
        t = now_ms();
        if (tb_store_arxiv_due(s, NOW, NOW - 7 * DAY, TB_ARXIV_BATCH_MAX, ids, due, err,
                               sizeof(err)) != 0) {
            fprintf(stderr, "arxiv due: %s\n", err);
            exit(1);
        }
        v[i] = now_ms() - t;
        for (size_t k = 0; k < *due; k++)
            free(ids[k]);
    }
    qsort(v, RUNS, sizeof(*v), cmp);
    return v[RUNS / 2];
}

/* A resolver in its steady state: every paper of an arXiv listing (the
 * first 12 sources are) is held by its record, and of the rest every one
 * but each 50th was resolved already; the rest are due. The rows are
 * written as the store writes them: since migration 12 every arXiv id
 * voiced has a row in arxiv_resolve with its latest voice, state 2 when a
 * record carries it (the same SQL as the migration); before it, only the
 * ids asked had one. */
static void steady_resolver(sqlite3 *db)
{
    sqlite3_stmt *st = prep(db, "SELECT count(*) FROM pragma_table_info('arxiv_resolve')"
                                " WHERE name = 'voiced'");
    int v12 = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;

    sqlite3_finalize(st);
    exec(db, "UPDATE sources SET arxiv_record = (id <= 12)");
    if (v12) {
        exec(db, "INSERT INTO arxiv_resolve(id, state, voiced)"
                 " SELECT substr(paper, 7), 0, max(at) FROM mentions"
                 " WHERE paper > 'arxiv:' AND paper < 'arxiv;' GROUP BY paper"
                 " ON CONFLICT(id) DO UPDATE SET voiced = excluded.voiced");
        exec(db, "UPDATE arxiv_resolve SET state = 2 WHERE state = 0 AND EXISTS(SELECT 1"
                 " FROM entries e JOIN sources s ON s.id = e.origin WHERE e.arxiv_id ="
                 " arxiv_resolve.id AND s.arxiv_record)");
    }
    exec(db, "INSERT INTO arxiv_resolve(id, state) SELECT e.arxiv_id, 1 FROM entries e"
             " WHERE e.origin > 12 AND e.id % 50 <> 0 AND true"
             " ON CONFLICT(id) DO UPDATE SET state = 1 WHERE state = 0");
}

int main(int argc, char **argv)
{
    long entries = argc > 2 ? atol(argv[2]) : 100000;
    long mentions = argc > 3 ? atol(argv[3]) : 300000;
    long old = argc > 4 ? atol(argv[4]) : 1000000;
    struct tb_store *s = NULL;
    char err[256], sql[128];
    double in, all, pub_in, pub_all, due_in, due_all;
    size_t ndue_in, ndue_all;
    char dir[4096];
    sqlite3 *db;

    if (argc < 2) {
        fprintf(stderr, "usage: trending_bench DB [ENTRIES [MENTIONS [OLD]]]\n");
        return 2;
    }
    unlink(argv[1]);
    if (tb_store_open(&s, argv[1], 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    db = tb_store_db(s);
    for (int i = 1; i <= NSOURCES; i++) {
        /* 25 groups; every tenth source weighs 0, some weigh 2. */
        snprintf(sql, sizeof(sql),
                 "INSERT INTO sources(id, name, grp, weight) VALUES(%d, 's%d', 'g%d', %d)", i, i,
                 i % 25, i % 10 == 0 ? 0 : 1 + i % 2);
        exec(db, sql);
    }
    fill(db, 0, entries, mentions - entries, NOW - 7 * DAY + 1, 7 * DAY - 1);
    exec(db, "ANALYZE");
    snprintf(dir, sizeof(dir), "%s.public", argv[1]);
    in = time_trending(s);
    pub_in = time_publish(s, dir);
    printf("window only: %ld entries, %lld mention rows in the window (%ld drawn, repeats"
           " of a paper and source fold): %.1f ms; rewriting trending.atom, .rss, .json"
           " (walk, load, footers, write with .gz): %.1f ms\n",
           entries, rows_in(db), mentions, in, pub_in);
    steady_resolver(db);
    due_in = time_due(s, &ndue_in);
    printf("arXiv resolver, ids due (%zu of at most %d): %.1f ms\n", ndue_in, TB_ARXIV_BATCH_MAX,
           due_in);
    fill(db, entries, old, old, NOW - 400 * DAY, 390 * DAY);
    steady_resolver(db);
    exec(db, "ANALYZE");
    all = time_trending(s);
    pub_all = time_publish(s, dir);
    due_all = time_due(s, &ndue_all);
    printf("plus %ld entries and %lld mention rows outside the window: %.1f ms (%.2fx);"
           " rewriting the outputs: %.1f ms (%.2fx); ids due (%zu): %.1f ms (%.2fx)\n",
           old, rows_all(db) - rows_in(db), all, all / in, pub_all, pub_all / pub_in, ndue_all,
           due_all, due_all / due_in);
    tb_store_close(s);
    return 0;
}
