/* Convolutions through cuDNN: NHWC activations (float or bf16), OHWI filters, no bias,
 * padding k/2.
 *
 * A plan per shape holds the descriptors and one algorithm per direction (forward,
 * backward data, backward filter), chosen once, when conv_workspace is first asked about
 * the shape (the model asks for every layer before its first step), and cached:
 *   fp32  exact FP32: CUDNN_FMA_MATH (no TF32) and deterministic algorithms, picked by
 *         cuDNN's heuristics (not by timing, so the same job picks the same algorithms and
 *         gives the same bits on every run);
 *   tf32, bf16  the fastest algorithm by cuDNN's own timing (cudnnFind*), tensor cores
 *         allowed; heuristics where timing fails (memory) or a capture is in progress.
 * A plan's whole workspace stays within BRN_GPU_WORKSPACE_LIMIT (backend.h), so that the
 * job's memory is known before it runs; the fastest algorithm that fits is taken.
 * bf16: the filter is read from the bf16 mirror of the fp32 weights (backend_cuda.cu); the
 * filter gradient is computed in bf16 into the workspace and added to the fp32 gradient.
 * Should cuDNN have no bf16 algorithm for a shape (a 3-channel input, say), that layer
 * computes in float instead: its bf16 operands are widened into the workspace, the conv
 * runs on fp32 weights (TF32 allowed), the result is rounded back to bf16.
 * Accumulation as backend.h says, through cuDNN's alpha/beta: dw +=, dx = or +=. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

#define WS_ALIGN 256                      /* the model's arena aligns to 64; cuDNN's kernels like more */

enum { DIR_FWD, DIR_DATA, DIR_FILTER, N_DIRS };
static const char *const DIR_NAME[N_DIRS] = {"forward", "backward-data", "backward-filter"};

struct conv_plan {
    brn_conv_shape s;
    int widened;         /* bf16 activations, float convolution (no bf16 algorithm for this shape) */
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t cd[N_DIRS];   /* one per direction: each keeps its algorithm's math type */
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t data;
    cudnnConvolutionBwdFilterAlgo_t filter;
    size_t ws[N_DIRS];
    /* the workspace: [extra][cuDNN's], extra = the bf16 filter gradient (bf16), or the
       widened x, y (or dy) and dx (widened) */
    size_t dw_scratch, xb, yb;
    size_t bytes;        /* what conv_workspace reports */
};

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static char *ws_at(void *ws) { return (char *)align_up((uintptr_t)ws, WS_ALIGN); }

static int exact(const cuda_backend *cb) { return cb->base.precision == BRN_PRECISION_FP32; }

static size_t x_count(const brn_conv_shape *s) { return (size_t)s->n * s->cin * s->h * s->w; }
static size_t y_count(const brn_conv_shape *s) { return (size_t)s->n * s->cout * s->oh * s->ow; }
static size_t w_count(const brn_conv_shape *s) { return (size_t)s->cout * s->cin * s->k * s->k; }

/* bytes before cuDNN's workspace, per direction */
static size_t extra_bytes(const conv_plan *p, int dir)
{
    if (p->widened) return dir == DIR_FWD ? p->xb + p->yb : 2 * p->xb + p->yb;
    return dir == DIR_FILTER ? p->dw_scratch : 0;
}

static void shape_text(const brn_conv_shape *s, char *out, size_t len)
{
    snprintf(out, len, "conv %dx%d stride %d, %d -> %d channels, batch %d at %dx%d", s->k, s->k, s->stride, s->cin,
             s->cout, s->n, s->h, s->w);
}

static void descriptors_free(conv_plan *p)
{
    if (p->x) cudnnDestroyTensorDescriptor(p->x);
    if (p->y) cudnnDestroyTensorDescriptor(p->y);
    if (p->w) cudnnDestroyFilterDescriptor(p->w);
    for (int d = 0; d < N_DIRS; d++)
        if (p->cd[d]) cudnnDestroyConvolutionDescriptor(p->cd[d]);
    p->x = p->y = NULL;
    p->w = NULL;
    memset(p->cd, 0, sizeof p->cd);
}

void brn_cu_conv_plans_free(cuda_backend *cb)
{
    for (int i = 0; i < cb->n_plans; i++) {
        descriptors_free(cb->plans[i]);
        free(cb->plans[i]);
    }
    free(cb->plans);
    cb->plans = NULL;
    cb->n_plans = cb->cap_plans = 0;
}

/* The first acceptable candidate in perf (ranked fastest first, by timing or by heuristics):
 * it succeeded, fits the limit, and in fp32 runs without tensor cores and, when strict, is
 * deterministic. The direction's descriptor keeps the math type it runs with. */
template <typename Perf, typename Algo, typename SizeFn>
static int first_acceptable(cuda_backend *cb, cudnnConvolutionDescriptor_t cd, const Perf *perf, int n, size_t limit,
                            int strict, SizeFn workspace_of, Algo *algo, size_t *ws)
{
    for (int i = 0; i < n; i++) {
        const Perf *c = &perf[i];
        if (c->status != CUDNN_STATUS_SUCCESS) continue;
        if (exact(cb) && (c->mathType == CUDNN_TENSOR_OP_MATH || c->mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
            continue;
        if (exact(cb) && strict && c->determinism != CUDNN_DETERMINISTIC) continue;
        const cudnnMathType_t math = exact(cb) ? CUDNN_FMA_MATH : c->mathType;
        size_t need = 0;
        if (cudnnSetConvolutionMathType(cd, math) != CUDNN_STATUS_SUCCESS) continue;
        if (workspace_of(c->algo, &need) != CUDNN_STATUS_SUCCESS || need > limit) continue;
        *algo = c->algo;
        *ws = need;
        return 1;
    }
    return 0;
}

/* One direction's algorithm, 1 when found: timing first where allowed, then heuristics.
 * fp32 insists on a deterministic algorithm; should cuDNN have none for a shape, it takes a
 * non-deterministic FMA one and says so in the backend's description (the results stay
 * exact FP32 but may then differ between runs in the last bits). */
template <typename Perf, typename Algo, int COUNT, typename FindFn, typename HeurFn, typename SizeFn>
static int choose(cuda_backend *cb, conv_plan *p, int dir, size_t limit, FindFn find, HeurFn heuristics,
                  SizeFn workspace_of, Algo *algo)
{
    Perf perf[COUNT];
    const int timed = !exact(cb) && !cb->capturing;
    for (int strict = 1; strict >= (exact(cb) ? 0 : 1); strict--) {
        for (int pass = timed ? 0 : 1; pass < 2; pass++) {
            int n = 0;
            memset(perf, 0, sizeof perf);
            const cudnnStatus_t st = pass == 0 ? find(perf, &n) : heuristics(perf, &n);
            if (st != CUDNN_STATUS_SUCCESS) {
                cudaGetLastError();   /* a failed timing allocation must not linger */
                continue;
            }
            if (first_acceptable(cb, p->cd[dir], perf, n, limit, strict, workspace_of, algo, &p->ws[dir])) {
                if (!strict && !strstr(cb->base.description, "non-deterministic"))
                    snprintf(cb->base.description + strlen(cb->base.description),
                             sizeof cb->base.description - strlen(cb->base.description), ", non-deterministic %s",
                             DIR_NAME[dir]);
                return 1;
            }
        }
    }
    return 0;
}

/* Descriptors in the plan's computing type; 0, or the recorded cuDNN error. */
static int describe(cuda_backend *cb, conv_plan *p)
{
    const brn_conv_shape *s = &p->s;
    const cudnnDataType_t t = cb->at == BRN_AT_BF16 && !p->widened ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    if (CUDNN_CHECK(cb, cudnnCreateTensorDescriptor(&p->x)) || CUDNN_CHECK(cb, cudnnCreateTensorDescriptor(&p->y)) ||
        CUDNN_CHECK(cb, cudnnCreateFilterDescriptor(&p->w)))
        return cb->status;
    if (CUDNN_CHECK(cb, cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, t, s->n, s->cin, s->h, s->w)) ||
        CUDNN_CHECK(cb, cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, t, s->n, s->cout, s->oh, s->ow)) ||
        CUDNN_CHECK(cb, cudnnSetFilter4dDescriptor(p->w, t, CUDNN_TENSOR_NHWC, s->cout, s->cin, s->k, s->k)))
        return cb->status;
    for (int d = 0; d < N_DIRS; d++) {
        /* the math type ranks the candidates: FMA only for exact fp32, tensor cores allowed else */
        if (CUDNN_CHECK(cb, cudnnCreateConvolutionDescriptor(&p->cd[d])) ||
            CUDNN_CHECK(cb, cudnnSetConvolution2dDescriptor(p->cd[d], s->pad, s->pad, s->stride, s->stride, 1, 1,
                                                            CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT)) ||
            CUDNN_CHECK(cb, cudnnSetConvolutionMathType(p->cd[d], exact(cb) ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH)))
            return cb->status;
    }
    int n, c, h, w;
    if (CUDNN_CHECK(cb, cudnnGetConvolution2dForwardOutputDim(p->cd[0], p->x, p->w, &n, &c, &h, &w))) return cb->status;
    if (n != s->n || c != s->cout || h != s->oh || w != s->ow)
        return brn_cu_fail(cb, BRN_EDEVICE, "%s: cuDNN's output %dx%dx%dx%d differs from the engine's %dx%dx%dx%d",
                           cb->base.device, n, c, h, w, s->n, s->cout, s->oh, s->ow);
    return 0;
}

/* The three algorithms within the limits: cap per cuDNN workspace, total for the plan's
 * whole workspace. 0 found, -1 on a recorded cuDNN error, else 1 + the direction that has
 * no algorithm. */
static int plan_algorithms(cuda_backend *cb, conv_plan *p, size_t cap, size_t total)
{
    if (describe(cb, p)) return -1;
    size_t limit[N_DIRS];
    for (int d = 0; d < N_DIRS; d++) {
        const size_t used = WS_ALIGN + extra_bytes(p, d);
        limit[d] = total > used ? total - used : 0;
        if (limit[d] > cap) limit[d] = cap;
    }
    cudnnHandle_t h = cb->cudnn;
    const cudnnConvolutionDescriptor_t *cd = p->cd;
    if (!choose<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT>(
            cb, p, DIR_FWD, limit[DIR_FWD],
            [&](cudnnConvolutionFwdAlgoPerf_t *perf, int *n) {
                return cudnnFindConvolutionForwardAlgorithm(h, p->x, p->w, cd[DIR_FWD], p->y,
                                                            CUDNN_CONVOLUTION_FWD_ALGO_COUNT, n, perf);
            },
            [&](cudnnConvolutionFwdAlgoPerf_t *perf, int *n) {
                return cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, cd[DIR_FWD], p->y,
                                                              CUDNN_CONVOLUTION_FWD_ALGO_COUNT, n, perf);
            },
            [&](cudnnConvolutionFwdAlgo_t a, size_t *need) {
                return cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, cd[DIR_FWD], p->y, a, need);
            },
            &p->fwd))
        return 1 + DIR_FWD;
    if (!choose<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t,
                CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT>(
            cb, p, DIR_DATA, limit[DIR_DATA],
            [&](cudnnConvolutionBwdDataAlgoPerf_t *perf, int *n) {
                return cudnnFindConvolutionBackwardDataAlgorithm(h, p->w, p->y, cd[DIR_DATA], p->x,
                                                                 CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, n, perf);
            },
            [&](cudnnConvolutionBwdDataAlgoPerf_t *perf, int *n) {
                return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->w, p->y, cd[DIR_DATA], p->x,
                                                                   CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, n, perf);
            },
            [&](cudnnConvolutionBwdDataAlgo_t a, size_t *need) {
                return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->w, p->y, cd[DIR_DATA], p->x, a, need);
            },
            &p->data))
        return 1 + DIR_DATA;
    if (!choose<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t,
                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>(
            cb, p, DIR_FILTER, limit[DIR_FILTER],
            [&](cudnnConvolutionBwdFilterAlgoPerf_t *perf, int *n) {
                return cudnnFindConvolutionBackwardFilterAlgorithm(h, p->x, p->y, cd[DIR_FILTER], p->w,
                                                                   CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, n, perf);
            },
            [&](cudnnConvolutionBwdFilterAlgoPerf_t *perf, int *n) {
                return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->x, p->y, cd[DIR_FILTER], p->w,
                                                                     CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, n, perf);
            },
            [&](cudnnConvolutionBwdFilterAlgo_t a, size_t *need) {
                return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->x, p->y, cd[DIR_FILTER], p->w, a, need);
            },
            &p->filter))
        return 1 + DIR_FILTER;
    size_t most = 0;
    for (int d = 0; d < N_DIRS; d++)
        if (extra_bytes(p, d) + p->ws[d] > most) most = extra_bytes(p, d) + p->ws[d];
    p->bytes = WS_ALIGN + most;
    return 0;
}

/* A new plan (see plan_algorithms for cap and total), or NULL with the error recorded. */
static conv_plan *plan_make(cuda_backend *cb, const brn_conv_shape *s, size_t cap, size_t total)
{
    if (cb->n_plans == cb->cap_plans) {
        const int n = cb->cap_plans ? 2 * cb->cap_plans : 32;
        conv_plan **pp = (conv_plan **)realloc(cb->plans, sizeof *pp * n);
        if (!pp) {
            brn_cu_fail(cb, BRN_ENOMEM, "out of host memory");
            return NULL;
        }
        cb->plans = pp;
        cb->cap_plans = n;
    }
    conv_plan *p = (conv_plan *)calloc(1, sizeof *p);
    if (!p) {
        brn_cu_fail(cb, BRN_ENOMEM, "out of host memory");
        return NULL;
    }
    p->s = *s;
    int rc = 0;
    for (int widened = 0; widened <= (cb->at == BRN_AT_BF16); widened++) {
        descriptors_free(p);
        p->widened = widened;
        p->dw_scratch = cb->at == BRN_AT_BF16 && !widened ? align_up(2 * w_count(s), WS_ALIGN) : 0;
        p->xb = widened ? align_up(sizeof(float) * x_count(s), WS_ALIGN) : 0;
        p->yb = widened ? align_up(sizeof(float) * y_count(s), WS_ALIGN) : 0;
        if ((rc = plan_algorithms(cb, p, cap, total)) <= 0) break;
    }
    if (rc) {
        if (rc > 0) {
            char what[128];
            shape_text(s, what, sizeof what);
            brn_cu_fail(cb, BRN_EDEVICE, "%s: cuDNN offers no %s%s algorithm for the %s (%s) within %zu MiB of workspace",
                        cb->base.device, exact(cb) ? "FP32 (no TF32) " : "", DIR_NAME[rc - 1], what,
                        brn_precision_name(cb->base.precision), (cap < total ? cap : total) >> 20);
        }
        descriptors_free(p);
        free(p);
        return NULL;
    }
    cb->plans[cb->n_plans++] = p;
    return p;
}

static conv_plan *plan_find(cuda_backend *cb, const brn_conv_shape *s)
{
    for (int i = 0; i < cb->n_plans; i++)
        if (!memcmp(&cb->plans[i]->s, s, sizeof *s)) return cb->plans[i];
    return NULL;
}

static int same_layer(const brn_conv_shape *a, const brn_conv_shape *b)
{
    return a->cin == b->cin && a->cout == b->cout && a->h == b->h && a->w == b->w && a->k == b->k &&
           a->stride == b->stride && a->pad == b->pad;
}

/* The plan an operation runs with. A shape nobody sized is a smaller batch of a sized layer
 * (the model's last, partial evaluation batch): its workspace holds what that layer's did. */
static conv_plan *plan_for_op(cuda_backend *cb, const brn_conv_shape *s)
{
    conv_plan *p = plan_find(cb, s);
    if (p) return p;
    size_t budget = 0;
    int found = 0;
    for (int i = 0; i < cb->n_plans; i++) {
        const conv_plan *q = cb->plans[i];
        if (same_layer(&q->s, s) && q->s.n >= s->n && (!found || q->bytes < budget)) {
            budget = q->bytes;
            found = 1;
        }
    }
    if (!found) {
        char what[128];
        shape_text(s, what, sizeof what);
        brn_cu_fail(cb, BRN_EDEVICE, "%s: the workspace of the %s was never sized (conv_workspace)", cb->base.device,
                    what);
        return NULL;
    }
    return plan_make(cb, s, SIZE_MAX, budget);
}

size_t brn_cu_conv_workspace(brn_backend *be, const brn_conv_shape *s)
{
    cuda_backend *cb = brn_cu_of(be);
    if (cb->status) return 0;
    conv_plan *p = plan_find(cb, s);
    if (!p) p = plan_make(cb, s, SIZE_MAX, BRN_GPU_WORKSPACE_LIMIT);
    return p ? p->bytes : 0;   /* a failure stays pending: the model's synchronize reports it */
}

/* dst (float) = src (bf16), n elements: zero, then add */
static int widen(cuda_backend *cb, float *dst, const void *src, size_t n)
{
    if (CUDA_CHECK(cb, cudaMemsetAsync(dst, 0, sizeof(float) * n, cb->stream))) return -1;
    return LAUNCH_CHECK(cb, brn_k_add_bf16_to_f32(brn_cu_stream(cb), dst, src, n)) ? -1 : 0;
}

static int narrow(cuda_backend *cb, void *dst, const float *src, size_t n)
{
    return LAUNCH_CHECK(cb, brn_k_f32_to_bf16(brn_cu_stream(cb), dst, src, n)) ? -1 : 0;
}

void brn_cu_conv_forward(brn_backend *be, void *y, const void *x, const float *w, const brn_conv_shape *s, void *ws)
{
    cuda_backend *cb = brn_cu_of(be);
    if (cb->status) return;
    const conv_plan *p = plan_for_op(cb, s);
    if (!p) return;
    const float one = 1, zero = 0;
    char *work = ws_at(ws);
    if (p->widened) {
        float *x32 = (float *)work, *y32 = (float *)(work + p->xb);
        if (widen(cb, x32, x, x_count(s)) ||
            CUDNN_CHECK(cb, cudnnConvolutionForward(cb->cudnn, &one, p->x, x32, p->w, w, p->cd[DIR_FWD], p->fwd,
                                                    work + extra_bytes(p, DIR_FWD), p->ws[DIR_FWD], &zero, p->y, y32)))
            return;
        narrow(cb, y, y32, y_count(s));
        return;
    }
    const void *wp = cb->at == BRN_AT_BF16 ? brn_cu_weight_mirror(cb, w) : w;
    if (!wp) return;
    CUDNN_CHECK(cb, cudnnConvolutionForward(cb->cudnn, &one, p->x, x, p->w, wp, p->cd[DIR_FWD], p->fwd, work,
                                            p->ws[DIR_FWD], &zero, p->y, y));
}

/* bf16 activations, float convolution: dw += directly; dx through a widened copy */
static void backward_widened(cuda_backend *cb, const conv_plan *p, void *dx, float *dw, const void *dy, const void *x,
                             const float *w, int accumulate_dx, char *work)
{
    const brn_conv_shape *s = &p->s;
    const float one = 1, zero = 0;
    float *x32 = (float *)work, *dy32 = (float *)(work + p->xb), *dx32 = (float *)(work + p->xb + p->yb);
    char *cws = work + extra_bytes(p, DIR_FILTER);
    if (widen(cb, x32, x, x_count(s)) || widen(cb, dy32, dy, y_count(s))) return;
    if (CUDNN_CHECK(cb, cudnnConvolutionBackwardFilter(cb->cudnn, &one, p->x, x32, p->y, dy32, p->cd[DIR_FILTER],
                                                       p->filter, cws, p->ws[DIR_FILTER], &one, p->w, dw)))
        return;
    if (!dx) return;
    if (accumulate_dx && widen(cb, dx32, dx, x_count(s))) return;
    if (CUDNN_CHECK(cb, cudnnConvolutionBackwardData(cb->cudnn, &one, p->w, w, p->y, dy32, p->cd[DIR_DATA], p->data, cws,
                                                     p->ws[DIR_DATA], accumulate_dx ? &one : &zero, p->x, dx32)))
        return;
    narrow(cb, dx, dx32, x_count(s));
}

void brn_cu_conv_backward(brn_backend *be, void *dx, float *dw, const void *dy, const void *x, const float *w,
                          const brn_conv_shape *s, int accumulate_dx, void *ws)
{
    cuda_backend *cb = brn_cu_of(be);
    if (cb->status) return;
    const conv_plan *p = plan_for_op(cb, s);
    if (!p) return;
    const float one = 1, zero = 0;
    char *work = ws_at(ws);
    if (p->widened) {
        backward_widened(cb, p, dx, dw, dy, x, w, accumulate_dx, work);
        return;
    }
    if (cb->at == BRN_AT_BF16) {
        /* dw += float(bf16 filter gradient) */
        if (CUDNN_CHECK(cb, cudnnConvolutionBackwardFilter(cb->cudnn, &one, p->x, x, p->y, dy, p->cd[DIR_FILTER],
                                                           p->filter, work + p->dw_scratch, p->ws[DIR_FILTER], &zero,
                                                           p->w, work)) ||
            LAUNCH_CHECK(cb, brn_k_add_bf16_to_f32(brn_cu_stream(cb), dw, work, w_count(s))))
            return;
    } else if (CUDNN_CHECK(cb, cudnnConvolutionBackwardFilter(cb->cudnn, &one, p->x, x, p->y, dy, p->cd[DIR_FILTER],
                                                              p->filter, work, p->ws[DIR_FILTER], &one, p->w, dw))) {
        return;
    }
    if (!dx) return;
    const void *wp = cb->at == BRN_AT_BF16 ? brn_cu_weight_mirror(cb, w) : w;
    if (!wp) return;
    CUDNN_CHECK(cb, cudnnConvolutionBackwardData(cb->cudnn, &one, p->w, wp, p->y, dy, p->cd[DIR_DATA], p->data, work,
                                                 p->ws[DIR_DATA], accumulate_dx ? &one : &zero, p->x, dx));
}
