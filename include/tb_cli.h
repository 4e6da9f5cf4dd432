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

#endif
