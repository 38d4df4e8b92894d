/* The Wide Residual Network on the CPU backend (the reference).
 *
 * WRN-d-k (DESIGN.md): stem conv3x3 -> 3 groups of n = (d-4)/6 pre-activation blocks
 * (widths 16k, 32k, 64k; strides 1, 2, 2) -> norm -> ReLU -> global average pool -> fc.
 * Block: a1 = relu(norm1(x)); c1 = conv1(a1); a2 = relu(norm2(c1)); [dropout];
 *        out = conv2(.) + (shortcut(a1) if the shape changes else x).
 *
 * Memory: one buffer each for parameters, their gradients and the running statistics
 * ("buffers"), with a table of named views (the checkpoint names); activations in one
 * arena sized for the largest batch. Activations are laid out [C][N][H][W]. */
#ifndef BRN_MODEL_H
#define BRN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cpu/layers.h"
#include "spec.h"

#define BRN_MODEL_NAME_LEN 48

typedef enum { BRN_TENSOR_PARAM, BRN_TENSOR_BUFFER } brn_tensor_kind;

typedef struct brn_tensor_info {
    char name[BRN_MODEL_NAME_LEN];
    brn_tensor_kind kind;
    int ndim;
    int shape[4];
    size_t offset;   /* into params (BRN_TENSOR_PARAM) or buffers (BRN_TENSOR_BUFFER) */
    size_t count;
} brn_tensor_info;

typedef struct brn_model_config {
    int depth, width;
    int in_c, in_h, in_w, classes;
    int max_batch;
    brn_norm_kind norm;
    double eps;
    int microbatch;      /* 0 = whole batch */
    int gn_groups;
    double dropout;
} brn_model_config;

/* Per-step settings of the normalization layers. */
typedef struct brn_norm_step {
    double momentum;
    double rmax, dmax;   /* BRN limits now (1, 0: plain BN) */
    uint64_t dropout_seed; /* this step's dropout masks derive from it */
} brn_norm_step;

/* Renorm diagnostics accumulated over steps for one BRN layer. */
typedef struct brn_norm_diag_acc {
    double sum_abs_r1, sum_abs_d;
    long r_clipped, d_clipped, count;
} brn_norm_diag_acc;

typedef struct brn_norm_layer {
    char name[BRN_MODEL_NAME_LEN];   /* "blocks.3.bn2" */
    int c;
    size_t gamma, beta;          /* param offsets */
    size_t run_mean, run_var;    /* buffer offsets (run_var: running std for BRN) */
    float *saved;                /* per-group statistics for backward */
    brn_norm_diag_acc diag;
} brn_norm_layer;

typedef struct brn_conv_layer {
    int cin, cout, k, stride;
    size_t w;                    /* param offset */
} brn_conv_layer;

typedef struct brn_block {
    int cin, cout, stride, projection;
    int ih, iw, oh, ow;               /* spatial size in and out */
    brn_norm_layer n1, n2;
    brn_conv_layer conv1, conv2, shortcut;
    float *a1, *c1, *a2, *d2, *out;   /* activations */
    uint8_t *keep;                    /* dropout mask */
} brn_block;

typedef struct brn_model {
    brn_model_config cfg;
    brn_tensor_info *tensors;
    int n_tensors, cap_tensors;
    float *params, *grads, *buffers;
    size_t n_params, n_buffers;

    brn_conv_layer stem;
    brn_block *blocks;
    int n_blocks;
    brn_norm_layer final_norm;
    brn_norm_layer **norms;          /* every norm layer in forward order (bn1, bn2 per block, then bn) */
    int n_norms;
    size_t fc_w, fc_b;
    int feat;                        /* channels into the fc layer (64k) */

    /* activations for the current batch */
    float *input, *stem_out, *final_a, *pooled, *logits, *dlogits, *sc_tmp;
    float *g[5];                     /* gradient work buffers */
    float *conv_scratch, *dw_scratch;
    float *arena;
    size_t arena_size;
    int threads;
} brn_model;

/* Memory a model needs, without allocating it. */
typedef struct brn_memory_estimate {
    size_t parameters;        /* count */
    size_t state_bytes;       /* parameters, gradients, SGD velocity, running statistics */
    size_t activation_bytes;  /* activations and their gradients at max_batch */
    size_t scratch_bytes;     /* convolution scratch (CPU: per thread) */
    size_t total_bytes;
} brn_memory_estimate;

int brn_model_estimate(const brn_model_config *cfg, int threads, brn_memory_estimate *out, char *err,
                       size_t errlen);

int brn_model_init(brn_model *m, const brn_model_config *cfg, int threads, char *err, size_t errlen);
void brn_model_free(brn_model *m);

/* He-normal (fan out) convolutions, PyTorch's default for the linear layer, norm gamma 1
 * and beta 0, running mean 0 and running var/std 1. */
void brn_model_init_weights(brn_model *m, uint64_t seed);

const brn_tensor_info *brn_model_find_tensor(const brn_model *m, const char *name);
float *brn_model_tensor_data(brn_model *m, const brn_tensor_info *t);

/* Training step part 1+2: forward in training mode on x ([C][N][H][W], n <= max_batch),
 * loss, backward. Gradients are zeroed first. Returns 0 or BRN_EINVAL (a norm group too
 * small) with err filled. */
int brn_model_train_step(brn_model *m, const float *x, const int *labels, int n, const brn_norm_step *ns,
                     double *loss, int *correct, char *err, size_t errlen);

/* Forward only. train = 0: evaluation (eval_stats chooses running or batch statistics). */
int brn_model_forward(brn_model *m, const float *x, int n, int train, int batch_stats, const brn_norm_step *ns,
                  char *err, size_t errlen);
int brn_model_backward(brn_model *m, int n);

/* Evaluate a batch: loss (sum over the batch, not the mean) and hits. */
int brn_model_eval_batch(brn_model *m, const float *x, const int *labels, int n, int batch_stats,
                     double *loss_sum, int *correct, char *err, size_t errlen);


#endif
