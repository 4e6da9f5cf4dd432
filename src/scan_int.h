/*
 * scan_int.h: the block scan shared by the text paths that look at every
 * byte (parse's cleanliness check, the sanitizer's and the Atom writer's
 * escaping): how far a text runs before a byte of interest, 16 bytes at a
 * time with SSE2 (x86-64's baseline), else 8 at a time in a word.
 */
#ifndef TB_SCAN_INT_H
#define TB_SCAN_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/** Stop at bytes below 0x20. */
#define TB__SCAN_C0 1
/** Stop at bytes of 0x80 and above. */
#define TB__SCAN_HIGH 2

/** Bytes looked at together by tb__scan_plain(). */
#if defined(__SSE2__)
#define TB__SCAN_STEP 16
#else
#define TB__SCAN_STEP 8
#endif

#if !defined(__SSE2__)
/** Whether one of the 8 bytes of v is c. */
static inline int tb__word_has(uint64_t v, unsigned char c)
{
    const uint64_t ones = UINT64_C(0x0101010101010101);

    v ^= ones * c;
    return ((v - ones) & ~v & (ones * 0x80)) != 0;
}
#endif

/** Whether the TB__SCAN_STEP bytes at p hold one to stop at (see tb__scan_plain()). */
static inline int tb__scan_block(const char *p, int flags, const char *stop, size_t nstop)
{
    size_t i;
#if defined(__SSE2__)
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i hit = _mm_setzero_si128();

    if (flags & TB__SCAN_C0) /* unsigned v <= 0x1f */
        hit = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
    for (i = 0; i < nstop; i++)
        hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_set1_epi8(stop[i])));
    if (flags & TB__SCAN_HIGH)
        hit = _mm_or_si128(hit, v);
    return _mm_movemask_epi8(hit) != 0;
#else
    const uint64_t ones = UINT64_C(0x0101010101010101), high = ones * 0x80;
    uint64_t v;
    int hit = 0;

    memcpy(&v, p, sizeof(v));
    if (flags & TB__SCAN_C0)
        hit |= ((v - ones * 0x20) & ~v & high) != 0;
    if (flags & TB__SCAN_HIGH)
        hit |= (v & high) != 0;
    for (i = 0; i < nstop; i++)
        hit |= tb__word_has(v, (unsigned char)stop[i]);
    return hit;
#endif
}

/**
 * The length of the longest prefix of s[0..n) made of whole blocks of
 * TB__SCAN_STEP bytes holding no byte to stop at: below 0x20 (flags has
 * TB__SCAN_C0), 0x80 and above (TB__SCAN_HIGH), or one of the nstop bytes
 * of stop. The caller looks at what follows byte by byte.
 */
static inline size_t tb__scan_plain(const char *s, size_t n, int flags, const char *stop,
                                    size_t nstop)
{
    size_t i = 0;

    while (n - i >= TB__SCAN_STEP && !tb__scan_block(s + i, flags, stop, nstop))
        i += TB__SCAN_STEP;
    return i;
}

#endif
