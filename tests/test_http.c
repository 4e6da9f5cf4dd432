/*
 * test_http: the server runs on a libuv loop in the main thread; a client
 * thread talks to it over plain sockets. Calls into the server from the
 * client thread go through loop_call(), which runs them on the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zlib.h>

#include "check.h"
#include "tb_gzip.h"
#include "tb_http.h"

#define MTIME 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */
#define BIG (8u * 1024 * 1024)
#define TEXT (1024u * 1024) /* /text.bin: its gzip form is well above 64 KB too */
#define MAX_CONNS 8
#define PREFIX_CAP (4 * TB_HTTP_BODY_MAX) /* the body cap of the prefix route /cb/ */

static uv_loop_t loop;
static struct tb_http *srv;
static int port;
static uv_async_t call_async;
static uv_sem_t call_sem;
static void (*call_fn)(void);
static atomic_int healthy = 1;
static int done_called;
static char *big_old, *big_new, *text;
static atomic_int swapped;

static const char atom[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">"
    "<title>all</title><entry><title>one</title></entry><entry><title>one</title></entry>"
    "<entry><title>one</title></entry><entry><title>one</title></entry></feed>\n";

/* ---- running things on the loop ---- */

static void on_call(uv_async_t *a)
{
    call_fn();
    uv_sem_post(&call_sem);
}

/* Starts fn on the loop; loop_wait() waits for it to finish. */
static void loop_start(void (*fn)(void))
{
    call_fn = fn;
    CHECK_OK(uv_async_send(&call_async));
}

static void loop_wait(void)
{
    uv_sem_wait(&call_sem);
}

static void loop_call(void (*fn)(void))
{
    loop_start(fn);
    loop_wait();
}

static void on_done(void *data)
{
    done_called++;
}

static void do_stop(void)
{
    tb_http_free(srv, on_done, NULL);
    uv_close((uv_handle_t *)&call_async, NULL);
}

static void do_swap(void)
{
    CHECK_OK(tb_http_put(srv, "/big.bin", "application/octet-stream", big_new, BIG, MTIME, 0));
    swapped = 1;
}

/* Gzip forms given to tb_http_put_gz(), each with a marker in the header's
 * MTIME field that the server's own compression would never write. */
static struct tb_buf pre_small, pre_big;

/* Compresses n bytes at p into b and marks them. */
static void pre_gzip(struct tb_buf *b, const void *p, size_t n)
{
    tb_buf_init(b, 4 * n + 64);
    CHECK_OK(tb_gzip(p, n, TB_GZIP_BEST, b));
    if (b->len > 8)
        memcpy(b->data + 4, "TBGZ", 4);
}

static void do_put_gz(void)
{
    pre_gzip(&pre_small, atom, sizeof(atom) - 1);
    pre_gzip(&pre_big, text, TEXT);
    CHECK_OK(tb_http_put_gz(srv, "/pre.atom", "application/atom+xml", atom, sizeof(atom) - 1,
                            pre_small.data, pre_small.len, MTIME, 0));
    CHECK_OK(tb_http_put_gz(srv, "/pre.bin", "text/plain", text, TEXT, pre_big.data, pre_big.len,
                            MTIME, 0));
    /* A form no smaller than the body is not kept: plain bytes are sent. */
    CHECK_OK(tb_http_put_gz(srv, "/pre.tiny", "text/plain", "x", 1, pre_small.data, pre_small.len,
                            MTIME, 0));
}

static void do_remove_gz(void)
{
    CHECK_OK(tb_http_remove(srv, "/pre.atom"));
    CHECK_OK(tb_http_remove(srv, "/pre.bin"));
    CHECK_OK(tb_http_remove(srv, "/pre.tiny"));
}

/* Keeps the loop busy for 2.5 s (a long job on the loop thread, or a machine under load). */
static void do_block(void)
{
    usleep(2500 * 1000);
}

static void do_remove(void)
{
    CHECK_OK(tb_http_remove(srv, "/gone.atom"));
    CHECK_EQ(tb_http_remove(srv, "/gone.atom"), -ENOENT);
}

/* ---- a small blocking client ---- */

struct cl {
    int fd;
    char *in;   /* received, not yet consumed */
    size_t len; /* bytes in `in` */
};

struct resp {
    int status;
    char head[16384];
    char *body;
    size_t body_len;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void cl_open(struct cl *c, int rcvbuf)
{
    struct sockaddr_in sa;
    struct timeval tv = {20, 0}; /* generous: also run under valgrind */

    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_OK(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)));
}

static void cl_close(struct cl *c)
{
    close(c->fd);
    free(c->in);
    c->in = NULL;
}

static int cl_send(struct cl *c, const void *p, size_t n)
{
    const char *s = p;

    while (n > 0) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int cl_sends(struct cl *c, const char *s)
{
    return cl_send(c, s, strlen(s));
}

/* Reads more bytes into c->in: >0 read, 0 EOF, -1 error or timeout. */
static ssize_t cl_fill(struct cl *c)
{
    char buf[65536];
    ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

    if (r <= 0)
        return r < 0 ? -1 : 0;
    c->in = realloc(c->in, c->len + (size_t)r + 1);
    memcpy(c->in + c->len, buf, (size_t)r);
    c->len += (size_t)r;
    c->in[c->len] = '\0';
    return r;
}

static void cl_consume(struct cl *c, size_t n)
{
    memmove(c->in, c->in + n, c->len - n);
    c->len -= n;
    c->in[c->len] = '\0';
}

/* Value of header `name` (case-insensitive) into out; NULL when absent. */
static const char *hdr(const struct resp *r, const char *name, char *out, size_t outlen)
{
    const char *p = r->head;
    size_t n = strlen(name);

    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1 + strspn(p + n + 1, " ");
            size_t vlen = strcspn(v, "\r");
            snprintf(out, outlen, "%.*s", (int)vlen, v);
            return out;
        }
    }
    return NULL;
}

/* Reads one response; no_body for HEAD. Returns 0, or -1 if the connection ended first. */
static int cl_response(struct cl *c, struct resp *r, int no_body)
{
    char *end;
    char v[64];
    size_t hlen, clen = 0;

    memset(r, 0, sizeof(*r));
    while (c->in == NULL || (end = strstr(c->in, "\r\n\r\n")) == NULL) {
        if (cl_fill(c) <= 0)
            return -1;
    }
    hlen = (size_t)(end - c->in) + 4;
    snprintf(r->head, sizeof(r->head), "%.*s", (int)hlen, c->in);
    cl_consume(c, hlen);
    r->status = atoi(r->head + 9);
    if (hdr(r, "Content-Length", v, sizeof(v)) != NULL && !no_body && r->status != 304)
        clen = strtoul(v, NULL, 10);
    while (c->len < clen) {
        if (cl_fill(c) <= 0)
            return -1;
    }
    r->body = malloc(clen + 1);
    memcpy(r->body, c->in, clen);
    r->body[clen] = '\0';
    r->body_len = clen;
    cl_consume(c, clen);
    return 0;
}

/* One request on a fresh connection; returns the status (or -1). */
static int get(const char *request, struct resp *r)
{
    struct cl c;
    int rc;

    cl_open(&c, 0);
    CHECK_OK(cl_send(&c, request, strlen(request)));
    rc = cl_response(&c, r, strncmp(request, "HEAD ", 5) == 0);
    cl_close(&c);
    return rc == 0 ? r->status : -1;
}

/* Waits for the server to close; returns seconds waited, or -1 on timeout. */
static double wait_closed(struct cl *c)
{
    double t0 = now_s();
    ssize_t r;

    do {
        r = cl_fill(c);
    } while (r > 0);
    return r == 0 || errno == ECONNRESET ? now_s() - t0 : -1;
}

/* ---- client tests ---- */

static void expect_status_or_close(const char *raw, int status);

/* A dynamic route: echoes what the handler was given (see on_form()). */
static void test_route(void)
{
    static const char form[] = "email=a%40b.org&topic=x&topic=y";
    char req[40000], v[128];
    struct resp r;
    struct cl c;
    size_t n;

    snprintf(req, sizeof(req),
             "POST /form?t=abc HTTP/1.1\r\nHost: x\r\nContent-Type: "
             "application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
             sizeof(form) - 1, form);
    CHECK_EQ(get(req, &r), 200);
    CHECK_STR(r.body, "POST /form q=[t=abc] ct=[application/x-www-form-urlencoded] "
                      "client=[127.0.0.1] len=31 body=[email=a%40b.org&topic=x&topic=y]");
    CHECK_STR(hdr(&r, "Cache-Control", v, sizeof(v)), "no-store");
    CHECK_STR(hdr(&r, "Content-Type", v, sizeof(v)), "text/plain; charset=utf-8");
    CHECK_STR(hdr(&r, "X-Test", v, sizeof(v)), "yes");
    free(r.body);
    CHECK_EQ(get("GET /form HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK_STR(r.body, "GET /form q=[] ct=[] client=[127.0.0.1] len=0 body=[]");
    free(r.body);
    CHECK_EQ(get("HEAD /form?x HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK_EQ(r.body_len, 0);
    CHECK(hdr(&r, "Content-Length", v, sizeof(v)) != NULL && atoi(v) > 0);
    free(r.body);
    /* The handler's own status, headers and Cache-Control. */
    CHECK_EQ(get("POST /form?redirect HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r), 303);
    CHECK_STR(hdr(&r, "Location", v, sizeof(v)), "/done?x=1");
    CHECK_STR(hdr(&r, "Cache-Control", v, sizeof(v)), "private");
    CHECK(hdr(&r, "X-Evil", v, sizeof(v)) == NULL);
    free(r.body);
    CHECK_EQ(get("GET /form?badstatus HTTP/1.1\r\nHost: x\r\n\r\n", &r), 500);
    free(r.body);
    /* Other methods: 405 naming the three; documents still take GET and HEAD only. */
    CHECK_EQ(get("PUT /form HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", &r), 405);
    CHECK_STR(hdr(&r, "Allow", v, sizeof(v)), "GET, HEAD, POST");
    free(r.body);
    CHECK_EQ(get("POST /all.atom HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", &r), 405);
    CHECK_STR(hdr(&r, "Allow", v, sizeof(v)), "GET, HEAD");
    free(r.body);
    /* A body of TB_HTTP_BODY_MAX bytes reaches the handler; one byte more is 413. */
    n = (size_t)snprintf(req, sizeof(req),
                         "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
                         TB_HTTP_BODY_MAX);
    memset(req + n, 'b', TB_HTTP_BODY_MAX);
    req[n + TB_HTTP_BODY_MAX] = '\0';
    CHECK_EQ(get(req, &r), 200);
    snprintf(v, sizeof(v), "len=%d ", TB_HTTP_BODY_MAX);
    CHECK(strstr(r.body, v) != NULL);
    free(r.body);
    n = (size_t)snprintf(req, sizeof(req),
                         "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
                         TB_HTTP_BODY_MAX + 1);
    memset(req + n, 'b', TB_HTTP_BODY_MAX + 1);
    req[n + TB_HTTP_BODY_MAX + 1] = '\0';
    expect_status_or_close(req, 413);
    /* The same past the cap in chunks, without a Content-Length. */
    n = (size_t)sprintf(req,
                        "POST /form HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    n += (size_t)sprintf(req + n, "%x\r\n", TB_HTTP_BODY_MAX + 100);
    memset(req + n, 'c', TB_HTTP_BODY_MAX + 100);
    n += TB_HTTP_BODY_MAX + 100;
    sprintf(req + n, "\r\n0\r\n\r\n");
    expect_status_or_close(req, 413);
    /* Malformed requests to a route: the server answers 400 or closes, and lives on. */
    expect_status_or_close("POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400);
    expect_status_or_close("POST /form HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "zz\r\nabc\r\n",
                           400);
    cl_open(&c, 0);
    CHECK_OK(cl_sends(&c, "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"));
    cl_close(&c); /* gone in the middle of the body */
    CHECK_EQ(get("GET /form HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    free(r.body);
}

/* Prefix routes (tb_http_route_prefix()): the longest prefix wins, an exact
 * route wins over both, each takes bodies up to its own cap, request headers
 * reach the handler. */
static void test_prefix_route(void)
{
    static char req[PREFIX_CAP + 512];
    struct resp r;
    size_t n;
    char v[64];

    CHECK_EQ(
        get("GET /cb/abc?hub.mode=x HTTP/1.1\r\nHost: x\r\nX-Hub-Signature: sha1=ab\r\n\r\n", &r),
        200);
    CHECK_STR(r.body, "cb GET /cb/abc q=[hub.mode=x] sig=[sha1=ab] len=0");
    free(r.body);
    CHECK_EQ(get("GET /cb/deep/x HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK_STR(r.body, "deep GET /cb/deep/x q=[] sig=[] len=0");
    free(r.body);
    CHECK_EQ(get("GET /cb/ HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK_STR(r.body, "cb GET /cb/ q=[] sig=[] len=0");
    free(r.body);
    /* The exact route /cb/form wins; /cbx and /cb are not under "/cb/". */
    CHECK_EQ(get("GET /cb/form HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK(strncmp(r.body, "GET /cb/form q=[]", 17) == 0);
    free(r.body);
    CHECK_EQ(get("GET /cbx HTTP/1.1\r\nHost: x\r\n\r\n", &r), 404);
    free(r.body);
    CHECK_EQ(get("GET /cb HTTP/1.1\r\nHost: x\r\n\r\n", &r), 404);
    free(r.body);
    CHECK_EQ(get("DELETE /cb/abc HTTP/1.1\r\nHost: x\r\n\r\n", &r), 405);
    free(r.body);
    /* PREFIX_CAP bytes (four times TB_HTTP_BODY_MAX) reach the prefix route; one more is 413. */
    n = (size_t)snprintf(req, sizeof(req),
                         "POST /cb/abc HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
                         PREFIX_CAP);
    memset(req + n, 'p', PREFIX_CAP);
    req[n + PREFIX_CAP] = '\0';
    CHECK_EQ(get(req, &r), 200);
    snprintf(v, sizeof(v), "len=%d", PREFIX_CAP);
    CHECK(strstr(r.body, v) != NULL);
    free(r.body);
    n = (size_t)snprintf(req, sizeof(req),
                         "POST /cb/abc HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
                         PREFIX_CAP + 1);
    memset(req + n, 'p', PREFIX_CAP + 1);
    req[n + PREFIX_CAP + 1] = '\0';
    expect_status_or_close(req, 413);
    /* The longer prefix has the default cap, and so has the exact route under it. */
    n = (size_t)snprintf(req, sizeof(req),
                         "POST /cb/deep/x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
                         TB_HTTP_BODY_MAX + 1);
    memset(req + n, 'p', TB_HTTP_BODY_MAX + 1);
    req[n + TB_HTTP_BODY_MAX + 1] = '\0';
    expect_status_or_close(req, 413);
    n = (size_t)snprintf(req, sizeof(req),
                         "POST /cb/form HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
                         TB_HTTP_BODY_MAX + 1);
    memset(req + n, 'p', TB_HTTP_BODY_MAX + 1);
    req[n + TB_HTTP_BODY_MAX + 1] = '\0';
    expect_status_or_close(req, 413);
}

#define LINK "<http://x.example/topics/t.html>; rel=\"alternate\"; type=\"text/html\""

static void test_get_head(void)
{
    struct resp r, r2;
    struct cl c;
    char v[256], etag[64];

    CHECK_EQ(get("GET /all.atom HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK_STR(hdr(&r, "Content-Type", v, sizeof(v)), "application/atom+xml; charset=utf-8");
    CHECK_STR(hdr(&r, "Last-Modified", v, sizeof(v)), "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK_STR(hdr(&r, "Cache-Control", v, sizeof(v)), "max-age=300");
    CHECK_STR(hdr(&r, "Vary", v, sizeof(v)), "Accept-Encoding");
    CHECK(hdr(&r, "Content-Encoding", v, sizeof(v)) == NULL);
    CHECK(hdr(&r, "ETag", etag, sizeof(etag)) != NULL && strlen(etag) == 18 && etag[0] == '"');
    CHECK_EQ(r.body_len, sizeof(atom) - 1);
    CHECK(memcmp(r.body, atom, sizeof(atom) - 1) == 0);
    free(r.body);

    /* HEAD: same headers, no body; the next response on the connection parses cleanly. */
    cl_open(&c, 0);
    CHECK_OK(cl_sends(&c, "HEAD /all.atom HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK_OK(cl_response(&c, &r, 1));
    CHECK_EQ(r.status, 200);
    CHECK_STR(hdr(&r, "ETag", v, sizeof(v)), etag);
    CHECK_EQ(strtoul(hdr(&r, "Content-Length", v, sizeof(v)), NULL, 10), sizeof(atom) - 1);
    CHECK_STR(hdr(&r, "Content-Type", v, sizeof(v)), "application/atom+xml; charset=utf-8");
    free(r.body);
    CHECK_OK(cl_sends(&c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK_OK(cl_response(&c, &r2, 0));
    CHECK_EQ(r2.status, 200);
    CHECK_STR(r2.body, "ok\n");
    free(r2.body);
    cl_close(&c);

    CHECK_EQ(get("GET /all.atom?x=1&y HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK_EQ(r.body_len, sizeof(atom) - 1);
    CHECK(hdr(&r, "Link", v, sizeof(v)) == NULL);
    free(r.body);

    /* A feed's Link to its HTML page (tb_http_set_link()), on 200 and 304. */
    CHECK_EQ(get("GET /linked.atom HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK_STR(hdr(&r, "Link", v, sizeof(v)), LINK);
    free(r.body);
}

static int conditional(const char *header)
{
    char req[512];
    struct resp r;
    int status;

    snprintf(req, sizeof(req), "GET /all.atom HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n", header);
    status = get(req, &r);
    if (status == 304)
        CHECK_EQ(r.body_len, 0);
    free(r.body);
    return status;
}

static void test_conditional(void)
{
    struct resp r;
    char etag[64], h[256];

    CHECK_EQ(get("GET /all.atom HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    hdr(&r, "ETag", etag, sizeof(etag));
    free(r.body);
    snprintf(h, sizeof(h), "If-None-Match: %s", etag);
    CHECK_EQ(conditional(h), 304);
    snprintf(h, sizeof(h), "If-None-Match: \"nope\", W/%s", etag);
    CHECK_EQ(conditional(h), 304);
    CHECK_EQ(conditional("If-None-Match: *"), 304);
    CHECK_EQ(conditional("If-None-Match: \"0123456789abcdef\""), 200);
    CHECK_EQ(conditional("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT"), 304);
    CHECK_EQ(conditional("If-Modified-Since: Sat, 05 Nov 1994 08:49:37 GMT"), 200);
    CHECK_EQ(conditional("If-Modified-Since: yesterday"), 200);
    /* If-None-Match wins over If-Modified-Since. */
    CHECK_EQ(
        conditional("If-None-Match: \"x\"\r\nIf-Modified-Since: Sun, 06 Nov 2094 08:49:37 GMT"),
        200);
}

static void test_gzip(void)
{
    struct resp r;
    char v[128], out[4096];
    z_stream z;

    CHECK_EQ(
        get("GET /all.atom HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br, gzip;q=0.5\r\n\r\n", &r),
        200);
    CHECK_STR(hdr(&r, "Content-Encoding", v, sizeof(v)), "gzip");
    CHECK_STR(hdr(&r, "Vary", v, sizeof(v)), "Accept-Encoding");
    CHECK(hdr(&r, "ETag", v, sizeof(v)) != NULL && strstr(v, "-gz\"") != NULL);
    CHECK(r.body_len > 0 && r.body_len < sizeof(atom) - 1);
    memset(&z, 0, sizeof(z));
    CHECK_EQ(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)r.body;
    z.avail_in = (uInt)r.body_len;
    z.next_out = (Bytef *)out;
    z.avail_out = sizeof(out);
    CHECK_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
    CHECK_EQ(z.total_out, sizeof(atom) - 1);
    CHECK(memcmp(out, atom, sizeof(atom) - 1) == 0);
    inflateEnd(&z);
    free(r.body);

    CHECK_EQ(get("GET /all.atom HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip;q=0\r\n\r\n", &r),
             200);
    CHECK(hdr(&r, "Content-Encoding", v, sizeof(v)) == NULL);
    CHECK_EQ(r.body_len, sizeof(atom) - 1);
    free(r.body);
    CHECK_EQ(get("GET /all.atom HTTP/1.1\r\nHost: x\r\nAccept-Encoding: *\r\n\r\n", &r), 200);
    CHECK_STR(hdr(&r, "Content-Encoding", v, sizeof(v)), "gzip");
    free(r.body);
    /* The gzip ETag also validates. */
    CHECK_EQ(get("GET /all.atom HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", &r), 200);
    hdr(&r, "ETag", v, sizeof(v));
    free(r.body);
    {
        char h[256];
        snprintf(h, sizeof(h), "If-None-Match: %s", v);
        CHECK_EQ(conditional(h), 304);
    }
}

static void test_errors(void)
{
    static const char *const missing[] = {
        "GET /nope HTTP/1.1\r\n",
        "GET /../etc/passwd HTTP/1.1\r\n",
        "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n",
        "GET /all.atom%00 HTTP/1.1\r\n",
        "GET /all.atom%00.txt HTTP/1.1\r\n",
        "GET /topics/..%2f..%2fetc%2fpasswd HTTP/1.1\r\n",
        "GET / HTTP/1.1\r\n",
        "GET //etc/passwd HTTP/1.1\r\n",
    };
    static const char *const methods[] = {"POST", "DELETE", "PUT", "OPTIONS", "FOO"};
    char req[256], v[64];
    struct resp r;
    size_t i;

    for (i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        snprintf(req, sizeof(req), "%sHost: x\r\n\r\n", missing[i]);
        CHECK_EQ(get(req, &r), 404);
        CHECK_STR(hdr(&r, "Content-Type", v, sizeof(v)), "text/plain; charset=utf-8");
        free(r.body);
    }
    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        snprintf(req, sizeof(req),
                 "%s /all.atom HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", methods[i]);
        CHECK_EQ(get(req, &r), 405);
        CHECK_STR(hdr(&r, "Allow", v, sizeof(v)), "GET, HEAD");
        CHECK_STR(hdr(&r, "Content-Type", v, sizeof(v)), "text/plain; charset=utf-8");
        free(r.body);
    }
}

/*
 * Sends raw bytes (len 0: a string); the server must answer `status` and
 * close. NULL status: a 4xx or nothing, for requests so big that the close
 * may reset the connection before the client reads the answer.
 */
static void expect_rejected(const char *raw, size_t len, const char *status)
{
    struct cl c;

    if (len == 0)
        len = strlen(raw);
    cl_open(&c, 0);
    cl_send(&c, raw, len); /* may fail once the server has closed */
    CHECK(wait_closed(&c) >= 0);
    if (status != NULL)
        CHECK(c.len > 0 && strncmp(c.in, status, strlen(status)) == 0);
    else
        CHECK(c.len == 0 || strncmp(c.in, "HTTP/1.1 4", 10) == 0);
    cl_close(&c);
}

/* Sends raw; the answer must be `status`, or the connection closed without one. */
static void expect_status_or_close(const char *raw, int status)
{
    struct cl c;
    char want[32];

    snprintf(want, sizeof(want), "HTTP/1.1 %d ", status);
    cl_open(&c, 0);
    cl_send(&c, raw, strlen(raw));
    shutdown(c.fd, SHUT_WR);
    CHECK(wait_closed(&c) >= 0);
    if (c.len > 0 && strncmp(c.in, want, strlen(want)) != 0)
        fprintf(stderr, "got: %.40s\n", c.in);
    CHECK(c.len == 0 || strncmp(c.in, want, strlen(want)) == 0);
    cl_close(&c);
}

static void test_malformed(void)
{
    static const char nul_path[] = "GET /all\0.atom HTTP/1.1\r\nHost: x\r\n\r\n";
    char *huge;
    size_t i, n;

    expect_rejected("GARBAGE\r\n\r\n", 0, "HTTP/1.1 400 ");
    expect_rejected("GET /all.atom HTTP/9.9 extra\r\n\r\n", 0, "HTTP/1.1 400 ");
    expect_rejected("GET\r\n\r\n", 0, "HTTP/1.1 400 ");
    expect_rejected(nul_path, sizeof(nul_path) - 1, "HTTP/1.1 400 ");
    expect_rejected("GET /all.atom HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 0,
                    "HTTP/1.1 413 ");
    /* 150 header lines (h2o allows 100), then one 600 KB header. */
    huge = malloc(700 * 1024);
    n = (size_t)sprintf(huge, "GET /all.atom HTTP/1.1\r\n");
    for (i = 0; i < 150; i++)
        n += (size_t)sprintf(huge + n, "X-%zu: y\r\n", i);
    memcpy(huge + n, "\r\n", 2);
    expect_rejected(huge, n + 2, "HTTP/1.1 400 ");
    n = (size_t)sprintf(huge, "GET /all.atom HTTP/1.1\r\nX: ");
    memset(huge + n, 'a', 600 * 1024);
    n += 600 * 1024;
    memcpy(huge + n, "\r\n\r\n", 4);
    expect_rejected(huge, n + 4, NULL);
    free(huge);
}

static void test_pipelining(void)
{
    static const char three[] = "GET /all.atom HTTP/1.1\r\nHost: x\r\n\r\n"
                                "HEAD /all.atom HTTP/1.1\r\nHost: x\r\n\r\n"
                                "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    struct resp r;
    struct cl c;

    cl_open(&c, 0);
    CHECK_OK(cl_send(&c, three, sizeof(three) - 1));
    CHECK_OK(cl_response(&c, &r, 0));
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.body_len, sizeof(atom) - 1);
    free(r.body);
    CHECK_OK(cl_response(&c, &r, 1));
    CHECK_EQ(r.status, 200);
    free(r.body);
    CHECK_OK(cl_response(&c, &r, 0));
    CHECK_EQ(r.status, 404);
    free(r.body);
    cl_close(&c);
}

/*
 * Bodies larger than the socket buffer, back to back on one connection
 * through a small receive buffer, then a large gzip form.
 */
static void test_big_pipelined(void)
{
    static const char three[] = "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                                "GET /text.bin HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"
                                "GET /text.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    struct resp r;
    struct cl c;
    char v[64];
    unsigned char *out = malloc(TEXT);
    z_stream z;

    cl_open(&c, 16384);
    CHECK_OK(cl_send(&c, three, sizeof(three) - 1));
    CHECK_OK(cl_response(&c, &r, 0));
    CHECK(r.status == 200 && r.body_len == BIG && memcmp(r.body, big_old, BIG) == 0);
    free(r.body);
    CHECK_OK(cl_response(&c, &r, 0));
    CHECK_EQ(r.status, 200);
    CHECK_STR(hdr(&r, "Content-Encoding", v, sizeof(v)), "gzip");
    CHECK(r.body_len > 64 * 1024 && r.body_len < TEXT);
    memset(&z, 0, sizeof(z));
    CHECK_EQ(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)r.body;
    z.avail_in = (uInt)r.body_len;
    z.next_out = out;
    z.avail_out = TEXT;
    CHECK_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
    CHECK(z.total_out == TEXT && memcmp(out, text, TEXT) == 0);
    inflateEnd(&z);
    free(r.body);
    CHECK_OK(cl_response(&c, &r, 0));
    CHECK(r.status == 200 && r.body_len == TEXT && memcmp(r.body, text, TEXT) == 0);
    free(r.body);
    free(out);
    cl_close(&c);
}

/* A gzip form given to tb_http_put_gz() is served byte for byte (small and
 * large); the plain body stays the body given. */
static void test_given_gzip(void)
{
    struct resp r;
    char v[64];

    loop_call(do_put_gz);
    CHECK_EQ(get("GET /pre.atom HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", &r), 200);
    CHECK_STR(hdr(&r, "Content-Encoding", v, sizeof(v)), "gzip");
    CHECK(r.body_len == pre_small.len && memcmp(r.body, pre_small.data, pre_small.len) == 0);
    free(r.body);
    CHECK_EQ(get("GET /pre.bin HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", &r), 200);
    CHECK_STR(hdr(&r, "Content-Encoding", v, sizeof(v)), "gzip");
    CHECK(r.body_len == pre_big.len && memcmp(r.body, pre_big.data, pre_big.len) == 0);
    free(r.body);
    CHECK_EQ(get("GET /pre.bin HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK(r.body_len == TEXT && memcmp(r.body, text, TEXT) == 0);
    free(r.body);
    CHECK_EQ(get("GET /pre.tiny HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", &r), 200);
    CHECK(hdr(&r, "Content-Encoding", v, sizeof(v)) == NULL);
    CHECK(r.body_len == 1 && r.body[0] == 'x');
    free(r.body);
    loop_call(do_remove_gz);
    tb_buf_free(&pre_small);
    tb_buf_free(&pre_big);
}

/* HTTP/1.0: the server closes after the body, which must be complete. */
static void test_http10(void)
{
    struct resp r;
    struct cl c;
    char v[64];

    cl_open(&c, 0);
    CHECK_OK(cl_sends(&c, "GET /all.atom HTTP/1.0\r\n\r\n"));
    CHECK_OK(cl_response(&c, &r, 0));
    CHECK_EQ(r.status, 200);
    CHECK_STR(hdr(&r, "Connection", v, sizeof(v)), "close");
    CHECK(r.body_len == sizeof(atom) - 1 && memcmp(r.body, atom, r.body_len) == 0);
    free(r.body);
    CHECK(wait_closed(&c) >= 0);
    CHECK_EQ(c.len, 0);
    cl_close(&c);
}

/*
 * Replace a document while a slow client is still reading it. The client
 * reads slowly until the loop swaps, pausing at a quarter of the body if
 * the swap (which compresses 8 MB on the loop) has not happened yet, so
 * the swap happens mid-response however busy the machine; the client must
 * still get the old bytes.
 */
static void test_swap(void)
{
    static const char req[] = "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    struct resp r;
    struct cl c;
    size_t at_swap = 0;
    char *end;

    cl_open(&c, 16384);
    CHECK_OK(cl_send(&c, req, sizeof(req) - 1));
    while (c.in == NULL || (end = strstr(c.in, "\r\n\r\n")) == NULL)
        CHECK(cl_fill(&c) > 0);
    cl_consume(&c, (size_t)(end - c.in) + 4);
    loop_start(do_swap);
    while (c.len < BIG) {
        if (!swapped) {
            usleep(2000);
            if (c.len >= BIG / 4)
                continue;
        } else if (at_swap == 0) {
            at_swap = c.len + 1;
        }
        if (cl_fill(&c) <= 0)
            break;
    }
    loop_wait();
    CHECK(at_swap > 0 && at_swap < BIG);
    CHECK_EQ(c.len, BIG);
    CHECK(c.len == BIG && memcmp(c.in, big_old, BIG) == 0);
    cl_close(&c);

    CHECK_EQ(get(req, &r), 200);
    CHECK(r.body_len == BIG && memcmp(r.body, big_new, BIG) == 0);
    free(r.body);
}

/* The value of counter `name` in /metrics (its "name value" line), or -1. */
static long long metric(const char *name)
{
    struct resp r;
    char line[128], *p;
    long long v = -1;

    if (get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r) != 200)
        return -1;
    snprintf(line, sizeof(line), "\n%s ", name);
    p = strstr(r.body, line);
    if (p != NULL)
        v = strtoll(p + strlen(line), NULL, 10);
    free(r.body);
    return v;
}

/*
 * A client on a slow link: it reads the first slow_bytes of the body chunk
 * bytes at a time with a pause of pause_us after each, then the rest at
 * full speed. Returns the body bytes received before the server closed.
 */
static size_t slow_read(size_t chunk, unsigned pause_us, size_t slow_bytes)
{
    static const char req[] = "GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    struct cl c;
    char buf[65536], *end = NULL;
    size_t body;
    ssize_t r;

    cl_open(&c, 16384);
    CHECK_OK(cl_sends(&c, req));
    while (c.in == NULL || (end = strstr(c.in, "\r\n\r\n")) == NULL) {
        if (cl_fill(&c) <= 0)
            break;
    }
    body = end != NULL ? c.len - (size_t)(end + 4 - c.in) : 0;
    do {
        if (body < slow_bytes)
            usleep(pause_us);
        r = recv(c.fd, buf, body < slow_bytes ? chunk : sizeof(buf), 0);
        if (r > 0)
            body += (size_t)r;
    } while (r > 0);
    cl_close(&c);
    return body;
}

/*
 * A slow but steady reader (250 KB/s for its first 640 KB, 2.5 s of pauses
 * against the 1 s deadline) gets the whole body. The server's socket buffer
 * holds megabytes on loopback, and libuv's write queue moves only when a
 * third of it has drained: a rule watching that queue cut this client.
 */
static void test_slow_reader(void)
{
    long long stalled = metric("tributary_http_connections_stalled_total");
    double t0 = now_s();
    size_t got = slow_read(4096, 16000, 640 * 1024);

    fprintf(stderr, "slow reader: %zu bytes in %.1f s\n", got, now_s() - t0);
    CHECK_EQ(got, BIG);
    CHECK_EQ(metric("tributary_http_connections_stalled_total"), stalled);
}

/*
 * The loop is busy for 2.5 s (more than twice the deadline) while a client
 * reads a large body steadily: the client, which took what the kernel had
 * while it could, is not cut for the loop's delay.
 */
static void test_busy_loop(void)
{
    long long stalled = metric("tributary_http_connections_stalled_total");
    struct cl c;
    char buf[4096], *end;
    size_t body;
    ssize_t r;
    int started = 0;

    cl_open(&c, 16384);
    CHECK_OK(cl_sends(&c, "GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    while (c.in == NULL || (end = strstr(c.in, "\r\n\r\n")) == NULL) {
        if (cl_fill(&c) <= 0)
            break;
    }
    body = c.in != NULL && end != NULL ? c.len - (size_t)(end + 4 - c.in) : 0;
    do {
        usleep(1000);
        r = recv(c.fd, buf, sizeof(buf), 0);
        if (r > 0)
            body += (size_t)r;
        if (!started && body > BIG / 8) {
            loop_start(do_block);
            started = 1;
        }
    } while (r > 0);
    loop_wait();
    cl_close(&c);
    CHECK_EQ(body, BIG);
    CHECK_EQ(metric("tributary_http_connections_stalled_total"), stalled);
}

/*
 * The whole machine stalls mid-response: the client stops reading (300 ms,
 * so that a sweep sees it idle), then waits while the loop is busy for
 * 2.5 s, then reads on. It is not cut: the late sweep counts as one 250 ms
 * period; counting the whole delay, as the loop's clock does, would.
 */
static void test_machine_stall(void)
{
    long long stalled = metric("tributary_http_connections_stalled_total");
    struct cl c;
    char buf[65536], *end = NULL;
    size_t body;
    ssize_t r;

    cl_open(&c, 16384);
    CHECK_OK(cl_sends(&c, "GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    while (c.in == NULL || (end = strstr(c.in, "\r\n\r\n")) == NULL) {
        if (cl_fill(&c) <= 0)
            break;
    }
    body = end != NULL ? c.len - (size_t)(end + 4 - c.in) : 0;
    do {
        r = recv(c.fd, buf, sizeof(buf), 0);
        body += r > 0 ? (size_t)r : 0;
    } while (r > 0 && body < BIG / 8);
    usleep(300 * 1000);
    loop_call(do_block);
    do {
        r = recv(c.fd, buf, sizeof(buf), 0);
        body += r > 0 ? (size_t)r : 0;
    } while (r > 0);
    cl_close(&c);
    CHECK_EQ(body, BIG);
    CHECK_EQ(metric("tributary_http_connections_stalled_total"), stalled);
}

/*
 * Waits until counter `name` reaches `value`: polled, with a deadline far
 * above the one under test, so that a busy machine only makes it slower.
 * Returns whether it did.
 */
static int wait_metric(const char *name, long long value)
{
    double t0 = now_s();

    while (metric(name) < value) {
        if (now_s() - t0 > 60)
            return 0;
        usleep(100 * 1000);
    }
    return 1;
}

/* A client that stops reading mid-response is cut after the deadline. */
static void test_stalled_reader(void)
{
    long long stalled = metric("tributary_http_connections_stalled_total");
    struct cl c;

    cl_open(&c, 16384);
    CHECK_OK(cl_sends(&c, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK(wait_metric("tributary_http_connections_stalled_total", stalled + 1));
    CHECK(wait_closed(&c) >= 0);
    CHECK(c.len > 0 && c.len < BIG);
    cl_close(&c);
    CHECK_EQ(metric("tributary_http_connections_stalled_total"), stalled + 1);
}

/*
 * A client that trickles (64 bytes every 20 ms: 3.2 KB/s, under
 * TB_HTTP_STALL_MIN_BYTES per 1 s deadline) is cut too; once the server
 * says so, it reads what is left: the body is short.
 */
static void test_drip_reader(void)
{
    long long stalled = metric("tributary_http_connections_stalled_total");
    const char *name = "tributary_http_connections_stalled_total";
    double t0 = now_s();
    struct cl c;
    char buf[64];
    ssize_t r = 1;

    cl_open(&c, 16384);
    CHECK_OK(cl_sends(&c, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
    while (r > 0 && metric(name) == stalled && now_s() - t0 < 60) {
        for (int i = 0; i < 10 && r > 0; i++) {
            usleep(20 * 1000);
            r = recv(c.fd, buf, sizeof(buf), 0);
        }
    }
    CHECK_EQ(metric(name), stalled + 1);
    CHECK(wait_closed(&c) >= 0);
    CHECK(c.len < BIG);
    cl_close(&c);
}

/*
 * A client sending its head a byte every 300 ms, for as long as it takes:
 * the request deadline (1 s) is not extended by each byte, so the server
 * closes the connection, and not before the deadline. Polled until then
 * (60 s at most): a busy machine makes it later, never wrong.
 */
static void test_slowloris(void)
{
    static const char head[] = "GET /all.atom HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    struct cl c;
    double t0 = now_s(), waited;

    cl_open(&c, 0);
    CHECK_OK(cl_send(&c, head, sizeof(head) - 1));
    while (now_s() - t0 < 60) {
        usleep(300 * 1000);
        if (send(c.fd, "a", 1, MSG_NOSIGNAL) != 1)
            break;
    }
    waited = wait_closed(&c);
    CHECK(waited >= 0);
    CHECK(c.len == 0);
    CHECK(now_s() - t0 < 60);
    CHECK(now_s() - t0 > 0.8);
    cl_close(&c);

    /* An idle keep-alive connection is closed by the same deadline (wait_closed gives up at 20 s).
     */
    cl_open(&c, 0);
    t0 = now_s();
    CHECK(wait_closed(&c) >= 0);
    CHECK(now_s() - t0 > 0.8);
    cl_close(&c);
}

static void test_health_metrics(void)
{
    struct resp r;

    CHECK_EQ(get("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    free(r.body);
    healthy = 0;
    CHECK_EQ(get("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r), 503);
    free(r.body);
    healthy = 1;
    CHECK_EQ(get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK(strstr(r.body, "tributary_http_responses_total{code=\"2xx\"} ") != NULL);
    CHECK(strstr(r.body, "tributary_http_responses_total{code=\"4xx\"} ") != NULL);
    /* The 503 above and test_route()'s 500. */
    CHECK(strstr(r.body, "tributary_http_responses_total{code=\"5xx\"} 2\n") != NULL);
    CHECK(strstr(r.body, "tributary_http_documents 5\n") != NULL);
    CHECK(strstr(r.body, "tributary_http_body_bytes_total ") != NULL);
    CHECK(strstr(r.body, "tributary_test_gauge 42\n") != NULL);
    free(r.body);
}

static void test_remove(void)
{
    struct resp r;

    CHECK_EQ(get("GET /gone.atom HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    free(r.body);
    loop_call(do_remove);
    CHECK_EQ(get("GET /gone.atom HTTP/1.1\r\nHost: x\r\n\r\n", &r), 404);
    free(r.body);
}

/* Opens c and has it start a /big.bin response that it then stops reading. */
static void cl_busy(struct cl *c)
{
    cl_open(c, 16384);
    CHECK_OK(cl_sends(c, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK(cl_fill(c) > 0);
}

static void do_nothing(void)
{
}

/*
 * The connection counters, read in one /metrics request once the loop has
 * handled the clients' closes (two loop turns after them: a close reaches
 * the server at once on loopback, and h2o's close callbacks run at the end
 * of the turn that saw it), so that the request neither evicts nor is
 * refused in place of a connection closed a moment ago. Returns 0 or -1.
 */
static int conn_counters(long long *rejected, long long *evicted, long long *stalled)
{
    loop_call(do_nothing);
    loop_call(do_nothing);
    *rejected = metric("tributary_http_connections_rejected_total");
    *evicted = metric("tributary_http_connections_evicted_total");
    *stalled = metric("tributary_http_connections_stalled_total");
    return *rejected >= 0 && *evicted >= 0 && *stalled >= 0 ? 0 : -1;
}

/*
 * One round of test_conn_cap(). Returns 0 when a busy reader was cut as
 * stalled meanwhile (the machine was too slow for the round to show
 * anything), else 1, its checks made.
 */
static int conn_cap_round(void)
{
    static const char health[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    long long rejected, evicted, stalled, rejected2, evicted2, stalled2;
    struct cl c[MAX_CONNS + 2];
    struct resp r;
    int i, served, first_closed, refused;

    CHECK_OK(conn_counters(&rejected, &evicted, &stalled));
    cl_open(&c[0], 0);
    CHECK_OK(cl_sends(&c[0], health));
    CHECK_OK(cl_response(&c[0], &r, 0));
    free(r.body);
    for (i = 1; i < MAX_CONNS; i++)
        cl_busy(&c[i]);
    /* c[0] is the oldest idle connection: the newcomer takes its place. */
    cl_open(&c[MAX_CONNS], 0);
    served = cl_sends(&c[MAX_CONNS], health) == 0 && cl_response(&c[MAX_CONNS], &r, 0) == 0;
    if (served) {
        served = r.status == 200;
        free(r.body);
    }
    first_closed = wait_closed(&c[0]) >= 0;
    cl_close(&c[MAX_CONNS]);
    cl_busy(&c[MAX_CONNS]);
    /* Now every connection is busy: the next one is refused. */
    cl_open(&c[MAX_CONNS + 1], 0);
    refused = wait_closed(&c[MAX_CONNS + 1]) >= 0 && c[MAX_CONNS + 1].len == 0;
    for (i = 0; i <= MAX_CONNS + 1; i++)
        cl_close(&c[i]);
    CHECK_OK(conn_counters(&rejected2, &evicted2, &stalled2));
    if (stalled2 != stalled)
        return 0;
    CHECK(served);
    CHECK(first_closed);
    CHECK(refused);
    CHECK_EQ(rejected2, rejected + 1);
    CHECK_EQ(evicted2, evicted + 1);
    return 1;
}

/*
 * At the cap, a new connection shuts down the oldest idle one and is served;
 * when every connection is busy writing, the new one is closed at once. A
 * round must end before the busy readers are cut as stalled (1 s): on a
 * machine too busy for that, the round is run again, three times at most.
 */
static void test_conn_cap(void)
{
    int round = 0;

    while (round < 3 && !conn_cap_round())
        round++;
    CHECK(round < 3);
}

static int misses;        /* calls of on_miss() */
static size_t cached_max; /* most immutable documents held, seen by on_miss() */

/* Documents put on demand by the miss callback: served like any other,
 * the immutable ones kept in memory up to TB_HTTP_IMMUTABLE_KEEP (the
 * least recently served dropped, put again on demand); a redirect; a 404. */
static void test_miss(void)
{
    char req[128], v[128];
    struct resp r;
    int i, before;

    CHECK_EQ(get("GET /page/1 HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK_STR(r.body, "/page/1");
    CHECK_STR(hdr(&r, "Cache-Control", v, sizeof(v)), "max-age=31536000, immutable");
    CHECK(hdr(&r, "ETag", v, sizeof(v)) != NULL);
    free(r.body);
    CHECK_EQ(misses, 1);
    CHECK_EQ(get("GET /page/1 HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    free(r.body);
    CHECK_EQ(misses, 1); /* held */
    for (i = 2; i <= TB_HTTP_IMMUTABLE_KEEP + 10; i++) {
        snprintf(req, sizeof(req), "GET /page/%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
        CHECK_EQ(get(req, &r), 200);
        free(r.body);
    }
    CHECK_EQ(misses, TB_HTTP_IMMUTABLE_KEEP + 10);
    CHECK(cached_max <= TB_HTTP_IMMUTABLE_KEEP);
    CHECK(cached_max >= TB_HTTP_IMMUTABLE_KEEP - 1);
    /* The newest are held; page 1, the least recently served, was dropped. */
    before = misses;
    snprintf(req, sizeof(req), "GET /page/%d HTTP/1.1\r\nHost: x\r\n\r\n",
             TB_HTTP_IMMUTABLE_KEEP + 10);
    CHECK_EQ(get(req, &r), 200);
    free(r.body);
    CHECK_EQ(misses, before);
    CHECK_EQ(get("GET /page/1 HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK_STR(r.body, "/page/1");
    free(r.body);
    CHECK_EQ(misses, before + 1);
    /* Published documents are not the callback's. */
    CHECK_EQ(get("GET /all.atom HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    free(r.body);
    CHECK_EQ(misses, before + 1);
    CHECK_EQ(get("GET /later HTTP/1.1\r\nHost: x\r\n\r\n", &r), 302);
    CHECK_STR(hdr(&r, "Location", v, sizeof(v)), "http://x.example/now");
    CHECK_STR(hdr(&r, "Cache-Control", v, sizeof(v)), "no-store");
    free(r.body);
    CHECK_EQ(get("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", &r), 404);
    free(r.body);
}

static void client(void *arg)
{
    struct cl idle;

    test_get_head();
    test_conditional();
    test_gzip();
    test_given_gzip();
    test_errors();
    test_malformed();
    test_route();
    test_prefix_route();
    test_pipelining();
    test_big_pipelined();
    test_http10();
    test_swap();
    test_slow_reader();
    test_busy_loop();
    test_machine_stall();
    test_stalled_reader();
    test_drip_reader();
    test_health_metrics();
    test_remove();
    test_conn_cap();
    test_slowloris();
    test_miss();

    /* tb_http_free closes idle connections at once, not after the deadline. */
    cl_open(&idle, 0);
    usleep(50 * 1000);
    loop_call(do_stop);
    CHECK(wait_closed(&idle) >= 0);
    cl_close(&idle);
}

/* ---- loop side ---- */

/* The miss callback: /page/N is put (immutable) when asked for, /later
 * redirects, anything else stays 404. */
static int on_miss(const char *path, char *loc, size_t loclen, void *data)
{
    (void)data;
    if (strncmp(path, "/page/", 6) == 0)
        misses++;
    if (tb_http_cached(srv) > cached_max)
        cached_max = tb_http_cached(srv);
    if (strcmp(path, "/later") == 0) {
        snprintf(loc, loclen, "http://x.example/now");
        return TB_HTTP_MISS_REDIRECT;
    }
    if (strncmp(path, "/page/", 6) != 0)
        return -ENOENT;
    return tb_http_put(srv, path, "text/plain", path, strlen(path), MTIME, TB_HTTP_IMMUTABLE);
}

static int health(void *data)
{
    return healthy;
}

/* The route /form: echoes the request as text; ?redirect answers 303 with its own
 * Cache-Control and tries a header with CR/LF; ?badstatus answers an impossible status. */
static void on_form(const struct tb_http_req *req, struct tb_http_res *res, void *data)
{
    res->type = "text/plain; charset=utf-8";
    if (strcmp(req->query, "redirect") == 0) {
        res->status = 303;
        CHECK_OK(tb_http_res_header(res, "Location", "/done?x=1"));
        CHECK_OK(tb_http_res_header(res, "Cache-Control", "private"));
        CHECK_EQ(tb_http_res_header(res, "X-Evil", "a\r\nX-Injected: 1"), -EINVAL);
        CHECK_EQ(tb_http_res_header(res, "X Evil", "a"), -EINVAL);
        CHECK_EQ(tb_http_res_header(res, "X-Evil", ""), -EINVAL);
        return;
    }
    if (strcmp(req->query, "badstatus") == 0) {
        res->status = 1000;
        return;
    }
    CHECK_EQ(strlen(req->body), req->body_len);
    CHECK_OK(tb_http_res_header(res, "X-Test", "yes"));
    CHECK_OK(tb_buf_addf(&res->body, "%s %s q=[%s] ct=[%s] client=[%s] len=%zu body=[%.64s]",
                         req->method, req->path, req->query, req->content_type, req->client,
                         req->body_len, req->body));
}

/* The prefix routes /cb/ and /cb/deep/: name, method, path, query, X-Hub-Signature, body length. */
static void on_prefix(const struct tb_http_req *req, struct tb_http_res *res, void *data)
{
    const char *sig = tb_http_req_header(req, "x-hub-SIGNATURE");

    res->type = "text/plain; charset=utf-8";
    CHECK_EQ(strlen(req->body), req->body_len);
    CHECK(tb_http_req_header(req, "X-Absent") == NULL);
    CHECK_OK(tb_buf_addf(&res->body, "%s %s %s q=[%s] sig=[%s] len=%zu", (const char *)data,
                         req->method, req->path, req->query, sig ? sig : "", req->body_len));
}

static void metrics(struct tb_buf *out, void *data)
{
    if (tb_buf_adds(out, "tributary_test_gauge 42\n") != 0)
        abort();
}

static void test_api(void)
{
    struct tb_http_opts o = {"127.0.0.1:0", 0, 0};
    struct tb_http *h = NULL;
    char err[256] = "";

    o.listen = "nonsense";
    CHECK_EQ(tb_http_new(&loop, &o, &h, err, sizeof(err)), -EINVAL);
    CHECK(h == NULL && strstr(err, "nonsense") != NULL);
    o.listen = "127.0.0.1:99999";
    CHECK_EQ(tb_http_new(&loop, &o, &h, err, sizeof(err)), -EINVAL);
    o.listen = "[::1:80";
    CHECK(tb_http_new(&loop, &o, &h, err, sizeof(err)) < 0);
    o.listen = "127.0.0.1:0";
    CHECK_OK(tb_http_new(&loop, &o, &h, err, sizeof(err)));
    CHECK(tb_http_port(h) > 0);
    CHECK_EQ(tb_http_put(h, "no-slash", "text/plain", "x", 1, 0, 0), -EINVAL);
    CHECK_EQ(tb_http_put(h, "/a b", "text/plain", "x", 1, 0, 0), -EINVAL);
    CHECK_EQ(tb_http_put(h, "/a", "text/plain\r\nX: y", "x", 1, 0, 0), -EINVAL);
    CHECK_EQ(tb_http_put(h, "/a", "text/plain", NULL, 1, 0, 0), -EINVAL);
    CHECK_OK(tb_http_put(h, "/a", "text/plain", NULL, 0, 0, 0));
    CHECK_OK(tb_http_put(h, "/a", "text/plain", "x", 1, 0, 0));
    CHECK_EQ(tb_http_put_gz(h, "/a b", "text/plain", "x", 1, "gz", 2, 0, 0), -EINVAL);
    CHECK_OK(tb_http_put_gz(h, "/a", "text/plain", "x", 1, NULL, 0, 0, 0));
    CHECK_EQ(tb_http_set_link(h, "/nope", "<x>"), -ENOENT);
    CHECK_EQ(tb_http_set_link(h, "/a", "<x>\r\nX: y"), -EINVAL);
    CHECK_OK(tb_http_set_link(h, "/a", "<x>; rel=\"alternate\""));
    CHECK_EQ(tb_http_route(h, "form", on_form, NULL), -EINVAL);
    CHECK_EQ(tb_http_route(h, "/form?x", on_form, NULL), -EINVAL);
    CHECK_EQ(tb_http_route(h, "/form", NULL, NULL), -ENOENT);
    CHECK_OK(tb_http_route(h, "/form", on_form, NULL));
    CHECK_OK(tb_http_route(h, "/form", on_form, &h));
    CHECK_OK(tb_http_route(h, "/other", on_form, NULL));
    CHECK_OK(tb_http_route(h, "/form", NULL, NULL));
    CHECK_EQ(tb_http_route(h, "/form", NULL, NULL), -ENOENT);
    CHECK_EQ(tb_http_route_prefix(h, "/cb", on_prefix, "cb", 0), -EINVAL);
    CHECK_EQ(tb_http_route_prefix(h, "cb/", on_prefix, "cb", 0), -EINVAL);
    CHECK_EQ(tb_http_route_prefix(h, "/cb/", on_prefix, "cb", TB_HTTP_ROUTE_BODY_MAX + 1), -EINVAL);
    CHECK_EQ(tb_http_route_prefix(h, "/cb/", NULL, NULL, 0), -ENOENT);
    CHECK_OK(tb_http_route_prefix(h, "/cb/", on_prefix, "cb", TB_HTTP_ROUTE_BODY_MAX));
    CHECK_OK(tb_http_route_prefix(h, "/cb/", on_prefix, "cb", 0));
    CHECK_OK(tb_http_route_prefix(h, "/cb/x/", on_prefix, "x", 0));
    CHECK_OK(tb_http_route_prefix(h, "/cb/", NULL, NULL, 0));
    CHECK_EQ(tb_http_route_prefix(h, "/cb/", NULL, NULL, 0), -ENOENT);
    {
        /* The port is taken now. */
        char listen[64];
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", tb_http_port(h));
        o.listen = listen;
        CHECK_EQ(tb_http_new(&loop, &o, &srv, err, sizeof(err)), UV_EADDRINUSE);
    }
    tb_http_free(h, on_done, NULL);
    tb_http_free(NULL, on_done, NULL);
    CHECK_OK(uv_run(&loop, UV_RUN_DEFAULT));
    CHECK_EQ(done_called, 1);
    done_called = 0;
}

int main(void)
{
    struct tb_http_opts o = {"127.0.0.1:0", 1000, MAX_CONNS};
    char err[256];
    uv_thread_t t;
    size_t i;
    uint32_t x;

    CHECK_OK(uv_loop_init(&loop));
    test_api();
    big_old = malloc(BIG);
    big_new = malloc(BIG);
    text = malloc(TEXT);
    for (i = 0, x = 1; i < TEXT; i++) {
        x = x * 1103515245u + 12345u;
        text[i] = (char)('a' + (x >> 16) % 16);
    }
    for (i = 0; i < BIG; i++) {
        big_old[i] = (char)(i * 7 + (i >> 13));
        big_new[i] = (char)(i * 5 + 1);
    }
    CHECK_OK(tb_http_new(&loop, &o, &srv, err, sizeof(err)));
    port = tb_http_port(srv);
    tb_http_set_health(srv, health, NULL);
    tb_http_set_metrics(srv, metrics, NULL);
    CHECK_OK(tb_http_put(srv, "/all.atom", "application/atom+xml; charset=utf-8", atom,
                         sizeof(atom) - 1, MTIME, 300));
    CHECK_OK(tb_http_put(srv, "/gone.atom", "application/atom+xml", atom, 10, MTIME, 0));
    CHECK_OK(tb_http_put(srv, "/big.bin", "application/octet-stream", big_old, BIG, MTIME, 0));
    CHECK_OK(tb_http_put(srv, "/text.bin", "text/plain", text, TEXT, MTIME, 0));
    CHECK_OK(tb_http_put(srv, "/linked.atom", "application/atom+xml", atom, 10, MTIME, 0));
    CHECK_OK(tb_http_set_link(srv, "/linked.atom", LINK));
    CHECK_OK(tb_http_route(srv, "/form", on_form, NULL));
    tb_http_set_miss(srv, on_miss, NULL);
    CHECK_OK(tb_http_route(srv, "/cb/form", on_form, NULL));
    CHECK_OK(tb_http_route_prefix(srv, "/cb/", on_prefix, "cb", PREFIX_CAP));
    CHECK_OK(tb_http_route_prefix(srv, "/cb/deep/", on_prefix, "deep", 0));
    CHECK_OK(uv_async_init(&loop, &call_async, on_call));
    CHECK_OK(uv_sem_init(&call_sem, 0));
    CHECK_OK(uv_thread_create(&t, client, NULL));
    CHECK_OK(uv_run(&loop, UV_RUN_DEFAULT));
    CHECK_OK(uv_thread_join(&t));
    CHECK_EQ(done_called, 1);
    CHECK_OK(uv_loop_close(&loop));
    uv_sem_destroy(&call_sem);
    free(big_old);
    free(big_new);
    free(text);
    CHECK_DONE();
}
