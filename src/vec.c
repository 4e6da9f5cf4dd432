/*
 * vec.c: tb_vec_reserve(), the one growth rule of the hand-kept arrays.
 */
#include "tb_vec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int tb_vec_reserve(void *arrayp, size_t *alloc, size_t need, size_t size, size_t max)
{
    size_t a = *alloc;
    void *v;

    if (need <= a)
        return 0;
    if (need > max || size == 0 || need > SIZE_MAX / size)
        return TB_ETOOBIG;
    if (a < 8)
        a = 8;
    while (a < need)
        a = a > SIZE_MAX / 2 ? need : 2 * a;
    if (a > max)
        a = max;
    if (a > SIZE_MAX / size)
        a = need;
    /* The array pointer is copied in and out as bytes: arrayp points at a
     * T *, which C does not let us write through a void **. */
    memcpy(&v, arrayp, sizeof(v));
    v = realloc(v, a * size);
    if (v == NULL)
        return -ENOMEM;
    memcpy(arrayp, &v, sizeof(v));
    *alloc = a;
    return 0;
}
