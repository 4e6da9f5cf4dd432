/* Tests for the feed writers and the atomic file writer. */
#include "tb_gzip.h"
#include "tb_publish.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xmlwriter.h>
#include <zlib.h>

#include "tb_parse.h"
#include "../src/publish_int.h"
#include "../src/scan_int.h"
#include "check.h"

#define CAP (16u << 20)
#define T_PUB INT64_C(1704164645)    /* 2024-01-02T03:04:05Z */
#define T_FUTURE INT64_C(7258118400) /* 2200-01-01T00:00:00Z */
#define T_UPD INT64_C(1704240000)    /* 2024-01-03T00:00:00Z */
#define T_OLD INT64_C(1672531200)    /* 2023-01-01T00:00:00Z */

static char tmpdir[] = "/tmp/tb_publish_XXXXXX";

static const struct tb_publish_meta meta = {
    .id = "tag:tributary.test,2024:topic/ner",
    .title = "Entity linking & NER",
    .subtitle = "Papers on <entities>",
    .self = "http://localhost:8080/topics/ner.atom",
    .alternate = "http://localhost:8080/",
    .hub = "http://localhost:8080/hub",
    .next_archive = "http://localhost:8080/topics/ner-1.atom",
    .updated = TB_TIME_NONE,
};

/* Stores s in the feed's arena. */
static const char *sdup(struct tb_feed *f, const char *s)
{
    return tb_arena_strdup(&f->arena, s);
}

static struct tb_person *person(struct tb_feed *f, const char *name, const char *email,
                                const char *uri)
{
    struct tb_person *p = tb_arena_alloc(&f->arena, sizeof(*p));

    p->name = sdup(f, name);
    p->email = email ? sdup(f, email) : NULL;
    p->uri = uri ? sdup(f, uri) : NULL;
    return p;
}

static struct tb_category *category(struct tb_feed *f, const char *term, const char *scheme)
{
    struct tb_category *c = tb_arena_alloc(&f->arena, sizeof(*c));

    c->term = sdup(f, term);
    c->scheme = scheme ? sdup(f, scheme) : NULL;
    return c;
}

static struct tb_link *link_new(struct tb_feed *f, const char *rel, const char *href,
                                const char *type, int64_t length)
{
    struct tb_link *l = tb_arena_alloc(&f->arena, sizeof(*l));

    l->rel = rel ? sdup(f, rel) : NULL;
    l->href = sdup(f, href);
    l->type = type ? sdup(f, type) : NULL;
    l->length = length;
    return l;
}

/* Every field set, the way store hands entries back. */
static void add_full(struct tb_feed *f)
{
    struct tb_entry *e = tb_entry_new(f);

    e->out_id = "tag:tributary.test,2024:e1";
    e->title = "Entity linking at scale";
    e->link = "https://example.org/papers/1";
    e->published = T_PUB;
    e->updated = T_UPD;
    e->authors = person(f, "Alice Liddell", "alice@example.org", "https://alice.example/");
    e->authors->next = person(f, "Bob", NULL, NULL);
    e->contributors = person(f, "Carol", NULL, NULL);
    e->categories = category(f, "cs.CL", "http://arxiv.org/schemas/atom");
    e->categories->next = category(f, "NER", NULL);
    e->summary = (struct tb_text){"We link entities & <names> in text.", 0, NULL};
    e->content = (struct tb_text){"<p>Full <b>text</b> of the paper.</p>", 1, NULL};
    e->rights = "CC-BY 4.0";
    e->links =
        link_new(f, "enclosure", "https://example.org/papers/1.pdf", "application/pdf", 12345);
    e->links->next = link_new(f, "related", "https://example.org/code", "text/html", -1);
    e->links->next->next = link_new(f, NULL, "https://example.org/dup", NULL, -1);
    e->origin = (struct tb_origin){"https://export.arxiv.org/rss/cs.CL", "arXiv cs.CL",
                                   "https://arxiv.org/list/cs.CL/recent",
                                   "https://export.arxiv.org/rss/cs.CL"};
    tb_feed_append(f, e);
}

/* Control characters, CDATA ends, markup, bad UTF-8, U+FFFE, non-ASCII. */
static void add_hostile(struct tb_feed *f)
{
    struct tb_entry *e = tb_entry_new(f);

    e->out_id = "tag:tributary.test,2024:e3";
    e->title = "Bad\x01\x02 title ]]> <script>alert(1)</script> \xff\xfe\xef\xbf\xbe end";
    e->link = "https://example.org/p?a=1&b=\"2\"";
    e->published = T_OLD;
    e->authors = person(f, "M\xc3\xbcller \xe5\x90\x8d\x07", "not-an-email", "javascript alert");
    e->categories = category(f, "<&>\x1b", "bad scheme\x01");
    e->summary = (struct tb_text){"<p>]]></p><script>x()</script>\xc0\xaf\xed\xa0\x80", 1, NULL};
    e->content = (struct tb_text){"plain \xf0\x9f\x98\x80 & <not markup>\x0b", 0, NULL};
    e->links = link_new(f, "enclosure", "https://example.org/a b", "bogus", -1);
    e->origin.title = "Origin\x01 feed";
    tb_feed_append(f, e);
}

/* Only an id; then one with nothing at all and out-of-range dates. */
static void add_minimal(struct tb_feed *f)
{
    struct tb_entry *e = tb_entry_new(f);

    e->out_id = "urn:x:2";
    tb_feed_append(f, e);
    e = tb_entry_new(f);
    e->published = INT64_MAX;
    e->updated = INT64_MIN + 1;
    e->summary = (struct tb_text){"only <b>a</b> summary", 1, NULL};
    tb_feed_append(f, e);
}

/* A title and a content body of 1 MiB each. */
static void add_long(struct tb_feed *f)
{
    struct tb_entry *e = tb_entry_new(f);
    char *s = tb_arena_alloc(&f->arena, (1u << 20) + 1);

    memset(s, 'x', 1u << 20);
    for (size_t i = 0; i < (1u << 20); i += 64)
        s[i] = '<';
    e->out_id = "tag:tributary.test,2024:long";
    e->title = s;
    e->content = (struct tb_text){s, 0, NULL};
    e->updated = T_OLD;
    tb_feed_append(f, e);
}

static struct tb_feed *make_feed(void)
{
    struct tb_feed *f = tb_feed_new();

    add_full(f);
    add_minimal(f);
    add_hostile(f);
    add_long(f);
    return f;
}

typedef int (*writer_fn)(const struct tb_publish_meta *, const struct tb_entry *, struct tb_buf *);

/* Writes data to tmpdir/name; returns the path (static storage). */
static const char *save(const char *name, const char *data, size_t len)
{
    static char path[256];
    char err[256] = "";

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    CHECK_OK(tb_publish_write_file(tmpdir, name, data, len, NULL, 0, err, sizeof(err)));
    return path;
}

/* Runs a shell command; returns its exit status. */
static int run(const char *cmd)
{
    int st = system(cmd);

    if (st != 0)
        fprintf(stderr, "command failed (%d): %s\n", st, cmd);
    return st;
}

/* jing -c against the RFC 4287 schema (tests/fixtures/atom.rnc). */
static void check_jing(const char *path)
{
    const char *fx = getenv("TB_FIXTURES");
    char rnc[512], cmd[1200];

    snprintf(rnc, sizeof(rnc), "%s/atom.rnc", fx ? fx : "fixtures");
    CHECK(access(rnc, R_OK) == 0);
    if (!CHECK_NEED(check_have_tool("jing"), "jing (Atom schema check)"))
        return;
    snprintf(cmd, sizeof(cmd), "jing -c '%s' '%s' 2>/dev/null", rnc, path);
    CHECK_OK(run(cmd));
}

/* The reader round trip: feedparser for Atom and RSS, json for JSON Feed. */
static void check_reader(const char *format, const char *path)
{
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    const char *fx = getenv("TB_FIXTURES") ? getenv("TB_FIXTURES") : "fixtures";
    char cmd[1200];

    snprintf(cmd, sizeof(cmd), "'%s' -c 'import feedparser' 2>/dev/null", py);
    if (!CHECK_NEED(system(cmd) == 0, "python3 with python3-feedparser (reader check)"))
        return;
    snprintf(cmd, sizeof(cmd), "'%s' feedparser_check.py %s '%s' '%s/publish/expected.json'", py,
             format, path, fx);
    CHECK_OK(run(cmd));
}

/* Whether buf is well-formed XML (strict: no recovery). */
static int xml_ok(const struct tb_buf *b)
{
    xmlDocPtr doc = xmlReadMemory(b->data, (int)b->len, NULL, NULL, XML_PARSE_NONET);
    int ok = doc != NULL;

    xmlFreeDoc(doc);
    return ok;
}

static void test_format(const char *format, writer_fn fn, const struct tb_entry *entries)
{
    struct tb_buf a, b;
    char name[64];

    tb_buf_init(&a, CAP);
    tb_buf_init(&b, CAP);
    CHECK_OK(fn(&meta, entries, &a));
    CHECK_OK(fn(&meta, entries, &b));
    CHECK(a.len > 0 && a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    CHECK(strstr(a.data, "\x01") == NULL && strstr(a.data, "\x1b") == NULL);
    if (strcmp(format, "json") != 0) /* JSON strings hold the text as is */
        CHECK(strstr(a.data, "<script>") == NULL);
    CHECK(strstr(a.data, "\xef\xbf\xbd") != NULL); /* bad bytes became U+FFFD */
    CHECK(strstr(a.data, "\xef\xbf\xbe") == NULL); /* U+FFFE dropped */
    CHECK(strstr(a.data, "M\xc3\xbcller \xe5\x90\x8d") != NULL);
    CHECK(strstr(a.data, "javascript alert") == NULL); /* not a URI: left out */
    CHECK(strstr(a.data, "not-an-email") == NULL);     /* not an address: left out */
    CHECK(strstr(a.data, "https://alice.example/") != NULL || strcmp(format, "rss") == 0);
    if (strcmp(format, "json") == 0) {
        json_t *j = json_loadb(a.data, a.len, 0, NULL);

        CHECK(j != NULL);
        json_decref(j);
    } else {
        CHECK(xml_ok(&a));
    }
    snprintf(name, sizeof(name), "full.%s", format);
    if (strcmp(format, "atom") == 0)
        check_jing(save(name, a.data, a.len));
    check_reader(format, save(name, a.data, a.len));
    tb_buf_free(&a);
    tb_buf_free(&b);
}

/* Reads the golden file with "@VERSION@" replaced by TB_VERSION; free() it. */
static char *read_golden(void)
{
    const char *fx = getenv("TB_FIXTURES");
    char path[512], raw[4096], *at, *want;
    size_t n;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/publish/golden.atom", fx ? fx : "fixtures");
    fp = fopen(path, "rb");
    CHECK(fp != NULL);
    if (fp == NULL)
        return NULL;
    n = fread(raw, 1, sizeof(raw) - 1, fp);
    fclose(fp);
    raw[n] = '\0';
    at = strstr(raw, "@VERSION@");
    want = malloc(n + sizeof(TB_VERSION));
    CHECK(at != NULL && want != NULL);
    if (at == NULL || want == NULL) {
        free(want);
        return NULL;
    }
    sprintf(want, "%.*s%s%s", (int)(at - raw), raw, TB_VERSION, at + 9);
    return want;
}

/* A small document compared byte for byte with tests/fixtures/publish/golden.atom. */
static void test_golden(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e = tb_entry_new(f);
    struct tb_publish_meta m = {.id = "urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6",
                                .title = "Example Feed",
                                .self = "http://example.org/feed.atom",
                                .alternate = "http://example.org/",
                                .updated = T_UPD};
    char *want;
    struct tb_buf out;

    e->out_id = "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a";
    e->title = "Atom-Powered Robots Run Amok";
    e->link = "http://example.org/2003/12/13/atom03";
    e->published = T_PUB;
    e->authors = person(f, "John Doe", "john@example.org", NULL);
    e->summary = (struct tb_text){"Some text & more.", 0, NULL};
    tb_feed_append(f, e);
    tb_buf_init(&out, CAP);
    CHECK_OK(tb_publish_atom(&m, f->entries, &out));
    want = read_golden();
    CHECK(want != NULL && out.data != NULL);
    if (want && out.data && strcmp(want, out.data) != 0)
        fprintf(stderr, "golden mismatch, got:\n%s", out.data);
    CHECK(want && out.data && strcmp(want, out.data) == 0);
    check_jing(save("golden.atom", out.data, out.len));
    free(want);
    tb_buf_free(&out);
    tb_feed_free(f);
}

/* An entry of a trending list carries tb:trending in Atom and RSS and
 * _tributary in JSON Feed; other entries carry none, and Atom stays valid. */
static void test_trending(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e = tb_entry_new(f), *plain = tb_entry_new(f);
    struct tb_publish_meta m = {.id = "urn:x", .title = "T", .updated = T_UPD};
    struct tb_buf out;
    json_t *j, *ext;

    e->out_id = "urn:x:1";
    e->link = "https://arxiv.org/abs/2501.00001";
    e->trend_score = 2.41;
    e->trend_groups = 4;
    plain->out_id = "urn:x:2";
    plain->link = "https://example.org/2";
    tb_feed_append(f, e);
    tb_feed_append(f, plain);
    tb_buf_init(&out, CAP);
    CHECK_OK(tb_publish_atom(&m, f->entries, &out));
    CHECK(strstr(out.data, "<tb:trending xmlns:tb=\"" TB_PUBLISH_NS
                           "\" score=\"2.410\" groups=\"4\"/>") != NULL);
    CHECK(strstr(strstr(out.data, "urn:x:2"), "tb:trending") == NULL);
    check_jing(save("trending.atom", out.data, out.len));
    tb_buf_reset(&out);
    CHECK_OK(tb_publish_rss(&m, f->entries, &out));
    CHECK(xml_ok(&out));
    CHECK(strstr(out.data, "score=\"2.410\" groups=\"4\"/>") != NULL);
    tb_buf_reset(&out);
    CHECK_OK(tb_publish_json(&m, f->entries, &out));
    j = json_loadb(out.data, out.len, 0, NULL);
    CHECK(j != NULL);
    ext = json_object_get(json_array_get(json_object_get(j, "items"), 0), "_tributary");
    CHECK(json_is_string(json_object_get(ext, "about")));
    CHECK(json_real_value(json_object_get(json_object_get(ext, "trending"), "score")) == 2.41);
    CHECK(json_integer_value(json_object_get(json_object_get(ext, "trending"), "groups")) == 4);
    CHECK(json_object_get(json_array_get(json_object_get(j, "items"), 1), "_tributary") == NULL);
    json_decref(j);
    tb_buf_free(&out);
    tb_feed_free(f);
}

/* No entries, NULL everywhere in meta: still a valid document. */
static void test_empty(void)
{
    struct tb_publish_meta m = {.updated = TB_TIME_NONE};
    struct tb_buf out;

    tb_buf_init(&out, CAP);
    CHECK_OK(tb_publish_atom(&m, NULL, &out));
    CHECK(xml_ok(&out));
    check_jing(save("empty.atom", out.data, out.len));
    tb_buf_reset(&out);
    CHECK_OK(tb_publish_rss(&m, NULL, &out));
    CHECK(xml_ok(&out));
    tb_buf_reset(&out);
    CHECK_OK(tb_publish_json(&m, NULL, &out));
    CHECK(strstr(out.data, "\"items\": []") != NULL);
    tb_buf_free(&out);
}

/* Appending keeps earlier bytes; a cap too small fails cleanly. */
static void test_buffers(const struct tb_entry *entries)
{
    writer_fn fns[3] = {tb_publish_atom, tb_publish_rss, tb_publish_json};
    struct tb_buf out;

    for (int i = 0; i < 3; i++) {
        tb_buf_init(&out, CAP);
        CHECK_OK(tb_buf_adds(&out, "PREFIX"));
        CHECK_OK(fns[i](&meta, entries, &out));
        CHECK(strncmp(out.data, "PREFIX", 6) == 0 && out.len > 1000);
        tb_buf_free(&out);
        tb_buf_init(&out, 5000);
        CHECK_EQ(fns[i](&meta, entries, &out), TB_ETOOBIG);
        CHECK(out.data == NULL && out.len == 0);
        tb_buf_free(&out);
    }
}

/* The year of t, as the writers print it. */
static int year_of(int64_t t)
{
    char buf[32];

    CHECK_OK(tb_date_format_rfc3339(t, buf, sizeof(buf)));
    return atoi(buf);
}

/* A feed is never dated after it is written: neither a future entry date
 * nor a future meta date reaches the feed's updated or lastBuildDate. The
 * entry keeps its own date (the store clamps those, tb_store_clamp_date()). */
static void test_future_dates(const struct tb_entry *entries)
{
    struct tb_entry future = *entries;
    struct tb_publish_meta m = meta;
    struct tb_buf out;
    char want[64];
    const char *lbd;
    int64_t before = (int64_t)time(NULL);
    int year;

    future.next = NULL;
    future.updated = T_FUTURE;
    tb_buf_init(&out, CAP);
    CHECK_OK(tb_publish_atom(&meta, &future, &out));
    year = year_of(before);
    snprintf(want, sizeof(want), "</subtitle>\n  <updated>%d-", year);
    CHECK(strstr(out.data, want) != NULL);
    CHECK(strstr(out.data, "<updated>2200-01-01T00:00:00Z</updated>") != NULL); /* the entry's */
    tb_buf_reset(&out);
    CHECK_OK(tb_publish_rss(&meta, &future, &out));
    snprintf(want, sizeof(want), " %d ", year);
    lbd = strstr(out.data, "<lastBuildDate>");
    CHECK(lbd != NULL && strncmp(strstr(lbd, ", ") + 8, want, strlen(want)) == 0);
    m.updated = T_FUTURE;
    tb_buf_reset(&out);
    CHECK_OK(tb_publish_atom(&m, NULL, &out));
    CHECK(strstr(out.data, "2200") == NULL);
    tb_buf_reset(&out);
    CHECK_OK(tb_publish_rss(&m, NULL, &out));
    CHECK(strstr(out.data, "2200") == NULL);
    tb_buf_free(&out);
}

static void test_dates(const struct tb_entry *entries)
{
    struct tb_buf out;

    /* Feed updated from the newest entry date; RFC 822 in RSS. */
    tb_buf_init(&out, CAP);
    CHECK_OK(tb_publish_atom(&meta, entries, &out));
    CHECK(strstr(out.data, "</subtitle>\n  <updated>2024-01-03T00:00:00Z</updated>") != NULL);
    tb_buf_reset(&out);
    CHECK_OK(tb_publish_rss(&meta, entries, &out));
    CHECK(strstr(out.data, "<pubDate>Tue, 02 Jan 2024 03:04:05 +0000</pubDate>") != NULL);
    tb_buf_free(&out);
    test_future_dates(entries);
}

/* Writes entries one batch of one at a time, draining the buffer into all. */
static int stream_atom(const struct tb_publish_meta *m, int authorless,
                       const struct tb_entry *entries, size_t cap, struct tb_buf *all)
{
    struct tb_publish_stream *ps;
    struct tb_buf out;
    int rc, end;

    tb_buf_init(&out, cap);
    rc = tb_publish_atom_begin(&ps, m, authorless, &out);
    for (; rc == 0 && entries; entries = entries->next) {
        struct tb_entry one = *entries;

        one.next = NULL;
        CHECK_OK(tb_buf_add(all, out.data ? out.data : "", out.len));
        tb_buf_reset(&out);
        rc = tb_publish_atom_entries(ps, &one);
    }
    if (rc)
        CHECK_EQ(tb_publish_atom_entries(ps, NULL), rc); /* the error is sticky */
    end = tb_publish_atom_end(ps);
    CHECK(rc == 0 || end == rc);
    if (rc == 0 && end == 0)
        CHECK_OK(tb_buf_add(all, out.data ? out.data : "", out.len));
    tb_buf_free(&out);
    return rc ? rc : end;
}

/* A document streamed in batches is byte for byte the one-call document. */
static void test_stream(const struct tb_entry *entries)
{
    struct tb_publish_meta m = meta;
    struct tb_entry first = *entries;
    struct tb_buf whole, streamed;

    m.updated = T_UPD;
    first.next = NULL;
    tb_buf_init(&whole, CAP);
    tb_buf_init(&streamed, CAP);
    CHECK_OK(tb_publish_atom(&m, entries, &whole));
    CHECK_OK(stream_atom(&m, 1, entries, CAP, &streamed));
    CHECK(whole.len > 1000 && whole.len == streamed.len);
    CHECK(whole.data && streamed.data && memcmp(whole.data, streamed.data, whole.len) == 0);
    /* Without authorless entries the feed has no author of its own. */
    tb_buf_reset(&whole);
    tb_buf_reset(&streamed);
    CHECK_OK(tb_publish_atom(&m, &first, &whole));
    CHECK_OK(stream_atom(&m, 0, &first, CAP, &streamed));
    CHECK(whole.data && streamed.data && strcmp(whole.data, streamed.data) == 0);
    CHECK(strstr(streamed.data ? streamed.data : "", "<name>Entity linking") == NULL);
    /* A batch over the cap fails, and the failure stays. */
    tb_buf_reset(&streamed);
    CHECK_EQ(stream_atom(&m, 1, entries, 100000, &streamed), TB_ETOOBIG);
    CHECK_OK(tb_publish_atom_end(NULL));
    tb_buf_free(&whole);
    tb_buf_free(&streamed);
}

/* Appends what buf holds to all and empties buf. */
static void move_to(struct tb_buf *all, struct tb_buf *buf)
{
    CHECK_OK(tb_buf_add(all, buf->data ? buf->data : "", buf->len));
    tb_buf_reset(buf);
}

/* Pieces rendered apart, put between begin's and end's bytes, give the
 * one-call document, fallback ids (which count positions) included. */
static void test_render(const struct tb_entry *entries)
{
    static const size_t cuts[] = {1, 2, 100};
    struct tb_publish_meta m = meta;
    struct tb_publish_stream *ps;
    struct tb_buf whole, doc, piece;
    const struct tb_entry *e = entries;
    size_t i, k, pos = 0;

    m.updated = T_UPD;
    tb_buf_init(&whole, CAP);
    tb_buf_init(&doc, CAP);
    tb_buf_init(&piece, CAP);
    CHECK_OK(tb_publish_atom(&m, entries, &whole));
    CHECK(strstr(whole.data ? whole.data : "", "urn:tributary:entry:3") != NULL);
    CHECK_OK(tb_publish_atom_begin(&ps, &m, 1, &doc));
    CHECK_OK(tb_publish_atom_render(ps, 0, entries, 0, &piece));
    CHECK_EQ(piece.len, 0);
    for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        CHECK_OK(tb_publish_atom_render(ps, pos, e, cuts[i], &piece));
        move_to(&doc, &piece);
        for (k = 0; k < cuts[i] && e != NULL; k++, pos++)
            e = e->next;
    }
    CHECK_OK(tb_publish_atom_end(ps));
    CHECK(whole.len > 1000 && whole.len == doc.len);
    CHECK(whole.data && doc.data && memcmp(whole.data, doc.data, whole.len) == 0);
    /* A piece over its buffer's cap fails; the stream is unharmed. */
    tb_buf_reset(&doc);
    CHECK_OK(tb_publish_atom_begin(&ps, &m, 1, &doc));
    tb_buf_free(&piece);
    tb_buf_init(&piece, 100);
    CHECK_EQ(tb_publish_atom_render(ps, 0, entries, 10, &piece), TB_ETOOBIG);
    CHECK_OK(tb_publish_atom_end(ps));
    CHECK(xml_ok(&doc));
    tb_buf_free(&piece);
    tb_buf_free(&doc);
    tb_buf_free(&whole);
}

/* One step of a layout script: 's' start, 'e' end, 'a' attribute, 't' text,
 * 'f' flush; then what it names or writes. */
struct step {
    char op;
    const char *arg;
};

/* Runs a script through libxml2's indenting writer (as tb__xml did before
 * it wrote the white space itself) and through tb__xml: the same bytes,
 * flushed in the middle or not. */
static void check_layout(const struct step *s, size_t n, int depth)
{
    xmlBufferPtr b = xmlBufferCreate();
    xmlTextWriterPtr w = xmlNewTextWriterMemory(b, 0);
    struct tb_buf got;
    struct tb__xml x;
    size_t i;
    int k;

    tb_buf_init(&got, CAP);
    CHECK(w != NULL);
    CHECK(xmlTextWriterSetIndent(w, 1) >= 0 && xmlTextWriterSetIndentString(w, BAD_CAST "  ") >= 0);
    CHECK(xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) >= 0);
    CHECK_OK(tb__xml_open(&x, &got));
    for (k = 0; k < depth; k++) {
        CHECK(xmlTextWriterStartElement(w, BAD_CAST "d") >= 0);
        tb__xml_start(&x, "d");
    }
    for (i = 0; i < n; i++) {
        int rc = 0;

        if (s[i].op == 's') {
            rc = xmlTextWriterStartElement(w, BAD_CAST s[i].arg);
            tb__xml_start(&x, s[i].arg);
        } else if (s[i].op == 'e') {
            rc = xmlTextWriterEndElement(w);
            tb__xml_end(&x);
        } else if (s[i].op == 'a') {
            rc = xmlTextWriterWriteAttribute(w, BAD_CAST "a", BAD_CAST s[i].arg);
            tb__xml_attr(&x, "a", s[i].arg);
        } else if (s[i].op == 't') {
            rc = xmlTextWriterWriteString(w, BAD_CAST s[i].arg);
            tb__xml_text(&x, s[i].arg);
        } else {
            tb__xml_flush(&x);
        }
        CHECK(rc >= 0);
    }
    CHECK(xmlTextWriterEndDocument(w) >= 0);
    xmlFreeTextWriter(w);
    CHECK_OK(tb__xml_close(&x));
    CHECK_STR(got.data ? got.data : "", (const char *)xmlBufferContent(b));
    xmlBufferFree(b);
    tb_buf_free(&got);
}

static void test_layout(void)
{
    static const struct step nested[] = {
        {'s', "feed"},   {'a', "x"},    {'s', "id"},   {'t', "1"},  {'e', NULL}, {'f', NULL},
        {'s', "empty"},  {'e', NULL},   {'s', "link"}, {'a', "h"},  {'e', NULL}, {'s', "entry"},
        {'s', "author"}, {'s', "name"}, {'t', "n"},    {'e', NULL}, {'e', NULL}, {'f', NULL},
        {'s', "blank"},  {'t', ""},     {'e', NULL},   {'e', NULL}, {'f', NULL}, {'e', NULL}};
    static const struct step mixed[] = {{'s', "p"},  {'t', "text "}, {'s', "b"},  {'t', "bold"},
                                        {'e', NULL}, {'t', " tail"}, {'s', "br"}, {'e', NULL},
                                        {'f', NULL}, {'t', "end"},   {'e', NULL}};
    static const struct step unclosed[] = {{'s', "a"}, {'s', "b"}, {'t', "x"}, {'s', "c"}};

    check_layout(nested, sizeof(nested) / sizeof(nested[0]), 0);
    check_layout(nested, sizeof(nested) / sizeof(nested[0]), 3);
    check_layout(nested, sizeof(nested) / sizeof(nested[0]),
                 40); /* more than one write of spaces */
    check_layout(mixed, sizeof(mixed) / sizeof(mixed[0]), 0);
    check_layout(mixed, sizeof(mixed) / sizeof(mixed[0]), 2);
    check_layout(unclosed, sizeof(unclosed) / sizeof(unclosed[0]), 1); /* closed by the ends */
    check_layout(NULL, 0, 0);                                          /* no element at all */
}

/* <e a="value"/> through libxml2's own indenting writer and through
 * tb__xml_attr() (cleaning, then WriteAttribute) inside tb__xml's own
 * indentation: the same bytes. */
static void test_attr_values(void)
{
    static const char *const values[] = {
        "",
        "alternate",
        "http://x/?a=1&b=2",
        "a\"b",
        "<x>",
        "tab\there",
        "line\nbreak",
        "\r",
        "caf\xc3\xa9",
        "~",
        " lead and trail ",
        "'single'",
    };
    struct tb_buf want, got;
    struct tb__xml x;
    size_t i;

    tb_buf_init(&want, CAP);
    tb_buf_init(&got, CAP);
    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        xmlBufferPtr b = xmlBufferCreate();
        xmlTextWriterPtr w = xmlNewTextWriterMemory(b, 0);

        CHECK(w != NULL && xmlTextWriterSetIndent(w, 1) >= 0);
        CHECK(xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) >= 0); /* as tb__xml_open() */
        CHECK(xmlTextWriterStartElement(w, BAD_CAST "e") >= 0);
        CHECK(xmlTextWriterWriteAttribute(w, BAD_CAST "a", BAD_CAST values[i]) >= 0);
        CHECK(xmlTextWriterEndElement(w) >= 0);
        xmlFreeTextWriter(w);
        tb_buf_reset(&want);
        CHECK_OK(tb_buf_add(&want, xmlBufferContent(b), (size_t)xmlBufferLength(b)));
        xmlBufferFree(b);
        tb_buf_reset(&got);
        CHECK_OK(tb__xml_open(&x, &got));
        x.discard = 1; /* no XML declaration */
        tb__xml_flush(&x);
        x.discard = 0;
        tb__xml_start(&x, "e");
        tb__xml_attr(&x, "a", values[i]);
        tb__xml_end(&x);
        tb__xml_flush(&x);
        x.discard = 1;
        CHECK_OK(tb__xml_close(&x));
        /* want has the XML declaration before the element. */
        CHECK(got.len > 8 && want.len > got.len);
        CHECK_STR(got.data ? got.data : "", want.data ? want.data + want.len - got.len : "");
    }
    tb_buf_free(&want);
    tb_buf_free(&got);
}

/* The block scan stops at the block holding the first byte of interest,
 * for each kind of byte, at every offset, in texts of every length. */
static void test_scan(void)
{
    static const struct {
        unsigned char c; /* the byte planted */
        int flags;       /* scan flags */
        int stops;       /* whether the scan must stop at it */
    } rows[] = {
        {0x01, TB__SCAN_C0, 1},
        {0x1f, TB__SCAN_C0, 1},
        {0x20, TB__SCAN_C0, 0},
        {0x80, TB__SCAN_C0, 0},
        {0xff, TB__SCAN_C0, 0},
        {0x80, TB__SCAN_HIGH, 1},
        {0xff, TB__SCAN_HIGH, 1},
        {0x7f, TB__SCAN_HIGH, 0},
        {0x01, TB__SCAN_HIGH, 0},
        {'<', 0, 1},
        {'"', 0, 1},
        {'\r', 0, 1},
        {'=', 0, 0},
        {0xbc, 0, 0},
    };
    char text[80];
    size_t i, n, at, want;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        for (n = 0; n < sizeof(text); n++) {
            for (at = 0; at <= n; at++) {
                memset(text, 'a', sizeof(text));
                if (at < n)
                    text[at] = (char)rows[i].c;
                want = (rows[i].stops && at < n ? at : n) / TB__SCAN_STEP * TB__SCAN_STEP;
                CHECK_EQ(tb__scan_plain(text, n, rows[i].flags, "<\"\r", 3), want);
            }
        }
    }
}

/* JSON Feed's summary is plain text: an HTML summary loses its markup. */
static void test_json_summary(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e = tb_entry_new(f);
    struct tb_buf out;

    e->out_id = "urn:e";
    e->summary = (struct tb_text){"<p>sum &amp; <b>b</b></p>", 1, NULL};
    e->content = (struct tb_text){"<p>body</p>", 1, NULL};
    tb_feed_append(f, e);
    tb_buf_init(&out, CAP);
    CHECK_OK(tb_publish_json(&meta, f->entries, &out));
    CHECK(strstr(out.data, "\"summary\": \"sum & b\"") != NULL);
    CHECK(strstr(out.data, "\"content_html\": \"<p>body</p>\"") != NULL);
    tb_buf_free(&out);
    tb_feed_free(f);
}

/* Whether dir holds a leftover temp file. */
static int has_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int found = 0;

    while (d && (de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".tmp.") != NULL)
            found = 1;
    }
    if (d)
        closedir(d);
    return found;
}

/* Reads a whole (possibly gzipped) file into buf; returns its length or -1. */
static long slurp(const char *path, char *buf, size_t len)
{
    gzFile gz = gzopen(path, "rb");
    int n;

    if (gz == NULL)
        return -1;
    n = gzread(gz, buf, (unsigned)len);
    gzclose(gz);
    return n;
}

/* Whether the file at path holds exactly the n bytes at p. */
static int same_file(const char *path, const void *p, size_t n)
{
    char buf[4096];
    FILE *fp = fopen(path, "rb");
    size_t got;

    if (fp == NULL)
        return 0;
    got = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    return got == n && memcmp(buf, p, n) == 0;
}

static void test_write_file(void)
{
    char err[512], path[512], got[64], sub[512];
    struct stat st;

    struct tb_buf gz;

    /* The .gz file holds the bytes given, as given. */
    tb_buf_init(&gz, 1024);
    CHECK_OK(tb_gzip("first", 5, TB_GZIP_BEST, &gz));
    CHECK_OK(tb_publish_write_file(tmpdir, "a/b/feed.atom", "first", 5, gz.data, gz.len, err,
                                   sizeof(err)));
    snprintf(path, sizeof(path), "%s/a/b/feed.atom", tmpdir);
    CHECK_EQ(slurp(path, got, sizeof(got)), 5);
    CHECK(memcmp(got, "first", 5) == 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
    strcat(path, ".gz");
    CHECK_EQ(slurp(path, got, sizeof(got)), 5);
    CHECK(memcmp(got, "first", 5) == 0);
    CHECK(same_file(path, gz.data, gz.len));
    tb_buf_free(&gz);
    snprintf(sub, sizeof(sub), "%s/a/b", tmpdir);
    CHECK(!has_tmp(sub));
    /* Replace, then turn gzip off: the stale .gz goes. */
    CHECK_OK(
        tb_publish_write_file(tmpdir, "a/b/feed.atom", "second!", 7, NULL, 0, err, sizeof(err)));
    path[strlen(path) - 3] = '\0';
    CHECK_EQ(slurp(path, got, sizeof(got)), 7);
    CHECK(memcmp(got, "second!", 7) == 0);
    strcat(path, ".gz");
    CHECK(access(path, F_OK) != 0 && errno == ENOENT);
    CHECK(!has_tmp(sub));
    /* An empty file is fine too. */
    tb_buf_init(&gz, 1024);
    CHECK_OK(tb_gzip("", 0, TB_GZIP_BEST, &gz));
    CHECK_OK(tb_publish_write_file(tmpdir, "empty", "", 0, gz.data, gz.len, err, sizeof(err)));
    snprintf(path, sizeof(path), "%s/empty.gz", tmpdir);
    CHECK_EQ(slurp(path, got, sizeof(got)), 0);
    tb_buf_free(&gz);
}

static void test_write_file_errors(void)
{
    const char *bad[] = {"", "/abs", "../x", "a/../x", "a//b", "./x", "a/", "."};
    char err[512], file[512];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ(tb_publish_write_file(tmpdir, bad[i], "x", 1, NULL, 0, err, sizeof(err)), -EINVAL);
    /* A directory that is a regular file cannot hold anything (even for root). */
    snprintf(file, sizeof(file), "%s/plainfile", tmpdir);
    CHECK_OK(tb_publish_write_file(tmpdir, "plainfile", "x", 1, NULL, 0, err, sizeof(err)));
    err[0] = '\0';
    CHECK_EQ(tb_publish_write_file(file, "x.atom", "x", 1, NULL, 0, err, sizeof(err)), -ENOTDIR);
    CHECK(strstr(err, "plainfile") != NULL);
    CHECK_EQ(tb_publish_write_file(file, "sub/x.atom", "x", 1, NULL, 0, err, sizeof(err)),
             -ENOTDIR);
    CHECK(!has_tmp(tmpdir));
}

/* A batch: nothing appears before the commit; then every file and its .gz,
 * complete, no temporaries; freed uncommitted, it leaves nothing. */
static void test_batch(void)
{
    char err[512], path[512], got[64], sub[512];
    struct tb_publish_batch *b;
    struct tb_buf gz;

    tb_buf_init(&gz, 1024);
    CHECK_OK(tb_gzip("page", 4, TB_GZIP_BEST, &gz));
    b = tb_publish_batch_new(tmpdir);
    CHECK(b != NULL);
    CHECK_OK(tb_publish_batch_write(b, "e/archive/2.atom", "page", 4, gz.data, gz.len, err,
                                    sizeof(err)));
    CHECK_OK(tb_publish_batch_write(b, "e/archive/1.atom", "page", 4, gz.data, gz.len, err,
                                    sizeof(err)));
    CHECK_OK(tb_publish_batch_write(b, "e/index.html", "", 0, gz.data, gz.len, err, sizeof(err)));
    CHECK_EQ(tb_publish_batch_write(b, "e/../x", "x", 1, gz.data, gz.len, err, sizeof(err)),
             -EINVAL);
    snprintf(path, sizeof(path), "%s/e/archive/1.atom", tmpdir);
    CHECK(access(path, F_OK) != 0 && errno == ENOENT);
    snprintf(sub, sizeof(sub), "%s/e/archive", tmpdir);
    CHECK(has_tmp(sub));
    CHECK_OK(tb_publish_batch_commit(b, err, sizeof(err)));
    CHECK(!has_tmp(sub));
    CHECK_EQ(slurp(path, got, sizeof(got)), 4);
    CHECK(memcmp(got, "page", 4) == 0);
    strcat(path, ".gz");
    CHECK(same_file(path, gz.data, gz.len));
    snprintf(path, sizeof(path), "%s/e/archive/2.atom.gz", tmpdir);
    CHECK(same_file(path, gz.data, gz.len));
    snprintf(path, sizeof(path), "%s/e/index.html", tmpdir);
    CHECK_EQ(slurp(path, got, sizeof(got)), 0);
    /* Not committed: its temporaries go, its files never appear. */
    b = tb_publish_batch_new(tmpdir);
    CHECK(b != NULL);
    CHECK_OK(tb_publish_batch_write(b, "e/archive/3.atom", "page", 4, gz.data, gz.len, err,
                                    sizeof(err)));
    CHECK(has_tmp(sub));
    tb_publish_batch_free(b);
    CHECK(!has_tmp(sub));
    snprintf(path, sizeof(path), "%s/e/archive/3.atom", tmpdir);
    CHECK(access(path, F_OK) != 0 && errno == ENOENT);
    CHECK_OK(tb_publish_batch_commit(NULL, err, sizeof(err)));
    tb_buf_free(&gz);
}

/* A batch file without a .gz twin (archive pages): none is written, and a
 * stale one (of other bytes) goes, so no server sends it for the new file. */
static void test_batch_no_gz(void)
{
    char err[512], path[512], got[64];
    struct tb_publish_batch *b;

    CHECK_OK(
        tb_publish_write_file(tmpdir, "f/archive/1.atom.gz", "old", 3, NULL, 0, err, sizeof(err)));
    b = tb_publish_batch_new(tmpdir);
    CHECK(b != NULL);
    CHECK_OK(tb_publish_batch_write(b, "f/archive/1.atom", "page", 4, NULL, 0, err, sizeof(err)));
    CHECK_OK(tb_publish_batch_write(b, "f/archive/2.atom", "next", 4, NULL, 0, err, sizeof(err)));
    CHECK_OK(tb_publish_batch_commit(b, err, sizeof(err)));
    snprintf(path, sizeof(path), "%s/f/archive/1.atom", tmpdir);
    CHECK_EQ(slurp(path, got, sizeof(got)), 4);
    CHECK(memcmp(got, "page", 4) == 0);
    strcat(path, ".gz");
    CHECK(access(path, F_OK) != 0 && errno == ENOENT);
    snprintf(path, sizeof(path), "%s/f/archive/2.atom", tmpdir);
    CHECK_EQ(slurp(path, got, sizeof(got)), 4);
    strcat(path, ".gz");
    CHECK(access(path, F_OK) != 0 && errno == ENOENT);
}

/* Temporaries left by a kill between write and rename are removed; other
 * files, hidden or not, stay. */
static void test_clean_tmp(void)
{
    const char *names[] = {"c/.feed.atom.tmp.Ab12Cd", "c/d/.x.json.tmp.ZZZZZZ", "c/.hidden",
                           "c/feed.tmp.atom"};
    char path[512], err[512];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        CHECK_OK(tb_publish_write_file(tmpdir, "c/d/keep.atom", "k", 1, NULL, 0, err, sizeof(err)));
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        FILE *fp = fopen(path, "w");
        CHECK(fp != NULL);
        if (fp)
            fclose(fp);
    }
    snprintf(path, sizeof(path), "%s/c", tmpdir);
    CHECK_EQ(tb_publish_clean_tmp(path), 2);
    CHECK_EQ(tb_publish_clean_tmp(path), 0);
    snprintf(path, sizeof(path), "%s/c/.hidden", tmpdir);
    CHECK(access(path, F_OK) == 0);
    snprintf(path, sizeof(path), "%s/c/feed.tmp.atom", tmpdir);
    CHECK(access(path, F_OK) == 0);
    snprintf(path, sizeof(path), "%s/no-such-dir", tmpdir);
    CHECK_EQ(tb_publish_clean_tmp(path), 0);
}

/* Entries over three origins whose strings they share, as the dedupe
 * gives them: authored and authorless, an origin of markup and control
 * characters, and an empty one (no atom:source unless authorless). */
static struct tb_feed *shared_origins(char **title)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_origin o[3] = {{0}};
    size_t i;

    *title = (char *)sdup(f, "arXiv cs.CL");
    o[0] = (struct tb_origin){sdup(f, "urn:a"), *title, sdup(f, "https://a.example/"),
                              sdup(f, "https://a.example/feed")};
    o[1].title = sdup(f, "B & <b>\x01 feed \xff");
    for (i = 0; i < 12; i++) {
        struct tb_entry *e = tb_entry_new(f);

        e->out_id = sdup(f, i % 2 ? "urn:x:odd" : "urn:x:even");
        e->title = "t";
        e->link = "https://example.org/";
        e->published = T_PUB - (int64_t)i;
        e->authors = i % 4 == 3 ? NULL : person(f, "A", NULL, NULL);
        e->origin = o[i % 3];
        tb_feed_append(f, e);
    }
    return f;
}

/* Renders the whole list as one piece of a document begun on doc. */
static void render_doc(struct tb_publish_stream *ps, const struct tb_entry *list,
                       struct tb_buf *doc)
{
    struct tb_buf piece;

    tb_buf_init(&piece, CAP);
    CHECK_OK(tb_publish_atom_render(ps, 0, list, 100, &piece));
    move_to(doc, &piece);
    tb_buf_free(&piece);
}

/* Cached atom:source blocks give the bytes written element by element, in
 * pieces and in a stream; they are keyed by the origin's pointers. */
static void test_cached_sources(void)
{
    struct tb_publish_meta m = meta;
    struct tb_publish_stream *plain, *cached, *stream;
    struct tb_buf a, b, c;
    char *title;
    struct tb_feed *f = shared_origins(&title);

    m.updated = T_UPD;
    tb_buf_init(&a, CAP);
    tb_buf_init(&b, CAP);
    tb_buf_init(&c, CAP);
    CHECK_OK(tb_publish_atom_begin(&plain, &m, 1, &a));
    CHECK_OK(tb_publish_atom_begin(&cached, &m, 1, &b));
    CHECK_OK(tb_publish_atom_begin(&stream, &m, 1, &c));
    CHECK_OK(tb_publish_atom_share_sources(cached));
    CHECK_OK(tb_publish_atom_share_sources(cached)); /* twice is once */
    CHECK_OK(tb_publish_atom_share_sources(stream));
    render_doc(plain, f->entries, &a);
    render_doc(cached, f->entries, &b);
    CHECK_OK(tb_publish_atom_entries(stream, f->entries));
    CHECK(a.len > 1000 && a.len == b.len && a.len == c.len);
    CHECK(a.data && b.data && c.data && memcmp(a.data, b.data, a.len) == 0 &&
          memcmp(a.data, c.data, a.len) == 0);
    CHECK(strstr(a.data ? a.data : "", "<name>unknown</name>") != NULL);
    CHECK(strstr(a.data ? a.data : "", "B &amp; &lt;b&gt; feed \xef\xbf\xbd") != NULL);
    /* The same pointers with other contents: the cached stream still
     * writes what it cached, the plain one what is there now. */
    title[0] = 'X';
    tb_buf_reset(&a);
    tb_buf_reset(&b);
    render_doc(plain, f->entries, &a);
    render_doc(cached, f->entries, &b);
    CHECK(strstr(a.data ? a.data : "", "XrXiv cs.CL") != NULL);
    CHECK(strstr(b.data ? b.data : "", "XrXiv cs.CL") == NULL);
    CHECK_OK(tb_publish_atom_end(plain));
    CHECK_OK(tb_publish_atom_end(cached));
    CHECK_OK(tb_publish_atom_end(stream));
    CHECK(xml_ok(&c));
    tb_buf_free(&a);
    tb_buf_free(&b);
    tb_buf_free(&c);
    tb_feed_free(f);
}

/* tb__pub_clean() at every length and position, around the block size:
 * text with one bad byte or sequence anywhere is cleaned (a copy), good
 * UTF-8, tab and newline anywhere leave it as it is. */
static void test_clean_positions(void)
{
    static const struct {
        const char *seq; /* planted */
        int clean;       /* the expected answer with it in */
    } rows[] = {{"\x01", 0}, {"\xff", 0}, {"\xc3", 0},     {"\xef\xbf\xbe", 0}, {"\xed\xa0\x80", 0},
                {"\t", 1},   {"\n", 1},   {"\xc3\xa9", 1}, {"\xe2\x80\xa6", 1}, {"~", 1}};
    struct tb_buf scratch;
    const char *out;
    char text[81];
    size_t i, n, at, k;

    tb_buf_init(&scratch, CAP);
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        k = strlen(rows[i].seq);
        for (n = k; n < sizeof(text); n++) {
            for (at = 0; at + k <= n; at++) {
                memset(text, 'a', sizeof(text));
                memcpy(text + at, rows[i].seq, k);
                text[n] = '\0';
                CHECK_OK(tb__pub_clean(text, &scratch, &out));
                CHECK_EQ(out == text, rows[i].clean);
            }
        }
    }
    tb_buf_free(&scratch);
}

/* Category term, scheme and label reach every format: Atom keeps all three,
 * RSS and JSON Feed carry what readers show, the label when there is one. */
static void test_category_labels(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e = tb_entry_new(f);
    struct tb_buf out;

    e->out_id = "tag:tributary.test,2024:labels";
    e->title = "Labels";
    e->link = "https://example.org/labels";
    e->updated = T_UPD;
    e->categories = category(f, "cs.CL", "http://arxiv.org/schemas/atom");
    e->categories->label = "Computation & Language";
    e->categories->next = category(f, "nlp", NULL);
    tb_feed_append(f, e);
    tb_buf_init(&out, CAP);
    CHECK_OK(tb_publish_atom(&meta, f->entries, &out));
    CHECK(strstr(out.data, "<category term=\"cs.CL\" scheme=\"http://arxiv.org/schemas/atom\" "
                           "label=\"Computation &amp; Language\"/>") != NULL);
    CHECK(strstr(out.data, "<category term=\"nlp\"/>") != NULL);
    tb_buf_reset(&out);
    CHECK_OK(tb_publish_rss(&meta, f->entries, &out));
    CHECK(strstr(out.data, "<category domain=\"http://arxiv.org/schemas/atom\">Computation &amp; "
                           "Language</category>") != NULL);
    CHECK(strstr(out.data, "<category>nlp</category>") != NULL);
    tb_buf_reset(&out);
    CHECK_OK(tb_publish_json(&meta, f->entries, &out));
    CHECK(strstr(out.data, "\"tags\": [\n        \"Computation & Language\",\n        \"nlp\"\n") !=
          NULL);
    tb_buf_free(&out);
    tb_feed_free(f);
}

/* Base64 content of a media type: Atom publishes it with its type and a
 * summary (the title when there is none); RSS and JSON Feed, which have no
 * place for it, publish the summary as for an entry without content. */
static void test_media_content(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e = tb_entry_new(f);
    struct tb_buf out;

    e->out_id = "tag:tributary.test,2024:media";
    e->title = "Figure 1";
    e->link = "https://example.org/figure-1";
    e->updated = T_UPD;
    e->content = (struct tb_text){"iVBORw0KGgo=", 0, "image/png"};
    tb_feed_append(f, e);
    tb_buf_init(&out, CAP);
    CHECK_OK(tb_publish_atom(&meta, f->entries, &out));
    CHECK(strstr(out.data, "<summary type=\"text\">Figure 1</summary>\n"
                           "    <content type=\"image/png\">iVBORw0KGgo=</content>") != NULL);
    check_jing(save("media.atom", out.data, out.len));
    e->summary = (struct tb_text){"<p>A figure</p>", 1, NULL};
    tb_buf_reset(&out);
    CHECK_OK(tb_publish_rss(&meta, f->entries, &out));
    CHECK(strstr(out.data, "<description>&lt;p&gt;A figure&lt;/p&gt;</description>") != NULL);
    CHECK(strstr(out.data, "iVBOR") == NULL && strstr(out.data, "content:encoded>") == NULL);
    tb_buf_reset(&out);
    CHECK_OK(tb_publish_json(&meta, f->entries, &out));
    CHECK(strstr(out.data, "\"content_html\": \"<p>A figure</p>\"") != NULL);
    CHECK(strstr(out.data, "iVBOR") == NULL);
    tb_buf_free(&out);
    tb_feed_free(f);
}

/* The RSS channel description is text written once escaped ("A &amp; B" in
 * the XML, never "&amp;amp;"), and reads back as the text it was. */
static void test_rss_channel_description(void)
{
    static const char *const texts[] = {"Hallucination & factuality",
                                        "Papers on <entities> &amp; &#233; AT&T"};
    static const char *const xml[] = {
        "<description>Hallucination &amp; factuality</description>",
        "<description>Papers on &amp;lt;entities&gt; &amp;amp;amp; &amp;amp;#233; AT&amp;T"
        "</description>"};

    for (size_t i = 0; i < 2; i++) {
        struct tb_publish_meta m = {.title = texts[0], .updated = TB_TIME_NONE};
        struct tb_feed *f = NULL;
        struct tb_buf out;
        char err[128];

        m.subtitle = i ? texts[i] : NULL;
        tb_buf_init(&out, CAP);
        CHECK_OK(tb_publish_rss(&m, NULL, &out));
        CHECK(strstr(out.data, xml[i]) != NULL);
        CHECK_OK(tb_parse_feed(out.data, out.len, NULL, &f, err, sizeof(err)));
        CHECK_STR(f ? f->title : NULL, texts[0]);
        CHECK_STR(f ? f->subtitle : NULL, texts[i]);
        tb_feed_free(f);
        tb_buf_free(&out);
    }
}

int main(void)
{
    struct tb_feed *f;
    char cmd[64];

    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    f = make_feed();
    CHECK(f != NULL);
    test_format("atom", tb_publish_atom, f->entries);
    test_format("rss", tb_publish_rss, f->entries);
    test_rss_channel_description();
    test_category_labels();
    test_media_content();
    test_format("json", tb_publish_json, f->entries);
    test_golden();
    test_trending();
    test_empty();
    test_buffers(f->entries);
    test_dates(f->entries);
    test_stream(f->entries);
    test_render(f->entries);
    test_cached_sources();
    test_scan();
    test_clean_positions();
    test_attr_values();
    test_layout();
    test_json_summary();
    test_write_file();
    test_write_file_errors();
    test_batch();
    test_batch_no_gz();
    test_clean_tmp();
    tb_feed_free(f);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (check_failures == 0)
        CHECK_OK(run(cmd));
    xmlCleanupParser();
    CHECK_DONE();
}
