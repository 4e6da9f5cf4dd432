/*
 * tb_subs: email subscriptions and the outbox, in the store's database.
 *
 * One subscription per address (stored normalized, tb_mail_addr_norm()):
 * its topics (config topic names, or "trending" for trending across
 * everything), its frequency and its state. A request from the site
 * (tb_subs_request()) is kept as pending topics and frequency until the
 * address confirms it (tb_subs_confirm()), so a form can neither
 * subscribe nor change someone else's subscription. An operator's
 * subscription is active at once (tb_subs_add()).
 *
 * The outbox holds every message before it is sent: a digest is queued
 * (tb_subs_queue()) in the same transaction that moves the subscription's
 * `covered` time, so a crash either loses the whole digest build (it is
 * built again) or keeps a queued message (it is sent once). The sender
 * takes pending messages (tb_subs_next()) and records each outcome
 * (tb_subs_sent()); a message is sent twice only when the process dies
 * between the server's acceptance and that record.
 *
 * Same thread rules as tb_store: one connection per thread; every call is
 * one transaction. Errors: TB_ESTORE with detail in err, -ENOMEM, -EINVAL.
 */
#ifndef TB_SUBS_H
#define TB_SUBS_H

#include <stddef.h>
#include <stdint.h>

#include "tb_log.h"
#include "tb_store.h"

/** The topic name that means trending across everything. */
#define TB_SUBS_TRENDING "trending"
/** Confirmation mails sent to one address per UTC day at most. */
#define TB_SUBS_CONFIRM_PER_DAY 3
/** Permanent failures in a row after which a subscription is suspended. */
#define TB_SUBS_SUSPEND_AFTER 3

enum tb_subs_state {
    TB_SUBS_PENDING = 0,   /* asked from the site, not confirmed yet */
    TB_SUBS_ACTIVE = 1,    /* receives digests */
    TB_SUBS_SUSPENDED = 2, /* TB_SUBS_SUSPEND_AFTER permanent failures in a row */
    TB_SUBS_LEFT = 3,      /* unsubscribed: never mailed again until it subscribes again */
};

enum tb_subs_freq {
    TB_SUBS_DAILY = 0,
    TB_SUBS_WEEKLY = 1,
};

/** A subscription, owned by the caller (tb_subs_free()). */
struct tb_subs {
    int64_t id; /* row id, what tokens name */
    char *addr; /* normalized address */
    enum tb_subs_state state;
    enum tb_subs_freq freq;
    char **topics; /* confirmed topic names, sorted */
    size_t ntopics;
    char **pending; /* topics asked and not confirmed yet, or NULL */
    size_t npending;
    enum tb_subs_freq pending_freq;
    int64_t created;   /* epoch seconds */
    int64_t confirmed; /* when it became active, or 0 */
    int64_t covered;   /* digests cover trending up to this time; 0: none sent yet */
    int64_t last_sent; /* when the last digest was accepted by the server, or 0 */
    int failures;      /* permanent failures in a row */
    char *last_error;  /* the last failure's SMTP reply or reason, or NULL */
};

/** Frees what s holds (not s). */
void tb_subs_clear(struct tb_subs *s);

/**
 * A request from the site: creates the subscription (pending) or, for a
 * known address, records topics and freq as its pending change. Sets
 * *confirm to 1 when a confirmation mail should go out now, 0 when the
 * address had TB_SUBS_CONFIRM_PER_DAY of them today already (counted per
 * address and UTC day of `now`), and *id to the subscription. A request
 * for a subscription that LEFT makes it PENDING again.
 */
TB_NODISCARD int tb_subs_request(struct tb_store *st, const char *addr, const char *const *topics,
                                 size_t ntopics, enum tb_subs_freq freq, int64_t now, int64_t *id,
                                 int *confirm, char *err, size_t errlen);

/** Confirms: pending topics and frequency become the subscription's, state ACTIVE. -ENOENT if no
 * such id. */
TB_NODISCARD int tb_subs_confirm(struct tb_store *st, int64_t id, int64_t now, char *err,
                                 size_t errlen);

/** An operator's subscription: created or replaced with these topics, ACTIVE at once. */
TB_NODISCARD int tb_subs_add(struct tb_store *st, const char *addr, const char *const *topics,
                             size_t ntopics, enum tb_subs_freq freq, int64_t now, int64_t *id,
                             char *err, size_t errlen);

/** Changes topics and frequency of an existing subscription (the manage page). -ENOENT if none. */
TB_NODISCARD int tb_subs_set(struct tb_store *st, int64_t id, const char *const *topics,
                             size_t ntopics, enum tb_subs_freq freq, char *err, size_t errlen);

/**
 * Leaves: state LEFT, and every message of it still pending in the outbox
 * is dropped, so nothing more goes out. -ENOENT if no such id.
 */
TB_NODISCARD int tb_subs_leave(struct tb_store *st, int64_t id, char *err, size_t errlen);

/** Loads subscription id into *out. -ENOENT if none. */
TB_NODISCARD int tb_subs_get(struct tb_store *st, int64_t id, struct tb_subs *out, char *err,
                             size_t errlen);

/** Finds the subscription of an address (normalized here, tb_mail_addr_norm()). -ENOENT if none. */
TB_NODISCARD int tb_subs_find(struct tb_store *st, const char *addr, struct tb_subs *out, char *err,
                              size_t errlen);

/** Receives each subscription (valid during the call); non-zero stops and is returned. */
typedef int (*tb_subs_cb)(const struct tb_subs *s, void *data);

/** Calls cb for every subscription, by id; with active_only, ACTIVE ones only. */
TB_NODISCARD int tb_subs_each(struct tb_store *st, int active_only, tb_subs_cb cb, void *data,
                              char *err, size_t errlen);

/** Kinds of outbox messages. */
enum tb_subs_kind {
    TB_SUBS_MSG_CONFIRM = 0, /* a confirmation request: sent even to a PENDING subscription */
    TB_SUBS_MSG_DIGEST = 1,  /* a digest: only to an ACTIVE one */
};

/**
 * Queues a complete message (RFC 5322, CRLF line ends) for subscription
 * sub. message_id is its Message-ID (unique: queuing the same one again
 * is a no-op that returns 0, so a rebuilt digest is never queued twice).
 * For a digest, the subscription's `covered` becomes `covered` in the
 * same transaction.
 */
TB_NODISCARD int tb_subs_queue(struct tb_store *st, int64_t sub, enum tb_subs_kind kind,
                               const char *message_id, const char *rcpt, const char *msg,
                               size_t len, int64_t covered, int64_t now, char *err, size_t errlen);

/**
 * A digest due at `covered` found nothing new: the subscription's `covered`
 * time moves there without a message (never backwards), so the next digest
 * looks only at what came later and the due digest is not built again.
 * -ENOENT if no such id.
 */
TB_NODISCARD int tb_subs_cover(struct tb_store *st, int64_t sub, int64_t covered, char *err,
                               size_t errlen);

/** One message taken from the outbox, owned by the caller (tb_subs_msg_clear()). */
struct tb_subs_msg {
    int64_t id;  /* outbox row */
    int64_t sub; /* its subscription */
    enum tb_subs_kind kind;
    char *message_id; /* as queued */
    char *rcpt;       /* envelope recipient */
    char *data;       /* the message */
    size_t len;
    int attempts;  /* earlier attempts */
    int64_t token; /* tb_subs_claim()'s claim token, 0 for tb_subs_next() */
};

/** Frees what m holds. */
void tb_subs_msg_clear(struct tb_subs_msg *m);

/**
 * Takes the oldest pending message whose next try is due at `now` and
 * whose subscription may be mailed (confirm: not LEFT; digest: ACTIVE),
 * and claims it for this process until tb_subs_sent() records it: another
 * process (a `digest` command beside the daemon) skips a message claimed
 * by a process that still runs, and takes over one whose claimer died or
 * claimed it over an hour ago. Returns 1 with *out filled, 0 when none is
 * due (and *next_try, if not NULL, the earliest later try, or 0 when
 * nothing is pending).
 */
TB_NODISCARD int tb_subs_next(struct tb_store *st, int64_t now, struct tb_subs_msg *out,
                              int64_t *next_try, char *err, size_t errlen);

/**
 * A node's take of the outbox, for several nodes on one database: claims
 * the oldest due message (as tb_subs_next() chooses) for `node` until
 * now + lease, its claim token going up by one (out->token). A message
 * another node holds under a live lease, or a process claimed within the
 * hour, is skipped; one whose claimer's lease ended (it died) is taken.
 * On PostgreSQL claimers skip each other's rows (FOR UPDATE SKIP LOCKED).
 * Record the outcome with tb_subs_done(). Returns 1 with *out filled, 0
 * when none is due (*next_try as tb_subs_next()'s, a leased message
 * counting from its lease's end), -EINVAL or a store error.
 */
TB_NODISCARD int tb_subs_claim(struct tb_store *st, const char *node, int64_t lease, int64_t now,
                               struct tb_subs_msg *out, int64_t *next_try, char *err,
                               size_t errlen);

/**
 * Ends the claims `node` holds on outbox messages, moving their tokens on
 * (a node restarted under its name after a crash sends them again at once,
 * and its predecessor's late outcomes are refused). *n (may be NULL) gets
 * how many. 0 or a store error.
 */
TB_NODISCARD int tb_subs_forget(struct tb_store *st, const char *node, size_t *n, char *err,
                                size_t errlen);

/** How one attempt ended. */
enum tb_subs_outcome {
    TB_SUBS_SENT = 0,     /* the server accepted it (2xx) */
    TB_SUBS_TEMPFAIL = 1, /* 4xx, or no connection: retried after a backoff */
    TB_SUBS_PERMFAIL = 2, /* 5xx: dropped; counted on the subscription */
};

/**
 * Records the outcome of sending outbox message `id` at `now`. SENT: the
 * message is done, the subscription's failures reset to 0 and last_sent
 * set (digests). TEMPFAIL: tried again after 60 s doubling per attempt, at
 * most 6 hours, and dropped as a permanent failure after 3 days. PERMFAIL:
 * dropped; the subscription's failures grow by one and after
 * TB_SUBS_SUSPEND_AFTER in a row it is SUSPENDED. `reply` (the server's
 * reply or the reason) is kept as last_error.
 */
TB_NODISCARD int tb_subs_sent(struct tb_store *st, int64_t id, enum tb_subs_outcome outcome,
                              const char *reply, int64_t now, char *err, size_t errlen);

/**
 * tb_subs_sent() for a message claimed by tb_subs_claim(), fenced by its
 * token: TB_ELEASE (nothing recorded) when another claim took the message
 * over since (this node's lease ended), and the claim ends otherwise.
 */
TB_NODISCARD int tb_subs_done(struct tb_store *st, const struct tb_subs_msg *m,
                              enum tb_subs_outcome outcome, const char *reply, int64_t now,
                              char *err, size_t errlen);

/** Counts for /metrics and `subscribers`. */
struct tb_subs_counts {
    size_t pending, active, suspended, left; /* subscriptions by state */
    size_t outbox;                           /* messages waiting */
    size_t sent, failed;                     /* messages done, ever */
};

/** Fills *out. */
TB_NODISCARD int tb_subs_count(struct tb_store *st, struct tb_subs_counts *out, char *err,
                               size_t errlen);

#endif
