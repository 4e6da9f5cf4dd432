/*
 * Sending mail through libcurl's SMTP (tb_smtp.h).
 *
 * One easy handle serves every message: libcurl keeps the connection in
 * the handle's cache after a transfer and reuses it for the next one to
 * the same URL (MAIL FROM, RCPT TO, DATA again, no new EHLO, STARTTLS or
 * AUTH). A connection idle longer than libcurl's CURLOPT_MAXAGE_CONN (118
 * s by default, well under the 5 minutes after which RFC 5321 servers drop
 * idle clients) is closed and a new one opened, so a daily digest run does
 * not write into a connection the server gave up. A refused RCPT TO ends
 * the connection (libcurl 7.88 says QUIT); a refused end of DATA keeps it.
 *
 * Classifying the outcome: libcurl fails a transfer whose MAIL FROM or
 * RCPT TO is refused with CURLE_SEND_ERROR, and one whose end of DATA is
 * refused with CURLE_WEIRD_SERVER_REPLY (libcurl 7.88); in both cases
 * CURLINFO_RESPONSE_CODE holds the server's code, which decides: 4xx is a
 * temporary failure, 5xx a permanent one. Without a code (no connection,
 * a timeout, a TLS failure), and for a refused login or a 421, the failure
 * is temporary: the server said nothing about the recipient. The reply's text comes from the debug
 * callback (the last line the server sent).
 */
#include "tb_smtp.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tb_mail.h"

/* Longest server reply kept (the text of its last line). */
#define REPLY_MAX 256
/* A failure of the server rather than the message (server_failure())
 * stops a drain: the messages behind would fail the same way. It is tried
 * again this many seconds later. */
#define UNREACHABLE_RETRY 60
/* Tries to record an outcome after the first (1 s apart, each after the
 * store's own busy timeout). */
#define RECORD_TRIES 30

struct tb_smtp {
    CURL *curl;                   /* the one handle: its connection is reused */
    char *url, *from, *user;      /* copies of the options */
    char *password, *ca_file;     /* ... */
    long timeout_s;               /* per message */
    char *node;                   /* claims as this node (tb_subs_claim()), or NULL */
    int64_t lease;                /* for this long */
    const char *msg;              /* the message being sent */
    size_t len, off;              /* its length, and what libcurl has read */
    char last[REPLY_MAX];         /* the last line the server sent */
    char fail[REPLY_MAX];         /* the last 4xx or 5xx line (a QUIT's 221 may follow it) */
    char errbuf[CURL_ERROR_SIZE]; /* libcurl's reason for a failure */
    int server_failed;            /* the last failure concerned the server, not the message */
};

static size_t on_read(char *buf, size_t size, size_t n, void *data)
{
    struct tb_smtp *s = data;
    size_t room = size * n, left = s->len - s->off;

    if (room > left)
        room = left;
    memcpy(buf, s->msg + s->off, room);
    s->off += room;
    return room;
}

static void keep_line(char *dst, const char *text, size_t len)
{
    if (len >= REPLY_MAX)
        len = REPLY_MAX - 1;
    memcpy(dst, text, len);
    dst[len] = '\0';
}

/* Keeps the last reply line the server sent (CURLINFO_HEADER_IN holds
 * the server's replies in SMTP), and the last failure line apart: after a
 * refused RCPT TO, libcurl says QUIT and the 221 comes last. */
static int on_debug(CURL *c, curl_infotype type, char *text, size_t len, void *data)
{
    struct tb_smtp *s = data;

    if (type != CURLINFO_HEADER_IN)
        return 0;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    keep_line(s->last, text, len);
    if (len > 0 && (text[0] == '4' || text[0] == '5'))
        keep_line(s->fail, text, len);
    return 0;
}

static int dup_opt(const char *src, char **dst)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    *dst = strdup(src);
    return *dst == NULL ? -ENOMEM : 0;
}

/* The options that stay the same for every message. */
static void set_fixed(struct tb_smtp *s, int starttls)
{
    CURL *c = s->curl;
    long timeout = s->timeout_s > 0 ? s->timeout_s : 60;

    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, s->from);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(c, CURLOPT_DEBUGDATA, s);
    curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout < 30 ? timeout : 30L);
    if (starttls && strncmp(s->url, "smtp://", 7) == 0)
        curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (s->ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    if (s->user != NULL)
        curl_easy_setopt(c, CURLOPT_USERNAME, s->user);
    if (s->password != NULL)
        curl_easy_setopt(c, CURLOPT_PASSWORD, s->password);
}

int tb_smtp_new(const struct tb_smtp_opts *o, struct tb_smtp **out)
{
    struct tb_smtp *s;
    int rc;

    *out = NULL;
    if (o == NULL || o->url == NULL || o->from == NULL ||
        (strncmp(o->url, "smtp://", 7) != 0 && strncmp(o->url, "smtps://", 8) != 0))
        return -EINVAL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -ENOMEM;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->timeout_s = o->timeout_s;
    rc = dup_opt(o->url, &s->url);
    if (rc == 0)
        rc = dup_opt(o->from, &s->from);
    if (rc == 0)
        rc = dup_opt(o->user, &s->user);
    if (rc == 0)
        rc = dup_opt(o->password, &s->password);
    if (rc == 0)
        rc = dup_opt(o->ca_file, &s->ca_file);
    if (rc == 0)
        rc = dup_opt(o->node, &s->node);
    s->lease = o->lease > 0 ? o->lease : 600;
    if (rc == 0) {
        s->curl = curl_easy_init();
        rc = s->curl == NULL ? -ENOMEM : 0;
    }
    if (rc) {
        tb_smtp_free(s);
        return rc;
    }
    set_fixed(s, o->starttls);
    *out = s;
    return 0;
}

void tb_smtp_free(struct tb_smtp *s)
{
    if (s == NULL)
        return;
    if (s->curl != NULL)
        curl_easy_cleanup(s->curl); /* says QUIT on the open connection */
    if (s->password != NULL)
        memset(s->password, 0, strlen(s->password));
    free(s->url);
    free(s->from);
    free(s->user);
    free(s->password);
    free(s->ca_file);
    free(s->node);
    free(s);
}

/* Whether a failed transfer says nothing about the message but about the
 * server: no reply at all (no connection, a timeout, TLS), a refused login
 * (a 535 is the operator's to fix, not the recipient's), no STARTTLS
 * offered, or a 421 (the server is closing: busy or going down). */
static int server_failure(CURLcode cc, long code)
{
    if (cc == CURLE_LOGIN_DENIED || cc == CURLE_USE_SSL_FAILED || code == 421)
        return 1;
    return code < 400 || code > 599;
}

/* What a failed transfer means for the message; see the top of the file. */
static int classify(CURLcode cc, long code)
{
    if (cc == CURLE_OK)
        return TB_SUBS_SENT;
    if (server_failure(cc, code))
        return TB_SUBS_TEMPFAIL;
    return code >= 500 ? TB_SUBS_PERMFAIL : TB_SUBS_TEMPFAIL;
}

int tb_smtp_send(struct tb_smtp *s, const char *rcpt, const char *msg, size_t len, char *reply,
                 size_t replylen)
{
    struct curl_slist *to;
    CURLcode cc;
    long code = 0;
    int outcome;

    to = curl_slist_append(NULL, rcpt);
    if (to == NULL)
        return -ENOMEM;
    s->msg = msg;
    s->len = len;
    s->off = 0;
    s->last[0] = s->fail[0] = '\0';
    s->errbuf[0] = '\0';
    curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, to);
    curl_easy_setopt(s->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    cc = curl_easy_perform(s->curl);
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, NULL);
    curl_slist_free_all(to);
    s->msg = NULL;
    outcome = classify(cc, code);
    s->server_failed = cc != CURLE_OK && server_failure(cc, code);
    if (cc == CURLE_OUT_OF_MEMORY)
        return -ENOMEM;
    if (reply != NULL && replylen > 0) {
        if (cc != CURLE_OK && (code == 0 || cc == CURLE_USE_SSL_FAILED))
            snprintf(reply, replylen, "%s", s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc));
        else if (cc != CURLE_OK && s->fail[0] != '\0')
            snprintf(reply, replylen, "%s", s->fail);
        else
            snprintf(reply, replylen, "%s", s->last[0] ? s->last : curl_easy_strerror(cc));
    }
    return outcome;
}

/* ------------------------------------------------------------ drain */

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps until mono_ms() reaches `until`, in short naps so that a stop is
 * seen within 100 ms. Returns non-zero when stopped. */
static int wait_until(int64_t until, const volatile int *stop)
{
    struct timespec nap;
    int64_t left;

    for (;;) {
        if (stop != NULL && *stop)
            return 1;
        left = until - mono_ms();
        if (left <= 0)
            return 0;
        if (left > 100)
            left = 100;
        nap.tv_sec = 0;
        nap.tv_nsec = (long)left * 1000000L;
        nanosleep(&nap, NULL);
    }
}

static const char *outcome_name(int o)
{
    return o == TB_SUBS_SENT ? "sent" : o == TB_SUBS_TEMPFAIL ? "deferred" : "failed";
}

/* Records an outcome. A database busy past its timeout (a long write on
 * another connection) is waited out a while: a message the server took
 * and that is not recorded would go out again. */
static int record(struct tb_store *st, const struct tb_subs_msg *m, int outcome, const char *reply,
                  char *err, size_t errlen)
{
    struct timespec nap = {.tv_sec = 1};
    int64_t id = m->id;
    int rc, tries;

    for (tries = 0;; tries++) {
        if (m->token > 0)
            rc = tb_subs_done(st, m, (enum tb_subs_outcome)outcome, reply, (int64_t)time(NULL), err,
                              errlen);
        else
            rc = tb_subs_sent(st, id, (enum tb_subs_outcome)outcome, reply, (int64_t)time(NULL),
                              err, errlen);
        if (rc != TB_ESTORE || tries == RECORD_TRIES)
            return rc;
        tb_log(TB_LOG_WARN, "mail", "recording message %lld: %s; trying again", (long long)id, err);
        nanosleep(&nap, NULL);
    }
}

/* Sends one message taken from the outbox and records how it went. Sets
 * *unreachable when the failure was the server's (server_failure()). */
static int send_one(struct tb_smtp *s, struct tb_store *st, const struct tb_subs_msg *m,
                    struct tb_smtp_stats *stats, int *unreachable, char *err, size_t errlen)
{
    char reply[REPLY_MAX] = "", masked[64];
    long code = 0;
    int outcome, rc;

    outcome = tb_smtp_send(s, m->rcpt, m->data, m->len, reply, sizeof(reply));
    if (outcome < 0)
        return outcome;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
    *unreachable = outcome == TB_SUBS_TEMPFAIL && s->server_failed;
    rc = record(st, m, outcome, reply, err, errlen);
    if (rc == TB_ELEASE) {
        /* Sent past this node's lease: another node holds it now. */
        tb_log(TB_LOG_WARN, "mail", "message %lld: %s", (long long)m->id, err);
        return 0;
    }
    if (rc)
        return rc;
    if (outcome == TB_SUBS_SENT)
        stats->sent++;
    else if (outcome == TB_SUBS_TEMPFAIL)
        stats->tempfail++;
    else
        stats->permfail++;
    if (outcome != TB_SUBS_SENT) {
        /* The reply may name the address: the log shows only its code. */
        tb_mail_addr_mask(m->rcpt, masked, sizeof(masked));
        tb_log(TB_LOG_WARN, "mail", "message %lld to %s %s (attempt %d): %s", (long long)m->id,
               masked, outcome_name(outcome), m->attempts + 1, code ? "server replied" : reply);
        if (code)
            tb_log(TB_LOG_WARN, "mail", "message %lld: SMTP reply code %ld", (long long)m->id,
                   code);
    }
    return 0;
}

int tb_smtp_drain(struct tb_smtp *s, struct tb_store *st, int rate, const volatile int *stop,
                  struct tb_smtp_stats *stats, char *err, size_t errlen)
{
    struct tb_subs_msg m;
    int64_t next = 0, gap = rate > 0 ? 60000 / rate : 0, slot = mono_ms();
    int rc = 0, got, unreachable = 0;

    stats->next = 0;
    for (;;) {
        /* Spread evenly: message k starts no earlier than k * 60/rate s
         * after the first, so no minute holds more than `rate`. */
        if (wait_until(slot, stop))
            break;
        memset(&m, 0, sizeof(m));
        if (s->node != NULL)
            got = tb_subs_claim(st, s->node, s->lease, (int64_t)time(NULL), &m, &next, err, errlen);
        else
            got = tb_subs_next(st, (int64_t)time(NULL), &m, &next, err, errlen);
        if (got < 0) {
            rc = got;
            break;
        }
        if (got == 0) {
            stats->next = next;
            break;
        }
        slot = mono_ms() + gap;
        rc = send_one(s, st, &m, stats, &unreachable, err, errlen);
        tb_subs_msg_clear(&m);
        if (rc)
            break;
        if (unreachable) {
            stats->next = (int64_t)time(NULL) + UNREACHABLE_RETRY;
            break;
        }
    }
    if (rc == 0 && stop != NULL && *stop)
        stats->next = (int64_t)time(NULL); /* what is left waits for the next start */
    return rc;
}
