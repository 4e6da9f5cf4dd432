/* Unit tests for tb_gzip.h: round trips through zlib's inflate, edges, caps. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "tb_gzip.h"

/* Inflates the gzip stream g into out (cap bytes); returns the length or -1. */
static long gunzip(const struct tb_buf *g, unsigned char *out, size_t cap)
{
    z_stream z;
    long n = -1;

    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return -1;
    z.next_in = (Bytef *)g->data;
    z.avail_in = (uInt)g->len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (inflate(&z, Z_FINISH) == Z_STREAM_END && z.avail_in == 0)
        n = (long)z.total_out;
    inflateEnd(&z);
    return n;
}

/* Compresses n bytes at p at `level` and checks that they come back. */
static void round_trip(const void *p, size_t n, int level)
{
    unsigned char *back = malloc(n + 1);
    struct tb_buf g;

    tb_buf_init(&g, n + n / 2 + 1024);
    CHECK_OK(tb_gzip(p, n, level, &g));
    CHECK(g.len >= 20); /* header and trailer at least */
    CHECK(g.data != NULL && (unsigned char)g.data[0] == 0x1f && (unsigned char)g.data[1] == 0x8b);
    CHECK_EQ(gunzip(&g, back, n + 1), (long)n);
    CHECK(n == 0 || memcmp(back, p, n) == 0);
    tb_buf_free(&g);
    free(back);
}

static void test_round_trip(void)
{
    static const char text[] = "<feed>Caf\xc3\xa9 tributary tributary tributary</feed>";

    round_trip(text, sizeof(text) - 1, TB_GZIP_DEFAULT);
    round_trip(text, sizeof(text) - 1, TB_GZIP_BEST);
    round_trip(text, sizeof(text) - 1, 1);
    round_trip("", 0, TB_GZIP_BEST);
    round_trip(NULL, 0, TB_GZIP_BEST);
}

/* 16 MB: repetitive text, then noise that does not compress (the output
 * outgrows zlib's first estimate of room only when the bound is wrong). */
static void test_large(void)
{
    size_t n = (size_t)16 << 20, i;
    unsigned char *p = malloc(n);
    uint32_t x = 1;

    for (i = 0; i < n; i++)
        p[i] = (unsigned char)("<entry><title>x</title></entry>\n"[i % 33]);
    round_trip(p, n, TB_GZIP_BEST);
    for (i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (unsigned char)(x >> 23);
    }
    round_trip(p, n, TB_GZIP_DEFAULT);
    free(p);
}

/* Equal bytes give equal output (no name, no time in the header), appended
 * after what the buffer held. */
static void test_deterministic_append(void)
{
    struct tb_buf a, b;

    tb_buf_init(&a, 4096);
    tb_buf_init(&b, 4096);
    CHECK_OK(tb_buf_adds(&b, "prefix"));
    CHECK_OK(tb_gzip("same bytes", 10, TB_GZIP_BEST, &a));
    CHECK_OK(tb_gzip("same bytes", 10, TB_GZIP_BEST, &b));
    CHECK_EQ(b.len, a.len + 6);
    CHECK(memcmp(b.data, "prefix", 6) == 0 && memcmp(b.data + 6, a.data, a.len) == 0);
    CHECK(memcmp(a.data + 4, "\0\0\0\0", 4) == 0); /* MTIME */
    CHECK_EQ(a.data[3] & 0x08, 0);                 /* no FNAME */
    tb_buf_free(&a);
    tb_buf_free(&b);
}

/* The buffer's cap holds: over it, TB_ETOOBIG and the buffer freed; an
 * output that fits exactly is fine although zlib's bound is larger. */
static void test_caps(void)
{
    char text[1000];
    struct tb_buf g;
    size_t exact;

    memset(text, 'a', sizeof(text));
    tb_buf_init(&g, 1 << 20);
    CHECK_OK(tb_gzip(text, sizeof(text), TB_GZIP_BEST, &g));
    exact = g.len;
    tb_buf_free(&g);
    CHECK(exact < 100);
    tb_buf_init(&g, exact);
    CHECK_OK(tb_gzip(text, sizeof(text), TB_GZIP_BEST, &g));
    CHECK_EQ(g.len, exact);
    tb_buf_free(&g);
    tb_buf_init(&g, exact - 1);
    CHECK_EQ(tb_gzip(text, sizeof(text), TB_GZIP_BEST, &g), TB_ETOOBIG);
    CHECK(g.data == NULL && g.len == 0);
    tb_buf_init(&g, 0);
    CHECK_EQ(tb_gzip("", 0, TB_GZIP_BEST, &g), TB_ETOOBIG);
    tb_buf_init(&g, 100);
    CHECK_EQ(tb_gzip("x", 1, 0, &g), -EINVAL);
    CHECK_EQ(tb_gzip("x", 1, 10, &g), -EINVAL);
    CHECK_EQ(tb_gzip(NULL, 1, TB_GZIP_BEST, &g), -EINVAL);
    tb_buf_free(&g);
}

int main(void)
{
    test_round_trip();
    test_large();
    test_deterministic_append();
    test_caps();
    CHECK_DONE();
}
