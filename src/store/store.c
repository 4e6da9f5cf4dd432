/*
 * SQLite storage: opening, schema migrations, cached statements, sources.
 *
 * The schema version lives in PRAGMA user_version; migrations[i] takes a
 * database from version i to i+1, and all pending ones run in one
 * transaction. The FTS5 index is an external-content table over `entries`
 * kept in sync by triggers, so the text is stored once and every write to
 * entries reindexes in the same transaction.
 */
#include "store_int.h"
#include "matcher.h"
#include "tb_vec.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAL_HARD_BYTES (100 << 20)   /* TB_STORE_CHECKPOINT_LATER: checkpoint past this */
#define WAL_AUTO_BYTES (40 << 20)    /* other writers: checkpoint past this */
#define STMT_JOURNAL_SPILL (1 << 20) /* bytes of a savepoint journal kept in memory */

/* Topic memberships, where topics are matched by the topic matcher
 * (matcher.h) rather than an FTS5 index: on PostgreSQL, which has none.
 * Each topic query once (a changed query is a new row), with how far its
 * backfill went (entries up to id `done` matched; `complete` once it met
 * the end); the entries each matches. SQLite has the tables too (empty:
 * its topics are selected through entries_fts), so that both engines'
 * versions stay twins and the tests run the membership path on both. */
#define TOPIC_MEMBERS_SQL(id, without_rowid)                                                       \
    "CREATE TABLE topic_queries("                                                                  \
    " id " id ","                                                                                  \
    " query TEXT NOT NULL UNIQUE,"                                                                 \
    " done bigint NOT NULL DEFAULT 0,"                                                             \
    " complete bigint NOT NULL DEFAULT 0);"                                                        \
    "CREATE TABLE topic_members("                                                                  \
    " query_id bigint NOT NULL,"                                                                   \
    " entry_id bigint NOT NULL,"                                                                   \
    " PRIMARY KEY(query_id, entry_id)) " without_rowid ";"                                         \
    "CREATE INDEX topic_members_entry ON topic_members(entry_id);"

/* The change feed (changes.c): which entries each node stored, in commit
 * order (seq), for the other nodes to re-render; pruned by age. And the
 * moment (one row, id 1) the cluster's trending ranking is computed at. */
#define CHANGES_SQL(id)                                                                            \
    "CREATE TABLE changes("                                                                        \
    " seq " id ","                                                                                 \
    " node TEXT NOT NULL,"                                                                         \
    " entry_id bigint NOT NULL,"                                                                   \
    " at bigint NOT NULL);"                                                                        \
    "CREATE INDEX changes_at ON changes(at);"                                                      \
    "CREATE TABLE trending_at(id bigint PRIMARY KEY, at bigint NOT NULL);"

/* The moment each version of a served document first existed (changes.c,
 * tb_changes_doc_moment): its Last-Modified on every node. */
#define DOC_VERSIONS_SQL(without_rowid)                                                            \
    "CREATE TABLE doc_versions("                                                                   \
    " path TEXT NOT NULL,"                                                                         \
    " hash TEXT NOT NULL,"                                                                         \
    " at bigint NOT NULL,"                                                                         \
    " PRIMARY KEY(path, hash)) " without_rowid ";"

static const char *const migrations[] = {
    /* 1: initial schema. */
    "CREATE TABLE sources("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " url TEXT,"
    " feed_id TEXT, title TEXT, link TEXT, self TEXT," /* feed metadata for atom:source */
    " enabled INTEGER NOT NULL DEFAULT 1,"
    " etag TEXT, last_modified TEXT,"
    " last_attempt INTEGER, last_success INTEGER, last_status INTEGER, last_error TEXT,"
    " next_poll INTEGER, failures INTEGER NOT NULL DEFAULT 0,"
    " entries_seen INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE entries("
    " id INTEGER PRIMARY KEY,"
    " out_id TEXT NOT NULL UNIQUE,"
    " origin INTEGER NOT NULL REFERENCES sources(id),"
    " upstream_id TEXT, id_is_permalink INTEGER NOT NULL DEFAULT 1,"
    " title TEXT, link TEXT, canon_link TEXT, arxiv_id TEXT, doi TEXT,"
    " published INTEGER, updated INTEGER, first_seen INTEGER NOT NULL,"
    " sort_time INTEGER NOT NULL,"
    " authors TEXT, categories TEXT," /* plain names / terms, indexed by FTS */
    " authors_json TEXT, contributors_json TEXT, categories_json TEXT, links_json TEXT,"
    " summary TEXT, summary_html INTEGER NOT NULL DEFAULT 0,"
    " content TEXT, content_html INTEGER NOT NULL DEFAULT 0,"
    " rights TEXT, base TEXT, text TEXT, hash BLOB NOT NULL);"
    "CREATE INDEX entries_canon_link ON entries(canon_link) WHERE canon_link IS NOT NULL;"
    "CREATE INDEX entries_arxiv_id ON entries(arxiv_id) WHERE arxiv_id IS NOT NULL;"
    "CREATE INDEX entries_doi ON entries(doi) WHERE doi IS NOT NULL;"
    "CREATE INDEX entries_sort ON entries(sort_time DESC, out_id);"
    "CREATE TABLE entry_keys("
    " source_id INTEGER NOT NULL REFERENCES sources(id),"
    " key TEXT NOT NULL,"
    " entry_id INTEGER NOT NULL REFERENCES entries(id),"
    " PRIMARY KEY(source_id, key)) WITHOUT ROWID;"
    "CREATE INDEX entry_keys_entry ON entry_keys(entry_id);"
    "CREATE TABLE entry_sources("
    " entry_id INTEGER NOT NULL REFERENCES entries(id),"
    " source_id INTEGER NOT NULL REFERENCES sources(id),"
    " first_seen INTEGER NOT NULL,"
    " PRIMARY KEY(entry_id, source_id)) WITHOUT ROWID;"
    "CREATE INDEX entry_sources_source ON entry_sources(source_id);"
    /* Columns and tokenizer shared with the topic matcher (matcher.h). */
    "CREATE VIRTUAL TABLE entries_fts USING fts5(" TB__FTS_COLUMNS ","
    " content='entries', content_rowid='id', " TB__FTS_TOKENIZE ");"
    "CREATE TRIGGER entries_ai AFTER INSERT ON entries BEGIN"
    " INSERT INTO entries_fts(rowid, title, text, authors, categories)"
    " VALUES(new.id, new.title, new.text, new.authors, new.categories); END;"
    "CREATE TRIGGER entries_ad AFTER DELETE ON entries BEGIN"
    " INSERT INTO entries_fts(entries_fts, rowid, title, text, authors, categories)"
    " VALUES('delete', old.id, old.title, old.text, old.authors, old.categories); END;"
    "CREATE TRIGGER entries_au AFTER UPDATE OF title, text, authors, categories ON entries BEGIN"
    " INSERT INTO entries_fts(entries_fts, rowid, title, text, authors, categories)"
    " VALUES('delete', old.id, old.title, old.text, old.authors, old.categories);"
    " INSERT INTO entries_fts(rowid, title, text, authors, categories)"
    " VALUES(new.id, new.title, new.text, new.authors, new.categories); END;",
    /* 2: poll state the daemon needs beyond the initial columns (store_state.c). */
    ("ALTER TABLE sources ADD COLUMN config_url TEXT;"
     "ALTER TABLE sources ADD COLUMN ttl INTEGER NOT NULL DEFAULT 0;"),
    /* 3: a new entry is indexed by its own statement (tb__store_index), not
     * by a trigger. A trigger makes the INSERT open a statement savepoint
     * inside a batch transaction, and FTS5 writes its pending terms out as
     * a new segment at every savepoint: one segment per entry. */
    "DROP TRIGGER entries_ai;",
    /* 4: a rewritten entry is reindexed by the store too (tb__store_index_later),
     * at the end of its transaction with the new ones: FTS5 flushes its
     * pending terms into a new segment at every SAVEPOINT and RELEASE once
     * the table is written in a transaction, so indexing inside each feed's
     * savepoint cost one segment (and its merging) per feed. */
    "DROP TRIGGER entries_au;",
    /* 5: FTS5 merges a level's segments once 16 wait there rather than 4
     * (crisismerge is 16 too): fewer rewrites of the index while storing,
     * a few more segments for a query to read. */
    "INSERT INTO entries_fts(entries_fts, rank) VALUES('automerge', 16);",
    /* 6: the sort index holds the time alone. Entries of a first poll
     * arrive in random time order, so every batch rewrote most of its
     * leaves, and out_id (~60 bytes) made them three times as many; a
     * query-less topic orders equal times by out_id in a small temporary
     * b-tree. */
    "DROP INDEX entries_sort;"
    "CREATE INDEX entries_sort ON entries(sort_time DESC);",
    /* 7: a source the upstream answered 410 Gone is `gone`; "enabled"
     * (the initial column, 0 after a 410) is the config's word for a
     * source the user has paused, a different thing. */
    ("ALTER TABLE sources ADD COLUMN gone INTEGER NOT NULL DEFAULT 0;"
     "UPDATE sources SET gone = 1 WHERE enabled = 0;"
     "ALTER TABLE sources DROP COLUMN enabled;"),
    /* 8: content of a non-text media type is its base64 (RFC 4287 4.1.3.3)
     * under this type; NULL for text and HTML. */
    "ALTER TABLE entries ADD COLUMN content_type TEXT;",
    /* 9: trending (tb_trending.h). A source's voice: its weight and its
     * group (NULL: its own name); the papers each source carried or
     * mentioned, one row per paper and source holding the source's first
     * carrying or mention of it (the earlier of that entry's published
     * date and the time it was seen). Indexed by time, so a trending
     * query reads the window, not the archive. */
    ("ALTER TABLE sources ADD COLUMN weight REAL NOT NULL DEFAULT 1;"
     "ALTER TABLE sources ADD COLUMN grp TEXT;"
     "CREATE TABLE mentions("
     " paper TEXT NOT NULL," /* "arxiv:ID", "doi:DOI" or "link:URL" */
     " source_id INTEGER NOT NULL REFERENCES sources(id),"
     " entry_id INTEGER NOT NULL REFERENCES entries(id)," /* the first entry that did */
     " at INTEGER NOT NULL,"
     " carries INTEGER NOT NULL," /* 1: an entry of the source IS the paper */
     " PRIMARY KEY(paper, source_id)) WITHOUT ROWID;"
     "CREATE INDEX mentions_at ON mentions(at, paper, source_id);"
     /* What stored entries carry is known already: each source's copies,
      * timed at the earlier of the entry's date and the source's first
      * sight of it. Mentions in their content are not: those count from
      * the next version a source sends. */
     "INSERT OR IGNORE INTO mentions(paper, source_id, entry_id, at, carries)"
     " SELECT coalesce('arxiv:' || e.arxiv_id, 'doi:' || e.doi, 'link:' || e.canon_link),"
     " es.source_id, e.id, min(coalesce(e.published, es.first_seen), es.first_seen), 1"
     " FROM entry_sources es JOIN entries e ON e.id = es.entry_id"
     " WHERE coalesce(e.arxiv_id, e.doi, e.canon_link) IS NOT NULL ORDER BY 5, e.id;"),
    /* 10: papers asked of the arXiv API (tb_arxiv.h): state 1 resolved,
     * 0 failed `tries` times and asked again at next_try. */
    ("CREATE TABLE arxiv_resolve("
     " id TEXT PRIMARY KEY," /* arXiv id, no version */
     " state INTEGER NOT NULL,"
     " tries INTEGER NOT NULL DEFAULT 0,"
     " next_try INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
     /* A source whose feed is arXiv's (its link on arxiv.org: the listings,
      * the API's answers): its copy of a paper is what the paper shows. */
     "ALTER TABLE sources ADD COLUMN arxiv_record INTEGER NOT NULL DEFAULT 0;"),
    /* 11: each source's own copy of an entry: the link of the entry as
     * that source gave it (an http(s) URL, else NULL), so that "Also in"
     * and "Mentioned by" link every source's copy rather than the first
     * one's. Rows stored before stay NULL (the links are not kept). */
    "ALTER TABLE entry_sources ADD COLUMN link TEXT;",
    /* 12: the arXiv resolver's ids due are read from arxiv_resolve alone,
     * which now holds every arXiv id carried or mentioned: `voiced` its
     * latest voice (the latest `at` of its mentions), state 2 once an
     * arXiv record carries it. The open ones (state 0) are indexed by
     * that time, so a look reads the window's open ids, not the window's
     * mentions (300,000 of them took 0.2-0.4 s on the loop's thread). */
    ("ALTER TABLE arxiv_resolve ADD COLUMN voiced INTEGER NOT NULL DEFAULT 0;"
     "INSERT INTO arxiv_resolve(id, state, voiced)"
     " SELECT substr(paper, 7), 0, max(at) FROM mentions"
     " WHERE paper > 'arxiv:' AND paper < 'arxiv;' GROUP BY paper"
     " ON CONFLICT(id) DO UPDATE SET voiced = excluded.voiced;"
     "UPDATE arxiv_resolve SET state = 2 WHERE state = 0 AND EXISTS(SELECT 1 FROM entries e"
     " JOIN sources s ON s.id = e.origin WHERE e.arxiv_id = arxiv_resolve.id"
     " AND s.arxiv_record);"
     "CREATE INDEX arxiv_resolve_open ON arxiv_resolve(voiced) WHERE state = 0;"
     /* The failed ones by retry time, for the next look's time: the open
      * ids also hold every id voiced only before the window, never asked. */
     "CREATE INDEX arxiv_resolve_retry ON arxiv_resolve(next_try)"
     " WHERE state = 0 AND tries > 0;"),
    /* 13: email subscriptions and the outbox (tb_subs.h, subs.c). One row
     * per (normalized) address; its topics, confirmed (pending 0) and
     * asked but not confirmed (pending 1); confirmation mails per address
     * and UTC day; every message before it is sent, its raw text dropped
     * once done (the row stays 8 days, so a rebuilt digest's Message-ID is
     * still known); messages done ever, by outcome. */
    ("CREATE TABLE subscriptions("
     " id INTEGER PRIMARY KEY,"
     " addr TEXT NOT NULL UNIQUE,"
     " state INTEGER NOT NULL," /* enum tb_subs_state */
     " freq INTEGER NOT NULL DEFAULT 0,"
     " pending_freq INTEGER NOT NULL DEFAULT 0,"
     " created INTEGER NOT NULL,"
     " confirmed INTEGER NOT NULL DEFAULT 0,"
     " covered INTEGER NOT NULL DEFAULT 0,"
     " last_sent INTEGER NOT NULL DEFAULT 0,"
     " failures INTEGER NOT NULL DEFAULT 0,"
     " last_error TEXT);"
     "CREATE TABLE sub_topics("
     " sub INTEGER NOT NULL REFERENCES subscriptions(id),"
     " pending INTEGER NOT NULL,"
     " topic TEXT NOT NULL,"
     " PRIMARY KEY(sub, pending, topic)) WITHOUT ROWID;"
     "CREATE TABLE sub_confirms("
     " addr TEXT NOT NULL,"
     " day INTEGER NOT NULL," /* epoch seconds / 86400 */
     " n INTEGER NOT NULL,"
     " PRIMARY KEY(addr, day)) WITHOUT ROWID;"
     "CREATE TABLE outbox("
     " id INTEGER PRIMARY KEY,"
     " sub INTEGER NOT NULL REFERENCES subscriptions(id),"
     " kind INTEGER NOT NULL," /* enum tb_subs_kind */
     " message_id TEXT NOT NULL UNIQUE,"
     " rcpt TEXT NOT NULL,"
     " state INTEGER NOT NULL DEFAULT 0," /* 0 pending, 1 sent, 2 failed, 3 dropped */
     " attempts INTEGER NOT NULL DEFAULT 0,"
     " queued INTEGER NOT NULL,"
     " next_try INTEGER NOT NULL,"
     " done INTEGER,"
     " last_error TEXT,"
     " data BLOB,"                            /* the message; NULL once done */
     " claim_pid INTEGER NOT NULL DEFAULT 0," /* the process sending it now, or 0 */
     " claim_at INTEGER NOT NULL DEFAULT 0);" /* since when */
     "CREATE INDEX outbox_queue ON outbox(state, id);"
     "CREATE INDEX outbox_sub ON outbox(sub, state);"
     "CREATE INDEX outbox_done ON outbox(done) WHERE done IS NOT NULL;"
     "CREATE TABLE mail_totals(what TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
     "INSERT INTO mail_totals VALUES('sent', 0), ('failed', 0);"),
    /* 14: RFC 5005 archive pages (archive.c): which entries each feed's
     * complete page N holds, fixed once the page is formed, and which are
     * current (page 0); per feed, the newest entry already looked at. */
    ("CREATE TABLE archive("
     " feed TEXT NOT NULL," /* "all" or "topics/NAME" */
     " entry_id INTEGER NOT NULL,"
     " page INTEGER NOT NULL," /* 1 = the oldest; 0 = the current document */
     " pos INTEGER NOT NULL,"  /* 0 = the page's newest */
     " PRIMARY KEY(feed, entry_id)) WITHOUT ROWID;"
     "CREATE INDEX archive_page ON archive(feed, page, pos);"
     "CREATE TABLE archive_feeds("
     " feed TEXT PRIMARY KEY,"
     " seen INTEGER NOT NULL,"               /* entries up to this id were looked at */
     " what TEXT NOT NULL) WITHOUT ROWID;"), /* the query and sources they were matched with */
    /* 15: the WebSub hub's subscriptions (tb_websub.h, store/websub.c): one
     * row per (topic, callback), topic the feed's path ("topics/x.rss");
     * whether a delivery is owed and when to try it; and the hash of each
     * feed document last seen, so a restart does not push unchanged feeds. */
    ("CREATE TABLE websub_subs("
     " id INTEGER PRIMARY KEY,"
     " topic TEXT NOT NULL,"
     " callback TEXT NOT NULL,"
     " secret TEXT,"
     " lease INTEGER NOT NULL,"
     " expires INTEGER NOT NULL,"
     " created INTEGER NOT NULL,"
     " pending INTEGER NOT NULL DEFAULT 0,"
     " attempts INTEGER NOT NULL DEFAULT 0,"
     " next_try INTEGER NOT NULL DEFAULT 0,"
     " UNIQUE(topic, callback));"
     "CREATE INDEX websub_subs_expires ON websub_subs(expires);"
     "CREATE TABLE websub_docs(path TEXT PRIMARY KEY, hash TEXT NOT NULL) WITHOUT ROWID;"),
    /* 16: WebSub subscriptions upstream (tb_push.h), one per source. */
    "CREATE TABLE push_subs("
    " source_id INTEGER PRIMARY KEY REFERENCES sources(id),"
    " hub TEXT NOT NULL,"
    " topic TEXT NOT NULL,"
    " id TEXT NOT NULL UNIQUE," /* the callback id */
    " secret TEXT NOT NULL,"
    " state INTEGER NOT NULL," /* enum tb_push_state */
    " requested INTEGER NOT NULL DEFAULT 0,"
    " lease_end INTEGER NOT NULL DEFAULT 0,"
    " next_try INTEGER NOT NULL DEFAULT 0,"
    " failures INTEGER NOT NULL DEFAULT 0,"
    " reason TEXT,"
    " last_push INTEGER NOT NULL DEFAULT 0,"
    " pushes INTEGER NOT NULL DEFAULT 0,"
    " rejected INTEGER NOT NULL DEFAULT 0);",
    /* 17: topic memberships (topic.c), TOPIC_MEMBERS_SQL. */
    TOPIC_MEMBERS_SQL("INTEGER PRIMARY KEY", "WITHOUT ROWID"),
    /* 18: polling by leases (tb_lease.h, store/lease.c): the node holding
     * a source's poll and until when, the token each claim increments
     * (the writes of a poll carry it), which node last polled it and
     * when, and whether the config polls it at all (sources removed from
     * it or paused keep their rows). Due sources are found by next_poll. */
    ("ALTER TABLE sources ADD COLUMN lease_node TEXT;"
     "ALTER TABLE sources ADD COLUMN lease_until INTEGER;"
     "ALTER TABLE sources ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE sources ADD COLUMN polled_node TEXT;"
     "ALTER TABLE sources ADD COLUMN polled_at INTEGER;"
     "ALTER TABLE sources ADD COLUMN active INTEGER NOT NULL DEFAULT 1;"
     "CREATE INDEX sources_due ON sources(next_poll) WHERE active = 1 AND gone = 0;"),
    /* 19: jobs that run once across the
     * nodes (tb_jobs.h, store/jobs.c): the node holding a job's run, until
     * when, the token each claim increments, the last run completed; and
     * outbox messages claimed by node, lease and token (tb_subs_claim()). */
    ("CREATE TABLE jobs(name TEXT PRIMARY KEY, lease_node TEXT, lease_until INTEGER,"
     " token INTEGER NOT NULL DEFAULT 0, last_start INTEGER NOT NULL DEFAULT 0,"
     " last_done INTEGER NOT NULL DEFAULT 0, last_node TEXT, runs INTEGER NOT NULL DEFAULT 0);"
     "ALTER TABLE outbox ADD COLUMN claim_node TEXT;"
     "ALTER TABLE outbox ADD COLUMN claim_until INTEGER;"
     "ALTER TABLE outbox ADD COLUMN claim_token INTEGER NOT NULL DEFAULT 0;"),
    /* 20: the change feed (tb_changes.h), written
     * on PostgreSQL only, here so both engines count versions alike. */
    CHANGES_SQL("INTEGER PRIMARY KEY"),
    /* 21: WebSub deliveries once across the nodes (tb_websub.h): the hash
     * of the document a subscriber last accepted, and the claim (node,
     * lease end, token) of the delivery in flight. */
    ("ALTER TABLE websub_subs ADD COLUMN sent_hash TEXT;"
     "ALTER TABLE websub_subs ADD COLUMN claim_node TEXT;"
     "ALTER TABLE websub_subs ADD COLUMN claim_until INTEGER;"
     "ALTER TABLE websub_subs ADD COLUMN claim_token INTEGER NOT NULL DEFAULT 0;"
     /* and the subscriber's requests to a hub, claimed by a count. */
     "ALTER TABLE push_subs ADD COLUMN claim_token INTEGER NOT NULL DEFAULT 0;"),
    /* 22: the documents' versions (written on PostgreSQL only, as 20). */
    DOC_VERSIONS_SQL("WITHOUT ROWID"),
};
#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

/*
 * PostgreSQL's schema. A new database gets pg_base, the tables and indexes
 * of SQLite's version PG_BASE_VERSION (the end state of migrations 1..16)
 * in one step; pg_migrations[i] takes it from PG_BASE_VERSION + i to the
 * next, the same changes as SQLite's migration of that number, so both
 * engines count versions alike. The version is kept in tb_schema, and a
 * node migrates under a transaction-scoped advisory lock, so that nodes
 * starting at once wait for each other and the second one finds the work
 * done. The differences from SQLite's tables:
 * - 64-bit integers are bigint, REAL double precision, BLOB bytea, and
 *   the rowid ids ({id}) identities from a sequence;
 * - no FTS5 index: topics are matched by the topic module on the node
 *   that stores an entry (same tokenizer), not by PostgreSQL;
 * - no foreign keys: SQLite declares them but never enforces them
 *   (configure()); PostgreSQL would, at a cost on every insert.
 */
#define PG_BASE_VERSION 16
#define PG_SCHEMA_LOCK "7523094288207667809" /* pg_advisory_xact_lock's key ("tributar") */

static const char pg_base[] =
    "CREATE TABLE sources("
    " id {id},"
    " name text NOT NULL UNIQUE,"
    " url text,"
    " feed_id text, title text, link text, self text,"
    " etag text, last_modified text,"
    " last_attempt bigint, last_success bigint, last_status bigint, last_error text,"
    " next_poll bigint, failures bigint NOT NULL DEFAULT 0,"
    " entries_seen bigint NOT NULL DEFAULT 0,"
    " config_url text, ttl bigint NOT NULL DEFAULT 0,"
    " gone bigint NOT NULL DEFAULT 0,"
    " weight double precision NOT NULL DEFAULT 1, grp text,"
    " arxiv_record bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE entries("
    " id {id},"
    " out_id text NOT NULL UNIQUE,"
    " origin bigint NOT NULL,"
    " upstream_id text, id_is_permalink bigint NOT NULL DEFAULT 1,"
    " title text, link text, canon_link text, arxiv_id text, doi text,"
    " published bigint, updated bigint, first_seen bigint NOT NULL,"
    " sort_time bigint NOT NULL,"
    " authors text, categories text,"
    " authors_json text, contributors_json text, categories_json text, links_json text,"
    " summary text, summary_html bigint NOT NULL DEFAULT 0,"
    " content text, content_html bigint NOT NULL DEFAULT 0,"
    " rights text, base text, text text, hash bytea NOT NULL,"
    " content_type text);"
    "CREATE INDEX entries_canon_link ON entries(canon_link) WHERE canon_link IS NOT NULL;"
    "CREATE INDEX entries_arxiv_id ON entries(arxiv_id) WHERE arxiv_id IS NOT NULL;"
    "CREATE INDEX entries_doi ON entries(doi) WHERE doi IS NOT NULL;"
    "CREATE INDEX entries_sort ON entries(sort_time DESC);"
    "CREATE TABLE entry_keys("
    " source_id bigint NOT NULL,"
    " key text NOT NULL,"
    " entry_id bigint NOT NULL,"
    " PRIMARY KEY(source_id, key));"
    "CREATE INDEX entry_keys_entry ON entry_keys(entry_id);"
    "CREATE TABLE entry_sources("
    " entry_id bigint NOT NULL,"
    " source_id bigint NOT NULL,"
    " first_seen bigint NOT NULL,"
    " link text,"
    " PRIMARY KEY(entry_id, source_id));"
    "CREATE INDEX entry_sources_source ON entry_sources(source_id);"
    "CREATE TABLE mentions("
    " paper text NOT NULL,"
    " source_id bigint NOT NULL,"
    " entry_id bigint NOT NULL,"
    " at bigint NOT NULL,"
    " carries bigint NOT NULL,"
    " PRIMARY KEY(paper, source_id));"
    "CREATE INDEX mentions_at ON mentions(at, paper, source_id);"
    "CREATE TABLE arxiv_resolve("
    " id text PRIMARY KEY,"
    " state bigint NOT NULL,"
    " tries bigint NOT NULL DEFAULT 0,"
    " next_try bigint NOT NULL DEFAULT 0,"
    " voiced bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX arxiv_resolve_open ON arxiv_resolve(voiced) WHERE state = 0;"
    "CREATE INDEX arxiv_resolve_retry ON arxiv_resolve(next_try) WHERE state = 0 AND tries > 0;"
    "CREATE TABLE subscriptions("
    " id {id},"
    " addr text NOT NULL UNIQUE,"
    " state bigint NOT NULL,"
    " freq bigint NOT NULL DEFAULT 0,"
    " pending_freq bigint NOT NULL DEFAULT 0,"
    " created bigint NOT NULL,"
    " confirmed bigint NOT NULL DEFAULT 0,"
    " covered bigint NOT NULL DEFAULT 0,"
    " last_sent bigint NOT NULL DEFAULT 0,"
    " failures bigint NOT NULL DEFAULT 0,"
    " last_error text);"
    "CREATE TABLE sub_topics("
    " sub bigint NOT NULL,"
    " pending bigint NOT NULL,"
    " topic text NOT NULL,"
    " PRIMARY KEY(sub, pending, topic));"
    "CREATE TABLE sub_confirms("
    " addr text NOT NULL,"
    " day bigint NOT NULL,"
    " n bigint NOT NULL,"
    " PRIMARY KEY(addr, day));"
    "CREATE TABLE outbox("
    " id {id},"
    " sub bigint NOT NULL,"
    " kind bigint NOT NULL,"
    " message_id text NOT NULL UNIQUE,"
    " rcpt text NOT NULL,"
    " state bigint NOT NULL DEFAULT 0,"
    " attempts bigint NOT NULL DEFAULT 0,"
    " queued bigint NOT NULL,"
    " next_try bigint NOT NULL,"
    " done bigint,"
    " last_error text,"
    " data bytea,"
    " claim_pid bigint NOT NULL DEFAULT 0,"
    " claim_at bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX outbox_queue ON outbox(state, id);"
    "CREATE INDEX outbox_sub ON outbox(sub, state);"
    "CREATE INDEX outbox_done ON outbox(done) WHERE done IS NOT NULL;"
    "CREATE TABLE mail_totals(what text PRIMARY KEY, n bigint NOT NULL);"
    "INSERT INTO mail_totals VALUES('sent', 0), ('failed', 0);"
    "CREATE TABLE archive("
    " feed text NOT NULL,"
    " entry_id bigint NOT NULL,"
    " page bigint NOT NULL,"
    " pos bigint NOT NULL,"
    " PRIMARY KEY(feed, entry_id));"
    "CREATE INDEX archive_page ON archive(feed, page, pos);"
    "CREATE TABLE archive_feeds("
    " feed text PRIMARY KEY,"
    " seen bigint NOT NULL,"
    " what text NOT NULL);"
    "CREATE TABLE websub_subs("
    " id {id},"
    " topic text NOT NULL,"
    " callback text NOT NULL,"
    " secret text,"
    " lease bigint NOT NULL,"
    " expires bigint NOT NULL,"
    " created bigint NOT NULL,"
    " pending bigint NOT NULL DEFAULT 0,"
    " attempts bigint NOT NULL DEFAULT 0,"
    " next_try bigint NOT NULL DEFAULT 0,"
    " UNIQUE(topic, callback));"
    "CREATE INDEX websub_subs_expires ON websub_subs(expires);"
    "CREATE TABLE websub_docs(path text PRIMARY KEY, hash text NOT NULL);"
    "CREATE TABLE push_subs("
    " source_id bigint PRIMARY KEY,"
    " hub text NOT NULL,"
    " topic text NOT NULL,"
    " id text NOT NULL UNIQUE,"
    " secret text NOT NULL,"
    " state bigint NOT NULL,"
    " requested bigint NOT NULL DEFAULT 0,"
    " lease_end bigint NOT NULL DEFAULT 0,"
    " next_try bigint NOT NULL DEFAULT 0,"
    " failures bigint NOT NULL DEFAULT 0,"
    " reason text,"
    " last_push bigint NOT NULL DEFAULT 0,"
    " pushes bigint NOT NULL DEFAULT 0,"
    " rejected bigint NOT NULL DEFAULT 0);";

/* PostgreSQL's migrations past PG_BASE_VERSION: pg_migrations[i] is
 * SQLite's migration PG_BASE_VERSION + i + 1, in PostgreSQL's words; the
 * last element is NULL. */
static const char *const pg_migrations[] = {
    TOPIC_MEMBERS_SQL("{id}", ""), /* 17 */
    /* 18: polling by leases. */
    ("ALTER TABLE sources ADD COLUMN lease_node text,"
     " ADD COLUMN lease_until bigint,"
     " ADD COLUMN lease_token bigint NOT NULL DEFAULT 0,"
     " ADD COLUMN polled_node text,"
     " ADD COLUMN polled_at bigint,"
     " ADD COLUMN active bigint NOT NULL DEFAULT 1;"
     "CREATE INDEX sources_due ON sources(next_poll) WHERE active = 1 AND gone = 0;"),
    /* 19 (jobs): jobs run once, outbox claims. */
    ("CREATE TABLE jobs(name text PRIMARY KEY, lease_node text, lease_until bigint,"
     " token bigint NOT NULL DEFAULT 0, last_start bigint NOT NULL DEFAULT 0,"
     " last_done bigint NOT NULL DEFAULT 0, last_node text, runs bigint NOT NULL DEFAULT 0);"
     "ALTER TABLE outbox ADD COLUMN claim_node text, ADD COLUMN claim_until bigint,"
     " ADD COLUMN claim_token bigint NOT NULL DEFAULT 0;"),
    CHANGES_SQL("{id}"), /* 20 */
    /* 21: WebSub deliveries once. */
    ("ALTER TABLE websub_subs ADD COLUMN sent_hash text, ADD COLUMN claim_node text,"
     " ADD COLUMN claim_until bigint, ADD COLUMN claim_token bigint NOT NULL DEFAULT 0;"
     "ALTER TABLE push_subs ADD COLUMN claim_token bigint NOT NULL DEFAULT 0;"),
    DOC_VERSIONS_SQL(""), /* 22 */
    NULL,                 /* the end (the array is never empty) */
};
#define NPG_MIGRATIONS ((int)(sizeof(pg_migrations) / sizeof(pg_migrations[0])) - 1)

_Static_assert(PG_BASE_VERSION + NPG_MIGRATIONS ==
                   (int)(sizeof(migrations) / sizeof(migrations[0])),
               "a schema migration for SQLite needs its PostgreSQL twin in pg_migrations");

static const char *const stmt_sql[TB__ST_COUNT] = {
    [TB__ST_BEGIN] = "BEGIN IMMEDIATE",
    [TB__ST_COMMIT] = "COMMIT",
    [TB__ST_ROLLBACK] = "ROLLBACK",
    /* The text is read by its own statement and bound: INSERT ... SELECT
     * opens a statement savepoint, and FTS5 writes a segment at each. */
    [TB__ST_INDEX] = "INSERT INTO entries_fts(rowid, title, text, authors, categories)"
                     " VALUES(?1, ?2, ?3, ?4, ?5)",
    [TB__ST_UNINDEX] = "INSERT INTO entries_fts(entries_fts, rowid, title, text, authors,"
                       " categories) VALUES('delete', ?1, ?2, ?3, ?4, ?5)",
    [TB__ST_INDEX_TEXT] = "SELECT title, text, authors, categories FROM entries WHERE id = ?1",
};

int tb__store_fail(struct tb_store *s, char *err, size_t errlen, const char *what)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s", what,
                 s->db != NULL ? sqlite3_errmsg(s->db) : tb_db_errmsg(s->sql));
    return TB_ESTORE;
}

sqlite3_stmt *tb__store_stmt(struct tb_store *s, enum tb__stmt which)
{
    sqlite3_stmt *st = s->stmt[which];

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

int tb__store_q(struct tb_store *s, enum tb__q which, const char *sql, struct tb_db_stmt **out,
                char *err, size_t errlen)
{
    int rc = 0;

    if (s->q[which] == NULL)
        rc = tb_db_prepare(s->sql, sql, &s->q[which], err, errlen);
    else
        tb_db_reset(s->q[which]);
    *out = s->q[which];
    return rc;
}

int tb__store_done(struct tb_store *s, sqlite3_stmt *st, char *err, size_t errlen, const char *what)
{
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        rc = tb__store_fail(s, err, errlen, what);
    else
        rc = 0;
    sqlite3_reset(st);
    return rc;
}

int tb__store_lost(char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "transaction rolled back after an earlier error");
    return TB_ESTORE;
}

int tb_store_begin(struct tb_store *s, char *err, size_t errlen)
{
    int rc;

    if (s->db == NULL && s->in_txn) {
        /* As SQLite's BEGIN in a transaction (tb_db would nest it). */
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "begin: a batch is open already");
        return TB_ESTORE;
    }
    if (s->db == NULL)
        rc = tb_db_begin(s->sql, TB_DB_IMMEDIATE, err, errlen);
    else
        rc = tb__store_done(s, tb__store_stmt(s, TB__ST_BEGIN), err, errlen, "begin");

    if (rc == 0) {
        s->in_txn = 1;
        s->nunindexed = 0;
        s->ntouched = 0;
        s->nchanged = 0;
        s->papers_locked = 0;
        tb__store_voiced_drop(s, 0);
    }
    return rc;
}

int tb_store_commit(struct tb_store *s, char *err, size_t errlen)
{
    int rc;

    s->in_txn = 0;
    s->papers_locked = 0;
    if (s->db == NULL) {
        /* PostgreSQL: tb_db_commit rolls back what the server aborted;
         * the batch's memberships go into the same transaction. */
        if (tb_db_depth(s->sql) == 0) {
            s->nunindexed = 0;
            s->ntouched = 0;
            return tb__store_lost(err, errlen);
        }
        rc = tb__store_index_all(s, err, errlen);
        if (rc != 0) {
            (void)tb_db_rollback(s->sql);
            return rc;
        }
        return tb_db_commit(s->sql, err, errlen);
    }
    if (sqlite3_get_autocommit(s->db)) {
        s->nunindexed = 0;
        return tb__store_lost(err, errlen);
    }
    rc = tb__store_index_all(s, err, errlen);
    if (rc == 0)
        rc = tb__store_done(s, tb__store_stmt(s, TB__ST_COMMIT), err, errlen, "commit");
    if (rc != 0 && !sqlite3_get_autocommit(s->db))
        (void)tb__store_done(s, tb__store_stmt(s, TB__ST_ROLLBACK), NULL, 0, "rollback");
    return rc;
}

/* The entry `id` inserted in this transaction, so not indexed yet, or
 * NULL: those rowids are noted in ascending order (a new rowid is above
 * every one in the table), so a binary search finds it. */
static struct tb__unindexed *pending(const struct tb_store *s, int64_t id)
{
    size_t lo = 0, hi = s->nunindexed, mid;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (s->unindexed[mid].id == id)
            return &s->unindexed[mid];
        if (s->unindexed[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int tb__store_index_later(struct tb_store *s, int64_t id, const char *const col[4])
{
    struct tb__unindexed *v;
    int rc;

    /* TB_STORE_TEMP: indexed all at once by tb_store_sync_index(). On
     * PostgreSQL there is no full-text index: the topic module matches
     * (s->members), at the same moment. */
    if ((s->flags & TB_STORE_TEMP) || (s->db == NULL && !s->members))
        return 0;
    assert(s->nunindexed == 0 || s->unindexed[s->nunindexed - 1].id < id);
    rc = TB_VEC_RESERVE(s->unindexed, s->aunindexed, s->nunindexed + 1, TB_VEC_MAX);
    if (rc)
        return rc;
    v = &s->unindexed[s->nunindexed++];
    v->id = id;
    memcpy(v->col, col, sizeof(v->col));
    v->reread = 0;
    return 0;
}

/* Adds entry id's stored text to the index, or with `which` TB__ST_UNINDEX
 * takes it out; an id not in the table is skipped. */
static int index_stored(struct tb_store *s, int64_t id, enum tb__stmt which, char *err,
                        size_t errlen)
{
    sqlite3_stmt *get = tb__store_stmt(s, TB__ST_INDEX_TEXT), *put;
    int rc, i;

    sqlite3_bind_int64(get, 1, id);
    rc = sqlite3_step(get);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(get);
        return rc == SQLITE_DONE ? 0 : tb__store_fail(s, err, errlen, "index entry");
    }
    put = tb__store_stmt(s, which);
    sqlite3_bind_int64(put, 1, id);
    for (i = 0; i < 4; i++)
        sqlite3_bind_value(put, 2 + i, sqlite3_column_value(get, i));
    rc = tb__store_done(s, put, err, errlen, "index entry");
    sqlite3_reset(get);
    return rc;
}

/* Indexes a new entry with the text it was inserted with: reading it back
 * from the table instead cost a page read per entry, the pages written
 * early in a large batch having left the page cache by its end. */
static int index_new(struct tb_store *s, const struct tb__unindexed *u, char *err, size_t errlen)
{
    sqlite3_stmt *put;
    int i;

    if (u->reread)
        return index_stored(s, u->id, TB__ST_INDEX, err, errlen);
    put = tb__store_stmt(s, TB__ST_INDEX);
    sqlite3_bind_int64(put, 1, u->id);
    for (i = 0; i < 4; i++) {
        if (u->col[i] != NULL)
            sqlite3_bind_text(put, 2 + i, u->col[i], -1, SQLITE_STATIC);
    }
    return tb__store_done(s, put, err, errlen, "index entry");
}

int tb__store_reindex(struct tb_store *s, int64_t id, int after, char *err, size_t errlen)
{
    struct tb__unindexed *u;

    if ((s->flags & TB_STORE_TEMP) || (s->db == NULL && !s->members))
        return 0;
    /* A rewrite of a pending entry, even one a failed savepoint undoes
     * later, leaves the table right: index what it holds at the end. */
    u = pending(s, id);
    if (u != NULL) {
        u->reread = 1;
        return 0;
    }
    /* Its memberships are matched again from the table at the end. */
    if (s->members && after && tb__topic_touch(s, id) != 0)
        return -ENOMEM;
    if (s->db == NULL)
        return 0;
    return index_stored(s, id, after ? TB__ST_INDEX : TB__ST_UNINDEX, err, errlen);
}

int tb__store_index_all(struct tb_store *s, char *err, size_t errlen)
{
    const struct tb__unindexed *u;
    size_t i;
    /* Row locks first (arxiv_resolve), then the topic and change-feed
     * advisory locks, which other transactions take last too. */
    int rc = tb__store_voiced(s, err, errlen);

    rc = rc ? rc : s->members ? tb__topic_stored(s, err, errlen) : 0;
    s->ntouched = 0;
    for (i = 0; rc == 0 && s->db != NULL && i < s->nunindexed; i++) {
        u = &s->unindexed[i];
        rc = index_new(s, u, err, errlen);
    }
    s->nunindexed = 0;
    /* The change feed last: its lock is held from here to the commit. */
    rc = rc ? rc : tb__changes_record(s, err, errlen);
    s->nchanged = 0;
    return rc;
}

static int exec(struct tb_store *s, const char *sql, char *err, size_t errlen, const char *what)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return tb__store_fail(s, err, errlen, what);
    return 0;
}

/* After each commit of a TB_STORE_CHECKPOINT_LATER connection: notes the
 * WAL's size for tb_store_wal_bytes(). A writer starts the WAL over only
 * when a transaction begins with all of it copied back, which with a
 * checkpointer running beside a busy writer seldom happens: past
 * WAL_HARD_BYTES it checkpoints itself in RESTART mode (copying what the
 * other left, then waiting for the readers), so the file stays bounded. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct tb_store *s = arg;

    s->wal_bytes = pages > 0 ? (size_t)pages * (size_t)s->page_size : 0;
    if (s->wal_bytes >= WAL_HARD_BYTES)
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
    return SQLITE_OK;
}

/* The integer an SQL statement (a PRAGMA) returns in *v. */
static int pragma_int(struct tb_store *s, const char *sql, int *v, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    rc = rc == SQLITE_ROW ? 0 : tb__store_fail(s, err, errlen, sql);
    sqlite3_finalize(st);
    return rc;
}

/* Durability and speed settings: a daemon's file, or merge's throwaway. */
static int configure(struct tb_store *s, char *err, size_t errlen)
{
    /* WAL with synchronous=NORMAL: a commit survives a process crash (a
     * power loss may undo the last ones). An 8 MB page cache, four times
     * SQLite's default, keeps the inner pages of the lookup indexes of a
     * large database in memory; more saved little and grew the RSS. The
     * WAL is copied back into the database once it holds 40 MB rather than
     * 4 MB, so an index page that many transactions rewrite is copied
     * once per checkpoint rather than after nearly every batch.
     * Foreign keys are not enforced: nothing is ever deleted, every row
     * refers to a source the put looked up or an entry it just inserted,
     * and the checks cost ~5% of storing a new entry (five lookups). The
     * tests check them (PRAGMA foreign_key_check).
     * A new database gets 8 KB pages (the page size must be set before
     * the switch to WAL; an existing file keeps its own): an entry row is
     * ~2.8 KB, so 4 KB pages held one each and were ~30% empty, and a
     * batch's commit rewrites the leaves of the random-order indexes
     * (out_id, sort, links), fewer of them with larger pages. A first
     * cycle of 5,000 sources: WAL 1.2-1.6 GB in 290-390k frames -> 1.1 GB
     * in 137k, database 396 -> 362 MB. 16 KB pages spilled every feed's
     * savepoint journal past 1 MB and cost more store CPU. */
    static const char normal[] = "PRAGMA page_size=8192;"
                                 " PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                 " PRAGMA cache_size=-8192;";
    /* MEMORY rather than OFF: ROLLBACK must still work when a put fails.
     * The file is private to this process (EXCLUSIVE spares a lock per
     * transaction) and the OS caches it anyway, so a 16 MB page cache is
     * enough for the indexes that lookups touch; a larger one only grows
     * the peak RSS. */
    static const char temp[] = "PRAGMA journal_mode=MEMORY; PRAGMA synchronous=OFF;"
                               " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384;"
                               " PRAGMA locking_mode=EXCLUSIVE;";
    char sql[64];
    int rc;

    sqlite3_busy_timeout(s->db, TB__STORE_BUSY_MS);
    rc = exec(s, (s->flags & TB_STORE_TEMP) ? temp : normal, err, errlen, "configure");
    if (rc == 0)
        rc = pragma_int(s, "PRAGMA page_size", &s->page_size, err, errlen);
    /* The WAL's bound in bytes, whatever the page size. */
    if (rc == 0 && !(s->flags & TB_STORE_TEMP)) {
        snprintf(sql, sizeof(sql), "PRAGMA wal_autocheckpoint=%d;", WAL_AUTO_BYTES / s->page_size);
        rc = exec(s, sql, err, errlen, "configure");
    }
    /* The hook replaces the automatic checkpoint of wal_autocheckpoint. */
    if (rc == 0 && (s->flags & TB_STORE_CHECKPOINT_LATER) && !(s->flags & TB_STORE_TEMP))
        sqlite3_wal_hook(s->db, wal_hook, s);
    /* A reader walks the inner pages of the tables it reads again and
     * again, their leaves mostly once: 2 MB keeps the former (peak RSS of
     * a first cycle of 5,000 sources: 2 MB less). */
    if (rc == 0 && (s->flags & TB_STORE_READER))
        rc = exec(s, "PRAGMA cache_size=-2048;", err, errlen, "configure");
    return rc;
}

static int apply_migrations(struct tb_store *s, int from, char *err, size_t errlen)
{
    char sql[64];
    int rc = 0;
    int v;

    for (v = from; rc == 0 && v < NMIGRATIONS; v++) {
        rc = exec(s, migrations[v], err, errlen, "migrate");
        snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", v + 1);
        if (rc == 0)
            rc = exec(s, sql, err, errlen, "migrate");
    }
    return rc;
}

/* Brings the schema up to date; reads the version inside the write
 * transaction so two processes opening a new file cannot both migrate. */
static int migrate(struct tb_store *s, char *err, size_t errlen)
{
    int version = 0;
    int rc = exec(s, "BEGIN IMMEDIATE", err, errlen, "migrate");

    if (rc == 0)
        rc = pragma_int(s, "PRAGMA user_version", &version, err, errlen);
    if (rc == 0 && version > NMIGRATIONS) {
        snprintf(err, errlen, "database schema version %d is newer than this tributary knows (%d)",
                 version, NMIGRATIONS);
        rc = TB_ESTORE;
    }
    if (rc == 0)
        rc = apply_migrations(s, version, err, errlen);
    if (rc == 0)
        rc = exec(s, "COMMIT", err, errlen, "migrate");
    if (rc != 0 && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* PostgreSQL: brings the schema up to date (see pg_base) in one
 * transaction, under an advisory lock that serialises nodes starting at
 * once. */
static int pg_migrate(struct tb_store *s, char *err, size_t errlen)
{
    int64_t version = 0;
    int rc = tb_db_begin(s->sql, TB_DB_IMMEDIATE, err, errlen);
    int began = rc == 0, v;

    if (rc == 0)
        rc = tb_db_run(s->sql, err, errlen, "SELECT pg_advisory_xact_lock(" PG_SCHEMA_LOCK ")", "");
    if (rc == 0)
        rc = tb_db_exec(s->sql, "CREATE TABLE IF NOT EXISTS tb_schema(version bigint NOT NULL)",
                        err, errlen);
    if (rc == 0)
        rc = tb_db_scalar(s->sql, &version, err, errlen,
                          "SELECT coalesce(max(version), 0) FROM tb_schema", "");
    if (rc == 0 && version > PG_BASE_VERSION + NPG_MIGRATIONS) {
        snprintf(err, errlen,
                 "database schema version %lld is newer than this tributary knows (%d)",
                 (long long)version, PG_BASE_VERSION + NPG_MIGRATIONS);
        rc = TB_ESTORE;
    }
    if (rc == 0 && version < PG_BASE_VERSION) {
        rc = tb_db_exec(s->sql, pg_base, err, errlen);
        version = PG_BASE_VERSION;
    }
    for (v = (int)version; rc == 0 && v < PG_BASE_VERSION + NPG_MIGRATIONS; v++)
        rc = tb_db_exec(s->sql, pg_migrations[v - PG_BASE_VERSION], err, errlen);
    if (rc == 0)
        rc = tb_db_run(s->sql, err, errlen, "DELETE FROM tb_schema", "");
    if (rc == 0)
        rc = tb_db_run(s->sql, err, errlen, "INSERT INTO tb_schema(version) VALUES(?1)", "i",
                       (int64_t)(PG_BASE_VERSION + NPG_MIGRATIONS));
    if (rc == 0) {
        began = 0; /* a failed commit is rolled back by tb_db_commit */
        rc = tb_db_commit(s->sql, err, errlen);
    }
    if (rc != 0 && began)
        (void)tb_db_rollback(s->sql);
    return rc;
}

/* tb_store_open on PostgreSQL: the connection, the schema. */
static int open_pg(struct tb_store *s, const char *uri, char *err, size_t errlen)
{
    char why[512] = "";
    int rc = tb_db_open(&s->sql, uri, 0, why, sizeof(why));

    if (rc != 0) {
        /* libpq's message says which server and why, over several lines. */
        why[strcspn(why, "\n")] = '\0';
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "cannot open the PostgreSQL database: %s", why);
        return rc;
    }
    rc = tb_db_busy_timeout(s->sql, TB__STORE_BUSY_MS, err, errlen);
    if (rc == 0)
        rc = pg_migrate(s, err, errlen);
    return rc;
}

static int prepare_all(struct tb_store *s, char *err, size_t errlen)
{
    int i;

    for (i = 0; i < TB__ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK)
            return tb__store_fail(s, err, errlen, "prepare");
    }
    return 0;
}

/* Process-wide SQLite settings, made before its first use (sqlite3_config
 * refuses them afterwards, harmlessly). A batch stores each feed inside a
 * savepoint, and the first change to each page in it copies the page into
 * a journal that SQLite keeps in memory up to 64 KB and then in a file in
 * /var/tmp: a feed of 16 entries touches ~80 index pages, so a first cycle
 * of 5,000 sources wrote 2 GB there. Up to 1 MB stays in memory now (the
 * store's VFS makes the move to a file past that work: store_vfs.c). The
 * memory statistics, which no one reads, cost a global mutex per malloc. */
static int vfs_rc; /* configure_sqlite()'s VFS registration */

static void configure_sqlite(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, STMT_JOURNAL_SPILL);
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* Without it, a journal past the spill size failed with SQLITE_FULL. */
    vfs_rc = tb__store_vfs_register();
}

int tb_store_open(struct tb_store **out, const char *path, int flags, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct tb_store *s = calloc(1, sizeof(*s));
    int rc;

    *out = NULL;
    (void)pthread_once(&once, configure_sqlite);
    if (s == NULL)
        return -ENOMEM;
    if (vfs_rc != SQLITE_OK) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: cannot register the store's SQLite VFS", path);
        free(s);
        return TB_ESTORE;
    }
    s->flags = flags;
    if (tb_db_is_pg(path)) {
        s->members = 1; /* no FTS5 there: the matcher's memberships */
        rc = open_pg(s, path, err, errlen);
        if (rc != 0) {
            tb_store_close(s);
            return rc;
        }
        *out = s;
        return 0;
    }
    /* A TEMP store is private to the one thread that opened it (merge), so
     * it can skip SQLite's per-call connection mutex; a daemon's store keeps
     * it as a safety net. */
    rc = sqlite3_open_v2(path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             ((flags & TB_STORE_TEMP) ? SQLITE_OPEN_NOMUTEX : 0),
                         NULL);
    if (rc != SQLITE_OK)
        rc = tb__store_fail(s, err, errlen, path);
    if (rc == 0)
        rc = tb_db_wrap_sqlite(&s->sql, s->db);
    if (rc == 0)
        rc = configure(s, err, errlen);
    if (rc == 0)
        rc = migrate(s, err, errlen);
    /* A throwaway database indexes its text once, when a topic query first
     * needs it, rather than entry by entry: FTS5 tokenizing is most of the
     * cost of storing, and `merge` without --topic never needs it. It is
     * also sorted once, by the one query that selects its entries, which is
     * cheaper than keeping the sort index up to date on every insert. */
    if (rc == 0 && (flags & TB_STORE_TEMP))
        rc = exec(s, "DROP INDEX entries_sort;", err, errlen, "defer index");
    if (rc == 0)
        rc = prepare_all(s, err, errlen);
    if (rc != 0) {
        tb_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void tb_store_close(struct tb_store *s)
{
    int i;

    if (s == NULL)
        return;
    for (i = 0; i < TB__ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]); /* NULL on PostgreSQL: a no-op */
    for (i = 0; i < TB__Q_COUNT; i++)
        tb_db_finalize(s->q[i]);
    tb_db_close(s->sql);
    sqlite3_close(s->db);
    free(s->unindexed);
    tb__matcher_free(s->matcher);
    free(s->touched);
    free(s->changed);
    tb__store_voiced_drop(s, 0);
    free(s->voiced);
    free(s->node);
    free(s);
}

int tb_store_sync_index(struct tb_store *s, char *err, size_t errlen)
{
    int rc;

    if (!s->fts_stale || s->db == NULL)
        return 0;
    rc = exec(s, "INSERT INTO entries_fts(entries_fts) VALUES('rebuild')", err, errlen,
              "full-text index");
    if (rc == 0)
        s->fts_stale = 0;
    return rc;
}

int tb_store_checkpoint(struct tb_store *s, char *err, size_t errlen)
{
    int rc;

    if (s->db == NULL)
        return 0; /* PostgreSQL checkpoints itself */
    rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

    /* BUSY: another connection is checkpointing, which does the same. */
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        return tb__store_fail(s, err, errlen, "checkpoint");
    return 0;
}

size_t tb_store_wal_bytes(const struct tb_store *s)
{
    return s->wal_bytes;
}

int tb_store_source_voice(struct tb_store *s, int64_t source_id, const char *group, double weight,
                          char *err, size_t errlen)
{
    struct tb_db_stmt *st;
    int rc;

    if (!(weight >= 0) || weight > TB_STORE_WEIGHT_MAX)
        return -EINVAL;
    /* Only a changed row is written: on PostgreSQL an UPDATE locks the rows
     * it matches to the end of the transaction, and a node starting (its
     * sources' sync is one transaction) would lock every source, waiting on
     * (and deadlocking with) the other nodes' polls, which hold their
     * sources' rows to their commits. */
    rc = tb__store_q(s, TB__Q_SRC_VOICE,
                     "UPDATE sources SET grp = ?2, weight = ?3"
                     " WHERE id = ?1 AND (grp IS DISTINCT FROM ?2 OR weight != ?3)",
                     &st, err, errlen);
    if (rc != 0)
        return rc;
    (void)tb_db_bind_int64(st, 1, source_id);
    (void)tb_db_bind_text(st, 2, group);
    (void)tb_db_bind_double(st, 3, weight);
    rc = tb_db_step(st, err, errlen);
    tb_db_reset(st);
    return rc < 0 ? rc : 0;
}

struct sqlite3 *tb_store_db(struct tb_store *s)
{
    return s->db;
}

struct tb_db *tb_store_sql(struct tb_store *s)
{
    return s->sql;
}

/* Source `name`'s id and url (*url NULL when it has none, else malloc'd)
 * into *id; -ENOENT when there is no such source. */
static int source_get(struct tb_store *s, const char *name, int64_t *id, char **url, char *err,
                      size_t errlen)
{
    struct tb_db_stmt *st;
    const char *u;
    int rc = tb__store_q(s, TB__Q_SRC_GET, "SELECT id, url FROM sources WHERE name = ?1", &st, err,
                         errlen);

    *url = NULL;
    if (rc != 0)
        return rc;
    (void)tb_db_bind_text(st, 1, name);
    rc = tb_db_step(st, err, errlen);
    if (rc == TB_DB_ROW) {
        *id = tb_db_column_int64(st, 0);
        u = tb_db_column_text(st, 1);
        if (u != NULL) {
            *url = strdup(u);
            rc = *url ? 0 : -ENOMEM;
        } else {
            rc = 0;
        }
    } else if (rc == TB_DB_DONE) {
        rc = -ENOENT;
    }
    tb_db_reset(st);
    return rc;
}

int tb_store_source(struct tb_store *s, const char *name, const char *url, int64_t *source_id,
                    char *err, size_t errlen)
{
    char *old = NULL;
    int rc;

    *source_id = 0;
    if (name == NULL)
        return -EINVAL;
    rc = source_get(s, name, source_id, &old, err, errlen);
    /* Two nodes may add the same source at once: the insert yields. */
    if (rc == -ENOENT)
        rc = tb_db_run(s->sql, err, errlen,
                       "INSERT INTO sources(name, url) VALUES(?1, ?2)"
                       " ON CONFLICT(name) DO NOTHING",
                       "tt", name, url);
    if (rc == 0 && *source_id == 0)
        rc = source_get(s, name, source_id, &old, err, errlen);
    if (rc == -ENOENT) {
        snprintf(err, errlen, "source %s: inserted, yet not found", name);
        rc = TB_ESTORE;
    }
    if (rc == 0 && url != NULL && (old == NULL || strcmp(old, url) != 0))
        rc = tb_db_run(s->sql, err, errlen, "UPDATE sources SET url = ?1 WHERE id = ?2", "ti", url,
                       *source_id);
    free(old);
    if (rc != 0)
        *source_id = 0;
    return rc;
}
