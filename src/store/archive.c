/*
 * RFC 5005 archive pages in the store (see tb_archive.h): the table
 * `archive` says which complete page of which feed each archived entry is
 * on. The current document is what matches and is on no page; pages are
 * cut from its oldest end.
 *
 * The SQL is tb_db's, the same on SQLite and PostgreSQL. An update takes
 * its feed's archive_feeds row first (a write): on PostgreSQL, where
 * transactions are READ COMMITTED and lock rows rather than the database,
 * that row lock keeps two connections from cutting the same feed's pages
 * at once; on SQLite it takes the write lock before the reads, as
 * BEGIN IMMEDIATE would.
 */
#include "store_int.h"
#include "tb_archive.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tb_buf.h"
#include "tb_topic.h"
#include "tb_vec.h"

#define CUT_ROWS 64 /* most entries of a page one statement records */

/* The number of a feed's complete pages (TB__Q_ARCH_PAGES). */
static const char pages_sql[] = "SELECT coalesce(max(page), 0) FROM archive WHERE feed = ?1";

/* The cached statement `which` (sql) into *q, with fmt's values bound in
 * order: 'i' an int64_t, 't' a string (borrowed). 0, or as tb__store_q. */
static int bound(struct tb_store *s, enum tb__q which, const char *sql, struct tb_db_stmt **q,
                 char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int i, rc = tb__store_q(s, which, sql, q, err, errlen);

    va_start(ap, fmt);
    for (i = 0; rc == 0 && fmt[i] != '\0'; i++) {
        if (fmt[i] == 'i')
            rc = tb_db_bind_int64(*q, i + 1, va_arg(ap, int64_t));
        else
            rc = tb_db_bind_text(*q, i + 1, va_arg(ap, const char *));
    }
    va_end(ap);
    return rc;
}

/* The first column of the first row of q (bound by bound(), which returned
 * rc) into *v (NULL: 0); no row leaves *v as it was. q is left reset. */
static int scalar(struct tb_db_stmt *q, int rc, int64_t *v, char *err, size_t errlen)
{
    if (rc == 0)
        rc = tb_db_step(q, err, errlen);
    if (rc == TB_DB_ROW) {
        *v = tb_db_column_int64(q, 0);
        rc = 0;
    }
    if (q != NULL)
        tb_db_reset(q);
    return rc;
}

/* Runs the cached statement `which` (sql) with ?1 feed and ?2 each of
 * ids[0..n) (one run without ?2 when ids is NULL), each to its end. */
static int run_each(struct tb_store *s, enum tb__q which, const char *sql, const char *feed,
                    const int64_t *ids, size_t n, char *err, size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    size_t i;
    int rc = tb__store_q(s, which, sql, &q, err, errlen);

    for (i = 0; rc == 0 && i < (ids != NULL ? n : 1); i++) {
        /* A reset clears the bindings: the feed is bound again each time. */
        rc = tb_db_bind_text(q, 1, feed);
        if (rc == 0 && ids != NULL)
            rc = tb_db_bind_int64(q, 2, ids[i]);
        if (rc == 0)
            rc = tb_db_step(q, err, errlen);
        tb_db_reset(q);
    }
    return rc;
}

/* Collects the first column of the rows of q (bound by bound(), which
 * returned rc) into *ids. q is left reset. */
static int collect(struct tb_db_stmt *q, int rc, int64_t **ids, size_t *n, char *err, size_t errlen)
{
    size_t alloc = 0;

    *ids = NULL;
    *n = 0;
    while (rc == 0) {
        rc = tb_db_step(q, err, errlen);
        if (rc != TB_DB_ROW)
            break;
        rc = TB_VEC_RESERVE(*ids, alloc, *n + 1, TB_VEC_MAX);
        if (rc == 0)
            (*ids)[(*n)++] = tb_db_column_int64(q, 0);
    }
    if (q != NULL)
        tb_db_reset(q);
    if (rc != 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

/* What the feed's entries are matched with: its query and sources, as one
 * string (malloc'd; NULL when out of memory). */
static char *what_of(const char *query, char *const *sources, size_t nsources)
{
    struct tb_buf b;
    size_t i;
    int rc;

    tb_buf_init(&b, TB_VEC_MAX);
    rc = tb_buf_adds(&b, query != NULL ? query : "");
    for (i = 0; rc == 0 && i < nsources; i++) {
        rc = tb_buf_add(&b, "\x1f", 1);
        rc = rc ? rc : tb_buf_adds(&b, sources[i]);
    }
    return rc == 0 ? tb_buf_take(&b) : NULL;
}

/* Takes the feed's row of archive_feeds (a write, kept to the end of the
 * transaction: see the top) and reads into *seen the newest entry id its
 * entries were looked at up to: -1 when the feed is new or its entries
 * were matched with something other than what. */
static int take_feed(struct tb_store *s, const char *feed, const char *what, int64_t *seen,
                     char *err, size_t errlen)
{
    static const char sql[] = "INSERT INTO archive_feeds(feed, seen, what) VALUES(?1, -1, ?2)"
                              " ON CONFLICT(feed) DO UPDATE SET seen = archive_feeds.seen"
                              " RETURNING seen, what";
    struct tb_db_stmt *q = NULL;
    const char *was;
    int rc = bound(s, TB__Q_ARCH_TAKE, sql, &q, err, errlen, "tt", feed, what);

    *seen = -1;
    if (rc == 0)
        rc = tb_db_step(q, err, errlen);
    if (rc == TB_DB_ROW) {
        /* Compared here, byte for byte, whatever the database's collation. */
        was = tb_db_column_text(q, 1);
        if (was != NULL && strcmp(was, what) == 0)
            *seen = tb_db_column_int64(q, 0);
        rc = 0;
    }
    if (q != NULL)
        tb_db_reset(q);
    return rc;
}

/* The entries to look at now, into *ids (*all: every entry, none listed):
 * those stored after the feed's last update (the first *nnew) and then
 * those changed among the older ones; every entry when the feed is new or
 * its query or sources changed (its current entries are then chosen
 * again). *top: the newest entry now.
 *
 * "Stored after" is "a higher id", which holds while one connection
 * stores entries (SQLite: one writer at a time). With several nodes on
 * PostgreSQL, ids come from a sequence when the insert runs, not when it
 * commits: an entry whose transaction commits after this read, with an id
 * below *top, would be missed until it changes. Nodes sharing a database
 * need a record of new entries that commits with them (or the changed
 * list from every node) before this is exact there. */
static int candidates(struct tb_store *s, const char *feed, const char *what,
                      const int64_t *changed, size_t nchanged, int64_t **ids, size_t *n,
                      size_t *nnew, int *all, int64_t *top, char *err, size_t errlen)
{
    static const char top_sql[] = "SELECT coalesce(max(id), 0) FROM entries";
    static const char clear_sql[] = "DELETE FROM archive WHERE feed = ?1 AND page = 0";
    static const char new_sql[] = "SELECT id FROM entries WHERE id > ?1 ORDER BY id";
    struct tb_db_stmt *q = NULL;
    int64_t seen = -1;
    size_t alloc, i;
    int rc;

    *ids = NULL;
    *n = 0;
    rc = take_feed(s, feed, what, &seen, err, errlen);
    if (rc == 0) {
        rc = bound(s, TB__Q_ARCH_TOP, top_sql, &q, err, errlen, "");
        rc = scalar(q, rc, top, err, errlen);
    }
    *all = seen < 0;
    if (rc != 0 || *all)
        return rc ? rc : run_each(s, TB__Q_ARCH_CLEAR, clear_sql, feed, NULL, 0, err, errlen);
    rc = bound(s, TB__Q_ARCH_NEW, new_sql, &q, err, errlen, "i", seen);
    rc = collect(q, rc, ids, n, err, errlen);
    alloc = *n;
    *nnew = *n;
    for (i = 0; rc == 0 && i < nchanged; i++) {
        if (changed[i] > seen)
            continue; /* listed already */
        rc = TB_VEC_RESERVE(*ids, alloc, *n + 1, TB_VEC_MAX);
        if (rc == 0)
            (*ids)[(*n)++] = changed[i];
    }
    return rc;
}

/* Takes the changed older entries old[0..nold) out of the current
 * document (those still matching come back with the matches), then makes
 * the matches m[0..nm) current unless they are on a page already. */
static int note_matches(struct tb_store *s, const char *feed, const int64_t *old, size_t nold,
                        const int64_t *m, size_t nm, char *err, size_t errlen)
{
    static const char drop[] = "DELETE FROM archive WHERE feed = ?1 AND entry_id = ?2 AND page = 0";
    static const char note[] = "INSERT INTO archive(feed, entry_id, page, pos)"
                               " VALUES(?1, ?2, 0, 0) ON CONFLICT DO NOTHING";
    int rc = nold > 0 ? run_each(s, TB__Q_ARCH_DROP, drop, feed, old, nold, err, errlen) : 0;

    return rc || nm == 0 ? rc : run_each(s, TB__Q_ARCH_NOTE, note, feed, m, nm, err, errlen);
}

/* Remembers that the feed's entries up to id top were looked at with what. */
static int save_seen(struct tb_store *s, const char *feed, const char *what, int64_t top, char *err,
                     size_t errlen)
{
    static const char sql[] = "INSERT INTO archive_feeds(feed, seen, what) VALUES(?1, ?2, ?3)"
                              " ON CONFLICT(feed) DO UPDATE SET seen = excluded.seen,"
                              " what = excluded.what";
    struct tb_db_stmt *q = NULL;
    int rc = bound(s, TB__Q_ARCH_SEEN, sql, &q, err, errlen, "tit", feed, top, what);

    if (rc == 0)
        rc = tb_db_step(q, err, errlen);
    if (q != NULL)
        tb_db_reset(q);
    return rc;
}

/* Prepares into *out (NULL for n 0) the statement that records n entries
 * of one page: ?1 the feed, ?2 the page, then each entry's id and
 * position. Several rows a statement: on PostgreSQL each statement is a
 * round trip. */
static int cut_stmt(struct tb_db *db, size_t n, struct tb_db_stmt **out, char *err, size_t errlen)
{
    struct tb_buf b;
    size_t i;
    int rc;

    *out = NULL;
    if (n == 0)
        return 0;
    tb_buf_init(&b, 1u << 16);
    rc = tb_buf_adds(&b, "INSERT INTO archive(feed, entry_id, page, pos) VALUES");
    for (i = 0; rc == 0 && i < n; i++)
        rc = tb_buf_addf(&b, "%s(?1, ?%zu, ?2, ?%zu)", i > 0 ? ", " : "", 3 + 2 * i, 4 + 2 * i);
    if (rc == 0)
        rc = tb_buf_adds(&b, " ON CONFLICT(feed, entry_id) DO UPDATE SET page = excluded.page,"
                             " pos = excluded.pos");
    if (rc == 0)
        rc = tb_db_prepare(db, b.data, out, err, errlen);
    tb_buf_free(&b);
    return rc;
}

/* Records ids[0..k) on page `page` at positions pos, pos + 1, ... with st
 * (from cut_stmt(k)). */
static int cut_rows(struct tb_db_stmt *st, const char *feed, int64_t page, const int64_t *ids,
                    size_t k, size_t pos, char *err, size_t errlen)
{
    size_t j;
    int rc = tb_db_bind_text(st, 1, feed);

    rc = rc ? rc : tb_db_bind_int64(st, 2, page);
    for (j = 0; rc == 0 && j < k; j++) {
        rc = tb_db_bind_int64(st, (int)(3 + 2 * j), ids[j]);
        rc = rc ? rc : tb_db_bind_int64(st, (int)(4 + 2 * j), (int64_t)(pos + j));
    }
    rc = rc ? rc : tb_db_step(st, err, errlen);
    tb_db_reset(st);
    return rc;
}

/* Records pages cut from the oldest end of cur (newest first) while at
 * least 2 x limit entries are left; *n shrinks to what stays current. The
 * entries may be recorded as current already (then moved) or not. A page
 * is recorded CUT_ROWS entries a statement (the last part by `part`). */
static int cut_pages(struct tb_store *s, const char *feed, const int64_t *cur, size_t *n,
                     size_t limit, int64_t *pages, char *err, size_t errlen)
{
    struct tb_db_stmt *full = NULL, *part = NULL;
    size_t first, off, k, chunk;
    int rc;

    if (limit == 0 || *n / 2 < limit)
        return 0;
    chunk = limit < CUT_ROWS ? limit : CUT_ROWS;
    rc = cut_stmt(s->sql, chunk, &full, err, errlen);
    rc = rc ? rc : cut_stmt(s->sql, limit % chunk, &part, err, errlen);
    while (rc == 0 && *n / 2 >= limit) {
        first = *n - limit; /* the page's newest entry */
        for (off = 0; rc == 0 && off < limit; off += k) {
            k = limit - off < chunk ? limit - off : chunk;
            rc = cut_rows(k == chunk ? full : part, feed, *pages + 1, cur + first + off, k, off,
                          err, errlen);
        }
        if (rc == 0) {
            ++*pages;
            *n = first;
        }
    }
    tb_db_finalize(full);
    tb_db_finalize(part);
    return rc;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* Keeps in ids[0..*n) those on no page of feed (it has no current entries
 * recorded: see candidates()). One scan of the feed's archived entries
 * rather than a lookup per id: a feed seen for the first time has none,
 * and on PostgreSQL each lookup would be a round trip. */
static int drop_archived(struct tb_store *s, const char *feed, int64_t *ids, size_t *n, char *err,
                         size_t errlen)
{
    static const char sql[] = "SELECT entry_id FROM archive WHERE feed = ?1";
    struct tb_db_stmt *q = NULL;
    int64_t *old = NULL;
    size_t i, nold = 0, kept = 0;
    int rc = bound(s, TB__Q_ARCH_IN, sql, &q, err, errlen, "t", feed);

    rc = collect(q, rc, &old, &nold, err, errlen);
    if (rc != 0 || nold == 0)
        return rc;
    qsort(old, nold, sizeof(*old), cmp_id);
    for (i = 0; i < *n; i++) {
        if (bsearch(&ids[i], old, nold, sizeof(*old), cmp_id) == NULL)
            ids[kept++] = ids[i];
    }
    *n = kept;
    free(old);
    return 0;
}

/* The feed matched against every entry (new, or its query or sources
 * changed; its current entries were forgotten): *cur the matches on no
 * page, newest first, not recorded yet. */
static int match_all(struct tb_store *s, const char *feed, const char *query, char *const *sources,
                     size_t nsources, int64_t **cur, size_t *ncur, char *err, size_t errlen)
{
    int rc = tb_topic_select_in(s, query, sources, nsources, NULL, 0, 0, cur, ncur, err, errlen);

    return rc ? rc : drop_archived(s, feed, *cur, ncur, err, errlen);
}

/* The feed's current entries after recording what is new or changed
 * (cand[0..ncand), the first nnew new), newest first, into *cur. */
static int match_new(struct tb_store *s, const char *feed, const char *query, char *const *sources,
                     size_t nsources, const int64_t *cand, size_t ncand, size_t nnew, int64_t **cur,
                     size_t *ncur, char *err, size_t errlen)
{
    /* out_id breaks ties of sort_time by its bytes, as SQLite's BINARY
     * collation does: the PostgreSQL database has the C collation. */
    static const char current[] = "SELECT a.entry_id FROM archive a JOIN entries e"
                                  " ON e.id = a.entry_id WHERE a.feed = ?1 AND a.page = 0"
                                  " ORDER BY e.sort_time DESC, e.out_id";
    struct tb_db_stmt *q = NULL;
    int64_t *m = NULL;
    size_t nm = 0;
    int rc = 0;

    /* A feed of every entry (no query, no sources) matches every candidate:
     * no query to run over the sort index for them. */
    if ((query == NULL || query[0] == '\0') && nsources == 0)
        rc = note_matches(s, feed, NULL, 0, cand, ncand, err, errlen);
    else {
        if (ncand > 0)
            rc = tb_topic_select_in(s, query, sources, nsources, cand, ncand, 0, &m, &nm, err,
                                    errlen);
        if (rc == 0)
            rc = note_matches(s, feed, cand + nnew, ncand - nnew, m, nm, err, errlen);
        free(m);
    }
    if (rc != 0)
        return rc;
    rc = bound(s, TB__Q_ARCH_CURRENT, current, &q, err, errlen, "t", feed);
    return collect(q, rc, cur, ncur, err, errlen);
}

/* The update inside its transaction (see tb_archive_update()). */
static int update(struct tb_store *s, const char *feed, const char *what, const char *query,
                  char *const *sources, size_t nsources, size_t limit, const int64_t *changed,
                  size_t nchanged, int64_t **cur, size_t *ncur, int64_t *pages, char *err,
                  size_t errlen)
{
    static const char add[] = "INSERT INTO archive(feed, entry_id, page, pos) VALUES(?1, ?2, 0, 0)";
    struct tb_db_stmt *q = NULL;
    int64_t *cand = NULL, top = 0;
    size_t ncand = 0, nnew = 0;
    int all = 0, rc;

    rc =
        candidates(s, feed, what, changed, nchanged, &cand, &ncand, &nnew, &all, &top, err, errlen);
    if (rc == 0 && all)
        rc = match_all(s, feed, query, sources, nsources, cur, ncur, err, errlen);
    else if (rc == 0)
        rc =
            match_new(s, feed, query, sources, nsources, cand, ncand, nnew, cur, ncur, err, errlen);
    free(cand);
    if (rc == 0) {
        rc = bound(s, TB__Q_ARCH_PAGES, pages_sql, &q, err, errlen, "t", feed);
        rc = scalar(q, rc, pages, err, errlen);
    }
    rc = rc ? rc : cut_pages(s, feed, *cur, ncur, limit, pages, err, errlen);
    /* Matched anew: what stays current is recorded as such now. */
    if (rc == 0 && all && *ncur > 0)
        rc = run_each(s, TB__Q_ARCH_ADD, add, feed, *cur, *ncur, err, errlen);
    return rc ? rc : save_seen(s, feed, what, top, err, errlen);
}

int tb_archive_update(struct tb_store *s, const char *feed, const char *query, char *const *sources,
                      size_t nsources, size_t limit, const int64_t *changed, size_t nchanged,
                      int64_t **cur, size_t *ncur, int64_t *pages, char *err, size_t errlen)
{
    char *what;
    int rc;

    *cur = NULL;
    *ncur = 0;
    *pages = 0;
    if (feed == NULL || feed[0] == '\0' || strlen(feed) > TB_ARCHIVE_FEED_MAX) {
        snprintf(err, errlen, "archive: bad feed name");
        return -EINVAL;
    }
    what = what_of(query, sources, nsources);
    if (what == NULL)
        return -ENOMEM;
    /* A transaction of its own, or a savepoint in the caller's. */
    rc = tb_db_begin(s->sql, TB_DB_IMMEDIATE, err, errlen);
    if (rc == 0) {
        rc = update(s, feed, what, query, sources, nsources, limit, changed, nchanged, cur, ncur,
                    pages, err, errlen);
        if (rc == 0)
            rc = tb_db_commit(s->sql, err, errlen);
        else
            (void)tb_db_rollback(s->sql);
    }
    free(what);
    if (rc != 0) {
        free(*cur);
        *cur = NULL;
        *ncur = 0;
        *pages = 0;
    }
    return rc;
}

int tb_archive_page(struct tb_store *s, const char *feed, int64_t page, int64_t **ids, size_t *n,
                    char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT entry_id FROM archive WHERE feed = ?1 AND page = ?2 ORDER BY pos";
    struct tb_db_stmt *q = NULL;
    int rc;

    *ids = NULL;
    *n = 0;
    if (page < 1)
        return 0; /* page 0 holds the current entries: no archive page */
    rc = bound(s, TB__Q_ARCH_PAGE, sql, &q, err, errlen, "ti", feed, page);
    return collect(q, rc, ids, n, err, errlen);
}

int tb_archive_pages(struct tb_store *s, const char *feed, int64_t *pages, char *err, size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    int rc;

    *pages = 0;
    rc = bound(s, TB__Q_ARCH_PAGES, pages_sql, &q, err, errlen, "t", feed);
    rc = scalar(q, rc, pages, err, errlen);
    if (rc != 0)
        *pages = 0;
    return rc;
}
