/*
 * tb_smtp against tests/smtpd.py (Debian's python3-aiosmtpd) on loopback:
 * connection reuse (the stand-in counts connections), the reply classes
 * (451 at the end of DATA and no connection: temporary; 550 at RCPT TO:
 * permanent), and tb_smtp_drain() over a real outbox (rate, stop).
 */
#include "tb_smtp.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"
#include "tb_store.h"
#include "tb_subs.h"

#define MSG                                                                                        \
    "From: tributary <papers@example.org>\r\nTo: reader@example.org\r\n"                           \
    "Subject: test\r\nMessage-ID: <%d@test>\r\n\r\nHello.\r\n.leading dot\r\n"

/* A running stand-in: its port, the directory it writes into, its pid. */
struct standin {
    pid_t pid;
    int in; /* its stdin: closing it ends it */
    int port;
    char dir[256];
};

static int have_aiosmtpd(void)
{
    return system("/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1") == 0;
}

static int standin_start(struct standin *s, const char *rcpt, const char *data)
{
    const char *src = getenv("TB_SOURCE_DIR");
    char script[1024], buf[32];
    int in[2], out[2];
    FILE *fp;

    snprintf(s->dir, sizeof(s->dir), "/tmp/tb-smtp-XXXXXX");
    if (mkdtemp(s->dir) == NULL || pipe(in) != 0 || pipe(out) != 0)
        return -1;
    snprintf(script, sizeof(script), "%s/tests/smtpd.py", src ? src : "..");
    s->pid = fork();
    if (s->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("/usr/bin/python3", "python3", script, "--dir", s->dir, "--rcpt", rcpt, "--data",
              data, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->in = in[1];
    fp = fdopen(out[0], "r");
    if (fp == NULL || fgets(buf, sizeof(buf), fp) == NULL)
        return -1;
    fclose(fp);
    s->port = atoi(buf);
    return s->port > 0 ? 0 : -1;
}

static void standin_stop(struct standin *s)
{
    char cmd[512];
    int status;

    close(s->in);
    waitpid(s->pid, &status, 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", s->dir);
}

/* The stand-in's count of `what` ("connections" or "messages"). */
static int standin_count(const struct standin *s, const char *what)
{
    char path[512], key[32];
    int n, v = -1;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/state", s->dir);
    fp = fopen(path, "r");
    if (fp == NULL)
        return -1;
    while (fscanf(fp, "%31s %d", key, &n) == 2) {
        if (strcmp(key, what) == 0)
            v = n;
    }
    fclose(fp);
    return v;
}

static int new_sender(int port, struct tb_smtp **out)
{
    static char url[64];
    struct tb_smtp_opts o = {.url = url, .from = "papers@example.org", .timeout_s = 10};

    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
    return tb_smtp_new(&o, out);
}

static int send_n(struct tb_smtp *s, int n, char *reply, size_t len)
{
    char msg[512];

    snprintf(msg, sizeof(msg), MSG, n);
    return tb_smtp_send(s, "reader@example.org", msg, strlen(msg), reply, len);
}

/* Three messages over one connection; the message arrives intact (libcurl
 * stuffs the leading dot and the server takes it out). */
static void test_reuse(void)
{
    struct standin sv;
    struct tb_smtp *s = NULL;
    char reply[256], path[512], body[1024] = "";
    FILE *fp;
    int i;

    CHECK_OK(standin_start(&sv, "", ""));
    CHECK_OK(new_sender(sv.port, &s));
    for (i = 1; i <= 3; i++)
        CHECK_EQ(send_n(s, i, reply, sizeof(reply)), TB_SUBS_SENT);
    CHECK(strncmp(reply, "250", 3) == 0);
    CHECK_EQ(standin_count(&sv, "messages"), 3);
    CHECK_EQ(standin_count(&sv, "connections"), 1);
    snprintf(path, sizeof(path), "%s/msg-2.eml", sv.dir);
    fp = fopen(path, "r");
    CHECK(fp != NULL);
    if (fp != NULL) {
        CHECK(fread(body, 1, sizeof(body) - 1, fp) > 0);
        fclose(fp);
    }
    CHECK(strstr(body, "Message-ID: <2@test>") != NULL);
    CHECK(strstr(body, "\n.leading dot") != NULL);
    tb_smtp_free(s);
    standin_stop(&sv);
}

/* 451 at the end of DATA: temporary, nothing delivered; the next try is. */
static void test_451_then_250(void)
{
    struct standin sv;
    struct tb_smtp *s = NULL;
    char reply[256];

    CHECK_OK(standin_start(&sv, "", "451"));
    CHECK_OK(new_sender(sv.port, &s));
    CHECK_EQ(send_n(s, 1, reply, sizeof(reply)), TB_SUBS_TEMPFAIL);
    CHECK(strncmp(reply, "451", 3) == 0);
    CHECK_EQ(standin_count(&sv, "messages"), 0);
    CHECK_EQ(send_n(s, 1, reply, sizeof(reply)), TB_SUBS_SENT);
    CHECK_EQ(standin_count(&sv, "messages"), 1);
    CHECK_EQ(standin_count(&sv, "connections"), 1); /* a refused DATA keeps the connection */
    tb_smtp_free(s);
    standin_stop(&sv);
}

/* 550 at RCPT TO: permanent; 450 there: temporary; the handle still works. */
static void test_rcpt_replies(void)
{
    struct standin sv;
    struct tb_smtp *s = NULL;
    char reply[256];

    CHECK_OK(standin_start(&sv, "550,450", ""));
    CHECK_OK(new_sender(sv.port, &s));
    CHECK_EQ(send_n(s, 1, reply, sizeof(reply)), TB_SUBS_PERMFAIL);
    CHECK(strncmp(reply, "550", 3) == 0);
    CHECK_EQ(send_n(s, 2, reply, sizeof(reply)), TB_SUBS_TEMPFAIL);
    CHECK(strncmp(reply, "450", 3) == 0);
    CHECK_EQ(send_n(s, 3, reply, sizeof(reply)), TB_SUBS_SENT);
    CHECK_EQ(standin_count(&sv, "messages"), 1);
    /* libcurl 7.88 ends the connection after a refused RCPT TO (QUIT): the
     * next message opens another one. */
    CHECK_EQ(standin_count(&sv, "connections"), 3);
    tb_smtp_free(s);
    standin_stop(&sv);
}

/* Nothing listens: temporary, with libcurl's reason. */
static void test_refused(void)
{
    struct standin sv;
    struct tb_smtp *s = NULL;
    char reply[256] = "";
    int port;

    /* A port that was just free: the stand-in's, after it ended. */
    CHECK_OK(standin_start(&sv, "", ""));
    port = sv.port;
    standin_stop(&sv);
    CHECK_OK(new_sender(port, &s));
    CHECK_EQ(send_n(s, 1, reply, sizeof(reply)), TB_SUBS_TEMPFAIL);
    CHECK(reply[0] != '\0');
    tb_smtp_free(s);
}

/* starttls: a server that does not offer STARTTLS gets nothing in the
 * clear; the failure is temporary (the server's, not the recipient's). */
static void test_starttls_required(void)
{
    struct standin sv;
    struct tb_smtp_opts o = {.from = "papers@example.org", .starttls = 1, .timeout_s = 10};
    struct tb_smtp *s = NULL;
    char url[64], reply[256] = "";

    CHECK_OK(standin_start(&sv, "", ""));
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", sv.port);
    o.url = url;
    CHECK_OK(tb_smtp_new(&o, &s));
    CHECK_EQ(send_n(s, 1, reply, sizeof(reply)), TB_SUBS_TEMPFAIL);
    CHECK(reply[0] != '\0');
    CHECK_EQ(standin_count(&sv, "messages"), 0);
    tb_smtp_free(s);
    standin_stop(&sv);
}

static void test_bad_opts(void)
{
    struct tb_smtp_opts o = {.url = "http://127.0.0.1:25", .from = "a@example.org"};
    struct tb_smtp *s = (struct tb_smtp *)&o;

    CHECK_EQ(tb_smtp_new(&o, &s), -EINVAL);
    CHECK(s == NULL);
    o.url = "smtp://127.0.0.1:25";
    o.from = NULL;
    CHECK_EQ(tb_smtp_new(&o, &s), -EINVAL);
    tb_smtp_free(NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Queues n digests, one per subscription r0..r{n-1}@example.org. */
static void queue_n(struct tb_store *st, int n)
{
    const char *topics[] = {TB_SUBS_TRENDING};
    char addr[64], id[64], msg[512], err[256] = "";
    int64_t sub, now = (int64_t)time(NULL);
    int i;

    for (i = 0; i < n; i++) {
        snprintf(addr, sizeof(addr), "r%d@example.org", i);
        snprintf(id, sizeof(id), "<d%d@test>", i);
        snprintf(msg, sizeof(msg), MSG, i);
        CHECK_OK(tb_subs_add(st, addr, topics, 1, TB_SUBS_DAILY, now, &sub, err, sizeof(err)));
        CHECK_OK(tb_subs_queue(st, sub, TB_SUBS_MSG_DIGEST, id, addr, msg, strlen(msg), now, now,
                               err, sizeof(err)));
    }
}

/* The outbox drained over one connection, `rate` spacing the messages;
 * a 550 is recorded on the subscription, a 451 waits for its retry. */
static void test_drain(void)
{
    struct standin sv;
    struct tb_store *st = NULL;
    struct tb_smtp *s = NULL;
    struct tb_smtp_stats stats = {0};
    struct tb_subs_counts c;
    struct tb_subs sub;
    char dir[] = "/tmp/tb-drain-XXXXXX", db[1024], err[256] = "", cmd[160];
    volatile int stop = 0;
    int64_t t0, ms;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(db, sizeof(db), "%s", st_target(dir, "t.db"));
    CHECK_OK(tb_store_open(&st, db, 0, err, sizeof(err)));
    queue_n(st, 4);
    /* r0 is refused for good at RCPT TO, r1 is deferred at DATA. */
    CHECK_OK(standin_start(&sv, "550", "451"));
    CHECK_OK(new_sender(sv.port, &s));
    t0 = mono_ms();
    CHECK_OK(tb_smtp_drain(s, st, 120, &stop, &stats, err, sizeof(err)));
    ms = mono_ms() - t0;
    CHECK_EQ(stats.sent, 2);
    CHECK_EQ(stats.tempfail, 1);
    CHECK_EQ(stats.permfail, 1);
    CHECK(stats.next > (int64_t)time(NULL));        /* the deferred one, later */
    CHECK(ms >= 1500);                              /* 4 messages at 120/min: 3 gaps of 500 ms */
    CHECK_EQ(standin_count(&sv, "connections"), 2); /* a new one after the refused RCPT TO */
    CHECK_EQ(standin_count(&sv, "messages"), 2);
    CHECK_OK(tb_subs_find(st, "r0@example.org", &sub, err, sizeof(err)));
    CHECK_EQ(sub.failures, 1);
    CHECK(sub.last_error != NULL && strncmp(sub.last_error, "550", 3) == 0);
    tb_subs_clear(&sub);
    CHECK_OK(tb_subs_count(st, &c, err, sizeof(err)));
    CHECK_EQ(c.outbox, 1);
    CHECK_EQ(c.sent, 2);

    /* Stopped: nothing more is taken. */
    queue_n(st, 6);
    stop = 1;
    memset(&stats, 0, sizeof(stats));
    CHECK_OK(tb_smtp_drain(s, st, 0, &stop, &stats, err, sizeof(err)));
    CHECK_EQ(stats.sent + stats.tempfail + stats.permfail, 0);
    CHECK_EQ(standin_count(&sv, "messages"), 2);
    tb_smtp_free(s);
    standin_stop(&sv);

    /* The server is gone: one attempt, then the drain waits a minute. */
    CHECK_OK(new_sender(sv.port, &s));
    stop = 0;
    CHECK_OK(tb_smtp_drain(s, st, 0, &stop, &stats, err, sizeof(err)));
    CHECK_EQ(stats.tempfail, 1);
    CHECK_EQ(stats.sent, 0);
    CHECK(stats.next >= (int64_t)time(NULL) + 50);
    tb_smtp_free(s);
    tb_store_close(st);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_OK(system(cmd));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!st_ready())
        CHECK_DONE();
    if (!CHECK_NEED(have_aiosmtpd(), "python3-aiosmtpd"))
        CHECK_DONE();
    test_bad_opts();
    test_reuse();
    test_451_then_250();
    test_rcpt_replies();
    test_refused();
    test_starttls_required();
    test_drain();
    CHECK_DONE();
}
