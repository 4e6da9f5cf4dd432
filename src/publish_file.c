/*
 * Publish: atomic replacement of published files (temp file, fsync, rename,
 * fsync of the directory) and their gzip twins for static file servers,
 * written from the bytes the caller compressed (tb_gzip()).
 */
#include "tb_publish.h"

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

/* Replaces path with data through path's ".NAME.tmp.XXXXXX" sibling. */
static int replace(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t dirlen = (size_t)(base - path);
    char *tmp = malloc(strlen(path) + 13);
    int fd, rc;

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
    if (rc == 0 && (fchmod(fd, 0644) != 0 || fsync(fd) != 0))
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc) {
        fail(rc, err, errlen, "write %s", path);
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

int tb_publish_write_file(const char *dir, const char *relpath, const char *data, size_t len,
                          const void *gz, size_t gzlen, char *err, size_t errlen)
{
    size_t dlen;
    char *path, *slash;
    int rc;

    assert(dir != NULL && relpath != NULL && (data != NULL || len == 0));
    if (!relpath_ok(relpath))
        return fail(-EINVAL, err, errlen, "bad path %s", relpath);
    dlen = strlen(dir);
    path = malloc(dlen + strlen(relpath) + 6);
    if (path == NULL)
        return fail(-ENOMEM, err, errlen, "write %s", relpath);
    sprintf(path, "%s/%s", dlen ? dir : ".", relpath);
    slash = strrchr(path, '/');
    *slash = '\0';
    rc = make_dirs(path, err, errlen);
    *slash = '/';
    if (rc == 0)
        rc = replace(path, data, len, err, errlen);
    if (rc == 0)
        rc = write_gz(path, gz, gzlen, err, errlen);
    free(path);
    return rc;
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
