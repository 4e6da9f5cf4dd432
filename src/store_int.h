/*
 * Internals shared by the store's source files (store.c, store_put.c,
 * store_load.c, store_json.c): the handle, its cached statements and the
 * JSON codecs for list columns. Not a public header.
 */
#ifndef TB_STORE_INT_H
#define TB_STORE_INT_H

#include <sqlite3.h>

#include "tb_store.h"

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
    TB__ST_KEY_GET,
    TB__ST_BY_IDENT,
    TB__ST_KEY_ADD,
    TB__ST_SEEN_ADD,
    TB__ST_STATE,
    TB__ST_OUTID_USED,
    TB__ST_INSERT,
    TB__ST_UPDATE,
    TB__ST_LOAD,
    TB__ST_INDEX,
    TB__ST_BRIEF,
    TB__ST_COUNT
};

struct tb_store {
    sqlite3 *db;                      /* the connection */
    sqlite3_stmt *stmt[TB__ST_COUNT]; /* cached statements, by enum tb__stmt */
    int flags;                        /* TB_STORE_* given to tb_store_open() */
    int fts_stale;                    /* TB_STORE_TEMP: entries not yet in the FTS index */
    int in_txn;                       /* between tb_store_begin() and tb_store_commit() */
};

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

/* Adds a new entry's text to the full-text index (not in TB_STORE_TEMP
 * mode, which indexes lazily). 0 or TB_ESTORE. */
int tb__store_index(struct tb_store *s, int64_t id, const char *title, const char *text,
                    const char *authors, const char *categories, char *err, size_t errlen);

/* Steps a statement returning one integer; *id = it, or 0 without a row. Resets. */
int tb__store_id(struct tb_store *s, sqlite3_stmt *st, int64_t *id, char *err, size_t errlen,
                 const char *what);

/* JSON text (malloc'd, or NULL for an empty list) of a person, category or link list. */
int tb__json_people(const struct tb_person *p, char **out);
int tb__json_categories(const struct tb_category *c, char **out);
int tb__json_links(const struct tb_link *l, char **out);

/* Plain text (malloc'd, or NULL when empty) of names / terms, for the FTS index. */
int tb__join_names(const struct tb_person *p, char **out);
int tb__join_terms(const struct tb_category *c, char **out);

/* Lists decoded from JSON text (NULL or malformed gives an empty list) into the arena. */
int tb__unjson_people(struct tb_arena *a, const char *json, struct tb_person **out);
int tb__unjson_categories(struct tb_arena *a, const char *json, struct tb_category **out);
int tb__unjson_links(struct tb_arena *a, const char *json, struct tb_link **out);

#endif
