/* The batch-building kernel (cuda/kernels/batch.cu) under the host emulation against the
 * CPU's materialization (batch_plan.c), on random uint8 datasets of Fashion-MNIST's shape
 * (1x28x28), CIFAR's (3x32x32) and odd ones (2x5x7, 4x9x3), with crops at every offset
 * including the borders, flips, and batches whose pixel count is not a multiple of the
 * block size. The plans come from the batcher itself (shuffled, non-i.i.d., augmented) and
 * from a sweep over every (dy, dx, flip).
 *
 * Tolerance: none. fp32 activations must equal the CPU's floats bit for bit (the kernel
 * reads the values from the host-made table, brn_batch_lut); bf16 ones must equal the
 * CPU's floats rounded once to nearest even; labels exactly. */
#include "batch_plan.h"
#include "batcher.h"
#include "kernel_check.h"

typedef struct shape {
    const char *name;
    long n;
    int c, h, w, classes;
} shape;

/* A dataset of random bytes (exactly sized, so that ASan sees a read past the end) with
 * pixel values spread over 0..255, and a plausible normalization. */
static void make_dataset(const shape *sh, brn_dataset *d, brn_batch_source *src)
{
    const size_t bytes = (size_t)sh->n * sh->c * sh->h * sh->w;
    *d = (brn_dataset){.n = sh->n, .c = sh->c, .h = sh->h, .w = sh->w, .classes = sh->classes};
    d->images = malloc(bytes);
    d->labels = malloc((size_t)sh->n);
    for (size_t i = 0; i < bytes; i++) d->images[i] = (uint8_t)brn_rng_below(&kc_rng, 256);
    for (long i = 0; i < sh->n; i++) d->labels[i] = (uint8_t)brn_rng_below(&kc_rng, (uint64_t)sh->classes);
    *src = (brn_batch_source){.images = d->images, .labels = d->labels, .n = d->n, .c = d->c, .h = d->h, .w = d->w};
    for (int c = 0; c < sh->c; c++) {
        src->mean[c] = (float)kc_uniform(0.1, 0.7);
        src->std[c] = (float)kc_uniform(0.1, 0.5);
    }
}

/* The kernel's batch of plan against brn_batch_materialize's, both element types;
   returns the number of elements that differ. */
static size_t check_plan(const char *what, const brn_batch_source *src, const brn_batch_entry *plan, int n)
{
    const brn_act_shape s = {.c = src->c, .n = n, .h = src->h, .w = src->w};
    const size_t count = kc_count(s);
    float *want = malloc(sizeof(float) * count);
    int *want_labels = malloc(sizeof(int) * n);
    brn_batch_materialize(src, plan, n, want, want_labels);

    /* "device" memory: the dataset as it is, the table, the plan, the outputs */
    float *lut = kc_alloc(sizeof(float) * BRN_LUT_LEVELS * src->c);
    brn_batch_lut(src, lut);
    brn_batch_entry *dplan = kc_alloc(sizeof *dplan * n);
    memcpy(dplan, plan, sizeof *dplan * n);
    size_t differ_total = 0;
    for (int at = BRN_AT_F32; at <= BRN_AT_BF16; at++) {
        const size_t eb = at == BRN_AT_BF16 ? 2 : 4;
        void *x = kc_alloc(eb * count);
        memset(x, 0xff, eb * count);   /* NaN: an element the kernel skips shows */
        int *labels = kc_alloc(sizeof(int) * n);
        memset(labels, 0xff, sizeof(int) * n);
        CHECK_EQ_INT(BRN_K(batch_build)(NULL, x, at, labels, src->images, src->labels, lut, dplan, n, src->c, src->h,
                                        src->w),
                     0);
        size_t differ = 0, first = (size_t)-1;
        for (int c = 0; c < s.c; c++)
            for (int e = 0; e < s.n; e++)
                for (int h = 0; h < s.h; h++)
                    for (int w = 0; w < s.w; w++) {
                        const size_t i = kc_cnhw(s, c, e, h, w), j = kc_nhwc(s, c, e, h, w);
                        int same;
                        if (at == BRN_AT_BF16) {
                            same = ((const uint16_t *)x)[j] == kc_bf16(want[i]);
                        } else {
                            uint32_t a, b;
                            memcpy(&a, (const float *)x + j, 4);
                            memcpy(&b, want + i, 4);
                            same = a == b;
                        }
                        if (!same && !differ++) first = i;
                    }
        size_t label_differ = 0;
        for (int e = 0; e < n; e++) label_differ += labels[e] != want_labels[e];
        char where[96] = "";
        if (differ) kc_describe_act(first, &s, where, sizeof where);
        fprintf(stderr, "  %-4s %-30s %s %dx%dx%d n=%-4d: %zu of %zu values differ%s%s, %zu of %d labels\n",
                differ || label_differ ? "FAIL" : "ok", what, at == BRN_AT_BF16 ? "bf16" : "fp32", s.c, s.h, s.w, n,
                differ, count, differ ? ", first at " : "", where, label_differ, n);
        CHECK_EQ_INT(differ, 0);
        CHECK_EQ_INT(label_differ, 0);
        differ_total += differ + label_differ;
        free(x), free(labels);
    }
    free(want), free(want_labels), free(lut), free(dplan);
    return differ_total;
}

/* Every (dy, dx, flip) in turn over random examples, the last example included. */
static void sweep_plan(const brn_batch_source *src, brn_batch_entry *plan, int n)
{
    const int side = 2 * BRN_CROP_PAD + 1;
    for (int j = 0; j < n; j++) {
        const int k = j % (side * side * 2);
        plan[j] = (brn_batch_entry){
            .index = j == n - 1 ? (int32_t)(src->n - 1) : (int32_t)brn_rng_below(&kc_rng, (uint64_t)src->n),
            .dy = (int8_t)(k / 2 / side - BRN_CROP_PAD),
            .dx = (int8_t)(k / 2 % side - BRN_CROP_PAD),
            .flip = (uint8_t)(k % 2),
        };
    }
}

static void test_shapes_and_offsets(void)
{
    static const shape shapes[] = {
        {"fashion-mnist", 300, 1, 28, 28, 10},
        {"cifar", 200, 3, 32, 32, 10},
        {"odd 2x5x7", 50, 2, 5, 7, 3},
        {"odd 4x9x3", 40, 4, 9, 3, 5},
    };
    /* 1 and 13 examples, every offset twice over (162 each) and then some */
    static const int sizes[] = {1, 13, 2 * 162 + 7};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        brn_dataset d;
        brn_batch_source src;
        make_dataset(&shapes[i], &d, &src);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            brn_batch_entry *plan = malloc(sizeof *plan * sizes[k]);
            sweep_plan(&src, plan, sizes[k]);
            char what[64];
            snprintf(what, sizeof what, "%s, every offset", shapes[i].name);
            check_plan(what, &src, plan, sizes[k]);
            free(plan);
        }
        brn_dataset_free(&d);
    }
}

/* Plans as the trainer makes them: the batcher's draws (shuffle, augmentation, non-i.i.d.
   picks), a few steps of two epochs; evaluation plans (in order, no augmentation). */
static void test_batcher_plans(void)
{
    static const shape shapes[] = {
        {"fashion-mnist", 512, 1, 28, 28, 10},
        {"cifar", 384, 3, 32, 32, 10},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        brn_dataset d;
        brn_batch_source ignored;
        make_dataset(&shapes[i], &d, &ignored);
        for (int non_iid = 0; non_iid < 2; non_iid++) {
            brn_job_spec s;
            brn_spec_defaults(&s);
            s.batch_size = 60;   /* 60 x 784 and 60 x 1024 pixels: not multiples of 256 */
            s.augment = 1;
            s.shuffle = 1;
            s.seed = brn_rng_next(&kc_rng);
            s.sampling = non_iid ? BRN_SAMPLING_NON_IID : BRN_SAMPLING_IID;
            s.labels_per_batch = 3;   /* 3 labels x 20 examples */
            brn_batcher b;
            char err[256];
            CHECK_EQ_INT(brn_batcher_init(&b, &d, &s, err, sizeof err), 0);
            brn_batch_source src;
            brn_batcher_source(&b, &d, &src);
            brn_batch_entry plan[60];
            int flips = 0, shifted = 0;
            for (int epoch = 0; epoch < 2; epoch++)
                for (long batch = 0; batch < 2; batch++) {
                    const long step = epoch * b.steps_per_epoch + batch;
                    brn_batcher_train_plan(&b, epoch, batch, step, plan);
                    for (int j = 0; j < 60; j++) flips += plan[j].flip, shifted += plan[j].dy || plan[j].dx;
                    char what[64];
                    snprintf(what, sizeof what, "%s, batcher %s e%d b%ld", shapes[i].name,
                             non_iid ? "non-iid" : "iid", epoch, batch);
                    check_plan(what, &src, plan, 60);
                }
            CHECK(flips > 0 && flips < 240);   /* the augmentation was on */
            CHECK(shifted > 0);
            brn_batcher_eval_plan(d.n - 37, 37, plan);   /* the last, partial evaluation batch */
            char what[64];
            snprintf(what, sizeof what, "%s, evaluation", shapes[i].name);
            check_plan(what, &src, plan, 37);
            brn_batcher_free(&b);
        }
        brn_dataset_free(&d);
    }
}

static void test_refusals(void)
{
    uint8_t images[2 * 5 * 4 * 4] = {0}, labels[2] = {0};
    float lut[5 * BRN_LUT_LEVELS] = {0}, x[4 * 4 * 5] = {0};
    int out_labels[1];
    brn_batch_entry plan[1] = {{.index = 0}};
    /* more channels than a batch source may have */
    CHECK(BRN_K(batch_build)(NULL, x, BRN_AT_F32, out_labels, images, labels, lut, plan, 1, 5, 4, 4) != 0);
    /* an empty batch launches nothing */
    CHECK_EQ_INT(BRN_K(batch_build)(NULL, x, BRN_AT_F32, out_labels, images, labels, lut, plan, 0, 1, 4, 4), 0);
}

int main(void)
{
    kc_seed();
    TEST(test_shapes_and_offsets);
    TEST(test_batcher_plans);
    TEST(test_refusals);
    return CHECK_DONE();
}
