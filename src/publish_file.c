/*
 * Publish: atomic replacement of published files (temp file, fsync, rename,
 * fsync of the directory) and their gzip twins for static file servers,
 * written from the bytes the caller compressed (tb_gzip()).
 */
#include "tb_publish.h"
#include "tb_vec.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Formats the detail into err (when given) and returns rc. */
static int fail(int rc, char *err, size_t errlen, const char *fmt, ...) TB_PRINTF(4, 5);

static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (err == NULL || errlen == 0)
        return rc;
    va_start(ap, fmt);
    n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < errlen)
        snprintf(err + n, errlen - (size_t)n, ": %s", strerror(-rc));
    return rc;
}

/* Whether relpath is relative and has no empty, "." or ".." component. */
static int relpath_ok(const char *relpath)
{
    const char *p = relpath;

    if (*p == '\0' || *p == '/')
        return 0;
    while (*p) {
        size_t n = strcspn(p, "/");

        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n;
        if (*p == '/')
            p++;
        if (*p == '\0' && p[-1] == '/')
            return 0;
    }
    return 1;
}

/* mkdir -p of path (modified in place and restored). */
static int make_dirs(char *path, char *err, size_t errlen)
{
    char *p = path;

    for (;;) {
        char *slash = strchr(p + 1, '/');

        if (slash)
            *slash = '\0';
        if (*path && mkdir(path, 0755) != 0 && errno != EEXIST)
            return fail(-errno, err, errlen, "mkdir %s", path);
        if (slash == NULL)
            return 0;
        *slash = '/';
        p = slash;
    }
}

/* Writes all of data to fd. */
static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Syncs the directory holding path so that a rename in it is durable. */
static int sync_dir(const char *path, char *err, size_t errlen)
{
    char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    int fd, rc = 0;

    if (dir == NULL)
        return fail(-ENOMEM, err, errlen, "sync %s", path);
    if (slash)
        *slash = '\0';
    fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        rc = fail(-errno, err, errlen, "fsync %s", slash ? dir : ".");
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

/* Writes data to path's new ".NAME.tmp.XXXXXX" sibling (mode 0644), fsynced
 * when sync; *tmpp is the caller's to free. */
static int write_tmp(const char *path, const char *data, size_t len, int sync, char **tmpp,
                     char *err, size_t errlen)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t dirlen = (size_t)(base - path);
    char *tmp = malloc(strlen(path) + 13);
    int fd, rc;

    *tmpp = NULL;
    if (tmp == NULL)
        return fail(-ENOMEM, err, errlen, "write %s", path);
    sprintf(tmp, "%.*s.%s.tmp.XXXXXX", (int)dirlen, path, base);
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = fail(-errno, err, errlen, "create %s", tmp);
        free(tmp);
        return rc;
    }
    rc = write_all(fd, data, len);
    if (rc == 0 && (fchmod(fd, 0644) != 0 || (sync && fsync(fd) != 0)))
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc) {
        fail(rc, err, errlen, "write %s", path);
        unlink(tmp);
        free(tmp);
        return rc;
    }
    *tmpp = tmp;
    return 0;
}

/* Replaces path with data through path's ".NAME.tmp.XXXXXX" sibling. */
static int replace(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    char *tmp;
    int rc = write_tmp(path, data, len, 1, &tmp, err, errlen);

    if (rc)
        return rc;
    if (rename(tmp, path) != 0) {
        rc = fail(-errno, err, errlen, "write %s", path);
        unlink(tmp);
    }
    free(tmp);
    return rc ? rc : sync_dir(path, err, errlen);
}

/* Writes path.gz from gz[0..gzlen), or removes a stale one when gz is NULL. */
static int write_gz(char *path, const void *gz, size_t gzlen, char *err, size_t errlen)
{
    int rc = 0;

    strcat(path, ".gz");
    if (gz == NULL) {
        if (unlink(path) != 0 && errno != ENOENT)
            rc = fail(-errno, err, errlen, "unlink %s", path);
        return rc;
    }
    return replace(path, (const char *)gz, gzlen, err, errlen);
}

/* dir/relpath in a new string, its directories made; NULL on failure. */
static char *make_path(const char *dir, const char *relpath, char *err, size_t errlen)
{
    size_t dlen;
    char *path, *slash;
    int rc;

    if (!relpath_ok(relpath)) {
        fail(-EINVAL, err, errlen, "bad path %s", relpath);
        errno = EINVAL;
        return NULL;
    }
    dlen = strlen(dir);
    path = malloc(dlen + strlen(relpath) + 6);
    if (path == NULL) {
        fail(-ENOMEM, err, errlen, "write %s", relpath);
        errno = ENOMEM;
        return NULL;
    }
    sprintf(path, "%s/%s", dlen ? dir : ".", relpath);
    slash = strrchr(path, '/');
    *slash = '\0';
    rc = make_dirs(path, err, errlen);
    *slash = '/';
    if (rc) {
        free(path);
        errno = -rc;
        return NULL;
    }
    return path;
}

int tb_publish_write_file(const char *dir, const char *relpath, const char *data, size_t len,
                          const void *gz, size_t gzlen, char *err, size_t errlen)
{
    char *path;
    int rc;

    assert(dir != NULL && relpath != NULL && (data != NULL || len == 0));
    path = make_path(dir, relpath, err, errlen);
    if (path == NULL)
        return -errno;
    rc = replace(path, data, len, err, errlen);
    if (rc == 0)
        rc = write_gz(path, gz, gzlen, err, errlen);
    free(path);
    return rc;
}

/* A file of a batch: its temporary, renamed to path at commit. */
struct batch_file {
    char *tmp;
    char *path;
};

struct tb_publish_batch {
    char *dir;
    struct batch_file *files;
    size_t n, alloc;
};

struct tb_publish_batch *tb_publish_batch_new(const char *dir)
{
    struct tb_publish_batch *b = calloc(1, sizeof(*b));

    if (b != NULL && (b->dir = strdup(dir)) == NULL) {
        free(b);
        b = NULL;
    }
    return b;
}

/* Adds path's temporary holding data to the batch (path is the batch's). */
static int batch_add(struct tb_publish_batch *b, char *path, const char *data, size_t len,
                     char *err, size_t errlen)
{
    char *tmp = NULL;
    int rc = TB_VEC_RESERVE(b->files, b->alloc, b->n + 1, TB_VEC_MAX);

    if (rc)
        fail(rc, err, errlen, "write %s", path);
    if (rc == 0)
        rc = write_tmp(path, data, len, 0, &tmp, err, errlen);
    if (rc) {
        free(path);
        return rc;
    }
    b->files[b->n].tmp = tmp;
    b->files[b->n].path = path;
    b->n++;
    return 0;
}

int tb_publish_batch_write(struct tb_publish_batch *b, const char *relpath, const char *data,
                           size_t len, const void *gz, size_t gzlen, char *err, size_t errlen)
{
    char *path, *gzpath;
    int rc;

    assert(b != NULL && relpath != NULL && (data != NULL || len == 0));
    path = make_path(b->dir, relpath, err, errlen);
    if (path == NULL)
        return -errno;
    gzpath = malloc(strlen(path) + 4);
    if (gzpath == NULL) {
        free(path);
        return fail(-ENOMEM, err, errlen, "write %s", relpath);
    }
    sprintf(gzpath, "%s.gz", path);
    if (gz == NULL) {
        /* A stale twin would be served for path's new bytes. */
        rc = unlink(gzpath) != 0 && errno != ENOENT ? fail(-errno, err, errlen, "unlink %s", gzpath)
                                                    : 0;
        free(gzpath);
        if (rc) {
            free(path);
            return rc;
        }
        return batch_add(b, path, data, len, err, errlen);
    }
    rc = batch_add(b, path, data, len, err, errlen);
    if (rc == 0)
        return batch_add(b, gzpath, (const char *)gz, gzlen, err, errlen);
    free(gzpath);
    return rc;
}

/* Whether files[0..i) has a file in the directory of files[i]. */
static int dir_seen(const struct batch_file *files, size_t i)
{
    const char *slash = strrchr(files[i].path, '/');
    size_t dlen = (size_t)(slash - files[i].path);
    size_t j;

    for (j = i; j-- > 0;) {
        const char *s = strrchr(files[j].path, '/');

        if ((size_t)(s - files[j].path) == dlen && memcmp(files[j].path, files[i].path, dlen) == 0)
            return 1;
    }
    return 0;
}

int tb_publish_batch_commit(struct tb_publish_batch *b, char *err, size_t errlen)
{
    size_t i;
    int rc = 0, fd;

    if (b == NULL || b->n == 0)
        goto out;
    /* One flush of the file system for all the files' data, rather than a
     * journal commit per file: a name below is only ever renamed onto data
     * already on disk. */
    fd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) != 0)
        rc = fail(-errno, err, errlen, "syncfs %s", b->dir);
    if (fd >= 0)
        close(fd);
    /* Last written first: a caller writing newest first (archive pages) never
     * has a newer file on disk without the older ones before it. */
    for (i = b->n; rc == 0 && i-- > 0;) {
        if (rename(b->files[i].tmp, b->files[i].path) != 0)
            rc = fail(-errno, err, errlen, "write %s", b->files[i].path);
        else
            b->files[i].tmp[0] = '\0'; /* renamed: nothing to remove */
    }
    for (i = 0; rc == 0 && i < b->n; i++) {
        if (!dir_seen(b->files, i))
            rc = sync_dir(b->files[i].path, err, errlen);
    }
out:
    tb_publish_batch_free(b);
    return rc;
}

void tb_publish_batch_free(struct tb_publish_batch *b)
{
    size_t i;

    if (b == NULL)
        return;
    for (i = 0; i < b->n; i++) {
        if (b->files[i].tmp[0] != '\0')
            unlink(b->files[i].tmp);
        free(b->files[i].tmp);
        free(b->files[i].path);
    }
    free(b->files);
    free(b->dir);
    free(b);
}

/* Whether name is one of our temporaries: ".NAME.tmp.XXXXXX". */
static int is_tmp_name(const char *name)
{
    size_t n = strlen(name);

    return name[0] == '.' && n > 12 && memcmp(name + n - 11, ".tmp.", 5) == 0;
}

static int clean_dir(int dirfd, int depth)
{
    DIR *d = fdopendir(dirfd);
    struct dirent *de;
    int removed = 0;

    if (d == NULL) {
        close(dirfd);
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (de->d_type == DT_DIR && depth < 8) {
            int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

            if (sub >= 0)
                removed += clean_dir(sub, depth + 1);
        } else if (de->d_type == DT_REG && is_tmp_name(de->d_name) &&
                   unlinkat(dirfd, de->d_name, 0) == 0) {
            removed++;
        }
    }
    closedir(d);
    return removed;
}

int tb_publish_clean_tmp(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    return fd < 0 ? 0 : clean_dir(fd, 0);
}
