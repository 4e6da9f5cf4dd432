/*
 * tb_subs_cover() (tb_subs.h): a due digest that found nothing new moves
 * the subscription's `covered` time without a message, so the next digest
 * looks only at what came later and the due one is not built again at
 * every tick. Apart from subs.c (whose owner may fold it in): one UPDATE,
 * its own transaction, never moving `covered` backwards.
 */
#include "store_int.h"
#include "tb_subs.h"

#include <errno.h>

int tb_subs_cover(struct tb_store *st, int64_t sub, int64_t covered, char *err, size_t errlen)
{
    static const char sql[] = "UPDATE subscriptions SET covered = max(covered, ?2) WHERE id = ?1";
    sqlite3_stmt *q = NULL;
    int rc = 0;

    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
        return tb__store_fail(st, err, errlen, "subscriptions");
    sqlite3_bind_int64(q, 1, sub);
    sqlite3_bind_int64(q, 2, covered);
    if (sqlite3_step(q) != SQLITE_DONE)
        rc = tb__store_fail(st, err, errlen, "subscriptions");
    else if (sqlite3_changes(st->db) == 0)
        rc = -ENOENT;
    sqlite3_finalize(q);
    return rc;
}
