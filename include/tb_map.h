/*
 * tb_map.h: a hash table from byte-string keys to pointers (open addressing
 * with linear probing, like redis's dict in job, not in layout): it grows
 * by doubling at 3/4 full, deletes without tombstones (backward shift), and
 * has a hard cap on its number of entries.
 *
 * Keys are borrowed: the caller keeps each key's bytes alive and unchanged
 * while it is in the map (typically the key is a member of the value).
 * The hash is FNV-1a from a seed each map draws at tb_map_init()
 * (tb_hash_seed()), so keys read from feeds, which an attacker could craft,
 * cannot know where they land.
 */
#ifndef TB_MAP_H
#define TB_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "tb_log.h"

/** One slot; `key` NULL marks it empty. */
struct tb_map_slot {
    const char *key; /* borrowed */
    size_t len;      /* key bytes */
    uint64_t hash;   /* tb_hash_seeded() of the key */
    void *value;     /* the caller's */
};

/** Embedded by the caller; tb_map_init() before use, tb_map_free() after. */
struct tb_map {
    struct tb_map_slot *slots; /* cap slots, or NULL while empty */
    size_t cap;                /* a power of two, or 0 */
    size_t n;                  /* entries held */
    size_t max;                /* most entries tb_map_put() accepts */
    uint64_t seed;             /* the hash's seed */
};

/** Prepares an empty map that holds at most `max` entries. */
void tb_map_init(struct tb_map *m, size_t max);

/** Frees the slots (not the keys or values); the map is empty and reusable. */
void tb_map_free(struct tb_map *m);

/** The value of the len-byte key, or NULL when absent. */
void *tb_map_get(const struct tb_map *m, const void *key, size_t len);

/**
 * Sets the value (not NULL: NULL means absent) of the len-byte key, adding
 * it or replacing its value (the key pointer kept is then the new one). Returns 0, TB_ETOOBIG when
 * a new key would pass the cap, or -ENOMEM; on failure the map is unchanged.
 */
TB_NODISCARD int tb_map_put(struct tb_map *m, const void *key, size_t len, void *value);

/** Removes the key. Returns its value, or NULL when absent. */
void *tb_map_del(struct tb_map *m, const void *key, size_t len);

/**
 * Iterates: start with *pos = 0; each call returns the next entry's slot
 * (read-only) and advances *pos, or NULL at the end. The map must not change
 * during the walk, except through tb_map_free() once it is over.
 */
const struct tb_map_slot *tb_map_next(const struct tb_map *m, size_t *pos);

#endif
