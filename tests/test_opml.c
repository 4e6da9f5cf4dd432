/* Tests for tb_opml: nesting and categories, hostile documents, write -> read round trip,
 * the topics' reading list. */
#include "tb_opml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>

#include "check.h"

static const char *fixtures;

/* Reads fixtures/config/NAME into b; returns 0 or -1. */
static int slurp(const char *name, struct tb_buf *b)
{
    char path[4096], chunk[4096];
    FILE *fp;
    size_t n;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/config/%s", fixtures, name);
    tb_buf_init(b, 1 << 20);
    fp = fopen(path, "rb");
    if (fp == NULL)
        return -1;
    do {
        n = fread(chunk, 1, sizeof(chunk), fp);
        rc = n > 0 ? tb_buf_add(b, chunk, n) : 0;
    } while (rc == 0 && n > 0);
    fclose(fp);
    return rc == 0 ? 0 : -1;
}

static int read_fixture(const char *name, struct tb_opml_feed **feeds, size_t *n, char *err,
                        size_t errlen)
{
    struct tb_buf b;
    int rc;

    *feeds = NULL;
    *n = 0;
    if (slurp(name, &b) != 0) {
        CHECK(!"fixture unreadable");
        return -1;
    }
    rc = tb_opml_read(b.data, b.len, feeds, n, err, errlen);
    tb_buf_free(&b);
    return rc;
}

static void test_nested(void)
{
    struct tb_opml_feed *f;
    size_t n;
    char err[256] = "";

    CHECK_OK(read_fixture("nested.opml", &f, &n, err, sizeof(err)));
    CHECK_EQ(n, 5);
    if (n != 5) {
        tb_opml_free(f, n);
        return;
    }
    CHECK_STR(f[0].title, "Deep feed");
    CHECK_STR(f[0].url, "https://deep.example.org/feed"); /* blanks trimmed */
    CHECK_STR(f[0].html_url, "https://deep.example.org/");
    CHECK_STR(f[0].category, "Top/Middle"); /* title when there is no text */
    CHECK_EQ(f[0].line, 7);
    CHECK_STR(f[1].title, "Caf\xc3\xa9 & Co"); /* ISO-8859-1 and references decoded */
    CHECK(f[1].html_url == NULL);
    CHECK_STR(f[2].title, "Shallow");
    CHECK_STR(f[2].category, "Top");
    CHECK_STR(f[3].title, "Inside a feed"); /* a feed outline may hold others */
    CHECK_STR(f[3].category, "Top/Shallow");
    CHECK_STR(f[4].title, "Root feed");
    CHECK(f[4].category == NULL);
    CHECK_EQ(f[4].line, 16);
    tb_opml_free(f, n);
}

static void test_bad_documents(void)
{
    static const struct {
        const char *file, *want;
    } cases[] = {
        {"malformed.opml",
         "malformed XML at line 6: Opening and ending tag mismatch: outline line 5 and body"},
        {"not-opml.opml", "not an OPML document (root element <rss>)"},
        {"xxe.opml", "OPML document declares entities (refused)"},
        {"laughs.opml", "OPML document declares entities (refused)"},
        {"xxe-text.opml", "OPML document declares entities (refused)"},
        {"good.ini", "malformed XML at line 1: Start tag expected, '<' not found"},
    };
    struct tb_opml_feed *f;
    size_t i, n;
    char err[256];

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        CHECK_EQ(read_fixture(cases[i].file, &f, &n, err, sizeof(err)), TB_EPARSE);
        CHECK(f == NULL && n == 0);
        CHECK_STR(err, cases[i].want);
    }
    CHECK_EQ(tb_opml_read("", 0, &f, &n, err, sizeof(err)), TB_EPARSE);
    CHECK_STR(err, "empty document");
    CHECK_EQ(tb_opml_read("<opml/>", 7, &f, &n, err, sizeof(err)), TB_EPARSE);
    CHECK_STR(err, "OPML document has no <body>");
    CHECK_OK(tb_opml_read("<opml><body/></opml>", 20, &f, &n, err, sizeof(err)));
    CHECK(f == NULL && n == 0);
}

/* Writes the config's sources as OPML, checks it with Python, reads it back. */
static void test_round_trip(void)
{
    struct tb_config_source src[3] = {
        {"a", "https://a.example/feed", "A & <B> \"quoted\"", "https://a.example/", 3600, 1, NULL,
         0, 1, NULL},
        {"b", "http://b.example/rss?x=1&y=2", NULL, NULL, 60, 0, NULL, 0, 1, NULL},
        {"c", "https://c.example/atom", "Caf\xc3\xa9", NULL, 60, 1, NULL, 0, 1, NULL},
    };
    struct tb_config c;
    struct tb_opml_feed *f = NULL;
    struct tb_buf out;
    size_t n = 0, i;
    char err[256] = "";

    memset(&c, 0, sizeof(c));
    c.sources = src;
    c.nsources = 3;
    tb_buf_init(&out, 1 << 20);
    CHECK_OK(tb_opml_write(&c, &out));
    CHECK(out.data && strstr(out.data, "<dateCreated>") != NULL);
    CHECK(out.data && strstr(out.data, "type=\"rss\"") != NULL);
    CHECK_OK(tb_opml_read(out.data, out.len, &f, &n, err, sizeof(err)));
    CHECK_EQ(n, 3);
    for (i = 0; i < n && i < 3; i++) {
        CHECK_STR(f[i].url, src[i].url);
        CHECK_STR(f[i].title, src[i].title ? src[i].title : src[i].name);
        CHECK_STR(f[i].html_url, src[i].html_url);
        CHECK(f[i].category == NULL);
    }
    tb_opml_free(f, n);

    /* A reader other than libxml2 must agree. */
    {
        const char *py = getenv("PYTHON");
        char cmd[512];
        FILE *fp = fopen("test_opml_export.opml", "wb");
        int status;

        CHECK(fp != NULL);
        py = py ? py : "/usr/bin/python3";
        if (fp) {
            fwrite(out.data, 1, out.len, fp);
            fclose(fp);
        }
        if (fp && CHECK_NEED(access(py, X_OK) == 0, "python3 (second OPML reader)")) {
            snprintf(
                cmd, sizeof(cmd),
                "%s -c \"import sys, xml.etree.ElementTree as E; "
                "o = E.parse('test_opml_export.opml').getroot().find('body').findall('outline'); "
                "sys.exit(0 if [x.get('xmlUrl') for x in o] == ['https://a.example/feed', "
                "'http://b.example/rss?x=1&y=2', 'https://c.example/atom'] else 1)\"",
                py);
            status = system(cmd);
            CHECK_EQ(status, 0);
        }
        if (fp)
            remove("test_opml_export.opml");
    }
    tb_buf_free(&out);

    /* The buffer's cap is honoured. */
    tb_buf_init(&out, 64);
    CHECK_EQ(tb_opml_write(&c, &out), TB_ETOOBIG);
    tb_buf_free(&out);
}

/* topics.opml: all entries, trending, then every topic, under base_url; read back. */
static void test_topics(void)
{
    struct tb_config_topic t[2] = {
        {.name = "ent", .title = "Entities & <graphs>", .query = "entity", .limit = 50},
        {.name = "cook", .query = "pasta", .limit = 50},
    };
    struct tb_config c;
    struct tb_opml_feed *f = NULL;
    struct tb_buf out;
    size_t n = 0;
    char err[256] = "";

    memset(&c, 0, sizeof(c));
    c.base_url = "https://news.example/tb/";
    c.topics = t;
    c.ntopics = 2;
    tb_buf_init(&out, 1 << 20);
    CHECK_OK(tb_opml_write_topics(&c, &out));
    CHECK(out.data && strstr(out.data, "<title>tributary topics</title>") != NULL);
    CHECK_OK(tb_opml_read(out.data, out.len, &f, &n, err, sizeof(err)));
    CHECK_EQ(n, 4);
    if (n == 4) {
        CHECK_STR(f[0].title, "All entries");
        CHECK_STR(f[0].url, "https://news.example/tb/all.atom");
        CHECK_STR(f[0].html_url, "https://news.example/tb/");
        CHECK_STR(f[1].title, "Trending");
        CHECK_STR(f[1].url, "https://news.example/tb/trending.atom");
        CHECK_STR(f[1].html_url, "https://news.example/tb/trending.html");
        CHECK_STR(f[2].title, "Entities & <graphs>");
        CHECK_STR(f[2].url, "https://news.example/tb/topics/ent.atom");
        CHECK_STR(f[2].html_url, "https://news.example/tb/topics/ent.html");
        CHECK_STR(f[3].title, "cook"); /* no title: the name */
        CHECK_STR(f[3].url, "https://news.example/tb/topics/cook.atom");
    }
    tb_opml_free(f, n);
    tb_buf_free(&out);
    tb_buf_init(&out, 64);
    CHECK_EQ(tb_opml_write_topics(&c, &out), TB_ETOOBIG);
    tb_buf_free(&out);
}

int main(void)
{
    fixtures = getenv("TB_FIXTURES");
    if (fixtures == NULL)
        fixtures = "fixtures";
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
    test_nested();
    test_bad_documents();
    test_round_trip();
    test_topics();
    xmlCleanupParser();
    curl_global_cleanup();
    CHECK_DONE();
}
