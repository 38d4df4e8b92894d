/* The small layers: ReLU, dropout, global average pool, linear, softmax cross-entropy, add. */
#include <math.h>
#include <string.h>

#include "../rng.h"
#include "real.h"

void FN(relu_forward)(real *a, const real *x, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (size_t i = 0; i < n; i++) a[i] = x[i] > 0 ? x[i] : 0;
}

void FN(relu_backward)(real *dx, const real *da, const real *a, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (size_t i = 0; i < n; i++) dx[i] = a[i] > 0 ? da[i] : 0;
}

/* The mask is a pure function of (seed, element index): the same for any thread count
 * and after a resume, with no generator state to save. */
void FN(dropout_forward)(real *y, uint8_t *keep, const real *x, size_t n, double p, uint64_t seed)
{
    const real scale = (real)(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (size_t i = 0; i < n; i++) {
        keep[i] = brn_rng_uniform_at(seed, i) >= p;
        y[i] = keep[i] ? x[i] * scale : 0;
    }
}

void FN(dropout_backward)(real *dx, const real *dy, const uint8_t *keep, size_t n, double p)
{
    const real scale = (real)(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (size_t i = 0; i < n; i++) dx[i] = keep[i] ? dy[i] * scale : 0;
}

void FN(avgpool_forward)(real *y, const real *x, const brn_act_shape *s)
{
    const size_t HW = (size_t)s->h * s->w;
    for (int c = 0; c < s->c; c++)
        for (int n = 0; n < s->n; n++) {
            const real *xc = x + ((size_t)c * s->n + n) * HW;
            double acc = 0;
            for (size_t i = 0; i < HW; i++) acc += xc[i];
            y[(size_t)n * s->c + c] = (real)(acc / HW);
        }
}

void FN(avgpool_backward)(real *dx, const real *dy, const brn_act_shape *s)
{
    const size_t HW = (size_t)s->h * s->w;
    for (int c = 0; c < s->c; c++)
        for (int n = 0; n < s->n; n++) {
            real g = dy[(size_t)n * s->c + c] / (real)HW;
            real *dxc = dx + ((size_t)c * s->n + n) * HW;
            for (size_t i = 0; i < HW; i++) dxc[i] = g;
        }
}

void FN(linear_forward)(real *y, const real *x, const real *w, const real *b, int n, int in, int out)
{
    cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1, x, in, w, in, 0, y, out);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) y[(size_t)i * out + o] += b[o];
}

void FN(linear_backward)(real *dx, real *dw, real *db, const real *dy, const real *x, const real *w, int n,
                         int in, int out)
{
    cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1, dy, out, x, in, 1, dw, in);
    for (int o = 0; o < out; o++) {
        double acc = 0;
        for (int i = 0; i < n; i++) acc += dy[(size_t)i * out + o];
        db[o] += (real)acc;
    }
    if (dx) cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1, dy, out, w, in, 0, dx, in);
}

double FN(softmax_xent)(real *dlogits, const real *logits, const int *labels, int n, int k, int *correct)
{
    double loss = 0;
    int hits = 0;
    for (int i = 0; i < n; i++) {
        const real *z = logits + (size_t)i * k;
        int arg = 0;
        for (int j = 1; j < k; j++)
            if (z[j] > z[arg]) arg = j;
        hits += arg == labels[i];
        double mx = z[arg], sum = 0;
        for (int j = 0; j < k; j++) sum += exp((double)z[j] - mx);
        double lse = mx + log(sum);
        loss += lse - z[labels[i]];
        if (dlogits) {
            real *dz = dlogits + (size_t)i * k;
            for (int j = 0; j < k; j++) dz[j] = (real)((exp((double)z[j] - lse) - (j == labels[i])) / n);
        }
    }
    if (correct) *correct = hits;
    return loss / n;
}

void FN(add_inplace)(real *y, const real *x, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}
