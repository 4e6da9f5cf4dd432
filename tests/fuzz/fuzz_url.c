/*
 * Fuzz target: URL canonicalization and identifier extraction on the input
 * as a string. Invariants: tb_norm_url and tb_norm_link are idempotent, the
 * canonical form is https without fragment, cleaning a link does not change
 * its canonical form, extracted arXiv ids and DOIs fit, are extracted again
 * from their "arXiv:"/"doi:" spellings, and a too-small buffer gives -ENOSPC
 * without writing past it (the buffers are exact-size heap blocks for ASan).
 */
#include "fuzz.h"
#include "tb_normalize.h"

#include <errno.h>

static void check_url(const char *s)
{
    char *u = tb_norm_url(s), *l = tb_norm_link(s);

    FUZZ_ASSERT((u == NULL) == (l == NULL));
    if (u) {
        char *uu = tb_norm_url(u), *lu = tb_norm_url(l), *ll = tb_norm_link(l);

        FUZZ_ASSERT(strncmp(u, "https://", 8) == 0 && strchr(u, '#') == NULL);
        if (uu == NULL || strcmp(u, uu) != 0 || lu == NULL || strcmp(u, lu) != 0)
            fprintf(stderr, "in:  %s\nurl: %s\nurl(url): %s\nurl(link): %s\n", s, u,
                    uu ? uu : "(null)", lu ? lu : "(null)");
        FUZZ_ASSERT(uu != NULL && strcmp(u, uu) == 0);
        FUZZ_ASSERT(lu != NULL && strcmp(u, lu) == 0);
        FUZZ_ASSERT(ll != NULL && strcmp(l, ll) == 0);
        free(uu);
        free(lu);
        free(ll);
    }
    free(u);
    free(l);
}

typedef int (*extract_fn)(const char *s, char *buf, size_t len);

/* Runs an extractor with a generous and with a too-small buffer; returns the
 * malloc'd result or NULL. */
static char *extract(extract_fn fn, const char *s)
{
    char *buf = malloc(4096), *small;
    int rc = fn(s, buf, 4096);
    size_t n;

    FUZZ_ASSERT(rc == 0 || rc == -ENOENT || rc == -ENOSPC);
    if (rc != 0) {
        free(buf);
        return NULL;
    }
    n = strlen(buf);
    FUZZ_ASSERT(n > 0);
    small = malloc(n);
    FUZZ_ASSERT(fn(s, small, n) == -ENOSPC);
    free(small);
    return buf;
}

static void check_ids(const char *s)
{
    char *id = extract(tb_norm_arxiv_id, s), *doi = extract(tb_norm_doi, s), *again, *p;

    if (id) {
        FUZZ_ASSERT(strlen(id) < 32 && fuzz_str_valid(id));
        p = malloc(strlen(id) + 7);
        sprintf(p, "arXiv:%s", id);
        again = extract(tb_norm_arxiv_id, p);
        FUZZ_ASSERT(again != NULL && strcmp(again, id) == 0);
        free(again);
        free(p);
    }
    if (doi) {
        FUZZ_ASSERT(strncmp(doi, "10.", 3) == 0);
        for (p = doi; *p; p++)
            FUZZ_ASSERT(!(*p >= 'A' && *p <= 'Z') && (unsigned char)*p > ' ');
        p = malloc(strlen(doi) + 5);
        sprintf(p, "doi:%s", doi);
        again = extract(tb_norm_doi, p);
        if (again == NULL || strcmp(again, doi) != 0)
            fprintf(stderr, "doi: \"%s\" -> \"%s\"\n", doi, again ? again : "(null)");
        FUZZ_ASSERT(again != NULL && strcmp(again, doi) == 0);
        free(again);
        free(p);
    }
    free(id);
    free(doi);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);

    check_url(s);
    check_ids(s);
    free(s);
    return 0;
}
