/*
 * Publish: the helpers every writer shares (dates, fallbacks, string
 * cleaning, an xmlTextWriter on a tb_buf) and the Atom 1.0 writer.
 */
#include "publish_int.h"
#include "tb_utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ATOM_NS "http://www.w3.org/2005/Atom"

int64_t tb__pub_feed_updated(const struct tb_publish_meta *m, const struct tb_entry *entries)
{
    int64_t best = TB_TIME_NONE, now = (int64_t)time(NULL);
    const struct tb_entry *e;

    if (tb_date_ok(m->updated))
        best = m->updated;
    for (e = tb_date_ok(m->updated) ? NULL : entries; e; e = e->next) {
        int64_t t = tb__pub_entry_updated(e, TB_TIME_NONE);

        if (tb_date_ok(t) && t > best)
            best = t;
    }
    /* A feed is not updated later than it is written: a future date (from
     * an upstream entry, or the caller) would tell readers it is. */
    if (best == TB_TIME_NONE && m->now > 0)
        return m->now; /* nodes of a cluster date it alike */
    return best != TB_TIME_NONE && best < now ? best : now;
}

int64_t tb__pub_entry_updated(const struct tb_entry *e, int64_t feed_updated)
{
    if (tb_date_ok(e->updated))
        return e->updated;
    if (tb_date_ok(e->published))
        return e->published;
    return feed_updated;
}

const char *tb__pub_entry_id(const struct tb_entry *e, size_t n, char buf[TB__ID_MAX])
{
    if (e->out_id && *e->out_id)
        return e->out_id;
    if (e->id && *e->id)
        return e->id;
    if (e->link && *e->link)
        return e->link;
    snprintf(buf, TB__ID_MAX, "urn:tributary:entry:%zu", n);
    return buf;
}

const char *tb__pub_entry_title(const struct tb_entry *e)
{
    return e->title && *e->title ? e->title : "(untitled)";
}

int tb__pub_clean(const char *s, struct tb_buf *scratch, const char **out)
{
    size_t n;
    int rc;

    *out = s;
    if (s == NULL)
        return 0;
    n = strlen(s);
    if (tb_utf8_xml_clean(s, n))
        return 0;
    tb_buf_reset(scratch);
    rc = tb_buf_add(scratch, "", 0);
    if (rc == 0)
        rc = tb_utf8_clean(scratch, s, n, TB_UTF8_XML | TB_UTF8_FFFD);
    *out = rc ? NULL : scratch->data;
    return rc;
}

/* Appends what libxml2 flushes. A failed append becomes the sticky error and
 * the rest is dropped, but libxml2 is told all went well: it would only print
 * an anonymous "I/O error" on stderr. */
static int xml_write(void *ctx, const char *p, int len)
{
    struct tb__xml *x = ctx;

    if (x->discard)
        return len;
    if (x->bufrc == 0)
        x->bufrc = tb_buf_add(x->out, p, (size_t)len);
    if (x->bufrc && x->rc == 0)
        x->rc = x->bufrc;
    return len;
}

void tb__xml_fail(struct tb__xml *x, int rc)
{
    if (x->rc == 0 && rc < 0)
        x->rc = x->bufrc ? x->bufrc : rc;
}

int tb__xml_open(struct tb__xml *x, struct tb_buf *out)
{
    xmlOutputBufferPtr ob;

    memset(x, 0, sizeof(*x));
    x->out = out;
    x->start = out->len;
    tb_buf_init(&x->scratch, out->cap);
    ob = xmlOutputBufferCreateIO(xml_write, NULL, x, NULL);
    if (ob == NULL)
        return -ENOMEM;
    x->w = xmlNewTextWriter(ob);
    if (x->w == NULL) {
        xmlOutputBufferClose(ob);
        return -ENOMEM;
    }
    x->doindent = 1;
    if (xmlTextWriterStartDocument(x->w, NULL, "UTF-8", NULL) < 0)
        tb__xml_fail(x, -EIO);
    return 0;
}

/* Writes the white space of libxml2's indentation (xmlTextWriterSetIndent
 * with "  "): a newline when nl, then `levels` indents. libxml2 writes each
 * level, each newline and each '>' before them by a call of its own (a fifth
 * of its calls); here it is one raw write, which also closes an open start
 * tag with its '>' as libxml2 would. */
static void xml_space(struct tb__xml *x, int nl, int levels)
{
    static const char sp[] = "\n                                                                ";
    int l, len;

    do {
        l = levels < 32 ? levels : 32;
        len = (nl ? 1 : 0) + 2 * (l > 0 ? l : 0);
        if (len > 0 && x->rc == 0 &&
            xmlTextWriterWriteRawLen(x->w, BAD_CAST(nl ? sp : sp + 1), len) < 0)
            tb__xml_fail(x, -EIO);
        levels -= l;
        nl = 0;
    } while (levels > 0);
    x->nl = 0;
    x->open = 0;
}

/* Writes the newline still owed after the last end tag. */
static void xml_settle(struct tb__xml *x)
{
    if (x->nl)
        xml_space(x, 1, 0);
}

void tb__xml_flush(struct tb__xml *x)
{
    xml_settle(x);
    if (x->rc == 0 && xmlTextWriterFlush(x->w) < 0)
        tb__xml_fail(x, -EIO);
}

int tb__xml_close(struct tb__xml *x)
{
    /* What xmlTextWriterEndDocument does: close what is open, end the line. */
    while (x->rc == 0 && x->depth > 0)
        tb__xml_end(x);
    tb__xml_flush(x);
    xmlFreeTextWriter(x->w);
    x->w = NULL;
    tb__xml_fail(x, x->bufrc);
    tb_buf_free(&x->scratch);
    if (x->rc && x->out->data && x->out->len >= x->start) {
        /* Take back the partial document; the caller's earlier bytes stay.
         * A streamed document the caller has drained is past taking back. */
        x->out->len = x->start;
        x->out->data[x->start] = '\0';
    }
    return x->rc;
}

void tb__xml_start(struct tb__xml *x, const char *name)
{
    if (x->rc)
        return;
    /* libxml2: '>' and a newline after an open parent's start tag, the
     * newline after an end tag, then one indent per open element. */
    xml_space(x, x->open || x->nl, x->depth);
    if (x->rc == 0 && xmlTextWriterStartElement(x->w, BAD_CAST name) < 0)
        tb__xml_fail(x, -EIO);
    x->depth++;
    x->open = 1;
}

void tb__xml_end(struct tb__xml *x)
{
    if (x->rc)
        return;
    /* libxml2: "/>" for an empty element; an end tag after child elements
     * on a line of its own; a newline after either. */
    if (!x->open && x->doindent)
        xml_space(x, x->nl, x->depth - 1);
    else
        xml_settle(x);
    if (x->rc == 0 && xmlTextWriterEndElement(x->w) < 0)
        tb__xml_fail(x, -EIO);
    x->depth--;
    x->open = 0;
    x->doindent = 1;
    x->nl = 1;
}

void tb__xml_attr(struct tb__xml *x, const char *name, const char *value)
{
    const char *v;
    int rc;

    if (x->rc || value == NULL)
        return;
    rc = tb__pub_clean(value, &x->scratch, &v);
    if (rc)
        tb__xml_fail(x, rc);
    else if (xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST v) < 0)
        tb__xml_fail(x, -EIO);
}

void tb__xml_text(struct tb__xml *x, const char *text)
{
    const char *v;
    int rc;

    if (x->rc || text == NULL)
        return;
    xml_settle(x);
    x->open = 0;
    x->doindent = 0;
    rc = tb__pub_clean(text, &x->scratch, &v);
    if (rc)
        tb__xml_fail(x, rc);
    else if (xmlTextWriterWriteString(x->w, BAD_CAST v) < 0)
        tb__xml_fail(x, -EIO);
}

void tb__xml_elem(struct tb__xml *x, const char *name, const char *text)
{
    if (text == NULL)
        return;
    tb__xml_start(x, name);
    tb__xml_text(x, text);
    tb__xml_end(x);
}

/* ---- Atom 1.0 ---- */

/* A date construct; a date outside years 1..9999 is left out. */
static void atom_date(struct tb__xml *x, const char *name, int64_t t)
{
    char buf[TB__DATE_MAX];

    if (tb_date_format_rfc3339(t, buf, sizeof(buf)) == 0)
        tb__xml_elem(x, name, buf);
}

/* A text construct of type text or html. */
static void atom_text(struct tb__xml *x, const char *name, const char *value, int is_html)
{
    if (value == NULL)
        return;
    tb__xml_start(x, name);
    tb__xml_attr(x, "type", is_html ? "html" : "text");
    tb__xml_text(x, value);
    tb__xml_end(x);
}

/* Whether s has the ".+/.+" shape atomMediaType requires. */
static int media_type_ok(const char *s)
{
    const char *slash = s ? strchr(s, '/') : NULL;

    return slash && slash != s && slash[1] && strpbrk(s, "\r\n") == NULL;
}

static void atom_link(struct tb__xml *x, const char *rel, const char *href, const char *type,
                      const char *title, int64_t length)
{
    char len[24];

    if (href == NULL)
        return;
    tb__xml_start(x, "link");
    tb__xml_attr(x, "rel", rel);
    tb__xml_attr(x, "href", href);
    tb__xml_attr(x, "type", media_type_ok(type) ? type : NULL);
    tb__xml_attr(x, "title", title);
    if (length >= 0) {
        snprintf(len, sizeof(len), "%" PRId64, length);
        tb__xml_attr(x, "length", len);
    }
    tb__xml_end(x);
}

/* Links other than the entry's alternate and upstream self links: at most
 * one rel=alternate per type is allowed, and self would name the wrong
 * document. */
static void atom_links(struct tb__xml *x, const struct tb_link *l)
{
    for (; l; l = l->next) {
        const char *rel = l->rel && *l->rel ? l->rel : "alternate";

        if (strcmp(rel, "alternate") == 0 || strcmp(rel, "self") == 0)
            continue;
        atom_link(x, rel, l->href, l->type, l->title, l->length);
    }
}

/* Whether s looks like an email address (".+@.+" on one line). */
static int email_ok(const char *s)
{
    const char *at = s ? strchr(s, '@') : NULL;

    return at && at != s && at[1] && strpbrk(s, "\r\n") == NULL;
}

int tb__pub_uri_ok(const char *s)
{
    size_t n;

    if (s == NULL || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return 0;
    n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    return s[n] == ':' && strpbrk(s, " \t\r\n") == NULL;
}

static void atom_persons(struct tb__xml *x, const char *name, const struct tb_person *p)
{
    for (; p; p = p->next) {
        tb__xml_start(x, name);
        tb__xml_elem(x, "name", p->name ? p->name : "");
        tb__xml_elem(x, "email", email_ok(p->email) ? p->email : NULL);
        tb__xml_elem(x, "uri", tb__pub_uri_ok(p->uri) ? p->uri : NULL);
        tb__xml_end(x);
    }
}

static void atom_categories(struct tb__xml *x, const struct tb_category *c)
{
    for (; c; c = c->next) {
        if (c->term == NULL)
            continue;
        tb__xml_start(x, "category");
        tb__xml_attr(x, "term", c->term);
        tb__xml_attr(x, "scheme", c->scheme);
        tb__xml_attr(x, "label", c->label);
        tb__xml_end(x);
    }
}

/* Summary and content. RFC 4287 4.1.2: an entry without an alternate link
 * must carry content, so then the summary (or nothing) becomes the content. */
static void atom_bodies(struct tb__xml *x, const struct tb_entry *e)
{
    const struct tb_text *s = &e->summary, *c = &e->content;

    if (c->value == NULL && e->link == NULL) {
        atom_text(x, "content", s->value ? s->value : "", s->value && s->is_html);
        return;
    }
    if (c->type == NULL || !media_type_ok(c->type)) {
        atom_text(x, "summary", s->value, s->is_html);
        atom_text(x, "content", c->value, c->is_html);
        return;
    }
    /* Base64 content of another media type (4.1.3.3) requires a summary
     * (4.1.1.1): the title stands in for a missing one. */
    if (s->value)
        atom_text(x, "summary", s->value, s->is_html);
    else
        atom_text(x, "summary", tb__pub_entry_title(e), 0);
    tb__xml_start(x, "content");
    tb__xml_attr(x, "type", c->type);
    tb__xml_text(x, c->value);
    tb__xml_end(x);
}

/* atom:source names the origin feed, and an author for authorless entries. */
static void atom_source(struct tb__xml *x, const struct tb_entry *e)
{
    const struct tb_origin *o = &e->origin;

    if (!o->id && !o->title && !o->link && !o->self && e->authors)
        return;
    tb__xml_start(x, "source");
    tb__xml_elem(x, "id", o->id);
    atom_text(x, "title", o->title, 0);
    atom_link(x, "self", o->self, NULL, NULL, -1);
    atom_link(x, "alternate", o->link, NULL, NULL, -1);
    if (e->authors == NULL) {
        tb__xml_start(x, "author");
        tb__xml_elem(x, "name", o->title && *o->title ? o->title : "unknown");
        tb__xml_end(x);
    }
    tb__xml_end(x);
}

/* atom:source blocks rendered once per origin (tb_publish_atom_share_sources()),
 * when first met: an open-addressing table keyed by the origin's string
 * pointers and whether the entry has authors, which is all atom_source()
 * reads. Pieces rendered at once share it, under its lock. */
struct src_block {
    const char *k[4]; /* origin id, title, link, self */
    int authorless;   /* the entry has no author */
    int set;          /* the slot is taken */
    char *bytes;      /* what atom_source() writes there, malloc'd */
    size_t len;       /* its length */
};

/* Not tb_map: the key is the identity of four pointers and a flag, not a
 * string, and the table lives under a mutex shared by the writer threads. */
struct src_cache {
    pthread_mutex_t lock; /* guards the table */
    struct src_block *v;  /* slots */
    size_t cap, n;        /* slots (a power of two, or 0) and taken ones */
};

/* The depth of atom:source in a document: inside <feed> and <entry>. */
#define SOURCE_DEPTH 2

static size_t key_hash(const char *const k[4], int authorless)
{
    uint64_t h = (uint64_t)(uintptr_t)k[0] * 0x9E3779B97F4A7C15u;

    h = (h ^ (uint64_t)(uintptr_t)k[1]) * 0xC2B2AE3D27D4EB4Fu;
    h = (h ^ (uint64_t)(uintptr_t)k[2]) * 0x165667B19E3779F9u;
    h = (h ^ (uint64_t)(uintptr_t)k[3] ^ (uint64_t)authorless) * 0x9E3779B97F4A7C15u;
    return (size_t)(h ^ (h >> 32));
}

/* The slot of key (k, authorless), or the free slot where it belongs; the
 * table must have a free slot. */
static struct src_block *block_slot(const struct src_cache *c, const char *const k[4],
                                    int authorless)
{
    size_t i;
    struct src_block *b;

    for (i = key_hash(k, authorless) & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
        b = &c->v[i];
        if (!b->set || (b->k[0] == k[0] && b->k[1] == k[1] && b->k[2] == k[2] && b->k[3] == k[3] &&
                        b->authorless == authorless))
            return b;
    }
}

/* Doubles the table (to 64 slots at first), keeping its blocks. */
static int cache_grow(struct src_cache *c)
{
    size_t cap = c->cap ? 2 * c->cap : 64, i;
    struct src_cache bigger = {.v = calloc(cap, sizeof(*c->v)), .cap = cap};

    if (bigger.v == NULL)
        return -ENOMEM;
    for (i = 0; i < c->cap; i++) {
        if (c->v[i].set)
            *block_slot(&bigger, c->v[i].k, c->v[i].authorless) = c->v[i];
    }
    free(c->v);
    c->v = bigger.v;
    c->cap = cap;
    return 0;
}

/* e's cached block into *bytes and *len; 0 when there is none. */
static int cache_get(struct src_cache *c, const struct tb_entry *e, const char **bytes, size_t *len)
{
    const struct tb_origin *o = &e->origin;
    const char *k[4] = {o->id, o->title, o->link, o->self};
    const struct src_block *b;
    int found = 0;

    pthread_mutex_lock(&c->lock);
    b = c->cap ? block_slot(c, k, e->authors == NULL) : NULL;
    if (b != NULL && b->set) {
        *bytes = b->bytes;
        *len = b->len;
        found = 1;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* Adds blk (rendered for e) unless another thread did first: the cache
 * then takes its bytes (blk is left empty; they stay valid until the
 * stream ends). */
static void cache_put(struct src_cache *c, const struct tb_entry *e, struct tb_buf *blk)
{
    const struct tb_origin *o = &e->origin;
    const char *k[4] = {o->id, o->title, o->link, o->self};
    struct src_block *b = NULL;
    size_t len = blk->len;

    pthread_mutex_lock(&c->lock);
    if (2 * (c->n + 1) <= c->cap || cache_grow(c) == 0)
        b = block_slot(c, k, e->authors == NULL);
    if (b != NULL && !b->set) {
        b->bytes = tb_buf_take(blk);
        if (b->bytes != NULL) {
            memcpy(b->k, k, sizeof(k));
            b->authorless = e->authors == NULL;
            b->len = len;
            b->set = 1;
            c->n++;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

static void cache_free(struct src_cache *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->cap; i++)
        free(c->v[i].bytes);
    free(c->v);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* The bytes atom_source() writes for e inside an entry, after a child
 * element, into out (from its start). */
static int render_source(const struct tb_entry *e, struct tb_buf *out)
{
    struct tb__xml x;
    int rc = tb__xml_open(&x, out);

    if (rc)
        return rc;
    /* Put in the state of a document after an entry's first child, then
     * flushed without its owed newline, which the block then starts with. */
    x.discard = 1;
    tb__xml_start(&x, "feed");
    tb__xml_start(&x, "entry");
    tb__xml_elem(&x, "id", "");
    if (x.rc == 0 && xmlTextWriterFlush(x.w) < 0)
        tb__xml_fail(&x, -EIO);
    x.discard = 0;
    atom_source(&x, e);
    if (x.rc == 0 && (x.depth != SOURCE_DEPTH || xmlTextWriterFlush(x.w) < 0))
        tb__xml_fail(&x, -EIO);
    x.discard = 1;
    return tb__xml_close(&x);
}

/* Writes e's atom:source as a copy of its origin's block (rendered now if
 * it is the first) when the stream shares sources and the writer is where
 * blocks are rendered (after a child of an entry). Returns 1 when written,
 * 0 when the caller writes it. */
static int atom_source_cached(struct tb__xml *x, struct src_cache *c, const struct tb_entry *e)
{
    struct tb_buf blk;
    const char *bytes = NULL;
    size_t len = 0;

    if (c == NULL || x->rc || x->depth != SOURCE_DEPTH || !x->nl || x->open || !x->doindent)
        return 0;
    tb_buf_init(&blk, (size_t)INT_MAX);
    if (!cache_get(c, e, &bytes, &len)) {
        if (render_source(e, &blk) != 0) {
            tb_buf_free(&blk);
            return 0; /* written directly, which meets the error again */
        }
        bytes = blk.data;
        len = blk.len;
        cache_put(c, e, &blk); /* bytes stay valid, the cache's or blk's */
    }
    /* The block starts with the newline owed after the last end tag and
     * leaves one owed after </source>: the writer's state is unchanged. */
    if (len > 0 && xmlTextWriterWriteRawLen(x->w, BAD_CAST bytes, (int)len) < 0)
        tb__xml_fail(x, -EIO);
    tb_buf_free(&blk);
    return 1;
}

/* <tb:trending> of an entry in a trending list (see tb_publish.h). */
void tb__pub_trending(struct tb__xml *x, const struct tb_entry *e)
{
    char v[64];

    if (e->trend_groups <= 0)
        return;
    tb__xml_start(x, "tb:trending");
    tb__xml_attr(x, "xmlns:tb", TB_PUBLISH_NS);
    snprintf(v, sizeof(v), "%.3f", e->trend_score);
    tb__xml_attr(x, "score", v);
    snprintf(v, sizeof(v), "%d", e->trend_groups);
    tb__xml_attr(x, "groups", v);
    tb__xml_end(x);
}

static void atom_entry(struct tb__xml *x, const struct tb_entry *e, size_t n, int64_t updated,
                       struct src_cache *sources)
{
    char id[TB__ID_MAX];

    tb__xml_start(x, "entry");
    tb__xml_elem(x, "id", tb__pub_entry_id(e, n, id));
    atom_text(x, "title", tb__pub_entry_title(e), 0);
    atom_date(x, "updated", tb__pub_entry_updated(e, updated));
    if (tb_date_ok(e->published))
        atom_date(x, "published", e->published);
    atom_link(x, "alternate", e->link, NULL, NULL, -1);
    atom_links(x, e->links);
    atom_persons(x, "author", e->authors);
    atom_persons(x, "contributor", e->contributors);
    atom_categories(x, e->categories);
    atom_bodies(x, e);
    atom_text(x, "rights", e->rights, 0);
    tb__pub_trending(x, e);
    if (!atom_source_cached(x, sources, e))
        atom_source(x, e);
    tb__xml_end(x);
}

/* Whether some entry has no author. */
static int some_authorless(const struct tb_entry *e)
{
    for (; e; e = e->next) {
        if (e->authors == NULL)
            return 1;
    }
    return 0;
}

/* The feed's own elements, before its entries. */
static void atom_head(struct tb__xml *x, const struct tb_publish_meta *m, int authorless,
                      int64_t updated)
{
    tb__xml_elem(x, "id", m->id ? m->id : "");
    atom_text(x, "title", m->title ? m->title : "", 0);
    atom_text(x, "subtitle", m->subtitle, 0);
    atom_date(x, "updated", updated);
    atom_link(x, "self", m->self, "application/atom+xml", NULL, -1);
    atom_link(x, "alternate", m->alternate, "text/html", NULL, -1);
    atom_link(x, "hub", m->hub, NULL, NULL, -1);
    atom_link(x, "prev-archive", m->next_archive, "application/atom+xml", NULL, -1);
    atom_link(x, "next-archive", m->newer_archive, "application/atom+xml", NULL, -1);
    atom_link(x, "current", m->current, "application/atom+xml", NULL, -1);
    if (m->archive) {
        tb__xml_start(x, "fh:archive");
        tb__xml_attr(x, "xmlns:fh", TB_PUBLISH_NS_FH);
        tb__xml_end(x);
    }
    if (authorless) {
        /* RFC 4287 4.1.1: authorless entries need a feed-level author. */
        tb__xml_start(x, "author");
        tb__xml_elem(x, "name", m->title ? m->title : "");
        tb__xml_end(x);
    }
    tb__xml_start(x, "generator");
    tb__xml_attr(x, "version", TB_VERSION);
    tb__xml_text(x, "tributary");
    tb__xml_end(x);
}

/* An Atom document in progress: the writer and what its entries share. */
struct tb_publish_stream {
    struct tb__xml x;          /* the writer */
    int64_t updated;           /* the feed's updated, for entries without a date */
    size_t n;                  /* entries written so far, for fallback ids */
    struct src_cache *sources; /* atom:source blocks, when shared, or NULL */
};

int tb_publish_atom_begin(struct tb_publish_stream **out, const struct tb_publish_meta *m,
                          int authorless, struct tb_buf *buf)
{
    struct tb_publish_stream *ps = calloc(1, sizeof(*ps));
    int rc;

    *out = NULL;
    if (ps == NULL)
        return -ENOMEM;
    ps->updated = tb__pub_feed_updated(m, NULL);
    rc = tb__xml_open(&ps->x, buf);
    if (rc) {
        free(ps);
        return rc;
    }
    tb__xml_start(&ps->x, "feed");
    tb__xml_attr(&ps->x, "xmlns", ATOM_NS);
    atom_head(&ps->x, m, authorless, ps->updated);
    tb__xml_flush(&ps->x);
    *out = ps;
    return ps->x.rc;
}

int tb_publish_atom_entries(struct tb_publish_stream *ps, const struct tb_entry *entries)
{
    const struct tb_entry *e;

    for (e = entries; e && ps->x.rc == 0; e = e->next)
        atom_entry(&ps->x, e, ++ps->n, ps->updated, ps->sources);
    tb__xml_flush(&ps->x);
    return ps->x.rc;
}

int tb_publish_atom_render(const struct tb_publish_stream *ps, size_t pos,
                           const struct tb_entry *entries, size_t n, struct tb_buf *out)
{
    struct tb__xml x;
    int rc = tb__xml_open(&x, out);

    if (rc)
        return rc;
    /* A writer of its own is put, without output, in the state the stream's
     * is in after the head (inside <feed>, after a child element), so its
     * entries come out indented and separated the same way; what it writes
     * after them (the end of the document) is dropped too. */
    x.discard = 1;
    tb__xml_start(&x, "feed");
    tb__xml_start(&x, "head");
    tb__xml_end(&x);
    tb__xml_flush(&x);
    x.discard = 0;
    for (; entries && n > 0 && x.rc == 0; entries = entries->next, n--)
        atom_entry(&x, entries, ++pos, ps->updated, ps->sources);
    tb__xml_flush(&x);
    x.discard = 1;
    return tb__xml_close(&x);
}

int tb_publish_atom_share_sources(struct tb_publish_stream *ps)
{
    if (ps->sources != NULL)
        return 0;
    ps->sources = calloc(1, sizeof(*ps->sources));
    if (ps->sources == NULL)
        return -ENOMEM;
    pthread_mutex_init(&ps->sources->lock, NULL);
    return 0;
}

int tb_publish_atom_end(struct tb_publish_stream *ps)
{
    int rc;

    if (ps == NULL)
        return 0;
    tb__xml_end(&ps->x);
    rc = tb__xml_close(&ps->x);
    cache_free(ps->sources);
    free(ps);
    return rc;
}

int tb_publish_atom(const struct tb_publish_meta *m, const struct tb_entry *entries,
                    struct tb_buf *out)
{
    struct tb_publish_meta head = *m;
    struct tb_publish_stream *ps;
    int rc, end;

    head.updated = tb__pub_feed_updated(m, entries);
    rc = tb_publish_atom_begin(&ps, &head, some_authorless(entries), out);
    if (ps == NULL)
        return rc;
    if (rc == 0)
        rc = tb_publish_atom_entries(ps, entries);
    end = tb_publish_atom_end(ps);
    return rc ? rc : end;
}
