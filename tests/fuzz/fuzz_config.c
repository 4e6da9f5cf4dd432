/*
 * Fuzz target: tb_config_load on the input written to a file. The file lives
 * in a temporary directory made once per process and removed at exit; every
 * run rewrites the same path. A fixed feeds.opml sits beside it. Invariants: success gives a
 * configuration whose names are valid and whose values are in range; failure gives at least one
 * error, each with a file and a message.
 */
#include "fuzz.h"
#include "tb_config.h"

#include <errno.h>
#include <unistd.h>

static char dir[64];
static char path[128];
static char opml[128];

/* The OPML file a config may name as "feeds.opml". */
static const char opml_doc[] =
    "<opml version=\"2.0\"><head><title>t</title></head><body>"
    "<outline text=\"Cat\"><outline text=\"A feed\" type=\"rss\" "
    "xmlUrl=\"https://a.example/feed\" htmlUrl=\"https://a.example/\"/></outline>"
    "<outline text=\"B\" xmlUrl=\"http://b.example/rss\"/></body></opml>";

static void cleanup(void)
{
    unlink(path);
    unlink(opml);
    rmdir(dir);
}

static void write_file(const char *p, const uint8_t *data, size_t size)
{
    FILE *fp = fopen(p, "wb");

    FUZZ_ASSERT(fp != NULL);
    FUZZ_ASSERT(fwrite(data, 1, size, fp) == size);
    FUZZ_ASSERT(fclose(fp) == 0);
}

/* Makes the directory on first use (LLVMFuzzerInitialize is not called by
 * every driver, so the target sets itself up). */
static void setup(void)
{
    const char *tmp = getenv("TMPDIR");

    if (path[0])
        return;
    snprintf(dir, sizeof(dir), "%s/tb-fuzz-config-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    FUZZ_ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/fuzz.ini", dir);
    snprintf(opml, sizeof(opml), "%s/feeds.opml", dir);
    atexit(cleanup);
    write_file(opml, (const uint8_t *)opml_doc, sizeof(opml_doc) - 1);
}

static void check_config(const struct tb_config *c)
{
    size_t n = strlen(c->base_url);

    FUZZ_ASSERT(n > 0 && c->base_url[n - 1] == '/');
    FUZZ_ASSERT(c->interval >= 1 && c->feed_limit >= 1 && c->max_body >= 1);
    FUZZ_ASSERT(c->database && c->public_dir && c->listen);
    for (size_t i = 0; i < c->nsources; i++) {
        const struct tb_config_source *s = &c->sources[i];

        FUZZ_ASSERT(tb_config_name_valid(s->name));
        FUZZ_ASSERT(strncmp(s->url, "http://", 7) == 0 || strncmp(s->url, "https://", 8) == 0);
        FUZZ_ASSERT(s->interval >= 1 && tb_config_find_source(c, s->name) == s);
    }
    for (size_t i = 0; i < c->ntopics; i++) {
        const struct tb_config_topic *t = &c->topics[i];

        FUZZ_ASSERT(tb_config_name_valid(t->name) && t->query && t->title);
        for (size_t k = 0; k < t->nsources; k++)
            FUZZ_ASSERT(tb_config_find_source(c, t->sources[k]) != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tb_config *c = NULL;
    struct tb_config_error *errs = NULL;
    size_t nerrs = 0;
    int rc;

    setup();
    write_file(path, data, size);
    rc = tb_config_load(path, &c, &errs, &nerrs);
    if (rc == 0) {
        FUZZ_ASSERT(c != NULL && nerrs == 0);
        check_config(c);
        tb_config_free(c);
        return 0;
    }
    FUZZ_ASSERT(rc != -ENOMEM && c == NULL && nerrs > 0);
    for (size_t i = 0; i < nerrs; i++)
        FUZZ_ASSERT(errs[i].file != NULL && errs[i].msg != NULL && errs[i].msg[0] != '\0');
    tb_config_errors_free(errs, nerrs);
    return 0;
}
