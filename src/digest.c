/*
 * The digests (tb_digest.h): when each is due, which papers it holds, and
 * the run that builds and queues every due one.
 *
 * A digest's papers are, per topic of the subscription that the config
 * still has, the topic's trending list at the digest's time (as the site
 * ranks it: tb_trending_select() with the topic's query, papers without a
 * stored entry left out, at most [trending] limit) less the papers of
 * which the store learned no voice after `since` (tb_trending_seen(): a
 * voice's own time may be older than when it was fetched, and a paper
 * fetched after a digest is new to the next one), less those an earlier
 * section of the same digest holds; at most [mail] max_papers in all, best first within
 * each section. A run shares one cache of those lists and of the papers'
 * voices among all its subscribers, so its cost follows the topics, not
 * the subscribers, and its memory does not grow with them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tb_digest.h"
#include "tb_map.h"
#include "tb_site.h"
#include "tb_trending.h"
#include "tb_vec.h"

#include "digest_int.h"

#define DAY ((int64_t)86400)
#define KEEP_MAX 100000 /* papers a run's cache may hold */

/* One paper of a cached trending list. */
struct listed {
    char *key;        /* the paper's key (owned) */
    int64_t entry_id; /* its stored entry */
    int64_t last;     /* its latest voice's own time within the window */
    int64_t seen;     /* when the store learned of its latest voice (tb_trending_seen()) */
};

/* A topic's trending list at one time. */
struct list {
    char *topic; /* the topic's name, or TB_SUBS_TRENDING (owned) */
    int64_t at;  /* the time it is ranked at */
    struct listed *v;
    size_t n, alloc, limit;
};

/* The groups that voiced one paper. */
struct voiced {
    char *key; /* the paper's key (owned; the map's key) */
    struct tb__digest_voice *v;
    size_t n, alloc;
};

/* What a run (or one build) keeps across subscribers. */
struct cache {
    struct tb_store *st;
    const struct tb_config *cfg;
    struct list *lists;
    size_t nlists, alists;
    struct tb_map voices; /* paper key -> struct voiced */
};

int64_t tb_digest_slot(const struct tb_config_mail *m, enum tb_subs_freq f, int64_t now)
{
    int64_t day = now / DAY - (now % DAY < 0), slot, wday;

    slot = day * DAY + (int64_t)m->send_at * 60;
    if (slot > now) {
        slot -= DAY;
        day--;
    }
    if (f == TB_SUBS_WEEKLY) {
        wday = ((day + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday */
        slot -= ((wday - m->weekly_day + 7) % 7) * DAY;
    }
    return slot;
}

/* ------------------------------------------------------------ cache */

static void cache_init(struct cache *c, struct tb_store *st, const struct tb_config *cfg)
{
    memset(c, 0, sizeof(*c));
    c->st = st;
    c->cfg = cfg;
    tb_map_init(&c->voices, KEEP_MAX);
}

static void cache_free(struct cache *c)
{
    const struct tb_map_slot *slot;
    struct voiced *vd;
    size_t i, j, pos = 0;

    for (i = 0; i < c->nlists; i++) {
        for (j = 0; j < c->lists[i].n; j++)
            free(c->lists[i].v[j].key);
        free(c->lists[i].v);
        free(c->lists[i].topic);
    }
    free(c->lists);
    while ((slot = tb_map_next(&c->voices, &pos)) != NULL) {
        vd = slot->value;
        for (j = 0; j < vd->n; j++) {
            free(vd->v[j].name);
            free(vd->v[j].href);
        }
        free(vd->v);
        free(vd->key);
        free(vd);
    }
    tb_map_free(&c->voices);
}

static int keep(const struct tb_trending_paper *p, void *data)
{
    struct list *l = data;
    char *key;

    if (p->entry_id == 0)
        return 0; /* no stored entry: the site does not list it either */
    if (TB_VEC_RESERVE(l->v, l->alloc, l->n + 1, KEEP_MAX) != 0)
        return -ENOMEM;
    key = strdup(p->key);
    if (key == NULL)
        return -ENOMEM;
    l->v[l->n++] = (struct listed){key, p->entry_id, p->last, 0};
    return l->n >= l->limit ? 1 : 0;
}

/* The trending list of topic name (query NULL: everything) at `at`. */
static int list_get(struct cache *c, const char *name, const char *query, int64_t at,
                    const struct list **out, char *err, size_t errlen)
{
    const struct tb_config_trending *t = &c->cfg->trending;
    struct tb_trending_opts o = {
        .now = at, .window = t->window, .half_life = t->half_life, .limit = 0, .query = query};
    struct list *l;
    size_t i;
    int rc;

    for (i = 0; i < c->nlists; i++) {
        if (c->lists[i].at == at && strcmp(c->lists[i].topic, name) == 0) {
            *out = &c->lists[i];
            return 0;
        }
    }
    if (TB_VEC_RESERVE(c->lists, c->alists, c->nlists + 1, KEEP_MAX) != 0)
        return -ENOMEM;
    l = &c->lists[c->nlists];
    memset(l, 0, sizeof(*l));
    l->at = at;
    l->limit = t->limit ? t->limit : 30;
    l->topic = strdup(name);
    if (l->topic == NULL)
        return -ENOMEM;
    c->nlists++;
    rc = tb_trending_select(c->st, &o, keep, l, err, errlen);
    rc = rc == 1 ? 0 : rc;
    if (rc != 0 && err[0] == '\0')
        snprintf(err, errlen, "trending %s: %s", name, tb_strerror(rc));
    for (i = 0; rc == 0 && i < l->n; i++)
        rc = tb_trending_seen(c->st, l->v[i].key, at, t->window, &l->v[i].seen, err, errlen);
    if (rc != 0) { /* not kept: the next subscriber of the topic meets the error too */
        for (i = 0; i < l->n; i++)
            free(l->v[i].key);
        free(l->v);
        free(l->topic);
        c->nlists--;
    }
    *out = l;
    return rc;
}

static int add_voice(const char *name, const char *href, void *data)
{
    struct voiced *vd = data;
    struct tb__digest_voice *v;

    if (TB_VEC_RESERVE(vd->v, vd->alloc, vd->n + 1, TB_VEC_MAX) != 0)
        return -ENOMEM;
    v = &vd->v[vd->n];
    v->name = strdup(name);
    v->href = href != NULL ? strdup(href) : NULL;
    if (v->name == NULL || (href != NULL && v->href == NULL)) {
        free(v->name);
        free(v->href);
        return -ENOMEM;
    }
    vd->n++;
    return 0;
}

/* The groups that voiced paper `key`, as the site's "Mentioned by" names them. */
static int voices_get(struct cache *c, const char *key, const struct voiced **out, char *err,
                      size_t errlen)
{
    struct voiced *vd = tb_map_get(&c->voices, key, strlen(key));
    int rc;

    if (vd != NULL) {
        *out = vd;
        return 0;
    }
    vd = calloc(1, sizeof(*vd));
    if (vd == NULL)
        return -ENOMEM;
    vd->key = strdup(key);
    rc = vd->key != NULL ? 0 : -ENOMEM;
    rc = rc ? rc : tb_map_put(&c->voices, vd->key, strlen(vd->key), vd);
    if (rc != 0) {
        free(vd->key);
        free(vd);
        return rc;
    }
    *out = vd;
    return tb_site_voices(c->st, key, add_voice, vd, err, errlen);
}

/* ----------------------------------------------------------- choice */

/* The papers one digest holds, before their entries are loaded. */
struct pick {
    struct tb__digest_section *sections;
    size_t nsections, asections;
    const struct listed **papers; /* borrowed from the cache */
    size_t npapers, apapers;
    struct tb_map seen; /* paper key -> 1: one section only */
};

static int has_topic(const struct tb_subs *sub, const char *name)
{
    size_t i;

    for (i = 0; i < sub->ntopics; i++)
        if (strcmp(sub->topics[i], name) == 0)
            return 1;
    return 0;
}

/* Whether the digest holds entry id already (under another paper key). */
static int picked(const struct pick *p, int64_t id)
{
    size_t i;

    for (i = 0; i < p->npapers; i++)
        if (p->papers[i]->entry_id == id)
            return 1;
    return 0;
}

/* Whether a paper is new since `since`: the store learned of a voice
 * after it; for a first digest (which covers the last day or week), that
 * voice's own time is after it too, or every old paper of a new source
 * would be new. */
static int is_new(const struct listed *v, int64_t since, int first)
{
    return v->seen > since && (!first || v->last > since);
}

/* Adds the section of topic name (title shown) from its list l. */
static int pick_section(struct pick *p, const struct list *l, const char *name, const char *title,
                        int64_t since, int first, size_t max)
{
    struct tb__digest_section s = {name, title, p->npapers, 0};
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < l->n && p->npapers < max; i++) {
        if (!is_new(&l->v[i], since, first) ||
            tb_map_get(&p->seen, l->v[i].key, strlen(l->v[i].key)) || picked(p, l->v[i].entry_id))
            continue;
        rc = tb_map_put(&p->seen, l->v[i].key, strlen(l->v[i].key), (void *)&l->v[i]);
        rc = rc ? rc : TB_VEC_RESERVE(p->papers, p->apapers, p->npapers + 1, KEEP_MAX);
        if (rc == 0)
            p->papers[p->npapers++] = &l->v[i];
    }
    s.n = p->npapers - s.first;
    if (rc == 0 && s.n > 0) {
        rc = TB_VEC_RESERVE(p->sections, p->asections, p->nsections + 1, KEEP_MAX);
        if (rc == 0)
            p->sections[p->nsections++] = s;
    }
    return rc;
}

/* Chooses the papers of sub's digest at `at`: the subscribed topics in
 * config order (a topic the config lost is paused), then trending across
 * everything for what they did not hold. */
static int pick(struct cache *c, const struct tb_subs *sub, int64_t at, int64_t since,
                struct pick *p, char *err, size_t errlen)
{
    const struct tb_config_topic *t;
    const struct list *l;
    size_t i, max = c->cfg->mail.max_papers ? c->cfg->mail.max_papers : 20;
    int rc = 0, first = sub->covered == 0;

    for (i = 0; rc == 0 && i < c->cfg->ntopics; i++) {
        t = &c->cfg->topics[i];
        if (!has_topic(sub, t->name))
            continue;
        rc = list_get(c, t->name, t->query, at, &l, err, errlen);
        rc =
            rc ? rc : pick_section(p, l, t->name, t->title ? t->title : t->name, since, first, max);
    }
    if (rc == 0 && has_topic(sub, TB_SUBS_TRENDING)) {
        rc = list_get(c, TB_SUBS_TRENDING, NULL, at, &l, err, errlen);
        rc = rc ? rc
                : pick_section(p, l, TB_SUBS_TRENDING, "Trending in all topics", since, first, max);
    }
    return rc;
}

static void pick_free(struct pick *p)
{
    free(p->sections);
    free(p->papers);
    tb_map_free(&p->seen);
}

/* Loads the entries of p's papers into *f and fills papers[0..*n) with
 * them and their voices; a paper whose entry is gone leaves its section. */
static int load(struct cache *c, struct pick *p, struct tb_feed **f,
                struct tb__digest_paper *papers, size_t *n, char *err, size_t errlen)
{
    const struct voiced *vd;
    struct tb__digest_section s;
    struct tb_entry *e;
    int64_t *ids = malloc(p->npapers * sizeof(*ids));
    size_t i, j, k = 0, m;
    int rc = ids != NULL ? 0 : -ENOMEM;

    for (i = 0; rc == 0 && i < p->npapers; i++)
        ids[i] = p->papers[i]->entry_id;
    rc = rc ? rc : tb_store_load(c->st, ids, p->npapers, f, err, errlen);
    free(ids);
    e = rc == 0 ? (*f)->entries : NULL;
    /* tb_store_load() keeps the order and skips only rowids it lacks. */
    for (i = 0, m = 0; rc == 0 && i < p->nsections; i++) {
        s = p->sections[i];
        for (j = s.first, s.first = k; rc == 0 && j < p->sections[i].first + s.n; j++) {
            if (e == NULL || e->rowid != p->papers[j]->entry_id)
                continue;
            rc = voices_get(c, p->papers[j]->key, &vd, err, errlen);
            if (rc == 0)
                papers[k++] = (struct tb__digest_paper){e, vd->v, vd->n};
            e = e->next;
        }
        s.n = k - s.first;
        if (s.n > 0)
            p->sections[m++] = s;
    }
    p->nsections = rc == 0 ? m : p->nsections;
    *n = k;
    return rc;
}

/* ---------------------------------------------------------- messages */

/* Writes into out BASE_URL + page + "?t=" + a token for action (no expiry
 * unless `expires`). -EINVAL when it does not fit. */
static int token_url(const struct tb_config *cfg, const unsigned char *key,
                     enum tb_mail_action action, const struct tb_subs *sub, int64_t expires,
                     const char *page, char *out, size_t len)
{
    char tok[TB_MAIL_TOKEN_MAX];
    int rc = tb_mail_token_make(key, action, sub->id, sub->addr, expires, tok, sizeof(tok));
    int n = rc ? -1 : snprintf(out, len, "%s%s?t=%s", cfg->base_url, page, tok);

    return rc ? rc : (n < 0 || (size_t)n >= len ? -EINVAL : 0);
}

static int compose(const struct tb__digest *d, const char *mid, struct tb_buf *msg)
{
    struct tb__mail_head h = {d->cfg, d->sub->addr, NULL, d->at, mid, d->unsubscribe};
    struct tb_buf subject, text, html;
    int rc;

    tb_buf_init(&subject, 64 * 1024);
    tb_buf_init(&text, TB__DIGEST_CAP);
    tb_buf_init(&html, TB__DIGEST_CAP);
    rc = tb__digest_subject(d, &subject);
    h.subject = subject.data;
    rc = rc ? rc : tb__digest_bodies(d, &text, &html);
    rc = rc ? rc : tb__mail_message(&h, &text, &html, msg);
    tb_buf_free(&subject);
    tb_buf_free(&text);
    tb_buf_free(&html);
    return rc;
}

/* tb_digest_build() with the lists and voices of cache c: the papers as
 * they trend at `at` (also the message's date), the Message-ID from `id_at`. */
static int build(struct cache *c, const unsigned char *key, const struct tb_subs *sub, int64_t at,
                 int64_t id_at, int64_t since, struct tb_buf *msg, char *mid, size_t idlen,
                 size_t *npapers, char *err, size_t errlen)
{
    struct tb__digest d = {.cfg = c->cfg, .sub = sub, .at = at};
    struct tb__digest_paper *papers = NULL;
    char manage[4096], unsub[4096];
    struct tb_feed *f = NULL;
    struct pick p = {0};
    size_t n = 0;
    int rc = idlen >= 128 ? 0 : -EINVAL;

    *npapers = 0;
    tb_map_init(&p.seen, KEEP_MAX);
    if (rc == 0)
        tb__digest_message_id(c->cfg, "digest", sub->id, id_at, mid, idlen);
    rc = rc ? rc : pick(c, sub, at, since, &p, err, errlen);
    if (rc == 0 && p.npapers > 0) {
        papers = calloc(p.npapers, sizeof(*papers));
        rc = papers != NULL ? 0 : -ENOMEM;
        rc = rc ? rc : load(c, &p, &f, papers, &n, err, errlen);
    }
    if (rc == 0 && n > 0) {
        rc = token_url(c->cfg, key, TB_MAIL_MANAGE, sub, 0, "manage", manage, sizeof(manage));
        rc = rc ? rc
                : token_url(c->cfg, key, TB_MAIL_UNSUBSCRIBE, sub, 0, "unsubscribe", unsub,
                            sizeof(unsub));
        d.sections = p.sections;
        d.nsections = p.nsections;
        d.papers = papers;
        d.npapers = n;
        d.manage = manage;
        d.unsubscribe = unsub;
        rc = rc ? rc : compose(&d, mid, msg);
    }
    if (rc == 0)
        *npapers = n;
    tb_feed_free(f);
    free(papers);
    pick_free(&p);
    return rc;
}

int tb_digest_build(struct tb_store *st, const struct tb_config *cfg,
                    const unsigned char key[TB_MAIL_SECRET_LEN], const struct tb_subs *sub,
                    int64_t at, int64_t since, struct tb_buf *msg, char *message_id, size_t idlen,
                    size_t *npapers, char *err, size_t errlen)
{
    struct cache c;
    int rc;

    cache_init(&c, st, cfg);
    rc = build(&c, key, sub, at, at, since, msg, message_id, idlen, npapers, err, errlen);
    cache_free(&c);
    return rc;
}

int tb_digest_confirm(const struct tb_config *cfg, const unsigned char key[TB_MAIL_SECRET_LEN],
                      const struct tb_subs *sub, int64_t now, struct tb_buf *msg, char *message_id,
                      size_t idlen)
{
    struct tb__mail_head h = {cfg, sub->addr, NULL, now, message_id, NULL};
    struct tb_buf subject, text, html;
    char url[4096];
    int rc = idlen >= 128 ? 0 : -EINVAL;

    rc = rc ? rc
            : token_url(cfg, key, TB_MAIL_CONFIRM, sub, now + TB_MAIL_CONFIRM_TTL, "confirm", url,
                        sizeof(url));
    if (rc != 0)
        return rc;
    tb__digest_message_id(cfg, "confirm", sub->id, now, message_id, idlen);
    tb_buf_init(&subject, 64 * 1024);
    tb_buf_init(&text, TB__DIGEST_CAP);
    tb_buf_init(&html, TB__DIGEST_CAP);
    rc = tb__digest_confirm_bodies(cfg, sub, url, &subject, &text, &html);
    h.subject = subject.data;
    rc = rc ? rc : tb__mail_message(&h, &text, &html, msg);
    tb_buf_free(&subject);
    tb_buf_free(&text);
    tb_buf_free(&html);
    return rc;
}

/* ---------------------------------------------------------------- run */

/* The subscriptions a run looks at, by id. */
struct ids {
    int64_t *v;
    size_t n, alloc;
    const char *to; /* only this address, or NULL */
};

static int collect(const struct tb_subs *s, void *data)
{
    struct ids *x = data;

    if (x->to != NULL && strcmp(s->addr, x->to) != 0)
        return 0;
    if (TB_VEC_RESERVE(x->v, x->alloc, x->n + 1, TB_VEC_MAX) != 0)
        return -ENOMEM;
    x->v[x->n++] = s->id;
    return 0;
}

/* Builds subscription id's digest if it is due, then queues it, hands it
 * to dry_run, or (nothing new) moves its covered time. A digest holds what
 * trends when it is built and what the store learned since the last one,
 * so `covered` becomes the build time, not the slot: a paper fetched
 * between the slot and a late build is in this digest and not the next.
 * Its Message-ID comes from the slot (the forced time with --now). */
static int run_one(struct cache *c, const unsigned char *key, const struct tb_digest_run_opts *o,
                   int64_t id, size_t *queued, char *err, size_t errlen)
{
    struct tb_subs sub = {0};
    int64_t slot, since;
    char mid[256];
    struct tb_buf msg;
    size_t n = 0;
    int rc = tb_subs_get(c->st, id, &sub, err, errlen);

    if (rc != 0 || sub.state != TB_SUBS_ACTIVE) {
        tb_subs_clear(&sub);
        return rc == -ENOENT ? 0 : rc; /* gone or changed since the walk */
    }
    slot = o->force ? o->now : tb_digest_slot(&c->cfg->mail, sub.freq, o->now);
    if (!o->force && (slot <= sub.covered || slot <= sub.confirmed)) {
        tb_subs_clear(&sub);
        return 0;
    }
    since = sub.covered ? sub.covered : o->now - (sub.freq == TB_SUBS_WEEKLY ? 7 : 1) * DAY;
    tb_buf_init(&msg, TB__DIGEST_CAP);
    rc = build(c, key, &sub, o->now, slot, since, &msg, mid, sizeof(mid), &n, err, errlen);
    if (rc == 0 && n == 0 && o->dry_run == NULL)
        rc = tb_subs_cover(c->st, id, o->now, err, errlen);
    else if (rc == 0 && n > 0 && o->dry_run != NULL)
        rc = o->dry_run(sub.addr, &msg, o->data);
    else if (rc == 0 && n > 0)
        rc = tb_subs_queue(c->st, id, TB_SUBS_MSG_DIGEST, mid, sub.addr, msg.data, msg.len, o->now,
                           o->now, err, errlen);
    if (rc == 0 && n > 0)
        (*queued)++;
    tb_buf_free(&msg);
    tb_subs_clear(&sub);
    return rc;
}

int tb_digest_run(struct tb_store *st, const struct tb_config *cfg,
                  const unsigned char key[TB_MAIL_SECRET_LEN], const struct tb_digest_run_opts *o,
                  size_t *queued, char *err, size_t errlen)
{
    struct ids x = {.to = o->to};
    struct cache c;
    char e2[512];
    size_t i;
    int rc, first = 0;

    *queued = 0;
    /* The ids first: building runs queries and writes of its own, which
     * must not run inside the walk's statement. */
    rc = tb_subs_each(st, 1, collect, &x, err, errlen);
    cache_init(&c, st, cfg);
    /* A topic whose query fails does not hold back the other subscribers;
     * the first failure is reported. Anything else stops the run. */
    for (i = 0; rc == 0 && i < x.n; i++) {
        e2[0] = '\0';
        rc = run_one(&c, key, o, x.v[i], queued, e2, sizeof(e2));
        if (rc != 0 && first == 0) {
            first = rc;
            snprintf(err, errlen, "%s", e2);
        }
        rc = rc == TB_EQUERY ? 0 : rc;
    }
    cache_free(&c);
    free(x.v);
    return rc ? rc : first;
}
