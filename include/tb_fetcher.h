/*
 * tb_fetcher: the daemon's concurrent fetcher.
 *
 * struct tb_fetcher runs many http(s) transfers at once on one libuv loop
 * (libcurl's multi interface, driven through uv_poll and uv_timer). It keeps
 * its own queue and hands libcurl only as many transfers as may run under the
 * global and per-host caps, follows redirects itself (so it knows whether
 * every hop was permanent), and holds back transfers to a host that answered
 * 429/503 with Retry-After until that time: the per-host delay lives here,
 * not in tb_source. Everything runs on the loop's thread.
 * Limits (struct tb_fetch_limits) are shared with tb_fetch.h's blocking path.
 */
#ifndef TB_FETCHER_H
#define TB_FETCHER_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>
#include <uv.h>

#include "tb_buf.h"
#include "tb_fetch.h"

/** Longest a Retry-After holds back the other transfers to its host (s). */
#define TB_FETCH_MAX_HOST_DELAY (24 * 3600)

/** The daemon's concurrent fetcher (opaque). */
struct tb_fetcher;

/**
 * One request; everything it points to is borrowed for the tb_fetcher_add()
 * call only (the fetcher copies what it keeps). Zero-initialise it: the
 * fields after the first three are optional.
 */
struct tb_fetch_req {
    const char *url;            /* http:// or https:// */
    const char *etag;           /* stored ETag, sent as If-None-Match, or NULL */
    const char *last_modified;  /* stored Last-Modified, sent as If-Modified-Since, or NULL */
    const char *method;         /* NULL or "GET", or "POST" (follows 307/308 only, body kept) */
    const void *body;           /* POST body (body_len bytes), or NULL */
    size_t body_len;            /* its length */
    const char *content_type;   /* POST: Content-Type sent, or NULL */
    const char *const *headers; /* NULL-terminated "Name: value" lines (no CR/LF), or NULL */
    int public_only; /* connect only to public unicast addresses (tb_fetcher_addr_public) */
    int no_redirect; /* a 3xx is the final answer (rc TB_EHTTP, status the 3xx) */
};

/**
 * The outcome of one request. Owned by the fetcher and freed after the
 * callback returns: take the body with tb_buf_take(&res->body), and keep a
 * string by copying it or by moving it out (set the field to NULL).
 */
struct tb_fetch_result {
    int rc;              /* 0, TB_EFETCH, TB_ETOOBIG, TB_EHTTP, -ENOMEM, -ECANCELED */
    char err[256];       /* one-line reason when rc != 0 */
    long status;         /* final HTTP status (304: not modified), or 0 if none */
    struct tb_buf body;  /* decompressed body when rc == 0 (empty for 304) */
    char *etag;          /* ETag of the final response, or NULL */
    char *last_modified; /* Last-Modified of the final response, or NULL */
    char *charset;       /* charset from its Content-Type, or NULL */
    char *link;          /* its Link headers joined with ", " (at most 8 KiB), or NULL */
    char *permanent_url; /* rc 0 after >= 1 redirect, all 301/308: URL to store; else NULL */
    char *final_url;     /* URL the final response came from */
    int64_t retry_after; /* Retry-After as absolute epoch seconds, or 0 */
    int64_t max_age;     /* Cache-Control max-age in seconds, or -1 */
    double seconds;      /* wall time from tb_fetcher_add() to completion */
};

/**
 * Whether `sa` (AF_INET or AF_INET6) is a public unicast address, one a
 * request with public_only may connect to. Not public: unspecified,
 * loopback, RFC 1918 and ULA private, link-local, CGNAT (100.64/10),
 * multicast, broadcast, documentation and benchmarking ranges, 0/8, 240/4,
 * IETF protocol assignments (192.0.0/24), 6to4 relay anycast, and the IPv4-mapped,
 * IPv4-compatible, NAT64 (64:ff9b::/96), 6to4 and Teredo forms of those,
 * discard-only (100::/64), site-local fec0::/10 and ORCHID. Returns 1 or 0.
 */
int tb_fetcher_addr_public(const struct sockaddr *sa);

/** Called once per request, on the loop's thread, with the outcome. */
typedef void (*tb_fetch_cb)(struct tb_fetch_result *res, void *data);

/**
 * Creates a fetcher on `loop` with a copy of `lim` (NULL: defaults). Returns
 * 0 or -ENOMEM / -EINVAL; *out is set on success only.
 */
TB_NODISCARD int tb_fetcher_new(uv_loop_t *loop, const struct tb_fetch_limits *lim,
                                struct tb_fetcher **out);

/**
 * Queues req (a GET, or a POST with req->body); `cb` is called with `data`
 * exactly once, from a later loop iteration (never from inside this call).
 * The global and per-host caps apply to every request alike. With
 * public_only, a connection to any address tb_fetcher_addr_public() rejects
 * is refused when it is made (so DNS answers cannot get around it), the
 * request fails with TB_EFETCH and err naming the address, and no proxy or
 * pooled connection is used. Returns 0, -EINVAL for a URL that is not
 * http(s), an unknown method or a header line with CR/LF (cb is not called),
 * -ENOMEM, or -ECANCELED once tb_fetcher_free() was called.
 */
TB_NODISCARD int tb_fetcher_add(struct tb_fetcher *f, const struct tb_fetch_req *req,
                                tb_fetch_cb cb, void *data);

/** Requests queued (incl. those held for a host delay) plus running. */
size_t tb_fetcher_pending(const struct tb_fetcher *f);

/**
 * Ends every queued and running request: each callback is called, from
 * inside this call, with rc = -ECANCELED. Requests added by those callbacks
 * are queued normally.
 */
void tb_fetcher_cancel_all(struct tb_fetcher *f);

/**
 * Ends the queued and running requests added with callback argument `data`:
 * each callback is called, from inside this call, with rc = -ECANCELED, and
 * the connection slots they held go to the next queued requests.
 */
void tb_fetcher_cancel(struct tb_fetcher *f, const void *data);

/**
 * Cancels everything (callbacks with -ECANCELED, from inside this call),
 * closes the fetcher's uv handles and calls `done(data)` (may be NULL) after
 * the last close callback, when the memory is released; run the loop until
 * then. May be called from a fetch callback. NULL is a no-op.
 */
void tb_fetcher_free(struct tb_fetcher *f, void (*done)(void *), void *data);

#endif
