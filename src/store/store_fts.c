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
#include "tb_vec.h"

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

/* Token records, a column's after the previous one's, are compact (about
 * 4 bytes a token) since every poll in flight holds its feed's: a header
 * varint (the token's length << 2, plus OWN_BYTES when the token is the
 * text's own bytes at its start, as most stemmed lowercase words are, plus
 * COLOCATED), the start's distance from the previous token's end
 * (zigzagged), end - start, then the token's bytes unless OWN_BYTES. */
#define OWN_BYTES 1u
#define COLOCATED 2u

/* One prepare's tokenizer and scratch. */
struct tb__recorder {
    const struct tb__fts *f; /* where the tokenizer comes from */
    Fts5Tokenizer *tok;      /* SQLite's porter, created with tok_args */
    unsigned char *buf;      /* the entry's records (malloc'd) */
    size_t len, alloc;       /* used, allocated */
    const char *text;        /* the column being tokenized */
    size_t ntext;            /* its length */
    size_t prev_end;         /* the end of its previous token */
};

/* The wrapper's instance: SQLite's porter, and whether replay applies. */
struct wrap {
    Fts5Tokenizer *inner; /* SQLite's porter instance */
    struct tb__fts *f;    /* the store's replay state */
    int same_args;        /* created with tok_args, as the recorder's instance */
};

static int reserve(struct tb__recorder *r, size_t need)
{
    if (need > SIZE_MAX - r->len)
        return TB_ETOOBIG;
    if (r->len + need <= r->alloc)
        return 0;
    /* 2 KB at first: most feeds' tokens fit, in one allocation. */
    return TB_VEC_RESERVE(r->buf, r->alloc, r->len + need < 2048 ? 2048 : r->len + need, SIZE_MAX);
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

static size_t zigzag(size_t from, size_t to)
{
    return to >= from ? 2 * (to - from) : 2 * (from - to) - 1;
}

static size_t unzigzag(size_t from, size_t z)
{
    return (z & 1) ? from - (z + 1) / 2 : from + z / 2;
}

/* The recorder's xToken: appends one record (its context is the recorder). */
static int record(void *ctx, int tflags, const char *tok, int ntok, int start, int end)
{
    struct tb__recorder *r = ctx;
    size_t n = (size_t)ntok, s = (size_t)start;
    unsigned own;

    if (ntok < 0 || start < 0 || end < start || reserve(r, n + 3 * 10) != 0)
        return SQLITE_NOMEM;
    own = s + n <= r->ntext && memcmp(tok, r->text + s, n) == 0 ? OWN_BYTES : 0;
    put_varint(r, n << 2 | own | ((tflags & FTS5_TOKEN_COLOCATED) ? COLOCATED : 0));
    put_varint(r, zigzag(r->prev_end, s));
    put_varint(r, (size_t)(end - start));
    if (!own) {
        memcpy(r->buf + r->len, tok, n);
        r->len += n;
    }
    r->prev_end = (size_t)end;
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
    int c, rc = SQLITE_OK;

    memset(t, 0, sizeof(*t));
    r->len = 0;
    for (c = 0; rc == SQLITE_OK && c < 4; c++) {
        t->off[c] = (unsigned)r->len;
        t->text[c] = col[c];
        r->text = col[c];
        r->ntext = col[c] != NULL ? strlen(col[c]) : 0;
        r->prev_end = 0;
        if (r->ntext > (size_t)INT_MAX || r->len > UINT_MAX / 2)
            return 0; /* left to the writer */
        t->ntext[c] = (int)r->ntext;
        if (r->ntext > 0)
            rc = r->f->real.xTokenize(r->tok, r, FTS5_TOKENIZE_DOCUMENT, r->text, (int)r->ntext,
                                      record);
    }
    if (rc != SQLITE_OK)
        return rc == SQLITE_NOMEM ? -ENOMEM : 0;
    t->off[4] = (unsigned)r->len;
    t->buf = tb_arena_alloc(a, r->len ? r->len : 1);
    if (t->buf == NULL)
        return -ENOMEM;
    if (r->len > 0)
        memcpy(t->buf, r->buf, r->len); /* r->buf is NULL until a first token */
    t->ok = 1;
    return 0;
}

/* Replays column c of the recorded entry, whose text is text, to FTS5. */
static int replay(const struct tb__tokens *t, int c, const char *text, void *ctx,
                  int (*xtoken)(void *, int, const char *, int, int, int))
{
    const unsigned char *p = t->buf + t->off[c], *end = t->buf + t->off[c + 1];
    size_t hdr, n, start, stop = 0;
    const char *tok;
    int rc = SQLITE_OK;

    while (rc == SQLITE_OK && p < end) {
        hdr = get_varint(&p);
        n = hdr >> 2;
        start = unzigzag(stop, get_varint(&p));
        stop = start + get_varint(&p);
        tok = (hdr & OWN_BYTES) ? text + start : (const char *)p;
        if (!(hdr & OWN_BYTES))
            p += n;
        rc = xtoken(ctx, (hdr & COLOCATED) ? FTS5_TOKEN_COLOCATED : 0, tok, (int)n, (int)start,
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
                return replay(cur, c, text, ctx, xtoken);
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
