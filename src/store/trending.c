/*
 * Trending papers: the mentions within the window are read through their
 * time index (so the cost follows the window, not the archive) and scored
 * here (formula in tb_trending.h): each row's paper is interned to a
 * number, the rows are sorted by paper, group and time, and one pass
 * takes each group's first voice. Grouping the strings in SQL cost twice
 * the whole of this (two temporary b-trees over 300,000 rows). The papers
 * then come out best first and each one is checked and completed (its
 * stored entry, the topic query) only as far as the limit needs.
 * Statements are prepared per call: trending is computed once per publish.
 */
#include "store_int.h"
#include "tb_trending.h"
#include "tb_map.h"
#include "tb_arena.h"
#include "tb_topic.h"
#include "tb_vec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Each source's group, the groups sorted by name; weights per source. */
static const char sources_sql[] =
    "SELECT id, weight, coalesce(grp, name) AS g FROM sources ORDER BY g, id";

/* The window's voices, from the covering time index. */
static const char window_sql[] =
    "SELECT paper, source_id, at FROM mentions WHERE at >= ?1 AND at <= ?2";

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

/* The same through memberships (topic.c; PostgreSQL): ?1 the query's id. */
static const char member_sql[] =
    "SELECT 1 FROM topic_members WHERE query_id = ?1 AND entry_id = ?2";

static const char voices_sql[] =
    "SELECT s.name, coalesce(s.grp, s.name), s.weight, m.entry_id, m.at, m.carries"
    " FROM mentions m JOIN sources s ON s.id = m.source_id WHERE m.paper = ?1"
    " ORDER BY m.at, s.name";

/* A source as it counts: its group and its weight. */
struct voice_src {
    int64_t id;    /* sources.id */
    int group;     /* index into walk.gweight */
    double weight; /* its own weight (0: never counts) */
};

/* One voice in the window: a source's first carrying or mention of a paper. */
struct row {
    uint32_t paper; /* interned key number */
    int group;      /* the source's group */
    int64_t at;     /* when */
};

/* A scored paper. */
struct scored {
    uint32_t paper;      /* interned key number */
    int groups;          /* distinct groups */
    double score;        /* the formula's */
    int64_t first, last; /* earliest and latest first voice of a group */
};

/* Everything one trending walk holds. */
struct walk {
    struct tb_db *db;         /* the store's connection */
    struct tb_db_stmt *entry; /* entry_sql */
    struct tb_db_stmt *match; /* match_sql, or NULL without a query */
    const char *query;        /* its FTS5 query (the caller's) */
    int members;              /* match is member_sql, for the query of id qid */
    int64_t qid;              /* with members: the query's id in topic_queries */
    char *err;                /* caller's error buffer */
    size_t errlen;            /* its size */
    struct voice_src *srcs;   /* the sources, sorted by id once loaded */
    double *gweight;          /* per group: the highest weight of its sources */
    size_t nsrcs, asrcs, agw; /* sources loaded, slots of srcs, of gweight */
    struct tb_arena arena;    /* the interned keys' text */
    const char **keys;        /* interned keys, by number */
    uint32_t nkeys;           /* keys interned */
    size_t akeys;             /* slots of keys */
    struct tb_map numbers;    /* key -> its number + 1 (a seeded map: keys come from feeds) */
    struct row *rows;         /* the window's voices */
    size_t nrows, arows;      /* used, allocated */
    struct scored *papers;    /* the scored papers, best first once sorted */
    size_t npapers;           /* their number */
};

/* Writes "what: the database's message" into the caller's err; returns code. */
static int fail(struct walk *w, const char *what, int code)
{
    if (w->err != NULL && w->errlen > 0)
        snprintf(w->err, w->errlen, "%s: %s", what, tb_db_errmsg(w->db));
    return code;
}

static void walk_free(struct walk *w)
{
    tb_db_finalize(w->entry);
    tb_db_finalize(w->match);
    free(w->srcs);
    free(w->gweight);
    tb_arena_free(&w->arena);
    free(w->keys);
    tb_map_free(&w->numbers);
    free(w->rows);
    free(w->papers);
}

/* Adds source id of group g with its weight; a group weighs as its
 * heaviest source. */
static int add_source(struct walk *w, int64_t id, int g, int is_new, double weight)
{
    int rc = TB_VEC_RESERVE(w->srcs, w->asrcs, w->nsrcs + 1, TB_VEC_MAX);

    rc = rc ? rc : TB_VEC_RESERVE(w->gweight, w->agw, w->nsrcs + 1, TB_VEC_MAX);
    if (rc != 0)
        return rc;
    w->srcs[w->nsrcs].id = id;
    w->srcs[w->nsrcs].group = g;
    w->srcs[w->nsrcs++].weight = weight;
    if (is_new || weight > w->gweight[g])
        w->gweight[g] = weight;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    int64_t x = ((const struct voice_src *)a)->id, y = ((const struct voice_src *)b)->id;

    return x < y ? -1 : x > y;
}

/* Loads every source's group and weight. */
static int load_sources(struct walk *w)
{
    struct tb_db_stmt *st = NULL;
    const char *g;
    char *prev = NULL;
    int ngroups = 0, is_new, step;
    int rc = tb_db_prepare(w->db, sources_sql, &st, NULL, 0);

    if (rc != 0)
        rc = fail(w, "trending sources", rc);
    while (rc == 0) {
        step = tb_db_step(st, NULL, 0);
        if (step != TB_DB_ROW) {
            rc = step == TB_DB_DONE ? 0 : fail(w, "trending sources", step);
            break;
        }
        g = tb_db_column_text(st, 2);
        is_new = prev == NULL || g == NULL || strcmp(prev, g) != 0;
        if (is_new) {
            free(prev);
            prev = g ? strdup(g) : NULL;
            ngroups++;
        }
        rc = g && prev ? add_source(w, tb_db_column_int64(st, 0), ngroups - 1, is_new,
                                    tb_db_column_double(st, 1))
                       : -ENOMEM;
    }
    free(prev);
    tb_db_finalize(st);
    if (rc == 0 && w->nsrcs > 0)
        qsort(w->srcs, w->nsrcs, sizeof(*w->srcs), by_id);
    return rc;
}

static const struct voice_src *find_source(const struct walk *w, int64_t id)
{
    struct voice_src key = {.id = id};

    if (w->nsrcs == 0)
        return NULL;
    return bsearch(&key, w->srcs, w->nsrcs, sizeof(*w->srcs), by_id);
}

/* The number of paper key `key` (n bytes), interning it when new. */
static int intern(struct walk *w, const char *key, size_t n, uint32_t *out)
{
    uintptr_t found = (uintptr_t)tb_map_get(&w->numbers, key, n);
    const char *copy;
    int rc;

    if (found != 0) {
        *out = (uint32_t)(found - 1);
        return 0;
    }
    /* Key numbers are 32 bits. */
    rc = TB_VEC_RESERVE(w->keys, w->akeys, (size_t)w->nkeys + 1, (size_t)1 << 30);
    if (rc != 0)
        return rc;
    copy = tb_arena_strndup(&w->arena, key, n);
    if (copy == NULL)
        return -ENOMEM;
    rc = tb_map_put(&w->numbers, copy, n, (void *)(uintptr_t)(w->nkeys + 1));
    if (rc != 0)
        return rc;
    w->keys[w->nkeys] = copy;
    *out = w->nkeys++;
    return 0;
}

/* Reads the voices of the window from sources that count into w->rows. */
static int load_window(struct walk *w, const struct tb_trending_opts *o)
{
    struct tb_db_stmt *st = NULL;
    const struct voice_src *src;
    const char *key;
    uint32_t paper;
    int rc = tb_db_query(w->db, &st, NULL, 0, window_sql, "ii", o->now - o->window, o->now);
    int step;

    if (rc != 0)
        rc = fail(w, "trending window", rc);
    while (rc == 0) {
        step = tb_db_step(st, NULL, 0);
        if (step != TB_DB_ROW) {
            rc = step == TB_DB_DONE ? 0 : fail(w, "trending window", step);
            break;
        }
        src = find_source(w, tb_db_column_int64(st, 1));
        if (src == NULL || !(src->weight > 0))
            continue;
        key = tb_db_column_text(st, 0);
        rc = key ? intern(w, key, strlen(key), &paper) : -ENOMEM;
        rc = rc ? rc : TB_VEC_RESERVE(w->rows, w->arows, w->nrows + 1, TB_VEC_MAX);
        if (rc == 0) {
            w->rows[w->nrows].paper = paper;
            w->rows[w->nrows].group = src->group;
            w->rows[w->nrows++].at = tb_db_column_int64(st, 2);
        }
    }
    tb_db_finalize(st);
    return rc;
}

static int by_paper_group_time(const void *a, const void *b)
{
    const struct row *x = a, *y = b;

    if (x->paper != y->paper)
        return x->paper < y->paper ? -1 : 1;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* Best first: score, then more groups, then the key. */
static int by_rank(const void *a, const void *b, void *keys)
{
    const struct scored *x = a, *y = b;
    const char *const *k = keys;

    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->groups != y->groups)
        return x->groups > y->groups ? -1 : 1;
    return strcmp(k[x->paper], k[y->paper]);
}

/* Scores every paper of w->rows (each group counted at its first voice)
 * into w->papers, best first. */
static int score(struct walk *w, const struct tb_trending_opts *o)
{
    struct scored *p;
    size_t i = 0;
    int g;

    if (w->nrows == 0)
        return 0;
    qsort(w->rows, w->nrows, sizeof(*w->rows), by_paper_group_time);
    w->papers = malloc(w->nrows * sizeof(*w->papers));
    if (w->papers == NULL)
        return -ENOMEM;
    while (i < w->nrows) {
        p = &w->papers[w->npapers++];
        p->paper = w->rows[i].paper;
        p->groups = 0;
        p->score = 0;
        p->first = INT64_MAX;
        p->last = INT64_MIN;
        while (i < w->nrows && w->rows[i].paper == p->paper) {
            const struct row *r = &w->rows[i];

            p->groups++;
            p->score += w->gweight[r->group] * exp2(-(double)(o->now - r->at) / o->half_life);
            p->first = r->at < p->first ? r->at : p->first;
            p->last = r->at > p->last ? r->at : p->last;
            for (g = r->group;
                 i < w->nrows && w->rows[i].paper == p->paper && w->rows[i].group == g;)
                i++;
        }
        /* A page known by its link alone (a blog post, a discussion, a
         * newsletter issue) carries itself: it is a paper people talk about
         * only once a second group carries or mentions it. */
        if (p->groups < 2 && strncmp(w->keys[p->paper], "link:", 5) == 0)
            w->npapers--;
    }
    qsort_r(w->papers, w->npapers, sizeof(*w->papers), by_rank, w->keys);
    return 0;
}

static int prepare(struct walk *w, const struct tb_trending_opts *o)
{
    int rc = tb_db_prepare(w->db, entry_sql, &w->entry, NULL, 0);

    if (rc == 0 && o->query != NULL && o->query[0] != '\0')
        rc = tb_db_prepare(w->db, w->members ? member_sql : match_sql, &w->match, NULL, 0);
    w->query = o->query;
    return rc == 0 ? 0 : fail(w, "trending", rc);
}

/* The stored entry that is paper `key` into *id (0: none). */
static int entry_of(struct walk *w, const char *key, int64_t *id)
{
    int rc;

    tb_db_reset(w->entry);
    (void)tb_db_bind_text(w->entry, 1, key);
    rc = tb_db_step(w->entry, NULL, 0);
    *id = rc == TB_DB_ROW ? tb_db_column_int64(w->entry, 0) : 0;
    rc = rc == TB_DB_ROW || rc == TB_DB_DONE ? 0 : fail(w, "trending entry", rc);
    tb_db_reset(w->entry);
    return rc;
}

/* Whether entry id matches the query (always, without one) into *ok. */
static int matches(struct walk *w, int64_t id, int *ok)
{
    int rc;

    *ok = w->match == NULL;
    if (w->match == NULL || id == 0)
        return 0;
    tb_db_reset(w->match);
    if (w->members)
        (void)tb_db_bind_int64(w->match, 1, w->qid);
    else
        (void)tb_db_bind_text(w->match, 1, w->query);
    (void)tb_db_bind_int64(w->match, 2, id);
    rc = tb_db_step(w->match, NULL, 0);
    *ok = rc == TB_DB_ROW;
    /* SQLite's plain error here is the FTS5 query's syntax. */
    if (rc == TB_ESTORE && sqlite3_errcode(tb_db_sqlite(w->db)) == SQLITE_ERROR)
        rc = TB_EQUERY;
    else
        rc = rc == TB_DB_ROW || rc == TB_DB_DONE ? 0 : rc;
    if (rc != 0 && w->err != NULL && w->errlen > 0)
        snprintf(w->err, w->errlen, "%s", tb_db_errmsg(w->db));
    tb_db_reset(w->match);
    return rc;
}

/* Reports the scored papers that qualify, best first, up to the limit. */
static int report(struct walk *w, const struct tb_trending_opts *o, tb_trending_cb cb, void *data)
{
    struct tb_trending_paper p;
    size_t i, n = 0;
    int rc = 0, ok;

    for (i = 0; rc == 0 && i < w->npapers && (o->limit == 0 || n < o->limit); i++) {
        memset(&p, 0, sizeof(p));
        p.key = w->keys[w->papers[i].paper];
        p.score = w->papers[i].score;
        p.groups = w->papers[i].groups;
        p.first = w->papers[i].first;
        p.last = w->papers[i].last;
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
    struct walk w = {.db = s->sql, .err = err, .errlen = errlen};
    int rc;

    if (o->window < 1 || o->half_life < 1)
        return -EINVAL;
    tb_arena_init(&w.arena);
    tb_map_init(&w.numbers, SIZE_MAX);
    rc = tb_topic_check(s, o->query, err, errlen);
    w.members = s->members && o->query != NULL && o->query[0] != '\0';
    if (rc == 0 && w.members)
        rc = tb__topic_query_id(s, o->query, &w.qid, err, errlen);
    else if (rc == 0 && o->query != NULL && o->query[0] != '\0')
        rc = tb_store_sync_index(s, err, errlen);
    rc = rc ? rc : load_sources(&w);
    rc = rc ? rc : load_window(&w, o);
    rc = rc ? rc : score(&w, o);
    rc = rc ? rc : prepare(&w, o);
    rc = rc ? rc : report(&w, o, cb, data);
    walk_free(&w);
    return rc;
}

int tb_trending_voices(struct tb_store *s, const char *key, tb_trending_voice_cb cb, void *data,
                       char *err, size_t errlen)
{
    struct walk w = {.db = s->sql, .err = err, .errlen = errlen};
    struct tb_trending_voice v;
    struct tb_db_stmt *st = NULL;
    int rc = tb_db_query(w.db, &st, NULL, 0, voices_sql, "t", key), step;

    if (rc != 0)
        return fail(&w, "voices", rc);
    while (rc == 0) {
        step = tb_db_step(st, NULL, 0);
        if (step != TB_DB_ROW) {
            rc = step == TB_DB_DONE ? 0 : fail(&w, "voices", step);
            break;
        }
        v.source = tb_db_column_text(st, 0);
        v.group = tb_db_column_text(st, 1);
        v.weight = tb_db_column_double(st, 2);
        v.entry_id = tb_db_column_int64(st, 3);
        v.at = tb_db_column_int64(st, 4);
        v.carries = (int)tb_db_column_int64(st, 5);
        rc = v.source && v.group ? cb(&v, data) : -ENOMEM;
    }
    tb_db_finalize(st);
    return rc;
}

/* When the store learned of a paper's latest voice: a mention's time is the
 * earlier of the entry's published date and its first sight, so it cannot
 * say what is new since a given moment (an entry published before a digest
 * but fetched after it would look old); the entry's first sight by that
 * source (entry_sources) can. */
static const char seen_sql[] =
    "SELECT coalesce(max({greatest}(m.at, coalesce(es.first_seen, m.at))), 0)"
    " FROM mentions m JOIN sources s ON s.id = m.source_id"
    " LEFT JOIN entry_sources es ON es.entry_id = m.entry_id AND es.source_id = m.source_id"
    " WHERE m.paper = ?1 AND m.at BETWEEN ?2 AND ?3 AND s.weight > 0";

int tb_trending_seen(struct tb_store *s, const char *key, int64_t now, int64_t window,
                     int64_t *seen, char *err, size_t errlen)
{
    struct walk w = {.db = s->sql, .err = err, .errlen = errlen};
    int rc;

    *seen = 0;
    rc = tb_db_scalar(w.db, seen, NULL, 0, seen_sql, "tii", key, now - window, now);
    return rc == 0 ? 0 : fail(&w, "trending seen", rc);
}
