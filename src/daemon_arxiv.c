/*
 * The daemon's arXiv resolver (tb_arxiv.h): papers that sources mention
 * but no source carries are asked of the arXiv API, in batches of at most
 * [trending] arxiv_batch ids, one request at a time, each starting at
 * least TB_ARXIV_GAP_MS after the one before (arXiv's terms of use). The
 * answer is parsed on the loop's thread (at most 100 short entries) and
 * stored as the pseudo-source "arXiv" (weight 0: resolving a paper adds no
 * voice to its trending score) through the store job's connection while
 * no store job runs. The ids due are read at most once per gap: SETTLE_MS
 * after a store job (so that polls ending together make one batch), or
 * when a failed id's retry time comes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tb_arxiv.h"
#include "tb_db.h"
#include "tb_fetcher.h"
#include "tb_store.h"

#include "daemon_int.h"

/* After a store job, the ids due are read this much later (ms). */
#define SETTLE_MS 1000
/* After a look at the ids due that took t ms, the next waits this many t. */
#define QUIET_FACTOR 20

static void kick(struct daemon *d);

static void on_timer(uv_timer_t *t)
{
    kick(t->data);
}

/* Asks again in ms milliseconds (the timer keeps the earlier of two). */
static void later(struct daemon *d, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    if (uv_is_active((uv_handle_t *)&d->arxiv_timer) &&
        uv_timer_get_due_in(&d->arxiv_timer) <= (uint64_t)ms)
        return;
    uv_update_time(&d->loop);
    uv_timer_start(&d->arxiv_timer, on_timer, (uint64_t)ms, 0);
}

static void free_batch(struct daemon *d)
{
    size_t i;

    for (i = 0; i < d->arxiv_nids; i++)
        free(d->arxiv_ids[i]);
    d->arxiv_nids = 0;
    tb_feed_free(d->arxiv_feed);
    d->arxiv_feed = NULL;
}

/* Records the batch's ids: those the answer carried as resolved, the
 * others (a failed request, or ids the API does not know) as failed. */
static void record(struct daemon *d, const struct tb_feed *f)
{
    const char *ok[TB_ARXIV_BATCH_MAX], *bad[TB_ARXIV_BATCH_MAX];
    const struct tb_entry *e;
    size_t i, nok = 0, nbad = 0;
    int64_t now = now_s();
    char err[512] = "";
    int found;

    for (i = 0; i < d->arxiv_nids; i++) {
        found = 0;
        for (e = f ? f->entries : NULL; e != NULL && !found; e = e->next)
            found = strcmp(e->arxiv_id, d->arxiv_ids[i]) == 0;
        if (found)
            ok[nok++] = d->arxiv_ids[i];
        else
            bad[nbad++] = d->arxiv_ids[i];
    }
    if (tb_store_arxiv_record(d->wstore, ok, nok, 1, now, d->cfg->trending.arxiv_retry, err,
                              sizeof(err)) != 0 ||
        tb_store_arxiv_record(d->wstore, bad, nbad, 0, now, d->cfg->trending.arxiv_retry, err,
                              sizeof(err)) != 0)
        tb_log(TB_LOG_ERROR, "arxiv", "%s", err);
    tb_log(nbad ? TB_LOG_WARN : TB_LOG_INFO, "arxiv", "%zu of %zu papers resolved%s", nok,
           d->arxiv_nids, nbad ? "; the others are asked again later" : "");
}

/* The request is over (arxiv_done) and no store job runs: stores the
 * answer in arxiv_feed, if any, records the batch, and lets the next
 * request go once the gap is over. The store job's connection is the
 * loop's to use only between jobs. */
static void finish(struct daemon *d)
{
    struct tb_store_stats st = {0};
    int64_t *ids = NULL;
    size_t n = 0;
    char err[512] = "";
    int rc = 0;

    if (d->arxiv_feed != NULL && d->arxiv_source == 0) {
        /* The pseudo-source exists once it has something to store. */
        rc = tb_store_source(d->wstore, TB_ARXIV_SOURCE, NULL, &d->arxiv_source, err, sizeof(err));
        if (rc == 0)
            rc = tb_store_source_voice(d->wstore, d->arxiv_source, NULL, 0, err, sizeof(err));
        if (rc != 0)
            d->arxiv_source = 0;
    }
    if (d->arxiv_feed != NULL && rc == 0) {
        rc = tb_store_put_feed(d->wstore, d->arxiv_source, d->arxiv_feed, now_s(), &st, &ids, &n,
                               err, sizeof(err));
        /* Undone by a deadlock or a lock timeout (another node storing
         * some of the same papers): once more, rather than ask again. */
        if (rc == TB_EDB_RETRY) {
            tb_log(TB_LOG_WARN, "arxiv", "store: %s: storing it again", err);
            d->m.store_retries++;
            rc = tb_store_put_feed(d->wstore, d->arxiv_source, d->arxiv_feed, now_s(), &st, &ids,
                                   &n, err, sizeof(err));
        }
        if (rc == 0) {
            tb__daemon_publish_later(d, ids, n);
            d->m.entries_new += st.added;
            d->m.entries_updated += st.updated;
            d->m.entries_merged += st.merged;
        }
    }
    if (rc != 0) {
        tb_log(TB_LOG_ERROR, "arxiv", "store: %s", err[0] ? err : tb_strerror(rc));
        tb_feed_free(d->arxiv_feed);
        d->arxiv_feed = NULL;
    }
    record(d, d->arxiv_feed);
    /* The round is over: another node may start the next. */
    if (d->arxiv_job.token != 0 &&
        tb_jobs_done(d->wstore, &d->arxiv_job, d->cfg->node, now_s(), err, sizeof(err)) != 0)
        tb_log(TB_LOG_WARN, "arxiv", "%s", err);
    memset(&d->arxiv_job, 0, sizeof(d->arxiv_job));
    free(ids);
    free_batch(d);
    d->arxiv_busy = d->arxiv_done = 0;
    later(d, d->arxiv_last + TB_ARXIV_GAP_MS - now_ms());
}

/* The request is over: finished now, or after the running store job. */
static void done(struct daemon *d)
{
    d->arxiv_done = 1;
    if (d->storing == NULL)
        finish(d);
}

static void on_answer(struct tb_fetch_result *res, void *data)
{
    struct daemon *d = data;
    char err[400] = "";
    int rc;

    if (res->rc == -ECANCELED) {
        free_batch(d);
        d->arxiv_busy = 0;
        return;
    }
    if (res->rc == 0 && res->status == 200) {
        rc = tb_arxiv_parse_answer(res->body.data ? res->body.data : "", res->body.len,
                                   res->final_url, &d->arxiv_feed, err, sizeof(err));
        if (rc != 0)
            tb_log(TB_LOG_WARN, "arxiv", "answer: %s", err[0] ? err : tb_strerror(rc));
    } else if (res->rc != 0) {
        tb_log(TB_LOG_WARN, "arxiv", "API: %s", res->err[0] ? res->err : tb_strerror(res->rc));
    } else {
        tb_log(TB_LOG_WARN, "arxiv", "API answered HTTP %ld", res->status);
    }
    done(d);
}

/* A round (one request and its record) is the job "arxiv" (tb_jobs.h):
 * one node at a time asks the API, and the ids a round records are no
 * longer due for the next one, whichever node runs it. The claim is a
 * write, made through the store job's connection while no job runs. 1
 * when claimed; else the batch is dropped and looked at again later. */
static int claim_round(struct daemon *d, int64_t now)
{
    char err[512] = "";
    int64_t due = 0;
    int rc = -EAGAIN;

    if (d->storing == NULL)
        rc = tb_jobs_claim(d->wstore, "arxiv", d->cfg->node, now, d->cfg->lease, 0, &d->arxiv_job,
                           &due, err, sizeof(err));
    if (rc == 1)
        return 1;
    if (rc < 0 && rc != -EAGAIN)
        tb_log(TB_LOG_ERROR, "arxiv", "claim: %s", err[0] ? err : tb_strerror(rc));
    memset(&d->arxiv_job, 0, sizeof(d->arxiv_job));
    free_batch(d);
    later(d, rc == 0 && due > now ? (due - now) * 1000 + 10 : SETTLE_MS);
    return rc;
}

/* Asks for the ids due, when resolving and no request runs and the gap is over. */
static void kick(struct daemon *d)
{
    struct tb_fetch_req req = {0};
    int64_t wait, next = 0, now, t0;
    char err[512] = "", *url = NULL;
    size_t max;
    int rc;

    if (d->stopping || d->arxiv_off || !d->cfg->trending.resolve_arxiv)
        return;
    if (d->arxiv_busy) {
        if (d->arxiv_done && d->storing == NULL)
            finish(d);
        return;
    }
    wait = d->arxiv_last + TB_ARXIV_GAP_MS - now_ms();
    if (wait < d->arxiv_quiet - now_ms())
        wait = d->arxiv_quiet - now_ms();
    if (wait > 0) {
        later(d, wait);
        return;
    }
    now = now_s();
    max = d->cfg->trending.arxiv_batch;
    t0 = now_ms();
    rc = tb_store_arxiv_due(d->store, now, now - d->cfg->trending.window, max, d->arxiv_ids,
                            &d->arxiv_nids, err, sizeof(err));
    /* The query blocks the loop for as long as it reads the window's
     * open ids (about 1 ms in contrib/bench/trending; reading the window's
     * 300,000 mentions took 0.2-0.4 s before migration 12): the next one
     * waits QUIET_FACTOR times that. */
    d->arxiv_quiet = now_ms() + QUIET_FACTOR * (now_ms() - t0);
    if (rc == 0 && d->arxiv_nids == 0) {
        rc = tb_store_arxiv_next(d->store, now, &next, err, sizeof(err));
        if (rc == 0 && next > 0)
            later(d, (next - now) * 1000 + 10);
    }
    if (rc != 0)
        tb_log(TB_LOG_ERROR, "arxiv", "%s", err[0] ? err : tb_strerror(rc));
    if (rc != 0 || d->arxiv_nids == 0)
        return;
    if (claim_round(d, now) != 1)
        return;
    rc = tb_arxiv_query_url(d->cfg->trending.arxiv_api, (const char *const *)d->arxiv_ids,
                            d->arxiv_nids, &url);
    req.url = url;
    if (rc == 0)
        rc = tb_fetcher_add(d->fetcher, &req, on_answer, d);
    d->arxiv_last = now_ms();
    d->arxiv_busy = 1;
    if (rc != 0) {
        tb_log(TB_LOG_ERROR, "arxiv", "cannot ask the API: %s", tb_strerror(rc));
        done(d);
    } else {
        tb_log(TB_LOG_INFO, "arxiv", "asking the API for %zu papers", d->arxiv_nids);
    }
    free(url);
}

void tb__daemon_arxiv_kick(struct daemon *d)
{
    if (!d->arxiv_timer_on || d->arxiv_off || d->stopping)
        return;
    if (d->arxiv_busy) {
        if (d->arxiv_done)
            finish(d);
        return;
    }
    /* Papers stored by polls that end together go in one batch. */
    later(d, SETTLE_MS);
}

int tb__daemon_arxiv_start(struct daemon *d)
{
    size_t i;

    uv_timer_init(&d->loop, &d->arxiv_timer);
    d->arxiv_timer.data = d;
    d->arxiv_timer_on = 1;
    for (i = 0; i < d->cfg->nsources; i++) {
        if (strcmp(d->cfg->sources[i].name, TB_ARXIV_SOURCE) == 0) {
            tb_log(TB_LOG_WARN, "arxiv",
                   "a source is named \"%s\", the name of resolved papers: not resolving",
                   TB_ARXIV_SOURCE);
            d->arxiv_off = 1;
            return 0;
        }
    }
    kick(d);
    return 0;
}

void tb__daemon_arxiv_stop(struct daemon *d)
{
    if (d->arxiv_timer_on)
        uv_close((uv_handle_t *)&d->arxiv_timer, NULL);
    d->arxiv_timer_on = 0;
    free_batch(d); /* an answer that waited for a store job */
}
