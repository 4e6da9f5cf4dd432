/*
 * Internals shared by the store's source files (src/store/: store.c,
 * store_put.c, store_load.c, store_state.c, store_json.c, store_prep.c,
 * store_vfs.c): the handle, its cached statements, the deferred FTS
 * indexing, the derived columns, and the
 * JSON codecs for list columns. Not a public header; subs.c, trending.c
 * and topic.c take little more than the tb_db connection (s->sql) from
 * it, and dedupe.c (no SQL) uses only the public tb_store.h.
 */
#ifndef TB_STORE_INT_H
#define TB_STORE_INT_H

#include <sqlite3.h>

#include "tb_buf.h"
#include "tb_db.h"
#include "tb_store.h"

struct tb__matcher;

#define TB__HASH_LEN 32        /* SHA-256 */
#define TB__STORE_BUSY_MS 5000 /* how long a connection waits for another's lock */

/* SQLite statements prepared once at open and reused (none on
 * PostgreSQL, where s->db is NULL); SQL in store.c. */
enum tb__stmt {
    TB__ST_BEGIN,
    TB__ST_COMMIT,
    TB__ST_ROLLBACK,
    TB__ST_INDEX,
    TB__ST_UNINDEX,
    TB__ST_INDEX_TEXT,
    TB__ST_COUNT
};

/* tb_db statements prepared at their first use and reused (tb__store_q);
 * SQL in the file named. */
enum tb__q {
    TB__Q_STATE_INS,    /* store_state.c */
    TB__Q_STATE_GET,    /* store_state.c */
    TB__Q_STATE_RESET,  /* store_state.c */
    TB__Q_STATE_PUT,    /* store_state.c */
    TB__Q_LOAD,         /* store_load.c */
    TB__Q_BRIEF,        /* store_load.c */
    TB__Q_ALSO,         /* store_load.c */
    TB__Q_COPIES,       /* store_load.c */
    TB__Q_VOICE,        /* store_load.c */
    TB__Q_SRC_NAME,     /* store_put.c */
    TB__Q_SRC_META,     /* store_put.c */
    TB__Q_MATCH,        /* store_put.c */
    TB__Q_SET_ORIGIN,   /* store_put.c */
    TB__Q_KEY_ADD,      /* store_put.c */
    TB__Q_SEEN_ADD,     /* store_put.c */
    TB__Q_INSERT,       /* store_put.c */
    TB__Q_UPDATE,       /* store_put.c */
    TB__Q_PAPER_KEY,    /* store_put.c */
    TB__Q_PAPER_FIND,   /* store_put.c */
    TB__Q_MENTION_ADD,  /* store_put.c */
    TB__Q_MENTION_MOVE, /* store_put.c */
    TB__Q_MENTION_DROP, /* store_put.c */
    TB__Q_ARXIV_VOICED, /* store_put.c */
    TB__Q_ARCH_TAKE,    /* archive.c */
    TB__Q_ARCH_TOP,     /* archive.c */
    TB__Q_ARCH_CLEAR,   /* archive.c */
    TB__Q_ARCH_NEW,     /* archive.c */
    TB__Q_ARCH_DROP,    /* archive.c */
    TB__Q_ARCH_NOTE,    /* archive.c */
    TB__Q_ARCH_SEEN,    /* archive.c */
    TB__Q_ARCH_IN,      /* archive.c */
    TB__Q_ARCH_CURRENT, /* archive.c */
    TB__Q_ARCH_ADD,     /* archive.c */
    TB__Q_ARCH_PAGES,   /* archive.c */
    TB__Q_ARCH_PAGE,    /* archive.c */
    TB__Q_SRC_GET,      /* store.c */
    TB__Q_SRC_VOICE,    /* store.c */
    TB__Q_COUNT
};

/* The columns a source's poll state is read from (store_state.c). */
#define TB__STATE_COLS                                                                             \
    "id, name, url, config_url, gone, etag, last_modified, last_attempt, last_success,"            \
    " last_status, last_error, next_poll, failures,"                                               \
    " (SELECT count(*) FROM entry_sources es WHERE es.source_id = sources.id), ttl,"               \
    " polled_node, polled_at, lease_node, lease_until"

/* An entry inserted in the open transaction and not indexed yet, with the
 * text it was inserted with (borrowed from the caller's feed and prep). */

struct tb__unindexed {
    int64_t id;         /* its rowid */
    const char *col[4]; /* title, text, authors, categories as inserted */
    int reread;         /* rewritten since: index what the table holds */
};

/* An arXiv id a put voiced (store_put.c): its row in arxiv_resolve is
 * written at the end of the transaction, in key order (tb__store_voiced). */
struct tb__voiced {
    char *paper; /* "arxiv:" + id (malloc'd) */
    int state;   /* 2 when an arXiv record carried it, else 0 */
};

struct tb_db;

struct tb_store {
    sqlite3 *db;                       /* the SQLite connection, or NULL on PostgreSQL */
    struct tb_db *sql;                 /* tb_db over it (not its owner), or the PostgreSQL one */
    sqlite3_stmt *stmt[TB__ST_COUNT];  /* cached statements, by enum tb__stmt */
    struct tb_db_stmt *q[TB__Q_COUNT]; /* cached tb_db statements, by enum tb__q */
    int flags;                         /* TB_STORE_* given to tb_store_open() */
    int fts_stale;                     /* TB_STORE_TEMP: entries not yet in the FTS index */
    int in_txn;                        /* between tb_store_begin() and tb_store_commit() */
    int papers_locked;               /* in_txn: tb_store_lock_papers() locked the batch's papers */
    int page_size;                   /* the database's, in bytes */
    size_t wal_bytes;                /* TB_STORE_CHECKPOINT_LATER: WAL size after the last commit */
    struct tb__unindexed *unindexed; /* entries inserted in this transaction, indexed at its end */
    size_t nunindexed, aunindexed;   /* count, allocated */
    int members;                     /* topics matched into topic_members (PostgreSQL; tests) */
    struct tb__matcher *matcher;     /* the topic matcher, made at its first use (topic.c) */
    int64_t *touched;                /* with members: entries rewritten in this transaction */
    size_t ntouched, atouched;       /* count, allocated */
    char *node;                      /* the change feed's node name (tb_changes.h), or NULL */
    int64_t *changed;                /* with node: entries stored in this transaction */
    size_t nchanged, achanged;       /* count, allocated */
    struct tb__voiced *voiced;       /* arXiv ids voiced in this transaction, written at its end */
    size_t nvoiced, avoiced;         /* count, allocated */
};

/* Registers the store's VFS as SQLite's default (store_vfs.c): the
 * default one with a savepoint journal's writes split. Once, before any
 * database is opened. An SQLite result code. */
int tb__store_vfs_register(void);

/* Writes "what: sqlite3_errmsg" into err and returns TB_ESTORE. */
int tb__store_fail(struct tb_store *s, char *err, size_t errlen, const char *what);

/* The cached statement `which`, reset and with its bindings cleared. */
sqlite3_stmt *tb__store_stmt(struct tb_store *s, enum tb__stmt which);

/* The cached tb_db statement `which` into *out, prepared from sql at its
 * first use, else reset with its bindings cleared; the store keeps it.
 * 0, or as tb_db_prepare (*out NULL). */
int tb__store_q(struct tb_store *s, enum tb__q which, const char *sql, struct tb_db_stmt **out,
                char *err, size_t errlen);

/* Steps a statement that returns no row, then resets it. 0 or TB_ESTORE. */
int tb__store_done(struct tb_store *s, sqlite3_stmt *st, char *err, size_t errlen,
                   const char *what);

/* For a put after SQLite itself rolled back the caller's transaction (disk
 * full, I/O error): says so in err and returns TB_ESTORE. */
int tb__store_lost(char *err, size_t errlen);

/* Notes that entry `id` was just inserted with the text col (title, text,
 * authors, categories; borrowed: they must live until the transaction
 * ends), so that it goes into the full-text index at the end of the
 * transaction (tb__store_index_all); rowids come in ascending order.
 * TB_STORE_TEMP stores, which index lazily, note nothing. 0 or -ENOMEM. */
int tb__store_index_later(struct tb_store *s, int64_t id, const char *const col[4]);

/* Around the rewrite of an already indexed entry: before it (after == 0)
 * takes the old text out of the index, after it puts the new text in. An
 * entry inserted in this transaction is left to tb__store_index_all, which
 * then reads its text from the table, and TB_STORE_TEMP stores do
 * nothing. 0 or TB_ESTORE. */
int tb__store_reindex(struct tb_store *s, int64_t id, int after, char *err, size_t errlen);

/* Indexes the entries noted since the transaction began, with the text they
 * were inserted with (or, if rewritten since, the table's), and forgets
 * them. 0 or TB_ESTORE. */
int tb__store_index_all(struct tb_store *s, char *err, size_t errlen);

/* Writes the arXiv ids voiced since the transaction began into
 * arxiv_resolve, sorted (two transactions writing some of the same rows
 * lock them in the same order), and forgets them. 0 or a store error. */
int tb__store_voiced(struct tb_store *s, char *err, size_t errlen);

/* How many new paper keys a transaction locks one by one on PostgreSQL;
 * past that, their buckets (store_put.c). Tests lower it. */
extern size_t tb__store_lock_fine_max;

/* Forgets the voiced ids from index `mark` on (what a rolled-back put noted). */
void tb__store_voiced_drop(struct tb_store *s, size_t mark);

/* With s->node (changes.c): notes the n entries a put stored in the open
 * transaction, for the change feed. 0 or -ENOMEM. */
int tb__changes_note(struct tb_store *s, const int64_t *ids, size_t n);

/* With s->node: writes the transaction's noted entries into the change
 * feed, under its advisory lock, and NOTIFYs; forgets them. Last thing
 * before the commit. 0 or a store error. */
int tb__changes_record(struct tb_store *s, char *err, size_t errlen);

/* Topic memberships (topic.c), where s->members: on PostgreSQL, and on
 * SQLite when a test asks (tb__topic_use_members). A topic query is
 * matched by the in-memory matcher (matcher.h): the entries a transaction
 * stores are matched at its end, in it, against every query the database
 * knows (topic_queries), and a query new to the database is backfilled by
 * streaming the stored entries through the matcher, tb__topic_batch at a
 * time, before its first selection. */
extern size_t tb__topic_batch;

/* Selects topics through memberships (on) or SQLite's FTS5 index (off);
 * PostgreSQL always uses memberships. 0, or -EINVAL (off on PostgreSQL). */
int tb__topic_use_members(struct tb_store *s, int on);

/* Notes that entry id (not one of s->unindexed) was rewritten in the open
 * transaction: its memberships are matched again at its end. 0 or -ENOMEM. */
int tb__topic_touch(struct tb_store *s, int64_t id);

/* Matches the transaction's new (s->unindexed) and rewritten (s->touched)
 * entries against every known topic query and writes their memberships,
 * inside the open transaction. 0, TB_ESTORE, -ENOMEM. */
int tb__topic_stored(struct tb_store *s, char *err, size_t errlen);

/* The id of topic query `query` in topic_queries into *id, registering it
 * and backfilling its memberships first when it is new or its backfill
 * unfinished. TB_EQUERY when the query does not compile; TB_ESTORE. */
int tb__topic_query_id(struct tb_store *s, const char *query, int64_t *id, char *err,
                       size_t errlen);

/* JSON text of a person, category or link list, written into b (emptied
 * first); an empty list leaves b empty. 0, -ENOMEM or TB_ETOOBIG. */
int tb__json_people(struct tb_buf *b, const struct tb_person *p);
int tb__json_categories(struct tb_buf *b, const struct tb_category *c);
int tb__json_links(struct tb_buf *b, const struct tb_link *l);

/* Plain ", "-joined names / terms for the FTS index, written into b (emptied first). */
int tb__join_names(struct tb_buf *b, const struct tb_person *p);
int tb__join_terms(struct tb_buf *b, const struct tb_category *c);

/* The derived columns of one entry (store_prep.c); strings in the prep's arena. */
struct tb__row {
    const char *authors, *categories;             /* plain names / terms for FTS, or NULL */
    const char *authors_json, *contributors_json; /* JSON lists, or NULL when empty */
    const char *categories_json, *links_json;     /* JSON lists, or NULL when empty */
    unsigned char hash[TB__HASH_LEN];             /* change-detection hash */
};

struct tb_store_prep {
    const struct tb_feed *feed; /* the feed the rows were made for */
    size_t n;                   /* its number of entries */
    struct tb__row *rows;       /* one per entry, in document order */
};

/* tb_store_prepare() with the rows in arena a rather than the feed's. */
int tb__store_prepare(struct tb_arena *a, const struct tb_feed *f, struct tb_store_prep **out);

/* Lists decoded from JSON text (NULL or malformed gives an empty list) into the arena. */
int tb__unjson_people(struct tb_arena *a, const char *json, struct tb_person **out);
int tb__unjson_categories(struct tb_arena *a, const char *json, struct tb_category **out);
int tb__unjson_links(struct tb_arena *a, const char *json, struct tb_link **out);

#endif
