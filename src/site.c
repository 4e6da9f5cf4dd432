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
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tb_archive.h"
#include "tb_changes.h"
#include "tb_db.h"
#include "tb_gzip.h"
#include "tb_hash.h"
#include "tb_opml.h"
#include "tb_publish.h"
#include "tb_topic.h"

#include "site_int.h"

#define DOC_CAP ((size_t)256 * 1024 * 1024)

#define HTML_TYPE "text/html; charset=utf-8"
#define ALL_TITLE "tributary: all entries"

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
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))
#define HTML_FMT NFORMATS /* an archive page's HTML form, after the feed formats */

/* What one feed document set is made of. */
struct feed_spec {
    const char *path;       /* "topics/NAME" or "all", without extension */
    const char *id;         /* atom:id */
    const char *title;      /* feed title */
    const char *query;      /* FTS5 query, or NULL for every entry */
    char *const *sources;   /* restriction to these sources, or NULL */
    size_t nsources;        /* number of names in sources */
    size_t limit;           /* newest N; the size of its archive pages */
    const int64_t *changed; /* entries just stored (new or updated), or NULL */
    size_t nchanged;        /* their number */
    size_t topic;           /* its index in cfg->topics, or (size_t)-1 (all) */
    int64_t page;           /* 0: the current document; else archive page N */
    int64_t pages;          /* its complete archive pages */
};

static int keep_first(int rc, int next)
{
    return rc ? rc : next;
}

/* Whether public_dir/relpath holds exactly data[0..len); its mtime into *at. */
static int file_moment(const struct tb_site *s, const char *relpath, const char *data, size_t len,
                       int64_t *at)
{
    char path[4096], buf[65536];
    struct stat st;
    size_t off = 0, got;
    FILE *fp;
    int same;

    snprintf(path, sizeof(path), "%s/%s", s->cfg->public_dir, relpath);
    if (stat(path, &st) != 0 || (size_t)st.st_size != len)
        return -1;
    fp = fopen(path, "rb");
    if (fp == NULL)
        return -1;
    same = 1;
    while (same && (got = fread(buf, 1, sizeof(buf), fp)) > 0) {
        same = off + got <= len && memcmp(buf, data + off, got) == 0;
        off += got;
    }
    same = same && off == len && !ferror(fp);
    fclose(fp);
    if (!same)
        return -1;
    *at = (int64_t)st.st_mtime;
    return 0;
}

/*
 * The Last-Modified of document relpath (served at path) holding
 * data[0..len): a document's moment changes exactly when its bytes do.
 * The same bytes as the version served keep its moment. Else, on
 * PostgreSQL (nodes of a cluster), the moment the database records for
 * these bytes, the same on every node (tb_changes_doc_moment); on SQLite,
 * the file's moment when public_dir holds these bytes already (the daemon
 * restarted: the files carry their moments), else now, and a second past
 * the version replaced at least.
 */
static int64_t doc_moment(struct tb_site *s, const char *relpath, const char *path,
                          const char *data, size_t len)
{
    uint64_t hash = tb_fnv1a(data, len), old_hash = 0;
    int64_t old = 0, at = 0, now = (int64_t)time(NULL);
    char hex[20], err[256] = "";

    if (tb_http_doc_version(s->http, path, &old_hash, &old) == 0 && old_hash == hash)
        return old;
    if (tb_db_dialect(tb_store_sql(s->store)) == TB_DB_PG) {
        snprintf(hex, sizeof(hex), "%016" PRIx64, hash);
        if (tb_changes_doc_moment(s->store, relpath, hex, &at, err, sizeof(err)) == 0 && at > 0)
            return at;
        tb_log(TB_LOG_WARN, "publish", "%s: its moment: %s", relpath, err);
    } else if (old == 0 && file_moment(s, relpath, data, len, &at) == 0) {
        return at;
    }
    return now > old ? now : old + 1;
}

/* Gives public_dir/relpath (and its .gz) the document's moment, so that a
 * restart (file_moment) and a server reading the files (nginx) see it. */
static void set_file_moment(const struct tb_site *s, const char *relpath, int64_t at)
{
    struct timespec ts[2] = {{.tv_sec = (time_t)at}, {.tv_sec = (time_t)at}};
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", s->cfg->public_dir, relpath);
    (void)utimensat(AT_FDCWD, path, ts, 0);
    snprintf(path, sizeof(path), "%s/%s.gz", s->cfg->public_dir, relpath);
    (void)utimensat(AT_FDCWD, path, ts, 0);
}

/* Writes one document into public_dir and the server, compressed once: the
 * same gzip bytes become the .gz file and the server's gzip form. */
static int put_doc_age(struct tb_site *s, const char *relpath, const char *type,
                       const struct tb_buf *b, int max_age, char *err, size_t errlen)
{
    const char *data = b->data ? b->data : "";
    int immutable = max_age == TB_HTTP_IMMUTABLE, rc = 0;
    char path[1024];
    struct tb_buf gz;
    int64_t at = 0;

    snprintf(path, sizeof(path), "/%s", relpath);
    /* Before the file is replaced: on SQLite it may carry the moment. */
    if (s->http != NULL)
        at = doc_moment(s, relpath, path, data, b->len);
    tb_buf_init(&gz, DOC_CAP);
    /* An archive page's file has no .gz twin: most pages are never read,
     * and a static server compresses the few that are (contrib/nginx: gzip
     * on for them). The daemon compresses it for its own clients, at
     * zlib's default level (the same size within 0.5 %, less CPU). */
    if (!immutable || s->http != NULL)
        rc = tb_gzip(data, b->len, immutable ? TB_GZIP_DEFAULT : TB_GZIP_BEST, &gz);
    if (rc)
        snprintf(err, errlen, "gzip %s: %s", relpath, tb_strerror(rc));
    if (rc == 0 && s->batch != NULL)
        rc = tb_publish_batch_write(s->batch, relpath, data, b->len, immutable ? NULL : gz.data,
                                    gz.len, err, errlen);
    else if (rc == 0)
        rc = tb_publish_write_file(s->cfg->public_dir, relpath, data, b->len,
                                   immutable ? NULL : gz.data, gz.len, err, errlen);
    if (rc == 0 && s->http != NULL && s->batch == NULL)
        set_file_moment(s, relpath, at);
    if (rc == 0 && s->http != NULL) {
        rc = tb_http_put_gz(s->http, path, type, data, b->len, gz.data, gz.len, at, max_age);
        /* The index is also the site's root. */
        if (rc == 0 && strcmp(relpath, "index.html") == 0)
            rc = tb_http_put_gz(s->http, "/", type, data, b->len, gz.data, gz.len, at, s->max_age);
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

/* The HTML page of fs (its alternate): an archive page's own HTML form, a
 * topic's or a trending page (trending.html, trending/NAME.html), else the
 * front page. */
static void alternate_of(const struct tb_site *s, const struct feed_spec *fs, char *out, size_t len)
{
    char r[700];

    if (fs->page > 0) {
        archive_rel(fs->path, fs->page, ".html", r, sizeof(r));
        snprintf(out, len, "%s%s", s->cfg->base_url, r);
    } else if (strncmp(fs->path, "topics/", 7) == 0 || strncmp(fs->path, "trending", 8) == 0) {
        snprintf(out, len, "%s%s.html", s->cfg->base_url, fs->path);
    } else {
        snprintf(out, len, "%s", s->cfg->base_url);
    }
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
    /* The next page's URL, even on the newest page: a page's bytes never
     * change. Until that page exists the server redirects it to the
     * current document (tb_site_archive_miss()). */
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

/* Sends the Link header of the served document rel: fs's HTML page, and
 * for WebSub discovery (which reads the header first) the hub of a current
 * document and its self URL. */
static int set_links(struct tb_site *s, const struct feed_spec *fs, const char *rel)
{
    char page[1200], link[4000], path[710];
    int n;

    if (s->http == NULL)
        return 0;
    alternate_of(s, fs, page, sizeof(page));
    n = snprintf(link, sizeof(link), "<%s>; rel=\"alternate\"; type=\"text/html\"", page);
    if (fs->page == 0 && s->hub != NULL)
        n += snprintf(link + n, sizeof(link) - (size_t)n, ", <%s>; rel=\"hub\"", s->hub);
    snprintf(link + n, sizeof(link) - (size_t)n, ", <%s%s>; rel=\"self\"", s->cfg->base_url, rel);
    snprintf(path, sizeof(path), "/%s", rel);
    return tb_http_set_link(s->http, path, link);
}

/* Writes the feed's entries in format formats[i] (public_dir and server). */
static int write_format(struct tb_site *s, const struct feed_spec *fs, const struct tb_feed *f,
                        size_t i, char *err, size_t errlen)
{
    struct tb_publish_meta m = {0};
    char self[1200], rel[700], page[1200], prev[1200], next[1200], cur[1200];
    struct tb_buf b;
    int rc;

    /* Browsers show feeds as raw XML, so the HTML page is named in the
     * document and, for the server, in a Link header. */
    alternate_of(s, fs, page, sizeof(page));
    m.id = fs->id;
    m.title = fs->title;
    m.alternate = page;
    m.hub = fs->page == 0 ? s->hub : NULL; /* a page never changes: nothing to push */
    m.updated = TB_TIME_NONE;
    m.now = s->now;
    archive_meta(s, fs, formats[i].ext, &m, rel, prev, next, cur);
    snprintf(self, sizeof(self), "%s%s", s->cfg->base_url, rel);
    m.self = self;
    tb_buf_init(&b, DOC_CAP);
    rc = formats[i].write(&m, f->entries, &b);
    if (rc)
        snprintf(err, errlen, "%s: %s", rel, tb_strerror(rc));
    else
        rc = put_doc_age(s, rel, formats[i].type, &b, fs->page > 0 ? TB_HTTP_IMMUTABLE : s->max_age,
                         err, errlen);
    if (rc == 0)
        rc = set_links(s, fs, rel);
    if (rc == 0 && fs->page == 0 && s->on_feed != NULL)
        s->on_feed(s->on_feed_data, rel, formats[i].type, &b);
    tb_buf_free(&b);
    return rc;
}

/* Writes the feed's entries in every format. */
static int write_formats(struct tb_site *s, const struct feed_spec *fs, const struct tb_feed *f,
                         char *err, size_t errlen)
{
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < NFORMATS; i++)
        rc = write_format(s, fs, f, i, err, errlen);
    return rc;
}

/* The index of topic `name` in the config, or (size_t)-1. */
static size_t topic_index(const struct tb_site *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->cfg->ntopics; i++) {
        if (strcmp(s->cfg->topics[i].name, name) == 0)
            return i;
    }
    return (size_t)-1;
}

/* Writes archive page fs->page's HTML form, of entries ids[0..n). */
static int write_html(struct tb_site *s, const struct feed_spec *fs, const int64_t *ids, size_t n,
                      char *err, size_t errlen)
{
    char rel[700];
    struct tb_buf b;
    int rc;

    tb_buf_init(&b, DOC_CAP);
    rc = tb__site_archive_html(s, fs->topic, fs->page, ids, n, &b, err, errlen);
    archive_rel(fs->path, fs->page, ".html", rel, sizeof(rel));
    if (rc == 0)
        rc = put_doc_age(s, rel, HTML_TYPE, &b, TB_HTTP_IMMUTABLE, err, errlen);
    tb_buf_free(&b);
    return rc;
}

/* The extension of format fmt (HTML_FMT: ".html"). */
static const char *fmt_ext(size_t fmt)
{
    return fmt == HTML_FMT ? ".html" : formats[fmt].ext;
}

/* Renders archive page fs->page, from the page's entries as they are now,
 * in each format fmt whose bit (1 << fmt) is set in fmts (HTML_FMT: its
 * HTML page), into public_dir and the server; the feed formats from one
 * load of the entries. */
static int render_page(struct tb_site *s, const struct feed_spec *fs, unsigned fmts, char *err,
                       size_t errlen)
{
    struct tb_feed *f = NULL;
    int64_t *ids = NULL;
    size_t n = 0, fmt;
    int rc;

    rc = tb_archive_page(s->store, fs->path, fs->page, &ids, &n, err, errlen);
    if (rc == 0 && (fmts & 1u << HTML_FMT))
        rc = write_html(s, fs, ids, n, err, errlen);
    fmts &= ~(1u << HTML_FMT);
    if (rc == 0 && fmts != 0)
        rc = tb_store_load(s->store, ids, n, &f, err, errlen);
    if (rc == 0 && fmts != 0)
        rc = tb__site_decorate(s, f, err, errlen);
    for (fmt = 0; rc == 0 && fmt < NFORMATS; fmt++) {
        if (fmts & 1u << fmt)
            rc = write_format(s, fs, f, fmt, err, errlen);
    }
    tb_feed_free(f);
    free(ids);
    return rc;
}

/* Makes archive page fs->page there in every format, as files: only a
 * missing file is rendered (a page's files are never rewritten). */
static int write_page_files(struct tb_site *s, const struct feed_spec *fs, char *err, size_t errlen)
{
    char rel[700];
    unsigned missing = 0;
    size_t fmt;

    for (fmt = 0; fmt <= HTML_FMT; fmt++) {
        archive_rel(fs->path, fs->page, fmt_ext(fmt), rel, sizeof(rel));
        if (!doc_exists(s, rel))
            missing |= 1u << fmt;
    }
    return missing ? render_page(s, fs, missing, err, errlen) : 0;
}

/* The oldest archive page of fs whose files a publish writes (pages above
 * fs->pages: none). With static_archive, every page: public_dir is the
 * whole site. Else the daemon writes none (it renders a page on its first
 * request, tb_site_archive_miss(), and nginx passes it a missing file),
 * and `tributary fetch` the newest, which the current documents link to:
 * a first fetch forms hundreds of pages (thousands on an existing
 * database) and most are never read. */
static int64_t oldest_written(const struct tb_site *s, const struct feed_spec *fs)
{
    if (s->cfg->static_archive)
        return 1;
    return s->http == NULL ? fs->pages : fs->pages + 1;
}

/* Writes the files of the pages oldest_written() names that are missing,
 * newest first, as one batch made durable at once and before the current
 * document that links the newest. Every page is looked at, not only down
 * to the first one whose files are there: pages rendered on request leave
 * holes below it. */
static int write_new_pages(struct tb_site *s, const struct feed_spec *in, char *err, size_t errlen)
{
    struct feed_spec fs = *in;
    int64_t oldest = oldest_written(s, in);
    int rc = 0;

    if (oldest < 1 || oldest > in->pages)
        return 0;
    s->batch = tb_publish_batch_new(s->cfg->public_dir);
    if (s->batch == NULL) {
        snprintf(err, errlen, "archive pages of %s: %s", in->path, tb_strerror(-ENOMEM));
        return -ENOMEM;
    }
    for (fs.page = in->pages; rc == 0 && fs.page >= oldest; fs.page--)
        rc = write_page_files(s, &fs, err, errlen);
    if (rc == 0)
        rc = tb_publish_batch_commit(s->batch, err, errlen);
    else
        tb_publish_batch_free(s->batch);
    s->batch = NULL;
    return rc;
}

static int write_feed(struct tb_site *s, const struct feed_spec *in, char *err, size_t errlen)
{
    struct feed_spec fs_ = *in, *fs = &fs_;
    struct tb_feed *f = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    int rc;

    rc = tb_archive_update(s->store, fs->path, fs->query, fs->sources, fs->nsources, fs->limit,
                           fs->changed, fs->nchanged, &ids, &n, &fs->pages, err, errlen);
    if (rc == 0)
        rc = write_new_pages(s, fs, err, errlen);
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

/* A request path parsed as an archive page. */
struct archive_ref {
    char feed[TB_ARCHIVE_FEED_MAX + 1]; /* "all" or "topics/NAME" */
    int64_t page;                       /* >= 1 */
    size_t fmt;                         /* index in formats, or HTML_FMT */
};

/* Parses "N.EXT" (N without leading zeros) into r. */
static int parse_page(const char *p, struct archive_ref *r)
{
    const char *dot = strchr(p, '.');
    size_t fmt, digits = dot != NULL ? (size_t)(dot - p) : 0;

    if (digits == 0 || digits > 15 || p[0] == '0' || strspn(p, "0123456789") != digits)
        return -ENOENT;
    r->page = strtoll(p, NULL, 10);
    for (fmt = 0; fmt <= HTML_FMT; fmt++) {
        if (strcmp(dot, fmt_ext(fmt)) == 0) {
            r->fmt = fmt;
            return 0;
        }
    }
    return -ENOENT;
}

/* Parses "/archive/N.EXT" or "/topics/NAME/archive/N.EXT" into r. */
static int parse_archive(const char *path, struct archive_ref *r)
{
    const char *name, *rest;
    size_t len;

    if (strncmp(path, "/archive/", 9) == 0) {
        snprintf(r->feed, sizeof(r->feed), "all");
        return parse_page(path + 9, r);
    }
    if (strncmp(path, "/topics/", 8) != 0)
        return -ENOENT;
    name = path + 8;
    rest = strchr(name, '/');
    len = rest != NULL ? (size_t)(rest - name) : 0;
    if (len == 0 || len > TB_ARCHIVE_FEED_MAX - 7 || strncmp(rest, "/archive/", 9) != 0)
        return -ENOENT;
    snprintf(r->feed, sizeof(r->feed), "topics/%.*s", (int)len, name);
    return parse_page(rest + 9, r);
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

/* Puts public_dir/rel (and its .gz when there) into the server as an
 * immutable document, with its file's mtime; -ENOENT when there is no file. */
static int load_page(struct tb_site *s, const char *rel, const char *type)
{
    char path[4096], gzrel[720];
    struct tb_buf b, gz;
    struct stat st;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", s->cfg->public_dir, rel);
    if (stat(path, &st) != 0)
        return -ENOENT;
    tb_buf_init(&b, DOC_CAP);
    tb_buf_init(&gz, DOC_CAP);
    snprintf(gzrel, sizeof(gzrel), "%s.gz", rel);
    rc = read_doc(s, rel, &b);
    if (rc == 0 && read_doc(s, gzrel, &gz) != 0)
        tb_buf_free(&gz); /* computed by the server */
    snprintf(path, sizeof(path), "/%s", rel);
    /* The file's moment on SQLite; the cluster's for these bytes on PostgreSQL. */
    if (rc == 0)
        rc = tb_http_put_gz(s->http, path, type, b.data, b.len, gz.data, gz.len,
                            doc_moment(s, rel, path, b.data ? b.data : "", b.len),
                            TB_HTTP_IMMUTABLE);
    tb_buf_free(&b);
    tb_buf_free(&gz);
    return rc;
}

/* Fills fs for feed (all, or a configured topic); -ENOENT for another. */
static int spec_of(struct tb_site *s, const char *feed, struct feed_spec *fs, char *id,
                   size_t idlen)
{
    const struct tb_config_topic *t;

    memset(fs, 0, sizeof(*fs));
    fs->path = feed;
    fs->topic = (size_t)-1;
    if (strcmp(feed, "all") == 0) {
        fs->id = "urn:tributary:all";
        fs->title = ALL_TITLE;
        return 0;
    }
    fs->topic = topic_index(s, feed + 7);
    if (fs->topic == (size_t)-1)
        return -ENOENT;
    t = &s->cfg->topics[fs->topic];
    snprintf(id, idlen, "urn:tributary:topic:%s", t->name);
    fs->id = id;
    fs->title = t->title;
    return 0;
}

/* The page's URL while archive page r->page is not formed yet (a newer
 * link on the newest page): the current document, or the feed's HTML page. */
static void not_yet(const struct tb_site *s, const struct archive_ref *r, char *loc, size_t len)
{
    if (r->fmt != HTML_FMT)
        snprintf(loc, len, "%s%s%s", s->cfg->base_url, r->feed, formats[r->fmt].ext);
    else if (strcmp(r->feed, "all") == 0)
        snprintf(loc, len, "%s", s->cfg->base_url);
    else
        snprintf(loc, len, "%s%s.html", s->cfg->base_url, r->feed);
}

int tb_site_archive_miss(const char *path, char *loc, size_t loclen, void *data)
{
    struct tb_site *s = data;
    struct archive_ref r;
    struct feed_spec fs;
    char err[512] = "", rel[700], id[160];
    int64_t pages = 0;
    int rc;

    if (s->http == NULL || s->store == NULL || parse_archive(path, &r) != 0)
        return -ENOENT;
    if (tb_archive_pages(s->store, r.feed, &pages, err, sizeof(err)) != 0)
        return -ENOENT;
    if (r.page == pages + 1 && spec_of(s, r.feed, &fs, id, sizeof(id)) == 0) {
        not_yet(s, &r, loc, loclen);
        return TB_HTTP_MISS_REDIRECT;
    }
    if (r.page > pages)
        return -ENOENT;
    archive_rel(r.feed, r.page, fmt_ext(r.fmt), rel, sizeof(rel));
    rc = load_page(s, rel, r.fmt == HTML_FMT ? HTML_TYPE : formats[r.fmt].type);
    if (rc == -ENOENT && spec_of(s, r.feed, &fs, id, sizeof(id)) == 0) {
        fs.page = r.page;
        fs.pages = pages;
        rc = render_page(s, &fs, 1u << r.fmt, err, sizeof(err));
        if (rc != 0)
            tb_log(TB_LOG_WARN, "site", "%s: %s", path, err[0] ? err : tb_strerror(rc));
    }
    if (rc == 0 && r.fmt != HTML_FMT && spec_of(s, r.feed, &fs, id, sizeof(id)) == 0) {
        fs.page = r.page;
        rc = set_links(s, &fs, rel);
    }
    return rc;
}

int tb__site_write_doc(struct tb_site *s, const char *path, const char *id, const char *title,
                       const struct tb_feed *f, char *err, size_t errlen)
{
    struct feed_spec fs = {.path = path, .id = id, .title = title};
    struct tb_feed empty = {0};

    return write_formats(s, &fs, f ? f : &empty, err, errlen);
}

/* Rewrites topic t's documents; changed[0..nchanged): the entries just
 * stored, which its archive looks at again (NULL: none). */
static int publish_topic(struct tb_site *s, const struct tb_config_topic *t, const int64_t *changed,
                         size_t nchanged, char *err, size_t errlen)
{
    char path[128], id[160];
    struct feed_spec fs = {.path = path,
                           .id = id,
                           .title = t->title,
                           .query = t->query,
                           .sources = t->sources,
                           .nsources = t->nsources,
                           .limit = t->limit,
                           .changed = changed,
                           .nchanged = nchanged,
                           .topic = topic_index(s, t->name)};

    snprintf(path, sizeof(path), "topics/%s", t->name);
    snprintf(id, sizeof(id), "urn:tributary:topic:%s", t->name);
    return write_feed(s, &fs, err, errlen);
}

int tb_site_publish_topic(struct tb_site *s, const struct tb_config_topic *t, char *err,
                          size_t errlen)
{
    return publish_topic(s, t, NULL, 0, err, errlen);
}

static int publish_everything_feed(struct tb_site *s, const int64_t *changed, size_t nchanged,
                                   char *err, size_t errlen)
{
    struct feed_spec fs = {.path = "all",
                           .id = "urn:tributary:all",
                           .title = ALL_TITLE,
                           .limit = s->cfg->feed_limit,
                           .changed = changed,
                           .nchanged = nchanged,
                           .topic = (size_t)-1};

    return write_feed(s, &fs, err, errlen);
}

int tb_site_publish_index(struct tb_site *s, char *err, size_t errlen)
{
    struct tb_buf b;
    int rc;

    rc = tb__site_pages(s, err, errlen);
    tb_buf_init(&b, DOC_CAP);
    if (rc == 0)
        rc = tb_opml_write_at(s->cfg, 0, s->now ? s->now : (int64_t)time(NULL), &b);
    if (rc == 0)
        rc = put_doc(s, "sources.opml", "text/x-opml; charset=utf-8", &b, err, errlen);
    tb_buf_reset(&b);
    if (rc == 0)
        rc = tb_opml_write_at(s->cfg, 1, s->now ? s->now : (int64_t)time(NULL), &b);
    if (rc == 0)
        rc = put_doc(s, "topics.opml", "text/x-opml; charset=utf-8", &b, err, errlen);
    tb_buf_free(&b);
    if (rc && err[0] == '\0')
        snprintf(err, errlen, "index: %s", tb_strerror(rc));
    return rc;
}

int tb_site_publish_all(struct tb_site *s, char *err, size_t errlen)
{
    int rc = publish_everything_feed(s, NULL, 0, err, errlen);
    size_t i;

    for (i = 0; i < s->cfg->ntopics; i++)
        rc = keep_first(rc, tb_site_publish_topic(s, &s->cfg->topics[i], err, errlen));
    rc = keep_first(
        rc, tb_site_publish_trending(s, s->now ? s->now : (int64_t)time(NULL), err, errlen));
    return keep_first(rc, tb_site_publish_index(s, err, errlen));
}

int tb_site_publish_changed(struct tb_site *s, const int64_t *ids, size_t n, char *err,
                            size_t errlen)
{
    const struct tb_config_topic *t;
    int64_t *hit = NULL;
    size_t i, nhit = 0;
    int rc = publish_everything_feed(s, ids, n, err, errlen);

    for (i = 0; i < s->cfg->ntopics; i++) {
        t = &s->cfg->topics[i];
        rc = keep_first(rc, tb_topic_select_in(s->store, t->query, t->sources, t->nsources, ids, n,
                                               1, &hit, &nhit, err, errlen));
        if (nhit > 0)
            rc = keep_first(rc, publish_topic(s, t, ids, n, err, errlen));
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
