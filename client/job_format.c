/* Job and event formatting (see job_format.h). */
#include "job_format.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "labels.h"
#include "pb_json.h"

const char *jobfmt_state_name(int state)
{
    return pb_enum_short_name(&brn__v1__job_state__descriptor, state);
}

int jobfmt_state_terminal(int state)
{
    return state == BRN__V1__JOB_STATE__JOB_STATE_SUCCEEDED || state == BRN__V1__JOB_STATE__JOB_STATE_FAILED ||
           state == BRN__V1__JOB_STATE__JOB_STATE_CANCELLED;
}

int jobfmt_state_parse(const char *s)
{
    const ProtobufCEnumDescriptor *d = &brn__v1__job_state__descriptor;
    for (unsigned i = 0; i < d->n_values; i++) {
        int v = d->values[i].value;
        if (v == BRN__V1__JOB_STATE__JOB_STATE_UNSPECIFIED) continue;
        if (!strcasecmp(s, d->values[i].name) || !strcasecmp(s, jobfmt_state_name(v))) return v;
    }
    return -1;
}

void jobfmt_duration(char *out, size_t n, int64_t ms)
{
    if (ms < 0) ms = 0;
    int64_t s = ms / 1000;
    if (ms < 1000) snprintf(out, n, "%lldms", (long long)ms);
    else if (s < 60) snprintf(out, n, "%.1fs", ms / 1000.0);
    else if (s < 3600) snprintf(out, n, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else snprintf(out, n, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
}

static void fmt_time(char *out, size_t n, int64_t ms)
{
    if (ms <= 0) {
        snprintf(out, n, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

static int64_t run_ms(const Brn__V1__Job *j, int64_t now_ms)
{
    if (j->started_ms <= 0) return -1;
    return (j->finished_ms > 0 ? j->finished_ms : now_ms) - j->started_ms;
}

/* The spec's model/norm in a few words for the table. */
static void spec_brief(char *out, size_t n, const Brn__V1__JobSpec *s)
{
    if (!s) {
        snprintf(out, n, "-");
        return;
    }
    snprintf(out, n, "%s %s WRN-%d-%d", s->dataset_opt_case ? s->dataset : "?", s->norm_opt_case ? s->norm : "?",
             s->depth_opt_case ? s->depth : 0, s->width_opt_case ? s->width : 0);
}

static int total_epochs(const Brn__V1__Job *j)
{
    return j->spec && j->spec->epochs_opt_case && !(j->spec->steps_opt_case && j->spec->steps > 0) ? j->spec->epochs : 0;
}

void jobfmt_print_table(FILE *out, Brn__V1__Job *const *jobs, size_t n, int64_t now_ms)
{
    fprintf(out, "%-6s %-16s %-10s %-30s %-9s %-8s %-19s %s\n", "ID", "NAME", "STATE", "SPEC", "EPOCH", "TIME",
            "CREATED", "LABELS");
    for (size_t i = 0; i < n; i++) {
        const Brn__V1__Job *j = jobs[i];
        char brief[96], ep[24], dur[24], created[32];
        spec_brief(brief, sizeof brief, j->spec);
        int te = total_epochs(j);
        if (te) snprintf(ep, sizeof ep, "%d/%d", j->epoch, te);
        else snprintf(ep, sizeof ep, "%d", j->epoch);
        int64_t r = run_ms(j, now_ms);
        if (r >= 0) jobfmt_duration(dur, sizeof dur, r);
        else snprintf(dur, sizeof dur, "-");
        fmt_time(created, sizeof created, j->created_ms);
        char labels[512];
        ctl_labels_format(labels, sizeof labels, j->labels, j->n_labels, ",");
        fprintf(out, "%-6lld %-16.16s %-10s %-30.30s %-9s %-8s %-19s %s\n", (long long)j->id,
                j->name && j->name[0] ? j->name : "-", jobfmt_state_name(j->state), brief, ep, dur, created, labels);
    }
}

void jobfmt_print_detail(FILE *out, const Brn__V1__Job *j, int64_t now_ms)
{
    char a[32], b[32], c[32], d[24];
    fmt_time(a, sizeof a, j->created_ms);
    fmt_time(b, sizeof b, j->started_ms);
    fmt_time(c, sizeof c, j->finished_ms);
    fprintf(out, "job %lld%s%s\n", (long long)j->id, j->name && j->name[0] ? "  " : "", j->name ? j->name : "");
    fprintf(out, "  state      %s", jobfmt_state_name(j->state));
    if (j->reason && j->reason[0]) fprintf(out, " (%s%s%s)", j->error && j->error[0] ? j->error : "",
                                            j->error && j->error[0] ? ": " : "", j->reason);
    char labels[2048];
    ctl_labels_format(labels, sizeof labels, j->labels, j->n_labels, " ");
    fprintf(out, "\n  labels     %s", labels);
    fprintf(out, "\n  priority   %d\n  device     %s\n", j->priority, j->device && j->device[0] ? j->device : "-");
    int te = total_epochs(j);
    fprintf(out, "  progress   epoch %d", j->epoch);
    if (te) fprintf(out, "/%d", te);
    fprintf(out, ", step %lld", (long long)j->step);
    if (j->total_steps > 0) fprintf(out, "/%lld (%.0f%%)", (long long)j->total_steps, 100.0 * j->step / j->total_steps);
    fprintf(out, "\n  created    %s\n  started    %s\n  finished   %s\n", a, b, c);
    int64_t r = run_ms(j, now_ms);
    if (r >= 0) {
        jobfmt_duration(d, sizeof d, r);
        fprintf(out, "  run time   %s\n", d);
    }
    if (!j->spec) return;
    fprintf(out, "  spec\n");
    json_t *js = pb_to_json(&j->spec->base);
    const char *key;
    json_t *v;
    json_object_foreach(js, key, v) {
        /* the text a flag takes: strings unquoted, reals short */
        if (json_is_string(v)) fprintf(out, "    %-18s %s\n", key, json_string_value(v));
        else if (json_is_real(v)) fprintf(out, "    %-18s %g\n", key, json_real_value(v));
        else {
            char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            fprintf(out, "    %-18s %s\n", key, txt ? txt : "?");
            free(txt);
        }
    }
    json_decref(js);
}

void jobfmt_epoch_line(char *out, size_t n, const Brn__V1__EpochMetrics *e, int total_epochs)
{
    char ep[32], test[64] = "";
    if (total_epochs > 0) snprintf(ep, sizeof ep, "%d/%d", e->epoch, total_epochs);
    else snprintf(ep, sizeof ep, "%d", e->epoch);
    if (e->evaluated) snprintf(test, sizeof test, "  test loss %.4f acc %.2f%%", e->test_loss, e->test_acc * 100);
    snprintf(out, n, "epoch %s  train loss %.4f acc %.2f%%%s  lr %.3g  %.1fs  %.0f img/s", ep, e->train_loss,
             e->train_acc * 100, test, e->lr, e->seconds, e->images_per_sec);
}

void jobfmt_progress_bar(char *out, size_t n, const Brn__V1__Progress *p, int total_epochs, int width)
{
    char info[160], ep[32];
    if (total_epochs > 0) snprintf(ep, sizeof ep, "%d/%d", p->epoch, total_epochs);
    else snprintf(ep, sizeof ep, "%d", p->epoch);
    snprintf(info, sizeof info, " epoch %s batch %lld/%lld  loss %.4f acc %.1f%%  %.0f img/s", ep,
             (long long)p->batch, (long long)p->batches_per_epoch, p->loss, p->acc * 100, p->images_per_sec);
    double frac = p->batches_per_epoch > 0 ? (double)p->batch / p->batches_per_epoch : 0;
    if (frac > 1) frac = 1;
    if (frac < 0) frac = 0;
    if (width < 40) width = 40;
    /* A fixed bar length (not one that follows the text's) keeps the bar from jittering. */
    int bar = width >= 99 ? 30 : width >= 79 ? 12 : 0; /* 100 or 80 columns less the cursor's */
    if (bar == 0 || (int)strlen(info) + bar + 7 > width) {
        snprintf(out, n, "%3.0f%%%s", frac * 100, info);
        if (strlen(out) > (size_t)width && (size_t)width < n) out[width] = 0;
        return;
    }
    int fill = (int)(frac * bar + 0.5);
    size_t o = 0;
    if (o + 1 < n) out[o++] = '[';
    for (int i = 0; i < bar && o + 1 < n; i++) out[o++] = i < fill ? '#' : '.';
    if (o < n) snprintf(out + o, n - o, "] %3.0f%%%s", frac * 100, info);
}
