/* Inside the CUDA backend (backend_cuda.cu, cuda_conv.cu, cuda_ops.cu, cuda_devices.cu):
 * the backend's state, the checked-call macros and the helpers its files share (brn_cu_*).
 * Not for use outside cuda/.
 *
 * Errors are sticky (backend.h): the first failed CUDA, cuDNN or cuBLAS call or kernel
 * launch is kept with its file, line and call text; later operations are skipped until
 * synchronize() or a download reports it. An allocation failure anywhere reports
 * BRN_ENOMEM (the job fails with out_of_memory); every other failure BRN_EDEVICE. */
#ifndef BRN_CUDA_INTERNAL_H
#define BRN_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stddef.h>

extern "C" {
#include "backend.h"
#include "errors.h"
}
#include "cuda/backend_cuda.h"
#include "cuda/kernels.h"

/* One cudaMalloc'd block, and for bf16 its bf16 mirror (conv weights live there). */
typedef struct cuda_block {
    char *p;
    size_t bytes;
    void *mirror;       /* bf16 copy of the floats in p (NULL until a conv weight lands in p) */
} cuda_block;

typedef struct conv_plan conv_plan;   /* cuda_conv.cu */

/* A dataset in device memory (backend.h's dataset_upload); the struct itself is host
   memory, so a recorded batch_build holds its pointers. */
typedef struct cuda_dataset {
    uint8_t *images;            /* [n][c][h][w] */
    uint8_t *labels;            /* [n] */
    float *lut;                 /* [c][BRN_LUT_LEVELS]: brn_batch_lut */
    long n;
    int c, h, w;
} cuda_dataset;

typedef struct cuda_backend {
    brn_backend base;
    int ordinal;                /* the CUDA device number */
    int cc_major, cc_minor;
    cudaStream_t stream;        /* every operation runs on it, in order */
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void *cublas_ws;            /* cuBLAS's workspace, ours so that it never allocates in a capture */
    brn_act_type at;            /* activation element type */

    int status;                 /* first error since the last report (sticky) */
    char err[512];

    float *stage;               /* device staging for layout conversions (floats, grown on demand) */
    size_t stage_bytes;

    cuda_block *blocks;         /* every live allocation */
    int n_blocks, cap_blocks;

    conv_plan **plans;          /* cuDNN descriptors and algorithms, one per convolution shape */
    int n_plans, cap_plans;

    int capturing;              /* between capture_begin and capture_end */
} cuda_backend;

/* The backend of be, with its device current on the calling thread. */
cuda_backend *brn_cu_of(brn_backend *be);

/* Record an error unless one is pending; returns code. */
int brn_cu_fail(cuda_backend *cb, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* 0, or the code recorded for a failed call (the call's text, file and line in the message). */
int brn_cu_check(cuda_backend *cb, cudaError_t e, const char *call, const char *file, int line);
int brn_cu_cudnn_check(cuda_backend *cb, cudnnStatus_t s, const char *call, const char *file, int line);
int brn_cu_cublas_check(cuda_backend *cb, cublasStatus_t s, const char *call, const char *file, int line);
/* A kernel launcher's result (kernels.h: 0 or a cudaError_t), checked like a CUDA call. */
int brn_cu_launch_check(cuda_backend *cb, int launch_result, const char *call, const char *file, int line);

#define CUDA_CHECK(cb, call) brn_cu_check((cb), (call), #call, __FILE__, __LINE__)
#define CUDNN_CHECK(cb, call) brn_cu_cudnn_check((cb), (call), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(cb, call) brn_cu_cublas_check((cb), (call), #call, __FILE__, __LINE__)
#define LAUNCH_CHECK(cb, call) brn_cu_launch_check((cb), (call), #call, __FILE__, __LINE__)

/* Reports the pending error into err (may be NULL) and clears it; returns its code or 0. */
int brn_cu_report(cuda_backend *cb, char *err, size_t errlen);

/* The stream as kernels.h takes it. */
static inline brn_stream brn_cu_stream(cuda_backend *cb) { return (brn_stream)cb->stream; }

/* The allocation holding p, or NULL. */
cuda_block *brn_cu_block_of(cuda_backend *cb, const void *p);
/* The bf16 mirror of float weights at w (bf16 precision), or NULL with an error recorded. */
const void *brn_cu_weight_mirror(cuda_backend *cb, const float *w);
/* Re-derive the mirror of floats [p, p + n) after they were written (no-op without one). */
void brn_cu_mirror_refresh(cuda_backend *cb, const float *p, size_t n);

/* --- backend_cuda.cu: datasets in device memory ------------------------------------------- */
void *brn_cu_dataset_upload(brn_backend *be, const brn_batch_source *src);
void brn_cu_dataset_free(brn_backend *be, void *ds);

/* --- cuda_conv.cu ------------------------------------------------------------------------ */
size_t brn_cu_conv_workspace(brn_backend *be, const brn_conv_shape *s);
void brn_cu_conv_forward(brn_backend *be, void *y, const void *x, const float *w, const brn_conv_shape *s, void *ws);
void brn_cu_conv_backward(brn_backend *be, void *dx, float *dw, const void *dy, const void *x, const float *w,
                        const brn_conv_shape *s, int accumulate_dx, void *ws);
void brn_cu_conv_plans_free(cuda_backend *cb);

/* --- cuda_ops.cu: the operations besides memory and convolutions (backend.h's contracts) --- */
size_t brn_cu_norm_workspace(brn_backend *be, const brn_norm_desc *d);
void brn_cu_norm_forward(brn_backend *be, const brn_norm_desc *d, brn_norm_mode mode, const brn_norm_tensors *t,
                         void *a, const void *x, const brn_step_scalars *sc, void *ws);
void brn_cu_norm_backward(brn_backend *be, const brn_norm_desc *d, const brn_norm_tensors *t, void *dx,
                          const void *da, const void *a, const void *x, void *ws);
void brn_cu_renorm_diag(brn_backend *be, brn_diag_acc *acc, const float *saved, int channels, int groups,
                        const brn_step_scalars *sc);
void brn_cu_dropout_forward(brn_backend *be, void *y, uint8_t *keep, const void *x, brn_act_shape s, double p,
                            uint64_t salt, const brn_step_scalars *sc);
void brn_cu_dropout_backward(brn_backend *be, void *dx, const void *dy, const uint8_t *keep, brn_act_shape s,
                             double p);
void brn_cu_avgpool_forward(brn_backend *be, float *y, const void *x, brn_act_shape s);
void brn_cu_avgpool_backward(brn_backend *be, void *dx, const float *dy, brn_act_shape s);
void brn_cu_linear_forward(brn_backend *be, float *y, const float *x, const float *w, const float *b, int n, int in,
                           int out);
void brn_cu_linear_backward(brn_backend *be, float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, int n, int in, int out);
void brn_cu_add(brn_backend *be, void *y, const void *x, brn_act_shape s);
void brn_cu_softmax_xent(brn_backend *be, float *dlogits, const float *logits, const int *labels, int n, int k,
                         brn_step_result *res);
void brn_cu_sgd_step(brn_backend *be, float *w, const float *g, float *v, size_t n, const brn_sgd *o,
                     const brn_step_scalars *sc);
void brn_cu_batch_build(brn_backend *be, void *x, int *labels, const void *ds, const brn_batch_entry *plan, int n);

/* --- cuda_devices.cu ---------------------------------------------------------------------- */
/* The CUDA ordinal and properties of usable GPU `index` (cuda:index), or BRN_EDEVICE with why. */
int brn_cu_device_resolve(int index, int *ordinal, cudaDeviceProp *prop, char *why, size_t whylen);

#endif
