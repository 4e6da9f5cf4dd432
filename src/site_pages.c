/*
 * The reading site's pages from the store: gathers the trending papers
 * (tb_trending.h), their entries, voices and topics, and each topic's
 * newest entries, then has tb_page.h render them. Everything a page shows
 * lives in the loaded feed's arena until the page is written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "site_int.h"
#include "tb_archive.h"
#include "tb_page.h"
#include "tb_topic.h"
#include "tb_trending.h"
#include "tb_vec.h"

#define PAGE_CAP ((size_t)64 * 1024 * 1024)
#define NEWEST 30         /* entries on a topic page */
#define TOPIC_TRENDING 10 /* trending papers on a topic page */
#define NEWEST_FRONT 20   /* newest entries on the front page when nothing trends */
#define HTML_TYPE "text/html; charset=utf-8"

/* One list of papers being gathered. */
struct list {
    int64_t *ids;            /* trending: the papers' entries */
    char **keys;             /* their paper keys (malloc'd) */
    size_t n, alloc, kalloc; /* ids and keys used, allocated */
    struct tb_feed *feed;    /* the loaded entries; owns the page strings */
    struct tb_page_paper *p; /* one per loaded entry */
    size_t np;               /* number of them */
    size_t max;              /* trending: most papers kept; 0: all */
};

static void list_free(struct list *l)
{
    size_t i;

    for (i = 0; i < l->n && l->keys != NULL; i++)
        free(l->keys[i]);
    free(l->keys);
    free(l->ids);
    free(l->p);
    tb_feed_free(l->feed);
    memset(l, 0, sizeof(*l));
}

static int on_paper(const struct tb_trending_paper *p, void *data)
{
    struct list *l = data;
    char *key;

    if (p->entry_id == 0)
        return 0; /* no stored entry to show yet (not resolved): takes no place */
    if (l->max > 0 && l->n >= l->max)
        return 1; /* enough */
    if (TB_VEC_RESERVE(l->ids, l->alloc, l->n + 1, TB_VEC_MAX) ||
        TB_VEC_RESERVE(l->keys, l->kalloc, l->n + 1, TB_VEC_MAX))
        return -ENOMEM;
    key = strdup(p->key);
    if (key == NULL)
        return -ENOMEM;
    l->ids[l->n] = p->entry_id;
    l->keys[l->n++] = key;
    return 0;
}

/* The display name of source `name`: its configured title, else its name. */
static const char *source_title(const struct tb_config *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->nsources; i++)
        if (strcmp(c->sources[i].name, name) == 0 && c->sources[i].title != NULL)
            return c->sources[i].title;
    return name;
}

/* Collects the voices of one paper that count into the feed's arena: one
 * per group (as the trending feeds' "Mentioned by"), named by its earliest
 * source, with the link to that source's entry (tb_store_voice_link). */
struct voices {
    const struct tb_config *cfg;
    struct tb_arena *arena;
    struct tb_store *store;          /* where the links are */
    char *err;                       /* the caller's error buffer */
    size_t errlen;                   /* its size */
    const char **names, **links;     /* names, and links (NULL: none) */
    const char **groups;             /* the groups named */
    size_t n, alloc, lalloc, galloc; /* count, allocated names, links, groups */
};

/* The link to source v's entry, copied into the arena; NULL when none. */
static int voice_link(struct voices *vs, const struct tb_trending_voice *v, const char **out)
{
    char *name = NULL, *href = NULL;
    int rc = tb_store_voice_link(vs->store, v->source, v->entry_id, v->carries, &name, &href,
                                 vs->err, vs->errlen);

    *out = NULL;
    if (rc == 0 && href != NULL) {
        *out = tb_arena_strdup(vs->arena, href);
        rc = *out != NULL ? 0 : -ENOMEM;
    }
    free(name);
    free(href);
    return rc;
}

static int on_voice(const struct tb_trending_voice *v, void *data)
{
    struct voices *vs = data;
    const char *t = source_title(vs->cfg, v->source);
    size_t i;

    /* Weight 0 (a resolved arXiv record, a muted source) is not why the
     * paper is listed, and a group is one voice, as in the score. */
    if (v->weight <= 0)
        return 0;
    for (i = 0; i < vs->n; i++)
        if (strcmp(vs->groups[i], v->group) == 0)
            return 0;
    if (TB_VEC_RESERVE(vs->names, vs->alloc, vs->n + 1, TB_VEC_MAX) ||
        TB_VEC_RESERVE(vs->links, vs->lalloc, vs->n + 1, TB_VEC_MAX) ||
        TB_VEC_RESERVE(vs->groups, vs->galloc, vs->n + 1, TB_VEC_MAX))
        return -ENOMEM;
    vs->names[vs->n] = tb_arena_strdup(vs->arena, t);
    vs->groups[vs->n] = tb_arena_strdup(vs->arena, v->group);
    if (vs->names[vs->n] == NULL || vs->groups[vs->n] == NULL)
        return -ENOMEM;
    return voice_link(vs, v, &vs->links[vs->n++]);
}

/* Copies a malloc'd array into the arena so the paper can keep it. */
static const char *const *keep(struct tb_arena *a, const char **v, size_t n)
{
    const char **out;

    if (n == 0)
        return NULL;
    out = tb_arena_alloc(a, n * sizeof(*out));
    if (out != NULL)
        memcpy(out, v, n * sizeof(*out));
    return out;
}

/* Loads the entries of l->ids and makes one paper per entry. */
static int load(struct tb_site *s, struct list *l, char *err, size_t errlen)
{
    struct tb_entry *e;
    size_t n = 0;
    int rc = tb_store_load(s->store, l->ids, l->n, &l->feed, err, errlen);

    for (e = rc == 0 ? l->feed->entries : NULL; e != NULL; e = e->next)
        n++;
    if (rc == 0 && n > 0) {
        l->p = calloc(n, sizeof(*l->p));
        rc = l->p != NULL ? 0 : -ENOMEM;
    }
    for (e = rc == 0 ? l->feed->entries : NULL; e != NULL; e = e->next)
        l->p[l->np++].entry = e;
    return rc;
}

/* The sources of each trending paper ("N sources: ..."), each linking
 * its own entry. */
static int add_voices(struct tb_site *s, struct list *l, char *err, size_t errlen)
{
    struct voices vs = {
        .cfg = s->cfg, .arena = &l->feed->arena, .store = s->store, .err = err, .errlen = errlen};
    size_t i, k;
    int rc = 0;

    for (i = 0; rc == 0 && i < l->np; i++) {
        for (k = 0; k < l->n && l->ids[k] != l->p[i].entry->rowid; k++)
            ;
        vs.n = 0;
        if (k < l->n)
            rc = tb_trending_voices(s->store, l->keys[k], on_voice, &vs, err, errlen);
        l->p[i].sources = rc == 0 ? keep(vs.arena, vs.names, vs.n) : NULL;
        l->p[i].source_links = rc == 0 ? keep(vs.arena, vs.links, vs.n) : NULL;
        l->p[i].nsources = l->p[i].sources != NULL ? vs.n : 0;
    }
    free(vs.names);
    free(vs.links);
    free(vs.groups);
    return rc;
}

/* Appends one copy of an entry to the growing name and link arrays. */
static int on_copy(const char *name, const char *title, const char *href, void *data)
{
    struct voices *vs = data;

    if (TB_VEC_RESERVE(vs->names, vs->alloc, vs->n + 1, TB_VEC_MAX) ||
        TB_VEC_RESERVE(vs->links, vs->lalloc, vs->n + 1, TB_VEC_MAX))
        return -ENOMEM;
    /* The configured title, as the trending lists name sources. */
    title = strcmp(source_title(vs->cfg, name), name) != 0 ? source_title(vs->cfg, name) : title;
    vs->names[vs->n] = tb_arena_strdup(vs->arena, title);
    vs->links[vs->n] = href != NULL ? tb_arena_strdup(vs->arena, href) : NULL;
    vs->n++;
    if (vs->names[vs->n - 1] == NULL || (href != NULL && vs->links[vs->n - 1] == NULL))
        return -ENOMEM;
    return 0;
}

/* Appends entry e's copies to the growing name and link arrays. */
static int copies_of(struct tb_site *s, struct voices *vs, const struct tb_entry *e)
{
    vs->n = 0;
    return tb_store_copies(s->store, e->rowid, 0, on_copy, vs, vs->err, vs->errlen);
}

/* The sources of each newest entry: every source that carried it, its
 * origin first, each linking its own copy. */
static int add_copies(struct tb_site *s, struct list *l, char *err, size_t errlen)
{
    struct voices vs = {.cfg = s->cfg,
                        .arena = l->feed != NULL ? &l->feed->arena : NULL,
                        .store = s->store,
                        .err = err,
                        .errlen = errlen};
    size_t i;
    int rc = 0;

    if (l->np == 0)
        return 0;
    for (i = 0; rc == 0 && i < l->np; i++) {
        rc = copies_of(s, &vs, l->p[i].entry);
        l->p[i].sources = rc == 0 ? keep(vs.arena, vs.names, vs.n) : NULL;
        l->p[i].source_links = rc == 0 ? keep(vs.arena, vs.links, vs.n) : NULL;
        l->p[i].nsources = l->p[i].sources != NULL ? vs.n : 0;
    }
    free(vs.names);
    free(vs.links);
    return rc;
}

/* The topics each paper matches: one FTS5 query per topic, restricted to
 * the list's entries. */
static int add_topics(struct tb_site *s, struct list *l, char *err, size_t errlen)
{
    const struct tb_config *c = s->cfg;
    int64_t *ids = NULL, *hit = NULL;
    size_t i, j, k, nhit = 0;
    int rc = 0;

    if (l->np == 0 || c->ntopics == 0)
        return 0;
    ids = malloc(l->np * sizeof(*ids));
    rc = ids != NULL ? 0 : -ENOMEM;
    for (i = 0; rc == 0 && i < l->np; i++) {
        l->p[i].topics = tb_arena_alloc(&l->feed->arena, c->ntopics * sizeof(char *));
        rc = l->p[i].topics != NULL ? 0 : -ENOMEM;
        ids[i] = l->p[i].entry->rowid;
    }
    for (j = 0; rc == 0 && j < c->ntopics; j++) {
        rc = tb_topic_select_in(s->store, c->topics[j].query, c->topics[j].sources,
                                c->topics[j].nsources, ids, l->np, l->np, &hit, &nhit, err, errlen);
        for (k = 0; rc == 0 && k < nhit; k++)
            for (i = 0; i < l->np; i++)
                if (l->p[i].entry->rowid == hit[k])
                    ((const char **)l->p[i].topics)[l->p[i].ntopics++] = c->topics[j].name;
        free(hit);
        hit = NULL;
    }
    free(ids);
    return rc;
}

/* The trending papers, over everything (query NULL) or a topic's query. */
static int trending(struct tb_site *s, const char *query, size_t limit, struct list *l, char *err,
                    size_t errlen)
{
    struct tb_trending_opts o = {.now = s->now ? s->now : (int64_t)time(NULL),
                                 .window = s->cfg->trending.window,
                                 .half_life = s->cfg->trending.half_life,
                                 .limit = 0,
                                 .query = query};
    int rc;

    /* As the trending feeds: papers without an entry do not take a place,
     * so the pages list what the feeds list. */
    l->max = limit;
    rc = tb_trending_select(s->store, &o, on_paper, l, err, errlen);
    if (rc == 1)
        rc = 0;

    rc = rc ? rc : load(s, l, err, errlen);
    rc = rc ? rc : add_voices(s, l, err, errlen);
    return rc ? rc : add_topics(s, l, err, errlen);
}

/* Why a list is empty, from the configured sources' last polls. */
static void why_empty(struct tb_site *s, char *why, size_t len)
{
    struct tb_page_polls p = {0};
    struct tb_store_state *st = NULL;
    char err[256];
    size_t n = 0, i, j;

    if (tb_store_state_list(s->store, &st, &n, err, sizeof(err)) != 0)
        n = 0;
    for (i = 0; i < s->cfg->nsources; i++) {
        if (!s->cfg->sources[i].enabled)
            continue;
        p.sources++;
        for (j = 0; j < n && strcmp(st[j].name, s->cfg->sources[i].name) != 0; j++)
            ;
        if (j == n || st[j].last_attempt == 0)
            p.never++;
        else if (st[j].failures > 0)
            p.failed++;
    }
    tb_store_state_free(st, n);
    tb_page_why_empty(&p, why, len);
}

static int put_page(struct tb_site *s, const char *rel, int (*render)(struct tb_buf *, void *),
                    void *data, const char *type, char *err, size_t errlen)
{
    struct tb_buf b;
    int rc;

    tb_buf_init(&b, PAGE_CAP);
    rc = render(&b, data);
    if (rc)
        snprintf(err, errlen, "%s: %s", rel, tb_strerror(rc));
    else
        rc = tb__site_put(s, rel, type, &b, err, errlen);
    tb_buf_free(&b);
    return rc;
}

/* What one page render needs. */
struct render {
    const struct tb_page_site *site;
    size_t topic;
    struct list *trending, *newest;
    const char *why;
};

static int render_style(struct tb_buf *b, void *data)
{
    (void)data;
    return tb_page_style(b);
}

static int render_icon(struct tb_buf *b, void *data)
{
    (void)data;
    return tb_page_icon(b);
}

static int render_index(struct tb_buf *b, void *data)
{
    struct render *r = data;

    return tb_page_index(r->site, r->trending->p, r->trending->np, r->newest->p, r->newest->np,
                         r->why, b);
}

static int render_topic(struct tb_buf *b, void *data)
{
    struct render *r = data;

    return tb_page_topic(r->site, r->topic, r->trending->p, r->trending->np, r->newest->p,
                         r->newest->np, r->why, b);
}

static int render_trending(struct tb_buf *b, void *data)
{
    struct render *r = data;

    return tb_page_trending(r->site, r->topic, r->trending->p, r->trending->np, r->why, b);
}

/* trending.html (r->topic (size_t)-1) or trending/NAME.html. */
static int trending_page(struct tb_site *s, struct render *r, char *err, size_t errlen)
{
    const struct tb_config_topic *t = r->topic < s->cfg->ntopics ? &s->cfg->topics[r->topic] : NULL;
    struct list tl = {0};
    char rel[600];
    int rc;

    rc = trending(s, t != NULL ? t->query : NULL, s->cfg->trending.limit, &tl, err, errlen);
    r->trending = &tl;
    if (t != NULL)
        snprintf(rel, sizeof(rel), "trending/%s.html", t->name);
    else
        snprintf(rel, sizeof(rel), "trending.html");
    rc = rc ? rc : put_page(s, rel, render_trending, r, HTML_TYPE, err, errlen);
    list_free(&tl);
    return rc;
}

/* The newest entries of a topic's query and sources (NULL: of everything). */
static int newest(struct tb_site *s, const struct tb_config_topic *t, size_t limit, struct list *l,
                  char *err, size_t errlen)
{
    int rc = tb_topic_select_in(s->store, t != NULL ? t->query : NULL,
                                t != NULL ? t->sources : NULL, t != NULL ? t->nsources : 0, NULL, 0,
                                limit, &l->ids, &l->n, err, errlen);

    rc = rc ? rc : load(s, l, err, errlen);
    rc = rc ? rc : add_copies(s, l, err, errlen);
    return rc ? rc : add_topics(s, l, err, errlen);
}

static int topic_page(struct tb_site *s, struct render *r, char *err, size_t errlen)
{
    const struct tb_config_topic *t = &s->cfg->topics[r->topic];
    struct list tl = {0}, nl = {0};
    char rel[600];
    int rc;

    rc = trending(s, t->query, TOPIC_TRENDING, &tl, err, errlen);
    rc = rc ? rc : newest(s, t, NEWEST, &nl, err, errlen);
    r->trending = &tl;
    r->newest = &nl;
    snprintf(rel, sizeof(rel), "topics/%s.html", t->name);
    rc = rc ? rc : put_page(s, rel, render_topic, r, HTML_TYPE, err, errlen);
    list_free(&tl);
    list_free(&nl);
    return rc;
}

/* Fills site (and topics, calloc'd: the caller frees *topics) as every page
 * shares it, with each feed's newest complete archive page. */
static int page_site(struct tb_site *s, struct tb_page_site *site, struct tb_page_topic **topics,
                     char *err, size_t errlen)
{
    const struct tb_config *c = s->cfg;
    char feed[TB_ARCHIVE_FEED_MAX + 1];
    int64_t pages = 0;
    size_t i;
    int rc;

    *topics = calloc(c->ntopics + 1, sizeof(**topics));
    if (*topics == NULL)
        return -ENOMEM;
    *site = (struct tb_page_site){.title = c->title,
                                  .description = c->description,
                                  .base_url = c->base_url,
                                  .topics = *topics,
                                  .ntopics = c->ntopics,
                                  .mail = c->mail.enabled};
    rc = tb_archive_pages(s->store, "all", &pages, err, errlen);
    site->archive = (long long)pages;
    for (i = 0; rc == 0 && i < c->ntopics; i++) {
        (*topics)[i].name = c->topics[i].name;
        (*topics)[i].title = c->topics[i].title;
        snprintf(feed, sizeof(feed), "topics/%s", c->topics[i].name);
        rc = tb_archive_pages(s->store, feed, &pages, err, errlen);
        (*topics)[i].archive = (long long)pages;
    }
    return rc;
}

int tb__site_archive_html(struct tb_site *s, size_t topic, int64_t page, const int64_t *ids,
                          size_t n, struct tb_buf *b, char *err, size_t errlen)
{
    struct tb_page_topic *topics = NULL;
    struct tb_page_site site;
    struct list l = {0};
    int rc = page_site(s, &site, &topics, err, errlen);

    if (rc == 0 && n > 0) {
        l.ids = malloc(n * sizeof(*ids));
        rc = l.ids != NULL ? 0 : -ENOMEM;
    }
    if (rc == 0 && n > 0) {
        memcpy(l.ids, ids, n * sizeof(*ids));
        l.n = n;
        rc = load(s, &l, err, errlen);
        rc = rc ? rc : add_copies(s, &l, err, errlen);
        rc = rc ? rc : add_topics(s, &l, err, errlen);
    }
    rc = rc ? rc : tb_page_archive(&site, topic, (long long)page, l.p, l.np, b);
    list_free(&l);
    free(topics);
    return rc;
}

int tb__site_pages(struct tb_site *s, char *err, size_t errlen)
{
    const struct tb_config *c = s->cfg;
    struct tb_page_topic *topics = NULL;
    struct tb_page_site site;
    struct list l = {0}, nl = {0};
    struct render r = {.site = &site};
    char why[256];
    size_t i;
    int rc = page_site(s, &site, &topics, err, errlen);

    why_empty(s, why, sizeof(why));
    r.why = why;
    rc = rc ? rc
            : put_page(s, "style.css", render_style, NULL, "text/css; charset=utf-8", err, errlen);
    rc = rc ? rc : put_page(s, "favicon.svg", render_icon, NULL, "image/svg+xml", err, errlen);
    rc = rc ? rc : trending(s, NULL, c->trending.limit, &l, err, errlen);
    /* Nothing trending (no papers in the window, or offline): the newest
     * entries, so that the front page still has something to read. */
    if (rc == 0 && l.np == 0)
        rc = newest(s, NULL, NEWEST_FRONT, &nl, err, errlen);
    r.trending = &l;
    r.newest = &nl;
    rc = rc ? rc : put_page(s, "index.html", render_index, &r, HTML_TYPE, err, errlen);
    list_free(&l);
    list_free(&nl);
    r.topic = (size_t)-1;
    rc = rc ? rc : trending_page(s, &r, err, errlen);
    for (i = 0; rc == 0 && i < c->ntopics; i++) {
        r.topic = i;
        rc = topic_page(s, &r, err, errlen);
        rc = rc ? rc : trending_page(s, &r, err, errlen);
    }
    free(topics);
    return rc;
}
