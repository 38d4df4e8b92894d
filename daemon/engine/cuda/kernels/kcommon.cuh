/* What every kernel source shares, in both builds: nvcc (the GPU) and the host emulation
 * (-DBRN_CUDA_EMU, cuda/emu/emu.h). Kernels use CUDA's own names (threadIdx,
 * __syncthreads, __shfl_xor_sync, __nv_bfloat16) plus the few helpers below; launches go
 * through BRN_LAUNCH so that the emulated build can run them. */
#ifndef BRN_CUDA_KCOMMON_CUH
#define BRN_CUDA_KCOMMON_CUH

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef BRN_CUDA_EMU
/* A test binary links both builds (libbrn.a's GPU kernels come in with the CUDA backend):
 * the emulated ones live in a namespace of their own, or the linker would merge same-named
 * kernels and templates of the two. */
#define brnk brnk_emu
#include "cuda/emu/emu.h"
/* kernel<<<grid, block, smem, stream>>>(args...), returning 0 or the launch error */
#define BRN_LAUNCH(kernel, grid, block, smem, stream, ...) \
    brn_emu::launch(#kernel, dim3(grid), dim3(block), (size_t)(smem), kernel, __VA_ARGS__)
#define BRN_ERR_INVALID_VALUE brn_emu::ERR_INVALID_VALUE
#define BRN_UNROLL _Pragma("GCC unroll 16")
#else
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#define BRN_LAUNCH(kernel, grid, block, smem, stream, ...) \
    (kernel<<<(grid), (block), (smem), (cudaStream_t)(stream)>>>(__VA_ARGS__), (int)cudaGetLastError())
#define BRN_ERR_INVALID_VALUE ((int)cudaErrorInvalidValue)
#define BRN_UNROLL _Pragma("unroll")
#endif

#include "cuda/kernels.h"

/* dynamic shared memory of a launch as T* */
#ifdef BRN_CUDA_EMU
#define BRN_DYNAMIC_SHARED(T, name) T *name = reinterpret_cast<T *>(brn_emu::dynamic_shared())
#else
#define BRN_DYNAMIC_SHARED(T, name)                          \
    extern __shared__ __align__(16) unsigned char brn_smem_[]; \
    T *name = reinterpret_cast<T *>(brn_smem_)
#endif

namespace brnk {

typedef __nv_bfloat16 bf16;

/* --- element types: fp32 math on fp32 or bf16 storage ---------------------------------- */
__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(bf16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16 from_f<bf16>(float v) { return __float2bfloat16_rn(v); }

/* V consecutive elements moved as one aligned access (16 bytes at most) */
template <typename T, int V> struct alignas(sizeof(T) * V) pack {
    T v[V];
};

template <typename T, int V> __device__ __forceinline__ void load_f(float (&out)[V], const T *p)
{
    const pack<T, V> k = *reinterpret_cast<const pack<T, V> *>(p);
    BRN_UNROLL
    for (int i = 0; i < V; i++) out[i] = to_f(k.v[i]);
}

template <typename T, int V> __device__ __forceinline__ void store_f(T *p, const float (&in)[V])
{
    pack<T, V> k;
    BRN_UNROLL
    for (int i = 0; i < V; i++) k.v[i] = from_f<T>(in[i]);
    *reinterpret_cast<pack<T, V> *>(p) = k;
}

/* --- reductions in a fixed order --------------------------------------------------------- */
/* butterfly sum over the 32 lanes of a full warp; every lane gets the same bits */
template <typename F> __device__ __forceinline__ F warp_sum(F v)
{
    BRN_UNROLL
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* --- host side: shapes, vector widths, dispatch ------------------------------------------ */
static inline size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

/* The widest vector (elements, at most 16 bytes) that divides `inner` and keeps every
 * pointer aligned. */
static inline int vec_width(size_t elem_bytes, size_t inner, const void *p0, const void *p1 = nullptr,
                            const void *p2 = nullptr, const void *p3 = nullptr)
{
    int v = (int)(16 / elem_bytes);
    const void *ps[4] = {p0, p1, p2, p3};
    for (; v > 1; v /= 2) {
        bool ok = inner % (size_t)v == 0;
        for (const void *p : ps)
            if (p && (uintptr_t)p % (elem_bytes * (size_t)v)) ok = false;
        if (ok) break;
    }
    return v;
}

static inline size_t act_elem_bytes(brn_act_type at) { return at == BRN_AT_BF16 ? 2 : 4; }

/* A type and vector width as a value, for generic lambdas: f(tv<T, V>{}). */
template <typename T_, int V_> struct tv {
    typedef T_ T;
    static constexpr int V = V_;
};

/* Calls f(tv<T, V>{}) with T the activation type and V a supported vector width. */
template <typename F> static int with_type_vec(brn_act_type at, int v, F &&f)
{
    if (at == BRN_AT_BF16) switch (v) {
        case 8: return f(tv<bf16, 8>{});
        case 4: return f(tv<bf16, 4>{});
        case 2: return f(tv<bf16, 2>{});
        default: return f(tv<bf16, 1>{});
        }
    switch (v) {
    case 4: return f(tv<float, 4>{});
    case 2: return f(tv<float, 2>{});
    default: return f(tv<float, 1>{});
    }
}

/* Calls f(tv<T, 1>{}) with T the activation type. */
template <typename F> static int with_type(brn_act_type at, F &&f)
{
    if (at == BRN_AT_BF16) return f(tv<bf16, 1>{});
    return f(tv<float, 1>{});
}

/* blocks for a grid-stride loop over n items: enough to fill a large GPU, no more */
static inline unsigned grid_for(size_t n, unsigned threads)
{
    size_t b = ceil_div(n, threads);
    const size_t most = 132 * 16;   /* H100/H200: 132 SMs, several waves of residency */
    return (unsigned)(b < 1 ? 1 : b > most ? most : b);
}

}  // namespace brnk

#endif
