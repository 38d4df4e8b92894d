/* Times training steps (forward, backward, SGD) of the C engine on random data, the same
 * work bench/torch_train_bench.py (CPU) and bench/torch_gpu_bench.py (GPU) time in
 * PyTorch. Prints one JSON line per norm.
 *
 *   bench_train [--device cpu|cuda] [--precision fp32|tf32|bf16] [--graph 0|1]
 *               [--depth 16 --width 4 --batch 128 --size 32] [--steps 5 --warmup 2]
 *               [--threads 2] [--norms bn,brn] [--input device|host]
 *
 * Each step is what the trainer does: draw the batch's plan (random examples of a uint8
 * dataset uploaded once, random crops and flips) and upload it, run the step (which builds
 * the batch on the backend; --graph 1: recorded once as a CUDA graph and replayed), read the
 * loss. --input host instead uploads a float batch staged in (pinned) host memory each step,
 * the path before batches were built on the device.
 * FLOPs count the convolutions and the linear layer (2 per multiply-add; forward, and
 * backward for data and weights; the stem has no data gradient); norms, pooling and SGD
 * are not counted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "blas_select.h"
#include "errors.h"
#include "model.h"
#include "rng.h"
#ifdef BRN_HAVE_CUDA
#include "cuda/backend_cuda.h"
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double conv_flops(const brn_conv_layer *l, int n, int oh, int ow, int with_dx)
{
    const double fwd = 2.0 * n * oh * ow * l->cout * l->cin * l->k * l->k;
    return fwd * (with_dx ? 3 : 2);
}

/* FLOPs of one training step of m at batch n. */
static double step_flops(const brn_model *m, int n)
{
    double f = conv_flops(&m->stem, n, m->cfg.in_h, m->cfg.in_w, 0);
    for (int i = 0; i < m->n_blocks; i++) {
        const brn_block *b = &m->blocks[i];
        f += conv_flops(&b->conv1, n, b->oh, b->ow, 1) + conv_flops(&b->conv2, n, b->oh, b->ow, 1);
        if (b->projection) f += conv_flops(&b->shortcut, n, b->oh, b->ow, 1);
    }
    return f + 3 * 2.0 * n * m->feat * m->cfg.classes;
}

static int open_backend(const char *device, const char *precision, int threads, brn_backend **be, char *err,
                        size_t errlen)
{
    if (!strcmp(device, "cpu")) return brn_cpu_backend_create(threads, be, err, errlen);
#ifdef BRN_HAVE_CUDA
    brn_precision p = !strcmp(precision, "bf16") ? BRN_PRECISION_BF16
                      : !strcmp(precision, "tf32") ? BRN_PRECISION_TF32 : BRN_PRECISION_FP32;
    int index = 0;
    if (!brn_device_is_cuda(device, &index)) return brn_errorf(err, errlen, BRN_EINVAL, "--device: %s", device);
    return brn_cuda_backend_create(index, p, be, err, errlen);
#else
    return brn_errorf(err, errlen, BRN_EDEVICE, "--device %s: this build has no CUDA support", device);
#endif
}

int main(int argc, char **argv)
{
    int depth = 16, width = 4, batch = 128, threads = 2, steps = 5, warmup = 2, size = 32, channels = 3, graph = 1;
    const char *device = "cpu", *precision = "fp32", *input = "device";
    brn_blas_select_reexec(argv);
    const char *norms = "bn,brn";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--depth")) depth = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--width")) width = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size")) size = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--norms")) norms = argv[i + 1];
        else if (!strcmp(argv[i], "--device")) device = argv[i + 1];
        else if (!strcmp(argv[i], "--precision")) precision = argv[i + 1];
        else if (!strcmp(argv[i], "--graph")) graph = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--input")) input = argv[i + 1];
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 64;
        }
    }
    brn_backend *be;
    char err[512];
    if (open_backend(device, precision, threads, &be, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const int on_device = strcmp(input, "host") != 0;
    /* a CIFAR-shaped uint8 dataset of random pixels, four batches' worth */
    const long examples = 4L * batch;
    const size_t image = (size_t)channels * size * size;
    uint8_t *pixels = malloc(examples * image), *classes = malloc(examples);
    brn_batch_entry *plan = malloc(sizeof *plan * batch);
    if (!pixels || !classes || !plan) {
        fprintf(stderr, "out of host memory\n");
        return 1;
    }
    brn_rng dr;
    brn_rng_init(&dr, 5);
    for (size_t i = 0; i < examples * image; i++) pixels[i] = (uint8_t)brn_rng_below(&dr, 256);
    for (long i = 0; i < examples; i++) classes[i] = (uint8_t)(i % 10);
    brn_batch_source src = {.images = pixels, .labels = classes, .n = examples, .c = channels, .h = size, .w = size};
    for (int c = 0; c < channels && c < BRN_MAX_CHANNELS; c++) src.mean[c] = 0.45f, src.std[c] = 0.25f;
    brn_device_data data = {0};
    if (on_device && brn_backend_data_upload(be, &src, &data, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char list[64];
    snprintf(list, sizeof list, "%s", norms);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        brn_norm_kind kind = !strcmp(tok, "brn") ? BRN_NORM_BRN : !strcmp(tok, "gn") ? BRN_NORM_GN : BRN_NORM_BN;
        const brn_model_config mc = {.depth = depth, .width = width, .in_c = channels, .in_h = size, .in_w = size,
                                     .classes = 10, .max_batch = batch, .norm = kind, .eps = 1e-5, .gn_groups = 8,
                                     .capture = graph};
        brn_model m;
        const double t_init = now();
        if (brn_model_init(&m, &mc, be, err, sizeof err) || brn_model_init_weights(&m, 1, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        const double init_seconds = now() - t_init;
        brn_rng r;
        brn_rng_init(&r, 3);
        size_t nx = (size_t)batch * channels * size * size;
        float *x = be->ops->host_alloc(be, sizeof(float) * nx);
        int *labels = malloc(sizeof(int) * batch);
        if (!x || !labels) {
            fprintf(stderr, "out of host memory\n");
            return 1;
        }
        for (size_t i = 0; i < nx; i++) x[i] = (float)brn_rng_normal(&r);
        for (int i = 0; i < batch; i++) labels[i] = i % 10;
        /* BRN with relaxed limits so the renorm path does its full work */
        const brn_step_scalars sc = {.lr = 0.01, .norm_momentum = kind == BRN_NORM_BRN ? 0.01 : 0.1,
                                     .rmax = kind == BRN_NORM_BRN ? 3 : 1, .dmax = kind == BRN_NORM_BRN ? 5 : 0};
        const brn_sgd opt = {.momentum = 0.9, .weight_decay = 5e-4};
        double t0 = 0, loss = 0;
        int correct;
        for (int s = 0; s < warmup + steps; s++) {
            if (s == warmup) t0 = now();
            /* the same work per step as the trainer: the batch's plan (or a staged batch), step,
               update, read the loss */
            if (on_device) {
                for (int j = 0; j < batch; j++)
                    plan[j] = (brn_batch_entry){.index = (int32_t)brn_rng_below(&dr, (uint64_t)examples),
                                                .dy = (int8_t)((int)brn_rng_below(&dr, 2 * BRN_CROP_PAD + 1) - BRN_CROP_PAD),
                                                .dx = (int8_t)((int)brn_rng_below(&dr, 2 * BRN_CROP_PAD + 1) - BRN_CROP_PAD),
                                                .flip = brn_rng_uniform(&dr) < 0.5};
                if (brn_model_set_plan(&m, &data, plan, batch, err, sizeof err)) {
                    fprintf(stderr, "%s\n", err);
                    return 1;
                }
            } else {
                brn_model_set_batch(&m, x, labels, batch);
            }
            brn_model_set_scalars(&m, &sc);
            if (brn_model_train_update(&m, batch, &opt, err, sizeof err) ||
                brn_model_step_result(&m, &loss, &correct, err, sizeof err)) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
        }
        const double secs = now() - t0, ips = batch * steps / secs, flops = step_flops(&m, batch);
        printf("{\"impl\":\"brn-c\",\"device\":\"%s\",\"backend\":\"%s\",\"precision\":\"%s\",\"graph\":%d,\"input\":\"%s\","
               "\"norm\":\"%s\",\"depth\":%d,\"width\":%d,\"batch\":%d,\"size\":%d,\"threads\":%d,\"steps\":%d,"
               "\"images_per_sec\":%.2f,\"step_ms\":%.3f,\"gflop_per_step\":%.2f,\"tflops\":%.2f,"
               "\"cifar10_epoch_seconds\":%.2f,\"init_seconds\":%.2f,\"last_loss\":%.5f,\"blas_core\":\"%s\"}\n",
               device, be->description, brn_precision_name(be->precision), graph && be->ops->capture_begin ? 1 : 0,
               on_device ? "device" : "host", tok, depth, width, batch, size, threads, steps, ips, 1e3 * secs / steps, flops / 1e9,
               flops * steps / secs / 1e12, 50000 / ips, init_seconds, loss, brn_blas_core_name());
        fflush(stdout);
        be->ops->host_free(be, x);
        free(labels);
        brn_model_free(&m);
    }
    brn_backend_data_free(be, &data);
    brn_backend_close(be);
    free(pixels), free(classes), free(plan);
    return 0;
}
