/*
 * Helpers shared by the fuzz targets: invariant checks that abort (so that
 * libFuzzer and the replay driver both report the input), NUL-terminated
 * copies of the input, and a strict UTF-8 validator.
 */
#ifndef TB_FUZZ_H
#define TB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Aborts with file:line and the failed condition when cond is false. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/** The libFuzzer entry point every target defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** A malloc'd NUL-terminated copy of the input (cut at an embedded NUL by C string users). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    FUZZ_ASSERT(s != NULL);
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/** 1 when the n bytes at s are valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static inline int fuzz_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        size_t need = p[i] < 0x80 ? 1 : p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : 2;
        unsigned lo = 0x80, hi = 0xbf;

        if (need == 1) {
            i++;
            continue;
        }
        if (p[i] < 0xc2 || p[i] > 0xf4 || n - i < need)
            return 0;
        if (p[i] == 0xe0)
            lo = 0xa0;
        else if (p[i] == 0xed)
            hi = 0x9f;
        else if (p[i] == 0xf0)
            lo = 0x90;
        else if (p[i] == 0xf4)
            hi = 0x8f;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return 0;
        for (size_t k = 2; k < need; k++) {
            if (p[i + k] < 0x80 || p[i + k] > 0xbf)
                return 0;
        }
        i += need;
    }
    return 1;
}

/** As fuzz_utf8_valid() for a NUL-terminated string; NULL counts as valid. */
static inline int fuzz_str_valid(const char *s)
{
    return s == NULL || fuzz_utf8_valid(s, strlen(s));
}

#endif
