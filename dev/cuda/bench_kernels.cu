/* Normalization kernel benchmark: every variant (the promoted launchers of kernels.h and
 * the ones in norm_variants.cuh) is first validated against a double-precision reference
 * computed here on the host, then timed with CUDA events on the norm layers' shapes of
 * WRN-16-4 and WRN-28-10 (batch 128, CIFAR-sized), fp32 and bf16. It prints microseconds
 * per call and the bandwidth achieved against the H200's ~4.8 TB/s: "moved" counts every
 * pass the kernels make over the tensors (forward 3: read x twice, write a; backward 7), "min"
 * the least any implementation must move (forward 2, backward 4).
 *
 *   build/bench_kernels [--quick] [--reps N] [--json FILE]     (make build/bench_kernels)
 *
 * --quick: WRN-28-10's shapes, BN and BRN only. Built with -DBRN_CUDA_EMU
 * (build/emu/bench_kernels, run by make test) it validates the same variants under the host
 * emulation on small shapes and times nothing. Exit status 1 when a variant fails its
 * validation (it is then not timed). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <vector>

#include "norm_variants.cuh"

using namespace brnk;
using namespace brndev;

/* --- device memory and time, in both builds ----------------------------------------------- */
#ifdef BRN_CUDA_EMU
static void *dev_alloc(size_t bytes)
{
    void *p = aligned_alloc(256, (bytes + 255) & ~(size_t)255);
    if (!p) abort();
    memset(p, 0, (bytes + 255) & ~(size_t)255);
    return p;
}
static void dev_free(void *p) { free(p); }
static void to_dev(void *d, const void *h, size_t bytes) { memcpy(d, h, bytes); }
static void to_host(void *h, const void *d, size_t bytes) { memcpy(h, d, bytes); }
struct timer {
    std::chrono::steady_clock::time_point t0;
    void start() { t0 = std::chrono::steady_clock::now(); }
    double stop_ms() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(); }
};
#else
#define CK(call)                                                                                        \
    do {                                                                                                \
        cudaError_t e_ = (call);                                                                        \
        if (e_ != cudaSuccess) {                                                                        \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));      \
            exit(2);                                                                                    \
        }                                                                                               \
    } while (0)
static void *dev_alloc(size_t bytes)
{
    void *p;
    CK(cudaMalloc(&p, bytes));
    CK(cudaMemset(p, 0, bytes));
    return p;
}
static void dev_free(void *p) { CK(cudaFree(p)); }
static void to_dev(void *d, const void *h, size_t bytes) { CK(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice)); }
static void to_host(void *h, const void *d, size_t bytes) { CK(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost)); }
struct timer {
    cudaEvent_t a, b;
    timer()
    {
        CK(cudaEventCreate(&a));
        CK(cudaEventCreate(&b));
    }
    ~timer()
    {
        cudaEventDestroy(a);
        cudaEventDestroy(b);
    }
    void start() { CK(cudaEventRecord(a)); }
    double stop_ms()
    {
        float ms;
        CK(cudaEventRecord(b));
        CK(cudaEventSynchronize(b));
        CK(cudaEventElapsedTime(&ms, a, b));
        return ms;
    }
};
#endif

static const double PEAK_GBS = 4800;   /* H200 HBM3e, the datasheet's */

/* --- host data ------------------------------------------------------------------------------- */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static double uniform()
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}
/* mean 0, variance 1 (Irwin-Hall of 4): cheap, and the shape does not matter here */
static double normal() { return (uniform() + uniform() + uniform() + uniform() - 2) * 1.7320508075688772; }

static uint16_t bf16_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fff;
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
static float bf16_float(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* NHWC activation values as the device holds them (fp32 or bf16 bits) and as floats */
struct act {
    std::vector<float> f;
    std::vector<uint16_t> b;
};

static act make_act(size_t n, brn_act_type at, const std::vector<double> &chan_mean, const std::vector<double> &chan_sd)
{
    act a;
    a.f.resize(n);
    const size_t C = chan_mean.size();
    for (size_t i = 0; i < n; i++) a.f[i] = (float)(chan_mean[i % C] + chan_sd[i % C] * normal());
    if (at == BRN_AT_BF16) {
        a.b.resize(n);
        for (size_t i = 0; i < n; i++) a.f[i] = bf16_float(a.b[i] = bf16_bits(a.f[i]));
    }
    return a;
}

static const void *act_bytes(const act &a, brn_act_type at)
{
    return at == BRN_AT_BF16 ? (const void *)a.b.data() : (const void *)a.f.data();
}

static std::vector<float> download_act(const void *d, size_t n, brn_act_type at)
{
    std::vector<float> out(n);
    if (at == BRN_AT_BF16) {
        std::vector<uint16_t> b(n);
        to_host(b.data(), d, 2 * n);
        for (size_t i = 0; i < n; i++) out[i] = bf16_float(b[i]);
    } else {
        to_host(out.data(), d, 4 * n);
    }
    return out;
}

/* --- the reference, in double, NHWC ---------------------------------------------------------- */
/* statistics keys: BN/BRN (group g, channel c); GN (example n, channel group) */
struct ref_layout {
    int C, N, HW, nseg, ncg, cg;
    long long seg_rows;
    bool bn;
    size_t key(long long row, int c) const { return (size_t)(row / seg_rows) * ncg + c / cg; }
    size_t keys() const { return (size_t)nseg * ncg; }
    double m() const { return (double)seg_rows * cg; }
};

static ref_layout layout_of(const brn_norm_desc *d)
{
    ref_layout L;
    L.C = d->shape.c, L.N = d->shape.n, L.HW = d->shape.h * d->shape.w;
    L.bn = d->kind == BRN_NORM_BN || d->kind == BRN_NORM_BRN;
    if (L.bn) {
        L.nseg = L.N / d->group, L.ncg = L.C, L.cg = 1, L.seg_rows = (long long)d->group * L.HW;
    } else {
        const int groups = d->kind == BRN_NORM_LN ? 1 : d->gn_groups;
        L.nseg = L.N, L.ncg = groups, L.cg = L.C / groups, L.seg_rows = L.HW;
    }
    return L;
}

struct ref_out {
    std::vector<double> a, saved, run_mean, run_var;
};

/* BN/BRN training forward (running update included) and GN/LN forward, ReLU on */
static ref_out ref_forward(const brn_norm_desc *d, const std::vector<float> &x, const std::vector<float> &gamma,
                           const std::vector<float> &beta, const std::vector<float> &rm, const std::vector<float> &rv,
                           const brn_step_scalars &sc)
{
    const ref_layout L = layout_of(d);
    const long long rows = (long long)L.N * L.HW;
    std::vector<double> mean(L.keys()), var(L.keys()), r(L.keys(), 1), dd(L.keys(), 0), sigma(L.keys());
    for (long long i = 0; i < rows; i++)
        for (int c = 0; c < L.C; c++) mean[L.key(i, c)] += x[i * L.C + c];
    for (double &v : mean) v /= L.m();
    for (long long i = 0; i < rows; i++)
        for (int c = 0; c < L.C; c++) {
            const double e = x[i * L.C + c] - mean[L.key(i, c)];
            var[L.key(i, c)] += e * e;
        }
    ref_out o;
    o.run_mean.assign(rm.begin(), rm.end());
    o.run_var.assign(rv.begin(), rv.end());
    const bool renorm = d->kind == BRN_NORM_BRN;
    std::vector<double> msum(L.C), ssum(L.C);
    for (size_t k = 0; k < L.keys(); k++) {
        var[k] /= L.m();
        sigma[k] = sqrt(var[k] + d->eps);
        if (L.bn) {
            const int c = (int)(k % L.C);
            if (renorm) {
                r[k] = fmin(fmax(sigma[k] / rv[c], 1 / sc.rmax), sc.rmax);
                dd[k] = fmin(fmax((mean[k] - rm[c]) / rv[c], -sc.dmax), sc.dmax);
            }
            msum[c] += mean[k];
            ssum[c] += renorm ? sigma[k] : var[k] * L.m() / (L.m() - 1);
        }
    }
    if (L.bn) {
        o.saved.resize(4 * L.keys());
        for (size_t k = 0; k < L.keys(); k++) {
            const size_t c = k % L.C, g = k / L.C, s = 4 * (c * L.nseg + g);
            o.saved[s] = mean[k], o.saved[s + 1] = sigma[k], o.saved[s + 2] = r[k], o.saved[s + 3] = dd[k];
        }
        for (int c = 0; c < L.C; c++) {
            o.run_mean[c] = (float)(rm[c] + (float)(sc.norm_momentum * (msum[c] / L.nseg - rm[c])));
            o.run_var[c] = (float)(rv[c] + (float)(sc.norm_momentum * (ssum[c] / L.nseg - rv[c])));
        }
    } else {
        o.saved.resize(2 * L.keys());
        for (size_t k = 0; k < L.keys(); k++) o.saved[2 * k] = mean[k], o.saved[2 * k + 1] = sigma[k];
    }
    o.a.resize(x.size());
    for (long long i = 0; i < rows; i++)
        for (int c = 0; c < L.C; c++) {
            const size_t k = L.key(i, c);
            const double y = gamma[c] * (r[k] * (x[i * L.C + c] - mean[k]) / sigma[k] + dd[k]) + beta[c];
            o.a[i * L.C + c] = y > 0 ? y : 0;
        }
    return o;
}

struct ref_grad {
    std::vector<double> dx, dgamma, dbeta;
};

/* backward with the forward's a and saved (float, as the device holds them), ReLU on */
static ref_grad ref_backward(const brn_norm_desc *d, const std::vector<float> &x, const std::vector<float> &a,
                             const std::vector<float> &da, const std::vector<float> &saved,
                             const std::vector<float> &gamma)
{
    const ref_layout L = layout_of(d);
    const long long rows = (long long)L.N * L.HW;
    auto mu_of = [&](size_t k) -> double {
        return L.bn ? saved[4 * ((k % L.C) * L.nseg + k / L.C)] : saved[2 * k];
    };
    auto sig_of = [&](size_t k) -> double {
        return L.bn ? saved[4 * ((k % L.C) * L.nseg + k / L.C) + 1] : saved[2 * k + 1];
    };
    auto rd_of = [&](size_t k, int which) -> double {
        return L.bn ? saved[4 * ((k % L.C) * L.nseg + k / L.C) + 2 + which] : which ? 0.0 : 1.0;
    };
    std::vector<double> s1(L.keys()), s2(L.keys());
    ref_grad o;
    o.dgamma.assign(L.C, 0), o.dbeta.assign(L.C, 0), o.dx.resize(x.size());
    for (long long i = 0; i < rows; i++)
        for (int c = 0; c < L.C; c++) {
            const size_t e = i * L.C + c, k = L.key(i, c);
            const double g = a[e] <= 0 ? 0 : da[e], z = (x[e] - mu_of(k)) / sig_of(k);
            o.dbeta[c] += g;
            o.dgamma[c] += g * (rd_of(k, 0) * z + rd_of(k, 1));
            /* BN: sums of g and g z; GN: of gamma g and gamma g z */
            const double w = L.bn ? 1.0 : gamma[c];
            s1[k] += w * g;
            s2[k] += w * g * z;
        }
    for (long long i = 0; i < rows; i++)
        for (int c = 0; c < L.C; c++) {
            const size_t e = i * L.C + c, k = L.key(i, c);
            const double g = a[e] <= 0 ? 0 : da[e], z = (x[e] - mu_of(k)) / sig_of(k);
            const double scale = L.bn ? gamma[c] * rd_of(k, 0) / sig_of(k) : 1 / sig_of(k);
            const double gw = L.bn ? g : gamma[c] * g;
            o.dx[e] = scale * (gw - s1[k] / L.m() - z * s2[k] / L.m());
        }
    return o;
}

/* worst |got - want| / (atol + rtol |want|), atol relative to the largest |want| */
static double worst_ratio(const std::vector<float> &got, const std::vector<double> &want, double rtol, double atol_rel,
                          size_t *where)
{
    double scale = 0, worst = 0;
    for (double w : want) scale = fmax(scale, fabs(w));
    for (size_t i = 0; i < want.size(); i++) {
        const double d = fabs(got[i] - want[i]), r = d == 0 ? 0 : d / (atol_rel * scale + rtol * fabs(want[i]));
        if (!(r <= worst)) worst = r, *where = i;   /* NaN counts as worst */
    }
    return worst;
}

/* --- cases and variants ----------------------------------------------------------------------- */
struct bench_case {
    const char *model;
    brn_norm_kind kind;
    int c, n, hw, group, gn_groups;
    brn_act_type at;
};

struct bufs {
    void *x, *a, *da, *dx;
    float *gamma, *beta, *dgamma, *dbeta, *rm, *rv, *saved;
    void *ws;
    brn_step_scalars *sc;
};

struct variant {
    const char *name;
    double rows_scale;   /* 0: promoted launchers; < 0: naive; > 0: promoted kernels, rows scaled */
};

static const variant VARIANTS[] = {
    {"promoted", 0}, {"naive", -1}, {"rows x0.5", 0.5}, {"rows x2", 2}, {"rows x4", 4},
};

static int run_forward(const variant &v, const brn_norm_desc *d, const brn_norm_tensors *t, bufs &b, brn_act_type at)
{
    if (v.rows_scale == 0) return BRN_K(norm_forward)(nullptr, d, BRN_NORM_TRAIN, t, b.a, b.x, at, b.sc, b.ws);
    if (v.rows_scale < 0)
        return at == BRN_AT_BF16 ? naive_forward<bf16>(d, t, b.a, b.x, b.sc, b.ws)
                                 : naive_forward<float>(d, t, b.a, b.x, b.sc, b.ws);
    const int vec = vec_width(act_elem_bytes(at), (size_t)d->shape.c, b.a, b.x);
    return with_type_vec(at, vec, [&](auto tv) {
        typedef typename decltype(tv)::T T;
        constexpr int V = decltype(tv)::V;
        return scaled_forward<T, V>(v.rows_scale, d, t, b.a, b.x, b.sc, (float *)b.ws);
    });
}

static int run_backward(const variant &v, const brn_norm_desc *d, const brn_norm_tensors *t, bufs &b, brn_act_type at)
{
    if (v.rows_scale == 0) return BRN_K(norm_backward)(nullptr, d, t, b.dx, b.da, b.a, b.x, at, b.ws);
    if (v.rows_scale < 0)
        return at == BRN_AT_BF16 ? naive_backward<bf16>(d, t, b.dx, b.da, b.a, b.x)
                                 : naive_backward<float>(d, t, b.dx, b.da, b.a, b.x);
    const int vec = vec_width(act_elem_bytes(at), (size_t)d->shape.c, b.dx, b.da, b.a, b.x);
    return with_type_vec(at, vec, [&](auto tv) {
        typedef typename decltype(tv)::T T;
        constexpr int V = decltype(tv)::V;
        return scaled_backward<T, V>(v.rows_scale, d, t, b.dx, b.da, b.a, b.x, (float *)b.ws);
    });
}

static bool applies(const variant &v, const bench_case &k)
{
    if (v.rows_scale == 0) return true;
    const bool bn = k.kind == BRN_NORM_BN || k.kind == BRN_NORM_BRN;
    if (!bn) return false;
    return v.rows_scale > 0 || k.group == k.n;   /* naive: whole-batch groups only */
}

static FILE *json;

static const char *kind_name(brn_norm_kind k)
{
    return k == BRN_NORM_BN ? "bn" : k == BRN_NORM_BRN ? "brn" : k == BRN_NORM_GN ? "gn" : k == BRN_NORM_LN ? "ln" : "none";
}
static int failures;

static void report(const bench_case &k, const char *op, const variant &v, double us, double passes, double min_passes)
{
    const size_t elems = (size_t)k.n * k.hw * k.hw * k.c;
    const double eb = k.at == BRN_AT_BF16 ? 2 : 4, gbs = passes * elems * eb / (us * 1e3),
                 min_gbs = min_passes * elems * eb / (us * 1e3);
    char shape[96];
    snprintf(shape, sizeof shape, "%s c%d %dx%d n%d%s", k.model, k.c, k.hw, k.hw, k.n,
             k.kind == BRN_NORM_GN ? " gn8" : k.group != k.n ? " mb4" : "");
    printf("%-30s %-4s %-5s %-9s %-10s %9.2f us %7.0f GB/s moved (%4.1f%%) %7.0f GB/s min\n", shape,
           k.at == BRN_AT_BF16 ? "bf16" : "fp32", kind_name(k.kind), op, v.name, us, gbs,
           100 * gbs / PEAK_GBS, min_gbs);
    if (json)
        fprintf(json,
                "{\"model\":\"%s\",\"kind\":\"%s\",\"c\":%d,\"hw\":%d,\"n\":%d,\"group\":%d,\"dtype\":\"%s\","
                "\"op\":\"%s\",\"variant\":\"%s\",\"us\":%.3f,\"gbs_moved\":%.1f,\"gbs_min\":%.1f}\n",
                k.model, kind_name(k.kind), k.c, k.hw, k.n, k.kind == BRN_NORM_GN ? 0 : k.group,
                k.at == BRN_AT_BF16 ? "bf16" : "fp32", op, v.name, us, gbs, min_gbs);
}

static void report_valid(const bench_case &k, const char *op, const variant &v)
{
    printf("valid %s c%d %dx%d n%d group %d %s %s %s %s\n", k.model, k.c, k.hw, k.hw, k.n,
           k.kind == BRN_NORM_GN ? k.gn_groups : k.group, k.at == BRN_AT_BF16 ? "bf16" : "fp32", kind_name(k.kind), op,
           v.name);
}

/* Validates every variant on this case, then times the ones that passed (reps > 0). */
static void run_case(const bench_case &k, int reps)
{
    const size_t n = (size_t)k.n * k.hw * k.hw * k.c, eb = k.at == BRN_AT_BF16 ? 2 : 4;
    brn_norm_desc d;
    memset(&d, 0, sizeof d);
    d.kind = k.kind, d.shape.c = k.c, d.shape.n = k.n, d.shape.h = d.shape.w = k.hw;
    d.group = k.group, d.gn_groups = k.gn_groups, d.eps = 1e-5, d.relu = 1;
    const bool bn = k.kind == BRN_NORM_BN || k.kind == BRN_NORM_BRN;
    const size_t nsaved = bn ? 4 * (size_t)k.c * (k.n / k.group) : 2 * (size_t)k.n * k.gn_groups;

    std::vector<double> cm(k.c), cs(k.c);
    std::vector<float> gamma(k.c), beta(k.c), rm(k.c), rv(k.c);
    for (int c = 0; c < k.c; c++) {
        cm[c] = 4 * uniform() - 2, cs[c] = 0.3 + 2 * uniform();
        gamma[c] = (float)(1 + 0.3 * normal()), beta[c] = (float)(0.3 * normal());
        /* BRN: running statistics off the batch's so that r and d clip in some channels */
        const double sd = cs[c] * (c % 3 == 0 ? 0.25 : c % 3 == 1 ? 3 : 1.05);
        rm[c] = (float)(cm[c] + (c % 2 ? 2 : -0.1) * sd);
        rv[c] = (float)(k.kind == BRN_NORM_BRN ? sd : sd * sd);
    }
    const act x = make_act(n, k.at, cm, cs);
    std::vector<double> zero(k.c, 0.0), one(k.c, 1.0);
    const act da = make_act(n, k.at, zero, one);
    brn_step_scalars sc;
    memset(&sc, 0, sizeof sc);
    sc.lr = 0.1, sc.norm_momentum = 0.1, sc.rmax = 1.5, sc.dmax = 0.5;

    bufs b;
    b.x = dev_alloc(n * eb), b.a = dev_alloc(n * eb), b.da = dev_alloc(n * eb), b.dx = dev_alloc(n * eb);
    b.gamma = (float *)dev_alloc(4 * k.c), b.beta = (float *)dev_alloc(4 * k.c);
    b.dgamma = (float *)dev_alloc(4 * k.c), b.dbeta = (float *)dev_alloc(4 * k.c);
    b.rm = (float *)dev_alloc(4 * k.c), b.rv = (float *)dev_alloc(4 * k.c), b.saved = (float *)dev_alloc(4 * nsaved);
    size_t ws = BRN_K(norm_workspace)(&d);
    if (bn) {
        const size_t naive_ws = 16 * (size_t)k.c * (k.n / k.group);
        if (naive_ws > ws) ws = naive_ws;
        for (const variant &v : VARIANTS)
            if (v.rows_scale > 0) {
                const size_t s = 4 * scaled_ws_floats(scaled_geom(&d, 1, v.rows_scale));
                if (s > ws) ws = s;
            }
    }
    b.ws = dev_alloc(ws);
    b.sc = (brn_step_scalars *)dev_alloc(sizeof sc);
    to_dev(b.x, act_bytes(x, k.at), n * eb);
    to_dev(b.da, act_bytes(da, k.at), n * eb);
    to_dev(b.gamma, gamma.data(), 4 * k.c);
    to_dev(b.beta, beta.data(), 4 * k.c);
    to_dev(b.sc, &sc, sizeof sc);
    brn_norm_tensors t;
    memset(&t, 0, sizeof t);
    t.gamma = b.gamma, t.beta = b.beta, t.dgamma = b.dgamma, t.dbeta = b.dbeta, t.saved = b.saved;
    if (bn) t.run_mean = b.rm, t.run_var = b.rv;

    const ref_out want = ref_forward(&d, x.f, gamma, beta, rm, rv, sc);
    const double rtol = k.at == BRN_AT_BF16 ? 4e-3 : 2e-5, atol = k.at == BRN_AT_BF16 ? 1e-5 : 2e-6;
    /* the backward's inputs: the promoted forward's a and saved */
    std::vector<float> a_in, saved_in;
    ref_grad gwant;
    for (const variant &v : VARIANTS) {
        if (!applies(v, k)) continue;
        /* forward: validate, then time */
        to_dev(b.rm, rm.data(), 4 * k.c);
        to_dev(b.rv, rv.data(), 4 * k.c);
        int rc = run_forward(v, &d, &t, b, k.at);
        std::vector<float> a = download_act(b.a, n, k.at), saved(nsaved), grm(k.c), grv(k.c);
        to_host(saved.data(), b.saved, 4 * nsaved);
        to_host(grm.data(), b.rm, 4 * k.c);
        to_host(grv.data(), b.rv, 4 * k.c);
        size_t wa = 0, ws_ = 0, wm = 0, wv = 0;
        const double ra = worst_ratio(a, want.a, rtol, atol, &wa), rs = worst_ratio(saved, want.saved, 1e-5, 1e-6, &ws_);
        const double rmr = bn ? worst_ratio(grm, want.run_mean, 1e-5, 1e-6, &wm) : 0;
        const double rvr = bn ? worst_ratio(grv, want.run_var, 1e-5, 1e-6, &wv) : 0;
        const bool fwd_ok = rc == 0 && ra <= 1 && rs <= 1 && rmr <= 1 && rvr <= 1;
        if (!fwd_ok) {
            failures++;
            printf("FAIL %s %s c%d %dx%d %s forward: rc %d, worst ratios a %.3g [%zu: %g vs %g] saved %.3g running %.3g "
                   "%.3g: not timed\n",
                   v.name, kind_name(k.kind), k.c, k.hw, k.hw, k.at ? "bf16" : "fp32", rc, ra, wa, a[wa],
                   want.a[wa], rs, rmr, rvr);
        }
        if (v.rows_scale == 0) {
            a_in = a, saved_in = saved;
            gwant = ref_backward(&d, x.f, a_in, da.f, saved_in, gamma);
        }
        if (fwd_ok && reps == 0) report_valid(k, "forward", v);
        if (fwd_ok && reps > 0) {
            timer tm;
            run_forward(v, &d, &t, b, k.at);   /* warm-up */
            tm.start();
            for (int i = 0; i < reps; i++) run_forward(v, &d, &t, b, k.at);
            report(k, "forward", v, 1e3 * tm.stop_ms() / reps, 3, 2);
        }
        /* backward from the promoted forward's a and saved */
        if (k.at == BRN_AT_BF16) {
            std::vector<uint16_t> bits(n);
            for (size_t i = 0; i < n; i++) bits[i] = bf16_bits(a_in[i]);
            to_dev(b.a, bits.data(), 2 * n);
        } else {
            to_dev(b.a, a_in.data(), 4 * n);
        }
        to_dev(b.saved, saved_in.data(), 4 * nsaved);
        std::vector<float> z(k.c, 0.0f);
        to_dev(b.dgamma, z.data(), 4 * k.c);
        to_dev(b.dbeta, z.data(), 4 * k.c);
        rc = run_backward(v, &d, &t, b, k.at);
        std::vector<float> dx = download_act(b.dx, n, k.at), dg(k.c), db(k.c);
        to_host(dg.data(), b.dgamma, 4 * k.c);
        to_host(db.data(), b.dbeta, 4 * k.c);
        size_t wx = 0, wg = 0, wb = 0;
        const double rx = worst_ratio(dx, gwant.dx, rtol, atol, &wx), rg = worst_ratio(dg, gwant.dgamma, 1e-5, 1e-6, &wg);
        const double rb = worst_ratio(db, gwant.dbeta, 1e-5, 1e-6, &wb);
        if (rc || !(rx <= 1 && rg <= 1 && rb <= 1)) {
            failures++;
            printf("FAIL %s %s c%d %dx%d %s backward: rc %d, worst ratios dx %.3g [%zu: %g vs %g] dgamma %.3g dbeta "
                   "%.3g: not timed\n",
                   v.name, kind_name(k.kind), k.c, k.hw, k.hw, k.at ? "bf16" : "fp32", rc, rx, wx, dx[wx],
                   gwant.dx[wx], rg, rb);
            continue;
        }
        if (reps == 0) {
            report_valid(k, "backward", v);
            continue;
        }
        timer tm;
        run_backward(v, &d, &t, b, k.at);
        tm.start();
        for (int i = 0; i < reps; i++) run_backward(v, &d, &t, b, k.at);
        report(k, "backward", v, 1e3 * tm.stop_ms() / reps, 7, 4);
    }
    if (bn && reps > 0) {   /* inference with the running statistics: one pass */
        const variant promoted = VARIANTS[0];
        timer tm;
        BRN_K(norm_forward)(nullptr, &d, BRN_NORM_EVAL_RUNNING, &t, b.a, b.x, k.at, b.sc, b.ws);
        tm.start();
        for (int i = 0; i < reps; i++) BRN_K(norm_forward)(nullptr, &d, BRN_NORM_EVAL_RUNNING, &t, b.a, b.x, k.at, b.sc, b.ws);
        report(k, "eval", promoted, 1e3 * tm.stop_ms() / reps, 2, 2);
    }
    for (void *p : {b.x, b.a, b.da, b.dx, (void *)b.gamma, (void *)b.beta, (void *)b.dgamma, (void *)b.dbeta,
                    (void *)b.rm, (void *)b.rv, (void *)b.saved, b.ws, (void *)b.sc})
        dev_free(p);
}

int main(int argc, char **argv)
{
    int quick = 0, reps = 20;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
            if (!(json = fopen(argv[++i], "w"))) return perror(argv[i]), 2;
        } else {
            fprintf(stderr, "usage: %s [--quick] [--reps N] [--json FILE]\n", argv[0]);
            return 2;
        }
    }
    struct shape {
        const char *model;
        int c, hw;
    };
#ifdef BRN_CUDA_EMU
    /* validation only, on small shapes that take the GPU shapes' paths (vector widths, one
     * or several row walkers per channel vector, several chunks); no timing */
    const int N = 4, micro = 2;
    reps = 0;
    const shape shapes[] = {{"wrn-16-4", 16, 8}, {"wrn-28-10", 160, 4}, {"wrn-28-10", 640, 2}};
    printf("host emulation: every variant validated on small shapes, nothing timed\n");
#else
    const int N = 128, micro = 4;
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("%s, %d SMs, %.0f GB/s peak assumed (H200), %d reps per timing\n", prop.name, prop.multiProcessorCount,
           PEAK_GBS, reps);
    /* every norm layer's (C, H=W) in the two models: WRN-16-4 (16, 64, 128, 256 wide),
     * WRN-28-10 (16, 160, 320, 640); the stride-2 blocks' first norms see the wider input */
    const shape shapes[] = {{"wrn-16-4", 16, 32},   {"wrn-16-4", 64, 32},   {"wrn-16-4", 128, 16},
                            {"wrn-16-4", 256, 8},   {"wrn-28-10", 160, 32}, {"wrn-28-10", 320, 16},
                            {"wrn-28-10", 640, 8},  {"wrn-28-10", 160, 16}, {"wrn-28-10", 320, 8}};
#endif
    for (const shape &s : shapes) {
        if (quick && strcmp(s.model, "wrn-28-10")) continue;
        for (int at = 0; at < 2; at++) {
            const brn_act_type t = (brn_act_type)at;
            run_case({s.model, BRN_NORM_BN, s.c, N, s.hw, N, 0, t}, reps);
            run_case({s.model, BRN_NORM_BRN, s.c, N, s.hw, N, 0, t}, reps);
            if (quick) continue;
            run_case({s.model, BRN_NORM_BRN, s.c, N, s.hw, micro, 0, t}, reps);
            run_case({s.model, BRN_NORM_GN, s.c, N, s.hw, N, 8, t}, reps);
        }
    }
    if (json) fclose(json);
    printf("%s\n", failures ? "some variants FAILED validation (not timed)" : "every variant passed its validation");
    return failures ? 1 : 0;
}
