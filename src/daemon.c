/*
 * The daemon: every stage wired on one libuv loop.
 *
 * Scheduling uses one uv_timer per source, firing at its stored next_poll.
 * libuv keeps its timers in a binary min-heap already, so a second heap of
 * our own would only duplicate it; a timer per source also makes reload
 * simple (a removed source closes its timer, a new one starts its own).
 *
 * A poll: timer -> wait for a slot -> tb_fetcher_add (stored ETag /
 * Last-Modified) -> on 200 parse + normalize + tb_store_prepare
 * (derived columns) on libuv's thread pool (the parser is
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
 *
 * This file starts, reloads and stops; the stages are in daemon_source.c
 * (the running sources), daemon_poll.c (timer, fetch, parse, record) and
 * daemon_store.c (store and checkpoint jobs, publishing), sharing
 * daemon_int.h.
 */
#include "tb_daemon.h"

#include <errno.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "tb_config.h"
#include "tb_db.h"
#include "tb_fetcher.h"
#include "tb_http.h"
#include "tb_publish.h"
#include "tb_site.h"
#include "tb_store.h"
#include "tb_topic.h"

#include "daemon_int.h"

#define MAX_CACHE_AGE 3600
#define TICK_MS 1000      /* the loop's heartbeat, for /readyz */
#define READY_LAG_MS 5000 /* /readyz fails while the loop runs this late (ms) */

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
    /* Topics, weights, groups or [trending] may have changed. */
    rc = rc ? rc : tb_site_publish_trending(&d->site, tb__daemon_trending_now(d), err, sizeof(err));
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
    if (c->websub.enabled != old->websub.enabled || !str_eq(c->websub.hub, old->websub.hub))
        tb_log(TB_LOG_WARN, "config", "[websub] enabled and hub changes take effect on restart");
    d->cfg = c;
    d->site.cfg = c;
    d->site.max_age = cache_age(c);
    if (tb__daemon_sync_sources(d, c) != 0)
        tb_log(TB_LOG_ERROR, "config", "reload: out of memory");
    tb__daemon_push_reload(d, old->websub.callback_base);
    publish_reload(d, old);
    if (!tb__daemon_mail_reload(d, old))
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

/* ---------------------------------------------------------- metrics */

/* The fetch-duration histogram (Prometheus: cumulative buckets, sum, count). */
static int metrics_histogram(const struct daemon *d, struct tb_buf *out)
{
    unsigned long n = 0;
    size_t i;
    int rc = tb_buf_adds(out, "# TYPE tributary_fetch_duration_seconds histogram\n");

    for (i = 0; rc == 0 && i <= FETCH_BUCKETS; i++) {
        n += d->m.fetch_hist[i];
        if (i < FETCH_BUCKETS)
            rc = tb_buf_addf(out, "tributary_fetch_duration_seconds_bucket{le=\"%g\"} %lu\n",
                             fetch_bound(i), n);
        else
            rc = tb_buf_addf(out, "tributary_fetch_duration_seconds_bucket{le=\"+Inf\"} %lu\n", n);
    }
    if (rc == 0)
        rc = tb_buf_addf(out,
                         "tributary_fetch_duration_seconds_sum %.6f\n"
                         "tributary_fetch_duration_seconds_count %lu\n",
                         d->m.fetch_seconds, n);
    return rc;
}

/* Bytes of the database file and its WAL (0 for one that is not there). */
static uint64_t db_bytes(const char *path)
{
    char wal[4200];
    struct stat st;
    uint64_t n = 0;

    if (stat(path, &st) == 0)
        n += (uint64_t)st.st_size;
    snprintf(wal, sizeof(wal), "%s-wal", path);
    if (stat(wal, &st) == 0)
        n += (uint64_t)st.st_size;
    return n;
}

/* A label value in the Prometheus text format: \\, \" and \n escaped. */
static int label_value(struct tb_buf *b, const char *v)
{
    int rc = 0;

    for (; rc == 0 && *v; v++) {
        if (*v == '\\' || *v == '"')
            rc = tb_buf_addf(b, "\\%c", *v);
        else if (*v == '\n')
            rc = tb_buf_adds(b, "\\n");
        else
            rc = tb_buf_add(b, v, 1);
    }
    return rc;
}

/*
 * The per-source fetch counters, last and bounded: only classes that
 * happened, and never past the buffer's cap (a failed append would empty
 * it): series that do not fit are left out and
 * tributary_metrics_truncated says so. About 58 bytes a series plus the
 * source's name: 10,000 sources with 64-character names, one class each,
 * made 1.22 MB of /metrics.
 */
void tb__daemon_metrics_sources(const struct daemon *d, struct tb_buf *out)
{
    static const char *const classes[FETCH_CLASSES] = {"2xx", "3xx", "4xx", "5xx", "error"};
    static const char trunc[] = "# TYPE tributary_metrics_truncated gauge\n"
                                "tributary_metrics_truncated %d\n";
    struct tb_buf line;
    size_t i, k;
    int cut = 0;

    tb_buf_init(&line, 64 * 1024);
    if (tb_buf_adds(out, "# TYPE tributary_source_fetches_total counter\n") != 0)
        return;
    for (i = 0; i < d->nsrcs && !cut; i++) {
        for (k = 0; k < FETCH_CLASSES && !cut; k++) {
            if (d->srcs[i]->fetches[k] == 0)
                continue;
            tb_buf_reset(&line);
            if (tb_buf_adds(&line, "tributary_source_fetches_total{source=\"") != 0 ||
                label_value(&line, d->srcs[i]->name) != 0 ||
                tb_buf_addf(&line, "\",class=\"%s\"} %lu\n", classes[k], d->srcs[i]->fetches[k]) !=
                    0 ||
                out->len + line.len + sizeof(trunc) + 16 > out->cap)
                cut = 1;
            else if (tb_buf_add(out, line.data, line.len) != 0)
                cut = 1;
        }
    }
    tb_buf_free(&line);
    (void)!tb_buf_addf(out, trunc, cut);
}

static void metrics(struct tb_buf *out, void *data)
{
    struct daemon *d = data;
    size_t i, failing = 0, paused = 0, gone = 0;
    int rc;

    for (i = 0; i < d->nsrcs; i++) {
        failing += d->srcs[i]->st.failures > 0;
        paused += !d->srcs[i]->enabled;
        gone += d->srcs[i]->st.gone;
    }
    rc = tb_buf_addf(out,
                     "# TYPE tributary_sources gauge\ntributary_sources %zu\n"
                     "# TYPE tributary_sources_failing gauge\ntributary_sources_failing %zu\n"
                     "# TYPE tributary_sources_paused gauge\ntributary_sources_paused %zu\n"
                     "# TYPE tributary_sources_gone gauge\ntributary_sources_gone %zu\n",
                     d->nsrcs, failing, paused, gone);
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
                         "tributary_entries_stored_total{kind=\"merged\"} %lu\n"
                         "# TYPE tributary_documents_published_total counter\n"
                         "tributary_documents_published_total %lu\n"
                         "# TYPE tributary_store_retries_total counter\n"
                         "tributary_store_retries_total %lu\n",
                         d->m.entries_new, d->m.entries_updated, d->m.entries_merged,
                         d->site.published, d->m.store_retries);
    if (rc == 0)
        rc = metrics_histogram(d, out);
    if (rc == 0)
        rc = tb_buf_addf(out,
                         "# TYPE tributary_database_bytes gauge\n"
                         "tributary_database_bytes %" PRIu64 "\n"
                         "# TYPE tributary_loop_lag_seconds gauge\n"
                         "tributary_loop_lag_seconds %.3f\n",
                         db_bytes(d->cfg->database), (double)d->tick_lag / 1000.0);
    if (rc)
        tb_log(TB_LOG_WARN, "metrics", "%s", tb_strerror(rc));
    tb__daemon_mail_metrics(d, out);
    tb_websub_metrics(d->websub, out);
    tb__daemon_push_metrics(d, out);
    tb__daemon_lease_metrics(d, out);
    tb__daemon_db_metrics(d, out);
    tb__daemon_metrics_sources(d, out);
}

/* ------------------------------------------------------------ /readyz */

/* The loop's heartbeat: how late this run came is how long the loop was
 * busy elsewhere (a handler runs on the loop, so it cannot see a stall
 * while it lasts, only the last one). */
static void on_tick(uv_timer_t *t)
{
    struct daemon *d = t->data;
    uint64_t now = uv_now(&d->loop);

    d->tick_lag = now > d->tick_last + TICK_MS ? now - d->tick_last - TICK_MS : 0;
    d->tick_last = now;
}

/* Why the daemon is not ready, or NULL when it is. */
static const char *not_ready(struct daemon *d, char *why, size_t len)
{
    struct stat st;
    uint64_t now, lag;

    if (d->stopping)
        return "stopping";
    if (tb__daemon_db_down(d))
        return "database: connection lost, reconnecting";
    if (tb_store_ping(d->store) != 0)
        return "database: not answering";
    /* On PostgreSQL there is no file: the ping is the check. */
    if (!tb_db_is_pg(d->cfg->database)) {
        if (stat(d->cfg->database, &st) != 0)
            return "database: the file is gone (deleted or moved away)";
        if (st.st_dev != d->db_dev || st.st_ino != d->db_ino)
            return "database: the file was replaced since the daemon opened it";
    }
    uv_update_time(&d->loop);
    now = uv_now(&d->loop);
    lag = now > d->tick_last + TICK_MS ? now - d->tick_last - TICK_MS : 0;
    if (lag < d->tick_lag)
        lag = d->tick_lag;
    if (lag > READY_LAG_MS) {
        snprintf(why, len, "loop: stalled, %.1f s late", (double)lag / 1000.0);
        return why;
    }
    return NULL;
}

/* GET /readyz: 200 "ready", or 503 with the reason on one line. */
static void ready_route(const struct tb_http_req *req, struct tb_http_res *res, void *data)
{
    char buf[128];
    const char *why = not_ready(data, buf, sizeof(buf));

    res->type = "text/plain; charset=utf-8";
    res->status = why ? 503 : 200;
    if (tb_buf_addf(&res->body, "%s\n", why ? why : "ready") != 0)
        res->status = 500;
}

/* Starts the heartbeat and serves /readyz. */
static int start_ready(struct daemon *d)
{
    struct stat st;
    int rc;

    if (stat(d->cfg->database, &st) == 0) {
        d->db_dev = st.st_dev;
        d->db_ino = st.st_ino;
    }
    uv_timer_init(&d->loop, &d->tick);
    d->tick.data = d;
    d->tick_last = uv_now(&d->loop);
    uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
    rc = tb_http_route(d->http, "/readyz", ready_route, d);
    if (rc)
        tb_log(TB_LOG_ERROR, "http", "/readyz: %s", tb_strerror(rc));
    return rc;
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;

    if (signum == SIGHUP) {
        tb_log(TB_LOG_INFO, NULL, "SIGHUP: reloading %s", d->config_path);
        tb_notify_reloading();
        reload(d);
        tb_notify_reloaded();
        return;
    }
    tb_log(TB_LOG_INFO, NULL, "%s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    tb__daemon_stop(d);
}

/* Ends everything on the loop; uv_run() returns once the handles closed.
 * Transfers are abandoned (their state stays as stored); parses already
 * running finish and are stored. */
void tb__daemon_stop(struct daemon *d)
{
    size_t i;

    if (d->stopping)
        return;
    d->stopping = 1;
    tb_notify_stopping(&d->notify);
    for (i = 0; i < 3; i++)
        uv_close((uv_handle_t *)&d->sig[i], NULL);
    uv_close((uv_handle_t *)&d->pub_timer, NULL);
    uv_close((uv_handle_t *)&d->trend_timer, NULL);
    tb__daemon_lease_stop(d);
    tb__daemon_db_stop(d);
    if (d->http != NULL && !uv_is_closing((uv_handle_t *)&d->tick))
        uv_close((uv_handle_t *)&d->tick, NULL);
    tb_websub_free(d->websub); /* its owed deliveries stay in the store */
    d->websub = NULL;
    d->site.on_feed = NULL;
    if (d->fetcher != NULL)
        tb_fetcher_cancel_all(d->fetcher);
    tb__daemon_arxiv_stop(d);
    tb__daemon_mail_stop(d);
    tb_mail_web_free(d->mail_web, d->http); /* its routes first: the server lives on a while */
    d->mail_web = NULL;
    tb__daemon_push_stop(d);
    tb__daemon_sync_stop(d);
    tb__daemon_srcs_clear(d);
    tb__daemon_pump(d); /* drops the polls still waiting for a slot */
    tb_fetcher_free(d->fetcher, NULL, NULL);
    d->fetcher = NULL;
    if (d->http != NULL)
        tb_http_free(d->http, NULL, NULL);
    d->http = NULL;
    d->site.http = NULL;
}

/* ----------------------------------------------------------- running */

static void mail_kick(void *data)
{
    tb__daemon_mail_kick(data);
}

/* With [mail]: the routes that subscribe, confirm, manage and unsubscribe (mail_web.c). */
static int start_mail_web(struct daemon *d)
{
    struct tb_mail_web_opts o = {.http = d->http,
                                 .store = d->store,
                                 .cfg = &d->cfg,
                                 .key = d->mail_key,
                                 .kick = mail_kick,
                                 .kick_data = d};
    int rc;

    if (!d->cfg->mail.enabled || d->http == NULL)
        return 0;
    rc = tb_mail_web_new(&o, &d->mail_web);
    if (rc)
        tb_log(TB_LOG_ERROR, "mail", "subscribe pages: %s", tb_strerror(rc));
    return rc;
}

static void on_feed(void *data, const char *path, const char *type, const struct tb_buf *doc)
{
    struct daemon *d = data;

    tb_websub_changed(d->websub, path, type, doc->data ? doc->data : "", doc->len);
}

/* The WebSub hub: feeds name it (also after `fetch`, so documents do not
 * change with the command that wrote them); the daemon serves it and
 * hears of every feed document written. TB_WEBSUB_RETRY_MS (tests only)
 * shortens the first retry wait. */
static int start_websub(struct daemon *d)
{
    const char *retry = getenv("TB_WEBSUB_RETRY_MS");
    struct tb_websub_opts o = {.loop = &d->loop,
                               .http = d->http,
                               .fetcher = d->fetcher,
                               .store = d->store,
                               .cfg = (const struct tb_config *const *)&d->cfg,
                               .retry_ms = retry ? strtoull(retry, NULL, 10) : 0,
                               .node = tb_db_is_pg(d->cfg->database) ? d->cfg->node : NULL};
    int rc;

    d->site.hub = tb_websub_hub_url(d->cfg, d->hub_url, sizeof(d->hub_url));
    if (d->once || d->http == NULL)
        return 0;
    rc = tb_websub_new(&o, &d->websub);
    if (rc == 0) {
        d->site.on_feed = on_feed;
        d->site.on_feed_data = d;
    }
    return rc;
}

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

    if (!tb_db_is_pg(d->cfg->database))
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
    tb_http_set_miss(d->http, tb_site_archive_miss, &d->site);
    rc = start_ready(d);
    if (rc)
        return rc;
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
    uv_timer_init(&d->loop, &d->trend_timer);
    d->trend_timer.data = d;
    uv_check_init(&d->loop, &d->store_check);
    d->store_check.data = d;
    uv_async_init(&d->loop, &d->store_done, tb__daemon_on_store_done);
    d->store_done.data = d;
    uv_unref((uv_handle_t *)&d->store_done);
}

static int chosen(const struct tb_daemon_opts *o, const struct src *s)
{
    size_t i;

    if (o->nnames == 0)
        return s->enabled && !s->st.gone;
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
        tb__daemon_stop(d);
        return;
    }
    for (i = 0; i < d->nsrcs && !d->stopping; i++) {
        if (chosen(o, d->srcs[i]))
            tb__daemon_request_poll(d->srcs[i]);
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
    if (rc == 0 && !d->once && d->trend_dirty)
        rc = tb_site_publish_trending(&d->site, tb__daemon_trending_now(d), err, sizeof(err));
    if (rc)
        tb_log(TB_LOG_ERROR, "publish", "%s", err[0] ? err : tb_strerror(rc));
    return rc;
}

/* TREND_EVERY_MS, or TB_TRENDING_EVERY_MS (tests only: a cluster's
 * recomputations without waiting hours). */
static uint64_t trend_every(void)
{
    const char *v = getenv("TB_TRENDING_EVERY_MS");
    uint64_t ms = v ? strtoull(v, NULL, 10) : 0;

    return ms >= 100 ? ms : TREND_EVERY_MS;
}

static int start(struct daemon *d, const struct tb_daemon_opts *o)
{
    char err[512] = "";
    int rc;

    d->site.cfg = d->cfg;
    d->site.store = d->store;
    d->trend_every = trend_every();
    d->site.max_age = cache_age(d->cfg);
    /* A kill between writing and renaming a published file leaves its
     * temporary behind; nothing else can be half-written. */
    if (tb_publish_clean_tmp(d->cfg->public_dir) > 0)
        tb_log(TB_LOG_INFO, "publish", "removed stale temporary files in %s", d->cfg->public_dir);
    start_signals(d);
    rc = start_fetcher(d);
    if (rc == 0 && !o->once)
        rc = start_http(d);
    if (rc == 0 && !o->once)
        rc = tb__daemon_lease_start(d);
    if (rc == 0 && !o->once)
        rc = tb__daemon_db_start(d);
    if (rc)
        return rc;
    rc = tb__daemon_first_sync(d);
    if (rc == 0)
        rc = start_websub(d);
    if (rc == 0)
        rc = tb__daemon_sync_start(d); /* before publish_all: from the feed's head on */
    if (rc == 0 && !o->once && tb_site_publish_all(&d->site, err, sizeof(err)) != 0)
        tb_log(TB_LOG_ERROR, "publish", "%s", err);
    if (rc == 0 && !o->once)
        rc = tb__daemon_arxiv_start(d);
    if (rc == 0 && !o->once)
        rc = tb__daemon_mail_start(d);
    if (rc == 0 && !o->once)
        rc = start_mail_web(d);
    if (rc == 0 && !o->once)
        rc = tb__daemon_push_start(d);
    d->trend_last = uv_now(&d->loop); /* publish_all wrote trending */
    if (rc == 0 && !o->once)
        uv_timer_start(&d->trend_timer, tb__daemon_on_trend_timer, d->trend_every, d->trend_every);
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
    /* Ready: the server listens, the first sync and publish are done. */
    if (rc == 0 && !o->once)
        rc = tb_notify_ready(&d.notify, &d.loop);
    if (rc)
        tb__daemon_stop(&d);
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
    free(d.byid);
    free(d.pending);
    tb_store_close(d.cstore);
    tb_store_close(d.wstore);
    tb_store_close(d.store);
    tb_config_free(d.cfg);
    return (rc || !ok || d.once_failed) ? 1 : 0;
}
