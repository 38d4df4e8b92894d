/* Admission at SubmitJob: what this server accepts, beyond a valid spec (validate.h).
 * Pure functions of the spec and the limits (common/limits.h), so tests can call them.
 *
 * admit_job clamps the spec's threads to the cores brnd may use (0 = all of them; more
 * than that would only oversubscribe), then refuses with "field: reason" in err:
 *   epochs / steps beyond max_epochs / max_steps (the epochs a step count implies and the
 *   steps an epoch count implies included, from the dataset's nominal size);
 *   memory: the job's estimated peak on `device` (the device it would run on, see
 *   scheduler_budget_device; brn_job_estimate, with the clamped threads) above that
 *   device's memory budget;
 *   disk: the checkpoint files it would keep (last, the newest keep_epoch_checkpoints
 *   epoch-N files, one being written) above max_job_disk.
 * Returns 0, or -1 (INVALID_ARGUMENT: resending the same job cannot help). note receives
 * what was adjusted ("" when nothing), for the log. */
#ifndef BRN_SVC_ADMIT_H
#define BRN_SVC_ADMIT_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "engine.h"

/* Bytes one checkpoint file takes for a model of this many parameters: weights and
 * momentum as float32, plus the header and running statistics (bounded by the margin). */
int64_t admit_checkpoint_bytes(size_t parameters);

int admit_job(const brn_limits *limits, brn_job_spec *spec, const char *device, char *note, size_t note_len,
              char *err, size_t errlen);

#endif
