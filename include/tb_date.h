/*
 * tb_date: feed dates to and from seconds since the epoch (UTC).
 *
 * Pure functions, no locale, no TZ: the arithmetic is days-from-civil, so
 * results do not depend on the machine's time zone.
 */
#ifndef TB_DATE_H
#define TB_DATE_H

#include <stddef.h>
#include <stdint.h>

#include "tb_entry.h"
#include "tb_log.h"

/**
 * RFC 822/1123/2822 and RFC 3339/ISO 8601 dates and common broken variants
 * (no weekday, no seconds, named and military zones, two-digit years, full
 * month names, extra spaces or commas, any case) -> seconds since epoch UTC,
 * or TB_TIME_NONE when unparseable (never 0, never now). NULL gives
 * TB_TIME_NONE.
 */
int64_t tb_date_parse(const char *s);

/**
 * Whether the formatters below write t: it lies in years 1..9999 (what
 * xsd:dateTime and a four-digit year carry); false for TB_TIME_NONE.
 */
int tb_date_ok(int64_t t);

/**
 * Formats t as RFC 3339 UTC "2024-01-02T03:04:05Z" into buf (len at least 21
 * bytes). Returns 0, or -EINVAL with buf empty (when len > 0) when
 * tb_date_ok(t) is false or buf is too small.
 */
TB_NODISCARD int tb_date_format_rfc3339(int64_t t, char *buf, size_t len);

/**
 * Formats t as RFC 822 "Tue, 02 Jan 2024 03:04:05 +0000" (English names, any
 * locale) into buf (len at least 32 bytes); returns as tb_date_format_rfc3339().
 */
TB_NODISCARD int tb_date_format_rfc822(int64_t t, char *buf, size_t len);

#endif
