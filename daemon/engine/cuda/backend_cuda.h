/* The CUDA backend (cuda/backend_cuda.cu): cuDNN convolutions, cuBLAS for the linear
 * layer, our kernels (kernels.h) for the rest; activations NHWC in fp32 or bf16. Built
 * when nvcc is found; brnd then defines BRN_HAVE_CUDA. C-callable. */
#ifndef BRN_BACKEND_CUDA_H
#define BRN_BACKEND_CUDA_H

#include <stddef.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Usable GPUs (0 when none), and when none, why in why: "no CUDA device", "no CUDA
 * driver", "the driver (12.2) is older than this build's CUDA runtime (13.0)", ... */
int brn_cuda_device_count(char *why, size_t whylen);

/* Fills up to max descriptions of usable GPUs ("cuda:N", the name, total memory); returns
 * the count; why as above when there are none. */
int brn_cuda_devices(brn_device_desc *out, int max, char *why, size_t whylen);

/* A backend on GPU index with the job's precision. BRN_EDEVICE when the device cannot be
 * used, BRN_ENOMEM when its memory is exhausted; the message names the device. */
int brn_cuda_backend_create(int index, brn_precision precision, brn_backend **out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
