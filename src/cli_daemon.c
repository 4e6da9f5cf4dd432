/*
 * The config-driven commands: serve, fetch, sources and check (the OPML
 * commands are in cli_opml.c). Each finds the config (-c FILE, else
 * feeds/tributary.ini in the current directory, else ../feeds/tributary.ini
 * beside the executable) and hands the work to tb_daemon or tb_store.
 */
#include "tb_cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tb_config.h"
#include "tb_db.h"
#include "tb_daemon.h"
#include "tb_date.h"
#include "tb_publish.h"
#include "tb_push.h"
#include "tb_store.h"
#include "tb_topic.h"

#include "cli_int.h"

#define DEFAULT_CONFIG "feeds/tributary.ini"

/* The default config: ./feeds/tributary.ini, else EXE/../feeds/tributary.ini. */
const char *tb_cli_default_config(void)
{
    static char path[4200];
    char exe[4096];
    ssize_t n;

    if (access(DEFAULT_CONFIG, F_OK) == 0)
        return DEFAULT_CONFIG;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return DEFAULT_CONFIG;
    exe[n] = '\0';
    snprintf(path, sizeof(path), "%s/../" DEFAULT_CONFIG, dirname(exe));
    return access(path, F_OK) == 0 ? path : DEFAULT_CONFIG;
}

/* Parses [-c FILE] [-v] [--json] [--help], and names only when `names` is
 * set; returns -1 to go on, else an exit status. */
int tb__cli_parse_opts(int argc, char **argv, struct tb__cli_opts *o, const char *usage, int names)
{
    static const struct option lopts[] = {{"config", required_argument, NULL, 'c'},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;

    memset(o, 0, sizeof(*o));
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:vh", lopts, NULL)) != -1) {
        if (c == 'c')
            o->config = optarg;
        else if (c == 'v')
            o->verbose = 1;
        else if (c == 'j' && strstr(usage, "--json") != NULL)
            o->json = 1;
        else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (o->config == NULL)
        o->config = tb_cli_default_config();
    o->args = argv + optind;
    o->nargs = argc - optind;
    if (o->nargs > 0 && !names) {
        fputs(usage, stderr);
        return 2;
    }
    tb_log_set_level(o->verbose ? TB_LOG_DEBUG : TB_LOG_INFO);
    return -1;
}

/* Loads the config, printing every error as FILE:LINE: message. */
struct tb_config *tb__cli_load(const char *path, const char *cmd)
{
    struct tb_config *c = NULL;
    struct tb_config_error *errs = NULL;
    size_t i, nerrs = 0;
    int rc = tb_config_load(path, &c, &errs, &nerrs);

    for (i = 0; i < nerrs; i++)
        fprintf(stderr, "%s:%d: %s\n", errs[i].file, errs[i].line, errs[i].msg);
    if (rc && nerrs == 0)
        fprintf(stderr, "tributary: %s: %s: %s\n", cmd, path, tb_strerror(rc));
    tb_config_errors_free(errs, nerrs);
    return c;
}

int tb_cli_serve(int argc, char **argv)
{
    static const char usage[] =
        "usage: tributary serve [-c FILE] [-v]\n"
        "Polls the sources, stores and publishes their entries, and serves the topic feeds\n"
        "until SIGTERM or SIGINT; SIGHUP reloads the config. -v logs debug detail.\n";
    struct tb_daemon_opts d = {0};
    struct tb__cli_opts o;
    int rc = tb__cli_parse_opts(argc, argv, &o, usage, 0);

    if (rc >= 0)
        return rc;
    d.config = o.config;
    return tb_daemon_run(&d);
}

int tb_cli_fetch(int argc, char **argv)
{
    static const char usage[] =
        "usage: tributary fetch [-c FILE] [-v] [NAME...]\n"
        "Polls every enabled source (or the named ones) now, one progress line each,\n"
        "publishes, and exits non-zero if a source failed.\n";
    struct tb_daemon_opts d = {0};
    struct tb_config *c;
    struct tb__cli_opts o;
    int i, rc = tb__cli_parse_opts(argc, argv, &o, usage, 1);

    if (rc >= 0)
        return rc;
    c = tb__cli_load(o.config, "fetch");
    if (c == NULL)
        return 1;
    for (i = 0; i < o.nargs; i++) {
        if (tb_config_find_source(c, o.args[i]) == NULL) {
            fprintf(stderr, "tributary: fetch: no source named '%s' in %s\n", o.args[i], o.config);
            rc = 2;
        }
    }
    tb_config_free(c);
    if (rc > 0)
        return rc;
    d.config = o.config;
    d.once = 1;
    d.names = o.args;
    d.nnames = (size_t)o.nargs;
    return tb_daemon_run(&d);
}

/* ------------------------------------------------------------ sources */

static void fmt_time(int64_t t, char *out, size_t len)
{
    if (t == 0 || tb_date_format_rfc3339(t, out, len) != 0)
        snprintf(out, len, "never");
}

/* The stored state of a configured source; NULL when never polled. */
static const struct tb_store_state *state_of(const struct tb_config_source *src,
                                             const struct tb_store_state *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(v[i].name, src->name) == 0)
            return (v[i].config_url && strcmp(v[i].config_url, src->url) == 0) ? &v[i] : NULL;
    }
    return NULL;
}

static const char *status_text(const struct tb_config_source *src, const struct tb_store_state *st,
                               char *buf, size_t len)
{
    if (!src->enabled)
        return "paused";
    if (st == NULL || st->last_attempt == 0)
        return "never";
    if (st->gone)
        return "gone";
    if (st->last_status == 0)
        return "error";
    snprintf(buf, len, "%ld", st->last_status);
    return buf;
}

/* The WebSub subscription of a source's stored state, or NULL. */
static const struct tb_push_sub *push_of(const struct tb_store_state *st,
                                         const struct tb_push_sub *v, size_t n)
{
    size_t i;

    for (i = 0; st != NULL && i < n; i++) {
        if (v[i].source_id == st->source_id)
            return &v[i];
    }
    return NULL;
}

/* "none", "pending", "active until T", "denied: why", "failed: why", "leaving". */
static const char *push_text(const struct tb_push_sub *p, char *buf, size_t len)
{
    char t[32];

    if (p == NULL)
        return "none";
    if (p->state == TB_PUSH_ACTIVE) {
        fmt_time(p->lease_end, t, sizeof(t));
        snprintf(buf, len, "active until %s", t);
    } else if (p->state == TB_PUSH_DENIED || p->state == TB_PUSH_FAILED) {
        snprintf(buf, len, "%s: %s", tb_push_state_name(p->state), p->reason ? p->reason : "?");
    } else {
        snprintf(buf, len, "%s", tb_push_state_name(p->state));
    }
    return buf;
}

static json_t *push_json(const struct tb_push_sub *p)
{
    char t1[32], t2[32];

    if (p == NULL)
        return json_pack("{s:s}", "state", "none");
    fmt_time(p->state == TB_PUSH_ACTIVE ? p->lease_end : 0, t1, sizeof(t1));
    fmt_time(p->last_push, t2, sizeof(t2));
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:I, s:I, s:i}", "state",
                     tb_push_state_name(p->state), "hub", p->hub, "topic", p->topic, "lease_end",
                     t1, "reason", p->reason, "last_push", t2, "pushes", (json_int_t)p->pushes,
                     "rejected", (json_int_t)p->rejected, "failures", p->failures);
}

static json_t *source_json(const struct tb_config_source *src, const struct tb_store_state *st,
                           const struct tb_push_sub *push)
{
    json_t *o;

    char t1[32], t2[32], t3[32], sb[16];

    fmt_time(st ? st->last_attempt : 0, t1, sizeof(t1));
    fmt_time(st ? st->last_success : 0, t2, sizeof(t2));
    fmt_time(st ? st->next_poll : 0, t3, sizeof(t3));
    o = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:I, s:s?, s:s, s:s, s:s, s:I, s:i, s:o, s:s?,"
                  " s:s?}",
                  "name", src->name, "url", st && st->url ? st->url : src->url, "status",
                  status_text(src, st, sb, sizeof(sb)), "enabled",
                  src->enabled && (st == NULL || !st->gone), "paused", !src->enabled, "gone",
                  st != NULL && st->gone, "http_status", (json_int_t)(st ? st->last_status : 0),
                  "last_error", st ? st->last_error : NULL, "last_attempt", t1, "last_success", t2,
                  "next_poll", t3, "entries", (json_int_t)(st ? st->entries_seen : 0), "failures",
                  st ? st->failures : 0, "push", push_json(push), "node",
                  st ? st->polled_node : NULL, "leased_by", st ? st->lease_node : NULL);
    return o;
}

static int print_json(const struct tb_config *c, const struct tb_store_state *v, size_t n,
                      const struct tb_push_sub *pv, size_t pn)
{
    const struct tb_store_state *st;
    json_t *a = json_array();
    size_t i;
    int rc = a == NULL;

    for (i = 0; rc == 0 && i < c->nsources; i++) {
        st = state_of(&c->sources[i], v, n);
        rc = json_array_append_new(a, source_json(&c->sources[i], st, push_of(st, pv, pn)));
    }
    if (rc == 0)
        rc = json_dumpf(a, stdout, JSON_INDENT(2)) != 0;
    json_decref(a);
    if (rc == 0)
        putchar('\n');
    return rc;
}

static void print_table(const struct tb_config *c, const struct tb_store_state *v, size_t n,
                        const struct tb_push_sub *pv, size_t pn)
{
    const struct tb_store_state *st;
    char t1[32], t2[32], sb[16], pb[320];
    size_t i;

    printf("%-24s %-6s %-20s %-20s %7s  %-40s %-32s %s\n", "NAME", "STATUS", "LAST SUCCESS",
           "NEXT POLL", "ENTRIES", "URL", "PUSH", "LAST ERROR");
    for (i = 0; i < c->nsources; i++) {
        st = state_of(&c->sources[i], v, n);
        fmt_time(st ? st->last_success : 0, t1, sizeof(t1));
        fmt_time(st ? st->next_poll : 0, t2, sizeof(t2));
        printf("%-24s %-6s %-20s %-20s %7lld  %-40s %-32s %s\n", c->sources[i].name,
               status_text(&c->sources[i], st, sb, sizeof(sb)), t1, t2,
               (long long)(st ? st->entries_seen : 0), st && st->url ? st->url : c->sources[i].url,
               push_text(push_of(st, pv, pn), pb, sizeof(pb)),
               st && st->last_error ? st->last_error : "-");
    }
}

/* Reads every stored state and WebSub subscription, unless there is no database yet. */
static int read_states(const char *db, struct tb_store_state **v, size_t *n,
                       struct tb_push_sub **pv, size_t *pn)
{
    struct tb_store *s = NULL;
    char err[512] = "";
    int rc;

    *v = NULL;
    *n = 0;
    *pv = NULL;
    *pn = 0;
    if (!tb_db_is_pg(db) && access(db, F_OK) != 0)
        return 0;
    rc = tb_store_open(&s, db, 0, err, sizeof(err));
    if (rc == 0)
        rc = tb_store_state_list(s, v, n, err, sizeof(err));
    if (rc == 0)
        rc = tb_push_list(s, pv, pn, err, sizeof(err));
    if (rc)
        fprintf(stderr, "tributary: sources: %s: %s\n", db, err[0] ? err : tb_strerror(rc));
    tb_store_close(s);
    return rc;
}

int tb_cli_sources(int argc, char **argv)
{
    static const char usage[] =
        "usage: tributary sources [-c FILE] [--json]\n"
        "Per source: last status, last error, last success, next poll, entries stored\n"
        "and WebSub push state (none, pending, active until T, denied or failed: why).\n";
    struct tb_store_state *v = NULL;
    struct tb_push_sub *pv = NULL;
    size_t pn = 0;
    struct tb_config *c;
    struct tb__cli_opts o;
    size_t n = 0;
    int rc = tb__cli_parse_opts(argc, argv, &o, usage, 0);

    if (rc >= 0)
        return rc;
    c = tb__cli_load(o.config, "sources");
    if (c == NULL)
        return 1;
    rc = read_states(c->database, &v, &n, &pv, &pn);
    if (rc == 0 && o.json)
        rc = print_json(c, v, n, pv, pn);
    else if (rc == 0)
        print_table(c, v, n, pv, pn);
    tb_store_state_free(v, n);
    tb_push_list_free(pv, pn);
    tb_config_free(c);
    return rc ? 1 : 0;
}

/* -------------------------------------------------------------- check */

/* Reports every topic query that does not compile, against an empty store. */
static size_t check_topics(const struct tb_config *c)
{
    struct tb_store *s = NULL;
    char err[512] = "";
    size_t i, bad = 0;

    if (tb_store_open(&s, ":memory:", TB_STORE_TEMP, err, sizeof(err)) != 0) {
        fprintf(stderr, "tributary: check: %s\n", err);
        return 1;
    }
    for (i = 0; i < c->ntopics; i++) {
        if (tb_topic_check(s, c->topics[i].query, err, sizeof(err)) == 0)
            continue;
        fprintf(stderr, "%s:%d: topic %s: invalid query: %s\n", c->topics[i].file,
                c->topics[i].line, c->topics[i].name, err);
        bad++;
    }
    tb_store_close(s);
    return bad;
}

int tb_cli_check(int argc, char **argv)
{
    static const char usage[] = "usage: tributary check [-c FILE]\n"
                                "Validates the config and every topic query; errors name "
                                "FILE:LINE.\n";
    struct tb_config *c;
    struct tb__cli_opts o;
    int rc = tb__cli_parse_opts(argc, argv, &o, usage, 0);

    if (rc >= 0)
        return rc;
    c = tb__cli_load(o.config, "check");
    if (c == NULL)
        return 1;
    if (check_topics(c) > 0) {
        tb_config_free(c);
        return 1;
    }
    printf("%s: OK: %zu sources, %zu topics\n", o.config, c->nsources, c->ntopics);
    tb_config_free(c);
    return 0;
}
