/* Unit tests for tb_mail.h: address checks (RFC 5321 limits, header
 * injection), normalization, masking, signed tokens and the secret file. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "tb_mail.h"

/* A string of n copies of c followed by tail, in a static buffer. */
static const char *rep(char c, size_t n, const char *tail)
{
    static char buf[1024];

    memset(buf, c, n);
    snprintf(buf + n, sizeof(buf) - n, "%s", tail);
    return buf;
}

static void test_addr_valid(void)
{
    static const char *const ok[] = {
        "a@b.co",           "first.last+tag@sub.example.org", "x!#$%&'*+-/=?^_`{|}~@example.org",
        "Pat@Example.ORG",  "a@xn--bcher-kva.example",        "a@1example.org",
        "a@ex-ample.co.uk",
    };
    char err[128];
    char big[300];
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        err[0] = '\0';
        CHECK_OK(tb_mail_addr_check(ok[i], err, sizeof(err)));
        if (err[0] != '\0')
            fprintf(stderr, "%s: %s\n", ok[i], err);
    }
    /* Local part of exactly 64, label of exactly 63, total of exactly 254. */
    CHECK_OK(tb_mail_addr_check(rep('l', 64, "@example.org"), err, sizeof(err)));
    snprintf(big, sizeof(big), "a@%s.org", rep('d', 63, ""));
    CHECK_OK(tb_mail_addr_check(big, err, sizeof(err)));
    /* 64 + 1 + 63 + 1 + 63 + 1 + 57 + 4 = 254 */
    snprintf(big, sizeof(big), "%s@", rep('l', 64, ""));
    snprintf(big + strlen(big), sizeof(big) - strlen(big), "%s.", rep('a', 63, ""));
    snprintf(big + strlen(big), sizeof(big) - strlen(big), "%s.", rep('b', 63, ""));
    snprintf(big + strlen(big), sizeof(big) - strlen(big), "%s.org", rep('c', 57, ""));
    CHECK_EQ(strlen(big), 254);
    CHECK_OK(tb_mail_addr_check(big, err, sizeof(err)));
    /* One more octet in the last label: 255, refused. */
    snprintf(big + strlen(big) - 4, 6, "c.org");
    CHECK_EQ(strlen(big), 255);
    CHECK_EQ(tb_mail_addr_check(big, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "254") != NULL);
}

static void test_addr_invalid(void)
{
    static const char *const bad[] = {
        "",
        "noat",
        "@example.org",
        "a@",
        "a@localhost",
        "a@[127.0.0.1]",
        "a@[IPv6:::1]",
        "a@1.2.3.4",
        "\"a b\"@example.org",
        "\"a\"@example.org",
        "a\r\nBcc: victim@example.net\r\n@example.org",
        "a@example.org\r\nBcc: victim@example.net",
        "a@example.org\nBcc: victim@example.net",
        "a@example.org\r",
        "a\n@example.org",
        "a b@example.org",
        " a@example.org",
        "a@example.org ",
        "a\t@example.org",
        "a\x7f@example.org",
        "a\x01@example.org",
        "\xc3\xa9@example.org",
        "a@ex\xc3\xa4mple.org",
        "a@example.org\xe2\x80\xae",
        "a..b@example.org",
        ".a@example.org",
        "a.@example.org",
        "a@-ex.org",
        "a@ex-.org",
        "a@ex..org",
        "a@.example.org",
        "a@example.org.",
        "a@ex_ample.org",
        "a@b@example.org",
        "a(comment)@example.org",
        "a<b>@example.org",
        "a,b@example.org",
        "a;b@example.org",
        "a:b@example.org",
        "a\\b@example.org",
        "<a@example.org>",
    };
    char err[128];
    char big[400];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (tb_mail_addr_check(bad[i], err, sizeof(err)) != -EINVAL)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK_EQ(tb_mail_addr_check(bad[i], err, sizeof(err)), -EINVAL);
        CHECK(err[0] != '\0');
    }
    CHECK_EQ(tb_mail_addr_check(NULL, err, sizeof(err)), -EINVAL);
    CHECK_EQ(tb_mail_addr_check("\"ab\"@example.org", err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "quoted") != NULL);
    CHECK_EQ(tb_mail_addr_check("a@[127.0.0.1]", err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "IP") != NULL);
    CHECK_EQ(tb_mail_addr_check("a@example.org\r\nBcc: v@example.net", err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "control") != NULL);
    /* Too long: local part of 65, label of 64, whole of 255+. */
    CHECK_EQ(tb_mail_addr_check(rep('l', 65, "@example.org"), err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "64") != NULL);
    snprintf(big, sizeof(big), "a@%s.org", rep('d', 64, ""));
    CHECK_EQ(tb_mail_addr_check(big, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "63") != NULL);
    snprintf(big, sizeof(big), "a@%s.org", rep('d', 300, ""));
    CHECK_EQ(tb_mail_addr_check(big, err, sizeof(err)), -EINVAL);
    /* No err buffer: still refused. */
    CHECK_EQ(tb_mail_addr_check("a\r\n@example.org", NULL, 0), -EINVAL);
}

static void test_addr_norm(void)
{
    char out[TB_MAIL_ADDR_MAX + 1];
    char small[8];

    CHECK_OK(tb_mail_addr_norm("Pat.Smith@Example.ORG", out, sizeof(out)));
    CHECK_STR(out, "Pat.Smith@example.org");
    CHECK_OK(tb_mail_addr_norm("a@b.co", out, sizeof(out)));
    CHECK_STR(out, "a@b.co");
    CHECK_EQ(tb_mail_addr_norm("a@b.co", small, 6), -ENOSPC);
    CHECK_OK(tb_mail_addr_norm("a@b.co", small, 7));
    CHECK_STR(small, "a@b.co");
    CHECK_EQ(tb_mail_addr_norm("A@B", out, sizeof(out)), -EINVAL);
    CHECK_EQ(tb_mail_addr_norm("a@example.org\r\nX: y", out, sizeof(out)), -EINVAL);
    CHECK_EQ(tb_mail_addr_norm(NULL, out, sizeof(out)), -EINVAL);
}

static void test_addr_mask(void)
{
    char out[64];

    tb_mail_addr_mask("pat@example.org", out, sizeof(out));
    CHECK_STR(out, "p***@example.org");
    tb_mail_addr_mask("Pat.Smith+x@Example.org", out, sizeof(out));
    CHECK_STR(out, "P***@Example.org");
    CHECK(strstr(out, "Smith") == NULL);
    tb_mail_addr_mask("nobody", out, sizeof(out));
    CHECK_STR(out, "***");
    tb_mail_addr_mask(NULL, out, sizeof(out));
    CHECK_STR(out, "***");
    tb_mail_addr_mask("@example.org", out, sizeof(out));
    CHECK_STR(out, "?***@example.org");
    tb_mail_addr_mask("\nx@ex\r\nample.org", out, sizeof(out));
    CHECK_STR(out, "?***@ex??ample.org");
    tb_mail_addr_mask("pat@example.org", out, 8);
    CHECK_STR(out, "p***@ex");
    tb_mail_addr_mask("pat@example.org", out, 3);
    CHECK_STR(out, "p*");
    out[0] = 'z';
    tb_mail_addr_mask("pat@example.org", out, 0);
    CHECK_EQ(out[0], 'z');
}

static const unsigned char key[TB_MAIL_SECRET_LEN] = "0123456789abcdef0123456789abcdef";
static const unsigned char key2[TB_MAIL_SECRET_LEN] = "0123456789abcdef0123456789abcdeF";

static void test_token_roundtrip(void)
{
    char t[TB_MAIL_TOKEN_MAX];
    enum tb_mail_action a;
    int64_t id;

    CHECK_OK(tb_mail_token_make(key, TB_MAIL_CONFIRM, 42, "pat@example.org", 1000 + 172800, t,
                                sizeof(t)));
    CHECK(strncmp(t, "c.42.173800.", 12) == 0);
    CHECK_EQ(strlen(t), 12 + 43);
    CHECK_OK(tb_mail_token_parse(t, &a, &id));
    CHECK_EQ(a, TB_MAIL_CONFIRM);
    CHECK_EQ(id, 42);
    CHECK_OK(tb_mail_token_check(key, t, TB_MAIL_CONFIRM, "pat@example.org", 1000));
    /* Valid up to and including its expiry second. */
    CHECK_OK(tb_mail_token_check(key, t, TB_MAIL_CONFIRM, "pat@example.org", 173800));
    /* The domain's case does not matter, the local part's does. */
    CHECK_OK(tb_mail_token_check(key, t, TB_MAIL_CONFIRM, "pat@EXAMPLE.org", 1000));
    CHECK_EQ(tb_mail_token_check(key, t, TB_MAIL_CONFIRM, "Pat@example.org", 1000), -EINVAL);
    /* Deterministic. */
    {
        char t2[TB_MAIL_TOKEN_MAX];

        CHECK_OK(tb_mail_token_make(key, TB_MAIL_CONFIRM, 42, "pat@Example.org", 173800, t2,
                                    sizeof(t2)));
        CHECK_STR(t2, t);
    }
    /* Never expiring, and the largest id. */
    CHECK_OK(tb_mail_token_make(key, TB_MAIL_UNSUBSCRIBE, INT64_MAX, "pat@example.org", 0, t,
                                sizeof(t)));
    CHECK(strlen(t) < TB_MAIL_TOKEN_MAX);
    CHECK_OK(tb_mail_token_parse(t, &a, &id));
    CHECK_EQ(a, TB_MAIL_UNSUBSCRIBE);
    CHECK(id == INT64_MAX);
    CHECK_OK(tb_mail_token_check(key, t, TB_MAIL_UNSUBSCRIBE, "pat@example.org", INT64_MAX));
    CHECK_OK(
        tb_mail_token_make(key, TB_MAIL_MANAGE, 7, "pat@example.org", INT64_MAX, t, sizeof(t)));
    CHECK_OK(tb_mail_token_check(key, t, TB_MAIL_MANAGE, "pat@example.org", 0));
}

static void test_token_refused(void)
{
    char t[TB_MAIL_TOKEN_MAX], bad[TB_MAIL_TOKEN_MAX + 8];
    const char *addr = "pat@example.org";
    size_t n;

    CHECK_OK(tb_mail_token_make(key, TB_MAIL_CONFIRM, 42, addr, 5000, t, sizeof(t)));
    n = strlen(t);
    /* Tampered MAC: each position. */
    for (size_t i = n - 43; i < n; i++) {
        snprintf(bad, sizeof(bad), "%s", t);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        CHECK_EQ(tb_mail_token_check(key, bad, TB_MAIL_CONFIRM, addr, 1000), -EINVAL);
    }
    /* Another id or expiry with the same MAC. */
    snprintf(bad, sizeof(bad), "c.43.5000.%s", t + n - 43);
    CHECK_EQ(tb_mail_token_check(key, bad, TB_MAIL_CONFIRM, addr, 1000), -EINVAL);
    snprintf(bad, sizeof(bad), "c.42.9000.%s", t + n - 43);
    CHECK_EQ(tb_mail_token_check(key, bad, TB_MAIL_CONFIRM, addr, 1000), -EINVAL);
    snprintf(bad, sizeof(bad), "c.42.0.%s", t + n - 43);
    CHECK_EQ(tb_mail_token_check(key, bad, TB_MAIL_CONFIRM, addr, 1000), -EINVAL);
    /* Another action, in the token or asked. */
    snprintf(bad, sizeof(bad), "u%s", t + 1);
    CHECK_EQ(tb_mail_token_check(key, bad, TB_MAIL_UNSUBSCRIBE, addr, 1000), -EINVAL);
    CHECK_EQ(tb_mail_token_check(key, t, TB_MAIL_UNSUBSCRIBE, addr, 1000), -EINVAL);
    CHECK_EQ(tb_mail_token_check(key, t, TB_MAIL_MANAGE, addr, 1000), -EINVAL);
    /* Another address, another key. */
    CHECK_EQ(tb_mail_token_check(key, t, TB_MAIL_CONFIRM, "pat@example.net", 1000), -EINVAL);
    CHECK_EQ(tb_mail_token_check(key, t, TB_MAIL_CONFIRM, "not an address", 1000), -EINVAL);
    CHECK_EQ(tb_mail_token_check(key2, t, TB_MAIL_CONFIRM, addr, 1000), -EINVAL);
    /* Expired; a tampered expired one is refused as tampered. */
    CHECK_EQ(tb_mail_token_check(key, t, TB_MAIL_CONFIRM, addr, 5001), -ETIMEDOUT);
    snprintf(bad, sizeof(bad), "%s", t);
    bad[n - 1] = bad[n - 1] == 'A' ? 'B' : 'A';
    CHECK_EQ(tb_mail_token_check(key, bad, TB_MAIL_CONFIRM, addr, 5001), -EINVAL);
    /* Same MAC bytes spelled with other unused low bits in the last character. */
    {
        static const char abc[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        size_t v = (size_t)(strchr(abc, t[n - 1]) - abc);

        CHECK_EQ(v & 3, 0);
        snprintf(bad, sizeof(bad), "%s", t);
        bad[n - 1] = abc[v | 1];
    }
    CHECK_EQ(tb_mail_token_check(key, bad, TB_MAIL_CONFIRM, addr, 1000), -EINVAL);
}

static void test_token_malformed(void)
{
    const char *mac = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; /* 43 */
    char t[256];
    enum tb_mail_action a;
    int64_t id;
    const char *const bad[] = {
        "",
        "c",
        "c.",
        "c.1",
        "c.1.0",
        "c.1.0.",
        "x.1.0.%s",
        "C.1.0.%s",
        "c.0.0.%s",
        "c.01.0.%s",
        "c.1.00.%s",
        "c.-1.0.%s",
        "c.+1.0.%s",
        "c. 1.0.%s",
        "c.1.-5.%s",
        "c..0.%s",
        "c.1..%s",
        "c.9223372036854775808.0.%s",
        "c.1.99999999999999999999.%s",
        "c.1.0.%s=",
        "c.1.0.%sA",
        "c.1.0.%s.",
        "c.1.0.%s\n",
        "cc.1.0.%s",
        ".c.1.0.%s",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(t, sizeof(t), bad[i], mac);
        if (tb_mail_token_parse(t, &a, &id) != -EINVAL)
            fprintf(stderr, "parsed: %s\n", t);
        CHECK_EQ(tb_mail_token_parse(t, &a, &id), -EINVAL);
        CHECK_EQ(tb_mail_token_check(key, t, TB_MAIL_CONFIRM, "pat@example.org", 0), -EINVAL);
    }
    /* Characters outside base64url in the MAC, and a MAC one short. */
    snprintf(t, sizeof(t), "c.1.0.%.42s+", mac);
    CHECK_EQ(tb_mail_token_parse(t, &a, &id), -EINVAL);
    snprintf(t, sizeof(t), "c.1.0.%.42s/", mac);
    CHECK_EQ(tb_mail_token_parse(t, &a, &id), -EINVAL);
    snprintf(t, sizeof(t), "c.1.0.%.42s", mac);
    CHECK_EQ(tb_mail_token_parse(t, &a, &id), -EINVAL);
    snprintf(t, sizeof(t), "c.1.0.%s", mac);
    CHECK_OK(tb_mail_token_parse(t, &a, &id));
    CHECK_EQ(tb_mail_token_parse(NULL, &a, &id), -EINVAL);
    /* Too long as a whole. */
    snprintf(t, sizeof(t), "c.1.%s.%s", rep('1', 60, ""), mac);
    CHECK_EQ(tb_mail_token_parse(t, &a, &id), -EINVAL);
    /* Making refuses what could not be checked. */
    CHECK_EQ(tb_mail_token_make(key, TB_MAIL_CONFIRM, 0, "pat@example.org", 0, t, sizeof(t)),
             -EINVAL);
    CHECK_EQ(tb_mail_token_make(key, TB_MAIL_CONFIRM, 1, "pat@example.org", -1, t, sizeof(t)),
             -EINVAL);
    CHECK_EQ(
        tb_mail_token_make(key, (enum tb_mail_action)'x', 1, "pat@example.org", 0, t, sizeof(t)),
        -EINVAL);
    CHECK_EQ(tb_mail_token_make(key, TB_MAIL_CONFIRM, 1, "pat@example.org\r\n", 0, t, sizeof(t)),
             -EINVAL);
    CHECK_EQ(tb_mail_token_make(key, TB_MAIL_CONFIRM, 1, "pat@example.org", 0, t, 20), -EINVAL);
}

/* Whether dir holds exactly one entry besides . and .. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    while (d != NULL && (e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d != NULL)
        closedir(d);
    return n;
}

static void write_file(const char *path, const char *s)
{
    FILE *fp = fopen(path, "w");

    if (fp != NULL) {
        fputs(s, fp);
        fclose(fp);
    }
}

static void test_secret(void)
{
    char dir[] = "/tmp/tb_mail_XXXXXX";
    char path[256], other[256], err[512];
    unsigned char k1[TB_MAIL_SECRET_LEN], k2[TB_MAIL_SECRET_LEN], k3[TB_MAIL_SECRET_LEN];
    struct stat sb;
    char buf[128];
    FILE *fp;
    size_t n;
    mode_t old;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/db.secret", dir);
    CHECK_EQ(tb_mail_secret_load(path, 0, k1, err, sizeof(err)), -ENOENT);
    CHECK_EQ(entries(dir), 0);
    /* Created with mode 0600 even under a umask that would leave it unreadable. */
    old = umask(0777);
    CHECK_OK(tb_mail_secret_load(path, 1, k1, err, sizeof(err)));
    umask(old);
    CHECK_OK(stat(path, &sb));
    CHECK_EQ(sb.st_mode & 07777, 0600);
    CHECK_EQ(entries(dir), 1); /* no temporary file left */
    fp = fopen(path, "r");
    n = fp ? fread(buf, 1, sizeof(buf), fp) : 0;
    if (fp)
        fclose(fp);
    CHECK_EQ(n, 65);
    CHECK_EQ(buf[64], '\n');
    /* Read back, created or not. */
    CHECK_OK(tb_mail_secret_load(path, 0, k2, err, sizeof(err)));
    CHECK(memcmp(k1, k2, sizeof(k1)) == 0);
    CHECK_OK(tb_mail_secret_load(path, 1, k2, err, sizeof(err)));
    CHECK(memcmp(k1, k2, sizeof(k1)) == 0);
    /* Another file: another secret. */
    snprintf(other, sizeof(other), "%s/other.secret", dir);
    CHECK_OK(tb_mail_secret_load(other, 1, k3, err, sizeof(err)));
    CHECK(memcmp(k1, k3, sizeof(k1)) != 0);
    /* A file written by hand: upper-case digits, no newline. */
    write_file(other, "000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f");
    CHECK_OK(tb_mail_secret_load(other, 0, k3, err, sizeof(err)));
    CHECK_EQ(k3[0], 0);
    CHECK_EQ(k3[10], 10);
    CHECK_EQ(k3[31], 31);
    /* Bad files: never replaced by a new secret. */
    write_file(other, "not a secret\n");
    CHECK_EQ(tb_mail_secret_load(other, 1, k3, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, other) != NULL);
    write_file(other, "");
    CHECK_EQ(tb_mail_secret_load(other, 1, k3, err, sizeof(err)), -EINVAL);
    write_file(other, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1\n");
    CHECK_EQ(tb_mail_secret_load(other, 1, k3, err, sizeof(err)), -EINVAL);
    write_file(other, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0\n");
    CHECK_EQ(tb_mail_secret_load(other, 1, k3, err, sizeof(err)), -EINVAL);
    write_file(other, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n");
    CHECK_EQ(tb_mail_secret_load(other, 1, k3, err, sizeof(err)), -EINVAL);
    write_file(other, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n");
    CHECK_EQ(tb_mail_secret_load(other, 1, k3, err, sizeof(err)), -EINVAL);
    CHECK_OK(stat(other, &sb));
    CHECK_EQ(sb.st_size, 65);
    /* A directory, a missing directory, no path. */
    CHECK(tb_mail_secret_load(dir, 1, k3, err, sizeof(err)) < 0);
    snprintf(other, sizeof(other), "%s/missing/x.secret", dir);
    CHECK_EQ(tb_mail_secret_load(other, 1, k3, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, other) != NULL);
    CHECK_EQ(tb_mail_secret_load("", 1, k3, err, sizeof(err)), -EINVAL);
    CHECK_EQ(tb_mail_secret_load(NULL, 1, k3, err, sizeof(err)), -EINVAL);

    snprintf(other, sizeof(other), "%s/other.secret", dir);
    unlink(other);
    unlink(path);
    CHECK_OK(rmdir(dir));
}

/* Processes starting together (the daemon and a `digest` command) end
 * with one secret: whoever puts the file in place first wins and the
 * others read it, rather than each renaming its own over the last. */
static void test_secret_race(void)
{
    enum { N = 8 };
    char dir[] = "/tmp/tb_mail_race_XXXXXX";
    char path[256], err[256], hex[N][2 * TB_MAIL_SECRET_LEN + 1];
    int go[2], out[2], i, status, round;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/s", dir);
    for (round = 0; round < 20; round++) {
        CHECK_OK(pipe(go));
        CHECK_OK(pipe(out));
        for (i = 0; i < N; i++) {
            if (fork() == 0) {
                unsigned char k[TB_MAIL_SECRET_LEN];
                char c, line[2 * TB_MAIL_SECRET_LEN + 1];
                size_t j;

                close(go[1]);
                if (read(go[0], &c, 1) < 0)
                    _exit(2);
                if (tb_mail_secret_load(path, 1, k, err, sizeof(err)) != 0)
                    _exit(1);
                for (j = 0; j < sizeof(k); j++)
                    snprintf(line + 2 * j, 3, "%02x", k[j]);
                if (write(out[1], line, 2 * TB_MAIL_SECRET_LEN) < 0)
                    _exit(2);
                _exit(0);
            }
        }
        close(go[0]);
        close(go[1]); /* every child's read returns at once */
        close(out[1]);
        for (i = 0; i < N; i++) {
            hex[i][2 * TB_MAIL_SECRET_LEN] = '\0';
            CHECK_EQ(read(out[0], hex[i], 2 * TB_MAIL_SECRET_LEN), 2 * TB_MAIL_SECRET_LEN);
            CHECK_STR(hex[i], hex[0]);
        }
        close(out[0]);
        for (i = 0; i < N; i++) {
            CHECK(wait(&status) > 0);
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        CHECK_EQ(entries(dir), 1);
        unlink(path);
    }
    CHECK_OK(rmdir(dir));
}

int main(void)
{
    test_addr_valid();
    test_addr_invalid();
    test_addr_norm();
    test_addr_mask();
    test_token_roundtrip();
    test_token_refused();
    test_token_malformed();
    test_secret();
    test_secret_race();
    CHECK_DONE();
}
