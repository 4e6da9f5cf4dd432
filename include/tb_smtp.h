/*
 * tb_smtp: sending the outbox through libcurl's SMTP (smtp:// with
 * STARTTLS, or smtps://), one connection reused across messages.
 *
 * tb_smtp_send() sends one message; tb_smtp_drain() sends what the outbox
 * holds (tb_subs.h), at most `rate` messages per minute, recording each
 * outcome before taking the next, so a process killed at any moment sends
 * a message twice only if it died between the server's 250 and that
 * record. Blocking: run it on a thread of its own (the daemon's sender
 * job) or from a command.
 */
#ifndef TB_SMTP_H
#define TB_SMTP_H

#include <stddef.h>
#include <stdint.h>

#include "tb_log.h"
#include "tb_subs.h"

/** How to reach the server ([mail] in the config). */
struct tb_smtp_opts {
    const char *url;      /* smtp://host:port or smtps://host:port */
    int starttls;         /* smtp://: 1 requires STARTTLS, 0 sends in clear */
    const char *user;     /* or NULL: no AUTH */
    const char *password; /* or NULL */
    const char *ca_file;  /* CA bundle, or NULL for the system's */
    const char *from;     /* envelope sender: the bare address of [mail] from */
    long timeout_s;       /* per message; 0: 60 */
    const char *node;     /* or NULL: take messages as this process (tb_subs_next()); else */
    int64_t lease;        /* as this node, each held this long (tb_subs_claim()), s */
};

struct tb_smtp;

/** Makes a sender (no connection yet). Returns 0, -EINVAL or -ENOMEM. */
TB_NODISCARD int tb_smtp_new(const struct tb_smtp_opts *o, struct tb_smtp **out);

/** Closes its connection and frees it. NULL is a no-op. */
void tb_smtp_free(struct tb_smtp *s);

/**
 * Sends msg[0..len) (RFC 5322 with CRLF line ends) to rcpt, reusing the
 * open connection when there is one. Returns TB_SUBS_SENT (the server
 * accepted it), TB_SUBS_TEMPFAIL (a 4xx reply, or no connection, a
 * timeout, a TLS failure, a refused login) or TB_SUBS_PERMFAIL (a 5xx reply), with the
 * server's reply or the reason in reply. -ENOMEM when out of memory.
 */
TB_NODISCARD int tb_smtp_send(struct tb_smtp *s, const char *rcpt, const char *msg, size_t len,
                              char *reply, size_t replylen);

/** What tb_smtp_drain() did. */
struct tb_smtp_stats {
    size_t sent;     /* accepted */
    size_t tempfail; /* to be retried */
    size_t permfail; /* dropped */
    int64_t next;    /* set by each drain: when to drain again (epoch s), 0: nothing pending */
};

/**
 * Sends the outbox's due messages (tb_subs_next(), or tb_subs_claim() and
 * tb_subs_done() for a node: a message another node took over once this
 * one's lease ended is not recorded again) one after the other,
 * at most `rate` per minute (0: no limit; spread evenly), until none is
 * due, the server fails rather than a message (no connection, a timeout,
 * TLS, a refused login, a 421: the rest waits a minute), or *stop becomes non-zero (checked between
 * messages: the one being sent is finished). Adds to *stats' counts and
 * sets stats->next. Returns 0, or TB_ESTORE / -ENOMEM.
 */
TB_NODISCARD int tb_smtp_drain(struct tb_smtp *s, struct tb_store *st, int rate,
                               const volatile int *stop, struct tb_smtp_stats *stats, char *err,
                               size_t errlen);

#endif
