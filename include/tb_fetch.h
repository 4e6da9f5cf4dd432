/*
 * tb_fetch: getting the bytes of a feed.
 *
 * tb_fetch_source() is the blocking, one-at-a-time path used by the one-shot
 * commands (`merge`, `parse`): a file path, `-` for stdin, or an http(s) URL
 * fetched with libcurl under the same limits the daemon uses. The daemon's
 * concurrent fetcher, on libuv, is tb_fetcher.h.
 */
#ifndef TB_FETCH_H
#define TB_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "tb_buf.h"

/** Default cap on a feed body after decompression. */
#define TB_FETCH_MAX_BODY (32u * 1024 * 1024)

/** User-Agent sent upstream. */
#define TB_FETCH_USER_AGENT                                                                        \
    "tributary/" TB_VERSION " (+https://github.com/tributary-feeds/tributary)"

/** Most redirects followed for one request. */
#define TB_FETCH_MAX_REDIRS 5

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

#endif
