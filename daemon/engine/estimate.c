/* What a job will allocate, known before it runs: for admission control at submit. */
#include <stdio.h>

#include "backend.h"
#include "data/dataset.h"
#include "engine.h"
#include "model.h"

int brn_job_estimate(const brn_job_spec *s, brn_job_memory *out, char *err, size_t errlen)
{
    brn_dataset_dims d;
    if (brn_dataset_nominal_dims(s->dataset, &d))
        return brn_errorf(err, errlen, BRN_EINVAL, "dataset: '%s' is not one of %s", s->dataset, brn_dataset_names());
    /* the CPU backend allocates nothing until asked: a cheap stand-in for the layout */
    brn_backend *cpu;
    int rc = brn_cpu_backend_create(s->threads, &cpu, err, errlen);
    if (rc) return rc;
    int gpu_index;
    const int gpu = brn_device_is_cuda(s->device, &gpu_index);
    const brn_model_config mc = {
        .depth = s->depth, .width = s->width, .in_c = d.c, .in_h = d.h, .in_w = d.w, .classes = d.classes,
        .max_batch = s->batch_size, .norm = s->norm, .eps = s->norm_eps, .microbatch = s->microbatch,
        .gn_groups = s->gn_groups, .dropout = s->dropout,
    };
    brn_memory_estimate m;
    rc = brn_model_estimate(&mc, cpu, &m, err, errlen);
    brn_backend_close(cpu);
    if (rc) return rc;
    const size_t image = (size_t)d.c * d.h * d.w;
    out->threads = s->threads > 0 ? s->threads : brn_cpu_default_threads();
    out->parameters = m.parameters;
    out->model_bytes = m.total_bytes;
    if (gpu) {
        /* on a GPU: activations in the job's precision (bf16 halves them; the fp32 norm
         * statistics and logits are a small part), the workspace at most the GPU limit,
         * bf16 shadow weights, and both splits resident as uint8 (the batches are built
         * there); the host keeps its own copy, outside the GPU's budget */
        const size_t acts = s->precision == BRN_PRECISION_BF16 ? m.activation_bytes / 2 : m.activation_bytes;
        const size_t shadow = s->precision == BRN_PRECISION_BF16 ? m.parameters * 2 : 0;
        out->threads = 0;
        out->model_bytes = m.state_bytes + acts + BRN_GPU_WORKSPACE_LIMIT + shadow;
        out->data_bytes = brn_backend_data_bytes(brn_dataset_subset_n(d.train_n, s->train_subset), d.c, d.h, d.w) +
                          brn_backend_data_bytes(brn_dataset_subset_n(d.test_n, s->test_subset), d.c, d.h, d.w);
        out->total_bytes = out->model_bytes + out->data_bytes;
        return 0;
    }
    /* both splits as bytes (loaded whole, then cut to the subsets), the epoch's order and
     * the batch's plan (the batch itself is built in the model's input) */
    out->data_bytes = (size_t)(d.train_n + d.test_n) * (image + 1) + (size_t)d.train_n * sizeof(long) +
                      (size_t)s->batch_size * sizeof(brn_batch_entry);
    out->total_bytes = out->model_bytes + out->data_bytes;
    return 0;
}
