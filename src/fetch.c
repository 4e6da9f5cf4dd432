/* Blocking source reader for the one-shot commands: files, stdin, http(s). */
#include "tb_fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch_int.h"
#include "tb_url.h"

int tb_fetch_is_url(const char *s)
{
    return tb_url_allowed(s, 0);
}

/* Room left in the buffer's allocation that its cap allows filling. */
static size_t room(const struct tb_buf *b)
{
    size_t r = b->alloc > b->len + 1 ? b->alloc - b->len - 1 : 0;

    return r < b->cap - b->len ? r : b->cap - b->len;
}

/* Reads a whole descriptor into the buffer, honouring its cap. The size of
 * a regular file (hint) is reserved first, so the file is read straight
 * into the buffer by one read() rather than copied in through a chunk and
 * a series of regrowths; what does not fit goes through the chunk. */
static int read_fd(int fd, struct tb_buf *body, size_t hint)
{
    char chunk[65536];
    int rc = hint > 0 ? tb_buf_reserve(body, hint) : 0;

    while (rc == 0) {
        size_t r = room(body);
        ssize_t n = read(fd, r > 0 ? body->data + body->len : chunk, r > 0 ? r : sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        if (r > 0) {
            body->len += (size_t)n;
            body->data[body->len] = '\0';
        } else {
            rc = tb_buf_add(body, chunk, (size_t)n);
        }
    }
    return rc;
}

static int read_file(const char *path, struct tb_buf *body, struct tb_fetch_info *info, char *err,
                     size_t errlen)
{
    struct stat st;
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    size_t hint = 0;
    int rc;

    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s", strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            close(fd);
            snprintf(err, errlen, "is a directory");
            return -EISDIR;
        }
        if (fd != STDIN_FILENO)
            info->mtime = (int64_t)st.st_mtime;
        if (S_ISREG(st.st_mode) && st.st_size > 0)
            hint = (uint64_t)st.st_size > body->cap ? body->cap + 1 : (size_t)st.st_size;
    }
    rc = read_fd(fd, body, hint);
    if (fd != STDIN_FILENO)
        close(fd);
    if (rc)
        snprintf(err, errlen, "%s",
                 rc == TB_ETOOBIG ? "larger than the size limit" : strerror(-rc));
    return rc;
}

/* libcurl write callback: the cap is enforced after decompression here,
 * since CURLOPT_MAXFILESIZE cannot see chunked or compressed sizes. */
static size_t on_data(char *p, size_t size, size_t n, void *data)
{
    struct tb_buf *body = data;

    if (tb_buf_add(body, p, size * n))
        return 0;
    return size * n;
}

void tb_fetch_limits_default(struct tb_fetch_limits *lim)
{
    lim->max_body = TB_FETCH_MAX_BODY;
    lim->connect_timeout_ms = 15000;
    lim->timeout_ms = 60000;
    lim->low_speed_limit = 100;
    lim->low_speed_time = 20;
    lim->max_connections = 32;
    lim->max_per_host = 4; /* as the config's default (src/config.c) */
    lim->user_agent = NULL;
}

void tb__fetch_easy_limits(CURL *h, const struct tb_fetch_limits *lim, const char *ua)
{
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_USERAGENT, ua ? ua : TB_FETCH_USER_AGENT);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, lim->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, lim->timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, lim->low_speed_limit);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, lim->low_speed_time);
    /* An honest Content-Length over the cap fails before any byte is read. */
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)lim->max_body);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
}

void tb__fetch_charset(const char *ct, char *out, size_t len)
{
    const char *p = ct ? strcasestr(ct, "charset=") : NULL;
    size_t n;

    out[0] = '\0';
    if (p == NULL)
        return;
    p += 8;
    if (*p == '"')
        p++;
    n = strcspn(p, "\"; \t");
    if (n > 0 && n < len) {
        memcpy(out, p, n);
        out[n] = '\0';
    }
}

static int fetch_url(const char *url, struct tb_buf *body, struct tb_fetch_info *info, char *err,
                     size_t errlen)
{
    char cerr[CURL_ERROR_SIZE] = "";
    struct tb_fetch_limits lim;
    CURL *h = curl_easy_init();
    CURLcode cc;
    char *final = NULL, *ct = NULL;
    long status = 0;
    curl_off_t filetime = -1;
    int rc = 0;

    if (h == NULL)
        return -ENOMEM;
    tb_fetch_limits_default(&lim);
    lim.max_body = body->cap;
    tb__fetch_easy_limits(h, &lim, NULL);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)TB_FETCH_MAX_REDIRS);
    curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &final);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    curl_easy_getinfo(h, CURLINFO_FILETIME_T, &filetime);
    info->status = status;
    snprintf(info->url, sizeof(info->url), "%s", final ? final : url);
    tb__fetch_charset(ct, info->charset, sizeof(info->charset));
    info->mtime = filetime > 0 ? (int64_t)filetime : 0;
    if ((cc == CURLE_WRITE_ERROR && body->data == NULL) || cc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(err, errlen, "body larger than the size limit (%zu bytes)", body->cap);
        rc = TB_ETOOBIG;
    } else if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
        rc = TB_EFETCH;
    } else if (status >= 400) {
        snprintf(err, errlen, "HTTP status %ld", status);
        rc = TB_EHTTP;
    }
    curl_easy_cleanup(h);
    return rc;
}

int tb_fetch_source(const char *src, struct tb_buf *body, struct tb_fetch_info *info, char *err,
                    size_t errlen)
{
    memset(info, 0, sizeof(*info));
    if (tb_fetch_is_url(src))
        return fetch_url(src, body, info, err, errlen);
    return read_file(src, body, info, err, errlen);
}
