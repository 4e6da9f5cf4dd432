/*
 * Golden topic queries: a fixed set of entries (the titles and abstracts of
 * tests/fixtures/golden-papers.txt, and a few of our own for diacritics,
 * case and other scripts) and a fixed set of FTS5 queries (phrases,
 * prefixes, AND/OR/NOT, NEAR, column filters, initial tokens, stemming,
 * unicode) whose results are written down here. Each query must give
 * exactly those entries through every path a topic is matched by:
 *   - the store's own FTS5 index (tb_topic_select on SQLite);
 *   - the in-memory matcher (matcher.h), fed the stored entries in batches;
 *   - the memberships the matcher writes (topic.c), on SQLite and, when
 *     tests/pgserver.py names a server in TB_TEST_PG, on PostgreSQL.
 * The results are fixed rather than only compared, so that a change to the
 * tokenizer or the columns (which the store and the matcher share) fails
 * here too. Queries FTS5 cannot compile must fail the same way everywhere.
 */
#include "tb_store.h"
#include "tb_topic.h"
#include "../src/store/matcher.h"
#include "../src/store/store_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define S(f, x) tb_arena_strdup(&(f)->arena, (x))
#define NENTRIES 40
#define BATCH 7 /* entries per matcher batch: several batches, a short last one */

static char dir[64], dbpath[1024], errbuf[512];

/* Entry keys by store id (ids are small: a fresh store numbers from 1). */
static char keys[NENTRIES + 8][8];

struct golden {
    const char *query;
    const char *expect; /* keys, sorted, space-separated */
};

/* The golden set. p01..p33 are the papers in file order; u1..u3 our own. */
static const struct golden golden[] = {
    {"entity linking", "p01 p03 p10 p28 p33"},
    {"\"entity linking\"", "p01 p03 p10 p28 p33"},
    {"retriev*", "p03 p04 p05 p09 p11 p12 p13 p14 p15 p18 p23"},
    {"retrieve",
     "p03 p04 p05 p09 p11 p12 p13 p14 p15 p18 p23"}, /* porter: retrieval, retrieved, retrieving */
    {"attention AND sink*", "p08"},
    {"transformer OR grounding", "p02 p06 p09 p10 p12 p13 p15 p17 p19 p25 p26 p31 p32"},
    {"entity NOT linking", "p02 p04 p05 p06 p07 p11 p16 p17 p22 p23 p27 p29"},
    {"NEAR(entity linking, 2)", "p01 p03 p10 p28 p33"},
    {"NEAR(\"language model\" hallucination, 12)", "p14 p31"},
    {"title:entity", "p01 p02 p03 p04 p05 p07 p10 p22 p23 p27 p28"},
    {"title:retrieval OR text:\"knowledge base\"", "p01 p03 p04 p09 p11 p28"},
    {"- title : entity", "p01 p02 p03 p04 p05 p06 p07 p10 p11 p16 p17 p22 p23 p27 p28 p29 p33"},
    {"{title authors} : muller", "u1"},
    {"title:^autoregressive", "p03"},
    {"^entity", "p03"},
    {"categories:cs", "u1 u3"},
    {"categories:\"cs cl\"", "u1"},
    {"authors:jose", "u1"},
    {"authors:JOSÉ", "u1"},
    {"cafe", "u1 u2"},
    {"CAFÉ", "u1 u2"},
    {"naive OR naïve", "u1"},
    {"straße", "u1"},
    {"zurich", "u1"},
    {"трансформеры", "u3"},
    {"ΚΕΊΜΕΝΑ", "u3"},
    {"NER", "p04 p06 p10 p17 p22 p23 p33"},
    {"llm", "p04 p06 p08 p14 p15 p16 p20 p21 p23 p24 p26 p27 p30"},
    {"3d", "p02"},
    {"\"fine-grained\"", "p01 p02 p03 p04 p05 p06 p28 p29"},
    {"zero* AND shot", "p01 p04 p05"},
    {"(entity OR entities) NOT dataset", "p07 p27 p29 p33"},
    {"run", "p12 p25 u2"},
    {"nothingmatchesthis", ""},
};
#define NGOLDEN (sizeof(golden) / sizeof(golden[0]))

static const char *const bad[] = {"\"unterminated", "AND AND", "foo:bar", "(",
                                  "NEAR(a b, x)",   "title:",  "*",       "title:(x"};
#define NBAD (sizeof(bad) / sizeof(bad[0]))

static struct tb_entry *add(struct tb_feed *f, const char *key, const char *title, const char *text,
                            int64_t published)
{
    struct tb_entry *e = tb_entry_new(f);

    e->key = S(f, key);
    e->id = S(f, key);
    e->title = S(f, title);
    e->text = S(f, text);
    e->published = published;
    tb_feed_append(f, e);
    return e;
}

static void person(struct tb_feed *f, struct tb_entry *e, const char *name)
{
    struct tb_person *p = tb_arena_alloc(&f->arena, sizeof(*p));

    memset(p, 0, sizeof(*p));
    p->name = S(f, name);
    p->next = e->authors;
    e->authors = p;
}

static void category(struct tb_feed *f, struct tb_entry *e, const char *term)
{
    struct tb_category *c = tb_arena_alloc(&f->arena, sizeof(*c));

    memset(c, 0, sizeof(*c));
    c->term = S(f, term);
    c->next = e->categories;
    e->categories = c;
}

/* The papers of the fixture, then u1..u3. */
static struct tb_feed *golden_feed(void)
{
    struct tb_feed *f = tb_feed_new();
    char path[512], title[4096], key[16];
    static char text[16384];
    const char *src = getenv("TB_FIXTURES");
    struct tb_entry *e;
    FILE *in;
    int n = 0;

    snprintf(path, sizeof(path), "%s/golden-papers.txt", src ? src : "fixtures");
    in = fopen(path, "r");
    CHECK(in != NULL);
    if (in == NULL)
        return f;
    while (fgets(title, sizeof(title), in) != NULL) {
        if (title[0] == '#' || title[0] == '\n')
            continue;
        if (fgets(text, sizeof(text), in) == NULL)
            break;
        title[strcspn(title, "\n")] = '\0';
        text[strcspn(text, "\n")] = '\0';
        snprintf(key, sizeof(key), "p%02d", ++n);
        add(f, key, title, text, 1000 + n);
    }
    fclose(in);
    CHECK_EQ(n, 33);
    e = add(f, "u1", "Caf\xc3\xa9 au lait and na\xc3\xafve Bayes",
            "A r\xc3\xa9sum\xc3\xa9 of Stra\xc3\x9f"
            "e names in Z\xc3\xbcrich.",
            2001);
    person(f, e, "Jos\xc3\xa9 M\xc3\xbcller");
    category(f, e, "cs.CL");
    e = add(f, "u2", "CAFE SOCIETY", "Resume writing for RUNNERS who run.", 2002);
    person(f, e,
           "Ana \xc3\x96"
           "berg");
    category(f, e, "stat.ML");
    e = add(f, "u3",
            "\xd0\xa2\xd1\x80\xd0\xb0\xd0\xbd\xd1\x81\xd1\x84\xd0\xbe\xd1\x80\xd0\xbc\xd0"
            "\xb5\xd1\x80\xd1\x8b \xd0\xb4\xd0\xbb\xd1\x8f \xd1\x82\xd0\xb5\xd0\xba\xd1"
            "\x81\xd1\x82\xd0\xb0",
            "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac \xce\xba\xce\xb5"
            "\xce\xaf\xce\xbc\xce\xb5\xce\xbd\xce\xb1 \xce\xba\xce\xb1\xce\xb9 muller.",
            2003);
    category(f, e, "cs.LG");
    return f;
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of ids, sorted, space-separated (static storage). */
static const char *keys_of(const int64_t *ids, size_t n)
{
    static char out[NENTRIES * 4 + 8];
    const char *k[NENTRIES + 8];
    size_t i, m = 0;

    out[0] = '\0';
    for (i = 0; i < n; i++) {
        CHECK(ids[i] > 0 && ids[i] < (int64_t)(sizeof(keys) / sizeof(keys[0])));
        if (ids[i] > 0 && ids[i] < (int64_t)(sizeof(keys) / sizeof(keys[0])) && m < NENTRIES + 8)
            k[m++] = keys[ids[i]];
    }
    qsort(k, m, sizeof(k[0]), by_str);
    for (i = 0; i < m; i++) {
        if (i > 0)
            strcat(out, " ");
        strcat(out, k[i]);
    }
    return out;
}

/* Stores the feed and fills keys[] from the store. */
static struct tb_store *open_store(void)
{
    struct tb_store *s = NULL;
    struct tb_feed *f = golden_feed(), *got = NULL;
    struct tb_entry *e;
    int64_t src = 0, *ids = NULL;
    size_t n = 0, i;

    snprintf(dbpath, sizeof(dbpath), "%s", st_target(dir, "golden.db"));
    CHECK_OK(tb_store_open(&s, dbpath, 0, errbuf, sizeof(errbuf)));
    if (s == NULL)
        exit(1);
    CHECK_OK(tb_store_source(s, "golden", "http://127.0.0.1/golden", &src, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_put_feed(s, src, f, 60, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_topic_select(s, NULL, 0, &ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 36);
    CHECK_OK(tb_store_load(s, ids, n, &got, errbuf, sizeof(errbuf)));
    for (i = 0, e = got ? got->entries : NULL; e != NULL && i < n; e = e->next, i++) {
        CHECK(ids[i] > 0 && ids[i] < (int64_t)(sizeof(keys) / sizeof(keys[0])));
        if (ids[i] > 0 && ids[i] < (int64_t)(sizeof(keys) / sizeof(keys[0])))
            snprintf(keys[ids[i]], sizeof(keys[0]), "%s", e->key);
    }
    tb_feed_free(got);
    tb_feed_free(f);
    free(ids);
    return s;
}

/* Today's path: the store's own FTS5 index. */
static void test_store_fts(struct tb_store *s)
{
    int64_t *ids = NULL;
    size_t i, n = 0;

    for (i = 0; i < NGOLDEN; i++) {
        CHECK_OK(tb_topic_select(s, golden[i].query, 0, &ids, &n, errbuf, sizeof(errbuf)));
        CHECK_STR(keys_of(ids, n), golden[i].expect);
        free(ids);
    }
}

/* Adds ids' ascending union with add[0..nadd) into *all (malloc'd). */
static void merge_ids(int64_t **all, size_t *nall, const int64_t *add, size_t nadd)
{
    int64_t *m = malloc((*nall + nadd + 1) * sizeof(*m));
    size_t i = 0, j = 0, k = 0;

    CHECK(m != NULL);
    if (m == NULL)
        return;
    while (i < *nall || j < nadd) {
        if (j == nadd || (i < *nall && (*all)[i] < add[j]))
            m[k++] = (*all)[i++];
        else
            m[k++] = add[j++];
    }
    free(*all);
    *all = m;
    *nall = k;
}

/* The matcher, fed the stored rows BATCH at a time. */
static void test_matcher(struct tb_store *s)
{
    static const char sql[] =
        "SELECT id, title, text, authors, categories FROM entries ORDER BY id";
    struct tb__matcher *m = NULL;
    int64_t *all[NGOLDEN] = {0}, *ids;
    size_t nall[NGOLDEN] = {0}, n, i, total = 0;
    const char *col[TB__FTS_NCOLS];
    struct tb_db_stmt *st = NULL;
    int c, more = 1, end = 0;

    CHECK_OK(tb__matcher_new(&m, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_db_prepare(tb_store_sql(s), sql, &st, errbuf, sizeof(errbuf)));
    while (m != NULL && more) {
        more = 0;
        while (!end && tb__matcher_count(m) < BATCH) {
            if (tb_db_step(st, errbuf, sizeof(errbuf)) != TB_DB_ROW) {
                end = 1; /* stepping on would start the scan over */
                break;
            }
            for (c = 0; c < TB__FTS_NCOLS; c++)
                col[c] = tb_db_column_text(st, 1 + c);
            CHECK_OK(tb__matcher_add(m, tb_db_column_int64(st, 0), col, errbuf, sizeof(errbuf)));
            more = 1;
        }
        total += tb__matcher_count(m);
        for (i = 0; i < NGOLDEN && more; i++) {
            CHECK_OK(tb__matcher_match(m, golden[i].query, &ids, &n, errbuf, sizeof(errbuf)));
            merge_ids(&all[i], &nall[i], ids, n);
            free(ids);
        }
        CHECK_OK(tb__matcher_clear(m, errbuf, sizeof(errbuf)));
        CHECK_EQ(tb__matcher_count(m), 0);
    }
    tb_db_finalize(st);
    CHECK_EQ(total, 36);
    for (i = 0; i < NGOLDEN; i++) {
        CHECK_STR(keys_of(all[i], nall[i]), golden[i].expect);
        free(all[i]);
    }
    tb__matcher_free(m);
}

/* Queries that do not compile: the same code and message from the store's
 * index and from the matcher, empty or not. */
static void test_errors(struct tb_store *s)
{
    static const char *const none[TB__FTS_NCOLS] = {"a title", NULL, NULL, NULL};
    char want[512];
    struct tb__matcher *m = NULL;
    int64_t *ids = (int64_t *)&errbuf;
    size_t i, n = 99;
    int round, rc;

    CHECK_OK(tb__matcher_new(&m, errbuf, sizeof(errbuf)));
    for (round = 0; m != NULL && round < 2; round++) {
        if (round == 1)
            CHECK_OK(tb__matcher_add(m, 1, none, errbuf, sizeof(errbuf)));
        for (i = 0; i < NBAD; i++) {
            CHECK_EQ(tb_topic_check(s, bad[i], want, sizeof(want)), TB_EQUERY);
            CHECK(want[0] != '\0');
            errbuf[0] = '\0';
            CHECK_EQ(tb__matcher_check(m, bad[i], errbuf, sizeof(errbuf)), TB_EQUERY);
            CHECK_STR(errbuf, want);
            errbuf[0] = '\0';
            rc = tb__matcher_match(m, bad[i], &ids, &n, errbuf, sizeof(errbuf));
            CHECK_EQ(rc, TB_EQUERY);
            CHECK(ids == NULL && n == 0);
            CHECK_STR(errbuf, want);
        }
        CHECK_OK(tb__matcher_check(m, NULL, errbuf, sizeof(errbuf)));
        CHECK_OK(tb__matcher_check(m, "", errbuf, sizeof(errbuf)));
        CHECK_OK(tb__matcher_check(m, "zzzznothing OR title:x", errbuf, sizeof(errbuf)));
    }
    /* The batch survives a failed query. */
    CHECK_OK(tb__matcher_match(m, "title", &ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 1);
    free(ids);
    CHECK_OK(tb__matcher_match(m, "", &ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 1);
    free(ids);
    tb__matcher_free(m);
}

/* The topic's entries through memberships: on SQLite when asked, on
 * PostgreSQL always. Each golden query is new to the database, so its
 * first selection backfills it through the matcher, BATCH entries per
 * transaction; the second reads the memberships only. */
static void test_members(struct tb_store *s)
{
    int64_t *ids = NULL, v = 0;
    size_t i, n = 0;

    CHECK_OK(tb__topic_use_members(s, 1));
    tb__topic_batch = BATCH;
    for (i = 0; i < NGOLDEN; i++) {
        CHECK_OK(tb_topic_select(s, golden[i].query, 0, &ids, &n, errbuf, sizeof(errbuf)));
        CHECK_STR(keys_of(ids, n), golden[i].expect);
        free(ids);
        CHECK_OK(tb_topic_select(s, golden[i].query, 0, &ids, &n, errbuf, sizeof(errbuf)));
        CHECK_STR(keys_of(ids, n), golden[i].expect);
        free(ids);
    }
    CHECK_OK(tb_db_scalar(tb_store_sql(s), &v, errbuf, sizeof(errbuf),
                          "SELECT count(*) FROM topic_queries WHERE complete != 0 AND done = ?1",
                          "i", (int64_t)36));
    CHECK_EQ(v, (int64_t)NGOLDEN);
    /* Bad queries are refused before they are registered. */
    for (i = 0; i < NBAD; i++)
        CHECK_EQ(tb_topic_select(s, bad[i], 0, &ids, &n, errbuf, sizeof(errbuf)), TB_EQUERY);
    CHECK_OK(tb_db_scalar(tb_store_sql(s), &v, errbuf, sizeof(errbuf),
                          "SELECT count(*) FROM topic_queries", ""));
    CHECK_EQ(v, (int64_t)NGOLDEN);
    tb__topic_batch = 500;
}

/* Keys of one query's selection, through memberships and (SQLite) the FTS5
 * index, which must agree. */
static const char *both(struct tb_store *s, const char *query)
{
    static char out[NENTRIES * 4 + 8];
    int64_t *ids = NULL;
    size_t n = 0;

    CHECK_OK(tb__topic_use_members(s, 1));
    CHECK_OK(tb_topic_select(s, query, 0, &ids, &n, errbuf, sizeof(errbuf)));
    snprintf(out, sizeof(out), "%s", keys_of(ids, n));
    free(ids);
    if (!st_is_pg()) {
        CHECK_OK(tb__topic_use_members(s, 0));
        CHECK_OK(tb_topic_select(s, query, 0, &ids, &n, errbuf, sizeof(errbuf)));
        CHECK_STR(keys_of(ids, n), out);
        free(ids);
        CHECK_OK(tb__topic_use_members(s, 1));
    }
    return out;
}

/* Entries stored after the queries are known: a new entry is matched by
 * its put, a rewritten one loses the memberships its old text had and
 * gains its new text's, in a batch (tb_store_begin) as alone. */
static void test_updates(struct tb_store *s)
{
    struct tb_feed *f = tb_feed_new(), *g = tb_feed_new();
    int64_t src = 0, *ids = NULL;
    size_t n = 0, i;
    struct tb_feed *got = NULL;
    struct tb_entry *e;

    CHECK_OK(tb__topic_use_members(s, 1));
    CHECK_STR(both(s, "title:^autoregressive"), "p03");
    CHECK_OK(tb_store_source(s, "golden", NULL, &src, errbuf, sizeof(errbuf)));
    add(f, "p03", "Entity Retrieval, revisited", "Generative retrieval of entities.", 1003);
    add(f, "u4", "Autoregressive walrus", "Left to right.", 2004);
    CHECK_OK(tb_store_put_feed(s, src, f, 70, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    /* The new entry's key, from the store. */
    CHECK_OK(tb_topic_select(s, "title:walrus", 0, &ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 1);
    CHECK_OK(tb_store_load(s, ids, n, &got, errbuf, sizeof(errbuf)));
    e = got != NULL ? got->entries : NULL;
    CHECK(e != NULL && n == 1 && ids[0] > 0 && ids[0] < (int64_t)(sizeof(keys) / sizeof(keys[0])));
    if (e != NULL && n == 1 && ids[0] > 0 && ids[0] < (int64_t)(sizeof(keys) / sizeof(keys[0])))
        snprintf(keys[ids[0]], sizeof(keys[0]), "%s", e->key);
    tb_feed_free(got);
    free(ids);
    CHECK_STR(both(s, "title:^autoregressive"), "u4");
    CHECK_STR(both(s, "title:revisited"), "p03");
    CHECK_STR(both(s, "\"entity linking\""), "p01 p10 p28 p33");
    /* In a batch: p03 back to linking, u4 rewritten away. */
    add(g, "p03", "Autoregressive Entity Retrieval", "Entity linking, again.", 1003);
    add(g, "u4", "Greedy walrus", "Left to right.", 2004);
    CHECK_OK(tb_store_begin(s, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_put_feed(s, src, g, 80, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_commit(s, errbuf, sizeof(errbuf)));
    CHECK_STR(both(s, "title:^autoregressive"), "p03");
    CHECK_STR(both(s, "title:revisited"), "");
    CHECK_STR(both(s, "\"entity linking\""), "p01 p03 p10 p28 p33");
    CHECK_STR(both(s, "walrus"), "u4");
    /* A query new to the database sees all of it. */
    CHECK_STR(both(s, "greedy OR revisited OR linking"), "p01 p03 p10 p28 p33 u4");
    /* Every golden query, through memberships kept up to date by the puts
     * and through the index (both() compares them on SQLite). */
    for (i = 0; i < NGOLDEN; i++)
        (void)both(s, golden[i].query);
    CHECK_STR(both(s, "\"fine-grained\""), "p01 p02 p04 p05 p06 p28 p29");
    tb_feed_free(f);
    tb_feed_free(g);
}

/* A query registered while another connection's put is between reading
 * the known queries and committing: the registration waits for that commit
 * (PostgreSQL: the advisory lock; SQLite: the write lock), so its backfill
 * sees the put's entries, which the put itself did not match. Without the
 * wait they would never be members. */
struct racer {
    struct tb_store *s;
    const char *query;
    size_t n;
    int rc;
    volatile int done;
};

static void *register_thread(void *arg)
{
    struct racer *r = arg;
    char err[512];
    int64_t *ids = NULL;

    r->rc = tb_topic_select(r->s, r->query, 0, &ids, &r->n, err, sizeof(err));
    free(ids);
    r->done = 1;
    return NULL;
}

static void test_race(void)
{
    struct tb_store *a = NULL, *b = NULL;
    struct tb_feed *f = tb_feed_new();
    struct racer r = {.query = "zebra"};
    int64_t src = 0;
    pthread_t t;
    int i;

    CHECK_OK(tb_store_open(&a, dbpath, 0, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_open(&b, dbpath, 0, errbuf, sizeof(errbuf)));
    if (a == NULL || b == NULL)
        goto out;
    CHECK_OK(tb__topic_use_members(a, 1));
    CHECK_OK(tb__topic_use_members(b, 1));
    CHECK_OK(tb_store_source(b, "racer", NULL, &src, errbuf, sizeof(errbuf)));
    add(f, "z1", "Zebra crossings", "Stripes.", 3001);
    add(f, "z2", "Zebra finches", "Song.", 3002);
    CHECK_OK(tb_store_begin(b, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_put_feed(b, src, f, 90, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    /* The commit's first half: "zebra" is not known yet, nothing matched. */
    CHECK_OK(tb__store_index_all(b, errbuf, sizeof(errbuf)));
    r.s = a;
    CHECK_EQ(pthread_create(&t, NULL, register_thread, &r), 0);
    for (i = 0; i < 30 && !r.done; i++)
        usleep(10000);
    CHECK(!r.done); /* waiting for b */
    CHECK_OK(tb_store_commit(b, errbuf, sizeof(errbuf)));
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_OK(r.rc);
    CHECK_EQ(r.n, 2);
out:
    tb_store_close(a);
    tb_store_close(b);
    tb_feed_free(f);
}

int main(void)
{
    struct tb_store *s;
    char cmd[128];

    if (!st_ready())
        return 77;
    snprintf(dir, sizeof(dir), "/tmp/tb_matcher_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    s = open_store();
    test_store_fts(s); /* on PostgreSQL: through memberships */
    test_matcher(s);
    test_errors(s);
    test_members(s);
    test_updates(s);
    tb_store_close(s);
    test_race();
    st_report();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
    CHECK_DONE();
}
