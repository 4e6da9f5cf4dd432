/*
 * Publish: the JSON Feed 1.1 writer (jansson). Builds the document as a
 * jansson tree with a sticky first error, then dumps it into the caller's
 * buffer.
 */
#include "publish_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tb_sanitize.h"

/* Tree-building state: cleaned strings go through scratch. */
struct jctx {
    struct tb_buf scratch; /* cleaned strings */
    int rc;                /* first error, or 0 */
};

/* Sets o[key] to v, taking v's reference even on failure; a NULL o or v
 * means an earlier allocation failed. */
static void jset(struct jctx *j, json_t *o, const char *key, json_t *v)
{
    if (j->rc == 0 && o != NULL && v != NULL) {
        if (json_object_set_new(o, key, v) != 0)
            j->rc = -ENOMEM;
        return;
    }
    json_decref(v);
    if (j->rc == 0)
        j->rc = -ENOMEM;
}

/* Appends v to the array a, as jset(). */
static void jappend(struct jctx *j, json_t *a, json_t *v)
{
    if (j->rc == 0 && a != NULL && v != NULL) {
        if (json_array_append_new(a, v) != 0)
            j->rc = -ENOMEM;
        return;
    }
    json_decref(v);
    if (j->rc == 0)
        j->rc = -ENOMEM;
}

/* A cleaned JSON string, or NULL (and an error) when out of memory. */
static json_t *jstring(struct jctx *j, const char *s)
{
    const char *v;
    int rc = tb__pub_clean(s, &j->scratch, &v);

    if (rc && j->rc == 0)
        j->rc = rc;
    return rc ? NULL : json_string(v);
}

/* Sets o[key] to the string s; nothing when s is NULL. */
static void jstr(struct jctx *j, json_t *o, const char *key, const char *s)
{
    if (s != NULL && j->rc == 0)
        jset(j, o, key, jstring(j, s));
}

static void jdate(struct jctx *j, json_t *o, const char *key, int64_t t)
{
    char buf[TB__DATE_MAX];

    if (tb_date_format_rfc3339(t, buf, sizeof(buf)) == 0)
        jstr(j, o, key, buf);
}

/* The text of an HTML fragment (JSON Feed's summary is plain text), by the
 * one HTML-to-text conversion; the caller frees it. NULL when it has none. */
static char *html_text(const char *html)
{
    char *text = tb_sanitize_text(html, strlen(html));

    if (text != NULL && *text == '\0') {
        free(text);
        text = NULL;
    }
    return text;
}

/* Whether plain text would open a tag when rendered as HTML, as some readers
 * render JSON Feed's plain-text summary. */
static int looks_like_markup(const char *s)
{
    for (s = s ? strchr(s, '<') : NULL; s; s = strchr(s + 1, '<')) {
        if (isalpha((unsigned char)s[1]) || s[1] == '/' || s[1] == '!' || s[1] == '?')
            return 1;
    }
    return 0;
}

/* content_html/content_text (one is required) and summary. */
static void json_bodies(struct jctx *j, json_t *item, const struct tb_entry *e)
{
    const struct tb_text *s = &e->summary;
    /* Base64 content of a media type has no JSON Feed field: as for an item
     * without content, the summary stands in, and readers follow the url. */
    const struct tb_text *c = e->content.value && !e->content.type ? &e->content : s;
    char *text;

    jstr(j, item, c->is_html ? "content_html" : "content_text", c->value ? c->value : "");
    if (s->value == NULL || c == s)
        return;
    if (!s->is_html) {
        jstr(j, item, "summary", looks_like_markup(s->value) ? NULL : s->value);
        return;
    }
    text = html_text(s->value);
    jstr(j, item, "summary", looks_like_markup(text) ? NULL : text);
    free(text);
}

static void json_authors(struct jctx *j, json_t *item, const struct tb_person *p)
{
    json_t *a;

    if (p == NULL)
        return;
    a = json_array();
    jset(j, item, "authors", a);
    for (; p && j->rc == 0; p = p->next) {
        json_t *o = json_object();

        jappend(j, a, o);
        jstr(j, o, "name", p->name && *p->name ? p->name : p->email);
        jstr(j, o, "url", tb__pub_uri_ok(p->uri) ? p->uri : NULL);
    }
}

static void json_tags(struct jctx *j, json_t *item, const struct tb_category *c)
{
    json_t *a;

    if (c == NULL)
        return;
    a = json_array();
    jset(j, item, "tags", a);
    for (; c && j->rc == 0; c = c->next) {
        if (c->term) /* a tag is what readers show: the label when there is one */
            jappend(j, a, jstring(j, c->label ? c->label : c->term));
    }
}

static void json_attachments(struct jctx *j, json_t *item, const struct tb_link *l)
{
    json_t *a = NULL;

    for (; l && j->rc == 0; l = l->next) {
        json_t *o;

        if (l->rel == NULL || strcmp(l->rel, "enclosure") != 0 || l->href == NULL)
            continue;
        if (a == NULL) {
            a = json_array();
            jset(j, item, "attachments", a);
        }
        o = json_object();
        jappend(j, a, o);
        jstr(j, o, "url", l->href);
        jstr(j, o, "mime_type", l->type ? l->type : "application/octet-stream");
        jstr(j, o, "title", l->title);
        if (l->length >= 0)
            jset(j, o, "size_in_bytes", json_integer(l->length));
    }
}

/* The tributary extension of an entry in a trending list (see tb_publish.h). */
static void json_trending(struct jctx *j, json_t *item, const struct tb_entry *e)
{
    json_t *ext, *tr;

    if (e->trend_groups <= 0)
        return;
    ext = json_object();
    jset(j, item, "_tributary", ext);
    jstr(j, ext, "about", TB_PUBLISH_NS);
    tr = json_object();
    jset(j, ext, "trending", tr);
    jset(j, tr, "score", json_real(e->trend_score));
    jset(j, tr, "groups", json_integer(e->trend_groups));
}

static void json_item(struct jctx *j, json_t *items, const struct tb_entry *e, size_t n)
{
    char id[TB__ID_MAX];
    json_t *item = json_object();

    jappend(j, items, item);
    jstr(j, item, "id", tb__pub_entry_id(e, n, id));
    jstr(j, item, "url", e->link);
    jstr(j, item, "title", tb__pub_entry_title(e));
    json_bodies(j, item, e);
    jdate(j, item, "date_published", e->published);
    jdate(j, item, "date_modified", e->updated);
    json_authors(j, item, e->authors);
    json_tags(j, item, e->categories);
    json_attachments(j, item, e->links);
    json_trending(j, item, e);
}

/* "_archive": the RFC 5005 links (see tb_publish.h). */
static void json_archive(struct jctx *j, json_t *root, const struct tb_publish_meta *m)
{
    json_t *a;

    if (!m->archive && m->next_archive == NULL && m->newer_archive == NULL && m->current == NULL)
        return;
    a = json_object();
    jstr(j, a, "about", TB_PUBLISH_NS_FH);
    if (m->archive)
        jset(j, a, "archive", json_true());
    jstr(j, a, "prev_archive", m->next_archive);
    jstr(j, a, "next_archive", m->newer_archive);
    jstr(j, a, "current", m->current);
    jset(j, root, "_archive", a);
}

static void json_head(struct jctx *j, json_t *root, const struct tb_publish_meta *m)
{
    json_t *hub;

    jstr(j, root, "version", "https://jsonfeed.org/version/1.1");
    jstr(j, root, "title", m->title ? m->title : "");
    jstr(j, root, "home_page_url", m->alternate);
    jstr(j, root, "feed_url", m->self);
    jstr(j, root, "description", m->subtitle);
    jstr(j, root, "next_url", m->next_archive);
    json_archive(j, root, m);
    if (m->hub == NULL)
        return;
    hub = json_object();
    jstr(j, hub, "type", "WebSub");
    jstr(j, hub, "url", m->hub);
    jset(j, root, "hubs", json_pack("[O]", hub));
    json_decref(hub);
}

/* Where jansson's output goes, and the buffer's first error. */
struct dump {
    struct tb_buf *out;
    int rc;
};

/* Appends jansson's output to the buffer; on failure the buffer is freed. */
static int dump_cb(const char *p, size_t n, void *data)
{
    struct dump *d = data;

    if (d->rc == 0)
        d->rc = tb_buf_add(d->out, p, n);
    return d->rc ? -1 : 0;
}

int tb_publish_json(const struct tb_publish_meta *m, const struct tb_entry *entries,
                    struct tb_buf *out)
{
    struct jctx j = {.rc = 0};
    struct dump d = {.out = out, .rc = 0};
    json_t *root = json_object(), *items = json_array();
    const struct tb_entry *e;
    size_t n = 0, start = out->len;

    tb_buf_init(&j.scratch, out->cap);
    json_head(&j, root, m);
    jset(&j, root, "items", items);
    for (e = entries; e && j.rc == 0; e = e->next)
        json_item(&j, items, e, ++n);
    if (j.rc == 0 &&
        json_dump_callback(root, dump_cb, &d, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) != 0)
        j.rc = d.rc ? d.rc : -ENOMEM;
    if (j.rc == 0)
        j.rc = tb_buf_adds(out, "\n");
    json_decref(root);
    tb_buf_free(&j.scratch);
    if (j.rc && out->data) {
        out->len = start;
        out->data[start] = '\0';
    }
    return j.rc;
}
