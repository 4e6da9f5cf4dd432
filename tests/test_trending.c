/* Tests for tb_trending and the mentions the store records: corroboration,
 * groups, weights, window, decay, newsletters, repeated mentions, HF/arXiv
 * identity, topics. Feeds go through tb_norm_feed() as the daemon's do. */
#include "tb_normalize.h"
#include "tb_store.h"
#include "tb_trending.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define S(f, x) tb_arena_strdup(&(f)->arena, (x))
#define HOUR 3600
#define DAY 86400
/* In the past, so that no date is clamped to the real clock. */
#define NOW 1700000000

static char dir[64];
static char errbuf[512];
static int ndb;

/* A fresh database in the test directory. */
static struct tb_store *open_store(void)
{
    struct tb_store *s = NULL;
    char name[32];
    int rc;

    snprintf(name, sizeof(name), "t%d.db", ndb++);
    rc = tb_store_open(&s, st_target(dir, name), TB_STORE_TEMP, errbuf, sizeof(errbuf));
    if (rc != 0)
        fprintf(stderr, "open: %s\n", errbuf);
    CHECK_OK(rc);
    return s;
}

/* Appends an entry linking to `link` with an HTML summary, published at t
 * (TB_TIME_NONE: no date). */
static void item(struct tb_feed *f, const char *link, const char *title, const char *html,
                 int64_t t)
{
    struct tb_entry *e = tb_entry_new(f);

    e->link = S(f, link);
    e->title = S(f, title);
    if (html != NULL) {
        e->summary.value = S(f, html);
        e->summary.is_html = 1;
    }
    e->published = t;
    tb_feed_append(f, e);
}

/* Normalizes and stores f (freed) as source `name` of `group` (NULL: its
 * own) with `weight`, seen at seen_at. */
static void put(struct tb_store *s, const char *name, const char *group, double weight,
                struct tb_feed *f, int64_t seen_at)
{
    int64_t id = 0;
    int rc;

    CHECK_OK(tb_norm_feed(f));
    CHECK_OK(tb_store_source(s, name, NULL, &id, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_source_voice(s, id, group, weight, errbuf, sizeof(errbuf)));
    rc = tb_store_put_feed(s, id, f, seen_at, NULL, NULL, NULL, errbuf, sizeof(errbuf));
    if (rc != 0)
        fprintf(stderr, "put %s: %s\n", name, errbuf);
    CHECK_OK(rc);
    tb_feed_free(f);
}

/* One source, one entry. */
static void put1(struct tb_store *s, const char *name, const char *group, double weight,
                 const char *link, const char *html, int64_t t)
{
    struct tb_feed *f = tb_feed_new();

    item(f, link, "T", html, t);
    put(s, name, group, weight, f, t == TB_TIME_NONE ? NOW : t);
}

struct res {
    char key[128];
    double score;
    int groups;
    int64_t entry, first, last;
};

struct list {
    struct res v[64];
    size_t n;
};

static int collect(const struct tb_trending_paper *p, void *data)
{
    struct list *l = data;
    struct res *r;

    if (l->n == 64)
        return -ENOSPC;
    r = &l->v[l->n++];
    snprintf(r->key, sizeof(r->key), "%s", p->key);
    r->score = p->score;
    r->groups = p->groups;
    r->entry = p->entry_id;
    r->first = p->first;
    r->last = p->last;
    return 0;
}

/* The ranking at NOW with the default 7d window and 1d half-life. */
static struct list rank_opts(struct tb_store *s, int64_t window, int64_t half, size_t limit,
                             const char *query)
{
    struct tb_trending_opts o = {
        .now = NOW, .window = window, .half_life = half, .limit = limit, .query = query};
    struct list l;
    int rc;

    memset(&l, 0, sizeof(l));
    rc = tb_trending_select(s, &o, collect, &l, errbuf, sizeof(errbuf));
    if (rc != 0)
        fprintf(stderr, "trending: %s\n", errbuf);
    CHECK_OK(rc);
    return l;
}

static struct list rank(struct tb_store *s)
{
    return rank_opts(s, 7 * DAY, DAY, 0, NULL);
}

static const struct res *find(const struct list *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].key, key) == 0)
            return &l->v[i];
    }
    return NULL;
}

static int near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

static const char *abs_url(const char *id)
{
    static char buf[8][96];
    static int i;

    i = (i + 1) % 8;
    snprintf(buf[i], sizeof(buf[i]), "https://arxiv.org/abs/%sv1", id);
    return buf[i];
}

static const char *link_html(const char *url)
{
    static char buf[4][256];
    static int i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "<p>See <a href=\"%s\">this paper</a>.</p>", url);
    return buf[i];
}

/* Two independent voices beat one; all at the same time, so the score is
 * the number of groups. */
static void test_corroboration(void)
{
    struct tb_store *s = open_store();
    struct list l;

    put1(s, "arxiv-cl", "arxiv", 1, abs_url("2403.00001"), NULL, NOW - HOUR);
    put1(s, "arxiv-lg", "arxiv", 1, abs_url("2403.00002"), NULL, NOW - HOUR);
    put1(s, "blog", NULL, 1, "https://blog.example/p1",
         link_html("https://arxiv.org/pdf/2403.00002v2.pdf"), NOW - HOUR);
    l = rank(s);
    CHECK_EQ(l.n, 2); /* the two papers; the blog post itself has one voice */
    CHECK(find(&l, "link:https://blog.example/p1") == NULL);
    CHECK_STR(l.v[0].key, "arxiv:2403.00002");
    CHECK_EQ(l.v[0].groups, 2);
    CHECK(near(l.v[0].score, 2 * exp2(-1.0 / 24)));
    CHECK(find(&l, "arxiv:2403.00001") != NULL && find(&l, "arxiv:2403.00001")->groups == 1);
    CHECK(l.v[0].entry > 0);
    tb_store_close(s);
}

/* Two listings of one group carrying a cross-listed paper are one voice:
 * a paper in one listing and one other group beats it. */
static void test_group_once(void)
{
    struct tb_store *s = open_store();
    const struct res *c, *d;
    struct list l;

    /* The group's first carrying times it: a day old, half a voice. */
    put1(s, "arxiv-lg", "arxiv", 1, "http://export.arxiv.org/abs/2403.00003v2", NULL, NOW - HOUR);
    put1(s, "arxiv-cl", "arxiv", 1, abs_url("2403.00003"), NULL, NOW - DAY);
    put1(s, "arxiv-ai", "arxiv", 1, abs_url("2403.00004"), NULL, NOW - HOUR);
    put1(s, "hn", NULL, 1, "https://arxiv.org/abs/2403.00004", NULL, NOW - HOUR);
    l = rank(s);
    c = find(&l, "arxiv:2403.00003");
    d = find(&l, "arxiv:2403.00004");
    CHECK(c != NULL && d != NULL);
    if (c != NULL && d != NULL) {
        CHECK_EQ(c->groups, 1);
        CHECK(near(c->score, 0.5));
        CHECK_EQ(d->groups, 2);
        CHECK(d->score > c->score);
    }
    CHECK_STR(l.v[0].key, "arxiv:2403.00004");
    tb_store_close(s);
}

/* Weight 0 counts nothing; a group weighs as its heaviest source. */
static void test_weights(void)
{
    struct tb_store *s = open_store();
    const struct res *r;
    struct list l;

    put1(s, "arxiv", NULL, 1, abs_url("2403.00005"), NULL, NOW);
    for (int i = 0; i < 5; i++) {
        char name[16], url[64];

        snprintf(name, sizeof(name), "spam%d", i);
        snprintf(url, sizeof(url), "https://spam.example/%d", i);
        put1(s, name, NULL, 0, url, link_html(abs_url("2403.00005")), NOW);
    }
    /* "news": weight 3 (its other source, weight 0, never counts alone). */
    put1(s, "news-a", "news", 3, "https://news.example/a", NULL, NOW);
    put1(s, "news-b", "news", 0, "https://news.example/b", link_html(abs_url("2403.00006")), NOW);
    put1(s, "news-c", "news", 0.5, "https://news.example/c", link_html(abs_url("2403.00005")), NOW);
    l = rank(s);
    r = find(&l, "arxiv:2403.00005");
    CHECK(r != NULL && r->groups == 2 && near(r->score, 1 + 3));
    CHECK(find(&l, "arxiv:2403.00006") == NULL);
    CHECK(find(&l, "link:https://spam.example/0") == NULL);
    CHECK_STR(l.v[0].key, "arxiv:2403.00005");
    CHECK_EQ(tb_store_source_voice(s, 1, NULL, -1, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK_EQ(tb_store_source_voice(s, 1, NULL, NAN, errbuf, sizeof(errbuf)), -EINVAL);
    tb_store_close(s);
}

/* Papers whose voices are all older than the window drop out. */
static void test_window(void)
{
    struct tb_store *s = open_store();
    struct list l;

    put1(s, "arxiv", NULL, 1, abs_url("2403.00007"), NULL, NOW - 8 * DAY);
    put1(s, "blog", NULL, 1, "https://blog.example/old", link_html(abs_url("2403.00007")),
         NOW - 8 * DAY);
    put1(s, "arxiv", NULL, 1, abs_url("2403.00008"), NULL, NOW - 6 * DAY);
    /* Undated: timed when first seen. */
    put1(s, "arxiv", NULL, 1, abs_url("2403.00009"), NULL, TB_TIME_NONE);
    l = rank(s);
    CHECK(find(&l, "arxiv:2403.00007") == NULL);
    CHECK(find(&l, "link:https://blog.example/old") == NULL);
    CHECK(find(&l, "arxiv:2403.00008") != NULL);
    CHECK(find(&l, "arxiv:2403.00009") != NULL && near(find(&l, "arxiv:2403.00009")->score, 1));
    l = rank_opts(s, 9 * DAY, DAY, 0, NULL);
    CHECK(find(&l, "arxiv:2403.00007") != NULL && find(&l, "arxiv:2403.00007")->groups == 2);
    /* A voice after `now` does not count yet. */
    put1(s, "arxiv", NULL, 1, abs_url("2403.00010"), NULL, NOW + HOUR);
    l = rank(s);
    CHECK(find(&l, "arxiv:2403.00010") == NULL);
    tb_store_close(s);
}

/* A newsletter issue linking ten papers counts for each of them, also for
 * papers no source carries (no stored entry). */
static void test_newsletter(void)
{
    struct tb_store *s = open_store();
    char html[4096], id[16];
    struct list l;
    int found = 0;
    size_t n;

    /* The odd ones as arXiv pages, the even ones as Hugging Face pages. */
    n = (size_t)snprintf(html, sizeof(html), "<ul>");
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "2402.%05d", i);
        if (i % 2)
            n += (size_t)snprintf(html + n, sizeof(html) - n, "<li><a href=\"%s\">P</a></li>",
                                  abs_url(id));
        else
            n +=
                (size_t)snprintf(html + n, sizeof(html) - n,
                                 "<li><a href=\"https://huggingface.co/papers/%s\">P</a></li>", id);
    }
    snprintf(html + n, sizeof(html) - n, "</ul>");
    put1(s, "batch", NULL, 2, "https://news.example/issue-1", html, NOW - 2 * DAY);
    l = rank(s);
    for (int i = 0; i < 10; i++) {
        char key[32];
        const struct res *r;

        snprintf(key, sizeof(key), "arxiv:2402.%05d", i);
        r = find(&l, key);
        found += r != NULL && r->groups == 1 && r->entry == 0 && near(r->score, 2 * 0.25);
    }
    CHECK_EQ(found, 10);
    tb_store_close(s);
}

/* One source naming a paper in three posts is one voice, timed by the
 * first post; the posts' own links are papers of one voice each. */
static void test_repeated(void)
{
    struct tb_store *s = open_store();
    struct tb_feed *f = tb_feed_new();
    const struct res *r;
    struct list l;

    item(f, "https://blog.example/1", "1", link_html(abs_url("2403.00011")), NOW - 3 * DAY);
    item(f, "https://blog.example/2", "2", link_html(abs_url("2403.00011")), NOW - 2 * DAY);
    put(s, "blog", NULL, 1, f, NOW - 2 * DAY);
    f = tb_feed_new();
    item(f, "https://blog.example/3", "3", link_html("https://arxiv.org/abs/2403.00011v3"),
         NOW - DAY);
    put(s, "blog", NULL, 1, f, NOW - DAY);
    l = rank(s);
    r = find(&l, "arxiv:2403.00011");
    CHECK(r != NULL && r->groups == 1 && r->first == NOW - 3 * DAY && near(r->score, 0.125));
    /* A later post seen before an earlier one: the earlier time wins. */
    f = tb_feed_new();
    item(f, "https://blog.example/0", "0", link_html(abs_url("2403.00011")), NOW - 4 * DAY);
    put(s, "blog", NULL, 1, f, NOW);
    l = rank(s);
    r = find(&l, "arxiv:2403.00011");
    CHECK(r != NULL && r->groups == 1 && r->first == NOW - 4 * DAY);
    tb_store_close(s);
}

/* Counts voices and how many carry; keeps the time of the last one. */
struct voices {
    int n, carrying;
    int64_t last_at;
};

static int count_cb(const struct tb_trending_voice *v, void *data)
{
    struct voices *c = data;

    c->n++;
    c->carrying += v->carries;
    c->last_at = v->at;
    return 0;
}

/* The number of entries stored. */
static long long entries(struct tb_store *s)
{
    int64_t n = -1;

    CHECK_OK(tb_db_scalar(tb_store_sql(s), &n, errbuf, sizeof(errbuf),
                          "SELECT count(*) FROM entries", ""));
    return n;
}

/* A Hugging Face daily-papers item is the paper of arXiv's listing: one
 * entry, two voices. */
static void test_hf_is_arxiv(void)
{
    struct tb_store *s = open_store();
    struct voices v = {0};
    const struct res *r;
    struct list l;

    put1(s, "arxiv", NULL, 1, abs_url("2403.05577"), NULL, NOW - DAY);
    put1(s, "hf", NULL, 1, "https://huggingface.co/papers/2403.05577", "<p>Upvoted.</p>",
         NOW - HOUR);
    CHECK_EQ(entries(s), 1);
    l = rank(s);
    r = find(&l, "arxiv:2403.05577");
    CHECK(r != NULL && r->groups == 2 && r->entry > 0);
    CHECK(r != NULL && near(r->score, 0.5 + exp2(-1.0 / 24)));
    CHECK_OK(tb_trending_voices(s, "arxiv:2403.05577", count_cb, &v, errbuf, sizeof(errbuf)));
    CHECK_EQ(v.n, 2);
    CHECK_EQ(v.carrying, 2); /* both carry it */
    CHECK_EQ(v.last_at, NOW - HOUR);
    tb_store_close(s);
}

/* Decay: weight 2 one half-life old and weight 1 two half-lives old. */
static void test_decay(void)
{
    struct tb_store *s = open_store();
    const struct res *r;
    struct list l;

    put1(s, "a", NULL, 2, "https://a.example/1", link_html("https://doi.org/10.1000/ABC"),
         NOW - DAY);
    put1(s, "b", NULL, 1, "https://b.example/1", link_html("https://dx.doi.org/10.1000/abc"),
         NOW - 2 * DAY);
    l = rank(s);
    r = find(&l, "doi:10.1000/abc");
    CHECK(r != NULL && near(r->score, 2 * 0.5 + 0.25) && r->groups == 2);
    l = rank_opts(s, 7 * DAY, 2 * DAY, 0, NULL);
    r = find(&l, "doi:10.1000/abc");
    CHECK(r != NULL && near(r->score, 2 * exp2(-0.5) + 0.5));
    l = rank_opts(s, 7 * DAY, HOUR, 0, NULL);
    r = find(&l, "doi:10.1000/abc");
    CHECK(r != NULL && near(r->score, 2 * exp2(-24) + exp2(-48)));
    tb_store_close(s);
}

/* Links count only as links to stored entries; a DOI or link mentioned
 * before its entry is stored joins the entry's arXiv key once it is. */
static void test_links_and_rekey(void)
{
    struct tb_store *s = open_store();
    struct tb_feed *f;
    struct tb_link *l;
    const struct res *r;
    struct list lst;

    put1(
        s, "news", NULL, 1, "https://news.example/1",
        "<p><a href=\"https://doi.org/10.5555/paper\">doi</a> <a "
        "href=\"https://journal.example/paper?utm_source=x\">page</a> <a "
        "href=\"https://elsewhere.example/x\">x</a> <a href=\"https://blog.example/post/\">post</a>"
        "</p>",
        NOW - HOUR);
    lst = rank(s);
    CHECK(find(&lst, "link:https://elsewhere.example/x") == NULL);
    CHECK(find(&lst, "link:https://blog.example/post") == NULL);
    CHECK(find(&lst, "doi:10.5555/paper") != NULL);
    /* The post is stored later: the link to it counts now. */
    put1(s, "blog", NULL, 1, "https://blog.example/post", NULL, NOW - HOUR);
    lst = rank(s);
    r = find(&lst, "link:https://blog.example/post");
    CHECK(r != NULL && r->groups == 2 && r->entry > 0);
    /* The journal's entry has an arXiv id, its DOI and its page. */
    f = tb_feed_new();
    item(f, "https://journal.example/paper", "J", NULL, NOW - HOUR);
    l = tb_arena_alloc(&f->arena, 2 * sizeof(*l));
    memset(l, 0, 2 * sizeof(*l));
    l[0].href = "https://arxiv.org/abs/2403.00012";
    l[0].rel = "related";
    l[0].next = &l[1];
    l[1].href = "https://doi.org/10.5555/PAPER";
    l[1].rel = "related";
    f->entries->links = l;
    put(s, "journal", NULL, 1, f, NOW - HOUR);
    lst = rank(s);
    CHECK(find(&lst, "doi:10.5555/paper") == NULL);
    r = find(&lst, "arxiv:2403.00012");
    CHECK(r != NULL && r->groups == 2 && r->entry > 0);
    /* A mention after the entry is stored resolves to it at once. */
    put1(s, "other", NULL, 1, "https://other.example/1", link_html("https://journal.example/paper"),
         NOW - HOUR);
    lst = rank(s);
    r = find(&lst, "arxiv:2403.00012");
    CHECK(r != NULL && r->groups == 3);
    tb_store_close(s);
}

/* limit, the topic query, and a query that does not compile. */
static void test_limit_topic(void)
{
    struct tb_store *s = open_store();
    struct tb_feed *f = tb_feed_new();
    struct tb_trending_opts o = {.now = NOW, .window = DAY, .half_life = DAY, .query = "\"("};
    struct list l;

    item(f, abs_url("2403.00013"), "Walrus detection with transformers", NULL, NOW - HOUR);
    item(f, abs_url("2403.00014"), "Penguin counting", NULL, NOW - HOUR);
    put(s, "arxiv", NULL, 1, f, NOW - HOUR);
    put1(s, "blog", NULL, 1, "https://blog.example/1", link_html(abs_url("2403.00014")),
         NOW - HOUR);
    l = rank_opts(s, DAY, DAY, 1, NULL);
    CHECK_EQ(l.n, 1);
    CHECK_STR(l.v[0].key, "arxiv:2403.00014");
    if (!st_skip_pg("test_limit_topic: a topic query",
                    "topic queries on PostgreSQL are the matcher's (issue 13 item 2)")) {
        l = rank_opts(s, DAY, DAY, 0, "walrus");
        CHECK_EQ(l.n, 1);
        CHECK_STR(l.v[0].key, "arxiv:2403.00013");
        memset(&l, 0, sizeof(l));
        CHECK_EQ(tb_trending_select(s, &o, collect, &l, errbuf, sizeof(errbuf)), TB_EQUERY);
    }
    o.query = NULL;
    o.half_life = 0;
    CHECK_EQ(tb_trending_select(s, &o, collect, &l, errbuf, sizeof(errbuf)), -EINVAL);
    tb_store_close(s);
}

int main(void)
{
    if (!st_ready())
        CHECK_DONE();
    snprintf(dir, sizeof(dir), "/tmp/tb_trending_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    test_corroboration();
    test_group_once();
    test_weights();
    test_window();
    test_newsletter();
    test_repeated();
    test_hf_is_arxiv();
    test_decay();
    test_links_and_rekey();
    test_limit_topic();
    for (int i = 0; i < ndb; i++) {
        char p[160];

        snprintf(p, sizeof(p), "%s/t%d.db", dir, i);
        unlink(p);
        snprintf(p, sizeof(p), "%s/t%d.db-wal", dir, i);
        unlink(p);
        snprintf(p, sizeof(p), "%s/t%d.db-shm", dir, i);
        unlink(p);
    }
    rmdir(dir);
    st_report();
    CHECK_DONE();
}
