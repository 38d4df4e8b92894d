/* Fuzz target: the dataset readers on files brnd finds in its data directory. The first byte
 * picks the format (IDX plain, IDX .gz, CIFAR-10, CIFAR-100); the next two give the length
 * of the first file's bytes, the rest is the second file (labels for IDX, the test batch
 * for CIFAR). Files are written to a private temporary directory for each input. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"

static char dir[64];

static void must(int cond)
{
    if (!cond) abort();
}

static void put(const char *name, const uint8_t *p, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    must(f != NULL);
    if (n) must(fwrite(p, 1, n, f) == n);
    fclose(f);
}

static void clear(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[400];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(dir, sizeof dir, "%s/brn-fuzz-data-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    must(mkdtemp(dir) != NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    int mode = data[0] % 4;
    size_t a = (size_t)data[1] << 8 | data[2];
    const uint8_t *p = data + 3;
    size_t n = size - 3;
    if (a > n) a = n;
    clear();
    brn_dataset train, test;
    char err[1024] = "";
    int rc;
    if (mode <= 1) {
        const char *sfx = mode ? ".gz" : "";
        char name[64];
        const char *const parts[4] = {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                      "t10k-labels-idx1-ubyte"};
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "%s%s", parts[i], sfx);
            put(name, i < 2 ? p : p + a, i < 2 ? a : n - a);
        }
        rc = brn_dataset_load_idx(dir, 10, &train, &test, err, sizeof err);
    } else if (mode == 2) {
        put("data_batch_1.bin", p, a);
        put("test_batch.bin", p + a, n - a);
        rc = brn_dataset_load_cifar10(dir, &train, &test, err, sizeof err);
    } else {
        put("train.bin", p, a);
        put("test.bin", p + a, n - a);
        rc = brn_dataset_load_cifar100(dir, &train, &test, err, sizeof err);
    }
    if (rc) {
        must(err[0] != 0);
        return 0;
    }
    /* what was accepted is whole: every label within the classes */
    for (long i = 0; i < train.n; i++) must(train.labels[i] < train.classes);
    for (long i = 0; i < test.n; i++) must(test.labels[i] < test.classes);
    brn_dataset_free(&train);
    brn_dataset_free(&test);
    return 0;
}
