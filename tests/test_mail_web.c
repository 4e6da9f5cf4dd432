/*
 * test_mail_web: the subscribe, confirm, unsubscribe and manage routes on a
 * real server (tb_http on a loop in the main thread) over a temporary
 * store, with a clock the test moves. A client thread talks HTTP over
 * plain sockets, from several loopback addresses (127.0.0.X: each its own
 * client for the per-client limit); it reads and changes the store through
 * loop_call(), which runs a function on the loop's thread.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "tb_mail_web.h"
#include "tb_subs.h"

#define T0 1796000000 /* the test's clock starts here (2026-11-29) */

static uv_loop_t loop;
static struct tb_http *srv;
static struct tb_store *st;
static struct tb_mail_web *web;
static struct tb_config cfg;
static struct tb_config *cfgp = &cfg;
static struct tb_config_topic topics[2];
static const unsigned char key[TB_MAIL_SECRET_LEN] = "0123456789abcdef0123456789abcdef";
static int port;
static atomic_llong clock_now = T0;
static atomic_int kicks;
static uv_async_t call_async;
static uv_sem_t call_sem;
static void (*call_fn)(void);

/* ---- the loop side ---- */

static int64_t test_now(void)
{
    return clock_now;
}

static void on_kick(void *data)
{
    (void)data;
    kicks++;
}

static void on_call(uv_async_t *a)
{
    (void)a;
    call_fn();
    uv_sem_post(&call_sem);
}

static void loop_call(void (*fn)(void))
{
    call_fn = fn;
    CHECK_OK(uv_async_send(&call_async));
    uv_sem_wait(&call_sem);
}

/* What loop-side helpers read or write for the client thread. */
static char q_addr[300];
static struct tb_subs q_sub;
static int q_rc;
static struct tb_subs_counts q_counts;

static void do_find(void)
{
    char err[256];

    tb_subs_clear(&q_sub);
    memset(&q_sub, 0, sizeof(q_sub));
    q_rc = tb_subs_find(st, q_addr, &q_sub, err, sizeof(err));
}

static void do_count(void)
{
    char err[256];

    q_rc = tb_subs_count(st, &q_counts, err, sizeof(err));
}

static void do_stop(void)
{
    tb_mail_web_free(web, srv);
    tb_http_free(srv, NULL, NULL);
    uv_close((uv_handle_t *)&call_async, NULL);
}

/* The subscription of addr (q_sub), or -ENOENT. */
static int find(const char *addr)
{
    snprintf(q_addr, sizeof(q_addr), "%s", addr);
    loop_call(do_find);
    return q_rc;
}

/* Messages waiting in the outbox. */
static size_t outbox(void)
{
    loop_call(do_count);
    CHECK_OK(q_rc);
    return q_counts.outbox;
}

/* ---- a small blocking client ---- */

struct resp {
    int status;
    char head[8192];
    char *body;
};

static void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* Value of header `name` into out, or NULL. */
static const char *hdr(const struct resp *r, const char *name, char *out, size_t outlen)
{
    const char *p = r->head;
    size_t n = strlen(name);

    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1 + strspn(p + n + 1, " ");
            snprintf(out, outlen, "%.*s", (int)strcspn(v, "\r"), v);
            return out;
        }
    }
    return NULL;
}

/* Sends one request from 127.0.0.`from` and reads the whole answer (Connection: close). */
static int exchange(int from, const char *req, size_t len, struct resp *r)
{
    struct sockaddr_in sa, me;
    struct timeval tv = {20, 0};
    char *in = NULL, buf[16384], *end;
    size_t got = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(r, 0, sizeof(*r));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&me, 0, sizeof(me));
    me.sin_family = AF_INET;
    me.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)from);
    CHECK_OK(bind(fd, (struct sockaddr *)&me, sizeof(me)));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_OK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
    while (len > 0) {
        n = send(fd, req, len, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        req += n;
        len -= (size_t)n;
    }
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
        in = realloc(in, got + (size_t)n + 1);
        memcpy(in + got, buf, (size_t)n);
        got += (size_t)n;
        in[got] = '\0';
    }
    close(fd);
    end = in != NULL ? strstr(in, "\r\n\r\n") : NULL;
    if (end == NULL) {
        free(in);
        return -1;
    }
    snprintf(r->head, sizeof(r->head), "%.*s", (int)(end - in + 2), in);
    r->status = atoi(in + 9);
    r->body = strdup(end + 4);
    free(in);
    return r->status;
}

static int get(int from, const char *path, struct resp *r)
{
    char req[1024];

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    return exchange(from, req, strlen(req), r);
}

static int post_as(int from, const char *path, const char *type, const char *body, struct resp *r)
{
    char req[8192];
    int n = snprintf(req, sizeof(req),
                     "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     path, type, strlen(body), body);

    return exchange(from, req, (size_t)n, r);
}

static int post(int from, const char *path, const char *body, struct resp *r)
{
    return post_as(from, path, "application/x-www-form-urlencoded", body, r);
}

/* The headers every answer carries. */
static void check_headers(const struct resp *r)
{
    char v[256];

    CHECK_STR(hdr(r, "Cache-Control", v, sizeof(v)), "no-store");
    CHECK_STR(hdr(r, "Referrer-Policy", v, sizeof(v)), "no-referrer");
    CHECK(hdr(r, "Content-Security-Policy", v, sizeof(v)) != NULL &&
          strstr(v, "frame-ancestors 'none'") != NULL && strstr(v, "script") == NULL);
}

static void token(enum tb_mail_action a, int64_t id, const char *addr, int64_t exp, char *out)
{
    CHECK_OK(tb_mail_token_make(key, a, id, addr, exp, out, TB_MAIL_TOKEN_MAX));
}

/* ---- the tests ---- */

static void test_subscribe_confirm(void)
{
    const char *norm = "Reader@example.org";
    char tok[TB_MAIL_TOKEN_MAX], bad[TB_MAIL_TOKEN_MAX], path[256], body[512], v[256];
    struct resp r;
    int64_t id;
    size_t i;

    CHECK_EQ(post(2, "/subscribe",
                  "email=Reader%40Example.ORG&topic=nlp&topic=trending&topic=nosuch&topic=nlp"
                  "&frequency=weekly",
                  &r),
             303);
    CHECK_STR(hdr(&r, "Location", v, sizeof(v)), "subscribe?sent=1");
    check_headers(&r);
    resp_free(&r);
    CHECK_EQ(kicks, 1);
    CHECK_EQ(outbox(), 1);
    CHECK_OK(find(norm));
    CHECK_EQ(q_sub.state, TB_SUBS_PENDING);
    CHECK_EQ(q_sub.npending, 2);
    CHECK_EQ(q_sub.pending_freq, TB_SUBS_WEEKLY);
    id = q_sub.id;
    CHECK_EQ(get(2, "/subscribe?sent=1", &r), 200);
    CHECK(strstr(r.body, "<h1>Check your inbox</h1>") != NULL);
    resp_free(&r);
    /* GET shows the button and changes nothing, however often. */
    token(TB_MAIL_CONFIRM, id, norm, T0 + TB_MAIL_CONFIRM_TTL, tok);
    snprintf(path, sizeof(path), "/confirm?t=%s", tok);
    for (i = 0; i < 2; i++) {
        CHECK_EQ(get(2, path, &r), 200);
        check_headers(&r);
        CHECK(strstr(r.body, "<form class=\"notice\" method=\"post\" action=\"confirm\">") != NULL);
        CHECK(strstr(r.body, tok) != NULL);
        CHECK(strstr(r.body, "R***@example.org") != NULL);
        CHECK(strstr(r.body, "Reader@") == NULL);
        CHECK(strstr(r.body, "Language, Trending across everything (weekly digests)") != NULL);
        resp_free(&r);
    }
    CHECK_OK(find(norm));
    CHECK_EQ(q_sub.state, TB_SUBS_PENDING);
    /* Tokens that must not confirm. */
    {
        char other[TB_MAIL_TOKEN_MAX], wrong[TB_MAIL_TOKEN_MAX], next[TB_MAIL_TOKEN_MAX];
        const char *bads[6];

        snprintf(bad, sizeof(bad), "%s", tok);
        bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'A' ? 'B' : 'A';
        token(TB_MAIL_CONFIRM, id, "someone@example.org", T0 + 3600, other);
        token(TB_MAIL_MANAGE, id, norm, 0, wrong);
        token(TB_MAIL_CONFIRM, id + 1, norm, T0 + 3600, next);
        bads[0] = bad;
        bads[1] = other;
        bads[2] = wrong;
        bads[3] = next;
        bads[4] = "c.1.2.x";
        bads[5] = "";
        for (i = 0; i < 6; i++) {
            snprintf(body, sizeof(body), "t=%s", bads[i]);
            CHECK_EQ(post(2, "/confirm", body, &r), 400);
            check_headers(&r);
            CHECK(strstr(r.body, "This link is not valid") != NULL);
            resp_free(&r);
        }
    }
    /* Expired: 48 hours and a second later. */
    clock_now = T0 + TB_MAIL_CONFIRM_TTL + 1;
    snprintf(body, sizeof(body), "t=%s", tok);
    CHECK_EQ(post(2, "/confirm", body, &r), 410);
    CHECK(strstr(r.body, "expired") != NULL);
    resp_free(&r);
    CHECK_EQ(get(2, path, &r), 410);
    resp_free(&r);
    CHECK_OK(find(norm));
    CHECK_EQ(q_sub.state, TB_SUBS_PENDING);
    clock_now = T0 + 60;
    CHECK_EQ(post(2, "/confirm", body, &r), 200);
    CHECK(strstr(r.body, "You are subscribed") != NULL);
    CHECK(strstr(r.body, "<a href=\"manage?t=m.") != NULL);
    resp_free(&r);
    CHECK_OK(find(norm));
    CHECK_EQ(q_sub.state, TB_SUBS_ACTIVE);
    CHECK_EQ(q_sub.freq, TB_SUBS_WEEKLY);
    CHECK_EQ(q_sub.ntopics, 2);
    CHECK_EQ(q_sub.npending, 0);
}

/* A known address and an unknown one get the same bytes back. */
static void test_same_answer(void)
{
    static const char *const names[] = {"Location", "Content-Length", "Content-Type",
                                        "Cache-Control", "Set-Cookie"};
    char va[256], vb[256];
    struct resp a, b;
    size_t i;

    CHECK_EQ(post(3, "/subscribe", "email=Reader%40example.org&topic=vision", &a), 303);
    CHECK_EQ(post(3, "/subscribe", "email=nobody%40example.org&topic=vision", &b), 303);

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        CHECK_STR(hdr(&a, names[i], va, sizeof(va)), hdr(&b, names[i], vb, sizeof(vb)));
    CHECK_EQ(strlen(a.head), strlen(b.head)); /* the same headers, Date aside */
    CHECK_STR(a.body, b.body);
    resp_free(&a);
    resp_free(&b);
    /* The known one's change waits for its confirmation. */
    CHECK_OK(find("Reader@example.org"));
    CHECK_EQ(q_sub.state, TB_SUBS_ACTIVE);
    CHECK_EQ(q_sub.ntopics, 2);
}

static void test_bad_requests(void)
{
    static const char *const bad[] = {
        "email=a%40b.org%0D%0ABcc%3A+x%40y.org&topic=vision",
        "email=a%40b.org%0ABcc%3A+x%40y.org&topic=vision",
        "email=a%40b.org%00&topic=vision",
        "email=a%40b.org%2C+c%40d.org&topic=vision",
        "email=%3Ca%40b.org%3E&topic=vision",
        "email=nobody&topic=vision",
        "email=a%40%5B127.0.0.1%5D&topic=vision",
        "email=%C3%A9%40b.org&topic=vision",
        "email=a%40b.org%zz&topic=vision",
        "topic=vision",
        "email=a%40b.org&topic=vision&frequency=hourly",
    };
    size_t before = outbox(), i;
    int k = kicks;
    struct resp r;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ(post(4, "/subscribe", bad[i], &r), 400);
        check_headers(&r);
        CHECK(strstr(r.body, "Bcc") == NULL);
        CHECK(strstr(r.body, "<form method=\"post\" action=\"subscribe\">") != NULL);
        resp_free(&r);
    }
    CHECK_EQ(post(4, "/subscribe", "email=a%40b.org&topic=nosuch", &r), 400);
    CHECK(strstr(r.body, "Choose at least one topic") != NULL);
    resp_free(&r);
    CHECK_EQ(post_as(4, "/subscribe", "application/json", "{\"email\":\"a@b.org\"}", &r), 415);
    resp_free(&r);
    CHECK_EQ(outbox(), before);
    CHECK_EQ(kicks, k);
    CHECK_EQ(find("a@b.org"), -ENOENT);
    /* Other methods: 405. */
    {
        static const char put[] = "PUT /subscribe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        CHECK_EQ(exchange(4, put, sizeof(put) - 1, &r), 405);
    }
    resp_free(&r);
}

/* At most TB_SUBS_CONFIRM_PER_DAY mails for one address a day, whoever asks. */
static void test_caps(void)
{
    char body[256];
    struct resp r;
    size_t before = outbox(), i;

    for (i = 0; i < 6; i++) {
        clock_now += 1; /* a confirmation's Message-ID names its second */
        CHECK_EQ(post(10 + (int)i, "/subscribe", "email=victim%40example.org&topic=vision", &r),
                 303);
        resp_free(&r);
    }
    CHECK_EQ(outbox(), before + TB_SUBS_CONFIRM_PER_DAY);
    /* One client: TB_MAIL_WEB_PER_CLIENT requests an hour, then 429. */
    before = outbox();
    for (i = 0; i < TB_MAIL_WEB_PER_CLIENT + 2; i++) {
        clock_now += 1;
        snprintf(body, sizeof(body), "email=p%zu%%40example.org&topic=vision", i);
        CHECK_EQ(post(20, "/subscribe", body, &r), i < TB_MAIL_WEB_PER_CLIENT ? 303 : 429);
        if (i == TB_MAIL_WEB_PER_CLIENT) {
            char v[32];
            CHECK_STR(hdr(&r, "Retry-After", v, sizeof(v)), "3600");
            check_headers(&r);
        }
        resp_free(&r);
    }
    CHECK_EQ(outbox(), before + TB_MAIL_WEB_PER_CLIENT);
    CHECK_EQ(find("p10@example.org"), -ENOENT);
    CHECK_EQ(post(21, "/subscribe", "email=p10%40example.org&topic=vision", &r), 303);
    resp_free(&r);
    clock_now += 3600;
    CHECK_EQ(post(20, "/subscribe", "email=p11%40example.org&topic=vision", &r), 303);
    resp_free(&r);
}

static void test_manage_unsubscribe(void)
{
    const char *addr = "Reader@example.org";
    char m[TB_MAIL_TOKEN_MAX], u[TB_MAIL_TOKEN_MAX], c[TB_MAIL_TOKEN_MAX], path[256], body[512];
    struct resp r;
    int64_t id;

    CHECK_OK(find(addr));
    id = q_sub.id;
    token(TB_MAIL_MANAGE, id, addr, 0, m);
    token(TB_MAIL_UNSUBSCRIBE, id, addr, 0, u);
    token(TB_MAIL_CONFIRM, id, addr, clock_now + 3600, c);
    snprintf(path, sizeof(path), "/manage?t=%s", m);
    CHECK_EQ(get(5, path, &r), 200);
    check_headers(&r);
    CHECK(strstr(r.body, "name=\"topic\" value=\"nlp\" checked> Language</label>") != NULL);
    CHECK(strstr(r.body, "name=\"topic\" value=\"vision\"> Vision</label>") != NULL);
    CHECK(strstr(r.body, "name=\"frequency\" value=\"weekly\" checked>") != NULL);
    CHECK(strstr(r.body, "value=\"leave\"") != NULL);
    resp_free(&r);
    /* Save: vision, daily. */
    snprintf(body, sizeof(body), "t=%s&topic=vision&frequency=daily&action=save", m);
    CHECK_EQ(post(5, "/manage", body, &r), 200);
    CHECK(strstr(r.body, "Your changes are saved.") != NULL);
    CHECK(strstr(r.body, "name=\"topic\" value=\"vision\" checked>") != NULL);
    resp_free(&r);
    CHECK_OK(find(addr));
    CHECK_EQ(q_sub.ntopics, 1);
    CHECK_STR(q_sub.topics[0], "vision");
    CHECK_EQ(q_sub.freq, TB_SUBS_DAILY);
    /* No topic: nothing changes. A confirm token does not manage. */
    snprintf(body, sizeof(body), "t=%s&frequency=weekly", m);
    CHECK_EQ(post(5, "/manage", body, &r), 400);
    resp_free(&r);
    snprintf(body, sizeof(body), "t=%s&topic=nlp", c);
    CHECK_EQ(post(5, "/manage", body, &r), 400);
    resp_free(&r);
    CHECK_OK(find(addr));
    CHECK_EQ(q_sub.freq, TB_SUBS_DAILY);
    CHECK_STR(q_sub.topics[0], "vision");
    /* Unsubscribe: GET shows a button; manage and confirm tokens do not leave. */
    snprintf(path, sizeof(path), "/unsubscribe?t=%s", u);
    CHECK_EQ(get(5, path, &r), 200);
    CHECK(strstr(r.body, "<button type=\"submit\">Unsubscribe</button>") != NULL);
    resp_free(&r);
    snprintf(path, sizeof(path), "/unsubscribe?t=%s", m);
    CHECK_EQ(post(5, path, "List-Unsubscribe=One-Click", &r), 400);
    resp_free(&r);
    snprintf(path, sizeof(path), "/unsubscribe?t=%s", c);
    CHECK_EQ(post(5, path, "List-Unsubscribe=One-Click", &r), 400);
    resp_free(&r);
    CHECK_OK(find(addr));
    CHECK_EQ(q_sub.state, TB_SUBS_ACTIVE);
    /* RFC 8058 one-click, as multipart/form-data: the token in the URL decides. */
    snprintf(path, sizeof(path), "/unsubscribe?t=%s", u);
    CHECK_EQ(post_as(5, path, "multipart/form-data; boundary=xx",
                     "--xx\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
                     "One-Click\r\n--xx--\r\n",
                     &r),
             200);
    CHECK(strstr(r.body, "You have left") != NULL);
    resp_free(&r);
    CHECK_OK(find(addr));
    CHECK_EQ(q_sub.state, TB_SUBS_LEFT);
    CHECK_EQ(post(5, path, "List-Unsubscribe=One-Click", &r), 200);
    resp_free(&r);
    /* An old confirm link does not bring it back. */
    snprintf(body, sizeof(body), "t=%s", c);
    CHECK_EQ(post(5, "/confirm", body, &r), 410);
    resp_free(&r);
    CHECK_OK(find(addr));
    CHECK_EQ(q_sub.state, TB_SUBS_LEFT);
}

/* Leaving from the manage page. */
static void test_manage_leave(void)
{
    const char *addr = "victim@example.org";
    char m[TB_MAIL_TOKEN_MAX], body[512];
    struct resp r;

    CHECK_OK(find(addr));
    token(TB_MAIL_MANAGE, q_sub.id, addr, 0, m);
    snprintf(body, sizeof(body), "t=%s&action=leave", m);
    CHECK_EQ(post(6, "/manage", body, &r), 200);
    CHECK(strstr(r.body, "You have left") != NULL);
    CHECK(strstr(r.body, "v***@example.org") != NULL);
    resp_free(&r);
    CHECK_OK(find(addr));
    CHECK_EQ(q_sub.state, TB_SUBS_LEFT);
}

static void client(void *arg)
{
    (void)arg;
    test_subscribe_confirm();
    test_same_answer();
    test_bad_requests();
    test_caps();
    test_manage_unsubscribe();
    test_manage_leave();
    tb_subs_clear(&q_sub);
    loop_call(do_stop);
}

int main(void)
{
    struct tb_http_opts ho = {"127.0.0.1:0", 5000, 64};
    struct tb_mail_web_opts wo = {0};
    char err[256], base[64];
    uv_thread_t t;

    CHECK_OK(uv_loop_init(&loop));
    CHECK_OK(tb_store_open(&st, ":memory:", TB_STORE_TEMP, err, sizeof(err)));
    CHECK_OK(tb_http_new(&loop, &ho, &srv, err, sizeof(err)));
    port = tb_http_port(srv);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d/", port);
    topics[0] = (struct tb_config_topic){.name = "nlp", .title = "Language", .query = "nlp"};
    topics[1] = (struct tb_config_topic){.name = "vision", .title = "Vision", .query = "vision"};
    cfg.title = "Morning papers";
    cfg.base_url = base;
    cfg.topics = topics;
    cfg.ntopics = 2;
    cfg.mail.enabled = 1;
    cfg.mail.from = "Morning papers <papers@example.org>";
    cfg.mail.from_addr = "papers@example.org";
    cfg.mail.max_papers = 20;
    wo.http = srv;
    wo.store = st;
    wo.cfg = &cfgp;
    wo.key = key;
    wo.kick = on_kick;
    wo.now = test_now;
    wo.key = NULL;
    CHECK_EQ(tb_mail_web_new(&wo, &web), -EINVAL);
    wo.key = key;
    CHECK_EQ(tb_mail_web_new(&wo, &web), 0);
    CHECK_OK(uv_async_init(&loop, &call_async, on_call));
    CHECK_OK(uv_sem_init(&call_sem, 0));
    CHECK_OK(uv_thread_create(&t, client, NULL));
    CHECK_OK(uv_run(&loop, UV_RUN_DEFAULT));
    CHECK_OK(uv_thread_join(&t));
    CHECK_OK(uv_loop_close(&loop));
    uv_sem_destroy(&call_sem);
    tb_store_close(st);
    CHECK_DONE();
}
