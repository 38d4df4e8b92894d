/* Our own CUDA kernels, callable from C: everything the CUDA backend does besides cuDNN's
 * convolutions and cuBLAS's GEMMs.
 *
 * The sources (cuda/kernels/ *.cu) are compiled twice: by nvcc for the GPU, and as host C++
 * under the CUDA execution-model emulation (cuda/emu/, -DBRN_CUDA_EMU) for the tests that
 * run every kernel on machines without a GPU. Each launcher queues its kernel(s) on
 * `stream` (ignored under emulation, where they run to completion) and returns 0 or the
 * launch error (a cudaError_t value).
 *
 * Layouts: activations NHWC with element type `at` (fp32, or bf16 for --precision bf16);
 * parameters, gradients, statistics and logits fp32. `saved` has the CPU's layout
 * (backend.h): BN/BRN saved[4*(c*G+g) + {0,1,2,3}] = mu, sigma_B, r, d for channel c and
 * group g; GN/LN saved[2*(n*groups+g) + {0,1}] = mu, sigma. Per-step values (lr,
 * momentum, rmax, dmax, dropout seed) are read from device memory (sc). Results must
 * match the CPU layers (cpu/) to fp32 rounding and must not depend on the launch order of
 * blocks: no floating-point atomics; reductions in a fixed order. */
#ifndef BRN_CUDA_KERNELS_H
#define BRN_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { BRN_AT_F32 = 0, BRN_AT_BF16 = 1 } brn_act_type;
typedef void *brn_stream;   /* a cudaStream_t */

/* The emulated build's launchers carry another prefix (brn_kemu_), so a program can never
 * mix them up with the GPU's: the kernel tests define BRN_CUDA_EMU and call BRN_K(name). */
#ifdef BRN_CUDA_EMU
#define BRN_K(name) brn_kemu_##name
#else
#define BRN_K(name) brn_k_##name
#endif

/* --- layout boundary and precision ------------------------------------------------------ */
/* dst (NHWC, at) = src (CNHW float), both on the device */
int BRN_K(cnhw_to_nhwc)(brn_stream st, void *dst, brn_act_type at, const float *src, brn_act_shape s);
/* dst (CNHW float) = src (NHWC, at) */
int BRN_K(nhwc_to_cnhw)(brn_stream st, float *dst, const void *src, brn_act_type at, brn_act_shape s);
/* conv weights: PyTorch's OIHW <-> cuDNN's NHWC filter layout OHWI (KRSC) */
int BRN_K(oihw_to_ohwi)(brn_stream st, float *dst, const float *src, int o, int i, int kh, int kw);
int BRN_K(ohwi_to_oihw)(brn_stream st, float *dst, const float *src, int o, int i, int kh, int kw);
/* dst (bf16) = src (float), round to nearest even; n elements */
int BRN_K(f32_to_bf16)(brn_stream st, void *dst, const float *src, size_t n);
/* dst (float) += src (bf16); n elements */
int BRN_K(add_bf16_to_f32)(brn_stream st, float *dst, const void *src, size_t n);

/* --- input batches from the dataset in device memory (batch_plan.h) --------------------- */
/* x (NHWC, at) and labels[n] of the n entries of plan (device memory): images [N][c][h][w]
 * and ds_labels[N] uint8; example plan[j].index shifted by (dy, dx) inside a zero border,
 * mirrored first when flip; lut[ch * BRN_LUT_LEVELS + v] (brn_batch_lut) is the value of
 * pixel value v of channel ch (0 for the border), so x equals brn_batch_materialize's
 * floats bit for bit (bf16: rounded once). Entries must be valid (brn_batch_plan_check);
 * 1 <= c <= BRN_MAX_CHANNELS. */
int BRN_K(batch_build)(brn_stream st, void *x, brn_act_type at, int *labels, const uint8_t *images,
                       const uint8_t *ds_labels, const float *lut, const brn_batch_entry *plan, int n, int c, int h,
                       int w);

/* --- normalization, fused with the ReLU (see backend.h's norm operations) ----------------- */
/* Device workspace bytes the norm launchers need for this call (partial sums). */
size_t BRN_K(norm_workspace)(const brn_norm_desc *d);
int BRN_K(norm_forward)(brn_stream st, const brn_norm_desc *d, brn_norm_mode mode, const brn_norm_tensors *t, void *a,
                       const void *x, brn_act_type at, const brn_step_scalars *sc, void *ws);
int BRN_K(norm_backward)(brn_stream st, const brn_norm_desc *d, const brn_norm_tensors *t, void *dx, const void *da,
                        const void *a, const void *x, brn_act_type at, void *ws);
/* acc (one brn_diag_acc in device memory) += the r/d statistics of saved's C x G entries;
 * nothing when sc->rmax <= 1 and sc->dmax <= 0 (a plain-BN warm-up step; see backend.h) */
int BRN_K(renorm_diag)(brn_stream st, brn_diag_acc *acc, const float *saved, int channels, int groups,
                      const brn_step_scalars *sc);

/* --- the small layers --------------------------------------------------------------------- */
/* keep[i] = uniform(sc->dropout_seed ^ salt, i) >= p where i is the element's CNHW index
 * (the CPU's masks); y = keep ? x/(1-p) : 0. keep is stored per NHWC element. */
int BRN_K(dropout_forward)(brn_stream st, void *y, uint8_t *keep, const void *x, brn_act_type at, brn_act_shape s,
                          double p, uint64_t salt, const brn_step_scalars *sc);
int BRN_K(dropout_backward)(brn_stream st, void *dx, const void *dy, const uint8_t *keep, brn_act_type at,
                           brn_act_shape s, double p);
/* y[N][C] (float) = mean over H, W of x; dx = dy / (H*W) broadcast */
int BRN_K(avgpool_forward)(brn_stream st, float *y, const void *x, brn_act_type at, brn_act_shape s);
int BRN_K(avgpool_backward)(brn_stream st, void *dx, const float *dy, brn_act_type at, brn_act_shape s);
/* y += x over n elements of type at */
int BRN_K(add)(brn_stream st, void *y, const void *x, brn_act_type at, size_t n);
/* linear layer helpers around cuBLAS: y[i][o] += b[o]; db[o] += sum_i dy[i][o] */
int BRN_K(bias_add)(brn_stream st, float *y, const float *b, int n, int out);
int BRN_K(bias_grad)(brn_stream st, float *db, const float *dy, int n, int out);
/* mean softmax cross-entropy of logits[N][K]: res->loss, res->correct (argmax hits, the
 * first maximum wins as on the CPU); dlogits (may be NULL) = (softmax - onehot) / N */
int BRN_K(softmax_xent)(brn_stream st, float *dlogits, const float *logits, const int *labels, int n, int k,
                       brn_step_result *res);
/* one SGD step (backend.h's brn_sgd), lr = sc->lr */
int BRN_K(sgd_step)(brn_stream st, float *w, const float *g, float *v, size_t n, const brn_sgd *o,
                   const brn_step_scalars *sc);

#ifdef __cplusplus
}
#endif

#endif
