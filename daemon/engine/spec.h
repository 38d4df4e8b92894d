/* The job spec: every setting of one training job.
 *
 * One definition serves `brnd train` flags, `brnctl submit` flags, the gRPC JobSpec
 * message (converted field by field in service/), the JSON stored in SQLite and in
 * checkpoint metadata. Flags are the field names with '_' -> '-'.
 *
 * Contract: brn_spec_defaults() fills every field; brn_spec_parse_args() overrides from argv;
 * brn_spec_validate() returns 0 or -1 with "field: reason" in err; brn_spec_resolve() fills the
 * values derived from the dataset and step count (renorm schedule, momentum default). */
#ifndef BRN_SPEC_H
#define BRN_SPEC_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

typedef struct json_t json_t;

typedef enum { BRN_NORM_BN, BRN_NORM_BRN, BRN_NORM_GN, BRN_NORM_LN, BRN_NORM_NONE } brn_norm_kind;
typedef enum { BRN_EVAL_MOVING, BRN_EVAL_BATCH } brn_eval_stats;
typedef enum { BRN_RENORM_LINEAR, BRN_RENORM_LOGISTIC } brn_renorm_schedule;
typedef enum { BRN_LR_CONSTANT, BRN_LR_STEP, BRN_LR_COSINE } brn_lr_schedule;
typedef enum { BRN_SAMPLING_IID, BRN_SAMPLING_NON_IID } brn_sampling;
/* fp32: exact FP32 (no TF32 on a GPU); tf32: TF32 tensor-core convolutions and GEMMs;
 * bf16: bf16 activations and convolutions, fp32 master weights, statistics and norm math */
typedef enum { BRN_PRECISION_FP32, BRN_PRECISION_TF32, BRN_PRECISION_BF16 } brn_precision;

#define BRN_SPEC_MAX_MILESTONES 8
/* The longest run a spec may ask for: every count derived from these (epochs from steps,
 * step = epoch * steps per epoch + batch) fits its type with room to spare. */
#define BRN_SPEC_MAX_EPOCHS 100000
#define BRN_SPEC_MAX_STEPS 1000000000L
#define BRN_SPEC_NAME_LEN 64
#define BRN_SPEC_PATH_LEN 1024

/* "Not given" marker for integer fields whose default depends on the job (resolved later). */
#define BRN_SPEC_AUTO (-1)

/* GPUs a device string can name: cuda:0 .. cuda:BRN_MAX_GPUS-1 */
#define BRN_MAX_GPUS 64

typedef struct brn_job_spec {
    /* model */
    int depth;                 /* WRN depth d = 6n+4 */
    int width;                 /* WRN widening factor k */
    double dropout;            /* in [0,1) */
    /* data */
    char dataset[BRN_SPEC_NAME_LEN];   /* a name from the dataset registry (data/dataset.h) */
    char data_dir[BRN_SPEC_PATH_LEN];  /* local runs only; the daemon uses its own */
    int train_subset;          /* 0 = all */
    int test_subset;           /* 0 = all */
    /* length */
    int epochs;                /* used when steps == 0 */
    long steps;                /* 0 = use epochs */
    int batch_size;
    /* optimizer */
    double lr;
    double momentum;
    int nesterov;
    double weight_decay;
    brn_lr_schedule lr_schedule;
    int milestones[BRN_SPEC_MAX_MILESTONES]; /* epochs */
    int n_milestones;
    double lr_factor;
    double warmup_epochs;
    /* normalization */
    brn_norm_kind norm;
    double norm_eps;
    double norm_momentum;      /* < 0: default for the norm (BN 0.1, BRN scaled to the run) */
    int microbatch;            /* normalization group size in examples; 0 = the whole batch */
    brn_eval_stats eval_stats;
    double rmax, dmax;         /* BRN's final limits (default BRN_DEFAULT_RMAX/DMAX) */
    long renorm_warmup;        /* BRN_SPEC_AUTO or steps of plain BN */
    long rmax_steps, dmax_steps; /* BRN_SPEC_AUTO or the step at which the final value is reached */
    brn_renorm_schedule renorm_schedule;
    double t_delta;
    int gn_groups;
    /* data pipeline */
    int augment;
    int shuffle;
    brn_sampling sampling;
    int labels_per_batch;      /* non_iid: L labels x (batch/L) examples each; BRN_SPEC_AUTO */
    /* run */
    uint64_t seed;
    int threads;               /* 0 = all cores */
    char device[BRN_SPEC_NAME_LEN];    /* cpu | cuda | cuda:N | auto */
    brn_precision precision;
    char init[BRN_SPEC_PATH_LEN];      /* initial weights (safetensors), local runs only */
    char checkpoint_dir[BRN_SPEC_PATH_LEN];
    int eval_every;            /* epochs */
    int log_steps;             /* 0 = no per-step lines */
    int save_every;            /* write epoch-N.safetensors every N epochs; 0 = only last */
} brn_job_spec;

/* BRN defaults, chosen from the study in docs/experiments.md (short runs: a few hundred steps).
 * Final limits: those of the Group Norm paper's BRN baseline (Wu & He 2018), not the Batch Renorm
 * paper's 3 and 5, which in short runs destabilize training while the learning rate is high. */
#define BRN_DEFAULT_RMAX 1.5
#define BRN_DEFAULT_DMAX 0.5
/* Auto schedule: plain BN for the first quarter of the run, then rmax and dmax ramp linearly to
 * their final values at three quarters. */
#define BRN_DEFAULT_WARMUP_FRACTION 0.25
#define BRN_DEFAULT_RAMP_END_FRACTION 0.75
/* Auto running-average momentum of BRN: BRN_DEFAULT_MOMENTUM_STEPS / total steps within
 * [BRN_MIN_AUTO_MOMENTUM, BRN_MAX_AUTO_MOMENTUM]: the averages' memory (~1/momentum steps) is
 * 2% of the run; the paper's 0.01 from 5,000 steps on, BN's 0.1 below 500. */
#define BRN_DEFAULT_MOMENTUM_STEPS 50.0
#define BRN_MIN_AUTO_MOMENTUM 0.01
#define BRN_MAX_AUTO_MOMENTUM 0.1
/* BN's default momentum (PyTorch's). */
#define BRN_BN_DEFAULT_MOMENTUM 0.1
/* An average with momentum a forgets its start as (1-a)^t: it has converged after ~3/a steps. */
#define BRN_MOMENTUM_CONVERGED_STEPS(a) (3.0 / (a))

/* Values the spec implies once the dataset size is known. */
typedef struct brn_resolved {
    long steps_per_epoch;
    long total_steps;
    long renorm_warmup, rmax_steps, dmax_steps;
    double norm_momentum;
    int momentum_too_slow;     /* the run is too short for the running averages to converge */
    int renorm_before_converged; /* BRN's r and d start before the running averages converged */
    int renorm_never;          /* BRN's warm-up lasts the whole run: it is plain BN throughout */
    int ramp_end_before_start; /* a given rmax/dmax step comes before the warm-up ends: the limit
                                  jumps to its final value when the warm-up ends */
} brn_resolved;

void brn_spec_defaults(brn_job_spec *s);

/* Parse --flag value / --flag=value / --bool / --no-bool from argv[0..argc).
 * Unknown flags are errors unless allow_unknown, in which case their indices are left
 * in rest[] (rest may be NULL). Returns 0, or -1 with a message in err. */
int brn_spec_parse_args(brn_job_spec *s, int argc, char **argv, char *err, size_t errlen,
                    int allow_unknown, int *rest, int *n_rest);

/* Set one field by flag name (without dashes, e.g. "batch-size" or "batch_size"). */
int brn_spec_set(brn_job_spec *s, const char *name, const char *value, char *err, size_t errlen);
int brn_spec_is_bool_flag(const char *name);

int brn_spec_validate(const brn_job_spec *s, char *err, size_t errlen);

/* total steps from dataset size; fills renorm schedule and momentum defaults */
void brn_spec_resolve(const brn_job_spec *s, long train_examples, brn_resolved *r);

/* One line saying how BRN will run (empty for other norms): the schedule and the
 * running-average momentum, and which of them were scaled to the run. Returns the length
 * snprintf would write. */
int brn_spec_describe_renorm(const brn_job_spec *s, const brn_resolved *r, char *buf, size_t n);

/* JSON round trip (all fields, names as in the flags with '_'). */
json_t *brn_spec_to_json(const brn_job_spec *s);
int brn_spec_from_json(brn_job_spec *s, const json_t *j, char *err, size_t errlen);
/* Stored JSON text (SQLite, checkpoint metadata) -> spec: defaults first, then the stored
 * values; NULL reads as "{}". Returns 0 or -1 with the reason in err. */
int brn_spec_from_json_text(const char *text, brn_job_spec *s, char *err, size_t errlen);

/* Help text listing every flag with its default. */
void brn_spec_print_help(FILE *out);

/* Iterate the field table: name (with '_'), and the value formatted as a flag would take it. */
typedef int (*brn_spec_field_fn)(const char *name, const char *value, void *user);
int brn_spec_for_each(const brn_job_spec *s, brn_spec_field_fn fn, void *user);

/* 1 when field (a name with '_') has no effect under s's other settings: microbatch,
 * eval_stats and norm_momentum outside bn/brn, rmax/dmax and the renorm schedule outside
 * brn, gn_groups outside gn, labels_per_batch under iid sampling, milestones and lr_factor
 * outside the step schedule, epochs when steps is set. 0 for every other field. */
int brn_spec_field_inert(const brn_job_spec *s, const char *field);

const char *brn_norm_kind_name(brn_norm_kind k);
const char *brn_lr_schedule_name(brn_lr_schedule k);
const char *brn_precision_name(brn_precision p);

/* Labels per non-i.i.d. batch for a dataset of `classes`: the field, or when auto the
 * largest divisor of batch_size up to min(16, classes/2). */
int brn_spec_labels_per_batch(const brn_job_spec *s, int classes);

/* device is "cuda" or "cuda:N": 1 with *index (0 for "cuda"); else 0. */
int brn_device_is_cuda(const char *device, int *index);

#endif
