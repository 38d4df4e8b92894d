/* Input batches built on the device from the dataset kept there as uint8 (batch_plan.h):
 * gather, crop within a zero border, flip, scale and normalize, written NHWC. The values
 * come from the host-made table lut[channel][pixel value], so they are the CPU's floats
 * bit for bit whatever the compilers contract. */
#include "kcommon.cuh"

namespace brnk {

/* one thread per output pixel (example j, row, column): its c channels, adjacent in NHWC;
   the threads of a warp read adjacent source bytes (reversed when flipped) */
template <typename T>
__global__ void batch_build_kernel(T *__restrict__ x, int *__restrict__ labels, const uint8_t *__restrict__ images,
                                   const uint8_t *__restrict__ ds_labels, const float *__restrict__ lut,
                                   const brn_batch_entry *__restrict__ plan, int n, int c, int h, int w)
{
    const size_t plane = (size_t)h * w, pixels = (size_t)n * plane;
    for (size_t p = (size_t)blockIdx.x * blockDim.x + threadIdx.x; p < pixels; p += (size_t)gridDim.x * blockDim.x) {
        const int j = (int)(p / plane), hw = (int)(p % plane), row = hw / w, col = hw % w;
        const brn_batch_entry e = plan[j];
        const int sh = row + e.dy, sw = (e.flip ? w - 1 - col : col) + e.dx;
        const bool inside = sh >= 0 && sh < h && sw >= 0 && sw < w;
        const uint8_t *src = inside ? images + (size_t)e.index * c * plane + (size_t)sh * w + sw : nullptr;
        T *dst = x + p * c;
        for (int ch = 0; ch < c; ch++) {
            const int v = inside ? src[(size_t)ch * plane] : 0;
            dst[ch] = from_f<T>(lut[ch * BRN_LUT_LEVELS + v]);
        }
        if (hw == 0) labels[j] = ds_labels[e.index];
    }
}

}  // namespace brnk

using namespace brnk;

extern "C" int BRN_K(batch_build)(brn_stream st, void *x, brn_act_type at, int *labels, const uint8_t *images,
                                  const uint8_t *ds_labels, const float *lut, const brn_batch_entry *plan, int n,
                                  int c, int h, int w)
{
    if (c < 1 || c > BRN_MAX_CHANNELS || n < 0 || h < 1 || w < 1) return BRN_ERR_INVALID_VALUE;
    const size_t pixels = (size_t)n * h * w;
    if (pixels == 0) return 0;
    const int threads = 256;
    return with_type(at, [&](auto k) {
        typedef typename decltype(k)::T T;
        return BRN_LAUNCH((batch_build_kernel<T>), grid_for(pixels, threads), threads, 0, st, (T *)x, labels, images,
                          ds_labels, lut, plan, n, c, h, w);
    });
}
