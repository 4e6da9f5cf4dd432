/*
 * Tokenizing new entries before the store thread needs them.
 *
 * FTS5 tokenizes a document inside the INSERT into entries_fts, on the one
 * thread that writes the store: tokenizing (porter over unicode61) was
 * ~0.9 s of a first cycle's ~2.3 s of indexing. So the thread that prepares
 * a feed (tb_store_prepare_indexed, on the daemon's parsing pool) runs the
 * same tokenizer over each entry's four indexed texts and records the
 * tokens with the entry's prep. The writer's connection has "porter"
 * replaced by a wrapper that, while an entry is being inserted, replays the
 * recorded tokens of a column whose text is the very string that was
 * tokenized (same pointer, same length: the INSERT binds it with
 * SQLITE_STATIC), and otherwise tokenizes as SQLite's porter does (queries,
 * 'delete', 'rebuild', integrity-check, rewritten or unprepared entries).
 * Either way the index gets the same tokens: the recorder's tokenizer is
 * SQLite's own, created with the table's arguments, and a wrapper created
 * with others never replays. A recorder creates its tokenizer from the
 * writer's connection on its own thread: FTS5 only reads its tokenizer list
 * there, which nothing changes after tb__fts_open().
 */
#include "store_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The table's tokenizer arguments after "porter" (migration 1). */
static const char *const tok_args[] = {"unicode61", "remove_diacritics", "2"};
#define NTOK_ARGS 3

struct tb__fts {
    fts5_tokenizer real;          /* SQLite's porter tokenizer */
    void *real_ud;                /* its user data */
    int can_record;               /* an instance with tok_args could be created */
    const struct tb__tokens *cur; /* the entry being inserted, or NULL */
    size_t replayed;              /* columns replayed since opening */
};

/* One prepare's tokenizer and scratch: per token a header varint (column,
 * plus 4 for FTS5_TOKEN_COLOCATED), the length, the bytes, start and end. */
struct tb__recorder {
    const struct tb__fts *f; /* where the tokenizer comes from */
    Fts5Tokenizer *tok;      /* SQLite's porter, created with tok_args */
    unsigned char *buf;      /* the entry's records (malloc'd) */
    size_t len, alloc;       /* used, allocated */
    int col;                 /* the column being recorded */
};

/* The wrapper's instance: SQLite's porter, and whether replay applies. */
struct wrap {
    Fts5Tokenizer *inner; /* SQLite's porter instance */
    struct tb__fts *f;    /* the store's replay state */
    int same_args;        /* created with tok_args, as the recorder's instance */
};

static int reserve(struct tb__recorder *r, size_t need)
{
    unsigned char *b;
    size_t a = r->alloc ? r->alloc : 2048;

    if (r->alloc - r->len >= need)
        return 0;
    while (a - r->len < need)
        a *= 2;
    b = realloc(r->buf, a);
    if (b == NULL)
        return -ENOMEM;
    r->buf = b;
    r->alloc = a;
    return 0;
}

static void put_varint(struct tb__recorder *r, size_t v)
{
    do {
        r->buf[r->len++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
}

static size_t get_varint(const unsigned char **p)
{
    size_t v = 0;
    int shift = 0;

    do {
        v |= (size_t)(**p & 0x7f) << shift;
        shift += 7;
    } while (*(*p)++ & 0x80);
    return v;
}

/* The recorder's xToken: appends one record (its context is the recorder). */
static int record(void *ctx, int tflags, const char *tok, int ntok, int start, int end)
{
    struct tb__recorder *r = ctx;

    if (ntok < 0 || start < 0 || end < 0 || reserve(r, (size_t)ntok + 4 * 10) != 0)
        return SQLITE_NOMEM;
    put_varint(r, (size_t)r->col | ((tflags & FTS5_TOKEN_COLOCATED) ? 4u : 0u));
    put_varint(r, (size_t)ntok);
    memcpy(r->buf + r->len, tok, (size_t)ntok);
    r->len += (size_t)ntok;
    put_varint(r, (size_t)start);
    put_varint(r, (size_t)end);
    return SQLITE_OK;
}

int tb__fts_recorder_new(const struct tb_store *s, struct tb__recorder **out)
{
    const struct tb__fts *f = s->fts;
    struct tb__recorder *r;

    *out = NULL;
    if (f == NULL || !f->can_record)
        return 0;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->f = f;
    if (f->real.xCreate(f->real_ud, (const char **)tok_args, NTOK_ARGS, &r->tok) != SQLITE_OK) {
        free(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}

void tb__fts_recorder_free(struct tb__recorder *r)
{
    if (r == NULL)
        return;
    r->f->real.xDelete(r->tok);
    free(r->buf);
    free(r);
}

int tb__fts_record(struct tb__recorder *r, struct tb_arena *a, const char *const col[4],
                   struct tb__tokens *t)
{
    size_t len;
    int rc = SQLITE_OK;

    memset(t, 0, sizeof(*t));
    r->len = 0;
    for (r->col = 0; rc == SQLITE_OK && r->col < 4; r->col++) {
        t->text[r->col] = col[r->col];
        len = col[r->col] != NULL ? strlen(col[r->col]) : 0;
        if (len > (size_t)INT_MAX)
            return 0; /* left to the writer */
        t->ntext[r->col] = (int)len;
        if (len > 0)
            rc = r->f->real.xTokenize(r->tok, r, FTS5_TOKENIZE_DOCUMENT, col[r->col], (int)len,
                                      record);
    }
    if (rc != SQLITE_OK)
        return rc == SQLITE_NOMEM ? -ENOMEM : 0;
    t->buf = tb_arena_alloc(a, r->len ? r->len : 1);
    if (t->buf == NULL)
        return -ENOMEM;
    memcpy(t->buf, r->buf, r->len);
    t->len = r->len;
    t->ok = 1;
    return 0;
}

/* Replays column c of the recorded entry to FTS5. */
static int replay(const struct tb__tokens *t, int c, void *ctx,
                  int (*xtoken)(void *, int, const char *, int, int, int))
{
    const unsigned char *p = t->buf, *end = t->buf + t->len;
    size_t hdr, n, start, stop;
    const char *tok;
    int rc = SQLITE_OK;

    while (rc == SQLITE_OK && p < end) {
        hdr = get_varint(&p);
        n = get_varint(&p);
        tok = (const char *)p;
        p += n;
        start = get_varint(&p);
        stop = get_varint(&p);
        if ((int)(hdr & 3) == c)
            rc = xtoken(ctx, (hdr & 4) ? FTS5_TOKEN_COLOCATED : 0, tok, (int)n, (int)start,
                        (int)stop);
    }
    return rc;
}

static int wrap_tokenize(Fts5Tokenizer *t, void *ctx, int flags, const char *text, int ntext,
                         int (*xtoken)(void *, int, const char *, int, int, int))
{
    struct wrap *w = (struct wrap *)t;
    const struct tb__tokens *cur = w->f->cur;
    int c;

    if (cur != NULL && w->same_args && flags == FTS5_TOKENIZE_DOCUMENT && text != NULL) {
        for (c = 0; c < 4; c++) {
            if (cur->text[c] == text && cur->ntext[c] == ntext) {
                w->f->replayed++;
                return replay(cur, c, ctx, xtoken);
            }
        }
    }
    return w->f->real.xTokenize(w->inner, ctx, flags, text, ntext, xtoken);
}

static int wrap_create(void *ud, const char **argv, int argc, Fts5Tokenizer **out)
{
    struct tb__fts *f = ud;
    struct wrap *w = sqlite3_malloc(sizeof(*w));
    int i, rc;

    *out = NULL;
    if (w == NULL)
        return SQLITE_NOMEM;
    w->f = f;
    w->same_args = argc == NTOK_ARGS && f->can_record;
    for (i = 0; w->same_args && i < argc; i++)
        w->same_args = strcmp(argv[i], tok_args[i]) == 0;
    rc = f->real.xCreate(f->real_ud, argv, argc, &w->inner);
    if (rc != SQLITE_OK) {
        sqlite3_free(w);
        return rc;
    }
    *out = (Fts5Tokenizer *)w;
    return SQLITE_OK;
}

static void wrap_delete(Fts5Tokenizer *t)
{
    struct wrap *w = (struct wrap *)t;

    w->f->real.xDelete(w->inner);
    sqlite3_free(w);
}

/* The connection's FTS5 API, or NULL. */
static fts5_api *fts5_of(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
        (void)sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return api;
}

/* Whether SQLite's porter accepts tok_args (it always should): if not,
 * nothing is recorded and the writer tokenizes everything. */
static int porter_works(struct tb__fts *f)
{
    Fts5Tokenizer *t = NULL;

    if (f->real.xCreate(f->real_ud, (const char **)tok_args, NTOK_ARGS, &t) != SQLITE_OK)
        return 0;
    f->real.xDelete(t);
    return 1;
}

int tb__fts_open(struct tb_store *s)
{
    static const fts5_tokenizer wrapper = {wrap_create, wrap_delete, wrap_tokenize};
    fts5_api *api = fts5_of(s->db);
    struct tb__fts *f;

    if (api == NULL)
        return TB_ESTORE;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -ENOMEM;
    s->fts = f;
    if (api->xFindTokenizer(api, "porter", &f->real_ud, &f->real) != SQLITE_OK)
        return TB_ESTORE;
    f->can_record = porter_works(f);
    if (api->xCreateTokenizer(api, "porter", f, (fts5_tokenizer *)&wrapper, NULL) != SQLITE_OK)
        return TB_ESTORE;
    return 0;
}

void tb__fts_free(struct tb_store *s)
{
    free(s->fts);
    s->fts = NULL;
}

void tb__fts_enter(struct tb_store *s, const struct tb__tokens *t)
{
    if (s->fts != NULL)
        s->fts->cur = t != NULL && t->ok ? t : NULL;
}

size_t tb__fts_replayed(const struct tb_store *s)
{
    return s->fts != NULL ? s->fts->replayed : 0;
}
