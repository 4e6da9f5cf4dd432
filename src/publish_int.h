/*
 * Internals shared by the publish writers (publish.c, publish_rss.c,
 * publish_json.c). Not part of the public API.
 */
#ifndef TB_PUBLISH_INT_H
#define TB_PUBLISH_INT_H

#include <libxml/xmlwriter.h>

#include "tb_date.h"
#include "tb_publish.h"

/** Room for an RFC 3339 or RFC 822 date and its NUL. */
#define TB__DATE_MAX 40

/** Room for a fallback entry id ("urn:tributary:entry:N"). */
#define TB__ID_MAX 48

/** The feed's updated: m->updated, else the newest entry date, else now; never later than
 *  now. */
int64_t tb__pub_feed_updated(const struct tb_publish_meta *m, const struct tb_entry *entries);

/** The entry's updated: updated, else published, else feed_updated. */
int64_t tb__pub_entry_updated(const struct tb_entry *e, int64_t feed_updated);

/** The id an entry is published under (see tb_publish.h); may point into buf. */
const char *tb__pub_entry_id(const struct tb_entry *e, size_t n, char buf[TB__ID_MAX]);

/** Whether s is an absolute URI: a scheme, a colon, no white space. */
int tb__pub_uri_ok(const char *s);

/** The entry's title, or "(untitled)". */
const char *tb__pub_entry_title(const struct tb_entry *e);

/**
 * Makes s safe for XML and JSON (see tb_publish.h). *out is s itself when it
 * is already clean, else a string in scratch valid until the next call; NULL
 * when s is NULL. Returns 0 or the scratch buffer's error.
 */
TB_NODISCARD int tb__pub_clean(const char *s, struct tb_buf *scratch, const char **out);

/**
 * An xmlTextWriter appending to a tb_buf, with a sticky first error. The
 * layout is libxml2's indentation (two spaces a level, a line per element),
 * written by tb__xml_start()/tb__xml_end() as one piece of white space
 * each instead of by the writer a level at a time.
 */
struct tb__xml {
    xmlTextWriterPtr w;    /* the writer; owns its output buffer */
    struct tb_buf *out;    /* the caller's buffer */
    size_t start;          /* out->len when the document began */
    int bufrc;             /* error of the last failed append to out, or 0 */
    int rc;                /* first error, or 0; later calls do nothing */
    int discard;           /* drop what libxml2 flushes instead of appending it */
    int depth;             /* open elements */
    int open;              /* the innermost element's start tag is not closed yet */
    int doindent;          /* libxml2's: the next end tag goes on a line of its own */
    int nl;                /* the newline after the last end tag is still owed */
    struct tb_buf scratch; /* cleaned strings */
};

/** Starts a UTF-8 document in out. Returns 0 or -ENOMEM (nothing to close). */
TB_NODISCARD int tb__xml_open(struct tb__xml *x, struct tb_buf *out);

/** Ends the document and frees the writer; returns the first error. */
TB_NODISCARD int tb__xml_close(struct tb__xml *x);

/** Hands what the writer holds, with the white space it still owes, to out
 * (or drops it while discard is set). */
void tb__xml_flush(struct tb__xml *x);

/** Opens element name (a literal, may carry a prefix). */
void tb__xml_start(struct tb__xml *x, const char *name);

/** Closes the innermost open element. */
void tb__xml_end(struct tb__xml *x);

/** Writes attribute name=value (cleaned); nothing when value is NULL. */
void tb__xml_attr(struct tb__xml *x, const char *name, const char *value);

/** Writes escaped, cleaned text; nothing when text is NULL. */
void tb__xml_text(struct tb__xml *x, const char *text);

/** Writes <tb:trending score groups/> when e->trend_groups > 0 (tb_publish.h). */
void tb__pub_trending(struct tb__xml *x, const struct tb_entry *e);

/** Writes <name>text</name>; nothing when text is NULL. */
void tb__xml_elem(struct tb__xml *x, const char *name, const char *text);

/** Records a negative error unless one is already recorded. */
void tb__xml_fail(struct tb__xml *x, int rc);

#endif
