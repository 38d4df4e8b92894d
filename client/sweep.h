/* Sweeps: a grid of job-spec settings times a number of seeds, expanded into jobs.
 *
 * `--grid FIELD=V1,V2,...` axes over any spec field the daemon accepts (not seed: seeds
 * come from --seeds N, counting up from the spec's seed). The points are the cross
 * product of the axes, first axis slowest. A swept field that has no effect at a point
 * (brn_spec_field_inert: microbatch under gn, rmax under bn, ...) is not applied there
 * (the base value stays) and points that then coincide are merged: --grid norm=bn,brn,gn
 * --grid microbatch=0,2,4 gives 7 points, not 9.
 *
 * Every job is labelled sweep=NAME, FIELD=VALUE for each swept field that applies, and
 * seed=S; its idempotency key is "sweep:NAME:" followed by 16 hex digits of the FNV-1a
 * 64-bit hash of its canonical point: the lines "field=value\n" of those labels except
 * sweep, sorted by field, seed included. Running the same sweep again therefore finds
 * the jobs it created; the Python client derives the same keys.
 *
 * Pure: no I/O, no RPC. Errors return SWEEP_EUSAGE (a bad name, field or value text) or
 * SWEEP_EINVALID (a point whose spec fails brn_spec_validate) with the reason in err. */
#ifndef BRNCTL_SWEEP_H
#define BRNCTL_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_spec.h"
#include "labels.h"
#include "spec.h"

#define SWEEP_NAME_MAX 63         /* [A-Za-z0-9_.-]: a label value, part of keys and file names */
#define SWEEP_MAX_AXES 16
#define SWEEP_MAX_VALUES 64       /* per axis */
#define SWEEP_MAX_POINTS 1000     /* grid points before merging */
#define SWEEP_MAX_JOBS 10000      /* points x seeds */
#define SWEEP_KEY_LEN 96

enum { SWEEP_EUSAGE = -1, SWEEP_EINVALID = -2 };

typedef struct sweep_axis {
    char field[64];                        /* spec field name, with '_' */
    char *values[SWEEP_MAX_VALUES];        /* as given (malloc'd) */
    int n;
} sweep_axis;

typedef struct sweep_point {
    int value[SWEEP_MAX_AXES];             /* index into the axis' values; -1: inert here */
    brn_job_spec spec;                     /* the base with this point's values (base seed) */
} sweep_point;

typedef struct sweep_plan {
    char name[SWEEP_NAME_MAX + 1];
    sweep_axis axes[SWEEP_MAX_AXES];
    int n_axes;
    uint64_t seed0;                        /* seeds are seed0 .. seed0 + n_seeds - 1 */
    int n_seeds;
    sweep_point *points;
    int n_points;
    int n_merged;                          /* grid points merged away (inert fields) */
} sweep_plan;

/* An empty plan named name (checked: 1..63 of A-Z a-z 0-9 _ . -) with n_seeds seeds. */
int sweep_init(sweep_plan *p, const char *name, int n_seeds, char *err, size_t errlen);
void sweep_free(sweep_plan *p);

/* Adds the axis "FIELD=V1,V2,...": a known, daemon-accepted, not yet swept field other
 * than seed and milestones, with distinct values each of which the field accepts. */
int sweep_add_axis(sweep_plan *p, const char *arg, char *err, size_t errlen);

/* Expands the grid over base (seed0 = base->seed): fills points, merging as described. */
int sweep_expand(sweep_plan *p, const brn_job_spec *base, char *err, size_t errlen);

int sweep_job_count(const sweep_plan *p);

/* Job j (0 .. count-1) in submission order: seed-major, so the first seed of every point
 * runs before any second seed. */
void sweep_job_at(const sweep_plan *p, int j, int *point, uint64_t *seed);

/* The job's spec (the point's spec with its seed). */
void sweep_job_spec(const sweep_plan *p, int point, uint64_t seed, brn_job_spec *out);

/* The spec fields to send for the job: the base's given fields, the point's applied
 * axes and seed. */
void sweep_job_given(const sweep_plan *p, const ctl_spec_given *base_given, int point, ctl_spec_given *out);

/* Labels sweep=NAME, FIELD=VALUE per applied axis (axis order), seed=S. 0 or -1 (OOM). */
int sweep_job_labels(const sweep_plan *p, int point, uint64_t seed, ctl_labels *out);

/* "sweep:NAME:<16 hex>" (see above). */
void sweep_job_key(const sweep_plan *p, int point, uint64_t seed, char *out, size_t n);

/* "norm=bn microbatch=2" (applied axes, axis order; "(base)" with no axes). */
void sweep_point_text(const sweep_plan *p, int point, char *out, size_t n);

uint64_t sweep_fnv1a64(const char *s);

#endif
