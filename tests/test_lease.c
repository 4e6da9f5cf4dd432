/*
 * Tests for store/lease.c (tb_lease.h): claims of due sources, renewal,
 * release, and the fencing of a poll's writes by its claim's token; and
 * claimers on two connections at once, which never get the same source in
 * one interval. Runs on SQLite (lease) and on PostgreSQL (lease_pg).
 */
#include "tb_lease.h"
#include "tb_db.h"
#include "tb_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define NSRC 200  /* sources the concurrent claimers share */
#define BATCH 7   /* sources one claim takes at most */
#define LEASE 60  /* seconds */
#define T0 100000 /* "now" at the start of a case */

static char dir[64], errbuf[512];

/* A state row for `name` due at next_poll (0: never scheduled). */
static int64_t source(struct tb_store *s, const char *name, int64_t next_poll)
{
    struct tb_store_state st;
    int64_t id;

    CHECK_OK(tb_store_state_get(s, name, "http://x.test/feed", &st, errbuf, sizeof(errbuf)));
    st.next_poll = next_poll;
    CHECK_OK(tb_store_state_put(s, &st, errbuf, sizeof(errbuf)));
    id = st.source_id;
    tb_store_state_clear(&st);
    return id;
}

static int64_t count(struct tb_store *s, const char *sql)
{
    int64_t v = -1;

    CHECK_OK(tb_db_scalar(tb_store_sql(s), &v, errbuf, sizeof(errbuf), sql, ""));
    return v;
}

/* The state of source `name` as stored. */
static void state_of(struct tb_store *s, const char *name, struct tb_store_state *st)
{
    CHECK_OK(tb_store_state_get(s, name, "http://x.test/feed", st, errbuf, sizeof(errbuf)));
}

/* Claims; returns how many, out[] sorted by source id. */
static size_t claim(struct tb_store *s, const char *node, int64_t now, struct tb_lease *out,
                    size_t max)
{
    size_t n = 0, i, j;
    struct tb_lease t;

    CHECK_OK(tb_lease_claim(s, node, now, LEASE, out, max, &n, errbuf, sizeof(errbuf)));
    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && out[j - 1].source_id > out[j].source_id; j--) {
            t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    }
    return n;
}

static struct tb_store *open_db(const char *name)
{
    struct tb_store *s = NULL;

    CHECK_OK(tb_store_open(&s, st_target(dir, name), 0, errbuf, sizeof(errbuf)));
    return s;
}

/* Which sources are due, in which order, and what a lease holds off. */
static void test_claim(void)
{
    struct tb_store *s = open_db("claim.db");
    struct tb_store_state st;
    struct tb_lease l[8];
    int64_t a, b, c, d, e, f, ids[5];
    size_t n;

    if (s == NULL)
        return;
    a = source(s, "a", T0 - 50);
    b = source(s, "b", T0 - 100);
    c = source(s, "c", T0 + 100); /* not due yet */
    d = source(s, "d", T0 - 10);  /* gone */
    e = source(s, "e", T0 - 10);  /* not in the config */
    f = source(s, "f", 0);        /* never scheduled */
    CHECK(e > f - 2);
    state_of(s, "d", &st);
    st.gone = 1;
    CHECK_OK(tb_store_state_put(s, &st, errbuf, sizeof(errbuf)));
    tb_store_state_clear(&st);
    ids[0] = a, ids[1] = b, ids[2] = c, ids[3] = d, ids[4] = f;
    CHECK_OK(tb_lease_sync(s, ids, 5, errbuf, sizeof(errbuf)));
    CHECK_EQ(count(s, "SELECT count(*) FROM sources WHERE active = 1"), 5);

    /* The longest due first: one at a time, b then a. */
    CHECK_EQ(claim(s, "n1", T0, l, 1), 1);
    CHECK_EQ(l[0].source_id, b);
    CHECK_EQ(l[0].token, 1);
    CHECK_EQ(claim(s, "n1", T0, l, 8), 1);
    CHECK_EQ(l[0].source_id, a);
    /* Leased: nobody gets them again before the lease ends... */
    CHECK_EQ(claim(s, "n2", T0 + LEASE - 1, l, 8), 0);
    state_of(s, "a", &st);
    CHECK_STR(st.lease_node, "n1");
    CHECK_EQ(st.lease_until, T0 + LEASE);
    tb_store_state_clear(&st);
    /* ... and at its end anyone may, with the next token; c is due by then. */
    CHECK_EQ(claim(s, "n2", T0 + LEASE + 100, l, 8), 3);
    CHECK_EQ(l[0].source_id, a);
    CHECK_EQ(l[0].token, 2);
    CHECK_EQ(l[1].source_id, b);
    CHECK_EQ(l[1].token, 2);
    CHECK_EQ(l[2].source_id, c);
    CHECK_EQ(l[2].token, 1);
    state_of(s, "c", &st);
    CHECK_STR(st.lease_node, "n2");
    tb_store_state_clear(&st);
    /* A release gives it back at once; a stale token releases nothing. */
    CHECK_EQ(tb_lease_release(s, &(struct tb_lease){c, 0}, errbuf, sizeof(errbuf)), TB_ELEASE);
    CHECK_OK(tb_lease_release(s, &l[2], errbuf, sizeof(errbuf)));
    CHECK_EQ(claim(s, "n3", T0 + LEASE + 101, l, 8), 1);
    CHECK_EQ(l[0].source_id, c);
    CHECK_EQ(l[0].token, 2);
    /* A node started again under its name takes its leases back at once,
     * with new tokens (the old claims are fenced); others' stay. */
    CHECK_EQ(claim(s, "n4", T0 + 5 * LEASE, l, 8), 3); /* a, b, c */
    CHECK_OK(tb_lease_forget(s, "n3", &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 0);
    CHECK_OK(tb_lease_forget(s, "n4", &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 3);
    CHECK_EQ(tb_lease_renew(s, &l[0], T0 + 9 * LEASE, errbuf, sizeof(errbuf)), TB_ELEASE);
    CHECK_EQ(claim(s, "n4", T0 + 5 * LEASE, l, 8), 3);
    CHECK_EQ(l[2].source_id, c);
    CHECK_EQ(l[2].token, 5);
    /* A node's leftover lease on one source ends; another node's stays. */
    CHECK_OK(tb_lease_end_own(s, c, "n5", &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 0);
    CHECK_OK(tb_lease_end_own(s, c, "n4", &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 1);
    CHECK_EQ(tb_lease_renew(s, &l[2], T0 + 9 * LEASE, errbuf, sizeof(errbuf)), TB_ELEASE);
    CHECK_EQ(claim(s, "n5", T0 + 5 * LEASE, l, 8), 1);
    CHECK_EQ(l[0].source_id, c); /* claimed, released, claimed, claimed, forgotten */
    /* A new source's first poll is set once: the first node's stays. */
    CHECK_OK(tb_lease_first_poll(s, f, T0 + 5, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_lease_first_poll(s, f, T0 + 9, errbuf, sizeof(errbuf)));
    state_of(s, "f", &st);
    CHECK_EQ(st.next_poll, T0 + 5);
    tb_store_state_clear(&st);
    /* Brought forward, never back. */
    CHECK_OK(tb_lease_poll_by(s, f, T0 + 9, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_lease_poll_by(s, f, T0 + 2, errbuf, sizeof(errbuf)));
    state_of(s, "f", &st);
    CHECK_EQ(st.next_poll, T0 + 2);
    tb_store_state_clear(&st);
    /* Bad arguments. */
    CHECK_EQ(tb_lease_claim(s, NULL, T0, LEASE, l, 8, &(size_t){0}, errbuf, sizeof(errbuf)),
             -EINVAL);
    CHECK_EQ(tb_lease_claim(s, "n", T0, 0, l, 8, &(size_t){0}, errbuf, sizeof(errbuf)), -EINVAL);
    tb_store_close(s);
    st_drop("claim.db");
}

/* A feed of n entries, keys prefix-0.. */
static struct tb_feed *feed(const char *prefix, int n)
{
    struct tb_feed *f = tb_feed_new();
    char key[64];

    for (int i = 0; i < n; i++) {
        struct tb_entry *e = tb_entry_new(f);

        snprintf(key, sizeof(key), "%s-%d", prefix, i);
        e->key = tb_arena_strdup(&f->arena, key);
        e->id = e->key;
        e->title = tb_arena_strdup(&f->arena, key);
        e->text = "";
        e->canon_link = NULL;
        e->published = T0;
        tb_feed_append(f, e);
    }
    return f;
}

/* Stores f under claim l: tb_lease_put's result. */
static int put(struct tb_store *s, const struct tb_lease *l, struct tb_feed *f)
{
    struct tb_store_prep *prep = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    int rc;

    CHECK_OK(tb_store_prepare(f, &prep));
    rc = tb_lease_put(s, l, f, prep, T0, NULL, &ids, &n, errbuf, sizeof(errbuf));
    CHECK(rc != 0 ? ids == NULL && n == 0 : n > 0);
    free(ids);
    return rc;
}

/* A poll outcome: the state with an etag and the next poll. */
static int record(struct tb_store *s, const struct tb_lease *l, const char *node, const char *etag,
                  int64_t now)
{
    struct tb_store_state st;
    int rc;

    CHECK_OK(tb_store_state_get(s, "a", "http://x.test/feed", &st, errbuf, sizeof(errbuf)));
    free(st.etag);
    st.etag = strdup(etag);
    st.last_attempt = now;
    st.next_poll = now + 3600;
    rc = tb_lease_record(s, l, node, now, &st, errbuf, sizeof(errbuf));
    tb_store_state_clear(&st);
    return rc;
}

/* A node that stalls past its lease: its entries and its outcome are
 * refused with TB_ELEASE, and nothing of them stays; the node that
 * claimed the source after it writes as usual. */
static void test_fence(void)
{
    struct tb_store *s = open_db("fence.db");
    struct tb_store_state st;
    struct tb_lease old, cur, other, two[2];
    struct tb_feed *f;
    int64_t a, b;

    if (s == NULL)
        return;
    a = source(s, "a", T0 - 10);
    b = source(s, "b", T0 - 5);
    CHECK_EQ(claim(s, "slow", T0, &old, 1), 1);
    CHECK_EQ(old.source_id, a);
    CHECK_OK(tb_lease_renew(s, &old, T0 + 2 * LEASE, errbuf, sizeof(errbuf)));
    CHECK_EQ(claim(s, "fast", T0 + LEASE + 1, &cur, 1), 1);
    CHECK_EQ(cur.source_id, b); /* a's lease was renewed */
    cur.source_id = 0;
    CHECK_EQ(claim(s, "fast", T0 + 2 * LEASE, &cur, 1), 1);
    CHECK_EQ(cur.source_id, a);
    CHECK_EQ(cur.token, old.token + 1);
    /* The stale node's renewal, entries and outcome: all refused. */
    CHECK_EQ(tb_lease_renew(s, &old, T0 + 9 * LEASE, errbuf, sizeof(errbuf)), TB_ELEASE);
    CHECK(strstr(errbuf, "no longer the latest claim") != NULL);
    f = feed("stale", 3);
    CHECK_EQ(put(s, &old, f), TB_ELEASE);
    tb_feed_free(f);
    CHECK_EQ(record(s, &old, "slow", "\"stale\"", T0 + 2 * LEASE + 5), TB_ELEASE);
    CHECK_EQ(count(s, "SELECT count(*) FROM entries"), 0);
    CHECK_EQ(count(s, "SELECT count(*) FROM entry_keys"), 0);
    CHECK_EQ(count(s, "SELECT count(*) FROM entry_sources"), 0);
    CHECK_EQ(count(s, "SELECT count(*) FROM mentions"), 0);
    state_of(s, "a", &st);
    CHECK(st.etag == NULL);
    CHECK_EQ(st.next_poll, T0 - 10);
    CHECK_STR(st.lease_node, "fast");
    CHECK(st.polled_node == NULL);
    tb_store_state_clear(&st);
    /* The current claim writes, and ends its lease. */
    f = feed("fresh", 2);
    CHECK_OK(put(s, &cur, f));
    tb_feed_free(f);
    CHECK_OK(record(s, &cur, "fast", "\"fresh\"", T0 + 2 * LEASE + 6));
    CHECK_EQ(count(s, "SELECT count(*) FROM entries"), 2);
    state_of(s, "a", &st);
    CHECK_STR(st.etag, "\"fresh\"");
    CHECK_EQ(st.next_poll, T0 + 2 * LEASE + 6 + 3600);
    CHECK_STR(st.polled_node, "fast");
    CHECK_EQ(st.polled_at, T0 + 2 * LEASE + 6);
    CHECK(st.lease_node == NULL);
    CHECK_EQ(st.lease_until, 0);
    tb_store_state_clear(&st);
    /* Recorded is not due: no one claims it before its next poll (b's
     * lease, never recorded, has ended: b is due again). */
    CHECK_EQ(claim(s, "slow", T0 + 3 * LEASE, &other, 1), 1);
    CHECK_EQ(other.source_id, b);
    CHECK_EQ(claim(s, "slow", T0 + 3 * LEASE, &other, 1), 0);

    /* In a batch (the daemon's store job) a refused feed is undone alone. */
    CHECK_EQ(claim(s, "fast", T0 + 9999, two, 2), 2); /* a and b again */
    other = two[0].source_id == a ? two[0] : two[1];
    CHECK_EQ(other.source_id, a);
    CHECK_OK(tb_store_begin(s, errbuf, sizeof(errbuf)));
    f = feed("batch-ok", 2);
    CHECK_OK(put(s, &other, f));
    CHECK_EQ(put(s, &old, f), TB_ELEASE);
    CHECK_OK(tb_store_commit(s, errbuf, sizeof(errbuf)));
    tb_feed_free(f);
    CHECK_EQ(count(s, "SELECT count(*) FROM entries"), 4);
    tb_store_close(s);
    st_drop("fence.db");
}

/* One claimer: its own connection, claiming and recording until nothing
 * is due; what it got in got[]. */
struct claimer {
    const char *target;       /* the database */
    const char *node;         /* its name */
    int64_t got[NSRC];        /* source ids claimed, in order */
    size_t n;                 /* their number */
    int rc;                   /* the first failure, or 0 */
    char err[512];            /* its detail */
    pthread_barrier_t *start; /* both begin together */
};

static void *run_claimer(void *arg)
{
    struct claimer *c = arg;
    struct tb_store *s = NULL;
    struct tb_store_state st;
    struct tb_lease l[BATCH];
    size_t n, i;
    int rc = tb_store_open(&s, c->target, 0, c->err, sizeof(c->err));

    pthread_barrier_wait(c->start);
    for (;;) {
        n = 0;
        rc = rc ? rc : tb_lease_claim(s, c->node, T0, LEASE, l, BATCH, &n, c->err, sizeof(c->err));
        if (rc != 0 || n == 0)
            break;
        /* A poll: its outcome recorded, the next one an interval away. */
        for (i = 0; rc == 0 && i < n; i++) {
            c->got[c->n++] = l[i].source_id;
            memset(&st, 0, sizeof(st));
            st.source_id = l[i].source_id;
            st.last_attempt = T0;
            st.next_poll = T0 + 3600;
            rc = tb_lease_record(s, &l[i], c->node, T0, &st, c->err, sizeof(c->err));
        }
    }
    c->rc = rc;
    tb_store_close(s);
    return NULL;
}

/* Two claimers on two connections at once: every due source is claimed,
 * and by exactly one of them. */
static void test_concurrent(void)
{
    struct tb_store *s = open_db("race.db");
    struct claimer c[2] = {{.node = "n1"}, {.node = "n2"}};
    static char target[1024];
    unsigned char *seen = calloc(NSRC * 2 + 1, 1);
    pthread_barrier_t start;
    pthread_t t[2];
    char name[32];
    int i, twice = 0, missing = 0;
    int64_t first = 0, id;

    if (s == NULL || seen == NULL) {
        tb_store_close(s);
        free(seen);
        return;
    }
    CHECK_OK(tb_store_begin(s, errbuf, sizeof(errbuf)));
    for (i = 0; i < NSRC; i++) {
        snprintf(name, sizeof(name), "s%03d", i);
        id = source(s, name, T0 - 1 - i % 13);
        first = first ? first : id;
    }
    CHECK_OK(tb_store_commit(s, errbuf, sizeof(errbuf)));
    snprintf(target, sizeof(target), "%s", st_target(dir, "race.db"));
    pthread_barrier_init(&start, NULL, 2);
    for (i = 0; i < 2; i++) {
        c[i].target = target;
        c[i].start = &start;
        CHECK_OK(pthread_create(&t[i], NULL, run_claimer, &c[i]));
    }
    for (i = 0; i < 2; i++)
        CHECK_OK(pthread_join(t[i], NULL));
    pthread_barrier_destroy(&start);
    for (i = 0; i < 2; i++) {
        if (c[i].rc != 0)
            fprintf(stderr, "claimer %s: %s\n", c[i].node, c[i].err);
        CHECK_OK(c[i].rc);
        for (size_t j = 0; j < c[i].n; j++) {
            id = c[i].got[j] - first;
            if (id < 0 || id >= NSRC * 2)
                continue;
            twice += seen[id]++ != 0;
        }
    }
    for (i = 0; i < NSRC; i++)
        missing += seen[i] == 0;
    fprintf(stderr, "concurrent claims: %zu by n1, %zu by n2, %d twice, %d missing\n", c[0].n,
            c[1].n, twice, missing);
    CHECK_EQ(twice, 0);
    CHECK_EQ(missing, 0);
    CHECK_EQ(c[0].n + c[1].n, NSRC);
    CHECK_EQ(count(s, "SELECT count(*) FROM sources WHERE polled_node IS NOT NULL"
                      " AND lease_until IS NULL AND lease_token = 1"),
             NSRC);
    free(seen);
    tb_store_close(s);
    st_drop("race.db");
}

/* PostgreSQL: a poll's transaction that fenced its source keeps it from
 * being claimed until it ends (the row stays locked), even past its lease;
 * then the claim takes it with the next token. */
static void test_locked(void)
{
    struct tb_store *s, *s2;
    struct tb_lease l, l2;
    struct tb_feed *f;

    /* SQLite's claim would wait for the writer (its busy timeout). */
    if (!st_is_pg())
        return;
    s = open_db("locked.db");
    s2 = open_db("locked.db");
    if (s == NULL || s2 == NULL)
        goto out;
    source(s, "a", T0 - 1);
    CHECK_EQ(claim(s, "n1", T0, &l, 1), 1);
    CHECK_OK(tb_store_begin(s, errbuf, sizeof(errbuf)));
    f = feed("locked", 2);
    CHECK_OK(put(s, &l, f));
    CHECK_EQ(claim(s2, "n2", T0 + 10 * LEASE, &l2, 1), 0);
    CHECK_OK(tb_store_commit(s, errbuf, sizeof(errbuf)));
    tb_feed_free(f);
    CHECK_EQ(claim(s2, "n2", T0 + 10 * LEASE, &l2, 1), 1);
    CHECK_EQ(l2.token, l.token + 1);
    CHECK_EQ(count(s2, "SELECT count(*) FROM entries"), 2);
out:
    tb_store_close(s);
    tb_store_close(s2);
    st_drop("locked.db");
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/tb-lease-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    if (!st_ready())
        CHECK_DONE();
    test_claim();
    test_fence();
    test_concurrent();
    test_locked();
    st_report();
    if (!st_is_pg()) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    CHECK_DONE();
}
