/*
 * A struct tb_feed as JSON: what the parser understood, member by member.
 *
 * Unset members are left out, so the output shows exactly what was found.
 * jansson keeps insertion order, which fixes the key order.
 */
#include "tb_feedjson.h"

#include <jansson.h>

#include "tb_date.h"

/* Sets key to a string when s is set; returns -1 only when out of memory. */
static int put_str(json_t *obj, const char *key, const char *s)
{
    return s ? json_object_set_new(obj, key, json_string(s)) : 0;
}

static int put_date(json_t *obj, const char *key, int64_t t)
{
    char buf[32];

    if (tb_date_format_rfc3339(t, buf, sizeof(buf)) != 0)
        return 0;
    return put_str(obj, key, buf);
}

static int put_text(json_t *obj, const char *key, const struct tb_text *t)
{
    if (t->value == NULL)
        return 0;
    if (t->type != NULL) /* base64 of a media type */
        return json_object_set_new(
            obj, key, json_pack("{s:b,s:s,s:s}", "html", 0, "type", t->type, "base64", t->value));
    return json_object_set_new(obj, key,
                               json_pack("{s:b,s:s}", "html", t->is_html, "value", t->value));
}

static int put_persons(json_t *obj, const char *key, const struct tb_person *p)
{
    json_t *arr = json_array(), *o;
    int rc = 0;

    for (; p != NULL && rc == 0; p = p->next) {
        o = json_object();
        rc = put_str(o, "name", p->name) | put_str(o, "email", p->email) |
             put_str(o, "uri", p->uri) | json_array_append_new(arr, o);
    }
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return rc;
    }
    return rc | json_object_set_new(obj, key, arr);
}

static int put_links(json_t *obj, const struct tb_link *l)
{
    json_t *arr = json_array(), *o;
    int rc = 0;

    for (; l != NULL && rc == 0; l = l->next) {
        o = json_object();
        rc = put_str(o, "href", l->href) | put_str(o, "rel", l->rel) | put_str(o, "type", l->type) |
             put_str(o, "title", l->title);
        if (l->length >= 0)
            rc |= json_object_set_new(o, "length", json_integer(l->length));
        rc |= json_array_append_new(arr, o);
    }
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return rc;
    }
    return rc | json_object_set_new(obj, "links", arr);
}

static int put_categories(json_t *obj, const struct tb_category *c)
{
    json_t *arr = json_array(), *o;
    int rc = 0;

    for (; c != NULL && rc == 0; c = c->next) {
        o = json_object();
        rc = put_str(o, "term", c->term) | put_str(o, "scheme", c->scheme) |
             put_str(o, "label", c->label) | json_array_append_new(arr, o);
    }
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return rc;
    }
    return rc | json_object_set_new(obj, "categories", arr);
}

static int put_origin(json_t *obj, const struct tb_origin *o)
{
    json_t *j;

    if (!o->id && !o->title && !o->link && !o->self)
        return 0;
    j = json_object();
    return put_str(j, "id", o->id) | put_str(j, "title", o->title) | put_str(j, "link", o->link) |
           put_str(j, "self", o->self) | json_object_set_new(obj, "origin", j);
}

static json_t *entry_json(const struct tb_entry *e)
{
    json_t *o = json_object();
    int rc = put_str(o, "id", e->id);

    if (e->id)
        rc |= json_object_set_new(o, "id_is_permalink", json_boolean(e->id_is_permalink));
    rc |= put_str(o, "title", e->title) | put_str(o, "link", e->link) | put_links(o, e->links);
    rc |= put_date(o, "published", e->published) | put_date(o, "updated", e->updated);
    rc |= put_persons(o, "authors", e->authors) | put_persons(o, "contributors", e->contributors);
    rc |= put_text(o, "summary", &e->summary) | put_text(o, "content", &e->content);
    rc |= put_categories(o, e->categories) | put_str(o, "rights", e->rights);
    rc |= put_str(o, "base", e->base) | put_str(o, "canon_link", e->canon_link);
    rc |= put_str(o, "arxiv_id", e->arxiv_id) | put_str(o, "doi", e->doi);
    rc |= put_str(o, "key", e->key) | put_str(o, "text", e->text);
    if (e->rowid)
        rc |= json_object_set_new(o, "rowid", json_integer(e->rowid));
    rc |= put_str(o, "out_id", e->out_id) | put_origin(o, &e->origin);
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *feed_json(const struct tb_feed *f)
{
    json_t *o = json_object(), *entries = json_array();
    const struct tb_entry *e;
    int rc = put_str(o, "format", tb_format_name(f->format)) | put_str(o, "error", f->error);

    rc |= put_str(o, "id", f->id) | put_str(o, "title", f->title);
    rc |= put_str(o, "subtitle", f->subtitle) | put_str(o, "link", f->link);
    rc |= put_str(o, "self", f->self) | put_str(o, "hub", f->hub) | put_str(o, "icon", f->icon);
    rc |= put_str(o, "language", f->language) | put_str(o, "rights", f->rights);
    rc |= put_str(o, "generator", f->generator) | put_str(o, "base", f->base);
    rc |= put_date(o, "updated", f->updated);
    if (f->ttl_minutes > 0)
        rc |= json_object_set_new(o, "ttl", json_integer(f->ttl_minutes));
    rc |= put_persons(o, "authors", f->authors);
    for (e = f->entries; e != NULL && rc == 0; e = e->next)
        rc = json_array_append_new(entries, entry_json(e));
    rc |= json_object_set_new(o, "entries", entries);
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *tb_feedjson_dump(const struct tb_feed *f)
{
    json_t *o = feed_json(f);
    char *s;

    if (o == NULL)
        return NULL;
    s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}
