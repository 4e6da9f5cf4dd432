/* Internals shared by digest.c (what a digest holds: papers, sections,
 * links, the run) and digest_msg.c (how a message says it: headers, MIME,
 * the text and HTML parts). Not part of the public API. */
#ifndef TB_DIGEST_INT_H
#define TB_DIGEST_INT_H

#include <stddef.h>
#include <stdint.h>

#include "tb_buf.h"
#include "tb_config.h"
#include "tb_entry.h"
#include "tb_subs.h"

/* Bytes a digest message may take (a message far past it is a bug). */
#define TB__DIGEST_CAP ((size_t)8 * 1024 * 1024)

/** One group that carried or mentioned a paper, as the site names it. */
struct tb__digest_voice {
    char *name; /* shown (owned) */
    char *href; /* its entry's http(s) link, or NULL (owned) */
};

/** One paper of a digest. */
struct tb__digest_paper {
    const struct tb_entry *e;              /* its stored entry (borrowed) */
    const struct tb__digest_voice *voices; /* groups, earliest first (borrowed) */
    size_t nvoices;                        /* how many */
};

/** One topic's part of a digest. */
struct tb__digest_section {
    const char *name;  /* the topic's name, or TB_SUBS_TRENDING */
    const char *title; /* shown */
    size_t first, n;   /* its papers: papers[first .. first + n) */
};

/** Everything one digest says. */
struct tb__digest {
    const struct tb_config *cfg;               /* site title, base URL, [mail] */
    const struct tb_subs *sub;                 /* the subscriber */
    int64_t at;                                /* the digest's time */
    const struct tb__digest_section *sections; /* in order, none empty */
    size_t nsections;                          /* how many */
    const struct tb__digest_paper *papers;     /* every paper, by section */
    size_t npapers;                            /* how many */
    const char *manage;                        /* the manage page's URL */
    const char *unsubscribe;                   /* the one-click unsubscribe URL */
};

/** The header fields of a message. */
struct tb__mail_head {
    const struct tb_config *cfg; /* From, the domain of ids */
    const char *rcpt;            /* To: a checked address */
    const char *subject;         /* UTF-8; encoded as needed */
    int64_t date;                /* Date */
    const char *message_id;      /* "<...>" */
    const char *unsubscribe;     /* List-Unsubscribe URL; NULL: not a list message */
};

/** Writes into out (with the '<' '>') the Message-ID of `kind` for subscription id at t. */
void tb__digest_message_id(const struct tb_config *cfg, const char *kind, int64_t id, int64_t t,
                           char *out, size_t len);

/** Appends the subject of digest d (UTF-8, one line) to b. */
int tb__digest_subject(const struct tb__digest *d, struct tb_buf *b);

/** Appends the text part (LF line ends) and the HTML part of digest d. */
int tb__digest_bodies(const struct tb__digest *d, struct tb_buf *text, struct tb_buf *html);

/** Appends the subject, the text part and the HTML part of a confirmation request. */
int tb__digest_confirm_bodies(const struct tb_config *cfg, const struct tb_subs *sub,
                              const char *url, struct tb_buf *subject, struct tb_buf *text,
                              struct tb_buf *html);

/**
 * Appends to out the whole message: header fields, then multipart/alternative
 * with text (LF line ends) and html, both UTF-8 quoted-printable, CRLF line
 * ends throughout. Errors: tb_buf's, -EINVAL (a header that cannot be written).
 */
int tb__mail_message(const struct tb__mail_head *h, const struct tb_buf *text,
                     const struct tb_buf *html, struct tb_buf *out);

/** Appends s[0..n) quoted-printable (RFC 2045 6.7), LF read as a line end, CRLF written. */
int tb__mail_qp(struct tb_buf *b, const char *s, size_t n);

#endif
