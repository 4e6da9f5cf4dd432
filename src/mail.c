/*
 * mail.c: addresses and signed tokens for the email digests (tb_mail.h).
 *
 * An address is accepted only in the plain form every mail client sends
 * (dot-atom@host.domain), so that what passes can go into a header or an
 * SMTP command as it is. Tokens carry a base64url HMAC-SHA256 (tb_hash.h)
 * of their fields and the address; the fields are parsed strictly (no
 * leading zeros, no signs), so one token has exactly one spelling.
 */
#include "tb_mail.h"
#include "tb_hash.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAC_B64 43      /* base64url characters of a 32-byte MAC, unpadded */
#define FIELD_DIGITS 19 /* digits of INT64_MAX */
#define SECRET_HEX (2 * TB_MAIL_SECRET_LEN)

static void say(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
}

/* RFC 5322 atext: what a dot-atom's atoms are made of. */
static int is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int is_ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* The local part's problem, or NULL: 1 to 64 octets of atoms and single dots. */
static const char *check_local(const char *p, size_t n)
{
    size_t i;

    if (n == 0)
        return "nothing before the '@'";
    if (n > TB_MAIL_LOCAL_MAX)
        return "the part before the '@' is longer than 64 characters";
    if (p[0] == '"')
        return "quoted local parts are not accepted";
    for (i = 0; i < n; i++) {
        if (p[i] == '.' && (i == 0 || i + 1 == n || p[i + 1] == '.'))
            return "a dot at the start or end of the local part, or two in a row";
        if (p[i] != '.' && !is_atext((unsigned char)p[i]))
            return "a character not allowed in the local part";
    }
    return NULL;
}

/* The domain's problem, or NULL: LDH labels of 1 to 63 octets, at least two,
 * the last not all digits (so never a bare IPv4 address). */
static const char *check_domain(const char *p, size_t n)
{
    size_t i, start = 0, labels = 0;
    int digits = 1;

    if (n == 0)
        return "nothing after the '@'";
    if (n > TB_MAIL_DOMAIN_MAX)
        return "the domain is longer than 255 characters";
    if (p[0] == '[')
        return "IP address literals are not accepted";
    for (i = 0; i <= n; i++) {
        if (i < n && p[i] != '.') {
            if (!is_ldh((unsigned char)p[i]))
                return "a character not allowed in a domain name";
            if (p[i] < '0' || p[i] > '9')
                digits = 0;
            continue;
        }
        if (i == start)
            return "an empty label in the domain";
        if (i - start > 63)
            return "a domain label longer than 63 characters";
        if (p[start] == '-' || p[i - 1] == '-')
            return "a domain label starting or ending with '-'";
        labels++;
        if (i < n)
            digits = 1;
        start = i + 1;
    }
    if (labels < 2)
        return "the domain has no dot";
    if (digits)
        return "the domain ends in a numeric label (an IP address?)";
    return NULL;
}

int tb_mail_addr_check(const char *addr, char *err, size_t errlen)
{
    const char *at, *msg = NULL;
    size_t i, n;

    if (addr == NULL || addr[0] == '\0') {
        say(err, errlen, "empty address");
        return -EINVAL;
    }
    n = strlen(addr);
    for (i = 0; i < n && msg == NULL; i++) {
        if ((unsigned char)addr[i] <= ' ' || (unsigned char)addr[i] >= 0x7f)
            msg = "a control character, space or non-ASCII character";
    }
    if (msg == NULL && n > TB_MAIL_ADDR_MAX)
        msg = "longer than 254 characters";
    at = strrchr(addr, '@');
    if (msg == NULL && at == NULL)
        msg = "no '@'";
    if (msg == NULL)
        msg = check_local(addr, (size_t)(at - addr));
    if (msg == NULL)
        msg = check_domain(at + 1, n - (size_t)(at - addr) - 1);
    if (msg != NULL) {
        say(err, errlen, msg);
        return -EINVAL;
    }
    return 0;
}

int tb_mail_addr_norm(const char *addr, char *out, size_t outlen)
{
    size_t i, n;
    const char *at;

    if (tb_mail_addr_check(addr, NULL, 0) != 0)
        return -EINVAL;
    n = strlen(addr);
    if (n >= outlen)
        return -ENOSPC;
    at = strrchr(addr, '@');
    for (i = 0; i <= n; i++) {
        char c = addr[i];

        if (addr + i > at && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out[i] = c;
    }
    return 0;
}

void tb_mail_addr_mask(const char *addr, char *out, size_t len)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    char first = '?';
    size_t i, o;

    if (len == 0)
        return;
    if (at == NULL) {
        snprintf(out, len, "***");
        return;
    }
    if (at > addr && (unsigned char)addr[0] > ' ' && (unsigned char)addr[0] < 0x7f)
        first = addr[0];
    o = (size_t)snprintf(out, len, "%c***@", first);
    /* The domain as given, but nothing a log line could be fooled by. */
    for (i = 1; at[i] != '\0' && o + 1 < len; i++, o++)
        out[o] = ((unsigned char)at[i] > ' ' && (unsigned char)at[i] < 0x7f) ? at[i] : '?';
    if (o < len)
        out[o] = '\0';
}

/* Base64url without padding (RFC 4648 5) of n bytes into out (4n/3 + 2 bytes). */
static void b64url(const unsigned char *p, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t v;
    size_t i, o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        out[o++] = abc[v & 63];
    }
    if (n - i == 1) {
        v = (uint32_t)p[i] << 16;
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
    } else if (n - i == 2) {
        v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
    }
    out[o] = '\0';
}

static int valid_action(int a)
{
    return a == TB_MAIL_CONFIRM || a == TB_MAIL_MANAGE || a == TB_MAIL_UNSUBSCRIBE;
}

/* The base64url MAC of "A.ID.EXP.ADDRESS" (address normalized) into mac. */
static int token_mac(const unsigned char key[TB_MAIL_SECRET_LEN], int action, int64_t id,
                     int64_t expires, const char *addr, char mac[MAC_B64 + 1])
{
    char msg[2 * FIELD_DIGITS + TB_MAIL_DOMAIN_MAX + TB_MAIL_LOCAL_MAX + 16];
    unsigned char md[TB_SHA256_LEN];
    int n, rc;

    n = snprintf(msg, sizeof(msg), "%c.%" PRId64 ".%" PRId64 ".", action, id, expires);
    if (n < 0 || (size_t)n >= sizeof(msg))
        return -EINVAL;
    rc = tb_mail_addr_norm(addr, msg + n, sizeof(msg) - (size_t)n);
    if (rc != 0)
        return -EINVAL;
    rc = tb_hmac_sha256(key, TB_MAIL_SECRET_LEN, msg, strlen(msg), md);
    if (rc == 0)
        b64url(md, sizeof(md), mac);
    return rc;
}

int tb_mail_token_make(const unsigned char key[TB_MAIL_SECRET_LEN], enum tb_mail_action action,
                       int64_t id, const char *addr, int64_t expires, char *out, size_t outlen)
{
    char mac[MAC_B64 + 1];
    int n, rc;

    if (!valid_action((int)action) || id <= 0 || expires < 0 || out == NULL)
        return -EINVAL;
    rc = token_mac(key, (int)action, id, expires, addr, mac);
    if (rc != 0)
        return rc;
    n = snprintf(out, outlen, "%c.%" PRId64 ".%" PRId64 ".%s", (int)action, id, expires, mac);
    return n > 0 && (size_t)n < outlen ? 0 : -EINVAL;
}

/* Reads a field of digits up to '.': canonical (no leading zero but "0"),
 * at most 19 digits and INT64_MAX. Returns the character after it, or NULL. */
static const char *read_field(const char *p, int64_t *out)
{
    int64_t v = 0;
    size_t n = 0;

    while (p[n] >= '0' && p[n] <= '9') {
        if (n == FIELD_DIGITS || v > (INT64_MAX - (p[n] - '0')) / 10)
            return NULL;
        v = v * 10 + (p[n] - '0');
        n++;
    }
    if (n == 0 || (n > 1 && p[0] == '0') || p[n] != '.')
        return NULL;
    *out = v;
    return p + n + 1;
}

/* Splits a token; mac points into it. */
static int token_split(const char *t, int *action, int64_t *id, int64_t *expires, const char **mac)
{
    size_t i;

    if (t == NULL || strlen(t) >= TB_MAIL_TOKEN_MAX || !valid_action((unsigned char)t[0]) ||
        t[1] != '.')
        return -EINVAL;
    *action = t[0];
    t = read_field(t + 2, id);
    if (t != NULL)
        t = read_field(t, expires);
    if (t == NULL || *id <= 0 || strlen(t) != MAC_B64)
        return -EINVAL;
    for (i = 0; i < MAC_B64; i++) {
        if (!is_ldh((unsigned char)t[i]) && t[i] != '_')
            return -EINVAL;
    }
    *mac = t;
    return 0;
}

int tb_mail_token_parse(const char *token, enum tb_mail_action *action, int64_t *id)
{
    const char *mac;
    int64_t expires;
    int a, rc;

    rc = token_split(token, &a, id, &expires, &mac);
    if (rc == 0)
        *action = (enum tb_mail_action)a;
    return rc;
}

int tb_mail_token_check(const unsigned char key[TB_MAIL_SECRET_LEN], const char *token,
                        enum tb_mail_action action, const char *addr, int64_t now)
{
    char want[MAC_B64 + 1];
    const char *mac;
    int64_t id, expires;
    int a, rc;

    rc = token_split(token, &a, &id, &expires, &mac);
    if (rc == 0 && a != (int)action)
        rc = -EINVAL;
    if (rc == 0)
        rc = token_mac(key, a, id, expires, addr, want);
    /* The expected MAC is compared in its canonical spelling, so a token
     * whose last character differs in unused bits does not pass either. */
    if (rc == 0 && !tb_hash_equal(want, mac, MAC_B64))
        rc = -EINVAL;
    if (rc == 0 && expires != 0 && now > expires)
        rc = -ETIMEDOUT;
    return rc;
}

/* Reads 64 hex digits and an optional newline from fd into key. */
static int secret_read(int fd, const char *path, unsigned char key[TB_MAIL_SECRET_LEN], char *err,
                       size_t errlen)
{
    char buf[SECRET_HEX + 3];
    size_t n = 0, i;
    ssize_t r;

    do {
        r = read(fd, buf + n, sizeof(buf) - n);
        if (r > 0)
            n += (size_t)r;
    } while ((r > 0 || (r < 0 && errno == EINTR)) && n < sizeof(buf));
    if (r < 0) {
        r = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror((int)-r));
        return (int)r;
    }
    if (n == SECRET_HEX + 1 && buf[SECRET_HEX] == '\n')
        n--;
    for (i = 0; i < n && i < SECRET_HEX && tb_hex_digit(buf[i]) >= 0; i++)
        ;
    if (n != SECRET_HEX || i != SECRET_HEX) {
        snprintf(err, errlen, "%s: not a secret (64 hex digits and a newline)", path);
        return -EINVAL;
    }
    for (i = 0; i < TB_MAIL_SECRET_LEN; i++)
        key[i] = (unsigned char)(tb_hex_digit(buf[2 * i]) << 4 | tb_hex_digit(buf[2 * i + 1]));
    return 0;
}

static int secret_open_read(const char *path, unsigned char key[TB_MAIL_SECRET_LEN], char *err,
                            size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    int rc;

    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    rc = secret_read(fd, path, key, err, errlen);
    close(fd);
    return rc;
}

static int fill_random(unsigned char *p, size_t n)
{
    size_t got = 0;
    ssize_t r;

    while (got < n) {
        r = getrandom(p + got, n - got, 0);
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r > 0)
            got += (size_t)r;
    }
    return 0;
}

/* Writes all of p to fd; 0 or a negative errno. */
static int write_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Syncs the directory of path, so that a new name in it survives a power
 * loss: a secret made again would void every link already mailed. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir =
        slash == NULL ? strdup(".") : strndup(path, slash == path ? 1 : (size_t)(slash - path));
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Makes the secret in a temporary file beside path (mkostemp: created
 * exclusively, mode 0600 whatever the umask), synced, then puts it in
 * place with link(2), which fails when another process made one first:
 * then that one is read, so two processes starting together end with the
 * same secret. A file system without hard links gets a rename. */
static int secret_create(const char *path, unsigned char key[TB_MAIL_SECRET_LEN], char *err,
                         size_t errlen)
{
    char hex[SECRET_HEX + 2];
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    int fd = -1, rc;

    if (tmp == NULL)
        return -ENOMEM;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".XXXXXX", 8);
    rc = fill_random(key, TB_MAIL_SECRET_LEN);
    if (rc == 0) {
        fd = mkostemp(tmp, O_CLOEXEC);
        rc = fd < 0 ? -errno : 0;
    }
    if (rc == 0 && fchmod(fd, 0600) != 0)
        rc = -errno;
    tb_hash_hex(key, TB_MAIL_SECRET_LEN, hex);
    hex[SECRET_HEX] = '\n';
    hex[SECRET_HEX + 1] = '\0';
    if (rc == 0)
        rc = write_all(fd, hex, SECRET_HEX + 1);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && link(tmp, path) != 0) {
        rc = -errno;
        if (rc == -EPERM || rc == -EOPNOTSUPP || rc == -ENOSYS)
            rc = rename(tmp, path) == 0 ? 0 : -errno;
    }
    if (fd >= 0)
        (void)unlink(tmp);
    if (rc == 0)
        sync_dir(path);
    if (rc == -EEXIST)
        rc = secret_open_read(path, key, err, errlen);
    else if (rc != 0)
        snprintf(err, errlen, "%s: cannot create the secret: %s", path, strerror(-rc));
    explicit_bzero(hex, sizeof(hex));
    free(tmp);
    return rc;
}

int tb_mail_secret_load(const char *path, int create, unsigned char key[TB_MAIL_SECRET_LEN],
                        char *err, size_t errlen)
{
    int rc;

    if (path == NULL || path[0] == '\0') {
        say(err, errlen, "no secret file");
        return -EINVAL;
    }
    rc = secret_open_read(path, key, err, errlen);
    if (rc == -ENOENT && create)
        rc = secret_create(path, key, err, errlen);
    return rc;
}
