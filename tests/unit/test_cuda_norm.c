/* The normalization kernels (cuda/kernels/norm*.cu) under the host emulation against the
 * CPU's double-precision layers (cpu/norm.c, _f64): BN and BRN (microbatch groups of 2 and
 * 4, BRN with r and d really clipped and really not), GN and LN, the three modes, the
 * backward with r and d held constant, fp32 and bf16 activations, odd channel counts and
 * shapes that take the vector and the scalar paths; renorm diagnostics against the CPU
 * backend's. Inputs are fresh random values (the seed is printed). */
#include "cpu/layers.h"
#include "errors.h"
#include "kernel_check.h"

typedef struct norm_case {
    const char *name;
    brn_norm_kind kind;
    brn_act_shape s;
    int group;        /* BN/BRN: examples per normalization group */
    int gn_groups;    /* GN */
    int relu;
    brn_act_type at;
    brn_norm_mode mode;
    int misalign;     /* offset the activations by one element: the scalar path */
} norm_case;

/* fp32: the kernels' fp32 partial sums and fp32 outputs against double; bf16: one rounding
 * of the output to bf16 (2^-8 relative) on top */
static kc_tol tol_act(brn_act_type at) { return at == BRN_AT_BF16 ? (kc_tol){4e-3, 1e-5} : (kc_tol){5e-6, 1e-6}; }
static const kc_tol TOL_STAT = {5e-6, 5e-7};    /* mu, sigma, r, d, running statistics */
static const kc_tol TOL_PGRAD = {5e-6, 5e-7};   /* dgamma, dbeta */
static const kc_tol EXACT = {0, 0};

typedef struct norm_data {
    size_t n, nsaved;
    double *x, *gamma, *beta, *rm, *rv;
} norm_data;

static int is_bn(brn_norm_kind k) { return k == BRN_NORM_BN || k == BRN_NORM_BRN; }

static size_t saved_count(const norm_case *k)
{
    if (is_bn(k->kind)) return 4 * (size_t)k->s.c * (k->s.n / k->group);
    return 2 * (size_t)k->s.n * (k->kind == BRN_NORM_LN ? 1 : k->gn_groups);
}

/* Channels with their own offset and scale (so the shifted sums matter), and running
 * statistics around the batch's: for BRN with rmax 1.5, dmax 0.5 some r and d clip and
 * others do not. */
static norm_data make_data(const norm_case *k)
{
    const brn_act_shape s = k->s;
    norm_data d = {.n = kc_count(s), .nsaved = saved_count(k)};
    d.x = malloc(sizeof(double) * d.n);
    d.gamma = kc_randn(s.c, 1, 0.3);
    d.beta = kc_randn(s.c, 0, 0.3);
    d.rm = malloc(sizeof(double) * s.c);
    d.rv = malloc(sizeof(double) * s.c);
    const size_t per = d.n / s.c;
    for (int c = 0; c < s.c; c++) {
        const double mean = kc_uniform(-3, 3), scale = kc_uniform(0.3, 2.5);
        for (size_t i = 0; i < per; i++) {
            d.x[c * per + i] = mean + scale * kc_normal();
            if (d.x[c * per + i] == 0) d.x[c * per + i] = 1e-3;
        }
        /* channel by channel: r clipped high, clipped low, free, free; d clipped on one side
         * or the other, or free */
        static const double r_regime[4][2] = {{0.2, 0.3}, {3, 4}, {0.9, 1.1}, {0.9, 1.1}};
        const double run_std = scale * kc_uniform(r_regime[c % 4][0], r_regime[c % 4][1]);
        const double d_off = c % 3 == 0 ? 3 : c % 3 == 1 ? -3 : (c % 2 ? 1 : -1) * kc_uniform(0.05, 0.3);
        d.rm[c] = mean - d_off * run_std;
        d.rv[c] = k->kind == BRN_NORM_BRN ? run_std : run_std * run_std;
    }
    kc_round_to(d.x, d.n, k->at);
    kc_round_to(d.gamma, s.c, BRN_AT_F32);
    kc_round_to(d.beta, s.c, BRN_AT_F32);
    kc_round_to(d.rm, s.c, BRN_AT_F32);
    kc_round_to(d.rv, s.c, BRN_AT_F32);
    return d;
}

static void free_data(norm_data *d) { free(d->x), free(d->gamma), free(d->beta), free(d->rm), free(d->rv); }

static brn_norm_desc desc_of(const norm_case *k)
{
    return (brn_norm_desc){.kind = k->kind, .shape = k->s, .group = k->group, .gn_groups = k->gn_groups,
                           .eps = 1e-5, .relu = k->relu};
}

/* activations in "device" memory, misaligned by one element when asked */
static void *dev_act(const double *x, const norm_case *k, void **base)
{
    const size_t eb = k->at == BRN_AT_BF16 ? 2 : 4, n = kc_count(k->s);
    char *b = kc_alloc(eb * (n + 1));
    void *nhwc = kc_to_nhwc(x, k->s, k->at);
    memcpy(b + eb * k->misalign, nhwc, eb * n);
    free(nhwc);
    *base = b;
    return b + eb * k->misalign;
}

static const double RMAX = 1.5, DMAX = 0.5, MOMENTUM = 0.1;

/* Runs forward (and after training forward, backward) of one case on both sides. */
static void run_case(const norm_case *k)
{
    const brn_act_shape s = k->s;
    const brn_norm_desc d = desc_of(k);
    norm_data nd = make_data(k);
    fprintf(stderr, " %s: %s c%d n%d %dx%d group %d%s relu %d %s%s\n", k->name, brn_norm_kind_name(k->kind), s.c, s.n,
            s.h, s.w, is_bn(k->kind) ? k->group : k->kind == BRN_NORM_GN ? k->gn_groups : 1,
            is_bn(k->kind) ? "" : " (channel groups)", k->relu, k->at == BRN_AT_BF16 ? "bf16" : "fp32",
            k->mode == BRN_NORM_EVAL_RUNNING ? " eval-running" : k->mode == BRN_NORM_EVAL_BATCH ? " eval-batch" : "");

    /* the kernels */
    void *xb, *ab;
    void *x = dev_act(nd.x, k, &xb);
    void *a = dev_act(nd.x, k, &ab);   /* overwritten */
    float *gamma = kc_floats(nd.gamma, s.c), *beta = kc_floats(nd.beta, s.c);
    float *rm = kc_floats(nd.rm, s.c), *rv = kc_floats(nd.rv, s.c), *saved = kc_alloc(sizeof(float) * nd.nsaved);
    float *dgamma = kc_alloc(sizeof(float) * s.c), *dbeta = kc_alloc(sizeof(float) * s.c);
    brn_step_scalars *sc = kc_alloc(sizeof *sc);
    *sc = (brn_step_scalars){.lr = 0.1, .norm_momentum = MOMENTUM, .rmax = RMAX, .dmax = DMAX, .dropout_seed = 1};
    const size_t ws_bytes = BRN_K(norm_workspace)(&d);
    void *ws = kc_alloc(ws_bytes);
    brn_norm_tensors t = {.gamma = gamma, .beta = beta, .dgamma = dgamma, .dbeta = dbeta, .saved = saved};
    if (is_bn(k->kind)) t.run_mean = rm, t.run_var = rv;
    CHECK_EQ_INT(BRN_K(norm_forward)(NULL, &d, k->mode, &t, a, x, k->at, sc, ws), 0);

    /* the CPU's layer in double */
    double *ra = malloc(sizeof(double) * nd.n), *rsaved = calloc(nd.nsaved, sizeof(double));
    double *rdg = calloc(s.c, sizeof(double)), *rdb = calloc(s.c, sizeof(double));
    brn_norm_params_f64 p = {.gamma = nd.gamma, .beta = nd.beta, .dgamma = rdg, .dbeta = rdb, .run_mean = nd.rm,
                             .run_var = nd.rv};
    const int renorm = k->kind == BRN_NORM_BRN;
    if (is_bn(k->kind) && k->mode == BRN_NORM_EVAL_RUNNING) {
        brn_bn_config cfg = {.renorm = renorm, .eps = d.eps};
        brn_cpu_batchnorm_forward_eval_f64(ra, nd.x, &p, &cfg, &s, k->relu);
    } else if (is_bn(k->kind)) {
        brn_bn_config cfg = {.renorm = 0, .eps = d.eps, .rmax = 1, .dmax = 0, .update_running = 0};
        if (k->mode == BRN_NORM_TRAIN)
            cfg = (brn_bn_config){.renorm = renorm, .eps = d.eps, .momentum = MOMENTUM, .rmax = RMAX, .dmax = DMAX,
                                  .update_running = 1};
        CHECK_EQ_INT(brn_cpu_batchnorm_forward_train_f64(ra, rsaved, nd.x, &p, &cfg, &s, k->group, k->relu), 0);
    } else {
        CHECK_EQ_INT(brn_cpu_groupnorm_forward_f64(ra, rsaved, nd.x, &p, d.eps, &s,
                                                   k->kind == BRN_NORM_LN ? 1 : k->gn_groups, k->relu),
                     0);
    }

    double *ga = kc_from_nhwc(a, s, k->at);
    KC_CHECK("a = relu(norm(x))", ga, ra, nd.n, tol_act(k->at), kc_describe_act, &s);
    if (k->mode != BRN_NORM_EVAL_RUNNING) {
        double *gs = kc_doubles(saved, nd.nsaved);
        KC_CHECK(is_bn(k->kind) ? "saved (mu, sigma_B, r, d)" : "saved (mu, sigma)", gs, rsaved, nd.nsaved,
                 TOL_STAT, NULL, NULL);
        free(gs);
    }
    if (is_bn(k->kind)) {
        /* training updates the running statistics once; the other modes leave them alone */
        double *grm = kc_doubles(rm, s.c), *grv = kc_doubles(rv, s.c);
        KC_CHECK("running mean", grm, nd.rm, s.c, TOL_STAT, NULL, NULL);
        KC_CHECK(renorm ? "running std" : "running var", grv, nd.rv, s.c, TOL_STAT, NULL, NULL);
        free(grm), free(grv);
    }
    if (k->kind == BRN_NORM_BRN && k->mode == BRN_NORM_TRAIN) {
        /* the case really exercises renorm: r and d clipped somewhere and free elsewhere */
        int r_clip = 0, r_free = 0, d_clip = 0, d_free = 0;
        for (size_t e = 0; e < nd.nsaved / 4; e++) {
            const double r = rsaved[4 * e + 2], dd = rsaved[4 * e + 3];
            r_clip += fabs(r - RMAX) < 1e-12 || fabs(r - 1 / RMAX) < 1e-12;
            r_free += fabs(r - RMAX) > 1e-3 && fabs(r - 1 / RMAX) > 1e-3 && fabs(r - 1) > 1e-3;
            d_clip += fabs(fabs(dd) - DMAX) < 1e-12;
            d_free += fabs(fabs(dd) - DMAX) > 1e-3 && fabs(dd) > 1e-3;
        }
        fprintf(stderr, "       renorm: r clipped %d, r free (!= 1) %d; d clipped %d, d free (!= 0) %d\n", r_clip,
                r_free, d_clip, d_free);
        CHECK(r_clip > 0 && r_free > 0 && d_clip > 0 && d_free > 0);
    }

    if (k->mode == BRN_NORM_TRAIN) {
        /* backward from the same inputs on both sides: the kernel's a and saved as the
         * reference's, a fresh gradient, parameter gradients that already hold values */
        double *da = kc_randn(nd.n, 0, 1), *sv = kc_doubles(saved, nd.nsaved);
        kc_round_to(da, nd.n, k->at);
        void *dab, *dxb;
        void *dda = dev_act(da, k, &dab), *dx = dev_act(da, k, &dxb);
        for (int c = 0; c < s.c; c++) {
            rdg[c] = dgamma[c] = (float)kc_normal();
            rdb[c] = dbeta[c] = (float)kc_normal();
        }
        CHECK_EQ_INT(BRN_K(norm_backward)(NULL, &d, &t, dx, dda, a, x, k->at, ws), 0);
        double *rdx = malloc(sizeof(double) * nd.n);
        if (is_bn(k->kind))
            brn_cpu_batchnorm_backward_f64(rdx, &p, da, ga, nd.x, sv, &s, k->group, k->relu);
        else
            brn_cpu_groupnorm_backward_f64(rdx, &p, da, ga, nd.x, sv, &s, k->kind == BRN_NORM_LN ? 1 : k->gn_groups,
                                           k->relu);
        double *gdx = kc_from_nhwc(dx, s, k->at), *gdg = kc_doubles(dgamma, s.c), *gdb = kc_doubles(dbeta, s.c);
        KC_CHECK("dx", gdx, rdx, nd.n, tol_act(k->at), kc_describe_act, &s);
        KC_CHECK("dgamma (+=)", gdg, rdg, s.c, TOL_PGRAD, NULL, NULL);
        KC_CHECK("dbeta (+=)", gdb, rdb, s.c, TOL_PGRAD, NULL, NULL);
        free(da), free(sv), free(dab), free(dxb), free(rdx), free(gdx), free(gdg), free(gdb);
    }
    free(xb), free(ab), free(gamma), free(beta), free(rm), free(rv), free(saved), free(dgamma), free(dbeta), free(sc);
    free(ws), free(ra), free(rsaved), free(rdg), free(rdb), free(ga);
    free_data(&nd);
}

#define SHAPE(C, N, H, W) {.c = C, .n = N, .h = H, .w = W}

static void test_batch_norm(void)
{
    const norm_case cases[] = {
        {.name = "bn whole batch", .kind = BRN_NORM_BN, .s = SHAPE(7, 8, 5, 5), .group = 8, .relu = 1},
        {.name = "bn microbatch 2", .kind = BRN_NORM_BN, .s = SHAPE(7, 8, 5, 5), .group = 2},
        {.name = "bn vector path, 6 chunks", .kind = BRN_NORM_BN, .s = SHAPE(160, 4, 8, 8), .group = 4, .relu = 1},
        {.name = "bn bf16 microbatch 4", .kind = BRN_NORM_BN, .s = SHAPE(24, 8, 3, 5), .group = 4, .relu = 1, .at = BRN_AT_BF16},
        {.name = "bn misaligned (scalar path)", .kind = BRN_NORM_BN, .s = SHAPE(16, 4, 3, 3), .group = 2, .relu = 1, .misalign = 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

static void test_batch_renorm(void)
{
    const norm_case cases[] = {
        {.name = "brn whole batch, 2 chunks", .kind = BRN_NORM_BRN, .s = SHAPE(5, 4, 16, 16), .group = 4, .relu = 1},
        {.name = "brn microbatch 4, odd C", .kind = BRN_NORM_BRN, .s = SHAPE(33, 8, 4, 4), .group = 4, .relu = 1},
        {.name = "brn microbatch 2, no relu", .kind = BRN_NORM_BRN, .s = SHAPE(9, 8, 3, 3), .group = 2},
        {.name = "brn bf16 microbatch 2", .kind = BRN_NORM_BRN, .s = SHAPE(24, 4, 6, 6), .group = 2, .relu = 1, .at = BRN_AT_BF16},
        {.name = "brn bf16 odd C", .kind = BRN_NORM_BRN, .s = SHAPE(13, 4, 5, 3), .group = 4, .relu = 1, .at = BRN_AT_BF16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

static void test_evaluation_modes(void)
{
    const norm_case cases[] = {
        {.name = "bn running", .kind = BRN_NORM_BN, .s = SHAPE(9, 4, 5, 5), .group = 4, .relu = 1, .mode = BRN_NORM_EVAL_RUNNING},
        {.name = "brn running (no second eps)", .kind = BRN_NORM_BRN, .s = SHAPE(9, 4, 5, 5), .group = 4, .relu = 1, .mode = BRN_NORM_EVAL_RUNNING},
        {.name = "brn running bf16", .kind = BRN_NORM_BRN, .s = SHAPE(32, 3, 4, 4), .group = 3, .at = BRN_AT_BF16, .mode = BRN_NORM_EVAL_RUNNING},
        {.name = "bn batch statistics", .kind = BRN_NORM_BN, .s = SHAPE(11, 6, 3, 3), .group = 6, .relu = 1, .mode = BRN_NORM_EVAL_BATCH},
        {.name = "brn batch statistics, groups 2", .kind = BRN_NORM_BRN, .s = SHAPE(11, 6, 3, 3), .group = 2,
         .relu = 1, .mode = BRN_NORM_EVAL_BATCH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

static void test_group_and_layer_norm(void)
{
    const norm_case cases[] = {
        {.name = "gn", .kind = BRN_NORM_GN, .s = SHAPE(12, 3, 5, 5), .gn_groups = 4, .relu = 1},
        {.name = "gn bf16, 2 channels per group", .kind = BRN_NORM_GN, .s = SHAPE(16, 2, 4, 4), .gn_groups = 8, .relu = 1, .at = BRN_AT_BF16},
        {.name = "gn vector path, 2 chunks", .kind = BRN_NORM_GN, .s = SHAPE(160, 2, 8, 8), .gn_groups = 8, .relu = 1},
        {.name = "ln odd C, no relu", .kind = BRN_NORM_LN, .s = SHAPE(7, 3, 3, 3)},
        {.name = "ln bf16", .kind = BRN_NORM_LN, .s = SHAPE(24, 2, 5, 5), .relu = 1, .at = BRN_AT_BF16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

/* With rmax = 1 and dmax = 0, BRN's kernels are BN's: the same activations, bit for bit. */
static void test_renorm_at_r1_d0_is_batch_norm(void)
{
    const brn_act_shape s = SHAPE(10, 8, 3, 3);
    const norm_case k = {.name = "brn = bn", .kind = BRN_NORM_BN, .s = s, .group = 4, .relu = 1};
    norm_data nd = make_data(&k);
    void *xb, *x = dev_act(nd.x, &k, &xb);
    const size_t n = nd.n;
    float *out[2], *saved[2];
    for (int renorm = 0; renorm < 2; renorm++) {
        brn_norm_desc d = desc_of(&k);
        d.kind = renorm ? BRN_NORM_BRN : BRN_NORM_BN;
        out[renorm] = kc_alloc(sizeof(float) * n);
        saved[renorm] = kc_alloc(sizeof(float) * 4 * s.c * 2);
        float *rm = kc_floats(nd.rm, s.c), *rv = kc_floats(nd.rv, s.c), *g = kc_floats(nd.gamma, s.c),
              *b = kc_floats(nd.beta, s.c);
        brn_step_scalars *sc = kc_alloc(sizeof *sc);
        *sc = (brn_step_scalars){.norm_momentum = 0.1, .rmax = 1, .dmax = 0};
        void *ws = kc_alloc(BRN_K(norm_workspace)(&d));
        brn_norm_tensors t = {.gamma = g, .beta = b, .run_mean = rm, .run_var = rv, .saved = saved[renorm]};
        CHECK_EQ_INT(BRN_K(norm_forward)(NULL, &d, BRN_NORM_TRAIN, &t, out[renorm], x, BRN_AT_F32, sc, ws), 0);
        free(rm), free(rv), free(g), free(b), free(sc), free(ws);
    }
    /* d = -0 where BRN clips a negative d to -dmax = -0: equal as a value */
    int differ = 0, saved_differ = 0;
    for (size_t i = 0; i < n; i++) differ += out[0][i] != out[1][i];
    for (int i = 0; i < 4 * s.c * 2; i++) saved_differ += saved[0][i] != saved[1][i];
    fprintf(stderr, "  brn(rmax 1, dmax 0) vs bn: %d activations and %d saved values differ\n", differ, saved_differ);
    CHECK_EQ_INT(differ, 0);
    CHECK_EQ_INT(saved_differ, 0);
    free(xb), free(out[0]), free(out[1]), free(saved[0]), free(saved[1]);
    free_data(&nd);
}

/* norm = none: the ReLU alone, forward and backward */
static void test_relu_only(void)
{
    for (int at = 0; at < 2; at++) {
        const norm_case k = {.name = "relu", .kind = BRN_NORM_NONE, .s = SHAPE(5, 3, 4, 4), .group = 3, .relu = 1, .at = (brn_act_type)at};
        const brn_norm_desc d = desc_of(&k);
        const size_t n = kc_count(k.s);
        double *x = kc_randn(n, 0, 1), *da = kc_randn(n, 0, 1);
        kc_round_to(x, n, k.at);
        kc_round_to(da, n, k.at);
        void *xb, *ab, *dab, *dxb;
        void *xx = dev_act(x, &k, &xb), *a = dev_act(x, &k, &ab), *dda = dev_act(da, &k, &dab),
             *dx = dev_act(da, &k, &dxb);
        brn_norm_tensors t = {0};
        CHECK_EQ_INT(BRN_K(norm_forward)(NULL, &d, BRN_NORM_TRAIN, &t, a, xx, k.at, NULL, NULL), 0);
        CHECK_EQ_INT(BRN_K(norm_backward)(NULL, &d, &t, dx, dda, a, xx, k.at, NULL), 0);
        double *ra = malloc(sizeof(double) * n), *rdx = malloc(sizeof(double) * n);
        brn_cpu_relu_forward_f64(ra, x, n);
        brn_cpu_relu_backward_f64(rdx, da, ra, n);
        double *ga = kc_from_nhwc(a, k.s, k.at), *gdx = kc_from_nhwc(dx, k.s, k.at);
        KC_CHECK(at ? "relu a (bf16)" : "relu a", ga, ra, n, EXACT, kc_describe_act, &k.s);
        KC_CHECK(at ? "relu dx (bf16)" : "relu dx", gdx, rdx, n, EXACT, kc_describe_act, &k.s);
        free(x), free(da), free(xb), free(ab), free(dab), free(dxb), free(ra), free(rdx), free(ga), free(gdx);
    }
}

/* the diagnostics accumulate exactly what the CPU backend accumulates, limits included */
static void test_renorm_diagnostics(void)
{
    enum { C = 37, G = 4 };
    float *saved = kc_alloc(sizeof(float) * 4 * C * G);
    brn_step_scalars *sc = kc_alloc(sizeof *sc);
    *sc = (brn_step_scalars){.rmax = 1.7, .dmax = 0.6};
    for (int e = 0; e < C * G; e++) {
        saved[4 * e] = (float)kc_normal();
        saved[4 * e + 1] = (float)kc_uniform(0.5, 2);
        /* every fifth entry sits exactly at a limit, as a clipped value does */
        const int at_limit = e % 5 == 0;
        saved[4 * e + 2] = at_limit ? (e % 2 ? (float)sc->rmax : (float)(1.0 / sc->rmax)) : (float)kc_uniform(0.6, 1.6);
        saved[4 * e + 3] = at_limit ? (e % 3 ? (float)sc->dmax : -(float)sc->dmax) : (float)kc_uniform(-0.55, 0.55);
    }
    brn_backend *cpu;
    char err[256];
    CHECK_EQ_INT(brn_cpu_backend_create(1, &cpu, err, sizeof err), 0);
    brn_diag_acc want = {.sum_abs_r1 = 1.5, .sum_abs_d = 2.5, .r_clipped = 3, .d_clipped = 4, .count = 10};
    brn_diag_acc *got = kc_alloc(sizeof *got);
    *got = want;
    for (int step = 0; step < 2; step++) {
        cpu->ops->renorm_diag(cpu, &want, saved, C, G, sc);
        CHECK_EQ_INT(BRN_K(renorm_diag)(NULL, got, saved, C, G, sc), 0);
    }
    fprintf(stderr, "  diag: |r-1| %.9g vs %.9g, |d| %.9g vs %.9g, clipped r %g vs %g, d %g vs %g, count %g vs %g\n",
            got->sum_abs_r1, want.sum_abs_r1, got->sum_abs_d, want.sum_abs_d, got->r_clipped, want.r_clipped,
            got->d_clipped, want.d_clipped, got->count, want.count);
    CHECK_CLOSE(got->sum_abs_r1, want.sum_abs_r1, 0, 1e-12);
    CHECK_CLOSE(got->sum_abs_d, want.sum_abs_d, 0, 1e-12);
    CHECK_EQ_INT(got->r_clipped, want.r_clipped);
    CHECK_EQ_INT(got->d_clipped, want.d_clipped);
    CHECK_EQ_INT(got->count, want.count);
    CHECK(want.r_clipped > 3 && want.d_clipped > 4);
    /* a plain-BN (warm-up) step, rmax 1 and dmax 0, adds nothing on either backend */
    const brn_diag_acc before = *got;
    *sc = (brn_step_scalars){.rmax = 1, .dmax = 0};
    cpu->ops->renorm_diag(cpu, &want, saved, C, G, sc);
    CHECK_EQ_INT(BRN_K(renorm_diag)(NULL, got, saved, C, G, sc), 0);
    CHECK(got->count == before.count && got->r_clipped == before.r_clipped && got->d_clipped == before.d_clipped);
    CHECK(want.count == before.count && want.r_clipped == before.r_clipped);
    /* r alone (dmax 0): both backends count r's clips and no d clipped */
    *sc = (brn_step_scalars){.rmax = 1.7, .dmax = 0};
    cpu->ops->renorm_diag(cpu, &want, saved, C, G, sc);
    CHECK_EQ_INT(BRN_K(renorm_diag)(NULL, got, saved, C, G, sc), 0);
    CHECK_EQ_INT(got->r_clipped, want.r_clipped);
    CHECK_EQ_INT(got->d_clipped, want.d_clipped);
    CHECK(want.r_clipped > before.r_clipped && want.d_clipped == before.d_clipped);
    brn_backend_close(cpu);
    free(saved), free(sc), free(got);
}

/* the workspace planned for the largest batch serves every smaller one (evaluation's last
 * batch), with microbatch groups or as one group */
static void test_workspace_monotone(void)
{
    const int channels[] = {16, 64, 160, 320, 640, 7};
    const int sizes[] = {32, 16, 8};
    int bad = 0;
    for (size_t ci = 0; ci < sizeof channels / sizeof channels[0]; ci++)
        for (size_t si = 0; si < 3; si++)
            for (int kind = 0; kind < 4; kind++) {
                brn_norm_desc big = {.kind = (brn_norm_kind)kind, .shape = SHAPE(channels[ci], 128, sizes[si], sizes[si]),
                                     .group = 4, .gn_groups = channels[ci] % 8 ? 1 : 8, .eps = 1e-5, .relu = 1};
                brn_norm_desc whole = big;
                whole.group = 128;
                size_t most = BRN_K(norm_workspace)(&big), w = BRN_K(norm_workspace)(&whole);
                if (w > most) most = w;
                for (int n = 1; n <= 128; n++) {
                    brn_norm_desc d = big;
                    d.shape.n = n;
                    d.group = n % 4 == 0 && n > 4 ? 4 : n;
                    bad += BRN_K(norm_workspace)(&d) > most;
                }
            }
    CHECK_EQ_INT(bad, 0);
}

int main(void)
{
    kc_seed();
    TEST(test_batch_norm);
    TEST(test_batch_renorm);
    TEST(test_evaluation_modes);
    TEST(test_group_and_layer_norm);
    TEST(test_renorm_at_r1_d0_is_batch_norm);
    TEST(test_relu_only);
    TEST(test_renorm_diagnostics);
    TEST(test_workspace_monotone);
    fprintf(stderr, "worst error ratio over all tensors: %.3f (1 = at tolerance)\n", kc_worst_ratio_seen);
    return CHECK_DONE();
}
