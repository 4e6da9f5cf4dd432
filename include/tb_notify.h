/*
 * tb_notify.h: telling systemd how the daemon is (sd_notify(3)): ready,
 * reloading, stopping, and alive through the watchdog. Built with
 * libsystemd when pkg-config finds it (TB_HAVE_SYSTEMD); without it, and
 * when not started by systemd (no NOTIFY_SOCKET), every call does nothing.
 */
#ifndef TB_NOTIFY_H
#define TB_NOTIFY_H

#include <stdint.h>
#include <uv.h>

#include "tb_log.h"

/** The daemon's link to systemd: embedded in the daemon, zeroed before use. */
struct tb_notify {
    uv_timer_t watchdog; /* pings WATCHDOG=1 at half of WATCHDOG_USEC */
    int watchdog_on;     /* the timer was initialized (close it) */
    uint64_t every_ms;   /* its period, 0 when systemd wants no pings */
};

/**
 * Sends READY=1 (the HTTP server listens and the first sync is done) and,
 * when systemd asks for a watchdog (sd_watchdog_enabled()), starts a timer
 * on `loop` that sends WATCHDOG=1 every half of WATCHDOG_USEC. Loop thread
 * only. Returns 0, or a negative errno from libuv.
 */
TB_NODISCARD int tb_notify_ready(struct tb_notify *n, uv_loop_t *loop);

/** Sends RELOADING=1 before a SIGHUP reload. */
void tb_notify_reloading(void);

/** Sends READY=1 again once a reload is over (kept or replaced config). */
void tb_notify_reloaded(void);

/** Sends STOPPING=1 and closes the watchdog timer (the loop can end). */
void tb_notify_stopping(struct tb_notify *n);

#endif
