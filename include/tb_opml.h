/*
 * tb_opml: reading and writing OPML subscription lists (libxml2).
 *
 * Reading never touches the network and never expands entities: documents
 * that declare entities are refused. No I/O, no loop.
 */
#ifndef TB_OPML_H
#define TB_OPML_H

#include <stddef.h>

#include "tb_buf.h"
#include "tb_config.h"

/** One feed outline. Strings are malloc'd and owned by the array. */
struct tb_opml_feed {
    char *title;    /* text attribute, else title, or NULL */
    char *url;      /* xmlUrl as given (never NULL, never empty) */
    char *html_url; /* htmlUrl, or NULL */
    char *category; /* enclosing outline titles joined by '/', or NULL */
    int line;       /* line of the outline in the document */
};

/**
 * Reads an OPML 1.0/2.0 document of `len` bytes. Outlines nest; every
 * outline with a non-empty xmlUrl is a feed (others are skipped), and the
 * titles of its enclosing outlines become its category "a/b". Returns 0 and
 * a malloc'd array in *feeds / *n (free with tb_opml_free(); NULL and 0 when
 * there are none), TB_EPARSE with the reason in `err` (malformed XML, not
 * OPML, entity declarations), or -ENOMEM.
 */
TB_NODISCARD int tb_opml_read(const char *data, size_t len, struct tb_opml_feed **feeds, size_t *n,
                              char *err, size_t errlen);

/** Frees an array returned by tb_opml_read(). NULL is a no-op. */
void tb_opml_free(struct tb_opml_feed *feeds, size_t n);

/**
 * Appends an OPML 2.0 document (head with title and dateCreated, body with
 * one outline type="rss" text title xmlUrl [htmlUrl] per source, paused
 * ones included) to `out`. Returns 0, -ENOMEM, or TB_ETOOBIG from the
 * buffer's cap (the buffer is then empty).
 */
TB_NODISCARD int tb_opml_write(const struct tb_config *c, struct tb_buf *out);

/**
 * Appends the OPML 2.0 reading list of what this site publishes to `out`:
 * one outline type="rss" per feed, its xmlUrl the Atom document under
 * base_url and its htmlUrl the matching page: "All entries" (all.atom),
 * "Trending" (trending.atom), then every topic (topics/NAME.atom, titled
 * with the topic's title), in config order. A reader imports it in one
 * step. Returns 0, -ENOMEM, or TB_ETOOBIG from the buffer's cap (the
 * buffer is then empty).
 */
TB_NODISCARD int tb_opml_write_topics(const struct tb_config *c, struct tb_buf *out);

/**
 * tb_opml_write() (topics 0) or tb_opml_write_topics() (1) with dateCreated
 * `at` (epoch s) rather than now: the nodes of a cluster write the same
 * bytes. Returns as those.
 */
TB_NODISCARD int tb_opml_write_at(const struct tb_config *c, int topics, int64_t at,
                                  struct tb_buf *out);

#endif
