/*
 * notify.c: sd_notify(3) for a Type=notify unit (contrib/tributary.service).
 *
 * systemd starts the units ordered after tributary only once READY=1 came,
 * so it is sent when clients can be served: the HTTP server listens, the
 * sources are in the database and the documents are published. The
 * watchdog pings come from a timer on the loop itself, not a thread: a
 * loop that hangs (a callback that never returns, a deadlock on the store)
 * stops the pings, and systemd restarts the daemon (WatchdogSec=).
 */
#include "tb_notify.h"

#include <unistd.h>

#ifdef TB_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#ifdef TB_HAVE_SYSTEMD
static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

/* Half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises; at least 1 ms. */
static uint64_t watchdog_ms(void)
{
    uint64_t usec = 0;

    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return 0;
    return usec / 2000 > 0 ? usec / 2000 : 1;
}
#endif

int tb_notify_ready(struct tb_notify *n, uv_loop_t *loop)
{
#ifdef TB_HAVE_SYSTEMD
    int rc;

    n->every_ms = watchdog_ms();
    if (n->every_ms > 0 && !n->watchdog_on) {
        rc = uv_timer_init(loop, &n->watchdog);
        if (rc)
            return rc;
        n->watchdog_on = 1;
        uv_unref((uv_handle_t *)&n->watchdog); /* never keeps the loop alive alone */
        uv_timer_start(&n->watchdog, on_watchdog, n->every_ms, n->every_ms);
    }
    sd_notifyf(0, "READY=1\nMAINPID=%lu", (unsigned long)getpid());
#else
    (void)n;
    (void)loop;
#endif
    return 0;
}

void tb_notify_reloading(void)
{
#ifdef TB_HAVE_SYSTEMD
    sd_notify(0, "RELOADING=1");
#endif
}

void tb_notify_reloaded(void)
{
#ifdef TB_HAVE_SYSTEMD
    sd_notify(0, "READY=1");
#endif
}

void tb_notify_stopping(struct tb_notify *n)
{
#ifdef TB_HAVE_SYSTEMD
    sd_notify(0, "STOPPING=1");
#endif
    if (n->watchdog_on && !uv_is_closing((uv_handle_t *)&n->watchdog))
        uv_close((uv_handle_t *)&n->watchdog, NULL);
}
