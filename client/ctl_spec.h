/* The job spec <-> the proto JobSpec, by field name (spec field names equal proto names).
 *
 * submit_args: brnctl submit's argv parsed with the engine's own flag parser
 * (brn_spec_parse_args), remembering which fields the user gave so that only those are sent
 * and the daemon applies its defaults to the rest. */
#ifndef BRNCTL_CTL_SPEC_H
#define BRNCTL_CTL_SPEC_H

#include <stddef.h>

#include "brn/v1/brn.pb-c.h"
#include "spec.h"

#define SPEC_PROTO_MAX_FIELDS 64

typedef struct ctl_spec_given {
    char names[SPEC_PROTO_MAX_FIELDS][64]; /* field names with '_', in argv order */
    int n;
} ctl_spec_given;

/* Parses argv (after "submit") into s (from brn_spec_defaults) and g. Arguments that are not
 * spec flags are left, by index, in rest[] (room for argc). Returns 0, or -1 with err. */
int ctl_spec_args_parse(brn_job_spec *s, ctl_spec_given *g, int argc, char **argv, int *rest, int *n_rest,
                    char *err, size_t errlen);

int ctl_spec_given_has(const ctl_spec_given *g, const char *name);

/* A heap JobSpec holding the given fields of s (all fields when g is NULL). Fields the
 * proto lacks (the server-side paths) are an error when given. Returns NULL with err set;
 * free with brn__v1__job_spec__free_unpacked(spec, NULL). */
Brn__V1__JobSpec *ctl_spec_to_proto(const brn_job_spec *s, const ctl_spec_given *g, char *err, size_t errlen);

/* s = defaults overridden by every present field of p (unknown proto fields are skipped). */
int ctl_spec_from_proto(brn_job_spec *s, const Brn__V1__JobSpec *p, char *err, size_t errlen);

#endif
