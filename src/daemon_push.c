/*
 * The daemon's WebSub subscriber (tb_push.h): with [websub] callback_base,
 * a source whose polled feed names a hub is subscribed there; the hub
 * verifies at CALLBACK_BASE/websub/callback/ID and pushes new documents
 * there, which go through the same parse, store and publish path as a poll
 * (tb__daemon_push_ingest() in daemon_poll.c). While a subscription is
 * active its source is polled at tb_push_poll_interval(); a timer renews
 * leases before they end, retries failed requests with backoff, and lets
 * lapsed subscriptions go back to normal polling.
 *
 * The hub's URL comes from a feed, so it is reached only at public
 * addresses unless [websub] allow_private is set (the test's hub is on
 * loopback). Every request to a hub goes through the daemon's fetcher,
 * which follows a hub's 307 or 308 with the same form (a hub that moved),
 * never a 301-303 (they would turn the POST into a GET). All of it runs on
 * the loop's thread; the subscriptions are written through the loop's
 * connection (d->store).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tb_date.h"
#include "tb_db.h"
#include "tb_fetch.h"
#include "tb_fetcher.h"
#include "tb_form.h"
#include "tb_push.h"

#include "daemon_int.h"

#define TICK_MS 1000       /* how often leases and retries are looked at */
#define VERIFY_WAIT 3600   /* a hub that has not verified a request by then: failed */
#define DENIED_RETRY 86400 /* a denied subscription is asked again after this long */
#define FORM "application/x-www-form-urlencoded"

/* One request to a hub, in flight. */
struct hubreq {
    struct daemon *d;  /* owner */
    int64_t source_id; /* whose subscription */
    char *id;          /* its callback id then (a newer subscription of the source differs) */
    int unsubscribe;   /* hub.mode=unsubscribe, best effort */
};

static void hubreq_free(struct hubreq *r)
{
    free(r->id);
    free(r);
}

static void save(struct daemon *d, const struct tb_push_sub *p)
{
    char err[512] = "";

    if (tb_push_put(d->store, p, err, sizeof(err)) != 0)
        tb_log(TB_LOG_ERROR, "websub", "subscription: %s", err);
}

/* The running source of stored source id `id`, or NULL. */
static struct src *src_by_source_id(struct daemon *d, int64_t id)
{
    size_t i;

    for (i = 0; i < d->nsrcs; i++) {
        if (d->srcs[i]->st.source_id == id && !d->srcs[i]->removed)
            return d->srcs[i];
    }
    return NULL;
}

/* The running source whose subscription has callback id `id`, or NULL. */
static struct src *src_by_id(struct daemon *d, const char *id)
{
    size_t i;

    for (i = 0; i < d->nsrcs; i++) {
        if (d->srcs[i]->push != NULL && strcmp(d->srcs[i]->push->id, id) == 0)
            return d->srcs[i];
    }
    return NULL;
}

static int is_active(const struct tb_push_sub *p, int64_t now)
{
    return p != NULL && p->state == TB_PUSH_ACTIVE && now < p->lease_end;
}

int64_t tb__daemon_push_interval(const struct src *s)
{
    return is_active(s->push, now_s()) ? tb_push_poll_interval(s->interval) : s->interval;
}

/* The subscription no longer holds: the source's next poll comes at its
 * own interval after the last one, not at the longer one it was given. */
static void lapsed(struct src *s)
{
    int64_t want = s->st.last_attempt + s->interval, now = now_s();
    char err[512] = "";

    if (s->busy || s->removed || s->st.last_attempt == 0 || want >= s->st.next_poll)
        return;
    s->st.next_poll = want > now ? want : now;
    /* Stored too: the due time a claim goes by is the database's. */
    if (tb_lease_poll_by(s->d->store, s->st.source_id, s->st.next_poll, err, sizeof(err)) != 0)
        tb_log(TB_LOG_ERROR, s->name, "next poll: %s", err);
    tb__daemon_schedule(s);
}

/* A failed request: retried after a growing delay; an active lease holds meanwhile. */
static void failed(struct src *s, const char *why)
{
    struct tb_push_sub *p = s->push;
    int64_t now = now_s();

    p->failures++;
    p->next_try = now + tb_push_retry_delay(p->failures);
    free(p->reason);
    p->reason = strdup(why);
    if (p->state != TB_PUSH_ACTIVE || now >= p->lease_end)
        p->state = TB_PUSH_FAILED;
    tb_log(TB_LOG_WARN, s->name, "websub: %s at %s (retry in %" PRId64 " s)", why, p->hub,
           p->next_try - now);
    save(s->d, p);
    if (p->state != TB_PUSH_ACTIVE)
        lapsed(s);
}

static void on_hub_answer(struct tb_fetch_result *res, void *data)
{
    struct hubreq *r = data;
    struct src *s = res->rc == -ECANCELED ? NULL : src_by_source_id(r->d, r->source_id);
    char why[400];

    if (s != NULL && !r->unsubscribe && s->push != NULL && strcmp(s->push->id, r->id) == 0) {
        s->push_busy = 0;
        if (res->status >= 200 && res->status < 300) {
            /* Accepted: the hub verifies (GET to the callback) soon, or
             * did already (some verify before they answer): then the
             * lease's renewal time stays. */
            int64_t now = now_s();

            if (s->push->state != TB_PUSH_ACTIVE)
                s->push->state = TB_PUSH_PENDING;
            if (s->push->state != TB_PUSH_ACTIVE || s->push->next_try <= now)
                s->push->next_try = now + VERIFY_WAIT;
            save(s->d, s->push);
            tb_log(TB_LOG_INFO, s->name, "websub: subscription requested at %s (%ld)", s->push->hub,
                   res->status);
        } else {
            if (res->status > 0)
                snprintf(why, sizeof(why), "hub answered %ld", res->status);
            else
                snprintf(why, sizeof(why), "hub: %s", res->err[0] ? res->err : "no answer");
            failed(s, why);
        }
    } else if (r->unsubscribe && res->rc != -ECANCELED) {
        tb_log(TB_LOG_INFO, "websub", "unsubscribe %s: %ld", r->id, res->status);
    }
    hubreq_free(r);
}

/* Sends hub.mode=`mode` for subscription p of source_id to its hub. 0 or a negative error. */
static int send_request(struct daemon *d, const char *base, int64_t source_id,
                        const struct tb_push_sub *p, const char *mode)
{
    struct tb_fetch_req req = {0};
    struct hubreq *r = calloc(1, sizeof(*r));
    struct tb_buf cb, body;
    int rc;

    tb_buf_init(&cb, 4096);
    tb_buf_init(&body, 16384);
    if (r != NULL)
        r->id = strdup(p->id);
    rc = r != NULL && r->id != NULL ? 0 : -ENOMEM;
    if (rc == 0)
        rc = tb_buf_addf(&cb, "%s%s%s", base, &TB_PUSH_PATH[1], p->id);
    if (rc == 0)
        rc = tb_push_request_body(&body, mode, p->topic, cb.data, p->secret, TB_PUSH_LEASE);
    if (rc == 0) {
        r->d = d;
        r->source_id = source_id;
        r->unsubscribe = strcmp(mode, "unsubscribe") == 0;
        req.url = p->hub;
        req.method = "POST";
        req.body = body.data;
        req.body_len = body.len;
        req.content_type = FORM;
        req.public_only = !d->cfg->websub.allow_private;
        rc = tb_fetcher_add(d->fetcher, &req, on_hub_answer, r);
    }
    if (rc != 0 && r != NULL)
        hubreq_free(r);
    tb_buf_free(&cb);
    tb_buf_free(&body);
    return rc;
}

/* Puts the subscription as stored (fresh, taken over) into s. */
static void take_stored(struct src *s, struct tb_push_sub *fresh)
{
    if (s->push->id == NULL || strcmp(fresh->id, s->push->id) != 0)
        s->push_busy = 0; /* an answer in flight is about another id */
    tb_push_sub_clear(s->push);
    *s->push = *fresh;
}

/* Whether s's subscription has a step to take at now: its lease lapsed,
 * or a renewal or retry is due. */
static int step_due(const struct src *s, int64_t now)
{
    const struct tb_push_sub *p = s->push;

    if (p->state == TB_PUSH_ACTIVE && now >= p->lease_end)
        return 1;
    return !s->push_busy && now >= p->next_try && s->d->cfg->websub.callback_base != NULL;
}

/* Several nodes on one database: whether this node is to take s's due
 * step (a renewal, a retry, a lapsed lease). It reads the row again (the
 * step may be done: another node renewed, or a verification reached
 * another node), and claims the step by counting the row's claim_token up
 * from what it read, next_try VERIFY_WAIT ahead meanwhile (the step's
 * save sets it again), so that of two nodes one takes it. One node:
 * always. */
static int claim_step(struct src *s, int64_t now)
{
    struct tb_push_sub fresh = {0};
    char err[512] = "";
    int rc;

    if (!tb_db_is_pg(s->d->cfg->database))
        return 1;
    rc = tb_push_get(s->d->store, s->st.source_id, &fresh, err, sizeof(err));
    if (rc != 0) {
        if (rc != -ENOENT)
            tb_log(TB_LOG_WARN, s->name, "websub: %s", err[0] ? err : tb_strerror(rc));
        return 0;
    }
    take_stored(s, &fresh);
    if (!step_due(s, now))
        return 0;
    rc = tb_push_claim(s->d->store, s->push->id, &s->push->claim_token, now + VERIFY_WAIT, err,
                       sizeof(err));
    if (rc < 0)
        tb_log(TB_LOG_WARN, s->name, "websub: claiming a step: %s", err);
    return rc == 1;
}

/* Asks s's hub for (or to renew) its subscription. */
static void request(struct src *s)
{
    char why[128];
    int rc;

    if (s->d->cfg->websub.callback_base == NULL || s->d->fetcher == NULL || s->push_busy)
        return;
    rc = send_request(s->d, s->d->cfg->websub.callback_base, s->st.source_id, s->push, "subscribe");
    if (rc == 0) {
        s->push_busy = 1;
        return;
    }
    snprintf(why, sizeof(why), "cannot ask the hub: %s", tb_strerror(rc));
    failed(s, why);
}

/* A new subscription of s at hub for topic, replacing what it had. */
static void subscribe(struct src *s, const char *hub, const char *topic)
{
    char id[2 * TB_PUSH_ID_BYTES + 1], secret[2 * TB_PUSH_SECRET_BYTES + 1];
    struct tb_push_sub *p = s->push;

    if (tb_push_random_hex(id, TB_PUSH_ID_BYTES) != 0 ||
        tb_push_random_hex(secret, TB_PUSH_SECRET_BYTES) != 0) {
        tb_log(TB_LOG_ERROR, s->name, "websub: no random bytes for a callback id");
        return;
    }
    /* The old one, if the hub holds it, goes (best effort): the feed moved. */
    if (p != NULL && (p->state == TB_PUSH_ACTIVE || p->state == TB_PUSH_PENDING))
        (void)send_request(s->d, s->d->cfg->websub.callback_base, s->st.source_id, p,
                           "unsubscribe");
    if (p == NULL)
        p = calloc(1, sizeof(*p));
    else
        tb_push_sub_clear(p);
    s->push = p;
    if (p == NULL)
        return;
    s->push_busy = 0; /* an answer about the old one is for another id */
    p->source_id = s->st.source_id;
    p->hub = strdup(hub);
    p->topic = strdup(topic);
    p->id = strdup(id);
    p->secret = strdup(secret);
    p->state = TB_PUSH_PENDING;
    if (p->hub == NULL || p->topic == NULL || p->id == NULL || p->secret == NULL) {
        tb_push_sub_clear(p);
        free(p);
        s->push = NULL;
        return;
    }
    p->requested = now_s();
    p->next_try = p->requested + VERIFY_WAIT;
    save(s->d, p);
    tb_log(TB_LOG_INFO, s->name, "websub: subscribing to %s at %s", topic, hub);
    request(s);
}

/* The subscription a poll asked for (tb__daemon_push_after_poll()). */
static void subscribe_wanted(struct src *s)
{
    if (s->push_hub != NULL && s->d->cfg->websub.callback_base != NULL)
        subscribe(s, s->push_hub, s->push_topic);
    free(s->push_hub);
    free(s->push_topic);
    s->push_hub = s->push_topic = NULL;
}

static void on_tick(uv_timer_t *t);

/* rel `rel` of the response's Link headers into buf when it is an
 * http(s) URL, else the feed's own link `doc` when it is one, else NULL:
 * the headers come first (websub.rocks subscriber test 104). */
static const char *discover(const struct poll *p, const char *rel, const char *doc, char *buf,
                            size_t len)
{
    if (p->link != NULL && tb_push_link_rel(p->link, rel, buf, len) == 0 && tb_fetch_is_url(buf))
        return buf;
    return doc != NULL && tb_fetch_is_url(doc) ? doc : NULL;
}

/* After a stored 200 poll: a feed naming a hub gets (or keeps) a subscription. */
void tb__daemon_push_after_poll(struct src *s)
{
    const struct tb_feed *f = s->p.feed;
    char hbuf[2048], tbuf[2048];
    const char *hub, *topic;

    if (s->d->cfg->websub.callback_base == NULL || !s->d->push_timer_on || s->d->once ||
        s->removed || s->d->stopping || f == NULL || s->p.rc != 0)
        return;
    hub = discover(&s->p, "hub", f->hub, hbuf, sizeof(hbuf));
    topic = discover(&s->p, "self", f->self, tbuf, sizeof(tbuf));
    if (hub == NULL)
        return;
    if (topic == NULL)
        topic = s->st.url != NULL ? s->st.url : s->url;
    /* The same hub and topic: the timer renews and retries. */
    if (s->push != NULL && s->push->state != TB_PUSH_LEAVING && strcmp(s->push->hub, hub) == 0 &&
        strcmp(s->push->topic, topic) == 0)
        return;
    /* Subscribed from the timer: this runs inside the transaction that
     * records the polls on the store job's connection, which the loop's
     * own connection must not wait for. */
    free(s->push_hub);
    free(s->push_topic);
    s->push_hub = strdup(hub);
    s->push_topic = strdup(topic);
    uv_timer_start(&s->d->push_timer, on_tick, 0, TICK_MS);
}

/* Timer: lapsed leases, renewals, verifications that never came, retries. */
static void on_tick(uv_timer_t *t)
{
    struct daemon *d = t->data;
    int64_t now = now_s();
    struct tb_push_sub *p;
    size_t i;

    for (i = 0; i < d->nsrcs; i++) {
        if (d->srcs[i]->push_topic != NULL)
            subscribe_wanted(d->srcs[i]);
        p = d->srcs[i]->push;
        if (p == NULL || p->state == TB_PUSH_LEAVING)
            continue;
        if (!step_due(d->srcs[i], now) || !claim_step(d->srcs[i], now))
            continue; /* nothing due, or another node's step */
        if (p->state == TB_PUSH_ACTIVE && now >= p->lease_end) {
            failed(d->srcs[i], "lease expired");
            p->next_try = now; /* asked again at once */
            save(d, p);
        }
        if (d->srcs[i]->push_busy || now < p->next_try || d->cfg->websub.callback_base == NULL)
            continue;
        if (p->state == TB_PUSH_PENDING && p->requested + VERIFY_WAIT <= now)
            failed(d->srcs[i], "the hub did not verify the subscription");
        else
            request(d->srcs[i]);
    }
}

/* ------------------------------------------------------------ callback */

static void answer(struct tb_http_res *res, int status, const char *text)
{
    res->status = status;
    res->type = "text/plain; charset=utf-8";
    if (tb_buf_adds(&res->body, text) != 0)
        res->status = 500;
}

/* GET hub.mode=unsubscribe for a subscription we gave up: the row goes. */
static void verify_leaving(struct daemon *d, struct src *s, const char *id, const char *topic,
                           const char *challenge, struct tb_http_res *res)
{
    struct tb_push_sub p = {0};
    char err[512] = "";
    int ok;

    if (s != NULL) {
        ok = s->push->state == TB_PUSH_LEAVING && strcmp(s->push->topic, topic) == 0;
    } else {
        ok = tb_push_get_by_id(d->store, id, &p, err, sizeof(err)) == 0 &&
             p.state == TB_PUSH_LEAVING && strcmp(p.topic, topic) == 0;
        tb_push_sub_clear(&p);
    }
    if (!ok) {
        answer(res, 404, "no such subscription\n");
        return;
    }
    if (tb_push_delete(d->store, id, err, sizeof(err)) != 0 && err[0])
        tb_log(TB_LOG_ERROR, "websub", "%s", err);
    if (s != NULL) {
        tb_push_sub_clear(s->push);
        free(s->push);
        s->push = NULL;
    }
    tb_log(TB_LOG_INFO, "websub", "unsubscribed from %s", topic);
    answer(res, 200, challenge);
}

/* GET hub.mode=subscribe: our request verified; the lease starts. */
static void verify_subscribe(struct src *s, const struct tb_form *q, const char *challenge,
                             struct tb_http_res *res)
{
    struct tb_push_sub *p = s->push;
    const char *lease = tb_form_get(q, "hub.lease_seconds");
    char when[32];
    int64_t now = now_s(), secs = 0;
    char *end = NULL;

    if (p->state == TB_PUSH_DENIED || p->requested == 0) {
        answer(res, 404, "not asked\n");
        return;
    }
    if (lease != NULL)
        secs = strtoll(lease, &end, 10);
    if (end == NULL || *end != '\0' || secs <= 0)
        secs = TB_PUSH_LEASE; /* required of the hub; the lease we asked for otherwise */
    p->state = TB_PUSH_ACTIVE;
    p->lease_end = now + secs;
    p->next_try = tb_push_renew_at(now, p->lease_end);
    p->failures = 0;
    free(p->reason);
    p->reason = NULL;
    save(s->d, p);
    if (tb_date_format_rfc3339(p->lease_end, when, sizeof(when)) != 0)
        when[0] = '\0';
    tb_log(TB_LOG_INFO, s->name, "websub: subscribed at %s until %s", p->hub, when);
    answer(res, 200, challenge);
}

/* GET hub.mode=denied: the hub refused (or ended) the subscription. */
static void verify_denied(struct src *s, const struct tb_form *q, struct tb_http_res *res)
{
    struct tb_push_sub *p = s->push;
    const char *why = tb_form_get(q, "hub.reason");
    char reason[256];

    snprintf(reason, sizeof(reason), "%s", why != NULL && why[0] != '\0' ? why : "denied");
    p->state = TB_PUSH_DENIED;
    p->next_try = now_s() + DENIED_RETRY;
    free(p->reason);
    p->reason = strdup(reason);
    save(s->d, p);
    tb_log(TB_LOG_WARN, s->name, "websub: %s denied the subscription: %s", p->hub, reason);
    lapsed(s);
    answer(res, 200, "ok\n");
}

/* GET: the hub verifies intent (W3C WebSub 5.3) or reports a denial (5.2). */
static void on_verify(struct daemon *d, struct src *s, const char *id, const char *query,
                      struct tb_http_res *res)
{
    const char *mode, *topic, *challenge;
    struct tb_form q;

    if (tb_form_parse(&q, query, strlen(query)) != 0) {
        tb_form_free(&q);
        answer(res, 400, "malformed query\n");
        return;
    }
    mode = tb_form_get(&q, "hub.mode");
    topic = tb_form_get(&q, "hub.topic");
    challenge = tb_form_get(&q, "hub.challenge");
    if (mode == NULL || topic == NULL)
        answer(res, 404, "not a verification\n");
    else if ((strcmp(mode, "unsubscribe") == 0 || strcmp(mode, "subscribe") == 0) &&
             (challenge == NULL || challenge[0] == '\0'))
        answer(res, 404, "no challenge\n");
    else if (strcmp(mode, "unsubscribe") == 0)
        verify_leaving(d, s, id, topic, challenge, res);
    /* Only a subscription we asked for, for the topic we asked about. */
    else if (s == NULL || s->push->state == TB_PUSH_LEAVING || strcmp(s->push->topic, topic) != 0)
        answer(res, 404, "no such subscription\n");
    else if (strcmp(mode, "subscribe") == 0)
        verify_subscribe(s, &q, challenge, res);
    else if (strcmp(mode, "denied") == 0)
        verify_denied(s, &q, res);
    else
        answer(res, 404, "unknown mode\n");
    tb_form_free(&q);
}

/* POST: content distribution (W3C WebSub 7-8). A push whose signature does
 * not verify is acknowledged (the spec lets a subscriber answer 2xx, so a
 * forger learns nothing) and ignored. */
static void on_push(struct daemon *d, struct src *s, const struct tb_http_req *req,
                    struct tb_http_res *res)
{
    const char *sig = tb_http_req_header(req, "X-Hub-Signature");
    char *body;
    int rc;

    if (s == NULL || s->push->state == TB_PUSH_LEAVING) {
        d->m.push_unknown++;
        answer(res, 410, "no such subscription\n");
        return;
    }
    rc = tb_push_check_signature(sig, s->push->secret, req->body, req->body_len);
    if (rc != 0) {
        d->m.push_rejected++;
        s->push->rejected++;
        tb_log(TB_LOG_WARN, s->name, "websub: push ignored (%zu bytes from %s): %s", req->body_len,
               req->client,
               rc == -ENOENT    ? "unsigned"
               : rc == -EBADMSG ? "wrong signature"
                                : "malformed signature");
        answer(res, 202, "ignored\n");
        return;
    }
    body = malloc(req->body_len + 1);
    if (body == NULL) {
        answer(res, 503, "out of memory\n");
        return;
    }
    memcpy(body, req->body, req->body_len + 1);
    d->m.push_accepted++;
    s->push->pushes++;
    s->push->last_push = now_s();
    save(d, s->push);
    tb_log(TB_LOG_INFO, s->name, "websub: push of %zu bytes", req->body_len);
    tb__daemon_push_ingest(s, body, req->body_len);
    answer(res, 202, "accepted\n");
}

/* Several nodes on one database: the subscription with callback id `id` as
 * stored (another node may have made or changed it; the hub calls back
 * whichever node callback_base reaches), taken into its running source.
 * The source, or NULL. */
static struct src *src_from_store(struct daemon *d, const char *id)
{
    struct tb_push_sub fresh = {0};
    char err[512] = "";
    struct src *s;
    int rc = tb_push_get_by_id(d->store, id, &fresh, err, sizeof(err));

    if (rc != 0) {
        if (rc != -ENOENT)
            tb_log(TB_LOG_WARN, "websub", "callback %s: %s", id, err[0] ? err : tb_strerror(rc));
        return src_by_id(d, id);
    }
    s = src_by_source_id(d, fresh.source_id);
    if (s == NULL) {
        tb_push_sub_clear(&fresh);
        return NULL;
    }
    if (s->push == NULL)
        s->push = calloc(1, sizeof(*s->push));
    if (s->push == NULL) {
        tb_push_sub_clear(&fresh);
        return NULL;
    }
    take_stored(s, &fresh);
    return s;
}

static void on_callback(const struct tb_http_req *req, struct tb_http_res *res, void *data)
{
    struct daemon *d = data;
    const char *id = req->path + strlen(TB_PUSH_PATH);
    struct src *s;

    if (*id == '\0' || strchr(id, '/') != NULL || d->stopping) {
        answer(res, 404, "not found\n");
        return;
    }
    s = tb_db_is_pg(d->cfg->database) ? src_from_store(d, id) : src_by_id(d, id);
    if (strcmp(req->method, "POST") == 0)
        on_push(d, s, req, res);
    else if (strcmp(req->method, "GET") == 0)
        on_verify(d, s, id, req->query, res);
    else
        answer(res, 404, ""); /* HEAD: hubs verify with GET, and it changes nothing */
}

/* ------------------------------------------------------------- sources */

void tb__daemon_push_load(struct src *s)
{
    struct tb_push_sub *p = calloc(1, sizeof(*p));
    char err[512] = "";
    int rc = p != NULL ? tb_push_get(s->d->store, s->st.source_id, p, err, sizeof(err)) : -ENOMEM;

    if (rc != 0) {
        if (rc != -ENOENT)
            tb_log(TB_LOG_ERROR, s->name, "websub: %s", err[0] ? err : tb_strerror(rc));
        free(p);
        return;
    }
    s->push = p;
}

/* Unsubscribes (best effort) a subscription the hub may hold: it is
 * LEAVING until the hub verifies; one it does not hold (denied, failed) is
 * deleted. Returns 1 when the row was deleted. */
static int leave(struct daemon *d, const char *base, int64_t source_id, struct tb_push_sub *p)
{
    char err[512] = "";

    if ((p->state == TB_PUSH_ACTIVE || p->state == TB_PUSH_PENDING) && base != NULL &&
        d->fetcher != NULL && send_request(d, base, source_id, p, "unsubscribe") == 0) {
        p->state = TB_PUSH_LEAVING;
        p->requested = now_s();
        save(d, p);
        tb_log(TB_LOG_INFO, "websub", "unsubscribing from %s at %s", p->topic, p->hub);
        return 0;
    }
    if (p->state == TB_PUSH_LEAVING)
        return 0;
    if (tb_push_delete(d->store, p->id, err, sizeof(err)) != 0 && err[0])
        tb_log(TB_LOG_ERROR, "websub", "%s", err);
    return 1;
}

void tb__daemon_push_forget(struct src *s)
{
    if (s->push != NULL && !s->d->stopping)
        (void)leave(s->d, s->d->cfg->websub.callback_base, s->st.source_id, s->push);
}

void tb__daemon_push_reload(struct daemon *d, const char *old_base)
{
    size_t i;

    if (d->cfg->websub.callback_base != NULL || old_base == NULL)
        return;
    /* callback_base was unset: every subscription goes, the callback still
     * answering the hubs' verifications. */
    for (i = 0; i < d->nsrcs; i++) {
        if (d->srcs[i]->push == NULL)
            continue;
        if (leave(d, old_base, d->srcs[i]->st.source_id, d->srcs[i]->push)) {
            tb_push_sub_clear(d->srcs[i]->push);
            free(d->srcs[i]->push);
            d->srcs[i]->push = NULL;
        }
        lapsed(d->srcs[i]);
    }
}

/* ------------------------------------------------------------- running */

/* Subscriptions of sources that left the config while the daemon was
 * down are unsubscribed (best effort) or deleted; so are those still
 * leaving a day after their unsubscription was sent. */
static void leave_orphans(struct daemon *d)
{
    struct tb_push_sub *v = NULL;
    char err[512] = "";
    size_t n = 0, i;
    int64_t now = now_s();

    if (tb_push_list(d->store, &v, &n, err, sizeof(err)) != 0) {
        tb_log(TB_LOG_ERROR, "websub", "%s", err);
        return;
    }
    for (i = 0; i < n; i++) {
        if (src_by_source_id(d, v[i].source_id) != NULL)
            continue;
        if (v[i].state == TB_PUSH_LEAVING && v[i].requested + DENIED_RETRY < now)
            v[i].state = TB_PUSH_FAILED; /* the hub never verified: deleted now */
        (void)leave(d, d->cfg->websub.callback_base, v[i].source_id, &v[i]);
    }
    tb_push_list_free(v, n);
}

int tb__daemon_push_start(struct daemon *d)
{
    size_t cap = d->cfg->max_body < TB_PUSH_BODY_MAX ? d->cfg->max_body : TB_PUSH_BODY_MAX;
    int rc;

    if (d->http == NULL)
        return 0;
    /* Served whether or not callback_base is set: a hub still verifying
     * the unsubscription of an old subscription finds it. */
    rc = tb_http_route_prefix(d->http, TB_PUSH_PATH, on_callback, d, cap);
    if (rc) {
        tb_log(TB_LOG_ERROR, "http", "%s: %s", TB_PUSH_PATH, tb_strerror(rc));
        return rc;
    }
    uv_timer_init(&d->loop, &d->push_timer);
    d->push_timer.data = d;
    d->push_timer_on = 1;
    uv_timer_start(&d->push_timer, on_tick, TICK_MS, TICK_MS);
    leave_orphans(d);
    return 0;
}

void tb__daemon_push_stop(struct daemon *d)
{
    if (d->http != NULL)
        (void)!tb_http_route_prefix(d->http, TB_PUSH_PATH, NULL, NULL, 0);
    if (d->push_timer_on && !uv_is_closing((uv_handle_t *)&d->push_timer))
        uv_close((uv_handle_t *)&d->push_timer, NULL);
}

void tb__daemon_push_metrics(const struct daemon *d, struct tb_buf *out)
{
    size_t n[TB_PUSH_LEAVING + 1] = {0}, i;
    int rc = tb_buf_adds(out, "# TYPE tributary_push_subscriptions gauge\n");

    for (i = 0; i < d->nsrcs; i++) {
        if (d->srcs[i]->push != NULL && d->srcs[i]->push->state <= TB_PUSH_LEAVING)
            n[d->srcs[i]->push->state]++;
    }
    for (i = TB_PUSH_PENDING; rc == 0 && i <= TB_PUSH_LEAVING; i++)
        rc = tb_buf_addf(out, "tributary_push_subscriptions{state=\"%s\"} %zu\n",
                         tb_push_state_name((enum tb_push_state)i), n[i]);
    if (rc == 0)
        rc = tb_buf_addf(out,
                         "# TYPE tributary_pushes_total counter\n"
                         "tributary_pushes_total{outcome=\"accepted\"} %lu\n"
                         "tributary_pushes_total{outcome=\"rejected\"} %lu\n"
                         "tributary_pushes_total{outcome=\"unknown\"} %lu\n",
                         d->m.push_accepted, d->m.push_rejected, d->m.push_unknown);
    if (rc)
        tb_log(TB_LOG_WARN, "metrics", "%s", tb_strerror(rc));
}
