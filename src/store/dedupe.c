/*
 * In-memory dedupe for `merge` without a database: the rules of
 * store_put.c and the order of topic.c, over hash tables.
 *
 * Every kept entry is a record with the rowid the store would have given it
 * (its insertion order), its origin source and its change digest. The
 * cross-source indexes (arXiv id, DOI, canonical link) may hold several
 * records per value, since an update in place can give a record the value
 * another one already has; a lookup takes the earliest, as the store's
 * "ORDER BY id LIMIT 1" does.
 *
 * Entries are deep-copied into the dedupe's arena in the form they would
 * read back from the store: list members that are not UTF-8 (which the JSON
 * columns cannot hold) are absent, a negative link length is -1, flags are
 * 0 or 1, empty identifiers none.
 */
#include "tb_dedupe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tb_arxiv.h"
#include "tb_hash.h"
#include "tb_store.h"
#include "tb_vec.h"

#define DIGEST_LEN TB_SHA256_LEN

enum { IX_ARXIV, IX_DOI, IX_CANON, IX_COUNT };

/* One source, by name, with its feed metadata as the store's sources row. */
struct src {
    const char *name;    /* the name given to put; also its URL */
    const char *feed_id; /* last non-NULL feed id (else self), or NULL */
    const char *title;   /* last non-NULL feed title, or NULL */
    const char *link;    /* last non-NULL feed link, or NULL */
    const char *self;    /* last non-NULL feed self, or NULL */
    int once;            /* put with a digest-less prep: no second put */
    int arxiv_record;    /* its last feed with a link was arXiv's (tb_arxiv_is_record()) */
};

/* One kept entry. */
struct rec {
    struct tb_entry e;                /* as published; strings in the dedupe's arena */
    uint64_t id;                      /* insertion order (the store's rowid) */
    struct src *origin;               /* the source that first carried it */
    int64_t sort_time;                /* published, else updated, else first seen */
    unsigned char digest[DIGEST_LEN]; /* change digest of its current content */
    int has_digest;                   /* digest is set (not from a digest-less prep) */
};

/* A hash table node: a string key, optionally scoped to a source. */
struct node {
    struct node *next; /* next in the bucket */
    uint64_t h;        /* hash of (scope, k) */
    const char *k;     /* the key */
    const void *scope; /* the source for own keys, else NULL */
    void *v;           /* the record or source */
};

/* Chained hash table; nodes live in the dedupe's arena. Not tb_map: its keys
 * are (source, string) pairs, which tb_map could only hold as a composite
 * key built per lookup, and the identifier tables map one key to several
 * records. It shares tb_map's seeded hash (tb_hash_seeded()). Speed is not
 * the reason: htab_add + htab_find are 0.86% of merge's instructions on
 * contrib/bench/merge's quick corpus (callgrind). */
struct htab {
    struct node **b; /* buckets (malloc'd) */
    size_t nb;       /* number of buckets, a power of two */
    size_t n;        /* nodes in it */
};

struct tb_dedupe {
    struct tb_arena arena;    /* records, sources, nodes and copied strings */
    struct htab srcs;         /* source name -> struct src */
    struct htab keys;         /* (source, key) -> record */
    struct htab outs;         /* out_id -> record */
    struct htab ix[IX_COUNT]; /* identifier -> records carrying it */
    struct rec **recs;        /* every record, in insertion order (malloc'd) */
    size_t nrecs, alloc;      /* used and allocated slots of recs */
    struct node *spare;       /* unlinked nodes, for reuse */
    uint64_t seed;            /* per-process hash seed */
    int64_t now;              /* the clock when the current put began */
};

struct tb_dedupe_prep {
    const struct tb_feed *feed;      /* the feed the digests were made for */
    size_t n;                        /* its number of entries */
    unsigned char (*dg)[DIGEST_LEN]; /* one per entry, in document order; NULL when
                                        the feed repeats nothing (a `once` prep) */
};

/* Hashing and tables. */

/* The scope (a source, or NULL) goes into the seed, the key into tb_hash_seeded(). */
static uint64_t hash(uint64_t seed, const void *scope, const char *k)
{
    return tb_hash_seeded(seed ^ ((uint64_t)(uintptr_t)scope * 0x9E3779B97F4A7C15u), k, strlen(k));
}

static int htab_grow(struct htab *t)
{
    size_t nb = t->nb ? 2 * t->nb : 1024, i;
    struct node **b = calloc(nb, sizeof(*b)), *x, *next;

    if (b == NULL)
        return -ENOMEM;
    for (i = 0; i < t->nb; i++) {
        for (x = t->b[i]; x != NULL; x = next) {
            next = x->next;
            x->next = b[x->h & (nb - 1)];
            b[x->h & (nb - 1)] = x;
        }
    }
    free(t->b);
    t->b = b;
    t->nb = nb;
    return 0;
}

static int htab_add(struct tb_dedupe *d, struct htab *t, const void *scope, const char *k, void *v)
{
    struct node *x = d->spare;

    if (t->n >= t->nb && htab_grow(t) != 0)
        return -ENOMEM;
    if (x != NULL)
        d->spare = x->next;
    else
        x = tb_arena_alloc(&d->arena, sizeof(*x));
    if (x == NULL)
        return -ENOMEM;
    x->h = hash(d->seed, scope, k);
    x->k = k;
    x->scope = scope;
    x->v = v;
    x->next = t->b[x->h & (t->nb - 1)];
    t->b[x->h & (t->nb - 1)] = x;
    t->n++;
    return 0;
}

/* The first node with this key, or NULL. */
static struct node *htab_find(const struct tb_dedupe *d, const struct htab *t, const void *scope,
                              const char *k)
{
    uint64_t h;
    struct node *x;

    if (t->nb == 0)
        return NULL;
    h = hash(d->seed, scope, k);
    for (x = t->b[h & (t->nb - 1)]; x != NULL; x = x->next) {
        if (x->h == h && x->scope == scope && strcmp(x->k, k) == 0)
            return x;
    }
    return NULL;
}

/* The earliest record carrying identifier k, or NULL. */
static struct rec *ix_first(const struct tb_dedupe *d, const struct htab *t, const char *k)
{
    uint64_t h;
    struct node *x;
    struct rec *best = NULL, *r;

    if (t->nb == 0)
        return NULL;
    h = hash(d->seed, NULL, k);
    for (x = t->b[h & (t->nb - 1)]; x != NULL; x = x->next) {
        r = x->v;
        if (x->h == h && strcmp(x->k, k) == 0 && (best == NULL || r->id < best->id))
            best = r;
    }
    return best;
}

/* Unlinks the node of record r under identifier k. */
static void ix_remove(struct tb_dedupe *d, struct htab *t, const char *k, const struct rec *r)
{
    struct node **p = &t->b[hash(d->seed, NULL, k) & (t->nb - 1)], *x;

    for (; *p != NULL; p = &(*p)->next) {
        x = *p;
        if (x->v == r && strcmp(x->k, k) == 0) {
            *p = x->next;
            x->next = d->spare;
            d->spare = x;
            t->n--;
            return;
        }
    }
}

/* Strings as the store's JSON list columns keep them. */

/* A list member as it reads back: v when the store keeps it, else absent. */
static const char *member(const char *v)
{
    return v != NULL && tb_store_list_member_ok(v) ? v : NULL;
}

/* Change digests. */

static void digest_int(struct tb_sha256 *h, int64_t v)
{
    tb_sha256_update(h, &v, sizeof(v));
}

/* The lists count as their JSON columns do: member by member, each present
 * only when UTF-8, so equal digests mean equal columns. */
static void digest_lists(struct tb_sha256 *h, const struct tb_entry *e)
{
    const struct tb_person *p;
    const struct tb_category *k;

    for (p = e->authors; p != NULL; p = p->next) {
        digest_int(h, 1);
        tb_sha256_add_str(h, member(p->name));
        tb_sha256_add_str(h, member(p->email));
        tb_sha256_add_str(h, member(p->uri));
    }
    digest_int(h, 0);
    for (k = e->categories; k != NULL; k = k->next) {
        digest_int(h, 1);
        tb_sha256_add_str(h, member(k->term));
        tb_sha256_add_str(h, member(k->scheme));
        tb_sha256_add_str(h, member(k->label));
    }
    digest_int(h, 0);
}

/* What the store's change hash covers (store_prep.c), and only that. */
static int digest_entry(struct tb_sha256 *h, const struct tb_entry *e,
                        unsigned char out[DIGEST_LEN])
{
    if (tb_sha256_init(h) != 0)
        return -ENOMEM;
    tb_sha256_add_str(h, e->title);
    tb_sha256_add_str(h, e->link);
    tb_sha256_add_str(h, e->summary.value);
    tb_sha256_add_str(h, e->content.value);
    digest_int(h, e->updated);
    digest_int(h, e->summary.is_html);
    digest_int(h, e->content.is_html);
    digest_lists(h, e);
    if (e->content.type != NULL)
        tb_sha256_add_str(h, e->content.type);
    return tb_sha256_final(h, out);
}

/* The digests of f's entries into p->dg (allocated in f's arena). */
static int prepare_digests(struct tb_feed *f, struct tb_dedupe_prep *p)
{
    struct tb_sha256 h = {0};
    const struct tb_entry *e;
    size_t i = 0;
    int rc;

    p->dg = tb_arena_alloc(&f->arena, (f->nentries ? f->nentries : 1) * DIGEST_LEN);
    rc = p->dg ? 0 : -ENOMEM;
    for (e = f->entries; rc == 0 && e != NULL && i < p->n; e = e->next)
        rc = digest_entry(&h, e, p->dg[i++]);
    if (rc == 0 && (e != NULL || i != p->n))
        rc = -EINVAL; /* nentries does not count the list */
    tb_sha256_free(&h);
    return rc;
}

static struct tb_dedupe_prep *new_prep(struct tb_feed *f)
{
    struct tb_dedupe_prep *p = tb_arena_alloc(&f->arena, sizeof(*p));

    if (p != NULL) {
        p->feed = f;
        p->n = f->nentries;
        p->dg = NULL;
    }
    return p;
}

int tb_dedupe_prepare(struct tb_feed *f, struct tb_dedupe_prep **out)
{
    struct tb_dedupe_prep *p = new_prep(f);
    int rc = p ? prepare_digests(f, p) : -ENOMEM;

    *out = rc ? NULL : p;
    return rc;
}

/* A string of one kind (key or identifier) of an entry, for finding repeats. */
struct kstr {
    uint64_t h;    /* hash of s */
    int kind;      /* 0 key, else 1 + IX_* */
    const char *s; /* the string */
};

static int kstr_cmp(const void *a, const void *b)
{
    const struct kstr *x = a, *y = b;

    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return strcmp(x->s, y->s);
}

static const char *ident_of(const struct tb_entry *e, int ix);

/* The strings of f to look for repeats in, in *v (malloc'd); their number,
 * or -ENOMEM. */
static long collect_kstr(const struct tb_feed *f, struct kstr **v)
{
    size_t n = 0, cap = f->nentries * (IX_COUNT + 1);
    const struct tb_entry *e;
    int kind;

    *v = malloc((cap ? cap : 1) * sizeof(**v));
    if (*v == NULL)
        return -ENOMEM;
    for (e = f->entries; e != NULL && n + IX_COUNT + 1 <= cap; e = e->next) {
        for (kind = 0; kind <= IX_COUNT; kind++) {
            (*v)[n].s = kind == 0 ? e->key : ident_of(e, kind - 1);
            (*v)[n].kind = kind;
            (*v)[n].h = (*v)[n].s ? hash(0x5bd1e995u, NULL, (*v)[n].s) ^ (uint64_t)kind : 0;
            n += (*v)[n].s != NULL;
        }
    }
    return e != NULL ? -EINVAL : (long)n; /* nentries does not count the list */
}

/* Whether two of the n strings of v are equal, through an open-addressing
 * table; -1 when a probe runs long (crafted collisions), for the caller to
 * sort instead, or -ENOMEM. Not tb_map: a throw-away set over precomputed
 * seeded hashes whose probe limit is the defence against crafted keys. */
static int repeats_hashed(const struct kstr *v, size_t n)
{
    size_t cap = 64, i, k, probe;
    const struct kstr **t;
    int found = 0;

    while (cap < 2 * n)
        cap *= 2;
    t = calloc(cap, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    for (i = 0; i < n && !found; i++) {
        for (k = v[i].h & (cap - 1), probe = 0; t[k] != NULL; k = (k + 1) & (cap - 1)) {
            if (t[k]->h == v[i].h && kstr_cmp(t[k], &v[i]) == 0)
                found = 1;
            if (found || ++probe == 32)
                break;
        }
        if (probe == 32 && !found)
            found = -1;
        t[k] = &v[i];
    }
    free(t);
    return found;
}

/* 1 when two entries of f share a key or an identifier of one kind (so
 * that one may update the other), 0 when not, or -ENOMEM. A hash table
 * answers in O(n); should it degrade, sorting keeps it O(n log n)
 * whatever the strings. */
static int repeats(const struct tb_feed *f)
{
    struct kstr *v;
    long n = collect_kstr(f, &v);
    int found;
    size_t i;

    if (n < 0) {
        free(v);
        return n == -EINVAL ? 1 : -ENOMEM; /* a list longer than counted: be safe */
    }
    found = repeats_hashed(v, (size_t)n);
    if (found == -1) {
        qsort(v, (size_t)n, sizeof(*v), kstr_cmp);
        for (i = 1, found = 0; !found && i < (size_t)n; i++)
            found = kstr_cmp(&v[i - 1], &v[i]) == 0;
    }
    free(v);
    return found;
}

int tb_dedupe_prepare_once(struct tb_feed *f, struct tb_dedupe_prep **out)
{
    struct tb_dedupe_prep *p = new_prep(f);
    int rc = p ? repeats(f) : -ENOMEM;

    if (rc == 1)
        rc = prepare_digests(f, p);
    *out = rc < 0 ? NULL : p;
    return rc < 0 ? rc : 0;
}

/* Copies, in the form entries read back from the store. Each sets *bad when
 * out of memory. */

static const char *dup(struct tb_arena *a, const char *s, int *bad)
{
    const char *d = s ? tb_arena_strdup(a, s) : NULL;

    *bad |= s != NULL && d == NULL;
    return d;
}

static struct tb_person *copy_people(struct tb_arena *a, const struct tb_person *p, int *bad)
{
    struct tb_person *head = NULL, **tail = &head, *q;

    for (; p != NULL && !*bad; p = p->next) {
        q = tb_arena_alloc(a, sizeof(*q));
        if (q == NULL) {
            *bad = 1;
            break;
        }
        q->name = member(p->name) ? dup(a, p->name, bad) : "";
        q->email = dup(a, member(p->email), bad);
        q->uri = dup(a, member(p->uri), bad);
        q->next = NULL;
        *tail = q;
        tail = &q->next;
    }
    return head;
}

static struct tb_category *copy_categories(struct tb_arena *a, const struct tb_category *c,
                                           int *bad)
{
    struct tb_category *head = NULL, **tail = &head, *q;

    for (; c != NULL && !*bad; c = c->next) {
        q = tb_arena_alloc(a, sizeof(*q));
        if (q == NULL) {
            *bad = 1;
            break;
        }
        q->term = member(c->term) ? dup(a, c->term, bad) : "";
        q->scheme = dup(a, member(c->scheme), bad);
        q->label = dup(a, member(c->label), bad);
        q->next = NULL;
        *tail = q;
        tail = &q->next;
    }
    return head;
}

static struct tb_link *copy_links(struct tb_arena *a, const struct tb_link *l, int *bad)
{
    struct tb_link *head = NULL, **tail = &head, *q;

    for (; l != NULL && !*bad; l = l->next) {
        q = tb_arena_alloc(a, sizeof(*q));
        if (q == NULL) {
            *bad = 1;
            break;
        }
        q->href = dup(a, member(l->href), bad);
        q->rel = dup(a, member(l->rel), bad);
        q->type = dup(a, member(l->type), bad);
        q->title = dup(a, member(l->title), bad);
        q->length = l->length >= 0 ? l->length : -1;
        q->next = NULL;
        *tail = q;
        tail = &q->next;
    }
    return head;
}

/* Replaces r's content (what an insert or an update writes, but dates and
 * identifiers) with a copy of e's. */
static int copy_content(struct tb_arena *a, struct tb_entry *r, const struct tb_entry *e)
{
    int bad = 0;

    r->id = dup(a, e->id, &bad);
    r->id_is_permalink = e->id_is_permalink != 0;
    r->title = dup(a, e->title, &bad);
    r->link = dup(a, e->link, &bad);
    r->links = copy_links(a, e->links, &bad);
    r->authors = copy_people(a, e->authors, &bad);
    r->contributors = copy_people(a, e->contributors, &bad);
    r->summary.value = dup(a, e->summary.value, &bad);
    r->summary.is_html = e->summary.is_html != 0;
    r->content.value = dup(a, e->content.value, &bad);
    r->content.is_html = e->content.is_html != 0;
    r->content.type = dup(a, e->content.type, &bad);
    r->categories = copy_categories(a, e->categories, &bad);
    r->rights = dup(a, e->rights, &bad);
    r->base = dup(a, e->base, &bad);
    return bad ? -ENOMEM : 0;
}

/* Identity: out_id, identifiers, matching. */

/* Empty identifiers are as good as none: they must never match each other. */
static const char *ident(const char *v)
{
    return (v != NULL && *v != '\0') ? v : NULL;
}

static const char *ident_of(const struct tb_entry *e, int ix)
{
    return ident(ix == IX_ARXIV ? e->arxiv_id : ix == IX_DOI ? e->doi : e->canon_link);
}

static const char **ident_slot(struct tb_entry *e, int ix)
{
    return ix == IX_ARXIV ? &e->arxiv_id : ix == IX_DOI ? &e->doi : &e->canon_link;
}

/* The upstream id when it is free, an absolute IRI outside our tag
 * namespace and not a script URL; else the tag. */
static int choose_out_id(struct tb_dedupe *d, const struct src *s, const struct tb_entry *e,
                         struct rec *r, char *err, size_t errlen)
{
    char tag[TB_STORE_TAG_SIZE];
    const char *id = tb_store_upstream_id(e);
    int rc;

    if (id != NULL && htab_find(d, &d->outs, NULL, id) == NULL) {
        r->e.out_id = tb_arena_strdup(&d->arena, id);
    } else {
        rc = tb_store_tag_id(s->name, e->key, tag);
        if (rc != 0)
            return rc;
        if (htab_find(d, &d->outs, NULL, tag) != NULL) {
            snprintf(err, errlen, "entry id %s is taken", tag);
            return -EEXIST;
        }
        r->e.out_id = tb_arena_strdup(&d->arena, tag);
    }
    if (r->e.out_id == NULL)
        return -ENOMEM;
    return htab_add(d, &d->outs, NULL, r->e.out_id, r);
}

static int push_rec(struct tb_dedupe *d, struct rec *r)
{
    int rc = TB_VEC_RESERVE(d->recs, d->alloc, d->nrecs + 1, TB_VEC_MAX);

    if (rc == 0)
        d->recs[d->nrecs++] = r;
    return rc;
}

/* A new record: the store's insert. */
static int insert(struct tb_dedupe *d, struct src *s, const struct tb_entry *e,
                  const unsigned char *dg, int64_t seen_at, char *err, size_t errlen)
{
    struct rec *r = tb_arena_alloc(&d->arena, sizeof(*r));
    int rc, ix;

    if (r == NULL)
        return -ENOMEM;
    memset(r, 0, sizeof(*r));
    r->id = d->nrecs + 1;
    r->origin = s;
    r->has_digest = dg != NULL;
    if (dg != NULL)
        memcpy(r->digest, dg, DIGEST_LEN);
    r->e.published = tb_store_clamp_date(e->published, seen_at, d->now);
    r->e.updated = tb_store_clamp_date(e->updated, seen_at, d->now);
    r->sort_time = r->e.published != TB_TIME_NONE ? r->e.published
                   : r->e.updated != TB_TIME_NONE ? r->e.updated
                                                  : seen_at;
    rc = copy_content(&d->arena, &r->e, e);
    r->e.key = rc ? NULL : tb_arena_strdup(&d->arena, e->key);
    rc = (rc || r->e.key == NULL) ? -ENOMEM : 0;
    rc = rc ? rc : choose_out_id(d, s, e, r, err, errlen);
    for (ix = 0; rc == 0 && ix < IX_COUNT; ix++) {
        *ident_slot(&r->e, ix) =
            ident_of(e, ix) ? tb_arena_strdup(&d->arena, ident_of(e, ix)) : NULL;
        if (ident_of(e, ix) && *ident_slot(&r->e, ix) == NULL)
            rc = -ENOMEM;
        else if (ident_of(e, ix))
            rc = htab_add(d, &d->ix[ix], NULL, *ident_slot(&r->e, ix), r);
    }
    rc = rc ? rc : htab_add(d, &d->keys, s, r->e.key, r);
    return rc ? rc : push_rec(d, r);
}

/* A changed copy from the record's origin: the store's update in place. */
static int refresh(struct tb_dedupe *d, struct rec *r, const struct tb_entry *e,
                   const unsigned char *dg, int64_t seen_at)
{
    const char *v, **slot;
    int rc = copy_content(&d->arena, &r->e, e);
    int ix;

    for (ix = 0; rc == 0 && ix < IX_COUNT; ix++) {
        v = ident_of(e, ix);
        slot = ident_slot(&r->e, ix);
        if (v == NULL || (*slot != NULL && strcmp(*slot, v) == 0))
            continue; /* coalesce(new, old) keeps the old one */
        if (*slot != NULL)
            ix_remove(d, &d->ix[ix], *slot, r);
        *slot = tb_arena_strdup(&d->arena, v);
        rc = *slot ? htab_add(d, &d->ix[ix], NULL, *slot, r) : -ENOMEM;
    }
    if (e->published != TB_TIME_NONE)
        r->e.published = tb_store_clamp_date(e->published, seen_at, d->now);
    r->e.updated =
        tb_store_clamp_date(e->updated != TB_TIME_NONE ? e->updated : seen_at, seen_at, d->now);
    r->sort_time = r->e.published != TB_TIME_NONE ? r->e.published : r->e.updated;
    r->has_digest = dg != NULL; /* NULL: a once source taking over, never put again */
    if (dg != NULL)
        memcpy(r->digest, dg, DIGEST_LEN);
    return rc;
}

/* The record e is a copy of: by the source's own key (*own set), else by
 * arXiv id, DOI or canonical link in any source; or NULL. */
static struct rec *find(struct tb_dedupe *d, const struct src *s, const struct tb_entry *e,
                        int *own)
{
    struct node *x = htab_find(d, &d->keys, s, e->key);
    struct rec *r = NULL;
    int ix;

    *own = x != NULL;
    if (x != NULL)
        return x->v;
    for (ix = 0; r == NULL && ix < IX_COUNT; ix++) {
        if (ident_of(e, ix) != NULL)
            r = ix_first(d, &d->ix[ix], ident_of(e, ix));
    }
    return r;
}

/* A copy of a kept record: the origin's changed copy updates it; arXiv's
 * own record of a paper (record: the feed is arXiv's) takes over a record
 * from elsewhere, as store_put.c's refresh_entry() does. */
static int put_entry(struct tb_dedupe *d, struct src *s, const struct tb_entry *e,
                     const unsigned char *dg, int64_t seen_at, int record, char *err, size_t errlen)
{
    int own, rc = 0;
    struct rec *r = find(d, s, e, &own);
    const char *key;

    if (r == NULL)
        return insert(d, s, e, dg, seen_at, err, errlen);
    if (!own) {
        key = tb_arena_strdup(&d->arena, e->key);
        rc = key ? htab_add(d, &d->keys, s, key, r) : -ENOMEM;
    }
    if (rc == 0 && record && !r->origin->arxiv_record && e->arxiv_id != NULL) {
        r->origin = s;
        return refresh(d, r, e, dg, seen_at);
    }
    if (rc != 0 || r->origin != s)
        return rc;
    if (dg == NULL || !r->has_digest) {
        snprintf(err, errlen, "entry %s repeats in a feed prepared without digests", e->key);
        return -EINVAL; /* tb_dedupe_prepare_once() rules this out */
    }
    if (memcmp(r->digest, dg, DIGEST_LEN) == 0)
        return rc;
    return refresh(d, r, e, dg, seen_at);
}

/* Sources. */

static const char *coalesce(struct tb_arena *a, const char *v, const char *old, int *bad)
{
    return v != NULL ? dup(a, v, bad) : old;
}

/* The source named `name`, created on first use, with f's metadata. */
static int get_source(struct tb_dedupe *d, const char *name, const struct tb_feed *f, int once,
                      struct src **out)
{
    struct node *x = htab_find(d, &d->srcs, NULL, name);
    struct src *s = x ? x->v : tb_arena_alloc(&d->arena, sizeof(*s));
    int bad = s == NULL, rc = 0;

    if (x == NULL && s != NULL) {
        memset(s, 0, sizeof(*s));
        s->name = dup(&d->arena, name, &bad);
        rc = bad ? -ENOMEM : htab_add(d, &d->srcs, NULL, s->name, s);
    }
    if (rc != 0 || bad)
        return -ENOMEM;
    if (x != NULL && (once || s->once))
        return -EALREADY;
    s->once = once;
    s->feed_id = coalesce(&d->arena, f->id ? f->id : f->self, s->feed_id, &bad);
    s->title = coalesce(&d->arena, f->title, s->title, &bad);
    s->link = coalesce(&d->arena, f->link, s->link, &bad);
    s->self = coalesce(&d->arena, f->self, s->self, &bad);
    if (f->link != NULL)
        s->arxiv_record = tb_arxiv_is_record(f->link);
    *out = s;
    return bad ? -ENOMEM : 0;
}

/* Checks what put needs before anything changes: keys, and prep's fit. */
static int check_feed(const struct tb_feed *f, const struct tb_dedupe_prep *prep, char *err,
                      size_t errlen)
{
    const struct tb_entry *e;

    for (e = f->entries; e != NULL; e = e->next) {
        if (e->key == NULL) {
            snprintf(err, errlen, "entry without a key (was the feed normalized?)");
            return -EINVAL;
        }
    }
    if (prep != NULL && (prep->feed != f || prep->n != f->nentries)) {
        snprintf(err, errlen, "entries not prepared for this feed");
        return -EINVAL;
    }
    return 0;
}

int tb_dedupe_put(struct tb_dedupe *d, const char *name, const struct tb_feed *f,
                  const struct tb_dedupe_prep *prep, int64_t seen_at, char *err, size_t errlen)
{
    unsigned char dg[DIGEST_LEN];
    const struct tb_entry *e;
    struct tb_sha256 h = {0};
    struct src *s = NULL;
    size_t i = 0;
    int rc;

    if (errlen > 0)
        err[0] = '\0';
    d->now = (int64_t)time(NULL);
    rc = check_feed(f, prep, err, errlen);
    /* Without prep the digests are made here, one entry at a time. */
    if (rc == 0)
        rc = get_source(d, name, f, prep != NULL && prep->dg == NULL, &s);
    if (rc == -EALREADY) {
        snprintf(err, errlen, "source %s put again, but a put of it skipped digests", name);
        rc = -EINVAL;
    }
    for (e = f->entries; rc == 0 && e != NULL; e = e->next, i++) {
        if (prep == NULL)
            rc = digest_entry(&h, e, dg);
        if (rc == 0)
            rc = put_entry(d, s, e,
                           prep == NULL ? dg
                           : prep->dg   ? prep->dg[i]
                                        : NULL,
                           seen_at, tb_arxiv_is_record(f->link), err, errlen);
    }
    tb_sha256_free(&h);
    if (rc != 0 && errlen > 0 && err[0] == '\0')
        snprintf(err, errlen, "%s", tb_strerror(rc));
    return rc;
}

/* Selection. */

/* A record's sort key, next to it: sorting these reads a record only for
 * a tie, where sorting the records themselves read two per comparison. */
struct skey {
    int64_t t;     /* the record's sort_time */
    struct rec *r; /* the record */
};

/* Newest first, ties by out_id: topic.c's ORDER BY sort_time DESC, out_id. */
static int newest_first(const void *a, const void *b)
{
    const struct skey *x = a, *y = b;

    if (x->t != y->t)
        return x->t > y->t ? -1 : 1;
    return strcmp(x->r->e.out_id, y->r->e.out_id);
}

/* The byte of t at `shift` in an order where larger times come first. */
static unsigned time_digit(int64_t t, unsigned shift)
{
    return (unsigned)((~((uint64_t)t ^ UINT64_C(0x8000000000000000))) >> shift) & 0xff;
}

/* Sorts k newest first by time alone, stably: an LSD radix sort (bytes all
 * keys share are skipped: dates of a few years differ in four), tmp as
 * scratch. */
static void sort_by_time(struct skey *k, struct skey *tmp, size_t n)
{
    size_t count[256], i, sum, c;
    unsigned shift;

    for (shift = 0; n > 0 && shift < 64; shift += 8) {
        memset(count, 0, sizeof(count));
        for (i = 0; i < n; i++)
            count[time_digit(k[i].t, shift)]++;
        if (count[time_digit(k[0].t, shift)] == n)
            continue;
        for (i = 0, sum = 0; i < 256; i++) {
            c = count[i];
            count[i] = sum;
            sum += c;
        }
        for (i = 0; i < n; i++)
            tmp[count[time_digit(k[i].t, shift)]++] = k[i];
        memcpy(k, tmp, n * sizeof(*k));
    }
}

/* Sorts d->recs newest first, ties by out_id. Returns 0 or -ENOMEM. */
static int sort_recs(struct tb_dedupe *d)
{
    struct skey *k = malloc((d->nrecs ? d->nrecs : 1) * 2 * sizeof(*k));
    size_t i, j;

    if (k == NULL)
        return -ENOMEM;
    for (i = 0; i < d->nrecs; i++) {
        if (i + 8 < d->nrecs)
            __builtin_prefetch(&d->recs[i + 8]->sort_time);
        k[i].t = d->recs[i]->sort_time;
        k[i].r = d->recs[i];
    }
    sort_by_time(k, k + d->nrecs, d->nrecs);
    /* Equal times are next to each other now: each run of them is ordered
     * by out_id (undated entries of one feed share a time: long runs are
     * sorted, not insertion-sorted). */
    for (i = 0; i < d->nrecs; i = j) {
        for (j = i + 1; j < d->nrecs && k[j].t == k[i].t;)
            j++;
        if (j - i > 1)
            qsort(k + i, j - i, sizeof(*k), newest_first);
    }
    for (i = 0; i < d->nrecs; i++)
        d->recs[i] = k[i].r;
    free(k);
    return 0;
}

int tb_dedupe_select(struct tb_dedupe *d, size_t limit, struct tb_entry **first, size_t *n)
{
    struct tb_entry **tail = first;
    struct rec *r;
    size_t i;

    *first = NULL;
    *n = 0;
    if (d->nrecs > 1 && sort_recs(d) != 0)
        return -ENOMEM;
    *n = limit == 0 || limit > d->nrecs ? d->nrecs : limit;
    for (i = 0; i < *n; i++) {
        if (i + 8 < *n)
            __builtin_prefetch(&d->recs[i + 8]->e.origin);
        r = d->recs[i];
        r->e.origin.id = r->origin->feed_id ? r->origin->feed_id
                         : r->origin->self  ? r->origin->self
                                            : r->origin->name;
        r->e.origin.title = r->origin->title;
        r->e.origin.link = r->origin->link;
        r->e.origin.self = r->origin->self;
        r->e.rowid = (int64_t)r->id;
        *tail = &r->e;
        tail = &r->e.next;
    }
    *tail = NULL;
    return 0;
}

size_t tb_dedupe_count(const struct tb_dedupe *d)
{
    return d->nrecs;
}

int tb_dedupe_new(struct tb_dedupe **out)
{
    struct tb_dedupe *d = calloc(1, sizeof(*d));

    *out = NULL;
    if (d == NULL)
        return -ENOMEM;
    /* The kept copies are most of the run's fresh memory: in huge pages,
     * their first touches fault 2 MiB at a time (~13,000 -> ~3,000 page
     * faults on the bench corpus). */
    tb_arena_init_bulk(&d->arena);
    /* A seed per run keeps crafted keys from piling into one bucket. */
    d->seed = tb_hash_seed();
    *out = d;
    return 0;
}

void tb_dedupe_free(struct tb_dedupe *d)
{
    int ix;

    if (d == NULL)
        return;
    free(d->srcs.b);
    free(d->keys.b);
    free(d->outs.b);
    for (ix = 0; ix < IX_COUNT; ix++)
        free(d->ix[ix].b);
    free(d->recs);
    tb_arena_free(&d->arena);
    free(d);
}
