/*
 * tb_form (tb_form.h): form-encoded text decoded into one buffer. Decoding
 * never lengthens a field, so the buffer holds the text plus a NUL after
 * each name and value.
 */
#include "tb_form.h"
#include "tb_hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Decodes s[0..n) into out and NUL-terminates it; returns the end, or NULL
 * for a bad escape or a NUL byte (it would cut the text). */
static char *decode(const char *s, size_t n, char *out)
{
    size_t i;
    int c;

    for (i = 0; i < n; i++) {
        c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n || tb_hex_digit((unsigned char)s[i + 1]) < 0 ||
                tb_hex_digit((unsigned char)s[i + 2]) < 0)
                return NULL;
            c = tb_hex_digit((unsigned char)s[i + 1]) * 16 + tb_hex_digit((unsigned char)s[i + 2]);
            i += 2;
        }
        if (c == 0)
            return NULL;
        *out++ = (char)c;
    }
    *out++ = '\0';
    return out;
}

int tb_form_parse(struct tb_form *f, const char *s, size_t len)
{
    const char *p = s, *end = s + len, *stop, *eq;
    char *out;

    memset(f, 0, sizeof(*f));
    f->buf = malloc(len + 2 * TB_FORM_FIELDS + 2);
    if (f->buf == NULL)
        return -ENOMEM;
    out = f->buf;
    for (; p < end; p = stop + 1) {
        stop = memchr(p, '&', (size_t)(end - p));
        stop = stop != NULL ? stop : end;
        if (stop == p)
            continue;
        if (f->n == TB_FORM_FIELDS)
            return -EINVAL;
        eq = memchr(p, '=', (size_t)(stop - p));
        f->name[f->n] = out;
        out = decode(p, (size_t)((eq != NULL ? eq : stop) - p), out);
        f->value[f->n] = out;
        if (out != NULL)
            out = eq != NULL ? decode(eq + 1, (size_t)(stop - eq - 1), out) : decode("", 0, out);
        if (out == NULL)
            return -EINVAL;
        f->n++;
    }
    return 0;
}

const char *tb_form_get(const struct tb_form *f, const char *name)
{
    size_t i;

    for (i = 0; i < f->n; i++) {
        if (strcmp(f->name[i], name) == 0)
            return f->value[i];
    }
    return NULL;
}

void tb_form_free(struct tb_form *f)
{
    free(f->buf);
    f->buf = NULL;
    f->n = 0;
}
