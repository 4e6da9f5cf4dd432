/* Unit tests for tb_utf8.h: the one UTF-8 layer. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "tb_utf8.h"

/* Sequences and the length tb_utf8_len() must give them (0: invalid). */
static const struct {
    const char *s;
    size_t n;
    size_t len;
    uint32_t cp;
} seqs[] = {
    {"a", 1, 1, 'a'},
    {"\x7f", 1, 1, 0x7f},
    {"\xc2\x80", 2, 2, 0x80},
    {"\xc3\xa9", 2, 2, 0xe9},
    {"\xdf\xbf", 2, 2, 0x7ff},
    {"\xe0\xa0\x80", 3, 3, 0x800},
    {"\xe2\x80\xa6", 3, 3, 0x2026},
    {"\xed\x9f\xbf", 3, 3, 0xd7ff},
    {"\xee\x80\x80", 3, 3, 0xe000},
    {"\xef\xbf\xbf", 3, 3, 0xffff},
    {"\xf0\x90\x80\x80", 4, 4, 0x10000},
    {"\xf0\x9f\x98\x80", 4, 4, 0x1f600},
    {"\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff},
    /* overlong forms */
    {"\xc0\x80", 2, 0, 0},
    {"\xc1\xbf", 2, 0, 0},
    {"\xe0\x9f\xbf", 3, 0, 0},
    {"\xf0\x8f\xbf\xbf", 4, 0, 0},
    /* surrogates */
    {"\xed\xa0\x80", 3, 0, 0},
    {"\xed\xbf\xbf", 3, 0, 0},
    /* past U+10FFFF */
    {"\xf4\x90\x80\x80", 4, 0, 0},
    {"\xf5\x80\x80\x80", 4, 0, 0},
    {"\xff", 1, 0, 0},
    /* stray continuation bytes, bad continuations */
    {"\x80", 1, 0, 0},
    {"\xbf", 1, 0, 0},
    {"\xc3\x41", 2, 0, 0},
    {"\xe2\x80\x41", 3, 0, 0},
    {"\xf0\x9f\x98\xc3", 4, 0, 0},
    /* truncated: fewer bytes readable than the lead byte announces */
    {"\xc3\xa9", 1, 0, 0},
    {"\xe2\x80\xa6", 2, 0, 0},
    {"\xf0\x9f\x98\x80", 3, 0, 0},
};

static void test_len_decode(void)
{
    size_t i, k;
    uint32_t cp;

    for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
        CHECK_EQ(tb_utf8_len(seqs[i].s, seqs[i].n), seqs[i].len);
        cp = 0xdeadbeef;
        k = tb_utf8_decode(seqs[i].s, seqs[i].n, &cp);
        CHECK_EQ(k, seqs[i].len);
        CHECK_EQ(cp, k ? seqs[i].cp : 0xdeadbeef);
        CHECK_EQ(tb_utf8_valid(seqs[i].s, seqs[i].n), seqs[i].len == seqs[i].n);
    }
    /* A NUL-terminated string stops the read: n = 4 is safe on "\xc3". */
    CHECK_EQ(tb_utf8_len("\xc3", 4), 0);
    CHECK_EQ(tb_utf8_len("\xe2\x80", 4), 0);
}

static void test_encode(void)
{
    char out[4];
    uint32_t cp, back;
    size_t n;

    for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
        if (seqs[i].len == 0)
            continue;
        n = tb_utf8_encode(out, seqs[i].cp);
        CHECK_EQ(n, seqs[i].len);
        CHECK(memcmp(out, seqs[i].s, n) == 0);
    }
    /* Every scalar value round-trips; surrogates and > U+10FFFF do not encode. */
    for (cp = 0; cp <= 0x110000; cp++) {
        n = tb_utf8_encode(out, cp);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            if (n != 0)
                CHECK_EQ(n, 0);
            continue;
        }
        back = 0;
        if (n == 0 || tb_utf8_decode(out, n, &back) != n || back != cp) {
            CHECK_EQ(back, cp);
            break;
        }
    }
    CHECK_EQ(tb_utf8_encode(out, 0xffffffffu), 0);
}

static void test_xml_char(void)
{
    CHECK(tb_utf8_xml_char('\t') && tb_utf8_xml_char('\n') && tb_utf8_xml_char('\r'));
    CHECK(!tb_utf8_xml_char(0) && !tb_utf8_xml_char(0x1f) && tb_utf8_xml_char(' '));
    CHECK(!tb_utf8_xml_char(0xfffe) && !tb_utf8_xml_char(0xffff) && tb_utf8_xml_char(0xfffd));
    CHECK(!tb_utf8_xml_char(0xd800) && !tb_utf8_xml_char(0x110000));
    CHECK(tb_utf8_xml_char(0x10ffff));
}

/* Cleans s with flags and checks the result. */
static void clean_is(const char *s, size_t n, unsigned flags, const char *want)
{
    struct tb_buf b;

    tb_buf_init(&b, 1024);
    CHECK_OK(tb_buf_add(&b, "", 0));
    CHECK_OK(tb_utf8_clean(&b, s, n, flags));
    CHECK_EQ(b.len, strlen(want));
    CHECK_STR(b.data, want);
    tb_buf_free(&b);
}

static void test_clean(void)
{
    /* Valid text is copied unchanged, whatever the flags. */
    clean_is("Caf\xc3\xa9 \xf0\x9f\x98\x80", 10, 0, "Caf\xc3\xa9 \xf0\x9f\x98\x80");
    clean_is("Caf\xc3\xa9", 5, TB_UTF8_XML | TB_UTF8_CP1252, "Caf\xc3\xa9");
    /* Invalid bytes: dropped, U+FFFD, or windows-1252. */
    clean_is("a\xff"
             "b\xc3",
             4, 0, "ab");
    clean_is("a\xff"
             "b\xc3",
             4, TB_UTF8_FFFD,
             "a\xef\xbf\xbd"
             "b\xef\xbf\xbd");
    clean_is("Caf\xe9 \x93q\x94 \x81", 10, TB_UTF8_CP1252,
             "Caf\xc3\xa9 \xe2\x80\x9cq\xe2\x80\x9d ");
    /* An overlong NUL and a surrogate are two and three invalid bytes. */
    clean_is("\xc0\x80|\xed\xa0\x80", 6, TB_UTF8_FFFD,
             "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    /* XML: controls and U+FFFE dropped whole, tab/LF/CR kept. */
    clean_is("a\x01\tb\n\r\xef\xbf\xbe"
             "c",
             10, TB_UTF8_XML | TB_UTF8_FFFD, "a\tb\n\rc");
    clean_is("a\x01\xef\xbf\xbe", 5, 0, "a\x01\xef\xbf\xbe");
    /* NULs: kept as valid, dropped with TB_UTF8_NONUL or TB_UTF8_XML. */
    clean_is("a\0b", 3, TB_UTF8_FFFD | TB_UTF8_NONUL, "ab");
    clean_is("a\0b", 3, TB_UTF8_XML, "ab");
    {
        struct tb_buf b;

        tb_buf_init(&b, 16);
        CHECK_OK(tb_utf8_clean(&b, "a\0b", 3, 0));
        CHECK_EQ(b.len, 3);
        tb_buf_free(&b);
        /* Over the buffer's cap: an error, buffer freed. */
        tb_buf_init(&b, 2);
        CHECK(tb_utf8_clean(&b, "abc", 3, 0) != 0);
        CHECK(b.data == NULL && b.len == 0);
        tb_buf_free(&b);
    }
}

static void test_put(void)
{
    struct tb_buf b;

    tb_buf_init(&b, 64);
    CHECK_OK(tb_utf8_put(&b, 'x'));
    CHECK_OK(tb_utf8_put(&b, 0xe9));
    CHECK_OK(tb_utf8_put(&b, 0x20ac));
    CHECK_OK(tb_utf8_put(&b, 0x1f600));
    CHECK_EQ(tb_utf8_put(&b, 0xd800), -EINVAL);
    CHECK_EQ(tb_utf8_put(&b, 0x110000), -EINVAL);
    CHECK_STR(b.data, "x\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    tb_buf_free(&b);
}

static void test_cut(void)
{
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* 1+2+3+4 bytes */
    size_t n = strlen(s);

    CHECK_EQ(tb_utf8_cut(s, n, 100), n);
    CHECK_EQ(tb_utf8_cut(s, n, n), n);
    CHECK_EQ(tb_utf8_cut(s, n, 9), 6);
    CHECK_EQ(tb_utf8_cut(s, n, 7), 6);
    CHECK_EQ(tb_utf8_cut(s, n, 6), 6);
    CHECK_EQ(tb_utf8_cut(s, n, 5), 3);
    CHECK_EQ(tb_utf8_cut(s, n, 3), 3);
    CHECK_EQ(tb_utf8_cut(s, n, 2), 1);
    CHECK_EQ(tb_utf8_cut(s, n, 1), 1);
    CHECK_EQ(tb_utf8_cut(s, n, 0), 0);
    CHECK_EQ(tb_utf8_cut("\x80\x80\x80", 3, 2), 0);
}

/* tb_utf8_xml_clean() at every length and position, around the block size of
 * its scan: one bad byte or sequence anywhere makes the text unclean; good
 * UTF-8, tab and newline anywhere leave it clean. */
static void test_xml_clean_positions(void)
{
    static const struct {
        const char *seq; /* planted */
        int clean;       /* the expected answer with it in */
    } rows[] = {{"\x01", 0}, {"\xff", 0}, {"\xc3", 0},     {"\xef\xbf\xbe", 0}, {"\xed\xa0\x80", 0},
                {"\t", 1},   {"\n", 1},   {"\xc3\xa9", 1}, {"\xe2\x80\xa6", 1}, {"~", 1}};
    char text[80];
    size_t i, n, at, k;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        k = strlen(rows[i].seq);
        for (n = k; n <= sizeof(text); n++) {
            for (at = 0; at + k <= n; at++) {
                memset(text, 'a', sizeof(text));
                memcpy(text + at, rows[i].seq, k);
                CHECK_EQ(tb_utf8_xml_clean(text, n), rows[i].clean);
                CHECK_EQ(tb_utf8_xml_clean(text, at), 1); /* what comes before */
            }
        }
    }
}

int main(void)
{
    test_len_decode();
    test_encode();
    test_xml_char();
    test_clean();
    test_put();
    test_cut();
    test_xml_clean_positions();
    CHECK_DONE();
}
