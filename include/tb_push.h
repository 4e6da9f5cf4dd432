/*
 * tb_push: the WebSub subscriber (W3C WebSub Recommendation, section 5 and
 * 7-8 from the subscriber's side): the pieces of it that do no I/O
 * (src/push.c) and its subscriptions in the store's database
 * (src/store/push.c, migration 16). The daemon wires them to its fetcher,
 * its HTTP server and its polls (src/daemon_push.c).
 *
 * One subscription per source: the hub its feed names, the topic (the
 * feed's rel="self", else the source URL), an unguessable callback id
 * (the last path segment of CALLBACK_BASE/websub/callback/ID) and a secret
 * of its own, both from getrandom(2). Same thread rules as tb_store: one
 * connection per thread. Store calls return 0, -ENOENT, -ENOMEM or
 * TB_ESTORE with detail in err.
 */
#ifndef TB_PUSH_H
#define TB_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "tb_buf.h"
#include "tb_log.h"
#include "tb_store.h"

/** Random bytes in a callback id; it is their hex (32 characters). */
#define TB_PUSH_ID_BYTES 16
/** Random bytes in a secret; it is their hex (64 characters, under WebSub's 200-byte limit). */
#define TB_PUSH_SECRET_BYTES 32
/** The lease asked of a hub (s); the hub decides what it grants. */
#define TB_PUSH_LEASE (10 * 86400)
/** Most bytes of a pushed document the callback takes (the daemon's max_body when smaller). */
#define TB_PUSH_BODY_MAX (8 * 1024 * 1024)
/** The callback route's path prefix; the id follows it. */
#define TB_PUSH_PATH "/websub/callback/"

/** A subscription's state; stored as the number. */
enum tb_push_state {
    TB_PUSH_NONE = 0,    /* no subscription (never stored) */
    TB_PUSH_PENDING = 1, /* asked; the hub has not verified it yet */
    TB_PUSH_ACTIVE = 2,  /* verified: pushes come until lease_end */
    TB_PUSH_DENIED = 3,  /* the hub said hub.mode=denied (reason kept) */
    TB_PUSH_FAILED = 4,  /* the request failed, or the lease lapsed: retried at next_try */
    TB_PUSH_LEAVING = 5, /* unsubscribe sent (source removed): the row goes once verified */
};

/** "none", "pending", "active", "denied", "failed", "leaving". */
const char *tb_push_state_name(enum tb_push_state st);

/** A subscription (row of push_subs); strings owned (tb_push_sub_clear()). */
struct tb_push_sub {
    int64_t source_id;        /* sources.id: one subscription per source */
    char *source;             /* the source's name (filled by tb_push_list()), or NULL */
    char *hub;                /* the hub's URL */
    char *topic;              /* hub.topic */
    char *id;                 /* callback id, hex */
    char *secret;             /* hub.secret, hex */
    enum tb_push_state state; /* see above */
    int64_t requested;        /* epoch s the last subscribe request went out, or 0 */
    int64_t lease_end;        /* ACTIVE: epoch s the lease ends */
    int64_t next_try;         /* epoch s of the next step: renew (ACTIVE), retry (FAILED, DENIED) */
    int failures;             /* failed requests in a row */
    char *reason;             /* why FAILED or DENIED, or NULL */
    int64_t last_push;        /* epoch s of the last accepted push, or 0 */
    int64_t pushes;           /* pushes accepted */
    int64_t rejected;         /* pushes ignored: unsigned or wrongly signed */
    int64_t claim_token;      /* claims of its next request so far (tb_push_claim); not put */
};

/** Frees the strings of s and zeroes it. */
void tb_push_sub_clear(struct tb_push_sub *s);

/** Fills out[0..2n] with n random bytes from getrandom(2) as hex. 0, or -EIO without entropy. */
TB_NODISCARD int tb_push_random_hex(char *out, size_t n);

/**
 * Checks an X-Hub-Signature header ("sha1=HEX", "sha256=HEX", "sha384=HEX"
 * or "sha512=HEX") against the HMAC of body under `secret` (its bytes as
 * given), in constant time. Returns 0 when it verifies; -ENOENT for no
 * header (NULL or empty); -EINVAL for a malformed header, an unknown
 * method or an empty secret (nothing verifies without a secret); -EBADMSG
 * for a signature that does not match.
 */
TB_NODISCARD int tb_push_check_signature(const char *header, const char *secret, const void *body,
                                         size_t len);

/**
 * Appends the form-encoded body of a subscription request: hub.mode
 * (`mode`), hub.topic, hub.callback, and for "subscribe" hub.secret and
 * hub.lease_seconds (lease > 0). 0, or TB_ETOOBIG / -ENOMEM (the buffer's cap, memory).
 */
TB_NODISCARD int tb_push_request_body(struct tb_buf *out, const char *mode, const char *topic,
                                      const char *callback, const char *secret, int64_t lease);

/**
 * The target of the first link in an HTTP Link header value (RFC 8288:
 * "<URI>; rel=\"hub\", <URI2>; rel=self") whose rel (quoted or not, one
 * of a space-separated list, any case) is `rel`, into out, as written.
 * 0, -ENOENT (none, or the value cannot be read from there on),
 * -ENAMETOOLONG.
 */
TB_NODISCARD int tb_push_link_rel(const char *link, const char *rel, char *out, size_t outlen);

/**
 * When to renew a lease granted at `now` that ends at lease_end: at 90% of
 * it or a day before its end, whichever is earlier, but not in the lease's
 * first half (a lease under two days is renewed at 90%).
 */
int64_t tb_push_renew_at(int64_t now, int64_t lease_end);

/** The poll interval of a source whose subscription is active: interval times 4, but
 * at most a day (a source polled less often than daily keeps its interval). */
int64_t tb_push_poll_interval(int64_t interval);

/** Delay (s) before retrying after `failures` failed requests in a row: 60 s doubling, at most a
 * day. */
int64_t tb_push_retry_delay(int failures);

/* ---- the store (src/store/push.c) ---- */

/** The subscription of source source_id into *out (clear it after). 0 or -ENOENT. */
TB_NODISCARD int tb_push_get(struct tb_store *st, int64_t source_id, struct tb_push_sub *out,
                             char *err, size_t errlen);

/** The subscription whose callback id is `id` into *out (clear it after). 0 or -ENOENT. */
TB_NODISCARD int tb_push_get_by_id(struct tb_store *st, const char *id, struct tb_push_sub *out,
                                   char *err, size_t errlen);

/** Writes every field of s (insert or replace, by source_id). 0 or TB_ESTORE. */
TB_NODISCARD int tb_push_put(struct tb_store *st, const struct tb_push_sub *s, char *err,
                             size_t errlen);

/**
 * Claims the next step of subscription `id` (a renewal, a retry, a lapse),
 * once across the nodes sharing the database: when the row's claim_token
 * is still *token (what this node last read), counts it up into *token and
 * moves next_try to `until`. 1 when claimed; 0 when another node claimed
 * it since, or the row is gone (read it again: tb_push_get); or a store
 * error.
 */
TB_NODISCARD int tb_push_claim(struct tb_store *st, const char *id, int64_t *token, int64_t until,
                               char *err, size_t errlen);

/** Deletes the subscription with callback id `id`. 0 or -ENOENT. */
TB_NODISCARD int tb_push_delete(struct tb_store *st, const char *id, char *err, size_t errlen);

/**
 * Every subscription with its source's name, ordered by it. *out is
 * malloc'd (tb_push_list_free(); NULL when none).
 */
TB_NODISCARD int tb_push_list(struct tb_store *st, struct tb_push_sub **out, size_t *n, char *err,
                              size_t errlen);

/** Frees an array from tb_push_list(); NULL is a no-op. */
void tb_push_list_free(struct tb_push_sub *v, size_t n);

#endif
