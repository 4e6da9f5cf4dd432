/*
 * JSON text for the store's list columns (authors, contributors, categories,
 * links) and the plain-text forms of names and terms that FTS indexes.
 *
 * A string that is not valid UTF-8 cannot be a JSON string; jansson refuses
 * it and the member is left out rather than failing the whole feed (the
 * parser hands over UTF-8, so this only guards against a broken upstream).
 */
#include "store_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tb_buf.h"

#define JOIN_CAP (16u << 20)

static void put_str(json_t *o, const char *k, const char *v)
{
    if (o != NULL && v != NULL)
        json_object_set_new(o, k, json_string(v));
}

/* Serializes and releases arr; an empty list is stored as NULL. */
static int dump(json_t *arr, char **out)
{
    int rc = 0;

    *out = NULL;
    if (arr == NULL)
        return -ENOMEM;
    if (json_array_size(arr) > 0) {
        *out = json_dumps(arr, JSON_COMPACT);
        if (*out == NULL)
            rc = -ENOMEM;
    }
    json_decref(arr);
    return rc;
}

int tb__json_people(const struct tb_person *p, char **out)
{
    json_t *arr = json_array();

    for (; arr != NULL && p != NULL; p = p->next) {
        json_t *o = json_object();

        put_str(o, "name", p->name);
        put_str(o, "email", p->email);
        put_str(o, "uri", p->uri);
        json_array_append_new(arr, o);
    }
    return dump(arr, out);
}

int tb__json_categories(const struct tb_category *c, char **out)
{
    json_t *arr = json_array();

    for (; arr != NULL && c != NULL; c = c->next) {
        json_t *o = json_object();

        put_str(o, "term", c->term);
        put_str(o, "scheme", c->scheme);
        json_array_append_new(arr, o);
    }
    return dump(arr, out);
}

int tb__json_links(const struct tb_link *l, char **out)
{
    json_t *arr = json_array();

    for (; arr != NULL && l != NULL; l = l->next) {
        json_t *o = json_object();

        put_str(o, "href", l->href);
        put_str(o, "rel", l->rel);
        put_str(o, "type", l->type);
        put_str(o, "title", l->title);
        if (o != NULL && l->length >= 0)
            json_object_set_new(o, "length", json_integer(l->length));
        json_array_append_new(arr, o);
    }
    return dump(arr, out);
}

/* Appends one item to a ", "-separated list. */
static int join_add(struct tb_buf *b, const char *v)
{
    int rc = 0;

    if (v == NULL || *v == '\0')
        return 0;
    if (b->len > 0)
        rc = tb_buf_adds(b, ", ");
    if (rc == 0)
        rc = tb_buf_adds(b, v);
    return rc;
}

static int join_take(struct tb_buf *b, int rc, char **out)
{
    *out = NULL;
    if (rc == 0 && b->len > 0) {
        *out = tb_buf_take(b);
        rc = *out ? 0 : -ENOMEM;
    }
    tb_buf_free(b);
    return rc;
}

int tb__join_names(const struct tb_person *p, char **out)
{
    struct tb_buf b;
    int rc = 0;

    tb_buf_init(&b, JOIN_CAP);
    for (; rc == 0 && p != NULL; p = p->next)
        rc = join_add(&b, p->name);
    return join_take(&b, rc, out);
}

int tb__join_terms(const struct tb_category *c, char **out)
{
    struct tb_buf b;
    int rc = 0;

    tb_buf_init(&b, JOIN_CAP);
    for (; rc == 0 && c != NULL; c = c->next)
        rc = join_add(&b, c->term);
    return join_take(&b, rc, out);
}

/* The array in json, or NULL (an empty list) when absent or malformed. */
static json_t *load_array(const char *json)
{
    json_t *arr = json ? json_loads(json, 0, NULL) : NULL;

    if (arr != NULL && !json_is_array(arr)) {
        json_decref(arr);
        arr = NULL;
    }
    return arr;
}

/* Copies member k of o (a string, else NULL) into the arena. */
static int take(struct tb_arena *a, json_t *o, const char *k, const char **out)
{
    const char *v = json_string_value(json_object_get(o, k));

    *out = v ? tb_arena_strdup(a, v) : NULL;
    return (v != NULL && *out == NULL) ? -ENOMEM : 0;
}

int tb__unjson_people(struct tb_arena *a, const char *json, struct tb_person **out)
{
    json_t *arr = load_array(json), *o;
    struct tb_person **tail = out;
    size_t i;
    int rc = 0;

    *out = NULL;
    json_array_foreach(arr, i, o)
    {
        struct tb_person *p = tb_arena_alloc(a, sizeof(*p));

        rc = p ? take(a, o, "name", &p->name) : -ENOMEM;
        if (rc == 0)
            rc = take(a, o, "email", &p->email);
        if (rc == 0)
            rc = take(a, o, "uri", &p->uri);
        if (rc != 0)
            break;
        if (p->name == NULL)
            p->name = "";
        *tail = p;
        tail = &p->next;
    }
    json_decref(arr);
    return rc;
}

int tb__unjson_categories(struct tb_arena *a, const char *json, struct tb_category **out)
{
    json_t *arr = load_array(json), *o;
    struct tb_category **tail = out;
    size_t i;
    int rc = 0;

    *out = NULL;
    json_array_foreach(arr, i, o)
    {
        struct tb_category *c = tb_arena_alloc(a, sizeof(*c));

        rc = c ? take(a, o, "term", &c->term) : -ENOMEM;
        if (rc == 0)
            rc = take(a, o, "scheme", &c->scheme);
        if (rc != 0)
            break;
        if (c->term == NULL)
            c->term = "";
        *tail = c;
        tail = &c->next;
    }
    json_decref(arr);
    return rc;
}

static int take_link(struct tb_arena *a, json_t *o, struct tb_link *l)
{
    json_t *len = json_object_get(o, "length");
    int rc = take(a, o, "href", &l->href);

    if (rc == 0)
        rc = take(a, o, "rel", &l->rel);
    if (rc == 0)
        rc = take(a, o, "type", &l->type);
    if (rc == 0)
        rc = take(a, o, "title", &l->title);
    l->length = json_is_integer(len) ? (int64_t)json_integer_value(len) : -1;
    return rc;
}

int tb__unjson_links(struct tb_arena *a, const char *json, struct tb_link **out)
{
    json_t *arr = load_array(json), *o;
    struct tb_link **tail = out;
    size_t i;
    int rc = 0;

    *out = NULL;
    json_array_foreach(arr, i, o)
    {
        struct tb_link *l = tb_arena_alloc(a, sizeof(*l));

        rc = l ? take_link(a, o, l) : -ENOMEM;
        if (rc != 0)
            break;
        *tail = l;
        tail = &l->next;
    }
    json_decref(arr);
    return rc;
}
