/*
 * ingest_gen: fills a tributary database with N generated entries, for
 * contrib/bench/ingest. Built against build/libtributary_core.a.
 *
 *     ingest_gen DB N
 *
 * Entries go through the daemon's own stages: an RSS 2.0 document of 1,000
 * items is generated in memory, parsed (tb_parse_feed), normalized
 * (tb_norm_feed) and stored in one transaction (tb_store_put_feed), into
 * sources filler-0, filler-1, ... Titles and descriptions are drawn from a
 * vocabulary of 4,096 made-up words (a deterministic PRNG), so the FTS index
 * has a realistic number of distinct terms. Dates lie in 2020-2022, older
 * than any benchmark batch; links are on filler.invalid, so no filler entry
 * is a duplicate of a batch entry. Exits 0 when all N were added.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tb_buf.h"
#include "tb_log.h"
#include "tb_normalize.h"
#include "tb_parse.h"
#include "tb_store.h"

#define PER_FEED 1000
#define NWORDS 4096

static char words[NWORDS][12];
static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Words of 2 to 4 syllables, like "dovakelu". */
static void make_words(void)
{
    static const char *const syl[] = {"ka", "lo",  "ne",  "ri",  "tu", "ma", "se", "vo",  "di",
                                      "pa", "gre", "tor", "lin", "ex", "an", "qu", "ber", "sol"};
    size_t i, k, n = sizeof(syl) / sizeof(syl[0]);

    for (i = 0; i < NWORDS; i++) {
        size_t nsyl = 2 + next() % 3;

        words[i][0] = '\0';
        for (k = 0; k < nsyl; k++)
            strcat(words[i], syl[next() % n]);
    }
}

/* Appends n random words, Zipf-like (low indexes more frequent). */
static int add_words(struct tb_buf *b, int n)
{
    int i, rc = 0;

    for (i = 0; i < n && rc == 0; i++) {
        uint64_t r = next() % NWORDS;
        size_t w = (size_t)(r * r / NWORDS * r / NWORDS);

        rc = tb_buf_addf(b, "%s%s", i ? " " : "", words[w]);
    }
    return rc;
}

static int make_doc(struct tb_buf *b, long feed, long count)
{
    long i;
    int rc = tb_buf_addf(b,
                         "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel>"
                         "<title>filler %ld</title><link>https://filler.invalid/%ld/</link>",
                         feed, feed);

    for (i = 0; i < count && rc == 0; i++) {
        time_t when = (time_t)(1577836800 + (int64_t)(next() % (3 * 365 * 86400)));
        char date[64];

        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", gmtime(&when));
        rc = tb_buf_addf(b, "<item><guid>https://filler.invalid/%ld/%ld</guid><title>", feed, i);
        rc = rc ? rc : add_words(b, 6 + (int)(next() % 8));
        rc = rc ? rc : tb_buf_addf(b, "</title><pubDate>%s</pubDate><description>", date);
        rc = rc ? rc : add_words(b, 20 + (int)(next() % 60));
        rc = rc ? rc : tb_buf_addf(b, "</description></item>");
    }
    return rc ? rc : tb_buf_addf(b, "</channel></rss>");
}

/* One document of count entries through parse, normalize and store. */
static int add_feed(struct tb_store *s, long feed, long count, char *err, size_t errlen)
{
    struct tb_store_stats st = {0};
    struct tb_feed *f = NULL;
    struct tb_buf b;
    char name[32];
    int64_t sid;
    int rc;

    tb_buf_init(&b, (size_t)64 << 20);
    snprintf(name, sizeof(name), "filler-%ld", feed);
    rc = make_doc(&b, feed, count);
    if (rc == 0)
        rc = tb_parse_feed(b.data, b.len, NULL, &f, err, errlen);
    if (rc == 0)
        rc = tb_norm_feed(f);
    if (rc == 0)
        rc = tb_store_source(s, name, NULL, &sid, err, errlen);
    if (rc == 0)
        rc = tb_store_put_feed(s, sid, f, (int64_t)time(NULL), &st, NULL, NULL, err, errlen);
    if (rc == 0 && st.added != (size_t)count) {
        snprintf(err, errlen, "%s: %zu of %ld entries added", name, st.added, count);
        rc = -1;
    }
    tb_feed_free(f);
    tb_buf_free(&b);
    return rc;
}

int main(int argc, char **argv)
{
    struct tb_store *s = NULL;
    char err[512] = "";
    long n, feed;
    int rc;

    n = argc == 3 ? atol(argv[2]) : 0;
    if (n < 1) {
        fprintf(stderr, "usage: ingest_gen DB N\n");
        return 2;
    }
    make_words();
    rc = tb_store_open(&s, argv[1], 0, err, sizeof(err));
    for (feed = 0; rc == 0 && feed * PER_FEED < n; feed++) {
        long count = n - feed * PER_FEED < PER_FEED ? n - feed * PER_FEED : PER_FEED;

        rc = add_feed(s, feed, count, err, sizeof(err));
    }
    tb_store_close(s);
    if (rc != 0) {
        fprintf(stderr, "ingest_gen: %s\n", err[0] ? err : tb_strerror(rc));
        return 1;
    }
    return 0;
}
