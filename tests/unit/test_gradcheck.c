/* Every layer's backward against central finite differences, in double precision.
 * Each check uses a scalar loss L = sum(out * R) for a fixed random R, so dL/dout = R. */
#include <stdlib.h>

#include "check.h"
#include "cpu/layers.h"
#include "errors.h"
#include "rng.h"

#define EPS_FD 1e-6
#define TOL 1e-6   /* relative to max(1, |analytic|) */

static brn_rng g_rng;

static double *randn(size_t n, double scale)
{
    double *v = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) v[i] = scale * brn_rng_normal(&g_rng);
    return v;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Compare analytic gradient g (of loss(v)) with central differences at up to `samples`
 * positions of v; returns the worst relative error. */
typedef double (*loss_fn)(void *ctx);
static double fd_worst(double *v, const double *g, size_t n, loss_fn f, void *ctx, int samples)
{
    double worst = 0;
    size_t step = n > (size_t)samples ? n / samples : 1;
    for (size_t i = 0; i < n; i += step) {
        double keep = v[i];
        v[i] = keep + EPS_FD;
        double lp = f(ctx);
        v[i] = keep - EPS_FD;
        double lm = f(ctx);
        v[i] = keep;
        double num = (lp - lm) / (2 * EPS_FD);
        double err = fabs(num - g[i]) / fmax(1.0, fabs(g[i]));
        if (err > worst) worst = err;
    }
    return worst;
}

/* ---- convolution ------------------------------------------------------------------------ */

typedef struct {
    brn_conv_shape s;
    double *x, *w, *y, *R, *scratch;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    brn_cpu_conv_forward_f64(c->y, c->x, c->w, &c->s, c->scratch);
    return dot(c->y, c->R, (size_t)c->s.cout * c->s.n * c->s.oh * c->s.ow);
}

static void check_conv(int cin, int cout, int n, int h, int w, int k, int stride)
{
    conv_ctx c;
    brn_conv_shape_init(&c.s, cin, cout, n, h, w, k, stride);
    size_t nx = (size_t)cin * n * h * w, nw = (size_t)cout * cin * k * k, ny = (size_t)cout * n * c.s.oh * c.s.ow;
    c.x = randn(nx, 1);
    c.w = randn(nw, 0.3);
    c.y = malloc(sizeof(double) * ny);
    c.R = randn(ny, 1);
    c.scratch = malloc(sizeof(double) * brn_cpu_conv_scratch_size(&c.s) * brn_cpu_threads());
    double *dx = malloc(sizeof(double) * nx), *dw = calloc(nw, sizeof(double));
    double *dws = malloc(sizeof(double) * nw * brn_cpu_threads());
    brn_cpu_conv_backward_f64(dx, dw, c.R, c.x, c.w, &c.s, 0, c.scratch, dws);
    double ex = fd_worst(c.x, dx, nx, conv_loss, &c, 200), ew = fd_worst(c.w, dw, nw, conv_loss, &c, 200);
    fprintf(stderr, "  conv %dx%d s%d %d->%d: worst dx %.2e dw %.2e\n", k, k, stride, cin, cout, ex, ew);
    CHECK(ex < TOL);
    CHECK(ew < TOL);
    /* accumulate_dx adds to what dx holds */
    double *dx2 = malloc(sizeof(double) * nx);
    for (size_t i = 0; i < nx; i++) dx2[i] = 1.0;
    brn_cpu_conv_backward_f64(dx2, dw, c.R, c.x, c.w, &c.s, 1, c.scratch, dws);
    double worst = 0;
    for (size_t i = 0; i < nx; i++) worst = fmax(worst, fabs(dx2[i] - 1.0 - dx[i]));
    CHECK(worst < 1e-12);
    free(c.x), free(c.w), free(c.y), free(c.R), free(c.scratch), free(dx), free(dw), free(dws), free(dx2);
}

static void test_conv(void)
{
    check_conv(3, 4, 2, 5, 5, 3, 1);
    check_conv(4, 6, 3, 6, 6, 3, 2);
    check_conv(4, 5, 2, 5, 5, 1, 1);
    check_conv(4, 6, 2, 6, 7, 1, 2);
    check_conv(2, 3, 40, 3, 3, 3, 1);   /* several images per lowering chunk */
}

/* ---- batch norm / batch renorm ------------------------------------------------------------ */

typedef struct {
    brn_act_shape s;
    brn_bn_config cfg;
    int group, relu;
    double *x, *a, *R, *saved, *gamma, *beta, *rm, *rv;
    brn_norm_params_f64 p;
} bn_ctx;

static double bn_loss(void *p)
{
    bn_ctx *c = p;
    brn_bn_config cfg = c->cfg;
    cfg.update_running = 0;
    brn_cpu_batchnorm_forward_train_f64(c->a, c->saved, c->x, &c->p, &cfg, &c->s, c->group, c->relu);
    return dot(c->a, c->R, (size_t)c->s.c * c->s.n * c->s.h * c->s.w);
}

/* run_mean/run_std chosen so that every r and d is clipped: then r and d are locally
 * constant and the finite differences of the real forward must match the stop-gradient
 * backward exactly. */
static void check_bn(int renorm, int group, int relu, double run_mean, double run_std)
{
    bn_ctx c;
    c.s = (brn_act_shape){3, 8, 3, 2};
    c.cfg = (brn_bn_config){renorm, 1e-5, 0.1, renorm ? 1.5 : 1, renorm ? 0.5 : 0, 0};
    c.group = group;
    c.relu = relu;
    size_t n = (size_t)c.s.c * c.s.n * c.s.h * c.s.w;
    c.x = randn(n, 2);
    for (size_t i = 0; i < n; i++) c.x[i] += 0.5;
    c.a = malloc(sizeof(double) * n);
    c.R = randn(n, 1);
    c.saved = malloc(sizeof(double) * 4 * c.s.c * c.s.n);
    c.gamma = randn(c.s.c, 1);
    c.beta = randn(c.s.c, 1);
    c.rm = malloc(sizeof(double) * c.s.c);
    c.rv = malloc(sizeof(double) * c.s.c);
    for (int i = 0; i < c.s.c; i++) {
        c.rm[i] = run_mean;
        c.rv[i] = run_std;
    }
    double *dg = calloc(c.s.c, sizeof(double)), *db = calloc(c.s.c, sizeof(double));
    c.p = (brn_norm_params_f64){c.gamma, c.beta, dg, db, c.rm, c.rv};
    double *dx = malloc(sizeof(double) * n);
    bn_loss(&c);
    brn_cpu_batchnorm_backward_f64(dx, &c.p, c.R, c.a, c.x, c.saved, &c.s, group, relu);
    double ex = fd_worst(c.x, dx, n, bn_loss, &c, 400);
    double eg = fd_worst(c.gamma, dg, c.s.c, bn_loss, &c, 10);
    double eb = fd_worst(c.beta, db, c.s.c, bn_loss, &c, 10);
    fprintf(stderr, "  %s group %d relu %d: worst dx %.2e dgamma %.2e dbeta %.2e\n", renorm ? "brn" : "bn", group,
            relu, ex, eg, eb);
    CHECK(ex < TOL);
    CHECK(eg < TOL);
    CHECK(eb < TOL);
    free(c.x), free(c.a), free(c.R), free(c.saved), free(c.gamma), free(c.beta), free(c.rm), free(c.rv);
    free(dg), free(db), free(dx);
}

static void test_batchnorm(void)
{
    check_bn(0, 8, 0, 0, 1);
    check_bn(0, 8, 1, 0, 1);
    check_bn(0, 2, 1, 0, 1);          /* microbatches of 2 examples */
    check_bn(1, 8, 1, 100, 100);      /* r clipped low, d clipped high */
    check_bn(1, 4, 0, -100, 0.01);    /* r clipped high, d clipped low, microbatches */
}

/* In the unclipped regime r and d vary with x, but backprop must treat them as constants:
 * compare with finite differences of an independent forward that freezes r and d. */
typedef struct {
    int m;
    double *x, *R, gamma, beta, r, d, eps;
} frozen_ctx;

static double frozen_loss(void *p)
{
    frozen_ctx *c = p;
    double mu = 0, var = 0;
    for (int i = 0; i < c->m; i++) mu += c->x[i];
    mu /= c->m;
    for (int i = 0; i < c->m; i++) var += (c->x[i] - mu) * (c->x[i] - mu);
    double sigma = sqrt(var / c->m + c->eps), L = 0;
    for (int i = 0; i < c->m; i++) L += c->R[i] * (c->gamma * ((c->x[i] - mu) / sigma * c->r + c->d) + c->beta);
    return L;
}

static void test_renorm_stop_gradient(void)
{
    const int m = 12;
    frozen_ctx f = {m, randn(m, 1.5), randn(m, 1), 0.7, 0.2, 0, 0, 1e-5};
    double gamma = f.gamma, beta = f.beta, rm = 0.3, rs = 0.8, dg = 0, db = 0;
    brn_norm_params_f64 p = {.gamma = &gamma, .beta = &beta, .dgamma = &dg, .dbeta = &db, .run_mean = &rm,
                             .run_var = &rs};
    brn_act_shape s = {.c = 1, .n = m, .h = 1, .w = 1};
    /* limits far away: nothing clipped */
    brn_bn_config cfg = {.renorm = 1, .eps = 1e-5, .momentum = 0.01, .rmax = 100, .dmax = 100, .update_running = 0};
    double a[12], saved[4 * 12], dx[12];
    CHECK_EQ_INT(brn_cpu_batchnorm_forward_train_f64(a, saved, f.x, &p, &cfg, &s, m, 0), 0);
    f.r = saved[2];
    f.d = saved[3];
    CHECK(fabs(f.r - 1) > 0.05);   /* the regime really is unclipped and non-trivial */
    CHECK(fabs(f.d) > 0.05);
    brn_cpu_batchnorm_backward_f64(dx, &p, f.R, a, f.x, saved, &s, m, 0);
    double e = fd_worst(f.x, dx, m, frozen_loss, &f, m);
    fprintf(stderr, "  brn unclipped, r %.3f d %.3f: worst dx vs frozen-r/d differences %.2e\n", f.r, f.d, e);
    CHECK(e < TOL);
    /* dgamma uses the renormalized value r*z + d */
    double dgs = 0;
    for (int i = 0; i < m; i++) {
        double z = (f.x[i] - saved[0]) / saved[1];
        dgs += f.R[i] * (z * f.r + f.d);
    }
    CHECK_CLOSE(dg, dgs, 1e-12, 1e-10);
    free(f.x), free(f.R);
}

/* ---- group norm / layer norm -------------------------------------------------------------- */

typedef struct {
    brn_act_shape s;
    int groups;
    double *x, *a, *R, *saved, *gamma, *beta;
    brn_norm_params_f64 p;
} gn_ctx;

static double gn_loss(void *p)
{
    gn_ctx *c = p;
    brn_cpu_groupnorm_forward_f64(c->a, c->saved, c->x, &c->p, 1e-5, &c->s, c->groups, 1);
    return dot(c->a, c->R, (size_t)c->s.c * c->s.n * c->s.h * c->s.w);
}

static void check_gn(int groups)
{
    gn_ctx c;
    c.s = (brn_act_shape){4, 3, 3, 3};
    c.groups = groups;
    size_t n = (size_t)c.s.c * c.s.n * c.s.h * c.s.w;
    c.x = randn(n, 1.5);
    c.a = malloc(sizeof(double) * n);
    c.R = randn(n, 1);
    c.saved = malloc(sizeof(double) * 2 * c.s.n * groups);
    c.gamma = randn(c.s.c, 1);
    c.beta = randn(c.s.c, 1);
    double *dg = calloc(c.s.c, sizeof(double)), *db = calloc(c.s.c, sizeof(double)), *dx = malloc(sizeof(double) * n);
    c.p = (brn_norm_params_f64){c.gamma, c.beta, dg, db, NULL, NULL};
    gn_loss(&c);
    brn_cpu_groupnorm_backward_f64(dx, &c.p, c.R, c.a, c.x, c.saved, &c.s, groups, 1);
    double ex = fd_worst(c.x, dx, n, gn_loss, &c, 400), eg = fd_worst(c.gamma, dg, c.s.c, gn_loss, &c, 10),
           eb = fd_worst(c.beta, db, c.s.c, gn_loss, &c, 10);
    fprintf(stderr, "  gn groups %d: worst dx %.2e dgamma %.2e dbeta %.2e\n", groups, ex, eg, eb);
    CHECK(ex < TOL);
    CHECK(eg < TOL);
    CHECK(eb < TOL);
    free(c.x), free(c.a), free(c.R), free(c.saved), free(c.gamma), free(c.beta), free(dg), free(db), free(dx);
}

static void test_groupnorm(void)
{
    check_gn(2);
    check_gn(1);   /* ln */
}

/* ---- the small layers ---------------------------------------------------------------------- */

typedef struct {
    int n, in, out, k;
    double *x, *w, *b, *y, *R, p;
    int *labels;
    uint8_t *keep;
    brn_act_shape s;
} small_ctx;

static double linear_loss(void *p)
{
    small_ctx *c = p;
    brn_cpu_linear_forward_f64(c->y, c->x, c->w, c->b, c->n, c->in, c->out);
    return dot(c->y, c->R, (size_t)c->n * c->out);
}

static void test_linear(void)
{
    small_ctx c = {.n = 3, .in = 5, .out = 4};
    c.x = randn(15, 1), c.w = randn(20, 1), c.b = randn(4, 1), c.y = malloc(sizeof(double) * 12), c.R = randn(12, 1);
    double *dx = malloc(sizeof(double) * 15), *dw = calloc(20, sizeof(double)), *db = calloc(4, sizeof(double));
    brn_cpu_linear_backward_f64(dx, dw, db, c.R, c.x, c.w, 3, 5, 4);
    double ex = fd_worst(c.x, dx, 15, linear_loss, &c, 15), ew = fd_worst(c.w, dw, 20, linear_loss, &c, 20),
           eb = fd_worst(c.b, db, 4, linear_loss, &c, 4);
    fprintf(stderr, "  linear: worst dx %.2e dw %.2e db %.2e\n", ex, ew, eb);
    CHECK(ex < TOL && ew < TOL && eb < TOL);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.R), free(dx), free(dw), free(db);
}

static double xent_loss(void *p)
{
    small_ctx *c = p;
    return brn_cpu_softmax_xent_f64(NULL, c->x, c->labels, c->n, c->k, NULL);
}

static void test_softmax_xent(void)
{
    small_ctx c = {.n = 4, .k = 5};
    int labels[4] = {0, 3, 4, 1};
    c.labels = labels;
    c.x = randn(20, 3);
    double *dz = malloc(sizeof(double) * 20);
    int correct = -1;
    double loss = brn_cpu_softmax_xent_f64(dz, c.x, labels, 4, 5, &correct);
    double e = fd_worst(c.x, dz, 20, xent_loss, &c, 20);
    fprintf(stderr, "  softmax cross-entropy: loss %.4f worst dlogits %.2e\n", loss, e);
    CHECK(e < TOL);
    CHECK(correct >= 0 && correct <= 4);
    /* uniform logits: loss = log(K) */
    double zero[5] = {0};
    int l0 = 2;
    CHECK_CLOSE(brn_cpu_softmax_xent_f64(NULL, zero, &l0, 1, 5, NULL), log(5.0), 1e-12, 0);
    free(c.x), free(dz);
}

static double pool_loss(void *p)
{
    small_ctx *c = p;
    brn_cpu_avgpool_forward_f64(c->y, c->x, &c->s);
    return dot(c->y, c->R, (size_t)c->s.n * c->s.c);
}

static double relu_loss(void *p)
{
    small_ctx *c = p;
    brn_cpu_relu_forward_f64(c->y, c->x, c->n);
    return dot(c->y, c->R, c->n);
}

static double dropout_loss(void *p)
{
    small_ctx *c = p;
    brn_cpu_dropout_forward_f64(c->y, c->keep, c->x, c->n, c->p, 1234);
    return dot(c->y, c->R, c->n);
}

static void test_pool_relu_dropout(void)
{
    small_ctx c = {0};
    c.s = (brn_act_shape){3, 2, 2, 3};
    size_t n = 36;
    c.x = randn(n, 1), c.y = malloc(sizeof(double) * n), c.R = randn(n, 1);
    double *dx = malloc(sizeof(double) * n);
    brn_cpu_avgpool_backward_f64(dx, c.R, &c.s);
    double e = fd_worst(c.x, dx, n, pool_loss, &c, 36);
    CHECK(e < TOL);
    c.n = (int)n;
    brn_cpu_relu_forward_f64(c.y, c.x, n);
    brn_cpu_relu_backward_f64(dx, c.R, c.y, n);
    double e2 = fd_worst(c.x, dx, n, relu_loss, &c, 36);
    CHECK(e2 < TOL);
    c.p = 0.3;
    c.keep = malloc(n);
    brn_cpu_dropout_forward_f64(c.y, c.keep, c.x, n, c.p, 1234);
    brn_cpu_dropout_backward_f64(dx, c.R, c.keep, n, c.p);
    double e3 = fd_worst(c.x, dx, n, dropout_loss, &c, 36);
    CHECK(e3 < TOL);
    int kept = 0;
    for (size_t i = 0; i < n; i++) kept += c.keep[i];
    CHECK(kept > 0 && kept < (int)n);
    fprintf(stderr, "  avgpool %.2e relu %.2e dropout %.2e (kept %d/%zu)\n", e, e2, e3, kept, n);
    free(c.x), free(c.y), free(c.R), free(dx), free(c.keep);
}

int main(void)
{
    brn_rng_init(&g_rng, 42);
    brn_cpu_set_threads(2);
    TEST(test_conv);
    TEST(test_batchnorm);
    TEST(test_renorm_stop_gradient);
    TEST(test_groupnorm);
    TEST(test_linear);
    TEST(test_softmax_xent);
    TEST(test_pool_relu_dropout);
    return CHECK_DONE();
}
