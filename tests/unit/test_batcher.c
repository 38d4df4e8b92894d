/* The data pipeline: normalization, batch order, non-i.i.d. sampling, augmentation, and
 * the LR schedules. */
#include <stdlib.h>
#include <string.h>

#include "batcher.h"
#include "check.h"
#include "data/dataset.h"
#include "errors.h"
#include "model_fixture.h"
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

/* Plans: the draws batcher.c makes (no augmentation: no shift, no flip; with it, offsets
 * over the whole range and both flips), evaluation plans in order, and the checks. */
static void test_plans(void)
{
    brn_job_spec s;
    base_spec(&s);
    brn_batcher b;
    char err[256];
    brn_batch_entry plan[32];
    CHECK_EQ_INT(brn_batcher_init(&b, &g_train, &s, err, sizeof err), 0);
    brn_batcher_train_plan(&b, 0, 3, 3, plan);
    for (int j = 0; j < 32; j++)
        CHECK(plan[j].index == 3 * 32 + j && !plan[j].dy && !plan[j].dx && !plan[j].flip && !plan[j].reserved);
    brn_batcher_free(&b);
    s.augment = 1;
    CHECK_EQ_INT(brn_batcher_init(&b, &g_train, &s, err, sizeof err), 0);
    int seen[2 * BRN_CROP_PAD + 1][2] = {{0}}, flips = 0;
    for (long step = 0; step < 20; step++) {
        brn_batcher_train_plan(&b, 0, step, step, plan);
        for (int j = 0; j < 32; j++) {
            CHECK(plan[j].dy >= -BRN_CROP_PAD && plan[j].dy <= BRN_CROP_PAD);
            CHECK(plan[j].dx >= -BRN_CROP_PAD && plan[j].dx <= BRN_CROP_PAD);
            seen[plan[j].dy + BRN_CROP_PAD][0]++;
            seen[plan[j].dx + BRN_CROP_PAD][1]++;
            flips += plan[j].flip;
        }
    }
    for (int k = 0; k < 2 * BRN_CROP_PAD + 1; k++) CHECK(seen[k][0] > 0 && seen[k][1] > 0);
    CHECK(flips > 200 && flips < 440);   /* of 640, each a fair coin */
    brn_batch_source src;
    brn_batcher_source(&b, &g_test, &src);
    CHECK(src.images == g_test.images && src.n == g_test.n && src.mean[0] == b.mean[0] && src.std[2] == b.std[2]);
    CHECK_EQ_INT(brn_batch_plan_check(&src, plan, 32, err, sizeof err), 0);
    brn_batcher_eval_plan(g_test.n - 5, 5, plan);
    for (int j = 0; j < 5; j++) CHECK(plan[j].index == g_test.n - 5 + j && !plan[j].dy && !plan[j].dx && !plan[j].flip);
    CHECK_EQ_INT(brn_batch_plan_check(&src, plan, 5, err, sizeof err), 0);
    /* what a plan may not say */
    const brn_batch_entry bad[] = {
        {.index = (int32_t)g_test.n}, {.index = -1}, {.dy = BRN_CROP_PAD + 1}, {.dx = -BRN_CROP_PAD - 1}, {.flip = 2},
    };
    const char *why[] = {"names example", "names example", "shifts by", "shifts by", "flip"};
    for (int i = 0; i < 5; i++) {
        plan[1] = bad[i];
        CHECK_EQ_INT(brn_batch_plan_check(&src, plan, 3, err, sizeof err), BRN_EINVAL);
        CHECK_STR_CONTAINS(err, "entry 1");
        CHECK_STR_CONTAINS(err, why[i]);
    }
    brn_batcher_free(&b);
}

/* The table a GPU reads holds exactly the floats the CPU writes: the batch built of
 * pixels 0..255 through the table equals the materialized batch, bit for bit. */
static void test_lut_is_materialize(void)
{
    brn_job_spec s;
    base_spec(&s);
    brn_batcher b;
    char err[256];
    CHECK_EQ_INT(brn_batcher_init(&b, &g_train, &s, err, sizeof err), 0);
    brn_batch_source src;
    brn_batcher_source(&b, &g_train, &src);
    float lut[BRN_MAX_CHANNELS * BRN_LUT_LEVELS];
    brn_batch_lut(&src, lut);
    const int C = src.c, H = src.h, W = src.w, B = 8;
    float *x = malloc(sizeof(float) * B * C * H * W);
    brn_batch_entry plan[8];
    for (int j = 0; j < B; j++) plan[j] = (brn_batch_entry){.index = j * 7, .dy = (int8_t)(j - 4), .dx = 3, .flip = j & 1};
    brn_batch_materialize(&src, plan, B, x, NULL);
    long mismatched = 0;
    for (int c = 0; c < C; c++)
        for (int j = 0; j < B; j++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++) {
                    const int sh = h + plan[j].dy, sw = (plan[j].flip ? W - 1 - w : w) + plan[j].dx;
                    const int v = sh >= 0 && sh < H && sw >= 0 && sw < W
                                      ? src.images[(((size_t)plan[j].index * C + c) * H + sh) * W + sw]
                                      : 0;
                    const float got = x[(((size_t)c * B + j) * H + h) * W + w];
                    mismatched += memcmp(&got, &lut[c * BRN_LUT_LEVELS + v], sizeof got) != 0;
                }
    CHECK_EQ_INT(mismatched, 0);
    free(x);
    brn_batcher_free(&b);
}

/* On the CPU backend a batch built from an uploaded dataset and a plan is the batch set
 * from the host: the same loss, bit for bit; a bad plan or a mismatched step is refused. */
static void test_model_plan_on_cpu(void)
{
    brn_job_spec s;
    base_spec(&s);
    s.augment = 1;
    s.shuffle = 1;
    brn_batcher b;
    char err[256];
    CHECK_EQ_INT(brn_batcher_init(&b, &g_train, &s, err, sizeof err), 0);
    brn_backend *be = fixture_cpu(2);
    const brn_model_config mc = {.depth = 10, .width = 1, .in_c = g_train.c, .in_h = g_train.h, .in_w = g_train.w,
                                 .classes = g_train.classes, .max_batch = 32, .norm = BRN_NORM_BN, .eps = 1e-5};
    brn_model m;
    CHECK_EQ_INT(brn_model_init(&m, &mc, be, err, sizeof err), 0);
    CHECK_EQ_INT(brn_model_init_weights(&m, 3, err, sizeof err), 0);
    brn_batch_source src;
    brn_batcher_source(&b, &g_train, &src);
    brn_device_data data;
    CHECK_EQ_INT(brn_backend_data_upload(be, &src, &data, err, sizeof err), 0);
    brn_batch_entry plan[32];
    brn_batcher_train_plan(&b, 1, 2, 9, plan);
    float *x = malloc(sizeof(float) * 32 * g_train.c * g_train.h * g_train.w);
    int labels[32];
    brn_batcher_train_batch(&b, 1, 2, 9, x, labels);
    double from_host, from_plan;
    int hits_host, hits_plan;
    brn_model_set_batch(&m, x, labels, 32);
    CHECK_EQ_INT(brn_model_eval_batch(&m, 32, 1, err, sizeof err), 0);
    CHECK_EQ_INT(brn_model_step_result(&m, &from_host, &hits_host, err, sizeof err), 0);
    /* another batch in the model's input first, so the plan's step must build its own */
    brn_batcher_train_batch(&b, 0, 0, 0, x, labels);
    brn_model_set_batch(&m, x, labels, 32);
    CHECK_EQ_INT(brn_model_set_plan(&m, &data, plan, 32, err, sizeof err), 0);
    CHECK_EQ_INT(brn_model_eval_batch(&m, 32, 1, err, sizeof err), 0);
    CHECK_EQ_INT(brn_model_step_result(&m, &from_plan, &hits_plan, err, sizeof err), 0);
    CHECK(memcmp(&from_host, &from_plan, sizeof from_host) == 0 && hits_host == hits_plan);
    /* the step must be the plan's size; a plan of a bad entry, or too long, is refused */
    CHECK_EQ_INT(brn_model_eval_batch(&m, 16, 1, err, sizeof err), BRN_EINVAL);
    CHECK_STR_CONTAINS(err, "the plan set has 32 examples");
    plan[4].index = (int32_t)g_train.n;
    CHECK_EQ_INT(brn_model_set_plan(&m, &data, plan, 32, err, sizeof err), BRN_EINVAL);
    CHECK_STR_CONTAINS(err, "entry 4");
    CHECK_EQ_INT(brn_model_set_plan(&m, &data, plan, 33, err, sizeof err), BRN_EINVAL);
    CHECK_STR_CONTAINS(err, "33 examples");
    brn_device_data other = data;   /* images of another size, or none uploaded */
    other.src.h = 8;
    CHECK_EQ_INT(brn_model_set_plan(&m, &other, plan, 32, err, sizeof err), BRN_EINVAL);
    CHECK_STR_CONTAINS(err, "the dataset's images are 8x16x3");
    other = (brn_device_data){.src = data.src};
    CHECK_EQ_INT(brn_model_set_plan(&m, &other, plan, 32, err, sizeof err), BRN_EINVAL);
    CHECK_STR_CONTAINS(err, "not uploaded");
    free(x);
    brn_backend_data_free(be, &data);
    brn_model_free(&m);
    brn_backend_close(be);
    brn_batcher_free(&b);
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
    TEST(test_plans);
    TEST(test_lut_is_materialize);
    TEST(test_model_plan_on_cpu);
    TEST(test_lr_schedules);
    brn_dataset_free(&g_train);
    brn_dataset_free(&g_test);
    return CHECK_DONE();
}
