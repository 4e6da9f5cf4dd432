/*
 * Normalizer: canonical links, arXiv ids and DOIs for cross-source dedupe,
 * identity keys, plain text for matching, sanitized bodies. URLs are always
 * taken apart by libcurl's URL API; only the query string is split here.
 */
#include "tb_normalize.h"
#include "tb_buf.h"
#include "tb_sanitize.h"
#include "tb_hash.h"
#include "tb_url.h"
#include "tb_utf8.h"

#include "tb_parse.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TITLE_CHARS 80

/* Query parameters that only track the reader; compared case-insensitively. */
static const char *const tracking[] = {
    "fbclid", "gclid", "dclid",  "mc_cid", "mc_eid",  "ref",
    "_hsenc", "_hsmi", "igshid", "yclid",  "msclkid",
};

static int is_tracking(const char *name, size_t n)
{
    if (n >= 4 && strncasecmp(name, "utm_", 4) == 0)
        return 1;
    for (size_t i = 0; i < sizeof(tracking) / sizeof(*tracking); i++) {
        if (strlen(tracking[i]) == n && strncasecmp(name, tracking[i], n) == 0)
            return 1;
    }
    return 0;
}

/* Sets *out to a malloc'd copy of query q without tracking parameters and
 * empty pairs, or to NULL when nothing is left. Returns 0 or -ENOMEM. */
static int filter_query(const char *q, char **out)
{
    struct tb_buf b;
    int rc = 0;

    tb_buf_init(&b, (size_t)-1 / 2);
    *out = NULL;
    while (q && *q && rc == 0) {
        size_t n = strcspn(q, "&");
        size_t name = strcspn(q, "=&");

        if (n > 0 && !is_tracking(q, name)) {
            if (b.len)
                rc = tb_buf_add(&b, "&", 1);
            if (rc == 0)
                rc = tb_buf_add(&b, q, n);
        }
        q += n + (q[n] == '&');
    }
    if (rc == 0 && b.len)
        *out = tb_buf_take(&b); /* cannot fail: the buffer is allocated */
    tb_buf_free(&b);
    return rc;
}

/* Parses u again from the URL curl writes for it. curl decodes a host
 * before and normalizes it after: "http://%38/" has the host "8", which
 * parses as the address "0.0.0.8" only the next time (found by the fuzzer),
 * so canonical forms are made from the second parse. */
static CURLUcode reparse(CURLU *u)
{
    char *once = NULL;
    CURLUcode uc = curl_url_get(u, CURLUPART_URL, &once, 0);

    if (uc == CURLUE_OK)
        uc = curl_url_set(u, CURLUPART_URL, once, 0);
    curl_free(once);
    return uc;
}

/* Parses an absolute http(s) URL (surrounding whitespace ignored) into a new
 * handle; NULL when it is not one. *https is set to whether it is https. */
static CURLU *parse_http(const char *url, int *https)
{
    char *copy, *scheme = NULL;
    size_t n;
    CURLU *u;

    if (url == NULL)
        return NULL;
    while (isspace((unsigned char)*url))
        url++;
    /* curl takes the scheme from the letters before the first ':', so it
     * could find http or https in nothing else: ids such as "oai:..." or
     * "tag:..." (half of what reaches here) need no parser. */
    if (tb_url_kind(url) != TB_URL_HTTP)
        return NULL;
    n = strlen(url);
    while (n && isspace((unsigned char)url[n - 1]))
        n--;
    copy = strndup(url, n);
    u = copy ? curl_url() : NULL;
    if (u && (curl_url_set(u, CURLUPART_URL, copy, 0) != CURLUE_OK || reparse(u) != CURLUE_OK ||
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
              !tb_url_scheme_allowed(scheme))) {
        curl_url_cleanup(u);
        u = NULL;
    }
    if (u && https)
        *https = strcmp(scheme, "https") == 0;
    curl_free(scheme);
    free(copy);
    return u;
}

/* A URL in the form curl would give back unchanged, split here without
 * curl (see simple_http()): the parts are NUL-terminated in buf. */
struct simple {
    char *buf;         /* malloc'd: host, port, path and query, each ended by NUL */
    const char *host;  /* host name, as curl gives it */
    const char *port;  /* port digits, or NULL */
    const char *path;  /* "/..." */
    const char *query; /* after '?', or NULL */
    const char *frag;  /* after '#', or NULL */
};

/* A URL parsed once for the several uses one entry has for it (canonical
 * link, arXiv id, DOI, http check, cleaned link): each curl parse is two
 * curl parses and a curl print (see reparse()). */
struct purl {
    const char *s;    /* the string as given (borrowed) */
    CURLU *u;         /* parse_http() of it, or NULL */
    struct simple sp; /* or its simple form (sp.buf non-NULL) */
    int https;        /* whether it is https */
};

/* Whether p is a purl of an absolute http(s) URL. */
static int is_parsed(const struct purl *p)
{
    return p->u != NULL || p->sp.buf != NULL;
}

/* Copies part [from, to) of url into *dst, NUL-terminated; returns where
 * the next part goes. */
static char *put_part(char *dst, const char *url, size_t from, size_t to, const char **part)
{
    memcpy(dst, url + from, to - from);
    dst[to - from] = '\0';
    *part = dst;
    return dst + (to - from) + 1;
}

/* Splits url into sp when it is simple (tb_parse_url_simple()). Returns 0,
 * or -EINVAL (curl is to decide) or -ENOMEM; sp->buf is NULL then. */
static int simple_http(const char *url, struct simple *sp, int *https)
{
    struct tb_parse_url_split x;
    char *d;

    memset(sp, 0, sizeof(*sp));
    if (!tb_parse_url_simple(url, &x))
        return -EINVAL;
    *https = x.https;
    d = malloc(x.len + 1);
    if (d == NULL)
        return -ENOMEM;
    sp->buf = d;
    d = put_part(d, url, x.host, x.port ? x.port - 1 : x.path, &sp->host);
    if (x.port)
        d = put_part(d, url, x.port, x.path, &sp->port);
    d = put_part(d, url, x.path, x.query, &sp->path);
    if (x.query < x.frag)
        d = put_part(d, url, x.query + 1, x.frag, &sp->query);
    if (x.frag < x.len)
        put_part(d, url, x.frag + 1, x.len, &sp->frag);
    return 0;
}

#define MEMO_URLS 8

/* The URLs parsed so far, for one entry. */
struct urls {
    struct purl v[MEMO_URLS]; /* parsed URLs */
    size_t n;                 /* used slots of v */
};

static void urls_clear(struct urls *m)
{
    for (size_t i = 0; i < m->n; i++) {
        curl_url_cleanup(m->v[i].u);
        free(m->v[i].sp.buf);
    }
    m->n = 0;
}

/* The parse of s (see is_parsed()), valid until the next call: split here
 * when it is simple, else by curl. */
static const struct purl *url_parsed(struct urls *m, const char *s)
{
    static const struct purl none = {0};
    struct purl *p;

    if (s == NULL)
        return &none;
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->v[i].s, s) == 0)
            return &m->v[i];
    }
    if (m->n == MEMO_URLS)
        urls_clear(m);
    p = &m->v[m->n++];
    p->s = s;
    p->https = 0;
    p->u = NULL;
    if (simple_http(s, &p->sp, &p->https) != 0)
        p->u = parse_http(s, &p->https);
    return p;
}

/* The host, port, path and query of a parsed URL: the simple form's
 * strings, else curl's. */
struct parts {
    const char *host;  /* as curl gives it (percent-decoded) */
    const char *port;  /* or NULL */
    const char *path;  /* as asked for (see parts_get()) */
    const char *query; /* or NULL */
    char *own[4];      /* curl's strings, for parts_free() */
};

/* Fills x for a parsed p; path_flags go to curl (CURLU_URLDECODE: a simple
 * path has nothing to decode). Returns 0, or -ENOMEM when curl gave no host
 * or path; parts_free() in any case. */
static int parts_get(const struct purl *p, struct parts *x, unsigned path_flags)
{
    static const CURLUPart which[4] = {CURLUPART_HOST, CURLUPART_PORT, CURLUPART_PATH,
                                       CURLUPART_QUERY};

    memset(x, 0, sizeof(*x));
    if (p->sp.buf != NULL) {
        x->host = p->sp.host;
        x->port = p->sp.port;
        x->path = p->sp.path;
        x->query = p->sp.query;
        return 0;
    }
    for (size_t i = 0; i < 4; i++) {
        if (curl_url_get(p->u, which[i], &x->own[i], i == 2 ? path_flags : 0) != CURLUE_OK)
            x->own[i] = NULL; /* no port or query; host and path are checked below */
    }
    x->host = x->own[0];
    x->port = x->own[1];
    x->path = x->own[2];
    x->query = x->own[3];
    return x->host && x->path ? 0 : -ENOMEM;
}

static void parts_free(struct parts *x)
{
    for (size_t i = 0; i < 4; i++)
        curl_free(x->own[i]);
}

/* Appends "https://host[:port]" with the host lower-cased and a default
 * port (the scheme's, or https's 443) left out. */
static int add_origin(struct tb_buf *b, const struct parts *x, int https)
{
    int rc = tb_buf_adds(b, "https://");

    /* curl hands the host back percent-decoded, so a '%' in it is encoded
     * again: "a%%31b" gave the host "a%1b", which does not parse again
     * (found by the fuzzer). */
    for (const char *p = x->host; rc == 0 && *p; p++) {
        char c = (char)tolower((unsigned char)*p);

        rc = c == '%' ? tb_buf_adds(b, "%25") : tb_buf_add(b, &c, 1);
    }
    /* 443 goes also after http: the canonical scheme is https, and keeping
     * "http://h:443" as "https://h:443" canonicalized again to "https://h"
     * (found by the fuzzer). */
    if (rc == 0 && x->port && strcmp(x->port, https ? "443" : "80") != 0 &&
        strcmp(x->port, "443") != 0)
        rc = tb_buf_addf(b, ":%s", x->port);
    return rc;
}

/* Appends the path ("/" when empty, trailing slashes of a longer path
 * dropped) and the filtered query. */
static int add_path_query(struct tb_buf *b, const struct parts *x)
{
    char *kept = NULL;
    size_t n = strlen(x->path);
    int rc;

    /* Every trailing slash goes: dropping only one made "/a//" canonical
     * as "/a/", which canonicalized again to "/a" (found by the fuzzer). */
    while (n > 1 && x->path[n - 1] == '/')
        n--;
    rc = n ? tb_buf_add(b, x->path, n) : tb_buf_adds(b, "/");
    if (rc == 0 && x->query)
        rc = filter_query(x->query, &kept);
    if (rc == 0 && kept)
        rc = tb_buf_addf(b, "?%s", kept);
    free(kept);
    return rc;
}

/* tb_norm_url() of a parsed URL. */
static char *canon_of(const struct purl *p)
{
    struct parts x;
    struct tb_buf b;
    char *res = NULL;

    if (!is_parsed(p))
        return NULL;
    tb_buf_init(&b, (size_t)-1 / 2);
    if (parts_get(p, &x, 0) == 0 && add_origin(&b, &x, p->https) == 0 &&
        add_path_query(&b, &x) == 0)
        res = tb_buf_take(&b);
    parts_free(&x);
    tb_buf_free(&b);
    return res;
}

char *tb_norm_url(const char *url)
{
    struct urls m = {0};
    char *res = canon_of(url_parsed(&m, url));

    urls_clear(&m);
    return res;
}

/* Appends "?query" and "#fragment" when present. */
static int add_query_fragment(struct tb_buf *b, const char *query, const char *frag)
{
    int rc = 0;

    if (query)
        rc = tb_buf_addf(b, "?%s", query);
    if (rc == 0 && frag)
        rc = tb_buf_addf(b, "#%s", frag);
    return rc;
}

/* Lower-cases the host of an http(s) URL and drops its scheme's default
 * port, in place: what the dedupe ignores (tb_norm_url()) is not published
 * either. The scheme stays: an http link does not become https. */
static void tidy_origin(char *url, int https)
{
    char *host = strstr(url, "://"), *end, *colon = NULL;

    if (host == NULL)
        return;
    host += 3;
    end = host + strcspn(host, "/?#");
    for (char *p = host; p < end; p++) {
        if (*p == '@') /* user info is not the host */
            host = p + 1;
    }
    for (char *p = host; p < end; p++) {
        *p = (char)tolower((unsigned char)*p);
        if (*p == ':')
            colon = p;
        else if (*p == ']') /* an IPv6 address's colons are not the port's */
            colon = NULL;
    }
    if (colon && strncmp(colon, https ? ":443" : ":80", (size_t)(end - colon)) == 0 &&
        end - colon == (https ? 4 : 3))
        memmove(colon, end, strlen(end) + 1);
}

/* link_of() of a simple URL: what curl prints for it without its query
 * and fragment, then the filtered query and the fragment. */
static char *simple_link(const struct purl *p)
{
    const struct simple *sp = &p->sp;
    char *kept = NULL, *res = NULL;
    struct tb_buf b;
    int rc;

    tb_buf_init(&b, (size_t)-1 / 2);
    /* Appended piece by piece: a printf format here cost more than the
     * rest of the link (two vsnprintf passes per entry). */
    rc = tb_buf_adds(&b, p->https ? "https://" : "http://");
    if (rc == 0)
        rc = tb_buf_adds(&b, sp->host);
    if (rc == 0 && sp->port)
        rc = tb_buf_add(&b, ":", 1);
    if (rc == 0 && sp->port)
        rc = tb_buf_adds(&b, sp->port);
    if (rc == 0)
        rc = tb_buf_adds(&b, sp->path);
    if (rc == 0 && sp->query)
        rc = filter_query(sp->query, &kept);
    if (rc == 0 && add_query_fragment(&b, kept, sp->frag) == 0)
        res = tb_buf_take(&b);
    if (res != NULL)
        tidy_origin(res, p->https);
    tb_buf_free(&b);
    free(kept);
    return res;
}

/* The query and fragment are cut off and appended as text: curl 7.88's
 * curl_url_set(CURLUPART_QUERY) lower-cases percent-escapes ("%1F" became
 * "%1f"), so a cleaned link had another canonical form than the link itself
 * (found by the fuzzer). */
static char *link_of(const struct purl *p)
{
    CURLU *u;
    char *query = NULL, *frag = NULL, *kept = NULL, *out = NULL, *res = NULL;
    struct tb_buf b;

    if (p->sp.buf != NULL)
        return simple_link(p);
    u = p->u ? curl_url_dup(p->u) : NULL;
    if (u == NULL)
        return NULL;
    tb_buf_init(&b, (size_t)-1 / 2);
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK && filter_query(query, &kept) != 0)
        goto out;
    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0); /* NULL when there is none */
    if (curl_url_set(u, CURLUPART_QUERY, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
        goto out;
    if (tb_buf_adds(&b, out) == 0 && add_query_fragment(&b, kept, frag) == 0)
        res = tb_buf_take(&b);
    if (res != NULL)
        tidy_origin(res, p->https);
out:
    tb_buf_free(&b);
    curl_free(query);
    curl_free(frag);
    curl_free(out);
    free(kept);
    curl_url_cleanup(u);
    return res;
}

char *tb_norm_link(const char *url)
{
    struct urls m = {0};
    char *res = link_of(url_parsed(&m, url));

    urls_clear(&m);
    return res;
}

/* Number of ASCII digits at p, at most max + 1. */
static size_t digits(const char *p, size_t max)
{
    size_t n = 0;

    while (n <= max && isdigit((unsigned char)p[n]))
        n++;
    return n;
}

/* Length of a new-style id "YYMM.NNNN(N)" at p, or 0. */
static size_t arxiv_new(const char *p)
{
    size_t n;
    int month;

    if (digits(p, 4) != 4 || p[4] != '.')
        return 0;
    month = (p[2] - '0') * 10 + (p[3] - '0');
    n = digits(p + 5, 5);
    if (month < 1 || month > 12 || n < 4 || n > 5)
        return 0;
    return 5 + n;
}

/* Length in p of an old-style id "archive[.SC]/YYMMNNN" at p, or 0; *a is
 * the length of the archive name (the id drops the subject class). */
static size_t arxiv_old(const char *p, size_t *a)
{
    size_t sc = 0;

    *a = 0;
    while (*a < 20 && (islower((unsigned char)p[*a]) || p[*a] == '-'))
        (*a)++;
    if (*a < 2)
        return 0;
    if (p[*a] == '.') {
        sc = 1;
        while (sc < 4 && isalpha((unsigned char)p[*a + sc]))
            sc++;
    }
    if (p[*a + sc] != '/' || digits(p + *a + sc + 1, 7) != 7)
        return 0;
    return *a + sc + 8;
}

/* Parses an id (optionally followed by a version) at p; anything but a
 * letter or digit may follow it. The id is validated before its size is
 * checked, so that a small buffer gives -ENOSPC for an id and -ENOENT for
 * anything else (an old-style id used to give -ENOENT). */
static int arxiv_at(const char *p, char *buf, size_t len)
{
    size_t a = 0, n = arxiv_new(p), idlen = n;
    const char *q;

    if (n == 0) {
        n = arxiv_old(p, &a);
        idlen = a + 8;
    }
    if (n == 0)
        return -ENOENT;
    q = p + n;
    if (*q == 'v' && isdigit((unsigned char)q[1]))
        q += 1 + digits(q + 1, 9);
    if (isalnum((unsigned char)*q))
        return -ENOENT;
    if (idlen + 1 > len)
        return -ENOSPC;
    if (a) {
        memcpy(buf, p, a);
        buf[a] = '/';
        memcpy(buf + a + 1, p + n - 7, 7);
    } else {
        memcpy(buf, p, n);
    }
    buf[idlen] = '\0';
    return 0;
}

/* Whether host is a Hugging Face host whose /papers/ID pages are arXiv
 * papers (huggingface.co, www.huggingface.co, hf.co). */
static int is_hf_host(const char *host)
{
    return strcasecmp(host, "huggingface.co") == 0 || strcasecmp(host, "www.huggingface.co") == 0 ||
           strcasecmp(host, "hf.co") == 0;
}

/* The arXiv id in the path of an arxiv.org URL, or of a Hugging Face
 * paper page (huggingface.co/papers/ID, which names the arXiv paper). */
static int arxiv_url(const struct purl *p, char *buf, size_t len)
{
    static const char *const prefixes[] = {"/abs/", "/pdf/", "/html/"};
    struct parts x;
    size_t h;
    int rc = -ENOENT;

    if (parts_get(p, &x, 0) == 0) {
        h = strlen(x.host);
        if (strcasecmp(x.host, "arxiv.org") == 0 ||
            (h > 10 && strcasecmp(x.host + h - 10, ".arxiv.org") == 0)) {
            for (size_t i = 0; i < 3 && rc == -ENOENT; i++) {
                if (strncmp(x.path, prefixes[i], strlen(prefixes[i])) == 0)
                    rc = arxiv_at(x.path + strlen(prefixes[i]), buf, len);
            }
        } else if (is_hf_host(x.host) && strncmp(x.path, "/papers/", 8) == 0) {
            rc = arxiv_at(x.path + 8, buf, len);
        }
    }
    parts_free(&x);
    return rc;
}

/* tb_norm_arxiv_id() with the URLs parsed through m. */
static int arxiv_id(struct urls *m, const char *s, char *buf, size_t len)
{
    const struct purl *p;

    if (s == NULL || len == 0)
        return s ? -ENOSPC : -ENOENT;
    while (isspace((unsigned char)*s))
        s++;
    if (strncasecmp(s, "oai:arxiv.org:", 14) == 0)
        return arxiv_at(s + 14, buf, len);
    if (strncasecmp(s, "arxiv:", 6) == 0)
        return arxiv_at(s + 6, buf, len);
    p = url_parsed(m, s);
    return is_parsed(p) ? arxiv_url(p, buf, len) : -ENOENT;
}

int tb_norm_arxiv_id(const char *s, char *buf, size_t len)
{
    struct urls m = {0};
    int rc = arxiv_id(&m, s, buf, len);

    urls_clear(&m);
    return rc;
}

/* Whether c ends a DOI suffix: whitespace, and also control characters,
 * which no DOI contains (the fuzzer found "10.5555/1\x18" kept whole). */
static int doi_end(char c)
{
    return (unsigned char)c <= ' ' || c == 0x7f;
}

/* Parses a DOI "10.NNNN[.NNNN...]/suffix" at p, lower-cased into buf. */
static int doi_at(const char *p, char *buf, size_t len)
{
    size_t n = 3, d;

    if (strncmp(p, "10.", 3) != 0)
        return -ENOENT;
    d = digits(p + n, 9);
    if (d < 4 || d > 9)
        return -ENOENT;
    n += d;
    while (p[n] == '.' && isdigit((unsigned char)p[n + 1]))
        n += 1 + digits(p + n + 1, 9);
    if (p[n] != '/' || doi_end(p[n + 1]))
        return -ENOENT;
    while (!doi_end(p[n]))
        n++;
    if (n + 1 > len)
        return -ENOSPC;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)tolower((unsigned char)p[i]);
    buf[n] = '\0';
    return 0;
}

/* The DOI in the (decoded) path of a doi.org URL, or following a "/10."
 * segment in the path of any other URL. */
static int doi_url(const struct purl *u, char *buf, size_t len)
{
    const char *p = NULL;
    struct parts x;
    int rc = -ENOENT;

    if (parts_get(u, &x, CURLU_URLDECODE) == 0) {
        if (strcasecmp(x.host, "doi.org") == 0 || strcasecmp(x.host, "dx.doi.org") == 0 ||
            strcasecmp(x.host, "www.doi.org") == 0)
            p = x.path + 1;
        else
            p = strstr(x.path, "/10.");
        if (p && *p == '/')
            p++;
        if (p)
            rc = doi_at(p, buf, len);
        /* The path is percent-decoded: bytes that are not UTF-8 (or not
         * characters XML allows) make no DOI. */
        if (rc == 0 && !tb_utf8_xml_clean(buf, strlen(buf)))
            rc = -ENOENT;
    }
    parts_free(&x);
    return rc;
}

/* tb_norm_doi() with the URLs parsed through m. */
static int doi(struct urls *m, const char *s, char *buf, size_t len)
{
    static const char *const prefixes[] = {"doi:", "info:doi/", "urn:doi:"};
    const struct purl *p;

    if (s == NULL)
        return -ENOENT;
    while (isspace((unsigned char)*s))
        s++;
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncasecmp(s, prefixes[i], n) == 0) {
            for (s += n; isspace((unsigned char)*s);)
                s++;
            return doi_at(s, buf, len);
        }
    }
    if (strncmp(s, "10.", 3) == 0)
        return doi_at(s, buf, len);
    p = url_parsed(m, s);
    return is_parsed(p) ? doi_url(p, buf, len) : -ENOENT;
}

int tb_norm_doi(const char *s, char *buf, size_t len)
{
    struct urls m = {0};
    int rc = doi(&m, s, buf, len);

    urls_clear(&m);
    return rc;
}

/* Trims ASCII whitespace; returns the start and sets *n to the length. */
static const char *trim(const char *s, size_t *n)
{
    size_t len;

    while (isspace((unsigned char)*s))
        s++;
    len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    *n = len;
    return s;
}

/* Moves a malloc'd string into the arena. NULL when s is NULL or on out of
 * memory; s is freed either way. */
static const char *keep(struct tb_feed *f, char *s)
{
    const char *p = tb_arena_strdup(&f->arena, s);

    free(s);
    return p;
}

/* canon_link from the link, else the first alternate link, else an id that
 * is an http(s) URL. */
static int set_canon(struct tb_feed *f, struct tb_entry *e, struct urls *m)
{
    char *c = canon_of(url_parsed(m, e->link));

    for (struct tb_link *l = e->links; c == NULL && l; l = l->next) {
        if (l->rel == NULL || strcmp(l->rel, "alternate") == 0)
            c = canon_of(url_parsed(m, l->href));
    }
    if (c == NULL)
        c = canon_of(url_parsed(m, e->id));
    if (c == NULL)
        return 0;
    e->canon_link = keep(f, c);
    return e->canon_link ? 0 : -ENOMEM;
}

/* arxiv_id and doi from the first link or id that carries one. */
static int set_ids(struct tb_feed *f, struct tb_entry *e, struct urls *m)
{
    const char *cand[64];
    size_t n = 0;
    char arxiv[32], buf[256];

    cand[n++] = e->link;
    for (struct tb_link *l = e->links; l && n < 63; l = l->next)
        cand[n++] = l->href;
    cand[n++] = e->id;
    for (size_t i = 0; i < n; i++) {
        if (e->arxiv_id == NULL && arxiv_id(m, cand[i], arxiv, sizeof(arxiv)) == 0) {
            e->arxiv_id = tb_arena_strdup(&f->arena, arxiv);
            if (e->arxiv_id == NULL)
                return -ENOMEM;
        }
        if (e->doi == NULL && doi(m, cand[i], buf, sizeof(buf)) == 0) {
            e->doi = tb_arena_strdup(&f->arena, buf);
            if (e->doi == NULL)
                return -ENOMEM;
        }
    }
    return 0;
}

/* "hash:" + hex SHA-256 of title NUL summary NUL content. */
static int hash_key(struct tb_feed *f, struct tb_entry *e)
{
    const char *parts[3] = {e->title, e->summary.value, e->content.value};
    char key[5 + TB_SHA256_HEX] = "hash:";
    struct tb_buf b;
    int rc = 0;

    tb_buf_init(&b, (size_t)-1 / 2);
    for (size_t i = 0; i < 3 && rc == 0; i++) {
        rc = tb_buf_add(&b, parts[i] ? parts[i] : "", parts[i] ? strlen(parts[i]) : 0);
        if (rc == 0 && i < 2)
            rc = tb_buf_add(&b, "", 1);
    }
    if (rc == 0)
        rc = tb_sha256_hex(b.data, b.len, key + 5);
    tb_buf_free(&b);
    if (rc)
        return rc;
    e->key = tb_arena_strdup(&f->arena, key);
    return e->key ? 0 : -ENOMEM;
}

/* Prefix + s[0..n) into the arena. */
static const char *arena_cat(struct tb_feed *f, const char *prefix, const char *s, size_t n)
{
    size_t p = strlen(prefix);
    char *r = tb_arena_alloc(&f->arena, p + n + 1);

    if (r == NULL)
        return NULL;
    memcpy(r, prefix, p);
    memcpy(r + p, s, n);
    r[p + n] = '\0';
    return r;
}

/* Identity within the source: id, else link, else a content hash. */
static int set_key(struct tb_feed *f, struct tb_entry *e)
{
    size_t n = 0;
    const char *s = e->id ? trim(e->id, &n) : NULL;

    if (n) {
        e->key = arena_cat(f, "id:", s, n);
    } else if (e->canon_link) {
        e->key = arena_cat(f, "link:", e->canon_link, strlen(e->canon_link));
    } else {
        s = e->link ? trim(e->link, &n) : NULL;
        if (n == 0)
            return hash_key(f, e);
        e->key = arena_cat(f, "link:", s, n);
    }
    return e->key ? 0 : -ENOMEM;
}

/* Plain text of one body (malloc'd into *out; NULL when absent). */
static int body_text(const struct tb_text *t, char **out)
{
    *out = NULL;
    if (t->value == NULL || t->type != NULL) /* no text in an image or a PDF */
        return 0;
    if (t->is_html)
        *out = tb_sanitize_text(t->value, strlen(t->value));
    else
        *out = strdup(t->value);
    return *out ? 0 : -ENOMEM;
}

/* text = summary and content, the one alone when it contains the other. */
static int set_text(struct tb_feed *f, struct tb_entry *e)
{
    char *ts = NULL, *tc = NULL;
    const char *a, *b;
    struct tb_buf buf;
    int rc = body_text(&e->summary, &ts);

    if (rc == 0)
        rc = body_text(&e->content, &tc);
    a = ts ? ts : "";
    b = tc ? tc : "";
    if (*a == '\0' || strstr(b, a))
        a = "";
    else if (strstr(a, b))
        b = "";
    tb_buf_init(&buf, (size_t)-1 / 2);
    if (rc == 0)
        rc = tb_buf_adds(&buf, a);
    if (rc == 0 && *a && *b)
        rc = tb_buf_add(&buf, "\n", 1);
    if (rc == 0)
        rc = tb_buf_adds(&buf, b);
    if (rc == 0) {
        e->text = tb_arena_strndup(&f->arena, buf.data ? buf.data : "",
                                   tb_utf8_cut(buf.data, buf.len, TB_NORM_TEXT_MAX));
        rc = e->text ? 0 : -ENOMEM;
    }
    tb_buf_free(&buf);
    free(ts);
    free(tc);
    return rc;
}

/* Replaces an HTML body by its sanitized form; bodies are cut at
 * TB_NORM_BODY_MAX first (the sanitizer closes what the cut left open). */
static int sanitize_body(struct tb_feed *f, struct tb_text *t, const char *base)
{
    size_t n;
    char *s;

    if (t->value == NULL)
        return 0;
    n = strlen(t->value);
    if (n > TB_NORM_BODY_MAX && t->type != NULL) { /* a cut document is no document */
        *t = (struct tb_text){NULL, 0, NULL};
        return 0;
    }
    if (n > TB_NORM_BODY_MAX && !t->is_html) {
        t->value =
            tb_arena_strndup(&f->arena, t->value, tb_utf8_cut(t->value, n, TB_NORM_BODY_MAX));
        return t->value ? 0 : -ENOMEM;
    }
    if (!t->is_html)
        return 0;
    s = tb_sanitize_html(t->value, tb_utf8_cut(t->value, n, TB_NORM_BODY_MAX), base);
    if (s == NULL)
        return -ENOMEM;
    t->value = keep(f, s);
    return t->value ? 0 : -ENOMEM;
}

/* A title longer than TB_NORM_TITLE_MAX bytes is cut there, with an ellipsis. */
static int cut_title(struct tb_feed *f, struct tb_entry *e, const char *title, size_t n)
{
    size_t keep_n = tb_utf8_cut(title, n, TB_NORM_TITLE_MAX);
    char *r = tb_arena_alloc(&f->arena, keep_n + 4);

    if (r == NULL)
        return -ENOMEM;
    memcpy(r, title, keep_n);
    memcpy(r + keep_n, "\xe2\x80\xa6", 4); /* U+2026 HORIZONTAL ELLIPSIS and NUL */
    e->title = r;
    return 0;
}

/* Whether the entry has a title that is not blank. */
static int has_title(const struct tb_entry *e)
{
    size_t n = 0;

    if (e->title != NULL)
        trim(e->title, &n);
    return n > 0;
}

/* A missing title becomes the start of the text, cut at a word. */
static int set_title(struct tb_feed *f, struct tb_entry *e)
{
    const char *t = e->text;
    size_t n, i = 0, chars = 0, space = 0;
    const char *title = e->title ? trim(e->title, &i) : NULL;
    char *r;

    if (i > TB_NORM_TITLE_MAX)
        return cut_title(f, e, title, i);
    if (i || t == NULL || *t == '\0')
        return 0;
    n = strlen(t);
    while (i < n && chars < TITLE_CHARS) {
        if (t[i] == ' ' || t[i] == '\n')
            space = i;
        i++;
        while (i < n && tb_utf8_is_cont((unsigned char)t[i]))
            i++;
        chars++;
    }
    if (i < n && space > 0)
        n = space;
    else if (i < n)
        n = i;
    r = tb_arena_alloc(&f->arena, n + 4);
    if (r == NULL)
        return -ENOMEM;
    for (size_t k = 0; k < n; k++)
        r[k] = t[k] == '\n' ? ' ' : t[k];
    if (t[n])
        memcpy(r + n, "\xe2\x80\xa6", 3); /* U+2026 HORIZONTAL ELLIPSIS */
    e->title = r;
    return 0;
}

/* RFC 3986 character classes, plus what RFC 3987 adds for IRIs. */
#define URI_UNRESERVED "-._~"
#define URI_SUBDELIMS "!$&'()*+,;="

static int is_hex(char c)
{
    return isxdigit((unsigned char)c);
}

/* Whether c may stand for itself in a path, query or fragment (pchar and
 * '/' '?'; RFC 3987's ucschar is any non-ASCII byte, as strings are UTF-8
 * after parse). A '%' is checked by the caller. */
static int uri_char(unsigned char c)
{
    return isalnum(c) || c >= 0x80 || (c && strchr(URI_UNRESERVED URI_SUBDELIMS ":@/?", c));
}

/* Length of the run of valid characters at s (a '%' only as the start of
 * a pct-encoded triplet) that also pass ok (when not NULL). */
static size_t uri_run(const char *s, int (*ok)(unsigned char))
{
    size_t i = 0;

    for (;;) {
        if (s[i] == '%' && is_hex(s[i + 1]) && is_hex(s[i + 2]))
            i += 3;
        else if (s[i] != '%' && uri_char((unsigned char)s[i]) && (!ok || ok((unsigned char)s[i])))
            i++;
        else
            return i;
    }
}

/* Characters of a userinfo or reg-name (no '/', '?', '#', '@'; ':' only in
 * userinfo, which the caller handles by splitting at '@' first). */
static int authority_char(unsigned char c)
{
    return c != '/' && c != '?' && c != '@';
}

static int host_char(unsigned char c)
{
    return authority_char(c) && c != ':';
}

/* Length of a valid authority at s ("[userinfo@]host[:port]", host an IP
 * literal in brackets or a reg-name), or -1. */
static long uri_authority(const char *s)
{
    size_t n = strcspn(s, "/?#"), i = 0, user = uri_run(s, authority_char);

    if (user < n && s[user] == '@')
        i = user + 1;
    if (s[i] == '[') {
        size_t close =
            i + 1 + strspn(s + i + 1, "0123456789abcdefABCDEF:.vV" URI_UNRESERVED URI_SUBDELIMS);

        if (close >= n || s[close] != ']')
            return -1;
        i = close + 1;
    } else {
        i += uri_run(s + i, host_char);
    }
    if (i < n && s[i] == ':')
        i += 1 + strspn(s + i + 1, "0123456789");
    return i == n ? (long)n : -1;
}

/* Whether an NSS after "urn:" is a valid RFC 8141 name: a NID of 2 to 32
 * letters, digits and hyphens (not first or last), ':', a non-empty NSS;
 * for urn:uuid: an RFC 4122 UUID (8-4-4-4-12 hex digits) and nothing more. */
static int urn_ok(const char *s)
{
    size_t nid = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");

    if (nid < 2 || nid > 32 || s[0] == '-' || s[nid - 1] == '-' || s[nid] != ':' ||
        s[nid + 1] == '\0')
        return 0;
    if (nid != 4 || strncasecmp(s, "uuid", 4) != 0)
        return 1;
    s += 5;
    for (size_t i = 0; i < 36; i++) {
        if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !is_hex(s[i]))
            return 0;
    }
    return s[36] == '\0';
}

int tb_norm_is_uri(const char *s)
{
    size_t i = 0, rest;
    long auth;

    if (s == NULL || !isalpha((unsigned char)*s))
        return 0;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    if (i < 2 || s[i] != ':' || s[i + 1] == '\0')
        return 0;
    if (i == 3 && strncasecmp(s, "urn", 3) == 0 && !urn_ok(s + 4))
        return 0;
    s += i + 1;
    if (s[0] == '/' && s[1] == '/') {
        auth = uri_authority(s + 2);
        if (auth < 0)
            return 0;
        s += 2 + auth;
    }
    rest = uri_run(s, NULL); /* path and query */
    if (s[rest] == '#')
        rest += 1 + uri_run(s + rest + 1, NULL);
    return s[rest] == '\0';
}

int tb_norm_is_script_url(const char *s)
{
    static const char *const bad[] = {"javascript", "vbscript", "data"};
    char scheme[11];
    size_t n = 0;

    for (; s && *s && *s != ':'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c <= 0x20 || c == 0x7f)
            continue; /* browsers strip or ignore these */
        if (!isalpha(c) || n == sizeof(scheme) - 1)
            return 0;
        scheme[n++] = (char)tolower(c);
    }
    if (s == NULL || *s != ':')
        return 0;
    scheme[n] = '\0';
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        if (strcmp(scheme, bad[i]) == 0)
            return 1;
    }
    return 0;
}

/* ---- mentions ---------------------------------------------------------- */

/* The paper keys of one entry being collected into e->mentions. */
struct mentions {
    struct tb_feed *f;  /* the feed, whose arena holds the keys */
    struct tb_entry *e; /* the entry */
    size_t links;       /* links looked at so far */
    size_t cap;         /* slots of e->mentions */
};

/* Whether id is own, the entry's own identity of that kind. */
static int is_own(const char *id, const char *own)
{
    return own != NULL && strcmp(id, own) == 0;
}

/* Appends prefix + id to e->mentions unless it is there already. */
static int push_mention(struct mentions *x, const char *prefix, const char *id)
{
    struct tb_entry *e = x->e;
    size_t plen = strlen(prefix);
    const char *key;

    for (size_t i = 0; i < e->nmentions; i++) {
        if (strncmp(e->mentions[i], prefix, plen) == 0 && strcmp(e->mentions[i] + plen, id) == 0)
            return 0;
    }
    if (e->nmentions == x->cap) {
        /* Grown in the arena: the old array stays there unused. */
        size_t cap = x->cap ? 4 * x->cap : 4;
        const char **v = tb_arena_alloc(&x->f->arena, cap * sizeof(*v));

        if (v == NULL)
            return -ENOMEM;
        if (e->nmentions)
            memcpy(v, e->mentions, e->nmentions * sizeof(*v));
        e->mentions = v;
        x->cap = cap;
    }
    key = arena_cat(x->f, prefix, id, strlen(id));
    if (key == NULL)
        return -ENOMEM;
    e->mentions[e->nmentions++] = key;
    return 0;
}

/* Adds the key of the paper one linked URL points to: its arXiv id, else
 * its DOI, else its canonical form; nothing for the entry's own identity.
 * The URL is parsed in a memo of its own: an href is a temporary copy,
 * which the entry's memo (keyed by the string) must not keep. */
static int add_mention(struct mentions *x, const char *url)
{
    struct tb_entry *e = x->e;
    struct urls m = {0};
    char id[256], *c = NULL;
    int rc = 0;

    if (e->nmentions == TB_NORM_MENTIONS_MAX || x->links == TB_NORM_MENTION_LINKS)
        return 0;
    x->links++;
    if (arxiv_id(&m, url, id, sizeof(id)) == 0) {
        rc = is_own(id, e->arxiv_id) ? 0 : push_mention(x, "arxiv:", id);
    } else if (doi(&m, url, id, sizeof(id)) == 0) {
        rc = is_own(id, e->doi) ? 0 : push_mention(x, "doi:", id);
    } else {
        c = canon_of(url_parsed(&m, url));
        if (c != NULL && !is_own(c, e->canon_link))
            rc = push_mention(x, "link:", c);
    }
    free(c);
    urls_clear(&m);
    return rc;
}

/* The value of the href attribute of the tag [p, end) of sanitized HTML,
 * or NULL; *n is its length. The sanitizer writes every attribute as
 * ` name="value"` with '"', '<', '>' and '&' escaped, so the first '>'
 * ends the tag and the first '"' the value. */
static const char *tag_href(const char *p, const char *end, size_t *n)
{
    const char *v;

    for (; p + 7 <= end; p++) {
        if (memcmp(p, " href=\"", 7) != 0)
            continue;
        v = p + 7;
        p = memchr(v, '"', (size_t)(end - v));
        if (p == NULL)
            return NULL;
        *n = (size_t)(p - v);
        return v;
    }
    return NULL;
}

/* Copies an attribute value of n bytes, decoding the four entities the
 * sanitizer writes (&amp; &lt; &gt; &quot;). Malloc'd, or NULL. */
static char *unescape_attr(const char *v, size_t n)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}};
    char *out = malloc(n + 1), *d = out;
    size_t i = 0, k;

    while (out != NULL && i < n) {
        for (k = 0; k < 4; k++) {
            size_t len = strlen(ents[k].ent);
            if (v[i] == '&' && i + len <= n && memcmp(v + i, ents[k].ent, len) == 0)
                break;
        }
        *d++ = k < 4 ? ents[k].c : v[i];
        i += k < 4 ? strlen(ents[k].ent) : 1;
    }
    if (out != NULL)
        *d = '\0';
    return out;
}

/* Adds the mentions of every href of a sanitized HTML body. */
static int scan_hrefs(struct mentions *x, const struct tb_text *t)
{
    const char *p = t->is_html ? t->value : NULL, *end, *v;
    char *url;
    size_t n;
    int rc = 0;

    while (rc == 0 && p != NULL && (p = strchr(p, '<')) != NULL) {
        end = strchr(p, '>');
        if (end == NULL)
            break;
        v = tag_href(p, end, &n);
        if (v != NULL) {
            url = unescape_attr(v, n);
            rc = url ? add_mention(x, url) : -ENOMEM;
            free(url);
        }
        p = end;
    }
    return rc;
}

/* e->mentions from the links of its sanitized bodies and its links list. */
static int set_mentions(struct tb_feed *f, struct tb_entry *e)
{
    struct mentions x = {.f = f, .e = e};
    int rc = scan_hrefs(&x, &e->summary);

    if (rc == 0)
        rc = scan_hrefs(&x, &e->content);
    for (const struct tb_link *l = e->links; rc == 0 && l != NULL; l = l->next)
        rc = add_mention(&x, l->href);
    return rc;
}

/* Whether s is an absolute http(s) URL. */
static int is_http(const char *s)
{
    struct urls m = {0};
    int ok = is_parsed(url_parsed(&m, s));

    urls_clear(&m);
    return ok;
}

/* Replaces the published link by its form without tracking parameters; a
 * link that is not http(s) (javascript:, data:, ...) is not published. */
static int clean_link(struct tb_feed *f, struct tb_entry *e, struct urls *m)
{
    const struct purl *p = url_parsed(m, e->link);
    char *c;

    if (!is_parsed(p)) {
        e->link = NULL;
        return 0;
    }
    c = link_of(p);
    if (c == NULL)
        return -ENOMEM;
    e->link = keep(f, c);
    return e->link ? 0 : -ENOMEM;
}

/* Drops links (enclosures, related, media) that are not http(s). */
static void clean_links(struct tb_link **pp, struct urls *m)
{
    while (*pp != NULL) {
        if (is_parsed(url_parsed(m, (*pp)->href)))
            pp = &(*pp)->next;
        else
            *pp = (*pp)->next;
    }
}

/* A person's URI is kept only when it is http(s) or mailto. */
static void clean_persons(struct tb_person *p)
{
    for (; p; p = p->next) {
        if (p->uri && !is_http(p->uri) && tb_url_kind(p->uri) != TB_URL_MAILTO)
            p->uri = NULL;
    }
}

/* Drops categories whose term is a script URL; such a scheme is dropped. */
static void clean_categories(struct tb_category **pp)
{
    while (*pp != NULL) {
        if (tb_norm_is_script_url((*pp)->scheme))
            (*pp)->scheme = NULL;
        if (tb_norm_is_script_url((*pp)->term))
            *pp = (*pp)->next;
        else
            pp = &(*pp)->next;
    }
}

/* Feed-level links that are not http(s) are dropped: they would be
 * published in atom:source and serve as the base of relative links. */
static void clean_feed(struct tb_feed *f)
{
    const char **urls[] = {&f->link, &f->self, &f->hub, &f->icon};

    for (size_t i = 0; i < sizeof(urls) / sizeof(*urls); i++) {
        if (*urls[i] != NULL && !is_http(*urls[i]))
            *urls[i] = NULL;
    }
    if (tb_norm_is_script_url(f->id) || !tb_norm_is_uri(f->id))
        f->id = NULL;
    clean_persons(f->authors);
}

/*
 * Announcement-shaped entries, as arXiv's RSS (rss.arxiv.org) writes them:
 * every description opens with "arXiv:2403.05577v1 Announce Type: new
 * \nAbstract: ", and one dc:creator lists all authors ("A, B, C" or
 * "A, B and C"). Recognised by that shape, whatever the host.
 */

static size_t skip_space(const char *p)
{
    return strspn(p, " \t\r\n");
}

size_t tb_norm_announcement_len(const char *s)
{
    const char *p = s + skip_space(s);
    size_t n;

    if (strncmp(p, "arXiv:", 6) != 0)
        return 0;
    p += 6;
    n = strcspn(p, " \t\r\n");
    if (n == 0)
        return 0;
    p += n + skip_space(p + n);
    if (strncmp(p, "Announce Type:", 14) != 0)
        return 0;
    p += 14;
    p += strspn(p, " \t");
    n = strspn(p, "abcdefghijklmnopqrstuvwxyz-");
    if (n == 0)
        return 0;
    p += n + skip_space(p + n);
    if (strncmp(p, "Abstract:", 9) != 0)
        return 0;
    p += 9;
    return (size_t)(p + skip_space(p) - s);
}

/* Whether s[0..n) is a suffix that belongs to the name before its comma. */
static int name_suffix(const char *s, size_t n)
{
    static const char *const suffixes[] = {"Jr.", "Jr",    "Sr.", "Sr",   "II", "III",
                                           "IV",  "Ph.D.", "PhD", "M.D.", "MD"};

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
        if (strlen(suffixes[i]) == n && memcmp(suffixes[i], s, n) == 0)
            return 1;
    }
    return 0;
}

/* Appends the person named s[0..n) (trimmed) at *tail and makes it *last; a
 * name suffix ("Jr.") is added to *last instead. */
static int add_name(struct tb_feed *f, struct tb_person ***tail, struct tb_person **last,
                    const char *s, size_t n)
{
    struct tb_person *p;
    char *name;

    while (n > 0 && strchr(" \t\r\n", *s))
        s++, n--;
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        n--;
    if (n == 0)
        return 0;
    if (*last != NULL && name_suffix(s, n)) {
        const char *with = arena_cat(f, (*last)->name, ", ", 2);

        (*last)->name = with ? arena_cat(f, with, s, n) : NULL;
        return (*last)->name ? 0 : -ENOMEM;
    }
    p = tb_arena_alloc(&f->arena, sizeof(*p));
    name = p ? tb_arena_strndup(&f->arena, s, n) : NULL;
    if (name == NULL)
        return -ENOMEM;
    *p = (struct tb_person){NULL, name, NULL, NULL};
    **tail = p;
    *tail = &p->next;
    *last = p;
    return 0;
}

/* Length of s[0..n) before " and ", or n. */
static size_t before_and(const char *s, size_t n)
{
    for (size_t i = 0; i + 5 <= n; i++) {
        if (memcmp(s + i, " and ", 5) == 0)
            return i;
    }
    return n;
}

/* One author naming several people ("A, B and C") becomes one per name. */
static int split_authors(struct tb_feed *f, struct tb_entry *e)
{
    struct tb_person *one = e->authors, *head = NULL, *last = NULL, **tail = &head;
    const char *s;
    int rc = 0;

    if (one == NULL || one->next != NULL || one->email != NULL || one->uri != NULL)
        return 0;
    s = one->name;
    while (rc == 0 && *s != '\0') {
        size_t n = strcspn(s, ","), k = before_and(s, n);

        rc = add_name(f, &tail, &last, s, k);
        s += k < n ? k + 5 : n + (s[n] == ',');
        s += skip_space(s);
        if (k == n && strncmp(s, "and ", 4) == 0) /* ", and C" */
            s += 4;
    }
    if (rc == 0 && head != NULL && head->next != NULL)
        e->authors = head;
    return rc;
}

/* An announcement-shaped entry: the abstract alone, one author per name. */
static int unwrap_announcement(struct tb_feed *f, struct tb_entry *e)
{
    size_t n = e->summary.value ? tb_norm_announcement_len(e->summary.value) : 0;

    if (n == 0)
        return 0;
    e->summary.value += n;
    if (e->content.value && e->content.type == NULL)
        e->content.value += tb_norm_announcement_len(e->content.value);
    return split_authors(f, e);
}

/* Fills every derived field of one entry. The key and the text are taken
 * from the bodies as parsed, before they are sanitized. */
static int norm_entry(struct tb_feed *f, struct tb_entry *e, int flags)
{
    /* Without xml:base or a document URL (a local file), relative links
     * resolve against the feed's own web page, as feed readers do. */
    const char *base = e->base ? e->base : f->base ? f->base : f->link;
    struct urls m = {0};
    int rc = unwrap_announcement(f, e);

    if (rc == 0)
        rc = set_canon(f, e, &m);
    if (rc == 0)
        rc = set_ids(f, e, &m);
    if (rc == 0)
        rc = set_key(f, e);
    if (rc == 0 && (!(flags & TB_NORM_NO_TEXT) || !has_title(e)))
        rc = set_text(f, e);
    if (rc == 0)
        rc = sanitize_body(f, &e->summary, base);
    if (rc == 0)
        rc = sanitize_body(f, &e->content, base);
    if (rc == 0)
        rc = set_title(f, e);
    if (rc == 0)
        rc = clean_link(f, e, &m);
    clean_links(&e->links, &m);
    if (rc == 0)
        rc = set_mentions(f, e);
    urls_clear(&m);
    clean_persons(e->authors);
    clean_persons(e->contributors);
    clean_categories(&e->categories);
    return rc;
}

int tb_norm_feed_opts(struct tb_feed *f, int flags)
{
    int rc = 0;

    clean_feed(f);
    for (struct tb_entry *e = f->entries; e && rc == 0; e = e->next)
        rc = norm_entry(f, e, flags);
    return rc;
}

int tb_norm_feed(struct tb_feed *f)
{
    return tb_norm_feed_opts(f, 0);
}
