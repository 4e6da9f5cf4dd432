/*
 * Fuzz target: tb_sanitize_html without and with a base URL, and
 * tb_sanitize_text. Invariants on the HTML: valid UTF-8 without C0 controls
 * other than tab/LF/CR; no "<script"; every tag is `<name( attr="value")*>`
 * or `</name>`; no on* attribute; URL attributes (href, src, cite) are
 * http, https, mailto or relative, so never javascript: in any case or with
 * whitespace or controls inside the scheme; tags balanced;
 * sanitizing the output again gives the same output. On the text: valid
 * UTF-8, no controls but LF, no leading, trailing or repeated whitespace.
 */
#include "fuzz.h"
#include "tb_sanitize.h"

#include <ctype.h>
#include <strings.h>

#define BASE "https://example.org/dir/page.html?q=1"
#define MAX_STACK 4096

static int is_void(const char *name, size_t n)
{
    static const char *const voids[] = {"area",  "base", "br",   "col",   "embed",  "hr",    "img",
                                        "input", "link", "meta", "param", "source", "track", "wbr"};

    for (size_t i = 0; i < sizeof(voids) / sizeof(*voids); i++) {
        if (strlen(voids[i]) == n && memcmp(voids[i], name, n) == 0)
            return 1;
    }
    return 0;
}

/* Case-blind search in the n bytes at s. */
static int contains(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);

    for (size_t i = 0; i + k <= n; i++) {
        if (strncasecmp(s + i, needle, k) == 0)
            return 1;
    }
    return 0;
}

/* A URL attribute value (as written, entity-escaped) has an allowed scheme
 * or none; whitespace and controls before the colon are ignored as browsers
 * do. "javascript:" elsewhere in a value is harmless and allowed: a relative
 * "a/javascript:x" stays on the site, title="javascript: ..." is text (the
 * fuzzer found the former; not a bug). */
static int url_ok(const char *v, size_t n)
{
    char scheme[16];
    size_t k = 0, i;

    for (i = 0; i < n && v[i] != ':'; i++) {
        if ((unsigned char)v[i] <= ' ')
            continue;
        if (!isalnum((unsigned char)v[i]) && v[i] != '+' && v[i] != '-' && v[i] != '.')
            return 1; /* no scheme: relative */
        if (k < sizeof(scheme) - 1)
            scheme[k++] = (char)tolower((unsigned char)v[i]);
    }
    if (i == n)
        return 1;
    scheme[k] = '\0';
    return !strcmp(scheme, "http") || !strcmp(scheme, "https") || !strcmp(scheme, "mailto");
}

/* Checks the attributes from p up to the closing '>' and returns its offset. */
static size_t check_attrs(const char *p, size_t n)
{
    size_t i = 0;

    while (i < n && p[i] == ' ') {
        size_t name = ++i, nlen, val;

        while (i < n && (islower((unsigned char)p[i]) || isdigit((unsigned char)p[i])))
            i++;
        nlen = i - name;
        FUZZ_ASSERT(nlen > 0 && i + 1 < n && p[i] == '=' && p[i + 1] == '"');
        FUZZ_ASSERT(!(nlen >= 2 && strncasecmp(p + name, "on", 2) == 0));
        i += 2;
        val = i;
        while (i < n && p[i] != '"')
            i++;
        FUZZ_ASSERT(i < n);
        if ((nlen == 4 && !memcmp(p + name, "href", 4)) ||
            (nlen == 3 && !memcmp(p + name, "src", 3)) ||
            (nlen == 4 && !memcmp(p + name, "cite", 4)))
            FUZZ_ASSERT(url_ok(p + val, i - val));
        i++;
    }
    FUZZ_ASSERT(i < n && p[i] == '>');
    return i;
}

static void check_html(const char *out)
{
    size_t n = strlen(out), depth = 0;
    static const char *stack[MAX_STACK];
    static size_t lens[MAX_STACK];

    FUZZ_ASSERT(fuzz_utf8_valid(out, n));
    FUZZ_ASSERT(!contains(out, n, "<script"));
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        int close;
        size_t name, nlen;

        FUZZ_ASSERT(c >= 0x20 || c == '\t' || c == '\n' || c == '\r');
        FUZZ_ASSERT(c != '>');
        if (c != '<')
            continue;
        close = out[i + 1] == '/';
        name = i + 1 + (size_t)close;
        for (i = name; islower((unsigned char)out[i]) || isdigit((unsigned char)out[i]); i++)
            ;
        nlen = i - name;
        FUZZ_ASSERT(nlen > 0);
        if (close) {
            FUZZ_ASSERT(out[i] == '>' && depth > 0);
            depth--;
            FUZZ_ASSERT(lens[depth] == nlen && memcmp(stack[depth], out + name, nlen) == 0);
            continue;
        }
        i += check_attrs(out + i, n - i);
        if (!is_void(out + name, nlen)) {
            FUZZ_ASSERT(depth < MAX_STACK);
            stack[depth] = out + name;
            lens[depth++] = nlen;
        }
    }
    FUZZ_ASSERT(depth == 0);
}

static void check_text(const char *t)
{
    size_t n = strlen(t);

    FUZZ_ASSERT(fuzz_utf8_valid(t, n));
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        int space = c == ' ' || c == '\n';

        FUZZ_ASSERT((c >= 0x20 && c != 0x7f) || c == '\n');
        FUZZ_ASSERT(!(space && (i == 0 || i == n - 1)));
        FUZZ_ASSERT(!(space && (t[i + 1] == ' ' || t[i + 1] == '\n')));
    }
}

/* Sanitizes, checks the output and that sanitizing it again is a no-op. */
static void check_sanitize(const uint8_t *data, size_t size, const char *base)
{
    char *out = tb_sanitize_html((const char *)data, size, base), *again;

    FUZZ_ASSERT(out != NULL);
    check_html(out);
    again = tb_sanitize_html(out, strlen(out), base);
    FUZZ_ASSERT(again != NULL);
    if (strcmp(out, again) != 0)
        fprintf(stderr, "not idempotent:\n1: %s\n2: %s\n", out, again);
    FUZZ_ASSERT(strcmp(out, again) == 0);
    free(again);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;

    check_sanitize(data, size, NULL);
    check_sanitize(data, size, BASE);
    text = tb_sanitize_text((const char *)data, size);
    FUZZ_ASSERT(text != NULL);
    check_text(text);
    free(text);
    return 0;
}
