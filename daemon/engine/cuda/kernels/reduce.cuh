/* Block-level reductions in a fixed order (deterministic, no atomics), for kernels of 256
 * threads that reduce in "slots": groups of tpg consecutive threads (tpg a multiple of 32
 * dividing the block), each reducing its own data. */
#ifndef BRN_CUDA_REDUCE_CUH
#define BRN_CUDA_REDUCE_CUH

#include "kcommon.cuh"

namespace brnk {

constexpr int FIN_THREADS = 256, FIN_WARPS = FIN_THREADS / 32, FIN_MAX_SLOTS = 8;

/* slots per round for n segments: one segment uses the whole block, many use 32 threads each */
static inline int fin_slots(int n) { return n >= 8 ? 8 : n >= 3 ? 4 : n; }

/* Sums (a, b) over each slot of tpg threads; the slot's leader (threadIdx.x % tpg == 0)
 * receives the sums. Every thread of the block must call it. */
__device__ __forceinline__ void slot_sum2(double &a, double &b, int tpg)
{
    __shared__ double warp_a[FIN_WARPS], warp_b[FIN_WARPS];
    a = warp_sum(a);
    b = warp_sum(b);
    const int warp = threadIdx.x / 32;
    if (threadIdx.x % 32 == 0) {
        warp_a[warp] = a;
        warp_b[warp] = b;
    }
    __syncthreads();
    if (threadIdx.x % tpg == 0) {
        a = b = 0;
        for (int w = warp; w < warp + tpg / 32; w++) {
            a += warp_a[w];
            b += warp_b[w];
        }
    }
    __syncthreads();
}

}  // namespace brnk

#endif
