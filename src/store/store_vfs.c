/*
 * The store's VFS: SQLite's default one, except that a savepoint
 * journal's writes are split into pieces of at most 64 KB.
 *
 * Why: SQLite keeps a savepoint journal in memory up to the size set by
 * SQLITE_CONFIG_STMTJRNL_SPILL (store.c sets 1 MB), then moves it to a
 * temporary file with ONE write of everything held so far (memjrnl.c,
 * memjrnlCreateFile). The unix VFS masks every write's size to 17 bits
 * (seekAndWriteFd: nBuf &= 0x1ffff), so a write above 128 KB writes
 * short or nothing, and unixWrite reports the short write as
 * SQLITE_FULL, "database or disk is full", without any failed system
 * call. Every feed whose savepoint changed more than 1 MB of existing
 * pages failed that way (seen with 16 KB pages; with 4 KB pages a feed
 * rewriting ~260 stored entries: test_store's test_large_savepoint).
 *
 * The file keeps the default VFS's own methods but for xWrite: a copy of
 * its method table with xWrite replaced, set on the file after the
 * default xOpen, so every other call reaches the default code unchanged.
 */
#include "store_int.h"

#include <pthread.h>
#include <string.h>

#define WRITE_MAX (64 * 1024)

static sqlite3_vfs vfs;                        /* the default's copy, xOpen replaced */
static sqlite3_vfs *base;                      /* the default VFS */
static sqlite3_io_methods split;               /* base_methods with xWrite replaced */
static const sqlite3_io_methods *base_methods; /* a savepoint journal's methods */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int split_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    const char *p = buf;
    int rc = SQLITE_OK, n;

    while (rc == SQLITE_OK && amt > 0) {
        n = amt < WRITE_MAX ? amt : WRITE_MAX;
        rc = base_methods->xWrite(f, p, n, off);
        p += n;
        off += n;
        amt -= n;
    }
    return rc;
}

/* The method table for file f of the default VFS: its own, or the copy
 * with split writes when it is the one the first journal had. */
static const sqlite3_io_methods *methods_for(const sqlite3_io_methods *m)
{
    const sqlite3_io_methods *out = m;

    pthread_mutex_lock(&lock);
    if (base_methods == NULL) {
        base_methods = m;
        split = *m;
        split.xWrite = split_write;
    }
    if (m == base_methods)
        out = &split;
    pthread_mutex_unlock(&lock);
    return out;
}

static int open_file(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *oflags)
{
    int rc = base->xOpen(base, name, f, flags, oflags);

    (void)v;
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_SUBJOURNAL) && f->pMethods != NULL)
        f->pMethods = methods_for(f->pMethods);
    return rc;
}

int tb__store_vfs_register(void)
{
    base = sqlite3_vfs_find(NULL);
    if (base == NULL)
        return SQLITE_ERROR;
    vfs = *base;
    vfs.zName = "tributary";
    vfs.pNext = NULL;
    vfs.xOpen = open_file;
    return sqlite3_vfs_register(&vfs, 1);
}
