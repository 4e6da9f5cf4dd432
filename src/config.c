/*
 * Configuration loading. inih splits the INI syntax; our own line reader
 * feeds it, which gives every message its line number (Debian's inih is
 * built without INI_HANDLER_LINENO), lets section headers be checked where
 * they stand, and strips leading blanks so that indented keys are never
 * taken for continuation lines. Values are checked by type from one table
 * per section; cross-checks and OPML sources follow once the file is read.
 */
#include "tb_config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ini.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "tb_db.h"
#include "tb_mail.h"
#include "tb_map.h"
#include "tb_opml.h"
#include "tb_url.h"
#include "tb_utf8.h"
#include "tb_vec.h"

#define MAX_ERRORS 100           /* stop reporting (and reading) after this many */
#define CONFIG_MAX_LINE 16384    /* longest line, value included */
#define MAX_KEYS 20              /* keys in the largest section table */
#define OPML_MAX_SIZE (16 << 20) /* bytes read from one OPML file */
#define NAME_MAX_LEN 64          /* source and topic names */
#define LEASE_MIN 10             /* shortest [tributary] lease, seconds */
#define SLUG_MAX_LEN 48          /* names made from OPML titles, before "-N" */

enum section {
    SEC_NONE,
    SEC_TRIBUTARY,
    SEC_SOURCE,
    SEC_TOPIC,
    SEC_OPML,
    SEC_TRENDING,
    SEC_MAIL,
    SEC_WEBSUB,
    SEC_BAD
};

/* How a value is checked and stored. */
enum vtype {
    V_TEXT,     /* UTF-8 text without control characters (char *) */
    V_PATH,     /* a path, relative ones resolved against the config's dir (char *) */
    V_DATABASE, /* a V_PATH, or a postgresql:// URI kept as it is (char *) */
    V_URL,      /* absolute http(s) URL, normalised (char *) */
    V_BASE_URL, /* as V_URL, with a trailing '/' added (char *) */
    V_CONTACT,  /* http(s) URL or mailto: (char *) */
    V_LISTEN,   /* HOST:PORT (char *) */
    V_DURATION, /* seconds (int64_t) */
    V_SIZE,     /* bytes (size_t) */
    V_COUNT,    /* 1 to 100000 (size_t) */
    V_BATCH,    /* 1 to 100 (size_t): ids in one arXiv API request */
    V_INT,      /* 1 to 65535 (int) */
    V_BOOL,     /* yes/no, true/false, 1/0 (int) */
    V_LIST,     /* source names (the topic's sources/nsources) */
    V_WEIGHT,   /* decimal number from 0 to WEIGHT_MAX (double) */
    V_NAME,     /* a name as tb_config_name_valid() takes it (char *) */
    V_SMTP,     /* smtp:// or smtps:// URL with a host, normalised (char *) */
    V_FROM,     /* "Name <addr>" or "addr" (char *; sets tb_config_mail.from_addr) */
    V_SECRET,   /* a path, read at load: the file's first line (char *) */
    V_FILE,     /* a path (resolved) to a readable file (char *) */
    V_TIME,     /* HH:MM, 00:00 to 23:59, as minutes after midnight (int) */
    V_WEEKDAY,  /* mon..sun or monday..sunday, as 0 Sunday to 6 Saturday (int) */
    V_RATE,     /* N/min, N from 1 to 100000 (int) */
    V_PAPERS,   /* 1 to 1000 (size_t) */
    V_NODE,     /* a cluster node's name: 1 to 64 of A-Z a-z 0-9 . _ - : (char *) */
};

struct key {
    const char *name; /* as written in the file */
    enum vtype type;  /* how it is checked */
    size_t off;       /* where it goes in the section's struct */
};

#define CFG(field) offsetof(struct tb_config, field)
#define SRC(field) offsetof(struct tb_config_source, field)
#define TOP(field) offsetof(struct tb_config_topic, field)
#define TRD(field) offsetof(struct tb_config_trending, field)
#define MAIL(field) offsetof(struct tb_config_mail, field)
#define WS(field) offsetof(struct tb_config_websub, field)
#define WEIGHT_MAX 1000000.0 /* TB_STORE_WEIGHT_MAX */
#define PASSWORD_MAX 1024    /* bytes of an SMTP password */

static const struct key tributary_keys[] = {
    {"database", V_DATABASE, CFG(database)},
    {"public_dir", V_PATH, CFG(public_dir)},
    {"listen", V_LISTEN, CFG(listen)},
    {"base_url", V_BASE_URL, CFG(base_url)},
    {"contact", V_CONTACT, CFG(contact)},
    {"interval", V_DURATION, CFG(interval)},
    {"feed_limit", V_COUNT, CFG(feed_limit)},
    {"static_archive", V_BOOL, CFG(static_archive)},
    {"max_body_size", V_SIZE, CFG(max_body)},
    {"connect_timeout", V_DURATION, CFG(connect_timeout)},
    {"timeout", V_DURATION, CFG(timeout)},
    {"low_speed_time", V_DURATION, CFG(low_speed_time)},
    {"max_connections", V_INT, CFG(max_connections)},
    {"max_per_host", V_INT, CFG(max_per_host)},
    {"request_timeout", V_DURATION, CFG(request_timeout)},
    {"max_clients", V_INT, CFG(max_clients)},
    {"title", V_TEXT, CFG(title)},
    {"description", V_TEXT, CFG(description)},
    {"node", V_NODE, CFG(node)},
    {"lease", V_DURATION, CFG(lease)},
    {NULL, V_TEXT, 0},
};

static const struct key source_keys[] = {
    {"url", V_URL, SRC(url)},
    {"title", V_TEXT, SRC(title)},
    {"interval", V_DURATION, SRC(interval)},
    {"enabled", V_BOOL, SRC(enabled)},
    {"weight", V_WEIGHT, SRC(weight)},
    {"group", V_NAME, SRC(group)},
    {NULL, V_TEXT, 0},
};

static const struct key trending_keys[] = {
    {"window", V_DURATION, TRD(window)},
    {"half_life", V_DURATION, TRD(half_life)},
    {"limit", V_COUNT, TRD(limit)},
    {"arxiv_api", V_URL, TRD(arxiv_api)},
    {"resolve_arxiv", V_BOOL, TRD(resolve_arxiv)},
    {"arxiv_batch", V_BATCH, TRD(arxiv_batch)},
    {"arxiv_retry", V_DURATION, TRD(arxiv_retry)},
    {NULL, V_TEXT, 0},
};

/*
 * [mail]: email digests (issue 11); without the section nothing about mail
 * is shown or accepted. smtp and from are required.
 *   smtp          = smtp://HOST:PORT or smtps://HOST:PORT (libcurl's SMTP);
 *                   no user or password in the URL
 *   starttls      = yes|no: smtp:// only, STARTTLS required (default yes);
 *                   with smtps:// TLS starts with the connection, so the key
 *                   is accepted and ignored there (tb_config_mail.starttls is
 *                   then always 1: a "no" never turns encryption off)
 *   user          = SMTP AUTH user; needs password_file, and the reverse
 *   password_file = a file whose first line is the password, read at load
 *                   (never written in the config); unreadable: an error
 *   from          = Name <addr>, or addr: the From header and envelope sender
 *   ca_file       = CA bundle for the server's certificate; must be readable
 *   secret_file   = the token secret (default: the database path + ".secret",
 *                   created 0600 at first start)
 *   send_at       = HH:MM UTC when daily digests go out (default 07:00)
 *   weekly_day    = mon..sun (or full names) for weekly ones (default mon)
 *   rate          = N/min, messages per minute at most, 1 to 100000 (default 60/min)
 *   max_papers    = papers in one digest, 1 to 1000 (default 20)
 * With [mail], no [topic] may be named "trending": the subscribe form's
 * value for trending across everything.
 */
static const struct key mail_keys[] = {
    {"smtp", V_SMTP, MAIL(smtp)},
    {"starttls", V_BOOL, MAIL(starttls)},
    {"user", V_TEXT, MAIL(user)},
    {"password_file", V_SECRET, MAIL(password)},
    {"from", V_FROM, MAIL(from)},
    {"ca_file", V_FILE, MAIL(ca_file)},
    {"secret_file", V_PATH, MAIL(secret_file)},
    {"send_at", V_TIME, MAIL(send_at)},
    {"weekly_day", V_WEEKDAY, MAIL(weekly_day)},
    {"rate", V_RATE, MAIL(rate)},
    {"max_papers", V_PAPERS, MAIL(max_papers)},
    {NULL, V_TEXT, 0},
};

/*
 * [websub]: the WebSub hub for our own feeds and subscribing upstream.
 *   enabled       = yes|no: the hub at BASE_URL/websub (or notifying `hub`)
 *                   and the rel="hub" links (default yes)
 *   hub           = an external hub's URL, advertised and notified
 *                   (hub.mode=publish) instead of our own
 *   allow_private = yes|no: callbacks may be loopback/private (default no)
 *   callback_base = public URL of this daemon (normalised to end in '/');
 *                   when set, sources whose feeds name a hub are subscribed
 *   lease         = lease granted when none is asked (default 10d)
 *   lease_min, lease_max = bounds of a granted lease (default 1h, 30d);
 *                   lease_min <= lease <= lease_max
 *   max_per_host  = subscriptions per callback host (default 100)
 *   max_per_topic = subscriptions per topic (default 1000)
 */
static const struct key websub_keys[] = {
    {"enabled", V_BOOL, WS(enabled)},
    {"hub", V_URL, WS(hub)},
    {"allow_private", V_BOOL, WS(allow_private)},
    {"callback_base", V_BASE_URL, WS(callback_base)},
    {"lease", V_DURATION, WS(lease)},
    {"lease_min", V_DURATION, WS(lease_min)},
    {"lease_max", V_DURATION, WS(lease_max)},
    {"max_per_host", V_COUNT, WS(max_per_host)},
    {"max_per_topic", V_COUNT, WS(max_per_topic)},
    {NULL, V_TEXT, 0},
};

static const struct key topic_keys[] = {
    {"title", V_TEXT, TOP(title)},
    {"query", V_TEXT, TOP(query)},
    {"sources", V_LIST, TOP(sources)},
    {"limit", V_COUNT, TOP(limit)},
    {NULL, V_TEXT, 0},
};

/* An [opml] file key: the path and where it was named. */
struct opml_ref {
    char *path; /* resolved path */
    int line;   /* line of the file key */
};

/* Everything tb_config_load() keeps while reading. */
struct ctx {
    struct tb_config *c;          /* being filled */
    const char *file;             /* the config file (c->path) */
    char *dir;                    /* its directory, or NULL when it has no '/' */
    FILE *fp;                     /* the open config file */
    char *buf;                    /* getline() buffer */
    size_t bufcap;                /* its size */
    int line;                     /* line last handed to inih */
    enum section sec;             /* the section being read */
    char *label;                  /* its header text, for messages */
    const struct key *keys;       /* its key table, or NULL */
    void *obj;                    /* the struct its keys fill */
    int *seen;                    /* per key: line where it was set, or 0 */
    int sec_seen[MAX_KEYS];       /* `seen` of a [source] or [topic] */
    int trib_seen[MAX_KEYS];      /* `seen` of [tributary], which may repeat */
    int trend_seen[MAX_KEYS];     /* `seen` of [trending], which may repeat */
    int mail_seen[MAX_KEYS];      /* `seen` of [mail], which may repeat */
    int mail_line;                /* line of the first [mail] header, or 0 */
    int websub_seen[MAX_KEYS];    /* `seen` of [websub], which may repeat */
    int smtps;                    /* [mail] smtp is an smtps:// URL */
    int *topic_list_line;         /* per topic: line of its sources key */
    struct opml_ref *opml;        /* [opml] file keys */
    size_t nopml;                 /* number of them */
    struct tb_config_error *errs; /* problems found */
    size_t nerrs;                 /* number of problems */
    size_t aopml, aerrs;          /* allocated slots of opml and errs */
    size_t asources, atopics;     /* allocated slots of c->sources and c->topics */
    size_t alines;                /* allocated slots of topic_list_line */
    int oom;                      /* an allocation failed */
    struct tb_map names;          /* every source by name (srcindex_add()) */
    struct tb_map urls;           /* by url, filled when the OPML files are read */
};

static void add_error(struct ctx *x, const char *file, int line, const char *fmt, ...)
    TB_PRINTF(4, 5);

/*
 * The sources by name or by URL (x->names, x->urls), so that loading N
 * sources takes O(N) lookups rather than N scans of the list. The values
 * are positions in c->sources + 1, since that array moves as it grows.
 */
static const struct tb_config_source *srcindex_find(const struct tb_config *c,
                                                    const struct tb_map *ix, const char *key)
{
    uintptr_t pos = (uintptr_t)tb_map_get(ix, key, strlen(key));

    return pos ? &c->sources[pos - 1] : NULL;
}

/* Adds c->sources[pos] under key unless key is NULL or already held (the
 * first source with a key keeps it). */
static void srcindex_add(struct ctx *x, struct tb_map *ix, const char *key, size_t pos)
{
    if (key == NULL || tb_map_get(ix, key, strlen(key)) != NULL)
        return;
    if (tb_map_put(ix, key, strlen(key), (void *)(uintptr_t)(pos + 1)) != 0)
        x->oom = 1;
}

static void add_error(struct ctx *x, const char *file, int line, const char *fmt, ...)
{
    struct tb_config_error *e;
    va_list ap;
    int n;

    if (x->nerrs > MAX_ERRORS)
        return;
    if (TB_VEC_RESERVE(x->errs, x->aerrs, x->nerrs + 1, MAX_ERRORS + 1) != 0) {
        x->oom = 1;
        return;
    }
    e = &x->errs[x->nerrs++];
    e->line = line;
    e->file = strdup(file);
    va_start(ap, fmt);
    n = x->nerrs > MAX_ERRORS ? -1 : vasprintf(&e->msg, fmt, ap);
    va_end(ap);
    if (x->nerrs > MAX_ERRORS)
        e->msg = strdup("too many errors; stopping here");
    else if (n < 0)
        e->msg = NULL;
    if (e->file == NULL || e->msg == NULL)
        x->oom = 1;
}

/* Builds a string into *out, noting failure in x->oom. */
static char *xasprintf(struct ctx *x, const char *fmt, ...) TB_PRINTF(2, 3);

static char *xasprintf(struct ctx *x, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n >= 0)
        return s;
    x->oom = 1;
    return NULL;
}

static char *xstrdup(struct ctx *x, const char *s)
{
    char *copy = strdup(s);

    if (copy == NULL)
        x->oom = 1;
    return copy;
}

/* ---- value parsers ---------------------------------------------------- */

int tb_config_name_valid(const char *s)
{
    size_t len = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");

    return len > 0 && len <= NAME_MAX_LEN && s[len] == '\0';
}

/* Parses a decimal number in [1, max]. */
static int parse_count(const char *s, long max, long *out)
{
    long n = 0;

    if (*s == '\0')
        return -EINVAL;
    for (; *s >= '0' && *s <= '9'; s++) {
        n = n * 10 + (*s - '0');
        if (n > max)
            return -EINVAL;
    }
    if (*s != '\0' || n < 1)
        return -EINVAL;
    *out = n;
    return 0;
}

static int64_t unit_seconds(char unit)
{
    switch (unit) {
    case 's':
        return 1;
    case 'm':
        return 60;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    case 'w':
        return 7 * 86400;
    default:
        return 0;
    }
}

int tb_config_duration(const char *s, int64_t *out)
{
    int64_t total = 0, last = INT64_MAX;
    long plain;

    if (s == NULL || *s == '\0')
        return -EINVAL;
    if (s[strspn(s, "0123456789")] == '\0') {
        if (parse_count(s, INT32_MAX, &plain) != 0)
            return -EINVAL;
        *out = plain;
        return 0;
    }
    while (*s) {
        int64_t n = 0, mult;

        if (*s < '0' || *s > '9')
            return -EINVAL;
        for (; *s >= '0' && *s <= '9'; s++) {
            n = n * 10 + (*s - '0');
            if (n > INT32_MAX)
                return -EINVAL;
        }
        mult = unit_seconds(*s);
        /* Units must shrink from left to right: "2h30m", not "30m2h" or "1h1h". */
        if (mult == 0 || mult >= last)
            return -EINVAL;
        s++;
        last = mult;
        total += n * mult;
        if (total > INT32_MAX)
            return -EINVAL;
    }
    if (total < 1)
        return -EINVAL;
    *out = total;
    return 0;
}

int tb_config_size(const char *s, size_t *out)
{
    unsigned long long n = 0, mult = 1;
    const char *p = s;

    if (s == NULL || *s < '0' || *s > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (unsigned long long)(*p - '0');
        if (n > SIZE_MAX / 2)
            return -EINVAL;
    }
    if (*p != '\0' && strchr("kKmMgG", *p)) {
        mult = *p == 'k' || *p == 'K'   ? 1ULL << 10
               : *p == 'm' || *p == 'M' ? 1ULL << 20
                                        : 1ULL << 30;
        p++;
        if (strcmp(p, "B") == 0 || strcmp(p, "iB") == 0)
            p += strlen(p);
    }
    if (*p != '\0' || n == 0 || n > SIZE_MAX / mult)
        return -EINVAL;
    *out = (size_t)(n * mult);
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
        strcasecmp(s, "on") == 0) {
        *out = 1;
        return 0;
    }
    if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0 ||
        strcasecmp(s, "off") == 0) {
        *out = 0;
        return 0;
    }
    return -EINVAL;
}

/* Whether s is valid UTF-8 (no overlongs, surrogates or values past
 * U+10FFFF) without control characters. */
static int text_valid(const char *s)
{
    const char *p;

    for (p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    return tb_utf8_valid(s, (size_t)(p - s));
}

/* Host names are case-insensitive; lower case lets equal URLs compare equal. */
static CURLUcode lower_host(CURLU *u)
{
    char *host = NULL, *p;
    CURLUcode uc = curl_url_get(u, CURLUPART_HOST, &host, 0);

    for (p = host; uc == CURLUE_OK && *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (uc == CURLUE_OK)
        uc = curl_url_set(u, CURLUPART_HOST, host, 0);
    curl_free(host);
    return uc;
}

/*
 * Checks an absolute http(s) URL with curl's parser. Returns a malloc'd
 * normalised copy, or NULL with the reason in *why (static text) -- or
 * with *why NULL when out of memory.
 */
static char *url_check(const char *s, const char **why)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *norm = NULL, *copy = NULL;
    CURLUcode uc;

    *why = NULL;
    if (u == NULL)
        return NULL;
    uc = curl_url_set(u, CURLUPART_URL, s, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (uc == CURLUE_OK && !tb_url_scheme_allowed(scheme))
        *why = "only http and https URLs are accepted";
    else if (uc == CURLUE_OK)
        uc = lower_host(u);
    if (uc == CURLUE_OK && *why == NULL)
        uc = curl_url_get(u, CURLUPART_URL, &norm, 0);
    if (uc != CURLUE_OK)
        *why = uc == CURLUE_OUT_OF_MEMORY ? NULL : curl_url_strerror(uc);
    if (norm)
        copy = strdup(norm);
    curl_free(scheme);
    curl_free(norm);
    curl_url_cleanup(u);
    return copy;
}

static int listen_valid(const char *s)
{
    const char *colon = strrchr(s, ':');
    size_t hostlen;
    long port;

    if (colon == NULL || colon == s || parse_count(colon + 1, 65535, &port) != 0)
        return 0;
    hostlen = (size_t)(colon - s);
    if (s[0] == '[')
        return hostlen > 2 && s[hostlen - 1] == ']';
    return strcspn(s, " \t[]") >= hostlen && memchr(s, ':', hostlen) == NULL;
}

/* A mailto: contact goes into the User-Agent header: no blanks or controls. */
static int mailto_valid(const char *s)
{
    const char *addr = s + strlen("mailto:");

    return strncasecmp(s, "mailto:", 7) == 0 && strchr(addr, '@') && addr[0] != '@' &&
           strcspn(addr, " \t\"()<>,;") == strlen(addr) && text_valid(addr);
}

/* Resolves a relative path against the config file's directory. */
static char *resolve_path(struct ctx *x, const char *p)
{
    if (p[0] == '/' || x->dir == NULL)
        return xstrdup(x, p);
    return xasprintf(x, "%s%s%s", x->dir, x->dir[strlen(x->dir) - 1] == '/' ? "" : "/", p);
}

/* ---- storing values --------------------------------------------------- */

/*
 * database = a PostgreSQL URI (tb_db_is_pg): checked by libpq's own parser,
 * and refused when it holds a password, which belongs in ~/.pgpass or the
 * file PGPASSFILE names (never in a config file that is often readable).
 */
static void set_database(struct ctx *x, const struct key *k, char **dst, const char *v)
{
    PQconninfoOption *opts, *o;
    char *why = NULL;

    if (!tb_db_is_pg(v)) {
        *dst = resolve_path(x, v);
        return;
    }
    opts = PQconninfoParse(v, &why);
    if (opts == NULL) {
        add_error(x, x->file, x->line, "%s: invalid PostgreSQL URI: %s", k->name,
                  why ? strtok(why, "\n") : "out of memory");
        PQfreemem(why);
        return;
    }
    for (o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
            break;
    }
    if (o->keyword != NULL)
        add_error(x, x->file, x->line,
                  "%s: a password in the PostgreSQL URI: put it in ~/.pgpass (or the file"
                  " PGPASSFILE names) instead",
                  k->name);
    else
        *dst = xstrdup(x, v);
    PQconninfoFree(opts);
}

static void set_url(struct ctx *x, const struct key *k, char **dst, const char *v)
{
    const char *why;
    char *u = url_check(v, &why);

    if (u == NULL && why == NULL) {
        x->oom = 1;
    } else if (u == NULL) {
        add_error(x, x->file, x->line, "%s: invalid URL '%s': %s", k->name, v, why);
    } else if (k->type == V_BASE_URL && u[strlen(u) - 1] != '/') {
        *dst = xasprintf(x, "%s/", u);
        free(u);
    } else {
        *dst = u;
    }
}

static void set_contact(struct ctx *x, char **dst, const char *v)
{
    const char *why = "";

    if (tb_url_kind(v) == TB_URL_MAILTO)
        *dst = mailto_valid(v) ? xstrdup(x, v) : NULL;
    else
        *dst = url_check(v, &why);
    if (*dst == NULL && why == NULL)
        x->oom = 1;
    else if (*dst == NULL && !x->oom)
        add_error(x, x->file, x->line,
                  "contact: invalid contact '%s' (use an http(s) URL or mailto:ADDRESS)", v);
}

/* Stores the topic's source names; each must be a valid name, repeats are dropped. */
static void set_list(struct ctx *x, struct tb_config_topic *t, const char *v)
{
    char *copy = xstrdup(x, v), *save = NULL, *tok;
    size_t i;

    x->topic_list_line[x->c->ntopics - 1] = x->line;
    for (tok = copy ? strtok_r(copy, ", \t", &save) : NULL; tok;
         tok = strtok_r(NULL, ", \t", &save)) {
        char **p;

        if (!tb_config_name_valid(tok)) {
            add_error(x, x->file, x->line, "sources: invalid source name '%s'", tok);
            continue;
        }
        for (i = 0; i < t->nsources && strcmp(t->sources[i], tok) != 0; i++)
            ;
        if (i < t->nsources)
            continue;
        p = realloc(t->sources, (t->nsources + 1) * sizeof(*p));
        if (p == NULL) {
            x->oom = 1;
            break;
        }
        t->sources = p;
        t->sources[t->nsources] = xstrdup(x, tok);
        t->nsources += t->sources[t->nsources] != NULL;
    }
    if (copy && t->nsources == 0 && !x->oom)
        add_error(x, x->file, x->line, "sources: no source names in '%s'", v);
    free(copy);
}

/* Parses a weight: digits with an optional fraction ("1", "0.5", ".5"),
 * from 0 to WEIGHT_MAX; no sign, exponent, hex, inf or nan. */
static int parse_weight(const char *s, double *out)
{
    size_t i = strspn(s, "0123456789"), f = 0;
    double d;

    if (s[i] == '.') {
        f = strspn(s + i + 1, "0123456789");
        if (f == 0)
            return -EINVAL;
        i += 1 + f;
    }
    if (s[i] != '\0' || i == 0 || i > 32)
        return -EINVAL;
    d = strtod(s, NULL);
    if (!(d >= 0 && d <= WEIGHT_MAX))
        return -EINVAL;
    *out = d;
    return 0;
}

/* Checks a number-like value; adds an error and returns -1 when it is bad. */
static int set_number(struct ctx *x, const struct key *k, void *dst, const char *v)
{
    long n, max;

    switch (k->type) {
    case V_WEIGHT:
        if (parse_weight(v, dst) == 0)
            return 0;
        add_error(x, x->file, x->line,
                  "%s: invalid weight '%s' (a number from 0 to 1000000, e.g. 1, 2 or 0.5)", k->name,
                  v);
        return -1;
    case V_DURATION:
        if (tb_config_duration(v, dst) == 0)
            return 0;
        add_error(x, x->file, x->line,
                  "%s: invalid duration '%s' (use e.g. 90s, 30m, 1h, 2h30m, 1d)", k->name, v);
        return -1;
    case V_SIZE:
        if (tb_config_size(v, dst) == 0)
            return 0;
        add_error(x, x->file, x->line, "%s: invalid size '%s' (use e.g. 512K, 32M, 1G)", k->name,
                  v);
        return -1;
    case V_BOOL:
        if (parse_bool(v, dst) == 0)
            return 0;
        add_error(x, x->file, x->line, "%s: invalid boolean '%s' (use yes/no, true/false, 1/0)",
                  k->name, v);
        return -1;
    default:
        break;
    }
    max = k->type == V_INT ? 65535 : k->type == V_BATCH ? 100 : k->type == V_PAPERS ? 1000 : 100000;
    if (parse_count(v, max, &n) != 0) {
        add_error(x, x->file, x->line, "%s: invalid number '%s' (1 to %ld)", k->name, v, max);
        return -1;
    }
    if (k->type == V_INT)
        *(int *)dst = (int)n;
    else
        *(size_t *)dst = (size_t)n;
    return 0;
}

/* ---- [mail] values ---------------------------------------------------- */

/* Checks an smtp:// or smtps:// URL with curl's parser: a host, no user
 * or password (the password never goes in the config), no query or
 * fragment. Returns a malloc'd normalised copy, or NULL with the reason in
 * *why -- or with *why NULL when out of memory. */
static char *smtp_check(const char *s, int *smtps, const char **why)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *part = NULL, *norm = NULL, *copy = NULL;
    CURLUcode uc;

    *why = NULL;
    if (strncasecmp(s, "smtp://", 7) != 0 && strncasecmp(s, "smtps://", 8) != 0)
        *why = "use smtp://HOST:PORT or smtps://HOST:PORT";
    if (u == NULL || *why != NULL) {
        curl_url_cleanup(u);
        return NULL;
    }
    uc = curl_url_set(u, CURLUPART_URL, s, CURLU_NON_SUPPORT_SCHEME);
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (uc == CURLUE_OK && strcmp(scheme, "smtp") != 0 && strcmp(scheme, "smtps") != 0)
        *why = "use smtp://HOST:PORT or smtps://HOST:PORT";
    else if (uc == CURLUE_OK && (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
                                 curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK))
        *why = "no user or password in the URL: use user and password_file";
    else if (uc == CURLUE_OK && (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
                                 curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK))
        *why = "a query or fragment has no meaning here";
    else if (uc == CURLUE_OK)
        uc = lower_host(u);
    if (uc == CURLUE_OK && *why == NULL)
        uc = curl_url_get(u, CURLUPART_URL, &norm, 0);
    if (uc != CURLUE_OK)
        *why = uc == CURLUE_OUT_OF_MEMORY ? NULL : curl_url_strerror(uc);
    if (norm)
        copy = strdup(norm);
    *smtps = scheme != NULL && strcmp(scheme, "smtps") == 0;
    curl_free(scheme);
    curl_free(part);
    curl_free(norm);
    curl_url_cleanup(u);
    return copy;
}

static void set_smtp(struct ctx *x, char **dst, const char *v)
{
    const char *why;

    *dst = smtp_check(v, &x->smtps, &why);
    if (*dst == NULL && why == NULL)
        x->oom = 1;
    else if (*dst == NULL)
        add_error(x, x->file, x->line, "smtp: invalid URL '%s': %s", v, why);
}

/* "Name <addr>", "\"Name\" <addr>", "<addr>" or "addr": the address is
 * checked as a subscriber's is (tb_mail_addr_check), so it can go into the
 * envelope and headers as is; the name keeps what the digest encodes. */
static void set_from(struct ctx *x, char **dst, const char *v)
{
    const char *lt = strrchr(v, '<'), *name = v;
    size_t n = strlen(v), nlen = 0;
    char err[128], *addr;

    if (n > 0 && v[n - 1] == '>' && lt != NULL) {
        addr = strndup(lt + 1, (size_t)(v + n - 1 - (lt + 1)));
        nlen = (size_t)(lt - v);
        while (nlen > 0 && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t'))
            nlen--;
        if (nlen >= 2 && name[0] == '"' && name[nlen - 1] == '"') {
            name++;
            nlen -= 2;
        }
    } else {
        addr = strdup(v);
    }
    if (addr == NULL) {
        x->oom = 1;
    } else if (tb_mail_addr_check(addr, err, sizeof(err)) != 0) {
        add_error(x, x->file, x->line, "from: invalid address '%s': %s", addr, err);
    } else if (strcspn(name, "<>\"\\") < nlen) {
        add_error(x, x->file, x->line, "from: invalid name '%.*s' (no < > \" or \\ in it)",
                  (int)nlen, name);
    } else {
        *dst = nlen > 0 ? xasprintf(x, "%.*s <%s>", (int)nlen, name, addr) : xstrdup(x, addr);
        free(x->c->mail.from_addr);
        x->c->mail.from_addr = addr;
        addr = NULL;
    }
    free(addr);
}

/* Reads the password: the first line of a regular file (its line end
 * dropped), 1 to PASSWORD_MAX bytes without NUL. The path is resolved
 * like every other. */
static void set_password(struct ctx *x, char **dst, const char *v)
{
    char buf[PASSWORD_MAX + 2], *path = resolve_path(x, v);
    struct stat st;
    size_t n = 0;
    FILE *fp = path ? fopen(path, "r") : NULL;
    const char *why = NULL;

    if (path == NULL)
        return;
    if (fp == NULL)
        why = strerror(errno);
    else if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode))
        why = "not a regular file";
    else
        n = fread(buf, 1, sizeof(buf) - 1, fp);
    if (why == NULL && ferror(fp))
        why = strerror(errno);
    if (fp != NULL)
        fclose(fp);
    buf[n] = '\0';
    if (why == NULL && strlen(buf) != n)
        why = "a NUL byte in it";
    n = strcspn(buf, "\r\n");
    if (why == NULL && n == 0)
        why = "its first line is empty";
    if (why == NULL && n > PASSWORD_MAX)
        why = "its first line is longer than 1024 bytes";
    if (why != NULL)
        add_error(x, x->file, x->line, "password_file: cannot use '%s': %s", path, why);
    else
        *dst = strndup(buf, n);
    if (why == NULL && *dst == NULL)
        x->oom = 1;
    explicit_bzero(buf, sizeof(buf));
    free(path);
}

static void set_readable(struct ctx *x, const struct key *k, char **dst, const char *v)
{
    char *path = resolve_path(x, v);
    struct stat st;

    if (path == NULL)
        return;
    if (access(path, R_OK) != 0)
        add_error(x, x->file, x->line, "%s: cannot read '%s': %s", k->name, path, strerror(errno));
    else if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        add_error(x, x->file, x->line, "%s: '%s' is not a regular file", k->name, path);
    else
        *dst = path;
    if (*dst != path)
        free(path);
}

/* HH:MM (or H:MM) from 00:00 to 23:59 into minutes after midnight. */
static int parse_time(const char *s, int *out)
{
    size_t h = strspn(s, "0123456789");
    int hh, mm;

    if (h < 1 || h > 2 || s[h] != ':' || strspn(s + h + 1, "0123456789") != 2 || s[h + 3] != '\0')
        return -EINVAL;
    hh = atoi(s);
    mm = atoi(s + h + 1);
    if (hh > 23 || mm > 59)
        return -EINVAL;
    *out = hh * 60 + mm;
    return 0;
}

/* mon..sun or monday..sunday, any case, into 0 Sunday .. 6 Saturday. */
static int parse_weekday(const char *s, int *out)
{
    static const char *const days[] = {"sunday",   "monday", "tuesday", "wednesday",
                                       "thursday", "friday", "saturday"};
    int i;

    for (i = 0; i < 7; i++) {
        if (strcasecmp(s, days[i]) == 0 || (strlen(s) == 3 && strncasecmp(s, days[i], 3) == 0)) {
            *out = i;
            return 0;
        }
    }
    return -EINVAL;
}

/* N/min with N from 1 to 100000. */
static int parse_rate(const char *s, int *out)
{
    size_t n = strspn(s, "0123456789");
    char num[16];
    long v;

    if (n == 0 || n >= sizeof(num) || strcmp(s + n, "/min") != 0)
        return -EINVAL;
    memcpy(num, s, n);
    num[n] = '\0';
    if (parse_count(num, 100000, &v) != 0)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

static void mail_value(struct ctx *x, const struct key *k, void *dst, const char *v)
{
    switch (k->type) {
    case V_SMTP:
        set_smtp(x, dst, v);
        break;
    case V_FROM:
        set_from(x, dst, v);
        break;
    case V_SECRET:
        set_password(x, dst, v);
        break;
    case V_FILE:
        set_readable(x, k, dst, v);
        break;
    case V_TIME:
        if (parse_time(v, dst) != 0)
            add_error(x, x->file, x->line, "%s: invalid time '%s' (HH:MM from 00:00 to 23:59, UTC)",
                      k->name, v);
        break;
    case V_WEEKDAY:
        if (parse_weekday(v, dst) != 0)
            add_error(x, x->file, x->line,
                      "%s: invalid day '%s' (mon, tue, wed, thu, fri, sat or sun)", k->name, v);
        break;
    default:
        if (parse_rate(v, dst) != 0)
            add_error(x, x->file, x->line, "%s: invalid rate '%s' (N/min, N from 1 to 100000)",
                      k->name, v);
        break;
    }
}

/* A node name: what a host name and a port make ("web1:8080"), so that it
 * reads unquoted in logs, `tributary sources` and /metrics labels. */
#define NODE_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:"

static int node_valid(const char *v)
{
    size_t n = strlen(v);

    return n > 0 && n <= NAME_MAX_LEN && strspn(v, NODE_CHARS) == n;
}

/* The default node name: the host name (up to its first dot, characters
 * a node name cannot hold as '-') and the port of `listen`, so that two
 * daemons on one machine differ. */
static char *default_node(struct ctx *x, const char *listen)
{
    char host[NAME_MAX_LEN + 1] = "", name[2 * NAME_MAX_LEN];
    const char *port = strrchr(listen, ':');
    size_t i;

    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "localhost");
    host[strcspn(host, ".")] = '\0';
    for (i = 0; host[i] != '\0'; i++) {
        if (strchr(NODE_CHARS, host[i]) == NULL || host[i] == ':')
            host[i] = '-';
    }
    snprintf(name, sizeof(name), "%.*s:%s", NAME_MAX_LEN / 2, host, port ? port + 1 : "0");
    return xstrdup(x, name);
}

static void store_value(struct ctx *x, const struct key *k, void *dst, const char *v)
{
    switch (k->type) {
    case V_TEXT:
        *(char **)dst = xstrdup(x, v);
        break;
    case V_PATH:
        *(char **)dst = resolve_path(x, v);
        break;
    case V_DATABASE:
        set_database(x, k, dst, v);
        break;
    case V_URL:
    case V_BASE_URL:
        set_url(x, k, dst, v);
        break;
    case V_CONTACT:
        set_contact(x, dst, v);
        break;
    case V_LISTEN:
        if (listen_valid(v))
            *(char **)dst = xstrdup(x, v);
        else
            add_error(x, x->file, x->line, "listen: invalid address '%s' (use HOST:PORT)", v);
        break;
    case V_LIST:
        set_list(x, x->obj, v);
        break;
    case V_SMTP:
    case V_FROM:
    case V_SECRET:
    case V_FILE:
    case V_TIME:
    case V_WEEKDAY:
    case V_RATE:
        mail_value(x, k, dst, v);
        break;
    case V_NODE:
        if (node_valid(v))
            *(char **)dst = xstrdup(x, v);
        else
            add_error(x, x->file, x->line,
                      "node: invalid name '%s' (use 1 to 64 of A-Z a-z 0-9 . _ - :)", v);
        break;
    case V_NAME:
        if (tb_config_name_valid(v))
            *(char **)dst = xstrdup(x, v);
        else
            add_error(x, x->file, x->line,
                      "%s: invalid name '%s' (use 1 to 64 of A-Z a-z 0-9 . _ -)", k->name, v);
        break;
    default:
        /* A lease shorter than a slow fetch would pass sources between
         * nodes while they are being polled. */
        if (set_number(x, k, dst, v) == 0 && dst == (void *)&x->c->lease && x->c->lease < LEASE_MIN)
            add_error(x, x->file, x->line, "lease: '%s' is too short (at least %ds)", v, LEASE_MIN);
        break;
    }
}

/* Checks one value and stores it into the section's struct. */
static void set_value(struct ctx *x, const struct key *k, const char *v)
{
    void *dst = (char *)x->obj + k->off;
    size_t nerrs = x->nerrs;

    if (*v == '\0')
        add_error(x, x->file, x->line, "%s: empty value", k->name);
    else if (!text_valid(v))
        add_error(x, x->file, x->line, "%s: not UTF-8 text, or has control characters", k->name);
    else
        store_value(x, k, dst, v);
    /* A bad url or query was still given: "missing" would only repeat the error.
     * The placeholder never escapes, since any error discards the config. */
    if (x->nerrs > nerrs &&
        (k->type == V_URL || k->type == V_TEXT || k->type == V_SMTP || k->type == V_FROM) &&
        *(char **)dst == NULL)
        *(char **)dst = xstrdup(x, "");
}

/* ---- sections and lines ----------------------------------------------- */

static void section_key(struct ctx *x, const char *name, const char *value)
{
    size_t i;

    for (i = 0; x->keys[i].name && strcmp(x->keys[i].name, name) != 0; i++)
        ;
    if (x->keys[i].name == NULL) {
        add_error(x, x->file, x->line, "unknown key '%s' in [%s]", name, x->label);
        return;
    }
    if (x->seen[i]) {
        add_error(x, x->file, x->line, "duplicate key '%s' (first set at line %d)", name,
                  x->seen[i]);
        return;
    }
    x->seen[i] = x->line;
    set_value(x, &x->keys[i], value);
}

static void opml_key(struct ctx *x, const char *name, const char *value)
{
    struct opml_ref *p;

    if (strcmp(name, "file") != 0) {
        add_error(x, x->file, x->line, "unknown key '%s' in [opml]", name);
        return;
    }
    if (*value == '\0' || !text_valid(value)) {
        add_error(x, x->file, x->line, "file: empty or not UTF-8 text");
        return;
    }
    if (TB_VEC_RESERVE(x->opml, x->aopml, x->nopml + 1, TB_VEC_MAX) != 0) {
        x->oom = 1;
        return;
    }
    p = x->opml;
    p[x->nopml].path = resolve_path(x, value);
    p[x->nopml].line = x->line;
    x->nopml += p[x->nopml].path != NULL;
}

/* inih calls this for each KEY = VALUE; x->line is that line. Always
 * returns 1: problems are recorded here, not in inih's return value. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct ctx *x = user;

    (void)section;
    if (x->sec == SEC_NONE)
        add_error(x, x->file, x->line, "key '%s' outside of any section", name);
    else if (x->sec == SEC_OPML)
        opml_key(x, name, value);
    else if (x->sec != SEC_BAD)
        section_key(x, name, value);
    return 1;
}

static int find_topic(const struct tb_config *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->ntopics; i++)
        if (strcmp(c->topics[i].name, name) == 0)
            return (int)i;
    return -1;
}

static void add_source(struct ctx *x, const char *name)
{
    struct tb_config *c = x->c;
    struct tb_config_source *p;

    if (TB_VEC_RESERVE(c->sources, x->asources, c->nsources + 1, TB_VEC_MAX) != 0) {
        x->oom = 1;
        return;
    }
    p = &c->sources[c->nsources++];
    memset(p, 0, sizeof(*p));
    p->name = xstrdup(x, name);
    p->file = xstrdup(x, x->file);
    p->line = x->line;
    p->enabled = 1;
    p->weight = 1;
    if (p->name != NULL)
        srcindex_add(x, &x->names, p->name, c->nsources - 1);
    x->sec = SEC_SOURCE;
    x->keys = source_keys;
    x->obj = p;
}

static void add_topic(struct ctx *x, const char *name)
{
    struct tb_config *c = x->c;
    struct tb_config_topic *p;

    if (TB_VEC_RESERVE(c->topics, x->atopics, c->ntopics + 1, TB_VEC_MAX) != 0 ||
        TB_VEC_RESERVE(x->topic_list_line, x->alines, c->ntopics + 1, TB_VEC_MAX) != 0) {
        x->oom = 1;
        return;
    }
    x->topic_list_line[c->ntopics] = 0;
    p = &c->topics[c->ntopics++];
    memset(p, 0, sizeof(*p));
    p->name = xstrdup(x, name);
    p->file = xstrdup(x, x->file);
    p->line = x->line;
    x->sec = SEC_TOPIC;
    x->keys = topic_keys;
    x->obj = p;
}

/* Starts [source NAME] or [topic NAME] after checking the name. */
static void begin_named(struct ctx *x, const char *kind, const char *name)
{
    int is_topic = strcmp(kind, "topic") == 0;
    const struct tb_config_source *s = srcindex_find(x->c, &x->names, name);
    int t = find_topic(x->c, name);

    if (*name == '\0') {
        add_error(x, x->file, x->line, "section [%s] needs a name: [%s NAME]", kind, kind);
    } else if (!tb_config_name_valid(name)) {
        add_error(x, x->file, x->line, "invalid %s name '%s' (use 1 to 64 of A-Z a-z 0-9 . _ -)",
                  kind, name);
    } else if (!is_topic && s) {
        add_error(x, x->file, x->line, "duplicate source '%s' (first defined at %s:%d)", name,
                  s->file, s->line);
    } else if (is_topic && t >= 0) {
        add_error(x, x->file, x->line, "duplicate topic '%s' (first defined at %s:%d)", name,
                  x->c->topics[t].file, x->c->topics[t].line);
    } else {
        memset(x->sec_seen, 0, sizeof(x->sec_seen));
        x->seen = x->sec_seen;
        if (is_topic)
            add_topic(x, name);
        else
            add_source(x, name);
    }
}

/* Starts the section whose header text (between the brackets) is hdr. */
static void begin_section(struct ctx *x, char *hdr)
{
    char *kind = hdr + strspn(hdr, " \t"), *name = kind + strcspn(kind, " \t");
    size_t len;

    if (*name) {
        *name++ = '\0';
        name += strspn(name, " \t");
    }
    len = strlen(name);
    while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
        name[--len] = '\0';
    free(x->label);
    x->label = xasprintf(x, "%s%s%s", kind, *name ? " " : "", name);
    x->sec = SEC_BAD;
    if (x->label == NULL)
        return;
    if (strcmp(kind, "tributary") == 0 && *name == '\0') {
        x->sec = SEC_TRIBUTARY;
        x->keys = tributary_keys;
        x->obj = x->c;
        x->seen = x->trib_seen;
    } else if (strcmp(kind, "opml") == 0 && *name == '\0') {
        x->sec = SEC_OPML;
    } else if (strcmp(kind, "trending") == 0 && *name == '\0') {
        x->sec = SEC_TRENDING;
        x->keys = trending_keys;
        x->obj = &x->c->trending;
        x->seen = x->trend_seen;
    } else if (strcmp(kind, "mail") == 0 && *name == '\0') {
        x->sec = SEC_MAIL;
        x->keys = mail_keys;
        x->obj = &x->c->mail;
        x->seen = x->mail_seen;
        x->c->mail.enabled = 1;
        if (x->mail_line == 0)
            x->mail_line = x->line;
    } else if (strcmp(kind, "websub") == 0 && *name == '\0') {
        x->sec = SEC_WEBSUB;
        x->keys = websub_keys;
        x->obj = &x->c->websub;
        x->seen = x->websub_seen;
    } else if (strcmp(kind, "source") == 0 || strcmp(kind, "topic") == 0) {
        begin_named(x, kind, name);
    } else {
        add_error(x, x->file, x->line, "unknown section [%s]", x->label);
    }
}

/* Looks at a line before inih does: starts sections, reports syntax errors.
 * Returns 0 when the line must not reach inih. */
static int classify(struct ctx *x, char *s)
{
    char *end;

    if (*s == '\0' || strchr(";#\r\n", *s))
        return 1;
    if (*s == '[') {
        end = strchr(s, ']');
        if (end == NULL) {
            add_error(x, x->file, x->line, "syntax error: section header without ']'");
            x->sec = SEC_BAD;
            return 0;
        }
        *end = '\0';
        begin_section(x, s + 1);
        return 0;
    }
    if (strpbrk(s, "=:") == NULL) {
        add_error(x, x->file, x->line,
                  "syntax error: expected [SECTION], KEY = VALUE or a comment");
        return 0;
    }
    return 1;
}

/* inih's fgets-like reader: counts lines and keeps problem lines from inih. */
static char *read_line(char *str, int num, void *stream)
{
    struct ctx *x = stream;
    ssize_t len;
    char *s;

    if (x->nerrs > MAX_ERRORS || x->oom)
        return NULL;
    len = getline(&x->buf, &x->bufcap, x->fp);
    if (len < 0)
        return NULL;
    x->line++;
    s = x->buf;
    if (x->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    /* Without leading blanks inih never takes a line for a continuation. */
    s += strspn(s, " \t");
    if (strlen(s) != (size_t)len - (size_t)(s - x->buf)) {
        add_error(x, x->file, x->line, "line contains a NUL byte");
        s = "\n";
    } else if (strlen(s) + 3 > (size_t)num) {
        add_error(x, x->file, x->line, "line too long (more than %d characters)", num - 3);
        s = "\n";
    } else if (!classify(x, s)) {
        s = "\n";
    }
    strcpy(str, s);
    return str;
}

static int has_error_at(const struct ctx *x, const char *file, int line)
{
    size_t i;

    for (i = 0; i < x->nerrs; i++)
        if (x->errs[i].line == line && strcmp(x->errs[i].file, file) == 0)
            return 1;
    return 0;
}

/* Reads the INI file; returns -1 when it could not be read at all. */
static int read_ini(struct ctx *x)
{
    struct stat st;
    int rc;

    x->fp = fopen(x->file, "r");
    if (x->fp == NULL) {
        add_error(x, x->file, 0, "cannot read: %s", strerror(errno));
        return -1;
    }
    if (fstat(fileno(x->fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        add_error(x, x->file, 0, "cannot read: not a regular file");
        fclose(x->fp);
        return -1;
    }
    /* Debian's inih reads lines into a 200-byte stack buffer unless told
     * otherwise; topic queries are often longer. */
    ini_use_stack = false;
    ini_max_line = CONFIG_MAX_LINE;
    ini_initial_alloc = CONFIG_MAX_LINE;
    rc = ini_parse_stream(read_line, x, on_key, x);
    if (ferror(x->fp))
        add_error(x, x->file, x->line, "cannot read: %s", strerror(errno));
    else if (rc > 0 && !has_error_at(x, x->file, rc))
        add_error(x, x->file, rc, "syntax error");
    fclose(x->fp);
    return 0;
}

/* ---- OPML sources ----------------------------------------------------- */

/* Reads a whole regular file of at most OPML_MAX_SIZE bytes into b. */
static int read_file(const char *path, struct tb_buf *b, char *err, size_t errlen)
{
    char chunk[65536];
    struct stat st;
    FILE *fp = fopen(path, "r");
    size_t n;
    int rc = 0;

    if (fp == NULL || fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "cannot read: %s", fp ? "not a regular file" : strerror(errno));
        if (fp)
            fclose(fp);
        return -EINVAL;
    }
    tb_buf_init(b, OPML_MAX_SIZE);
    do {
        n = fread(chunk, 1, sizeof(chunk), fp);
        rc = n > 0 ? tb_buf_add(b, chunk, n) : 0;
    } while (rc == 0 && n == sizeof(chunk));
    if (rc == 0 && ferror(fp))
        rc = -EIO;
    if (rc != 0)
        snprintf(err, errlen, "cannot read: %s", tb_strerror(rc));
    fclose(fp);
    return rc;
}

void tb_config_slug(const char *in, char *out, size_t len)
{
    size_t n = 0;

    for (; in && *in && n + 1 < len; in++) {
        char ch = *in;

        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
            out[n++] = ch;
        else if (n > 0 && out[n - 1] != '-')
            out[n++] = '-';
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n] = '\0';
}

/* A unique source name from the title, else the URL's host, else "feed". */
static char *unique_name(struct ctx *x, const char *title, const char *url)
{
    char base[SLUG_MAX_LEN + 1], *name;
    char *host = NULL;
    CURLU *u;
    int k;

    tb_config_slug(title, base, sizeof(base));
    if (base[0] == '\0') {
        u = curl_url();
        if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
            tb_config_slug(host, base, sizeof(base));
        curl_free(host);
        curl_url_cleanup(u);
    }
    if (base[0] == '\0')
        strcpy(base, "feed");
    name = xstrdup(x, base);
    for (k = 2; name && srcindex_find(x->c, &x->names, name); k++) {
        free(name);
        name = xasprintf(x, "%s-%d", base, k);
    }
    return name;
}

/* OPML titles may hold tabs or newlines; a display title gets spaces. */
static char *clean_title(struct ctx *x, const char *t)
{
    char *s = t ? xstrdup(x, t) : NULL, *p;

    for (p = s; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return s;
}

static void add_opml_source(struct ctx *x, const char *path, const struct tb_opml_feed *f)
{
    struct tb_config *c = x->c;
    struct tb_config_source *s;
    const char *why;
    char *url = url_check(f->url, &why), *name, *html;

    if (url == NULL) {
        if (why == NULL)
            x->oom = 1;
        else
            add_error(x, path, f->line, "feed '%s': invalid URL '%s': %s", f->title ? f->title : "",
                      f->url, why);
        return;
    }
    if (srcindex_find(c, &x->urls, url) != NULL) {
        free(url);
        return;
    }
    name = unique_name(x, f->title, url);
    if (name == NULL || TB_VEC_RESERVE(c->sources, x->asources, c->nsources + 1, TB_VEC_MAX) != 0) {
        x->oom = 1;
        free(name);
        free(url);
        return;
    }
    s = &c->sources[c->nsources++];
    memset(s, 0, sizeof(*s));
    s->url = url;
    s->name = name;
    s->title = clean_title(x, f->title);
    html = f->html_url ? url_check(f->html_url, &why) : NULL;
    s->html_url = html; /* a broken htmlUrl is only decoration: dropped */
    s->interval = c->interval;
    s->enabled = 1;
    s->weight = 1;
    s->group = xstrdup(x, name);
    s->file = xstrdup(x, path);
    s->line = f->line;
    srcindex_add(x, &x->names, s->name, c->nsources - 1);
    srcindex_add(x, &x->urls, s->url, c->nsources - 1);
}

static void load_opml(struct ctx *x, const struct opml_ref *ref)
{
    struct tb_opml_feed *feeds = NULL;
    struct tb_buf b;
    char err[512];
    size_t n = 0, i;
    int rc;

    rc = read_file(ref->path, &b, err, sizeof(err));
    if (rc == 0) {
        rc = tb_opml_read(b.data, b.len, &feeds, &n, err, sizeof(err));
        tb_buf_free(&b);
    }
    if (rc == -ENOMEM)
        x->oom = 1;
    else if (rc != 0)
        add_error(x, x->file, ref->line, "opml file '%s': %s", ref->path, err);
    for (i = 0; i < n && !x->oom; i++)
        add_opml_source(x, ref->path, &feeds[i]);
    tb_opml_free(feeds, n);
}

/* ---- after reading ---------------------------------------------------- */

/* Orders sources by URL, then by position in the config (they are one
 * array): the first of a run of equal URLs is the one defined first. */
static int by_url(const void *a, const void *b)
{
    const struct tb_config_source *s = *(const struct tb_config_source *const *)a;
    const struct tb_config_source *t = *(const struct tb_config_source *const *)b;
    int c = strcmp(s->url, t->url);

    return c ? c : (s > t) - (s < t);
}

/* For every source with the same (non-empty) URL as an earlier one, that
 * earlier one in first[i], else NULL; sorted, not pairwise, so thousands of
 * sources do not cost millions of comparisons. Returns NULL when out of
 * memory. */
static const struct tb_config_source **same_url(const struct tb_config *c)
{
    const struct tb_config_source **v = calloc(c->nsources + 1, sizeof(*v));
    const struct tb_config_source **first = calloc(c->nsources + 1, sizeof(*first));
    size_t i, n = 0, run = 0;

    for (i = 0; v && i < c->nsources; i++) {
        if (c->sources[i].url && *c->sources[i].url)
            v[n++] = &c->sources[i];
    }
    if (v != NULL && first != NULL) {
        qsort(v, n, sizeof(*v), by_url);
        for (i = 1; i < n; i++) {
            if (strcmp(v[run]->url, v[i]->url) != 0)
                run = i;
            else
                first[v[i] - c->sources] = v[run];
        }
    }
    free(v);
    if (v == NULL) {
        free(first);
        return NULL;
    }
    return first;
}

static void check_sources(struct ctx *x)
{
    const struct tb_config *c = x->c;
    const struct tb_config_source **first = same_url(c);
    size_t i;

    if (first == NULL) {
        x->oom = 1;
        return;
    }
    for (i = 0; i < c->nsources; i++) {
        const struct tb_config_source *s = &c->sources[i], *f = first[i];

        if (s->url == NULL)
            add_error(x, s->file, s->line, "source '%s': missing url", s->name);
        else if (f != NULL)
            add_error(x, s->file, s->line, "source '%s': same url as source '%s' (%s:%d)", s->name,
                      f->name, f->file, f->line);
    }
    free(first);
}

static void check_topics(struct ctx *x)
{
    struct tb_config *c = x->c;
    size_t i, j;

    for (i = 0; i < c->ntopics; i++) {
        struct tb_config_topic *t = &c->topics[i];

        if (t->query == NULL)
            add_error(x, t->file, t->line, "topic '%s': missing query", t->name);
        for (j = 0; j < t->nsources; j++)
            if (srcindex_find(c, &x->names, t->sources[j]) == NULL)
                add_error(x, t->file, x->topic_list_line[i], "topic '%s': unknown source '%s'",
                          t->name, t->sources[j]);
        if (t->limit == 0)
            t->limit = c->feed_limit;
        if (t->title == NULL)
            t->title = xstrdup(x, t->name);
    }
}

static void apply_defaults(struct ctx *x)
{
    struct tb_config *c = x->c;
    size_t i;

    if (c->database == NULL)
        c->database = resolve_path(x, "tributary.db");
    if (c->public_dir == NULL)
        c->public_dir = resolve_path(x, "public");
    if (c->listen == NULL)
        c->listen = xstrdup(x, "127.0.0.1:8080");
    if (c->base_url == NULL)
        c->base_url = xstrdup(x, "http://localhost:8080/");
    if (c->node == NULL)
        c->node = default_node(x, c->listen);
    if (c->title == NULL)
        c->title = xstrdup(x, "tributary");
    if (c->trending.arxiv_api == NULL)
        c->trending.arxiv_api = xstrdup(x, "https://export.arxiv.org/api/query");
    /* Beside a PostgreSQL database there is no file to put it by. */
    if (c->mail.enabled && c->mail.secret_file == NULL && c->database != NULL)
        c->mail.secret_file = tb_db_is_pg(c->database) ? resolve_path(x, "tributary.secret")
                                                       : xasprintf(x, "%s.secret", c->database);
    for (i = 0; i < c->nsources; i++) {
        if (c->sources[i].interval == 0)
            c->sources[i].interval = c->interval;
        if (c->sources[i].group == NULL && c->sources[i].name != NULL)
            c->sources[i].group = xstrdup(x, c->sources[i].name);
    }
}

/* The line where [mail] set key `name`, or 0. */
static int mail_key_line(const struct ctx *x, const char *name)
{
    size_t i;

    for (i = 0; mail_keys[i].name != NULL; i++)
        if (strcmp(mail_keys[i].name, name) == 0)
            return x->mail_seen[i];
    return 0;
}

/* [mail]'s required keys and pairs, and the topic name it reserves. */
static void check_mail(struct ctx *x)
{
    struct tb_config_mail *m = &x->c->mail;
    int uline = mail_key_line(x, "user"), pline = mail_key_line(x, "password_file");
    int t;

    if (!m->enabled)
        return;
    if (m->smtp == NULL)
        add_error(x, x->file, x->mail_line,
                  "[mail]: missing smtp (smtp://HOST:PORT or smtps://HOST:PORT)");
    if (m->from == NULL)
        add_error(x, x->file, x->mail_line, "[mail]: missing from (Name <ADDRESS> or ADDRESS)");
    if (uline != 0 && pline == 0)
        add_error(x, x->file, uline, "[mail]: user needs password_file");
    if (pline != 0 && uline == 0)
        add_error(x, x->file, pline, "[mail]: password_file needs user");
    /* smtps:// is TLS from the first byte: starttls has nothing to add, and
     * a "no" must not read as "no encryption". */
    if (x->smtps)
        m->starttls = 1;
    /* "trending" is what the subscribe form sends for trending across
     * everything (TB_SUBS_TRENDING): a topic of that name could not be told
     * from it. */
    t = find_topic(x->c, "trending");
    if (t >= 0)
        add_error(x, x->c->topics[t].file, x->c->topics[t].line,
                  "topic 'trending': the name is reserved when [mail] is configured (the "
                  "subscribe form's value for trending across everything); rename the topic");
}

/* The line where [websub] set key `name`, or 0. */
static int websub_key_line(const struct ctx *x, const char *name)
{
    size_t i;

    for (i = 0; websub_keys[i].name != NULL; i++)
        if (strcmp(websub_keys[i].name, name) == 0)
            return x->websub_seen[i];
    return 0;
}

/* A lease outside [lease_min, lease_max] could never be granted as asked:
 * the bounds must hold the default. Reported on whichever key was set. */
static void check_websub(struct ctx *x)
{
    const struct tb_config_websub *w = &x->c->websub;
    int min_line = websub_key_line(x, "lease_min"), max_line = websub_key_line(x, "lease_max");
    int line = websub_key_line(x, "lease");

    if (w->lease_min > w->lease_max)
        add_error(x, x->file, max_line ? max_line : min_line,
                  "[websub]: lease_min (%" PRId64 " s) is longer than lease_max (%" PRId64 " s)",
                  w->lease_min, w->lease_max);
    else if (w->lease < w->lease_min || w->lease > w->lease_max)
        add_error(x, x->file,
                  line       ? line
                  : min_line ? min_line
                             : max_line,
                  "[websub]: lease (%" PRId64 " s) is outside lease_min .. lease_max (%" PRId64
                  " .. %" PRId64 " s)",
                  w->lease, w->lease_min, w->lease_max);
}

/* Defaults, cross-checks and OPML sources, once the whole file is read
 * ([tributary] may come last). */
static void finish(struct ctx *x)
{
    size_t i;

    apply_defaults(x);
    check_sources(x);
    for (i = 0; i < x->c->nsources; i++)
        srcindex_add(x, &x->urls, x->c->sources[i].url, i);
    for (i = 0; i < x->nopml && !x->oom; i++)
        load_opml(x, &x->opml[i]);
    if (!x->oom)
        check_topics(x);
    if (!x->oom)
        check_mail(x);
    check_websub(x);
}

static struct tb_config *config_new(const char *path)
{
    struct tb_config *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->path = strdup(path);
    if (c->path == NULL) {
        free(c);
        return NULL;
    }
    c->interval = 3600;
    c->feed_limit = 50;
    c->max_body = (size_t)32 << 20;
    c->connect_timeout = 15;
    c->timeout = 60;
    c->low_speed_time = 20;
    c->max_connections = 32;
    c->max_per_host = 4;
    c->request_timeout = 10;
    c->max_clients = 1024;
    c->lease = 120;
    c->trending.window = 7 * 86400;
    c->trending.half_life = 86400;
    c->trending.limit = 30;
    c->trending.resolve_arxiv = 1;
    c->trending.arxiv_batch = 100;
    c->trending.arxiv_retry = 60;
    c->mail.starttls = 1;
    c->mail.send_at = 7 * 60;
    c->mail.weekly_day = 1;
    c->mail.rate = 60;
    c->mail.max_papers = 20;
    c->websub.enabled = 1;
    c->websub.lease = 10 * 86400;
    c->websub.lease_min = 3600;
    c->websub.lease_max = 30 * 86400;
    c->websub.max_per_host = 100;
    c->websub.max_per_topic = 1000;
    return c;
}

/* The config file's directory, or NULL when the path has no '/'. */
static char *dir_of(const char *path, int *oom)
{
    const char *slash = strrchr(path, '/');
    char *dir;

    if (slash == NULL)
        return NULL;
    dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
    if (dir == NULL)
        *oom = 1;
    return dir;
}

static void ctx_free(struct ctx *x)
{
    size_t i;

    for (i = 0; i < x->nopml; i++)
        free(x->opml[i].path);
    free(x->opml);
    free(x->topic_list_line);
    free(x->label);
    free(x->buf);
    free(x->dir);
    tb_map_free(&x->names);
    tb_map_free(&x->urls);
}

int tb_config_load(const char *path, struct tb_config **out, struct tb_config_error **errs,
                   size_t *nerrs)
{
    struct ctx x;

    *out = NULL;
    *errs = NULL;
    *nerrs = 0;
    memset(&x, 0, sizeof(x));
    tb_map_init(&x.names, SIZE_MAX);
    tb_map_init(&x.urls, SIZE_MAX);
    x.c = config_new(path);
    if (x.c == NULL)
        return -ENOMEM;
    x.file = x.c->path;
    x.dir = dir_of(path, &x.oom);
    if (!x.oom && read_ini(&x) == 0 && !x.oom)
        finish(&x);
    ctx_free(&x);
    if (x.oom) {
        tb_config_errors_free(x.errs, x.nerrs);
        tb_config_free(x.c);
        return -ENOMEM;
    }
    if (x.nerrs > 0) {
        tb_config_free(x.c);
        *errs = x.errs;
        *nerrs = x.nerrs;
        return TB_ECONFIG;
    }
    *out = x.c;
    return 0;
}

const struct tb_config_source *tb_config_find_source(const struct tb_config *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->nsources; i++)
        if (strcmp(c->sources[i].name, name) == 0)
            return &c->sources[i];
    return NULL;
}

void tb_config_free(struct tb_config *c)
{
    size_t i, j;

    if (c == NULL)
        return;
    for (i = 0; i < c->nsources; i++) {
        free(c->sources[i].name);
        free(c->sources[i].url);
        free(c->sources[i].title);
        free(c->sources[i].html_url);
        free(c->sources[i].group);
        free(c->sources[i].file);
    }
    for (i = 0; i < c->ntopics; i++) {
        for (j = 0; j < c->topics[i].nsources; j++)
            free(c->topics[i].sources[j]);
        free(c->topics[i].sources);
        free(c->topics[i].name);
        free(c->topics[i].title);
        free(c->topics[i].query);
        free(c->topics[i].file);
    }
    free(c->sources);
    free(c->topics);
    free(c->path);
    free(c->database);
    free(c->public_dir);
    free(c->listen);
    free(c->node);
    free(c->base_url);
    free(c->contact);
    free(c->title);
    free(c->description);
    free(c->trending.arxiv_api);
    free(c->mail.smtp);
    free(c->mail.user);
    if (c->mail.password != NULL)
        explicit_bzero(c->mail.password, strlen(c->mail.password));
    free(c->mail.password);
    free(c->mail.from);
    free(c->mail.from_addr);
    free(c->mail.ca_file);
    free(c->mail.secret_file);
    free(c->websub.hub);
    free(c->websub.callback_base);
    free(c);
}

void tb_config_errors_free(struct tb_config_error *errs, size_t n)
{
    size_t i;

    for (i = 0; errs && i < n; i++) {
        free(errs[i].file);
        free(errs[i].msg);
    }
    free(errs);
}
