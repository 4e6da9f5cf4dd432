/*
 * Internals shared by the site's files: site.c writes the documents,
 * site_pages.c the HTML pages, site_trend.c makes the trending lists and
 * what each entry says of its sources and topics. Not part of the public API.
 */
#ifndef TB_SITE_INT_H
#define TB_SITE_INT_H

#include "tb_buf.h"
#include "tb_site.h"

/** Writes document b as relpath into public_dir (with .gz) and the server; 0 or an error. */
int tb__site_put(struct tb_site *s, const char *relpath, const char *type, const struct tb_buf *b,
                 char *err, size_t errlen);

/** Writes style.css, favicon.svg, index.html and topics/NAME.html (site_pages.c). */
int tb__site_pages(struct tb_site *s, char *err, size_t errlen);

/**
 * Appends to b the HTML form of archive page `page` of topic cfg->topics[topic]
 * (or of /all: topic (size_t)-1) holding entries ids[0..n) (newest first),
 * as tb_page_archive() renders it (site_pages.c). Errors: -ENOMEM,
 * TB_ESTORE (detail in err), -E2BIG.
 */
int tb__site_archive_html(struct tb_site *s, size_t topic, int64_t page, const int64_t *ids,
                          size_t n, struct tb_buf *b, char *err, size_t errlen);

/**
 * Writes entries f (may be NULL: none) as path.atom, path.rss and
 * path.json into public_dir and the server. Errors as tb_site_publish_all().
 */
int tb__site_write_doc(struct tb_site *s, const char *path, const char *id, const char *title,
                       const struct tb_feed *f, char *err, size_t errlen);

/**
 * Adds to each entry of f what the reader should know of it: an "Also in:"
 * footer in its content linking every other source's copy, and an
 * atom:category per configured topic it matches (term the topic's name,
 * label its title, scheme base_url + "topics/"). Strings go into f's
 * arena. Errors: -ENOMEM, TB_ESTORE, TB_EQUERY (detail in err).
 */
int tb__site_decorate(struct tb_site *s, struct tb_feed *f, char *err, size_t errlen);

#endif
