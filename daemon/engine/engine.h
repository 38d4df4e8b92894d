/* The training engine: runs one job (spec) to the end, or until asked to stop.
 *
 * Used by `brnd train` (foreground), by the daemon's device worker (one job at a time
 * per device) and by the tests. It never exits the process; it returns BRN_OK when the
 * job finished, BRN_STOPPED when should_stop() asked it to stop (a checkpoint was
 * written first, when a checkpoint_dir is set), or a negative code from errors.h with a
 * message in err.
 *
 * Threads: brn_train runs on the caller's thread; the hooks are called on that thread. */
#ifndef BRN_ENGINE_H
#define BRN_ENGINE_H

#include <stddef.h>

#include "errors.h"
#include "spec.h"

#define BRN_VERSION "0.1.0"

/* Renorm diagnostics for one normalization layer over one epoch (BRN only). */
typedef struct brn_renorm_diag {
    char layer[48];          /* "blocks.3.bn2" */
    double mean_abs_r_minus_1, mean_abs_d;
    double frac_r_clipped, frac_d_clipped;
} brn_renorm_diag;

typedef struct brn_epoch_metrics {
    int epoch;                /* 1-based: the epoch just finished */
    long step;                /* optimizer steps done so far */
    double train_loss, train_acc;   /* mean over the epoch's training batches; acc as a fraction */
    int evaluated;            /* 0 when this epoch was not evaluated (eval_every) */
    double test_loss, test_acc;
    double lr;                /* learning rate of the epoch's last step */
    double rmax, dmax;        /* renorm clip limits at the epoch's last step (1, 0 for non-BRN) */
    double seconds;           /* wall time of the epoch, evaluation included */
    double images_per_sec;    /* training images / training seconds (evaluation excluded) */
    const brn_renorm_diag *diag; /* n_diag entries, BRN only; valid during the callback */
    int n_diag;
} brn_epoch_metrics;

typedef struct brn_step_info {
    int epoch;                /* 1-based epoch in progress */
    long step;                /* steps done, this one included */
    long batch, batches_per_epoch; /* batch within the epoch, 1-based */
    double loss, acc;         /* this batch */
    double lr, rmax, dmax;
    double images_per_sec;    /* epoch so far */
} brn_step_info;

/* What the run resolved before its first step, printed by `brnd train`. */
typedef struct brn_run_info {
    long steps_per_epoch, total_steps;
    int epochs;
    long start_step;          /* > 0 when resumed */
    int start_epoch;          /* epochs already complete when resumed */
    long renorm_warmup, rmax_steps, dmax_steps;
    double norm_momentum;
    long train_examples, test_examples;
    int in_c, in_h, in_w, classes;
    long parameters;
    const char *device;       /* "cpu (2 threads, OpenBLAS)" */
} brn_run_info;

typedef struct brn_train_hooks {
    void *user;
    void (*on_start)(void *user, const brn_run_info *info);
    void (*on_step)(void *user, const brn_step_info *s);           /* after every step */
    void (*on_epoch)(void *user, const brn_epoch_metrics *m);
    void (*on_checkpoint)(void *user, const char *path, int epoch, long step);
    int (*should_stop)(void *user);                                /* polled between steps */
    void (*on_log)(void *user, int is_warning, const char *msg);   /* warnings, resolved values */
} brn_train_hooks;

/* Run a job. resume: path of a checkpoint to continue from exactly (same data order, RNG,
 * optimizer state), or NULL to start fresh (optionally from spec->init weights). */
int brn_train(const brn_job_spec *spec, const char *resume, const brn_train_hooks *hooks,
              char *err, size_t errlen);

/* Peak memory of a job on its device (spec->device: the CPU, or a GPU for cuda/cuda:N),
 * estimated from its spec and the dataset's nominal size before anything is loaded
 * (admission control). */
typedef struct brn_job_memory {
    int threads;              /* CPU threads the job would use (0 on a GPU) */
    size_t parameters;
    size_t model_bytes;       /* parameters, gradients, optimizer, running stats, activations, scratch */
    size_t data_bytes;        /* the dataset in the device's memory (a GPU: both splits as uint8) */
    size_t total_bytes;
} brn_job_memory;

int brn_job_estimate(const brn_job_spec *spec, brn_job_memory *out, char *err, size_t errlen);

/* The checkpoint file a job's checkpoint_dir holds for resuming. */
#define BRN_LAST_CHECKPOINT "last.safetensors"

#endif
