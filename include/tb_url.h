/*
 * tb_url.h: the one answer to "may this URL be published or fetched": its
 * scheme, read as a lenient browser reads it, is http or https (or mailto
 * where a person's address is allowed). Syntax beyond the scheme is left to
 * curl's URL parser (normalize, config, fetcher); this header needs no curl.
 */
#ifndef TB_URL_H
#define TB_URL_H

/** tb_url_kind(): no scheme, a relative reference. */
#define TB_URL_RELATIVE 0
/** tb_url_kind(): http: or https:. */
#define TB_URL_HTTP 1
/** tb_url_kind(): mailto:. */
#define TB_URL_MAILTO 2
/** tb_url_kind(): any other scheme (javascript:, data:, tag:, ...). */
#define TB_URL_OTHER (-1)

/** tb_url_allowed(): mailto: passes too (a person's URI, a contact). */
#define TB_URL_ALLOW_MAILTO 1u

/**
 * The kind of URL s is by its scheme (TB_URL_*), read the way a lenient
 * browser reads it: whitespace and control characters anywhere before the
 * colon are ignored and case is folded, so " JaVa\tscript:" is OTHER and
 * "\x01HTTPS://x" is HTTP. An entity-like "&...;" left in the first segment
 * (before any '/', '?' or '#': a reader that decodes it might find a scheme
 * there, as in "javascript&colon;") makes it OTHER. NULL is RELATIVE.
 */
int tb_url_kind(const char *s);

/**
 * Whether s may be published or fetched: tb_url_kind() is TB_URL_HTTP, or
 * TB_URL_MAILTO when flags has TB_URL_ALLOW_MAILTO. False for NULL.
 */
int tb_url_allowed(const char *s, unsigned flags);

/** Whether a scheme as curl's URL API returns it (lower case, no colon) is http or https. */
int tb_url_scheme_allowed(const char *scheme);

#endif
