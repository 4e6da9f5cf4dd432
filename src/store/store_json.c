/*
 * JSON text for the store's list columns (authors, contributors, categories,
 * links) and the plain-text forms of names and terms that FTS indexes.
 *
 * The three list shapes are arrays of flat objects with known string members
 * (and a link's integer length), so a small hand-written encoder writes them,
 * byte for byte as jansson's JSON_COMPACT did before: members in a fixed
 * order, only '"', '\\' and control characters escaped (\b \f \n \r \t, else
 * \u00XX), UTF-8 as is. A string that is not valid UTF-8 cannot be a JSON
 * string; such a member is left out rather than failing the whole feed (the
 * parser hands over UTF-8, so this only guards against a broken upstream).
 *
 * Decoding takes a fast path for exactly that output and falls back to
 * jansson for anything else (other escapes, whitespace, unknown members), so
 * every column jansson could read still reads the same.
 */
#include "store_int.h"
#include "tb_utf8.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tb_store_list_member_ok(const char *s)
{
    /* jansson accepts no overlong forms, surrogates or code points above U+10FFFF. */
    return tb_utf8_valid(s, strlen(s));
}

/* The escape for byte c, as jansson writes it. */
static const char *escape(unsigned char c, char buf[8])
{
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        snprintf(buf, 8, "\\u%04X", c);
        return buf;
    }
}

/* Appends "s" with the escapes JSON requires. */
static int add_string(struct tb_buf *b, const char *s)
{
    const char *run = s;
    char buf[8];
    int rc = tb_buf_add(b, "\"", 1);

    for (; rc == 0 && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = tb_buf_add(b, run, (size_t)(s - run));
        if (rc == 0)
            rc = tb_buf_adds(b, escape(c, buf));
        run = s + 1;
    }
    if (rc == 0)
        rc = tb_buf_add(b, run, (size_t)(s - run));
    return rc ? rc : tb_buf_add(b, "\"", 1);
}

/* Appends member "k":"v" to an object holding *n members so far; an absent
 * value, or one that is not UTF-8, is left out. */
static int add_member(struct tb_buf *b, const char *k, const char *v, int *n)
{
    int rc;

    if (v == NULL || !tb_store_list_member_ok(v))
        return 0;
    rc = tb_buf_addf(b, "%s\"%s\":", *n ? "," : "", k);
    (*n)++;
    return rc ? rc : add_string(b, v);
}

/* Opens the array or the next object in it: "[{" or ",{". */
static int open_obj(struct tb_buf *b)
{
    return tb_buf_add(b, b->len ? ",{" : "[{", 2);
}

/* Closes the array if anything is in it; an empty list stays empty. */
static int close_list(struct tb_buf *b, int rc)
{
    if (rc == 0 && b->len > 0)
        rc = tb_buf_add(b, "]", 1);
    return rc;
}

int tb__json_people(struct tb_buf *b, const struct tb_person *p)
{
    int rc = 0, n;

    tb_buf_reset(b);
    for (; rc == 0 && p != NULL; p = p->next) {
        n = 0;
        rc = open_obj(b);
        rc = rc ? rc : add_member(b, "name", p->name, &n);
        rc = rc ? rc : add_member(b, "email", p->email, &n);
        rc = rc ? rc : add_member(b, "uri", p->uri, &n);
        rc = rc ? rc : tb_buf_add(b, "}", 1);
    }
    return close_list(b, rc);
}

int tb__json_categories(struct tb_buf *b, const struct tb_category *c)
{
    int rc = 0, n;

    tb_buf_reset(b);
    for (; rc == 0 && c != NULL; c = c->next) {
        n = 0;
        rc = open_obj(b);
        rc = rc ? rc : add_member(b, "term", c->term, &n);
        rc = rc ? rc : add_member(b, "scheme", c->scheme, &n);
        rc = rc ? rc : add_member(b, "label", c->label, &n);
        rc = rc ? rc : tb_buf_add(b, "}", 1);
    }
    return close_list(b, rc);
}

int tb__json_links(struct tb_buf *b, const struct tb_link *l)
{
    int rc = 0, n;

    tb_buf_reset(b);
    for (; rc == 0 && l != NULL; l = l->next) {
        n = 0;
        rc = open_obj(b);
        rc = rc ? rc : add_member(b, "href", l->href, &n);
        rc = rc ? rc : add_member(b, "rel", l->rel, &n);
        rc = rc ? rc : add_member(b, "type", l->type, &n);
        rc = rc ? rc : add_member(b, "title", l->title, &n);
        if (rc == 0 && l->length >= 0)
            rc = tb_buf_addf(b, "%s\"length\":%lld", n ? "," : "", (long long)l->length);
        rc = rc ? rc : tb_buf_add(b, "}", 1);
    }
    return close_list(b, rc);
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

#define FALLBACK 1    /* the fast path does not handle this text */
#define MAX_KEYS 5    /* most members an object shape has */
#define MAX_DIGITS 18 /* longer lengths are left to jansson */

struct obj {
    const char *v[MAX_KEYS]; /* string members by key index, or NULL */
    int64_t length;          /* the "length" member, or -1 */
};

typedef int (*obj_fn)(struct tb_arena *a, const struct obj *o, void *list);

static char unescape(char c)
{
    switch (c) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    default: /* '"', '\\' and '/' stand for themselves */
        return c;
    }
}

/* The end of the string starting at s (after its quote): the closing quote,
 * or NULL for what the fast path leaves to jansson (\u escapes, control
 * characters, invalid UTF-8). *esc is set when it holds an escape. */
static const char *string_end(const char *s, int *esc)
{
    size_t n;

    *esc = 0;
    for (; *s != '"'; s += n) {
        unsigned char c = (unsigned char)*s;

        n = 1;
        if (c == '\\') {
            if (s[1] == '\0' || strchr("\"\\/bfnrt", s[1]) == NULL)
                return NULL;
            *esc = 1;
            n = 2;
        } else if (c < 0x20) {
            return NULL;
        } else if (c >= 0x80) {
            n = tb_utf8_len(s, 4); /* stops at the NUL or quote that ends s */
            if (n == 0)
                return NULL;
        }
    }
    return s;
}

/* Decodes the string after the quote at **p into the arena; *p moves past it. */
static int fast_string(struct tb_arena *a, const char **p, const char **out)
{
    const char *s = *p + 1, *end;
    int esc;
    char *d;

    if (**p != '"')
        return FALLBACK;
    end = string_end(s, &esc);
    if (end == NULL)
        return FALLBACK;
    d = tb_arena_strndup(a, s, (size_t)(end - s));
    if (d == NULL)
        return -ENOMEM;
    *out = d;
    *p = end + 1;
    for (; esc && s < end; s++)
        *d++ = *s == '\\' ? unescape(*++s) : *s;
    if (esc)
        *d = '\0';
    return 0;
}

/* A non-negative integer without leading zeros at *p; *p moves past it. */
static int fast_int(const char **p, int64_t *out)
{
    const char *s = *p;
    int64_t v = 0;
    int n;

    for (n = 0; s[n] >= '0' && s[n] <= '9'; n++)
        v = v * 10 + (s[n] - '0');
    if (n == 0 || n > MAX_DIGITS || (s[0] == '0' && n > 1))
        return FALLBACK;
    *out = v;
    *p = s + n;
    return 0;
}

/* The index of the key "k": at *p in keys, moving *p past the colon. */
static int fast_key(const char **p, const char *const keys[], size_t *k)
{
    const char *s = *p + 1;
    size_t len;

    if (**p != '"')
        return FALLBACK;
    for (*k = 0; keys[*k] != NULL; (*k)++) {
        len = strlen(keys[*k]);
        if (strncmp(s, keys[*k], len) == 0 && s[len] == '"' && s[len + 1] == ':') {
            *p = s + len + 2;
            return 0;
        }
    }
    return FALLBACK;
}

/* One object at *p with members from keys, as the encoder writes it. */
static int fast_obj(struct tb_arena *a, const char **p, const char *const keys[], struct obj *o)
{
    const char *s = *p;
    size_t k;
    int rc = 0;

    memset(o, 0, sizeof(*o));
    o->length = -1;
    if (*s++ != '{')
        return FALLBACK;
    while (rc == 0 && *s != '}') {
        rc = fast_key(&s, keys, &k);
        if (rc == 0)
            rc = strcmp(keys[k], "length") == 0 ? fast_int(&s, &o->length)
                                                : fast_string(a, &s, &o->v[k]);
        if (rc == 0 && *s == ',' && s[1] != '}')
            s++;
        else if (rc == 0 && *s != '}')
            rc = FALLBACK;
    }
    *p = s + 1;
    return rc;
}

/* The encoder's own output: [{...},{...}] and nothing else. */
static int fast_list(struct tb_arena *a, const char *s, const char *const keys[], obj_fn fn,
                     void *list)
{
    struct obj o;
    int rc = 0;

    if (*s++ != '[')
        return FALLBACK;
    while (rc == 0 && *s != ']') {
        rc = fast_obj(a, &s, keys, &o);
        if (rc == 0)
            rc = fn(a, &o, list);
        if (rc == 0 && *s == ',' && s[1] != ']')
            s++;
        else if (rc == 0 && *s != ']')
            rc = FALLBACK;
    }
    return (rc == 0 && s[1] != '\0') ? FALLBACK : rc;
}

/* Any JSON jansson reads; what is not an array is an empty list, members
 * that are not strings (or an integer length) are absent. */
static int slow_list(struct tb_arena *a, const char *json, const char *const keys[], obj_fn fn,
                     void *list)
{
    json_t *arr = json_loads(json, 0, NULL), *el, *v;
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
    int rc;

    *out = NULL;
    rc = json ? fast_list(a, json, person_keys, add_person, &tail) : 0;
    if (rc == FALLBACK) {
        /* What the fast path built stays in the arena until the feed goes. */
        *out = NULL;
        tail = out;
        rc = slow_list(a, json, person_keys, add_person, &tail);
    }
    return rc;
}

int tb__unjson_categories(struct tb_arena *a, const char *json, struct tb_category **out)
{
    struct tb_category **tail = out;
    int rc;

    *out = NULL;
    rc = json ? fast_list(a, json, category_keys, add_category, &tail) : 0;
    if (rc == FALLBACK) {
        /* What the fast path built stays in the arena until the feed goes. */
        *out = NULL;
        tail = out;
        rc = slow_list(a, json, category_keys, add_category, &tail);
    }
    return rc;
}

int tb__unjson_links(struct tb_arena *a, const char *json, struct tb_link **out)
{
    struct tb_link **tail = out;
    int rc;

    *out = NULL;
    rc = json ? fast_list(a, json, link_keys, add_link, &tail) : 0;
    if (rc == FALLBACK) {
        /* What the fast path built stays in the arena until the feed goes. */
        *out = NULL;
        tail = out;
        rc = slow_list(a, json, link_keys, add_link, &tail);
    }
    return rc;
}
