/*
 * tb_archive: RFC 5005 archive pages of the published feeds, in the store.
 *
 * A feed ("all" or "topics/NAME") publishes its entries newest first. The
 * entries that are on no complete archive page form the current document.
 * When they number at least 2 x limit, the oldest `limit` of them (in the
 * feed's order: sort time, then out_id) become the next complete page,
 * numbered from 1 (the oldest page); repeated until fewer than 2 x limit
 * are left, so the current document keeps between limit and 2 x limit - 1
 * entries once the feed has that many. A page's membership (table
 * `archive`) never changes once formed, whatever later happens to its
 * entries, so a reader walking prev-archive from the current document sees
 * every entry exactly once.
 *
 * Which entries belong to the feed is decided as they come: an entry joins
 * the current document when it is stored matching the feed's query and
 * sources, or when it changes (the `changed` list) and matches then; a
 * changed current entry that no longer matches leaves it. The current
 * entries are remembered (page 0 in `archive`) with the newest entry id
 * looked at (table `archive_feeds`), so an update reads only the entries
 * stored since the last one, the changed ones and the current ones, not
 * the whole feed. A feed seen for the first time, or whose query or
 * sources changed, is matched against every entry once (its pages stay).
 * Runs on the store's connection; same thread rules as tb_store.
 */
#ifndef TB_ARCHIVE_H
#define TB_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "tb_log.h"
#include "tb_store.h"

/** The longest feed name accepted ("topics/" and a topic name). */
#define TB_ARCHIVE_FEED_MAX 200

/**
 * Brings feed's archive up to date with the entries matching query and
 * sources (as tb_topic_select_in()), with pages of `limit` entries, and
 * returns the current document's entries (*cur, newest first, malloc'd,
 * NULL when none; caller frees) and the number of complete pages (*pages).
 * changed[0..nchanged) (may be NULL): entries just updated, matched again.
 * limit 0 forms no pages (every match is current). The update is one
 * transaction (savepoint). Errors: TB_EQUERY, TB_ESTORE, -ENOMEM, -EINVAL
 * (bad feed name), with detail in err.
 */
TB_NODISCARD int tb_archive_update(struct tb_store *s, const char *feed, const char *query,
                                   char *const *sources, size_t nsources, size_t limit,
                                   const int64_t *changed, size_t nchanged, int64_t **cur,
                                   size_t *ncur, int64_t *pages, char *err, size_t errlen);

/**
 * The entries of feed's complete page `page` (1 = the oldest), newest first
 * (*ids malloc'd, caller frees; *n 0 for a page that does not exist).
 * Errors: TB_ESTORE, -ENOMEM.
 */
TB_NODISCARD int tb_archive_page(struct tb_store *s, const char *feed, int64_t page, int64_t **ids,
                                 size_t *n, char *err, size_t errlen);

/** The number of feed's complete pages (0: none) into *pages. Errors: TB_ESTORE. */
TB_NODISCARD int tb_archive_pages(struct tb_store *s, const char *feed, int64_t *pages, char *err,
                                  size_t errlen);

#endif
