/* tb_form: decoding, repeated and empty fields, and what is refused. */
#include "tb_form.h"

#include <errno.h>
#include <string.h>

#include "check.h"

static void test_decode(void)
{
    static const char body[] = "hub.mode=subscribe&hub.topic=https%3A%2F%2Fx.example%2Fall.atom"
                               "&hub.secret=a+b%C3%A9&&empty=&flag&hub.mode=unsubscribe&x.y%3Dz=1";
    struct tb_form f;

    CHECK_OK(tb_form_parse(&f, body, strlen(body)));
    CHECK_EQ(f.n, 7);
    CHECK_STR(tb_form_get(&f, "hub.mode"), "subscribe"); /* the first of a repeated field */
    CHECK_STR(tb_form_get(&f, "hub.topic"), "https://x.example/all.atom");
    CHECK_STR(tb_form_get(&f, "hub.secret"), "a b\xc3\xa9");
    CHECK_STR(tb_form_get(&f, "empty"), "");
    CHECK_STR(tb_form_get(&f, "flag"), "");
    CHECK_STR(tb_form_get(&f, "x.y=z"), "1");
    CHECK(tb_form_get(&f, "hub.callback") == NULL);
    CHECK(tb_form_get(&f, "hub") == NULL);
    tb_form_free(&f);
    /* A body need not be NUL-terminated: only len bytes are read. */
    CHECK_OK(tb_form_parse(&f, "a=1&b=2", 3));
    CHECK_EQ(f.n, 1);
    CHECK_STR(tb_form_get(&f, "a"), "1");
    tb_form_free(&f);
    CHECK_OK(tb_form_parse(&f, "", 0));
    CHECK_EQ(f.n, 0);
    tb_form_free(&f);
}

static void test_refused(void)
{
    static const char *const bad[] = {"a=%4", "a=%zz", "a=x%00y", "%00=1", "a=%", "a=%%41"};
    char many[4 * (TB_FORM_FIELDS + 1) + 1] = "";
    struct tb_form f;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ(tb_form_parse(&f, bad[i], strlen(bad[i])), -EINVAL);
        tb_form_free(&f);
    }
    for (i = 0; i < TB_FORM_FIELDS; i++)
        strcat(many, "a=1&");
    CHECK_OK(tb_form_parse(&f, many, strlen(many)));
    CHECK_EQ(f.n, TB_FORM_FIELDS);
    tb_form_free(&f);
    strcat(many, "a=1&");
    CHECK_EQ(tb_form_parse(&f, many, strlen(many)), -EINVAL);
    tb_form_free(&f);
}

int main(void)
{
    test_decode();
    test_refused();
    CHECK_DONE();
}
