/* Bump allocator: chunks chained newest first, freed together. */
#include "tb_arena.h"

#include <stdalign.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE (64 * 1024)
#define HUGE_PAGE ((size_t)2 << 20) /* x86-64's and arm64's usual PMD size */
#define BULK_CHUNK (2 * HUGE_PAGE)  /* a bulk arena's mapping, header included */

struct tb_arena_chunk {
    struct tb_arena_chunk *next; /* older chunk */
    size_t used;                 /* bytes handed out from data */
    size_t size;                 /* bytes in data */
    size_t map;                  /* length of its own mapping, or 0 when malloc'd */
    alignas(max_align_t) unsigned char data[];
};

void tb_arena_init(struct tb_arena *a)
{
    a->head = NULL;
    a->total = 0;
    a->bulk = 0;
}

void tb_arena_init_bulk(struct tb_arena *a)
{
    tb_arena_init(a);
    a->bulk = 1;
}

void tb_arena_free(struct tb_arena *a)
{
    struct tb_arena_chunk *c = a->head;
    int bulk = a->bulk;

    while (c) {
        struct tb_arena_chunk *next = c->next;

        if (c->map)
            munmap(c, c->map);
        else
            free(c);
        c = next;
    }
    tb_arena_init(a);
    a->bulk = bulk;
}

/* len bytes (a multiple of HUGE_PAGE) of zeroed memory aligned to a huge
 * page, which the kernel may back with huge pages; NULL when unmappable. */
static void *map_huge(size_t len)
{
    char *p =
        mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    size_t head;

    if (p == MAP_FAILED)
        return NULL;
    head = (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
    if (head > 0)
        munmap(p, head);
    if (HUGE_PAGE - head > 0)
        munmap(p + head + len, HUGE_PAGE - head);
#if defined(MADV_HUGEPAGE)
    /* Only advice: without THP the pages are ordinary ones. */
    (void)madvise(p + head, len, MADV_HUGEPAGE);
#endif
    return p + head;
}

/* A chunk with room for `size` bytes of data: malloc'd, or in a bulk arena
 * mapped (whole huge pages) and so already zeroed. NULL when out of memory. */
static struct tb_arena_chunk *chunk_new(const struct tb_arena *a, size_t size)
{
    struct tb_arena_chunk *c;
    size_t map = 0;

    if (size > SIZE_MAX - sizeof(*c) - 2 * HUGE_PAGE)
        return NULL;
    if (a->bulk) {
        map = (sizeof(*c) + size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        c = map_huge(map);
    } else {
        c = malloc(sizeof(*c) + size);
    }
    if (c == NULL)
        return NULL;
    c->used = 0;
    c->size = size;
    c->map = map;
    return c;
}

/* n bytes (at least one) at a multiple of align (a power of two, at most
 * max_align_t's), not cleared; NULL when out of memory. */
static void *bump(struct tb_arena *a, size_t n, size_t align)
{
    struct tb_arena_chunk *c = a->head;
    size_t std, pad = 0;
    void *p;
    int own;

    n = n ? n : 1;
    if (c != NULL)
        pad = (0 - c->used) & (align - 1); /* data itself is max-aligned */
    if (c == NULL || c->size - c->used < n || c->size - c->used - n < pad) {
        /* Large requests get a chunk of their own behind the current one,
         * so the space left in the current chunk is not wasted. */
        std = a->bulk ? BULK_CHUNK - sizeof(*c) : CHUNK_SIZE;
        own = n > std / 4;
        c = chunk_new(a, own ? n : std);
        if (c == NULL)
            return NULL;
        if (a->head && own) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
        a->total += c->size;
        pad = 0;
    }
    p = c->data + c->used + pad;
    c->used += pad + n;
    return p;
}

void *tb_arena_alloc(struct tb_arena *a, size_t n)
{
    void *p = bump(a, n, alignof(max_align_t));

    if (p != NULL && !a->bulk) /* a bulk arena's mapped chunks are zeroed, never reused */
        memset(p, 0, n);
    return p;
}

char *tb_arena_strndup(struct tb_arena *a, const char *s, size_t n)
{
    /* Strings are packed (no alignment) and not cleared before the copy. */
    char *p = n < SIZE_MAX ? bump(a, n + 1, 1) : NULL;

    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *tb_arena_strdup(struct tb_arena *a, const char *s)
{
    return s ? tb_arena_strndup(a, s, strlen(s)) : NULL;
}
