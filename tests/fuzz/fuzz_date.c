/*
 * Fuzz target: tb_date_parse on the input as a string, and the formatters on
 * the first 8 bytes read as a time. Invariants: a parsed time formats (when
 * in years 1..9999) and parses back to itself in both RFC 3339 and RFC 822,
 * and both formatters agree with tb_date_ok.
 */
#include "fuzz.h"
#include "tb_date.h"

/* Formats t both ways; when representable, each parses back to t. */
static void round_trip(int64_t t)
{
    char a[32], b[40];
    int rc = tb_date_format_rfc3339(t, a, sizeof(a));

    FUZZ_ASSERT(tb_date_format_rfc822(t, b, sizeof(b)) == rc);
    FUZZ_ASSERT((rc == 0) == tb_date_ok(t));
    FUZZ_ASSERT((a[0] == '\0') == (b[0] == '\0'));
    FUZZ_ASSERT((rc == 0) == (a[0] != '\0'));
    if (a[0] == '\0')
        return;
    FUZZ_ASSERT(strlen(a) == 20 && strlen(b) == 31);
    if (tb_date_parse(a) != t || tb_date_parse(b) != t)
        fprintf(stderr, "round trip of %lld: \"%s\" \"%s\"\n", (long long)t, a, b);
    FUZZ_ASSERT(tb_date_parse(a) == t);
    FUZZ_ASSERT(tb_date_parse(b) == t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    int64_t t = tb_date_parse(s);

    /* Parsed dates lie in years 1..9999 give or take a zone offset. */
    FUZZ_ASSERT(t == TB_TIME_NONE || (t >= -62135596800LL - 86400 && t <= 253402300799LL + 86400));
    if (t != TB_TIME_NONE)
        round_trip(t);
    free(s);
    if (size >= sizeof(t)) {
        memcpy(&t, data, sizeof(t));
        round_trip(t);
    }
    return 0;
}
