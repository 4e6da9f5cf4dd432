/*
 * tb_mail_web: the site's side of the email digests, as routes of the
 * daemon's HTTP server (tb_http_route()):
 *
 *   POST /subscribe    email, topic (repeatable), frequency: queues a
 *                      confirmation mail, then 303 to GET /subscribe?sent=1
 *                      ("check your inbox"), the same answer whether the
 *                      address is new, known, capped or subscribed already;
 *   GET  /subscribe    a page with the form (?sent=1: the inbox page);
 *   GET  /confirm?t=   a page with a button; POST /confirm confirms;
 *   GET  /unsubscribe?t=  a page with a button; POST leaves at once
 *                      (RFC 8058 one-click: the token in the query);
 *   GET  /manage?t=    topics and frequency, save or leave; POST applies.
 *
 * Tokens are checked with tb_mail.h (a bad, tampered or expired one gets a
 * 400 or 410 page and changes nothing). Subscribe requests are limited per
 * client (TB_MAIL_WEB_PER_CLIENT an hour, in memory; IPv6 clients by /64)
 * and per address (tb_subs_request()'s daily cap). Every answer is a page
 * of the site (tb_page_notice()) with Cache-Control: no-store,
 * Referrer-Policy: no-referrer (tokens are in URLs) and a
 * Content-Security-Policy without scripts or framing. Addresses appear in
 * logs and pages only masked (tb_mail_addr_mask()). Runs on the loop's
 * thread with the loop's store connection: a request that writes (subscribe,
 * confirm, manage, leave) waits for the write lock while a store job
 * commits, holding the loop meanwhile (at most the store's busy timeout).
 * The per-client limit counts the TCP peer: behind a reverse proxy every
 * client is the proxy, and only the per-address cap holds.
 */
#ifndef TB_MAIL_WEB_H
#define TB_MAIL_WEB_H

#include <stdint.h>

#include "tb_config.h"
#include "tb_http.h"
#include "tb_log.h"
#include "tb_mail.h"
#include "tb_store.h"

/** Subscribe requests one client may make per hour. */
#define TB_MAIL_WEB_PER_CLIENT 10

/** What the routes need; every pointer is borrowed and must outlive the routes. */
struct tb_mail_web_opts {
    struct tb_http *http;         /* the server to add the routes to */
    struct tb_store *store;       /* the loop thread's connection */
    struct tb_config *const *cfg; /* the current config (seen across reloads) */
    const unsigned char *key;     /* TB_MAIL_SECRET_LEN bytes: the token secret */
    void (*kick)(void *data);     /* called once a message is queued, or NULL */
    void *kick_data;              /* its argument */
    int64_t (*now)(void);         /* the clock (epoch seconds); NULL: time() */
};

struct tb_mail_web;

/**
 * Adds the routes to o->http. On success *out is the state (free it with
 * tb_mail_web_free(), after the server is freed or before, which removes
 * the routes). Returns 0, -ENOMEM or -EINVAL.
 */
TB_NODISCARD int tb_mail_web_new(const struct tb_mail_web_opts *o, struct tb_mail_web **out);

/**
 * Removes the routes (when `http` is not NULL: the server still runs) and
 * frees w. NULL w is a no-op.
 */
void tb_mail_web_free(struct tb_mail_web *w, struct tb_http *http);

#endif
