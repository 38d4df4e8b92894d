/* The layout boundary: CNHW <-> NHWC activations, OIHW <-> OHWI conv weights, and fp32 <->
 * bf16. Every transposition is one kernel: dst[b][c][r] = src[b][r][c] through 32x32 tiles
 * in shared memory, so that both the reads and the writes are coalesced. */
#include "kcommon.cuh"

namespace brnk {

constexpr int TILE = 32, TILE_ROWS = 8;

/* src [batches][rows][cols] -> dst [batches][cols][rows], converting the element type */
template <typename Tin, typename Tout>
__global__ void __launch_bounds__(TILE *TILE_ROWS)
    transpose_kernel(Tout *__restrict__ dst, const Tin *__restrict__ src, int rows, int cols)
{
    __shared__ float tile[TILE][TILE + 1];   /* +1: columns fall in different banks */
    const size_t plane = (size_t)rows * cols;
    src += (size_t)blockIdx.z * plane;
    dst += (size_t)blockIdx.z * plane;
    const int c0 = blockIdx.x * TILE;
    /* rows can exceed the grid's y limit: each block walks row tiles */
    for (int r0 = blockIdx.y * TILE; r0 < rows; r0 += gridDim.y * TILE) {
        for (int i = threadIdx.y; i < TILE; i += TILE_ROWS) {
            const int r = r0 + i, c = c0 + threadIdx.x;
            if (r < rows && c < cols) tile[i][threadIdx.x] = to_f(src[(size_t)r * cols + c]);
        }
        __syncthreads();
        for (int i = threadIdx.y; i < TILE; i += TILE_ROWS) {
            const int c = c0 + i, r = r0 + threadIdx.x;
            if (r < rows && c < cols) dst[(size_t)c * rows + r] = from_f<Tout>(tile[threadIdx.x][i]);
        }
        __syncthreads();
    }
}

template <typename Tin, typename Tout>
static int transpose(brn_stream st, Tout *dst, const Tin *src, int batches, int rows, int cols)
{
    if ((size_t)batches * rows * cols == 0) return 0;
    if (batches > 65535) return BRN_ERR_INVALID_VALUE;
    const size_t row_tiles = ceil_div((size_t)rows, TILE);
    const dim3 grid((unsigned)ceil_div((size_t)cols, TILE), (unsigned)(row_tiles < 65535 ? row_tiles : 65535),
                    (unsigned)batches);
    return BRN_LAUNCH((transpose_kernel<Tin, Tout>), grid, dim3(TILE, TILE_ROWS), 0, st, dst, src, rows, cols);
}

template <typename T, int V> __global__ void f32_to_act_kernel(T *__restrict__ dst, const float *__restrict__ src, size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float v[V];
        load_f<float, V>(v, src + i * V);
        store_f<T, V>(dst + i * V, v);
    }
}

template <int V> __global__ void add_bf16_to_f32_kernel(float *__restrict__ dst, const bf16 *__restrict__ src, size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float d[V], s[V];
        load_f<float, V>(d, dst + i * V);
        load_f<bf16, V>(s, src + i * V);
        BRN_UNROLL
        for (int k = 0; k < V; k++) d[k] += s[k];
        store_f<float, V>(dst + i * V, d);
    }
}

}  // namespace brnk

using namespace brnk;

/* CNHW is [C][N*H*W]; NHWC is [N*H*W][C]: one transposition either way */
extern "C" int BRN_K(cnhw_to_nhwc)(brn_stream st, void *dst, brn_act_type at, const float *src, brn_act_shape s)
{
    const int p = s.n * s.h * s.w;
    if (at == BRN_AT_BF16) return transpose(st, (bf16 *)dst, src, 1, s.c, p);
    return transpose(st, (float *)dst, src, 1, s.c, p);
}

extern "C" int BRN_K(nhwc_to_cnhw)(brn_stream st, float *dst, const void *src, brn_act_type at, brn_act_shape s)
{
    const int p = s.n * s.h * s.w;
    if (at == BRN_AT_BF16) return transpose(st, dst, (const bf16 *)src, 1, p, s.c);
    return transpose(st, dst, (const float *)src, 1, p, s.c);
}

/* per output channel: [I][KH*KW] <-> [KH*KW][I] */
extern "C" int BRN_K(oihw_to_ohwi)(brn_stream st, float *dst, const float *src, int o, int i, int kh, int kw)
{
    return transpose(st, dst, src, o, i, kh * kw);
}

extern "C" int BRN_K(ohwi_to_oihw)(brn_stream st, float *dst, const float *src, int o, int i, int kh, int kw)
{
    return transpose(st, dst, src, o, kh * kw, i);
}

extern "C" int BRN_K(f32_to_bf16)(brn_stream st, void *dst, const float *src, size_t n)
{
    if (n == 0) return 0;
    const int threads = 256;
    if (vec_width(4, n, src, nullptr) >= 4 && vec_width(2, n, dst) >= 4) {
        const size_t nv = n / 4;
        return BRN_LAUNCH((f32_to_act_kernel<bf16, 4>), grid_for(nv, threads), threads, 0, st, (bf16 *)dst, src, nv);
    }
    return BRN_LAUNCH((f32_to_act_kernel<bf16, 1>), grid_for(n, threads), threads, 0, st, (bf16 *)dst, src, n);
}

extern "C" int BRN_K(add_bf16_to_f32)(brn_stream st, float *dst, const void *src, size_t n)
{
    if (n == 0) return 0;
    const int threads = 256;
    if (vec_width(4, n, dst) >= 4 && vec_width(2, n, src) >= 4) {
        const size_t nv = n / 4;
        return BRN_LAUNCH((add_bf16_to_f32_kernel<4>), grid_for(nv, threads), threads, 0, st, dst, (const bf16 *)src,
                          nv);
    }
    return BRN_LAUNCH((add_bf16_to_f32_kernel<1>), grid_for(n, threads), threads, 0, st, dst, (const bf16 *)src, n);
}
