/*
 * tb_log: one line per event on stderr, and the project's error codes.
 *
 * Every fallible call in tributary returns 0 or a negative errno value
 * (-ENOMEM, -EINVAL, ...), so libuv codes pass through unchanged. Codes of
 * our own sit at -5000 and below, clear of libuv's range.
 */
#ifndef TB_LOG_H
#define TB_LOG_H

#include <stdarg.h>

#if defined(__GNUC__)
#define TB_NODISCARD __attribute__((warn_unused_result))
#define TB_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TB_NODISCARD
#define TB_PRINTF(f, a)
#endif

/** Project error codes; always negative, below libuv's range. */
enum {
    TB_EPARSE = -5000,  /* input is not a feed we could read */
    TB_ETOOBIG = -5001, /* input exceeded a size cap */
    TB_ESTORE = -5002,  /* SQLite failed; detail in the caller's err buffer */
    TB_EQUERY = -5003,  /* a topic query did not compile */
    TB_ECONFIG = -5004, /* configuration error */
    TB_EFETCH = -5005,  /* transfer failed; detail in the caller's err buffer */
    TB_EHTTP = -5006,   /* upstream answered with an HTTP error status */
    TB_ELEASE = -5007,  /* a poll's lease moved to another claim: its writes are refused */
};

/** Log levels, most severe first. */
enum tb_log_level { TB_LOG_ERROR, TB_LOG_WARN, TB_LOG_INFO, TB_LOG_DEBUG };

/** Sets the most verbose level printed (default TB_LOG_INFO). Not thread-safe. */
void tb_log_set_level(enum tb_log_level level);

/** Whether a message at `level` would be printed. */
int tb_log_enabled(enum tb_log_level level);

/**
 * Prints one line on stderr: UTC time, level, `who` (a source name or
 * module; may be NULL) and the message. A trailing newline in fmt is not
 * needed. Safe to call from any thread (one write(2) per line).
 */
void tb_log(enum tb_log_level level, const char *who, const char *fmt, ...) TB_PRINTF(3, 4);

/** Human-readable text for 0, a negative errno or a TB_E* code. Static storage. */
const char *tb_strerror(int err);

#endif
