/*
 * The columns of an entry that are derived rather than copied: the JSON list
 * columns, the plain name and term lists FTS indexes, and the change hash.
 * Computed from the feed alone, so `merge` does it on its parsing threads
 * while the main thread runs the store's SQL; the daemon's parsing threads
 * also record the entries' full-text tokens here (store_fts.c).
 */
#include "store_int.h"
#include "tb_hash.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define COL_CAP (1u << 30)

/* What one prepare needs: the arena, a scratch buffer and a hashing context. */
struct prep_ctx {
    struct tb_arena *a;       /* where the columns go */
    struct tb_buf b;          /* scratch for one column */
    struct tb_sha256 h;       /* reused for every entry */
    struct tb__recorder *rec; /* records the FTS tokens, or NULL */
};

static int hash_entry(struct prep_ctx *x, const struct tb_entry *e, struct tb__row *r)
{
    char flags[64];

    snprintf(flags, sizeof(flags), "%lld %d %d", (long long)e->updated, e->summary.is_html,
             e->content.is_html);
    if (tb_sha256_init(&x->h) != 0)
        return -ENOMEM;
    tb_sha256_add_str(&x->h, e->title);
    tb_sha256_add_str(&x->h, e->link);
    tb_sha256_add_str(&x->h, e->summary.value);
    tb_sha256_add_str(&x->h, e->content.value);
    tb_sha256_add_str(&x->h, flags);
    tb_sha256_add_str(&x->h, r->authors_json);
    tb_sha256_add_str(&x->h, r->categories_json);
    if (e->content.type != NULL)
        tb_sha256_add_str(&x->h, e->content.type);
    return tb_sha256_final(&x->h, r->hash);
}

/* Copies the scratch buffer into the arena; empty gives NULL. */
static int keep(struct prep_ctx *x, int rc, const char **out)
{
    *out = NULL;
    if (rc != 0 || x->b.len == 0)
        return rc;
    *out = tb_arena_strndup(x->a, x->b.data, x->b.len);
    return *out ? 0 : -ENOMEM;
}

static int make_row(struct prep_ctx *x, const struct tb_entry *e, struct tb__row *r)
{
    int rc = keep(x, tb__join_names(&x->b, e->authors), &r->authors);

    rc = rc ? rc : keep(x, tb__join_terms(&x->b, e->categories), &r->categories);
    rc = rc ? rc : keep(x, tb__json_people(&x->b, e->authors), &r->authors_json);
    rc = rc ? rc : keep(x, tb__json_people(&x->b, e->contributors), &r->contributors_json);
    rc = rc ? rc : keep(x, tb__json_categories(&x->b, e->categories), &r->categories_json);
    rc = rc ? rc : keep(x, tb__json_links(&x->b, e->links), &r->links_json);
    rc = rc ? rc : hash_entry(x, e, r);
    if (rc == 0 && x->rec != NULL) {
        /* The texts tb_store_put_prepared() inserts, so replay finds them. */
        const char *const col[4] = {e->title, e->text, r->authors, r->categories};

        rc = tb__fts_record(x->rec, x->a, col, &r->tok);
    }
    return rc;
}

int tb__store_prepare(struct tb_arena *a, const struct tb_store *s, const struct tb_feed *f,
                      struct tb_store_prep **out)
{
    struct prep_ctx x = {.a = a};
    struct tb_store_prep *p = tb_arena_alloc(a, sizeof(*p));
    const struct tb_entry *e;
    size_t i = 0;
    int rc = 0;

    *out = NULL;
    tb_buf_init(&x.b, COL_CAP);
    if (p == NULL)
        rc = -ENOMEM;
    if (rc == 0 && s != NULL)
        rc = tb__fts_recorder_new(s, &x.rec);
    if (rc == 0) {
        p->feed = f;
        p->n = f->nentries;
        p->rows = tb_arena_alloc(a, (f->nentries ? f->nentries : 1) * sizeof(*p->rows));
        rc = p->rows ? 0 : -ENOMEM;
    }
    for (e = f->entries; rc == 0 && e != NULL && i < p->n; e = e->next)
        rc = make_row(&x, e, &p->rows[i++]);
    if (rc == 0 && (e != NULL || i != p->n))
        rc = -EINVAL; /* nentries does not count the list */
    tb__fts_recorder_free(x.rec);
    tb_sha256_free(&x.h);
    tb_buf_free(&x.b);
    if (rc == 0)
        *out = p;
    return rc;
}

int tb_store_prepare(struct tb_feed *f, struct tb_store_prep **out)
{
    return tb__store_prepare(&f->arena, NULL, f, out);
}

int tb_store_prepare_indexed(const struct tb_store *s, struct tb_feed *f,
                             struct tb_store_prep **out)
{
    return tb__store_prepare(&f->arena, s, f, out);
}
