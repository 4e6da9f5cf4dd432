/*
 * tb_entry: the record every stage passes downstream (sfeed's TSV role).
 *
 * parse fills a struct tb_feed and its entries from one document; normalize
 * adds the derived fields (canonical link, identifiers, sanitized HTML, plain
 * text); store persists them; store/topic read them back in the same shape
 * for publish. All strings are UTF-8, NUL-terminated, and owned by the
 * feed's arena: nothing here is freed on its own.
 */
#ifndef TB_ENTRY_H
#define TB_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "tb_arena.h"

/** "No date": an absent or unparseable date is never 0 (1970) or now. */
#define TB_TIME_NONE INT64_MIN

/** Input formats recognised by the parser. */
enum tb_format {
    TB_FORMAT_UNKNOWN,
    TB_FORMAT_RSS090, /* RSS 0.90 (RDF-based Netscape format) */
    TB_FORMAT_RSS091, /* RSS 0.91 / 0.92 / 0.93 / 0.94 */
    TB_FORMAT_RSS20,  /* RSS 2.0 */
    TB_FORMAT_RSS10,  /* RSS 1.0 (RDF) */
    TB_FORMAT_ATOM03, /* Atom 0.3 */
    TB_FORMAT_ATOM10, /* Atom 1.0 */
    TB_FORMAT_JSON10, /* JSON Feed 1.0 */
    TB_FORMAT_JSON11, /* JSON Feed 1.1 */
};

/** A link: Atom link, RSS enclosure, media:content, JSON attachment. */
struct tb_link {
    struct tb_link *next; /* next link, in document order */
    const char *href;     /* absolute URL */
    const char *rel;      /* "alternate", "enclosure", "self", "related", ... */
    const char *type;     /* media type, or NULL */
    const char *title;    /* or NULL */
    int64_t length;       /* bytes, or -1 when unknown */
};

/** A person: author or contributor. */
struct tb_person {
    struct tb_person *next; /* next person, in document order */
    const char *name;       /* never NULL (may be "" only if email/uri set) */
    const char *email;      /* or NULL */
    const char *uri;        /* or NULL */
};

/** A category or tag. */
struct tb_category {
    struct tb_category *next; /* next category, in document order */
    const char *term;         /* the term as given (never NULL) */
    const char *scheme;       /* Atom scheme / RSS domain, or NULL */
    const char *label;        /* Atom label (for display), or NULL */
};

/** A text body: summary or content. */
struct tb_text {
    const char *value; /* NULL when absent */
    int is_html;       /* 1: value is HTML markup; 0: plain text */
    const char *type;  /* content only: media type ("image/png") when value is the
                          base64 of a non-text document (RFC 4287 4.1.3.3), else NULL */
};

/** The feed an entry came from, as atom:source describes it. */
struct tb_origin {
    const char *id;    /* feed id (atom:id, else its URL), or NULL */
    const char *title; /* or NULL */
    const char *link;  /* the feed's alternate (web page) link, or NULL */
    const char *self;  /* the URL the feed was read from, or NULL */
};

/** One entry (item). */
struct tb_entry {
    struct tb_entry *next; /* next entry, in document order */

    /* Filled by parse. */
    const char *id;                 /* guid / atom:id / JSON id as given, or NULL */
    int id_is_permalink;            /* RSS guid isPermaLink (true by default) */
    const char *title;              /* plain text, or NULL */
    const char *link;               /* alternate link (absolute), or NULL */
    struct tb_link *links;          /* all links incl. enclosures and media:* */
    int64_t published;              /* seconds since epoch UTC, or TB_TIME_NONE */
    int64_t updated;                /* seconds since epoch UTC, or TB_TIME_NONE */
    struct tb_person *authors;      /* or NULL */
    struct tb_person *contributors; /* or NULL */
    struct tb_text summary;         /* description / summary / media:description */
    struct tb_text content;         /* content:encoded / atom:content / content_html */
    struct tb_category *categories; /* or NULL */
    const char *rights;             /* plain text, or NULL */
    const char *base;               /* xml:base in effect for the entry, or NULL */

    /* Filled by normalize. */
    const char *canon_link; /* canonical form of `link` for dedupe, or NULL */
    const char *arxiv_id;   /* e.g. "2401.01234" or "hep-th/9901001", no version */
    const char *doi;        /* lower-cased, e.g. "10.1000/xyz", or NULL */
    const char *key;        /* identity within its source (never NULL) */
    const char *text;       /* plain text of summary+content for matching */
    const char **mentions;  /* keys of the papers it links to (see tb_norm_feed()), or NULL */
    size_t nmentions;       /* number of keys in mentions */

    /* Filled by store when entries are read back for publishing. */
    int64_t rowid;           /* store's entry id, or 0 */
    const char *out_id;      /* the atom:id it is published under */
    struct tb_origin origin; /* the feed it came from */

    /* Filled by site for a trending list (tb_trending.h). */
    double trend_score; /* its trending score, when trend_groups > 0 */
    int trend_groups;   /* groups that carried or mentioned it; 0: not in a trending list */
};

/** One parsed document. Owns its arena; free with tb_feed_free(). */
struct tb_feed {
    struct tb_arena arena;     /* owns every string and struct below */
    enum tb_format format;     /* detected input format */
    const char *id;            /* atom:id / JSON feed_url, or NULL */
    const char *title;         /* plain text, or NULL */
    const char *subtitle;      /* plain text, or NULL */
    const char *link;          /* alternate (web page) link, or NULL */
    const char *self;          /* rel=self link, or NULL */
    const char *hub;           /* rel=hub link, or NULL */
    const char *icon;          /* or NULL */
    const char *language;      /* or NULL */
    const char *rights;        /* or NULL */
    const char *generator;     /* or NULL */
    const char *base;          /* xml:base of the document, else its URL */
    int64_t updated;           /* or TB_TIME_NONE */
    int ttl_minutes;           /* RSS <ttl>, or 0 */
    struct tb_person *authors; /* feed-level authors, or NULL */
    struct tb_entry *entries;  /* in document order, or NULL */
    struct tb_entry *last;     /* last entry, for appending */
    size_t nentries;           /* number of entries */
    const char *error;         /* first recovered error, or NULL */
};

/** Allocates an empty feed with its arena, or NULL when out of memory. */
struct tb_feed *tb_feed_new(void);

/** Frees the feed, its arena and everything in it. NULL is a no-op. */
void tb_feed_free(struct tb_feed *f);

/** Allocates a zeroed entry in the feed's arena with dates TB_TIME_NONE. */
struct tb_entry *tb_entry_new(struct tb_feed *f);

/** Appends an entry made by tb_entry_new() to the feed's list. */
void tb_feed_append(struct tb_feed *f, struct tb_entry *e);

/** Short name of a format ("rss2.0", "atom1.0", "json1.1", ...). */
const char *tb_format_name(enum tb_format fmt);

#endif
