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
 *
 * Several connections (nodes) storing the same paper at once: the lookup
 * and the insert are two statements, and under PostgreSQL's READ COMMITTED
 * neither sees the other's uncommitted entry, so both would insert. A
 * unique constraint cannot decide it: a paper's identity is the first of
 * arXiv id, DOI and canonical link that an entry has, matched across those
 * columns (an entry with a DOI alone is the same paper as one with that
 * DOI and an arXiv id), and stored databases may hold two entries sharing
 * a DOI or a link legitimately (an update that added one); merging the
 * loser of an ON CONFLICT into the owner afterwards would move its keys,
 * sources, mentions, memberships and archive rows. So, as PostgreSQL
 * systems serialise work on a natural key they cannot constrain, a put
 * takes a transaction-scoped advisory lock on a 64-bit hash of every
 * identity key its entries carry (arXiv id, DOI, canonical link) and of
 * every paper they mention, all at once and in sorted order, before its
 * first lookup (lock_papers): a second transaction storing any of the same
 * papers waits for the first to commit, and its lookups, each a statement
 * with a new snapshot, then find the first one's entry. Sorted, two
 * transactions never wait for each other in a cycle on them; a batch of
 * several feeds takes all its feeds' locks first (tb_store_lock_papers),
 * and its puts then take none of their own. A hash collision only
 * makes two unrelated puts wait for each other. SQLite has one writer
 * (BEGIN IMMEDIATE) and skips all of it.
 */
#include "store_int.h"
#include "tb_arxiv.h"
#include "tb_buf.h"
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

/* Parameters ?1..?23 and ?27 (content_type, added later) are the entry's
 * content, bound alike for insert and update. */
#define ENTRY_COLS                                                                                 \
    "upstream_id, id_is_permalink, title, link, canon_link, arxiv_id, doi, published, updated,"    \
    " authors, authors_json, contributors_json, categories, categories_json, links_json,"          \
    " summary, summary_html, content, content_html, rights, base, text, hash"

/* The paper key of a row of entries (see paper_key_sql). */
#define PAPER_KEY "coalesce('arxiv:' || arxiv_id, 'doi:' || doi, 'link:' || canon_link)"
/* A second carrying or mention of a paper by a source: the earlier one stays. */
#define MENTION_MERGE                                                                              \
    "entry_id = CASE WHEN excluded.at < mentions.at THEN excluded.entry_id"                        \
    " ELSE mentions.entry_id END, at = {least}(mentions.at, excluded.at),"                         \
    " carries = {greatest}(mentions.carries, excluded.carries)"

static const char src_name_sql[] = "SELECT name FROM sources WHERE id = ?1";
static const char src_meta_sql[] =
    "UPDATE sources SET feed_id = coalesce(?1, feed_id), title = coalesce(?2, title),"
    " link = coalesce(?3, link), self = coalesce(?4, self),"
    " arxiv_record = CASE WHEN ?3 IS NULL THEN arxiv_record ELSE ?6 END WHERE id = ?5";
/* The entry an incoming one is a copy of, with what refreshing it needs:
 * by the source's own key, else by arXiv id, DOI or canonical link in any
 * source. coalesce() stops at its first non-NULL argument, so each lookup
 * runs only when the ones before found nothing; a NULL parameter matches
 * nothing. The second column tells a match by the own key. */
static const char match_sql[] =
    "SELECT e.id, EXISTS(SELECT 1 FROM entry_keys"
    "  WHERE source_id = ?1 AND key = ?2 AND entry_id = e.id),"
    " e.origin, e.hash, (SELECT arxiv_record FROM sources WHERE id = e.origin)"
    " FROM entries e WHERE e.id = coalesce("
    "(SELECT entry_id FROM entry_keys WHERE source_id = ?1 AND key = ?2),"
    " (SELECT id FROM entries WHERE arxiv_id = ?3 ORDER BY id LIMIT 1),"
    " (SELECT id FROM entries WHERE doi = ?4 ORDER BY id LIMIT 1),"
    " (SELECT id FROM entries WHERE canon_link = ?5 ORDER BY id LIMIT 1))";
static const char set_origin_sql[] = "UPDATE entries SET origin = ?2 WHERE id = ?1";
static const char key_add_sql[] = "INSERT INTO entry_keys(source_id, key, entry_id)"
                                  " VALUES(?1, ?2, ?3) ON CONFLICT DO NOTHING";
static const char seen_add_sql[] =
    "INSERT INTO entry_sources(entry_id, source_id, first_seen, link)"
    " VALUES(?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING";
/* A taken out_id (the table's only UNIQUE column) inserts nothing and
 * returns no row: no failed statement, which PostgreSQL would not let the
 * batch's transaction survive. */
static const char insert_sql[] =
    "INSERT INTO entries(" ENTRY_COLS ", out_id, origin, first_seen, sort_time, content_type)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
    " ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, coalesce(?8, ?9, ?26), ?27)"
    " ON CONFLICT(out_id) DO NOTHING RETURNING id";
static const char update_sql[] =
    "UPDATE entries SET upstream_id = ?1, id_is_permalink = ?2, title = ?3,"
    " link = ?4, canon_link = coalesce(?5, canon_link),"
    " arxiv_id = coalesce(?6, arxiv_id), doi = coalesce(?7, doi),"
    " published = coalesce(?8, published), updated = ?9, authors = ?10,"
    " authors_json = ?11, contributors_json = ?12, categories = ?13,"
    " categories_json = ?14, links_json = ?15, summary = ?16,"
    " summary_html = ?17, content = ?18, content_html = ?19, rights = ?20,"
    " base = ?21, text = ?22, hash = ?23, content_type = ?27,"
    " sort_time = coalesce(?8, published, ?9, first_seen) WHERE id = ?24";
/* A paper's key is its stored entry's identity as the dedupe ranks it:
 * arXiv id, else DOI, else canonical link. */
static const char paper_key_sql[] =
    "SELECT " PAPER_KEY ", doi, canon_link FROM entries WHERE id = ?1";
static const char paper_find_sql[] =
    "SELECT " PAPER_KEY " FROM entries WHERE id = coalesce("
    "(SELECT id FROM entries WHERE arxiv_id = ?1 ORDER BY id LIMIT 1),"
    " (SELECT id FROM entries WHERE doi = ?2 ORDER BY id LIMIT 1),"
    " (SELECT id FROM entries WHERE canon_link = ?3 ORDER BY id LIMIT 1))";
/* A source's row for a paper keeps its first carrying or mention. */
static const char mention_add_sql[] =
    "INSERT INTO mentions(paper, source_id, entry_id, at, carries) VALUES(?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT(paper, source_id) DO UPDATE SET " MENTION_MERGE;
/* Mentions stored under another key of a new entry (its DOI or link when
 * it has an arXiv id) move to its own: "WHERE true" tells SQLite's parser
 * the ON CONFLICT belongs to the INSERT. */
static const char mention_move_sql[] =
    "INSERT INTO mentions(paper, source_id, entry_id, at, carries)"
    " SELECT ?2, source_id, entry_id, at, carries FROM mentions"
    " WHERE paper = ?1 AND true ON CONFLICT(paper, source_id) DO UPDATE SET " MENTION_MERGE;
static const char mention_drop_sql[] = "DELETE FROM mentions WHERE paper = ?1";
/* An arXiv id voiced (?1 its paper key): its latest voice, and state 2
 * when ?2 is (an arXiv record carries it), for the resolver. Written for
 * the transaction's voiced ids at its end (tb__store_voiced). */
static const char arxiv_voiced_sql[] =
    "INSERT INTO arxiv_resolve(id, state, voiced)"
    " SELECT substr(?1, 7), ?2, coalesce(max(at), 0) FROM mentions"
    " WHERE paper = ?1 AND true ON CONFLICT(id) DO UPDATE SET"
    " voiced = excluded.voiced, state = CASE WHEN excluded.state = 2"
    " AND arxiv_resolve.state = 0 THEN 2 ELSE arxiv_resolve.state END";

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

/* The cached statement `which` (sql), reset. */
static int stmt(struct put *p, enum tb__q which, const char *sql, struct tb_db_stmt **out)
{
    return tb__store_q(p->s, which, sql, out, p->err, p->errlen);
}

/* Writes "what: the database's message" into the caller's err; returns rc. */
static int fail(struct put *p, int rc, const char *what)
{
    if (p->err != NULL && p->errlen > 0)
        snprintf(p->err, p->errlen, "%s: %s", what, tb_db_errmsg(p->s->sql));
    return rc;
}

/* Steps a statement whose rows, if any, are not read, then resets it. */
static int done(struct put *p, struct tb_db_stmt *st, const char *what)
{
    int rc = tb_db_step(st, NULL, 0);

    tb_db_reset(st);
    return rc < 0 ? fail(p, rc, what) : 0;
}

/* Empty identifiers are as good as none: they must never match each other. */
static int has_ident(const char *v)
{
    return v != NULL && *v != '\0';
}

static int bind_ident(struct tb_db_stmt *st, int i, const char *v)
{
    return tb_db_bind_text(st, i, has_ident(v) ? v : NULL);
}

static int bind_time(struct tb_db_stmt *st, int i, int64_t t)
{
    return t == TB_TIME_NONE ? tb_db_bind_null(st, i) : tb_db_bind_int64(st, i, t);
}

/* Binds ?1..?23 and ?27, the content columns shared by the insert and the
 * update, with the entry's dates clamped (tb_store_clamp_date()). */
static int bind_row(const struct put *p, struct tb_db_stmt *st, const struct tb_entry *e,
                    const struct tb__row *r, int64_t updated)
{
    int64_t published = tb_store_clamp_date(e->published, p->seen_at, p->now);

    const char *const texts[] = {r->authors,    r->authors_json,    r->contributors_json,
                                 r->categories, r->categories_json, r->links_json};
    int rc = tb_db_bind_text(st, 1, e->id);
    int i;

    rc = rc ? rc : tb_db_bind_int64(st, 2, e->id_is_permalink != 0);
    rc = rc ? rc : tb_db_bind_text(st, 3, e->title);
    rc = rc ? rc : tb_db_bind_text(st, 4, e->link);
    rc = rc ? rc : bind_ident(st, 5, e->canon_link);
    rc = rc ? rc : bind_ident(st, 6, e->arxiv_id);
    rc = rc ? rc : bind_ident(st, 7, e->doi);
    rc = rc ? rc : bind_time(st, 8, published);
    rc = rc ? rc : bind_time(st, 9, tb_store_clamp_date(updated, p->seen_at, p->now));
    for (i = 0; i < 6; i++)
        rc = rc ? rc : tb_db_bind_text(st, 10 + i, texts[i]);
    rc = rc ? rc : tb_db_bind_text(st, 16, e->summary.value);
    rc = rc ? rc : tb_db_bind_int64(st, 17, e->summary.is_html != 0);
    rc = rc ? rc : tb_db_bind_text(st, 18, e->content.value);
    rc = rc ? rc : tb_db_bind_int64(st, 19, e->content.is_html != 0);
    rc = rc ? rc : tb_db_bind_text(st, 20, e->rights);
    rc = rc ? rc : tb_db_bind_text(st, 21, e->base);
    rc = rc ? rc : tb_db_bind_text(st, 22, e->text);
    rc = rc ? rc : tb_db_bind_blob(st, 23, r->hash, HASH_LEN);
    rc = rc ? rc : tb_db_bind_text(st, 27, e->content.type);
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
    struct tb_db_stmt *st;
    int rc = stmt(p, TB__Q_KEY_ADD, key_add_sql, &st);

    if (rc != 0)
        return rc;
    (void)tb_db_bind_int64(st, 1, p->source_id);
    (void)tb_db_bind_text(st, 2, e->key);
    (void)tb_db_bind_int64(st, 3, id);
    rc = done(p, st, "entry key");
    rc = rc ? rc : stmt(p, TB__Q_SEEN_ADD, seen_add_sql, &st);
    if (rc != 0)
        return rc;
    (void)tb_db_bind_int64(st, 1, id);
    (void)tb_db_bind_int64(st, 2, p->source_id);
    (void)tb_db_bind_int64(st, 3, p->seen_at);
    (void)tb_db_bind_text(st, 4, own_link(p, e));
    return done(p, st, "entry source");
}

/* Runs the insert with out_id bound: the new rowid into *id, or 0 when
 * that out_id is taken (insert_sql). */
static int insert_as(struct put *p, const struct tb_entry *e, const struct tb__row *r,
                     const char *out_id, int64_t *id)
{
    struct tb_db_stmt *st;
    int rc = stmt(p, TB__Q_INSERT, insert_sql, &st);

    *id = 0;
    if (rc != 0)
        return rc;
    rc = bind_row(p, st, e, r, e->updated);
    rc = rc ? rc : tb_db_bind_text(st, 24, out_id);
    rc = rc ? rc : tb_db_bind_int64(st, 25, p->source_id);
    rc = rc ? rc : tb_db_bind_int64(st, 26, p->seen_at);
    rc = rc ? rc : tb_db_step(st, NULL, 0);
    if (rc == TB_DB_ROW) {
        *id = tb_db_column_int64(st, 0);
        rc = 0;
    }
    tb_db_reset(st);
    return rc < 0 ? fail(p, rc, "insert entry") : 0;
}

/* Inserts under the upstream id if it is usable and free, else under a tag:
 * the UNIQUE constraint tells a taken id, sparing a lookup per entry. */
static int insert_entry(struct put *p, const struct tb_entry *e, const struct tb__row *r)
{
    const char *out_id = tb_store_upstream_id(e);
    const char *const cols[4] = {e->title, e->text, r->authors, r->categories};
    char tag[TB_STORE_TAG_SIZE];
    int64_t id = 0;
    int rc = 0;

    if (out_id != NULL)
        rc = insert_as(p, e, r, out_id, &id);
    if (rc == 0 && id == 0) {
        rc = tb_store_tag_id(p->source_name, e->key, tag);
        rc = rc ? rc : insert_as(p, e, r, tag, &id);
    }
    if (rc == 0 && id == 0) {
        snprintf(p->err, p->errlen, "insert entry: out_id %s is taken", tag);
        rc = TB_ESTORE;
    }
    if (rc != 0)
        return rc;
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
    struct tb_db_stmt *st;
    int rc;

    if (!takeover && (m->same || m->origin != p->source_id)) {
        p->st.unchanged++;
        return 0;
    }
    if (takeover) {
        rc = stmt(p, TB__Q_SET_ORIGIN, set_origin_sql, &st);
        if (rc != 0)
            return rc;
        (void)tb_db_bind_int64(st, 1, m->id);
        (void)tb_db_bind_int64(st, 2, p->source_id);
        rc = done(p, st, "entry origin");
        if (rc != 0)
            return rc;
    }
    rc = tb__store_reindex(p->s, m->id, 0, p->err, p->errlen);
    rc = rc ? rc : stmt(p, TB__Q_UPDATE, update_sql, &st);
    if (rc != 0)
        return rc;
    rc = bind_row(p, st, e, r, e->updated != TB_TIME_NONE ? e->updated : p->seen_at);
    rc = rc ? rc : tb_db_bind_int64(st, 24, m->id);
    rc = rc ? fail(p, rc, "bind") : done(p, st, "update entry");
    rc = rc ? rc : tb__store_reindex(p->s, m->id, 1, p->err, p->errlen);
    p->st.updated++;
    return rc ? rc : push_id(p, m->id);
}

/* Finds the entry this one is a copy of, with its origin and hash, in one
 * statement: by the source's own key, else across sources by arXiv id, DOI
 * or canonical link (match_sql). */
static int find_entry(struct put *p, const struct tb_entry *e, const struct tb__row *r,
                      struct match *m)
{
    struct tb_db_stmt *st;
    const void *hash;
    size_t n = 0;
    int rc = stmt(p, TB__Q_MATCH, match_sql, &st);

    memset(m, 0, sizeof(*m));
    if (rc != 0)
        return rc;
    (void)tb_db_bind_int64(st, 1, p->source_id);
    (void)tb_db_bind_text(st, 2, e->key);
    (void)bind_ident(st, 3, e->arxiv_id);
    (void)bind_ident(st, 4, e->doi);
    (void)bind_ident(st, 5, e->canon_link);
    rc = tb_db_step(st, NULL, 0);
    if (rc == TB_DB_ROW) {
        m->id = tb_db_column_int64(st, 0);
        m->own = (int)tb_db_column_int64(st, 1);
        m->origin = tb_db_column_int64(st, 2);
        hash = tb_db_column_blob(st, 3, &n);
        m->same = n == HASH_LEN && memcmp(hash, r->hash, HASH_LEN) == 0;
        m->record = (int)tb_db_column_int64(st, 4);
    }
    tb_db_reset(st);
    return rc < 0 ? fail(p, rc, "lookup") : 0;
}

/* ---- mentions ---------------------------------------------------------- */

static int voice_later(struct tb_store *s, const char *paper, int state);

/* Records that this source carried (carries 1) or mentioned `paper` in
 * entry `id` at time `at`; its earliest record per paper stays. An arXiv
 * id's row in arxiv_resolve follows (its latest voice; held once an arXiv
 * record carries it). */
static int add_mention(struct put *p, const char *paper, int64_t id, int64_t at, int carries)
{
    struct tb_db_stmt *st;
    int rc = stmt(p, TB__Q_MENTION_ADD, mention_add_sql, &st);

    if (rc != 0)
        return rc;
    (void)tb_db_bind_text(st, 1, paper);
    (void)tb_db_bind_int64(st, 2, p->source_id);
    (void)tb_db_bind_int64(st, 3, id);
    (void)tb_db_bind_int64(st, 4, at);
    (void)tb_db_bind_int64(st, 5, carries);
    rc = done(p, st, "mention");
    /* The resolver's view of an arXiv id (store_arxiv.c), at the end. */
    if (rc != 0 || strncmp(paper, "arxiv:", 6) != 0)
        return rc;
    return voice_later(p->s, paper, carries && p->arxiv_record ? 2 : 0);
}

/* Moves the records under key `from` to `to` (a new entry's paper key). */
static int move_mentions(struct put *p, const char *prefix, const char *id, const char *to)
{
    char *from = NULL;
    struct tb_db_stmt *st;
    int rc;

    if (!has_ident(id))
        return 0;
    if (asprintf(&from, "%s%s", prefix, id) < 0)
        return -ENOMEM;
    rc = strcmp(from, to) == 0 ? 0 : 1;
    if (rc == 1) {
        rc = stmt(p, TB__Q_MENTION_MOVE, mention_move_sql, &st);
        if (rc == 0) {
            (void)tb_db_bind_text(st, 1, from);
            (void)tb_db_bind_text(st, 2, to);
            rc = done(p, st, "move mentions");
        }
        rc = rc ? rc : stmt(p, TB__Q_MENTION_DROP, mention_drop_sql, &st);
        if (rc == 0) {
            (void)tb_db_bind_text(st, 1, from);
            rc = done(p, st, "move mentions");
        }
    }
    free(from);
    return rc;
}

/* The entry carries its stored entry's paper; a new entry also takes over
 * the records made under its other keys before it was stored. */
static int add_carry(struct put *p, int64_t id, int64_t at, int is_new)
{
    struct tb_db_stmt *st;
    char *key = NULL, *doi = NULL, *canon = NULL;
    int rc = stmt(p, TB__Q_PAPER_KEY, paper_key_sql, &st);

    if (rc != 0)
        return rc;
    (void)tb_db_bind_int64(st, 1, id);
    rc = tb_db_step(st, NULL, 0);
    if (rc == TB_DB_ROW && !tb_db_column_is_null(st, 0)) {
        key = strdup(tb_db_column_text(st, 0));
        if (!tb_db_column_is_null(st, 1))
            doi = strdup(tb_db_column_text(st, 1));
        if (!tb_db_column_is_null(st, 2))
            canon = strdup(tb_db_column_text(st, 2));
        rc = key ? 0 : -ENOMEM;
    } else {
        rc = rc < 0 ? fail(p, rc, "paper") : 0;
    }
    tb_db_reset(st);
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
    struct tb_db_stmt *st;
    const char *colon = strchr(key, ':');
    int col = 3, rc = stmt(p, TB__Q_PAPER_FIND, paper_find_sql, &st);

    *out = NULL;
    if (rc != 0)
        return rc;
    if (strncmp(key, "arxiv:", 6) == 0)
        col = 1;
    else if (strncmp(key, "doi:", 4) == 0)
        col = 2;
    (void)tb_db_bind_text(st, col, colon ? colon + 1 : key);
    rc = tb_db_step(st, NULL, 0);
    if (rc == TB_DB_ROW && !tb_db_column_is_null(st, 0))
        *out = strdup(tb_db_column_text(st, 0));
    else
        *out = strdup(key);
    rc = rc < 0 ? fail(p, rc, "paper") : 0;
    tb_db_reset(st);
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

/* ---- arXiv ids voiced -------------------------------------------------- */

/* Notes that paper (an "arxiv:" key) was voiced, for tb__store_voiced. Its
 * arxiv_resolve row is written at the end of the transaction rather than
 * here: rows written in feed order by two transactions deadlock (two
 * nodes' batches mentioning the same papers in another order). */
static int voice_later(struct tb_store *s, const char *paper, int state)
{
    int rc = TB_VEC_RESERVE(s->voiced, s->avoiced, s->nvoiced + 1, TB_VEC_MAX);
    char *copy = rc == 0 ? strdup(paper) : NULL;

    if (copy == NULL)
        return -ENOMEM;
    s->voiced[s->nvoiced].paper = copy;
    s->voiced[s->nvoiced++].state = state;
    return 0;
}

void tb__store_voiced_drop(struct tb_store *s, size_t mark)
{
    while (s->nvoiced > mark)
        free(s->voiced[--s->nvoiced].paper);
}

static int by_paper(const void *a, const void *b)
{
    return strcmp(((const struct tb__voiced *)a)->paper, ((const struct tb__voiced *)b)->paper);
}

int tb__store_voiced(struct tb_store *s, char *err, size_t errlen)
{
    struct put p = {.s = s, .err = err, .errlen = errlen};
    struct tb_db_stmt *st;
    size_t i, j;
    int rc = 0, state;

    if (s->nvoiced == 0)
        return 0;
    qsort(s->voiced, s->nvoiced, sizeof(*s->voiced), by_paper);
    for (i = 0; rc == 0 && i < s->nvoiced; i = j) {
        state = s->voiced[i].state;
        for (j = i + 1; j < s->nvoiced && strcmp(s->voiced[j].paper, s->voiced[i].paper) == 0; j++)
            state = state > s->voiced[j].state ? state : s->voiced[j].state;
        rc = stmt(&p, TB__Q_ARXIV_VOICED, arxiv_voiced_sql, &st);
        if (rc != 0)
            break;
        (void)tb_db_bind_text(st, 1, s->voiced[i].paper);
        (void)tb_db_bind_int64(st, 2, state);
        rc = done(&p, st, "arxiv voiced");
    }
    tb__store_voiced_drop(s, 0);
    return rc;
}

/* ---- paper locks (PostgreSQL; see the top) ------------------------------ */

/* PostgreSQL keeps advisory locks in a shared table of about
 * max_locks_per_transaction x max_connections slots (64 x 100 by default),
 * which one transaction locking every key of a 5,000-entry batch would
 * exhaust ("out of shared memory"). So a transaction locks only the keys
 * no stored entry has yet (a key some committed entry has stays found:
 * entries are never deleted), and past tb__store_lock_fine_max (256) it locks
 * their buckets instead: the key space is cut into LOCK_BUCKETS ranges by
 * the hash's top bits, each with a lock of its own. A transaction locking
 * keys one by one holds each key's bucket in shared mode first, so one
 * holding a bucket exclusively excludes every key in it. Every lock is
 * taken in one global order (bucket, then the bucket before its keys, then
 * key), so none of this can deadlock; a transaction thus holds at most
 * LOCK_BUCKETS of them. The price: two large batches at once (a first
 * cycle) mostly share buckets and store one after the other. */
#define LOCK_BUCKETS 512 /* a power of two */
#define LOCK_BUCKET_BITS 9
#define LOCK_BUCKET_BASE 0x7472696275740000LL /* + bucket: its one-key lock ("tribut") */
_Static_assert(LOCK_BUCKETS == 1 << LOCK_BUCKET_BITS, "bucket bits");

size_t tb__store_lock_fine_max = 256; /* tests lower it to see buckets locked */

/* The kinds of identity key, as the dedupe looks them up. */
enum { K_ARXIV, K_DOI, K_LINK, K_KINDS };
static const char *const kind_prefix[K_KINDS] = {"arxiv:", "doi:", "link:"};

/* Lock ids (hashes) of keys. */
struct locks {
    uint64_t *v;     /* malloc'd */
    size_t n, alloc; /* used, allocated */
};

/* The keys of a put's papers, by kind: a PostgreSQL array literal of their
 * values, and their lock ids (hashes) in the same order. */
struct papers {
    struct tb_buf arr[K_KINDS]; /* "{"v1","v2"}" */
    uint64_t *h[K_KINDS];       /* tb_fnv1a(prefix + value) (malloc'd) */
    size_t n[K_KINDS], alloc[K_KINDS];
};

/* Adds key prefix + value (kind k) when value is an identifier. Its hash
 * is tb_fnv1a's, unseeded: every node computes the same one. */
static int paper_add(struct papers *ps, int k, const char *value)
{
    size_t plen = strlen(kind_prefix[k]), len;
    char buf[512], *key = buf;
    const char *c;
    int rc;

    if (!has_ident(value))
        return 0;
    len = plen + strlen(value);
    if (len >= sizeof(buf) && (key = malloc(len + 1)) == NULL)
        return -ENOMEM;
    memcpy(key, kind_prefix[k], plen);
    memcpy(key + plen, value, len - plen);
    rc = TB_VEC_RESERVE(ps->h[k], ps->alloc[k], ps->n[k] + 1, TB_VEC_MAX);
    if (rc == 0)
        ps->h[k][ps->n[k]++] = tb_fnv1a(key, len);
    if (key != buf)
        free(key);
    /* Each element quoted, with " and \ escaped. */
    rc = rc ? rc : tb_buf_adds(&ps->arr[k], ps->n[k] > 1 ? ",\"" : "{\"");
    for (c = value; rc == 0 && *c != '\0'; c++) {
        if (*c == '"' || *c == '\\')
            rc = tb_buf_adds(&ps->arr[k], "\\");
        rc = rc ? rc : tb_buf_add(&ps->arr[k], c, 1);
    }
    return rc ? rc : tb_buf_adds(&ps->arr[k], "\"");
}

/* Adds mention key m ("arxiv:", "doi:" or "link:" and a value). */
static int paper_add_key(struct papers *ps, const char *m)
{
    int k;

    for (k = 0; k < K_KINDS; k++)
        if (strncmp(m, kind_prefix[k], strlen(kind_prefix[k])) == 0)
            return paper_add(ps, k, m + strlen(kind_prefix[k]));
    return 0;
}

static void papers_free(struct papers *ps)
{
    for (int k = 0; k < K_KINDS; k++) {
        tb_buf_free(&ps->arr[k]);
        free(ps->h[k]);
    }
}

/* The keys of ps that no stored entry has, into *out (their hashes). */
static int papers_new(struct tb_store *s, struct papers *ps, struct locks *out, char *err,
                      size_t errlen)
{
    static const char sql[] =
        "SELECT 0, i FROM unnest(CAST(?1 AS text[])) WITH ORDINALITY AS t(x, i)"
        " WHERE NOT EXISTS (SELECT 1 FROM entries WHERE arxiv_id = x)"
        " UNION ALL SELECT 1, i FROM unnest(CAST(?2 AS text[])) WITH ORDINALITY AS t(x, i)"
        " WHERE NOT EXISTS (SELECT 1 FROM entries WHERE doi = x)"
        " UNION ALL SELECT 2, i FROM unnest(CAST(?3 AS text[])) WITH ORDINALITY AS t(x, i)"
        " WHERE NOT EXISTS (SELECT 1 FROM entries WHERE canon_link = x)";
    struct tb_db_stmt *st = NULL;
    int64_t k, i;
    int rc = 0, step;

    for (k = 0; rc == 0 && k < K_KINDS; k++)
        rc = tb_buf_adds(&ps->arr[k], ps->n[k] ? "}" : "{}");
    if (rc == 0)
        rc = tb_db_query(s->sql, &st, err, errlen, sql, "ttt", (const char *)ps->arr[0].data,
                         (const char *)ps->arr[1].data, (const char *)ps->arr[2].data);
    else
        snprintf(err, errlen, "paper locks: %s", tb_strerror(rc));
    while (rc == 0 && (step = tb_db_step(st, err, errlen)) == TB_DB_ROW) {
        k = tb_db_column_int64(st, 0);
        i = tb_db_column_int64(st, 1) - 1;
        if (k < 0 || k >= K_KINDS || i < 0 || (size_t)i >= ps->n[k])
            continue;
        rc = TB_VEC_RESERVE(out->v, out->alloc, out->n + 1, TB_VEC_MAX);
        if (rc == 0)
            out->v[out->n++] = ps->h[k][i];
    }
    if (rc == 0 && step != TB_DB_DONE)
        rc = step;
    tb_db_finalize(st);
    return rc;
}

static int by_lock(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Appends lock (kind, value) to the two array literals. */
static int lock_push(struct tb_buf *kinds, struct tb_buf *vals, int kind, int64_t v)
{
    int first = kinds->len == 1;
    int rc = tb_buf_addf(kinds, "%s%d", first ? "" : ",", kind);

    return rc ? rc : tb_buf_addf(vals, "%s%lld", first ? "" : ",", (long long)v);
}

/* Takes the locks of the keys l->v (hashes) in the global order (see
 * above), in one statement: the arrays are unnested in order, and the
 * aggregate takes one lock per row as it reads them. Kind 0: a bucket,
 * exclusive; 1: a bucket, shared; 2: a key (the two-key form, apart from
 * the store's other advisory locks). */
static int lock_all(struct tb_store *s, struct locks *l, char *err, size_t errlen)
{
    struct tb_buf kinds, vals;
    size_t i, k = 0;
    uint64_t b, last = UINT64_MAX;
    int rc, fine;

    if (l->n == 0)
        return 0;
    qsort(l->v, l->n, sizeof(*l->v), by_lock);
    for (i = 1; i < l->n; i++)
        if (l->v[i] != l->v[k])
            l->v[++k] = l->v[i];
    l->n = k + 1;
    fine = l->n <= tb__store_lock_fine_max;
    tb_buf_init(&kinds, (size_t)1 << 30);
    tb_buf_init(&vals, (size_t)1 << 30);
    rc = tb_buf_adds(&kinds, "{");
    rc = rc ? rc : tb_buf_adds(&vals, "{");
    for (i = 0; rc == 0 && i < l->n; i++) {
        b = l->v[i] >> (64 - LOCK_BUCKET_BITS);
        if (b != last)
            rc = lock_push(&kinds, &vals, fine ? 1 : 0, LOCK_BUCKET_BASE + (int64_t)b);
        last = b;
        if (rc == 0 && fine)
            rc = lock_push(&kinds, &vals, 2, (int64_t)l->v[i]);
    }
    rc = rc ? rc : tb_buf_adds(&kinds, "}");
    rc = rc ? rc : tb_buf_adds(&vals, "}");
    if (rc == 0)
        rc = tb_db_run(s->sql, err, errlen,
                       "SELECT count(CASE k WHEN 0 THEN pg_advisory_xact_lock(v)"
                       " WHEN 1 THEN pg_advisory_xact_lock_shared(v)"
                       " ELSE pg_advisory_xact_lock(CAST(v >> 32 AS integer),"
                       " CAST((v << 32) >> 32 AS integer)) END)"
                       " FROM unnest(CAST(?1 AS integer[]), CAST(?2 AS bigint[])) AS t(k, v)",
                       "tt", (const char *)kinds.data, (const char *)vals.data);
    else
        snprintf(err, errlen, "paper locks: %s", tb_strerror(rc));
    tb_buf_free(&kinds);
    tb_buf_free(&vals);
    return rc;
}

/* Locks the new papers of feeds[0..n) (see above). */
static int lock_papers(struct tb_store *s, const struct tb_feed *const *feeds, size_t n, char *err,
                       size_t errlen)
{
    struct papers ps = {0};
    struct locks l = {0};
    const struct tb_entry *e;
    size_t i, k;
    int rc = 0;

    if (tb_db_dialect(s->sql) != TB_DB_PG)
        return 0; /* one writer at a time */
    for (k = 0; k < K_KINDS; k++)
        tb_buf_init(&ps.arr[k], (size_t)1 << 30);
    for (i = 0; rc == 0 && i < n; i++) {
        for (e = feeds[i] ? feeds[i]->entries : NULL; rc == 0 && e != NULL; e = e->next) {
            rc = paper_add(&ps, K_ARXIV, e->arxiv_id);
            rc = rc ? rc : paper_add(&ps, K_DOI, e->doi);
            rc = rc ? rc : paper_add(&ps, K_LINK, e->canon_link);
            for (k = 0; rc == 0 && k < e->nmentions; k++)
                rc = paper_add_key(&ps, e->mentions[k]);
        }
    }
    if (rc != 0)
        snprintf(err, errlen, "paper locks: %s", tb_strerror(rc));
    else if (ps.n[K_ARXIV] + ps.n[K_DOI] + ps.n[K_LINK] > 0)
        rc = papers_new(s, &ps, &l, err, errlen);
    rc = rc ? rc : lock_all(s, &l, err, errlen);
    papers_free(&ps);
    free(l.v);
    return rc;
}

/* The batch's feeds' locks, once: its puts then take none of their own
 * (each would lock, one by one, keys the batch locked by bucket, and a
 * batch's worth of key locks is what the buckets keep out of the lock
 * table). */
int tb_store_lock_papers(struct tb_store *s, const struct tb_feed *const *feeds, size_t n,
                         char *err, size_t errlen)
{
    int rc = lock_papers(s, feeds, n, err, errlen);

    if (rc == 0 && s->in_txn)
        s->papers_locked = 1;
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
    struct tb_db_stmt *st;
    int rc = stmt(p, TB__Q_SRC_NAME, src_name_sql, &st);

    if (rc != 0)
        return rc;
    (void)tb_db_bind_int64(st, 1, p->source_id);
    rc = tb_db_step(st, NULL, 0);
    if (rc == TB_DB_ROW) {
        p->source_name = strdup(tb_db_column_text(st, 0));
        rc = p->source_name ? 0 : -ENOMEM;
    } else if (rc == TB_DB_DONE) {
        snprintf(p->err, p->errlen, "no source with id %lld", (long long)p->source_id);
        rc = -ENOENT;
    } else {
        rc = fail(p, rc, "source");
    }
    tb_db_reset(st);
    rc = rc ? rc : stmt(p, TB__Q_SRC_META, src_meta_sql, &st);
    if (rc != 0)
        return rc;
    (void)tb_db_bind_text(st, 1, f->id ? f->id : f->self);
    (void)tb_db_bind_text(st, 2, f->title);
    (void)tb_db_bind_text(st, 3, f->link);
    (void)tb_db_bind_text(st, 4, f->self);
    (void)tb_db_bind_int64(st, 5, p->source_id);
    (void)tb_db_bind_int64(st, 6, p->arxiv_record);
    return done(p, st, "source metadata");
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
    size_t i = 0, mark = s->nunindexed, cmark = s->nchanged, vmark = s->nvoiced;
    int nested = tb_db_in_txn(s->sql), began = 0;
    int rc = 0;

    if (prep == NULL || prep->feed != f || prep->n != f->nentries) {
        snprintf(err, errlen, "entries not prepared for this feed");
        rc = -EINVAL;
    }
    /* Inside the caller's transaction (tb_store_begin) the feed is a
     * savepoint (tb_db nests it), so a failure undoes it alone; else it is
     * a transaction. */
    if (rc == 0 && s->in_txn && !nested)
        rc = tb__store_lost(err, errlen);
    if (rc == 0)
        rc = tb_db_begin(s->sql, TB_DB_IMMEDIATE, err, errlen);
    began = rc == 0;
    p.arxiv_record = tb_arxiv_is_record(f->link);
    if (rc == 0 && !(s->in_txn && s->papers_locked))
        rc = lock_papers(s, &f, 1, err, errlen);
    if (rc == 0)
        rc = put_source(&p, f);
    for (e = f->entries; rc == 0 && e != NULL && i < prep->n; e = e->next)
        rc = put_entry(&p, e, &prep->rows[i++]);
    if (rc == 0 && s->node != NULL)
        rc = tb__changes_note(s, p.ids, p.n);
    /* A batch indexes its new entries at tb_store_commit(), a feed alone here. */
    if (rc == 0 && !nested)
        rc = tb__store_index_all(s, err, errlen);
    if (rc == 0) {
        began = 0; /* a failed commit is rolled back by tb_db_commit */
        rc = tb_db_commit(s->sql, err, errlen);
    }
    if (rc == 0 && (s->flags & TB_STORE_TEMP) && (p.st.added || p.st.updated))
        s->fts_stale = 1;
    if (rc != 0 && began)
        (void)tb_db_rollback(s->sql);
    if (rc != 0) {
        s->nunindexed = mark; /* what the undo took back is not to be indexed */
        s->nchanged = cmark;
        tb__store_voiced_drop(s, vmark);
    }
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
