/* Tests for the store's list-column JSON codec (store_json.c) and prepared
 * puts: the hand-written encoder must write exactly what jansson wrote, and
 * the decoder must read anything as jansson reads it. */
#include "../src/store/store_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* The encoding the store used before, with jansson, as the reference. */
static void ref_put(json_t *o, const char *k, const char *v)
{
    if (v != NULL)
        json_object_set_new(o, k, json_string(v));
}

static char *ref_dump(json_t *arr)
{
    char *s = json_array_size(arr) ? json_dumps(arr, JSON_COMPACT) : NULL;

    json_decref(arr);
    return s;
}

static char *ref_people(const struct tb_person *p)
{
    json_t *arr = json_array();

    for (; p != NULL; p = p->next) {
        json_t *o = json_object();

        ref_put(o, "name", p->name);
        ref_put(o, "email", p->email);
        ref_put(o, "uri", p->uri);
        json_array_append_new(arr, o);
    }
    return ref_dump(arr);
}

static char *ref_links(const struct tb_link *l)
{
    json_t *arr = json_array();

    for (; l != NULL; l = l->next) {
        json_t *o = json_object();

        ref_put(o, "href", l->href);
        ref_put(o, "rel", l->rel);
        ref_put(o, "type", l->type);
        ref_put(o, "title", l->title);
        if (l->length >= 0)
            json_object_set_new(o, "length", json_integer(l->length));
        json_array_append_new(arr, o);
    }
    return ref_dump(arr);
}

/* Checks the encoder against jansson for people and links made of strings. */
static void same_as_jansson(const char *a, const char *b, const char *c, int64_t len)
{
    struct tb_person p2 = {NULL, b, c, a}, p1 = {&p2, a, NULL, b};
    struct tb_link l = {NULL, a, b, c, a, len};
    struct tb_buf buf;
    char *want;

    tb_buf_init(&buf, 1u << 20);
    want = ref_people(&p1);
    CHECK_OK(tb__json_people(&buf, &p1));
    CHECK_STR(buf.len ? buf.data : NULL, want);
    free(want);
    want = ref_links(&l);
    CHECK_OK(tb__json_links(&buf, &l));
    CHECK_STR(buf.len ? buf.data : NULL, want);
    free(want);
    tb_buf_free(&buf);
}

static void test_encode_like_jansson(void)
{
    static const char *const odd[] = {"plain",
                                      "",
                                      "quote \" and \\ back",
                                      "ctl \x01\x1f\b\f\n\r\t\x7f",
                                      "/slash/",
                                      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                                      "bad \xff byte",
                                      "overlong \xc0\xaf",
                                      "surrogate \xed\xa0\x80",
                                      "cut \xe2\x82",
                                      "big \xf4\x90\x80\x80",
                                      "\xc3",
                                      NULL};
    unsigned int seed = 7;
    char rnd[3][24];
    size_t i, j, k;

    for (i = 0; odd[i] != NULL; i++) {
        for (j = 0; odd[j] != NULL; j++)
            same_as_jansson(odd[i], odd[j], j % 2 ? NULL : odd[i], (int64_t)i * 1000 - 1);
    }
    /* Random bytes: mostly ASCII, some control and high bytes. */
    for (i = 0; i < 3000; i++) {
        for (k = 0; k < 3; k++) {
            for (j = 0; j < sizeof(rnd[k]) - 1; j++) {
                seed = seed * 1103515245u + 12345u;
                rnd[k][j] = (char)(((seed >> 16) % 7 == 0) ? (seed >> 8) % 255 + 1
                                                           : 'a' + (seed >> 8) % 26);
            }
            rnd[k][(seed >> 4) % sizeof(rnd[k])] = '\0';
        }
        same_as_jansson(rnd[0], rnd[1], rnd[2], (int64_t)i);
    }
    same_as_jansson(NULL, NULL, NULL, -1);
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

/* The decoder against jansson's reading of the same text. */
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
    /* The encoder's output, fast path. */
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
    /* Lengths the fast path leaves to jansson: negative, huge, fractional. */
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
    CHECK_OK(tb_store_open(&s, ":memory:", TB_STORE_TEMP, err, sizeof(err)));
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
    test_encode_like_jansson();
    test_decode();
    test_links_and_categories();
    test_prepared_put();
    CHECK_DONE();
}
