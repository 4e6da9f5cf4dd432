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
#include <sqlite3.h>
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

/* Every source but the origin that carried entry `id`, with the link to its
 * copy: the link it gave its copy (entry_sources.link); for a copy stored
 * before the store kept those, the canonical link or URL id it gave the
 * entry under; else the source's own page. */
#define COPY_LINK(src, entry)                                                                      \
    "(SELECT coalesce(max(CASE WHEN key LIKE 'link:http%' THEN substr(key, 6) END),"               \
    " max(CASE WHEN key LIKE 'id:http%' THEN substr(key, 4) END)) FROM entry_keys"                 \
    " WHERE source_id = " src " AND entry_id = " entry ")"
#define OWN_LINK(src, entry)                                                                       \
    "(SELECT link FROM entry_sources WHERE entry_id = " entry " AND source_id = " src ")"
#define ALSO_LINK "coalesce(es.link, " COPY_LINK("s.id", "?1") ", s.link)"

static const char also_sql[] =
    "SELECT coalesce(s.title, s.name), " ALSO_LINK
    " FROM entry_sources es JOIN sources s ON s.id = es.source_id"
    " WHERE es.entry_id = ?1 AND es.source_id <> (SELECT origin FROM entries WHERE id = ?1)"
    " ORDER BY es.first_seen, s.name";

const char tb__site_copies_sql[] =
    "SELECT s.name, coalesce(s.title, s.name), " ALSO_LINK
    " FROM entry_sources es JOIN sources s ON s.id = es.source_id WHERE es.entry_id = ?1"
    " ORDER BY es.source_id <> (SELECT origin FROM entries WHERE id = ?1), es.first_seen, s.name";

static int also_in(sqlite3_stmt *q, struct tb_entry *e, struct tb_buf *out)
{
    int rc = 0, n = 0, step;

    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, e->rowid);
    while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW) {
        rc = tb_buf_adds(out, n++ ? ", " : "<p>Also in: ");
        rc = rc ? rc
                : add_named_link(out, (const char *)sqlite3_column_text(q, 0),
                                 (const char *)sqlite3_column_text(q, 1));
    }
    if (rc == 0 && n > 0)
        rc = tb_buf_adds(out, "</p>");
    if (rc == 0 && step != SQLITE_DONE)
        rc = TB_ESTORE;
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
    sqlite3_stmt *q = NULL;
    struct tb_entry *e;
    struct tb_buf b;
    int rc = 0;

    if (f == NULL)
        return 0;
    if (sqlite3_prepare_v2(tb_store_db(s->store), also_sql, -1, &q, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "also in: %s", sqlite3_errmsg(tb_store_db(s->store)));
        return TB_ESTORE;
    }
    tb_buf_init(&b, DOC_CAP);
    for (e = f->entries; rc == 0 && e != NULL; e = e->next) {
        tb_buf_reset(&b);
        rc = also_in(q, e, &b);
        rc = rc ? rc : append_footer(f, e, &b);
    }
    if (rc == TB_ESTORE)
        snprintf(err, errlen, "also in: %s", sqlite3_errmsg(tb_store_db(s->store)));
    tb_buf_free(&b);
    sqlite3_finalize(q);
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
    sqlite3_stmt *q;     /* a source's title and an entry's link */
    tb_site_voice_cb cb; /* receives each group's name and link */
    void *data;          /* for cb */
    char **groups;       /* groups named so far (owned copies) */
    size_t n, alloc;     /* count, allocated */
};

static int voice(const struct tb_trending_voice *v, void *data)
{
    struct voices *x = data;
    const char *name, *href;
    size_t i;

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
    sqlite3_reset(x->q);
    sqlite3_bind_text(x->q, 1, v->source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(x->q, 2, v->entry_id);
    sqlite3_bind_int(x->q, 3, v->carries);
    if (sqlite3_step(x->q) != SQLITE_ROW)
        return TB_ESTORE;
    name = (const char *)sqlite3_column_text(x->q, 0);
    href = (const char *)sqlite3_column_text(x->q, 1);
    /* A named group (all of arXiv's listings) shows as the group. */
    if (strcmp(v->group, v->source) != 0)
        name = v->group;
    if (href != NULL && strncmp(href, "http://", 7) != 0 && strncmp(href, "https://", 8) != 0)
        href = NULL;
    return x->cb(name ? name : v->source, href, x->data);
}

/* The source's name and the link to its entry: the link the source gave
 * that entry (its own copy of the paper, or its post that mentions it);
 * for rows stored before those were kept, a carrying source's copy as
 * "Also in" finds it, else the entry's link. */
#define VOICE_LINK                                                                                 \
    "coalesce(" OWN_LINK("s.id", "?2") ", CASE WHEN ?3 THEN " COPY_LINK("s.id", "?2") " END,"      \
                                                                                      " e.link)"
const char tb__site_voice_sql[] = "SELECT coalesce(s.title, s.name), " VOICE_LINK
                                  " FROM sources s LEFT JOIN entries e ON e.id = ?2"
                                  " WHERE s.name = ?1";

/* Walks the groups of paper `key` with the prepared tb__site_voice_sql q; *n counts them. */
static int walk_voices(struct tb_store *st, sqlite3_stmt *q, const char *key, tb_site_voice_cb cb,
                       void *data, size_t *n, char *err, size_t errlen)
{
    struct voices x = {.q = q, .cb = cb, .data = data};
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
    sqlite3_stmt *q = NULL;
    size_t n;
    int rc;

    if (sqlite3_prepare_v2(tb_store_db(st), tb__site_voice_sql, -1, &q, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "voices: %s", sqlite3_errmsg(tb_store_db(st)));
        return TB_ESTORE;
    }
    rc = walk_voices(st, q, key, cb, data, &n, err, errlen);
    sqlite3_finalize(q);
    return rc;
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
                        const struct ranked *r, sqlite3_stmt *q, char *err, size_t errlen)
{
    struct tb_buf names, footer;
    size_t n;
    int rc;

    e->trend_score = r->score;
    e->trend_groups = r->groups;
    tb_buf_init(&names, DOC_CAP);
    tb_buf_init(&footer, DOC_CAP);
    rc = walk_voices(s->store, q, r->key, footer_name, &names, &n, err, errlen);
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
    sqlite3_stmt *q = NULL;
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
    if (rc == 0 &&
        sqlite3_prepare_v2(tb_store_db(s->store), tb__site_voice_sql, -1, &q, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "voices: %s", sqlite3_errmsg(tb_store_db(s->store)));
        rc = TB_ESTORE;
    }
    /* tb_store_load() keeps the order and skips only rowids it lacks. */
    for (e = rc ? NULL : (*out)->entries, i = 0; rc == 0 && e != NULL; e = e->next) {
        while (i < r->n && r->v[i].entry_id != e->rowid)
            i++;
        if (i < r->n)
            rc = mentioned_by(s, *out, e, &r->v[i], q, err, errlen);
    }
    sqlite3_finalize(q);
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
