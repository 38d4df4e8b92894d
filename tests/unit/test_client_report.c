/* brnctl report's numbers and formats (client/report.c, report_format.c) from jobs and
 * curves built here: grouping by the stored settings that differ (inert ones as "-"),
 * mean / sample std / n over the SUCCEEDED seeds, failed, running and missing seeds named
 * in the status, the gap to a baseline with its standard error, the mean curves, and the
 * text, markdown, CSV, JSON and SVG output. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "client/report.h"

#define MAX_JOBS 16
#define MAX_EPOCHS 4

typedef struct fixture {
    Brn__V1__Job job[MAX_JOBS], *jobs[MAX_JOBS];
    Brn__V1__JobSpec spec[MAX_JOBS];
    Brn__V1__JobCurve curve[MAX_JOBS], *curves[MAX_JOBS];
    Brn__V1__EpochMetrics ep[MAX_JOBS][MAX_EPOCHS], *eps[MAX_JOBS][MAX_EPOCHS];
    char *inert[MAX_JOBS][1];
    Brn__V1__RenormDiag diag[MAX_JOBS][MAX_EPOCHS][2], *diags[MAX_JOBS][MAX_EPOCHS][2];
    int n;
} fixture;

/* A job of norm/microbatch/seed/state whose test accuracy per epoch is acc[0..n_ep). */
static void add(fixture *f, const char *norm, int microbatch, int seed, int state, const double *acc, int n_ep)
{
    int i = f->n++;
    Brn__V1__Job *j = &f->job[i];
    Brn__V1__JobSpec *s = &f->spec[i];
    brn__v1__job__init(j);
    brn__v1__job_spec__init(s);
    s->norm_opt_case = BRN__V1__JOB_SPEC__NORM_OPT_NORM;
    s->norm = (char *)norm;
    s->microbatch_opt_case = BRN__V1__JOB_SPEC__MICROBATCH_OPT_MICROBATCH;
    s->microbatch = microbatch;
    s->seed_opt_case = BRN__V1__JOB_SPEC__SEED_OPT_SEED;
    s->seed = (uint64_t)seed;
    s->lr_opt_case = BRN__V1__JOB_SPEC__LR_OPT_LR;
    s->lr = 0.1; /* the same everywhere: not a setting that differs */
    j->id = i + 1;
    j->state = state;
    j->spec = s;
    if (!strcmp(norm, "gn")) {
        f->inert[i][0] = "microbatch";
        j->n_inert_fields = 1;
        j->inert_fields = f->inert[i];
    }
    f->jobs[i] = j;
    Brn__V1__JobCurve *c = &f->curve[i];
    brn__v1__job_curve__init(c);
    c->job_id = j->id;
    c->state = state;
    for (int e = 0; e < n_ep; e++) {
        Brn__V1__EpochMetrics *m = &f->ep[i][e];
        brn__v1__epoch_metrics__init(m);
        m->epoch = e + 1;
        m->evaluated = 1;
        m->test_acc = acc[e];
        m->test_loss = 1 - acc[e];
        m->train_loss = 1.5 - acc[e];
        m->train_acc = acc[e];
        m->seconds = 2.0 + e;
        f->eps[i][e] = m;
        if (!strcmp(norm, "brn")) { /* two BRN layers: r clipped in 10% and 30% of channels, d in 0% and 10% */
            for (int k = 0; k < 2; k++) {
                Brn__V1__RenormDiag *d = &f->diag[i][e][k];
                brn__v1__renorm_diag__init(d);
                d->frac_r_clipped = k ? 0.3 : 0.1;
                d->frac_d_clipped = k ? 0.1 + e : 0.0; /* the last epoch counts */
                f->diags[i][e][k] = d;
            }
            m->n_renorm = 2;
            m->renorm = f->diags[i][e];
        }
    }
    c->n_epochs = (size_t)n_ep;
    c->epochs = f->eps[i];
    f->curves[i] = c;
}

enum { OK = BRN__V1__JOB_STATE__JOB_STATE_SUCCEEDED, FAILED = BRN__V1__JOB_STATE__JOB_STATE_FAILED,
       RUNNING = BRN__V1__JOB_STATE__JOB_STATE_RUNNING };

/* bn mb0 and bn mb2 with 3 seeds each, brn mb2 with seed 3 failed, gn (microbatch inert)
 * with seed 2 running and seed 3 never submitted. */
static void sweep_fixture(fixture *f)
{
    memset(f, 0, sizeof *f);
    const double a1[] = {0.70, 0.80}, a2[] = {0.72, 0.82}, a3[] = {0.71, 0.84}, b[] = {0.60, 0.75}, c[] = {0.5, 0.6};
    for (int seed = 1; seed <= 3; seed++) {
        add(f, "bn", 0, seed, OK, seed == 1 ? a1 : seed == 2 ? a2 : a3, 2);
        add(f, "bn", 2, seed, OK, b, 2);
        add(f, "brn", 2, seed, seed == 3 ? FAILED : OK, seed == 3 ? b : a1, seed == 3 ? 1 : 2);
        if (seed < 3) add(f, "gn", 0, seed, seed == 2 ? RUNNING : OK, c, seed == 2 ? 1 : 2);
    }
}

static void test_groups_and_numbers(void)
{
    fixture f;
    report r;
    char err[256], label[128];
    sweep_fixture(&f);
    CHECK_EQ_INT(report_build(&r, "s", f.jobs, (size_t)f.n, f.curves, (size_t)f.n, err, sizeof err), 0);
    CHECK_EQ_INT(r.n_fields, 2);
    CHECK(!strcmp(r.fields[0], "norm") && !strcmp(r.fields[1], "microbatch"));
    CHECK_EQ_INT(r.n_seeds, 3);
    CHECK_EQ_INT(r.n_groups, 4);
    report_group_label(&r, 0, label, sizeof label);
    CHECK(!strcmp(label, "norm=bn microbatch=0"));
    report_group_label(&r, 3, label, sizeof label);
    CHECK(!strcmp(label, "norm=gn"));                 /* microbatch does not apply */
    CHECK(!strcmp(r.groups[3].values[1], "-"));
    /* bn mb0: final accuracies 0.80, 0.82, 0.84 -> mean 0.82, sample std 0.02 */
    const report_group *g = &r.groups[0];
    CHECK_EQ_INT(g->final.n, 3);
    CHECK_CLOSE(g->final.mean, 0.82, 1e-12, 0);
    CHECK_CLOSE(g->final.std, 0.02, 1e-12, 0);
    CHECK_CLOSE(g->final.min, 0.80, 1e-12, 0);
    CHECK_CLOSE(g->final.max, 0.84, 1e-12, 0);
    CHECK_CLOSE(g->best.mean, 0.82, 1e-12, 0);
    CHECK_CLOSE(g->sec_per_epoch.mean, 2.5, 1e-12, 0);
    CHECK(g->complete);
    CHECK(!strcmp(g->status, "3/3 done"));
    CHECK_CLOSE(g->gap, 0, 0, 0);
    /* bn mb2: 0.75 three times: std 0; gap -0.07 with se sqrt(0.02^2/3) */
    g = &r.groups[1];
    CHECK_CLOSE(g->final.std, 0, 1e-12, 0);
    CHECK_CLOSE(g->gap, -0.07, 1e-12, 0);
    CHECK_CLOSE(g->gap_se, sqrt(0.0004 / 3), 1e-12, 0);
    /* brn: one failed seed; the numbers are over the two that finished, and it says so */
    g = &r.groups[2];
    CHECK_EQ_INT(g->final.n, 2);
    CHECK_EQ_INT(g->n_failed, 1);
    CHECK(!g->complete);
    CHECK(!strcmp(g->status, "2/3 done, 1 failed"));
    CHECK_CLOSE(g->final.mean, 0.80, 1e-12, 0);
    /* renorm diagnostics: the last epoch's, mean over layers, over the finished seeds */
    CHECK_EQ_INT(g->r_clip.n, 2);
    CHECK_CLOSE(g->r_clip.mean, 0.2, 1e-12, 0);
    CHECK_CLOSE(g->d_clip.mean, (0.0 + 1.1) / 2, 1e-12, 0);
    CHECK_CLOSE(g->epochs[0].d_clip, 0.05, 1e-12, 0);
    CHECK_EQ_INT(r.groups[0].r_clip.n, 0);
    CHECK(isnan(r.groups[0].epochs[0].r_clip));
    /* gn: one running, one missing; n = 1 has no std */
    g = &r.groups[3];
    CHECK(!strcmp(g->status, "1/3 done, 1 running, 1 missing"));
    CHECK_EQ_INT(g->final.n, 1);
    CHECK(isnan(g->final.std));
    CHECK(isnan(g->gap_se));
    CHECK_CLOSE(g->final.mean, 0.6, 1e-12, 0);
    /* the mean curve of bn mb0: epoch 1 (0.70, 0.72, 0.71), epoch 2 (0.80, 0.82, 0.84) */
    g = &r.groups[0];
    CHECK_EQ_INT(g->n_epochs, 2);
    CHECK_CLOSE(g->epochs[0].test_acc, 0.71, 1e-12, 0);
    CHECK_CLOSE(g->epochs[0].test_acc_std, 0.01, 1e-12, 0);
    CHECK_CLOSE(g->epochs[1].test_acc_min, 0.80, 1e-12, 0);
    CHECK_EQ_INT(g->epochs[1].n, 3);
    /* the running gn seed's epoch is not in the curve: only SUCCEEDED jobs count */
    CHECK_EQ_INT(r.groups[3].epochs[0].n, 1);
    report_free(&r);
}

static void test_baseline(void)
{
    fixture f;
    report r;
    char err[512];
    sweep_fixture(&f);
    CHECK_EQ_INT(report_build(&r, "s", f.jobs, (size_t)f.n, f.curves, (size_t)f.n, err, sizeof err), 0);
    CHECK_EQ_INT(report_set_baseline(&r, "norm=bn,microbatch=2", err, sizeof err), 0);
    CHECK_EQ_INT(r.baseline, 1);
    CHECK_CLOSE(r.groups[0].gap, 0.07, 1e-12, 0);
    CHECK_EQ_INT(report_set_baseline(&r, "norm=bn", err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "matches 2 groups");
    CHECK_EQ_INT(report_set_baseline(&r, "lr=0.1", err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "lr is not a setting that differs in this sweep (norm, microbatch)");
    CHECK_EQ_INT(report_set_baseline(&r, "norm", err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "FIELD=VALUE");
    CHECK_EQ_INT(report_set_baseline(&r, "norm=brn,microbatch=2.0", err, sizeof err), 0); /* numbers by value */
    CHECK_EQ_INT(r.baseline, 2);
    CHECK_EQ_INT(report_set_baseline(&r, "norm=gn", err, sizeof err), 0);
    CHECK_EQ_INT(r.baseline, 3);
    report_free(&r);
    /* no jobs: an error, not an empty report */
    CHECK_EQ_INT(report_build(&r, "none", NULL, 0, NULL, 0, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "sweep=none");
}

static char *capture(const report *r, int which)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (which == 0) report_print_text(f, r);
    else if (which == 1) report_print_markdown(f, r);
    else if (which == 2) report_print_csv(f, r);
    else report_write_svg(f, r, "title", which == 4);
    fclose(f);
    return buf;
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_formats(void)
{
    fixture f;
    report r;
    char err[256];
    sweep_fixture(&f);
    CHECK_EQ_INT(report_build(&r, "s", f.jobs, (size_t)f.n, f.curves, (size_t)f.n, err, sizeof err), 0);
    char *t = capture(&r, 0);
    CHECK_STR_CONTAINS(t, "sweep s: 11 jobs in 4 groups, seeds 1 2 3; settings that differ: norm, microbatch");
    CHECK_STR_CONTAINS(t, "82.00 ± 2.00");
    CHECK_STR_CONTAINS(t, "baseline");
    CHECK_STR_CONTAINS(t, "-7.00 ± 1.15");
    CHECK_STR_CONTAINS(t, "2/3 done, 1 failed *");
    CHECK_STR_CONTAINS(t, "* incomplete");
    CHECK_STR_CONTAINS(t, "r clipped %  d clipped %");
    CHECK_STR_CONTAINS(t, "20.0         55.0");
    free(t);
    t = capture(&r, 1);
    CHECK_STR_CONTAINS(t, "| norm | microbatch | n | final test acc % |");
    CHECK_STR_CONTAINS(t, "| gn | - | 1 | 60.00 |");
    free(t);
    t = capture(&r, 2);
    CHECK_EQ_INT(lines(t), 5); /* header + 4 groups */
    CHECK_STR_CONTAINS(t, "norm,microbatch,n_done,n_expected,failed,");
    CHECK_STR_CONTAINS(t, "bn,0,3,3,0,0,0,0,0,0.82,0.02,0.8,0.84,");
    CHECK_STR_CONTAINS(t, "1 5 9\n"); /* the job ids of bn mb0 */
    free(t);
    json_t *j = report_to_json(&r);
    json_t *g0 = json_array_get(json_object_get(j, "groups"), 0), *g3 = json_array_get(json_object_get(j, "groups"), 3);
    CHECK_CLOSE(json_real_value(json_object_get(json_object_get(g0, "final_test_acc"), "mean")), 0.82, 1e-12, 0);
    CHECK(json_is_true(json_object_get(g0, "baseline")));
    CHECK(json_is_false(json_object_get(g3, "complete")));
    CHECK(json_is_null(json_object_get(json_object_get(g3, "final_test_acc"), "std")));
    CHECK_EQ_INT(json_integer_value(json_object_get(g3, "missing")), 1);
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(g3, "settings"), "microbatch")), "-"));
    CHECK_EQ_INT(json_array_size(json_object_get(g0, "jobs")), 3);
    CHECK_EQ_INT(json_array_size(json_object_get(g0, "curve")), 2);
    json_t *g2 = json_array_get(json_object_get(j, "groups"), 2);
    CHECK_CLOSE(json_real_value(json_object_get(json_object_get(g2, "r_clipped"), "mean")), 0.2, 1e-12, 0);
    CHECK(json_is_null(json_object_get(json_object_get(g0, "r_clipped"), "mean")));
    json_decref(j);
    t = capture(&r, 3);
    CHECK_STR_CONTAINS(t, "band: ±1 std over seeds");
    CHECK_STR_CONTAINS(t, "norm=gn  (n=1, incomplete)");
    CHECK_STR_CONTAINS(t, "class=\"band\"");
    free(t);
    t = capture(&r, 4);
    CHECK_STR_CONTAINS(t, "band: min to max over seeds");
    free(t);
    report_free(&r);
}

int main(void)
{
    TEST(test_groups_and_numbers);
    TEST(test_baseline);
    TEST(test_formats);
    return CHECK_DONE();
}
