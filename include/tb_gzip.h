/*
 * tb_gzip.h: gzip (RFC 1952) compression through zlib, the one copy behind
 * the published .gz files and the HTTP server's gzip responses.
 */
#ifndef TB_GZIP_H
#define TB_GZIP_H

#include <stddef.h>

#include "tb_buf.h"

/** zlib's default level: what the HTTP server uses for a body it compresses itself. */
#define TB_GZIP_DEFAULT 6

/** The best (slowest) level: for documents compressed once and served many times. */
#define TB_GZIP_BEST 9

/**
 * Appends the gzip form of the n bytes at p to out, at `level` (1..9). The
 * header carries no name and mtime 0, so equal bytes give equal output.
 * Returns 0, -EINVAL (bad level), -ENOMEM, or a tb_buf_add() error such as
 * TB_ETOOBIG past out's cap (out is then freed).
 */
TB_NODISCARD int tb_gzip(const void *p, size_t n, int level, struct tb_buf *out);

#endif
