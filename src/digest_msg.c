/*
 * How the digests and confirmation requests are written as mail: header
 * fields (RFC 5322, folded; RFC 2047 encoded-words only for text that is
 * not ASCII), one multipart/alternative body (RFC 2046) with a text/plain
 * part first and a text/html part, both UTF-8 and quoted-printable (RFC
 * 2045 6.7), so no line passes 76 characters and any 8-bit path carries
 * them. Nothing from a feed or the config reaches a header as more than
 * text: control characters become spaces, so a title cannot add a field.
 * What a digest says is in digest_body.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tb_date.h"
#include "tb_hash.h"
#include "tb_utf8.h"

#include "digest_int.h"

/* RFC 5322 2.1.1: lines SHOULD stay within 78 characters. */
#define FOLD_AT 78
/* RFC 2047 2: an encoded-word is at most 75 characters. */
#define WORD_MAX 75

static const char hex[] = "0123456789ABCDEF";

/* ------------------------------------------------- quoted-printable */

/* Whether byte c of a line stands for itself in quoted-printable: printable
 * ASCII but '=', a space or tab not at the line's end, and not a '.' or the
 * 'F' of "From " opening a line (a dot line ends an SMTP message; "From "
 * is mangled by mbox). */
static int qp_literal(const char *line, size_t n, size_t i, size_t col)
{
    unsigned char c = (unsigned char)line[i];

    if (c == ' ' || c == '\t')
        return i + 1 < n;
    if (c < 33 || c > 126 || c == '=')
        return 0;
    if (col == 0 && c == '.')
        return 0;
    if (col == 0 && c == 'F' && n - i >= 5 && memcmp(line + i, "From ", 5) == 0)
        return 0;
    return 1;
}

/* Writes byte i of a line into tok as quoted-printable at column col; returns its length. */
static size_t qp_token(const char *line, size_t n, size_t i, size_t col, char tok[3])
{
    if (qp_literal(line, n, i, col)) {
        tok[0] = line[i];
        return 1;
    }
    tok[0] = '=';
    tok[1] = hex[(unsigned char)line[i] >> 4];
    tok[2] = hex[(unsigned char)line[i] & 15];
    return 3;
}

/* One line (no line end) quoted-printable, soft breaks keeping every line
 * within 76 characters counting the '=' of a soft break. */
static int qp_line(struct tb_buf *b, const char *line, size_t n)
{
    char tok[3];
    size_t i, col = 0, len;
    int rc = 0;

    for (i = 0; rc == 0 && i < n; i++) {
        len = qp_token(line, n, i, col, tok);
        if (col + len > 75) {
            rc = tb_buf_add(b, "=\r\n", 3);
            col = 0;
            len = qp_token(line, n, i, col, tok); /* a '.' may now open the line */
        }
        rc = rc ? rc : tb_buf_add(b, tok, len);
        col += len;
    }
    return rc ? rc : tb_buf_add(b, "\r\n", 2);
}

int tb__mail_qp(struct tb_buf *b, const char *s, size_t n)
{
    const char *end = s + n, *nl;
    size_t len;
    int rc = 0;

    while (rc == 0 && s < end) {
        nl = memchr(s, '\n', (size_t)(end - s));
        len = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);
        rc = qp_line(b, s, len > 0 && s[len - 1] == '\r' ? len - 1 : len);
        s += len + (nl != NULL);
    }
    return rc;
}

/* ------------------------------------------------------ header fields */

/* A header's text as it may be written: well-formed UTF-8 with every
 * control character (CR and LF among them) a space. */
static int header_text(struct tb_buf *out, const char *s)
{
    size_t i;
    int rc;

    rc = tb_utf8_clean(out, s, strlen(s), TB_UTF8_FFFD);
    for (i = 0; rc == 0 && i < out->len; i++) {
        if ((unsigned char)out->data[i] < 0x20 || out->data[i] == 0x7f)
            out->data[i] = ' ';
    }
    return rc;
}

/* Whether s can be written as it is: ASCII, no "=?" that a reader would
 * take for an encoded-word, no word too long to fold. */
static int plain_ascii(const char *s)
{
    size_t word = 0;

    for (; *s; s++) {
        if ((unsigned char)*s >= 0x80 || (s[0] == '=' && s[1] == '?'))
            return 0;
        word = *s == ' ' ? 0 : word + 1;
        if (word > FOLD_AT - 12)
            return 0;
    }
    return 1;
}

/* Appends ASCII s folded at spaces; *col is the current line's length. */
static int fold_ascii(struct tb_buf *b, const char *s, size_t *col)
{
    const char *sp;
    size_t len;
    int rc = 0;

    while (rc == 0 && *s) {
        sp = strchr(s + 1, ' ');
        len = sp != NULL ? (size_t)(sp - s) : strlen(s);
        if (*s == ' ' && *col + len > FOLD_AT) {
            rc = tb_buf_add(b, "\r\n", 2);
            *col = 0;
        }
        rc = rc ? rc : tb_buf_add(b, s, len);
        *col += len;
        s += len;
    }
    return rc;
}

/* Appends the Q encoding of one character (clen bytes at s) to tok; returns its length. */
static size_t q_token(const char *s, size_t clen, char tok[16])
{
    size_t k, tlen = 0;
    unsigned char c;

    for (k = 0; k < clen; k++) {
        c = (unsigned char)s[k];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            (c != '\0' && strchr("!*+-/", c) != NULL))
            tok[tlen++] = (char)c;
        else if (c == ' ')
            tok[tlen++] = '_';
        else {
            tok[tlen++] = '=';
            tok[tlen++] = hex[c >> 4];
            tok[tlen++] = hex[c & 15];
        }
    }
    return tlen;
}

/* Appends s as RFC 2047 Q encoded-words of whole UTF-8 characters, each
 * within WORD_MAX and on a line of at most 76 characters (RFC 2047 2), one
 * word a line after the first. Only letters, digits and "!*+-/" stand for
 * themselves: what a phrase allows too. *col is the current line's length. */
static int encoded_words(struct tb_buf *b, const char *s, size_t *col)
{
    static const char open[] = "=?UTF-8?Q?";
    char tok[16];
    size_t n = strlen(s), i = 0, clen, tlen, word = 0, room = 0;
    int rc = 0;

    while (rc == 0 && i < n) {
        clen = tb_utf8_len(s + i, n - i);
        clen = clen ? clen : 1;
        tlen = q_token(s + i, clen, tok);
        if (word > 0 && word + tlen + 2 > room) {
            rc = tb_buf_adds(b, "?=\r\n");
            word = 0;
            *col = 0;
        }
        if (rc == 0 && word == 0) {
            if (*col == 0) {
                rc = tb_buf_adds(b, " ");
                *col = 1;
            }
            room = 76 - *col < WORD_MAX ? 76 - *col : WORD_MAX;
            rc = rc ? rc : tb_buf_adds(b, open);
            word = sizeof(open) - 1;
        }
        rc = rc ? rc : tb_buf_add(b, tok, tlen);
        word += tlen;
        i += clen;
    }
    if (rc == 0 && word > 0) {
        rc = tb_buf_adds(b, "?=");
        *col += word + 2;
    }
    return rc;
}

/* Appends "Name: value\r\n" for unstructured text (Subject). */
static int header_unstructured(struct tb_buf *b, const char *name, const char *value)
{
    struct tb_buf t;
    size_t col = strlen(name) + 1;
    int rc;

    tb_buf_init(&t, 4096);
    rc = header_text(&t, value);
    rc = rc ? rc : tb_buf_addf(b, "%s:", name);
    if (rc == 0 && t.len > 0 && plain_ascii(t.data)) {
        rc = tb_buf_adds(b, " ");
        col++;
        rc = rc ? rc : fold_ascii(b, t.data, &col);
    } else if (rc == 0 && t.len > 0) {
        rc = tb_buf_adds(b, " ");
        col++;
        rc = rc ? rc : encoded_words(b, t.data, &col);
    }
    tb_buf_free(&t);
    return rc ? rc : tb_buf_adds(b, "\r\n");
}

/* Whether s is atoms and spaces only (RFC 5322 3.2.3 atext): a phrase as it is. */
static int atoms(const char *s)
{
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              (*s != '\0' && strchr(" !#$%&'*+-/=?^_`{|}~", *s) != NULL)))
            return 0;
    }
    return 1;
}

/* Appends a display name: atoms as they are, other ASCII as a quoted
 * string, anything else as encoded-words. */
static int phrase(struct tb_buf *b, const char *s, size_t *col)
{
    struct tb_buf t;
    size_t i;
    int rc;

    tb_buf_init(&t, 4096);
    rc = header_text(&t, s);
    if (rc == 0 && t.len > 0 && plain_ascii(t.data) && atoms(t.data))
        rc = fold_ascii(b, t.data, col);
    else if (rc == 0 && t.len > 0 && plain_ascii(t.data)) {
        rc = tb_buf_adds(b, "\"");
        for (i = 0; rc == 0 && i < t.len; i++) {
            if (t.data[i] == '"' || t.data[i] == '\\')
                rc = tb_buf_adds(b, "\\");
            rc = rc ? rc : tb_buf_add(b, t.data + i, 1);
        }
        rc = rc ? rc : tb_buf_adds(b, "\"");
        *col += t.len + 2;
    } else if (rc == 0 && t.len > 0)
        rc = encoded_words(b, t.data, col);
    tb_buf_free(&t);
    return rc;
}

/* The display name of [mail] from ("Name <addr>" or "addr"), quotes
 * removed, into out; empty when there is none. */
static void from_name(const char *from, char *out, size_t len)
{
    const char *lt = strchr(from, '<');
    size_t n = lt != NULL ? (size_t)(lt - from) : 0;

    while (n > 0 && (from[n - 1] == ' ' || from[n - 1] == '\t'))
        n--;
    while (n > 0 && (*from == ' ' || *from == '\t')) {
        from++;
        n--;
    }
    if (n >= 2 && from[0] == '"' && from[n - 1] == '"') {
        from++;
        n -= 2;
    }
    snprintf(out, len, "%.*s", (int)n, from);
}

/* The domain of [mail] from's address: the right side of Message-IDs and List-Id. */
static const char *domain_of(const struct tb_config *cfg)
{
    const char *a = cfg->mail.from_addr != NULL ? cfg->mail.from_addr : "";
    const char *at = strrchr(a, '@');

    return at != NULL && at[1] != '\0' ? at + 1 : "localhost";
}

void tb__digest_message_id(const struct tb_config *cfg, const char *kind, int64_t id, int64_t t,
                           char *out, size_t len)
{
    snprintf(out, len, "<tributary.%s.%lld.%lld@%s>", kind, (long long)id, (long long)t,
             domain_of(cfg));
}

/* From, with its display name written safely. */
static int header_from(struct tb_buf *b, const struct tb_config *cfg)
{
    char name[512];
    size_t col = 6;
    int rc;

    from_name(cfg->mail.from != NULL ? cfg->mail.from : "", name, sizeof(name));
    rc = tb_buf_adds(b, "From: ");
    if (rc == 0 && name[0] != '\0') {
        rc = phrase(b, name, &col);
        rc = rc ? rc : tb_buf_adds(b, col + strlen(cfg->mail.from_addr) + 3 > 76 ? "\r\n " : " ");
    }
    return rc ? rc : tb_buf_addf(b, "<%s>\r\n", cfg->mail.from_addr);
}

/* List-Id (RFC 2919): the site's title and a label under the sender's domain. */
static int header_list_id(struct tb_buf *b, const struct tb_config *cfg)
{
    char name[600];
    size_t col = 9;
    int rc;

    snprintf(name, sizeof(name), "%s digest", cfg->title != NULL ? cfg->title : "tributary");
    rc = tb_buf_adds(b, "List-Id: ");
    rc = rc ? rc : phrase(b, name, &col);
    return rc ? rc : tb_buf_addf(b, " <tributary-digest.%s>\r\n", domain_of(cfg));
}

/* A URL in angle brackets may not be folded: it must be printable ASCII. */
static int url_ok(const char *u)
{
    for (; *u; u++) {
        if ((unsigned char)*u <= 0x20 || (unsigned char)*u >= 0x7f || *u == '<' || *u == '>')
            return 0;
    }
    return 1;
}

static int headers(const struct tb__mail_head *h, const char *boundary, struct tb_buf *b)
{
    char date[40];
    int rc;

    if (h->cfg->mail.from_addr == NULL || tb_date_format_rfc822(h->date, date, sizeof(date)) != 0 ||
        (h->unsubscribe != NULL && (!url_ok(h->unsubscribe) || strlen(h->unsubscribe) > 900)))
        return -EINVAL;
    rc = header_from(b, h->cfg);
    rc = rc ? rc : tb_buf_addf(b, "To: %s\r\n", h->rcpt);
    rc = rc ? rc : header_unstructured(b, "Subject", h->subject);
    rc = rc ? rc : tb_buf_addf(b, "Date: %s\r\n", date);
    rc = rc ? rc : tb_buf_addf(b, "Message-ID: %s\r\n", h->message_id);
    if (rc == 0 && h->unsubscribe != NULL) {
        rc = header_list_id(b, h->cfg);
        rc = rc ? rc : tb_buf_addf(b, "List-Unsubscribe: <%s>\r\n", h->unsubscribe);
        rc = rc ? rc : tb_buf_adds(b, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
    }
    rc = rc ? rc : tb_buf_adds(b, "Auto-Submitted: auto-generated\r\n");
    rc = rc ? rc : tb_buf_adds(b, "MIME-Version: 1.0\r\n");
    return rc ? rc
              : tb_buf_addf(b, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n",
                            boundary);
}

static int part(struct tb_buf *b, const char *boundary, const char *type, const struct tb_buf *body)
{
    int rc = tb_buf_addf(b, "--%s\r\nContent-Type: %s; charset=utf-8\r\n", boundary, type);

    rc = rc ? rc : tb_buf_adds(b, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
    return rc ? rc : tb__mail_qp(b, body->data ? body->data : "", body->len);
}

int tb__mail_message(const struct tb__mail_head *h, const struct tb_buf *text,
                     const struct tb_buf *html, struct tb_buf *out)
{
    char boundary[40];
    int rc;

    /* "=_" never occurs in quoted-printable text, so no body holds the
     * boundary; the hash only makes it look like no other message's. */
    snprintf(boundary, sizeof(boundary), "=_tb_%016llx",
             (unsigned long long)tb_fnv1a(h->message_id, strlen(h->message_id)));
    rc = headers(h, boundary, out);
    rc = rc ? rc : tb_buf_adds(out, "This is a multi-part message in MIME format.\r\n\r\n");
    rc = rc ? rc : part(out, boundary, "text/plain", text);
    rc = rc ? rc : part(out, boundary, "text/html", html);
    return rc ? rc : tb_buf_addf(out, "--%s--\r\n", boundary);
}
