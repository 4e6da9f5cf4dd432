/* Bump allocator: chunks chained newest first, freed together. */
#include "tb_arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE (64 * 1024)

struct tb_arena_chunk {
    struct tb_arena_chunk *next; /* older chunk */
    size_t used;                 /* bytes handed out from data */
    size_t size;                 /* bytes in data */
    alignas(max_align_t) unsigned char data[];
};

void tb_arena_init(struct tb_arena *a)
{
    a->head = NULL;
    a->total = 0;
}

void tb_arena_free(struct tb_arena *a)
{
    struct tb_arena_chunk *c = a->head;

    while (c) {
        struct tb_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    tb_arena_init(a);
}

void *tb_arena_alloc(struct tb_arena *a, size_t n)
{
    const size_t align = alignof(max_align_t);
    struct tb_arena_chunk *c = a->head;
    size_t size;
    void *p;

    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    if (c == NULL || c->size - c->used < n) {
        /* Large requests get a chunk of their own behind the current one,
         * so the space left in the current chunk is not wasted. */
        size = n > CHUNK_SIZE / 4 ? n : CHUNK_SIZE;
        if (n > SIZE_MAX - sizeof(*c))
            return NULL;
        c = malloc(sizeof(*c) + size);
        if (c == NULL)
            return NULL;
        c->used = 0;
        c->size = size;
        if (a->head && size != CHUNK_SIZE) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
        a->total += size;
    }
    p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *tb_arena_strndup(struct tb_arena *a, const char *s, size_t n)
{
    char *p = tb_arena_alloc(a, n + 1);

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
