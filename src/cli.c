/*
 * The one-shot commands `merge` and `parse`. They run the same stages as the
 * daemon: fetch -> parse -> normalize -> store -> topic -> publish.
 *
 * `merge` reads and parses its sources on worker threads while the main
 * thread stores them strictly in argument order, so the first copy of a
 * duplicated entry (whose id and origin are kept) is always the same one and
 * two runs give the same output.
 *
 * Without --db or --topic nothing needs a database: the in-memory dedupe
 * (tb_dedupe.h) applies the store's rules and order instead, and the plain
 * text that only topic matching reads is not made. Both paths print the
 * same bytes (tests/e2e_merge.py FastPathMatchesStore).
 */
#include "tb_cli.h"

#include <errno.h>
#include <getopt.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tb_date.h"
#include "tb_dedupe.h"
#include "tb_feedjson.h"
#include "tb_fetch.h"
#include "tb_normalize.h"
#include "tb_parse.h"
#include "tb_publish.h"
#include "tb_store.h"
#include "tb_topic.h"

#define MERGE_WORKERS 2
#define MERGE_WINDOW 16  /* sources parsed ahead of the one being stored */
#define EMIT_BATCH 256   /* entries loaded and written at a time */
#define RENDER_CHUNK 128 /* entries a worker renders at a time */
#define RENDER_WINDOW 8  /* pieces rendered ahead of the one being written */

/* One SOURCE argument on its way through the pipeline. */
struct job {
    const char *src;              /* the argument as given */
    struct tb_feed *feed;         /* parsed and normalized, or NULL on failure */
    struct tb_store_prep *prep;   /* feed's derived store columns, in its arena */
    struct tb_dedupe_prep *dprep; /* or its change digests, for the in-memory dedupe */
    int64_t seen_at;              /* file mtime / Last-Modified, else the run's start */
    int once;                     /* the only SOURCE argument with its name */
    int rc;                       /* 0, or the error that made it unreadable */
    char err[512];                /* one-line reason when rc != 0 */
};

/* Where loaded sources go: the store, or (no --db, no --topic) the
 * in-memory dedupe. */
struct sink {
    struct tb_store *st;  /* the store, or NULL */
    struct tb_dedupe *dd; /* the in-memory dedupe, or NULL */
};

/* Items 0..n-1 made by worker threads in any order and consumed by the
 * main thread in order, at most `window` ahead of it, so that the output
 * does not depend on scheduling and memory stays bounded. Without threads
 * an item is made when it is waited for. */
struct pool {
    void (*make)(void *ctx, size_t i); /* makes item i, touching only it */
    void *ctx;                         /* make's first argument */
    unsigned char *done;               /* per item: made */
    size_t n;                          /* number of items */
    size_t window;                     /* items made ahead of the consumer */
    size_t next;                       /* next item a worker takes */
    size_t consumed;                   /* items the main thread is done with */
    size_t nthreads;                   /* running workers */
    pthread_t threads[MERGE_WORKERS];  /* the workers */
    pthread_mutex_t lock;              /* guards next, consumed and done */
    pthread_cond_t cond;               /* signalled when an item is made or consumed */
};

static void *pool_worker(void *arg)
{
    struct pool *p = arg;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        size_t i = p->next;

        while (i < p->n && i >= p->consumed + p->window) {
            pthread_cond_wait(&p->cond, &p->lock);
            i = p->next;
        }
        if (i >= p->n)
            break;
        p->next++;
        pthread_mutex_unlock(&p->lock);
        p->make(p->ctx, i);
        pthread_mutex_lock(&p->lock);
        p->done[i] = 1;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Starts the workers. Returns 0 or -ENOMEM (nothing to stop then). */
static int pool_start(struct pool *p, size_t n, size_t window, void (*make)(void *, size_t),
                      void *ctx)
{
    size_t i;

    memset(p, 0, sizeof(*p));
    p->done = calloc(n ? n : 1, 1);
    if (p->done == NULL)
        return -ENOMEM;
    p->make = make;
    p->ctx = ctx;
    p->n = n;
    p->window = window;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    for (i = 0; i < MERGE_WORKERS && i < n; i++) {
        if (pthread_create(&p->threads[p->nthreads], NULL, pool_worker, p) == 0)
            p->nthreads++;
    }
    return 0;
}

/* Waits until item i (the next one not consumed) is made. */
static void pool_wait(struct pool *p, size_t i)
{
    if (p->nthreads == 0) {
        p->make(p->ctx, i);
        return;
    }
    pthread_mutex_lock(&p->lock);
    while (!p->done[i])
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

/* Tells the workers one more item was consumed. */
static void pool_consumed(struct pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->consumed++;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* Lets the workers take no more items and joins them. Items made but not
 * consumed are the caller's to free. */
static void pool_stop(struct pool *p)
{
    size_t i;

    pthread_mutex_lock(&p->lock);
    p->next = p->n;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p->done);
}

/* What the loading workers share. */
struct merge {
    struct job *jobs;      /* one per SOURCE */
    const struct sink *to; /* where the main thread puts them */
    int64_t now;           /* start of the run */
};

/* The feed id of what was read from stdin: a tag: URI (RFC 4151), the same
 * every run, in the authority of the entries' own tag: ids. */
#define STDIN_FEED_ID "tag:tributary.invalid,2024:stdin"

/* The absolute form of a path, symbolic links resolved when they lead to a
 * file (/dev/stdin's does not), malloc'd; NULL on out of memory. */
static char *abs_path(const char *path)
{
    char *abs = realpath(path, NULL), cwd[4096];
    size_t n;

    if (abs != NULL || path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        return abs ? abs : strdup(path);
    n = strlen(cwd) + strlen(path) + 2;
    abs = malloc(n);
    if (abs != NULL)
        snprintf(abs, n, "%s/%s", cwd, path);
    return abs;
}

/* The file:// URI (RFC 8089) of a local file: its absolute path with every
 * byte that may not stand in an RFC 3986 path percent-encoded. NULL on out
 * of memory; the caller frees it. */
static char *file_uri(const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    char *abs = abs_path(path), *res = NULL;
    struct tb_buf b;
    int rc;

    if (abs == NULL)
        return NULL;
    tb_buf_init(&b, (size_t)-1 / 2);
    rc = tb_buf_adds(&b, abs[0] == '/' ? "file://" : "file:///");
    for (const unsigned char *p = (const unsigned char *)abs; rc == 0 && *p; p++) {
        char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

        if (strchr("-._~!$&'()*+,;=:@/", *p) != NULL || (*p >= '0' && *p <= '9') ||
            ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
            rc = tb_buf_add(&b, p, 1);
        else
            rc = tb_buf_add(&b, esc, 3);
    }
    if (rc == 0)
        res = tb_buf_take(&b);
    tb_buf_free(&b);
    free(abs);
    return res;
}

/* atom:source names its feed by an IRI and links to where it is read. A
 * feed that declares neither id nor self link gets them from where it was
 * read: an http(s) SOURCE becomes its self link (and so its id); a file
 * gets its file:// URI as id (no self link: readers of the merged feed
 * cannot fetch a file of this machine) and stdin a fixed tag: URI. */
static int set_origin(struct job *j)
{
    struct tb_feed *f = j->feed;
    char *uri;

    if (f->self == NULL && tb_fetch_is_url(j->src)) {
        f->self = tb_arena_strdup(&f->arena, j->src);
        return f->self ? 0 : -ENOMEM;
    }
    if (f->id != NULL || f->self != NULL)
        return 0;
    if (strcmp(j->src, "-") == 0) {
        f->id = STDIN_FEED_ID;
        return 0;
    }
    uri = file_uri(j->src);
    f->id = uri ? tb_arena_strdup(&f->arena, uri) : NULL;
    free(uri);
    return f->id ? 0 : -ENOMEM;
}

/* Reads, parses and normalizes one source, then derives what its sink
 * needs (nothing without one); touches only its own job. */
static void load_source(struct job *j, int64_t now, const struct sink *to)
{
    struct tb_parse_opts opts = {0};
    struct tb_fetch_info info;
    struct tb_buf body;

    tb_buf_init(&body, TB_FETCH_MAX_BODY);
    j->seen_at = now;
    j->rc = tb_fetch_source(j->src, &body, &info, j->err, sizeof(j->err));
    if (j->rc == 0) {
        if (info.mtime > 0)
            j->seen_at = info.mtime;
        opts.url = info.url[0] ? info.url : NULL;
        opts.charset = info.charset[0] ? info.charset : NULL;
        j->rc = tb_parse_feed(body.data ? body.data : "", body.len, &opts, &j->feed, j->err,
                              sizeof(j->err));
    }
    tb_buf_free(&body);
    if (j->rc == 0)
        j->rc = tb_norm_feed_opts(j->feed, (to && to->dd) ? TB_NORM_NO_TEXT : 0);
    if (j->rc == 0)
        j->rc = set_origin(j);
    /* The per-entry derived work (JSON, hashing, full-text tokens) is done
     * here, on a worker, so the main thread only runs SQL or the dedupe. */
    if (j->rc == 0 && to != NULL && to->st != NULL)
        j->rc = tb_store_prepare_indexed(to->st, j->feed, &j->prep);
    if (j->rc == 0 && to != NULL && to->dd != NULL)
        j->rc = j->once ? tb_dedupe_prepare_once(j->feed, &j->dprep)
                        : tb_dedupe_prepare(j->feed, &j->dprep);
    if (j->rc && j->err[0] == '\0')
        snprintf(j->err, sizeof(j->err), "%s", tb_strerror(j->rc));
}

/* pool callback: loads job i. */
static void load_job(void *ctx, size_t i)
{
    struct merge *m = ctx;

    load_source(&m->jobs[i], m->now, m->to);
}

/* Stores one loaded job in the store or the dedupe. Returns 1 when the
 * source counted as read. */
static int store_job(const struct sink *to, struct job *j)
{
    struct tb_store_stats stats = {0};
    char err[512] = "";
    int64_t sid;
    int rc;

    if (j->rc) {
        fprintf(stderr, "tributary: warning: %s: %s\n", j->src, j->err);
        return 0;
    }
    if (j->feed->error)
        fprintf(stderr, "tributary: warning: %s: %s (recovered %zu entries)\n", j->src,
                j->feed->error, j->feed->nentries);
    if (to->dd != NULL)
        rc = tb_dedupe_put(to->dd, j->src, j->feed, j->dprep, j->seen_at, err, sizeof(err));
    else
        rc = tb_store_source(to->st, j->src, j->src, &sid, err, sizeof(err));
    if (rc == 0 && to->dd == NULL)
        rc = tb_store_put_prepared(to->st, sid, j->feed, j->prep, j->seen_at, &stats, NULL, NULL,
                                   err, sizeof(err));
    if (rc) {
        fprintf(stderr, "tributary: warning: %s: %s\n", j->src, err[0] ? err : tb_strerror(rc));
        return 0;
    }
    return 1;
}

static int cmp_job_src(const void *a, const void *b)
{
    return strcmp(((const struct job *const *)a)[0]->src, ((const struct job *const *)b)[0]->src);
}

/* Sets each job's once: no other job has its name (so the dedupe needs its
 * change digests only when its feed repeats an entry). */
static void mark_once(struct job *jobs, size_t n)
{
    struct job **v = malloc((n ? n : 1) * sizeof(*v));
    size_t i;

    for (i = 0; v != NULL && i < n; i++)
        v[i] = &jobs[i];
    if (v != NULL)
        qsort(v, n, sizeof(*v), cmp_job_src);
    for (i = 0; v != NULL && i < n; i++)
        v[i]->once = (i == 0 || strcmp(v[i - 1]->src, v[i]->src) != 0) &&
                     (i + 1 == n || strcmp(v[i]->src, v[i + 1]->src) != 0);
    free(v);
}

/* Runs the loading workers and stores every source in order.
 * Returns how many sources could be read. */
static size_t ingest(const struct sink *to, char **srcs, size_t n)
{
    struct merge m = {.to = to, .now = (int64_t)time(NULL)};
    struct pool p;
    size_t i, ok = 0;

    m.jobs = calloc(n, sizeof(*m.jobs));
    if (m.jobs == NULL)
        return 0;
    for (i = 0; i < n; i++)
        m.jobs[i].src = srcs[i];
    mark_once(m.jobs, n);
    if (pool_start(&p, n, MERGE_WINDOW, load_job, &m) != 0) {
        free(m.jobs);
        return 0;
    }
    for (i = 0; i < n; i++) {
        struct job *j = &m.jobs[i];

        pool_wait(&p, i);
        ok += (size_t)store_job(to, j);
        tb_feed_free(j->feed);
        j->feed = NULL;
        pool_consumed(&p);
    }
    pool_stop(&p);
    free(m.jobs);
    return ok;
}

/* Writes out what the buffer holds and empties it. */
static int drain(struct tb_buf *doc)
{
    if (doc->len > 0 && fwrite(doc->data, 1, doc->len, stdout) != doc->len)
        return -EIO;
    tb_buf_reset(doc);
    return 0;
}

/* The head's facts, as tb_publish_atom() finds them in a whole list: the
 * newest printable date (updated, else published) and whether some entry
 * has no author. Called once per entry. */
static void head_note(int64_t published, int64_t updated, int has_authors, int64_t *newest,
                      int *authorless)
{
    int64_t t = tb_date_ok(updated) ? updated : published;

    if (tb_date_ok(t) && t > *newest)
        *newest = t;
    *authorless |= !has_authors;
}

/* head_note() over stored entries, read by rowid. */
static int emit_head(struct tb_store *st, const int64_t *ids, size_t n, int64_t *newest,
                     int *authorless, char *err, size_t errlen)
{
    struct tb_store_brief b[EMIT_BATCH];
    size_t i, k, len;
    int rc = 0;

    *newest = TB_TIME_NONE;
    *authorless = 0;
    for (i = 0; rc == 0 && i < n; i += len) {
        len = n - i < EMIT_BATCH ? n - i : EMIT_BATCH;
        rc = tb_store_brief(st, ids + i, len, b, err, errlen);
        for (k = 0; rc == 0 && k < len; k++)
            head_note(b[k].published, b[k].updated, b[k].has_authors, newest, authorless);
    }
    return rc;
}

/* Hand-over of loaded batches from the main thread, which alone uses the
 * store, to the thread that writes them, so loading the next batch overlaps
 * writing this one. */
struct outq {
    struct tb_publish_stream *ps; /* the document */
    struct tb_buf *doc;           /* its buffer, drained to stdout */
    struct tb_feed *batch;        /* loaded, not yet taken by the writer */
    int done;                     /* no more batches will come */
    int rc;                       /* the writer's first error */
    pthread_mutex_t lock;         /* guards batch, done and rc */
    pthread_cond_t cond;          /* signalled when any of them changes */
};

/* Writes one batch, drains the document to stdout and frees the batch. */
static int write_batch(struct outq *q, struct tb_feed *batch)
{
    int rc = tb_publish_atom_entries(q->ps, batch->entries);

    if (rc == 0)
        rc = drain(q->doc);
    tb_feed_free(batch);
    return rc;
}

/* The writer thread: takes batches until told there are no more. After an
 * error it only frees what it takes; outq_put() then stops the loading. */
static void *writer(void *arg)
{
    struct outq *q = arg;
    struct tb_feed *batch;
    int rc = 0;

    for (;;) {
        pthread_mutex_lock(&q->lock);
        while (q->batch == NULL && !q->done)
            pthread_cond_wait(&q->cond, &q->lock);
        batch = q->batch;
        q->batch = NULL;
        q->rc = rc;
        pthread_cond_broadcast(&q->cond);
        pthread_mutex_unlock(&q->lock);
        if (batch == NULL)
            return NULL;
        if (rc == 0)
            rc = write_batch(q, batch);
        else
            tb_feed_free(batch);
    }
}

/* Hands a batch to the writer once it took the previous one. Returns the
 * writer's error, if any (the batch is then freed here). */
static int outq_put(struct outq *q, struct tb_feed *batch)
{
    int rc;

    pthread_mutex_lock(&q->lock);
    while (q->batch != NULL && q->rc == 0)
        pthread_cond_wait(&q->cond, &q->lock);
    rc = q->rc;
    if (rc == 0)
        q->batch = batch;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    if (rc != 0)
        tb_feed_free(batch);
    return rc;
}

/* Loads the entries in batches for the writer thread (or writes them here
 * when no thread can be started), so neither all entries nor the whole
 * document are held at once. */
static int emit_entries(struct tb_store *st, struct outq *q, const int64_t *ids, size_t n,
                        char *err, size_t errlen)
{
    struct tb_feed *batch;
    pthread_t thread;
    size_t i, len;
    int threaded = pthread_create(&thread, NULL, writer, q) == 0;
    int rc = 0;

    for (i = 0; rc == 0 && i < n; i += len) {
        len = n - i < EMIT_BATCH ? n - i : EMIT_BATCH;
        rc = tb_store_load(st, ids + i, len, &batch, err, errlen);
        if (rc == 0)
            rc = threaded ? outq_put(q, batch) : write_batch(q, batch);
    }
    if (!threaded)
        return rc;
    pthread_mutex_lock(&q->lock);
    q->done = 1;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    pthread_join(thread, NULL);
    return rc ? rc : q->rc;
}

/* Ends the document, writes the rest out and reports the first error. */
static int finish(struct tb_publish_stream *ps, int rc, struct tb_buf *doc, const char *err)
{
    int end = tb_publish_atom_end(ps);

    rc = rc ? rc : end;
    if (rc == 0)
        rc = drain(doc);
    if (rc == 0 && fflush(stdout) != 0)
        rc = -errno;
    if (rc)
        fprintf(stderr, "tributary: merge: %s\n", err[0] ? err : tb_strerror(rc));
    return rc;
}

/* Selects the entries and writes the merged feed on stdout. */
static int emit(struct tb_store *st, const char *topic, const char *title, size_t limit)
{
    struct tb_publish_meta meta = {.id = "urn:tributary:merge", .title = title};
    struct outq q = {0};
    struct tb_buf doc;
    int64_t *ids = NULL;
    size_t n = 0;
    char err[512] = "";
    int authorless = 0, rc;

    tb_buf_init(&doc, (size_t)1 << 30);
    q.doc = &doc;
    pthread_mutex_init(&q.lock, NULL);
    pthread_cond_init(&q.cond, NULL);
    rc = tb_topic_select(st, topic, limit, &ids, &n, err, sizeof(err));
    if (rc == 0)
        rc = emit_head(st, ids, n, &meta.updated, &authorless, err, sizeof(err));
    if (rc == 0)
        rc = tb_publish_atom_begin(&q.ps, &meta, authorless, &doc);
    if (rc == 0)
        rc = emit_entries(st, &q, ids, n, err, sizeof(err));
    rc = finish(q.ps, rc, &doc, err);
    pthread_cond_destroy(&q.cond);
    pthread_mutex_destroy(&q.lock);
    tb_buf_free(&doc);
    free(ids);
    return rc ? 1 : 0;
}

/* A run of consecutive entries of the merged list, rendered on its own. */
struct piece {
    const struct tb_entry *first; /* its first entry */
    size_t pos;                   /* entries before it in the document */
    size_t n;                     /* its number of entries */
    struct tb_buf out;            /* its bytes, once rendered */
    int rc;                       /* the rendering's error, or 0 */
};

/* What the rendering workers share. */
struct render {
    const struct tb_publish_stream *ps; /* the document being written */
    struct piece *pieces;               /* the list cut in RENDER_CHUNK runs */
};

/* pool callback: renders piece i. */
static void render_piece(void *ctx, size_t i)
{
    struct render *r = ctx;
    struct piece *pc = &r->pieces[i];

    pc->rc = tb_publish_atom_render(r->ps, pc->pos, pc->first, pc->n, &pc->out);
}

/* Cuts the list of n entries into pieces and notes the head's facts
 * (head_note()) on the way: one walk of the list, which is all this thread
 * does between the dedupe and the rendering. Returns the pieces, or NULL. */
static struct piece *cut_list(const struct tb_entry *e, size_t n, size_t *npieces, int64_t *newest,
                              int *authorless)
{
    size_t np = (n + RENDER_CHUNK - 1) / RENDER_CHUNK, i, k;
    struct piece *pc = calloc(np ? np : 1, sizeof(*pc));

    *npieces = np;
    *newest = TB_TIME_NONE;
    *authorless = 0;
    for (i = 0; pc != NULL && i < np; i++) {
        pc[i].first = e;
        pc[i].pos = i * RENDER_CHUNK;
        pc[i].n = n - pc[i].pos < RENDER_CHUNK ? n - pc[i].pos : RENDER_CHUNK;
        tb_buf_init(&pc[i].out, (size_t)1 << 30);
        for (k = 0; k < pc[i].n && e != NULL; k++, e = e->next)
            head_note(e->published, e->updated, e->authors != NULL, newest, authorless);
    }
    return pc;
}

/* Writes the pieces to stdout: the workers render them in parallel while
 * this thread writes the finished ones in order. Frees the pieces. */
static int write_list(const struct tb_publish_stream *ps, struct piece *pieces, size_t np)
{
    struct render r = {.ps = ps, .pieces = pieces};
    struct pool p;
    size_t i;
    int rc = pool_start(&p, np, RENDER_WINDOW, render_piece, &r);

    if (rc != 0) {
        free(r.pieces);
        return rc;
    }
    for (i = 0; rc == 0 && i < np; i++) {
        pool_wait(&p, i);
        rc = r.pieces[i].rc ? r.pieces[i].rc : drain(&r.pieces[i].out);
        tb_buf_free(&r.pieces[i].out);
        pool_consumed(&p);
    }
    pool_stop(&p);
    for (i = 0; i < np; i++)
        tb_buf_free(&r.pieces[i].out);
    free(r.pieces);
    return rc;
}

/* emit() for the in-memory dedupe. */
static int emit_deduped(struct tb_dedupe *dd, const char *title, size_t limit)
{
    struct tb_publish_meta meta = {.id = "urn:tributary:merge", .title = title};
    struct tb_publish_stream *ps = NULL;
    struct piece *pieces = NULL;
    struct tb_entry *list;
    struct tb_buf doc;
    size_t n, np = 0, i;
    int authorless = 0, rc;

    tb_buf_init(&doc, (size_t)1 << 30);
    rc = tb_dedupe_select(dd, limit, &list, &n);
    if (rc == 0)
        pieces = cut_list(list, n, &np, &meta.updated, &authorless);
    if (rc == 0 && pieces == NULL)
        rc = -ENOMEM;
    if (rc == 0)
        rc = tb_publish_atom_begin(&ps, &meta, authorless, &doc);
    /* The dedupe's entries share their source's strings: each origin's
     * atom:source is rendered once, not once per entry. */
    if (rc == 0)
        rc = tb_publish_atom_share_sources(ps);
    if (rc == 0)
        rc = drain(&doc);
    if (rc == 0) {
        rc = write_list(ps, pieces, np);
        pieces = NULL;
    }
    for (i = 0; pieces != NULL && i < np; i++)
        tb_buf_free(&pieces[i].out);
    free(pieces);
    rc = finish(ps, rc, &doc, "");
    tb_buf_free(&doc);
    return rc ? 1 : 0;
}

static void merge_usage(FILE *fp)
{
    fputs("usage: tributary merge [--topic QUERY] [--title T] [--limit N] [--db FILE] SOURCE...\n"
          "Merges feeds (files, http(s) URLs, or - for stdin) into one Atom feed on stdout,\n"
          "without duplicates. --topic keeps entries matching an FTS5 query; --limit keeps\n"
          "the newest N; --db keeps the database (default: a temporary one).\n",
          fp);
}

/* Opens the store: the given file, or a temporary one removed at once. */
static int open_store(struct tb_store **st, const char *db, char *err, size_t errlen)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    int fd, rc;

    if (db)
        return tb_store_open(st, db, 0, err, errlen);
    snprintf(path, sizeof(path), "%s/tributary-merge-XXXXXX", dir && *dir ? dir : "/tmp");
    fd = mkstemp(path);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "temporary database: %s", strerror(-rc));
        return rc;
    }
    close(fd);
    rc = tb_store_open(st, path, TB_STORE_TEMP, err, errlen);
    /* SQLite keeps the open file; unlinking now leaves nothing behind. */
    unlink(path);
    return rc;
}

/* merge through a store: the --db file (which may hold earlier entries) or
 * a temporary one for --topic's full-text query. */
static int merge_stored(char **srcs, size_t n, const char *db, const char *topic, const char *title,
                        size_t limit)
{
    struct sink to = {0};
    char err[512] = "";
    int rc = open_store(&to.st, db, err, sizeof(err));

    if (rc) {
        fprintf(stderr, "tributary: merge: %s\n", err[0] ? err : tb_strerror(rc));
        return 1;
    }
    if (topic && tb_topic_check(to.st, topic, err, sizeof(err))) {
        fprintf(stderr, "tributary: merge: invalid --topic query '%s': %s\n", topic, err);
        tb_store_close(to.st);
        return 2;
    }
    if (ingest(&to, srcs, n) == 0) {
        fprintf(stderr, "tributary: merge: no source could be read\n");
        tb_store_close(to.st);
        return 1;
    }
    rc = emit(to.st, topic, title, limit);
    tb_store_close(to.st);
    return rc;
}

/* A one-shot merge allocates and frees a source's body, parse and output
 * pieces (hundreds of KiB) over and over: kept in the heap rather than
 * mapped and unmapped each time, their pages are touched once, not faulted
 * in again for every source (a tenth of the CPU time on the bench corpus). */
static void tune_malloc(void)
{
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

/* merge without a database: the store's dedupe rules, in memory. */
static int merge_deduped(char **srcs, size_t n, const char *title, size_t limit)
{
    struct sink to = {0};
    int rc;

    tune_malloc();
    rc = tb_dedupe_new(&to.dd);

    if (rc) {
        fprintf(stderr, "tributary: merge: %s\n", tb_strerror(rc));
        return 1;
    }
    if (ingest(&to, srcs, n) == 0) {
        fprintf(stderr, "tributary: merge: no source could be read\n");
        tb_dedupe_free(to.dd);
        return 1;
    }
    rc = emit_deduped(to.dd, title, limit);
    tb_dedupe_free(to.dd);
    return rc;
}

int tb_cli_merge(int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'}, {"title", required_argument, NULL, 'T'},
        {"limit", required_argument, NULL, 'n'}, {"db", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *topic = NULL, *title = NULL, *db = NULL;
    char *end;
    size_t limit = 0;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "t:T:n:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            topic = optarg;
            break;
        case 'T':
            title = optarg;
            break;
        case 'n':
            errno = 0;
            limit = strtoul(optarg, &end, 10);
            if (errno || *end || optarg[0] == '-' || end == optarg) {
                fprintf(stderr, "tributary: merge: --limit wants a number, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'd':
            db = optarg;
            break;
        case 'h':
            merge_usage(stdout);
            return 0;
        default:
            merge_usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "tributary: merge: no SOURCE given\n");
        merge_usage(stderr);
        return 2;
    }
    if (title == NULL)
        title = topic ? topic : "tributary merged feed";
    if (db == NULL && topic == NULL)
        return merge_deduped(argv + optind, (size_t)(argc - optind), title, limit);
    return merge_stored(argv + optind, (size_t)(argc - optind), db, topic, title, limit);
}

int tb_cli_parse(int argc, char **argv)
{
    struct job j = {0};
    char *json;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        puts("usage: tributary parse SOURCE\n"
             "Prints what was understood of one feed (file, http(s) URL or -) as JSON.");
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: tributary parse SOURCE\n");
        return 2;
    }
    j.src = argv[1];
    load_source(&j, (int64_t)time(NULL), NULL);
    if (j.rc) {
        fprintf(stderr, "tributary: %s: %s\n", j.src, j.err);
        return 1;
    }
    if (j.feed->error)
        fprintf(stderr, "tributary: warning: %s: %s\n", j.src, j.feed->error);
    json = tb_feedjson_dump(j.feed);
    tb_feed_free(j.feed);
    if (json == NULL) {
        fprintf(stderr, "tributary: parse: out of memory\n");
        return 1;
    }
    puts(json);
    free(json);
    return 0;
}
