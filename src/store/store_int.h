/*
 * Internals shared by the store's source files (src/store/: store.c,
 * store_put.c, store_load.c, store_state.c, store_json.c, store_prep.c,
 * store_fts.c, store_vfs.c): the handle, its cached statements, the
 * deferred FTS indexing and recorded tokens, the derived columns, and the
 * JSON codecs for list columns. Not a public header; topic.c and dedupe.c
 * use only the public tb_store.h.
 */
#ifndef TB_STORE_INT_H
#define TB_STORE_INT_H

#include <sqlite3.h>

#include "tb_buf.h"
#include "tb_store.h"

#define TB__HASH_LEN 32 /* SHA-256 */

/* Statements prepared once at open and reused; SQL in store.c. */
enum tb__stmt {
    TB__ST_BEGIN,
    TB__ST_COMMIT,
    TB__ST_ROLLBACK,
    TB__ST_SAVEPOINT,
    TB__ST_RELEASE,
    TB__ST_ROLLBACK_TO,
    TB__ST_SRC_GET,
    TB__ST_SRC_INS,
    TB__ST_SRC_URL,
    TB__ST_SRC_NAME,
    TB__ST_SRC_META,
    TB__ST_MATCH,
    TB__ST_KEY_ADD,
    TB__ST_SEEN_ADD,
    TB__ST_INSERT,
    TB__ST_UPDATE,
    TB__ST_LOAD,
    TB__ST_INDEX,
    TB__ST_UNINDEX,
    TB__ST_INDEX_TEXT,
    TB__ST_BRIEF,
    TB__ST_STATE_INS,
    TB__ST_STATE_GET,
    TB__ST_STATE_RESET,
    TB__ST_STATE_PUT,
    TB__ST_SRC_VOICE,
    TB__ST_PAPER_KEY,
    TB__ST_PAPER_FIND,
    TB__ST_MENTION_ADD,
    TB__ST_MENTION_MOVE,
    TB__ST_MENTION_DROP,
    TB__ST_COUNT
};

/* The columns a source's poll state is read from (store_state.c). */
#define TB__STATE_COLS                                                                             \
    "id, name, url, config_url, gone, etag, last_modified, last_attempt, last_success,"            \
    " last_status, last_error, next_poll, failures,"                                               \
    " (SELECT count(*) FROM entry_sources es WHERE es.source_id = sources.id), ttl"

/* An entry inserted in the open transaction and not indexed yet, with the
 * text it was inserted with (borrowed from the caller's feed and prep). */

struct tb__unindexed {
    int64_t id;                   /* its rowid */
    const char *col[4];           /* title, text, authors, categories as inserted */
    const struct tb__tokens *tok; /* their recorded tokens, or NULL */
    int reread;                   /* rewritten since: index what the table holds */
};

struct tb_store {
    sqlite3 *db;                      /* the connection */
    sqlite3_stmt *stmt[TB__ST_COUNT]; /* cached statements, by enum tb__stmt */
    int flags;                        /* TB_STORE_* given to tb_store_open() */
    int fts_stale;                    /* TB_STORE_TEMP: entries not yet in the FTS index */
    int in_txn;                       /* between tb_store_begin() and tb_store_commit() */
    int page_size;                    /* the database's, in bytes */
    size_t wal_bytes;                /* TB_STORE_CHECKPOINT_LATER: WAL size after the last commit */
    struct tb__unindexed *unindexed; /* entries inserted in this transaction, indexed at its end */
    struct tb__fts *fts;             /* a writer's token replay (store_fts.c), or NULL */
    size_t nunindexed, aunindexed;   /* count, allocated */
};

/* Registers the store's VFS as SQLite's default (store_vfs.c): the
 * default one with a savepoint journal's writes split. Once, before any
 * database is opened. An SQLite result code. */
int tb__store_vfs_register(void);

/* Writes "what: sqlite3_errmsg" into err and returns TB_ESTORE. */
int tb__store_fail(struct tb_store *s, char *err, size_t errlen, const char *what);

/* The cached statement `which`, reset and with its bindings cleared. */
sqlite3_stmt *tb__store_stmt(struct tb_store *s, enum tb__stmt which);

/* Steps a statement that returns no row, then resets it. 0 or TB_ESTORE. */
int tb__store_done(struct tb_store *s, sqlite3_stmt *st, char *err, size_t errlen,
                   const char *what);

/* Undoes a failed put: back to its savepoint when nested, else the transaction. */
void tb__store_undo(struct tb_store *s, int nested);

/* For a put after SQLite itself rolled back the caller's transaction (disk
 * full, I/O error): says so in err and returns TB_ESTORE. */
int tb__store_lost(char *err, size_t errlen);

/* Notes that entry `id` was just inserted with the text col (title, text,
 * authors, categories; borrowed: they must live until the transaction
 * ends), so that it goes into the full-text index at the end of the
 * transaction (tb__store_index_all); rowids come in ascending order.
 * tok, if not NULL, holds their tokens (tb__fts_record; borrowed too).
 * TB_STORE_TEMP stores, which index lazily, note nothing. 0 or -ENOMEM. */
int tb__store_index_later(struct tb_store *s, int64_t id, const char *const col[4],
                          const struct tb__tokens *tok);

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

/* One entry's full-text tokens, recorded off the store thread (store_fts.c)
 * from its four indexed texts, which they are replayed for. */
struct tb__tokens {
    unsigned char *buf;  /* the records, in the prep's arena */
    unsigned off[5];     /* column c's are buf[off[c]] to buf[off[c + 1]] */
    const char *text[4]; /* title, text, authors, categories as tokenized */
    int ntext[4];        /* their lengths */
    int ok;              /* recorded; 0: the writer tokenizes the entry */
};

/* A tokenizer for recording tokens, on any thread (store_fts.c). */
struct tb__recorder;

/* Replaces FTS5's "porter" tokenizer on the store's connection by one that
 * can replay recorded tokens (store_fts.c); before the FTS table is first
 * used. Sets s->fts. 0, -ENOMEM or TB_ESTORE. */
int tb__fts_open(struct tb_store *s);

/* Frees s->fts, after the connection is closed. */
void tb__fts_free(struct tb_store *s);

/* A recorder of tokens for s's index, for one thread at a time, any thread
 * while s is open; *out is NULL (and 0 returned) when s records nothing.
 * 0 or -ENOMEM. Free with tb__fts_recorder_free() (NULL: no-op). */
int tb__fts_recorder_new(const struct tb_store *s, struct tb__recorder **out);
void tb__fts_recorder_free(struct tb__recorder *r);

/* Records into t, its buffer in arena a, the tokens of the texts col
 * (title, text, authors, categories; NULL for none), which must not change
 * until they are indexed. t->ok is 0 when they could not be tokenized.
 * 0 or -ENOMEM. */
int tb__fts_record(struct tb__recorder *r, struct tb_arena *a, const char *const col[4],
                   struct tb__tokens *t);

/* Around the insert of one entry into the index: offers its recorded
 * tokens t for replay (NULL or not ok: none); NULL after it. */
void tb__fts_enter(struct tb_store *s, const struct tb__tokens *t);

/* Columns whose recorded tokens went into the index since the store was
 * opened (for the tests). */
size_t tb__fts_replayed(const struct tb_store *s);

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
    struct tb__tokens tok;                        /* FTS tokens (tok.ok 0: none) */
};

struct tb_store_prep {
    const struct tb_feed *feed; /* the feed the rows were made for */
    size_t n;                   /* its number of entries */
    struct tb__row *rows;       /* one per entry, in document order */
};

/* tb_store_prepare() with the rows in arena a rather than the feed's, and
 * with each entry's tokens recorded by s's recorder (s NULL: none). */
int tb__store_prepare(struct tb_arena *a, const struct tb_store *s, const struct tb_feed *f,
                      struct tb_store_prep **out);

/* Lists decoded from JSON text (NULL or malformed gives an empty list) into the arena. */
int tb__unjson_people(struct tb_arena *a, const char *json, struct tb_person **out);
int tb__unjson_categories(struct tb_arena *a, const char *json, struct tb_category **out);
int tb__unjson_links(struct tb_arena *a, const char *json, struct tb_link **out);

#endif
