/* Checkpoints: the model's named tensors (PyTorch names, DESIGN.md), the SGD velocity as
 * optim.momentum.<name>, and in __metadata__ the job spec and the position of the run
 * (step, epoch, batch within the epoch, the epoch's running sums), so a resumed run
 * continues exactly. Randomness is counter-based (rng.h): the seed and step are its state. */
#ifndef BRN_CHECKPOINT_H
#define BRN_CHECKPOINT_H

#include <stddef.h>

#include "batch_plan.h"
#include "model.h"
#include "spec.h"

#define BRN_CHECKPOINT_FORMAT "brn-checkpoint"
#define BRN_CHECKPOINT_VERSION 2   /* 2: a checksum in the metadata (safetensors.h) */

/* Where a run stands; saved at epoch ends and when stopped between steps. */
typedef struct brn_run_state {
    long step;             /* optimizer steps done */
    int epoch;             /* epochs completed */
    long batch;            /* batches done in the epoch in progress */
    double loss_sum;       /* the epoch in progress so far */
    long correct, seen;
    double train_seconds;
    /* the input normalization the weights expect (metadata only: a reader applies it) */
    int channels;
    float input_mean[BRN_MAX_CHANNELS], input_std[BRN_MAX_CHANNELS];
} brn_run_state;

/* Downloads every tensor, the velocity and the epoch's renorm diagnostics from the
 * model's backend and writes them with the spec and the run state. */
int brn_checkpoint_save(const char *path, brn_model *m, const brn_job_spec *spec, const brn_run_state *st,
                        char *err, size_t errlen);

/* Uploads the file's tensors into m (every model tensor must be present with its shape).
 * st == NULL: initial weights only; else the velocity, the run state and the epoch's
 * diagnostics too (a resume). spec_json_out, if not NULL, receives a malloc'd copy of the
 * stored spec JSON. A checkpoint written on one backend loads on any other. */
int brn_checkpoint_load(const char *path, brn_model *m, brn_run_state *st, char **spec_json_out, char *err,
                        size_t errlen);

#endif
