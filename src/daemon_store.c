/*
 * The daemon's store and checkpoint jobs, and the publishing of what they
 * stored. The store job runs on a thread of its own, one at a time, and
 * stores a batch of ready polls in one transaction on the store's second
 * connection (again, for the polls a deadlock or a lock timeout undid:
 * STORE_TRIES); back on the loop the batch's rowids wait for the debounce
 * timer that publishes them, and its polls' states are recorded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tb_db.h"
#include "tb_site.h"
#include "tb_store.h"
#include "tb_vec.h"

#include "daemon_int.h"

#define DEBOUNCE_MS 500
#define DEBOUNCE_MAX_MS 2000
#define BATCH_POLLS 64                      /* polls stored in one transaction ... */
#define BATCH_ENTRIES 5000                  /* ... and entries (but at least one poll) */
#define CHECKPOINT_BYTES ((size_t)40 << 20) /* WAL growth that starts a checkpoint job */
#define STORE_TRIES 4                       /* tries of a poll undone by TB_EDB_RETRY */

/* CPU time of the calling thread in seconds: the store job's own cost,
 * which bounds a first cycle however many cores parse. */
static double thread_cpu(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Stores one poll's feed inside the batch transaction (store job). */
static void put_poll(struct src *s)
{
    struct poll *p = &s->p;

    if (p->rc != 0 || p->feed == NULL || p->skip)
        return;
    /* A poll under a lease stores only while its claim is the latest. */
    if (s->lease.token != 0 && !p->push)
        p->rc = tb_lease_put(s->d->wstore, &s->lease, p->feed, p->prep, now_s(), &p->stats, &p->ids,
                             &p->nids, p->err, sizeof(p->err));
    else
        p->rc = tb_store_put_prepared(s->d->wstore, s->st.source_id, p->feed, p->prep, now_s(),
                                      &p->stats, &p->ids, &p->nids, p->err, sizeof(p->err));
}

/* After a failed commit nothing of the try is stored: every poll of it,
 * v[0..n), that seemed stored fails, so its validators stay and it is
 * fetched again. */
static void batch_failed(struct src **v, size_t n, const char *err)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (v[i]->p.rc != 0)
            continue;
        v[i]->p.rc = TB_ESTORE;
        snprintf(v[i]->p.err, sizeof(v[i]->p.err), "%s", err);
        memset(&v[i]->p.stats, 0, sizeof(v[i]->p.stats));
        v[i]->p.nids = 0;
    }
}

/* Takes the first ready polls, at most BATCH_POLLS of them and (but at
 * least one) BATCH_ENTRIES entries, as a list. */
static size_t nentries(const struct src *s)
{
    return s->p.feed ? s->p.feed->nentries : 0;
}

static struct src *take_batch(struct daemon *d)
{
    struct src *head = d->ready.head, *s = head;
    size_t n = 1, entries = nentries(s);

    while (s->next != NULL && n < BATCH_POLLS && entries + nentries(s->next) <= BATCH_ENTRIES) {
        entries += nentries(s->next);
        s = s->next;
        n++;
    }
    d->ready.head = s->next;
    if (d->ready.head == NULL)
        d->ready.tail = NULL;
    s->next = NULL;
    d->nstoring = n;
    /* Decided here: the loop may remove a source while the job runs. */
    for (s = head; s != NULL; s = s->next)
        s->p.skip = s->removed && !d->stopping;
    tb_log(TB_LOG_DEBUG, "store", "%zu polls, %zu entries in one transaction", n, entries);
    return head;
}

/* Runs fn on every poll of the batch in one transaction of store st; a
 * batch whose transaction cannot start runs one transaction per statement
 * instead. */
static int in_txn(struct tb_store *st, struct src *batch, void (*fn)(struct src *), char *err,
                  size_t errlen)
{
    struct src *s, *next;
    int txn = tb_store_begin(st, err, errlen) == 0;

    if (!txn)
        tb_log(TB_LOG_ERROR, "store", "%s", err);
    for (s = batch; s != NULL; s = next) {
        next = s->next;
        fn(s);
    }
    return txn ? tb_store_commit(st, err, errlen) : 0;
}

/* One try at storing the polls v[0..n) in one transaction: the locks of
 * every paper they carry first, all at once and in order
 * (tb_store_lock_papers: another node's batch storing some of the same
 * papers then waits for this one, or this one for it, never both), then
 * each poll, then the commit. The commit's outcome (TB_EDB_RETRY: nothing
 * of the try is stored, and it can be tried again). */
static int store_try(struct daemon *d, struct src **v, size_t n, char *err, size_t errlen)
{
    const struct tb_feed *feeds[BATCH_POLLS];
    size_t i;
    int txn = tb_store_begin(d->wstore, err, errlen) == 0, rc = 0;

    if (!txn)
        tb_log(TB_LOG_ERROR, "store", "%s", err);
    for (i = 0; i < n; i++)
        feeds[i] = v[i]->p.feed;
    if (txn)
        rc = tb_store_lock_papers(d->wstore, feeds, n, err, errlen);
    for (i = 0; rc == 0 && i < n; i++)
        put_poll(v[i]);
    if (!txn)
        return 0;
    if (rc == 0)
        return tb_store_commit(d->wstore, err, errlen);
    (void)!tb_store_commit(d->wstore, NULL, 0); /* rolls the failed transaction back */
    return rc;
}

/* After a try of v[0..n) whose commit gave rc: moves to the front of v
 * the polls to store again, reset for it (TB_EDB_RETRY: those a deadlock,
 * lock timeout or serialization failure undid, or all of them when it
 * undid the commit); their number. */
static size_t again(struct src **v, size_t n, int rc)
{
    struct poll *p;
    size_t i, k = 0;

    for (i = 0; i < n; i++) {
        p = &v[i]->p;
        if (p->rc != TB_EDB_RETRY && !(rc == TB_EDB_RETRY && p->rc == 0))
            continue;
        free(p->ids);
        p->ids = NULL;
        p->nids = 0;
        memset(&p->stats, 0, sizeof(p->stats));
        p->rc = 0;
        p->err[0] = '\0';
        v[k++] = v[i];
    }
    return k;
}

/* The store job (on a thread of its own): stores the batch's feeds in one
 * transaction of its own connection. It touches only the batch's polls;
 * the loop leaves them alone until the job is over. Two nodes' batches
 * can still deadlock on rows their papers' locks do not cover, and a lock
 * can time out: what that undid is stored again, in a new transaction, up
 * to STORE_TRIES times, rather than failing polls that would be fetched
 * again within their interval. */
static void store_job(void *arg)
{
    struct daemon *d = arg;
    struct src *v[BATCH_POLLS], *s;
    double t0 = thread_cpu();
    int64_t w0 = now_ms();
    char err[512] = "";
    size_t n = 0, total;
    int rc, tries;

    for (s = d->storing; s != NULL && n < BATCH_POLLS; s = s->next)
        if (s->p.rc == 0 && s->p.feed != NULL && !s->p.skip)
            v[n++] = s;
    total = n;
    for (tries = 1;; tries++) {
        rc = store_try(d, v, n, err, sizeof(err));
        if (rc != 0 && rc != TB_EDB_RETRY)
            break;
        if (tries == STORE_TRIES || (n = again(v, n, rc)) == 0)
            break;
        tb_log(TB_LOG_WARN, "store", "%zu of %zu polls undone by %s: storing them again (try %d)",
               n, total, rc == TB_EDB_RETRY && err[0] ? err : "a deadlock or lock timeout",
               tries + 1);
        d->m.store_retries += n;
        err[0] = '\0';
    }
    if (rc != 0) {
        tb_log(TB_LOG_ERROR, "store", "%s", err);
        batch_failed(v, n, err);
    }
    d->m.store_jobs++;
    d->m.store_cpu += thread_cpu() - t0;
    d->m.store_wall += (double)(now_ms() - w0) / 1000;
}

/* The store job's thread: the job, then word to the loop. */
static void store_thread(void *arg)
{
    struct daemon *d = arg;

    store_job(d);
    uv_async_send(&d->store_done);
}

static void kick_store(struct daemon *d);

/* The checkpoint job (a thread-pool thread): copies the WAL back into the
 * database on a connection of its own while the store job goes on. In the
 * store job's commits it was a seventh of the job's time, and that job
 * bounds a first cycle. */
static void ckpt_job(uv_work_t *w)
{
    struct daemon *d = w->data;
    double t0 = thread_cpu();
    char err[512] = "";

    if (tb_store_checkpoint(d->cstore, err, sizeof(err)) != 0)
        tb_log(TB_LOG_ERROR, "store", "%s", err);
    d->m.ckpt_jobs++;
    d->m.ckpt_cpu += thread_cpu() - t0;
}

static void after_ckpt_job(uv_work_t *w, int status)
{
    struct daemon *d = w->data;

    (void)status; /* the job is never cancelled */
    d->checkpointing = 0;
}

/* Starts a checkpoint job once the WAL has grown by CHECKPOINT_BYTES since
 * the last one started (or since it started over), unless one is running. */
static void kick_checkpoint(struct daemon *d)
{
    size_t bytes = tb_store_wal_bytes(d->wstore);

    if (bytes < d->ckpt_from)
        d->ckpt_from = 0;
    if (d->checkpointing || bytes - d->ckpt_from < CHECKPOINT_BYTES)
        return;
    d->ckpt_from = bytes;
    d->checkpointing = 1;
    d->ckpt_work.data = d;
    if (uv_queue_work(&d->loop, &d->ckpt_work, ckpt_job, after_ckpt_job) != 0)
        d->checkpointing = 0; /* the store's own checkpoints remain, past 100 MB of WAL */
}

/* ---------------------------------------------------------- publishing */

/* Rewrites the trending feeds now. */
static void publish_trending(struct daemon *d)
{
    char err[512] = "";

    d->trend_dirty = 0;
    d->trend_last = uv_now(&d->loop);
    if (tb_site_publish_trending(&d->site, tb__daemon_trending_now(d), err, sizeof(err)) != 0)
        tb_log(TB_LOG_ERROR, "publish", "%s", err);
}

/* Timer: the deferred rewrite after changes, then one every TREND_EVERY_MS
 * even when nothing comes in, since scores decay; the pages follow. */
void tb__daemon_on_trend_timer(uv_timer_t *t)
{
    struct daemon *d = t->data;

    /* Several nodes: the decay's rewrite is one node's job per period. */
    if (d->sync != NULL && !d->trend_dirty) {
        (void)tb__daemon_trending_job(d);
        return;
    }
    publish_trending(d);
    /* The pages rank papers by the same decaying scores. */
    tb__daemon_pages_stale(d);
}

/* Trending after changes: now when the last rewrite is TREND_MIN_MS old,
 * else when it will be, so a first cycle storing feeds every second does
 * not walk the window's mentions every second. */
static void kick_trending(struct daemon *d)
{
    uint64_t now = uv_now(&d->loop);

    if (!d->trend_dirty)
        return;
    if (now >= d->trend_last + TREND_MIN_MS) {
        publish_trending(d);
        uv_timer_start(&d->trend_timer, tb__daemon_on_trend_timer, d->trend_every, d->trend_every);
        return;
    }
    uv_timer_start(&d->trend_timer, tb__daemon_on_trend_timer, d->trend_last + TREND_MIN_MS - now,
                   d->trend_every);
}

/* Publishes the changed entries' documents, then trending, which new
 * entries, copies of known ones and mentions all move. */
static void on_publish(uv_timer_t *t)
{
    struct daemon *d = t->data;
    char err[512] = "";
    int rc;

    if (d->npending > 0 || d->pages_stale) {
        /* Changed entries rewrite the pages too; stale pages alone (the
         * sources' poll states changed) only the pages. */
        if (d->npending > 0)
            rc = tb_site_publish_changed(&d->site, d->pending, d->npending, err, sizeof(err));
        else
            rc = tb_site_publish_index(&d->site, err, sizeof(err));
        if (rc)
            tb_log(TB_LOG_ERROR, "publish", "%s", err[0] ? err : tb_strerror(rc));
        if (rc &&
            (rc == TB_EDB_LOST || tb_db_lost(tb_store_sql(d->store)) || tb__daemon_db_down(d))) {
            /* Kept for after the reconnect (daemon_db.c publishes then). */
            tb__daemon_db_kick(d);
            return;
        }
        if (rc == 0)
            tb_log(TB_LOG_DEBUG, "publish", "%zu changed entries published", d->npending);
        d->npending = 0;
        d->pages_stale = 0;
    }
    kick_trending(d);
}

/* (Re)arms the debounce timer: at most DEBOUNCE_MAX_MS after the first
 * change waiting. */
static void arm_publish(struct daemon *d)
{
    uint64_t now = uv_now(&d->loop), delay = DEBOUNCE_MS;

    if (!uv_is_active((uv_handle_t *)&d->pub_timer))
        d->pending_since = now; /* nothing waits yet */
    if (d->once || d->stopping)
        return; /* published at the end */
    if (now + delay > d->pending_since + DEBOUNCE_MAX_MS)
        delay =
            d->pending_since + DEBOUNCE_MAX_MS > now ? d->pending_since + DEBOUNCE_MAX_MS - now : 0;
    uv_timer_start(&d->pub_timer, on_publish, delay, 0);
}

void tb__daemon_pages_stale(struct daemon *d)
{
    d->pages_stale = 1;
    arm_publish(d);
}

/* Remembers stored rowids and (re)arms the debounce timer. */
void tb__daemon_publish_later(struct daemon *d, const int64_t *ids, size_t n)
{
    if (n == 0)
        return;
    if (TB_VEC_RESERVE(d->pending, d->apending, d->npending + n, TB_VEC_MAX) != 0) {
        tb_log(TB_LOG_ERROR, "publish", "out of memory");
        return;
    }
    arm_publish(d);
    memcpy(d->pending + d->npending, ids, n * sizeof(*ids));
    d->npending += n;
    d->trend_dirty = 1;
}

/* A poll stored a feed whose entries were all known: copies from a second
 * source and mentions change trending, so it is rewritten. */
static void trending_later(struct daemon *d, const struct src *s)
{
    if (s->p.rc != 0 || s->p.feed == NULL || s->p.skip || s->p.nids > 0 ||
        s->p.stats.unchanged == 0)
        return;
    arm_publish(d);
    d->trend_dirty = 1;
}

/* -------------------------------------------------- back on the loop */

/* Back on the loop: the batch's new rowids wait to be published, and its
 * polls' states are recorded in a second transaction: a crash between the
 * two loses no entry (a poll whose state is older is fetched again, and
 * dedupe finds its entries). Then the next batch goes. The states go
 * through the store job's connection, idle until the next job starts:
 * SQLite empties a connection's page cache whenever another connection
 * has committed since its last transaction, so with the loop's connection
 * writing between jobs every job read the indexes back from the file
 * (1.7 GB of reads of the WAL in a first cycle of 5,000 sources). */
static void after_store_job(struct daemon *d)
{
    struct src *batch = d->storing, *s;
    char err[512] = "";

    d->storing = NULL;
    for (s = batch; s != NULL; s = s->next) {
        if (s->p.nids > 0)
            tb__daemon_publish_later(d, s->p.ids, s->p.nids);
        trending_later(d, s);
    }
    if (in_txn(d->wstore, batch, tb__daemon_finish, err, sizeof(err)) != 0) {
        tb_log(TB_LOG_ERROR, "state", "%s", err);
        d->sweep_wanted = 1; /* the leases those records ended are ours still */
    }
    tb__daemon_db_kick(d); /* a connection lost by the job is reconnected */
    d->backlog -= d->nstoring;
    kick_checkpoint(d);
    tb__daemon_pump(d);
    /* The store job's connection is free: claims and renewals that waited. */
    tb__daemon_lease_kick(d);
    /* Between store jobs: the arXiv resolver may use this connection. */
    tb__daemon_arxiv_kick(d);
    kick_store(d);
}

/* Starts a store job for the ready polls, unless one is running. */
static void kick_store(struct daemon *d)
{
    /* A connection being made again is replaced when it is up (daemon_db.c
     * starts the store check then). */
    if (d->storing != NULL || d->ready.head == NULL ||
        (d->wstore != NULL && tb__daemon_db_renewing(d, tb_store_sql(d->wstore))))
        return;
    d->storing = take_batch(d);
    if (uv_thread_create(&d->store_thread, store_thread, d) != 0) {
        store_job(d);
        after_store_job(d);
        return;
    }
    uv_ref((uv_handle_t *)&d->store_done); /* the loop lives until the job is over */
}

/* Async handle: the store job's thread is over. */
void tb__daemon_on_store_done(uv_async_t *h)
{
    struct daemon *d = h->data;

    if (d->storing == NULL)
        return;
    uv_thread_join(&d->store_thread);
    uv_unref((uv_handle_t *)h);
    after_store_job(d);
}

/* Check handle: once this loop iteration's I/O is handled, the polls that
 * became ready go to the store job (or wait for the running one's end). */
void tb__daemon_on_store(uv_check_t *h)
{
    kick_store(h->data);
    uv_check_stop(h);
}
