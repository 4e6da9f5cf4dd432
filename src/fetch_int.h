/* Internals shared by fetch.c (blocking reader) and fetcher.c (daemon). */
#ifndef TB_FETCH_INT_H
#define TB_FETCH_INT_H

#include <curl/curl.h>

#include "tb_fetch.h"

/** Sets what every transfer shares: http(s) only, compression, User-Agent
 * (`ua`), timeouts and the Content-Length cap from `lim`, no signals. */
void tb__fetch_easy_limits(CURL *h, const struct tb_fetch_limits *lim, const char *ua);

/** Copies the charset parameter of a Content-Type value into `out` ("" if none). */
void tb__fetch_charset(const char *ct, char *out, size_t len);

#endif
