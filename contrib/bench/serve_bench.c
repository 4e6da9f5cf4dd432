/*
 * serve_bench: serves one file through tb_http at /feed.atom (and
 * /healthz, /metrics) until SIGINT/SIGTERM. Used by contrib/bench/serve.
 *
 *     serve_bench LISTEN FILE
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "tb_http.h"

static struct tb_http *srv;
static uv_signal_t sigint, sigterm;

static void on_signal(uv_signal_t *s, int signum)
{
    tb_http_free(srv, NULL, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    data = malloc((size_t)n + 1);
    if (data != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    *len = (size_t)n;
out:
    if (f != NULL)
        fclose(f);
    return data;
}

int main(int argc, char **argv)
{
    struct tb_http_opts o = {NULL, 0, 0};
    char err[256];
    size_t len = 0;
    char *data;

    if (argc != 3) {
        fprintf(stderr, "usage: serve_bench LISTEN FILE\n");
        return 2;
    }
    data = read_file(argv[2], &len);
    o.listen = argv[1];
    if (data == NULL || tb_http_new(uv_default_loop(), &o, &srv, err, sizeof(err)) != 0 ||
        tb_http_put(srv, "/feed.atom", "application/atom+xml; charset=utf-8", data, len, 0, 60) !=
            0) {
        fprintf(stderr, "serve_bench: cannot start: %s\n", data == NULL ? argv[2] : err);
        return 1;
    }
    free(data);
    uv_signal_init(uv_default_loop(), &sigint);
    uv_signal_init(uv_default_loop(), &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    return uv_loop_close(uv_default_loop()) == 0 ? 0 : 1;
}
