/*
 * tb_daemon: the long-running poller behind `tributary serve`, and its
 * one-cycle form behind `tributary fetch`. It alone wires the stages on one
 * libuv loop: per-source timers -> tb_fetcher -> parse + normalize on the
 * thread pool -> store (a job on a thread of its own, with its own
 * connection, one at a time) -> poll state (loop thread) -> debounced
 * publishing (tb_site) -> tb_http. Signals: SIGTERM/SIGINT stop, SIGHUP
 * reloads. Implemented by src/daemon.c and src/daemon_*.c.
 */
#ifndef TB_DAEMON_H
#define TB_DAEMON_H

#include <stddef.h>

/** What to run. */
struct tb_daemon_opts {
    const char *config; /* config file path */
    int once;           /* 0: serve until a signal; 1: poll now once, publish, return */
    char **names;       /* once: only these sources (all exist in the config) */
    size_t nnames;      /* number of names; 0 = every enabled source */
};

/**
 * Runs the daemon until SIGTERM/SIGINT (or, once, until every chosen source
 * was polled and the site published). Logs on stderr; `once` also prints
 * one progress line per source and a summary on stdout. Returns the exit
 * status: 0, or 1 when it could not start (or, once, a source failed).
 */
int tb_daemon_run(const struct tb_daemon_opts *o);

#endif
