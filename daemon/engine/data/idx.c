/* IDX files (MNIST, Fashion-MNIST): big-endian header, then unsigned bytes.
 *   images: magic 2051 (0x00000803), count, rows, cols, then count*rows*cols pixels
 *   labels: magic 2049 (0x00000801), count, then count labels
 * Each file may be plain or gzip-compressed (name.gz); the whole file must match its
 * header exactly, so a truncated or padded file is reported instead of misread. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "errors.h"

#define IDX_IMAGES_MAGIC 2051u
#define IDX_LABELS_MAGIC 2049u


static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The plain file wins when both exist: it is the one somebody unpacked on purpose. */
static int idx_find(const char *dir, const char *base, char *path, size_t pathlen, char *err, size_t errlen)
{
    struct stat st;
    if (snprintf(path, pathlen, "%s/%s", dir, base) >= (int)pathlen)
        return brn_errorf(err, errlen, BRN_EDATA, "%s/%s: path too long", dir, base);
    if (stat(path, &st) == 0) return 0;
    if (snprintf(path, pathlen, "%s/%s.gz", dir, base) >= (int)pathlen)
        return brn_errorf(err, errlen, BRN_EDATA, "%s/%s.gz: path too long", dir, base);
    if (stat(path, &st) == 0) return 0;
    return brn_errorf(err, errlen, BRN_EDATA, "%s/%s: not found (nor %s/%s.gz)", dir, base, dir, base);
}

static int bad_magic(const char *path, uint32_t magic, uint32_t want, char *err, size_t errlen)
{
    const char *kind = want == IDX_IMAGES_MAGIC ? "unsigned-byte images, 3 dimensions"
                                                : "unsigned-byte labels, 1 dimension";
    const char *hint = "";
    if (magic == IDX_IMAGES_MAGIC) hint = " (this is an image file)";
    else if (magic == IDX_LABELS_MAGIC) hint = " (this is a label file)";
    return brn_errorf(err, errlen, BRN_EDATA, "%s: bad magic number %u (0x%08x)%s; expected %u (0x%08x, %s)",
                path, magic, magic, hint, want, want, kind);
}

/* Reads an image file into d (c = 1); the pixels are moved to the front of the file's own
 * buffer so a 47 MB file costs 47 MB, not twice that. */
static int idx_read_images(const char *path, brn_dataset *d, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    int rc = brn_dataset_read_file(path, &buf, &len, err, errlen);
    if (rc) return rc;
    /* The magic first: a wrong kind of file is a better diagnosis than a short header. */
    if (len >= 4 && be32(buf) != IDX_IMAGES_MAGIC) {
        rc = bad_magic(path, be32(buf), IDX_IMAGES_MAGIC, err, errlen);
        goto out;
    }
    if (len < 16) {
        rc = brn_errorf(err, errlen, BRN_EDATA, "%s: truncated: %zu bytes, shorter than the 16-byte IDX image header",
                  path, len);
        goto out;
    }
    uint32_t n = be32(buf + 4), rows = be32(buf + 8), cols = be32(buf + 12);
    if (n == 0 || rows == 0 || cols == 0) {
        rc = brn_errorf(err, errlen, BRN_EDATA, "%s: header says %u images of %ux%u: nothing to load", path, n, rows, cols);
        goto out;
    }
    if (rows > 65535 || cols > 65535 || n > INT32_MAX) {
        rc = brn_errorf(err, errlen, BRN_EDATA, "%s: implausible header: %u images of %ux%u", path, n, rows, cols);
        goto out;
    }
    uint64_t need = (uint64_t)n * rows * cols, have = len - 16;
    if (have < need) {
        rc = brn_errorf(err, errlen, BRN_EDATA,
                  "%s: truncated: header says %u images of %ux%u, file holds %llu bytes of pixels (needs %llu)",
                  path, n, rows, cols, (unsigned long long)have, (unsigned long long)need);
        goto out;
    }
    if (have > need) {
        rc = brn_errorf(err, errlen, BRN_EDATA,
                  "%s: corrupt: header says %u images of %ux%u (%llu bytes of pixels) but %llu bytes follow it",
                  path, n, rows, cols, (unsigned long long)need, (unsigned long long)have);
        goto out;
    }
    memmove(buf, buf + 16, need);
    uint8_t *fit = realloc(buf, need);
    if (fit) buf = fit;
    d->images = buf;
    buf = NULL;
    d->n = n;
    d->c = 1;
    d->h = (int)rows;
    d->w = (int)cols;
out:
    free(buf);
    return rc;
}

static int idx_read_labels(const char *path, int classes, uint8_t **labels, long *count,
                           char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    int rc = brn_dataset_read_file(path, &buf, &len, err, errlen);
    if (rc) return rc;
    if (len >= 4 && be32(buf) != IDX_LABELS_MAGIC) {
        rc = bad_magic(path, be32(buf), IDX_LABELS_MAGIC, err, errlen);
        goto out;
    }
    if (len < 8) {
        rc = brn_errorf(err, errlen, BRN_EDATA, "%s: truncated: %zu bytes, shorter than the 8-byte IDX label header",
                  path, len);
        goto out;
    }
    uint32_t n = be32(buf + 4);
    uint64_t have = len - 8;
    if (have < n) {
        rc = brn_errorf(err, errlen, BRN_EDATA, "%s: truncated: header says %u labels, file holds %llu",
                  path, n, (unsigned long long)have);
        goto out;
    }
    if (have > n) {
        rc = brn_errorf(err, errlen, BRN_EDATA, "%s: corrupt: header says %u labels but %llu bytes follow it",
                  path, n, (unsigned long long)have);
        goto out;
    }
    for (uint32_t i = 0; i < n; i++)
        if (buf[8 + i] >= classes) {
            rc = brn_errorf(err, errlen, BRN_EDATA, "%s: mislabeled: label %u at index %u, expected 0..%d",
                      path, buf[8 + i], i, classes - 1);
            goto out;
        }
    memmove(buf, buf + 8, n);
    *labels = buf;
    *count = n;
    buf = NULL;
out:
    free(buf);
    return rc;
}

/* One split: "train" or "t10k". */
static int idx_load_split(const char *dir, const char *prefix, int classes, brn_dataset *d,
                          char *img_path, size_t pathlen, char *err, size_t errlen)
{
    char base[64], lab_path[PATH_MAX];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", prefix);
    int rc = idx_find(dir, base, img_path, pathlen, err, errlen);
    if (rc) return rc;
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", prefix);
    rc = idx_find(dir, base, lab_path, sizeof lab_path, err, errlen);
    if (rc) return rc;
    rc = idx_read_images(img_path, d, err, errlen);
    if (rc) return rc;
    long n_labels = 0;
    rc = idx_read_labels(lab_path, classes, &d->labels, &n_labels, err, errlen);
    if (rc) return rc;
    if (n_labels != d->n)
        return brn_errorf(err, errlen, BRN_EDATA, "%s holds %ld labels but %s holds %ld images",
                    lab_path, n_labels, img_path, d->n);
    d->classes = classes;
    return 0;
}

int brn_dataset_load_idx(const char *dir, int classes, brn_dataset *train, brn_dataset *test,
                     char *err, size_t errlen)
{
    char train_path[PATH_MAX], test_path[PATH_MAX];
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (classes < 1 || classes > 256)
        return brn_errorf(err, errlen, BRN_EDATA, "%s: %d classes cannot be stored in byte labels", dir, classes);
    int rc = idx_load_split(dir, "train", classes, train, train_path, sizeof train_path, err, errlen);
    if (!rc) rc = idx_load_split(dir, "t10k", classes, test, test_path, sizeof test_path, err, errlen);
    if (!rc && (test->h != train->h || test->w != train->w))
        rc = brn_errorf(err, errlen, BRN_EDATA, "%s: images are %dx%d but the training images (%s) are %dx%d",
                  test_path, test->h, test->w, train_path, train->h, train->w);
    if (rc) {
        brn_dataset_free(train);
        brn_dataset_free(test);
    }
    return rc;
}
