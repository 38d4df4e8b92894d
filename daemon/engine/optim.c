#include "optim.h"

#include "cpu/layers.h"

void brn_sgd_step(float *w, const float *grad, float *velocity, size_t n, const brn_sgd *o)
{
    const float lr = (float)o->lr, mom = (float)o->momentum, wd = (float)o->weight_decay;
    const int nesterov = o->nesterov;
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] + wd * w[i];
        float v = mom * velocity[i] + g;
        velocity[i] = v;
        w[i] -= lr * (nesterov ? g + mom * v : v);
    }
}
