/*
 * Fuzz target: the whole pure pipeline on one document. tb_parse_feed (any
 * format), tb_norm_feed, tb_feedjson_dump, then the Atom, RSS and JSON
 * writers. Invariants: every string the parser and normalizer leave is valid
 * UTF-8, every entry has a key and a text, the JSON dump is valid JSON, the
 * Atom and RSS outputs are well-formed XML and the Atom output parses back
 * with as many entries.
 *
 * An input whose first byte is below 0x09 (no feed starts so) selects an
 * external charset with that byte; the document is the rest. Byte 0 also
 * drops the document URL.
 */
#include "fuzz.h"
#include "tb_feedjson.h"
#include "tb_normalize.h"
#include "tb_parse.h"
#include "tb_publish.h"

#include <jansson.h>
#include <libxml/parser.h>

static const char *const charsets[] = {
    NULL,       "utf-8",     "iso-8859-1", "windows-1252",      "utf-16le",
    "utf-16be", "shift_jis", "koi8-r",     "x-no-such-charset",
};

static void check_entry(const struct tb_entry *e)
{
    FUZZ_ASSERT(e->key != NULL && e->key[0] != '\0');
    FUZZ_ASSERT(e->text != NULL);
    FUZZ_ASSERT(fuzz_str_valid(e->id) && fuzz_str_valid(e->title) && fuzz_str_valid(e->link));
    FUZZ_ASSERT(fuzz_str_valid(e->summary.value) && fuzz_str_valid(e->content.value));
    FUZZ_ASSERT(fuzz_str_valid(e->key) && fuzz_str_valid(e->text) && fuzz_str_valid(e->rights));
    FUZZ_ASSERT(strlen(e->text) <= TB_NORM_TEXT_MAX);
    for (const struct tb_link *l = e->links; l; l = l->next)
        FUZZ_ASSERT(l->href != NULL && fuzz_str_valid(l->href) && fuzz_str_valid(l->title));
    for (const struct tb_person *p = e->authors; p; p = p->next)
        FUZZ_ASSERT(p->name != NULL && fuzz_str_valid(p->name) && fuzz_str_valid(p->email));
    for (const struct tb_category *c = e->categories; c; c = c->next)
        FUZZ_ASSERT(c->term != NULL && fuzz_str_valid(c->term));
}

static void check_feed(const struct tb_feed *f)
{
    size_t n = 0;

    FUZZ_ASSERT(fuzz_str_valid(f->id) && fuzz_str_valid(f->title) && fuzz_str_valid(f->link));
    FUZZ_ASSERT(fuzz_str_valid(f->subtitle) && fuzz_str_valid(f->rights));
    for (const struct tb_entry *e = f->entries; e; e = e->next) {
        check_entry(e);
        n++;
    }
    FUZZ_ASSERT(n == f->nentries);
}

/* The JSON dump must exist and be valid JSON. */
static void check_json(const char *s)
{
    json_error_t jerr;
    json_t *j;

    FUZZ_ASSERT(s != NULL);
    j = json_loads(s, 0, &jerr);
    if (j == NULL)
        fprintf(stderr, "invalid JSON: %s at %d\n", jerr.text, jerr.line);
    FUZZ_ASSERT(j != NULL);
    json_decref(j);
}

static void check_xml(const struct tb_buf *b)
{
    xmlDocPtr doc = xmlReadMemory(b->data, (int)b->len, "out.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);

    FUZZ_ASSERT(doc != NULL);
    xmlFreeDoc(doc);
}

/* The Atom output read back has as many entries as were written. */
static void check_reparse(const struct tb_buf *b, size_t nentries)
{
    struct tb_feed *g = NULL;
    char err[256] = "";
    int rc = tb_parse_feed(b->data, b->len, NULL, &g, err, sizeof(err));

    if (rc)
        fprintf(stderr, "published Atom does not parse: %s\n", err);
    FUZZ_ASSERT(rc == 0);
    FUZZ_ASSERT(g->format == TB_FORMAT_ATOM10);
    FUZZ_ASSERT(g->nentries == nentries);
    tb_feed_free(g);
}

static void publish(const struct tb_feed *f)
{
    struct tb_publish_meta m = {
        .id = f->id ? f->id : "urn:fuzz:feed",
        .title = f->title ? f->title : "fuzz",
        .subtitle = f->subtitle,
        .self = f->self,
        .alternate = f->link,
        .hub = f->hub,
        .updated = f->updated,
    };
    struct tb_buf b;

    tb_buf_init(&b, (size_t)64 << 20);
    FUZZ_ASSERT(tb_publish_atom(&m, f->entries, &b) == 0);
    check_xml(&b);
    check_reparse(&b, f->nentries);
    tb_buf_reset(&b);
    FUZZ_ASSERT(tb_publish_rss(&m, f->entries, &b) == 0);
    check_xml(&b);
    tb_buf_reset(&b);
    FUZZ_ASSERT(tb_publish_json(&m, f->entries, &b) == 0);
    check_json(b.data);
    tb_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tb_parse_opts opts = {.url = "https://example.org/dir/feed.xml", .max_size = 1 << 20};
    struct tb_feed *f = NULL;
    char err[256] = "";
    char *json;
    int rc;

    if (size > 0 && data[0] < sizeof(charsets) / sizeof(*charsets)) {
        opts.charset = charsets[data[0]];
        if (data[0] == 0)
            opts.url = NULL;
        data++;
        size--;
    }
    rc = tb_parse_feed((const char *)data, size, &opts, &f, err, sizeof(err));
    if (rc) {
        FUZZ_ASSERT(f == NULL && err[0] != '\0');
        return 0;
    }
    FUZZ_ASSERT(tb_norm_feed(f) == 0);
    check_feed(f);
    json = tb_feedjson_dump(f);
    check_json(json);
    free(json);
    publish(f);
    tb_feed_free(f);
    return 0;
}
