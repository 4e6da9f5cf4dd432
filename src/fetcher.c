/*
 * The daemon's fetcher: libcurl's multi interface driven by a libuv loop, as
 * in curl's docs/examples/multi-uv.c. curl tells us which sockets to watch
 * (on_socket -> uv_poll) and when to call it back (on_curl_timer -> uv_timer);
 * uv tells curl what happened (curl_multi_socket_action).
 *
 * Requests wait in our own queue and enter the multi handle only when the
 * global and per-host caps allow, because curl's total timeout would also
 * count the time spent waiting for a connection. Redirects are followed here,
 * one hop per transfer on the same easy handle, so every hop is checked
 * (scheme, loop, count) and queued under its own host's cap.
 */
#include "tb_fetcher.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fetch_int.h"
#include "tb_map.h"
#include "tb_url.h"

#define MAX_VALIDATOR 1024        /* longest ETag / Last-Modified we send or keep */
#define MAX_DELTA (3650L * 86400) /* clamp for Retry-After and max-age seconds */
#define MAX_LINKS 8192            /* bytes of Link header values kept */

#define CONTAINER(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* An intrusive circular doubly-linked list; a head is its own sentinel. */
struct list {
    struct list *prev, *next;
};

/* Transfers per exact host name, for the per-host cap and delay. */
struct host {
    int refs;      /* transfers (queued or running) for this host */
    int running;   /* of those, in the multi handle */
    int64_t until; /* hold transfers back until this epoch time, or 0 */
    char name[];   /* lower-case host name */
};

/* One request, through all its redirect hops. */
struct transfer {
    struct list link;                    /* in f->queue, f->running or a done list */
    struct tb_fetcher *f;                /* owner */
    CURL *easy;                          /* created when first started, else NULL */
    struct curl_slist *headers;          /* If-None-Match / If-Modified-Since, the caller's */
    char *post;                          /* POST body (owned), or NULL for a GET */
    size_t post_len;                     /* its length */
    int is_post;                         /* the request is a POST */
    int public_only;                     /* refuse non-public addresses at connect */
    int no_redirect;                     /* a 3xx is final */
    char refused[INET6_ADDRSTRLEN];      /* last address refused by public_only, or "" */
    struct host *host;                   /* host of the current hop (one ref) */
    char *urls[TB_FETCH_MAX_REDIRS + 1]; /* request URL, then each redirect target */
    int hops;                            /* redirects followed; urls[hops] is current */
    int permanent;                       /* every hop so far was 301 or 308 */
    int body_rc;                         /* why the write callback refused, or 0 */
    uint64_t queued_at;                  /* uv_hrtime() at tb_fetcher_add() */
    uint64_t started_at;                 /* uv_hrtime() when first started, or 0 */
    tb_fetch_cb cb;                      /* user callback */
    void *data;                          /* its argument */
    char cerr[CURL_ERROR_SIZE];          /* CURLOPT_ERRORBUFFER */
    struct tb_fetch_result res;          /* filled as it goes */
};

/* A socket curl asked us to watch. */
struct sock {
    uv_poll_t poll;       /* freed in its close callback */
    struct list link;     /* in f->sockets until closed */
    struct tb_fetcher *f; /* owner */
    curl_socket_t fd;     /* the socket */
};

struct tb_fetcher {
    uv_loop_t *loop;            /* the loop everything runs on */
    CURLM *multi;               /* NULL once freeing */
    uv_timer_t timer;           /* curl's timeout */
    uv_timer_t wake;            /* starts queued transfers: soon, or at a host's until */
    struct tb_fetch_limits lim; /* copy of the caller's limits */
    char *user_agent;           /* owned copy */
    struct list queue;          /* waiting to run, FIFO */
    struct list running;        /* in the multi handle */
    size_t nqueued, nrunning;   /* lengths of the two lists */
    struct list sockets;        /* struct sock being watched */
    struct tb_map hosts;        /* struct host by name */
    int closing;                /* tb_fetcher_free() was called */
    int closes;                 /* uv_close() callbacks still to come */
    void (*done)(void *);       /* tb_fetcher_free()'s callback */
    void *done_data;            /* its argument */
};

static void list_init(struct list *l)
{
    l->prev = l->next = l;
}

static int list_empty(const struct list *l)
{
    return l->next == l;
}

static void list_insert(struct list *after, struct list *n)
{
    n->prev = after;
    n->next = after->next;
    after->next->prev = n;
    after->next = n;
}

static void list_remove(struct list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

/* ------------------------------------------------------------------ hosts */

/* Finds or makes the entry for `name` and takes a reference; NULL on OOM. */
static struct host *host_get(struct tb_fetcher *f, const char *name)
{
    size_t n = strlen(name);
    struct host *h = tb_map_get(&f->hosts, name, n);

    if (h != NULL) {
        h->refs++;
        return h;
    }
    h = calloc(1, sizeof(*h) + n + 1);
    if (h == NULL)
        return NULL;
    memcpy(h->name, name, n + 1);
    h->refs = 1;
    if (tb_map_put(&f->hosts, h->name, n, h) != 0) {
        free(h);
        return NULL;
    }
    return h;
}

/* Drops a reference; an unused entry goes unless it still carries a delay. */
static void host_put(struct tb_fetcher *f, struct host *h)
{
    if (h == NULL || --h->refs > 0 || h->until > (int64_t)time(NULL))
        return;
    tb_map_del(&f->hosts, h->name, strlen(h->name));
    free(h);
}

static void hosts_free(struct tb_fetcher *f)
{
    const struct tb_map_slot *s;
    size_t pos = 0;

    while ((s = tb_map_next(&f->hosts, &pos)) != NULL)
        free(s->value);
    tb_map_free(&f->hosts);
}

/* The lower-case host of an http(s) URL (malloc'd), or NULL for any other
 * URL, one that does not parse, or when out of memory. */
static char *http_host(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;

    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK && tb_url_scheme_allowed(scheme))
        curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_free(scheme);
    curl_url_cleanup(u);
    if (host == NULL)
        return NULL;
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return host;
}

/* ---------------------------------------------------------- result parts */

/* Records the first error of a transfer; later ones would only blur it. */
static void fail(struct transfer *t, int rc, const char *fmt, ...) TB_PRINTF(3, 4);
static void fail(struct transfer *t, int rc, const char *fmt, ...)
{
    va_list ap;

    if (t->res.rc)
        return;
    t->res.rc = rc;
    va_start(ap, fmt);
    vsnprintf(t->res.err, sizeof(t->res.err), fmt, ap);
    va_end(ap);
}

/* A copy of the final response's header `name`, or NULL. */
static char *header_dup(CURL *h, const char *name)
{
    struct curl_header *hdr = NULL;

    if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hdr) != CURLHE_OK)
        return NULL;
    if (hdr->value[0] == '\0' || strlen(hdr->value) > MAX_VALIDATOR)
        return NULL;
    return strdup(hdr->value);
}

/* Every Link header of the final response joined with ", " (one
 * field-value, RFC 9110 5.3), or NULL when there is none or they pass
 * MAX_LINKS bytes. */
static char *links_dup(CURL *h)
{
    struct curl_header *hdr = NULL;
    struct tb_buf b;
    size_t i, n = 1;

    tb_buf_init(&b, MAX_LINKS);
    for (i = 0; i < n; i++) {
        if (curl_easy_header(h, "Link", i, CURLH_HEADER, -1, &hdr) != CURLHE_OK)
            break;
        n = hdr->amount;
        if (tb_buf_addf(&b, "%s%s", i > 0 ? ", " : "", hdr->value) != 0) {
            tb_buf_free(&b);
            return NULL;
        }
    }
    return b.len > 0 ? tb_buf_take(&b) : NULL;
}

/* Retry-After is delta-seconds or an HTTP-date; returns epoch seconds or 0. */
static int64_t parse_retry_after(const char *v, int64_t now)
{
    char *end;
    long long n;
    time_t t;

    while (*v == ' ' || *v == '\t')
        v++;
    if (!isdigit((unsigned char)*v)) {
        t = curl_getdate(v, NULL);
        return t > 0 ? (int64_t)t : 0;
    }
    errno = 0;
    n = strtoll(v, &end, 10);
    if (*end != '\0' && *end != ' ' && *end != '\t')
        return 0;
    if (errno == ERANGE || n > MAX_DELTA)
        n = MAX_DELTA;
    return now + n;
}

/* The max-age directive of a Cache-Control value, or -1. */
static int64_t parse_max_age(const char *v)
{
    const char *p = v;
    long long n;

    for (;;) {
        p = strcasestr(p, "max-age=");
        if (p == NULL)
            return -1;
        if (p == v || p[-1] == ',' || p[-1] == ' ' || p[-1] == '\t')
            break;
        p += 8;
    }
    p += 8;
    if (*p == '"')
        p++;
    if (!isdigit((unsigned char)*p))
        return -1;
    n = strtoll(p, NULL, 10);
    return n > MAX_DELTA || n < 0 ? MAX_DELTA : n;
}

/* Validators, caching hints and charset from the final response. */
static void read_headers(struct transfer *t)
{
    struct curl_header *hdr = NULL;
    char charset[64];
    char *ct = NULL;

    t->res.etag = header_dup(t->easy, "ETag");
    t->res.last_modified = header_dup(t->easy, "Last-Modified");
    t->res.link = links_dup(t->easy);
    if (curl_easy_header(t->easy, "Retry-After", 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK)
        t->res.retry_after = parse_retry_after(hdr->value, (int64_t)time(NULL));
    if (curl_easy_header(t->easy, "Cache-Control", 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK)
        t->res.max_age = parse_max_age(hdr->value);
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct);
    tb__fetch_charset(ct, charset, sizeof(charset));
    if (charset[0])
        t->res.charset = strdup(charset);
}

/* A 429 or 503 with Retry-After holds back every transfer to that host. */
static void note_host_delay(struct transfer *t)
{
    int64_t now = (int64_t)time(NULL), until = t->res.retry_after;

    if ((t->res.status != 429 && t->res.status != 503) || until <= now)
        return;
    if (until - now > TB_FETCH_MAX_HOST_DELAY)
        until = now + TB_FETCH_MAX_HOST_DELAY;
    if (until > t->host->until)
        t->host->until = until;
}

/* ---------------------------------------------------------- transfers */

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
    struct transfer *t = data;

    /* The cap applies after decompression: curl hands us inflated bytes, so
     * a gzip bomb or an endless chunked body stops at max_body. */
    t->body_rc = tb_buf_add(&t->res.body, p, size * n);
    return t->body_rc ? 0 : size * n;
}

static int add_header(struct transfer *t, const char *name, const char *value)
{
    char line[MAX_VALIDATOR + 32];
    struct curl_slist *l;

    /* A stored value that could smuggle another header line is not sent. */
    if (value == NULL || value[0] == '\0' || strlen(value) > MAX_VALIDATOR ||
        strpbrk(value, "\r\n"))
        return 0;
    snprintf(line, sizeof(line), "%s: %s", name, value);
    l = curl_slist_append(t->headers, line);
    if (l == NULL)
        return -ENOMEM;
    t->headers = l;
    return 0;
}

static void transfer_free(struct transfer *t)
{
    struct tb_fetch_result *r = &t->res;

    if (t->easy)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->post);
    for (int i = 0; i <= t->hops; i++)
        free(t->urls[i]);
    tb_buf_free(&r->body);
    free(r->etag);
    free(r->last_modified);
    free(r->link);
    free(r->charset);
    free(r->permanent_url);
    free(r->final_url);
    host_put(t->f, t->host);
    free(t);
}

/* ------------------------------------------------- public addresses */

/* Whether a host-order IPv4 address is in a/len. */
static int v4_in(uint32_t a, uint32_t net, int len)
{
    uint32_t mask = len == 0 ? 0 : 0xffffffffu << (32 - len);

    return (a & mask) == (net & mask);
}

static int v4_public(uint32_t a)
{
    static const struct {
        uint32_t net;
        int len;
    } special[] = {
        {0x00000000, 8},  /* "this network", incl. 0.0.0.0 */
        {0x0a000000, 8},  /* RFC 1918 */
        {0x64400000, 10}, /* CGNAT, RFC 6598 */
        {0x7f000000, 8},  /* loopback */
        {0xa9fe0000, 16}, /* link-local */
        {0xac100000, 12}, /* RFC 1918 */
        {0xc0000000, 24}, /* IETF protocol assignments */
        {0xc0000200, 24}, /* TEST-NET-1 */
        {0xc0586300, 24}, /* 6to4 relay anycast */
        {0xc0a80000, 16}, /* RFC 1918 */
        {0xc6120000, 15}, /* benchmarking */
        {0xc6336400, 24}, /* TEST-NET-2 */
        {0xcb007100, 24}, /* TEST-NET-3 */
        {0xe0000000, 4},  /* multicast */
        {0xf0000000, 4},  /* reserved, incl. broadcast */
    };

    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
        if (v4_in(a, special[i].net, special[i].len))
            return 0;
    return 1;
}

static uint32_t v4_at(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int v6_public(const unsigned char *b)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};

    /* Forms that carry an IPv4 address are judged by that address. */
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
        return v4_public(v4_at(b + 12));
    if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 */
        return v4_public(v4_at(b + 2));
    /* Only global unicast (2000::/3) is public; everything outside it --
     * ::, ::1, IPv4-compatible, 100::/64, ULA, link- and site-local,
     * multicast -- is special. */
    if ((b[0] & 0xe0) != 0x20)
        return 0;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] < 0x02) /* 2001::/23: Teredo, ORCHID, ... */
        return 0;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) /* documentation */
        return 0;
    if (b[0] == 0x3f && b[1] == 0xff && b[2] < 0x10) /* documentation, RFC 9637 */
        return 0;
    return 1;
}

int tb_fetcher_addr_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

        return v4_public(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

        return v6_public(in6->sin6_addr.s6_addr);
    }
    return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION for public_only: the address about to be
 * connected to, after every DNS answer and redirect, is checked here. */
static curl_socket_t open_public(void *data, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct transfer *t = data;
    const void *ip = NULL;

    if (purpose == CURLSOCKTYPE_IPCXN && tb_fetcher_addr_public(&a->addr))
        return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (a->family == AF_INET)
        ip = &((struct sockaddr_in *)(void *)&a->addr)->sin_addr;
    else if (a->family == AF_INET6)
        ip = &((struct sockaddr_in6 *)(void *)&a->addr)->sin6_addr;
    if (ip == NULL || inet_ntop(a->family, ip, t->refused, sizeof(t->refused)) == NULL)
        snprintf(t->refused, sizeof(t->refused), "address family %d", a->family);
    return CURL_SOCKET_BAD;
}

static int setup_easy(struct tb_fetcher *f, struct transfer *t)
{
    CURL *h = curl_easy_init();

    if (h == NULL)
        return -ENOMEM;
    tb__fetch_easy_limits(h, &f->lim, f->user_agent);
    curl_easy_setopt(h, CURLOPT_PRIVATE, t);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->cerr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, t->headers);
    if (t->is_post) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->post_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, t->post ? t->post : "");
    }
    if (t->public_only) {
        /* A proxy or a pooled connection opened by a request without the
         * check would connect somewhere this callback never saw. */
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_public);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, t);
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    }
    t->easy = h;
    t->started_at = uv_hrtime();
    return 0;
}

/* Puts the current hop into the multi handle, within what is left of the
 * request's total time. */
static int start(struct tb_fetcher *f, struct transfer *t)
{
    long left;

    if (t->easy == NULL && setup_easy(f, t)) {
        fail(t, -ENOMEM, "out of memory");
        return t->res.rc;
    }
    left = f->lim.timeout_ms - (long)((uv_hrtime() - t->started_at) / 1000000);
    if (left <= 0) {
        fail(t, TB_EFETCH, "timed out after %ld ms following redirects", f->lim.timeout_ms);
        return t->res.rc;
    }
    t->cerr[0] = '\0';
    curl_easy_setopt(t->easy, CURLOPT_URL, t->urls[t->hops]);
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, left);
    if (curl_multi_add_handle(f->multi, t->easy) != CURLM_OK) {
        fail(t, TB_EFETCH, "could not add the transfer to curl");
        return t->res.rc;
    }
    list_insert(f->running.prev, &t->link);
    f->nrunning++;
    t->host->running++;
    return 0;
}

/* Checks where a redirect answered with `status` points and sets up that
 * next hop; on refusal records why and returns the error. */
static int follow(struct tb_fetcher *f, struct transfer *t, long status)
{
    char *loc = NULL, *host, *url;
    struct host *h;

    curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_URL, &loc);
    if (loc == NULL) {
        fail(t, TB_EHTTP, "HTTP %ld without a usable Location", status);
        return t->res.rc;
    }
    if (t->hops == TB_FETCH_MAX_REDIRS) {
        fail(t, TB_EFETCH, "more than %d redirects", TB_FETCH_MAX_REDIRS);
        return t->res.rc;
    }
    for (int i = 0; i <= t->hops; i++) {
        if (strcmp(t->urls[i], loc) == 0) {
            fail(t, TB_EFETCH, "redirect loop at %.160s", loc);
            return t->res.rc;
        }
    }
    host = http_host(loc);
    if (host == NULL) {
        fail(t, TB_EFETCH, "redirect to a non-http(s) URL refused: %.120s", loc);
        return t->res.rc;
    }
    h = host_get(f, host);
    url = strdup(loc);
    free(host);
    if (h == NULL || url == NULL) {
        host_put(f, h);
        free(url);
        fail(t, -ENOMEM, "out of memory");
        return t->res.rc;
    }
    host_put(f, t->host);
    t->host = h;
    t->urls[++t->hops] = url;
    t->permanent = t->permanent && (status == 301 || status == 308);
    tb_buf_free(&t->res.body);
    return 0;
}

/* The outcome of a hop that was not a redirect to follow. */
static void judge(struct transfer *t, CURLcode cc, long status)
{
    if (t->body_rc == TB_ETOOBIG || cc == CURLE_FILESIZE_EXCEEDED)
        fail(t, TB_ETOOBIG, "body larger than %zu bytes", t->res.body.cap);
    else if (t->body_rc)
        fail(t, t->body_rc, "%s", tb_strerror(t->body_rc));
    else if (cc != CURLE_OK && t->refused[0])
        fail(t, TB_EFETCH, "refused to connect to %s: not a public address", t->refused);
    else if (cc != CURLE_OK)
        fail(t, TB_EFETCH, "%s", t->cerr[0] ? t->cerr : curl_easy_strerror(cc));
    else if (status >= 400 || (status >= 300 && status != 304))
        fail(t, TB_EHTTP, "HTTP %ld", status);
}

/* A hop ended: queue the next one (at the front) or move t to `done`. */
static void hop_done(struct tb_fetcher *f, struct transfer *t, CURLcode cc, struct list *done)
{
    long status = 0;

    curl_multi_remove_handle(f->multi, t->easy);
    list_remove(&t->link);
    f->nrunning--;
    t->host->running--;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    t->res.status = status;
    /* A POST follows only 307 and 308, which keep its method and body
     * (RFC 9110 15.4): after 301, 302 or 303 clients turn it into a GET,
     * which is not what a caller posting somewhere asked for. */
    if (cc == CURLE_OK && t->body_rc == 0 && status >= 300 && status < 400 && status != 304 &&
        !t->no_redirect && (!t->is_post || status == 307 || status == 308)) {
        if (follow(f, t, status) == 0) {
            list_insert(&f->queue, &t->link);
            f->nqueued++;
            return;
        }
    }
    judge(t, cc, status);
    if (status)
        read_headers(t);
    note_host_delay(t);
    list_insert(done->prev, &t->link);
}

/* Fills the URLs and timing, calls the user back and frees the transfer. */
static void complete(struct transfer *t)
{
    struct tb_fetch_result *r = &t->res;

    list_remove(&t->link);
    r->final_url = strdup(t->urls[t->hops]);
    if (t->hops > 0 && t->permanent && r->rc == 0)
        r->permanent_url = strdup(t->urls[t->hops]);
    if (r->rc)
        tb_buf_free(&r->body);
    r->seconds = (double)(uv_hrtime() - t->queued_at) / 1e9;
    t->cb(r, t->data);
    transfer_free(t);
}

static void complete_all(struct list *done)
{
    while (!list_empty(done))
        complete(CONTAINER(done->next, struct transfer, link));
}

/* ------------------------------------------------------------ the queue */

static void on_wake(uv_timer_t *timer);

/* Moves queued transfers into the multi handle while the caps allow; arms
 * the wake timer for the earliest host delay among those held back. */
static void start_queued(struct tb_fetcher *f, struct list *done)
{
    int64_t now = (int64_t)time(NULL), wake = 0;
    struct list *p, *next;

    if (f->closing)
        return;
    for (p = f->queue.next; p != &f->queue; p = next) {
        struct transfer *t = CONTAINER(p, struct transfer, link);

        next = p->next;
        if (f->nrunning >= (size_t)f->lim.max_connections)
            break;
        if (t->host->until > now) {
            wake = wake == 0 || t->host->until < wake ? t->host->until : wake;
            continue;
        }
        if (t->host->running >= f->lim.max_per_host)
            continue;
        list_remove(p);
        f->nqueued--;
        if (start(f, t))
            list_insert(done->prev, p);
    }
    if (wake) {
        uv_update_time(f->loop);
        uv_timer_start(&f->wake, on_wake, (uint64_t)(wake - now) * 1000, 0);
    } else {
        uv_timer_stop(&f->wake);
    }
}

/* Reads what curl finished, starts what may run now, then calls back. */
static void check_multi_info(struct tb_fetcher *f)
{
    struct list done;
    int left;

    list_init(&done);
    for (;;) {
        CURLMsg *msg = curl_multi_info_read(f->multi, &left);
        struct transfer *t = NULL;

        if (msg == NULL)
            break;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        hop_done(f, t, msg->data.result, &done);
    }
    start_queued(f, &done);
    complete_all(&done);
}

static void on_wake(uv_timer_t *timer)
{
    struct tb_fetcher *f = timer->data;
    struct list done;

    list_init(&done);
    start_queued(f, &done);
    complete_all(&done);
}

/* --------------------------------------------------- the curl/uv bridge */

static void on_poll(uv_poll_t *poll, int status, int events)
{
    struct sock *s = poll->data;
    struct tb_fetcher *f = s->f;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(f->multi, s->fd, flags, &running);
    check_multi_info(f);
}

static void on_timer(uv_timer_t *timer)
{
    struct tb_fetcher *f = timer->data;
    int running;

    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(f);
}

/* CURLMOPT_TIMERFUNCTION: curl wants on_timer in `ms` ms (-1: never). */
static int on_curl_timer(CURLM *multi, long ms, void *data)
{
    struct tb_fetcher *f = data;

    if (ms < 0)
        uv_timer_stop(&f->timer);
    else
        uv_timer_start(&f->timer, on_timer, (uint64_t)ms, 0);
    return 0;
}

static void on_close(uv_handle_t *h);

static void sock_close(struct sock *s)
{
    list_remove(&s->link);
    s->f->closes++;
    uv_close((uv_handle_t *)&s->poll, on_close);
}

static struct sock *sock_new(struct tb_fetcher *f, curl_socket_t fd)
{
    struct sock *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    if (uv_poll_init_socket(f->loop, &s->poll, fd)) {
        free(s);
        return NULL;
    }
    s->poll.data = s;
    s->f = f;
    s->fd = fd;
    list_insert(&f->sockets, &s->link);
    curl_multi_assign(f->multi, fd, s);
    return s;
}

/* CURLMOPT_SOCKETFUNCTION: watch `fd` for `what`, or stop watching it. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *data, void *sockp)
{
    struct tb_fetcher *f = data;
    struct sock *s = sockp;
    int events = 0;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(f->multi, fd, NULL);
            sock_close(s);
        }
        return 0;
    }
    if (s == NULL)
        s = sock_new(f, fd);
    if (s == NULL)
        return -1;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    return uv_poll_start(&s->poll, events, on_poll) ? -1 : 0;
}

/* ------------------------------------------------------------- lifetime */

int tb_fetcher_new(uv_loop_t *loop, const struct tb_fetch_limits *lim, struct tb_fetcher **out)
{
    struct tb_fetcher *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -ENOMEM;
    tb_map_init(&f->hosts, SIZE_MAX); /* bounded by the transfers that name them */
    if (lim)
        f->lim = *lim;
    else
        tb_fetch_limits_default(&f->lim);
    if (f->lim.max_connections < 1 || f->lim.max_per_host < 1 || f->lim.max_body < 1 ||
        f->lim.timeout_ms < 1) {
        free(f);
        return -EINVAL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto fail_free;
    f->user_agent = strdup(f->lim.user_agent ? f->lim.user_agent : TB_FETCH_USER_AGENT);
    f->multi = curl_multi_init();
    if (f->user_agent == NULL || f->multi == NULL)
        goto fail_curl;
    f->loop = loop;
    list_init(&f->queue);
    list_init(&f->running);
    list_init(&f->sockets);
    uv_timer_init(loop, &f->timer);
    uv_timer_init(loop, &f->wake);
    f->timer.data = f->wake.data = f;
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    /* Second guards behind our own queue; the connection cache stays on. */
    curl_multi_setopt(f->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)f->lim.max_connections);
    curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)f->lim.max_per_host);
    *out = f;
    return 0;

fail_curl:
    curl_multi_cleanup(f->multi);
    free(f->user_agent);
    curl_global_cleanup();
fail_free:
    free(f);
    return -ENOMEM;
}

/* The method, body and extra headers of req (checked by the caller). */
static int set_request(struct transfer *t, const struct tb_fetch_req *req)
{
    struct curl_slist *l;

    t->is_post = req->method && strcmp(req->method, "POST") == 0;
    t->public_only = req->public_only;
    t->no_redirect = req->no_redirect;
    if (t->is_post && req->body_len > 0) {
        t->post = malloc(req->body_len);
        if (t->post == NULL)
            return -ENOMEM;
        memcpy(t->post, req->body, req->body_len);
        t->post_len = req->body_len;
    }
    if (t->is_post && add_header(t, "Content-Type", req->content_type))
        return -ENOMEM;
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        l = curl_slist_append(t->headers, req->headers[i]);
        if (l == NULL)
            return -ENOMEM;
        t->headers = l;
    }
    if (t->is_post) {
        /* No "Expect: 100-continue" round trip before a larger body. */
        l = curl_slist_append(t->headers, "Expect:");
        if (l == NULL)
            return -ENOMEM;
        t->headers = l;
    }
    return 0;
}

int tb_fetcher_add(struct tb_fetcher *f, const struct tb_fetch_req *req, tb_fetch_cb cb, void *data)
{
    struct transfer *t;
    char *host;

    if (f->closing)
        return -ECANCELED;
    if (req->method && strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)
        return -EINVAL;
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        if (strpbrk(req->headers[i], "\r\n") || strchr(req->headers[i], ':') == NULL)
            return -EINVAL;
    host = http_host(req->url);
    if (host == NULL)
        return -EINVAL;
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        free(host);
        return -ENOMEM;
    }
    t->f = f;
    t->cb = cb;
    t->data = data;
    t->permanent = 1;
    t->queued_at = uv_hrtime();
    t->res.max_age = -1;
    tb_buf_init(&t->res.body, f->lim.max_body);
    t->urls[0] = strdup(req->url);
    t->host = host_get(f, host);
    free(host);
    if (t->urls[0] == NULL || t->host == NULL || add_header(t, "If-None-Match", req->etag) ||
        add_header(t, "If-Modified-Since", req->last_modified) || set_request(t, req)) {
        transfer_free(t);
        return -ENOMEM;
    }
    list_insert(f->queue.prev, &t->link);
    f->nqueued++;
    /* Start from the loop, so the callback never runs inside this call. */
    uv_timer_start(&f->wake, on_wake, 0, 0);
    return 0;
}

size_t tb_fetcher_pending(const struct tb_fetcher *f)
{
    return f->nqueued + f->nrunning;
}

/* Ends the running and queued transfers whose callback argument is data
 * (all of them when all is set) with -ECANCELED, into done. */
static void cancel_into(struct tb_fetcher *f, const void *data, int all, struct list *done)
{
    struct list *p, *next;

    for (p = f->running.next; p != &f->running; p = next) {
        struct transfer *t = CONTAINER(p, struct transfer, link);

        next = p->next;
        if (!all && t->data != data)
            continue;
        curl_multi_remove_handle(f->multi, t->easy);
        list_remove(&t->link);
        f->nrunning--;
        t->host->running--;
        fail(t, -ECANCELED, "cancelled");
        list_insert(done->prev, &t->link);
    }
    for (p = f->queue.next; p != &f->queue; p = next) {
        struct transfer *t = CONTAINER(p, struct transfer, link);

        next = p->next;
        if (!all && t->data != data)
            continue;
        list_remove(&t->link);
        f->nqueued--;
        fail(t, -ECANCELED, "cancelled");
        list_insert(done->prev, &t->link);
    }
}

void tb_fetcher_cancel_all(struct tb_fetcher *f)
{
    struct list done;

    list_init(&done);
    cancel_into(f, NULL, 1, &done);
    complete_all(&done);
}

void tb_fetcher_cancel(struct tb_fetcher *f, const void *data)
{
    struct list done;

    list_init(&done);
    cancel_into(f, data, 0, &done);
    /* A cancelled transfer's connection slot goes to the next in the queue. */
    start_queued(f, &done);
    complete_all(&done);
}

static void on_close(uv_handle_t *h)
{
    struct tb_fetcher *f;

    if (h->type == UV_POLL) {
        struct sock *s = h->data;

        f = s->f;
        free(s);
    } else {
        f = h->data;
    }
    if (--f->closes > 0 || !f->closing || f->multi)
        return;
    hosts_free(f);
    free(f->user_agent);
    curl_global_cleanup();
    if (f->done)
        f->done(f->done_data);
    free(f);
}

void tb_fetcher_free(struct tb_fetcher *f, void (*done)(void *), void *data)
{
    if (f == NULL || f->closing)
        return;
    f->closing = 1;
    f->done = done;
    f->done_data = data;
    tb_fetcher_cancel_all(f);
    /* Cleanup may still report sockets; whatever it leaves is closed here. */
    curl_multi_cleanup(f->multi);
    f->multi = NULL;
    while (!list_empty(&f->sockets))
        sock_close(CONTAINER(f->sockets.next, struct sock, link));
    f->closes += 2;
    uv_close((uv_handle_t *)&f->timer, on_close);
    uv_close((uv_handle_t *)&f->wake, on_close);
}
