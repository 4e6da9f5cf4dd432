/*
 * tb_websub: tributary as the WebSub hub (W3C Recommendation) for its own
 * feeds, at BASE_URL/websub.
 *
 * A reader POSTs hub.mode=subscribe|unsubscribe, hub.topic (one of our feed
 * URLs: all, topics/NAME, trending, trending/NAME in .atom, .rss or .json),
 * hub.callback, hub.lease_seconds and hub.secret. The hub answers 202 at
 * once (400 for a malformed request, 403 for a callback it will not call
 * or a cap reached) and verifies the intent with a GET to the callback
 * carrying hub.challenge; a 2xx echoing the challenge exactly activates
 * (or removes) the subscription. A topic we do not publish is denied: a
 * GET to the callback with hub.mode=denied and hub.reason.
 *
 * Whenever a feed document's bytes change (tb_websub_changed(), called by
 * tb_site for every feed document it writes), each active subscriber of
 * that document gets it POSTed with its Content-Type, a Link header naming
 * the hub and the document (rel="hub", rel="self") and, when it gave a
 * secret, X-Hub-Signature: sha256=HMAC. A failed delivery is tried again
 * after 1 min, doubling up to 1 h, until its lease ends; only the newest
 * document is ever owed, and what is owed survives a restart (the next
 * attempt sends the document current then). A 410 Gone ends the
 * subscription. Every request goes through the daemon's tb_fetcher (its
 * caps) with public_only unless [websub] allow_private is set, and never
 * follows a redirect.
 *
 * With [websub] hub = URL, the hub is not served: that URL is advertised
 * and sent hub.mode=publish&hub.url=FEED on every change.
 *
 * Subscriptions live in the store's database (tb_websub_store_*, in
 * src/store/websub.c), so they survive restarts and reloads; expired ones
 * are removed every minute and are never delivered to. With several nodes
 * on one database (opts.node), each delivery is claimed through the store
 * (tb_websub_store_claim) so that one node makes it, attempts and backoff
 * are the row's, and each node reloads the subscriptions every minute
 * (those verified through another node). Everything runs on the loop's
 * thread.
 */
#ifndef TB_WEBSUB_H
#define TB_WEBSUB_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "tb_buf.h"
#include "tb_config.h"
#include "tb_fetcher.h"
#include "tb_http.h"
#include "tb_store.h"

/** Longest hub.secret accepted, in bytes (the spec: under 200). */
#define TB_WEBSUB_SECRET_MAX 199

/** First wait after a failed delivery (ms); it doubles up to TB_WEBSUB_RETRY_MAX_MS. */
#define TB_WEBSUB_RETRY_MS (60 * 1000)

/** Longest wait between two delivery attempts (ms). */
#define TB_WEBSUB_RETRY_MAX_MS (3600 * 1000)

/* ------------------------------------------------------------ the table */

/** One subscription as stored; strings owned (tb_websub_subs_free()). */
struct tb_websub_sub {
    int64_t id;       /* row id */
    char *topic;      /* the feed's path without '/': "topics/x.rss" */
    char *callback;   /* the subscriber's callback URL */
    char *secret;     /* hub.secret, or NULL */
    int64_t lease;    /* granted lease, seconds */
    int64_t expires;  /* epoch seconds */
    int pending;      /* a delivery is owed */
    int attempts;     /* failed deliveries in a row */
    int64_t next_try; /* epoch seconds: when an owed delivery may be tried */
};

/**
 * Activates or renews the subscription (topic, callback): lease from `now`,
 * secret replaced (NULL: none). A renewed subscription keeps what it is
 * owed. *id is its row id. 0 or TB_ESTORE with detail in err.
 */
TB_NODISCARD int tb_websub_store_put(struct tb_store *s, const char *topic, const char *callback,
                                     const char *secret, int64_t lease, int64_t now, int64_t *id,
                                     char *err, size_t errlen);

/** Removes the subscription (topic, callback); 0 also when there was none, or TB_ESTORE. */
TB_NODISCARD int tb_websub_store_del(struct tb_store *s, const char *topic, const char *callback,
                                     char *err, size_t errlen);

/** Removes subscription `id`; 0 or TB_ESTORE. */
TB_NODISCARD int tb_websub_store_del_id(struct tb_store *s, int64_t id, char *err, size_t errlen);

/**
 * Every subscription that has not expired at `now`, by id, into *subs
 * (free with tb_websub_subs_free()). 0, -ENOMEM or TB_ESTORE.
 */
TB_NODISCARD int tb_websub_store_load(struct tb_store *s, int64_t now, struct tb_websub_sub **subs,
                                      size_t *n, char *err, size_t errlen);

/** Removes the subscriptions expired at `now`; *removed says how many. 0 or TB_ESTORE. */
TB_NODISCARD int tb_websub_store_expire(struct tb_store *s, int64_t now, size_t *removed, char *err,
                                        size_t errlen);

/** What one subscription is owed, for tb_websub_store_flush(). */
struct tb_websub_owed {
    int64_t id;       /* row id */
    int pending;      /* a delivery is owed */
    int attempts;     /* failed deliveries in a row; -1: attempts and next_try left as stored */
    int64_t next_try; /* epoch seconds */
};

/** A feed document's hash, for tb_websub_store_flush(). */
struct tb_websub_hash {
    const char *path; /* "topics/x.atom" */
    const char *hash; /* SHA-256 hex */
};

/**
 * Records, in one transaction, what n subscriptions are owed and the nh
 * documents' hashes (rows of subscriptions that are gone are skipped).
 * With wait 0 it never waits for another connection's write: it returns
 * -EAGAIN at once when the database is locked (the caller tries again
 * later), so the loop never blocks behind the store job. 0, -EAGAIN or
 * TB_ESTORE with detail in err.
 */
TB_NODISCARD int tb_websub_store_flush(struct tb_store *s, const struct tb_websub_owed *owed,
                                       size_t n, const struct tb_websub_hash *hashes, size_t nh,
                                       int wait, char *err, size_t errlen);

/**
 * The hash last recorded for the document at `path` into hash (65 bytes;
 * "" when none). 0 or TB_ESTORE.
 */
TB_NODISCARD int tb_websub_store_hash(struct tb_store *s, const char *path, char hash[65],
                                      char *err, size_t errlen);

/*
 * Deliveries once across the nodes sharing a database. Every node renders
 * the same feed documents (the same bytes), so a document's SHA-256 names
 * a delivery: a node claims the delivery of document HASH to a subscription
 * (tb_websub_store_claim) before it POSTs it, and settles the claim after
 * (tb_websub_store_settle): the subscriber's row then says which document
 * it accepted, or the failed attempts and when to try again, for whichever
 * node tries next. A claim ends at its lease's end, so a node that dies
 * mid-delivery leaves it to the others.
 */

/** A delivery's claim, or why there is none (tb_websub_store_claim()). */
struct tb_websub_claim {
    int64_t token;      /* the claim's token (its settle carries it) */
    int attempts;       /* failed deliveries in a row before this one */
    int64_t wait_until; /* not claimed: epoch s to try again at; 0: nothing is owed */
    int held;           /* not claimed: another node's claim holds the delivery */
};

/**
 * Claims, for `node` at `now` for `lease` seconds, the delivery of the
 * document whose SHA-256 hex is `hash` to subscription id: when the
 * subscriber has not accepted that document yet, no live claim holds the
 * row and its backoff (next_try) is over. Returns 1 with c->token and
 * c->attempts, 0 when not: c->wait_until is when another claim or the
 * backoff ends, or 0 when nothing is owed (the subscriber has this
 * document, or the subscription is gone or expired). Or a store error
 * (TB_EDB_RETRY / -EAGAIN when the row is locked).
 */
TB_NODISCARD int tb_websub_store_claim(struct tb_store *s, int64_t id, const char *hash,
                                       const char *node, int64_t now, int64_t lease,
                                       struct tb_websub_claim *c, char *err, size_t errlen);

/**
 * Settles claim `token` of subscription id: `sent` (a hash) when the
 * subscriber accepted that document (attempts and backoff reset), NULL when
 * the attempt failed or was given up (attempts and next_try recorded).
 * TB_ELEASE when the claim is no longer the row's latest (nothing
 * written), else 0 or a store error.
 */
TB_NODISCARD int tb_websub_store_settle(struct tb_store *s, int64_t id, int64_t token,
                                        const char *sent, int attempts, int64_t next_try, char *err,
                                        size_t errlen);

/** Frees n subscriptions and the array. NULL is a no-op. */
void tb_websub_subs_free(struct tb_websub_sub *subs, size_t n);

/* -------------------------------------------------------------- the hub */

/** The hub (opaque). */
struct tb_websub;

/** What the hub works with; every pointer borrowed for the hub's life. */
struct tb_websub_opts {
    uv_loop_t *loop;                    /* the loop */
    struct tb_http *http;               /* serves POST /websub (NULL: none, e.g. `fetch`) */
    struct tb_fetcher *fetcher;         /* verifications, deliveries, publish pings */
    struct tb_store *store;             /* the subscriptions (a connection of the loop thread) */
    const struct tb_config *const *cfg; /* the current config, read at each use (reloads) */
    uint64_t retry_ms;                  /* first retry wait; 0: TB_WEBSUB_RETRY_MS */
    const char *node; /* several nodes: deliveries claimed under this name (copied); NULL: one */
};

/** Counters for /metrics. */
struct tb_websub_stats {
    size_t active;                 /* subscriptions active now */
    size_t pending;                /* of those, owed a delivery */
    unsigned long verify_ok;       /* intents verified */
    unsigned long verify_failed;   /* verifications that failed */
    unsigned long denied;          /* subscriptions denied (topic not ours) */
    unsigned long delivered;       /* deliveries answered 2xx */
    unsigned long delivery_failed; /* deliveries that failed (each attempt) */
    unsigned long published;       /* publish pings to an external hub answered 2xx */
    unsigned long publish_failed;  /* ... that failed */
};

/**
 * Creates the hub: loads the subscriptions (owed deliveries wait for their
 * topic's next document), routes POST /websub when http is given and the
 * config has no external hub, and starts the expiry timer. Returns 0,
 * -ENOMEM, or TB_ESTORE / a tb_http error (logged).
 */
TB_NODISCARD int tb_websub_new(const struct tb_websub_opts *o, struct tb_websub **out);

/**
 * The feed document at `path` ("topics/x.atom", no leading '/') with
 * Content-Type `type` was written: when its bytes differ from the last
 * ones recorded, owes and starts a delivery to each subscriber (or pings
 * the external hub). The bytes are copied when someone needs them.
 */
void tb_websub_changed(struct tb_websub *w, const char *path, const char *type, const void *data,
                       size_t len);

/** Fills st with the hub's counters. */
void tb_websub_stats(const struct tb_websub *w, struct tb_websub_stats *st);

/** Appends the hub's series to /metrics' out. */
void tb_websub_metrics(const struct tb_websub *w, struct tb_buf *out);

/**
 * Removes the route, cancels the hub's requests (their state stays in the
 * store), closes its timer and frees it once closed. NULL is a no-op.
 */
void tb_websub_free(struct tb_websub *w);

/**
 * The hub URL feeds advertise under cfg: [websub] hub, else
 * base_url + "websub"; NULL when [websub] enabled = no. Written into buf.
 */
const char *tb_websub_hub_url(const struct tb_config *cfg, char *buf, size_t len);

#endif
