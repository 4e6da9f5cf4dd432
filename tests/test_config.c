/* Tests for tb_config: a full config, every error kind with its FILE:LINE, durations. */
#include "tb_config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>

#include "check.h"

static const char *fixtures;

static char *fixture(const char *name)
{
    static char path[4096];

    snprintf(path, sizeof(path), "%s/config/%s", fixtures, name);
    return path;
}

/*
 * Loads a fixture that must fail and returns its errors as lines of
 * "FILE:LINE: message" with FILE relative to tests/fixtures/config/.
 */
static const char *errors_of(const char *name)
{
    static char text[8192];
    struct tb_config_error *errs = NULL;
    struct tb_config *c = NULL;
    size_t n = 0, i, len = 0, skip = strlen(fixtures) + strlen("/config/");
    int rc = tb_config_load(fixture(name), &c, &errs, &n);

    text[0] = '\0';
    CHECK_EQ(rc, TB_ECONFIG);
    CHECK(c == NULL);
    for (i = 0; i < n && len < sizeof(text); i++) {
        const char *file = strlen(errs[i].file) > skip ? errs[i].file + skip : errs[i].file;

        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s:%d: %s", i ? "\n" : "", file,
                                errs[i].line, errs[i].msg);
    }
    tb_config_errors_free(errs, n);
    tb_config_free(c);
    return text;
}

static struct tb_config *load_ok(const char *path)
{
    struct tb_config_error *errs = NULL;
    struct tb_config *c = NULL;
    size_t n = 0, i;
    int rc = tb_config_load(path, &c, &errs, &n);

    CHECK_OK(rc);
    for (i = 0; i < n; i++)
        fprintf(stderr, "unexpected: %s:%d: %s\n", errs[i].file, errs[i].line, errs[i].msg);
    tb_config_errors_free(errs, n);
    return c;
}

static void test_good(void)
{
    struct tb_config *c = load_ok(fixture("good.ini"));
    char want[4096];
    const struct tb_config_source *s;

    if (c == NULL)
        return;
    snprintf(want, sizeof(want), "%s/config/data/test.db", fixtures);
    CHECK_STR(c->database, want);
    CHECK_STR(c->public_dir, "/srv/tributary/public");
    CHECK_STR(c->listen, "[::1]:9090");
    CHECK_STR(c->base_url, "https://feeds.example.org/ml/");
    CHECK_STR(c->contact, "mailto:feeds@example.org");
    CHECK_STR(c->title, "ML <papers> & \"news\"");
    CHECK_STR(c->description, "What the field reads this week");
    CHECK_EQ(c->interval, 7200);
    CHECK_EQ(c->feed_limit, 25);
    CHECK_EQ(c->max_body, 8 << 20);
    CHECK_EQ(c->connect_timeout, 5);
    CHECK_EQ(c->timeout, 120);
    CHECK_EQ(c->low_speed_time, 30);
    CHECK_EQ(c->max_connections, 16);
    CHECK_EQ(c->max_per_host, 2);
    CHECK_EQ(c->request_timeout, 5);
    CHECK_EQ(c->max_clients, 300);

    /* Two [source]s, then good.opml's feeds less the cs.CL duplicate. */
    CHECK_EQ(c->nsources, 6);
    CHECK_STR(c->sources[0].name, "arxiv-cs-cl");
    CHECK_STR(c->sources[0].title, "arXiv cs.CL");
    CHECK_EQ(c->sources[0].interval, 1800);
    CHECK_EQ(c->sources[0].enabled, 1);
    CHECK_EQ(c->sources[0].line, 2);
    CHECK_STR(c->sources[1].name, "lab-blog");
    CHECK_STR(c->sources[1].url, "http://blog.example.com/feed.xml");
    CHECK(c->sources[1].title == NULL);
    CHECK_EQ(c->sources[1].interval, 7200); /* [tributary] interval, set after it */
    CHECK_EQ(c->sources[1].enabled, 0);

    s = tb_config_find_source(c, "arxiv-cs-lg");
    CHECK(s != NULL);
    if (s) {
        CHECK_STR(s->url, "https://rss.arxiv.org/rss/cs.LG");
        CHECK_STR(s->html_url, "https://arxiv.org/list/cs.LG/recent");
        CHECK_STR(s->file + strlen(s->file) - strlen("good.opml"), "good.opml");
        CHECK_EQ(s->line, 7);
        CHECK_EQ(s->interval, 7200);
    }
    /* "lab-blog" is taken by a [source]; names made unique and from the host. */
    CHECK_STR(c->sources[3].name, "lab-blog-2");
    CHECK_STR(c->sources[3].title, "Lab Blog");
    CHECK_STR(c->sources[4].name, "lab-blog-3");
    CHECK_STR(c->sources[5].name, "news-example-com");
    CHECK(c->sources[5].title == NULL);

    CHECK_EQ(c->ntopics, 2);
    CHECK_STR(c->topics[0].name, "entity-linking");
    CHECK_STR(c->topics[0].title, "Entity linking and NER");
    CHECK_STR(c->topics[0].query, "\"entity linking\" OR \"named entity\" OR NER");
    CHECK_EQ(c->topics[0].nsources, 2);
    if (c->topics[0].nsources == 2) {
        CHECK_STR(c->topics[0].sources[0], "arxiv-cs-cl");
        CHECK_STR(c->topics[0].sources[1], "lab-blog");
    }
    CHECK_EQ(c->topics[0].limit, 10);
    CHECK_EQ(c->topics[0].line, 33);
    CHECK_STR(c->topics[1].title, "all-attention");
    CHECK_EQ(c->topics[1].limit, 25);
    CHECK_EQ(c->topics[1].nsources, 0);
    tb_config_free(c);
}

static void test_defaults(void)
{
    const char *path = "test_config_defaults.ini";
    struct tb_config *c;
    FILE *fp = fopen(path, "w");

    CHECK(fp != NULL);
    if (fp == NULL)
        return;
    fputs("[source only]\nurl = https://only.example/feed\n", fp);
    fclose(fp);
    c = load_ok(path);
    remove(path);
    if (c == NULL)
        return;
    CHECK_STR(c->database, "tributary.db"); /* no '/' in the path: relative to the CWD */
    CHECK_STR(c->public_dir, "public");
    CHECK_STR(c->listen, "127.0.0.1:8080");
    CHECK_STR(c->base_url, "http://localhost:8080/");
    CHECK(c->contact == NULL);
    CHECK_STR(c->title, "tributary");
    CHECK(c->description == NULL);
    CHECK_EQ(c->interval, 3600);
    CHECK_EQ(c->feed_limit, 50);
    CHECK_EQ(c->static_archive, 0);
    CHECK_EQ(c->max_body, 32 << 20);
    CHECK_EQ(c->connect_timeout, 15);
    CHECK_EQ(c->timeout, 60);
    CHECK_EQ(c->low_speed_time, 20);
    CHECK_EQ(c->max_connections, 32);
    CHECK_EQ(c->max_per_host, 4);
    CHECK_EQ(c->request_timeout, 10);
    CHECK_EQ(c->max_clients, 1024);
    CHECK_EQ(c->sources[0].interval, 3600);
    CHECK_EQ(c->ntopics, 0);
    tb_config_free(c);
}

/* One fixture per kind of problem, with the exact message. */
static void test_errors(void)
{
    static const struct {
        const char *file, *want;
    } cases[] = {
        {"unknown-section.ini", "unknown-section.ini:4: unknown section [sources arxiv]"},
        {"unknown-key.ini", "unknown-key.ini:2: unknown key 'databse' in [tributary]"},
        {"duplicate-key.ini", "duplicate-key.ini:3: duplicate key 'url' (first set at line 2)"},
        {"duplicate-source.ini", "duplicate-source.ini:4: duplicate source 'a' (first defined at "
                                 "CFG/duplicate-source.ini:1)"},
        {"duplicate-topic.ini",
         "duplicate-topic.ini:3: duplicate topic 't' (first defined at CFG/duplicate-topic.ini:1)"},
        {"bad-scheme.ini", "bad-scheme.ini:2: url: invalid URL 'ftp://a.example/feed': only http "
                           "and https URLs are accepted"},
        {"bad-url.ini", "bad-url.ini:2: url: invalid URL 'not a url': Bad scheme"},
        {"bad-duration.ini", "bad-duration.ini:2: interval: invalid duration '5 minutes' (use "
                             "e.g. 90s, 30m, 1h, 2h30m, 1d)"},
        {"bad-number.ini", "bad-number.ini:2: feed_limit: invalid number '-3' (1 to 100000)"},
        {"bad-size.ini",
         "bad-size.ini:2: max_body_size: invalid size '12X' (use e.g. 512K, 32M, 1G)"},
        {"bad-bool.ini",
         "bad-bool.ini:3: enabled: invalid boolean 'maybe' (use yes/no, true/false, 1/0)"},
        {"bad-listen.ini", "bad-listen.ini:2: listen: invalid address 'localhost' (use HOST:PORT)"},
        {"no-query.ini", "no-query.ini:4: topic 't': missing query"},
        {"unknown-topic-source.ini", "unknown-topic-source.ini:6: topic 't': unknown source 'b'"},
        {"bad-name.ini", "bad-name.ini:1: invalid source name 'bad/name' (use 1 to 64 of A-Z a-z "
                         "0-9 . _ -)"},
        {"no-name.ini", "no-name.ini:1: section [source] needs a name: [source NAME]"},
        {"missing-url.ini", "missing-url.ini:1: source 'a': missing url"},
        {"syntax.ini", "syntax.ini:3: syntax error: expected [SECTION], KEY = VALUE or a comment"},
        {"unclosed-section.ini", "unclosed-section.ini:1: syntax error: section header without "
                                 "']'"},
        {"outside-section.ini", "outside-section.ini:1: key 'url' outside of any section"},
        {"same-url.ini", "same-url.ini:3: source 'b': same url as source 'a' "
                         "(CFG/same-url.ini:1)"},
        {"same-url3.ini", "same-url3.ini:5: source 'x': same url as source 'z' "
                          "(CFG/same-url3.ini:1)\nsame-url3.ini:7: source 'w': same url as "
                          "source 'z' (CFG/same-url3.ini:1)"},
        {"missing-opml.ini", "missing-opml.ini:2: opml file 'CFG/no-such.opml': cannot read: No "
                             "such file or directory"},
        {"malformed-opml.ini", "malformed-opml.ini:2: opml file 'CFG/malformed.opml': malformed "
                               "XML at line 6: Opening and ending tag mismatch: outline line 5 "
                               "and body"},
        {"xxe-opml.ini", "xxe-opml.ini:2: opml file 'CFG/xxe.opml': OPML document declares "
                         "entities (refused)"},
        {"control-char.ini",
         "control-char.ini:3: title: not UTF-8 text, or has control characters"},
        {"bad-utf8.ini", "bad-utf8.ini:3: title: not UTF-8 text, or has control characters"},
        {"long-line.ini",
         "long-line.ini:2: line too long (more than 16381 characters)\nlong-line.ini:1: source "
         "'a': missing url"},
        {"no-such-file.ini", "no-such-file.ini:0: cannot read: No such file or directory"},
    };
    char want[1024], dir[4096];
    size_t i;

    snprintf(dir, sizeof(dir), "%s/config", fixtures);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = errors_of(cases[i].file);
        const char *p = cases[i].want, *cfg;
        size_t len = 0;

        /* "CFG" in a message stands for the fixture directory's full path. */
        for (cfg = strstr(p, "CFG"); cfg; cfg = strstr(p, "CFG")) {
            len +=
                (size_t)snprintf(want + len, sizeof(want) - len, "%.*s%s", (int)(cfg - p), p, dir);
            p = cfg + 3;
        }
        snprintf(want + len, sizeof(want) - len, "%s", p);
        CHECK_STR(got, want);
    }
}

static void test_all_errors_at_once(void)
{
    CHECK_STR(errors_of("five-errors.ini"),
              "five-errors.ini:2: interval: invalid duration 'forever' (use e.g. 90s, 30m, 1h, "
              "2h30m, 1d)\n"
              "five-errors.ini:3: unknown key 'color' in [tributary]\n"
              "five-errors.ini:9: url: invalid URL 'gopher://old.example/': only http and https "
              "URLs are accepted\n"
              "five-errors.ini:15: unknown section [bogus]\n"
              "five-errors.ini:13: topic 't': unknown source 'nobody'");
}

/* Trending: source weights and groups reach the config, [trending] may
 * repeat like [tributary], and defaults hold where nothing is set. */
static void test_trending(void)
{
    struct tb_config *c = load_ok(fixture("trending.ini"));

    if (c != NULL) {
        CHECK_EQ(c->nsources, 4);
        CHECK_STR(c->sources[0].group, "arxiv");
        CHECK(c->sources[0].weight == 1);
        CHECK_STR(c->sources[1].group, "arxiv");
        CHECK(c->sources[1].weight == 0.5);
        CHECK_STR(c->sources[2].group, "hn"); /* its own name */
        CHECK(c->sources[2].weight == 2);
        CHECK(c->sources[3].weight == 0);
        CHECK_EQ(c->trending.window, 3 * 86400);
        CHECK_EQ(c->trending.half_life, 12 * 3600);
        CHECK_EQ(c->trending.limit, 50);
        CHECK_STR(c->trending.arxiv_api, "http://127.0.0.1:9/api/query");
        CHECK_EQ(c->trending.resolve_arxiv, 0);
        CHECK_EQ(c->trending.arxiv_batch, 5);
        CHECK_EQ(c->trending.arxiv_retry, 10);
        tb_config_free(c);
    }
    c = load_ok(fixture("good.ini"));
    if (c != NULL) {
        CHECK_EQ(c->trending.window, 7 * 86400);
        CHECK_EQ(c->trending.half_life, 86400);
        CHECK_EQ(c->trending.limit, 30);
        CHECK_STR(c->trending.arxiv_api, "https://export.arxiv.org/api/query");
        CHECK_EQ(c->trending.resolve_arxiv, 1);
        CHECK_EQ(c->trending.arxiv_batch, 100);
        CHECK_EQ(c->trending.arxiv_retry, 60);
        CHECK_STR(c->sources[0].group, "arxiv-cs-cl");
        CHECK(c->sources[0].weight == 1);
        /* OPML sources too. */
        CHECK_STR(c->sources[5].group, c->sources[5].name);
        CHECK(c->sources[5].weight == 1);
        tb_config_free(c);
    }
    CHECK_STR(errors_of("bad-trending.ini"),
              "bad-trending.ini:3: weight: invalid weight '-1' (a number from 0 to 1000000, e.g. "
              "1, 2 or 0.5)\n"
              "bad-trending.ini:4: group: invalid name 'bad group' (use 1 to 64 of A-Z a-z 0-9 . _ "
              "-)\n"
              "bad-trending.ini:8: weight: invalid weight 'nan' (a number from 0 to 1000000, e.g. "
              "1, 2 or 0.5)\n"
              "bad-trending.ini:11: window: invalid duration 'soon' (use e.g. 90s, 30m, 1h, 2h30m, "
              "1d)\n"
              "bad-trending.ini:12: half_life: invalid duration '0' (use e.g. 90s, 30m, 1h, "
              "2h30m, 1d)\n"
              "bad-trending.ini:13: limit: invalid number '0' (1 to 100000)\n"
              "bad-trending.ini:14: arxiv_api: invalid URL 'ftp://x.example/': only http and "
              "https URLs are accepted\n"
              "bad-trending.ini:15: resolve_arxiv: invalid boolean 'maybe' (use yes/no, "
              "true/false, 1/0)\n"
              "bad-trending.ini:16: unknown key 'colour' in [trending]\n"
              "bad-trending.ini:20: weight: invalid weight '1e3' (a number from 0 to 1000000, e.g. "
              "1, 2 or 0.5)\n"
              "bad-trending.ini:24: weight: invalid weight '1000001' (a number from 0 to 1000000, "
              "e.g. 1, 2 or 0.5)\n"
              "bad-trending.ini:27: duplicate key 'window' (first set at line 11)\n"
              "bad-trending.ini:28: arxiv_batch: invalid number '101' (1 to 100)\n"
              "bad-trending.ini:29: arxiv_retry: invalid duration 'never' (use e.g. 90s, 30m, 1h, "
              "2h30m, 1d)");
}

/* static_archive = yes is read (default: no, checked in test_defaults). */
static void test_static_archive(void)
{
    const char *path = "test_config_static.ini";
    struct tb_config *c;
    FILE *fp = fopen(path, "w");

    CHECK(fp != NULL);
    if (fp == NULL)
        return;
    fputs("[tributary]\nstatic_archive = yes\n[source only]\nurl = https://only.example/feed\n",
          fp);
    fclose(fp);
    c = load_ok(path);
    remove(path);
    if (c != NULL)
        CHECK_EQ(c->static_archive, 1);
    tb_config_free(c);
}

/* Hostile files: binary junk and a directory give errors, never a crash. */
static void test_hostile(void)
{
    const char *path = "test_config_junk.ini";
    struct tb_config_error *errs = NULL;
    struct tb_config *c = NULL;
    size_t n = 0, i;
    FILE *fp = fopen(path, "wb");

    CHECK(fp != NULL);
    if (fp == NULL)
        return;
    for (i = 0; i < 20000; i++)
        fputc((int)((i * 7919u) % 256), fp);
    fclose(fp);
    CHECK_EQ(tb_config_load(path, &c, &errs, &n), TB_ECONFIG);
    CHECK(n > 0 && n <= 101);
    CHECK(c == NULL);
    tb_config_errors_free(errs, n);
    remove(path);

    CHECK_EQ(tb_config_load(fixtures, &c, &errs, &n), TB_ECONFIG);
    CHECK_EQ(n, 1);
    if (n == 1)
        CHECK_STR(errs[0].msg, "cannot read: not a regular file");
    tb_config_errors_free(errs, n);
}

static void test_durations(void)
{
    static const struct {
        const char *s;
        int64_t want; /* -1: invalid */
    } cases[] = {
        {"1s", 1},          {"90s", 90},
        {"30m", 1800},      {"1h", 3600},
        {"1d", 86400},      {"1w", 604800},
        {"2h30m", 9000},    {"1d2h3m4s", 93784},
        {"3600", 3600},     {"1", 1},
        {"0", -1},          {"0s", -1},
        {"", -1},           {"h", -1},
        {"1x", -1},         {"30m2h", -1},
        {"1h1h", -1},       {"-5s", -1},
        {"1.5h", -1},       {" 1h", -1},
        {"1h ", -1},        {"2147483647", 2147483647},
        {"2147483648", -1}, {"99999999999d", -1},
        {"5 minutes", -1},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = -1;
        int rc = tb_config_duration(cases[i].s, &got);

        if (cases[i].want < 0) {
            CHECK_EQ(rc, -EINVAL);
        } else {
            CHECK_OK(rc);
            CHECK_EQ(got, cases[i].want);
        }
        if ((rc == 0) != (cases[i].want >= 0))
            fprintf(stderr, "  duration case '%s'\n", cases[i].s);
    }
}

static void test_sizes_and_names(void)
{
    size_t n = 0;

    CHECK_OK(tb_config_size("32M", &n));
    CHECK_EQ(n, 32 << 20);
    CHECK_OK(tb_config_size("512k", &n));
    CHECK_EQ(n, 512 << 10);
    CHECK_OK(tb_config_size("1GiB", &n));
    CHECK_EQ(n, 1 << 30);
    CHECK_OK(tb_config_size("2MB", &n));
    CHECK_EQ(n, 2 << 20);
    CHECK_OK(tb_config_size("1000", &n));
    CHECK_EQ(n, 1000);
    CHECK_EQ(tb_config_size("0", &n), -EINVAL);
    CHECK_EQ(tb_config_size("M", &n), -EINVAL);
    CHECK_EQ(tb_config_size("1T", &n), -EINVAL);
    CHECK_EQ(tb_config_size("99999999999999999999", &n), -EINVAL);
    CHECK_EQ(tb_config_size("17179869184G", &n), -EINVAL);

    CHECK(tb_config_name_valid("arxiv-cs.CL_2"));
    CHECK(!tb_config_name_valid(""));
    CHECK(!tb_config_name_valid("a b"));
    CHECK(!tb_config_name_valid("a/b"));
    CHECK(!tb_config_name_valid("caf\xc3\xa9"));
    CHECK(tb_config_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    CHECK(
        !tb_config_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

/* The shipped default config must load, with its OPML list deduplicated. */
/* Lines longer than inih's default 200 bytes, as long topic queries are. */
static void test_long_query(void)
{
    struct tb_config *c = load_ok(fixture("long-query.ini"));

    if (c == NULL)
        return;
    CHECK_EQ(c->ntopics, 1);
    CHECK_EQ(strlen(c->topics[0].query), 786);
    CHECK(strstr(c->topics[0].query, "\"term number 39\"") != NULL);
    tb_config_free(c);
}

static void test_default_config(void)
{
    const char *src = getenv("TB_SOURCE_DIR");
    char path[4096];
    struct tb_config *c;
    size_t i, arxiv = 0, talk = 0;

    snprintf(path, sizeof(path), "%s/feeds/tributary.ini", src ? src : "..");
    c = load_ok(path);
    if (c == NULL)
        return;
    CHECK_EQ(c->nsources, 14);
    CHECK_EQ(c->ntopics, 6);
    CHECK(strstr(c->database, "/feeds/../var/tributary.db") != NULL);
    for (i = 0; i < c->nsources; i++) {
        CHECK(strncmp(c->sources[i].url, "https://", 8) == 0);
        /* arXiv's listings are one trending voice. */
        if (strncmp(c->sources[i].url, "https://rss.arxiv.org/", 22) == 0) {
            CHECK_STR(c->sources[i].group, "arxiv");
            arxiv++;
        }
        /* Where papers are discussed: each its own voice, counting. */
        if (strcmp(c->sources[i].name, "hackernews-arxiv") == 0 ||
            strcmp(c->sources[i].name, "reddit-machinelearning") == 0 ||
            strcmp(c->sources[i].name, "hf-daily-papers") == 0) {
            CHECK(c->sources[i].group != NULL && strcmp(c->sources[i].group, "arxiv") != 0);
            CHECK(c->sources[i].weight > 0);
            talk++;
        }
    }
    CHECK_EQ(arxiv, 5);
    CHECK_EQ(talk, 3);
    CHECK_EQ(c->trending.limit, 30);
    for (i = 0; i < c->ntopics; i++)
        CHECK(c->topics[i].query != NULL && strcmp(c->topics[i].title, c->topics[i].name) != 0);
    tb_config_free(c);
}

/*
 * Many sources (the index of names and URLs grows several times): 1,000
 * [source] sections and an OPML file of 1,500 feeds all titled "feed", of
 * which 300 repeat a section's URL and 200 an earlier outline's. Each URL
 * is kept once, every name is unique, a duplicate name is still an error.
 */
static void test_many_sources(void)
{
    char dir[] = "/tmp/tb-test-config-XXXXXX", ini[256], opml[256];
    struct tb_config_error *errs = NULL;
    struct tb_config *c = NULL;
    size_t n = 0, i, j;
    FILE *f;
    int bad = 0;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(ini, sizeof(ini), "%s/t.ini", dir);
    snprintf(opml, sizeof(opml), "%s/f.opml", dir);
    f = fopen(opml, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs("<opml version=\"2.0\"><body>\n", f);
    for (i = 0; i < 1500; i++) {
        /* s0, s3, ... s897: sections' URLs; then o0..o199 twice; then new ones */
        size_t k = i < 300 ? i * 3 : i < 500 ? i - 300 : i < 700 ? i - 500 : i;

        fprintf(f, "<outline type=\"rss\" text=\"feed\" xmlUrl=\"http://h.example/%s%zu\"/>\n",
                i < 300 ? "s" : "o", k);
    }
    fputs("</body></opml>\n", f);
    fclose(f);
    f = fopen(ini, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fprintf(f, "[opml]\nfile = %s\n", opml);
    for (i = 0; i < 1000; i++)
        fprintf(f, "[source feed-x%zu]\nurl = http://h.example/s%zu\n", i, i);
    fclose(f);
    CHECK_OK(tb_config_load(ini, &c, &errs, &n));
    CHECK_EQ(n, 0);
    /* 1,000 sections + 1,500 outlines - 300 section URLs - 200 repeats */
    CHECK_EQ(c ? c->nsources : 0, 2000);
    for (i = 0; c && i < c->nsources; i++)
        for (j = i + 1; j < c->nsources; j++)
            bad += strcmp(c->sources[i].name, c->sources[j].name) == 0 ||
                   strcmp(c->sources[i].url, c->sources[j].url) == 0;
    CHECK_EQ(bad, 0);
    CHECK(c && tb_config_find_source(c, "feed") != NULL && tb_config_find_source(c, "feed-1000"));
    tb_config_free(c);
    tb_config_errors_free(errs, n);
    c = NULL;
    errs = NULL;
    /* The same name twice among many: still reported, at its line. */
    f = fopen(ini, "a");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs("[source feed-x500]\nurl = http://h.example/other\n", f);
        fclose(f);
    }
    CHECK_EQ(tb_config_load(ini, &c, &errs, &n), TB_ECONFIG);
    CHECK_EQ(n, 1);
    if (n == 1) {
        CHECK_EQ(errs[0].line, 2003);
        CHECK(strstr(errs[0].msg, "duplicate source 'feed-x500'") != NULL);
    }
    tb_config_errors_free(errs, n);
    remove(ini);
    remove(opml);
    rmdir(dir);
}

/* ---- [mail] ---------------------------------------------------------- */

static char mail_dir[64];

/* Writes text as mail_dir/t.ini and loads it: *out the config, or NULL
 * with the errors as "LINE: message" lines (the file name left out) in the
 * returned text. */
static const char *mail_load(const char *text, struct tb_config **out)
{
    static char msgs[4096];
    struct tb_config_error *errs = NULL;
    char path[128];
    size_t n = 0, i, len = 0;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/t.ini", mail_dir);
    fp = fopen(path, "w");
    CHECK(fp != NULL);
    if (fp == NULL)
        exit(1);
    fputs(text, fp);
    fclose(fp);
    msgs[0] = '\0';
    *out = NULL;
    if (tb_config_load(path, out, &errs, &n) != 0)
        CHECK(*out == NULL);
    for (i = 0; i < n && len < sizeof(msgs); i++)
        len += (size_t)snprintf(msgs + len, sizeof(msgs) - len, "%s%d: %s", i ? "\n" : "",
                                errs[i].line, errs[i].msg);
    tb_config_errors_free(errs, n);
    return msgs;
}

/* The errors of a [mail] section holding smtp, from and then `lines`. */
static const char *mail_errors(const char *lines)
{
    char text[2048];
    struct tb_config *c;
    const char *msgs;

    snprintf(text, sizeof(text),
             "[mail]\nsmtp = smtp://127.0.0.1:2525\nfrom = papers@example.org\n%s\n", lines);
    msgs = mail_load(text, &c);
    tb_config_free(c);
    return msgs;
}

/* A config with [mail] smtp, from and `lines`; NULL (and the errors
 * printed) when it does not load. */
static struct tb_config *mail_ok(const char *lines)
{
    char text[2048];
    struct tb_config *c;
    const char *msgs;

    snprintf(text, sizeof(text),
             "[mail]\nsmtp = smtp://127.0.0.1:2525\nfrom = papers@example.org\n%s\n", lines);
    msgs = mail_load(text, &c);
    if (c == NULL)
        fprintf(stderr, "unexpected errors for '%s':\n%s\n", lines, msgs);
    CHECK(c != NULL);
    return c;
}

static void test_mail_good(void)
{
    struct tb_config *c = load_ok(fixture("mail.ini"));
    char want[4096];

    if (c == NULL)
        return;
    CHECK_EQ(c->mail.enabled, 1);
    CHECK_STR(c->mail.smtp, "smtp://mail.example.org:587/");
    CHECK_EQ(c->mail.starttls, 0);
    CHECK_STR(c->mail.user, "papers@example.org");
    CHECK_STR(c->mail.password, "correct horse battery staple");
    CHECK_STR(c->mail.from, "Trending papers <papers@Example.org>");
    CHECK_STR(c->mail.from_addr, "papers@Example.org");
    snprintf(want, sizeof(want), "%s/config/mail-ca.pem", fixtures);
    CHECK_STR(c->mail.ca_file, want);
    CHECK_STR(c->mail.secret_file, "/var/lib/tributary/token.secret");
    CHECK_EQ(c->mail.send_at, 6 * 60 + 30);
    CHECK_EQ(c->mail.weekly_day, 5);
    CHECK_EQ(c->mail.rate, 120);
    CHECK_EQ(c->mail.max_papers, 1000);
    tb_config_free(c);
}

/* Without [mail], mail is off; with the two required keys, the defaults. */
static void test_mail_defaults(void)
{
    struct tb_config *c = load_ok(fixture("good.ini"));
    char want[4096];

    if (c != NULL) {
        CHECK_EQ(c->mail.enabled, 0);
        CHECK(c->mail.smtp == NULL);
        CHECK(c->mail.secret_file == NULL);
        tb_config_free(c);
    }
    c = mail_ok("");
    if (c == NULL)
        return;
    CHECK_EQ(c->mail.enabled, 1);
    CHECK_STR(c->mail.smtp, "smtp://127.0.0.1:2525/");
    CHECK_EQ(c->mail.starttls, 1);
    CHECK(c->mail.user == NULL);
    CHECK(c->mail.password == NULL);
    CHECK_STR(c->mail.from, "papers@example.org");
    CHECK_STR(c->mail.from_addr, "papers@example.org");
    CHECK(c->mail.ca_file == NULL);
    snprintf(want, sizeof(want), "%s/tributary.db.secret", mail_dir);
    CHECK_STR(c->mail.secret_file, want);
    CHECK_EQ(c->mail.send_at, 7 * 60);
    CHECK_EQ(c->mail.weekly_day, 1);
    CHECK_EQ(c->mail.rate, 60);
    CHECK_EQ(c->mail.max_papers, 20);
    tb_config_free(c);
    /* The secret goes beside the database wherever that is. */
    {
        const char *msgs = mail_load("[tributary]\ndatabase = db/x.sqlite\n[mail]\n"
                                     "smtp = smtps://mail.example.org\nfrom = a@example.org\n",
                                     &c);

        CHECK_STR(msgs, "");
        snprintf(want, sizeof(want), "%s/db/x.sqlite.secret", mail_dir);
        if (c != NULL)
            CHECK_STR(c->mail.secret_file, want);
        tb_config_free(c);
    }
}

/* database = a PostgreSQL URI is kept as written (not resolved as a path);
 * one libpq cannot parse, or one holding a password, is refused; the mail
 * secret's default is then a file beside the config. */
static void test_database(void)
{
    static const char *const good[] = {
        "postgresql://tb@db.example.org/feeds",
        "postgres://tb@/feeds?host=/run/postgresql",
        "postgresql:///feeds",
        "postgresql://tb@10.0.0.5:5433/feeds?sslmode=require&application_name=node1",
    };
    struct tb_config *c = NULL;
    char text[512], want[256];
    const char *msgs;
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "[tributary]\ndatabase = %s\n", good[i]);
        msgs = mail_load(text, &c);
        CHECK_STR(msgs, "");
        CHECK_STR(c ? c->database : NULL, good[i]);
        tb_config_free(c);
    }
    msgs = mail_load("[tributary]\ndatabase = postgresql://tb:hunter2@db.example.org/feeds\n", &c);
    CHECK_STR(msgs, "2: database: a password in the PostgreSQL URI: put it in ~/.pgpass (or the"
                    " file PGPASSFILE names) instead");
    CHECK(strstr(msgs, "hunter2") == NULL);
    tb_config_free(c);
    msgs = mail_load("[tributary]\ndatabase = postgresql://db.example.org/feeds?password=x\n", &c);
    CHECK(strstr(msgs, "a password in the PostgreSQL URI") != NULL);
    tb_config_free(c);
    msgs = mail_load("[tributary]\ndatabase = postgresql://db.example.org/feeds?colour=blue\n", &c);
    CHECK(strncmp(msgs, "2: database: invalid PostgreSQL URI: ", 37) == 0);
    CHECK(strchr(msgs, '\n') == NULL);
    tb_config_free(c);
    msgs = mail_load("[tributary]\ndatabase = postgresql://tb@db.example.org/feeds\n[mail]\n"
                     "smtp = smtps://mail.example.org\nfrom = a@example.org\n",
                     &c);
    CHECK_STR(msgs, "");
    snprintf(want, sizeof(want), "%s/tributary.secret", mail_dir);
    CHECK_STR(c ? c->mail.secret_file : NULL, want);
    tb_config_free(c);
}

static void test_mail_errors(void)
{
    char want[4096];

    /* Paths in messages are as resolved: beside the config. */
    snprintf(
        want, sizeof(want),
        "bad-mail.ini:3: smtp: invalid URL 'http://mail.example.org/': use smtp://HOST:PORT or "
        "smtps://HOST:PORT\n"
        "bad-mail.ini:4: starttls: invalid boolean 'maybe' (use yes/no, true/false, 1/0)\n"
        "bad-mail.ini:6: password_file: cannot use '%s/config/no-such-password.txt': No such file "
        "or directory\n"
        "bad-mail.ini:7: from: invalid address 'Papers <papers@example.org>, other@example.org': "
        "a control character, space or non-ASCII character\n"
        "bad-mail.ini:8: ca_file: cannot read '%s/config/no-such-ca.pem': No such file or "
        "directory\n"
        "bad-mail.ini:9: secret_file: empty value\n"
        "bad-mail.ini:10: send_at: invalid time '24:00' (HH:MM from 00:00 to 23:59, UTC)\n"
        "bad-mail.ini:11: weekly_day: invalid day 'someday' (mon, tue, wed, thu, fri, sat or "
        "sun)\n"
        "bad-mail.ini:12: rate: invalid rate '60' (N/min, N from 1 to 100000)\n"
        "bad-mail.ini:13: max_papers: invalid number '1001' (1 to 1000)\n"
        "bad-mail.ini:14: unknown key 'colour' in [mail]\n"
        "bad-mail.ini:17: duplicate key 'send_at' (first set at line 10)\n"
        "bad-mail.ini:18: duplicate key 'smtp' (first set at line 3)\n"
        "bad-mail.ini:19: unknown key 'sender' in [mail]\n"
        "bad-mail.ini:21: topic 'trending': the name is reserved when [mail] is configured (the "
        "subscribe form's value for trending across everything); rename the topic",
        fixtures, fixtures);
    CHECK_STR(errors_of("bad-mail.ini"), want);
}

/* Each key's good and bad values, one at a time. */
static void test_mail_values(void)
{
    static const struct {
        const char *line;
        const char *want; /* "" for good values */
    } v[] = {
        {"starttls = yes", ""},
        {"starttls = no", ""},
        {"starttls = 2", "4: starttls: invalid boolean '2' (use yes/no, true/false, 1/0)"},
        {"send_at = 00:00", ""},
        {"send_at = 23:59", ""},
        {"send_at = 7:05", ""},
        {"send_at = 23:60", "4: send_at: invalid time '23:60' (HH:MM from 00:00 to 23:59, UTC)"},
        {"send_at = 7", "4: send_at: invalid time '7' (HH:MM from 00:00 to 23:59, UTC)"},
        {"send_at = 7:5", "4: send_at: invalid time '7:5' (HH:MM from 00:00 to 23:59, UTC)"},
        {"send_at = 007:00", "4: send_at: invalid time '007:00' (HH:MM from 00:00 to 23:59, UTC)"},
        {"send_at = 07:00:00",
         "4: send_at: invalid time '07:00:00' (HH:MM from 00:00 to 23:59, UTC)"},
        {"send_at = -1:00", "4: send_at: invalid time '-1:00' (HH:MM from 00:00 to 23:59, UTC)"},
        {"weekly_day = sun", ""},
        {"weekly_day = SAT", ""},
        {"weekly_day = Wednesday", ""},
        {"weekly_day = wedn",
         "4: weekly_day: invalid day 'wedn' (mon, tue, wed, thu, fri, sat or sun)"},
        {"weekly_day = 1", "4: weekly_day: invalid day '1' (mon, tue, wed, thu, fri, sat or sun)"},
        {"rate = 1/min", ""},
        {"rate = 100000/min", ""},
        {"rate = 0/min", "4: rate: invalid rate '0/min' (N/min, N from 1 to 100000)"},
        {"rate = 100001/min", "4: rate: invalid rate '100001/min' (N/min, N from 1 to 100000)"},
        {"rate = 60/h", "4: rate: invalid rate '60/h' (N/min, N from 1 to 100000)"},
        {"rate = 60 / min", "4: rate: invalid rate '60 / min' (N/min, N from 1 to 100000)"},
        {"rate = -5/min", "4: rate: invalid rate '-5/min' (N/min, N from 1 to 100000)"},
        {"rate = 99999999999999999999/min",
         "4: rate: invalid rate '99999999999999999999/min' (N/min, N from 1 to 100000)"},
        {"max_papers = 1", ""},
        {"max_papers = 1000", ""},
        {"max_papers = 0", "4: max_papers: invalid number '0' (1 to 1000)"},
        {"max_papers = 20x", "4: max_papers: invalid number '20x' (1 to 1000)"},
        {"secret_file = keys/s", ""},
        {"ca_file = .", "4: ca_file: '%s/.' is not a regular file"},
        {"password_file = .", "4: password_file: cannot use '%s/.': not a regular file\n"
                              "4: [mail]: password_file needs user"},
        {"user = u", "4: [mail]: user needs password_file"},
        {"password_file = pw", "4: [mail]: password_file needs user"},
        {"password_file = empty\nuser = u",
         "4: password_file: cannot use '%s/empty': its first line is empty"},
        {"password_file = nul\nuser = u",
         "4: password_file: cannot use '%s/nul': a NUL byte in it"},
        {"password_file = long\nuser = u",
         "4: password_file: cannot use '%s/long': its first line is longer than 1024 bytes"},
        {"password_file = missing\nuser = u",
         "4: password_file: cannot use '%s/missing': No such file or directory"},
        {"bcc = a@example.org", "4: unknown key 'bcc' in [mail]"},
        {"from = b@example.org", "4: duplicate key 'from' (first set at line 3)"},
    };
    char want[512];
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const char *got = mail_errors(v[i].line);

        snprintf(want, sizeof(want), v[i].want, mail_dir);
        if (strcmp(got, want) != 0)
            fprintf(stderr, "for '%s'\n", v[i].line);
        CHECK_STR(got, want);
    }
}

static void test_mail_smtp_from(void)
{
    static const struct {
        const char *line, *smtp_or_from, *addr;
        int starttls;
    } good[] = {
        {"smtp = smtp://Mail.Example.org", "smtp://mail.example.org/", NULL, 1},
        {"smtp = smtp://[::1]:2525", "smtp://[::1]:2525/", NULL, 1},
        {"smtp = smtp://mail.example.org:587/client.example.org",
         "smtp://mail.example.org:587/client.example.org", NULL, 1},
        /* smtps: TLS from the start; starttls is ignored, never "no TLS". */
        {"smtp = smtps://mail.example.org:465\nstarttls = no", "smtps://mail.example.org:465/",
         NULL, 1},
        {"smtp = smtps://mail.example.org\nstarttls = yes", "smtps://mail.example.org/", NULL, 1},
        {"smtp = smtp://mail.example.org\nstarttls = no", "smtp://mail.example.org/", NULL, 0},
    };
    static const struct {
        const char *line, *from, *addr;
    } froms[] = {
        {"from = tributary <papers@example.org>", "tributary <papers@example.org>",
         "papers@example.org"},
        {"from = \"ML, papers\" <papers@example.org>", "ML, papers <papers@example.org>",
         "papers@example.org"},
        {"from = Zeitschriftenschau f\xc3\xbcr ML <p@example.org>",
         "Zeitschriftenschau f\xc3\xbcr ML <p@example.org>", "p@example.org"},
        {"from = <p@example.org>", "p@example.org", "p@example.org"},
        {"from = p@example.org", "p@example.org", "p@example.org"},
    };
    static const struct {
        const char *line, *want;
    } bad[] = {
        {"smtp = smtp://u:p@mail.example.org",
         "smtp: invalid URL 'smtp://u:p@mail.example.org': no user or password in the URL: use "
         "user and password_file"},
        {"smtp = smtps://u@mail.example.org",
         "smtp: invalid URL 'smtps://u@mail.example.org': no user or password in the URL: use "
         "user and password_file"},
        {"smtp = smtp://mail.example.org/?x=1",
         "smtp: invalid URL 'smtp://mail.example.org/?x=1': a query or fragment has no meaning "
         "here"},
        {"smtp = https://mail.example.org/",
         "smtp: invalid URL 'https://mail.example.org/': use smtp://HOST:PORT or "
         "smtps://HOST:PORT"},
        {"smtp = mail.example.org:25",
         "smtp: invalid URL 'mail.example.org:25': use smtp://HOST:PORT or smtps://HOST:PORT"},
        {"smtp = smtp://", NULL},
        {"smtp = smtp://mail.example.org:99999", NULL},
        {"from = papers", "from: invalid address 'papers': no '@'"},
        {"from = Papers <papers>", "from: invalid address 'papers': no '@'"},
        {"from = Papers <papers@example.org", NULL},
        {"from = Pa<pers <papers@example.org>", "from: invalid name 'Pa<pers' (no < > \" or \\ in "
                                                "it)"},
        {"from = Pa\"pers <papers@example.org>", "from: invalid name 'Pa\"pers' (no < > \" or \\ "
                                                 "in it)"},
        {"from = papers@[127.0.0.1]",
         "from: invalid address 'papers@[127.0.0.1]': IP address literals are not accepted"},
    };
    char text[512];
    struct tb_config *c;
    const char *msgs;
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "[mail]\nfrom = p@example.org\n%s\n", good[i].line);
        msgs = mail_load(text, &c);
        CHECK_STR(msgs, "");
        if (c != NULL) {
            CHECK_STR(c->mail.smtp, good[i].smtp_or_from);
            CHECK_EQ(c->mail.starttls, good[i].starttls);
        }
        tb_config_free(c);
    }
    for (i = 0; i < sizeof(froms) / sizeof(froms[0]); i++) {
        snprintf(text, sizeof(text), "[mail]\nsmtp = smtp://127.0.0.1\n%s\n", froms[i].line);
        msgs = mail_load(text, &c);
        CHECK_STR(msgs, "");
        if (c != NULL) {
            CHECK_STR(c->mail.from, froms[i].from);
            CHECK_STR(c->mail.from_addr, froms[i].addr);
        }
        tb_config_free(c);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[mail]\n%s\n%s\n", bad[i].line,
                 strncmp(bad[i].line, "smtp", 4) == 0 ? "from = p@example.org"
                                                      : "smtp = smtp://127.0.0.1");
        msgs = mail_load(text, &c);
        CHECK(c == NULL);
        CHECK(strncmp(msgs, "2: ", 3) == 0);
        /* One error only: a bad value is not also reported missing. */
        CHECK(strchr(msgs, '\n') == NULL);
        if (bad[i].want != NULL)
            CHECK_STR(msgs + 3, bad[i].want);
        tb_config_free(c);
    }
}

/* Required keys, reported at the [mail] header; the reserved topic name
 * only with [mail]. */
static void test_mail_required(void)
{
    struct tb_config *c;

    CHECK_STR(mail_load("[tributary]\ntitle = x\n\n[mail]\nrate = 10/min\n", &c),
              "4: [mail]: missing smtp (smtp://HOST:PORT or smtps://HOST:PORT)\n"
              "4: [mail]: missing from (Name <ADDRESS> or ADDRESS)");
    CHECK_STR(mail_load("[mail]\n", &c),
              "1: [mail]: missing smtp (smtp://HOST:PORT or smtps://HOST:PORT)\n"
              "1: [mail]: missing from (Name <ADDRESS> or ADDRESS)");
    CHECK_STR(mail_load("[mail]\nsmtp = smtp://h.example\n[mail]\nfrom = a@b.example\n", &c), "");
    tb_config_free(c);
    CHECK_STR(mail_load("[topic trending]\nquery = x\n", &c), "");
    tb_config_free(c);
    CHECK_STR(mail_load("[topic trending]\nquery = x\n[mail]\nsmtp = smtp://h.example\n"
                        "from = a@b.example\n",
                        &c),
              "1: topic 'trending': the name is reserved when [mail] is configured (the "
              "subscribe form's value for trending across everything); rename the topic");
    /* [mail] named, or with a name: an unknown section. */
    CHECK_STR(mail_load("[mail x]\n", &c), "1: unknown section [mail x]");
}

/* The password file: its first line, relative to the config's directory. */
static void test_mail_password(void)
{
    char path[128], big[1100];
    struct tb_config *c;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/pw", mail_dir);
    fp = fopen(path, "w");
    if (fp != NULL) {
        fputs("p\xc3\xa4ss word \"x\"\r\nsecond\n", fp);
        fclose(fp);
    }
    c = mail_ok("user = me\npassword_file = pw");
    if (c != NULL) {
        CHECK_STR(c->mail.user, "me");
        CHECK_STR(c->mail.password, "p\xc3\xa4ss word \"x\"");
    }
    tb_config_free(c);
    /* No line end at all; exactly the longest. */
    memset(big, 'x', 1024);
    big[1024] = '\0';
    fp = fopen(path, "w");
    if (fp != NULL) {
        fputs(big, fp);
        fclose(fp);
    }
    c = mail_ok("user = me\npassword_file = pw");
    if (c != NULL)
        CHECK_EQ(strlen(c->mail.password), 1024);
    tb_config_free(c);
    remove(path);
}

static void mail_fixtures(void)
{
    char path[128], big[1100];
    FILE *fp;

    snprintf(mail_dir, sizeof(mail_dir), "/tmp/tb_config_mail_XXXXXX");
    if (mkdtemp(mail_dir) == NULL)
        exit(1);
    snprintf(path, sizeof(path), "%s/empty", mail_dir);
    fp = fopen(path, "w");
    if (fp != NULL) {
        fputs("\nsecond line\n", fp);
        fclose(fp);
    }
    snprintf(path, sizeof(path), "%s/nul", mail_dir);
    fp = fopen(path, "w");
    if (fp != NULL) {
        fwrite("ab\0cd\n", 1, 6, fp);
        fclose(fp);
    }
    memset(big, 'x', 1025);
    big[1025] = '\0';
    snprintf(path, sizeof(path), "%s/long", mail_dir);
    fp = fopen(path, "w");
    if (fp != NULL) {
        fputs(big, fp);
        fclose(fp);
    }
    snprintf(path, sizeof(path), "%s/pw", mail_dir);
    fp = fopen(path, "w");
    if (fp != NULL) {
        fputs("secret\n", fp);
        fclose(fp);
    }
}

static void mail_cleanup(void)
{
    static const char *const names[] = {"empty", "nul", "long", "pw", "t.ini"};
    char path[128];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", mail_dir, names[i]);
        remove(path);
    }
    rmdir(mail_dir);
}

/* ---- [websub] -------------------------------------------------------- */

/* Without [websub] the hub is on with its defaults; every key read back. */
static void test_websub_keys(void)
{
    struct tb_config *c;
    const char *msgs = mail_load("[websub]\n", &c);

    CHECK_STR(msgs, "");
    if (c != NULL) {
        CHECK_EQ(c->websub.enabled, 1);
        CHECK(c->websub.hub == NULL);
        CHECK_EQ(c->websub.allow_private, 0);
        CHECK(c->websub.callback_base == NULL);
        CHECK_EQ(c->websub.lease, 10 * 86400);
        CHECK_EQ(c->websub.lease_min, 3600);
        CHECK_EQ(c->websub.lease_max, 30 * 86400);
        CHECK_EQ(c->websub.max_per_host, 100);
        CHECK_EQ(c->websub.max_per_topic, 1000);
    }
    tb_config_free(c);
    msgs = mail_load("[websub]\nenabled = no\nhub = HTTPS://Hub.Example.org/hub\n"
                     "allow_private = yes\ncallback_base = https://pub.example/tributary\n"
                     "lease = 2d\nlease_min = 10m\nlease_max = 1w\nmax_per_host = 5\n"
                     "max_per_topic = 100000\n",
                     &c);
    CHECK_STR(msgs, "");
    if (c == NULL)
        return;
    CHECK_EQ(c->websub.enabled, 0);
    CHECK_STR(c->websub.hub, "https://hub.example.org/hub");
    CHECK_EQ(c->websub.allow_private, 1);
    CHECK_STR(c->websub.callback_base, "https://pub.example/tributary/");
    CHECK_EQ(c->websub.lease, 2 * 86400);
    CHECK_EQ(c->websub.lease_min, 600);
    CHECK_EQ(c->websub.lease_max, 7 * 86400);
    CHECK_EQ(c->websub.max_per_host, 5);
    CHECK_EQ(c->websub.max_per_topic, 100000);
    tb_config_free(c);
}

/* Each key's bad values, and the lease bounds, with FILE:LINE messages. */
static void test_websub_errors(void)
{
    static const struct {
        const char *lines;
        const char *want;
    } v[] = {
        {"enabled = maybe", "2: enabled: invalid boolean 'maybe' (use yes/no, true/false, 1/0)"},
        {"hub = ftp://hub.example/", "2: hub: invalid URL 'ftp://hub.example/': "},
        {"hub = /websub", "2: hub: invalid URL '/websub': "},
        {"allow_private = 2",
         "2: allow_private: invalid boolean '2' (use yes/no, true/false, 1/0)"},
        {"callback_base = mailto:a@b.example", "2: callback_base: invalid URL "},
        {"callback_base = ", "2: callback_base: empty value"},
        {"lease = forever", "2: lease: invalid duration 'forever' (use e.g. 90s, 30m, 1h, 2h30m, "
                            "1d)"},
        {"lease_min = 0", "2: lease_min: invalid duration '0' (use e.g. 90s, 30m, 1h, 2h30m, 1d)"},
        {"lease_max = -1d",
         "2: lease_max: invalid duration '-1d' (use e.g. 90s, 30m, 1h, 2h30m, 1d)"},
        {"max_per_host = 0", "2: max_per_host: invalid number '0' (1 to 100000)"},
        {"max_per_topic = 100001", "2: max_per_topic: invalid number '100001' (1 to 100000)"},
        {"secret = x", "2: unknown key 'secret' in [websub]"},
        {"lease = 1d\nlease = 2d", "3: duplicate key 'lease' (first set at line 2)"},
        {"lease_min = 2d\nlease_max = 1d",
         "3: [websub]: lease_min (172800 s) is longer than lease_max (86400 s)"},
        {"lease = 31d", "2: [websub]: lease (2678400 s) is outside lease_min .. lease_max "
                        "(3600 .. 2592000 s)"},
        {"lease_min = 11d", "2: [websub]: lease (864000 s) is outside lease_min .. lease_max "
                            "(950400 .. 2592000 s)"},
        {"lease_max = 1d", "2: [websub]: lease (864000 s) is outside lease_min .. lease_max "
                           "(3600 .. 86400 s)"},
    };
    char text[512];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct tb_config *c;
        const char *got;

        snprintf(text, sizeof(text), "[websub]\n%s\n", v[i].lines);
        got = mail_load(text, &c);
        CHECK(c == NULL);
        tb_config_free(c);
        /* URL reasons come from curl: the prefix is ours. */
        if (strncmp(got, v[i].want, strlen(v[i].want)) != 0 || strchr(got, '\n') != NULL) {
            fprintf(stderr, "for '%s'\n", v[i].lines);
            CHECK_STR(got, v[i].want);
        }
    }
}

/* [tributary] node and lease: the defaults (host name and listen's port,
 * 2 minutes), values as given, and what is refused. */
static void test_cluster_keys(void)
{
    static const struct {
        const char *lines, *want;
    } bad[] = {
        {"node = web 1", "2: node: invalid name 'web 1' (use 1 to 64 of A-Z a-z 0-9 . _ - :)"},
        {"node = a/b", "2: node: invalid name 'a/b' (use 1 to 64 of A-Z a-z 0-9 . _ - :)"},
        {"lease = 9s", "2: lease: '9s' is too short (at least 10s)"},
        {"lease = soon", "2: lease: invalid duration 'soon' (use e.g. 90s, 30m, 1h, 2h30m, 1d)"},
    };
    char host[256] = "", want[300], text[256];
    struct tb_config *c;
    const char *got;

    CHECK_OK(gethostname(host, sizeof(host) - 1));
    host[strcspn(host, ".")] = '\0';
    got = mail_load("[tributary]\nlisten = 127.0.0.1:9123\n", &c);
    CHECK_STR(got, "");
    snprintf(want, sizeof(want), "%s:9123", host);
    if (c != NULL) {
        CHECK_STR(c->node, want);
        CHECK_EQ(c->lease, 120);
    }
    tb_config_free(c);
    got = mail_load("[tributary]\nnode = web1.example:8080\nlease = 5m\n", &c);
    CHECK_STR(got, "");
    if (c != NULL) {
        CHECK_STR(c->node, "web1.example:8080");
        CHECK_EQ(c->lease, 300);
    }
    tb_config_free(c);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[tributary]\n%s\n", bad[i].lines);
        got = mail_load(text, &c);
        CHECK(c == NULL);
        tb_config_free(c);
        CHECK_STR(got, bad[i].want);
    }
}

int main(void)
{
    fixtures = getenv("TB_FIXTURES");
    if (fixtures == NULL)
        fixtures = "fixtures";
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
    test_good();
    test_defaults();
    test_static_archive();
    test_errors();
    test_all_errors_at_once();
    test_trending();
    test_hostile();
    test_durations();
    test_sizes_and_names();
    test_long_query();
    test_default_config();
    test_many_sources();
    mail_fixtures();
    test_mail_good();
    test_mail_defaults();
    test_mail_errors();
    test_database();
    test_mail_values();
    test_mail_smtp_from();
    test_mail_required();
    test_mail_password();
    test_websub_keys();
    test_websub_errors();
    test_cluster_keys();
    mail_cleanup();
    xmlCleanupParser();
    curl_global_cleanup();
    CHECK_DONE();
}
