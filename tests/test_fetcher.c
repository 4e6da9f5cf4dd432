/*
 * The daemon's fetcher against tests/upstream.py on a real uv loop: bodies,
 * conditional GET, gzip, caps, redirects, Retry-After and the host delay,
 * refused/hung/reset connections, per-host and global caps, cancel and free.
 */
#include "tb_fetcher.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define FEED "<rss version=\"2.0\"><channel><title>t</title></channel></rss>\n"

static uv_loop_t loop;
static pid_t upstream_pid;
static int port;
static char dir[64], root[128], logpath[128];

/* What a callback saw, copied out of the result. */
struct got {
    int called, rc;
    long status;
    char err[256];
    char *body, *etag, *last_modified, *charset, *permanent_url, *final_url;
    size_t len;
    int64_t retry_after, max_age;
    double seconds;
};

static char *take(char **p)
{
    char *s = *p;

    *p = NULL;
    return s;
}

static void on_result(struct tb_fetch_result *r, void *data)
{
    struct got *g = data;

    g->called++;
    g->rc = r->rc;
    g->status = r->status;
    snprintf(g->err, sizeof(g->err), "%s", r->err);
    g->len = r->body.len;
    g->body = tb_buf_take(&r->body);
    g->etag = take(&r->etag);
    g->last_modified = take(&r->last_modified);
    g->charset = take(&r->charset);
    g->permanent_url = take(&r->permanent_url);
    g->final_url = take(&r->final_url);
    g->retry_after = r->retry_after;
    g->max_age = r->max_age;
    g->seconds = r->seconds;
}

static void got_free(struct got *g)
{
    free(g->body);
    free(g->etag);
    free(g->last_modified);
    free(g->charset);
    free(g->permanent_url);
    free(g->final_url);
    memset(g, 0, sizeof(*g));
}

/* ------------------------------------------------------------ upstream */

static int start_upstream(void)
{
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    const char *src = getenv("TB_SOURCE_DIR") ? getenv("TB_SOURCE_DIR") : "..";
    char script[512], line[32] = "";
    int fds[2];
    FILE *in;

    snprintf(script, sizeof(script), "%s/tests/upstream.py", src);
    if (!CHECK_NEED(access(py, X_OK) == 0, "python3 (the test's upstream server)"))
        return -1;
    if (pipe(fds))
        return -1;
    upstream_pid = fork();
    if (upstream_pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(py, py, script, "--root", root, "--log", logpath, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    in = fdopen(fds[0], "r");
    if (in == NULL || fgets(line, sizeof(line), in) == NULL)
        line[0] = '\0';
    if (in)
        fclose(in);
    port = atoi(line);
    return port > 0 ? 0 : -1;
}

static void stop_upstream(void)
{
    if (upstream_pid > 0) {
        kill(upstream_pid, SIGTERM);
        waitpid(upstream_pid, NULL, 0);
    }
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", root, name);
    fp = fopen(path, "w");
    CHECK(fp != NULL);
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
}

/* The request log, read afresh (caller frees). */
static char *read_log(void)
{
    FILE *fp = fopen(logpath, "r");
    char *s = calloc(1, 1 << 20);
    size_t n = 0;

    if (fp && s)
        n = fread(s, 1, (1 << 20) - 1, fp);
    if (fp)
        fclose(fp);
    if (s)
        s[n] = '\0';
    return s;
}

/* The last log line containing `needle`, copied into out (or ""). */
static void last_log_line(const char *needle, char *out, size_t len)
{
    char *log = read_log(), *line, *save = NULL;

    out[0] = '\0';
    for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strstr(line, needle))
            snprintf(out, len, "%s", line);
    free(log);
}

/* Largest "active" among log lines containing `needle`; counts them too. */
static int max_active(const char *needle, int *count)
{
    char *log = read_log(), *line, *save = NULL;
    int best = 0;

    *count = 0;
    for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *a = strstr(line, "\"active\": ");

        if (strstr(line, needle) == NULL || a == NULL)
            continue;
        (*count)++;
        if (atoi(a + 10) > best)
            best = atoi(a + 10);
    }
    free(log);
    return best;
}

/* ------------------------------------------------------------- helpers */

static struct tb_fetcher *fetcher(size_t max_body, long timeout_ms, int max_conn, int per_host)
{
    struct tb_fetch_limits lim;
    struct tb_fetcher *f = NULL;

    tb_fetch_limits_default(&lim);
    lim.max_body = max_body;
    lim.timeout_ms = timeout_ms;
    lim.connect_timeout_ms = 2000;
    lim.max_connections = max_conn;
    lim.max_per_host = per_host;
    CHECK_OK(tb_fetcher_new(&loop, &lim, &f));
    return f;
}

static void set_flag(void *data)
{
    *(int *)data = 1;
}

/* Frees the fetcher and runs the loop until its handles are closed. */
static void close_fetcher(struct tb_fetcher *f)
{
    int done = 0;

    tb_fetcher_free(f, set_flag, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(done, 1);
}

static void add(struct tb_fetcher *f, const char *host, const char *path, const char *etag,
                const char *lm, struct got *g)
{
    char url[512];
    struct tb_fetch_req req = {.url = url, .etag = etag, .last_modified = lm};

    snprintf(url, sizeof(url), "http://%s:%d%s", host, port, path);
    CHECK_OK(tb_fetcher_add(f, &req, on_result, g));
}

/* One request, the loop run until nothing is left to do. */
static void fetch(struct tb_fetcher *f, const char *path, const char *etag, const char *lm,
                  struct got *g)
{
    add(f, "127.0.0.1", path, etag, lm, g);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(g->called, 1);
    CHECK_EQ(tb_fetcher_pending(f), 0);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = s ? strlen(s) : 0, m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* --------------------------------------------------------------- tests */

static void test_ok_gzip_conditional(void)
{
    struct tb_fetcher *f = fetcher(1 << 20, 5000, 8, 2);
    struct got g = {0}, g2 = {0}, g3 = {0};
    char line[2048], inner[64] = "";

    fetch(f, "/feed.xml?max_age=900", NULL, NULL, &g);
    CHECK_OK(g.rc);
    CHECK_EQ(g.status, 200);
    CHECK_STR(g.body, FEED);
    CHECK_EQ(g.len, strlen(FEED));
    CHECK(g.etag != NULL && g.last_modified != NULL);
    CHECK_STR(g.charset, "utf-8");
    CHECK(ends_with(g.final_url, "/feed.xml?max_age=900"));
    CHECK(g.permanent_url == NULL);
    CHECK_EQ(g.max_age, 900);
    CHECK_EQ(g.retry_after, 0);
    CHECK(g.seconds > 0 && g.seconds < 60); /* measured; an upper bound only against nonsense */
    last_log_line("/feed.xml?max_age=900", line, sizeof(line));
    CHECK(strstr(line, "\"encoding\": \"gzip\"") != NULL); /* compressed on the wire */
    CHECK(strstr(line, "tributary/") != NULL && strstr(line, "(+http") != NULL);
    CHECK(strstr(line, "If-None-Match") == NULL);

    /* Conditional GET with the stored ETag: 304, empty body, header sent. */
    fetch(f, "/feed.xml", g.etag, NULL, &g2);
    CHECK_OK(g2.rc);
    CHECK_EQ(g2.status, 304);
    CHECK_EQ(g2.len, 0);
    last_log_line("/feed.xml\"", line, sizeof(line));
    if (g.etag && strlen(g.etag) > 2 && strlen(g.etag) < sizeof(inner))
        memcpy(inner, g.etag + 1, strlen(g.etag) - 2);
    CHECK(inner[0] && strstr(line, "If-None-Match") && strstr(line, inner));
    CHECK(strstr(line, "\"status\": 304") != NULL);

    /* Last-Modified alone works too. */
    fetch(f, "/feed.xml", NULL, g.last_modified, &g3);
    CHECK_EQ(g3.status, 304);
    last_log_line("/feed.xml\"", line, sizeof(line));
    CHECK(strstr(line, "If-Modified-Since") != NULL);
    got_free(&g2);
    got_free(&g3);

    /* The feed changes between polls: the old ETag no longer matches. */
    write_file("feed.xml", FEED "<!-- v2 -->\n");
    fetch(f, "/feed.xml", g.etag, NULL, &g2);
    CHECK_EQ(g2.status, 200);
    CHECK(g2.body && strstr(g2.body, "v2") != NULL);
    CHECK(g2.etag && g.etag && strcmp(g2.etag, g.etag) != 0);
    write_file("feed.xml", FEED);

    /* A stored ETag that would inject a header line is not sent. */
    got_free(&g3);
    fetch(f, "/feed.xml", "\"x\"\r\nX-Evil: 1", NULL, &g3);
    CHECK_EQ(g3.status, 200);
    last_log_line("/feed.xml\"", line, sizeof(line));
    CHECK(strstr(line, "If-None-Match") == NULL);
    got_free(&g);
    got_free(&g2);
    got_free(&g3);
    close_fetcher(f);
}

static void test_caps(void)
{
    static const char *const paths[] = {"/big?bytes=1000000", "/chunked-endless", "/gzipbomb"};
    struct tb_fetcher *f = fetcher(100000, 20000, 8, 2);
    struct rusage before, after;

    getrusage(RUSAGE_SELF, &before);
    for (size_t i = 0; i < 3; i++) {
        struct got g = {0};

        fetch(f, paths[i], NULL, NULL, &g);
        CHECK_EQ(g.rc, TB_ETOOBIG);
        CHECK(strstr(g.err, "larger than 100000") != NULL);
        CHECK_EQ(g.len, 0);
        got_free(&g);
    }
    getrusage(RUSAGE_SELF, &after);
    /* The bomb inflates to GiBs; memory must stay near the 100 kB cap. */
    CHECK(after.ru_maxrss - before.ru_maxrss < 256 * 1024);
    {
        struct got g = {0};

        fetch(f, "/big?bytes=100000", NULL, NULL, &g); /* exactly the cap is fine */
        CHECK_OK(g.rc);
        CHECK_EQ(g.len, 100000);
        got_free(&g);
    }
    close_fetcher(f);
}

static void test_redirects(void)
{
    static const struct {
        const char *path;
        int rc;
        int permanent;
        const char *err;
    } rows[] = {
        {"/redirect/301?to=/feed.xml", 0, 1, ""},
        {"/redirect/301?to=/feed.xml&n=3", 0, 1, ""},
        {"/redirect/308?to=/feed.xml&n=5", 0, 1, ""},
        {"/redirect/302?to=/feed.xml", 0, 0, ""},
        {"/redirect/307?to=/feed.xml&n=2", 0, 0, ""},
        {"/redirect/301?to=%2Fredirect%2F302%3Fto%3D%2Ffeed.xml", 0, 0, ""},
        {"/redirect/301?to=/feed.xml&n=6", TB_EFETCH, 0, "more than 5 redirects"},
        {"/loop", TB_EFETCH, 0, "redirect loop"},
        {"/redirect/302?to=file:///etc/passwd", TB_EFETCH, 0, "non-http(s)"},
        {"/redirect/301?to=ftp://127.0.0.1/feed.xml", TB_EFETCH, 0, "non-http(s)"},
        {"/redirect/301?to=/missing.xml", TB_EHTTP, 0, "HTTP 404"},
    };
    struct tb_fetcher *f = fetcher(1 << 20, 5000, 8, 2);

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct got g = {0};

        fetch(f, rows[i].path, NULL, NULL, &g);
        CHECK_EQ(g.rc, rows[i].rc);
        CHECK(strstr(g.err, rows[i].err) != NULL);
        if (rows[i].rc == 0) {
            CHECK_STR(g.body, FEED);
            CHECK(ends_with(g.final_url, "/feed.xml"));
        }
        if (rows[i].permanent) {
            CHECK(ends_with(g.permanent_url, "/feed.xml"));
            CHECK_STR(g.permanent_url, g.final_url);
        } else {
            CHECK(g.permanent_url == NULL);
        }
        if (check_failures)
            fprintf(stderr, "after redirect row %zu (%s): %s\n", i, rows[i].path, g.err);
        got_free(&g);
    }
    close_fetcher(f);
}

static void test_status_retry_after(void)
{
    struct tb_fetcher *f = fetcher(1 << 20, 5000, 8, 2);
    struct got g = {0};
    int64_t now = (int64_t)time(NULL);

    fetch(f, "/status/429?retry_after=120", NULL, NULL, &g);
    CHECK_EQ(g.rc, TB_EHTTP);
    CHECK_EQ(g.status, 429);
    CHECK_STR(g.err, "HTTP 429");
    CHECK(g.retry_after >= now + 119 && g.retry_after <= now + 122);
    CHECK_EQ(g.len, 0);
    got_free(&g);
    close_fetcher(f); /* a fresh fetcher: the 429 delays this host */

    f = fetcher(1 << 20, 5000, 8, 2);
    fetch(f, "/status/503?retry_after_date=300", NULL, NULL, &g);
    CHECK_EQ(g.status, 503);
    CHECK(g.retry_after >= now + 298 && g.retry_after <= now + 303);
    got_free(&g);
    close_fetcher(f);

    f = fetcher(1 << 20, 5000, 8, 2);
    fetch(f, "/status/503", NULL, NULL, &g);
    CHECK_EQ(g.rc, TB_EHTTP);
    CHECK_EQ(g.retry_after, 0);
    got_free(&g);
    fetch(f, "/status/410", NULL, NULL, &g);
    CHECK_EQ(g.status, 410);
    got_free(&g);
    close_fetcher(f);
}

/* A 503 with Retry-After on one host holds that host back, not others. */
static void test_host_delay(void)
{
    struct tb_fetcher *f = fetcher(1 << 20, 5000, 8, 2);
    struct got g = {0}, held = {0}, other = {0};

    add(f, "localhost", "/status/503?retry_after=2", NULL, NULL, &g);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(g.status, 503);
    add(f, "localhost", "/feed.xml", NULL, NULL, &held);
    add(f, "127.0.0.1", "/feed.xml", NULL, NULL, &other);
    while (other.called == 0)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK_EQ(held.called, 0);
    CHECK_EQ(tb_fetcher_pending(f), 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(held.called, 1);
    CHECK_OK(held.rc);
    CHECK(held.seconds >= 0.9);
    CHECK(other.seconds < held.seconds); /* not held back: no fixed bound, load stretches both */
    got_free(&g);
    got_free(&held);
    got_free(&other);
    close_fetcher(f);
}

/* A port nobody listens on. */
static int closed_port(void)
{
    struct sockaddr_in sa = {0};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), p = 1;

    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        p = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return p;
}

static void test_network_errors(void)
{
    struct tb_fetcher *f = fetcher(1 << 20, 1000, 8, 2);
    struct got g = {0};
    char url[128];
    struct tb_fetch_req req = {.url = url};

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/feed.xml", closed_port());
    CHECK_OK(tb_fetcher_add(f, &req, on_result, &g));
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(g.rc, TB_EFETCH);
    CHECK_EQ(g.status, 0);
    CHECK(strstr(g.err, "onnect") != NULL);
    got_free(&g);

    fetch(f, "/hang", NULL, NULL, &g);
    CHECK_EQ(g.rc, TB_EFETCH);
    CHECK(strstr(g.err, "timed out") != NULL);
    CHECK(g.seconds >= 0.9 && g.seconds < 60); /* the 1 s timeout, not /hang's 600 s */
    got_free(&g);

    fetch(f, "/reset", NULL, NULL, &g);
    CHECK_EQ(g.rc, TB_EFETCH);
    CHECK(g.err[0] != '\0');
    CHECK_EQ(g.len, 0);
    got_free(&g);
    close_fetcher(f);
}

/*
 * 40 slow requests (0.1 s each) to one host with a cap of 2: never more than
 * 2 at once. The batch takes 2 s but each request may take only 1.5 s (15
 * times what it needs, for a busy machine), which passes only if requests
 * wait in the fetcher's queue rather than in curl's (whose timeout counts
 * the wait for a connection).
 */
static void test_per_host_cap(void)
{
    struct tb_fetcher *f = fetcher(1 << 20, 1500, 10, 2);
    struct got g[40];
    int n, ok = 0;

    memset(g, 0, sizeof(g));
    for (int i = 0; i < 40; i++)
        add(f, "127.0.0.1", "/slow?bps=100&bytes=10&cap=host", NULL, NULL, &g[i]);
    CHECK_EQ(tb_fetcher_pending(f), 40);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 40; i++) {
        ok += g[i].called == 1 && g[i].rc == 0 && g[i].len == 10;
        got_free(&g[i]);
    }
    CHECK_EQ(ok, 40);
    CHECK_EQ(max_active("cap=host", &n), 2);
    CHECK_EQ(n, 40);
    close_fetcher(f);
}

/* A global cap of 3 across two hosts with a per-host cap of 10; as above,
 * the batch (2 s) outlasts the per-request timeout (1.5 s). */
static void test_global_cap(void)
{
    struct tb_fetcher *f = fetcher(1 << 20, 1500, 3, 10);
    struct got g[60];
    int n, ok = 0;

    memset(g, 0, sizeof(g));
    for (int i = 0; i < 60; i++)
        add(f, i % 2 ? "localhost" : "127.0.0.1", "/slow?bps=100&bytes=10&cap=all", NULL, NULL,
            &g[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 60; i++) {
        ok += g[i].called == 1 && g[i].rc == 0;
        got_free(&g[i]);
    }
    CHECK_EQ(ok, 60);
    CHECK_EQ(max_active("cap=all", &n), 3);
    CHECK_EQ(n, 60);
    close_fetcher(f);
}

static struct tb_fetcher *cancel_target;

static void on_cancel_timer(uv_timer_t *t)
{
    tb_fetcher_cancel_all(cancel_target);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(void)
{
    struct tb_fetcher *f = fetcher(1 << 20, 20000, 8, 2);
    struct tb_fetch_req bad[] = {{.url = "ftp://127.0.0.1/x"},
                                 {.url = "file:///etc/passwd"},
                                 {.url = "not a url"},
                                 {.url = "http://"}};
    struct got g[5];
    uv_timer_t timer;
    int cancelled = 0;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ(tb_fetcher_add(f, &bad[i], on_result, NULL), -EINVAL);
    memset(g, 0, sizeof(g));
    for (int i = 0; i < 5; i++)
        add(f, "127.0.0.1", i < 2 ? "/hang" : "/feed.xml", NULL, NULL, &g[i]);
    cancel_target = f;
    uv_timer_init(&loop, &timer);
    uv_timer_start(&timer, on_cancel_timer, 300, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 5; i++) {
        cancelled += g[i].called == 1 && g[i].rc == -ECANCELED;
        got_free(&g[i]);
    }
    CHECK_EQ(cancelled, 5);
    CHECK_EQ(tb_fetcher_pending(f), 0);
    close_fetcher(f);
}

static struct got one[4];

static void on_cancel_one_timer(uv_timer_t *t)
{
    /* The first cancels a running request and a queued one; the second, the other hang. */
    if (t->data == NULL) {
        tb_fetcher_cancel(cancel_target, &one[0]);
        tb_fetcher_cancel(cancel_target, &one[2]);
        CHECK_EQ(one[0].called, 1);
        CHECK_EQ(one[2].called, 1);
        CHECK_EQ(one[1].called + one[3].called, 0);
    } else {
        CHECK_EQ(one[3].called, 1); /* it had one[0]'s slot at once */
        tb_fetcher_cancel(cancel_target, &one[1]);
    }
    uv_close((uv_handle_t *)t, NULL);
}

/* tb_fetcher_cancel() ends only the requests of its argument: a queued
 * one never goes out, and a running one's slot goes to the next queued. */
static void test_cancel_one(void)
{
    struct tb_fetcher *f = fetcher(1 << 20, 20000, 8, 2);
    uv_timer_t first, second;
    char *log;

    memset(one, 0, sizeof(one));
    add(f, "127.0.0.1", "/hang", NULL, NULL, &one[0]);
    add(f, "127.0.0.1", "/hang", NULL, NULL, &one[1]);
    add(f, "127.0.0.1", "/feed.xml?queued=dropped", NULL, NULL, &one[2]);
    add(f, "127.0.0.1", "/feed.xml?queued=kept", NULL, NULL, &one[3]);
    tb_fetcher_cancel(f, &first); /* nothing of its own: a no-op */
    CHECK_EQ(tb_fetcher_pending(f), 4);
    cancel_target = f;
    uv_timer_init(&loop, &first);
    uv_timer_init(&loop, &second);
    first.data = NULL;
    second.data = &second;
    uv_timer_start(&first, on_cancel_one_timer, 300, 0);
    uv_timer_start(&second, on_cancel_one_timer, 1500, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(one[0].rc, -ECANCELED);
    CHECK_EQ(one[1].rc, -ECANCELED);
    CHECK_EQ(one[2].rc, -ECANCELED);
    CHECK(one[3].called == 1 && one[3].rc == 0 && one[3].status == 200);
    CHECK_EQ(tb_fetcher_pending(f), 0);
    log = read_log();
    CHECK(log != NULL && strstr(log, "queued=kept") != NULL);
    CHECK(log != NULL && strstr(log, "queued=dropped") == NULL);
    free(log);
    for (int i = 0; i < 4; i++)
        got_free(&one[i]);
    close_fetcher(f);
}

/* Freeing from inside a callback cancels the rest and refuses new work. */
static int freed_flag;
static struct got rest[3];

static void on_result_then_free(struct tb_fetch_result *r, void *data)
{
    struct tb_fetcher *f = data;
    struct tb_fetch_req req = {.url = "http://127.0.0.1/"};

    CHECK_OK(r->rc);
    tb_fetcher_free(f, set_flag, &freed_flag);
    CHECK_EQ(tb_fetcher_add(f, &req, on_result, NULL), -ECANCELED);
}

static void test_free_in_callback(void)
{
    struct tb_fetcher *f = fetcher(1 << 20, 20000, 8, 1);
    char url[128];
    struct tb_fetch_req req = {.url = url};

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/feed.xml", port);
    CHECK_OK(tb_fetcher_add(f, &req, on_result_then_free, f));
    for (int i = 0; i < 3; i++)
        add(f, "127.0.0.1", "/hang", NULL, NULL, &rest[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(freed_flag, 1);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(rest[i].rc, -ECANCELED);
        got_free(&rest[i]);
    }
}

/* The one-shot blocking reader shares the limits: cap, redirects, schemes. */
static void test_blocking_reader(void)
{
    static const struct {
        const char *path;
        int rc;
    } rows[] = {
        {"/redirect/301?to=/feed.xml&n=2", 0},
        {"/big?bytes=5000", TB_ETOOBIG},
        {"/gzipbomb", TB_ETOOBIG},
        {"/redirect/302?to=file:///etc/passwd", TB_EFETCH},
        {"/status/404", TB_EHTTP},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tb_buf body;
        struct tb_fetch_info info;
        char url[256], err[256] = "";

        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, rows[i].path);
        tb_buf_init(&body, 1000);
        CHECK_EQ(tb_fetch_source(url, &body, &info, err, sizeof(err)), rows[i].rc);
        if (rows[i].rc == 0) {
            CHECK_STR(body.data, FEED);
            CHECK(ends_with(info.url, "/feed.xml"));
            CHECK_STR(info.charset, "utf-8");
        } else {
            CHECK(err[0] != '\0');
        }
        tb_buf_free(&body);
    }
}

/* Files are read whole, at their size or through chunks past it, and one
 * over the cap is refused, whatever its size against the 64 KiB chunk. */
static void test_file_reader(void)
{
    static const size_t sizes[] = {0, 1, 999, 1000, 1001, 65535, 65536, 65537, 200000};
    static const size_t caps[] = {1000, 150000, 300000};
    char path[256], err[256];
    struct tb_fetch_info info;
    struct tb_buf body;
    size_t i, k, n;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *text = malloc(sizes[i] + 1);

        CHECK(text != NULL);
        for (n = 0; text && n < sizes[i]; n++)
            text[n] = (char)('a' + n % 23);
        if (text)
            text[sizes[i]] = '\0';
        snprintf(path, sizeof(path), "sized%zu.xml", sizes[i]);
        write_file(path, text ? text : "");
        snprintf(path, sizeof(path), "%s/sized%zu.xml", root, sizes[i]);
        for (k = 0; text && k < sizeof(caps) / sizeof(caps[0]); k++) {
            tb_buf_init(&body, caps[k]);
            err[0] = '\0';
            if (sizes[i] > caps[k]) {
                CHECK_EQ(tb_fetch_source(path, &body, &info, err, sizeof(err)), TB_ETOOBIG);
                CHECK(strstr(err, "size limit") != NULL);
            } else {
                CHECK_OK(tb_fetch_source(path, &body, &info, err, sizeof(err)));
                CHECK_EQ(body.len, sizes[i]);
                CHECK(body.len == 0 || (body.data && strcmp(body.data, text) == 0));
            }
            tb_buf_free(&body);
        }
        free(text);
    }
    tb_buf_init(&body, 1000);
    CHECK_EQ(tb_fetch_source(root, &body, &info, err, sizeof(err)), -EISDIR);
    tb_buf_free(&body);
}

/* ------------------------------------------------- POST and public_only */

static void post(struct tb_fetcher *f, const struct tb_fetch_req *req, struct got *g)
{
    CHECK_OK(tb_fetcher_add(f, req, on_result, g));
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(g->called, 1);
}

/* A POST arrives with its exact body (NUL and high bytes too), the
 * Content-Type and the caller's header lines, and no Expect round trip. */
static void test_post(void)
{
    static const char body[] = "hub.mode=publish&x=\0\xff end";
    static const char *const headers[] = {
        "Link: <http://127.0.0.1/websub>; rel=\"hub\", <http://127.0.0.1/all.atom>; rel=\"self\"",
        "X-Hub-Signature: sha256=00ff", NULL};
    struct tb_fetcher *f = fetcher(1 << 20, 5000, 8, 2);
    struct tb_fetch_req req = {.method = "POST",
                               .body = body,
                               .body_len = sizeof(body) - 1,
                               .content_type = "application/atom+xml",
                               .headers = headers};
    char url[256], *big = malloc(200000);
    struct got g = {0};

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", port);
    req.url = url;
    post(f, &req, &g);
    CHECK_OK(g.rc);
    CHECK_EQ(g.status, 200);
    CHECK(g.body && strstr(g.body, "\"method\": \"POST\""));
    CHECK(g.body && strstr(g.body, "\"body\": \"hub.mode=publish&x=\\u0000\\u00ff end\""));
    CHECK(g.body && strstr(g.body, "\"Content-Type\": \"application/atom+xml\""));
    CHECK(g.body && strstr(g.body, "\"Content-Length\": \"25\""));
    CHECK(g.body && strstr(g.body, "\"Link\": \"<http://127.0.0.1/websub>; rel=\\\"hub\\\", "
                                   "<http://127.0.0.1/all.atom>; rel=\\\"self\\\"\""));
    CHECK(g.body && strstr(g.body, "\"X-Hub-Signature\": \"sha256=00ff\""));
    CHECK(g.body && strstr(g.body, "Expect") == NULL);
    got_free(&g);

    /* A large body arrives whole. */
    memset(big, 'b', 200000);
    req.body = big;
    req.body_len = 200000;
    req.headers = NULL;
    post(f, &req, &g);
    CHECK_OK(g.rc);
    CHECK(g.body && strstr(g.body, "\"Content-Length\": \"200000\""));
    CHECK(g.len > 200000);
    got_free(&g);
    free(big);

    /* A POST follows 307 and 308 with its method and body (a hub that
     * moved), never 301, 302 or 303 (they would make it a GET); no_redirect
     * makes a GET's 3xx final too. */
    req.body = "x=moved";
    req.body_len = 7;
    for (int code = 307; code <= 308; code++) {
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/redirect/%d?to=/echo%%3Fmoved", port, code);
        post(f, &req, &g);
        CHECK_OK(g.rc);
        CHECK_EQ(g.status, 200);
        CHECK(g.body && strstr(g.body, "\"method\": \"POST\""));
        CHECK(g.body && strstr(g.body, "\"body\": \"x=moved\""));
        CHECK(g.body && strstr(g.body, "\"Content-Type\": \"application/atom+xml\""));
        got_free(&g);
    }
    for (int code = 301; code <= 303; code++) {
        char want[32];

        snprintf(url, sizeof(url), "http://127.0.0.1:%d/redirect/%d?to=/echo%%3Fpost", port, code);
        post(f, &req, &g);
        CHECK_EQ(g.rc, TB_EHTTP);
        CHECK_EQ(g.status, code);
        snprintf(want, sizeof(want), "HTTP %d", code);
        CHECK_STR(g.err, want);
        got_free(&g);
    }
    {
        struct tb_fetch_req get = {.no_redirect = 1};
        char line[2048];

        snprintf(url, sizeof(url), "http://127.0.0.1:%d/redirect/301?to=/echo%%3Fget", port);
        get.url = url;
        post(f, &get, &g);
        CHECK_EQ(g.rc, TB_EHTTP);
        CHECK_EQ(g.status, 301);
        got_free(&g);
        last_log_line("/echo?post", line, sizeof(line));
        CHECK_STR(line, ""); /* no POST's 301-303 was followed */
        last_log_line("/echo?get", line, sizeof(line));
        CHECK_STR(line, ""); /* nor the GET's with no_redirect */
    }

    /* Refused at once: an unknown method, a header that would split lines. */
    {
        static const char *const evil[] = {"X-A: 1\r\nX-B: 2", NULL};
        static const char *const nocolon[] = {"X-A", NULL};
        struct tb_fetch_req bad = {.url = url, .method = "PUT"};

        CHECK_EQ(tb_fetcher_add(f, &bad, on_result, NULL), -EINVAL);
        bad.method = "POST";
        bad.headers = evil;
        CHECK_EQ(tb_fetcher_add(f, &bad, on_result, NULL), -EINVAL);
        bad.headers = nocolon;
        CHECK_EQ(tb_fetcher_add(f, &bad, on_result, NULL), -EINVAL);
        CHECK_EQ(tb_fetcher_pending(f), 0);
    }
    close_fetcher(f);
}

/* POSTs wait under the per-host cap like GETs. */
static void test_post_cap(void)
{
    struct tb_fetcher *f = fetcher(1 << 20, 5000, 10, 1);
    struct got g[6];
    char url[256];
    struct tb_fetch_req req = {.url = url, .method = "POST", .body = "x", .body_len = 1};
    int n, ok = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow?bps=100&bytes=10&cap=post", port);
    memset(g, 0, sizeof(g));
    for (int i = 0; i < 6; i++)
        CHECK_OK(tb_fetcher_add(f, &req, on_result, &g[i]));
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 6; i++) {
        ok += g[i].called == 1 && g[i].rc == 0 && g[i].len == 10;
        got_free(&g[i]);
    }
    CHECK_EQ(ok, 6);
    CHECK_EQ(max_active("cap=post", &n), 1);
    CHECK_EQ(n, 6);
    close_fetcher(f);
}

static int addr_public(const char *ip)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};

    if (inet_pton(AF_INET, ip, &in.sin_addr) == 1)
        return tb_fetcher_addr_public((struct sockaddr *)&in);
    if (inet_pton(AF_INET6, ip, &in6.sin6_addr) == 1)
        return tb_fetcher_addr_public((struct sockaddr *)&in6);
    CHECK(!"not an address");
    return -1;
}

static void test_addr_public(void)
{
    static const struct {
        const char *ip;
        int public;
    } rows[] = {
        {"127.0.0.1", 0},
        {"127.255.255.254", 0},
        {"0.0.0.0", 0},
        {"0.1.2.3", 0},
        {"10.0.0.1", 0},
        {"10.255.255.255", 0},
        {"172.16.0.1", 0},
        {"172.31.255.255", 0},
        {"172.15.255.255", 1},
        {"172.32.0.0", 1},
        {"192.168.1.1", 0},
        {"169.254.169.254", 0},
        {"100.64.0.1", 0},
        {"100.127.255.255", 0},
        {"100.128.0.0", 1},
        {"100.63.255.255", 1},
        {"192.0.0.8", 0},
        {"192.0.2.1", 0},
        {"198.51.100.7", 0},
        {"203.0.113.9", 0},
        {"198.18.0.1", 0},
        {"198.19.255.255", 0},
        {"198.20.0.0", 1},
        {"192.88.99.1", 0},
        {"224.0.0.1", 0},
        {"239.255.255.250", 0},
        {"240.0.0.1", 0},
        {"255.255.255.255", 0},
        {"8.8.8.8", 1},
        {"1.1.1.1", 1},
        {"93.184.216.34", 1},
        {"192.0.1.1", 1},
        {"::", 0},
        {"::1", 0},
        {"::ffff:127.0.0.1", 0},
        {"::ffff:10.1.2.3", 0},
        {"::ffff:169.254.0.1", 0},
        {"::ffff:8.8.8.8", 1},
        {"::127.0.0.1", 0},
        {"::8.8.8.8", 0},
        {"64:ff9b::7f00:1", 0},
        {"64:ff9b::808:808", 1},
        {"64:ff9b:1::1", 0},
        {"100::1", 0},
        {"fc00::1", 0},
        {"fd12:3456::1", 0},
        {"fe80::1", 0},
        {"febf::1", 0},
        {"fec0::1", 0},
        {"ff02::1", 0},
        {"ff0e::1", 0},
        {"2001:db8::1", 0},
        {"2001::1", 0},
        {"2001:10::1", 0},
        {"2001:20::1", 0},
        {"2002:7f00:1::1", 0},
        {"2002:c0a8:101::1", 0},
        {"2002:808:808::1", 1},
        {"3fff::1", 0},
        {"2001:4860:4860::8888", 1},
        {"2606:4700::1111", 1},
        {"2a00:1450::1", 1},
        {"4000::1", 0},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int got = addr_public(rows[i].ip);

        if (got != rows[i].public)
            fprintf(stderr, "address %s: public %d, expected %d\n", rows[i].ip, got,
                    rows[i].public);
        CHECK_EQ(got, rows[i].public);
    }
    {
        struct sockaddr unix_sa = {.sa_family = AF_UNIX};

        CHECK_EQ(tb_fetcher_addr_public(&unix_sa), 0);
    }
}

/* public_only refuses the connection itself: nothing reaches the server,
 * whatever name or form of the address the URL uses. */
static void test_public_only(void)
{
    static const struct {
        const char *host;
        const char *addr;
    } rows[] = {
        {"127.0.0.1", "127.0.0.1"},
        {"localhost", ""}, /* ::1 or 127.0.0.1, whichever was tried last */
        {"[::1]", "::1"},
        {"[::ffff:127.0.0.1]", "::ffff:127.0.0.1"},
        {"127.1", "127.0.0.1"},
    };
    struct tb_fetcher *f = fetcher(1 << 20, 5000, 8, 2);
    char url[256], want[128], line[2048];

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tb_fetch_req req = {.url = url, .public_only = 1, .method = i % 2 ? "POST" : NULL};
        struct got g = {0};

        snprintf(url, sizeof(url), "http://%s:%d/feed.xml?public_only=%zu", rows[i].host, port, i);
        post(f, &req, &g);
        CHECK_EQ(g.rc, TB_EFETCH);
        CHECK_EQ(g.status, 0);
        snprintf(want, sizeof(want), "refused to connect to %s", rows[i].addr);
        if (strstr(g.err, want) == NULL)
            fprintf(stderr, "%s: err '%s'\n", rows[i].host, g.err);
        CHECK(strstr(g.err, want) != NULL);
        CHECK(strstr(g.err, "not a public address") != NULL);
        got_free(&g);
    }
    last_log_line("public_only=", line, sizeof(line));
    CHECK_STR(line, "");
    /* The same fetcher still reaches loopback for a request without it,
     * and a public_only one after it opens no pooled connection. */
    {
        struct got g = {0};
        struct tb_fetch_req req = {.url = url, .public_only = 1};

        fetch(f, "/feed.xml", NULL, NULL, &g);
        CHECK_OK(g.rc);
        got_free(&g);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/feed.xml?public_only=reuse", port);
        post(f, &req, &g);
        CHECK_EQ(g.rc, TB_EFETCH);
        CHECK(strstr(g.err, "refused to connect to 127.0.0.1") != NULL);
        got_free(&g);
        last_log_line("public_only=", line, sizeof(line));
        CHECK_STR(line, "");
    }
    close_fetcher(f);
}

int main(void)
{
    char cmd[256];

    snprintf(dir, sizeof(dir), "/tmp/tb-fetcher-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(root, sizeof(root), "%s/root", dir);
    snprintf(logpath, sizeof(logpath), "%s/requests.log", dir);
    CHECK_OK(mkdir(root, 0700));
    write_file("feed.xml", FEED);
    CHECK_OK(uv_loop_init(&loop));
    test_addr_public();
    if (start_upstream() == 0) {
        test_ok_gzip_conditional();
        test_caps();
        test_redirects();
        test_status_retry_after();
        test_host_delay();
        test_network_errors();
        test_per_host_cap();
        test_global_cap();
        test_cancel();
        test_cancel_one();
        test_free_in_callback();
        test_blocking_reader();
        test_file_reader();
        test_post();
        test_post_cap();
        test_public_only();
    } else {
        CHECK(check_skipped || !"upstream.py did not start");
    }
    stop_upstream();
    CHECK_OK(uv_loop_close(&loop));
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_OK(system(cmd));
    CHECK_DONE();
}
