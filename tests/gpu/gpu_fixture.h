/* What the GPU tests share: skipping without a GPU, the two backends, fresh random
 * inputs, host <-> backend copies through backend.h, and the comparison every check uses.
 *
 * Comparison: a tensor passes when its worst element error is within `tol` of the
 * tensor's scale (its largest reference magnitude): max_i |got_i - ref_i| <= tol * max_i
 * |ref_i|, and no element is NaN or infinite where the reference is finite. Every
 * comparison prints its worst element, pass or fail. Include after check.h. */
#ifndef BRN_GPU_FIXTURE_H
#define BRN_GPU_FIXTURE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "rng.h"
#ifdef BRN_HAVE_CUDA
#include "cuda/backend_cuda.h"
#endif

#define GPU_SKIP 77   /* tests/run.sh: the test cannot run here */

/* Exits with GPU_SKIP, saying why, when this build or machine has no usable GPU. */
static inline void gpu_require(const char *test)
{
#ifndef BRN_HAVE_CUDA
    printf("%s: SKIP: this build has no CUDA backend (built without nvcc, or with BRN_CUDA=0)\n", test);
    exit(GPU_SKIP);
#else
    char why[256] = "";
    if (brn_cuda_device_count(why, sizeof why) == 0) {
        printf("%s: SKIP: no usable GPU: %s\n", test, why);
        exit(GPU_SKIP);
    }
#endif
}

static inline brn_backend *gpu_backend(brn_precision p)
{
    brn_backend *be = NULL;
#ifdef BRN_HAVE_CUDA
    char err[512];
    if (brn_cuda_backend_create(0, p, &be, err, sizeof err)) {
        fprintf(stderr, "brn_cuda_backend_create(%s): %s\n", brn_precision_name(p), err);
        exit(1);
    }
#endif
    return be;
}

static inline brn_backend *cpu_backend(int threads)
{
    brn_backend *be = NULL;
    char err[256];
    if (brn_cpu_backend_create(threads, &be, err, sizeof err)) {
        fprintf(stderr, "brn_cpu_backend_create: %s\n", err);
        exit(1);
    }
    return be;
}

/* The run's seed: BRN_TEST_SEED when set (to replay a failure), else fresh; printed. */
static inline uint64_t test_seed(void)
{
    const char *e = getenv("BRN_TEST_SEED");
    uint64_t s = e ? strtoull(e, NULL, 0) : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
    printf("seed %llu (BRN_TEST_SEED=%llu replays it)\n", (unsigned long long)s, (unsigned long long)s);
    return s;
}

static brn_rng fixture_rng;

static inline float *randn(size_t n, double mean, double sd)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) p[i] = (float)(mean + sd * brn_rng_normal(&fixture_rng));
    return p;
}

static inline float *filled(size_t n, float v)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) p[i] = v;
    return p;
}

static inline float *copy_of(const float *src, size_t n)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    memcpy(p, src, sizeof(float) * n);
    return p;
}

/* x rounded to the nearest bf16 (ties to even), as the GPU stores bf16 activations */
static inline float bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

static inline float *bf16_rounded(const float *src, size_t n)
{
    float *p = copy_of(src, n);
    for (size_t i = 0; i < n; i++) p[i] = bf16_round(p[i]);
    return p;
}

static inline size_t act_n(brn_act_shape s) { return (size_t)s.c * s.n * s.h * s.w; }

/* ---- host <-> backend through backend.h ---------------------------------------------------- */

static inline void *put_act(brn_backend *be, const float *cnhw, brn_act_shape s)
{
    void *d = be->ops->alloc(be, be->act_bytes * act_n(s) + 64);
    CHECK(d != NULL);
    be->ops->upload_act(be, d, cnhw, s);
    return d;
}

static inline float *get_act(brn_backend *be, const void *d, brn_act_shape s)
{
    float *h = malloc(sizeof(float) * act_n(s));
    char err[512] = "";
    int rc = be->ops->download_act(be, h, d, s, err, sizeof err);
    if (rc) fprintf(stderr, "    download_act on %s: %s\n", be->device, err);
    CHECK_EQ_INT(rc, 0);
    return h;
}

static inline void *put_bytes(brn_backend *be, const void *host, size_t bytes)
{
    void *d = be->ops->alloc(be, bytes + 64);
    CHECK(d != NULL);
    if (host) be->ops->upload(be, d, host, bytes);
    else be->ops->zero(be, d, bytes);
    return d;
}

static inline float *put_floats(brn_backend *be, const float *host, size_t n)
{
    return put_bytes(be, host, sizeof(float) * n);
}

static inline void get_bytes(brn_backend *be, void *host, const void *d, size_t bytes)
{
    char err[512] = "";
    int rc = be->ops->download(be, host, d, bytes, err, sizeof err);
    if (rc) fprintf(stderr, "    download on %s: %s\n", be->device, err);
    CHECK_EQ_INT(rc, 0);
}

static inline float *get_floats(brn_backend *be, const float *d, size_t n)
{
    float *h = malloc(sizeof(float) * (n ? n : 1));
    get_bytes(be, h, d, sizeof(float) * n);
    return h;
}

/* A conv weight [O][I][K][K] through the layout boundary. */
static inline float *put_conv_weight(brn_backend *be, const float *oihw, const brn_conv_shape *s)
{
    const int shape[4] = {s->cout, s->cin, s->k, s->k};
    const size_t n = (size_t)s->cout * s->cin * s->k * s->k;
    float *d = be->ops->alloc(be, sizeof(float) * n + 64);
    CHECK(d != NULL);
    be->ops->upload_tensor(be, d, oihw, shape, 4, BRN_TENSOR_LAYOUT_CONV);
    return d;
}

static inline float *get_conv_weight(brn_backend *be, const float *d, const brn_conv_shape *s)
{
    const int shape[4] = {s->cout, s->cin, s->k, s->k};
    const size_t n = (size_t)s->cout * s->cin * s->k * s->k;
    float *h = malloc(sizeof(float) * n);
    char err[512] = "";
    int rc = be->ops->download_tensor(be, h, d, shape, 4, BRN_TENSOR_LAYOUT_CONV, err, sizeof err);
    if (rc) fprintf(stderr, "    download_tensor on %s: %s\n", be->device, err);
    CHECK_EQ_INT(rc, 0);
    return h;
}

static inline void sync_ok(brn_backend *be, const char *what)
{
    char err[512] = "";
    int rc = be->ops->synchronize(be, err, sizeof err);
    if (rc) fprintf(stderr, "    %s on %s: %s\n", what, be->device, err);
    CHECK_EQ_INT(rc, 0);
}

/* ---- the comparison ----------------------------------------------------------------------- */

/* Worst-element comparison (see the top of this file); prints one line; returns 1 when it passed. */
static inline int compare(const char *what, const float *got, const float *ref, size_t n, double tol)
{
    double scale = 0, worst = 0;
    size_t at = 0, bad = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)ref[i]) > scale) scale = fabs((double)ref[i]);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!isfinite(got[i]) || !isfinite(ref[i])) {   /* a NaN reference must not pass as error 0 */
            bad++;
            d = INFINITY;
        }
        if (d > worst) {   /* the first non-finite element wins: INFINITY beats every error */
            worst = d;
            at = i;
        }
    }
    const double rel = scale > 0 ? worst / scale : worst;
    const int ok = bad == 0 && rel <= tol;
    check_count++;
    if (!ok) check_failures++;
    printf("  %-4s %-44s n=%-8zu worst |d|=%.3g at %zu (got %.9g, ref %.9g), scale %.3g, |d|/scale %.3g (tol %.1g)%s\n",
           ok ? "ok" : "FAIL", what, n, worst, at, n ? got[at] : 0.0, n ? ref[at] : 0.0, scale, rel, tol,
           bad ? " NON-FINITE" : "");
    return ok;
}

/* Bitwise equality of n floats; prints the first difference. */
static inline int compare_exact(const char *what, const float *got, const float *ref, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &ref[i], sizeof(float))) {
            check_count++;
            check_failures++;
            printf("  FAIL %-44s n=%-8zu first difference at %zu: got %.9g, ref %.9g (bitwise required)\n", what, n,
                   i, got[i], ref[i]);
            return 0;
        }
    check_count++;
    printf("  ok   %-44s n=%-8zu bitwise equal\n", what, n);
    return 1;
}

#endif
