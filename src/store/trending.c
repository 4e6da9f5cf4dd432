/*
 * Trending papers: one SQL statement scores every paper carried or
 * mentioned within the window (formula in tb_trending.h), reading the
 * mentions by their time index, so the cost follows the window; the
 * papers then come out best first and each one is checked and completed
 * (its stored entry, the topic query) only as far as the limit needs.
 *
 * The decay is a function of our own (tb_decay), registered on the
 * connection: SQLite's math functions are a compile-time option that a
 * system SQLite may lack. Statements are prepared per call: trending is
 * computed once per publish.
 */
#include "tb_trending.h"
#include "tb_topic.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

/* ?1 window start, ?2 now, ?3 half-life. The groups' weights are the
 * highest of their sources'; f holds each group's first carrying or
 * mention of each paper within the window, from sources that count. */
static const char score_sql[] =
    "WITH w AS (SELECT coalesce(grp, name) AS g, max(weight) AS wt FROM sources GROUP BY 1),"
    " f AS (SELECT m.paper AS paper, coalesce(s.grp, s.name) AS g, min(m.at) AS at"
    "  FROM mentions m JOIN sources s ON s.id = m.source_id"
    "  WHERE m.at >= ?1 AND m.at <= ?2 AND s.weight > 0 GROUP BY 1, 2)"
    " SELECT f.paper, sum(w.wt * tb_decay(?2 - f.at, ?3)) AS score, count(*) AS groups,"
    " min(f.at), max(f.at) FROM f JOIN w ON w.g = f.g"
    " GROUP BY f.paper ORDER BY score DESC, groups DESC, f.paper";

/* The stored entry a paper key names, as the dedupe finds it. */
static const char entry_sql[] =
    "SELECT CASE WHEN substr(?1, 1, 6) = 'arxiv:' THEN"
    " (SELECT id FROM entries WHERE arxiv_id = substr(?1, 7) ORDER BY id LIMIT 1)"
    " WHEN substr(?1, 1, 4) = 'doi:' THEN"
    " (SELECT id FROM entries WHERE doi = substr(?1, 5) ORDER BY id LIMIT 1)"
    " WHEN substr(?1, 1, 5) = 'link:' THEN"
    " (SELECT id FROM entries WHERE canon_link = substr(?1, 6) ORDER BY id LIMIT 1) END";

/* Whether entry ?2 matches the FTS5 query ?1: with the rowid given, FTS5
 * seeks that row in each term's list rather than reading the lists. */
static const char match_sql[] =
    "SELECT 1 FROM entries_fts WHERE entries_fts MATCH ?1 AND rowid = ?2";

static const char voices_sql[] =
    "SELECT s.name, coalesce(s.grp, s.name), s.weight, m.entry_id, m.at, m.carries"
    " FROM mentions m JOIN sources s ON s.id = m.source_id WHERE m.paper = ?1"
    " ORDER BY m.at, s.name";

/* tb_decay(age, half_life) = 0.5 ^ (age / half_life). */
static void decay(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    double age = sqlite3_value_double(argv[0]), half = sqlite3_value_double(argv[1]);

    (void)argc;
    sqlite3_result_double(ctx, half > 0 ? exp2(-age / half) : 0.0);
}

/* The statements of one trending walk. */
struct walk {
    sqlite3 *db;         /* the store's connection */
    sqlite3_stmt *score; /* score_sql */
    sqlite3_stmt *entry; /* entry_sql */
    sqlite3_stmt *match; /* match_sql, or NULL without a query */
    char *err;           /* caller's error buffer */
    size_t errlen;       /* its size */
};

static int fail(struct walk *w, const char *what)
{
    if (w->err != NULL && w->errlen > 0)
        snprintf(w->err, w->errlen, "%s: %s", what, sqlite3_errmsg(w->db));
    return TB_ESTORE;
}

static int prepare(struct walk *w, const struct tb_trending_opts *o)
{
    int rc = sqlite3_create_function(w->db, "tb_decay", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                     decay, NULL, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(w->db, score_sql, -1, &w->score, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(w->db, entry_sql, -1, &w->entry, NULL);
    if (rc == SQLITE_OK && o->query != NULL && o->query[0] != '\0') {
        rc = sqlite3_prepare_v2(w->db, match_sql, -1, &w->match, NULL);
        if (rc == SQLITE_OK)
            sqlite3_bind_text(w->match, 1, o->query, -1, SQLITE_STATIC);
    }
    if (rc != SQLITE_OK)
        return fail(w, "trending");
    sqlite3_bind_int64(w->score, 1, o->now - o->window);
    sqlite3_bind_int64(w->score, 2, o->now);
    sqlite3_bind_int64(w->score, 3, o->half_life);
    return 0;
}

/* The stored entry that is paper `key` into *id (0: none). */
static int entry_of(struct walk *w, const char *key, int64_t *id)
{
    int rc;

    sqlite3_reset(w->entry);
    sqlite3_bind_text(w->entry, 1, key, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(w->entry);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(w->entry, 0) : 0;
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(w, "trending entry");
    sqlite3_reset(w->entry);
    return rc;
}

/* Whether entry id matches the query (always, without one) into *ok. */
static int matches(struct walk *w, int64_t id, int *ok)
{
    int rc;

    *ok = w->match == NULL;
    if (w->match == NULL || id == 0)
        return 0;
    sqlite3_reset(w->match);
    sqlite3_bind_int64(w->match, 2, id);
    rc = sqlite3_step(w->match);
    *ok = rc == SQLITE_ROW;
    if (rc == SQLITE_ERROR)
        rc = TB_EQUERY;
    else
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : TB_ESTORE;
    if (rc != 0 && w->err != NULL && w->errlen > 0)
        snprintf(w->err, w->errlen, "%s", sqlite3_errmsg(w->db));
    sqlite3_reset(w->match);
    return rc;
}

/* Steps through the scored papers, reporting those that qualify. */
static int run(struct walk *w, const struct tb_trending_opts *o, tb_trending_cb cb, void *data)
{
    struct tb_trending_paper p;
    size_t n = 0;
    int rc = 0, step, ok;

    while (rc == 0 && (o->limit == 0 || n < o->limit)) {
        step = sqlite3_step(w->score);
        if (step != SQLITE_ROW) {
            rc = step == SQLITE_DONE ? 0 : fail(w, "trending");
            break;
        }
        memset(&p, 0, sizeof(p));
        p.key = (const char *)sqlite3_column_text(w->score, 0);
        p.score = sqlite3_column_double(w->score, 1);
        p.groups = sqlite3_column_int(w->score, 2);
        p.first = sqlite3_column_int64(w->score, 3);
        p.last = sqlite3_column_int64(w->score, 4);
        if (p.key == NULL)
            return -ENOMEM;
        rc = entry_of(w, p.key, &p.entry_id);
        rc = rc ? rc : matches(w, p.entry_id, &ok);
        /* A link is a paper only when it is a stored entry's. */
        if (rc != 0 || !ok || (p.entry_id == 0 && strncmp(p.key, "link:", 5) == 0))
            continue;
        n++;
        rc = cb(&p, data);
    }
    return rc;
}

int tb_trending_select(struct tb_store *s, const struct tb_trending_opts *o, tb_trending_cb cb,
                       void *data, char *err, size_t errlen)
{
    struct walk w = {.db = tb_store_db(s), .err = err, .errlen = errlen};
    int rc;

    if (o->window < 1 || o->half_life < 1)
        return -EINVAL;
    rc = tb_topic_check(s, o->query, err, errlen);
    if (rc == 0 && o->query != NULL && o->query[0] != '\0')
        rc = tb_store_sync_index(s, err, errlen);
    rc = rc ? rc : prepare(&w, o);
    rc = rc ? rc : run(&w, o, cb, data);
    sqlite3_finalize(w.score);
    sqlite3_finalize(w.entry);
    sqlite3_finalize(w.match);
    return rc;
}

int tb_trending_voices(struct tb_store *s, const char *key, tb_trending_voice_cb cb, void *data,
                       char *err, size_t errlen)
{
    struct walk w = {.db = tb_store_db(s), .err = err, .errlen = errlen};
    struct tb_trending_voice v;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(w.db, voices_sql, -1, &st, NULL), step;

    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return fail(&w, "voices");
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = 0;
    while (rc == 0) {
        step = sqlite3_step(st);
        if (step != SQLITE_ROW) {
            rc = step == SQLITE_DONE ? 0 : fail(&w, "voices");
            break;
        }
        v.source = (const char *)sqlite3_column_text(st, 0);
        v.group = (const char *)sqlite3_column_text(st, 1);
        v.weight = sqlite3_column_double(st, 2);
        v.entry_id = sqlite3_column_int64(st, 3);
        v.at = sqlite3_column_int64(st, 4);
        v.carries = sqlite3_column_int(st, 5);
        rc = v.source && v.group ? cb(&v, data) : -ENOMEM;
    }
    sqlite3_finalize(st);
    return rc;
}
