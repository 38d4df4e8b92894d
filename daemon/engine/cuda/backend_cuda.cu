/* The CUDA backend: the table, its memory, the layout boundary, capture and replay.
 *
 * One stream per backend carries every operation in order; the host waits only in
 * synchronize() and the downloads. Memory is cudaMalloc'd (pinned for host staging);
 * allocations are recorded so that a bf16 backend can keep a bf16 mirror of the blocks
 * holding conv weights: written by upload_tensor/upload/zero/sgd_step and read by the
 * convolutions (cuDNN needs the filter in the data's type), so fp32 stays the master copy.
 * Host data crosses as CNHW floats and OIHW weights; on the device activations are NHWC
 * (float, or bf16) and conv weights OHWI, converted by our kernels through a device
 * staging buffer (grown outside steps only). Convolutions: cuda_conv.cu; the other
 * operations: cuda_ops.cu; which GPUs exist: cuda_devices.cu. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

extern "C" {
#include "data/dataset.h"
}

#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)   /* cuBLAS's recommendation for Hopper */

/* ---- errors -------------------------------------------------------------------------------- */

int brn_cu_fail(cuda_backend *cb, int code, const char *fmt, ...)
{
    if (cb->status) return code;
    cb->status = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cb->err, sizeof cb->err, fmt, ap);
    va_end(ap);
    return code;
}

/* file:line without the directories */
static const char *base_name(const char *file)
{
    const char *s = strrchr(file, '/');
    return s ? s + 1 : file;
}

int brn_cu_check(cuda_backend *cb, cudaError_t e, const char *call, const char *file, int line)
{
    if (e == cudaSuccess) return 0;
    const int code = e == cudaErrorMemoryAllocation ? BRN_ENOMEM : BRN_EDEVICE;
    if (e == cudaErrorMemoryAllocation) cudaGetLastError();   /* not sticky in CUDA: do not let it linger */
    return brn_cu_fail(cb, code, "%s: %s (%s) at %s:%d in %s", cb->base.device, cudaGetErrorString(e),
                       cudaGetErrorName(e), base_name(file), line, call);
}

int brn_cu_cudnn_check(cuda_backend *cb, cudnnStatus_t s, const char *call, const char *file, int line)
{
    if (s == CUDNN_STATUS_SUCCESS) return 0;
    const int code = s == CUDNN_STATUS_ALLOC_FAILED ? BRN_ENOMEM : BRN_EDEVICE;
    return brn_cu_fail(cb, code, "%s: cuDNN %s at %s:%d in %s", cb->base.device, cudnnGetErrorString(s),
                       base_name(file), line, call);
}

int brn_cu_cublas_check(cuda_backend *cb, cublasStatus_t s, const char *call, const char *file, int line)
{
    if (s == CUBLAS_STATUS_SUCCESS) return 0;
    const int code = s == CUBLAS_STATUS_ALLOC_FAILED ? BRN_ENOMEM : BRN_EDEVICE;
    return brn_cu_fail(cb, code, "%s: cuBLAS %s (%s) at %s:%d in %s", cb->base.device, cublasGetStatusString(s),
                       cublasGetStatusName(s), base_name(file), line, call);
}

int brn_cu_launch_check(cuda_backend *cb, int launch_result, const char *call, const char *file, int line)
{
    return brn_cu_check(cb, (cudaError_t)launch_result, call, file, line);
}

int brn_cu_report(cuda_backend *cb, char *err, size_t errlen)
{
    const int rc = cb->status;
    if (rc && err && errlen) snprintf(err, errlen, "%s", cb->err);
    cb->status = 0;
    cb->err[0] = 0;
    return rc;
}

/* The device this thread last made current through a backend: saves a call per operation. */
static __thread int thread_device = -1;

cuda_backend *brn_cu_of(brn_backend *be)
{
    cuda_backend *cb = (cuda_backend *)be;
    if (thread_device != cb->ordinal && !cb->capturing) {
        if (!CUDA_CHECK(cb, cudaSetDevice(cb->ordinal))) thread_device = cb->ordinal;
    }
    return cb;
}

/* ---- memory -------------------------------------------------------------------------------- */

cuda_block *brn_cu_block_of(cuda_backend *cb, const void *p)
{
    const char *c = (const char *)p;
    for (int i = 0; i < cb->n_blocks; i++)
        if (c >= cb->blocks[i].p && c < cb->blocks[i].p + cb->blocks[i].bytes) return &cb->blocks[i];
    return NULL;
}

static int track(cuda_backend *cb, void *p, size_t bytes)
{
    if (cb->n_blocks == cb->cap_blocks) {
        const int cap = cb->cap_blocks ? 2 * cb->cap_blocks : 16;
        cuda_block *b = (cuda_block *)realloc(cb->blocks, sizeof *b * cap);
        if (!b) return BRN_ENOMEM;
        cb->blocks = b;
        cb->cap_blocks = cap;
    }
    cb->blocks[cb->n_blocks++] = (cuda_block){.p = (char *)p, .bytes = bytes, .mirror = NULL};
    return 0;
}

static void *cu_alloc(brn_backend *be, size_t bytes)
{
    cuda_backend *cb = brn_cu_of(be);
    void *p = NULL;
    const cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) {   /* the caller reports out_of_memory with the sizes */
        cudaGetLastError();
        return NULL;
    }
    if (CUDA_CHECK(cb, e)) return NULL;
    if (track(cb, p, bytes)) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

static void cu_free(brn_backend *be, void *p)
{
    if (!p) return;
    cuda_backend *cb = brn_cu_of(be);
    cuda_block *b = brn_cu_block_of(cb, p);
    if (b && b->p == (char *)p) {
        if (b->mirror) CUDA_CHECK(cb, cudaFree(b->mirror));
        *b = cb->blocks[--cb->n_blocks];
    }
    CUDA_CHECK(cb, cudaFree(p));
}

/* The bf16 mirror of the block holding w, made when a conv weight first lands there. */
static void *mirror_make(cuda_backend *cb, cuda_block *b)
{
    if (b->mirror || cb->at != BRN_AT_BF16) return b->mirror;
    if (cb->capturing) {
        brn_cu_fail(cb, BRN_EDEVICE, "%s: a conv weight was first written during a capture", cb->base.device);
        return NULL;
    }
    void *m = NULL;
    const size_t floats = b->bytes / sizeof(float);
    if (CUDA_CHECK(cb, cudaMalloc(&m, floats ? 2 * floats : 2))) return NULL;
    b->mirror = m;
    return m;
}

const void *brn_cu_weight_mirror(cuda_backend *cb, const float *w)
{
    cuda_block *b = brn_cu_block_of(cb, w);
    if (!b || !b->mirror) {
        brn_cu_fail(cb, BRN_EDEVICE, "%s: a bf16 convolution's weights were not written through upload_tensor",
                    cb->base.device);
        return NULL;
    }
    return (const char *)b->mirror + 2 * (((const char *)w - b->p) / sizeof(float));
}

void brn_cu_mirror_refresh(cuda_backend *cb, const float *p, size_t n)
{
    cuda_block *b = brn_cu_block_of(cb, p);
    if (!b || !b->mirror || !n) return;
    const size_t room = (size_t)(b->p + b->bytes - (const char *)p) / sizeof(float);
    if (n > room) n = room;
    void *dst = (char *)b->mirror + 2 * (((const char *)p - b->p) / sizeof(float));
    LAUNCH_CHECK(cb, brn_k_f32_to_bf16(brn_cu_stream(cb), dst, p, n));
}

static void cu_upload(brn_backend *be, void *dst, const void *src, size_t bytes)
{
    cuda_backend *cb = brn_cu_of(be);
    if (cb->status || !bytes) return;
    /* pageable sources are staged by the driver before this returns; pinned ones must stay
       unchanged until the next synchronize/download (the trainer's staging does) */
    CUDA_CHECK(cb, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cb->stream));
    if (bytes % sizeof(float) == 0) brn_cu_mirror_refresh(cb, (const float *)dst, bytes / sizeof(float));
}

static int cu_download(brn_backend *be, void *dst, const void *src, size_t bytes, char *err, size_t errlen)
{
    cuda_backend *cb = brn_cu_of(be);
    if (!cb->status && bytes) CUDA_CHECK(cb, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cb->stream));
    CUDA_CHECK(cb, cudaStreamSynchronize(cb->stream));
    return brn_cu_report(cb, err, errlen);
}

static void cu_zero(brn_backend *be, void *dst, size_t bytes)
{
    cuda_backend *cb = brn_cu_of(be);
    if (cb->status || !bytes) return;
    CUDA_CHECK(cb, cudaMemsetAsync(dst, 0, bytes, cb->stream));
    cuda_block *b = brn_cu_block_of(cb, dst);
    if (b && b->mirror)
        CUDA_CHECK(cb, cudaMemsetAsync((char *)b->mirror + 2 * (((char *)dst - b->p) / sizeof(float)), 0, bytes / 2,
                                       cb->stream));
}

static void *cu_host_alloc(brn_backend *be, size_t bytes)
{
    brn_cu_of(be);
    void *p = NULL;
    if (cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    return p;
}

static void cu_host_free(brn_backend *be, void *p)
{
    if (p) CUDA_CHECK(brn_cu_of(be), cudaFreeHost(p));
}

/* ---- datasets in device memory ------------------------------------------------------------ */

void brn_cu_dataset_free(brn_backend *be, void *p)
{
    cuda_dataset *ds = (cuda_dataset *)p;
    if (!ds) return;
    cu_free(be, ds->images);
    cu_free(be, ds->labels);
    cu_free(be, ds->lut);
    free(ds);
}

/* Copied once for the job's life, in order on the stream (pageable sources are staged
   before each copy returns). */
void *brn_cu_dataset_upload(brn_backend *be, const brn_batch_source *src)
{
    cuda_backend *cb = brn_cu_of(be);
    if (cb->status || cb->capturing) return NULL;
    cuda_dataset *ds = (cuda_dataset *)calloc(1, sizeof *ds);
    float lut[BRN_MAX_CHANNELS * BRN_LUT_LEVELS];
    if (!ds) return NULL;
    *ds = (cuda_dataset){.images = NULL, .labels = NULL, .lut = NULL, .n = src->n, .c = src->c, .h = src->h, .w = src->w};
    const size_t image_bytes = (size_t)src->n * src->c * src->h * src->w;
    const size_t lut_bytes = sizeof(float) * BRN_LUT_LEVELS * src->c;
    ds->images = (uint8_t *)cu_alloc(be, image_bytes);
    ds->labels = (uint8_t *)cu_alloc(be, (size_t)src->n);
    ds->lut = (float *)cu_alloc(be, lut_bytes);
    if (!ds->images || !ds->labels || !ds->lut) {
        brn_cu_dataset_free(be, ds);
        return NULL;
    }
    brn_batch_lut(src, lut);
    if (CUDA_CHECK(cb, cudaMemcpyAsync(ds->images, src->images, image_bytes, cudaMemcpyHostToDevice, cb->stream)) ||
        CUDA_CHECK(cb, cudaMemcpyAsync(ds->labels, src->labels, (size_t)src->n, cudaMemcpyHostToDevice, cb->stream)) ||
        CUDA_CHECK(cb, cudaMemcpyAsync(ds->lut, lut, lut_bytes, cudaMemcpyHostToDevice, cb->stream))) {
        brn_cu_dataset_free(be, ds);
        return NULL;
    }
    return ds;
}

/* ---- the layout boundary --------------------------------------------------------------------- */

/* The device staging buffer, at least bytes long; NULL with an error recorded. */
static float *stage(cuda_backend *cb, size_t bytes)
{
    if (cb->stage_bytes >= bytes) return cb->stage;
    if (cb->capturing) {
        brn_cu_fail(cb, BRN_EDEVICE, "%s: a layout conversion during a capture", cb->base.device);
        return NULL;
    }
    /* the old buffer may still be read by queued work */
    if (CUDA_CHECK(cb, cudaStreamSynchronize(cb->stream))) return NULL;
    if (cb->stage) CUDA_CHECK(cb, cudaFree(cb->stage));
    cb->stage = NULL;
    cb->stage_bytes = 0;
    void *p = NULL;
    if (CUDA_CHECK(cb, cudaMalloc(&p, bytes))) return NULL;
    cb->stage = (float *)p;
    cb->stage_bytes = bytes;
    return cb->stage;
}

static size_t act_count(brn_act_shape s) { return (size_t)s.c * s.n * s.h * s.w; }

static size_t shape_count(const int *shape, int ndim)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

static void cu_upload_act(brn_backend *be, void *dst, const float *host, brn_act_shape s)
{
    cuda_backend *cb = brn_cu_of(be);
    const size_t bytes = sizeof(float) * act_count(s);
    float *st = cb->status || !bytes ? NULL : stage(cb, bytes);
    if (!st) return;
    if (CUDA_CHECK(cb, cudaMemcpyAsync(st, host, bytes, cudaMemcpyHostToDevice, cb->stream))) return;
    LAUNCH_CHECK(cb, brn_k_cnhw_to_nhwc(brn_cu_stream(cb), dst, cb->at, st, s));
}

static int cu_download_act(brn_backend *be, float *host, const void *src, brn_act_shape s, char *err, size_t errlen)
{
    cuda_backend *cb = brn_cu_of(be);
    const size_t bytes = sizeof(float) * act_count(s);
    float *st = cb->status || !bytes ? NULL : stage(cb, bytes);
    if (st && !LAUNCH_CHECK(cb, brn_k_nhwc_to_cnhw(brn_cu_stream(cb), st, src, cb->at, s)))
        CUDA_CHECK(cb, cudaMemcpyAsync(host, st, bytes, cudaMemcpyDeviceToHost, cb->stream));
    CUDA_CHECK(cb, cudaStreamSynchronize(cb->stream));
    return brn_cu_report(cb, err, errlen);
}

static int is_conv(const int *shape, int ndim, brn_tensor_layout layout)
{
    return layout == BRN_TENSOR_LAYOUT_CONV && ndim == 4;
}

static void cu_upload_tensor(brn_backend *be, float *dst, const float *host, const int *shape, int ndim,
                             brn_tensor_layout layout)
{
    cuda_backend *cb = brn_cu_of(be);
    const size_t n = shape_count(shape, ndim), bytes = sizeof(float) * n;
    if (cb->status || !n) return;
    if (!is_conv(shape, ndim, layout)) {
        cu_upload(be, dst, host, bytes);
        return;
    }
    cuda_block *b = brn_cu_block_of(cb, dst);
    if (b && cb->at == BRN_AT_BF16 && !mirror_make(cb, b)) return;
    float *st = stage(cb, bytes);
    if (!st || CUDA_CHECK(cb, cudaMemcpyAsync(st, host, bytes, cudaMemcpyHostToDevice, cb->stream))) return;
    if (LAUNCH_CHECK(cb, brn_k_oihw_to_ohwi(brn_cu_stream(cb), dst, st, shape[0], shape[1], shape[2], shape[3])))
        return;
    brn_cu_mirror_refresh(cb, dst, n);
}

static int cu_download_tensor(brn_backend *be, float *host, const float *src, const int *shape, int ndim,
                              brn_tensor_layout layout, char *err, size_t errlen)
{
    cuda_backend *cb = brn_cu_of(be);
    const size_t bytes = sizeof(float) * shape_count(shape, ndim);
    if (!is_conv(shape, ndim, layout)) return cu_download(be, host, src, bytes, err, errlen);
    float *st = cb->status || !bytes ? NULL : stage(cb, bytes);
    if (st && !LAUNCH_CHECK(cb, brn_k_ohwi_to_oihw(brn_cu_stream(cb), st, src, shape[0], shape[1], shape[2],
                                                   shape[3])))
        CUDA_CHECK(cb, cudaMemcpyAsync(host, st, bytes, cudaMemcpyDeviceToHost, cb->stream));
    CUDA_CHECK(cb, cudaStreamSynchronize(cb->stream));
    return brn_cu_report(cb, err, errlen);
}

static int cu_synchronize(brn_backend *be, char *err, size_t errlen)
{
    cuda_backend *cb = brn_cu_of(be);
    CUDA_CHECK(cb, cudaStreamSynchronize(cb->stream));
    return brn_cu_report(cb, err, errlen);
}

/* ---- capture and replay: CUDA graphs ------------------------------------------------------- */

static int cu_capture_begin(brn_backend *be, char *err, size_t errlen)
{
    cuda_backend *cb = brn_cu_of(be);
    if (cb->status) return brn_cu_report(cb, err, errlen);
    /* thread-local: other threads (other devices' workers) may use CUDA meanwhile */
    if (CUDA_CHECK(cb, cudaStreamBeginCapture(cb->stream, cudaStreamCaptureModeThreadLocal)))
        return brn_cu_report(cb, err, errlen);
    cb->capturing = 1;
    return 0;
}

static int cu_capture_end(brn_backend *be, void **unit, char *err, size_t errlen)
{
    cuda_backend *cb = brn_cu_of(be);
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    *unit = NULL;
    const cudaError_t e = cudaStreamEndCapture(cb->stream, &graph);
    cb->capturing = 0;
    CUDA_CHECK(cb, e);
    if (!cb->status) CUDA_CHECK(cb, cudaGraphInstantiate(&exec, graph, 0));
    if (graph) cudaGraphDestroy(graph);
    if (cb->status) {
        if (exec) cudaGraphExecDestroy(exec);
        return brn_cu_report(cb, err, errlen);
    }
    *unit = (void *)exec;
    return 0;
}

static void cu_replay(brn_backend *be, void *unit)
{
    cuda_backend *cb = brn_cu_of(be);
    if (!cb->status) CUDA_CHECK(cb, cudaGraphLaunch((cudaGraphExec_t)unit, cb->stream));
}

static void cu_release(brn_backend *be, void *unit)
{
    if (!unit) return;
    cuda_backend *cb = brn_cu_of(be);
    CUDA_CHECK(cb, cudaStreamSynchronize(cb->stream));   /* no replay of it still queued */
    CUDA_CHECK(cb, cudaGraphExecDestroy((cudaGraphExec_t)unit));
}

/* ---- the table, creation ------------------------------------------------------------------- */

/* Refuses what this backend cannot run, before anything is allocated. */
static int cu_supports(brn_backend *be, const brn_job_spec *spec, char *err, size_t errlen)
{
    cuda_backend *cb = (cuda_backend *)be;
    if (spec->precision == BRN_PRECISION_BF16 && cb->cc_major < 8)
        return brn_errorf(err, errlen, BRN_EINVAL, "precision: bf16 needs compute capability 8.0 (%s has %d.%d)",
                          be->description, cb->cc_major, cb->cc_minor);
    /* cuDNN's tensors hold fewer than 2^31 elements: the widest activation is the first
       group's, 16*width channels at the input's size (or the input itself) */
    brn_dataset_dims d;
    if (brn_dataset_nominal_dims(spec->dataset, &d) == 0) {
        const double per_image = (double)d.h * d.w * (16.0 * spec->width > d.c ? 16.0 * spec->width : d.c);
        if ((double)spec->batch_size * per_image >= 2147483648.0)
            return brn_errorf(err, errlen, BRN_EINVAL,
                              "batch-size: %d images of WRN-%d-%d on %s make an activation of %.3g elements; "
                              "cuDNN takes fewer than 2^31 (use a smaller batch)",
                              spec->batch_size, spec->depth, spec->width, spec->dataset, spec->batch_size * per_image);
    }
    return 0;
}

static void cu_destroy(brn_backend *be);

static const brn_backend_ops CUDA_OPS = {
    .destroy = cu_destroy,
    .supports = cu_supports,
    .alloc = cu_alloc,
    .free = cu_free,
    .upload = cu_upload,
    .download = cu_download,
    .zero = cu_zero,
    .host_alloc = cu_host_alloc,
    .host_free = cu_host_free,
    .upload_act = cu_upload_act,
    .download_act = cu_download_act,
    .upload_tensor = cu_upload_tensor,
    .download_tensor = cu_download_tensor,
    .dataset_upload = brn_cu_dataset_upload,
    .dataset_free = brn_cu_dataset_free,
    .batch_build = brn_cu_batch_build,
    .synchronize = cu_synchronize,
    .conv_workspace = brn_cu_conv_workspace,
    .conv_forward = brn_cu_conv_forward,
    .conv_backward = brn_cu_conv_backward,
    .norm_workspace = brn_cu_norm_workspace,
    .norm_forward = brn_cu_norm_forward,
    .norm_backward = brn_cu_norm_backward,
    .renorm_diag = brn_cu_renorm_diag,
    .dropout_forward = brn_cu_dropout_forward,
    .dropout_backward = brn_cu_dropout_backward,
    .avgpool_forward = brn_cu_avgpool_forward,
    .avgpool_backward = brn_cu_avgpool_backward,
    .linear_forward = brn_cu_linear_forward,
    .linear_backward = brn_cu_linear_backward,
    .add = brn_cu_add,
    .softmax_xent = brn_cu_softmax_xent,
    .sgd_step = brn_cu_sgd_step,
    .capture_begin = cu_capture_begin,
    .capture_end = cu_capture_end,
    .replay = cu_replay,
    .release = cu_release,
};

static void cu_destroy(brn_backend *be)
{
    cuda_backend *cb = (cuda_backend *)be;
    if (cb->ordinal >= 0) cudaSetDevice(cb->ordinal);
    thread_device = cb->ordinal;
    if (cb->stream) cudaStreamSynchronize(cb->stream);
    brn_cu_conv_plans_free(cb);
    for (int i = 0; i < cb->n_blocks; i++) {   /* what the caller left behind */
        cudaFree(cb->blocks[i].mirror);
        cudaFree(cb->blocks[i].p);
    }
    free(cb->blocks);
    if (cb->stage) cudaFree(cb->stage);
    if (cb->cublas) cublasDestroy(cb->cublas);
    if (cb->cublas_ws) cudaFree(cb->cublas_ws);
    if (cb->cudnn) cudnnDestroy(cb->cudnn);
    if (cb->stream) cudaStreamDestroy(cb->stream);
    cudaGetLastError();
    free(cb);
}

/* cuDNN and cuBLAS math per precision: fp32 never uses TF32 (cuBLAS: pedantic FP32;
   cuDNN: CUDNN_FMA_MATH, set per convolution in cuda_conv.cu). */
static cublasMath_t cublas_math(brn_precision p)
{
    return p == BRN_PRECISION_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH;
}

extern "C" int brn_cuda_backend_create(int index, brn_precision precision, brn_backend **out, char *err,
                                       size_t errlen)
{
    *out = NULL;
    int ordinal = -1;
    cudaDeviceProp prop;
    char why[256];
    int rc = brn_cu_device_resolve(index, &ordinal, &prop, why, sizeof why);
    if (rc) return brn_errorf(err, errlen, rc, "device: cuda:%d is not available: %s", index, why);
    if (cudnnGetVersion() / 10000 != CUDNN_MAJOR)
        return brn_errorf(err, errlen, BRN_EDEVICE, "device: cuda:%d: cuDNN %zu is loaded, this build needs cuDNN %d.x",
                          index, cudnnGetVersion(), CUDNN_MAJOR);
    cuda_backend *cb = (cuda_backend *)calloc(1, sizeof *cb);
    if (!cb) return brn_errorf(err, errlen, BRN_ENOMEM, "out of host memory");
    cb->ordinal = ordinal;
    cb->cc_major = prop.major;
    cb->cc_minor = prop.minor;
    cb->at = precision == BRN_PRECISION_BF16 ? BRN_AT_BF16 : BRN_AT_F32;
    cb->base.ops = &CUDA_OPS;
    cb->base.precision = precision;
    cb->base.act_bytes = precision == BRN_PRECISION_BF16 ? 2 : sizeof(float);
    snprintf(cb->base.device, sizeof cb->base.device, "cuda:%d", index);
    snprintf(cb->base.description, sizeof cb->base.description, "%.96s (cuda:%d, %s)", prop.name, index,
             brn_precision_name(precision));

    thread_device = -1;
    if (CUDA_CHECK(cb, cudaSetDevice(ordinal))) goto fail;
    thread_device = ordinal;
    if (CUDA_CHECK(cb, cudaStreamCreateWithFlags(&cb->stream, cudaStreamNonBlocking))) goto fail;
    if (CUDNN_CHECK(cb, cudnnCreate(&cb->cudnn))) goto fail;
    if (CUDNN_CHECK(cb, cudnnSetStream(cb->cudnn, cb->stream))) goto fail;
    if (CUBLAS_CHECK(cb, cublasCreate(&cb->cublas))) goto fail;
    if (CUBLAS_CHECK(cb, cublasSetStream(cb->cublas, cb->stream))) goto fail;
    if (CUBLAS_CHECK(cb, cublasSetMathMode(cb->cublas, cublas_math(precision)))) goto fail;
    if (CUDA_CHECK(cb, cudaMalloc(&cb->cublas_ws, CUBLAS_WORKSPACE_BYTES))) goto fail;
    if (CUBLAS_CHECK(cb, cublasSetWorkspace(cb->cublas, cb->cublas_ws, CUBLAS_WORKSPACE_BYTES))) goto fail;
    *out = &cb->base;
    return 0;
fail:
    rc = brn_cu_report(cb, err, errlen);
    cu_destroy(&cb->base);
    return rc;
}
