/* The C engine against an independent PyTorch implementation (tests/torch_ref/,
 * fixtures in tests/fixtures/golden_*.safetensors, see docs/golden.md): logits, activations,
 * every gradient, three SGD steps of losses, final weights and running statistics, and
 * eval-mode logits. Errors are max|ours - torch| / max|torch| per tensor. */
#include <stdlib.h>
#include <string.h>

#include "blas_select.h"
#include "check.h"
#include "model.h"
#include "optim.h"
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
    brn_model_config mc = {(int)meta_num(&f, "depth"), (int)meta_num(&f, "width"), (int)meta_num(&f, "in_c"),
                           (int)meta_num(&f, "in_h"), (int)meta_num(&f, "in_w"), (int)meta_num(&f, "classes"),
                           (int)meta_num(&f, "batch"), !strcmp(norm, "brn") ? BRN_NORM_BRN : BRN_NORM_BN,
                           meta_num(&f, "eps"), (int)meta_num(&f, "microbatch"), 8, 0};
    brn_model m;
    CHECK_EQ_INT(brn_model_init(&m, &mc, 2, err, sizeof err), 0);
    for (int i = 0; i < m.n_tensors; i++) {
        snprintf(name, sizeof name, "init.%s", m.tensors[i].name);
        const brn_st_tensor *t = brn_st_find(&f, name);
        CHECK(t && t->nbytes == m.tensors[i].count * 4);
        if (t) memcpy(brn_model_tensor_data(&m, &m.tensors[i]), t->data, t->nbytes);
    }
    const int N = mc.max_batch;
    const size_t hw = (size_t)mc.in_h * mc.in_w;
    float *x = malloc(sizeof(float) * N * mc.in_c * hw);
    const float *in = brn_st_find(&f, "input")->data;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < mc.in_c; c++) memcpy(x + (c * N + n) * hw, in + (n * mc.in_c + c) * hw, hw * 4);
    int *labels = malloc(sizeof(int) * N);
    memcpy(labels, brn_st_find(&f, "labels")->data, sizeof(int) * N);

    brn_norm_step ns = {meta_num(&f, "norm_momentum"), meta_num(&f, "rmax"), meta_num(&f, "dmax"), 0};
    if (mc.norm == BRN_NORM_BN) ns.rmax = 1, ns.dmax = 0;
    brn_sgd opt = {meta_num(&f, "lr"), meta_num(&f, "momentum"), meta_num(&f, "weight_decay"),
                   brn_st_meta(&f, "nesterov") && !strcmp(brn_st_meta(&f, "nesterov"), "true")};
    float *velocity = calloc(m.n_params, sizeof(float));
    const int steps = (int)meta_num(&f, "steps");
    const float *losses = brn_st_find(&f, "losses")->data;
    double worst_v = 0, worst_g = 0, worst_loss = 0;
    for (int s = 0; s < steps; s++) {
        double loss;
        int correct;
        CHECK_EQ_INT(brn_model_train_step(&m, x, labels, N, &ns, &loss, &correct, err, sizeof err), 0);
        worst_loss = fmax(worst_loss, fabs(loss - losses[s]) / fabs(losses[s]));
        CHECK_CLOSE(loss, losses[s], 0, TOL_VALUES);
        if (s == 0) {
            check_tensor("step0", m.logits, &f, "step0.logits", 0, TOL_VALUES, &worst_v);
            for (int b = 0; b < m.n_blocks; b++) {
                snprintf(name, sizeof name, "step0.act.blocks.%d", b);
                if (brn_st_find(&f, name)) check_tensor("step0", m.blocks[b].out, &f, name, 1, TOL_VALUES, &worst_v);
            }
            check_tensor("step0", m.final_a, &f, "step0.act.final_relu", 1, TOL_VALUES, &worst_v);
            for (int i = 0; i < m.n_tensors; i++) {
                if (m.tensors[i].kind != BRN_TENSOR_PARAM) continue;
                snprintf(name, sizeof name, "step0.grad.%s", m.tensors[i].name);
                check_tensor("grad", m.grads + m.tensors[i].offset, &f, name, 0, TOL_GRADS, &worst_g);
            }
        }
        brn_sgd_step(m.params, m.grads, velocity, m.n_params, &opt);
    }
    for (int i = 0; i < m.n_tensors; i++) {
        snprintf(name, sizeof name, "final.%s", m.tensors[i].name);
        check_tensor("final", brn_model_tensor_data(&m, &m.tensors[i]), &f, name, 0, TOL_VALUES, &worst_v);
    }
    CHECK_EQ_INT(brn_model_forward(&m, x, N, 0, 0, NULL, err, sizeof err), 0);
    check_tensor("eval", m.logits, &f, "eval.logits", 0, TOL_VALUES, &worst_v);
    fprintf(stderr, "  %s: worst loss %.2e, values %.2e (tol %.0e), gradients %.2e (tol %.0e)\n", file, worst_loss,
            worst_v, TOL_VALUES, worst_g, TOL_GRADS);
    free(x), free(labels), free(velocity);
    brn_model_free(&m);
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
    brn_cpu_set_threads(2);
    TEST(test_bn);
    TEST(test_brn);
    TEST(test_brn_microbatch);
    TEST(test_bn_nesterov_wd);
    return CHECK_DONE();
}
