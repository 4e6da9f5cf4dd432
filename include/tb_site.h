/*
 * tb_site: the published site of the daemon and of `tributary fetch`:
 * /all.atom and /topics/NAME.atom with .rss and .json beside each,
 * /trending.atom and /trending/NAME.atom (likewise), the reading site's
 * pages (/index.html, /topics/NAME.html, /style.css, /favicon.svg: tb_page.h
 * renders them) and /sources.opml and /topics.opml. Entries say which other sources carried
 * them and which topics they match; each feed names its HTML page
 * (alternate link), itself (self) and, when `hub` is set, its WebSub hub,
 * in the document and, when served, in a Link header. Each document is
 * written atomically into public_dir (with a .gz beside it) and, when a
 * server is given, put into tb_http. /all and every topic are RFC 5005
 * archived feeds (tb_archive.h): archive/N.* and topics/NAME/archive/N.*
 * (.atom, .rss, .json and an HTML page, .html), immutable. `tributary
 * fetch` (no server) writes the new pages' files at each publish; the
 * daemon renders a page on its first request (tb_site_archive_miss()),
 * writes it into public_dir once and serves that file from then on, so
 * every page the chain links can be fetched as soon as it is formed and
 * memory holds only the pages read lately. Runs on the store's thread (the
 * loop's thread in the daemon).
 */
#ifndef TB_SITE_H
#define TB_SITE_H

#include <stddef.h>
#include <stdint.h>

#include "tb_config.h"
#include "tb_http.h"
#include "tb_store.h"

/** Embedded by the caller, which fills the borrowed pointers. */
struct tb_site {
    const struct tb_config *cfg; /* borrowed: topics, base_url, public_dir, limits */
    struct tb_store *store;      /* borrowed: where entries come from */
    struct tb_http *http;        /* borrowed, or NULL: files only */
    int max_age;                 /* Cache-Control max-age of served documents (s) */
    unsigned long published;     /* documents written so far (for /metrics) */
    const char *hub;             /* borrowed: WebSub hub URL feeds name (rel="hub"), or NULL */
    /* Called after each feed document (Atom, RSS, JSON) is written, with its
     * path ("topics/x.atom"), Content-Type and bytes (borrowed), or NULL. */
    void (*on_feed)(void *data, const char *path, const char *type, const struct tb_buf *doc);
    void *on_feed_data; /* its first argument */
    /* The moment trending is ranked at in the HTML pages and publish_all
     * (epoch s), or 0: the clock. Nodes of a cluster set the cluster's
     * (tb_changes.h), so they render the same bytes. */
    int64_t now;
    /* Internal: the archive pages being written together (files only), or NULL. */
    struct tb_publish_batch *batch;
};

/**
 * Publishes everything from the store: every topic, all.*, index.html and
 * sources.opml and topics.opml. Keeps going after a failed document; returns the first
 * error (negative errno, TB_EQUERY, TB_ESTORE) with detail in err.
 */
TB_NODISCARD int tb_site_publish_all(struct tb_site *s, char *err, size_t errlen);

/**
 * After entries `ids` (new or updated, n > 0) were stored: rewrites all.*,
 * the documents of each topic that matches at least one of them (one
 * FTS5 query per topic, restricted to those rowids) and the HTML pages
 * (trending changes with any entry). Errors as above.
 */
TB_NODISCARD int tb_site_publish_changed(struct tb_site *s, const int64_t *ids, size_t n, char *err,
                                         size_t errlen);

/** Rewrites the three documents of one topic from the whole store. Errors as above. */
TB_NODISCARD int tb_site_publish_topic(struct tb_site *s, const struct tb_config_topic *t,
                                       char *err, size_t errlen);

/**
 * Rewrites the trending lists as of `now` (epoch seconds): trending.atom,
 * .rss and .json over every entry, and trending/NAME.* per topic (the
 * papers whose entry matches the topic's query), by score, best first, at
 * most [trending] limit, papers with no stored entry left out. Each entry
 * says why it is there: a "Mentioned by N sources: ..." footer linking
 * each group's first mentioning entry, and tb:trending (tb_publish.h).
 * Called by tb_site_publish_all(); after tb_site_publish_changed() (which
 * leaves it out: it costs a walk of the window's mentions per list) the
 * caller calls it when it sees fit, and also as time passes, since scores
 * decay. Errors as above.
 */
TB_NODISCARD int tb_site_publish_trending(struct tb_site *s, int64_t now, char *err, size_t errlen);

/** Rewrites the HTML pages, style.css, favicon.svg, sources.opml and topics.opml (after a
 *  config change, or when the sources' poll states change). Errors as above. */
TB_NODISCARD int tb_site_publish_index(struct tb_site *s, char *err, size_t errlen);

/** Receives one group of a "Mentioned by" line: the name shown and the link
 *  to its entry (an http(s) URL, or NULL). Non-zero stops the walk. */
typedef int (*tb_site_voice_cb)(const char *name, const char *href, void *data);

/**
 * Calls cb, earliest first, for each group that carried or mentioned paper
 * `key` with a weight above 0, as the site's "Mentioned by N sources"
 * footer names them: the group's name (or the source's title when the
 * source is its own group) and the link to that source's entry (its own
 * copy for a source that carries the paper). For other outputs of the same
 * facts (the email digests). Errors: TB_ESTORE, -ENOMEM, or cb's return.
 */
TB_NODISCARD int tb_site_voices(struct tb_store *st, const char *key, tb_site_voice_cb cb,
                                void *data, char *err, size_t errlen);

/**
 * The server's miss callback (tb_http_set_miss(), data: the struct tb_site):
 * for a path of an archive page of /all or of a configured topic that is
 * formed, puts the page into the server, from its file in public_dir
 * (after a restart, or once written) or rendered now from the page's
 * entries and written there (so its bytes never change again); for the
 * page after the newest (the one the newest page's next-archive names),
 * the current document (or HTML page) as a redirect. -ENOENT otherwise.
 */
int tb_site_archive_miss(const char *path, char *loc, size_t loclen, void *data);

/** Unpublishes topic `name` (its feeds and its trending feeds): its files in public_dir and
 * its documents in the server. */
void tb_site_remove_topic(struct tb_site *s, const char *name);

#endif
