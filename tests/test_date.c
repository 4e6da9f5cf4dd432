/* tb_date: a table of feed dates seen in the wild, good and bad, and the formatters. */
#include "tb_date.h"

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

    tb_date_format_rfc3339(1704164645, buf, sizeof(buf));
    CHECK_STR(buf, "2024-01-02T03:04:05Z");
    tb_date_format_rfc822(1704164645, buf, sizeof(buf));
    CHECK_STR(buf, "Tue, 02 Jan 2024 03:04:05 +0000");
    tb_date_format_rfc3339(-1, buf, sizeof(buf));
    CHECK_STR(buf, "1969-12-31T23:59:59Z");
    tb_date_format_rfc822(-1, buf, sizeof(buf));
    CHECK_STR(buf, "Wed, 31 Dec 1969 23:59:59 +0000");
    tb_date_format_rfc822(951782400, buf, sizeof(buf));
    CHECK_STR(buf, "Tue, 29 Feb 2000 00:00:00 +0000");
    tb_date_format_rfc3339(TB_TIME_NONE, buf, sizeof(buf));
    CHECK_STR(buf, "");
    /* Round trips through both formats. */
    tb_date_format_rfc822(1234567890, buf, sizeof(buf));
    CHECK_EQ(tb_date_parse(buf), 1234567890);
    tb_date_format_rfc3339(4102444799LL, buf, sizeof(buf));
    CHECK_EQ(tb_date_parse(buf), 4102444799LL);
}

int main(void)
{
    test_table();
    test_format();
    CHECK_DONE();
}
