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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tb_gzip.h"
#include "tb_opml.h"
#include "tb_publish.h"
#include "tb_topic.h"

#include "site_int.h"

#define DOC_CAP ((size_t)256 * 1024 * 1024)

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
    size_t limit;         /* newest N */
};

static int keep_first(int rc, int next)
{
    return rc ? rc : next;
}

/* Writes one document into public_dir and the server, compressed once: the
 * same gzip bytes become the .gz file and the server's gzip form. */
static int put_doc(struct tb_site *s, const char *relpath, const char *type, const struct tb_buf *b,
                   char *err, size_t errlen)
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
                            s->max_age);
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

/* Writes the feed's entries in every format. */
static int write_formats(struct tb_site *s, const struct feed_spec *fs, const struct tb_feed *f,
                         char *err, size_t errlen)
{
    struct tb_publish_meta m = {0};
    char self[1200], rel[600], page[1200], link[4000], path[610];
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
    m.id = fs->id;
    m.title = fs->title;
    m.alternate = page;
    m.hub = s->hub;
    m.updated = TB_TIME_NONE;
    for (i = 0; rc == 0 && i < sizeof(formats) / sizeof(formats[0]); i++) {
        snprintf(rel, sizeof(rel), "%s%s", fs->path, formats[i].ext);
        snprintf(self, sizeof(self), "%s%s", s->cfg->base_url, rel);
        m.self = self;
        /* WebSub discovery reads the Link header first: hub and self there
         * too, beside the page. */
        if (s->hub != NULL)
            snprintf(link, sizeof(link),
                     "<%s>; rel=\"alternate\"; type=\"text/html\", <%s>; rel=\"hub\", "
                     "<%s>; rel=\"self\"",
                     page, s->hub, self);
        else
            snprintf(link, sizeof(link),
                     "<%s>; rel=\"alternate\"; type=\"text/html\", <%s>; rel=\"self\"", page, self);
        tb_buf_init(&b, DOC_CAP);
        rc = formats[i].write(&m, f->entries, &b);
        if (rc)
            snprintf(err, errlen, "%s: %s", rel, tb_strerror(rc));
        else
            rc = put_doc(s, rel, formats[i].type, &b, err, errlen);
        snprintf(path, sizeof(path), "/%s", rel);
        if (rc == 0 && s->http != NULL)
            rc = tb_http_set_link(s->http, path, link);
        if (rc == 0 && s->on_feed != NULL)
            s->on_feed(s->on_feed_data, rel, formats[i].type, &b);
        tb_buf_free(&b);
    }
    return rc;
}

static int write_feed(struct tb_site *s, const struct feed_spec *fs, char *err, size_t errlen)
{
    struct tb_feed *f = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    int rc;

    rc = tb_topic_select_in(s->store, fs->query, fs->sources, fs->nsources, NULL, 0, fs->limit,
                            &ids, &n, err, errlen);
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
