/*
 * tb_trending_seen() (tb_trending.h): when the store learned of a paper's
 * latest voice. A mention's time is the earlier of the entry's published
 * date and its first sight, so it cannot say what is new since a given
 * moment: an entry published before a digest but fetched after it would
 * look old. The entry's first sight by that source (entry_sources) can.
 */
#include "store_int.h"
#include "tb_trending.h"

#include <errno.h>

int tb_trending_seen(struct tb_store *s, const char *key, int64_t now, int64_t window,
                     int64_t *seen, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT coalesce(max(max(m.at, coalesce(es.first_seen, m.at))), 0)"
        " FROM mentions m JOIN sources s ON s.id = m.source_id"
        " LEFT JOIN entry_sources es ON es.entry_id = m.entry_id AND es.source_id = m.source_id"
        " WHERE m.paper = ?1 AND m.at BETWEEN ?2 AND ?3 AND s.weight > 0";
    sqlite3_stmt *q = NULL;
    int rc = 0;

    *seen = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return tb__store_fail(s, err, errlen, "trending seen");
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, now - window);
    sqlite3_bind_int64(q, 3, now);
    if (sqlite3_step(q) == SQLITE_ROW)
        *seen = sqlite3_column_int64(q, 0);
    else
        rc = tb__store_fail(s, err, errlen, "trending seen");
    sqlite3_finalize(q);
    return rc;
}
