/*
 * The sanitizer's fast path against libxml2's HTML parser, the library it
 * bypasses: every fragment is sanitized with the fast path on and with it
 * off (fast_path = 0: always the parser), as HTML with and without a base
 * and as text, and the two outputs must be the same bytes. Fragments: the
 * HTML bodies of every feed fixture, the bench corpus's abstract shape built
 * from seed-papers.txt, and random fragments over the fast path's alphabet
 * and its edges. The test includes sanitize.c to reach its statics (as h2o's
 * unit tests do) and counts the fragments the fast path took, so that it
 * cannot pass by comparing the parser with itself.
 */
#include "../src/sanitize.c"
#include "check.h"
#include "tb_parse.h"

#include <dirent.h>
#include <stdio.h>

#define BASE "https://ex.com/a/b.html"

static size_t taken;    /* fragments the fast path handled whole */
static size_t compared; /* fragments compared */

/* Whether the fast path handles the n bytes at html whole, as
 * parse_or_copy() would try it. */
static int fast_takes(const char *html, size_t n, int text)
{
    struct san s;
    int ok;

    if (!memchr(html, '<', n) && !memchr(html, '&', n))
        return 0;
    memset(&s, 0, sizeof(s));
    tb_buf_init(&s.out, SIZE_MAX / 2);
    tb_buf_init(&s.url, SIZE_MAX / 2);
    s.text = text;
    ok = simple(&s, html, n);
    tb_buf_free(&s.out);
    tb_buf_free(&s.url);
    return ok;
}

/* Prints a fragment that the two paths disagree on, escaped. */
static void show(const char *html, size_t n, int text)
{
    fprintf(stderr, "paths differ (%s) on \"", text ? "text" : "html");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)html[i];

        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
    fprintf(stderr, "\"\n");
}

/* Sanitizes the n bytes at html through both paths, in every mode. */
static void compare(const char *html, size_t n, const char *base)
{
    const char *bases[] = {NULL, base};
    char *fast, *slow;

    for (int mode = 0; mode < 3; mode++) {
        int text = mode == 2;

        if (mode == 1 && base == NULL)
            continue;
        taken += mode == 0 && fast_takes(html, n, 0);
        fast_path = 1;
        fast = run(html, n, text ? NULL : bases[mode], text);
        fast_path = 0;
        slow = run(html, n, text ? NULL : bases[mode], text);
        fast_path = 1;
        if (fast == NULL || slow == NULL ? fast != slow : strcmp(fast, slow) != 0) {
            show(html, n, text);
            CHECK_STR(fast, slow);
        }
        free(fast);
        free(slow);
    }
    compared++;
}

/* Reads a whole file; NULL if it cannot. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        data = malloc((size_t)n + 1);
        if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
            free(data);
            data = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return data;
}

/* The HTML bodies of every feed in dir. */
static void feeds_in(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[512], err[256];

    CHECK(d != NULL);
    while (d && (de = readdir(d)) != NULL) {
        struct tb_feed *f = NULL;
        struct tb_entry *e;
        size_t len = 0;
        char *data;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        data = slurp(path, &len);
        if (data == NULL || tb_parse_feed(data, len, NULL, &f, err, sizeof(err)) != 0) {
            free(data);
            continue;
        }
        for (e = f->entries; e != NULL; e = e->next) {
            const struct tb_text *t[] = {&e->summary, &e->content};

            for (size_t i = 0; i < 2; i++) {
                if (t[i]->value != NULL && t[i]->is_html)
                    compare(t[i]->value, strlen(t[i]->value), e->base ? e->base : BASE);
            }
        }
        tb_feed_free(f);
        free(data);
    }
    if (d)
        closedir(d);
}

/* "<p>abstract</p><p>Authors: ...</p>", as contrib/bench/gen_corpus.py writes
 * its entries, for each abstract line of seed-papers.txt. */
static void corpus_shape(void)
{
    size_t len = 0, before = taken;
    char *data = slurp("fixtures/seed-papers.txt", &len), *line, *next;
    struct tb_buf b;

    CHECK(data != NULL);
    if (data == NULL)
        return;
    data[len] = '\0';
    tb_buf_init(&b, SIZE_MAX / 2);
    for (line = data; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strlen(line) < 200)
            continue; /* titles, comments and blank lines */
        tb_buf_reset(&b);
        CHECK_OK(tb_buf_adds(&b, "<p>"));
        for (const char *p = line; *p; p++) {
            CHECK_OK(*p == '&'   ? tb_buf_adds(&b, "&amp;")
                     : *p == '<' ? tb_buf_adds(&b, "&lt;")
                                 : tb_buf_add(&b, p, 1));
        }
        CHECK_OK(tb_buf_adds(&b, "</p><p>Authors: Zo\xc3\xab M\xc3\xbcller, A. &amp; B.</p>"));
        compare(b.data, b.len, BASE);
    }
    CHECK(taken - before >= 30); /* the 33 abstracts take the fast path */
    tb_buf_free(&b);
    free(data);
}

/* Pieces of random fragments: all the fast path knows, and what it must
 * leave to the parser (attributes, other tags, misnested or unclosed tags,
 * other entities, bad bytes). */
static const char *const pieces[] = {
    "<p>",
    "</p>",
    "<b>",
    "</b>",
    "<em>",
    "</em>",
    "<i>",
    "</i>",
    "<br>",
    "<br/>",
    "<br />",
    "<sub>",
    "</sub>",
    "<sup>",
    "</sup>",
    "<code>",
    "</code>",
    "<strong>",
    "</strong>",
    "&amp;",
    "&lt;",
    "&gt;",
    "&quot;",
    "&apos;",
    "&#39;",
    "&#233;",
    "&#x1F600;",
    "&#x1f600;",
    "&#0;",
    "&#xD800;",
    "&#65;",
    "&#x41",
    "&nbsp;",
    "&eacute;",
    "&",
    "<",
    ">",
    " ",
    "\n",
    "\t",
    "\r",
    "  ",
    "text",
    "x = y",
    "caf\xc3\xa9",
    "\xf0\x9f\x98\x80",
    "\xff",
    "\xc3",
    "\x01",
    "<P>",
    "<p class=x>",
    "</i >",
    "<div>",
    "</div>",
    "<a href=\"/x\">",
    "</a>",
    "<!-- c -->",
    "<br/ >",
    "</br>",
    "<script>",
    "<li>",
    "\"",
    "'",
    "<b",
    "</",
    "<>",
};

static void random_fragments(void)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    char buf[512];
    size_t before = taken;

    for (int i = 0; i < 20000; i++) {
        size_t n = 0, k;
        int pieces_n;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        pieces_n = 1 + (int)(x % 12);
        for (int j = 0; j < pieces_n; j++) {
            const char *p;

            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* Mostly the fast path's own alphabet, sometimes anything. */
            k = (x >> 8) % 4 ? (x >> 16) % 48 : (x >> 16) % (sizeof(pieces) / sizeof(*pieces));
            p = pieces[k];
            if ((x >> 32) % 50 == 0) {
                buf[n++] = '\0'; /* a NUL inside the fragment */
                continue;
            }
            memcpy(buf + n, p, strlen(p));
            n += strlen(p);
        }
        compare(buf, n, BASE);
    }
    CHECK(taken - before >= 1000);
}

int main(void)
{
    feeds_in("fixtures/parse");
    feeds_in("fixtures/merge");
    feeds_in("fixtures/xss");
    feeds_in("../feeds/samples");
    corpus_shape();
    random_fragments();
    printf("%zu fragments compared, %zu of them taken by the fast path\n", compared, taken);
    CHECK(taken > 0);
    CHECK_DONE();
}
