/* Learning-rate and renorm (rmax/dmax) schedules: pure functions of the step. */
#ifndef BRN_SCHEDULE_H
#define BRN_SCHEDULE_H

#include "spec.h"

/* Learning rate for optimizer step t (0-based). */
double brn_schedule_lr(const brn_job_spec *s, const brn_resolved *r, long t);

/* BRN clip limits for step t: plain BN (1, 0) during the warm-up, then the linear
 * (paper) or logistic (seed) ramp. */
void brn_schedule_renorm(const brn_job_spec *s, const brn_resolved *r, long t, double *rmax, double *dmax);

#endif
