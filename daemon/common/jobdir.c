/* A job's checkpoint directory: size, retention of epoch-N files, removal. */
#include "common/jobdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOBDIR_PARENT "jobs"

int jobdir_parent(char *buf, size_t n, const char *state_dir)
{
    int len = snprintf(buf, n, "%s/" JOBDIR_PARENT, state_dir);
    return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

int jobdir_path(char *buf, size_t n, const char *state_dir, int64_t id)
{
    int len = snprintf(buf, n, "%s/" JOBDIR_PARENT "/%lld", state_dir, (long long)id);
    return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

int64_t jobdir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int64_t total = 0;
    struct dirent *e;
    struct stat st;
    while ((e = readdir(d)))
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) total += st.st_size;
    closedir(d);
    return total;
}

/* The N of "epoch-N.safetensors", or -1. */
static long epoch_of(const char *name)
{
    long n;
    int used = 0;
    if (sscanf(name, "epoch-%ld.safetensors%n", &n, &used) != 1 || name[used] || n < 0) return -1;
    return n;
}

static int by_epoch_desc(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int jobdir_retain(const char *dir, int keep, void (*removed)(const char *path, void *user), void *user)
{
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : -errno;
    long *epochs = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        long k = epoch_of(e->d_name);
        if (k < 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            long *p = realloc(epochs, cap * sizeof *p);
            if (!p) {
                rc = -ENOMEM;
                break;
            }
            epochs = p;
        }
        epochs[n++] = k;
    }
    closedir(d);
    if (rc == 0 && n > (size_t)keep) {
        qsort(epochs, n, sizeof *epochs, by_epoch_desc);
        for (size_t i = (size_t)keep; i < n; i++) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/epoch-%ld.safetensors", dir, epochs[i]);
            if (unlink(path) && errno != ENOENT) {
                rc = -errno;
                break;
            }
            if (removed) removed(path, user);
        }
    }
    free(epochs);
    return rc;
}

int jobdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : -errno;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (unlinkat(dirfd(d), e->d_name, 0) && errno != ENOENT) {
            rc = -errno;
            break;
        }
    }
    closedir(d);
    if (rc == 0 && rmdir(dir) && errno != ENOENT) rc = -errno;
    return rc;
}
