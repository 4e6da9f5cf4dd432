/*
 * tb_listen: PostgreSQL LISTEN/NOTIFY on the libuv loop, for the nodes of
 * a cluster to learn what the others changed.
 *
 * One connection of its own (never the store's), connected without
 * blocking the loop (PQconnectStart/PQconnectPoll on a uv_poll), LISTENs on
 * the channels given and reports each notification. A lost connection (the
 * server restarted, the network went away) is reported, then connected
 * again with backoff (0.1 s doubling to 5 s, with jitter) and reported
 * again (an attempt not up within 10 s, as on a server that accepts and
 * says nothing, counts as lost): notifications sent while it was down are
 * lost (PostgreSQL does not keep them), so the caller treats "connected
 * again" as "something may have changed" and catches up from the
 * database, where the truth is; a notification is only a wake-up.
 */
#ifndef TB_LISTEN_H
#define TB_LISTEN_H

#include <stddef.h>
#include <uv.h>

#include "tb_log.h"

/** A listening connection; opaque. */
struct tb_listen;

/** What the listener tells its owner, on the loop thread. */
struct tb_listen_cbs {
    /* A notification on channel with its payload ("" when none; borrowed);
     * pid is the sending backend's (PQbackendPID of the sender). */
    void (*notify)(void *data, const char *channel, const char *payload, int pid);
    /* Connected (and listening) when up is 1; lost when 0 (why: libpq's
     * message, borrowed). Called on every change, first up or failure too. */
    void (*state)(void *data, int up, const char *why);
    void *data;
};

/**
 * Starts listening on the n channels (identifiers: [a-z0-9_], copied) of
 * the PostgreSQL database at uri (a postgresql:// URI) on loop. The first
 * connection is made in the background: cbs->state says when it is up.
 * Returns 0, -EINVAL (a bad channel name, not a PostgreSQL URI) or
 * -ENOMEM with detail in err.
 */
TB_NODISCARD int tb_listen_start(struct tb_listen **out, uv_loop_t *loop, const char *uri,
                                 const char *const *channels, size_t n,
                                 const struct tb_listen_cbs *cbs, char *err, size_t errlen);

/** Whether the connection is up and listening. */
int tb_listen_up(const struct tb_listen *l);

/**
 * Closes the connection and its handles; l is freed once they are closed
 * (a later turn of the loop), and no callback comes after this call. NULL
 * is a no-op.
 */
void tb_listen_stop(struct tb_listen *l);

#endif
