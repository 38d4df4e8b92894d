/* A small host emulation of the CUDA execution model, so that our kernel sources
 * (cuda/kernels/ *.cu) compile as host C++ (-DBRN_CUDA_EMU) and the tests run them on
 * machines without a GPU. Kernels include it through cuda/kernels/kcommon.cuh, never directly.
 *
 * What it models: a launch runs every block of the grid, one after the other in a
 * scrambled but fixed order; the threads of a block run as fibers (their own stacks, a
 * small context switch), each until it reaches __syncthreads() or a warp operation, in an
 * order that alternates between ascending and descending thread index from one barrier
 * phase to the next. __syncthreads() is a barrier of the whole block; a thread that
 * finishes while others wait at a barrier is reported as divergence. Warp shuffles and
 * __syncwarp() exchange values among the lanes named in their mask (32 lanes per warp,
 * numbered by linear thread index); a named lane that never arrives is reported.
 * threadIdx, blockIdx, blockDim, gridDim are the running fiber's. Dynamic shared memory is
 * allocated per block and filled with 0xff bytes (NaN as float) so that reading what no
 * thread wrote shows; static __shared__ variables are per-OS-thread statics, shared by the
 * threads of a block (they keep the previous block's values: uninitialized reads of them
 * are not detected). __nv_bfloat16 is a 16-bit type with round-to-nearest-even conversions.
 *
 * What it cannot show: data races between threads (one fiber runs at a time, so memory is
 * sequentially consistent; the alternating order only makes some missing barriers show as
 * wrong results), the GPU's memory ordering and caches, timing, occupancy and register
 * limits, tensor cores, cuDNN and cuBLAS, and the GPU's floating-point details (FMA
 * contraction and fast-math intrinsics differ from the host compiler's). Those are checked
 * on a real GPU (scripts/gpu-check.sh: the GPU tests and compute-sanitizer). */
#ifndef BRN_CUDA_EMU_H
#define BRN_CUDA_EMU_H

#ifndef BRN_CUDA_EMU
#error "cuda/emu/emu.h is the host emulation: build with -DBRN_CUDA_EMU"
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <utility>

/* --- CUDA's qualifiers and built-in types ------------------------------------------------- */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
/* one per OS thread, shared by the fibers (threads) of the block running on it */
#define __shared__ static thread_local

struct uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace brn_emu {

/* CUDA's error codes for what the emulation reports */
enum { ERR_INVALID_VALUE = 1, ERR_INVALID_CONFIGURATION = 9, ERR_LAUNCH_FAILURE = 719 };

const uint3 &thread_idx();
const uint3 &block_idx();
const dim3 &block_dim();
const dim3 &grid_dim();
void *dynamic_shared();
/* the block barrier and the warp exchange (mask: the lanes that take part; value: this
 * lane's bits; src_lane: whose bits to return, or -1 for none) */
void block_barrier();
uint64_t warp_exchange(unsigned mask, uint64_t value, int src_lane);
int lane_id();

/* Runs body() as every thread of every block; 0 or a CUDA error code (the reason is
 * printed to stderr and kept for last_error()). */
int launch_body(const char *name, dim3 grid, dim3 block, size_t dynamic_smem, const std::function<void()> &body);
const char *last_error();

/* kernel(args...) as a launch: the arguments are converted to the kernel's parameter types
 * once, as a real launch copies them, and every thread calls the kernel with them */
template <typename... P, typename... A>
int launch(const char *name, dim3 grid, dim3 block, size_t smem, void (*kernel)(P...), A &&...args)
{
    static_assert(sizeof...(P) == sizeof...(A), "kernel argument count");
    std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
    return launch_body(name, grid, block, smem, [&] { std::apply(kernel, params); });
}

template <typename T> inline uint64_t to_bits(T v)
{
    static_assert(sizeof(T) <= 8, "a shuffle moves at most 8 bytes");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof v);
    return b;
}

template <typename T> inline T from_bits(uint64_t b)
{
    T v;
    std::memcpy(&v, &b, sizeof v);
    return v;
}

}  // namespace brn_emu

#define threadIdx (brn_emu::thread_idx())
#define blockIdx (brn_emu::block_idx())
#define blockDim (brn_emu::block_dim())
#define gridDim (brn_emu::grid_dim())
#define warpSize 32

/* The barrier is an opaque call; the empty asm tells the compiler that memory (shared
 * statics included) may have changed across it. */
inline void __syncthreads()
{
    __asm__ __volatile__("" ::: "memory");
    brn_emu::block_barrier();
    __asm__ __volatile__("" ::: "memory");
}

inline void __syncwarp(unsigned mask = 0xffffffffu)
{
    __asm__ __volatile__("" ::: "memory");
    brn_emu::warp_exchange(mask, 0, -1);
    __asm__ __volatile__("" ::: "memory");
}

/* one fiber at a time: every access is already ordered */
inline void __threadfence() { __asm__ __volatile__("" ::: "memory"); }

template <typename T> inline T __shfl_sync(unsigned mask, T v, int src, int width = 32)
{
    const int lane = brn_emu::lane_id(), base = lane & ~(width - 1);
    return brn_emu::from_bits<T>(brn_emu::warp_exchange(mask, brn_emu::to_bits(v), base + (src & (width - 1))));
}

template <typename T> inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32)
{
    const int lane = brn_emu::lane_id(), base = lane & ~(width - 1);
    int src = lane ^ lane_mask;
    if (src >= base + width) src = lane;   /* CUDA: lanes outside the segment read their own value */
    return brn_emu::from_bits<T>(brn_emu::warp_exchange(mask, brn_emu::to_bits(v), src));
}

template <typename T> inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    const int lane = brn_emu::lane_id(), base = lane & ~(width - 1);
    int src = lane + (int)delta;
    if (src >= base + width) src = lane;
    return brn_emu::from_bits<T>(brn_emu::warp_exchange(mask, brn_emu::to_bits(v), src));
}

template <typename T> inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    const int lane = brn_emu::lane_id(), base = lane & ~(width - 1);
    int src = lane - (int)delta;
    if (src < base) src = lane;
    return brn_emu::from_bits<T>(brn_emu::warp_exchange(mask, brn_emu::to_bits(v), src));
}

/* --- bf16: cuda_bf16.h's names, round to nearest even ------------------------------------ */
struct __nv_bfloat16 {
    unsigned short __x;
};

inline __nv_bfloat16 __float2bfloat16_rn(float f)
{
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{0x7fff};   /* NaN: CUDA's canonical one */
    u += 0x7fffu + ((u >> 16) & 1u);
    return __nv_bfloat16{(unsigned short)(u >> 16)};
}

inline float __bfloat162float(__nv_bfloat16 b)
{
    const uint32_t u = (uint32_t)b.__x << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

#endif
