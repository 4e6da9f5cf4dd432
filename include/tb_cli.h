/*
 * tb_cli: the one-shot commands. Each takes the command's own argv (argv[0]
 * is the command name), prints its result on stdout and diagnostics on
 * stderr, and returns the process exit status.
 */
#ifndef TB_CLI_H
#define TB_CLI_H

/** `tributary merge [--topic Q] [--title T] [--limit N] [--db FILE] SOURCE...` */
int tb_cli_merge(int argc, char **argv);

/** `tributary parse SOURCE`: what was understood of one feed, as JSON. */
int tb_cli_parse(int argc, char **argv);

/** `tributary serve [-c FILE] [-v]`: the daemon (tb_daemon.h). */
int tb_cli_serve(int argc, char **argv);

/** `tributary fetch [-c FILE] [-v] [NAME...]`: one poll cycle with progress, then publish. */
int tb_cli_fetch(int argc, char **argv);

/** `tributary sources [-c FILE] [--json]`: per-source poll state from the database. */
int tb_cli_sources(int argc, char **argv);

/** `tributary check [-c FILE]`: config errors and bad topic queries as FILE:LINE. */
int tb_cli_check(int argc, char **argv);

/** `tributary migrate [-c FILE] --to URI`: copies the SQLite database into PostgreSQL. */
int tb_cli_migrate(int argc, char **argv);

/** `tributary import-opml FILE [-c CONFIG]`: appends [source] sections for new feeds. */
int tb_cli_import_opml(int argc, char **argv);

/** `tributary export-opml [-c FILE]`: the sources as OPML 2.0 on stdout. */
int tb_cli_export_opml(int argc, char **argv);

/** `tributary subscribers [-c FILE] [--json]`: the email subscriptions. */
int tb_cli_subscribers(int argc, char **argv);

/** `tributary subscribe [-c FILE] [--weekly] EMAIL TOPIC...`: an operator's subscription. */
int tb_cli_subscribe(int argc, char **argv);

/** `tributary unsubscribe [-c FILE] EMAIL`: ends a subscription. */
int tb_cli_unsubscribe(int argc, char **argv);

/** `tributary digest [-c FILE] [--now] [--dry-run] [--to EMAIL]`: builds, queues, sends. */
int tb_cli_digest(int argc, char **argv);

/**
 * The config used without -c: feeds/tributary.ini in the current directory
 * if it exists, else ../feeds/tributary.ini beside the executable. Static
 * storage.
 */
const char *tb_cli_default_config(void);

#endif
