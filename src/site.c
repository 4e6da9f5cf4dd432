/*
 * The published site: topic feeds, all.*, index.html, sources.opml and topics.opml, each
 * into public_dir (atomically, with .gz) and into the HTTP server.
 *
 * Feed ids are "urn:tributary:topic:NAME" (and "urn:tributary:all"): stable
 * for a topic whatever base_url or listen become, as RFC 4287 wants of
 * atom:id. Self links are base_url + the document's path.
 */
#include "tb_site.h"

#include "site_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tb_archive.h"
#include "tb_gzip.h"
#include "tb_opml.h"
#include "tb_publish.h"
#include "tb_topic.h"

#include "site_int.h"

#define DOC_CAP ((size_t)256 * 1024 * 1024)

/* Archive pages loaded or written per feed and publish (see write_feed()). */
#define ARCHIVE_BURST 8

/* One published format of a feed. */
struct format {
    const char *ext;  /* ".atom" */
    const char *type; /* HTTP Content-Type */
    int (*write)(const struct tb_publish_meta *, const struct tb_entry *, struct tb_buf *);
};

static const struct format formats[] = {
    {".atom", "application/atom+xml; charset=utf-8", tb_publish_atom},
    {".rss", "application/rss+xml; charset=utf-8", tb_publish_rss},
    {".json", "application/feed+json; charset=utf-8", tb_publish_json},
};

/* What one feed document set is made of. */
struct feed_spec {
    const char *path;     /* "topics/NAME" or "all", without extension */
    const char *id;       /* atom:id */
    const char *title;    /* feed title */
    const char *query;    /* FTS5 query, or NULL for every entry */
    char *const *sources; /* restriction to these sources, or NULL */
    size_t nsources;      /* number of names in sources */
    size_t limit;         /* newest N; the size of its archive pages */
    int64_t page;         /* 0: the current document; else archive page N */
    int64_t pages;        /* its complete archive pages */
};

static int keep_first(int rc, int next)
{
    return rc ? rc : next;
}

/* Writes one document into public_dir and the server, compressed once: the
 * same gzip bytes become the .gz file and the server's gzip form. */
static int put_doc_age(struct tb_site *s, const char *relpath, const char *type,
                       const struct tb_buf *b, int max_age, char *err, size_t errlen)
{
    const char *data = b->data ? b->data : "";
    char path[1024];
    struct tb_buf gz;
    int rc;

    tb_buf_init(&gz, DOC_CAP);
    rc = tb_gzip(data, b->len, TB_GZIP_BEST, &gz);
    if (rc)
        snprintf(err, errlen, "gzip %s: %s", relpath, tb_strerror(rc));
    if (rc == 0)
        rc = tb_publish_write_file(s->cfg->public_dir, relpath, data, b->len, gz.data, gz.len, err,
                                   errlen);
    if (rc == 0 && s->http != NULL) {
        snprintf(path, sizeof(path), "/%s", relpath);
        rc = tb_http_put_gz(s->http, path, type, data, b->len, gz.data, gz.len, (int64_t)time(NULL),
                            max_age);
        /* The index is also the site's root. */
        if (rc == 0 && strcmp(relpath, "index.html") == 0)
            rc = tb_http_put_gz(s->http, "/", type, data, b->len, gz.data, gz.len,
                                (int64_t)time(NULL), s->max_age);
        if (rc)
            snprintf(err, errlen, "%s: %s", path, tb_strerror(rc));
    }
    tb_buf_free(&gz);
    if (rc == 0)
        s->published++;
    return rc;
}

static int put_doc(struct tb_site *s, const char *relpath, const char *type, const struct tb_buf *b,
                   char *err, size_t errlen)
{
    return put_doc_age(s, relpath, type, b, s->max_age, err, errlen);
}

/* Where feed `path`'s archive pages live: "archive" for all, else
 * "topics/NAME/archive". */
static void archive_dir(const char *path, char *out, size_t len)
{
    if (strcmp(path, "all") == 0)
        snprintf(out, len, "archive");
    else
        snprintf(out, len, "%s/archive", path);
}

/* relpath of archive page n of feed path in the format with extension ext. */
static void archive_rel(const char *path, int64_t n, const char *ext, char *out, size_t len)
{
    char dir[600];

    archive_dir(path, dir, sizeof(dir));
    snprintf(out, len, "%s/%" PRId64 "%s", dir, n, ext);
}

/* The RFC 5005 links of the document fs in format ext, into m (URLs in
 * prev, next and cur); its relpath into rel. */
static void archive_meta(const struct tb_site *s, const struct feed_spec *fs, const char *ext,
                         struct tb_publish_meta *m, char *rel, char prev[1200], char next[1200],
                         char cur[1200])
{
    char r[700];

    m->next_archive = NULL;
    m->newer_archive = NULL;
    m->current = NULL;
    m->archive = fs->page > 0;
    if (fs->page == 0) {
        snprintf(rel, 700, "%s%s", fs->path, ext);
        if (fs->pages > 0) {
            archive_rel(fs->path, fs->pages, ext, r, sizeof(r));
            snprintf(prev, 1200, "%s%s", s->cfg->base_url, r);
            m->next_archive = prev;
        }
        return;
    }
    archive_rel(fs->path, fs->page, ext, rel, 700);
    if (fs->page > 1) {
        archive_rel(fs->path, fs->page - 1, ext, r, sizeof(r));
        snprintf(prev, 1200, "%s%s", s->cfg->base_url, r);
        m->next_archive = prev;
    }
    /* The next page's URL, even on the newest page (where it is not there
     * yet): a page's bytes never change. */
    archive_rel(fs->path, fs->page + 1, ext, r, sizeof(r));
    snprintf(next, 1200, "%s%s", s->cfg->base_url, r);
    m->newer_archive = next;
    snprintf(cur, 1200, "%s%s%s", s->cfg->base_url, fs->path, ext);
    m->current = cur;
}

/* Whether public_dir/rel exists. */
static int doc_exists(const struct tb_site *s, const char *rel)
{
    char path[4096];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", s->cfg->public_dir, rel);
    return stat(path, &st) == 0;
}

/* Writes the feed's entries in every format (an archive page: the formats
 * whose file is not there yet). */
static int write_formats(struct tb_site *s, const struct feed_spec *fs, const struct tb_feed *f,
                         char *err, size_t errlen)
{
    struct tb_publish_meta m = {0};
    char self[1200], rel[700], page[1200], link[1300], path[710];
    char prev[1200], next[1200], cur[1200];
    struct tb_buf b;
    size_t i;
    int rc = 0;

    /* A feed's alternate is its HTML page: a topic's or a trending page
     * (trending.html, trending/NAME.html), else the front page. Browsers
     * show feeds as raw XML, so the page is named in the document and, for
     * the server, in a Link header. */
    if (strncmp(fs->path, "topics/", 7) == 0 || strncmp(fs->path, "trending", 8) == 0)
        snprintf(page, sizeof(page), "%s%s.html", s->cfg->base_url, fs->path);
    else
        snprintf(page, sizeof(page), "%s", s->cfg->base_url);
    snprintf(link, sizeof(link), "<%s>; rel=\"alternate\"; type=\"text/html\"", page);
    m.id = fs->id;
    m.title = fs->title;
    m.alternate = page;
    m.updated = TB_TIME_NONE;
    for (i = 0; rc == 0 && i < sizeof(formats) / sizeof(formats[0]); i++) {
        archive_meta(s, fs, formats[i].ext, &m, rel, prev, next, cur);
        if (fs->page > 0 && doc_exists(s, rel))
            continue; /* a complete page is written once */
        snprintf(self, sizeof(self), "%s%s", s->cfg->base_url, rel);
        m.self = self;
        tb_buf_init(&b, DOC_CAP);
        rc = formats[i].write(&m, f->entries, &b);
        if (rc)
            snprintf(err, errlen, "%s: %s", rel, tb_strerror(rc));
        else
            rc = put_doc_age(s, rel, formats[i].type, &b,
                             fs->page > 0 ? TB_HTTP_IMMUTABLE : s->max_age, err, errlen);
        snprintf(path, sizeof(path), "/%s", rel);
        if (rc == 0 && s->http != NULL)
            rc = tb_http_set_link(s->http, path, link);
        tb_buf_free(&b);
    }
    return rc;
}

/* Reads public_dir/rel whole into b; 0, -ENOENT or another negative errno. */
static int read_doc(const struct tb_site *s, const char *rel, struct tb_buf *b)
{
    char path[4096], chunk[65536];
    size_t got;
    FILE *fp;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/%s", s->cfg->public_dir, rel);
    fp = fopen(path, "rb");
    if (fp == NULL)
        return -errno;
    rc = tb_buf_add(b, "", 0);
    while (rc == 0) {
        got = fread(chunk, 1, sizeof(chunk), fp);
        if (got == 0)
            break;
        rc = tb_buf_add(b, chunk, got);
    }
    if (rc == 0 && ferror(fp))
        rc = -EIO;
    fclose(fp);
    return rc;
}

/* Makes archive page fs->page there in every format: a file already in
 * public_dir is served as it is (after a restart), only a missing one is
 * rendered, from the page's entries as they are now. */
static int ensure_page(struct tb_site *s, const struct feed_spec *fs, int *done, char *err,
                       size_t errlen)
{
    struct tb_feed *f = NULL;
    struct feed_spec one = *fs;
    char rel[700], path[710], page[1200], link[1300];
    int64_t *ids = NULL;
    struct tb_buf b;
    size_t i, n = 0;
    int rc = 0, missing = 0, loaded = 0;

    for (i = 0; rc == 0 && i < sizeof(formats) / sizeof(formats[0]); i++) {
        archive_rel(fs->path, fs->page, formats[i].ext, rel, sizeof(rel));
        snprintf(path, sizeof(path), "/%s", rel);
        if (s->http != NULL && tb_http_has(s->http, path))
            continue;
        tb_buf_init(&b, DOC_CAP);
        rc = read_doc(s, rel, &b);
        if (rc == -ENOENT) {
            missing = 1;
            rc = 0;
        } else if (rc == 0 && s->http != NULL) {
            loaded = 1;
            rc = tb_http_put(s->http, path, formats[i].type, b.data, b.len, (int64_t)time(NULL),
                             TB_HTTP_IMMUTABLE);
            if (strncmp(fs->path, "topics/", 7) == 0)
                snprintf(page, sizeof(page), "%s%s.html", s->cfg->base_url, fs->path);
            else
                snprintf(page, sizeof(page), "%s", s->cfg->base_url);
            snprintf(link, sizeof(link), "<%s>; rel=\"alternate\"; type=\"text/html\"", page);
            if (rc == 0)
                rc = tb_http_set_link(s->http, path, link);
        }
        if (rc)
            snprintf(err, errlen, "%s: %s", rel, tb_strerror(rc));
        tb_buf_free(&b);
    }
    if (rc == 0 && (missing || (s->http != NULL && loaded)))
        ++*done; /* this page was loaded or is written now */
    if (rc != 0 || !missing)
        return rc;
    /* Only the missing formats are rendered (write_formats skips the others). */
    rc = tb_archive_page(s->store, fs->path, fs->page, &ids, &n, err, errlen);
    if (rc == 0)
        rc = tb_store_load(s->store, ids, n, &f, err, errlen);
    if (rc == 0)
        rc = tb__site_decorate(s, f, err, errlen);
    if (rc == 0)
        rc = write_formats(s, &one, f, err, errlen);
    tb_feed_free(f);
    free(ids);
    return rc;
}

static int write_feed(struct tb_site *s, const struct feed_spec *in, char *err, size_t errlen)
{
    struct feed_spec fs_ = *in, *fs = &fs_;
    struct tb_feed *f = NULL;
    int64_t *ids = NULL, k;
    size_t n = 0;
    int rc, done = 0;

    rc = tb_archive_update(s->store, fs->path, fs->query, fs->sources, fs->nsources, fs->limit,
                           &ids, &n, &fs->pages, err, errlen);
    /* Newest page first, at most ARCHIVE_BURST pages written or loaded a
     * publish of the daemon (a store that forms hundreds of pages at once would hold the
     * loop for seconds: each file is fsynced); the rest come at the next
     * publishes, the chain from the current document growing back. */
    for (k = fs->pages; rc == 0 && k >= 1 && (s->http == NULL || done < ARCHIVE_BURST); k--) {
        fs->page = k;
        rc = ensure_page(s, fs, &done, err, errlen);
    }
    fs->page = 0;
    if (rc == 0)
        rc = tb_store_load(s->store, ids, n, &f, err, errlen);
    if (rc == 0)
        rc = tb__site_decorate(s, f, err, errlen);
    if (rc == 0)
        rc = write_formats(s, fs, f, err, errlen);
    tb_feed_free(f);
    free(ids);
    return rc;
}

int tb__site_write_doc(struct tb_site *s, const char *path, const char *id, const char *title,
                       const struct tb_feed *f, char *err, size_t errlen)
{
    struct feed_spec fs = {.path = path, .id = id, .title = title};
    struct tb_feed empty = {0};

    return write_formats(s, &fs, f ? f : &empty, err, errlen);
}

int tb_site_publish_topic(struct tb_site *s, const struct tb_config_topic *t, char *err,
                          size_t errlen)
{
    char path[128], id[160];
    struct feed_spec fs = {.path = path,
                           .id = id,
                           .title = t->title,
                           .query = t->query,
                           .sources = t->sources,
                           .nsources = t->nsources,
                           .limit = t->limit};

    snprintf(path, sizeof(path), "topics/%s", t->name);
    snprintf(id, sizeof(id), "urn:tributary:topic:%s", t->name);
    return write_feed(s, &fs, err, errlen);
}

static int publish_everything_feed(struct tb_site *s, char *err, size_t errlen)
{
    struct feed_spec fs = {.path = "all",
                           .id = "urn:tributary:all",
                           .title = "tributary: all entries",
                           .limit = s->cfg->feed_limit};

    return write_feed(s, &fs, err, errlen);
}

int tb_site_publish_index(struct tb_site *s, char *err, size_t errlen)
{
    struct tb_buf b;
    int rc;

    rc = tb__site_pages(s, err, errlen);
    tb_buf_init(&b, DOC_CAP);
    if (rc == 0)
        rc = tb_opml_write(s->cfg, &b);
    if (rc == 0)
        rc = put_doc(s, "sources.opml", "text/x-opml; charset=utf-8", &b, err, errlen);
    tb_buf_reset(&b);
    if (rc == 0)
        rc = tb_opml_write_topics(s->cfg, &b);
    if (rc == 0)
        rc = put_doc(s, "topics.opml", "text/x-opml; charset=utf-8", &b, err, errlen);
    tb_buf_free(&b);
    if (rc && err[0] == '\0')
        snprintf(err, errlen, "index: %s", tb_strerror(rc));
    return rc;
}

int tb_site_publish_all(struct tb_site *s, char *err, size_t errlen)
{
    int rc = publish_everything_feed(s, err, errlen);
    size_t i;

    for (i = 0; i < s->cfg->ntopics; i++)
        rc = keep_first(rc, tb_site_publish_topic(s, &s->cfg->topics[i], err, errlen));
    rc = keep_first(rc, tb_site_publish_trending(s, (int64_t)time(NULL), err, errlen));
    return keep_first(rc, tb_site_publish_index(s, err, errlen));
}

int tb_site_publish_changed(struct tb_site *s, const int64_t *ids, size_t n, char *err,
                            size_t errlen)
{
    const struct tb_config_topic *t;
    int64_t *hit = NULL;
    size_t i, nhit = 0;
    int rc = publish_everything_feed(s, err, errlen);

    for (i = 0; i < s->cfg->ntopics; i++) {
        t = &s->cfg->topics[i];
        rc = keep_first(rc, tb_topic_select_in(s->store, t->query, t->sources, t->nsources, ids, n,
                                               1, &hit, &nhit, err, errlen));
        if (nhit > 0)
            rc = keep_first(rc, tb_site_publish_topic(s, t, err, errlen));
        free(hit);
        hit = NULL;
        nhit = 0;
    }
    return keep_first(rc, tb__site_pages(s, err, errlen));
}

void tb_site_remove_topic(struct tb_site *s, const char *name)
{
    static const char *const dirs[] = {"topics", "trending"};
    char rel[4096], gz[4200];
    size_t i, k;

    for (k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++) {
        for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
            snprintf(rel, sizeof(rel), "%s/%s/%s%s", s->cfg->public_dir, dirs[k], name,
                     formats[i].ext);
            unlink(rel);
            snprintf(gz, sizeof(gz), "%s.gz", rel);
            unlink(gz);
            if (s->http != NULL) {
                snprintf(rel, sizeof(rel), "/%s/%s%s", dirs[k], name, formats[i].ext);
                (void)!tb_http_remove(s->http, rel);
            }
        }
    }
    for (k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++) {
        snprintf(rel, sizeof(rel), "%s/%s/%s.html", s->cfg->public_dir, dirs[k], name);
        unlink(rel);
        snprintf(gz, sizeof(gz), "%s.gz", rel);
        unlink(gz);
        snprintf(rel, sizeof(rel), "/%s/%s.html", dirs[k], name);
        if (s->http != NULL)
            (void)!tb_http_remove(s->http, rel);
    }
}

int tb__site_put(struct tb_site *s, const char *relpath, const char *type, const struct tb_buf *b,
                 char *err, size_t errlen)
{
    return put_doc(s, relpath, type, b, err, errlen);
}
