/* Sweep reports: grouping and statistics (see report.h; the formats are in report_format.c). */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/pb_field.h"
#include "text_scalar.h"

#define NOT_APPLICABLE "-"

static int is_inert(const Brn__V1__Job *j, const char *field)
{
    for (size_t i = 0; i < j->n_inert_fields; i++)
        if (!strcmp(j->inert_fields[i], field)) return 1;
    return 0;
}

/* The job's value of one spec field as text; "-" where it does not apply. */
static void field_text(const Brn__V1__Job *j, const ProtobufCFieldDescriptor *f, char *out, size_t n)
{
    if (is_inert(j, f->name)) {
        snprintf(out, n, NOT_APPLICABLE);
        return;
    }
    if (j->spec && f->label == PROTOBUF_C_LABEL_REPEATED && !pb_field_present(&j->spec->base, f)) {
        snprintf(out, n, "none"); /* an empty list (no milestones) */
        return;
    }
    if (!j->spec || !pb_field_present(&j->spec->base, f)) {
        snprintf(out, n, "?");
        return;
    }
    pb_field_get_text(&j->spec->base, f, out, n);
    if (f->type == PROTOBUF_C_TYPE_DOUBLE && f->label != PROTOBUF_C_LABEL_REPEATED) brn_text_shortest_double(out, n, strtod(out, NULL));
}

static void stat_of(const double *v, int n, report_stat *s)
{
    s->n = 0;
    s->mean = s->std = s->min = s->max = NAN;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(v[i])) continue;
        if (s->n == 0 || v[i] < s->min) s->min = v[i];
        if (s->n == 0 || v[i] > s->max) s->max = v[i];
        sum += v[i];
        s->n++;
    }
    if (s->n == 0) return;
    s->mean = sum / s->n;
    if (s->n < 2) return;
    double ss = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) ss += (v[i] - s->mean) * (v[i] - s->mean);
    s->std = sqrt(ss / (s->n - 1));
}

/* Mean over an epoch's BRN layers of the fraction of r / d clipped; 0 without diagnostics. */
static int epoch_clips(const Brn__V1__EpochMetrics *e, double *r, double *d)
{
    if (e->n_renorm == 0) return 0;
    double sr = 0, sd = 0;
    for (size_t i = 0; i < e->n_renorm; i++) {
        sr += e->renorm[i]->frac_r_clipped;
        sd += e->renorm[i]->frac_d_clipped;
    }
    *r = sr / (double)e->n_renorm;
    *d = sd / (double)e->n_renorm;
    return 1;
}

static void job_numbers(report_job *rj)
{
    rj->final_acc = rj->best_acc = rj->sec_per_epoch = rj->r_clip = rj->d_clip = NAN;
    if (!rj->curve) return;
    if (rj->curve->n_epochs) epoch_clips(rj->curve->epochs[rj->curve->n_epochs - 1], &rj->r_clip, &rj->d_clip);
    double secs = 0;
    for (size_t i = 0; i < rj->curve->n_epochs; i++) {
        const Brn__V1__EpochMetrics *e = rj->curve->epochs[i];
        secs += e->seconds;
        if (!e->evaluated) continue;
        rj->final_acc = e->test_acc;
        if (!(rj->best_acc >= e->test_acc)) rj->best_acc = e->test_acc;
    }
    if (rj->curve->n_epochs) rj->sec_per_epoch = secs / (double)rj->curve->n_epochs;
}

static int by_job_id(const void *a, const void *b)
{
    int64_t x = ((const report_job *)a)->job->id, y = ((const report_job *)b)->job->id;
    return x < y ? -1 : x > y;
}

static int by_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Which spec fields differ (seed aside): at least two distinct applicable values. */
static int find_fields(report *r)
{
    const ProtobufCMessageDescriptor *d = &brn__v1__job_spec__descriptor;
    if (!(r->fields = calloc(d->n_fields, sizeof *r->fields))) return -1;
    for (unsigned f = 0; f < d->n_fields; f++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[f];
        if (!strcmp(fd->name, "seed")) continue;
        char first[1100] = "", v[1100];
        int have = 0, differs = 0;
        for (int j = 0; j < r->n_jobs && !differs; j++) {
            field_text(r->jobs[j].job, fd, v, sizeof v);
            if (!strcmp(v, NOT_APPLICABLE)) continue;
            if (!have) {
                snprintf(first, sizeof first, "%s", v);
                have = 1;
            } else if (strcmp(first, v)) {
                differs = 1;
            }
        }
        if (differs && !(r->fields[r->n_fields++] = strdup(fd->name))) return -1;
    }
    return 0;
}

/* The job's values of the differing fields (malloc'd strings). */
static char **job_values(const report *r, const Brn__V1__Job *j)
{
    char **v = calloc(r->n_fields ? (size_t)r->n_fields : 1, sizeof *v);
    char buf[1100];
    if (!v) return NULL;
    for (int f = 0; f < r->n_fields; f++) {
        field_text(j, protobuf_c_message_descriptor_get_field_by_name(&brn__v1__job_spec__descriptor, r->fields[f]), buf,
                   sizeof buf);
        if (!(v[f] = strdup(buf))) {
            for (int k = 0; k < f; k++) free(v[k]);
            free(v);
            return NULL;
        }
    }
    return v;
}

static void free_values(char **v, int n)
{
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

static int same_values(char **a, char **b, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(a[i], b[i])) return 0;
    return 1;
}

static int group_curve(report *r, report_group *g)
{
    int max_epoch = 0;
    for (int k = 0; k < g->n_jobs; k++) {
        const report_job *rj = &r->jobs[g->jobs[k]];
        if (rj->job->state != BRN__V1__JOB_STATE__JOB_STATE_SUCCEEDED || !rj->curve) continue;
        for (size_t i = 0; i < rj->curve->n_epochs; i++)
            if (rj->curve->epochs[i]->epoch > max_epoch) max_epoch = rj->curve->epochs[i]->epoch;
    }
    if (max_epoch == 0) return 0;
    if (!(g->epochs = calloc((size_t)max_epoch, sizeof *g->epochs))) return -1;
    double *acc = calloc((size_t)g->n_jobs + 1, sizeof *acc), *loss = calloc((size_t)g->n_jobs + 1, sizeof *loss);
    if (!acc || !loss) {
        free(acc);
        free(loss);
        return -1;
    }
    for (int e = 1; e <= max_epoch; e++) {
        int n = 0, nt = 0, nd = 0;
        double tl = 0, ta = 0, rsum = 0, dsum = 0, rj_r, rj_d;
        for (int k = 0; k < g->n_jobs; k++) {
            const report_job *rj = &r->jobs[g->jobs[k]];
            if (rj->job->state != BRN__V1__JOB_STATE__JOB_STATE_SUCCEEDED || !rj->curve) continue;
            for (size_t i = 0; i < rj->curve->n_epochs; i++) {
                const Brn__V1__EpochMetrics *m = rj->curve->epochs[i];
                if (m->epoch != e) continue;
                tl += m->train_loss;
                ta += m->train_acc;
                nt++;
                if (epoch_clips(m, &rj_r, &rj_d)) {
                    rsum += rj_r;
                    dsum += rj_d;
                    nd++;
                }
                if (m->evaluated) {
                    acc[n] = m->test_acc;
                    loss[n] = m->test_loss;
                    n++;
                }
            }
        }
        if (nt == 0) continue;
        report_epoch *p = &g->epochs[g->n_epochs++];
        report_stat sa, sl;
        stat_of(acc, n, &sa);
        stat_of(loss, n, &sl);
        *p = (report_epoch){.epoch = e, .n = n, .train_loss = tl / nt, .train_acc = ta / nt, .test_loss = sl.mean,
                            .test_acc = sa.mean, .test_loss_std = sl.std, .test_acc_std = sa.std,
                            .test_loss_min = sl.min, .test_loss_max = sl.max, .test_acc_min = sa.min,
                            .test_acc_max = sa.max, .r_clip = nd ? rsum / nd : NAN, .d_clip = nd ? dsum / nd : NAN};
    }
    free(acc);
    free(loss);
    return 0;
}

/* Counts, status text and statistics of one group. */
static int group_numbers(report *r, report_group *g)
{
    size_t m = (size_t)g->n_jobs + 1;
    double *fin = calloc(m, sizeof *fin), *best = calloc(m, sizeof *best), *sec = calloc(m, sizeof *sec),
           *rcl = calloc(m, sizeof *rcl), *dcl = calloc(m, sizeof *dcl);
    int *per_seed = calloc((size_t)r->n_seeds + 1, sizeof *per_seed), rc = -1;
    if (!fin || !best || !sec || !rcl || !dcl || !per_seed) goto done;
    int n = 0;
    for (int k = 0; k < g->n_jobs; k++) {
        const report_job *rj = &r->jobs[g->jobs[k]];
        uint64_t *s = bsearch(&rj->seed, r->seeds, (size_t)r->n_seeds, sizeof *r->seeds, by_u64);
        if (s) per_seed[s - r->seeds]++;
        switch (rj->job->state) {
        case BRN__V1__JOB_STATE__JOB_STATE_SUCCEEDED:
            g->n_done++;
            fin[n] = rj->final_acc;
            best[n] = rj->best_acc;
            sec[n] = rj->sec_per_epoch;
            rcl[n] = rj->r_clip;
            dcl[n] = rj->d_clip;
            n++;
            break;
        case BRN__V1__JOB_STATE__JOB_STATE_FAILED: g->n_failed++; break;
        case BRN__V1__JOB_STATE__JOB_STATE_CANCELLED: g->n_cancelled++; break;
        case BRN__V1__JOB_STATE__JOB_STATE_RUNNING: g->n_running++; break;
        default: g->n_queued++; break;
        }
    }
    g->n_expected = r->n_seeds;
    for (int s = 0; s < r->n_seeds; s++) {
        if (per_seed[s] == 0) g->n_missing++;
        if (per_seed[s] > 1) g->n_duplicate += per_seed[s] - 1;
    }
    stat_of(fin, n, &g->final);
    stat_of(best, n, &g->best);
    stat_of(sec, n, &g->sec_per_epoch);
    stat_of(rcl, n, &g->r_clip);
    stat_of(dcl, n, &g->d_clip);
    g->complete = g->n_done == g->n_expected && g->n_jobs == g->n_expected && g->n_missing == 0 && g->final.n == g->n_done;
    size_t o = (size_t)snprintf(g->status, sizeof g->status, "%d/%d done", g->n_done, g->n_expected);
    const struct { int n; const char *what; } parts[] = {
        {g->n_failed, "failed"}, {g->n_cancelled, "cancelled"}, {g->n_running, "running"},
        {g->n_queued, "queued"}, {g->n_missing, "missing"}, {g->n_duplicate, "duplicate seed"},
        {g->n_done - g->final.n, "without test accuracy"}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (parts[i].n && o < sizeof g->status)
            o += (size_t)snprintf(g->status + o, sizeof g->status - o, ", %d %s", parts[i].n, parts[i].what);
    rc = group_curve(r, g);
done:
    free(fin);
    free(best);
    free(sec);
    free(rcl);
    free(dcl);
    free(per_seed);
    return rc;
}

static void compute_gaps(report *r)
{
    const report_group *b = &r->groups[r->baseline];
    for (int g = 0; g < r->n_groups; g++) {
        report_group *x = &r->groups[g];
        x->gap = x->final.mean - b->final.mean;
        x->best_gap = x->best.mean - b->best.mean;
        x->gap_se = g == r->baseline ? 0 : sqrt(x->final.std * x->final.std / x->final.n +
                                                  b->final.std * b->final.std / b->final.n);
    }
}

int report_build(report *r, const char *name, Brn__V1__Job *const *jobs, size_t n_jobs,
                 Brn__V1__JobCurve *const *curves, size_t n_curves, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    if (n_jobs == 0) {
        snprintf(err, errlen, "no jobs are labelled sweep=%s", name);
        return -1;
    }
    if (!(r->jobs = calloc(n_jobs, sizeof *r->jobs)) || !(r->seeds = calloc(n_jobs, sizeof *r->seeds)) ||
        !(r->groups = calloc(n_jobs, sizeof *r->groups)))
        goto oom;
    for (size_t i = 0; i < n_jobs; i++) {
        report_job *rj = &r->jobs[r->n_jobs++];
        rj->job = jobs[i];
        rj->seed = jobs[i]->spec && jobs[i]->spec->seed_opt_case ? jobs[i]->spec->seed : 0;
        for (size_t k = 0; k < n_curves; k++)
            if (curves[k]->job_id == jobs[i]->id) rj->curve = curves[k];
        job_numbers(rj);
    }
    qsort(r->jobs, (size_t)r->n_jobs, sizeof *r->jobs, by_job_id);
    for (int j = 0; j < r->n_jobs; j++) {
        int seen = 0;
        for (int k = 0; k < r->n_seeds && !seen; k++) seen = r->seeds[k] == r->jobs[j].seed;
        if (!seen) r->seeds[r->n_seeds++] = r->jobs[j].seed;
    }
    qsort(r->seeds, (size_t)r->n_seeds, sizeof *r->seeds, by_u64);
    if (find_fields(r)) goto oom;
    for (int j = 0; j < r->n_jobs; j++) {
        char **v = job_values(r, r->jobs[j].job);
        if (!v) goto oom;
        int g = 0;
        while (g < r->n_groups && !same_values(r->groups[g].values, v, r->n_fields)) g++;
        report_group *grp = &r->groups[g];
        if (g == r->n_groups) {
            r->n_groups++;
            grp->values = v;
            if (!(grp->jobs = calloc((size_t)r->n_jobs, sizeof *grp->jobs))) goto oom;
        } else {
            free_values(v, r->n_fields);
        }
        grp->jobs[grp->n_jobs++] = j;
        r->jobs[j].group = g;
    }
    for (int g = 0; g < r->n_groups; g++)
        if (group_numbers(r, &r->groups[g])) goto oom;
    r->baseline = 0;
    compute_gaps(r);
    return 0;
oom:
    report_free(r);
    snprintf(err, errlen, "out of memory");
    return -1;
}

void report_free(report *r)
{
    for (int g = 0; r->groups && g < r->n_groups; g++) {
        free_values(r->groups[g].values, r->n_fields);
        free(r->groups[g].jobs);
        free(r->groups[g].epochs);
    }
    for (int f = 0; r->fields && f < r->n_fields; f++) free(r->fields[f]);
    free(r->fields);
    free(r->groups);
    free(r->jobs);
    free(r->seeds);
    memset(r, 0, sizeof *r);
}

int report_set_baseline(report *r, const char *spec, char *err, size_t errlen)
{
    char *copy = strdup(spec ? spec : ""), *save = NULL;
    const char *want[64] = {0};
    int rc = -1;
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (!eq || eq == t) {
            snprintf(err, errlen, "--baseline: '%s' is not FIELD=VALUE", t);
            goto done;
        }
        *eq = 0;
        for (char *c = t; *c; c++)
            if (*c == '-') *c = '_';
        int f = 0;
        while (f < r->n_fields && strcmp(r->fields[f], t)) f++;
        if (f == r->n_fields) {
            size_t o = (size_t)snprintf(err, errlen, "--baseline: %s is not a setting that differs in this sweep (", t);
            for (int k = 0; k < r->n_fields && o < errlen; k++)
                o += (size_t)snprintf(err + o, errlen - o, "%s%s", k ? ", " : "", r->fields[k]);
            if (o < errlen) snprintf(err + o, errlen - o, "%s)", r->n_fields ? "" : "none");
            goto done;
        }
        want[f] = eq + 1;
    }
    int found = -1, matches = 0;
    for (int g = 0; g < r->n_groups; g++) {
        int ok = 1;
        for (int f = 0; f < r->n_fields && ok; f++) {
            if (!want[f]) continue;
            const char *v = r->groups[g].values[f];
            /* numbers compare by value: "0.10" names the group shown as "0.1" */
            char *e1, *e2;
            double a = strtod(v, &e1), b = strtod(want[f], &e2);
            ok = !strcmp(v, want[f]) || (!*e1 && !*e2 && e1 != v && e2 != want[f] && a == b);
        }
        if (ok) {
            matches++;
            if (found < 0) found = g;
        }
    }
    if (matches != 1) {
        snprintf(err, errlen, "--baseline: '%s' matches %d groups; name one group (its settings as in the report)",
                 spec, matches);
        goto done;
    }
    r->baseline = found;
    compute_gaps(r);
    rc = 0;
done:
    free(copy);
    return rc;
}

void report_group_label(const report *r, int g, char *out, size_t n)
{
    size_t o = 0;
    out[0] = 0;
    for (int f = 0; f < r->n_fields && o < n; f++) {
        if (!strcmp(r->groups[g].values[f], NOT_APPLICABLE)) continue; /* "norm=gn", not "norm=gn microbatch=-" */
        o += (size_t)snprintf(out + o, n - o, "%s%s=%s", o ? " " : "", r->fields[f], r->groups[g].values[f]);
    }
    if (o == 0) snprintf(out, n, "all jobs");
}
