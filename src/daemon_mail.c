/*
 * The daemon's mail side, when [mail] is configured: the token secret
 * (loaded, or created at first start), and the sender: a thread of its own
 * with its own database connection and SMTP connection (tb_smtp.h) that
 * builds the digests due (tb_digest_run()) at each send slot and drains
 * the outbox (tb_smtp_drain()), at most [mail] rate messages a minute.
 *
 * The thread sleeps on a condition variable until the earliest of: a kick
 * (something was queued: a confirmation from the site's /subscribe), the
 * next digest slot, the next retry of a deferred message, a reload, a
 * stop, or a minute (so messages queued by another process, such as
 * `tributary digest`, go out too). Building the digests on that thread
 * keeps the loop serving pages while thousands are built.
 *
 * The thread reads the config it was given; a reload hands it the new one
 * under the mutex, and an old config it is still reading is freed by the
 * thread when its job is over. A stop lets the message being sent finish
 * (tb_smtp_drain() looks at the flag between messages); the thread's end
 * comes back to the loop as an async handle, which keeps the loop running
 * until then.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tb_db.h"
#include "tb_digest.h"
#include "tb_mail.h"
#include "tb_smtp.h"
#include "tb_subs.h"

#include "daemon_int.h"

/* The thread looks at the outbox at least this often (ms). */
#define LOOK_EVERY_MS (60 * 1000)
/* After a failed digest run, the next try (s). */
#define DIGEST_RETRY 300

struct mailer {
    struct daemon *d;                 /* owner */
    uv_thread_t thread;               /* the sender */
    uv_async_t done;                  /* its end, back on the loop */
    uv_mutex_t mu;                    /* guards what follows up to the thread's own */
    uv_cond_t cv;                     /* wakes the thread */
    volatile int stop;                /* stop after the message being sent */
    int kicked;                       /* something was queued: drain now */
    int reloaded;                     /* cfg changed since the thread took it */
    const struct tb_config *cfg;      /* the config for the thread's next job */
    const struct tb_config *using;    /* the one its job reads now, or NULL */
    struct tb_config *retired;        /* replaced while in use: the thread frees it */
    int64_t wake_ms;                  /* when the thread looks again unasked (now_ms()) */
    struct tb_store *st;              /* the thread's own: its connection */
    struct tb_smtp *smtp;             /* its SMTP sender, built from smtp_cfg */
    const struct tb_config *smtp_cfg; /* the config smtp was built from (reset on reload) */
    int64_t next_digest;              /* epoch s of the next digest slot; 0: look now */
};

/* ------------------------------------------------------- the thread */

/* The earliest digest slot after now (daily or weekly). */
static int64_t next_slot(const struct tb_config_mail *mc, int64_t now)
{
    int64_t day = tb_digest_slot(mc, TB_SUBS_DAILY, now + 86400);
    int64_t week = tb_digest_slot(mc, TB_SUBS_WEEKLY, now + 7 * 86400);

    return day < week ? day : week;
}

/* The digest run itself (a job: one node at a time, jobs.c). */
struct digest_run {
    struct mailer *m;
    const struct tb_config *cfg;
};

static int digest_job(void *arg)
{
    struct digest_run *r = arg;
    struct tb_digest_run_opts o = {.now = now_s()};
    char err[512] = "";
    size_t queued = 0;
    int rc = tb_digest_run(r->m->st, r->cfg, r->m->d->mail_key, &o, &queued, err, sizeof(err));

    if (rc)
        tb_log(TB_LOG_ERROR, "mail", "digests: %s", err[0] ? err : tb_strerror(rc));
    else if (queued > 0)
        tb_log(TB_LOG_INFO, "mail", "%zu digests queued", queued);
    return rc;
}

/* Builds and queues the digests due, as the job "digests": one node at a
 * time builds them (the others find the job held and look again when its
 * lease ends). Which digests are due is the database's (each
 * subscription's `covered` moves with its digest's queuing, and a
 * digest's Message-ID is its own, tb_subs_queue()), so a node running
 * after another finished, or after one died mid-run, queues only what is
 * still owed: each digest once. No gap between runs: a slot, a reload
 * or a start must never wait for another node's earlier run. */
static void run_digests(struct mailer *m, const struct tb_config *cfg)
{
    struct digest_run r = {.m = m, .cfg = cfg};
    int64_t now = now_s(), due = 0;
    int rc = tb__daemon_job_run(m->st, cfg, "digests", 0, digest_job, &r, &due);

    if (rc < 0 && rc != TB_ELEASE) {
        m->next_digest = now + DIGEST_RETRY;
        return;
    }
    m->next_digest = next_slot(&cfg->mail, now);
    if (rc == 0 && due > now && due < m->next_digest)
        m->next_digest = due;
}

/* How long this node holds an outbox message it sends: the cluster's
 * lease, but never less than a send can take (SMTP's timeout twice and a
 * minute), or another node would send it too. */
static int64_t mail_lease(const struct tb_config *cfg)
{
    int64_t least = 2 * (cfg->timeout > 0 ? cfg->timeout : 60) + 60;

    return cfg->lease > least ? cfg->lease : least;
}

/* Makes the SMTP sender for cfg, unless it is the one it was built from. */
static int ready_smtp(struct mailer *m, const struct tb_config *cfg)
{
    const struct tb_config_mail *mc = &cfg->mail;
    struct tb_smtp_opts o = {.url = mc->smtp,
                             .starttls = mc->starttls,
                             .user = mc->user,
                             .password = mc->password,
                             .ca_file = mc->ca_file,
                             .from = mc->from_addr,
                             .timeout_s = (long)cfg->timeout,
                             .node = cfg->node,
                             .lease = mail_lease(cfg)};
    int rc;

    if (m->smtp != NULL && m->smtp_cfg == cfg)
        return 0;
    tb_smtp_free(m->smtp);
    m->smtp = NULL;
    m->smtp_cfg = NULL;
    rc = tb_smtp_new(&o, &m->smtp);
    if (rc) {
        tb_log(TB_LOG_ERROR, "mail", "smtp %s: %s", mc->smtp ? mc->smtp : "(none)",
               tb_strerror(rc));
        return rc;
    }
    m->smtp_cfg = cfg;
    return 0;
}

/* One look: the digests when a slot came, then the outbox. Returns when
 * to look again (now_ms()). */
static int64_t job(struct mailer *m, const struct tb_config *cfg)
{
    struct tb_smtp_stats stats = {0};
    int64_t wake = now_ms() + LOOK_EVERY_MS;
    char err[512] = "";
    int rc;

    if (!cfg->mail.enabled)
        return wake;
    if (now_s() >= m->next_digest)
        run_digests(m, cfg);
    if (m->next_digest * 1000 < wake)
        wake = m->next_digest * 1000;
    if (m->stop || ready_smtp(m, cfg) != 0)
        return wake;
    rc = tb_smtp_drain(m->smtp, m->st, cfg->mail.rate, &m->stop, &stats, err, sizeof(err));
    if (rc) {
        tb_log(TB_LOG_ERROR, "mail", "outbox: %s", err[0] ? err : tb_strerror(rc));
        return now_ms() + 1000 * DIGEST_RETRY / 10;
    }
    if (stats.sent + stats.tempfail + stats.permfail > 0)
        tb_log(TB_LOG_INFO, "mail", "%zu sent, %zu deferred, %zu failed", stats.sent,
               stats.tempfail, stats.permfail);
    if (stats.next > 0 && stats.next * 1000 < wake)
        wake = stats.next * 1000;
    return wake;
}

static void thread_main(void *arg)
{
    struct mailer *m = arg;
    const struct tb_config *cfg;
    int64_t wait, wake;

    uv_mutex_lock(&m->mu);
    for (;;) {
        wait = m->wake_ms - now_ms();
        while (!m->stop && !m->kicked && !m->reloaded && wait > 0) {
            (void)uv_cond_timedwait(&m->cv, &m->mu, (uint64_t)wait * 1000000);
            wait = m->wake_ms - now_ms();
        }
        if (m->stop)
            break;
        if (m->reloaded) {
            m->next_digest = 0; /* send_at or the topics may have changed */
            m->smtp_cfg = NULL; /* and [mail]: a new config may reuse the old one's address */
        }
        m->kicked = m->reloaded = 0;
        cfg = m->using = m->cfg;
        uv_mutex_unlock(&m->mu);
        /* A connection the server dropped is opened again; a failed job is
         * tried again after its own delay, which is the backoff. */
        if (tb_db_lost(tb_store_sql(m->st)))
            (void)!tb_db_reconnect(tb_store_sql(m->st), NULL, 0);
        wake = job(m, cfg);
        uv_mutex_lock(&m->mu);
        m->using = NULL;
        tb_config_free(m->retired);
        m->retired = NULL;
        m->wake_ms = wake;
    }
    uv_mutex_unlock(&m->mu);
    tb_smtp_free(m->smtp); /* says QUIT */
    m->smtp = NULL;
    tb_store_close(m->st);
    m->st = NULL;
    uv_async_send(&m->done);
}

/* ---------------------------------------------------------- the loop */

static void on_closed(uv_handle_t *h)
{
    struct mailer *m = h->data;

    tb_config_free(m->retired);
    uv_cond_destroy(&m->cv);
    uv_mutex_destroy(&m->mu);
    free(m);
}

/* The thread is over: joins it and lets the loop end. */
static void on_done(uv_async_t *h)
{
    struct mailer *m = h->data;

    uv_thread_join(&m->thread);
    m->d->mail = NULL;
    uv_close((uv_handle_t *)&m->done, on_closed);
}

static int load_secret(struct daemon *d)
{
    const struct tb_config *c = d->cfg;
    char path[4096], err[512] = "";
    int rc;

    if (c->mail.secret_file != NULL)
        snprintf(path, sizeof(path), "%s", c->mail.secret_file);
    else
        snprintf(path, sizeof(path), "%s.secret", c->database);
    rc = tb_mail_secret_load(path, 1, d->mail_key, err, sizeof(err));
    if (rc)
        tb_log(TB_LOG_ERROR, "mail", "secret %s: %s", path, err[0] ? err : tb_strerror(rc));
    return rc;
}

int tb__daemon_mail_start(struct daemon *d)
{
    struct mailer *m;
    char err[512] = "";
    int rc;

    if (!d->cfg->mail.enabled)
        return 0;
    rc = load_secret(d);
    if (rc)
        return rc;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    m->d = d;
    m->cfg = d->cfg;
    rc = tb_store_open(&m->st, d->cfg->database, TB_STORE_READER, err, sizeof(err));
    if (rc) {
        tb_log(TB_LOG_ERROR, "mail", "database %s: %s", d->cfg->database,
               err[0] ? err : tb_strerror(rc));
        free(m);
        return rc;
    }
    uv_mutex_init(&m->mu);
    uv_cond_init(&m->cv);
    uv_async_init(&d->loop, &m->done, on_done);
    m->done.data = m;
    rc = uv_thread_create(&m->thread, thread_main, m);
    if (rc) {
        tb_log(TB_LOG_ERROR, "mail", "sender thread: %s", uv_strerror(rc));
        tb_store_close(m->st);
        uv_close((uv_handle_t *)&m->done, on_closed);
        return rc;
    }
    d->mail = m;
    tb_log(TB_LOG_INFO, "mail", "sending through %s, at most %d messages a minute",
           d->cfg->mail.smtp, d->cfg->mail.rate);
    return 0;
}

void tb__daemon_mail_kick(struct daemon *d)
{
    struct mailer *m = d->mail;

    if (m == NULL)
        return;
    uv_mutex_lock(&m->mu);
    m->kicked = 1;
    uv_cond_signal(&m->cv);
    uv_mutex_unlock(&m->mu);
}

int tb__daemon_mail_reload(struct daemon *d, struct tb_config *old)
{
    struct mailer *m = d->mail;
    int took = 0;

    if (m == NULL) {
        if (d->cfg->mail.enabled && !d->stopping)
            tb_log(TB_LOG_WARN, "config", "[mail] takes effect on restart");
        return 0;
    }
    uv_mutex_lock(&m->mu);
    m->cfg = d->cfg;
    m->reloaded = 1;
    if (m->using == old && m->retired == NULL) {
        m->retired = old;
        took = 1;
    }
    uv_cond_signal(&m->cv);
    uv_mutex_unlock(&m->mu);
    return took;
}

void tb__daemon_mail_stop(struct daemon *d)
{
    struct mailer *m = d->mail;

    if (m == NULL)
        return;
    uv_mutex_lock(&m->mu);
    m->stop = 1;
    uv_cond_signal(&m->cv);
    uv_mutex_unlock(&m->mu);
}

void tb__daemon_mail_metrics(struct daemon *d, struct tb_buf *out)
{
    struct tb_subs_counts c;
    char err[512] = "";
    int rc;

    if (!d->cfg->mail.enabled)
        return;
    rc = tb_subs_count(d->store, &c, err, sizeof(err));
    if (rc == 0)
        rc = tb_buf_addf(out,
                         "# TYPE tributary_mail_outbox gauge\ntributary_mail_outbox %zu\n"
                         "# TYPE tributary_mail_messages_total counter\n"
                         "tributary_mail_messages_total{outcome=\"sent\"} %zu\n"
                         "tributary_mail_messages_total{outcome=\"failed\"} %zu\n",
                         c.outbox, c.sent, c.failed);
    if (rc == 0)
        rc = tb_buf_addf(out,
                         "# TYPE tributary_mail_subscriptions gauge\n"
                         "tributary_mail_subscriptions{state=\"pending\"} %zu\n"
                         "tributary_mail_subscriptions{state=\"active\"} %zu\n"
                         "tributary_mail_subscriptions{state=\"suspended\"} %zu\n"
                         "tributary_mail_subscriptions{state=\"left\"} %zu\n",
                         c.pending, c.active, c.suspended, c.left);
    if (rc)
        tb_log(TB_LOG_WARN, "metrics", "mail: %s", err[0] ? err : tb_strerror(rc));
}
