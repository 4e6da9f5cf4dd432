/*
 * mail_web: the subscribe, confirm, unsubscribe and manage routes. Each
 * handler reads its form, checks what it must (address, topics, token),
 * changes the subscription through tb_subs.h and answers with a page of
 * the site from tb_page_notice(); no HTML is written here.
 *
 * Nothing a handler answers depends on whether an address is known: the
 * subscribe answer is one redirect for every valid request, and the token
 * pages show the address masked only to the holder of a token made for it.
 */
#include "tb_mail_web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "tb_digest.h"
#include "tb_form.h"
#include "tb_hash.h"
#include "tb_map.h"
#include "tb_page.h"
#include "tb_subs.h"

#define CLIENT_WINDOW 3600  /* seconds of the per-client limit */
#define MAX_CLIENTS 16384   /* clients tracked; past it, expired ones are dropped */
#define MSG_CAP (64 * 1024) /* a confirmation mail */
#define MANAGE_TOPICS 256   /* topics listed on the manage page */

#define FORM_TYPE "application/x-www-form-urlencoded"
#define CSP                                                                                        \
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "                   \
    "frame-ancestors 'none'; base-uri 'none'"

/* One client's subscribe requests in the current window. */
struct hits {
    char key[48];  /* the address, or an IPv6 address's /64 */
    int64_t start; /* when the window began */
    int count;     /* requests in it */
};

struct tb_mail_web {
    struct tb_store *st;                   /* the loop's connection */
    struct tb_config *const *cfg;          /* the daemon's current config */
    unsigned char key[TB_MAIL_SECRET_LEN]; /* the token secret (a copy) */
    void (*kick)(void *data);              /* wakes the sender */
    void *kick_data;                       /* its argument */
    int64_t (*now)(void);                  /* the clock */
    struct tb_map clients;                 /* key -> struct hits */
};

/* Everything a page needs: the site, from the current config. */
struct page {
    struct tb_page_site site;     /* for tb_page_notice() */
    struct tb_page_topic *topics; /* one per config topic */
};

static int64_t clock_now(void)
{
    return (int64_t)time(NULL);
}

/* ---- forms ---- */

/* Whether a Content-Type names a form (parameters such as charset allowed). */
static int is_form(const char *type)
{
    size_t n = strlen(FORM_TYPE);

    return strncasecmp(type, FORM_TYPE, n) == 0 &&
           (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

/* The POSTed form, when the body is one; an empty form otherwise. */
static int body_form(const struct tb_http_req *req, struct tb_form *f)
{
    if (!is_form(req->content_type))
        return tb_form_parse(f, "", 0);
    return tb_form_parse(f, req->body, req->body_len);
}

/* ---- pages ---- */

static int page_init(struct tb_mail_web *w, struct page *pg)
{
    const struct tb_config *c = *w->cfg;
    size_t i;

    memset(pg, 0, sizeof(*pg));
    pg->topics = calloc(c->ntopics + 1, sizeof(*pg->topics));
    if (pg->topics == NULL)
        return -ENOMEM;
    for (i = 0; i < c->ntopics; i++) {
        pg->topics[i].name = c->topics[i].name;
        pg->topics[i].title = c->topics[i].title;
    }
    pg->site.title = c->title;
    pg->site.description = c->description;
    pg->site.base_url = c->base_url;
    pg->site.topics = pg->topics;
    pg->site.ntopics = c->ntopics;
    pg->site.mail = 1;
    return 0;
}

/* The headers of every answer: tokens are in URLs, and nothing runs or frames. */
static void secure(struct tb_http_res *res)
{
    if (tb_http_res_header(res, "Referrer-Policy", "no-referrer") != 0 ||
        tb_http_res_header(res, "Content-Security-Policy", CSP) != 0 ||
        tb_http_res_header(res, "X-Content-Type-Options", "nosniff") != 0)
        res->status = 500;
}

/* Answers with notice n, or a bare 500 when it cannot be written. */
static void answer(struct tb_mail_web *w, struct tb_http_res *res, int status,
                   const struct tb_page_notice *n)
{
    struct page pg;
    int rc = page_init(w, &pg);

    res->status = status;
    secure(res);
    rc = rc ? rc : tb_page_notice(&pg.site, n, &res->body);
    free(pg.topics);
    if (rc != 0) {
        tb_log(TB_LOG_ERROR, "mail", "page: %s", tb_strerror(rc));
        tb_buf_reset(&res->body);
        res->status = 500;
        res->type = "text/plain; charset=utf-8";
    }
}

/* A page of one or two paragraphs, without a form. */
static void say(struct tb_mail_web *w, struct tb_http_res *res, int status, const char *title,
                const char *p1, const char *p2, int subscribe)
{
    const char *text[2] = {p1, p2};
    struct tb_page_notice n = {
        .title = title, .text = text, .ntext = p2 != NULL ? 2 : 1, .subscribe = subscribe};

    answer(w, res, status, &n);
}

/* The display title of topic `name`: its config title, or the name. */
static const char *title_of(const struct tb_config *c, const char *name)
{
    size_t i;

    if (strcmp(name, TB_SUBS_TRENDING) == 0)
        return "Trending across everything";
    for (i = 0; i < c->ntopics; i++) {
        if (strcmp(c->topics[i].name, name) == 0)
            return c->topics[i].title != NULL ? c->topics[i].title : name;
    }
    return name;
}

/* Whether `name` is a topic one may subscribe to now. */
static int known_topic(const struct tb_config *c, const char *name)
{
    size_t i;

    if (strcmp(name, TB_SUBS_TRENDING) == 0)
        return 1;
    for (i = 0; i < c->ntopics; i++) {
        if (strcmp(c->topics[i].name, name) == 0)
            return 1;
    }
    return 0;
}

/* "Language, Vision; daily digests" into buf. */
static void describe(const struct tb_config *c, char *const *topics, size_t n, enum tb_subs_freq f,
                     char *buf, size_t len)
{
    size_t i, used = 0;

    buf[0] = '\0';
    for (i = 0; i < n && used < len; i++)
        used +=
            (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", title_of(c, topics[i]));
    if (used < len)
        snprintf(buf + used, len - used, " (%s digests)", f == TB_SUBS_WEEKLY ? "weekly" : "daily");
}

/* ---- per-client limit ---- */

/* The key a client is counted under: IPv6 addresses by their /64. */
static void client_key(const char *client, char *key, size_t len)
{
    unsigned char a6[16];

    if (strchr(client, ':') != NULL && inet_pton(AF_INET6, client, a6) == 1) {
        memset(a6 + 8, 0, 8);
        if (inet_ntop(AF_INET6, a6, key, (socklen_t)len) != NULL)
            return;
    }
    snprintf(key, len, "%s", client);
}

/* Drops the clients whose window is over; all of them if none is. */
static void clients_prune(struct tb_mail_web *w, int64_t now)
{
    struct tb_map keep;
    const struct tb_map_slot *slot;
    size_t pos = 0;

    tb_map_init(&keep, MAX_CLIENTS);
    while ((slot = tb_map_next(&w->clients, &pos)) != NULL) {
        struct hits *h = slot->value;

        if (now - h->start < CLIENT_WINDOW && keep.n < MAX_CLIENTS / 2 &&
            tb_map_put(&keep, h->key, strlen(h->key), h) == 0)
            continue;
        free(h);
    }
    tb_map_free(&w->clients);
    w->clients = keep;
}

static void clients_free(struct tb_mail_web *w)
{
    const struct tb_map_slot *slot;
    size_t pos = 0;

    while ((slot = tb_map_next(&w->clients, &pos)) != NULL)
        free(slot->value);
    tb_map_free(&w->clients);
}

/*
 * Counts one request of `client`; returns 1 when it is over
 * TB_MAIL_WEB_PER_CLIENT in the window. Out of memory counts as allowed:
 * the per-address cap in the database still holds.
 */
static int client_limited(struct tb_mail_web *w, const char *client, int64_t now)
{
    char key[48];
    struct hits *h;

    client_key(client, key, sizeof(key));
    h = tb_map_get(&w->clients, key, strlen(key));
    if (h != NULL && now - h->start >= CLIENT_WINDOW) {
        h->start = now;
        h->count = 0;
    }
    if (h == NULL) {
        if (w->clients.n >= MAX_CLIENTS)
            clients_prune(w, now);
        h = calloc(1, sizeof(*h));
        if (h == NULL)
            return 0;
        snprintf(h->key, sizeof(h->key), "%s", key);
        h->start = now;
        if (tb_map_put(&w->clients, h->key, strlen(h->key), h) != 0) {
            free(h);
            return 0;
        }
    }
    return ++h->count > TB_MAIL_WEB_PER_CLIENT;
}

/* ---- subscribe ---- */

static void subscribe_page(struct tb_mail_web *w, struct tb_http_res *res, int status,
                           const char *why)
{
    say(w, res, status, "Subscribe by email",
        why != NULL ? why
                    : "Choose what to receive: a digest of the papers trending in the topics you "
                      "pick, daily or weekly.",
        NULL, 1);
}

static void inbox_page(struct tb_mail_web *w, struct tb_http_res *res)
{
    say(w, res, 200, "Check your inbox",
        "If the address can receive our mail, a message with a link to confirm the subscription "
        "is on its way. The link works for 48 hours.",
        "Nothing is sent until the subscription is confirmed. No message? Look in the spam "
        "folder, or subscribe again later.",
        0);
}

/* Queues the confirmation request of subscription id and wakes the sender. */
static int queue_confirm(struct tb_mail_web *w, int64_t id, int64_t now, char *err, size_t errlen)
{
    struct tb_subs sub;
    struct tb_buf msg;
    char mid[256];
    int rc;

    memset(&sub, 0, sizeof(sub));
    tb_buf_init(&msg, MSG_CAP);
    rc = tb_subs_get(w->st, id, &sub, err, errlen);
    rc = rc ? rc : tb_digest_confirm(*w->cfg, w->key, &sub, now, &msg, mid, sizeof(mid));
    rc = rc ? rc
            : tb_subs_queue(w->st, id, TB_SUBS_MSG_CONFIRM, mid, sub.addr, msg.data, msg.len, 0,
                            now, err, errlen);
    if (rc == 0 && w->kick != NULL)
        w->kick(w->kick_data);
    tb_subs_clear(&sub);
    tb_buf_free(&msg);
    return rc;
}

/* The topics of a form that the config has (or trending), each once, into v. */
static size_t chosen_topics(const struct tb_config *c, const struct tb_form *f, const char **v,
                            size_t max)
{
    size_t i, j, n = 0;

    for (i = 0; i < f->n && n < max; i++) {
        if (strcmp(f->name[i], "topic") != 0 || !known_topic(c, f->value[i]))
            continue;
        for (j = 0; j < n && strcmp(v[j], f->value[i]) != 0; j++)
            ;
        if (j == n)
            v[n++] = f->value[i];
    }
    return n;
}

/* "daily" (or none) and "weekly"; -1 for anything else. */
static int freq_of(const char *s)
{
    if (s == NULL || strcmp(s, "daily") == 0)
        return TB_SUBS_DAILY;
    return strcmp(s, "weekly") == 0 ? TB_SUBS_WEEKLY : -1;
}

static void subscribe_post(struct tb_mail_web *w, const struct tb_http_req *req,
                           struct tb_http_res *res)
{
    const struct tb_config *c = *w->cfg;
    const char *topics[TB_FORM_FIELDS];
    char addr[TB_MAIL_ADDR_MAX + 2], masked[TB_MAIL_ADDR_MAX + 8], err[512] = "";
    const char *email;
    int64_t now = w->now(), id = 0;
    struct tb_form f;
    size_t n;
    int freq, confirm = 0, rc;

    if (!is_form(req->content_type)) {
        subscribe_page(w, res, 415, "The form was not sent as a form. Please try again.");
        return;
    }
    rc = tb_form_parse(&f, req->body, req->body_len);
    email = rc == 0 ? tb_form_get(&f, "email") : NULL;
    n = rc == 0 ? chosen_topics(c, &f, topics, TB_FORM_FIELDS) : 0;
    freq = rc == 0 ? freq_of(tb_form_get(&f, "frequency")) : -1;
    if (rc != 0 || freq < 0 || email == NULL || tb_mail_addr_check(email, err, sizeof(err)) != 0 ||
        tb_mail_addr_norm(email, addr, sizeof(addr)) != 0) {
        subscribe_page(w, res, 400,
                       "That is not an email address we can send to. Please check it and try "
                       "again.");
        goto out;
    }
    if (n == 0) {
        subscribe_page(w, res, 400, "Choose at least one topic to receive.");
        goto out;
    }
    /* Counted once valid: a typo does not use up a client's requests, and an invalid
     * request costs nothing but this answer. */
    if (client_limited(w, req->client, now)) {
        tb_log(TB_LOG_WARN, "mail", "subscribe: too many requests from %s", req->client);
        say(w, res, 429, "Too many requests",
            "This connection asked for too many subscriptions lately. Please try again in an "
            "hour.",
            NULL, 0);
        if (tb_http_res_header(res, "Retry-After", "3600") != 0)
            res->status = 500;
        goto out;
    }
    tb_mail_addr_mask(addr, masked, sizeof(masked));
    rc = tb_subs_request(w->st, addr, topics, n, (enum tb_subs_freq)freq, now, &id, &confirm, err,
                         sizeof(err));
    if (rc == 0 && confirm)
        rc = queue_confirm(w, id, now, err, sizeof(err));
    if (rc != 0) {
        tb_log(TB_LOG_ERROR, "mail", "subscribe %s: %s", masked, err[0] ? err : tb_strerror(rc));
        say(w, res, 500, "Something went wrong",
            "The request could not be recorded. Please try again later.", NULL, 0);
        goto out;
    }
    tb_log(TB_LOG_INFO, "mail", "subscribe %s: %s", masked,
           confirm ? "confirmation queued" : "daily confirmation cap reached, none sent");
    /* One answer for all: new, known, capped or subscribed already. */
    res->status = 303;
    secure(res);
    if (tb_http_res_header(res, "Location", "subscribe?sent=1") != 0)
        res->status = 500;
    res->type = "text/plain; charset=utf-8";
    if (tb_buf_adds(&res->body, "See subscribe?sent=1\n") != 0)
        res->status = 500;
out:
    tb_form_free(&f);
}

static void on_subscribe(const struct tb_http_req *req, struct tb_http_res *res, void *data)
{
    struct tb_mail_web *w = data;
    struct tb_form q;

    if (strcmp(req->method, "POST") == 0) {
        subscribe_post(w, req, res);
        return;
    }
    if (tb_form_parse(&q, req->query, strlen(req->query)) == 0 && tb_form_get(&q, "sent") != NULL)
        inbox_page(w, res);
    else
        subscribe_page(w, res, 200, NULL);
    tb_form_free(&q);
}

/* ---- tokens ---- */

/* The token of a request: the query's t, else the form's. */
static const char *token_of(const struct tb_form *q, const struct tb_form *f)
{
    const char *t = tb_form_get(q, "t");

    return t != NULL ? t : tb_form_get(f, "t");
}

/*
 * Loads the subscription a token names and checks the token for `action`
 * against its address. Returns 0 with *sub filled, -ETIMEDOUT (expired)
 * or -EINVAL (anything else: malformed, tampered, another action or
 * address, no such subscription); a store failure as TB_ESTORE.
 */
static int load_sub(struct tb_mail_web *w, const char *token, enum tb_mail_action action,
                    struct tb_subs *sub)
{
    enum tb_mail_action a;
    char err[512] = "";
    int64_t id;
    int rc;

    memset(sub, 0, sizeof(*sub));
    if (token == NULL || strlen(token) >= TB_MAIL_TOKEN_MAX ||
        tb_mail_token_parse(token, &a, &id) != 0 || a != action)
        return -EINVAL;
    rc = tb_subs_get(w->st, id, sub, err, sizeof(err));
    if (rc == -ENOENT)
        return -EINVAL;
    if (rc != 0) {
        tb_log(TB_LOG_ERROR, "mail", "subscription %lld: %s", (long long)id,
               err[0] ? err : tb_strerror(rc));
        return rc;
    }
    rc = tb_mail_token_check(w->key, token, action, sub->addr, w->now());
    if (rc == 0)
        return 0;
    tb_subs_clear(sub);
    return rc == -ETIMEDOUT ? rc : -EINVAL;
}

/* The page for a token that load_sub() refused. */
static void bad_token(struct tb_mail_web *w, struct tb_http_res *res, int rc)
{
    if (rc == -ETIMEDOUT)
        say(w, res, 410, "This link has expired",
            "Confirmation links work for 48 hours. Subscribe again to get a new one.", NULL, 1);
    else if (rc == -EINVAL)
        say(w, res, 400, "This link is not valid",
            "The link may have been cut or changed on its way. Copy the whole link from the mail, "
            "or subscribe again.",
            NULL, 1);
    else
        say(w, res, 500, "Something went wrong", "Please try again later.", NULL, 0);
}

/* Parses the query and, for a POST, the body. */
static int forms(const struct tb_http_req *req, struct tb_form *q, struct tb_form *f)
{
    int rc = tb_form_parse(q, req->query, strlen(req->query));
    int frc = strcmp(req->method, "POST") == 0 ? body_form(req, f) : tb_form_parse(f, "", 0);

    return rc ? rc : frc;
}

/* ---- confirm ---- */

static void confirm_ask(struct tb_mail_web *w, struct tb_http_res *res, const char *token,
                        const struct tb_subs *sub)
{
    char masked[TB_MAIL_ADDR_MAX + 8], what[1024], line[1400];
    struct tb_page_field fields[] = {
        {TB_PAGE_HIDDEN, NULL, "t", token, NULL, 0},
        {TB_PAGE_BUTTON, NULL, NULL, NULL, "Confirm the subscription", 0},
    };
    const char *text[2] = {line, "Nothing changes until you press the button."};
    struct tb_page_notice n = {.title = "Confirm your subscription",
                               .text = text,
                               .ntext = 2,
                               .action = "confirm",
                               .fields = fields,
                               .nfields = 2};

    tb_mail_addr_mask(sub->addr, masked, sizeof(masked));
    if (sub->npending > 0)
        describe(*w->cfg, sub->pending, sub->npending, sub->pending_freq, what, sizeof(what));
    else
        describe(*w->cfg, sub->topics, sub->ntopics, sub->freq, what, sizeof(what));
    snprintf(line, sizeof(line), "Send %s trending papers in: %s.", masked, what);
    answer(w, res, 200, &n);
}

static void confirm_done(struct tb_mail_web *w, struct tb_http_res *res, const struct tb_subs *sub,
                         int already)
{
    char token[TB_MAIL_TOKEN_MAX], link[TB_MAIL_TOKEN_MAX + 16];
    const char *text[1] = {already ? "This subscription was confirmed already."
                                   : "Thank you: the first digest comes at the next sending "
                                     "time, when something new has trended."};
    struct tb_page_notice n = {.title = "You are subscribed", .text = text, .ntext = 1};

    if (tb_mail_token_make(w->key, TB_MAIL_MANAGE, sub->id, sub->addr, 0, token, sizeof(token)) ==
        0) {
        snprintf(link, sizeof(link), "manage?t=%s", token);
        n.link = link;
        n.link_text = "Change topics or frequency, or leave";
    }
    answer(w, res, 200, &n);
}

static void on_confirm(const struct tb_http_req *req, struct tb_http_res *res, void *data)
{
    struct tb_mail_web *w = data;
    char masked[TB_MAIL_ADDR_MAX + 8], err[512] = "";
    struct tb_form q, f;
    struct tb_subs sub;
    int rc = forms(req, &q, &f);

    rc = rc ? -EINVAL : load_sub(w, token_of(&q, &f), TB_MAIL_CONFIRM, &sub);
    if (rc != 0) {
        bad_token(w, res, rc);
        goto out;
    }
    if (sub.state == TB_SUBS_LEFT) {
        say(w, res, 410, "This subscription was left",
            "Subscribe again to receive digests at this address.", NULL, 1);
    } else if (sub.state == TB_SUBS_ACTIVE && sub.npending == 0) {
        confirm_done(w, res, &sub, 1);
    } else if (strcmp(req->method, "POST") != 0) {
        confirm_ask(w, res, token_of(&q, &f), &sub);
    } else {
        /* Only a POST (the page's button) confirms: mail scanners follow links with GET. */
        rc = tb_subs_confirm(w->st, sub.id, w->now(), err, sizeof(err));
        tb_mail_addr_mask(sub.addr, masked, sizeof(masked));
        if (rc == 0)
            tb_log(TB_LOG_INFO, "mail", "confirmed %s", masked);
        else
            tb_log(TB_LOG_ERROR, "mail", "confirm %s: %s", masked, err[0] ? err : tb_strerror(rc));
        if (rc == 0)
            confirm_done(w, res, &sub, 0);
        else
            bad_token(w, res, rc == -ENOENT ? -EINVAL : rc);
    }
    tb_subs_clear(&sub);
out:
    tb_form_free(&q);
    tb_form_free(&f);
}

/* ---- unsubscribe and manage ---- */

/* Leaves subscription sub and answers; `how` names the way, for the log. */
static void leave(struct tb_mail_web *w, struct tb_http_res *res, const struct tb_subs *sub,
                  const char *how)
{
    char masked[TB_MAIL_ADDR_MAX + 8], line[400], err[512] = "";
    int rc = 0;

    tb_mail_addr_mask(sub->addr, masked, sizeof(masked));
    if (sub->state != TB_SUBS_LEFT)
        rc = tb_subs_leave(w->st, sub->id, err, sizeof(err));
    if (rc != 0) {
        tb_log(TB_LOG_ERROR, "mail", "leave %s: %s", masked, err[0] ? err : tb_strerror(rc));
        say(w, res, 500, "Something went wrong", "Please try again later.", NULL, 0);
        return;
    }
    tb_log(TB_LOG_INFO, "mail", "%s left (%s)", masked, how);
    snprintf(line, sizeof(line), "No more digests will be sent to %s.", masked);
    say(w, res, 200, "You have left", line, "Changed your mind? Subscribe again any time.", 1);
}

static void on_unsubscribe(const struct tb_http_req *req, struct tb_http_res *res, void *data)
{
    struct tb_mail_web *w = data;
    char masked[TB_MAIL_ADDR_MAX + 8], line[400];
    const char *token;
    struct tb_form q, f;
    struct tb_subs sub;
    int rc;

    /* The token decides: a body that is not a form (multipart, RFC 8058 allows it) or a
     * malformed one does not stop a valid token in the query. */
    (void)forms(req, &q, &f);
    token = token_of(&q, &f);
    rc = load_sub(w, token, TB_MAIL_UNSUBSCRIBE, &sub);
    if (rc != 0) {
        bad_token(w, res, rc);
        goto out;
    }
    if (strcmp(req->method, "POST") == 0) {
        /* RFC 8058: a POST to the List-Unsubscribe URL (its body "List-Unsubscribe=One-Click",
         * form-urlencoded or multipart) leaves at once; so does the page's button. */
        leave(w, res, &sub,
              tb_form_get(&f, "List-Unsubscribe") != NULL ? "one-click" : "unsubscribe page");
    } else if (sub.state == TB_SUBS_LEFT) {
        tb_mail_addr_mask(sub.addr, masked, sizeof(masked));
        snprintf(line, sizeof(line), "No more digests are sent to %s.", masked);
        say(w, res, 200, "You have left", line, NULL, 1);
    } else {
        struct tb_page_field fields[] = {
            {TB_PAGE_HIDDEN, NULL, "t", token, NULL, 0},
            {TB_PAGE_BUTTON, NULL, NULL, NULL, "Unsubscribe", 0},
        };
        const char *text[1] = {line};
        struct tb_page_notice n = {.title = "Leave the digest",
                                   .text = text,
                                   .ntext = 1,
                                   .action = "unsubscribe",
                                   .fields = fields,
                                   .nfields = 2};

        tb_mail_addr_mask(sub.addr, masked, sizeof(masked));
        snprintf(line, sizeof(line), "Stop sending digests to %s?", masked);
        answer(w, res, 200, &n);
    }
    tb_subs_clear(&sub);
out:
    tb_form_free(&q);
    tb_form_free(&f);
}

/* Whether sub has topic `name`. */
static int has_topic(const struct tb_subs *sub, const char *name)
{
    size_t i;

    for (i = 0; i < sub->ntopics; i++) {
        if (strcmp(sub->topics[i], name) == 0)
            return 1;
    }
    return 0;
}

/* The manage page: a checkbox per topic, the frequency, save and leave. */
static void manage_page(struct tb_mail_web *w, struct tb_http_res *res, int status,
                        const char *token, const struct tb_subs *sub, const char *note)
{
    const struct tb_config *c = *w->cfg;
    struct tb_page_field *fields = calloc(c->ntopics + 6, sizeof(*fields));
    char masked[TB_MAIL_ADDR_MAX + 8], line[400], paused[1024] = "";
    const char *text[3];
    struct tb_page_notice n = {.title = "Your subscription", .text = text, .action = "manage"};
    size_t i, k = 0, used = 0;

    if (fields == NULL) {
        say(w, res, 500, "Something went wrong", "Please try again later.", NULL, 0);
        return;
    }
    tb_mail_addr_mask(sub->addr, masked, sizeof(masked));
    snprintf(line, sizeof(line), "Digests of trending papers for %s.", masked);
    text[n.ntext++] = line;
    if (note != NULL)
        text[n.ntext++] = note;
    for (i = 0; i < sub->ntopics && used < sizeof(paused); i++) {
        if (!known_topic(c, sub->topics[i]))
            used +=
                (size_t)snprintf(paused + used, sizeof(paused) - used, "%s%s",
                                 used ? ", " : "Paused (no longer on the site): ", sub->topics[i]);
    }
    if (used > 0)
        text[n.ntext++] = paused;
    fields[k++] = (struct tb_page_field){TB_PAGE_HIDDEN, NULL, "t", token, NULL, 0};
    fields[k++] = (struct tb_page_field){TB_PAGE_CHECKBOX,
                                         "Topics",
                                         "topic",
                                         TB_SUBS_TRENDING,
                                         "Trending across everything",
                                         has_topic(sub, TB_SUBS_TRENDING)};
    for (i = 0; i < c->ntopics; i++)
        fields[k++] = (struct tb_page_field){TB_PAGE_CHECKBOX,
                                             "Topics",
                                             "topic",
                                             c->topics[i].name,
                                             title_of(c, c->topics[i].name),
                                             has_topic(sub, c->topics[i].name)};
    fields[k++] = (struct tb_page_field){TB_PAGE_RADIO, "How often", "frequency",
                                         "daily",       "Daily",     sub->freq == TB_SUBS_DAILY};
    fields[k++] = (struct tb_page_field){TB_PAGE_RADIO, "How often", "frequency",
                                         "weekly",      "Weekly",    sub->freq == TB_SUBS_WEEKLY};
    fields[k++] = (struct tb_page_field){TB_PAGE_BUTTON, NULL, "action", "save", "Save", 0};
    fields[k++] = (struct tb_page_field){
        TB_PAGE_BUTTON, NULL, "action", "leave", "Leave: send no more digests", 1};
    n.fields = fields;
    n.nfields = k;
    answer(w, res, status, &n);
    free(fields);
}

/* Applies the manage form: the topics checked (and the paused ones kept) and the frequency. */
static void manage_save(struct tb_mail_web *w, struct tb_http_res *res, const char *token,
                        struct tb_subs *sub, const struct tb_form *f)
{
    const struct tb_config *c = *w->cfg;
    const char *topics[TB_FORM_FIELDS + MANAGE_TOPICS];
    char err[512] = "", masked[TB_MAIL_ADDR_MAX + 8];
    size_t n = chosen_topics(c, f, topics, TB_FORM_FIELDS), fresh = n, i;
    int freq = freq_of(tb_form_get(f, "frequency")), rc;
    int64_t id = sub->id;

    for (i = 0; i < sub->ntopics && n < TB_FORM_FIELDS + MANAGE_TOPICS; i++) {
        if (!known_topic(c, sub->topics[i]))
            topics[n++] = sub->topics[i];
    }
    if (fresh == 0 || freq < 0) {
        manage_page(w, res, 400, token, sub,
                    "Choose at least one topic, or leave with the button below.");
        return;
    }
    rc = tb_subs_set(w->st, id, topics, n, (enum tb_subs_freq)freq, err, sizeof(err));
    tb_mail_addr_mask(sub->addr, masked, sizeof(masked));
    tb_subs_clear(sub);
    rc = rc ? rc : tb_subs_get(w->st, id, sub, err, sizeof(err));
    if (rc != 0) {
        tb_log(TB_LOG_ERROR, "mail", "manage %s: %s", masked, err[0] ? err : tb_strerror(rc));
        say(w, res, 500, "Something went wrong", "Please try again later.", NULL, 0);
        return;
    }
    manage_page(w, res, 200, token, sub, "Your changes are saved.");
}

static void on_manage(const struct tb_http_req *req, struct tb_http_res *res, void *data)
{
    struct tb_mail_web *w = data;
    struct tb_form q, f;
    struct tb_subs sub;
    const char *token, *action;
    int64_t id;
    int rc = forms(req, &q, &f);

    token = token_of(&q, &f);
    rc = rc ? -EINVAL : load_sub(w, token, TB_MAIL_MANAGE, &sub);
    if (rc != 0) {
        bad_token(w, res, rc);
        goto out;
    }
    action = tb_form_get(&f, "action");
    id = sub.id;
    if (sub.state == TB_SUBS_LEFT)
        say(w, res, 200, "You have left", "No more digests are sent to this address.",
            "Subscribe again to receive them.", 1);
    else if (strcmp(req->method, "POST") != 0)
        manage_page(w, res, 200, token, &sub, NULL);
    else if (action != NULL && strcmp(action, "leave") == 0)
        leave(w, res, &sub, "manage page");
    else
        manage_save(w, res, token, &sub, &f);
    sub.id = id;
    tb_subs_clear(&sub);
out:
    tb_form_free(&q);
    tb_form_free(&f);
}

/* ---- setup ---- */

static const struct {
    const char *path;
    tb_http_route_fn fn;
} routes[] = {
    {"/subscribe", on_subscribe},
    {"/confirm", on_confirm},
    {"/unsubscribe", on_unsubscribe},
    {"/manage", on_manage},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

int tb_mail_web_new(const struct tb_mail_web_opts *o, struct tb_mail_web **out)
{
    struct tb_mail_web *w;
    size_t i;
    int rc = 0;

    *out = NULL;
    if (o->http == NULL || o->store == NULL || o->cfg == NULL || o->key == NULL)
        return -EINVAL;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    w->st = o->store;
    w->cfg = o->cfg;
    memcpy(w->key, o->key, TB_MAIL_SECRET_LEN);
    w->kick = o->kick;
    w->kick_data = o->kick_data;
    w->now = o->now != NULL ? o->now : clock_now;
    tb_map_init(&w->clients, MAX_CLIENTS);
    for (i = 0; rc == 0 && i < NROUTES; i++)
        rc = tb_http_route(o->http, routes[i].path, routes[i].fn, w);
    if (rc != 0) {
        tb_mail_web_free(w, o->http);
        return rc;
    }
    *out = w;
    return 0;
}

void tb_mail_web_free(struct tb_mail_web *w, struct tb_http *http)
{
    size_t i;

    if (w == NULL)
        return;
    for (i = 0; http != NULL && i < NROUTES; i++) {
        if (tb_http_route(http, routes[i].path, NULL, NULL) != 0)
            continue;
    }
    clients_free(w);
    memset(w->key, 0, sizeof(w->key));
    free(w);
}
