/* The engine's device interface: one table of operations per backend (CPU, CUDA), in
 * the spirit of ggml's backend table. model.c and trainer.c talk only to this.
 *
 * Memory: alloc/free give backend memory (host memory for the CPU, device memory for a
 * GPU); the engine never dereferences it, it moves data with upload/download. Host data
 * crosses in the CPU's layouts: activations [C][N][H][W] float, parameters in PyTorch's
 * layout (conv weights OIHW); a backend converts to its own (a GPU: NHWC, bf16) inside
 * upload_act/upload_tensor and back in download_act/download_tensor.
 *
 * Errors are sticky, as on a GPU stream: operations return nothing, the first failure is
 * kept with its message, and synchronize() (or a download) reports it and clears it. The
 * engine checks shapes before it calls an operation (a norm group of fewer than two values
 * is refused up front); supports() refuses a job the backend cannot run before it starts.
 *
 * Per-step values (learning rate, renorm limits, momentum, dropout seed) are read by the
 * operations from backend memory (brn_step_scalars), so that a whole step can be captured
 * once and replayed with new values. Operations run in order on one stream; a backend is
 * used by one thread at a time.
 *
 * Input batches: a dataset is uploaded once (dataset_upload: uint8 images and labels, kept
 * in backend memory for the job's life) and every batch is built there from a plan
 * (batch_plan.h) the engine uploads into backend memory (batch_build): a recorded step
 * gathers, crops, flips and normalizes its batch too, from the plan uploaded before the
 * replay. upload_act remains for batches staged on the host. */
#ifndef BRN_BACKEND_H
#define BRN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "batch_plan.h"
#include "cpu/layers.h"   /* brn_act_shape, brn_conv_shape */
#include "spec.h"

typedef struct brn_backend brn_backend;

/* The most workspace a GPU convolution may take (the fastest algorithm that fits is
 * chosen), so that a job's device memory can be estimated before it runs. */
#define BRN_GPU_WORKSPACE_LIMIT ((size_t)256 << 20)

/* Values that change every step, kept in backend memory (uploaded by the trainer). */
typedef struct brn_step_scalars {
    double lr;
    double norm_momentum;     /* running += momentum * (batch - running) */
    double rmax, dmax;        /* BRN clip limits now (1, 0: plain BN) */
    uint64_t dropout_seed;    /* this step's masks derive from it */
} brn_step_scalars;

/* What the loss operation writes, in backend memory. */
typedef struct brn_step_result {
    double loss;              /* mean softmax cross-entropy over the batch */
    double correct;           /* argmax hits (an integer) */
} brn_step_result;

/* Renorm diagnostics of one BRN layer, accumulated over training steps in backend memory
 * (one entry per (channel, group) per step). */
typedef struct brn_diag_acc {
    double sum_abs_r1, sum_abs_d;   /* sums of |r - 1| and |d| */
    double r_clipped, d_clipped;    /* how many r (d) sat at a clip limit */
    double count;
} brn_diag_acc;

typedef enum {
    BRN_NORM_TRAIN,           /* batch statistics; BN/BRN update the running ones */
    BRN_NORM_EVAL_RUNNING,    /* BN/BRN: the running statistics */
    BRN_NORM_EVAL_BATCH,      /* BN/BRN: plain batch statistics, running ones untouched */
} brn_norm_mode;

/* One normalization layer call, fused with the ReLU that follows it. */
typedef struct brn_norm_desc {
    brn_norm_kind kind;
    brn_act_shape shape;      /* of this call (n <= the batch the memory was planned for) */
    int group;                /* BN/BRN: examples per normalization group; N % group == 0 */
    int gn_groups;            /* GN: channel groups (LN: 1) */
    double eps;
    int relu;
} brn_norm_desc;

/* The layer's tensors, all in backend memory. */
typedef struct brn_norm_tensors {
    const float *gamma, *beta;       /* [C] */
    float *dgamma, *dbeta;           /* [C], accumulated (+=) by backward */
    float *run_mean, *run_var;       /* [C], BN/BRN; run_var holds the running STD for BRN */
    float *saved;                    /* per-group statistics, written by forward for backward */
} brn_norm_tensors;

/* SGD exactly as PyTorch's: g += wd*w; v = momentum*v + g; w -= lr*v (Nesterov:
 * w -= lr*(g + momentum*v)). lr comes from the step scalars. */
typedef struct brn_sgd {
    double momentum, weight_decay;
    int nesterov;
} brn_sgd;

/* Field by field (a struct's padding is not data): a recorded step replays only under equal settings. */
static inline int brn_sgd_equal(const brn_sgd *a, const brn_sgd *b)
{
    return a->momentum == b->momentum && a->weight_decay == b->weight_decay && a->nesterov == b->nesterov;
}

typedef enum { BRN_TENSOR_LAYOUT_PLAIN, BRN_TENSOR_LAYOUT_CONV } brn_tensor_layout;

typedef struct brn_backend_ops {
    void (*destroy)(brn_backend *be);
    /* 0, or BRN_EINVAL/BRN_EDEVICE with "field: reason" when this backend cannot run the job */
    int (*supports)(brn_backend *be, const brn_job_spec *spec, char *err, size_t errlen);

    /* --- memory ------------------------------------------------------------------------- */
    void *(*alloc)(brn_backend *be, size_t bytes);          /* NULL when out of memory */
    void (*free)(brn_backend *be, void *p);
    void (*upload)(brn_backend *be, void *dst, const void *src, size_t bytes);
    /* synchronous: returns when dst holds the data; reports a pending error like synchronize */
    int (*download)(brn_backend *be, void *dst, const void *src, size_t bytes, char *err, size_t errlen);
    void (*zero)(brn_backend *be, void *dst, size_t bytes);
    /* host memory the backend copies from fastest (a GPU: pinned), for staged batches */
    void *(*host_alloc)(brn_backend *be, size_t bytes);
    void (*host_free)(brn_backend *be, void *p);
    /* activations and parameters across the layout boundary (see the top of this file) */
    void (*upload_act)(brn_backend *be, void *dst, const float *host_cnhw, brn_act_shape s);
    int (*download_act)(brn_backend *be, float *host_cnhw, const void *src, brn_act_shape s, char *err,
                        size_t errlen);
    void (*upload_tensor)(brn_backend *be, float *dst, const float *host, const int *shape, int ndim,
                          brn_tensor_layout layout);
    int (*download_tensor)(brn_backend *be, float *host, const float *src, const int *shape, int ndim,
                           brn_tensor_layout layout, char *err, size_t errlen);
    /* a batch source in backend memory, kept until dataset_free: a GPU copies the images,
     * labels and brn_batch_lut's table; the CPU keeps src's host arrays, which must then
     * outlive it. NULL when out of memory. */
    void *(*dataset_upload)(brn_backend *be, const brn_batch_source *src);
    void (*dataset_free)(brn_backend *be, void *ds);
    /* x (an activation [n][src.c][src.h][src.w] in the backend's layout) and labels[n] of
     * the n entries of plan (backend memory), as brn_batch_materialize; entries are valid
     * (the engine checks them: brn_batch_plan_check) */
    void (*batch_build)(brn_backend *be, void *x, int *labels, const void *ds, const brn_batch_entry *plan, int n);
    /* waits for all queued work; 0 or the first error since the last report */
    int (*synchronize)(brn_backend *be, char *err, size_t errlen);

    /* --- operations (outputs first; backward ASSIGNS activation gradients, ACCUMULATES
     *     parameter gradients) --------------------------------------------------------------- */
    /* y = conv(x, w): no bias, padding k/2. ws: conv_workspace bytes for this shape. */
    size_t (*conv_workspace)(brn_backend *be, const brn_conv_shape *s);
    void (*conv_forward)(brn_backend *be, void *y, const void *x, const float *w, const brn_conv_shape *s,
                         void *ws);
    /* dw += dL/dw; dx = dL/dx (+= when accumulate_dx; dx NULL: not needed) */
    void (*conv_backward)(brn_backend *be, void *dx, float *dw, const void *dy, const void *x, const float *w,
                          const brn_conv_shape *s, int accumulate_dx, void *ws);
    /* a = relu(norm(x)). ws: norm_workspace bytes for this call's shape (may be 0). */
    size_t (*norm_workspace)(brn_backend *be, const brn_norm_desc *d);
    void (*norm_forward)(brn_backend *be, const brn_norm_desc *d, brn_norm_mode mode, const brn_norm_tensors *t,
                         void *a, const void *x, const brn_step_scalars *sc, void *ws);
    void (*norm_backward)(brn_backend *be, const brn_norm_desc *d, const brn_norm_tensors *t, void *dx,
                          const void *da, const void *a, const void *x, void *ws);
    /* acc += the r/d statistics of the last BRN training forward (saved, its groups); nothing on
     * a plain-BN step (sc->rmax <= 1 and sc->dmax <= 0, the warm-up), whose r = 1 and d = 0 would
     * read as clipped. Decided from sc, not by the caller, so a recorded step replays it right. */
    void (*renorm_diag)(brn_backend *be, brn_diag_acc *acc, const float *saved, int channels, int groups,
                        const brn_step_scalars *sc);
    /* y = x * keep / (1-p), keep[i] = uniform(seed ^ salt, i) >= p with i the CNHW index */
    void (*dropout_forward)(brn_backend *be, void *y, uint8_t *keep, const void *x, brn_act_shape s, double p,
                            uint64_t salt, const brn_step_scalars *sc);
    void (*dropout_backward)(brn_backend *be, void *dx, const void *dy, const uint8_t *keep, brn_act_shape s,
                             double p);
    /* y[N][C] = mean over H, W */
    void (*avgpool_forward)(brn_backend *be, float *y, const void *x, brn_act_shape s);
    void (*avgpool_backward)(brn_backend *be, void *dx, const float *dy, brn_act_shape s);
    /* y[N][O] = x[N][I] w[O][I]^T + b */
    void (*linear_forward)(brn_backend *be, float *y, const float *x, const float *w, const float *b, int n,
                           int in, int out);
    void (*linear_backward)(brn_backend *be, float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, int n, int in, int out);
    /* y += x over an activation */
    void (*add)(brn_backend *be, void *y, const void *x, brn_act_shape s);
    /* mean cross-entropy of logits[N][K] against labels -> *res; dlogits (may be NULL) =
     * (softmax - onehot) / N */
    void (*softmax_xent)(brn_backend *be, float *dlogits, const float *logits, const int *labels, int n, int k,
                         brn_step_result *res);
    /* one SGD step over the flat parameter buffer */
    void (*sgd_step)(brn_backend *be, float *w, const float *g, float *v, size_t n, const brn_sgd *o,
                     const brn_step_scalars *sc);

    /* --- optional (NULL when not offered): capture and replay ----------------------------
     * Operations queued between capture_begin and capture_end are recorded, not run, as one
     * unit; replay queues them again, reading the current contents of backend memory (new
     * batch, new scalars). A CUDA graph. */
    int (*capture_begin)(brn_backend *be, char *err, size_t errlen);
    int (*capture_end)(brn_backend *be, void **unit, char *err, size_t errlen);
    void (*replay)(brn_backend *be, void *unit);
    void (*release)(brn_backend *be, void *unit);
} brn_backend_ops;

/* Every backend begins with this. */
struct brn_backend {
    const brn_backend_ops *ops;
    brn_precision precision;
    size_t act_bytes;         /* bytes per activation element: 4, or 2 for bf16 */
    char device[32];          /* "cpu", "cuda:0" */
    char description[128];    /* "cpu (2 threads, OpenBLAS)", "NVIDIA H200 (cuda:0, bf16)" */
};

/* A dataset uploaded with dataset_upload: the backend's handle and what it holds. */
typedef struct brn_device_data {
    void *handle;
    brn_batch_source src;
} brn_device_data;

/* Uploads src (see dataset_upload; the CPU keeps using src's arrays). Returns 0 or
 * BRN_ENOMEM naming the device and the size. */
int brn_backend_data_upload(brn_backend *be, const brn_batch_source *src, brn_device_data *out, char *err,
                            size_t errlen);
void brn_backend_data_free(brn_backend *be, brn_device_data *d);
/* Backend memory a dataset of n examples of c x h x w takes on a GPU (images, labels, the
 * normalization table). */
size_t brn_backend_data_bytes(long n, int c, int h, int w);

/* Opens the backend for a job's device ("cpu", "cuda", "cuda:N", "auto": the first GPU
 * when one is usable, else the CPU) with its precision and CPU threads (0 = all cores).
 * Returns 0 or BRN_EDEVICE/BRN_EINVAL with a message naming the field. */
int brn_backend_open(const brn_job_spec *spec, brn_backend **out, char *err, size_t errlen);
void brn_backend_close(brn_backend *be);

/* The CPU backend (cpu/backend_cpu.c). threads <= 0: brn_cpu_default_threads(). */
int brn_cpu_backend_create(int threads, brn_backend **out, char *err, size_t errlen);
/* The cores this process may run on. */
int brn_cpu_default_threads(void);

/* A usable compute device, for GetServerInfo and placement. */
typedef struct brn_device_desc {
    char id[32];              /* "cpu", "cuda:0" */
    char name[128];           /* "cpu (2 cores)", "NVIDIA H200" */
    char kind[8];             /* "cpu" | "cuda" */
    size_t memory_bytes;      /* physical RAM, or the GPU's memory */
} brn_device_desc;

/* The CPU first, then every usable GPU; returns the count (at most max). When no GPU is
 * usable, *why_no_gpu (if not NULL) says why: "this build has no CUDA support", "no CUDA
 * device", "the driver is older than this build's CUDA runtime", ... */
int brn_devices_list(brn_device_desc *out, int max, char *why_no_gpu, size_t whylen);

#endif
