/* Global average pool: y[N][C] (fp32) = the mean over H, W of an NHWC activation, summed
 * in double as on the CPU; backward spreads dy / (H*W) over every pixel. */
#include "kcommon.cuh"

namespace brnk {

/* one thread per (example, pack of V channels): the packs of a row are contiguous */
template <typename T, int V>
__global__ void avgpool_forward_kernel(float *__restrict__ y, const T *__restrict__ x, int n, int c, int hw)
{
    const int cv = c / V;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)n * cv;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t e = (size_t)(i / cv), c0 = (i % cv) * V;
        const T *px = x + e * hw * c + c0;
        double acc[V];
        BRN_UNROLL
        for (int k = 0; k < V; k++) acc[k] = 0;
        for (int p = 0; p < hw; p++) {
            float v[V];
            load_f<T, V>(v, px + (size_t)p * c);
            BRN_UNROLL
            for (int k = 0; k < V; k++) acc[k] += v[k];
        }
        BRN_UNROLL
        for (int k = 0; k < V; k++) y[e * c + c0 + k] = (float)(acc[k] / hw);
    }
}

template <typename T, int V>
__global__ void avgpool_backward_kernel(T *__restrict__ dx, const float *__restrict__ dy, size_t packs, int c, int hw)
{
    const float hwf = (float)hw;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < packs; i += (size_t)gridDim.x * blockDim.x) {
        const size_t e = i * V, pixel = e / c, ex = pixel / hw;
        const int c0 = (int)(e % c);
        float v[V];
        BRN_UNROLL
        for (int k = 0; k < V; k++) v[k] = dy[ex * c + c0 + k] / hwf;   /* as the CPU: dy / (float)HW */
        store_f<T, V>(dx + e, v);
    }
}

}  // namespace brnk

using namespace brnk;

extern "C" int BRN_K(avgpool_forward)(brn_stream st, float *y, const void *x, brn_act_type at, brn_act_shape s)
{
    const int hw = s.h * s.w;
    if ((size_t)s.n * s.c * hw == 0) return 0;
    return with_type_vec(at, vec_width(act_elem_bytes(at), (size_t)s.c, x), [&](auto tv) {
        typedef typename decltype(tv)::T T;
        constexpr int V = decltype(tv)::V;
        const size_t threads = (size_t)s.n * (s.c / V);
        return BRN_LAUNCH((avgpool_forward_kernel<T, V>), grid_for(threads, 128), 128, 0, st, y, (const T *)x, s.n,
                          s.c, hw);
    });
}

extern "C" int BRN_K(avgpool_backward)(brn_stream st, void *dx, const float *dy, brn_act_type at, brn_act_shape s)
{
    const int hw = s.h * s.w;
    const size_t n = (size_t)s.n * s.c * hw;
    if (n == 0) return 0;
    return with_type_vec(at, vec_width(act_elem_bytes(at), (size_t)s.c, dx), [&](auto tv) {
        typedef typename decltype(tv)::T T;
        constexpr int V = decltype(tv)::V;
        return BRN_LAUNCH((avgpool_backward_kernel<T, V>), grid_for(n / V, 256), 256, 0, st, (T *)dx, dy, n / V, s.c,
                          hw);
    });
}
