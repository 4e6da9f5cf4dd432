/*
 * tb_arxiv: resolving papers that no source carries through the arXiv API.
 *
 * A paper known only as a mention ("arxiv:ID" in the store's mentions, no
 * stored entry has that arXiv id) is asked of the API in batches
 * (tb_arxiv_query_url()); the Atom answer is read by tributary's own parser
 * and becomes a feed of the pseudo-source TB_ARXIV_SOURCE
 * (tb_arxiv_parse_answer()), stored like any other. The store remembers
 * each id's resolution (tb_store_arxiv_due(), tb_store_arxiv_record()) so
 * that an id is asked once, and again after a failure only once its
 * backoff is over. The daemon's side (one request at a time, at least
 * TB_ARXIV_GAP_MS apart) is src/daemon_arxiv.c.
 */
#ifndef TB_ARXIV_H
#define TB_ARXIV_H

#include <stddef.h>
#include <stdint.h>

#include "tb_entry.h"
#include "tb_log.h"
#include "tb_store.h"

/** Most ids in one API request. */
#define TB_ARXIV_BATCH_MAX 100
/** Least time between the starts of two API requests (arXiv's terms), ms. */
#define TB_ARXIV_GAP_MS 3000
/** Name of the pseudo-source that resolved papers are stored under. */
#define TB_ARXIV_SOURCE "arXiv"
/** Failures after which an id is no longer asked. */
#define TB_ARXIV_MAX_TRIES 8

/**
 * Whether a feed whose link (its web page, tb_feed.link) is `link` is
 * arXiv's own record of its papers: the link's host is arxiv.org or one of
 * its subdomains (rss.arxiv.org, export.arxiv.org: the listings, and the
 * API's answers as tb_arxiv_parse_answer() names them). For a paper with
 * an arXiv id, such a copy's title, authors and abstract win over copies
 * from other sites (tb_store_put_feed(), tb_dedupe_put()). NULL: 0.
 */
int tb_arxiv_is_record(const char *link);

/**
 * Builds the API URL asking for ids[0..n-1] (1 <= n <= TB_ARXIV_BATCH_MAX):
 * api + "?id_list=ID1,ID2,...&max_results=n" ('&' instead of '?' when api
 * has a query already). Ids are percent-encoded where needed. *out is
 * malloc'd (caller frees). Errors: -EINVAL (n out of range, NULL api or
 * id), -ENOMEM.
 */
TB_NODISCARD int tb_arxiv_query_url(const char *api, const char *const *ids, size_t n, char **out);

/**
 * Parses and normalizes an API answer (Atom) into *out (caller frees with
 * tb_feed_free()): entries without an arXiv id (the API's "Error" entries)
 * are dropped, and the feed's metadata names arXiv (title TB_ARXIV_SOURCE,
 * link https://arxiv.org/, no self link), so atom:source names arXiv, not
 * the query. url is the request's URL (base for relative links). Errors:
 * TB_EPARSE, TB_ETOOBIG, -ENOMEM, with a reason in err.
 */
TB_NODISCARD int tb_arxiv_parse_answer(const char *data, size_t len, const char *url,
                                       struct tb_feed **out, char *err, size_t errlen);

/**
 * Up to max (<= TB_ARXIV_BATCH_MAX) arXiv ids that are due for resolving at
 * `now`, smallest first: carried or mentioned ("arxiv:ID" in mentions) at a
 * time >= since (the trending window: papers voiced before it cannot
 * trend), with no stored entry whose origin is an arXiv record
 * (tb_arxiv_is_record()), and never asked, or failed with a retry time <=
 * now and fewer than TB_ARXIV_MAX_TRIES failures. The store keeps those
 * facts per id as it stores mentions, so the cost follows the ids still
 * open within the window, not the mentions. ids[] receives malloc'd
 * strings (caller frees each); *n their number. Errors: TB_ESTORE, -ENOMEM
 * (ids freed).
 */
TB_NODISCARD int tb_store_arxiv_due(struct tb_store *s, int64_t now, int64_t since, size_t max,
                                    char **ids, size_t *n, char *err, size_t errlen);

/**
 * Records the outcome of asking for ids[0..n-1]: ok != 0 marks them
 * resolved for good; ok == 0 counts a failure and sets the retry time to
 * now + retry * 2^(failures - 1), at most one day later. Errors: TB_ESTORE.
 */
TB_NODISCARD int tb_store_arxiv_record(struct tb_store *s, const char *const *ids, size_t n, int ok,
                                       int64_t now, int64_t retry, char *err, size_t errlen);

/**
 * The earliest retry time after `now` of an id still to resolve (failed,
 * fewer than TB_ARXIV_MAX_TRIES failures, still held by no arXiv record) in
 * *next, or 0 when there is none. Errors: TB_ESTORE.
 */
TB_NODISCARD int tb_store_arxiv_next(struct tb_store *s, int64_t now, int64_t *next, char *err,
                                     size_t errlen);

#endif
