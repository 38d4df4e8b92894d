/* Datasets: loaded whole into memory as 8-bit images, then batched.
 *
 * Layout on load: images[n][c][h][w] (NCHW, uint8, as the files store them after
 * decoding), labels[n] in 0..classes-1. The names are the registry's in dataset.c
 * (brn_dataset_names). Files live under <data_dir>/<name>/ (see docs/formats.md); with an empty
 * data_dir, /usr/share/datasets is searched. Errors name the file and what is wrong. */
#ifndef BRN_DATASET_H
#define BRN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#define BRN_DEFAULT_DATA_DIR "/usr/share/datasets"

/* The built-in synthetic set's size. */
#define BRN_SYNTHETIC_CLASSES 10
#define BRN_SYNTHETIC_C 3
#define BRN_SYNTHETIC_SIDE 16
#define BRN_SYNTHETIC_TRAIN 4096
#define BRN_SYNTHETIC_TEST 1024

/* A dataset's nominal size (the standard files), known before loading: for memory
 * estimates at submit time. */
typedef struct brn_dataset_dims {
    long train_n, test_n;
    int c, h, w, classes;
} brn_dataset_dims;

typedef struct brn_dataset {
    long n;
    int c, h, w;
    int classes;
    uint8_t *images;   /* n*c*h*w */
    uint8_t *labels;   /* n */
} brn_dataset;

/* Load the train and test splits. Returns 0 or BRN_EDATA/BRN_ENOMEM with a message. */
int brn_dataset_load(const char *name, const char *data_dir, brn_dataset *train, brn_dataset *test,
                 char *err, size_t errlen);

/* The registry: is name a dataset this build can load; all names, ", "-separated. */
int brn_dataset_known(const char *name);
const char *brn_dataset_names(void);
/* Nominal dims of a registered dataset; 0, or BRN_EINVAL for an unknown name. */
int brn_dataset_nominal_dims(const char *name, brn_dataset_dims *out);

/* Keep only the first n examples (n <= 0 or n >= size: unchanged). */
void brn_dataset_truncate(brn_dataset *d, long n);

/* How many of n examples a subset of `keep` leaves (0 or more than n: all of them), as
 * brn_dataset_truncate does. */
static inline long brn_dataset_subset_n(long n, long keep) { return keep > 0 && keep < n ? keep : n; }

void brn_dataset_free(brn_dataset *d);

/* Which dataset names are present under data_dir (for GetServerInfo): writes up to max
 * names into out (static strings), returns the count. */
int brn_dataset_list_available(const char *data_dir, const char **out, int max);

/* The loaders behind brn_dataset_load, one per format. dir is the dataset's own directory
 * (<data_dir>/<name>). On failure both splits are left empty (safe to brn_dataset_free). */
int brn_dataset_load_cifar10(const char *dir, brn_dataset *train, brn_dataset *test,
                         char *err, size_t errlen);
int brn_dataset_load_cifar100(const char *dir, brn_dataset *train, brn_dataset *test,
                          char *err, size_t errlen);
/* MNIST-style IDX files, each plain or .gz; every label must be below classes. */
int brn_dataset_load_idx(const char *dir, int classes, brn_dataset *train, brn_dataset *test,
                     char *err, size_t errlen);
/* The built-in generator: the same bytes on every machine, independent of any job seed. */
int brn_dataset_load_synthetic(brn_dataset *train, brn_dataset *test, char *err, size_t errlen);

/* Shared by the loaders: reads a whole file, plain or gzip (told apart by content), into
 * a malloc'd buffer (*buf, *len; free it). Errors name the path: cannot open, corrupt or
 * truncated gzip stream (BRN_EDATA), out of memory (BRN_ENOMEM). */
int brn_dataset_read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen);

#endif
