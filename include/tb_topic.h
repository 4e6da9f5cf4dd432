/*
 * tb_topic: selecting a topic's entries with an FTS5 query.
 *
 * Queries use SQLite FTS5 syntax over the columns title, text, authors and
 * categories (tokenizer: porter stemming over unicode61 with diacritics
 * removed), e.g. `"entity linking" OR title:NER`. Runs on the store's
 * connection; same thread rules as tb_store. On SQLite through the store's
 * FTS5 index; on PostgreSQL through the memberships the storing node's
 * in-memory FTS5 matcher wrote (src/store/topic.c), with the same results:
 * there a query's first selection registers it and backfills its
 * memberships over the stored entries, and so writes.
 */
#ifndef TB_TOPIC_H
#define TB_TOPIC_H

#include <stddef.h>
#include <stdint.h>

#include "tb_log.h"
#include "tb_store.h"

/**
 * Rowids of entries matching an FTS5 query (NULL or "" = all entries), newest
 * first (by published, else updated, else first_seen; ties broken by out_id),
 * at most limit (0 = no limit). *ids is malloc'd (NULL when none), caller
 * frees. Errors: TB_EQUERY with SQLite's message in err when the query does
 * not compile ("fts5: syntax error near ..."), TB_ESTORE, -ENOMEM.
 */
TB_NODISCARD int tb_topic_select(struct tb_store *s, const char *query, size_t limit, int64_t **ids,
                                 size_t *n, char *err, size_t errlen);

/** 0 when the FTS5 query compiles (NULL and "" do), else TB_EQUERY with the reason in err. */
TB_NODISCARD int tb_topic_check(struct tb_store *s, const char *query, char *err, size_t errlen);

/**
 * tb_topic_select() with two optional restrictions: only
 * entries carried by one of the named sources (`sources`/`nsources`; none:
 * any source), and only the given rowids (`within`/`nwithin`; NULL: all
 * entries). Restricting to the rowids a poll just stored runs ONE FTS5
 * query per topic however many entries came in. Same order, limit, result
 * and errors as tb_topic_select().
 */
TB_NODISCARD int tb_topic_select_in(struct tb_store *s, const char *query, char *const *sources,
                                    size_t nsources, const int64_t *within, size_t nwithin,
                                    size_t limit, int64_t **ids, size_t *n, char *err,
                                    size_t errlen);

#endif
