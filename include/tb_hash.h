/*
 * tb_hash.h: the hashes. FNV-1a for the server's ETags; a seeded FNV-1a,
 * the one string hash of every lookup table (tb_map, the dedupe's, the
 * trending walk's); SHA-256 and HMAC-SHA256 through OpenSSL (src/hash.c),
 * for content keys, change digests and tag ids; HMAC with SHA-1/256/384/512
 * for WebSub's X-Hub-Signature.
 */
#ifndef TB_HASH_H
#define TB_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "tb_log.h"

/** Bytes of a SHA-256 digest. */
#define TB_SHA256_LEN 32

/** Room for a SHA-256 digest in hex and its NUL. */
#define TB_SHA256_HEX (2 * TB_SHA256_LEN + 1)

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

/**
 * A hash seed from the kernel's random source (getrandom(2)), else from the
 * clock and an address. Tables whose keys come from feeds take one each, so
 * that crafted keys cannot know where they land.
 */
uint64_t tb_hash_seed(void);

/** FNV-1a of the n bytes at p started from `seed`, its high bits folded into the low ones. */
static inline uint64_t tb_hash_seeded(uint64_t seed, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = seed ^ 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

/**
 * An incremental SHA-256 whose context is reused from one digest to the
 * next. Zero it ({0}) before the first tb_sha256_init(); free it with
 * tb_sha256_free(). Errors are sticky: the updates return nothing and
 * tb_sha256_final() reports the first one. Not shared between threads.
 */
struct tb_sha256 {
    void *ctx; /* the OpenSSL EVP_MD_CTX, allocated by the first init */
    int rc;    /* 0, or the first error since tb_sha256_init() */
};

/** Starts a digest (allocating the context the first time). Returns 0 or -ENOMEM. */
TB_NODISCARD int tb_sha256_init(struct tb_sha256 *h);

/** Adds the n bytes at p. */
void tb_sha256_update(struct tb_sha256 *h, const void *p, size_t n);

/**
 * Adds s length-prefixed (a 64-bit strlen + 1, in host order, then its bytes;
 * 0 alone for NULL), so that ("ab", "c") differs from ("a", "bc") and NULL
 * from "".
 */
void tb_sha256_add_str(struct tb_sha256 *h, const char *s);

/** Ends the digest into out. Returns 0, or the first error (out undefined). */
TB_NODISCARD int tb_sha256_final(struct tb_sha256 *h, unsigned char out[TB_SHA256_LEN]);

/** Frees the context; h is zeroed, ready for tb_sha256_init() again. */
void tb_sha256_free(struct tb_sha256 *h);

/** The SHA-256 of the n bytes at p into out. Returns 0 or -ENOMEM. */
TB_NODISCARD int tb_sha256(const void *p, size_t n, unsigned char out[TB_SHA256_LEN]);

/** The SHA-256 of the n bytes at p as lower-case hex into out. Returns 0 or -ENOMEM. */
TB_NODISCARD int tb_sha256_hex(const void *p, size_t n, char out[TB_SHA256_HEX]);

/**
 * HMAC-SHA256 (RFC 2104) of the n bytes at p under the keylen-byte key into
 * out. Returns 0 or -ENOMEM.
 */
TB_NODISCARD int tb_hmac_sha256(const void *key, size_t keylen, const void *p, size_t n,
                                unsigned char out[TB_SHA256_LEN]);

/** Most bytes of a digest tb_hmac() makes (SHA-512). */
#define TB_HMAC_MAX 64

/**
 * HMAC (RFC 2104) of the n bytes at p under the keylen-byte key with hash
 * `alg` ("sha1", "sha256", "sha384" or "sha512", lower case) into out;
 * *outlen is its length. Returns 0, -EINVAL for another alg, or -ENOMEM.
 */
TB_NODISCARD int tb_hmac(const char *alg, const void *key, size_t keylen, const void *p, size_t n,
                         unsigned char out[TB_HMAC_MAX], size_t *outlen);

/** Whether a[0..n) and b[0..n) are equal, in time that does not depend on where they differ (MACs).
 */
int tb_hash_equal(const void *a, const void *b, size_t n);

/** The value of hex digit c (either case), or -1: the inverse of tb_hash_hex(). */
static inline int tb_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/** Writes the n bytes at p as lower-case hex, and a NUL, into out (2n + 1 bytes). */
void tb_hash_hex(const unsigned char *p, size_t n, char *out);

#endif
