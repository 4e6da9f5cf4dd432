/*
 * tb_normalize: derived fields of parsed entries (canonical link, arXiv id,
 * DOI, identity key, plain text) and sanitized HTML bodies.
 *
 * Pure: no I/O, no event loop. URLs are parsed with libcurl's URL API,
 * HTML with libxml2 (see tb_sanitize.h).
 */
#ifndef TB_NORMALIZE_H
#define TB_NORMALIZE_H

#include <stddef.h>

#include "tb_entry.h"
#include "tb_log.h"

/** Most bytes of entry->text (cut at a UTF-8 character boundary). */
#define TB_NORM_TEXT_MAX (64 * 1024)
/** Longest title kept, in bytes (longer ones are cut at a character, with "…"). */
#define TB_NORM_TITLE_MAX 1024
/** Longest summary or content kept, in bytes, before sanitizing. */
#define TB_NORM_BODY_MAX (1024 * 1024)

/** Most paper keys kept in entry->mentions (the first ones, in document order). */
#define TB_NORM_MENTIONS_MAX 256
/** Most links of one entry looked at for mentions. */
#define TB_NORM_MENTION_LINKS 1024

/**
 * Fills the normalize fields of every entry of f (canon_link, arxiv_id, doi,
 * key, text, mentions), replaces summary/content HTML with sanitized HTML (relative
 * URLs made absolute against entry->base, else f->base), and fills a missing
 * or blank entry title from the text (first ~80 characters, cut at a word,
 * "…" appended when cut). key is "id:" + the trimmed upstream id when there
 * is one, else "link:" + canon_link (or the trimmed link when it is not
 * http(s)), else "hash:" + hex SHA-256 of title NUL summary NUL content as
 * parsed. text is "" when there is no body. mentions lists, once each and
 * in document order, the papers the entry links to: every href of its
 * sanitized summary and content and every link of its links list gives
 * "arxiv:ID" when tb_norm_arxiv_id() finds an id in it (arXiv abs, pdf and
 * html pages of any host spelling and version, Hugging Face paper pages),
 * else "doi:DOI" when tb_norm_doi() finds one, else "link:" + tb_norm_url()
 * of it; the keys of the entry's own identity ("arxiv:" + arxiv_id, "doi:"
 * + doi, "link:" + canon_link: what it carries) are left out. At most
 * TB_NORM_MENTIONS_MAX keys from the first TB_NORM_MENTION_LINKS links;
 * NULL and 0 when there are none. Links that could run script
 * are not passed on: an entry link, a link of the links list or a feed
 * link/self/hub/icon that is not http(s) is dropped (NULL or unlinked), as
 * is a person URI that is not http(s) or mailto, a category whose term is a
 * script URL (tb_norm_is_script_url()), such a category scheme, and a
 * feed id that is such a URL or no URI (tb_norm_is_uri()). All new strings
 * go into f->arena. Returns 0 or -ENOMEM (entries
 * may then be partly filled).
 */
TB_NODISCARD int tb_norm_feed(struct tb_feed *f);

/** tb_norm_feed_opts() flag: no plain text (it only serves topic matching). */
enum { TB_NORM_NO_TEXT = 1 };

/**
 * tb_norm_feed() with flags. TB_NORM_NO_TEXT leaves text NULL, except for
 * an entry without title, whose title is still made from the text (so
 * everything else is as tb_norm_feed() gives it): for a merge that matches
 * no topic. Returns 0 or -ENOMEM.
 */
TB_NODISCARD int tb_norm_feed_opts(struct tb_feed *f, int flags);

/**
 * Whether s is an absolute URI (RFC 3986 syntax, with RFC 3987's non-ASCII
 * characters allowed, so an IRI as atom:id requires): a scheme of two or
 * more characters (not a drive letter), ':', something after it; only
 * unreserved, sub-delims, ':', '@', '/', '?' and a '%' starting a
 * percent-encoded byte in path, query and fragment, at most one '#'; an
 * authority after "//" of [userinfo@]host[:port] with an IP literal only
 * in brackets and a port of digits. A URN must have a NID of 2 to 32
 * letters, digits and hyphens and a non-empty NSS (RFC 8141), and
 * urn:uuid: an RFC 4122 UUID and nothing more. No white space anywhere.
 * NULL is not.
 */
int tb_norm_is_uri(const char *s);

/**
 * Whether s is a javascript:, vbscript: or data: URL as a browser reads it:
 * whitespace and control characters before the colon ignored, case folded.
 * NULL is not.
 */
int tb_norm_is_script_url(const char *s);

/**
 * Canonical form of an absolute http(s) URL for cross-source dedupe: scheme
 * "https" for both http and https, lower-case host ("www." kept), the
 * scheme's default port and 443, user info and fragment dropped, tracking
 * parameters (utm_*, fbclid, gclid, dclid, mc_cid, mc_eid, ref, _hsenc,
 * _hsmi, igshid, yclid, msclkid; names compared case-insensitively) dropped
 * with the rest of the query kept in order, an empty query dropped, empty
 * path "/", trailing slashes of a non-root path dropped. Path and query are
 * otherwise kept as given (percent-encoding and IDN hosts are not
 * rewritten). The form is a fixed point: tb_norm_url() of it, or of
 * tb_norm_link() of the same URL, gives it again. Returns a malloc'd string
 * (the caller frees it), or NULL when url is not an absolute http(s) URL or
 * on out of memory.
 */
char *tb_norm_url(const char *url);

/**
 * The URL cleaned for publishing as an alternate link: the tracking
 * parameters listed at tb_norm_url() are dropped, scheme and host are
 * lower-cased and the scheme's default port (80 for http, 443 for https) is
 * dropped; the scheme itself (http stays http), path and fragment are kept
 * as given. Returns a malloc'd string (the caller frees
 * it), or NULL when url is not an absolute http(s) URL or on out of memory.
 */
char *tb_norm_link(const char *url);

/**
 * arXiv identifier without version ("2401.01234", "hep-th/9901001"; an old
 * style subject class as in "math.GT/0309136" is dropped) from an arxiv.org
 * URL (any *.arxiv.org host such as www. or export., paths /abs/, /pdf/
 * with or without ".pdf", /html/), a Hugging Face paper page
 * (huggingface.co, www.huggingface.co or hf.co /papers/ID: the same paper
 * as arXiv's, so a daily-papers item dedupes with arXiv's listing), or an id string
 * ("oai:arXiv.org:ID", "arXiv:ID", any case). Bare ids are not recognised. Writes a NUL-terminated
 * id into buf (len >= 32 suffices) and returns 0, -ENOENT when there is none, -ENOSPC when buf is
 * too small.
 */
int tb_norm_arxiv_id(const char *s, char *buf, size_t len);

/**
 * Length of an arXiv-style announcement ("arXiv:2403.05577v1 Announce Type:
 * new \nAbstract: ", leading white space included) at the start of s, or 0
 * when s does not start with one. tb_norm_feed() drops it from summaries;
 * pages use it on texts stored before it did.
 */
size_t tb_norm_announcement_len(const char *s);

/**
 * DOI, lower-cased ("10.1000/xyz"), from a doi.org / dx.doi.org URL (path
 * percent-decoded), another http(s) URL whose path contains "/10.NNNN/...",
 * a "doi:", "info:doi/" or "urn:doi:" string, or a bare "10.NNNN/..." string.
 * The suffix ends at the first whitespace or control character. Writes it NUL-terminated into buf
 * and returns 0, -ENOENT when there is none, -ENOSPC when buf is too small.
 */
int tb_norm_doi(const char *s, char *buf, size_t len);

#endif
