/*
 * The operator's mail commands: `subscribers` lists the subscriptions,
 * `subscribe` and `unsubscribe` change them (an operator's subscription is
 * active at once, without a confirmation mail), and `digest` builds the
 * digests that are due, queues them in the outbox and sends the outbox
 * (tb_digest.h, tb_smtp.h), or prints them with --dry-run. Without [mail]
 * in the config there is no mail: each says so and exits 2.
 */
#include "tb_cli.h"

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tb_config.h"
#include "tb_date.h"
#include "tb_digest.h"
#include "tb_mail.h"
#include "tb_smtp.h"
#include "tb_store.h"
#include "tb_subs.h"

#include "cli_int.h"

/* What the mail commands were asked. */
struct opts {
    const char *config; /* -c FILE, or the default */
    int json;           /* --json */
    int weekly;         /* --weekly */
    int now;            /* --now */
    int dry_run;        /* --dry-run */
    const char *to;     /* --to EMAIL */
    char **args;        /* the remaining arguments */
    int nargs;
};

/* Parses -c and the options the usage text names; returns -1 to go on,
 * else an exit status (usage printed). */
static int parse(int argc, char **argv, const char *usage, struct opts *o)
{
    static const struct option lopts[] = {
        {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'j'},
        {"weekly", no_argument, NULL, 'w'},       {"now", no_argument, NULL, 'n'},
        {"dry-run", no_argument, NULL, 'd'},      {"to", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    char flag[16];
    int c, i;

    memset(o, 0, sizeof(*o));
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:h", lopts, NULL)) != -1) {
        for (i = 0; lopts[i].name != NULL && lopts[i].val != c; i++)
            ;
        if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (lopts[i].name != NULL)
            snprintf(flag, sizeof(flag), "--%s", lopts[i].name);
        if (c == '?' || lopts[i].name == NULL || (c != 'c' && strstr(usage, flag) == NULL)) {
            fputs(usage, stderr);
            return 2;
        }
        o->config = c == 'c' ? optarg : o->config;
        o->json |= c == 'j';
        o->weekly |= c == 'w';
        o->now |= c == 'n';
        o->dry_run |= c == 'd';
        o->to = c == 't' ? optarg : o->to;
    }
    if (o->config == NULL)
        o->config = tb_cli_default_config();
    o->args = argv + optind;
    o->nargs = argc - optind;
    tb_log_set_level(TB_LOG_INFO);
    return -1;
}

/* Parses the command line (min to max arguments), loads the config and
 * opens its store; NULL with the exit status in *status (0 after --help). */
static struct tb_config *begin(int argc, char **argv, const char *usage, const char *name, int min,
                               int max, struct opts *o, struct tb_store **st, int *status)
{
    char err[512] = "";
    struct tb_config *c;

    *st = NULL;
    *status = parse(argc, argv, usage, o);
    if (*status >= 0)
        return NULL;
    if (o->nargs < min || o->nargs > max) {
        fputs(usage, stderr);
        *status = 2;
        return NULL;
    }
    *status = 1;
    c = tb__cli_load(o->config, name);
    if (c == NULL)
        return NULL;
    if (!c->mail.enabled) {
        fprintf(stderr, "tributary: %s: %s has no [mail] section: mail is off\n", name, o->config);
        *status = 2;
    } else if (tb_store_open(st, c->database, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "tributary: %s: %s: %s\n", name, c->database, err);
    } else
        return c;
    tb_config_free(c);
    return NULL;
}

/* The normalized form of a typed address into out; 0, or 2 (printed). */
static int address(const char *cmd, const char *addr, char *out, size_t len)
{
    char err[256];

    if (tb_mail_addr_check(addr, err, sizeof(err)) != 0 || tb_mail_addr_norm(addr, out, len) != 0) {
        fprintf(stderr, "tributary: %s: not a valid address: %s\n", cmd, err);
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------- subscribers */

static const char *state_name(enum tb_subs_state s)
{
    static const char *const names[] = {"pending", "active", "suspended", "left"};

    return (unsigned)s < 4 ? names[s] : "unknown";
}

static const char *freq_name(enum tb_subs_freq f)
{
    return f == TB_SUBS_WEEKLY ? "weekly" : "daily";
}

static void fmt_time(int64_t t, char *out, size_t len)
{
    if (t == 0 || tb_date_format_rfc3339(t, out, len) != 0)
        snprintf(out, len, "never");
}

static json_t *names_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static int sub_json(const struct tb_subs *s, void *data)
{
    char t1[32], t2[32], t3[32], t4[32];
    json_t *o;

    fmt_time(s->created, t1, sizeof(t1));
    fmt_time(s->confirmed, t2, sizeof(t2));
    fmt_time(s->last_sent, t3, sizeof(t3));
    fmt_time(s->covered, t4, sizeof(t4));
    o = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:i, s:s?}", "id",
                  (json_int_t)s->id, "address", s->addr, "state", state_name(s->state), "frequency",
                  freq_name(s->freq), "topics", names_json(s->topics, s->ntopics), "pending_topics",
                  names_json(s->pending, s->npending), "created", t1, "confirmed", t2,
                  "last_digest", t3, "covered", t4, "failures", s->failures, "last_error",
                  s->last_error);
    return o == NULL || json_array_append_new(data, o) != 0 ? -ENOMEM : 0;
}

static int sub_line(const struct tb_subs *s, void *data)
{
    char last[32];
    size_t i;

    (void)data;
    fmt_time(s->last_sent, last, sizeof(last));
    printf("%-40s %-9s %-6s %-20s %8d  ", s->addr, state_name(s->state), freq_name(s->freq), last,
           s->failures);
    for (i = 0; i < s->ntopics; i++)
        printf("%s%s", i ? "," : "", s->topics[i]);
    printf("%s%s\n", s->last_error ? "  " : "", s->last_error ? s->last_error : "");
    return 0;
}

int tb_cli_subscribers(int argc, char **argv)
{
    static const char usage[] =
        "usage: tributary subscribers [-c FILE] [--json]\n"
        "Per subscription: address, state, frequency, last digest, failures, topics.\n";
    struct tb_store *st;
    struct tb_config *c;
    struct opts o;
    char err[512] = "";
    json_t *a = NULL;
    int rc;

    c = begin(argc, argv, usage, "subscribers", 0, 0, &o, &st, &rc);
    if (c == NULL)
        return rc;
    if (o.json) {
        a = json_array();
        rc = a != NULL ? tb_subs_each(st, 0, sub_json, a, err, sizeof(err)) : -ENOMEM;
        if (rc == 0 && (json_dumpf(a, stdout, JSON_INDENT(2)) != 0 || putchar('\n') == EOF))
            rc = -EIO;
        json_decref(a);
    } else {
        printf("%-40s %-9s %-6s %-20s %8s  %s\n", "ADDRESS", "STATE", "FREQ", "LAST DIGEST",
               "FAILURES", "TOPICS");
        rc = tb_subs_each(st, 0, sub_line, NULL, err, sizeof(err));
    }
    if (rc != 0)
        fprintf(stderr, "tributary: subscribers: %s\n", err[0] ? err : tb_strerror(rc));
    tb_store_close(st);
    tb_config_free(c);
    return rc ? 1 : 0;
}

/* ----------------------------------------------- subscribe, unsubscribe */

/* Whether name is a topic of the config or "trending". */
static int known_topic(const struct tb_config *c, const char *name)
{
    size_t i;

    if (strcmp(name, TB_SUBS_TRENDING) == 0)
        return 1;
    for (i = 0; i < c->ntopics; i++)
        if (strcmp(c->topics[i].name, name) == 0)
            return 1;
    return 0;
}

int tb_cli_subscribe(int argc, char **argv)
{
    static const char usage[] =
        "usage: tributary subscribe [-c FILE] [--weekly] EMAIL TOPIC...\n"
        "Subscribes EMAIL to the digests of the topics (a topic's name, or 'trending' for\n"
        "trending across everything), daily unless --weekly; active at once, no\n"
        "confirmation mail. An existing subscription gets these topics instead.\n";
    char addr[TB_MAIL_ADDR_MAX + 2], err[512] = "";
    struct tb_store *st;
    struct tb_config *c;
    struct opts o;
    int64_t id = 0;
    int i, rc;

    c = begin(argc, argv, usage, "subscribe", 2, INT_MAX, &o, &st, &rc);
    if (c == NULL)
        return rc;
    rc = address("subscribe", o.args[0], addr, sizeof(addr));
    for (i = 1; i < o.nargs; i++) {
        if (!known_topic(c, o.args[i])) {
            fprintf(stderr, "tributary: subscribe: no topic named '%s' in %s\n", o.args[i],
                    o.config);
            rc = 2;
        }
    }
    if (rc == 0 && tb_subs_add(st, addr, (const char *const *)o.args + 1, (size_t)o.nargs - 1,
                               o.weekly ? TB_SUBS_WEEKLY : TB_SUBS_DAILY, (int64_t)time(NULL), &id,
                               err, sizeof(err)) != 0) {
        fprintf(stderr, "tributary: subscribe: %s\n", err);
        rc = 1;
    }
    if (rc == 0)
        printf("%s: active, %s, %d topic%s\n", addr, o.weekly ? "weekly" : "daily", o.nargs - 1,
               o.nargs == 2 ? "" : "s");
    tb_store_close(st);
    tb_config_free(c);
    return rc;
}

int tb_cli_unsubscribe(int argc, char **argv)
{
    static const char usage[] = "usage: tributary unsubscribe [-c FILE] EMAIL\n"
                                "Ends EMAIL's subscription: no further mail goes to it.\n";
    char addr[TB_MAIL_ADDR_MAX + 2], err[512] = "";
    struct tb_subs s = {0};
    struct tb_store *st;
    struct tb_config *c;
    struct opts o;
    int rc;

    c = begin(argc, argv, usage, "unsubscribe", 1, 1, &o, &st, &rc);
    if (c == NULL)
        return rc;
    rc = address("unsubscribe", o.args[0], addr, sizeof(addr));
    rc = rc ? rc : tb_subs_find(st, addr, &s, err, sizeof(err));
    rc = rc ? rc : tb_subs_leave(st, s.id, err, sizeof(err));
    if (rc == -ENOENT)
        fprintf(stderr, "tributary: unsubscribe: no subscription for %s\n", addr);
    else if (rc < 0)
        fprintf(stderr, "tributary: unsubscribe: %s\n", err[0] ? err : tb_strerror(rc));
    else if (rc == 0)
        printf("%s: left\n", addr);
    tb_subs_clear(&s);
    tb_store_close(st);
    tb_config_free(c);
    return rc < 0 ? 1 : rc;
}

/* ------------------------------------------------------------ digest */

static volatile int stopping; /* SIGTERM or SIGINT: finish the message being sent */

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

/* --dry-run: each message on stdout, as an mbox (a "From " line before
 * each; quoted-printable bodies never start a line with "From "). */
static int print_msg(const char *rcpt, const struct tb_buf *msg, void *data)
{
    char when[64];
    time_t t = time(NULL);
    struct tm tm;

    (void)rcpt;
    (void)data;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm);
    printf("From tributary@localhost %s\n", when);
    if (fwrite(msg->data, 1, msg->len, stdout) != msg->len || putchar('\n') == EOF)
        return -EIO;
    return 0;
}

/* Sends the outbox's due messages through [mail] smtp. */
static int send_outbox(const struct tb_config *c, struct tb_store *st, struct tb_smtp_stats *stats,
                       char *err, size_t errlen)
{
    struct tb_smtp_opts so = {.url = c->mail.smtp,
                              .starttls = c->mail.starttls,
                              .user = c->mail.user,
                              .password = c->mail.password,
                              .ca_file = c->mail.ca_file,
                              .from = c->mail.from_addr};
    struct tb_smtp *s = NULL;
    int rc = tb_smtp_new(&so, &s);

    if (rc != 0)
        snprintf(err, errlen, "smtp: %s", tb_strerror(rc));
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    rc = rc ? rc : tb_smtp_drain(s, st, c->mail.rate, &stopping, stats, err, errlen);
    tb_smtp_free(s);
    return rc;
}

/* The digests: built, then queued and sent (or printed). */
static int digest(const struct opts *o, const struct tb_config *c, struct tb_store *st,
                  const char *to)
{
    struct tb_digest_run_opts ro = {.now = (int64_t)time(NULL),
                                    .force = o->now,
                                    .to = to,
                                    .dry_run = o->dry_run ? print_msg : NULL};
    unsigned char key[TB_MAIL_SECRET_LEN];
    struct tb_smtp_stats stats = {0};
    char err[512] = "";
    size_t queued = 0;
    int rc, bad = 0;

    rc = tb_mail_secret_load(c->mail.secret_file, 1, key, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "tributary: digest: %s: %s\n", c->mail.secret_file, err);
        return 1;
    }
    rc = tb_digest_run(st, c, key, &ro, &queued, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "tributary: digest: %s\n", err[0] ? err : tb_strerror(rc));
        bad = 1;
    }
    if (o->dry_run) {
        fprintf(stderr, "tributary: digest: %zu message%s (dry run: nothing queued or sent)\n",
                queued, queued == 1 ? "" : "s");
        return bad || fflush(stdout) != 0;
    }
    err[0] = '\0';
    rc = send_outbox(c, st, &stats, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "tributary: digest: %s\n", err[0] ? err : tb_strerror(rc));
    fprintf(stderr, "tributary: digest: %zu queued, %zu sent, %zu deferred, %zu failed\n", queued,
            stats.sent, stats.tempfail, stats.permfail);
    return bad || rc != 0 || stats.tempfail > 0 || stats.permfail > 0;
}

int tb_cli_digest(int argc, char **argv)
{
    static const char usage[] =
        "usage: tributary digest [-c FILE] [--now] [--dry-run] [--to EMAIL]\n"
        "Builds the digests that are due (--now: every subscriber's, as if due now;\n"
        "--to: only EMAIL's), queues them in the outbox and sends the outbox; exits\n"
        "non-zero when a message could not be sent. --dry-run prints the messages\n"
        "as an mbox on stdout instead, and queues, sends and changes nothing.\n";
    char addr[TB_MAIL_ADDR_MAX + 2], err[512] = "";
    struct tb_subs s = {0};
    struct tb_store *st;
    struct tb_config *c;
    struct opts o;
    int rc;

    c = begin(argc, argv, usage, "digest", 0, 0, &o, &st, &rc);
    if (c == NULL)
        return rc;
    rc = o.to != NULL ? address("digest", o.to, addr, sizeof(addr)) : 0;
    if (rc == 0 && o.to != NULL && tb_subs_find(st, addr, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "tributary: digest: no subscription for %s\n", addr);
        rc = 1;
    }
    rc = rc ? rc : digest(&o, c, st, o.to != NULL ? addr : NULL);
    tb_subs_clear(&s);
    tb_store_close(st);
    tb_config_free(c);
    return rc;
}
