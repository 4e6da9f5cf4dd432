/*
 * matcher_bench: what the topic matcher (src/store/matcher.c) costs per
 * stored entry.
 *
 *   matcher_bench PAPERS TARGET [ENTRIES [QUERIES]]   (default 20000 10)
 *
 * PAPERS is tests/fixtures/golden-papers.txt; each entry is one of its
 * papers (title, abstract, two authors, two categories) with a token of its
 * own. Two measures:
 *  1. the matcher alone: batches of 500 entries added, QUERIES topic
 *     queries run over each batch, the batch dropped; also with no query
 *     (the cost of tokenizing into the in-memory index);
 *  2. the store's puts of 2 x ENTRIES into TARGET (an SQLite file, or a
 *     postgresql:// URI naming an empty database), in feeds of 20 entries
 *     and transactions of 50 feeds, alternately with no topic query known
 *     and with QUERIES known (through memberships on both engines; SQLite
 *     keeps its FTS5 index in both), so the difference is what matching
 *     and writing the memberships add to storing an entry.
 * Built against build/libtributary_core.a by contrib/bench/matcher.
 */
#include "tb_store.h"
#include "tb_topic.h"
#include "tb_db.h"
#include "matcher.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 500
#define FEED 20
#define FEEDS_PER_TXN 50

static const char *const queries[] = {
    "\"entity linking\"",
    "retriev* AND (dense OR sparse)",
    "title:transformer OR title:attention",
    "NEAR(language model, 5)",
    "\"named entity recognition\" OR NER",
    "categories:\"cs cl\" AND zero*",
    "graph NOT neural",
    "authors:muller OR authors:garcia",
    "hallucination",
    "(knowledge base) OR wikidata OR wikipedia",
    "benchmark AND dataset",
    "question answering",
};
#define NQUERIES_MAX (sizeof(queries) / sizeof(queries[0]))

static char *titles[64], *texts[64];
static int npapers;

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "%s: %s\n", what, err);
    exit(1);
}

static void load_papers(const char *path)
{
    static char title[4096], text[16384];
    FILE *in = fopen(path, "r");

    if (in == NULL)
        die(path, "cannot open");
    while (npapers < 64 && fgets(title, sizeof(title), in) != NULL) {
        if (title[0] == '#' || title[0] == '\n')
            continue;
        if (fgets(text, sizeof(text), in) == NULL)
            break;
        title[strcspn(title, "\n")] = '\0';
        text[strcspn(text, "\n")] = '\0';
        titles[npapers] = strdup(title);
        texts[npapers++] = strdup(text);
    }
    fclose(in);
    if (npapers == 0)
        die(path, "no papers");
}

/* Entry i's indexed columns (title and authors in bufs). */
static void columns(long i, const char *col[4], char *title, size_t tlen)
{
    snprintf(title, tlen, "%s w%ld", titles[i % npapers], i);
    col[0] = title;
    col[1] = texts[i % npapers];
    col[2] = i % 3 ? "Ana M\xc3\xbcller, Jo Smith" : "Luis Garcia, Wei Zhang";
    col[3] = i % 2 ? "cs.CL, cs.IR" : "cs.LG, stat.ML";
}

static void bench_matcher(long entries, size_t nq)
{
    struct tb__matcher *m = NULL;
    char err[512], title[4200];
    const char *col[4];
    int64_t *ids;
    size_t n, q, matched = 0;
    double t0;
    long i;

    if (tb__matcher_new(&m, err, sizeof(err)) != 0)
        die("matcher", err);
    t0 = now();
    for (i = 0; i < entries; i++) {
        columns(i, col, title, sizeof(title));
        if (tb__matcher_add(m, i + 1, col, err, sizeof(err)) != 0)
            die("add", err);
        if (tb__matcher_count(m) == BATCH || i + 1 == entries) {
            for (q = 0; q < nq; q++) {
                if (tb__matcher_match(m, queries[q], &ids, &n, err, sizeof(err)) != 0)
                    die(queries[q], err);
                matched += n;
                free(ids);
            }
            if (tb__matcher_clear(m, err, sizeof(err)) != 0)
                die("clear", err);
        }
    }
    t0 = now() - t0;
    printf("matcher alone, %zu queries: %ld entries in %.3f s = %.1f us/entry (%zu memberships)\n",
           nq, entries, t0, t0 * 1e6 / (double)entries, matched);
    tb__matcher_free(m);
}

/* Puts entries first..first+count-1 in feeds of FEED, FEEDS_PER_TXN per transaction. */
static double put_entries(struct tb_store *s, int64_t src, long first, long count)
{
    char err[512], key[32];
    static char title[FEED][4200];
    const char *col[4];
    double t0 = now();
    long i = 0, j;
    int feeds = 0;

    if (tb_store_begin(s, err, sizeof(err)) != 0)
        die("begin", err);
    while (i < count) {
        struct tb_feed *f = tb_feed_new();

        for (j = 0; j < FEED && i < count; j++, i++) {
            struct tb_entry *e = tb_entry_new(f);

            columns(first + i, col, title[j], sizeof(title[j]));
            snprintf(key, sizeof(key), "e%ld", first + i);
            e->key = tb_arena_strdup(&f->arena, key);
            e->id = e->key;
            e->title = tb_arena_strdup(&f->arena, col[0]);
            e->text = tb_arena_strdup(&f->arena, col[1]);
            e->published = 1700000000 + first + i;
            tb_feed_append(f, e);
        }
        if (tb_store_put_feed(s, src, f, 1700000000, NULL, NULL, NULL, err, sizeof(err)) != 0)
            die("put", err);
        tb_feed_free(f);
        if (++feeds % FEEDS_PER_TXN == 0 || i == count) {
            if (tb_store_commit(s, err, sizeof(err)) != 0)
                die("commit", err);
            if (i < count && tb_store_begin(s, err, sizeof(err)) != 0)
                die("begin", err);
        }
    }
    return now() - t0;
}

/* Makes the first nq queries known (or, nq 0, none), as registered and
 * backfilled queries are: straight into topic_queries. */
static void set_known(struct tb_store *s, size_t nq)
{
    char err[512];
    size_t q;

    if (tb_db_run(tb_store_sql(s), err, sizeof(err), "DELETE FROM topic_queries", "") != 0)
        die("forget", err);
    for (q = 0; q < nq; q++) {
        if (tb_db_run(tb_store_sql(s), err, sizeof(err),
                      "INSERT INTO topic_queries(query, done, complete) VALUES(?1, 0, 1)", "t",
                      queries[q]) != 0)
            die("know", err);
    }
}

/* Transactions of 1,000 entries, alternately with no query known and with
 * nq known (through memberships on both engines; SQLite also keeps its
 * FTS5 index), so that both see the database at the same sizes. */
static void bench_store(const char *target, long entries, size_t nq)
{
    const long chunk = FEED * FEEDS_PER_TXN;
    struct tb_store *s = NULL;
    char err[512];
    int64_t src = 0, members = 0;
    double t[2] = {0, 0}, cpu[2] = {0, 0}, c0;
    long done = 0, counted[2] = {0, 0};
    int k = 0;

    if (tb_store_open(&s, target, 0, err, sizeof(err)) != 0)
        die(target, err);
    if (tb_store_source(s, "bench", "http://127.0.0.1/bench", &src, err, sizeof(err)) != 0)
        die("source", err);
    if (tb__topic_use_members(s, 1) != 0)
        die("members", "cannot be switched on");
    while (done < 2 * entries) {
        long n = 2 * entries - done < chunk ? 2 * entries - done : chunk;

        set_known(s, k ? nq : 0);
        c0 = cpu_now();
        t[k] += put_entries(s, src, done, n);
        cpu[k] += cpu_now() - c0;
        counted[k] += n;
        done += n;
        k = !k;
    }
    if (tb_db_scalar(tb_store_sql(s), &members, err, sizeof(err),
                     "SELECT count(*) FROM topic_members", "") != 0)
        die("count", err);
    printf("store puts (%s), no query known: %ld entries in %.3f s = %.1f us/entry"
           " (this process's CPU: %.1f us/entry)\n",
           tb_db_dialect(tb_store_sql(s)) == TB_DB_PG ? "PostgreSQL" : "SQLite", counted[0], t[0],
           t[0] * 1e6 / (double)counted[0], cpu[0] * 1e6 / (double)counted[0]);
    printf("store puts, %zu queries known: %ld entries in %.3f s = %.1f us/entry"
           " (+%.1f us/entry; this process's CPU: %.1f us/entry, +%.1f; %lld memberships"
           " written)\n",
           nq, counted[1], t[1], t[1] * 1e6 / (double)counted[1],
           (t[1] / (double)counted[1] - t[0] / (double)counted[0]) * 1e6,
           cpu[1] * 1e6 / (double)counted[1],
           (cpu[1] / (double)counted[1] - cpu[0] / (double)counted[0]) * 1e6, (long long)members);
    tb_store_close(s);
}

int main(int argc, char **argv)
{
    long entries = argc > 3 ? atol(argv[3]) : 20000;
    size_t nq = argc > 4 ? (size_t)atol(argv[4]) : 10;

    if (argc < 3 || entries < 1 || nq > NQUERIES_MAX) {
        fprintf(stderr, "usage: matcher_bench PAPERS TARGET [ENTRIES [QUERIES<=%zu]]\n",
                NQUERIES_MAX);
        return 2;
    }
    load_papers(argv[1]);
    bench_matcher(entries, 0);
    bench_matcher(entries, nq);
    bench_store(argv[2], entries, nq);
    return 0;
}
