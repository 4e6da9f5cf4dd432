/* Tests for tb_dedupe: the store's dedupe rules in memory. Each scenario is
 * also run through a temporary store (tb_store_put_feed, tb_topic_select,
 * tb_store_load), and the two must give the same entries field by field. */
#include "tb_dedupe.h"
#include "tb_normalize.h"
#include "tb_store.h"
#include "tb_topic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define S(f, x) ((x) ? tb_arena_strdup(&(f)->arena, (x)) : NULL)
#define NONE TB_TIME_NONE

static char errbuf[512];

/* One entry: key, upstream id, title, arXiv id, DOI, canonical link, dates. */
struct spec {
    const char *key, *id, *title, *arxiv, *doi, *canon;
    int64_t published, updated;
};

static struct tb_feed *feed(const char *title, const struct spec *v, size_t n)
{
    struct tb_feed *f = tb_feed_new();
    size_t i;

    f->title = S(f, title);
    f->id = S(f, "urn:feed:x");
    for (i = 0; i < n; i++) {
        struct tb_entry *e = tb_entry_new(f);

        e->key = S(f, v[i].key);
        e->id = S(f, v[i].id);
        e->title = S(f, v[i].title);
        e->arxiv_id = S(f, v[i].arxiv);
        e->doi = S(f, v[i].doi);
        e->canon_link = S(f, v[i].canon);
        e->link = e->canon_link;
        e->published = v[i].published;
        e->updated = v[i].updated;
        e->text = e->title;
        tb_feed_append(f, e);
    }
    return f;
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

static int same_people(const struct tb_person *a, const struct tb_person *b)
{
    for (; a && b; a = a->next, b = b->next) {
        if (!same_str(a->name, b->name) || !same_str(a->email, b->email) ||
            !same_str(a->uri, b->uri))
            return 0;
    }
    return a == b;
}

static int same_links(const struct tb_link *a, const struct tb_link *b)
{
    for (; a && b; a = a->next, b = b->next) {
        if (!same_str(a->href, b->href) || !same_str(a->rel, b->rel) ||
            !same_str(a->type, b->type) || !same_str(a->title, b->title) || a->length != b->length)
            return 0;
    }
    return a == b;
}

/* Compares what publishing reads of two entries. */
static void check_same(const struct tb_entry *a, const struct tb_entry *b)
{
    CHECK_STR(a->out_id, b->out_id);
    CHECK(same_str(a->id, b->id));
    CHECK(same_str(a->title, b->title));
    CHECK(same_str(a->link, b->link));
    CHECK(same_str(a->canon_link, b->canon_link));
    CHECK(same_str(a->arxiv_id, b->arxiv_id));
    CHECK(same_str(a->doi, b->doi));
    CHECK_EQ(a->published, b->published);
    CHECK_EQ(a->updated, b->updated);
    CHECK(same_people(a->authors, b->authors));
    CHECK(same_people(a->contributors, b->contributors));
    CHECK(same_links(a->links, b->links));
    CHECK(same_str(a->summary.value, b->summary.value));
    CHECK_EQ(a->summary.is_html, b->summary.is_html);
    CHECK_STR(a->origin.id, b->origin.id);
    CHECK(same_str(a->origin.title, b->origin.title));
}

/* A scenario: feeds put in order under names, at times. */
struct run {
    struct tb_feed *feeds[8];
    const char *names[8];
    int64_t seen[8];
    size_t n;
};

static void add(struct run *r, const char *name, int64_t seen, struct tb_feed *f)
{
    r->names[r->n] = name;
    r->seen[r->n] = seen;
    r->feeds[r->n++] = f;
}

/* The entries as the store gives them, in a new feed (caller frees). */
static struct tb_feed *via_store(const struct run *r, size_t limit)
{
    static int nth;
    char path[] = "/tmp/test-dedupe-XXXXXX", name[32];
    struct tb_store *st = NULL;
    struct tb_feed *out = NULL;
    int64_t sid, *ids = NULL;
    size_t i, n = 0;
    int fd = st_is_pg() ? -1 : mkstemp(path);

    CHECK(fd >= 0 || st_is_pg());
    if (fd >= 0)
        close(fd);
    snprintf(name, sizeof(name), "s%d", nth++);
    CHECK_OK(tb_store_open(&st, st_is_pg() ? st_target("", name) : path, TB_STORE_TEMP, errbuf,
                           sizeof(errbuf)));
    if (fd >= 0)
        unlink(path);
    for (i = 0; st && i < r->n; i++) {
        CHECK_OK(tb_store_source(st, r->names[i], r->names[i], &sid, errbuf, sizeof(errbuf)));
        CHECK_OK(tb_store_put_feed(st, sid, r->feeds[i], r->seen[i], NULL, NULL, NULL, errbuf,
                                   sizeof(errbuf)));
    }
    CHECK_OK(tb_topic_select(st, NULL, limit, &ids, &n, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_load(st, ids, n, &out, errbuf, sizeof(errbuf)));
    free(ids);
    tb_store_close(st);
    st_drop(name);
    return out;
}

/* Checks that list (n entries) is what the store gave, ref. */
static void check_list(const struct tb_entry *a, size_t n, const struct tb_feed *ref)
{
    const struct tb_entry *b;

    CHECK_EQ(n, ref ? ref->nentries : 0);
    for (b = ref ? ref->entries : NULL; a && b; a = a->next, b = b->next)
        check_same(a, b);
    CHECK(a == NULL && b == NULL);
}

/* Runs r through a dedupe fed as merge feeds it, the digests made ahead,
 * with tb_dedupe_prepare_once() for a name given once; checks it against
 * ref. */
static void check_prepared(const struct run *r, size_t limit, const struct tb_feed *ref)
{
    struct tb_dedupe_prep *prep;
    struct tb_dedupe *d = NULL;
    struct tb_entry *list;
    size_t i, k, n = 0, same;

    CHECK_OK(tb_dedupe_new(&d));
    for (i = 0; d && i < r->n; i++) {
        for (k = 0, same = 0; k < r->n; k++)
            same += strcmp(r->names[k], r->names[i]) == 0;
        if (same == 1)
            CHECK_OK(tb_dedupe_prepare_once(r->feeds[i], &prep));
        else
            CHECK_OK(tb_dedupe_prepare(r->feeds[i], &prep));
        CHECK_OK(
            tb_dedupe_put(d, r->names[i], r->feeds[i], prep, r->seen[i], errbuf, sizeof(errbuf)));
    }
    CHECK_OK(tb_dedupe_select(d, limit, &list, &n));
    check_list(list, n, ref);
    tb_dedupe_free(d);
}

/* Runs r through a dedupe and the store; checks they agree and returns the
 * dedupe (caller frees) with its selection in *list. */
static struct tb_dedupe *both(struct run *r, size_t limit, struct tb_entry **list)
{
    struct tb_feed *ref = via_store(r, limit);
    struct tb_dedupe *d = NULL;
    size_t i, n = 0;

    check_prepared(r, limit, ref);
    CHECK_OK(tb_dedupe_new(&d));
    for (i = 0; i < r->n; i++)
        CHECK_OK(
            tb_dedupe_put(d, r->names[i], r->feeds[i], NULL, r->seen[i], errbuf, sizeof(errbuf)));
    CHECK_OK(tb_dedupe_select(d, limit, list, &n));
    check_list(*list, n, ref);
    tb_feed_free(ref);
    for (i = 0; i < r->n; i++)
        tb_feed_free(r->feeds[i]);
    return d;
}

/* Titles of a list, space-separated. */
static const char *titles(const struct tb_entry *e)
{
    static char out[256];

    out[0] = '\0';
    for (; e != NULL; e = e->next) {
        if (out[0] != '\0')
            strcat(out, " ");
        strcat(out, e->title ? e->title : "-");
    }
    return out;
}

static void test_cross_source(void)
{
    static const struct spec a[] = {
        {"a1", "http://a/1", "A1", "2401.00001", NULL, "http://x/1", 100, NONE},
        {"a2", "http://a/2", "A2", NULL, "10.1/y", "http://x/2", 200, NONE},
        {"a3", "http://a/3", "A3", NULL, NULL, "http://x/3", 300, NONE},
        {"a4", "not an iri", "A4", "", "", "", 400, NONE},
    };
    static const struct spec b[] = {
        {"b1", "http://b/1", "B1", "2401.00001", NULL, "http://other/1", 150, NONE},
        {"b2", "http://b/2", "B2", NULL, "10.1/y", NULL, 250, NONE},
        {"b3", "http://b/3", "B3", NULL, NULL, "http://x/3", 350, NONE},
        {"b4", "http://a/1", "B4", "", "", "", 450, NONE}, /* empty idents match nothing */
    };
    struct run r = {0};
    struct tb_dedupe *d;
    struct tb_entry *l;

    add(&r, "feed-a", 1000, feed("Feed A", a, 4));
    add(&r, "feed-b", 1000, feed("Feed B", b, 4));
    d = both(&r, 0, &l);
    CHECK_STR(titles(l), "B4 A4 A3 A2 A1");
    CHECK_EQ(tb_dedupe_count(d), 5);
    CHECK_STR(l->origin.title, "Feed B");
    /* B4's upstream id is A1's: B4 gets a tag; A4's id is no IRI: a tag too. */
    CHECK(strncmp(l->out_id, "tag:tributary.invalid,2024:", 27) == 0);
    CHECK(strncmp(l->next->out_id, "tag:tributary.invalid,2024:", 27) == 0);
    CHECK_STR(l->next->next->out_id, "http://a/3");
    tb_dedupe_free(d);
}

/* A Hugging Face daily-papers item is the paper of arXiv's listing (both
 * normalized as read): one entry, arXiv's, in the store and in memory. */
static void test_hf_is_arxiv(void)
{
    static const char *const links[2] = {"https://arxiv.org/abs/2403.05577v1",
                                         "https://huggingface.co/papers/2403.05577"};
    static const char *const names[2] = {"arxiv", "hf"};
    struct run r = {0};
    struct tb_dedupe *d;
    struct tb_entry *l;

    for (int i = 0; i < 2; i++) {
        struct tb_feed *f = tb_feed_new();
        struct tb_entry *e = tb_entry_new(f);

        e->link = S(f, links[i]);
        e->title = S(f, i ? "HF copy" : "arXiv record");
        e->published = 100 + i;
        tb_feed_append(f, e);
        CHECK_OK(tb_norm_feed(f));
        add(&r, names[i], 1000, f);
    }
    d = both(&r, 0, &l);
    CHECK_EQ(tb_dedupe_count(d), 1);
    CHECK_STR(titles(l), "arXiv record");
    CHECK_STR(l->arxiv_id, "2403.05577");
    tb_dedupe_free(d);
}

/* A Hacker News item carrying a paper came first: arXiv's own record (a
 * feed whose link is on arxiv.org) takes over its title and content and
 * becomes its origin; a later non-arXiv copy changes nothing; in the store
 * and in memory alike. */
static void test_arxiv_record_wins(void)
{
    static const char *const links[3] = {"https://arxiv.org/pdf/2403.05577",
                                         "https://arxiv.org/abs/2403.05577v2",
                                         "https://huggingface.co/papers/2403.05577"};
    static const char *const feed_links[3] = {"https://news.ycombinator.com/",
                                              "http://rss.arxiv.org/rss/cs.CL",
                                              "https://huggingface.co/papers"};
    static const char *const names[3] = {"hn", "arxiv", "hf"};
    static const char *const heads[3] = {"[pdf] A walrus paper", "Walruses: a study", "HF copy"};
    struct run r = {0};
    struct tb_dedupe *d;
    struct tb_entry *l;

    for (int i = 0; i < 3; i++) {
        struct tb_feed *f = tb_feed_new();
        struct tb_entry *e = tb_entry_new(f);

        f->title = S(f, names[i]);
        f->link = S(f, feed_links[i]);
        e->link = S(f, links[i]);
        e->title = S(f, heads[i]);
        e->summary.value = S(f, i == 1 ? "The abstract." : "A comment.");
        e->published = 100 + i;
        tb_feed_append(f, e);
        CHECK_OK(tb_norm_feed(f));
        add(&r, names[i], 1000, f);
    }
    d = both(&r, 0, &l);
    CHECK_EQ(tb_dedupe_count(d), 1);
    CHECK_STR(titles(l), "Walruses: a study");
    CHECK_STR(l->summary.value, "The abstract.");
    CHECK_STR(l->origin.title, "arxiv");
    CHECK_STR(l->origin.link, "http://rss.arxiv.org/rss/cs.CL");
    tb_dedupe_free(d);
}

static void test_update_in_place(void)
{
    static const struct spec v1[] = {
        {"k1", "http://a/1", "One", "2401.00001", NULL, NULL, 100, NONE},
        {"k2", "http://a/2", "Two", NULL, NULL, NULL, NONE, NONE},
    };
    /* Changed at the origin: new title, new arXiv id, no dates. */
    static const struct spec v2[] = {
        {"k1", "http://a/1", "One v2", "2401.00009", NULL, NULL, NONE, NONE},
        {"k2", "http://a/2", "Two v2", NULL, NULL, NULL, NONE, 700},
    };
    /* Another source with changed copies: they never win. */
    static const struct spec other[] = {
        {"o1", "http://o/1", "One elsewhere", "2401.00009", NULL, NULL, 100, 999},
        {"o2", "http://o/2", "Old id", "2401.00001", NULL, NULL, 50, NONE},
        {"o3", "http://o/3", "Mid", NULL, NULL, NULL, 400, NONE},
    };
    struct run r = {0};
    struct tb_dedupe *d;
    struct tb_entry *l;

    add(&r, "src", 500, feed("S", v1, 2));
    add(&r, "src", 600, feed("S2", v2, 2));
    add(&r, "other", 800, feed("O", other, 3));
    d = both(&r, 0, &l);
    /* One v2 keeps published 100; Two v2 sorts by its updated 700; "Old id"
     * no longer matches One, whose arXiv id changed. */
    CHECK_STR(titles(l), "Two v2 Mid One v2 Old id");
    CHECK_STR(l->origin.title, "S2");
    CHECK_EQ(l->next->next->updated, 600); /* no upstream date: seen_at */
    CHECK_EQ(tb_dedupe_count(d), 4);
    tb_dedupe_free(d);
}

/* Dates in the future become the time the entry was first seen, in the
 * store and the dedupe alike, and stay so while the entry is unchanged. */
static void test_future_dates(void)
{
    static const int64_t future = INT64_C(7258118400); /* 2200-01-01 */
    static const struct spec v1[] = {
        {"k1", "http://a/1", "Future", NULL, NULL, NULL, future, future},
        {"k2", "http://a/2", "Past", NULL, NULL, NULL, 400, 450},
        {"k3", "http://a/3", "Later update", NULL, NULL, NULL, 300, future},
    };
    /* Seen again unchanged, later: the clamped dates stay. */
    static const struct spec v2[] = {
        {"k1", "http://a/1", "Future", NULL, NULL, NULL, future, future},
        {"k2", "http://a/2", "Past", NULL, NULL, NULL, 400, 450},
        {"k3", "http://a/3", "Later update", NULL, NULL, NULL, 300, future},
    };
    struct run r = {0};
    struct tb_dedupe *d;
    struct tb_entry *l;

    CHECK_EQ(tb_store_clamp_date(future, 500, 1000), 500);
    CHECK_EQ(tb_store_clamp_date(future, 5000, 1000), 1000);
    CHECK_EQ(tb_store_clamp_date(900, 500, 1000), 900);
    CHECK_EQ(tb_store_clamp_date(NONE, 500, 1000), NONE);
    add(&r, "src", 500, feed("S", v1, 3));
    add(&r, "src", 600, feed("S", v2, 3));
    d = both(&r, 0, &l);
    CHECK_STR(titles(l), "Future Past Later update");
    CHECK_EQ(l->published, 500);
    CHECK_EQ(l->updated, 500);
    CHECK_EQ(l->next->next->published, 300);
    CHECK_EQ(l->next->next->updated, 500);
    tb_dedupe_free(d);
}

static void test_limit_ties_and_seen(void)
{
    static const struct spec v[] = {
        {"k1", "http://e/b", "B", NULL, NULL, NULL, 100, NONE},
        {"k2", "http://e/a", "A", NULL, NULL, NULL, 100, NONE},
        {"k3", "http://e/c", "C", NULL, NULL, NULL, NONE, NONE}, /* first seen 300 */
        {"k4", "http://e/d", "D", NULL, NULL, NULL, NONE, 50},
    };
    struct run r = {0};
    struct tb_dedupe *d;
    struct tb_entry *l;

    add(&r, "s", 300, feed("S", v, 4));
    d = both(&r, 3, &l);
    CHECK_STR(titles(l), "C A B");
    tb_dedupe_free(d);
}

/* The order over many entries, as the store gives it: times spread over
 * every byte of an int64 (negative ones, far apart, equal ones, undated
 * entries sharing their first-seen time), ties by out_id. */
static void test_order_many(void)
{
    static const int64_t times[] = {0,
                                    1,
                                    -1,
                                    255,
                                    256,
                                    -256,
                                    INT64_C(1) << 40,
                                    -(INT64_C(1) << 40),
                                    INT64_C(1704164645),
                                    NONE,
                                    INT64_MAX / 2,
                                    INT64_MIN / 2};
    static char keys[300][16], ids[300][32];
    static struct spec v[300];
    struct run r = {0};
    struct tb_dedupe *d;
    struct tb_entry *l;
    size_t i;

    for (i = 0; i < 300; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
        snprintf(ids[i], sizeof(ids[i]), "http://e/%zu", (i * 7919) % 1000);
        v[i] = (struct spec){keys[i],
                             ids[i],
                             "t",
                             NULL,
                             NULL,
                             NULL,
                             times[(i * 31) % (sizeof(times) / sizeof(times[0]))],
                             NONE};
    }
    add(&r, "s", 77, feed("S", v, 300));
    d = both(&r, 0, &l);
    tb_dedupe_free(d);
}

/* Lists read back as the store's JSON columns do: members that are not
 * UTF-8 are absent (a name becomes ""), lengths below -1 are -1. */
static void test_lists_as_stored(void)
{
    static const struct spec v[] = {{"k1", "http://e/1", "T", NULL, NULL, NULL, 1, NONE}};
    struct tb_feed *f = feed("S", v, 1);
    struct tb_person *p = tb_arena_alloc(&f->arena, sizeof(*p));
    struct tb_link *k = tb_arena_alloc(&f->arena, sizeof(*k));
    struct run r = {0};
    struct tb_dedupe *d;
    struct tb_entry *l;

    *p = (struct tb_person){.name = "bad \xc0\xaf name", .email = "a@b", .uri = "\xff"};
    *k = (struct tb_link){
        .href = "http://e/x", .rel = "enclosure", .type = "\xed\xa0\x80", .length = -7};
    f->entries->authors = p;
    f->entries->links = k;
    add(&r, "s", 1, f);
    d = both(&r, 0, &l);
    CHECK_STR(l->authors->name, "");
    CHECK_STR(l->authors->email, "a@b");
    CHECK(l->authors->uri == NULL);
    CHECK(l->links->type == NULL);
    CHECK_EQ(l->links->length, -1);
    tb_dedupe_free(d);
}

/* One feed (its source given once) whose entries update each other: by
 * key, and by arXiv id; prepare_once must then make the digests. */
static void test_repeats_in_one_feed(void)
{
    static const struct spec v[] = {
        {"k1", "http://a/1", "One", "2401.00001", NULL, NULL, 100, NONE},
        {"k2", "http://a/2", "Two", NULL, "10.1/z", NULL, 200, NONE},
        {"k1", "http://a/1", "One v2", "2401.00001", NULL, NULL, 100, NONE},
        {"k3", "http://a/3", "Two v2", NULL, "10.1/z", NULL, 200, 300},
        {"k4", "http://a/4", "Same", NULL, NULL, "http://c/4", 50, NONE},
        {"k5", "http://a/5", "Same", NULL, NULL, "http://c/4", 50, NONE},
    };
    struct run r = {0};
    struct tb_dedupe *d;
    struct tb_entry *l;

    add(&r, "only", 500, feed("S", v, 6));
    d = both(&r, 0, &l);
    CHECK_STR(titles(l), "Two v2 One v2 Same");
    tb_dedupe_free(d);
}

/* A source put with a once prep cannot be put again, nor one put before
 * with a once prep; a feed without repeats gets no digests. */
static void test_once_refused(void)
{
    static const struct spec v[] = {
        {"k1", "http://e/1", "T", NULL, NULL, NULL, 1, NONE},
        {"k2", "http://e/2", "U", NULL, NULL, NULL, 2, NONE},
    };
    struct tb_feed *f = feed("S", v, 2), *g = feed("S", v, 2), *h = feed("S", v, 2);
    struct tb_dedupe_prep *pf = NULL, *pg = NULL, *ph = NULL;
    struct tb_dedupe *d = NULL;

    CHECK_OK(tb_dedupe_new(&d));
    CHECK_OK(tb_dedupe_prepare_once(f, &pf));
    CHECK_OK(tb_dedupe_prepare(g, &pg));
    CHECK_OK(tb_dedupe_prepare_once(h, &ph));
    CHECK_OK(tb_dedupe_put(d, "s", f, pf, 1, errbuf, sizeof(errbuf)));
    CHECK_EQ(tb_dedupe_put(d, "s", g, pg, 1, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK(strstr(errbuf, "again") != NULL);
    CHECK_EQ(tb_dedupe_put(d, "s", g, NULL, 1, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK_OK(tb_dedupe_put(d, "t", g, pg, 1, errbuf, sizeof(errbuf)));
    CHECK_EQ(tb_dedupe_put(d, "t", h, ph, 1, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK_EQ(tb_dedupe_count(d), 4);
    tb_feed_free(f);
    tb_feed_free(g);
    tb_feed_free(h);
    tb_dedupe_free(d);
}

static void test_errors(void)
{
    static const struct spec v[] = {
        {"k1", "http://e/1", "T", NULL, NULL, NULL, 1, NONE},
        {"k2", "http://e/2", "U", NULL, NULL, NULL, 2, NONE},
    };
    struct tb_feed *f = feed("S", v, 2), *g = feed("S", v, 1);
    struct tb_dedupe_prep *prep = NULL;
    struct tb_dedupe *d = NULL;
    struct tb_entry *l;
    size_t n = 9;

    CHECK_OK(tb_dedupe_new(&d));
    f->last->key = NULL;
    CHECK_EQ(tb_dedupe_put(d, "s", f, NULL, 1, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK(strstr(errbuf, "key") != NULL);
    CHECK_EQ(tb_dedupe_count(d), 0); /* nothing of the feed was added */
    CHECK_OK(tb_dedupe_prepare(g, &prep));
    CHECK_EQ(tb_dedupe_put(d, "s", f, prep, 1, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK_OK(tb_dedupe_put(d, "s", g, prep, 1, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_dedupe_select(d, 0, &l, &n));
    CHECK_EQ(n, 1);
    CHECK_STR(l->origin.id, "urn:feed:x");
    tb_feed_free(f);
    tb_feed_free(g);
    tb_dedupe_free(d);
    tb_dedupe_free(NULL);
}

/* dedupe.c's hash of a key when it looks for repeats in one feed (FNV-1a,
 * seeded), to make keys that crowd one slot of its table. */
static uint64_t repeat_hash(const char *k)
{
    uint64_t h = 0x5bd1e995u;

    for (; *k != '\0'; k++)
        h = (h ^ (unsigned char)*k) * 0x100000001B3u;
    return h ^ (h >> 29);
}

/* Puts a feed of n entries with keys v (a once prep; `distinct` of them
 * differ) and returns the put's result: -EINVAL when it repeats a key but prepare_once missed it.
 */
static int put_keys(char (*v)[16], size_t n, size_t distinct)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_dedupe_prep *prep = NULL;
    struct tb_dedupe *d = NULL;
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        struct tb_entry *e = tb_entry_new(f);

        e->key = v[i];
        e->title = i + 1 == n ? "last" : "t";
        e->published = (int64_t)i;
        tb_feed_append(f, e);
    }
    CHECK_OK(tb_dedupe_new(&d));
    CHECK_OK(tb_dedupe_prepare_once(f, &prep));
    rc = tb_dedupe_put(d, "one", f, prep, 1, errbuf, sizeof(errbuf));
    CHECK_EQ(tb_dedupe_count(d), rc == 0 ? distinct : 0);
    tb_dedupe_free(d);
    tb_feed_free(f);
    return rc;
}

/* Repeats in one feed are found among many entries, and among keys made
 * to crowd one slot (where the table gives way to sorting). */
static void test_repeats_found(void)
{
    static char v[2001][16];
    size_t i, n = 0;
    unsigned k;

    for (i = 0; i < 2000; i++)
        snprintf(v[i], sizeof(v[i]), "k%zu", i);
    CHECK_OK(put_keys(v, 2000, 2000));
    memcpy(v[2000], v[1234], sizeof(v[0]));
    CHECK_OK(put_keys(v, 2001, 2000));
    /* 40 keys in one slot of a 128-slot table (40 strings), and a repeat. */
    for (k = 0; n < 40 && k < 1000000; k++) {
        snprintf(v[n], sizeof(v[n]), "c%u", k);
        n += (repeat_hash(v[n]) & 127) == 5;
    }
    CHECK_EQ(n, 40);
    CHECK_OK(put_keys(v, 40, 40));
    memcpy(v[39], v[0], sizeof(v[0]));
    CHECK_OK(put_keys(v, 40, 39));
}

int main(void)
{
    if (!st_ready())
        CHECK_DONE();
    test_cross_source();
    test_hf_is_arxiv();
    test_arxiv_record_wins();
    test_update_in_place();
    test_future_dates();
    test_limit_ties_and_seen();
    test_order_many();
    test_lists_as_stored();
    test_repeats_in_one_feed();
    test_repeats_found();
    test_once_refused();
    test_errors();
    CHECK_DONE();
}
