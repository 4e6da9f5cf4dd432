/*
 * The reading site's pages. Each page is written top to bottom into one
 * tb_buf with rc chaining; every upstream or config text goes through
 * esc(), every upstream URL through href() (http and https only). Pages
 * use relative links ("" from /, "../" from /topics/) so that the same
 * files work from public_dir behind any server, and absolute URLs only in
 * the subscribe boxes, where a reader needs them.
 */
#include "tb_page.h"
#include "tb_normalize.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tb_date.h"
#include "tb_sanitize.h"
#include "tb_url.h"
#include "tb_utf8.h"

#define ABSTRACT_LEAD 240 /* bytes of an abstract shown before "More" */

/* A feed of the site: its path without extension, and its title. */
struct feed {
    const char *path;  /* "all" or "topics/NAME" */
    const char *title; /* "All entries" or the topic's title */
};

static const char *const exts[] = {"atom", "rss", "json"};
static const char *const ext_names[] = {"Atom", "RSS", "JSON Feed"};

/* The site's icon (favicon.svg): a small river mark, white on blue. */
static const char favicon[] =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">"
    "<rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#1a5fb4\"/>"
    "<path d=\"M2 11c3-4 5 2 12-5\" stroke=\"#fff\" stroke-width=\"2\" fill=\"none\"/></svg>\n";

/* Appends n bytes of s escaped: the one way text enters a page. */
static int escn(struct tb_buf *b, const char *s, size_t n)
{
    return tb_sanitize_escape(b, s, n);
}

static int esc(struct tb_buf *b, const char *s)
{
    return escn(b, s, s != NULL ? strlen(s) : 0);
}

/* Appends pre, escaped s, post. */
static int wrap(struct tb_buf *b, const char *pre, const char *s, const char *post)
{
    int rc = tb_buf_adds(b, pre);

    rc = rc ? rc : esc(b, s);
    return rc ? rc : tb_buf_adds(b, post);
}

/* Whether an upstream URL may become a link. */
static int linkable(const char *url)
{
    return url != NULL && tb_url_allowed(url, 0);
}

/* The autodiscovery links of one feed, in every format. */
static int alternates(const struct feed *f, const char *root, struct tb_buf *b)
{
    size_t j;
    int rc = 0;

    for (j = 0; rc == 0 && j < 3; j++) {
        rc = tb_buf_addf(b, "<link rel=\"alternate\" type=\"application/%s\" title=\"",
                         j == 0   ? "atom+xml"
                         : j == 1 ? "rss+xml"
                                  : "feed+json");
        rc = rc ? rc : esc(b, f->title);
        rc = rc ? rc : tb_buf_addf(b, " (%s)\" href=\"%s", ext_names[j], root);
        rc = rc ? rc : esc(b, f->path);
        rc = rc ? rc : tb_buf_addf(b, ".%s\">\n", exts[j]);
    }
    return rc;
}

/* The page's head; `own` (may be NULL) is the page's own feed, listed
 * first so that a reader subscribing from the page finds it first. */
static int head(const struct tb_page_site *site, const char *root, const char *title,
                const struct feed *own, struct tb_buf *b)
{
    static const struct feed all = {"all", "All entries"};
    char path[600];
    struct feed f = {path, NULL};
    size_t i;
    int rc =
        tb_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                       "<meta name=\"viewport\" content=\"width=device-width, "
                       "initial-scale=1\">\n<meta name=\"color-scheme\" content=\"light dark\">\n");

    rc = rc ? rc : wrap(b, "<title>", title, "</title>\n");
    if (rc == 0 && site->description != NULL)
        rc = wrap(b, "<meta name=\"description\" content=\"", site->description, "\">\n");
    rc = rc ? rc : wrap(b, "<link rel=\"stylesheet\" href=\"", root, "style.css\">\n");
    rc =
        rc ? rc
           : wrap(b, "<link rel=\"icon\" type=\"image/svg+xml\" href=\"", root, "favicon.svg\">\n");
    if (rc == 0 && own != NULL)
        rc = alternates(own, root, b);
    rc = rc ? rc : alternates(&all, root, b);
    for (i = 0; rc == 0 && i < site->ntopics; i++) {
        snprintf(path, sizeof(path), "topics/%s", site->topics[i].name);
        f.title = site->topics[i].title;
        rc = alternates(&f, root, b);
    }
    /* The site's reading list, for readers that discover OPML outlines. */
    rc = rc ? rc
            : wrap(b, "<link rel=\"outline\" type=\"text/x-opml\" title=\"Topics (OPML)\" href=\"",
                   root, "topics.opml\">\n");
    return rc ? rc : tb_buf_adds(b, "</head>\n");
}

#define CUR_HOME ((size_t)-1)     /* banner(): the front page */
#define CUR_TRENDING ((size_t)-2) /* banner(): /trending.html */
#define CUR_NONE ((size_t)-3)     /* banner(): no navigation entry */

/* The banner: the site's name and the navigation to trending and to every
 * topic. */
static int banner(const struct tb_page_site *site, const char *root, size_t current,
                  struct tb_buf *b)
{
    size_t i;
    int rc = tb_buf_addf(b, "<body>\n<header class=\"banner\">\n<a class=\"home\" href=\"%s\"",
                         *root ? root : "./");

    rc = rc ? rc : tb_buf_adds(b, current == CUR_HOME ? " aria-current=\"page\">" : ">");
    rc = rc ? rc : wrap(b, "", site->title, "</a>\n");
    rc = rc ? rc : tb_buf_adds(b, "<nav aria-label=\"Topics\">\n<ul>\n");
    rc = rc ? rc : wrap(b, "<li><a href=\"", root, "trending.html\"");
    rc = rc ? rc
            : tb_buf_adds(b, current == CUR_TRENDING ? " aria-current=\"page\">Trending</a></li>\n"
                                                     : ">Trending</a></li>\n");
    for (i = 0; rc == 0 && i < site->ntopics; i++) {
        rc = wrap(b, "<li><a href=\"", root, "topics/");
        rc = rc ? rc : esc(b, site->topics[i].name);
        rc = rc ? rc : tb_buf_adds(b, i == current ? ".html\" aria-current=\"page\">" : ".html\">");
        rc = rc ? rc : wrap(b, "", site->topics[i].title, "</a></li>\n");
    }
    return rc ? rc : tb_buf_adds(b, "</ul>\n</nav>\n</header>\n<main>\n");
}

/* The plain-text abstract without arXiv's "arXiv:ID Announce Type: new
 * Abstract: " preamble, which says nothing the page does not. */
static const char *abstract_of(const struct tb_entry *e)
{
    const char *t = e->text;

    if (t == NULL)
        return "";
    t += tb_norm_announcement_len(t);
    while (*t == ' ' || *t == '\n' || *t == '\t')
        t++;
    return t;
}

/* The first lines of the abstract, the rest behind <details>. */
static int abstract(const struct tb_entry *e, struct tb_buf *b)
{
    const char *t = abstract_of(e);
    size_t n = strlen(t), cut;
    int rc;

    if (n == 0)
        return 0;
    if (n <= ABSTRACT_LEAD + 80)
        return wrap(b, "<p class=\"abstract\">", t, "</p>\n");
    cut = tb_utf8_cut(t, n, ABSTRACT_LEAD);
    while (cut > ABSTRACT_LEAD / 2 && t[cut - 1] != ' ')
        cut--;
    rc = tb_buf_adds(b, "<p class=\"abstract\">");
    rc = rc ? rc : escn(b, t, cut);
    rc = rc ? rc : tb_buf_adds(b, "…</p>\n<details><summary>Full abstract</summary>\n<p>…");
    rc = rc ? rc : escn(b, t + cut, n - cut);
    return rc ? rc : tb_buf_adds(b, "</p>\n</details>\n");
}

/* Authors, then the date. */
static int byline(const struct tb_entry *e, struct tb_buf *b)
{
    int64_t t = e->published != TB_TIME_NONE ? e->published : e->updated;
    const struct tb_person *p;
    char when[40];
    int rc = tb_buf_adds(b, "<p class=\"byline\">");

    for (p = e->authors; rc == 0 && p != NULL; p = p->next)
        rc = wrap(b, p == e->authors ? "" : ", ", p->name, "");
    if (rc == 0 && t != TB_TIME_NONE && tb_date_format_rfc3339(t, when, sizeof(when)) == 0) {
        rc = tb_buf_adds(b, e->authors != NULL ? " · <time datetime=\"" : "<time datetime=\"");
        rc = rc ? rc : tb_buf_addf(b, "%s\">%.10s</time>", when, when);
    }
    return rc ? rc : tb_buf_adds(b, "</p>\n");
}

/* The title of topic `name`, else the name. */
static const char *topic_title(const struct tb_page_site *site, const char *name)
{
    size_t i;

    for (i = 0; i < site->ntopics; i++)
        if (strcmp(site->topics[i].name, name) == 0)
            return site->topics[i].title;
    return name;
}

/* Categories as tags and the topics it matches as links. */
static int tags(const struct tb_page_site *site, const struct tb_page_paper *p, const char *root,
                struct tb_buf *b)
{
    const struct tb_category *c;
    size_t i;
    int rc = 0;

    if (p->entry->categories == NULL && p->ntopics == 0)
        return 0;
    rc = tb_buf_adds(b, "<ul class=\"tags\">");
    for (c = p->entry->categories; rc == 0 && c != NULL; c = c->next)
        rc = wrap(b, "<li>", c->label != NULL ? c->label : c->term, "</li>");
    for (i = 0; rc == 0 && i < p->ntopics; i++) {
        rc = wrap(b, "<li class=\"topic\"><a href=\"", root, "topics/");
        rc = rc ? rc : esc(b, p->topics[i]);
        rc = rc ? rc : wrap(b, ".html\">", topic_title(site, p->topics[i]), "</a></li>");
    }
    return rc ? rc : tb_buf_adds(b, "</ul>\n");
}

/* "N sources: a, b" and, for an arXiv paper, its abs and PDF pages. */
static int sources(const struct tb_page_paper *p, struct tb_buf *b)
{
    const char *id = p->entry->arxiv_id;
    size_t i;
    int rc = tb_buf_adds(b, "<p class=\"sources\">");

    if (rc == 0 && p->nsources > 0)
        rc = tb_buf_addf(b, "<span>%zu source%s: ", p->nsources, p->nsources == 1 ? "" : "s");
    for (i = 0; rc == 0 && i < p->nsources; i++) {
        rc = tb_buf_adds(b, i ? ", " : "");
        if (p->source_links != NULL && linkable(p->source_links[i]))
            rc = rc ? rc : wrap(b, "<a href=\"", p->source_links[i], "\">");
        rc = rc ? rc : esc(b, p->sources[i]);
        if (p->source_links != NULL && linkable(p->source_links[i]))
            rc = rc ? rc : tb_buf_adds(b, "</a>");
    }
    if (rc == 0 && p->nsources > 0)
        rc = tb_buf_adds(b, "</span>");
    if (rc == 0 && id != NULL) {
        rc = wrap(b,
                  p->nsources > 0 ? " · <a href=\"https://arxiv.org/abs/"
                                  : "<a href=\"https://arxiv.org/abs/",
                  id, "\">abs</a>");
        rc = rc ? rc : wrap(b, " · <a href=\"https://arxiv.org/pdf/", id, "\">PDF</a>");
    }
    return rc ? rc : tb_buf_adds(b, "</p>\n");
}

/* One paper as an <article>; rank 0 for none. */
static int card(const struct tb_page_site *site, const struct tb_page_paper *p, size_t rank,
                int level, const char *root, struct tb_buf *b)
{
    const struct tb_entry *e = p->entry;
    const char *title = e->title != NULL && *e->title ? e->title : "(untitled)";
    int rc = tb_buf_adds(b, "<li><article>\n");

    if (rc == 0 && rank > 0)
        rc = tb_buf_addf(b, "<p class=\"rank\">%zu</p>\n", rank);
    rc = rc ? rc : tb_buf_addf(b, "<h%d>", level);
    if (rc == 0 && linkable(e->link))
        rc = wrap(b, "<a href=\"", e->link, "\">");
    rc = rc ? rc : esc(b, title);
    if (rc == 0 && linkable(e->link))
        rc = tb_buf_adds(b, "</a>");
    rc = rc ? rc : tb_buf_addf(b, "</h%d>\n", level);
    rc = rc ? rc : byline(e, b);
    rc = rc ? rc : abstract(e, b);
    rc = rc ? rc : tags(site, p, root, b);
    rc = rc ? rc : sources(p, b);
    return rc ? rc : tb_buf_adds(b, "</article></li>\n");
}

static int list(const struct tb_page_site *site, const struct tb_page_paper *p, size_t n,
                int ranked, int level, const char *root, struct tb_buf *b)
{
    size_t i;
    int rc = tb_buf_adds(b, ranked ? "<ol class=\"papers\">\n" : "<ul class=\"papers\">\n");

    for (i = 0; rc == 0 && i < n; i++)
        rc = card(site, &p[i], ranked ? i + 1 : 0, level, root, b);
    return rc ? rc : tb_buf_adds(b, ranked ? "</ol>\n" : "</ul>\n");
}

/* One feed's subscribe row: its URL to copy and its formats. */
static int subscribe_row(const struct tb_page_site *site, const struct feed *f, const char *root,
                         struct tb_buf *b)
{
    size_t j;
    int rc = wrap(b, "<div class=\"feed\">\n<label for=\"feed-", f->path, "\">");

    rc = rc ? rc : wrap(b, "", f->title, " (Atom)</label>\n");
    rc = rc ? rc : wrap(b, "<input id=\"feed-", f->path, "\" type=\"url\" readonly value=\"");
    rc = rc ? rc : esc(b, site->base_url);
    rc = rc ? rc : wrap(b, "", f->path, ".atom\">\n<p>");
    for (j = 0; rc == 0 && j < 3; j++) {
        rc = wrap(b, j ? " · <a href=\"" : "<a href=\"", root, "");
        rc = rc ? rc : esc(b, f->path);
        rc = rc ? rc : tb_buf_addf(b, ".%s\">%s</a>", exts[j], ext_names[j]);
    }
    return rc ? rc : tb_buf_adds(b, "</p>\n</div>\n");
}

/* The subscribe section: `own` (may be NULL) first, then the topic's feed,
 * or (topic NULL) all and every topic. */
static int subscribe(const struct tb_page_site *site, const struct tb_page_topic *topic,
                     const struct feed *own, const char *root, struct tb_buf *b)
{
    char path[600];
    struct feed f = {"all", "All entries"};
    size_t i;
    int rc = tb_buf_adds(b, "<section class=\"subscribe\" aria-labelledby=\"subscribe\">\n"
                            "<h2 id=\"subscribe\">Subscribe in a feed reader</h2>\n"
                            "<p>Copy a feed's address into your feed reader.</p>\n");

    if (rc == 0 && own != NULL)
        rc = subscribe_row(site, own, root, b);
    if (topic != NULL) {
        snprintf(path, sizeof(path), "topics/%s", topic->name);
        f.path = path;
        f.title = topic->title;
        rc = rc ? rc : subscribe_row(site, &f, root, b);
    }
    if (topic == NULL)
        rc = rc ? rc : subscribe_row(site, &f, root, b);
    for (i = 0; rc == 0 && topic == NULL && i < site->ntopics; i++) {
        snprintf(path, sizeof(path), "topics/%s", site->topics[i].name);
        f.path = path;
        f.title = site->topics[i].title;
        rc = subscribe_row(site, &f, root, b);
    }
    return rc ? rc : tb_buf_adds(b, "</section>\n");
}

/* One choice of the topic checkboxes. */
static int mail_choice(const char *value, const char *label, int checked, struct tb_buf *b)
{
    int rc = wrap(b, "<label><input type=\"checkbox\" name=\"topic\" value=\"", value, "\"");

    rc = rc ? rc : tb_buf_adds(b, checked ? " checked> " : "> ");
    return rc ? rc : wrap(b, "", label, "</label>\n");
}

/* The subscribe-by-email form (when the site mails): `topic` names the
 * topic it subscribes to (a hidden field), or NULL for a choice of every
 * topic and trending. Posted to ROOTsubscribe. */
static int mail_form(const struct tb_page_site *site, const char *topic, const char *root,
                     struct tb_buf *b)
{
    size_t i;
    int rc;

    if (!site->mail)
        return 0;
    rc = tb_buf_adds(b, "<section class=\"mail\" aria-labelledby=\"mail\">\n"
                        "<h2 id=\"mail\">Get trending papers in your email inbox</h2>\n");
    if (rc == 0 && topic != NULL && strcmp(topic, "trending") == 0)
        rc = tb_buf_adds(b, "<p class=\"note\">A digest of the papers trending across every "
                            "topic, daily or weekly.</p>\n");
    else if (rc == 0 && topic != NULL)
        rc = wrap(b, "<p class=\"note\">A digest of the papers trending in ",
                  topic_title(site, topic), ", daily or weekly.</p>\n");
    rc = rc ? rc : wrap(b, "<form method=\"post\" action=\"", root, "subscribe\">\n");
    rc =
        rc ? rc
           : tb_buf_adds(b, "<label class=\"field\" for=\"mail-email\">Your email address</label>\n"
                            "<input id=\"mail-email\" name=\"email\" type=\"email\" required "
                            "autocomplete=\"email\" maxlength=\"254\" "
                            "placeholder=\"you@example.org\">\n");
    if (rc == 0 && topic != NULL)
        rc = wrap(b, "<input type=\"hidden\" name=\"topic\" value=\"", topic, "\">\n");
    if (rc == 0 && topic == NULL) {
        rc = tb_buf_adds(b, "<fieldset>\n<legend>Topics</legend>\n<div class=\"choices\">\n");
        rc = rc ? rc : mail_choice("trending", "Trending across everything", 1, b);
        for (i = 0; rc == 0 && i < site->ntopics; i++)
            rc = mail_choice(site->topics[i].name, site->topics[i].title, 0, b);
        rc = rc ? rc : tb_buf_adds(b, "</div>\n</fieldset>\n");
    }
    rc = rc ? rc
            : tb_buf_adds(b, "<fieldset>\n<legend>How often</legend>\n<div class=\"choices\">\n"
                             "<label><input type=\"radio\" name=\"frequency\" value=\"daily\" "
                             "checked> Daily</label>\n"
                             "<label><input type=\"radio\" name=\"frequency\" value=\"weekly\"> "
                             "Weekly</label>\n</div>\n</fieldset>\n"
                             "<p><button type=\"submit\">Subscribe</button></p>\n"
                             "<p class=\"note\">You will get a mail with a link to confirm first. "
                             "Every digest has a link to leave in one click.</p>\n</form>\n"
                             "</section>\n");
    return rc;
}

static int foot(const char *root, struct tb_buf *b)
{
    return tb_buf_addf(b,
                       "</main>\n<footer>\n<p><a href=\"%ssources.opml\">Sources (OPML)</a> · "
                       "<a href=\"%stopics.opml\" type=\"text/x-opml\">Topics (OPML)</a> · "
                       "made by tributary, a feed aggregator</p>\n</footer>\n</body>\n</html>\n",
                       root, root);
}

int tb_page_index(const struct tb_page_site *site, const struct tb_page_paper *papers, size_t n,
                  const struct tb_page_paper *newest, size_t nnewest, const char *why,
                  struct tb_buf *b)
{
    static const struct feed own = {"trending", "Trending papers"};
    int rc = head(site, "", site->title, &own, b);

    rc = rc ? rc : banner(site, "", CUR_HOME, b);
    rc = rc ? rc : wrap(b, "<h1>", site->title, "</h1>\n");
    if (rc == 0 && site->description != NULL)
        rc = wrap(b, "<p class=\"lede\">", site->description, "</p>\n");
    rc = rc ? rc
            : tb_buf_adds(b, "<section aria-labelledby=\"trending\">\n"
                             "<h2 id=\"trending\">Trending papers</h2>\n"
                             "<p class=\"note\">Ranked by how many independent sources carried or "
                             "mentioned each paper lately.</p>\n");
    if (rc == 0 && n == 0)
        rc = wrap(b, "<p class=\"empty\">", why, "</p>\n");
    if (rc == 0 && n > 0)
        rc = list(site, papers, n, 1, 3, "", b);
    rc = rc ? rc
            : tb_buf_adds(b, "<p class=\"more\"><a href=\"trending.html\">All trending papers"
                             "</a></p>\n</section>\n");
    if (rc == 0 && n == 0 && nnewest > 0) {
        rc = tb_buf_adds(b, "<section aria-labelledby=\"newest\">\n"
                            "<h2 id=\"newest\">Newest entries</h2>\n");
        rc = rc ? rc : list(site, newest, nnewest, 0, 3, "", b);
        rc = rc ? rc : tb_buf_adds(b, "</section>\n");
    }
    if (rc == 0 && site->archive > 0)
        rc = tb_buf_addf(b,
                         "<p class=\"more\"><a href=\"archive/%lld.html\">Older entries</a></p>\n",
                         site->archive);
    rc = rc ? rc : mail_form(site, NULL, "", b);
    rc = rc ? rc : subscribe(site, NULL, &own, "", b);
    return rc ? rc : foot("", b);
}

int tb_page_topic(const struct tb_page_site *site, size_t topic,
                  const struct tb_page_paper *trending, size_t ntrending,
                  const struct tb_page_paper *newest, size_t nnewest, const char *why,
                  struct tb_buf *b)
{
    const struct tb_page_topic *t;
    char title[1024], path[600], ftitle[600];
    struct feed own = {path, ftitle};
    int rc;

    if (topic >= site->ntopics)
        return -EINVAL;
    t = &site->topics[topic];
    snprintf(title, sizeof(title), "%s · %s", t->title, site->title);
    snprintf(path, sizeof(path), "trending/%s", t->name);
    snprintf(ftitle, sizeof(ftitle), "%s: trending", t->title);
    rc = head(site, "../", title, &own, b);
    rc = rc ? rc : banner(site, "../", topic, b);
    rc = rc ? rc : wrap(b, "<h1>", t->title, "</h1>\n");
    if (rc == 0 && ntrending > 0) {
        rc = tb_buf_adds(b, "<section aria-labelledby=\"trending\">\n"
                            "<h2 id=\"trending\">Trending in this topic</h2>\n");
        rc = rc ? rc : list(site, trending, ntrending, 1, 3, "../", b);
        rc = rc ? rc : tb_buf_adds(b, "</section>\n");
    }
    rc = rc ? rc : wrap(b, "<p class=\"more\"><a href=\"../trending/", t->name, ".html\">");
    rc = rc ? rc : wrap(b, "All trending in ", t->title, "</a></p>\n");
    rc = rc ? rc
            : tb_buf_adds(b, "<section aria-labelledby=\"newest\">\n"
                             "<h2 id=\"newest\">Newest entries</h2>\n");
    if (rc == 0 && nnewest == 0)
        rc = wrap(b, "<p class=\"empty\">", why, "</p>\n");
    if (rc == 0 && nnewest > 0)
        rc = list(site, newest, nnewest, 0, 3, "../", b);
    if (rc == 0 && t->archive > 0) {
        rc = wrap(b, "<p class=\"more\"><a href=\"", t->name, "/archive/");
        rc = rc ? rc : tb_buf_addf(b, "%lld.html\">Older entries</a></p>\n", t->archive);
    }
    rc = rc ? rc : tb_buf_adds(b, "</section>\n");
    rc = rc ? rc : mail_form(site, t->name, "../", b);
    rc = rc ? rc : subscribe(site, t, &own, "../", b);
    return rc ? rc : foot("../", b);
}

/* An archive page's way on: older (page - 1, none on page 1), newer (page
 * + 1, which the server redirects to the feed's page until it exists) and
 * the feed's page. */
static int pager(long long page, const char *current, struct tb_buf *b)
{
    int rc = tb_buf_adds(b, "<nav class=\"more\" aria-label=\"Archive pages\">\n<ul>\n");

    if (rc == 0 && page > 1)
        rc = tb_buf_addf(b, "<li><a href=\"%lld.html\" rel=\"prev\">Older entries</a></li>\n",
                         page - 1);
    rc = rc ? rc
            : tb_buf_addf(b, "<li><a href=\"%lld.html\" rel=\"next\">Newer entries</a></li>\n",
                          page + 1);
    rc =
        rc ? rc : wrap(b, "<li><a href=\"", current, "\">Newest entries</a></li>\n</ul>\n</nav>\n");
    return rc;
}

int tb_page_archive(const struct tb_page_site *site, size_t topic, long long page,
                    const struct tb_page_paper *papers, size_t n, struct tb_buf *b)
{
    static const struct feed all = {"all", "All entries"};
    const struct tb_page_topic *t = topic < site->ntopics ? &site->topics[topic] : NULL;
    const char *root = t != NULL ? "../../../" : "../";
    char title[1024], path[600], current[600];
    struct feed own = {path, t != NULL ? t->title : all.title};
    int rc;

    if ((topic != (size_t)-1 && t == NULL) || page < 1)
        return -EINVAL;
    snprintf(path, sizeof(path), t != NULL ? "topics/%s" : "all", t != NULL ? t->name : "");
    snprintf(current, sizeof(current), t != NULL ? "../../../topics/%s.html" : "../",
             t != NULL ? t->name : "");
    snprintf(title, sizeof(title), "%s: older entries, page %lld · %s", own.title, page,
             site->title);
    rc = head(site, root, title, &own, b);
    rc = rc ? rc : banner(site, root, t != NULL ? topic : CUR_NONE, b);
    rc = rc ? rc : wrap(b, "<h1>", own.title, "");
    rc = rc ? rc : tb_buf_addf(b, ": older entries, page %lld</h1>\n", page);
    rc = rc ? rc : pager(page, current, b);
    if (rc == 0 && n > 0)
        rc = list(site, papers, n, 0, 2, root, b);
    rc = rc ? rc : pager(page, current, b);
    return rc ? rc : foot(root, b);
}

int tb_page_trending(const struct tb_page_site *site, size_t topic,
                     const struct tb_page_paper *papers, size_t n, const char *why,
                     struct tb_buf *b)
{
    const struct tb_page_topic *t = topic < site->ntopics ? &site->topics[topic] : NULL;
    const char *root = t != NULL ? "../" : "";
    char title[1024], path[600], ftitle[600];
    struct feed own = {path, ftitle};
    int rc;

    if (topic != (size_t)-1 && t == NULL)
        return -EINVAL;
    if (t != NULL) {
        snprintf(path, sizeof(path), "trending/%s", t->name);
        snprintf(ftitle, sizeof(ftitle), "%s: trending", t->title);
        snprintf(title, sizeof(title), "Trending in %s · %s", t->title, site->title);
    } else {
        snprintf(path, sizeof(path), "trending");
        snprintf(ftitle, sizeof(ftitle), "Trending papers");
        snprintf(title, sizeof(title), "Trending papers · %s", site->title);
    }
    rc = head(site, root, title, &own, b);
    rc = rc ? rc : banner(site, root, t != NULL ? CUR_NONE : CUR_TRENDING, b);
    rc = rc ? rc : wrap(b, "<h1>", t != NULL ? "Trending in " : "Trending papers", "");
    rc = rc ? rc : wrap(b, "", t != NULL ? t->title : "", "</h1>\n");
    rc = rc ? rc
            : tb_buf_adds(b, "<p class=\"note\">Ranked by how many independent sources carried "
                             "or mentioned each paper lately.</p>\n");
    if (rc == 0 && t != NULL)
        rc = wrap(b, "<p class=\"more\"><a href=\"../topics/", t->name, ".html\">");
    if (rc == 0 && t != NULL)
        rc = wrap(b, "Newest in ", t->title, "</a></p>\n");
    if (rc == 0 && n == 0)
        rc = wrap(b, "<p class=\"empty\">", why, "</p>\n");
    if (rc == 0 && n > 0)
        rc = list(site, papers, n, 1, 2, root, b);
    rc = rc ? rc : mail_form(site, t != NULL ? t->name : "trending", root, b);
    rc = rc ? rc : subscribe(site, t, &own, root, b);
    return rc ? rc : foot(root, b);
}

/* Opens or closes the fieldset of a notice form's group as `f` needs. */
static int fieldset(const struct tb_page_field *prev, const struct tb_page_field *f,
                    struct tb_buf *b)
{
    const char *was = prev != NULL ? prev->group : NULL;
    const char *now = f != NULL ? f->group : NULL;
    int rc = 0;

    if (was != NULL && (now == NULL || strcmp(was, now) != 0))
        rc = tb_buf_adds(b, "</div>\n</fieldset>\n");
    if (rc == 0 && now != NULL && (was == NULL || strcmp(was, now) != 0))
        rc = wrap(b, "<fieldset>\n<legend>", now, "</legend>\n<div class=\"choices\">\n");
    return rc;
}

static int field(const struct tb_page_field *f, struct tb_buf *b)
{
    int rc;

    if (f->kind == TB_PAGE_BUTTON) {
        rc = tb_buf_adds(b, f->checked ? "<button type=\"submit\" class=\"secondary\""
                                       : "<button type=\"submit\"");
        if (rc == 0 && f->name != NULL) {
            rc = wrap(b, " name=\"", f->name, "\"");
            rc = rc ? rc : wrap(b, " value=\"", f->value, "\"");
        }
        return rc ? rc : wrap(b, ">", f->label, "</button>\n");
    }
    if (f->kind == TB_PAGE_HIDDEN) {
        rc = wrap(b, "<input type=\"hidden\" name=\"", f->name, "\"");
        return rc ? rc : wrap(b, " value=\"", f->value, "\">\n");
    }
    rc = tb_buf_adds(b, f->kind == TB_PAGE_RADIO ? "<label><input type=\"radio\""
                                                 : "<label><input type=\"checkbox\"");
    rc = rc ? rc : wrap(b, " name=\"", f->name, "\"");
    rc = rc ? rc : wrap(b, " value=\"", f->value, "\"");
    rc = rc ? rc : tb_buf_adds(b, f->checked ? " checked> " : "> ");
    return rc ? rc : wrap(b, "", f->label, "</label>\n");
}

/* A notice's form: grouped controls, then the buttons in one row. */
static int notice_form(const struct tb_page_notice *n, struct tb_buf *b)
{
    const struct tb_page_field *prev = NULL;
    size_t i;
    int buttons = 0;
    int rc = wrap(b, "<form class=\"notice\" method=\"post\" action=\"", n->action, "\">\n");

    for (i = 0; rc == 0 && i < n->nfields; i++) {
        const struct tb_page_field *f = &n->fields[i];
        int grouped = f->kind == TB_PAGE_CHECKBOX || f->kind == TB_PAGE_RADIO;

        rc = fieldset(prev, grouped ? f : NULL, b);
        prev = grouped ? f : NULL;
        if (rc == 0 && f->kind == TB_PAGE_BUTTON && !buttons++)
            rc = tb_buf_adds(b, "<p class=\"buttons\">\n");
        if (rc == 0 && f->kind != TB_PAGE_BUTTON && buttons > 0) {
            rc = tb_buf_adds(b, "</p>\n");
            buttons = 0;
        }
        rc = rc ? rc : field(f, b);
    }
    rc = rc ? rc : fieldset(prev, NULL, b);
    if (rc == 0 && buttons > 0)
        rc = tb_buf_adds(b, "</p>\n");
    return rc ? rc : tb_buf_adds(b, "</form>\n");
}

int tb_page_notice(const struct tb_page_site *site, const struct tb_page_notice *n,
                   struct tb_buf *b)
{
    char title[1024];
    size_t i;
    int rc;

    snprintf(title, sizeof(title), "%s · %s", n->title, site->title);
    rc = head(site, "", title, NULL, b);
    rc = rc ? rc : banner(site, "", CUR_NONE, b);
    rc = rc ? rc : wrap(b, "<h1>", n->title, "</h1>\n");
    for (i = 0; rc == 0 && i < n->ntext; i++)
        rc = wrap(b, "<p>", n->text[i], "</p>\n");
    if (rc == 0 && n->action != NULL)
        rc = notice_form(n, b);
    if (rc == 0 && n->link != NULL) {
        rc = wrap(b, "<p><a href=\"", n->link, "\">");
        rc = rc ? rc : wrap(b, "", n->link_text, "</a></p>\n");
    }
    if (rc == 0 && n->subscribe)
        rc = mail_form(site, NULL, "", b);
    return rc ? rc : foot("", b);
}

/* Light by default, dark under prefers-color-scheme; every text colour
 * (fg, muted, link) has a contrast of at least 4.5:1 on every background
 * (bg, card, tag), and the input's border (field) 3:1 on bg and card
 * (WCAG AA; test_page checks both schemes). `line` only separates. */
static const char style[] =
    ":root{--bg:#fbfbf9;--fg:#1c1c1c;--muted:#4f5359;--link:#0b57d0;--line:#d9dadc;"
    "--field:#767b82;--card:#fff;--tag:#eef1f6;--on-link:#fff}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#14161a;--fg:#e7e7e4;--muted:#aeb3ba;"
    "--link:#8ab4f8;--line:#33373d;--field:#7d838c;--card:#1c1f24;--tag:#2a2f37;"
    "--on-link:#14161a}}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--fg);font:17px/1.55 system-ui,-apple-system,"
    "\"Segoe UI\",sans-serif}\n"
    "a{color:var(--link)}\n"
    ".banner,main,footer{max-width:50rem;margin:0 auto;padding:0 1rem}\n"
    ".banner{display:flex;flex-wrap:wrap;align-items:baseline;gap:.5rem 1.5rem;"
    "padding-top:1rem;padding-bottom:.5rem;border-bottom:1px solid var(--line)}\n"
    ".home{font-weight:700;font-size:1.15rem;text-decoration:none;color:var(--fg)}\n"
    "nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem 1rem}\n"
    "nav a[aria-current]{font-weight:700;color:var(--fg)}\n"
    "h1{font-size:1.9rem;line-height:1.2;margin:1.5rem 0 .25rem}\n"
    "h2{font-size:1.3rem;margin:2rem 0 .5rem}\n"
    ".lede,.note,.byline,.sources,footer{color:var(--muted)}\n"
    ".note{font-size:.9rem;margin-top:0}\n"
    ".papers{list-style:none;margin:0;padding:0}\n"
    "article{position:relative;background:var(--card);border:1px solid var(--line);"
    "border-radius:8px;padding:.9rem 1rem;margin:0 0 1rem}\n"
    "ol.papers article{padding-left:3.4rem}\n"
    ".rank{position:absolute;left:1rem;top:.8rem;margin:0;font-size:1.5rem;font-weight:700;"
    "line-height:1.2;color:var(--muted)}\n"
    "article h2,article h3{font-size:1.15rem;line-height:1.3;margin:0 0 .25rem}\n"
    "article h2 a,article h3 a{text-decoration:none}\n"
    "article h2 a:hover,article h3 a:hover{text-decoration:underline}\n"
    ".byline{font-size:.92rem;margin:0 0 .5rem}\ntime{white-space:nowrap}\n"
    ".abstract{margin:.25rem 0}\n"
    "details{margin:.25rem 0}\nsummary{cursor:pointer;color:var(--link)}\n"
    ".tags{list-style:none;margin:.5rem 0;padding:0;display:flex;flex-wrap:wrap;gap:.35rem}\n"
    ".tags li{background:var(--tag);border-radius:4px;padding:0 .45rem;font-size:.85rem}\n"
    ".sources{font-size:.9rem;margin:.25rem 0 0}\n"

    ".empty{padding:1rem;border:1px dashed var(--line);border-radius:8px}\n"
    ".feed{margin:0 0 1rem}\n.feed label{display:block;font-weight:600}\n"
    ".feed input{width:100%;font:inherit;font-size:.9rem;padding:.35rem .5rem;color:var(--fg);"
    "background:var(--card);border:1px solid var(--field);border-radius:4px}\n"
    ".feed p{margin:.25rem 0;font-size:.9rem}\n"
    ".mail{background:var(--card);border:1px solid var(--line);border-radius:8px;"
    "padding:.9rem 1rem;margin:2rem 0 1rem}\n.mail h2{margin-top:0}\n"
    ".field{display:block;font-weight:600;margin:.5rem 0 .2rem}\n"
    "input[type=email]{width:100%;max-width:26rem;font:inherit;padding:.45rem .6rem;"
    "color:var(--fg);background:var(--bg);border:1px solid var(--muted);border-radius:4px}\n"
    "fieldset{border:0;margin:.75rem 0;padding:0;min-width:0}\n"
    "legend{font-weight:600;padding:0;margin-bottom:.2rem}\n"
    ".choices{display:flex;flex-wrap:wrap;gap:.1rem 1.25rem}\n"
    ".choices label{display:inline-flex;align-items:center;gap:.4rem;padding:.2rem 0;"
    "cursor:pointer}\n"
    "input[type=checkbox],input[type=radio]{width:1.1rem;height:1.1rem;margin:0;"
    "accent-color:var(--link)}\n"
    "button{font:inherit;font-weight:600;padding:.5rem 1.2rem;border-radius:6px;"
    "border:2px solid var(--link);background:var(--link);color:var(--on-link);cursor:pointer}\n"
    "button.secondary{background:transparent;color:var(--link)}\n"
    ".buttons{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}\n"
    "a:focus-visible,input:focus-visible,button:focus-visible,summary:focus-visible{"
    "outline:3px solid var(--link);outline-offset:2px}\n"
    "footer{margin-top:2rem;padding-top:1rem;padding-bottom:2rem;border-top:1px solid "
    "var(--line);font-size:.9rem}\n";

int tb_page_style(struct tb_buf *b)
{
    return tb_buf_add(b, style, sizeof(style) - 1);
}

int tb_page_icon(struct tb_buf *b)
{
    return tb_buf_add(b, favicon, sizeof(favicon) - 1);
}

void tb_page_why_empty(const struct tb_page_polls *p, char *buf, size_t len)
{
    if (p->sources == 0)
        snprintf(buf, len, "No papers yet: no sources are configured.");
    else if (p->failed > 0 && p->failed + p->never >= p->sources)
        snprintf(buf, len,
                 "No papers yet: %zu of %zu sources failed at their last poll (offline?).",
                 p->failed, p->sources);
    else if (p->never >= p->sources)
        snprintf(buf, len, "No papers yet: the %zu sources have not been polled yet.", p->sources);
    else if (p->failed > 0)
        snprintf(buf, len,
                 "No papers yet: no source carried or mentioned a paper in the trending window "
                 "(%zu of %zu sources failed at their last poll).",
                 p->failed, p->sources);
    else
        snprintf(buf, len,
                 "No papers yet: no source carried or mentioned a paper in the trending window.");
}
