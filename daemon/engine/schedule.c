#include "schedule.h"

#include <math.h>

double brn_schedule_lr(const brn_job_spec *s, const brn_resolved *r, long t)
{
    const long spe = r->steps_per_epoch > 0 ? r->steps_per_epoch : 1;
    const long warm = lround(s->warmup_epochs * (double)spe);
    if (t < warm) return s->lr * (double)(t + 1) / (double)warm;
    switch (s->lr_schedule) {
    case BRN_LR_CONSTANT:
        return s->lr;
    case BRN_LR_STEP: {
        /* MultiStepLR stepped per epoch: every milestone reached multiplies by lr_factor */
        long epoch = t / spe;
        double lr = s->lr;
        for (int i = 0; i < s->n_milestones; i++)
            if (epoch >= s->milestones[i]) lr *= s->lr_factor;
        return lr;
    }
    case BRN_LR_COSINE: {
        long span = r->total_steps - warm;
        if (span <= 0) return s->lr;
        return 0.5 * s->lr * (1.0 + cos(M_PI * (double)(t - warm) / (double)span));
    }
    }
    return s->lr;
}

static double ramp(double from, double to, long t, long start, long end)
{
    if (end <= start) return to;   /* no ramp: the final value right after the warm-up */
    double f = (double)(t - start) / (double)(end - start);
    if (f > 1) f = 1;
    return from + (to - from) * f;
}

void brn_schedule_renorm(const brn_job_spec *s, const brn_resolved *r, long t, double *rmax, double *dmax)
{
    if (s->norm != BRN_NORM_BRN || t < r->renorm_warmup) {
        *rmax = 1;
        *dmax = 0;
        return;
    }
    if (s->renorm_schedule == BRN_RENORM_LINEAR) {
        *rmax = ramp(1, s->rmax, t, r->renorm_warmup, r->rmax_steps);
        *dmax = ramp(0, s->dmax, t, r->renorm_warmup, r->dmax_steps);
        return;
    }
    /* the seed's curves: t grows by t_delta per batch */
    double ts = (double)(t - r->renorm_warmup) * s->t_delta;
    *rmax = s->rmax / (1.0 + (s->rmax - 1.0) * exp(-ts));
    /* dmax 0 (r alone) stays 0: the curve's formula would be 0/0 there */
    *dmax = s->dmax > 0 ? s->dmax / (1.0 + (s->dmax / 1e-3 - 1.0) * exp(-2.0 * ts)) : 0;
}
