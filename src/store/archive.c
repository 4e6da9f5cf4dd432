/*
 * RFC 5005 archive pages in the store (see tb_archive.h): the table
 * `archive` says which complete page of which feed each archived entry is
 * on. The current document is what matches and is on no page; pages are
 * cut from its oldest end.
 */
#include "tb_archive.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tb_buf.h"
#include "tb_topic.h"
#include "tb_vec.h"

static int db_fail(sqlite3 *db, char *err, size_t errlen)
{
    snprintf(err, errlen, "archive: %s", sqlite3_errmsg(db));
    return TB_ESTORE;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_fail(db, err, errlen);
}

/* Runs sql with ?1 feed and ?2 each of ids[0..n) (one run without ?2
 * when ids is NULL), each stepped to its end. */
static int run_each(sqlite3 *db, const char *sql, const char *feed, const int64_t *ids, size_t n,
                    char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    size_t i;
    int rc = 0;

    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_fail(db, err, errlen);
    sqlite3_bind_text(q, 1, feed, -1, SQLITE_STATIC);
    for (i = 0; rc == 0 && i < (ids != NULL ? n : 1); i++) {
        if (ids != NULL)
            sqlite3_bind_int64(q, 2, ids[i]);
        if (sqlite3_step(q) != SQLITE_DONE)
            rc = db_fail(db, err, errlen);
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    return rc;
}

/* One integer from sql (?1 feed, ?2 text), or dflt when it has no row. */
static int one_int(sqlite3 *db, const char *sql, const char *feed, const char *text, int64_t dflt,
                   int64_t *out, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int rc = 0, step;

    *out = dflt;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_fail(db, err, errlen);
    sqlite3_bind_text(q, 1, feed, -1, SQLITE_STATIC);
    if (text != NULL)
        sqlite3_bind_text(q, 2, text, -1, SQLITE_STATIC);
    step = sqlite3_step(q);
    if (step == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
        *out = sqlite3_column_int64(q, 0);
    else if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = db_fail(db, err, errlen);
    sqlite3_finalize(q);
    return rc;
}

/* Collects the first column of q's rows (?1 feed, ?2 id) into *ids. */
static int ids_of(sqlite3 *db, const char *sql, const char *feed, int64_t id, int64_t **ids,
                  size_t *n, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    size_t alloc = 0;
    int rc = 0, step;

    *ids = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_fail(db, err, errlen);
    sqlite3_bind_text(q, 1, feed, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, id);
    for (;;) {
        step = sqlite3_step(q);
        if (step != SQLITE_ROW)
            break;
        rc = TB_VEC_RESERVE(*ids, alloc, *n + 1, TB_VEC_MAX);
        if (rc != 0)
            break;
        (*ids)[(*n)++] = sqlite3_column_int64(q, 0);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_fail(db, err, errlen);
    sqlite3_finalize(q);
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

/* The entries to look at now, into *ids (*all: every entry, none listed):
 * those stored after the feed's last update (the first *nnew) and then
 * those changed among the older ones; every entry when the feed is new or
 * its query or sources changed (its current entries are then chosen
 * again). *top: the newest entry now. */
static int candidates(sqlite3 *db, const char *feed, const char *what, const int64_t *changed,
                      size_t nchanged, int64_t **ids, size_t *n, size_t *nnew, int *all,
                      int64_t *top, char *err, size_t errlen)
{
    int64_t seen = -1;
    size_t alloc, i;
    int rc;

    *ids = NULL;
    *n = 0;
    rc = one_int(db, "SELECT seen FROM archive_feeds WHERE feed = ?1 AND what = ?2", feed, what, -1,
                 &seen, err, errlen);
    rc = rc ? rc : one_int(db, "SELECT max(id) FROM entries", feed, NULL, 0, top, err, errlen);
    *all = seen < 0;
    if (rc != 0 || *all)
        return rc ? rc
                  : run_each(db, "DELETE FROM archive WHERE feed = ?1 AND page = 0", feed, NULL, 0,
                             err, errlen);
    rc = ids_of(db, "SELECT id FROM entries WHERE id > ?2 ORDER BY id", feed, seen, ids, n, err,
                errlen);
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
static int note_matches(sqlite3 *db, const char *feed, const int64_t *old, size_t nold,
                        const int64_t *m, size_t nm, char *err, size_t errlen)
{
    static const char drop[] = "DELETE FROM archive WHERE feed = ?1 AND entry_id = ?2 AND page = 0";
    static const char add[] = "INSERT OR IGNORE INTO archive(feed, entry_id, page, pos)"
                              " VALUES(?1, ?2, 0, 0)";
    int rc = nold > 0 ? run_each(db, drop, feed, old, nold, err, errlen) : 0;

    return rc || nm == 0 ? rc : run_each(db, add, feed, m, nm, err, errlen);
}

/* Remembers that the feed's entries up to id top were looked at with what. */
static int save_seen(sqlite3 *db, const char *feed, const char *what, int64_t top, char *err,
                     size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int rc = 0;

    if (sqlite3_prepare_v2(db,
                           "INSERT INTO archive_feeds(feed, seen, what) VALUES(?1, ?2, ?3)"
                           " ON CONFLICT(feed) DO UPDATE SET seen = excluded.seen,"
                           " what = excluded.what",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(db, err, errlen);
    sqlite3_bind_text(q, 1, feed, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, top);
    sqlite3_bind_text(q, 3, what, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        rc = db_fail(db, err, errlen);
    sqlite3_finalize(q);
    return rc;
}

/* Records pages cut from the oldest end of cur (newest first) while at
 * least 2 x limit entries are left; *n shrinks to what stays current. The
 * entries may be recorded as current already (then moved) or not. */
static int cut_pages(sqlite3 *db, const char *feed, const int64_t *cur, size_t *n, size_t limit,
                     int64_t *pages, char *err, size_t errlen)
{
    sqlite3_stmt *set = NULL;
    size_t i, first;
    int rc = 0;

    if (limit == 0 || *n / 2 < limit)
        return 0;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO archive(feed, entry_id, page, pos) VALUES(?1, ?2, ?3, ?4)"
                           " ON CONFLICT(feed, entry_id) DO UPDATE SET page = excluded.page,"
                           " pos = excluded.pos",
                           -1, &set, NULL) != SQLITE_OK)
        return db_fail(db, err, errlen);
    sqlite3_bind_text(set, 1, feed, -1, SQLITE_STATIC);
    while (rc == 0 && *n / 2 >= limit) {
        first = *n - limit; /* the page's newest entry */
        for (i = 0; rc == 0 && i < limit; i++) {
            sqlite3_bind_int64(set, 2, cur[first + i]);
            sqlite3_bind_int64(set, 3, *pages + 1);
            sqlite3_bind_int64(set, 4, (int64_t)i);
            if (sqlite3_step(set) != SQLITE_DONE)
                rc = db_fail(db, err, errlen);
            sqlite3_reset(set);
        }
        if (rc == 0) {
            ++*pages;
            *n = first;
        }
    }
    sqlite3_finalize(set);
    return rc;
}

/* Keeps in ids[0..*n) those on no page of feed. */
static int drop_archived(sqlite3 *db, const char *feed, int64_t *ids, size_t *n, char *err,
                         size_t errlen)
{
    sqlite3_stmt *in = NULL;
    size_t i, kept = 0;
    int rc = 0, step;

    if (sqlite3_prepare_v2(db, "SELECT 1 FROM archive WHERE feed = ?1 AND entry_id = ?2", -1, &in,
                           NULL) != SQLITE_OK)
        return db_fail(db, err, errlen);
    sqlite3_bind_text(in, 1, feed, -1, SQLITE_STATIC);
    for (i = 0; rc == 0 && i < *n; i++) {
        sqlite3_bind_int64(in, 2, ids[i]);
        step = sqlite3_step(in);
        if (step == SQLITE_DONE)
            ids[kept++] = ids[i];
        else if (step != SQLITE_ROW)
            rc = db_fail(db, err, errlen);
        sqlite3_reset(in);
    }
    sqlite3_finalize(in);
    if (rc == 0)
        *n = kept;
    return rc;
}

/* The feed matched against every entry (new, or its query or sources
 * changed; its current entries were forgotten): *cur the matches on no
 * page, newest first, not recorded yet. */
static int match_all(struct tb_store *s, const char *feed, const char *query, char *const *sources,
                     size_t nsources, int64_t **cur, size_t *ncur, char *err, size_t errlen)
{
    int rc = tb_topic_select_in(s, query, sources, nsources, NULL, 0, 0, cur, ncur, err, errlen);

    return rc ? rc : drop_archived(tb_store_db(s), feed, *cur, ncur, err, errlen);
}

/* The feed's current entries after recording what is new or changed
 * (cand[0..ncand), the first nnew new), newest first, into *cur. */
static int match_new(struct tb_store *s, const char *feed, const char *query, char *const *sources,
                     size_t nsources, const int64_t *cand, size_t ncand, size_t nnew, int64_t **cur,
                     size_t *ncur, char *err, size_t errlen)
{
    static const char current[] = "SELECT a.entry_id FROM archive a JOIN entries e"
                                  " ON e.id = a.entry_id WHERE a.feed = ?1 AND a.page = 0"
                                  " ORDER BY e.sort_time DESC, e.out_id";
    sqlite3 *db = tb_store_db(s);
    int64_t *m = NULL;
    size_t nm = 0;
    int rc = 0;

    /* A feed of every entry (no query, no sources) matches every candidate:
     * no query to run over the sort index for them. */
    if ((query == NULL || query[0] == '\0') && nsources == 0)
        rc = note_matches(db, feed, NULL, 0, cand, ncand, err, errlen);
    else {
        if (ncand > 0)
            rc = tb_topic_select_in(s, query, sources, nsources, cand, ncand, 0, &m, &nm, err,
                                    errlen);
        if (rc == 0)
            rc = note_matches(db, feed, cand + nnew, ncand - nnew, m, nm, err, errlen);
        free(m);
    }
    return rc ? rc : ids_of(db, current, feed, 0, cur, ncur, err, errlen);
}

/* The update inside the caller's savepoint (see tb_archive_update()). */
static int update(struct tb_store *s, const char *feed, const char *what, const char *query,
                  char *const *sources, size_t nsources, size_t limit, const int64_t *changed,
                  size_t nchanged, int64_t **cur, size_t *ncur, int64_t *pages, char *err,
                  size_t errlen)
{
    static const char add[] = "INSERT INTO archive(feed, entry_id, page, pos) VALUES(?1, ?2, 0, 0)";
    sqlite3 *db = tb_store_db(s);
    int64_t *cand = NULL, top = 0;
    size_t ncand = 0, nnew = 0;
    int all = 0, rc;

    rc = candidates(db, feed, what, changed, nchanged, &cand, &ncand, &nnew, &all, &top, err,
                    errlen);
    if (rc == 0 && all)
        rc = match_all(s, feed, query, sources, nsources, cur, ncur, err, errlen);
    else if (rc == 0)
        rc =
            match_new(s, feed, query, sources, nsources, cand, ncand, nnew, cur, ncur, err, errlen);
    free(cand);
    rc = rc ? rc
            : one_int(db, "SELECT max(page) FROM archive WHERE feed = ?1", feed, NULL, 0, pages,
                      err, errlen);
    rc = rc ? rc : cut_pages(db, feed, *cur, ncur, limit, pages, err, errlen);
    /* Matched anew: what stays current is recorded as such now. */
    if (rc == 0 && all && *ncur > 0)
        rc = run_each(db, add, feed, *cur, *ncur, err, errlen);
    return rc ? rc : save_seen(db, feed, what, top, err, errlen);
}

int tb_archive_update(struct tb_store *s, const char *feed, const char *query, char *const *sources,
                      size_t nsources, size_t limit, const int64_t *changed, size_t nchanged,
                      int64_t **cur, size_t *ncur, int64_t *pages, char *err, size_t errlen)
{
    sqlite3 *db = tb_store_db(s);
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
    rc = exec(db, "SAVEPOINT tb_archive", err, errlen);
    if (rc == 0)
        rc = update(s, feed, what, query, sources, nsources, limit, changed, nchanged, cur, ncur,
                    pages, err, errlen);
    free(what);
    if (rc == 0)
        return exec(db, "RELEASE tb_archive", err, errlen);
    (void)sqlite3_exec(db, "ROLLBACK TO tb_archive; RELEASE tb_archive", NULL, NULL, NULL);
    free(*cur);
    *cur = NULL;
    *ncur = 0;
    *pages = 0;
    return rc;
}

int tb_archive_page(struct tb_store *s, const char *feed, int64_t page, int64_t **ids, size_t *n,
                    char *err, size_t errlen)
{
    *ids = NULL;
    *n = 0;
    if (page < 1)
        return 0; /* page 0 holds the current entries: no archive page */
    return ids_of(tb_store_db(s),
                  "SELECT entry_id FROM archive WHERE feed = ?1 AND page = ?2 ORDER BY pos", feed,
                  page, ids, n, err, errlen);
}

int tb_archive_pages(struct tb_store *s, const char *feed, int64_t *pages, char *err, size_t errlen)
{
    sqlite3 *db = tb_store_db(s);
    sqlite3_stmt *q = NULL;
    int rc = 0;

    *pages = 0;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(page), 0) FROM archive WHERE feed = ?1", -1, &q,
                           NULL) != SQLITE_OK)
        return db_fail(db, err, errlen);
    sqlite3_bind_text(q, 1, feed, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
        *pages = sqlite3_column_int64(q, 0);
    else
        rc = db_fail(db, err, errlen);
    sqlite3_finalize(q);
    return rc;
}
