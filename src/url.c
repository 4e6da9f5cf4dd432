/*
 * url.c: the scheme check behind every URL tributary publishes or fetches
 * (tb_url.h).
 */
#include "tb_url.h"

#include <stddef.h>
#include <string.h>

int tb_url_kind(const char *v)
{
    char scheme[8];
    size_t n;
    const char *amp;

    if (v == NULL)
        return TB_URL_RELATIVE;
    n = strcspn(v, "/?#");
    amp = memchr(v, '&', n);
    /* An entity libxml2 does not know (HTML5's &colon;, &Tab;) is left as
     * text; a reader that decodes it might find a scheme in it. */
    if (amp != NULL && memchr(amp, ';', n - (size_t)(amp - v)) != NULL)
        return TB_URL_OTHER;
    n = 0;
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;

        if (c <= 0x20 || c == 0x7f)
            continue; /* browsers strip or ignore these */
        if (c == ':')
            break;
        if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
            c != '+' && c != '-' && c != '.')
            return TB_URL_RELATIVE; /* a path segment with a colon later */
        if (n < sizeof(scheme) - 1)
            scheme[n] = (char)(c | 0x20);
        n++;
    }
    if (*v != ':')
        return TB_URL_RELATIVE;
    if (n >= sizeof(scheme))
        return TB_URL_OTHER;
    scheme[n] = '\0';
    if (tb_url_scheme_allowed(scheme))
        return TB_URL_HTTP;
    return strcmp(scheme, "mailto") == 0 ? TB_URL_MAILTO : TB_URL_OTHER;
}

int tb_url_allowed(const char *s, unsigned flags)
{
    int kind = tb_url_kind(s);

    return kind == TB_URL_HTTP || (kind == TB_URL_MAILTO && (flags & TB_URL_ALLOW_MAILTO));
}

int tb_url_scheme_allowed(const char *scheme)
{
    return scheme != NULL && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
}
