/* Which GPUs this process can use, and why none when there are none.
 *
 * A GPU is usable when the driver is present and at least as new as this build's CUDA
 * runtime (same major version: CUDA's minor-version compatibility covers the rest), and
 * its compute capability is 8.0 or newer (the build carries sm_80 and sm_90 code, and PTX
 * that newer GPUs compile). cuda:N names the N-th usable GPU in CUDA's order (what
 * CUDA_VISIBLE_DEVICES leaves visible). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

#define MIN_CC_MAJOR 8   /* the oldest architecture the build has code for (sm_80) */

static void version_text(int v, char *out, size_t len) { snprintf(out, len, "%d.%d", v / 1000, (v % 1000) / 10); }

/* 0 when the driver can run this build, else BRN_EDEVICE with why. */
static int driver_usable(char *why, size_t whylen)
{
    int driver = 0, runtime = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess || driver == 0)
        return brn_errorf(why, whylen, BRN_EDEVICE, "no CUDA driver (libcuda.so.1 not found: is the NVIDIA driver "
                                                    "installed?)");
    cudaRuntimeGetVersion(&runtime);
    if (driver / 1000 < runtime / 1000) {
        char d[16], r[16];
        version_text(driver, d, sizeof d);
        version_text(runtime, r, sizeof r);
        return brn_errorf(why, whylen, BRN_EDEVICE, "the driver (CUDA %s) is older than this build's CUDA runtime (%s)",
                          d, r);
    }
    return 0;
}

/* Lists usable GPUs: their CUDA ordinals and properties (either may be NULL), up to max;
 * returns the count, with why set when it is 0. */
static int scan(int *ordinals, cudaDeviceProp *props, int max, char *why, size_t whylen)
{
    if (why && whylen) why[0] = 0;
    if (driver_usable(why, whylen)) return 0;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        if (e == cudaErrorNoDevice) brn_errorf(why, whylen, 0, "no CUDA device");
        else if (e == cudaErrorInsufficientDriver)
            brn_errorf(why, whylen, 0, "the driver is older than this build's CUDA runtime");
        else brn_errorf(why, whylen, 0, "CUDA cannot be initialized: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
        return 0;
    }
    if (count == 0) {
        brn_errorf(why, whylen, 0, "no CUDA device");
        return 0;
    }
    int usable = 0;
    char too_old[256] = "";
    for (int i = 0; i < count; i++) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
            cudaGetLastError();
            continue;
        }
        if (p.major < MIN_CC_MAJOR) {
            if (!too_old[0])
                snprintf(too_old, sizeof too_old, "%.96s (compute capability %d.%d) is older than this build's sm_%d0",
                         p.name, p.major, p.minor, MIN_CC_MAJOR);
            continue;
        }
        if (usable < max) {
            if (ordinals) ordinals[usable] = i;
            if (props) props[usable] = p;
        }
        usable++;
    }
    if (!usable) brn_errorf(why, whylen, 0, "no usable CUDA device: %s", too_old[0] ? too_old : "none answered");
    return usable;
}

extern "C" int brn_cuda_device_count(char *why, size_t whylen) { return scan(NULL, NULL, 0, why, whylen); }

extern "C" int brn_cuda_devices(brn_device_desc *out, int max, char *why, size_t whylen)
{
    if (max <= 0) return 0;
    if (max > BRN_MAX_GPUS) max = BRN_MAX_GPUS;
    cudaDeviceProp *p = (cudaDeviceProp *)calloc(max, sizeof *p);   /* ~1 KB each: not on the stack */
    if (!p) return 0;
    int n = scan(NULL, p, max, why, whylen);
    if (n > max) n = max;
    for (int i = 0; i < n; i++) {
        brn_device_desc *d = &out[i];
        memset(d, 0, sizeof *d);
        snprintf(d->id, sizeof d->id, "cuda:%d", i);
        snprintf(d->name, sizeof d->name, "%.127s", p[i].name);
        snprintf(d->kind, sizeof d->kind, "cuda");
        d->memory_bytes = p[i].totalGlobalMem;
    }
    free(p);
    return n;
}

int brn_cu_device_resolve(int index, int *ordinal, cudaDeviceProp *prop, char *why, size_t whylen)
{
    int ordinals[BRN_MAX_GPUS];
    cudaDeviceProp *p = (cudaDeviceProp *)calloc(BRN_MAX_GPUS, sizeof *p);
    if (!p) return brn_errorf(why, whylen, BRN_ENOMEM, "out of host memory");
    const int n = scan(ordinals, p, BRN_MAX_GPUS, why, whylen);
    int rc = 0;
    if (n == 0) rc = BRN_EDEVICE;
    else if (index < 0 || index >= n)
        rc = brn_errorf(why, whylen, BRN_EDEVICE, "this machine has %d usable GPU%s", n, n == 1 ? "" : "s");
    else {
        *ordinal = ordinals[index];
        *prop = p[index];
    }
    free(p);
    return rc;
}
