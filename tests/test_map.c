/* Unit tests for tb_map.h: put/get/replace, growth, removal against a
 * reference, colliding slots, the entry cap, iteration. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "tb_map.h"

#define N 5000

static char keys[N][16];
static int present[N];

static void test_basic(void)
{
    struct tb_map m;
    int a = 1, b = 2;

    tb_map_init(&m, 100);
    CHECK(tb_map_get(&m, "x", 1) == NULL);
    CHECK(tb_map_del(&m, "x", 1) == NULL);
    CHECK_OK(tb_map_put(&m, "x", 1, &a));
    CHECK(tb_map_get(&m, "x", 1) == &a);
    CHECK(tb_map_get(&m, "xy", 2) == NULL);
    CHECK(tb_map_get(&m, "y", 1) == NULL);
    CHECK_OK(tb_map_put(&m, "x", 1, &b)); /* replace */
    CHECK_EQ(m.n, 1);
    CHECK(tb_map_get(&m, "x", 1) == &b);
    /* Lengths count, NUL bytes included. */
    CHECK_OK(tb_map_put(&m, "a\0b", 3, &a));
    CHECK_OK(tb_map_put(&m, "a\0c", 3, &b));
    CHECK(tb_map_get(&m, "a\0b", 3) == &a && tb_map_get(&m, "a\0c", 3) == &b);
    CHECK(tb_map_get(&m, "a", 1) == NULL);
    CHECK_OK(tb_map_put(&m, "", 0, &a));
    CHECK(tb_map_get(&m, "", 0) == &a);
    CHECK(tb_map_del(&m, "x", 1) == &b);
    CHECK(tb_map_get(&m, "x", 1) == NULL);
    CHECK_EQ(m.n, 3);
    tb_map_free(&m);
    CHECK(m.n == 0 && tb_map_get(&m, "", 0) == NULL);
    CHECK_OK(tb_map_put(&m, "again", 5, &a)); /* reusable after free */
    tb_map_free(&m);
}

/* Checks the map against present[] for every key. */
static void check_all(const struct tb_map *m)
{
    size_t n = 0;

    for (int i = 0; i < N; i++) {
        void *v = tb_map_get(m, keys[i], strlen(keys[i]));

        if (v != (present[i] ? (void *)keys[i] : NULL)) {
            fprintf(stderr, "key %s: wrong answer\n", keys[i]);
            CHECK(0);
            return;
        }
        n += present[i] != 0;
    }
    CHECK_EQ(m->n, n);
}

/* Many keys through growth, then random removals and re-insertions, checked
 * against a plain array after each round: backward-shift deletion must keep
 * every probe run intact, whatever the collisions in the small tables. */
static void test_against_reference(void)
{
    struct tb_map m;
    uint32_t x = 12345;
    size_t pos = 0, seen = 0;
    const struct tb_map_slot *s;

    tb_map_init(&m, N);
    for (int i = 0; i < N; i++)
        snprintf(keys[i], sizeof(keys[i]), "key%d", i);
    for (int i = 0; i < N; i++) {
        CHECK_OK(tb_map_put(&m, keys[i], strlen(keys[i]), keys[i]));
        present[i] = 1;
        if (i == 10 || i == 100 || i == 1000)
            check_all(&m);
    }
    check_all(&m);
    CHECK(m.cap >= N * 4 / 3 && (m.cap & (m.cap - 1)) == 0);
    for (int round = 0; round < 20; round++) {
        for (int k = 0; k < 500; k++) {
            int i;

            x = x * 1103515245u + 12345u;
            i = (int)((x >> 8) % N);
            if (present[i]) {
                CHECK(tb_map_del(&m, keys[i], strlen(keys[i])) == keys[i]);
                present[i] = 0;
            } else {
                CHECK_OK(tb_map_put(&m, keys[i], strlen(keys[i]), keys[i]));
                present[i] = 1;
            }
        }
        check_all(&m);
    }
    while ((s = tb_map_next(&m, &pos)) != NULL) {
        CHECK(s->value == s->key);
        seen++;
    }
    CHECK_EQ(seen, m.n);
    tb_map_free(&m);
}

/* A 16-slot table filled to its load limit: runs wrap around the end, and
 * removing from anywhere in a wrapped run keeps the others reachable. */
static void test_small_table_wrap(void)
{
    for (int victim = 0; victim < 12; victim++) {
        struct tb_map m;

        tb_map_init(&m, 100);
        for (int i = 0; i < 12; i++) {
            CHECK_OK(tb_map_put(&m, keys[i], strlen(keys[i]), keys[i]));
            present[i] = 1;
        }
        CHECK_EQ(m.cap, 16);
        CHECK(tb_map_del(&m, keys[victim], strlen(keys[victim])) == keys[victim]);
        for (int i = 0; i < 12; i++)
            CHECK(tb_map_get(&m, keys[i], strlen(keys[i])) == (i == victim ? NULL : keys[i]));
        tb_map_free(&m);
    }
}

static void test_cap(void)
{
    struct tb_map m;
    int v = 0;

    tb_map_init(&m, 3);
    CHECK_OK(tb_map_put(&m, "a", 1, &v));
    CHECK_OK(tb_map_put(&m, "b", 1, &v));
    CHECK_OK(tb_map_put(&m, "c", 1, &v));
    CHECK_EQ(tb_map_put(&m, "d", 1, &v), TB_ETOOBIG);
    CHECK(tb_map_get(&m, "d", 1) == NULL && m.n == 3);
    CHECK_OK(tb_map_put(&m, "c", 1, &v)); /* replacing is not adding */
    CHECK(tb_map_del(&m, "a", 1) == &v);
    CHECK_OK(tb_map_put(&m, "d", 1, &v));
    tb_map_free(&m);
    tb_map_init(&m, 0);
    CHECK_EQ(tb_map_put(&m, "a", 1, &v), TB_ETOOBIG);
    tb_map_free(&m);
}

int main(void)
{
    test_basic();
    test_against_reference();
    test_small_table_wrap();
    test_cap();
    CHECK_DONE();
}
