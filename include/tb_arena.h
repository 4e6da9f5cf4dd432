/*
 * tb_arena: a bump allocator; everything taken from it is freed at once.
 *
 * One arena per parsed document (it owns the struct tb_feed and every string
 * reachable from it) and per HTTP request. Not thread-safe.
 */
#ifndef TB_ARENA_H
#define TB_ARENA_H

#include <stddef.h>

/** Embedded by the caller; zero-initialise or call tb_arena_init(). */
struct tb_arena {
    struct tb_arena_chunk *head; /* newest chunk; older ones chained behind */
    size_t total;                /* bytes allocated in all chunks */
    int bulk;                    /* chunks are large and huge-page backed */
};

/** Prepares an empty arena. */
void tb_arena_init(struct tb_arena *a);

/**
 * Prepares an empty arena for bulk data that grows to many megabytes and
 * lives long (the merge's dedupe): its chunks are mapped a few MB at a
 * time, backed by transparent huge pages where the system allows it, so
 * first touches fault a huge page at a time instead of 4 KiB. Freed with
 * tb_arena_free() like any arena.
 */
void tb_arena_init_bulk(struct tb_arena *a);

/** Frees every chunk; the arena is empty and reusable afterwards. */
void tb_arena_free(struct tb_arena *a);

/** Returns `n` zeroed bytes aligned for any type, or NULL when out of memory. */
void *tb_arena_alloc(struct tb_arena *a, size_t n);

/** Copies `n` bytes and adds a NUL. NULL when out of memory. */
char *tb_arena_strndup(struct tb_arena *a, const char *s, size_t n);

/** Copies a NUL-terminated string; NULL in gives NULL out. */
char *tb_arena_strdup(struct tb_arena *a, const char *s);

#endif
