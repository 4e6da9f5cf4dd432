/*
 * The daemon's polls: a source's timer fires, the poll waits for a slot,
 * is fetched, parsed and normalized on the thread pool, queued for the
 * store job, and once stored its outcome is recorded in the source's state
 * (tb_source_after_fetch), logged, and its next poll scheduled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tb_db.h"
#include "tb_fetcher.h"
#include "tb_normalize.h"
#include "tb_parse.h"
#include "tb_source.h"
#include "tb_store.h"

#include "daemon_int.h"

#define PARSE_NICE 10 /* pool threads' nice value */

static void start_poll(struct src *s);

static void replace_str(char **dst, char *src)
{
    free(*dst);
    *dst = src;
}

/* Saves the state; a poll under a lease records it under the claim's
 * token, which ends the lease, unless another node claimed the source
 * since: then nothing is written, and the state is read back. */
static void save(struct src *s)
{
    struct daemon *d = s->d;
    char err[512] = "";
    struct tb_store_state st;
    int rc;

    if (s->lease.token == 0) {
        if (tb_store_state_put(d->wstore, &s->st, err, sizeof(err)))
            tb_log(TB_LOG_ERROR, s->name, "state: %s", err);
        return;
    }
    rc = tb_lease_record(d->wstore, &s->lease, d->cfg->node, now_s(), &s->st, err, sizeof(err));
    /* A deadlock or lock timeout undid the record (its savepoint): once
     * more, as the loop waits meanwhile, before the poll counts as lost. */
    if (rc == TB_EDB_RETRY) {
        tb_log(TB_LOG_WARN, s->name, "state: %s: recording it again", err);
        d->m.store_retries++;
        rc = tb_lease_record(d->wstore, &s->lease, d->cfg->node, now_s(), &s->st, err, sizeof(err));
    }
    memset(&s->lease, 0, sizeof(s->lease));
    if (rc == 0) {
        d->m.node_polls++;
        return;
    }
    tb_log(rc == TB_ELEASE ? TB_LOG_WARN : TB_LOG_ERROR, s->name, "state not recorded: %s", err);
    if (rc != TB_ELEASE) {
        /* Unrecorded (disk full, connection lost): its lease is ended
         * by the next sweep (daemon_lease.c), and the source polled again. */
        d->sweep_wanted = 1;
        return;
    }
    d->m.lease_lost++;
    if (tb_store_state_get(d->wstore, s->name, s->url, &st, err, sizeof(err)) == 0) {
        tb_store_state_clear(&s->st);
        s->st = st;
    }
}

/* Applies an outcome to the state, saves it and logs it. */
static void record(struct src *s)
{
    struct tb_source_state ss = {s->st.next_poll,   s->st.last_attempt, s->st.last_success,
                                 s->st.last_status, s->st.failures,     s->st.gone};
    struct tb_source_outcome o = {s->p.rc, s->p.status, s->p.retry_after, s->p.max_age,
                                  s->st.ttl_minutes};
    struct poll *p = &s->p;
    char msg[600] = "";

    /* Retry-After counts from a moment we only know to the second: one more
     * second makes sure no request goes out before the upstream allowed. */
    if (o.retry_after > 0)
        o.retry_after++;
    if (p->feed != NULL)
        o.ttl_minutes = s->st.ttl_minutes = p->feed->ttl_minutes;
    tb_source_after_fetch(&ss, tb__daemon_push_interval(s), now_s(), &o, next_rnd(s->d));
    s->st.next_poll = ss.next_poll;
    s->st.last_attempt = ss.last_attempt;
    s->st.last_success = ss.last_success;
    s->st.last_status = ss.last_status;
    s->st.failures = ss.failures;
    s->st.gone = ss.gone;
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
        tb_log(TB_LOG_WARN, s->name, "410 Gone: not polled again");
    save(s);
}

/* The fetch's outcome class for /metrics: by HTTP status, else FETCH_ERROR. */
static int fetch_class(const struct poll *p)
{
    if (p->status >= 200 && p->status < 600)
        return FETCH_2XX + (int)(p->status / 100 - 2);
    return FETCH_ERROR;
}

static void count(struct daemon *d, struct src *s, const struct poll *p)
{
    size_t b = 0;

    s->fetches[fetch_class(p)]++;
    while (b < FETCH_BUCKETS && p->seconds > fetch_bound(b))
        b++;
    d->m.fetch_hist[b]++;
    d->m.fetch_seconds += p->seconds;
    d->m.entries_merged += p->stats.merged;
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

/* The log line of a stored push. */
static void report_push(struct src *s)
{
    const struct poll *p = &s->p;

    if (p->rc)
        tb_log(TB_LOG_WARN, s->name, "websub: push not stored: %s",
               p->err[0] ? p->err : tb_strerror(p->rc));
    else
        tb_log(TB_LOG_INFO, s->name, "websub: push stored: %zu new, %zu updated", p->stats.added,
               p->stats.updated);
}

static void start_push(struct src *s, char *body, size_t len);

/* The end of every poll that was not cancelled, once it is stored. */
void tb__daemon_finish(struct src *s)
{
    struct daemon *d = s->d;
    char *body;

    /* A push is not a poll: the source's poll state stays as it was. */
    if (s->p.push && !s->removed)
        report_push(s);
    /* A source dropped by a reload ignores its last poll; at shutdown the
     * poll that was already being parsed is still stored and recorded. */
    else if (!s->p.push && (!s->removed || d->stopping)) {
        /* The site's pages tell why they are empty from the polls: a
         * source's first poll, or one starting or ending a failing streak,
         * may change what they say. */
        int failing = s->st.failures > 0, first = s->st.last_attempt == 0;

        record(s);
        if (first || failing != (s->st.failures > 0))
            tb__daemon_pages_moved(d);
        count(d, s, &s->p);
        report(s);
        if (s->p.rc == 0 && s->p.status == 200)
            tb__daemon_push_after_poll(s);
    } else if (!s->p.push) {
        tb__daemon_lease_drop(s);
    }
    if (d->once && !s->p.push) {
        d->once_failed += s->p.rc != 0;
        if (--d->once_left == 0)
            tb__daemon_stop(d);
    }
    tb__daemon_poll_clear(&s->p);
    s->busy = 0;
    if (s->push_body != NULL && !s->removed && !d->stopping) {
        body = s->push_body;
        s->push_body = NULL;
        start_push(s, body, s->push_len);
    } else {
        tb__daemon_schedule(s);
    }
    tb__daemon_src_unref(s);
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
    uv_check_start(&d->store_check, tb__daemon_on_store);
}

/* New polls start only while few are in flight, so that memory stays
 * bounded however many sources are due: polls fetching and polls fetched
 * but not stored yet together stay under max_connections + BACKLOG. */
static int may_start(const struct daemon *d)
{
    return d->fetching + d->backlog < (size_t)d->cfg->max_connections + TB__DAEMON_BACKLOG;
}

/* Starts waiting polls while there is room. */
void tb__daemon_pump(struct daemon *d)
{
    struct src *s;

    while (d->waiting.head != NULL && (d->stopping || may_start(d))) {
        s = queue_pop(&d->waiting);
        if (s->removed || d->stopping) {
            tb__daemon_lease_drop(s);
            s->busy = 0;
            tb__daemon_src_unref(s);
            continue;
        }
        start_poll(s);
    }
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
        p->rc = tb_store_prepare(p->feed, &p->prep);
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
    p->link = res->link;
    res->etag = res->last_modified = res->permanent_url = res->charset = res->final_url = NULL;
    res->link = NULL;
}

/* Hands a 200 body (taken) to the thread pool. */
static void start_parse(struct src *s, char *body, size_t len)
{
    struct poll *p = &s->p;

    p->len = len;
    p->body = body;
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
    size_t len;

    s->d->fetching--;
    if (res->rc == -ECANCELED) {
        /* Shutting down, or its source was dropped: nothing happened, the stored state stays. */
        tb__daemon_lease_drop(s);
        s->busy = 0;
        tb__daemon_src_unref(s);
        return;
    }
    s->d->backlog++;
    take_result(p, res);
    len = res->body.len; /* tb_buf_take() zeroes it */
    if (p->rc != 0 || p->status != 200 || s->removed)
        poll_done(s);
    else
        start_parse(s, tb_buf_take(&res->body), len);
    tb__daemon_pump(s->d);
}

/* A pushed document takes the poll's place: same parse, store and publish. */
static void start_push(struct src *s, char *body, size_t len)
{
    const char *url = s->push != NULL ? s->push->topic : (s->st.url ? s->st.url : s->url);

    s->busy = 1;
    s->refs++;
    memset(&s->p, 0, sizeof(s->p));
    s->p.push = 1;
    s->p.status = 200;
    s->p.max_age = -1;
    s->p.final_url = strdup(url);
    s->d->backlog++;
    if (s->p.final_url == NULL) {
        free(body);
        s->p.rc = -ENOMEM;
        poll_done(s);
        return;
    }
    start_parse(s, body, len);
}

void tb__daemon_push_ingest(struct src *s, char *body, size_t len)
{
    if (s->busy || s->removed || s->d->stopping) {
        free(s->push_body); /* the newer document supersedes it */
        s->push_body = body;
        s->push_len = len;
        return;
    }
    start_push(s, body, len);
}

static void start_poll(struct src *s)
{
    struct daemon *d = s->d;
    struct tb_fetch_req req = {.url = s->st.url ? s->st.url : s->url,
                               .etag = s->st.etag,
                               .last_modified = s->st.last_modified};
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
void tb__daemon_request_poll(struct src *s)
{
    s->busy = 1;
    s->refs++;
    queue_push(&s->d->waiting, s);
    tb__daemon_pump(s->d);
}

static void on_timer(uv_timer_t *t)
{
    struct src *s = t->data;

    if (!s->busy && !s->removed && !s->d->stopping)
        tb__daemon_lease_due(s);
}

/* Arms the timer for st.next_poll, unless the source must not be polled. */
void tb__daemon_schedule(struct src *s)
{
    int64_t delay;

    if (s->removed || s->busy || s->d->stopping || s->d->once)
        return;
    if (!s->enabled || s->st.gone) {
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
