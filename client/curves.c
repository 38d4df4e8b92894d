/* Curve formatting (see curves.h). */
#include "curves.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pb_json.h"
#include "ctl_spec.h"

static int appendf(char *out, size_t n, size_t *o, const char *fmt, double v, const char *key)
{
    if (*o >= n) return -1;
    int r = snprintf(out + *o, n - *o, fmt, key, v);
    if (r < 0) return -1;
    *o += (size_t)r;
    if (*o >= n) *o = n - 1;
    return 0;
}

void curve_label(const Brn__V1__JobCurve *c, char *out, size_t n)
{
    brn_job_spec s;
    char err[256];
    size_t o = 0;
    int r = snprintf(out, n, "#%lld", (long long)c->job_id);
    o = r > 0 ? (size_t)r : 0;
    int have_spec = c->spec && !ctl_spec_from_proto(&s, c->spec, err, sizeof err);
    /* a job named after its norm ("bn") would read "#1 bn bn" */
    if (c->name && c->name[0] && o < n && !(have_spec && !strcmp(c->name, brn_norm_kind_name(s.norm)))) {
        r = snprintf(out + o, n - o, " %s", c->name);
        if (r > 0) o += (size_t)r;
    }
    if (o >= n || !have_spec) return;
    r = snprintf(out + o, n - o, " %s WRN-%d-%d bs=%d", brn_norm_kind_name(s.norm), s.depth, s.width, s.batch_size);
    if (r > 0) o += (size_t)r;
    if (o >= n) return;
    if (s.norm == BRN_NORM_BRN) {
        appendf(out, n, &o, " %s=%g", s.rmax, "rmax");
        appendf(out, n, &o, " %s=%g", s.dmax, "dmax");
        if (s.renorm_schedule == BRN_RENORM_LOGISTIC) appendf(out, n, &o, " %s=%g", s.t_delta, "logistic t_delta");
    }
    if (s.norm == BRN_NORM_GN) appendf(out, n, &o, " %s=%g", s.gn_groups, "groups");
    if ((s.norm == BRN_NORM_BN || s.norm == BRN_NORM_BRN) && s.microbatch > 0) appendf(out, n, &o, " %s=%g", s.microbatch, "mb");
    if ((s.norm == BRN_NORM_BN || s.norm == BRN_NORM_BRN) && s.eval_stats == BRN_EVAL_BATCH) {
        if (o < n) snprintf(out + o, n - o, " eval=batch");
    }
}

plot_point *curve_points(const Brn__V1__JobCurve *c)
{
    if (c->n_epochs == 0) return NULL;
    plot_point *p = calloc(c->n_epochs, sizeof *p);
    if (!p) return NULL;
    for (size_t i = 0; i < c->n_epochs; i++) {
        const Brn__V1__EpochMetrics *e = c->epochs[i];
        p[i].x = e->epoch;
        p[i].train_loss = e->train_loss;
        p[i].train_acc = e->train_acc;
        p[i].has_test = e->evaluated;
        p[i].test_loss = e->test_loss;
        p[i].test_acc = e->test_acc;
    }
    return p;
}

static const char *state_name(int st)
{
    return pb_enum_short_name(&brn__v1__job_state__descriptor, st);
}

void curves_print_table(FILE *out, Brn__V1__JobCurve *const *curves, size_t n)
{
    char label[256];
    for (size_t k = 0; k < n; k++) {
        const Brn__V1__JobCurve *c = curves[k];
        curve_label(c, label, sizeof label);
        fprintf(out, "%s%s  [%s]\n", k ? "\n" : "", label, state_name(c->state));
        fprintf(out, "%5s %8s %10s %9s %10s %9s %9s %6s %6s %8s %8s\n", "epoch", "step", "train_loss",
                "train_acc", "test_loss", "test_acc", "lr", "rmax", "dmax", "seconds", "img/s");
        if (c->n_epochs == 0) fprintf(out, "  (no epoch finished yet)\n");
        for (size_t i = 0; i < c->n_epochs; i++) {
            const Brn__V1__EpochMetrics *e = c->epochs[i];
            char tl[32], ta[32];
            if (e->evaluated) {
                snprintf(tl, sizeof tl, "%.4f", e->test_loss);
                snprintf(ta, sizeof ta, "%.2f%%", e->test_acc * 100);
            } else {
                snprintf(tl, sizeof tl, "-");
                snprintf(ta, sizeof ta, "-");
            }
            fprintf(out, "%5d %8lld %10.4f %8.2f%% %10s %9s %9.3g %6.3g %6.3g %8.1f %8.0f\n", e->epoch,
                    (long long)e->step, e->train_loss, e->train_acc * 100, tl, ta, e->lr, e->rmax, e->dmax,
                    e->seconds, e->images_per_sec);
        }
    }
}

/* A CSV field: quoted when it holds a comma, quote or newline. */
static void csv_text(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void curves_print_csv(FILE *out, Brn__V1__JobCurve *const *curves, size_t n)
{
    fprintf(out, "job_id,name,norm,epoch,step,train_loss,train_acc,test_loss,test_acc,lr,rmax,dmax,seconds,images_per_sec\n");
    for (size_t k = 0; k < n; k++) {
        const Brn__V1__JobCurve *c = curves[k];
        brn_job_spec s;
        char err[256];
        const char *norm = c->spec && !ctl_spec_from_proto(&s, c->spec, err, sizeof err) ? brn_norm_kind_name(s.norm) : "";
        for (size_t i = 0; i < c->n_epochs; i++) {
            const Brn__V1__EpochMetrics *e = c->epochs[i];
            fprintf(out, "%lld,", (long long)c->job_id);
            csv_text(out, c->name ? c->name : "");
            fprintf(out, ",%s,%d,%lld,%.9g,%.9g,", norm, e->epoch, (long long)e->step, e->train_loss, e->train_acc);
            if (e->evaluated) fprintf(out, "%.9g,%.9g,", e->test_loss, e->test_acc);
            else fprintf(out, ",,");
            fprintf(out, "%.9g,%.9g,%.9g,%.6g,%.6g\n", e->lr, e->rmax, e->dmax, e->seconds, e->images_per_sec);
        }
    }
}

void curves_print_summary(FILE *out, Brn__V1__JobCurve *const *curves, size_t n)
{
    char label[256];
    fprintf(out, "%-10s %6s %10s %10s %9s %9s  %s\n", "state", "epochs", "train_loss", "test_loss", "test_acc",
            "best_acc", "job");
    for (size_t k = 0; k < n; k++) {
        const Brn__V1__JobCurve *c = curves[k];
        double best = NAN, tl = NAN, vl = NAN, va = NAN;
        for (size_t i = 0; i < c->n_epochs; i++) {
            const Brn__V1__EpochMetrics *e = c->epochs[i];
            tl = e->train_loss;
            if (e->evaluated) {
                vl = e->test_loss;
                va = e->test_acc * 100;
                if (!(best >= va)) best = va;
            }
        }
        curve_label(c, label, sizeof label);
        fprintf(out, "%-10s %6zu %10.4f %10.4f %8.2f%% %8.2f%%  %s\n", state_name(c->state), c->n_epochs, tl, vl, va,
                best, label);
    }
}

int curves_write_svg(FILE *out, const char *title, Brn__V1__JobCurve *const *curves, size_t n)
{
    plot_series *s = calloc(n ? n : 1, sizeof *s);
    char (*labels)[160] = calloc(n ? n : 1, sizeof *labels);
    int rc = -1;
    if (!s || !labels) goto done;
    for (size_t k = 0; k < n; k++) {
        curve_label(curves[k], labels[k], sizeof labels[k]);
        s[k].label = labels[k];
        s[k].pts = curve_points(curves[k]);
        s[k].n = s[k].pts ? (int)curves[k]->n_epochs : 0;
    }
    rc = svg_plot_write(out, title, s, (int)n);
    for (size_t k = 0; k < n; k++) free((void *)s[k].pts);
done:
    free(s);
    free(labels);
    return rc;
}
