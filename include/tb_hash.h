/*
 * tb_hash.h: FNV-1a, the one string hash of the lookup tables outside the
 * dedupe (config sources, fetcher hosts) and of the server's ETags.
 */
#ifndef TB_HASH_H
#define TB_HASH_H

#include <stddef.h>
#include <stdint.h>

/** The 64-bit FNV-1a hash of the n bytes at p. */
static inline uint64_t tb_fnv1a(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

#endif
