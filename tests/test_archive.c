/* Tests for tb_archive: which entries form each RFC 5005 archive page, and
 * that a page, once formed, never changes (new, late-dated and updated
 * entries, another feed, limit 0, a bad feed name). */
#include "tb_archive.h"
#include "tb_db.h"
#include "tb_store.h"

#include <sqlite3.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define S(f, x) tb_arena_strdup(&(f)->arena, (x))

static char dir[64], dbpath[1024], errbuf[512];

static void add(struct tb_feed *f, const char *key, const char *text, int64_t published)
{
    struct tb_entry *e = tb_entry_new(f);

    e->key = S(f, key);
    e->id = S(f, key);
    e->title = S(f, key);
    e->text = S(f, text);
    e->published = published;
    tb_feed_append(f, e);
}

/* Entries w<from>..w<to> about walruses, w<i> published at 1000 + 60 i. */
static void put_walruses(struct tb_store *s, int64_t src, int from, int to, int64_t seen)
{
    struct tb_feed *f = tb_feed_new();
    char key[16];
    int i;

    for (i = from; i <= to; i++) {
        snprintf(key, sizeof(key), "w%d", i);
        add(f, key, "walrus notes", 1000 + 60 * (int64_t)i);
    }
    CHECK_OK(tb_store_put_feed(s, src, f, seen, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    tb_feed_free(f);
}

/* The keys of ids, space-separated, in order. */
static const char *keys(struct tb_store *s, const int64_t *ids, size_t n)
{
    static char out[1024];
    struct tb_feed *f = NULL;
    struct tb_entry *e;

    out[0] = '\0';
    if (n == 0)
        return out;
    CHECK_OK(tb_store_load(s, ids, n, &f, errbuf, sizeof(errbuf)));
    for (e = f ? f->entries : NULL; e != NULL; e = e->next) {
        if (out[0] != '\0')
            strcat(out, " ");
        strcat(out, e->key);
    }
    tb_feed_free(f);
    return out;
}

static const char *page(struct tb_store *s, const char *feed, int64_t n)
{
    int64_t *ids = NULL;
    size_t nids = 0;
    const char *k;

    CHECK_OK(tb_archive_page(s, feed, n, &ids, &nids, errbuf, sizeof(errbuf)));
    k = keys(s, ids, nids);
    free(ids);
    return k;
}

/* Updates the archive of feed with pages of limit; returns the current keys. */
static const char *update(struct tb_store *s, const char *feed, const char *query, size_t limit,
                          int64_t *pages)
{
    int64_t *ids = NULL;
    size_t n = 0;
    const char *k;

    CHECK_OK(tb_archive_update(s, feed, query, NULL, 0, limit, NULL, 0, &ids, &n, pages, errbuf,
                               sizeof(errbuf)));
    k = keys(s, ids, n);
    free(ids);
    return k;
}

static void test_pages(struct tb_store *s, int64_t src)
{
    struct tb_feed *f;
    int64_t pages = -1;

    /* No entries: nothing current, no pages. */
    CHECK_STR(update(s, "topics/w", "walrus", 5, &pages), "");
    CHECK_EQ(pages, 0);
    put_walruses(s, src, 1, 23, 100);
    /* 23 entries, pages of 5 cut while 10 or more are left: 3 pages, 8 current. */
    CHECK_STR(update(s, "topics/w", "walrus", 5, &pages), "w23 w22 w21 w20 w19 w18 w17 w16");
    CHECK_EQ(pages, 3);
    CHECK_STR(page(s, "topics/w", 1), "w5 w4 w3 w2 w1");
    CHECK_STR(page(s, "topics/w", 2), "w10 w9 w8 w7 w6");
    CHECK_STR(page(s, "topics/w", 3), "w15 w14 w13 w12 w11");
    CHECK_STR(page(s, "topics/w", 4), "");
    CHECK_STR(page(s, "topics/w", 0), "");
    /* Again with nothing new: the same. */
    CHECK_STR(update(s, "topics/w", "walrus", 5, &pages), "w23 w22 w21 w20 w19 w18 w17 w16");
    CHECK_EQ(pages, 3);
    pages = 0;
    CHECK_OK(tb_archive_pages(s, "topics/w", &pages, errbuf, sizeof(errbuf)));
    CHECK_EQ(pages, 3);

    /* A new entry, one dated before everything (it never was current), and
     * w2 (archived) updated: page 4 takes the oldest five of what is not
     * archived, the late one among them; w2 stays on page 1 and out of the
     * current document. */
    f = tb_feed_new();
    add(f, "w24", "walrus notes", 1000 + 60 * 24);
    add(f, "w0", "walrus notes", 10);
    add(f, "w2", "walrus notes, edited", 1000 + 60 * 30);
    CHECK_OK(tb_store_put_feed(s, src, f, 200, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    tb_feed_free(f);
    CHECK_STR(update(s, "topics/w", "walrus", 5, &pages), "w24 w23 w22 w21 w20");
    CHECK_EQ(pages, 4);
    CHECK_STR(page(s, "topics/w", 4), "w19 w18 w17 w16 w0");
    CHECK_STR(page(s, "topics/w", 1), "w5 w4 w3 w2 w1");
    CHECK_STR(page(s, "topics/w", 3), "w15 w14 w13 w12 w11");
    /* A new query matches every entry again: those on pages stay there, out
     * of the current document, and no page is cut anew. */
    CHECK_STR(update(s, "topics/w", "walrus OR narwhal", 5, &pages), "w24 w23 w22 w21 w20");
    CHECK_EQ(pages, 4);
    CHECK_STR(page(s, "topics/w", 4), "w19 w18 w17 w16 w0");
    CHECK_STR(page(s, "topics/w", 5), "");

    /* Another feed over the same entries has pages of its own. */
    CHECK_STR(update(s, "all", NULL, 10, &pages),
              "w24 w23 w22 w21 w20 w19 w18 w17 w16 w15 w14 w13 w12 w11 w10");
    CHECK_EQ(pages, 1);
    CHECK_STR(page(s, "all", 1), "w9 w8 w7 w6 w5 w4 w3 w2 w1 w0");
    /* Limit 0: no pages, everything current. */
    CHECK_STR(update(s, "topics/nolimit", "walrus", 0, &pages),
              "w24 w23 w22 w21 w20 w19 w18 w17 w16 w15 w14 w13 w12 w11 w10 w9 w8 w7 w6 w5 "
              "w4 w3 w2 w1 w0");
    CHECK_EQ(pages, 0);
}

/* As update(), with the entries just changed. */
static const char *update_changed(struct tb_store *s, const char *feed, const char *query,
                                  size_t limit, const int64_t *changed, size_t nchanged)
{
    int64_t *ids = NULL, pages = 0;
    size_t n = 0;
    const char *k;

    CHECK_OK(tb_archive_update(s, feed, query, NULL, 0, limit, changed, nchanged, &ids, &n, &pages,
                               errbuf, sizeof(errbuf)));
    k = keys(s, ids, n);
    free(ids);
    return k;
}

static void exec_sql(struct tb_store *s, const char *sql)
{
    CHECK_OK(tb_db_exec(tb_store_sql(s), sql, errbuf, sizeof(errbuf)));
}

/* Puts one entry (key, text, published) and returns its id. */
static int64_t put_one(struct tb_store *s, int64_t src, const char *key, const char *text,
                       int64_t published)
{
    struct tb_feed *f = tb_feed_new();
    int64_t *ids = NULL, id = 0;
    size_t n = 0;

    add(f, key, text, published);
    f->entries->summary.value = S(f, text); /* a change the store sees */
    CHECK_OK(tb_store_put_feed(s, src, f, 300, NULL, &ids, &n, errbuf, sizeof(errbuf)));
    if (n > 0)
        id = ids[0];
    free(ids);
    tb_feed_free(f);
    return id;
}

/* An update looks at the entries stored since the last one, the changed ones
 * and the current ones, not at the whole feed: entries made to look old
 * (their ids below the feed's mark) are not seen until they are listed as
 * changed. Changed current entries that stop matching leave; a new query
 * matches everything again, keeping the pages. */
static void test_incremental(struct tb_store *s, int64_t src)
{
    int64_t x, y, pages = 0;

    CHECK_STR(update(s, "topics/inc", "puffin", 2, &pages), "");
    /* The feed's mark moves past the ids the next entries will get. */
    exec_sql(s, "UPDATE archive_feeds SET seen = seen + 100 WHERE feed = 'topics/inc'");
    x = put_one(s, src, "p1", "puffin one", 5000);
    y = put_one(s, src, "p2", "puffin two", 5060);
    CHECK_STR(update(s, "topics/inc", "puffin", 2, &pages), "");
    /* Listed as changed, they are looked at. */
    CHECK_STR(update_changed(s, "topics/inc", "puffin", 2, &x, 1), "p1");
    CHECK_STR(update_changed(s, "topics/inc", "puffin", 2, &y, 1), "p2 p1");
    /* p1 changed and no longer about puffins: it leaves the current document. */
    CHECK_EQ(put_one(s, src, "p1", "gannet one", 5000), x);
    CHECK_STR(update_changed(s, "topics/inc", "puffin", 2, &x, 1), "p2");
    /* A new query: every entry is matched again. */
    CHECK_STR(update(s, "topics/inc", "gannet OR puffin", 2, &pages), "p2 p1");
    CHECK_EQ(pages, 0);
    exec_sql(s, "UPDATE archive_feeds SET seen = 0 WHERE feed = 'topics/inc'");
}

/* "w%d" keys from..to, space-separated (to < from: downwards). */
static const char *wkeys(int from, int to)
{
    static char out[1024];
    int i, step = to < from ? -1 : 1;

    out[0] = '\0';
    for (i = from; i != to + step; i += step)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%sw%d", i == from ? "" : " ", i);
    return out;
}

/* A page longer than the rows one statement records (64 in archive.c) is
 * recorded in parts, each entry at its place. */
static void test_long_pages(void)
{
    struct tb_store *b = NULL;
    int64_t src = 0, pages = 0;
    char path[1024];

    snprintf(path, sizeof(path), "%s", st_target(dir, "archive_long.db"));
    CHECK_OK(tb_store_open(&b, path, 0, errbuf, sizeof(errbuf)));
    if (b == NULL)
        return;
    CHECK_OK(tb_store_source(b, "a", NULL, &src, errbuf, sizeof(errbuf)));
    put_walruses(b, src, 100, 244, 100);
    /* 145 entries, pages of 70: one page (the oldest 70), 75 current. */
    CHECK_STR(update(b, "all", NULL, 70, &pages), wkeys(244, 170));
    CHECK_EQ(pages, 1);
    CHECK_STR(page(b, "all", 1), wkeys(169, 100));
    /* Pages of 64 (one part each): one page, 81 current. */
    CHECK_STR(update(b, "topics/x", "walrus", 64, &pages), wkeys(244, 164));
    CHECK_EQ(pages, 1);
    CHECK_STR(page(b, "topics/x", 1), wkeys(163, 100));
    tb_store_close(b);
    unlink(path);
}

static void test_errors(struct tb_store *s)
{
    char longname[TB_ARCHIVE_FEED_MAX + 8];
    int64_t *ids = (int64_t *)1, pages = 7;
    size_t n = 9;

    CHECK_EQ(tb_archive_update(s, "", NULL, NULL, 0, 5, NULL, 0, &ids, &n, &pages, errbuf,
                               sizeof(errbuf)),
             -EINVAL);
    CHECK(ids == NULL);
    CHECK_EQ(n, 0);
    CHECK_EQ(pages, 0);
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    CHECK_EQ(tb_archive_update(s, longname, NULL, NULL, 0, 5, NULL, 0, &ids, &n, &pages, errbuf,
                               sizeof(errbuf)),
             -EINVAL);
    CHECK_EQ(tb_archive_update(s, "topics/bad", "AND AND", NULL, 0, 5, NULL, 0, &ids, &n, &pages,
                               errbuf, sizeof(errbuf)),
             TB_EQUERY);
    CHECK(ids == NULL);
}

#define RACE_ROUNDS 30 /* entries each of the two nodes stores */
#define RACE_LIMIT 4   /* entries a page */

struct racer {
    const char *target; /* the database */
    int64_t src;        /* its own source */
    int k;              /* 0 or 1 */
    int rc;
    char err[512];
    pthread_barrier_t *start;
};

/* One node: each round stores one entry of its own, then brings "all"'s
 * archive up to date with it listed as changed (as the daemon's publish
 * does), at the same moments as the other node. */
static void *run_racer(void *arg)
{
    struct racer *c = arg;
    struct tb_store *s = NULL;
    int64_t *ids = NULL, *cur = NULL, pages = 0;
    size_t n = 0, ncur = 0;
    char key[32];
    int rc = tb_store_open(&s, c->target, 0, c->err, sizeof(c->err));

    for (int i = 0; i < RACE_ROUNDS; i++) {
        struct tb_feed *f = tb_feed_new();

        snprintf(key, sizeof(key), "r%d-%d", c->k, i);
        add(f, key, "race notes", 5000 + 60 * (int64_t)(2 * i + c->k));
        pthread_barrier_wait(c->start);
        if (rc == 0)
            rc = tb_store_put_feed(s, c->src, f, 300, NULL, &ids, &n, c->err, sizeof(c->err));
        if (rc == 0)
            rc = tb_archive_update(s, "all", NULL, NULL, 0, RACE_LIMIT, ids, n, &cur, &ncur, &pages,
                                   c->err, sizeof(c->err));
        free(ids);
        free(cur);
        ids = cur = NULL;
        tb_feed_free(f);
    }
    c->rc = rc;
    tb_store_close(s);
    return NULL;
}

static int64_t q1(struct tb_store *s, const char *sql)
{
    int64_t v = -1;

    CHECK_OK(tb_db_scalar(tb_store_sql(s), &v, errbuf, sizeof(errbuf), sql, ""));
    return v;
}

/* Two nodes (two connections, two threads) storing entries and forming
 * the same feed's pages at the same moments: every page is formed once,
 * with exactly `limit` entries, pages numbered 1..N without a gap, and
 * every entry is on exactly one page or current. */
static void test_concurrent(void)
{
    const char *target = st_target(dir, "race.db");
    struct racer c[2] = {{.k = 0}, {.k = 1}};
    struct tb_store *s = NULL;
    pthread_barrier_t start;
    pthread_t t[2];
    int64_t *cur = NULL, pages = 0;
    size_t ncur = 0;

    CHECK_OK(tb_store_open(&s, target, 0, errbuf, sizeof(errbuf)));
    if (s == NULL)
        return;
    CHECK_OK(tb_store_source(s, "r0", NULL, &c[0].src, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_source(s, "r1", NULL, &c[1].src, errbuf, sizeof(errbuf)));
    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++) {
        c[i].target = target;
        c[i].start = &start;
        CHECK_OK(pthread_create(&t[i], NULL, run_racer, &c[i]));
    }
    for (int i = 0; i < 2; i++)
        CHECK_OK(pthread_join(t[i], NULL));
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; i++) {
        if (c[i].rc != 0)
            fprintf(stderr, "racer %d: %s\n", i, c[i].err);
        CHECK_OK(c[i].rc);
    }
    /* Once both are done, an update (any node's next publish) settles. */
    CHECK_OK(tb_archive_update(s, "all", NULL, NULL, 0, RACE_LIMIT, NULL, 0, &cur, &ncur, &pages,
                               errbuf, sizeof(errbuf)));
    free(cur);
    CHECK_EQ(q1(s, "SELECT count(*) FROM entries"), 2 * RACE_ROUNDS);
    CHECK_EQ(q1(s, "SELECT count(*) FROM archive WHERE feed = 'all'"), 2 * RACE_ROUNDS);
    CHECK_EQ(q1(s, "SELECT count(DISTINCT entry_id) FROM archive WHERE feed = 'all'"),
             2 * RACE_ROUNDS);
    CHECK_EQ(q1(s, "SELECT count(*) FROM (SELECT page FROM archive WHERE feed = 'all' AND page > 0"
                   " GROUP BY page HAVING count(*) <> 4) x"),
             0);
    CHECK_EQ(q1(s, "SELECT count(DISTINCT page) FROM archive WHERE feed = 'all' AND page > 0"),
             pages);
    CHECK_EQ(q1(s, "SELECT coalesce(max(page), 0) FROM archive WHERE feed = 'all'"), pages);
    CHECK(pages >= (2 * RACE_ROUNDS) / RACE_LIMIT - 2);
    CHECK(ncur >= RACE_LIMIT && ncur < 2 * RACE_LIMIT);
    tb_store_close(s);
    if (!st_is_pg())
        unlink(target);
}

int main(void)
{
    struct tb_store *s = NULL;
    int64_t src = 0;

    if (!st_ready())
        CHECK_DONE();
    snprintf(dir, sizeof(dir), "/tmp/tb_archive_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(dbpath, sizeof(dbpath), "%s", st_target(dir, "archive.db"));
    CHECK_OK(tb_store_open(&s, dbpath, 0, errbuf, sizeof(errbuf)));
    if (s == NULL)
        return 1;
    CHECK_OK(tb_store_source(s, "a", NULL, &src, errbuf, sizeof(errbuf)));
    test_pages(s, src);
    test_incremental(s, src);
    test_long_pages();
    test_errors(s);
    test_concurrent();
    tb_store_close(s);
    unlink(dbpath);
    rmdir(dir);
    CHECK_DONE();
}
