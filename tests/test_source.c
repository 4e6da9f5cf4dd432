/* Table tests of the scheduling policy in source.c. */
#include "tb_log.h"
#include "tb_source.h"

#include <errno.h>

#include "check.h"

#define NOW 1700000000
#define HOUR 3600

static const struct tb_source_outcome ok200 = {0, 200, 0, -1, 0};
static const struct tb_source_outcome err500 = {TB_EHTTP, 500, 0, -1, 0};
static const struct tb_source_outcome neterr = {TB_EFETCH, 0, 0, -1, 0};

/* Success: next poll within [interval, interval * 1.1], failures reset. */
static void test_jitter_bound(void)
{
    static const double rnds[] = {0.0, 0.25, 0.5, 0.999999, 1.0, -3.0, 7.0};

    for (size_t i = 0; i < sizeof(rnds) / sizeof(rnds[0]); i++) {
        struct tb_source_state st = {0};

        st.failures = 3;
        tb_source_after_fetch(&st, HOUR, NOW, &ok200, rnds[i]);
        CHECK(st.next_poll >= NOW + HOUR);
        CHECK(st.next_poll <= NOW + HOUR + HOUR / 10);
        CHECK_EQ(st.failures, 0);
        CHECK_EQ(st.last_success, NOW);
        CHECK_EQ(st.last_attempt, NOW);
        CHECK_EQ(st.last_status, 200);
    }
    {
        struct tb_source_state st = {0};

        tb_source_after_fetch(&st, HOUR, NOW, &ok200, 0.5);
        CHECK_EQ(st.next_poll, NOW + HOUR + HOUR / 20);
    }
}

/* Errors: interval * 2^failures, capped at 24 h, never below the interval. */
static void test_backoff(void)
{
    static const struct {
        int64_t interval;
        int failures_before;
        int64_t delay;
    } rows[] = {
        {HOUR, 0, 2 * HOUR},    {HOUR, 1, 4 * HOUR},  {HOUR, 2, 8 * HOUR},
        {HOUR, 3, 16 * HOUR},   {HOUR, 4, 24 * HOUR}, {HOUR, 50, 24 * HOUR},
        {HOUR, 999, 24 * HOUR}, {600, 0, 1200},       {48 * HOUR, 5, 48 * HOUR},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tb_source_state st = {0};

        st.failures = rows[i].failures_before;
        st.last_success = 42;
        tb_source_after_fetch(&st, rows[i].interval, NOW, i % 2 ? &neterr : &err500, 0.0);
        CHECK_EQ(st.next_poll, NOW + rows[i].delay);
        CHECK_EQ(st.failures, rows[i].failures_before + 1);
        CHECK_EQ(st.last_success, 42);
        CHECK_EQ(st.gone, 0);
    }
}

/* Backoff grows over consecutive failures, then a success resets it. */
static void test_success_resets(void)
{
    struct tb_source_state st = {0};
    int64_t prev = 0;

    for (int i = 0; i < 4; i++) {
        tb_source_after_fetch(&st, HOUR, NOW, &neterr, 0.0);
        CHECK(st.next_poll - NOW > prev);
        prev = st.next_poll - NOW;
    }
    CHECK_EQ(st.failures, 4);
    tb_source_after_fetch(&st, HOUR, NOW, &ok200, 0.0);
    CHECK_EQ(st.failures, 0);
    CHECK_EQ(st.next_poll, NOW + HOUR);
    tb_source_after_fetch(&st, HOUR, NOW, &neterr, 0.0);
    CHECK_EQ(st.next_poll, NOW + 2 * HOUR);
}

/* max-age and ttl may lengthen the interval, never shorten it; capped. */
static void test_stretch(void)
{
    static const struct {
        int64_t max_age;
        int ttl;
        int64_t delay;
    } rows[] = {
        {-1, 0, HOUR},
        {60, 0, HOUR},
        {0, 0, HOUR},
        {2 * HOUR, 0, 2 * HOUR},
        {-1, 5, HOUR},
        {-1, 180, 3 * HOUR},
        {2 * HOUR, 180, 3 * HOUR},
        {365 * 86400, 0, 24 * HOUR},
        {-1, 1000000, 24 * HOUR},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tb_source_state st = {0};
        struct tb_source_outcome o = {0, 200, 0, rows[i].max_age, rows[i].ttl};

        tb_source_after_fetch(&st, HOUR, NOW, &o, 0.0);
        CHECK_EQ(st.next_poll, NOW + rows[i].delay);
    }
    {
        /* A configured interval beyond the stretch cap stays as it is. */
        struct tb_source_state st = {0};
        struct tb_source_outcome o = {0, 304, 0, 60, 0};

        tb_source_after_fetch(&st, 48 * HOUR, NOW, &o, 0.0);
        CHECK_EQ(st.next_poll, NOW + 48 * HOUR);
        CHECK_EQ(st.last_status, 304);
    }
}

/* 429/503 with Retry-After: not before it, capped at 7 days; other codes ignore it. */
static void test_retry_after(void)
{
    static const struct {
        long status;
        int64_t retry_after;
        int64_t next;
    } rows[] = {
        {429, NOW + 5 * HOUR, NOW + 5 * HOUR},
        {503, NOW + 5 * HOUR, NOW + 5 * HOUR},
        {429, NOW + 60, NOW + 2 * HOUR},          /* backoff is already later */
        {429, NOW + 30 * 86400, NOW + 7 * 86400}, /* capped */
        {429, NOW - 100, NOW + 2 * HOUR},         /* in the past */
        {500, NOW + 5 * HOUR, NOW + 2 * HOUR},    /* only 429 and 503 */
        {429, 0, NOW + 2 * HOUR},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tb_source_state st = {0};
        struct tb_source_outcome o = {TB_EHTTP, rows[i].status, rows[i].retry_after, -1, 0};

        tb_source_after_fetch(&st, HOUR, NOW, &o, 0.0);
        CHECK_EQ(st.next_poll, rows[i].next);
        CHECK_EQ(st.failures, 1);
    }
}

static void test_gone_and_cancel(void)
{
    struct tb_source_state st = {0};
    struct tb_source_outcome gone = {TB_EHTTP, 410, 0, -1, 0};
    struct tb_source_outcome cancelled = {-ECANCELED, 0, 0, -1, 0};
    struct tb_source_state before;

    tb_source_after_fetch(&st, HOUR, NOW, &neterr, 0.0);
    CHECK_EQ(st.gone, 0);
    before = st;
    tb_source_after_fetch(&st, HOUR, NOW + 5, &cancelled, 0.3);
    CHECK_EQ(st.next_poll, before.next_poll);
    CHECK_EQ(st.last_attempt, before.last_attempt);
    CHECK_EQ(st.failures, before.failures);
    tb_source_after_fetch(&st, HOUR, NOW, &gone, 0.0);
    CHECK_EQ(st.gone, 1);
    CHECK_EQ(st.last_status, 410);
}

/* Extreme intervals must not overflow. */
static void test_extremes(void)
{
    struct tb_source_state st = {0};

    tb_source_after_fetch(&st, INT64_MAX, NOW, &neterr, 0.9);
    CHECK(st.next_poll > NOW);
    tb_source_after_fetch(&st, 0, NOW, &ok200, 0.9);
    CHECK_EQ(st.next_poll, NOW + 1);
}

static void test_first_poll(void)
{
    CHECK_EQ(tb_source_first_poll(HOUR, NOW, 5000, 0.0), NOW);
    CHECK_EQ(tb_source_first_poll(HOUR, NOW, 5000, 0.5), NOW + 300);
    CHECK(tb_source_first_poll(HOUR, NOW, 5000, 0.999999) < NOW + 600);
    CHECK_EQ(tb_source_first_poll(120, NOW, 5000, 0.5), NOW + 60);
    CHECK(tb_source_first_poll(HOUR, NOW, 5000, 5.0) < NOW + 600);
    CHECK_EQ(tb_source_first_poll(HOUR, NOW, 5000, -1.0), NOW);
    /* A handful of sources start within seconds, not minutes. */
    CHECK_EQ(tb_source_first_poll(HOUR, NOW, 11, 0.5), NOW + 5);
    CHECK(tb_source_first_poll(HOUR, NOW, 11, 0.999999) < NOW + 11);
    CHECK_EQ(tb_source_first_poll(HOUR, NOW, 0, 0.7), NOW);
    /* The spread really spreads: 100 evenly drawn values give many slots. */
    {
        int64_t lo = INT64_MAX, hi = 0;

        for (int i = 0; i < 100; i++) {
            int64_t t = tb_source_first_poll(HOUR, NOW, 5000, i / 100.0);
            lo = t < lo ? t : lo;
            hi = t > hi ? t : hi;
        }
        CHECK(hi - lo >= 590);
    }
}

int main(void)
{
    test_jitter_bound();
    test_backoff();
    test_success_resets();
    test_stretch();
    test_retry_after();
    test_gone_and_cancel();
    test_extremes();
    test_first_poll();
    CHECK_DONE();
}
