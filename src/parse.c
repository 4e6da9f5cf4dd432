/*
 * Feed parsing: bytes to UTF-8, format detection, and the string helpers the
 * RSS/Atom (parse_xml.c) and JSON Feed (parse_json.c) readers share.
 *
 * Every document is turned into clean UTF-8 before a parser sees it: a BOM
 * (UTF-8, UTF-16 or UTF-32, either byte order) or the byte pattern of "<"
 * wins, then the external charset, then the declared one; other charsets go
 * through iconv; bytes that are not valid UTF-8 are read as windows-1252 (the
 * usual mislabelled feed) and control characters XML cannot hold are
 * dropped. libxml2 is then told to ignore the declared encoding.
 */
#include "tb_parse.h"

#include <curl/curl.h>
#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse_int.h"
#include "tb_buf.h"
#include "tb_sanitize.h"
#include "tb_utf8.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

char *tb__parse_str(struct tb_feed *f, const char *s, size_t n, int trim)
{
    struct tb_buf b;
    char *out;

    while (trim && n > 0 && is_space(*s))
        s++, n--;
    while (trim && n > 0 && is_space(s[n - 1]))
        n--;
    if (tb_utf8_xml_clean(s, n))
        return tb_arena_strndup(&f->arena, s, n);
    tb_buf_init(&b, n + 1);
    if (tb_utf8_clean(&b, s, n, TB_UTF8_XML) != 0)
        return NULL;
    out = tb_arena_strndup(&f->arena, b.data ? b.data : "", b.len);
    tb_buf_free(&b);
    return out;
}

/* Whether s starts with a URI scheme ("tag:", "mailto:", "https:"). */
static int has_scheme(const char *s)
{
    const char *p = s;

    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
           (p > s && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')))
        p++;
    return p > s && *p == ':';
}

/* ASCII classes, whatever the locale. */
static int lower_or_digit(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Path and query characters curl's parse keeps as they are: unreserved and
 * sub-delims, ':', '@' and '/' ('?' in the query). No '%', '#', '\\',
 * white space, controls or non-ASCII: those are for curl. */
static int simple_char(unsigned char c, int query)
{
    return lower_or_digit(c) || (c >= 'A' && c <= 'Z') ||
           (c && strchr("-._~!$&'()*+,;=:@/", c) != NULL) || (query && c == '?');
}

/* Length of a host of labels [a-zA-Z0-9-] (curl keeps their case), none
 * empty, the last not starting with a digit, ended by ':' or '/'; 0 when
 * it is not one. */
static size_t simple_host(const char *p)
{
    size_t n = 0, label = 0;

    for (;; n++) {
        unsigned char c = (unsigned char)p[n];

        if (c == '.' || c == ':' || c == '/') {
            if (n == label || (c != '.' && p[label] >= '0' && p[label] <= '9'))
                return 0;
            if (c != '.')
                return n <= 253 ? n : 0;
            label = n + 1;
        } else if (!lower_or_digit(c) && !(c >= 'A' && c <= 'Z') && c != '-') {
            return 0;
        }
    }
}

/* Length of a port "1".."65535" without leading zeros at p, ended by '/';
 * 0 when it is not one. */
static size_t simple_port(const char *p)
{
    size_t n = 0;
    long v = 0;

    while (n < 6 && p[n] >= '0' && p[n] <= '9')
        v = v * 10 + (p[n++] - '0');
    return n > 0 && n < 6 && p[0] != '0' && v <= 65535 && p[n] == '/' ? n : 0;
}

/* Whether the path p[0..n) has a "." or ".." segment, which curl removes. */
static int dot_segment(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = i + 1;

        if (p[i] != '/')
            continue;
        while (k < n && p[k] == '.' && k - i <= 2)
            k++;
        if (k > i + 1 && (k == n || p[k] == '/'))
            return 1;
    }
    return 0;
}

int tb_parse_url_simple(const char *url, struct tb_parse_url_split *sp)
{
    size_t hlen, i;

    memset(sp, 0, sizeof(*sp));
    sp->https = strncmp(url, "https://", 8) == 0;
    if (!sp->https && strncmp(url, "http://", 7) != 0)
        return 0;
    sp->host = sp->https ? 8 : 7;
    hlen = simple_host(url + sp->host);
    if (hlen == 0)
        return 0;
    sp->path = sp->host + hlen;
    if (url[sp->path] == ':') {
        sp->port = sp->path + 1;
        sp->path = sp->port + simple_port(url + sp->port);
        if (sp->path == sp->port)
            return 0;
    }
    sp->len = strlen(url);
    sp->query = sp->path + strcspn(url + sp->path, "?#");
    sp->frag = url[sp->query] == '#' ? sp->query : sp->query + strcspn(url + sp->query, "#");
    /* curl drops an empty query or fragment: "x?" and "x#" are not kept. */
    if ((sp->query < sp->frag && sp->query + 1 == sp->frag) || sp->frag + 1 == sp->len)
        return 0;
    for (i = sp->path; i < sp->len; i++) {
        if (i != sp->frag && !simple_char((unsigned char)url[i], i >= sp->query))
            return 0;
    }
    return !dot_segment(url + sp->path, sp->query - sp->path);
}

const char *tb__parse_url(struct tb_feed *f, const char *base, const char *href)
{
    struct tb_parse_url_split sp;
    CURLU *u;
    char *abs = NULL;
    const char *out = NULL;
    unsigned flags = CURLU_NON_SUPPORT_SCHEME;

    if (href[0] == '\0')
        return base; /* an empty reference is the base itself */
    /* An absolute URL curl would give back unchanged needs no base. */
    if (tb_parse_url_simple(href, &sp))
        return tb_arena_strdup(&f->arena, href);
    u = curl_url();
    if (u == NULL)
        return NULL;
    if (base == NULL || curl_url_set(u, CURLUPART_URL, base, flags) != CURLUE_OK) {
        curl_url_cleanup(u);
        u = curl_url();
        if (u == NULL)
            return NULL;
    }
    if (curl_url_set(u, CURLUPART_URL, href, flags) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &abs, 0) == CURLUE_OK)
        out = tb_arena_strdup(&f->arena, abs);
    else if (has_scheme(href)) /* absolute, though not a URL curl knows (tag:, mailto:) */
        out = tb_arena_strdup(&f->arena, href);
    curl_free(abs);
    curl_url_cleanup(u);
    return out;
}

char *tb__parse_html_text(struct tb_feed *f, const char *html)
{
    char *text = tb_sanitize_text(html, strlen(html));
    char *out = text ? tb__parse_str(f, text, strlen(text), 1) : NULL;

    free(text);
    return out;
}

/* Whether s (at '&') starts a character reference: "&name;", "&#233;", "&#xE9;". */
static int char_ref(const char *s)
{
    size_t start = s[1] != '#' ? 1 : s[2] == 'x' || s[2] == 'X' ? 3 : 2, n = start;

    while (n < 40 && (lower_or_digit((unsigned char)s[n]) || (s[n] >= 'A' && s[n] <= 'Z')))
        n++;
    return n > start && s[n] == ';';
}

int tb__parse_looks_html(const char *s)
{
    for (const char *p = strpbrk(s, "&<"); p != NULL; p = strpbrk(p + 1, "&<")) {
        if (*p == '&'
                ? char_ref(p)
                : p[1] == '/' && ((p[2] >= 'a' && p[2] <= 'z') || (p[2] >= 'A' && p[2] <= 'Z')))
            return 1;
    }
    return 0;
}

/* Copies s[0..n) trimmed of whitespace and the quotes/brackets around names. */
static char *person_part(struct tb_feed *f, const char *s, size_t n)
{
    while (n > 0 && (is_space(*s) || *s == '"' || *s == '<' || *s == '('))
        s++, n--;
    while (n > 0 && (is_space(s[n - 1]) || s[n - 1] == '"' || s[n - 1] == '>' || s[n - 1] == ')'))
        n--;
    return tb__parse_str(f, s, n, 1);
}

struct tb_person *tb__parse_person(struct tb_feed *f, const char *s, int *oom)
{
    struct tb_person *p;
    const char *lt = strchr(s, '<'), *lp = strchr(s, '('), *at = strchr(s, '@');
    size_t n = strlen(s);

    while (n > 0 && is_space(s[n - 1]))
        n--;
    while (n > 0 && is_space(*s))
        s++, n--;
    if (n == 0)
        return NULL;
    p = tb_arena_alloc(&f->arena, sizeof(*p));
    if (p == NULL) {
        *oom = 1;
        return NULL;
    }
    if (lt != NULL && at != NULL && at > lt) { /* Name <email> */
        p->name = person_part(f, s, (size_t)(lt - s));
        p->email = person_part(f, lt, n - (size_t)(lt - s));
    } else if (lp != NULL && at != NULL && at < lp) { /* email (Name) */
        p->email = person_part(f, s, (size_t)(lp - s));
        p->name = person_part(f, lp, n - (size_t)(lp - s));
    } else if (at != NULL && memchr(s, ' ', n) == NULL) { /* email */
        p->email = person_part(f, s, n);
        p->name = p->email ? "" : NULL;
    } else {
        p->name = person_part(f, s, n);
    }
    if (p->name == NULL)
        *oom = 1;
    return p->name ? p : NULL;
}

void tb__parse_add_person(struct tb_person **list, struct tb_person *p)
{
    while (p != NULL && *list != NULL)
        list = &(*list)->next;
    if (p != NULL)
        *list = p;
}

void tb__parse_add_link(struct tb_link **list, struct tb_link *l)
{
    while (*list != NULL)
        list = &(*list)->next;
    *list = l;
}

void tb__parse_add_category(struct tb_category **list, struct tb_category *c)
{
    while (*list != NULL)
        list = &(*list)->next;
    *list = c;
}

void tb__parse_error(struct tb_feed *f, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    size_t n;

    if (f->error != NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    n = strcspn(msg, "\r\n");
    f->error = tb__parse_str(f, msg, n, 1);
}

/* The encoding="..." of an XML declaration, copied into out; "" when none. */
static void declared_encoding(const char *d, size_t len, char *out, size_t outlen)
{
    size_t end = len < 512 ? len : 512, i = 0, n = 0;
    const char *p;

    out[0] = '\0';
    if (end < 6 || memcmp(d, "<?xml", 5) != 0)
        return;
    p = memchr(d, '>', end);
    if (p == NULL)
        return;
    end = (size_t)(p - d);
    while (i + 8 < end && memcmp(d + i, "encoding", 8) != 0)
        i++;
    i += 8;
    while (i < end && (is_space(d[i]) || d[i] == '='))
        i++;
    if (i >= end || (d[i] != '"' && d[i] != '\''))
        return;
    for (i++; i < end && d[i] != '"' && d[i] != '\'' && n + 1 < outlen; i++)
        out[n++] = d[i];
    out[n] = '\0';
}

/* Converts from `charset` to UTF-8 with iconv, skipping bytes it cannot read. */
static int convert(struct tb_buf *b, const char *charset, const char *s, size_t n)
{
    iconv_t cd = iconv_open("UTF-8", charset);
    char chunk[4096], *in = (char *)s, *o;
    size_t left = n, olen;
    int rc = 0;

    if (cd == (iconv_t)-1)
        return -EINVAL;
    while (left > 0 && rc == 0) {
        o = chunk;
        olen = sizeof(chunk);
        if (iconv(cd, &in, &left, &o, &olen) == (size_t)-1 && errno != E2BIG) {
            if (errno == EINVAL) /* truncated sequence at the end */
                left = 0;
            else
                in++, left--;
        }
        rc = tb_buf_add(b, chunk, (size_t)(o - chunk));
    }
    iconv_close(cd);
    return rc;
}

/* Charset names meaning UTF-8, and latin1 aliases read as windows-1252 (as browsers do). */
static const char *charset_alias(const char *cs)
{
    static const char *const utf8[] = {"", "utf-8", "utf8", "us-ascii", "ascii"};
    static const char *const latin1[] = {"iso-8859-1", "iso8859-1", "latin1", "latin-1",
                                         "iso_8859-1", "l1",        "cp819"};
    size_t i;

    for (i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++)
        if (strcasecmp(cs, utf8[i]) == 0)
            return "UTF-8";
    for (i = 0; i < sizeof(latin1) / sizeof(latin1[0]); i++)
        if (strcasecmp(cs, latin1[i]) == 0)
            return "WINDOWS-1252";
    return cs;
}

/* Picks the input charset: BOM, then external, then declared. Skips a BOM. */
static const char *pick_charset(const char **d, size_t *len, const char *external, char *decl,
                                size_t decllen)
{
    const unsigned char *u = (const unsigned char *)*d;

    /* UTF-32 first: its little-endian BOM starts like UTF-16's. */
    if (*len >= 4 && ((u[0] == 0 && u[1] == 0 && u[2] == 0xFE && u[3] == 0xFF) ||
                      (u[0] == 0xFF && u[1] == 0xFE && u[2] == 0 && u[3] == 0))) {
        *d += 4, *len -= 4;
        return u[0] == 0 ? "UTF-32BE" : "UTF-32LE";
    }
    /* Without a BOM, '<' in four bytes (XML 1.0 appendix F). */
    if (*len >= 4 && u[0] == 0 && u[1] == 0 && u[2] == 0 && u[3] == '<')
        return "UTF-32BE";
    if (*len >= 4 && u[0] == '<' && u[1] == 0 && u[2] == 0 && u[3] == 0)
        return "UTF-32LE";
    if (*len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
        *d += 3, *len -= 3;
        return "UTF-8";
    }
    if (*len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
        *d += 2, *len -= 2;
        return u[0] == 0xFF ? "UTF-16LE" : "UTF-16BE";
    }
    if (*len >= 4 && u[0] == '<' && u[1] == 0 && u[2] != 0 && u[3] == 0)
        return "UTF-16LE";
    if (*len >= 4 && u[0] == 0 && u[1] == '<' && u[2] == 0 && u[3] != 0)
        return "UTF-16BE";
    if (external != NULL && external[0] != '\0')
        return charset_alias(external);
    declared_encoding(*d, *len, decl, decllen);
    return charset_alias(decl);
}

/* Records the first byte that is not UTF-8 as the feed's error, as a
 * recovered XML error is (control characters are dropped silently). */
static void invalid_utf8(struct tb_feed *f, const char *d, size_t len)
{
    const unsigned char *u = (const unsigned char *)d;
    size_t i = 0, k, line = 1;

    while (i < len) {
        k = tb_utf8_len(d + i, len - i);
        if (k == 0 && u[i] >= 0x80) {
            tb__parse_error(f, "line %zu: invalid UTF-8 (byte 0x%02X), read as windows-1252", line,
                            u[i]);
            return;
        }
        line += u[i] == '\n';
        i += k ? k : 1;
    }
}

/*
 * Turns the input into clean UTF-8: *out points either at the input itself
 * (nothing to change) or into b. Unknown charsets are read as UTF-8 and noted.
 */
static int decode(struct tb_feed *f, const char *d, size_t len, const char *external,
                  struct tb_buf *b, const char **out, size_t *outlen)
{
    char decl[64];
    const char *cs = pick_charset(&d, &len, external, decl, sizeof(decl));
    struct tb_buf tmp;
    int rc;

    if (strcmp(cs, "UTF-8") != 0) {
        tb_buf_init(&tmp, len * 4 + 16);
        rc = convert(&tmp, cs, d, len);
        if (rc == 0) {
            rc = tb_utf8_clean(b, tmp.data ? tmp.data : "", tmp.len, TB_UTF8_XML);
            tb_buf_free(&tmp);
            *out = b->data ? b->data : "";
            *outlen = b->len;
            return rc;
        }
        tb_buf_free(&tmp);
        if (rc != -EINVAL)
            return rc;
        tb__parse_error(f, "unknown charset \"%s\", read as UTF-8", cs);
    }
    if (tb_utf8_xml_clean(d, len)) {
        *out = d;
        *outlen = len;
        return 0;
    }
    invalid_utf8(f, d, len);
    rc = tb_utf8_clean(b, d, len, TB_UTF8_XML | TB_UTF8_CP1252);
    *out = b->data ? b->data : "";
    *outlen = b->len;
    return rc;
}

/* First byte that is not whitespace, or 0 for an empty document. */
static char first_char(const char *d, size_t len)
{
    size_t i = 0;

    while (i < len && is_space(d[i]))
        i++;
    return i < len ? d[i] : '\0';
}

int tb_parse_feed(const char *data, size_t len, const struct tb_parse_opts *opts,
                  struct tb_feed **out, char *err, size_t errlen)
{
    struct tb_parse_opts none = {0};
    struct tb_feed *f;
    struct tb_buf b;
    const char *doc;
    size_t doclen, max;
    int rc;

    *out = NULL;
    if (opts == NULL)
        opts = &none;
    max = opts->max_size ? opts->max_size : TB_PARSE_MAX_DEFAULT;
    if (len > max) {
        snprintf(err, errlen, "document of %zu bytes exceeds the %zu byte limit", len, max);
        return TB_ETOOBIG;
    }
    f = tb_feed_new();
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    f->base = opts->url ? tb_arena_strdup(&f->arena, opts->url) : NULL;
    tb_buf_init(&b, len * 4 + 16);
    rc = decode(f, data ? data : "", data ? len : 0, opts->charset, &b, &doc, &doclen);
    if (rc != 0)
        snprintf(err, errlen, "out of memory");
    else if (first_char(doc, doclen) == '\0')
        rc = TB_EPARSE, snprintf(err, errlen, "empty document");
    else if (first_char(doc, doclen) == '{')
        rc = tb__parse_json(f, doc, doclen, opts->url, err, errlen);
    else
        rc = tb__parse_xml(f, doc, doclen, opts->url, err, errlen);
    tb_buf_free(&b);
    if (rc != 0) {
        tb_feed_free(f);
        return rc == TB_EPARSE ? rc : -ENOMEM;
    }
    *out = f;
    return 0;
}

void tb__parse_append(struct tb_feed *f, struct tb_entry *e)
{
    if (f->nentries < TB_PARSE_MAX_ENTRIES)
        tb_feed_append(f, e);
    else if (f->error == NULL)
        tb__parse_error(f, "more than %d entries: the rest are ignored", TB_PARSE_MAX_ENTRIES);
}
