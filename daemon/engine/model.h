/* The Wide Residual Network, on any backend (backend.h).
 *
 * WRN-d-k (DESIGN.md): stem conv3x3 -> 3 groups of n = (d-4)/6 pre-activation blocks
 * (widths 16k, 32k, 64k; strides 1, 2, 2) -> norm -> ReLU -> global average pool -> fc.
 * Block: a1 = relu(norm1(x)); c1 = conv1(a1); a2 = relu(norm2(c1)); [dropout];
 *        out = conv2(.) + (shortcut(a1) if the shape changes else x).
 *
 * Memory (all in the backend's memory): one buffer each for parameters, their gradients,
 * the SGD velocity and the running statistics ("buffers"), with a table of named views
 * (the checkpoint names); activations, norm statistics, the step's scalars and result and
 * the convolution workspace in one arena sized for the largest batch. The host reads and
 * writes tensors only through brn_model_read/write_tensor (the layout boundary). */
#ifndef BRN_MODEL_H
#define BRN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "spec.h"

#define BRN_MODEL_NAME_LEN 48

typedef enum { BRN_TENSOR_PARAM, BRN_TENSOR_BUFFER } brn_tensor_kind;

typedef struct brn_tensor_info {
    char name[BRN_MODEL_NAME_LEN];
    brn_tensor_kind kind;
    int ndim;
    int shape[4];
    size_t offset;   /* into params (BRN_TENSOR_PARAM) or buffers (BRN_TENSOR_BUFFER), in floats */
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
    int capture;         /* record the training step once and replay it, where the backend can */
} brn_model_config;

typedef struct brn_norm_layer {
    char name[BRN_MODEL_NAME_LEN];   /* "blocks.3.bn2" */
    int c;
    size_t gamma, beta;          /* param offsets */
    size_t run_mean, run_var;    /* buffer offsets (run_var: running std for BRN) */
    int h, w;                    /* spatial size of the layer's input */
    float *saved;                /* per-group statistics for backward (backend memory) */
    int index;                   /* position in norms[] and in the diagnostics array */
} brn_norm_layer;

typedef struct brn_conv_layer {
    int cin, cout, k, stride;
    size_t w;                    /* param offset */
} brn_conv_layer;

typedef struct brn_block {
    int cin, cout, stride, projection;
    int ih, iw, oh, ow;                   /* spatial size in and out */
    brn_norm_layer n1, n2;
    brn_conv_layer conv1, conv2, shortcut;
    void *a1, *c1, *a2, *d2, *out;        /* activations */
    uint8_t *keep;                        /* dropout mask */
} brn_block;

typedef struct brn_model {
    brn_model_config cfg;
    brn_backend *be;                 /* not owned */
    brn_tensor_info *tensors;
    int n_tensors, cap_tensors;
    float *params, *grads, *velocity, *buffers;
    size_t n_params, n_buffers;

    brn_conv_layer stem;
    brn_block *blocks;
    int n_blocks;
    brn_norm_layer final_norm;
    brn_norm_layer **norms;          /* every norm layer in forward order (bn1, bn2 per block, then bn) */
    int n_norms;
    size_t fc_w, fc_b;
    int feat;                        /* channels into the fc layer (64k) */

    /* the arena: activations of the current batch and what the step reads and writes */
    void *input, *stem_out, *final_a, *sc_tmp;
    void *g[5];                      /* activation-gradient work buffers */
    float *pooled, *logits, *dlogits;
    int *labels;
    brn_batch_entry *plan;           /* the batch's plan, when the backend builds it */
    brn_step_scalars *scalars;
    brn_step_result *result;
    brn_diag_acc *diag;              /* one per norm layer */
    void *workspace;                 /* the convolutions' */
    size_t workspace_bytes;
    void *arena;
    size_t arena_bytes;
    const void *data;                /* the dataset `plan` names (NULL: batches set from the host) */
    int plan_n;
    /* the recorded training step (brn_model_train_update), when the backend captures, and
       the settings of the last step (0: none yet) */
    void *step_unit;
    int step_n;
    const void *step_data;
    brn_sgd step_opt;
} brn_model;

/* Memory a model needs, without allocating it. */
typedef struct brn_memory_estimate {
    size_t parameters;        /* count */
    size_t state_bytes;       /* parameters, gradients, SGD velocity, running statistics */
    size_t activation_bytes;  /* activations, their gradients and norm statistics at max_batch */
    size_t scratch_bytes;     /* convolution workspace (CPU: per thread) */
    size_t total_bytes;
} brn_memory_estimate;

int brn_model_estimate(const brn_model_config *cfg, brn_backend *be, brn_memory_estimate *out, char *err,
                       size_t errlen);

/* Lays out and allocates the model on be (which must outlive it). Returns 0, BRN_EINVAL
 * (a bad shape), or BRN_ENOMEM naming the device and the size. */
int brn_model_init(brn_model *m, const brn_model_config *cfg, brn_backend *be, char *err, size_t errlen);
void brn_model_free(brn_model *m);

/* He-normal (fan out) convolutions, PyTorch's default for the linear layer, norm gamma 1
 * and beta 0, running mean 0 and running var/std 1; the velocity 0. */
int brn_model_init_weights(brn_model *m, uint64_t seed, char *err, size_t errlen);

const brn_tensor_info *brn_model_find_tensor(const brn_model *m, const char *name);

/* Which copy of a tensor: the value, its gradient or its SGD velocity (parameters only). */
typedef enum { BRN_VIEW_VALUE, BRN_VIEW_GRAD, BRN_VIEW_VELOCITY } brn_tensor_view;

/* Host <-> backend for one named tensor, in PyTorch's layout (t->shape). */
int brn_model_read_tensor(brn_model *m, const brn_tensor_info *t, brn_tensor_view view, float *host, char *err,
                          size_t errlen);
void brn_model_write_tensor(brn_model *m, const brn_tensor_info *t, brn_tensor_view view, const float *host);
/* An activation of the current batch (n examples, shape from the block) as [C][N][H][W]. */
int brn_model_read_act(brn_model *m, const void *act, brn_act_shape s, float *host, char *err, size_t errlen);

/* The step's inputs: n examples x[C][N][H][W] with their labels, and its scalars. */
void brn_model_set_batch(brn_model *m, const float *x, const int *labels, int n);
/* The step's inputs built by the backend from a dataset in its memory
 * (brn_backend_data_upload): the plan's n entries are checked and uploaded into the
 * model's plan buffer, and every forward pass that follows (a training step, its replay,
 * an evaluation batch) begins by building its batch from them, until brn_model_set_batch.
 * Returns 0 or BRN_EINVAL (an entry out of range, images of another size, n outside
 * 1..max_batch). */
int brn_model_set_plan(brn_model *m, const brn_device_data *d, const brn_batch_entry *plan, int n, char *err,
                       size_t errlen);
void brn_model_set_scalars(brn_model *m, const brn_step_scalars *sc);

/* Training step part 1+2 on the batch set: gradients zeroed, forward in training mode,
 * loss, backward; BRN layers add to their diagnostics. Returns 0 or BRN_EINVAL (a norm
 * group too small: message names `microbatch`) or the backend's error. */
int brn_model_train_step(brn_model *m, int n, char *err, size_t errlen);
/* The SGD update with the scalars' learning rate. */
void brn_model_sgd_step(brn_model *m, const brn_sgd *opt);
/* brn_model_train_step then brn_model_sgd_step; with cfg.capture on a backend that can,
 * run op by op at the first call, recorded at the second and replayed at the next ones
 * (while n, opt and the dataset of the plan stay the same), reading the batch or plan and
 * the scalars set since. */
int brn_model_train_update(brn_model *m, int n, const brn_sgd *opt, char *err, size_t errlen);
/* The last step's (or evaluation batch's) loss and hits; waits for the backend. */
int brn_model_step_result(brn_model *m, double *loss, int *correct, char *err, size_t errlen);

/* Forward only on the batch set; mode chooses the normalization statistics. */
int brn_model_forward(brn_model *m, int n, brn_norm_mode mode, char *err, size_t errlen);
/* Forward in evaluation mode, then the loss: read it with brn_model_step_result. */
int brn_model_eval_batch(brn_model *m, int n, int batch_stats, char *err, size_t errlen);

/* Renorm diagnostics, one per norm layer in norms[] order (zero for non-BRN layers). */
void brn_model_diag_reset(brn_model *m);
int brn_model_diag_read(brn_model *m, brn_diag_acc *host, char *err, size_t errlen);
void brn_model_diag_write(brn_model *m, const brn_diag_acc *host);

#endif
