/*
 * map.c: tb_map, open addressing with linear probing over slots that cache
 * each key's hash (so growth rehashes nothing and most probes compare no
 * bytes), deletion by backward shift (Knuth 6.4, algorithm R) so lookups
 * never wade through tombstones.
 */
#include "tb_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tb_hash.h"

#define MIN_CAP 16

void tb_map_init(struct tb_map *m, size_t max)
{
    memset(m, 0, sizeof(*m));
    m->max = max;
    m->seed = tb_hash_seed();
}

void tb_map_free(struct tb_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->n = 0;
}

/* The slot holding the key, or the empty slot where it would go (cap > 0). */
static size_t find(const struct tb_map *m, const void *key, size_t len, uint64_t hash)
{
    size_t mask = m->cap - 1, i = (size_t)hash & mask;
    const struct tb_map_slot *s;

    for (;; i = (i + 1) & mask) {
        s = &m->slots[i];
        if (s->key == NULL || (s->hash == hash && s->len == len && memcmp(s->key, key, len) == 0))
            return i;
    }
}

void *tb_map_get(const struct tb_map *m, const void *key, size_t len)
{
    size_t i;

    if (m->n == 0)
        return NULL;
    i = find(m, key, len, tb_hash_seeded(m->seed, key, len));
    return m->slots[i].key != NULL ? m->slots[i].value : NULL;
}

/* Moves every entry into a table of cap slots. */
static int resize(struct tb_map *m, size_t cap)
{
    struct tb_map_slot *old = m->slots;
    size_t oldcap = m->cap, i;

    m->slots = calloc(cap, sizeof(*m->slots));
    if (m->slots == NULL) {
        m->slots = old;
        return -ENOMEM;
    }
    m->cap = cap;
    for (i = 0; i < oldcap; i++)
        if (old[i].key != NULL)
            m->slots[find(m, old[i].key, old[i].len, old[i].hash)] = old[i];
    free(old);
    return 0;
}

int tb_map_put(struct tb_map *m, const void *key, size_t len, void *value)
{
    uint64_t hash = tb_hash_seeded(m->seed, key, len);
    size_t i;
    int rc;

    if (m->cap > 0) {
        i = find(m, key, len, hash);
        if (m->slots[i].key != NULL) {
            m->slots[i].key = key;
            m->slots[i].value = value;
            return 0;
        }
    }
    if (m->n >= m->max)
        return TB_ETOOBIG;
    /* At most 3/4 full, so a probe always meets an empty slot. */
    if (4 * (m->n + 1) > 3 * m->cap) {
        if (m->cap > SIZE_MAX / 2 / sizeof(*m->slots))
            return -ENOMEM;
        rc = resize(m, m->cap ? 2 * m->cap : MIN_CAP);
        if (rc)
            return rc;
    }
    i = find(m, key, len, hash);
    m->slots[i] = (struct tb_map_slot){key, len, hash, value};
    m->n++;
    return 0;
}

void *tb_map_del(struct tb_map *m, const void *key, size_t len)
{
    size_t mask = m->cap - 1, i, j, home;
    void *value;

    if (m->n == 0)
        return NULL;
    i = find(m, key, len, tb_hash_seeded(m->seed, key, len));
    if (m->slots[i].key == NULL)
        return NULL;
    value = m->slots[i].value;
    /* Shift back each later entry of the run that may sit in the hole: one
     * whose home slot does not lie cyclically in (i, j]. */
    for (j = (i + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
        home = (size_t)m->slots[j].hash & mask;
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    m->slots[i].key = NULL;
    m->n--;
    return value;
}

const struct tb_map_slot *tb_map_next(const struct tb_map *m, size_t *pos)
{
    for (; *pos < m->cap; (*pos)++)
        if (m->slots[*pos].key != NULL)
            return &m->slots[(*pos)++];
    return NULL;
}
