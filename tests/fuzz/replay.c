/*
 * Replays fuzz inputs without libFuzzer: every file named on the command
 * line, or found directly inside a directory named there, is read into a
 * buffer of exactly its size and passed to LLVMFuzzerTestOneInput(). Built
 * per target with the normal compiler, so the plain and sanitizer builds run
 * the corpus and the regression inputs as a unit test.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

/* Reads one file and runs the target on it; returns 0 or -1. */
static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *data = NULL;
    long size;
    int rc = -1;

    if (fp == NULL || fseek(fp, 0, SEEK_END) != 0)
        goto out;
    size = ftell(fp);
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0)
        goto out;
    /* malloc(0) may return NULL; keep at least one byte but pass the true size. */
    data = malloc(size ? (size_t)size : 1);
    if (data == NULL || fread(data, 1, (size_t)size, fp) != (size_t)size)
        goto out;
    LLVMFuzzerTestOneInput(data, (size_t)size);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
    free(data);
    if (fp)
        fclose(fp);
    return rc;
}

/* Runs every regular file directly inside dir; returns files run or -1. */
static long replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4096];
    struct stat st;
    long n = 0;

    if (d == NULL) {
        fprintf(stderr, "replay: cannot open %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (de = readdir(d); de != NULL; de = readdir(d)) {
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (de->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (replay_file(path) != 0) {
            n = -1;
            break;
        }
        n++;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    struct stat st;
    long total = 0, n;

    for (int i = 1; i < argc; i++) {
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            n = replay_dir(argv[i]);
        else
            n = replay_file(argv[i]) == 0 ? 1 : -1;
        if (n < 0)
            return 1;
        total += n;
    }
    printf("replayed %ld input(s)\n", total);
    return 0;
}
