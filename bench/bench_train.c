/* Times training steps (forward, backward, SGD) of the C engine on random data, the same
 * work bench/torch_train_bench.py times in PyTorch. Prints one JSON line per norm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "blas_select.h"
#include "model.h"
#include "rng.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int depth = 16, width = 4, batch = 128, threads = 2, steps = 5, warmup = 2, size = 32, channels = 3;
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
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 64;
        }
    }
    brn_backend *be;
    char err[256];
    if (brn_cpu_backend_create(threads, &be, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char list[64];
    snprintf(list, sizeof list, "%s", norms);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        brn_norm_kind kind = !strcmp(tok, "brn") ? BRN_NORM_BRN : !strcmp(tok, "gn") ? BRN_NORM_GN : BRN_NORM_BN;
        const brn_model_config mc = {.depth = depth, .width = width, .in_c = channels, .in_h = size, .in_w = size,
                                     .classes = 10, .max_batch = batch, .norm = kind, .eps = 1e-5, .gn_groups = 8};
        brn_model m;
        if (brn_model_init(&m, &mc, be, err, sizeof err) || brn_model_init_weights(&m, 1, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        brn_rng r;
        brn_rng_init(&r, 3);
        size_t nx = (size_t)batch * channels * size * size;
        float *x = malloc(sizeof(float) * nx);
        int *labels = malloc(sizeof(int) * batch);
        for (size_t i = 0; i < nx; i++) x[i] = (float)brn_rng_normal(&r);
        for (int i = 0; i < batch; i++) labels[i] = i % 10;
        /* BRN with relaxed limits so the renorm path does its full work */
        const brn_step_scalars sc = {.lr = 0.01, .norm_momentum = kind == BRN_NORM_BRN ? 0.01 : 0.1,
                                     .rmax = kind == BRN_NORM_BRN ? 3 : 1, .dmax = kind == BRN_NORM_BRN ? 5 : 0};
        const brn_sgd opt = {.momentum = 0.9, .weight_decay = 5e-4};
        double t0 = 0, loss;
        int correct;
        for (int s = 0; s < warmup + steps; s++) {
            if (s == warmup) t0 = now();
            /* the same work per step as the trainer: stage the batch, step, update, read the loss */
            brn_model_set_batch(&m, x, labels, batch);
            brn_model_set_scalars(&m, &sc);
            if (brn_model_train_step(&m, batch, err, sizeof err)) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
            brn_model_sgd_step(&m, &opt);
            if (brn_model_step_result(&m, &loss, &correct, err, sizeof err)) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
        }
        double secs = now() - t0;
        printf("{\"impl\":\"brn-c\",\"norm\":\"%s\",\"depth\":%d,\"width\":%d,\"batch\":%d,\"threads\":%d,"
               "\"steps\":%d,\"images_per_sec\":%.2f,\"blas_core\":\"%s\"}\n",
               tok, depth, width, batch, threads, steps, batch * steps / secs, brn_blas_core_name());
        fflush(stdout);
        free(x), free(labels);
        brn_model_free(&m);
    }
    brn_backend_close(be);
    return 0;
}
