/*
 * Reading stored entries back into the tb_entry shape for publishing, and
 * the links the site shows beside them: each source's copy of an entry
 * ("Also in"), and the voices of a trending paper.
 */
#include "store_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One stored entry with its origin, columns in the order of the enum below. */
static const char load_sql[] =
    "SELECT e.id, e.out_id, e.upstream_id, e.id_is_permalink, e.title, e.link,"
    " e.canon_link, e.arxiv_id, e.doi, e.published, e.updated,"
    " e.authors_json, e.contributors_json, e.categories_json, e.links_json,"
    " e.summary, e.summary_html, e.content, e.content_html, e.rights, e.base,"
    " e.text, coalesce(s.feed_id, s.self, s.url), s.title, s.link,"
    /* A feed that names no self link was still read from its source's URL
     * (atom:source's rel=self, RSS <source url>). lower(): SQLite's LIKE
     * ignores ASCII case, PostgreSQL's does not. */
    " coalesce(s.self, CASE WHEN lower(s.url) LIKE 'http://%' OR lower(s.url) LIKE"
    " 'https://%' THEN s.url END),"
    " (SELECT min(k.key) FROM entry_keys k"
    "  WHERE k.entry_id = e.id AND k.source_id = e.origin), e.content_type"
    " FROM entries e JOIN sources s ON s.id = e.origin WHERE e.id = ?1";

/* What a list page needs of an entry. */
static const char brief_sql[] =
    "SELECT published, updated, authors_json IS NOT NULL FROM entries WHERE id = ?1";

/* Columns of load_sql, in order. */
enum {
    L_ID,
    L_OUT_ID,
    L_UPSTREAM_ID,
    L_PERMALINK,
    L_TITLE,
    L_LINK,
    L_CANON_LINK,
    L_ARXIV_ID,
    L_DOI,
    L_PUBLISHED,
    L_UPDATED,
    L_AUTHORS,
    L_CONTRIBUTORS,
    L_CATEGORIES,
    L_LINKS,
    L_SUMMARY,
    L_SUMMARY_HTML,
    L_CONTENT,
    L_CONTENT_HTML,
    L_RIGHTS,
    L_BASE,
    L_TEXT,
    L_ORIGIN_ID,
    L_ORIGIN_TITLE,
    L_ORIGIN_LINK,
    L_ORIGIN_SELF,
    L_KEY,
    L_CONTENT_TYPE,
};

/* Text columns copied as they are, and where each goes in a tb_entry. */
static const struct {
    int col;    /* column of the load statement */
    size_t off; /* offset of a const char * field in struct tb_entry */
} str_cols[] = {
    {L_OUT_ID, offsetof(struct tb_entry, out_id)},
    {L_UPSTREAM_ID, offsetof(struct tb_entry, id)},
    {L_TITLE, offsetof(struct tb_entry, title)},
    {L_LINK, offsetof(struct tb_entry, link)},
    {L_CANON_LINK, offsetof(struct tb_entry, canon_link)},
    {L_ARXIV_ID, offsetof(struct tb_entry, arxiv_id)},
    {L_DOI, offsetof(struct tb_entry, doi)},
    {L_SUMMARY, offsetof(struct tb_entry, summary.value)},
    {L_CONTENT, offsetof(struct tb_entry, content.value)},
    {L_CONTENT_TYPE, offsetof(struct tb_entry, content.type)},
    {L_RIGHTS, offsetof(struct tb_entry, rights)},
    {L_BASE, offsetof(struct tb_entry, base)},
    {L_TEXT, offsetof(struct tb_entry, text)},
    {L_ORIGIN_ID, offsetof(struct tb_entry, origin.id)},
    {L_ORIGIN_TITLE, offsetof(struct tb_entry, origin.title)},
    {L_ORIGIN_LINK, offsetof(struct tb_entry, origin.link)},
    {L_ORIGIN_SELF, offsetof(struct tb_entry, origin.self)},
    {L_KEY, offsetof(struct tb_entry, key)},
};

static int col_str(struct tb_arena *a, struct tb_db_stmt *st, int col, const char **out)
{
    const char *v = tb_db_column_text(st, col);

    *out = v ? tb_arena_strdup(a, v) : NULL;
    return (v != NULL && *out == NULL) ? -ENOMEM : 0;
}

static int64_t col_time(struct tb_db_stmt *st, int col)
{
    if (tb_db_column_is_null(st, col))
        return TB_TIME_NONE;
    return tb_db_column_int64(st, col);
}

static int fill(struct tb_arena *a, struct tb_entry *e, struct tb_db_stmt *st)
{
    const char *json[4];
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < sizeof(str_cols) / sizeof(str_cols[0]); i++)
        rc = col_str(a, st, str_cols[i].col, (const char **)((char *)e + str_cols[i].off));
    e->rowid = tb_db_column_int64(st, L_ID);
    e->id_is_permalink = (int)tb_db_column_int64(st, L_PERMALINK);
    e->published = col_time(st, L_PUBLISHED);
    e->updated = col_time(st, L_UPDATED);
    e->summary.is_html = (int)tb_db_column_int64(st, L_SUMMARY_HTML);
    e->content.is_html = (int)tb_db_column_int64(st, L_CONTENT_HTML);
    for (i = 0; i < 4; i++)
        json[i] = tb_db_column_text(st, L_AUTHORS + (int)i);
    if (rc == 0)
        rc = tb__unjson_people(a, json[0], &e->authors);
    if (rc == 0)
        rc = tb__unjson_people(a, json[1], &e->contributors);
    if (rc == 0)
        rc = tb__unjson_categories(a, json[2], &e->categories);
    if (rc == 0)
        rc = tb__unjson_links(a, json[3], &e->links);
    return rc;
}

static int load_one(struct tb_store *s, struct tb_feed *f, int64_t id, char *err, size_t errlen)
{
    struct tb_db_stmt *st;
    struct tb_entry *e;
    int rc = tb__store_q(s, TB__Q_LOAD, load_sql, &st, err, errlen);

    if (rc != 0)
        return rc;
    (void)tb_db_bind_int64(st, 1, id);
    rc = tb_db_step(st, err, errlen);
    if (rc == TB_DB_ROW) {
        e = tb_entry_new(f);
        rc = e ? fill(&f->arena, e, st) : -ENOMEM;
        if (rc == 0)
            tb_feed_append(f, e);
    }
    tb_db_reset(st);
    return rc;
}

int tb_store_load(struct tb_store *s, const int64_t *ids, size_t n, struct tb_feed **out, char *err,
                  size_t errlen)
{
    struct tb_feed *f = tb_feed_new();
    size_t i;
    int rc = f ? 0 : -ENOMEM;

    *out = NULL;
    for (i = 0; rc == 0 && i < n; i++)
        rc = load_one(s, f, ids[i], err, errlen);
    if (rc != 0) {
        tb_feed_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int tb_store_brief(struct tb_store *s, const int64_t *ids, size_t n, struct tb_store_brief *out,
                   char *err, size_t errlen)
{
    struct tb_db_stmt *st;
    size_t i;
    int rc = tb__store_q(s, TB__Q_BRIEF, brief_sql, &st, err, errlen);

    for (i = 0; rc == 0 && i < n; i++) {
        out[i].published = out[i].updated = TB_TIME_NONE;
        out[i].has_authors = 1;
        tb_db_reset(st);
        (void)tb_db_bind_int64(st, 1, ids[i]);
        rc = tb_db_step(st, err, errlen);
        if (rc == TB_DB_ROW) {
            out[i].published = col_time(st, 0);
            out[i].updated = col_time(st, 1);
            out[i].has_authors = (int)tb_db_column_int64(st, 2);
            rc = 0;
        }
    }
    if (st != NULL)
        tb_db_reset(st);
    return rc;
}

/* ---- links to the sources' copies (the site's "Also in", "Mentioned by") */

/* The link to a source's copy of an entry, for rows stored before
 * entry_sources kept it: the canonical link or URL id it gave the entry
 * under. */
#define COPY_LINK(src, entry)                                                                      \
    "(SELECT coalesce(max(CASE WHEN key LIKE 'link:http%' THEN substr(key, 6) END),"               \
    " max(CASE WHEN key LIKE 'id:http%' THEN substr(key, 4) END)) FROM entry_keys"                 \
    " WHERE source_id = " src " AND entry_id = " entry ")"
#define OWN_LINK(src, entry)                                                                       \
    "(SELECT link FROM entry_sources WHERE entry_id = " entry " AND source_id = " src ")"
#define ALSO_LINK "coalesce(es.link, " COPY_LINK("s.id", "?1") ", s.link)"

/* The sources of entry ?1 but its origin, in the order they came. */
static const char also_sql[] =
    "SELECT s.name, coalesce(s.title, s.name), " ALSO_LINK
    " FROM entry_sources es JOIN sources s ON s.id = es.source_id"
    " WHERE es.entry_id = ?1 AND es.source_id <> (SELECT origin FROM entries WHERE id = ?1)"
    " ORDER BY es.first_seen, s.name";

/* Every source of entry ?1, its origin first, then in the order they came. */
static const char copies_sql[] =
    "SELECT s.name, coalesce(s.title, s.name), " ALSO_LINK
    " FROM entry_sources es JOIN sources s ON s.id = es.source_id WHERE es.entry_id = ?1"
    " ORDER BY es.source_id <> (SELECT origin FROM entries WHERE id = ?1), es.first_seen, s.name";

/* A source's display name and the link to its entry: the link the source
 * gave that entry (its own copy of the paper, or its post that mentions
 * it); for rows stored before those were kept, a carrying source's copy
 * as "Also in" finds it, else the entry's link. ?1 the source's name, ?2
 * the entry id, ?3 carries. */
#define VOICE_LINK                                                                                 \
    "coalesce(" OWN_LINK("s.id", "?2") ", CASE WHEN ?3 != 0 THEN " COPY_LINK("s.id",               \
                                                                             "?2") " END, e.link)"
static const char voice_sql[] = "SELECT coalesce(s.title, s.name), " VOICE_LINK
                                " FROM sources s LEFT JOIN entries e ON e.id = ?2"
                                " WHERE s.name = ?1";

/* Writes "what: the database's message" into err; returns rc. */
static int link_fail(struct tb_store *s, int rc, const char *what, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s", what, tb_db_errmsg(s->sql));
    return rc;
}

int tb_store_copies(struct tb_store *s, int64_t entry_id, int others_only, tb_store_copy_cb cb,
                    void *data, char *err, size_t errlen)
{
    enum tb__q which = others_only ? TB__Q_ALSO : TB__Q_COPIES;
    struct tb_db_stmt *st;
    int rc = tb__store_q(s, which, others_only ? also_sql : copies_sql, &st, err, errlen);
    int step = TB_DB_DONE;

    if (rc != 0)
        return rc;
    (void)tb_db_bind_int64(st, 1, entry_id);
    while (rc == 0) {
        step = tb_db_step(st, NULL, 0);
        if (step != TB_DB_ROW)
            break;
        rc = cb(tb_db_column_text(st, 0), tb_db_column_text(st, 1), tb_db_column_text(st, 2), data);
    }
    if (rc == 0 && step < 0)
        rc = link_fail(s, step, others_only ? "also in" : "sources", err, errlen);
    tb_db_reset(st);
    return rc;
}

/* A malloc'd copy of v (NULL stays NULL) into *out; -ENOMEM. */
static int dup_or_null(const char *v, char **out)
{
    *out = v ? strdup(v) : NULL;
    return v != NULL && *out == NULL ? -ENOMEM : 0;
}

int tb_store_voice_link(struct tb_store *s, const char *source, int64_t entry_id, int carries,
                        char **name, char **href, char *err, size_t errlen)
{
    struct tb_db_stmt *st;
    int rc = tb__store_q(s, TB__Q_VOICE, voice_sql, &st, err, errlen);

    *name = *href = NULL;
    if (rc != 0)
        return rc;
    (void)tb_db_bind_text(st, 1, source);
    (void)tb_db_bind_int64(st, 2, entry_id);
    (void)tb_db_bind_int64(st, 3, carries);
    rc = tb_db_step(st, NULL, 0);
    if (rc == TB_DB_ROW) {
        rc = dup_or_null(tb_db_column_text(st, 0), name);
        rc = rc ? rc : dup_or_null(tb_db_column_text(st, 1), href);
    } else if (rc < 0) {
        rc = link_fail(s, rc, "voices", err, errlen);
    }
    tb_db_reset(st);
    if (rc != 0) {
        free(*name);
        free(*href);
        *name = *href = NULL;
    }
    return rc;
}
