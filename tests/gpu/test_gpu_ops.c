/* Op-by-op parity of the CUDA backend with the CPU backend, through backend.h only, on
 * fresh random inputs (odd channel counts, microbatches, every norm kind and mode), and
 * cuDNN's own batch norm (NHWC) as a second oracle for our BN.
 *
 * Each operation runs on both backends from the same host inputs; outputs come back
 * through the layout boundary and are compared element by element (gpu_fixture.h: worst
 * |d| within tol x the tensor's largest magnitude; the worst element is printed).
 * Tolerances, per tensor:
 *   fp32   layout conversions and copies: bitwise; convolutions 2e-5 (the CPU uses
 *          Winograd and OpenBLAS, cuDNN other algorithms: both fp32 rounding); norms:
 *          forward and statistics 2e-5, backward 1e-4; the small layers 1e-5; SGD 1e-6
 *   tf32   convolutions 5e-3 (10-bit mantissa products)
 *   bf16   against the CPU on the same bf16-rounded inputs: bf16 outputs 1e-2 (8-bit
 *          mantissa), fp32 statistics and parameter gradients 1e-4
 *   input batches built from a dataset on the device (dataset_upload, batch_build) with
 *          crops and flips: bitwise (fp32), the CPU's floats rounded once (bf16); labels
 *          exactly
 * Outputs that an operation ASSIGNS start as NaN (a read of them shows); outputs it
 * ACCUMULATES start random (so += is checked, not =).
 * Usage: test_gpu_ops [--small]   (--small: tiny shapes, for compute-sanitizer) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gpu_fixture.h"

#ifdef BRN_HAVE_CUDA
#include <cuda_runtime.h>
#include <cudnn.h>
#endif

static brn_backend *CPU, *GPU;   /* GPU: the precision under test */
static int SMALL;

/* device allocations of one run, freed together */
typedef struct dlist {
    brn_backend *be;
    void *p[48];
    int n;
} dlist;

static void *keep(dlist *l, void *p)
{
    if (l->n < 48) l->p[l->n++] = p;
    return p;
}

static void release(dlist *l)
{
    for (int i = 0; i < l->n; i++) l->be->ops->free(l->be, l->p[i]);
    l->n = 0;
}

static void *workspace(dlist *l, size_t bytes) { return keep(l, l->be->ops->alloc(l->be, bytes + 256)); }

static int is_bf16(void) { return GPU->precision == BRN_PRECISION_BF16; }

/* inputs the GPU stores as activations: rounded to bf16 for both backends when it does */
static float *act_input(float *x, size_t n)
{
    if (!is_bf16()) return x;
    float *r = bf16_rounded(x, n);
    free(x);
    return r;
}

/* ---- the layout boundary ------------------------------------------------------------------ */

static void test_layout(void)
{
    const brn_act_shape s = {.c = 5, .n = 3, .h = 7, .w = 6};
    dlist l = {.be = GPU};
    float *x = act_input(randn(act_n(s), 0, 1), act_n(s));
    void *d = keep(&l, put_act(GPU, x, s));
    float *back = get_act(GPU, d, s);
    compare_exact("upload_act -> download_act (CNHW)", back, x, act_n(s));

    const brn_conv_shape cs = {.cin = 3, .cout = 4, .k = 3};
    const size_t wn = 4 * 3 * 3 * 3;
    float *w = randn(wn, 0, 1);
    float *wd = keep(&l, put_conv_weight(GPU, w, &cs));
    float *wb = get_conv_weight(GPU, wd, &cs);
    compare_exact("upload_tensor -> download_tensor (OIHW)", wb, w, wn);

    float *v = randn(1000, 0, 1);
    float *vd = keep(&l, put_floats(GPU, v, 1000));
    float *vb = get_floats(GPU, vd, 1000);
    compare_exact("upload -> download", vb, v, 1000);
    GPU->ops->zero(GPU, vd, sizeof(float) * 1000);
    float *z = get_floats(GPU, vd, 1000), *zeros = filled(1000, 0);
    compare_exact("zero", z, zeros, 1000);
    release(&l);
    free(x), free(back), free(w), free(wb), free(v), free(vb), free(z), free(zeros);
}

/* ---- input batches from the dataset on the device -------------------------------------------- */

/* One dataset shape: random pixels, a plan over every (dy, dx, flip) with the last
   example in it, built by both backends from their uploaded copies. */
static void batch_case(int n_examples, int c, int h, int w, int batch)
{
    const size_t bytes = (size_t)n_examples * c * h * w;
    uint8_t *images = malloc(bytes), *labels = malloc((size_t)n_examples);
    for (size_t i = 0; i < bytes; i++) images[i] = (uint8_t)brn_rng_below(&fixture_rng, 256);
    for (int i = 0; i < n_examples; i++) labels[i] = (uint8_t)brn_rng_below(&fixture_rng, 10);
    brn_batch_source src = {.images = images, .labels = labels, .n = n_examples, .c = c, .h = h, .w = w};
    for (int k = 0; k < c; k++) {
        src.mean[k] = (float)(0.2 + 0.4 * brn_rng_uniform(&fixture_rng));
        src.std[k] = (float)(0.1 + 0.3 * brn_rng_uniform(&fixture_rng));
    }
    brn_batch_entry *plan = malloc(sizeof *plan * batch);
    const int side = 2 * BRN_CROP_PAD + 1;
    for (int j = 0; j < batch; j++) {
        const int k = j % (side * side * 2);
        plan[j] = (brn_batch_entry){
            .index = j == batch - 1 ? n_examples - 1 : (int32_t)brn_rng_below(&fixture_rng, (uint64_t)n_examples),
            .dy = (int8_t)(k / 2 / side - BRN_CROP_PAD), .dx = (int8_t)(k / 2 % side - BRN_CROP_PAD),
            .flip = (uint8_t)(k % 2),
        };
    }
    const brn_act_shape s = {.c = c, .n = batch, .h = h, .w = w};
    float *x[2];
    int *lab[2];
    brn_backend *bes[2] = {CPU, GPU};
    for (int b = 0; b < 2; b++) {
        brn_backend *be = bes[b];
        brn_device_data data;
        char err[512] = "";
        int rc = brn_backend_data_upload(be, &src, &data, err, sizeof err);
        if (rc) fprintf(stderr, "    dataset_upload on %s: %s\n", be->device, err);
        CHECK_EQ_INT(rc, 0);
        dlist l = {.be = be};
        void *dx = keep(&l, be->ops->alloc(be, be->act_bytes * act_n(s) + 64));
        int *dl = keep(&l, put_bytes(be, NULL, sizeof(int) * batch));
        brn_batch_entry *dp = keep(&l, put_bytes(be, plan, sizeof *plan * batch));
        be->ops->batch_build(be, dx, dl, data.handle, dp, batch);
        sync_ok(be, "batch_build");
        x[b] = get_act(be, dx, s);
        lab[b] = malloc(sizeof(int) * batch);
        get_bytes(be, lab[b], dl, sizeof(int) * batch);
        release(&l);
        brn_backend_data_free(be, &data);
    }
    char what[96];
    snprintf(what, sizeof what, "batch_build %dx%dx%d, batch %d, every crop and flip", c, h, w, batch);
    float *want = is_bf16() ? bf16_rounded(x[0], act_n(s)) : copy_of(x[0], act_n(s));
    compare_exact(what, x[1], want, act_n(s));
    int label_differ = 0;
    for (int j = 0; j < batch; j++) label_differ += lab[0][j] != lab[1][j];
    printf("  %-4s batch_build labels: %d of %d differ\n", label_differ ? "FAIL" : "ok", label_differ, batch);
    CHECK_EQ_INT(label_differ, 0);
    free(images), free(labels), free(plan), free(want);
    for (int b = 0; b < 2; b++) free(x[b]), free(lab[b]);
}

static void test_batch_build(void)
{
    batch_case(SMALL ? 20 : 1000, 1, 28, 28, SMALL ? 5 : 2 * 162 + 7);   /* Fashion-MNIST's shape */
    batch_case(SMALL ? 20 : 500, 3, 32, 32, SMALL ? 7 : 2 * 162 + 7);    /* CIFAR's */
    batch_case(30, 2, 5, 7, 13);
}

/* ---- convolutions -------------------------------------------------------------------------- */

typedef struct conv_out {
    float *y, *dx, *dx_acc, *dw;
} conv_out;

/* y = conv(x, w); then dw += g, dx = dL/dx; dw += g, dx_acc += dL/dx; dw += g with dx NULL:
 * dw ends at dw0 + 3g. */
static conv_out run_conv(brn_backend *be, const brn_conv_shape *s, const float *x, const float *w, const float *dy,
                         const float *dw0, const float *dx0)
{
    dlist l = {.be = be};
    const brn_act_shape xs = {.c = s->cin, .n = s->n, .h = s->h, .w = s->w};
    const brn_act_shape ys = {.c = s->cout, .n = s->n, .h = s->oh, .w = s->ow};
    float *nan_x = filled(act_n(xs), NAN), *nan_y = filled(act_n(ys), NAN);
    void *ws = workspace(&l, be->ops->conv_workspace(be, s));
    void *xd = keep(&l, put_act(be, x, xs)), *dyd = keep(&l, put_act(be, dy, ys));
    void *yd = keep(&l, put_act(be, nan_y, ys)), *dxd = keep(&l, put_act(be, nan_x, xs));
    void *dxa = keep(&l, put_act(be, dx0, xs));
    float *wd = keep(&l, put_conv_weight(be, w, s)), *dwd = keep(&l, put_conv_weight(be, dw0, s));
    be->ops->conv_forward(be, yd, xd, wd, s, ws);
    be->ops->conv_backward(be, dxd, dwd, dyd, xd, wd, s, 0, ws);
    be->ops->conv_backward(be, dxa, dwd, dyd, xd, wd, s, 1, ws);
    be->ops->conv_backward(be, NULL, dwd, dyd, xd, wd, s, 0, ws);
    sync_ok(be, "conv");
    conv_out o = {.y = get_act(be, yd, ys), .dx = get_act(be, dxd, xs), .dx_acc = get_act(be, dxa, xs),
                  .dw = get_conv_weight(be, dwd, s)};
    release(&l);
    free(nan_x), free(nan_y);
    return o;
}

static void conv_case(int cin, int cout, int n, int h, int w, int k, int stride, double tol_act, double tol_dw)
{
    brn_conv_shape s;
    brn_conv_shape_init(&s, cin, cout, n, h, w, k, stride);
    const size_t xn = (size_t)cin * n * h * w, yn = (size_t)cout * n * s.oh * s.ow, wn = (size_t)cout * cin * k * k;
    float *x = act_input(randn(xn, 0, 1), xn), *dy = act_input(randn(yn, 0, 1), yn);
    float *dx0 = act_input(randn(xn, 0, 1), xn), *dw0 = randn(wn, 0, 0.1);
    float *wt = randn(wn, 0, sqrt(2.0 / (cout * k * k)));
    float *wt_ref = is_bf16() ? bf16_rounded(wt, wn) : copy_of(wt, wn);   /* what the GPU multiplies by */
    conv_out c = run_conv(CPU, &s, x, wt_ref, dy, dw0, dx0), g = run_conv(GPU, &s, x, wt, dy, dw0, dx0);
    printf(" conv %dx%d s%d %d->%d n%d %dx%d (%s)\n", k, k, stride, cin, cout, n, h, w,
           brn_precision_name(GPU->precision));
    compare("conv_forward y", g.y, c.y, yn, tol_act);
    compare("conv_backward dx (=, from NaN)", g.dx, c.dx, xn, tol_act);
    compare("conv_backward dx (+=)", g.dx_acc, c.dx_acc, xn, tol_act);
    compare("conv_backward dw (+= three times)", g.dw, c.dw, wn, tol_dw);
    free(x), free(dy), free(dx0), free(dw0), free(wt), free(wt_ref);
    free(c.y), free(c.dx), free(c.dx_acc), free(c.dw), free(g.y), free(g.dx), free(g.dx_acc), free(g.dw);
}

static void conv_cases(double tol_act, double tol_dw)
{
    conv_case(3, 16, 4, 12, 12, 3, 1, tol_act, tol_dw);    /* the stem */
    conv_case(5, 7, 3, 9, 9, 3, 1, tol_act, tol_dw);       /* odd everything */
    conv_case(16, 32, 4, 8, 8, 3, 2, tol_act, tol_dw);     /* a group's first, strided conv */
    conv_case(16, 32, 4, 8, 8, 1, 2, tol_act, tol_dw);     /* its projection shortcut */
    if (!SMALL) {
        conv_case(32, 32, 8, 16, 16, 3, 1, tol_act, tol_dw);
        conv_case(64, 128, 16, 8, 8, 3, 2, tol_act, tol_dw);
        conv_case(24, 24, 2, 7, 7, 1, 1, tol_act, tol_dw);
    }
}

static void test_conv_fp32(void) { conv_cases(2e-5, 2e-5); }
static void test_conv_tf32(void) { conv_cases(5e-3, 5e-3); }
static void test_conv_bf16(void) { conv_cases(1e-2, 1e-2); }

/* ---- normalization --------------------------------------------------------------------------- */

typedef struct norm_case {
    brn_norm_kind kind;
    brn_act_shape s;
    int group, gn_groups, relu;
    brn_norm_mode mode;
} norm_case;

typedef struct norm_in {
    const float *x, *gamma, *beta, *rmean, *rvar, *dgamma0, *dbeta0, *da, *a_ref, *saved_ref;
    brn_step_scalars sc;
} norm_in;

typedef struct norm_out {
    float *a, *saved, *rmean, *rvar, *dx, *dgamma, *dbeta;
} norm_out;

static size_t saved_count(const norm_case *nc)
{
    return 4 * (size_t)nc->s.c * nc->s.n + 2 * (size_t)nc->s.n * (nc->gn_groups > 0 ? nc->gn_groups : 1);
}

/* Forward in nc->mode; after a training forward, backward from da with the reference's
 * a and saved (so both backends differentiate the same forward). */
static norm_out run_norm(brn_backend *be, const norm_case *nc, const norm_in *in)
{
    dlist l = {.be = be};
    const brn_act_shape s = nc->s;
    const int C = s.c;
    const size_t n = act_n(s), sv = saved_count(nc);
    const brn_norm_desc d = {.kind = nc->kind, .shape = s, .group = nc->group, .gn_groups = nc->gn_groups,
                             .eps = 1e-5, .relu = nc->relu};
    float *nan_act = filled(n, NAN), *nan_saved = filled(sv, NAN);
    void *ws = workspace(&l, be->ops->norm_workspace(be, &d));
    brn_step_scalars *scd = keep(&l, put_bytes(be, &in->sc, sizeof in->sc));
    brn_norm_tensors t = {
        .gamma = keep(&l, put_floats(be, in->gamma, C)), .beta = keep(&l, put_floats(be, in->beta, C)),
        .dgamma = keep(&l, put_floats(be, in->dgamma0, C)), .dbeta = keep(&l, put_floats(be, in->dbeta0, C)),
        .run_mean = keep(&l, put_floats(be, in->rmean, C)), .run_var = keep(&l, put_floats(be, in->rvar, C)),
        .saved = keep(&l, put_floats(be, nan_saved, sv)),
    };
    void *xd = keep(&l, put_act(be, in->x, s)), *ad = keep(&l, put_act(be, nan_act, s));
    be->ops->norm_forward(be, &d, nc->mode, &t, ad, xd, scd, ws);
    sync_ok(be, "norm_forward");
    norm_out o = {.a = get_act(be, ad, s), .saved = get_floats(be, t.saved, sv), .rmean = get_floats(be, t.run_mean, C),
                  .rvar = get_floats(be, t.run_var, C)};
    if (nc->mode == BRN_NORM_TRAIN && in->a_ref) {
        void *dad = keep(&l, put_act(be, in->da, s)), *aref = keep(&l, put_act(be, in->a_ref, s));
        void *dxd = keep(&l, put_act(be, nan_act, s));
        be->ops->upload(be, t.saved, in->saved_ref, sizeof(float) * sv);
        be->ops->norm_backward(be, &d, &t, dxd, dad, aref, xd, ws);
        sync_ok(be, "norm_backward");
        o.dx = get_act(be, dxd, s);
        o.dgamma = get_floats(be, t.dgamma, C);
        o.dbeta = get_floats(be, t.dbeta, C);
    }
    release(&l);
    free(nan_act), free(nan_saved);
    return o;
}

static void free_norm_out(norm_out *o)
{
    free(o->a), free(o->saved), free(o->rmean), free(o->rvar), free(o->dx), free(o->dgamma), free(o->dbeta);
}

static const char *mode_name(brn_norm_mode m)
{
    return m == BRN_NORM_TRAIN ? "train" : m == BRN_NORM_EVAL_RUNNING ? "eval-running" : "eval-batch";
}

/* The saved statistics a kind writes in a mode (compared only where written). */
static size_t saved_written(const norm_case *nc)
{
    if (nc->kind == BRN_NORM_NONE || nc->mode == BRN_NORM_EVAL_RUNNING) return 0;
    if (nc->kind == BRN_NORM_GN || nc->kind == BRN_NORM_LN)
        return 2 * (size_t)nc->s.n * (nc->kind == BRN_NORM_LN ? 1 : nc->gn_groups);
    return nc->mode == BRN_NORM_TRAIN ? 4 * (size_t)nc->s.c * (nc->s.n / nc->group) : 0;
}

static void norm_case_run(norm_case nc, double tol_fwd, double tol_stats, double tol_bwd, double tol_pgrad)
{
    const brn_act_shape s = nc.s;
    const int C = s.c;
    const size_t n = act_n(s), HWN = (size_t)s.n * s.h * s.w;
    /* channels with their own mean and spread, so BRN's r and d clip in some and not others */
    float *x = malloc(sizeof(float) * n);
    for (int c = 0; c < C; c++) {
        const double mu = brn_rng_normal(&fixture_rng), sd = 0.3 + 2.7 * brn_rng_uniform(&fixture_rng);
        for (size_t i = 0; i < HWN; i++) x[c * HWN + i] = (float)(mu + sd * brn_rng_normal(&fixture_rng));
    }
    x = act_input(x, n);
    float *gamma = randn(C, 1, 0.2), *beta = randn(C, 0, 0.2), *rmean = randn(C, 0, 0.5);
    float *rvar = malloc(sizeof(float) * C);
    for (int c = 0; c < C; c++) rvar[c] = (float)(0.5 + 1.5 * brn_rng_uniform(&fixture_rng));
    float *dg0 = randn(C, 0, 1), *db0 = randn(C, 0, 1), *da = act_input(randn(n, 0, 1), n);
    norm_in in = {.x = x, .gamma = gamma, .beta = beta, .rmean = rmean, .rvar = rvar, .dgamma0 = dg0, .dbeta0 = db0,
                  .da = da, .sc = {.lr = 0.1, .norm_momentum = 0.1, .rmax = 1.5, .dmax = 0.5, .dropout_seed = 1}};
    norm_out c = run_norm(CPU, &nc, &in);
    float *a_ref = act_input(copy_of(c.a, n), n);
    in.a_ref = a_ref;
    in.saved_ref = c.saved;
    free_norm_out(&c);
    c = run_norm(CPU, &nc, &in);
    norm_out g = run_norm(GPU, &nc, &in);
    static const char *kinds[] = {"bn", "brn", "gn", "ln", "none"};
    printf(" %s %s C%d N%d %dx%d group %d gn_groups %d relu %d (%s)\n", kinds[nc.kind], mode_name(nc.mode), C, s.n,
           s.h, s.w, nc.group, nc.gn_groups, nc.relu, brn_precision_name(GPU->precision));
    compare("norm_forward a", g.a, c.a, n, tol_fwd);
    const size_t sw = saved_written(&nc);
    if (sw) compare("norm_forward saved statistics", g.saved, c.saved, sw, tol_stats);
    if (nc.kind == BRN_NORM_BN || nc.kind == BRN_NORM_BRN) {
        compare("running mean", g.rmean, c.rmean, C, tol_stats);
        compare(nc.kind == BRN_NORM_BRN ? "running std" : "running var", g.rvar, c.rvar, C, tol_stats);
    }
    if (nc.mode == BRN_NORM_TRAIN) {
        compare("norm_backward dx (=, from NaN)", g.dx, c.dx, n, tol_bwd);
        if (nc.kind != BRN_NORM_NONE) {
            compare("norm_backward dgamma (+=)", g.dgamma, c.dgamma, C, tol_pgrad);
            compare("norm_backward dbeta (+=)", g.dbeta, c.dbeta, C, tol_pgrad);
        }
    }
    free_norm_out(&c), free_norm_out(&g);
    free(x), free(gamma), free(beta), free(rmean), free(rvar), free(dg0), free(db0), free(da), free(a_ref);
}

static void norm_cases(double tol_fwd, double tol_stats, double tol_bwd, double tol_pgrad)
{
    const brn_act_shape odd = {.c = 7, .n = 8, .h = 5, .w = 5}, wide = {.c = 64, .n = 16, .h = 8, .w = 8};
    const brn_norm_mode modes[] = {BRN_NORM_TRAIN, BRN_NORM_EVAL_RUNNING, BRN_NORM_EVAL_BATCH};
    for (int kind = BRN_NORM_BN; kind <= BRN_NORM_BRN; kind++) {
        for (int m = 0; m < 3; m++)
            norm_case_run((norm_case){.kind = kind, .s = odd, .group = 8, .relu = 1, .mode = modes[m]}, tol_fwd,
                          tol_stats, tol_bwd, tol_pgrad);
        norm_case_run((norm_case){.kind = kind, .s = odd, .group = 2, .relu = 1, .mode = BRN_NORM_TRAIN}, tol_fwd,
                      tol_stats, tol_bwd, tol_pgrad);   /* microbatch 2 */
        norm_case_run((norm_case){.kind = kind, .s = odd, .group = 4, .relu = 0, .mode = BRN_NORM_TRAIN}, tol_fwd,
                      tol_stats, tol_bwd, tol_pgrad);   /* microbatch 4, no ReLU */
        if (!SMALL)
            norm_case_run((norm_case){.kind = kind, .s = wide, .group = 16, .relu = 1, .mode = BRN_NORM_TRAIN},
                          tol_fwd, tol_stats, tol_bwd, tol_pgrad);
    }
    const brn_act_shape gs = {.c = 12, .n = 4, .h = 5, .w = 5};
    norm_case_run((norm_case){.kind = BRN_NORM_GN, .s = gs, .group = 4, .gn_groups = 4, .relu = 1,
                              .mode = BRN_NORM_TRAIN},
                  tol_fwd, tol_stats, tol_bwd, tol_pgrad);
    norm_case_run((norm_case){.kind = BRN_NORM_LN, .s = odd, .group = 8, .gn_groups = 1, .relu = 1,
                              .mode = BRN_NORM_TRAIN},
                  tol_fwd, tol_stats, tol_bwd, tol_pgrad);
    norm_case_run((norm_case){.kind = BRN_NORM_NONE, .s = odd, .group = 8, .relu = 1, .mode = BRN_NORM_TRAIN},
                  tol_fwd, tol_stats, tol_bwd, tol_pgrad);
}

static void test_norms_fp32(void) { norm_cases(2e-5, 2e-5, 1e-4, 1e-4); }
static void test_norms_bf16(void) { norm_cases(1e-2, 1e-4, 1e-2, 1e-4); }

/* ---- renorm diagnostics -------------------------------------------------------------------- */

static brn_diag_acc run_diag(brn_backend *be, const float *saved, int C, int G, const brn_step_scalars *sc)
{
    dlist l = {.be = be};
    brn_diag_acc acc = {0};
    brn_diag_acc *ad = keep(&l, put_bytes(be, &acc, sizeof acc));
    float *sd = keep(&l, put_floats(be, saved, 4 * (size_t)C * G));
    brn_step_scalars *scd = keep(&l, put_bytes(be, sc, sizeof *sc));
    be->ops->renorm_diag(be, ad, sd, C, G, scd);
    be->ops->renorm_diag(be, ad, sd, C, G, scd);   /* accumulates */
    get_bytes(be, &acc, ad, sizeof acc);
    release(&l);
    return acc;
}

static void test_renorm_diag(void)
{
    const int C = 9, G = 3;
    const brn_step_scalars sc = {.rmax = 1.5, .dmax = 0.5};
    float *saved = malloc(sizeof(float) * 4 * C * G);
    for (int i = 0; i < C * G; i++) {   /* r and d inside, at and beyond the limits */
        saved[4 * i] = (float)brn_rng_normal(&fixture_rng);
        saved[4 * i + 1] = (float)(0.5 + brn_rng_uniform(&fixture_rng));
        saved[4 * i + 2] = i % 3 == 0 ? 1.5f : i % 3 == 1 ? (float)(1.0 / 1.5) : (float)(0.8 + 0.4 * brn_rng_uniform(&fixture_rng));
        saved[4 * i + 3] = i % 4 == 0 ? 0.5f : i % 4 == 1 ? -0.5f : (float)(0.6 * brn_rng_uniform(&fixture_rng) - 0.3);
    }
    brn_diag_acc c = run_diag(CPU, saved, C, G, &sc), g = run_diag(GPU, saved, C, G, &sc);
    const float cv[5] = {(float)c.sum_abs_r1, (float)c.sum_abs_d, (float)c.r_clipped, (float)c.d_clipped,
                         (float)c.count};
    const float gv[5] = {(float)g.sum_abs_r1, (float)g.sum_abs_d, (float)g.r_clipped, (float)g.d_clipped,
                         (float)g.count};
    compare("renorm_diag sums, clip counts, count", gv, cv, 5, 1e-6);
    CHECK(c.count == 2 * C * G);
    free(saved);
}

/* ---- the small layers ------------------------------------------------------------------------- */

typedef struct small_out {
    float *drop_y, *drop_dx, *pool_y, *pool_dx, *add_y;
    uint8_t *keep_cnhw;
} small_out;

static small_out run_small(brn_backend *be, brn_act_shape s, const float *x, const float *dy, const float *y0,
                           const float *dpool, double p, uint64_t salt, const brn_step_scalars *sc)
{
    dlist l = {.be = be};
    const size_t n = act_n(s);
    float *nan_act = filled(n, NAN), *nan_pool = filled((size_t)s.n * s.c, NAN);
    void *xd = keep(&l, put_act(be, x, s)), *dyd = keep(&l, put_act(be, dy, s)), *yd = keep(&l, put_act(be, nan_act, s));
    void *dxd = keep(&l, put_act(be, nan_act, s)), *addd = keep(&l, put_act(be, y0, s));
    void *pdx = keep(&l, put_act(be, nan_act, s));
    uint8_t *kd = keep(&l, be->ops->alloc(be, n + 64));
    float *py = keep(&l, put_floats(be, nan_pool, (size_t)s.n * s.c));
    float *pdy = keep(&l, put_floats(be, dpool, (size_t)s.n * s.c));
    brn_step_scalars *scd = keep(&l, put_bytes(be, sc, sizeof *sc));
    be->ops->dropout_forward(be, yd, kd, xd, s, p, salt, scd);
    be->ops->dropout_backward(be, dxd, dyd, kd, s, p);
    be->ops->avgpool_forward(be, py, xd, s);
    be->ops->avgpool_backward(be, pdx, pdy, s);
    be->ops->add(be, addd, xd, s);
    sync_ok(be, "small layers");
    small_out o = {.drop_y = get_act(be, yd, s), .drop_dx = get_act(be, dxd, s),
                   .pool_y = get_floats(be, py, (size_t)s.n * s.c), .pool_dx = get_act(be, pdx, s),
                   .add_y = get_act(be, addd, s), .keep_cnhw = malloc(n)};
    /* the mask as the backend stores it: CNHW on the CPU, NHWC on a GPU (kernels.h) */
    uint8_t *raw = malloc(n);
    get_bytes(be, raw, kd, n);
    for (int c = 0; c < s.c; c++)
        for (int i = 0; i < s.n; i++)
            for (int h = 0; h < s.h; h++)
                for (int w = 0; w < s.w; w++) {
                    const size_t cnhw = (((size_t)c * s.n + i) * s.h + h) * s.w + w;
                    const size_t nhwc = (((size_t)i * s.h + h) * s.w + w) * s.c + c;
                    o.keep_cnhw[cnhw] = raw[be == CPU ? cnhw : nhwc];
                }
    free(raw);
    release(&l);
    free(nan_act), free(nan_pool);
    return o;
}

static void small_layers(double tol)
{
    const brn_act_shape s = {.c = 6, .n = 4, .h = 5, .w = 7};
    const size_t n = act_n(s);
    float *x = act_input(randn(n, 0, 1), n), *dy = act_input(randn(n, 0, 1), n), *y0 = act_input(randn(n, 0, 1), n);
    float *dpool = randn((size_t)s.n * s.c, 0, 1);
    const brn_step_scalars sc = {.lr = 0.1, .dropout_seed = 0x1234567890abcdefULL};
    small_out c = run_small(CPU, s, x, dy, y0, dpool, 0.3, 77, &sc), g = run_small(GPU, s, x, dy, y0, dpool, 0.3, 77, &sc);
    printf(" small layers C%d N%d %dx%d (%s)\n", s.c, s.n, s.h, s.w, brn_precision_name(GPU->precision));
    size_t same = 0, kept = 0;
    for (size_t i = 0; i < n; i++) {
        same += c.keep_cnhw[i] == g.keep_cnhw[i];
        kept += c.keep_cnhw[i] != 0;
    }
    CHECK_EQ_INT(same, n);
    printf("  %-4s dropout masks equal to the CPU's            %zu of %zu (%zu kept, p 0.3)\n",
           same == n ? "ok" : "FAIL", same, n, kept);
    compare("dropout_forward y", g.drop_y, c.drop_y, n, tol);
    compare("dropout_backward dx", g.drop_dx, c.drop_dx, n, tol);
    compare("avgpool_forward y [N][C]", g.pool_y, c.pool_y, (size_t)s.n * s.c, tol);
    compare("avgpool_backward dx", g.pool_dx, c.pool_dx, n, tol);
    compare("add y += x", g.add_y, c.add_y, n, tol);
    free(x), free(dy), free(y0), free(dpool);
    free(c.drop_y), free(c.drop_dx), free(c.pool_y), free(c.pool_dx), free(c.add_y), free(c.keep_cnhw);
    free(g.drop_y), free(g.drop_dx), free(g.pool_y), free(g.pool_dx), free(g.add_y), free(g.keep_cnhw);
}

static void test_small_fp32(void) { small_layers(1e-5); }
static void test_small_bf16(void) { small_layers(1e-2); }

/* ---- linear, loss, SGD (fp32 on every precision) ---------------------------------------------- */

static void run_linear(brn_backend *be, int n, int in, int out, const float *x, const float *w, const float *b,
                       const float *dy, const float *dw0, const float *db0, float **y, float **dx, float **dw, float **db)
{
    dlist l = {.be = be};
    float *nan_y = filled((size_t)n * out, NAN), *nan_x = filled((size_t)n * in, NAN);
    float *xd = keep(&l, put_floats(be, x, (size_t)n * in)), *wd = keep(&l, put_floats(be, w, (size_t)out * in));
    float *bd = keep(&l, put_floats(be, b, out)), *dyd = keep(&l, put_floats(be, dy, (size_t)n * out));
    float *yd = keep(&l, put_floats(be, nan_y, (size_t)n * out)), *dxd = keep(&l, put_floats(be, nan_x, (size_t)n * in));
    float *dwd = keep(&l, put_floats(be, dw0, (size_t)out * in)), *dbd = keep(&l, put_floats(be, db0, out));
    be->ops->linear_forward(be, yd, xd, wd, bd, n, in, out);
    be->ops->linear_backward(be, dxd, dwd, dbd, dyd, xd, wd, n, in, out);
    *y = get_floats(be, yd, (size_t)n * out);
    *dx = get_floats(be, dxd, (size_t)n * in);
    *dw = get_floats(be, dwd, (size_t)out * in);
    *db = get_floats(be, dbd, out);
    release(&l);
    free(nan_y), free(nan_x);
}

static void test_linear(void)
{
    const int n = SMALL ? 5 : 37, in = SMALL ? 9 : 640, out = 10;
    float *x = randn((size_t)n * in, 0, 1), *w = randn((size_t)out * in, 0, 0.05), *b = randn(out, 0, 0.1);
    float *dy = randn((size_t)n * out, 0, 0.1), *dw0 = randn((size_t)out * in, 0, 0.1), *db0 = randn(out, 0, 0.1);
    float *cy, *cdx, *cdw, *cdb, *gy, *gdx, *gdw, *gdb;
    run_linear(CPU, n, in, out, x, w, b, dy, dw0, db0, &cy, &cdx, &cdw, &cdb);
    run_linear(GPU, n, in, out, x, w, b, dy, dw0, db0, &gy, &gdx, &gdw, &gdb);
    printf(" linear n%d %d->%d (cuBLAS, %s)\n", n, in, out, brn_precision_name(GPU->precision));
    const double tol = GPU->precision == BRN_PRECISION_TF32 ? 5e-3 : 1e-5;
    compare("linear_forward y", gy, cy, (size_t)n * out, tol);
    compare("linear_backward dx (=, from NaN)", gdx, cdx, (size_t)n * in, tol);
    compare("linear_backward dw (+=)", gdw, cdw, (size_t)out * in, tol);
    compare("linear_backward db (+=)", gdb, cdb, out, tol);
    free(x), free(w), free(b), free(dy), free(dw0), free(db0);
    free(cy), free(cdx), free(cdw), free(cdb), free(gy), free(gdx), free(gdw), free(gdb);
}

static void run_xent(brn_backend *be, const float *logits, const int *labels, int n, int k, float **dl,
                     brn_step_result *r)
{
    dlist l = {.be = be};
    float *nan_l = filled((size_t)n * k, NAN);
    float *ld = keep(&l, put_floats(be, logits, (size_t)n * k)), *dld = keep(&l, put_floats(be, nan_l, (size_t)n * k));
    int *lab = keep(&l, put_bytes(be, labels, sizeof(int) * n));
    brn_step_result *rd = keep(&l, be->ops->alloc(be, sizeof *rd));
    be->ops->softmax_xent(be, dld, ld, lab, n, k, rd);
    get_bytes(be, r, rd, sizeof *r);
    *dl = get_floats(be, dld, (size_t)n * k);
    release(&l);
    free(nan_l);
}

static void test_softmax_xent(void)
{
    const int n = 33, k = 10;
    float *logits = randn((size_t)n * k, 0, 3);
    int labels[33];
    for (int i = 0; i < n; i++) labels[i] = (int)brn_rng_below(&fixture_rng, k);
    logits[5 * k + 3] = logits[5 * k + 7] = 50;   /* a tie: the first maximum wins on both */
    float *cd, *gd;
    brn_step_result cr, gr;
    run_xent(CPU, logits, labels, n, k, &cd, &cr);
    run_xent(GPU, logits, labels, n, k, &gd, &gr);
    const float cl[2] = {(float)cr.loss, (float)cr.correct}, gl[2] = {(float)gr.loss, (float)gr.correct};
    compare("softmax_xent loss, hits", gl, cl, 2, 1e-6);
    CHECK_EQ_INT((int)gr.correct, (int)cr.correct);
    compare("softmax_xent dlogits", gd, cd, (size_t)n * k, 1e-5);
    free(logits), free(cd), free(gd);
}

static void run_sgd(brn_backend *be, size_t n, const float *w, const float *g, const float *v, const brn_sgd *o,
                    const brn_step_scalars *sc, float **w_out, float **v_out)
{
    dlist l = {.be = be};
    float *wd = keep(&l, put_floats(be, w, n)), *gd = keep(&l, put_floats(be, g, n)), *vd = keep(&l, put_floats(be, v, n));
    brn_step_scalars *scd = keep(&l, put_bytes(be, sc, sizeof *sc));
    be->ops->sgd_step(be, wd, gd, vd, n, o, scd);
    be->ops->sgd_step(be, wd, gd, vd, n, o, scd);
    *w_out = get_floats(be, wd, n);
    *v_out = get_floats(be, vd, n);
    release(&l);
}

static void test_sgd(void)
{
    const size_t n = 10007;
    float *w = randn(n, 0, 1), *g = randn(n, 0, 1), *v = randn(n, 0, 0.1);
    const brn_step_scalars sc = {.lr = 0.05};
    for (int nesterov = 0; nesterov < 2; nesterov++) {
        const brn_sgd o = {.momentum = 0.9, .weight_decay = 5e-4, .nesterov = nesterov};
        float *cw, *cv, *gw, *gv;
        run_sgd(CPU, n, w, g, v, &o, &sc, &cw, &cv);
        run_sgd(GPU, n, w, g, v, &o, &sc, &gw, &gv);
        compare(nesterov ? "sgd_step (Nesterov) w" : "sgd_step w", gw, cw, n, 1e-6);
        compare(nesterov ? "sgd_step (Nesterov) velocity" : "sgd_step velocity", gv, cv, n, 1e-6);
        free(cw), free(cv), free(gw), free(gv);
    }
    free(w), free(g), free(v);
}

/* ---- cuDNN's batch norm: a second oracle for our BN ------------------------------------------ */

#ifdef BRN_HAVE_CUDA
#define CUDNN_OK(call)                                                                                  \
    do {                                                                                                \
        cudnnStatus_t _s = (call);                                                                      \
        check_count++;                                                                                  \
        if (_s != CUDNN_STATUS_SUCCESS) {                                                               \
            check_failures++;                                                                           \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudnnGetErrorString(_s));     \
        }                                                                                               \
    } while (0)

/* Our BN (training, whole batch, no ReLU) against cudnnBatchNormalizationForwardTraining
 * and cudnnBatchNormalizationBackward on the same NHWC device tensors: y, the saved mean
 * and 1/sigma, the running mean and (unbiased) variance after the update, dx, dgamma, dbeta. */
static void bn_oracle_case(brn_act_shape s)
{
    const int C = s.c;
    const size_t n = act_n(s);
    const double eps = 1e-5, momentum = 0.1;
    dlist l = {.be = GPU};
    float *x = randn(n, 0.5, 2), *dy = randn(n, 0, 1), *gamma = randn(C, 1, 0.2), *beta = randn(C, 0, 0.2);
    float *rm = randn(C, 0, 0.3), *rv = filled(C, 1.5f), *zeros = filled(C, 0), *nan_act = filled(n, NAN);
    const brn_norm_desc d = {.kind = BRN_NORM_BN, .shape = s, .group = s.n, .eps = eps, .relu = 0};
    const brn_step_scalars sc = {.norm_momentum = momentum, .rmax = 1, .dmax = 0};
    /* ours */
    brn_norm_tensors t = {
        .gamma = keep(&l, put_floats(GPU, gamma, C)), .beta = keep(&l, put_floats(GPU, beta, C)),
        .dgamma = keep(&l, put_floats(GPU, zeros, C)), .dbeta = keep(&l, put_floats(GPU, zeros, C)),
        .run_mean = keep(&l, put_floats(GPU, rm, C)), .run_var = keep(&l, put_floats(GPU, rv, C)),
        .saved = keep(&l, GPU->ops->alloc(GPU, sizeof(float) * 4 * C + 64)),
    };
    void *ws = workspace(&l, GPU->ops->norm_workspace(GPU, &d));
    brn_step_scalars *scd = keep(&l, put_bytes(GPU, &sc, sizeof sc));
    void *xd = keep(&l, put_act(GPU, x, s)), *dyd = keep(&l, put_act(GPU, dy, s));
    void *ad = keep(&l, put_act(GPU, nan_act, s)), *dxd = keep(&l, put_act(GPU, nan_act, s));
    GPU->ops->norm_forward(GPU, &d, BRN_NORM_TRAIN, &t, ad, xd, scd, ws);
    GPU->ops->norm_backward(GPU, &d, &t, dxd, dyd, ad, xd, ws);
    sync_ok(GPU, "our BN");
    /* cuDNN's, on its own buffers */
    float *y2 = keep(&l, put_act(GPU, nan_act, s)), *dx2 = keep(&l, put_act(GPU, nan_act, s));
    float *g2 = keep(&l, put_floats(GPU, gamma, C)), *b2 = keep(&l, put_floats(GPU, beta, C));
    float *rm2 = keep(&l, put_floats(GPU, rm, C)), *rv2 = keep(&l, put_floats(GPU, rv, C));
    float *smean = keep(&l, put_floats(GPU, zeros, C)), *sinv = keep(&l, put_floats(GPU, zeros, C));
    float *dg2 = keep(&l, put_floats(GPU, zeros, C)), *db2 = keep(&l, put_floats(GPU, zeros, C));
    sync_ok(GPU, "staging");
    cudnnHandle_t h;
    cudnnTensorDescriptor_t xdesc, bdesc;
    CUDNN_OK(cudnnCreate(&h));
    CUDNN_OK(cudnnCreateTensorDescriptor(&xdesc));
    CUDNN_OK(cudnnCreateTensorDescriptor(&bdesc));
    CUDNN_OK(cudnnSetTensor4dDescriptor(xdesc, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, s.n, C, s.h, s.w));
    CUDNN_OK(cudnnDeriveBNTensorDescriptor(bdesc, xdesc, CUDNN_BATCHNORM_SPATIAL));
    const float one = 1, zero = 0;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    CUDNN_OK(cudnnBatchNormalizationForwardTraining(h, CUDNN_BATCHNORM_SPATIAL, &one, &zero, xdesc, xd, xdesc, y2,
                                                    bdesc, g2, b2, momentum, rm2, rv2, eps, smean, sinv));
    CUDNN_OK(cudnnBatchNormalizationBackward(h, CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, xdesc, xd, xdesc,
                                             dyd, xdesc, dx2, bdesc, g2, dg2, db2, eps, smean, sinv));
#pragma GCC diagnostic pop
    check_count++;
    if (cudaDeviceSynchronize() != cudaSuccess) {
        check_failures++;
        fprintf(stderr, "cuDNN batch norm: %s\n", cudaGetErrorString(cudaGetLastError()));
    }
    cudnnDestroyTensorDescriptor(xdesc);
    cudnnDestroyTensorDescriptor(bdesc);
    cudnnDestroy(h);

    printf(" BN vs cuDNN C%d N%d %dx%d (NHWC fp32)\n", C, s.n, s.h, s.w);
    float *a_ours = get_act(GPU, ad, s), *a_cudnn = get_act(GPU, y2, s);
    compare("y", a_ours, a_cudnn, n, 2e-5);
    float *saved = get_floats(GPU, t.saved, 4 * (size_t)C), *mu_c = get_floats(GPU, smean, C);
    float *inv_c = get_floats(GPU, sinv, C), *mu_o = malloc(sizeof(float) * C), *inv_o = malloc(sizeof(float) * C);
    for (int c = 0; c < C; c++) {
        mu_o[c] = saved[4 * c];
        inv_o[c] = 1.0f / saved[4 * c + 1];
    }
    compare("saved mean", mu_o, mu_c, C, 2e-5);
    compare("saved 1/sigma", inv_o, inv_c, C, 2e-5);
    float *rm_o = get_floats(GPU, t.run_mean, C), *rm_c = get_floats(GPU, rm2, C);
    float *rv_o = get_floats(GPU, t.run_var, C), *rv_c = get_floats(GPU, rv2, C);
    compare("running mean", rm_o, rm_c, C, 2e-5);
    compare("running var (unbiased)", rv_o, rv_c, C, 2e-5);
    float *dx_o = get_act(GPU, dxd, s), *dx_c = get_act(GPU, dx2, s);
    float *dg_o = get_floats(GPU, t.dgamma, C), *dg_c = get_floats(GPU, dg2, C);
    float *db_o = get_floats(GPU, t.dbeta, C), *db_c = get_floats(GPU, db2, C);
    compare("dx", dx_o, dx_c, n, 1e-4);
    compare("dgamma", dg_o, dg_c, C, 1e-4);
    compare("dbeta", db_o, db_c, C, 1e-4);
    release(&l);
    free(x), free(dy), free(gamma), free(beta), free(rm), free(rv), free(zeros), free(nan_act);
    free(a_ours), free(a_cudnn), free(saved), free(mu_c), free(inv_c), free(mu_o), free(inv_o);
    free(rm_o), free(rm_c), free(rv_o), free(rv_c), free(dx_o), free(dx_c), free(dg_o), free(dg_c), free(db_o),
        free(db_c);
}

static void test_cudnn_bn_oracle(void)
{
    bn_oracle_case((brn_act_shape){.c = 7, .n = 8, .h = 5, .w = 5});
    if (!SMALL) bn_oracle_case((brn_act_shape){.c = 64, .n = 32, .h = 8, .w = 8});
}
#endif

/* ---- the runs -------------------------------------------------------------------------------- */

static void use_gpu(brn_precision p)
{
    if (GPU) brn_backend_close(GPU);
    GPU = gpu_backend(p);
    printf("\n== %s ==\n", GPU->description);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    SMALL = argc > 1 && !strcmp(argv[1], "--small");
    gpu_require("test_gpu_ops");
    brn_rng_init(&fixture_rng, test_seed());
    CPU = cpu_backend(4);
    printf("reference: %s%s\n", CPU->description, SMALL ? "; small shapes" : "");

    use_gpu(BRN_PRECISION_FP32);
    TEST(test_layout);
    TEST(test_batch_build);
    TEST(test_conv_fp32);
    TEST(test_norms_fp32);
    TEST(test_renorm_diag);
    TEST(test_small_fp32);
    TEST(test_linear);
    TEST(test_softmax_xent);
    TEST(test_sgd);
#ifdef BRN_HAVE_CUDA
    TEST(test_cudnn_bn_oracle);
#endif

    use_gpu(BRN_PRECISION_TF32);
    TEST(test_conv_tf32);
    TEST(test_linear);

    use_gpu(BRN_PRECISION_BF16);
    TEST(test_layout);
    TEST(test_batch_build);
    TEST(test_conv_bf16);
    TEST(test_norms_bf16);
    TEST(test_small_bf16);
    TEST(test_linear);
    TEST(test_softmax_xent);
    TEST(test_sgd);

    brn_backend_close(GPU);
    brn_backend_close(CPU);
    return CHECK_DONE();
}
