#include "batcher.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "rng.h"

int brn_batcher_init(brn_batcher *b, const brn_dataset *train, const brn_job_spec *s, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    b->data = train;
    b->batch = s->batch_size;
    b->augment = s->augment;
    b->shuffle = s->shuffle;
    b->non_iid = s->sampling == BRN_SAMPLING_NON_IID;
    b->labels_per_batch = brn_spec_labels_per_batch(s, train->classes);
    b->seed = s->seed;
    b->epoch = -1;
    b->steps_per_epoch = train->n / s->batch_size;
    if (train->c > BRN_MAX_CHANNELS) {
        snprintf(err, errlen, "dataset: %d channels (at most %d supported)", train->c, BRN_MAX_CHANNELS);
        return BRN_EDATA;
    }
    if (train->n > INT32_MAX) {   /* batch entries name examples in 32 bits */
        snprintf(err, errlen, "dataset: %ld training examples (at most %d supported)", train->n, INT32_MAX);
        return BRN_EDATA;
    }
    if (b->steps_per_epoch < 1) {
        snprintf(err, errlen, "batch-size: %d is larger than the %ld training examples", s->batch_size, train->n);
        return BRN_EINVAL;
    }
    if (b->non_iid && b->labels_per_batch > train->classes) {
        snprintf(err, errlen, "labels-per-batch: %d exceeds the dataset's %d classes", b->labels_per_batch,
                 train->classes);
        return BRN_EINVAL;
    }
    /* per-channel statistics of the images this job trains on */
    const size_t hw = (size_t)train->h * train->w;
    for (int c = 0; c < train->c; c++) {
        double sum = 0, sumsq = 0;
        for (long i = 0; i < train->n; i++) {
            const uint8_t *p = train->images + ((size_t)i * train->c + c) * hw;
            uint64_t s1 = 0, s2 = 0;
            for (size_t k = 0; k < hw; k++) {
                s1 += p[k];
                s2 += (uint64_t)p[k] * p[k];
            }
            sum += (double)s1;
            sumsq += (double)s2;
        }
        double cnt = (double)train->n * hw, mean = sum / cnt / 255.0;
        double var = sumsq / cnt / (255.0 * 255.0) - mean * mean;
        b->mean[c] = (float)mean;
        b->std[c] = (float)(var > 1e-12 ? sqrt(var) : 1.0);
    }
    b->order = malloc(sizeof(long) * train->n);
    b->plan = malloc(sizeof *b->plan * s->batch_size);
    if (!b->order || !b->plan) goto oom;
    if (b->non_iid) {
        b->by_class = calloc(train->classes, sizeof *b->by_class);
        b->class_count = calloc(train->classes, sizeof *b->class_count);
        if (!b->by_class || !b->class_count) goto oom;
        for (long i = 0; i < train->n; i++) b->class_count[train->labels[i]]++;
        int nonempty = 0;
        for (int k = 0; k < train->classes; k++) {
            nonempty += b->class_count[k] > 0;
            b->by_class[k] = malloc(sizeof(long) * (b->class_count[k] ? b->class_count[k] : 1));
            if (!b->by_class[k]) goto oom;
            b->class_count[k] = 0;
        }
        for (long i = 0; i < train->n; i++) {
            int k = train->labels[i];
            b->by_class[k][b->class_count[k]++] = i;
        }
        if (nonempty < b->labels_per_batch) {
            snprintf(err, errlen, "labels-per-batch: %d exceeds the %d labels present in the training set",
                     b->labels_per_batch, nonempty);
            brn_batcher_free(b);
            return BRN_EINVAL;
        }
    }
    return 0;
oom:
    brn_batcher_free(b);
    snprintf(err, errlen, "out of memory for the batcher");
    return BRN_ENOMEM;
}

void brn_batcher_free(brn_batcher *b)
{
    free(b->order);
    free(b->plan);
    if (b->by_class)
        for (int k = 0; k < b->data->classes; k++) free(b->by_class[k]);
    free(b->by_class);
    free(b->class_count);
    memset(b, 0, sizeof *b);
}

static void shuffle(long *v, long n, brn_rng *r)
{
    for (long i = n - 1; i > 0; i--) {
        long j = (long)brn_rng_below(r, (uint64_t)i + 1);
        long t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* Non-i.i.d. order for one epoch: batch after batch, L distinct labels each with M
 * examples; each class is walked in a shuffled order, wrapping when exhausted. */
static void build_non_iid(brn_batcher *b, int epoch)
{
    const brn_dataset *d = b->data;
    brn_rng r;
    brn_rng_init(&r, brn_rng_derive(b->seed, BRN_RNG_SAMPLING, (uint64_t)epoch));
    long *cursor = calloc(d->classes, sizeof(long));
    int *labels = malloc(sizeof(int) * d->classes);
    int n_present = 0;
    for (int k = 0; k < d->classes; k++) {
        shuffle(b->by_class[k], b->class_count[k], &r);
        if (b->class_count[k]) labels[n_present++] = k;
    }
    const int L = b->labels_per_batch, M = b->batch / L;
    long pos = 0;
    for (long bi = 0; bi < b->steps_per_epoch; bi++) {
        /* a partial Fisher-Yates draw picks L distinct labels */
        for (int i = 0; i < L; i++) {
            int j = i + (int)brn_rng_below(&r, (uint64_t)(n_present - i));
            int t = labels[i];
            labels[i] = labels[j];
            labels[j] = t;
        }
        for (int i = 0; i < L; i++) {
            int k = labels[i];
            for (int e = 0; e < M; e++) {
                b->order[pos++] = b->by_class[k][cursor[k] % b->class_count[k]];
                cursor[k]++;
            }
        }
    }
    free(cursor);
    free(labels);
}

static void build_order(brn_batcher *b, int epoch)
{
    if (b->epoch == epoch) return;
    b->epoch = epoch;
    if (b->non_iid) {
        build_non_iid(b, epoch);
        return;
    }
    for (long i = 0; i < b->data->n; i++) b->order[i] = i;
    if (b->shuffle) {
        brn_rng r;
        brn_rng_init(&r, brn_rng_derive(b->seed, BRN_RNG_SHUFFLE, (uint64_t)epoch));
        shuffle(b->order, b->data->n, &r);
    }
}

void brn_batcher_source(const brn_batcher *b, const brn_dataset *d, brn_batch_source *out)
{
    *out = (brn_batch_source){.images = d->images, .labels = d->labels, .n = d->n, .c = d->c, .h = d->h, .w = d->w};
    memcpy(out->mean, b->mean, sizeof out->mean);
    memcpy(out->std, b->std, sizeof out->std);
}

void brn_batcher_train_plan(brn_batcher *b, int epoch, long index, long step, brn_batch_entry *plan)
{
    build_order(b, epoch);
    brn_rng r;
    brn_rng_init(&r, brn_rng_derive(b->seed, BRN_RNG_AUGMENT, (uint64_t)step));
    for (int j = 0; j < b->batch; j++) {
        int dy = 0, dx = 0, flip = 0;
        if (b->augment) {
            dy = (int)brn_rng_below(&r, 2 * BRN_CROP_PAD + 1) - BRN_CROP_PAD;
            dx = (int)brn_rng_below(&r, 2 * BRN_CROP_PAD + 1) - BRN_CROP_PAD;
            flip = brn_rng_uniform(&r) < 0.5;
        }
        plan[j] = (brn_batch_entry){
            .index = (int32_t)b->order[index * b->batch + j], .dy = (int8_t)dy, .dx = (int8_t)dx, .flip = (uint8_t)flip,
        };
    }
}

void brn_batcher_train_batch(brn_batcher *b, int epoch, long index, long step, float *x, int *labels)
{
    brn_batch_source src;
    brn_batcher_source(b, b->data, &src);
    brn_batcher_train_plan(b, epoch, index, step, b->plan);
    brn_batch_materialize(&src, b->plan, b->batch, x, labels);
}

void brn_batcher_eval_plan(long start, int n, brn_batch_entry *plan)
{
    for (int j = 0; j < n; j++) plan[j] = (brn_batch_entry){.index = (int32_t)(start + j)};
}
