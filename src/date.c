/*
 * Feed dates: the RFC 822 family and the ISO 8601 family to seconds since
 * the epoch, and back. No mktime/TZ: civil dates go through Howard
 * Hinnant's days-from-civil so the result never depends on the machine.
 */
#include "tb_date.h"

#include <errno.h>
#include <string.h>

/* A broken-down UTC date as read, before validation. */
struct civil {
    int year, mon, day; /* year as written (two digits widened later) */
    int hour, min, sec; /* time of day */
    int zone;           /* seconds east of UTC */
};

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : mdays[m - 1];
}

/* Validates the fields and converts; TB_TIME_NONE when out of range. */
static int64_t civil_to_epoch(const struct civil *c)
{
    if (c->year < 1 || c->year > 9999 || c->mon < 1 || c->mon > 12)
        return TB_TIME_NONE;
    if (c->day < 1 || c->day > days_in_month(c->year, c->mon))
        return TB_TIME_NONE;
    if (c->hour > 23 || c->min > 59 || c->sec > 60)
        return TB_TIME_NONE;
    return days_from_civil(c->year, c->mon, c->day) * 86400 + c->hour * 3600 + c->min * 60 +
           c->sec - c->zone;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int lower(char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Reads between min and max digits; returns how many were read, 0 if fewer than min. */
static int read_num(const char **p, int min, int max, int *out)
{
    int n = 0, v = 0;

    while (n < max && is_digit((*p)[n])) {
        v = v * 10 + ((*p)[n] - '0');
        n++;
    }
    if (n < min)
        return 0;
    *p += n;
    *out = v;
    return n;
}

/* "+05", "+0530", "-05:30" -> seconds east of UTC; *p is at the sign. */
static int read_offset(const char **p, int *zone)
{
    int sign = **p == '-' ? -1 : 1, hh = 0, mm = 0;
    const char *q = *p + 1;
    int n = read_num(&q, 2, 4, &hh);

    if (n == 4) {
        mm = hh % 100;
        hh /= 100;
    } else if (n == 2 && *q == ':') {
        q++;
        if (!read_num(&q, 2, 2, &mm))
            return -1;
    } else if (n != 2) {
        return -1;
    }
    if (hh > 23 || mm > 59)
        return -1;
    *zone = sign * (hh * 3600 + mm * 60);
    *p = q;
    return 0;
}

/* "HH:MM[:SS[.fff]]"; *p is at the first digit. */
static int read_time(const char **p, struct civil *c)
{
    const char *q = *p;

    if (!read_num(&q, 1, 2, &c->hour) || *q != ':')
        return -1;
    q++;
    if (!read_num(&q, 2, 2, &c->min))
        return -1;
    if (*q == ':') {
        q++;
        if (!read_num(&q, 2, 2, &c->sec))
            return -1;
        if ((*q == '.' || *q == ',') && is_digit(q[1])) {
            q++;
            while (is_digit(*q))
                q++;
        }
    }
    *p = q;
    return 0;
}

/* RFC 3339 / ISO 8601: "2024-01-02[(T| )03:04[:05[.6]]][Z|+hh[:mm]| UTC]". */
static int64_t parse_iso(const char *p)
{
    struct civil c = {0};

    if (read_num(&p, 4, 4, &c.year) != 4 || *p++ != '-' || !read_num(&p, 1, 2, &c.mon) ||
        *p++ != '-' || !read_num(&p, 1, 2, &c.day))
        return TB_TIME_NONE;
    if ((*p == 'T' || *p == 't' || *p == ' ') && is_digit(p[1])) {
        p++;
        if (read_time(&p, &c) < 0)
            return TB_TIME_NONE;
    }
    while (*p == ' ')
        p++;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        if (read_offset(&p, &c.zone) < 0)
            return TB_TIME_NONE;
    } else if (strncmp(p, "UTC", 3) == 0 || strncmp(p, "GMT", 3) == 0) {
        p += 3;
    }
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return *p == '\0' ? civil_to_epoch(&c) : TB_TIME_NONE;
}

/* Whether word (n letters, n >= 3) is a prefix of name, case-insensitively. */
static int word_is(const char *word, size_t n, const char *name)
{
    size_t i;

    if (n < 3 || n > strlen(name))
        return 0;
    for (i = 0; i < n; i++)
        if (lower(word[i]) != name[i])
            return 0;
    return 1;
}

/* Named zones of RFC 822 (military letters as RFC 822 and feedparser read them). */
static int zone_name(const char *w, size_t n, int *zone)
{
    static const struct {
        const char *name;
        int hours;
    } zones[] = {{"ut", 0},   {"utc", 0},  {"gmt", 0},  {"z", 0},    {"est", -5}, {"edt", -4},
                 {"cst", -6}, {"cdt", -5}, {"mst", -7}, {"mdt", -6}, {"pst", -8}, {"pdt", -7}};
    char low[4] = {0};
    size_t i;

    if (n > 3)
        return 0;
    for (i = 0; i < n; i++)
        low[i] = (char)lower(w[i]);
    for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        if (strcmp(zones[i].name, low) == 0) {
            *zone = zones[i].hours * 3600;
            return 1;
        }
    }
    if (n != 1 || low[0] == 'j')
        return 0;
    if (low[0] <= 'm') /* A..I are -1..-9, K..M are -10..-12 */
        *zone = -(low[0] - 'a' + (low[0] > 'j' ? 0 : 1)) * 3600;
    else /* N..Y are +1..+12 */
        *zone = (low[0] - 'n' + 1) * 3600;
    return 1;
}

/* One alphabetic token of an RFC 822 date: weekday, month, zone or AM/PM. */
static int rfc822_word(const char *w, size_t n, struct civil *c, int *pm)
{
    static const char *const months[] = {"january",   "february", "march",    "april",
                                         "may",       "june",     "july",     "august",
                                         "september", "october",  "november", "december"};
    static const char *const days[] = {"monday", "tuesday",  "wednesday", "thursday",
                                       "friday", "saturday", "sunday"};
    int i;

    for (i = 0; i < 12; i++) {
        if (word_is(w, n, months[i])) {
            c->mon = i + 1;
            return 0;
        }
    }
    for (i = 0; i < 7; i++)
        if (word_is(w, n, days[i]))
            return 0;
    if (n == 2 && (lower(w[0]) == 'a' || lower(w[0]) == 'p') && lower(w[1]) == 'm') {
        *pm = lower(w[0]) == 'p' ? 1 : 0;
        return 0;
    }
    return zone_name(w, n, &c->zone) ? 0 : -1;
}

/* A number token: day or year depending on what is still missing. */
static int rfc822_number(const char **p, struct civil *c, int *year_digits)
{
    int v = 0, n = read_num(p, 1, 4, &v);

    if (n == 0 || is_digit(**p))
        return -1;
    if (n >= 3 || c->day != 0) {
        if (c->year != 0 || *year_digits != 0)
            return -1;
        c->year = v;
        *year_digits = n;
    } else {
        c->day = v;
    }
    return 0;
}

/* Widens a two- or three-digit year as RFC 2822 says: <50 is 20xx. */
static int widen_year(int year, int ndigits)
{
    if (ndigits == 2)
        return year < 50 ? 2000 + year : 1900 + year;
    if (ndigits == 3)
        return 1900 + year;
    return year;
}

/* Reads one token of an RFC 822 date; *p moves past it. */
static int rfc822_token(const char **p, struct civil *c, int *have_time, int *ydigits, int *pm)
{
    const char *q = *p;

    if (is_alpha(*q)) {
        while (is_alpha(*q))
            q++;
        if (rfc822_word(*p, (size_t)(q - *p), c, pm) < 0)
            return -1;
    } else if (is_digit(*q) && (q[1] == ':' || (is_digit(q[1]) && q[2] == ':'))) {
        if (*have_time || read_time(&q, c) < 0)
            return -1;
        *have_time = 1;
    } else if (is_digit(*q)) {
        if (rfc822_number(&q, c, ydigits) < 0)
            return -1;
    } else if ((*q == '+' || *q == '-') && is_digit(q[1]) && *have_time) {
        if (read_offset(&q, &c->zone) < 0)
            return -1;
    } else {
        return -1;
    }
    *p = q;
    return 0;
}

/* RFC 822 and friends: tokens in any sensible order, separators ignored. */
static int64_t parse_rfc822(const char *p)
{
    struct civil c = {0};
    int have_time = 0, ydigits = 0, pm = -1;

    while (*p) {
        if (*p == ' ' || *p == ',' || *p == '.' || *p == '\t' || *p == '\r' || *p == '\n' ||
            ((*p == '-' || *p == '/') && !(have_time && is_digit(p[1])))) {
            p++;
        } else if (*p == '(') {
            while (*p && *p != ')')
                p++;
        } else if (*p == ')') {
            p++;
        } else if (rfc822_token(&p, &c, &have_time, &ydigits, &pm) < 0) {
            return TB_TIME_NONE;
        }
    }
    if (c.day == 0 || c.mon == 0 || ydigits == 0)
        return TB_TIME_NONE;
    if (pm >= 0 && (c.hour < 1 || c.hour > 12))
        return TB_TIME_NONE;
    if (pm >= 0)
        c.hour = c.hour % 12 + (pm ? 12 : 0);
    c.year = widen_year(c.year, ydigits);
    return civil_to_epoch(&c);
}

int64_t tb_date_parse(const char *s)
{
    if (s == NULL)
        return TB_TIME_NONE;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    if (is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) && s[4] == '-')
        return parse_iso(s);
    return parse_rfc822(s);
}

int tb_date_ok(int64_t t)
{
    /* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: what xsd:dateTime and
     * a four-digit year can carry. */
    return t >= INT64_C(-62135596800) && t <= INT64_C(253402300799);
}

/* Splits t into civil fields, its days since the epoch and its second of
 * the day; false when tb_date_ok() refuses t. */
static int split(int64_t t, int64_t *y, int *m, int *d, int64_t *days, int *secs)
{
    if (!tb_date_ok(t))
        return 0;
    *days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    *secs = (int)(t - *days * 86400);
    civil_from_days(*days, y, m, d);
    return 1;
}

/* Writes v as n decimal digits, zero-padded, at p. The formatters build
 * their text by hand rather than through snprintf: publishing formats two
 * dates per entry. */
static void put_digits(char *p, int64_t v, int n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

int tb_date_format_rfc3339(int64_t t, char *buf, size_t len)
{
    int64_t y, days;
    int m, d, s;

    if (len < 21 || !split(t, &y, &m, &d, &days, &s)) {
        if (len > 0)
            buf[0] = '\0';
        return -EINVAL;
    }
    memcpy(buf, "0000-00-00T00:00:00Z", 21);
    put_digits(buf, y, 4);
    put_digits(buf + 5, m, 2);
    put_digits(buf + 8, d, 2);
    put_digits(buf + 11, s / 3600, 2);
    put_digits(buf + 14, s / 60 % 60, 2);
    put_digits(buf + 17, s % 60, 2);
    return 0;
}

int tb_date_format_rfc822(int64_t t, char *buf, size_t len)
{
    static const char wdays[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t y, days;
    int m, d, s;

    if (len < 32 || !split(t, &y, &m, &d, &days, &s)) {
        if (len > 0)
            buf[0] = '\0';
        return -EINVAL;
    }
    memcpy(buf, "Thu, 00 Jan 0000 00:00:00 +0000", 32);
    memcpy(buf, wdays[((days % 7) + 7) % 7], 3);
    put_digits(buf + 5, d, 2);
    memcpy(buf + 8, months[m - 1], 3);
    put_digits(buf + 12, y, 4);
    put_digits(buf + 17, s / 3600, 2);
    put_digits(buf + 20, s / 60 % 60, 2);
    put_digits(buf + 23, s % 60, 2);
    return 0;
}
