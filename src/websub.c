/*
 * The WebSub hub (tb_websub.h): POST /websub, intent verification, content
 * distribution with retries, and publish pings to an external hub.
 *
 * State: every unexpired subscription in memory (struct sub, mirrored in
 * the store's websub_subs), one struct topic per feed document seen (its
 * hash, and its bytes while someone subscribes to it), and the
 * verifications in flight. One timer does retries and, every minute, the
 * removal of expired subscriptions. A delivery sends the topic's document
 * current when it starts; when a newer one arrived meanwhile, another
 * delivery follows as soon as it ends, so only the newest is ever owed.
 */
#include "tb_websub.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#include "tb_form.h"
#include "tb_hash.h"
#include "tb_log.h"
#include "tb_vec.h"

#define SWEEP_MS (60 * 1000) /* expired subscriptions are removed this often */
#define FLUSH_MS 200         /* what changed is written to the store this long after */
#define MAX_VERIFYING 1024   /* verifications in flight at once; more get 503 */
#define HELD_RECHECK_S 5     /* a delivery another node holds is looked at again this often */
#define MAX_CALLBACK 2048    /* bytes of a callback URL */
#define MAX_TOPIC 2048       /* bytes of a topic URL */
#define FORM "application/x-www-form-urlencoded"

enum mode { SUBSCRIBE, UNSUBSCRIBE, DENIED };

/* A feed document, shared by the deliveries sending it. */
struct doc {
    int refs;      /* the topic's, plus one per delivery sending it */
    char *type;    /* Content-Type */
    size_t len;    /* bytes */
    char hash[65]; /* SHA-256 hex of data: the delivery's name across the nodes */
    char data[];   /* the document */
};

/* A feed document path seen by tb_websub_changed(). */
struct topic {
    char *path;      /* "topics/x.atom" */
    char hash[65];   /* SHA-256 hex of the last bytes seen */
    struct doc *doc; /* those bytes while the topic has subscribers, or NULL */
    int hash_dirty;  /* hash not written to the store yet */
};

/* An active subscription. */
struct sub {
    struct tb_websub *w; /* owner */
    int64_t id;          /* row id */
    char *topic;         /* path */
    char *callback;      /* URL */
    char *host;          /* its lower-case host, for max_per_host */
    char *secret;        /* or NULL */
    int64_t expires;     /* epoch s */
    int pending;         /* a delivery is owed */
    int attempts;        /* failed deliveries in a row */
    uint64_t due;        /* uv_now() from which an owed delivery may start */
    struct doc *sending; /* the document in flight, or NULL */
    int dropped;         /* removed while a delivery was in flight: freed when it ends */
    int64_t next_try;    /* epoch s of `due`, for the store */
    int dirty;           /* pending/attempts/next_try not written to the store yet */
    int64_t token;       /* several nodes: the claim of the delivery in flight (0: none) */
};

/* A verification (or denial) in flight. */
struct verify {
    struct tb_websub *w;        /* owner */
    enum mode mode;             /* what is verified, or DENIED */
    char *topic;                /* path, or NULL for a denial */
    char *callback;             /* URL */
    char *host;                 /* its host */
    char *secret;               /* or NULL */
    int64_t lease;              /* seconds granted */
    char challenge[44];         /* hex */
    struct verify *prev, *next; /* in w->verifying */
};

struct tb_websub {
    struct tb_websub_opts o;   /* copy of the caller's */
    uv_timer_t timer;          /* retries and the sweep */
    uv_timer_t flush;          /* writes what changed to the store, FLUSH_MS after */
    int flush_armed;           /* flush is started */
    int closes;                /* close callbacks still to come */
    uint64_t timer_at;         /* uv_now() it fires at, or 0 when stopped */
    uint64_t next_sweep;       /* uv_now() of the next sweep */
    struct sub **subs;         /* active subscriptions */
    size_t nsubs, asubs;       /* count, allocated */
    struct topic *topics;      /* documents seen */
    size_t ntopics, atopics;   /* count, allocated */
    struct verify *verifying;  /* verifications in flight */
    size_t nverifying;         /* their number */
    int routed;                /* POST /websub is routed */
    int closing;               /* tb_websub_free() was called */
    struct tb_websub_stats st; /* counters (active and pending computed) */
    char *node;                /* o.node's copy (the config's may be reloaded), or NULL */
};

static const struct tb_config *cfg(const struct tb_websub *w)
{
    return *w->o.cfg;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static uint64_t now_ms(const struct tb_websub *w)
{
    uv_update_time(w->o.loop);
    return uv_now(w->o.loop);
}

const char *tb_websub_hub_url(const struct tb_config *c, char *buf, size_t len)
{
    if (!c->websub.enabled)
        return NULL;
    if (c->websub.hub != NULL)
        snprintf(buf, len, "%s", c->websub.hub);
    else
        snprintf(buf, len, "%swebsub", c->base_url);
    return buf;
}

/* ------------------------------------------------------------ documents */

static void doc_unref(struct doc *d)
{
    if (d != NULL && --d->refs == 0) {
        free(d->type);
        free(d);
    }
}

static struct doc *doc_new(const char *type, const void *data, size_t len, const char *hash)
{
    struct doc *d = malloc(sizeof(*d) + len + 1);

    if (d == NULL)
        return NULL;
    d->refs = 1;
    snprintf(d->hash, sizeof(d->hash), "%s", hash);
    d->len = len;
    memcpy(d->data, data, len);
    d->data[len] = '\0';
    d->type = strdup(type);
    if (d->type == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

static struct topic *topic_find(struct tb_websub *w, const char *path)
{
    for (size_t i = 0; i < w->ntopics; i++)
        if (strcmp(w->topics[i].path, path) == 0)
            return &w->topics[i];
    return NULL;
}

/* The topic entry for path, made (with the stored hash) when new; NULL on failure. */
static struct topic *topic_get(struct tb_websub *w, const char *path)
{
    struct topic *t = topic_find(w, path);
    char err[256] = "";

    if (t != NULL)
        return t;
    if (TB_VEC_RESERVE(w->topics, w->atopics, w->ntopics + 1, TB_VEC_MAX) != 0)
        return NULL;
    t = &w->topics[w->ntopics];
    memset(t, 0, sizeof(*t));
    t->path = strdup(path);
    if (t->path == NULL)
        return NULL;
    if (tb_websub_store_hash(w->o.store, path, t->hash, err, sizeof(err)) != 0)
        tb_log(TB_LOG_WARN, "websub", "%s", err);
    w->ntopics++;
    return t;
}

static size_t subs_of(const struct tb_websub *w, const char *path)
{
    size_t n = 0;

    for (size_t i = 0; i < w->nsubs; i++)
        n += strcmp(w->subs[i]->topic, path) == 0;
    return n;
}

/* --------------------------------------------------------------- timer */

static void on_timer(uv_timer_t *t);

/* Makes the timer fire at `at` (uv_now() time) unless it fires earlier. */
static void wake_at(struct tb_websub *w, uint64_t at)
{
    uint64_t now = now_ms(w);

    if (w->closing || (w->timer_at != 0 && w->timer_at <= at))
        return;
    w->timer_at = at;
    uv_timer_start(&w->timer, on_timer, at > now ? at - now : 0, 0);
}

/* -------------------------------------------------------- subscriptions */

static void sub_free(struct sub *s)
{
    doc_unref(s->sending);
    free(s->topic);
    free(s->callback);
    free(s->host);
    free(s->secret);
    free(s);
}

/* The lower-case host of an http(s) URL (malloc'd), or NULL. */
static char *url_host(const char *url, int *https)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *copy = NULL;

    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0] != '\0') {
        copy = strdup(host);
        for (char *p = copy; p != NULL && *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (https != NULL)
            *https = strcmp(scheme, "https") == 0;
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return copy;
}

/* Takes the subscription out of memory; it is freed now or when its delivery ends. */
static void sub_drop(struct tb_websub *w, size_t i)
{
    struct sub *s = w->subs[i];

    w->subs[i] = w->subs[--w->nsubs];
    if (s->sending != NULL)
        s->dropped = 1;
    else
        sub_free(s);
}

static struct sub *sub_find(struct tb_websub *w, const char *topic, const char *callback,
                            size_t *at)
{
    for (size_t i = 0; i < w->nsubs; i++) {
        if (strcmp(w->subs[i]->topic, topic) == 0 && strcmp(w->subs[i]->callback, callback) == 0) {
            if (at != NULL)
                *at = i;
            return w->subs[i];
        }
    }
    return NULL;
}

/* Adds a subscription loaded or just verified; NULL when out of memory. */
static struct sub *sub_add(struct tb_websub *w, const struct tb_websub_sub *r)
{
    struct sub *s = calloc(1, sizeof(*s));

    if (s == NULL || TB_VEC_RESERVE(w->subs, w->asubs, w->nsubs + 1, TB_VEC_MAX) != 0) {
        free(s);
        return NULL;
    }
    s->w = w;
    s->id = r->id;
    s->topic = strdup(r->topic);
    s->callback = strdup(r->callback);
    s->host = url_host(r->callback, NULL);
    s->secret = r->secret ? strdup(r->secret) : NULL;
    s->expires = r->expires;
    s->pending = r->pending;
    s->attempts = r->attempts;
    s->next_try = r->next_try;
    if (s->topic == NULL || s->callback == NULL || s->host == NULL ||
        (r->secret != NULL && s->secret == NULL)) {
        sub_free(s);
        return NULL;
    }
    w->subs[w->nsubs++] = s;
    return s;
}

/* ------------------------------------------------------------ delivery */

static void deliver(struct tb_websub *w, struct sub *s);

static void on_flush(uv_timer_t *t);

/* Writes what changed in one transaction, FLUSH_MS from now. */
static void flush_soon(struct tb_websub *w)
{
    if (w->closing || w->flush_armed)
        return;
    w->flush_armed = 1;
    uv_timer_start(&w->flush, on_flush, FLUSH_MS, 0);
}

/* Records (later) what s is owed. A crash before the write costs at most
 * a delivery sent twice: the store still says owed. */
static void owe(struct tb_websub *w, struct sub *s, int64_t next_try)
{
    s->next_try = next_try;
    /* Several nodes: the claims keep attempts and next_try (settle); only
     * that something is owed is written here, for a restart. */
    if (w->o.node != NULL && !s->pending)
        return;
    s->dirty = 1;
    flush_soon(w);
}

/* Writes the dirty rows; with wait 0, tries again later when the store is
 * locked by another writer, so the loop never waits for it. */
static void flush(struct tb_websub *w, int wait)
{
    struct tb_websub_owed *owed = calloc(w->nsubs + 1, sizeof(*owed));
    struct tb_websub_hash *hashes = calloc(w->ntopics + 1, sizeof(*hashes));
    size_t n = 0, nh = 0;
    char err[256] = "";
    int rc = -ENOMEM;

    for (size_t i = 0; owed != NULL && i < w->nsubs; i++) {
        const struct sub *s = w->subs[i];

        if (s->dirty)
            owed[n++] = (struct tb_websub_owed){s->id, s->pending, w->o.node ? -1 : s->attempts,
                                                s->next_try};
    }
    for (size_t i = 0; hashes != NULL && i < w->ntopics; i++)
        if (w->topics[i].hash_dirty)
            hashes[nh++] = (struct tb_websub_hash){w->topics[i].path, w->topics[i].hash};
    if (owed != NULL && hashes != NULL)
        rc = tb_websub_store_flush(w->o.store, owed, n, hashes, nh, wait, err, sizeof(err));
    free(owed);
    free(hashes);
    if (rc == 0) {
        for (size_t i = 0; i < w->nsubs; i++)
            w->subs[i]->dirty = 0;
        for (size_t i = 0; i < w->ntopics; i++)
            w->topics[i].hash_dirty = 0;
        return;
    }
    if (rc != -EAGAIN)
        tb_log(TB_LOG_WARN, "websub", "%s", err[0] ? err : tb_strerror(rc));
    flush_soon(w);
}

static void on_flush(uv_timer_t *t)
{
    struct tb_websub *w = t->data;

    w->flush_armed = 0;
    flush(w, 0);
}

/* Several nodes: writes the outcome of s's claimed delivery (sent: the
 * hash the subscriber accepted; NULL: attempts and next_try) for whichever
 * node tries next, and ends the claim. */
static void settle(struct tb_websub *w, struct sub *s, const char *sent)
{
    char err[256] = "";
    int rc;

    if (w->o.node == NULL || s->token == 0)
        return;
    rc = tb_websub_store_settle(w->o.store, s->id, s->token, sent, s->attempts, s->next_try, err,
                                sizeof(err));
    s->token = 0;
    if (rc != 0)
        tb_log(rc == TB_ELEASE ? TB_LOG_WARN : TB_LOG_ERROR, "websub", "%s",
               err[0] ? err : tb_strerror(rc));
}

/* After a failed attempt: wait base * 2^(attempts-1), at most an hour. */
static void retry_later(struct tb_websub *w, struct sub *s)
{
    uint64_t wait = w->o.retry_ms ? w->o.retry_ms : TB_WEBSUB_RETRY_MS;
    uint64_t cap = TB_WEBSUB_RETRY_MAX_MS > wait ? TB_WEBSUB_RETRY_MAX_MS : wait;

    for (int i = 1; i < s->attempts && wait < cap; i++)
        wait *= 2;
    if (wait > cap)
        wait = cap;
    s->due = now_ms(w) + wait;
    owe(w, s, now_s() + (int64_t)((wait + 999) / 1000));
    settle(w, s, NULL);
    wake_at(w, s->due);
}

static size_t find_sub(const struct tb_websub *w, const struct sub *s)
{
    for (size_t i = 0; i < w->nsubs; i++)
        if (w->subs[i] == s)
            return i;
    return SIZE_MAX;
}

static void on_delivered(struct tb_fetch_result *res, void *data)
{
    struct sub *s = data;
    struct tb_websub *w = s->w;
    struct doc *sent = s->sending;
    struct topic *t;
    size_t at;
    char err[256] = "";

    s->sending = NULL;
    if (s->dropped || res->rc == -ECANCELED) {
        doc_unref(sent);
        if (s->dropped)
            sub_free(s);
        return;
    }
    t = topic_find(w, s->topic);
    if (res->rc == 0 && res->status >= 200 && res->status < 300) {
        w->st.delivered++;
        s->attempts = 0;
        settle(w, s, sent->hash);
        /* A newer document arrived while this one was on its way. */
        s->pending = t != NULL && t->doc != NULL && t->doc != sent;
        owe(w, s, now_s());
        doc_unref(sent);
        if (s->pending)
            deliver(w, s);
        return;
    }
    doc_unref(sent);
    w->st.delivery_failed++;
    if (res->status == 410) {
        /* The subscriber says the subscription is gone (WebSub 7). */
        tb_log(TB_LOG_INFO, "websub", "%s: 410 Gone, subscription to %s removed", s->callback,
               s->topic);
        at = find_sub(w, s);
        s->token = 0;
        if (tb_websub_store_del_id(w->o.store, s->id, err, sizeof(err)) != 0)
            tb_log(TB_LOG_WARN, "websub", "%s", err);
        if (at != SIZE_MAX)
            sub_drop(w, at);
        return;
    }
    s->attempts++;
    tb_log(TB_LOG_INFO, "websub", "delivery of %s to %s failed (%s), attempt %d", s->topic,
           s->callback, res->err[0] ? res->err : "error", s->attempts);
    retry_later(w, s);
}

/* Several nodes: whether this node is to send doc to s now, by a claim of
 * (s, doc's hash) in the store; when not, s waits for the other claim or
 * the backoff to end, or owes nothing (the subscriber has the document).
 * One node: always. */
static int claim(struct tb_websub *w, struct sub *s, const struct doc *doc)
{
    struct tb_websub_claim c;
    char err[256] = "";
    int64_t now = now_s(), lease;
    int rc;

    if (w->o.node == NULL)
        return 1;
    /* The claim outlives the request (twice its timeout and a minute), so
     * no other node takes over a delivery still on its way. */
    lease = 2 * (int64_t)cfg(w)->timeout + 60;
    if (cfg(w)->lease > lease)
        lease = cfg(w)->lease;
    rc = tb_websub_store_claim(w->o.store, s->id, doc->hash, w->o.node, now, lease, &c, err,
                               sizeof(err));
    if (rc == 1) {
        s->token = c.token;
        s->attempts = c.attempts;
        return 1;
    }
    if (rc < 0) {
        /* The row is busy or the database away: try again in a while. */
        tb_log(TB_LOG_WARN, "websub", "claiming a delivery to %s: %s", s->callback,
               err[0] ? err : tb_strerror(rc));
        c.wait_until = now + 1;
    }
    if (c.wait_until == 0) {
        s->pending = 0; /* accepted already (another node sent it), or gone */
        return 0;
    }
    /* Another node's delivery usually ends well before its claim would:
     * look again soon (it may have failed, and the retry be this node's). */
    if (c.held && c.wait_until > now + HELD_RECHECK_S)
        c.wait_until = now + HELD_RECHECK_S;
    s->due = now_ms(w) + (uint64_t)(c.wait_until - now) * 1000;
    wake_at(w, s->due);
    return 0;
}

/* Starts the delivery s is owed, if its document is here and it may go now. */
static void deliver(struct tb_websub *w, struct sub *s)
{
    struct topic *t = topic_find(w, s->topic);
    char link[4200], sig[sizeof("X-Hub-Signature: sha256=") + TB_SHA256_HEX];
    const char *headers[3] = {link, NULL, NULL};
    unsigned char mac[TB_SHA256_LEN];
    char hub[2100];
    struct tb_fetch_req req = {.url = s->callback,
                               .method = "POST",
                               .no_redirect = 1,
                               .public_only = !cfg(w)->websub.allow_private};
    int rc;

    if (w->closing || !s->pending || s->sending != NULL || t == NULL || t->doc == NULL ||
        s->expires <= now_s() || s->due > now_ms(w))
        return;
    if (!claim(w, s, t->doc))
        return;
    snprintf(link, sizeof(link), "Link: <%s>; rel=\"hub\", <%s%s>; rel=\"self\"",
             tb_websub_hub_url(cfg(w), hub, sizeof(hub)) ? hub : "", cfg(w)->base_url, s->topic);
    if (s->secret != NULL) {
        if (tb_hmac_sha256(s->secret, strlen(s->secret), t->doc->data, t->doc->len, mac) != 0) {
            settle(w, s, NULL);
            return;
        }
        memcpy(sig, "X-Hub-Signature: sha256=", 24);
        tb_hash_hex(mac, sizeof(mac), sig + 24);
        headers[1] = sig;
    }
    req.body = t->doc->data;
    req.body_len = t->doc->len;
    req.content_type = t->doc->type;
    req.headers = headers;
    rc = tb_fetcher_add(w->o.fetcher, &req, on_delivered, s);
    if (rc != 0) {
        tb_log(TB_LOG_WARN, "websub", "delivery to %s: %s", s->callback, tb_strerror(rc));
        s->attempts++;
        retry_later(w, s);
        return;
    }
    s->sending = t->doc;
    t->doc->refs++;
}

static const struct tb_websub_sub *row_of(const struct tb_websub_sub *rows, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].id == id)
            return &rows[i];
    return NULL;
}

/* Several nodes: takes in the subscriptions as the store has them, so
 * that those verified, renewed or removed through another node are
 * delivered to (or not) here too. */
static void resync(struct tb_websub *w, int64_t now)
{
    struct tb_websub_sub *rows = NULL;
    size_t n = 0, added = 0;
    char err[256] = "";

    if (tb_websub_store_load(w->o.store, now, &rows, &n, err, sizeof(err)) != 0) {
        tb_log(TB_LOG_WARN, "websub", "%s", err);
        return;
    }
    for (size_t i = w->nsubs; i-- > 0;)
        if (row_of(rows, n, w->subs[i]->id) == NULL)
            sub_drop(w, i);
    for (size_t i = 0; i < n; i++) {
        struct sub *s = sub_find(w, rows[i].topic, rows[i].callback, NULL);
        char *secret = rows[i].secret;

        if (s == NULL) {
            added += sub_add(w, &rows[i]) != NULL;
            continue;
        }
        s->expires = rows[i].expires;
        if (secret == NULL || s->secret == NULL || strcmp(secret, s->secret) != 0) {
            free(s->secret);
            s->secret = secret;
            rows[i].secret = NULL;
        }
    }
    tb_websub_subs_free(rows, n);
    if (added > 0)
        tb_log(TB_LOG_INFO, "websub", "%zu subscriptions made through other nodes", added);
}

/* Removes expired subscriptions (store and memory) and the documents no
 * one subscribes to any more. */
static void sweep(struct tb_websub *w)
{
    int64_t now = now_s();
    size_t removed = 0;
    char err[256] = "";

    if (tb_websub_store_expire(w->o.store, now, &removed, err, sizeof(err)) != 0)
        tb_log(TB_LOG_WARN, "websub", "%s", err);
    for (size_t i = w->nsubs; i-- > 0;)
        if (w->subs[i]->expires <= now)
            sub_drop(w, i);
    if (w->o.node != NULL)
        resync(w, now);
    for (size_t i = 0; i < w->ntopics; i++) {
        if (w->topics[i].doc != NULL && subs_of(w, w->topics[i].path) == 0) {
            doc_unref(w->topics[i].doc);
            w->topics[i].doc = NULL;
        }
    }
    if (removed > 0)
        tb_log(TB_LOG_INFO, "websub", "%zu expired subscriptions removed", removed);
}

static void on_timer(uv_timer_t *timer)
{
    struct tb_websub *w = timer->data;
    uint64_t now = now_ms(w), next = 0;

    w->timer_at = 0;
    if (now >= w->next_sweep) {
        sweep(w);
        w->next_sweep = now + SWEEP_MS;
    }
    for (size_t i = 0; i < w->nsubs; i++) {
        struct sub *s = w->subs[i];

        if (s->pending && s->sending == NULL && s->due <= now)
            deliver(w, s);
        if (s->pending && s->sending == NULL && s->due > now && (next == 0 || s->due < next))
            next = s->due;
    }
    wake_at(w, next != 0 && next < w->next_sweep ? next : w->next_sweep);
}

/* ------------------------------------------------------ external hub */

static void on_published(struct tb_fetch_result *res, void *data)
{
    struct tb_websub *w = data;

    if (res->rc == -ECANCELED)
        return;
    if (res->rc == 0 && res->status >= 200 && res->status < 300) {
        w->st.published++;
        return;
    }
    w->st.publish_failed++;
    tb_log(TB_LOG_WARN, "websub", "publish ping to %s: %s", cfg(w)->websub.hub,
           res->err[0] ? res->err : "failed");
}

/* hub.mode=publish&hub.url=FEED to the external hub. */
static void ping_hub(struct tb_websub *w, const char *path)
{
    char url[2100], body[4400];
    char *enc;
    struct tb_fetch_req req = {
        .url = cfg(w)->websub.hub, .method = "POST", .content_type = FORM, .no_redirect = 1};

    snprintf(url, sizeof(url), "%s%s", cfg(w)->base_url, path);
    enc = curl_easy_escape(NULL, url, 0);
    if (enc == NULL)
        return;
    snprintf(body, sizeof(body), "hub.mode=publish&hub.url=%s", enc);
    curl_free(enc);
    req.body = body;
    req.body_len = strlen(body);
    if (tb_fetcher_add(w->o.fetcher, &req, on_published, w) != 0)
        w->st.publish_failed++;
}

void tb_websub_changed(struct tb_websub *w, const char *path, const char *type, const void *data,
                       size_t len)
{
    char hash[TB_SHA256_HEX];
    struct topic *t;
    struct doc *d;
    int64_t now = now_s();

    if (w == NULL || w->closing || !cfg(w)->websub.enabled || tb_sha256_hex(data, len, hash) != 0)
        return;
    t = topic_get(w, path);
    if (t == NULL)
        return;
    if (strcmp(t->hash, hash) == 0 && (t->doc != NULL || subs_of(w, path) == 0))
        return;
    /* The bytes are kept only while someone subscribes to them. */
    d = subs_of(w, path) > 0 ? doc_new(type, data, len, hash) : NULL;
    if (d == NULL && subs_of(w, path) > 0)
        return;
    doc_unref(t->doc);
    t->doc = d;
    if (strcmp(t->hash, hash) == 0) {
        /* The same bytes as before a restart: only what was owed then goes out. */
        for (size_t i = 0; i < w->nsubs; i++)
            if (strcmp(w->subs[i]->topic, path) == 0)
                deliver(w, w->subs[i]);
        return;
    }
    memcpy(t->hash, hash, sizeof(t->hash));
    t->hash_dirty = 1;
    flush_soon(w);
    if (cfg(w)->websub.hub != NULL) {
        ping_hub(w, path);
        return;
    }
    if (t->doc == NULL)
        return;
    for (size_t i = 0; i < w->nsubs; i++) {
        struct sub *s = w->subs[i];

        if (strcmp(s->topic, path) != 0)
            continue;
        s->pending = 1;
        owe(w, s, s->attempts == 0 ? now : s->next_try);
        deliver(w, s);
    }
}

/* --------------------------------------------------------- verification */

static void verify_free(struct tb_websub *w, struct verify *v)
{
    if (v->prev != NULL)
        v->prev->next = v->next;
    else if (w->verifying == v)
        w->verifying = v->next;
    if (v->next != NULL)
        v->next->prev = v->prev;
    w->nverifying--;
    free(v->topic);
    free(v->callback);
    free(v->host);
    free(v->secret);
    free(v);
}

/* The verified intent takes effect. */
static void apply(struct tb_websub *w, struct verify *v)
{
    struct tb_websub_sub r = {.topic = v->topic, .callback = v->callback, .secret = v->secret};
    int64_t now = now_s();
    char err[256] = "";
    struct sub *s;
    size_t at;

    if (v->mode == UNSUBSCRIBE) {
        if (tb_websub_store_del(w->o.store, v->topic, v->callback, err, sizeof(err)) != 0)
            tb_log(TB_LOG_WARN, "websub", "%s", err);
        if (sub_find(w, v->topic, v->callback, &at) != NULL)
            sub_drop(w, at);
        tb_log(TB_LOG_INFO, "websub", "unsubscribed %s from %s", v->callback, v->topic);
        return;
    }
    if (tb_websub_store_put(w->o.store, v->topic, v->callback, v->secret, v->lease, now, &r.id, err,
                            sizeof(err)) != 0) {
        tb_log(TB_LOG_WARN, "websub", "%s", err);
        return;
    }
    s = sub_find(w, v->topic, v->callback, NULL);
    if (s != NULL) {
        /* A renewal: the lease starts again and the secret is the new one. */
        free(s->secret);
        s->secret = v->secret;
        v->secret = NULL;
        s->expires = now + v->lease;
    } else {
        r.expires = now + v->lease;
        if (sub_add(w, &r) == NULL)
            tb_log(TB_LOG_WARN, "websub", "out of memory");
    }
    tb_log(TB_LOG_INFO, "websub", "subscribed %s to %s for %" PRId64 " s", v->callback, v->topic,
           v->lease);
}

static void on_verified(struct tb_fetch_result *res, void *data)
{
    struct verify *v = data;
    struct tb_websub *w = v->w;
    size_t clen = strlen(v->challenge);

    if (res->rc == -ECANCELED || v->mode == DENIED) {
        verify_free(w, v);
        return;
    }
    if (res->rc == 0 && res->status >= 200 && res->status < 300 && res->body.len == clen &&
        memcmp(res->body.data, v->challenge, clen) == 0) {
        w->st.verify_ok++;
        apply(w, v);
    } else {
        w->st.verify_failed++;
        tb_log(TB_LOG_INFO, "websub", "%s of %s to %s not verified: %s",
               v->mode == SUBSCRIBE ? "subscription" : "unsubscription", v->callback, v->topic,
               res->rc              ? res->err
               : res->status >= 300 ? "not 2xx"
                                    : "wrong challenge");
    }
    verify_free(w, v);
}

/* Appends "&name=VALUE" (VALUE percent-encoded) to b. */
static int add_param(struct tb_buf *b, const char *name, const char *value)
{
    char *enc = curl_easy_escape(NULL, value, 0);
    int rc;

    if (enc == NULL)
        return -ENOMEM;
    rc = tb_buf_addf(b, "&%s=%s", name, enc);
    curl_free(enc);
    return rc;
}

/* GETs the callback with the intent (or the denial) in its query. */
static int verify_start(struct tb_websub *w, struct verify *v, const char *topic_url,
                        const char *reason)
{
    static const char *const modes[] = {"subscribe", "unsubscribe", "denied"};
    struct tb_fetch_req req = {.no_redirect = 1, .public_only = !cfg(w)->websub.allow_private};
    unsigned char rnd[20];
    char lease[32];
    struct tb_buf url;
    int rc;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return -EIO;
    tb_hash_hex(rnd, sizeof(rnd), v->challenge);
    tb_buf_init(&url, MAX_CALLBACK + MAX_TOPIC * 3 + 512);
    rc = tb_buf_addf(&url, "%s%shub.mode=%s", v->callback, strchr(v->callback, '?') ? "&" : "?",
                     modes[v->mode]);
    rc = rc ? rc : add_param(&url, "hub.topic", topic_url);
    if (v->mode == DENIED) {
        rc = rc ? rc : add_param(&url, "hub.reason", reason);
    } else {
        snprintf(lease, sizeof(lease), "%" PRId64, v->lease);
        rc = rc ? rc : add_param(&url, "hub.challenge", v->challenge);
        if (v->mode == SUBSCRIBE)
            rc = rc ? rc : add_param(&url, "hub.lease_seconds", lease);
    }
    req.url = url.data;
    rc = rc ? rc : tb_fetcher_add(w->o.fetcher, &req, on_verified, v);
    tb_buf_free(&url);
    return rc;
}

/* ------------------------------------------------------------- requests */

/* The feed path a topic URL names under base_url ("topics/x.rss"), or NULL
 * when it names nothing we publish. */
static const char *topic_path(const struct tb_config *c, const char *url)
{
    static const char *const exts[] = {".atom", ".rss", ".json"};
    size_t blen = strlen(c->base_url);
    const char *rest, *dot;
    char stem[256];

    if (strncasecmp(url, c->base_url, blen) != 0)
        return NULL;
    rest = url + blen;
    dot = strrchr(rest, '.');
    if (dot == NULL || (size_t)(dot - rest) >= sizeof(stem))
        return NULL;
    if (strcmp(dot, exts[0]) != 0 && strcmp(dot, exts[1]) != 0 && strcmp(dot, exts[2]) != 0)
        return NULL;
    memcpy(stem, rest, (size_t)(dot - rest));
    stem[dot - rest] = '\0';
    if (strcmp(stem, "all") == 0 || strcmp(stem, "trending") == 0)
        return rest;
    for (size_t i = 0; i < c->ntopics; i++) {
        const char *name = c->topics[i].name;

        if ((strncmp(stem, "topics/", 7) == 0 && strcmp(stem + 7, name) == 0) ||
            (strncmp(stem, "trending/", 9) == 0 && strcmp(stem + 9, name) == 0))
            return rest;
    }
    return NULL;
}

/* Whether host is a literal loopback/private/special address or localhost:
 * refused at once (names are checked where they connect). */
static int host_private(const char *host)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    char h[256];
    size_t n = strlen(host);

    if (n == 0 || n >= sizeof(h))
        return 1;
    memcpy(h, host, n + 1);
    if (h[0] == '[' && h[n - 1] == ']') {
        memmove(h, h + 1, n - 2);
        h[n - 2] = '\0';
    }
    if (strcmp(h, "localhost") == 0 || (n > 10 && strcmp(h + strlen(h) - 10, ".localhost") == 0))
        return 1;
    if (inet_pton(AF_INET, h, &in.sin_addr) == 1)
        return !tb_fetcher_addr_public((struct sockaddr *)&in);
    if (inet_pton(AF_INET6, h, &in6.sin6_addr) == 1)
        return !tb_fetcher_addr_public((struct sockaddr *)&in6);
    return 0;
}

/* Subscriptions and subscribe verifications whose callback is on host / for topic. */
static void counts(struct tb_websub *w, const char *host, const char *topic, size_t *nhost,
                   size_t *ntopic)
{
    *nhost = *ntopic = 0;
    for (size_t i = 0; i < w->nsubs; i++) {
        *nhost += strcmp(w->subs[i]->host, host) == 0;
        *ntopic += strcmp(w->subs[i]->topic, topic) == 0;
    }
    /* Subscriptions being verified count too, but not a renewal: it is
     * counted above. */
    for (const struct verify *v = w->verifying; v != NULL; v = v->next) {
        if (v->mode != SUBSCRIBE || sub_find(w, v->topic, v->callback, NULL) != NULL)
            continue;
        *nhost += strcmp(v->host, host) == 0;
        *ntopic += strcmp(v->topic, topic) == 0;
    }
}

static void answer(struct tb_http_res *res, int status, const char *text)
{
    res->status = status;
    res->type = "text/plain; charset=utf-8";
    if (tb_buf_addf(&res->body, "%s\n", text) != 0)
        res->status = 500;
}

/* The lease granted for the asked one (NULL or "": the default), or -1 when malformed. */
static int64_t lease_of(const struct tb_config_websub *c, const char *asked)
{
    int64_t n = 0;

    if (asked == NULL || asked[0] == '\0')
        return c->lease;
    for (const char *p = asked; *p; p++) {
        if (!isdigit((unsigned char)*p) || p - asked > 12)
            return -1;
        n = n * 10 + (*p - '0');
    }
    return n < c->lease_min ? c->lease_min : n > c->lease_max ? c->lease_max : n;
}

/* Checks the form and fills v; on a refusal returns the status and sets *why. */
static int check_request(struct tb_websub *w, const struct tb_form *f, struct verify *v,
                         const char **why, const char **topic_url)
{
    const struct tb_config *c = cfg(w);
    const char *mode = tb_form_get(f, "hub.mode"), *cb = tb_form_get(f, "hub.callback");
    const char *topic = tb_form_get(f, "hub.topic"), *secret = tb_form_get(f, "hub.secret");
    const char *path;
    size_t nhost, ntopic;
    int https = 0;

    *topic_url = topic;
    if (mode == NULL || (strcmp(mode, "subscribe") != 0 && strcmp(mode, "unsubscribe") != 0))
        return *why = "hub.mode must be subscribe or unsubscribe", 400;
    if (cb == NULL || strlen(cb) > MAX_CALLBACK || strpbrk(cb, " \t\r\n#") != NULL)
        return *why = "hub.callback must be an http(s) URL", 400;
    if (topic == NULL || topic[0] == '\0' || strlen(topic) > MAX_TOPIC)
        return *why = "hub.topic is missing", 400;
    if (secret != NULL && strlen(secret) > TB_WEBSUB_SECRET_MAX)
        return *why = "hub.secret must be under 200 bytes", 400;
    v->mode = strcmp(mode, "subscribe") == 0 ? SUBSCRIBE : UNSUBSCRIBE;
    v->lease = lease_of(&c->websub, tb_form_get(f, "hub.lease_seconds"));
    if (v->lease < 0)
        return *why = "hub.lease_seconds must be a number of seconds", 400;
    v->host = url_host(cb, &https);
    if (v->host == NULL)
        return *why = "hub.callback must be an http(s) URL", 400;
    if (!c->websub.allow_private && host_private(v->host))
        return *why = "hub.callback must be at a public address", 403;
    v->callback = strdup(cb);
    v->secret = secret != NULL && secret[0] != '\0' ? strdup(secret) : NULL;
    if (v->callback == NULL || (secret != NULL && secret[0] != '\0' && v->secret == NULL))
        return *why = "out of memory", 500;
    path = topic_path(c, topic);
    if (path == NULL) {
        v->mode = DENIED;
        return 0;
    }
    v->topic = strdup(path);
    if (v->topic == NULL)
        return *why = "out of memory", 500;
    counts(w, v->host, v->topic, &nhost, &ntopic);
    if (v->mode == SUBSCRIBE && sub_find(w, v->topic, v->callback, NULL) == NULL) {
        if (nhost >= c->websub.max_per_host)
            return *why = "too many subscriptions for this callback host", 403;
        if (ntopic >= c->websub.max_per_topic)
            return *why = "too many subscriptions to this topic", 403;
    }
    return 0;
}

/* POST /websub. */
static void route(const struct tb_http_req *req, struct tb_http_res *res, void *data)
{
    struct tb_websub *w = data;
    struct verify *v = NULL;
    const char *why = "", *topic_url = NULL;
    struct tb_form f;
    int status = 0;

    if (strcmp(req->method, "POST") != 0) {
        (void)!tb_http_res_header(res, "Allow", "POST");
        answer(res, 405, "POST hub.mode, hub.topic and hub.callback here (W3C WebSub)");
        return;
    }
    if (strncasecmp(req->content_type, FORM, strlen(FORM)) != 0) {
        answer(res, 400, "the request must be " FORM);
        return;
    }
    if (w->nverifying >= MAX_VERIFYING) {
        (void)!tb_http_res_header(res, "Retry-After", "60");
        answer(res, 503, "too many verifications in progress; try again later");
        return;
    }
    if (tb_form_parse(&f, req->body, req->body_len) != 0) {
        tb_form_free(&f);
        answer(res, 400, "malformed form");
        return;
    }
    v = calloc(1, sizeof(*v));
    if (v == NULL) {
        tb_form_free(&f);
        answer(res, 500, "out of memory");
        return;
    }
    v->w = w;
    status = check_request(w, &f, v, &why, &topic_url);
    if (status == 0) {
        v->next = w->verifying;
        if (v->next != NULL)
            v->next->prev = v;
        w->verifying = v;
        w->nverifying++;
        if (v->mode == DENIED)
            w->st.denied++;
        if (verify_start(w, v, topic_url, "the topic is not a feed this hub publishes") != 0) {
            verify_free(w, v);
            status = 500;
            why = "could not start the verification";
        }
    } else {
        free(v->topic);
        free(v->callback);
        free(v->host);
        free(v->secret);
        free(v);
    }
    tb_form_free(&f);
    if (status != 0)
        answer(res, status, why);
    else
        answer(res, 202, "accepted: the callback will be asked to verify");
}

/* ------------------------------------------------------------ lifetime */

static int load(struct tb_websub *w)
{
    struct tb_websub_sub *rows = NULL;
    size_t n = 0;
    char err[256] = "";
    int rc = tb_websub_store_load(w->o.store, now_s(), &rows, &n, err, sizeof(err));

    if (rc != 0) {
        tb_log(TB_LOG_ERROR, "websub", "%s", err[0] ? err : tb_strerror(rc));
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (sub_add(w, &rows[i]) == NULL)
            rc = -ENOMEM;
    tb_websub_subs_free(rows, n);
    if (n > 0)
        tb_log(TB_LOG_INFO, "websub", "%zu subscriptions loaded", n);
    return rc;
}

int tb_websub_new(const struct tb_websub_opts *o, struct tb_websub **out)
{
    struct tb_websub *w = calloc(1, sizeof(*w));
    int rc;

    if (w == NULL)
        return -ENOMEM;
    w->o = *o;
    if (o->node != NULL) {
        w->node = strdup(o->node);
        if (w->node == NULL) {
            free(w);
            return -ENOMEM;
        }
        w->o.node = w->node;
    }
    uv_timer_init(o->loop, &w->timer);
    uv_timer_init(o->loop, &w->flush);
    w->timer.data = w->flush.data = w;
    rc = load(w);
    if (rc == 0 && o->http != NULL && cfg(w)->websub.enabled && cfg(w)->websub.hub == NULL) {
        rc = tb_http_route(o->http, "/websub", route, w);
        w->routed = rc == 0;
        if (rc)
            tb_log(TB_LOG_ERROR, "websub", "/websub: %s", tb_strerror(rc));
    }
    w->next_sweep = now_ms(w) + SWEEP_MS;
    wake_at(w, w->next_sweep);
    *out = w;
    if (rc != 0) {
        tb_websub_free(w);
        *out = NULL;
    }
    return rc;
}

void tb_websub_stats(const struct tb_websub *w, struct tb_websub_stats *st)
{
    *st = w->st;
    st->active = w->nsubs;
    st->pending = 0;
    for (size_t i = 0; i < w->nsubs; i++)
        st->pending += w->subs[i]->pending;
}

void tb_websub_metrics(const struct tb_websub *w, struct tb_buf *out)
{
    struct tb_websub_stats st;

    if (w == NULL)
        return;
    tb_websub_stats(w, &st);
    (void)!tb_buf_addf(out,
                       "# TYPE tributary_websub_subscriptions gauge\n"
                       "tributary_websub_subscriptions %zu\n"
                       "# TYPE tributary_websub_pending gauge\n"
                       "tributary_websub_pending %zu\n"
                       "# TYPE tributary_websub_verifications_total counter\n"
                       "tributary_websub_verifications_total{outcome=\"ok\"} %lu\n"
                       "tributary_websub_verifications_total{outcome=\"failed\"} %lu\n"
                       "tributary_websub_verifications_total{outcome=\"denied\"} %lu\n"
                       "# TYPE tributary_websub_deliveries_total counter\n"
                       "tributary_websub_deliveries_total{outcome=\"ok\"} %lu\n"
                       "tributary_websub_deliveries_total{outcome=\"failed\"} %lu\n"
                       "# TYPE tributary_websub_publish_pings_total counter\n"
                       "tributary_websub_publish_pings_total{outcome=\"ok\"} %lu\n"
                       "tributary_websub_publish_pings_total{outcome=\"failed\"} %lu\n",
                       st.active, st.pending, st.verify_ok, st.verify_failed, st.denied,
                       st.delivered, st.delivery_failed, st.published, st.publish_failed);
}

static void on_close(uv_handle_t *h)
{
    struct tb_websub *w = h->data;

    if (--w->closes == 0) {
        free(w->node);
        free(w);
    }
}

void tb_websub_free(struct tb_websub *w)
{
    if (w == NULL || w->closing)
        return;
    /* What is owed and the hashes are written now, waiting if need be. */
    flush(w, 1);
    w->closing = 1;
    if (w->routed)
        (void)!tb_http_route(w->o.http, "/websub", NULL, NULL);
    /* Cancelled callbacks free their own verification; a cancelled
     * delivery stays owed in the store. */
    while (w->verifying != NULL) {
        struct verify *v = w->verifying;

        tb_fetcher_cancel(w->o.fetcher, v);
        if (w->verifying == v)
            verify_free(w, v);
    }
    for (size_t i = 0; i < w->nsubs; i++) {
        if (w->subs[i]->sending == NULL)
            continue;
        /* Several nodes: the delivery is another node's to make at once. */
        settle(w, w->subs[i], NULL);
        tb_fetcher_cancel(w->o.fetcher, w->subs[i]);
    }
    tb_fetcher_cancel(w->o.fetcher, w);
    for (size_t i = 0; i < w->nsubs; i++)
        sub_free(w->subs[i]);
    free(w->subs);
    for (size_t i = 0; i < w->ntopics; i++) {
        doc_unref(w->topics[i].doc);
        free(w->topics[i].path);
    }
    free(w->topics);
    w->closes = 2;
    uv_close((uv_handle_t *)&w->timer, on_close);
    uv_close((uv_handle_t *)&w->flush, on_close);
}
