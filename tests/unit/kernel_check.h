/* Helpers of the CUDA kernel tests (test_cuda_*.c): the kernels run under the host
 * emulation (BRN_CUDA_EMU: launchers brn_kemu_*), "device memory" is host memory, and
 * every result is compared with the CPU engine's double-precision layers (the _f64
 * functions) on fresh random inputs, with a tolerance per tensor and the worst element
 * printed (as llm.c's and ggml's kernel tests do).
 *
 * The tolerance of a tensor: |got - want| <= atol + rtol * |want|, where atol is given
 * relative to the tensor's largest |want| (its scale). The printed ratio is the worst
 * |got - want| / (atol + rtol * |want|): a check passes at ratio <= 1. */
#ifndef BRN_KERNEL_CHECK_H
#define BRN_KERNEL_CHECK_H

#ifndef BRN_CUDA_EMU
#define BRN_CUDA_EMU
#endif

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "cuda/kernels.h"
#include "rng.h"

static brn_rng kc_rng;

/* A seed per run (printed; BRN_TEST_SEED repeats one), so every run sees fresh inputs. */
static inline void kc_seed(void)
{
    const char *e = getenv("BRN_TEST_SEED");
    uint64_t seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    fprintf(stderr, "seed %llu (BRN_TEST_SEED=%llu repeats this run)\n", (unsigned long long)seed,
            (unsigned long long)seed);
    brn_rng_init(&kc_rng, seed);
}

static inline double kc_normal(void) { return brn_rng_normal(&kc_rng); }
static inline double kc_uniform(double lo, double hi) { return lo + (hi - lo) * brn_rng_uniform(&kc_rng); }

/* 64-byte aligned "device" memory (zeroed), so the kernels' vector paths are taken */
static inline void *kc_alloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    memset(p, 0, (bytes + 63) & ~(size_t)63);
    return p;
}

/* --- bf16, round to nearest even (written here again, independently of the kernels) ---- */
static inline uint16_t kc_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fff;
    const uint32_t rest = u & 0xffffu, half = 0x8000u;
    uint32_t hi = u >> 16;
    if (rest > half || (rest == half && (hi & 1))) hi++;
    return (uint16_t)hi;
}

static inline float kc_bf16_to_f(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* --- activations: the CPU's CNHW doubles <-> the GPU's NHWC in fp32 or bf16 ------------ */
static inline size_t kc_count(brn_act_shape s) { return (size_t)s.c * s.n * s.h * s.w; }

static inline size_t kc_cnhw(brn_act_shape s, int c, int n, int h, int w)
{
    return (((size_t)c * s.n + n) * s.h + h) * s.w + w;
}

static inline size_t kc_nhwc(brn_act_shape s, int c, int n, int h, int w)
{
    return (((size_t)n * s.h + h) * s.w + w) * s.c + c;
}

/* rounds every value to what the activation type holds (so both sides see equal inputs) */
static inline void kc_round_to(double *v, size_t n, brn_act_type at)
{
    for (size_t i = 0; i < n; i++) v[i] = at == BRN_AT_BF16 ? kc_bf16_to_f(kc_bf16((float)v[i])) : (float)v[i];
}

/* device NHWC (at) from host CNHW doubles */
static inline void *kc_to_nhwc(const double *x, brn_act_shape s, brn_act_type at)
{
    void *d = kc_alloc(kc_count(s) * (at == BRN_AT_BF16 ? 2 : 4));
    for (int c = 0; c < s.c; c++)
        for (int n = 0; n < s.n; n++)
            for (int h = 0; h < s.h; h++)
                for (int w = 0; w < s.w; w++) {
                    const double v = x[kc_cnhw(s, c, n, h, w)];
                    const size_t j = kc_nhwc(s, c, n, h, w);
                    if (at == BRN_AT_BF16)
                        ((uint16_t *)d)[j] = kc_bf16((float)v);
                    else
                        ((float *)d)[j] = (float)v;
                }
    return d;
}

/* host CNHW doubles from device NHWC (at) */
static inline double *kc_from_nhwc(const void *d, brn_act_shape s, brn_act_type at)
{
    double *x = malloc(sizeof(double) * kc_count(s));
    for (int c = 0; c < s.c; c++)
        for (int n = 0; n < s.n; n++)
            for (int h = 0; h < s.h; h++)
                for (int w = 0; w < s.w; w++) {
                    const size_t j = kc_nhwc(s, c, n, h, w);
                    x[kc_cnhw(s, c, n, h, w)] =
                        at == BRN_AT_BF16 ? kc_bf16_to_f(((const uint16_t *)d)[j]) : ((const float *)d)[j];
                }
    return x;
}

static inline float *kc_floats(const double *v, size_t n)
{
    float *f = kc_alloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) f[i] = (float)v[i];
    return f;
}

static inline double *kc_doubles(const float *v, size_t n)
{
    double *d = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) d[i] = v[i];
    return d;
}

/* n values ~ mean + scale * N(0,1), never exactly zero */
static inline double *kc_randn(size_t n, double mean, double scale)
{
    double *v = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) {
        v[i] = mean + scale * kc_normal();
        if (v[i] == 0) v[i] = scale * 1e-3;
    }
    return v;
}

/* --- comparison ------------------------------------------------------------------------ */
typedef struct kc_tol {
    double rtol;       /* relative to |want| */
    double atol_rel;   /* absolute, relative to max |want| of the tensor */
} kc_tol;

/* Describes element i of a tensor for the report ("[c=3 n=1 h=0 w=2]"). */
typedef void (*kc_describe)(size_t i, const void *ctx, char *buf, size_t len);

static inline void kc_describe_act(size_t i, const void *ctx, char *buf, size_t len)
{
    const brn_act_shape *s = ctx;
    const int w = (int)(i % s->w), h = (int)(i / s->w % s->h), n = (int)(i / s->w / s->h % s->n);
    const int c = (int)(i / s->w / s->h / s->n);
    snprintf(buf, len, "[c=%d n=%d h=%d w=%d]", c, n, h, w);
}

static double kc_worst_ratio_seen;   /* over the whole test binary, for the summary */

/* Compares got with want; prints the worst element; returns 1 when within tolerance. */
static inline int kc_compare(const char *name, const double *got, const double *want, size_t n, kc_tol tol,
                      kc_describe describe, const void *ctx)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    const double atol = tol.atol_rel * (scale > 0 ? scale : 1);
    double worst = -1, worst_abs = 0;
    size_t wi = 0;
    int nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs(got[i] - want[i]);
        if (!isfinite(got[i]) && isfinite(want[i])) nonfinite++;
        const double ratio = isnan(d) ? INFINITY : d == 0 ? 0 : d / (atol + tol.rtol * fabs(want[i]));
        if (ratio > worst) worst = ratio, wi = i, worst_abs = d;
    }
    char where[96] = "";
    if (describe)
        describe(wi, ctx, where, sizeof where);
    else
        snprintf(where, sizeof where, "[%zu]", wi);
    const int ok = n == 0 || (worst <= 1 && !nonfinite);
    fprintf(stderr, "  %-4s %-34s n=%-6zu worst %s got %.9g want %.9g |d|=%.3g ratio %.3f (rtol %.1e atol %.1e)\n",
            ok ? "ok" : "FAIL", name, n, where, n ? got[wi] : 0.0, n ? want[wi] : 0.0, worst_abs, worst < 0 ? 0 : worst,
            tol.rtol, atol);
    if (worst > kc_worst_ratio_seen && isfinite(worst)) kc_worst_ratio_seen = worst;
    return ok;
}

#define KC_CHECK(name, got, want, n, tol, describe, ctx) CHECK(kc_compare(name, got, want, n, tol, describe, ctx))

#endif
