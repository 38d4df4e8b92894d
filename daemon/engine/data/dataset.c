/* Datasets by name: find the directory, dispatch to the format's loader, check that the
 * two splits agree. Also the whole-file reader the loaders share. */
#include "dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "errors.h"

typedef enum { KIND_CIFAR10, KIND_CIFAR100, KIND_IDX, KIND_SYNTHETIC } dataset_kind;

typedef struct {
    const char *name;
    dataset_kind kind;
    const char *probe;   /* a file whose presence marks the dataset as installed */
    brn_dataset_dims dims;
} dataset_entry;

static const dataset_entry DATASETS[] = {
    {"cifar10", KIND_CIFAR10, "test_batch.bin", {50000, 10000, 3, 32, 32, 10}},
    {"cifar100", KIND_CIFAR100, "train.bin", {50000, 10000, 3, 32, 32, 100}},
    {"fashion-mnist", KIND_IDX, "train-labels-idx1-ubyte", {60000, 10000, 1, 28, 28, 10}},
    {"mnist", KIND_IDX, "train-labels-idx1-ubyte", {60000, 10000, 1, 28, 28, 10}},
    {"synthetic", KIND_SYNTHETIC, NULL,
     {BRN_SYNTHETIC_TRAIN, BRN_SYNTHETIC_TEST, BRN_SYNTHETIC_C, BRN_SYNTHETIC_SIDE, BRN_SYNTHETIC_SIDE,
      BRN_SYNTHETIC_CLASSES}},
};
#define N_DATASETS (sizeof DATASETS / sizeof DATASETS[0])

static const dataset_entry *find_entry(const char *name)
{
    for (size_t i = 0; name && i < N_DATASETS; i++)
        if (!strcmp(name, DATASETS[i].name)) return &DATASETS[i];
    return NULL;
}

int brn_dataset_known(const char *name) { return find_entry(name) != NULL; }

int brn_dataset_nominal_dims(const char *name, brn_dataset_dims *out)
{
    const dataset_entry *e = find_entry(name);
    if (!e) return BRN_EINVAL;
    *out = e->dims;
    return 0;
}

static char g_names[256];

static void join_names(void)
{
    size_t o = 0;
    for (size_t i = 0; i < N_DATASETS && o < sizeof g_names; i++)
        o += (size_t)snprintf(g_names + o, sizeof g_names - o, "%s%s", i ? ", " : "", DATASETS[i].name);
}

const char *brn_dataset_names(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, join_names);
    return g_names;
}


static const char *data_root(const char *data_dir)
{
    return data_dir && *data_dir ? data_dir : BRN_DEFAULT_DATA_DIR;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Installed = the probe file exists, plain or gzip-compressed. */
static int entry_present(const dataset_entry *e, const char *root)
{
    char path[PATH_MAX];
    if (!e->probe) return 1;
    if (snprintf(path, sizeof path, "%s/%s/%s", root, e->name, e->probe) >= (int)sizeof path) return 0;
    if (is_file(path)) return 1;
    if (snprintf(path, sizeof path, "%s/%s/%s.gz", root, e->name, e->probe) >= (int)sizeof path) return 0;
    return is_file(path);
}

/* The two splits must describe the same kind of image; a mismatch means files from two
 * different datasets were mixed in one directory. */
static int check_splits(const char *dir, const brn_dataset *train, const brn_dataset *test,
                        char *err, size_t errlen)
{
    if (train->n <= 0) return brn_errorf(err, errlen, BRN_EDATA, "%s: the training split holds no examples", dir);
    if (test->n <= 0) return brn_errorf(err, errlen, BRN_EDATA, "%s: the test split holds no examples", dir);
    if (train->c != test->c || train->h != test->h || train->w != test->w)
        return brn_errorf(err, errlen, BRN_EDATA, "%s: training images are %dx%dx%d (CxHxW) but test images are %dx%dx%d",
                    dir, train->c, train->h, train->w, test->c, test->h, test->w);
    if (train->classes != test->classes)
        return brn_errorf(err, errlen, BRN_EDATA, "%s: training split has %d classes, test split %d",
                    dir, train->classes, test->classes);
    return 0;
}

int brn_dataset_load(const char *name, const char *data_dir, brn_dataset *train, brn_dataset *test,
                 char *err, size_t errlen)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    const dataset_entry *e = find_entry(name);
    if (!e)
        return brn_errorf(err, errlen, BRN_EDATA, "unknown dataset '%s' (known: %s)", name ? name : "(null)",
                          brn_dataset_names());

    char dir[PATH_MAX] = "(built in)";
    int rc;
    if (e->kind == KIND_SYNTHETIC) {
        rc = brn_dataset_load_synthetic(train, test, err, errlen);
    } else {
        const char *root = data_root(data_dir);
        if (snprintf(dir, sizeof dir, "%s/%s", root, e->name) >= (int)sizeof dir)
            return brn_errorf(err, errlen, BRN_EDATA, "dataset '%s': data directory path too long: %s", e->name, root);
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            const char *what = stat(dir, &st) != 0 ? strerror(errno) : "not a directory";
            if (data_dir && *data_dir)
                return brn_errorf(err, errlen, BRN_EDATA, "dataset '%s' not found: %s: %s (searched data directory %s)",
                            e->name, dir, what, root);
            return brn_errorf(err, errlen, BRN_EDATA,
                        "dataset '%s' not found: %s: %s (searched the default data directory %s; "
                        "set data_dir to use another)", e->name, dir, what, root);
        }
        switch (e->kind) {
        case KIND_CIFAR10: rc = brn_dataset_load_cifar10(dir, train, test, err, errlen); break;
        case KIND_CIFAR100: rc = brn_dataset_load_cifar100(dir, train, test, err, errlen); break;
        default: rc = brn_dataset_load_idx(dir, e->dims.classes, train, test, err, errlen); break;
        }
    }
    if (rc == 0) rc = check_splits(dir, train, test, err, errlen);
    if (rc) {
        brn_dataset_free(train);
        brn_dataset_free(test);
    }
    return rc;
}

void brn_dataset_truncate(brn_dataset *d, long n)
{
    if (brn_dataset_subset_n(d->n, n) == d->n) return;
    size_t per = (size_t)d->c * d->h * d->w;
    /* Give the memory back: a small subset of a big dataset should not pin it all.
     * realloc to a smaller size may fail; the old block is then still valid. */
    uint8_t *img = realloc(d->images, (size_t)n * per);
    if (img) d->images = img;
    uint8_t *lab = realloc(d->labels, (size_t)n);
    if (lab) d->labels = lab;
    d->n = n;
}

void brn_dataset_free(brn_dataset *d)
{
    if (!d) return;
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

int brn_dataset_list_available(const char *data_dir, const char **out, int max)
{
    const char *root = data_root(data_dir);
    int count = 0;
    for (size_t i = 0; i < N_DATASETS && count < max; i++)
        if (entry_present(&DATASETS[i], root)) out[count++] = DATASETS[i].name;
    return count;
}

int brn_dataset_read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return brn_errorf(err, errlen, BRN_EDATA, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return brn_errorf(err, errlen, BRN_EDATA, "%s: not a regular file", path);
    }
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        return brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory opening the file", path);
    }
    gzbuffer(f, 1 << 20);

    /* The on-disk size is exact for a plain file and a lower bound for a gzip one; grow
     * by doubling from there. The +1 lets a plain file hit EOF without a regrow. */
    size_t cap = (size_t)st.st_size + 1, used = 0;
    if (cap < 65536) cap = 65536;
    uint8_t *data = malloc(cap);
    int rc = 0;
    if (!data) {
        rc = brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory for %zu bytes", path, cap);
        goto done;
    }
    for (;;) {
        if (used == cap) {
            if (cap > SIZE_MAX / 2) {
                rc = brn_errorf(err, errlen, BRN_ENOMEM, "%s: file too large", path);
                goto done;
            }
            uint8_t *bigger = realloc(data, cap * 2);
            if (!bigger) {
                rc = brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory for %zu bytes", path, cap * 2);
                goto done;
            }
            data = bigger;
            cap *= 2;
        }
        size_t want = cap - used;
        if (want > (1u << 30)) want = 1u << 30;   /* gzread takes an unsigned int */
        int got = gzread(f, data + used, (unsigned)want);
        if (got > 0) {
            used += (size_t)got;
            continue;
        }
        /* zlib reports a cut-off gzip stream as a plain end of file (0), with
         * Z_BUF_ERROR left in gzerror: check it on every end, not only on -1. */
        int zerr = 0;
        const char *msg = gzerror(f, &zerr);
        if (got == 0 && zerr == Z_OK) break;
        const char *tail = msg ? strstr(msg, ">: ") : NULL;
        if (msg && msg[0] == '<' && tail) msg = tail + 3;   /* drop gzdopen's "<fd:3>: " */
        if (zerr == Z_BUF_ERROR)
            rc = brn_errorf(err, errlen, BRN_EDATA, "%s: truncated gzip stream (ends after %zu decompressed bytes)",
                      path, used);
        else if (zerr == Z_MEM_ERROR)
            rc = brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory while decompressing", path);
        else if (zerr == Z_ERRNO)
            rc = brn_errorf(err, errlen, BRN_EDATA, "%s: read error: %s", path, strerror(errno));
        else
            rc = brn_errorf(err, errlen, BRN_EDATA, "%s: corrupt gzip data: %s", path, msg ? msg : "unknown error");
        goto done;
    }
    if (used < cap) {   /* hand back the slack of the doubling */
        uint8_t *fit = realloc(data, used ? used : 1);
        if (fit) data = fit;
    }
    *buf = data;
    *len = used;
    data = NULL;
done:
    free(data);
    gzclose(f);   /* closes fd too */
    return rc;
}
