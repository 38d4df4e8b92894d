/* Admission at SubmitJob: threads clamped to the cores brnd may use, then the per-job limits
 * (epochs, steps, memory budget, disk). See admit.h. */
#include "admit.h"

#include <stdio.h>
#include <string.h>

#include "data/dataset.h"

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* Header, metadata and running statistics of a checkpoint, beyond weights and momentum. */
#define CHECKPOINT_MARGIN_BYTES (256 * 1024)

int64_t admit_checkpoint_bytes(size_t parameters)
{
    return (int64_t)parameters * 2 * (int64_t)sizeof(float) + CHECKPOINT_MARGIN_BYTES;
}

/* Epochs and steps the job asks for, directly or implied through the dataset's size. */
static int check_length(const brn_limits *l, const brn_job_spec *s, char *err, size_t errlen)
{
    brn_dataset_dims d;
    if (brn_dataset_nominal_dims(s->dataset, &d)) FAIL("dataset: '%s' is not one of %s", s->dataset, brn_dataset_names());
    long train = s->train_subset > 0 && s->train_subset < d.train_n ? s->train_subset : d.train_n;
    long per_epoch = s->batch_size > 0 ? train / s->batch_size : 0;
    if (s->steps > 0) {
        if (s->steps > l->max_steps) FAIL("steps: %ld is more than this server allows (max_steps %ld)", s->steps, l->max_steps);
        long epochs = per_epoch > 0 ? (s->steps + per_epoch - 1) / per_epoch : 0;
        if (epochs > l->max_epochs)
            FAIL("steps: %ld steps of %ld per epoch make %ld epochs, more than this server allows (max_epochs %d)",
                 s->steps, per_epoch, epochs, l->max_epochs);
        return 0;
    }
    if (s->epochs > l->max_epochs) FAIL("epochs: %d is more than this server allows (max_epochs %d)", s->epochs, l->max_epochs);
    if (per_epoch > 0 && (long)s->epochs > l->max_steps / per_epoch)
        FAIL("epochs: %d epochs of %ld steps are more than this server allows (max_steps %ld)", s->epochs, per_epoch,
             l->max_steps);
    return 0;
}

/* The estimate on the device the job will run on (its memory budget's). */
static int check_memory(const brn_limits *l, const brn_job_spec *s, const char *device, size_t *parameters,
                        char *err, size_t errlen)
{
    brn_job_memory m;
    brn_job_spec on = *s;
    snprintf(on.device, sizeof on.device, "%s", device);
    char e[256], need[32], budget[32], model[32], data[32], threads[32] = "";
    if (brn_job_estimate(&on, &m, e, sizeof e)) FAIL("%s", e);
    *parameters = m.parameters;
    int64_t b = limits_memory_budget(l, device);
    if (b < 0) return 0; /* a device without a budget: its worker checks what it can hold */
    if (m.threads > 0) snprintf(threads, sizeof threads, " with %d thread%s", m.threads, m.threads == 1 ? "" : "s");
    if ((int64_t)m.total_bytes > b)
        FAIL("memory: the job needs about %s on %s (model %s%s, data %s) but its memory budget on this server is %s "
             "(--memory-budget); use a smaller batch_size, width or depth%s",
             limits_format_bytes(need, sizeof need, (int64_t)m.total_bytes), device,
             limits_format_bytes(model, sizeof model, (int64_t)m.model_bytes), threads,
             limits_format_bytes(data, sizeof data, (int64_t)m.data_bytes),
             limits_format_bytes(budget, sizeof budget, b),
             strcmp(device, "cpu") && s->precision != BRN_PRECISION_BF16 ? ", or precision bf16" : "");
    return 0;
}

/* last.safetensors, the kept epoch-N files, and one file being written. */
static int check_disk(const brn_limits *l, const brn_job_spec *s, size_t parameters, char *err, size_t errlen)
{
    int64_t file = admit_checkpoint_bytes(parameters);
    int epochs = s->epochs; /* an upper bound on the epoch files it could write */
    int kept = s->save_every > 0 ? l->keep_epoch_checkpoints : 0;
    if (s->save_every > 0 && s->steps == 0 && epochs / s->save_every < kept) kept = epochs / s->save_every;
    int64_t need = file * (2 + kept);
    char a[32], b[32], f[32];
    if (need > l->max_job_disk)
        FAIL("disk: the job would keep about %s of checkpoints (%d files of %s) but this server allows %s per job "
             "(--max-job-disk)", limits_format_bytes(a, sizeof a, need), 2 + kept,
             limits_format_bytes(f, sizeof f, file), limits_format_bytes(b, sizeof b, l->max_job_disk));
    return 0;
}

int admit_job(const brn_limits *l, brn_job_spec *s, const char *device, char *note, size_t note_len, char *err,
              size_t errlen)
{
    note[0] = 0;
    if (s->threads == 0 || s->threads > l->cpu_cores) {
        if (s->threads > l->cpu_cores)
            snprintf(note, note_len, "threads %d clamped to %d (the cores brnd may use)", s->threads, l->cpu_cores);
        s->threads = l->cpu_cores;
    }
    size_t parameters = 0;
    if (check_length(l, s, err, errlen) || check_memory(l, s, device, &parameters, err, errlen) ||
        check_disk(l, s, parameters, err, errlen))
        return -1;
    return 0;
}
