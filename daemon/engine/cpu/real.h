/* Precision switch for the layer sources: each is compiled as float (the trainer) and,
 * with -DBRN_REAL_DOUBLE, as double (finite-difference tests). */
#ifndef BRN_REAL_H
#define BRN_REAL_H

#include <cblas.h>

#include "layers.h"

#ifdef BRN_REAL_DOUBLE
typedef double real;
#define FN(name) brn_cpu_##name##_f64
#define NORMP brn_norm_params_f64
#define cblas_gemm cblas_dgemm
#else
typedef float real;
#define FN(name) brn_cpu_##name##_f32
#define NORMP brn_norm_params_f32
#define cblas_gemm cblas_sgemm
#endif

#endif
