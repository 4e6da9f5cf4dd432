/*
 * tb_lease: polling by leases, so that several nodes sharing one database
 * poll each due source once per interval, and one node alone works the
 * same way (store/lease.c).
 *
 * A node claims due sources in batches (tb_lease_claim): each claimed
 * source's row names the node and the time its lease ends, and its
 * lease_token goes up by one. The claim's token fences what the poll
 * writes afterwards: its entries (tb_lease_put) and its outcome
 * (tb_lease_record) are written only while the row still holds that
 * token, and refused with TB_ELEASE otherwise, in a transaction (or
 * savepoint) that then leaves nothing behind. A node that stalls past its
 * lease therefore cannot overwrite what the node that claimed the source
 * after it wrote. On PostgreSQL, claimers skip each other's rows
 * (FOR UPDATE SKIP LOCKED); on SQLite the database's one writer
 * serialises them.
 *
 * Times are epoch seconds given by the caller (the nodes' clocks must
 * agree, as NTP keeps them). Not thread-safe: the store's rules.
 */
#ifndef TB_LEASE_H
#define TB_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include "tb_log.h"
#include "tb_store.h"

/** One claimed source. */
struct tb_lease {
    int64_t source_id; /* sources.id */
    int64_t token;     /* the claim's token, which the poll's writes carry */
};

/**
 * Claims for `node` up to max sources due at `now`: active (tb_lease_sync),
 * not gone, next_poll at or before now, and not leased (no lease, or one
 * that ended at or before now), the longest due first. Each one's lease
 * lasts until now + lease. Fills out[0..*n) (in no particular order).
 * Errors: -EINVAL (node NULL, lease < 1), TB_ESTORE or a tb_db code
 * (TB_EDB_RETRY, TB_EDB_LOST) with detail in err; *n is 0 then.
 */
TB_NODISCARD int tb_lease_claim(struct tb_store *s, const char *node, int64_t now, int64_t lease,
                                struct tb_lease *out, size_t max, size_t *n, char *err,
                                size_t errlen);

/**
 * Extends l's lease to `until`, while l is the source's latest claim.
 * TB_ELEASE when it is not (another claim took it over), else 0 or a
 * store error (detail in err).
 */
TB_NODISCARD int tb_lease_renew(struct tb_store *s, const struct tb_lease *l, int64_t until,
                                char *err, size_t errlen);

/**
 * Gives l's source back unpolled (the node stops, or no longer polls it):
 * its lease ends now, its state stays. TB_ELEASE when l is not the latest
 * claim (nothing written), else 0 or a store error.
 */
TB_NODISCARD int tb_lease_release(struct tb_store *s, const struct tb_lease *l, char *err,
                                  size_t errlen);

/**
 * tb_store_put_prepared() of one poll under claim l: the source's row is
 * checked (and on PostgreSQL locked until the transaction ends) to hold
 * l's token before anything is stored. TB_ELEASE (nothing of the feed is
 * stored, and inside a tb_store_begin() batch the rest of the batch
 * stays) or the errors of tb_store_put_prepared().
 */
TB_NODISCARD int tb_lease_put(struct tb_store *s, const struct tb_lease *l, const struct tb_feed *f,
                              const struct tb_store_prep *prep, int64_t seen_at,
                              struct tb_store_stats *st, int64_t **new_ids, size_t *n_new,
                              char *err, size_t errlen);

/**
 * Records a poll's outcome under claim l, as one transaction (a savepoint
 * inside one): st written (tb_store_state_put()), the lease ended, and the
 * source marked polled by `node` at `now`. TB_ELEASE when l is not the
 * source's latest claim: nothing is written. Else 0 or a store error.
 */
TB_NODISCARD int tb_lease_record(struct tb_store *s, const struct tb_lease *l, const char *node,
                                 int64_t now, const struct tb_store_state *st, char *err,
                                 size_t errlen);

/**
 * Ends every lease `node` holds, moving their tokens on: a node that
 * starts again under its name (after a crash, SIGKILL) takes its dead
 * predecessor's sources back at once rather than after their leases, and
 * anything that predecessor might still write is refused. Node names must
 * therefore differ between live nodes. *n (may be NULL) gets how many.
 * 0 or a store error.
 */
TB_NODISCARD int tb_lease_forget(struct tb_store *s, const char *node, size_t *n, char *err,
                                 size_t errlen);

/**
 * Ends the lease `node` holds on source_id, whatever its token (moving
 * the token on): for a node that knows it is not polling that source, so
 * any lease of its name on it is a leftover (an outcome whose write
 * failed). *n (may be NULL) gets 1 when there was one, else 0. 0 or a
 * store error.
 */
TB_NODISCARD int tb_lease_end_own(struct tb_store *s, int64_t source_id, const char *node,
                                  size_t *n, char *err, size_t errlen);

/**
 * Marks the sources ids[0..n) (the config's, enabled) as the ones polled
 * and every other source as not: claims skip those. One transaction (a
 * savepoint inside one); the same ids give the same rows whichever node
 * runs it. 0 or a store error.
 */
TB_NODISCARD int tb_lease_sync(struct tb_store *s, const int64_t *ids, size_t n, char *err,
                               size_t errlen);

/**
 * Sets source_id's next_poll to t when it has none yet (a new source's
 * first poll), so that nodes starting at once keep the first one's.
 * 0 or a store error.
 */
TB_NODISCARD int tb_lease_first_poll(struct tb_store *s, int64_t source_id, int64_t t, char *err,
                                     size_t errlen);

/**
 * Brings source_id's next poll forward to t, never later (a WebSub
 * subscription that lapsed: the source goes back to its own interval), so
 * that whichever node claims it sees the earlier time. 0 or a store error.
 */
TB_NODISCARD int tb_lease_poll_by(struct tb_store *s, int64_t source_id, int64_t t, char *err,
                                  size_t errlen);

#endif
