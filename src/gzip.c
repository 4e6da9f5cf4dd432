/*
 * gzip.c: tb_gzip(), one deflate stream with the gzip wrapper written into
 * a tb_buf.
 */
#include "tb_gzip.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

/* Bytes handed to zlib per call: its counters are 32-bit. */
#define CHUNK ((size_t)1 << 30)

/* The smaller of a and b. */
static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Deflates until zlib has taken all of in[0..n) (and, with Z_FINISH, has
 * ended the stream), growing out as needed but never past its cap: zlib's
 * bound is above what it writes, so only the space left is asked for. */
static int pump(z_stream *z, const unsigned char *in, size_t n, int flush, struct tb_buf *out)
{
    size_t room;
    int zrc, rc;

    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)n;
    do {
        room = min_size(deflateBound(z, z->avail_in) + 64, out->cap - out->len);
        if (room == 0)
            return TB_ETOOBIG;
        rc = tb_buf_reserve(out, room);
        if (rc)
            return rc;
        room = min_size(min_size(out->alloc - out->len - 1, out->cap - out->len), UINT_MAX);
        z->next_out = (Bytef *)out->data + out->len;
        z->avail_out = (uInt)room;
        zrc = deflate(z, flush);
        out->len += room - z->avail_out;
        out->data[out->len] = '\0';
        if (zrc == Z_STREAM_ERROR)
            return -EINVAL;
    } while (z->avail_in > 0 || (flush == Z_FINISH && zrc != Z_STREAM_END));
    return 0;
}

int tb_gzip(const void *p, size_t n, int level, struct tb_buf *out)
{
    const unsigned char *in = p;
    z_stream z;
    size_t k;
    int rc = 0;

    if (level < 1 || level > 9 || (p == NULL && n > 0))
        return -EINVAL;
    memset(&z, 0, sizeof(z));
    /* 15 + 16: a 32 KB window inside a gzip wrapper; memLevel 9 is zlib's best. */
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    do {
        k = n < CHUNK ? n : CHUNK;
        rc = pump(&z, in, k, k == n ? Z_FINISH : Z_NO_FLUSH, out);
        in += k;
        n -= k;
    } while (rc == 0 && n > 0);
    deflateEnd(&z);
    if (rc)
        tb_buf_free(out);
    return rc;
}
