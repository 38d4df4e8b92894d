/* SGD exactly as PyTorch's: g += wd*w; v = momentum*v + g; w -= lr*v
 * (Nesterov: w -= lr*(g + momentum*v)), for every parameter. v starts at 0. */
#ifndef BRN_OPTIM_H
#define BRN_OPTIM_H

#include <stddef.h>

typedef struct brn_sgd {
    double lr, momentum, weight_decay;
    int nesterov;
} brn_sgd;

void brn_sgd_step(float *w, const float *grad, float *velocity, size_t n, const brn_sgd *o);

#endif
