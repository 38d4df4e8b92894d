/* Winograd F(2x2, 3x3) convolution (winograd.c), used by conv.c for 3x3 stride-1 layers. */
#ifndef BRN_WINOGRAD_H
#define BRN_WINOGRAD_H

#include "layers.h"

/* Reals after each row of transformed tiles, so that blocks of this many tiles can be
 * stored whole. */
#define WINO_SLACK 16

/* Whether the convolution is 3x3, stride 1, pad 1. */
int brn_cpu_wino_applies(const brn_conv_shape *s);
/* Images one thread transforms at once. */
int brn_cpu_wino_chunk_images(const brn_conv_shape *s);
/* O*C rounded up to whole blocks of WINO_SLACK filters. */
size_t brn_cpu_wino_filters_padded(const brn_conv_shape *s);
/* Reals of scratch: shared (the transformed filters, each chunk's filter gradient) and
 * each thread's tiles. */
size_t brn_cpu_wino_shared_size(const brn_conv_shape *s);
size_t brn_cpu_wino_thread_size(const brn_conv_shape *s);

#ifdef BRN_REAL_H
void FN(wino_conv_forward)(real *y, const real *x, const real *w, const brn_conv_shape *s, real *scratch);
/* dw += dL/dw; dx = (or += when accumulate_dx) dL/dx, dx may be NULL */
void FN(wino_conv_backward)(real *dx, real *dw, const real *dy, const real *x, const real *w,
                            const brn_conv_shape *s, int accumulate_dx, real *scratch);
#endif

#endif
