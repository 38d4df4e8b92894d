/* Dropout with the CPU's counter-based masks: element (n, h, w, c) of an NHWC activation
 * keeps its value when brn_rng_uniform_at(seed ^ salt, i) >= p, i being its CNHW index
 * ((c*N + n)*H + h)*W + w, so the GPU drops exactly what the CPU drops. The mask is kept per
 * NHWC element for the backward pass. */
#include "kcommon.cuh"
#include "rng.h"

namespace brnk {

/* packs of V channels of one pixel: element e = i*V + k has channel e % C and pixel e / C,
 * whose CNHW index is channel * pixels + pixel */
template <typename T, int V>
__global__ void dropout_forward_kernel(T *__restrict__ y, uint8_t *__restrict__ keep, const T *__restrict__ x,
                                       size_t packs, int c, size_t pixels, double p, float scale, uint64_t salt,
                                       const brn_step_scalars *__restrict__ sc)
{
    const uint64_t seed = sc->dropout_seed ^ salt;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < packs; i += (size_t)gridDim.x * blockDim.x) {
        const size_t e = i * V, pixel = e / c;
        const int c0 = (int)(e % c);
        float v[V];
        pack<uint8_t, V> kp;
        load_f<T, V>(v, x + e);
        BRN_UNROLL
        for (int k = 0; k < V; k++) {
            const uint8_t kept = brn_rng_uniform_at(seed, (uint64_t)(c0 + k) * pixels + pixel) >= p;
            kp.v[k] = kept;
            v[k] = kept ? v[k] * scale : 0.0f;
        }
        store_f<T, V>(y + e, v);
        *reinterpret_cast<pack<uint8_t, V> *>(keep + e) = kp;
    }
}

template <typename T, int V>
__global__ void dropout_backward_kernel(T *__restrict__ dx, const T *__restrict__ dy, const uint8_t *__restrict__ keep,
                                        size_t packs, float scale)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < packs; i += (size_t)gridDim.x * blockDim.x) {
        const size_t e = i * V;
        float v[V];
        const pack<uint8_t, V> kp = *reinterpret_cast<const pack<uint8_t, V> *>(keep + e);
        load_f<T, V>(v, dy + e);
        BRN_UNROLL
        for (int k = 0; k < V; k++) v[k] = kp.v[k] ? v[k] * scale : 0.0f;
        store_f<T, V>(dx + e, v);
    }
}

/* the vector width: it divides C (a pack stays in one pixel) and keeps every pointer,
 * the byte mask's included, aligned */
static int dropout_vec(brn_act_type at, int c, const void *a, const void *b, const uint8_t *keep)
{
    int v = vec_width(act_elem_bytes(at), (size_t)c, a, b);
    while (v > 1 && (uintptr_t)keep % (uintptr_t)v) v /= 2;
    return v;
}

}  // namespace brnk

using namespace brnk;

extern "C" int BRN_K(dropout_forward)(brn_stream st, void *y, uint8_t *keep, const void *x, brn_act_type at,
                                      brn_act_shape s, double p, uint64_t salt, const brn_step_scalars *sc)
{
    const size_t pixels = (size_t)s.n * s.h * s.w, n = pixels * s.c;
    if (n == 0) return 0;
    const float scale = (float)(1.0 / (1.0 - p));   /* as the CPU: the scale rounded to fp32 */
    return with_type_vec(at, dropout_vec(at, s.c, y, x, keep), [&](auto tv) {
        typedef typename decltype(tv)::T T;
        constexpr int V = decltype(tv)::V;
        return BRN_LAUNCH((dropout_forward_kernel<T, V>), grid_for(n / V, 256), 256, 0, st, (T *)y, keep,
                          (const T *)x, n / V, s.c, pixels, p, scale, salt, sc);
    });
}

extern "C" int BRN_K(dropout_backward)(brn_stream st, void *dx, const void *dy, const uint8_t *keep,
                                       brn_act_type at, brn_act_shape s, double p)
{
    const size_t n = (size_t)s.n * s.h * s.w * s.c;
    if (n == 0) return 0;
    const float scale = (float)(1.0 / (1.0 - p));
    return with_type_vec(at, dropout_vec(at, s.c, dx, dy, keep), [&](auto tv) {
        typedef typename decltype(tv)::T T;
        constexpr int V = decltype(tv)::V;
        return BRN_LAUNCH((dropout_backward_kernel<T, V>), grid_for(n / V, 256), 256, 0, st, (T *)dx, (const T *)dy,
                          keep, n / V, scale);
    });
}
