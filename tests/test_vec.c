/* Unit tests for tb_vec.h: growth, caps, overflow, failure leaves the array. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "tb_vec.h"

/* The -ENOMEM check asks for exabytes: under AddressSanitizer, malloc must
 * return NULL for it rather than abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void test_growth(void)
{
    int *v = NULL;
    size_t n = 0, alloc = 0, grows = 0, last = 0;

    for (int i = 0; i < 100000; i++) {
        CHECK_OK(TB_VEC_RESERVE(v, alloc, n + 1, TB_VEC_MAX));
        if (alloc != last) {
            grows++;
            last = alloc;
        }
        v[n++] = i;
    }
    CHECK(alloc >= n && alloc < 2 * n);
    CHECK_EQ(grows, 15); /* 8, 16, ... 131072: doubling, not one realloc per push */
    for (size_t i = 0; i < n; i++)
        if (v[i] != (int)i) {
            CHECK_EQ(v[i], i);
            break;
        }
    /* Room already there: nothing moves. */
    {
        int *before = v;
        CHECK_OK(TB_VEC_RESERVE(v, alloc, alloc, TB_VEC_MAX));
        CHECK(v == before);
        CHECK_OK(TB_VEC_RESERVE(v, alloc, 0, TB_VEC_MAX));
    }
    free(v);
}

/* A jump past twice the allocation gets what it needs at once. */
static void test_big_need(void)
{
    char *v = NULL;
    size_t alloc = 0;

    CHECK_OK(TB_VEC_RESERVE(v, alloc, 1000, TB_VEC_MAX));
    CHECK(alloc >= 1000 && alloc <= 1024);
    free(v);
}

static void test_caps(void)
{
    long *v = NULL;
    size_t alloc = 0;

    /* The cap bounds the allocation as well as the need. */
    CHECK_OK(TB_VEC_RESERVE(v, alloc, 5, 10));
    CHECK_EQ(alloc, 8);
    CHECK_OK(TB_VEC_RESERVE(v, alloc, 9, 10));
    CHECK_EQ(alloc, 10);
    v[9] = 42;
    CHECK_EQ(TB_VEC_RESERVE(v, alloc, 11, 10), TB_ETOOBIG);
    CHECK(alloc == 10 && v != NULL && v[9] == 42); /* untouched */
    /* Bytes that overflow size_t are refused before any allocation. */
    CHECK_EQ(TB_VEC_RESERVE(v, alloc, SIZE_MAX / 4, SIZE_MAX), TB_ETOOBIG);
    CHECK_EQ(alloc, 10);
    /* An allocation that cannot succeed: -ENOMEM, array untouched. */
    CHECK_EQ(TB_VEC_RESERVE(v, alloc, SIZE_MAX / sizeof(*v) / 2, SIZE_MAX), -ENOMEM);
    CHECK(alloc == 10 && v[9] == 42);
    free(v);
}

int main(void)
{
    test_growth();
    test_big_need();
    test_caps();
    CHECK_DONE();
}
