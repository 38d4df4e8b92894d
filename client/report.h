/* A sweep's report: its jobs grouped by the spec settings that differ between them (seed
 * aside), with per group the final and best test accuracy as mean ± std over seeds, the
 * gap to a baseline group, the time per epoch, and mean curves with a band.
 *
 * Inputs are the sweep's jobs (ListJobs, with their stored specs, labels and inert
 * fields) and their curves (GetMetrics). A setting differs when the jobs hold at least two
 * values of it where it applies; where it does not apply (a field the job lists as inert)
 * a job's value is "-". The groups keep the order of their first job (submission order).
 * A group's expected seeds are every seed any job of the sweep has: each one without a
 * job is "missing". The statistics are over the group's SUCCEEDED jobs only; a group whose
 * every expected seed has not exactly one SUCCEEDED job is incomplete, and every format
 * says so ("2/3 done, 1 failed"). std is the sample standard deviation (n-1); with n < 2
 * it is not defined (NaN; null in JSON, "-" in tables).
 *
 * Pure: builds from messages the caller owns (and must keep while the report lives) and
 * prints to a FILE*. */
#ifndef BRNCTL_REPORT_H
#define BRNCTL_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "brn/v1/brn.pb-c.h"

typedef struct report_stat {
    int n;
    double mean, std, min, max;    /* NaN when n == 0 (std: when n < 2) */
} report_stat;

typedef struct report_job {
    const Brn__V1__Job *job;
    const Brn__V1__JobCurve *curve;    /* NULL when GetMetrics had none */
    uint64_t seed;
    int group;
    double final_acc, best_acc;        /* last / best evaluated test accuracy (fraction); NaN: none */
    double sec_per_epoch;              /* mean of the epochs' seconds; NaN: no epoch */
    double r_clip, d_clip;             /* BRN: fraction of r / d clipped in the last epoch, mean over
                                          layers; NaN: no renorm diagnostics */
} report_job;

/* One epoch of a group's mean curve over its SUCCEEDED jobs. */
typedef struct report_epoch {
    int epoch;
    int n;                             /* jobs with this epoch evaluated */
    double train_loss, train_acc;      /* means */
    double test_loss, test_acc;        /* means */
    double test_loss_std, test_acc_std, test_loss_min, test_loss_max, test_acc_min, test_acc_max;
    double r_clip, d_clip;             /* means over layers and jobs; NaN: no renorm diagnostics */
} report_epoch;

typedef struct report_group {
    char **values;                     /* per differing field; "-" where it does not apply */
    int *jobs;                         /* indices into report.jobs, by id */
    int n_jobs;
    int n_expected, n_done, n_failed, n_cancelled, n_running, n_queued, n_missing, n_duplicate;
    int complete;
    char status[160];                  /* "3/3 done", "2/3 done, 1 failed" */
    report_stat final, best, sec_per_epoch;
    report_stat r_clip, d_clip;        /* over the SUCCEEDED jobs with diagnostics */
    double gap, gap_se;                /* final mean - baseline's; its standard error (NaN: n/a) */
    double best_gap;
    report_epoch *epochs;
    int n_epochs;
} report_group;

typedef struct report {
    char name[64];
    char **fields;                     /* the settings that differ, in proto field order */
    int n_fields;
    report_job *jobs;                  /* by id */
    int n_jobs;
    report_group *groups;
    int n_groups;
    uint64_t *seeds;                   /* every seed of the sweep, ascending */
    int n_seeds;
    int baseline;                      /* index of the baseline group */
} report;

/* Builds the report (baseline: the first group). Jobs in any order; curves matched by
 * job id. Returns 0, or -1 with err (no jobs, out of memory). */
int report_build(report *r, const char *name, Brn__V1__Job *const *jobs, size_t n_jobs,
                 Brn__V1__JobCurve *const *curves, size_t n_curves, char *err, size_t errlen);
void report_free(report *r);

/* Chooses the baseline by "field=value,field=value" over the differing fields; it must
 * match exactly one group. Returns 0, or -1 with err. Recomputes the gaps. */
int report_set_baseline(report *r, const char *spec, char *err, size_t errlen);

/* "norm=bn microbatch=0" (or "all jobs" when nothing differs). */
void report_group_label(const report *r, int g, char *out, size_t n);

/* The formats. Text and markdown show accuracies in percent; CSV and JSON as fractions. */
void report_print_text(FILE *out, const report *r);
void report_print_markdown(FILE *out, const report *r);
void report_print_csv(FILE *out, const report *r);
json_t *report_to_json(const report *r);

/* Mean curves per group (groups without a finished job are left out) with a band around
 * the test curves: ±1 std over seeds, or min..max with band_minmax. 0, or -1 when there is
 * nothing to plot or on a write error. */
int report_write_svg(FILE *out, const report *r, const char *title, int band_minmax);

#endif
