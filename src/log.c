/* One-line-per-event logging on stderr, and tb_strerror(). */
#include "tb_log.h"
#include "tb_date.h"
#include "tb_db.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum tb_log_level max_level = TB_LOG_INFO;

void tb_log_set_level(enum tb_log_level level)
{
    max_level = level;
}

int tb_log_enabled(enum tb_log_level level)
{
    return level <= max_level;
}

void tb_log(enum tb_log_level level, const char *who, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char line[2048];
    struct timespec ts;
    va_list ap;
    int n;

    if (!tb_log_enabled(level))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    n = tb_date_format_rfc3339((int64_t)ts.tv_sec, line, sizeof(line)) == 0 ? 20 : 0;
    n += snprintf(line + n, sizeof(line) - (size_t)n, " %-5s %s: ", names[level],
                  who ? who : "tributary");
    va_start(ap, fmt);
    if (n < (int)sizeof(line))
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 2;
    /* One write per line keeps lines from different threads whole. */
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

const char *tb_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case TB_EPARSE:
        return "not a feed that could be parsed";
    case TB_ETOOBIG:
        return "size limit exceeded";
    case TB_ESTORE:
        return "database error";
    case TB_EQUERY:
        return "invalid topic query";
    case TB_ECONFIG:
        return "configuration error";
    case TB_EFETCH:
        return "transfer failed";
    case TB_EHTTP:
        return "HTTP error status";
    case TB_ELEASE:
        return "lease lost: the source was claimed again since";
    case TB_EDB_RETRY:
        return "database busy or conflicting transaction: try again";
    case TB_EDB_LOST:
        return "database connection lost";
    case TB_EDB_CONSTRAINT:
        return "database constraint violated";
    default:
        return err < 0 ? strerror(-err) : "unknown error";
    }
}
