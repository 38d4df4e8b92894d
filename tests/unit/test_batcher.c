/* The data pipeline: normalization, batch order, non-i.i.d. sampling, augmentation, and
 * the LR schedules. */
#include <stdlib.h>
#include <string.h>

#include "batcher.h"
#include "check.h"
#include "data/dataset.h"
#include "schedule.h"

static brn_dataset g_train, g_test;

static void base_spec(brn_job_spec *s)
{
    brn_spec_defaults(s);
    strcpy(s->dataset, "synthetic");
    s->batch_size = 32;
    s->augment = 0;
    s->shuffle = 0;
}

static void test_normalization_and_order(void)
{
    brn_job_spec s;
    base_spec(&s);
    brn_batcher b;
    char err[256];
    CHECK_EQ_INT(brn_batcher_init(&b, &g_train, &s, err, sizeof err), 0);
    CHECK_EQ_INT(b.steps_per_epoch, g_train.n / 32);
    const int C = g_train.c, HW = g_train.h * g_train.w, B = 32;
    float *x = malloc(sizeof(float) * B * C * HW);
    int labels[32];
    /* over the whole training set the normalized inputs have mean 0 and std 1 per channel */
    double sum[4] = {0}, sumsq[4] = {0};
    for (long i = 0; i < b.steps_per_epoch; i++) {
        brn_batcher_train_batch(&b, 0, i, i, x, labels);
        for (int c = 0; c < C; c++)
            for (int k = 0; k < B * HW; k++) {
                double v = x[(size_t)c * B * HW + k];
                sum[c] += v;
                sumsq[c] += v * v;
            }
        /* without shuffle, batch i holds examples [i*B, (i+1)*B) in file order */
        for (int j = 0; j < B; j++) CHECK_EQ_INT(labels[j], g_train.labels[i * B + j]);
    }
    double cnt = (double)b.steps_per_epoch * B * HW;
    for (int c = 0; c < C; c++) {
        CHECK_CLOSE(sum[c] / cnt, 0.0, 1e-4, 0);
        CHECK_CLOSE(sqrt(sumsq[c] / cnt - pow(sum[c] / cnt, 2)), 1.0, 1e-4, 0);
    }
    /* layout [C][N][H][W]: example 1 of channel 2 starts at (2*B + 1)*HW */
    brn_batcher_train_batch(&b, 0, 0, 0, x, labels);
    const uint8_t *raw = g_train.images + ((size_t)1 * C + 2) * HW;
    CHECK_CLOSE(x[(size_t)(2 * B + 1) * HW + 5], (raw[5] / 255.0 - b.mean[2]) / b.std[2], 1e-5, 0);
    free(x);
    brn_batcher_free(&b);
}

static void test_shuffle_and_augment_deterministic(void)
{
    brn_job_spec s;
    base_spec(&s);
    s.shuffle = 1;
    s.augment = 1;
    brn_batcher a, b;
    char err[256];
    CHECK_EQ_INT(brn_batcher_init(&a, &g_train, &s, err, sizeof err), 0);
    CHECK_EQ_INT(brn_batcher_init(&b, &g_train, &s, err, sizeof err), 0);
    size_t n = (size_t)32 * g_train.c * g_train.h * g_train.w;
    float *x1 = malloc(n * 4), *x2 = malloc(n * 4);
    int l1[32], l2[32];
    /* batch 5 of epoch 2 is the same whatever came before (a resumed run starts there) */
    brn_batcher_train_batch(&a, 0, 0, 0, x1, l1);
    brn_batcher_train_batch(&a, 2, 5, 77, x1, l1);
    brn_batcher_train_batch(&b, 2, 5, 77, x2, l2);
    CHECK(memcmp(x1, x2, n * 4) == 0 && memcmp(l1, l2, sizeof l1) == 0);
    /* another epoch, another order; another step, other crops */
    brn_batcher_train_batch(&b, 3, 5, 77, x2, l2);
    CHECK(memcmp(l1, l2, sizeof l1) != 0);
    brn_batcher_train_batch(&b, 2, 5, 78, x2, l2);
    CHECK(memcmp(l1, l2, sizeof l1) == 0 && memcmp(x1, x2, n * 4) != 0);
    /* every example appears once per epoch */
    char *seen = calloc(g_train.n, 1);
    long dup = 0;
    brn_batcher_train_batch(&a, 4, 0, 0, x1, l1);   /* builds epoch 4's order */
    for (long i = 0; i < a.steps_per_epoch * 32; i++) dup += seen[a.order[i]]++ ? 1 : 0;
    CHECK_EQ_INT(dup, 0);
    free(seen), free(x1), free(x2);
    brn_batcher_free(&a);
    brn_batcher_free(&b);
}

static void test_non_iid(void)
{
    brn_job_spec s;
    base_spec(&s);
    s.sampling = BRN_SAMPLING_NON_IID;
    s.labels_per_batch = 4;   /* 4 labels x 8 examples */
    s.shuffle = 1;
    brn_batcher b;
    char err[256];
    CHECK_EQ_INT(brn_batcher_init(&b, &g_train, &s, err, sizeof err), 0);
    float *x = malloc(sizeof(float) * 32 * g_train.c * g_train.h * g_train.w);
    int labels[32];
    for (long i = 0; i < 20; i++) {
        brn_batcher_train_batch(&b, 1, i, i, x, labels);
        int count[10] = {0}, distinct = 0;
        for (int j = 0; j < 32; j++) count[labels[j]]++;
        for (int k = 0; k < 10; k++) {
            distinct += count[k] > 0;
            CHECK(count[k] == 0 || count[k] == 8);
        }
        CHECK_EQ_INT(distinct, 4);
    }
    free(x);
    brn_batcher_free(&b);
    s.labels_per_batch = 11;
    CHECK(brn_batcher_init(&b, &g_train, &s, err, sizeof err) != 0);
    CHECK_STR_CONTAINS(err, "labels-per-batch");
}

static void test_lr_schedules(void)
{
    brn_job_spec s;
    brn_spec_defaults(&s);
    s.lr = 0.1;
    s.epochs = 10;
    brn_resolved r;
    brn_spec_resolve(&s, 1000 * s.batch_size, &r);   /* 1000 steps per epoch */
    s.lr_schedule = BRN_LR_STEP;
    s.milestones[0] = 3, s.milestones[1] = 6, s.n_milestones = 2;
    s.lr_factor = 0.1;
    CHECK_CLOSE(brn_schedule_lr(&s, &r, 2999), 0.1, 1e-15, 0);
    CHECK_CLOSE(brn_schedule_lr(&s, &r, 3000), 0.01, 1e-15, 0);
    CHECK_CLOSE(brn_schedule_lr(&s, &r, 6000), 0.001, 1e-15, 0);
    s.lr_schedule = BRN_LR_COSINE;
    CHECK_CLOSE(brn_schedule_lr(&s, &r, 0), 0.1, 1e-15, 0);
    CHECK_CLOSE(brn_schedule_lr(&s, &r, 5000), 0.05, 1e-12, 0);
    s.warmup_epochs = 1;
    CHECK_CLOSE(brn_schedule_lr(&s, &r, 0), 0.1 / 1000, 1e-15, 0);
    CHECK_CLOSE(brn_schedule_lr(&s, &r, 499), 0.05, 1e-15, 0);
    CHECK_CLOSE(brn_schedule_lr(&s, &r, 1000), 0.1, 1e-15, 0);
    CHECK_CLOSE(brn_schedule_lr(&s, &r, 5500), 0.05, 1e-12, 0);   /* cosine over the steps after warm-up */
    s.lr_schedule = BRN_LR_CONSTANT;
    CHECK_CLOSE(brn_schedule_lr(&s, &r, 9999), 0.1, 1e-15, 0);
}

int main(void)
{
    char err[256];
    if (brn_dataset_load("synthetic", "", &g_train, &g_test, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    TEST(test_normalization_and_order);
    TEST(test_shuffle_and_augment_deterministic);
    TEST(test_non_iid);
    TEST(test_lr_schedules);
    brn_dataset_free(&g_train);
    brn_dataset_free(&g_test);
    return CHECK_DONE();
}
