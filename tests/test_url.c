/* Unit tests for tb_url.h: the publish / fetch scheme check. */
#include <stddef.h>

#include "check.h"
#include "tb_url.h"

static void test_kind(void)
{
    static const struct {
        const char *url;
        int kind;
    } rows[] = {
        {"http://example.org/", TB_URL_HTTP},
        {"https://example.org/a?b#c", TB_URL_HTTP},
        {"HTTPS://EXAMPLE.ORG/", TB_URL_HTTP},
        {"hTtP:relative-but-http", TB_URL_HTTP},
        /* leading and embedded whitespace and controls, as browsers skip them */
        {"  https://x/", TB_URL_HTTP},
        {"\x01\x1f https://x/", TB_URL_HTTP},
        {"ht\ttp://x/", TB_URL_HTTP},
        {"h\nt\rtps://x/", TB_URL_HTTP},
        {"mailto:a@example.org", TB_URL_MAILTO},
        {" MailTo:a@example.org", TB_URL_MAILTO},
        {"javascript:alert(1)", TB_URL_OTHER},
        {" JaVaScRiPt:alert(1)", TB_URL_OTHER},
        {"java\tscript:alert(1)", TB_URL_OTHER},
        {"\x7fjavascript:alert(1)", TB_URL_OTHER},
        {"vbscript:x", TB_URL_OTHER},
        {"data:text/html,<script>", TB_URL_OTHER},
        {"tag:example.org,2024:1", TB_URL_OTHER},
        {"urn:uuid:1", TB_URL_OTHER},
        {"ftp://x/", TB_URL_OTHER},
        {"httpsx://x/", TB_URL_OTHER},
        {"verylongscheme:x", TB_URL_OTHER},
        /* an entity left undecoded before the first '/' could hide a scheme */
        {"javascript&colon;alert(1)", TB_URL_OTHER},
        {"java&Tab;script:alert(1)", TB_URL_OTHER},
        {"/a?x=1&y=2;z", TB_URL_RELATIVE},
        /* relative references */
        {"", TB_URL_RELATIVE},
        {"/path", TB_URL_RELATIVE},
        {"path/a:b", TB_URL_RELATIVE},
        {"?q=http:", TB_URL_RELATIVE},
        {"#frag", TB_URL_RELATIVE},
        {"//example.org/x", TB_URL_RELATIVE},
        {"a b:c", TB_URL_OTHER}, /* the space is skipped: scheme "ab" */
        {"a_b:c", TB_URL_RELATIVE},
        {NULL, TB_URL_RELATIVE},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int got = tb_url_kind(rows[i].url);

        if (got != rows[i].kind) {
            fprintf(stderr, "row %zu: \"%s\"\n", i, rows[i].url ? rows[i].url : "(null)");
            CHECK_EQ(got, rows[i].kind);
        }
    }
}

static void test_allowed(void)
{
    CHECK(tb_url_allowed("https://x/", 0));
    CHECK(tb_url_allowed(" HTTP://x/", TB_URL_ALLOW_MAILTO));
    CHECK(!tb_url_allowed("mailto:a@b", 0));
    CHECK(tb_url_allowed("mailto:a@b", TB_URL_ALLOW_MAILTO));
    CHECK(!tb_url_allowed("javascript:x", TB_URL_ALLOW_MAILTO));
    CHECK(!tb_url_allowed("/relative", TB_URL_ALLOW_MAILTO));
    CHECK(!tb_url_allowed("", 0));
    CHECK(!tb_url_allowed(NULL, TB_URL_ALLOW_MAILTO));
    CHECK(tb_url_scheme_allowed("http") && tb_url_scheme_allowed("https"));
    CHECK(!tb_url_scheme_allowed("HTTP") && !tb_url_scheme_allowed("mailto"));
    CHECK(!tb_url_scheme_allowed("ftp") && !tb_url_scheme_allowed(NULL));
}

int main(void)
{
    test_kind();
    test_allowed();
    CHECK_DONE();
}
