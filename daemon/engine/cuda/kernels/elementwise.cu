/* The residual add (y += x over an activation) and the linear layer's bias, around cuBLAS's
 * GEMMs: y[i][o] += b[o], db[o] += sum over i of dy[i][o] (in double, in the CPU's order). */
#include "kcommon.cuh"

namespace brnk {

template <typename T, int V> __global__ void add_kernel(T *__restrict__ y, const T *__restrict__ x, size_t packs)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < packs; i += (size_t)gridDim.x * blockDim.x) {
        float a[V], b[V];
        load_f<T, V>(a, y + i * V);
        load_f<T, V>(b, x + i * V);
        BRN_UNROLL
        for (int k = 0; k < V; k++) a[k] += b[k];
        store_f<T, V>(y + i * V, a);
    }
}

__global__ void bias_add_kernel(float *__restrict__ y, const float *__restrict__ b, size_t total, int out)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        y[i] += b[i % out];
}

/* one thread per output, the rows in order: consecutive threads read consecutive columns */
__global__ void bias_grad_kernel(float *__restrict__ db, const float *__restrict__ dy, int n, int out)
{
    const int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= out) return;
    double acc = 0;
    for (int i = 0; i < n; i++) acc += dy[(size_t)i * out + o];
    db[o] += (float)acc;
}

}  // namespace brnk

using namespace brnk;

extern "C" int BRN_K(add)(brn_stream st, void *y, const void *x, brn_act_type at, size_t n)
{
    if (n == 0) return 0;
    return with_type_vec(at, vec_width(act_elem_bytes(at), n, y, x), [&](auto tv) {
        typedef typename decltype(tv)::T T;
        constexpr int V = decltype(tv)::V;
        return BRN_LAUNCH((add_kernel<T, V>), grid_for(n / V, 256), 256, 0, st, (T *)y, (const T *)x, n / V);
    });
}

extern "C" int BRN_K(bias_add)(brn_stream st, float *y, const float *b, int n, int out)
{
    const size_t total = (size_t)n * out;
    if (total == 0) return 0;
    return BRN_LAUNCH(bias_add_kernel, grid_for(total, 256), 256, 0, st, y, b, total, out);
}

extern "C" int BRN_K(bias_grad)(brn_stream st, float *db, const float *dy, int n, int out)
{
    if (out <= 0) return 0;
    return BRN_LAUNCH(bias_grad_kernel, (unsigned)ceil_div((size_t)out, 128), 128, 0, st, db, dy, n, out);
}
