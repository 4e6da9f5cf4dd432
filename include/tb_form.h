/*
 * tb_form: application/x-www-form-urlencoded text (a POSTed body or a URL's
 * query) decoded into name/value pairs. The one decoder of the subscribe
 * forms (mail_web.c), the hub's requests (websub.c) and the hubs'
 * verification queries (daemon_push.c).
 */
#ifndef TB_FORM_H
#define TB_FORM_H

#include <stddef.h>

#include "tb_log.h"

/** The most fields a form may have; more is malformed. */
#define TB_FORM_FIELDS 64

/** A decoded form: names and values point into buf, in the text's order. */
struct tb_form {
    char *buf;                         /* the decoded copy (owned) */
    const char *name[TB_FORM_FIELDS];  /* field names */
    const char *value[TB_FORM_FIELDS]; /* their values ("" for "a=" and "a") */
    size_t n;                          /* number of fields */
};

/**
 * Parses s[0..len) ('+' is a space, %XX a byte; empty fields between '&'
 * skipped). Returns 0, -EINVAL (a bad escape, a field decoded to hold a
 * NUL byte, more than TB_FORM_FIELDS fields) or -ENOMEM; call
 * tb_form_free() after either.
 */
TB_NODISCARD int tb_form_parse(struct tb_form *f, const char *s, size_t len);

/** The first value of field `name`, or NULL when there is none. */
const char *tb_form_get(const struct tb_form *f, const char *name);

/** Frees what tb_form_parse() allocated; f may be parsed again after. */
void tb_form_free(struct tb_form *f);

#endif
