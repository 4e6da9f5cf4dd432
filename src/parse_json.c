/*
 * JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) with jansson.
 *
 * Strings are copied into the feed's arena through tb__parse_str, so they
 * come out as clean UTF-8 like the XML readers' (jansson already refuses
 * invalid UTF-8 and \u0000; control characters are dropped here).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "parse_int.h"
#include "tb_log.h"
#include "tb_date.h"

/* The reader's state for one document. */
struct jx {
    struct tb_feed *f;
    const char *base; /* the document's URL, for relative URLs */
    int oom;          /* an allocation failed */
};

/* A trimmed string member in the arena, or NULL when absent, empty or not a string. */
static const char *str(struct jx *x, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    const char *s;

    if (json_is_integer(v)) { /* ids are strings, but some feeds write numbers */
        char num[32];

        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return tb__parse_str(x->f, num, strlen(num), 1);
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return NULL;
    s = tb__parse_str(x->f, json_string_value(v), json_string_length(v), 1);
    if (s == NULL)
        x->oom = 1;
    return s && *s ? s : NULL;
}

/* A URL member made absolute against the document's URL. */
static const char *url(struct jx *x, json_t *obj, const char *key)
{
    const char *s = str(x, obj, key);

    return s ? tb__parse_url(x->f, x->base, s) : NULL;
}

static void add_link(struct jx *x, struct tb_entry *e, const char *href, const char *rel,
                     const char *type, const char *title, json_int_t length)
{
    struct tb_link *l;

    if (href == NULL)
        return;
    l = tb_arena_alloc(&x->f->arena, sizeof(*l));
    if (l == NULL) {
        x->oom = 1;
        return;
    }
    l->href = href;
    l->rel = rel;
    l->type = type;
    l->title = title;
    l->length = length >= 0 ? (int64_t)length : -1;
    tb__parse_add_link(&e->links, l);
    if (strcmp(rel, "alternate") == 0 && e->link == NULL)
        e->link = href;
}

/* JSON Feed 1.1 "authors" array, or 1.0 "author" object. */
static struct tb_person *persons(struct jx *x, json_t *obj)
{
    struct tb_person *list = NULL, *p;
    json_t *arr = json_object_get(obj, "authors"), *one = json_object_get(obj, "author"), *a;
    size_t i;

    json_array_foreach(json_is_array(arr) ? arr : NULL, i, a)
    {
        p = tb_arena_alloc(&x->f->arena, sizeof(*p));
        if (p == NULL || !json_is_object(a)) {
            x->oom |= p == NULL;
            continue;
        }
        p->name = str(x, a, "name");
        p->uri = url(x, a, "url");
        if (p->name == NULL && p->uri == NULL)
            continue;
        p->name = p->name ? p->name : "";
        tb__parse_add_person(&list, p);
    }
    if (list == NULL && json_is_object(one)) {
        json_t *wrap = json_pack("{s:[O]}", "authors", one);

        list = wrap ? persons(x, wrap) : NULL;
        x->oom |= wrap == NULL;
        json_decref(wrap);
    }
    return list;
}

static void tags(struct jx *x, struct tb_entry *e, json_t *arr)
{
    struct tb_category *c;
    json_t *t;
    size_t i;

    json_array_foreach(json_is_array(arr) ? arr : NULL, i, t)
    {
        if (!json_is_string(t) || json_string_length(t) == 0)
            continue;
        c = tb_arena_alloc(&x->f->arena, sizeof(*c));
        if (c != NULL)
            c->term = tb__parse_str(x->f, json_string_value(t), json_string_length(t), 1);
        if (c == NULL || c->term == NULL) {
            x->oom = 1;
            return;
        }
        tb__parse_add_category(&e->categories, c);
    }
}

static void attachments(struct jx *x, struct tb_entry *e, json_t *arr)
{
    json_t *a, *size;
    size_t i;

    json_array_foreach(json_is_array(arr) ? arr : NULL, i, a)
    {
        size = json_object_get(a, "size_in_bytes");
        add_link(x, e, url(x, a, "url"), "enclosure", str(x, a, "mime_type"), str(x, a, "title"),
                 json_is_integer(size) ? json_integer_value(size) : -1);
    }
}

/* One item of "items". */
static void item(struct jx *x, json_t *it)
{
    struct tb_entry *e = tb_entry_new(x->f);
    const char *html, *text, *title;

    if (e == NULL) {
        x->oom = 1;
        return;
    }
    e->id = str(x, it, "id");
    e->id_is_permalink = 0;
    e->base = x->base;
    title = str(x, it, "title");
    /* Plain text by the spec; escaped HTML from feeds made with HTML templates. */
    e->title = title && tb__parse_looks_html(title) ? tb__parse_html_text(x->f, title) : title;
    x->oom |= title != NULL && e->title == NULL;
    add_link(x, e, url(x, it, "url"), "alternate", NULL, NULL, -1);
    add_link(x, e, url(x, it, "external_url"), "related", NULL, NULL, -1);
    add_link(x, e, url(x, it, "image"), "image", NULL, NULL, -1);
    add_link(x, e, url(x, it, "banner_image"), "image", NULL, NULL, -1);
    html = str(x, it, "content_html");
    text = str(x, it, "content_text");
    e->content.value = html ? html : text;
    e->content.is_html = html != NULL;
    e->summary.value = str(x, it, "summary");
    e->summary.is_html = e->summary.value != NULL && tb__parse_looks_html(e->summary.value);
    e->published = tb_date_parse(str(x, it, "date_published"));
    e->updated = tb_date_parse(str(x, it, "date_modified"));
    e->authors = persons(x, it);
    tags(x, e, json_object_get(it, "tags"));
    attachments(x, e, json_object_get(it, "attachments"));
    tb__parse_append(x->f, e);
}

/* Feed-level members. */
static void feed_fields(struct jx *x, json_t *root)
{
    struct tb_feed *f = x->f;
    json_t *hubs = json_object_get(root, "hubs"), *h;
    size_t i;

    f->title = str(x, root, "title");
    f->link = url(x, root, "home_page_url");
    f->self = url(x, root, "feed_url");
    f->id = f->self;
    f->subtitle = str(x, root, "description");
    f->icon = url(x, root, "icon");
    f->icon = f->icon ? f->icon : url(x, root, "favicon");
    f->language = str(x, root, "language");
    f->authors = persons(x, root);
    json_array_foreach(json_is_array(hubs) ? hubs : NULL, i, h)
    {
        if (f->hub == NULL)
            f->hub = url(x, h, "url");
    }
}

int tb__parse_json(struct tb_feed *f, const char *data, size_t len, const char *base, char *err,
                   size_t errlen)
{
    struct jx x = {f, base ? f->base : NULL, 0};
    json_error_t je;
    json_t *root = json_loadb(data, len, 0, &je), *items, *it;
    const char *version;
    size_t i;

    if (root == NULL) {
        snprintf(err, errlen, "invalid JSON: line %d column %d: %s", je.line, je.column, je.text);
        return TB_EPARSE;
    }
    version = json_string_value(json_object_get(root, "version"));
    if (version == NULL || strstr(version, "jsonfeed.org/version/1") == NULL) {
        snprintf(err, errlen, "not a feed: JSON without a JSON Feed version");
        json_decref(root);
        return TB_EPARSE;
    }
    f->format = strstr(version, "version/1.1") ? TB_FORMAT_JSON11 : TB_FORMAT_JSON10;
    feed_fields(&x, root);
    items = json_object_get(root, "items");
    json_array_foreach(json_is_array(items) ? items : NULL, i, it)
    {
        if (json_is_object(it))
            item(&x, it);
    }
    json_decref(root);
    if (x.oom)
        snprintf(err, errlen, "out of memory");
    return x.oom ? -ENOMEM : 0;
}
