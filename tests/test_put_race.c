/*
 * Two nodes storing the same paper from two sources at the same moment
 * (store_put.c, "Several connections"): two threads, each with a store
 * connection of its own on one database and a source of its own, meet at a
 * barrier and store the same paper (same arXiv id and DOI, another link
 * and key) at once, round after round. Every paper must end up as one
 * entry that both sources are linked to, and no put may fail (a deadlock
 * fails it). Even rounds store one feed each (tb_store_put_feed); odd ones
 * store two papers as a batch of two feeds, in opposite orders on the two
 * threads (tb_store_begin, tb_store_lock_papers, two puts, tb_store_commit),
 * the daemon's way, which deadlocks when each feed locks only its own
 * papers. The race runs twice: with the papers locked one by one, then
 * (tb__store_lock_fine_max 0) by their buckets, as large batches lock them.
 * Runs on SQLite (put_race) and PostgreSQL (put_race_pg); on PostgreSQL
 * without the paper locks it stores some papers twice.
 */
#include "tb_db.h"
#include "tb_store.h"
#include "../src/store/store_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define ROUNDS 300    /* rounds of the race */
#define T0 1765000000 /* the time entries are seen at */

static char dir[64], errbuf[512];

/* One writer: its own connection and source. */
struct writer {
    const char *target;       /* the database */
    int which;                /* 0 or 1: its source, link and order */
    int rc;                   /* the first failure, or 0 */
    int round;                /* where it failed */
    char err[512];            /* its detail */
    pthread_barrier_t *start; /* both begin each round together */
};

/* The arXiv id of paper `k` of round r (k 0 or 1). */
static void arxiv_of(int r, int k, char *out, size_t n)
{
    snprintf(out, n, "250%d.%05d", k + 1, r);
}

/* A one-entry feed of paper k of round r as writer w's source carries it:
 * the paper's arXiv id and DOI, the writer's own link and key. */
static struct tb_feed *paper_feed(int w, int r, int k)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e = f ? tb_entry_new(f) : NULL;
    char buf[128];

    if (e == NULL) {
        tb_feed_free(f);
        return NULL;
    }
    f->title = tb_arena_strdup(&f->arena, w ? "Writer B" : "Writer A");
    snprintf(buf, sizeof(buf), "http://w%d.test/paper/%d/%d", w, r, k);
    e->link = e->canon_link = e->id = e->key = tb_arena_strdup(&f->arena, buf);
    arxiv_of(r, k, buf, sizeof(buf));
    e->arxiv_id = tb_arena_strdup(&f->arena, buf);
    snprintf(buf, sizeof(buf), "10.5555/race.%d.%d", r, k);
    e->doi = tb_arena_strdup(&f->arena, buf);
    snprintf(buf, sizeof(buf), "Paper %d.%d as writer %d has it", r, k, w);
    e->title = e->text = tb_arena_strdup(&f->arena, buf);
    e->published = e->updated = T0 - r;
    tb_feed_append(f, e);
    return f;
}

/* Round r of writer w: one feed, or (odd r) a batch of two in w's order. */
static int store_round(struct tb_store *s, int64_t sid, int w, int r, char *err, size_t errlen)
{
    int batch = r % 2;
    struct tb_feed *f[2] = {paper_feed(w, r, batch ? w : 0), paper_feed(w, r, batch ? !w : 1)};
    const struct tb_feed *both[2] = {f[0], f[1]};
    int rc = f[0] && f[1] ? 0 : -1;

    if (rc == 0 && !batch)
        rc = tb_store_put_feed(s, sid, f[0], T0, NULL, NULL, NULL, err, errlen);
    if (rc == 0 && batch) {
        rc = tb_store_begin(s, err, errlen);
        rc = rc ? rc : tb_store_lock_papers(s, both, 2, err, errlen);
        for (int i = 0; rc == 0 && i < 2; i++)
            rc = tb_store_put_feed(s, sid, f[i], T0, NULL, NULL, NULL, err, errlen);
        /* A failed put left its savepoint undone: the batch still commits,
         * and the failure is the round's. */
        if (tb_store_commit(s, rc ? NULL : err, rc ? 0 : errlen) != 0 && rc == 0)
            rc = -1;
    }
    tb_feed_free(f[0]);
    tb_feed_free(f[1]);
    return rc;
}

static void *run_writer(void *arg)
{
    struct writer *w = arg;
    struct tb_store *s = NULL;
    char name[16];
    int64_t sid = 0;
    int rc = tb_store_open(&s, w->target, 0, w->err, sizeof(w->err)), r;

    snprintf(name, sizeof(name), "src%d", w->which);
    rc = rc ? rc : tb_store_source(s, name, "http://x.test/feed", &sid, w->err, sizeof(w->err));
    for (r = 0; r < ROUNDS; r++) {
        pthread_barrier_wait(w->start);
        if (rc == 0)
            rc = store_round(s, sid, w->which, r, w->err, sizeof(w->err));
        if (rc != 0 && w->rc == 0) {
            w->rc = rc;
            w->round = r;
        }
    }
    if (rc != 0 && w->rc == 0)
        w->rc = rc;
    tb_store_close(s);
    return NULL;
}

static int64_t scalar(struct tb_store *s, const char *sql, const char *arg)
{
    int64_t v = -1;

    CHECK_OK(tb_db_scalar(tb_store_sql(s), &v, errbuf, sizeof(errbuf), sql, "t", arg));
    return v;
}

static void race(const char *db)
{
    struct writer w[2] = {{.which = 0}, {.which = 1}};
    static char target[1024];
    struct tb_store *s = NULL;
    pthread_barrier_t start;
    pthread_t t[2];
    int i, r, k, twice = 0, unlinked = 0, papers = 0;
    char id[32];

    snprintf(target, sizeof(target), "%s", st_target(dir, db));
    /* The schema first, so the writers' opens do not race to create it. */
    CHECK_OK(tb_store_open(&s, target, 0, errbuf, sizeof(errbuf)));
    if (s == NULL)
        return;
    pthread_barrier_init(&start, NULL, 2);
    for (i = 0; i < 2; i++) {
        w[i].target = target;
        w[i].start = &start;
        CHECK_OK(pthread_create(&t[i], NULL, run_writer, &w[i]));
    }
    for (i = 0; i < 2; i++)
        CHECK_OK(pthread_join(t[i], NULL));
    pthread_barrier_destroy(&start);
    for (i = 0; i < 2; i++) {
        if (w[i].rc != 0)
            fprintf(stderr, "writer %d, round %d: %s\n", i, w[i].round, w[i].err);
        CHECK_OK(w[i].rc);
    }
    for (r = 0; r < ROUNDS; r++) {
        for (k = 0; k < 1 + r % 2; k++) {
            arxiv_of(r, k, id, sizeof(id));
            papers++;
            if (scalar(s, "SELECT count(*) FROM entries WHERE arxiv_id = ?1", id) != 1) {
                if (twice++ < 5)
                    fprintf(stderr, "paper %s: %lld entries\n", id,
                            (long long)scalar(s, "SELECT count(*) FROM entries WHERE arxiv_id = ?1",
                                              id));
                continue;
            }
            /* Both sources carry it: keyed and linked to the one entry. */
            unlinked += scalar(s,
                               "SELECT count(*) FROM entry_sources WHERE entry_id ="
                               " (SELECT id FROM entries WHERE arxiv_id = ?1)",
                               id) != 2;
            unlinked += scalar(s,
                               "SELECT count(*) FROM entry_keys WHERE entry_id ="
                               " (SELECT id FROM entries WHERE arxiv_id = ?1)",
                               id) != 2;
        }
    }
    fprintf(stderr,
            "%d papers raced by two connections: %d stored more than once, %d not linked"
            " to both sources\n",
            papers, twice, unlinked);
    CHECK_EQ(twice, 0);
    CHECK_EQ(unlinked, 0);
    CHECK_EQ(scalar(s, "SELECT count(*) FROM entries WHERE ?1 IS NOT NULL", "x"), papers);
    tb_store_close(s);
    st_drop(db);
}

static void test_same_paper_at_once(void)
{
    race("race.db");
}

/* The same with every paper locked by its bucket (a large batch's way). */
static void test_same_paper_buckets(void)
{
    tb__store_lock_fine_max = 0;
    race("buckets.db");
    tb__store_lock_fine_max = 256;
}

/* A feed of n entries, each with its own arXiv id, DOI and link. */
static struct tb_feed *big_feed(int n)
{
    struct tb_feed *f = tb_feed_new();
    char buf[128];
    int i;

    for (i = 0; f != NULL && i < n; i++) {
        struct tb_entry *e = tb_entry_new(f);

        snprintf(buf, sizeof(buf), "http://big.test/%d", i);
        e->link = e->canon_link = e->id = e->key = tb_arena_strdup(&f->arena, buf);
        snprintf(buf, sizeof(buf), "2601.%05d", i);
        e->arxiv_id = tb_arena_strdup(&f->arena, buf);
        snprintf(buf, sizeof(buf), "10.5555/big.%d", i);
        e->doi = tb_arena_strdup(&f->arena, buf);
        e->title = e->text = e->link;
        tb_feed_append(f, e);
    }
    return f;
}

/* The advisory locks the connection holds (PostgreSQL). */
static int64_t advisory_locks(struct tb_store *s)
{
    int64_t v = -1;

    CHECK_OK(tb_db_scalar(tb_store_sql(s), &v, errbuf, sizeof(errbuf),
                          "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                          " AND pid = pg_backend_pid()",
                          ""));
    return v;
}

/* A batch's locks stay few however many papers it brings: 12,000 keys
 * locked one by one exhaust the test server's lock table ("out of shared
 * memory"); by buckets they are at most 512 locks. A few papers are
 * locked one by one (each with its bucket, shared). */
static void test_lock_count(void)
{
    struct tb_store *s = NULL;
    struct tb_feed *f[2] = {big_feed(4000), big_feed(3)};
    const struct tb_feed *one;

    CHECK_OK(tb_store_open(&s, st_target(dir, "locks.db"), 0, errbuf, sizeof(errbuf)));
    for (int i = 0; s != NULL && i < 2; i++) {
        one = f[i];
        CHECK_OK(tb_store_begin(s, errbuf, sizeof(errbuf)));
        CHECK_OK(tb_store_lock_papers(s, &one, 1, errbuf, sizeof(errbuf)));
        if (st_is_pg() && i == 0) {
            CHECK(advisory_locks(s) > 0);
            CHECK(advisory_locks(s) <= 512);
        } else if (st_is_pg()) {
            CHECK(advisory_locks(s) >= 9);
            CHECK(advisory_locks(s) <= 18);
        }
        CHECK_OK(tb_store_commit(s, errbuf, sizeof(errbuf)));
    }
    tb_feed_free(f[0]);
    tb_feed_free(f[1]);
    tb_store_close(s);
    st_drop("locks.db");
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/tb-put-race-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    if (!st_ready())
        CHECK_DONE();
    test_same_paper_at_once();
    test_same_paper_buckets();
    test_lock_count();
    st_report();
    {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (getenv("TB_KEEP") == NULL && system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    CHECK_DONE();
}
