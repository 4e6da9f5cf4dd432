/* Tests for the daemon's /metrics per-source series (daemon_int.h): only the
 * classes that happened, label values escaped, and bounded by the buffer's cap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/daemon_int.h"
#include "check.h"

/* A daemon holding n zeroed sources named by fmt (one %zu). */
static struct daemon *with_sources(size_t n, const char *fmt)
{
    struct daemon *d = calloc(1, sizeof(*d));
    char name[128];
    size_t i;

    CHECK(d != NULL);
    d->srcs = calloc(n, sizeof(*d->srcs));
    CHECK(d->srcs != NULL);
    d->nsrcs = n;
    for (i = 0; i < n; i++) {
        d->srcs[i] = calloc(1, sizeof(struct src));
        CHECK(d->srcs[i] != NULL);
        snprintf(name, sizeof(name), fmt, i);
        d->srcs[i]->name = strdup(name);
    }
    return d;
}

static void free_daemon(struct daemon *d)
{
    size_t i;

    for (i = 0; i < d->nsrcs; i++) {
        free(d->srcs[i]->name);
        free(d->srcs[i]);
    }
    free(d->srcs);
    free(d);
}

static void test_series(void)
{
    struct daemon *d = with_sources(3, "s%zu");
    struct tb_buf b;

    d->srcs[0]->fetches[FETCH_2XX] = 2;
    d->srcs[0]->fetches[FETCH_3XX] = 1;
    free(d->srcs[1]->name);
    d->srcs[1]->name = strdup("b\"q\\x\ny");
    d->srcs[1]->fetches[FETCH_ERROR] = 4;
    d->srcs[1]->fetches[FETCH_5XX] = 1;
    tb_buf_init(&b, 1 << 20);
    tb__daemon_metrics_sources(d, &b);
    CHECK(b.data != NULL);
    if (b.data != NULL) {
        CHECK_STR(b.data, "# TYPE tributary_source_fetches_total counter\n"
                          "tributary_source_fetches_total{source=\"s0\",class=\"2xx\"} 2\n"
                          "tributary_source_fetches_total{source=\"s0\",class=\"3xx\"} 1\n"
                          "tributary_source_fetches_total{source=\"b\\\"q\\\\x\\ny\","
                          "class=\"5xx\"} 1\n"
                          "tributary_source_fetches_total{source=\"b\\\"q\\\\x\\ny\","
                          "class=\"error\"} 4\n"
                          "# TYPE tributary_metrics_truncated gauge\n"
                          "tributary_metrics_truncated 0\n");
    }
    tb_buf_free(&b);
    free_daemon(d);
}

/* Past the cap the series stop at a whole line, what came before stays,
 * and the flag says the output was cut. */
static void test_cap(void)
{
    struct daemon *d = with_sources(1000, "source-%05zu");
    struct tb_buf b;
    size_t i, lines = 0;
    const char *p;

    for (i = 0; i < d->nsrcs; i++)
        d->srcs[i]->fetches[FETCH_2XX] = i + 1;
    tb_buf_init(&b, 4096);
    CHECK_OK(tb_buf_adds(&b, "tributary_sources 1000\n"));
    tb__daemon_metrics_sources(d, &b);
    CHECK(b.data != NULL && b.len <= 4096);
    if (b.data != NULL) {
        CHECK(strncmp(b.data, "tributary_sources 1000\n", 23) == 0);
        CHECK(b.len > 3000); /* filled, not emptied */
        p = strstr(b.data, "# TYPE tributary_metrics_truncated gauge\n"
                           "tributary_metrics_truncated 1\n");
        CHECK(p != NULL && p[strlen(p) - 1] == '\n' &&
              strlen(p) == strlen("# TYPE tributary_metrics_truncated gauge\n"
                                  "tributary_metrics_truncated 1\n"));
        for (p = b.data; (p = strstr(p, "tributary_source_fetches_total{")) != NULL; p++)
            lines++;
        CHECK(lines > 30 && lines < 1000);
    }
    tb_buf_free(&b);
    free_daemon(d);
}

/* daemon_db.c's reconnect backoff: 0.1 s doubling to 5 s, never 0, never
 * more than 5 s, jitter taking off at most a quarter. */
static void test_backoff(void)
{
    uint64_t ms, nominal = 0, total = 0;
    unsigned r;
    int i;

    CHECK_EQ(tb__daemon_db_backoff(&nominal, 0), 100);
    CHECK_EQ(tb__daemon_db_backoff(&nominal, 0), 200);
    nominal = 2560;
    CHECK_EQ(tb__daemon_db_backoff(&nominal, 0), 5000);
    CHECK_EQ(tb__daemon_db_backoff(&nominal, 0), 5000);
    nominal = 0;
    CHECK_EQ(tb__daemon_db_backoff(&nominal, 999), 100 - 25 * 999 / 1000);
    for (r = 0; r < 5000; r += 7) {
        uint64_t n0 = 0, n1 = 40000;
        uint64_t a = tb__daemon_db_backoff(&n0, r), b = tb__daemon_db_backoff(&n1, r);

        CHECK(a >= 75 && a <= 100);
        CHECK(b >= 3750 && b <= 5000);
    }
    /* Jittered every time, the waits still grow to the bound (the jitter
     * does not compound), and ten attempts take 12-31 s: no busy loop, no
     * endless wait. */
    nominal = 0;
    for (i = 0; i < 10; i++) {
        ms = tb__daemon_db_backoff(&nominal, 999);
        CHECK(ms > 0);
        total += ms;
    }
    CHECK(ms >= 3750);
    CHECK(total >= 12000 && total <= 31000);
}

int main(void)
{
    test_backoff();
    test_series();
    test_cap();
    CHECK_DONE();
}
