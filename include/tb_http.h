/*
 * tb_http: the daemon's HTTP/1.1 server (libh2o on the caller's libuv loop).
 *
 * Serves documents published with tb_http_put() from memory, plus /healthz,
 * /metrics and the dynamic routes set with tb_http_route() (forms: GET,
 * HEAD and POST), and what the miss callback (tb_http_set_miss()) puts on
 * demand; everything else is 404. Nothing is read from disk here.
 * Documents: GET and HEAD only (405 otherwise), strong ETags, Last-Modified, 304 on
 * If-None-Match / If-Modified-Since, a precomputed gzip form sent when the
 * client accepts it. Every call must be made on the loop's thread.
 *
 * Limits: the request line and headers must arrive within req_timeout_ms of
 * the server starting to wait for them (this is also the keep-alive idle
 * timeout; h2o 2.2 does not reset it on each received byte, so a slowloris
 * client is dropped); at most 100 header lines and about 400 KB of request
 * head (h2o's compiled limits: the connection is closed past them); request
 * bodies above TB_HTTP_BODY_MAX (a prefix route's own cap) are refused with 413; a client that
 * stops reading a response is cut: while a response waits in the write queue, the client must take
 * (have its TCP acknowledge) at least TB_HTTP_STALL_MIN_BYTES in every req_timeout_ms of the loop's
 * time (checked every 250 ms; a late check, when the loop or the machine was busy, counts as 250
 * ms), so a slow link at 2 KB/s is served and a reader that stops or trickles is cut; at most
 * max_conns connections at once: a new connection at the cap shuts down the
 * oldest idle one (no response being written, no request bytes waiting:
 * keep-alive between requests, or a client sending nothing for now), and is
 * closed at once only when every connection is busy. RLIMIT_NOFILE's soft limit is raised to fit
 * max_conns and the memfds (the cap is lowered when the hard limit does not allow it).
 * The gzip form is computed on the loop thread inside tb_http_put(), or given
 * by the caller to tb_http_put_gz().
 */
#ifndef TB_HTTP_H
#define TB_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tb_buf.h"

/** Default deadline for receiving a request (ms). */
#define TB_HTTP_REQ_TIMEOUT_MS 10000

/**
 * Bytes a client reading a response must take in each req_timeout_ms of the
 * loop's time (16 KiB in 10 s by default: 1.6 KB/s) not to be cut as stalled.
 */
#define TB_HTTP_STALL_MIN_BYTES (16 * 1024)

/** Most bytes of a request body (a form); a longer one is refused with 413. */
#define TB_HTTP_BODY_MAX (16 * 1024)

/** Most bytes a prefix route may take as a request body (tb_http_route_prefix()). */
#define TB_HTTP_ROUTE_BODY_MAX (64 * 1024 * 1024)

/** Most bytes of a route's response body. */
#define TB_HTTP_ROUTE_OUT_MAX (1024 * 1024)

/** Default cap on concurrent connections. */
#define TB_HTTP_MAX_CONNS 1024

/** Server options; zero values select the defaults. */
struct tb_http_opts {
    const char *listen;     /* "127.0.0.1:8080", "[::1]:8080", ":8080" (all IPv4); port 0 = any */
    int64_t req_timeout_ms; /* request deadline, default TB_HTTP_REQ_TIMEOUT_MS */
    int max_conns;          /* concurrent connection cap, default TB_HTTP_MAX_CONNS */
};

struct tb_http;

/**
 * Binds and starts listening on `loop`. On success *out is the server (free
 * it with tb_http_free()). Sets SIGPIPE to be ignored if it still has its
 * default action (a client reset must not kill the daemon). Returns 0,
 * -EINVAL for a bad listen address, or a negative libuv error (e.g.
 * UV_EADDRINUSE) with a one-line reason in err.
 */
TB_NODISCARD int tb_http_new(uv_loop_t *loop, const struct tb_http_opts *o, struct tb_http **out,
                             char *err, size_t errlen);

/** The bound TCP port (useful after listening on port 0), or a negative libuv error. */
int tb_http_port(struct tb_http *h);

/** A max_age of at least this (a year) is sent as "max-age=31536000, immutable"
 *  (RFC 8246): for documents that never change, such as archive pages. */
#define TB_HTTP_IMMUTABLE 31536000

/**
 * Most immutable documents (put with max_age >= TB_HTTP_IMMUTABLE) kept in
 * memory: beyond it the least recently served one is dropped (the miss
 * callback puts it again when asked for), so memory does not grow with an
 * archive of thousands of pages.
 */
#define TB_HTTP_IMMUTABLE_KEEP 64

/**
 * Publishes (or replaces) the document at `path` (starting with '/', e.g.
 * "/topics/x.atom"). Copies `data`, computes a strong ETag (hash of the
 * bytes) and a gzip form once. Last-Modified = `mtime` (epoch seconds),
 * Cache-Control: max-age=`max_age`. `content_type` is sent as given.
 * Responses still being sent keep the old bytes alive until they finish.
 * Returns 0, -EINVAL (bad path or type) or -ENOMEM.
 */
TB_NODISCARD int tb_http_put(struct tb_http *h, const char *path, const char *content_type,
                             const void *data, size_t len, int64_t mtime, int max_age);

/**
 * As tb_http_put(), with the gzip form given rather than computed: gz[0..gzlen)
 * must be the gzip (tb_gzip()) of data; it is copied and sent as is to clients
 * that accept gzip, unless it is no smaller than data. gz NULL: as tb_http_put().
 * For a publisher that also writes the .gz file, so each document is
 * compressed once.
 */
TB_NODISCARD int tb_http_put_gz(struct tb_http *h, const char *path, const char *content_type,
                                const void *data, size_t len, const void *gz, size_t gzlen,
                                int64_t mtime, int max_age);

/**
 * The document published at `path`: the hash of its bytes (tb_fnv1a, the
 * ETag's) into *hash and its Last-Modified (epoch s) into *mtime, so a
 * publisher can keep the moment of bytes that did not change. 0, or
 * -ENOENT when nothing is published there.
 */
int tb_http_doc_version(struct tb_http *h, const char *path, uint64_t *hash, int64_t *mtime);

/**
 * Sends a Link header (RFC 8288) with the document at `path` until it is
 * put again: e.g. a feed's `<URL>; rel="alternate"; type="text/html"`.
 * Returns 0, -ENOENT when nothing is published there, -EINVAL for a value
 * with control characters, -ENOMEM.
 */
TB_NODISCARD int tb_http_set_link(struct tb_http *h, const char *path, const char *link);

/** What a miss callback returns to answer with a redirect to the location it wrote. */
#define TB_HTTP_MISS_REDIRECT 1

/**
 * A GET or HEAD of a path where no document (and no route) is: the callback
 * may tb_http_put() a document at `path` and return 0, and the request is
 * answered with it as with any document; or write a URL into
 * loc[0..loclen) and return TB_HTTP_MISS_REDIRECT for a 302 there (with
 * Cache-Control: no-store); anything else gives 404.
 */
typedef int (*tb_http_miss_fn)(const char *path, char *loc, size_t loclen, void *data);

/**
 * Sets the miss callback. It runs on the loop's thread while the request
 * waits, so it must be quick (e.g. one archive page read from a file or
 * rendered from the store). fn NULL removes it.
 */
void tb_http_set_miss(struct tb_http *h, tb_http_miss_fn fn, void *data);

/** The number of immutable documents held in memory now (at most TB_HTTP_IMMUTABLE_KEEP). */
size_t tb_http_cached(struct tb_http *h);

/** Unpublishes `path`. Returns 0, or -ENOENT when nothing is published there. */
TB_NODISCARD int tb_http_remove(struct tb_http *h, const char *path);

/**
 * Sets the health check behind /healthz: `fn(data)` returns 1 when healthy
 * (200 "ok"), anything else gives 503. Without a callback, /healthz is 200.
 */
void tb_http_set_health(struct tb_http *h, int (*fn)(void *data), void *data);

/**
 * Sets a callback that appends Prometheus text to /metrics after the
 * server's own counters (requests by status class, body bytes, documents,
 * connections). `out` is capped at 4 MiB (the daemon's, with 10,000 sources: 1.2 MB).
 */
void tb_http_set_metrics(struct tb_http *h, void (*fn)(struct tb_buf *out, void *data), void *data);

/** A request to a route (tb_http_route()); every member is valid during the call only. */
struct tb_http_req {
    const char *method;       /* "GET", "HEAD" or "POST" */
    const char *path;         /* the normalized path, without the query: "/confirm" */
    const char *query;        /* what follows '?' as sent (not decoded), or "" */
    const char *body;         /* the request body, NUL-terminated; "" without one */
    size_t body_len;          /* its length, at most the route's cap (TB_HTTP_BODY_MAX) */
    const char *content_type; /* the Content-Type header as sent, or "" */
    const char *client;       /* the peer's address, "192.0.2.1" or "2001:db8::1", or "" */
    void *priv;               /* the server's */
};

/**
 * The value of request header `name` (any case; the first one when it is
 * repeated), valid during the route's call, or NULL when it was not sent.
 */
const char *tb_http_req_header(const struct tb_http_req *req, const char *name);

/**
 * The answer a route fills in. Preset: status 200, type
 * "text/html; charset=utf-8", an empty body (capped at
 * TB_HTTP_ROUTE_OUT_MAX) and no extra headers. Cache-Control: no-store is
 * sent unless the route sets a Cache-Control header of its own.
 */
struct tb_http_res {
    int status;         /* HTTP status, 100..599 (anything else gives 500) */
    const char *type;   /* Content-Type; copied when the route returns */
    struct tb_buf body; /* the body (not sent for HEAD); freed by the server */
    void *priv;         /* the server's */
};

/**
 * Adds a header to a route's answer (e.g. "Location", "Retry-After");
 * name and value are copied. Returns 0, or -EINVAL for a name that is not
 * a token or a value with control characters (CR, LF: no header injection).
 */
TB_NODISCARD int tb_http_res_header(struct tb_http_res *res, const char *name, const char *value);

/** A route's handler: reads req, fills res, on the loop's thread. */
typedef void (*tb_http_route_fn)(const struct tb_http_req *req, struct tb_http_res *res,
                                 void *data);

/**
 * Serves `path` (e.g. "/subscribe") by calling fn(req, res, data) for GET,
 * HEAD and POST requests to it, whatever their query string; other methods
 * get 405 with Allow: GET, HEAD, POST. The body of a POST is read whole
 * first (at most TB_HTTP_BODY_MAX). A route takes precedence over a
 * document at the same path. Setting a path again replaces its handler; fn
 * NULL removes the route. Returns 0, -EINVAL (bad path), -ENOENT
 * (removing a route that is not there) or -ENOMEM.
 */
TB_NODISCARD int tb_http_route(struct tb_http *h, const char *path, tb_http_route_fn fn,
                               void *data);

/**
 * As tb_http_route(), for every path that starts with `prefix` (which ends
 * in '/', e.g. "/websub/callback/"); req->path is the whole path. An exact
 * route wins over a prefix route, a longer prefix over a shorter one. The
 * route takes request bodies of up to max_body bytes (0: TB_HTTP_BODY_MAX;
 * at most TB_HTTP_ROUTE_BODY_MAX), any other path still TB_HTTP_BODY_MAX,
 * 413 above. A body is read whole before its path's cap is applied, so the
 * largest cap bounds what any request may make the server hold. fn NULL
 * removes the route. Returns 0, -EINVAL (bad prefix or cap), -ENOENT
 * (removing a route that is not there) or -ENOMEM.
 */
TB_NODISCARD int tb_http_route_prefix(struct tb_http *h, const char *prefix, tb_http_route_fn fn,
                                      void *data, size_t max_body);

/**
 * Stops accepting and closes the listener; idle connections are closed at
 * once, responses in progress may finish (with Connection: close) within
 * req_timeout_ms, after which their connections are cut. `done(data)` (may
 * be NULL) is called once no handle of the server is left on the loop; the
 * server is freed by then. NULL `h` is a no-op (done is not called).
 */
void tb_http_free(struct tb_http *h, void (*done)(void *data), void *data);

#endif
