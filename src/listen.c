/*
 * listen.c: LISTEN/NOTIFY on a connection of its own, on the loop
 * (tb_listen.h). States: CONNECTING (PQconnectPoll steps), SUBSCRIBING
 * (the LISTEN statements sent, their results awaited), UP, and DOWN
 * (waiting for the backoff timer to connect again).
 */
#include "tb_listen.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tb_db.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_LIMIT_MS 10000 /* a server that accepts and says nothing is left then */

enum phase { CONNECTING, SUBSCRIBING, UP, DOWN };

struct tb_listen {
    uv_loop_t *loop;
    char *uri;
    char *listen_sql; /* LISTEN a; LISTEN b; ... */
    struct tb_listen_cbs cbs;
    PGconn *conn;
    uv_poll_t *poll; /* on the connection's socket, or NULL; freed when closed */
    int fd;          /* the socket poll watches */
    uv_timer_t timer;
    enum phase phase;
    int reported;  /* last state told: -1 none yet, 0 down, 1 up */
    int stopping;  /* tb_listen_stop() was called */
    uint64_t wait; /* next backoff (ms) */
    uint64_t rnd;  /* jitter state */
};

static void on_poll(uv_poll_t *h, int status, int events);
static void connect_begin(struct tb_listen *l);

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void unwatch(struct tb_listen *l)
{
    if (l->poll != NULL)
        uv_close((uv_handle_t *)l->poll, free_handle);
    l->poll = NULL;
    l->fd = -1;
}

/* Watches the connection's socket for events (a new socket: a new handle). */
static int watch(struct tb_listen *l, int events)
{
    int fd = PQsocket(l->conn);

    if (fd < 0)
        return -EBADF;
    if (l->poll == NULL || fd != l->fd) {
        unwatch(l);
        l->poll = malloc(sizeof(*l->poll));
        if (l->poll == NULL)
            return -ENOMEM;
        if (uv_poll_init_socket(l->loop, l->poll, fd) != 0) {
            free(l->poll);
            l->poll = NULL;
            return -EBADF;
        }
        l->poll->data = l;
        l->fd = fd;
    }
    return uv_poll_start(l->poll, events, on_poll) == 0 ? 0 : -EBADF;
}

static void tell(struct tb_listen *l, int up, const char *why)
{
    if (l->reported == up || l->stopping)
        return;
    l->reported = up;
    if (l->cbs.state != NULL)
        l->cbs.state(l->cbs.data, up, why);
}

static void fail(struct tb_listen *l, const char *why);

/* The backoff's end, or a connection that is not up in time. */
static void on_timer(uv_timer_t *t)
{
    struct tb_listen *l = t->data;

    if (l->phase == DOWN)
        connect_begin(l);
    else if (l->phase != UP)
        fail(l, "no answer from the server in time");
}

/* Drops the connection and connects again after the backoff. */
static void fail(struct tb_listen *l, const char *why)
{
    char msg[512];
    uint64_t wait;
    size_t n;

    snprintf(msg, sizeof(msg), "%s", why != NULL && *why ? why : "connection lost");
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    unwatch(l);
    PQfinish(l->conn);
    l->conn = NULL;
    l->phase = DOWN;
    tell(l, 0, msg);
    if (l->stopping)
        return;
    /* Nodes that lost the server together do not come back in step. */
    l->rnd ^= l->rnd << 13;
    l->rnd ^= l->rnd >> 7;
    l->rnd ^= l->rnd << 17;
    wait = l->wait / 2 + l->rnd % (l->wait / 2 + 1);
    l->wait = l->wait * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->wait * 2;
    uv_timer_start(&l->timer, on_timer, wait, 0);
}

static void connect_begin(struct tb_listen *l)
{
    l->conn = PQconnectStart(l->uri);
    l->phase = CONNECTING;
    uv_timer_start(&l->timer, on_timer, CONNECT_LIMIT_MS, 0);
    if (l->conn == NULL || PQstatus(l->conn) == CONNECTION_BAD) {
        fail(l, l->conn ? PQerrorMessage(l->conn) : "out of memory");
        return;
    }
    if (watch(l, UV_WRITABLE) != 0)
        fail(l, "cannot watch the connection's socket");
}

/* Reports the notifications received; 0, or -1 when stopped meanwhile. */
static int deliver(struct tb_listen *l)
{
    PGnotify *n;

    while (!l->stopping && (n = PQnotifies(l->conn)) != NULL) {
        if (l->cbs.notify != NULL)
            l->cbs.notify(l->cbs.data, n->relname, n->extra ? n->extra : "", n->be_pid);
        PQfreemem(n);
    }
    return l->stopping ? -1 : 0;
}

static void step_connect(struct tb_listen *l)
{
    switch (PQconnectPoll(l->conn)) {
    case PGRES_POLLING_READING:
        if (watch(l, UV_READABLE) != 0)
            fail(l, "cannot watch the connection's socket");
        return;
    case PGRES_POLLING_WRITING:
        if (watch(l, UV_WRITABLE) != 0)
            fail(l, "cannot watch the connection's socket");
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        fail(l, PQerrorMessage(l->conn));
        return;
    }
    if (PQsetnonblocking(l->conn, 1) != 0 || PQsendQuery(l->conn, l->listen_sql) != 1) {
        fail(l, PQerrorMessage(l->conn));
        return;
    }
    l->phase = SUBSCRIBING;
    /* A few dozen bytes on a new connection: flushed at once, else by
     * on_poll when the socket takes more. */
    if (watch(l, PQflush(l->conn) == 0 ? UV_READABLE : UV_READABLE | UV_WRITABLE) != 0)
        fail(l, "cannot watch the connection's socket");
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct tb_listen *l = h->data;
    PGresult *res;

    if (l->stopping || l->poll != h)
        return;
    if (l->phase == CONNECTING) {
        step_connect(l);
        return;
    }
    if (status < 0) {
        fail(l, uv_strerror(status));
        return;
    }
    if ((events & UV_WRITABLE) && PQflush(l->conn) == 0 && watch(l, UV_READABLE) != 0) {
        fail(l, "cannot watch the connection's socket");
        return;
    }
    if ((events & UV_READABLE) && PQconsumeInput(l->conn) != 1) {
        fail(l, PQerrorMessage(l->conn));
        return;
    }
    while (l->phase == SUBSCRIBING && !PQisBusy(l->conn)) {
        res = PQgetResult(l->conn);
        if (res == NULL) {
            l->phase = UP;
            l->wait = BACKOFF_MIN_MS;
            uv_timer_stop(&l->timer);
            tell(l, 1, "");
            break;
        }
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            PQclear(res);
            fail(l, PQerrorMessage(l->conn));
            return;
        }
        PQclear(res);
    }
    if (l->stopping || deliver(l) != 0)
        return;
    if (PQstatus(l->conn) == CONNECTION_BAD)
        fail(l, PQerrorMessage(l->conn));
}

int tb_listen_start(struct tb_listen **out, uv_loop_t *loop, const char *uri,
                    const char *const *channels, size_t n, const struct tb_listen_cbs *cbs,
                    char *err, size_t errlen)
{
    struct tb_listen *l;
    size_t i, len = 1;

    *out = NULL;
    if (!tb_db_is_pg(uri)) {
        snprintf(err, errlen, "LISTEN needs a postgresql:// database");
        return -EINVAL;
    }
    for (i = 0; i < n; i++) {
        size_t k = strlen(channels[i]);

        if (k == 0 || k > 63 || strspn(channels[i], "abcdefghijklmnopqrstuvwxyz0123456789_") != k ||
            (channels[i][0] >= '0' && channels[i][0] <= '9')) {
            snprintf(err, errlen, "bad channel name '%s'", channels[i]);
            return -EINVAL;
        }
        len += k + 10;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL || (l->uri = strdup(uri)) == NULL || (l->listen_sql = malloc(len)) == NULL) {
        if (l != NULL)
            free(l->uri);
        free(l);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    l->listen_sql[0] = '\0';
    for (i = 0; i < n; i++)
        sprintf(l->listen_sql + strlen(l->listen_sql), "LISTEN %s;", channels[i]);
    l->loop = loop;
    l->cbs = *cbs;
    l->fd = -1;
    l->reported = -1;
    l->wait = BACKOFF_MIN_MS;
    l->rnd = uv_hrtime() | 1;
    uv_timer_init(loop, &l->timer);
    l->timer.data = l;
    connect_begin(l);
    *out = l;
    return 0;
}

int tb_listen_up(const struct tb_listen *l)
{
    return l != NULL && l->phase == UP;
}

static void free_listen(uv_handle_t *h)
{
    struct tb_listen *l = h->data;

    free(l->uri);
    free(l->listen_sql);
    free(l);
}

void tb_listen_stop(struct tb_listen *l)
{
    if (l == NULL)
        return;
    l->stopping = 1;
    unwatch(l);
    PQfinish(l->conn);
    l->conn = NULL;
    uv_timer_stop(&l->timer);
    uv_close((uv_handle_t *)&l->timer, free_listen);
}
