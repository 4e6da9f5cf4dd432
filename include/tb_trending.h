/*
 * tb_trending: papers ranked by how many independent voices carried or
 * mentioned them lately.
 *
 * The store records, per source, each paper the source carried (one of its
 * entries IS the paper: same arXiv id, DOI or canonical link) or mentioned
 * (one of its entries links to it), at the time of its first such entry:
 * the earlier of that entry's published date and the time tributary first
 * saw it (see tb_store_put_feed()). A paper is named by its key: "arxiv:ID"
 * (no version), else "doi:DOI" (lower-case), else "link:URL" (a canonical
 * link, tb_norm_url()); a paper that is a stored entry has that entry's key.
 *
 * Score of a paper at time `now`, over the groups G that carried or
 * mentioned it within the window (now - window <= t <= now):
 *
 *     score = sum over G of  weight(G) * 0.5 ^ ((now - first(G)) / half_life)
 *
 * weight(G) is the highest weight among the sources of group G (sources
 * with weight 0 never count, whatever their group); first(G) the earliest
 * time within the window at which a source of G carried or mentioned the
 * paper. So a group counts once however many of its sources and entries
 * name the paper (all of arXiv's listings are one voice), a fresh voice
 * counts its full weight and one a half-life old half of it. A paper known
 * only by a link ("link:") counts only when a stored entry has that
 * canonical link, and is listed only when at least two groups carried or
 * mentioned it: every entry carries itself, so a blog post, a discussion
 * or a newsletter issue with one voice is not a trending paper; arXiv and
 * DOI papers are listed from their first voice. Engagement counts (slash:comments, thr:total) do
 * not count yet. Runs on the store's connection; same thread rules as tb_store.
 */
#ifndef TB_TRENDING_H
#define TB_TRENDING_H

#include <stddef.h>
#include <stdint.h>

#include "tb_log.h"
#include "tb_store.h"

/** What to rank. */
struct tb_trending_opts {
    int64_t now;       /* epoch seconds the score is computed at */
    int64_t window;    /* seconds before now that count, >= 1 */
    int64_t half_life; /* seconds after which a voice counts half, >= 1 */
    size_t limit;      /* most papers reported; 0: all */
    const char *query; /* FTS5 topic query the paper's stored entry must match, or NULL */
};

/** One ranked paper, valid during the callback only. */
struct tb_trending_paper {
    const char *key;  /* "arxiv:ID", "doi:DOI" or "link:URL" */
    int64_t entry_id; /* the stored entry that is this paper, or 0 when no source carries it */
    double score;     /* see the formula above; > 0 */
    int groups;       /* distinct groups that carried or mentioned it in the window */
    int64_t first;    /* earliest first(G), epoch seconds */
    int64_t last;     /* latest first(G), epoch seconds */
};

/** Receives each paper, best first; a non-zero return stops the walk and is returned. */
typedef int (*tb_trending_cb)(const struct tb_trending_paper *p, void *data);

/**
 * Calls cb for the trending papers, by score descending (ties: more groups
 * first, then by key), at most o->limit. With o->query, only papers whose
 * stored entry matches it (papers no source carries never do). Cost follows
 * the mentions within the window, not the archive. Errors: -EINVAL (window
 * or half_life < 1), TB_EQUERY (the query does not compile, reason in err),
 * TB_ESTORE, -ENOMEM, or cb's non-zero return.
 */
TB_NODISCARD int tb_trending_select(struct tb_store *s, const struct tb_trending_opts *o,
                                    tb_trending_cb cb, void *data, char *err, size_t errlen);

/** One source's first carrying or mention of a paper (tb_trending_voices()). */
struct tb_trending_voice {
    const char *source; /* the source's name */
    const char *group;  /* its group (its name when it has none) */
    double weight;      /* its weight */
    int64_t entry_id;   /* the source's first entry that carried or mentioned the paper */
    int64_t at;         /* when, epoch seconds */
    int carries;        /* 1: one of its entries is the paper; 0: only mentions it */
};

/** Receives each voice; a non-zero return stops the walk and is returned. */
typedef int (*tb_trending_voice_cb)(const struct tb_trending_voice *v, void *data);

/**
 * Calls cb for every source that carried or mentioned the paper `key`
 * (any time, any weight), earliest first: what a "Mentioned by ..." line
 * names. Errors: TB_ESTORE, or cb's non-zero return.
 */
TB_NODISCARD int tb_trending_voices(struct tb_store *s, const char *key, tb_trending_voice_cb cb,
                                    void *data, char *err, size_t errlen);

/**
 * Writes into *seen the latest time at which the store learned of a voice
 * of paper `key` that counts at `now` (a source of weight above 0 that
 * carried or mentioned it within [now - window, now]): the later of the
 * voice's time and when its source first had that entry, or 0 when none.
 * A voice's own time is the entry's published date when earlier, so an
 * entry fetched late has an old time but a fresh `seen`: what "new since
 * the last digest" must go by (tb_digest.h). Errors: TB_ESTORE.
 */
TB_NODISCARD int tb_trending_seen(struct tb_store *s, const char *key, int64_t now, int64_t window,
                                  int64_t *seen, char *err, size_t errlen);

#endif
