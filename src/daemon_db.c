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
 * The store job's connection is looked at only between store jobs (the
 * job's thread owns it meanwhile): a job whose connection dropped fails as
 * a whole, its transaction undone by the server, and after_store_job asks
 * for a look at once. The mail thread reconnects its own connection
 * (daemon_mail.c). On SQLite none of this runs.
 */

#include "tb_db.h"
#include "tb_log.h"
#include "tb_store.h"

#include "daemon_int.h"

#define DBW_EVERY_MS 1000 /* how often the connections are looked at while up */
#define DBW_FIRST_MS 100  /* the first reconnect's wait, doubling ... */
#define DBW_MAX_MS 5000   /* ... up to this */

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

static void on_dbw(uv_timer_t *t)
{
    struct daemon *d = t->data;
    struct dbwatch *w = &d->dbw;
    struct tb_db *conns[3];
    size_t i, n = loop_conns(d, conns);
    char err[256] = "";
    struct tb_db *lost = NULL;
    int failed = 0;

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
    for (i = 0; i < n && !failed; i++)
        if (tb_db_lost(conns[i]) && tb_db_reconnect(conns[i], err, sizeof(err)) != 0)
            failed = 1;
    /* A connection the store job holds is looked at after the job. */
    if (!failed && d->wstore && d->storing != NULL && w->down) {
        uv_timer_start(&w->timer, on_dbw, DBW_FIRST_MS, 0);
        return;
    }
    if (!failed) {
        back(d);
        uv_timer_start(&w->timer, on_dbw, DBW_EVERY_MS, 0);
        return;
    }
    tb_log(TB_LOG_DEBUG, "database", "reconnect: %s", err);
    uv_timer_start(&w->timer, on_dbw,
                   tb__daemon_db_backoff(&w->delay_ms, (unsigned)(next_rnd(d) * 1000)), 0);
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

    if (!w->started || w->down)
        return; /* the backoff's own timer is running */
    uv_timer_start(&w->timer, on_dbw, 0, 0);
}

int tb__daemon_db_down(const struct daemon *d)
{
    return d->dbw.down;
}

void tb__daemon_db_stop(struct daemon *d)
{
    if (d->dbw.started && !uv_is_closing((uv_handle_t *)&d->dbw.timer))
        uv_close((uv_handle_t *)&d->dbw.timer, NULL);
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
                    "tributary_database_reconnects_total %lu\n",
                    !d->dbw.down, d->dbw.losses, d->dbw.reconnects) != 0)
        tb_log(TB_LOG_WARN, "metrics", "out of memory");
}
