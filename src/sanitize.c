/*
 * HTML sanitizer: libxml2's HTML parser drives SAX callbacks that write an
 * allow-listed copy (or a plain-text rendering) of a fragment into a tb_buf.
 * The parser has already decoded entities in text and attribute values, so
 * every check below sees what a browser would see.
 */
#include "tb_sanitize.h"
#include "tb_buf.h"
#include "scan_int.h"
#include "tb_url.h"
#include "tb_utf8.h"

#include <curl/curl.h>
#include <libxml/HTMLparser.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256

enum {
    F_ALLOW = 1, /* element or attribute is copied to the output */
    F_VOID = 2,  /* element has no end tag */
    F_BLOCK = 4, /* element breaks the line in the text rendering */
    F_SKIP = 8,  /* element is dropped together with its text */
    F_URL = 16,  /* attribute value is a URL to check */
};

struct name_flags {
    const char *name; /* lower-case, as libxml2 reports names */
    unsigned flags;   /* F_* */
};

/* Sorted for bsearch(). Elements with flags 0 or missing are dropped but their
 * text is kept; listed only to give the text rendering its line breaks. */
static const struct name_flags elements[] = {
    {"a", F_ALLOW},
    {"abbr", F_ALLOW},
    {"address", F_BLOCK},
    {"article", F_BLOCK},
    {"aside", F_BLOCK},
    {"audio", F_ALLOW},
    {"b", F_ALLOW},
    {"blockquote", F_ALLOW | F_BLOCK},
    {"br", F_ALLOW | F_VOID | F_BLOCK},
    {"caption", F_ALLOW | F_BLOCK},
    {"cite", F_ALLOW},
    {"code", F_ALLOW},
    {"dd", F_ALLOW | F_BLOCK},
    {"del", F_ALLOW},
    {"details", F_BLOCK},
    {"dfn", F_ALLOW},
    {"div", F_ALLOW | F_BLOCK},
    {"dl", F_ALLOW | F_BLOCK},
    {"dt", F_ALLOW | F_BLOCK},
    {"em", F_ALLOW},
    {"figcaption", F_ALLOW | F_BLOCK},
    {"figure", F_ALLOW | F_BLOCK},
    {"footer", F_BLOCK},
    {"h1", F_ALLOW | F_BLOCK},
    {"h2", F_ALLOW | F_BLOCK},
    {"h3", F_ALLOW | F_BLOCK},
    {"h4", F_ALLOW | F_BLOCK},
    {"h5", F_ALLOW | F_BLOCK},
    {"h6", F_ALLOW | F_BLOCK},
    {"header", F_BLOCK},
    {"hr", F_ALLOW | F_VOID | F_BLOCK},
    {"i", F_ALLOW},
    {"img", F_ALLOW | F_VOID},
    {"ins", F_ALLOW},
    {"kbd", F_ALLOW},
    {"li", F_ALLOW | F_BLOCK},
    {"main", F_BLOCK},
    {"mark", F_ALLOW},
    {"nav", F_BLOCK},
    {"ol", F_ALLOW | F_BLOCK},
    {"p", F_ALLOW | F_BLOCK},
    {"picture", F_ALLOW},
    {"pre", F_ALLOW | F_BLOCK},
    {"q", F_ALLOW},
    {"s", F_ALLOW},
    {"samp", F_ALLOW},
    {"script", F_SKIP},
    {"section", F_BLOCK},
    {"small", F_ALLOW},
    {"source", F_ALLOW | F_VOID},
    {"span", F_ALLOW},
    {"strong", F_ALLOW},
    {"style", F_SKIP},
    {"sub", F_ALLOW},
    {"summary", F_BLOCK},
    {"sup", F_ALLOW},
    {"table", F_ALLOW | F_BLOCK},
    {"tbody", F_ALLOW},
    {"td", F_ALLOW | F_BLOCK},
    {"tfoot", F_ALLOW},
    {"th", F_ALLOW | F_BLOCK},
    {"thead", F_ALLOW},
    {"time", F_ALLOW},
    {"tr", F_ALLOW | F_BLOCK},
    {"u", F_ALLOW},
    {"ul", F_ALLOW | F_BLOCK},
    {"var", F_ALLOW},
    {"video", F_ALLOW},
};

static const struct name_flags attributes[] = {
    {"alt", F_ALLOW},          {"cite", F_ALLOW | F_URL}, {"colspan", F_ALLOW},
    {"datetime", F_ALLOW},     {"dir", F_ALLOW},          {"height", F_ALLOW},
    {"href", F_ALLOW | F_URL}, {"lang", F_ALLOW},         {"rowspan", F_ALLOW},
    {"src", F_ALLOW | F_URL},  {"title", F_ALLOW},        {"width", F_ALLOW},
};

/* One sanitizing run. */
struct san {
    struct tb_buf out;              /* the result */
    struct tb_buf url;              /* scratch for a cleaned URL */
    htmlParserCtxtPtr ctxt;         /* to stop the parser on errors */
    const char *base_url;           /* the base URL as given, or NULL */
    CURLU *base;                    /* base_url parsed (see base_of()), or NULL */
    int base_parsed;                /* whether base_url was parsed yet */
    int text;                       /* 1: plain-text rendering */
    int rc;                         /* first error; callbacks stop after it */
    int sep;                        /* text: pending 0 none, 1 space, 2 newline */
    unsigned skip;                  /* depth inside script/style */
    unsigned depth;                 /* open elements written to out */
    unsigned char stack[MAX_DEPTH]; /* their indices into elements[] */
};

static int cmp_name(const void *key, const void *elem)
{
    const unsigned char *a = key,
                        *b = (const unsigned char *)((const struct name_flags *)elem)->name;

    /* The first byte settles most steps of the search without a call. */
    return a[0] != b[0] ? a[0] - b[0] : strcmp(key, (const char *)b);
}

/* Index of `name` in a sorted table, or -1. */
static int lookup(const struct name_flags *t, size_t n, const char *name)
{
    const struct name_flags *p = bsearch(name, t, n, sizeof(*t), cmp_name);

    return p ? (int)(p - t) : -1;
}

/* Records the first error and stops the parser. */
static void fail(struct san *s, int rc)
{
    if (s->rc == 0)
        s->rc = rc;
    if (s->ctxt)
        xmlStopParser(s->ctxt);
}

static void emit(struct san *s, const char *p, size_t n)
{
    int rc;

    if (s->rc)
        return;
    rc = tb_buf_add(&s->out, p, n);
    if (rc)
        fail(s, rc);
}

static void emits(struct san *s, const char *p)
{
    emit(s, p, strlen(p));
}

/* What emit_escaped() writes for a byte that is not kept as it is: C0
 * controls other than tab, newline and carriage return are dropped, '"'
 * is escaped in attribute values only (see emit_escaped()). */
static const char *const html_escapes[256] = {
    [0x00] = "",    [0x01] = "",    [0x02] = "",      [0x03] = "", [0x04] = "", [0x05] = "",
    [0x06] = "",    [0x07] = "",    [0x08] = "",      [0x0b] = "", [0x0c] = "", [0x0e] = "",
    [0x0f] = "",    [0x10] = "",    [0x11] = "",      [0x12] = "", [0x13] = "", [0x14] = "",
    [0x15] = "",    [0x16] = "",    [0x17] = "",      [0x18] = "", [0x19] = "", [0x1a] = "",
    [0x1b] = "",    [0x1c] = "",    [0x1d] = "",      [0x1e] = "", [0x1f] = "", ['&'] = "&amp;",
    ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;",
};

/* Writes text escaped for HTML (attribute values also escape '"'); drops C0
 * control characters other than tab, newline and carriage return, which are
 * not allowed in XML and so could not be republished in Atom. */
static void emit_escaped(struct san *s, const char *p, size_t n, int attr)
{
    size_t run = 0, i = 0;
    const char *rep;

    while (i < n) {
        unsigned char c;

        /* Whole blocks without a byte html_escapes lists are copied as they are. */
        i += tb__scan_plain(p + i, n - i, TB__SCAN_C0, "&<>\"", 4);
        if (i >= n)
            break;
        c = (unsigned char)p[i];
        rep = html_escapes[c];
        if (rep == NULL || (c == '"' && !attr)) {
            i++;
            continue;
        }
        emit(s, p + run, i - run);
        emits(s, rep);
        run = ++i;
    }
    emit(s, p + run, n - run);
}

/* Copies v into s->url without leading/trailing whitespace and controls and
 * without embedded tab, newline and carriage return (browsers ignore them). */
static int clean_url(struct san *s, const char *v)
{
    size_t n = strlen(v);
    int rc = 0;

    while (n && (unsigned char)v[n - 1] <= 0x20)
        n--;
    while (n && (unsigned char)*v <= 0x20) {
        v++;
        n--;
    }
    tb_buf_reset(&s->url);
    rc = tb_buf_add(&s->url, "", 0);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (v[i] != '\t' && v[i] != '\n' && v[i] != '\r')
            rc = tb_buf_add(&s->url, v + i, 1);
    }
    return rc;
}

/* Resolves the relative URL in s->url against s->base and writes it as an
 * attribute value; writes nothing when it does not resolve to http(s), or to
 * bytes that are not UTF-8: curl decodes percent-escapes in a host ("//%c0p"
 * gives host 0xC0 'p'). */
static void emit_resolved(struct san *s, const char *name)
{
    CURLU *u = curl_url_dup(s->base);
    char *abs = NULL;
    CURLUcode uc;

    if (u == NULL) {
        fail(s, -ENOMEM);
        return;
    }
    /* curl 7.88 resolves "#frag" against the base's directory, not the base
     * document (RFC 3986 5.2.2), so a bare fragment replaces only that part. */
    if (s->url.data[0] == '#')
        uc = curl_url_set(u, CURLUPART_FRAGMENT, s->url.data + 1, CURLU_URLENCODE);
    else
        uc = curl_url_set(u, CURLUPART_URL, s->url.data, CURLU_URLENCODE);
    if (uc == CURLUE_OK && curl_url_get(u, CURLUPART_URL, &abs, 0) == CURLUE_OK &&
        tb_url_allowed(abs, TB_URL_ALLOW_MAILTO) && tb_utf8_valid(abs, strlen(abs))) {
        emits(s, " ");
        emits(s, name);
        emits(s, "=\"");
        emit_escaped(s, abs, strlen(abs), 1);
        emits(s, "\"");
    }
    curl_free(abs);
    curl_url_cleanup(u);
}

static CURLU *base_of(struct san *s);

/* Writes one URL attribute if its value is safe. */
static void emit_url_attr(struct san *s, const char *name, const char *value)
{
    int kind = tb_url_kind(value);

    if (kind == TB_URL_OTHER)
        return;
    if (clean_url(s, value)) {
        fail(s, -ENOMEM);
        return;
    }
    if (kind == TB_URL_RELATIVE && s->url.len > 0 && base_of(s) != NULL) {
        emit_resolved(s, name);
        return;
    }
    emits(s, " ");
    emits(s, name);
    emits(s, "=\"");
    emit_escaped(s, s->url.data, s->url.len, 1);
    emits(s, "\"");
}

static void emit_attrs(struct san *s, const xmlChar **atts)
{
    for (size_t i = 0; atts && atts[i]; i += 2) {
        const char *name = (const char *)atts[i];
        const char *value = atts[i + 1] ? (const char *)atts[i + 1] : "";
        int k = lookup(attributes, sizeof(attributes) / sizeof(*attributes), name);

        if (k < 0)
            continue;
        if (attributes[k].flags & F_URL) {
            emit_url_attr(s, name, value);
            continue;
        }
        emits(s, " ");
        emits(s, name);
        emits(s, "=\"");
        emit_escaped(s, value, strlen(value), 1);
        emits(s, "\"");
    }
}

static void close_to(struct san *s, unsigned to);

/* What libxml2 (2.9) closes when a start tag arrives: for each allowed tag,
 * the allowed elements it closes while they are the current node (its
 * htmlStartClose table, read off the parser). Sorted for bsearch(). */
struct autoclose {
    const char *name;   /* the start tag */
    const char *closes; /* " a b ... ": elements it closes */
};

static const struct autoclose autoclose[] = {
    {"a", " a "},
    {"blockquote", " p "},
    {"caption", " p "},
    {"dd", " dt p pre "},
    {"div", " p "},
    {"dl", " dt p pre "},
    {"dt", " dd p pre "},
    {"h1", " p "},
    {"h2", " p "},
    {"h3", " p "},
    {"h4", " p "},
    {"h5", " p "},
    {"h6", " p "},
    {"hr", " p "},
    {"li", " dl h1 h2 h3 h4 h5 h6 li p pre "},
    {"ol", " p ul "},
    {"p", " b h1 h2 h3 h4 h5 h6 i p s small u "},
    {"pre", " p ul "},
    {"table", " a h1 h2 h3 h4 h5 h6 p pre "},
    {"tbody", " caption p tbody td tfoot th thead tr "},
    {"td", " a b i p span td th u "},
    {"tfoot", " caption p tbody td th thead tr "},
    {"th", " a b i p span td th u "},
    {"thead", " caption "},
    {"tr", " caption p td th tr "},
    {"ul", " ol p pre "},
};

static int cmp_autoclose(const void *key, const void *elem)
{
    return strcmp(key, ((const struct autoclose *)elem)->name);
}

/* Before writing a start tag, closes the open elements that libxml2 would
 * close on reading it. The parser applies these rules to its own tree, but
 * the elements we drop change which node is current: "<p>a<x><p>b" nests a
 * <p> in a <p> once the unknown <x> is gone, and a second sanitizing pass
 * split them (found by the fuzzer as output that was not idempotent). */
static void close_implied(struct san *s, const char *name)
{
    const struct autoclose *ac = bsearch(name, autoclose, sizeof(autoclose) / sizeof(*autoclose),
                                         sizeof(*autoclose), cmp_autoclose);
    char key[16];

    while (ac && s->depth > 0) {
        snprintf(key, sizeof(key), " %s ", elements[s->stack[s->depth - 1]].name);
        if (strstr(ac->closes, key) == NULL)
            return;
        close_to(s, s->depth - 1);
    }
}

static void on_start(void *ctx, const xmlChar *name, const xmlChar **atts)
{
    struct san *s = ctx;
    int k = lookup(elements, sizeof(elements) / sizeof(*elements), (const char *)name);
    unsigned fl = k < 0 ? 0 : elements[k].flags;

    if (fl & F_SKIP)
        s->skip++;
    if (s->skip || s->rc)
        return;
    if (s->text) {
        if (fl & F_BLOCK)
            s->sep = 2;
        return;
    }
    if (!(fl & F_ALLOW))
        return;
    close_implied(s, elements[k].name);
    if (!(fl & F_VOID)) {
        /* Deeper nesting than we track is flattened rather than unbalanced. */
        if (s->depth == MAX_DEPTH)
            return;
        s->stack[s->depth++] = (unsigned char)k;
    }
    emits(s, "<");
    emits(s, elements[k].name);
    emit_attrs(s, atts);
    emits(s, ">");
}

/* Closes open elements down to and including the one at index `to`. */
static void close_to(struct san *s, unsigned to)
{
    while (s->depth > to) {
        s->depth--;
        emits(s, "</");
        emits(s, elements[s->stack[s->depth]].name);
        emits(s, ">");
    }
}

static void on_end(void *ctx, const xmlChar *name)
{
    struct san *s = ctx;
    int k = lookup(elements, sizeof(elements) / sizeof(*elements), (const char *)name);
    unsigned fl = k < 0 ? 0 : elements[k].flags;

    if (fl & F_SKIP) {
        if (s->skip)
            s->skip--;
        return;
    }
    if (s->skip || s->rc)
        return;
    if (s->text) {
        if (fl & F_BLOCK)
            s->sep = 2;
        return;
    }
    if (!(fl & F_ALLOW) || (fl & F_VOID))
        return;
    /* The parser balances tags itself; matching against our own stack makes
     * the output balanced even where it would not. */
    for (unsigned i = s->depth; i > 0; i--) {
        if (s->stack[i - 1] == k) {
            close_to(s, i - 1);
            return;
        }
    }
}

/* Length of the whitespace character at p (ASCII whitespace, controls, or a
 * UTF-8 no-break space), or 0. */
static size_t space_len(const char *p, size_t n)
{
    unsigned char c = (unsigned char)*p;

    if (c <= 0x20 || c == 0x7f)
        return 1;
    if (c == 0xc2 && n > 1 && (unsigned char)p[1] == 0xa0)
        return 2;
    return 0;
}

/* Text rendering: collapses whitespace and defers separators so that none
 * is written at the start or the end. */
static void text_chars(struct san *s, const char *p, size_t n)
{
    size_t i = 0, start, w;

    while (i < n) {
        w = space_len(p + i, n - i);
        if (w) {
            if (s->sep == 0)
                s->sep = 1;
            i += w;
            continue;
        }
        start = i;
        while (i < n && space_len(p + i, n - i) == 0)
            i++;
        if (s->sep && s->out.len)
            emits(s, s->sep == 2 ? "\n" : " ");
        s->sep = 0;
        emit(s, p + start, i - start);
    }
}

static void on_chars(void *ctx, const xmlChar *ch, int len)
{
    struct san *s = ctx;

    if (s->skip || s->rc || len <= 0)
        return;
    if (s->text)
        text_chars(s, (const char *)ch, (size_t)len);
    else
        emit_escaped(s, (const char *)ch, (size_t)len, 0);
}

/* Parses base into s->base when it is an absolute http(s) URL. */
static int set_base(struct san *s, const char *base)
{
    char *scheme = NULL;
    CURLUcode uc;

    if (!tb_url_allowed(base, 0))
        return 0;
    s->base = curl_url();
    if (s->base == NULL)
        return -ENOMEM;
    uc = curl_url_set(s->base, CURLUPART_URL, base, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(s->base, CURLUPART_SCHEME, &scheme, 0);
    if (uc != CURLUE_OK || !tb_url_scheme_allowed(scheme)) {
        curl_url_cleanup(s->base);
        s->base = NULL;
    }
    curl_free(scheme);
    return uc == CURLUE_OUT_OF_MEMORY ? -ENOMEM : 0;
}

/* The parsed base, or NULL when there is none; parsed on first use, since
 * most bodies have no relative link. */
static CURLU *base_of(struct san *s)
{
    if (!s->base_parsed) {
        s->base_parsed = 1;
        if (set_base(s, s->base_url) != 0)
            fail(s, -ENOMEM);
    }
    return s->base;
}

/* Runs the parser over the fragment with our callbacks. The fragment is
 * wrapped in an unknown element so that libxml2 does not invent <p> elements
 * around top-level text (the wrapper is dropped like any unknown element),
 * behind a charset declaration so that a <meta charset> inside the fragment
 * cannot switch the input away from UTF-8 (libxml2 honours only the first). */
static int parse(struct san *s, const char *html, size_t len)
{
    htmlParserCtxtPtr ctxt;
    struct tb_buf doc;
    int rc;

    tb_buf_init(&doc, (size_t)INT_MAX);
    rc = tb_buf_adds(&doc, "<meta charset=\"utf-8\"><tb-fragment>");
    if (rc == 0)
        rc = tb_utf8_clean(&doc, html, len, TB_UTF8_FFFD | TB_UTF8_NONUL);
    if (rc)
        return rc;
    ctxt = htmlCreateMemoryParserCtxt(doc.data, (int)doc.len);
    if (ctxt == NULL) {
        tb_buf_free(&doc);
        return -ENOMEM;
    }
    memset(ctxt->sax, 0, sizeof(*ctxt->sax));
    ctxt->sax->startElement = on_start;
    ctxt->sax->endElement = on_end;
    ctxt->sax->characters = on_chars;
    ctxt->sax->cdataBlock = on_chars;
    ctxt->sax->ignorableWhitespace = on_chars;
    ctxt->userData = s;
    s->ctxt = ctxt;
    htmlCtxtUseOptions(ctxt, HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
                                 HTML_PARSE_NOIMPLIED);
    htmlParseDocument(ctxt);
    htmlFreeParserCtxt(ctxt);
    s->ctxt = NULL;
    tb_buf_free(&doc);
    return s->rc;
}

/* The markup the fast path understands: attribute-less tags whose meaning
 * cannot depend on the parser's error recovery. Anything else goes to
 * libxml2. */
static int simple_tag(const char *name, size_t n)
{
    static const char *const names[] = {"b", "br", "code", "em", "i", "p", "strong", "sub", "sup"};

    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        if (strlen(names[i]) == n && memcmp(names[i], name, n) == 0)
            return lookup(elements, sizeof(elements) / sizeof(*elements), names[i]);
    }
    return -1;
}

/* The code point of the named reference at p ("&eacute;") in libxml2's own
 * table, the one its HTML parser reads them with; *len is the bytes it
 * takes. 0 when it is not a known name followed by ';'. */
static unsigned long named_entity(const char *p, size_t n, size_t *len)
{
    char name[16];
    size_t k = 1;
    const htmlEntityDesc *d;

    while (k < n && k < sizeof(name) && isalnum((unsigned char)p[k]))
        k++;
    if (k == 1 || k >= n || k >= sizeof(name) || p[k] != ';')
        return 0;
    memcpy(name, p + 1, k - 1);
    name[k - 1] = '\0';
    d = htmlEntityLookup((const xmlChar *)name);
    *len = k + 1;
    return d ? d->value : 0;
}

/* Decodes the entity at p ('&' .. ';') into out (at least 4 bytes).
 * Returns the bytes consumed, or 0 when it is not one we decode here. */
static size_t simple_entity(const char *p, size_t n, char *out, size_t *outlen)
{
    static const struct {
        const char *ref;
        char c;
    } named[] = {{"&amp;", '&'},  {"&lt;", '<'},    {"&gt;", '>'},
                 {"&quot;", '"'}, {"&apos;", '\''}, {"&#39;", '\''}};
    unsigned long cp;
    char *end;
    size_t len = 0;

    for (size_t i = 0; i < sizeof(named) / sizeof(*named); i++) {
        size_t k = strlen(named[i].ref);

        if (k <= n && memcmp(p, named[i].ref, k) == 0) {
            out[0] = named[i].c;
            *outlen = 1;
            return k;
        }
    }
    if (n > 1 && p[1] != '#') {
        cp = named_entity(p, n, &len);
    } else {
        if (n < 4 || p[1] != '#' ||
            !(p[2] == 'x' ? isxdigit((unsigned char)p[3]) : isdigit((unsigned char)p[2])))
            return 0;
        cp = strtoul(p + (p[2] == 'x' ? 3 : 2), &end, p[2] == 'x' ? 16 : 10);
        if (end >= p + n || *end != ';' || end - p > 10)
            return 0;
        len = (size_t)(end - p) + 1;
    }
    /* Only characters XML can hold; the rest is left to the parser. */
    if (cp > 0x10ffff || !tb_utf8_xml_char((uint32_t)cp))
        return 0;
    *outlen = tb_utf8_encode(out, (uint32_t)cp);
    return len;
}

/* Parses one tag at p ('<'): feeds it to the callbacks and returns its
 * length, or 0 when it is outside the fast path's subset. */
static size_t simple_markup(struct san *s, const char *p, size_t n, unsigned char *stack,
                            unsigned *depth)
{
    int close = n > 1 && p[1] == '/';
    const char *name = p + 1 + close;
    size_t len = 0, k;
    int el;

    while (name + len < p + n && islower((unsigned char)name[len]))
        len++;
    k = (size_t)(name - p) + len;
    el = simple_tag(name, len);
    if (el < 0)
        return 0;
    if (!close && (elements[el].flags & F_VOID) && k + 1 < n && name[len] == '/')
        k++;
    else if (!close && (elements[el].flags & F_VOID) && k + 2 < n && name[len] == ' ' &&
             name[len + 1] == '/')
        k += 2;
    if (k >= n || p[k] != '>')
        return 0;
    if (close) {
        if (*depth == 0 || stack[*depth - 1] != el)
            return 0;
        (*depth)--;
        on_end(s, (const xmlChar *)elements[el].name);
    } else if (!(elements[el].flags & F_VOID)) {
        /* <p> only at the top: inside anything, the parser would close or
         * move elements around, which this path does not imitate. */
        if (*depth == MAX_DEPTH || (strcmp(elements[el].name, "p") == 0 && *depth > 0))
            return 0;
        stack[(*depth)++] = (unsigned char)el;
        on_start(s, (const xmlChar *)elements[el].name, NULL);
    } else {
        on_start(s, (const xmlChar *)elements[el].name, NULL);
    }
    return k + 1;
}

/* The end of the run of ASCII text bytes (not '<' or '&', no C0 control
 * but tab, newline and carriage return, which the parser drops) from i, a
 * block at a time while none of them ends it. */
static size_t plain_run(const char *p, size_t i, size_t len)
{
    unsigned char c;

    while (i < len) {
        i += tb__scan_plain(p + i, len - i, TB__SCAN_C0 | TB__SCAN_HIGH, "<&", 2);
        if (i == len)
            break;
        c = (unsigned char)p[i];
        if (c == '<' || c == '&' || c >= 0x80 || (c < 0x20 && c != '\t' && c != '\n' && c != '\r'))
            break;
        i++;
    }
    return i;
}

/* 0 sends every fragment to the parser: test_sanitize_fast compares the two
 * paths (the fast path halves merge's instructions, contrib/bench/README.md). */
static int fast_path = 1;

/* Fast path for the common simple fragment (arXiv-style "<p>..</p>" with a
 * few inline tags and the XML entities): tokenized here and fed to the same
 * callbacks the parser would call. Returns 1 when the whole fragment was
 * handled, 0 (output reset) when it needs the real parser. */
static int simple(struct san *s, const char *html, size_t len)
{
    unsigned char stack[MAX_DEPTH];
    unsigned depth = 0;
    size_t i = 0, run = 0, w, dl;
    char dec[4];

    while (i < len && s->rc == 0) {
        unsigned char c = (unsigned char)html[i];

        if (c != '<' && c != '&' && c < 0x80 &&
            (c >= 0x20 || c == '\t' || c == '\n' || c == '\r')) {
            i = plain_run(html, i + 1, len);
            continue;
        }
        if (c >= 0x80 && (w = tb_utf8_len(html + i, len - i)) > 0) {
            i += w;
            continue;
        }
        if (c != '<' && c != '&')
            goto slow;
        if (i > run)
            on_chars(s, (const xmlChar *)html + run, (int)(i - run));
        if (c == '<')
            w = simple_markup(s, html + i, len - i, stack, &depth);
        else if ((w = simple_entity(html + i, len - i, dec, &dl)) > 0)
            on_chars(s, (const xmlChar *)dec, (int)dl);
        if (w == 0)
            goto slow;
        i += w;
        run = i;
    }
    if (depth > 0)
        goto slow;
    if (i > run)
        on_chars(s, (const xmlChar *)html + run, (int)(i - run));
    return 1;
slow:
    tb_buf_reset(&s->out);
    s->depth = 0;
    s->sep = 0;
    s->rc = 0;
    return 0;
}

/* Text without markup or entities (common in RSS descriptions) needs no
 * parser: it is only made valid UTF-8 and escaped or whitespace-collapsed. */
static int parse_or_copy(struct san *s, const char *html, size_t len)
{
    struct tb_buf plain;
    int rc;

    if (memchr(html, '<', len) || memchr(html, '&', len))
        return fast_path && simple(s, html, len) ? s->rc : parse(s, html, len);
    tb_buf_init(&plain, (size_t)INT_MAX);
    rc = tb_buf_reserve(&plain, len);
    if (rc == 0)
        rc = tb_utf8_clean(&plain, html, len, TB_UTF8_FFFD | TB_UTF8_NONUL);
    if (rc == 0 && plain.len)
        on_chars(s, (const xmlChar *)plain.data, (int)plain.len);
    tb_buf_free(&plain);
    return rc ? rc : s->rc;
}

/* Shared driver of both entry points. */
static char *run(const char *html, size_t len, const char *base, int text)
{
    struct san s;
    char *res = NULL;

    if (len > INT_MAX / 4)
        return NULL;
    memset(&s, 0, sizeof(s));
    tb_buf_init(&s.out, SIZE_MAX / 2);
    tb_buf_init(&s.url, SIZE_MAX / 2);
    s.text = text;
    /* The result is rarely much longer than the input: one allocation
     * instead of a doubling series (the pool threads share one malloc arena). */
    if (tb_buf_reserve(&s.out, len) != 0)
        return NULL;
    xmlInitParser();
    s.base_url = base;
    if (parse_or_copy(&s, html ? html : "", html ? len : 0) == 0) {
        close_to(&s, 0);
        if (s.rc == 0)
            res = tb_buf_take(&s.out);
    }
    tb_buf_free(&s.out);
    tb_buf_free(&s.url);
    curl_url_cleanup(s.base);
    return res;
}

char *tb_sanitize_html(const char *html, size_t len, const char *base)
{
    return run(html, len, base, 0);
}

char *tb_sanitize_text(const char *html, size_t len)
{
    return run(html, len, NULL, 1);
}

int tb_sanitize_escape(struct tb_buf *b, const char *s, size_t n)
{
    size_t i, start = 0;
    const char *rep;
    int rc = 0;

    for (i = 0; rc == 0 && s != NULL && i < n; i++) {
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            continue;
        }
        rc = tb_buf_add(b, s + start, i - start);
        rc = rc ? rc : tb_buf_adds(b, rep);
        start = i + 1;
    }
    if (rc == 0 && s != NULL)
        rc = tb_buf_add(b, s + start, n - start);
    return rc;
}
