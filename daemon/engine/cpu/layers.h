/* CPU layers in two precisions from one source (see layers_api.h for the contract). */
#ifndef BRN_LAYERS_H
#define BRN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* An activation tensor, stored [c][n][h][w]. */
typedef struct brn_act_shape {
    int c, n, h, w;
} brn_act_shape;

typedef struct brn_conv_shape {
    int cin, cout;   /* channels */
    int n, h, w;     /* input batch and spatial size */
    int k, stride, pad;
    int oh, ow;      /* output spatial size */
} brn_conv_shape;

/* Settings of a batch norm / batch renorm layer for one step. */
typedef struct brn_bn_config {
    int renorm;      /* 0: BN (running var, unbiased); 1: BRN (running std, r/d clipping) */
    double eps;
    double momentum; /* running += momentum * (batch - running) */
    double rmax, dmax;   /* BRN clip limits for this step */
    int update_running;  /* 0 to leave running statistics untouched (tests) */
} brn_bn_config;

#define BRN_DEFINE_NORM_PARAMS(T, NAME)                                                  \
    typedef struct NAME {                                                                \
        const T *gamma, *beta;   /* [C] */                                               \
        T *dgamma, *dbeta;       /* [C], accumulated by backward */                      \
        T *run_mean, *run_var;   /* [C]; run_var holds the running STD for BRN */        \
    } NAME;
BRN_DEFINE_NORM_PARAMS(float, brn_norm_params_f32)
BRN_DEFINE_NORM_PARAMS(double, brn_norm_params_f64)

void brn_conv_shape_init(brn_conv_shape *s, int cin, int cout, int n, int h, int w, int k, int stride);
/* Reals of im2col scratch one thread needs for this convolution. */
size_t brn_cpu_conv_scratch_size(const brn_conv_shape *s);
/* The number of images one thread lowers at once. */
int brn_cpu_conv_chunk_images(const brn_conv_shape *s);
/* OpenMP threads the layers use on the calling thread (the CPU backend sets it). */
void brn_cpu_set_threads(int threads);
int brn_cpu_threads(void);

/* One SGD step (PyTorch's: g += wd*w; v = mom*v + g; w -= lr*v, or lr*(g + mom*v) with
 * Nesterov) over n parameters. */
void brn_cpu_sgd_step_f32(float *w, const float *grad, float *velocity, size_t n, float lr, float mom, float wd,
                          int nesterov);

#define LAYER_REAL float
#define LAYER_SUFFIX _f32
#define LAYER_NORM brn_norm_params_f32
#include "layers_api.h"
#undef LAYER_REAL
#undef LAYER_SUFFIX
#undef LAYER_NORM

#define LAYER_REAL double
#define LAYER_SUFFIX _f64
#define LAYER_NORM brn_norm_params_f64
#include "layers_api.h"
#undef LAYER_REAL
#undef LAYER_SUFFIX
#undef LAYER_NORM

#endif
