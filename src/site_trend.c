/*
 * The site's trending lists (trending.* and trending/NAME.*), and what every
 * published entry says of itself: which sources mentioned it (trending),
 * which other sources carried it ("Also in:") and which topics it matches.
 *
 * The footers are HTML appended to the entry's content (a plain-text body
 * is escaped into a paragraph first), so every reader shows them; programs
 * read the same facts from tb:trending and the topic categories.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tb_store.h"
#include "tb_topic.h"
#include "tb_trending.h"
#include "tb_vec.h"

#include "site_int.h"
#include "tb_sanitize.h"

#define DOC_CAP ((size_t)16 * 1024 * 1024)

/* One trending paper kept for publishing. */
struct ranked {
    int64_t entry_id; /* its stored entry */
    double score;     /* tb_trending_paper.score */
    int groups;       /* tb_trending_paper.groups */
    char *key;        /* its paper key (owned) */
};

/* The papers of one list, best first. */
struct ranking {
    struct ranked *v; /* the papers */
    size_t n, alloc;  /* count, allocated */
    size_t limit;     /* most papers kept */
};

/* Appends s (NULL: nothing) escaped for HTML. */
static int add_escaped(struct tb_buf *b, const char *s)
{
    return tb_sanitize_escape(b, s, s != NULL ? strlen(s) : 0);
}

/* Appends name, as a link to href when there is one. */
static int add_named_link(struct tb_buf *b, const char *name, const char *href)
{
    int rc = 0;

    if (href != NULL && (strncmp(href, "http://", 7) == 0 || strncmp(href, "https://", 8) == 0)) {
        rc = tb_buf_adds(b, "<a href=\"");
        rc = rc ? rc : add_escaped(b, href);
        rc = rc ? rc : tb_buf_adds(b, "\">");
        rc = rc ? rc : add_escaped(b, name);
        return rc ? rc : tb_buf_adds(b, "</a>");
    }
    return add_escaped(b, name);
}

/* Appends the HTML footer to e's content (its summary when it has no
 * content), which becomes HTML. Base64 media content is left alone. */
static int append_footer(struct tb_feed *f, struct tb_entry *e, const struct tb_buf *footer)
{
    const struct tb_text *body = e->content.value ? &e->content : &e->summary;
    struct tb_buf b;
    char *v;
    int rc = 0;

    if (footer->len == 0 || e->content.type != NULL)
        return 0;
    tb_buf_init(&b, DOC_CAP);
    if (body->value != NULL && body->is_html)
        rc = tb_buf_adds(&b, body->value);
    else if (body->value != NULL) {
        rc = tb_buf_adds(&b, "<p>");
        rc = rc ? rc : add_escaped(&b, body->value);
        rc = rc ? rc : tb_buf_adds(&b, "</p>");
    }
    rc = rc ? rc : tb_buf_add(&b, footer->data, footer->len);
    v = rc ? NULL : tb_arena_strndup(&f->arena, b.data, b.len);
    tb_buf_free(&b);
    if (v == NULL)
        return rc ? rc : -ENOMEM;
    e->content.value = v;
    e->content.is_html = 1;
    return 0;
}

/* ------------------------------------------------------------- Also in */

/* An "Also in" footer being built. */
struct also {
    struct tb_buf *out; /* the footer */
    int n;              /* sources named so far */
};

/* Appends one "Also in" source to the footer being built, comma-separated. */
static int also_one(const char *name, const char *title, const char *href, void *data)
{
    struct also *a = data;
    int rc = tb_buf_adds(a->out, a->n++ ? ", " : "<p>Also in: ");

    (void)name;
    return rc ? rc : add_named_link(a->out, title, href);
}

static int also_in(struct tb_site *s, struct tb_entry *e, struct tb_buf *out, char *err,
                   size_t errlen)
{
    struct also a = {.out = out};
    int rc = tb_store_copies(s->store, e->rowid, 1, also_one, &a, err, errlen);

    if (rc == 0 && a.n > 0)
        rc = tb_buf_adds(out, "</p>");
    return rc;
}

/* --------------------------------------------------------- categories */

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Adds topic t's category to the entries of f among hit (sorted). */
static int tag_topic(struct tb_site *s, struct tb_feed *f, const struct tb_config_topic *t,
                     const int64_t *hit, size_t nhit)
{
    struct tb_entry *e;
    struct tb_category *c, **tail;
    char scheme[1100];

    snprintf(scheme, sizeof(scheme), "%stopics/", s->cfg->base_url);
    for (e = f->entries; e != NULL; e = e->next) {
        if (bsearch(&e->rowid, hit, nhit, sizeof(*hit), cmp_id) == NULL)
            continue;
        c = tb_arena_alloc(&f->arena, sizeof(*c));
        if (c == NULL)
            return -ENOMEM;
        c->next = NULL;
        c->term = tb_arena_strdup(&f->arena, t->name);
        c->label = tb_arena_strdup(&f->arena, t->title);
        c->scheme = tb_arena_strdup(&f->arena, scheme);
        if (c->term == NULL || c->label == NULL || c->scheme == NULL)
            return -ENOMEM;
        for (tail = &e->categories; *tail != NULL; tail = &(*tail)->next)
            ;
        *tail = c;
    }
    return 0;
}

static int tag_topics(struct tb_site *s, struct tb_feed *f, char *err, size_t errlen)
{
    const struct tb_config_topic *t;
    int64_t *ids = NULL, *hit = NULL;
    size_t i, n = 0, nhit = 0, alloc = 0;
    struct tb_entry *e;
    int rc = 0;

    for (e = f->entries; rc == 0 && e != NULL; e = e->next) {
        rc = TB_VEC_RESERVE(ids, alloc, n + 1, TB_VEC_MAX);
        if (rc == 0)
            ids[n++] = e->rowid;
    }
    for (i = 0; rc == 0 && n > 0 && i < s->cfg->ntopics; i++) {
        t = &s->cfg->topics[i];
        rc = tb_topic_select_in(s->store, t->query, t->sources, t->nsources, ids, n, 0, &hit, &nhit,
                                err, errlen);
        if (rc == 0 && nhit > 0) {
            qsort(hit, nhit, sizeof(*hit), cmp_id);
            rc = tag_topic(s, f, t, hit, nhit);
        }
        free(hit);
        hit = NULL;
        nhit = 0;
    }
    free(ids);
    return rc;
}

int tb__site_decorate(struct tb_site *s, struct tb_feed *f, char *err, size_t errlen)
{
    struct tb_entry *e;
    struct tb_buf b;
    int rc = 0;

    if (f == NULL)
        return 0;
    tb_buf_init(&b, DOC_CAP);
    for (e = f->entries; rc == 0 && e != NULL; e = e->next) {
        tb_buf_reset(&b);
        rc = also_in(s, e, &b, err, errlen);
        rc = rc ? rc : append_footer(f, e, &b);
    }
    tb_buf_free(&b);
    return rc ? rc : tag_topics(s, f, err, errlen);
}

/* ----------------------------------------------------------- trending */

static int keep(const struct tb_trending_paper *p, void *data)
{
    struct ranking *r = data;
    char *key;

    if (p->entry_id == 0)
        return 0; /* no stored entry yet: nothing to show */
    if (TB_VEC_RESERVE(r->v, r->alloc, r->n + 1, TB_VEC_MAX) != 0)
        return -ENOMEM;
    key = strdup(p->key);
    if (key == NULL)
        return -ENOMEM;
    r->v[r->n++] = (struct ranked){p->entry_id, p->score, p->groups, key};
    return r->n >= r->limit ? 1 : 0; /* 1: enough, stop the walk */
}

static void ranking_free(struct ranking *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        free(r->v[i].key);
    free(r->v);
}

/* The groups of a "Mentioned by" line being walked: one name per group. */
struct voices {
    struct tb_store *st; /* where the links are */
    char *err;           /* the caller's error buffer */
    size_t errlen;       /* its size */
    tb_site_voice_cb cb; /* receives each group's name and link */
    void *data;          /* for cb */
    char **groups;       /* groups named so far (owned copies) */
    size_t n, alloc;     /* count, allocated */
};

static int voice(const struct tb_trending_voice *v, void *data)
{
    struct voices *x = data;
    char *name = NULL, *href = NULL;
    const char *show;
    size_t i;
    int rc;

    if (v->weight <= 0)
        return 0; /* counts nothing, so is not why the paper is listed */
    for (i = 0; i < x->n; i++) {
        if (strcmp(x->groups[i], v->group) == 0)
            return 0; /* a group is one voice */
    }
    if (TB_VEC_RESERVE(x->groups, x->alloc, x->n + 1, TB_VEC_MAX) != 0)
        return -ENOMEM;
    x->groups[x->n] = strdup(v->group);
    if (x->groups[x->n] == NULL)
        return -ENOMEM;
    x->n++;
    rc = tb_store_voice_link(x->st, v->source, v->entry_id, v->carries, &name, &href, x->err,
                             x->errlen);
    if (rc == 0 && name == NULL) {
        snprintf(x->err, x->errlen, "voices: no source named %s", v->source);
        rc = TB_ESTORE; /* a voice of a source the store does not have */
    }
    /* A named group (all of arXiv's listings) shows as the group. */
    show = rc == 0 && strcmp(v->group, v->source) != 0 ? v->group : name;
    if (href != NULL && strncmp(href, "http://", 7) != 0 && strncmp(href, "https://", 8) != 0) {
        free(href);
        href = NULL;
    }
    rc = rc ? rc : x->cb(show ? show : v->source, href, x->data);
    free(name);
    free(href);
    return rc;
}

/* Walks the groups of paper `key`; *n counts them. */
static int walk_voices(struct tb_store *st, const char *key, tb_site_voice_cb cb, void *data,
                       size_t *n, char *err, size_t errlen)
{
    struct voices x = {.st = st, .err = err, .errlen = errlen, .cb = cb, .data = data};
    size_t i;
    int rc = tb_trending_voices(st, key, voice, &x, err, errlen);

    for (i = 0; i < x.n; i++)
        free(x.groups[i]);
    free(x.groups);
    *n = x.n;
    return rc;
}

int tb_site_voices(struct tb_store *st, const char *key, tb_site_voice_cb cb, void *data, char *err,
                   size_t errlen)
{
    size_t n;

    return walk_voices(st, key, cb, data, &n, err, errlen);
}

/* Appends one group to a "Mentioned by" footer's names, comma-separated. */
static int footer_name(const char *name, const char *href, void *data)
{
    struct tb_buf *b = data;
    int rc = b->len > 0 ? tb_buf_adds(b, ", ") : 0;

    return rc ? rc : add_named_link(b, name, href);
}

/* Fills e's trending fields and appends its "Mentioned by" footer. */
static int mentioned_by(struct tb_site *s, struct tb_feed *f, struct tb_entry *e,
                        const struct ranked *r, char *err, size_t errlen)
{
    struct tb_buf names, footer;
    size_t n;
    int rc;

    e->trend_score = r->score;
    e->trend_groups = r->groups;
    tb_buf_init(&names, DOC_CAP);
    tb_buf_init(&footer, DOC_CAP);
    rc = walk_voices(s->store, r->key, footer_name, &names, &n, err, errlen);
    if (rc == 0 && n > 0)
        rc = tb_buf_addf(&footer, "<p>Mentioned by %zu source%s: ", n, n == 1 ? "" : "s");
    rc = rc ? rc : tb_buf_add(&footer, names.data, names.len);
    rc = rc ? rc : (n > 0 ? tb_buf_adds(&footer, "</p>") : 0);
    rc = rc ? rc : append_footer(f, e, &footer);
    tb_buf_free(&names);
    tb_buf_free(&footer);
    return rc;
}

/* Loads the ranked entries, best first, with their footers. */
static int load_ranked(struct tb_site *s, const struct ranking *r, struct tb_feed **out, char *err,
                       size_t errlen)
{
    struct tb_entry *e;
    int64_t *ids;
    size_t i;
    int rc;

    ids = malloc((r->n ? r->n : 1) * sizeof(*ids));
    if (ids == NULL)
        return -ENOMEM;
    for (i = 0; i < r->n; i++)
        ids[i] = r->v[i].entry_id;
    rc = tb_store_load(s->store, ids, r->n, out, err, errlen);
    free(ids);
    /* tb_store_load() keeps the order and skips only rowids it lacks. */
    for (e = rc ? NULL : (*out)->entries, i = 0; rc == 0 && e != NULL; e = e->next) {
        while (i < r->n && r->v[i].entry_id != e->rowid)
            i++;
        if (i < r->n)
            rc = mentioned_by(s, *out, e, &r->v[i], err, errlen);
    }
    return rc;
}

/* Writes one trending list: path.atom, .rss, .json. */
static int write_trending(struct tb_site *s, int64_t now, const char *query, const char *path,
                          const char *id, const char *title, char *err, size_t errlen)
{
    const struct tb_config_trending *c = &s->cfg->trending;
    struct tb_trending_opts o = {
        .now = now, .window = c->window, .half_life = c->half_life, .limit = 0, .query = query};
    struct ranking r = {.limit = c->limit ? c->limit : 30};
    struct tb_feed *f = NULL;
    int rc;

    /* No limit to the walk: papers without an entry do not take a place. */
    rc = tb_trending_select(s->store, &o, keep, &r, err, errlen);
    if (rc == 1)
        rc = 0;
    if (rc != 0 && err[0] == '\0')
        snprintf(err, errlen, "%s: %s", path, tb_strerror(rc));
    rc = rc ? rc : load_ranked(s, &r, &f, err, errlen);
    rc = rc ? rc : tb__site_decorate(s, f, err, errlen);
    rc = rc ? rc : tb__site_write_doc(s, path, id, title, f, err, errlen);
    tb_feed_free(f);
    ranking_free(&r);
    return rc;
}

int tb_site_publish_trending(struct tb_site *s, int64_t now, char *err, size_t errlen)
{
    const struct tb_config_topic *t;
    char path[160], id[200], title[600];
    size_t i;
    int rc, rc2;

    rc = write_trending(s, now, NULL, "trending", "urn:tributary:trending", "tributary: trending",
                        err, errlen);
    for (i = 0; i < s->cfg->ntopics; i++) {
        t = &s->cfg->topics[i];
        snprintf(path, sizeof(path), "trending/%s", t->name);
        snprintf(id, sizeof(id), "urn:tributary:trending:%s", t->name);
        snprintf(title, sizeof(title), "%s: trending", t->title ? t->title : t->name);
        rc2 = write_trending(s, now, t->query, path, id, title, err, errlen);
        rc = rc ? rc : rc2;
    }
    return rc;
}
