/* The CUDA backend's operations besides memory and convolutions: our kernels (kernels.h)
 * for normalization, dropout, pooling, residual adds, the loss and SGD, and cuBLAS for
 * the linear layer (fp32: pedantic FP32 math, tf32: TF32 tensor cores; backend_cuda.cu
 * sets the mode). Every launch is checked; after an error the operations do nothing until
 * it is reported (cuda_internal.h). */
#include "cuda_internal.h"

static size_t act_count(brn_act_shape s) { return (size_t)s.c * s.n * s.h * s.w; }

/* The backend, or NULL when an error is pending (the operation is then skipped). */
static cuda_backend *live(brn_backend *be)
{
    cuda_backend *cb = brn_cu_of(be);
    return cb->status ? NULL : cb;
}

size_t brn_cu_norm_workspace(brn_backend *be, const brn_norm_desc *d) { return brn_k_norm_workspace(d); }

void brn_cu_norm_forward(brn_backend *be, const brn_norm_desc *d, brn_norm_mode mode, const brn_norm_tensors *t,
                         void *a, const void *x, const brn_step_scalars *sc, void *ws)
{
    cuda_backend *cb = live(be);
    if (cb) LAUNCH_CHECK(cb, brn_k_norm_forward(brn_cu_stream(cb), d, mode, t, a, x, cb->at, sc, ws));
}

void brn_cu_norm_backward(brn_backend *be, const brn_norm_desc *d, const brn_norm_tensors *t, void *dx,
                          const void *da, const void *a, const void *x, void *ws)
{
    cuda_backend *cb = live(be);
    if (cb) LAUNCH_CHECK(cb, brn_k_norm_backward(brn_cu_stream(cb), d, t, dx, da, a, x, cb->at, ws));
}

void brn_cu_renorm_diag(brn_backend *be, brn_diag_acc *acc, const float *saved, int channels, int groups,
                        const brn_step_scalars *sc)
{
    cuda_backend *cb = live(be);
    if (cb) LAUNCH_CHECK(cb, brn_k_renorm_diag(brn_cu_stream(cb), acc, saved, channels, groups, sc));
}

void brn_cu_dropout_forward(brn_backend *be, void *y, uint8_t *keep, const void *x, brn_act_shape s, double p,
                            uint64_t salt, const brn_step_scalars *sc)
{
    cuda_backend *cb = live(be);
    if (cb) LAUNCH_CHECK(cb, brn_k_dropout_forward(brn_cu_stream(cb), y, keep, x, cb->at, s, p, salt, sc));
}

void brn_cu_dropout_backward(brn_backend *be, void *dx, const void *dy, const uint8_t *keep, brn_act_shape s,
                             double p)
{
    cuda_backend *cb = live(be);
    if (cb) LAUNCH_CHECK(cb, brn_k_dropout_backward(brn_cu_stream(cb), dx, dy, keep, cb->at, s, p));
}

void brn_cu_avgpool_forward(brn_backend *be, float *y, const void *x, brn_act_shape s)
{
    cuda_backend *cb = live(be);
    if (cb) LAUNCH_CHECK(cb, brn_k_avgpool_forward(brn_cu_stream(cb), y, x, cb->at, s));
}

void brn_cu_avgpool_backward(brn_backend *be, void *dx, const float *dy, brn_act_shape s)
{
    cuda_backend *cb = live(be);
    if (cb) LAUNCH_CHECK(cb, brn_k_avgpool_backward(brn_cu_stream(cb), dx, dy, cb->at, s));
}

void brn_cu_add(brn_backend *be, void *y, const void *x, brn_act_shape s)
{
    cuda_backend *cb = live(be);
    if (cb) LAUNCH_CHECK(cb, brn_k_add(brn_cu_stream(cb), y, x, cb->at, act_count(s)));
}

/* Row-major y[N][O] = x[N][I] w[O][I]^T is column-major Y(OxN) = W^T (OxI) X (IxN), with
 * W the column-major IxO view of w. */
void brn_cu_linear_forward(brn_backend *be, float *y, const float *x, const float *w, const float *b, int n, int in,
                           int out)
{
    cuda_backend *cb = live(be);
    if (!cb) return;
    const float one = 1, zero = 0;
    if (CUBLAS_CHECK(cb, cublasSgemm(cb->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, in, x, in, &zero, y,
                                     out)))
        return;
    if (b) LAUNCH_CHECK(cb, brn_k_bias_add(brn_cu_stream(cb), y, b, n, out));
}

/* dx[N][I] = dy w: DX(IxN) = W(IxO) DY(OxN); dw[O][I] += dy^T x: DW(IxO) += X(IxN) DY^T(NxO);
 * db += column sums of dy. */
void brn_cu_linear_backward(brn_backend *be, float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, int n, int in, int out)
{
    cuda_backend *cb = live(be);
    if (!cb) return;
    const float one = 1, zero = 0;
    if (CUBLAS_CHECK(cb, cublasSgemm(cb->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, x, in, dy, out, &one, dw,
                                     in)))
        return;
    if (db && LAUNCH_CHECK(cb, brn_k_bias_grad(brn_cu_stream(cb), db, dy, n, out))) return;
    if (dx) CUBLAS_CHECK(cb, cublasSgemm(cb->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, w, in, dy, out, &zero,
                                         dx, in));
}

void brn_cu_softmax_xent(brn_backend *be, float *dlogits, const float *logits, const int *labels, int n, int k,
                         brn_step_result *res)
{
    cuda_backend *cb = live(be);
    if (cb) LAUNCH_CHECK(cb, brn_k_softmax_xent(brn_cu_stream(cb), dlogits, logits, labels, n, k, res));
}

/* bf16: the mirror of the updated weights follows (backend_cuda.cu). */
void brn_cu_sgd_step(brn_backend *be, float *w, const float *g, float *v, size_t n, const brn_sgd *o,
                     const brn_step_scalars *sc)
{
    cuda_backend *cb = live(be);
    if (!cb) return;
    if (!LAUNCH_CHECK(cb, brn_k_sgd_step(brn_cu_stream(cb), w, g, v, n, o, sc))) brn_cu_mirror_refresh(cb, w, n);
}

void brn_cu_batch_build(brn_backend *be, void *x, int *labels, const void *ds, const brn_batch_entry *plan, int n)
{
    cuda_backend *cb = live(be);
    const cuda_dataset *d = (const cuda_dataset *)ds;
    if (cb)
        LAUNCH_CHECK(cb, brn_k_batch_build(brn_cu_stream(cb), x, cb->at, labels, d->images, d->labels, d->lut, plan, n,
                                           d->c, d->h, d->w));
}
