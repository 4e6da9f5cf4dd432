/*
 * tb_vec.h: the growth of a plain C array (T *v with its count and
 * allocation kept by the caller, as libuv and curl keep theirs): doubling,
 * a hard cap on the number of elements, and checked size arithmetic.
 *
 *     struct item *v = NULL;
 *     size_t n = 0, alloc = 0;
 *
 *     rc = TB_VEC_RESERVE(v, alloc, n + 1, MAX_ITEMS);
 *     if (rc == 0)
 *         v[n++] = item;
 *     ...
 *     free(v);
 */
#ifndef TB_VEC_H
#define TB_VEC_H

#include <stddef.h>

#include "tb_log.h"

/** Most elements any array may hold when the caller names no smaller cap. */
#define TB_VEC_MAX ((size_t)1 << 30)

/**
 * Makes room for at least `need` elements of `size` bytes in the array whose
 * address is arrayp (a T **, passed as void *), *alloc of them allocated:
 * the allocation doubles (8 at first) but never passes `max` elements.
 * Returns 0; TB_ETOOBIG when need > max or the bytes overflow size_t;
 * -ENOMEM. On failure the array and *alloc are untouched (still the
 * caller's to free). Use it through TB_VEC_RESERVE().
 */
TB_NODISCARD int tb_vec_reserve(void *arrayp, size_t *alloc, size_t need, size_t size, size_t max);

/** tb_vec_reserve() for the array `v` (a T * lvalue) and its `alloc` (a size_t lvalue). */
#define TB_VEC_RESERVE(v, alloc, need, max)                                                        \
    tb_vec_reserve(&(v), &(alloc), (need), sizeof(*(v)), (max))

#endif
