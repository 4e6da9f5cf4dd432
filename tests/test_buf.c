/* tb_buf: reserving room, appending past it, the cap, taking the contents. */
#include "tb_buf.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

/* A reservation allocates exactly once and keeps what is there. */
static void test_reserve(void)
{
    struct tb_buf b;
    char *p;

    tb_buf_init(&b, 100);
    CHECK_OK(tb_buf_reserve(&b, 0));
    CHECK_STR(b.data, "");
    CHECK_OK(tb_buf_adds(&b, "abc"));
    CHECK_OK(tb_buf_reserve(&b, 20));
    CHECK_EQ(b.alloc, (size_t)24);
    CHECK_STR(b.data, "abc");
    p = b.data;
    CHECK_OK(tb_buf_add(&b, "0123456789012345678", 19));
    CHECK(b.data == p); /* no realloc within the reservation */
    CHECK_OK(tb_buf_reserve(&b, 1));
    CHECK_EQ(b.alloc, (size_t)24);
    CHECK_OK(tb_buf_add(&b, "xy", 2)); /* past it: grows as usual */
    CHECK_EQ(b.len, (size_t)24);
    CHECK_EQ(strlen(b.data), (size_t)24);
    p = tb_buf_take(&b);
    CHECK_STR(p, "abc0123456789012345678xy");
    free(p);
}

/* Reserving past the cap fails and frees, as an append would. */
static void test_cap(void)
{
    struct tb_buf b;

    tb_buf_init(&b, 10);
    CHECK_OK(tb_buf_adds(&b, "12345"));
    CHECK_EQ(tb_buf_reserve(&b, 6), TB_ETOOBIG);
    CHECK(b.data == NULL);
    CHECK_EQ(b.len, (size_t)0);
    CHECK_OK(tb_buf_reserve(&b, 10));
    CHECK_EQ(tb_buf_reserve(&b, (size_t)-1), TB_ETOOBIG);
    tb_buf_free(&b);
}

int main(void)
{
    test_reserve();
    test_cap();
    CHECK_DONE();
}
