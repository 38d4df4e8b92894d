/* Renorm diagnostics: one block adds the r/d statistics of a BRN layer's saved (C x G
 * entries) to one brn_diag_acc, as the CPU backend does (cpu_renorm_diag): sums of |r - 1|
 * and |d| in double, and how many r and d sit at a clip limit (the limits as floats); nothing
 * on a plain-BN step (rmax <= 1 and dmax <= 0), read from sc so that a replayed graph decides
 * per step. */
#include "reduce.cuh"

namespace brnk {

__global__ void __launch_bounds__(FIN_THREADS)
    renorm_diag_kernel(brn_diag_acc *__restrict__ acc, const float *__restrict__ saved, int entries,
                       const brn_step_scalars *__restrict__ sc)
{
    /* as on the CPU: a limit at 1 or 0 clips nothing; with neither relaxed (the warm-up) nothing counts */
    const bool r_on = sc->rmax > 1, d_on = sc->dmax > 0;
    if (!r_on && !d_on) return;
    const float rmax = (float)sc->rmax, rmin = (float)(1.0 / sc->rmax), dmax = (float)sc->dmax;
    double sum_r = 0, sum_d = 0, r_clip = 0, d_clip = 0;
    for (int e = threadIdx.x; e < entries; e += blockDim.x) {
        const float r = saved[4 * (size_t)e + 2], d = saved[4 * (size_t)e + 3];
        sum_r += fabs((double)r - 1.0);
        sum_d += fabs((double)d);
        r_clip += r_on && (r >= rmax || r <= rmin);
        d_clip += d_on && (d >= dmax || d <= -dmax);
    }
    slot_sum2(sum_r, sum_d, blockDim.x);
    slot_sum2(r_clip, d_clip, blockDim.x);
    if (threadIdx.x == 0) {
        acc->sum_abs_r1 += sum_r;
        acc->sum_abs_d += sum_d;
        acc->r_clipped += r_clip;
        acc->d_clipped += d_clip;
        acc->count += entries;
    }
}

}  // namespace brnk

using namespace brnk;

extern "C" int BRN_K(renorm_diag)(brn_stream st, brn_diag_acc *acc, const float *saved, int channels, int groups,
                                  const brn_step_scalars *sc)
{
    if (channels <= 0 || groups <= 0) return channels == 0 || groups == 0 ? 0 : BRN_ERR_INVALID_VALUE;
    return BRN_LAUNCH(renorm_diag_kernel, 1, FIN_THREADS, 0, st, acc, saved, channels * groups, sc);
}
