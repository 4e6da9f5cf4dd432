/* tb_parse and tb_feedjson: one fixture per format, namespace and hostile input. */
#include "tb_buf.h"
#include "tb_parse.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "../src/parse_int.h"
#include "tb_date.h"
#include "tb_feedjson.h"

/* Reads $TB_FIXTURES/parse/<name> into a malloc'd buffer. */
static char *load(const char *name, size_t *len)
{
    return check_load("parse", name, len);
}

/* Parses a fixture; returns the feed (NULL on error, with *rc and err set). */
static struct tb_feed *parse(const char *name, const char *url, const char *charset, int *rc,
                             char *err, size_t errlen)
{
    struct tb_parse_opts o = {url, charset, 0};
    struct tb_feed *f = NULL;
    size_t len;
    char *d = load(name, &len);

    *rc = tb_parse_feed(d, len, &o, &f, err, errlen);
    free(d);
    return f;
}

/* Parses a fixture that must succeed. */
static struct tb_feed *ok(const char *name, const char *url)
{
    char err[256] = "";
    int rc;
    struct tb_feed *f = parse(name, url, NULL, &rc, err, sizeof(err));

    if (rc != 0)
        fprintf(stderr, "%s: rc %d: %s\n", name, rc, err);
    CHECK_OK(rc);
    if (f == NULL) {
        fprintf(stderr, "%s: no feed\n", name);
        exit(1);
    }
    return f;
}

/* The n-th entry (0-based); exits when there are fewer. */
static struct tb_entry *nth(struct tb_feed *f, int n)
{
    struct tb_entry *e = f->entries;

    while (e != NULL && n-- > 0)
        e = e->next;
    if (e == NULL) {
        fprintf(stderr, "missing entry\n");
        exit(1);
    }
    return e;
}

/* Every string of the dump, searched for `needle`. */
static int dump_has(struct tb_feed *f, const char *needle)
{
    char *j = tb_feedjson_dump(f);
    int has = j != NULL && strstr(j, needle) != NULL;

    CHECK(j != NULL);
    free(j);
    return has;
}

static void test_rss20_arxiv(void)
{
    struct tb_feed *f = ok("rss20-arxiv.xml", "http://rss.arxiv.org/rss/cs");
    struct tb_entry *e = nth(f, 0);

    CHECK_EQ(f->format, TB_FORMAT_RSS20);
    CHECK_EQ(f->nentries, 10);
    CHECK_STR(f->title, "cs updates on arXiv.org");
    CHECK_STR(f->self, "http://rss.arxiv.org/rss/cs");
    CHECK_STR(f->language, "en-us");
    CHECK_EQ(f->updated, tb_date_parse("2024-01-30T05:00:00Z"));
    CHECK_STR(f->authors ? f->authors->email : NULL, "rss-help@arxiv.org");
    CHECK_STR(e->id, "oai:arXiv.org:2401.01000v2");
    CHECK_EQ(e->id_is_permalink, 0);
    CHECK_STR(e->link, "https://arxiv.org/abs/2401.01000v2");
    CHECK_STR(e->title,
              "Reverse Region-to-Entity Annotation for Pixel-Level Visual Entity Linking");
    CHECK_EQ(e->published, tb_date_parse("2024-01-02T05:00:00Z"));
    CHECK_STR(e->authors ? e->authors->name : NULL, "Ada Lovelace, Edsger Dijkstra");
    CHECK_STR(e->categories ? e->categories->term : NULL, "cs.CV");
    CHECK_STR(e->rights, "http://creativecommons.org/licenses/by/4.0/");
    CHECK(e->summary.is_html && strstr(e->summary.value, "Visual Entity Linking (VEL)") != NULL);
    CHECK_STR(e->base, "http://rss.arxiv.org/rss/cs");
    tb_feed_free(f);
}

static void test_rss20_namespaces(void)
{
    struct tb_feed *f = ok("rss20-namespaces.xml", "http://ex.com/dir/feed");
    struct tb_entry *e = nth(f, 0), *e2 = nth(f, 1);
    struct tb_link *l = e->links;

    CHECK_STR(f->title, "Test & feed");
    CHECK_STR(f->subtitle, "Desc x");
    CHECK_STR(f->self, "http://ex.com/feed.xml?a=1&b=2");
    CHECK_STR(f->hub, "https://hub.ex.com/");
    CHECK_STR(f->icon, "http://ex.com/logo.png");
    CHECK_STR(f->link, "http://ex.com/"); /* not the image's link */
    CHECK_EQ(f->ttl_minutes, 60);
    CHECK_STR(f->rights, "(c) me");
    CHECK_STR(f->generator, "gen 1");
    CHECK_STR(f->authors->name, "The Editor");
    CHECK_STR(f->authors->email, "ed@ex.com");
    CHECK_STR(e->id, "id-1");
    CHECK_EQ(e->id_is_permalink, 0);
    CHECK_STR(e->link, "http://ex.com/p/1");
    CHECK_STR(e->authors->name, "Jo Doe");
    CHECK_STR(e->authors->email, "jo@ex.com");
    CHECK_STR(e->authors->next->name, "Ann");
    CHECK_STR(e->categories->term, "Cat A");
    CHECK_STR(e->categories->scheme, "http://cat");
    CHECK_STR(e->categories->next->term, "Sub");
    CHECK_STR(e->summary.value, "<p>Hello <b>world</b></p>");
    CHECK_STR(e->content.value, "<p>Full</p>");
    CHECK_EQ(e->content.is_html, 1);
    CHECK_STR(l->next->href, "http://ex.com/a.mp3");
    CHECK_STR(l->next->rel, "enclosure");
    CHECK_STR(l->next->type, "audio/mpeg");
    CHECK_EQ(l->next->length, 123);
    CHECK_STR(l->next->next->href, "http://ex.com/dir/v.mp4"); /* media:content in media:group */
    CHECK_EQ(l->next->next->length, 99);
    CHECK_STR(l->next->next->next->rel, "thumbnail");
    /* guid isPermaLink (default true) is the link when there is no <link>; dc:date. */
    CHECK_STR(e2->link, "https://ex.com/p/2");
    CHECK_EQ(e2->id_is_permalink, 1);
    CHECK_EQ(e2->published, tb_date_parse("2024-01-03T00:00:00Z"));
    tb_feed_free(f);
}

static void test_rss09x(void)
{
    struct tb_feed *f = ok("rss091.xml", NULL);

    CHECK_EQ(f->format, TB_FORMAT_RSS091);
    CHECK_EQ(f->nentries, 2);
    CHECK_STR(f->title, "WriteTheWeb");
    CHECK_STR(f->icon, "http://writetheweb.com/images/mynetscape88.gif");
    CHECK_STR(f->rights, "Copyright 2000, WriteTheWeb team.");
    CHECK_STR(nth(f, 1)->link, "http://writetheweb.com/read.php?item=23");
    tb_feed_free(f);
    f = ok("rss090.rdf", NULL);
    CHECK_EQ(f->format, TB_FORMAT_RSS090);
    CHECK_EQ(f->nentries, 2);
    CHECK_STR(f->title, "Mozilla Dot Org");
    CHECK_STR(nth(f, 0)->title, "New Status Updates");
    tb_feed_free(f);
}

static void test_rss10(void)
{
    struct tb_feed *f = ok("rss10-papers.rdf", NULL);
    struct tb_entry *e = nth(f, 0);

    CHECK_EQ(f->format, TB_FORMAT_RSS10);
    CHECK_EQ(f->nentries, 10);
    CHECK_STR(f->title, "cs.CV updates (RDF)");
    CHECK_STR(f->language, "en-us");
    CHECK_STR(f->rights, "Copyright 2024 example.org");
    CHECK_STR(f->icon, "http://export.example.org/icon.png");
    CHECK_EQ(f->updated, tb_date_parse("2024-01-30T05:00:00Z"));
    CHECK_STR(e->id, "http://arxiv.org/abs/2401.01740"); /* rdf:about */
    CHECK_STR(e->link, "http://arxiv.org/abs/2401.01740");
    CHECK_EQ(e->published, tb_date_parse("2024-01-22T13:00:00Z"));
    CHECK_STR(e->categories->term, "cs.CV");
    CHECK(e->content.is_html && strncmp(e->content.value, "<p>", 3) == 0);
    CHECK_EQ(e->summary.is_html, 1);
    tb_feed_free(f);
}

static void test_atom10(void)
{
    struct tb_feed *f = ok("atom10-papers.xml", "https://elsewhere.example/");
    struct tb_entry *e = nth(f, 0);

    CHECK_EQ(f->format, TB_FORMAT_ATOM10);
    CHECK_EQ(f->nentries, 10);
    CHECK_STR(f->id, "tag:papers.example.org,2024:feed");
    CHECK_STR(f->subtitle, "Papers we read this month");
    CHECK_STR(f->link, "https://papers.example.org/");
    CHECK_STR(f->self, "https://papers.example.org/atom.xml");
    CHECK_STR(f->hub, "https://pubsubhubbub.appspot.com/");
    CHECK_STR(f->icon, "https://papers.example.org/favicon.ico");
    CHECK_STR(f->rights, "CC BY 4.0");
    CHECK_STR(f->generator, "papergen");
    CHECK_STR(f->base, "https://arxiv.org/");
    CHECK_STR(f->authors->name, "Reading Group");
    CHECK_STR(e->id, "tag:papers.example.org,2024:2401.01370");
    CHECK_EQ(e->id_is_permalink, 0);
    CHECK_STR(e->link, "https://arxiv.org/abs/2401.01370v1"); /* xml:base on the feed */
    CHECK_STR(e->links->next->rel, "related");
    CHECK_STR(e->links->next->title, "PDF");
    CHECK_EQ(e->published, tb_date_parse("2024-01-12T10:00:00Z"));
    CHECK_EQ(e->updated, tb_date_parse("2024-01-12T11:30:00Z"));
    CHECK_STR(e->authors->uri, "https://arxiv.org/people/10");
    CHECK_STR(e->authors->next->email, "author10@example.org");
    CHECK_STR(e->contributors->name, "John McCarthy");
    CHECK_STR(e->categories->scheme, "http://arxiv.org/schemas/atom");
    CHECK(e->summary.is_html && strncmp(e->summary.value, "<p>While large", 14) == 0);
    tb_feed_free(f);
}

static void test_atom_content(void)
{
    struct tb_feed *f = ok("atom10-content.xml", NULL);
    struct tb_entry *e = nth(f, 0);

    CHECK_STR(f->title, "Content types & more"); /* type="html" title as plain text */
    CHECK_STR(e->title, "An xhtml title");
    CHECK_STR(e->content.value, "<p class=\"a&amp;b\">Hello &amp; <a href=\"/x\">link</a><br>"
                                "line</p><img src=\"i.png\">");
    CHECK_EQ(e->content.is_html, 1);
    CHECK_STR(e->summary.value, "Plain <not markup>");
    CHECK_EQ(e->summary.is_html, 0);
    /* image/png: its base64 is kept under its type (RFC 4287 4.1.3.3) */
    CHECK_STR(nth(f, 1)->content.type, "image/png");
    CHECK_STR(nth(f, 1)->content.value, "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42m"
                                        "P8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==");
    CHECK(nth(f, 2)->content.value == NULL); /* out of line: a link */
    CHECK_STR(nth(f, 2)->links->href, "http://example.org/paper.pdf");
    CHECK_STR(nth(f, 3)->content.value, "Just text & more");
    CHECK_EQ(nth(f, 3)->content.is_html, 0);
    tb_feed_free(f);
}

static void test_atom03(void)
{
    struct tb_feed *f = ok("atom03.xml", NULL);
    struct tb_entry *e = nth(f, 0);

    CHECK_EQ(f->format, TB_FORMAT_ATOM03);
    CHECK_STR(f->subtitle, "A lot of effort went into making this effortless");
    CHECK_STR(f->rights, "Copyright (c) 2003, Mark Pilgrim");
    CHECK_STR(f->authors->uri, "http://diveintomark.org/");
    CHECK_EQ(f->updated, tb_date_parse("2003-12-13T18:30:02Z"));
    CHECK_EQ(e->published, tb_date_parse("2003-12-13T12:29:29Z")); /* issued beats created */
    CHECK_EQ(e->updated, tb_date_parse("2003-12-13T18:30:02Z"));
    CHECK_STR(e->content.value, "<p>Escaped &amp; <a href=\"/x\">markup</a></p>");
    CHECK_STR(e->base, "http://diveintomark.org/"); /* the content's xml:base */
    CHECK_STR(e->contributors->name, "Sam Ruby");
    CHECK_STR(nth(f, 1)->content.value, "<p>Hello, base64!</p>");
    CHECK_EQ(nth(f, 2)->published, tb_date_parse("2003-12-15T08:00:00Z"));
    CHECK_STR(nth(f, 2)->content.value, "<p>Inline <b>xml</b></p>");
    tb_feed_free(f);
}

static void test_xmlbase(void)
{
    struct tb_feed *f = ok("xmlbase.xml", "http://fetched.example/feed");
    struct tb_entry *e1 = nth(f, 0), *e2 = nth(f, 1), *e3 = nth(f, 2);

    CHECK_STR(f->base, "http://example.org/blog/");
    CHECK_STR(f->link, "http://example.org/blog/index.html");
    CHECK_STR(f->self, "http://example.org/feed.atom");
    CHECK_STR(f->icon, "http://example.org/favicon.ico");
    CHECK_STR(e1->link, "http://example.org/blog/2024/01/first.html");
    CHECK_STR(e1->authors->uri, "http://example.org/blog/2024/~a/");
    CHECK_STR(e1->base, "http://cdn.example.net/c/");
    CHECK_STR(e2->link, "http://other.example.com/x/z?q=1&r=2#frag");
    CHECK_STR(e2->links->next->href, "http://media.example.com/a.mp3");
    CHECK_EQ(e2->links->next->length, 1234);
    CHECK_STR(e2->base, "http://other.example.com/x/y/");
    CHECK_STR(e3->link, "https://absolute.example.com/p");
    CHECK_STR(e3->links->next->href, "mailto:someone@example.com");
    CHECK_STR(e3->base, "http://example.org/blog/");
    tb_feed_free(f);
}

static void test_json(void)
{
    struct tb_feed *f = ok("jsonfeed11-papers.json", "https://papers.example.org/feed.json");
    struct tb_entry *e = nth(f, 0);

    CHECK_EQ(f->format, TB_FORMAT_JSON11);
    CHECK_EQ(f->nentries, 8);
    CHECK_STR(f->title, "Papers (JSON Feed)");
    CHECK_STR(f->link, "https://papers.example.org/");
    CHECK_STR(f->self, "https://papers.example.org/feed.json");
    CHECK_STR(f->hub, "https://hub.example.org/");
    CHECK_STR(f->language, "en");
    CHECK_STR(f->authors->name, "Reading Group");
    CHECK_STR(e->id, "https://arxiv.org/abs/2401.01000");
    CHECK_STR(e->link, "https://arxiv.org/abs/2401.01000?utm_source=jsonfeed&utm_medium=feed");
    CHECK_STR(e->links->next->rel, "related");
    CHECK_STR(e->links->next->next->href, "https://papers.example.org/pdf/2401.01000.pdf");
    CHECK_STR(e->links->next->next->type, "application/pdf");
    CHECK_EQ(e->links->next->next->length, 1000);
    CHECK_EQ(e->published, tb_date_parse("2024-01-02T10:00:00Z"));
    CHECK_EQ(e->updated, tb_date_parse("2024-01-02T11:00:00Z"));
    CHECK_EQ(e->content.is_html, 0);
    CHECK_STR(e->categories->next->term, "papers");
    CHECK_STR(e->authors->uri, "https://example.org/~0");
    tb_feed_free(f);
    f = ok("jsonfeed10.json", "https://example.org/feed.json");
    e = nth(f, 0);
    CHECK_EQ(f->format, TB_FORMAT_JSON10);
    CHECK_EQ(f->nentries, 2);
    CHECK_STR(f->authors->name, "Brent Simmons");
    CHECK_STR(f->icon, "https://example.org/favicon.ico");
    CHECK_STR(e->id, "2347259");
    CHECK_STR(e->title, "Hello world"); /* U+0001 dropped */
    CHECK_STR(e->link, "https://example.org/2024/01/hello");
    CHECK_STR(e->content.value, "<p>Hello, <b>world</b></p>");
    CHECK_EQ(e->published, tb_date_parse("2024-01-02T11:04:05Z"));
    CHECK_STR(e->authors->name, "Item Author");
    CHECK_EQ(nth(f, 1)->published, TB_TIME_NONE);
    tb_feed_free(f);
}

static void test_encodings(void)
{
    struct tb_feed *f = ok("latin1-declared.xml", NULL);
    char err[256];
    int rc;

    CHECK_STR(f->title, "Caf\xc3\xa9 cr\xc3\xa8me");
    CHECK_STR(nth(f, 0)->title, "Na\xc3\xafve r\xc3\xa9sum\xc3\xa9 \xc2\xa9 \xe2\x82\xac");
    CHECK_STR(nth(f, 0)->summary.value, "\xe2\x80\x9cquoted\xe2\x80\x9d");
    tb_feed_free(f);
    f = ok("cp1252-undeclared.xml", NULL);
    CHECK_STR(f->error, "line 2: invalid UTF-8 (byte 0x93), read as windows-1252");
    CHECK_STR(f->title, "Smart \xe2\x80\x9cquotes\xe2\x80\x9d \xe2\x80\x93 dash");
    CHECK_STR(nth(f, 0)->title, "Caf\xc3\xa9 and caf\xc3\xa9 mixed");
    tb_feed_free(f);
    f = ok("utf16le-bom.xml", NULL);
    CHECK_STR(f->title, "UTF-16 \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac");
    CHECK_STR(nth(f, 0)->title, "\xf0\x9f\x98\x80 emoji");
    tb_feed_free(f);
    f = ok("utf16be-bom.xml", NULL);
    CHECK_STR(f->title, "UTF-16 \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac");
    tb_feed_free(f);
    /* UTF-32 in both byte orders, with a BOM and without (XML 1.0 appendix F). */
    static const char *const utf32[] = {"utf32be-bom.xml", "utf32le-bom.xml", "utf32be-nobom.xml"};
    for (size_t i = 0; i < sizeof(utf32) / sizeof(*utf32); i++) {
        f = ok(utf32[i], NULL);
        CHECK_STR(f->title, "UTF-32 \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac");
        CHECK_STR(nth(f, 0)->title, "\xf0\x9f\x98\x80 emoji");
        tb_feed_free(f);
    }
    f = ok("utf8-bom.xml", NULL); /* the BOM beats the declaration */
    CHECK_STR(f->title, "BOM says UTF-8: caf\xc3\xa9");
    CHECK(f->error == NULL);
    tb_feed_free(f);
    /* Declared ISO-8859-1 but UTF-8: as declared without a charset, right with one. */
    f = ok("charset-override.xml", NULL);
    CHECK_STR(nth(f, 0)->title, "\xc3\x83\xc2\xa9t\xc3\x83\xc2\xa9");
    tb_feed_free(f);
    f = parse("charset-override.xml", NULL, "utf-8", &rc, err, sizeof(err));
    CHECK_OK(rc);
    CHECK_STR(f ? nth(f, 0)->title : NULL, "\xc3\xa9t\xc3\xa9");
    tb_feed_free(f);
}

/* Whether s is valid UTF-8 without characters XML 1.0 cannot hold. */
static int xml_clean(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    int i, n;

    while (*u) {
        n = *u < 0x80                  ? 1
            : *u >= 0xC2 && *u <= 0xDF ? 2
            : *u >= 0xE0 && *u <= 0xEF ? 3
            : *u >= 0xF0 && *u <= 0xF4 ? 4
                                       : 0;
        if (n == 0 || (*u < 0x20 && *u != '\t' && *u != '\n' && *u != '\r'))
            return 0;
        for (i = 1; i < n; i++)
            if ((u[i] & 0xC0) != 0x80)
                return 0;
        if ((*u == 0xED && u[1] >= 0xA0) || (*u == 0xEF && u[1] == 0xBF && u[2] >= 0xBE))
            return 0; /* surrogate, U+FFFE, U+FFFF */
        u += n;
    }
    return 1;
}

static void test_controls(void)
{
    struct tb_feed *f = ok("controls.xml", NULL);

    CHECK(f->title != NULL && xml_clean(f->title));
    CHECK(strncmp(f->title, "Bad bytes", 9) == 0);
    CHECK_STR(nth(f, 0)->title, "ok title");
    CHECK_STR(nth(f, 0)->summary.value, "xy");
    CHECK(f->error != NULL);
    tb_feed_free(f);
}

static void test_malformed(void)
{
    struct tb_feed *f = ok("malformed.xml", NULL);

    CHECK(f->error != NULL && strncmp(f->error, "line 4: ", 8) == 0);
    CHECK_EQ(f->nentries, 3);
    CHECK_STR(nth(f, 0)->title, "First bold");
    CHECK_STR(nth(f, 1)->link, "http://example.org/2");
    CHECK_STR(nth(f, 2)->title, "Third"); /* truncated document */
    tb_feed_free(f);
}

/* Undeclared HTML named entities expand (a declaration under the same name
 * is ignored); text after a recovered error keeps even &amp; and &lt;. */
static void test_html_entities(void)
{
    struct tb_feed *f = ok("html-entities.rss", NULL);

    CHECK(f->error != NULL && strstr(f->error, "Entity 'x' not defined"));
    CHECK_STR(f->title, "Caf\xc3\xa9 \xe2\x80\x94 news\xc2\xa0x");
    CHECK_STR(nth(f, 0)->title, "A\xc2\xa0\xe2\x80\x99"
                                "B\xe2\x80\x99 \xe2\x80\xa6 & <");
    CHECK_STR(nth(f, 0)->summary.value, "r\xc3\xa9sum\xc3\xa9 \xe2\x82\xac"
                                        "5  end");
    tb_feed_free(f);
}

/* Every class of character reference in titles and summaries, in each
 * format: named, decimal, hex (either case of x), astral plane, invalid
 * (dropped, as libxml2's HTML parser does) and unknown (kept as written).
 * RSS and JSON Feed titles holding escaped HTML are read as HTML; an Atom
 * type="text" title and plain text with a bare '&' or '<' are not. */
#define CHARREFS                                                                                   \
    "Caf\xc3\xa9 \xe2\x80\x94 \xe2\x80\xa6 \xc3\xa9 \xc3\xa9 \xf0\x9f\x98\x80 \xf0\x9f\x98\x80 "   \
    "[] &bogus;"
static void test_charrefs(void)
{
    struct tb_feed *f = ok("charrefs.atom", NULL);

    CHECK_STR(f->title, "Atom " CHARREFS);
    CHECK_STR(nth(f, 0)->title, "Atom " CHARREFS);
    CHECK(nth(f, 0)->summary.is_html);
    CHECK_STR(nth(f, 1)->title, "Atom text &eacute; stays");
    tb_feed_free(f);
    f = ok("charrefs.rss", NULL);
    CHECK_STR(f->title, "RSS " CHARREFS);
    CHECK_STR(nth(f, 0)->title, "RSS " CHARREFS);
    CHECK(nth(f, 0)->summary.is_html);
    CHECK_STR(nth(f, 1)->title, "RSS plain AT&T < 3");
    tb_feed_free(f);
    f = ok("charrefs.json", NULL);
    CHECK_STR(nth(f, 0)->title, "JSON " CHARREFS);
    CHECK(nth(f, 0)->summary.is_html); /* escaped HTML: sanitized as HTML downstream */
    CHECK(nth(f, 0)->content.is_html);
    CHECK_STR(nth(f, 1)->title, "JSON plain AT&T <3");
    tb_feed_free(f);
}

/* Atom category term, scheme and label are all kept; a label alone serves
 * as the term too. */
static void test_category_labels(void)
{
    struct tb_feed *f = ok("categories.atom", NULL);
    const struct tb_category *c = nth(f, 0)->categories;

    CHECK(c != NULL && c->next != NULL && c->next->next != NULL && c->next->next->next != NULL);
    CHECK_STR(c->term, "cs.CL");
    CHECK_STR(c->scheme, "http://arxiv.org/schemas/atom");
    CHECK_STR(c->label, "Computation and Language");
    CHECK_STR(c->next->term, "fish");
    CHECK_STR(c->next->label, "Fish & Chips");
    CHECK(c->next->next->label == NULL && c->next->next->scheme == NULL);
    CHECK_STR(c->next->next->next->term, "Only a label");
    CHECK(dump_has(f, "\"label\": \"Computation and Language\""));
    tb_feed_free(f);
}

/* A document with more than TB_PARSE_MAX_ENTRIES items keeps the first ones. */
static void test_entry_cap(void)
{
    struct tb_buf doc;
    struct tb_feed *f = NULL;
    char err[256];
    int i;

    tb_buf_init(&doc, 64 << 20);
    CHECK_OK(tb_buf_adds(&doc, "<rss version=\"2.0\"><channel><title>t</title>"));
    for (i = 0; i < TB_PARSE_MAX_ENTRIES + 50; i++)
        CHECK_OK(tb_buf_addf(&doc, "<item><guid>urn:n:%d</guid></item>", i));
    CHECK_OK(tb_buf_adds(&doc, "</channel></rss>"));
    CHECK_OK(tb_parse_feed(doc.data, doc.len, NULL, &f, err, sizeof(err)));
    if (f != NULL) {
        CHECK_EQ(f->nentries, TB_PARSE_MAX_ENTRIES);
        CHECK_STR(f->last->id, "urn:n:9999");
        CHECK(f->error != NULL && strstr(f->error, "the rest are ignored") != NULL);
    }
    tb_feed_free(f);
    tb_buf_free(&doc);
}

static void test_hostile(void)
{
    struct tb_feed *f = ok("xxe.xml", NULL);
    clock_t t0;

    CHECK(!dump_has(f, "root:"));
    CHECK_STR(f->title, "XXE  test");
    CHECK_STR(nth(f, 0)->title, "Item");
    tb_feed_free(f);
    t0 = clock();
    f = ok("billion-laughs.xml", NULL);
    CHECK(!dump_has(f, "lollol"));
    CHECK_STR(nth(f, 0)->title, "laughs");
    tb_feed_free(f);
    f = ok("quadratic-blowup.xml", NULL);
    CHECK(!dump_has(f, "AAAAAAAAAA"));
    CHECK_STR(f->title, "q");
    tb_feed_free(f);
    CHECK((clock() - t0) < CLOCKS_PER_SEC); /* no expansion: milliseconds, not seconds */
}

/* A fixture that must fail with `want` and an err starting with `prefix`. */
static void fails(const char *name, int want, const char *prefix)
{
    char err[256] = "";
    int rc;
    struct tb_feed *f = parse(name, NULL, NULL, &rc, err, sizeof(err));

    CHECK_EQ(rc, want);
    CHECK(f == NULL);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fprintf(stderr, "%s: err \"%s\", want \"%s...\"\n", name, err, prefix);
    CHECK(strncmp(err, prefix, strlen(prefix)) == 0);
}

static void test_not_feeds(void)
{
    struct tb_parse_opts o = {NULL, NULL, 100};
    struct tb_feed *f = (struct tb_feed *)&o;
    char err[256], *big;
    size_t len;
    char *d = load("rss091.xml", &len);

    fails("html-page.html", TB_EPARSE, "not a feed: root element <html>");
    fails("empty.xml", TB_EPARSE, "empty document");
    fails("random.bin", TB_EPARSE, "not a feed: no XML root element");
    fails("invalid.json", TB_EPARSE, "invalid JSON: line 4 column");
    fails("not-jsonfeed.json", TB_EPARSE, "not a feed: JSON without");
    CHECK_EQ(tb_parse_feed(d, len, &o, &f, err, sizeof(err)), TB_ETOOBIG);
    CHECK(f == NULL);
    CHECK_EQ(tb_parse_feed("  \n ", 4, NULL, &f, err, sizeof(err)), TB_EPARSE);
    free(d);
    len = TB_PARSE_MAX_DEFAULT + 1;
    big = malloc(len);
    if (big == NULL)
        return;
    memset(big, ' ', len);
    CHECK_EQ(tb_parse_feed(big, len, NULL, &f, err, sizeof(err)), TB_ETOOBIG);
    free(big);
}

static void test_dump(void)
{
    struct tb_feed *f = ok("rss20-namespaces.xml", "http://ex.com/dir/feed");
    char *a = tb_feedjson_dump(f), *b = tb_feedjson_dump(f);

    CHECK(a != NULL && b != NULL && strcmp(a, b) == 0);
    CHECK(a != NULL &&
          strncmp(a, "{\n  \"format\": \"rss2.0\",\n  \"title\": \"Test & feed\"", 48) == 0);
    CHECK(dump_has(f, "\"published\": \"2024-01-02T03:04:05Z\""));
    CHECK(dump_has(f, "\"summary\": {\n        \"html\": true,\n        \"value\": \"<p>Hello"));
    CHECK(dump_has(f, "\"id_is_permalink\": false"));
    CHECK(!dump_has(f, "canon_link"));
    nth(f, 0)->canon_link = "https://ex.com/p/1";
    nth(f, 0)->arxiv_id = "2401.01234";
    CHECK(dump_has(f, "\"canon_link\": \"https://ex.com/p/1\""));
    CHECK(dump_has(f, "\"arxiv_id\": \"2401.01234\""));
    free(a);
    free(b);
    tb_feed_free(f);
}

static void test_samples(void)
{
    static const char *const samples[] = {"arxiv-cs.rss", "reading-group.atom", "cv-digest.rdf"};
    const char *src = getenv("TB_SOURCE_DIR");
    char path[1024], err[256];
    size_t i;

    for (i = 0; i < 3; i++) {
        FILE *fp;
        char buf[65536];
        size_t n;
        struct tb_feed *f = NULL;

        snprintf(path, sizeof(path), "%s/feeds/samples/%s", src ? src : "..", samples[i]);
        fp = fopen(path, "rb");
        CHECK(fp != NULL);
        if (fp == NULL)
            continue;
        n = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        CHECK_OK(tb_parse_feed(buf, n, NULL, &f, err, sizeof(err)));
        CHECK(f != NULL && f->nentries == 10 && f->error == NULL);
        tb_feed_free(f);
    }
}

int main(void)
{
    test_rss20_arxiv();
    test_rss20_namespaces();
    test_rss09x();
    test_rss10();
    test_atom10();
    test_atom_content();
    test_atom03();
    test_xmlbase();
    test_json();
    test_encodings();
    test_controls();
    test_malformed();
    test_html_entities();
    test_charrefs();
    test_category_labels();
    test_hostile();
    test_entry_cap();
    test_not_feeds();
    test_dump();
    test_samples();
    CHECK_DONE();
}
