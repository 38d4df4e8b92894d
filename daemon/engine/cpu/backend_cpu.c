/* The CPU backend: today's layers (the cpu/ layer files, OpenBLAS GEMMs, OpenMP threads) behind the
 * backend table. Its memory is host memory; layouts are the engine's own (CNHW
 * activations, OIHW weights), so the layout boundary is a plain copy. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../backend.h"
#include "../errors.h"
#include "layers.h"

/* OpenBLAS's own threads would fight ours: the layers split work over images instead. */
extern void openblas_set_num_threads(int);

typedef struct cpu_backend {
    brn_backend base;
    int threads;
    int status;               /* first error since the last report, sticky */
    char err[512];
} cpu_backend;

static cpu_backend *cpu(brn_backend *be)
{
    cpu_backend *cb = (cpu_backend *)be;
    brn_cpu_set_threads(cb->threads);
    return cb;
}

static void fail(cpu_backend *cb, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(cpu_backend *cb, int code, const char *fmt, ...)
{
    if (cb->status) return;
    cb->status = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cb->err, sizeof cb->err, fmt, ap);
    va_end(ap);
}

static int report(cpu_backend *cb, char *err, size_t errlen)
{
    int rc = cb->status;
    if (rc && err) snprintf(err, errlen, "%s", cb->err);
    cb->status = 0;
    return rc;
}

static size_t act_count(brn_act_shape s) { return (size_t)s.c * s.n * s.h * s.w; }

static size_t shape_count(const int *shape, int ndim)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

/* --- memory ------------------------------------------------------------------------------- */

static void cpu_destroy(brn_backend *be) { free(be); }

static int cpu_supports(brn_backend *be, const brn_job_spec *spec, char *err, size_t errlen)
{
    if (spec->precision != BRN_PRECISION_FP32)
        return brn_errorf(err, errlen, BRN_EINVAL, "precision: %s needs a GPU (the CPU runs fp32 only)",
                          brn_precision_name(spec->precision));
    return 0;
}

static void *cpu_alloc(brn_backend *be, size_t bytes)
{
    return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
}

static void cpu_free(brn_backend *be, void *p) { free(p); }

static void cpu_upload(brn_backend *be, void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }

static int cpu_download(brn_backend *be, void *dst, const void *src, size_t bytes, char *err, size_t errlen)
{
    memcpy(dst, src, bytes);
    return report((cpu_backend *)be, err, errlen);
}

static void cpu_zero(brn_backend *be, void *dst, size_t bytes) { memset(dst, 0, bytes); }

static void *cpu_host_alloc(brn_backend *be, size_t bytes) { return cpu_alloc(be, bytes); }

static void cpu_upload_act(brn_backend *be, void *dst, const float *host, brn_act_shape s)
{
    memcpy(dst, host, sizeof(float) * act_count(s));
}

static int cpu_download_act(brn_backend *be, float *host, const void *src, brn_act_shape s, char *err,
                            size_t errlen)
{
    return cpu_download(be, host, src, sizeof(float) * act_count(s), err, errlen);
}

static void cpu_upload_tensor(brn_backend *be, float *dst, const float *host, const int *shape, int ndim,
                              brn_tensor_layout layout)
{
    memcpy(dst, host, sizeof(float) * shape_count(shape, ndim));
}

static int cpu_download_tensor(brn_backend *be, float *host, const float *src, const int *shape, int ndim,
                               brn_tensor_layout layout, char *err, size_t errlen)
{
    return cpu_download(be, host, src, sizeof(float) * shape_count(shape, ndim), err, errlen);
}

static int cpu_synchronize(brn_backend *be, char *err, size_t errlen) { return report((cpu_backend *)be, err, errlen); }

/* The dataset stays where it is (host memory): the handle is a copy of the source. */
static void *cpu_dataset_upload(brn_backend *be, const brn_batch_source *src)
{
    brn_batch_source *ds = malloc(sizeof *ds);
    if (ds) *ds = *src;
    return ds;
}

static void cpu_batch_build(brn_backend *be, void *x, int *labels, const void *ds, const brn_batch_entry *plan, int n)
{
    brn_batch_materialize(ds, plan, n, x, labels);
}

/* --- operations ------------------------------------------------------------------------- */

/* The lowering scratch for every thread, then per-thread filter-gradient partial sums. */
static size_t cpu_conv_workspace(brn_backend *be, const brn_conv_shape *s)
{
    const size_t T = (size_t)((cpu_backend *)be)->threads;
    return sizeof(float) * T * (brn_cpu_conv_scratch_size(s) + (size_t)s->cout * s->cin * s->k * s->k);
}

static void cpu_conv_forward(brn_backend *be, void *y, const void *x, const float *w, const brn_conv_shape *s,
                             void *ws)
{
    cpu(be);
    brn_cpu_conv_forward_f32(y, x, w, s, ws);
}

static void cpu_conv_backward(brn_backend *be, void *dx, float *dw, const void *dy, const void *x, const float *w,
                              const brn_conv_shape *s, int accumulate_dx, void *ws)
{
    cpu_backend *cb = cpu(be);
    float *scratch = ws, *dw_scratch = scratch + (size_t)cb->threads * brn_cpu_conv_scratch_size(s);
    brn_cpu_conv_backward_f32(dx, dw, dy, x, w, s, accumulate_dx, scratch, dw_scratch);
}

static brn_norm_params_f32 norm_params(const brn_norm_tensors *t)
{
    return (brn_norm_params_f32){.gamma = t->gamma, .beta = t->beta, .dgamma = t->dgamma, .dbeta = t->dbeta,
                                 .run_mean = t->run_mean, .run_var = t->run_var};
}

/* the layers keep their statistics in `saved` and need no workspace */
static size_t cpu_norm_workspace(brn_backend *be, const brn_norm_desc *d) { return 0; }

static void cpu_norm_forward(brn_backend *be, const brn_norm_desc *d, brn_norm_mode mode,
                             const brn_norm_tensors *t, void *a, const void *x, const brn_step_scalars *sc, void *ws)
{
    cpu_backend *cb = cpu(be);
    brn_norm_params_f32 p = norm_params(t);
    int rc = 0;
    switch (d->kind) {
    case BRN_NORM_NONE:
        brn_cpu_relu_forward_f32(a, x, act_count(d->shape));
        return;
    case BRN_NORM_GN:
    case BRN_NORM_LN:
        rc = brn_cpu_groupnorm_forward_f32(a, t->saved, x, &p, d->eps, &d->shape,
                                           d->kind == BRN_NORM_LN ? 1 : d->gn_groups, d->relu);
        break;
    case BRN_NORM_BN:
    case BRN_NORM_BRN: {
        const int renorm = d->kind == BRN_NORM_BRN;
        if (mode == BRN_NORM_EVAL_RUNNING) {
            brn_bn_config bc = {.renorm = renorm, .eps = d->eps};
            brn_cpu_batchnorm_forward_eval_f32(a, x, &p, &bc, &d->shape, d->relu);
            return;
        }
        brn_bn_config bc = {.renorm = 0, .eps = d->eps, .rmax = 1, .dmax = 0, .update_running = 0};
        if (mode == BRN_NORM_TRAIN)
            bc = (brn_bn_config){.renorm = renorm, .eps = d->eps, .momentum = sc->norm_momentum,
                                 .rmax = sc->rmax, .dmax = sc->dmax, .update_running = 1};
        rc = brn_cpu_batchnorm_forward_train_f32(a, t->saved, x, &p, &bc, &d->shape, d->group, d->relu);
        break;
    }
    }
    if (rc) fail(cb, BRN_EINVAL, "norm: a normalization group holds fewer than 2 values per channel");
}

static void cpu_norm_backward(brn_backend *be, const brn_norm_desc *d, const brn_norm_tensors *t, void *dx,
                              const void *da, const void *a, const void *x, void *ws)
{
    cpu(be);
    brn_norm_params_f32 p = norm_params(t);
    switch (d->kind) {
    case BRN_NORM_NONE:
        brn_cpu_relu_backward_f32(dx, da, a, act_count(d->shape));
        break;
    case BRN_NORM_GN:
    case BRN_NORM_LN:
        brn_cpu_groupnorm_backward_f32(dx, &p, da, a, x, t->saved, &d->shape,
                                       d->kind == BRN_NORM_LN ? 1 : d->gn_groups, d->relu);
        break;
    case BRN_NORM_BN:
    case BRN_NORM_BRN:
        brn_cpu_batchnorm_backward_f32(dx, &p, da, a, x, t->saved, &d->shape, d->group, d->relu);
        break;
    }
}

static void cpu_renorm_diag(brn_backend *be, brn_diag_acc *acc, const float *saved, int channels, int groups,
                            const brn_step_scalars *sc)
{
    /* a limit is in force when relaxed (rmax > 1, dmax > 0); one at 1 or 0 clips nothing: it
       only keeps plain BN's r = 1 or d = 0. With neither (the warm-up) the step adds nothing. */
    const int r_on = sc->rmax > 1, d_on = sc->dmax > 0;
    if (!r_on && !d_on) return;
    const float rmax = (float)sc->rmax, rmin = (float)(1.0 / sc->rmax), dmax = (float)sc->dmax;
    for (int c = 0; c < channels; c++)
        for (int g = 0; g < groups; g++) {
            const float *sv = saved + 4 * ((size_t)c * groups + g);
            const float r = sv[2], d = sv[3];
            acc->sum_abs_r1 += fabs((double)r - 1.0);
            acc->sum_abs_d += fabs((double)d);
            acc->r_clipped += r_on && (r >= rmax || r <= rmin);
            acc->d_clipped += d_on && (d >= dmax || d <= -dmax);
            acc->count++;
        }
}

static void cpu_dropout_forward(brn_backend *be, void *y, uint8_t *keep, const void *x, brn_act_shape s, double p,
                                uint64_t salt, const brn_step_scalars *sc)
{
    cpu(be);
    brn_cpu_dropout_forward_f32(y, keep, x, act_count(s), p, sc->dropout_seed ^ salt);
}

static void cpu_dropout_backward(brn_backend *be, void *dx, const void *dy, const uint8_t *keep, brn_act_shape s,
                                 double p)
{
    cpu(be);
    brn_cpu_dropout_backward_f32(dx, dy, keep, act_count(s), p);
}

static void cpu_avgpool_forward(brn_backend *be, float *y, const void *x, brn_act_shape s)
{
    brn_cpu_avgpool_forward_f32(y, x, &s);
}

static void cpu_avgpool_backward(brn_backend *be, void *dx, const float *dy, brn_act_shape s)
{
    brn_cpu_avgpool_backward_f32(dx, dy, &s);
}

static void cpu_linear_forward(brn_backend *be, float *y, const float *x, const float *w, const float *b, int n,
                               int in, int out)
{
    brn_cpu_linear_forward_f32(y, x, w, b, n, in, out);
}

static void cpu_linear_backward(brn_backend *be, float *dx, float *dw, float *db, const float *dy, const float *x,
                                const float *w, int n, int in, int out)
{
    brn_cpu_linear_backward_f32(dx, dw, db, dy, x, w, n, in, out);
}

static void cpu_add(brn_backend *be, void *y, const void *x, brn_act_shape s)
{
    cpu(be);
    brn_cpu_add_inplace_f32(y, x, act_count(s));
}

static void cpu_softmax_xent(brn_backend *be, float *dlogits, const float *logits, const int *labels, int n, int k,
                             brn_step_result *res)
{
    int correct = 0;
    res->loss = brn_cpu_softmax_xent_f32(dlogits, logits, labels, n, k, &correct);
    res->correct = correct;
}

static void cpu_sgd_step(brn_backend *be, float *w, const float *g, float *v, size_t n, const brn_sgd *o,
                         const brn_step_scalars *sc)
{
    cpu(be);
    brn_cpu_sgd_step_f32(w, g, v, n, (float)sc->lr, (float)o->momentum, (float)o->weight_decay, o->nesterov);
}

static const brn_backend_ops CPU_OPS = {
    .destroy = cpu_destroy,
    .supports = cpu_supports,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .zero = cpu_zero,
    .host_alloc = cpu_host_alloc,
    .host_free = cpu_free,
    .upload_act = cpu_upload_act,
    .download_act = cpu_download_act,
    .upload_tensor = cpu_upload_tensor,
    .download_tensor = cpu_download_tensor,
    .dataset_upload = cpu_dataset_upload,
    .dataset_free = cpu_free,
    .batch_build = cpu_batch_build,
    .synchronize = cpu_synchronize,
    .conv_workspace = cpu_conv_workspace,
    .conv_forward = cpu_conv_forward,
    .conv_backward = cpu_conv_backward,
    .norm_workspace = cpu_norm_workspace,
    .norm_forward = cpu_norm_forward,
    .norm_backward = cpu_norm_backward,
    .renorm_diag = cpu_renorm_diag,
    .dropout_forward = cpu_dropout_forward,
    .dropout_backward = cpu_dropout_backward,
    .avgpool_forward = cpu_avgpool_forward,
    .avgpool_backward = cpu_avgpool_backward,
    .linear_forward = cpu_linear_forward,
    .linear_backward = cpu_linear_backward,
    .add = cpu_add,
    .softmax_xent = cpu_softmax_xent,
    .sgd_step = cpu_sgd_step,
};

int brn_cpu_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int brn_cpu_backend_create(int threads, brn_backend **out, char *err, size_t errlen)
{
    cpu_backend *cb = calloc(1, sizeof *cb);
    if (!cb) return brn_errorf(err, errlen, BRN_ENOMEM, "out of memory");
    cb->threads = threads > 0 ? threads : brn_cpu_default_threads();
    cb->base.ops = &CPU_OPS;
    cb->base.precision = BRN_PRECISION_FP32;
    cb->base.act_bytes = sizeof(float);
    snprintf(cb->base.device, sizeof cb->base.device, "cpu");
    snprintf(cb->base.description, sizeof cb->base.description, "cpu (%d thread%s, OpenBLAS)", cb->threads,
             cb->threads == 1 ? "" : "s");
    openblas_set_num_threads(1);
    *out = &cb->base;
    return 0;
}
