/* One SGD step over the flat parameter buffer, exactly PyTorch's (and the CPU's, cpu/sgd.c)
 * in fp32: g += wd*w; v = momentum*v + g; w -= lr*v, or with Nesterov w -= lr*(g + momentum*v).
 * The learning rate is read from device memory (the step's scalars), so a captured step
 * replays with the schedule's new value. */
#include "kcommon.cuh"

namespace brnk {

template <int V> __device__ __forceinline__ void sgd_pack(float *w, const float *g, float *v, float lr, float mom,
                                                          float wd, int nesterov)
{
    float wv[V], gv[V], vv[V];
    load_f<float, V>(wv, w);
    load_f<float, V>(gv, g);
    load_f<float, V>(vv, v);
    BRN_UNROLL
    for (int k = 0; k < V; k++) {
        const float gk = gv[k] + wd * wv[k];
        vv[k] = mom * vv[k] + gk;
        wv[k] -= lr * (nesterov ? gk + mom * vv[k] : vv[k]);
    }
    store_f<float, V>(v, vv);
    store_f<float, V>(w, wv);
}

/* packs of V, then the last n % V values one by one */
template <int V>
__global__ void sgd_kernel(float *__restrict__ w, const float *__restrict__ g, float *__restrict__ v, size_t n,
                           float mom, float wd, int nesterov, const brn_step_scalars *__restrict__ sc)
{
    const float lr = (float)sc->lr;
    const size_t packs = n / V, stride = (size_t)gridDim.x * blockDim.x;
    const size_t first = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    for (size_t i = first; i < packs; i += stride) sgd_pack<V>(w + i * V, g + i * V, v + i * V, lr, mom, wd, nesterov);
    for (size_t i = packs * V + first; i < n; i += stride) sgd_pack<1>(w + i, g + i, v + i, lr, mom, wd, nesterov);
}

}  // namespace brnk

using namespace brnk;

extern "C" int BRN_K(sgd_step)(brn_stream st, float *w, const float *g, float *v, size_t n, const brn_sgd *o,
                               const brn_step_scalars *sc)
{
    if (n == 0) return 0;
    const float mom = (float)o->momentum, wd = (float)o->weight_decay;
    if (vec_width(4, 4, w, g, v) == 4)
        return BRN_LAUNCH(sgd_kernel<4>, grid_for(n / 4 + 1, 256), 256, 0, st, w, g, v, n, mom, wd, o->nesterov, sc);
    return BRN_LAUNCH(sgd_kernel<1>, grid_for(n, 256), 256, 0, st, w, g, v, n, mom, wd, o->nesterov, sc);
}
