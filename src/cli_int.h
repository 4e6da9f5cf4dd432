/* Internals shared by the config-driven commands: cli_daemon.c (serve,
 * fetch, sources, check), which defines them, and cli_opml.c (export-opml). */
#ifndef TB_CLI_INT_H
#define TB_CLI_INT_H

#include "tb_config.h"

/** Options common to the commands. */
struct tb__cli_opts {
    const char *config; /* -c FILE, or the default */
    int verbose;        /* -v */
    int json;           /* --json (sources) */
    char **args;        /* remaining arguments */
    int nargs;          /* how many */
};

/** Parses [-c FILE] [-v] [--json] (only when `usage` mentions it) [--help] into *o, and
 *  names only when `names` is set; sets the log level. Returns -1 to go on, else an exit
 *  status (usage printed). */
int tb__cli_parse_opts(int argc, char **argv, struct tb__cli_opts *o, const char *usage, int names);

/** Loads the config at `path`, printing every error as FILE:LINE: message (or one line
 *  naming `cmd`). Returns the config (caller frees with tb_config_free) or NULL. */
struct tb_config *tb__cli_load(const char *path, const char *cmd);

#endif
