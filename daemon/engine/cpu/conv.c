/* Convolution without bias: 3x3 stride-1 layers by Winograd (winograd.c), the others as
 * im2col + GEMM, parallel over chunks of images.
 * Each thread lowers its own chunk into its slice of scratch and calls a single-threaded
 * GEMM; weight gradients are summed per thread and reduced in thread order, so results
 * are the same for the same thread count. */
#include <omp.h>
#include <string.h>

#include "real.h"
#include "winograd.h"

/* col[(c*K + kh)*K + kw][j*OHW + oh*OW + ow] = x[c][n0+j][oh*S - P + kh][ow*S - P + kw] */
static void im2col(real *col, const real *x, const brn_conv_shape *s, int n0, int nc)
{
    const int K = s->k, S = s->stride, P = s->pad, H = s->h, W = s->w, OH = s->oh, OW = s->ow;
    const size_t HW = (size_t)H * W, NHW = (size_t)s->n * HW, OHW = (size_t)OH * OW, cols = nc * OHW;
    for (int c = 0; c < s->cin; c++)
        for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++) {
                real *row = col + ((size_t)(c * K + kh) * K + kw) * cols;
                /* output columns whose input column is inside the image */
                int ow_lo = 0, ow_hi = OW;
                while (ow_lo < OW && ow_lo * S - P + kw < 0) ow_lo++;
                while (ow_hi > ow_lo && (ow_hi - 1) * S - P + kw >= W) ow_hi--;
                for (int j = 0; j < nc; j++) {
                    const real *img = x + c * NHW + (size_t)(n0 + j) * HW;
                    real *dst = row + j * OHW;
                    for (int oh = 0; oh < OH; oh++) {
                        int ih = oh * S - P + kh;
                        real *d = dst + (size_t)oh * OW;
                        if (ih < 0 || ih >= H) {
                            memset(d, 0, sizeof(real) * OW);
                            continue;
                        }
                        const real *srow = img + (size_t)ih * W - P + kw;
                        for (int ow = 0; ow < ow_lo; ow++) d[ow] = 0;
                        if (S == 1)
                            memcpy(d + ow_lo, srow + ow_lo, sizeof(real) * (ow_hi - ow_lo));
                        else if (S == 2)   /* a constant stride: vectorized */
                            for (int ow = ow_lo; ow < ow_hi; ow++) d[ow] = srow[ow * 2];
                        else
                            for (int ow = ow_lo; ow < ow_hi; ow++) d[ow] = srow[ow * S];
                        for (int ow = ow_hi; ow < OW; ow++) d[ow] = 0;
                    }
                }
            }
}

/* The adjoint of im2col: dx[c][n0+j][...] += dcol[...] (dx's chunk was zeroed or holds a sum). */
static void col2im(real *dx, const real *dcol, const brn_conv_shape *s, int n0, int nc)
{
    const int K = s->k, S = s->stride, P = s->pad, H = s->h, W = s->w, OH = s->oh, OW = s->ow;
    const size_t HW = (size_t)H * W, NHW = (size_t)s->n * HW, OHW = (size_t)OH * OW, cols = nc * OHW;
    for (int c = 0; c < s->cin; c++)
        for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++) {
                const real *row = dcol + ((size_t)(c * K + kh) * K + kw) * cols;
                int ow_lo = 0, ow_hi = OW;
                while (ow_lo < OW && ow_lo * S - P + kw < 0) ow_lo++;
                while (ow_hi > ow_lo && (ow_hi - 1) * S - P + kw >= W) ow_hi--;
                for (int j = 0; j < nc; j++) {
                    real *img = dx + c * NHW + (size_t)(n0 + j) * HW;
                    const real *src = row + j * OHW;
                    for (int oh = 0; oh < OH; oh++) {
                        int ih = oh * S - P + kh;
                        if (ih < 0 || ih >= H) continue;
                        real *drow = img + (size_t)ih * W - P + kw;
                        const real *srow = src + (size_t)oh * OW;
                        for (int ow = ow_lo; ow < ow_hi; ow++) drow[ow * S] += srow[ow];
                    }
                }
            }
}

/* A 1x1 stride-1 convolution reads its input in place: no lowering needed. */
static int is_pointwise(const brn_conv_shape *s) { return s->k == 1 && s->stride == 1; }

void FN(conv_forward)(real *y, const real *x, const real *w, const brn_conv_shape *s, real *scratch)
{
    if (brn_cpu_wino_applies(s)) {
        FN(wino_conv_forward)(y, x, w, s, scratch);
        return;
    }
    const int KK = s->cin * s->k * s->k, O = s->cout, nc = brn_cpu_conv_chunk_images(s);
    const size_t OHW = (size_t)s->oh * s->ow, NOHW = (size_t)s->n * OHW, HW = (size_t)s->h * s->w;
    const int chunks = (s->n + nc - 1) / nc, T = brn_cpu_threads();
    const size_t per_thread = brn_cpu_conv_scratch_size(s);
#pragma omp parallel for schedule(dynamic) num_threads(T)
    for (int ch = 0; ch < chunks; ch++) {
        int n0 = ch * nc, cnt = s->n - n0 < nc ? s->n - n0 : nc;
        const int cols = (int)(cnt * OHW);
        if (is_pointwise(s)) {
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, cols, KK, 1, w, KK,
                       x + n0 * HW, (int)(s->n * HW), 0, y + n0 * OHW, (int)NOHW);
            continue;
        }
        real *col = scratch + per_thread * omp_get_thread_num();
        im2col(col, x, s, n0, cnt);
        cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, cols, KK, 1, w, KK, col, cols, 0,
                   y + n0 * OHW, (int)NOHW);
    }
}

/* dw_scratch's thread slices += this thread's chunks' dL/dw; dx = (or +=) dL/dx */
static void lowered_backward(real *dx, const real *dy, const real *x, const real *w, const brn_conv_shape *s,
                             int accumulate_dx, real *scratch, real *dw_scratch)
{
    const int KK = s->cin * s->k * s->k, O = s->cout, nc = brn_cpu_conv_chunk_images(s);
    const size_t OHW = (size_t)s->oh * s->ow, NOHW = (size_t)s->n * OHW, HW = (size_t)s->h * s->w;
    const size_t NHW = (size_t)s->n * HW, wsize = (size_t)O * KK;
    const int chunks = (s->n + nc - 1) / nc;
    const size_t per_thread = brn_cpu_conv_scratch_size(s);
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (int ch = 0; ch < chunks; ch++) {
        int tid = omp_get_thread_num();
        int n0 = ch * nc, cnt = s->n - n0 < nc ? s->n - n0 : nc;
        const int cols = (int)(cnt * OHW);
        real *dwt = dw_scratch + wsize * tid;
        if (is_pointwise(s)) {
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, KK, cols, 1, dy + n0 * OHW, (int)NOHW,
                       x + n0 * HW, (int)NHW, 1, dwt, KK);
            if (dx)
                cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, KK, cols, O, 1, w, KK, dy + n0 * OHW,
                           (int)NOHW, accumulate_dx ? 1 : 0, dx + n0 * HW, (int)NHW);
            continue;
        }
        real *col = scratch + per_thread * tid, *dcol = col + per_thread / 2;
        im2col(col, x, s, n0, cnt);
        cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, KK, cols, 1, dy + n0 * OHW, (int)NOHW, col,
                   cols, 1, dwt, KK);
        if (!dx) continue;
        cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, KK, cols, O, 1, w, KK, dy + n0 * OHW, (int)NOHW,
                   0, dcol, cols);
        if (!accumulate_dx)
            for (int c = 0; c < s->cin; c++) memset(dx + c * NHW + n0 * HW, 0, sizeof(real) * cnt * HW);
        col2im(dx, dcol, s, n0, cnt);
    }
}

void FN(conv_backward)(real *dx, real *dw, const real *dy, const real *x, const real *w,
                       const brn_conv_shape *s, int accumulate_dx, real *scratch, real *dw_scratch)
{
    if (brn_cpu_wino_applies(s)) {
        FN(wino_conv_backward)(dx, dw, dy, x, w, s, accumulate_dx, scratch);
        return;
    }
    const size_t wsize = (size_t)s->cout * s->cin * s->k * s->k;
    const int T = brn_cpu_threads();
    memset(dw_scratch, 0, sizeof(real) * wsize * T);
    lowered_backward(dx, dy, x, w, s, accumulate_dx, scratch, dw_scratch);
#pragma omp parallel for schedule(static) num_threads(T)
    for (size_t i = 0; i < wsize; i++) {
        real acc = 0;
        for (int t = 0; t < T; t++) acc += dw_scratch[wsize * t + i];
        dw[i] += acc;
    }
}
