/* Tests for tb_digest: due times across midnight and weeks, the papers a
 * digest holds (since, topics, paused topics, max_papers, one section per
 * paper), Message-ID stability, the header fields and their folding,
 * quoted-printable line lengths, escaping of hostile titles and authors,
 * and no CR/LF injection into headers. The store is a real one, fed
 * through tb_norm_feed() as the daemon's is. */
#include "tb_digest.h"
#include "tb_normalize.h"
#include "tb_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/digest_int.h"
#include "check.h"

#define S(f, x) tb_arena_strdup(&(f)->arena, (x))
#define HOUR 3600
#define DAY 86400
/* Thu 2023-11-14 22:13:20 UTC; in the past, so no date is clamped. */
#define NOW 1700000000

static char dir[64];
static char errbuf[512];
static const unsigned char key[TB_MAIL_SECRET_LEN] = {1, 2, 3};

static struct tb_store *open_store(void)
{
    struct tb_store *s = NULL;
    char p[128];

    snprintf(p, sizeof(p), "%s/t.db", dir);
    unlink(p);
    if (tb_store_open(&s, p, TB_STORE_TEMP, errbuf, sizeof(errbuf)) != 0)
        fprintf(stderr, "open: %s\n", errbuf);
    CHECK(s != NULL);
    return s;
}

/* Stores, as source `name`, arXiv paper N (title, one author) published at
 * t and first seen at seen. */
static void put_paper_seen(struct tb_store *s, const char *name, int n, const char *title,
                           const char *author, int64_t t, int64_t seen)
{
    struct tb_feed *f = tb_feed_new();
    struct tb_entry *e = tb_entry_new(f);
    struct tb_person *p = tb_arena_alloc(&f->arena, sizeof(*p));
    char link[64];
    int64_t id = 0;

    snprintf(link, sizeof(link), "https://arxiv.org/abs/2501.%05d", n);
    memset(p, 0, sizeof(*p));
    p->name = S(f, author);
    e->authors = p;
    e->link = S(f, link);
    e->title = S(f, title);
    e->summary.value = S(f, "<p>We study walruses &amp; their <b>tusks</b> at length.</p>");
    e->summary.is_html = 1;
    e->published = t;
    tb_feed_append(f, e);
    CHECK_OK(tb_norm_feed(f));
    CHECK_OK(tb_store_source(s, name, NULL, &id, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_store_put_feed(s, id, f, seen, NULL, NULL, NULL, errbuf, sizeof(errbuf)));
    tb_feed_free(f);
}

/* put_paper_seen(), seen when published. */
static void put_paper(struct tb_store *s, const char *name, int n, const char *title,
                      const char *author, int64_t t)
{
    put_paper_seen(s, name, n, title, author, t, t);
}

static struct tb_config_topic topics[2];
static struct tb_config cfg;

static void config(void)
{
    topics[0] = (struct tb_config_topic){
        .name = "walrus", .title = "Walröss\r\nBcc: x@evil.example", .query = "walruses"};
    topics[1] = (struct tb_config_topic){.name = "none", .title = "None", .query = "zebras"};
    cfg.base_url = "https://papers.example/";
    cfg.title = "Papers \"daily\"";
    cfg.topics = topics;
    cfg.ntopics = 2;
    cfg.trending = (struct tb_config_trending){.window = 7 * DAY, .half_life = DAY, .limit = 30};
    cfg.mail.enabled = 1;
    cfg.mail.from = "Trïbutary <papers@papers.example>";
    cfg.mail.from_addr = "papers@papers.example";
    cfg.mail.send_at = 7 * 60;
    cfg.mail.weekly_day = 1;
    cfg.mail.max_papers = 20;
}

static void test_slot(void)
{
    struct tb_config_mail m = {.send_at = 7 * 60, .weekly_day = 1};
    int64_t day = (int64_t)NOW / DAY * DAY; /* Tue 2023-11-14 00:00 */

    /* Daily: today's 07:00 once passed, else yesterday's; the slot itself is due. */
    CHECK_EQ(tb_digest_slot(&m, TB_SUBS_DAILY, day + 8 * HOUR), day + 7 * HOUR);
    CHECK_EQ(tb_digest_slot(&m, TB_SUBS_DAILY, day + 7 * HOUR), day + 7 * HOUR);
    CHECK_EQ(tb_digest_slot(&m, TB_SUBS_DAILY, day + 7 * HOUR - 1), day - DAY + 7 * HOUR);
    /* Across midnight: 23:30 is yesterday's slot until tonight's 23:30. */
    m.send_at = 23 * 60 + 30;
    CHECK_EQ(tb_digest_slot(&m, TB_SUBS_DAILY, day + 10 * 60), day - 30 * 60);
    CHECK_EQ(tb_digest_slot(&m, TB_SUBS_DAILY, day + DAY - 1), day + DAY - 30 * 60);
    /* Weekly on Mondays at 07:00; 2023-11-14 is a Tuesday, 11-13 a Monday. */
    m.send_at = 7 * 60;
    CHECK_EQ(tb_digest_slot(&m, TB_SUBS_WEEKLY, day + 8 * HOUR), day - DAY + 7 * HOUR);
    CHECK_EQ(tb_digest_slot(&m, TB_SUBS_WEEKLY, day - DAY + 7 * HOUR), day - DAY + 7 * HOUR);
    CHECK_EQ(tb_digest_slot(&m, TB_SUBS_WEEKLY, day - DAY + 7 * HOUR - 1),
             day - 8 * DAY + 7 * HOUR);
    /* Sunday 2023-11-19 late: still the Monday before. */
    CHECK_EQ(tb_digest_slot(&m, TB_SUBS_WEEKLY, day + 5 * DAY + 23 * HOUR), day - DAY + 7 * HOUR);
    /* Weekly on Sundays (0) at 23:30, across the week's end. */
    m.weekly_day = 0;
    m.send_at = 23 * 60 + 30;
    CHECK_EQ(tb_digest_slot(&m, TB_SUBS_WEEKLY, day + 5 * DAY + 23 * HOUR + 45 * 60),
             day + 5 * DAY + 23 * HOUR + 30 * 60);
    CHECK_EQ(tb_digest_slot(&m, TB_SUBS_WEEKLY, day + 6 * DAY + HOUR),
             day + 5 * DAY + 23 * HOUR + 30 * 60);
    CHECK_EQ(tb_digest_slot(&m, TB_SUBS_WEEKLY, day), day - 2 * DAY + 23 * HOUR + 30 * 60);
}

/* Decodes quoted-printable text (soft breaks joined, CRLF kept). */
static size_t qp_decode(const char *s, size_t n, char *out)
{
    size_t i, k = 0;
    unsigned v;

    for (i = 0; i < n; i++) {
        if (s[i] == '=' && i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n')
            i += 2;
        else if (s[i] == '=' && i + 2 < n && sscanf(s + i + 1, "%2X", &v) == 1) {
            out[k++] = (char)v;
            i += 2;
        } else
            out[k++] = s[i];
    }
    out[k] = '\0';
    return k;
}

/* Every line of m ends with CRLF, none passes `max` characters (but
 * List-Unsubscribe, whose URL cannot be folded, passes no 998). */
static int lines_within(const char *m, size_t n, size_t max)
{
    const char *end = m + n, *nl;
    size_t lim;

    while (m < end) {
        nl = memchr(m, '\n', (size_t)(end - m));
        lim = strncmp(m, "List-Unsubscribe: <", 19) == 0 ? 998 : max;
        if (nl == NULL || nl == m || nl[-1] != '\r' || (size_t)(nl - m - 1) > lim) {
            fprintf(stderr, "bad line: %.*s\n", (int)(nl ? nl - m : end - m), m);
            return 0;
        }
        m = nl + 1;
    }
    return 1;
}

static void test_qp(void)
{
    struct tb_buf b;
    char in[600], out[700];
    size_t n;

    snprintf(in, sizeof(in), ".dot\nFrom here\ntrailing \n%s%s\n",
             "====================================================================",
             "é long line with spaces and = signs and ünïcödé that goes on and on and on");
    tb_buf_init(&b, 1 << 20);
    CHECK_OK(tb__mail_qp(&b, in, strlen(in)));
    CHECK(lines_within(b.data, b.len, 76));
    CHECK(strncmp(b.data, "=2Edot\r\n=46rom here\r\ntrailing=20\r\n", 33) == 0);
    n = qp_decode(b.data, b.len, out);
    /* Decoded, it is the input with CRLF line ends. */
    CHECK_EQ(n, strlen(in) + 4);
    CHECK(strstr(out, "ünïcödé that goes on") != NULL);
    tb_buf_free(&b);
}

static struct tb_subs subscriber(char **t, size_t n)
{
    struct tb_subs sub = {0};

    sub.id = 42;
    sub.addr = "reader@example.org";
    sub.state = TB_SUBS_ACTIVE;
    sub.topics = t;
    sub.ntopics = n;
    return sub;
}

/* The header block of m (up to the blank line), NUL-terminated in out. */
static void head_of(const struct tb_buf *m, char *out, size_t len)
{
    const char *end = strstr(m->data, "\r\n\r\n");

    snprintf(out, len, "%.*s", end ? (int)(end - m->data + 2) : 0, m->data);
}

static void test_build(void)
{
    struct tb_store *s = open_store();
    char *both[] = {"none", "trending", "walrus"}, *gone[] = {"gone"}, *one[] = {"walrus"};
    struct tb_subs sub = subscriber(both, 3);
    char id1[256], id2[256], head[8192], *dec, *html, *subj;
    struct tb_buf m, m2;
    size_t n = 0, i;

    put_paper(s, "arxiv", 1, "<script>alert(1)</script>\r\nBcc: victim@example.org", "<b>Eve</b>",
              NOW - 2 * HOUR);
    for (i = 2; i <= 5; i++)
        put_paper(s, "arxiv", (int)i, "A walrus paper", "Ann Author", NOW - (int64_t)i * HOUR);
    tb_buf_init(&m, TB__DIGEST_CAP);
    tb_buf_init(&m2, TB__DIGEST_CAP);
    CHECK_OK(tb_digest_build(s, &cfg, key, &sub, NOW, NOW - DAY, &m, id1, sizeof(id1), &n, errbuf,
                             sizeof(errbuf)));
    /* Five papers, each once: walrus holds them all, trending none again. */
    CHECK_EQ(n, 5);
    CHECK(lines_within(m.data, m.len, 998));
    head_of(&m, head, sizeof(head));
    CHECK(lines_within(head, strlen(head), 78));
    CHECK(strstr(head, "\r\nBcc:") == NULL);
    CHECK(strstr(head, "\r\nTo: reader@example.org\r\n") != NULL);
    CHECK(strstr(head, "From: =?UTF-8?Q?Tr=C3=AFbutary?= <papers@papers.example>\r\n") != NULL);
    CHECK(strstr(head, "\r\nMessage-ID: <tributary.digest.42.1700000000@papers.example>\r\n"));
    CHECK(strstr(head, "\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n") != NULL);
    CHECK(strstr(head, "\r\nList-Id: \"Papers \\\"daily\\\" digest\" "
                       "<tributary-digest.papers.example>\r\n") != NULL);
    CHECK(strstr(head, "\r\nList-Unsubscribe: <https://papers.example/unsubscribe?t=u.42.0.") !=
          NULL);
    CHECK(strstr(head, "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") != NULL);
    CHECK(strstr(head, "\r\nAuto-Submitted: auto-generated\r\n") != NULL);
    CHECK(strstr(head, "\r\nMIME-Version: 1.0\r\n") != NULL);
    CHECK(strstr(head, "\r\nSubject: =?UTF-8?Q?Trending_papers=3A_Walr=C3=B6ss") != NULL);
    CHECK(lines_within(m.data + strlen(head), m.len - strlen(head), 76));
    dec = malloc(m.len + 1);
    qp_decode(m.data, m.len, dec);
    /* The hostile title is text in both parts, never markup or a header. */
    html = strstr(dec, "Content-Type: text/html");
    CHECK(html != NULL && strstr(html, "<script>") == NULL);
    CHECK(strstr(dec, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL);
    CHECK(strstr(dec, "&lt;b&gt;Eve&lt;/b&gt;") != NULL);
    CHECK(strstr(dec, "<b>Eve</b>") != NULL); /* the text part: as written, it is text */
    CHECK(strstr(dec, "\r\nBcc: victim") == NULL);
    CHECK(strstr(dec, "https://papers.example/manage?t=m.42.0.") != NULL);
    CHECK(strstr(dec, "https://papers.example/topics/walrus.html") != NULL);
    CHECK(strstr(dec, "https://papers.example/topics/walrus.atom") != NULL);
    CHECK(strstr(dec, "https://papers.example/trending.html") == NULL);
    CHECK(strstr(dec, "Mentioned by 1 source") != NULL);
    CHECK(strstr(dec, "walruses &amp; their tusks") != NULL);
    free(dec);
    /* The same digest rebuilt is the same message; a later one is another. */
    CHECK_OK(tb_digest_build(s, &cfg, key, &sub, NOW, NOW - DAY, &m2, id2, sizeof(id2), &n, errbuf,
                             sizeof(errbuf)));
    CHECK_STR(id1, id2);
    CHECK(m.len == m2.len && memcmp(m.data, m2.data, m.len) == 0);
    tb_buf_reset(&m2);
    CHECK_OK(tb_digest_build(s, &cfg, key, &sub, NOW + 60, NOW - DAY, &m2, id2, sizeof(id2), &n,
                             errbuf, sizeof(errbuf)));
    CHECK(strcmp(id1, id2) != 0);
    /* max_papers counts across sections. */
    cfg.mail.max_papers = 2;
    tb_buf_reset(&m2);
    CHECK_OK(tb_digest_build(s, &cfg, key, &sub, NOW, NOW - DAY, &m2, id2, sizeof(id2), &n, errbuf,
                             sizeof(errbuf)));
    CHECK_EQ(n, 2);
    cfg.mail.max_papers = 20;
    /* Only what gained a voice after `since`: papers 2..5 are older than 2h30. */
    sub = subscriber(one, 1);
    tb_buf_reset(&m2);
    CHECK_OK(tb_digest_build(s, &cfg, key, &sub, NOW, NOW - 2 * HOUR - 1800, &m2, id2, sizeof(id2),
                             &n, errbuf, sizeof(errbuf)));
    CHECK_EQ(n, 2);
    /* The subject names the topics by title, non-ASCII as encoded-words;
     * the CR LF in the title is a space. */
    head_of(&m2, head, sizeof(head));
    CHECK(lines_within(head, strlen(head), 76));
    CHECK(strstr(head, "\r\nSubject: =?UTF-8?Q?Trending_papers=3A_Walr=C3=B6ss__Bcc=3A_x=40evil") !=
          NULL);
    CHECK(strstr(head, "\r\nBcc:") == NULL);
    /* A long ASCII title folds at spaces, within 78 columns, unencoded. */
    topics[0].title = "Walruses and their many relatives across the northern seas, "
                      "with tusks, whiskers and very long names indeed";
    tb_buf_reset(&m2);
    CHECK_OK(tb_digest_build(s, &cfg, key, &sub, NOW, NOW - DAY, &m2, id2, sizeof(id2), &n, errbuf,
                             sizeof(errbuf)));
    head_of(&m2, head, sizeof(head));
    CHECK(lines_within(head, strlen(head), 78));
    CHECK(strstr(head, "Subject: =?") == NULL);
    CHECK(strstr(head, "\r\nSubject: Trending papers: Walruses and their many relatives") != NULL);
    subj = strstr(head, "\r\nSubject: ");
    CHECK(subj != NULL && strstr(subj + 2, "\r\n")[2] == ' '); /* continued on a folded line */
    topics[0].title = "Walröss\r\nBcc: x@evil.example";
    /* Nothing new: no message. */
    tb_buf_reset(&m2);
    CHECK_OK(tb_digest_build(s, &cfg, key, &sub, NOW, NOW, &m2, id2, sizeof(id2), &n, errbuf,
                             sizeof(errbuf)));
    CHECK_EQ(n, 0);
    CHECK_EQ(m2.len, 0);
    /* A topic the config no longer has is paused: nothing, no error. */
    sub = subscriber(gone, 1);
    CHECK_OK(tb_digest_build(s, &cfg, key, &sub, NOW, NOW - DAY, &m2, id2, sizeof(id2), &n, errbuf,
                             sizeof(errbuf)));
    CHECK_EQ(n, 0);
    tb_buf_free(&m);
    tb_buf_free(&m2);
    tb_store_close(s);
}

static void test_confirm(void)
{
    char *pend[] = {"walrus"};
    struct tb_subs sub = subscriber(NULL, 0);
    char id[256], head[8192], *dec;
    struct tb_buf m;

    sub.state = TB_SUBS_PENDING;
    sub.pending = pend;
    sub.npending = 1;
    tb_buf_init(&m, TB__DIGEST_CAP);
    CHECK_OK(tb_digest_confirm(&cfg, key, &sub, NOW, &m, id, sizeof(id)));
    CHECK_STR(id, "<tributary.confirm.42.1700000000@papers.example>");
    head_of(&m, head, sizeof(head));
    CHECK(lines_within(head, strlen(head), 78));
    CHECK(strstr(head, "List-Unsubscribe") == NULL); /* not a list message */
    CHECK(strstr(head, "\r\nAuto-Submitted: auto-generated\r\n") != NULL);
    dec = malloc(m.len + 1);
    qp_decode(m.data, m.len, dec);
    CHECK(strstr(dec, "https://papers.example/confirm?t=c.42.") != NULL);
    free(dec);
    CHECK(lines_within(m.data, m.len, 998));
    CHECK_EQ(tb_digest_confirm(&cfg, key, &sub, NOW, &m, id, 64), -EINVAL);
    tb_buf_free(&m);
}

/* Keeps the last message a dry run hands over, and counts them. */
struct seen_msgs {
    int n;
    char last[1 << 16];
};

static int count_msg(const char *rcpt, const struct tb_buf *msg, void *data)
{
    struct seen_msgs *x = data;

    CHECK(msg->len > 0 && strstr(msg->data, rcpt) != NULL);
    x->n++;
    snprintf(x->last, sizeof(x->last), "%s", msg->data);
    return 0;
}

static int64_t covered_of(struct tb_store *s, int64_t id)
{
    struct tb_subs sub = {0};
    int64_t t;

    CHECK_OK(tb_subs_get(s, id, &sub, errbuf, sizeof(errbuf)));
    t = sub.covered;
    tb_subs_clear(&sub);
    return t;
}

static void test_run(void)
{
    const char *walrus[] = {"walrus"}, *trending[] = {"trending"};
    struct tb_store *s = open_store();
    int64_t tue = (int64_t)NOW / DAY * DAY + 7 * HOUR;
    struct tb_digest_run_opts o = {.now = NOW};
    static struct seen_msgs x;
    struct tb_subs_msg msg = {0};
    int64_t a = 0, b = 0;
    char id[128];
    size_t q = 9;

    cfg.mail.send_at = 7 * 60;
    put_paper(s, "arxiv", 1, "A walrus paper", "Ann Author", NOW - 2 * HOUR);
    CHECK_OK(tb_subs_add(s, "a@example.org", walrus, 1, TB_SUBS_DAILY, NOW - 3 * DAY, &a, errbuf,
                         sizeof(errbuf)));
    CHECK_OK(tb_subs_add(s, "b@example.org", trending, 1, TB_SUBS_DAILY, NOW - 3 * DAY, &b, errbuf,
                         sizeof(errbuf)));
    /* Due since Tuesday's 07:00 slot, built at NOW: one message each, with
     * the Message-ID of the subscription and the slot; covered is NOW. */
    CHECK_OK(tb_digest_run(s, &cfg, key, &o, &q, errbuf, sizeof(errbuf)));
    CHECK_EQ(q, 2);
    CHECK_EQ(covered_of(s, a), NOW);
    CHECK_EQ(covered_of(s, b), NOW);
    CHECK_EQ(tb_subs_next(s, NOW, &msg, NULL, errbuf, sizeof(errbuf)), 1);
    snprintf(id, sizeof(id), "<tributary.digest.%lld.%lld@papers.example>", (long long)a,
             (long long)tue);
    CHECK_STR(msg.message_id, id);
    CHECK_STR(msg.rcpt, "a@example.org");
    CHECK(msg.len > 0 && strstr(msg.data, id) != NULL);
    tb_subs_msg_clear(&msg);
    /* Not due again before Wednesday's slot. */
    o.now = NOW + HOUR;
    CHECK_OK(tb_digest_run(s, &cfg, key, &o, &q, errbuf, sizeof(errbuf)));
    CHECK_EQ(q, 0);
    CHECK_EQ(covered_of(s, a), NOW);
    /* A paper dated before that digest but fetched after it is new to the
     * next one; paper 1 is not. */
    put_paper_seen(s, "arxiv", 2, "A late walrus paper", "Ann Author", NOW - 3 * HOUR,
                   NOW + 2 * HOUR);
    o.now = NOW + DAY;
    o.force = 1;
    o.dry_run = count_msg;
    o.data = &x;
    o.to = "a@example.org";
    CHECK_OK(tb_digest_run(s, &cfg, key, &o, &q, errbuf, sizeof(errbuf)));
    CHECK_EQ(x.n, 1);
    CHECK(strstr(x.last, "arxiv.org/abs/2501.00002") != NULL);
    CHECK(strstr(x.last, "arxiv.org/abs/2501.00001") == NULL);
    CHECK_EQ(covered_of(s, a), NOW); /* a dry run changes nothing */
    o = (struct tb_digest_run_opts){.now = NOW + DAY};
    CHECK_OK(tb_digest_run(s, &cfg, key, &o, &q, errbuf, sizeof(errbuf)));
    CHECK_EQ(q, 2);
    CHECK_EQ(covered_of(s, a), NOW + DAY);
    /* --now with nothing new since: nothing, even forced. */
    o = (struct tb_digest_run_opts){
        .now = NOW + DAY + HOUR, .force = 1, .dry_run = count_msg, .data = &x};
    x.n = 0;
    CHECK_OK(tb_digest_run(s, &cfg, key, &o, &q, errbuf, sizeof(errbuf)));
    CHECK_EQ(q, 0);
    CHECK_EQ(x.n, 0);
    /* A new paper; once b@ left, only a@ gets it. */
    put_paper(s, "arxiv", 7, "A later walrus paper", "Ann Author", NOW + DAY + 30 * 60);
    CHECK_OK(tb_subs_leave(s, b, errbuf, sizeof(errbuf)));
    CHECK_OK(tb_digest_run(s, &cfg, key, &o, &q, errbuf, sizeof(errbuf)));
    CHECK_EQ(q, 1);
    CHECK_EQ(x.n, 1);
    CHECK(strstr(x.last, "To: a@example.org\r\n") != NULL);
    /* Queued for real: covered moves to the forced time. */
    o.dry_run = NULL;
    CHECK_OK(tb_digest_run(s, &cfg, key, &o, &q, errbuf, sizeof(errbuf)));
    CHECK_EQ(q, 1);
    CHECK_EQ(covered_of(s, a), NOW + DAY + HOUR);
    /* Thursday's slot with nothing new: no message, covered moves on, and
     * the digest is not built again at the next tick. */
    o = (struct tb_digest_run_opts){.now = NOW + 2 * DAY};
    CHECK_OK(tb_digest_run(s, &cfg, key, &o, &q, errbuf, sizeof(errbuf)));
    CHECK_EQ(q, 0);
    CHECK_EQ(covered_of(s, a), NOW + 2 * DAY);
    tb_store_close(s);
}

/* A topic whose query fails holds back neither the other subscribers nor
 * the run; the error is reported. */
static void test_bad_query(void)
{
    const char *none[] = {"none"}, *walrus[] = {"walrus"};
    struct tb_digest_run_opts o = {.now = NOW, .force = 1};
    struct tb_store *s = open_store();
    int64_t x = 0, y = 0;
    size_t q = 0;

    put_paper(s, "arxiv", 1, "A walrus paper", "Ann Author", NOW - 2 * HOUR);
    CHECK_OK(tb_subs_add(s, "x@example.org", none, 1, TB_SUBS_DAILY, NOW - DAY, &x, errbuf,
                         sizeof(errbuf)));
    CHECK_OK(tb_subs_add(s, "y@example.org", walrus, 1, TB_SUBS_DAILY, NOW - DAY, &y, errbuf,
                         sizeof(errbuf)));
    topics[1].query = "AND AND (";
    errbuf[0] = '\0';
    CHECK_EQ(tb_digest_run(s, &cfg, key, &o, &q, errbuf, sizeof(errbuf)), TB_EQUERY);
    CHECK(errbuf[0] != '\0');
    CHECK_EQ(q, 1);
    CHECK_EQ(covered_of(s, x), 0);
    CHECK_EQ(covered_of(s, y), NOW);
    topics[1].query = "zebras";
    tb_store_close(s);
}

int main(void)
{
    char p[128];

    snprintf(dir, sizeof(dir), "/tmp/tb_digest_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    config();
    test_slot();
    test_qp();
    test_build();
    test_confirm();
    test_run();
    test_bad_query();
    snprintf(p, sizeof(p), "%s/t.db", dir);
    unlink(p);
    rmdir(dir);
    CHECK_DONE();
}
