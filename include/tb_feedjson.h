/*
 * tb_feedjson: a parsed feed as a JSON document, for `tributary parse`.
 */
#ifndef TB_FEEDJSON_H
#define TB_FEEDJSON_H

#include "tb_entry.h"

/**
 * What was understood of a feed as a JSON document (jansson), for
 * `tributary parse`: format, feed fields, and per entry every tb_entry field
 * that is set (dates as RFC 3339 strings, lists as arrays, summary/content as
 * {"html":bool,"value":...}, and the normalize-filled fields when present).
 * Returns a malloc'd NUL-terminated string (caller frees), NULL on out of
 * memory. Output is deterministic (fixed key order, JSON_INDENT(2)).
 */
char *tb_feedjson_dump(const struct tb_feed *f);

#endif
