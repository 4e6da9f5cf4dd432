/*
 * http: libh2o (built with libuv) serving published documents from memory.
 *
 * Each published document is one refcounted block: metadata, path, type,
 * the bytes and their gzip form. A request that serves a document links a
 * reference to the request's memory pool, so replacing or removing the
 * document while a response is still being written leaves the old bytes
 * alive until h2o disposes of that request.
 *
 * Bodies go to h2o from memory, headers and body in one write. (A sendfile
 * path from a memfd copy was dropped in issue 9: on the serve-daemon bench it
 * took 19-23 us of CPU per request against h2o's 13-14; contrib/bench/README.md.)
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>

#include "tb_gzip.h"
#include "tb_hash.h"
#include "tb_map.h"
#include "tb_http.h"

#define MAX_ENTITY TB_HTTP_BODY_MAX   /* request bodies above this get 413 (h2o's check) */
#define METRICS_CAP (4 * 1024 * 1024) /* cap on the /metrics text */
#define SWEEP_MS 250                  /* period of the stalled-reader check */
#define FD_RESERVE 64                 /* descriptors kept for the rest of the daemon */

/* One published document; freed when the last reference goes. */
struct doc {
    int refs;                                        /* table + requests still sending it */
    char *path;                                      /* "/topics/x.atom" */
    size_t path_len;                                 /* strlen(path) */
    char *type;                                      /* Content-Type as given */
    char *body;                                      /* the bytes */
    size_t len;                                      /* their length */
    unsigned char *gz;                               /* gzip form, or NULL when not smaller */
    size_t gz_len;                                   /* its length */
    char etag[24];                                   /* "\"<16 hex>\"" */
    char etag_gz[28];                                /* "\"<16 hex>-gz\"" */
    char last_modified[H2O_TIMESTR_RFC1123_LEN + 1]; /* from mtime */
    char cache_control[40];                          /* "max-age=N[, immutable]" */
    int64_t mtime;                                   /* epoch seconds */
    uint64_t hash;                                   /* tb_fnv1a of body (the ETag's) */
    char *link;                                      /* Link header value, or NULL */
    int cached;                                      /* immutable: in the LRU list */
    struct doc *lru_prev, *lru_next;                 /* that list, most recently used first */
};

/* A dynamic route (tb_http_route(), tb_http_route_prefix()). */
struct route {
    char *path;          /* "/subscribe": the map's key; or a prefix ending in '/' */
    size_t path_len;     /* strlen(path) */
    tb_http_route_fn fn; /* its handler */
    void *data;          /* the handler's argument */
    size_t max_body;     /* most bytes of a request body it takes */
};

/* One accepted connection; the uv handle is closed by h2o (or by us). */
struct conn {
    uv_tcp_t tcp;             /* first: the close callback casts back */
    struct tb_http *h;        /* owner */
    struct conn *prev, *next; /* list of live connections */
    uint64_t win_taken;       /* bytes the client had taken when the stall window opened */
    uint64_t win_ms;          /* loop time counted in the window, ms */
    int win_open;             /* a response waits on the client: the window runs */
    int evicted;              /* shut down to make room for a newer connection */
};

/* The handler h2o calls for every request. */
struct handler {
    h2o_handler_t super; /* first: h2o allocates this struct */
    struct tb_http *h;   /* owner */
};

struct tb_http {
    uv_loop_t *loop;                          /* the caller's loop */
    uv_tcp_t listener;                        /* listening socket */
    uv_timer_t grace;                         /* cuts remaining connections at shutdown */
    uv_timer_t sweep;                         /* finds clients that stopped reading */
    uint64_t last_sweep;                      /* uv_now() at the previous sweep */
    h2o_globalconf_t conf;                    /* h2o configuration */
    h2o_context_t ctx;                        /* h2o per-loop context */
    h2o_accept_ctx_t accept;                  /* what h2o_accept needs */
    struct tb_map docs;                       /* path -> struct doc, published documents */
    struct tb_map routes;                     /* path -> struct route, dynamic routes */
    struct route **prefixes;                  /* prefix routes (tb_http_route_prefix()) */
    size_t nprefixes;                         /* their number */
    struct conn *conns;                       /* live connections, newest first */
    struct conn *oldest;                      /* the list's last element */
    int nconns;                               /* their number */
    int nevicted;                             /* of which shut down by evict_idle() */
    int max_conns;                            /* cap on nconns */
    int64_t req_timeout_ms;                   /* request deadline */
    int (*health)(void *);                    /* /healthz callback, or NULL */
    void *health_data;                        /* its argument */
    void (*metrics)(struct tb_buf *, void *); /* /metrics callback, or NULL */
    void *metrics_data;                       /* its argument */
    tb_http_miss_fn miss;                     /* tb_http_set_miss() callback, or NULL */
    void *miss_data;                          /* its argument */
    struct doc *lru_head, *lru_tail;          /* immutable documents, most recently used first */
    size_t ncached;                           /* their number */
    void (*done)(void *);                     /* tb_http_free() completion */
    void *done_data;                          /* its argument */
    int closing;                              /* tb_http_free() was called */
    int pending;                              /* handles still closing at shutdown */
    uint64_t by_class[6];                     /* responses by status class (index 1..5) */
    uint64_t body_bytes;                      /* response body bytes handed to h2o */
    uint64_t accepted;                        /* connections accepted */
    uint64_t rejected;                        /* connections closed over the cap */
    uint64_t stalled;                         /* connections cut for not reading */
    uint64_t evictions;                       /* idle connections closed at the cap */
};

/* ---- documents ---- */

static void doc_release(struct doc *d)
{
    if (d == NULL || --d->refs > 0)
        return;
    free(d->body);
    free(d->gz);
    free(d->link);
    free(d);
}

/* Sets the gzip form: a copy of gz[0..gzlen) when given, else the body
 * compressed here. It is kept only when smaller than the body. */
static int doc_gzip(struct doc *d, const void *gz, size_t gzlen)
{
    struct tb_buf b;
    int rc;

    if (gz != NULL) {
        if (gzlen >= d->len)
            return 0;
        d->gz = malloc(gzlen ? gzlen : 1);
        if (d->gz == NULL)
            return -ENOMEM;
        memcpy(d->gz, gz, gzlen);
        d->gz_len = gzlen;
        return 0;
    }
    /* Capped below the body's length: a form no smaller is not kept. */
    tb_buf_init(&b, d->len > 0 ? d->len - 1 : 0);
    rc = tb_gzip(d->body, d->len, TB_GZIP_DEFAULT, &b);
    if (rc == -ENOMEM)
        return rc;
    if (rc == 0) {
        d->gz_len = b.len;
        d->gz = (unsigned char *)tb_buf_take(&b);
        if (d->gz == NULL)
            return -ENOMEM;
    }
    return 0;
}

static void doc_set_meta(struct doc *d, int64_t mtime, int max_age)
{
    uint64_t hash = tb_fnv1a(d->body, d->len);
    time_t t = (time_t)mtime;
    struct tm gmt;

    d->hash = hash;
    snprintf(d->etag, sizeof(d->etag), "\"%016" PRIx64 "\"", hash);
    snprintf(d->etag_gz, sizeof(d->etag_gz), "\"%016" PRIx64 "-gz\"", hash);
    if (max_age >= TB_HTTP_IMMUTABLE)
        snprintf(d->cache_control, sizeof(d->cache_control), "max-age=%d, immutable",
                 TB_HTTP_IMMUTABLE);
    else
        snprintf(d->cache_control, sizeof(d->cache_control), "max-age=%d",
                 max_age < 0 ? 0 : max_age);
    d->mtime = mtime;
    gmtime_r(&t, &gmt);
    h2o_time2str_rfc1123(d->last_modified, &gmt);
}

static struct doc *doc_new(const char *path, const char *type, const void *data, size_t len)
{
    size_t plen = strlen(path), tlen = strlen(type);
    struct doc *d;

    /* Sizes near SIZE_MAX cannot be allocated anyway; refuse before adding. */
    if (len > SIZE_MAX / 2)
        return NULL;
    d = calloc(1, sizeof(*d) + plen + 1 + tlen + 1);
    if (d == NULL)
        return NULL;
    d->body = malloc(len + 1);
    if (d->body == NULL) {
        free(d);
        return NULL;
    }
    d->refs = 1;
    d->path = (char *)(d + 1);
    memcpy(d->path, path, plen + 1);
    d->path_len = plen;
    d->type = d->path + plen + 1;
    memcpy(d->type, type, tlen + 1);
    if (len > 0)
        memcpy(d->body, data, len);
    d->len = len;
    return d;
}

/* Takes immutable document d out of the LRU list. */
static void lru_unlink(struct tb_http *h, struct doc *d)
{
    if (!d->cached)
        return;
    if (d->lru_prev != NULL)
        d->lru_prev->lru_next = d->lru_next;
    else
        h->lru_head = d->lru_next;
    if (d->lru_next != NULL)
        d->lru_next->lru_prev = d->lru_prev;
    else
        h->lru_tail = d->lru_prev;
    d->lru_prev = d->lru_next = NULL;
    d->cached = 0;
    h->ncached--;
}

/* Puts immutable document d first in the LRU list. */
static void lru_front(struct tb_http *h, struct doc *d)
{
    lru_unlink(h, d);
    d->lru_next = h->lru_head;
    if (h->lru_head != NULL)
        h->lru_head->lru_prev = d;
    h->lru_head = d;
    if (h->lru_tail == NULL)
        h->lru_tail = d;
    d->cached = 1;
    h->ncached++;
}

/* Drops the least recently used immutable documents beyond the cap; a
 * response still sending one keeps its bytes until it finishes. */
static void lru_trim(struct tb_http *h)
{
    struct doc *d;

    while (h->ncached > TB_HTTP_IMMUTABLE_KEEP) {
        d = h->lru_tail;
        lru_unlink(h, d);
        (void)tb_map_del(&h->docs, d->path, d->path_len);
        doc_release(d);
    }
}

/* A path must start with '/' and hold only printable ASCII, no '?' or '#'. */
static int valid_path(const char *p)
{
    if (p == NULL || p[0] != '/')
        return 0;
    for (; *p != '\0'; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '?' || *p == '#')
            return 0;
    }
    return 1;
}

static int valid_type(const char *t)
{
    if (t == NULL || *t == '\0')
        return 0;
    for (; *t != '\0'; t++) {
        if ((unsigned char)*t < 0x20 || *t == 0x7f)
            return 0;
    }
    return 1;
}

int tb_http_put(struct tb_http *h, const char *path, const char *content_type, const void *data,
                size_t len, int64_t mtime, int max_age)
{
    return tb_http_put_gz(h, path, content_type, data, len, NULL, 0, mtime, max_age);
}

int tb_http_put_gz(struct tb_http *h, const char *path, const char *content_type, const void *data,
                   size_t len, const void *gz, size_t gzlen, int64_t mtime, int max_age)
{
    struct doc *d, *old;
    int rc;

    if (!valid_path(path) || !valid_type(content_type) || (data == NULL && len > 0))
        return -EINVAL;
    d = doc_new(path, content_type, data, len);
    if (d == NULL)
        return -ENOMEM;
    rc = doc_gzip(d, gz, gzlen);
    if (rc != 0) {
        doc_release(d);
        return rc;
    }
    doc_set_meta(d, mtime, max_age);
    /* The key is the new document's own path, so the old one can go. */
    old = tb_map_get(&h->docs, d->path, d->path_len);
    rc = tb_map_put(&h->docs, d->path, d->path_len, d);
    if (rc != 0) {
        doc_release(d);
        return rc;
    }
    if (old != NULL) {
        lru_unlink(h, old);
        doc_release(old);
    }
    if (max_age >= TB_HTTP_IMMUTABLE) {
        lru_front(h, d);
        lru_trim(h);
    }
    return 0;
}

int tb_http_doc_version(struct tb_http *h, const char *path, uint64_t *hash, int64_t *mtime)
{
    struct doc *d = tb_map_get(&h->docs, path, strlen(path));

    if (d == NULL)
        return -ENOENT;
    *hash = d->hash;
    *mtime = d->mtime;
    return 0;
}

int tb_http_set_link(struct tb_http *h, const char *path, const char *link)
{
    struct doc *d;
    char *copy;

    if (path == NULL || !valid_type(link))
        return -EINVAL;
    d = tb_map_get(&h->docs, path, strlen(path));
    if (d == NULL)
        return -ENOENT;
    copy = strdup(link);
    if (copy == NULL)
        return -ENOMEM;
    free(d->link);
    d->link = copy;
    return 0;
}

int tb_http_remove(struct tb_http *h, const char *path)
{
    struct doc *d;

    if (path == NULL)
        return -ENOENT;
    d = tb_map_del(&h->docs, path, strlen(path));
    if (d == NULL)
        return -ENOENT;
    lru_unlink(h, d);
    doc_release(d);
    return 0;
}

static void docs_free(struct tb_http *h)
{
    const struct tb_map_slot *slot;
    size_t pos = 0;

    while ((slot = tb_map_next(&h->docs, &pos)) != NULL)
        doc_release(slot->value);
    tb_map_free(&h->docs);
}

static void routes_free(struct tb_http *h)
{
    const struct tb_map_slot *slot;
    size_t pos = 0;

    while ((slot = tb_map_next(&h->routes, &pos)) != NULL) {
        free(((struct route *)slot->value)->path);
        free(slot->value);
    }
    tb_map_free(&h->routes);
    for (pos = 0; pos < h->nprefixes; pos++) {
        free(h->prefixes[pos]->path);
        free(h->prefixes[pos]);
    }
    free(h->prefixes);
}

int tb_http_route(struct tb_http *h, const char *path, tb_http_route_fn fn, void *data)
{
    struct route *r;
    int rc;

    if (!valid_path(path))
        return -EINVAL;
    r = tb_map_get(&h->routes, path, strlen(path));
    if (fn == NULL) {
        if (r == NULL)
            return -ENOENT;
        tb_map_del(&h->routes, path, strlen(path));
        free(r->path);
        free(r);
        return 0;
    }
    if (r != NULL) {
        r->fn = fn;
        r->data = data;
        return 0;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->path = strdup(path);
    r->fn = fn;
    r->data = data;
    r->path_len = strlen(path);
    r->max_body = TB_HTTP_BODY_MAX;
    rc = r->path != NULL ? tb_map_put(&h->routes, r->path, strlen(path), r) : -ENOMEM;
    if (rc != 0) {
        free(r->path);
        free(r);
    }
    return rc == 0 ? 0 : -ENOMEM;
}

/* h2o refuses bodies above one global cap before any handler sees the
 * request: it is the largest any route takes, and on_req() applies each
 * route's own. */
static void set_entity_cap(struct tb_http *h)
{
    size_t i, cap = MAX_ENTITY;

    for (i = 0; i < h->nprefixes; i++) {
        if (h->prefixes[i]->max_body > cap)
            cap = h->prefixes[i]->max_body;
    }
    h->conf.max_request_entity_size = cap;
}

/* The index of the prefix route `prefix` in h->prefixes, or nprefixes. */
static size_t find_prefix(const struct tb_http *h, const char *prefix)
{
    size_t i;

    for (i = 0; i < h->nprefixes; i++) {
        if (strcmp(h->prefixes[i]->path, prefix) == 0)
            break;
    }
    return i;
}

static int prefix_remove(struct tb_http *h, size_t i)
{
    if (i == h->nprefixes)
        return -ENOENT;
    free(h->prefixes[i]->path);
    free(h->prefixes[i]);
    h->prefixes[i] = h->prefixes[--h->nprefixes];
    set_entity_cap(h);
    return 0;
}

int tb_http_route_prefix(struct tb_http *h, const char *prefix, tb_http_route_fn fn, void *data,
                         size_t max_body)
{
    size_t n = prefix != NULL ? strlen(prefix) : 0, i;
    struct route *r, **v;

    if (!valid_path(prefix) || prefix[n - 1] != '/' || max_body > TB_HTTP_ROUTE_BODY_MAX)
        return -EINVAL;
    i = find_prefix(h, prefix);
    if (fn == NULL)
        return prefix_remove(h, i);
    if (i == h->nprefixes) {
        v = realloc(h->prefixes, (h->nprefixes + 1) * sizeof(*v));
        if (v != NULL)
            h->prefixes = v;
        r = v != NULL ? calloc(1, sizeof(*r)) : NULL;
        if (r != NULL)
            r->path = strdup(prefix);
        if (r == NULL || r->path == NULL) {
            free(r);
            return -ENOMEM;
        }
        r->path_len = n;
        h->prefixes[h->nprefixes++] = r;
    }
    r = h->prefixes[i];
    r->fn = fn;
    r->data = data;
    r->max_body = max_body > 0 ? max_body : TB_HTTP_BODY_MAX;
    set_entity_cap(h);
    return 0;
}

/* The route for `path`: the exact one, else the longest prefix route it starts with. */
static struct route *find_route(struct tb_http *h, h2o_iovec_t path)
{
    struct route *r = tb_map_get(&h->routes, path.base, path.len), *best = NULL;
    size_t i;

    if (r != NULL)
        return r;
    for (i = 0; i < h->nprefixes; i++) {
        r = h->prefixes[i];
        if (r->path_len <= path.len && memcmp(r->path, path.base, r->path_len) == 0 &&
            (best == NULL || r->path_len > best->path_len))
            best = r;
    }
    return best;
}

/* ---- request headers ---- */

static h2o_iovec_t req_header(h2o_req_t *req, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);

    if (i < 0)
        return h2o_iovec_init(NULL, 0);
    return req->headers.entries[i].value;
}

/* Next comma-separated element of *s, trimmed; 0 at the end. */
static int next_element(h2o_iovec_t *s, h2o_iovec_t *el)
{
    const char *p = s->base, *end = s->base + s->len, *e;

    while (p < end && (*p == ',' || *p == ' ' || *p == '\t'))
        p++;
    if (p == end)
        return 0;
    e = memchr(p, ',', (size_t)(end - p));
    if (e == NULL)
        e = end;
    s->base = (char *)e;
    s->len = (size_t)(end - e);
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *el = h2o_iovec_init(p, (size_t)(e - p));
    return 1;
}

/* If-None-Match: "*", or a list of (possibly W/) tags compared weakly. */
static int etag_matches(h2o_iovec_t inm, const struct doc *d)
{
    h2o_iovec_t el;

    while (next_element(&inm, &el)) {
        if (el.len >= 2 && memcmp(el.base, "W/", 2) == 0) {
            el.base += 2;
            el.len -= 2;
        }
        if (h2o_memis(el.base, el.len, H2O_STRLIT("*")) ||
            h2o_memis(el.base, el.len, d->etag, strlen(d->etag)) ||
            h2o_memis(el.base, el.len, d->etag_gz, strlen(d->etag_gz)))
            return 1;
    }
    return 0;
}

/* If-Modified-Since holds an IMF-fixdate; anything else is ignored. */
static int not_modified_since(h2o_iovec_t ims, const struct doc *d)
{
    char buf[64];
    struct tm tm;
    const char *end;

    if (ims.len == 0 || ims.len >= sizeof(buf))
        return 0;
    memcpy(buf, ims.base, ims.len);
    buf[ims.len] = '\0';
    memset(&tm, 0, sizeof(tm));
    end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0')
        return 0;
    return d->mtime <= (int64_t)timegm(&tm);
}

/* Whether the parameters after a coding (";q=0.0") give it quality zero. */
static int quality_zero(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i + 2 <= n; i++) {
        if ((p[i] == 'q' || p[i] == 'Q') && p[i + 1] == '=' &&
            (i == 0 || p[i - 1] == ';' || p[i - 1] == ' '))
            break;
    }
    if (i + 2 >= n || p[i + 2] != '0')
        return 0;
    for (i += 2; i < n && p[i] != ';' && p[i] != ' '; i++) {
        if (p[i] != '0' && p[i] != '.')
            return 0;
    }
    return 1;
}

/* Whether Accept-Encoding allows gzip (q=0 refuses; "*" counts unless gzip is listed). */
static int accepts_gzip(h2o_iovec_t ae)
{
    h2o_iovec_t el;
    int star = 0;

    while (next_element(&ae, &el)) {
        const char *semi = memchr(el.base, ';', el.len);
        size_t nlen = semi != NULL ? (size_t)(semi - el.base) : el.len;
        int refused = semi != NULL && quality_zero(semi, (size_t)(el.base + el.len - semi));

        while (nlen > 0 && (el.base[nlen - 1] == ' ' || el.base[nlen - 1] == '\t'))
            nlen--;
        if (h2o_lcstris(el.base, nlen, H2O_STRLIT("gzip")) ||
            h2o_lcstris(el.base, nlen, H2O_STRLIT("x-gzip")))
            return !refused;
        if (h2o_memis(el.base, nlen, H2O_STRLIT("*")))
            star = !refused;
    }
    return star;
}

/* ---- responses ---- */

static void count_status(struct tb_http *h, int status)
{
    int cls = status / 100;

    h->by_class[cls >= 1 && cls <= 5 ? cls : 5]++;
}

static void add_header(h2o_req_t *req, const h2o_token_t *token, const char *value)
{
    h2o_add_header(&req->pool, &req->res.headers, token, NULL, value, strlen(value));
}

static int is_head(h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

/* A short text/plain answer (error pages, /healthz, /metrics). */
static void send_text(struct tb_http *h, h2o_req_t *req, int status, const char *reason,
                      const char *type, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    add_header(req, H2O_TOKEN_CONTENT_TYPE, type);
    add_header(req, H2O_TOKEN_CACHE_CONTROL, "no-store");
    req->res.content_length = len;
    count_status(h, status);
    if (!is_head(req))
        h->body_bytes += len;
    h2o_send_inline(req, body, len);
}

/*
 * A document response: h2o's generator plus the reference that keeps the
 * document alive. Allocated from the request's pool as a shared block, so
 * the reference is dropped when h2o disposes of the request.
 */
struct sender {
    h2o_generator_t super; /* first: h2o passes it back */
    struct doc *d;         /* the document, referenced */
};

static void sender_dispose(void *p)
{
    doc_release(((struct sender *)p)->d);
}

/* Nothing to stop or to proceed with (the body is sent at once): the pool
 * drops the reference when h2o disposes of the request. */
static void sender_noop(h2o_generator_t *g, h2o_req_t *req)
{
    (void)g;
    (void)req;
}

static struct sender *new_sender(h2o_req_t *req, struct doc *d)
{
    struct sender *s = h2o_mem_alloc_shared(&req->pool, sizeof(*s), sender_dispose);

    memset(s, 0, sizeof(*s));
    s->super.proceed = sender_noop;
    s->super.stop = sender_noop;
    s->d = d;
    d->refs++;
    return s;
}

static void doc_headers(h2o_req_t *req, struct doc *d, int gz, int fresh)
{
    if (!fresh)
        add_header(req, H2O_TOKEN_CONTENT_TYPE, d->type);
    add_header(req, H2O_TOKEN_ETAG, gz ? d->etag_gz : d->etag);
    add_header(req, H2O_TOKEN_LAST_MODIFIED, d->last_modified);
    add_header(req, H2O_TOKEN_CACHE_CONTROL, d->cache_control);
    if (d->gz != NULL)
        add_header(req, H2O_TOKEN_VARY, "Accept-Encoding");
    if (gz && !fresh)
        add_header(req, H2O_TOKEN_CONTENT_ENCODING, "gzip");
    if (d->link != NULL)
        add_header(req, H2O_TOKEN_LINK, d->link);
}

static void send_doc(struct tb_http *h, h2o_req_t *req, struct doc *d)
{
    int gz = d->gz != NULL && accepts_gzip(req_header(req, H2O_TOKEN_ACCEPT_ENCODING));
    h2o_iovec_t inm = req_header(req, H2O_TOKEN_IF_NONE_MATCH);
    int fresh = inm.base != NULL
                    ? etag_matches(inm, d)
                    : not_modified_since(req_header(req, H2O_TOKEN_IF_MODIFIED_SINCE), d);
    struct sender *s = new_sender(req, d);
    h2o_iovec_t body = gz ? h2o_iovec_init(d->gz, d->gz_len) : h2o_iovec_init(d->body, d->len);

    if (fresh)
        body.len = 0;
    req->res.status = fresh ? 304 : 200;
    req->res.reason = fresh ? "Not Modified" : "OK";
    doc_headers(req, d, gz, fresh);
    count_status(h, req->res.status);
    req->res.content_length = body.len;
    h2o_start_response(req, &s->super);
    if (is_head(req) || body.len == 0) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    h->body_bytes += body.len;
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

static void send_health(struct tb_http *h, h2o_req_t *req)
{
    int ok = h->health == NULL || h->health(h->health_data) == 1;

    if (ok)
        send_text(h, req, 200, "OK", "text/plain; charset=utf-8", H2O_STRLIT("ok\n"));
    else
        send_text(h, req, 503, "Service Unavailable", "text/plain; charset=utf-8",
                  H2O_STRLIT("unhealthy\n"));
}

static int metrics_own(struct tb_http *h, struct tb_buf *b)
{
    static const char *const classes[] = {NULL, "1xx", "2xx", "3xx", "4xx", "5xx"};
    int i, rc;

    rc = tb_buf_adds(b, "# TYPE tributary_http_responses_total counter\n");
    for (i = 1; i <= 5 && rc == 0; i++)
        rc = tb_buf_addf(b, "tributary_http_responses_total{code=\"%s\"} %" PRIu64 "\n", classes[i],
                         h->by_class[i]);
    if (rc == 0)
        rc = tb_buf_addf(b,
                         "# TYPE tributary_http_body_bytes_total counter\n"
                         "tributary_http_body_bytes_total %" PRIu64 "\n"
                         "# TYPE tributary_http_connections_total counter\n"
                         "tributary_http_connections_total %" PRIu64 "\n"
                         "# TYPE tributary_http_connections_rejected_total counter\n"
                         "tributary_http_connections_rejected_total %" PRIu64 "\n"
                         "# TYPE tributary_http_connections_stalled_total counter\n"
                         "tributary_http_connections_stalled_total %" PRIu64 "\n"
                         "# TYPE tributary_http_connections_evicted_total counter\n"
                         "tributary_http_connections_evicted_total %" PRIu64 "\n"
                         "# TYPE tributary_http_connections gauge\n"
                         "tributary_http_connections %d\n"
                         "# TYPE tributary_http_documents gauge\n"
                         "tributary_http_documents %" PRIu64 "\n",
                         h->body_bytes, h->accepted, h->rejected, h->stalled, h->evictions,
                         h->nconns, (uint64_t)h->docs.n);
    return rc;
}

static void send_metrics(struct tb_http *h, h2o_req_t *req)
{
    struct tb_buf b;

    tb_buf_init(&b, METRICS_CAP);
    if (metrics_own(h, &b) != 0) {
        send_text(h, req, 500, "Internal Server Error", "text/plain; charset=utf-8",
                  H2O_STRLIT("error\n"));
        return;
    }
    if (h->metrics != NULL)
        h->metrics(&b, h->metrics_data);
    send_text(h, req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    tb_buf_free(&b);
}

/* ---- routes ---- */

/* The reason phrase of the statuses routes use. */
static const char *reason_of(int status)
{
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {
        {200, "OK"},
        {201, "Created"},
        {204, "No Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {400, "Bad Request"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {409, "Conflict"},
        {410, "Gone"},
        {413, "Payload Too Large"},
        {415, "Unsupported Media Type"},
        {422, "Unprocessable Content"},
        {429, "Too Many Requests"},
        {500, "Internal Server Error"},
        {503, "Service Unavailable"},
    };
    size_t i;

    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].status == status)
            return reasons[i].reason;
    }
    return status < 400 ? "OK" : "Error";
}

/* What a route's answer carries besides the public part. */
struct route_out {
    h2o_req_t *req;    /* the request, for its pool and headers */
    int cache_control; /* the route set Cache-Control itself */
};

/* RFC 9110 token characters. */
static int is_tchar(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int tb_http_res_header(struct tb_http_res *res, const char *name, const char *value)
{
    struct route_out *o = res->priv;
    size_t nlen = strlen(name), vlen = strlen(value), i;
    char *lname;

    if (nlen == 0 || !valid_type(value))
        return -EINVAL;
    for (i = 0; i < nlen; i++) {
        if (!is_tchar((unsigned char)name[i]))
            return -EINVAL;
    }
    /* h2o matches its tokens (and writes HTTP/1 names) in lower case. */
    lname = h2o_mem_alloc_pool(&o->req->pool, nlen + 1);
    for (i = 0; i <= nlen; i++)
        lname[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    if (strcmp(lname, "cache-control") == 0)
        o->cache_control = 1;
    h2o_add_header_by_str(&o->req->pool, &o->req->res.headers, lname, nlen, 1, NULL,
                          h2o_strdup(&o->req->pool, value, vlen).base, vlen);
    return 0;
}

/* The peer's numeric address into buf (at least NI_MAXHOST bytes), or "". */
static void client_addr(h2o_req_t *req, char *buf)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    size_t n = len > 0 ? h2o_socket_getnumerichost((struct sockaddr *)&ss, len, buf) : SIZE_MAX;

    if (n == SIZE_MAX)
        n = 0;
    buf[n] = '\0';
    /* An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d. */
    if (strncmp(buf, "::ffff:", 7) == 0 && strchr(buf + 7, ':') == NULL)
        memmove(buf, buf + 7, strlen(buf + 7) + 1);
}

/* A route's request as the handler sees it: strings NUL-terminated in the request's pool. */
static void route_req(h2o_req_t *req, struct tb_http_req *in, char *client)
{
    h2o_iovec_t ct = req_header(req, H2O_TOKEN_CONTENT_TYPE);
    size_t q = req->query_at;

    in->method = h2o_strdup(&req->pool, req->method.base, req->method.len).base;
    in->path = h2o_strdup(&req->pool, req->path_normalized.base, req->path_normalized.len).base;
    in->query = q != SIZE_MAX && q < req->path.len
                    ? h2o_strdup(&req->pool, req->path.base + q + 1, req->path.len - q - 1).base
                    : "";
    in->body_len = req->entity.base != NULL ? req->entity.len : 0;
    in->body = in->body_len > 0 ? h2o_strdup(&req->pool, req->entity.base, in->body_len).base : "";
    in->content_type = ct.base != NULL ? h2o_strdup(&req->pool, ct.base, ct.len).base : "";
    client_addr(req, client);
    in->client = client;
    in->priv = req;
}

const char *tb_http_req_header(const struct tb_http_req *in, const char *name)
{
    h2o_req_t *req = in->priv;
    size_t n = strlen(name), i;
    ssize_t at;
    char *lname;

    /* h2o keeps header names in lower case. */
    lname = h2o_mem_alloc_pool(&req->pool, n + 1);
    for (i = 0; i <= n; i++)
        lname[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    at = h2o_find_header_by_str(&req->headers, lname, n, -1);
    if (at < 0)
        return NULL;
    return h2o_strdup(&req->pool, req->headers.entries[at].value.base,
                      req->headers.entries[at].value.len)
        .base;
}

static void send_route(struct tb_http *h, h2o_req_t *req, struct route *r)
{
    struct route_out o = {req, 0};
    struct tb_http_res res = {.status = 200, .type = "text/html; charset=utf-8", .priv = &o};
    struct tb_http_req in;
    char client[NI_MAXHOST + 1];

    route_req(req, &in, client);
    tb_buf_init(&res.body, TB_HTTP_ROUTE_OUT_MAX);
    r->fn(&in, &res, r->data);
    if (res.status < 100 || res.status > 599 || !valid_type(res.type)) {
        res.status = 500;
        res.type = "text/plain; charset=utf-8";
        tb_buf_reset(&res.body);
    }
    if (!o.cache_control)
        add_header(req, H2O_TOKEN_CACHE_CONTROL, "no-store");
    req->res.status = res.status;
    req->res.reason = reason_of(res.status);
    add_header(req, H2O_TOKEN_CONTENT_TYPE, h2o_strdup(&req->pool, res.type, SIZE_MAX).base);
    req->res.content_length = res.body.len;
    count_status(h, res.status);
    if (!is_head(req))
        h->body_bytes += res.body.len;
    h2o_send_inline(req, res.body.len > 0 ? res.body.data : "", res.body.len);
    tb_buf_free(&res.body);
}

static int is_method(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

/* Asks the miss callback for path: 1 when it answered with a redirect
 * (sent here), else 0 with *out the document it put (or NULL). */
static int ask_miss(struct tb_http *h, h2o_req_t *req, h2o_iovec_t path, struct doc **out)
{
    char buf[1024], loc[1024] = "";
    int rc;

    *out = NULL;
    if (h->miss == NULL || path.len >= sizeof(buf))
        return 0;
    memcpy(buf, path.base, path.len);
    buf[path.len] = '\0';
    if (!valid_path(buf))
        return 0;
    rc = h->miss(buf, loc, sizeof(loc), h->miss_data);
    if (rc == TB_HTTP_MISS_REDIRECT && loc[0] != '\0' && valid_type(loc)) {
        add_header(req, H2O_TOKEN_LOCATION, h2o_strdup(&req->pool, loc, SIZE_MAX).base);
        send_text(h, req, 302, "Found", "text/plain; charset=utf-8", H2O_STRLIT("not there yet\n"));
        return 1;
    }
    if (rc == 0)
        *out = tb_map_get(&h->docs, path.base, path.len);
    return 0;
}

/* The document at path: published, or put there now by the miss callback
 * (1 when that answered with a redirect instead). An immutable one becomes
 * the most recently used. */
static int find_doc(struct tb_http *h, h2o_req_t *req, h2o_iovec_t path, struct doc **out)
{
    struct doc *d = tb_map_get(&h->docs, path.base, path.len);

    if (d == NULL && ask_miss(h, req, path, &d))
        return 1;
    if (d != NULL && d->cached)
        lru_front(h, d);
    *out = d;
    return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct tb_http *h = ((struct handler *)self)->h;
    h2o_iovec_t path = req->path_normalized;
    struct route *r = find_route(h, path);
    struct doc *d;

    if (req->entity.base != NULL && req->entity.len > (r != NULL ? r->max_body : MAX_ENTITY)) {
        send_text(h, req, 413, "Payload Too Large", "text/plain; charset=utf-8",
                  H2O_STRLIT("request body too large\n"));
        return 0;
    }
    if (r != NULL) {
        if (is_method(req, "GET") || is_head(req) || is_method(req, "POST")) {
            send_route(h, req, r);
            return 0;
        }
        add_header(req, H2O_TOKEN_ALLOW, "GET, HEAD, POST");
        send_text(h, req, 405, "Method Not Allowed", "text/plain; charset=utf-8",
                  H2O_STRLIT("method not allowed\n"));
        return 0;
    }
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) && !is_head(req)) {
        add_header(req, H2O_TOKEN_ALLOW, "GET, HEAD");
        send_text(h, req, 405, "Method Not Allowed", "text/plain; charset=utf-8",
                  H2O_STRLIT("method not allowed\n"));
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/healthz"))) {
        send_health(h, req);
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        send_metrics(h, req);
        return 0;
    }
    if (find_doc(h, req, path, &d))
        return 0;
    if (d == NULL) {
        send_text(h, req, 404, "Not Found", "text/plain; charset=utf-8", H2O_STRLIT("not found\n"));
        return 0;
    }
    send_doc(h, req, d);
    return 0;
}

/* ---- connections ---- */

static void finish_if_idle(struct tb_http *h);

static void on_conn_closed(uv_handle_t *handle)
{
    struct conn *c = (struct conn *)handle;
    struct tb_http *h = c->h;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        h->oldest = c->prev;
    h->nconns--;
    h->nevicted -= c->evicted;
    free(c);
    if (h->closing)
        finish_if_idle(h);
}

static void on_rejected_closed(uv_handle_t *handle)
{
    struct conn *c = (struct conn *)handle;
    struct tb_http *h = c->h;

    free(c);
    h->pending--;
    if (h->closing)
        finish_if_idle(h);
}

/*
 * Whether a connection is idle: no response being written and no request
 * bytes waiting unread in the socket (a client that just sent its request
 * while a burst of connections is being accepted is not idle).
 */
static int conn_idle(struct conn *c, uv_os_fd_t *fd)
{
    int unread = 0;

    if (c->tcp.write_queue_size != 0 || uv_fileno((uv_handle_t *)&c->tcp, fd) != 0)
        return 0;
    return ioctl(*fd, FIONREAD, &unread) == 0 && unread == 0;
}

/*
 * At the cap, the oldest idle connection (keep-alive between requests, or
 * one that has sent nothing for now) is shut down so that a new client gets
 * in: otherwise max_conns idle connections would lock everyone out until
 * their request deadline. h2o reads EOF and closes it. Returns -1 when
 * every connection is busy.
 */
static int evict_idle(struct tb_http *h)
{
    struct conn *c;
    uv_os_fd_t fd;

    for (c = h->oldest; c != NULL; c = c->prev) {
        if (c->evicted)
            continue;
        /* One that h2o is already closing frees its place in this loop iteration. */
        if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
            if (!conn_idle(c, &fd))
                continue;
            shutdown(fd, SHUT_RDWR);
            h->evictions++;
        }
        c->evicted = 1;
        h->nevicted++;
        return 0;
    }
    return -1;
}

/* Whether a new connection may be served: under the cap, or room was made. */
static int room_for_one(struct tb_http *h)
{
    return h->nconns - h->nevicted < h->max_conns || evict_idle(h) == 0;
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct tb_http *h = listener->data;
    struct conn *c;

    if (status != 0)
        return;
    c = calloc(1, sizeof(*c));
    if (c == NULL || uv_tcp_init(h->loop, &c->tcp) != 0) {
        free(c);
        return;
    }
    c->h = h;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        h->pending++;
        uv_close((uv_handle_t *)&c->tcp, on_rejected_closed);
        return;
    }
    if (!room_for_one(h)) {
        /* Over the cap with every connection busy: close at once, so the backlog drains. */
        h->rejected++;
        h->pending++;
        uv_close((uv_handle_t *)&c->tcp, on_rejected_closed);
        return;
    }
    h->accepted++;
    h->nconns++;
    c->next = h->conns;
    if (h->conns != NULL)
        h->conns->prev = c;
    else
        h->oldest = c;
    h->conns = c;
    /* A body larger than the socket buffer leaves in several writes: Nagle would hold its tail. */
    uv_tcp_nodelay(&c->tcp, 1);
    h2o_accept(&h->accept, h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed));
}

/* Shuts down every live connection's socket; h2o then sees EOF or a write error and closes it. */
static void shutdown_conns(struct tb_http *h, int how)
{
    struct conn *c;
    uv_os_fd_t fd;

    for (c = h->conns; c != NULL; c = c->next) {
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            shutdown(fd, how);
    }
}

/*
 * Linux's struct tcp_info goes on past glibc's copy (linux/tcp.h cannot be
 * included beside <netinet/tcp.h>, which uv.h includes): the fields after
 * tcpi_total_retrans, up to tcpi_bytes_acked (Linux 4.2).
 */
struct tcp_info_acked {
    struct tcp_info head;     /* glibc's part, ending at tcpi_total_retrans */
    uint64_t pacing_rate;     /* tcpi_pacing_rate */
    uint64_t max_pacing_rate; /* tcpi_max_pacing_rate */
    uint64_t bytes_acked;     /* tcpi_bytes_acked: bytes the peer has acknowledged */
};
_Static_assert(offsetof(struct tcp_info_acked, bytes_acked) == 120, "linux/tcp.h's layout");

/*
 * Bytes of the connection the client has taken (acknowledged by its TCP).
 * Returns 0, or -1 when the kernel does not say.
 */
static int bytes_taken(uv_os_fd_t fd, uint64_t *out)
{
    struct tcp_info_acked ti;
    socklen_t len = sizeof(ti);

    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || len < sizeof(ti))
        return -1;
    *out = ti.bytes_acked;
    return 0;
}

/*
 * One connection at a sweep, `elapsed` ms of loop time after the previous
 * one. While a response waits in libuv's write queue, a window runs: it
 * restarts each time the client has taken TB_HTTP_STALL_MIN_BYTES since it
 * opened, and the client is cut when req_timeout_ms of loop time pass
 * first. The queue alone does not show progress: it moves only when a
 * third or so of the kernel's send buffer (megabytes) has drained, which a
 * slow link takes longer than the deadline to do. A kernel that does not
 * report acknowledged bytes (before Linux 4.2) leaves connections unjudged.
 */
static void sweep_conn(struct tb_http *h, struct conn *c, uint64_t elapsed)
{
    uv_os_fd_t fd;
    uint64_t taken;

    if (c->tcp.write_queue_size == 0 || uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 ||
        bytes_taken(fd, &taken) != 0) {
        c->win_open = 0;
        return;
    }
    if (!c->win_open || taken - c->win_taken >= TB_HTTP_STALL_MIN_BYTES) {
        c->win_open = 1;
        c->win_taken = taken;
        c->win_ms = 0;
        return;
    }
    c->win_ms += elapsed;
    if (c->win_ms >= (uint64_t)h->req_timeout_ms) {
        shutdown(fd, SHUT_RDWR);
        c->win_open = 0;
        h->stalled++;
    }
}

/*
 * h2o 2.2 has no timeout while a response is being written, so a client that
 * stops reading would hold its connection (and document) forever: every
 * SWEEP_MS, sweep_conn() cuts the ones that stopped taking bytes; h2o then
 * sees a write error and cleans up. A sweep that comes late (the loop was
 * busy, or the machine was) counts as one period only: the client could not
 * be served meanwhile.
 */
static void on_sweep(uv_timer_t *t)
{
    struct tb_http *h = t->data;
    uint64_t now = uv_now(h->loop);
    uint64_t elapsed = now - h->last_sweep < SWEEP_MS ? now - h->last_sweep : SWEEP_MS;
    struct conn *c;

    h->last_sweep = now;
    for (c = h->conns; c != NULL; c = c->next)
        sweep_conn(h, c, elapsed);
}

/* ---- setup and teardown ---- */

/*
 * libuv writes with write(2): a client that resets the connection would
 * kill the process with SIGPIPE. Only the default action is replaced, so a
 * handler the program installed itself stays.
 */
static void ignore_sigpipe(void)
{
    struct sigaction sa;

    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

static void free_owner(uv_handle_t *handle)
{
    free(handle->data);
}

/*
 * Each connection holds a descriptor: a soft RLIMIT_NOFILE below max_conns (1024 is a common
 * default) would make accept() fail before the cap is reached. Raises the soft limit as far as the
 * hard one allows, else lowers the cap to fit.
 */
static void fit_fd_limit(struct tb_http *h)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)h->max_conns + FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
        h->max_conns = rl.rlim_cur > 2 * FD_RESERVE ? (int)(rl.rlim_cur - FD_RESERVE) : FD_RESERVE;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    const char *h0 = s;
    size_t hlen;
    char *end;
    long port;

    if (colon == NULL)
        return -EINVAL;
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
        return -EINVAL;
    hlen = (size_t)(colon - s);
    if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
        h0 = s + 1;
        hlen -= 2;
        if (hlen >= sizeof(host))
            return -EINVAL;
        memcpy(host, h0, hlen);
        host[hlen] = '\0';
        return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss);
    }
    if (hlen >= sizeof(host))
        return -EINVAL;
    memcpy(host, h0, hlen);
    host[hlen] = '\0';
    return uv_ip4_addr(hlen == 0 ? "0.0.0.0" : host, (int)port, (struct sockaddr_in *)ss);
}

static void setup_h2o(struct tb_http *h)
{
    h2o_hostconf_t *host;
    h2o_pathconf_t *pathconf;
    struct handler *handler;

    h2o_config_init(&h->conf);
    h->conf.server_name = h2o_iovec_init(H2O_STRLIT("tributary"));
    h->conf.max_request_entity_size = MAX_ENTITY;
    h->conf.http1.req_timeout = (uint64_t)h->req_timeout_ms;
    h->conf.http1.upgrade_to_http2 = 0;
    host = h2o_config_register_host(&h->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    pathconf = h2o_config_register_path(host, "/", 0);
    handler = (struct handler *)h2o_create_handler(pathconf, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->h = h;
    h2o_context_init(&h->ctx, h->loop, &h->conf);
    h->accept.ctx = &h->ctx;
    h->accept.hosts = h->conf.hosts;
}

static int start_listening(struct tb_http *h, const char *listen, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    int rc;

    memset(&ss, 0, sizeof(ss));
    rc = parse_listen(listen, &ss);
    if (rc != 0) {
        snprintf(err, errlen, "bad listen address \"%s\" (want host:port, [v6]:port or :port)",
                 listen);
        return -EINVAL;
    }
    rc = uv_tcp_bind(&h->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&h->listener, 511, on_accept);
    if (rc != 0)
        snprintf(err, errlen, "listen on %s: %s", listen, uv_strerror(rc));
    return rc;
}

int tb_http_new(uv_loop_t *loop, const struct tb_http_opts *o, struct tb_http **out, char *err,
                size_t errlen)
{
    struct tb_http *h;
    int rc;

    *out = NULL;
    ignore_sigpipe();
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    h->loop = loop;
    tb_map_init(&h->docs, SIZE_MAX);
    tb_map_init(&h->routes, SIZE_MAX);
    h->req_timeout_ms = o->req_timeout_ms > 0 ? o->req_timeout_ms : TB_HTTP_REQ_TIMEOUT_MS;
    h->max_conns = o->max_conns > 0 ? o->max_conns : TB_HTTP_MAX_CONNS;
    fit_fd_limit(h);
    rc = uv_tcp_init(loop, &h->listener);
    if (rc != 0)
        goto fail_free;
    h->listener.data = h;
    h->grace.data = h;
    h->sweep.data = h;
    rc = start_listening(h, o->listen != NULL ? o->listen : "127.0.0.1:8080", err, errlen);
    if (rc != 0)
        goto fail_close;
    setup_h2o(h);
    uv_timer_init(loop, &h->sweep);
    h->last_sweep = uv_now(loop);
    uv_timer_start(&h->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    *out = h;
    return 0;

fail_close:
    uv_close((uv_handle_t *)&h->listener, free_owner);
    return rc;
fail_free:
    free(h);
    return rc;
}

static void on_final_closed(uv_handle_t *handle)
{
    struct tb_http *h = handle->data;
    void (*done)(void *) = h->done;
    void *data = h->done_data;

    h2o_config_dispose(&h->conf);
    docs_free(h);
    routes_free(h);
    free(h);
    if (done != NULL)
        done(data);
}

/*
 * Once no connection is left: h2o's context closes its own uv timers (with
 * no callback) inside our struct. libuv runs close callbacks newest first,
 * so closing the grace timer before disposing of the context makes its
 * callback, which frees everything, run after all of h2o's.
 */
static void finish_if_idle(struct tb_http *h)
{
    if (h->nconns > 0 || h->pending > 0 || uv_is_closing((uv_handle_t *)&h->grace))
        return;
    uv_close((uv_handle_t *)&h->grace, on_final_closed);
    h2o_context_dispose(&h->ctx);
}

static void on_aux_closed(uv_handle_t *handle)
{
    struct tb_http *h = handle->data;

    h->pending--;
    finish_if_idle(h);
}

/* The grace period is over: cut the connections still sending. */
static void on_grace(uv_timer_t *t)
{
    shutdown_conns(t->data, SHUT_RDWR);
}

void tb_http_free(struct tb_http *h, void (*done)(void *data), void *data)
{
    if (h == NULL || h->closing)
        return;
    h->closing = 1;
    h->done = done;
    h->done_data = data;
    h->pending += 2;
    uv_close((uv_handle_t *)&h->listener, on_aux_closed);
    uv_close((uv_handle_t *)&h->sweep, on_aux_closed);
    /*
     * Not h2o_context_request_shutdown(): its HTTP/2 part arms a timer that
     * would outlive the context. The flag alone makes HTTP/1 answer with
     * Connection: close from now on.
     */
    h->ctx.shutdown_requested = 1;
    /* Idle connections read EOF and close now; busy ones after their response. */
    shutdown_conns(h, SHUT_RD);
    uv_timer_init(h->loop, &h->grace);
    uv_timer_start(&h->grace, on_grace, (uint64_t)h->req_timeout_ms, 0);
}

int tb_http_port(struct tb_http *h)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc = uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len);

    if (rc != 0)
        return rc;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

void tb_http_set_miss(struct tb_http *h, tb_http_miss_fn fn, void *data)
{
    h->miss = fn;
    h->miss_data = data;
}

size_t tb_http_cached(struct tb_http *h)
{
    return h->ncached;
}

void tb_http_set_health(struct tb_http *h, int (*fn)(void *data), void *data)
{
    h->health = fn;
    h->health_data = data;
}

void tb_http_set_metrics(struct tb_http *h, void (*fn)(struct tb_buf *out, void *data), void *data)
{
    h->metrics = fn;
    h->metrics_data = data;
}
