/*
 * Several nodes on one PostgreSQL database: every node re-renders what the
 * others stored (tb_changes.h). Each node's stores record the entries
 * they store in the change feed, under the node's name, and NOTIFY
 * TB_CHANGES_CHANNEL in the same transaction; each node listens
 * (tb_listen.h) and, on another node's notification, on "connected again"
 * (notifications sent meanwhile are lost) and every SYNC_EVERY_MS as a
 * safety net, reads the feed after its cursor and hands the other nodes'
 * entries to the same debounced publishing as its own polls
 * (tb__daemon_publish_later: all.*, their topics, the pages, then
 * trending). A node that was away longer than the feed is kept
 * publishes everything. Trending is ranked as of the cluster's moment
 * (tb_changes_trending_set): a node that recomputes it stores the moment
 * and NOTIFYs, the others render as of it (d->site.now, also the pages').
 * The pages that say why a list is empty follow the sources' poll states:
 * a node that records a change of them NOTIFYs TB_CHANGES_PAGES, and each
 * node (on that notification, and with the safety net) publishes its
 * pages again when the states' fingerprint moved.
 * Nothing of this runs on SQLite (one node).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tb_changes.h"
#include "tb_db.h"
#include "tb_hash.h"
#include "tb_jobs.h"
#include "tb_listen.h"

#include "daemon_int.h"

#define SYNC_EVERY_MS (30 * 1000) /* the safety net's period */
#define SYNC_PAGE 5000            /* change rows read per query */
#define KEEP_S (3600)             /* change rows are kept this long (s) */
#define PRUNE_EVERY_S (600)       /* and pruned this often by each node */
#define DOC_KEEP_S (24 * 3600)    /* documents' older versions are kept this long (s) */

struct sync {
    struct daemon *d;
    struct tb_listen *listen; /* or NULL when it could not start */
    uv_timer_t timer;         /* the safety net */
    char node[300];           /* this node's name in the feed */
    int64_t cursor;           /* the last change seq handled */
    int64_t read_at;          /* epoch s of the last successful read */
    int64_t pruned_at;        /* epoch s of the last prune */
    uint64_t polls_fp;        /* fingerprint of the poll states the pages last showed */
};

/* Reads the feed after the cursor; the other nodes' entries go to
 * publishing. When the last read is older than the feed keeps rows, the
 * rows between may be gone: everything is published instead. */
static void catch_up(struct sync *y, const char *why)
{
    struct daemon *d = y->d;
    int64_t *ids = NULL, last = 0, head = 0, now = now_s();
    size_t n = 0, total = 0;
    char err[512] = "";
    int more = 1, rc = 0;

    if (d->stopping)
        return;
    if (now - y->read_at > KEEP_S / 2) {
        rc = tb_changes_head(d->store, &head, err, sizeof(err));
        rc = rc ? rc : tb_site_publish_all(&d->site, err, sizeof(err));
        if (rc == 0) {
            y->cursor = head;
            y->read_at = now;
            tb_log(TB_LOG_INFO, "sync", "%s: away too long, published everything", why);
        } else {
            tb_log(TB_LOG_ERROR, "sync", "%s: %s", why, err[0] ? err : tb_strerror(rc));
        }
        return;
    }
    while (rc == 0 && more) {
        rc = tb_changes_read(d->store, y->cursor, y->node, SYNC_PAGE, &ids, &n, &last, &more, err,
                             sizeof(err));
        if (rc != 0)
            break;
        tb__daemon_publish_later(d, ids, n);
        total += n;
        free(ids);
        ids = NULL;
        y->cursor = last;
    }
    if (rc != 0) {
        tb_log(TB_LOG_WARN, "sync", "%s: reading the change feed: %s", why,
               err[0] ? err : tb_strerror(rc));
        return;
    }
    y->read_at = now;
    if (total > 0)
        tb_log(TB_LOG_DEBUG, "sync", "%s: %zu entries stored by other nodes", why, total);
    if (now - y->pruned_at >= PRUNE_EVERY_S) {
        y->pruned_at = now;
        if (tb_changes_prune(d->store, now - KEEP_S, err, sizeof(err)) != 0)
            tb_log(TB_LOG_WARN, "sync", "pruning the change feed: %s", err);
        /* A node far behind may still render an old version: kept a day. */
        if (tb_changes_doc_prune(d->store, now - DOC_KEEP_S, err, sizeof(err)) != 0)
            tb_log(TB_LOG_WARN, "sync", "pruning the documents' versions: %s", err);
    }
}

/* Renders trending as of the cluster's moment when it moved (another node
 * recomputed it, or this one missed the notification). */
static void trending_follow(struct sync *y)
{
    struct daemon *d = y->d;
    char err[512] = "";
    int64_t at = 0;
    int rc = tb_changes_trending_at(d->store, &at, err, sizeof(err));

    if (rc != 0) {
        tb_log(TB_LOG_WARN, "sync", "reading the trending moment: %s", err);
        return;
    }
    if (at == 0 || at == d->site.now || d->stopping)
        return;
    d->site.now = at;
    if (tb_site_publish_trending(&d->site, at, err, sizeof(err)) != 0)
        tb_log(TB_LOG_ERROR, "publish", "%s", err);
    tb__daemon_pages_stale(d); /* their trending lists too */
}

/* What the pages read of the poll states (tb_page_why_empty: which
 * sources were never polled, which failed at their last poll), hashed. */
static int polls_fingerprint(struct daemon *d, uint64_t *fp)
{
    struct tb_store_state *st = NULL;
    char err[256] = "";
    size_t n = 0, i;
    unsigned bits;

    if (tb_store_state_list(d->store, &st, &n, err, sizeof(err)) != 0) {
        tb_log(TB_LOG_WARN, "sync", "reading the poll states: %s", err);
        return -1;
    }
    *fp = 1;
    for (i = 0; i < n; i++) {
        bits = (unsigned)(st[i].last_attempt == 0) | (unsigned)(st[i].failures > 0) << 1;
        *fp = (*fp ^ tb_fnv1a(st[i].name, strlen(st[i].name))) * 0x100000001b3ULL + bits;
    }
    tb_store_state_free(st, n);
    return 0;
}

/* Publishes the pages again when the poll states they show moved (another
 * node recorded a failing streak's start or end, a first poll). */
static void pages_follow(struct sync *y)
{
    uint64_t fp;

    if (y->d->stopping || polls_fingerprint(y->d, &fp) != 0 || fp == y->polls_fp)
        return;
    y->polls_fp = fp;
    tb__daemon_pages_stale(y->d);
}

void tb__daemon_pages_moved(struct daemon *d)
{
    char err[256] = "";

    tb__daemon_pages_stale(d);
    /* In the recording's transaction: the others read the new states. */
    if (d->wstore != NULL && tb_changes_notify(d->wstore, TB_CHANGES_PAGES, err, sizeof(err)) != 0)
        tb_log(TB_LOG_WARN, "sync", "telling the other nodes: %s", err);
}

static void on_notify(void *data, const char *channel, const char *payload, int pid)
{
    struct sync *y = data;

    (void)channel;
    (void)pid;
    if (strcmp(payload, TB_CHANGES_TRENDING) == 0)
        trending_follow(y);
    else if (strcmp(payload, TB_CHANGES_PAGES) == 0)
        pages_follow(y);
    else if (strcmp(payload, y->node) != 0)
        catch_up(y, "notified");
}

int64_t tb__daemon_trending_now(struct daemon *d)
{
    int64_t now = now_s(), at = now;
    char err[512] = "";

    if (d->sync == NULL)
        return d->site.now ? d->site.now : now;
    if (tb_changes_trending_set(d->store, now, &at, err, sizeof(err)) != 0) {
        tb_log(TB_LOG_WARN, "sync", "storing the trending moment: %s", err);
        return d->site.now ? d->site.now : now;
    }
    d->site.now = at;
    return at;
}

/* The claimed run of the job "trending": moves the cluster's moment under
 * the claim's fence, then renders as of it; the NOTIFY in the same
 * transaction makes the others follow. 0, TB_ELEASE (another claim took
 * the job over: nothing written) or a store error. */
static int trending_run(struct daemon *d, const struct tb_job *j, int64_t now)
{
    char err[512] = "";
    int64_t at = now;
    int rc = tb_changes_trending_run(d->store, j, now, &at, err, sizeof(err));

    if (rc != 0) {
        tb_log(rc == TB_ELEASE ? TB_LOG_WARN : TB_LOG_ERROR, "trending", "recomputation: %s",
               err[0] ? err : tb_strerror(rc));
        return rc;
    }
    d->site.now = at;
    d->trend_last = uv_now(&d->loop);
    tb_log(TB_LOG_INFO, "trending", "recomputed as of %lld (job run %lld)", (long long)at,
           (long long)j->token);
    if (tb_site_publish_trending(&d->site, at, err, sizeof(err)) != 0)
        tb_log(TB_LOG_ERROR, "publish", "%s", err);
    tb__daemon_pages_stale(d); /* their trending lists too */
    return 0;
}

int tb__daemon_trending_job(struct daemon *d)
{
    struct tb_job j;
    char err[512] = "";
    int64_t now = now_s(), due = 0, every = (int64_t)(d->trend_every / 1000);
    uint64_t wait;
    int rc;

    if (d->sync == NULL || d->stopping)
        return 0;
    rc = tb_jobs_claim(d->store, "trending", d->cfg->node, now, d->cfg->lease,
                       every > 0 ? every : 1, &j, &due, err, sizeof(err));
    if (rc == 1) {
        rc = trending_run(d, &j, now);
        if (rc == 0)
            rc = tb_jobs_done(d->store, &j, d->cfg->node, now_s(), err, sizeof(err));
        else if (rc != TB_ELEASE)
            rc = tb_jobs_release(d->store, &j, err, sizeof(err));
        if (rc != 0)
            tb_log(TB_LOG_WARN, "trending", "job: %s", err[0] ? err : tb_strerror(rc));
        return 1;
    }
    if (rc < 0)
        tb_log(TB_LOG_WARN, "trending", "claiming the recomputation: %s",
               err[0] ? err : tb_strerror(rc));
    /* Another node ran it (its NOTIFY brings the moment here) or holds
     * it: try again when it may be due, should that node be gone. */
    wait = rc == 0 && due > now ? (uint64_t)(due - now) * 1000 + 100 : 1000;
    if (wait > d->trend_every)
        wait = d->trend_every;
    uv_timer_start(&d->trend_timer, tb__daemon_on_trend_timer, wait, d->trend_every);
    return rc < 0 ? rc : 0;
}

static void on_state(void *data, int up, const char *why)
{
    struct sync *y = data;

    if (!up) {
        tb_log(TB_LOG_WARN, "sync", "listening connection lost: %s", why);
        return;
    }
    tb_log(TB_LOG_INFO, "sync", "listening for other nodes' changes");
    catch_up(y, "connected");
    trending_follow(y);
    pages_follow(y);
}

static void on_timer(uv_timer_t *t)
{
    catch_up(t->data, "timer");
    trending_follow(t->data);
    pages_follow(t->data);
}

/* This node's name: the config's `node` (default HOST:PORT of its listen
 * address), else HOST:PORT; a one-off `fetch`: NAME:fetch:PID, never a
 * serving node's name. */
static void node_name(const struct daemon *d, char *out, size_t n)
{
    char host[256] = "localhost", name[600];
    const char *port = d->cfg->listen ? strrchr(d->cfg->listen, ':') : NULL;

    (void)gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    if (d->cfg->node != NULL && d->cfg->node[0] != '\0')
        snprintf(name, sizeof(name), "%s", d->cfg->node);
    else
        snprintf(name, sizeof(name), "%s:%s", host, port ? port + 1 : "0");
    if (d->once)
        snprintf(out, n, "%.250s:fetch:%ld", name, (long)getpid());
    else
        snprintf(out, n, "%.290s", name);
}

/* The database URI with application_name=tributary-sync-NODE (for
 * pg_stat_activity: which node's listener a connection is). */
static int listen_uri(const struct sync *y, char *out, size_t n)
{
    const char *uri = y->d->cfg->database;
    char name[400];
    size_t i, j = 0;

    /* Node names are host names and ports: keep [A-Za-z0-9.-], the rest '-'. */
    for (i = 0; y->node[i] != '\0' && j + 1 < sizeof(name); i++) {
        char c = y->node[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-';

        name[j++] = ok ? c : '-';
    }
    name[j] = '\0';
    if ((size_t)snprintf(out, n, "%s%capplication_name=tributary-sync-%s", uri,
                         strchr(uri, '?') ? '&' : '?', name) >= n)
        return -ENAMETOOLONG;
    return 0;
}

int tb__daemon_sync_start(struct daemon *d)
{
    static const char *const channels[] = {TB_CHANGES_CHANNEL};
    struct tb_listen_cbs cbs = {.notify = on_notify, .state = on_state};
    struct sync *y;
    char err[512] = "", uri[4096];
    int rc;

    if (!tb_db_is_pg(d->cfg->database))
        return 0;
    y = calloc(1, sizeof(*y));
    if (y == NULL)
        return -ENOMEM;
    y->d = d;
    node_name(d, y->node, sizeof(y->node));
    rc = tb_changes_enable(d->store, y->node);
    rc = rc ? rc : tb_changes_enable(d->wstore, y->node);
    rc = rc ? rc : tb_changes_enable(d->cstore, y->node);
    /* From here on: what was stored before, the first publish_all shows. */
    if (rc == 0 && d->once) {
        free(y); /* recording is all a one-off does */
        return 0;
    }
    rc = rc ? rc : tb_changes_head(d->store, &y->cursor, err, sizeof(err));
    rc = rc ? rc : listen_uri(y, uri, sizeof(uri));
    if (rc != 0) {
        tb_log(TB_LOG_ERROR, "sync", "%s", err[0] ? err : tb_strerror(rc));
        free(y);
        return rc;
    }
    /* The first publish_all ranks trending as of now, for the cluster too. */
    rc = rc ? rc : tb_changes_trending_set(d->store, now_s(), &d->site.now, err, sizeof(err));
    if (rc != 0) {
        tb_log(TB_LOG_ERROR, "sync", "%s", err[0] ? err : tb_strerror(rc));
        free(y);
        return rc;
    }
    y->read_at = now_s();
    y->pruned_at = 0;
    /* What the first publish_all shows. */
    (void)polls_fingerprint(d, &y->polls_fp);
    cbs.data = y;
    rc = tb_listen_start(&y->listen, &d->loop, uri, channels, 1, &cbs, err, sizeof(err));
    if (rc != 0) {
        tb_log(TB_LOG_ERROR, "sync", "listen: %s", err[0] ? err : tb_strerror(rc));
        free(y);
        return rc;
    }
    uv_timer_init(&d->loop, &y->timer);
    y->timer.data = y;
    uv_timer_start(&y->timer, on_timer, SYNC_EVERY_MS, SYNC_EVERY_MS);
    d->sync = y;
    tb_log(TB_LOG_INFO, "sync", "node %s, change feed from %lld", y->node, (long long)y->cursor);
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void tb__daemon_sync_stop(struct daemon *d)
{
    struct sync *y = d->sync;

    if (y == NULL)
        return;
    d->sync = NULL;
    tb_listen_stop(y->listen);
    y->listen = NULL;
    uv_close((uv_handle_t *)&y->timer, on_closed);
}
