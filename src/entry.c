/* The record passed between stages: allocation helpers. */
#include "tb_entry.h"

#include <stdlib.h>

struct tb_feed *tb_feed_new(void)
{
    struct tb_feed *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    tb_arena_init(&f->arena);
    f->updated = TB_TIME_NONE;
    return f;
}

void tb_feed_free(struct tb_feed *f)
{
    if (f == NULL)
        return;
    tb_arena_free(&f->arena);
    free(f);
}

struct tb_entry *tb_entry_new(struct tb_feed *f)
{
    struct tb_entry *e = tb_arena_alloc(&f->arena, sizeof(*e));

    if (e == NULL)
        return NULL;
    e->id_is_permalink = 1;
    e->published = TB_TIME_NONE;
    e->updated = TB_TIME_NONE;
    return e;
}

void tb_feed_append(struct tb_feed *f, struct tb_entry *e)
{
    e->next = NULL;
    if (f->last)
        f->last->next = e;
    else
        f->entries = e;
    f->last = e;
    f->nentries++;
}

const char *tb_format_name(enum tb_format fmt)
{
    switch (fmt) {
    case TB_FORMAT_RSS090:
        return "rss0.90";
    case TB_FORMAT_RSS091:
        return "rss0.91";
    case TB_FORMAT_RSS20:
        return "rss2.0";
    case TB_FORMAT_RSS10:
        return "rss1.0";
    case TB_FORMAT_ATOM03:
        return "atom0.3";
    case TB_FORMAT_ATOM10:
        return "atom1.0";
    case TB_FORMAT_JSON10:
        return "json1.0";
    case TB_FORMAT_JSON11:
        return "json1.1";
    default:
        return "unknown";
    }
}
