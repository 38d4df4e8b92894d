/* Which spec fields have no effect under a spec's other settings (see spec.h). Keep in
 * step with the code that reads the fields: model.c (norms), schedule.c (LR and renorm
 * schedules), batcher.c (sampling). */
#include <string.h>

#include "spec.h"

static int batch_norm_like(const brn_job_spec *s)
{
    return s->norm == BRN_NORM_BN || s->norm == BRN_NORM_BRN;
}

int brn_spec_field_inert(const brn_job_spec *s, const char *field)
{
    static const char *const renorm_fields[] = {"rmax", "dmax", "renorm_warmup", "renorm_schedule", NULL};
    for (int i = 0; renorm_fields[i]; i++)
        if (!strcmp(field, renorm_fields[i])) return s->norm != BRN_NORM_BRN;
    /* the logistic schedule has no end steps; the linear one no t_delta */
    if (!strcmp(field, "rmax_steps") || !strcmp(field, "dmax_steps"))
        return s->norm != BRN_NORM_BRN || s->renorm_schedule != BRN_RENORM_LINEAR;
    if (!strcmp(field, "t_delta")) return s->norm != BRN_NORM_BRN || s->renorm_schedule != BRN_RENORM_LOGISTIC;
    /* group, layer and no normalization have no batch statistics to group or average */
    if (!strcmp(field, "microbatch") || !strcmp(field, "eval_stats") || !strcmp(field, "norm_momentum"))
        return !batch_norm_like(s);
    if (!strcmp(field, "norm_eps")) return s->norm == BRN_NORM_NONE;
    if (!strcmp(field, "gn_groups")) return s->norm != BRN_NORM_GN;
    if (!strcmp(field, "labels_per_batch")) return s->sampling != BRN_SAMPLING_NON_IID;
    if (!strcmp(field, "milestones") || !strcmp(field, "lr_factor")) return s->lr_schedule != BRN_LR_STEP;
    if (!strcmp(field, "epochs")) return s->steps > 0;
    if (!strcmp(field, "nesterov")) return s->momentum == 0;
    return 0;
}
