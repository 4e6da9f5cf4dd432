/*
 * hash.c: SHA-256 and HMAC-SHA256 through OpenSSL's EVP interface. The
 * digest is fetched from the default provider once per process (OpenSSL 3
 * would otherwise look it up on every digest: the dedupe and the store
 * digest every entry) and shared read-only by all threads.
 */
#include "tb_hash.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256;

static void fetch_md(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* The fetched SHA-256, or NULL when OpenSSL has none (out of memory). */
static const EVP_MD *sha256_md(void)
{
    pthread_once(&md_once, fetch_md);
    return md_sha256;
}

int tb_sha256_init(struct tb_sha256 *h)
{
    const EVP_MD *md = sha256_md();

    if (h->ctx == NULL)
        h->ctx = EVP_MD_CTX_new();
    h->rc = h->ctx != NULL && md != NULL && EVP_DigestInit_ex(h->ctx, md, NULL) ? 0 : -ENOMEM;
    return h->rc;
}

void tb_sha256_update(struct tb_sha256 *h, const void *p, size_t n)
{
    if (h->rc == 0 && n > 0 && !EVP_DigestUpdate(h->ctx, p, n))
        h->rc = -ENOMEM;
}

void tb_sha256_add_str(struct tb_sha256 *h, const char *s)
{
    uint64_t n = s ? (uint64_t)strlen(s) + 1 : 0;

    tb_sha256_update(h, &n, sizeof(n));
    if (s != NULL)
        tb_sha256_update(h, s, (size_t)n - 1);
}

int tb_sha256_final(struct tb_sha256 *h, unsigned char out[TB_SHA256_LEN])
{
    if (h->rc == 0 && !EVP_DigestFinal_ex(h->ctx, out, NULL))
        h->rc = -ENOMEM;
    return h->rc;
}

void tb_sha256_free(struct tb_sha256 *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    h->rc = 0;
}

int tb_sha256(const void *p, size_t n, unsigned char out[TB_SHA256_LEN])
{
    const EVP_MD *md = sha256_md();

    return md != NULL && EVP_Digest(p, n, out, NULL, md, NULL) ? 0 : -ENOMEM;
}

int tb_sha256_hex(const void *p, size_t n, char out[TB_SHA256_HEX])
{
    unsigned char md[TB_SHA256_LEN];
    int rc = tb_sha256(p, n, md);

    if (rc == 0)
        tb_hash_hex(md, sizeof(md), out);
    return rc;
}

int tb_hmac_sha256(const void *key, size_t keylen, const void *p, size_t n,
                   unsigned char out[TB_SHA256_LEN])
{
    const EVP_MD *md = sha256_md();
    unsigned int len = 0;

    /* HMAC() wants a key pointer even for an empty key. */
    if (md == NULL || keylen > INT32_MAX ||
        HMAC(md, keylen ? key : "", (int)keylen, n ? p : (const void *)"", n, out, &len) == NULL)
        return -ENOMEM;
    return len == TB_SHA256_LEN ? 0 : -EINVAL;
}

int tb_hmac(const char *alg, const void *key, size_t keylen, const void *p, size_t n,
            unsigned char out[TB_HMAC_MAX], size_t *outlen)
{
    const EVP_MD *md = NULL;
    unsigned int len = 0;

    if (strcmp(alg, "sha1") == 0)
        md = EVP_sha1();
    else if (strcmp(alg, "sha256") == 0)
        md = EVP_sha256();
    else if (strcmp(alg, "sha384") == 0)
        md = EVP_sha384();
    else if (strcmp(alg, "sha512") == 0)
        md = EVP_sha512();
    *outlen = 0;
    if (md == NULL)
        return -EINVAL;
    if (keylen > INT32_MAX ||
        HMAC(md, keylen ? key : "", (int)keylen, n ? p : (const void *)"", n, out, &len) == NULL)
        return -ENOMEM;
    *outlen = len;
    return 0;
}

void tb_hash_hex(const unsigned char *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
}

uint64_t tb_hash_seed(void)
{
    uint64_t seed;
    struct timespec ts;

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
        return seed;
    /* No entropy yet (early boot): the clock and an address still differ
     * from run to run. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&seed;
}

int tb_hash_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}
