/*
 * The OPML commands. `tributary import-opml FILE [-c CONFIG]`: appends a
 * [source NAME] section for every OPML feed whose URL the config does not
 * have yet. The new config is written beside the old one, loaded to prove it
 * valid, then renamed over it, so a failed import leaves the config
 * untouched. `tributary export-opml [-c FILE]`: the sources as OPML 2.0 on
 * stdout.
 */
#include "tb_cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tb_config.h"
#include "tb_opml.h"
#include "tb_url.h"
#include "tb_vec.h"

#include "cli_int.h"

#define OPML_CAP ((size_t)16 * 1024 * 1024)
#define NAME_MAX_LEN 48

struct import {
    const struct tb_config *c; /* the config before the import */
    struct tb_buf text;        /* sections to append */
    char **names;              /* names given so far (owned) */
    char **urls;               /* URLs added so far (owned) */
    size_t n;                  /* feeds added */
    size_t anames, aurls;      /* allocated slots of names and urls */
};

static int read_file(const char *path, struct tb_buf *b)
{
    char chunk[65536];
    FILE *fp = fopen(path, "rb");
    size_t got;
    int rc = 0;

    if (fp == NULL)
        return -errno;
    do {
        got = fread(chunk, 1, sizeof(chunk), fp);
        rc = got > 0 ? tb_buf_add(b, chunk, got) : 0;
    } while (rc == 0 && got == sizeof(chunk));
    if (rc == 0 && ferror(fp))
        rc = -EIO;
    fclose(fp);
    return rc;
}

/* The URL as the config normalises it (curl's URL API, lower-case host), or NULL. */
static char *norm_url(const char *url)
{
    CURLU *u = curl_url();
    char *out = NULL, *scheme = NULL, *host = NULL, *p, *r = NULL;

    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        tb_url_scheme_allowed(scheme) && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        for (p = host; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        if (curl_url_set(u, CURLUPART_HOST, host, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
            r = strdup(out);
    }
    curl_free(out);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return r;
}

static int known(const struct import *im, const char *url, const char *name)
{
    size_t i;

    for (i = 0; url && i < im->c->nsources; i++) {
        if (strcmp(im->c->sources[i].url, url) == 0)
            return 1;
    }
    for (i = 0; i < im->n; i++) {
        if ((url && strcmp(im->urls[i], url) == 0) || (name && strcmp(im->names[i], name) == 0))
            return 1;
    }
    return name != NULL && tb_config_find_source(im->c, name) != NULL;
}

static char *unique_name(const struct import *im, const char *title)
{
    char base[NAME_MAX_LEN + 1], name[NAME_MAX_LEN + 16];
    int k;

    tb_config_slug(title, base, sizeof(base));
    if (base[0] == '\0')
        strcpy(base, "feed");
    snprintf(name, sizeof(name), "%s", base);
    for (k = 2; known(im, NULL, name); k++)
        snprintf(name, sizeof(name), "%s-%d", base, k);
    return strdup(name);
}

/* A title safe on one INI line: no controls, no ';' (an inline comment). */
static void clean_title(const char *t, char *out, size_t len)
{
    size_t n = 0;

    for (; t && *t && n + 1 < len; t++)
        out[n++] = ((unsigned char)*t < 0x20 || *t == ';') ? ' ' : *t;
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

static int add_feed(struct import *im, const struct tb_opml_feed *f)
{
    char *url = norm_url(f->url), *name, title[512];
    int rc;

    if (url == NULL || known(im, url, NULL)) {
        free(url);
        return 0;
    }
    name = unique_name(im, f->title);
    rc = name ? TB_VEC_RESERVE(im->names, im->anames, im->n + 1, TB_VEC_MAX) : -ENOMEM;
    if (rc == 0)
        rc = TB_VEC_RESERVE(im->urls, im->aurls, im->n + 1, TB_VEC_MAX);
    if (rc) {
        free(url);
        free(name);
        return rc;
    }
    clean_title(f->title, title, sizeof(title));
    rc = tb_buf_addf(&im->text, "\n[source %s]\nurl = %s\n", name, url);
    if (rc == 0 && title[0])
        rc = tb_buf_addf(&im->text, "title = %s\n", title);
    im->names[im->n] = name;
    im->urls[im->n++] = url;
    return rc;
}

/* Writes old + appended text beside the config, validates it, renames it over. */
static int write_config(const char *path, const struct tb_buf *old, const struct tb_buf *add)
{
    struct tb_config *c = NULL;
    struct tb_config_error *errs = NULL;
    size_t i, nerrs = 0;
    char tmp[4200];
    FILE *fp;
    int rc;

    snprintf(tmp, sizeof(tmp), "%s.import.tmp", path);
    fp = fopen(tmp, "wb");
    if (fp == NULL)
        return -errno;
    rc = fwrite(old->data ? old->data : "", 1, old->len, fp) == old->len ? 0 : -EIO;
    if (rc == 0 && old->len > 0 && old->data[old->len - 1] != '\n')
        rc = fputc('\n', fp) == EOF ? -EIO : 0;
    if (rc == 0 && fwrite(add->data, 1, add->len, fp) != add->len)
        rc = -EIO;
    if (fclose(fp) != 0 && rc == 0)
        rc = -EIO;
    if (rc == 0)
        rc = tb_config_load(tmp, &c, &errs, &nerrs);
    for (i = 0; i < nerrs; i++)
        fprintf(stderr, "%s:%d: %s\n", errs[i].file, errs[i].line, errs[i].msg);
    tb_config_errors_free(errs, nerrs);
    tb_config_free(c);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

static void import_free(struct import *im)
{
    size_t i;

    for (i = 0; i < im->n; i++) {
        free(im->names[i]);
        free(im->urls[i]);
    }
    free(im->names);
    free(im->urls);
    tb_buf_free(&im->text);
}

/* Reads the OPML and collects the sections to add. */
static int collect(struct import *im, const char *file, size_t *total)
{
    struct tb_opml_feed *feeds = NULL;
    char err[512] = "";
    struct tb_buf b;
    size_t i, n = 0;
    int rc;

    tb_buf_init(&b, OPML_CAP);
    rc = read_file(file, &b);
    if (rc == 0)
        rc = tb_opml_read(b.data ? b.data : "", b.len, &feeds, &n, err, sizeof(err));
    for (i = 0; rc == 0 && i < n; i++)
        rc = add_feed(im, &feeds[i]);
    if (rc)
        fprintf(stderr, "tributary: import-opml: %s: %s\n", file, err[0] ? err : tb_strerror(rc));
    *total = n;
    tb_opml_free(feeds, n);
    tb_buf_free(&b);
    return rc;
}

static int run_import(const char *file, const char *config)
{
    struct import im = {0};
    struct tb_config *c = NULL;
    struct tb_config_error *errs = NULL;
    struct tb_buf old;
    size_t nerrs = 0, total = 0;
    int rc = tb_config_load(config, &c, &errs, &nerrs);

    for (size_t i = 0; i < nerrs; i++)
        fprintf(stderr, "%s:%d: %s\n", errs[i].file, errs[i].line, errs[i].msg);
    tb_config_errors_free(errs, nerrs);
    if (rc)
        return 1;
    im.c = c;
    tb_buf_init(&im.text, OPML_CAP);
    tb_buf_init(&old, OPML_CAP);
    rc = collect(&im, file, &total);
    if (rc == 0 && im.n > 0) {
        rc = read_file(config, &old);
        if (rc == 0)
            rc = write_config(config, &old, &im.text);
        if (rc)
            fprintf(stderr, "tributary: import-opml: %s: %s\n", config, tb_strerror(rc));
    }
    if (rc == 0)
        printf("%zu feeds added to %s (%zu already there)\n", im.n, config, total - im.n);
    tb_buf_free(&old);
    import_free(&im);
    tb_config_free(c);
    return rc ? 1 : 0;
}

int tb_cli_import_opml(int argc, char **argv)
{
    const char *usage = "usage: tributary import-opml FILE [-c CONFIG]\n"
                        "Appends a [source] section to the config for every OPML feed whose URL\n"
                        "it does not have yet, and reports how many were added.\n";
    const char *file = NULL, *config = NULL;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (file == NULL && argv[i][0] != '-')
            file = argv[i];
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (file == NULL) {
        fputs(usage, stderr);
        return 2;
    }
    return run_import(file, config ? config : tb_cli_default_config());
}

int tb_cli_export_opml(int argc, char **argv)
{
    static const char usage[] = "usage: tributary export-opml [-c FILE]\n"
                                "Writes the configured sources as OPML 2.0 on stdout.\n";
    struct tb_config *c;
    struct tb_buf b;
    struct tb__cli_opts o;
    int rc = tb__cli_parse_opts(argc, argv, &o, usage, 0);

    if (rc >= 0)
        return rc;
    c = tb__cli_load(o.config, "export-opml");
    if (c == NULL)
        return 1;
    tb_buf_init(&b, (size_t)256 * 1024 * 1024);
    rc = tb_opml_write(c, &b);
    if (rc == 0 && fwrite(b.data, 1, b.len, stdout) != b.len)
        rc = -EIO;
    if (rc)
        fprintf(stderr, "tributary: export-opml: %s\n", tb_strerror(rc));
    tb_buf_free(&b);
    tb_config_free(c);
    return rc ? 1 : 0;
}
