/* Unit tests for tb_push.h: the X-Hub-Signature check (RFC 2202 / 4231
 * vectors for each method, wrong, malformed, unsigned, empty secret), ids
 * and secrets, the request form, the verification query, the lease, poll
 * and retry arithmetic, and the push_subs table across a close and reopen. */
#include "tb_form.h"
#include "tb_push.h"
#include "tb_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define DAY 86400

static const char data[] = "what do ya want for nothing?";

static int sig(const char *header, const char *secret)
{
    return tb_push_check_signature(header, secret, data, sizeof(data) - 1);
}

static void test_signature(void)
{
    /* RFC 2202 test case 2 (SHA-1) and RFC 4231 test case 2: key "Jefe". */
    CHECK_OK(sig("sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", "Jefe"));
    CHECK_OK(
        sig("sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "Jefe"));
    CHECK_OK(sig("sha384=af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
                 "8e2240ca5e69e2c78b3239ecfab21649",
                 "Jefe"));
    CHECK_OK(sig("sha512=164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                 "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
                 "Jefe"));
    /* Upper-case hex is the same digest. */
    CHECK_OK(sig("sha1=EFFCDF6AE5EB2FA2D27416D5F184DF9C259A7C79", "Jefe"));
    /* Wrong: another secret, another body, one digit changed. */
    CHECK_EQ(sig("sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", "jefe"), -EBADMSG);
    CHECK_EQ(sig("sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c78", "Jefe"), -EBADMSG);
    CHECK_EQ(tb_push_check_signature("sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", "Jefe", data,
                                     sizeof(data) - 2),
             -EBADMSG);
    /* The right digest under another method's name is malformed (its length) or wrong. */
    CHECK_EQ(sig("sha256=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", "Jefe"), -EINVAL);
    /* Unsigned. */
    CHECK_EQ(sig(NULL, "Jefe"), -ENOENT);
    CHECK_EQ(sig("", "Jefe"), -ENOENT);
    /* Malformed: no '=', unknown or absurd method, short, long, non-hex, spaces. */
    CHECK_EQ(sig("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", "Jefe"), -EINVAL);
    CHECK_EQ(sig("md5=750c783e6ab0b503eaa86e310a5db738", "Jefe"), -EINVAL);
    CHECK_EQ(sig("sha1234567=00", "Jefe"), -EINVAL);
    CHECK_EQ(sig("sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c7", "Jefe"), -EINVAL);
    CHECK_EQ(sig("sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c7900", "Jefe"), -EINVAL);
    CHECK_EQ(sig("sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7cxx", "Jefe"), -EINVAL);
    CHECK_EQ(sig("sha1= effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", "Jefe"), -EINVAL);
    CHECK_EQ(sig("sha1=", "Jefe"), -EINVAL);
    /* No secret: nothing verifies, not even the HMAC under the empty key. */
    CHECK_EQ(sig("sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", ""), -EINVAL);
    CHECK_EQ(sig("sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", NULL), -EINVAL);
}

static void test_random(void)
{
    char a[2 * TB_PUSH_SECRET_BYTES + 1], b[2 * TB_PUSH_SECRET_BYTES + 1];
    size_t i;

    CHECK_OK(tb_push_random_hex(a, TB_PUSH_SECRET_BYTES));
    CHECK_OK(tb_push_random_hex(b, TB_PUSH_SECRET_BYTES));
    CHECK_EQ(strlen(a), 64);
    CHECK(strcmp(a, b) != 0);
    for (i = 0; i < strlen(a); i++)
        CHECK(strchr("0123456789abcdef", a[i]) != NULL);
    CHECK_EQ(tb_push_random_hex(a, 65), -EINVAL);
}

static void test_form(void)
{
    struct tb_buf b;
    struct tb_form f;

    tb_buf_init(&b, 4096);
    CHECK_OK(tb_push_request_body(&b, "subscribe", "http://x.example/f?a=1&b=2",
                                  "http://me.example/websub/callback/ab", "s3", 864000));
    CHECK_STR(b.data, "hub.mode=subscribe&hub.topic=http%3A%2F%2Fx.example%2Ff%3Fa%3D1%26b%3D2"
                      "&hub.callback=http%3A%2F%2Fme.example%2Fwebsub%2Fcallback%2Fab"
                      "&hub.secret=s3&hub.lease_seconds=864000");
    /* What the hub decodes is what was asked. */
    CHECK_OK(tb_form_parse(&f, b.data, b.len));
    CHECK_STR(tb_form_get(&f, "hub.topic"), "http://x.example/f?a=1&b=2");
    CHECK_STR(tb_form_get(&f, "hub.callback"), "http://me.example/websub/callback/ab");
    CHECK_STR(tb_form_get(&f, "hub.lease_seconds"), "864000");
    tb_form_free(&f);
    tb_buf_reset(&b);
    CHECK_OK(tb_push_request_body(&b, "unsubscribe", "t", "c", "s3", 864000));
    CHECK_STR(b.data, "hub.mode=unsubscribe&hub.topic=t&hub.callback=c");
    tb_buf_free(&b);
    tb_buf_init(&b, 16);
    CHECK_EQ(tb_push_request_body(&b, "subscribe", "http://long.example/", "c", "s", 1),
             TB_ETOOBIG);
    tb_buf_free(&b);
}

static void test_link(void)
{
    static const char h[] =
        "<https://hub.example/a,b>; rel=\"hub\", <http://x/feed>; "
        "type=\"application/atom+xml\"; title=\"a, b; c\"; REL=\"alternate SELF\","
        "<http://x/other>;rel=hub";
    char v[64];

    CHECK_OK(tb_push_link_rel(h, "hub", v, sizeof(v)));
    CHECK_STR(v, "https://hub.example/a,b");
    CHECK_OK(tb_push_link_rel(h, "self", v, sizeof(v)));
    CHECK_STR(v, "http://x/feed");
    CHECK_OK(tb_push_link_rel(h, "alternate", v, sizeof(v)));
    CHECK_STR(v, "http://x/feed");
    CHECK_OK(tb_push_link_rel("<http://h/>;rel=hub", "hub", v, sizeof(v)));
    CHECK_STR(v, "http://h/");
    CHECK_OK(tb_push_link_rel("<http://a/>; rel=next, <http://h/> ; rel = \"hub\"", "hub", v,
                              sizeof(v)));
    CHECK_STR(v, "http://h/");
    CHECK_EQ(tb_push_link_rel(h, "hu", v, sizeof(v)), -ENOENT);
    CHECK_EQ(tb_push_link_rel("<http://h/>; rel=\"hubs\"", "hub", v, sizeof(v)), -ENOENT);
    CHECK_EQ(tb_push_link_rel("", "hub", v, sizeof(v)), -ENOENT);
    CHECK_EQ(tb_push_link_rel("garbage; rel=hub", "hub", v, sizeof(v)), -ENOENT);
    CHECK_EQ(tb_push_link_rel("<http://h/; rel=hub", "hub", v, sizeof(v)), -ENOENT);
    CHECK_EQ(tb_push_link_rel("<http://h/>; title=\"unterminated; rel=hub", "hub", v, sizeof(v)),
             -ENOENT);
    CHECK_EQ(tb_push_link_rel("<http://hub.example/long>; rel=hub", "hub", v, 10), -ENAMETOOLONG);
}

static void test_arith(void)
{
    /* 90% of the lease, or a day before its end, whichever is earlier. */
    CHECK_EQ(tb_push_renew_at(1000, 1100), 1090);
    CHECK_EQ(tb_push_renew_at(0, 10 * DAY), 9 * DAY);
    CHECK_EQ(tb_push_renew_at(0, 30 * DAY), 27 * DAY);
    CHECK_EQ(tb_push_renew_at(0, 5 * DAY), 4 * DAY);
    CHECK_EQ(tb_push_renew_at(0, 2 * DAY), DAY);
    CHECK_EQ(tb_push_renew_at(0, DAY), DAY * 9 / 10);
    CHECK_EQ(tb_push_renew_at(0, 10), 9);
    CHECK_EQ(tb_push_renew_at(500, 400), 500);
    /* Interval times 4, at most a day; a source polled less often keeps its interval. */
    CHECK_EQ(tb_push_poll_interval(60), 240);
    CHECK_EQ(tb_push_poll_interval(3600), 4 * 3600);
    CHECK_EQ(tb_push_poll_interval(8 * 3600), DAY);
    CHECK_EQ(tb_push_poll_interval(2 * DAY), 2 * DAY);
    CHECK_EQ(tb_push_retry_delay(1), 60);
    CHECK_EQ(tb_push_retry_delay(2), 120);
    CHECK_EQ(tb_push_retry_delay(5), 960);
    CHECK_EQ(tb_push_retry_delay(40), DAY);
    CHECK_STR(tb_push_state_name(TB_PUSH_ACTIVE), "active");
    CHECK_STR(tb_push_state_name(TB_PUSH_LEAVING), "leaving");
    CHECK_STR(tb_push_state_name((enum tb_push_state)99), "none");
}

static void test_store(void)
{
    char dir[] = "/tmp/tb-push-XXXXXX", path[1024], err[512] = "";
    struct tb_store *st = NULL;
    struct tb_push_sub s = {0}, g = {0}, *v = NULL;
    int64_t a = 0, b = 0;
    size_t n = 0;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s", st_target(dir, "db"));
    CHECK_OK(tb_store_open(&st, path, 0, err, sizeof(err)));
    CHECK_OK(tb_store_source(st, "b-src", "http://b/", &b, err, sizeof(err)));
    CHECK_OK(tb_store_source(st, "a-src", "http://a/", &a, err, sizeof(err)));
    CHECK_EQ(tb_push_get(st, a, &g, err, sizeof(err)), -ENOENT);
    s.source_id = a;
    s.hub = "http://hub/";
    s.topic = "http://a/feed";
    s.id = "0123456789abcdef0123456789abcdef";
    s.secret = "sekrit";
    s.state = TB_PUSH_ACTIVE;
    s.requested = 10;
    s.lease_end = 1000;
    s.next_try = 900;
    s.failures = 2;
    s.reason = "why";
    s.last_push = 20;
    s.pushes = 3;
    s.rejected = 4;
    CHECK_OK(tb_push_put(st, &s, err, sizeof(err)));
    s.source_id = b;
    s.id = "ffff";
    s.state = TB_PUSH_DENIED;
    s.reason = NULL;
    CHECK_OK(tb_push_put(st, &s, err, sizeof(err)));
    /* The callback id is unique. */
    s.source_id = b + a + 10;
    CHECK_EQ(tb_push_put(st, &s, err, sizeof(err)), TB_ESTORE);
    tb_store_close(st);

    st = NULL;
    CHECK_OK(tb_store_open(&st, path, 0, err, sizeof(err)));
    CHECK_OK(tb_push_get(st, a, &g, err, sizeof(err)));
    CHECK_STR(g.hub, "http://hub/");
    CHECK_STR(g.topic, "http://a/feed");
    CHECK_STR(g.secret, "sekrit");
    CHECK_STR(g.source, "a-src");
    CHECK_EQ(g.state, TB_PUSH_ACTIVE);
    CHECK_EQ(g.requested, 10);
    CHECK_EQ(g.lease_end, 1000);
    CHECK_EQ(g.next_try, 900);
    CHECK_EQ(g.failures, 2);
    CHECK_STR(g.reason, "why");
    CHECK_EQ(g.last_push, 20);
    CHECK_EQ(g.pushes, 3);
    CHECK_EQ(g.rejected, 4);
    tb_push_sub_clear(&g);
    CHECK_OK(tb_push_get_by_id(st, "ffff", &g, err, sizeof(err)));
    CHECK_EQ(g.source_id, b);
    CHECK_EQ(g.state, TB_PUSH_DENIED);
    CHECK(g.reason == NULL);
    tb_push_sub_clear(&g);
    CHECK_EQ(tb_push_get_by_id(st, "nope", &g, err, sizeof(err)), -ENOENT);
    /* Replacing a source's row. */
    s.source_id = a;
    s.id = "0123456789abcdef0123456789abcdef";
    s.state = TB_PUSH_PENDING;
    CHECK_OK(tb_push_put(st, &s, err, sizeof(err)));
    CHECK_OK(tb_push_list(st, &v, &n, err, sizeof(err)));
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_STR(v[0].source, "a-src");
        CHECK_EQ(v[0].state, TB_PUSH_PENDING);
        CHECK_STR(v[1].source, "b-src");
    }
    tb_push_list_free(v, n);
    CHECK_OK(tb_push_delete(st, "ffff", err, sizeof(err)));
    CHECK_EQ(tb_push_delete(st, "ffff", err, sizeof(err)), -ENOENT);
    CHECK_OK(tb_push_list(st, &v, &n, err, sizeof(err)));
    CHECK_EQ(n, 1);
    tb_push_list_free(v, n);
    tb_push_list_free(NULL, 0);
    /* Steps once across nodes: two nodes that read claim_token 0 both try
     * to claim the next step; one gets it (token 1, next_try moved), the
     * other is told no and keeps what it read. A put keeps the count. */
    {
        int64_t t1 = 0, t2 = 0;
        const char *id = "0123456789abcdef0123456789abcdef";

        CHECK_OK(tb_push_get(st, a, &g, err, sizeof(err)));
        CHECK_EQ(g.claim_token, 0);
        tb_push_sub_clear(&g);
        CHECK_EQ(tb_push_claim(st, id, &t1, 4500, err, sizeof(err)), 1);
        CHECK_EQ(t1, 1);
        CHECK_EQ(tb_push_claim(st, id, &t2, 4501, err, sizeof(err)), 0);
        CHECK_EQ(t2, 0);
        CHECK_OK(tb_push_put(st, &s, err, sizeof(err)));
        CHECK_OK(tb_push_get(st, a, &g, err, sizeof(err)));
        CHECK_EQ(g.claim_token, 1);
        tb_push_sub_clear(&g);
        t2 = 1;
        CHECK_EQ(tb_push_claim(st, id, &t2, 9000, err, sizeof(err)), 1);
        CHECK_OK(tb_push_get(st, a, &g, err, sizeof(err)));
        CHECK_EQ(g.next_try, 9000);
        CHECK_EQ(g.claim_token, 2);
        tb_push_sub_clear(&g);
        CHECK_EQ(tb_push_claim(st, "nope", &t1, 1, err, sizeof(err)), 0);
    }
    tb_store_close(st);
    unlink(path);
    snprintf(path, sizeof(path), "%s/db-wal", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/db-shm", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    if (!st_ready())
        CHECK_DONE();
    test_signature();
    test_random();
    test_form();
    test_arith();
    test_link();
    test_store();
    CHECK_DONE();
}
