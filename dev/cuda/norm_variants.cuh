/* Variants of the BN/BRN kernels, for the benchmark (bench_kernels.cu) to validate and time
 * beside the promoted ones (daemon/engine/cuda/kernels/norm*.cu), as llm.c's dev/cuda does.
 *
 *   naive      one block per (channel, group) walks the group's rows: each warp reads 32
 *              values C floats apart (uncoalesced); the baseline the NHWC tiling replaces
 *   rows xK    the promoted kernels with K times the promoted rows per chunk (fewer, larger
 *              blocks and fewer partial sums, or the reverse): the chunk size's tuning curve
 *
 * Each variant does what the launcher does for BN/BRN training (saved, running update,
 * coefficients, the ReLU) so that the benchmark validates it the same way. */
#ifndef BRN_DEV_NORM_VARIANTS_CUH
#define BRN_DEV_NORM_VARIANTS_CUH

#include "cuda/kernels/norm_finalize.cuh"

namespace brndev {

using namespace brnk;

/* --- naive: one block per (channel, group), 256 threads over its rows -------------------- */

/* a = relu(gamma (r (x - mu) / sigma + d) + beta), statistics in double over the block */
template <typename T>
__global__ void naive_bn_forward_kernel(T *a, float *saved, double *stats, const T *x, const float *gamma,
                                        const float *beta, float *run_mean, float *run_var,
                                        const brn_step_scalars *sc, int c_count, int groups, long long seg_rows,
                                        double eps, int renorm)
{
    __shared__ double mu_s, sigma_s, r_s, d_s;
    const int c = blockIdx.x, g = blockIdx.y;
    const T *xs = x + (size_t)g * seg_rows * c_count + c;
    const double shift = to_f(xs[0]);
    double s = 0, q = 0;
    for (long long r = threadIdx.x; r < seg_rows; r += blockDim.x) {
        const double v = to_f(xs[(size_t)r * c_count]) - shift;
        s += v;
        q += v * v;
    }
    slot_sum2(s, q, blockDim.x);
    if (threadIdx.x == 0) {
        const double m = (double)seg_rows, dmu = s / m, mu = shift + dmu;
        double var = q / m - dmu * dmu;
        if (var < 0) var = 0;
        const double sigma = sqrt(var + eps);
        double r = 1, d = 0;
        if (renorm) {
            r = fmin(fmax(sigma / run_var[c], 1.0 / sc->rmax), sc->rmax);
            d = fmin(fmax((mu - run_mean[c]) / run_var[c], -sc->dmax), sc->dmax);
        }
        float *sv = saved + 4 * ((size_t)c * groups + g);
        sv[0] = (float)mu, sv[1] = (float)sigma, sv[2] = (float)r, sv[3] = (float)d;
        mu_s = mu, sigma_s = sigma, r_s = r, d_s = d;
        stats[2 * ((size_t)c * groups + g)] = mu;
        stats[2 * ((size_t)c * groups + g) + 1] = renorm ? sigma : var * m / (m - 1);
    }
    __syncthreads();
    const double A = gamma[c] * r_s / sigma_s;
    const float Af = (float)A, Bf = (float)(beta[c] + gamma[c] * d_s - A * mu_s);
    T *as = a + (size_t)g * seg_rows * c_count + c;
    for (long long r = threadIdx.x; r < seg_rows; r += blockDim.x) {
        const float v = Af * to_f(xs[(size_t)r * c_count]) + Bf;
        as[(size_t)r * c_count] = from_f<T>(v > 0.0f ? v : 0.0f);
    }
}

/* the running update after every group's statistics exist (one thread per channel) */
__global__ void naive_running_kernel(float *run_mean, float *run_var, const double *stats,
                                     const brn_step_scalars *sc, int c_count, int groups)
{
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= c_count) return;
    const double run_mu = run_mean[c], run_sig = run_var[c];
    double ms = 0, ss = 0;
    for (int g = 0; g < groups; g++) {
        ms += stats[2 * ((size_t)c * groups + g)];
        ss += stats[2 * ((size_t)c * groups + g) + 1];
    }
    run_mean[c] += (float)(sc->norm_momentum * (ms / groups - run_mu));
    run_var[c] += (float)(sc->norm_momentum * (ss / groups - run_sig));
}

template <typename T>
__global__ void naive_bn_backward_kernel(T *dx, float *dgamma, float *dbeta, const T *da, const T *a, const T *x,
                                         const float *saved, const float *gamma, int c_count, int groups,
                                         long long seg_rows)
{
    __shared__ double k_s, kmg_s, kx_s;
    const int c = blockIdx.x, g = blockIdx.y;
    const size_t base = (size_t)g * seg_rows * c_count + c;
    const float *sv = saved + 4 * ((size_t)c * groups + g);
    const float mu = sv[0];
    double sg = 0, sgx = 0;
    for (long long r = threadIdx.x; r < seg_rows; r += blockDim.x) {
        const size_t o = base + (size_t)r * c_count;
        const float gi = to_f(a[o]) <= 0.0f ? 0.0f : to_f(da[o]);
        sg += gi;
        sgx += gi * (to_f(x[o]) - mu);
    }
    slot_sum2(sg, sgx, blockDim.x);
    if (threadIdx.x == 0) {
        const double m = (double)seg_rows, inv_sigma = 1.0 / sv[1], r = sv[2], d = sv[3], sgz = sgx * inv_sigma;
        /* one block per (c, g) adds to dgamma[c]: with several groups that would race, so
         * the benchmark runs this variant with one group (G = 1) only */
        dgamma[c] += (float)(r * sgz + d * sg);
        dbeta[c] += (float)sg;
        const float k = (float)(gamma[c] * r * inv_sigma);
        k_s = k, kmg_s = (float)(sg / m) * k, kx_s = (float)(sgz / m * inv_sigma) * k;
    }
    __syncthreads();
    const float k = (float)k_s, kmg = (float)kmg_s, kx = (float)kx_s;
    for (long long r = threadIdx.x; r < seg_rows; r += blockDim.x) {
        const size_t o = base + (size_t)r * c_count;
        const float gi = to_f(a[o]) <= 0.0f ? 0.0f : to_f(da[o]);
        dx[o] = from_f<T>(k * gi - kmg - (to_f(x[o]) - mu) * kx);
    }
}

/* ws: 2 * C * G doubles of scratch */
template <typename T>
static int naive_forward(const brn_norm_desc *d, const brn_norm_tensors *t, void *a, const void *x,
                         const brn_step_scalars *sc, void *ws)
{
    const int G = d->shape.n / d->group;
    const long long seg_rows = (long long)d->group * d->shape.h * d->shape.w;
    const int renorm = d->kind == BRN_NORM_BRN;
    int rc = BRN_LAUNCH((naive_bn_forward_kernel<T>), dim3(d->shape.c, G), 256, 0, nullptr, (T *)a, t->saved,
                        (double *)ws, (const T *)x, t->gamma, t->beta, t->run_mean, t->run_var, sc, d->shape.c, G,
                        seg_rows, d->eps, renorm);
    if (rc) return rc;
    return BRN_LAUNCH(naive_running_kernel, (unsigned)ceil_div(d->shape.c, 128), 128, 0, nullptr, t->run_mean,
                      t->run_var, (const double *)ws, sc, d->shape.c, G);
}

template <typename T>
static int naive_backward(const brn_norm_desc *d, const brn_norm_tensors *t, void *dx, const void *da, const void *a,
                          const void *x)
{
    const int G = d->shape.n / d->group;
    const long long seg_rows = (long long)d->group * d->shape.h * d->shape.w;
    return BRN_LAUNCH((naive_bn_backward_kernel<T>), dim3(d->shape.c, G), 256, 0, nullptr, (T *)dx, t->dgamma,
                      t->dbeta, (const T *)da, (const T *)a, (const T *)x, t->saved, t->gamma, d->shape.c, G,
                      seg_rows);
}

/* --- the promoted kernels with another chunk size (BN/BRN, ReLU on) ----------------------- */

static norm_geom scaled_geom(const brn_norm_desc *d, int v, double rows_scale)
{
    const int G = d->shape.n / d->group;
    norm_geom g = norm_geom_make(d->shape.c, v, G, (long long)d->group * d->shape.h * d->shape.w, 1, G);
    g.rows = (int)(g.rows * rows_scale);
    if (g.rows < 1) g.rows = 1;
    g.chunks = (int)ceil_div((size_t)g.seg_rows, (size_t)g.rows);
    g.cols = (size_t)g.nseg * g.chunks;
    return g;
}

/* workspace floats the scaled geometry needs */
static size_t scaled_ws_floats(const norm_geom &g) { return 2 * (size_t)g.c * g.cols + 4 * (size_t)g.nseg * g.c + 64; }

template <typename T, int V>
static int scaled_forward(double rows_scale, const brn_norm_desc *d, const brn_norm_tensors *t, void *a, const void *x,
                          const brn_step_scalars *sc, float *ws)
{
    const norm_geom g = scaled_geom(d, V, rows_scale);
    float *partial = ws, *coef = ws + ((2 * (size_t)g.c * g.cols + 63) & ~(size_t)63);
    const unsigned threads = norm_pass_threads(g);
    int rc = BRN_LAUNCH((norm_stats_kernel<T, V, STATS_BN_FWD, false>), norm_pass_grid(g), threads,
                        2 * sizeof(float) * threads * V, nullptr, partial, (const T *)x, (const T *)nullptr,
                        (const T *)nullptr, (const float *)nullptr, g);
    if (rc) return rc;
    bn_fin_args f;
    f.eps = d->eps;
    f.renorm = d->kind == BRN_NORM_BRN;
    f.update = 1;
    f.tpg = FIN_THREADS / fin_slots(g.nseg);
    rc = BRN_LAUNCH((bn_finalize_forward_kernel<T>), d->shape.c, FIN_THREADS, 0, nullptr, coef, t->saved, partial,
                    (const T *)x, t->gamma, t->beta, t->run_mean, t->run_var, sc, g, f);
    if (rc) return rc;
    return BRN_LAUNCH((norm_apply_kernel<T, V, true, false>), norm_pass_grid(g), threads, 0, nullptr, (T *)a,
                      (const T *)x, (const float *)coef, t->gamma, t->beta, t->run_mean, t->run_var, d->eps,
                      f.renorm, g);
}

template <typename T, int V>
static int scaled_backward(double rows_scale, const brn_norm_desc *d, const brn_norm_tensors *t, void *dx,
                           const void *da, const void *a, const void *x, float *ws)
{
    const norm_geom g = scaled_geom(d, V, rows_scale);
    float *partial = ws, *coef = ws + ((2 * (size_t)g.c * g.cols + 63) & ~(size_t)63);
    const unsigned threads = norm_pass_threads(g);
    int rc = BRN_LAUNCH((norm_stats_kernel<T, V, STATS_BN_BWD, true>), norm_pass_grid(g), threads,
                        2 * sizeof(float) * threads * V, nullptr, partial, (const T *)x, (const T *)da, (const T *)a,
                        (const float *)t->saved, g);
    if (rc) return rc;
    rc = BRN_LAUNCH(bn_finalize_backward_kernel, d->shape.c, FIN_THREADS, 0, nullptr, coef, t->dgamma, t->dbeta,
                    (const float *)partial, (const float *)t->saved, t->gamma, g, FIN_THREADS / fin_slots(g.nseg));
    if (rc) return rc;
    return BRN_LAUNCH((norm_apply_backward_kernel<T, V, true>), norm_pass_grid(g), threads, 0, nullptr, (T *)dx,
                      (const T *)da, (const T *)a, (const T *)x, (const float *)coef, g);
}

}  // namespace brndev

#endif
