/*
 * tb_dedupe: the store's dedupe rules, in memory, for a one-shot `merge`
 * that needs no database.
 *
 * Feeds are put in order, each under the name of the source that carried
 * it; every entry is matched exactly as tb_store_put_feed() matches it (the
 * source's own key, else the same arXiv id, DOI or canonical link in any
 * source, earliest entry first, else a new entry) and the survivors are
 * selected as tb_topic_select() orders them (newest first, ties by out_id).
 * What a selected entry holds is what tb_store_load() would give for it:
 * out_id, origin and lists as they read back from the store. A put copies
 * what it keeps, so the feed can be freed right after. Not thread-safe,
 * except tb_dedupe_prepare(), which touches only its feed.
 */
#ifndef TB_DEDUPE_H
#define TB_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

#include "tb_entry.h"
#include "tb_log.h"

/** Opaque handle: the kept entries, their sources and the identity indexes. */
struct tb_dedupe;

/** Per-entry change digests of one feed; opaque, in the feed's arena. */
struct tb_dedupe_prep;

/** Allocates an empty dedupe. Returns 0 or -ENOMEM (*out is then NULL). */
TB_NODISCARD int tb_dedupe_new(struct tb_dedupe **out);

/** Frees the dedupe and every entry it holds; NULL is a no-op. */
void tb_dedupe_free(struct tb_dedupe *d);

/**
 * Computes the change digest of each entry of f (what tb_store_prepare()
 * hashes: title, link, summary, content, updated, HTML flags, authors and
 * categories) into f's arena, so the thread that parsed f can do it. *out
 * lives until f is freed; f's entries must not change in between. Errors:
 * -ENOMEM (*out is then NULL).
 */
TB_NODISCARD int tb_dedupe_prepare(struct tb_feed *f, struct tb_dedupe_prep **out);

/**
 * tb_dedupe_prepare() for a feed whose source is put only this once: the
 * digests are made only when two entries of f share a key, arXiv id, DOI
 * or canonical link (only then can one update the other); otherwise none
 * is needed, and a second put of the same source name is refused with
 * -EINVAL. Errors: -ENOMEM (*out is then NULL).
 */
TB_NODISCARD int tb_dedupe_prepare_once(struct tb_feed *f, struct tb_dedupe_prep **out);

/**
 * Adds the entries of one normalized feed read from source `name` (the same
 * name twice is the same source), with seen_at as "now" for entries without
 * dates. prep is tb_dedupe_prepare()'s or tb_dedupe_prepare_once()'s for
 * f, or NULL to compute the digests here. A
 * changed copy from an entry's origin source updates it in place (out_id
 * and origin stay); arXiv's record of a paper from another site's entry
 * takes it over (content and origin; out_id stays); any other copy is
 * dropped. The source's feed metadata
 * (id, title, link, self) fills the origin of its entries, later non-NULL
 * values replacing earlier ones. Errors: -EINVAL (an entry without key,
 * prep not made for f, or a second put of a source one of whose puts had a
 * once prep; nothing is added), -EEXIST (no free out_id),
 * -ENOMEM (part of the feed may have been added); detail in err.
 */
TB_NODISCARD int tb_dedupe_put(struct tb_dedupe *d, const char *name, const struct tb_feed *f,
                               const struct tb_dedupe_prep *prep, int64_t seen_at, char *err,
                               size_t errlen);

/** Number of distinct entries held. */
size_t tb_dedupe_count(const struct tb_dedupe *d);

/**
 * Links the newest `limit` entries (0: all) newest first through their next
 * fields, as tb_topic_select() and tb_store_load() would give them: ordered
 * by published, else updated, else first seen, descending, ties by out_id;
 * origin filled from the source's metadata (id: feed id, else self, else
 * the source name). *first and *n receive the list and its length; the
 * entries belong to d (valid until the next put, select or free). The
 * plain text (`text`) of entries is not kept. Errors: -ENOMEM.
 */
TB_NODISCARD int tb_dedupe_select(struct tb_dedupe *d, size_t limit, struct tb_entry **first,
                                  size_t *n);

#endif
