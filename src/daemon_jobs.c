/*
 * The daemon's jobs that must run once across the nodes sharing a
 * database (tb_jobs.h): a run is claimed from the database with a lease
 * and a token, and recorded as done under that token, so that of several
 * nodes reaching the same moment exactly one does the work; a node that
 * dies mid-run leaves the job to the others when its lease ends. The
 * email digests run this way (daemon_mail.c), and the outbox is claimed
 * message by message under this node's name (tb_subs_claim()).
 */
#include <stdio.h>

#include "tb_jobs.h"
#include "tb_subs.h"

#include "daemon_int.h"

void tb__daemon_jobs_start(struct daemon *d)
{
    char err[512] = "";
    size_t n = 0, m = 0;

    /* What this node's name held is its dead predecessor's. */
    if (tb_jobs_forget(d->store, d->cfg->node, &n, err, sizeof(err)) != 0 ||
        tb_subs_forget(d->store, d->cfg->node, &m, err, sizeof(err)) != 0)
        tb_log(TB_LOG_ERROR, "jobs", "%s", err);
    else if (n + m > 0)
        tb_log(TB_LOG_INFO, "jobs", "%zu jobs and %zu messages held by %s before this start freed",
               n, m, d->cfg->node);
}

int tb__daemon_job_run(struct tb_store *st, const struct tb_config *cfg, const char *name,
                       int64_t every, int (*fn)(void *arg), void *arg, int64_t *due)
{
    struct tb_job j;
    char err[512] = "";
    int64_t now = now_s();
    int rc = tb_jobs_claim(st, name, cfg->node, now, cfg->lease, every, &j, due, err, sizeof(err));

    if (rc <= 0) {
        if (rc < 0)
            tb_log(TB_LOG_ERROR, "jobs", "%s: claim: %s", name, err[0] ? err : tb_strerror(rc));
        return rc;
    }
    rc = fn(arg);
    if (rc != 0) {
        if (tb_jobs_release(st, &j, err, sizeof(err)) != 0)
            tb_log(TB_LOG_WARN, "jobs", "%s: %s", name, err);
        return rc;
    }
    rc = tb_jobs_done(st, &j, cfg->node, now_s(), err, sizeof(err));
    if (rc != 0) {
        /* Ran past its lease: another node took the job over meanwhile. */
        tb_log(rc == TB_ELEASE ? TB_LOG_WARN : TB_LOG_ERROR, "jobs", "%s: %s", name,
               err[0] ? err : tb_strerror(rc));
        return rc;
    }
    return 1;
}
