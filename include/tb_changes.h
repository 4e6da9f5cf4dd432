/*
 * tb_changes: the change feed of a cluster (several nodes on one
 * PostgreSQL database), so that every node re-renders what any node
 * stored (store/changes.c).
 *
 * A store with a node name (tb_changes_enable) writes, at the end of each
 * transaction that stores entries (a feed, or a tb_store_begin() batch),
 * one row per new or updated entry into the table changes(seq, node,
 * entry_id, at), and NOTIFYs TB_CHANGES_CHANNEL with the node's name as
 * payload, in the same transaction. The rows are inserted under a
 * transaction-scoped advisory lock (TB_CHANGES_LOCK) taken just before
 * them, at the very end of the transaction: seq values are then allocated
 * and committed in the same order (a second writer waits for the first
 * one's commit before it allocates), so a reader that has seen seq N has
 * seen every committed row below N, and reading "seq > cursor" never skips
 * a row committed late. The lock is held only for the inserts and the
 * commit. Readers (tb_changes_read) take no lock.
 *
 * On SQLite (one node) nothing is written: the table exists, empty, so both
 * engines count schema versions alike. Not thread-safe: the store's rules.
 */
#ifndef TB_CHANGES_H
#define TB_CHANGES_H

#include <stddef.h>
#include <stdint.h>

#include "tb_jobs.h"
#include "tb_log.h"
#include "tb_store.h"

/** The NOTIFY channel; the payload is the writing node's name. */
#define TB_CHANGES_CHANNEL "tributary_changes"

/** The key of the advisory lock that orders the change feed's commits. */
#define TB_CHANGES_LOCK 7462636867LL

/**
 * Makes s record its stored entries in the change feed under `node`
 * (copied; non-empty), on PostgreSQL; on SQLite it does nothing. 0,
 * -EINVAL, -ENOMEM.
 */
TB_NODISCARD int tb_changes_enable(struct tb_store *s, const char *node);

/** The highest seq in the change feed (0 when empty) into *seq. 0 or a store error. */
TB_NODISCARD int tb_changes_head(struct tb_store *s, int64_t *seq, char *err, size_t errlen);

/**
 * Reads up to max change rows after seq `after`, in seq order: the entry
 * ids of those written by another node than `self` (NULL: every node)
 * into *ids (malloc'd, the caller frees; duplicates removed, ascending),
 * their count into *n, and the last seq read into *last (after, when
 * none). Read again from *last while *more is set. 0 or a store error.
 */
TB_NODISCARD int tb_changes_read(struct tb_store *s, int64_t after, const char *self, size_t max,
                                 int64_t **ids, size_t *n, int64_t *last, int *more, char *err,
                                 size_t errlen);

/*
 * The pages that say why a list is empty (tb_page_why_empty) read the
 * sources' poll states: a node that records a poll starting or ending a
 * failing streak (or a source's first poll) NOTIFYs TB_CHANGES_PAGES in
 * the transaction that records it, and the others render their pages
 * again when the poll states they read have moved.
 */

/** The NOTIFY payload that says the sources' poll states moved. */
#define TB_CHANGES_PAGES "pages"

/**
 * PostgreSQL: NOTIFYs TB_CHANGES_CHANNEL with payload (delivered when the
 * transaction open on s commits, at once outside one); SQLite: nothing.
 * 0 or a store error.
 */
TB_NODISCARD int tb_changes_notify(struct tb_store *s, const char *payload, char *err,
                                   size_t errlen);

/*
 * Last-Modified in a cluster: every node must answer the same for the same
 * bytes, so a document's moment is kept in the database (doc_versions), by
 * its path and its bytes' hash: the first node that publishes a version
 * records it (the server's clock, and a second past the path's previous
 * version at least, so that a new version is always newer), and every
 * node that publishes the same bytes later reads it back.
 */

/**
 * The moment (epoch s) document `path` (its relpath) first had the bytes
 * whose hash is `hash` (text, e.g. 16 hex digits) into *at, recorded now
 * when new. One statement each way. 0 or a store error.
 */
TB_NODISCARD int tb_changes_doc_moment(struct tb_store *s, const char *path, const char *hash,
                                       int64_t *at, char *err, size_t errlen);

/**
 * Deletes the document versions recorded before `before` (epoch s), except
 * each path's newest. 0 or a store error.
 */
TB_NODISCARD int tb_changes_doc_prune(struct tb_store *s, int64_t before, char *err, size_t errlen);

/** Deletes the change rows written before `before` (epoch s). 0 or a store error. */
TB_NODISCARD int tb_changes_prune(struct tb_store *s, int64_t before, char *err, size_t errlen);

/*
 * Trending in a cluster. Scores decay with time, so a ranking depends on
 * the moment it is computed at: the cluster keeps that moment in the
 * database (table trending_at, one row) and every node renders trending
 * (its feeds and the pages' trending lists) as of it, so they publish the
 * same bytes. Whoever recomputes the ranking (a node whose own stores
 * changed trending, or the hourly recomputation: the `jobs` side claims
 * it once across the cluster) calls tb_changes_trending_set(now); the
 * others learn it by the NOTIFY (payload TB_CHANGES_TRENDING) and render
 * as of tb_changes_trending_at().
 */

/** The NOTIFY payload that says the trending moment moved. */
#define TB_CHANGES_TRENDING "trending"

/**
 * Moves the cluster's trending moment to `at` unless it is later already,
 * NOTIFYs TB_CHANGES_CHANNEL with TB_CHANGES_TRENDING (PostgreSQL), and
 * puts the moment now in force (at, or the later one) into *out. One
 * transaction (a savepoint inside one). 0 or a store error.
 */
TB_NODISCARD int tb_changes_trending_set(struct tb_store *s, int64_t at, int64_t *out, char *err,
                                         size_t errlen);

/**
 * The hourly recomputation's tb_changes_trending_set(), inside the run j
 * of the job that claims it once across the cluster (tb_jobs.h): the
 * moment moves only while j is the job's latest claim (tb_jobs_fence, in
 * the same transaction). TB_ELEASE when it is not (nothing written),
 * -EINVAL when j is NULL, else as tb_changes_trending_set().
 */
TB_NODISCARD int tb_changes_trending_run(struct tb_store *s, const struct tb_job *j, int64_t at,
                                         int64_t *out, char *err, size_t errlen);

/** The cluster's trending moment into *at (0 when none yet). 0 or a store error. */
TB_NODISCARD int tb_changes_trending_at(struct tb_store *s, int64_t *at, char *err, size_t errlen);

#endif
