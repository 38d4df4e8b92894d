/* What a checkpoint file must be before anything in it is trusted, and the files of a
 * checkpoint directory.
 *
 * - brn_checkpoint_file_check: the policy on top of the safetensors reader. A file that says
 *   format "brn-checkpoint" must have a known version, and from version 2 on a verified
 *   checksum (so a flipped byte in the checksum's own key cannot switch the check off);
 *   version 1 files (before checksums) are accepted as they are. Files of other writers
 *   (weights for --init exported from PyTorch) have no format and pass.
 * - brn_run_state_check: a loaded run state against the spec and the run's geometry, so a
 *   forged or corrupt position (a negative batch) is refused before the batcher sees it.
 * - brn_checkpoint_candidates: the files a resume may use, best first.
 * - brn_checkpoint_remove_stale: temporaries left by a writer that died before its rename. */
#ifndef BRN_CHECKPOINT_FILE_H
#define BRN_CHECKPOINT_FILE_H

#include <stddef.h>

#include "checkpoint.h"
#include "safetensors.h"
#include "spec.h"

/* 0, or BRN_ECHECKPOINT with the reason. */
int brn_checkpoint_file_check(const brn_st_file *f, const char *what, char *err, size_t errlen);

/* brn_st_read + brn_checkpoint_file_check; on failure f holds nothing. */
int brn_checkpoint_file_read(brn_st_file *f, const char *path, char *err, size_t errlen);

/* The run state and renorm diagnostics in a checkpoint's metadata, checked by type (and the
 * diagnostics by range: n_norms entries, finite, clipped <= count); brn_run_state_check
 * judges the state's values. 0 or BRN_ECHECKPOINT. Defined in checkpoint.c. */
int brn_checkpoint_state_from_meta(const brn_st_file *f, const char *what, brn_run_state *st, brn_diag_acc *diag,
                                   int n_norms, char *err, size_t errlen);

/* The run's geometry the state must fit. */
typedef struct brn_run_geometry {
    long steps_per_epoch;     /* > 0 */
    long total_steps;
    int epochs;               /* epochs the run has (the last may be partial with --steps) */
} brn_run_geometry;

/* Every field of st in range and consistent: 0 <= epoch <= epochs, 0 <= batch <= steps per
 * epoch, step == epoch * steps_per_epoch + batch (capped at total_steps once the run is
 * done), correct <= seen <= steps_per_epoch * batch_size, finite non-negative sums and seconds.
 * 0 or BRN_ECHECKPOINT naming the field. */
int brn_run_state_check(const brn_run_state *st, const brn_job_spec *spec, const brn_run_geometry *g,
                        const char *what, char *err, size_t errlen);

/* The stored spec JSON of a checkpoint against the job resuming from it: the fields that
 * give the run state its meaning (dataset, train_subset, batch_size) must be equal.
 * 0 or BRN_ECHECKPOINT naming the field. */
int brn_checkpoint_spec_check(const char *stored_json, const brn_job_spec *spec, const char *what, char *err,
                              size_t errlen);

#define BRN_CHECKPOINT_MAX_CANDIDATES 64

/* Paths in dir a resume may use, best first: last.safetensors, then epoch-N.safetensors
 * from the highest N down (at most max). Only existing regular files. Returns the count. */
int brn_checkpoint_candidates(const char *dir, char paths[][BRN_SPEC_PATH_LEN + 64], int max);

/* Removes "<name>.tmp.<pid>" files in dir whose writer is gone (the pid is not running, or
 * is this process, which is not writing one while it starts a run). Returns the count. */
int brn_checkpoint_remove_stale(const char *dir);

#endif
