/*
 * tb_buf: a growable byte buffer with a hard size cap (like curl's dynbuf).
 *
 * The buffer is always NUL-terminated after its `len` bytes once anything
 * was added. A failed append (out of memory or over the cap) frees the
 * contents and leaves the buffer empty, so callers only check the result.
 */
#ifndef TB_BUF_H
#define TB_BUF_H

#include <stddef.h>

#include "tb_log.h"

/** Embedded by the caller; initialise with tb_buf_init(). */
struct tb_buf {
    char *data;   /* NUL-terminated bytes, or NULL while empty */
    size_t len;   /* bytes used, excluding the terminating NUL */
    size_t alloc; /* bytes allocated */
    size_t cap;   /* most bytes `len` may reach; appends beyond fail */
};

/** Prepares an empty buffer that may hold at most `cap` bytes. */
void tb_buf_init(struct tb_buf *b, size_t cap);

/** Frees the contents; the buffer is empty and reusable afterwards. */
void tb_buf_free(struct tb_buf *b);

/** Empties the buffer but keeps its memory for reuse. */
void tb_buf_reset(struct tb_buf *b);

/**
 * Appends `n` bytes. Returns 0, -ENOMEM, or TB_ETOOBIG when the cap would be
 * passed; on failure the buffer has been freed.
 */
TB_NODISCARD int tb_buf_add(struct tb_buf *b, const void *p, size_t n);

/**
 * Makes room for `n` more bytes in one allocation (of exactly that size),
 * so that a caller who knows the final size avoids the doubling reallocs.
 * Returns as tb_buf_add(); the contents stay as they were.
 */
TB_NODISCARD int tb_buf_reserve(struct tb_buf *b, size_t n);

/** Appends a NUL-terminated string; as tb_buf_add(). */
TB_NODISCARD int tb_buf_adds(struct tb_buf *b, const char *s);

/** Appends printf-formatted text; as tb_buf_add(). */
TB_NODISCARD int tb_buf_addf(struct tb_buf *b, const char *fmt, ...) TB_PRINTF(2, 3);

/**
 * Hands the contents over to the caller (free() them) and leaves the buffer
 * empty. Returns an empty allocated string if nothing was added, NULL only
 * when out of memory.
 */
char *tb_buf_take(struct tb_buf *b);

#endif
