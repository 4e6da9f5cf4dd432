/*
 * tb_config: the INI configuration (inih) and the OPML files it names.
 *
 * tb_config_load() reads one file, validates every value and reports every
 * problem at once as "FILE:LINE: message". Relative paths in the file
 * (database, public_dir, [opml] file) are resolved against the directory of
 * the config file. Nothing here touches the network, the store or the loop.
 */
#ifndef TB_CONFIG_H
#define TB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "tb_log.h"

/** One upstream feed, from [source NAME] or from an OPML outline. */
struct tb_config_source {
    char *name;       /* [A-Za-z0-9._-]+, unique; OPML ones slugified from the title */
    char *url;        /* absolute http(s) URL, as normalised by curl's URL API */
    char *title;      /* display title, or NULL */
    char *html_url;   /* the site's web page (OPML htmlUrl), or NULL */
    int64_t interval; /* poll interval in seconds, >= 1 */
    int enabled;      /* 0 when "enabled = no": paused by the user */
    char *file;       /* config or OPML file that defined it */
    int line;         /* line of the [source] header or the OPML outline */
    double weight;    /* trending weight, 0 to 1000000 (0: never counts); default 1 */
    char *group;      /* trending group (sources of a group are one voice); default: name */
};

/** One published topic feed, from [topic NAME]. */
struct tb_config_topic {
    char *name;      /* [A-Za-z0-9._-]+, unique; becomes /topics/NAME.atom */
    char *title;     /* display title; the name when not given */
    char *query;     /* FTS5 query, not checked here (the store does that) */
    char **sources;  /* restrict to these source names (all exist), or NULL */
    size_t nsources; /* number of names in sources */
    size_t limit;    /* entries per published feed */
    char *file;      /* config file that defined it */
    int line;        /* line of the [topic] header, for "invalid query" errors */
};

/** The [trending] section (see tb_trending.h for the score). */
struct tb_config_trending {
    int64_t window;      /* seconds of mentions that count; default 7d */
    int64_t half_life;   /* seconds after which a mention counts half; default 1d */
    size_t limit;        /* papers in a trending list, 1 to 100000; default 30 */
    char *arxiv_api;     /* arXiv API URL; default https://export.arxiv.org/api/query */
    int resolve_arxiv;   /* resolve papers no source carries through the API; default 1 */
    size_t arxiv_batch;  /* most ids in one API request, 1 to 100; default 100 */
    int64_t arxiv_retry; /* wait before asking again after a failure (doubles); default 60 s */
};

/** The [mail] section: email digests (absent: no mail at all). */
struct tb_config_mail {
    int enabled;       /* the section is present */
    char *smtp;        /* smtp://host:port or smtps://host:port */
    int starttls;      /* smtp://: require STARTTLS; default yes (smtps://: TLS from the start) */
    char *user;        /* SMTP AUTH user, or NULL */
    char *password;    /* read from password_file at load (never written in the config), or NULL */
    char *from;        /* "Name <addr>" or "addr": the From header */
    char *from_addr;   /* the bare address of from: the envelope sender */
    char *ca_file;     /* CA bundle, or NULL */
    char *secret_file; /* token secret; default the database path + ".secret" */
    int send_at;       /* minutes after 00:00 UTC when digests go out; default 7:00 */
    int weekly_day;    /* 0 Sunday .. 6 Saturday; weekly digests go out that day; default 1 */
    int rate;          /* messages per minute at most; default 60 */
    size_t max_papers; /* papers in one digest, 1 to 1000; default 20 */
};

/**
 * The [websub] section. The hub at BASE_URL/websub is on unless `enabled =
 * no`; with `hub` set, that external hub is advertised and notified instead.
 */
struct tb_config_websub {
    int enabled;          /* hub features on (own hub, or notifying `hub`); default yes */
    char *hub;            /* external hub URL advertised and notified instead, or NULL */
    int allow_private;    /* callbacks may reach loopback/private addresses; default no */
    char *callback_base;  /* http(s) URL ending in '/': subscribe upstream; or NULL (off) */
    int64_t lease;        /* lease when a subscriber asks none, seconds; default 10d */
    int64_t lease_min;    /* shortest lease granted; default 1h */
    int64_t lease_max;    /* longest lease granted; default 30d */
    size_t max_per_host;  /* subscriptions per callback host, 1 to 100000; default 100 */
    size_t max_per_topic; /* subscriptions per topic, 1 to 100000; default 1000 */
};

/** A loaded, validated configuration. Every string is owned by it. */
struct tb_config {
    char *path;              /* the config file, as given */
    char *database;          /* SQLite file; default "tributary.db" */
    char *public_dir;        /* published files; default "public" */
    char *listen;            /* HOST:PORT; default "127.0.0.1:8080" */
    char *base_url;          /* public URL, always ends with '/'; default http://localhost:8080/ */
    char *contact;           /* http(s) URL or mailto: for the User-Agent, or NULL */
    int64_t interval;        /* default poll interval in seconds; default 1h */
    size_t feed_limit;       /* default entries per topic feed; default 50 */
    int static_archive;      /* write every archive page's files when formed; default 0 */
    size_t max_body;         /* body cap after decompression (max_body_size); default 32M */
    int64_t connect_timeout; /* seconds; default 15 */
    int64_t timeout;         /* whole transfer, seconds; default 60 */
    int64_t low_speed_time;  /* abort when stalled this long, seconds; default 20 */
    int max_connections;     /* transfers at once; default 32 */
    int max_per_host;        /* transfers at once per host; default 4 */
    int64_t request_timeout; /* HTTP server: seconds to receive a request head; default 10 */
    int max_clients;         /* HTTP server: client connections at once; default 1024 */
    char *title;             /* the site's title (HTML pages); default "tributary" */
    char *description;       /* the site's description under its title, or NULL */
    char *node;              /* this node's name in a cluster; default "HOSTNAME:PORT" (listen's) */
    int64_t lease;           /* how long a node holds a claimed source (s, >= 10); default 2m */
    struct tb_config_source *sources;   /* [source] sections in file order, then OPML feeds */
    size_t nsources;                    /* number of sources */
    struct tb_config_topic *topics;     /* [topic] sections in file order */
    size_t ntopics;                     /* number of topics */
    struct tb_config_trending trending; /* [trending] (may repeat, like [tributary]) */
    struct tb_config_mail mail;         /* [mail] */
    struct tb_config_websub websub;     /* [websub] */
};

/** One problem found while loading; printed as "FILE:LINE: MSG". */
struct tb_config_error {
    char *file; /* the config or OPML file */
    int line;   /* 1-based; 0 when the problem concerns the whole file */
    char *msg;  /* the message, without the "FILE:LINE: " prefix */
};

/**
 * Loads and validates `path` and the OPML files it names. On success returns
 * 0 and *out (free with tb_config_free()). On problems returns TB_ECONFIG,
 * *out NULL, and every problem found in *errs / *nerrs (free with
 * tb_config_errors_free()): unreadable file, syntax errors, lines too long,
 * unknown sections or keys, duplicate keys, duplicate source or topic names,
 * invalid names (also a source's group), bad URLs, durations, sizes or
 * numbers (also a weight that is not a number from 0 to 1000000), a source without url,
 * a topic without query or naming an unknown source, unreadable or invalid
 * OPML. Returns -ENOMEM (and no errors) when out of memory.
 */
TB_NODISCARD int tb_config_load(const char *path, struct tb_config **out,
                                struct tb_config_error **errs, size_t *nerrs);

/** Frees a configuration and everything in it. NULL is a no-op. */
void tb_config_free(struct tb_config *c);

/** Frees the `n` errors returned by tb_config_load(). NULL is a no-op. */
void tb_config_errors_free(struct tb_config_error *errs, size_t n);

/** Finds a source by name; NULL when there is none. */
const struct tb_config_source *tb_config_find_source(const struct tb_config *c, const char *name);

/**
 * Parses a duration: "90s", "30m", "1h", "1d", "1w", combinations such as
 * "2h30m", or plain seconds "3600". Returns 0 and the seconds (at least 1,
 * at most INT32_MAX), or -EINVAL.
 */
TB_NODISCARD int tb_config_duration(const char *s, int64_t *out);

/**
 * Parses a size: plain bytes "1048576" or with a binary suffix "512K",
 * "32M", "1G" (also "32MiB", "32MB"). Returns 0 and the bytes (at least 1),
 * or -EINVAL.
 */
TB_NODISCARD int tb_config_size(const char *s, size_t *out);

/** Whether `s` is a valid source or topic name: 1 to 64 of [A-Za-z0-9._-]. */
int tb_config_name_valid(const char *s);

/**
 * Writes a source name made from text into out (at most len - 1 bytes):
 * lower-case ASCII letters and digits, '-' between words, "" when the text
 * has none.
 */
void tb_config_slug(const char *in, char *out, size_t len);

#endif
