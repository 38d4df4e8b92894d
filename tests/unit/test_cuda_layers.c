/* The small layers' kernels (dropout, average pool, add, bias, softmax cross-entropy, SGD)
 * under the host emulation against the CPU engine's layers: dropout masks equal to the
 * CPU's bit for bit, values against the double-precision layers with a tolerance per
 * tensor, fp32 and bf16 activations, odd sizes that take the scalar paths. */
#include "cpu/layers.h"
#include "kernel_check.h"

/* one fp32 rounding of a product or sum against double */
static const kc_tol TOL_F32_OP = {2.5e-7, 1e-7};
/* one bf16 rounding of the result (2^-8 relative) */
static const kc_tol TOL_BF16_OP = {4e-3, 1e-6};

/* a double sum rounded to fp32 once or twice */
static const kc_tol TOL_SUM = {1e-6, 1e-7};
/* softmax and its gradient in double, rounded to fp32 once */
static const kc_tol TOL_DLOGITS = {1e-7, 1e-8};
/* two SGD steps in fp32 against double */
static const kc_tol TOL_SGD = {1e-6, 1e-7};

static kc_tol op_tol(brn_act_type at) { return at == BRN_AT_BF16 ? TOL_BF16_OP : TOL_F32_OP; }
static const char *at_name(brn_act_type at) { return at == BRN_AT_BF16 ? "bf16" : "fp32"; }

static void check_dropout(brn_act_shape s, brn_act_type at, double p)
{
    const size_t n = kc_count(s);
    const uint64_t seed = brn_rng_next(&kc_rng), salt = brn_rng_next(&kc_rng);
    double *x = kc_randn(n, 0, 1), *dy = kc_randn(n, 0, 1);
    kc_round_to(x, n, at);
    kc_round_to(dy, n, at);
    void *dx_in = kc_to_nhwc(x, s, at), *ddy = kc_to_nhwc(dy, s, at);
    void *dev_y = kc_to_nhwc(x, s, at), *dev_dx = kc_to_nhwc(x, s, at);   /* overwritten */
    uint8_t *keep = kc_alloc(n);
    brn_step_scalars *sc = kc_alloc(sizeof *sc);
    *sc = (brn_step_scalars){.dropout_seed = seed};
    CHECK_EQ_INT(BRN_K(dropout_forward)(NULL, dev_y, keep, dx_in, at, s, p, salt, sc), 0);
    CHECK_EQ_INT(BRN_K(dropout_backward)(NULL, dev_dx, ddy, keep, at, s, p), 0);

    double *ry = malloc(sizeof(double) * n), *rdx = malloc(sizeof(double) * n);
    uint8_t *rkeep = malloc(n);
    brn_cpu_dropout_forward_f64(ry, rkeep, x, n, p, seed ^ salt);
    brn_cpu_dropout_backward_f64(rdx, dy, rkeep, n, p);
    size_t differ = 0, kept = 0;
    for (int c = 0; c < s.c; c++)
        for (int e = 0; e < s.n; e++)
            for (int h = 0; h < s.h; h++)
                for (int w = 0; w < s.w; w++) {
                    const uint8_t want = rkeep[kc_cnhw(s, c, e, h, w)];
                    differ += keep[kc_nhwc(s, c, e, h, w)] != want;
                    kept += want;
                }
    fprintf(stderr, "  dropout %s c%d n%d %dx%d p %.2f: %zu of %zu masks differ from the CPU's (%zu kept)\n",
            at_name(at), s.c, s.n, s.h, s.w, p, differ, n, kept);
    CHECK_EQ_INT(differ, 0);
    CHECK(kept > 0 && kept < n);
    double *gy = kc_from_nhwc(dev_y, s, at), *gdx = kc_from_nhwc(dev_dx, s, at);
    KC_CHECK("dropout y", gy, ry, n, op_tol(at), kc_describe_act, &s);
    KC_CHECK("dropout dx", gdx, rdx, n, op_tol(at), kc_describe_act, &s);
    free(x), free(dy), free(dx_in), free(ddy), free(dev_y), free(dev_dx), free(keep), free(sc), free(ry), free(rdx);
    free(rkeep), free(gy), free(gdx);
}

static void test_dropout(void)
{
    check_dropout((brn_act_shape){.c = 7, .n = 3, .h = 5, .w = 4}, BRN_AT_F32, 0.3);
    check_dropout((brn_act_shape){.c = 16, .n = 4, .h = 3, .w = 3}, BRN_AT_F32, 0.5);
    check_dropout((brn_act_shape){.c = 24, .n = 2, .h = 4, .w = 5}, BRN_AT_BF16, 0.2);
    check_dropout((brn_act_shape){.c = 5, .n = 2, .h = 3, .w = 3}, BRN_AT_BF16, 0.7);
}

static void check_avgpool(brn_act_shape s, brn_act_type at)
{
    const size_t n = kc_count(s), ny = (size_t)s.n * s.c;
    double *x = kc_randn(n, 0.3, 1), *dy = kc_randn(ny, 0, 1);
    kc_round_to(x, n, at);
    kc_round_to(dy, ny, BRN_AT_F32);
    void *dev_x = kc_to_nhwc(x, s, at), *dev_dx = kc_to_nhwc(x, s, at);
    float *y = kc_alloc(sizeof(float) * ny), *ddy = kc_floats(dy, ny);
    CHECK_EQ_INT(BRN_K(avgpool_forward)(NULL, y, dev_x, at, s), 0);
    CHECK_EQ_INT(BRN_K(avgpool_backward)(NULL, dev_dx, ddy, at, s), 0);
    double *ry = malloc(sizeof(double) * ny), *rdx = malloc(sizeof(double) * n);
    brn_cpu_avgpool_forward_f64(ry, x, &s);
    brn_cpu_avgpool_backward_f64(rdx, dy, &s);
    double *gy = kc_doubles(y, ny), *gdx = kc_from_nhwc(dev_dx, s, at);
    char name[64];
    snprintf(name, sizeof name, "avgpool y %s c%d %dx%d", at_name(at), s.c, s.h, s.w);
    KC_CHECK(name, gy, ry, ny, TOL_F32_OP, NULL, NULL);
    snprintf(name, sizeof name, "avgpool dx %s c%d %dx%d", at_name(at), s.c, s.h, s.w);
    KC_CHECK(name, gdx, rdx, n, op_tol(at), kc_describe_act, &s);
    free(x), free(dy), free(dev_x), free(dev_dx), free(y), free(ddy), free(ry), free(rdx), free(gy), free(gdx);
}

static void test_avgpool(void)
{
    check_avgpool((brn_act_shape){.c = 9, .n = 3, .h = 5, .w = 5}, BRN_AT_F32);
    check_avgpool((brn_act_shape){.c = 64, .n = 2, .h = 8, .w = 8}, BRN_AT_F32);
    check_avgpool((brn_act_shape){.c = 40, .n = 3, .h = 4, .w = 4}, BRN_AT_BF16);
    check_avgpool((brn_act_shape){.c = 3, .n = 2, .h = 7, .w = 3}, BRN_AT_BF16);
}

static void check_add(size_t n, size_t offset, brn_act_type at)
{
    const brn_act_shape s = {.c = 1, .n = 1, .h = 1, .w = (int)(n + offset)};
    double *y = kc_randn(n + offset, 0, 1), *x = kc_randn(n + offset, 0, 1);
    kc_round_to(y, n + offset, at);
    kc_round_to(x, n + offset, at);
    void *dy = kc_to_nhwc(y, s, at), *dx = kc_to_nhwc(x, s, at);
    const size_t eb = at == BRN_AT_BF16 ? 2 : 4;
    CHECK_EQ_INT(BRN_K(add)(NULL, (char *)dy + eb * offset, (char *)dx + eb * offset, at, n), 0);
    brn_cpu_add_inplace_f64(y + offset, x + offset, n);
    double *got = kc_from_nhwc(dy, s, at);
    char name[64];
    snprintf(name, sizeof name, "add %s n=%zu offset %zu", at_name(at), n, offset);
    KC_CHECK(name, got, y, n + offset, op_tol(at), NULL, NULL);   /* the untouched head too */
    free(y), free(x), free(dy), free(dx), free(got);
}

static void test_add(void)
{
    check_add(1024, 0, BRN_AT_F32);
    check_add(1001, 1, BRN_AT_F32);
    check_add(1024, 0, BRN_AT_BF16);
    check_add(333, 3, BRN_AT_BF16);
}

static void check_bias(int n, int in, int out)
{
    double *y = kc_randn((size_t)n * out, 0, 1), *b = kc_randn(out, 0, 1), *dy = kc_randn((size_t)n * out, 0, 1);
    double *x = kc_randn((size_t)n * in, 0, 1), *w = kc_randn((size_t)out * in, 0, 1), *db = kc_randn(out, 0, 1);
    float *gy = kc_floats(y, (size_t)n * out), *gb = kc_floats(b, out), *gdy = kc_floats(dy, (size_t)n * out);
    float *gdb = kc_floats(db, out);
    kc_round_to(y, (size_t)n * out, BRN_AT_F32);
    kc_round_to(b, out, BRN_AT_F32);
    kc_round_to(dy, (size_t)n * out, BRN_AT_F32);
    kc_round_to(db, out, BRN_AT_F32);
    CHECK_EQ_INT(BRN_K(bias_add)(NULL, gy, gb, n, out), 0);
    CHECK_EQ_INT(BRN_K(bias_grad)(NULL, gdb, gdy, n, out), 0);
    /* the CPU: the bias add of linear_forward is y = x w^T + b; its backward db += sum dy */
    double *ry = malloc(sizeof(double) * n * out), *dw = calloc((size_t)out * in, sizeof(double));
    double *zero_w = calloc((size_t)out * in, sizeof(double));
    brn_cpu_linear_forward_f64(ry, x, zero_w, b, n, in, out);   /* = b broadcast */
    for (size_t i = 0; i < (size_t)n * out; i++) ry[i] += y[i];
    brn_cpu_linear_backward_f64(NULL, dw, db, dy, x, w, n, in, out);
    double *ky = kc_doubles(gy, (size_t)n * out), *kdb = kc_doubles(gdb, out);
    KC_CHECK("bias_add y", ky, ry, (size_t)n * out, TOL_F32_OP, NULL, NULL);
    KC_CHECK("bias_grad db (+=)", kdb, db, out, TOL_SUM, NULL, NULL);
    free(y), free(b), free(dy), free(x), free(w), free(db), free(gy), free(gb), free(gdy), free(gdb), free(ry);
    free(dw), free(zero_w), free(ky), free(kdb);
}

static void test_bias(void)
{
    check_bias(37, 5, 10);
    check_bias(128, 3, 100);
}

/* rows with ties: the first maximum is the prediction, wherever the label is */
static void check_softmax_xent(int n, int k)
{
    double *z = kc_randn((size_t)n * k, 0, 3);
    int *labels = kc_alloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) {
        labels[i] = (int)(brn_rng_next(&kc_rng) % (uint64_t)k);
        if (i % 4 == 0 && k > 2) {   /* two equal maxima: the label is the first, or the second */
            const int a = (int)(brn_rng_next(&kc_rng) % (uint64_t)(k - 1)), b = k - 1;
            z[(size_t)i * k + a] = z[(size_t)i * k + b] = 20;
            labels[i] = i % 8 == 0 ? a : b;
        }
    }
    kc_round_to(z, (size_t)n * k, BRN_AT_F32);
    float *logits = kc_floats(z, (size_t)n * k), *dl = kc_alloc(sizeof(float) * n * k);
    brn_step_result *res = kc_alloc(sizeof *res);
    CHECK_EQ_INT(BRN_K(softmax_xent)(NULL, dl, logits, labels, n, k, res), 0);
    double *rdl = malloc(sizeof(double) * n * k);
    int correct = -1;
    const double loss = brn_cpu_softmax_xent_f64(rdl, z, labels, n, k, &correct);
    fprintf(stderr, "  softmax_xent n%d k%d: loss %.12g vs %.12g, correct %g vs %d\n", n, k, res->loss, loss,
            res->correct, correct);
    CHECK_CLOSE(res->loss, loss, 0, 1e-12);
    CHECK_EQ_INT(res->correct, correct);
    double *gdl = kc_doubles(dl, (size_t)n * k);
    KC_CHECK("softmax_xent dlogits", gdl, rdl, (size_t)n * k, TOL_DLOGITS, NULL, NULL);
    /* without dlogits: the same loss and hits */
    brn_step_result *res2 = kc_alloc(sizeof *res2);
    CHECK_EQ_INT(BRN_K(softmax_xent)(NULL, NULL, logits, labels, n, k, res2), 0);
    CHECK(res2->loss == res->loss && res2->correct == res->correct);
    free(z), free(labels), free(logits), free(dl), free(res), free(rdl), free(gdl), free(res2);
}

static void test_softmax_xent(void)
{
    check_softmax_xent(37, 10);
    check_softmax_xent(128, 100);
    check_softmax_xent(5, 3);
    check_softmax_xent(70, 33);
}

/* against the same fp32 formula in double, and against the CPU's fp32 step */
static void check_sgd(size_t n, size_t offset, int nesterov)
{
    const brn_sgd o = {.momentum = 0.9, .weight_decay = 5e-4, .nesterov = nesterov};
    brn_step_scalars *sc = kc_alloc(sizeof *sc);
    *sc = (brn_step_scalars){.lr = 0.05};
    double *w = kc_randn(n + offset, 0, 1), *g = kc_randn(n + offset, 0, 1), *v = kc_randn(n + offset, 0, 0.1);
    float *gw = kc_floats(w, n + offset), *gg = kc_floats(g, n + offset), *gv = kc_floats(v, n + offset);
    float *cw = kc_floats(w, n + offset), *cv = kc_floats(v, n + offset), *cg = kc_floats(g, n + offset);
    kc_round_to(w, n + offset, BRN_AT_F32);
    kc_round_to(g, n + offset, BRN_AT_F32);
    kc_round_to(v, n + offset, BRN_AT_F32);
    for (int step = 0; step < 2; step++) {
        CHECK_EQ_INT(BRN_K(sgd_step)(NULL, gw + offset, gg + offset, gv + offset, n, &o, sc), 0);
        brn_cpu_sgd_step_f32(cw + offset, cg + offset, cv + offset, n, (float)sc->lr, (float)o.momentum,
                             (float)o.weight_decay, nesterov);
        for (size_t i = offset; i < n + offset; i++) {
            const double gi = g[i] + (float)o.weight_decay * w[i];
            v[i] = (float)o.momentum * v[i] + gi;
            w[i] -= (float)sc->lr * (nesterov ? gi + (float)o.momentum * v[i] : v[i]);
        }
    }
    char name[64];
    double *kw = kc_doubles(gw, n + offset), *kv = kc_doubles(gv, n + offset);
    double *pw = kc_doubles(cw, n + offset), *pv = kc_doubles(cv, n + offset);
    snprintf(name, sizeof name, "sgd%s w n=%zu (double)", nesterov ? " nesterov" : "", n);
    KC_CHECK(name, kw, w, n + offset, TOL_SGD, NULL, NULL);
    snprintf(name, sizeof name, "sgd%s velocity n=%zu (double)", nesterov ? " nesterov" : "", n);
    KC_CHECK(name, kv, v, n + offset, TOL_SGD, NULL, NULL);
    snprintf(name, sizeof name, "sgd%s w n=%zu (cpu fp32)", nesterov ? " nesterov" : "", n);
    KC_CHECK(name, kw, pw, n + offset, TOL_SGD, NULL, NULL);
    snprintf(name, sizeof name, "sgd%s velocity n=%zu (cpu fp32)", nesterov ? " nesterov" : "", n);
    KC_CHECK(name, kv, pv, n + offset, TOL_SGD, NULL, NULL);
    free(sc), free(w), free(g), free(v), free(gw), free(gg), free(gv), free(cw), free(cv), free(cg);
    free(kw), free(kv), free(pw), free(pv);
}

static void test_sgd(void)
{
    check_sgd(1024, 0, 0);
    check_sgd(1027, 0, 1);   /* a tail after the packs of 4 */
    check_sgd(999, 1, 1);    /* misaligned: one by one */
}

int main(void)
{
    kc_seed();
    TEST(test_dropout);
    TEST(test_avgpool);
    TEST(test_add);
    TEST(test_bias);
    TEST(test_softmax_xent);
    TEST(test_sgd);
    fprintf(stderr, "worst error ratio over all tensors: %.3f (1 = at tolerance)\n", kc_worst_ratio_seen);
    return CHECK_DONE();
}
