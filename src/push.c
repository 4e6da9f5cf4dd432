/*
 * push.c: the WebSub subscriber's pure parts: callback ids and secrets,
 * the X-Hub-Signature check, the subscription request's form, and the
 * lease, poll and retry arithmetic.
 */
#include "tb_push.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "tb_hash.h"

#define DAY 86400
#define RETRY_BASE 60 /* first retry delay (s) */

const char *tb_push_state_name(enum tb_push_state st)
{
    static const char *const names[] = {"none", "pending", "active", "denied", "failed", "leaving"};

    return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "none";
}

void tb_push_sub_clear(struct tb_push_sub *s)
{
    free(s->source);
    free(s->hub);
    free(s->topic);
    free(s->id);
    free(s->secret);
    free(s->reason);
    memset(s, 0, sizeof(*s));
}

int tb_push_random_hex(char *out, size_t n)
{
    unsigned char b[64];
    size_t got = 0;
    ssize_t r;

    if (n > sizeof(b))
        return -EINVAL;
    /* Blocks only until the kernel's pool is initialized, once after boot. */
    while (got < n) {
        r = getrandom(b + got, n - got, 0);
        if (r < 0 && errno != EINTR)
            return -EIO;
        if (r > 0)
            got += (size_t)r;
    }
    tb_hash_hex(b, n, out);
    return 0;
}

/* Decodes the hex text s[0..2n) into out[0..n). 0, or -EINVAL. */
static int unhex(const char *s, size_t n, unsigned char *out)
{
    size_t i;
    int hi, lo;

    for (i = 0; i < n; i++) {
        hi = tb_hex_digit((unsigned char)s[2 * i]);
        lo = tb_hex_digit((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

int tb_push_check_signature(const char *header, const char *secret, const void *body, size_t len)
{
    unsigned char want[TB_HMAC_MAX], got[TB_HMAC_MAX];
    const char *eq, *hex;
    char alg[8];
    size_t n, mlen = 0;
    int rc;

    if (header == NULL || *header == '\0')
        return -ENOENT;
    eq = strchr(header, '=');
    if (secret == NULL || *secret == '\0' || eq == NULL || (size_t)(eq - header) >= sizeof(alg))
        return -EINVAL;
    n = (size_t)(eq - header);
    memcpy(alg, header, n);
    alg[n] = '\0';
    rc = tb_hmac(alg, secret, strlen(secret), body, len, want, &mlen);
    if (rc)
        return rc;
    hex = eq + 1;
    if (strlen(hex) != 2 * mlen || unhex(hex, mlen, got) != 0)
        return -EINVAL;
    return tb_hash_equal(want, got, mlen) ? 0 : -EBADMSG;
}

/* Appends name=value, value percent-encoded (RFC 3986 unreserved kept). */
static int add_field(struct tb_buf *out, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;
    int rc = tb_buf_addf(out, "%s%s=", out->len > 0 ? "&" : "", name);

    for (p = (const unsigned char *)value; rc == 0 && *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p) != NULL)
            rc = tb_buf_add(out, p, 1);
        else
            rc = tb_buf_addf(out, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
    return rc;
}

int tb_push_request_body(struct tb_buf *out, const char *mode, const char *topic,
                         const char *callback, const char *secret, int64_t lease)
{
    char ls[24];
    int rc = add_field(out, "hub.mode", mode);

    if (rc == 0)
        rc = add_field(out, "hub.topic", topic);
    if (rc == 0)
        rc = add_field(out, "hub.callback", callback);
    if (rc == 0 && strcmp(mode, "subscribe") == 0 && secret != NULL)
        rc = add_field(out, "hub.secret", secret);
    if (rc == 0 && strcmp(mode, "subscribe") == 0 && lease > 0) {
        snprintf(ls, sizeof(ls), "%lld", (long long)lease);
        rc = add_field(out, "hub.lease_seconds", ls);
    }
    return rc;
}

/* Whether the space-separated list v[0..n) holds rel (any case). */
static int rel_in(const char *v, size_t n, const char *rel)
{
    size_t i = 0, j, len = strlen(rel);

    while (i < n) {
        while (i < n && v[i] == ' ')
            i++;
        for (j = i; j < n && v[j] != ' '; j++)
            ;
        if (j - i == len && strncasecmp(v + i, rel, len) == 0)
            return 1;
        i = j;
    }
    return 0;
}

/* Reads one parameter value at *p (a quoted string or a token) into
 * [*v, *v + *n) (a quoted one without its quotes; escapes kept). */
static void param_value(const char **p, const char **v, size_t *n)
{
    const char *s = *p;

    if (*s == '"') {
        *v = ++s;
        while (*s != '\0' && *s != '"')
            s += (*s == '\\' && s[1] != '\0') ? 2 : 1;
        *n = (size_t)(s - *v);
        *p = *s == '"' ? s + 1 : s;
        return;
    }
    *v = s;
    while (*s != '\0' && *s != ';' && *s != ',')
        s++;
    *n = (size_t)(s - *v);
    while (*n > 0 && (*v)[*n - 1] == ' ')
        (*n)--;
    *p = s;
}

int tb_push_link_rel(const char *link, const char *rel, char *out, size_t outlen)
{
    const char *p = link, *uri, *gt, *name, *v;
    size_t ulen, nlen, vlen;
    int hit;

    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p != '<')
            return -ENOENT; /* not a link-value: the rest cannot be read */
        uri = p + 1;
        gt = strchr(uri, '>');
        if (gt == NULL)
            return -ENOENT;
        ulen = (size_t)(gt - uri);
        p = gt + 1;
        hit = 0;
        for (;;) {
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p != ';')
                break;
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
            name = p;
            while (*p != '\0' && *p != '=' && *p != ';' && *p != ',' && *p != ' ')
                p++;
            nlen = (size_t)(p - name);
            while (*p == ' ')
                p++;
            v = p;
            vlen = 0;
            if (*p == '=') {
                p++;
                while (*p == ' ')
                    p++;
                param_value(&p, &v, &vlen);
            }
            if (nlen == 3 && strncasecmp(name, "rel", 3) == 0 && rel_in(v, vlen, rel))
                hit = 1;
        }
        if (hit) {
            if (ulen + 1 > outlen)
                return -ENAMETOOLONG;
            memcpy(out, uri, ulen);
            out[ulen] = '\0';
            return 0;
        }
        p = *p == ',' ? p : strchr(p, ',');
    }
    return -ENOENT;
}

int64_t tb_push_renew_at(int64_t now, int64_t lease_end)
{
    int64_t lease = lease_end - now, at = now + lease * 9 / 10;

    /* A day before the end, unless that is in the first half of the lease
     * (a short one would be renewed over and over). */
    if (lease_end - DAY < at && lease_end - DAY >= now + lease / 2)
        at = lease_end - DAY;
    return at > now ? at : now;
}

int64_t tb_push_poll_interval(int64_t interval)
{
    if (interval >= DAY)
        return interval;
    return interval * 4 < DAY ? interval * 4 : DAY;
}

int64_t tb_push_retry_delay(int failures)
{
    int64_t d = RETRY_BASE;

    while (failures-- > 1 && d < DAY)
        d *= 2;
    return d < DAY ? d : DAY;
}
