/*
 * utf8.c: the bulk UTF-8 operations of tb_utf8.h; the per-character ones are
 * inline in the header.
 */
#include <errno.h>

#include "scan_int.h"
#include "tb_utf8.h"

/* windows-1252 0x80..0x9F; 0 marks the five undefined bytes. */
static const uint16_t cp1252[32] = {0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
                                    0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

int tb_utf8_valid(const char *s, size_t n)
{
    size_t i = 0, k;

    while (i < n) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        k = tb_utf8_len(s + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

int tb_utf8_xml_clean(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k;
    uint32_t cp = 0;

    while (i < n) {
        i += tb__scan_plain(s + i, n - i, TB__SCAN_C0 | TB__SCAN_HIGH, NULL, 0);
        /* The tail shorter than a block: as the last block, overlapping. */
        if (i < n && n >= TB__SCAN_STEP && n - i < TB__SCAN_STEP &&
            !tb__scan_block(s + n - TB__SCAN_STEP, TB__SCAN_C0 | TB__SCAN_HIGH, NULL, 0))
            break;
        while (i < n && u[i] >= 0x20 && u[i] < 0x80)
            i++;
        if (i >= n)
            break;
        k = tb_utf8_decode(s + i, n - i, &cp);
        if (k == 0 || !tb_utf8_xml_char(cp))
            return 0;
        i += k;
    }
    return 1;
}

int tb_utf8_put(struct tb_buf *b, uint32_t cp)
{
    char u[4];
    size_t n = tb_utf8_encode(u, cp);

    return n ? tb_buf_add(b, u, n) : -EINVAL;
}

/* What replaces the invalid byte c under `flags`; 0 for nothing. */
static uint32_t replacement(unsigned char c, unsigned flags)
{
    if (c == 0)
        return 0; /* a NUL is valid, so only TB_UTF8_NONUL gets here with one */
    if ((flags & TB_UTF8_CP1252) && c >= 0xa0)
        return c;
    if ((flags & TB_UTF8_CP1252) && c >= 0x80)
        return cp1252[c - 0x80];
    if (flags & TB_UTF8_CP1252)
        return 0; /* a control XML refuses: no windows-1252 reading helps */
    return (flags & TB_UTF8_FFFD) ? 0xfffd : 0;
}

/* Whether the byte or character at s (k bytes, 0 when invalid) is kept as is. */
static int keep(const char *s, size_t k, unsigned flags)
{
    uint32_t cp = 0;

    if (k == 0)
        return 0;
    if (k == 1 && s[0] == '\0')
        return !(flags & (TB_UTF8_NONUL | TB_UTF8_XML));
    if (!(flags & TB_UTF8_XML))
        return 1;
    (void)tb_utf8_decode(s, k, &cp);
    return tb_utf8_xml_char(cp);
}

int tb_utf8_clean(struct tb_buf *b, const char *s, size_t n, unsigned flags)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0, k;
    uint32_t r;
    int rc = 0;

    while (i < n && rc == 0) {
        if (u[i] >= 0x20 && u[i] < 0x80) { /* the common case, inline */
            i++;
            continue;
        }
        k = tb_utf8_len(s + i, n - i);
        if (keep(s + i, k, flags)) {
            i += k;
            continue;
        }
        rc = tb_buf_add(b, s + run, i - run);
        /* A well-formed character XML refuses is dropped whole. */
        r = k > 0 ? 0 : replacement(u[i], flags);
        if (rc == 0 && r != 0)
            rc = tb_utf8_put(b, r);
        i += k > 0 ? k : 1;
        run = i;
    }
    if (rc == 0)
        rc = tb_buf_add(b, s + run, n - run);
    return rc;
}

size_t tb_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && tb_utf8_is_cont((unsigned char)s[max]))
        max--;
    return max;
}
