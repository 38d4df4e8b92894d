/* CIFAR-10 / CIFAR-100 binary batches: fixed-size records of label byte(s) followed by
 * 3072 pixel bytes (1024 red, 1024 green, 1024 blue, rows of 32), i.e. already CHW.
 *   cifar10/data_batch_<k>.bin (all present, by k) + test_batch.bin   1 label byte
 *   cifar100/train.bin + test.bin                    2 label bytes: coarse, fine (used)
 * A file may hold any whole number of records, so subsets and re-split batches work. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "errors.h"

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR10_MAX_BATCHES 64


typedef struct {
    const char *what;   /* "CIFAR-10" for messages */
    int label_bytes;    /* 1 or 2; the last one is the label used */
    int classes;
    int coarse_classes; /* CIFAR-100's first label byte, checked too (0: none) */
} cifar_format;

static const cifar_format CIFAR10 = {.what = "CIFAR-10", .label_bytes = 1, .classes = 10, .coarse_classes = 0};
static const cifar_format CIFAR100 = {.what = "CIFAR-100", .label_bytes = 2, .classes = 100, .coarse_classes = 20};

/* Appends one file's records to d, checking size and labels first so a bad file leaves
 * d as it was. */
static int cifar_append_file(const char *path, const cifar_format *fmt, brn_dataset *d,
                             char *err, size_t errlen)
{
    const size_t rec = (size_t)fmt->label_bytes + CIFAR_PIXELS;
    uint8_t *buf;
    size_t len;
    int rc = brn_dataset_read_file(path, &buf, &len, err, errlen);
    if (rc) return rc;
    size_t count = len / rec;
    if (len % rec) {
        rc = brn_errorf(err, errlen, BRN_EDATA,
                  "%s: truncated or not a %s batch: %zu bytes is not a whole number of %zu-byte records "
                  "(%zu records and %zu bytes over)", path, fmt->what, len, rec, count, len % rec);
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        const uint8_t *r = buf + i * rec;
        int fine = r[fmt->label_bytes - 1];
        if (fmt->coarse_classes && r[0] >= fmt->coarse_classes) {
            rc = brn_errorf(err, errlen, BRN_EDATA, "%s: mislabeled: coarse label %d at record %zu, expected 0..%d",
                      path, r[0], i, fmt->coarse_classes - 1);
            goto out;
        }
        if (fine >= fmt->classes) {
            rc = brn_errorf(err, errlen, BRN_EDATA, "%s: mislabeled: label %d at record %zu, expected 0..%d",
                      path, fine, i, fmt->classes - 1);
            goto out;
        }
    }
    if (count == 0) goto out;   /* an empty file is a whole number of records too */
    if (count > (size_t)(INT32_MAX - d->n)) {
        rc = brn_errorf(err, errlen, BRN_EDATA, "%s: too many records in total", path);
        goto out;
    }
    size_t n = (size_t)d->n + count;
    uint8_t *img = realloc(d->images, n * CIFAR_PIXELS);
    if (!img) {
        rc = brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory for %zu images", path, n);
        goto out;
    }
    d->images = img;
    uint8_t *lab = realloc(d->labels, n);
    if (!lab) {
        rc = brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory for %zu labels", path, n);
        goto out;
    }
    d->labels = lab;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *r = buf + i * rec;
        d->labels[d->n + i] = r[fmt->label_bytes - 1];
        memcpy(d->images + (d->n + i) * CIFAR_PIXELS, r + fmt->label_bytes, CIFAR_PIXELS);
    }
    d->n = (long)n;
out:
    free(buf);
    return rc;
}

static void cifar_init(brn_dataset *d, const cifar_format *fmt)
{
    memset(d, 0, sizeof *d);
    d->c = 3;
    d->h = d->w = CIFAR_SIDE;
    d->classes = fmt->classes;
}

static int cifar_load_files(const char *dir, const char *const *train_files, int n_train,
                            const char *test_file, const cifar_format *fmt,
                            brn_dataset *train, brn_dataset *test, char *err, size_t errlen)
{
    char path[PATH_MAX];
    int rc = 0;
    cifar_init(train, fmt);
    cifar_init(test, fmt);
    for (int i = 0; i < n_train && !rc; i++) {
        if (snprintf(path, sizeof path, "%s/%s", dir, train_files[i]) >= (int)sizeof path)
            rc = brn_errorf(err, errlen, BRN_EDATA, "%s/%s: path too long", dir, train_files[i]);
        else
            rc = cifar_append_file(path, fmt, train, err, errlen);
    }
    if (!rc && train->n == 0)
        rc = brn_errorf(err, errlen, BRN_EDATA, "%s: the training files hold no records", dir);
    if (!rc) {
        if (snprintf(path, sizeof path, "%s/%s", dir, test_file) >= (int)sizeof path)
            rc = brn_errorf(err, errlen, BRN_EDATA, "%s/%s: path too long", dir, test_file);
        else
            rc = cifar_append_file(path, fmt, test, err, errlen);
    }
    if (!rc && test->n == 0)
        rc = brn_errorf(err, errlen, BRN_EDATA, "%s: holds no records", path);
    if (rc) {
        brn_dataset_free(train);
        brn_dataset_free(test);
    }
    return rc;
}

/* "data_batch_<k>.bin" with k a plain decimal number; anything else is not a batch. */
static int batch_number(const char *name)
{
    static const char prefix[] = "data_batch_";
    if (strncmp(name, prefix, sizeof prefix - 1)) return -1;
    const char *p = name + sizeof prefix - 1;
    if (*p < '0' || *p > '9') return -1;
    long k = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        k = k * 10 + (*p - '0');
        if (k > 1000000) return -1;
    }
    return strcmp(p, ".bin") ? -1 : (int)k;
}

typedef struct {
    int number;
    char name[64];
} batch_file;

static int batch_cmp(const void *a, const void *b)
{
    const batch_file *x = a, *y = b;
    if (x->number != y->number) return x->number < y->number ? -1 : 1;
    return strcmp(x->name, y->name);   /* data_batch_1 before data_batch_01 */
}

int brn_dataset_load_cifar10(const char *dir, brn_dataset *train, brn_dataset *test,
                         char *err, size_t errlen)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    DIR *dh = opendir(dir);
    if (!dh) return brn_errorf(err, errlen, BRN_EDATA, "%s: cannot open directory: %s", dir, strerror(errno));
    batch_file files[CIFAR10_MAX_BATCHES];
    int n = 0, too_many = 0;
    struct dirent *ent;
    while ((ent = readdir(dh))) {
        int k = batch_number(ent->d_name);
        if (k < 0 || strlen(ent->d_name) >= sizeof files[0].name) continue;
        if (n == CIFAR10_MAX_BATCHES) {
            too_many = 1;
            break;
        }
        files[n].number = k;
        strcpy(files[n].name, ent->d_name);
        n++;
    }
    closedir(dh);
    if (too_many)
        return brn_errorf(err, errlen, BRN_EDATA, "%s: more than %d data_batch_*.bin files", dir, CIFAR10_MAX_BATCHES);
    if (n == 0)
        return brn_errorf(err, errlen, BRN_EDATA, "%s: no training batches (data_batch_1.bin ... data_batch_5.bin)", dir);
    /* readdir order is arbitrary; batch order decides the unshuffled data order */
    qsort(files, n, sizeof files[0], batch_cmp);
    const char *names[CIFAR10_MAX_BATCHES];
    for (int i = 0; i < n; i++) names[i] = files[i].name;
    return cifar_load_files(dir, names, n, "test_batch.bin", &CIFAR10, train, test, err, errlen);
}

int brn_dataset_load_cifar100(const char *dir, brn_dataset *train, brn_dataset *test,
                          char *err, size_t errlen)
{
    static const char *const train_files[] = {"train.bin"};
    return cifar_load_files(dir, train_files, 1, "test.bin", &CIFAR100, train, test, err, errlen);
}
