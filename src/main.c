/* tributary: command dispatch. Only this file exits the process. */
#include <curl/curl.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "tb_cli.h"

struct command {
    const char *name;                  /* as typed */
    int (*run)(int argc, char **argv); /* returns the exit status */
    const char *summary;               /* one line for --help */
};

static const struct command commands[] = {
    {"merge", tb_cli_merge, "merge feeds into one Atom feed on stdout"},
    {"parse", tb_cli_parse, "show what was understood of one feed, as JSON"},
    {"serve", tb_cli_serve, "daemon: poll, store, publish and serve the topic feeds"},
    {"fetch", tb_cli_fetch, "poll the sources now with progress, publish, exit"},
    {"sources", tb_cli_sources, "per source: last fetch, status, error, next poll, entries"},
    {"check", tb_cli_check, "validate the config and topic queries"},
    {"migrate", tb_cli_migrate, "copy the SQLite database into PostgreSQL (--to URI)"},
    {"import-opml", tb_cli_import_opml, "add the feeds of an OPML file to the config"},
    {"export-opml", tb_cli_export_opml, "write the sources as OPML on stdout"},
    {"subscribers", tb_cli_subscribers, "the email subscriptions: address, topics, state"},
    {"subscribe", tb_cli_subscribe, "subscribe an address to topics' digests ([mail])"},
    {"unsubscribe", tb_cli_unsubscribe, "end an address's subscription ([mail])"},
    {"digest", tb_cli_digest, "build, queue and send the due email digests ([mail])"},
};

static void usage(FILE *fp)
{
    size_t i;

    fputs("usage: tributary COMMAND [ARGS...]\n\ncommands:\n", fp);
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(fp, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fputs("\n'tributary COMMAND --help' describes a command.\n", fp);
}

int main(int argc, char **argv)
{
    size_t i;
    int rc;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        puts("tributary " TB_VERSION);
        return 0;
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (argc > 2 && (strcmp(argv[2], "--version") == 0)) {
            puts("tributary " TB_VERSION);
            return 0;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        xmlInitParser();
        rc = commands[i].run(argc - 1, argv + 1);
        /*
         * Join libuv's thread pool first: xmlCleanupParser() deletes the key
         * of libxml2's per-thread state, so a pool thread that parsed a feed
         * and exited only later (in libuv's destructor) leaked that state
         * (about 1 KB per thread, found by tests/valgrind-run).
         */
        uv_library_shutdown();
        xmlCleanupParser();
        curl_global_cleanup();
        return rc;
    }
    fprintf(stderr, "tributary: unknown command '%s' (see tributary --help)\n", argv[1]);
    return 2;
}
