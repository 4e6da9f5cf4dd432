/*
 * Tests for store/jobs.c (tb_jobs.h): a job's run claimed once with a
 * lease and a token, completion and fences refused for a stale token, a
 * lapsed lease taken by another node; and the outbox claimed by node,
 * lease and token (tb_subs_claim(), tb_subs_done()): under real
 * concurrency on two connections every message is claimed exactly once.
 * Runs on SQLite (jobs) and on PostgreSQL (jobs_pg).
 */
#include "tb_jobs.h"
#include "tb_db.h"
#include "tb_store.h"
#include "tb_subs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define LEASE 60  /* seconds */
#define T0 100000 /* "now" at the start of a case */
#define NMSG 120  /* outbox messages the concurrent senders share */
#define ROUNDS 40 /* job claims each concurrent claimer tries */

static char dir[64], errbuf[512];
static const char *const topics[] = {"c"};

static struct tb_store *open_db(const char *name)
{
    struct tb_store *s = NULL;

    CHECK_OK(tb_store_open(&s, st_target(dir, name), 0, errbuf, sizeof(errbuf)));
    return s;
}

static int claim(struct tb_store *s, const char *node, int64_t now, int64_t every, struct tb_job *j,
                 int64_t *due)
{
    int rc = tb_jobs_claim(s, "trending", node, now, LEASE, every, j, due, errbuf, sizeof(errbuf));

    CHECK(rc == 0 || rc == 1);
    return rc;
}

/* One node's run: claimed, held, completed; due again after `every`. */
static void test_claim(void)
{
    struct tb_store *s = open_db("claim.db");
    struct tb_job a, b;
    struct tb_job_info info;
    int64_t due = -1;

    if (s == NULL)
        return;
    CHECK_EQ(tb_jobs_claim(s, "", "n1", T0, LEASE, 0, &a, NULL, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK_EQ(tb_jobs_claim(s, "x", "n1", T0, 0, 0, &a, NULL, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK_EQ(tb_jobs_get(s, "trending", &info, errbuf, sizeof(errbuf)), 0);
    CHECK_EQ(claim(s, "n1", T0, 300, &a, NULL), 1);
    CHECK_EQ(a.token, 1);
    CHECK_STR(a.name, "trending");
    /* Held: another node (or the same one) gets nothing until the lease ends. */
    CHECK_EQ(claim(s, "n2", T0 + 1, 300, &b, &due), 0);
    CHECK_EQ(due, T0 + LEASE);
    CHECK_EQ(tb_jobs_get(s, "trending", &info, errbuf, sizeof(errbuf)), 1);
    CHECK_STR(info.lease_node, "n1");
    CHECK_EQ(info.lease_until, T0 + LEASE);
    /* Renewed, then done: not due again before T0 + 10 + 300. */
    CHECK_OK(tb_jobs_renew(s, &a, T0 + 2 * LEASE, errbuf, sizeof(errbuf)));
    CHECK_EQ(claim(s, "n2", T0 + LEASE, 300, &b, &due), 0);
    CHECK_OK(tb_jobs_done(s, &a, "n1", T0 + 10, errbuf, sizeof(errbuf)));
    CHECK_EQ(claim(s, "n2", T0 + 20, 300, &b, &due), 0);
    CHECK_EQ(due, T0 + 310);
    CHECK_EQ(claim(s, "n2", T0 + 310, 300, &b, NULL), 1);
    CHECK_EQ(b.token, 2);
    /* A released run stays due: the next claimer takes it at once. */
    CHECK_OK(tb_jobs_release(s, &b, errbuf, sizeof(errbuf)));
    CHECK_EQ(claim(s, "n1", T0 + 311, 300, &a, NULL), 1);
    CHECK_EQ(a.token, 3);
    CHECK_OK(tb_jobs_done(s, &a, "n1", T0 + 312, errbuf, sizeof(errbuf)));
    CHECK_EQ(tb_jobs_get(s, "trending", &info, errbuf, sizeof(errbuf)), 1);
    CHECK_EQ(info.runs, 2);
    CHECK_EQ(info.last_done, T0 + 312);
    CHECK_STR(info.last_node, "n1");
    CHECK_STR(info.lease_node, "");
    /* Other jobs are their own. */
    CHECK_EQ(
        tb_jobs_claim(s, "digests", "n2", T0 + 313, LEASE, 300, &b, NULL, errbuf, sizeof(errbuf)),
        1);
    tb_store_close(s);
    st_drop("claim.db");
}

/* A node that stalls past its lease: the job goes to another node, and
 * the stale token's completion, renewal, release and fenced writes are
 * refused (the fenced transaction rolled back); a restarted node's
 * forget moves its tokens on. */
static void test_fence(void)
{
    struct tb_store *s = open_db("fence.db");
    struct tb_job a, b;
    struct tb_job_info info;
    int64_t v = -1;
    size_t n = 9;

    if (s == NULL)
        return;
    CHECK_OK(
        tb_db_exec(tb_store_sql(s), "CREATE TABLE ranking(v INTEGER)", errbuf, sizeof(errbuf)));
    CHECK_EQ(claim(s, "n1", T0, 0, &a, NULL), 1);
    /* n1 stalls; its lease lapses; n2 takes the job. */
    CHECK_EQ(claim(s, "n2", T0 + LEASE, 0, &b, NULL), 1);
    CHECK_EQ(b.token, a.token + 1);
    CHECK_EQ(tb_jobs_done(s, &a, "n1", T0 + LEASE + 1, errbuf, sizeof(errbuf)), TB_ELEASE);
    CHECK(strstr(errbuf, "no longer the latest claim") != NULL);
    CHECK_EQ(tb_jobs_renew(s, &a, T0 + 1000, errbuf, sizeof(errbuf)), TB_ELEASE);
    CHECK_EQ(tb_jobs_release(s, &a, errbuf, sizeof(errbuf)), TB_ELEASE);
    /* n1's late write, fenced in its transaction: refused, nothing stays. */
    CHECK_OK(tb_db_begin(tb_store_sql(s), TB_DB_IMMEDIATE, errbuf, sizeof(errbuf)));
    CHECK_OK(
        tb_db_run(tb_store_sql(s), errbuf, sizeof(errbuf), "INSERT INTO ranking VALUES (1)", ""));
    CHECK_EQ(tb_jobs_fence(s, &a, errbuf, sizeof(errbuf)), TB_ELEASE);
    (void)tb_db_rollback(tb_store_sql(s));
    /* n2's write under its live claim goes in. */
    CHECK_OK(tb_db_begin(tb_store_sql(s), TB_DB_IMMEDIATE, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_jobs_fence(s, &b, errbuf, sizeof(errbuf)));
    CHECK_OK(
        tb_db_run(tb_store_sql(s), errbuf, sizeof(errbuf), "INSERT INTO ranking VALUES (2)", ""));
    CHECK_OK(tb_db_commit(tb_store_sql(s), errbuf, sizeof(errbuf)));
    CHECK_OK(tb_db_scalar(tb_store_sql(s), &v, errbuf, sizeof(errbuf),
                          "SELECT coalesce(sum(v), 0) FROM ranking", ""));
    CHECK_EQ(v, 2);
    /* n2 dies and restarts under its name: its lease ends, its token moves on. */
    CHECK_OK(tb_jobs_forget(s, "n2", &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 1);
    CHECK_EQ(tb_jobs_done(s, &b, "n2", T0 + LEASE + 2, errbuf, sizeof(errbuf)), TB_ELEASE);
    CHECK_EQ(tb_jobs_get(s, "trending", &info, errbuf, sizeof(errbuf)), 1);
    CHECK_EQ(info.runs, 0);
    CHECK_EQ(claim(s, "n2", T0 + LEASE + 3, 0, &b, NULL), 1);
    tb_store_close(s);
    st_drop("fence.db");
}

/* Concurrent job claimers, each on its own connection. */
struct jobber {
    const char *target, *node;
    int claimed; /* runs this node claimed */
    int rc;
    char err[512];
    pthread_barrier_t *start;
};

static void *run_jobber(void *arg)
{
    struct jobber *c = arg;
    struct tb_store *s = NULL;
    struct tb_job j;
    int i, got, rc = tb_store_open(&s, c->target, 0, c->err, sizeof(c->err));

    /* Round i is "time" T0 + 1000 * i on both (their clocks agree): both
     * claim at once, the one that got it completes, then the next round. */
    for (i = 0; i < ROUNDS; i++) {
        pthread_barrier_wait(c->start);
        got = rc ? 0
                 : tb_jobs_claim(s, "round", c->node, T0 + 1000 * i, LEASE, 1000, &j, NULL, c->err,
                                 sizeof(c->err));
        if (got < 0)
            rc = got;
        if (got == 1) {
            c->claimed++;
            rc = tb_jobs_done(s, &j, c->node, T0 + 1000 * i, c->err, sizeof(c->err));
        }
        pthread_barrier_wait(c->start);
    }
    c->rc = rc;
    tb_store_close(s);
    return NULL;
}

/* Two nodes claiming the same job at the same moments: each round's run
 * is claimed by exactly one of them. */
static void test_concurrent_jobs(void)
{
    struct tb_store *s = open_db("jrace.db");
    struct jobber c[2] = {{.node = "n1"}, {.node = "n2"}};
    static char target[1024];
    struct tb_job_info info;
    pthread_barrier_t start;
    pthread_t t[2];
    int i;

    if (s == NULL)
        return;
    snprintf(target, sizeof(target), "%s", st_target(dir, "jrace.db"));
    pthread_barrier_init(&start, NULL, 2);
    for (i = 0; i < 2; i++) {
        c[i].target = target;
        c[i].start = &start;
        CHECK_OK(pthread_create(&t[i], NULL, run_jobber, &c[i]));
    }
    for (i = 0; i < 2; i++)
        CHECK_OK(pthread_join(t[i], NULL));
    pthread_barrier_destroy(&start);
    for (i = 0; i < 2; i++) {
        if (c[i].rc != 0)
            fprintf(stderr, "jobber %s: %s\n", c[i].node, c[i].err);
        CHECK_OK(c[i].rc);
    }
    fprintf(stderr, "concurrent job runs: %d by n1, %d by n2 of %d rounds\n", c[0].claimed,
            c[1].claimed, ROUNDS);
    CHECK_EQ(tb_jobs_get(s, "round", &info, errbuf, sizeof(errbuf)), 1);
    CHECK_EQ(info.runs, c[0].claimed + c[1].claimed);
    /* Every round ran, and none twice. */
    CHECK_EQ(c[0].claimed + c[1].claimed, ROUNDS);
    tb_store_close(s);
    st_drop("jrace.db");
}

static int64_t add_sub(struct tb_store *s, const char *addr)
{
    int64_t id = 0;

    CHECK_OK(tb_subs_add(s, addr, topics, 1, TB_SUBS_DAILY, T0, &id, errbuf, sizeof(errbuf)));
    return id;
}

static void queue(struct tb_store *s, int64_t sub, const char *mid)
{
    CHECK_OK(tb_subs_queue(s, sub, TB_SUBS_MSG_CONFIRM, mid, "x@example.org",
                           "Subject: x\r\n\r\nbody\r\n", 20, 0, T0, errbuf, sizeof(errbuf)));
}

/* The outbox by node: a claimed message is the claimer's for its lease;
 * a dead node's message is taken by another after it; the dead node's
 * late outcome is refused, the new claimer's recorded once. */
static void test_outbox(void)
{
    struct tb_store *s = open_db("outbox.db");
    struct tb_subs_msg a, b, c;
    int64_t sub, later = -1, v = -1;

    if (s == NULL)
        return;
    sub = add_sub(s, "o@example.org");
    queue(s, sub, "<o-1@x>");
    CHECK_EQ(tb_subs_claim(s, NULL, LEASE, T0, &a, NULL, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK_EQ(tb_subs_claim(s, "n1", LEASE, T0, &a, NULL, errbuf, sizeof(errbuf)), 1);
    CHECK_EQ(a.token, 1);
    CHECK_STR(a.message_id, "<o-1@x>");
    /* Held by n1: not for n2, nor for a process's tb_subs_next(). */
    CHECK_EQ(tb_subs_claim(s, "n2", LEASE, T0 + 1, &b, &later, errbuf, sizeof(errbuf)), 0);
    CHECK_EQ(later, T0 + LEASE);
    CHECK_EQ(tb_subs_next(s, T0 + 1, &b, NULL, errbuf, sizeof(errbuf)), 0);
    /* n1 dies; after its lease n2 takes the message and sends it. */
    CHECK_EQ(tb_subs_claim(s, "n2", LEASE, T0 + LEASE, &b, NULL, errbuf, sizeof(errbuf)), 1);
    CHECK_EQ(b.id, a.id);
    CHECK_EQ(b.token, 2);
    CHECK_EQ(tb_subs_done(s, &a, TB_SUBS_SENT, "250 ok", T0 + LEASE, errbuf, sizeof(errbuf)),
             TB_ELEASE);
    CHECK_OK(tb_subs_done(s, &b, TB_SUBS_SENT, "250 ok", T0 + LEASE, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_db_scalar(tb_store_sql(s), &v, errbuf, sizeof(errbuf),
                          "SELECT n FROM mail_totals WHERE what = 'sent'", ""));
    CHECK_EQ(v, 1);
    CHECK_EQ(tb_subs_claim(s, "n1", LEASE, T0 + 3 * LEASE, &c, NULL, errbuf, sizeof(errbuf)), 0);
    /* A temporary failure ends the claim; the retry is due after the backoff. */
    queue(s, sub, "<o-2@x>");
    CHECK_EQ(tb_subs_claim(s, "n1", LEASE, T0 + 200, &c, NULL, errbuf, sizeof(errbuf)), 1);
    CHECK_OK(tb_subs_done(s, &c, TB_SUBS_TEMPFAIL, "451 later", T0 + 200, errbuf, sizeof(errbuf)));
    tb_subs_msg_clear(&c);
    CHECK_EQ(tb_subs_claim(s, "n2", LEASE, T0 + 201, &c, &later, errbuf, sizeof(errbuf)), 0);
    CHECK_EQ(later, T0 + 260);
    CHECK_EQ(tb_subs_claim(s, "n2", LEASE, T0 + 260, &c, NULL, errbuf, sizeof(errbuf)), 1);
    CHECK_EQ(c.attempts, 1);
    tb_subs_msg_clear(&a);
    tb_subs_msg_clear(&b);
    tb_subs_msg_clear(&c);
    tb_store_close(s);
    st_drop("outbox.db");
}

/* Senders on two connections draining one outbox at once. */
struct sender {
    const char *target, *node;
    int64_t got[NMSG]; /* outbox ids claimed */
    size_t n;
    int rc;
    char err[512];
    pthread_barrier_t *start;
};

static void *run_sender(void *arg)
{
    struct sender *c = arg;
    struct tb_store *s = NULL;
    struct tb_subs_msg m;
    int got, busy = 0, rc = tb_store_open(&s, c->target, 0, c->err, sizeof(c->err));

    pthread_barrier_wait(c->start);
    while (rc == 0) {
        got = tb_subs_claim(s, c->node, LEASE, T0, &m, NULL, c->err, sizeof(c->err));
        if (got == TB_EDB_RETRY && busy++ < 100)
            continue;
        if (got <= 0) {
            rc = got;
            break;
        }
        if (c->n < NMSG)
            c->got[c->n++] = m.id;
        rc = tb_subs_done(s, &m, TB_SUBS_SENT, "250 ok", T0, c->err, sizeof(c->err));
        tb_subs_msg_clear(&m);
    }
    c->rc = rc;
    tb_store_close(s);
    return NULL;
}

/* Every message is claimed and sent exactly once across the two. */
static void test_outbox_concurrent(void)
{
    struct tb_store *s = open_db("orace.db");
    struct sender c[2] = {{.node = "n1"}, {.node = "n2"}};
    static char target[1024];
    pthread_barrier_t start;
    pthread_t t[2];
    int64_t sub, v = -1, lo = INT64_MAX, id;
    unsigned char seen[NMSG] = {0};
    char mid[32];
    int i, twice = 0, missing = 0;

    if (s == NULL)
        return;
    sub = add_sub(s, "race@example.org");
    CHECK_OK(tb_store_begin(s, errbuf, sizeof(errbuf)));
    for (i = 0; i < NMSG; i++) {
        snprintf(mid, sizeof(mid), "<race-%d@x>", i);
        queue(s, sub, mid);
    }
    CHECK_OK(tb_store_commit(s, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_db_scalar(tb_store_sql(s), &lo, errbuf, sizeof(errbuf),
                          "SELECT min(id) FROM outbox", ""));
    snprintf(target, sizeof(target), "%s", st_target(dir, "orace.db"));
    pthread_barrier_init(&start, NULL, 2);
    for (i = 0; i < 2; i++) {
        c[i].target = target;
        c[i].start = &start;
        CHECK_OK(pthread_create(&t[i], NULL, run_sender, &c[i]));
    }
    for (i = 0; i < 2; i++)
        CHECK_OK(pthread_join(t[i], NULL));
    pthread_barrier_destroy(&start);
    for (i = 0; i < 2; i++) {
        if (c[i].rc != 0)
            fprintf(stderr, "sender %s: %s\n", c[i].node, c[i].err);
        CHECK_OK(c[i].rc);
        for (size_t j = 0; j < c[i].n; j++) {
            id = c[i].got[j] - lo;
            if (id < 0 || id >= NMSG)
                continue;
            twice += seen[id]++ != 0;
        }
    }
    for (i = 0; i < NMSG; i++)
        missing += seen[i] == 0;
    fprintf(stderr, "concurrent outbox: %zu by n1, %zu by n2, %d twice, %d missing\n", c[0].n,
            c[1].n, twice, missing);
    CHECK_EQ(twice, 0);
    CHECK_EQ(missing, 0);
    CHECK_EQ(c[0].n + c[1].n, NMSG);
    CHECK_OK(tb_db_scalar(tb_store_sql(s), &v, errbuf, sizeof(errbuf),
                          "SELECT n FROM mail_totals WHERE what = 'sent'", ""));
    CHECK_EQ(v, NMSG);
    CHECK_OK(tb_db_scalar(tb_store_sql(s), &v, errbuf, sizeof(errbuf),
                          "SELECT count(*) FROM outbox WHERE claim_token != 1", ""));
    CHECK_EQ(v, 0);
    tb_store_close(s);
    st_drop("orace.db");
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/tb-jobs-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    if (!st_ready())
        CHECK_DONE();
    test_claim();
    test_fence();
    test_concurrent_jobs();
    test_outbox();
    test_outbox_concurrent();
    st_report();
    if (!st_is_pg()) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    CHECK_DONE();
}
