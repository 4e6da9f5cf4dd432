/*
 * Storing one parsed feed: dedupe, stable out_id, change detection.
 *
 * Each entry is matched first by its source's own key, then across sources
 * by arXiv id, DOI and canonical link; only an unmatched entry is inserted.
 * A match is rewritten only when its content hash changed and the copy comes
 * from the entry's origin source, so two sources carrying different versions
 * of one paper never flip-flop it; except that arXiv's own record of a paper
 * (a feed linking to arxiv.org) takes over an entry from another site once,
 * becoming its origin. The whole feed is one transaction.
 */
#include "store_int.h"
#include "tb_arxiv.h"
#include "tb_hash.h"
#include "tb_vec.h"
#include "tb_normalize.h"
#include "tb_url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAG_PREFIX "tag:tributary.invalid,2024:"
#define HASH_LEN TB__HASH_LEN
_Static_assert(TB_STORE_TAG_SIZE == sizeof(TAG_PREFIX) + 2 * HASH_LEN, "tag size");

/* One put in progress: where entries go and what came of them. */
struct put {
    struct tb_store *s;       /* the store */
    int64_t source_id;        /* the source being stored */
    char *source_name;        /* its name, for tag: URIs (malloc'd) */
    int64_t seen_at;          /* "now" in epoch seconds */
    int64_t now;              /* the clock when the put began (seen_at may be older) */
    struct tb_store_stats st; /* counts so far */
    int64_t *ids;             /* rowids added or updated (malloc'd) */
    size_t n, alloc;          /* used and allocated slots of ids */
    int arxiv_record;         /* the feed is arXiv's (tb_arxiv_is_record()) */
    char *err;                /* caller's error buffer */
    size_t errlen;            /* its size */
};

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* Empty identifiers are as good as none: they must never match each other. */
static int has_ident(const char *v)
{
    return v != NULL && *v != '\0';
}

static int bind_ident(sqlite3_stmt *st, int i, const char *v)
{
    return bind_text(st, i, has_ident(v) ? v : NULL);
}

static int bind_time(sqlite3_stmt *st, int i, int64_t t)
{
    return t == TB_TIME_NONE ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, t);
}

/* Binds ?1..?23 and ?27, the content columns shared by the insert and the
 * update, with the entry's dates clamped (tb_store_clamp_date()). */
static int bind_row(const struct put *p, sqlite3_stmt *st, const struct tb_entry *e,
                    const struct tb__row *r, int64_t updated)
{
    int64_t published = tb_store_clamp_date(e->published, p->seen_at, p->now);

    const char *const texts[] = {r->authors,    r->authors_json,    r->contributors_json,
                                 r->categories, r->categories_json, r->links_json};
    int rc = bind_text(st, 1, e->id);
    int i;

    rc = rc ? rc : sqlite3_bind_int(st, 2, e->id_is_permalink != 0);
    rc = rc ? rc : bind_text(st, 3, e->title);
    rc = rc ? rc : bind_text(st, 4, e->link);
    rc = rc ? rc : bind_ident(st, 5, e->canon_link);
    rc = rc ? rc : bind_ident(st, 6, e->arxiv_id);
    rc = rc ? rc : bind_ident(st, 7, e->doi);
    rc = rc ? rc : bind_time(st, 8, published);
    rc = rc ? rc : bind_time(st, 9, tb_store_clamp_date(updated, p->seen_at, p->now));
    for (i = 0; i < 6; i++)
        rc = rc ? rc : bind_text(st, 10 + i, texts[i]);
    rc = rc ? rc : bind_text(st, 16, e->summary.value);
    rc = rc ? rc : sqlite3_bind_int(st, 17, e->summary.is_html != 0);
    rc = rc ? rc : bind_text(st, 18, e->content.value);
    rc = rc ? rc : sqlite3_bind_int(st, 19, e->content.is_html != 0);
    rc = rc ? rc : bind_text(st, 20, e->rights);
    rc = rc ? rc : bind_text(st, 21, e->base);
    rc = rc ? rc : bind_text(st, 22, e->text);
    rc = rc ? rc : sqlite3_bind_blob(st, 23, r->hash, HASH_LEN, SQLITE_STATIC);
    rc = rc ? rc : bind_text(st, 27, e->content.type);
    return rc;
}

static int push_id(struct put *p, int64_t id)
{
    int rc = TB_VEC_RESERVE(p->ids, p->alloc, p->n + 1, TB_VEC_MAX);

    if (rc == 0)
        p->ids[p->n++] = id;
    return rc;
}

int tb_store_tag_id(const char *name, const char *key, char tag[TB_STORE_TAG_SIZE])
{
    unsigned char md[TB_SHA256_LEN];
    struct tb_sha256 h = {0};
    int rc = tb_sha256_init(&h);

    tb_sha256_update(&h, name, strlen(name) + 1); /* with its NUL: name and key stay apart */
    tb_sha256_update(&h, key, strlen(key));
    if (rc == 0)
        rc = tb_sha256_final(&h, md);
    tb_sha256_free(&h);
    if (rc)
        return rc;
    memcpy(tag, TAG_PREFIX, sizeof(TAG_PREFIX) - 1);
    tb_hash_hex(md, sizeof(md), tag + sizeof(TAG_PREFIX) - 1);
    return 0;
}

int64_t tb_store_clamp_date(int64_t t, int64_t seen_at, int64_t now)
{
    if (t == TB_TIME_NONE || t <= now)
        return t;
    return seen_at < now ? seen_at : now;
}

const char *tb_store_upstream_id(const struct tb_entry *e)
{
    if (tb_norm_is_uri(e->id) && strncmp(e->id, TAG_PREFIX, sizeof(TAG_PREFIX) - 1) != 0 &&
        !tb_norm_is_script_url(e->id))
        return e->id;
    return NULL;
}

/* The link to this source's own copy of e: its link, an http(s) URL; but
 * an item of another site whose link is the paper's arXiv page (a Hacker
 * News item) has its own page in its id (the discussion) when that is an
 * http(s) URL. NULL when there is none. */
static const char *own_link(const struct put *p, const struct tb_entry *e)
{
    const char *id = tb_store_upstream_id(e);

    if (!p->arxiv_record && tb_arxiv_is_record(e->link) && tb_url_allowed(id, 0))
        return id;
    return tb_url_allowed(e->link, 0) ? e->link : NULL;
}

/* Records that this source carries entry `id` under e's key, with the
 * link to its own copy. */
static int link_source(struct put *p, int64_t id, const struct tb_entry *e)
{
    const char *key = e->key;
    sqlite3_stmt *st = tb__store_stmt(p->s, TB__ST_KEY_ADD);
    int rc;

    sqlite3_bind_int64(st, 1, p->source_id);
    bind_text(st, 2, key);
    sqlite3_bind_int64(st, 3, id);
    rc = tb__store_done(p->s, st, p->err, p->errlen, "entry key");
    if (rc != 0)
        return rc;
    st = tb__store_stmt(p->s, TB__ST_SEEN_ADD);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, p->source_id);
    sqlite3_bind_int64(st, 3, p->seen_at);
    bind_text(st, 4, own_link(p, e));
    return tb__store_done(p->s, st, p->err, p->errlen, "entry source");
}

/* Runs the insert with out_id bound; SQLITE_CONSTRAINT_UNIQUE when that
 * out_id is taken (out_id is the table's only UNIQUE column). */
static int insert_as(struct put *p, const struct tb_entry *e, const struct tb__row *r,
                     const char *out_id)
{
    sqlite3_stmt *st = tb__store_stmt(p->s, TB__ST_INSERT);
    int rc = bind_row(p, st, e, r, e->updated);

    rc = rc ? rc : bind_text(st, 24, out_id);
    rc = rc ? rc : sqlite3_bind_int64(st, 25, p->source_id);
    rc = rc ? rc : sqlite3_bind_int64(st, 26, p->seen_at);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    else
        rc = sqlite3_extended_errcode(p->s->db);
    sqlite3_reset(st);
    return rc;
}

/* Inserts under the upstream id if it is usable and free, else under a tag:
 * the UNIQUE constraint tells a taken id, sparing a lookup per entry. */
static int insert_entry(struct put *p, const struct tb_entry *e, const struct tb__row *r)
{
    const char *out_id = tb_store_upstream_id(e);
    const char *const cols[4] = {e->title, e->text, r->authors, r->categories};
    char tag[TB_STORE_TAG_SIZE];
    int64_t id;
    int rc = SQLITE_CONSTRAINT_UNIQUE;

    if (out_id != NULL)
        rc = insert_as(p, e, r, out_id);
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        rc = tb_store_tag_id(p->source_name, e->key, tag);
        if (rc != 0)
            return rc;
        rc = insert_as(p, e, r, tag);
    }
    if (rc != SQLITE_OK)
        return tb__store_fail(p->s, p->err, p->errlen, "insert entry");
    id = sqlite3_last_insert_rowid(p->s->db);
    rc = tb__store_index_later(p->s, id, cols);
    rc = rc ? rc : link_source(p, id, e);
    p->st.added++;
    return rc ? rc : push_id(p, id);
}

/* The stored entry an incoming one is a copy of. */
struct match {
    int64_t id;     /* its rowid, or 0 when there is none */
    int own;        /* matched by this source's own key */
    int64_t origin; /* the source it first came from */
    int same;       /* its content hash equals the incoming one's */
    int record;     /* its origin is an arXiv record source */
};

/* An existing entry seen again: rewrite it only if changed at its origin,
 * or when arXiv's own record of a paper arrives for an entry that came
 * from elsewhere: the record's title, authors and abstract win, and its
 * source becomes the entry's origin (the other copies stay its sources). */
static int refresh_entry(struct put *p, const struct match *m, const struct tb_entry *e,
                         const struct tb__row *r)
{
    int takeover = p->arxiv_record && !m->record && e->arxiv_id != NULL;
    sqlite3_stmt *st;
    int rc;

    if (!takeover && (m->same || m->origin != p->source_id)) {
        p->st.unchanged++;
        return 0;
    }
    if (takeover) {
        st = tb__store_stmt(p->s, TB__ST_SET_ORIGIN);
        sqlite3_bind_int64(st, 1, m->id);
        sqlite3_bind_int64(st, 2, p->source_id);
        rc = tb__store_done(p->s, st, p->err, p->errlen, "entry origin");
        if (rc != 0)
            return rc;
    }
    rc = tb__store_reindex(p->s, m->id, 0, p->err, p->errlen);
    if (rc != 0)
        return rc;
    st = tb__store_stmt(p->s, TB__ST_UPDATE);
    rc = bind_row(p, st, e, r, e->updated != TB_TIME_NONE ? e->updated : p->seen_at);
    rc = rc ? rc : sqlite3_bind_int64(st, 24, m->id);
    rc = rc ? tb__store_fail(p->s, p->err, p->errlen, "bind")
            : tb__store_done(p->s, st, p->err, p->errlen, "update entry");
    rc = rc ? rc : tb__store_reindex(p->s, m->id, 1, p->err, p->errlen);
    p->st.updated++;
    return rc ? rc : push_id(p, m->id);
}

/* Finds the entry this one is a copy of, with its origin and hash, in one
 * statement: by the source's own key, else across sources by arXiv id, DOI
 * or canonical link (SQL in store.c). */
static int find_entry(struct put *p, const struct tb_entry *e, const struct tb__row *r,
                      struct match *m)
{
    sqlite3_stmt *st = tb__store_stmt(p->s, TB__ST_MATCH);
    int rc;

    memset(m, 0, sizeof(*m));
    sqlite3_bind_int64(st, 1, p->source_id);
    bind_text(st, 2, e->key);
    bind_ident(st, 3, e->arxiv_id);
    bind_ident(st, 4, e->doi);
    bind_ident(st, 5, e->canon_link);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        m->id = sqlite3_column_int64(st, 0);
        m->own = sqlite3_column_int(st, 1);
        m->origin = sqlite3_column_int64(st, 2);
        m->same = sqlite3_column_bytes(st, 3) == HASH_LEN &&
                  memcmp(sqlite3_column_blob(st, 3), r->hash, HASH_LEN) == 0;
        m->record = sqlite3_column_int(st, 4);
    }
    rc = (rc == SQLITE_ROW || rc == SQLITE_DONE)
             ? 0
             : tb__store_fail(p->s, p->err, p->errlen, "lookup");
    sqlite3_reset(st);
    return rc;
}

/* ---- mentions ---------------------------------------------------------- */

/* Records that this source carried (carries 1) or mentioned `paper` in
 * entry `id` at time `at`; its earliest record per paper stays. An arXiv
 * id's row in arxiv_resolve follows (its latest voice; held once an arXiv
 * record carries it). */
static int add_mention(struct put *p, const char *paper, int64_t id, int64_t at, int carries)
{
    sqlite3_stmt *st = tb__store_stmt(p->s, TB__ST_MENTION_ADD);
    int rc;

    bind_text(st, 1, paper);
    sqlite3_bind_int64(st, 2, p->source_id);
    sqlite3_bind_int64(st, 3, id);
    sqlite3_bind_int64(st, 4, at);
    sqlite3_bind_int(st, 5, carries);
    rc = tb__store_done(p->s, st, p->err, p->errlen, "mention");
    /* The resolver's view of an arXiv id (store_arxiv.c). */
    if (rc != 0 || strncmp(paper, "arxiv:", 6) != 0)
        return rc;
    st = tb__store_stmt(p->s, TB__ST_ARXIV_VOICED);
    bind_text(st, 1, paper);
    sqlite3_bind_int(st, 2, carries && p->arxiv_record ? 2 : 0);
    return tb__store_done(p->s, st, p->err, p->errlen, "arxiv voiced");
}

/* Moves the records under key `from` to `to` (a new entry's paper key). */
static int move_mentions(struct put *p, const char *prefix, const char *id, const char *to)
{
    char *from = NULL;
    sqlite3_stmt *st;
    int rc;

    if (!has_ident(id))
        return 0;
    if (asprintf(&from, "%s%s", prefix, id) < 0)
        return -ENOMEM;
    rc = strcmp(from, to) == 0 ? 0 : 1;
    if (rc == 1) {
        st = tb__store_stmt(p->s, TB__ST_MENTION_MOVE);
        bind_text(st, 1, from);
        bind_text(st, 2, to);
        rc = tb__store_done(p->s, st, p->err, p->errlen, "move mentions");
        st = tb__store_stmt(p->s, TB__ST_MENTION_DROP);
        bind_text(st, 1, from);
        rc = rc ? rc : tb__store_done(p->s, st, p->err, p->errlen, "move mentions");
    }
    free(from);
    return rc;
}

/* The entry carries its stored entry's paper; a new entry also takes over
 * the records made under its other keys before it was stored. */
static int add_carry(struct put *p, int64_t id, int64_t at, int is_new)
{
    sqlite3_stmt *st = tb__store_stmt(p->s, TB__ST_PAPER_KEY);
    char *key = NULL, *doi = NULL, *canon = NULL;
    int rc;

    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        key = strdup((const char *)sqlite3_column_text(st, 0));
        if (sqlite3_column_type(st, 1) != SQLITE_NULL)
            doi = strdup((const char *)sqlite3_column_text(st, 1));
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            canon = strdup((const char *)sqlite3_column_text(st, 2));
        rc = key ? 0 : -ENOMEM;
    } else {
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE
                 ? 0
                 : tb__store_fail(p->s, p->err, p->errlen, "paper");
    }
    sqlite3_reset(st);
    if (rc == 0 && key != NULL && is_new)
        rc = move_mentions(p, "doi:", doi, key);
    if (rc == 0 && key != NULL && is_new)
        rc = move_mentions(p, "link:", canon, key);
    if (rc == 0 && key != NULL)
        rc = add_mention(p, key, id, at, 1);
    free(key);
    free(doi);
    free(canon);
    return rc;
}

/* The paper key that mention key `key` names: the paper key of the stored
 * entry with that arXiv id, DOI or canonical link, else key itself.
 * Malloc'd into *out. */
static int resolve_mention(struct put *p, const char *key, char **out)
{
    sqlite3_stmt *st = tb__store_stmt(p->s, TB__ST_PAPER_FIND);
    const char *colon = strchr(key, ':');
    int col = 3, rc;

    if (strncmp(key, "arxiv:", 6) == 0)
        col = 1;
    else if (strncmp(key, "doi:", 4) == 0)
        col = 2;
    bind_text(st, col, colon ? colon + 1 : key);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *out = strdup((const char *)sqlite3_column_text(st, 0));
    else
        *out = strdup(key);
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                               : tb__store_fail(p->s, p->err, p->errlen, "paper");
    sqlite3_reset(st);
    if (rc == 0 && *out == NULL)
        rc = -ENOMEM;
    return rc;
}

/* Records what entry e (stored as `id`) carries and mentions, timed at the
 * earlier of its published date and the time it was seen. */
static int add_mentions(struct put *p, const struct tb_entry *e, int64_t id, int is_new)
{
    int64_t at = tb_store_clamp_date(e->published, p->seen_at, p->now);
    char *paper = NULL;
    int rc;

    if (at == TB_TIME_NONE || at > p->seen_at)
        at = p->seen_at;
    rc = add_carry(p, id, at, is_new);
    for (size_t i = 0; rc == 0 && i < e->nmentions; i++) {
        rc = resolve_mention(p, e->mentions[i], &paper);
        rc = rc ? rc : add_mention(p, paper, id, at, 0);
        free(paper);
        paper = NULL;
    }
    return rc;
}

static int put_entry(struct put *p, const struct tb_entry *e, const struct tb__row *r)
{
    struct match m;
    int rc;

    if (e->key == NULL) {
        snprintf(p->err, p->errlen, "entry without a key (was the feed normalized?)");
        return -EINVAL;
    }
    rc = find_entry(p, e, r, &m);
    if (rc == 0 && m.id == 0) {
        rc = insert_entry(p, e, r);
        return rc ? rc : add_mentions(p, e, p->ids[p->n - 1], 1); /* insert_entry pushed it */
    }
    /* This source's copy seen again unchanged: its mentions are stored. */
    if (rc == 0 && !(m.own && m.same))
        rc = add_mentions(p, e, m.id, 0);
    if (rc == 0 && !m.own) {
        rc = link_source(p, m.id, e);
        p->st.merged += m.origin != p->source_id; /* another source's entry, new here */
    }
    return rc ? rc : refresh_entry(p, &m, e, r);
}

/* Checks the source exists, keeps its name and records the feed's metadata. */
static int put_source(struct put *p, const struct tb_feed *f)
{
    sqlite3_stmt *st = tb__store_stmt(p->s, TB__ST_SRC_NAME);
    int rc;

    sqlite3_bind_int64(st, 1, p->source_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        p->source_name = strdup((const char *)sqlite3_column_text(st, 0));
        rc = p->source_name ? 0 : -ENOMEM;
    } else if (rc == SQLITE_DONE) {
        snprintf(p->err, p->errlen, "no source with id %lld", (long long)p->source_id);
        rc = -ENOENT;
    } else {
        rc = tb__store_fail(p->s, p->err, p->errlen, "source");
    }
    sqlite3_reset(st);
    if (rc != 0)
        return rc;
    st = tb__store_stmt(p->s, TB__ST_SRC_META);
    bind_text(st, 1, f->id ? f->id : f->self);
    bind_text(st, 2, f->title);
    bind_text(st, 3, f->link);
    bind_text(st, 4, f->self);
    sqlite3_bind_int64(st, 5, p->source_id);
    sqlite3_bind_int(st, 6, p->arxiv_record);
    return tb__store_done(p->s, st, p->err, p->errlen, "source metadata");
}

int tb_store_put_prepared(struct tb_store *s, int64_t source_id, const struct tb_feed *f,
                          const struct tb_store_prep *prep, int64_t seen_at,
                          struct tb_store_stats *st, int64_t **new_ids, size_t *n_new, char *err,
                          size_t errlen)
{
    struct put p = {.s = s,
                    .source_id = source_id,
                    .seen_at = seen_at,
                    .now = (int64_t)time(NULL),
                    .err = err,
                    .errlen = errlen};
    const struct tb_entry *e;
    size_t i = 0, mark = s->nunindexed;
    int nested = !sqlite3_get_autocommit(s->db);
    int rc = 0;

    if (prep == NULL || prep->feed != f || prep->n != f->nentries) {
        snprintf(err, errlen, "entries not prepared for this feed");
        rc = -EINVAL;
    }
    /* Inside the caller's transaction (tb_store_begin) the feed is a
     * savepoint, so a failure undoes it alone; else it is a transaction. */
    if (rc == 0 && s->in_txn && !nested)
        rc = tb__store_lost(err, errlen);
    if (rc == 0)
        rc = tb__store_done(s, tb__store_stmt(s, nested ? TB__ST_SAVEPOINT : TB__ST_BEGIN), err,
                            errlen, "begin");
    p.arxiv_record = tb_arxiv_is_record(f->link);
    if (rc == 0)
        rc = put_source(&p, f);
    for (e = f->entries; rc == 0 && e != NULL && i < prep->n; e = e->next)
        rc = put_entry(&p, e, &prep->rows[i++]);
    /* A batch indexes its new entries at tb_store_commit(), a feed alone here. */
    if (rc == 0 && !nested)
        rc = tb__store_index_all(s, err, errlen);
    if (rc == 0)
        rc = tb__store_done(s, tb__store_stmt(s, nested ? TB__ST_RELEASE : TB__ST_COMMIT), err,
                            errlen, "commit");
    if (rc == 0 && (s->flags & TB_STORE_TEMP) && (p.st.added || p.st.updated))
        s->fts_stale = 1;
    if (rc != 0 && !sqlite3_get_autocommit(s->db))
        tb__store_undo(s, nested);
    if (rc != 0)
        s->nunindexed = mark; /* what the undo took back is not to be indexed */
    free(p.source_name);
    if (rc != 0 || new_ids == NULL) {
        free(p.ids);
        p.ids = NULL;
        p.n = 0;
    }
    if (rc == 0 && st != NULL)
        *st = p.st;
    if (new_ids != NULL) {
        *new_ids = p.ids;
        *n_new = p.n;
    }
    return rc;
}

int tb_store_put_feed(struct tb_store *s, int64_t source_id, const struct tb_feed *f,
                      int64_t seen_at, struct tb_store_stats *st, int64_t **new_ids, size_t *n_new,
                      char *err, size_t errlen)
{
    struct tb_store_prep *prep = NULL;
    size_t i, mark = s->nunindexed;
    struct tb_arena a;
    int rc;

    tb_arena_init(&a);
    rc = tb__store_prepare(&a, f, &prep);
    if (rc != 0) {
        snprintf(err, errlen, "preparing entries: %s", tb_strerror(rc));
        if (new_ids != NULL) {
            *new_ids = NULL;
            *n_new = 0;
        }
    } else {
        rc = tb_store_put_prepared(s, source_id, f, prep, seen_at, st, new_ids, n_new, err, errlen);
    }
    /* In a batch its new entries are indexed at the commit, after this
     * arena is gone: from the table's copy of their text then. */
    for (i = mark; i < s->nunindexed; i++)
        s->unindexed[i].reread = 1;
    tb_arena_free(&a);
    return rc;
}
