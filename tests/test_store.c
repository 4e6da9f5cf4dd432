/* Tests for tb_store: migrations, dedupe, out_id, updates, load round trip, bulk speed. */
#include "tb_db.h"
#include "tb_store.h"
#include "tb_topic.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define S(f, x) tb_arena_strdup(&(f)->arena, (x))

static char dir[64];
static int is_tag(const char *s);
static char errbuf[512];

/* Database `name` of this test: a file in dir, or a PostgreSQL database (storetest.h). */
static const char *path(const char *name)
{
    return st_target(dir, name);
}

/* A file in dir (SQLite-only cases). */
static const char *file(const char *name)
{
    static char p[128];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return p;
}

/* Checks that mean nothing on PostgreSQL (its FTS5 index, topic queries:
 * the matcher's, issue 13 item 2), counted and reported by name. */
static int pg_left_out;

static int left_out_on_pg(void)
{
    if (st_is_pg())
        pg_left_out++;
    return st_is_pg();
}

#define CHECK_MATCHES(s, query, n)                                                                 \
    do {                                                                                           \
        if (!left_out_on_pg())                                                                     \
            CHECK_EQ(count_matches((s), (query)), (n));                                            \
    } while (0)

#define CHECK_FTS(s)                                                                               \
    do {                                                                                           \
        if (!left_out_on_pg())                                                                     \
            CHECK(fts_ok(s));                                                                      \
    } while (0)

static void rm_db(const char *name)
{
    char p[160];

    st_drop(name);
    snprintf(p, sizeof(p), "%s", file(name));
    unlink(p);
    snprintf(p, sizeof(p), "%s-wal", file(name));
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", file(name));
    unlink(p);
}

static struct tb_store *open_db(const char *name, int flags)
{
    struct tb_store *s = NULL;
    int rc = tb_store_open(&s, path(name), flags, errbuf, sizeof(errbuf));

    if (rc != 0)
        fprintf(stderr, "open %s: %s\n", name, errbuf);
    CHECK_OK(rc);
    return s;
}

/* First column of the first row of sql (with ?1 = arg when it has one), as an integer. */
static long long q_int(struct tb_store *s, const char *sql, long long arg)
{
    struct tb_db_stmt *st = NULL;
    long long v = -1;

    CHECK_OK(tb_db_prepare(tb_store_sql(s), sql, &st, errbuf, sizeof(errbuf)));
    if (strstr(sql, "?1") != NULL)
        (void)tb_db_bind_int64(st, 1, arg);
    if (st != NULL && tb_db_step(st, errbuf, sizeof(errbuf)) == TB_DB_ROW)
        v = tb_db_column_int64(st, 0);
    tb_db_finalize(st);
    return v;
}

/* The same, as text copied into a static buffer ("" without a row). */
static const char *q_text(struct tb_store *s, const char *sql, long long arg)
{
    static char buf[512];
    struct tb_db_stmt *st = NULL;

    buf[0] = '\0';
    CHECK_OK(tb_db_prepare(tb_store_sql(s), sql, &st, errbuf, sizeof(errbuf)));
    if (strstr(sql, "?1") != NULL)
        (void)tb_db_bind_int64(st, 1, arg);
    if (st != NULL && tb_db_step(st, errbuf, sizeof(errbuf)) == TB_DB_ROW &&
        tb_db_column_text(st, 0) != NULL)
        snprintf(buf, sizeof(buf), "%s", tb_db_column_text(st, 0));
    tb_db_finalize(st);
    return buf;
}

static int64_t source(struct tb_store *s, const char *name)
{
    int64_t id = 0;

    CHECK_OK(tb_store_source(s, name, "https://example.org/feed", &id, errbuf, sizeof(errbuf)));
    CHECK(id > 0);
    return id;
}

static struct tb_entry *add(struct tb_feed *f, const char *key, const char *id, const char *title)
{
    struct tb_entry *e = tb_entry_new(f);

    e->key = S(f, key);
    e->id = S(f, id);
    e->title = S(f, title);
    e->text = S(f, title);
    tb_feed_append(f, e);
    return e;
}

static struct tb_store_stats put(struct tb_store *s, int64_t src, struct tb_feed *f, int64_t now)
{
    struct tb_store_stats st = {99, 99, 99, 99};
    int rc = tb_store_put_feed(s, src, f, now, &st, NULL, NULL, errbuf, sizeof(errbuf));

    if (rc != 0)
        fprintf(stderr, "put: %s\n", errbuf);
    CHECK_OK(rc);
    return st;
}

static size_t count_matches(struct tb_store *s, const char *query)
{
    int64_t *ids = NULL;
    size_t n = 0;

    CHECK_OK(tb_topic_select(s, query, 0, &ids, &n, errbuf, sizeof(errbuf)));
    free(ids);
    return n;
}

/* Whether every row's references hold (the store does not enforce them). */
static int fk_ok(struct tb_store *s)
{
    /* PostgreSQL's tables declare no foreign keys (store.c): the same
     * references, looked for. */
    static const char pg_dangling[] =
        "SELECT (SELECT count(*) FROM entries e WHERE NOT EXISTS"
        "  (SELECT 1 FROM sources s WHERE s.id = e.origin))"
        " + (SELECT count(*) FROM entry_keys k WHERE NOT EXISTS"
        "  (SELECT 1 FROM sources s WHERE s.id = k.source_id) OR NOT EXISTS"
        "  (SELECT 1 FROM entries e WHERE e.id = k.entry_id))"
        " + (SELECT count(*) FROM entry_sources x WHERE NOT EXISTS"
        "  (SELECT 1 FROM sources s WHERE s.id = x.source_id) OR NOT EXISTS"
        "  (SELECT 1 FROM entries e WHERE e.id = x.entry_id))"
        " + (SELECT count(*) FROM mentions m WHERE NOT EXISTS"
        "  (SELECT 1 FROM sources s WHERE s.id = m.source_id) OR NOT EXISTS"
        "  (SELECT 1 FROM entries e WHERE e.id = m.entry_id))"
        " + (SELECT count(*) FROM sub_topics t WHERE NOT EXISTS"
        "  (SELECT 1 FROM subscriptions b WHERE b.id = t.sub))"
        " + (SELECT count(*) FROM outbox o WHERE NOT EXISTS"
        "  (SELECT 1 FROM subscriptions b WHERE b.id = o.sub))"
        " + (SELECT count(*) FROM push_subs p WHERE NOT EXISTS"
        "  (SELECT 1 FROM sources s WHERE s.id = p.source_id))";

    if (st_is_pg())
        return q_int(s, pg_dangling, 0) == 0;
    return q_int(s, "SELECT count(*) FROM pragma_foreign_key_check", 0) == 0;
}

/* Whether the FTS index holds what tokenizing the entries table gives:
 * without rank 1, integrity-check leaves an external content table's text
 * unread (SQLite 3.40). */
static int fts_ok(struct tb_store *s)
{
    return sqlite3_exec(tb_store_db(s),
                        "INSERT INTO entries_fts(entries_fts, rank) VALUES('integrity-check', 1)",
                        NULL, NULL, NULL) == SQLITE_OK;
}

/* A version-3 database (migrations 4, 5, 7, 8 and 9 not applied: the
 * rewrite trigger still there, FTS5 automerge at its default,
 * sources.enabled, no entries.content_type, no mentions) with an entry is
 * migrated on open, keeps its data and index, and takes new entries. */
static void test_migrate_v3(void)
{
    static const char downgrade[] =
        "CREATE TRIGGER entries_au AFTER UPDATE OF title, text, authors, categories ON entries"
        " BEGIN INSERT INTO entries_fts(entries_fts, rowid, title, text, authors, categories)"
        " VALUES('delete', old.id, old.title, old.text, old.authors, old.categories);"
        " INSERT INTO entries_fts(rowid, title, text, authors, categories)"
        " VALUES(new.id, new.title, new.text, new.authors, new.categories); END;"
        "DELETE FROM entries_fts_config WHERE k = 'automerge';"
        "DROP INDEX sources_due;"
        "ALTER TABLE sources DROP COLUMN lease_node;"
        "ALTER TABLE sources DROP COLUMN lease_until;"
        "ALTER TABLE sources DROP COLUMN lease_token;"
        "ALTER TABLE sources DROP COLUMN polled_node;"
        "ALTER TABLE sources DROP COLUMN polled_at;"
        "ALTER TABLE sources DROP COLUMN active;"
        "ALTER TABLE sources ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;"
        "ALTER TABLE sources DROP COLUMN gone;"
        "ALTER TABLE entries DROP COLUMN content_type;"
        "DROP TABLE mentions;"
        "DROP TABLE arxiv_resolve;"
        "ALTER TABLE sources DROP COLUMN arxiv_record;"
        "ALTER TABLE sources DROP COLUMN weight;"
        "ALTER TABLE sources DROP COLUMN grp;"
        "ALTER TABLE entry_sources DROP COLUMN link;"
        "DROP TABLE subscriptions;"
        "DROP TABLE sub_topics;"
        "DROP TABLE sub_confirms;"
        "DROP TABLE outbox;"
        "DROP TABLE mail_totals;"
        "DROP TABLE archive;"
        "DROP TABLE archive_feeds;"
        "DROP TABLE websub_subs;"
        "DROP TABLE websub_docs;"
        "DROP TABLE push_subs;"
        "DROP TABLE topic_queries;"
        "DROP TABLE topic_members;"
        "DROP TABLE jobs;"
        "DROP TABLE changes;"
        "DROP TABLE trending_at;"
        "DROP TABLE doc_versions;"
        "PRAGMA user_version=3;";
    struct tb_store *s = open_db("v3.db", 0);
    struct tb_feed *f = tb_feed_new(), *g = tb_feed_new();
    int64_t a = source(s, "a");

    add(f, "old", NULL, "Stored by version three about walruses");
    put(s, a, f, 1);
    CHECK_EQ(sqlite3_exec(tb_store_db(s), downgrade, NULL, NULL, NULL), SQLITE_OK);
    tb_store_close(s);
    s = open_db("v3.db", 0);
    CHECK_EQ(q_int(s, "PRAGMA user_version", 0), 22);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM sqlite_master WHERE name = 'entries_au'", 0), 0);
    CHECK_EQ(q_int(s, "SELECT v FROM entries_fts_config WHERE k = 'automerge'", 0), 16);
    CHECK_MATCHES(s, "walruses", 1);
    add(g, "new", NULL, "Stored by version five about narwhals");
    CHECK_EQ(put(s, a, g, 2).added, 1);
    CHECK_MATCHES(s, "narwhals OR walruses", 2);
    CHECK_FTS(s);
    CHECK(fk_ok(s));
    tb_feed_free(f);
    tb_feed_free(g);
    tb_store_close(s);
    rm_db("v3.db");
}

/* Copies tests/fixtures/store-v5.db (made by `tributary merge --db` of
 * session 3's build from the three feeds of fixtures/merge: 5 entries, 3
 * sources, schema version 5, with out_id UNIQUE and the text indexes) to
 * name, so that migrating it leaves the fixture alone. */
static void copy_fixture(const char *name)
{
    char src[512];
    FILE *in, *out;
    char buf[8192];
    size_t n;

    snprintf(src, sizeof(src), "%s/store-v5.db",
             getenv("TB_FIXTURES") ? getenv("TB_FIXTURES") : "fixtures");
    in = fopen(src, "rb");
    out = fopen(file(name), "wb");
    CHECK(in != NULL && out != NULL);
    while (in != NULL && out != NULL && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        CHECK_EQ(fwrite(buf, 1, n, out), n);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

/* A version-5 database made by the previous build gets migration 6 (the
 * sort index without out_id), keeps its rowids, out_ids, FTS index and
 * keys, and takes new entries with the same dedupe rules: by key, by
 * canonical link across sources, and a taken upstream id gives a tag. */
static void test_migrate_v5(void)
{
    struct tb_store *s;
    struct tb_feed *f = tb_feed_new(), *g = tb_feed_new();
    struct tb_store_stats st;
    int64_t blog;

    copy_fixture("v5.db");
    s = open_db("v5.db", 0);
    CHECK_EQ(q_int(s, "PRAGMA user_version", 0), 22);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM entries", 0), 5);
    /* Copies stored before migration 11 have no own link (NULL). */
    CHECK_EQ(q_int(s, "SELECT count(*) FROM entry_sources WHERE link IS NULL", 0),
             q_int(s, "SELECT count(*) FROM entry_sources", 0));
    CHECK_STR(q_text(s, "SELECT sql FROM sqlite_master WHERE name = 'entries_sort'", 0),
              "CREATE INDEX entries_sort ON entries(sort_time DESC)");
    CHECK_STR(q_text(s, "SELECT out_id FROM entries WHERE id = ?1", 4),
              "http://example.org:80/papers/titans?fbclid=IwAR0abc");
    CHECK_EQ(
        q_int(s, "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_autoindex_entries_1'", 0),
        1);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM sqlite_master WHERE name = 'entries_ad'", 0), 1);
    CHECK_MATCHES(s, "titans", 1);
    CHECK_STR(q_text(s, "PRAGMA integrity_check", 0), "ok");
    CHECK_FTS(s);
    CHECK(fk_ok(s));
    /* Migration 9: what the stored copies carry is recorded, one row per
     * source and copy that has an identity, none after its first sight. */
    CHECK(q_int(s, "SELECT count(*) FROM mentions", 0) > 0);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM mentions", 0),
             q_int(s,
                   "SELECT count(*) FROM entry_sources es JOIN entries e ON e.id = es.entry_id"
                   " WHERE coalesce(e.arxiv_id, e.doi, e.canon_link) IS NOT NULL",
                   0));
    CHECK_EQ(q_int(s,
                   "SELECT count(*) FROM mentions m JOIN entry_sources es ON es.entry_id ="
                   " m.entry_id AND es.source_id = m.source_id WHERE m.carries = 1 AND m.at <="
                   " es.first_seen",
                   0),
             q_int(s, "SELECT count(*) FROM mentions", 0));
    blog = q_int(s, "SELECT id FROM sources WHERE name LIKE '%blog.rdf'", 0);
    /* The blog's entry by its own key; another source's copy by canonical link. */
    add(f, "id:http://example.org:80/papers/titans?fbclid=IwAR0abc", NULL, "Titans again");
    st = put(s, blog, f, 100);
    CHECK_EQ(st.added, 0);
    add(g, "k1", NULL, "Titans elsewhere")->canon_link = "https://example.org/papers/titans";
    add(g, "k2", "http://lab.example.net/blog/mmlinking", "Taken upstream id, new paper");
    add(g, "k3", "https://new.example/1", "Free upstream id about quokkas");
    st = put(s, source(s, "new"), g, 100);
    CHECK_EQ(st.added, 2);
    CHECK_EQ(st.unchanged, 1);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM entry_sources WHERE entry_id = ?1", 4), 3);
    CHECK(is_tag(q_text(s, "SELECT out_id FROM entries WHERE id = ?1", 6)));
    CHECK_STR(q_text(s, "SELECT out_id FROM entries WHERE id = ?1", 7), "https://new.example/1");
    CHECK_MATCHES(s, "quokkas OR titans", 2);
    CHECK_EQ(q_int(s, "SELECT count(DISTINCT out_id) FROM entries", 0), 7);
    CHECK_STR(q_text(s, "PRAGMA integrity_check", 0), "ok");
    CHECK_FTS(s);
    CHECK(fk_ok(s));
    tb_feed_free(f);
    tb_feed_free(g);
    tb_store_close(s);
    rm_db("v5.db");
}

/* Migration 7: a source the store had marked not enabled (a 410 Gone
 * before version 7) is gone; the others are not, and the old column is no
 * more (the config's `enabled` is another thing). */
static void test_migrate_gone(void)
{
    struct tb_store *s;
    sqlite3 *raw = NULL;
    int64_t blog;

    copy_fixture("v5g.db");
    CHECK_EQ(sqlite3_open(file("v5g.db"), &raw), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(raw, "UPDATE sources SET enabled = 0 WHERE name LIKE '%blog.rdf'", NULL,
                          NULL, NULL),
             SQLITE_OK);
    CHECK_EQ(sqlite3_changes(raw), 1);
    sqlite3_close(raw);
    s = open_db("v5g.db", 0);
    CHECK_EQ(q_int(s, "PRAGMA user_version", 0), 22);
    blog = q_int(s, "SELECT id FROM sources WHERE name LIKE '%blog.rdf'", 0);
    CHECK(blog > 0);
    CHECK_EQ(q_int(s, "SELECT gone FROM sources WHERE id = ?1", blog), 1);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM sources WHERE gone = 0", 0), 2);
    CHECK_EQ(
        q_int(s, "SELECT count(*) FROM pragma_table_info('sources') WHERE name = 'enabled'", 0), 0);
    CHECK_STR(q_text(s, "PRAGMA integrity_check", 0), "ok");
    tb_store_close(s);
    rm_db("v5g.db");
}

/* One node opening the store at the same time as the others (test_pg_schema). */
static void *open_at_once(void *arg)
{
    const char *target = arg;
    struct tb_store *s = NULL;
    char err[512];
    int rc = tb_store_open(&s, target, 0, err, sizeof(err));

    if (rc != 0)
        fprintf(stderr, "concurrent open: %s\n", err);
    tb_store_close(s);
    return (void *)(intptr_t)rc;
}

/* PostgreSQL's schema: its tables, constraints and indexes at version 22
 * in tb_schema; no migration on reopen; a newer version refused; nodes
 * starting at once on a new database (the advisory lock); a server that
 * cannot be reached, or a password in the URI, refused clearly. */
static void test_pg_schema(void)
{
    static const char *const tables = "('sources', 'entries', 'entry_keys', 'entry_sources',"
                                      " 'mentions', 'arxiv_resolve', 'subscriptions', 'sub_topics',"
                                      " 'sub_confirms', 'outbox', 'mail_totals', 'archive',"
                                      " 'archive_feeds', 'websub_subs', 'websub_docs', 'push_subs',"
                                      " 'topic_queries', 'topic_members', 'jobs', 'changes',"
                                      " 'trending_at', 'doc_versions',"
                                      " 'tb_schema')";
    char sql[512], target[1024], bad[1200];
    struct tb_store *s = open_db("pg.db", 0);
    pthread_t t[4];
    void *res;
    int i, rc;

    if (s == NULL)
        return;
    CHECK_EQ(q_int(s, "SELECT version FROM tb_schema", 0), 22);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
             " AND table_name IN %s",
             tables);
    CHECK_EQ(q_int(s, sql, 0), 23);
    /* The unique constraints dedupe and upserts rely on, and the indexes. */
    CHECK_EQ(q_int(s,
                   "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname IN"
                   " ('entries_out_id_key', 'sources_name_key', 'entry_keys_pkey',"
                   " 'entry_sources_pkey', 'mentions_pkey', 'arxiv_resolve_pkey',"
                   " 'subscriptions_addr_key', 'outbox_message_id_key',"
                   " 'websub_subs_topic_callback_key', 'push_subs_id_key', 'entries_canon_link',"
                   " 'entries_arxiv_id', 'entries_doi', 'entries_sort', 'entry_keys_entry',"
                   " 'entry_sources_source', 'mentions_at', 'arxiv_resolve_open',"
                   " 'arxiv_resolve_retry', 'outbox_queue', 'outbox_sub', 'outbox_done',"
                   " 'archive_page', 'websub_subs_expires')",
                   0),
             24);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM mail_totals", 0), 2);
    CHECK_EQ(q_int(s,
                   "SELECT count(*) FROM information_schema.columns WHERE table_name = 'entries'"
                   " AND column_name = 'id' AND data_type = 'bigint' AND is_identity = 'YES'",
                   0),
             1);
    source(s, "kept");
    tb_store_close(s);
    /* Reopened: nothing migrates again, the data stays. */
    s = open_db("pg.db", 0);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM tb_schema", 0), 1);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM sources WHERE name = 'kept'", 0), 1);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM mail_totals", 0), 2);
    CHECK(fk_ok(s));
    CHECK_OK(
        tb_db_exec(tb_store_sql(s), "UPDATE tb_schema SET version = 99", errbuf, sizeof(errbuf)));
    tb_store_close(s);
    s = (struct tb_store *)&rc;
    CHECK_EQ(tb_store_open(&s, path("pg.db"), 0, errbuf, sizeof(errbuf)), TB_ESTORE);
    CHECK(s == NULL);
    CHECK(strstr(errbuf, "newer") != NULL);
    rm_db("pg.db");

    /* Four nodes starting at once on a new database: each opens it. */
    snprintf(target, sizeof(target), "%s", path("race.db"));
    for (i = 0; i < 4; i++)
        CHECK_OK(pthread_create(&t[i], NULL, open_at_once, target));
    for (i = 0; i < 4; i++) {
        res = NULL;
        CHECK_OK(pthread_join(t[i], &res));
        CHECK_EQ((intptr_t)res, 0);
    }
    s = open_db("race.db", 0);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM tb_schema", 0), 1);
    CHECK_EQ(q_int(s, "SELECT version FROM tb_schema", 0), 22);
    tb_store_close(s);
    rm_db("race.db");

    /* No server on that socket directory: said so, with where. */
    snprintf(bad, sizeof(bad), "postgresql://tb@/postgres?host=%s/nowhere", dir);
    s = (struct tb_store *)&rc;
    CHECK_EQ(tb_store_open(&s, bad, 0, errbuf, sizeof(errbuf)), TB_EDB_LOST);
    CHECK(s == NULL);
    CHECK(strstr(errbuf, "cannot open the PostgreSQL database") != NULL);
    CHECK(strstr(errbuf, "nowhere") != NULL);
    CHECK(strchr(errbuf, '\n') == NULL);
    /* Nothing listening on a loopback port. */
    CHECK_EQ(tb_store_open(&s, "postgres://tb@127.0.0.1:1/postgres?connect_timeout=5", 0, errbuf,
                           sizeof(errbuf)),
             TB_EDB_LOST);
    CHECK(strstr(errbuf, "127.0.0.1") != NULL);
    /* A password belongs in ~/.pgpass (or PGPASSFILE), not the config. */
    CHECK_EQ(
        tb_store_open(&s, "postgresql://tb:secret@127.0.0.1:1/postgres", 0, errbuf, sizeof(errbuf)),
        -EINVAL);
    CHECK(strstr(errbuf, "pgpass") != NULL);
    CHECK(strstr(errbuf, "secret") == NULL);
}

static void test_migrations(void)
{
    struct tb_store *s = open_db("m.db", 0);
    sqlite3 *raw = NULL;
    FILE *fp;
    int rc;

    CHECK_EQ(q_int(s, "PRAGMA user_version", 0), 22);
    CHECK_EQ(q_int(s,
                   "SELECT count(*) FROM sqlite_master WHERE name IN ('entries_ai', 'entries_au')",
                   0),
             0);
    CHECK_STR(q_text(s, "PRAGMA journal_mode", 0), "wal");
    CHECK_EQ(q_int(s, "PRAGMA wal_autocheckpoint", 0), 5120); /* 40 MB */
    CHECK_EQ(q_int(s, "PRAGMA page_size", 0), 8192);
    CHECK_EQ(q_int(s, "SELECT v FROM entries_fts_config WHERE k = 'automerge'", 0), 16);
    CHECK_EQ(q_int(s, "PRAGMA foreign_keys", 0), 0); /* checked by fk_ok() instead */
    CHECK_EQ(q_int(s,
                   "SELECT count(*) FROM sqlite_master WHERE name IN ('sources', 'entries',"
                   " 'entry_keys', 'entry_sources', 'entries_fts', 'entries_canon_link',"
                   " 'entries_arxiv_id', 'entries_doi', 'entries_sort')",
                   0),
             9);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM sqlite_master WHERE tbl_name = 'entries'", 0), 7);
    CHECK_EQ(q_int(s,
                   "SELECT count(*) FROM pragma_table_info('entries') WHERE name = 'content_type'",
                   0),
             1);
    /* Not enforced, but fk_ok() sees a dangling reference. */
    CHECK_EQ(sqlite3_exec(tb_store_db(s), "INSERT INTO entry_keys VALUES(999, 'x', 999)", NULL,
                          NULL, NULL),
             SQLITE_OK);
    CHECK(!fk_ok(s));
    CHECK_EQ(sqlite3_exec(tb_store_db(s), "DELETE FROM entry_keys", NULL, NULL, NULL), SQLITE_OK);
    source(s, "kept");
    CHECK(fk_ok(s));
    tb_store_close(s);

    /* Re-open: no migration runs again, data is still there. */
    s = open_db("m.db", 0);
    CHECK_EQ(q_int(s, "PRAGMA user_version", 0), 22);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM sources WHERE name = 'kept'", 0), 1);
    CHECK(fk_ok(s));
    tb_store_close(s);

    /* A database from a newer tributary is refused with a clear message. */
    CHECK_EQ(sqlite3_open(file("m.db"), &raw), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(raw, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    s = (struct tb_store *)&rc;
    CHECK_EQ(tb_store_open(&s, file("m.db"), 0, errbuf, sizeof(errbuf)), TB_ESTORE);
    CHECK(s == NULL);
    CHECK(strstr(errbuf, "newer") != NULL);

    /* Not a database at all, and a path that cannot be created. */
    fp = fopen(file("junk.db"), "w");
    CHECK(fp != NULL);
    for (rc = 0; fp && rc < 64; rc++)
        fputs("this is not an SQLite database, just text. ", fp);
    if (fp)
        fclose(fp);
    CHECK_EQ(tb_store_open(&s, file("junk.db"), 0, errbuf, sizeof(errbuf)), TB_ESTORE);
    CHECK(strstr(errbuf, "not a database") != NULL);
    CHECK_EQ(tb_store_open(&s, file("no/such/dir.db"), 0, errbuf, sizeof(errbuf)), TB_ESTORE);
    rm_db("m.db");
    rm_db("junk.db");
}

static void test_sources(void)
{
    struct tb_store *s = open_db("src.db", 0);
    int64_t a = 0, b = 0, c = 0;

    CHECK_OK(tb_store_source(s, "arxiv", "https://a.example/1", &a, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_source(s, "arxiv", "https://a.example/2", &b, errbuf, sizeof(errbuf)));
    CHECK_EQ(a, b);
    CHECK_STR(q_text(s, "SELECT url FROM sources WHERE id = ?1", a), "https://a.example/2");
    CHECK_OK(tb_store_source(s, "arxiv", NULL, &b, errbuf, sizeof(errbuf)));
    CHECK_STR(q_text(s, "SELECT url FROM sources WHERE id = ?1", a), "https://a.example/2");
    CHECK_OK(tb_store_source(s, "blog", NULL, &c, errbuf, sizeof(errbuf)));
    CHECK(c != a && c > 0);
    CHECK_EQ(tb_store_source(s, NULL, "x", &c, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("src.db");
}

static void test_within_source(void)
{
    struct tb_store *s = open_db("w.db", 0);
    int64_t src = source(s, "a");
    struct tb_feed *f = tb_feed_new();
    struct tb_store_stats st;
    int64_t *ids = NULL;
    size_t n = 0;

    add(f, "k1", "https://ex.org/1", "One");
    add(f, "k2", "https://ex.org/2", "Two");
    add(f, "k3", NULL, "Three");
    CHECK_OK(tb_store_put_feed(s, src, f, 100, &st, &ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(st.added, 3);
    CHECK_EQ(st.unchanged, 0);
    CHECK_EQ(n, 3);
    free(ids);

    /* The same feed again changes nothing and reports nothing new. */
    CHECK_OK(tb_store_put_feed(s, src, f, 200, &st, &ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(st.added, 0);
    CHECK_EQ(st.updated, 0);
    CHECK_EQ(st.unchanged, 3);
    CHECK_EQ(n, 0);
    CHECK(ids == NULL);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM entries", 0), 3);
    CHECK_EQ(q_int(s, "SELECT max(first_seen) FROM entries", 0), 100);
    tb_feed_free(f);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("w.db");
}

static void test_cross_source(void)
{
    struct tb_store *s = open_db("x.db", 0);
    int64_t a = source(s, "a"), b = source(s, "b"), c = source(s, "c");
    struct tb_feed *fa = tb_feed_new(), *fb = tb_feed_new(), *fc = tb_feed_new();
    struct tb_store_stats st;
    struct tb_entry *e;
    const char *sql = "SELECT count(*) FROM entry_sources WHERE entry_id = ?1";

    add(fa, "a1", "https://a/1", "Paper one")->arxiv_id = "2401.00001";
    add(fa, "a2", "https://a/2", "Paper two")->doi = "10.1000/two";
    add(fa, "a3", "https://a/3", "Paper three")->canon_link = "https://ex.org/p3";
    add(fa, "a4", "https://a/4", "Empty ids")->arxiv_id = "";
    add(fb, "b1", "https://b/1", "Paper one (b)")->arxiv_id = "2401.00001";
    add(fb, "b2", "https://b/2", "Paper two (b)")->doi = "10.1000/two";
    add(fb, "b3", "https://b/3", "Paper three (b)")->canon_link = "https://ex.org/p3";
    add(fb, "b4", "https://b/4", "Empty ids too")->arxiv_id = "";
    put(s, a, fa, 10);
    st = put(s, b, fb, 20);
    CHECK_EQ(st.added, 1); /* only the entry with an empty arxiv id */
    CHECK_EQ(st.unchanged, 3);
    CHECK_EQ(st.merged, 3); /* a's three entries, now also b's */
    CHECK_EQ(q_int(s, "SELECT count(*) FROM entries", 0), 5);
    CHECK_EQ(q_int(s, sql, 1), 2);
    CHECK_EQ(q_int(s, sql, 2), 2);
    CHECK_EQ(q_int(s, sql, 3), 2);
    CHECK_EQ(q_int(s, sql, 4), 1);
    CHECK_EQ(
        q_int(s, "SELECT first_seen FROM entry_sources WHERE entry_id = 1 AND source_id = ?1", b),
        20);
    CHECK_STR(q_text(s, "SELECT title FROM entries WHERE id = ?1", 1), "Paper one");
    CHECK_EQ(q_int(s, "SELECT count(*) FROM entry_keys WHERE entry_id = ?1", 3), 2);

    /* Stored again, b's copies are found by b's own keys. */
    st = put(s, b, fb, 30);
    CHECK_EQ(st.added, 0);
    CHECK_EQ(st.unchanged, 4);
    CHECK_EQ(st.merged, 0); /* merged once, not on every poll */

    /* arXiv id wins over DOI: c's entry names paper one's arXiv id and paper two's DOI. */
    e = add(fc, "c1", NULL, "Both ids");
    e->arxiv_id = "2401.00001";
    e->doi = "10.1000/two";
    st = put(s, c, fc, 40);
    CHECK_EQ(st.merged, 1);
    CHECK_EQ(q_int(s, sql, 1), 3);
    CHECK_EQ(q_int(s, sql, 2), 2);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM entries", 0), 5);
    tb_feed_free(fa);
    tb_feed_free(fb);
    tb_feed_free(fc);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("x.db");
}

/* Each source's copy keeps its own link (entry_sources.link): the link it
 * gave, an http(s) URL only; an item of another site whose link is the
 * paper's arXiv page has its own page in its id (a discussion). */
static void test_copy_links(void)
{
    struct tb_store *s = open_db("cl.db", 0);
    int64_t a = source(s, "arxiv"), h = source(s, "hf"), n = source(s, "hn"), x = source(s, "x");
    struct tb_feed *fa = tb_feed_new(), *fh = tb_feed_new(), *fn = tb_feed_new(),
                   *fx = tb_feed_new();
    const char *sql = "SELECT link FROM entry_sources WHERE entry_id = 1 AND source_id = ?1";
    struct tb_entry *e;

    fa->link = "http://rss.arxiv.org/rss/cs.CL";
    e = add(fa, "id:oai:arXiv.org:2401.00001v1", "oai:arXiv.org:2401.00001v1", "Paper");
    e->link = "https://arxiv.org/abs/2401.00001";
    e->arxiv_id = "2401.00001";
    e = add(fh, "id:urn:hf:1", "urn:hf:1", "Paper (hf)");
    e->link = "https://huggingface.co/papers/2401.00001";
    e->arxiv_id = "2401.00001";
    e = add(fn, "id:https://news.example/item?id=7", "https://news.example/item?id=7", "[pdf]");
    e->link = "https://arxiv.org/pdf/2401.00001v2";
    e->arxiv_id = "2401.00001";
    e = add(fx, "id:urn:x:1", "urn:x:1", "Paper (x)");
    e->link = "javascript:alert(1)";
    e->arxiv_id = "2401.00001";
    put(s, a, fa, 10);
    put(s, h, fh, 20);
    put(s, n, fn, 30);
    put(s, x, fx, 40);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM entries", 0), 1);
    CHECK_STR(q_text(s, sql, a), "https://arxiv.org/abs/2401.00001");
    CHECK_STR(q_text(s, sql, h), "https://huggingface.co/papers/2401.00001");
    CHECK_STR(q_text(s, sql, n), "https://news.example/item?id=7");
    CHECK_EQ(q_int(s, "SELECT link IS NULL FROM entry_sources WHERE source_id = ?1", x), 1);
    tb_feed_free(fa);
    tb_feed_free(fh);
    tb_feed_free(fn);
    tb_feed_free(fx);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("cl.db");
}

static int is_tag(const char *s)
{
    static const char prefix[] = "tag:tributary.invalid,2024:";
    size_t i, n = sizeof(prefix) - 1;

    if (s == NULL || strncmp(s, prefix, n) != 0 || strlen(s) != n + 64)
        return 0;
    for (i = n; s[i]; i++) {
        if (!strchr("0123456789abcdef", s[i]))
            return 0;
    }
    return 1;
}

static void test_out_id(void)
{
    struct tb_store *s = open_db("o.db", 0);
    int64_t a = source(s, "a"), b = source(s, "b");
    struct tb_feed *fa = tb_feed_new(), *fb = tb_feed_new();
    const char *sql = "SELECT out_id FROM entries WHERE id = ?1";
    char tag3[128];

    add(fa, "k1", "https://ex.org/1", "IRI id");
    add(fa, "k2", "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a", "URN id");
    add(fa, "k3", "1234", "No scheme");
    add(fa, "k4", NULL, "No id");
    add(fa, "k5", "C:\\feeds\\x", "Drive letter");
    add(fa, "k6", "https://ex.org/with space", "Space");
    add(fa, "k7", "tag:tributary.invalid,2024:00", "Our namespace");
    add(fb, "k1", "https://ex.org/1", "Same upstream id, other paper");
    put(s, a, fa, 1);
    put(s, b, fb, 2);
    CHECK_STR(q_text(s, sql, 1), "https://ex.org/1");
    CHECK_STR(q_text(s, sql, 2), "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a");
    CHECK(is_tag(q_text(s, sql, 3)));
    snprintf(tag3, sizeof(tag3), "%s", q_text(s, sql, 3));
    CHECK(is_tag(q_text(s, sql, 4)));
    CHECK(strcmp(q_text(s, sql, 4), tag3) != 0);
    CHECK(is_tag(q_text(s, sql, 5)));
    CHECK(is_tag(q_text(s, sql, 6)));
    CHECK(is_tag(q_text(s, sql, 7)));
    /* Already taken by entry 1: the second paper gets a tag of its own
     * (its id is 8 on SQLite; a PostgreSQL sequence skipped one for the
     * insert that yielded). */
    CHECK(is_tag(q_text(s, "SELECT out_id FROM entries WHERE origin = ?1", b)));
    CHECK_EQ(q_int(s, "SELECT count(DISTINCT out_id) FROM entries", 0), 8);
    CHECK(fk_ok(s));
    tb_store_close(s);

    /* Stable across re-open. */
    s = open_db("o.db", 0);
    CHECK_STR(q_text(s, sql, 3), tag3);
    tb_feed_free(fa);
    tb_feed_free(fb);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("o.db");
}

static void test_update(void)
{
    struct tb_store *s = open_db("u.db", 0);
    int64_t a = source(s, "a");
    struct tb_feed *f = tb_feed_new(), *got = NULL;
    struct tb_entry *e = add(f, "k1", "1", "An old title about zebras");
    struct tb_store_stats st;
    int64_t *ids = NULL, one = 1;
    size_t n = 0;
    char out_id[128];

    put(s, a, f, 1000);
    snprintf(out_id, sizeof(out_id), "%s", q_text(s, "SELECT out_id FROM entries", 0));
    CHECK_MATCHES(s, "zebras", 1);

    e->title = e->text = "A new title about giraffes";
    CHECK_OK(tb_store_put_feed(s, a, f, 2000, &st, &ids, &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(st.updated, 1);
    CHECK_EQ(st.added, 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(n ? ids[0] : 0, 1);
    free(ids);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM entries", 0), 1);
    CHECK_MATCHES(s, "zebras", 0);
    CHECK_MATCHES(s, "giraffes", 1);
    CHECK_EQ(q_int(s, "SELECT updated FROM entries", 0), 2000); /* no upstream date: seen_at */
    CHECK_EQ(q_int(s, "SELECT first_seen FROM entries", 0), 1000);
    CHECK_STR(q_text(s, "SELECT out_id FROM entries", 0), out_id);

    /* An upstream date is kept as given. */
    e->updated = 5000;
    st = put(s, a, f, 3000);
    CHECK_EQ(st.updated, 1);
    CHECK_EQ(q_int(s, "SELECT updated FROM entries", 0), 5000);
    CHECK_EQ(q_int(s, "SELECT sort_time FROM entries", 0), 5000);
    CHECK_FTS(s);
    CHECK(fk_ok(s));
    tb_store_close(s);

    s = open_db("u.db", 0);
    CHECK_OK(tb_store_load(s, &one, 1, &got, errbuf, sizeof(errbuf)));
    CHECK(got && got->entries && strcmp(got->entries->out_id, out_id) == 0);
    CHECK_STR(got && got->entries ? got->entries->title : NULL, "A new title about giraffes");
    tb_feed_free(got);
    tb_feed_free(f);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("u.db");
}

static void test_secondary(void)
{
    struct tb_store *s = open_db("sec.db", 0);
    int64_t a = source(s, "a"), b = source(s, "b");
    struct tb_feed *fa = tb_feed_new(), *fb = tb_feed_new();
    struct tb_entry *ea = add(fa, "a1", NULL, "Title from a");
    struct tb_entry *eb = add(fb, "b1", NULL, "Title from b");
    struct tb_store_stats st;

    ea->arxiv_id = eb->arxiv_id = "2402.12345";
    put(s, a, fa, 1);
    st = put(s, b, fb, 2);
    CHECK_EQ(st.unchanged, 1);
    eb->title = "Title from b, revised";
    st = put(s, b, fb, 3);
    CHECK_EQ(st.unchanged, 1);
    CHECK_EQ(st.updated, 0);
    CHECK_STR(q_text(s, "SELECT title FROM entries", 0), "Title from a");
    CHECK_EQ(q_int(s, "SELECT updated IS NULL FROM entries", 0), 1);

    ea->title = "Title from a, revised";
    st = put(s, a, fa, 4);
    CHECK_EQ(st.updated, 1);
    CHECK_STR(q_text(s, "SELECT title FROM entries", 0), "Title from a, revised");
    CHECK_EQ(q_int(s, "SELECT count(*) FROM entries", 0), 1);
    tb_feed_free(fa);
    tb_feed_free(fb);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("sec.db");
}

/* A reader connection shares the file and its settings, with a smaller cache. */
static void test_reader(void)
{
    struct tb_store *w = open_db("r.db", 0), *r = open_db("r.db", TB_STORE_READER);

    if (!st_is_pg()) { /* SQLite's settings */
        CHECK_EQ(q_int(w, "PRAGMA cache_size", 0), -8192);
        CHECK_EQ(q_int(r, "PRAGMA cache_size", 0), -2048);
        CHECK_STR(q_text(r, "PRAGMA journal_mode", 0), "wal");
    }
    source(w, "a");
    CHECK_EQ(q_int(r, "SELECT count(*) FROM sources", 0), 1);
    tb_store_close(r);
    tb_store_close(w);
    rm_db("r.db");
}

/* A TB_STORE_CHECKPOINT_LATER writer leaves its WAL to another connection's
 * checkpoints, and starts it over once one has copied it all. */
static void test_checkpoint_later(void)
{
    struct tb_store *w = open_db("c.db", TB_STORE_CHECKPOINT_LATER);
    struct tb_store *c = open_db("c.db", TB_STORE_READER);
    struct tb_feed *f1 = tb_feed_new(), *f2 = tb_feed_new(), *f3 = tb_feed_new();
    int64_t a = source(w, "a");
    size_t one, two;

    CHECK_EQ(tb_store_wal_bytes(c), 0);
    add(f1, "k1", NULL, "First");
    add(f2, "k2", NULL, "Second");
    add(f3, "k3", NULL, "Third");
    put(w, a, f1, 1);
    one = tb_store_wal_bytes(w);
    CHECK(one > 0);
    put(w, a, f2, 2);
    two = tb_store_wal_bytes(w);
    CHECK(two > one); /* no checkpoint of its own */
    CHECK_OK(tb_store_checkpoint(c, errbuf, sizeof(errbuf)));
    put(w, a, f3, 3);
    CHECK(tb_store_wal_bytes(w) < two); /* started over */
    CHECK_EQ(q_int(c, "SELECT count(*) FROM entries", 0), 3);
    CHECK_MATCHES(c, "third", 1);
    tb_feed_free(f1);
    tb_feed_free(f2);
    tb_feed_free(f3);
    tb_store_close(c);
    tb_store_close(w);
    rm_db("c.db");
}

static void test_temp(void)
{
    struct tb_store *s = open_db("t.db", TB_STORE_TEMP);
    struct tb_feed *f = tb_feed_new(), *got = NULL;
    int64_t a = source(s, "a"), id = 1;

    if (!st_is_pg()) { /* SQLite's settings; PostgreSQL ignores the flag */
        CHECK_STR(q_text(s, "PRAGMA journal_mode", 0), "memory");
        CHECK_EQ(q_int(s, "PRAGMA synchronous", 0), 0);
        CHECK_EQ(q_int(s, "PRAGMA temp_store", 0), 2);
    }
    add(f, "k", "https://ex.org/t", "Temporary");
    CHECK_EQ(put(s, a, f, 1).added, 1);
    CHECK_OK(tb_store_load(s, &id, 1, &got, errbuf, sizeof(errbuf)));
    CHECK_EQ(got ? got->nentries : 0, 1);
    tb_feed_free(got);
    tb_feed_free(f);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("t.db");
}

static struct tb_person *person(struct tb_feed *f, const char *name, const char *email,
                                const char *uri, struct tb_person *next)
{
    struct tb_person *p = tb_arena_alloc(&f->arena, sizeof(*p));

    p->name = S(f, name);
    p->email = S(f, email);
    p->uri = S(f, uri);
    p->next = next;
    return p;
}

/* A feed whose one entry sets every field store keeps. */
static struct tb_feed *full_feed(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e = add(f, "key-1", "https://ex.org/full", "Full \"entry\" <title>");
    struct tb_category *c1 = tb_arena_alloc(&f->arena, sizeof(*c1));
    struct tb_category *c2 = tb_arena_alloc(&f->arena, sizeof(*c2));
    struct tb_link *l1 = tb_arena_alloc(&f->arena, sizeof(*l1));
    struct tb_link *l2 = tb_arena_alloc(&f->arena, sizeof(*l2));

    f->id = S(f, "urn:feed:1");
    f->title = S(f, "Feed title");
    f->link = S(f, "https://ex.org/");
    f->self = S(f, "https://ex.org/feed.xml");
    e->id_is_permalink = 0;
    e->link = S(f, "https://ex.org/full?utm_source=x");
    e->canon_link = S(f, "https://ex.org/full");
    e->arxiv_id = S(f, "2401.01234");
    e->doi = S(f, "10.1000/xyz");
    e->published = 1700000000;
    e->updated = 1700003600;
    e->authors = person(f, "Ada L\xc3\xb6vel", "ada@ex.org", "https://ada.ex.org/",
                        person(f, "Bob", NULL, NULL, NULL));
    e->contributors = person(f, "Carol", NULL, "https://carol.ex.org/", NULL);
    c1->term = S(f, "cs.CL");
    c1->scheme = S(f, "https://arxiv.org/");
    c1->label = S(f, "Computation and Language");
    c1->next = c2;
    c2->term = S(f, "nlp");
    e->categories = c1;
    l1->href = S(f, "https://ex.org/full");
    l1->rel = S(f, "alternate");
    l1->type = S(f, "text/html");
    l1->length = -1;
    l1->next = l2;
    l2->href = S(f, "https://ex.org/full.pdf");
    l2->rel = S(f, "enclosure");
    l2->type = S(f, "application/pdf");
    l2->title = S(f, "PDF");
    l2->length = 123456;
    e->links = l1;
    e->summary.value = S(f, "<p>Summary &amp; more</p>");
    e->summary.is_html = 1;
    e->content.value = S(f, "Plain content");
    e->rights = S(f, "CC-BY");
    e->base = S(f, "https://ex.org/base/");
    e->text = S(f, "Summary & more Plain content");
    return f;
}

static void check_people(const struct tb_person *p)
{
    CHECK_STR(p ? p->name : NULL, "Ada L\xc3\xb6vel");
    CHECK_STR(p ? p->email : NULL, "ada@ex.org");
    CHECK_STR(p ? p->uri : NULL, "https://ada.ex.org/");
    p = p ? p->next : NULL;
    CHECK_STR(p ? p->name : NULL, "Bob");
    CHECK(p && p->email == NULL && p->uri == NULL && p->next == NULL);
}

static void check_lists(const struct tb_entry *e)
{
    const struct tb_category *c = e->categories;
    const struct tb_link *l = e->links;

    check_people(e->authors);
    CHECK_STR(e->contributors ? e->contributors->name : NULL, "Carol");
    CHECK_STR(e->contributors ? e->contributors->uri : NULL, "https://carol.ex.org/");
    CHECK_STR(c ? c->term : NULL, "cs.CL");
    CHECK_STR(c ? c->scheme : NULL, "https://arxiv.org/");
    CHECK_STR(c ? c->label : NULL, "Computation and Language");
    c = c ? c->next : NULL;
    CHECK(c && strcmp(c->term, "nlp") == 0 && c->scheme == NULL && c->next == NULL);
    CHECK(c && c->label == NULL);
    CHECK(l && strcmp(l->href, "https://ex.org/full") == 0 && l->length == -1);
    CHECK(l && strcmp(l->rel, "alternate") == 0 && l->title == NULL);
    l = l ? l->next : NULL;
    CHECK(l && strcmp(l->href, "https://ex.org/full.pdf") == 0 && l->length == 123456);
    CHECK(l && strcmp(l->type, "application/pdf") == 0 && strcmp(l->title, "PDF") == 0);
    CHECK(l && l->next == NULL);
}

/* Dates and author presence of rowid 1 (full_feed's entry), a missing
 * rowid, and an authorless, dateless entry stored here as rowid 2. */
static void check_brief(struct tb_store *s)
{
    struct tb_feed *f = tb_feed_new();
    int64_t ids[] = {1, 42, 2};
    struct tb_store_brief b[3];

    add(f, "bare", "urn:x:bare", "Bare entry");
    put(s, source(s, "bare"), f, 5);
    CHECK_OK(tb_store_brief(s, ids, 3, b, errbuf, sizeof(errbuf)));
    CHECK_EQ(b[0].published, 1700000000);
    CHECK_EQ(b[0].updated, 1700003600);
    CHECK(b[0].has_authors);
    CHECK(b[1].published == TB_TIME_NONE && b[1].updated == TB_TIME_NONE && b[1].has_authors);
    CHECK(b[2].published == TB_TIME_NONE && b[2].updated == TB_TIME_NONE && !b[2].has_authors);
    tb_feed_free(f);
}

static void test_roundtrip(void)
{
    struct tb_store *s = open_db("r.db", 0);
    struct tb_feed *f = full_feed(), *got = NULL;
    int64_t a = source(s, "a"), ids[] = {1, 42};
    const struct tb_entry *e;

    put(s, a, f, 1);
    CHECK_OK(tb_store_load(s, ids, 2, &got, errbuf, sizeof(errbuf)));
    CHECK_EQ(got ? got->nentries : 0, 1); /* rowid 42 does not exist */
    e = got ? got->entries : NULL;
    if (e == NULL)
        goto out;
    CHECK_EQ(e->rowid, 1);
    CHECK_STR(e->out_id, "https://ex.org/full");
    CHECK_STR(e->id, "https://ex.org/full");
    CHECK_EQ(e->id_is_permalink, 0);
    CHECK_STR(e->key, "key-1");
    CHECK_STR(e->title, "Full \"entry\" <title>");
    CHECK_STR(e->link, "https://ex.org/full?utm_source=x");
    CHECK_STR(e->canon_link, "https://ex.org/full");
    CHECK_STR(e->arxiv_id, "2401.01234");
    CHECK_STR(e->doi, "10.1000/xyz");
    CHECK_EQ(e->published, 1700000000);
    CHECK_EQ(e->updated, 1700003600);
    CHECK_STR(e->summary.value, "<p>Summary &amp; more</p>");
    CHECK_EQ(e->summary.is_html, 1);
    CHECK_STR(e->content.value, "Plain content");
    CHECK_EQ(e->content.is_html, 0);
    CHECK_STR(e->rights, "CC-BY");
    CHECK_STR(e->base, "https://ex.org/base/");
    CHECK_STR(e->text, "Summary & more Plain content");
    CHECK_STR(e->origin.id, "urn:feed:1");
    CHECK_STR(e->origin.title, "Feed title");
    CHECK_STR(e->origin.link, "https://ex.org/");
    CHECK_STR(e->origin.self, "https://ex.org/feed.xml");
    check_lists(e);
    check_brief(s);
    CHECK_MATCHES(s, "authors:lovel", 1);
    CHECK_MATCHES(s, "categories:nlp", 1);
out:
    tb_feed_free(got);
    CHECK_OK(tb_store_load(s, NULL, 0, &got, errbuf, sizeof(errbuf)));
    CHECK(got != NULL && got->nentries == 0);
    tb_feed_free(got);
    tb_feed_free(f);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("r.db");
}

static void test_hostile(void)
{
    struct tb_store *s = open_db("h.db", 0);
    struct tb_feed *f = tb_feed_new(), *got = NULL;
    int64_t a = source(s, "a"), id = 0;
    struct tb_entry *e;
    struct tb_store_stats st;

    /* A bad entry after good ones: nothing of the feed is stored. */
    add(f, "k1", NULL, "Good one");
    add(f, "k2", NULL, "Good two");
    add(f, "k3", NULL, "No key")->key = NULL;
    CHECK_EQ(tb_store_put_feed(s, a, f, 1, &st, NULL, NULL, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK(strstr(errbuf, "key") != NULL);
    CHECK_EQ(q_int(s, "SELECT count(*) FROM entries", 0), 0);
    CHECK_EQ(tb_store_put_feed(s, 999, f, 1, &st, NULL, NULL, errbuf, sizeof(errbuf)), -ENOENT);

    /* Invalid UTF-8 in a list and SQL in text are stored without harm. */
    tb_feed_free(f);
    f = tb_feed_new();
    e = add(f, "k1", "'); DROP TABLE entries; --", "'); DROP TABLE entries; --");
    e->authors = person(f, "\xff\xfe bad", "\xc3", NULL, person(f, "Good", NULL, NULL, NULL));
    CHECK_EQ(put(s, a, f, 2).added, 1);
    id = q_int(s, "SELECT id FROM entries", 0);
    CHECK_OK(tb_store_load(s, &id, 1, &got, errbuf, sizeof(errbuf)));
    e = got ? got->entries : NULL;
    CHECK_STR(e ? e->title : NULL, "'); DROP TABLE entries; --");
    CHECK(e && e->authors && e->authors->next && strcmp(e->authors->next->name, "Good") == 0);
    tb_feed_free(got);
    tb_feed_free(f);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("h.db");
}

/* Abstracts from the fixtures' copy of shared/seed-papers.txt (a title line,
 * an abstract line). */
/* A batch: one transaction, a failed feed undone alone, the rest committed. */
static void test_batch(void)
{
    struct tb_store *s = open_db("b.db", 0);
    struct tb_feed *good = tb_feed_new(), *bad = tb_feed_new(), *late = tb_feed_new();
    int64_t a = source(s, "a"), b = source(s, "b");
    struct tb_store *other = open_db("b.db", 0);
    struct tb_store_stats st;

    add(good, "g1", NULL, "Good one");
    add(good, "g2", NULL, "Good two");
    add(bad, "b1", NULL, "Stored then undone");
    add(bad, "b2", NULL, "No key")->key = NULL;
    add(late, "l1", NULL, "Late one");
    CHECK_OK(tb_store_begin(s, errbuf, sizeof(errbuf)));
    CHECK_EQ(put(s, a, good, 1).added, 2);
    CHECK_EQ(tb_store_put_feed(s, b, bad, 1, &st, NULL, NULL, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK_EQ(put(s, b, late, 1).added, 1);
    /* Nothing is visible to another connection before the commit. */
    CHECK_EQ(q_int(other, "SELECT count(*) FROM entries", 0), 0);
    CHECK_OK(tb_store_commit(s, errbuf, sizeof(errbuf)));
    CHECK_EQ(q_int(other, "SELECT count(*) FROM entries", 0), 3);
    if (!left_out_on_pg()) {
        CHECK_EQ(
            q_int(other, "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'undone'", 0),
            0);
        CHECK_EQ(q_int(other, "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'late'", 0),
                 1);
    }
    CHECK_EQ(tb_store_commit(s, errbuf, sizeof(errbuf)), TB_ESTORE);

    /* SQLite rolling the whole batch back (as on a full disk) fails every
     * later put and the commit, rather than committing them piecemeal. */
    tb_feed_free(good);
    good = tb_feed_new();
    add(good, "g3", NULL, "Good three");
    CHECK_OK(tb_store_begin(s, errbuf, sizeof(errbuf)));
    CHECK_EQ(tb_store_begin(s, errbuf, sizeof(errbuf)), TB_ESTORE);
    CHECK_EQ(put(s, a, late, 2).added, 1);
    CHECK_OK(tb_db_exec(tb_store_sql(s), "ROLLBACK", errbuf, sizeof(errbuf)));
    CHECK_EQ(tb_store_put_feed(s, a, good, 2, &st, NULL, NULL, errbuf, sizeof(errbuf)), TB_ESTORE);
    CHECK(strstr(errbuf, "rolled back") != NULL);
    CHECK_EQ(tb_store_commit(s, errbuf, sizeof(errbuf)), TB_ESTORE);
    CHECK_EQ(q_int(other, "SELECT count(*) FROM entries", 0), 3);
    /* Outside a batch a put is its own transaction again. */
    CHECK_EQ(put(s, a, good, 3).added, 1);
    CHECK_EQ(q_int(other, "SELECT count(*) FROM entries", 0), 4);
    tb_feed_free(good);
    tb_feed_free(bad);
    tb_feed_free(late);
    tb_store_close(other);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("b.db");
}

/* A batch indexes its entries at the commit: an entry rewritten after its
 * insert in the same batch, an old one rewritten twice, and a failed feed
 * leave the index exactly matching the table. */
static void test_batch_index(void)
{
    struct tb_store *s = open_db("bi.db", 0);
    struct tb_feed *f = tb_feed_new(), *g = tb_feed_new(), *bad = tb_feed_new();
    int64_t a = source(s, "a"), b = source(s, "b");
    struct tb_store_stats st;

    add(f, "old", NULL, "An old title about zebras");
    put(s, a, f, 1);
    tb_feed_free(f);
    f = tb_feed_new();
    add(f, "new", NULL, "Fresh title about lions");
    add(f, "new", NULL, "Fresh title about tigers"); /* the same key again: a rewrite */
    add(f, "old", NULL, "An old title about giraffes");
    add(g, "old", NULL, "An old title about okapis");
    add(g, "later", NULL, "A later title about pandas"); /* may take the undone rowid */
    add(bad, "b1", NULL, "Stored then undone about pumas");
    add(bad, "b2", NULL, "No key")->key = NULL;
    CHECK_OK(tb_store_begin(s, errbuf, sizeof(errbuf)));
    st = put(s, a, f, 2);
    CHECK_EQ(st.added, 1);
    CHECK_EQ(st.updated, 2);
    CHECK_EQ(tb_store_put_feed(s, b, bad, 2, &st, NULL, NULL, errbuf, sizeof(errbuf)), -EINVAL);
    CHECK_EQ(put(s, a, g, 3).updated, 1);
    CHECK_OK(tb_store_commit(s, errbuf, sizeof(errbuf)));
    CHECK_FTS(s);
    CHECK_MATCHES(s, "pandas", 1);
    CHECK_MATCHES(s, "zebras OR giraffes OR lions OR pumas", 0);
    CHECK_MATCHES(s, "okapis", 1);
    CHECK_MATCHES(s, "tigers", 1);
    CHECK_MATCHES(s, "title", 3);
    tb_feed_free(f);
    tb_feed_free(g);
    tb_feed_free(bad);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("bi.db");
}

/* A batch of 600 new entries, indexed at the commit with the text they were
 * inserted with: the index equals what SQLite's tokenizer makes of the
 * table's text (integrity-check tokenizes it afresh): stemming, folded
 * diacritics, empty and missing columns, and an entry rewritten within the
 * batch (indexed from the table). */
static void test_batch_tokens(void)
{
    static const char *const words[] = {
        "Café crème running", "naïve Zürich runs", "walruses eat clams", "", "ΑΘΗΝΑ façade", NULL};
    struct tb_store *s = open_db("bt.db", 0);
    struct tb_feed *f = tb_feed_new();
    struct tb_store_prep *prep = NULL;
    struct tb_store_stats st;
    struct tb_entry *e;
    char key[32], title[64];
    int64_t a = source(s, "a");
    int i;

    for (i = 0; i < 600; i++) {
        snprintf(key, sizeof(key), "k%d", i == 599 ? 7 : i); /* the last rewrites k7 */
        snprintf(title, sizeof(title), "Entry %d about %s", i, i == 599 ? "otters" : "badgers");
        e = add(f, key, NULL, title);
        e->text = words[i % 6] ? S(f, words[i % 6]) : NULL;
        if (i % 3 == 0)
            e->authors = person(f, "Zoë Dvořák", NULL, NULL, NULL);
    }
    CHECK_OK(tb_store_prepare(f, &prep));
    CHECK_OK(tb_store_begin(s, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_put_prepared(s, a, f, prep, 5, &st, NULL, NULL, errbuf, sizeof(errbuf)));
    CHECK_EQ(st.added, 599);
    CHECK_EQ(st.updated, 1);
    CHECK_OK(tb_store_commit(s, errbuf, sizeof(errbuf)));
    CHECK_FTS(s);
    CHECK_MATCHES(s, "cafe", 100);
    CHECK_MATCHES(s, "run", 199); /* k7 (i = 7) lost its text */
    CHECK_MATCHES(s, "walruses AND clam", 100);
    CHECK_MATCHES(s, "αθηνα", 100);
    CHECK_MATCHES(s, "zoe", 200);
    CHECK_MATCHES(s, "otters", 1);
    CHECK_MATCHES(s, "badger", 598);
    CHECK_MATCHES(s, "\"entry 598 about\"", 1);
    tb_feed_free(f);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("bt.db");
}

static size_t read_seed(char titles[][256], char abstracts[][4096], size_t max)
{
    const char *fixtures = getenv("TB_FIXTURES");
    char p[512], line[8192];
    size_t n = 0, len;
    FILE *fp;

    snprintf(p, sizeof(p), "%s/seed-papers.txt", fixtures ? fixtures : "fixtures");
    fp = fopen(p, "r");
    while (fp && n < max && fgets(line, sizeof(line), fp)) {
        len = strcspn(line, "\n");
        line[len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        snprintf(titles[n], 256, "%.255s", line);
        if (!fgets(line, sizeof(line), fp))
            break;
        line[strcspn(line, "\n")] = '\0';
        snprintf(abstracts[n++], 4096, "%.4095s", line);
    }
    if (fp)
        fclose(fp);
    return n;
}

static struct tb_feed *bulk_feed(size_t from, size_t count, char titles[][256],
                                 char abstracts[][4096], size_t nseed, size_t *bytes)
{
    struct tb_feed *f = tb_feed_new();
    char buf[512];
    size_t i;

    for (i = from; i < from + count; i++) {
        const char *abs = abstracts[i % nseed];
        struct tb_entry *e;

        snprintf(buf, sizeof(buf), "%s (%zu)", titles[i % nseed], i);
        e = add(f, "", NULL, buf);
        snprintf(buf, sizeof(buf), "https://arxiv.org/abs/2401.%05zu", i);
        e->key = e->id = e->link = e->canon_link = S(f, buf);
        e->arxiv_id = S(f, buf + strlen("https://arxiv.org/abs/"));
        e->summary.value = e->text = S(f, abs);
        e->published = 1700000000 + (int64_t)i;
        e->authors = person(f, "First Author", NULL, NULL, person(f, "Second", NULL, NULL, NULL));
        *bytes += strlen(abs);
    }
    return f;
}

/* Bulk insert in TB_STORE_TEMP mode; TB_BENCH_N=20000 prints the speed. */
static void test_bulk(void)
{
    static char titles[40][256], abstracts[40][4096];
    const char *env = getenv("TB_BENCH_N");
    size_t total = env ? strtoul(env, NULL, 10) : 2000, nseed, done, bytes = 0, n = 0;
    struct tb_store *s = open_db("bulk.db", TB_STORE_TEMP);
    int64_t a = source(s, "arxiv"), *ids = NULL;
    struct timespec t0, t1;
    double secs;

    nseed = read_seed(titles, abstracts, 40);
    CHECK(nseed >= 30);
    if (nseed == 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (done = 0; done < total; done += 1000) {
        size_t count = total - done < 1000 ? total - done : 1000;
        struct tb_feed *f = bulk_feed(done, count, titles, abstracts, nseed, &bytes);

        CHECK_EQ(put(s, a, f, 1).added, count);
        tb_feed_free(f);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK_EQ(q_int(s, "SELECT count(*) FROM entries", 0), total);
    if (!left_out_on_pg()) {
        CHECK_OK(tb_topic_select(s, "attention", 50, &ids, &n, errbuf, sizeof(errbuf)));
        CHECK_EQ(n, total >= 50 ? 50 : n);
        free(ids);
    }
    if (env)
        printf("bulk: %zu entries, %.1f MB of abstracts in %.2f s: %.0f entries/s, %.1f MB/s\n",
               total, (double)bytes / 1e6, secs, (double)total / secs, (double)bytes / 1e6 / secs);
    CHECK(fk_ok(s));
    tb_store_close(s);
    rm_db("bulk.db");
}

/* A feed that rewrites many stored entries inside a batch: its savepoint
 * journal (the old content of every page it changes, ~2.5 MB here) grows
 * past what SQLite keeps in memory and goes to a temporary file. SQLite
 * 3.40 copies the in-memory part there in one write of the spill size,
 * which its unix VFS truncates to 128 KB: with a larger spill every such
 * feed failed with "database or disk is full". */
static void test_large_savepoint(void)
{
    static char titles[40][256], abstracts[40][4096];
    struct tb_store *s = open_db("ls.db", TB_STORE_CHECKPOINT_LATER);
    int64_t a = source(s, "a");
    size_t nseed = read_seed(titles, abstracts, 40), bytes = 0;
    struct tb_feed *f = bulk_feed(0, 600, titles, abstracts, nseed ? nseed : 1, &bytes);
    struct tb_entry *e;

    CHECK_EQ(put(s, a, f, 1).added, 600);
    for (e = f->entries; e != NULL; e = e->next)
        e->title = S(f, "Rewritten");
    CHECK_OK(tb_store_begin(s, errbuf, sizeof(errbuf)));
    CHECK_EQ(put(s, a, f, 2).updated, 600);
    CHECK_OK(tb_store_commit(s, errbuf, sizeof(errbuf)));
    CHECK_EQ(q_int(s, "SELECT count(*) FROM entries WHERE title = 'Rewritten'", 0), 600);
    CHECK_MATCHES(s, "rewritten", 600);
    CHECK_FTS(s);
    tb_feed_free(f);
    tb_store_close(s);
    rm_db("ls.db");
}

/* A database made with 4 KB pages (before new ones got 8 KB) keeps them,
 * with its WAL still bounded at 40 MB, and takes new entries. */
static void test_old_page_size(void)
{
    struct tb_store *s;
    struct tb_feed *f = tb_feed_new();
    sqlite3 *raw = NULL;

    CHECK_EQ(sqlite3_open(file("p4.db"), &raw), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(raw,
                          "PRAGMA page_size=4096; PRAGMA journal_mode=WAL;"
                          " CREATE TABLE older(x);",
                          NULL, NULL, NULL),
             SQLITE_OK);
    sqlite3_close(raw);
    s = open_db("p4.db", 0);
    CHECK_EQ(q_int(s, "PRAGMA page_size", 0), 4096);
    CHECK_EQ(q_int(s, "PRAGMA wal_autocheckpoint", 0), 10240);
    add(f, "k", NULL, "Stored in small pages about otters");
    CHECK_EQ(put(s, source(s, "a"), f, 1).added, 1);
    CHECK_MATCHES(s, "otters", 1);
    CHECK_FTS(s);
    tb_feed_free(f);
    tb_store_close(s);
    rm_db("p4.db");
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/tb_store_XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    if (!st_ready())
        CHECK_DONE();
    if (st_is_pg())
        test_pg_schema();
    if (!st_skip_pg("test_migrations", "SQLite's file, PRAGMAs and user_version (test_pg_schema)"))
        test_migrations();
    if (!st_skip_pg("test_migrate_v3", "SQLite files of older versions"))
        test_migrate_v3();
    if (!st_skip_pg("test_migrate_v5", "SQLite files of older versions"))
        test_migrate_v5();
    if (!st_skip_pg("test_migrate_gone", "SQLite files of older versions"))
        test_migrate_gone();
    test_sources();
    test_within_source();
    test_cross_source();
    test_copy_links();
    test_out_id();
    test_update();
    test_secondary();
    test_reader();
    if (!st_skip_pg("test_checkpoint_later", "SQLite's WAL"))
        test_checkpoint_later();
    test_temp();
    test_roundtrip();
    test_hostile();
    test_batch();
    test_batch_index();
    test_batch_tokens();
    test_bulk();
    test_large_savepoint();
    if (!st_skip_pg("test_old_page_size", "SQLite's page size"))
        test_old_page_size();
    rmdir(dir);
    if (pg_left_out > 0)
        fprintf(stderr,
                "%d FTS5 / topic check(s) SKIPPED on PostgreSQL (topics there are the matcher's,"
                " issue 13 item 2; not passed)\n",
                pg_left_out);
    st_report();
    CHECK_DONE();
}
