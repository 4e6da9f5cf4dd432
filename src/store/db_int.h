/*
 * Internals of tb_db (include/tb_db.h): the driver table each engine fills
 * (db_sqlite.c, db_pg.c) and what db.c, the common part, keeps for both:
 * transaction depth, the last error, the SQL rewriting.
 */
#ifndef TB_DB_INT_H
#define TB_DB_INT_H

#include "tb_buf.h"
#include "tb_db.h"

#define TB__DB_MSG 512 /* bytes of the last error message kept */

/* One engine's implementation; every call gets the common handle. */
struct tb__db_ops {
    enum tb_db_dialect dialect; /* the engine */
    int (*open)(struct tb_db **out, const char *target, int flags, char *err, size_t errlen);
    void (*close)(struct tb_db *db);
    int (*busy_timeout)(struct tb_db *db, int ms);
    int (*prepare)(struct tb_db *db, const char *sql, int nparams, struct tb_db_stmt **out);
    int (*bind)(struct tb_db_stmt *st, int i, int type, const void *p, size_t n, int64_t iv,
                double dv);
    int (*step)(struct tb_db_stmt *st);
    int (*column_count)(struct tb_db_stmt *st);
    int (*column_is_null)(struct tb_db_stmt *st, int i);
    int64_t (*column_int64)(struct tb_db_stmt *st, int i);
    double (*column_double)(struct tb_db_stmt *st, int i);
    const char *(*column_text)(struct tb_db_stmt *st, int i);
    const void *(*column_blob)(struct tb_db_stmt *st, int i, size_t *n);
    void (*reset)(struct tb_db_stmt *st);
    void (*finalize)(struct tb_db_stmt *st);
    int (*exec)(struct tb_db *db, const char *sql);
    int (*control)(struct tb_db *db, const char *sql); /* BEGIN, COMMIT...: exec when NULL */
    int (*in_txn)(struct tb_db *db);
    int64_t (*changes)(struct tb_db *db);
    int (*reconnect)(struct tb_db *db);
};

/* What ops->in_txn says of the engine's transaction. */
enum {
    TB__TXN_NONE = 0,    /* none open */
    TB__TXN_OPEN = 1,    /* open and usable */
    TB__TXN_FAILED = -1, /* open, but a statement failed: only a rollback is accepted */
    TB__TXN_GONE = -2,   /* the connection is lost, and the transaction with it */
};

/* Value types passed to ops->bind. */
enum { TB__DB_NULL, TB__DB_INT, TB__DB_DOUBLE, TB__DB_TEXT, TB__DB_BLOB };

/* The common head of every driver's connection. */
struct tb_db {
    const struct tb__db_ops *ops; /* the engine's calls */
    int depth;                    /* open tb_db_begin calls */
    int outer;                    /* depth 1 was a savepoint in a transaction begun outside tb_db */
    char msg[TB__DB_MSG];         /* the last failure's message */
    int lost;                     /* a call failed with TB_EDB_LOST since the last reconnect */
};

/* The common head of every driver's statement. */
struct tb_db_stmt {
    struct tb_db *db; /* its connection */
    int nparams;      /* highest parameter number in its SQL */
    int used;         /* bound or stepped since its last reset (a reset has work to do) */
};

extern const struct tb__db_ops tb__db_sqlite;
extern const struct tb__db_ops tb__db_pg;

/* Records a failure's message on db (printf-style) and returns code. */
int tb__db_fail(struct tb_db *db, int code, const char *fmt, ...) TB_PRINTF(3, 4);

/* The end of a renewal (tb_db_renew_finish): on rc 0 the connection is new
 * (no transaction, not lost); rc reported into err as every call's. */
int tb__db_renewed(struct tb_db *db, int rc, char *err, size_t errlen);

/*
 * Rewrites sql for dialect into b (emptied first; NUL-terminated): the
 * {tokens} of tb_db.h expanded and, for PostgreSQL, ?N as $N and a bare ?
 * numbered; string literals, quoted identifiers and comments are copied
 * unchanged. *nparams gets the highest parameter number. 0, -EINVAL (an
 * unknown token, a parameter number past 32766; message on db), -ENOMEM.
 */
int tb__db_rewrite(struct tb_db *db, enum tb_db_dialect dialect, const char *sql, struct tb_buf *b,
                   int *nparams);

#endif
