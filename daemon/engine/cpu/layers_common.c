/* Precision-independent helpers of the CPU layers. */
#include <omp.h>

#include "layers.h"
#include "winograd.h"

/* Per calling thread: the CPU backend sets its own count before each operation, so
 * backends on different threads (a daemon's device workers) never share one. */
static _Thread_local int g_threads = 1;

void brn_cpu_set_threads(int threads)
{
    g_threads = threads > 0 ? threads : omp_get_num_procs();
}

int brn_cpu_threads(void) { return g_threads; }

void brn_conv_shape_init(brn_conv_shape *s, int cin, int cout, int n, int h, int w, int k, int stride)
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
int brn_cpu_conv_chunk_images(const brn_conv_shape *s)
{
    int ohw = s->oh * s->ow;
    int nc = ohw >= 1024 ? 1 : 1024 / ohw;
    return nc < s->n ? nc : s->n;
}

size_t brn_cpu_conv_scratch_size(const brn_conv_shape *s)
{
    /* the shared part is counted once per thread: callers multiply by the thread count */
    if (brn_cpu_wino_applies(s)) return brn_cpu_wino_shared_size(s) + brn_cpu_wino_thread_size(s);
    /* the lowered input and its gradient */
    return 2 * (size_t)s->cin * s->k * s->k * brn_cpu_conv_chunk_images(s) * s->oh * s->ow;
}

int brn_cpu_wino_applies(const brn_conv_shape *s) { return s->k == 3 && s->stride == 1 && s->pad == 1; }

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Enough tiles per chunk for GEMMs that run near the BLAS kernel's peak. */
int brn_cpu_wino_chunk_images(const brn_conv_shape *s)
{
    const int target = 512;   /* 256 to 1024 measured the same */
    int per_img = ((s->h + 1) / 2) * ((s->w + 1) / 2);
    int nc = per_img >= target ? 1 : target / per_img;
    return nc < s->n ? nc : s->n;
}

size_t brn_cpu_wino_filters_padded(const brn_conv_shape *s)
{
    const size_t oc = (size_t)s->cout * s->cin;
    return (oc + WINO_SLACK - 1) / WINO_SLACK * WINO_SLACK;
}

size_t brn_cpu_wino_shared_size(const brn_conv_shape *s)
{
    const int chunks = (s->n + brn_cpu_wino_chunk_images(s) - 1) / brn_cpu_wino_chunk_images(s);
    return round16((size_t)16 * s->cout * s->cin + (size_t)9 * chunks * brn_cpu_wino_filters_padded(s));
}

size_t brn_cpu_wino_thread_size(const brn_conv_shape *s)
{
    const int th = (s->h + 1) / 2, tw = (s->w + 1) / 2;
    const size_t tiles = (size_t)brn_cpu_wino_chunk_images(s) * th * tw + WINO_SLACK;
    /* slack: whole blocks of tiles read past the end */
    const size_t pad = (size_t)(2 * th + 2) * (2 * tw + 2) + 2 * WINO_SLACK;
    return round16(16 * tiles * (s->cin + s->cout) + 16 * brn_cpu_wino_filters_padded(s) + pad);
}
