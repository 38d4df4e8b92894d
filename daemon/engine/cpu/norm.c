/* Batch norm and batch renorm (one kernel: BN is r = 1, d = 0), group/layer norm.
 * Each optionally fused with the ReLU that follows it in a pre-activation WRN block.
 * Statistics are accumulated in double (batch norm: vectorized partial sums over short
 * blocks, added in double in a fixed order); each channel (or example) is handled by one
 * thread, so results do not depend on the thread count. */
#include <math.h>
#include <omp.h>

#include "../errors.h"
#include "real.h"

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

#define BLOCK 256   /* values summed in real precision before a double accumulation */

/* sum and sum of squares of x - shift over m values; the shift (a sample of x) keeps
 * E[x^2] - E[x]^2 away from cancellation */
static void shifted_moments(const real *x, size_t m, real shift, double *sum, double *sumsq)
{
    double s = 0, q = 0;
    for (size_t b = 0; b < m; b += BLOCK) {
        const size_t e = b + BLOCK < m ? b + BLOCK : m;
        real bs = 0, bq = 0;
#pragma omp simd reduction(+ : bs, bq)
        for (size_t i = b; i < e; i++) {
            const real v = x[i] - shift;
            bs += v;
            bq += v * v;
        }
        s += bs;
        q += bq;
    }
    *sum = s;
    *sumsq = q;
}

/* a = max(A x + B, 0) or A x + B */
static void affine(real *restrict a, const real *restrict x, size_t m, real A, real B, int relu)
{
    if (relu)
        for (size_t i = 0; i < m; i++) {
            real v = A * x[i] + B;
            a[i] = v > 0 ? v : 0;
        }
    else
        for (size_t i = 0; i < m; i++) a[i] = A * x[i] + B;
}

/* The gradient through the ReLU: g = da where the output a was positive. */
static inline real relu_grad(real da, real a, int relu) { return relu && a <= 0 ? 0 : da; }

/* sums of g and g * (x - mu) over [b, e); inlined with relu a constant, so the loop has no
 * branch and vectorizes */
static inline __attribute__((always_inline)) void grad_block(const real *restrict da, const real *restrict a,
                                                             const real *restrict x, size_t b, size_t e, real mu,
                                                             int relu, real *sg, real *sgx)
{
    real bs = 0, bq = 0;
#pragma omp simd reduction(+ : bs, bq)
    for (size_t i = b; i < e; i++) {
        const real g = relu_grad(da[i], a[i], relu);
        bs += g;
        bq += g * (x[i] - mu);
    }
    *sg = bs;
    *sgx = bq;
}

/* sg = sum g, sgx = sum g * (x - mu) over m values */
static void grad_moments(const real *da, const real *a, const real *x, size_t m, real mu, int relu, double *sg,
                         double *sgx)
{
    double s = 0, q = 0;
    for (size_t b = 0; b < m; b += BLOCK) {
        const size_t e = b + BLOCK < m ? b + BLOCK : m;
        real bs, bq;
        if (relu)
            grad_block(da, a, x, b, e, mu, 1, &bs, &bq);
        else
            grad_block(da, a, x, b, e, mu, 0, &bs, &bq);
        s += bs;
        q += bq;
    }
    *sg = s;
    *sgx = q;
}

int FN(batchnorm_forward_train)(real *a, real *saved, const real *x, const NORMP *p, const brn_bn_config *cfg,
                                const brn_act_shape *s, int group, int relu)
{
    const int C = s->c, N = s->n, G = N / group;
    const size_t HW = (size_t)s->h * s->w, m = (size_t)group * HW;
    if (m < 2 || N % group) return BRN_EINVAL;
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (int c = 0; c < C; c++) {
        double mean_sum = 0, stat_sum = 0;
        /* r and d come from the running statistics as they were before this step */
        const double run_mu = p->run_mean[c], run_sig = p->run_var[c];
        for (int g = 0; g < G; g++) {
            const size_t off = ((size_t)c * N + (size_t)g * group) * HW;
            const real *xc = x + off;
            double sum, sumsq;
            shifted_moments(xc, m, xc[0], &sum, &sumsq);
            const double dmu = sum / m;
            double mu = xc[0] + dmu;
            double var = sumsq / m - dmu * dmu;
            if (var < 0) var = 0;
            double sigma = sqrt(var + cfg->eps);
            double r = 1, d = 0;
            if (cfg->renorm) {
                r = clampd(sigma / run_sig, 1.0 / cfg->rmax, cfg->rmax);
                d = clampd((mu - run_mu) / run_sig, -cfg->dmax, cfg->dmax);
            }
            real *sv = saved + 4 * ((size_t)c * G + g);
            sv[0] = (real)mu;
            sv[1] = (real)sigma;
            sv[2] = (real)r;
            sv[3] = (real)d;
            const double A = p->gamma[c] * r / sigma;
            const real Af = (real)A, Bf = (real)(p->beta[c] + p->gamma[c] * d - A * mu);
            affine(a + off, xc, m, Af, Bf, relu);
            mean_sum += mu;
            /* BN keeps the unbiased variance (PyTorch); BRN the std with eps inside (paper) */
            stat_sum += cfg->renorm ? sigma : var * (double)m / (double)(m - 1);
        }
        if (cfg->update_running) {
            p->run_mean[c] += (real)(cfg->momentum * (mean_sum / G - run_mu));
            p->run_var[c] += (real)(cfg->momentum * (stat_sum / G - run_sig));
        }
    }
    return 0;
}

void FN(batchnorm_forward_eval)(real *a, const real *x, const NORMP *p, const brn_bn_config *cfg,
                                const brn_act_shape *s, int relu)
{
    const int C = s->c;
    const size_t m = (size_t)s->n * s->h * s->w;
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (int c = 0; c < C; c++) {
        /* BRN's running std already holds eps: no second eps */
        double sd = cfg->renorm ? p->run_var[c] : sqrt(p->run_var[c] + cfg->eps);
        double A = p->gamma[c] / sd;
        const real Af = (real)A, Bf = (real)(p->beta[c] - A * p->run_mean[c]);
        affine(a + c * m, x + c * m, m, Af, Bf, relu);
    }
}

void FN(batchnorm_backward)(real *dx, const NORMP *p, const real *da, const real *a, const real *x,
                            const real *saved, const brn_act_shape *s, int group, int relu)
{
    const int C = s->c, N = s->n, G = N / group;
    const size_t HW = (size_t)s->h * s->w, m = (size_t)group * HW;
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (int c = 0; c < C; c++) {
        for (int g = 0; g < G; g++) {
            const size_t off = ((size_t)c * N + (size_t)g * group) * HW;
            const real *xc = x + off, *ac = a + off, *gc = da + off;
            const real *sv = saved + 4 * ((size_t)c * G + g);
            const double mu = sv[0], inv_sigma = 1.0 / sv[1], r = sv[2], d = sv[3];
            const real muf = (real)mu;
            double sg, sgx;
            grad_moments(gc, ac, xc, m, muf, relu, &sg, &sgx);
            const double sgz = sgx * inv_sigma;
            /* r and d are constants (stop-gradient): dgamma uses the renormalized r*z + d */
            p->dgamma[c] += (real)(r * sgz + d * sg);
            p->dbeta[c] += (real)sg;
            /* dx = k (g - mean g - z mean(g z)) = k g - k mean g - (x - mu) k mean(g z) / sigma */
            const real k = (real)(p->gamma[c] * r * inv_sigma), kmg = (real)(sg / m) * k;
            const real kx = (real)(sgz / m * inv_sigma) * k;
            real *restrict dxc = dx + off;
            for (size_t i = 0; i < m; i++) dxc[i] = k * relu_grad(gc[i], ac[i], relu) - kmg - (xc[i] - muf) * kx;
        }
    }
}

/* --- group norm: statistics per example over groups of C/G channels ------------------- */

int FN(groupnorm_forward)(real *a, real *saved, const real *x, const NORMP *p, double eps,
                          const brn_act_shape *s, int groups, int relu)
{
    const int C = s->c, N = s->n, cg = C / groups;
    const size_t HW = (size_t)s->h * s->w, m = (size_t)cg * HW;
    if (C % groups || m < 2) return BRN_EINVAL;
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (int n = 0; n < N; n++)
        for (int g = 0; g < groups; g++) {
            double sum = 0, sumsq = 0;
            for (int c = g * cg; c < (g + 1) * cg; c++) {
                const real *xc = x + ((size_t)c * N + n) * HW;
                for (size_t i = 0; i < HW; i++) {
                    double v = xc[i];
                    sum += v;
                    sumsq += v * v;
                }
            }
            double mu = sum / m, var = sumsq / m - mu * mu;
            if (var < 0) var = 0;
            double sigma = sqrt(var + eps);
            saved[2 * ((size_t)n * groups + g)] = (real)mu;
            saved[2 * ((size_t)n * groups + g) + 1] = (real)sigma;
            for (int c = g * cg; c < (g + 1) * cg; c++) {
                const size_t off = ((size_t)c * N + n) * HW;
                double A = p->gamma[c] / sigma;
                real Af = (real)A, Bf = (real)(p->beta[c] - A * mu);
                for (size_t i = 0; i < HW; i++) {
                    real v = Af * x[off + i] + Bf;
                    a[off + i] = relu && v < 0 ? 0 : v;
                }
            }
        }
    return 0;
}

void FN(groupnorm_backward)(real *dx, const NORMP *p, const real *da, const real *a, const real *x,
                            const real *saved, const brn_act_shape *s, int groups, int relu)
{
    const int C = s->c, N = s->n, cg = C / groups;
    const size_t HW = (size_t)s->h * s->w, m = (size_t)cg * HW;
    const int T = brn_cpu_threads();
    /* parameter gradients: one thread per channel */
#pragma omp parallel for schedule(static) num_threads(T)
    for (int c = 0; c < C; c++) {
        double sg = 0, sgz = 0;
        const int g = c / cg;
        for (int n = 0; n < N; n++) {
            const size_t off = ((size_t)c * N + n) * HW;
            const real mu = saved[2 * ((size_t)n * groups + g)], is = 1 / saved[2 * ((size_t)n * groups + g) + 1];
            for (size_t i = 0; i < HW; i++) {
                real gi = relu && a[off + i] <= 0 ? 0 : da[off + i];
                sg += gi;
                sgz += (double)gi * ((x[off + i] - mu) * is);
            }
        }
        p->dgamma[c] += (real)sgz;
        p->dbeta[c] += (real)sg;
    }
    /* input gradients: one thread per example */
#pragma omp parallel for schedule(static) num_threads(T)
    for (int n = 0; n < N; n++)
        for (int g = 0; g < groups; g++) {
            const real mu = saved[2 * ((size_t)n * groups + g)];
            const double inv_sigma = 1.0 / saved[2 * ((size_t)n * groups + g) + 1];
            const real is = (real)inv_sigma;
            double s1 = 0, s2 = 0;
            for (int c = g * cg; c < (g + 1) * cg; c++) {
                const size_t off = ((size_t)c * N + n) * HW;
                for (size_t i = 0; i < HW; i++) {
                    real gi = relu && a[off + i] <= 0 ? 0 : da[off + i];
                    real dz = gi * p->gamma[c];
                    s1 += dz;
                    s2 += (double)dz * ((x[off + i] - mu) * is);
                }
            }
            const real m1 = (real)(s1 / m), m2 = (real)(s2 / m);
            for (int c = g * cg; c < (g + 1) * cg; c++) {
                const size_t off = ((size_t)c * N + n) * HW;
                for (size_t i = 0; i < HW; i++) {
                    real gi = relu && a[off + i] <= 0 ? 0 : da[off + i];
                    real dz = gi * p->gamma[c];
                    real z = (x[off + i] - mu) * is;
                    dx[off + i] = is * (dz - m1 - z * m2);
                }
            }
        }
}
