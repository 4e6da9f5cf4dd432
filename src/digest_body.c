/*
 * What a digest and a confirmation request say, as plain text and as HTML.
 *
 * The text part is wrapped at 72 columns. The HTML part is one small
 * document made for mail clients: inline styles only (clients drop <style>
 * and linked sheets), explicit light colors that dark clients invert
 * legibly, a single narrow column, no images, no scripts, nothing remote.
 * Every text from a feed or the config goes through tb_sanitize_escape(),
 * and only http(s) links from upstreams are written, as on the site.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tb_date.h"
#include "tb_normalize.h"
#include "tb_sanitize.h"
#include "tb_url.h"
#include "tb_utf8.h"

#include "digest_int.h"

#define WIDTH 72          /* columns of the text part */
#define ABSTRACT_LEAD 240 /* bytes of an abstract shown, as on the site */
#define MAX_AUTHORS 8     /* authors named before "et al." */

/* Colors that read well as they are and when a dark client inverts them. */
#define C_TEXT "#1f2328"
#define C_MUTED "#57606a"
#define C_LINK "#0b57d0"
#define C_RULE "#d0d7de"
#define C_BG "#ffffff"
#define S_MUTED "color:" C_MUTED ";font-size:14px"

/* --------------------------------------------------------------- text */

/* Appends s[0..n) with runs of white space and control characters as one
 * space (so upstream text cannot draw lines of its own), wrapped at WIDTH
 * with `indent` spaces opening each line; *col is the current column. */
static int add_wrapped(struct tb_buf *b, const char *s, size_t n, size_t indent, size_t *col)
{
    size_t i = 0, w, j, chars;
    int rc = 0;

    while (rc == 0 && i < n) {
        while (i < n && (unsigned char)s[i] <= 0x20)
            i++;
        for (w = i, chars = 0; w < n && (unsigned char)s[w] > 0x20; w++)
            chars += !tb_utf8_is_cont((unsigned char)s[w]);
        if (w == i)
            break;
        if (*col > indent && *col + 1 + chars > WIDTH) {
            rc = tb_buf_adds(b, "\n");
            *col = 0;
        }
        for (j = *col; rc == 0 && j < indent; j++)
            rc = tb_buf_adds(b, " ");
        *col = *col < indent ? indent : *col;
        if (rc == 0 && *col > indent) {
            rc = tb_buf_adds(b, " ");
            (*col)++;
        }
        for (j = i; rc == 0 && j < w; j++)
            rc = tb_buf_add(b, s[j] == 0x7f ? " " : s + j, 1);
        *col += chars;
        i = w;
    }
    return rc;
}

/* Appends NUL-terminated s as add_wrapped(), then a line end. */
static int text_line(struct tb_buf *b, const char *s, size_t indent)
{
    size_t col = 0;
    int rc = add_wrapped(b, s, strlen(s), indent, &col);

    return rc ? rc : tb_buf_adds(b, "\n");
}

/* ------------------------------------------------------ shared facts */

/* The plain-text abstract without arXiv's announcement preamble; *cut is
 * how much of it the digest shows (all of it, or a lead ending at a word). */
static const char *abstract_of(const struct tb_entry *e, size_t *n, size_t *cut)
{
    const char *t = e->text != NULL ? e->text : "";

    t += tb_norm_announcement_len(t);
    while (*t == ' ' || *t == '\n' || *t == '\t')
        t++;
    *n = strlen(t);
    *cut = *n;
    if (*n > ABSTRACT_LEAD + 80) {
        *cut = tb_utf8_cut(t, *n, ABSTRACT_LEAD);
        while (*cut > ABSTRACT_LEAD / 2 && t[*cut - 1] != ' ')
            (*cut)--;
    }
    return t;
}

/* Authors (at most MAX_AUTHORS, then "et al.") and the date, as text. */
static int byline(const struct tb_entry *e, struct tb_buf *b)
{
    int64_t t = e->published != TB_TIME_NONE ? e->published : e->updated;
    const struct tb_person *p;
    char when[40];
    size_t i = 0;
    int rc = 0;

    for (p = e->authors; rc == 0 && p != NULL && i < MAX_AUTHORS; p = p->next, i++)
        rc = tb_buf_addf(b, "%s%s", i ? ", " : "", p->name);
    if (rc == 0 && p != NULL)
        rc = tb_buf_adds(b, " et al.");
    if (rc == 0 && t != TB_TIME_NONE && tb_date_format_rfc3339(t, when, sizeof(when)) == 0)
        rc = tb_buf_addf(b, "%s%.10s", b->len ? " · " : "", when);
    return rc;
}

/* The page and the feed of a section's topic. */
static void topic_urls(const struct tb_config *cfg, const char *name, char *page, char *feed,
                       size_t len)
{
    if (strcmp(name, TB_SUBS_TRENDING) == 0) {
        snprintf(page, len, "%strending.html", cfg->base_url);
        snprintf(feed, len, "%strending.atom", cfg->base_url);
    } else {
        snprintf(page, len, "%stopics/%s.html", cfg->base_url, name);
        snprintf(feed, len, "%stopics/%s.atom", cfg->base_url, name);
    }
}

static const char *site_title(const struct tb_config *cfg)
{
    return cfg->title != NULL ? cfg->title : "tributary";
}

static const char *freq_name(enum tb_subs_freq f)
{
    return f == TB_SUBS_WEEKLY ? "weekly" : "daily";
}

/* The titles of topics t[0..n), comma-separated ("all topics" for trending). */
static int topic_titles(const struct tb_config *cfg, char *const *t, size_t n, struct tb_buf *b)
{
    const char *title;
    size_t i, j;
    int rc = 0;

    for (i = 0; rc == 0 && i < n; i++) {
        title = strcmp(t[i], TB_SUBS_TRENDING) == 0 ? "Trending in all topics" : t[i];
        for (j = 0; j < cfg->ntopics; j++)
            if (strcmp(cfg->topics[j].name, t[i]) == 0 && cfg->topics[j].title != NULL)
                title = cfg->topics[j].title;
        rc = tb_buf_addf(b, "%s%s", i ? ", " : "", title);
    }
    return rc;
}

int tb__digest_subject(const struct tb__digest *d, struct tb_buf *b)
{
    char when[40];
    size_t i;
    int rc = tb_buf_adds(b, "Trending papers: ");

    for (i = 0; rc == 0 && i < d->nsections; i++)
        rc = tb_buf_addf(b, "%s%s", i ? ", " : "", d->sections[i].title);
    if (rc == 0 && tb_date_format_rfc3339(d->at, when, sizeof(when)) == 0)
        rc = tb_buf_addf(b, " (%.10s)", when);
    return rc;
}

/* One paper in the text part. */
static int text_paper(const struct tb__digest_paper *p, size_t rank, struct tb_buf *b)
{
    const struct tb_entry *e = p->e;
    struct tb_buf line;
    size_t i, n, cut, col;
    const char *abs = abstract_of(e, &n, &cut);
    const char *title = e->title != NULL && *e->title ? e->title : "(untitled)";
    int rc = tb_buf_addf(b, "%zu. ", rank);

    tb_buf_init(&line, 64 * 1024);
    col = 3 + (rank >= 10) + (rank >= 100);
    rc = rc ? rc : add_wrapped(b, title, strlen(title), 4, &col);
    rc = rc ? rc : tb_buf_adds(b, "\n");
    if (rc == 0 && tb_url_allowed(e->link, 0))
        rc = tb_buf_addf(b, "    %s\n", e->link);
    rc = rc ? rc : byline(e, &line);
    if (rc == 0 && line.len > 0)
        rc = text_line(b, line.data, 4);
    if (rc == 0 && n > 0) {
        col = 0;
        rc = add_wrapped(b, abs, cut, 4, &col);
        rc = rc ? rc : tb_buf_adds(b, cut < n ? " …\n" : "\n");
    }
    if (rc == 0 && p->nvoices > 0)
        rc = tb_buf_addf(b, "    Mentioned by %zu source%s:\n", p->nvoices,
                         p->nvoices == 1 ? "" : "s");
    for (i = 0; rc == 0 && i < p->nvoices; i++) {
        tb_buf_reset(&line);
        rc = tb_buf_addf(&line, "- %s", p->voices[i].name);
        rc = rc ? rc : (p->voices[i].href ? tb_buf_addf(&line, " <%s>", p->voices[i].href) : 0);
        rc = rc ? rc : text_line(b, line.data, 6);
    }
    tb_buf_free(&line);
    return rc ? rc : tb_buf_adds(b, "\n");
}

static int text_part(const struct tb__digest *d, struct tb_buf *b)
{
    const struct tb__digest_section *s;
    char page[2048], feed[2048], when[40];
    size_t i, j;
    int rc = tb_buf_addf(b, "%s: trending papers\n", site_title(d->cfg));

    if (rc == 0 && tb_date_format_rfc3339(d->at, when, sizeof(when)) == 0)
        rc = tb_buf_addf(b, "%.10s\n", when);
    for (i = 0; rc == 0 && i < d->nsections; i++) {
        s = &d->sections[i];
        topic_urls(d->cfg, s->name, page, feed, sizeof(page));
        rc = tb_buf_addf(b, "\n== %s ==\n\n", s->title);
        for (j = 0; rc == 0 && j < s->n; j++)
            rc = text_paper(&d->papers[s->first + j], j + 1, b);
        rc = rc ? rc : tb_buf_addf(b, "More: %s\nFeed: %s\n", page, feed);
    }
    rc = rc ? rc
            : tb_buf_addf(b, "\n-- \nYou receive the %s digest of %s at %s.\n",
                          freq_name(d->sub->freq), site_title(d->cfg), d->sub->addr);
    rc = rc ? rc : tb_buf_addf(b, "Change topics or frequency: %s\n", d->manage);
    return rc ? rc : tb_buf_addf(b, "Unsubscribe: %s\n", d->unsubscribe);
}

/* --------------------------------------------------------------- HTML */

/* Appends s[0..n) escaped, its control characters as spaces: upstream
 * text is text, on one line. */
static int escn(struct tb_buf *b, const char *s, size_t n)
{
    size_t i = b->len;
    int rc = tb_sanitize_escape(b, s, n);

    for (; rc == 0 && i < b->len; i++) {
        if ((unsigned char)b->data[i] < 0x20 || b->data[i] == 0x7f)
            b->data[i] = ' ';
    }
    return rc;
}

static int esc(struct tb_buf *b, const char *s)
{
    return escn(b, s, s != NULL ? strlen(s) : 0);
}

/* pre, s escaped, post. */
static int wrap(struct tb_buf *b, const char *pre, const char *s, const char *post)
{
    int rc = tb_buf_adds(b, pre);

    rc = rc ? rc : esc(b, s);
    return rc ? rc : tb_buf_adds(b, post);
}

/* A link to href (escaped) with text, in the link color. */
static int link(struct tb_buf *b, const char *href, const char *text)
{
    int rc = wrap(b, "<a href=\"", href, "\" style=\"color:" C_LINK "\">");

    return rc ? rc : wrap(b, "", text, "</a>");
}

/* The document's head and the opening of its one column. */
static int html_open(struct tb_buf *b, const char *title)
{
    int rc =
        tb_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                       "<meta name=\"viewport\" content=\"width=device-width, "
                       "initial-scale=1\">\n<meta name=\"color-scheme\" content=\"light\">\n");

    rc = rc ? rc : wrap(b, "<title>", title, "</title>\n</head>\n");
    rc = rc ? rc
            : tb_buf_adds(b, "<body style=\"margin:0;padding:0;background-color:" C_BG
                             ";color:" C_TEXT "\">\n");
    return rc ? rc
              : tb_buf_adds(b, "<div style=\"max-width:640px;margin:0 auto;padding:16px;"
                               "font-family:Helvetica,Arial,sans-serif;font-size:16px;"
                               "line-height:1.5;color:" C_TEXT ";background-color:" C_BG "\">\n");
}

static int html_close(struct tb_buf *b)
{
    return tb_buf_adds(b, "</div>\n</body>\n</html>\n");
}

static int html_paper(const struct tb__digest_paper *p, struct tb_buf *b)
{
    const struct tb_entry *e = p->e;
    const char *title = e->title != NULL && *e->title ? e->title : "(untitled)";
    struct tb_buf line;
    size_t i, n, cut;
    const char *abs = abstract_of(e, &n, &cut);
    int rc =
        tb_buf_adds(b, "<li style=\"margin:0 0 16px\">\n<p style=\"margin:0;font-weight:bold\">");

    if (rc == 0 && tb_url_allowed(e->link, 0))
        rc = link(b, e->link, title);
    else if (rc == 0)
        rc = esc(b, title);
    tb_buf_init(&line, 64 * 1024);
    rc = rc ? rc : byline(e, &line);
    if (rc == 0 && line.len > 0)
        rc = wrap(b, "</p>\n<p style=\"margin:2px 0;" S_MUTED "\">", line.data, "");
    rc = rc ? rc : tb_buf_adds(b, "</p>\n");
    if (rc == 0 && n > 0) {
        rc = tb_buf_adds(b, "<p style=\"margin:4px 0\">");
        rc = rc ? rc : escn(b, abs, cut);
        rc = rc ? rc : tb_buf_adds(b, cut < n ? " …</p>\n" : "</p>\n");
    }
    if (rc == 0 && p->nvoices > 0)
        rc = tb_buf_addf(b, "<p style=\"margin:4px 0;" S_MUTED "\">Mentioned by %zu source%s: ",
                         p->nvoices, p->nvoices == 1 ? "" : "s");
    for (i = 0; rc == 0 && i < p->nvoices; i++) {
        rc = i ? tb_buf_adds(b, ", ") : 0;
        if (rc == 0 && p->voices[i].href != NULL)
            rc = link(b, p->voices[i].href, p->voices[i].name);
        else if (rc == 0)
            rc = esc(b, p->voices[i].name);
    }
    if (rc == 0 && p->nvoices > 0)
        rc = tb_buf_adds(b, "</p>\n");
    tb_buf_free(&line);
    return rc ? rc : tb_buf_adds(b, "</li>\n");
}

static int html_section(const struct tb__digest *d, const struct tb__digest_section *s,
                        struct tb_buf *b)
{
    char page[2048], feed[2048];
    size_t j;
    int rc;

    topic_urls(d->cfg, s->name, page, feed, sizeof(page));
    rc = tb_buf_adds(b, "<h2 style=\"font-size:18px;margin:24px 0 8px;padding-bottom:4px;"
                        "border-bottom:1px solid " C_RULE "\">");
    rc = rc ? rc : wrap(b, "", s->title, "</h2>\n<ol style=\"margin:0;padding-left:24px\">\n");
    for (j = 0; rc == 0 && j < s->n; j++)
        rc = html_paper(&d->papers[s->first + j], b);
    rc = rc ? rc : tb_buf_adds(b, "</ol>\n<p style=\"margin:0 0 8px;font-size:14px\">");
    rc = rc ? rc : link(b, page, "More on the topic page");
    rc = rc ? rc : tb_buf_adds(b, " · ");
    rc = rc ? rc : link(b, feed, "Atom feed");
    return rc ? rc : tb_buf_adds(b, "</p>\n");
}

static int html_part(const struct tb__digest *d, const char *subject, struct tb_buf *b)
{
    char when[40] = "";
    size_t i;
    int rc = html_open(b, subject);

    rc = rc ? rc
            : wrap(b, "<h1 style=\"font-size:22px;margin:0 0 4px\">", site_title(d->cfg),
                   ": trending papers</h1>\n");
    if (rc == 0 && tb_date_format_rfc3339(d->at, when, sizeof(when)) == 0)
        rc = tb_buf_addf(b, "<p style=\"margin:0 0 16px;" S_MUTED "\">%.10s</p>\n", when);
    for (i = 0; rc == 0 && i < d->nsections; i++)
        rc = html_section(d, &d->sections[i], b);
    rc = rc ? rc
            : tb_buf_adds(b, "<hr style=\"border:0;border-top:1px solid " C_RULE
                             ";margin:24px 0 12px\">\n<p style=\"" S_MUTED "\">");
    rc = rc ? rc : tb_buf_addf(b, "You receive the %s digest of ", freq_name(d->sub->freq));
    rc = rc ? rc : wrap(b, "", site_title(d->cfg), " at ");
    rc = rc ? rc : wrap(b, "", d->sub->addr, ".<br>\n");
    rc = rc ? rc : link(b, d->manage, "Change topics or frequency");
    rc = rc ? rc : tb_buf_adds(b, " · ");
    rc = rc ? rc : link(b, d->unsubscribe, "Unsubscribe");
    rc = rc ? rc : tb_buf_adds(b, "</p>\n");
    return rc ? rc : html_close(b);
}

int tb__digest_bodies(const struct tb__digest *d, struct tb_buf *text, struct tb_buf *html)
{
    struct tb_buf subject;
    int rc;

    tb_buf_init(&subject, 64 * 1024);
    rc = tb__digest_subject(d, &subject);
    rc = rc ? rc : text_part(d, text);
    rc = rc ? rc : html_part(d, subject.data, html);
    tb_buf_free(&subject);
    return rc;
}

/* ------------------------------------------------------ confirmation */

int tb__digest_confirm_bodies(const struct tb_config *cfg, const struct tb_subs *sub,
                              const char *url, struct tb_buf *subject, struct tb_buf *text,
                              struct tb_buf *html)
{
    char *const *topics = sub->npending ? sub->pending : sub->topics;
    size_t ntopics = sub->npending ? sub->npending : sub->ntopics;
    enum tb_subs_freq f = sub->npending ? sub->pending_freq : sub->freq;
    struct tb_buf what, line;
    int rc;

    tb_buf_init(&what, 64 * 1024);
    tb_buf_init(&line, 64 * 1024);
    rc = topic_titles(cfg, topics, ntopics, &what);
    rc = rc ? rc : tb_buf_addf(subject, "Confirm your subscription to %s", site_title(cfg));
    rc = rc ? rc
            : tb_buf_addf(&line,
                          "Someone, hopefully you, asked for the %s digest of trending "
                          "papers from %s at %s, on: %s.",
                          freq_name(f), site_title(cfg), sub->addr, what.data ? what.data : "");
    rc = rc ? rc : tb_buf_addf(text, "Please confirm your subscription\n\n");
    rc = rc ? rc : text_line(text, line.data, 0);
    rc = rc ? rc
            : tb_buf_addf(text,
                          "\nTo confirm, open this link within 48 hours and press "
                          "the button there:\n%s\n\n",
                          url);
    rc = rc ? rc
            : text_line(text,
                        "If you did not ask for it, ignore this message: nothing "
                        "more will be sent.",
                        0);
    rc = rc ? rc : html_open(html, subject->data);
    rc = rc ? rc
            : tb_buf_adds(html, "<h1 style=\"font-size:22px;margin:0 0 12px\">Please "
                                "confirm your subscription</h1>\n");
    rc = rc ? rc : wrap(html, "<p>", line.data, "</p>\n<p>");
    rc = rc ? rc : link(html, url, "Confirm my subscription");
    rc = rc ? rc
            : tb_buf_adds(html, " (within 48 hours; the page asks you to press a button)"
                                "</p>\n<p style=\"" S_MUTED "\">If you did not ask for it, "
                                "ignore this message: nothing more will be sent.</p>\n");
    rc = rc ? rc : html_close(html);
    tb_buf_free(&what);
    tb_buf_free(&line);
    return rc;
}
