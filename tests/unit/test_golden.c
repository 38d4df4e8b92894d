/* The C engine against an independent PyTorch implementation (tests/torch_ref/,
 * fixtures in tests/fixtures/golden_*.safetensors, see docs/golden.md): logits, activations,
 * every gradient, three SGD steps of losses, final weights and running statistics, and
 * eval-mode logits. Errors are max|ours - torch| / max|torch| per tensor. */
#include <stdlib.h>
#include <string.h>

#include "blas_select.h"
#include "check.h"
#include "model.h"
#include "model_fixture.h"
#include "safetensors.h"

#define TOL_VALUES 2e-5   /* logits, activations, weights, running statistics */
#define TOL_GRADS 2e-4

static const char *g_dir = "tests/fixtures";

static double meta_num(const brn_st_file *f, const char *k)
{
    const char *v = brn_st_meta(f, k);
    return v ? atof(v) : 0;
}

/* ours is [C][N][H][W] when cnhw, else the same layout as torch's */
static double norm_err(const float *ours, const brn_st_tensor *t, int cnhw)
{
    const float *ref = t->data;
    size_t n = t->nbytes / 4;
    double maxref = 1e-12, maxdiff = 0;
    int N = (int)t->shape[0], C = t->ndim > 1 ? (int)t->shape[1] : 1;
    size_t hw = t->ndim == 4 ? (size_t)t->shape[2] * t->shape[3] : 1;
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        if (cnhw) {
            size_t nn = i / (C * hw), c = (i / hw) % C, k = i % hw;
            j = (c * N + nn) * hw + k;
        }
        maxref = fmax(maxref, fabs(ref[i]));
        maxdiff = fmax(maxdiff, fabs(ours[j] - ref[i]));
    }
    return maxdiff / maxref;
}

static void check_tensor(const char *what, const float *ours, const brn_st_file *f, const char *name, int cnhw,
                         double tol, double *worst)
{
    const brn_st_tensor *t = brn_st_find(f, name);
    CHECK(t != NULL);
    if (!t) {
        fprintf(stderr, "    %s: fixture has no %s\n", what, name);
        return;
    }
    double e = norm_err(ours, t, cnhw);
    if (e > *worst) *worst = e;
    if (!(e <= tol)) fprintf(stderr, "    %s %s: error %.3e > %.1e\n", what, name, e, tol);
    CHECK(e <= tol);
}

static void run_case(const char *file)
{
    char path[512], err[512], name[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, file);
    brn_st_file f;
    int rc = brn_st_read(&f, path, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(brn_st_meta(&f, "magic") && !strcmp(brn_st_meta(&f, "magic"), "brn-golden"));
    CHECK(brn_st_meta(&f, "version") && !strcmp(brn_st_meta(&f, "version"), "1"));
    const char *norm = brn_st_meta(&f, "norm");
    const brn_model_config mc = {
        .depth = (int)meta_num(&f, "depth"), .width = (int)meta_num(&f, "width"), .in_c = (int)meta_num(&f, "in_c"),
        .in_h = (int)meta_num(&f, "in_h"), .in_w = (int)meta_num(&f, "in_w"), .classes = (int)meta_num(&f, "classes"),
        .max_batch = (int)meta_num(&f, "batch"), .norm = !strcmp(norm, "brn") ? BRN_NORM_BRN : BRN_NORM_BN,
        .eps = meta_num(&f, "eps"), .microbatch = (int)meta_num(&f, "microbatch"), .gn_groups = 8,
    };
    brn_backend *be = fixture_cpu(2);
    brn_model m;
    CHECK_EQ_INT(brn_model_init(&m, &mc, be, err, sizeof err), 0);
    CHECK_EQ_INT(brn_model_init_weights(&m, 1, err, sizeof err), 0);
    for (int i = 0; i < m.n_tensors; i++) {
        snprintf(name, sizeof name, "init.%s", m.tensors[i].name);
        const brn_st_tensor *t = brn_st_find(&f, name);
        CHECK(t && t->nbytes == m.tensors[i].count * 4);
        if (t) brn_model_write_tensor(&m, &m.tensors[i], BRN_VIEW_VALUE, t->data);
    }
    const int N = mc.max_batch;
    const size_t hw = (size_t)mc.in_h * mc.in_w;
    float *x = malloc(sizeof(float) * N * mc.in_c * hw);
    const float *in = brn_st_find(&f, "input")->data;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < mc.in_c; c++) memcpy(x + (c * N + n) * hw, in + (n * mc.in_c + c) * hw, hw * 4);
    int *labels = malloc(sizeof(int) * N);
    memcpy(labels, brn_st_find(&f, "labels")->data, sizeof(int) * N);

    brn_step_scalars sc = {.lr = meta_num(&f, "lr"), .norm_momentum = meta_num(&f, "norm_momentum"),
                           .rmax = meta_num(&f, "rmax"), .dmax = meta_num(&f, "dmax")};
    if (mc.norm == BRN_NORM_BN) sc.rmax = 1, sc.dmax = 0;
    const brn_sgd opt = {.momentum = meta_num(&f, "momentum"), .weight_decay = meta_num(&f, "weight_decay"),
                         .nesterov = brn_st_meta(&f, "nesterov") && !strcmp(brn_st_meta(&f, "nesterov"), "true")};
    /* the largest activation or parameter the checks read back */
    size_t most = m.n_params + m.n_buffers;
    for (int b = 0; b < m.n_blocks; b++) {
        const size_t a = (size_t)N * m.blocks[b].cout * m.blocks[b].oh * m.blocks[b].ow;
        if (a > most) most = a;
    }
    float *host = malloc(sizeof(float) * most);
    const int steps = (int)meta_num(&f, "steps");
    const float *losses = brn_st_find(&f, "losses")->data;
    double worst_v = 0, worst_g = 0, worst_loss = 0;
    for (int s = 0; s < steps; s++) {
        double loss;
        int correct;
        CHECK_EQ_INT(fixture_train_step(&m, x, labels, N, &sc, &loss, &correct, err, sizeof err), 0);
        worst_loss = fmax(worst_loss, fabs(loss - losses[s]) / fabs(losses[s]));
        CHECK_CLOSE(loss, losses[s], 0, TOL_VALUES);
        if (s == 0) {
            fixture_read(&m, host, m.logits, sizeof(float) * N * mc.classes);
            check_tensor("step0", host, &f, "step0.logits", 0, TOL_VALUES, &worst_v);
            for (int b = 0; b < m.n_blocks; b++) {
                const brn_block *blk = &m.blocks[b];
                snprintf(name, sizeof name, "step0.act.blocks.%d", b);
                if (!brn_st_find(&f, name)) continue;
                const brn_act_shape as = {.c = blk->cout, .n = N, .h = blk->oh, .w = blk->ow};
                CHECK_EQ_INT(brn_model_read_act(&m, blk->out, as, host, err, sizeof err), 0);
                check_tensor("step0", host, &f, name, 1, TOL_VALUES, &worst_v);
            }
            const brn_block *last = &m.blocks[m.n_blocks - 1];
            const brn_act_shape fs = {.c = m.feat, .n = N, .h = last->oh, .w = last->ow};
            CHECK_EQ_INT(brn_model_read_act(&m, m.final_a, fs, host, err, sizeof err), 0);
            check_tensor("step0", host, &f, "step0.act.final_relu", 1, TOL_VALUES, &worst_v);
            for (int i = 0; i < m.n_tensors; i++) {
                if (m.tensors[i].kind != BRN_TENSOR_PARAM) continue;
                snprintf(name, sizeof name, "step0.grad.%s", m.tensors[i].name);
                CHECK_EQ_INT(brn_model_read_tensor(&m, &m.tensors[i], BRN_VIEW_GRAD, host, err, sizeof err), 0);
                check_tensor("grad", host, &f, name, 0, TOL_GRADS, &worst_g);
            }
        }
        brn_model_sgd_step(&m, &opt);
    }
    for (int i = 0; i < m.n_tensors; i++) {
        snprintf(name, sizeof name, "final.%s", m.tensors[i].name);
        CHECK_EQ_INT(brn_model_read_tensor(&m, &m.tensors[i], BRN_VIEW_VALUE, host, err, sizeof err), 0);
        check_tensor("final", host, &f, name, 0, TOL_VALUES, &worst_v);
    }
    brn_model_set_batch(&m, x, labels, N);
    CHECK_EQ_INT(brn_model_forward(&m, N, BRN_NORM_EVAL_RUNNING, err, sizeof err), 0);
    fixture_read(&m, host, m.logits, sizeof(float) * N * mc.classes);
    check_tensor("eval", host, &f, "eval.logits", 0, TOL_VALUES, &worst_v);
    fprintf(stderr, "  %s: worst loss %.2e, values %.2e (tol %.0e), gradients %.2e (tol %.0e)\n", file, worst_loss,
            worst_v, TOL_VALUES, worst_g, TOL_GRADS);
    free(x), free(labels), free(host);
    brn_model_free(&m);
    brn_backend_close(be);
    brn_st_free(&f);
}

static void test_bn(void) { run_case("golden_bn.safetensors"); }
static void test_brn(void) { run_case("golden_brn.safetensors"); }
static void test_brn_microbatch(void) { run_case("golden_brn_mb4.safetensors"); }
static void test_bn_nesterov_wd(void) { run_case("golden_bn_nesterov_wd.safetensors"); }

int main(int argc, char **argv)
{
    brn_blas_select_reexec(argv);
    fprintf(stderr, "BLAS kernels: %s\n", brn_blas_core_name());
    if (argc > 1) g_dir = argv[1];
    TEST(test_bn);
    TEST(test_brn);
    TEST(test_brn_microbatch);
    TEST(test_bn_nesterov_wd);
    return CHECK_DONE();
}
