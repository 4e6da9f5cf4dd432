/*
 * tb_page: the reading site's HTML pages and stylesheet, as pure functions
 * from data the caller gathered (tb_site.h) to bytes. Every text that came
 * from a config or an upstream goes through one escape function, and a
 * link from an upstream is written only when it is an http(s) URL, so no
 * user-supplied text reaches a page as markup. The pages are HTML5 with no
 * JavaScript and link one stylesheet, /style.css (tb_page_style()), and
 * one icon, /favicon.svg (tb_page_icon()). When the site mails digests
 * (tb_page_site.mail), every page carries a form that subscribes by email
 * (POST subscribe: email, topic, frequency), and tb_page_notice() writes
 * the pages that answer those forms.
 */
#ifndef TB_PAGE_H
#define TB_PAGE_H

#include <stddef.h>

#include "tb_buf.h"
#include "tb_entry.h"

/** A topic as the navigation names it. */
struct tb_page_topic {
    const char *name;  /* file name: topics/NAME.html and its feeds */
    const char *title; /* shown */
    long long archive; /* its newest complete RFC 5005 archive page (0: none): the
                          topic page links "Older entries" to NAME/archive/N.html */
};

/** What every page of the site shares. */
struct tb_page_site {
    const char *title;                  /* the site's title */
    const char *description;            /* shown under it, or NULL */
    const char *base_url;               /* ends with '/': subscribe URLs */
    const struct tb_page_topic *topics; /* every topic, in config order */
    size_t ntopics;                     /* number of topics */
    int mail;                           /* [mail] is configured: the subscribe-by-email form */
    long long archive;                  /* /all's newest complete archive page (0: none):
                                           the front page links archive/N.html */
};

/** One paper or entry in a list. */
struct tb_page_paper {
    const struct tb_entry *entry;    /* the stored entry (tb_store_load()) */
    const char *const *sources;      /* names of the sources that carried or mentioned it */
    size_t nsources;                 /* number of names */
    const char *const *topics;       /* names of the topics it matches (of site->topics) */
    size_t ntopics;                  /* number of names */
    const char *const *source_links; /* per source name, the link to its entry (or NULL), or NULL */
};

/**
 * Appends the site's front page to b: title, description, a navigation to
 * trending.html and every topic, the trending papers (ranked from 1; when n is 0, `why` in
 * their place, as text, then the `newest` entries if any) and a subscribe
 * box per feed. Errors: -ENOMEM, or -E2BIG past b's cap.
 */
TB_NODISCARD int tb_page_index(const struct tb_page_site *site, const struct tb_page_paper *papers,
                               size_t n, const struct tb_page_paper *newest, size_t nnewest,
                               const char *why, struct tb_buf *b);

/**
 * Appends the page of topic site->topics[topic] (topics/NAME.html) to b:
 * its trending papers (ranked; may be none) and its newest entries
 * (unranked; `why` in their place when there are none), with the topic's
 * subscribe box. Errors as tb_page_index(); -EINVAL for a bad topic.
 */
TB_NODISCARD int tb_page_topic(const struct tb_page_site *site, size_t topic,
                               const struct tb_page_paper *trending, size_t ntrending,
                               const struct tb_page_paper *newest, size_t nnewest, const char *why,
                               struct tb_buf *b);

/**
 * Appends archive page `page` (>= 1) of a feed to b: of topic
 * site->topics[topic] (topics/NAME/archive/N.html), or of /all (topic
 * (size_t)-1, archive/N.html). Its entries as given (newest first,
 * unranked) between two navigations: "Older entries" (page - 1; none on
 * page 1), "Newer entries" (page + 1) and "Newest entries" (the topic's
 * page, or the front page). Nothing on it depends on how many pages there
 * are, so its bytes stay right when newer pages come. Errors as
 * tb_page_index(); -EINVAL for a bad topic or page.
 */
TB_NODISCARD int tb_page_archive(const struct tb_page_site *site, size_t topic, long long page,
                                 const struct tb_page_paper *papers, size_t n, struct tb_buf *b);

/**
 * Appends a trending page to b: over everything (topic (size_t)-1,
 * trending.html) or within topic site->topics[topic] (trending/NAME.html):
 * the ranked papers (`why` in their place when n is 0), with the
 * autodiscovery links and the subscribe box of the matching trending feeds
 * (trending.* or trending/NAME.*). Errors as tb_page_index(); -EINVAL for a
 * bad topic.
 */
TB_NODISCARD int tb_page_trending(const struct tb_page_site *site, size_t topic,
                                  const struct tb_page_paper *papers, size_t n, const char *why,
                                  struct tb_buf *b);

/** Kinds of form controls on a notice page. */
enum tb_page_field_kind {
    TB_PAGE_HIDDEN = 0,   /* a hidden name=value */
    TB_PAGE_CHECKBOX = 1, /* a checkbox with its label */
    TB_PAGE_RADIO = 2,    /* a radio button with its label */
    TB_PAGE_BUTTON = 3,   /* a submit button named name=value, showing label */
};

/** One control of a notice page's form. */
struct tb_page_field {
    enum tb_page_field_kind kind; /* what it is */
    const char *group;            /* checkboxes and radios: the legend of the fieldset that groups
                                     consecutive controls of the same group */
    const char *name;             /* form field name (NULL for a button that sends nothing) */
    const char *value;            /* its value */
    const char *label;            /* shown */
    int checked;                  /* checkbox, radio: checked; button: a secondary (outlined) one */
};

/** What a notice page shows (tb_page_notice()). */
struct tb_page_notice {
    const char *title;                  /* <title> and <h1> */
    const char *const *text;            /* paragraphs, as text */
    size_t ntext;                       /* number of paragraphs */
    const char *action;                 /* the form's action (a relative URL), or NULL: no form */
    const struct tb_page_field *fields; /* the form's controls (POSTed) */
    size_t nfields;                     /* number of controls */
    const char *link;                   /* a relative URL shown after the form, or NULL */
    const char *link_text;              /* its text */
    int subscribe;                      /* 1: the subscribe-by-email form for every topic */
};

/**
 * Appends a page that answers a form (subscribing, confirming, managing,
 * leaving) to b: the site's head, banner and footer around n's heading,
 * text, form and link, every text escaped. The page sits at the site's root
 * (links relative to it). Errors as tb_page_index().
 */
TB_NODISCARD int tb_page_notice(const struct tb_page_site *site, const struct tb_page_notice *n,
                                struct tb_buf *b);

/** Appends the site's stylesheet (style.css, light and dark). Errors as above. */
TB_NODISCARD int tb_page_style(struct tb_buf *b);

/** Appends the site's icon (favicon.svg, an SVG image). Errors as above. */
TB_NODISCARD int tb_page_icon(struct tb_buf *b);

/** Counts of the sources' last polls, for tb_page_why_empty(). */
struct tb_page_polls {
    size_t sources; /* sources in the store */
    size_t never;   /* not polled yet */
    size_t failed;  /* whose last poll failed */
};

/**
 * Writes into buf (NUL-terminated, truncated to len) why a list shows no
 * papers, e.g. "No papers yet: 12 of 14 sources failed at their last poll
 * (offline?)."
 */
void tb_page_why_empty(const struct tb_page_polls *p, char *buf, size_t len);

#endif
