/*
 * Internals shared by the site's files (site.c, site_pages.c). Not part of
 * the public API.
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

#endif
