/* Unit tests for tb_hash.h: FNV-1a, SHA-256 (FIPS 180-2 vectors) and
 * HMAC-SHA256 (RFC 4231 vectors). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tb_hash.h"

/* The hex of a SHA-256 digest. */
static const char *hex(const unsigned char md[TB_SHA256_LEN])
{
    static char out[TB_SHA256_HEX];

    tb_hash_hex(md, TB_SHA256_LEN, out);
    return out;
}

/* FIPS 180-2 appendix B, and the empty message. */
static void test_sha256_vectors(void)
{
    static const struct {
        const char *msg;
        const char *want;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    char h[TB_SHA256_HEX];
    unsigned char md[TB_SHA256_LEN];
    char *million = malloc(1000000);
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        CHECK_OK(tb_sha256_hex(v[i].msg, strlen(v[i].msg), h));
        CHECK_STR(h, v[i].want);
        CHECK_OK(tb_sha256(v[i].msg, strlen(v[i].msg), md));
        CHECK_STR(hex(md), v[i].want);
    }
    memset(million, 'a', 1000000);
    CHECK_OK(tb_sha256_hex(million, 1000000, h));
    CHECK_STR(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}

/* Incremental hashing equals the one-shot; the context is reused; strings
 * are framed so that field boundaries and NULL count. */
static void test_sha256_incremental(void)
{
    const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    struct tb_sha256 h = {0};
    unsigned char a[TB_SHA256_LEN], b[TB_SHA256_LEN], c[TB_SHA256_LEN];
    size_t i;

    for (int round = 0; round < 2; round++) {
        CHECK_OK(tb_sha256_init(&h));
        for (i = 0; i < strlen(msg); i += 5)
            tb_sha256_update(&h, msg + i, strlen(msg) - i < 5 ? strlen(msg) - i : 5);
        CHECK_OK(tb_sha256_final(&h, a));
        CHECK_STR(hex(a), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    }
    CHECK_OK(tb_sha256_init(&h));
    tb_sha256_add_str(&h, "ab");
    tb_sha256_add_str(&h, "c");
    CHECK_OK(tb_sha256_final(&h, a));
    CHECK_OK(tb_sha256_init(&h));
    tb_sha256_add_str(&h, "a");
    tb_sha256_add_str(&h, "bc");
    CHECK_OK(tb_sha256_final(&h, b));
    CHECK(memcmp(a, b, sizeof(a)) != 0);
    CHECK_OK(tb_sha256_init(&h));
    tb_sha256_add_str(&h, NULL);
    CHECK_OK(tb_sha256_final(&h, a));
    CHECK_OK(tb_sha256_init(&h));
    tb_sha256_add_str(&h, "");
    CHECK_OK(tb_sha256_final(&h, b));
    CHECK(memcmp(a, b, sizeof(a)) != 0);
    /* The framing itself: a 64-bit strlen + 1 in host order, then the bytes. */
    {
        unsigned char buf[sizeof(uint64_t) + 3];
        uint64_t n = 4;

        memcpy(buf, &n, sizeof(n));
        memcpy(buf + sizeof(n), "abc", 3);
        CHECK_OK(tb_sha256(buf, sizeof(buf), c));
        CHECK_OK(tb_sha256_init(&h));
        tb_sha256_add_str(&h, "abc");
        CHECK_OK(tb_sha256_final(&h, a));
        CHECK(memcmp(a, c, sizeof(a)) == 0);
    }
    tb_sha256_free(&h);
    CHECK(h.ctx == NULL);
    tb_sha256_free(&h); /* twice is fine */
}

/* Builds n bytes of value c. */
static unsigned char *fill(unsigned char *p, int c, size_t n)
{
    memset(p, c, n);
    return p;
}

/* RFC 4231 test cases 1, 2, 3, 4, 6 and 7 (5 is a truncated output). */
static void test_hmac_vectors(void)
{
    static const char big_key_msg[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    static const char big_both_msg[] =
        "This is a test using a larger than block-size key and a larger than block-size data. "
        "The key needs to be hashed before being used by the HMAC algorithm.";
    unsigned char key[131], data[50], md[TB_SHA256_LEN];
    size_t i;

    CHECK_OK(tb_hmac_sha256(fill(key, 0x0b, 20), 20, "Hi There", 8, md));
    CHECK_STR(hex(md), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK_OK(tb_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, md));
    CHECK_STR(hex(md), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK_OK(tb_hmac_sha256(fill(key, 0xaa, 20), 20, fill(data, 0xdd, 50), 50, md));
    CHECK_STR(hex(md), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    for (i = 0; i < 25; i++)
        key[i] = (unsigned char)(i + 1);
    CHECK_OK(tb_hmac_sha256(key, 25, fill(data, 0xcd, 50), 50, md));
    CHECK_STR(hex(md), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    CHECK_OK(tb_hmac_sha256(fill(key, 0xaa, 131), 131, big_key_msg, strlen(big_key_msg), md));
    CHECK_STR(hex(md), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    CHECK_OK(tb_hmac_sha256(key, 131, big_both_msg, strlen(big_both_msg), md));
    CHECK_STR(hex(md), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    /* Empty key and empty message are fine. */
    CHECK_OK(tb_hmac_sha256(NULL, 0, NULL, 0, md));
    CHECK_STR(hex(md), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static void test_fnv_hex(void)
{
    char out[7];

    CHECK_EQ(tb_fnv1a("", 0), (long long)0xcbf29ce484222325ULL);
    CHECK_EQ(tb_fnv1a("a", 1), (long long)0xaf63dc4c8601ec8cULL);
    tb_hash_hex((const unsigned char *)"\x00\x9f\xff", 3, out);
    CHECK_STR(out, "009fff");
    CHECK_EQ(tb_hex_digit('0'), 0);
    CHECK_EQ(tb_hex_digit('9'), 9);
    CHECK_EQ(tb_hex_digit('a'), 10);
    CHECK_EQ(tb_hex_digit('F'), 15);
    CHECK_EQ(tb_hex_digit('g'), -1);
    CHECK_EQ(tb_hex_digit('/'), -1);
    CHECK(tb_hash_equal("abc", "abc", 3));
    CHECK(!tb_hash_equal("abc", "abd", 3));
    CHECK(tb_hash_equal("x", "y", 0));
}

int main(void)
{
    test_sha256_vectors();
    test_sha256_incremental();
    test_hmac_vectors();
    test_fnv_hex();
    CHECK_DONE();
}
