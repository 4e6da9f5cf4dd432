/*
 * The pure half of resolving papers through the arXiv API (tb_arxiv.h):
 * the query URL of a batch, and its Atom answer read as a feed of the
 * arXiv pseudo-source. The store's half is src/store/store_arxiv.c, the
 * daemon's src/daemon_arxiv.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tb_arxiv.h"
#include "tb_buf.h"
#include "tb_normalize.h"
#include "tb_parse.h"

/* Characters of an arXiv id sent as they are: new-style ids are digits and
 * a dot, old-style ones an archive name, '/' and digits. */
static int plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == '/';
}

int tb_arxiv_is_record(const char *link)
{
    static const char host[] = "arxiv.org";
    size_t n, hl = sizeof(host) - 1;
    const char *h;

    if (link == NULL)
        return 0;
    if (strncasecmp(link, "https://", 8) == 0)
        h = link + 8;
    else if (strncasecmp(link, "http://", 7) == 0)
        h = link + 7;
    else
        return 0;
    n = strcspn(h, "/:?#@");
    if (h[n] == '@')
        return 0; /* userinfo: the host is elsewhere */
    if (n > 0 && h[n - 1] == '.')
        n--; /* a fully qualified name */
    if (n < hl || strncasecmp(h + n - hl, host, hl) != 0)
        return 0;
    return n == hl || h[n - hl - 1] == '.';
}

int tb_arxiv_query_url(const char *api, const char *const *ids, size_t n, char **out)
{
    struct tb_buf b;
    const char *p;
    size_t i;
    int rc = 0;

    *out = NULL;
    if (api == NULL || n == 0 || n > TB_ARXIV_BATCH_MAX)
        return -EINVAL;
    for (i = 0; i < n; i++) {
        if (ids[i] == NULL || ids[i][0] == '\0')
            return -EINVAL;
    }
    tb_buf_init(&b, 64 + n * 16);
    rc = tb_buf_addf(&b, "%s%sid_list=", api, strchr(api, '?') ? "&" : "?");
    for (i = 0; i < n && rc == 0; i++) {
        if (i > 0)
            rc = tb_buf_adds(&b, ",");
        for (p = ids[i]; *p != '\0' && rc == 0; p++) {
            if (plain((unsigned char)*p))
                rc = tb_buf_add(&b, p, 1);
            else
                rc = tb_buf_addf(&b, "%%%02X", (unsigned char)*p);
        }
    }
    if (rc == 0)
        rc = tb_buf_addf(&b, "&max_results=%zu", n);
    if (rc == 0) {
        *out = tb_buf_take(&b);
        if (*out == NULL)
            rc = -ENOMEM;
    }
    tb_buf_free(&b);
    return rc;
}

int tb_arxiv_parse_answer(const char *data, size_t len, const char *url, struct tb_feed **out,
                          char *err, size_t errlen)
{
    struct tb_parse_opts opts = {.url = url};
    struct tb_feed *f = NULL;
    struct tb_entry **link, *e;
    int rc;

    *out = NULL;
    rc = tb_parse_feed(data, len, &opts, &f, err, errlen);
    if (rc == 0)
        rc = tb_norm_feed(f);
    if (rc) {
        if (rc == -ENOMEM && err != NULL && errlen > 0)
            snprintf(err, errlen, "out of memory");
        tb_feed_free(f);
        return rc;
    }
    /* The API answers a malformed id with an entry titled "Error" whose id
     * is an errors# URL: only entries that are papers stay. */
    f->last = NULL;
    f->nentries = 0;
    for (link = &f->entries; *link != NULL;) {
        e = *link;
        if (e->arxiv_id == NULL) {
            *link = e->next;
            continue;
        }
        f->last = e;
        f->nentries++;
        link = &e->next;
    }
    /* The answer's own metadata names the query; its entries come from arXiv. */
    f->id = "https://arxiv.org/";
    f->title = TB_ARXIV_SOURCE;
    f->subtitle = NULL;
    f->link = "https://arxiv.org/";
    f->self = NULL;
    f->hub = NULL;
    *out = f;
    return 0;
}
