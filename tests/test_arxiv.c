/* Tests for tb_arxiv: the API query URL, an API answer (a realistic
 * fixture) read as the arXiv pseudo-source's feed, and the store's record
 * of which mentioned ids are due to be asked. */
#include "tb_arxiv.h"
#include "tb_normalize.h"
#include "tb_store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define NOW 1700000000

static char dir[64];
static char errbuf[512];

/* Reads $TB_FIXTURES/arxiv/<name> into a malloc'd buffer. */
static char *load(const char *name, size_t *len)
{
    return check_load("arxiv", name, len);
}

static void test_query_url(void)
{
    const char *ids[] = {"2401.01234", "hep-th/9901001", "a b,c"};
    const char *many[TB_ARXIV_BATCH_MAX + 1];
    char *url = NULL;
    size_t i;

    CHECK_OK(tb_arxiv_query_url("https://export.arxiv.org/api/query", ids, 2, &url));
    CHECK_STR(url, "https://export.arxiv.org/api/query?id_list=2401.01234,hep-th/9901001"
                   "&max_results=2");
    free(url);
    /* an API URL with a query of its own; an id that would break the list */
    CHECK_OK(tb_arxiv_query_url("http://127.0.0.1:1/api?x=1", ids + 2, 1, &url));
    CHECK_STR(url, "http://127.0.0.1:1/api?x=1&id_list=a%20b%2Cc&max_results=1");
    free(url);
    for (i = 0; i <= TB_ARXIV_BATCH_MAX; i++)
        many[i] = "2401.00001";
    CHECK_OK(tb_arxiv_query_url("http://h/q", many, TB_ARXIV_BATCH_MAX, &url));
    CHECK(strstr(url, "&max_results=100") != NULL);
    free(url);
    CHECK_EQ(tb_arxiv_query_url("http://h/q", many, TB_ARXIV_BATCH_MAX + 1, &url), -EINVAL);
    CHECK(url == NULL);
    CHECK_EQ(tb_arxiv_query_url("http://h/q", many, 0, &url), -EINVAL);
    CHECK_EQ(tb_arxiv_query_url(NULL, many, 1, &url), -EINVAL);
}

static void test_is_record(void)
{
    CHECK(tb_arxiv_is_record("https://arxiv.org/"));
    CHECK(tb_arxiv_is_record("http://rss.arxiv.org/rss/cs.CL"));
    CHECK(tb_arxiv_is_record("HTTPS://Export.ArXiv.Org:443/api"));
    CHECK(tb_arxiv_is_record("http://arxiv.org./list"));
    CHECK(!tb_arxiv_is_record(NULL));
    CHECK(!tb_arxiv_is_record("https://news.ycombinator.com/"));
    CHECK(!tb_arxiv_is_record("https://notarxiv.org/"));
    CHECK(!tb_arxiv_is_record("https://arxiv.org.example/"));
    CHECK(!tb_arxiv_is_record("https://arxiv.org@evil.example/"));
    CHECK(!tb_arxiv_is_record("ftp://arxiv.org/"));
    CHECK(!tb_arxiv_is_record("https://huggingface.co/papers"));
}

static int has_link(const struct tb_entry *e, const char *href)
{
    const struct tb_link *l;

    for (l = e->links; l != NULL; l = l->next) {
        if (l->href != NULL && strcmp(l->href, href) == 0)
            return 1;
    }
    return 0;
}

static void test_answer(void)
{
    size_t len;
    char *data = load("answer.atom", &len);
    struct tb_feed *f = NULL;
    const struct tb_entry *e;

    CHECK_OK(tb_arxiv_parse_answer(data, len, "http://127.0.0.1:1/api?id_list=x", &f, errbuf,
                                   sizeof(errbuf)));
    free(data);
    CHECK(f != NULL);
    CHECK_EQ(f->nentries, 3);
    CHECK_STR(f->title, "arXiv");
    CHECK_STR(f->link, "https://arxiv.org/");
    CHECK(f->self == NULL);
    e = f->entries;
    CHECK_STR(e->arxiv_id, "2411.00001");
    CHECK_STR(e->title,
              "Reverse Region-to-Entity Annotation for Pixel-Level Visual Entity Linking");
    CHECK(strncmp(e->summary.value, "Visual Entity Linking (VEL) is a crucial task", 45) == 0 ||
          strstr(e->summary.value, "Visual Entity Linking (VEL) is a crucial task") != NULL);
    CHECK(e->authors != NULL);
    CHECK_STR(e->authors->name, "Zhengfei Xu");
    CHECK(e->authors->next != NULL);
    CHECK_STR(e->authors->next->name, "Sijia Zhao");
    CHECK(e->categories != NULL);
    CHECK_STR(e->categories->term, "cs.CV");
    CHECK(e->published == 1730455200); /* 2024-11-01T10:00:00Z */
    CHECK(e->updated > e->published);
    CHECK(has_link(e, "http://arxiv.org/pdf/2411.00001v2"));
    CHECK(e->text != NULL && strstr(e->text, "MaskOVEN-Wiki") != NULL);
    e = e->next;
    CHECK_STR(e->arxiv_id, "2108.02388");
    CHECK(strncmp(e->title, "TransRefer3D", 12) == 0);
    e = e->next;
    CHECK_STR(e->arxiv_id, "2010.00904");
    CHECK_STR(e->title, "Autoregressive Entity Retrieval");
    CHECK(e->next == NULL);
    CHECK(f->last == e);
    tb_feed_free(f);

    /* the API's answer to a malformed id: no paper in it */
    data = load("error.atom", &len);
    CHECK_OK(tb_arxiv_parse_answer(data, len, NULL, &f, errbuf, sizeof(errbuf)));
    free(data);
    CHECK_EQ(f->nentries, 0);
    CHECK(f->entries == NULL && f->last == NULL);
    tb_feed_free(f);

    /* an HTML error page is no answer */
    CHECK_EQ(tb_arxiv_parse_answer("<html>", 6, NULL, &f, errbuf, sizeof(errbuf)), TB_EPARSE);
    CHECK(f == NULL);
}

/* A newsletter entry linking the given arXiv abs pages, stored as `src`. */
static void mention(struct tb_store *s, const char *src, const char *ids)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e = tb_entry_new(f);
    char html[1024] = "", *save = NULL, *tok, buf[256];
    int64_t id = 0;

    snprintf(buf, sizeof(buf), "%s", ids);
    for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        size_t n = strlen(html);

        snprintf(html + n, sizeof(html) - n, "<a href=\"https://arxiv.org/abs/%s\">x</a> ", tok);
    }
    e->link = tb_arena_strdup(&f->arena, "https://news.example/1");
    e->title = tb_arena_strdup(&f->arena, "Issue 1");
    e->summary.value = tb_arena_strdup(&f->arena, html);
    e->summary.is_html = 1;
    e->published = NOW;
    tb_feed_append(f, e);
    CHECK_OK(tb_norm_feed(f));
    CHECK_OK(tb_store_source(s, src, NULL, &id, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_put_feed(s, id, f, NOW, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    tb_feed_free(f);
}

static void test_due(void)
{
    struct tb_store *s = NULL;
    char p[1024], *ids[TB_ARXIV_BATCH_MAX];
    const char *two[2];
    size_t n = 0, i;
    int64_t next = -1, src = 0;
    size_t len;
    char *data;
    struct tb_feed *f = NULL;

    snprintf(p, sizeof(p), "%s", st_target(dir, "due.db"));
    CHECK_OK(tb_store_open(&s, p, TB_STORE_TEMP, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_arxiv_due(s, NOW, 0, 10, ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 0);
    mention(s, "news", "2411.00001,2108.02388,2010.00904");
    mention(s, "blog", "2010.00904v3");
    CHECK_OK(tb_store_arxiv_due(s, NOW, 0, 10, ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 3); /* each id once, whoever mentions it */
    CHECK_STR(ids[0], "2010.00904");
    CHECK_STR(ids[1], "2108.02388");
    CHECK_STR(ids[2], "2411.00001");
    for (i = 0; i < n; i++)
        free(ids[i]);
    /* Voiced before the window: not asked. */
    CHECK_OK(tb_store_arxiv_due(s, NOW, NOW + 1, 10, ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 0);
    CHECK_OK(tb_store_arxiv_due(s, NOW, NOW, 2, ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 2); /* at most max */
    free(ids[0]);
    free(ids[1]);

    /* A failure: asked again once the retry time passed, then twice as late. */
    two[0] = "2010.00904";
    two[1] = "2108.02388";
    CHECK_OK(tb_store_arxiv_record(s, two, 2, 0, NOW, 60, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_arxiv_due(s, NOW, 0, 10, ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 1);
    CHECK_STR(ids[0], "2411.00001");
    free(ids[0]);
    CHECK_OK(tb_store_arxiv_next(s, NOW, &next, errbuf, sizeof(errbuf)));
    CHECK_EQ(next, NOW + 60);
    CHECK_OK(tb_store_arxiv_due(s, NOW + 60, 0, 10, ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 3);
    for (i = 0; i < n; i++)
        free(ids[i]);
    CHECK_OK(tb_store_arxiv_record(s, two, 1, 0, NOW + 60, 60, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_arxiv_next(s, NOW + 60, &next, errbuf, sizeof(errbuf)));
    CHECK_EQ(next, NOW + 60 + 120);

    /* Resolved: never asked again, also when its answer had no entry. */
    CHECK_OK(tb_store_arxiv_record(s, two + 1, 1, 1, NOW, 60, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_arxiv_due(s, NOW + 86400 * 3, 0, 10, ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 2);
    CHECK_STR(ids[0], "2010.00904");
    CHECK_STR(ids[1], "2411.00001");
    for (i = 0; i < n; i++)
        free(ids[i]);

    /* Once an entry carries the paper (the API's answer stored as the
     * arXiv pseudo-source), it is no longer due. */
    data = load("answer.atom", &len);
    CHECK_OK(tb_arxiv_parse_answer(data, len, NULL, &f, errbuf, sizeof(errbuf)));
    free(data);
    CHECK_OK(tb_store_source(s, TB_ARXIV_SOURCE, NULL, &src, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_put_feed(s, src, f, NOW, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    tb_feed_free(f);
    CHECK_OK(tb_store_arxiv_due(s, NOW + 86400 * 3, 0, 10, ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 0);
    CHECK_OK(tb_store_arxiv_next(s, NOW, &next, errbuf, sizeof(errbuf)));
    CHECK_EQ(next, 0);

    /* A Hacker News item that IS a paper (its link the PDF) carries it, but
     * its title is the poster's: the paper is due until arXiv's record is in. */
    f = tb_feed_new();
    {
        struct tb_entry *e = tb_entry_new(f);

        f->link = tb_arena_strdup(&f->arena, "https://news.ycombinator.com/");
        e->link = tb_arena_strdup(&f->arena, "https://arxiv.org/pdf/2302.00002v1");
        e->title = tb_arena_strdup(&f->arena, "[pdf] Walruses");
        e->published = NOW;
        tb_feed_append(f, e);
    }
    CHECK_OK(tb_norm_feed(f));
    CHECK_OK(tb_store_source(s, "hn", NULL, &src, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_put_feed(s, src, f, NOW, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    tb_feed_free(f);
    CHECK_OK(tb_store_arxiv_due(s, NOW, 0, 10, ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 1);
    CHECK_STR(ids[0], "2302.00002");
    free(ids[0]);

    /* Given up after TB_ARXIV_MAX_TRIES failures. */
    mention(s, "news2", "2301.99999");
    two[0] = "2301.99999";
    for (i = 0; i < TB_ARXIV_MAX_TRIES; i++)
        CHECK_OK(tb_store_arxiv_record(s, two, 1, 0, NOW, 1, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_arxiv_due(s, NOW + 86400 * 30, 0, 10, ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 1); /* the Hacker News paper only */
    CHECK_STR(ids[0], "2302.00002");
    free(ids[0]);
    tb_store_close(s);
    unlink(p);
}

/* An arXiv listing (an arXiv record) carrying `id`, stored as `src`. */
static void listing(struct tb_store *s, const char *src, const char *id)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e = tb_entry_new(f);
    char link[128];
    int64_t sid = 0;

    snprintf(link, sizeof(link), "https://arxiv.org/abs/%s", id);
    f->link = tb_arena_strdup(&f->arena, "http://rss.arxiv.org/rss/cs.CL");
    e->link = tb_arena_strdup(&f->arena, link);
    e->title = tb_arena_strdup(&f->arena, "A listed paper");
    e->published = NOW;
    tb_feed_append(f, e);
    CHECK_OK(tb_norm_feed(f));
    CHECK_OK(tb_store_source(s, src, NULL, &sid, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_put_feed(s, sid, f, NOW, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    tb_feed_free(f);
}

static size_t due_count(struct tb_store *s, int64_t now, int64_t since, const char *first)
{
    char *ids[TB_ARXIV_BATCH_MAX];
    size_t n = 0, i;

    CHECK_OK(tb_store_arxiv_due(s, now, since, 10, ids, &n, errbuf, sizeof(errbuf)));
    if (first != NULL)
        CHECK(n > 0 && strcmp(ids[0], first) == 0);
    for (i = 0; i < n; i++)
        free(ids[i]);
    return n;
}

/* The ids due come from arxiv_resolve alone (migration 12): each arXiv id
 * voiced has its row with its latest voice, held (state 2) once an arXiv
 * record carries it, also when the record arrives while it is being asked;
 * a database of version 11 gets those rows from its mentions. */
static void test_due_open_ids(void)
{
    struct tb_store *s = NULL;
    const char *one[1] = {"2402.00002"};
    sqlite3_stmt *q = NULL;
    char p[1024];

    snprintf(p, sizeof(p), "%s", st_target(dir, "open.db"));
    CHECK_OK(tb_store_open(&s, p, 0, errbuf, sizeof(errbuf)));
    listing(s, "arxiv-cs-cl", "2402.00001");
    mention(s, "news", "2402.00001,2402.00002,2402.00003");
    CHECK_EQ(due_count(s, NOW, NOW, "2402.00002"), 2);
    CHECK_EQ(due_count(s, NOW, NOW + 1, NULL), 0); /* voiced before the window */
    /* Asked; the listing carries 2402.00002 before the (failed) answer. */
    listing(s, "arxiv-cs-cl", "2402.00002");
    CHECK_OK(tb_store_arxiv_record(s, one, 1, 0, NOW, 60, errbuf, sizeof(errbuf)));
    CHECK_EQ(due_count(s, NOW + 3600, NOW, "2402.00003"), 1);
    tb_store_close(s);
    if (st_skip_pg("test_due_open_ids: a version-11 file", "SQLite's migration 12")) {
        st_drop("open.db");
        return;
    }

    /* Version 11: no voiced column, rows only for ids asked. */
    CHECK_OK(tb_store_open(&s, p, 0, errbuf, sizeof(errbuf)));
    CHECK_EQ(sqlite3_exec(tb_store_db(s),
                          "DROP INDEX arxiv_resolve_open; DROP INDEX arxiv_resolve_retry;"
                          " DELETE FROM arxiv_resolve;"
                          " ALTER TABLE arxiv_resolve DROP COLUMN voiced; DROP TABLE subscriptions;"
                          " DROP TABLE sub_topics; DROP TABLE sub_confirms; DROP TABLE outbox;"
                          " DROP TABLE mail_totals; DROP TABLE archive; DROP TABLE archive_feeds;"
                          " DROP TABLE websub_subs; DROP TABLE websub_docs;"
                          " DROP TABLE push_subs; DROP TABLE topic_queries;"
                          " DROP TABLE topic_members; DROP TABLE jobs; DROP INDEX sources_due;"
                          " ALTER TABLE sources DROP COLUMN lease_node;"
                          " ALTER TABLE sources DROP COLUMN lease_until;"
                          " ALTER TABLE sources DROP COLUMN lease_token;"
                          " ALTER TABLE sources DROP COLUMN polled_node;"
                          " ALTER TABLE sources DROP COLUMN polled_at;"
                          " ALTER TABLE sources DROP COLUMN active;"
                          " DROP TABLE changes; DROP TABLE trending_at; DROP TABLE doc_versions; "
                          "PRAGMA user_version=11;",
                          NULL, NULL, NULL),
             SQLITE_OK);
    tb_store_close(s);
    CHECK_OK(tb_store_open(&s, p, 0, errbuf, sizeof(errbuf)));
    CHECK_EQ(due_count(s, NOW, NOW, "2402.00003"), 1);
    CHECK_EQ(sqlite3_prepare_v2(tb_store_db(s),
                                "SELECT group_concat(id || '=' || state || '@' || voiced, ' ')"
                                " FROM (SELECT * FROM arxiv_resolve ORDER BY id)",
                                -1, &q, NULL),
             SQLITE_OK);
    CHECK_EQ(sqlite3_step(q), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(q, 0),
              "2402.00001=2@1700000000 2402.00002=2@1700000000 2402.00003=0@1700000000");
    sqlite3_finalize(q);
    tb_store_close(s);
    unlink(p);
    snprintf(p, sizeof(p), "%s/open.db-wal", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/open.db-shm", dir);
    unlink(p);
}

int main(void)
{
    if (!st_ready())
        CHECK_DONE();
    snprintf(dir, sizeof(dir), "/tmp/tb_arxiv_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    test_query_url();
    test_is_record();
    test_answer();
    test_due();
    test_due_open_ids();
    rmdir(dir);
    st_report();
    CHECK_DONE();
}
