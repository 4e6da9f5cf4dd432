/*
 * Reading stored entries back into the tb_entry shape for publishing.
 */
#include "store_int.h"

#include <errno.h>
#include <stddef.h>

/* Columns of the TB__ST_LOAD statement, in order. */
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

static int col_str(struct tb_arena *a, sqlite3_stmt *st, int col, const char **out)
{
    const char *v = (const char *)sqlite3_column_text(st, col);

    *out = v ? tb_arena_strndup(a, v, (size_t)sqlite3_column_bytes(st, col)) : NULL;
    return (v != NULL && *out == NULL) ? -ENOMEM : 0;
}

static int64_t col_time(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return TB_TIME_NONE;
    return sqlite3_column_int64(st, col);
}

static int fill(struct tb_arena *a, struct tb_entry *e, sqlite3_stmt *st)
{
    const char *json[4];
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < sizeof(str_cols) / sizeof(str_cols[0]); i++)
        rc = col_str(a, st, str_cols[i].col, (const char **)((char *)e + str_cols[i].off));
    e->rowid = sqlite3_column_int64(st, L_ID);
    e->id_is_permalink = sqlite3_column_int(st, L_PERMALINK);
    e->published = col_time(st, L_PUBLISHED);
    e->updated = col_time(st, L_UPDATED);
    e->summary.is_html = sqlite3_column_int(st, L_SUMMARY_HTML);
    e->content.is_html = sqlite3_column_int(st, L_CONTENT_HTML);
    for (i = 0; i < 4; i++)
        json[i] = (const char *)sqlite3_column_text(st, L_AUTHORS + (int)i);
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
    sqlite3_stmt *st = tb__store_stmt(s, TB__ST_LOAD);
    struct tb_entry *e;
    int rc;

    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = 0;
    } else if (rc != SQLITE_ROW) {
        rc = tb__store_fail(s, err, errlen, "load");
    } else {
        e = tb_entry_new(f);
        rc = e ? fill(&f->arena, e, st) : -ENOMEM;
        if (rc == 0)
            tb_feed_append(f, e);
    }
    sqlite3_reset(st);
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
    sqlite3_stmt *st = tb__store_stmt(s, TB__ST_BRIEF);
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < n; i++) {
        out[i].published = out[i].updated = TB_TIME_NONE;
        out[i].has_authors = 1;
        sqlite3_bind_int64(st, 1, ids[i]);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            out[i].published = col_time(st, 0);
            out[i].updated = col_time(st, 1);
            out[i].has_authors = sqlite3_column_int(st, 2);
        }
        rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : tb__store_fail(s, err, errlen, "brief");
        sqlite3_reset(st);
    }
    return rc;
}
