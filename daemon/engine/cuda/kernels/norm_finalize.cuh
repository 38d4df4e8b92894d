/* Between the two passes of a normalization (norm_pass.cuh): per-channel (BN/BRN) or
 * per-example (GN/LN) kernels that reduce the partial sums in double, in a fixed order, and
 * compute what the CPU layers compute (cpu/norm.c) — the statistics, `saved`, BRN's r and
 * d, the running update, the parameter gradients — and the coefficients of the apply pass.
 *
 * A block of 256 threads serves one channel (or example) and its segments in rounds: the
 * block is cut into `slots` of tpg threads (tpg = 256 / slots, a multiple of 32), each slot
 * reduces one segment, and the slot's first thread ("leader") finishes that segment.
 * (Kernels that are not templates are static: this header may serve several sources.) */
#ifndef BRN_CUDA_NORM_FINALIZE_CUH
#define BRN_CUDA_NORM_FINALIZE_CUH

#include "norm_pass.cuh"
#include "reduce.cuh"

namespace brnk {

__device__ __forceinline__ double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Settings of one BN/BRN finalize. */
struct bn_fin_args {
    double eps;
    int renorm;   /* BRN: r and d from the running statistics */
    int update;   /* training: update the running statistics once */
    int tpg;
};

/* BN/BRN forward, block c: per group mu, sigma_B, r, d (saved), the apply coefficients
 * A = gamma r / sigma_B, B = beta + gamma d - A mu, then the running update with the mean
 * over groups (BN: mean, unbiased variance; BRN: mean, sigma_B). */
template <typename T>
__global__ void __launch_bounds__(FIN_THREADS)
    bn_finalize_forward_kernel(float *__restrict__ coef, float *__restrict__ saved, const float *__restrict__ partial,
                               const T *__restrict__ x, const float *__restrict__ gamma,
                               const float *__restrict__ beta, float *__restrict__ run_mean,
                               float *__restrict__ run_var, const brn_step_scalars *__restrict__ sc, norm_geom g,
                               bn_fin_args f)
{
    __shared__ double slot_mean[FIN_MAX_SLOTS], slot_stat[FIN_MAX_SLOTS];
    const int c = blockIdx.x, G = g.nseg, slot = threadIdx.x / f.tpg, lane = threadIdx.x % f.tpg;
    const int slots = blockDim.x / f.tpg;
    const double m = (double)g.seg_rows;
    /* r and d come from the running statistics as they were before this step: this block
     * is the only writer of channel c, and writes it last */
    const double run_mu = run_mean ? run_mean[c] : 0.0, run_sig = run_var ? run_var[c] : 1.0;
    double mean_acc = 0, stat_acc = 0;
    for (int g0 = 0; g0 < G; g0 += slots) {
        const int grp = g0 + slot;
        double s = 0, q = 0;
        if (grp < G) {
            const float *p1 = partial + (size_t)c * g.cols + (size_t)grp * g.chunks;
            const float *p2 = p1 + (size_t)g.c * g.cols;
            for (int j = lane; j < g.chunks; j += f.tpg) {
                s += p1[j];
                q += p2[j];
            }
        }
        slot_sum2(s, q, f.tpg);
        if (lane == 0 && grp < G) {
            const double shift = to_f(x[(size_t)grp * g.seg_rows * g.c + c]);
            const double dmu = s / m, mu = shift + dmu;
            double var = q / m - dmu * dmu;
            if (var < 0) var = 0;
            const double sigma = sqrt(var + f.eps);
            double r = 1, d = 0;
            if (f.renorm) {
                const double rmax = sc->rmax, dmax = sc->dmax;
                r = clampd(sigma / run_sig, 1.0 / rmax, rmax);
                d = clampd((mu - run_mu) / run_sig, -dmax, dmax);
            }
            float *sv = saved + 4 * ((size_t)c * G + grp);
            sv[0] = (float)mu;
            sv[1] = (float)sigma;
            sv[2] = (float)r;
            sv[3] = (float)d;
            const double A = gamma[c] * r / sigma;
            coef[(size_t)grp * g.c + c] = (float)A;
            coef[((size_t)G + grp) * g.c + c] = (float)(beta[c] + gamma[c] * d - A * mu);
            mean_acc += mu;
            stat_acc += f.renorm ? sigma : var * m / (m - 1);
        }
    }
    if (lane == 0) {
        slot_mean[slot] = mean_acc;
        slot_stat[slot] = stat_acc;
    }
    __syncthreads();
    if (threadIdx.x == 0 && f.update) {
        double ms = 0, ss = 0;
        for (int k = 0; k < slots; k++) {
            ms += slot_mean[k];
            ss += slot_stat[k];
        }
        const double mom = sc->norm_momentum;
        run_mean[c] += (float)(mom * (ms / G - run_mu));
        run_var[c] += (float)(mom * (ss / G - run_sig));
    }
}

/* BN/BRN backward, block c: per group sg = sum g, sgz = sum g z; dgamma += sum over groups
 * of r sgz + d sg (r, d constants), dbeta += sg; coefficients of dx = k g - kmg - (x-mu) kx. */
[[maybe_unused]] static __global__ void __launch_bounds__(FIN_THREADS)
    bn_finalize_backward_kernel(float *__restrict__ coef, float *__restrict__ dgamma, float *__restrict__ dbeta,
                                const float *__restrict__ partial, const float *__restrict__ saved,
                                const float *__restrict__ gamma, norm_geom g, int tpg)
{
    __shared__ double slot_dg[FIN_MAX_SLOTS], slot_db[FIN_MAX_SLOTS];
    const int c = blockIdx.x, G = g.nseg, slot = threadIdx.x / tpg, lane = threadIdx.x % tpg;
    const int slots = blockDim.x / tpg;
    const double m = (double)g.seg_rows;
    const size_t plane = (size_t)G * g.c;
    double dg = 0, db = 0;
    for (int g0 = 0; g0 < G; g0 += slots) {
        const int grp = g0 + slot;
        double sg = 0, sgx = 0;
        if (grp < G) {
            const float *p1 = partial + (size_t)c * g.cols + (size_t)grp * g.chunks;
            const float *p2 = p1 + (size_t)g.c * g.cols;
            for (int j = lane; j < g.chunks; j += tpg) {
                sg += p1[j];
                sgx += p2[j];
            }
        }
        slot_sum2(sg, sgx, tpg);
        if (lane == 0 && grp < G) {
            const float *sv = saved + 4 * ((size_t)c * G + grp);
            const double inv_sigma = 1.0 / sv[1], r = sv[2], d = sv[3];
            const double sgz = sgx * inv_sigma;
            dg += r * sgz + d * sg;
            db += sg;
            const float k = (float)(gamma[c] * r * inv_sigma);
            const size_t e = (size_t)grp * g.c + c;
            coef[e] = k;
            coef[plane + e] = (float)(sg / m) * k;
            coef[2 * plane + e] = (float)(sgz / m * inv_sigma) * k;
            coef[3 * plane + e] = sv[0];
        }
    }
    if (lane == 0) {
        slot_dg[slot] = dg;
        slot_db[slot] = db;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double a = 0, b = 0;
        for (int k = 0; k < slots; k++) {
            a += slot_dg[k];
            b += slot_db[k];
        }
        dgamma[c] += (float)a;
        dbeta[c] += (float)b;
    }
}

/* GN/LN forward, block n (one example): per channel group mu, sigma (saved[2*(n*G+grp)]),
 * and the coefficients of every channel: A = gamma / sigma, B = beta - A mu. */
template <typename T>
__global__ void __launch_bounds__(FIN_THREADS)
    gn_finalize_forward_kernel(float *__restrict__ coef, float *__restrict__ saved, const float *__restrict__ partial,
                               const T *__restrict__ x, const float *__restrict__ gamma,
                               const float *__restrict__ beta, double eps, norm_geom g, int tpg)
{
    __shared__ double slot_mu[FIN_MAX_SLOTS], slot_sigma[FIN_MAX_SLOTS];
    const int n = blockIdx.x, G = g.groups, slot = threadIdx.x / tpg, lane = threadIdx.x % tpg;
    const int slots = blockDim.x / tpg;
    const int per_group = g.cg * g.chunks;
    const double m = (double)g.cg * g.seg_rows;
    for (int g0 = 0; g0 < G; g0 += slots) {
        const int grp = g0 + slot;
        double s = 0, q = 0;
        if (grp < G)
            for (int i = lane; i < per_group; i += tpg) {
                const int c = grp * g.cg + i / g.chunks, j = i % g.chunks;
                const size_t e = (size_t)c * g.cols + (size_t)n * g.chunks + j;
                s += partial[e];
                q += partial[(size_t)g.c * g.cols + e];
            }
        slot_sum2(s, q, tpg);
        if (lane == 0 && grp < G) {
            const double shift = to_f(x[(size_t)n * g.seg_rows * g.c + (size_t)grp * g.cg]);
            const double dmu = s / m, mu = shift + dmu;
            double var = q / m - dmu * dmu;
            if (var < 0) var = 0;
            const double sigma = sqrt(var + eps);
            saved[2 * ((size_t)n * G + grp)] = (float)mu;
            saved[2 * ((size_t)n * G + grp) + 1] = (float)sigma;
            slot_mu[slot] = mu;
            slot_sigma[slot] = sigma;
        }
        __syncthreads();
        if (grp < G)
            for (int k = lane; k < g.cg; k += tpg) {
                const int c = grp * g.cg + k;
                const double A = gamma[c] / slot_sigma[slot];
                coef[(size_t)n * g.c + c] = (float)A;
                coef[((size_t)g.nseg + n) * g.c + c] = (float)(beta[c] - A * slot_mu[slot]);
            }
        /* slot_mu is written again only after the next round's slot_sum2 barriers */
    }
}

/* GN/LN backward. Blocks [0, N): example n — per group s1 = sum gamma g, s2 = sum gamma g z,
 * and the coefficients of dx = is (gamma g - s1/m - z s2/m) per channel. Blocks [N, N+C):
 * channel c — dgamma += sum g z, dbeta += sum g over every example. */
[[maybe_unused]] static __global__ void __launch_bounds__(FIN_THREADS)
    gn_finalize_backward_kernel(float *__restrict__ coef, float *__restrict__ dgamma, float *__restrict__ dbeta,
                                const float *__restrict__ partial, const float *__restrict__ saved,
                                const float *__restrict__ gamma, norm_geom g, int tpg)
{
    __shared__ double slot_m1[FIN_MAX_SLOTS], slot_m2[FIN_MAX_SLOTS];
    const size_t second = (size_t)g.c * g.cols;
    if ((int)blockIdx.x >= g.nseg) {   /* a channel: every example, every chunk */
        const int c = blockIdx.x - g.nseg;
        const float *p1 = partial + (size_t)c * g.cols;
        double sg = 0, sgz = 0;
        for (size_t i = threadIdx.x; i < g.cols; i += blockDim.x) {
            sg += p1[i];
            sgz += p1[second + i];
        }
        slot_sum2(sg, sgz, blockDim.x);
        if (threadIdx.x == 0) {
            dgamma[c] += (float)sgz;
            dbeta[c] += (float)sg;
        }
        return;
    }
    const int n = blockIdx.x, G = g.groups, slot = threadIdx.x / tpg, lane = threadIdx.x % tpg;
    const int slots = blockDim.x / tpg, per_group = g.cg * g.chunks;
    const double m = (double)g.cg * g.seg_rows;
    const size_t plane = (size_t)g.nseg * g.c;
    for (int g0 = 0; g0 < G; g0 += slots) {
        const int grp = g0 + slot;
        double s1 = 0, s2 = 0;
        if (grp < G)
            for (int i = lane; i < per_group; i += tpg) {
                const int c = grp * g.cg + i / g.chunks, j = i % g.chunks;
                const size_t e = (size_t)c * g.cols + (size_t)n * g.chunks + j;
                s1 += (double)gamma[c] * partial[e];
                s2 += (double)gamma[c] * partial[second + e];
            }
        slot_sum2(s1, s2, tpg);
        if (lane == 0 && grp < G) {
            slot_m1[slot] = s1 / m;
            slot_m2[slot] = s2 / m;
        }
        __syncthreads();
        if (grp < G) {
            const size_t sv = 2 * ((size_t)n * G + grp);
            const double is = (float)(1.0 / saved[sv + 1]), m1 = slot_m1[slot], m2 = slot_m2[slot];
            for (int k = lane; k < g.cg; k += tpg) {
                const int c = grp * g.cg + k;
                const size_t e = (size_t)n * g.c + c;
                coef[e] = (float)(is * gamma[c]);
                coef[plane + e] = (float)(is * m1);
                coef[2 * plane + e] = (float)(is * is * m2);
                coef[3 * plane + e] = saved[sv];
            }
        }
    }
}

}  // namespace brnk

#endif
