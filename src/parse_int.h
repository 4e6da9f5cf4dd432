/*
 * Internals shared by parse.c (input decoding, dispatch, string helpers),
 * parse_xml.c (RSS/Atom via SAX2) and parse_json.c (JSON Feed).
 */
#ifndef TB_PARSE_INT_H
#define TB_PARSE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "tb_entry.h"

/** Copies s[0..n) into the feed's arena with invalid UTF-8 and characters XML 1.0
 *  cannot hold removed; trims ASCII whitespace when `trim`. NULL when out of memory. */
char *tb__parse_str(struct tb_feed *f, const char *s, size_t n, int trim);

/** Resolves `href` (NUL-terminated, trimmed) against `base` (may be NULL). Returns an
 *  absolute URL in the feed's arena, or NULL when it cannot be made absolute (or OOM). */
const char *tb__parse_url(struct tb_feed *f, const char *base, const char *href);

/** Plain text of an HTML fragment, in the arena: tb_sanitize_text() (libxml2's HTML
 *  parser) trimmed; NULL when out of memory. The one HTML-to-text conversion of parse. */
char *tb__parse_html_text(struct tb_feed *f, const char *html);

/** Whether text that should be plain (an RSS or JSON Feed title, a JSON Feed summary)
 *  holds escaped HTML: a character reference ("&eacute;", "&#233;", "&#xE9;", "&bogus;")
 *  or an end tag ("</b"), as feeds produced from HTML templates have. */
int tb__parse_looks_html(const char *s);

/** A person from an RSS/dc author string: "a@b (Name)", "Name <a@b>", "a@b", "Name".
 *  NULL for an empty string or when out of memory (then *oom is set). */
struct tb_person *tb__parse_person(struct tb_feed *f, const char *s, int *oom);

/** Appends a person (may be NULL: no-op) to a list. */
void tb__parse_add_person(struct tb_person **list, struct tb_person *p);

/** Appends a link to a list. */
void tb__parse_add_link(struct tb_link **list, struct tb_link *l);

/** Appends a category to a list. */
void tb__parse_add_category(struct tb_category **list, struct tb_category *c);

/** Records the first recoverable error on the feed (printf-style, one line). */
void tb__parse_error(struct tb_feed *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends e to f, or drops it (noting it once in feed->error) when the feed
 * already holds TB_PARSE_MAX_ENTRIES entries. */
void tb__parse_append(struct tb_feed *f, struct tb_entry *e);

/** RSS/RDF/Atom from UTF-8 bytes into f. 0, TB_EPARSE or -ENOMEM (reason in err). */
int tb__parse_xml(struct tb_feed *f, const char *data, size_t len, const char *url, char *err,
                  size_t errlen);

/** JSON Feed from UTF-8 bytes into f. 0, TB_EPARSE or -ENOMEM (reason in err). */
int tb__parse_json(struct tb_feed *f, const char *data, size_t len, const char *url, char *err,
                   size_t errlen);

#endif
