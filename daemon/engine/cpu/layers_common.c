/* Precision-independent helpers of the CPU layers. */
#include <omp.h>

#include "layers.h"

static int g_threads = 1;

void layers_set_threads(int threads)
{
    g_threads = threads > 0 ? threads : omp_get_num_procs();
}

int layers_threads(void) { return g_threads; }

void conv_shape_init(brn_conv_shape *s, int cin, int cout, int n, int h, int w, int k, int stride)
{
    s->cin = cin;
    s->cout = cout;
    s->n = n;
    s->h = h;
    s->w = w;
    s->k = k;
    s->stride = stride;
    s->pad = k / 2;
    s->oh = (h + 2 * s->pad - k) / stride + 1;
    s->ow = (w + 2 * s->pad - k) / stride + 1;
}

/* Lower enough images at once that the GEMM has ~1k columns: wide enough for the BLAS
 * kernel to run near peak, small enough for the lowered matrix to stay near the cache. */
int conv_chunk_images(const brn_conv_shape *s)
{
    int ohw = s->oh * s->ow;
    int nc = ohw >= 1024 ? 1 : 1024 / ohw;
    return nc < s->n ? nc : s->n;
}

size_t conv_scratch_size(const brn_conv_shape *s)
{
    /* the lowered input and its gradient */
    return 2 * (size_t)s->cin * s->k * s->k * conv_chunk_images(s) * s->oh * s->ow;
}
