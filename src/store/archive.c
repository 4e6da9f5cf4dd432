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

/* Keeps in ids[0..*n) (newest first) those on no page of feed; *pages is
 * the feed's number of complete pages. */
static int drop_archived(sqlite3 *db, const char *feed, int64_t *ids, size_t *n, int64_t *pages,
                         char *err, size_t errlen)
{
    sqlite3_stmt *in = NULL, *max = NULL;
    size_t i, kept = 0;
    int rc = 0, step;

    if (sqlite3_prepare_v2(db, "SELECT 1 FROM archive WHERE feed = ?1 AND entry_id = ?2", -1, &in,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT coalesce(max(page), 0) FROM archive WHERE feed = ?1", -1,
                           &max, NULL) != SQLITE_OK)
        rc = db_fail(db, err, errlen);
    if (rc == 0) {
        sqlite3_bind_text(max, 1, feed, -1, SQLITE_STATIC);
        if (sqlite3_step(max) == SQLITE_ROW)
            *pages = sqlite3_column_int64(max, 0);
        else
            rc = db_fail(db, err, errlen);
        sqlite3_bind_text(in, 1, feed, -1, SQLITE_STATIC);
    }
    for (i = 0; rc == 0 && i < *n; i++) {
        sqlite3_bind_int64(in, 2, ids[i]);
        step = sqlite3_step(in);
        if (step == SQLITE_DONE)
            ids[kept++] = ids[i];
        else if (step != SQLITE_ROW)
            rc = db_fail(db, err, errlen);
        sqlite3_reset(in);
    }
    if (rc == 0)
        *n = kept;
    sqlite3_finalize(in);
    sqlite3_finalize(max);
    return rc;
}

/* Records pages cut from the oldest end of cur (newest first) while at
 * least 2 x limit entries are left; *n shrinks to what stays current. */
static int cut_pages(sqlite3 *db, const char *feed, const int64_t *cur, size_t *n, size_t limit,
                     int64_t *pages, char *err, size_t errlen)
{
    sqlite3_stmt *ins = NULL;
    size_t i, first;
    int rc;

    if (limit == 0 || *n / 2 < limit)
        return 0;
    rc = exec(db, "SAVEPOINT tb_archive", err, errlen);
    if (rc == 0 && sqlite3_prepare_v2(db,
                                      "INSERT INTO archive(feed, entry_id, page, pos)"
                                      " VALUES(?1, ?2, ?3, ?4)",
                                      -1, &ins, NULL) != SQLITE_OK)
        rc = db_fail(db, err, errlen);
    if (rc == 0)
        sqlite3_bind_text(ins, 1, feed, -1, SQLITE_STATIC);
    while (rc == 0 && *n / 2 >= limit) {
        first = *n - limit; /* the page's newest entry */
        for (i = 0; rc == 0 && i < limit; i++) {
            sqlite3_bind_int64(ins, 2, cur[first + i]);
            sqlite3_bind_int64(ins, 3, *pages + 1);
            sqlite3_bind_int64(ins, 4, (int64_t)i);
            if (sqlite3_step(ins) != SQLITE_DONE)
                rc = db_fail(db, err, errlen);
            sqlite3_reset(ins);
        }
        if (rc == 0) {
            ++*pages;
            *n = first;
        }
    }
    sqlite3_finalize(ins);
    if (rc == 0)
        return exec(db, "RELEASE tb_archive", err, errlen);
    (void)sqlite3_exec(db, "ROLLBACK TO tb_archive; RELEASE tb_archive", NULL, NULL, NULL);
    return rc;
}

int tb_archive_update(struct tb_store *s, const char *feed, const char *query, char *const *sources,
                      size_t nsources, size_t limit, int64_t **cur, size_t *ncur, int64_t *pages,
                      char *err, size_t errlen)
{
    sqlite3 *db = tb_store_db(s);
    int64_t npages = 0, *ids = NULL;
    size_t n = 0;
    int rc;

    *cur = NULL;
    *ncur = 0;
    *pages = 0;
    if (feed == NULL || feed[0] == '\0' || strlen(feed) > TB_ARCHIVE_FEED_MAX) {
        snprintf(err, errlen, "archive: bad feed name");
        return -EINVAL;
    }
    rc = tb_topic_select_in(s, query, sources, nsources, NULL, 0, 0, &ids, &n, err, errlen);
    if (rc == 0)
        rc = drop_archived(db, feed, ids, &n, &npages, err, errlen);
    if (rc == 0)
        rc = cut_pages(db, feed, ids, &n, limit, &npages, err, errlen);
    if (rc != 0) {
        free(ids);
        return rc;
    }
    *cur = ids;
    *ncur = n;
    *pages = npages;
    return 0;
}

int tb_archive_page(struct tb_store *s, const char *feed, int64_t page, int64_t **ids, size_t *n,
                    char *err, size_t errlen)
{
    sqlite3 *db = tb_store_db(s);
    sqlite3_stmt *q = NULL;
    size_t alloc = 0;
    int rc = 0, step;

    *ids = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT entry_id FROM archive WHERE feed = ?1 AND page = ?2"
                           " ORDER BY pos",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(db, err, errlen);
    sqlite3_bind_text(q, 1, feed, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, page);
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
