/* Kernels that exercise the CUDA emulation itself (cuda/emu/), built as host C++ only and
 * called by tests/unit/test_cuda_emu.c: barriers, shuffles, shared memory, launch
 * geometry, and the errors the emulation must report. */
#include "cuda/kernels/kcommon.cuh"

using namespace brnk;

/* sum of n values by one block: shared memory, barriers, then shuffles in the last warp */
__global__ void reduce_kernel(float *out, const float *in, int n)
{
    __shared__ float part[256];
    float s = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += in[i];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int half = 128; half >= 32; half /= 2) {
        if ((int)threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x < 32) {
        float v = warp_sum(part[threadIdx.x]);
        if (threadIdx.x == 0) *out = v;
    }
}

extern "C" int emu_selftest_reduce(float *out, const float *in, int n)
{
    return BRN_LAUNCH(reduce_kernel, 1, 256, 0, nullptr, out, in, n);
}

/* thread 5 leaves before the barrier the others wait at */
__global__ void divergent_kernel(int *out)
{
    if (threadIdx.x == 5) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}

extern "C" int emu_selftest_divergent(int *out) { return BRN_LAUNCH(divergent_kernel, 2, 64, 0, nullptr, out); }

/* out[4*t + k]: xor 1, down 3 (width 16), up 2, read lane 7 of each 8-lane segment */
__global__ void shuffle_kernel(int *out)
{
    const int t = threadIdx.x, v = 100 + t;
    out[4 * t + 0] = __shfl_xor_sync(0xffffffffu, v, 1);
    out[4 * t + 1] = __shfl_down_sync(0xffffffffu, v, 3, 16);
    out[4 * t + 2] = __shfl_up_sync(0xffffffffu, v, 2);
    out[4 * t + 3] = __shfl_sync(0xffffffffu, v, 7, 8);
}

extern "C" int emu_selftest_shuffle(int *out) { return BRN_LAUNCH(shuffle_kernel, 1, 64, 0, nullptr, out); }

/* lane 3 leaves; the rest of its warp shuffles with a mask that names it */
__global__ void shuffle_missing_kernel(int *out)
{
    if (threadIdx.x == 3) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (int)threadIdx.x, 1);
}

extern "C" int emu_selftest_shuffle_missing(int *out)
{
    return BRN_LAUNCH(shuffle_missing_kernel, 1, 32, 0, nullptr, out);
}

/* each (block, thread) records its linear id once: out[id] += 1 + the coordinates' check */
__global__ void geometry_kernel(int *out, int *bad)
{
    const unsigned tpb = blockDim.x * blockDim.y * blockDim.z;
    const unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    out[b * tpb + t] += 1;
    if (threadIdx.x >= blockDim.x || threadIdx.y >= blockDim.y || threadIdx.z >= blockDim.z ||
        blockIdx.x >= gridDim.x || blockIdx.y >= gridDim.y || blockIdx.z >= gridDim.z)
        *bad = 1;
}

extern "C" int emu_selftest_geometry(int *out, int *bad, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                     unsigned by, unsigned bz)
{
    return BRN_LAUNCH(geometry_kernel, dim3(gx, gy, gz), dim3(bx, by, bz), 0, nullptr, out, bad);
}

/* out[0]: what dynamic shared memory held before any write (poison: NaN); out[1 + t]: the
 * value thread (t+1) % n wrote, read after a barrier */
__global__ void dynamic_smem_kernel(float *out)
{
    BRN_DYNAMIC_SHARED(float, sh);
    const int t = threadIdx.x, n = blockDim.x;
    if (t == 0) out[0] = sh[n];
    __syncthreads();
    sh[t] = 2.0f * t;
    __syncthreads();
    out[1 + t] = sh[(t + 1) % n];
}

extern "C" int emu_selftest_dynamic_smem(float *out, int threads)
{
    return BRN_LAUNCH(dynamic_smem_kernel, 1, threads, sizeof(float) * (threads + 1), nullptr, out);
}

/* the same without the barrier between the writes and the reads: a race the alternating
 * thread order turns into stale reads */
__global__ void missing_barrier_kernel(float *out)
{
    BRN_DYNAMIC_SHARED(float, sh);
    const int t = threadIdx.x, n = blockDim.x;
    sh[t] = 2.0f * t;
    out[t] = sh[(t + 1) % n];
}

extern "C" int emu_selftest_missing_barrier(float *out, int threads)
{
    return BRN_LAUNCH(missing_barrier_kernel, 1, threads, sizeof(float) * threads, nullptr, out);
}

extern "C" int emu_selftest_bad_block(float *out)
{
    return BRN_LAUNCH(missing_barrier_kernel, 1, 2048, 0, nullptr, out);
}

__global__ void bf16_kernel(uint16_t *out, const float *in, int n)
{
    const int i = threadIdx.x;
    if (i >= n) return;
    const bf16 b = __float2bfloat16_rn(in[i]);
    uint16_t bits;
    memcpy(&bits, &b, sizeof bits);
    out[i] = bits;
    if (__bfloat162float(b) != __bfloat162float(b) && in[i] == in[i]) out[i] = 1;   /* never: a number stays one */
}

extern "C" int emu_selftest_bf16(uint16_t *out, const float *in, int n)
{
    return BRN_LAUNCH(bf16_kernel, 1, 64, 0, nullptr, out, in, n);
}

extern "C" const char *emu_selftest_last_error(void) { return brn_emu::last_error(); }
