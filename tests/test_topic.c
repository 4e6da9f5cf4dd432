/* Tests for tb_topic: FTS5 selection, stemming, diacritics, columns, order, limit, bad queries. */
#include "tb_store.h"
#include "tb_topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define S(f, x) tb_arena_strdup(&(f)->arena, (x))

static char dir[64], dbpath[1024], errbuf[512];

static struct tb_entry *add(struct tb_feed *f, const char *key, const char *title, const char *text,
                            int64_t published, int64_t updated)
{
    struct tb_entry *e = tb_entry_new(f);

    e->key = S(f, key);
    e->id = S(f, key);
    e->title = S(f, title);
    e->text = S(f, text);
    e->published = published;
    e->updated = updated;
    tb_feed_append(f, e);
    return e;
}

/* Keys (ids "k1".."k7") of the entries the query selects, space-separated, in order. */
static const char *sel(struct tb_store *s, const char *query, size_t limit)
{
    static char out[256];
    struct tb_feed *f = NULL;
    struct tb_entry *e;
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = tb_topic_select(s, query, limit, &ids, &n, errbuf, sizeof(errbuf));

    out[0] = '\0';
    if (rc != 0) {
        snprintf(out, sizeof(out), "error %d", rc);
        return out;
    }
    CHECK_OK(tb_store_load(s, ids, n, &f, errbuf, sizeof(errbuf)));
    for (e = f ? f->entries : NULL; e != NULL; e = e->next) {
        if (out[0] != '\0')
            strcat(out, " ");
        strcat(out, e->key);
    }
    CHECK_EQ(f ? f->nentries : 0, n);
    tb_feed_free(f);
    free(ids);
    return out;
}

/* Seven entries; k4 and k5 tie on published (ordered by out_id "k4" < "k5"),
 * k6 has only an updated date, k7 only its first_seen (seen_at = 50). */
static struct tb_feed *topic_feed(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_person *p = tb_arena_alloc(&f->arena, sizeof(*p));
    struct tb_category *c = tb_arena_alloc(&f->arena, sizeof(*c));

    add(f, "k1", "Attentions are all you need", "Transformers for translation.", 100, 900);
    add(f, "k2", "Sch\xc3\xb6n spaces", "Hilbert spaces and their operators.", 200, TB_TIME_NONE);
    add(f, "k3", "Entity linking at scale", "We link named entities to a knowledge base.", 300,
        TB_TIME_NONE);
    add(f, "k4", "Long context", "Sparse attention over long documents.", 400, TB_TIME_NONE);
    add(f, "k5", "Retrieval", "Dense retrieval of passages; attention is not used.", 400,
        TB_TIME_NONE);
    add(f, "k6", "Only updated", "Named entity recognition, revisited.", TB_TIME_NONE, 350);
    add(f, "k7", "No dates", "Graph neural networks.", TB_TIME_NONE, TB_TIME_NONE);
    p->name = S(f, "J\xc3\xbcrgen M\xc3\xbcller");
    f->entries->next->next->authors = p; /* k3 */
    c->term = S(f, "cs.CL");
    f->entries->next->next->next->next->next->categories = c; /* k6 */
    return f;
}

static void test_select(struct tb_store *s)
{
    CHECK_STR(sel(s, NULL, 0), "k4 k5 k6 k3 k2 k1 k7");
    CHECK_STR(sel(s, "", 0), "k4 k5 k6 k3 k2 k1 k7");
    CHECK_STR(sel(s, NULL, 3), "k4 k5 k6");
    CHECK_STR(sel(s, "attention", 0), "k4 k5 k1"); /* porter: attentions */
    CHECK_STR(sel(s, "attention", 2), "k4 k5");
    CHECK_STR(sel(s, "schon", 0), "k2"); /* diacritics removed */
    CHECK_STR(sel(s, "SCH\xc3\x96N", 0), "k2");
    CHECK_STR(sel(s, "title:attention", 0), "k1"); /* column filter */
    CHECK_STR(sel(s, "text:attention", 0), "k4 k5");
    CHECK_STR(sel(s, "authors:muller", 0), "k3");
    CHECK_STR(sel(s, "authors:jurgen", 0), "k3");
    CHECK_STR(sel(s, "categories:cs", 0), "k6");
    CHECK_STR(sel(s, "\"entity linking\" OR \"named entity\"", 0), "k6 k3");
    CHECK_STR(sel(s, "NEAR(sparse documents, 3)", 0), "k4");
    CHECK_STR(sel(s, "NEAR(sparse translation, 3)", 0), "");
    CHECK_STR(sel(s, "attention NOT retrieval", 0), "k4 k1");
    CHECK_STR(sel(s, "nothingmatchesthis", 0), "");
}

static void test_bad_queries(struct tb_store *s)
{
    static const char *const bad[] = {"\"unterminated", "AND AND", "foo:bar", "(",
                                      "NEAR(a b, x)",   "title:",  "*"};
    int64_t *ids = (int64_t *)&errbuf;
    size_t i, n = 99;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errbuf[0] = '\0';
        CHECK_EQ(tb_topic_check(s, bad[i], errbuf, sizeof(errbuf)), TB_EQUERY);
        CHECK(errbuf[0] != '\0');
        CHECK_EQ(tb_topic_select(s, bad[i], 0, &ids, &n, errbuf, sizeof(errbuf)), TB_EQUERY);
        CHECK(ids == NULL && n == 0);
        CHECK_EQ(tb_topic_select(s, bad[i], 1, &ids, &n, errbuf, sizeof(errbuf)), TB_EQUERY);
        CHECK(ids == NULL && n == 0);
    }
    CHECK_EQ(tb_topic_check(s, "\"unterminated", errbuf, sizeof(errbuf)), TB_EQUERY);
    CHECK(strstr(errbuf, "unterminated string") != NULL);
    CHECK_EQ(tb_topic_check(s, "AND AND", errbuf, sizeof(errbuf)), TB_EQUERY);
    CHECK(strstr(errbuf, "fts5: syntax error near") != NULL);
    CHECK_EQ(tb_topic_check(s, "foo:bar", errbuf, sizeof(errbuf)), TB_EQUERY);
    CHECK(strstr(errbuf, "no such column: foo") != NULL);
    CHECK_OK(tb_topic_check(s, NULL, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_topic_check(s, "", errbuf, sizeof(errbuf)));
    CHECK_OK(
        tb_topic_check(s, "title:attention OR NEAR(a b, 2) OR \"x y\"", errbuf, sizeof(errbuf)));
    CHECK_OK(tb_topic_check(s, "zzzznothing", errbuf, sizeof(errbuf)));
}

/* A topic also sees entries stored after it was first selected. */
static void test_incremental(struct tb_store *s, int64_t src)
{
    struct tb_feed *f = tb_feed_new();

    add(f, "k8", "Attention, again", "New paper.", 500, TB_TIME_NONE);
    CHECK_OK(tb_store_put_feed(s, src, f, 60, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    CHECK_STR(sel(s, "attention", 0), "k8 k4 k5 k1");
    tb_feed_free(f);
}

/* The newest `limit` of many matches (more than 4 x limit: found by
 * walking the sort index) are the first `limit` of all matches in order
 * (found by the join), ties on the time included; with a source
 * restriction too, and at the boundary (exactly 4 x limit matches). */
static void test_many(struct tb_store *s, int64_t src)
{
    static const size_t limits[] = {1, 10, 50, 74, 75, 299, 300, 1000};
    char *const names[] = {"a"};
    struct tb_feed *f = tb_feed_new();
    int64_t *all = NULL, *ids = NULL;
    size_t nall = 0, n = 0, i, k;
    char key[16];

    for (i = 0; i < 400; i++) {
        snprintf(key, sizeof(key), "m%03zu", (i * 7919) % 400);
        add(f, key, i < 300 ? "Walrus note" : "Other note", "Body.", 1000 + (int64_t)(i % 37),
            TB_TIME_NONE);
    }
    CHECK_OK(tb_store_put_feed(s, src, f, 70, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_topic_select(s, "walrus", 0, &all, &nall, errbuf, sizeof(errbuf)));
    CHECK_EQ(nall, 300);
    for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        CHECK_OK(tb_topic_select(s, "walrus", limits[i], &ids, &n, errbuf, sizeof(errbuf)));
        CHECK_EQ(n, limits[i] < nall ? limits[i] : nall);
        for (k = 0; k < n && k < nall; k++)
            CHECK_EQ(ids[k], all[k]);
        free(ids);
        CHECK_OK(tb_topic_select_in(s, "walrus", names, 1, NULL, 0, limits[i], &ids, &n, errbuf,
                                    sizeof(errbuf)));
        CHECK_EQ(n, limits[i] < nall ? limits[i] : nall);
        for (k = 0; k < n && k < nall; k++)
            CHECK_EQ(ids[k], all[k]);
        free(ids);
    }
    CHECK_OK(tb_topic_select_in(s, "walrus", (char *const[]){"nobody"}, 1, NULL, 0, 10, &ids, &n,
                                errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 0);
    free(ids);
    free(all);
    tb_feed_free(f);
}

int main(void)
{
    struct tb_store *s = NULL;
    struct tb_feed *f;
    int64_t src = 0;

    if (!st_ready())
        CHECK_DONE();
    snprintf(dir, sizeof(dir), "/tmp/tb_topic_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    /* On PostgreSQL through memberships (topic.c), the same answers. */
    snprintf(dbpath, sizeof(dbpath), "%s", st_target(dir, "topic.db"));
    CHECK_OK(tb_store_open(&s, dbpath, 0, errbuf, sizeof(errbuf)));
    if (s == NULL)
        return 1;
    CHECK_OK(tb_store_source(s, "a", NULL, &src, errbuf, sizeof(errbuf)));
    /* Before anything is stored: no entries, and queries still compile. */
    CHECK_STR(sel(s, "attention", 0), "");
    CHECK_EQ(tb_topic_check(s, "AND AND", errbuf, sizeof(errbuf)), TB_EQUERY);
    f = topic_feed();
    CHECK_OK(tb_store_put_feed(s, src, f, 50, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    tb_feed_free(f);
    test_select(s);
    test_bad_queries(s);
    test_incremental(s, src);
    test_many(s, src);
    tb_store_close(s);
    if (!st_is_pg())
        unlink(dbpath);
    rmdir(dir);
    st_report();
    CHECK_DONE();
}
