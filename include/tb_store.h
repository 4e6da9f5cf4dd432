/*
 * tb_store: SQLite storage of entries, with dedupe and full-text search.
 *
 * One database file holds the sources, the entries (each stored once however
 * many sources carried it), which keys and sources map to each entry, and an
 * FTS5 index over title, text, authors and categories for topic matching.
 * Every tb_store_put_feed() is one transaction (or one savepoint inside a
 * tb_store_begin() batch), so a crash at any moment loses no committed
 * entry and duplicates none. Not thread-safe: one store
 * per thread.
 */
#ifndef TB_STORE_H
#define TB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "tb_entry.h"
#include "tb_log.h"

struct sqlite3;
struct tb_db;

/** Opaque handle: the connection and its cached statements. */
struct tb_store;

/** Flags: TB_STORE_TEMP, a throwaway database, durability off (journal in
 * memory, synchronous off); TB_STORE_READER, a connection that mostly reads
 * rows once each (a daemon's loop, publishing): a 2 MB page cache, not 8 MB;
 * TB_STORE_CHECKPOINT_LATER, a writer whose commits leave the copying of
 * the WAL back into the database to tb_store_checkpoint() on another
 * connection (doing it themselves only once the WAL holds ~100 MB). */
enum { TB_STORE_TEMP = 1, TB_STORE_READER = 2, TB_STORE_CHECKPOINT_LATER = 4 };

/**
 * Opens (creating and migrating) the database at path, or the PostgreSQL
 * database of a postgresql:// (or postgres://) URI (tb_db_is_pg; its schema
 * migrated under an advisory lock, so nodes may start at once; the flags
 * are SQLite's and ignored there; no FTS index). SQLite normal mode: WAL,
 * synchronous=NORMAL, busy timeout; foreign keys declared, not enforced. A database written by a
 * newer tributary (higher schema version) is refused. Errors: TB_ESTORE with
 * sqlite3_errmsg detail in err, -ENOMEM. *out is NULL on failure.
 */
TB_NODISCARD int tb_store_open(struct tb_store **out, const char *path, int flags, char *err,
                               size_t errlen);

/** Finalizes statements and closes; NULL is a no-op. */
void tb_store_close(struct tb_store *s);

/**
 * Get-or-create the source row named `name` (its url updated if changed; a
 * NULL url leaves it alone). Errors: -EINVAL for a NULL name, TB_ESTORE.
 */
TB_NODISCARD int tb_store_source(struct tb_store *s, const char *name, const char *url,
                                 int64_t *source_id, char *err, size_t errlen);

/** Highest weight tb_store_source_voice() accepts. */
#define TB_STORE_WEIGHT_MAX 1000000.0

/**
 * Sets how source source_id counts for trending (tb_trending.h): its group
 * (sources of one group count as one voice; NULL: the source's own name)
 * and its weight (0 to TB_STORE_WEIGHT_MAX; 0: never counts). A new source
 * row has weight 1 and no group. Errors: -EINVAL (weight out of range or
 * NaN), TB_ESTORE.
 */
TB_NODISCARD int tb_store_source_voice(struct tb_store *s, int64_t source_id, const char *group,
                                       double weight, char *err, size_t errlen);

/** Counts for one tb_store_put_feed(). */
struct tb_store_stats {
    size_t added;     /* new entries */
    size_t updated;   /* entries changed in place by their origin source */
    size_t unchanged; /* already stored: identical, or a copy from a secondary source */
    size_t merged;    /* of those: copies of an entry from another source, first seen in this
                         source and linked to that entry (across-source dedupe) */
};

/**
 * Stores the entries of one parsed and normalized feed (key, canon_link,
 * arxiv_id, doi and text set) in ONE transaction, and records the feed's
 * metadata (id, title, link, self) on the source for atom:source; inside a
 * tb_store_begin() transaction, one savepoint of it instead. Dedupe per
 * entry: the source's own key, else the same arxiv_id, doi or canon_link in
 * any source, else a new entry. A matched entry is rewritten when its
 * origin source sends it changed, or when an arXiv record (the feed's link
 * is on arxiv.org, tb_arxiv_is_record()) brings a paper whose entry came
 * from elsewhere: that copy's content wins and its source becomes the
 * origin. seen_at (epoch seconds) is "now" for
 * first_seen and for an updated entry with no upstream date. st may be NULL.
 * Optional new_ids receives (malloc'd, caller frees; NULL when none) the
 * rowids added or updated; pass NULL to skip. On error nothing is stored.
 *
 * Mentions (for tb_trending.h): each entry put, unless it is this source's
 * copy seen again unchanged, records on the source that it carries the
 * paper its stored entry is (the paper key: "arxiv:" + arxiv_id, else
 * "doi:" + doi, else "link:" + canon_link) and mentions each paper of
 * entry->mentions (a key naming a stored entry by its arXiv id, DOI or
 * canonical link becomes that entry's paper key; a new entry takes over
 * what was recorded under its DOI or link). One record per paper and
 * source: its first carrying or mention, timed at the earlier of the
 * entry's published date (clamped as stored) and seen_at. Records are never
 * removed, also when a later version no longer links the paper.
 *
 * Errors: -EINVAL (entry without key), -ENOENT (no such source), -ENOMEM,
 * TB_ESTORE; detail in err.
 */
TB_NODISCARD int tb_store_put_feed(struct tb_store *s, int64_t source_id, const struct tb_feed *f,
                                   int64_t seen_at, struct tb_store_stats *st, int64_t **new_ids,
                                   size_t *n_new, char *err, size_t errlen);

/** The columns tb_store_put_feed() derives from a feed's entries; opaque. */
struct tb_store_prep;

/**
 * Computes what storing derives from each entry of f (JSON list columns,
 * FTS name and term lists, change hash) into f's own arena, so that the
 * thread that parsed f can do it while another runs the store: touches only
 * f, uses no store. *out lives until f is freed; f's entries must not change
 * in between. Errors: -ENOMEM (*out is then NULL).
 */
TB_NODISCARD int tb_store_prepare(struct tb_feed *f, struct tb_store_prep **out);

/**
 * tb_store_put_feed() for a feed whose entries tb_store_prepare() prepared
 * (prep made for another feed, or a feed changed since, gives -EINVAL).
 */
TB_NODISCARD int tb_store_put_prepared(struct tb_store *s, int64_t source_id,
                                       const struct tb_feed *f, const struct tb_store_prep *prep,
                                       int64_t seen_at, struct tb_store_stats *st,
                                       int64_t **new_ids, size_t *n_new, char *err, size_t errlen);

/**
 * Starts a transaction (BEGIN IMMEDIATE) that the following writes join, so
 * many feeds cost one commit: each tb_store_put_feed() inside it is a
 * savepoint, undone alone when it fails. The feeds and preps given to
 * tb_store_put_prepared() inside it are read again at tb_store_commit()
 * (their text goes into the index then): keep them until it returns.
 * 0 or TB_ESTORE with detail in err.
 */
TB_NODISCARD int tb_store_begin(struct tb_store *s, char *err, size_t errlen);

/**
 * Inside a tb_store_begin() transaction, before its puts: takes the locks
 * that keep two connections (nodes) from storing one paper twice. On
 * PostgreSQL, a transaction-scoped advisory lock on a hash of each identity
 * key (arXiv id, DOI, canonical link) and mentioned paper of every entry of
 * feeds[0..n) (NULL feeds are skipped), all in one sorted pass, so that
 * batches storing some of the same papers wait for one another (and then
 * find each other's entries) instead of deadlocking. Only keys no stored
 * entry has are locked, and past a few hundred, ranges of keys (the count
 * of locks stays bounded). A put outside such a batch locks its own feed's
 * papers; inside one, after this call, none: every feed the batch then
 * stores must be among feeds. SQLite, whose writer is alone: nothing.
 * 0, -ENOMEM, or a store error (TB_EDB_RETRY, TB_EDB_LOST).
 */
TB_NODISCARD int tb_store_lock_papers(struct tb_store *s, const struct tb_feed *const *feeds,
                                      size_t n, char *err, size_t errlen);

/**
 * Commits the transaction of tb_store_begin(), first adding the entries its
 * puts inserted to the full-text index (FTS5 writes an index segment at
 * every savepoint, so the feeds' savepoints do not index); on failure it is rolled back
 * and nothing of it is stored. TB_ESTORE (detail in err) also when SQLite
 * had already rolled it back after an error (disk full, I/O): the puts
 * that reported success in it are then lost, and later puts failed.
 */
TB_NODISCARD int tb_store_commit(struct tb_store *s, char *err, size_t errlen);

/**
 * Reads the entries with the given rowids back, in that order, into a new
 * feed (caller frees with tb_feed_free): every tb_entry field incl. rowid,
 * out_id, key (the origin source's key) and origin (id/title/link/self of the
 * source feed that first carried it), authors/contributors/categories/links,
 * summary/content as stored. Rowids not in the store are skipped. Errors:
 * -ENOMEM, TB_ESTORE.
 */
TB_NODISCARD int tb_store_load(struct tb_store *s, const int64_t *ids, size_t n,
                               struct tb_feed **out, char *err, size_t errlen);

/** What the head of a feed needs to know of one stored entry. */
struct tb_store_brief {
    int64_t published; /* epoch seconds UTC, or TB_TIME_NONE */
    int64_t updated;   /* epoch seconds UTC, or TB_TIME_NONE */
    int has_authors;   /* non-zero when the entry has at least one author */
};

/**
 * Fills out[i] for ids[i] without loading whole entries, so a writer can
 * start a document before it loads the entries in batches. A rowid not in
 * the store gives no dates and has_authors 1 (tb_store_load() skips it).
 * Errors: TB_ESTORE with detail in err.
 */
TB_NODISCARD int tb_store_brief(struct tb_store *s, const int64_t *ids, size_t n,
                                struct tb_store_brief *out, char *err, size_t errlen);

/**
 * Brings the full-text index up to date. A TB_STORE_TEMP store indexes
 * lazily, all at once, when a topic query first needs it; for other stores
 * the index is always current and this is a no-op. TB_ESTORE on failure.
 */
TB_NODISCARD int tb_store_sync_index(struct tb_store *s, char *err, size_t errlen);

/* The store's identity rules, shared with the in-memory dedupe (tb_dedupe.h)
 * so that both give an entry the same out_id and keep the same list members. */

/** Size of a tag made by tb_store_tag_id(), with its NUL. */
#define TB_STORE_TAG_SIZE (sizeof("tag:tributary.invalid,2024:") + 64)

/**
 * The date an entry version is stored (and so published and sorted) with:
 * t, unless it is later than now, the clock when the entry is stored: a
 * date in the future (a wrong time zone, a scheduled post) would sit above
 * every other entry and move the feed's updated into the future, so it
 * becomes seen_at, the time the version was first seen (at most now).
 * TB_TIME_NONE stays. Change detection sees the upstream date, so a clamped
 * date stays until the entry changes upstream.
 */
int64_t tb_store_clamp_date(int64_t t, int64_t seen_at, int64_t now);

/**
 * The upstream id e->id when it may be published as the entry's out_id: an
 * absolute URI or IRI (tb_norm_is_uri(): a malformed urn:uuid: is not) outside the store's own tag
 * namespace (so it cannot take a tag another entry will need) and not a script URL (readers may
 * follow an id as a link); else NULL, and the entry gets a tag.
 */
const char *tb_store_upstream_id(const struct tb_entry *e);

/**
 * tag:tributary.invalid,2024:<hex SHA-256 of name, a NUL, key>: the out_id
 * of an entry of source `name` whose upstream id is unusable or taken.
 * Errors: -ENOMEM.
 */
TB_NODISCARD int tb_store_tag_id(const char *name, const char *key, char tag[TB_STORE_TAG_SIZE]);

/**
 * Non-zero when s is kept as a member of a stored list (authors,
 * categories, links): UTF-8 as JSON holds it, with no overlong forms,
 * surrogates or code points above U+10FFFF. Other members read back absent.
 */
int tb_store_list_member_ok(const char *s);

/**
 * One source's copy of an entry (tb_store_copies): the source's name, its
 * feed's title (else its name), and the link to its copy (NULL: none).
 * The strings are the store's, valid during the call. Non-zero stops the
 * walk and is returned. Must not call the store.
 */
typedef int (*tb_store_copy_cb)(const char *name, const char *title, const char *link, void *data);

/**
 * Calls cb for every source that carried entry entry_id: its origin first
 * (others_only: left out, the site's "Also in"), then in the order they
 * came. The link is the one the source gave its copy, else (rows stored
 * before those were kept) its copy's canonical link or URL id, else the
 * source's own page. 0, cb's non-zero, or a store error (detail in err).
 */
TB_NODISCARD int tb_store_copies(struct tb_store *s, int64_t entry_id, int others_only,
                                 tb_store_copy_cb cb, void *data, char *err, size_t errlen);

/**
 * A trending voice's display name (the source's feed title, else its name)
 * into *name and the link to its entry into *href, both malloc'd for the
 * caller (NULL: none; both NULL when no source is named source): the link
 * that source gave entry entry_id, else, when it carries the paper
 * (carries non-zero), its copy's link as tb_store_copies finds it, else
 * the entry's link. 0, -ENOMEM, or a store error (detail in err).
 */
TB_NODISCARD int tb_store_voice_link(struct tb_store *s, const char *source, int64_t entry_id,
                                     int carries, char **name, char **href, char *err,
                                     size_t errlen);

/** The sqlite3 handle, for the topic module only; owned by the store. NULL on PostgreSQL. */
struct sqlite3 *tb_store_db(struct tb_store *s);

/**
 * Copies every row of `from` (a SQLite store) into `to` (a PostgreSQL store
 * with no rows yet) in one transaction, from one read snapshot of the
 * file: entries, sources and their poll state, mentions, subscriptions and
 * mail, archives, WebSub state (src/store/migrate_to.c). Each table of
 * `to` must be in `from` with the same columns, but for those `from` does
 * not have (reported to progress with rows -1: the node derives them), and
 * each table of `from` must be in `to`, but for SQLite's own and its FTS5
 * index. progress (or NULL) is called after each table. Errors: -EEXIST
 * (`to` has rows), -EINVAL (not SQLite into PostgreSQL), TB_ESTORE (a
 * schema mismatch or a failed copy: `to` is left empty), TB_EDB_LOST,
 * -ENOMEM; detail in err.
 */
TB_NODISCARD int tb_store_migrate_to(struct tb_store *from, struct tb_store *to,
                                     void (*progress)(void *data, const char *table, int64_t rows),
                                     void *data, char *err, size_t errlen);

/** The store's tb_db connection (SQLite or PostgreSQL); owned by the store. */
struct tb_db *tb_store_sql(struct tb_store *s);

/** A source's poll state, as stored in its sources row (store_state.c). */
struct tb_store_state {
    int64_t source_id;    /* sources.id */
    char *name;           /* the source's name */
    char *url;            /* URL to poll: the config's, or where a 301/308 led; or NULL */
    char *config_url;     /* the config URL this state belongs to, or NULL */
    int gone;             /* 1 once the upstream answered 410 Gone: not polled again */
    char *etag;           /* validator for If-None-Match, or NULL */
    char *last_modified;  /* validator for If-Modified-Since, or NULL */
    int64_t last_attempt; /* epoch s of the last completed fetch, 0 = never */
    int64_t last_success; /* epoch s of the last 200/304, 0 = never */
    long last_status;     /* HTTP status of the last fetch, 0 = none */
    char *last_error;     /* reason the last fetch failed (or a parse warning), or NULL */
    int64_t next_poll;    /* epoch s of the next poll, 0 = not scheduled yet */
    int failures;         /* consecutive failed fetches */
    int64_t entries_seen; /* entries carried by this source (read only; counted) */
    int ttl_minutes;      /* the feed's RSS <ttl>, or 0 */
    char *polled_node;    /* the node that recorded the last poll (tb_lease.h), or NULL */
    int64_t polled_at;    /* when, epoch s, 0 = never (read only: tb_lease_record writes both) */
    char *lease_node;     /* the node holding a claim on it now, or NULL */
    int64_t lease_until;  /* when that lease ends, epoch s, 0 = none (read only) */
};

/**
 * Loads the state of source `name`, creating its row when there is none.
 * When the stored config_url differs from `config_url` (a new source, or
 * its URL changed in the config), the state is reset: url = config_url,
 * validators, schedule, failures and error cleared, gone = 0. Returns
 * 0 and *st (release with tb_store_state_clear()), -EINVAL, -ENOMEM or
 * TB_ESTORE with detail in err.
 */
TB_NODISCARD int tb_store_state_get(struct tb_store *s, const char *name, const char *config_url,
                                    struct tb_store_state *st, char *err, size_t errlen);

/**
 * Writes every state field of st (by st->source_id; name and entries_seen
 * are not written, entries_seen is recounted). Returns 0 or TB_ESTORE.
 */
TB_NODISCARD int tb_store_state_put(struct tb_store *s, const struct tb_store_state *st, char *err,
                                    size_t errlen);

/**
 * Every source row with its state, ordered by name, entries_seen counted.
 * *out is malloc'd (free with tb_store_state_free(); NULL when none).
 * Returns 0, -ENOMEM or TB_ESTORE.
 */
TB_NODISCARD int tb_store_state_list(struct tb_store *s, struct tb_store_state **out, size_t *n,
                                     char *err, size_t errlen);

/** Frees the strings of one state and zeroes it. */
void tb_store_state_clear(struct tb_store_state *st);

/** Frees an array from tb_store_state_list(). NULL is a no-op. */
void tb_store_state_free(struct tb_store_state *v, size_t n);

/**
 * Copies what the WAL holds back into the database file as far as no reader
 * needs it (a passive checkpoint), without blocking the writer, so it can
 * run on a connection of its own while another one writes. 0 (also when
 * another checkpoint is running) or TB_ESTORE with detail in err.
 */
TB_NODISCARD int tb_store_checkpoint(struct tb_store *s, char *err, size_t errlen);

/** Bytes of pages in the WAL after the last commit of a
 * TB_STORE_CHECKPOINT_LATER store (0 before it, and for other stores). */
size_t tb_store_wal_bytes(const struct tb_store *s);

/** 0 when a trivial query (SELECT 1) succeeds, else TB_ESTORE: for health checks. */
TB_NODISCARD int tb_store_ping(struct tb_store *s);

#endif
