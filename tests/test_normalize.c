/* Tests of the normalizer: canonical URLs, arXiv ids, DOIs, identity keys. */
#include "check.h"
#include "tb_normalize.h"
#include "tb_buf.h"

#include "tb_parse.h"

#include <curl/curl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pair {
    const char *in;
    const char *out; /* NULL: no result */
};

static const struct pair canon[] = {
    {"http://example.com/a", "https://example.com/a"},
    {"https://example.com/a", "https://example.com/a"},
    {"HTTP://EXAMPLE.COM/Path", "https://example.com/Path"},
    {"hTTps://Www.Example.Com/x", "https://www.example.com/x"},
    {"http://example.com:80/a", "https://example.com/a"},
    {"https://example.com:443/a", "https://example.com/a"},
    {"https://example.com:8443/a", "https://example.com:8443/a"},
    {"http://example.com:8080/a", "https://example.com:8080/a"},
    {"http://example.com", "https://example.com/"},
    {"http://example.com/", "https://example.com/"},
    {"http://example.com/a/", "https://example.com/a"},
    {"http://example.com/a/b/", "https://example.com/a/b"},
    {"http://example.com/a//", "https://example.com/a"},
    {"http://example.com:443/a", "https://example.com/a"},
    {"https://a%25b.example/", "https://a%25b.example/"},
    {"http://example.com/a#frag", "https://example.com/a"},
    {"http://example.com/a?x=1#frag", "https://example.com/a?x=1"},
    {"http://example.com/a?utm_source=rss&utm_medium=feed", "https://example.com/a"},
    {"http://example.com/a?id=7&utm_source=rss", "https://example.com/a?id=7"},
    {"http://example.com/a?UTM_Campaign=x&id=7", "https://example.com/a?id=7"},
    {"http://example.com/a?fbclid=abc", "https://example.com/a"},
    {"http://example.com/a?gclid=1&b=2&a=1", "https://example.com/a?b=2&a=1"},
    {"http://example.com/a?mc_cid=1&mc_eid=2&ref=rss", "https://example.com/a"},
    {"http://example.com/a?_hsenc=1&_hsmi=2&igshid=3&yclid=4&msclkid=5", "https://example.com/a"},
    {"http://example.com/a?z=1&y=2&x=3", "https://example.com/a?z=1&y=2&x=3"},
    {"http://example.com/a?", "https://example.com/a"},
    {"http://example.com/a?&&x=1&&", "https://example.com/a?x=1"},
    {"http://example.com/a?reference=1", "https://example.com/a?reference=1"},
    {"http://example.com/a%20b/%7Euser", "https://example.com/a%20b/%7Euser"},
    {"http://user:pw@example.com/a", "https://example.com/a"},
    {"http://example.com/a/./b/../c", "https://example.com/a/c"},
    {"  http://example.com/a  ", "https://example.com/a"},
    {"http://[::1]:80/x", "https://[::1]/x"},
    {"https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/"},
    {"ftp://example.com/a", NULL},
    {"mailto:a@example.com", NULL},
    {"javascript:alert(1)", NULL},
    {"/relative/path", NULL},
    {"example.com/a", NULL},
    {"", NULL},
    {"http://", NULL},
    {"http://exa mple.com/", NULL},
    {"not a url at all", NULL},
    {"oai:arXiv.org:2506.00001v1", NULL},
    {"tag:example.org,2024:1", NULL},
    {"httpx://example.com/", NULL},
    {"h ttp://example.com/", NULL},
    {"\t\nHTTPS://example.com/a\n", "https://example.com/a"},
    {NULL, NULL},
};

static void test_canon(void)
{
    for (size_t i = 0; i < sizeof(canon) / sizeof(*canon); i++) {
        char *c = tb_norm_url(canon[i].in);
        CHECK_STR(c, canon[i].out);
        if (c) {
            /* Canonical form is a fixed point. */
            char *again = tb_norm_url(c);
            CHECK_STR(again, c);
            free(again);
        }
        free(c);
    }
}

static const struct pair links[] = {
    {"http://Example.com/a?utm_source=x&id=1#sec", "http://example.com/a?id=1#sec"},
    /* Published as the dedupe sees it: host case and default port go. */
    {"https://ARXIV.org:443/abs/2403.10185", "https://arxiv.org/abs/2403.10185"},
    {"HTTPS://ARXIV.org:443/abs/2403.10185?utm_medium=rss", "https://arxiv.org/abs/2403.10185"},
    {"HTTP://Example.COM:80/A/b/?Q=1#Frag", "http://example.com/A/b/?Q=1#Frag"},
    {"http://example.com:443/x", "http://example.com:443/x"},
    {"https://example.com:80/x", "https://example.com:80/x"},
    {"https://User:PW@Example.com:443/x", "https://User:PW@example.com/x"},
    {"http://[::1]:80/x", "http://[::1]/x"},
    {"http://[::1]:8080/x", "http://[::1]:8080/x"},
    {"http://Example.com:8080/x?y#z", "http://example.com:8080/x?y#z"},
    {"https://example.com/a?fbclid=1", "https://example.com/a"},
    {"https://example.com/a?b=2&a=1", "https://example.com/a?b=2&a=1"},
    {"https://example.com:8080/", "https://example.com:8080/"},
    {"ftp://example.com/", NULL},
    {"garbage", NULL},
};

static void test_link(void)
{
    for (size_t i = 0; i < sizeof(links) / sizeof(*links); i++) {
        char *c = tb_norm_link(links[i].in);
        CHECK_STR(c, links[i].out);
        free(c);
    }
}

static const struct pair arxiv[] = {
    {"https://arxiv.org/abs/2401.01234", "2401.01234"},
    {"http://arxiv.org/abs/2401.01234v2", "2401.01234"},
    {"https://arxiv.org/pdf/2401.01234", "2401.01234"},
    {"https://arxiv.org/pdf/2401.01234v3.pdf", "2401.01234"},
    {"https://arxiv.org/pdf/2401.01234.pdf", "2401.01234"},
    {"http://export.arxiv.org/abs/1501.0001v1", "1501.0001"},
    {"https://www.arxiv.org/abs/0704.0001", "0704.0001"},
    {"https://arxiv.org/html/2401.01234v1", "2401.01234"},
    {"https://arxiv.org/abs/hep-th/9901001", "hep-th/9901001"},
    {"https://arxiv.org/abs/hep-th/9901001v2", "hep-th/9901001"},
    {"http://arxiv.org/pdf/cond-mat/0102536v1", "cond-mat/0102536"},
    {"https://arxiv.org/abs/math.GT/0309136", "math/0309136"},
    {"oai:arXiv.org:2401.01234", "2401.01234"},
    {"oai:arXiv.org:2401.01234v1", "2401.01234"},
    {"oai:arxiv.org:hep-th/9901001", "hep-th/9901001"},
    {"arXiv:2401.01234v5", "2401.01234"},
    {"ARXIV:2312.12345", "2312.12345"},
    {"arXiv:2401.01234 [cs.CL]", "2401.01234"},
    {"arXiv:2413.01234", NULL},  /* no month 13 */
    {"arXiv:2401.012345", NULL}, /* six digits */
    {"arXiv:2401.012", NULL},    /* three digits */
    {"2401.01234", NULL},        /* bare ids are too weak */
    {"https://example.com/abs/2401.01234", NULL},
    /* Hugging Face paper pages are the arXiv paper of that id. */
    {"https://huggingface.co/papers/2403.05577", "2403.05577"},
    {"https://www.huggingface.co/papers/2403.05577?utm_source=x", "2403.05577"},
    {"http://HuggingFace.co/papers/2403.05577#community", "2403.05577"},
    {"https://hf.co/papers/2403.05577", "2403.05577"},
    {"https://huggingface.co/papers", NULL},
    {"https://huggingface.co/papers/trending", NULL},
    {"https://huggingface.co/2403.05577", NULL},
    {"https://huggingface.co/models/2403.05577", NULL},
    {"https://nothuggingface.co/papers/2403.05577", NULL},
    {"https://export.arxiv.org/pdf/2403.05577v3", "2403.05577"},
    {"https://www.arxiv.org/html/2403.05577v2", "2403.05577"},
    {"https://notarxiv.org/abs/2401.01234", NULL},
    {"https://arxiv.org/list/cs.CL/recent", NULL},
    {"", NULL},
    {NULL, NULL},
};

static void test_arxiv(void)
{
    char buf[32];

    for (size_t i = 0; i < sizeof(arxiv) / sizeof(*arxiv); i++) {
        int rc = tb_norm_arxiv_id(arxiv[i].in, buf, sizeof(buf));
        if (arxiv[i].out) {
            CHECK_OK(rc);
            CHECK_STR(rc == 0 ? buf : NULL, arxiv[i].out);
        } else {
            CHECK_EQ(rc, -ENOENT);
        }
    }
    CHECK_EQ(tb_norm_arxiv_id("arXiv:2401.01234", buf, 5), -ENOSPC);
    CHECK_EQ(tb_norm_arxiv_id("arXiv:hep-th/9901001", buf, 8), -ENOSPC);
    CHECK_EQ(tb_norm_arxiv_id("arXiv:hep-th/9901001x", buf, 8), -ENOENT);
}

static const struct pair dois[] = {
    {"https://doi.org/10.1000/XYZ123", "10.1000/xyz123"},
    {"http://dx.doi.org/10.1103/PhysRevLett.116.061102", "10.1103/physrevlett.116.061102"},
    {"https://doi.org/10.1000/a%2Fb", "10.1000/a/b"},
    {"doi:10.48550/arXiv.2401.01234", "10.48550/arxiv.2401.01234"},
    {"DOI: 10.1000/abc", "10.1000/abc"},
    {"info:doi/10.1000/abc", "10.1000/abc"},
    {"urn:doi:10.1000/abc", "10.1000/abc"},
    {"10.1000/abc", "10.1000/abc"},
    {"10.1000.5/abc def", "10.1000.5/abc"},
    {"https://link.springer.com/article/10.1007/s10994-021-05946-3", "10.1007/s10994-021-05946-3"},
    {"https://dl.acm.org/doi/pdf/10.1145/3442188.3445922", "10.1145/3442188.3445922"},
    {"https://example.com/10.5/x", NULL}, /* registrant too short */
    {"doi:10.1000/", NULL},
    {"doi:10.1000/ab\x18"
     "cd",
     "10.1000/ab"},
    {"doi:11.1000/abc", NULL},
    {"https://example.com/article", NULL},
    {"ftp://doi.org/10.1000/x", NULL},
    {"", NULL},
    {NULL, NULL},
};

static void test_doi(void)
{
    char buf[64];

    for (size_t i = 0; i < sizeof(dois) / sizeof(*dois); i++) {
        int rc = tb_norm_doi(dois[i].in, buf, sizeof(buf));
        if (dois[i].out) {
            CHECK_OK(rc);
            CHECK_STR(rc == 0 ? buf : NULL, dois[i].out);
        } else {
            CHECK_EQ(rc, -ENOENT);
        }
    }
    CHECK_EQ(tb_norm_doi("doi:10.1000/abcdefghijklmnop", buf, 10), -ENOSPC);
    /* A decoded path that is not UTF-8 makes no DOI; one that is keeps it. */
    CHECK_EQ(tb_norm_doi("https://dx.doi.org/10.1145/3690624.370b%C3%BA%9248", buf, sizeof(buf)),
             -ENOENT);
    CHECK_OK(tb_norm_doi("https://doi.org/10.1000/caf%C3%A9", buf, sizeof(buf)));
    CHECK_STR(buf, "10.1000/caf\xc3\xa9");
}

static struct tb_entry *add(struct tb_feed *f, const char *id, const char *link, const char *title,
                            const char *summary)
{
    struct tb_entry *e = tb_entry_new(f);

    e->id = tb_arena_strdup(&f->arena, id);
    e->link = tb_arena_strdup(&f->arena, link);
    e->title = tb_arena_strdup(&f->arena, title);
    e->summary.value = tb_arena_strdup(&f->arena, summary);
    e->summary.is_html = 1;
    tb_feed_append(f, e);
    return e;
}

static void test_keys(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *a, *b, *c, *d, *g, *h;

    a = add(f, "  urn:uuid:1234  ", "http://example.com/x", "A", NULL);
    b = add(f, NULL, "http://Example.com/x/?utm_source=feed", "B", NULL);
    c = add(f, "", NULL, "T", "<p>S</p>");
    d = add(f, NULL, NULL, "T", "<p>S</p>");
    g = add(f, NULL, NULL, "T", "<p>S2</p>");
    h = add(f, "https://example.com/post/1/", NULL, "P", NULL);
    h->id_is_permalink = 1;
    CHECK_OK(tb_norm_feed(f));
    CHECK_STR(a->key, "id:urn:uuid:1234");
    CHECK_STR(b->key, "link:https://example.com/x");
    CHECK(strncmp(c->key, "hash:", 5) == 0 && strlen(c->key) == 5 + 64);
    CHECK_STR(c->key, d->key);
    CHECK(strcmp(d->key, g->key) != 0);
    CHECK_STR(h->key, "id:https://example.com/post/1/");
    CHECK_STR(h->canon_link, "https://example.com/post/1");
    CHECK_STR(a->canon_link, b->canon_link);
    CHECK(c->canon_link == NULL);
    tb_feed_free(f);
}

/* SHA-256("T\0<p>S</p>\0") must not depend on the sanitized body. */
static void test_hash_stable(void)
{
    struct tb_feed *f1 = tb_feed_new(), *f2 = tb_feed_new();
    struct tb_entry *a = add(f1, NULL, NULL, "T", "<p onclick=x>S</p>");
    struct tb_entry *b = add(f2, NULL, NULL, "T", "<p onclick=x>S</p>");

    f2->base = "https://other.example/";
    CHECK_OK(tb_norm_feed(f1));
    CHECK_OK(tb_norm_feed(f2));
    CHECK_STR(a->key, b->key);
    CHECK_STR(a->summary.value, "<p>S</p>");
    tb_feed_free(f1);
    tb_feed_free(f2);
}

/* The same paper or post through three sources, spelled differently. */
static void test_cross_source(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *a, *b, *c, *d, *e, *g;
    struct tb_link *l;

    a = add(f, "oai:arXiv.org:2401.01234v1", "http://arxiv.org/abs/2401.01234v1", "P", NULL);
    b = add(f, "http://arxiv.org/abs/2401.01234v2", NULL, "P", NULL);
    c = add(f, "tag:aggregator,2024:99", "https://arxiv.org/pdf/2401.01234v2.pdf", "P", NULL);
    d = add(f, NULL, "https://blog.example.com/post/?utm_source=rss#comments", "Q", NULL);
    e = add(f, NULL, "HTTP://BLOG.EXAMPLE.COM:80/post?fbclid=zz", "Q", NULL);
    g = add(f, "x", "https://journal.example/a", "R", NULL);
    l = tb_arena_alloc(&f->arena, sizeof(*l));
    l->href = "https://doi.org/10.1000/ABC";
    l->rel = "related";
    g->links = l;
    CHECK_OK(tb_norm_feed(f));
    CHECK_STR(a->arxiv_id, "2401.01234");
    CHECK_STR(b->arxiv_id, "2401.01234");
    CHECK_STR(c->arxiv_id, "2401.01234");
    CHECK_STR(b->canon_link, "https://arxiv.org/abs/2401.01234v2");
    CHECK_STR(d->canon_link, e->canon_link);
    CHECK_STR(d->canon_link, "https://blog.example.com/post");
    CHECK_STR(g->doi, "10.1000/abc");
    CHECK(a->doi == NULL);
    CHECK(d->arxiv_id == NULL);
    tb_feed_free(f);
}

/* Mentions: the papers an entry links to, once each, its own left out. */
static void test_mentions(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *a, *b, *c, *d;
    struct tb_link *l;

    f->base = "https://news.example/feed";
    a = add(f, NULL, "https://news.example/issue/7", "Issue 7",
            "<p>Read <a href=\"https://arxiv.org/abs/2403.05577v2\">this</a>, "
            "<a href=\"http://export.arxiv.org/pdf/2403.05577\">its PDF</a>, "
            "<a href=\"https://huggingface.co/papers/2401.00001\">HF</a>, "
            "<a href=\"https://dx.doi.org/10.1000/XYZ\">a DOI</a>, "
            "<a href=\"https://blog.example/post/?utm_source=x&amp;a=1&amp;b=2\">a post</a>, "
            "<a href=\"/issue/7\">itself</a>, <a href=\"https://news.example/issue/7\">again</a>"
            " and &lt;a href=\"https://arxiv.org/abs/2402.00002\"&gt; as text.</p>");
    /* An HN-style item: its link is the paper (it carries it), its comments
     * page is a mention of a link. */
    b = add(f, "hn-1", "https://arxiv.org/abs/2403.05577", "[pdf] A paper",
            "<a href=\"https://news.ycombinator.com/item?id=1\">Comments</a>");
    /* Links of the links list count as well; the first arXiv one is the
     * entry's own id (set_ids), a second one a mention. */
    c = add(f, "c", "https://blog.example/c", "C", NULL);
    for (int i = 0; i < 2; i++) {
        l = tb_arena_alloc(&f->arena, sizeof(*l));
        memset(l, 0, sizeof(*l));
        l->href = i ? "https://arxiv.org/abs/2312.00001" : "https://arxiv.org/abs/hep-th/9901001v2";
        l->rel = "related";
        l->next = c->links;
        c->links = l;
    }
    d = add(f, "d", "https://blog.example/d", "D", "<p>No links.</p>");
    CHECK_OK(tb_norm_feed(f));
    CHECK_EQ(a->nmentions, 4);
    if (a->nmentions == 4) {
        CHECK_STR(a->mentions[0], "arxiv:2403.05577");
        CHECK_STR(a->mentions[1], "arxiv:2401.00001");
        CHECK_STR(a->mentions[2], "doi:10.1000/xyz");
        CHECK_STR(a->mentions[3], "link:https://blog.example/post?a=1&b=2");
    }
    CHECK_STR(b->arxiv_id, "2403.05577");
    CHECK_EQ(b->nmentions, 1);
    if (b->nmentions == 1)
        CHECK_STR(b->mentions[0], "link:https://news.ycombinator.com/item?id=1");
    CHECK_STR(c->arxiv_id, "2312.00001");
    CHECK_EQ(c->nmentions, 1);
    if (c->nmentions == 1)
        CHECK_STR(c->mentions[0], "arxiv:hep-th/9901001");
    CHECK_EQ(d->nmentions, 0);
    CHECK(d->mentions == NULL);
    tb_feed_free(f);
}

/* At most TB_NORM_MENTIONS_MAX keys, the first ones. */
static void test_mentions_cap(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_buf b;
    struct tb_entry *e;
    char *html;

    tb_buf_init(&b, 1 << 20);
    for (int i = 0; i < TB_NORM_MENTIONS_MAX + 10; i++)
        CHECK_OK(tb_buf_addf(&b, "<a href=\"https://arxiv.org/abs/2403.%05d\">p</a>", i));
    html = tb_buf_take(&b);
    tb_buf_free(&b);
    e = add(f, "x", "https://news.example/x", "X", html);
    CHECK_OK(tb_norm_feed(f));
    CHECK_EQ(e->nmentions, TB_NORM_MENTIONS_MAX);
    CHECK_STR(e->mentions[0], "arxiv:2403.00000");
    CHECK_STR(e->mentions[TB_NORM_MENTIONS_MAX - 1], "arxiv:2403.00255");
    free(html);
    tb_feed_free(f);
}

static void test_text_title(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *a, *b, *c, *d, *e;
    static const char long_html[] =
        "<p>Entity linking maps mentions in text to entries of a knowledge base, and named "
        "entity recognition finds those mentions first.</p>";

    f->base = "https://example.com/feed/";
    a = add(f, "1", NULL, NULL, long_html);
    b = add(f, "2", NULL, "Given", "<p>Sum <a href=\"/x\">link</a></p>");
    b->content.value = "<div>Sum link and more</div>";
    b->content.is_html = 1;
    c = add(f, "3", NULL, "  ", NULL);
    c->summary.value = "plain <b> text";
    c->summary.is_html = 0;
    d = add(f, "4", NULL, NULL, "<p>Short</p>");
    d->base = "https://entry.example/dir/";
    d->content.value = "<img src=\"i.png\">Other";
    d->content.is_html = 1;
    e = add(f, "5", NULL, NULL, NULL);
    CHECK_OK(tb_norm_feed(f));
    CHECK_STR(a->title, "Entity linking maps mentions in text to entries of a knowledge base, and "
                        "named\xe2\x80\xa6");
    CHECK_STR(b->title, "Given");
    CHECK_STR(b->text, "Sum link and more");
    CHECK_STR(b->summary.value, "<p>Sum <a href=\"https://example.com/x\">link</a></p>");
    CHECK_STR(c->title, "plain <b> text");
    CHECK_STR(c->text, "plain <b> text");
    CHECK_STR(d->text, "Short\nOther");
    CHECK_STR(d->title, "Short Other");
    CHECK_STR(d->content.value, "<img src=\"https://entry.example/dir/i.png\">Other");
    CHECK_STR(e->text, "");
    CHECK(e->title == NULL);
    tb_feed_free(f);
}

/* Entries with and without title, HTML and plain bodies, links. */
static struct tb_feed *mixed_feed(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e;

    f->base = "https://example.com/feed/";
    add(f, "1", NULL, NULL, "<p>Entity linking <b>maps</b> mentions</p>");
    e = add(f, "2", "http://Example.com/a/?utm_source=x", "Given", "<p><a href=\"/x\">l</a></p>");
    e->content.value = "<div onclick=\"x()\">More</div>";
    e->content.is_html = 1;
    add(f, NULL, "https://arxiv.org/abs/2401.01234v2", "  ", "<p>Blank title</p>");
    add(f, NULL, NULL, "Hashed", "<p>S</p>");
    return f;
}

/* TB_NORM_NO_TEXT changes nothing but text, which only untitled entries get. */
static void test_no_text(void)
{
    struct tb_feed *f = mixed_feed(), *g = mixed_feed();
    const struct tb_entry *a, *b;

    CHECK_OK(tb_norm_feed(f));
    CHECK_OK(tb_norm_feed_opts(g, TB_NORM_NO_TEXT));
    for (a = f->entries, b = g->entries; a && b; a = a->next, b = b->next) {
        CHECK_STR(a->title, b->title);
        CHECK_STR(a->key, b->key);
        CHECK_STR(a->summary.value, b->summary.value);
        CHECK(a->content.value == b->content.value ||
              strcmp(a->content.value, b->content.value) == 0);
        CHECK(a->link == b->link || strcmp(a->link, b->link) == 0);
        CHECK(a->canon_link == b->canon_link || strcmp(a->canon_link, b->canon_link) == 0);
        CHECK(a->arxiv_id == b->arxiv_id || strcmp(a->arxiv_id, b->arxiv_id) == 0);
        CHECK(a->text != NULL);
    }
    CHECK(a == NULL && b == NULL);
    b = g->entries;
    CHECK_STR(b->title, "Entity linking maps mentions");
    CHECK(b->text != NULL);             /* made for the title */
    CHECK(b->next->text == NULL);       /* titled: no text */
    CHECK(b->next->next->text != NULL); /* blank title */
    CHECK(b->next->next->next->text == NULL);
    tb_feed_free(f);
    tb_feed_free(g);
}

static void test_text_cap(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e = tb_entry_new(f);
    size_t n = 3 * 40000;
    char *big = tb_arena_alloc(&f->arena, n + 1);

    for (size_t i = 0; i < n; i += 3)
        memcpy(big + i, "\xe2\x82\xac", 3); /* 40000 x U+20AC, 120000 bytes */
    e->id = "x";
    e->content.value = big;
    tb_feed_append(f, e);
    CHECK_OK(tb_norm_feed(f));
    CHECK(strlen(e->text) <= TB_NORM_TEXT_MAX);
    CHECK(strlen(e->text) > TB_NORM_TEXT_MAX - 3);
    CHECK_EQ(strlen(e->text) % 3, 0);
    tb_feed_free(f);
}

/* A 10 MB title and a 3 MB body are cut to the caps, at a character. */
static void test_size_caps(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e = tb_entry_new(f);
    size_t n = 10 << 20, b = 3 << 20;
    char *title = tb_arena_alloc(&f->arena, n + 1), *body = tb_arena_alloc(&f->arena, b + 1);

    memset(title, 'T', n);
    title[TB_NORM_TITLE_MAX - 1] = '\xc3'; /* a two-byte character across the cut */
    title[TB_NORM_TITLE_MAX] = '\xa9';
    for (size_t i = 0; i < b; i += 4)
        memcpy(body + i, "<p>", i + 4 <= b ? 3 : 0), body[i + 3] = 'x';
    e->id = "x";
    e->title = title;
    e->content.value = body;
    e->content.is_html = 1;
    tb_feed_append(f, e);
    CHECK_OK(tb_norm_feed(f));
    CHECK_EQ(strlen(e->title), TB_NORM_TITLE_MAX - 1 + 3);
    CHECK(strcmp(e->title + TB_NORM_TITLE_MAX - 1, "\xe2\x80\xa6") == 0);
    /* "<p>x" becomes "<p>x</p>": twice the cut input, not twice the whole. */
    CHECK(strlen(e->content.value) <= 2 * TB_NORM_BODY_MAX);
    tb_feed_free(f);
}

static void test_script_url(void)
{
    static const char *const yes[] = {
        "javascript:alert(1)", " JaVaScRiPt:x",    "java\tscript:x",
        "\x01\x02vbscript:x",  "DATA:text/html,x", "j a v a s c r i p t:x",
    };
    static const char *const no[] = {
        NULL,
        "",
        "https://x/javascript:",
        "/javascript:x",
        "javascript",
        "javascript%3Ax",
        "mailto:a@b",
        "urn:x",
        "java-script:x",
        "xjavascript:x",
    };

    for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++)
        CHECK(tb_norm_is_script_url(yes[i]));
    for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++)
        CHECK(!tb_norm_is_script_url(no[i]));
}

/* RFC 3986 syntax, as atom:id and the published ids need it. */
static void test_is_uri(void)
{
    static const char *const yes[] = {
        "https://example.org/a?b=1&c=%20#frag",
        "http://user:pw@[2001:db8::1]:8080/p",
        "http://example.org",
        "tag:example.org,2024:entry-1",
        "oai:arXiv.org:2010.00904v2",
        "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
        "URN:UUID:1225C695-CFB8-4EBB-AAAA-80DA344EFA6A",
        "urn:isbn:0451450523",
        "urn:feed:a",
        "mailto:a@example.org",
        "file:///tmp/out%20caf%C3%A9%20%231.rss",
        "https://例え.jp/パス", /* an IRI: non-ASCII characters */
        "doi:10.1000/182",
    };
    static const char *const no[] = {
        NULL,
        "",
        "x",
        "a:",
        "c:/windows/path",     /* a drive letter, not a scheme */
        "/tmp/feed.xml",       /* a bare path */
        "feeds/x.rss",         /* a relative path */
        "1http://x/",          /* a scheme starts with a letter */
        "urn:uuid:not-a-uuid", /* the issue's malformed urn:uuid */
        "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6",
        "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a0",
        "urn:uuid:1225c695cfb84ebbaaaa80da344efa6a",
        "urn:uuid:{1225c695-cfb8-4ebb-aaaa-80da344efa6a}",
        "urn:uuid:1225c695 cfb8-4ebb-aaaa-80da344efa6a",
        "urn:x",     /* NID of one character */
        "urn:-ab:x", /* NID starting with a hyphen */
        "urn:isbn:", /* empty NSS */
        "urn:isbn",
        "https://example.org/a b", /* white space */
        "https://example.org/a\tb",
        " https://example.org/",
        "https://example.org/%zz", /* bad percent-encoding */
        "https://example.org/%4",
        "https://example.org/a#b#c", /* two fragments */
        "https://example.org/<a>",
        "https://example.org/a\"b",
        "https://example.org/{x}",
        "https://example.org/a|b",
        "https://exa mple.org/",
        "http://[::1/",            /* unclosed IP literal */
        "http://example.org:80a/", /* a port of digits */
        "http://a@b@c/",
    };

    for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
        if (!tb_norm_is_uri(yes[i]))
            fprintf(stderr, "not a URI: '%s'\n", yes[i]);
        CHECK(tb_norm_is_uri(yes[i]));
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++) {
        if (tb_norm_is_uri(no[i]))
            fprintf(stderr, "a URI: '%s'\n", no[i]);
        CHECK(!tb_norm_is_uri(no[i]));
    }
}

/* Adds a link, a person and a category to e. */
static void add_extras(struct tb_feed *f, struct tb_entry *e, const char *href, const char *uri,
                       const char *term)
{
    struct tb_link *l = tb_arena_alloc(&f->arena, sizeof(*l));
    struct tb_person *p = tb_arena_alloc(&f->arena, sizeof(*p));
    struct tb_category *c = tb_arena_alloc(&f->arena, sizeof(*c));

    *l = (struct tb_link){e->links, href, "enclosure", NULL, NULL, -1};
    e->links = l;
    *p = (struct tb_person){e->authors, "N", NULL, uri};
    e->authors = p;
    *c = (struct tb_category){e->categories, term, href, NULL};
    e->categories = c;
}

/* Links that could run script are never passed on to publishing. */
static void test_hostile_links(void)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *a = add(f, "urn:a", " JaVaScRiPt:alert(1)", "A", NULL);
    struct tb_entry *b = add(f, "urn:b", "https://ok.example/b?utm_source=x", "B", NULL);

    add_extras(f, a, "data:text/html,x", "vbscript:x", "javascript:alert(1)");
    add_extras(f, a, "https://ok.example/a.mp3", "mailto:a@ok.example", "cs.CL");
    add_extras(f, b, "java\tscript:x", "https://ok.example/me", "NER");
    f->link = "javascript:alert(1)";
    f->self = "https://ok.example/feed";
    f->hub = "data:,x";
    f->icon = "vbscript:x";
    f->id = "javascript:alert(2)";
    CHECK_OK(tb_norm_feed(f));
    CHECK(a->link == NULL);
    CHECK_STR(a->key, "id:urn:a");
    CHECK_STR(b->link, "https://ok.example/b");
    CHECK(a->links && a->links->next == NULL);
    CHECK_STR(a->links->href, "https://ok.example/a.mp3");
    CHECK_STR(a->authors->uri, "mailto:a@ok.example");
    CHECK(a->authors->next->uri == NULL);
    CHECK(a->categories && a->categories->next == NULL);
    CHECK_STR(a->categories->term, "cs.CL");
    CHECK(b->links == NULL);
    CHECK_STR(b->authors->uri, "https://ok.example/me");
    CHECK_STR(b->categories->term, "NER");
    CHECK(b->categories->scheme == NULL);
    CHECK(f->link == NULL && f->hub == NULL && f->icon == NULL && f->id == NULL);
    CHECK_STR(f->self, "https://ok.example/feed");
    tb_feed_free(f);
}

/* Whether two results (either may be NULL) are the same string. */
static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Whether curl's parse and print (as tb__parse_url() does them) give url
 * back as it is. */
static int curl_keeps(const char *url)
{
    CURLU *u = curl_url();
    char *out = NULL;
    int same = u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
               curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK && strcmp(out, url) == 0;

    curl_free(out);
    curl_url_cleanup(u);
    return same;
}

/* Every URL function gives url the answer it gives url + " ": the space is
 * trimmed by curl's path, but keeps the URL off the path that splits simple
 * URLs without curl, so the two paths are compared. And a URL taken as
 * simple is one curl gives back unchanged, which is what lets
 * tb__parse_url() skip curl for it. */
static void check_paths_agree(const char *url)
{
    char spaced[512], a[256], b[256];
    int ra, rb, failures = check_failures;
    struct tb_parse_url_split sp;
    char *x, *y;

    snprintf(spaced, sizeof(spaced), "%s ", url);
    x = tb_norm_url(url);
    y = tb_norm_url(spaced);
    CHECK(same(x, y));
    free(x);
    free(y);
    x = tb_norm_link(url);
    y = tb_norm_link(spaced);
    CHECK(same(x, y));
    free(x);
    free(y);
    ra = tb_norm_arxiv_id(url, a, sizeof(a));
    rb = tb_norm_arxiv_id(spaced, b, sizeof(b));
    CHECK(ra == rb && (ra != 0 || strcmp(a, b) == 0));
    ra = tb_norm_doi(url, a, sizeof(a));
    rb = tb_norm_doi(spaced, b, sizeof(b));
    CHECK(ra == rb && (ra != 0 || strcmp(a, b) == 0));
    CHECK(!tb_parse_url_simple(url, &sp) || curl_keeps(url));
    if (check_failures > failures)
        fprintf(stderr, "paths disagree on '%s'\n", url);
}

/* The simple-URL path agrees with curl's on URLs at and past its edges. */
static void test_simple_urls(void)
{
    static const char *const schemes[] = {"http://", "https://", "HTTPS://", "http:/", "http:"};
    static const char *const hosts[] = {"example.com",
                                        "arxiv.org",
                                        "export.arxiv.org",
                                        "doi.org",
                                        "arXiv.org",
                                        "dx.doi.org",
                                        "a-b.c0",
                                        "x",
                                        "1.2.3.4",
                                        "127.1",
                                        "0x7f.1",
                                        "a.1",
                                        "1a.b",
                                        "a..b",
                                        ".a",
                                        "a.b.",
                                        "-a.b",
                                        "ex_ample.com",
                                        "EXAMPLE.com",
                                        "A-B.C0",
                                        "1A.b",
                                        "a%41b",
                                        "xn--bcher-kva.example",
                                        "u@h",
                                        "u:p@h",
                                        "[::1]",
                                        "b\xc3\xa9.fr",
                                        ""};
    static const char *const ports[] = {"",   ":80",    ":443",   ":8080", ":0",     ":080",
                                        ":1", ":65535", ":65536", ":",     ":99999", ":8a"};
    static const char *const paths[] = {"",
                                        "/",
                                        "/a",
                                        "/a/",
                                        "/a//",
                                        "//a",
                                        "/abs/2401.01234",
                                        "/abs/2401.01234v2",
                                        "/pdf/hep-th/9901001v1",
                                        "/html/2401.01234",
                                        "/10.1234/ABC(1)",
                                        "/x/10.5555/q+r",
                                        "/a/./b",
                                        "/a/../b",
                                        "/.",
                                        "/..",
                                        "/...",
                                        "/a/.b",
                                        "/a/..",
                                        "/a/.",
                                        "/a+b",
                                        "/a;b=c,d",
                                        "/~u/!$'()*",
                                        "/a:b@c",
                                        "/%7e",
                                        "/%2e%2e/x",
                                        "/a b",
                                        "/\xc3\xa9",
                                        "/a\\b",
                                        "/a\tb",
                                        "/a\"b",
                                        "/a<b>",
                                        "/a{b}",
                                        "/a|b",
                                        "/a^b",
                                        "/a`b",
                                        "/a[b]"};
    static const char *const queries[] = {"",
                                          "?",
                                          "?x=1",
                                          "?utm_source=a&id=2",
                                          "?a=1?b",
                                          "?a=/b",
                                          "?&&",
                                          "?a=%41",
                                          "#f",
                                          "?x=1#f",
                                          "?a b",
                                          "?fbclid=1",
                                          "?a=\xc3\xa9",
                                          "?a=[1]",
                                          "#",
                                          "?#f",
                                          "?x#",
                                          "#a/b?c:d@e",
                                          "#a#b",
                                          "#a b",
                                          "#%41",
                                          "?utm_medium=feed&a=1#abstract",
                                          "#!$&'()*+,;=~"};
    char url[512];
    size_t s, h, p, q, k;

    for (s = 0; s < sizeof(schemes) / sizeof(*schemes); s++) {
        for (h = 0; h < sizeof(hosts) / sizeof(*hosts); h++) {
            for (p = 0; p < sizeof(ports) / sizeof(*ports); p++) {
                snprintf(url, sizeof(url), "%s%s%s/abs/2401.01234", schemes[s], hosts[h], ports[p]);
                check_paths_agree(url);
            }
        }
    }
    for (s = 0; s < 2; s++) {
        for (k = 0; k < 5; k++) {
            for (p = 0; p < sizeof(paths) / sizeof(*paths); p++) {
                for (q = 0; q < sizeof(queries) / sizeof(*queries); q++) {
                    snprintf(url, sizeof(url), "%s%s%s%s%s", schemes[s], hosts[k],
                             k == 3 ? ":8080" : "", paths[p], queries[q]);
                    check_paths_agree(url);
                }
            }
        }
    }
}

/* The names of e's authors joined by "|". */
static const char *author_names(struct tb_feed *f, const struct tb_entry *e)
{
    static char buf[512];
    size_t n = 0;

    (void)f;
    buf[0] = '\0';
    for (const struct tb_person *p = e->authors; p && n < sizeof(buf); p = p->next)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "|" : "", p->name);
    return buf;
}

static struct tb_person *one_author(struct tb_feed *f, const char *name)
{
    struct tb_person *p = tb_arena_alloc(&f->arena, sizeof(*p));

    *p = (struct tb_person){NULL, tb_arena_strdup(&f->arena, name), NULL, NULL};
    return p;
}

/* arXiv's announcement shape: the abstract alone, one author per name; a
 * name suffix stays with its name; the same author string in an entry of
 * another shape is one person ("Lovelace, Ada"). */
static void test_announcement(void)
{
    static const struct {
        const char *summary, *creator, *want_summary, *want_authors;
    } cases[] = {
        {"arXiv:2403.05577v1 Announce Type: new \nAbstract: We study X.", "A One, B Two, C Three",
         "We study X.", "A One|B Two|C Three"},
        {"arXiv:2403.05580v2 Announce Type: replace-cross\nAbstract:  Y &amp; Z.",
         "A One, B Two and C Three", "Y &amp; Z.", "A One|B Two|C Three"},
        {"arXiv:hep-th/9901001v1 Announce Type: cross\nAbstract: W.",
         "Martin Luther King, Jr., Leslie Lamport, and Radia Perlman", "W.",
         "Martin Luther King, Jr.|Leslie Lamport|Radia Perlman"},
        {"arXiv:2403.05601v1 Announce Type: new \nAbstract: V.", "Frances Allen", "V.",
         "Frances Allen"},
        {"Not announced: A, B", "Lovelace, Ada", "Not announced: A, B", "Lovelace, Ada"},
        {"arXiv:2403.05577v1 is a paper. Abstract: no", "A, B",
         "arXiv:2403.05577v1 is a paper. "
         "Abstract: no",
         "A, B"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct tb_feed *f = tb_feed_new();
        struct tb_entry *e =
            add(f, "urn:x", "https://arxiv.org/abs/2403.05577", "T", cases[i].summary);

        e->authors = one_author(f, cases[i].creator);
        CHECK_OK(tb_norm_feed(f));
        CHECK_STR(e->summary.value, cases[i].want_summary);
        CHECK_STR(author_names(f, e), cases[i].want_authors);
        tb_feed_free(f);
    }
}

int main(void)
{
    test_canon();
    test_link();
    test_arxiv();
    test_doi();
    test_keys();
    test_hash_stable();
    test_cross_source();
    test_mentions();
    test_mentions_cap();
    test_text_title();
    test_no_text();
    test_text_cap();
    test_size_caps();
    test_script_url();
    test_is_uri();
    test_hostile_links();
    test_simple_urls();
    test_announcement();
    CHECK_DONE();
}
