/*
 * Tokenizing a batch's new entries beside the store thread.
 *
 * FTS5 tokenizes a document inside the INSERT into entries_fts, on the one
 * thread that writes the store: tokenizing (porter over unicode61) was
 * ~0.9 s of a first cycle's ~2.3 s of indexing. At a commit, a helper
 * thread runs the same tokenizer over the entries to index, up to RING (64) of
 * them ahead, and records each one's tokens. The writer's connection has
 * "porter" replaced by a wrapper that, while an entry is being inserted,
 * replays the recorded tokens of a column whose text is the very string the
 * helper read (same pointer, same length: the INSERT binds it with
 * SQLITE_STATIC), and otherwise tokenizes as SQLite's porter does (queries,
 * 'delete', 'rebuild', integrity-check, rewritten entries). Either way the
 * index gets the same tokens: the helper's tokenizer is SQLite's own,
 * created with the table's arguments, and a wrapper created with others
 * never replays.
 */
#include "store_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RING 64         /* entries recorded ahead of the writer, at most */
#define MIN_PIPE 16     /* fewer entries than this are indexed without the helper */
#define KEEP_BYTES 8192 /* a slot's buffer kept from one batch to the next, at most */

/* The table's tokenizer arguments after "porter" (migration 1). */
static const char *const tok_args[] = {"unicode61", "remove_diacritics", "2"};
#define NTOK_ARGS 3

/* One entry's recorded tokens: per token a header varint (column, plus 4
 * for FTS5_TOKEN_COLOCATED), the length, the bytes, start and end. */
struct slot {
    unsigned char *buf;  /* the records (malloc'd; kept for the next entry) */
    size_t len, alloc;   /* used, allocated */
    int ok;              /* every column recorded */
    int col;             /* the column being recorded */
    const char *text[4]; /* the texts recorded, as the entry notes them */
    int ntext[4];        /* their lengths */
};

struct tb__fts {
    fts5_tokenizer real;           /* SQLite's porter tokenizer */
    void *real_ud;                 /* its user data */
    Fts5Tokenizer *mine;           /* an instance of it for the helper, or NULL */
    pthread_mutex_t mu;            /* guards produced, consumed and stop */
    pthread_cond_t cv;             /* broadcast when one of them changes */
    pthread_t thread;              /* the helper, while one runs */
    const struct tb__unindexed *v; /* the entries being indexed */
    size_t n;                      /* their number */
    size_t produced;               /* entries recorded */
    size_t consumed;               /* entries the writer is done with */
    int stop;                      /* the writer is done: the helper ends */
    const struct slot *cur;        /* the entry being inserted, or NULL */
    size_t replayed;               /* columns replayed since opening */
    struct slot ring[RING];        /* entry k is recorded in ring[k % RING] */
};

/* The wrapper's instance: SQLite's porter, and whether replay applies. */
struct wrap {
    Fts5Tokenizer *inner; /* SQLite's porter instance */
    struct tb__fts *f;    /* the store's helper state */
    int same_args;        /* created with tok_args, as the helper's instance */
};

static int reserve(struct slot *sl, size_t need)
{
    unsigned char *b;
    size_t a = sl->alloc ? sl->alloc : 2048;

    if (sl->alloc - sl->len >= need)
        return 0;
    while (a - sl->len < need)
        a *= 2;
    b = realloc(sl->buf, a);
    if (b == NULL)
        return -ENOMEM;
    sl->buf = b;
    sl->alloc = a;
    return 0;
}

static void put_varint(struct slot *sl, size_t v)
{
    do {
        sl->buf[sl->len++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
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

/* The helper's xToken: appends one record to the slot (its context). */
static int record(void *ctx, int tflags, const char *tok, int ntok, int start, int end)
{
    struct slot *sl = ctx;

    if (ntok < 0 || start < 0 || end < 0 || reserve(sl, (size_t)ntok + 4 * 10) != 0)
        return SQLITE_NOMEM;
    put_varint(sl, (size_t)sl->col | ((tflags & FTS5_TOKEN_COLOCATED) ? 4u : 0u));
    put_varint(sl, (size_t)ntok);
    memcpy(sl->buf + sl->len, tok, (size_t)ntok);
    sl->len += (size_t)ntok;
    put_varint(sl, (size_t)start);
    put_varint(sl, (size_t)end);
    return SQLITE_OK;
}

/* Records the tokens of entry u into sl; sl->ok says whether all went in. */
static void record_entry(struct tb__fts *f, const struct tb__unindexed *u, struct slot *sl)
{
    size_t len;
    int rc = SQLITE_OK;

    sl->len = 0;
    sl->ok = 0;
    if (u->reread)
        return; /* indexed from the table's text */
    for (sl->col = 0; rc == SQLITE_OK && sl->col < 4; sl->col++) {
        sl->text[sl->col] = u->col[sl->col];
        sl->ntext[sl->col] = 0;
        if (u->col[sl->col] == NULL)
            continue;
        len = strlen(u->col[sl->col]);
        if (len > (size_t)INT_MAX)
            return;
        sl->ntext[sl->col] = (int)len;
        rc = f->real.xTokenize(f->mine, sl, FTS5_TOKENIZE_DOCUMENT, u->col[sl->col], (int)len,
                               record);
    }
    sl->ok = rc == SQLITE_OK;
}

static void *helper(void *arg)
{
    struct tb__fts *f = arg;
    size_t k;
    int stop = 0;

    for (k = 0; !stop && k < f->n; k++) {
        pthread_mutex_lock(&f->mu);
        while (!f->stop && k - f->consumed >= RING)
            pthread_cond_wait(&f->cv, &f->mu);
        stop = f->stop;
        pthread_mutex_unlock(&f->mu);
        if (stop)
            break;
        record_entry(f, &f->v[k], &f->ring[k % RING]);
        pthread_mutex_lock(&f->mu);
        f->produced = k + 1;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
    }
    return NULL;
}

/* Replays column c of the recorded entry to FTS5. */
static int replay(const struct slot *sl, int c, void *ctx,
                  int (*xtoken)(void *, int, const char *, int, int, int))
{
    const unsigned char *p = sl->buf, *end = sl->buf + sl->len;
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
    const struct slot *sl = w->f->cur;
    int c;

    if (sl != NULL && w->same_args && flags == FTS5_TOKENIZE_DOCUMENT && text != NULL) {
        for (c = 0; c < 4; c++) {
            if (sl->text[c] == text && sl->ntext[c] == ntext) {
                w->f->replayed++;
                return replay(sl, c, ctx, xtoken);
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
    w->same_args = argc == NTOK_ARGS && f->mine != NULL;
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
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    s->fts = f;
    if (api->xFindTokenizer(api, "porter", &f->real_ud, &f->real) != SQLITE_OK)
        return TB_ESTORE;
    if (f->real.xCreate(f->real_ud, (const char **)tok_args, NTOK_ARGS, &f->mine) != SQLITE_OK)
        f->mine = NULL; /* no helper: tokenized by the writer alone */
    if (api->xCreateTokenizer(api, "porter", f, (fts5_tokenizer *)&wrapper, NULL) != SQLITE_OK)
        return TB_ESTORE;
    return 0;
}

void tb__fts_free(struct tb_store *s)
{
    struct tb__fts *f = s->fts;
    int i;

    if (f == NULL)
        return;
    if (f->mine != NULL)
        f->real.xDelete(f->mine);
    for (i = 0; i < RING; i++)
        free(f->ring[i].buf);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
    s->fts = NULL;
}

int tb__fts_start(struct tb_store *s, const struct tb__unindexed *v, size_t n)
{
    struct tb__fts *f = s->fts;

    if (f == NULL || f->mine == NULL || n < MIN_PIPE)
        return 0;
    f->v = v;
    f->n = n;
    f->produced = f->consumed = 0;
    f->stop = 0;
    return pthread_create(&f->thread, NULL, helper, f) == 0;
}

void tb__fts_enter(struct tb_store *s, size_t i)
{
    struct tb__fts *f = s->fts;
    const struct slot *sl = &f->ring[i % RING];

    pthread_mutex_lock(&f->mu);
    while (f->produced <= i)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    f->cur = sl->ok ? sl : NULL;
}

void tb__fts_leave(struct tb_store *s, size_t i)
{
    struct tb__fts *f = s->fts;

    f->cur = NULL;
    pthread_mutex_lock(&f->mu);
    f->consumed = i + 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

void tb__fts_stop(struct tb_store *s)
{
    struct tb__fts *f = s->fts;
    int i;

    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    f->cur = NULL;
    /* A slot keeps a typical entry's room for the next batch, not more. */
    for (i = 0; i < RING; i++) {
        if (f->ring[i].alloc > KEEP_BYTES) {
            free(f->ring[i].buf);
            memset(&f->ring[i], 0, sizeof(f->ring[i]));
        }
    }
}

size_t tb__fts_replayed(const struct tb_store *s)
{
    return s->fts != NULL ? s->fts->replayed : 0;
}
