/* Batch Renormalization exactly as spec/batch-renorm.md: one test per known mistake. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model_fixture.h"
#include "cpu/layers.h"
#include "errors.h"
#include "model.h"
#include "rng.h"
#include "schedule.h"

static brn_rng g_rng;

static void fill(double *v, size_t n, double scale, double shift)
{
    for (size_t i = 0; i < n; i++) v[i] = shift + scale * brn_rng_normal(&g_rng);
}

/* One channel of m values: returns mean and biased variance. */
static void moments(const double *x, int m, double *mu, double *var)
{
    double s = 0, ss = 0;
    for (int i = 0; i < m; i++) s += x[i];
    *mu = s / m;
    for (int i = 0; i < m; i++) ss += (x[i] - *mu) * (x[i] - *mu);
    *var = ss / m;
}

static void test_running_statistics(void)
{
    enum { M = 16 };
    double x[M], a[M], saved[4], gamma = 1.3, beta = -0.2;
    fill(x, M, 2.0, 0.7);
    double mu, var;
    moments(x, M, &mu, &var);
    const double eps = 1e-3, alpha = 0.01;
    brn_act_shape s = {.c = 1, .n = M, .h = 1, .w = 1};

    /* BRN: moving std with eps inside; r, d from the PRE-update values; sigma starts at 1 */
    double rm = 0.5, rs = 1.0;
    brn_norm_params_f64 p = {.gamma = &gamma, .beta = &beta, .run_mean = &rm, .run_var = &rs};
    brn_bn_config cfg = {.renorm = 1, .eps = eps, .momentum = alpha, .rmax = 3, .dmax = 5, .update_running = 1};
    CHECK_EQ_INT(brn_cpu_batchnorm_forward_train_f64(a, saved, x, &p, &cfg, &s, M, 0), 0);
    double sigma_b = sqrt(var + eps);
    CHECK_CLOSE(saved[1], sigma_b, 1e-14, 1e-12);                 /* biased variance, eps inside */
    CHECK_CLOSE(saved[2], fmin(fmax(sigma_b / 1.0, 1 / 3.0), 3.0), 1e-14, 1e-12);   /* old sigma = 1 */
    CHECK_CLOSE(saved[3], fmin(fmax((mu - 0.5) / 1.0, -5.0), 5.0), 1e-14, 1e-12);   /* old mu = 0.5 */
    CHECK_CLOSE(rm, 0.5 + alpha * (mu - 0.5), 1e-15, 1e-13);
    CHECK_CLOSE(rs, 1.0 + alpha * (sigma_b - 1.0), 1e-15, 1e-13);  /* the STD, not the variance */
    for (int i = 0; i < M; i++)
        CHECK_CLOSE(a[i], gamma * ((x[i] - mu) / sigma_b * saved[2] + saved[3]) + beta, 1e-12, 1e-12);

    /* BN: unbiased running variance, PyTorch's convention */
    double bm = 0, bv = 1;
    brn_norm_params_f64 pb = {.gamma = &gamma, .beta = &beta, .run_mean = &bm, .run_var = &bv};
    brn_bn_config bcfg = {.renorm = 0, .eps = eps, .momentum = 0.1, .rmax = 1, .update_running = 1};
    CHECK_EQ_INT(brn_cpu_batchnorm_forward_train_f64(a, saved, x, &pb, &bcfg, &s, M, 0), 0);
    CHECK_CLOSE(bv, 1.0 + 0.1 * (var * M / (M - 1) - 1.0), 1e-15, 1e-13);
    CHECK_CLOSE(saved[1], sigma_b, 1e-14, 1e-12);                 /* but normalization uses the biased one */

    /* inference: BRN uses sigma as is (no second eps); BN adds eps to the variance */
    double y[M];
    brn_bn_config ecfg = {.renorm = 1, .eps = eps, .rmax = 3, .dmax = 5, .update_running = 0};
    brn_cpu_batchnorm_forward_eval_f64(y, x, &p, &ecfg, &s, 0);
    CHECK_CLOSE(y[3], gamma * (x[3] - rm) / rs + beta, 1e-14, 1e-12);
    ecfg.renorm = 0;
    brn_cpu_batchnorm_forward_eval_f64(y, x, &pb, &ecfg, &s, 0);
    CHECK_CLOSE(y[3], gamma * (x[3] - bm) / sqrt(bv + eps) + beta, 1e-14, 1e-12);
}

static void test_microbatch_statistics(void)
{
    /* two groups of 2 examples x 3 values: each normalized with its own statistics; the
       running averages move once, by the mean of the group statistics */
    enum { N = 4, HW = 3, M = 6 };
    double x[N * HW], a[N * HW], saved[8], gamma = 1, beta = 0, rm = 0, rs = 1;
    fill(x, N * HW, 1.0, 0.3);
    brn_norm_params_f64 p = {.gamma = &gamma, .beta = &beta, .run_mean = &rm, .run_var = &rs};
    brn_bn_config cfg = {.renorm = 1, .eps = 1e-5, .momentum = 0.1, .rmax = 2, .dmax = 1, .update_running = 1};
    brn_act_shape s = {.c = 1, .n = N, .h = 1, .w = HW};
    CHECK_EQ_INT(brn_cpu_batchnorm_forward_train_f64(a, saved, x, &p, &cfg, &s, 2, 0), 0);
    double mu0, v0, mu1, v1;
    moments(x, M, &mu0, &v0);
    moments(x + M, M, &mu1, &v1);
    CHECK_CLOSE(saved[0], mu0, 1e-14, 1e-12);
    CHECK_CLOSE(saved[4], mu1, 1e-14, 1e-12);
    CHECK_CLOSE(rm, 0.1 * (mu0 + mu1) / 2, 1e-15, 1e-12);
    CHECK_CLOSE(rs, 1 + 0.1 * ((sqrt(v0 + 1e-5) + sqrt(v1 + 1e-5)) / 2 - 1), 1e-15, 1e-12);
    /* both groups' d came from the pre-step mean 0 */
    CHECK_CLOSE(saved[3], fmin(fmax(mu0, -1), 1), 1e-14, 1e-12);
    CHECK_CLOSE(saved[7], fmin(fmax(mu1, -1), 1), 1e-14, 1e-12);
}

static void test_group_of_one_rejected(void)
{
    double x[3] = {1, 2, 3}, a[3], saved[12], g[1] = {1}, b[1] = {0}, rm[1] = {0}, rs[1] = {1};
    brn_norm_params_f64 p = {.gamma = g, .beta = b, .run_mean = rm, .run_var = rs};
    brn_bn_config cfg = {.renorm = 1, .eps = 1e-5, .momentum = 0.1, .rmax = 3, .dmax = 5, .update_running = 1};
    brn_act_shape s = {.c = 1, .n = 3, .h = 1, .w = 1};
    CHECK_EQ_INT(brn_cpu_batchnorm_forward_train_f64(a, saved, x, &p, &cfg, &s, 1, 0), BRN_EINVAL);
    CHECK_EQ_INT(brn_cpu_batchnorm_forward_train_f64(a, saved, x, &p, &cfg, &s, 3, 0), 0);

    /* in a whole model: a 4x4 input ends at 1x1, so microbatch 1 leaves one value */
    brn_backend *be = fixture_cpu(1);
    brn_model m;
    char err[512];
    const brn_model_config mc = {.depth = 10, .width = 1, .in_c = 1, .in_h = 4, .in_w = 4, .classes = 3,
                                 .max_batch = 4, .norm = BRN_NORM_BRN, .eps = 1e-5, .microbatch = 1, .gn_groups = 8};
    CHECK_EQ_INT(brn_model_init(&m, &mc, be, err, sizeof err), 0);
    CHECK_EQ_INT(brn_model_init_weights(&m, 1, err, sizeof err), 0);
    float xs[4 * 16];
    int labels[4] = {0, 1, 2, 0};
    for (int i = 0; i < 64; i++) xs[i] = (float)brn_rng_normal(&g_rng);
    const brn_step_scalars sc = {.lr = 0.1, .norm_momentum = 0.01, .rmax = 3, .dmax = 5};
    double loss;
    int correct;
    int rc = fixture_train_step(&m, xs, labels, 4, &sc, &loss, &correct, err, sizeof err);
    CHECK_EQ_INT(rc, BRN_EINVAL);
    CHECK_STR_CONTAINS(err, "microbatch");
    brn_model_free(&m);
    brn_backend_close(be);
}

static void test_schedule(void)
{
    brn_job_spec s;
    brn_spec_defaults(&s);
    s.norm = BRN_NORM_BRN;
    s.rmax = 3;   /* the paper's schedule */
    s.dmax = 5;
    s.steps = 50000;
    s.renorm_warmup = 5000;
    s.rmax_steps = 40000;
    s.dmax_steps = 25000;
    brn_resolved r;
    brn_spec_resolve(&s, 100000, &r);
    double rmax, dmax;
    brn_schedule_renorm(&s, &r, 0, &rmax, &dmax);
    CHECK(rmax == 1 && dmax == 0);
    brn_schedule_renorm(&s, &r, 4999, &rmax, &dmax);
    CHECK(rmax == 1 && dmax == 0);
    brn_schedule_renorm(&s, &r, 22500, &rmax, &dmax);   /* paper: 1 + 2*(t-5000)/35000 */
    CHECK_CLOSE(rmax, 2.0, 1e-12, 0);
    CHECK_CLOSE(dmax, 4.375, 1e-12, 0);           /* 5*(t-5000)/20000 */
    brn_schedule_renorm(&s, &r, 15000, &rmax, &dmax);
    CHECK_CLOSE(dmax, 2.5, 1e-12, 0);
    brn_schedule_renorm(&s, &r, 45000, &rmax, &dmax);
    CHECK(rmax == 3 && dmax == 5);
    /* no ramp: the final value right after the warm-up */
    s.rmax_steps = 100;
    s.dmax_steps = 0;
    brn_spec_resolve(&s, 100000, &r);
    brn_schedule_renorm(&s, &r, 5000, &rmax, &dmax);
    CHECK(rmax == 3 && dmax == 5);
    /* the defaults scaled to the run (docs/experiments.md): plain BN for 25%, both limits
       reached at 75%, final rmax 1.5 and dmax 0.5, momentum 50/steps within [0.01, 0.1] */
    brn_spec_defaults(&s);
    s.norm = BRN_NORM_BRN;
    s.steps = 1000;
    brn_spec_resolve(&s, 100000, &r);
    CHECK_EQ_INT(r.renorm_warmup, 250);
    CHECK_EQ_INT(r.dmax_steps, 750);
    CHECK_EQ_INT(r.rmax_steps, 750);
    CHECK_CLOSE(s.rmax, 1.5, 0, 0);
    CHECK_CLOSE(s.dmax, 0.5, 0, 0);
    CHECK_CLOSE(r.norm_momentum, 0.05, 1e-15, 0);
    CHECK(!r.momentum_too_slow && !r.renorm_before_converged);
    brn_schedule_renorm(&s, &r, 500, &rmax, &dmax);   /* half-way up the ramp */
    CHECK_CLOSE(rmax, 1.25, 1e-12, 0);
    CHECK_CLOSE(dmax, 0.25, 1e-12, 0);
    char line[512];
    brn_spec_describe_renorm(&s, &r, line, sizeof line);
    CHECK_STR_CONTAINS(line, "plain BN for 250 steps, dmax 0.5 at step 750, rmax 1.5 at step 750");
    CHECK_STR_CONTAINS(line, "momentum 0.05; warm-up, ramp end and momentum scaled to the run's 1000 steps");
    /* the run: 3 epochs of 156 steps */
    s.steps = 0;
    s.epochs = 3;
    s.batch_size = 64;
    brn_spec_resolve(&s, 10000, &r);
    CHECK_EQ_INT(r.total_steps, 468);
    CHECK_EQ_INT(r.renorm_warmup, 117);
    CHECK_EQ_INT(r.rmax_steps, 351);
    CHECK_CLOSE(r.norm_momentum, 0.1, 0, 0);   /* 50/468 capped at BN's 0.1 */
    /* long runs get the paper's momentum */
    s.steps = 100000;
    brn_spec_resolve(&s, 10000, &r);
    CHECK_CLOSE(r.norm_momentum, 0.01, 0, 0);
    CHECK_EQ_INT(r.renorm_warmup, 25000);
    /* given values are kept, and the line says what was scaled */
    s.steps = 1000;
    s.norm_momentum = 0.01;
    brn_spec_resolve(&s, 10000, &r);
    CHECK_CLOSE(r.norm_momentum, 0.01, 0, 0);
    CHECK(r.renorm_before_converged);   /* 250 warm-up steps < the ~300 that 0.01 needs */
    brn_spec_describe_renorm(&s, &r, line, sizeof line);
    CHECK_STR_CONTAINS(line, "momentum 0.01; warm-up and ramp end scaled to the run's 1000 steps");
    s.renorm_warmup = 400;
    s.rmax_steps = 800;
    s.dmax_steps = 600;
    brn_spec_resolve(&s, 10000, &r);
    CHECK(!r.renorm_before_converged);
    brn_spec_describe_renorm(&s, &r, line, sizeof line);
    CHECK_STR_CONTAINS(line, "plain BN for 400 steps, dmax 0.5 at step 600, rmax 1.5 at step 800");
    CHECK(strstr(line, "scaled") == NULL);
    CHECK(!r.renorm_never && !r.ramp_end_before_start);
    /* a warm-up given alone past 75% of the run: the automatic ramp end moves with it */
    s.rmax_steps = s.dmax_steps = BRN_SPEC_AUTO;
    s.renorm_warmup = 900;
    brn_spec_resolve(&s, 10000, &r);
    CHECK_EQ_INT(r.rmax_steps, 900);
    CHECK_EQ_INT(r.dmax_steps, 900);
    CHECK(!r.ramp_end_before_start && !r.renorm_never);
    brn_spec_describe_renorm(&s, &r, line, sizeof line);
    CHECK_STR_CONTAINS(line, "; ramp end scaled to the run's 1000 steps");
    /* a ramp end given before the warm-up ends: said, and the limit jumps there */
    s.renorm_warmup = 100;
    s.rmax_steps = 50;
    brn_spec_resolve(&s, 10000, &r);
    CHECK(r.ramp_end_before_start);
    brn_schedule_renorm(&s, &r, 99, &rmax, &dmax);
    CHECK(rmax == 1 && dmax == 0);
    brn_schedule_renorm(&s, &r, 100, &rmax, &dmax);
    CHECK(rmax == 1.5);
    /* a warm-up as long as the run: BRN never applies, and the line says so */
    s.rmax_steps = BRN_SPEC_AUTO;
    s.renorm_warmup = 1000;
    brn_spec_resolve(&s, 10000, &r);
    CHECK(r.renorm_never && !r.ramp_end_before_start && !r.renorm_before_converged);
    brn_spec_describe_renorm(&s, &r, line, sizeof line);
    CHECK_STR_CONTAINS(line, "plain BN throughout (renorm-warmup 1000 >= the run's 1000 steps");
    s.renorm_warmup = 999;
    brn_spec_resolve(&s, 10000, &r);
    CHECK(!r.renorm_never);
    /* BN keeps PyTorch's 0.1 and has no renorm line */
    brn_spec_defaults(&s);
    brn_spec_resolve(&s, 10000, &r);
    CHECK_CLOSE(r.norm_momentum, 0.1, 0, 0);
    CHECK_EQ_INT(brn_spec_describe_renorm(&s, &r, line, sizeof line), 0);
    CHECK(line[0] == 0);
    s.norm = BRN_NORM_BRN;
    s.rmax = 3;   /* the seed's r_max_value and d_max_value */
    s.dmax = 5;
    /* the seed's logistic curves */
    s.renorm_schedule = BRN_RENORM_LOGISTIC;
    s.renorm_warmup = 0;
    brn_spec_resolve(&s, 100000, &r);
    brn_schedule_renorm(&s, &r, 0, &rmax, &dmax);
    CHECK_CLOSE(rmax, 1.0, 1e-12, 0);
    CHECK_CLOSE(dmax, 1e-3, 1e-12, 0);
    brn_schedule_renorm(&s, &r, 2, &rmax, &dmax);
    CHECK_CLOSE(rmax, 3.0 / (1 + 2 * exp(-2.0)), 1e-12, 0);
    CHECK_CLOSE(dmax, 5.0 / (1 + (5.0 / 1e-3 - 1) * exp(-4.0)), 1e-12, 0);
    /* r alone (dmax 0) on the logistic curves: d stays 0 (the formula is 0/0 there) */
    s.dmax = 0;
    for (long step = 0; step < 3; step++) {
        brn_schedule_renorm(&s, &r, step, &rmax, &dmax);
        CHECK(dmax == 0 && isfinite(rmax));
    }
}

/* BRN with rmax = 1, dmax = 0 is BN to rounding, and the limits given to the model reach
 * every layer (the seed's first version never updated them on the device). */
static void run_model(brn_norm_kind kind, const brn_step_scalars *sc, float *logits, float *grads, double *loss,
                      float *r_lo, float *r_hi, brn_diag_acc *diag_sum)
{
    brn_backend *be = fixture_cpu(2);
    brn_model m;
    char err[256];
    const brn_model_config mc = {.depth = 10, .width = 1, .in_c = 3, .in_h = 8, .in_w = 8, .classes = 5,
                                 .max_batch = 6, .norm = kind, .eps = 1e-5, .gn_groups = 8};
    CHECK_EQ_INT(brn_model_init(&m, &mc, be, err, sizeof err), 0);
    CHECK_EQ_INT(brn_model_init_weights(&m, 7, err, sizeof err), 0);
    brn_rng r;
    brn_rng_init(&r, 99);
    float x[6 * 3 * 64];
    int labels[6] = {0, 1, 2, 3, 4, 0};
    for (int i = 0; i < 6 * 3 * 64; i++) x[i] = (float)(1.5 * brn_rng_normal(&r) + 0.3);
    /* running statistics away from (0, 1), as after some training, so r and d matter */
    float *running = malloc(sizeof(float) * m.n_buffers), saved[4 * 64];
    for (size_t i = 0; i < m.n_buffers; i++) running[i] = 0.5f + 0.1f * (float)(i % 7);
    fixture_write_flat(&m, BRN_TENSOR_BUFFER, BRN_VIEW_VALUE, running);
    int correct;
    CHECK_EQ_INT(fixture_train_step(&m, x, labels, 6, sc, loss, &correct, err, sizeof err), 0);
    fixture_read(&m, logits, m.logits, sizeof(float) * 30);
    fixture_read_flat(&m, BRN_TENSOR_PARAM, BRN_VIEW_GRAD, grads);
    *r_lo = 1e9f, *r_hi = -1e9f;
    brn_norm_layer **layers = m.norms;
    for (int l = 0; l < m.n_norms; l++) {
        CHECK(layers[l]->c <= 64);
        fixture_read(&m, saved, layers[l]->saved, sizeof(float) * 4 * layers[l]->c);
        for (int c = 0; c < layers[l]->c; c++) {
            float rv = saved[4 * c + 2];
            *r_lo = fminf(*r_lo, rv);
            *r_hi = fmaxf(*r_hi, rv);
        }
    }
    /* the step's renorm diagnostics, summed over the layers */
    brn_diag_acc *diag = calloc((size_t)m.n_norms, sizeof *diag);
    CHECK_EQ_INT(brn_model_diag_read(&m, diag, err, sizeof err), 0);
    *diag_sum = (brn_diag_acc){0};
    for (int l = 0; l < m.n_norms; l++) {
        diag_sum->count += diag[l].count;
        diag_sum->r_clipped += diag[l].r_clipped;
        diag_sum->d_clipped += diag[l].d_clipped;
    }
    free(diag);
    free(running);
    brn_model_free(&m);
    brn_backend_close(be);
}

static void test_brn_equals_bn_and_limits_reach_layers(void)
{
    float lb[30], lr[30], l2[30];
    float *gb = malloc(sizeof(float) * 200000), *gr = malloc(sizeof(float) * 200000), *g2 = malloc(sizeof(float) * 200000);
    double loss_b, loss_r, loss_2;
    float lo, hi;
    brn_diag_acc diag;
    const brn_step_scalars plain = {.lr = 0.1, .norm_momentum = 0.1, .rmax = 1, .dmax = 0};
    run_model(BRN_NORM_BN, &plain, lb, gb, &loss_b, &lo, &hi, &diag);
    run_model(BRN_NORM_BRN, &plain, lr, gr, &loss_r, &lo, &hi, &diag);
    CHECK(lo == 1 && hi == 1);
    /* a plain-BN (warm-up) step adds nothing to the diagnostics: its r = 1, d = 0 once read as
       "clipped", so an epoch's clip fractions counted the warm-up as 100% clipped */
    CHECK(diag.count == 0 && diag.r_clipped == 0 && diag.d_clipped == 0);
    CHECK_CLOSE(loss_r, loss_b, 1e-6, 1e-6);
    double worst = 0;
    for (int i = 0; i < 30; i++) worst = fmax(worst, fabs(lr[i] - lb[i]));
    CHECK(worst < 1e-5);
    worst = 0;
    for (int i = 0; i < 5000; i++) worst = fmax(worst, fabs(gr[i] - gb[i]) / fmax(1e-3, fabs(gb[i])));
    fprintf(stderr, "  brn(rmax=1,dmax=0) vs bn: loss %.8f vs %.8f, worst grad rel diff %.2e\n", loss_r, loss_b, worst);
    CHECK(worst < 1e-3);
    /* relaxed limits reach the layers: r leaves 1 but stays inside [1/rmax, rmax] */
    const brn_step_scalars relaxed = {.lr = 0.1, .norm_momentum = 0.1, .rmax = 1.5, .dmax = 0.5};
    run_model(BRN_NORM_BRN, &relaxed, l2, g2, &loss_2, &lo, &hi, &diag);
    fprintf(stderr, "  brn(rmax=1.5) r in [%.4f, %.4f], loss %.6f; %.0f of %.0f r clipped\n", lo, hi, loss_2,
            diag.r_clipped, diag.count);
    CHECK(diag.count > 0 && diag.r_clipped < diag.count);
    CHECK(lo >= 1 / 1.5f - 1e-6 && hi <= 1.5f + 1e-6);
    CHECK(hi > 1.01f || lo < 0.99f);
    CHECK(fabs(loss_2 - loss_b) > 1e-4);
    /* r alone (dmax 0): d is held at 0, which is no clipping */
    const brn_step_scalars r_alone = {.lr = 0.1, .norm_momentum = 0.1, .rmax = 1.5, .dmax = 0};
    run_model(BRN_NORM_BRN, &r_alone, l2, g2, &loss_2, &lo, &hi, &diag);
    CHECK(diag.count > 0 && diag.r_clipped > 0 && diag.d_clipped == 0);
    free(gb), free(gr), free(g2);
}

int main(void)
{
    brn_rng_init(&g_rng, 5);
    brn_cpu_set_threads(2);
    TEST(test_running_statistics);
    TEST(test_microbatch_statistics);
    TEST(test_group_of_one_rejected);
    TEST(test_schedule);
    TEST(test_brn_equals_bn_and_limits_reach_layers);
    return CHECK_DONE();
}
