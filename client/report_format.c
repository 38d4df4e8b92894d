/* Sweep reports as text, markdown, CSV, JSON and SVG (see report.h). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "svg_plot.h"

#define CELL 192

/* "85.21 ± 0.31" in percent; the mean alone when n = 1; "-" when n = 0. */
static void pct_cell(char *out, const report_stat *s)
{
    if (s->n == 0 || isnan(s->mean)) snprintf(out, CELL, "-");
    else if (isnan(s->std)) snprintf(out, CELL, "%.2f", s->mean * 100);
    else snprintf(out, CELL, "%.2f ± %.2f", s->mean * 100, s->std * 100);
}

static void gap_cell(char *out, const report *r, int g)
{
    const report_group *x = &r->groups[g];
    if (g == r->baseline) snprintf(out, CELL, "baseline");
    else if (isnan(x->gap)) snprintf(out, CELL, "-");
    else if (isnan(x->gap_se)) snprintf(out, CELL, "%+.2f", x->gap * 100);
    else snprintf(out, CELL, "%+.2f ± %.2f", x->gap * 100, x->gap_se * 100);
}

/* The table shared by text and markdown: a header row, then one row per group. */
typedef struct table {
    int rows, cols;
    char (*cell)[CELL];
} table;

static int has_diag(const report *r)
{
    for (int g = 0; g < r->n_groups; g++)
        if (r->groups[g].r_clip.n > 0) return 1;
    return 0;
}

/* "12.3" percent, or "-". */
static void mean_pct_cell(char *out, const report_stat *s)
{
    if (s->n == 0) snprintf(out, CELL, "-");
    else snprintf(out, CELL, "%.1f", s->mean * 100);
}

static int table_build(const report *r, table *t)
{
    int diag = has_diag(r);
    t->cols = r->n_fields + 6 + 2 * diag;
    t->rows = r->n_groups + 1;
    t->cell = calloc((size_t)(t->rows * t->cols), sizeof *t->cell);
    if (!t->cell) return -1;
#define C(row, col) t->cell[(row) * t->cols + (col)]
    static const char *const head[] = {"n", "final test acc %", "best test acc %", "gap (points)", "r clipped %",
                                       "d clipped %", "s/epoch", "status"};
    int c = r->n_fields;
    for (int f = 0; f < r->n_fields; f++) snprintf(C(0, f), CELL, "%s", r->fields[f]);
    for (int k = 0; k < 8; k++)
        if (diag || (k != 4 && k != 5)) snprintf(C(0, c++), CELL, "%s", head[k]);
    for (int g = 0; g < r->n_groups; g++) {
        const report_group *x = &r->groups[g];
        int row = g + 1;
        c = r->n_fields;
        for (int f = 0; f < r->n_fields; f++) snprintf(C(row, f), CELL, "%s", x->values[f]);
        snprintf(C(row, c++), CELL, "%d", x->final.n);
        pct_cell(C(row, c++), &x->final);
        pct_cell(C(row, c++), &x->best);
        gap_cell(C(row, c++), r, g);
        if (diag) {
            mean_pct_cell(C(row, c++), &x->r_clip);
            mean_pct_cell(C(row, c++), &x->d_clip);
        }
        if (isnan(x->sec_per_epoch.mean)) snprintf(C(row, c++), CELL, "-");
        else snprintf(C(row, c++), CELL, "%.1f", x->sec_per_epoch.mean);
        snprintf(C(row, c), CELL, "%s%s", x->status, x->complete ? "" : " *");
    }
#undef C
    return 0;
}

/* Display width of UTF-8 text (every character one column; "±" is two bytes). */
static int width_of(const char *s)
{
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

static int any_incomplete(const report *r)
{
    for (int g = 0; g < r->n_groups; g++)
        if (!r->groups[g].complete) return 1;
    return 0;
}

static void seeds_text(const report *r, char *out, size_t n)
{
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < r->n_seeds && o < n; i++) {
        if (i >= 12) {
            snprintf(out + o, n - o, " ...");
            break;
        }
        o += (size_t)snprintf(out + o, n - o, "%s%" PRIu64, i ? " " : "", r->seeds[i]);
    }
}

static void fields_text(const report *r, char *out, size_t n)
{
    size_t o = 0;
    out[0] = 0;
    for (int f = 0; f < r->n_fields && o < n; f++) o += (size_t)snprintf(out + o, n - o, "%s%s", f ? ", " : "", r->fields[f]);
    if (r->n_fields == 0) snprintf(out, n, "none (one group)");
}

/* The lines above and below the table, in both text and markdown. */
static void preamble(FILE *out, const report *r, const char *bullet)
{
    char seeds[256], fields[512], base[512];
    seeds_text(r, seeds, sizeof seeds);
    fields_text(r, fields, sizeof fields);
    report_group_label(r, r->baseline, base, sizeof base);
    fprintf(out, "%ssweep %s: %d jobs in %d groups, seeds %s; settings that differ: %s\n", bullet, r->name, r->n_jobs,
            r->n_groups, seeds, fields);
    fprintf(out, "%stest accuracy in %%: mean ± sample std over the seeds that finished (n); gap: final test\n"
                 "%saccuracy minus the baseline's (%s), in points ± its standard error\n",
            bullet, bullet[0] ? "  " : "", base);
    if (has_diag(r))
        fprintf(out, "%sr/d clipped: Batch Renorm's r and d at rmax/dmax in the last epoch, %% of channels (mean over\n"
                     "%slayers and seeds)\n", bullet, bullet[0] ? "  " : "");
}

static void footnote(FILE *out, const report *r)
{
    if (any_incomplete(r))
        fprintf(out, "* incomplete: a seed is missing, unfinished or failed, or ran more than once; the numbers are over the finished jobs only\n");
}

void report_print_text(FILE *out, const report *r)
{
    table t;
    if (table_build(r, &t)) return;
    int *w = calloc((size_t)t.cols, sizeof *w);
    if (!w) {
        free(t.cell);
        return;
    }
    for (int i = 0; i < t.rows; i++)
        for (int c = 0; c < t.cols; c++) {
            int x = width_of(t.cell[i * t.cols + c]);
            if (x > w[c]) w[c] = x;
        }
    preamble(out, r, "");
    fputc('\n', out);
    for (int i = 0; i < t.rows; i++) {
        for (int c = 0; c < t.cols; c++) {
            const char *s = t.cell[i * t.cols + c];
            if (c == t.cols - 1) fprintf(out, "%s", s);
            else fprintf(out, "%s%*s  ", s, w[c] - width_of(s), "");
        }
        fputc('\n', out);
    }
    footnote(out, r);
    free(w);
    free(t.cell);
}

/* A markdown cell: pipes escaped. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputc('\\', out);
        fputc(*s, out);
    }
}

void report_print_markdown(FILE *out, const report *r)
{
    table t;
    if (table_build(r, &t)) return;
    preamble(out, r, "");
    fputc('\n', out);
    for (int i = 0; i < t.rows; i++) {
        fputs("|", out);
        for (int c = 0; c < t.cols; c++) {
            fputc(' ', out);
            md_cell(out, t.cell[i * t.cols + c]);
            fputs(" |", out);
        }
        fputc('\n', out);
        if (i == 0) {
            fputs("|", out);
            for (int c = 0; c < t.cols; c++) fputs(c < r->n_fields ? " --- |" : " ---: |", out);
            fputc('\n', out);
        }
    }
    if (any_incomplete(r)) {
        fputc('\n', out);
        footnote(out, r);
    }
    free(t.cell);
}

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

/* A number for CSV: empty when not defined. */
static void csv_num(FILE *out, double v)
{
    fputc(',', out);
    if (!isnan(v)) fprintf(out, "%.9g", v);
}

void report_print_csv(FILE *out, const report *r)
{
    for (int f = 0; f < r->n_fields; f++) fprintf(out, "%s,", r->fields[f]);
    fprintf(out, "n_done,n_expected,failed,cancelled,running,queued,missing,final_test_acc_mean,final_test_acc_std,"
                 "final_test_acc_min,final_test_acc_max,best_test_acc_mean,best_test_acc_std,gap,gap_se,"
                 "r_clipped,d_clipped,seconds_per_epoch,baseline,complete,status,job_ids\n");
    for (int g = 0; g < r->n_groups; g++) {
        const report_group *x = &r->groups[g];
        for (int f = 0; f < r->n_fields; f++) {
            csv_text(out, x->values[f]);
            fputc(',', out);
        }
        fprintf(out, "%d,%d,%d,%d,%d,%d,%d", x->n_done, x->n_expected, x->n_failed, x->n_cancelled, x->n_running,
                x->n_queued, x->n_missing);
        csv_num(out, x->final.mean);
        csv_num(out, x->final.std);
        csv_num(out, x->final.min);
        csv_num(out, x->final.max);
        csv_num(out, x->best.mean);
        csv_num(out, x->best.std);
        csv_num(out, x->gap);
        csv_num(out, x->gap_se);
        csv_num(out, x->r_clip.mean);
        csv_num(out, x->d_clip.mean);
        csv_num(out, x->sec_per_epoch.mean);
        fprintf(out, ",%d,%d,", g == r->baseline, x->complete);
        csv_text(out, x->status);
        fputc(',', out);
        for (int k = 0; k < x->n_jobs; k++) fprintf(out, "%s%lld", k ? " " : "", (long long)r->jobs[x->jobs[k]].job->id);
        fputc('\n', out);
    }
}

static json_t *num(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *stat_json(const report_stat *s)
{
    return json_pack("{s:i,s:o,s:o,s:o,s:o}", "n", s->n, "mean", num(s->mean), "std", num(s->std), "min", num(s->min),
                     "max", num(s->max));
}

static json_t *settings_json(const report *r, int g)
{
    json_t *o = json_object();
    for (int f = 0; f < r->n_fields; f++) json_object_set_new(o, r->fields[f], json_string(r->groups[g].values[f]));
    return o;
}

json_t *report_to_json(const report *r)
{
    json_t *fields = json_array(), *seeds = json_array(), *groups = json_array();
    for (int f = 0; f < r->n_fields; f++) json_array_append_new(fields, json_string(r->fields[f]));
    for (int i = 0; i < r->n_seeds; i++) json_array_append_new(seeds, json_integer((json_int_t)r->seeds[i]));
    for (int g = 0; g < r->n_groups; g++) {
        const report_group *x = &r->groups[g];
        json_t *jobs = json_array(), *curve = json_array();
        for (int k = 0; k < x->n_jobs; k++) {
            const report_job *rj = &r->jobs[x->jobs[k]];
            const char *st = protobuf_c_enum_descriptor_get_value(&brn__v1__job_state__descriptor, rj->job->state)->name;
            json_array_append_new(jobs, json_pack("{s:I,s:I,s:s,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)rj->job->id,
                                                  "seed", (json_int_t)rj->seed, "state", st + strlen("JOB_STATE_"),
                                                  "final_test_acc", num(rj->final_acc), "best_test_acc",
                                                  num(rj->best_acc), "seconds_per_epoch", num(rj->sec_per_epoch),
                                                  "r_clipped", num(rj->r_clip), "d_clipped", num(rj->d_clip)));
        }
        for (int e = 0; e < x->n_epochs; e++) {
            const report_epoch *p = &x->epochs[e];
            json_array_append_new(curve, json_pack("{s:i,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "epoch",
                                                   p->epoch, "n", p->n, "train_loss", num(p->train_loss), "train_acc",
                                                   num(p->train_acc), "test_loss", num(p->test_loss), "test_acc",
                                                   num(p->test_acc), "test_acc_std", num(p->test_acc_std),
                                                   "test_acc_min", num(p->test_acc_min), "test_acc_max",
                                                   num(p->test_acc_max), "r_clipped", num(p->r_clip), "d_clipped",
                                                   num(p->d_clip)));
        }
        json_array_append_new(groups, json_pack(
            "{s:o,s:b,s:s,s:b,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
            "settings", settings_json(r, g), "baseline", g == r->baseline, "status", x->status, "complete", x->complete,
            "n_done", x->n_done, "n_expected", x->n_expected, "failed", x->n_failed, "cancelled", x->n_cancelled,
            "running", x->n_running, "queued", x->n_queued, "missing", x->n_missing, "duplicate", x->n_duplicate,
            "final_test_acc", stat_json(&x->final), "best_test_acc", stat_json(&x->best), "gap_final_test_acc",
            num(x->gap), "gap_se", num(x->gap_se), "gap_best_test_acc", num(x->best_gap), "seconds_per_epoch",
            stat_json(&x->sec_per_epoch), "r_clipped", stat_json(&x->r_clip), "d_clipped", stat_json(&x->d_clip),
            "jobs", jobs, "curve", curve));
    }
    return json_pack("{s:s,s:o,s:o,s:o,s:o}", "sweep", r->name, "fields", fields, "seeds", seeds, "baseline",
                     settings_json(r, r->baseline), "groups", groups);
}

int report_write_svg(FILE *out, const report *r, const char *title, int band_minmax)
{
    plot_series *s = calloc((size_t)r->n_groups + 1, sizeof *s);
    plot_point **pts = calloc((size_t)r->n_groups + 1, sizeof *pts);
    char (*labels)[256] = calloc((size_t)r->n_groups + 1, sizeof *labels);
    int n = 0, rc = -1;
    if (!s || !pts || !labels) goto done;
    for (int g = 0; g < r->n_groups; g++) {
        const report_group *x = &r->groups[g];
        if (x->n_epochs == 0) continue;
        if (!(pts[n] = calloc((size_t)x->n_epochs, sizeof **pts))) goto done;
        for (int e = 0; e < x->n_epochs; e++) {
            const report_epoch *p = &x->epochs[e];
            plot_point *q = &pts[n][e];
            q->x = p->epoch;
            q->train_loss = p->train_loss;
            q->train_acc = p->train_acc;
            q->has_test = p->n > 0;
            q->test_loss = p->test_loss;
            q->test_acc = p->test_acc;
            q->has_band = p->n > 1;
            if (band_minmax) {
                q->test_loss_lo = p->test_loss_min, q->test_loss_hi = p->test_loss_max;
                q->test_acc_lo = p->test_acc_min, q->test_acc_hi = p->test_acc_max;
            } else {
                q->test_loss_lo = p->test_loss - p->test_loss_std, q->test_loss_hi = p->test_loss + p->test_loss_std;
                q->test_acc_lo = p->test_acc - p->test_acc_std, q->test_acc_hi = p->test_acc + p->test_acc_std;
            }
        }
        report_group_label(r, g, labels[n], sizeof labels[n]);
        size_t o = strlen(labels[n]);
        snprintf(labels[n] + o, sizeof labels[n] - o, "  (n=%d%s)", x->final.n, x->complete ? "" : ", incomplete");
        s[n] = (plot_series){.label = labels[n], .pts = pts[n], .n = x->n_epochs};
        n++;
    }
    const plot_options o = {.title = title,
                            .band_note = band_minmax ? "band: min to max over seeds" : "band: ±1 std over seeds"};
    rc = svg_plot_write_opts(out, &o, s, n);
done:
    for (int k = 0; pts && k < n; k++) free(pts[k]);
    free(pts);
    free(s);
    free(labels);
    return rc;
}
