/* Tests for the store's list columns (store_json.c, through jansson) and
 * prepared puts: the stored text, what odd or malformed text reads as, and
 * the member rule the dedupe mirrors. */
#include "../src/store/store_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "storetest.h"

/* tb_store_list_member_ok(), which the dedupe uses to mirror the store,
 * accepts exactly the strings jansson takes as JSON strings (the store
 * leaves the others out of its lists), on edge cases and random bytes. */
static void test_member_rule(void)
{
    static const char *const odd[] = {"plain",
                                      "",
                                      "quote \" and \\ back",
                                      "ctl \x01\x1f\b\f\n\r\t\x7f",
                                      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                                      "bad \xff byte",
                                      "overlong \xc0\xaf",
                                      "surrogate \xed\xa0\x80",
                                      "cut \xe2\x82",
                                      "big \xf4\x90\x80\x80",
                                      "\xc3",
                                      NULL};
    unsigned int seed = 7;
    char rnd[24];
    json_t *v;
    size_t i, j;

    for (i = 0; odd[i] != NULL; i++) {
        v = json_string(odd[i]);
        CHECK_EQ(tb_store_list_member_ok(odd[i]), v != NULL);
        json_decref(v);
    }
    /* Random bytes: mostly ASCII, some control and high bytes. */
    for (i = 0; i < 20000; i++) {
        for (j = 0; j < sizeof(rnd) - 1; j++) {
            seed = seed * 1103515245u + 12345u;
            rnd[j] =
                (char)(((seed >> 16) % 5 == 0) ? (seed >> 8) % 255 + 1 : 'a' + (seed >> 8) % 26);
        }
        rnd[(seed >> 4) % sizeof(rnd)] = '\0';
        v = json_string(rnd);
        CHECK_EQ(tb_store_list_member_ok(rnd), v != NULL);
        json_decref(v);
    }
}

/* A member that is not UTF-8 is left out of the stored list; the rest of
 * the list stays. */
static void test_encode_skips_bad_members(void)
{
    struct tb_person p2 = {NULL, "B", "bad \xff", NULL}, p1 = {&p2, "A \"q\"", NULL, "u"};
    struct tb_buf b;

    tb_buf_init(&b, 1u << 20);
    CHECK_OK(tb__json_people(&b, &p1));
    CHECK_STR(b.data, "[{\"name\":\"A \\\"q\\\"\",\"uri\":\"u\"},{\"name\":\"B\"}]");
    CHECK_OK(tb__json_people(&b, NULL));
    CHECK_EQ(b.len, 0);
    tb_buf_free(&b);
}

/* "name|email|uri;..." with "-" for NULL: what a decoded list holds. */
static void show_people(const struct tb_person *p, char *out, size_t n)
{
    size_t used = 0;

    out[0] = '\0';
    for (; p != NULL && used < n; p = p->next)
        used += (size_t)snprintf(out + used, n - used, "%s|%s|%s;", p->name,
                                 p->email ? p->email : "-", p->uri ? p->uri : "-");
}

/* What the decoder makes of a text. */
static void decodes_as(const char *json, const char *want)
{
    struct tb_arena a;
    struct tb_person *p;
    char got[512];

    tb_arena_init(&a);
    CHECK_OK(tb__unjson_people(&a, json, &p));
    show_people(p, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fprintf(stderr, "decoding %s\n", json ? json : "(null)");
    CHECK_STR(got, want);
    tb_arena_free(&a);
}

static void test_decode(void)
{
    /* The encoder's output. */
    decodes_as("[{\"name\":\"A \\\"q\\\" \\\\ \\/ \\n\\t\"},{\"name\":\"B\",\"uri\":\"u\"}]",
               "A \"q\" \\ / \n\t|-|-;B|-|u;");
    decodes_as("[{}]", "|-|-;");
    decodes_as("[]", "");
    decodes_as(NULL, "");
    /* What jansson reads besides: whitespace, \u escapes, other members. */
    decodes_as(" [ { \"name\" : \"x\" , \"email\":\"e\" } ] ", "x|e|-;");
    decodes_as("[{\"name\":\"caf\\u00e9 \\ud83d\\ude00\"}]", "caf\xc3\xa9 \xf0\x9f\x98\x80|-|-;");
    decodes_as("[{\"name\":\"n\",\"extra\":[1,2],\"uri\":5}]", "n|-|-;");
    decodes_as("[{\"name\":\"a\",\"name\":\"b\"}]", "b|-|-;");
    decodes_as("[1,\"s\",{\"name\":\"z\"}]", "|-|-;|-|-;z|-|-;");
    /* Malformed or not a list: empty, never a crash. */
    decodes_as("", "");
    decodes_as("[", "");
    decodes_as("[{", "");
    decodes_as("[{\"name\":\"a\"},]", "");
    decodes_as("[{\"name\":\"a\",}]", "");
    decodes_as("[{\"name\":\"a\"}]x", "");
    decodes_as("[{\"name\":\"a\\x\"}]", "");
    decodes_as("[{\"name\":\"tab\there\"}]", "");
    decodes_as("[{\"name\":\"bad \xff\"}]", "");
    decodes_as("{\"name\":\"a\"}", "");
    decodes_as("[{\"name\":\"unterminated}]", "");
}

static void test_links_and_categories(void)
{
    struct tb_link l2 = {NULL, "h2", NULL, NULL, NULL, 0};
    struct tb_link l1 = {&l2, "h1", "enclosure", "audio/mpeg", "t", 123456789012345LL};
    struct tb_category c = {NULL, "cs.LG", "http://arxiv.org", "Machine \"Learning\""};
    struct tb_category *cd;
    struct tb_link *ld;
    struct tb_arena a;
    struct tb_buf b;

    tb_arena_init(&a);
    tb_buf_init(&b, 1u << 20);
    CHECK_OK(tb__json_links(&b, &l1));
    CHECK_STR(b.data,
              "[{\"href\":\"h1\",\"rel\":\"enclosure\",\"type\":\"audio/mpeg\","
              "\"title\":\"t\",\"length\":123456789012345},{\"href\":\"h2\",\"length\":0}]");
    CHECK_OK(tb__unjson_links(&a, b.data, &ld));
    CHECK(ld != NULL && ld->next != NULL && ld->next->next == NULL);
    if (ld != NULL && ld->next != NULL) {
        CHECK_STR(ld->type, "audio/mpeg");
        CHECK_EQ(ld->length, 123456789012345LL);
        CHECK_STR(ld->next->href, "h2");
        CHECK(ld->next->rel == NULL);
        CHECK_EQ(ld->next->length, 0);
    }
    /* Lengths that are negative, fractional or not JSON. */
    CHECK_OK(tb__unjson_links(&a, "[{\"href\":\"x\",\"length\":-5},{\"length\":1.5}]", &ld));
    CHECK(ld != NULL && ld->length == -5 && ld->next != NULL && ld->next->length == -1);
    CHECK_OK(tb__unjson_links(&a, "[{\"href\":\"x\",\"length\":00}]", &ld));
    CHECK(ld == NULL);
    CHECK_OK(tb__json_categories(&b, &c));
    CHECK_STR(b.data, "[{\"term\":\"cs.LG\",\"scheme\":\"http://arxiv.org\","
                      "\"label\":\"Machine \\\"Learning\\\"\"}]");
    CHECK_OK(tb__unjson_categories(&a, b.data, &cd));
    CHECK(cd != NULL && cd->next == NULL);
    if (cd != NULL) {
        CHECK_STR(cd->term, "cs.LG");
        CHECK_STR(cd->scheme, "http://arxiv.org");
        CHECK_STR(cd->label, "Machine \"Learning\"");
    }
    /* A list stored before labels were kept reads back without one. */
    CHECK_OK(tb__unjson_categories(&a, "[{\"term\":\"t\"}]", &cd));
    CHECK(cd != NULL && cd->label == NULL && cd->scheme == NULL);
    CHECK_OK(tb__json_categories(&b, NULL));
    CHECK_EQ(b.len, 0);
    tb_buf_free(&b);
    tb_arena_free(&a);
}

/* A prep belongs to one feed: another feed, or a changed one, is refused. */
static void test_prepared_put(void)
{
    struct tb_feed *f = tb_feed_new(), *g = tb_feed_new();
    struct tb_store_prep *pf = NULL, *pg = NULL;
    struct tb_store *s = NULL;
    struct tb_entry *e;
    char err[256] = "";
    int64_t sid = 0;

    CHECK(f != NULL && g != NULL);
    e = tb_entry_new(f);
    e->key = "k1";
    e->title = "T";
    tb_feed_append(f, e);
    CHECK_OK(tb_store_prepare(f, &pf));
    CHECK_OK(tb_store_prepare(g, &pg));
    CHECK_OK(tb_store_open(&s, st_is_pg() ? st_target("", "json") : ":memory:", TB_STORE_TEMP, err,
                           sizeof(err)));
    CHECK_OK(tb_store_source(s, "src", NULL, &sid, err, sizeof(err)));
    CHECK_EQ(tb_store_put_prepared(s, sid, f, pg, 1, NULL, NULL, NULL, err, sizeof(err)), -EINVAL);
    CHECK_EQ(tb_store_put_prepared(s, sid, f, NULL, 1, NULL, NULL, NULL, err, sizeof(err)),
             -EINVAL);
    CHECK_OK(tb_store_put_prepared(s, sid, f, pf, 1, NULL, NULL, NULL, err, sizeof(err)));
    e = tb_entry_new(f);
    e->key = "k2";
    tb_feed_append(f, e);
    CHECK_EQ(tb_store_put_prepared(s, sid, f, pf, 2, NULL, NULL, NULL, err, sizeof(err)), -EINVAL);
    tb_store_close(s);
    tb_feed_free(f);
    tb_feed_free(g);
}

int main(void)
{
    if (!st_ready())
        CHECK_DONE();
    test_member_rule();
    test_encode_skips_bad_members();
    test_decode();
    test_links_and_categories();
    test_prepared_put();
    CHECK_DONE();
}
