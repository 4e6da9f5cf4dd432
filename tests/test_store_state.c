/* Tests for store_state.c (poll state per source) and tb_topic_select_in(). */
#include "tb_store.h"
#include "tb_topic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

static char dir[64], dbpath[1024], errbuf[512];

static void add(struct tb_feed *f, const char *key, const char *title, int64_t published)
{
    struct tb_entry *e = tb_entry_new(f);

    e->key = tb_arena_strdup(&f->arena, key);
    e->id = e->key;
    e->title = tb_arena_strdup(&f->arena, title);
    e->text = "";
    e->published = published;
    tb_feed_append(f, e);
}

/* Stores entries under source `name`; returns the rowids stored (caller frees). */
static int64_t *put(struct tb_store *s, const char *name, struct tb_feed *f, size_t *n)
{
    struct tb_store_state st;
    int64_t *ids = NULL;

    CHECK_OK(tb_store_state_get(s, name, "http://x.test/feed", &st, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_put_feed(s, st.source_id, f, 100, NULL, &ids, n, errbuf, sizeof(errbuf)));
    tb_store_state_clear(&st);
    tb_feed_free(f);
    return ids;
}

static void test_state(struct tb_store *s)
{
    struct tb_store_state st, *v = NULL;
    size_t n = 0;

    CHECK_OK(tb_store_state_get(s, "a", "http://a.test/1", &st, errbuf, sizeof(errbuf)));
    CHECK(st.source_id > 0);
    CHECK_STR(st.url, "http://a.test/1");
    CHECK_EQ(st.gone, 0);
    CHECK_EQ(st.next_poll, 0);
    /* A permanent redirect and an outcome are remembered... */
    free(st.url);
    st.url = strdup("http://a.test/moved");
    st.etag = strdup("\"e1\"");
    st.last_error = strdup("HTTP 503");
    st.next_poll = 1234;
    st.failures = 2;
    st.last_status = 503;
    st.gone = 1;
    CHECK_OK(tb_store_state_put(s, &st, errbuf, sizeof(errbuf)));
    tb_store_state_clear(&st);
    CHECK_OK(tb_store_state_get(s, "a", "http://a.test/1", &st, errbuf, sizeof(errbuf)));
    CHECK_STR(st.url, "http://a.test/moved");
    CHECK_STR(st.etag, "\"e1\"");
    CHECK_STR(st.last_error, "HTTP 503");
    CHECK_EQ(st.next_poll, 1234);
    CHECK_EQ(st.failures, 2);
    CHECK_EQ(st.gone, 1);
    tb_store_state_clear(&st);
    /* ... until the config names another URL: then the state starts over. */
    CHECK_OK(tb_store_state_get(s, "a", "http://a.test/2", &st, errbuf, sizeof(errbuf)));
    CHECK_STR(st.url, "http://a.test/2");
    CHECK(st.etag == NULL);
    CHECK(st.last_error == NULL);
    CHECK_EQ(st.next_poll, 0);
    CHECK_EQ(st.failures, 0);
    CHECK_EQ(st.gone, 0);
    tb_store_state_clear(&st);
    CHECK_OK(tb_store_state_get(s, "b", NULL, &st, errbuf, sizeof(errbuf)));
    tb_store_state_clear(&st);
    CHECK_OK(tb_store_state_list(s, &v, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_STR(v[0].name, "a");
        CHECK_STR(v[1].name, "b");
        CHECK(v[1].url == NULL);
    }
    tb_store_state_free(v, n);
    CHECK_EQ(tb_store_state_get(s, NULL, NULL, &st, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK_OK(tb_store_ping(s));
}

/* tb_topic_select_in over the entries test_select_in stored. */
static void select_in(struct tb_store *s, const int64_t *first, size_t n1, const int64_t *second,
                      size_t n2)
{
    int64_t *ids = NULL;
    size_t n = 0;
    char *only_s2[] = {"s2"};

    /* Only the rowids just stored are considered, newest first. */
    CHECK_OK(tb_topic_select_in(s, "\"entity linking\"", NULL, 0, second, n2, 0, &ids, &n, errbuf,
                                sizeof(errbuf)));
    CHECK_EQ(n, 1);
    CHECK_EQ(n ? ids[0] : 0, second[0]);
    free(ids);
    CHECK_OK(tb_topic_select_in(s, "\"entity linking\"", NULL, 0, first, n1, 0, &ids, &n, errbuf,
                                sizeof(errbuf)));
    CHECK_EQ(n, 2);
    CHECK_EQ(n == 2 ? ids[0] : 0, first[1]);
    free(ids);
    /* Restricted to a source, over the whole store, with a limit. */
    CHECK_OK(
        tb_topic_select_in(s, "linking", only_s2, 1, NULL, 0, 0, &ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 1);
    free(ids);
    CHECK_OK(tb_topic_select_in(s, NULL, NULL, 0, NULL, 0, 2, &ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 2);
    CHECK_EQ(n == 2 ? ids[0] : 0, second[0]);
    free(ids);
    CHECK_EQ(
        tb_topic_select_in(s, "AND (", NULL, 0, first, n1, 0, &ids, &n, errbuf, sizeof(errbuf)),
        TB_EQUERY);
    CHECK(ids == NULL && n == 0);
}

static void test_select_in(struct tb_store *s)
{
    struct tb_feed *f1 = tb_feed_new(), *f2 = tb_feed_new();
    int64_t *first, *second;
    size_t n1, n2;
    struct tb_store_state *v = NULL;
    size_t nv = 0;

    add(f1, "k1", "entity linking at scale", 10);
    add(f1, "k2", "cooking with entity linking", 20);
    add(f1, "k3", "unrelated", 30);
    first = put(s, "s1", f1, &n1);
    CHECK_EQ(n1, 3);
    add(f2, "k4", "entity linking again", 40);
    second = put(s, "s2", f2, &n2);
    CHECK_EQ(n2, 1);
    if (!st_skip_pg("test_select_in: tb_topic_select_in",
                    "topic queries on PostgreSQL are the matcher's (issue 13 item 2)"))
        select_in(s, first, n1, second, n2);
    CHECK_OK(tb_store_state_list(s, &v, &nv, errbuf, sizeof(errbuf)));
    CHECK_EQ(nv, 4);
    CHECK_EQ(nv == 4 ? v[2].entries_seen : -1, 3); /* s1 */
    tb_store_state_free(v, nv);
    free(first);
    free(second);
}

int main(void)
{
    struct tb_store *s = NULL;

    snprintf(dir, sizeof(dir), "/tmp/tb-state-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    if (!st_ready())
        CHECK_DONE();
    snprintf(dbpath, sizeof(dbpath), "%s", st_target(dir, "t.db"));
    CHECK_OK(tb_store_open(&s, dbpath, 0, errbuf, sizeof(errbuf)));
    if (s != NULL) {
        test_state(s);
        test_select_in(s);
    }
    tb_store_close(s);
    /* State survives a reopen (a restarted daemon). */
    CHECK_OK(tb_store_open(&s, dbpath, 0, errbuf, sizeof(errbuf)));
    if (s != NULL) {
        struct tb_store_state st;

        CHECK_OK(tb_store_state_get(s, "a", "http://a.test/2", &st, errbuf, sizeof(errbuf)));
        CHECK_STR(st.url, "http://a.test/2");
        tb_store_state_clear(&st);
    }
    tb_store_close(s);
    unlink(dbpath);
    snprintf(errbuf, sizeof(errbuf), "%s/t.db-wal", dir);
    unlink(errbuf);
    snprintf(errbuf, sizeof(errbuf), "%s/t.db-shm", dir);
    unlink(errbuf);
    rmdir(dir);
    st_report();
    CHECK_DONE();
}
