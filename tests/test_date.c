/* tb_date: a table of feed dates seen in the wild, good and bad, and the formatters. */
#include "tb_date.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "check.h"

struct date_case {
    const char *in;
    int64_t want;
};

static const struct date_case cases[] = {
    {"Tue, 02 Jan 2024 03:04:05 +0000", 1704164645LL},
    {"Tue, 02 Jan 2024 03:04:05 GMT", 1704164645LL},
    {"Tue, 02 Jan 2024 03:04:05 UT", 1704164645LL},
    {"Tue, 02 Jan 2024 03:04:05 Z", 1704164645LL},
    {"02 Jan 2024 03:04:05 +0200", 1704157445LL},
    {"Tue, 2 Jan 2024 03:04 -0500", 1704182640LL},
    {"Tue, 02 Jan 2024 03:04:05 -05:00", 1704182645LL},
    {"Tue, 02 Jan 2024 03:04:05 EST", 1704182645LL},
    {"Tue, 02 Jan 2024 03:04:05 EDT", 1704179045LL},
    {"Tue, 02 Jan 2024 03:04:05 CST", 1704186245LL},
    {"Tue, 02 Jan 2024 03:04:05 CDT", 1704182645LL},
    {"Tue, 02 Jan 2024 03:04:05 MST", 1704189845LL},
    {"Tue, 02 Jan 2024 03:04:05 MDT", 1704186245LL},
    {"Tue, 02 Jan 2024 03:04:05 PST", 1704193445LL},
    {"Tue, 02 Jan 2024 03:04:05 PDT", 1704189845LL},
    {"Tue, 02 Jan 2024 03:04:05 A", 1704168245LL},
    {"Tue, 02 Jan 2024 03:04:05 M", 1704207845LL},
    {"Tue, 02 Jan 2024 03:04:05 N", 1704161045LL},
    {"Tue, 02 Jan 2024 03:04:05 Y", 1704121445LL},
    {"Tue, 02 Jan 24 03:04:05 GMT", 1704164645LL},
    {"Sat, 02 Jan 99 03:04:05 GMT", 915246245LL},
    {"Wed, 02 Jan 49 03:04:05 GMT", 2493169445LL},
    {"Sat, 02 Jan 50 03:04:05 GMT", -631054555LL},
    {"Tuesday, 02 January 2024 03:04:05 GMT", 1704164645LL},
    {"tue, 02 jan 2024 03:04:05 gmt", 1704164645LL},
    {"Tue,  02  Jan  2024  03:04:05  GMT ", 1704164645LL},
    {"Tue,, 02 Jan, 2024, 03:04:05 GMT", 1704164645LL},
    {"Mon, 16 Sept 2024 10:00:00 GMT", 1726480800LL},
    {"02 Jan 2024", 1704153600LL},
    {"Tue Jan 02 03:04:05 2024", 1704164645LL},
    {"Tue, 02 Jan 2024 03:04:05 GMT+0200", 1704157445LL},
    {"Tue, 02 Jan 2024 03:04:05 +0000 (UTC)", 1704164645LL},
    {"Thu, 29 Feb 2024 23:59:59 +0000", 1709251199LL},
    {"2024-01-02T03:04:05Z", 1704164645LL},
    {"2024-01-02T03:04:05+02:00", 1704157445LL},
    {"2024-01-02T03:04:05-0530", 1704184445LL},
    {"2024-01-02T03:04:05.123456Z", 1704164645LL},
    {"2024-01-02 03:04:05Z", 1704164645LL},
    {"2024-01-02t03:04:05z", 1704164645LL},
    {"2024-01-02T03:04Z", 1704164640LL},
    {"2024-01-02T03:04:05", 1704164645LL},
    {"2024-01-02", 1704153600LL},
    {"  2024-01-02T03:04:05Z\n", 1704164645LL},
    {"2024-01-02 03:04:05 UTC", 1704164645LL},
    {"1969-12-31T23:59:59Z", -1LL},
    {"1970-01-01T00:00:00Z", 0LL},
    {"2024-01-02T03:04:05+00", 1704164645LL},
    {"", TB_TIME_NONE},
    {"   ", TB_TIME_NONE},
    {"yesterday", TB_TIME_NONE},
    {"not a date at all", TB_TIME_NONE},
    {"2024-13-02T00:00:00Z", TB_TIME_NONE},
    {"2024-02-30", TB_TIME_NONE},
    {"2023-02-29", TB_TIME_NONE},
    {"2024-01-02T25:00:00Z", TB_TIME_NONE},
    {"2024-01-02T03:04:05+99:00", TB_TIME_NONE},
    {"Tue, 32 Jan 2024 03:04:05 GMT", TB_TIME_NONE},
    {"Tue, 02 Foo 2024 03:04:05 GMT", TB_TIME_NONE},
    {"Tue, 02 Jan 2024 03:04:05 XYZ", TB_TIME_NONE},
    {"2024-01-02T03:04:05Z trailing", TB_TIME_NONE},
    {"02 Jan", TB_TIME_NONE},
    {"Jan 2024", TB_TIME_NONE},
    {"12:00:00", TB_TIME_NONE},
    {"0", TB_TIME_NONE},
    {"Tue, 02 Jan 2024 03:04:05 +0000 extra 7", TB_TIME_NONE},
    {"2024", TB_TIME_NONE},
};

static void test_table(void)
{
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = tb_date_parse(cases[i].in);

        if (got != cases[i].want)
            fprintf(stderr, "date \"%s\": got %lld want %lld\n", cases[i].in, (long long)got,
                    (long long)cases[i].want);
        CHECK_EQ(got, cases[i].want);
    }
    CHECK_EQ(tb_date_parse(NULL), TB_TIME_NONE);
}

static void test_format(void)
{
    char buf[64];

    CHECK_OK(tb_date_format_rfc3339(1704164645, buf, sizeof(buf)));
    CHECK_STR(buf, "2024-01-02T03:04:05Z");
    CHECK_OK(tb_date_format_rfc822(1704164645, buf, sizeof(buf)));
    CHECK_STR(buf, "Tue, 02 Jan 2024 03:04:05 +0000");
    CHECK_OK(tb_date_format_rfc3339(-1, buf, sizeof(buf)));
    CHECK_STR(buf, "1969-12-31T23:59:59Z");
    CHECK_OK(tb_date_format_rfc822(-1, buf, sizeof(buf)));
    CHECK_STR(buf, "Wed, 31 Dec 1969 23:59:59 +0000");
    CHECK_OK(tb_date_format_rfc822(951782400, buf, sizeof(buf)));
    CHECK_STR(buf, "Tue, 29 Feb 2000 00:00:00 +0000");
    CHECK_EQ(tb_date_format_rfc3339(TB_TIME_NONE, buf, sizeof(buf)), -EINVAL);
    CHECK_STR(buf, "");
    /* Round trips through both formats. */
    CHECK_OK(tb_date_format_rfc822(1234567890, buf, sizeof(buf)));
    CHECK_EQ(tb_date_parse(buf), 1234567890);
    CHECK_OK(tb_date_format_rfc3339(4102444799LL, buf, sizeof(buf)));
    CHECK_EQ(tb_date_parse(buf), 4102444799LL);
}

/* Both formatters agree with gmtime_r (and the C locale's English names) on
 * edges, leap days and a spread of values over years 1..9999, and refuse what
 * lies outside. */
static void test_format_gmtime(void)
{
    static const int64_t edges[] = {0,
                                    -1,
                                    1,
                                    86399,
                                    86400,
                                    -86400,
                                    -86401,
                                    951782400,
                                    951868800,
                                    4107542400,
                                    -2208988800,
                                    -12219292800,
                                    INT64_C(-62135596800),
                                    INT64_C(253402300799)};
    uint64_t x = 88172645463325252u;
    char got[32], want[80], got822[40], want822[80];
    static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    time_t tt;
    int64_t t;

    for (int i = 0; i < 200014; i++) {
        if (i < (int)(sizeof(edges) / sizeof(edges[0]))) {
            t = edges[i];
        } else {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            t = INT64_C(-62135596800) + (int64_t)(x % UINT64_C(315537897600));
        }
        tt = (time_t)t;
        CHECK(gmtime_r(&tt, &tm) != NULL);
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        snprintf(want822, sizeof(want822), "%s, %02d %s %04d %02d:%02d:%02d +0000",
                 wdays[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        CHECK_OK(tb_date_format_rfc3339(t, got, sizeof(got)));
        CHECK_OK(tb_date_format_rfc822(t, got822, sizeof(got822)));
        if (strcmp(got, want) != 0 || strcmp(got822, want822) != 0) {
            CHECK_STR(got, want);
            CHECK_STR(got822, want822);
            break;
        }
    }
    CHECK_EQ(tb_date_format_rfc3339(INT64_C(-62135596801), got, sizeof(got)), -EINVAL);
    CHECK_STR(got, "");
    CHECK_EQ(tb_date_format_rfc3339(INT64_C(253402300800), got, sizeof(got)), -EINVAL);
    CHECK_EQ(tb_date_format_rfc3339(TB_TIME_NONE, got, sizeof(got)), -EINVAL);
    CHECK_EQ(tb_date_format_rfc3339(INT64_MAX, got, sizeof(got)), -EINVAL);
    CHECK_EQ(tb_date_format_rfc3339(INT64_MIN, got, sizeof(got)), -EINVAL);
    CHECK_EQ(tb_date_format_rfc822(INT64_C(253402300800), got822, sizeof(got822)), -EINVAL);
    CHECK_STR(got822, "");
    /* Too small a buffer: refused, left empty, never cut. */
    CHECK_EQ(tb_date_format_rfc3339(0, got, 20), -EINVAL);
    CHECK_STR(got, "");
    CHECK_OK(tb_date_format_rfc3339(0, got, 21));
    CHECK_STR(got, "1970-01-01T00:00:00Z");
    CHECK_EQ(tb_date_format_rfc822(0, got822, 31), -EINVAL);
    CHECK_STR(got822, "");
    CHECK_OK(tb_date_format_rfc822(0, got822, 32));
    CHECK_STR(got822, "Thu, 01 Jan 1970 00:00:00 +0000");
    CHECK_EQ(tb_date_format_rfc3339(0, got, 0), -EINVAL);
    CHECK(!tb_date_ok(TB_TIME_NONE) && tb_date_ok(0));
    CHECK(tb_date_ok(INT64_C(-62135596800)) && tb_date_ok(INT64_C(253402300799)));
}

int main(void)
{
    test_table();
    test_format();
    test_format_gmtime();
    CHECK_DONE();
}
