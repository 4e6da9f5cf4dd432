/*
 * tb_mail: what every part of the email digests shares: checking and
 * masking addresses, and the signed tokens that confirm, manage and
 * unsubscribe (HMAC-SHA256 with the daemon's secret, tb_hash.h).
 *
 * A token is "A.ID.EXP.MAC": A the action (c confirm, m manage, u
 * unsubscribe), ID the subscription's id, EXP its expiry in epoch seconds
 * (0: never; unsubscribe links in mail must keep working), MAC the
 * base64url HMAC of "A.ID.EXP.ADDRESS" with the secret. So a token is bound
 * to the address and the action: it proves nothing for another address,
 * another action or after its expiry, and it carries no address itself.
 * Pure functions except tb_mail_secret_load().
 */
#ifndef TB_MAIL_H
#define TB_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include "tb_log.h"

/** Longest address accepted (RFC 5321 4.5.3.1: a path of 256 octets, less the angle brackets). */
#define TB_MAIL_ADDR_MAX 254
/** Longest local part (RFC 5321 4.5.3.1.1) and domain (4.5.3.1.2). */
#define TB_MAIL_LOCAL_MAX 64
#define TB_MAIL_DOMAIN_MAX 255

/** Bytes of the secret. */
#define TB_MAIL_SECRET_LEN 32
/** Room for a token and its NUL. */
#define TB_MAIL_TOKEN_MAX 96
/** Confirmation links expire after this many seconds (48 hours). */
#define TB_MAIL_CONFIRM_TTL (48 * 3600)

/** What a token allows. */
enum tb_mail_action {
    TB_MAIL_CONFIRM = 'c',     /* confirm a subscription request */
    TB_MAIL_MANAGE = 'm',      /* change topics and frequency, or leave */
    TB_MAIL_UNSUBSCRIBE = 'u', /* leave at once (RFC 8058 one-click) */
};

/**
 * Checks an address typed into a form or a command: a dot-atom local part
 * (RFC 5322 atext and dots, no quoted strings), '@', a domain of LDH
 * labels with at least one dot (or an IP literal is refused), within the
 * RFC 5321 lengths, no control characters, spaces or non-ASCII bytes. So
 * an address that passes can be written in a header or an SMTP command as
 * is: CR/LF header injection is impossible. Returns 0, or -EINVAL with the
 * reason in err.
 */
TB_NODISCARD int tb_mail_addr_check(const char *addr, char *err, size_t errlen);

/**
 * Writes into out the form of a checked address that is stored and
 * compared: the domain in lower case, the local part as given. Returns 0,
 * -EINVAL (not a valid address) or -ENOSPC (out too small; 255 bytes fit).
 */
TB_NODISCARD int tb_mail_addr_norm(const char *addr, char *out, size_t outlen);

/**
 * Writes into out (NUL-terminated, truncated to len) the address as logs
 * and /metrics show it: the first character of the local part, "***", and
 * the domain ("p***@example.org"). Never the whole address.
 */
void tb_mail_addr_mask(const char *addr, char *out, size_t len);

/**
 * Reads the secret from path, or when the file does not exist and create
 * is non-zero, makes one from getrandom(2) and writes it there with mode
 * 0600 (created exclusively, then renamed into place). The file holds the
 * secret as 64 hex digits and a newline. Returns 0, -ENOENT (missing and
 * not created), -EINVAL (not a secret: wrong length or digits), or a
 * negative errno, with the reason in err.
 */
TB_NODISCARD int tb_mail_secret_load(const char *path, int create,
                                     unsigned char key[TB_MAIL_SECRET_LEN], char *err,
                                     size_t errlen);

/**
 * Writes into out (at least TB_MAIL_TOKEN_MAX bytes) the token for
 * `action` on subscription `id` of address `addr` (normalized), valid until
 * `expires` (epoch seconds; 0: forever). Returns 0, -EINVAL or -ENOMEM.
 */
TB_NODISCARD int tb_mail_token_make(const unsigned char key[TB_MAIL_SECRET_LEN],
                                    enum tb_mail_action action, int64_t id, const char *addr,
                                    int64_t expires, char *out, size_t outlen);

/**
 * Reads the action and subscription id of a token without trusting them
 * (the caller then loads the subscription's address and calls
 * tb_mail_token_check()). Returns 0, or -EINVAL for anything that is not
 * a well-formed token (length, characters, fields).
 */
TB_NODISCARD int tb_mail_token_parse(const char *token, enum tb_mail_action *action, int64_t *id);

/**
 * Verifies a token for `action` against the subscription's address at
 * time `now`: the MAC (compared in constant time), the action and the
 * expiry. Returns 0, -EINVAL (malformed, wrong action or a MAC that does
 * not match: tampered, or another address) or -ETIMEDOUT (expired).
 */
TB_NODISCARD int tb_mail_token_check(const unsigned char key[TB_MAIL_SECRET_LEN], const char *token,
                                     enum tb_mail_action action, const char *addr, int64_t now);

#endif
