/*
 * The daemon's PostgreSQL connections after the server went away (a
 * restart, a failover, pg_terminate_backend): a timer on the loop looks
 * every second whether libpq has given up on one of the loop's
 * connections (no query: tb_db_lost), and then reconnects them with
 * backoff, 0.1 s doubling to 5 s with jitter, while /readyz says not ready
 * and the HTTP server goes on serving the documents last published (they
 * are files: a publish that failed left them as they were). One line is
 * logged when the database is lost and one when it is back. Once back, the
 * leases this node still holds on sources it is not polling are ended (the
 * polls whose store failed are fetched again at once, their validators not
 * having been recorded) and the pages are published again.
 *
 * Reconnecting never blocks the loop: each lost connection is made again
 * apart (tb_db_renew_start), stepped by PQconnectPoll whenever a uv_poll
 * says its socket is ready, and put in place once all of the attempt's
 * connections are up. A server that accepts and then says nothing (a
 * half-dead host, a proxy with no backend) holds an attempt until
 * DBW_ATTEMPT_MS, then the backoff and a new attempt; meanwhile the loop
 * serves HTTP. No store job starts on a connection being renewed
 * (tb__daemon_db_renewing): its polls wait in the ready queue.
 *
 * The store job's connection is looked at only between store jobs (the
 * job's thread owns it meanwhile): a job whose connection dropped fails as
 * a whole, its transaction undone by the server, and after_store_job asks
 * for a look at once. The mail thread reconnects its own connection
 * (daemon_mail.c). On SQLite none of this runs.
 */

#include <stdlib.h>
#include <string.h>

#include "tb_db.h"
#include "tb_log.h"
#include "tb_store.h"

#include "daemon_int.h"

#define DBW_EVERY_MS 1000    /* how often the connections are looked at while up */
#define DBW_FIRST_MS 100     /* the first reconnect's wait, doubling ... */
#define DBW_MAX_MS 5000      /* ... up to this */
#define DBW_ATTEMPT_MS 10000 /* an attempt that has not connected by then is given up */

static void on_dbw(uv_timer_t *t);

/* The connections the loop may reconnect now (the store job's only while
 * no job runs). */
static size_t loop_conns(struct daemon *d, struct tb_db **out)
{
    size_t n = 0;

    if (d->store)
        out[n++] = tb_store_sql(d->store);
    if (d->wstore && d->storing == NULL)
        out[n++] = tb_store_sql(d->wstore);
    if (d->cstore && !d->checkpointing)
        out[n++] = tb_store_sql(d->cstore);
    return n;
}

uint64_t tb__daemon_db_backoff(uint64_t *nominal, unsigned r)
{
    uint64_t next = *nominal == 0 ? DBW_FIRST_MS : *nominal * 2;

    if (next > DBW_MAX_MS)
        next = DBW_MAX_MS;
    *nominal = next;
    /* Jitter: between three quarters and all of it, so that the nodes of a
     * cluster do not all knock at the same instant. */
    return next - (next / 4) * (r % 1000) / 1000;
}

/* Back: the outage's leftovers are cleared. */
static void back(struct daemon *d)
{
    struct dbwatch *w = &d->dbw;

    w->down = 0;
    w->reconnects++;
    tb_log(TB_LOG_INFO, "database", "reconnected after %.1f s",
           (double)(uv_now(&d->loop) - w->since) / 1000.0);
    d->sweep_wanted = 1; /* leases of polls whose store or record failed */
    tb__daemon_lease_kick(d);
    tb__daemon_pages_stale(d);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void unwatch(struct renewal *rn)
{
    if (rn->poll != NULL)
        uv_close((uv_handle_t *)rn->poll, free_handle);
    rn->poll = NULL;
    rn->fd = -1;
}

/* Ends the attempt in progress: its connections not put in place are closed. */
static void drop_attempt(struct dbwatch *w)
{
    size_t i;

    for (i = 0; i < w->nren; i++) {
        unwatch(&w->ren[i]);
        tb_db_renew_cancel(w->ren[i].r);
        w->ren[i].r = NULL;
    }
    w->nren = 0;
}

/* The attempt failed (why): a new one after the backoff. */
static void attempt_failed(struct daemon *d, const char *why)
{
    struct dbwatch *w = &d->dbw;

    drop_attempt(w);
    tb_log(TB_LOG_DEBUG, "database", "reconnect: %s", why);
    uv_timer_start(&w->timer, on_dbw,
                   tb__daemon_db_backoff(&w->delay_ms, (unsigned)(next_rnd(d) * 1000)), 0);
}

/* The store job's polls that waited for its connection may go now. */
static void release_store(struct daemon *d)
{
    if (d->ready.head != NULL && !uv_is_closing((uv_handle_t *)&d->store_check))
        uv_check_start(&d->store_check, tb__daemon_on_store);
}

static void on_renew_poll(uv_poll_t *h, int status, int events);

/* Every connection of the attempt is up: each replaces its lost one. */
static void attempt_done(struct daemon *d)
{
    struct dbwatch *w = &d->dbw;
    char err[256] = "";
    size_t i;
    int rc = 0;

    for (i = 0; i < w->nren; i++) {
        struct renewal *rn = &w->ren[i];

        unwatch(rn);
        if (rc == 0)
            rc = tb_db_renew_finish(rn->db, rn->r, err, sizeof(err));
        else
            tb_db_renew_cancel(rn->r);
        rn->r = NULL;
    }
    w->nren = 0;
    release_store(d);
    if (rc != 0) {
        attempt_failed(d, err);
        return;
    }
    /* Another connection may have been found lost meanwhile: on_dbw looks. */
    uv_timer_start(&w->timer, on_dbw, 0, 0);
}

/* Watches socket fd of renewal rn for events, with a new handle each time:
 * libpq may have closed the socket and opened another (the next address),
 * which can reuse the number. 0 or -1. */
static int watch(struct renewal *rn, int fd, int events)
{
    unwatch(rn);
    rn->poll = malloc(sizeof(*rn->poll));
    if (rn->poll == NULL || uv_poll_init_socket(&rn->d->loop, rn->poll, fd) != 0) {
        free(rn->poll);
        rn->poll = NULL;
        return -1;
    }
    rn->poll->data = rn;
    rn->fd = fd;
    return uv_poll_start(rn->poll, events, on_renew_poll) == 0 ? 0 : -1;
}

/* Steps renewal rn: waits on its socket, or is ready, or fails the attempt. */
static void step(struct renewal *rn)
{
    struct daemon *d = rn->d;
    struct dbwatch *w = &d->dbw;
    char err[256] = "";
    size_t i;
    int fd = -1, rc = tb_db_renew_poll(rn->r, &fd, err, sizeof(err));

    if (rc < 0) {
        attempt_failed(d, err[0] ? err : "connection refused");
        return;
    }
    if (rc == 0) {
        unwatch(rn);
        rn->ready = 1;
        for (i = 0; i < w->nren; i++)
            if (!w->ren[i].ready)
                return;
        attempt_done(d);
        return;
    }
    if (watch(rn, fd, rc == TB_DB_RENEW_READ ? UV_READABLE : UV_WRITABLE) != 0)
        attempt_failed(d, "cannot watch the connection's socket");
}

static void on_renew_poll(uv_poll_t *h, int status, int events)
{
    struct renewal *rn = h->data;

    (void)status; /* an error on the socket: PQconnectPoll finds it */
    (void)events;
    if (rn->poll != h || rn->r == NULL)
        return;
    step(rn);
}

/* Starts an attempt for the lost connections among conns. */
static void attempt_start(struct daemon *d, struct tb_db **conns, size_t n)
{
    struct dbwatch *w = &d->dbw;
    char err[256] = "";
    size_t i, k;

    w->attempts++;
    for (i = 0; i < n; i++) {
        struct renewal *rn = &w->ren[w->nren];

        if (!tb_db_lost(conns[i]))
            continue;
        memset(rn, 0, sizeof(*rn));
        rn->d = d;
        rn->db = conns[i];
        rn->fd = -1;
        if (tb_db_renew_start(conns[i], &rn->r, err, sizeof(err)) != 0) {
            attempt_failed(d, err);
            return;
        }
        w->nren++;
    }
    /* The time limit first: a step may end the attempt (and set the backoff). */
    uv_timer_start(&w->timer, on_dbw, DBW_ATTEMPT_MS, 0);
    for (i = 0, k = w->nren; i < k && w->nren == k; i++)
        step(&w->ren[i]);
}

static void on_dbw(uv_timer_t *t)
{
    struct daemon *d = t->data;
    struct dbwatch *w = &d->dbw;
    struct tb_db *conns[3];
    size_t i, n;
    struct tb_db *lost = NULL;

    if (w->nren > 0) {
        attempt_failed(d, "no answer from the server in time");
        return;
    }
    n = loop_conns(d, conns);
    for (i = 0; i < n && lost == NULL; i++)
        if (tb_db_lost(conns[i]))
            lost = conns[i];
    if (!w->down && lost == NULL) {
        uv_timer_start(&w->timer, on_dbw, DBW_EVERY_MS, 0);
        return;
    }
    if (!w->down) {
        w->down = 1;
        w->losses++;
        w->since = uv_now(&d->loop);
        w->delay_ms = 0;
        tb_log(TB_LOG_WARN, "database", "connection lost (%s): reconnecting",
               tb_db_errmsg(lost)[0] ? tb_db_errmsg(lost) : "server gone");
    }
    if (lost != NULL) {
        attempt_start(d, conns, n);
        return;
    }
    /* A connection the store job holds is looked at after the job. */
    if (d->wstore && d->storing != NULL) {
        uv_timer_start(&w->timer, on_dbw, DBW_FIRST_MS, 0);
        return;
    }
    back(d);
    uv_timer_start(&w->timer, on_dbw, DBW_EVERY_MS, 0);
}

int tb__daemon_db_start(struct daemon *d)
{
    struct dbwatch *w = &d->dbw;

    if (!tb_db_is_pg(d->cfg->database))
        return 0;
    uv_timer_init(&d->loop, &w->timer);
    w->timer.data = d;
    w->started = 1;
    uv_unref((uv_handle_t *)&w->timer);
    uv_timer_start(&w->timer, on_dbw, DBW_EVERY_MS, 0);
    return 0;
}

void tb__daemon_db_kick(struct daemon *d)
{
    struct dbwatch *w = &d->dbw;

    if (!w->started || w->down || d->stopping)
        return; /* the backoff's (or the attempt's) own timer is running */
    uv_timer_start(&w->timer, on_dbw, 0, 0);
}

int tb__daemon_db_down(const struct daemon *d)
{
    return d->dbw.down;
}

int tb__daemon_db_renewing(const struct daemon *d, const struct tb_db *db)
{
    size_t i;

    for (i = 0; i < d->dbw.nren && !d->stopping; i++)
        if (d->dbw.ren[i].db == db)
            return 1;
    return 0;
}

void tb__daemon_db_stop(struct daemon *d)
{
    if (!d->dbw.started || uv_is_closing((uv_handle_t *)&d->dbw.timer))
        return;
    drop_attempt(&d->dbw);
    uv_close((uv_handle_t *)&d->dbw.timer, NULL);
    release_store(d); /* polls that waited for a renewal are stored (or fail) */
}

void tb__daemon_db_metrics(const struct daemon *d, struct tb_buf *out)
{
    if (!d->dbw.started)
        return;
    if (tb_buf_addf(out,
                    "# TYPE tributary_database_up gauge\ntributary_database_up %d\n"
                    "# TYPE tributary_database_losses_total counter\n"
                    "tributary_database_losses_total %lu\n"
                    "# TYPE tributary_database_reconnects_total counter\n"
                    "tributary_database_reconnects_total %lu\n"
                    "# TYPE tributary_database_connect_attempts_total counter\n"
                    "tributary_database_connect_attempts_total %lu\n",
                    !d->dbw.down, d->dbw.losses, d->dbw.reconnects, d->dbw.attempts) != 0)
        tb_log(TB_LOG_WARN, "metrics", "out of memory");
}
