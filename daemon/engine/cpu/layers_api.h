/* CPU layer functions for one precision. Included by layers.h twice: once with
 * real = float (suffix _f32, the trainer's) and once with real = double (suffix _f64, the
 * finite-difference tests'). Both come from the same source, cpu/layers.c.
 *
 * Activation layout is channel-major, CNHW: x[c][n][h][w]. A channel's values over a
 * group of consecutive examples are then one contiguous run, which suits the norm
 * statistics, and a convolution is one GEMM W[O][C*KH*KW] x col[C*KH*KW][N*OH*OW].
 *
 * Conventions (DESIGN.md): outputs first; backward ASSIGNS activation gradients and
 * ACCUMULATES (+=) parameter gradients. Functions that can fail return 0 or BRN_EINVAL. */

#ifndef LAYER_REAL
#error "include layers.h, not this file"
#endif

#define LFN_(name, sfx) brn_cpu_##name##sfx
#define LFN2(name, sfx) LFN_(name, sfx)
#define LFN(name) LFN2(name, LAYER_SUFFIX)

/* --- convolution, no bias ------------------------------------------------------------- */
/* y[O][N][OH][OW] = conv(x[C][N][H][W], w[O][C][K][K]), stride, pad.
 * scratch: brn_cpu_conv_scratch_size() reals per thread. */
void LFN(conv_forward)(LAYER_REAL *y, const LAYER_REAL *x, const LAYER_REAL *w, const brn_conv_shape *s,
                       LAYER_REAL *scratch);
/* dw += dL/dw; dx = dL/dx (or += when accumulate_dx; dx may be NULL for the input layer).
 * dw_scratch: threads * O*C*K*K reals for per-thread partial sums (deterministic reduction). */
void LFN(conv_backward)(LAYER_REAL *dx, LAYER_REAL *dw, const LAYER_REAL *dy, const LAYER_REAL *x,
                        const LAYER_REAL *w, const brn_conv_shape *s, int accumulate_dx,
                        LAYER_REAL *scratch, LAYER_REAL *dw_scratch);

/* --- batch norm / batch renorm, optionally fused with ReLU ---------------------------- */
/* Training forward over groups of `group` examples (the microbatch; group == N for the
 * whole batch). For each channel c and group g:
 *   mu, sigma_B = sqrt(var_biased + eps); r, d from the PRE-update running statistics
 *   (BRN; BN: r = 1, d = 0); y = gamma*(r*(x-mu)/sigma_B + d) + beta; a = relu(y) if relu.
 * saved[4*(c*G+g) + {0,1,2,3}] = mu, sigma_B, r, d for the backward pass.
 * The running statistics are updated ONCE with the mean over groups of the group
 * statistics (BN: mean, unbiased var; BRN: mean, sigma_B) after r and d were computed.
 * Returns BRN_EINVAL when a group holds fewer than 2 values per channel. */
int LFN(batchnorm_forward_train)(LAYER_REAL *a, LAYER_REAL *saved, const LAYER_REAL *x,
                                 const LAYER_NORM *p, const brn_bn_config *cfg,
                                 const brn_act_shape *s, int group, int relu);
/* Inference with running statistics (BN: (x-mean)/sqrt(var+eps); BRN: (x-mu)/sigma). */
void LFN(batchnorm_forward_eval)(LAYER_REAL *a, const LAYER_REAL *x, const LAYER_NORM *p,
                                 const brn_bn_config *cfg, const brn_act_shape *s, int relu);
/* da: gradient w.r.t. the layer's output a (after the ReLU when relu). dx = ...; dgamma, dbeta += ... */
void LFN(batchnorm_backward)(LAYER_REAL *dx, const LAYER_NORM *p, const LAYER_REAL *da,
                             const LAYER_REAL *a, const LAYER_REAL *x, const LAYER_REAL *saved,
                             const brn_act_shape *s, int group, int relu);

/* --- group norm (ln = one group): per example, no running statistics ------------------- */
/* saved[2*(n*G+g) + {0,1}] = mu, sigma */
int LFN(groupnorm_forward)(LAYER_REAL *a, LAYER_REAL *saved, const LAYER_REAL *x,
                           const LAYER_NORM *p, double eps, const brn_act_shape *s,
                           int groups, int relu);
void LFN(groupnorm_backward)(LAYER_REAL *dx, const LAYER_NORM *p, const LAYER_REAL *da,
                             const LAYER_REAL *a, const LAYER_REAL *x, const LAYER_REAL *saved,
                             const brn_act_shape *s, int groups, int relu);

/* --- plain ReLU (norm = none) ----------------------------------------------------------- */
void LFN(relu_forward)(LAYER_REAL *a, const LAYER_REAL *x, size_t n);
void LFN(relu_backward)(LAYER_REAL *dx, const LAYER_REAL *da, const LAYER_REAL *a, size_t n);

/* --- dropout: a = x * keep/(1-p), keep[i] drawn from (seed, i) ------------------------- */
void LFN(dropout_forward)(LAYER_REAL *y, uint8_t *keep, const LAYER_REAL *x, size_t n, double p,
                          uint64_t seed);
void LFN(dropout_backward)(LAYER_REAL *dx, const LAYER_REAL *dy, const uint8_t *keep, size_t n, double p);

/* --- global average pool: x[C][N][H][W] -> y[N][C] --------------------------------------- */
void LFN(avgpool_forward)(LAYER_REAL *y, const LAYER_REAL *x, const brn_act_shape *s);
void LFN(avgpool_backward)(LAYER_REAL *dx, const LAYER_REAL *dy, const brn_act_shape *s);

/* --- linear: y[N][O] = x[N][I] w[O][I]^T + b[O] ----------------------------------------- */
void LFN(linear_forward)(LAYER_REAL *y, const LAYER_REAL *x, const LAYER_REAL *w, const LAYER_REAL *b,
                         int n, int in, int out);
void LFN(linear_backward)(LAYER_REAL *dx, LAYER_REAL *dw, LAYER_REAL *db, const LAYER_REAL *dy,
                          const LAYER_REAL *x, const LAYER_REAL *w, int n, int in, int out);

/* --- mean softmax cross-entropy over N rows of logits[N][K] ----------------------------- */
/* Returns the mean loss; dlogits (if not NULL) = (softmax - onehot)/N; *correct = argmax hits. */
double LFN(softmax_xent)(LAYER_REAL *dlogits, const LAYER_REAL *logits, const int *labels, int n, int k,
                         int *correct);

/* --- residual add: y += x ---------------------------------------------------------------- */
void LFN(add_inplace)(LAYER_REAL *y, const LAYER_REAL *x, size_t n);

#undef LFN
#undef LFN2
#undef LFN_
