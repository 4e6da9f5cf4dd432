/*
 * Jobs run once across the nodes (tb_jobs.h): claims of a job's run with a
 * lease and a token, renewal, the fence inside a run's transactions, and
 * completion. The same SQL on both engines: a claim is one UPDATE whose
 * WHERE demands a free, due row, so of two nodes claiming at once the
 * second (waiting on PostgreSQL for the first's row lock, then re-reading
 * the row under READ COMMITTED; on SQLite after the one writer) finds it
 * taken and updates nothing.
 */
#include "store_int.h"
#include "tb_jobs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char make_sql[] = "INSERT INTO jobs(name) VALUES (?1) ON CONFLICT (name) DO NOTHING";
static const char claim_sql[] =
    "UPDATE jobs SET lease_node = ?2, lease_until = ?3 + ?4, token = token + 1, last_start = ?3"
    " WHERE name = ?1 AND (lease_until IS NULL OR lease_until <= ?3) AND last_done + ?5 <= ?3"
    " RETURNING token";
static const char due_sql[] =
    "SELECT {greatest}(coalesce(lease_until, 0), last_done + ?2) FROM jobs WHERE name = ?1";
static const char renew_sql[] = "UPDATE jobs SET lease_until = ?3 WHERE name = ?1 AND token = ?2";
/* A write that changes nothing: the row stays locked on PostgreSQL until
 * the caller's transaction ends. */
static const char fence_sql[] = "UPDATE jobs SET token = token WHERE name = ?1 AND token = ?2";
static const char done_sql[] =
    "UPDATE jobs SET lease_node = NULL, lease_until = NULL, last_done = ?3, last_node = ?4,"
    " runs = runs + 1 WHERE name = ?1 AND token = ?2";
static const char release_sql[] =
    "UPDATE jobs SET lease_node = NULL, lease_until = NULL WHERE name = ?1 AND token = ?2";

static int lost(const struct tb_job *j, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "job %s: token %lld is no longer the latest claim", j->name,
                 (long long)j->token);
    return TB_ELEASE;
}

/* Runs sql on j's row (?1 name, ?2 token, then ?3 t and ?4 node when
 * node is not NULL, ?3 t when with_t). TB_ELEASE when nothing changed. */
static int on_row(struct tb_store *s, const struct tb_job *j, const char *sql, int with_t,
                  int64_t t, const char *node, char *err, size_t errlen)
{
    int rc;

    if (node != NULL)
        rc = tb_db_run(s->sql, err, errlen, sql, "tiit", j->name, j->token, t, node);
    else if (with_t)
        rc = tb_db_run(s->sql, err, errlen, sql, "tii", j->name, j->token, t);
    else
        rc = tb_db_run(s->sql, err, errlen, sql, "ti", j->name, j->token);
    if (rc == 0 && tb_db_changes(s->sql) == 0)
        rc = lost(j, err, errlen);
    return rc;
}

int tb_jobs_claim(struct tb_store *s, const char *name, const char *node, int64_t now,
                  int64_t lease, int64_t every, struct tb_job *out, int64_t *due, char *err,
                  size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    int rc, step = TB_DB_DONE, got = 0;
    int64_t when = 0;

    if (due != NULL)
        *due = 0;
    if (name == NULL || name[0] == '\0' || strlen(name) > TB_JOB_NAME_MAX || node == NULL ||
        lease < 1 || every < 0)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", name);
    rc = tb_db_run(s->sql, err, errlen, make_sql, "t", name);
    if (rc == 0)
        rc =
            tb_db_query(s->sql, &q, err, errlen, claim_sql, "ttiii", name, node, now, lease, every);
    if (rc == 0) {
        step = tb_db_step(q, err, errlen);
        if (step == TB_DB_ROW) {
            out->token = tb_db_column_int64(q, 0);
            got = 1;
        } else if (step < 0) {
            rc = step;
        }
    }
    tb_db_finalize(q);
    if (rc == 0 && !got && due != NULL) {
        rc = tb_db_scalar(s->sql, &when, err, errlen, due_sql, "ti", name, every);
        *due = rc == 0 ? when : 0;
    }
    return rc != 0 ? rc : got;
}

int tb_jobs_renew(struct tb_store *s, const struct tb_job *j, int64_t until, char *err,
                  size_t errlen)
{
    return on_row(s, j, renew_sql, 1, until, NULL, err, errlen);
}

int tb_jobs_fence(struct tb_store *s, const struct tb_job *j, char *err, size_t errlen)
{
    return on_row(s, j, fence_sql, 0, 0, NULL, err, errlen);
}

int tb_jobs_done(struct tb_store *s, const struct tb_job *j, const char *node, int64_t now,
                 char *err, size_t errlen)
{
    if (node == NULL)
        return -EINVAL;
    return on_row(s, j, done_sql, 1, now, node, err, errlen);
}

int tb_jobs_release(struct tb_store *s, const struct tb_job *j, char *err, size_t errlen)
{
    return on_row(s, j, release_sql, 0, 0, NULL, err, errlen);
}

int tb_jobs_forget(struct tb_store *s, const char *node, size_t *n, char *err, size_t errlen)
{
    int rc = tb_db_run(s->sql, err, errlen,
                       "UPDATE jobs SET lease_node = NULL, lease_until = NULL,"
                       " token = token + 1 WHERE lease_node = ?1",
                       "t", node);

    if (n != NULL)
        *n = rc == 0 ? (size_t)tb_db_changes(s->sql) : 0;
    return rc;
}

int tb_jobs_get(struct tb_store *s, const char *name, struct tb_job_info *out, char *err,
                size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    const char *t;
    int rc, step, got = 0;

    memset(out, 0, sizeof(*out));
    rc = tb_db_query(s->sql, &q, err, errlen,
                     "SELECT token, coalesce(lease_until, 0), last_done, runs, lease_node,"
                     " last_node FROM jobs WHERE name = ?1",
                     "t", name);
    if (rc == 0) {
        step = tb_db_step(q, err, errlen);
        if (step == TB_DB_ROW) {
            out->token = tb_db_column_int64(q, 0);
            out->lease_until = tb_db_column_int64(q, 1);
            out->last_done = tb_db_column_int64(q, 2);
            out->runs = tb_db_column_int64(q, 3);
            t = tb_db_column_text(q, 4);
            snprintf(out->lease_node, sizeof(out->lease_node), "%s", t ? t : "");
            t = tb_db_column_text(q, 5);
            snprintf(out->last_node, sizeof(out->last_node), "%s", t ? t : "");
            got = 1;
        } else if (step < 0) {
            rc = step;
        }
    }
    tb_db_finalize(q);
    return rc != 0 ? rc : got;
}
