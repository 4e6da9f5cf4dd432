/*
 * A tiny test framework: each failed check prints file:line and counts. A
 * check that needs a tool the machine lacks goes through CHECK_NEED: the
 * program then exits 77, which ctest reports as skipped (SKIP_RETURN_CODE),
 * or fails when the environment variable CI is set (tests/tbtest.py's
 * need_tool() is the same for the Python tests).
 */
#ifndef TB_CHECK_H
#define TB_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_skipped;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", __FILE__,          \
                    __LINE__, #a, check_a_, #b, check_b_);                                         \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr) CHECK_EQ((expr), 0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        if (check_a_ == NULL || check_b_ == NULL ? check_a_ != check_b_                            \
                                                 : strcmp(check_a_, check_b_) != 0) {              \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == \"%s\", expected \"%s\"\n", __FILE__,  \
                    __LINE__, #a, check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)"); \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

/* Whether `name` is a command on PATH. */
static inline int check_have_tool(const char *name)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "command -v '%s' >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/*
 * Returns `have`; when it is 0, the checks needing `what` are left out:
 * counted as skipped, or as failed when CI is set.
 */
static inline int check_need(int have, const char *what, const char *file, int line)
{
    const char *ci = getenv("CI");

    if (have)
        return 1;
    if (ci != NULL && *ci != '\0') {
        fprintf(stderr, "%s:%d: CHECK_NEED failed: %s missing and CI is set\n", file, line, what);
        check_failures++;
    } else {
        fprintf(stderr, "%s:%d: SKIPPED: %s missing\n", file, line, what);
        check_skipped++;
    }
    return 0;
}

#define CHECK_NEED(have, what) check_need((have), (what), __FILE__, __LINE__)

/* Exits 1 on a failed check, else 77 when a check was skipped, else 0. */
#define CHECK_DONE()                                                                               \
    do {                                                                                           \
        if (check_failures)                                                                        \
            fprintf(stderr, "%d check(s) failed\n", check_failures);                               \
        else if (check_skipped)                                                                    \
            fprintf(stderr, "%d check(s) skipped: reported as skipped (77)\n", check_skipped);     \
        return check_failures ? 1 : check_skipped ? 77 : 0;                                        \
    } while (0)

/* Reads $TB_FIXTURES/<sub>/<name> into a malloc'd, unterminated buffer of
 * *len bytes; exits the test on failure. */
static inline char *check_load(const char *sub, const char *name, size_t *len)
{
    const char *fx = getenv("TB_FIXTURES");
    char path[1024];
    FILE *fp;
    char *d;
    long n;

    snprintf(path, sizeof(path), "%s/%s/%s", fx ? fx : "fixtures", sub, name);
    fp = fopen(path, "rb");
    if (fp == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    rewind(fp);
    d = malloc((size_t)n + 1);
    if (d == NULL || fread(d, 1, (size_t)n, fp) != (size_t)n)
        exit(1);
    fclose(fp);
    *len = (size_t)n;
    return d;
}

#endif
