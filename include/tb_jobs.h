/*
 * tb_jobs: jobs that must run once across the nodes sharing a database
 * (trending recomputation, a digest run, an arXiv resolver round, a WebSub
 * sweep), claimed through the database (store/jobs.c).
 *
 * A job is a name with a row in the jobs table. A node claims a run of it
 * (tb_jobs_claim) when the job is due (its last completed run is at least
 * `every` seconds old) and no live lease holds it: the row then names the
 * node and the lease's end, and its token goes up by one. The claim's
 * token fences the run: its completion (tb_jobs_done), renewal and the
 * writes the run makes inside its own transactions (tb_jobs_fence) are
 * accepted only while the row still holds that token, and refused with
 * TB_ELEASE otherwise. A node that dies mid-run loses the job when its
 * lease ends and another node runs it; one that stalls past its lease has
 * its late completion refused. The claim is one UPDATE: on PostgreSQL a
 * second claimer waits for the first's row lock and then finds the lease
 * taken (READ COMMITTED re-reads the row); on SQLite the one writer
 * serialises claims.
 *
 * Times are epoch seconds given by the caller (the nodes' clocks must
 * agree, as NTP keeps them). Call outside a transaction (the claim must
 * commit at once). Not thread-safe: the store's rules.
 */
#ifndef TB_JOBS_H
#define TB_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "tb_log.h"
#include "tb_store.h"

/** Longest job name, bytes. */
#define TB_JOB_NAME_MAX 63

/** One claimed run of a job. */
struct tb_job {
    char name[TB_JOB_NAME_MAX + 1]; /* the job */
    int64_t token;                  /* the claim's token, which the run's writes carry */
};

/**
 * Claims job `name` for `node` at `now` for `lease` seconds when it is due:
 * no live lease (none, or one ending at or before now) and its last
 * completed run at or before now - every (every 0: whenever free). Returns
 * 1 with *out filled, 0 when not (and *due, if not NULL, the earliest time
 * it may be claimed: the lease's end or the next due time), -EINVAL (name
 * empty or too long, node NULL, lease < 1) or a store error (detail in err).
 */
TB_NODISCARD int tb_jobs_claim(struct tb_store *s, const char *name, const char *node, int64_t now,
                               int64_t lease, int64_t every, struct tb_job *out, int64_t *due,
                               char *err, size_t errlen);

/**
 * Extends j's lease to `until`, while j is the job's latest claim.
 * TB_ELEASE when it is not, else 0 or a store error.
 */
TB_NODISCARD int tb_jobs_renew(struct tb_store *s, const struct tb_job *j, int64_t until, char *err,
                               size_t errlen);

/**
 * Inside the caller's transaction, checks that j is still the job's latest
 * claim, and on PostgreSQL locks its row until the transaction ends (so no
 * claim can overtake it before the run's writes commit). TB_ELEASE when it
 * is not (roll the transaction back), else 0 or a store error.
 */
TB_NODISCARD int tb_jobs_fence(struct tb_store *s, const struct tb_job *j, char *err,
                               size_t errlen);

/**
 * Records j's run as completed at `now` by `node`: the lease ends, the
 * run counts, and the job is next due at now + every. TB_ELEASE when j is
 * no longer the latest claim (nothing written), else 0 or a store error.
 */
TB_NODISCARD int tb_jobs_done(struct tb_store *s, const struct tb_job *j, const char *node,
                              int64_t now, char *err, size_t errlen);

/**
 * Gives j back without completing it (the run failed or the node stops):
 * the lease ends and the job stays due. TB_ELEASE when j is not the latest
 * claim, else 0 or a store error.
 */
TB_NODISCARD int tb_jobs_release(struct tb_store *s, const struct tb_job *j, char *err,
                                 size_t errlen);

/**
 * Ends every job lease `node` holds, moving their tokens on (a node
 * restarted under its name after a crash), so that its predecessor's late
 * writes are refused. *n (may be NULL) gets how many. 0 or a store error.
 */
TB_NODISCARD int tb_jobs_forget(struct tb_store *s, const char *node, size_t *n, char *err,
                                size_t errlen);

/** What the jobs table says about one job. */
struct tb_job_info {
    int64_t token;       /* the latest claim's token */
    int64_t lease_until; /* when the current lease ends, 0 = none */
    int64_t last_done;   /* when the last run completed, 0 = never */
    int64_t runs;        /* runs completed */
    char lease_node[96]; /* who holds it now, "" = nobody */
    char last_node[96];  /* who completed the last run, "" = nobody */
};

/** Fills *out for job `name`: 1, 0 when it has never been claimed, or a store error. */
TB_NODISCARD int tb_jobs_get(struct tb_store *s, const char *name, struct tb_job_info *out,
                             char *err, size_t errlen);

#endif
