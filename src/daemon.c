/*
 * The daemon: every stage wired on one libuv loop.
 *
 * Scheduling uses one uv_timer per source, firing at its stored next_poll.
 * libuv keeps its timers in a binary min-heap already, so a second heap of
 * our own would only duplicate it; a timer per source also makes reload
 * simple (a removed source closes its timer, a new one starts its own).
 *
 * A poll: timer -> wait for a slot -> tb_fetcher_add (stored ETag /
 * Last-Modified) -> on 200 parse + normalize + tb_store_prepare_indexed
 * (derived columns and FTS tokens) on libuv's thread pool (the parser is
 * pure) -> ready queue -> store job -> state row
 * (tb_source_after_fetch). The store job runs on a thread of its own (one
 * per job, one job at a time) with its own database connection, at a
 * higher priority than the pool threads that parse (PARSE_NICE): it stores
 * the ready feeds,
 * up to BATCH_POLLS / BATCH_ENTRIES per transaction (one commit and one FTS
 * segment for many feeds), while the loop goes on fetching and parsing;
 * back on the loop, their states are recorded in a second transaction (on
 * the same connection, so its page cache survives) and the next job takes
 * whatever became ready meanwhile. Once a job has grown the WAL by 40 MB, a
 * checkpoint job copies it back on a third connection, beside the next
 * store job rather than inside its commit. Slots bound the work
 * in flight: a due source waits while many fetches run or many fetched
 * polls wait to be stored, so memory does not grow with the number of
 * sources.
 * Stored rowids collect in `pending`; a debounce timer publishes them (500
 * ms after the last ingest, at most 2 s after the first one waiting).
 *
 * A source's memory lives until both its timer is closed and no fetch or
 * parse is in flight (`refs`). A source removed by a reload drops whatever
 * its in-flight poll brings back.
 */
#include "tb_daemon.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include "tb_config.h"
#include "tb_fetcher.h"
#include "tb_http.h"
#include "tb_normalize.h"
#include "tb_parse.h"
#include "tb_publish.h"
#include "tb_site.h"
#include "tb_source.h"
#include "tb_store.h"
#include "tb_topic.h"

#define DEBOUNCE_MS 500
#define DEBOUNCE_MAX_MS 2000
#define MAX_CACHE_AGE 3600
#define BACKLOG 24                          /* polls fetched and waiting to be parsed or stored */
#define BATCH_POLLS 64                      /* polls stored in one transaction ... */
#define BATCH_ENTRIES 5000                  /* ... and entries (but at least one poll) */
#define PARSE_NICE 10                       /* pool threads' nice value */
#define CHECKPOINT_BYTES ((size_t)40 << 20) /* WAL growth that starts a checkpoint job */

struct daemon;

/* What came back from one fetch, kept while the body is being parsed. */
struct poll {
    int rc;                      /* fetch, parse or store outcome */
    char err[512];               /* reason when rc != 0 */
    long status;                 /* HTTP status, or 0 */
    int64_t retry_after;         /* absolute epoch s, or 0 */
    int64_t max_age;             /* Cache-Control max-age, or -1 */
    double seconds;              /* transfer time */
    char *etag;                  /* new validators, or NULL */
    char *last_modified;         /* ... */
    char *permanent_url;         /* where a 301/308 chain led, or NULL */
    char *charset;               /* HTTP charset, or NULL */
    char *final_url;             /* base URL for the parser */
    char *body;                  /* the 200 body (freed by the worker) */
    size_t len;                  /* its length */
    size_t max_body;             /* parser cap */
    struct tb_feed *feed;        /* parsed and normalized, or NULL */
    struct tb_store_prep *prep;  /* its derived columns (in its arena), or NULL */
    int skip;                    /* not to be stored: its source was removed */
    struct tb_store_stats stats; /* what storing it did */
    int64_t *ids;                /* rowids it added or updated, published once committed */
    size_t nids;                 /* their number */
};

struct src {
    struct daemon *d;         /* owner */
    char *name;               /* config name (owned) */
    char *url;                /* config URL (owned) */
    int64_t interval;         /* config interval, seconds */
    int enabled;              /* config enabled */
    struct tb_store_state st; /* stored poll state */
    uv_timer_t timer;         /* fires at st.next_poll */
    uv_work_t work;           /* parse job */
    struct poll p;            /* the poll in flight */
    int busy;                 /* waiting for a slot, or a poll is in flight */
    struct src *next;         /* in the daemon's wait or ready queue */
    int refs;                 /* timer open + busy; freed at 0 */
    int removed;              /* dropped by reload or shutdown */
    int kept;                 /* adopted by the sync running now */
};

struct metrics {
    unsigned long fetch_ok;        /* 200 */
    unsigned long fetch_notmod;    /* 304 */
    unsigned long fetch_error;     /* failed */
    unsigned long entries_new;     /* stored new */
    unsigned long entries_updated; /* updated in place */
    unsigned long store_jobs;      /* store jobs run */
    double store_cpu;              /* their CPU time in seconds (thread time) */
    double store_wall;             /* their wall time in seconds */
    unsigned long ckpt_jobs;       /* checkpoint jobs run */
    double ckpt_cpu;               /* their CPU time in seconds */
};

/* A FIFO of sources linked through src.next. */
struct queue {
    struct src *head, *tail; /* first out, last in; NULL when empty */
};

struct daemon {
    uv_loop_t loop;             /* the one loop */
    const char *config_path;    /* for reloads */
    struct tb_config *cfg;      /* current config */
    struct tb_store *store;     /* the database, for the loop thread */
    struct tb_store *wstore;    /* another connection: the store job's and the poll states' */
    struct tb_store *cstore;    /* a third one, the checkpoint job's */
    struct tb_fetcher *fetcher; /* HTTP client */
    struct tb_http *http;       /* server, or NULL when once */
    struct tb_site site;        /* publisher */
    struct src **srcs;          /* current sources */
    size_t nsrcs;               /* number of them */
    uv_signal_t sig[3];         /* TERM, INT, HUP */
    uv_timer_t pub_timer;       /* debounced publishing */
    int64_t *pending;           /* rowids stored since the last publish */
    size_t npending, apending;  /* count, allocated */
    uint64_t pending_since;     /* uv_now() of the first pending ingest */
    int stopping;               /* shutting down */
    int once;                   /* `fetch`: one cycle */
    size_t once_left;           /* once: polls still running */
    size_t once_failed;         /* once: polls that failed */
    uint64_t rnd;               /* xorshift state for jitter */
    struct metrics m;           /* counters for /metrics */
    struct queue waiting;       /* due sources waiting for a slot (busy, one ref each) */
    struct queue ready;         /* polls done, to store and record (busy, one ref each) */
    uv_check_t store_check;     /* active while `ready` is not empty */
    uv_thread_t store_thread;   /* runs the store job */
    uv_async_t store_done;      /* its end, back on the loop */
    uv_work_t ckpt_work;        /* the checkpoint job */
    int checkpointing;          /* it is running */
    size_t ckpt_from;           /* WAL bytes when the last one started */
    struct src *storing;        /* the batch it stores (a list), or NULL when idle */
    size_t nstoring;            /* polls in that batch */
    size_t fetching;            /* polls started and not fetched yet */
    size_t backlog;             /* polls fetched and not recorded yet */
};

static void schedule(struct src *s);
static void stop(struct daemon *d);
static void start_poll(struct src *s);
static void on_store(uv_check_t *h);

static double next_rnd(struct daemon *d)
{
    d->rnd ^= d->rnd << 13;
    d->rnd ^= d->rnd >> 7;
    d->rnd ^= d->rnd << 17;
    return (double)(d->rnd >> 11) / (double)(1ULL << 53);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Epoch seconds from the same clock as now_ms() (time() may lag behind it). */
/* CPU time of the calling thread in seconds: the store job's own cost,
 * which bounds a first cycle however many cores parse. */
static double thread_cpu(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_s(void)
{
    return now_ms() / 1000;
}

static void replace_str(char **dst, char *src)
{
    free(*dst);
    *dst = src;
}

/* ------------------------------------------------------------ lifetime */

static void poll_clear(struct poll *p)
{
    free(p->etag);
    free(p->last_modified);
    free(p->permanent_url);
    free(p->charset);
    free(p->final_url);
    free(p->body);
    tb_feed_free(p->feed);
    free(p->ids);
    memset(p, 0, sizeof(*p));
}

static void src_unref(struct src *s)
{
    if (--s->refs > 0)
        return;
    poll_clear(&s->p);
    tb_store_state_clear(&s->st);
    free(s->name);
    free(s->url);
    free(s);
}

static void on_timer_closed(uv_handle_t *h)
{
    src_unref(h->data);
}

/* Drops a source: a poll of it that the fetcher holds or runs ends now
 * (on_fetched() sees it cancelled), its timer closes, its memory goes
 * when idle. */
static void src_remove(struct src *s)
{
    if (s->removed)
        return;
    s->removed = 1;
    if (s->busy && s->d->fetcher != NULL)
        tb_fetcher_cancel(s->d->fetcher, s);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
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
    /* Saved at once, so `sources` shows it and a restart keeps the spread. */
    s->st.next_poll = tb_source_first_poll(s->interval, now_s(), d->cfg->nsources, next_rnd(d));
    rc = tb_store_state_put(d->store, &s->st, err, sizeof(err));
    if (rc)
        tb_log(TB_LOG_ERROR, s->name, "state: %s", err);
    return rc;
}

/* ---------------------------------------------------------- publishing */

static void on_publish(uv_timer_t *t)
{
    struct daemon *d = t->data;
    char err[512] = "";
    int rc;

    if (d->npending == 0)
        return;
    rc = tb_site_publish_changed(&d->site, d->pending, d->npending, err, sizeof(err));
    if (rc)
        tb_log(TB_LOG_ERROR, "publish", "%s", err[0] ? err : tb_strerror(rc));
    else
        tb_log(TB_LOG_DEBUG, "publish", "%zu changed entries published", d->npending);
    d->npending = 0;
}

/* Remembers stored rowids and (re)arms the debounce timer. */
static void publish_later(struct daemon *d, const int64_t *ids, size_t n)
{
    uint64_t now = uv_now(&d->loop), delay = DEBOUNCE_MS;
    int64_t *v;

    if (n == 0)
        return;
    if (d->npending + n > d->apending) {
        size_t a = (d->npending + n) * 2;

        v = realloc(d->pending, a * sizeof(*v));
        if (v == NULL) {
            tb_log(TB_LOG_ERROR, "publish", "out of memory");
            return;
        }
        d->pending = v;
        d->apending = a;
    }
    if (d->npending == 0)
        d->pending_since = now;
    memcpy(d->pending + d->npending, ids, n * sizeof(*ids));
    d->npending += n;
    if (d->once || d->stopping)
        return; /* published at the end */
    if (now + delay > d->pending_since + DEBOUNCE_MAX_MS)
        delay =
            d->pending_since + DEBOUNCE_MAX_MS > now ? d->pending_since + DEBOUNCE_MAX_MS - now : 0;
    uv_timer_start(&d->pub_timer, on_publish, delay, 0);
}

/* ------------------------------------------------------------- polling */

/* Applies an outcome to the state, saves it and logs it. */
static void record(struct src *s)
{
    struct tb_source_state ss = {s->st.next_poll,   s->st.last_attempt, s->st.last_success,
                                 s->st.last_status, s->st.failures,     !s->st.enabled};
    struct tb_source_outcome o = {s->p.rc, s->p.status, s->p.retry_after, s->p.max_age,
                                  s->st.ttl_minutes};
    struct poll *p = &s->p;
    char err[512] = "", msg[600] = "";

    /* Retry-After counts from a moment we only know to the second: one more
     * second makes sure no request goes out before the upstream allowed. */
    if (o.retry_after > 0)
        o.retry_after++;
    if (p->feed != NULL)
        o.ttl_minutes = s->st.ttl_minutes = p->feed->ttl_minutes;
    tb_source_after_fetch(&ss, s->interval, now_s(), &o, next_rnd(s->d));
    s->st.next_poll = ss.next_poll;
    s->st.last_attempt = ss.last_attempt;
    s->st.last_success = ss.last_success;
    s->st.last_status = ss.last_status;
    s->st.failures = ss.failures;
    s->st.enabled = !ss.disabled;
    if (p->rc == 0) {
        /* A 200 replaces both validators; a 304 only refreshes those it sent. */
        if (p->status == 200 || p->etag) {
            replace_str(&s->st.etag, p->etag);
            p->etag = NULL;
        }
        if (p->status == 200 || p->last_modified) {
            replace_str(&s->st.last_modified, p->last_modified);
            p->last_modified = NULL;
        }
        if (p->feed && p->feed->error)
            snprintf(msg, sizeof(msg), "parse: %s", p->feed->error);
    } else {
        snprintf(msg, sizeof(msg), "%s", p->err[0] ? p->err : tb_strerror(p->rc));
    }
    replace_str(&s->st.last_error, msg[0] ? strdup(msg) : NULL);
    if (p->permanent_url) {
        tb_log(TB_LOG_INFO, s->name, "moved permanently to %s", p->permanent_url);
        replace_str(&s->st.url, p->permanent_url);
        p->permanent_url = NULL;
    }
    if (p->status == 410)
        tb_log(TB_LOG_WARN, s->name, "410 Gone: source disabled");
    if (tb_store_state_put(s->d->wstore, &s->st, err, sizeof(err)))
        tb_log(TB_LOG_ERROR, s->name, "state: %s", err);
}

static void count(struct daemon *d, const struct poll *p)
{
    if (p->rc)
        d->m.fetch_error++;
    else if (p->status == 304)
        d->m.fetch_notmod++;
    else
        d->m.fetch_ok++;
    d->m.entries_new += p->stats.added;
    d->m.entries_updated += p->stats.updated;
}

/* The log line, and in `fetch` the progress line on stdout. */
static void report(struct src *s)
{
    const struct poll *p = &s->p;
    char what[600], status[24] = "---"; /* "---": no HTTP answer at all */

    if (p->rc)
        snprintf(what, sizeof(what), "error: %s", s->st.last_error ? s->st.last_error : "?");
    else if (p->status == 304)
        snprintf(what, sizeof(what), "not modified");
    else
        snprintf(what, sizeof(what), "%zu new, %zu updated%s%s", p->stats.added, p->stats.updated,
                 s->st.last_error ? "; warning: " : "", s->st.last_error ? s->st.last_error : "");
    if (p->status > 0)
        snprintf(status, sizeof(status), "%ld", p->status);
    tb_log(p->rc ? TB_LOG_WARN : TB_LOG_INFO, s->name, "%s %s (%.2fs)", status, what, p->seconds);
    if (s->d->once) {
        printf("%-24s %3s  %s  %.2fs\n", s->name, status, what, p->seconds);
        fflush(stdout);
    }
}

/* The end of every poll that was not cancelled, once it is stored. */
static void finish(struct src *s)
{
    struct daemon *d = s->d;

    /* A source dropped by a reload ignores its last poll; at shutdown the
     * poll that was already being parsed is still stored and recorded. */
    if (!s->removed || d->stopping) {
        record(s);
        count(d, &s->p);
        report(s);
    }
    if (d->once) {
        d->once_failed += s->p.rc != 0;
        if (--d->once_left == 0)
            stop(d);
    }
    poll_clear(&s->p);
    s->busy = 0;
    schedule(s);
    src_unref(s);
}

static void queue_push(struct queue *q, struct src *s)
{
    s->next = NULL;
    if (q->tail != NULL)
        q->tail->next = s;
    else
        q->head = s;
    q->tail = s;
}

static struct src *queue_pop(struct queue *q)
{
    struct src *s = q->head;

    if (s != NULL) {
        q->head = s->next;
        if (q->head == NULL)
            q->tail = NULL;
        s->next = NULL;
    }
    return s;
}

/* A poll is over (parsed, or failed, or nothing to parse): it is stored
 * with the others that are ready once this loop iteration's I/O is handled.
 * From its fetch until it is stored, it counts in the backlog. */
static void poll_done(struct src *s)
{
    struct daemon *d = s->d;

    queue_push(&d->ready, s);
    uv_check_start(&d->store_check, on_store);
}

/* New polls start only while few are in flight, so that memory stays
 * bounded however many sources are due: polls fetching and polls fetched
 * but not stored yet together stay under max_connections + BACKLOG. */
static int may_start(const struct daemon *d)
{
    return d->fetching + d->backlog < (size_t)d->cfg->max_connections + BACKLOG;
}

/* Starts waiting polls while there is room. */
static void pump(struct daemon *d)
{
    struct src *s;

    while (d->waiting.head != NULL && (d->stopping || may_start(d))) {
        s = queue_pop(&d->waiting);
        if (s->removed || d->stopping) {
            s->busy = 0;
            src_unref(s);
            continue;
        }
        start_poll(s);
    }
}

/* Stores one poll's feed inside the batch transaction (store job). */
static void put_poll(struct src *s)
{
    struct poll *p = &s->p;

    if (p->rc != 0 || p->feed == NULL || p->skip)
        return;
    p->rc = tb_store_put_prepared(s->d->wstore, s->st.source_id, p->feed, p->prep, now_s(),
                                  &p->stats, &p->ids, &p->nids, p->err, sizeof(p->err));
}

/* After a failed commit nothing of the batch is stored: every poll that
 * seemed stored fails, so its validators stay and it is fetched again. */
static void batch_failed(struct src *batch, const char *err)
{
    struct src *s;

    for (s = batch; s != NULL; s = s->next) {
        if (s->p.rc != 0 || s->p.feed == NULL)
            continue;
        s->p.rc = TB_ESTORE;
        snprintf(s->p.err, sizeof(s->p.err), "%s", err);
        memset(&s->p.stats, 0, sizeof(s->p.stats));
        s->p.nids = 0;
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

/* The store job (a thread-pool thread): stores the batch's feeds in one
 * transaction of its own connection. It touches only the batch's polls;
 * the loop leaves them alone until the job is over. */
static void store_job(void *arg)
{
    struct daemon *d = arg;
    double t0 = thread_cpu();
    int64_t w0 = now_ms();
    char err[512] = "";

    if (in_txn(d->wstore, d->storing, put_poll, err, sizeof(err)) != 0) {
        tb_log(TB_LOG_ERROR, "store", "%s", err);
        batch_failed(d->storing, err);
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
            publish_later(d, s->p.ids, s->p.nids);
    }
    if (in_txn(d->wstore, batch, finish, err, sizeof(err)) != 0)
        tb_log(TB_LOG_ERROR, "state", "%s", err);
    d->backlog -= d->nstoring;
    kick_checkpoint(d);
    pump(d);
    kick_store(d);
}

/* Starts a store job for the ready polls, unless one is running. */
static void kick_store(struct daemon *d)
{
    if (d->storing != NULL || d->ready.head == NULL)
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
static void on_store_done(uv_async_t *h)
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
static void on_store(uv_check_t *h)
{
    kick_store(h->data);
    uv_check_stop(h);
}

/* Parsing yields the CPU to the store job, whose pace bounds a first
 * cycle: a pool thread lowers its own priority the first time it parses
 * (Linux sets it per thread). */
static void low_priority(void)
{
#ifdef __linux__
    static _Thread_local int done;

    if (done)
        return;
    done = 1;
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), PARSE_NICE);
#endif
}

static void parse_work(uv_work_t *w)
{
    struct src *s = w->data;
    struct poll *p = &s->p;
    struct tb_parse_opts opts = {
        .url = p->final_url, .charset = p->charset, .max_size = p->max_body};
    char err[400] = "";

    low_priority();
    p->rc = tb_parse_feed(p->body ? p->body : "", p->len, &opts, &p->feed, err, sizeof(err));
    free(p->body);
    p->body = NULL;
    if (p->rc == 0)
        p->rc = tb_norm_feed(p->feed);
    if (p->rc == 0)
        p->rc = tb_store_prepare_indexed(s->d->wstore, p->feed, &p->prep);
    if (p->rc)
        snprintf(p->err, sizeof(p->err), "parse: %s", err[0] ? err : tb_strerror(p->rc));
}

static void after_parse(uv_work_t *w, int status)
{
    poll_done(w->data);
}

static void take_result(struct poll *p, struct tb_fetch_result *res)
{
    p->rc = res->rc;
    snprintf(p->err, sizeof(p->err), "%s", res->err);
    p->status = res->status;
    p->retry_after = res->retry_after;
    p->max_age = res->max_age;
    p->seconds = res->seconds;
    p->etag = res->etag;
    p->last_modified = res->last_modified;
    p->permanent_url = res->permanent_url;
    p->charset = res->charset;
    p->final_url = res->final_url;
    res->etag = res->last_modified = res->permanent_url = res->charset = res->final_url = NULL;
}

/* Hands a 200 body to the thread pool. */
static void start_parse(struct src *s, struct tb_fetch_result *res)
{
    struct poll *p = &s->p;

    p->len = res->body.len;
    p->body = tb_buf_take(&res->body);
    p->max_body = s->d->cfg->max_body;
    s->work.data = s;
    if (p->body == NULL || uv_queue_work(&s->d->loop, &s->work, parse_work, after_parse) != 0) {
        p->rc = -ENOMEM;
        poll_done(s);
    }
}

static void on_fetched(struct tb_fetch_result *res, void *data)
{
    struct src *s = data;
    struct poll *p = &s->p;

    s->d->fetching--;
    if (res->rc == -ECANCELED) {
        /* Shutting down, or its source was dropped: nothing happened, the stored state stays. */
        s->busy = 0;
        src_unref(s);
        return;
    }
    s->d->backlog++;
    take_result(p, res);
    if (p->rc != 0 || p->status != 200 || s->removed)
        poll_done(s);
    else
        start_parse(s, res);
    pump(s->d);
}

static void start_poll(struct src *s)
{
    struct daemon *d = s->d;
    struct tb_fetch_req req = {s->st.url ? s->st.url : s->url, s->st.etag, s->st.last_modified};
    int rc;

    tb_log(TB_LOG_DEBUG, s->name, "polling %s", req.url);
    memset(&s->p, 0, sizeof(s->p));
    rc = tb_fetcher_add(d->fetcher, &req, on_fetched, s);
    if (rc) {
        s->p.rc = rc;
        snprintf(s->p.err, sizeof(s->p.err), "cannot fetch %s: %s", req.url, tb_strerror(rc));
        d->backlog++;
        poll_done(s);
        return;
    }
    d->fetching++;
}

/* A source is due: it polls now, or as soon as there is room. */
static void request_poll(struct src *s)
{
    s->busy = 1;
    s->refs++;
    queue_push(&s->d->waiting, s);
    pump(s->d);
}

static void on_timer(uv_timer_t *t)
{
    struct src *s = t->data;

    if (!s->busy && !s->removed && !s->d->stopping)
        request_poll(s);
}

/* Arms the timer for st.next_poll, unless the source must not be polled. */
static void schedule(struct src *s)
{
    int64_t delay;

    if (s->removed || s->busy || s->d->stopping || s->d->once)
        return;
    if (!s->enabled || !s->st.enabled) {
        uv_timer_stop(&s->timer);
        return;
    }
    /* States hold whole seconds: fire just after next_poll's second began,
     * so that the poll's own "now" is not the second before it. */
    delay = s->st.next_poll * 1000 - now_ms() + 10;
    tb_log(TB_LOG_DEBUG, s->name, "next poll in %lld ms", (long long)delay);
    /* The delay counts from the wall clock read just now; the loop's cached
     * time can lag it by a long iteration, which would fire the timer early. */
    uv_update_time(&s->d->loop);
    uv_timer_start(&s->timer, on_timer, delay > 0 ? (uint64_t)delay : 0, 0);
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

/* The source for config entry c: the running one when its URL is the same
 * (it keeps its timer and whatever is in flight), else a new one. */
static struct src *adopt(struct daemon *d, const struct tb_config_source *c)
{
    struct src *s = find_src(d, c->name);

    if (s != NULL && strcmp(s->url, c->url) == 0) {
        s->kept = 1;
        s->interval = c->interval;
        s->enabled = c->enabled;
        return s;
    }
    s = src_new(d, c);
    if (s == NULL) {
        tb_log(TB_LOG_ERROR, c->name, "out of memory");
        return NULL;
    }
    if (src_load_state(s) != 0) {
        src_remove(s);
        return NULL;
    }
    return s;
}

/* Makes the running sources those of cfg; removed ones close. */
static int sync_sources(struct daemon *d, const struct tb_config *cfg)
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
        if (!d->srcs[i]->kept)
            src_remove(d->srcs[i]);
    }
    free(d->srcs);
    d->srcs = v;
    d->nsrcs = n;
    for (i = 0; i < n; i++)
        schedule(v[i]);
    pump(d); /* the slots of cancelled polls go to waiting ones */
    return 0;
}

/* The first sync writes a state row for every new source: in one
 * transaction rather than one or two commits per source (with 5,000
 * sources a quarter of a second before the first fetch). A failed commit
 * leaves sources whose rows are gone, so the start fails. */
static int first_sync(struct daemon *d)
{
    char err[512] = "";
    int txn = tb_store_begin(d->store, err, sizeof(err)) == 0;
    int rc = sync_sources(d, d->cfg);

    if (!txn)
        tb_log(TB_LOG_WARN, "state", "%s", err);
    if (txn && tb_store_commit(d->store, err, sizeof(err)) != 0) {
        tb_log(TB_LOG_ERROR, "state", "%s", err);
        rc = rc ? rc : TB_ESTORE;
    }
    return rc;
}

/* ---------------------------------------------------------- config */

static void log_config_errors(const struct tb_config_error *errs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        tb_log(TB_LOG_ERROR, "config", "%s:%d: %s", errs[i].file, errs[i].line, errs[i].msg);
}

/* Logs every topic whose query does not compile; returns how many. */
static size_t bad_topics(struct tb_store *st, const struct tb_config *c)
{
    char err[512];
    size_t i, bad = 0;

    for (i = 0; i < c->ntopics; i++) {
        err[0] = '\0';
        if (tb_topic_check(st, c->topics[i].query, err, sizeof(err)) == 0)
            continue;
        tb_log(TB_LOG_ERROR, "config", "%s:%d: topic %s: invalid query: %s", c->topics[i].file,
               c->topics[i].line, c->topics[i].name, err);
        bad++;
    }
    return bad;
}

static struct tb_config *load_config(const char *path, struct tb_store *st)
{
    struct tb_config *c = NULL;
    struct tb_config_error *errs = NULL;
    size_t nerrs = 0;
    int rc = tb_config_load(path, &c, &errs, &nerrs);

    if (rc) {
        log_config_errors(errs, nerrs);
        if (nerrs == 0)
            tb_log(TB_LOG_ERROR, "config", "%s: %s", path, tb_strerror(rc));
        tb_config_errors_free(errs, nerrs);
        return NULL;
    }
    if (st != NULL && bad_topics(st, c) > 0) {
        tb_config_free(c);
        return NULL;
    }
    return c;
}

/* Cache-Control max-age: half the shortest poll interval, within [1, 1 h]. */
static int cache_age(const struct tb_config *c)
{
    int64_t min = MAX_CACHE_AGE * 2;
    size_t i;

    for (i = 0; i < c->nsources; i++) {
        if (c->sources[i].interval < min)
            min = c->sources[i].interval;
    }
    min /= 2;
    return min < 1 ? 1 : (int)min;
}

static int str_eq(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

static int same_topic(const struct tb_config_topic *a, const struct tb_config_topic *b)
{
    size_t i;

    if (!str_eq(a->title, b->title) || !str_eq(a->query, b->query) || a->limit != b->limit ||
        a->nsources != b->nsources)
        return 0;
    for (i = 0; i < a->nsources; i++) {
        if (!str_eq(a->sources[i], b->sources[i]))
            return 0;
    }
    return 1;
}

static const struct tb_config_topic *find_topic(const struct tb_config *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->ntopics; i++) {
        if (strcmp(c->topics[i].name, name) == 0)
            return &c->topics[i];
    }
    return NULL;
}

/* Republishes new and changed topics from the whole store (backfill), drops
 * removed ones, and rewrites the index. */
static void publish_reload(struct daemon *d, const struct tb_config *old)
{
    const struct tb_config *c = d->cfg;
    const struct tb_config_topic *t;
    char err[512] = "";
    int rc = 0;
    size_t i;

    for (i = 0; i < c->ntopics; i++) {
        t = find_topic(old, c->topics[i].name);
        if (t == NULL || !same_topic(t, &c->topics[i]))
            rc = rc ? rc : tb_site_publish_topic(&d->site, &c->topics[i], err, sizeof(err));
    }
    for (i = 0; i < old->ntopics; i++) {
        if (find_topic(c, old->topics[i].name) == NULL)
            tb_site_remove_topic(&d->site, old->topics[i].name);
    }
    if (old->feed_limit != c->feed_limit)
        rc = rc ? rc : tb_site_publish_all(&d->site, err, sizeof(err));
    rc = rc ? rc : tb_site_publish_index(&d->site, err, sizeof(err));
    if (rc)
        tb_log(TB_LOG_ERROR, "publish", "%s", err[0] ? err : tb_strerror(rc));
}

static void reload(struct daemon *d)
{
    struct tb_config *c = load_config(d->config_path, d->store), *old = d->cfg;

    if (c == NULL) {
        tb_log(TB_LOG_ERROR, "config", "reload failed: keeping the running configuration");
        return;
    }
    if (!str_eq(c->listen, old->listen) || !str_eq(c->database, old->database))
        tb_log(TB_LOG_WARN, "config", "listen and database changes take effect on restart");
    d->cfg = c;
    d->site.cfg = c;
    d->site.max_age = cache_age(c);
    if (sync_sources(d, c) != 0)
        tb_log(TB_LOG_ERROR, "config", "reload: out of memory");
    publish_reload(d, old);
    tb_config_free(old);
    tb_log(TB_LOG_INFO, "config", "reloaded %s: %zu sources, %zu topics", d->config_path,
           c->nsources, c->ntopics);
}

/* -------------------------------------------------- http and signals */

static int health(void *data)
{
    struct daemon *d = data;

    return !d->stopping && tb_store_ping(d->store) == 0;
}

static void metrics(struct tb_buf *out, void *data)
{
    struct daemon *d = data;
    size_t i, failing = 0, disabled = 0;
    int rc;

    for (i = 0; i < d->nsrcs; i++) {
        failing += d->srcs[i]->st.failures > 0;
        disabled += !d->srcs[i]->st.enabled;
    }
    rc = tb_buf_addf(out,
                     "# TYPE tributary_sources gauge\ntributary_sources %zu\n"
                     "# TYPE tributary_sources_failing gauge\ntributary_sources_failing %zu\n"
                     "# TYPE tributary_sources_disabled gauge\ntributary_sources_disabled %zu\n",
                     d->nsrcs, failing, disabled);
    if (rc == 0)
        rc = tb_buf_addf(out,
                         "# TYPE tributary_fetches_total counter\n"
                         "tributary_fetches_total{outcome=\"ok\"} %lu\n"
                         "tributary_fetches_total{outcome=\"not_modified\"} %lu\n"
                         "tributary_fetches_total{outcome=\"error\"} %lu\n",
                         d->m.fetch_ok, d->m.fetch_notmod, d->m.fetch_error);
    if (rc == 0)
        rc = tb_buf_addf(out,
                         "# TYPE tributary_entries_stored_total counter\n"
                         "tributary_entries_stored_total{kind=\"new\"} %lu\n"
                         "tributary_entries_stored_total{kind=\"updated\"} %lu\n"
                         "# TYPE tributary_documents_published_total counter\n"
                         "tributary_documents_published_total %lu\n",
                         d->m.entries_new, d->m.entries_updated, d->site.published);
    if (rc)
        tb_log(TB_LOG_WARN, "metrics", "%s", tb_strerror(rc));
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;

    if (signum == SIGHUP) {
        tb_log(TB_LOG_INFO, NULL, "SIGHUP: reloading %s", d->config_path);
        reload(d);
        return;
    }
    tb_log(TB_LOG_INFO, NULL, "%s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    stop(d);
}

/* Ends everything on the loop; uv_run() returns once the handles closed.
 * Transfers are abandoned (their state stays as stored); parses already
 * running finish and are stored. */
static void stop(struct daemon *d)
{
    size_t i;

    if (d->stopping)
        return;
    d->stopping = 1;
    for (i = 0; i < 3; i++)
        uv_close((uv_handle_t *)&d->sig[i], NULL);
    uv_close((uv_handle_t *)&d->pub_timer, NULL);
    if (d->fetcher != NULL)
        tb_fetcher_cancel_all(d->fetcher);
    for (i = 0; i < d->nsrcs; i++)
        src_remove(d->srcs[i]);
    d->nsrcs = 0;
    pump(d); /* drops the polls still waiting for a slot */
    tb_fetcher_free(d->fetcher, NULL, NULL);
    d->fetcher = NULL;
    if (d->http != NULL)
        tb_http_free(d->http, NULL, NULL);
    d->http = NULL;
    d->site.http = NULL;
}

/* ----------------------------------------------------------- running */

/* Creates the directory that will hold `path` (one level, like var/). */
static void make_parent(const char *path)
{
    char dir[4096];
    char *slash;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return;
    *slash = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        tb_log(TB_LOG_WARN, NULL, "cannot create %s: %s", dir, strerror(errno));
}

static int open_store(struct daemon *d)
{
    char err[512] = "";
    int rc;

    make_parent(d->cfg->database);
    rc = tb_store_open(&d->store, d->cfg->database, TB_STORE_READER, err, sizeof(err));
    /* The store job writes through a connection of its own, so the loop
     * can read (publish, serve /healthz) while it runs. */
    if (rc == 0)
        rc = tb_store_open(&d->wstore, d->cfg->database, TB_STORE_CHECKPOINT_LATER, err,
                           sizeof(err));
    if (rc == 0)
        rc = tb_store_open(&d->cstore, d->cfg->database, TB_STORE_READER, err, sizeof(err));
    if (rc)
        tb_log(TB_LOG_ERROR, NULL, "database %s: %s", d->cfg->database,
               err[0] ? err : tb_strerror(rc));
    return rc;
}

static int start_fetcher(struct daemon *d)
{
    const struct tb_config *c = d->cfg;
    struct tb_fetch_limits lim;
    char ua[512];

    tb_fetch_limits_default(&lim);
    lim.max_body = c->max_body;
    lim.connect_timeout_ms = (long)c->connect_timeout * 1000;
    lim.timeout_ms = (long)c->timeout * 1000;
    lim.low_speed_time = (long)c->low_speed_time;
    lim.max_connections = c->max_connections;
    lim.max_per_host = c->max_per_host;
    if (c->contact != NULL) {
        snprintf(ua, sizeof(ua), "tributary/%s (+%s)", TB_VERSION, c->contact);
        lim.user_agent = ua;
    }
    return tb_fetcher_new(&d->loop, &lim, &d->fetcher);
}

static int start_http(struct daemon *d)
{
    struct tb_http_opts ho = {.listen = d->cfg->listen,
                              .req_timeout_ms = d->cfg->request_timeout * 1000,
                              .max_conns = d->cfg->max_clients};
    char err[512] = "";
    int rc = tb_http_new(&d->loop, &ho, &d->http, err, sizeof(err));

    if (rc) {
        tb_log(TB_LOG_ERROR, "http", "%s: %s", d->cfg->listen, err[0] ? err : tb_strerror(rc));
        return rc;
    }
    tb_http_set_health(d->http, health, d);
    tb_http_set_metrics(d->http, metrics, d);
    d->site.http = d->http;
    tb_log(TB_LOG_INFO, "http", "listening on %s (port %d)", d->cfg->listen, tb_http_port(d->http));
    return 0;
}

static void start_signals(struct daemon *d)
{
    static const int signums[3] = {SIGTERM, SIGINT, SIGHUP};
    int i;

    for (i = 0; i < 3; i++) {
        uv_signal_init(&d->loop, &d->sig[i]);
        d->sig[i].data = d;
        uv_signal_start(&d->sig[i], on_signal, signums[i]);
    }
    uv_timer_init(&d->loop, &d->pub_timer);
    d->pub_timer.data = d;
    uv_check_init(&d->loop, &d->store_check);
    d->store_check.data = d;
    uv_async_init(&d->loop, &d->store_done, on_store_done);
    d->store_done.data = d;
    uv_unref((uv_handle_t *)&d->store_done);
}

static int chosen(const struct tb_daemon_opts *o, const struct src *s)
{
    size_t i;

    if (o->nnames == 0)
        return s->enabled && s->st.enabled;
    for (i = 0; i < o->nnames; i++) {
        if (strcmp(o->names[i], s->name) == 0)
            return 1;
    }
    return 0;
}

/* `fetch`: polls the chosen sources now; the last one to finish stops the loop. */
static void start_once(struct daemon *d, const struct tb_daemon_opts *o)
{
    size_t i;

    for (i = 0; i < d->nsrcs; i++)
        d->once_left += chosen(o, d->srcs[i]);
    if (d->once_left == 0) {
        stop(d);
        return;
    }
    for (i = 0; i < d->nsrcs && !d->stopping; i++) {
        if (chosen(o, d->srcs[i]))
            request_poll(d->srcs[i]);
    }
}

/* Publishes what is left: everything after `fetch`, pending entries else. */
static int publish_end(struct daemon *d)
{
    char err[512] = "";
    int rc = 0;

    if (d->once)
        rc = tb_site_publish_all(&d->site, err, sizeof(err));
    else if (d->npending > 0)
        rc = tb_site_publish_changed(&d->site, d->pending, d->npending, err, sizeof(err));
    if (rc)
        tb_log(TB_LOG_ERROR, "publish", "%s", err[0] ? err : tb_strerror(rc));
    return rc;
}

static int start(struct daemon *d, const struct tb_daemon_opts *o)
{
    char err[512] = "";
    int rc;

    d->site.cfg = d->cfg;
    d->site.store = d->store;
    d->site.max_age = cache_age(d->cfg);
    /* A kill between writing and renaming a published file leaves its
     * temporary behind; nothing else can be half-written. */
    if (tb_publish_clean_tmp(d->cfg->public_dir) > 0)
        tb_log(TB_LOG_INFO, "publish", "removed stale temporary files in %s", d->cfg->public_dir);
    start_signals(d);
    rc = start_fetcher(d);
    if (rc == 0 && !o->once)
        rc = start_http(d);
    if (rc)
        return rc;
    rc = first_sync(d);
    if (rc == 0 && !o->once && tb_site_publish_all(&d->site, err, sizeof(err)) != 0)
        tb_log(TB_LOG_ERROR, "publish", "%s", err);
    if (rc == 0 && o->once)
        start_once(d, o);
    if (rc == 0)
        tb_log(TB_LOG_INFO, NULL, "started: %zu sources, %zu topics, database %s", d->nsrcs,
               d->cfg->ntopics, d->cfg->database);
    return rc;
}

/* Closes whatever start() left open after a failure, and runs the loop dry. */
static void close_all(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* glibc gives each thread that allocates an arena of its own and keeps
 * what was freed in it. One shared arena held some 30 MB less at the peak
 * of a first cycle of 5,000 sources, but its lock was where the pool
 * threads slept most (55,000 voluntary context switches in a cycle, about
 * 10% more CPU time: the store job waited on the parse jobs' mallocs).
 * Four arenas for the main thread and the four pool threads: 7,000
 * switches; the smaller BACKLOG keeps the peak where it was. */
static void few_arenas(void)
{
#ifdef __GLIBC__
    mallopt(M_ARENA_MAX, 4);
#endif
}

int tb_daemon_run(const struct tb_daemon_opts *o)
{
    struct daemon d;
    int rc, ok;

    few_arenas();
    memset(&d, 0, sizeof(d));
    d.config_path = o->config;
    d.once = o->once;
    d.rnd = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    d.cfg = load_config(o->config, NULL);
    if (d.cfg == NULL || open_store(&d) != 0 || bad_topics(d.store, d.cfg) > 0) {
        tb_store_close(d.cstore);
        tb_store_close(d.wstore);
        tb_store_close(d.store);
        tb_config_free(d.cfg);
        return 1;
    }
    uv_loop_init(&d.loop);
    rc = start(&d, o);
    if (rc)
        stop(&d);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    uv_walk(&d.loop, close_all, NULL);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    ok = uv_loop_close(&d.loop) == 0;
    if (rc == 0 && publish_end(&d) != 0 && d.once)
        d.once_failed++;
    if (d.once && rc == 0)
        printf("%zu polled, %zu failed; %lu new, %lu updated entries\n",
               d.m.fetch_ok + d.m.fetch_notmod + d.m.fetch_error, d.once_failed, d.m.entries_new,
               d.m.entries_updated);
    tb_log(TB_LOG_INFO, "store", "%lu jobs, %.2f s CPU, %.2f s wall; %lu checkpoints, %.2f s CPU",
           d.m.store_jobs, d.m.store_cpu, d.m.store_wall, d.m.ckpt_jobs, d.m.ckpt_cpu);
    tb_log(TB_LOG_INFO, NULL, "stopped");
    free(d.srcs);
    free(d.pending);
    tb_store_close(d.cstore);
    tb_store_close(d.wstore);
    tb_store_close(d.store);
    tb_config_free(d.cfg);
    return (rc || !ok || d.once_failed) ? 1 : 0;
}
