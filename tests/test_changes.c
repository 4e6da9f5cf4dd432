/*
 * The change feed (tb_changes.h). On SQLite nothing is recorded (one node,
 * as before). On PostgreSQL (changes_pg): a put records its new and
 * updated entries under the node's name, readers skip their own node's
 * rows and read in seq order in pages; a failed put records nothing;
 * pruning by age; and the ordering: a writer that allocated its seq first
 * but commits late is never skipped by a reader that has already seen a
 * later writer's rows (the advisory lock makes the later writer wait).
 * On both: the documents' moments (tb_changes_doc_moment): the same bytes
 * read the same moment from any connection, a new version of a path is
 * newer than the one before, and
 * pruning keeps each path's newest.
 */
#include "tb_changes.h"
#include "tb_db.h"
#include "tb_jobs.h"
#include "tb_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define S(f, x) tb_arena_strdup(&(f)->arena, (x))

static char dir[64], dbpath[1024], errbuf[512];

static struct tb_feed *feed(const char *key, const char *title)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e = tb_entry_new(f);

    e->key = S(f, key);
    e->id = S(f, key);
    e->title = S(f, title);
    e->text = S(f, "text");
    e->published = 100;
    e->updated = TB_TIME_NONE;
    tb_feed_append(f, e);
    return f;
}

static void put(struct tb_store *s, int64_t src, const char *key, const char *title)
{
    struct tb_feed *f = feed(key, title);

    CHECK_OK(tb_store_put_feed(s, src, f, 50, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    tb_feed_free(f);
}

static int64_t count(struct tb_store *s, const char *sql)
{
    int64_t v = -1;

    CHECK_OK(tb_db_scalar(tb_store_sql(s), &v, errbuf, sizeof(errbuf), sql, ""));
    return v;
}

/* Whether id is among ids[0..n). */
static int has(const int64_t *ids, size_t n, int64_t id)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static void test_sqlite(struct tb_store *s, int64_t src)
{
    CHECK_OK(tb_changes_enable(s, "a"));
    put(s, src, "k1", "one");
    CHECK_EQ(count(s, "SELECT count(*) FROM changes"), 0);
}

static void test_record(struct tb_store *s, struct tb_store *r, int64_t src)
{
    int64_t *ids = NULL, last = 0, head = 0, k1;
    size_t n = 0;
    int more = 0;

    CHECK_OK(tb_changes_enable(s, "a"));
    put(s, src, "k1", "one");
    put(s, src, "k2", "two");
    CHECK_EQ(count(s, "SELECT count(*) FROM changes WHERE node = 'a'"), 2);
    k1 = count(s, "SELECT id FROM entries WHERE title = 'one'");
    /* Another node reads both; the writer itself skips them. */
    CHECK_OK(tb_changes_read(r, 0, "b", 100, &ids, &n, &last, &more, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 2);
    CHECK(has(ids, n, k1));
    CHECK_EQ(more, 0);
    CHECK_OK(tb_changes_head(r, &head, errbuf, sizeof(errbuf)));
    CHECK_EQ(last, head);
    free(ids);
    CHECK_OK(tb_changes_read(r, 0, "a", 100, &ids, &n, &last, &more, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 0);
    CHECK_EQ(last, head);
    free(ids);
    /* An update of k1 is a change; unchanged it is not. */
    put(s, src, "k1", "one, revised");
    put(s, src, "k1", "one, revised");
    CHECK_OK(tb_changes_read(r, head, "b", 100, &ids, &n, &last, &more, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 1);
    CHECK(has(ids, n, k1));
    free(ids);
    /* Pages: one row at a time, `more` until the end. */
    CHECK_OK(tb_changes_read(r, 0, "b", 1, &ids, &n, &last, &more, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 1);
    CHECK_EQ(more, 1);
    free(ids);
    /* Pruned by age. */
    CHECK_OK(tb_changes_prune(r, (int64_t)time(NULL) + 10, errbuf, sizeof(errbuf)));
    CHECK_EQ(count(s, "SELECT count(*) FROM changes"), 0);
}

struct late {
    struct tb_store *w;
    int64_t src;
};

static void *late_put(void *arg)
{
    struct late *l = arg;
    char err[512];
    struct tb_feed *f = feed("late", "late one");
    int rc = tb_store_put_feed(l->w, l->src, f, 50, NULL, NULL, NULL, err, sizeof(err));

    tb_feed_free(f);
    if (rc != 0)
        fprintf(stderr, "late put: %s\n", err);
    return (void *)(intptr_t)rc;
}

/* C allocates seq first (holding the lock, as a writer in its commit),
 * W stores after it and must not become visible before C commits. */
static void test_order(struct tb_store *r, int64_t src)
{
    struct tb_store *w = NULL;
    struct tb_db *c = NULL;
    struct late l;
    pthread_t t;
    void *res = NULL;
    int64_t *a = NULL, *b = NULL, cur = 0, last = 0, wid;
    size_t na = 0, nb = 0;
    int more;

    CHECK_OK(tb_changes_head(r, &cur, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_open(&w, dbpath, 0, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_db_open(&c, dbpath, 0, errbuf, sizeof(errbuf)));
    if (w == NULL || c == NULL)
        return;
    CHECK_OK(tb_changes_enable(w, "w"));
    CHECK_OK(tb_db_begin(c, TB_DB_IMMEDIATE, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_db_run(c, errbuf, sizeof(errbuf), "SELECT pg_advisory_xact_lock(?1)", "i",
                       (int64_t)TB_CHANGES_LOCK));
    CHECK_OK(tb_db_run(c, errbuf, sizeof(errbuf),
                       "INSERT INTO changes(node, entry_id, at) VALUES ('c', 424242, 0)", ""));
    l.w = w;
    l.src = src;
    CHECK_EQ(pthread_create(&t, NULL, late_put, &l), 0);
    usleep(500 * 1000); /* W is in its commit by now, waiting */
    CHECK_OK(tb_changes_read(r, cur, "b", 100, &a, &na, &last, &more, errbuf, sizeof(errbuf)));
    CHECK_EQ(na, 0); /* neither committed */
    CHECK_OK(tb_db_commit(c, errbuf, sizeof(errbuf)));
    pthread_join(t, &res);
    CHECK_EQ((int)(intptr_t)res, 0);
    wid = count(r, "SELECT id FROM entries WHERE title = 'late one'");
    CHECK_OK(tb_changes_read(r, last, "b", 100, &b, &nb, &last, &more, errbuf, sizeof(errbuf)));
    /* Every row is seen by one of the two reads. */
    CHECK(has(a, na, 424242) || has(b, nb, 424242));
    CHECK(has(a, na, wid) || has(b, nb, wid));
    free(a);
    free(b);
    tb_db_close(c);
    tb_store_close(w);
}

/* The periodic recomputation, claimed once (job "trending"): its moment
 * moves only under the run's live claim; a run whose claim was taken over
 * (the node stalled past its lease) writes nothing. Both engines. */
static void test_trending_run(struct tb_store *s, struct tb_store *r)
{
    const int64_t t0 = 1800000000;
    struct tb_job a, b;
    int64_t at = 0, due = 0;

    CHECK_EQ(tb_changes_trending_run(s, NULL, t0, &at, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK_EQ(tb_jobs_claim(s, "trending", "n1", t0, 60, 3600, &a, NULL, errbuf, sizeof(errbuf)), 1);
    /* The other node finds it held, then not due once n1 has run it. */
    CHECK_EQ(tb_jobs_claim(r, "trending", "n2", t0 + 1, 60, 3600, &b, &due, errbuf, sizeof(errbuf)),
             0);
    CHECK_EQ(due, t0 + 60);
    CHECK_OK(tb_changes_trending_run(s, &a, t0, &at, errbuf, sizeof(errbuf)));
    CHECK_EQ(at, t0);
    CHECK_OK(tb_jobs_done(s, &a, "n1", t0 + 1, errbuf, sizeof(errbuf)));
    CHECK_EQ(tb_jobs_claim(r, "trending", "n2", t0 + 2, 60, 3600, &b, &due, errbuf, sizeof(errbuf)),
             0);
    CHECK_EQ(due, t0 + 3601);
    CHECK_OK(tb_changes_trending_at(r, &at, errbuf, sizeof(errbuf)));
    CHECK_EQ(at, t0);
    /* The next period: n1 claims, stalls past its lease, n2 runs it; n1's
     * late run is refused and leaves n2's moment. */
    CHECK_EQ(
        tb_jobs_claim(s, "trending", "n1", t0 + 3601, 60, 3600, &a, NULL, errbuf, sizeof(errbuf)),
        1);
    CHECK_EQ(
        tb_jobs_claim(r, "trending", "n2", t0 + 3661, 60, 3600, &b, NULL, errbuf, sizeof(errbuf)),
        1);
    CHECK_OK(tb_changes_trending_run(r, &b, t0 + 3661, &at, errbuf, sizeof(errbuf)));
    CHECK_EQ(tb_changes_trending_run(s, &a, t0 + 3700, &at, errbuf, sizeof(errbuf)), TB_ELEASE);
    CHECK_OK(tb_changes_trending_at(s, &at, errbuf, sizeof(errbuf)));
    CHECK_EQ(at, t0 + 3661);
    CHECK_OK(tb_jobs_done(r, &b, "n2", t0 + 3662, errbuf, sizeof(errbuf)));
}

static void test_doc_moment(struct tb_store *s, struct tb_store *r)
{
    int64_t a1 = 0, a2 = 0, b1 = 0, b2 = 0, c1 = 0, now = (int64_t)time(NULL);

    CHECK_OK(tb_changes_doc_moment(s, "all.atom", "aaaa", &a1, errbuf, sizeof(errbuf)));
    CHECK(a1 >= now - 5 && a1 <= now + 5);
    /* Another node (connection), the same bytes: the same moment. */
    CHECK_OK(tb_changes_doc_moment(r, "all.atom", "aaaa", &a2, errbuf, sizeof(errbuf)));
    CHECK_EQ(a2, a1);
    /* New bytes in the same second: a second later all the same. */
    CHECK_OK(tb_changes_doc_moment(r, "all.atom", "bbbb", &b1, errbuf, sizeof(errbuf)));
    CHECK(b1 > a1);
    CHECK_OK(tb_changes_doc_moment(s, "all.atom", "bbbb", &b2, errbuf, sizeof(errbuf)));
    CHECK_EQ(b2, b1);
    /* Another path has moments of its own. */
    CHECK_OK(tb_changes_doc_moment(s, "index.html", "aaaa", &c1, errbuf, sizeof(errbuf)));
    CHECK(c1 >= now - 5 && c1 < b1 + 5);
    CHECK_EQ(count(s, "SELECT count(*) FROM doc_versions"), 3);
    /* Pruning what is older than b1 keeps each path's newest. */
    CHECK_OK(tb_changes_doc_prune(s, b1 + 100, errbuf, sizeof(errbuf)));
    CHECK_EQ(count(s, "SELECT count(*) FROM doc_versions"), 2);
    CHECK_OK(tb_changes_doc_moment(r, "all.atom", "bbbb", &b2, errbuf, sizeof(errbuf)));
    CHECK_EQ(b2, b1);
    CHECK_OK(tb_changes_doc_moment(r, "index.html", "aaaa", &a2, errbuf, sizeof(errbuf)));
    CHECK_EQ(a2, c1);
}

int main(void)
{
    struct tb_store *s = NULL, *r = NULL;
    int64_t src = 0;

    if (!st_ready())
        CHECK_DONE();
    snprintf(dir, sizeof(dir), "/tmp/tb_changes_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(dbpath, sizeof(dbpath), "%s", st_target(dir, "changes.db"));
    CHECK_OK(tb_store_open(&s, dbpath, 0, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_open(&r, dbpath, 0, errbuf, sizeof(errbuf)));
    if (s == NULL || r == NULL)
        return 1;
    CHECK_OK(tb_store_source(s, "a", NULL, &src, errbuf, sizeof(errbuf)));
    test_trending_run(s, r);
    if (!st_is_pg()) {
        test_sqlite(s, src);
    } else {
        test_record(s, r, src);
        test_order(r, src);
    }
    test_doc_moment(s, r);
    tb_store_close(r);
    tb_store_close(s);
    if (!st_is_pg()) {
        unlink(dbpath);
        char wal[1100];
        snprintf(wal, sizeof(wal), "%s-wal", dbpath);
        unlink(wal);
        snprintf(wal, sizeof(wal), "%s-shm", dbpath);
        unlink(wal);
    }
    rmdir(dir);
    st_report();
    CHECK_DONE();
}
