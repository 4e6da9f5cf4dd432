/*
 * tb_sanitize: allow-list HTML sanitizer and plain-text rendering of HTML
 * fragments (summary/content of feed entries).
 *
 * Both run libxml2's HTML parser in SAX mode and write straight into a
 * buffer; no DOM is built. Pure: no I/O, no event loop. Safe to call from
 * several threads once xmlInitParser() has run on the main thread (the
 * functions call it themselves, which is enough for single-threaded use).
 */
#ifndef TB_SANITIZE_H
#define TB_SANITIZE_H

#include <stddef.h>

#include "tb_buf.h"
#include "tb_log.h"

/**
 * Sanitized copy of an HTML fragment: allow-list of elements and attributes
 * (no script, style, iframe, object, embed, form/input/button, frame, meta,
 * link, base, svg/math; no on* or style attributes); href/src/cite only
 * http, https, mailto or relative (made absolute against `base` when base is
 * an absolute http(s) URL; kept relative when base is NULL). javascript:,
 * vbscript:, data: and every other scheme are removed, also when spelled
 * with entities, mixed case or embedded whitespace/control characters; so
 * is a URL whose first segment holds an undecoded entity-like "&...;" (such
 * as HTML5's &colon;, which libxml2 does not know). Text
 * of dropped script/style elements is dropped too; text of other unknown
 * elements is kept. Output is balanced HTML in UTF-8 without C0 control
 * characters, nested so that libxml2 reads it back as written: sanitizing
 * the output again (with the same base) gives the same output. Returns a
 * malloc'd string (the caller frees it), or NULL when out of memory or when
 * len exceeds INT_MAX / 4 (512 MB).
 */
char *tb_sanitize_html(const char *html, size_t len, const char *base);

/**
 * Plain-text rendering of an HTML fragment: tags dropped, entities decoded,
 * script/style text dropped, block elements and <br> become newlines, other
 * whitespace runs (including no-break spaces) collapse to one space, leading
 * and trailing whitespace trimmed. Returns a malloc'd string (the caller
 * frees it), or NULL as tb_sanitize_html().
 */
char *tb_sanitize_text(const char *html, size_t len);

/**
 * Appends the n bytes at s (NULL: none) to b with &, <, >, " and ' escaped,
 * so that any text is safe as HTML text or a quoted attribute value: the
 * one escape of text written into HTML (pages, feed footers, RSS
 * descriptions). Returns 0 or a tb_buf error.
 */
TB_NODISCARD int tb_sanitize_escape(struct tb_buf *b, const char *s, size_t n);

#endif
