/*
 * tb_fetch: getting the bytes of a feed.
 *
 * tb_fetch_source() is the blocking, one-at-a-time path used by the one-shot
 * commands (`merge`, `parse`): a file path, `-` for stdin, or an http(s) URL
 * fetched with libcurl under the same limits the daemon uses.
 *
 * struct tb_fetcher is the daemon's path: many http(s) transfers at once on
 * one libuv loop (libcurl's multi interface, driven through uv_poll and
 * uv_timer). It keeps its own queue and hands libcurl only as many transfers
 * as may run under the global and per-host caps, follows redirects itself (so
 * it knows whether every hop was permanent), and holds back transfers to a
 * host that answered 429/503 with Retry-After until that time: the per-host
 * delay lives here, not in tb_source. Everything runs on the loop's thread.
 */
#ifndef TB_FETCH_H
#define TB_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "tb_buf.h"

/** Default cap on a feed body after decompression. */
#define TB_FETCH_MAX_BODY (32u * 1024 * 1024)

/** User-Agent sent upstream. */
#define TB_FETCH_USER_AGENT                                                                        \
    "tributary/" TB_VERSION " (+https://github.com/tributary-feeds/tributary)"

/** Most redirects followed for one request. */
#define TB_FETCH_MAX_REDIRS 5

/** Longest a Retry-After holds back the other transfers to its host (s). */
#define TB_FETCH_MAX_HOST_DELAY (24 * 3600)

/** Limits on transfers; start from tb_fetch_limits_default(). */
struct tb_fetch_limits {
    size_t max_body;         /* cap on a body after decompression (bytes) */
    long connect_timeout_ms; /* connect (TCP and TLS) timeout */
    long timeout_ms;         /* whole request incl. redirects, from its start (not queueing) */
    long low_speed_limit;    /* abort a transfer slower than this (bytes/s) ... */
    long low_speed_time;     /* ... for this many seconds */
    int max_connections;     /* tb_fetcher: transfers running at once */
    int max_per_host;        /* tb_fetcher: transfers running at once per exact host name */
    const char *user_agent;  /* copied by tb_fetcher_new(); NULL: TB_FETCH_USER_AGENT */
};

/** Fills `lim` with the defaults (32 MiB, 15 s, 60 s, 100 B/s for 20 s, 32, 4). */
void tb_fetch_limits_default(struct tb_fetch_limits *lim);

/** What tb_fetch_source() learned besides the body. */
struct tb_fetch_info {
    char charset[64]; /* charset from the HTTP Content-Type, or "" */
    char url[2048];   /* final URL after redirects, or "" for files and stdin */
    int64_t mtime;    /* file mtime / HTTP Last-Modified (epoch s), or 0 when unknown */
    long status;      /* HTTP status, or 0 for files and stdin */
};

/**
 * Reads `src` (a file path, "-" for stdin, or an http/https URL) into `body`
 * (initialised by the caller; its cap bounds the size). Only http and https
 * are followed, also across redirects (at most 5). Returns 0, or a negative
 * error with a one-line reason in err: TB_ETOOBIG, TB_EFETCH (transfer),
 * TB_EHTTP (status >= 400), or -errno for files.
 */
TB_NODISCARD int tb_fetch_source(const char *src, struct tb_buf *body, struct tb_fetch_info *info,
                                 char *err, size_t errlen);

/** Whether `s` looks like an http:// or https:// URL (case-insensitive scheme). */
int tb_fetch_is_url(const char *s);

/** The daemon's concurrent fetcher (opaque). */
struct tb_fetcher;

/** One request; the strings are borrowed for the tb_fetcher_add() call only. */
struct tb_fetch_req {
    const char *url;           /* http:// or https:// */
    const char *etag;          /* stored ETag, sent as If-None-Match, or NULL */
    const char *last_modified; /* stored Last-Modified, sent as If-Modified-Since, or NULL */
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
    char *permanent_url; /* rc 0 after >= 1 redirect, all 301/308: URL to store; else NULL */
    char *final_url;     /* URL the final response came from */
    int64_t retry_after; /* Retry-After as absolute epoch seconds, or 0 */
    int64_t max_age;     /* Cache-Control max-age in seconds, or -1 */
    double seconds;      /* wall time from tb_fetcher_add() to completion */
};

/** Called once per request, on the loop's thread, with the outcome. */
typedef void (*tb_fetch_cb)(struct tb_fetch_result *res, void *data);

/**
 * Creates a fetcher on `loop` with a copy of `lim` (NULL: defaults). Returns
 * 0 or -ENOMEM / -EINVAL; *out is set on success only.
 */
TB_NODISCARD int tb_fetcher_new(uv_loop_t *loop, const struct tb_fetch_limits *lim,
                                struct tb_fetcher **out);

/**
 * Queues a GET of req->url; `cb` is called with `data` exactly once, from a
 * later loop iteration (never from inside this call). Returns 0, -EINVAL for
 * a URL that is not http(s) (cb is not called), -ENOMEM, or -ECANCELED once
 * tb_fetcher_free() was called.
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
