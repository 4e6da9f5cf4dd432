/*
 * JSON text for the store's list columns (authors, contributors, categories,
 * links) and the plain-text forms of names and terms that FTS indexes.
 *
 * The lists are written and read by jansson (JSON_COMPACT, members in a
 * fixed order). A string that is not valid UTF-8 cannot be a JSON string;
 * such a member is left out rather than failing the whole feed (the parser
 * hands over UTF-8, so this only guards against a broken upstream), and
 * tb_store_list_member_ok() says which, for the dedupe that mirrors the
 * store. Reading takes anything jansson reads; what is not an array is an
 * empty list.
 */
#include "store_int.h"
#include "tb_utf8.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int tb_store_list_member_ok(const char *s)
{
    /* jansson accepts no overlong forms, surrogates or code points above U+10FFFF. */
    return tb_utf8_valid(s, strlen(s));
}

/* Sets member k to the string v; an absent value, or one that is not UTF-8
 * (json_string() refuses it), is left out. */
static void put_member(json_t *o, const char *k, const char *v)
{
    if (v != NULL)
        json_object_set_new(o, k, json_string(v));
}

/* Appends a new object to arr and returns it (NULL when out of memory). */
static json_t *add_object(json_t *arr)
{
    json_t *o = json_object();

    return o != NULL && json_array_append_new(arr, o) == 0 ? o : NULL;
}

/* Writes arr's JSON text into b (emptied first) and frees arr; an empty
 * list leaves b empty. */
static int dump(struct tb_buf *b, json_t *arr, int rc)
{
    char *s = NULL;

    tb_buf_reset(b);
    if (rc == 0 && arr == NULL)
        rc = -ENOMEM;
    if (rc == 0 && json_array_size(arr) > 0) {
        s = json_dumps(arr, JSON_COMPACT);
        rc = s != NULL ? tb_buf_adds(b, s) : -ENOMEM;
    }
    free(s);
    json_decref(arr);
    return rc;
}

int tb__json_people(struct tb_buf *b, const struct tb_person *p)
{
    json_t *arr = json_array(), *o;
    int rc = 0;

    for (; arr != NULL && rc == 0 && p != NULL; p = p->next) {
        o = add_object(arr);
        rc = o != NULL ? 0 : -ENOMEM;
        if (rc == 0) {
            put_member(o, "name", p->name);
            put_member(o, "email", p->email);
            put_member(o, "uri", p->uri);
        }
    }
    return dump(b, arr, rc);
}

int tb__json_categories(struct tb_buf *b, const struct tb_category *c)
{
    json_t *arr = json_array(), *o;
    int rc = 0;

    for (; arr != NULL && rc == 0 && c != NULL; c = c->next) {
        o = add_object(arr);
        rc = o != NULL ? 0 : -ENOMEM;
        if (rc == 0) {
            put_member(o, "term", c->term);
            put_member(o, "scheme", c->scheme);
            put_member(o, "label", c->label);
        }
    }
    return dump(b, arr, rc);
}

int tb__json_links(struct tb_buf *b, const struct tb_link *l)
{
    json_t *arr = json_array(), *o;
    int rc = 0;

    for (; arr != NULL && rc == 0 && l != NULL; l = l->next) {
        o = add_object(arr);
        rc = o != NULL ? 0 : -ENOMEM;
        if (rc == 0) {
            put_member(o, "href", l->href);
            put_member(o, "rel", l->rel);
            put_member(o, "type", l->type);
            put_member(o, "title", l->title);
            if (l->length >= 0)
                json_object_set_new(o, "length", json_integer(l->length));
        }
    }
    return dump(b, arr, rc);
}

/* Appends one item to a ", "-separated list. */
static int join_add(struct tb_buf *b, const char *v)
{
    int rc = 0;

    if (v == NULL || *v == '\0')
        return 0;
    if (b->len > 0)
        rc = tb_buf_add(b, ", ", 2);
    if (rc == 0)
        rc = tb_buf_adds(b, v);
    return rc;
}

int tb__join_names(struct tb_buf *b, const struct tb_person *p)
{
    int rc = 0;

    tb_buf_reset(b);
    for (; rc == 0 && p != NULL; p = p->next)
        rc = join_add(b, p->name);
    return rc;
}

int tb__join_terms(struct tb_buf *b, const struct tb_category *c)
{
    int rc = 0;

    tb_buf_reset(b);
    for (; rc == 0 && c != NULL; c = c->next)
        rc = join_add(b, c->term);
    return rc;
}

/* Decoding. Each list element becomes a struct obj, handed to a per-shape
 * function that appends it to the list being built. */

#define MAX_KEYS 5 /* most members an object shape has */

struct obj {
    const char *v[MAX_KEYS]; /* string members by key index, or NULL */
    int64_t length;          /* the "length" member, or -1 */
};

typedef int (*obj_fn)(struct tb_arena *a, const struct obj *o, void *list);

/* Any JSON jansson reads; what is not an array is an empty list, members
 * that are not strings (or an integer length) are absent. */
static int read_list(struct tb_arena *a, const char *json, const char *const keys[], obj_fn fn,
                     void *list)
{
    json_t *arr = json ? json_loads(json, 0, NULL) : NULL, *el, *v;
    struct obj o;
    size_t i, k;
    int rc = 0;

    json_array_foreach(arr, i, el)
    {
        memset(&o, 0, sizeof(o));
        o.length = -1;
        for (k = 0; rc == 0 && keys[k] != NULL; k++) {
            v = json_object_get(el, keys[k]);
            if (strcmp(keys[k], "length") == 0) {
                o.length = json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
            } else if (json_is_string(v)) {
                o.v[k] = tb_arena_strdup(a, json_string_value(v));
                rc = o.v[k] ? 0 : -ENOMEM;
            }
        }
        rc = rc ? rc : fn(a, &o, list);
        if (rc != 0)
            break;
    }
    json_decref(arr);
    return rc;
}

static const char *const person_keys[] = {"name", "email", "uri", NULL};
static const char *const category_keys[] = {"term", "scheme", "label", NULL};
static const char *const link_keys[] = {"href", "rel", "type", "title", "length", NULL};

static int add_person(struct tb_arena *a, const struct obj *o, void *list)
{
    struct tb_person ***tail = list;
    struct tb_person *p = tb_arena_alloc(a, sizeof(*p));

    if (p == NULL)
        return -ENOMEM;
    p->name = o->v[0] ? o->v[0] : "";
    p->email = o->v[1];
    p->uri = o->v[2];
    **tail = p;
    *tail = &p->next;
    return 0;
}

static int add_category(struct tb_arena *a, const struct obj *o, void *list)
{
    struct tb_category ***tail = list;
    struct tb_category *c = tb_arena_alloc(a, sizeof(*c));

    if (c == NULL)
        return -ENOMEM;
    c->term = o->v[0] ? o->v[0] : "";
    c->scheme = o->v[1];
    c->label = o->v[2];
    **tail = c;
    *tail = &c->next;
    return 0;
}

static int add_link(struct tb_arena *a, const struct obj *o, void *list)
{
    struct tb_link ***tail = list;
    struct tb_link *l = tb_arena_alloc(a, sizeof(*l));

    if (l == NULL)
        return -ENOMEM;
    l->href = o->v[0];
    l->rel = o->v[1];
    l->type = o->v[2];
    l->title = o->v[3];
    l->length = o->length;
    **tail = l;
    *tail = &l->next;
    return 0;
}

int tb__unjson_people(struct tb_arena *a, const char *json, struct tb_person **out)
{
    struct tb_person **tail = out;

    *out = NULL;
    return read_list(a, json, person_keys, add_person, &tail);
}

int tb__unjson_categories(struct tb_arena *a, const char *json, struct tb_category **out)
{
    struct tb_category **tail = out;

    *out = NULL;
    return read_list(a, json, category_keys, add_category, &tail);
}

int tb__unjson_links(struct tb_arena *a, const char *json, struct tb_link **out)
{
    struct tb_link **tail = out;

    *out = NULL;
    return read_list(a, json, link_keys, add_link, &tail);
}
