/*
 * tb_parse: one fetched document (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed
 * 1.0/1.1) to a struct tb_feed.
 *
 * Pure: no I/O, no event loop. The format is detected from the content, the
 * bytes are decoded to UTF-8 (BOM, external charset, declared encoding, and
 * a windows-1252 repair of stray bytes), XML is read with libxml2's SAX2
 * interface without loading or expanding entities, and every URL is made
 * absolute against xml:base and the document's URL (libcurl's URL API).
 */
#ifndef TB_PARSE_H
#define TB_PARSE_H

#include <stddef.h>

#include "tb_entry.h"
#include "tb_log.h"

/** Input cap used when tb_parse_opts.max_size is 0: 32 MiB. */
#define TB_PARSE_MAX_DEFAULT ((size_t)32 * 1024 * 1024)

/** Most entries kept from one document, in document order (feeds list the
 *  newest first); the rest are dropped and noted in feed->error. */
#define TB_PARSE_MAX_ENTRIES 10000

/** How to read one document; all members may be zero/NULL. */
struct tb_parse_opts {
    const char *url; /* where the document came from: base for relative URLs; may be NULL */
    const char *
        charset; /* external charset (HTTP Content-Type); overrides the declared one; may be NULL */
    size_t max_size; /* input cap in bytes; 0 means TB_PARSE_MAX_DEFAULT (32 MiB) */
};

/**
 * Parses one document (any supported format, detected from content). On
 * success returns 0 and a new feed in *out (caller frees with tb_feed_free);
 * recoverable problems set feed->error and still return 0 with what was
 * recovered. Unrecoverable: TB_EPARSE / TB_ETOOBIG / -ENOMEM with a one-line
 * reason in err, *out NULL. opts may be NULL. Thread-safe (no global state).
 */
TB_NODISCARD int tb_parse_feed(const char *data, size_t len, const struct tb_parse_opts *opts,
                               struct tb_feed **out, char *err, size_t errlen);

/** Where the parts of a simple URL are (see tb_parse_url_simple()). */
struct tb_parse_url_split {
    int https;    /* scheme https, else http */
    size_t host;  /* offset of the host */
    size_t port;  /* offset of the port digits, or 0 when none */
    size_t path;  /* offset of the path ('/') */
    size_t query; /* offset of the '?', or frag when there is no query */
    size_t frag;  /* offset of the '#', or len when there is no fragment */
    size_t len;   /* strlen() of the URL */
};

/** Whether url is "http[s]://host[:port]/path[?query][#fragment]" in a form curl's parse
 *  and print keep byte for byte, so it needs neither: a lower-case scheme and a host of
 *  [a-zA-Z0-9-] labels, the last not starting with a digit (no IPv4 form to rewrite); a
 *  port 1-65535 without leading zeros; path, query and fragment of unreserved and
 *  sub-delim characters, ':', '@', '/' (and '?' in the query and fragment) without "." or
 *  ".." segments; query and fragment not empty. No userinfo, '%', second '#', white space
 *  or non-ASCII. Returns 1 and fills *sp, else 0 (curl is to decide). */
int tb_parse_url_simple(const char *url, struct tb_parse_url_split *sp);

#endif
