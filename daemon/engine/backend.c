/* Choosing a backend for a job's device, listing the devices this machine has, and
 * datasets in backend memory. */
#include "backend.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"

#ifdef BRN_HAVE_CUDA
#include "cuda/backend_cuda.h"
#endif

/* 0 with the count of usable GPUs, or why there is none in why. */
static int usable_gpus(char *why, size_t whylen)
{
#ifdef BRN_HAVE_CUDA
    return brn_cuda_device_count(why, whylen);
#else
    if (why) snprintf(why, whylen, "this build has no CUDA support");
    return 0;
#endif
}

int brn_backend_open(const brn_job_spec *spec, brn_backend **out, char *err, size_t errlen)
{
    char why[256] = "";
    int index = 0, rc;
    *out = NULL;
    if (!strcmp(spec->device, "cpu") || (!strcmp(spec->device, "auto") && usable_gpus(why, sizeof why) == 0)) {
        rc = brn_cpu_backend_create(spec->threads, out, err, errlen);
    } else if (!strcmp(spec->device, "auto") || brn_device_is_cuda(spec->device, &index)) {
        const int gpus = usable_gpus(why, sizeof why);
        if (gpus == 0)
            return brn_errorf(err, errlen, BRN_EDEVICE, "device: %s is not available: %s", spec->device, why);
        if (index >= gpus)
            return brn_errorf(err, errlen, BRN_EDEVICE, "device: %s is not available: this machine has %d GPU%s",
                              spec->device, gpus, gpus == 1 ? "" : "s");
#ifdef BRN_HAVE_CUDA
        rc = brn_cuda_backend_create(index, spec->precision, out, err, errlen);
#else
        rc = BRN_EDEVICE;
#endif
    } else {
        return brn_errorf(err, errlen, BRN_EINVAL, "device: '%s' is not one of cpu, cuda, cuda:N, auto",
                          spec->device);
    }
    if (rc) return rc;
    if ((rc = (*out)->ops->supports(*out, spec, err, errlen))) {
        brn_backend_close(*out);
        *out = NULL;
    }
    return rc;
}

void brn_backend_close(brn_backend *be)
{
    if (be) be->ops->destroy(be);
}

size_t brn_backend_data_bytes(long n, int c, int h, int w)
{
    return (size_t)n * ((size_t)c * h * w + 1) + sizeof(float) * BRN_LUT_LEVELS * (size_t)c;
}

int brn_backend_data_upload(brn_backend *be, const brn_batch_source *src, brn_device_data *out, char *err,
                            size_t errlen)
{
    *out = (brn_device_data){.src = *src};
    out->handle = be->ops->dataset_upload(be, src);
    if (!out->handle) {
        char why[256] = "";
        be->ops->synchronize(be, why, sizeof why);
        return brn_errorf(err, errlen, BRN_ENOMEM, "out of memory on %s for the dataset (%ld images, %zu MiB)%s%s",
                          be->description, src->n, brn_backend_data_bytes(src->n, src->c, src->h, src->w) >> 20,
                          why[0] ? ": " : "", why);
    }
    return be->ops->synchronize(be, err, errlen);
}

void brn_backend_data_free(brn_backend *be, brn_device_data *d)
{
    if (be && d->handle) be->ops->dataset_free(be, d->handle);
    d->handle = NULL;
}

int brn_devices_list(brn_device_desc *out, int max, char *why_no_gpu, size_t whylen)
{
    if (max < 1) return 0;
    const long cores = sysconf(_SC_NPROCESSORS_ONLN), pages = sysconf(_SC_PHYS_PAGES);
    const long page = sysconf(_SC_PAGE_SIZE);
    brn_device_desc *cpu = &out[0];
    memset(cpu, 0, sizeof *cpu);
    snprintf(cpu->id, sizeof cpu->id, "cpu");
    snprintf(cpu->kind, sizeof cpu->kind, "cpu");
    snprintf(cpu->name, sizeof cpu->name, "cpu (%ld core%s, OpenBLAS)", cores, cores == 1 ? "" : "s");
    cpu->memory_bytes = pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
    int n = 1;
#ifdef BRN_HAVE_CUDA
    n += brn_cuda_devices(out + 1, max - 1, why_no_gpu, whylen);
#else
    if (why_no_gpu) snprintf(why_no_gpu, whylen, "this build has no CUDA support");
#endif
    return n;
}
