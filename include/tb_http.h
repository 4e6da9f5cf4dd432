/*
 * tb_http: the daemon's HTTP/1.1 server (libh2o on the caller's libuv loop).
 *
 * Serves documents published with tb_http_put() from memory, plus /healthz
 * and /metrics; everything else is 404. Nothing is ever read from disk: a
 * body of 64 KB or more is sent with sendfile(2) from an in-memory copy (a
 * memfd, one descriptor per such document, 128 at most). GET
 * and HEAD only (405 otherwise), strong ETags, Last-Modified, 304 on
 * If-None-Match / If-Modified-Since, a precomputed gzip form sent when the
 * client accepts it. Every call must be made on the loop's thread.
 *
 * Limits: the request line and headers must arrive within req_timeout_ms of
 * the server starting to wait for them (this is also the keep-alive idle
 * timeout; h2o 2.2 does not reset it on each received byte, so a slowloris
 * client is dropped); at most 100 header lines and about 400 KB of request
 * head (h2o's compiled limits: the connection is closed past them); request
 * bodies above 64 KB are refused with 413; a client that stops reading a
 * response is cut: while a response waits in the write queue, the client
 * must take (have its TCP acknowledge) at least TB_HTTP_STALL_MIN_BYTES in
 * every req_timeout_ms of the loop's time (checked every 250 ms; a late
 * check, when the loop or the machine was busy, counts as 250 ms), so a
 * slow link at 2 KB/s is served and a reader that stops or trickles is cut; at most
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
 * Sends a Link header (RFC 8288) with the document at `path` until it is
 * put again: e.g. a feed's `<URL>; rel="alternate"; type="text/html"`.
 * Returns 0, -ENOENT when nothing is published there, -EINVAL for a value
 * with control characters, -ENOMEM.
 */
TB_NODISCARD int tb_http_set_link(struct tb_http *h, const char *path, const char *link);

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
 * connections). `out` is capped at 1 MiB.
 */
void tb_http_set_metrics(struct tb_http *h, void (*fn)(struct tb_buf *out, void *data), void *data);

/**
 * Stops accepting and closes the listener; idle connections are closed at
 * once, responses in progress may finish (with Connection: close) within
 * req_timeout_ms, after which their connections are cut. `done(data)` (may
 * be NULL) is called once no handle of the server is left on the loop; the
 * server is freed by then. NULL `h` is a no-op (done is not called).
 */
void tb_http_free(struct tb_http *h, void (*done)(void *data), void *data);

#endif
