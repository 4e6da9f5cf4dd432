/*
 * The daemon's polls by leases (tb_lease.h): a source's timer says it is
 * due, and the sources due are claimed from the database in batches, so
 * that of several nodes sharing one PostgreSQL database exactly one polls
 * each of them; a node alone on SQLite works the same way. A claimed
 * source's state is read again first (another node may have polled it
 * since), and its poll's entries and outcome are written under the
 * claim's token (daemon_store.c, daemon_poll.c). A due source that another
 * node holds or has polled is looked at again when its lease ends, or
 * scheduled by its new next_poll. The leases of polls in flight are
 * renewed every third of the lease; a cancelled poll gives its source back.
 *
 * All of it runs on the loop's thread, through the store job's connection
 * (wstore) while no store job runs: on SQLite a claim is a write, which
 * would wait on the job's transaction, and on PostgreSQL a connection runs
 * one thing at a time. What finds the job running is done after it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tb_lease.h"
#include "tb_store.h"

#include "daemon_int.h"

#define CLAIM_MAX 64 /* sources one claim takes at most */

/* Whether the store job's connection is free for the loop now. */
static int store_free(const struct daemon *d)
{
    return d->storing == NULL && !d->stopping && !d->once;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = (*(struct src *const *)a)->st.source_id;
    int64_t y = (*(struct src *const *)b)->st.source_id;

    return (x > y) - (x < y);
}

/* The running source with that id, or NULL. */
static struct src *by_id(struct daemon *d, int64_t id)
{
    struct src key, *k = &key, **hit;

    if (d->nbyid == 0)
        return NULL;
    key.st.source_id = id;
    hit = bsearch(&k, d->byid, d->nbyid, sizeof(*d->byid), cmp_id);
    return hit != NULL ? *hit : NULL;
}

/* Polls the pipeline can take now without a claim waiting on another. */
static size_t room(const struct daemon *d)
{
    size_t cap = (size_t)d->cfg->max_connections + TB__DAEMON_BACKLOG, used, n = 0;
    const struct src *s;

    for (s = d->waiting.head; s != NULL; s = s->next)
        n++;
    used = d->fetching + d->backlog + n;
    return used < cap ? cap - used : 0;
}

/* Reads s's stored state again (another node may have polled it). */
static int reload(struct src *s)
{
    struct tb_store_state st;
    char err[512] = "";
    int rc = tb_store_state_get(s->d->wstore, s->name, s->url, &st, err, sizeof(err));

    if (rc != 0) {
        tb_log(TB_LOG_ERROR, s->name, "state: %s", err[0] ? err : tb_strerror(rc));
        return rc;
    }
    tb_store_state_clear(&s->st);
    s->st = st;
    return 0;
}

static void not_due(struct src *s)
{
    if (s->due) {
        s->due = 0;
        s->d->ndue--;
    }
}

/* Gives l back: its source is not polled by this node now. */
static void give_back(struct daemon *d, const struct tb_lease *l)
{
    char err[512] = "";

    if (tb_lease_release(d->wstore, l, err, sizeof(err)) != 0)
        tb_log(TB_LOG_DEBUG, "lease", "%s", err);
    d->m.lease_released++;
}

/* A claimed source: polled (1), unless this node does not poll it
 * (another node's config, a push in flight): then given back (0). */
static int take(struct daemon *d, const struct tb_lease *l)
{
    struct src *s = by_id(d, l->source_id);

    if (s == NULL || s->busy || s->removed || !s->enabled || reload(s) != 0 || s->st.gone) {
        give_back(d, l);
        if (s != NULL && !s->busy && !s->removed)
            tb__daemon_schedule(s);
        return 0;
    }
    not_due(s);
    s->lease = *l;
    uv_timer_stop(&s->timer);
    tb__daemon_request_poll(s);
    return 1;
}

/* Due sources the claim did not return: another node holds or polled
 * them. Each is scheduled by its stored state: its next poll, or when
 * the lease holding it ends (at least a second from now). */
static void settle(struct daemon *d)
{
    int64_t now = now_s(), at;
    size_t i;
    struct src *s;

    for (i = 0; i < d->nsrcs && d->ndue > 0; i++) {
        s = d->srcs[i];
        if (!s->due)
            continue;
        if (s->busy) {
            not_due(s); /* a push in flight: its end schedules it */
            continue;
        }
        not_due(s);
        if (reload(s) != 0)
            s->st.next_poll = now + d->cfg->lease;
        if (s->st.next_poll <= now) {
            at = s->st.lease_until > now ? s->st.lease_until : now + 1;
            s->st.next_poll = at;
        }
        tb__daemon_schedule(s);
    }
    /* Sources removed by a reload while due are no longer counted. */
    d->ndue = 0;
    for (i = 0; i < d->nsrcs; i++)
        d->ndue += d->srcs[i]->due != 0;
}

/* After a poll's outcome could not be written (disk full, connection
 * lost, a failed commit), leases this node's name holds on sources it is
 * not polling are stale: they are ended (their tokens moved on), so those
 * sources are claimed again at once rather than after their leases, and
 * scheduled by their stored state. Retried every second until it works. */
static void sweep(struct daemon *d)
{
    char err[512] = "";
    size_t i, n;
    struct src *s;
    int rc = 0;

    for (i = 0; rc == 0 && i < d->nsrcs; i++) {
        s = d->srcs[i];
        if (s->busy || s->lease.token != 0)
            continue;
        n = 0;
        rc = tb_lease_end_own(d->wstore, s->st.source_id, d->cfg->node, &n, err, sizeof(err));
        if (rc == 0 && n > 0 && reload(s) == 0)
            tb__daemon_schedule(s);
    }
    d->sweep_wanted = rc != 0;
    if (rc != 0)
        uv_timer_start(&d->lease_timer, tb__daemon_on_lease_timer, 1000, 0);
}

/* Renews the leases of this node's polls in flight. */
static void renew(struct daemon *d)
{
    int64_t until = now_s() + d->cfg->lease;
    char err[512] = "";
    size_t i;
    struct src *s;
    int rc;

    d->renew_wanted = 0;
    for (i = 0; i < d->nsrcs; i++) {
        s = d->srcs[i];
        if (s->lease.token == 0)
            continue;
        rc = tb_lease_renew(d->wstore, &s->lease, until, err, sizeof(err));
        if (rc == TB_ELEASE)
            tb_log(TB_LOG_WARN, s->name, "lease lost while polling (claimed again since)");
        else if (rc != 0)
            tb_log(TB_LOG_ERROR, s->name, "lease: %s", err);
    }
}

/* Claims what is due while there is room; then settles the rest. */
static void claim(struct daemon *d)
{
    struct tb_lease l[CLAIM_MAX];
    char err[512] = "";
    size_t max, n = 0, i, taken;
    int rc;

    while (d->ndue > 0 && store_free(d)) {
        max = room(d);
        if (max == 0)
            return; /* the end of a poll claims again */
        max = max < CLAIM_MAX ? max : CLAIM_MAX;
        rc = tb_lease_claim(d->wstore, d->cfg->node, now_s(), d->cfg->lease, l, max, &n, err,
                            sizeof(err));
        if (rc != 0) {
            tb_log(TB_LOG_ERROR, "lease", "claim: %s", err[0] ? err : tb_strerror(rc));
            uv_timer_start(&d->lease_timer, tb__daemon_on_lease_timer, 1000, 0);
            return;
        }
        d->m.lease_claimed += n;
        for (i = taken = 0; i < n; i++)
            taken += (size_t)take(d, &l[i]);
        /* Fewer than asked: nothing else is due. Some given back: they
         * would come straight back, so the rest waits for the next kick. */
        if (n < max || taken < n) {
            settle(d);
            return;
        }
    }
}

void tb__daemon_lease_kick(struct daemon *d)
{
    if (!store_free(d) || d->leasing)
        return;
    d->leasing = 1;
    if (d->sweep_wanted)
        sweep(d);
    if (d->renew_wanted)
        renew(d);
    claim(d);
    d->leasing = 0;
}

/* Check handle: the timers that fired in this loop iteration claim once. */
static void on_check(uv_check_t *h)
{
    uv_check_stop(h);
    tb__daemon_lease_kick(h->data);
}

void tb__daemon_lease_due(struct src *s)
{
    struct daemon *d = s->d;

    if (!s->due) {
        s->due = 1;
        d->ndue++;
    }
    uv_check_start(&d->lease_check, on_check);
}

/* Timer: every third of the lease, renewals (and a claim after a failed one). */
void tb__daemon_on_lease_timer(uv_timer_t *t)
{
    struct daemon *d = t->data;
    uint64_t every = (uint64_t)d->cfg->lease * 1000 / 3;

    uint64_t now = uv_now(&d->loop);

    /* A retry of the sweep comes sooner; renewals keep their pace. */
    if (now >= d->renew_last + every) {
        d->renew_wanted = 1;
        d->renew_last = now;
    }
    tb__daemon_lease_kick(d);
    if (!uv_is_active((uv_handle_t *)&d->lease_timer))
        uv_timer_start(&d->lease_timer, tb__daemon_on_lease_timer,
                       d->renew_last + every > now ? d->renew_last + every - now : every, 0);
}

void tb__daemon_lease_drop(struct src *s)
{
    if (s->lease.token == 0)
        return;
    if (store_free(s->d) || (s->d->stopping && s->d->storing == NULL))
        give_back(s->d, &s->lease);
    memset(&s->lease, 0, sizeof(s->lease));
}

int tb__daemon_lease_index(struct daemon *d)
{
    struct src **v = NULL;
    int64_t *ids = NULL;
    char err[512] = "";
    size_t i, n = 0;
    int rc = 0;

    if (d->nsrcs > 0) {
        v = malloc(d->nsrcs * sizeof(*v));
        ids = malloc(d->nsrcs * sizeof(*ids));
        if (v == NULL || ids == NULL) {
            free(v);
            free(ids);
            return -ENOMEM;
        }
        memcpy(v, d->srcs, d->nsrcs * sizeof(*v));
        qsort(v, d->nsrcs, sizeof(*v), cmp_id);
    }
    free(d->byid);
    d->byid = v;
    d->nbyid = d->nsrcs;
    /* The sources this config polls are the ones claimed. */
    for (i = 0; i < d->nsrcs; i++) {
        if (d->srcs[i]->enabled)
            ids[n++] = d->srcs[i]->st.source_id;
    }
    if (!d->once)
        rc = tb_lease_sync(d->store, ids, n, err, sizeof(err));
    if (rc != 0)
        tb_log(TB_LOG_ERROR, "lease", "sync: %s", err[0] ? err : tb_strerror(rc));
    free(ids);
    return rc;
}

int tb__daemon_lease_start(struct daemon *d)
{
    char err[512] = "";
    size_t n = 0;

    /* This node's leases are its dead predecessor's (a node's name is its own). */
    if (tb_lease_forget(d->store, d->cfg->node, &n, err, sizeof(err)) != 0)
        tb_log(TB_LOG_ERROR, "lease", "%s", err);
    else if (n > 0)
        tb_log(TB_LOG_INFO, "lease", "%zu sources leased by %s before this start taken back", n,
               d->cfg->node);
    uv_check_init(&d->loop, &d->lease_check);
    d->lease_check.data = d;
    uv_timer_init(&d->loop, &d->lease_timer);
    d->lease_timer.data = d;
    d->lease_on = 1;
    d->renew_last = uv_now(&d->loop);
    if (!d->once)
        uv_timer_start(&d->lease_timer, tb__daemon_on_lease_timer,
                       (uint64_t)d->cfg->lease * 1000 / 3, 0);
    return 0;
}

void tb__daemon_lease_stop(struct daemon *d)
{
    if (!d->lease_on)
        return;
    d->lease_on = 0;
    uv_close((uv_handle_t *)&d->lease_check, NULL);
    uv_close((uv_handle_t *)&d->lease_timer, NULL);
}

void tb__daemon_lease_metrics(const struct daemon *d, struct tb_buf *out)
{
    (void)!tb_buf_addf(out,
                       "# TYPE tributary_node_polls_total counter\n"
                       "tributary_node_polls_total{node=\"%s\"} %lu\n"
                       "# TYPE tributary_leases_total counter\n"
                       "tributary_leases_total{outcome=\"claimed\"} %lu\n"
                       "tributary_leases_total{outcome=\"released\"} %lu\n"
                       "tributary_leases_total{outcome=\"lost\"} %lu\n",
                       d->cfg->node, d->m.node_polls, d->m.lease_claimed, d->m.lease_released,
                       d->m.lease_lost);
}
