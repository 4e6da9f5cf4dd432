/*
 * tb_listen on a real PostgreSQL 15 (run inside tests/pgserver.py, which
 * names it in TB_TEST_PG): notifications sent from another connection
 * arrive on the loop with their channel, payload and sender; only the
 * channels listened to; the server stopped under the listener is reported
 * down, and once it runs again the listener connects by itself, says so,
 * and receives again. Stopping frees everything (ASan, valgrind).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check.h"
#include "tb_db.h"
#include "tb_listen.h"

struct seen {
    int up, downs, ups, n;
    char channel[64], payload[256];
    int pid;
    char why[512];
};

static void on_notify(void *data, const char *channel, const char *payload, int pid)
{
    struct seen *s = data;

    s->n++;
    snprintf(s->channel, sizeof(s->channel), "%s", channel);
    snprintf(s->payload, sizeof(s->payload), "%s", payload);
    s->pid = pid;
}

static void on_state(void *data, int up, const char *why)
{
    struct seen *s = data;

    s->up = up;
    if (up)
        s->ups++;
    else
        s->downs++;
    snprintf(s->why, sizeof(s->why), "%s", why);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *flag reaches want (at most ~60 s: a busy machine). */
static int run_until(uv_loop_t *loop, const int *flag, int want)
{
    uv_timer_t tick;
    uint64_t end = uv_hrtime() + 60 * 1000000000ull;

    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 10, 10);
    while (*flag != want && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag == want;
}

static void notify(struct tb_db *db, const char *sql)
{
    char err[256] = "";

    CHECK_OK(tb_db_exec(db, sql, err, sizeof(err)));
}

static void test_bad(uv_loop_t *loop)
{
    const char *bad[] = {"Upper"}, *digit[] = {"1x"}, *ok[] = {"a"};
    struct tb_listen_cbs cbs = {0};
    struct tb_listen *l = (void *)1;
    char err[256];

    CHECK_EQ(tb_listen_start(&l, loop, "postgresql:///x", bad, 1, &cbs, err, sizeof(err)), -EINVAL);
    CHECK(l == NULL && strstr(err, "Upper") != NULL);
    CHECK_EQ(tb_listen_start(&l, loop, "postgresql:///x", digit, 1, &cbs, err, sizeof(err)),
             -EINVAL);
    CHECK_EQ(tb_listen_start(&l, loop, "/tmp/t.db", ok, 1, &cbs, err, sizeof(err)), -EINVAL);
}

static void test_listen(uv_loop_t *loop, const char *uri)
{
    const char *channels[] = {"tb_changed", "tb_other"};
    const char *stop = getenv("TB_TEST_PG_STOP"), *start = getenv("TB_TEST_PG_START");
    struct seen s = {0};
    struct tb_listen_cbs cbs = {on_notify, on_state, &s};
    struct tb_listen *l = NULL;
    struct tb_db *db = NULL;
    char err[512] = "";
    int64_t pid = 0;

    CHECK_OK(tb_listen_start(&l, loop, uri, channels, 2, &cbs, err, sizeof(err)));
    CHECK(!tb_listen_up(l));
    CHECK(run_until(loop, &s.up, 1));
    CHECK(tb_listen_up(l));
    CHECK_OK(tb_db_open(&db, uri, 0, err, sizeof(err)));
    CHECK_OK(tb_db_scalar(db, &pid, err, sizeof(err), "SELECT pg_backend_pid()", ""));
    notify(db, "NOTIFY tb_nobody, 'x'"); /* not listened to */
    notify(db, "NOTIFY tb_changed, 'node-a 42'");
    CHECK(run_until(loop, &s.n, 1));
    CHECK_EQ(strcmp(s.channel, "tb_changed"), 0);
    CHECK_EQ(strcmp(s.payload, "node-a 42"), 0);
    CHECK_EQ(s.pid, (int)pid);
    /* Inside a transaction: delivered at its commit only. */
    notify(db, "BEGIN; NOTIFY tb_other; ROLLBACK");
    notify(db, "BEGIN; NOTIFY tb_other, 'kept'; COMMIT");
    CHECK(run_until(loop, &s.n, 2));
    CHECK_EQ(strcmp(s.channel, "tb_other"), 0);
    CHECK_EQ(strcmp(s.payload, "kept"), 0);
    tb_db_close(db);
    db = NULL;

    if (CHECK_NEED(stop != NULL && start != NULL, "TB_TEST_PG_STOP/START (tests/pgserver.py)")) {
        CHECK_EQ(system(stop), 0);
        CHECK(run_until(loop, &s.up, 0));
        CHECK_EQ(s.downs, 1);
        CHECK(s.why[0] != '\0');
        CHECK(!tb_listen_up(l));
        /* Down for a few backoff rounds: still told once. */
        uv_sleep(700);
        uv_run(loop, UV_RUN_NOWAIT);
        CHECK_EQ(s.downs, 1);
        CHECK_EQ(system(start), 0);
        CHECK(run_until(loop, &s.up, 1));
        CHECK_EQ(s.ups, 2);
        CHECK_OK(tb_db_open(&db, uri, 0, err, sizeof(err)));
        notify(db, "NOTIFY tb_changed, 'after'");
        CHECK(run_until(loop, &s.n, 3));
        CHECK_EQ(strcmp(s.payload, "after"), 0);
        tb_db_close(db);
    }
    tb_listen_stop(l);
    CHECK_EQ(uv_run(loop, UV_RUN_DEFAULT), 0); /* every handle closed */
}

int main(void)
{
    const char *pg = getenv("TB_TEST_PG");
    uv_loop_t loop;

    uv_loop_init(&loop);
    test_bad(&loop);
    if (CHECK_NEED(pg != NULL && *pg != '\0', "PostgreSQL server (run through tests/pgserver.py)"))
        test_listen(&loop, pg);
    CHECK_EQ(uv_loop_close(&loop), 0);
    CHECK_DONE();
}
