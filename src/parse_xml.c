/*
 * RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 with libxml2's SAX2 interface.
 *
 * Like sfeed, elements map to a small set of fields through a sorted table
 * (namespace class + local name, bsearch), so RSS, RDF and Atom fold into
 * one field set and no tree is built. Text of the element being read is
 * gathered in one tb_buf and stored in the feed's arena when it closes.
 *
 * Entities: the SAX handler has no entityDecl or reference callbacks and no
 * DTD is loaded, so declared entities are never looked at; external and
 * internal general entities (XXE, billion laughs, quadratic blowup) are
 * dropped unread. Besides the five predefined entities and character
 * references, getEntity knows only HTML 4's named characters (&nbsp;,
 * &eacute;, ...), which RSS feeds use without declaring them; they expand
 * to one character each, whatever the document declares under that name.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <libxml/HTMLparser.h>
#include <libxml/entities.h>
#include <libxml/parser.h>
#include <pthread.h>
#include <libxml/parserInternals.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse_int.h"
#include "tb_log.h"
#include "tb_buf.h"
#include "tb_date.h"
#include "tb_url.h"

#define MAX_DEPTH 300 /* libxml2 stops at 256 without XML_PARSE_HUGE */

/* Namespace classes: RSS 0.9x/1.0/2.0 fold into one, Atom 0.3/1.0 into another. */
enum ns { NS_OTHER, NS_RSS, NS_ATOM, NS_RDF, NS_CONTENT, NS_DC, NS_DCTERMS, NS_MEDIA, NS_XML };

/* What an element means, whatever format it came from. */
enum tag {
    T_NONE,
    T_RSS,
    T_RDF,
    T_CHANNEL,
    T_FEED,
    T_ITEM,
    T_ENTRY,
    T_IMAGE,
    T_SKIP,
    T_GROUP,
    T_AUTHOR,
    T_CONTRIBUTOR,
    T_LINK,
    T_CATEGORY,
    T_ENCLOSURE,
    T_MEDIA_CONTENT,
    T_MEDIA_THUMB,
    /* Elements whose text is read. */
    T_TITLE,
    T_DESCRIPTION,
    T_GUID,
    T_PUBDATE,
    T_LASTBUILD,
    T_RSS_AUTHOR,
    T_EDITOR,
    T_COPYRIGHT,
    T_TTL,
    T_GENERATOR,
    T_LANGUAGE,
    T_URL,
    T_ID,
    T_UPDATED,
    T_PUBLISHED,
    T_CREATED,
    T_SUMMARY,
    T_CONTENT,
    T_SUBTITLE,
    T_ICON,
    T_LOGO,
    T_NAME,
    T_EMAIL,
    T_URI,
    T_ENCODED,
    T_DC_CREATOR,
    T_DC_CONTRIBUTOR,
    T_DC_DATE,
    T_DC_SUBJECT,
    T_DC_TITLE,
    T_DC_DESCRIPTION,
    T_DCT_MODIFIED,
    T_MEDIA_DESCRIPTION,
    T_MEDIA_TITLE,
};

/* Sorted by (ns, name) for bsearch. */
static const struct tagdef {
    enum ns ns;
    const char *name;
    enum tag tag;
} tags[] = {
    {NS_RSS, "author", T_RSS_AUTHOR},
    {NS_RSS, "category", T_CATEGORY},
    {NS_RSS, "channel", T_CHANNEL},
    {NS_RSS, "cloud", T_SKIP},
    {NS_RSS, "copyright", T_COPYRIGHT},
    {NS_RSS, "description", T_DESCRIPTION},
    {NS_RSS, "enclosure", T_ENCLOSURE},
    {NS_RSS, "generator", T_GENERATOR},
    {NS_RSS, "guid", T_GUID},
    {NS_RSS, "image", T_IMAGE},
    {NS_RSS, "item", T_ITEM},
    {NS_RSS, "language", T_LANGUAGE},
    {NS_RSS, "lastBuildDate", T_LASTBUILD},
    {NS_RSS, "link", T_LINK},
    {NS_RSS, "managingEditor", T_EDITOR},
    {NS_RSS, "pubDate", T_PUBDATE},
    {NS_RSS, "rss", T_RSS},
    {NS_RSS, "skipDays", T_SKIP},
    {NS_RSS, "skipHours", T_SKIP},
    {NS_RSS, "source", T_SKIP},
    {NS_RSS, "textInput", T_SKIP},
    {NS_RSS, "textinput", T_SKIP},
    {NS_RSS, "title", T_TITLE},
    {NS_RSS, "ttl", T_TTL},
    {NS_RSS, "url", T_URL},
    {NS_ATOM, "author", T_AUTHOR},
    {NS_ATOM, "category", T_CATEGORY},
    {NS_ATOM, "content", T_CONTENT},
    {NS_ATOM, "contributor", T_CONTRIBUTOR},
    {NS_ATOM, "copyright", T_COPYRIGHT},
    {NS_ATOM, "created", T_CREATED},
    {NS_ATOM, "email", T_EMAIL},
    {NS_ATOM, "entry", T_ENTRY},
    {NS_ATOM, "feed", T_FEED},
    {NS_ATOM, "generator", T_GENERATOR},
    {NS_ATOM, "icon", T_ICON},
    {NS_ATOM, "id", T_ID},
    {NS_ATOM, "info", T_SKIP},
    {NS_ATOM, "issued", T_PUBLISHED},
    {NS_ATOM, "link", T_LINK},
    {NS_ATOM, "logo", T_LOGO},
    {NS_ATOM, "modified", T_UPDATED},
    {NS_ATOM, "name", T_NAME},
    {NS_ATOM, "published", T_PUBLISHED},
    {NS_ATOM, "rights", T_COPYRIGHT},
    {NS_ATOM, "source", T_SKIP},
    {NS_ATOM, "subtitle", T_SUBTITLE},
    {NS_ATOM, "summary", T_SUMMARY},
    {NS_ATOM, "tagline", T_SUBTITLE},
    {NS_ATOM, "title", T_TITLE},
    {NS_ATOM, "updated", T_UPDATED},
    {NS_ATOM, "uri", T_URI},
    {NS_ATOM, "url", T_URI},
    {NS_RDF, "RDF", T_RDF},
    {NS_CONTENT, "encoded", T_ENCODED},
    {NS_DC, "contributor", T_DC_CONTRIBUTOR},
    {NS_DC, "creator", T_DC_CREATOR},
    {NS_DC, "date", T_DC_DATE},
    {NS_DC, "description", T_DC_DESCRIPTION},
    {NS_DC, "language", T_LANGUAGE},
    {NS_DC, "rights", T_COPYRIGHT},
    {NS_DC, "subject", T_DC_SUBJECT},
    {NS_DC, "title", T_DC_TITLE},
    {NS_DCTERMS, "created", T_CREATED},
    {NS_DCTERMS, "issued", T_CREATED},
    {NS_DCTERMS, "modified", T_DCT_MODIFIED},
    {NS_MEDIA, "content", T_MEDIA_CONTENT},
    {NS_MEDIA, "description", T_MEDIA_DESCRIPTION},
    {NS_MEDIA, "group", T_GROUP},
    {NS_MEDIA, "thumbnail", T_MEDIA_THUMB},
    {NS_MEDIA, "title", T_MEDIA_TITLE},
};

/* How the text of an element is to be read. */
enum kind { K_TEXT, K_HTML, K_XHTML, K_MEDIA, K_DROP };

/* Precedence slots: a field set from a stronger source is not overwritten. */
enum slot { S_TITLE, S_SUMMARY, S_CONTENT, S_PUBLISHED, S_UPDATED, S_COUNT };

/* The reader's state while one document streams through. */
struct px {
    struct tb_feed *f;
    xmlParserCtxtPtr ctxt;
    int oom;                         /* an allocation failed: stop and report -ENOMEM */
    int depth;                       /* depth of the open element; the root is 1 */
    int overflow;                    /* elements opened beyond MAX_DEPTH, ignored */
    const char *base[MAX_DEPTH + 1]; /* xml:base in effect at each depth */
    const char *root;                /* local name of the root when it is not a feed */
    const void *ns_uri[4];           /* namespace URIs seen last (interned by libxml2) */
    enum ns ns_class[4];             /* their classes */
    int skip_depth;                  /* >0: the subtree opened there is ignored */
    int image_depth;                 /* >0: inside RSS <image> */
    struct tb_entry *entry;          /* entry being read, or NULL at feed level */
    int entry_depth;                 /* its depth */
    const char *guid_link;           /* permalink guid, the link when there is no <link> */
    struct tb_person *person;        /* Atom author/contributor being read */
    int person_depth;                /* its depth */
    int person_contrib;              /* 1 for a contributor */
    int cap_depth;                   /* >0: the element whose text is gathered */
    enum tag cap_tag;                /* its meaning */
    enum ns cap_ns;                  /* its namespace class */
    enum kind cap_kind;              /* how its text reads */
    int cap_b64;                     /* Atom 0.3 mode="base64" */
    int cap_flag;                    /* guid isPermaLink */
    const char *cap_attr;            /* category domain/scheme */
    int div_depth;                   /* xhtml wrapper <div> not to serialize */
    const char *cap_type;            /* K_MEDIA: its media type */
    struct tb_buf text;              /* gathered text */
    int eprio[S_COUNT];              /* precedence of the entry's fields set so far */
    int fprio[S_COUNT];              /* same for the feed */
};

static int tagcmp(const void *k, const void *e)
{
    const struct tagdef *a = k, *b = e;

    if (a->ns != b->ns)
        return (int)a->ns - (int)b->ns;
    /* The first byte settles most steps of the search without a call. */
    if (a->name[0] != b->name[0])
        return (unsigned char)a->name[0] - (unsigned char)b->name[0];
    return strcmp(a->name, b->name);
}

static enum tag lookup(enum ns ns, const char *name)
{
    struct tagdef key = {ns, name, T_NONE};
    const struct tagdef *d =
        bsearch(&key, tags, sizeof(tags) / sizeof(tags[0]), sizeof(tags[0]), tagcmp);

    return d ? d->tag : T_NONE;
}

/* The class of a namespace URI, by its text; RSS 0.90's marks the format. */
static enum ns classify(struct px *p, const char *uri)
{
    static const struct {
        const char *uri;
        enum ns ns;
    } known[] = {
        {"http://purl.org/rss/1.0/", NS_RSS},
        {"http://my.netscape.com/rdf/simple/0.9/", NS_RSS},
        {"http://backend.userland.com/rss2", NS_RSS},
        {"http://backend.userland.com/rss", NS_RSS},
        {"http://www.w3.org/2005/Atom", NS_ATOM},
        {"http://purl.org/atom/ns#", NS_ATOM},
        {"http://www.w3.org/1999/02/22-rdf-syntax-ns#", NS_RDF},
        {"http://purl.org/rss/1.0/modules/content/", NS_CONTENT},
        {"http://purl.org/dc/elements/1.1/", NS_DC},
        {"http://purl.org/dc/terms/", NS_DCTERMS},
        {"http://search.yahoo.com/mrss/", NS_MEDIA},
        {"http://search.yahoo.com/mrss", NS_MEDIA},
        {"http://www.w3.org/XML/1998/namespace", NS_XML},
    };
    size_t i;

    if (uri == NULL)
        return NS_RSS;
    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(uri, known[i].uri) == 0) {
            if (i == 1 && p->f->format == TB_FORMAT_RSS10)
                p->f->format = TB_FORMAT_RSS090;
            return known[i].ns;
        }
    }
    return NS_OTHER;
}

/* Namespace class with a small cache keyed by libxml2's interned URI pointers. */
static enum ns ns_of(struct px *p, const xmlChar *uri)
{
    size_t i;
    enum ns ns;

    for (i = 0; i < 4; i++)
        if (p->ns_uri[i] == uri && uri != NULL)
            return p->ns_class[i];
    ns = classify(p, (const char *)uri);
    if (uri != NULL) {
        memmove(p->ns_uri + 1, p->ns_uri, 3 * sizeof(p->ns_uri[0]));
        memmove(p->ns_class + 1, p->ns_class, 3 * sizeof(p->ns_class[0]));
        p->ns_uri[0] = uri;
        p->ns_class[0] = ns;
    }
    return ns;
}

/* Notes an allocation result; on failure the parse is stopped. */
static void *chk(struct px *p, void *v)
{
    if (v == NULL && !p->oom) {
        p->oom = 1;
        xmlStopParser(p->ctxt);
    }
    return v;
}

/*
 * Value of attribute `name` (in namespace class `ns`, NS_RSS meaning none),
 * trimmed, in the arena; NULL when absent. libxml2 leaves '&' from references
 * as "&#38;" in SAX2 attribute values when entities are not substituted.
 */
static const char *attr(struct px *p, const xmlChar **attrs, int n, enum ns ns, const char *name)
{
    char *v, *r, *w;
    int i;

    for (i = 0; i < n; i++) {
        const xmlChar **a = attrs + 5 * i;

        if (strcmp((const char *)a[0], name) != 0 || (a[2] ? ns_of(p, a[2]) : NS_RSS) != ns)
            continue;
        v = tb__parse_str(p->f, (const char *)a[3], (size_t)(a[4] - a[3]), 1);
        if (chk(p, v) == NULL)
            return NULL;
        for (r = w = v; *r; w++) {
            *w = *r;
            r += *r == '&' && strncmp(r, "&#38;", 5) == 0 ? 5 : 1;
        }
        *w = '\0';
        return v;
    }
    return NULL;
}

/* Takes precedence slot `s` at `prio` unless something as strong set it. */
static int take(struct px *p, enum slot s, int prio)
{
    int *slot = p->entry ? &p->eprio[s] : &p->fprio[s];

    if (*slot >= prio)
        return 0;
    *slot = prio;
    return 1;
}

/* Adds a link (href resolved against the current base) to the entry or the feed. */
static void add_link(struct px *p, const char *href, const char *rel, const char *type,
                     const char *title, const char *length)
{
    const char *url = href ? tb__parse_url(p->f, p->base[p->depth], href) : NULL;
    struct tb_link *l;

    if (url == NULL)
        return;
    rel = rel && *rel ? rel : "alternate";
    if (p->entry == NULL) {
        if (strcmp(rel, "alternate") == 0 && p->f->link == NULL)
            p->f->link = url;
        else if (strcmp(rel, "self") == 0 && p->f->self == NULL)
            p->f->self = url;
        else if (strcmp(rel, "hub") == 0 && p->f->hub == NULL)
            p->f->hub = url;
        return;
    }
    l = tb_arena_alloc(&p->f->arena, sizeof(*l));
    if (chk(p, l) == NULL)
        return;
    l->href = url;
    l->rel = rel;
    l->type = type;
    l->title = title;
    l->length = length && *length ? strtoll(length, NULL, 10) : -1;
    l->length = l->length < 0 ? -1 : l->length;
    tb__parse_add_link(&p->entry->links, l);
    if (strcmp(rel, "alternate") == 0 && p->entry->link == NULL)
        p->entry->link = url;
}

static void add_category(struct px *p, const char *term, const char *scheme, const char *label)
{
    struct tb_category *c;

    if (p->entry == NULL || term == NULL || *term == '\0')
        return;
    c = tb_arena_alloc(&p->f->arena, sizeof(*c));
    if (chk(p, c) == NULL)
        return;
    c->term = term;
    c->scheme = scheme && *scheme ? scheme : NULL;
    c->label = label && *label ? label : NULL;
    tb__parse_add_category(&p->entry->categories, c);
}

/* Whether type is a media type "type/subtype" of RFC 6838's restricted names
 * (parameters are not kept). */
static int media_type(const char *type)
{
    static const char extra[] = "!#$&-^_.+";
    const char *s = type;
    int slash = 0;

    for (; *s && *s != ';'; s++) {
        if (*s == '/' && !slash && s > type && s[1] != '\0' && s[1] != ';')
            slash = 1;
        else if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                   (*s >= '0' && *s <= '9') || strchr(extra, *s)) ||
                 s - type > 127)
            return 0;
    }
    return slash;
}

/* The kind of an Atom text construct from its type (and Atom 0.3 mode). */
static enum kind text_kind(const char *type, const char *mode)
{
    int escaped = mode && strcmp(mode, "escaped") == 0;
    size_t n = type ? strlen(type) : 0;

    if (type == NULL || strcmp(type, "text") == 0 || strcmp(type, "text/plain") == 0)
        return escaped ? K_HTML : K_TEXT;
    if (strcmp(type, "html") == 0 || strcmp(type, "text/html") == 0)
        return K_HTML;
    if (strcmp(type, "xhtml") == 0 || strcmp(type, "application/xhtml+xml") == 0)
        return escaped ? K_HTML : K_XHTML;
    if (strncmp(type, "text/", 5) == 0 || (n > 4 && strcmp(type + n - 4, "+xml") == 0) ||
        (n > 4 && strcmp(type + n - 4, "/xml") == 0))
        return K_TEXT;
    /* Base64 of some other media type (RFC 4287 4.1.3.3): kept as it is. */
    return media_type(type) ? K_MEDIA : K_DROP;
}

/* Starts gathering the text of the element just opened. */
static void capture(struct px *p, enum tag tag, enum ns ns, const xmlChar **attrs, int n)
{
    const char *type = NULL, *mode = NULL;

    p->cap_depth = p->depth;
    p->cap_tag = tag;
    p->cap_ns = ns;
    p->cap_kind = K_TEXT;
    p->cap_b64 = 0;
    p->cap_flag = 1;
    p->cap_attr = NULL;
    p->div_depth = 0;
    tb_buf_reset(&p->text);
    if (ns == NS_ATOM || tag == T_MEDIA_DESCRIPTION) {
        type = attr(p, attrs, n, NS_RSS, "type");
        mode = attr(p, attrs, n, NS_RSS, "mode");
        p->cap_kind = text_kind(type, mode);
        p->cap_b64 = mode && strcmp(mode, "base64") == 0;
        p->cap_type = type;
        if (tag == T_MEDIA_DESCRIPTION && p->cap_kind == K_XHTML)
            p->cap_kind = K_HTML;
    } else if (tag == T_DESCRIPTION || tag == T_ENCODED) {
        p->cap_kind = K_HTML;
    }
    if (tag == T_GUID) {
        const char *pl = attr(p, attrs, n, NS_RSS, "isPermaLink");

        p->cap_flag = pl == NULL || strcasecmp(pl, "false") != 0;
    } else if (tag == T_CATEGORY) {
        p->cap_attr = attr(p, attrs, n, NS_RSS, "domain");
    }
    if (tag == T_CONTENT && ns == NS_ATOM)
        add_link(p, attr(p, attrs, n, NS_RSS, "src"), "related", type, NULL, NULL);
}

static void end_entry(struct px *p);
static void end_person(struct px *p);

/* The root element decides the format; anything else is not a feed. */
static void start_root(struct px *p, enum tag tag, const char *uri, const char *name,
                       const xmlChar **attrs, int n)
{
    const char *version;

    if (tag == T_RSS) {
        version = attr(p, attrs, n, NS_RSS, "version");
        p->f->format =
            version && strncmp(version, "0.9", 3) == 0 ? TB_FORMAT_RSS091 : TB_FORMAT_RSS20;
    } else if (tag == T_RDF) {
        p->f->format = TB_FORMAT_RSS10;
    } else if (tag == T_FEED) {
        p->f->format =
            strcmp(uri, "http://purl.org/atom/ns#") == 0 ? TB_FORMAT_ATOM03 : TB_FORMAT_ATOM10;
    } else {
        p->root = chk(p, tb__parse_str(p->f, name, strlen(name), 0));
        xmlStopParser(p->ctxt);
        return;
    }
    p->f->base = p->base[1];
}

static void start_entry(struct px *p, const xmlChar **attrs, int n)
{
    const char *about;

    if (p->person != NULL)
        end_person(p);
    if (p->entry != NULL) /* unclosed markup nested the next entry in this one: close it */
        end_entry(p);
    p->entry = chk(p, tb_entry_new(p->f));
    if (p->entry == NULL)
        return;
    p->entry_depth = p->depth;
    p->entry->base = p->base[p->depth];
    p->guid_link = NULL;
    memset(p->eprio, 0, sizeof(p->eprio));
    if (p->f->format == TB_FORMAT_ATOM03 || p->f->format == TB_FORMAT_ATOM10)
        p->entry->id_is_permalink = 0;
    about = attr(p, attrs, n, NS_RDF, "about");
    if (about != NULL && *about != '\0') { /* RSS 1.0: the item's URI is its identity */
        p->entry->id = about;
        p->entry->id_is_permalink = 0;
    }
}

static void end_entry(struct px *p)
{
    struct tb_entry *e = p->entry;

    if (e->link == NULL && p->guid_link != NULL)
        add_link(p, p->guid_link, "alternate", NULL, NULL, NULL);
    tb__parse_append(p->f, e);
    p->entry = NULL;
    p->entry_depth = 0;
    /* Past the entry cap nothing more is kept: stop reading rather than
     * building entries only to drop them. */
    if (p->f->last != e && p->ctxt != NULL)
        xmlStopParser(p->ctxt);
}

static void start_person(struct px *p, int contrib)
{
    p->person = chk(p, tb_arena_alloc(&p->f->arena, sizeof(*p->person)));
    p->person_depth = p->person ? p->depth : 0;
    p->person_contrib = contrib;
}

static void end_person(struct px *p)
{
    struct tb_person *who = p->person;

    p->person = NULL;
    p->person_depth = 0;
    if (who->name == NULL && who->email == NULL && who->uri == NULL)
        return;
    if (who->name == NULL)
        who->name = "";
    if (p->entry == NULL)
        tb__parse_add_person(&p->f->authors, who);
    else
        tb__parse_add_person(p->person_contrib ? &p->entry->contributors : &p->entry->authors, who);
}

/* Elements carrying everything in attributes: links, enclosures, media, Atom categories. */
static void start_attrs(struct px *p, enum tag tag, enum ns ns, const xmlChar **attrs, int n)
{
#define A(name) attr(p, attrs, n, NS_RSS, name)
    if (tag == T_LINK)
        add_link(p, A("href"), A("rel"), A("type"), A("title"), A("length"));
    else if (tag == T_ENCLOSURE)
        add_link(p, A("url"), "enclosure", A("type"), NULL, A("length"));
    else if (tag == T_MEDIA_CONTENT && p->entry)
        add_link(p, A("url"), "enclosure", A("type"), NULL, A("fileSize"));
    else if (tag == T_MEDIA_THUMB && p->entry)
        add_link(p, A("url"), "thumbnail", NULL, NULL, NULL);
    else if (tag == T_CATEGORY)
        add_category(p, A("term") ? A("term") : A("label"), A("scheme"), A("label"));
#undef A
}

/* Opens an element at feed or entry level (not inside gathered text). */
static void start_field(struct px *p, enum tag tag, enum ns ns, const xmlChar **attrs, int n)
{
    int in_image = p->image_depth > 0;

    if (tag == T_ITEM || tag == T_ENTRY)
        start_entry(p, attrs, n);
    else if (tag == T_SKIP || (tag == T_IMAGE && p->entry))
        p->skip_depth = p->depth;
    else if (tag == T_IMAGE)
        p->image_depth = p->depth;
    else if ((tag == T_AUTHOR || tag == T_CONTRIBUTOR) && !p->person)
        start_person(p, tag == T_CONTRIBUTOR);
    else if (in_image && tag != T_URL)
        p->skip_depth = p->depth;
    else if ((tag == T_LINK && ns == NS_ATOM) || (tag == T_CATEGORY && ns == NS_ATOM) ||
             tag == T_ENCLOSURE || tag == T_MEDIA_CONTENT || tag == T_MEDIA_THUMB)
        start_attrs(p, tag, ns, attrs, n);
    else if (tag >= T_TITLE || tag == T_LINK || tag == T_CATEGORY)
        capture(p, tag, ns, attrs, n);
}

/* Decodes base64 in place (Atom 0.3 mode="base64"); stops at the first bad character. */
static size_t base64_decode(char *s, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, out = 0;
    uint32_t acc = 0;
    int bits = 0;
    const char *c;

    for (i = 0; i < n && s[i] != '='; i++) {
        c = s[i] ? strchr(alphabet, s[i]) : NULL;
        if (c == NULL) {
            if (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')
                continue;
            break;
        }
        acc = (acc << 6) | (uint32_t)(c - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            s[out++] = (char)((acc >> bits) & 0xFF);
        }
    }
    return out;
}

/* A date field: parsed, and stored only when it is a date and takes its slot. */
static void set_date(struct px *p, int64_t *field, enum slot s, int prio, const char *v)
{
    int64_t t = tb_date_parse(v);

    if (t != TB_TIME_NONE && take(p, s, prio))
        *field = t;
}

/* A text body (summary/content) of the entry, or of the feed as its subtitle. */
static void set_body(struct px *p, enum slot s, int prio, const char *v, int is_html)
{
    struct tb_text *t;

    if (p->entry == NULL) {
        if (s == S_SUMMARY && take(p, S_SUMMARY, prio))
            p->f->subtitle = is_html ? chk(p, tb__parse_html_text(p->f, v)) : v;
        return;
    }
    t = s == S_CONTENT ? &p->entry->content : &p->entry->summary;
    if (*v != '\0' && take(p, s, prio)) {
        t->value = v;
        t->is_html = is_html;
        t->type = NULL;
    }
}

/* Fields of a person being read, of feed and entry authors, and plain-text fields. */
static void set_person_field(struct px *p, enum tag tag, const char *v)
{
    struct tb_person **list;
    int contrib = tag == T_DC_CONTRIBUTOR;

    if (tag == T_NAME || tag == T_EMAIL || tag == T_URI) {
        if (p->person == NULL)
            return;
        if (tag == T_NAME)
            p->person->name = v;
        else if (tag == T_EMAIL)
            p->person->email = v;
        else
            p->person->uri = tb__parse_url(p->f, p->base[p->depth], v);
        return;
    }
    list = p->entry ? (contrib ? &p->entry->contributors : &p->entry->authors) : &p->f->authors;
    if (p->entry != NULL || tag != T_DC_CONTRIBUTOR)
        tb__parse_add_person(list, tb__parse_person(p->f, v, &p->oom));
}

/* Stores the text `v` (trimmed, in the arena) of the element that just closed. */
static void store(struct px *p, const char *v, int is_html)
{
    struct tb_entry *e = p->entry;
    struct tb_feed *f = p->f;
    const char *plain = v;

    int title = p->cap_tag == T_TITLE || p->cap_tag == T_DC_TITLE || p->cap_tag == T_MEDIA_TITLE;

    /* An RSS title is plain text by the letter, but escaped HTML in practice
     * ("Caf&amp;eacute;", "&lt;b&gt;x&lt;/b&gt;"); Atom says which it is. */
    if (!is_html && title && p->cap_ns != NS_ATOM && tb__parse_looks_html(v))
        is_html = 1;
    if (is_html && (title || p->cap_tag == T_COPYRIGHT || p->cap_tag == T_SUBTITLE))
        plain = chk(p, tb__parse_html_text(f, v));
    if (plain == NULL)
        return;
    switch (p->cap_tag) {
    case T_TITLE:
    case T_DC_TITLE:
    case T_MEDIA_TITLE:
        if (*plain && take(p, S_TITLE, p->cap_tag == T_TITLE ? 2 : 1))
            *(e ? &e->title : &f->title) = plain;
        break;
    case T_LINK:
        add_link(p, v, "alternate", NULL, NULL, NULL);
        break;
    case T_DESCRIPTION:
    case T_SUMMARY:
    case T_DC_DESCRIPTION:
    case T_MEDIA_DESCRIPTION:
        set_body(p, S_SUMMARY, p->cap_tag == T_DESCRIPTION || p->cap_tag == T_SUMMARY ? 2 : 1, v,
                 is_html);
        break;
    case T_CONTENT:
    case T_ENCODED:
        set_body(p, S_CONTENT, 2, v, is_html);
        if (e != NULL && e->content.value == v) /* relative links in it resolve from here */
            e->base = p->base[p->depth];
        break;
    case T_SUBTITLE:
        if (e == NULL && take(p, S_SUMMARY, 3))
            f->subtitle = plain;
        break;
    case T_GUID:
    case T_ID:
        if (*v == '\0')
            break;
        if (e != NULL) {
            e->id = v;
            e->id_is_permalink = p->cap_tag == T_GUID && p->cap_flag;
            if (e->id_is_permalink && tb_url_allowed(v, 0))
                p->guid_link = v;
        } else {
            f->id = v;
        }
        break;
    case T_PUBDATE:
        set_date(p, e ? &e->published : &f->updated, e ? S_PUBLISHED : S_UPDATED, e ? 2 : 1, v);
        break;
    case T_LASTBUILD:
        if (e == NULL)
            set_date(p, &f->updated, S_UPDATED, 2, v);
        break;
    case T_UPDATED:
        set_date(p, e ? &e->updated : &f->updated, S_UPDATED, 2, v);
        break;
    case T_DCT_MODIFIED:
        set_date(p, e ? &e->updated : &f->updated, S_UPDATED, 1, v);
        break;
    case T_PUBLISHED:
    case T_CREATED:
    case T_DC_DATE:
        if (e != NULL)
            set_date(p, &e->published, S_PUBLISHED, p->cap_tag == T_PUBLISHED ? 2 : 1, v);
        else
            set_date(p, &f->updated, S_UPDATED, 1, v);
        break;
    case T_RSS_AUTHOR:
    case T_EDITOR:
    case T_DC_CREATOR:
    case T_DC_CONTRIBUTOR:
    case T_NAME:
    case T_EMAIL:
    case T_URI:
        if (p->cap_tag != T_EDITOR || e == NULL)
            set_person_field(p, p->cap_tag, v);
        break;
    case T_CATEGORY:
    case T_DC_SUBJECT:
        add_category(p, v, p->cap_attr, NULL);
        break;
    case T_COPYRIGHT:
        if (*plain)
            *(e ? &e->rights : &f->rights) = plain;
        break;
    case T_TTL:
        if (e == NULL && atoi(v) > 0 && atoi(v) < 1000000)
            f->ttl_minutes = atoi(v);
        break;
    case T_GENERATOR:
        if (e == NULL && *v)
            f->generator = v;
        break;
    case T_LANGUAGE:
        if (e == NULL && *v && f->language == NULL)
            f->language = v;
        break;
    case T_URL:
    case T_ICON:
    case T_LOGO:
        if (e == NULL && (f->icon == NULL || p->cap_tag == T_ICON))
            f->icon = tb__parse_url(f, p->base[p->depth], v);
        break;
    default:
        break;
    }
}

/* Entry content of a non-text media type: its base64 is kept without white
 * space (and without the type's parameters), or dropped when it is not base64. */
static void store_media(struct px *p, const char *raw, size_t n)
{
    char *v, *type;
    size_t i, k = 0;

    if (p->entry == NULL || p->cap_tag != T_CONTENT || n == 0)
        return;
    v = chk(p, tb_arena_alloc(&p->f->arena, n + 1));
    type = chk(p, tb_arena_strndup(&p->f->arena, p->cap_type, strcspn(p->cap_type, "; \t")));
    if (v == NULL || type == NULL)
        return;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)raw[i];

        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (!isalnum(c) && c != '+' && c != '/' && c != '=')
            return;
        v[k++] = (char)c;
    }
    v[k] = '\0';
    for (i = 0; type[i]; i++)
        type[i] = (char)tolower((unsigned char)type[i]);
    if (k > 0 && take(p, S_CONTENT, 2))
        p->entry->content = (struct tb_text){v, 0, type};
}

/* Closes the element whose text was gathered. */
static void end_capture(struct px *p)
{
    char *raw = p->text.data ? p->text.data : "";
    size_t n = p->text.len;
    char *v;

    p->cap_depth = 0;
    if (p->cap_kind == K_DROP)
        return;
    if (p->cap_kind == K_MEDIA) {
        store_media(p, raw, n);
        return;
    }
    if (p->cap_b64)
        n = base64_decode(raw, n);
    v = chk(p, tb__parse_str(p->f, raw, n, 1));
    if (v != NULL)
        store(p, v, p->cap_kind != K_TEXT);
}

/* Appends text to the gathered buffer, escaped as HTML when `escape`. */
static void add_text(struct px *p, const char *s, size_t n, int escape)
{
    size_t i, run = 0;
    int rc = 0;

    for (i = 0; escape && i < n && rc == 0; i++) {
        const char *rep = s[i] == '&'   ? "&amp;"
                          : s[i] == '<' ? "&lt;"
                          : s[i] == '>' ? "&gt;"
                          : s[i] == '"' ? "&quot;"
                                        : NULL;

        if (rep == NULL) {
            run++;
            continue;
        }
        rc = tb_buf_add(&p->text, s + i - run, run);
        if (rc == 0)
            rc = tb_buf_adds(&p->text, rep);
        run = 0;
    }
    if (rc == 0)
        rc = escape ? tb_buf_add(&p->text, s + n - run, run) : tb_buf_add(&p->text, s, n);
    if (rc != 0)
        chk(p, NULL);
}

static int is_void(const char *name)
{
    static const char *const v[] = {"area",  "base", "br",   "col",   "embed",  "hr",    "img",
                                    "input", "link", "meta", "param", "source", "track", "wbr"};
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        if (strcmp(name, v[i]) == 0)
            return 1;
    return 0;
}

/* Serializes a start tag inside Atom xhtml content, leaving out the wrapper div. */
static void xhtml_start(struct px *p, const char *name, const xmlChar **attrs, int n)
{
    int i;

    if (p->depth == p->cap_depth + 1 && p->div_depth == 0 && strcmp(name, "div") == 0 &&
        p->text.len == 0) {
        p->div_depth = p->depth;
        return;
    }
    add_text(p, "<", 1, 0);
    add_text(p, name, strlen(name), 0);
    for (i = 0; i < n; i++) {
        const xmlChar **a = attrs + 5 * i;
        const char *v = attr(p, a, 1, a[2] ? ns_of(p, a[2]) : NS_RSS, (const char *)a[0]);

        add_text(p, " ", 1, 0);
        add_text(p, (const char *)a[0], strlen((const char *)a[0]), 0);
        add_text(p, "=\"", 2, 0);
        if (v != NULL)
            add_text(p, v, strlen(v), 1);
        add_text(p, "\"", 1, 0);
    }
    add_text(p, ">", 1, 0);
}

static void xhtml_end(struct px *p, const char *name)
{
    if (p->depth == p->div_depth || is_void(name) || *name == '\0')
        return;
    add_text(p, "</", 2, 0);
    add_text(p, name, strlen(name), 0);
    add_text(p, ">", 1, 0);
}

/* Sets the xml:base of the element just opened, resolved against its parent's. */
static void push_base(struct px *p, const xmlChar **attrs, int n)
{
    const char *parent = p->base[p->depth - 1], *b;

    p->base[p->depth] = parent;
    b = attr(p, attrs, n, NS_XML, "base");
    if (b != NULL)
        b = tb__parse_url(p->f, parent, b);
    if (b != NULL)
        p->base[p->depth] = b;
}

/* In recovery mode libxml2 drops every entity reference, even &amp;, once
 * it has seen any error (xmlParseReference checks wellFormed). The first
 * error is already kept in feed->error, so each event clears the flag again
 * and text after a recovered error keeps its characters. */
static void keep_recovering(struct px *p)
{
    if (p->ctxt != NULL)
        p->ctxt->wellFormed = 1;
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
                     int nb_defaulted, const xmlChar **attrs)
{
    struct px *p = ctx;

    keep_recovering(p);
    const char *name = (const char *)localname;
    enum ns ns;
    enum tag tag;

    if (p->oom)
        return;
    if (p->depth >= MAX_DEPTH) {
        p->overflow++;
        return;
    }
    p->depth++;
    push_base(p, attrs, nb_attributes);
    if (p->cap_depth) {
        if (p->cap_kind == K_XHTML)
            xhtml_start(p, name, attrs, nb_attributes);
        return;
    }
    if (p->skip_depth)
        return;
    ns = ns_of(p, uri);
    tag = lookup(ns, name);
    if (p->depth == 1)
        start_root(p, tag, (const char *)uri, name, attrs, nb_attributes);
    else
        start_field(p, tag, ns, attrs, nb_attributes);
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    struct px *p = ctx;

    keep_recovering(p);

    if (p->overflow > 0) {
        p->overflow--;
        return;
    }
    if (p->depth == 0 || p->oom)
        return;
    if (p->cap_depth == p->depth)
        end_capture(p);
    else if (p->cap_depth && p->cap_kind == K_XHTML)
        xhtml_end(p, (const char *)localname);
    else if (p->skip_depth == p->depth)
        p->skip_depth = 0;
    else if (p->cap_depth || p->skip_depth)
        ; /* inside gathered text or an ignored subtree */
    else if (p->person_depth == p->depth)
        end_person(p);
    else if (p->entry_depth == p->depth)
        end_entry(p);
    else if (p->image_depth == p->depth)
        p->image_depth = 0;
    p->depth--;
}

static void on_text(void *ctx, const xmlChar *ch, int len)
{
    struct px *p = ctx;

    keep_recovering(p);

    if (p->cap_depth && !p->oom)
        add_text(p, (const char *)ch, (size_t)len, p->cap_kind == K_XHTML);
}

/* HTML 4's named characters as predefined-like XML entities, built once. */
#define HTML_ENTITIES_MAX 300
static xmlEntity html_entities[HTML_ENTITIES_MAX];
static unsigned char html_values[HTML_ENTITIES_MAX][5];
static size_t n_html_entities;
static pthread_once_t html_once = PTHREAD_ONCE_INIT;

static int cmp_entity(const void *a, const void *b)
{
    return strcmp((const char *)((const xmlEntity *)a)->name,
                  (const char *)((const xmlEntity *)b)->name);
}

/* libxml2 exports lookups but not its table: walk the code points it covers. */
static void build_html_entities(void)
{
    for (unsigned cp = 1; cp < 0x2700 && n_html_entities < HTML_ENTITIES_MAX; cp++) {
        const htmlEntityDesc *d = htmlEntityValueLookup(cp);
        xmlEntity *e = &html_entities[n_html_entities];
        unsigned char *v = html_values[n_html_entities];
        int len = 4;

        if (d == NULL || d->value != cp)
            continue;
        if (xmlCopyCharMultiByte(v, (int)cp) <= 0)
            continue;
        len = xmlCopyCharMultiByte(v, (int)cp);
        v[len] = '\0';
        e->type = XML_ENTITY_DECL;
        e->name = (const xmlChar *)d->name;
        e->orig = v;
        e->content = v;
        e->length = len;
        e->etype = XML_INTERNAL_PREDEFINED_ENTITY;
        n_html_entities++;
    }
    qsort(html_entities, n_html_entities, sizeof(xmlEntity), cmp_entity);
}

static xmlEntityPtr on_entity(void *ctx, const xmlChar *name)
{
    xmlEntity key;

    (void)ctx;
    pthread_once(&html_once, build_html_entities);
    key.name = name;
    return bsearch(&key, html_entities, n_html_entities, sizeof(xmlEntity), cmp_entity);
}

/* libxml2's structured error callback: keeps the first error as "line N: message". */
static void on_error(void *ctx, xmlErrorPtr e)
{
    struct px *p = ctx;

    if (e != NULL && e->level >= XML_ERR_ERROR)
        tb__parse_error(p->f, "line %d: %s", e->line, e->message ? e->message : "error");
}

/* Runs libxml2 over the document with our handler; returns after the last event. */
static int run_sax(struct px *p, const char *data, size_t len)
{
    xmlSAXHandler sax;
    xmlParserCtxtPtr ctxt;

    if (len > INT_MAX)
        return -ENOMEM;
    memset(&sax, 0, sizeof(sax));
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = on_start;
    sax.endElementNs = on_end;
    sax.characters = on_text;
    sax.cdataBlock = on_text;
    sax.serror = on_error;
    sax.getEntity = on_entity;
    ctxt = xmlCreateMemoryParserCtxt(data, (int)len);
    if (ctxt == NULL)
        return -ENOMEM;
    memcpy(ctxt->sax, &sax, sizeof(sax));
    ctxt->userData = p;
    p->ctxt = ctxt;
    /* Never NOENT, DTDLOAD, DTDATTR, DTDVALID or HUGE: see the top of this file. */
    xmlCtxtUseOptions(ctxt, XML_PARSE_RECOVER | XML_PARSE_NONET | XML_PARSE_IGNORE_ENC |
                                XML_PARSE_NOWARNING | XML_PARSE_NOERROR);
    ctxt->replaceEntities = 0;
    xmlParseDocument(ctxt);
    /* For "expat compatibility" libxml2 records entity declarations in a
     * document of its own (ctxt->myDoc) even in SAX mode, and
     * xmlFreeParserCtxt does not free it: any <!ENTITY> leaked it (found by
     * the fuzzer). */
    xmlFreeDoc(ctxt->myDoc);
    ctxt->myDoc = NULL;
    xmlFreeParserCtxt(ctxt);
    p->ctxt = NULL;
    return 0;
}

int tb__parse_xml(struct tb_feed *f, const char *data, size_t len, const char *url, char *err,
                  size_t errlen)
{
    struct px *p = calloc(1, sizeof(*p));
    int rc;

    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    p->f = f;
    p->base[0] = url ? f->base : NULL;
    tb_buf_init(&p->text, len * 6 + 64);
    rc = run_sax(p, data, len);
    while (rc == 0 && !p->oom && p->depth > 0) /* a truncated document: close what is open */
        on_end(p, (const xmlChar *)"", NULL, NULL);
    if (rc == 0 && p->oom)
        rc = -ENOMEM;
    if (rc != 0)
        snprintf(err, errlen, "out of memory");
    else if (p->root != NULL)
        rc = TB_EPARSE, snprintf(err, errlen, "not a feed: root element <%s>", p->root);
    else if (f->format == TB_FORMAT_UNKNOWN)
        rc = TB_EPARSE, snprintf(err, errlen, "not a feed: no XML root element%s%s",
                                 f->error ? ": " : "", f->error ? f->error : "");
    tb_buf_free(&p->text);
    free(p);
    return rc;
}
