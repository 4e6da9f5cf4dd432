/*
 * tb_utf8.h: UTF-8 validation, decoding, encoding, cleaning and cutting
 * (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF), the
 * one copy every module uses. The per-character calls are inline: parse and
 * publish run them on every non-ASCII byte of every document.
 */
#ifndef TB_UTF8_H
#define TB_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "tb_buf.h"

/** tb_utf8_clean(): drop the characters XML 1.0 cannot hold (C0 controls but
 * tab, LF and CR; U+FFFE, U+FFFF), whole, even when well-formed. */
#define TB_UTF8_XML 1u
/** tb_utf8_clean(): write U+FFFD for each invalid byte (else it is dropped). */
#define TB_UTF8_FFFD 2u
/** tb_utf8_clean(): read each invalid byte as windows-1252 (as browsers read
 * latin1); its five undefined bytes are dropped. Wins over TB_UTF8_FFFD. */
#define TB_UTF8_CP1252 4u
/** tb_utf8_clean(): drop NUL bytes. */
#define TB_UTF8_NONUL 8u

/** Whether byte c continues a multi-byte sequence (10xxxxxx). */
static inline int tb_utf8_is_cont(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}

/**
 * Length (1 to 4) of the well-formed sequence at s, of which n > 0 bytes are
 * readable; 0 when it is invalid, overlong, a surrogate, past U+10FFFF or cut
 * short. Bytes are read in order and reading stops at the first one that does
 * not fit, so a NUL-terminated string may pass n = 4 whatever its length.
 */
static inline size_t tb_utf8_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t need, i;
    unsigned lo = 0x80, hi = 0xbf;

    if (p[0] < 0x80)
        return 1;
    if (p[0] < 0xc2 || p[0] > 0xf4)
        return 0;
    need = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
    if (n < need)
        return 0;
    if (p[0] == 0xe0)
        lo = 0xa0; /* overlong */
    else if (p[0] == 0xed)
        hi = 0x9f; /* surrogates */
    else if (p[0] == 0xf0)
        lo = 0x90; /* overlong */
    else if (p[0] == 0xf4)
        hi = 0x8f; /* above U+10FFFF */
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < need; i++)
        if (!tb_utf8_is_cont(p[i]))
            return 0;
    return need;
}

/**
 * Decodes the sequence at s (n > 0 bytes readable, as tb_utf8_len()): returns
 * its length and stores its code point in *cp, or returns 0 (*cp untouched).
 */
static inline size_t tb_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = tb_utf8_len(s, n), i;
    uint32_t c;

    if (len <= 1) {
        if (len == 1)
            *cp = p[0];
        return len;
    }
    c = p[0] & (0x7fu >> len); /* the payload bits of the lead byte */
    for (i = 1; i < len; i++)
        c = (c << 6) | (p[i] & 0x3fu);
    *cp = c;
    return len;
}

/**
 * Writes code point cp as UTF-8 into out; returns its length (1 to 4), or 0
 * (nothing written) for a surrogate or a value past U+10FFFF.
 */
static inline size_t tb_utf8_encode(char out[4], uint32_t cp)
{
    size_t len, i;

    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    len = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (i = len - 1; i > 0; i--, cp >>= 6)
        out[i] = (char)(0x80 | (cp & 0x3f));
    out[0] = (char)((0xf00u >> len) | cp);
    return len;
}

/** Whether XML 1.0 can hold code point c (its Char production). */
static inline int tb_utf8_xml_char(uint32_t c)
{
    if (c < 0x20)
        return c == '\t' || c == '\n' || c == '\r';
    return c != 0xfffe && c != 0xffff && c <= 0x10ffff && !(c >= 0xd800 && c <= 0xdfff);
}

/** Whether the n bytes at s are all well-formed UTF-8 (NUL bytes count as valid). */
int tb_utf8_valid(const char *s, size_t n);

/**
 * Whether the n bytes at s are well-formed UTF-8 holding only characters XML
 * 1.0 allows, that is whether tb_utf8_clean(..., TB_UTF8_XML) would copy them
 * unchanged. Printable ASCII is skipped a block at a time.
 */
int tb_utf8_xml_clean(const char *s, size_t n);

/**
 * Appends code point cp as UTF-8. Returns 0, -EINVAL for a surrogate or a
 * value past U+10FFFF (nothing appended), or a tb_buf_add() error.
 */
TB_NODISCARD int tb_utf8_put(struct tb_buf *b, uint32_t cp);

/**
 * Appends the n bytes at s to b as well-formed UTF-8: each invalid byte is
 * dropped, or replaced as `flags` (TB_UTF8_*) say. Returns 0 or a tb_buf_add()
 * error (the buffer is then freed).
 */
TB_NODISCARD int tb_utf8_clean(struct tb_buf *b, const char *s, size_t n, unsigned flags);

/**
 * The length of the longest prefix of s[0..n) of at most max bytes that does
 * not end inside a character: n when n <= max.
 */
size_t tb_utf8_cut(const char *s, size_t n, size_t max);

#endif
