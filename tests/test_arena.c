/* tb_arena: plain and bulk (huge-page mapped) arenas give zeroed, aligned,
 * distinct memory, large requests included, and are reusable after a free. */
#include "tb_arena.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

/* Whether the n bytes at p are all zero. */
static int zeroed(const unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i] != 0)
            return 0;
    }
    return 1;
}

/* Many small allocations (spanning several chunks) and a large one every
 * big_every: each zeroed, aligned, and not overlapping what came before. */
static void fill(struct tb_arena *a, size_t rounds, size_t big_every)
{
    unsigned char *prev = NULL, *p;
    size_t i, n, prevn = 0;
    char *str;

    for (i = 0; i < rounds; i++) {
        n = i % big_every == 0 ? (size_t)3 << 19 : 1 + i % 300; /* 1.5 MiB */
        p = tb_arena_alloc(a, n);
        CHECK(p != NULL);
        if (p == NULL)
            return;
        CHECK_EQ((uintptr_t)p % alignof(max_align_t), 0);
        CHECK(zeroed(p, n));
        memset(p, 0xa5, n);
        str = tb_arena_strndup(a, "packed strings", i % 15); /* unaligned in between */
        CHECK(str != NULL && strlen(str) == i % 15 && memcmp(str, "packed strings", i % 15) == 0);
        if (prev != NULL)
            CHECK(prev[prevn - 1] == 0xa5 && prev[0] == 0xa5); /* not overwritten */
        prev = p;
        prevn = n;
    }
}

static void test_plain(void)
{
    struct tb_arena a;
    char *s;

    tb_arena_init(&a);
    fill(&a, 3000, 997);
    CHECK(a.total > (size_t)3000 * 150);
    s = tb_arena_strndup(&a, "abcdef", 3);
    CHECK_STR(s, "abc");
    CHECK_STR(tb_arena_strdup(&a, "xyz"), "xyz");
    CHECK(tb_arena_strdup(&a, NULL) == NULL);
    CHECK(tb_arena_alloc(&a, SIZE_MAX) == NULL);
    CHECK(tb_arena_alloc(&a, SIZE_MAX - 8) == NULL);
    tb_arena_free(&a);
    CHECK(a.head == NULL && a.total == 0);
    fill(&a, 50, 7); /* reusable */
    tb_arena_free(&a);
}

static void test_bulk(void)
{
    struct tb_arena a;
    unsigned char *p;

    tb_arena_init_bulk(&a);
    CHECK(tb_arena_alloc(&a, SIZE_MAX) == NULL);
    fill(&a, 40000, 9973); /* ~6 MB of small pieces (two chunks), 4 large ones */
    CHECK(a.total >= (size_t)12 << 20);
    CHECK_STR(tb_arena_strdup(&a, "bulk"), "bulk");
    p = tb_arena_alloc(&a, 0);
    CHECK(p != NULL);
    tb_arena_free(&a);
    CHECK(a.head == NULL && a.total == 0 && a.bulk == 1);
    fill(&a, 300, 100); /* still bulk, still zeroed */
    tb_arena_free(&a);
}

int main(void)
{
    test_plain();
    test_bulk();
    CHECK_DONE();
}
