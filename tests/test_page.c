/*
 * tb_page: hostile titles, authors, categories, links and config text come
 * out as text; pages have the structure the site promises (one h1, the
 * feeds' autodiscovery, ranks in order, abstract behind <details>, the
 * reason for an empty list); the stylesheet's colours meet WCAG AA contrast
 * in the light and the dark scheme.
 */
#include "tb_page.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static const char *hostile = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>&amp;";

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    const char *p = hay;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

static void make_entry(struct tb_entry *e, struct tb_person *a, struct tb_category *c)
{
    memset(e, 0, sizeof(*e));
    memset(a, 0, sizeof(*a));
    memset(c, 0, sizeof(*c));
    a->name = hostile;
    c->term = hostile;
    e->title = hostile;
    e->link = "javascript:alert(1)";
    e->authors = a;
    e->categories = c;
    e->text = hostile;
    e->published = 1710115200; /* 2024-03-11 */
    e->updated = TB_TIME_NONE;
}

static void test_escaping(void)
{
    struct tb_page_topic topics[] = {{"t1", hostile, 0}};
    struct tb_page_site site = {hostile, hostile, "http://x.example/", topics, 1, 1, 0};
    const char *names[] = {hostile};
    const char *links[] = {"javascript:alert(1)"};
    struct tb_entry e;
    struct tb_person a;
    struct tb_category c;
    struct tb_page_paper p = {&e, names, 1, NULL, 0, links};
    const char *text[] = {hostile};
    struct tb_page_field fields[] = {{TB_PAGE_HIDDEN, NULL, hostile, hostile, hostile, 0},
                                     {TB_PAGE_CHECKBOX, hostile, hostile, hostile, hostile, 1},
                                     {TB_PAGE_BUTTON, NULL, hostile, hostile, hostile, 0}};
    struct tb_page_notice notice = {hostile, text, 1, hostile, fields, 3, hostile, hostile, 1};
    struct tb_buf b;

    make_entry(&e, &a, &c);
    tb_buf_init(&b, 1 << 20);
    CHECK_OK(tb_page_index(&site, &p, 1, NULL, 0, hostile, &b));
    CHECK_OK(tb_page_topic(&site, 0, &p, 1, &p, 1, hostile, &b));
    CHECK_OK(tb_page_trending(&site, (size_t)-1, &p, 1, hostile, &b));
    CHECK_OK(tb_page_trending(&site, 0, &p, 1, hostile, &b));
    CHECK_OK(tb_page_trending(&site, 0, NULL, 0, hostile, &b));
    CHECK_OK(tb_page_notice(&site, &notice, &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    CHECK(b.data != NULL);
    if (b.data != NULL) {
        CHECK(strstr(b.data, "<script") == NULL);
        CHECK(strstr(b.data, "<img") == NULL);
        CHECK(strstr(b.data, "javascript:") == NULL);
        CHECK(strstr(b.data, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;") != NULL);
        CHECK(strstr(b.data, "&amp;amp;") != NULL);
        CHECK(strstr(b.data, "onerror=alert(1)&gt;") != NULL);
    }
    tb_buf_free(&b);
}

static void test_structure(void)
{
    struct tb_page_topic topics[] = {{"nlp", "Language", 0}, {"vision", "Vision", 0}};
    struct tb_page_site site = {"My papers", NULL, "http://x.example/", topics, 2, 0, 0};
    const char *names[] = {"arXiv", "Hacker News"};
    const char *tnames[] = {"nlp"};
    struct tb_entry e[2];
    struct tb_person a[2];
    struct tb_category c[2];
    struct tb_page_paper p[2] = {{&e[0], names, 2, tnames, 1, NULL},
                                 {&e[1], names, 1, NULL, 0, NULL}};
    char longtext[1200];
    struct tb_buf b;
    const char *first, *second;

    memset(longtext, 'w', sizeof(longtext) - 1);
    for (size_t i = 5; i < sizeof(longtext) - 1; i += 6)
        longtext[i] = ' ';
    longtext[sizeof(longtext) - 1] = '\0';
    make_entry(&e[0], &a[0], &c[0]);
    make_entry(&e[1], &a[1], &c[1]);
    e[0].title = "First paper";
    e[0].link = "https://arxiv.org/abs/2403.05577";
    e[0].arxiv_id = "2403.05577";
    e[0].text = longtext;
    e[1].title = "Second paper";
    e[1].text = "arXiv:2401.00001v1 Announce Type: new Abstract: Short one.";
    tb_buf_init(&b, 1 << 20);
    CHECK_OK(tb_page_index(&site, p, 2, p, 1, "unused", &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    if (b.data != NULL) {
        CHECK_EQ(count(b.data, "<h1>"), 1);
        CHECK(strstr(b.data, "<html lang=\"en\">") != NULL);
        CHECK(strstr(b.data, "name=\"viewport\"") != NULL);
        CHECK(strstr(b.data, "<script") == NULL);
        CHECK(strstr(b.data, "href=\"style.css\"") != NULL);
        CHECK(strstr(b.data, "<link rel=\"icon\" type=\"image/svg+xml\" href=\"favicon.svg\">") !=
              NULL);
        /* autodiscovery: trending, all and 2 topics, 3 formats each */
        CHECK_EQ(count(b.data, "<link rel=\"alternate\""), 12);
        CHECK(strstr(b.data, "href=\"topics/vision.atom\"") != NULL);
        first = strstr(b.data, "First paper");
        second = strstr(b.data, "Second paper");
        CHECK(first != NULL && second != NULL && first < second);
        CHECK(strstr(b.data, "<p class=\"rank\">1</p>") != NULL);
        CHECK(strstr(b.data, "<p class=\"rank\">2</p>") != NULL);
        CHECK(strstr(b.data, "<a href=\"https://arxiv.org/abs/2403.05577\">First paper</a>") !=
              NULL);
        CHECK(strstr(b.data, "href=\"https://arxiv.org/pdf/2403.05577\">PDF</a>") != NULL);
        CHECK(strstr(b.data, "2 sources: arXiv, Hacker News</span>") != NULL);
        CHECK(strstr(b.data, "1 source: arXiv") != NULL);
        CHECK_EQ(count(b.data, "<details>"), 1);
        CHECK(strstr(b.data, "<p class=\"abstract\">Short one.</p>") != NULL);
        CHECK(strstr(b.data, "<a href=\"topics/nlp.html\">Language</a>") != NULL);
        CHECK(strstr(b.data, "value=\"http://x.example/topics/nlp.atom\"") != NULL);
        CHECK(strstr(b.data, "<time datetime=\"2024-03-11T00:00:00Z\">2024-03-11</time>") != NULL);
        CHECK(strstr(b.data, "unused") == NULL);
        CHECK(strstr(b.data, "Newest entries") == NULL); /* only when nothing trends */
    }
    tb_buf_reset(&b);
    CHECK_OK(tb_page_index(&site, NULL, 0, &p[1], 1, "Nothing trends", &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    if (b.data != NULL) {
        CHECK(strstr(b.data, "<p class=\"empty\">Nothing trends</p>") != NULL);
        CHECK(strstr(b.data, "<h2 id=\"newest\">Newest entries</h2>\n<ul class=\"papers\">") !=
              NULL);
        CHECK(strstr(b.data, "Second paper") != NULL);
        CHECK(strstr(b.data, "class=\"rank\"") == NULL);
    }
    tb_buf_reset(&b);
    CHECK_OK(tb_page_topic(&site, 1, NULL, 0, NULL, 0, "Nothing here", &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    if (b.data != NULL) {
        CHECK_EQ(count(b.data, "<h1>"), 1);
        CHECK(strstr(b.data, "<h1>Vision</h1>") != NULL);
        CHECK(strstr(b.data, "href=\"../style.css\"") != NULL);
        CHECK(strstr(b.data, "<p class=\"empty\">Nothing here</p>") != NULL);
        CHECK(strstr(b.data, "vision.html\" aria-current=\"page\"") != NULL);
        CHECK(strstr(b.data, "/archive/") == NULL); /* no archive page yet */
    }
    /* A topic with archive pages links the newest one as its older entries. */
    topics[1].archive = 7;
    tb_buf_reset(&b);
    CHECK_OK(tb_page_topic(&site, 1, NULL, 0, NULL, 0, "Nothing here", &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    if (b.data != NULL)
        CHECK(strstr(b.data, "<a href=\"vision/archive/7.html\">Older entries</a>") != NULL);
    topics[1].archive = 0;
    /* The front page links /all's newest archive page, when there is one. */
    tb_buf_reset(&b);
    CHECK_OK(tb_page_index(&site, NULL, 0, NULL, 0, "Nothing", &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    if (b.data != NULL)
        CHECK(strstr(b.data, "archive/") == NULL);
    site.archive = 12;
    tb_buf_reset(&b);
    CHECK_OK(tb_page_index(&site, NULL, 0, NULL, 0, "Nothing", &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    if (b.data != NULL)
        CHECK(strstr(b.data, "<a href=\"archive/12.html\">Older entries</a>") != NULL);
    site.archive = 0;
    CHECK_EQ(tb_page_topic(&site, 2, NULL, 0, NULL, 0, "", &b), -EINVAL);
    tb_buf_free(&b);
}

/* An archive page's HTML form: the topic's look (stylesheet, banner with
 * the topic current), its entries, and older / newer / newest links that
 * do not depend on how many pages there are. */
static void test_archive_page(void)
{
    struct tb_page_topic topics[] = {{"nlp", "Language", 3}, {"vision", "Vision", 9}};
    struct tb_page_site site = {"My papers", NULL, "http://x.example/", topics, 2, 0, 4};
    struct tb_entry e = {.title = "A paper", .link = "https://p.example/1"};
    struct tb_page_paper p = {.entry = &e};
    struct tb_buf b, b2;

    tb_buf_init(&b, 1 << 20);
    tb_buf_init(&b2, 1 << 20);
    CHECK_OK(tb_page_archive(&site, 1, 2, &p, 1, &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    if (b.data != NULL) {
        CHECK_EQ(count(b.data, "<h1>"), 1);
        CHECK(strstr(b.data, "<h1>Vision: older entries, page 2</h1>") != NULL);
        CHECK(strstr(b.data, "href=\"../../../style.css\"") != NULL);
        CHECK(strstr(b.data, "vision.html\" aria-current=\"page\"") != NULL);
        CHECK(strstr(b.data, "A paper") != NULL);
        CHECK_EQ(count(b.data, "<a href=\"1.html\" rel=\"prev\">Older entries</a>"), 2);
        CHECK_EQ(count(b.data, "<a href=\"3.html\" rel=\"next\">Newer entries</a>"), 2);
        CHECK_EQ(count(b.data, "<a href=\"../../../topics/vision.html\">Newest entries</a>"), 2);
    }
    /* The same page whatever the page counts are now. */
    topics[1].archive = 20;
    site.archive = 30;
    CHECK_OK(tb_page_archive(&site, 1, 2, &p, 1, &b2));
    CHECK_OK(tb_buf_add(&b2, "", 1));
    CHECK_EQ(b.len, b2.len);
    if (b.data != NULL && b2.data != NULL)
        CHECK(memcmp(b.data, b2.data, b.len) == 0);
    /* Page 1 of /all: nothing older; the front page is the newest. */
    tb_buf_reset(&b);
    CHECK_OK(tb_page_archive(&site, (size_t)-1, 1, NULL, 0, &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    if (b.data != NULL) {
        CHECK(strstr(b.data, "Older entries") == NULL);
        CHECK(strstr(b.data, "href=\"../style.css\"") != NULL);
        CHECK(strstr(b.data, "<a href=\"2.html\" rel=\"next\">") != NULL);
        CHECK(strstr(b.data, "<a href=\"../\">Newest entries</a>") != NULL);
    }
    CHECK_EQ(tb_page_archive(&site, 2, 1, NULL, 0, &b), -EINVAL);
    CHECK_EQ(tb_page_archive(&site, 0, 0, NULL, 0, &b), -EINVAL);
    tb_buf_free(&b);
    tb_buf_free(&b2);
}

/* trending.html and trending/NAME.html: the front page's cards, ranked,
 * with the trending feeds' autodiscovery links and subscribe box, and the
 * navigation and topic pages linking them. */
static void test_trending(void)
{
    struct tb_page_topic topics[] = {{"nlp", "Language", 0}, {"vision", "Vision", 0}};
    struct tb_page_site site = {"My papers", NULL, "http://x.example/", topics, 2, 0, 0};
    const char *names[] = {"arXiv", "Hacker News"};
    /* Each source links its own entry where it has an http(s) one. */
    const char *links[] = {"https://arxiv.org/abs/2403.05577", NULL};
    struct tb_entry e[2];
    struct tb_person a[2];
    struct tb_category c[2];
    struct tb_page_paper p[2] = {{&e[0], names, 2, NULL, 0, links},
                                 {&e[1], names, 1, NULL, 0, NULL}};
    struct tb_buf b;
    const char *first, *second;

    make_entry(&e[0], &a[0], &c[0]);
    make_entry(&e[1], &a[1], &c[1]);
    e[0].title = "First paper";
    e[0].link = "https://arxiv.org/abs/2403.05577";
    e[1].title = "Second paper";
    tb_buf_init(&b, 1 << 20);
    CHECK_OK(tb_page_trending(&site, (size_t)-1, p, 2, "unused", &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    if (b.data != NULL) {
        CHECK_EQ(count(b.data, "<h1>"), 1);
        CHECK(strstr(b.data, "<h1>Trending papers</h1>") != NULL);
        CHECK(strstr(b.data, "<title>Trending papers · My papers</title>") != NULL);
        CHECK(strstr(b.data, "<link rel=\"alternate\" type=\"application/atom+xml\" "
                             "title=\"Trending papers (Atom)\" href=\"trending.atom\">") != NULL);
        CHECK(strstr(b.data, "href=\"trending.rss\"") != NULL);
        CHECK(strstr(b.data, "href=\"trending.json\"") != NULL);
        CHECK(strstr(b.data, "href=\"topics/vision.atom\"") != NULL);
        CHECK(strstr(b.data, "value=\"http://x.example/trending.atom\"") != NULL);
        CHECK(strstr(b.data, "href=\"trending.html\" aria-current=\"page\">Trending</a>") != NULL);
        CHECK(strstr(b.data, "<p class=\"rank\">2</p>") != NULL);
        CHECK(strstr(b.data, "2 sources: <a href=\"https://arxiv.org/abs/2403.05577\">arXiv</a>, "
                             "Hacker News</span>") != NULL);
        CHECK(strstr(b.data, "1 source: arXiv</span>") != NULL);
        first = strstr(b.data, "First paper");
        second = strstr(b.data, "Second paper");
        CHECK(first != NULL && second != NULL && first < second);
        CHECK(strstr(b.data, "unused") == NULL);
    }
    tb_buf_reset(&b);
    CHECK_OK(tb_page_trending(&site, 1, NULL, 0, "Nothing trends here", &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    if (b.data != NULL) {
        CHECK_EQ(count(b.data, "<h1>"), 1);
        CHECK(strstr(b.data, "<h1>Trending in Vision</h1>") != NULL);
        CHECK(strstr(b.data, "href=\"../style.css\"") != NULL);
        CHECK(strstr(b.data, "title=\"Vision: trending (RSS)\" href=\"../trending/vision.rss\"") !=
              NULL);
        CHECK(strstr(b.data, "value=\"http://x.example/trending/vision.atom\"") != NULL);
        CHECK(strstr(b.data, "<a href=\"../topics/vision.html\">Newest in Vision</a>") != NULL);
        CHECK(strstr(b.data, "<p class=\"empty\">Nothing trends here</p>") != NULL);
        CHECK(strstr(b.data, "aria-current") == NULL);
    }
    CHECK_EQ(tb_page_trending(&site, 2, NULL, 0, "", &b), -EINVAL);
    /* The front page and the topic pages link them. */
    tb_buf_reset(&b);
    CHECK_OK(tb_page_index(&site, p, 2, NULL, 0, "unused", &b));
    CHECK_OK(tb_page_topic(&site, 0, p, 1, NULL, 0, "", &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    if (b.data != NULL) {
        CHECK(strstr(b.data, "<a href=\"trending.html\">All trending papers</a>") != NULL);
        CHECK(strstr(b.data, "<a href=\"../trending/nlp.html\">All trending in Language</a>") !=
              NULL);
        CHECK(strstr(b.data, "href=\"../trending/nlp.atom\"") != NULL);
        CHECK(strstr(b.data, "value=\"http://x.example/trending/nlp.atom\"") != NULL);
        CHECK(strstr(b.data, "value=\"http://x.example/trending.atom\"") != NULL);
    }
    tb_buf_free(&b);
}

/* The subscribe-by-email form: on every page when the site mails, never otherwise. */
static void test_mail_form(void)
{
    struct tb_page_topic topics[] = {{"nlp", "Language", 0}, {"vision", "Vision", 0}};
    struct tb_page_site site = {"My papers", NULL, "http://x.example/", topics, 2, 1, 0};
    struct tb_buf b;
    int mail;

    tb_buf_init(&b, 1 << 20);
    for (mail = 1; mail >= 0; mail--) {
        site.mail = mail;
        tb_buf_reset(&b);
        CHECK_OK(tb_page_index(&site, NULL, 0, NULL, 0, "none", &b));
        CHECK_OK(tb_buf_add(&b, "", 1));
        if (!mail) {
            CHECK(strstr(b.data, "<form") == NULL && strstr(b.data, "email") == NULL);
            break;
        }
        CHECK(strstr(b.data, "Get trending papers in your email inbox") != NULL);
        CHECK(strstr(b.data, "<form method=\"post\" action=\"subscribe\">") != NULL);
        CHECK(strstr(b.data, "<label class=\"field\" for=\"mail-email\">") != NULL);
        CHECK(strstr(b.data, "<input id=\"mail-email\" name=\"email\" type=\"email\" required "
                             "autocomplete=\"email\"") != NULL);
        CHECK(strstr(b.data, "name=\"topic\" value=\"trending\" checked>") != NULL);
        CHECK(strstr(b.data, "name=\"topic\" value=\"nlp\"> Language</label>") != NULL);
        CHECK(strstr(b.data, "name=\"topic\" value=\"vision\"> Vision</label>") != NULL);
        CHECK(strstr(b.data, "type=\"radio\" name=\"frequency\" value=\"daily\" checked>") != NULL);
        CHECK(strstr(b.data, "type=\"radio\" name=\"frequency\" value=\"weekly\">") != NULL);
        CHECK(strstr(b.data, "type=\"hidden\"") == NULL);
        CHECK_EQ(count(b.data, "<fieldset>"), 2);
        CHECK_EQ(count(b.data, "<legend>"), 2);
        /* A topic's pages subscribe to the topic, the trending page to trending. */
        tb_buf_reset(&b);
        CHECK_OK(tb_page_topic(&site, 1, NULL, 0, NULL, 0, "none", &b));
        CHECK_OK(tb_buf_add(&b, "", 1));
        CHECK(strstr(b.data, "action=\"../subscribe\"") != NULL);
        CHECK(strstr(b.data, "<input type=\"hidden\" name=\"topic\" value=\"vision\">") != NULL);
        CHECK(strstr(b.data, "type=\"checkbox\"") == NULL);
        CHECK(strstr(b.data, "trending in Vision, daily or weekly") != NULL);
        tb_buf_reset(&b);
        CHECK_OK(tb_page_trending(&site, 0, NULL, 0, "none", &b));
        CHECK_OK(tb_buf_add(&b, "", 1));
        CHECK(strstr(b.data, "<input type=\"hidden\" name=\"topic\" value=\"nlp\">") != NULL);
        tb_buf_reset(&b);
        CHECK_OK(tb_page_trending(&site, (size_t)-1, NULL, 0, "none", &b));
        CHECK_OK(tb_buf_add(&b, "", 1));
        CHECK(strstr(b.data, "action=\"subscribe\"") != NULL);
        CHECK(strstr(b.data, "<input type=\"hidden\" name=\"topic\" value=\"trending\">") != NULL);
    }
    tb_buf_free(&b);
}

/* A notice page: heading, text, a form with grouped controls and buttons, a link. */
static void test_notice(void)
{
    struct tb_page_topic topics[] = {{"nlp", "Language", 0}};
    struct tb_page_site site = {"My papers", NULL, "http://x.example/", topics, 1, 1, 0};
    const char *text[] = {"First.", "Second."};
    struct tb_page_field fields[] = {
        {TB_PAGE_HIDDEN, NULL, "t", "c.1.2.mac", NULL, 0},
        {TB_PAGE_CHECKBOX, "Topics", "topic", "nlp", "Language", 1},
        {TB_PAGE_CHECKBOX, "Topics", "topic", "trending", "Trending", 0},
        {TB_PAGE_RADIO, "How often", "frequency", "daily", "Daily", 0},
        {TB_PAGE_RADIO, "How often", "frequency", "weekly", "Weekly", 1},
        {TB_PAGE_BUTTON, NULL, "action", "save", "Save", 0},
        {TB_PAGE_BUTTON, NULL, "action", "leave", "Leave", 1},
    };
    struct tb_page_notice n = {"Your subscription", text, 2, "manage", fields, 7, NULL, NULL, 0};
    struct tb_buf b;

    tb_buf_init(&b, 1 << 20);
    CHECK_OK(tb_page_notice(&site, &n, &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    CHECK(strstr(b.data, "<title>Your subscription · My papers</title>") != NULL);
    CHECK(strstr(b.data, "<h1>Your subscription</h1>\n<p>First.</p>\n<p>Second.</p>") != NULL);
    CHECK(strstr(b.data, "<form class=\"notice\" method=\"post\" action=\"manage\">\n"
                         "<input type=\"hidden\" name=\"t\" value=\"c.1.2.mac\">\n"
                         "<fieldset>\n<legend>Topics</legend>\n") != NULL);
    CHECK(strstr(b.data, "name=\"topic\" value=\"nlp\" checked> Language</label>") != NULL);
    CHECK(strstr(b.data, "</fieldset>\n<fieldset>\n<legend>How often</legend>") != NULL);
    CHECK(strstr(b.data, "value=\"weekly\" checked> Weekly</label>\n</div>\n</fieldset>\n"
                         "<p class=\"buttons\">\n<button type=\"submit\" name=\"action\" "
                         "value=\"save\">Save</button>\n<button type=\"submit\" "
                         "class=\"secondary\" name=\"action\" value=\"leave\">Leave</button>\n"
                         "</p>\n</form>\n") != NULL);
    CHECK_EQ(count(b.data, "<form"), 1); /* no subscribe form: n.subscribe is 0 */
    CHECK(strstr(b.data, "href=\"style.css\"") != NULL);
    CHECK(strstr(b.data, "<script") == NULL);
    /* With the subscribe form, and a link. */
    n.subscribe = 1;
    n.action = NULL;
    n.link = "manage?t=a&b";
    n.link_text = "Manage";
    tb_buf_reset(&b);
    CHECK_OK(tb_page_notice(&site, &n, &b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    CHECK_EQ(count(b.data, "<form"), 1);
    CHECK(strstr(b.data, "action=\"subscribe\"") != NULL);
    CHECK(strstr(b.data, "<p><a href=\"manage?t=a&amp;b\">Manage</a></p>") != NULL);
    tb_buf_free(&b);
}

static void test_why_empty(void)
{
    struct tb_page_polls offline = {14, 2, 12}, fresh = {3, 3, 0}, quiet = {3, 0, 0},
                         some = {9, 0, 1};
    char buf[256];

    tb_page_why_empty(&offline, buf, sizeof(buf));
    CHECK_STR(buf, "No papers yet: 12 of 14 sources failed at their last poll (offline?).");
    tb_page_why_empty(&fresh, buf, sizeof(buf));
    CHECK_STR(buf, "No papers yet: the 3 sources have not been polled yet.");
    tb_page_why_empty(&quiet, buf, sizeof(buf));
    CHECK_STR(buf, "No papers yet: no source carried or mentioned a paper in the trending window.");
    tb_page_why_empty(&some, buf, sizeof(buf));
    CHECK_STR(buf, "No papers yet: no source carried or mentioned a paper in the trending window "
                   "(1 of 9 sources failed at their last poll).");
}

/* ------------------------------------------------- contrast (WCAG AA) */

/* The relative luminance of "#rgb" or "#rrggbb" (WCAG 2.x), -1 when it
 * is neither. */
static double luminance(const char *hex, size_t n)
{
    double c[3], v;
    unsigned x;
    int i;

    if (n != 4 && n != 7)
        return -1;
    for (i = 0; i < 3; i++) {
        char d[3] = {hex[n == 4 ? 1 + i : 1 + 2 * i], hex[n == 4 ? 1 + i : 2 + 2 * i], '\0'};

        if (sscanf(d, "%2x", &x) != 1)
            return -1;
        v = x / 255.0;
        c[i] = v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
    }
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

static double contrast(double a, double b)
{
    return a > b ? (a + 0.05) / (b + 0.05) : (b + 0.05) / (a + 0.05);
}

/* The luminance of custom property --name in the :root block at `block`,
 * -1 when it is not there. */
static double var_luminance(const char *block, const char *name)
{
    const char *end = strchr(block, '}'), *p = block, *v;
    char key[32];

    snprintf(key, sizeof(key), "--%s:", name);
    while ((p = strstr(p, key)) != NULL && p < end) {
        if (p[-1] == '{' || p[-1] == ';') {
            v = p + strlen(key);
            return luminance(v, strcspn(v, ";}"));
        }
        p++;
    }
    return -1;
}

/* Whether name is one of the n names of set. */
static int in_set(const char *name, size_t len, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(set[i]) == len && strncmp(set[i], name, len) == 0)
            return 1;
    return 0;
}

/* Every text colour on every background, light and dark, at least 4.5:1
 * (normal text); the input's border at least 3:1 on what surrounds it
 * (non-text contrast). The rules outside the two :root blocks name no
 * colour but these variables, text only through the text ones (a button's
 * --on-link only on its --link fill), so a new or changed colour cannot
 * slip past. */
static void check_contrast(const char *css)
{
    static const char *const text[] = {"fg", "muted", "link"};
    static const char *const back[] = {"bg", "card", "tag"};
    static const char *const border[] = {"field"};
    static const char *const border_on[] = {"bg", "card"};
    const char *light = strstr(css, ":root{"), *dark = strstr(css, "prefers-color-scheme:dark");
    const char *blocks[2], *p, *rules;
    double f, g;
    size_t i, j, k;

    dark = dark != NULL ? strstr(dark, ":root{") : NULL;
    CHECK(light != NULL && dark != NULL && light < dark);
    if (light == NULL || dark == NULL)
        return;
    blocks[0] = light;
    blocks[1] = dark;
    for (k = 0; k < 2; k++) {
        for (i = 0; i < 3; i++) {
            for (j = 0; j < 3; j++) {
                f = var_luminance(blocks[k], text[i]);
                g = var_luminance(blocks[k], back[j]);
                CHECK(f >= 0 && g >= 0);
                if (contrast(f, g) < 4.5)
                    fprintf(stderr, "%s: --%s on --%s is %.2f:1, under 4.5:1\n",
                            k ? "dark" : "light", text[i], back[j], contrast(f, g));
                CHECK(contrast(f, g) >= 4.5);
            }
        }
        /* A button: its text (on-link) on its fill (link). */
        f = var_luminance(blocks[k], "on-link");
        g = var_luminance(blocks[k], "link");
        CHECK(f >= 0 && g >= 0);
        CHECK(contrast(f, g) >= 4.5);
        for (j = 0; j < 2; j++) {
            f = var_luminance(blocks[k], border[0]);
            g = var_luminance(blocks[k], border_on[j]);
            CHECK(f >= 0 && g >= 0);
            if (contrast(f, g) < 3)
                fprintf(stderr, "%s: --field on --%s is %.2f:1, under 3:1\n", k ? "dark" : "light",
                        border_on[j], contrast(f, g));
            CHECK(contrast(f, g) >= 3);
        }
    }
    /* The rules after the dark block: colours only through variables. */
    rules = strchr(strchr(dark, '}') + 1, '}') + 1;
    CHECK(strchr(rules, '#') == NULL);
    for (p = rules; (p = strstr(p, "color:")) != NULL; p++) {
        if (p[-1] == '-')
            continue; /* color-scheme, background-color: not a text colour */
        CHECK(strncmp(p, "color:var(--", 12) == 0);
        CHECK(in_set(p + 12, strcspn(p + 12, ")"), text, 3) || strncmp(p + 12, "on-link)", 8) == 0);
    }
    for (p = rules; (p = strstr(p, "background:")) != NULL; p++) {
        if (strncmp(p, "background:transparent", 22) == 0)
            continue;
        CHECK(strncmp(p, "background:var(--", 17) == 0);
        /* A fill of --link carries only --on-link text (the button). */
        CHECK(in_set(p + 17, strcspn(p + 17, ")"), back, 3) ||
              (strncmp(p + 17, "link)", 5) == 0 && strstr(p, "color:var(--on-link)") != NULL &&
               strstr(p, "color:var(--on-link)") < strchr(p, '}')));
    }
}

static void test_contrast(void)
{
    struct tb_buf b;

    /* The formula on known pairs: black on white is 21:1, #767676 on white 4.54:1. */
    CHECK(fabs(contrast(luminance("#000", 4), luminance("#ffffff", 7)) - 21) < 1e-9);
    CHECK(fabs(contrast(luminance("#767676", 7), luminance("#fff", 4)) - 4.54) < 0.01);
    tb_buf_init(&b, 1 << 20);
    CHECK_OK(tb_page_style(&b));
    CHECK_OK(tb_buf_add(&b, "", 1));
    if (b.data != NULL)
        check_contrast(b.data);
    tb_buf_free(&b);
}

int main(void)
{
    test_escaping();
    test_structure();
    test_archive_page();
    test_trending();
    test_mail_form();
    test_notice();
    test_why_empty();
    test_contrast();
    CHECK_DONE();
}
