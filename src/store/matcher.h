/*
 * The topic matcher (matcher.c): which FTS5 topic queries each entry of a
 * batch matches, answered by an in-memory SQLite database holding one FTS5
 * table with the same columns and tokenizer as the store's entries_fts (both
 * are made from TB__FTS_COLUMNS and TB__FTS_TOKENIZE below, so they cannot
 * drift apart). On PostgreSQL, which has no FTS5, the node that stores a
 * batch matches it here and keeps the memberships in the database
 * (topic.c); a topic new to the database is backfilled by streaming stored
 * entries through it in id batches. A query means there exactly what it
 * means to the store's own index: same syntax, same errors (TB_EQUERY with
 * FTS5's message).
 *
 * A matcher is used by one thread at a time. Internal to the store (the
 * tests include it as "../src/store/matcher.h").
 */
#ifndef TB_MATCHER_H
#define TB_MATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "tb_log.h"

/* The indexed columns, in order: what a batch entry's col[] holds. */
#define TB__FTS_COLUMNS "title, text, authors, categories"
#define TB__FTS_NCOLS 4

/* The tokenizer: Porter stemming over unicode61, diacritics removed. */
#define TB__FTS_TOKENIZE "tokenize='porter unicode61 remove_diacritics 2'"

struct tb__matcher;

/**
 * Creates *out: an empty batch over a private in-memory database. The
 * caller frees it (tb__matcher_free). TB_ESTORE (err says why), -ENOMEM.
 */
TB_NODISCARD int tb__matcher_new(struct tb__matcher **out, char *err, size_t errlen);

/** Frees m; NULL is a no-op. */
void tb__matcher_free(struct tb__matcher *m);

/**
 * Adds entry id with its indexed text col (title, text, authors,
 * categories; NULL for none; copied) to the batch. Ids need not be in any
 * order, but each at most once per batch. 0, TB_ESTORE or -ENOMEM.
 */
TB_NODISCARD int tb__matcher_add(struct tb__matcher *m, int64_t id,
                                 const char *const col[TB__FTS_NCOLS], char *err, size_t errlen);

/** How many entries the batch holds. */
size_t tb__matcher_count(const struct tb__matcher *m);

/**
 * The ids of the batch's entries that match the FTS5 query (NULL or "":
 * every entry), ascending, into *ids (malloc'd, NULL when none; the caller
 * frees) and *n. Errors: TB_EQUERY with FTS5's message in err when the
 * query does not compile (as tb_topic_check says it), TB_ESTORE, -ENOMEM.
 */
TB_NODISCARD int tb__matcher_match(struct tb__matcher *m, const char *query, int64_t **ids,
                                   size_t *n, char *err, size_t errlen);

/**
 * 0 when the FTS5 query compiles (NULL and "" do), else TB_EQUERY with the
 * reason in err: the same answer and message as tb_topic_check on SQLite.
 */
TB_NODISCARD int tb__matcher_check(struct tb__matcher *m, const char *query, char *err,
                                   size_t errlen);

/** Empties the batch (the queries' results go with it). 0 or TB_ESTORE. */
TB_NODISCARD int tb__matcher_clear(struct tb__matcher *m, char *err, size_t errlen);

#endif
