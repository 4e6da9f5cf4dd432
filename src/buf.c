/* Capped growable buffer. */
#include "tb_buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tb_buf_init(struct tb_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void tb_buf_free(struct tb_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void tb_buf_reset(struct tb_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Makes room for `n` more bytes plus the terminating NUL. */
static int grow(struct tb_buf *b, size_t n)
{
    size_t need, alloc;
    char *p;

    if (n > b->cap || b->len > b->cap - n) {
        tb_buf_free(b);
        return TB_ETOOBIG;
    }
    need = b->len + n + 1;
    if (need <= b->alloc)
        return 0;
    alloc = b->alloc ? b->alloc : 64;
    while (alloc < need)
        alloc *= 2;
    p = realloc(b->data, alloc);
    if (p == NULL) {
        tb_buf_free(b);
        return -ENOMEM;
    }
    b->data = p;
    b->alloc = alloc;
    return 0;
}

int tb_buf_reserve(struct tb_buf *b, size_t n)
{
    char *p;

    if (n > b->cap || b->len > b->cap - n) {
        tb_buf_free(b);
        return TB_ETOOBIG;
    }
    if (b->len + n + 1 <= b->alloc)
        return 0;
    p = realloc(b->data, b->len + n + 1);
    if (p == NULL) {
        tb_buf_free(b);
        return -ENOMEM;
    }
    p[b->len] = '\0';
    b->data = p;
    b->alloc = b->len + n + 1;
    return 0;
}

int tb_buf_add(struct tb_buf *b, const void *p, size_t n)
{
    int rc = grow(b, n);

    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int tb_buf_adds(struct tb_buf *b, const char *s)
{
    return tb_buf_add(b, s, strlen(s));
}

int tb_buf_addf(struct tb_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    rc = grow(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *tb_buf_take(struct tb_buf *b)
{
    char *p = b->data;

    if (p == NULL)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}
