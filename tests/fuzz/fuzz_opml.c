/*
 * Fuzz target: tb_opml_read on the input. Invariants: on success every feed
 * has a non-empty URL and no string has surrounding blanks; on failure there
 * is a reason and no array.
 */
#include "fuzz.h"
#include "tb_opml.h"

#include <errno.h>

static int trimmed(const char *s)
{
    size_t n;

    if (s == NULL)
        return 1;
    n = strlen(s);
    return n > 0 && !strchr(" \t\r\n", s[0]) && !strchr(" \t\r\n", s[n - 1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tb_opml_feed *feeds = (struct tb_opml_feed *)1;
    size_t n = 99;
    char err[256] = "";
    int rc = tb_opml_read((const char *)data, size, &feeds, &n, err, sizeof(err));

    if (rc != 0) {
        FUZZ_ASSERT(rc != -ENOMEM);
        FUZZ_ASSERT(err[0] != '\0');
        return 0;
    }
    FUZZ_ASSERT((feeds == NULL) == (n == 0));
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(feeds[i].url != NULL && feeds[i].url[0] != '\0');
        FUZZ_ASSERT(trimmed(feeds[i].url) && trimmed(feeds[i].title));
        FUZZ_ASSERT(trimmed(feeds[i].html_url));
        FUZZ_ASSERT(feeds[i].line >= 0);
    }
    tb_opml_free(feeds, n);
    return 0;
}
