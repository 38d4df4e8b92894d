/* The job spec: every setting of one training job.
 *
 * One definition serves `brnd train` flags, `brnctl submit` flags, the gRPC JobSpec
 * message (converted field by field in service/), the JSON stored in SQLite and in
 * checkpoint metadata. Flags are the field names with '_' -> '-'.
 *
 * Contract: spec_defaults() fills every field; spec_parse_args() overrides from argv;
 * spec_validate() returns 0 or -1 with "field: reason" in err; spec_resolve() fills the
 * values derived from the dataset and step count (renorm schedule, momentum default). */
#ifndef BRN_SPEC_H
#define BRN_SPEC_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

typedef struct json_t json_t;

typedef enum { NORM_BN, NORM_BRN, NORM_GN, NORM_LN, NORM_NONE } brn_norm_kind;
typedef enum { EVAL_MOVING, EVAL_BATCH } brn_eval_stats;
typedef enum { RENORM_LINEAR, RENORM_LOGISTIC } brn_renorm_schedule;
typedef enum { LR_CONSTANT, LR_STEP, LR_COSINE } brn_lr_schedule;
typedef enum { SAMPLING_IID, SAMPLING_NON_IID } brn_sampling;

#define SPEC_MAX_MILESTONES 8
#define SPEC_NAME_LEN 64
#define SPEC_PATH_LEN 1024

/* "Not given" marker for integer fields whose default depends on the job (resolved later). */
#define SPEC_AUTO (-1)

typedef struct brn_job_spec {
    /* model */
    int depth;                 /* WRN depth d = 6n+4 */
    int width;                 /* WRN widening factor k */
    double dropout;            /* in [0,1) */
    /* data */
    char dataset[SPEC_NAME_LEN];   /* cifar10 | cifar100 | fashion-mnist | mnist | synthetic */
    char data_dir[SPEC_PATH_LEN];  /* local runs only; the daemon uses its own */
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
    int milestones[SPEC_MAX_MILESTONES]; /* epochs */
    int n_milestones;
    double lr_factor;
    double warmup_epochs;
    /* normalization */
    brn_norm_kind norm;
    double norm_eps;
    double norm_momentum;      /* < 0: default for the norm (BN 0.1, BRN 0.01) */
    int microbatch;            /* normalization group size in examples; 0 = the whole batch */
    brn_eval_stats eval_stats;
    double rmax, dmax;
    long renorm_warmup;        /* SPEC_AUTO or steps of plain BN */
    long rmax_steps, dmax_steps; /* SPEC_AUTO or the step at which the final value is reached */
    brn_renorm_schedule renorm_schedule;
    double t_delta;
    int gn_groups;
    /* data pipeline */
    int augment;
    int shuffle;
    brn_sampling sampling;
    int labels_per_batch;      /* non_iid: L labels x (batch/L) examples each */
    /* run */
    uint64_t seed;
    int threads;               /* 0 = all cores */
    char device[SPEC_NAME_LEN];    /* cpu | cuda | auto */
    char init[SPEC_PATH_LEN];      /* initial weights (safetensors), local runs only */
    char checkpoint_dir[SPEC_PATH_LEN];
    int eval_every;            /* epochs */
    int log_steps;             /* 0 = no per-step lines */
    int save_every;            /* write epoch-N.safetensors every N epochs; 0 = only last */
} brn_job_spec;

/* Values the spec implies once the dataset size is known. */
typedef struct brn_resolved {
    long steps_per_epoch;
    long total_steps;
    long renorm_warmup, rmax_steps, dmax_steps;
    double norm_momentum;
    int momentum_too_slow;     /* the run is too short for the running averages to converge */
} brn_resolved;

void spec_defaults(brn_job_spec *s);

/* Parse --flag value / --flag=value / --bool / --no-bool from argv[0..argc).
 * Unknown flags are errors unless allow_unknown, in which case their indices are left
 * in rest[] (rest may be NULL). Returns 0, or -1 with a message in err. */
int spec_parse_args(brn_job_spec *s, int argc, char **argv, char *err, size_t errlen,
                    int allow_unknown, int *rest, int *n_rest);

/* Set one field by flag name (without dashes, e.g. "batch-size" or "batch_size"). */
int spec_set(brn_job_spec *s, const char *name, const char *value, char *err, size_t errlen);
int spec_is_bool_flag(const char *name);

int spec_validate(const brn_job_spec *s, char *err, size_t errlen);

/* total steps from dataset size; fills renorm schedule and momentum defaults */
void spec_resolve(const brn_job_spec *s, long train_examples, brn_resolved *r);

/* JSON round trip (all fields, names as in the flags with '_'). */
json_t *spec_to_json(const brn_job_spec *s);
int spec_from_json(brn_job_spec *s, const json_t *j, char *err, size_t errlen);

/* Help text listing every flag with its default. */
void spec_print_help(FILE *out);

/* Iterate the field table: name (with '_'), and the value formatted as a flag would take it. */
typedef int (*spec_field_fn)(const char *name, const char *value, void *user);
int spec_for_each(const brn_job_spec *s, spec_field_fn fn, void *user);

const char *norm_kind_name(brn_norm_kind k);
const char *lr_schedule_name(brn_lr_schedule k);

#endif
