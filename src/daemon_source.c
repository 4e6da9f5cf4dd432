/*
 * The daemon's running sources: each one's memory (freed when its timer is
 * closed and nothing of it is in flight), its stored poll state, and the
 * set of them made to match the config at the start and on every reload.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tb_config.h"
#include "tb_lease.h"
#include "tb_source.h"
#include "tb_store.h"

#include "daemon_int.h"

void tb__daemon_poll_clear(struct poll *p)
{
    free(p->etag);
    free(p->last_modified);
    free(p->permanent_url);
    free(p->charset);
    free(p->link);
    free(p->final_url);
    free(p->body);
    tb_feed_free(p->feed);
    free(p->ids);
    memset(p, 0, sizeof(*p));
}

void tb__daemon_src_unref(struct src *s)
{
    if (--s->refs > 0)
        return;
    tb__daemon_poll_clear(&s->p);
    tb_store_state_clear(&s->st);
    if (s->push != NULL)
        tb_push_sub_clear(s->push);
    free(s->push);
    free(s->push_body);
    free(s->push_hub);
    free(s->push_topic);
    free(s->name);
    free(s->group);
    free(s->url);
    free(s);
}

static void on_timer_closed(uv_handle_t *h)
{
    tb__daemon_src_unref(h->data);
}

/* Drops a source: a poll of it that the fetcher holds or runs ends now
 * (on_fetched() sees it cancelled), its timer closes, its memory goes
 * when idle. */
void tb__daemon_src_remove(struct src *s)
{
    if (s->removed)
        return;
    s->removed = 1;
    if (s->busy && s->d->fetcher != NULL)
        tb_fetcher_cancel(s->d->fetcher, s);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

void tb__daemon_srcs_clear(struct daemon *d)
{
    size_t i;

    for (i = 0; i < d->nsrcs; i++)
        tb__daemon_src_remove(d->srcs[i]);
    d->nsrcs = 0;
}

static struct src *src_new(struct daemon *d, const struct tb_config_source *c)
{
    struct src *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->d = d;
    s->name = strdup(c->name);
    s->url = strdup(c->url);
    s->interval = c->interval;
    s->enabled = c->enabled;
    if (s->name == NULL || s->url == NULL) {
        free(s->name);
        free(s->url);
        free(s);
        return NULL;
    }
    uv_timer_init(&d->loop, &s->timer);
    s->timer.data = s;
    s->refs = 1;
    return s;
}

/* Loads (or creates) the stored state; a fresh source gets a spread first poll. */
static int src_load_state(struct src *s)
{
    struct daemon *d = s->d;
    char err[512] = "";
    int rc = tb_store_state_get(d->store, s->name, s->url, &s->st, err, sizeof(err));

    if (rc) {
        tb_log(TB_LOG_ERROR, s->name, "state: %s", err[0] ? err : tb_strerror(rc));
        return rc;
    }
    if (s->st.next_poll != 0)
        return 0;
    /* Saved at once, so `sources` shows it and a restart keeps the spread;
     * of nodes starting at once, the first one's stays. */
    s->st.next_poll = tb_source_first_poll(s->interval, now_s(), d->cfg->nsources, next_rnd(d));
    rc = tb_lease_first_poll(d->store, s->st.source_id, s->st.next_poll, err, sizeof(err));
    if (rc)
        tb_log(TB_LOG_ERROR, s->name, "state: %s", err);
    return rc;
}

/* ------------------------------------------------------------- sources */

static int src_cmp_name(const void *a, const void *b)
{
    return strcmp((*(struct src *const *)a)->name, (*(struct src *const *)b)->name);
}

/* The running source of that name; d->srcs is sorted by name meanwhile. */
static struct src *find_src(struct daemon *d, const char *name)
{
    struct src key = {.name = (char *)name}, *k = &key, **hit;

    if (d->nsrcs == 0)
        return NULL; /* d->srcs may be NULL, which bsearch must not get */
    hit = bsearch(&k, d->srcs, d->nsrcs, sizeof(*d->srcs), src_cmp_name);
    return hit != NULL ? *hit : NULL;
}

/* Gives the store the source's trending group and weight when they are new
 * or changed. A failure is logged: trending then counts the old values. */
static void src_set_voice(struct src *s, const struct tb_config_source *c)
{
    char err[512] = "";
    char *group;
    int rc;

    if (s->group != NULL && c->group != NULL && strcmp(s->group, c->group) == 0 &&
        s->weight == c->weight)
        return;
    group = c->group ? strdup(c->group) : NULL;
    if (c->group != NULL && group == NULL) {
        tb_log(TB_LOG_ERROR, s->name, "out of memory");
        return;
    }
    rc = tb_store_source_voice(s->d->store, s->st.source_id, group, c->weight, err, sizeof(err));
    if (rc != 0) {
        tb_log(TB_LOG_ERROR, s->name, "trending weight and group: %s",
               err[0] ? err : tb_strerror(rc));
        free(group);
        return;
    }
    free(s->group);
    s->group = group;
    s->weight = c->weight;
}

/* The source for config entry c: the running one when its URL is the same
 * (it keeps its timer and whatever is in flight), else a new one. */
static struct src *adopt(struct daemon *d, const struct tb_config_source *c)
{
    struct src *s = find_src(d, c->name);

    if (s != NULL && strcmp(s->url, c->url) == 0) {
        s->kept = 1;
        s->interval = c->interval;
        s->enabled = c->enabled;
        src_set_voice(s, c);
        return s;
    }
    s = src_new(d, c);
    if (s == NULL) {
        tb_log(TB_LOG_ERROR, c->name, "out of memory");
        return NULL;
    }
    if (src_load_state(s) != 0) {
        tb__daemon_src_remove(s);
        return NULL;
    }
    src_set_voice(s, c);
    tb__daemon_push_load(s);
    return s;
}

/* Whether one of v[0..n) is stored source `id`. */
static int has_source_id(struct src *const *v, size_t n, int64_t id)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (v[i]->st.source_id == id)
            return 1;
    }
    return 0;
}

/* Makes the running sources those of cfg; removed ones close. */
int tb__daemon_sync_sources(struct daemon *d, const struct tb_config *cfg)
{
    struct src **v = calloc(cfg->nsources + 1, sizeof(*v));
    size_t i, n = 0;

    if (v == NULL)
        return -ENOMEM;
    /* Sorted for find_src(): a reload of N sources costs N log N, not N^2. */
    if (d->nsrcs > 0)
        qsort(d->srcs, d->nsrcs, sizeof(*d->srcs), src_cmp_name);
    for (i = 0; i < d->nsrcs; i++)
        d->srcs[i]->kept = 0;
    for (i = 0; i < cfg->nsources; i++) {
        v[n] = adopt(d, &cfg->sources[i]);
        if (v[n] != NULL)
            n++;
    }
    for (i = 0; i < d->nsrcs; i++) {
        if (d->srcs[i]->kept)
            continue;
        /* Gone from the config (not a source whose URL changed: it keeps its row). */
        if (!has_source_id(v, n, d->srcs[i]->st.source_id))
            tb__daemon_push_forget(d->srcs[i]);
        tb__daemon_src_remove(d->srcs[i]);
    }
    free(d->srcs);
    d->srcs = v;
    d->nsrcs = n;
    (void)tb__daemon_lease_index(d); /* logged; claims then follow the stored marks */
    for (i = 0; i < n; i++)
        tb__daemon_schedule(v[i]);
    tb__daemon_pump(d); /* the slots of cancelled polls go to waiting ones */
    return 0;
}

/* The first sync writes a state row for every new source: in one
 * transaction rather than one or two commits per source (with 5,000
 * sources a quarter of a second before the first fetch). A failed commit
 * leaves sources whose rows are gone: they are dropped and the sync is made
 * again, a few times with a growing pause (on PostgreSQL another node's
 * transaction can hold a row past the lock timeout, undoing the whole
 * transaction), before the start fails. */
#define FIRST_SYNC_TRIES 5

static int first_sync_once(struct daemon *d, char *err, size_t errlen)
{
    int txn = tb_store_begin(d->store, err, errlen) == 0;
    int rc = tb__daemon_sync_sources(d, d->cfg);

    if (!txn)
        tb_log(TB_LOG_WARN, "state", "%s", err);
    if (txn && tb_store_commit(d->store, err, errlen) != 0)
        rc = rc ? rc : TB_ESTORE;
    return rc;
}

int tb__daemon_first_sync(struct daemon *d)
{
    char err[512] = "";
    int rc, tries;

    for (tries = 1;; tries++) {
        rc = first_sync_once(d, err, sizeof(err));
        if (rc != TB_ESTORE)
            return rc;
        if (tries == FIRST_SYNC_TRIES) {
            tb_log(TB_LOG_ERROR, "state", "%s", err);
            return rc;
        }
        tb_log(TB_LOG_WARN, "state", "%s: syncing the sources again (try %d of %d)", err, tries + 1,
               FIRST_SYNC_TRIES);
        tb__daemon_srcs_clear(d);
        uv_sleep(200u << tries); /* the loop has not started: nothing waits on it */
    }
}
