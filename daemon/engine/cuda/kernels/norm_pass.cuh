/* The two passes over the activations shared by every normalization (BN/BRN, GN/LN), in
 * NHWC: a statistics pass that leaves per-chunk partial sums in the workspace, and an
 * elementwise apply pass with per-(segment, channel) coefficients. Between them, a small
 * per-channel or per-example kernel (norm.cu) turns the partial sums into statistics.
 *
 * Geometry: NHWC rows (one row = the C channels of one pixel) are split into segments
 * (BN/BRN: the rows of one normalization group of examples; GN/LN: the rows of one example),
 * each segment into chunks of `rows` rows. A block handles one chunk of one segment for a
 * slab of `sw` channel vectors: its thread tx keeps channel vector blockIdx.y*sw + tx and
 * walks rows ty, ty + ry, ..., so a warp reads consecutive vectors of consecutive rows
 * (coalesced, 16-byte accesses where C and alignment allow), and coefficients are loaded
 * once per thread. Chunks never cross segments; partial sums are written per (channel,
 * segment, chunk) and reduced later in a fixed order: no atomics, deterministic.
 *
 * Accuracy: each thread sums at most a few hundred values in fp32 (of x - shift, the shift
 * being the segment's first value of the channel, as on the CPU), the block folds its rows
 * pairwise in fp32, and everything after that is double: the CPU's accuracy (blocks of 256
 * in fp32, then double), in another order. */
#ifndef BRN_CUDA_NORM_PASS_CUH
#define BRN_CUDA_NORM_PASS_CUH

#include "kcommon.cuh"

namespace brnk {

struct norm_geom {
    int c;               /* channels */
    int cv;              /* channel vectors: c / V */
    int sw;              /* channel vectors per block */
    int nseg;            /* segments */
    int chunks;          /* chunks per segment */
    int rows;            /* rows per chunk */
    long long seg_rows;  /* rows per segment */
    int cg;              /* GN: channels per group (BN: 1) */
    int groups;          /* BN: segments per step (saved's G); GN: channel groups per example */
    size_t cols;         /* partial sums per channel and moment: nseg * chunks */
};

/* What the statistics pass sums, per element (g = the gradient through the ReLU):
 *   BN_FWD  x - shift, (x - shift)^2        shift = x at the segment's first row, channel c
 *   GN_FWD  the same, shift = x at the example's first row, the group's first channel
 *   BN_BWD  g, g * (x - mu)                 mu = saved mean of (c, segment)
 *   GN_BWD  g, g * (x - mu) * (1/sigma)     mu, sigma = saved of (example, group) */
enum stats_mode { STATS_BN_FWD, STATS_GN_FWD, STATS_BN_BWD, STATS_GN_BWD };

constexpr int NORM_THREADS = 256;

/* rows per chunk: about 8K values per block, a function of C only, so that the workspace
 * planned for the largest batch serves every smaller one */
static inline int norm_chunk_rows(int c)
{
    const int r = 8192 / (c > 0 ? c : 1);
    return r < 4 ? 4 : r > 512 ? 512 : r;
}

/* Geometry for vector width v (which divides c). */
static inline norm_geom norm_geom_make(int c, int v, int nseg, long long seg_rows, int cg, int groups)
{
    norm_geom g;
    g.c = c;
    g.cv = c / v;
    const int slabs = (int)ceil_div((size_t)g.cv, NORM_THREADS);
    g.sw = (int)ceil_div((size_t)g.cv, (size_t)slabs);
    g.nseg = nseg;
    g.rows = norm_chunk_rows(c);
    g.chunks = (int)ceil_div((size_t)seg_rows, (size_t)g.rows);
    g.seg_rows = seg_rows;
    g.cg = cg;
    g.groups = groups;
    g.cols = (size_t)nseg * g.chunks;
    return g;
}

static inline dim3 norm_pass_grid(const norm_geom &g)
{
    return dim3((unsigned)(g.nseg * g.chunks), (unsigned)ceil_div((size_t)g.cv, (size_t)g.sw));
}

/* threads per block: the slab's vectors times as many row walkers as fit in 256 */
static inline unsigned norm_pass_threads(const norm_geom &g)
{
    const int ry = NORM_THREADS / g.sw;
    return (unsigned)(g.sw * (ry > 0 ? ry : 1));
}

/* this thread's chunk: rows [begin, end) of segment seg */
struct chunk_rows {
    int seg;
    long long begin, end;
};

__device__ __forceinline__ chunk_rows chunk_of_block(const norm_geom &g)
{
    chunk_rows r;
    r.seg = blockIdx.x / g.chunks;
    const int j = blockIdx.x % g.chunks;
    const long long seg_end = (long long)(r.seg + 1) * g.seg_rows;
    r.begin = (long long)r.seg * g.seg_rows + (long long)j * g.rows;
    r.end = r.begin + g.rows < seg_end ? r.begin + g.rows : seg_end;
    return r;
}

template <typename T, int V, int MODE, bool RELU, int UNROLL>
__device__ __forceinline__ void stats_rows(float (&s1)[V], float (&s2)[V], const T *__restrict__ x,
                                           const T *__restrict__ da, const T *__restrict__ a, long long r,
                                           long long end, int ry, size_t c_stride, int c0,
                                           const float (&center)[V], const float (&scale)[V])
{
    constexpr bool FWD = MODE == STATS_BN_FWD || MODE == STATS_GN_FWD;
    /* UNROLL rows' loads in flight, then the sums in row order */
    for (; r + (long long)(UNROLL - 1) * ry < end; r += (long long)UNROLL * ry) {
        float xv[UNROLL][V], dv[UNROLL][V], av[UNROLL][V];
        BRN_UNROLL
        for (int u = 0; u < UNROLL; u++) {
            const size_t off = (size_t)(r + (long long)u * ry) * c_stride + c0;
            load_f<T, V>(xv[u], x + off);
            if (!FWD) load_f<T, V>(dv[u], da + off);
            if (!FWD && RELU) load_f<T, V>(av[u], a + off);
        }
        BRN_UNROLL
        for (int u = 0; u < UNROLL; u++) {
            BRN_UNROLL
            for (int k = 0; k < V; k++) {
                if (FWD) {
                    const float d = xv[u][k] - center[k];
                    s1[k] += d;
                    s2[k] += d * d;
                } else {
                    const float gk = RELU && av[u][k] <= 0.0f ? 0.0f : dv[u][k];
                    s1[k] += gk;
                    s2[k] += MODE == STATS_GN_BWD ? gk * ((xv[u][k] - center[k]) * scale[k])
                                                  : gk * (xv[u][k] - center[k]);
                }
            }
        }
    }
    for (; r < end; r += ry) {
        float xv[V], dv[V], av[V];
        const size_t off = (size_t)r * c_stride + c0;
        load_f<T, V>(xv, x + off);
        if (!FWD) load_f<T, V>(dv, da + off);
        if (!FWD && RELU) load_f<T, V>(av, a + off);
        BRN_UNROLL
        for (int k = 0; k < V; k++) {
            if (FWD) {
                const float d = xv[k] - center[k];
                s1[k] += d;
                s2[k] += d * d;
            } else {
                const float gk = RELU && av[k] <= 0.0f ? 0.0f : dv[k];
                s1[k] += gk;
                s2[k] += MODE == STATS_GN_BWD ? gk * ((xv[k] - center[k]) * scale[k]) : gk * (xv[k] - center[k]);
            }
        }
    }
}

/* partial[m][c][seg * chunks + j] = this block's two sums (m = 0, 1) of channel c.
 * Dynamic shared memory: 2 * blockDim.x * V floats. */
template <typename T, int V, int MODE, bool RELU>
__global__ void __launch_bounds__(NORM_THREADS)
    norm_stats_kernel(float *__restrict__ partial, const T *__restrict__ x, const T *__restrict__ da,
                      const T *__restrict__ a, const float *__restrict__ saved, norm_geom g)
{
    BRN_DYNAMIC_SHARED(float, sh);
    const int tx = threadIdx.x % g.sw, ty = threadIdx.x / g.sw, ry = blockDim.x / g.sw;
    const int cv = blockIdx.y * g.sw + tx, width = g.sw * V;
    const chunk_rows cr = chunk_of_block(g);
    float s1[V], s2[V];
    BRN_UNROLL
    for (int k = 0; k < V; k++) s1[k] = s2[k] = 0.0f;
    if (cv < g.cv) {
        const int c0 = cv * V;
        float center[V], scale[V];
        BRN_UNROLL
        for (int k = 0; k < V; k++) {
            const int c = c0 + k;
            scale[k] = 1.0f;
            if (MODE == STATS_BN_FWD) center[k] = to_f(x[(size_t)cr.seg * g.seg_rows * g.c + c]);
            if (MODE == STATS_GN_FWD) center[k] = to_f(x[(size_t)cr.seg * g.seg_rows * g.c + (size_t)(c / g.cg) * g.cg]);
            if (MODE == STATS_BN_BWD) center[k] = saved[4 * ((size_t)c * g.groups + cr.seg)];
            if (MODE == STATS_GN_BWD) {
                const size_t e = 2 * ((size_t)cr.seg * g.groups + c / g.cg);
                center[k] = saved[e];
                scale[k] = 1.0f / saved[e + 1];
            }
        }
        constexpr int UNROLL = MODE == STATS_BN_FWD || MODE == STATS_GN_FWD ? 4 : 2;
        stats_rows<T, V, MODE, RELU, UNROLL>(s1, s2, x, da, a, cr.begin + ty, cr.end, ry, (size_t)g.c, c0, center,
                                             scale);
    }
    float *sh1 = sh, *sh2 = sh + (size_t)ry * width;
    BRN_UNROLL
    for (int k = 0; k < V; k++) {
        sh1[ty * width + tx * V + k] = s1[k];
        sh2[ty * width + tx * V + k] = s2[k];
    }
    __syncthreads();
    /* fold the row walkers pairwise, in a fixed order */
    for (int n = ry; n > 1;) {
        const int half = (n + 1) / 2, pairs = (n - half) * width;
        for (int i = threadIdx.x; i < pairs; i += blockDim.x) {
            const int t = i / width, k = i % width;
            sh1[t * width + k] += sh1[(t + half) * width + k];
            sh2[t * width + k] += sh2[(t + half) * width + k];
        }
        n = half;
        __syncthreads();
    }
    const size_t col = (size_t)blockIdx.x;   /* = seg * chunks + j */
    for (int k = threadIdx.x; k < width; k += blockDim.x) {
        const int c = blockIdx.y * width + k;
        if (c < g.c) {
            partial[(size_t)c * g.cols + col] = sh1[k];
            partial[((size_t)g.c + c) * g.cols + col] = sh2[k];
        }
    }
}

/* a = relu?(A x + B) with A, B per (segment, channel): coef[0][seg][c], coef[1][seg][c].
 * RUNNING: A, B from the running statistics instead (BN/BRN inference). */
template <typename T, int V, bool RELU, bool RUNNING>
__global__ void __launch_bounds__(NORM_THREADS)
    norm_apply_kernel(T *__restrict__ out, const T *__restrict__ x, const float *__restrict__ coef,
                      const float *__restrict__ gamma, const float *__restrict__ beta,
                      const float *__restrict__ run_mean, const float *__restrict__ run_var, double eps, int renorm,
                      norm_geom g)
{
    const int tx = threadIdx.x % g.sw, ty = threadIdx.x / g.sw, ry = blockDim.x / g.sw;
    const int cv = blockIdx.y * g.sw + tx;
    if (cv >= g.cv) return;
    const chunk_rows cr = chunk_of_block(g);
    const int c0 = cv * V;
    float A[V], B[V];
    BRN_UNROLL
    for (int k = 0; k < V; k++) {
        const int c = c0 + k;
        if (RUNNING) {
            /* as the CPU: BRN's running std already holds eps, BN's variance does not */
            const double sd = renorm ? (double)run_var[c] : sqrt((double)run_var[c] + eps);
            const double a = (double)gamma[c] / sd;
            A[k] = (float)a;
            B[k] = (float)((double)beta[c] - a * run_mean[c]);
        } else {
            A[k] = coef[(size_t)cr.seg * g.c + c];
            B[k] = coef[((size_t)g.nseg + cr.seg) * g.c + c];
        }
    }
    long long r = cr.begin + ty;
    for (; r + ry < cr.end; r += 2LL * ry) {   /* two rows in flight */
        float v0[V], v1[V];
        const size_t o0 = (size_t)r * g.c + c0, o1 = (size_t)(r + ry) * g.c + c0;
        load_f<T, V>(v0, x + o0);
        load_f<T, V>(v1, x + o1);
        BRN_UNROLL
        for (int k = 0; k < V; k++) {
            v0[k] = A[k] * v0[k] + B[k];
            v1[k] = A[k] * v1[k] + B[k];
            if (RELU) {
                v0[k] = v0[k] > 0.0f ? v0[k] : 0.0f;
                v1[k] = v1[k] > 0.0f ? v1[k] : 0.0f;
            }
        }
        store_f<T, V>(out + o0, v0);
        store_f<T, V>(out + o1, v1);
    }
    if (r < cr.end) {
        float v[V];
        const size_t o = (size_t)r * g.c + c0;
        load_f<T, V>(v, x + o);
        BRN_UNROLL
        for (int k = 0; k < V; k++) {
            v[k] = A[k] * v[k] + B[k];
            if (RELU) v[k] = v[k] > 0.0f ? v[k] : 0.0f;
        }
        store_f<T, V>(out + o, v);
    }
}

/* dx = k g - kmg - (x - mu) kx, g = da through the ReLU (a <= 0: 0), with k, kmg, kx, mu
 * per (segment, channel): coef[0..3][seg][c] */
template <typename T, int V, bool RELU>
__global__ void __launch_bounds__(NORM_THREADS)
    norm_apply_backward_kernel(T *__restrict__ dx, const T *__restrict__ da, const T *__restrict__ a,
                               const T *__restrict__ x, const float *__restrict__ coef, norm_geom g)
{
    const int tx = threadIdx.x % g.sw, ty = threadIdx.x / g.sw, ry = blockDim.x / g.sw;
    const int cv = blockIdx.y * g.sw + tx;
    if (cv >= g.cv) return;
    const chunk_rows cr = chunk_of_block(g);
    const int c0 = cv * V;
    const size_t plane = (size_t)g.nseg * g.c;
    float K[V], KMG[V], KX[V], MU[V];
    BRN_UNROLL
    for (int k = 0; k < V; k++) {
        const size_t e = (size_t)cr.seg * g.c + c0 + k;
        K[k] = coef[e];
        KMG[k] = coef[plane + e];
        KX[k] = coef[2 * plane + e];
        MU[k] = coef[3 * plane + e];
    }
    for (long long r = cr.begin + ty; r < cr.end; r += ry) {
        const size_t o = (size_t)r * g.c + c0;
        float xv[V], dv[V], av[V];
        load_f<T, V>(xv, x + o);
        load_f<T, V>(dv, da + o);
        if (RELU) load_f<T, V>(av, a + o);
        BRN_UNROLL
        for (int k = 0; k < V; k++) {
            const float gk = RELU && av[k] <= 0.0f ? 0.0f : dv[k];
            xv[k] = K[k] * gk - KMG[k] - (xv[k] - MU[k]) * KX[k];
        }
        store_f<T, V>(dx + o, xv);
    }
}

}  // namespace brnk

#endif
