/*
 * Publish: the RSS 2.0 writer, with the atom, content and dc namespaces that
 * readers expect (atom:link rel=self/hub, content:encoded, dc:creator).
 */
#include "publish_int.h"
#include "tb_sanitize.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define NS_ATOM "http://www.w3.org/2005/Atom"
#define NS_CONTENT "http://purl.org/rss/1.0/modules/content/"
#define NS_DC "http://purl.org/dc/elements/1.1/"

/* <name>RFC 822 date</name>; a date outside years 1..9999 is left out. */
static void rss_date(struct tb__xml *x, const char *name, int64_t t)
{
    char buf[TB__DATE_MAX];

    if (tb_date_format_rfc822(t, buf, sizeof(buf)) == 0)
        tb__xml_elem(x, name, buf);
}

static void rss_atom_link(struct tb__xml *x, const char *rel, const char *href, const char *type)
{
    if (href == NULL)
        return;
    tb__xml_start(x, "atom:link");
    tb__xml_attr(x, "rel", rel);
    tb__xml_attr(x, "href", href);
    tb__xml_attr(x, "type", type);
    tb__xml_end(x);
}

/* <name> holding the text as HTML: as is when it is HTML, else escaped. */
static void rss_html(struct tb__xml *x, const char *name, const struct tb_text *t)
{
    struct tb_buf b;
    int rc;

    if (t->value == NULL || t->is_html) {
        tb__xml_elem(x, name, t->value);
        return;
    }
    tb_buf_init(&b, x->out->cap);
    /* Plain text escaped as HTML, since an RSS description always holds HTML. */
    rc = tb_buf_add(&b, "", 0);
    rc = rc ? rc : tb_sanitize_escape(&b, t->value, strlen(t->value));
    if (rc)
        tb__xml_fail(x, rc);
    else
        tb__xml_elem(x, name, b.data);
    tb_buf_free(&b);
}

/* RSS allows one enclosure per item, with url, length and type required. */
static void rss_enclosure(struct tb__xml *x, const struct tb_link *l)
{
    char len[24];

    for (; l; l = l->next) {
        if (l->rel && strcmp(l->rel, "enclosure") == 0 && l->href)
            break;
    }
    if (l == NULL)
        return;
    snprintf(len, sizeof(len), "%" PRId64, l->length >= 0 ? l->length : 0);
    tb__xml_start(x, "enclosure");
    tb__xml_attr(x, "url", l->href);
    tb__xml_attr(x, "length", len);
    tb__xml_attr(x, "type", l->type ? l->type : "application/octet-stream");
    tb__xml_end(x);
}

static void rss_people_and_tags(struct tb__xml *x, const struct tb_entry *e)
{
    const struct tb_person *p;
    const struct tb_category *c;

    for (p = e->authors; p; p = p->next)
        tb__xml_elem(x, "dc:creator", p->name && *p->name ? p->name : p->email);
    for (c = e->categories; c; c = c->next) {
        if (c->term == NULL)
            continue;
        tb__xml_start(x, "category");
        tb__xml_attr(x, "domain", c->scheme);
        tb__xml_text(x, c->label ? c->label : c->term); /* what readers show */
        tb__xml_end(x);
    }
}

/* <source url="origin self">origin title</source>; url is required. */
static void rss_source(struct tb__xml *x, const struct tb_origin *o)
{
    if (o->self == NULL)
        return;
    tb__xml_start(x, "source");
    tb__xml_attr(x, "url", o->self);
    tb__xml_text(x, o->title ? o->title : o->self);
    tb__xml_end(x);
}

static void rss_item(struct tb__xml *x, const struct tb_entry *e, size_t n)
{
    char id[TB__ID_MAX];
    /* Base64 content of a media type has no place in RSS: the item keeps
     * its summary and link, which readers follow. */
    const struct tb_text *content = e->content.type ? &(const struct tb_text){0} : &e->content;
    const struct tb_text *body = e->summary.value ? &e->summary : content;

    tb__xml_start(x, "item");
    tb__xml_elem(x, "title", tb__pub_entry_title(e));
    tb__xml_elem(x, "link", e->link);
    tb__xml_start(x, "guid");
    tb__xml_attr(x, "isPermaLink", "false");
    tb__xml_text(x, tb__pub_entry_id(e, n, id));
    tb__xml_end(x);
    rss_date(x, "pubDate", tb_date_ok(e->published) ? e->published : e->updated);
    rss_people_and_tags(x, e);
    rss_html(x, "description", body);
    if (content->value)
        rss_html(x, "content:encoded", content);
    rss_enclosure(x, e->links);
    rss_source(x, &e->origin);
    tb__pub_trending(x, e);
    tb__xml_end(x);
}

/* The channel's <description> ("a phrase or sentence", which readers show as
 * text, unlike an item's) holding plain text that reads the same as text and
 * as HTML: only '<' and an '&' that would start a character reference are
 * escaped, so "A & B" is not shown as "A &amp; B". */
static void rss_channel_description(struct tb__xml *x, const char *s)
{
    struct tb_buf b;
    int rc;

    tb_buf_init(&b, x->out->cap);
    rc = tb_buf_add(&b, "", 0);
    for (; rc == 0 && *s; s++) {
        size_t n = strspn(s + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");

        if (*s == '<')
            rc = tb_buf_adds(&b, "&lt;");
        else if (*s == '&' && (s[1] == '#' || (n > 0 && s[n + 1] == ';')))
            rc = tb_buf_adds(&b, "&amp;");
        else
            rc = tb_buf_add(&b, s, 1);
    }
    if (rc)
        tb__xml_fail(x, rc);
    else
        tb__xml_elem(x, "description", b.data);
    tb_buf_free(&b);
}

static void rss_channel_head(struct tb__xml *x, const struct tb_publish_meta *m, int64_t updated)
{
    const char *link = m->alternate ? m->alternate : m->self ? m->self : m->id;

    tb__xml_elem(x, "title", m->title ? m->title : "");
    tb__xml_elem(x, "link", link ? link : "");
    rss_channel_description(x, m->subtitle ? m->subtitle : m->title ? m->title : "");
    rss_atom_link(x, "self", m->self, "application/rss+xml");
    rss_atom_link(x, "hub", m->hub, NULL);
    rss_atom_link(x, "prev-archive", m->next_archive, "application/rss+xml");
    rss_atom_link(x, "next-archive", m->newer_archive, "application/rss+xml");
    rss_atom_link(x, "current", m->current, "application/rss+xml");
    if (m->archive) {
        tb__xml_start(x, "fh:archive");
        tb__xml_attr(x, "xmlns:fh", TB_PUBLISH_NS_FH);
        tb__xml_end(x);
    }
    rss_date(x, "lastBuildDate", updated);
    tb__xml_elem(x, "generator", "tributary " TB_VERSION);
}

int tb_publish_rss(const struct tb_publish_meta *m, const struct tb_entry *entries,
                   struct tb_buf *out)
{
    struct tb__xml x;
    const struct tb_entry *e;
    size_t n = 0;
    int rc = tb__xml_open(&x, out);

    if (rc)
        return rc;
    tb__xml_start(&x, "rss");
    tb__xml_attr(&x, "version", "2.0");
    tb__xml_attr(&x, "xmlns:atom", NS_ATOM);
    tb__xml_attr(&x, "xmlns:content", NS_CONTENT);
    tb__xml_attr(&x, "xmlns:dc", NS_DC);
    tb__xml_start(&x, "channel");
    rss_channel_head(&x, m, tb__pub_feed_updated(m, entries));
    for (e = entries; e && x.rc == 0; e = e->next)
        rss_item(&x, e, ++n);
    tb__xml_end(&x);
    tb__xml_end(&x);
    return tb__xml_close(&x);
}
