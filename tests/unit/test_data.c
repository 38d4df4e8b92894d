/* Dataset loaders: real Fashion-MNIST from /usr/share/datasets, CIFAR and IDX files made
 * here in temporary directories (good and broken), the synthetic generator, and the
 * helpers around them. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Paths here are short temporary names; GCC cannot know that the buffers suffice. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include "check.h"
#include "data/dataset.h"
#include "errors.h"

#define FMNIST_DIR BRN_DEFAULT_DATA_DIR "/fashion-mnist"
/* FNV-1a over the synthetic train images, labels, test images, labels. */
#define SYNTHETIC_FINGERPRINT 0x50452a985519108eULL

/* ---- temporary directories and file writers ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *make_tmpdir(char *buf, size_t len)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, len, "%s/brn-test-data-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(buf);
}

static void make_subdir(char *out, size_t len, const char *root, const char *name)
{
    snprintf(out, len, "%s/%s", root, name);
    mkdir(out, 0700);
}

/* Writes bytes to dir/name, gzip-compressed when gz is set. */
static void write_file(const char *dir, const char *name, const void *data, size_t len, int gz)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        CHECK(f != NULL);
        if (!f) return;
        if (len) CHECK(gzwrite(f, data, (unsigned)len) == (int)len);
        CHECK(gzclose(f) == Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        CHECK(f != NULL);
        if (!f) return;
        if (len) CHECK(fwrite(data, 1, len, f) == len);
        fclose(f);
    }
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

/* An IDX image file of n images of rows x cols; pixel j of image i is (i*7 + j) & 255,
 * with the header's magic and count overridable to make broken files. */
static size_t idx_images(uint8_t *buf, uint32_t magic, uint32_t n_header, uint32_t n, int rows, int cols)
{
    put_be32(buf, magic);
    put_be32(buf + 4, n_header);
    put_be32(buf + 8, rows);
    put_be32(buf + 12, cols);
    for (uint32_t i = 0; i < n; i++)
        for (int j = 0; j < rows * cols; j++) buf[16 + i * rows * cols + j] = (uint8_t)(i * 7 + j);
    return 16 + (size_t)n * rows * cols;
}

/* Labels i % classes. */
static size_t idx_labels(uint8_t *buf, uint32_t magic, uint32_t n, int classes)
{
    put_be32(buf, magic);
    put_be32(buf + 4, n);
    for (uint32_t i = 0; i < n; i++) buf[8 + i] = (uint8_t)(i % classes);
    return 8 + n;
}

/* A complete small IDX dataset: 6 train / 4 test images of 4x5. */
static void write_small_idx(const char *dir, int gz)
{
    uint8_t buf[4096];
    char name[64];
    static const char *const split[2] = {"train", "t10k"};
    static const uint32_t count[2] = {6, 4};
    for (int s = 0; s < 2; s++) {
        size_t len = idx_images(buf, 2051, count[s], count[s], 4, 5);
        snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", split[s], gz ? ".gz" : "");
        write_file(dir, name, buf, len, gz);
        len = idx_labels(buf, 2049, count[s], 10);
        snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", split[s], gz ? ".gz" : "");
        write_file(dir, name, buf, len, gz);
    }
}

/* CIFAR records: label bytes, then 3072 pixels; pixel j of a record is (tag + j) & 255 so
 * a record's origin is readable from its first pixel. */
static size_t cifar_records(uint8_t *buf, int label_bytes, int n, int tag, const uint8_t *labels)
{
    size_t rec = label_bytes + 3072;
    for (int i = 0; i < n; i++) {
        uint8_t *r = buf + i * rec;
        for (int b = 0; b < label_bytes; b++) r[b] = labels[i * label_bytes + b];
        for (int j = 0; j < 3072; j++) r[label_bytes + j] = (uint8_t)(tag + i + j);
    }
    return n * rec;
}

static int is_empty(const brn_dataset *d)
{
    return d->n == 0 && d->images == NULL && d->labels == NULL;
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ULL;
    return h;
}

static size_t image_bytes(const brn_dataset *d)
{
    return (size_t)d->n * d->c * d->h * d->w;
}

/* Loads name from data_dir expecting failure; checks the message holds both needles and
 * the outputs are left empty. */
static void expect_error(const char *name, const char *data_dir, const char *needle1, const char *needle2)
{
    brn_dataset tr, te;
    char err[1024] = "";
    int rc = brn_dataset_load(name, data_dir, &tr, &te, err, sizeof err);
    fprintf(stderr, "  error: %s\n", err);
    CHECK_EQ_INT(rc, BRN_EDATA);
    CHECK_STR_CONTAINS(err, needle1);
    if (needle2) CHECK_STR_CONTAINS(err, needle2);
    CHECK(is_empty(&tr));
    CHECK(is_empty(&te));
    brn_dataset_free(&tr);
    brn_dataset_free(&te);
}

/* ---- real data ---- */

static void test_fashion_mnist_installed(void)
{
    brn_dataset tr, te;
    char err[1024] = "";
    int rc = brn_dataset_load("fashion-mnist", "", &tr, &te, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "  %s (is dataset-fashion-mnist installed?)\n", err);
        return;
    }
    CHECK_EQ_INT(tr.n, 60000);
    CHECK_EQ_INT(te.n, 10000);
    CHECK_EQ_INT(tr.c, 1);
    CHECK_EQ_INT(tr.h, 28);
    CHECK_EQ_INT(tr.w, 28);
    CHECK_EQ_INT(te.h, 28);
    CHECK_EQ_INT(tr.classes, 10);
    /* Values read independently with python3's gzip module. */
    CHECK_EQ_INT(tr.labels[0], 9);
    CHECK_EQ_INT(tr.labels[3], 3);
    CHECK_EQ_INT(te.labels[0], 9);
    CHECK_EQ_INT(te.labels[1], 2);
    long sum = 0;
    for (int j = 0; j < 784; j++) sum += tr.images[j];
    CHECK_EQ_INT(sum, 76247);
    sum = 0;
    for (int j = 0; j < 784; j++) sum += te.images[j];
    CHECK_EQ_INT(sum, 33456);
    CHECK_EQ_INT(te.images[9999 * 784 + 400], 45);
    long per_class[10] = {0};
    for (long i = 0; i < tr.n; i++) per_class[tr.labels[i]]++;
    for (int k = 0; k < 10; k++) CHECK_EQ_INT(per_class[k], 6000);
    brn_dataset_free(&tr);
    brn_dataset_free(&te);
    CHECK(is_empty(&tr));
}

/* The test split unpacked to plain files, the training split linked as .gz: the same
 * bytes as the all-gzip original. */
static void test_plain_and_gz_identical(void)
{
    char root[4096], dir[4096], err[1024] = "";
    if (!make_tmpdir(root, sizeof root)) { CHECK(0); return; }
    make_subdir(dir, sizeof dir, root, "fashion-mnist");
    static const char *const plain[] = {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 2; i++) {
        char src[4096];
        snprintf(src, sizeof src, "%s/%s.gz", FMNIST_DIR, plain[i]);
        uint8_t *buf;
        size_t len;
        CHECK_EQ_INT(brn_dataset_read_file(src, &buf, &len, err, sizeof err), 0);
        if (!buf) continue;
        write_file(dir, plain[i], buf, len, 0);
        free(buf);
    }
    static const char *const gz[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"};
    for (int i = 0; i < 2; i++) {
        char src[4096], dst[4096];
        snprintf(src, sizeof src, "%s/%s", FMNIST_DIR, gz[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, gz[i]);
        CHECK_EQ_INT(symlink(src, dst), 0);
    }
    brn_dataset a_tr, a_te, b_tr, b_te;
    CHECK_EQ_INT(brn_dataset_load("fashion-mnist", "", &a_tr, &a_te, err, sizeof err), 0);
    CHECK_EQ_INT(brn_dataset_load("fashion-mnist", root, &b_tr, &b_te, err, sizeof err), 0);
    CHECK_EQ_INT(b_te.n, a_te.n);
    CHECK_EQ_INT(b_tr.n, a_tr.n);
    if (a_te.n == b_te.n && a_te.n > 0) {
        CHECK(memcmp(a_te.images, b_te.images, image_bytes(&a_te)) == 0);
        CHECK(memcmp(a_te.labels, b_te.labels, a_te.n) == 0);
    }
    if (a_tr.n == b_tr.n && a_tr.n > 0) CHECK(memcmp(a_tr.images, b_tr.images, image_bytes(&a_tr)) == 0);
    brn_dataset_free(&a_tr); brn_dataset_free(&a_te); brn_dataset_free(&b_tr); brn_dataset_free(&b_te);

    /* Small generated files: plain under mnist/, gzip under a second root's mnist/. */
    char root2[4096], dir2[4096];
    make_subdir(dir, sizeof dir, root, "mnist");
    write_small_idx(dir, 0);
    if (!make_tmpdir(root2, sizeof root2)) { CHECK(0); rm_tree(root); return; }
    make_subdir(dir2, sizeof dir2, root2, "mnist");
    write_small_idx(dir2, 1);
    CHECK_EQ_INT(brn_dataset_load("mnist", root, &a_tr, &a_te, err, sizeof err), 0);
    CHECK_EQ_INT(brn_dataset_load("mnist", root2, &b_tr, &b_te, err, sizeof err), 0);
    CHECK_EQ_INT(a_tr.n, 6);
    CHECK_EQ_INT(a_te.n, 4);
    CHECK_EQ_INT(a_tr.h, 4);
    CHECK_EQ_INT(a_tr.w, 5);
    CHECK_EQ_INT(b_tr.n, 6);
    if (a_tr.n == 6 && b_tr.n == 6) {
        CHECK(memcmp(a_tr.images, b_tr.images, 6 * 20) == 0);
        CHECK(memcmp(a_tr.labels, b_tr.labels, 6) == 0);
        CHECK_EQ_INT(a_tr.images[2 * 20 + 3], 2 * 7 + 3);
        CHECK_EQ_INT(a_tr.labels[5], 5);
    }
    brn_dataset_free(&a_tr); brn_dataset_free(&a_te); brn_dataset_free(&b_tr); brn_dataset_free(&b_te);
    rm_tree(root);
    rm_tree(root2);
}

/* ---- CIFAR ---- */

static void test_cifar10_batches_in_order(void)
{
    char root[4096], dir[4096], err[1024] = "";
    if (!make_tmpdir(root, sizeof root)) { CHECK(0); return; }
    make_subdir(dir, sizeof dir, root, "cifar10");
    static uint8_t buf[8 * 3073];
    uint8_t labels[8];
    /* Written out of order, with an empty batch and a stray file, to test discovery. */
    static const struct { const char *name; int n, tag; } files[] = {
        {"data_batch_3.bin", 1, 30}, {"data_batch_1.bin", 3, 10}, {"data_batch_2.bin", 2, 20},
        {"data_batch_4.bin", 0, 0}, {"test_batch.bin", 4, 90}, {"data_batch_x.bin", 1, 99},
        {"batches.meta.txt", 0, 0},
    };
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        for (int i = 0; i < files[f].n; i++) labels[i] = (uint8_t)((files[f].tag / 10 + i) % 10);
        size_t len = cifar_records(buf, 1, files[f].n, files[f].tag, labels);
        write_file(dir, files[f].name, buf, len, 0);
    }
    brn_dataset tr, te;
    int rc = brn_dataset_load("cifar10", root, &tr, &te, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc) { fprintf(stderr, "  %s\n", err); rm_tree(root); return; }
    CHECK_EQ_INT(tr.n, 6);
    CHECK_EQ_INT(te.n, 4);
    CHECK_EQ_INT(tr.c, 3);
    CHECK_EQ_INT(tr.h, 32);
    CHECK_EQ_INT(tr.w, 32);
    CHECK_EQ_INT(tr.classes, 10);
    /* batch 1 (3 records, tag 10), batch 2 (2, tag 20), batch 3 (1, tag 30) */
    static const int first_pixel[6] = {10, 11, 12, 20, 21, 30};
    static const int label[6] = {1, 2, 3, 2, 3, 3};
    for (int i = 0; i < 6; i++) {
        CHECK_EQ_INT(tr.images[i * 3072], first_pixel[i]);
        CHECK_EQ_INT(tr.labels[i], label[i]);
    }
    /* CHW as stored: the blue plane's first pixel is byte 2048 of the record */
    CHECK_EQ_INT(tr.images[1 * 3072 + 2048], (11 + 2048) & 255);
    CHECK_EQ_INT(te.images[3 * 3072 + 5], 90 + 3 + 5);
    CHECK_EQ_INT(te.labels[3], (9 + 3) % 10);
    brn_dataset_free(&tr);
    brn_dataset_free(&te);
    rm_tree(root);
}

static void test_cifar100_fine_labels(void)
{
    char root[4096], dir[4096], err[1024] = "";
    if (!make_tmpdir(root, sizeof root)) { CHECK(0); return; }
    make_subdir(dir, sizeof dir, root, "cifar100");
    static uint8_t buf[5 * 3074];
    const uint8_t train_labels[10] = {3, 99, 19, 0, 0, 42, 7, 55, 12, 80};  /* coarse, fine pairs */
    const uint8_t test_labels[4] = {1, 17, 2, 98};
    write_file(dir, "train.bin", buf, cifar_records(buf, 2, 5, 100, train_labels), 0);
    write_file(dir, "test.bin", buf, cifar_records(buf, 2, 2, 200, test_labels), 0);
    brn_dataset tr, te;
    int rc = brn_dataset_load("cifar100", root, &tr, &te, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc) { fprintf(stderr, "  %s\n", err); rm_tree(root); return; }
    CHECK_EQ_INT(tr.n, 5);
    CHECK_EQ_INT(te.n, 2);
    CHECK_EQ_INT(tr.classes, 100);
    CHECK_EQ_INT(tr.c, 3);
    static const int fine[5] = {99, 0, 42, 55, 80};
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(tr.labels[i], fine[i]);
        CHECK_EQ_INT(tr.images[i * 3072], 100 + i);
    }
    CHECK_EQ_INT(te.labels[1], 98);
    CHECK_EQ_INT(te.images[3072 + 3071], (200 + 1 + 3071) & 255);
    brn_dataset_free(&tr);
    brn_dataset_free(&te);
    rm_tree(root);
}

/* ---- broken files ---- */

static void test_cifar_errors(void)
{
    char root[4096], dir10[4096], dir100[4096], path[4096];
    if (!make_tmpdir(root, sizeof root)) { CHECK(0); return; }
    make_subdir(dir10, sizeof dir10, root, "cifar10");
    make_subdir(dir100, sizeof dir100, root, "cifar100");
    static uint8_t buf[4 * 3074];
    uint8_t labels[8] = {1, 2, 3, 4, 5, 6, 7, 8};

    /* no training batch at all */
    write_file(dir10, "test_batch.bin", buf, cifar_records(buf, 1, 2, 0, labels), 0);
    expect_error("cifar10", root, dir10, "no training batches");

    /* truncated: two records and 100 bytes */
    write_file(dir10, "data_batch_1.bin", buf, cifar_records(buf, 1, 2, 0, labels) + 100, 0);
    snprintf(path, sizeof path, "%s/data_batch_1.bin", dir10);
    expect_error("cifar10", root, path, "not a whole number of 3073-byte records");

    /* label 10 in a 10-class set, at record 1 */
    labels[1] = 10;
    write_file(dir10, "data_batch_1.bin", buf, cifar_records(buf, 1, 2, 0, labels), 0);
    expect_error("cifar10", root, path, "mislabeled: label 10 at record 1");
    labels[1] = 2;

    /* the test batch missing */
    write_file(dir10, "data_batch_1.bin", buf, cifar_records(buf, 1, 2, 0, labels), 0);
    snprintf(path, sizeof path, "%s/test_batch.bin", dir10);
    remove(path);
    expect_error("cifar10", root, path, "cannot open");

    /* CIFAR-100: fine label 100, then coarse label 20 */
    uint8_t l100[4] = {1, 5, 2, 100};
    write_file(dir100, "train.bin", buf, cifar_records(buf, 2, 2, 0, l100), 0);
    write_file(dir100, "test.bin", buf, cifar_records(buf, 2, 1, 0, l100), 0);
    snprintf(path, sizeof path, "%s/train.bin", dir100);
    expect_error("cifar100", root, path, "mislabeled: label 100 at record 1");
    l100[3] = 99;
    l100[2] = 20;
    write_file(dir100, "train.bin", buf, cifar_records(buf, 2, 2, 0, l100), 0);
    expect_error("cifar100", root, path, "coarse label 20 at record 1");
    /* a CIFAR-10 batch where CIFAR-100 is expected: 2 x 3073 bytes */
    write_file(dir100, "train.bin", buf, cifar_records(buf, 1, 2, 0, labels), 0);
    expect_error("cifar100", root, path, "3074-byte records");
    rm_tree(root);
}

static void test_idx_errors(void)
{
    char root[4096], dir[4096], path[4096], lpath[4096];
    if (!make_tmpdir(root, sizeof root)) { CHECK(0); return; }
    make_subdir(dir, sizeof dir, root, "mnist");
    static uint8_t buf[4096];
    write_small_idx(dir, 0);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    snprintf(lpath, sizeof lpath, "%s/train-labels-idx1-ubyte", dir);

    /* truncated plain file: header says 6 images of 4x5 = 120 bytes, 30 present */
    idx_images(buf, 2051, 6, 6, 4, 5);
    write_file(dir, "train-images-idx3-ubyte", buf, 16 + 30, 0);
    expect_error("mnist", root, path, "truncated: header says 6 images of 4x5, file holds 30 bytes of pixels");

    /* longer than the header says */
    size_t len = idx_images(buf, 2051, 5, 6, 4, 5);
    write_file(dir, "train-images-idx3-ubyte", buf, len, 0);
    expect_error("mnist", root, path, "header says 5 images of 4x5");

    /* bad magic, and a label file where images belong */
    len = idx_images(buf, 0x12345678, 6, 6, 4, 5);
    write_file(dir, "train-images-idx3-ubyte", buf, len, 0);
    expect_error("mnist", root, path, "bad magic number");
    len = idx_labels(buf, 2049, 6, 10);
    write_file(dir, "train-images-idx3-ubyte", buf, len, 0);
    expect_error("mnist", root, path, "this is a label file");

    /* counts disagree: 6 images, 5 labels */
    len = idx_images(buf, 2051, 6, 6, 4, 5);
    write_file(dir, "train-images-idx3-ubyte", buf, len, 0);
    len = idx_labels(buf, 2049, 5, 10);
    write_file(dir, "train-labels-idx1-ubyte", buf, len, 0);
    expect_error("mnist", root, lpath, "holds 5 labels but");
    expect_error("mnist", root, path, "holds 6 images");

    /* out-of-range label at index 3 */
    len = idx_labels(buf, 2049, 6, 10);
    buf[8 + 3] = 10;
    write_file(dir, "train-labels-idx1-ubyte", buf, len, 0);
    expect_error("mnist", root, lpath, "mislabeled: label 10 at index 3");

    /* a missing file names both names tried */
    remove(lpath);
    expect_error("mnist", root, lpath, "not found");
    expect_error("mnist", root, "train-labels-idx1-ubyte.gz", NULL);

    /* truncated gzip: the compressed file cut in half */
    len = idx_labels(buf, 2049, 6, 10);
    write_file(dir, "train-labels-idx1-ubyte.gz", buf, len, 1);
    char gzpath[4096];
    snprintf(gzpath, sizeof gzpath, "%s.gz", lpath);
    struct stat st;
    CHECK_EQ_INT(stat(gzpath, &st), 0);
    CHECK_EQ_INT(truncate(gzpath, st.st_size / 2), 0);
    expect_error("mnist", root, gzpath, "truncated");

    /* corrupt gzip: one byte of the trailer's CRC changed */
    write_file(dir, "train-labels-idx1-ubyte.gz", buf, len, 1);
    FILE *f = fopen(gzpath, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, -6, SEEK_END);
        int c = fgetc(f);
        fseek(f, -6, SEEK_END);
        fputc(c ^ 0x55, f);
        fclose(f);
    }
    expect_error("mnist", root, gzpath, "corrupt gzip data");

    /* a gzip file under the plain name is still read (by content) */
    remove(gzpath);
    write_file(dir, "train-labels-idx1-ubyte", buf, len, 1);
    brn_dataset tr, te;
    char err[1024] = "";
    CHECK_EQ_INT(brn_dataset_load("mnist", root, &tr, &te, err, sizeof err), 0);
    CHECK_EQ_INT(tr.n, 6);
    brn_dataset_free(&tr);
    brn_dataset_free(&te);

    /* test images of another size than the training images */
    len = idx_images(buf, 2051, 4, 4, 5, 5);
    write_file(dir, "t10k-images-idx3-ubyte", buf, len, 0);
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    expect_error("mnist", root, path, "images are 5x5 but the training images");

    /* the dataset directory missing; an unknown name */
    expect_error("cifar100", root, root, "not found");
    expect_error("cifar100", root, "cifar100", "searched");
    expect_error("imagenet", root, "unknown dataset 'imagenet'", NULL);
    rm_tree(root);
}

/* ---- synthetic ---- */

static void test_synthetic(void)
{
    brn_dataset a_tr, a_te, b_tr, b_te;
    char err[256] = "";
    CHECK_EQ_INT(brn_dataset_load("synthetic", "", &a_tr, &a_te, err, sizeof err), 0);
    /* the data directory plays no part */
    CHECK_EQ_INT(brn_dataset_load("synthetic", "/nonexistent", &b_tr, &b_te, err, sizeof err), 0);
    CHECK_EQ_INT(a_tr.n, 4096);
    CHECK_EQ_INT(a_te.n, 1024);
    CHECK_EQ_INT(a_tr.c, 3);
    CHECK_EQ_INT(a_tr.h, 16);
    CHECK_EQ_INT(a_tr.w, 16);
    CHECK_EQ_INT(a_tr.classes, 10);
    CHECK(memcmp(a_tr.images, b_tr.images, image_bytes(&a_tr)) == 0);
    CHECK(memcmp(a_tr.labels, b_tr.labels, a_tr.n) == 0);
    CHECK(memcmp(a_te.images, b_te.images, image_bytes(&a_te)) == 0);
    /* train and test are different draws */
    CHECK(memcmp(a_tr.images, a_te.images, image_bytes(&a_te)) != 0);

    /* balanced: class counts differ by at most one in each split */
    const brn_dataset *splits[2] = {&a_tr, &a_te};
    for (int s = 0; s < 2; s++) {
        long count[10] = {0}, lo = 1L << 30, hi = 0;
        for (long i = 0; i < splits[s]->n; i++) {
            CHECK(splits[s]->labels[i] < 10);
            if (splits[s]->labels[i] < 10) count[splits[s]->labels[i]]++;
        }
        for (int k = 0; k < 10; k++) {
            if (count[k] < lo) lo = count[k];
            if (count[k] > hi) hi = count[k];
        }
        CHECK(hi - lo <= 1);
    }

    /* images vary: a sizeable spread of pixel values, no saturated mass */
    long hist[256] = {0};
    for (size_t j = 0; j < image_bytes(&a_tr); j++) hist[a_tr.images[j]]++;
    long mid = 0;
    for (int v = 32; v < 224; v++) mid += hist[v];
    CHECK(mid > (long)(0.95 * image_bytes(&a_tr)));
    CHECK(hist[0] + hist[255] < (long)(0.01 * image_bytes(&a_tr)));

    /* The bytes are part of the contract (the same everywhere): a change to the generator
     * must be deliberate and update this value. */
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, a_tr.images, image_bytes(&a_tr));
    h = fnv1a(h, a_tr.labels, a_tr.n);
    h = fnv1a(h, a_te.images, image_bytes(&a_te));
    h = fnv1a(h, a_te.labels, a_te.n);
    fprintf(stderr, "  synthetic fingerprint %016llx\n", (unsigned long long)h);
    CHECK(h == SYNTHETIC_FINGERPRINT);
    brn_dataset_free(&a_tr); brn_dataset_free(&a_te); brn_dataset_free(&b_tr); brn_dataset_free(&b_te);
}

/* ---- helpers ---- */

static void test_truncate(void)
{
    brn_dataset tr, te, ref, ref_te;
    char err[256];
    CHECK_EQ_INT(brn_dataset_load("synthetic", "", &tr, &te, err, sizeof err), 0);
    CHECK_EQ_INT(brn_dataset_load("synthetic", "", &ref, &ref_te, err, sizeof err), 0);
    brn_dataset_truncate(&tr, 0);
    CHECK_EQ_INT(tr.n, 4096);
    brn_dataset_truncate(&tr, -5);
    CHECK_EQ_INT(tr.n, 4096);
    brn_dataset_truncate(&tr, 4096);
    CHECK_EQ_INT(tr.n, 4096);
    brn_dataset_truncate(&tr, 100000);
    CHECK_EQ_INT(tr.n, 4096);
    brn_dataset_truncate(&tr, 100);
    CHECK_EQ_INT(tr.n, 100);
    CHECK_EQ_INT(tr.c, 3);
    CHECK(memcmp(tr.images, ref.images, 100 * 768) == 0);
    CHECK(memcmp(tr.labels, ref.labels, 100) == 0);
    brn_dataset_truncate(&tr, 1);
    CHECK_EQ_INT(tr.n, 1);
    CHECK_EQ_INT(tr.labels[0], ref.labels[0]);
    brn_dataset_free(&tr); brn_dataset_free(&te); brn_dataset_free(&ref); brn_dataset_free(&ref_te);
    brn_dataset_free(&tr);   /* twice is harmless */
    brn_dataset_free(NULL);
}

static void test_list_available(void)
{
    char root[4096], dir[4096];
    const char *names[8];
    if (!make_tmpdir(root, sizeof root)) { CHECK(0); return; }
    int n = brn_dataset_list_available(root, names, 8);
    CHECK_EQ_INT(n, 1);
    if (n == 1) CHECK(!strcmp(names[0], "synthetic"));

    make_subdir(dir, sizeof dir, root, "cifar10");
    write_file(dir, "test_batch.bin", "", 0, 0);
    make_subdir(dir, sizeof dir, root, "mnist");
    write_file(dir, "train-labels-idx1-ubyte.gz", "", 0, 1);
    make_subdir(dir, sizeof dir, root, "cifar100");   /* empty: not installed */
    n = brn_dataset_list_available(root, names, 8);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK(!strcmp(names[0], "cifar10"));
        CHECK(!strcmp(names[1], "mnist"));
        CHECK(!strcmp(names[2], "synthetic"));
    }
    CHECK_EQ_INT(brn_dataset_list_available(root, names, 2), 2);
    CHECK_EQ_INT(brn_dataset_list_available(root, names, 0), 0);

    /* the default directory has Debian's Fashion-MNIST */
    n = brn_dataset_list_available("", names, 8);
    int found = 0;
    for (int i = 0; i < n; i++) found |= !strcmp(names[i], "fashion-mnist");
    CHECK(found);
    rm_tree(root);
}

static void test_error_names(void)
{
    CHECK(!strcmp(brn_error_name(BRN_OK), "ok"));
    CHECK(!strcmp(brn_error_name(BRN_STOPPED), "stopped"));
    CHECK(!strcmp(brn_error_name(BRN_EINVAL), "invalid_argument"));
    CHECK(!strcmp(brn_error_name(BRN_ENOMEM), "out_of_memory"));
    CHECK(!strcmp(brn_error_name(BRN_EDATA), "bad_data"));
    CHECK(!strcmp(brn_error_name(BRN_EIO), "io_error"));
    CHECK(!strcmp(brn_error_name(BRN_ENAN), "nan_loss"));
    CHECK(!strcmp(brn_error_name(BRN_EDEVICE), "device_unavailable"));
    CHECK(!strcmp(brn_error_name(BRN_ECHECKPOINT), "checkpoint_mismatch"));
    CHECK(!strcmp(brn_error_name(-99), "unknown_error"));
}

int main(void)
{
    TEST(test_fashion_mnist_installed);
    TEST(test_plain_and_gz_identical);
    TEST(test_cifar10_batches_in_order);
    TEST(test_cifar100_fine_labels);
    TEST(test_cifar_errors);
    TEST(test_idx_errors);
    TEST(test_synthetic);
    TEST(test_truncate);
    TEST(test_list_available);
    TEST(test_error_names);
    return CHECK_DONE();
}
