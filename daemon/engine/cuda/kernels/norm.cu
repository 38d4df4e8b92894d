/* The normalization launchers of kernels.h: BN/BRN (groups of examples), GN/LN, or none,
 * each fused with the ReLU that follows it, forward in three modes and backward.
 *
 * Training forward (and evaluation with batch statistics): statistics pass -> finalize
 * (per channel for BN/BRN, per example for GN/LN) -> apply pass. Evaluation with running
 * statistics: one apply pass. Backward: gradient statistics pass -> finalize -> apply.
 * The workspace holds the partial sums and the apply coefficients (norm_workspace). */
#include "norm_finalize.cuh"

namespace brnk {

static bool is_batch_norm(brn_norm_kind k) { return k == BRN_NORM_BN || k == BRN_NORM_BRN; }

/* BN/BRN: a segment is a normalization group of examples; GN/LN: one example */
static norm_geom geom_for(const brn_norm_desc *d, int v)
{
    const brn_act_shape s = d->shape;
    const long long hw = (long long)s.h * s.w;
    if (is_batch_norm(d->kind)) {
        const int G = s.n / d->group;
        return norm_geom_make(s.c, v, G, (long long)d->group * hw, 1, G);
    }
    const int groups = d->kind == BRN_NORM_LN ? 1 : d->gn_groups;
    return norm_geom_make(s.c, v, s.n, hw, s.c / groups, groups);
}

static size_t align64(size_t floats) { return (floats + 63) & ~(size_t)63; }

/* workspace: partial sums [2][C][cols], then coefficients [4][nseg][C] */
struct norm_ws {
    float *partial, *coef;
    size_t bytes;
};

static norm_ws ws_split(const norm_geom &g, void *ws)
{
    const size_t partial = align64(2 * (size_t)g.c * g.cols), coef = align64(4 * (size_t)g.nseg * g.c);
    norm_ws w;
    w.partial = (float *)ws;
    w.coef = ws ? (float *)ws + partial : nullptr;
    w.bytes = sizeof(float) * (partial + coef);
    return w;
}

static int shape_ok(const brn_norm_desc *d)
{
    const brn_act_shape s = d->shape;
    if (s.c <= 0 || s.n <= 0 || s.h <= 0 || s.w <= 0) return 0;
    if (is_batch_norm(d->kind)) return d->group > 0 && s.n % d->group == 0;
    if (d->kind == BRN_NORM_GN) return d->gn_groups > 0 && s.c % d->gn_groups == 0;
    return 1;
}

template <typename T, int V> __global__ void relu_forward_kernel(T *__restrict__ a, const T *__restrict__ x, size_t nv)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < nv; i += (size_t)gridDim.x * blockDim.x) {
        float v[V];
        load_f<T, V>(v, x + i * V);
        BRN_UNROLL
        for (int k = 0; k < V; k++) v[k] = v[k] > 0.0f ? v[k] : 0.0f;
        store_f<T, V>(a + i * V, v);
    }
}

template <typename T, int V>
__global__ void relu_backward_kernel(T *__restrict__ dx, const T *__restrict__ da, const T *__restrict__ a, size_t nv)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < nv; i += (size_t)gridDim.x * blockDim.x) {
        float g[V], av[V];
        load_f<T, V>(g, da + i * V);
        load_f<T, V>(av, a + i * V);
        BRN_UNROLL
        for (int k = 0; k < V; k++) g[k] = av[k] > 0.0f ? g[k] : 0.0f;
        store_f<T, V>(dx + i * V, g);
    }
}

/* norm = none: the ReLU alone (always, as the CPU backend) */
static int relu_forward(brn_stream st, const brn_norm_desc *d, void *a, const void *x, brn_act_type at)
{
    const size_t n = (size_t)d->shape.c * d->shape.n * d->shape.h * d->shape.w;
    return with_type_vec(at, vec_width(act_elem_bytes(at), n, a, x), [&](auto tv) {
        typedef typename decltype(tv)::T T;
        constexpr int V = decltype(tv)::V;
        return BRN_LAUNCH((relu_forward_kernel<T, V>), grid_for(n / V, 256), 256, 0, st, (T *)a, (const T *)x, n / V);
    });
}

static int relu_backward(brn_stream st, const brn_norm_desc *d, void *dx, const void *da, const void *a,
                         brn_act_type at)
{
    const size_t n = (size_t)d->shape.c * d->shape.n * d->shape.h * d->shape.w;
    return with_type_vec(at, vec_width(act_elem_bytes(at), n, dx, da, a), [&](auto tv) {
        typedef typename decltype(tv)::T T;
        constexpr int V = decltype(tv)::V;
        return BRN_LAUNCH((relu_backward_kernel<T, V>), grid_for(n / V, 256), 256, 0, st, (T *)dx, (const T *)da,
                          (const T *)a, n / V);
    });
}

template <typename T, int V, int MODE, bool RELU>
static int launch_stats(brn_stream st, float *partial, const void *x, const void *da, const void *a,
                        const float *saved, const norm_geom &g)
{
    const unsigned threads = norm_pass_threads(g);
    const size_t smem = 2 * sizeof(float) * threads * V;
    return BRN_LAUNCH((norm_stats_kernel<T, V, MODE, RELU>), norm_pass_grid(g), threads, smem, st, partial,
                      (const T *)x, (const T *)da, (const T *)a, saved, g);
}

template <typename T, int V, bool RUNNING>
static int launch_apply(brn_stream st, int relu, void *out, const void *x, const float *coef,
                        const brn_norm_tensors *t, double eps, int renorm, const norm_geom &g)
{
    if (relu)
        return BRN_LAUNCH((norm_apply_kernel<T, V, true, RUNNING>), norm_pass_grid(g), norm_pass_threads(g), 0, st,
                          (T *)out, (const T *)x, coef, t->gamma, t->beta, t->run_mean, t->run_var, eps, renorm, g);
    return BRN_LAUNCH((norm_apply_kernel<T, V, false, RUNNING>), norm_pass_grid(g), norm_pass_threads(g), 0, st,
                      (T *)out, (const T *)x, coef, t->gamma, t->beta, t->run_mean, t->run_var, eps, renorm, g);
}

}  // namespace brnk

using namespace brnk;

extern "C" size_t BRN_K(norm_workspace)(const brn_norm_desc *d)
{
    if (d->kind == BRN_NORM_NONE || !shape_ok(d)) return 0;
    return ws_split(geom_for(d, 1), nullptr).bytes;
}

extern "C" int BRN_K(norm_forward)(brn_stream st, const brn_norm_desc *d, brn_norm_mode mode,
                                   const brn_norm_tensors *t, void *a, const void *x, brn_act_type at,
                                   const brn_step_scalars *sc, void *ws)
{
    if (!shape_ok(d)) return BRN_ERR_INVALID_VALUE;
    if (d->kind == BRN_NORM_NONE) return relu_forward(st, d, a, x, at);
    const brn_act_shape s = d->shape;
    const int bn = is_batch_norm(d->kind), renorm = d->kind == BRN_NORM_BRN;
    const int v = vec_width(act_elem_bytes(at), (size_t)s.c, a, x);
    return with_type_vec(at, v, [&](auto tv) {
        typedef typename decltype(tv)::T T;
        constexpr int V = decltype(tv)::V;
        if (bn && mode == BRN_NORM_EVAL_RUNNING) {
            const norm_geom g = norm_geom_make(s.c, V, 1, (long long)s.n * s.h * s.w, 1, 1);
            return launch_apply<T, V, true>(st, d->relu, a, x, nullptr, t, d->eps, renorm, g);
        }
        const norm_geom g = geom_for(d, V);
        const norm_ws w = ws_split(g, ws);
        int rc = bn ? launch_stats<T, V, STATS_BN_FWD, false>(st, w.partial, x, nullptr, nullptr, nullptr, g)
                    : launch_stats<T, V, STATS_GN_FWD, false>(st, w.partial, x, nullptr, nullptr, nullptr, g);
        if (rc) return rc;
        if (bn) {
            bn_fin_args f;
            f.eps = d->eps;
            f.renorm = renorm && mode == BRN_NORM_TRAIN;
            f.update = mode == BRN_NORM_TRAIN;
            f.tpg = FIN_THREADS / fin_slots(g.nseg);
            rc = BRN_LAUNCH((bn_finalize_forward_kernel<T>), s.c, FIN_THREADS, 0, st, w.coef, t->saved, w.partial,
                            (const T *)x, t->gamma, t->beta, t->run_mean, t->run_var, sc, g, f);
        } else {
            rc = BRN_LAUNCH((gn_finalize_forward_kernel<T>), s.n, FIN_THREADS, 0, st, w.coef, t->saved, w.partial,
                            (const T *)x, t->gamma, t->beta, d->eps, g, FIN_THREADS / fin_slots(g.groups));
        }
        if (rc) return rc;
        return launch_apply<T, V, false>(st, d->relu, a, x, w.coef, t, d->eps, renorm, g);
    });
}

extern "C" int BRN_K(norm_backward)(brn_stream st, const brn_norm_desc *d, const brn_norm_tensors *t, void *dx,
                                    const void *da, const void *a, const void *x, brn_act_type at, void *ws)
{
    if (!shape_ok(d)) return BRN_ERR_INVALID_VALUE;
    if (d->kind == BRN_NORM_NONE) return relu_backward(st, d, dx, da, a, at);
    const brn_act_shape s = d->shape;
    const int bn = is_batch_norm(d->kind);
    const int v = vec_width(act_elem_bytes(at), (size_t)s.c, dx, da, a, x);
    return with_type_vec(at, v, [&](auto tv) {
        typedef typename decltype(tv)::T T;
        constexpr int V = decltype(tv)::V;
        const norm_geom g = geom_for(d, V);
        const norm_ws w = ws_split(g, ws);
        int rc;
        if (bn)
            rc = d->relu ? launch_stats<T, V, STATS_BN_BWD, true>(st, w.partial, x, da, a, t->saved, g)
                         : launch_stats<T, V, STATS_BN_BWD, false>(st, w.partial, x, da, a, t->saved, g);
        else
            rc = d->relu ? launch_stats<T, V, STATS_GN_BWD, true>(st, w.partial, x, da, a, t->saved, g)
                         : launch_stats<T, V, STATS_GN_BWD, false>(st, w.partial, x, da, a, t->saved, g);
        if (rc) return rc;
        if (bn)
            rc = BRN_LAUNCH(bn_finalize_backward_kernel, s.c, FIN_THREADS, 0, st, w.coef, t->dgamma, t->dbeta,
                            w.partial, t->saved, t->gamma, g, FIN_THREADS / fin_slots(g.nseg));
        else
            rc = BRN_LAUNCH(gn_finalize_backward_kernel, s.n + s.c, FIN_THREADS, 0, st, w.coef, t->dgamma, t->dbeta,
                            w.partial, t->saved, t->gamma, g, FIN_THREADS / fin_slots(g.groups));
        if (rc) return rc;
        const dim3 grid = norm_pass_grid(g);
        const unsigned threads = norm_pass_threads(g);
        if (d->relu)
            return BRN_LAUNCH((norm_apply_backward_kernel<T, V, true>), grid, threads, 0, st, (T *)dx, (const T *)da,
                              (const T *)a, (const T *)x, w.coef, g);
        return BRN_LAUNCH((norm_apply_backward_kernel<T, V, false>), grid, threads, 0, st, (T *)dx, (const T *)da,
                          (const T *)a, (const T *)x, w.coef, g);
    });
}
