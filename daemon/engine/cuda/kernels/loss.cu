/* Mean softmax cross-entropy of logits[N][K] (fp32) against labels, as the CPU computes it
 * (cpu/basic.c): per row the first maximum is the prediction, the log-sum-exp is taken in
 * double around that maximum, dlogits = (softmax - onehot) / N. One block: each warp takes
 * rows warp, warp + 32, ..., its lanes the classes; the loss and hits are summed per warp in
 * row order and then over warps in order, so the result does not depend on scheduling. A
 * label outside [0, K) makes the loss NaN (it is never read out of bounds). */
#include "kcommon.cuh"

namespace brnk {

constexpr int XENT_THREADS = 1024, XENT_WARPS = XENT_THREADS / 32;

__global__ void __launch_bounds__(XENT_THREADS)
    softmax_xent_kernel(float *__restrict__ dlogits, const float *__restrict__ logits, const int *__restrict__ labels,
                        int n, int k, brn_step_result *__restrict__ res)
{
    __shared__ double warp_loss[XENT_WARPS], warp_hits[XENT_WARPS];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    double loss = 0, hits = 0;
    for (int row = warp; row < n; row += warps) {
        const float *z = logits + (size_t)row * k;
        /* the first maximum: each lane scans its classes in order, then the lanes agree on
         * the largest value, the smallest index among equals */
        float best = -INFINITY;
        int arg = 0x7fffffff;
        if (lane < k) best = z[lane], arg = lane;
        for (int j = lane + 32; j < k; j += 32)
            if (z[j] > best) best = z[j], arg = j;
        for (int o = 16; o > 0; o >>= 1) {
            const float ob = __shfl_xor_sync(0xffffffffu, best, o);
            const int oa = __shfl_xor_sync(0xffffffffu, arg, o);
            if (ob > best || (ob == best && oa < arg)) best = ob, arg = oa;
        }
        const double mx = z[arg];
        double sum = 0;
        for (int j = lane; j < k; j += 32) sum += exp((double)z[j] - mx);
        sum = warp_sum(sum);
        const double lse = mx + log(sum);
        const int label = labels[row];
        const bool valid = label >= 0 && label < k;
        if (dlogits)
            for (int j = lane; j < k; j += 32)
                dlogits[(size_t)row * k + j] = (float)((exp((double)z[j] - lse) - (j == label ? 1.0 : 0.0)) / n);
        if (lane == 0) {
            loss += valid ? lse - z[label] : NAN;
            hits += arg == label;
        }
    }
    if (lane == 0) {
        warp_loss[warp] = loss;
        warp_hits[warp] = hits;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double l = 0, h = 0;
        for (int w = 0; w < warps; w++) {
            l += warp_loss[w];
            h += warp_hits[w];
        }
        res->loss = l / n;
        res->correct = h;
    }
}

}  // namespace brnk

using namespace brnk;

extern "C" int BRN_K(softmax_xent)(brn_stream st, float *dlogits, const float *logits, const int *labels, int n, int k,
                                   brn_step_result *res)
{
    if (n <= 0 || k <= 0) return BRN_ERR_INVALID_VALUE;
    return BRN_LAUNCH(softmax_xent_kernel, 1, XENT_THREADS, 0, st, dlogits, logits, labels, n, k, res);
}
