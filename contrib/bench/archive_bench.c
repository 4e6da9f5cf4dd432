/*
 * archive_bench: times the archive's share of a publish of /all on a store
 * of ENTRIES entries (pages of LIMIT): the first tb_archive_update() (it
 * forms every page), then, RUNS times, one with nothing new and one after
 * NEW new entries (what a publish after a poll does), and
 * tb_site_publish_changed() after NEW new entries with files only (the
 * pages it forms written into a scratch public_dir).
 *
 *   archive_bench DB PUBLIC_DIR [ENTRIES [LIMIT [NEW [setup]]]]   (default 80000 50 10)
 *
 * "setup": only makes the store and forms the pages (for archive-rss).
 * Built by contrib/bench/archive against build/libtributary_core.a. With
 * -DTB_ARCHIVE_OLD_API it builds against the branch before the
 * incremental update (tb_archive_update without the changed list), for
 * the before/after figures.
 */
#include "tb_archive.h"
#include "tb_config.h"
#include "tb_site.h"
#include "tb_store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOW 1700000000LL
#define RUNS 5

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, msg);
        exit(1);
    }
}

/* Entries first+1..first+n, one a minute, with a title and a summary. */
static void fill(sqlite3 *db, long first, long n)
{
    sqlite3_stmt *st = NULL;
    char out[64], title[64];
    long i;

    if (sqlite3_prepare_v2(db,
                           "INSERT INTO entries(id, out_id, origin, title, summary, published,"
                           " first_seen, sort_time, hash) VALUES(?1, ?2, 1, ?3, ?4, ?5, ?5, ?5,"
                           " x'00')",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s\n", sqlite3_errmsg(db));
        exit(1);
    }
    exec(db, "BEGIN");
    for (i = first + 1; i <= first + n; i++) {
        snprintf(out, sizeof(out), "https://example.org/e/%ld", i);
        snprintf(title, sizeof(title), "Entry number %ld", i);
        sqlite3_bind_int64(st, 1, i);
        sqlite3_bind_text(st, 2, out, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, title, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, "A summary of a few words, as a feed gives.", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, NOW - 90LL * 86400 + i * 60);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "insert: %s\n", sqlite3_errmsg(db));
            exit(1);
        }
        sqlite3_reset(st);
    }
    exec(db, "COMMIT");
    sqlite3_finalize(st);
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One tb_archive_update() of /all: its time in ms. */
static double update_all(struct tb_store *s, size_t limit, const int64_t *changed, size_t nchanged,
                         int64_t *pages)
{
    int64_t *cur = NULL;
    size_t ncur = 0;
    char err[512] = "";
    double t0 = now_ms();
    int rc;

#ifdef TB_ARCHIVE_OLD_API
    (void)changed;
    (void)nchanged;
    rc = tb_archive_update(s, "all", NULL, NULL, 0, limit, &cur, &ncur, pages, err, sizeof(err));
#else
    rc = tb_archive_update(s, "all", NULL, NULL, 0, limit, changed, nchanged, &cur, &ncur, pages,
                           err, sizeof(err));
#endif
    if (rc != 0) {
        fprintf(stderr, "tb_archive_update: %s\n", err);
        exit(1);
    }
    free(cur);
    return now_ms() - t0;
}

/* A config publishing into dir with pages of limit (written as dir.ini). */
static struct tb_config *load_config(const char *dir, size_t limit)
{
    struct tb_config_error *errs = NULL;
    struct tb_config *c = NULL;
    size_t nerrs = 0;
    char path[4096];
    FILE *fp;

    snprintf(path, sizeof(path), "%s.ini", dir);
    fp = fopen(path, "w");
    if (fp == NULL)
        exit(1);
    fprintf(fp,
            "[tributary]\npublic_dir = %s\nbase_url = http://localhost/\nfeed_limit = %zu\n"
            "[source s1]\nurl = http://127.0.0.1:9/\n",
            dir, limit);
    fclose(fp);
    if (tb_config_load(path, &c, &errs, &nerrs) != 0 || nerrs > 0) {
        fprintf(stderr, "config: %s\n", nerrs > 0 ? errs[0].msg : "failed");
        exit(1);
    }
    return c;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof(*v), cmp);
    return v[RUNS / 2];
}

int main(int argc, char **argv)
{
    long entries = argc > 3 ? atol(argv[3]) : 80000, next;
    size_t limit = argc > 4 ? (size_t)atol(argv[4]) : 50, nnew = argc > 5 ? atol(argv[5]) : 10;
    struct tb_config *cfg;
    struct tb_site site = {0};
    struct tb_store *s = NULL;
    double idle[RUNS], fresh[RUNS], pub[RUNS], first;
    int64_t pages = 0, ids[1000];
    char err[512] = "";
    size_t i, k;

    if (argc < 3 || nnew > 1000) {
        fprintf(stderr, "usage: archive_bench DB PUBLIC_DIR [ENTRIES [LIMIT [NEW<=1000]]]\n");
        return 2;
    }
    if (tb_store_open(&s, argv[1], 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    exec(tb_store_db(s), "INSERT INTO sources(id, name) VALUES(1, 's1')");
    fill(tb_store_db(s), 0, entries);
    first = update_all(s, limit, NULL, 0, &pages);
    printf("entries %ld, limit %zu: first update %.1f ms (%lld pages formed)\n", entries, limit,
           first, (long long)pages);
    if (argc > 6 && strcmp(argv[6], "setup") == 0) {
        tb_store_close(s);
        return 0;
    }
    next = entries;
    for (k = 0; k < RUNS; k++) {
        idle[k] = update_all(s, limit, NULL, 0, &pages);
        fill(tb_store_db(s), next, (long)nnew);
        for (i = 0; i < nnew; i++)
            ids[i] = next + 1 + (int64_t)i;
        next += (long)nnew;
        fresh[k] = update_all(s, limit, ids, nnew, &pages);
    }
    printf("update, nothing new: median %.2f ms\n", median(idle));
    printf("update after %zu new entries: median %.2f ms\n", nnew, median(fresh));
    cfg = load_config(argv[2], limit);
    site.cfg = cfg;
    site.store = s;
    for (k = 0; k < RUNS; k++) {
        fill(tb_store_db(s), next, (long)nnew);
        for (i = 0; i < nnew; i++)
            ids[i] = next + 1 + (int64_t)i;
        next += (long)nnew;
        double t0 = now_ms();
        int rc = tb_site_publish_changed(&site, ids, nnew, err, sizeof(err));

        if (rc != 0) {
            fprintf(stderr, "publish: %d %s\n", rc, err);
            return 1;
        }
        pub[k] = now_ms() - t0;
    }
    printf("tb_site_publish_changed after %zu new entries (files only, /all, pages): median "
           "%.1f ms\n",
           nnew, median(pub));
    tb_store_close(s);
    tb_config_free(cfg);
    return 0;
}
