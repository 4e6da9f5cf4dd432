/* OPML subscription lists: read with libxml2's tree API, write with xmlTextWriter. */
#include "tb_opml.h"
#include "tb_date.h"
#include "tb_vec.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

/* The feeds found so far while walking the outline tree. */
struct reader {
    struct tb_opml_feed *feeds; /* grown by doubling */
    size_t n;                   /* feeds used */
    size_t alloc;               /* feeds allocated */
};

static int is_element(const xmlNode *node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && strcmp((const char *)node->name, name) == 0;
}

/* Returns a malloc'd copy of the attribute with surrounding blanks removed,
 * NULL when it is absent or blank; *oom is set when a copy failed. */
static char *prop(xmlNode *node, const char *name, int *oom)
{
    xmlChar *v = xmlGetProp(node, (const xmlChar *)name);
    const char *s = (const char *)v;
    size_t len;
    char *copy = NULL;

    if (v == NULL)
        return NULL;
    s += strspn(s, " \t\r\n");
    len = strlen(s);
    while (len > 0 && strchr(" \t\r\n", s[len - 1]))
        len--;
    if (len > 0) {
        copy = strndup(s, len);
        if (copy == NULL)
            *oom = 1;
    }
    xmlFree(v);
    return copy;
}

/* An outline's display title: text, else title (OPML 1.0 files use either). */
static char *outline_title(xmlNode *node, int *oom)
{
    char *t = prop(node, "text", oom);

    return t ? t : prop(node, "title", oom);
}

static int add_feed(struct reader *r, xmlNode *node, const char *title, const char *category)
{
    struct tb_opml_feed *f;
    int oom = 0, rc;
    char *url = prop(node, "xmlUrl", &oom);

    if (url == NULL && !oom)
        url = prop(node, "xmlurl", &oom);
    if (url == NULL)
        return oom ? -ENOMEM : 0; /* not a feed: a folder or a plain link */
    rc = TB_VEC_RESERVE(r->feeds, r->alloc, r->n + 1, TB_VEC_MAX);
    if (rc) {
        free(url);
        return rc;
    }
    f = &r->feeds[r->n++];
    memset(f, 0, sizeof(*f));
    f->url = url;
    f->line = (int)xmlGetLineNo(node);
    f->title = title ? strdup(title) : NULL;
    f->category = category ? strdup(category) : NULL;
    f->html_url = prop(node, "htmlUrl", &oom);
    if ((title && !f->title) || (category && !f->category) || oom)
        return -ENOMEM;
    return 0;
}

/* The category for an outline's children: "parent/title". */
static int child_category(const char *category, const char *title, char **out)
{
    *out = NULL;
    if (title == NULL && category == NULL)
        return 0;
    if (title == NULL)
        *out = strdup(category);
    else if (category == NULL)
        *out = strdup(title);
    else if (asprintf(out, "%s/%s", category, title) < 0)
        *out = NULL;
    return *out ? 0 : -ENOMEM;
}

/* Visits the outlines below `parent`; libxml2's depth limit bounds the recursion. */
static int walk(struct reader *r, xmlNode *parent, const char *category)
{
    xmlNode *node;
    int rc = 0;

    for (node = parent->children; node && rc == 0; node = node->next) {
        int oom = 0;
        char *title, *sub = NULL;

        if (!is_element(node, "outline"))
            continue;
        title = outline_title(node, &oom);
        rc = oom ? -ENOMEM : add_feed(r, node, title, category);
        if (rc == 0 && node->children)
            rc = child_category(category, title, &sub);
        if (rc == 0 && node->children)
            rc = walk(r, node, sub);
        free(sub);
        free(title);
    }
    return rc;
}

/* Finds <body> under an <opml> root, or explains in err why there is none. */
static xmlNode *find_body(xmlDoc *doc, char *err, size_t errlen)
{
    xmlNode *root = xmlDocGetRootElement(doc), *node;

    if (root == NULL || !is_element(root, "opml")) {
        snprintf(err, errlen, "not an OPML document (root element <%s>)",
                 root ? (const char *)root->name : "none");
        return NULL;
    }
    for (node = root->children; node; node = node->next)
        if (is_element(node, "body"))
            return node;
    snprintf(err, errlen, "OPML document has no <body>");
    return NULL;
}

/* The first problem the parser reports (the last one is often a mere consequence). */
struct first_error {
    int line;      /* where, or 0 */
    char msg[200]; /* what, or "" */
    int entities;  /* an entity declaration was met */
};

/* Entities have no use in OPML: the first declaration stops the parser, so
 * neither XXE nor billion laughs get anywhere. */
static void refuse_entity(void *data, const xmlChar *name, int type, const xmlChar *public_id,
                          const xmlChar *system_id, xmlChar *content)
{
    xmlParserCtxt *ctxt = data;

    ((struct first_error *)ctxt->_private)->entities = 1;
    xmlStopParser(ctxt);
}

static void keep_first_error(void *data, xmlError *e)
{
    struct first_error *first = ((xmlParserCtxt *)data)->_private;

    if (first->msg[0] != '\0' || e == NULL || e->level < XML_ERR_ERROR)
        return;
    first->line = e->line;
    snprintf(first->msg, sizeof(first->msg), "%s", e->message ? e->message : "unknown error");
    first->msg[strcspn(first->msg, "\n")] = '\0';
}

static xmlDoc *parse(const char *data, size_t len, char *err, size_t errlen)
{
    /* No NOENT or DTDLOAD: entities stay unexpanded and nothing is fetched. */
    const int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
    struct first_error first = {0, "", 0};
    xmlParserCtxt *ctxt;
    xmlDoc *doc;

    if (len > INT_MAX) {
        snprintf(err, errlen, "OPML document too large");
        return NULL;
    }
    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        snprintf(err, errlen, "%s", strerror(ENOMEM));
        return NULL;
    }
    ctxt->_private = &first;
    ctxt->sax->serror = keep_first_error; /* also keeps libxml2 from printing */
    ctxt->sax->entityDecl = refuse_entity;
    doc = xmlCtxtReadMemory(ctxt, data, (int)len, NULL, NULL, opts);
    if (first.entities) {
        snprintf(err, errlen, "OPML document declares entities (refused)");
        xmlFreeDoc(doc);
        doc = NULL;
    } else if (doc == NULL || !ctxt->wellFormed) {
        snprintf(err, errlen, "malformed XML at line %d: %s", first.line,
                 first.msg[0] ? first.msg : "unknown error");
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    return doc;
}

int tb_opml_read(const char *data, size_t len, struct tb_opml_feed **feeds, size_t *n, char *err,
                 size_t errlen)
{
    struct reader r = {NULL, 0, 0};
    xmlDoc *doc;
    xmlNode *body;
    int rc = TB_EPARSE;

    *feeds = NULL;
    *n = 0;
    if (len == 0) {
        snprintf(err, errlen, "empty document");
        return TB_EPARSE;
    }
    doc = parse(data, len, err, errlen);
    if (doc == NULL)
        return TB_EPARSE;
    body = find_body(doc, err, errlen);
    if (body == NULL)
        goto out;
    rc = walk(&r, body, NULL);
    if (rc == -ENOMEM)
        snprintf(err, errlen, "%s", strerror(ENOMEM));
out:
    xmlFreeDoc(doc);
    if (rc != 0) {
        tb_opml_free(r.feeds, r.n);
        return rc;
    }
    *feeds = r.feeds;
    *n = r.n;
    return 0;
}

void tb_opml_free(struct tb_opml_feed *feeds, size_t n)
{
    size_t i;

    for (i = 0; feeds && i < n; i++) {
        free(feeds[i].title);
        free(feeds[i].url);
        free(feeds[i].html_url);
        free(feeds[i].category);
    }
    free(feeds);
}

static int write_outline(xmlTextWriter *w, const struct tb_config_source *s)
{
    const char *text = s->title ? s->title : s->name;
    int rc = xmlTextWriterStartElement(w, BAD_CAST "outline");

    if (rc >= 0)
        rc = xmlTextWriterWriteAttribute(w, BAD_CAST "type", BAD_CAST "rss");
    if (rc >= 0)
        rc = xmlTextWriterWriteAttribute(w, BAD_CAST "text", BAD_CAST text);
    if (rc >= 0)
        rc = xmlTextWriterWriteAttribute(w, BAD_CAST "title", BAD_CAST text);
    if (rc >= 0)
        rc = xmlTextWriterWriteAttribute(w, BAD_CAST "xmlUrl", BAD_CAST s->url);
    if (rc >= 0 && s->html_url)
        rc = xmlTextWriterWriteAttribute(w, BAD_CAST "htmlUrl", BAD_CAST s->html_url);
    if (rc >= 0)
        rc = xmlTextWriterEndElement(w);
    return rc;
}

/* An outline for one of our own feeds: base_url + path + ".atom", its page base_url + page. */
static int write_own(xmlTextWriter *w, const char *base, const char *title, const char *path,
                     const char *page)
{
    char url[4096], html[4096];
    int rc = xmlTextWriterStartElement(w, BAD_CAST "outline");

    snprintf(url, sizeof(url), "%s%s.atom", base, path);
    snprintf(html, sizeof(html), "%s%s", base, page);
    if (rc >= 0)
        rc = xmlTextWriterWriteAttribute(w, BAD_CAST "type", BAD_CAST "rss");
    if (rc >= 0)
        rc = xmlTextWriterWriteAttribute(w, BAD_CAST "text", BAD_CAST title);
    if (rc >= 0)
        rc = xmlTextWriterWriteAttribute(w, BAD_CAST "title", BAD_CAST title);
    if (rc >= 0)
        rc = xmlTextWriterWriteAttribute(w, BAD_CAST "xmlUrl", BAD_CAST url);
    if (rc >= 0)
        rc = xmlTextWriterWriteAttribute(w, BAD_CAST "htmlUrl", BAD_CAST html);
    if (rc >= 0)
        rc = xmlTextWriterEndElement(w);
    return rc;
}

/* The topics' reading list (tb_opml_write_topics()). */
static int write_topics(xmlTextWriter *w, const struct tb_config *c)
{
    char path[600], page[600];
    const struct tb_config_topic *t;
    size_t i;
    int rc = write_own(w, c->base_url, "All entries", "all", "");

    if (rc >= 0)
        rc = write_own(w, c->base_url, "Trending", "trending", "trending.html");
    for (i = 0; rc >= 0 && i < c->ntopics; i++) {
        t = &c->topics[i];
        snprintf(path, sizeof(path), "topics/%s", t->name);
        snprintf(page, sizeof(page), "topics/%s.html", t->name);
        rc = write_own(w, c->base_url, t->title ? t->title : t->name, path, page);
    }
    return rc;
}

/* The document around the outlines: the sources', or (topics) the site's feeds. */
static int write_doc(xmlTextWriter *w, const struct tb_config *c, int topics, int64_t at)
{
    char date[64];
    size_t i;
    int rc = tb_date_format_rfc822(at, date, sizeof(date));

    if (rc >= 0)
        rc = xmlTextWriterSetIndent(w, 1);
    if (rc >= 0)
        rc = xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL);
    if (rc >= 0)
        rc = xmlTextWriterStartElement(w, BAD_CAST "opml");
    if (rc >= 0)
        rc = xmlTextWriterWriteAttribute(w, BAD_CAST "version", BAD_CAST "2.0");
    if (rc >= 0)
        rc = xmlTextWriterStartElement(w, BAD_CAST "head");
    if (rc >= 0)
        rc = xmlTextWriterWriteElement(w, BAD_CAST "title",
                                       BAD_CAST(topics ? "tributary topics" : "tributary sources"));
    if (rc >= 0)
        rc = xmlTextWriterWriteElement(w, BAD_CAST "dateCreated", BAD_CAST date);
    if (rc >= 0)
        rc = xmlTextWriterEndElement(w);
    if (rc >= 0)
        rc = xmlTextWriterStartElement(w, BAD_CAST "body");
    if (rc >= 0 && topics)
        rc = write_topics(w, c);
    for (i = 0; rc >= 0 && !topics && i < c->nsources; i++)
        rc = write_outline(w, &c->sources[i]);
    if (rc >= 0)
        rc = xmlTextWriterEndDocument(w); /* closes body and opml */
    return rc < 0 ? -ENOMEM : 0;
}

static int write_mem(const struct tb_config *c, int topics, int64_t at, struct tb_buf *out)
{
    xmlBuffer *xb = xmlBufferCreate();
    xmlTextWriter *w;
    int rc;

    if (xb == NULL)
        return -ENOMEM;
    w = xmlNewTextWriterMemory(xb, 0);
    if (w == NULL) {
        xmlBufferFree(xb);
        return -ENOMEM;
    }
    rc = write_doc(w, c, topics, at);
    xmlFreeTextWriter(w); /* flushes into xb */
    if (rc == 0)
        rc = tb_buf_add(out, xmlBufferContent(xb), (size_t)xmlBufferLength(xb));
    xmlBufferFree(xb);
    return rc;
}

int tb_opml_write(const struct tb_config *c, struct tb_buf *out)
{
    return write_mem(c, 0, (int64_t)time(NULL), out);
}

int tb_opml_write_topics(const struct tb_config *c, struct tb_buf *out)
{
    return write_mem(c, 1, (int64_t)time(NULL), out);
}

int tb_opml_write_at(const struct tb_config *c, int topics, int64_t at, struct tb_buf *out)
{
    return write_mem(c, topics, at, out);
}
