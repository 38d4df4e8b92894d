/* Store rows and engine records -> heap proto messages. */
#include "convert.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_proto.h"

/* NULL stays the shared empty string, which free_unpacked knows not to free. */
static char *dup_str(const char *s, int *oom)
{
    if (!s || !s[0]) return (char *)protobuf_c_empty_string;
    char *d = strdup(s);
    if (!d) {
        *oom = 1;
        return (char *)protobuf_c_empty_string;
    }
    return d;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

Brn__V1__JobState convert_job_state(brn_job_state st)
{
    switch (st) {
    case BRN_JOB_QUEUED: return BRN__V1__JOB_STATE__JOB_STATE_QUEUED;
    case BRN_JOB_RUNNING: return BRN__V1__JOB_STATE__JOB_STATE_RUNNING;
    case BRN_JOB_SUCCEEDED: return BRN__V1__JOB_STATE__JOB_STATE_SUCCEEDED;
    case BRN_JOB_FAILED: return BRN__V1__JOB_STATE__JOB_STATE_FAILED;
    case BRN_JOB_CANCELLED: return BRN__V1__JOB_STATE__JOB_STATE_CANCELLED;
    default: return BRN__V1__JOB_STATE__JOB_STATE_UNSPECIFIED;
    }
}

int convert_job_state_from_proto(int st)
{
    for (int i = 0; i < BRN_JOB_STATE_COUNT; i++)
        if ((int)convert_job_state((brn_job_state)i) == st) return i;
    return -1;
}

/* Job.labels from the row's {"key":"value"} text, sorted by key. Returns -1 on out of
 * memory; a text that does not parse leaves the job without labels. */
static int add_labels(Brn__V1__Job *j, const char *labels_json)
{
    if (!labels_json) return 0;
    json_t *o = json_loads(labels_json, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return 0;
    }
    size_t n = json_object_size(o);
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    j->labels = calloc(n ? n : 1, sizeof *j->labels);
    int rc = keys && j->labels ? 0 : -1;
    const char *key;
    json_t *v;
    size_t k = 0;
    json_object_foreach(o, key, v) if (k < n) keys[k++] = key;
    if (!rc) qsort(keys, k, sizeof *keys, by_string);
    for (size_t i = 0; !rc && i < k; i++) {
        Brn__V1__Label *l = malloc(sizeof *l);
        if (!l) {
            rc = -1;
            break;
        }
        brn__v1__label__init(l);
        j->labels[j->n_labels++] = l;
        int oom = 0;
        l->key = dup_str(keys[i], &oom);
        l->value = dup_str(json_string_value(json_object_get(o, keys[i])), &oom);
        if (oom) rc = -1;
    }
    free(keys);
    json_decref(o);
    return rc;
}

typedef struct inert_ctx {
    const brn_job_spec *spec;
    Brn__V1__Job *job;
    size_t cap;
    int oom;
} inert_ctx;

static int add_inert(const char *name, const char *value, void *user)
{
    inert_ctx *c = user;
    if (spec_field_is_server_side(name) || !brn_spec_field_inert(c->spec, name)) return 0;
    if (c->job->n_inert_fields == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        char **grown = realloc(c->job->inert_fields, cap * sizeof *grown);
        if (!grown) return c->oom = -1;
        c->job->inert_fields = grown;
        c->cap = cap;
    }
    char *d = strdup(name);
    if (!d) return c->oom = -1;
    c->job->inert_fields[c->job->n_inert_fields++] = d;
    return 0;
}

Brn__V1__Job *convert_job(const brn_job_row *row)
{
    Brn__V1__Job *j = malloc(sizeof *j);
    if (!j) return NULL;
    brn__v1__job__init(j);
    int oom = 0;
    j->id = row->id;
    j->name = dup_str(row->name, &oom);
    j->state = convert_job_state(row->state);
    j->reason = dup_str(row->reason, &oom);
    j->error = dup_str(row->error_code, &oom);
    j->priority = row->priority;
    j->created_ms = row->created_ms;
    j->started_ms = row->started_ms;
    j->finished_ms = row->finished_ms;
    j->epoch = row->epoch;
    j->step = row->step;
    j->total_steps = row->total_steps;
    j->attempts = row->attempts;
    j->crashes = row->crashes;
    j->device = dup_str(row->device, &oom);
    brn_job_spec spec;
    char err[256];
    if (brn_spec_from_json_text(row->spec_json, &spec, err, sizeof err) == 0) {
        j->spec = spec_to_proto(&spec, err, sizeof err);
        inert_ctx ic = {.spec = &spec, .job = j};
        brn_spec_for_each(&spec, add_inert, &ic);
        if (ic.oom) oom = 1;
    }
    /* a spec that no longer parses (older binary's field) still lists the job, without spec */
    if (add_labels(j, row->labels_json)) oom = 1;
    if (oom) {
        protobuf_c_message_free_unpacked(&j->base, NULL);
        return NULL;
    }
    return j;
}

Brn__V1__EpochMetrics *convert_epoch(const brn_epoch_metrics *m)
{
    Brn__V1__EpochMetrics *e = malloc(sizeof *e);
    if (!e) return NULL;
    brn__v1__epoch_metrics__init(e);
    e->epoch = m->epoch;
    e->step = m->step;
    e->train_loss = m->train_loss;
    e->train_acc = m->train_acc;
    e->evaluated = m->evaluated != 0;
    e->test_loss = m->evaluated ? m->test_loss : 0;
    e->test_acc = m->evaluated ? m->test_acc : 0;
    e->lr = m->lr;
    e->rmax = m->rmax;
    e->dmax = m->dmax;
    e->seconds = m->seconds;
    e->images_per_sec = m->images_per_sec;
    if (m->n_diag > 0 && m->diag) {
        e->renorm = calloc((size_t)m->n_diag, sizeof *e->renorm);
        if (!e->renorm) goto oom;
        for (int i = 0; i < m->n_diag; i++) {
            Brn__V1__RenormDiag *d = malloc(sizeof *d);
            if (!d) goto oom;
            brn__v1__renorm_diag__init(d);
            e->renorm[e->n_renorm++] = d;
            int bad = 0;
            d->layer = dup_str(m->diag[i].layer, &bad);
            if (bad) goto oom;
            d->mean_abs_r_minus_1 = m->diag[i].mean_abs_r_minus_1;
            d->mean_abs_d = m->diag[i].mean_abs_d;
            d->frac_r_clipped = m->diag[i].frac_r_clipped;
            d->frac_d_clipped = m->diag[i].frac_d_clipped;
        }
    }
    return e;
oom:
    protobuf_c_message_free_unpacked(&e->base, NULL);
    return NULL;
}

Brn__V1__Progress *convert_progress(const brn_step_info *s)
{
    Brn__V1__Progress *p = malloc(sizeof *p);
    if (!p) return NULL;
    brn__v1__progress__init(p);
    p->epoch = s->epoch;
    p->step = s->step;
    p->batch = s->batch;
    p->batches_per_epoch = s->batches_per_epoch;
    p->loss = s->loss;
    p->acc = s->acc;
    p->lr = s->lr;
    p->images_per_sec = s->images_per_sec;
    return p;
}
