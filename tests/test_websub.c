/*
 * Unit tests for tb_websub.h: the hub's tables (put, renew, owe, load,
 * expire, delete, document hashes; across a close and reopen), and the
 * hub's request checks, reached by including websub.c (h2o's way): topic
 * URLs to feed paths, lease clamping, literal private hosts.
 */
#include "../src/websub.c"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define T0 ((int64_t)1700000000)

static char dir[64], dbpath[1024], err[512];

static struct tb_store *open_db(void)
{
    struct tb_store *s = NULL;

    CHECK_OK(tb_store_open(&s, dbpath, 0, err, sizeof(err)));
    if (s == NULL) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    return s;
}

static void test_table(void)
{
    struct tb_store *s = open_db();
    struct tb_websub_sub *subs = NULL;
    int64_t a = 0, b = 0, again = 0;
    size_t n = 0, removed = 0;
    char hash[65];

    CHECK_OK(tb_websub_store_put(s, "topics/t.atom", "http://a.example/cb", "k1", 3600, T0, &a, err,
                                 sizeof(err)));
    CHECK_OK(tb_websub_store_put(s, "topics/t.rss", "http://b.example/cb?x=1", NULL, 60, T0, &b,
                                 err, sizeof(err)));
    CHECK(a > 0 && b > 0 && a != b);
    /* A renewal keeps the row, replaces the secret and moves the expiry. */
    CHECK_OK(tb_websub_store_put(s, "topics/t.atom", "http://a.example/cb", "k2", 7200, T0 + 10,
                                 &again, err, sizeof(err)));
    CHECK_EQ(again, a);
    /* What is owed and the hashes, in one flush (a gone row is skipped). */
    {
        struct tb_websub_owed owed[] = {{a, 1, 0, T0 + 20}, {b, 1, 3, T0 + 500}, {999, 1, 1, 1}};
        struct tb_websub_hash hashes[] = {{"all.atom", "ab12"}, {"all.rss", "ef56"}};

        CHECK_OK(tb_websub_store_flush(s, owed, 3, hashes, 2, 0, err, sizeof(err)));
        hashes[0].hash = "cd34";
        CHECK_OK(tb_websub_store_flush(s, NULL, 0, hashes, 1, 0, err, sizeof(err)));
        CHECK_OK(tb_websub_store_flush(s, NULL, 0, NULL, 0, 0, err, sizeof(err)));
    }
    tb_store_close(s);

    s = open_db();
    CHECK_OK(tb_websub_store_load(s, T0 + 30, &subs, &n, err, sizeof(err)));
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_EQ(subs[0].id, a);
        CHECK_STR(subs[0].topic, "topics/t.atom");
        CHECK_STR(subs[0].callback, "http://a.example/cb");
        CHECK_STR(subs[0].secret, "k2");
        CHECK_EQ(subs[0].lease, 7200);
        CHECK_EQ(subs[0].expires, T0 + 10 + 7200);
        CHECK_EQ(subs[0].pending, 1);
        CHECK_EQ(subs[0].attempts, 0);
        CHECK_EQ(subs[0].next_try, T0 + 20);
        CHECK(subs[1].secret == NULL);
        CHECK_EQ(subs[1].pending, 1);
        CHECK_EQ(subs[1].attempts, 3);
        CHECK_EQ(subs[1].next_try, T0 + 500);
    }
    tb_websub_subs_free(subs, n);
    /* Another connection holding the write lock: a flush that must not
     * wait says so at once, one that may wait waits for it. */
    {
        struct tb_store *other = open_db();
        struct tb_websub_owed owed[] = {{a, 0, 0, T0 + 30}};

        CHECK_OK(tb_store_begin(other, err, sizeof(err)));
        /* Writing the row: PostgreSQL locks rows as they are written, not
         * the database at BEGIN as SQLite does. */
        CHECK_OK(tb_websub_store_flush(other, owed, 1, NULL, 0, 1, err, sizeof(err)));
        CHECK_EQ(tb_websub_store_flush(s, owed, 1, NULL, 0, 0, err, sizeof(err)), -EAGAIN);
        CHECK_OK(tb_store_commit(other, err, sizeof(err)));
        CHECK_OK(tb_websub_store_flush(s, owed, 1, NULL, 0, 0, err, sizeof(err)));
        tb_store_close(other);
        CHECK_OK(tb_websub_store_load(s, T0 + 40, &subs, &n, err, sizeof(err)));
        CHECK(n == 2 && subs[0].pending == 0 && subs[0].next_try == T0 + 30);
        tb_websub_subs_free(subs, n);
    }
    /* Expired ones are not loaded, then removed. */
    CHECK_OK(tb_websub_store_load(s, T0 + 61, &subs, &n, err, sizeof(err)));
    CHECK(n == 1 && subs[0].id == a);
    tb_websub_subs_free(subs, n);
    CHECK_OK(tb_websub_store_expire(s, T0 + 61, &removed, err, sizeof(err)));
    CHECK_EQ(removed, 1);
    CHECK_OK(tb_websub_store_expire(s, T0 + 61, &removed, err, sizeof(err)));
    CHECK_EQ(removed, 0);
    /* Deleting by key (also one that is not there) and by id. */
    CHECK_OK(tb_websub_store_del(s, "topics/t.atom", "http://nobody.example/", err, sizeof(err)));
    CHECK_OK(tb_websub_store_del(s, "topics/t.atom", "http://a.example/cb", err, sizeof(err)));
    CHECK_OK(tb_websub_store_load(s, T0, &subs, &n, err, sizeof(err)));
    CHECK_EQ(n, 0);
    tb_websub_subs_free(subs, n);
    CHECK_OK(tb_websub_store_put(s, "all.json", "https://c.example/", NULL, 60, T0, &a, err,
                                 sizeof(err)));
    CHECK_OK(tb_websub_store_del_id(s, a, err, sizeof(err)));
    CHECK_OK(tb_websub_store_load(s, T0, &subs, &n, err, sizeof(err)));
    CHECK_EQ(n, 0);
    tb_websub_subs_free(subs, n);
    /* Document hashes. */
    CHECK_OK(tb_websub_store_hash(s, "all.json", hash, err, sizeof(err)));
    CHECK_STR(hash, "");
    CHECK_OK(tb_websub_store_hash(s, "all.atom", hash, err, sizeof(err)));
    CHECK_STR(hash, "cd34");
    CHECK_OK(tb_websub_store_hash(s, "all.rss", hash, err, sizeof(err)));
    CHECK_STR(hash, "ef56");
    tb_store_close(s);
}

static void test_topic_paths(void)
{
    static char *topics_names[] = {"ml", "a.b"};
    struct tb_config_topic topics[2] = {{.name = topics_names[0]}, {.name = topics_names[1]}};
    struct tb_config c = {.base_url = "https://feeds.example/sub/", .topics = topics, .ntopics = 2};
    static const struct {
        const char *url;
        const char *path; /* NULL: not ours */
    } rows[] = {
        {"https://feeds.example/sub/all.atom", "all.atom"},
        {"HTTPS://FEEDS.example/sub/all.json", "all.json"},
        {"https://feeds.example/sub/topics/ml.rss", "topics/ml.rss"},
        {"https://feeds.example/sub/topics/a.b.atom", "topics/a.b.atom"},
        {"https://feeds.example/sub/trending.json", "trending.json"},
        {"https://feeds.example/sub/trending/ml.atom", "trending/ml.atom"},
        {"https://feeds.example/sub/topics/nope.atom", NULL},
        {"https://feeds.example/sub/topics/ml.html", NULL},
        {"https://feeds.example/sub/topics/ml", NULL},
        {"https://feeds.example/sub/sources.opml", NULL},
        {"https://feeds.example/sub/../all.atom", NULL},
        {"https://feeds.example/all.atom", NULL},
        {"http://feeds.example/sub/all.atom", NULL},
        {"https://evil.example/sub/all.atom", NULL},
        {"https://feeds.example/sub/all.atom?x=1", NULL},
        {"https://feeds.example/sub/topics/ml.atom/x.atom", NULL},
        {"", NULL},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *got = topic_path(&c, rows[i].url);

        if (rows[i].path == NULL ? got != NULL : got == NULL || strcmp(got, rows[i].path) != 0)
            fprintf(stderr, "topic %s: got %s\n", rows[i].url, got ? got : "(none)");
        CHECK_STR(got, rows[i].path);
    }
}

/* Deliveries once across nodes: a claim per (subscription, document
 * hash), held until settled or its lease ends; attempts and backoff are
 * the row's, whichever node tries next. */
static void test_claims(void)
{
    struct tb_store *s = open_db();
    struct tb_websub_claim c, d;
    struct tb_websub_sub *subs = NULL;
    int64_t id = 0, gone = 0;
    size_t n = 0;

    CHECK_OK(tb_websub_store_put(s, "topics/c.atom", "http://c.example/cb", NULL, 3600, T0, &id,
                                 err, sizeof(err)));
    /* n1 claims H1; n2 finds it held until the lease's end. */
    CHECK_EQ(tb_websub_store_claim(s, id, "h1", "n1", T0, 120, &c, err, sizeof(err)), 1);
    CHECK(c.token > 0);
    CHECK_EQ(c.attempts, 0);
    CHECK_EQ(tb_websub_store_claim(s, id, "h1", "n2", T0 + 1, 120, &d, err, sizeof(err)), 0);
    CHECK_EQ(d.wait_until, T0 + 120);
    CHECK_EQ(d.held, 1);
    /* Accepted: H1 is owed to nobody any more, on any node. */
    CHECK_OK(tb_websub_store_settle(s, id, c.token, "h1", 0, 0, err, sizeof(err)));
    CHECK_EQ(tb_websub_store_claim(s, id, "h1", "n2", T0 + 2, 120, &d, err, sizeof(err)), 0);
    CHECK_EQ(d.wait_until, 0);
    /* H2 fails on n2: n1 waits for the backoff, then makes attempt 2. */
    CHECK_EQ(tb_websub_store_claim(s, id, "h2", "n2", T0 + 3, 120, &d, err, sizeof(err)), 1);
    CHECK_OK(tb_websub_store_settle(s, id, d.token, NULL, 1, T0 + 63, err, sizeof(err)));
    CHECK_EQ(tb_websub_store_claim(s, id, "h2", "n1", T0 + 30, 120, &c, err, sizeof(err)), 0);
    CHECK_EQ(c.wait_until, T0 + 63);
    CHECK_EQ(c.held, 0);
    CHECK_EQ(tb_websub_store_claim(s, id, "h2", "n1", T0 + 63, 120, &c, err, sizeof(err)), 1);
    CHECK_EQ(c.attempts, 1);
    CHECK(c.token > d.token);
    /* n1 dies mid-delivery: its lease ends, n2 takes over, n1's late
     * outcome is refused. */
    CHECK_EQ(tb_websub_store_claim(s, id, "h2", "n2", T0 + 182, 120, &d, err, sizeof(err)), 0);
    CHECK_EQ(tb_websub_store_claim(s, id, "h2", "n2", T0 + 183, 120, &d, err, sizeof(err)), 1);
    CHECK_EQ(d.attempts, 1);
    CHECK_EQ(tb_websub_store_settle(s, id, c.token, "h2", 0, 0, err, sizeof(err)), TB_ELEASE);
    CHECK_OK(tb_websub_store_settle(s, id, d.token, "h2", 0, 0, err, sizeof(err)));
    /* A flush from a node of the cluster marks owed, leaving attempts. */
    CHECK_EQ(tb_websub_store_claim(s, id, "h3", "n1", T0 + 200, 120, &c, err, sizeof(err)), 1);
    CHECK_OK(tb_websub_store_settle(s, id, c.token, NULL, 4, T0 + 300, err, sizeof(err)));
    {
        struct tb_websub_owed owed[] = {{id, 1, -1, 0}};

        CHECK_OK(tb_websub_store_flush(s, owed, 1, NULL, 0, 1, err, sizeof(err)));
    }
    CHECK_OK(tb_websub_store_load(s, T0 + 200, &subs, &n, err, sizeof(err)));
    for (size_t i = 0; i < n; i++) {
        if (subs[i].id != id)
            continue;
        CHECK_EQ(subs[i].pending, 1);
        CHECK_EQ(subs[i].attempts, 4);
        CHECK_EQ(subs[i].next_try, T0 + 300);
    }
    tb_websub_subs_free(subs, n);
    /* Expired or gone: nothing owed. */
    CHECK_EQ(tb_websub_store_claim(s, id, "h4", "n1", T0 + 3600, 120, &c, err, sizeof(err)), 0);
    CHECK_EQ(c.wait_until, 0);
    CHECK_OK(tb_websub_store_put(s, "topics/g.atom", "http://g.example/cb", NULL, 3600, T0, &gone,
                                 err, sizeof(err)));
    CHECK_OK(tb_websub_store_del_id(s, gone, err, sizeof(err)));
    CHECK_EQ(tb_websub_store_claim(s, gone, "h1", "n1", T0, 120, &c, err, sizeof(err)), 0);
    CHECK_EQ(c.wait_until, 0);
    CHECK_OK(tb_websub_store_del_id(s, id, err, sizeof(err)));
    tb_store_close(s);
}

#define DOCS 40

struct deliverer {
    const char *node;
    int claimed; /* deliveries this node claimed */
    int rc;
    char err[512];
    int64_t id;
    pthread_barrier_t *start;
};

/* Claims each document's delivery at the same moment as the other node
 * and settles it as accepted when it got the claim. */
static void *run_deliverer(void *arg)
{
    struct deliverer *c = arg;
    struct tb_store *s = NULL;
    struct tb_websub_claim cl;
    char hash[16];
    int i, got, rc = tb_store_open(&s, dbpath, 0, c->err, sizeof(c->err));

    for (i = 0; i < DOCS; i++) {
        snprintf(hash, sizeof(hash), "doc%d", i);
        pthread_barrier_wait(c->start);
        got = rc ? 0
                 : tb_websub_store_claim(s, c->id, hash, c->node, T0 + i, 120, &cl, c->err,
                                         sizeof(c->err));
        if (got < 0)
            rc = got;
        if (got == 1) {
            c->claimed++;
            rc = tb_websub_store_settle(s, c->id, cl.token, hash, 0, 0, c->err, sizeof(c->err));
        }
        pthread_barrier_wait(c->start);
    }
    c->rc = rc;
    tb_store_close(s);
    return NULL;
}

/* Two nodes (two connections, two threads) seeing each document at once:
 * each is delivered by exactly one of them. */
static void test_claims_concurrent(void)
{
    struct tb_store *s = open_db();
    struct deliverer c[2] = {{.node = "n1"}, {.node = "n2"}};
    pthread_barrier_t start;
    pthread_t t[2];
    int64_t id = 0;

    CHECK_OK(tb_websub_store_put(s, "topics/r.atom", "http://r.example/cb", NULL, 86400, T0, &id,
                                 err, sizeof(err)));
    tb_store_close(s);
    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++) {
        c[i].id = id;
        c[i].start = &start;
        CHECK_OK(pthread_create(&t[i], NULL, run_deliverer, &c[i]));
    }
    for (int i = 0; i < 2; i++)
        CHECK_OK(pthread_join(t[i], NULL));
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; i++) {
        if (c[i].rc != 0)
            fprintf(stderr, "%s: %s\n", c[i].node, c[i].err);
        CHECK_OK(c[i].rc);
    }
    CHECK_EQ(c[0].claimed + c[1].claimed, DOCS);
}

static void test_leases(void)
{
    struct tb_config_websub w = {.lease = 864000, .lease_min = 3600, .lease_max = 2592000};

    CHECK_EQ(lease_of(&w, NULL), 864000);
    CHECK_EQ(lease_of(&w, ""), 864000);
    CHECK_EQ(lease_of(&w, "0"), 3600);
    CHECK_EQ(lease_of(&w, "3599"), 3600);
    CHECK_EQ(lease_of(&w, "86400"), 86400);
    CHECK_EQ(lease_of(&w, "2592001"), 2592000);
    CHECK_EQ(lease_of(&w, "9999999999999"), 2592000);
    CHECK_EQ(lease_of(&w, "99999999999999999999999"), -1);
    CHECK_EQ(lease_of(&w, "-1"), -1);
    CHECK_EQ(lease_of(&w, "1d"), -1);
    CHECK_EQ(lease_of(&w, " 60"), -1);
}

static void test_private_hosts(void)
{
    static const char *const refused[] = {
        "127.0.0.1",   "localhost", "a.localhost",        "[::1]",   "10.0.0.1",   "192.168.0.1",
        "169.254.0.1", "[fe80::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "100.64.1.1", ""};
    static const char *const allowed[] = {"example.org", "8.8.8.8", "[2606:4700::1111]",
                                          "127.0.0.1.example.org"};

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (!host_private(refused[i]))
            fprintf(stderr, "host %s not refused\n", refused[i]);
        CHECK(host_private(refused[i]));
    }
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        CHECK(!host_private(allowed[i]));
}

int main(void)
{
    char cmd[128];

    if (!st_ready())
        CHECK_DONE();
    snprintf(dir, sizeof(dir), "/tmp/tb-websub-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(dbpath, sizeof(dbpath), "%s", st_target(dir, "t.db"));
    test_table();
    test_claims();
    test_claims_concurrent();
    test_topic_paths();
    test_leases();
    test_private_hosts();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_OK(system(cmd));
    CHECK_DONE();
}
