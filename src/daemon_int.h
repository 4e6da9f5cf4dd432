/*
 * Internals shared by the daemon's source files (not a public header): the
 * daemon's state, one struct src per configured source and the poll in
 * flight. daemon.c starts, reloads and stops everything (config, signals,
 * /healthz and /metrics); daemon_source.c keeps the running sources (their
 * memory, adding and removing them on a reload); daemon_poll.c schedules,
 * fetches, parses and records the polls; daemon_store.c runs the store and
 * checkpoint jobs and publishes what they stored; daemon_arxiv.c resolves
 * arXiv ids; daemon_mail.c builds and sends the email digests. All of it
 * runs on the loop's thread except the jobs named so.
 */
#ifndef TB_DAEMON_INT_H
#define TB_DAEMON_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "tb_arxiv.h"
#include "tb_config.h"
#include "tb_db.h"
#include "tb_fetcher.h"
#include "tb_http.h"
#include "tb_jobs.h"
#include "tb_lease.h"
#include "tb_mail.h"
#include "tb_mail_web.h"
#include "tb_notify.h"
#include "tb_push.h"
#include "tb_site.h"
#include "tb_store.h"
#include "tb_websub.h"

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
    char *link;                  /* the response's Link headers (WebSub discovery), or NULL */
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
    int push;                    /* a document a hub pushed (WebSub), not a fetch */
};

/* Fetch outcomes by HTTP status class; FETCH_ERROR: no HTTP answer at all. */
enum { FETCH_2XX, FETCH_3XX, FETCH_4XX, FETCH_5XX, FETCH_ERROR, FETCH_CLASSES };

/* Buckets of the fetch-duration histogram: FETCH_BUCKETS bounds, then +Inf. */
#define FETCH_BUCKETS 10

/* The upper bound (seconds) of bucket i < FETCH_BUCKETS. */
static inline double fetch_bound(size_t i)
{
    static const double bounds[FETCH_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

    return bounds[i];
}

struct src {
    struct daemon *d;         /* owner */
    char *name;               /* config name (owned) */
    char *url;                /* config URL (owned) */
    int64_t interval;         /* config interval, seconds */
    int enabled;              /* config enabled (0: paused by the user) */
    double weight;            /* config trending weight, as last given to the store */
    char *group;              /* config trending group (owned), as last given to the store */
    struct tb_store_state st; /* stored poll state */
    uv_timer_t timer;         /* fires at st.next_poll */
    uv_work_t work;           /* parse job */
    struct poll p;            /* the poll in flight */
    int busy;                 /* waiting for a slot, or a poll is in flight */
    struct src *next;         /* in the daemon's wait or ready queue */
    int refs;                 /* timer open + busy; freed at 0 */
    int removed;              /* dropped by reload or shutdown */
    int kept;                 /* adopted by the sync running now */
    unsigned long fetches[FETCH_CLASSES]; /* fetches by outcome class, for /metrics */
    struct tb_push_sub *push;             /* its WebSub subscription (owned), or NULL */
    int push_busy;                        /* a subscribe request to its hub is in flight */
    char *push_hub;                       /* a poll found this hub: subscribe at the tick */
    char *push_topic;                     /* ... for this topic (both owned, or NULL) */
    char *push_body;                      /* a push waiting for the poll in flight, or NULL */
    size_t push_len;                      /* its length */
    struct tb_lease lease;                /* the claim of the poll in flight (token 0: none) */
    int due;                              /* its timer fired: waits for a claim */
};

struct metrics {
    unsigned long fetch_ok;        /* 200 */
    unsigned long fetch_notmod;    /* 304 */
    unsigned long fetch_error;     /* failed */
    unsigned long entries_new;     /* stored new */
    unsigned long entries_updated; /* updated in place */
    unsigned long store_jobs;      /* store jobs run */
    unsigned long store_retries;   /* polls stored again after TB_EDB_RETRY (deadlock, lock wait) */
    double store_cpu;              /* their CPU time in seconds (thread time) */
    double store_wall;             /* their wall time in seconds */
    unsigned long ckpt_jobs;       /* checkpoint jobs run */
    double ckpt_cpu;               /* their CPU time in seconds */
    unsigned long entries_merged;  /* another source's entries, linked to the stored one */
    double fetch_seconds;          /* the fetches' total duration */
    unsigned long fetch_hist[FETCH_BUCKETS + 1]; /* fetches by duration bucket (not cumulative) */
    unsigned long push_accepted;                 /* WebSub pushes whose signature verified */
    unsigned long push_rejected;                 /* ... unsigned or wrongly signed: ignored */
    unsigned long push_unknown;                  /* ... to a callback id we do not have */
    unsigned long node_polls;                    /* polls this node recorded under a lease */
    unsigned long lease_claimed;                 /* sources claimed */
    unsigned long lease_released;                /* ... given back unpolled */
    unsigned long lease_lost; /* ... whose outcome was refused: claimed again since */
};

/* A FIFO of sources linked through src.next. */
struct queue {
    struct src *head, *tail; /* first out, last in; NULL when empty */
};

/* One lost connection being made again (daemon_db.c). */
struct renewal {
    struct daemon *d;      /* owner */
    struct tb_db *db;      /* the connection it replaces */
    struct tb_db_renew *r; /* the new one, being made; NULL once finished or cancelled */
    uv_poll_t *poll;       /* on its socket, or NULL; freed when closed */
    int fd;                /* the socket poll watches, or -1 */
    int ready;             /* connected: waits for the others */
};

/* The PostgreSQL connections' watch (daemon_db.c). */
struct dbwatch {
    uv_timer_t timer;         /* the next look or reconnect, or an attempt's time limit */
    int started;              /* on PostgreSQL: the timer was initialized */
    int down;                 /* a connection is lost and not back yet */
    uint64_t delay_ms;        /* the backoff's nominal wait (0: none yet) */
    uint64_t since;           /* uv_now() when it was lost */
    unsigned long losses;     /* times the database was lost */
    unsigned long reconnects; /* times it came back */
    struct renewal ren[3];    /* the attempt in progress: one per lost connection */
    size_t nren;              /* their number (0: no attempt in progress) */
    unsigned long attempts;   /* attempts started (tributary_database_connect_attempts_total) */
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
    uv_timer_t trend_timer;     /* republishes trending as scores decay */
    int trend_dirty;            /* stored entries, copies or mentions wait for trending */
    uint64_t trend_last;        /* uv_now() of the last trending rewrite */
    uint64_t trend_every;       /* TREND_EVERY_MS, or TB_TRENDING_EVERY_MS (tests) */
    int64_t *pending;           /* rowids stored since the last publish */
    size_t npending, apending;  /* count, allocated */
    uint64_t pending_since;     /* uv_now() of the first pending ingest */
    int pages_stale;            /* a source's first poll or failing changed: pages say why */
    int stopping;               /* shutting down */
    int once;                   /* `fetch`: one cycle */
    size_t once_left;           /* once: polls still running */
    size_t once_failed;         /* once: polls that failed */
    uint64_t rnd;               /* xorshift state for jitter */
    struct metrics m;           /* counters for /metrics */
    uv_timer_t tick;            /* every TICK_MS: measures how late the loop runs (/readyz) */
    uint64_t tick_last;         /* uv_now() at its last run */
    uint64_t tick_lag;          /* how late (ms) that run was */
    dev_t db_dev;               /* the database file opened (st_dev, st_ino), to tell */
    ino_t db_ino;               /* when it was deleted or replaced under the daemon */
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
    /* The arXiv resolver (daemon_arxiv.c). */
    uv_timer_t arxiv_timer;              /* the next look at the ids due */
    int arxiv_timer_on;                  /* arxiv_timer was initialized */
    int arxiv_off;                       /* not resolving: a source has its name */
    int64_t arxiv_source;                /* the pseudo-source's id, 0 until first needed */
    int64_t arxiv_last;                  /* now_ms() at the last request's start, or 0 */
    int64_t arxiv_quiet;                 /* now_ms() before which ids due are not read again */
    struct tb_job arxiv_job;             /* the round's claim (tb_jobs.h), token 0: none */
    int arxiv_busy;                      /* a batch is asked and not finished */
    int arxiv_done;                      /* its request is over, waiting for the store */
    char *arxiv_ids[TB_ARXIV_BATCH_MAX]; /* the batch's ids (owned) */
    size_t arxiv_nids;                   /* their number */
    struct tb_feed *arxiv_feed;          /* its parsed answer, or NULL */
    /* Mail (daemon_mail.c), when [mail] is configured. */
    unsigned char mail_key[TB_MAIL_SECRET_LEN]; /* the token secret, loaded at start */
    struct mailer *mail;                        /* the sender, or NULL: no [mail], or over */
    struct tb_mail_web *mail_web;               /* /subscribe, /confirm... routes, or NULL */
    struct tb_notify notify;                    /* systemd: ready, watchdog, stopping */
    /* The WebSub hub (websub.c): NULL for `fetch`. */
    struct tb_websub *websub; /* the hub, or NULL */
    char hub_url[2100];       /* the hub feeds name, fixed at start (site.hub points here) */
    /* The WebSub subscriber (daemon_push.c). */
    uv_timer_t push_timer; /* leases, renewals, retries */
    int push_timer_on;     /* push_timer was initialized */
    /* Polling by leases (daemon_lease.c). */
    struct src **byid;      /* the running sources by source id */
    size_t nbyid;           /* their number */
    size_t ndue;            /* sources whose timer fired, waiting for a claim */
    uv_check_t lease_check; /* claims once per loop iteration when timers fired */
    uv_timer_t lease_timer; /* renewals every third of the lease */
    int lease_on;           /* both were initialized */
    int renew_wanted;       /* renewals are due (done once no store job runs) */
    int sweep_wanted;       /* an outcome was not written: stale leases of ours to end */
    uint64_t renew_last;    /* uv_now() when renewals were last asked for */
    int leasing;            /* a claim or renewal is running (no reentry) */
    /* Several nodes on PostgreSQL: the change feed's reader (daemon_sync.c), or NULL. */
    struct sync *sync;
    struct dbwatch dbw; /* lost PostgreSQL connections (daemon_db.c) */
};

/* Polls fetched and waiting to be parsed or stored, beyond max_connections. */
#define TB__DAEMON_BACKLOG 24

static inline double next_rnd(struct daemon *d)
{
    d->rnd ^= d->rnd << 13;
    d->rnd ^= d->rnd >> 7;
    d->rnd ^= d->rnd << 17;
    return (double)(d->rnd >> 11) / (double)(1ULL << 53);
}

static inline int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Epoch seconds from the same clock as now_ms() (time() may lag behind it). */
static inline int64_t now_s(void)
{
    return now_ms() / 1000;
}

/* daemon.c */

/** Ends everything on the loop; uv_run() returns once the handles closed. */
void tb__daemon_stop(struct daemon *d);

/**
 * Appends the per-source fetch counters (the classes that happened, label
 * values escaped) and tributary_metrics_truncated to /metrics' `out`,
 * never past its cap: series that do not fit are left out, and the flag
 * says so.
 */
void tb__daemon_metrics_sources(const struct daemon *d, struct tb_buf *out);

/* daemon_source.c */

/** Frees what a poll holds and zeroes it. */
void tb__daemon_poll_clear(struct poll *p);

/** Drops one reference to s; the last frees it. */
void tb__daemon_src_unref(struct src *s);

/** Trending is rewritten at least this often (ms), as its scores decay. */
#define TREND_EVERY_MS (3600 * 1000)
/** ... and after changes at most this often (ms): a rewrite walks the
 * window's mentions once per list (~0.2 s for 300,000 of them). */
#define TREND_MIN_MS (10 * 1000)

/** Timer callback: rewrites the trending feeds (scores decay with time). */
void tb__daemon_on_trend_timer(uv_timer_t *t);

/** Drops a source: its queued or running fetch is cancelled, its timer closes. */
void tb__daemon_src_remove(struct src *s);
/** Drops every running source (d->nsrcs becomes 0; d->srcs stays allocated). */
void tb__daemon_srcs_clear(struct daemon *d);

/** Makes the running sources those of cfg; removed ones close. 0 or -ENOMEM. */
int tb__daemon_sync_sources(struct daemon *d, const struct tb_config *cfg);

/** The first sync, in one transaction. 0, -ENOMEM or TB_ESTORE. */
int tb__daemon_first_sync(struct daemon *d);

/* daemon_poll.c */

/** Arms the source's timer for st.next_poll, unless it must not be polled. */
void tb__daemon_schedule(struct src *s);

/** Starts waiting polls while there is room. */
void tb__daemon_pump(struct daemon *d);

/** A source is due: it polls now, or as soon as there is room. */
void tb__daemon_request_poll(struct src *s);

/** The end of a stored poll: records, counts and reports it, schedules the next. */
void tb__daemon_finish(struct src *s);

/* daemon_store.c */

/** Remembers stored rowids to publish after the debounce (loop thread). */
void tb__daemon_publish_later(struct daemon *d, const int64_t *ids, size_t n);

/** Check handle callback: the polls that became ready go to the store job. */
void tb__daemon_on_store(uv_check_t *h);

/** Async handle callback: the store job's thread is over. */
void tb__daemon_on_store_done(uv_async_t *h);

/** The pages' account of the sources' polls is stale: rewrite them soon (debounced). */
void tb__daemon_pages_stale(struct daemon *d);

/* daemon_arxiv.c */

/** Starts the arXiv resolver (its timer; the pseudo-source comes with its first answer). 0. */
int tb__daemon_arxiv_start(struct daemon *d);

/** Looks for papers to resolve, or stores an answer that waited (no store job runs). */
void tb__daemon_arxiv_kick(struct daemon *d);

/** Closes the resolver's timer and frees what it holds (at shutdown). */
void tb__daemon_arxiv_stop(struct daemon *d);

/**
 * Ingests a document a hub pushed for s (body malloc'd, NUL-terminated,
 * taken) through the poll's path: parse and normalize on the pool, the
 * store job, publishing. While a poll of s is in flight, the latest push
 * waits for its end.
 */
void tb__daemon_push_ingest(struct src *s, char *body, size_t len);

/* daemon_push.c */

/** Serves the callback route and starts the lease timer (with the server). 0 or an error. */
int tb__daemon_push_start(struct daemon *d);

/** Removes the route and closes the timer (at shutdown). */
void tb__daemon_push_stop(struct daemon *d);

/** Loads s's stored subscription into s->push (a new running source). */
void tb__daemon_push_load(struct src *s);

/** After a stored poll of s: a feed naming a hub is subscribed (callback_base set). */
void tb__daemon_push_after_poll(struct src *s);

/** s was removed from the config: its subscription is unsubscribed (best effort) or deleted. */
void tb__daemon_push_forget(struct src *s);

/** After a reload: with callback_base unset (it was old_base), every subscription goes. */
void tb__daemon_push_reload(struct daemon *d, const char *old_base);

/** s's poll interval now: longer while its subscription is active (tb_push_poll_interval()). */
int64_t tb__daemon_push_interval(const struct src *s);

/** Appends the subscriptions by state and the pushes by outcome to /metrics. */
void tb__daemon_push_metrics(const struct daemon *d, struct tb_buf *out);

/* daemon_lease.c */

/** s's timer fired: it is claimed (with whatever else is due) once this iteration's timers ran. */
void tb__daemon_lease_due(struct src *s);

/** Claims what is due and renews leases, when the store job's connection is free. */
void tb__daemon_lease_kick(struct daemon *d);

/** Timer callback: renewals every third of the lease. */
void tb__daemon_on_lease_timer(uv_timer_t *t);

/** s's poll will not be recorded (cancelled, source removed): its lease is given back. */
void tb__daemon_lease_drop(struct src *s);

/** After a sync: the sources by id, and which of them the database marks active. 0 or an error. */
int tb__daemon_lease_index(struct daemon *d);

/** Starts the claim check and the renewal timer (not for `fetch`). 0. */
int tb__daemon_lease_start(struct daemon *d);

/* daemon_jobs.c */

/** Frees the job leases and outbox claims this node's name held before it started. */
void tb__daemon_jobs_start(struct daemon *d);

/**
 * Runs fn(arg) as job `name` (tb_jobs.h) for this node (cfg's node and
 * lease) when due (every: seconds after its last completed run, on any
 * node). Returns 1 when it ran and was recorded, 0 when another node holds
 * the job or ran it within `every` (*due, if not NULL: when to look
 * again), fn's error (the job released) or a store error (logged).
 */
int tb__daemon_job_run(struct tb_store *st, const struct tb_config *cfg, const char *name,
                       int64_t every, int (*fn)(void *arg), void *arg, int64_t *due);

/** Closes them (at shutdown). */
void tb__daemon_lease_stop(struct daemon *d);

/** Appends this node's polls and the leases by outcome to /metrics. */
void tb__daemon_lease_metrics(const struct daemon *d, struct tb_buf *out);
/* daemon_sync.c */

/**
 * On PostgreSQL: names this node's stores in the change feed (`fetch`
 * too: what it stores, the serving nodes re-render), and unless once notes
 * where the feed is (before the first publish_all) and starts listening
 * for the other nodes' changes. A no-op on SQLite. 0 or an error.
 */
int tb__daemon_sync_start(struct daemon *d);

/** Stops listening (at shutdown). */
void tb__daemon_sync_stop(struct daemon *d);

/**
 * The moment to rank trending at when this node recomputes it: now (the
 * clock); on PostgreSQL also stored as the cluster's (tb_changes.h), the
 * later one in force returned and put into d->site.now.
 */
int64_t tb__daemon_trending_now(struct daemon *d);

/**
 * On PostgreSQL, the periodic recomputation of trending (the scores
 * decay): claimed as the job "trending" (tb_jobs.h) every d->trend_every,
 * so that one node of the cluster moves the moment and renders, fenced by
 * its claim, and the others follow its NOTIFY. When this node is not to
 * run it, restarts d->trend_timer for when it may be due. On SQLite
 * (d->sync NULL) it returns 0 and does nothing. 1 when this node ran it.
 */
int tb__daemon_trending_job(struct daemon *d);

/**
 * A poll being recorded changed what the pages say of the sources: they
 * are published again here, and on PostgreSQL the other nodes are told
 * (TB_CHANGES_PAGES, with the record's commit) to do the same.
 */
void tb__daemon_pages_moved(struct daemon *d);

/* daemon_mail.c */

/**
 * With [mail]: loads (or creates) the token secret into mail_key and
 * starts the sender thread, which builds the digests due and drains the
 * outbox. 0 without [mail]; else 0 or an error (logged).
 */
int tb__daemon_mail_start(struct daemon *d);

/** Something was queued (a confirmation): the sender drains the outbox now. Any thread; a no-op
 * without a sender. */
void tb__daemon_mail_kick(struct daemon *d);

/**
 * After a reload made d->cfg the new config: the sender uses it from its
 * next job (digest slots looked at again, SMTP connection rebuilt).
 * Returns 1 when the sender still reads `old` and took it (it frees it),
 * else 0 (the caller frees it).
 */
int tb__daemon_mail_reload(struct daemon *d, struct tb_config *old);

/** Stops the sender after the message being sent; its thread's end lets the loop end. */
void tb__daemon_mail_stop(struct daemon *d);

/** Appends the outbox and subscription counters to /metrics (never an address). */
void tb__daemon_mail_metrics(struct daemon *d, struct tb_buf *out);

/** On PostgreSQL, starts watching the loop's connections (daemon_db.c). */
int tb__daemon_db_start(struct daemon *d);

/** Looks at the connections now (after a failed store job, say). */
void tb__daemon_db_kick(struct daemon *d);

/** Whether the database is lost and not reconnected yet. */
int tb__daemon_db_down(const struct daemon *d);

/**
 * Whether connection db is being made again (no job may use it until it
 * is back: it is replaced then); 0 once the daemon stops.
 */
int tb__daemon_db_renewing(const struct daemon *d, const struct tb_db *db);

/** Closes the watch's timer. */
void tb__daemon_db_stop(struct daemon *d);

/** Appends tributary_database_up and the reconnect counters to out. */
void tb__daemon_db_metrics(const struct daemon *d, struct tb_buf *out);

/**
 * The wait before the next reconnect: *nominal (0 before the first) goes
 * from 0.1 s doubling to 5 s, and the wait is it less up to a quarter by r
 * (random), the jitter.
 */
uint64_t tb__daemon_db_backoff(uint64_t *nominal, unsigned r);

#endif
