/*
 * tb_digest: the messages tributary mails: the confirmation request and
 * the digests of trending papers, built from the store and the config,
 * and queued in the outbox (tb_subs.h).
 *
 * A digest covers, for each of the subscriber's topics that the config
 * still has (a removed topic is paused, not dropped) and for "trending",
 * the papers trending there (tb_trending_select() at the digest's time)
 * of which the store learned a voice after the subscription's `covered`
 * time (tb_trending_seen(): so a paper fetched late is not lost; a first
 * digest: within the last day or week, by frequency), each paper once,
 * best first, at most [mail] max_papers in all. No message when there is nothing new.
 * Messages are multipart/alternative (text/plain first, then HTML with
 * inline styles, no remote images, no scripts), UTF-8, with From, To,
 * Subject, Date, a Message-ID fixed by the subscription and the digest's
 * time, List-Id, List-Unsubscribe and List-Unsubscribe-Post (RFC 8058),
 * Auto-Submitted: auto-generated. Upstream text is escaped (HTML part)
 * or reduced to text (text part) as on the site.
 */
#ifndef TB_DIGEST_H
#define TB_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "tb_buf.h"
#include "tb_config.h"
#include "tb_log.h"
#include "tb_mail.h"
#include "tb_subs.h"

/**
 * The latest moment at or before `now` at which a digest of frequency f
 * is due by [mail] send_at and weekly_day (epoch seconds, UTC).
 */
int64_t tb_digest_slot(const struct tb_config_mail *m, enum tb_subs_freq f, int64_t now);

/**
 * Builds into msg the confirmation request for subscription sub (its
 * pending topics and frequency), with a link to BASE_URL/confirm?t=TOKEN
 * valid TB_MAIL_CONFIRM_TTL. Sets message_id (at least 128 bytes).
 * Errors: -ENOMEM, -EINVAL.
 */
TB_NODISCARD int tb_digest_confirm(const struct tb_config *cfg,
                                   const unsigned char key[TB_MAIL_SECRET_LEN],
                                   const struct tb_subs *sub, int64_t now, struct tb_buf *msg,
                                   char *message_id, size_t idlen);

/**
 * Builds into msg the digest of subscription sub at time `at` (a slot, or
 * now for `digest --now`), covering what trended since `since`. Sets
 * *npapers (0: nothing new, msg left empty) and message_id. Errors:
 * TB_ESTORE, TB_EQUERY (a topic's query, detail in err), -ENOMEM.
 */
TB_NODISCARD int tb_digest_build(struct tb_store *st, const struct tb_config *cfg,
                                 const unsigned char key[TB_MAIL_SECRET_LEN],
                                 const struct tb_subs *sub, int64_t at, int64_t since,
                                 struct tb_buf *msg, char *message_id, size_t idlen,
                                 size_t *npapers, char *err, size_t errlen);

/** What tb_digest_run() should do. */
struct tb_digest_run_opts {
    int64_t now;    /* the time */
    int force;      /* `digest --now`: every subscriber as if due now */
    const char *to; /* only this (normalized) address, or NULL */
    /* When not NULL (--dry-run), each message is given to it instead of
     * being queued, and no subscription changes. */
    int (*dry_run)(const char *rcpt, const struct tb_buf *msg, void *data);
    void *data;
};

/**
 * Builds the digests that are due (each ACTIVE subscription whose latest
 * slot is after its `covered` time and after it was confirmed; with
 * force, all of them) as of `now`, with the Message-ID of the slot (with
 * force, of `now`), and queues each in the outbox with `covered` = now
 * (tb_subs_queue()); a due digest with nothing new moves `covered` to now
 * without a message (tb_subs_cover()). Sets *queued. A topic whose query
 * fails does not stop the others (the first error is returned); other
 * errors stop the run. Errors as tb_digest_build().
 */
TB_NODISCARD int tb_digest_run(struct tb_store *st, const struct tb_config *cfg,
                               const unsigned char key[TB_MAIL_SECRET_LEN],
                               const struct tb_digest_run_opts *o, size_t *queued, char *err,
                               size_t errlen);

#endif
