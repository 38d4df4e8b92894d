/* SGD over the flat parameter buffer (see brn_sgd in backend.h). */
#include "layers.h"

void brn_cpu_sgd_step_f32(float *w, const float *grad, float *velocity, size_t n, float lr, float mom, float wd,
                          int nesterov)
{
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] + wd * w[i];
        float v = mom * velocity[i] + g;
        velocity[i] = v;
        w[i] -= lr * (nesterov ? g + mom * v : v);
    }
}
