#include "checkpoint.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_file.h"
#include "errors.h"
#include "safetensors.h"

#define OPTIM_PREFIX "optim.momentum."

static void shape64(const brn_tensor_info *t, int64_t *out)
{
    for (int i = 0; i < t->ndim; i++) out[i] = t->shape[i];
}

/* Renorm diagnostics of the epoch in progress, so a resumed epoch reports the same. */
static json_t *diag_to_json(const brn_diag_acc *d, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_pack("[f,f,I,I,I]", d[i].sum_abs_r1, d[i].sum_abs_d, (json_int_t)d[i].r_clipped,
                                           (json_int_t)d[i].d_clipped, (json_int_t)d[i].count));
    return a;
}

/* Host copies of every tensor (and the velocity when with_velocity), in the tensor table's
 * order, downloaded from the backend. */
typedef struct host_tensors {
    float *values, *velocity;   /* [n_params + n_buffers], [n_params] */
} host_tensors;

static float *host_slot(const brn_model *m, const host_tensors *h, const brn_tensor_info *t, int velocity)
{
    if (velocity) return h->velocity + t->offset;
    return h->values + (t->kind == BRN_TENSOR_PARAM ? t->offset : m->n_params + t->offset);
}

int brn_checkpoint_save(const char *path, brn_model *m, const brn_job_spec *spec, const brn_run_state *st,
                        char *err, size_t errlen)
{
    brn_st_file f;
    brn_st_init(&f);
    host_tensors h = {malloc(sizeof(float) * (m->n_params + m->n_buffers + 1)),
                      malloc(sizeof(float) * (m->n_params + 1))};
    brn_diag_acc *diag = calloc(m->n_norms, sizeof *diag);
    int rc = h.values && h.velocity && diag ? 0 : brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory", path);
    if (!rc) rc = brn_model_diag_read(m, diag, err, errlen);
    char name[BRN_MODEL_NAME_LEN + 32], buf[64];
    int64_t sh[4];
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const brn_tensor_info *t = &m->tensors[i];
        shape64(t, sh);
        float *v = host_slot(m, &h, t, 0);
        rc = brn_model_read_tensor(m, t, BRN_VIEW_VALUE, v, err, errlen);
        if (!rc && brn_st_add(&f, t->name, BRN_ST_F32, t->ndim, sh, v))
            rc = brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory building the checkpoint", path);
        if (!rc && t->kind == BRN_TENSOR_PARAM) {
            float *vel = host_slot(m, &h, t, 1);
            snprintf(name, sizeof name, OPTIM_PREFIX "%s", t->name);
            rc = brn_model_read_tensor(m, t, BRN_VIEW_VELOCITY, vel, err, errlen);
            if (!rc && brn_st_add(&f, name, BRN_ST_F32, t->ndim, sh, vel))
                rc = brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory building the checkpoint", path);
        }
    }
    if (rc) goto out;
    json_t *js = brn_spec_to_json(spec);
    char *spec_text = json_dumps(js, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(js);
    json_t *state = json_pack("{s:I, s:i, s:I, s:f, s:I, s:I, s:f, s:o}", "step", (json_int_t)st->step, "epoch",
                              st->epoch, "batch", (json_int_t)st->batch, "loss_sum", st->loss_sum, "correct",
                              (json_int_t)st->correct, "seen", (json_int_t)st->seen, "train_seconds",
                              st->train_seconds, "renorm_diag", diag_to_json(diag, m->n_norms));
    char *state_text = json_dumps(state, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(state);
    snprintf(buf, sizeof buf, "%d", BRN_CHECKPOINT_VERSION);
    rc = rc ? rc : brn_st_add_meta(&f, "format", BRN_CHECKPOINT_FORMAT);
    rc = rc ? rc : brn_st_add_meta(&f, "version", buf);
    rc = rc ? rc : brn_st_add_meta(&f, "spec", spec_text ? spec_text : "{}");
    rc = rc ? rc : brn_st_add_meta(&f, "state", state_text ? state_text : "{}");
    snprintf(buf, sizeof buf, "%ld", st->step);
    rc = rc ? rc : brn_st_add_meta(&f, "step", buf);
    snprintf(buf, sizeof buf, "%d", st->epoch);
    rc = rc ? rc : brn_st_add_meta(&f, "epoch", buf);
    snprintf(buf, sizeof buf, "{\"kind\":\"counter\",\"seed\":\"%llu\",\"step\":%ld}",
             (unsigned long long)spec->seed, st->step);
    rc = rc ? rc : brn_st_add_meta(&f, "rng", buf);
    for (int k = 0; k < 2 && !rc; k++) {
        const float *v = k ? st->input_std : st->input_mean;
        size_t o = (size_t)snprintf(buf, sizeof buf, "[");
        for (int c = 0; c < st->channels && o < sizeof buf; c++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%.9g", c ? "," : "", v[c]);
        snprintf(buf + o, sizeof buf - o, "]");
        rc = brn_st_add_meta(&f, k ? "input_std" : "input_mean", buf);
    }
    free(spec_text);
    free(state_text);
    if (rc) rc = brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory building the checkpoint", path);
    else rc = brn_st_write(&f, path, err, errlen);
out:
    brn_st_free(&f);
    free(h.values);
    free(h.velocity);
    free(diag);
    return rc;
}

/* The file's tensor `name` for the model's tensor t: present, F32, the same shape. */
static const brn_st_tensor *matching_tensor(const brn_st_file *f, const char *path, const char *name,
                                            const brn_tensor_info *t, char *err, size_t errlen)
{
    const brn_st_tensor *s = brn_st_find(f, name);
    if (!s) {
        snprintf(err, errlen, "%s: tensor '%s' is missing (a checkpoint of another model?)", path, name);
        return NULL;
    }
    int same = s->dtype == BRN_ST_F32 && s->ndim == t->ndim;
    for (int k = 0; same && k < t->ndim; k++) same = s->shape[k] == t->shape[k];
    if (!same) {
        snprintf(err, errlen, "%s: tensor '%s' has another dtype or shape than the model's", path, name);
        return NULL;
    }
    return s;
}

/* Every tensor the load will write, checked before the first write. */
static int check_tensors(const brn_model *m, const brn_st_file *f, const char *path, int with_velocity, char *err,
                         size_t errlen)
{
    char name[BRN_MODEL_NAME_LEN + 32];
    for (int i = 0; i < m->n_tensors; i++) {
        const brn_tensor_info *t = &m->tensors[i];
        if (!matching_tensor(f, path, t->name, t, err, errlen)) return BRN_ECHECKPOINT;
        snprintf(name, sizeof name, OPTIM_PREFIX "%s", t->name);
        if (with_velocity && t->kind == BRN_TENSOR_PARAM && !matching_tensor(f, path, name, t, err, errlen))
            return BRN_ECHECKPOINT;
    }
    return 0;
}

static int finite_count(double x) { return isfinite(x) && x >= 0; }

/* The renorm diagnostics: one [sum|r-1|, sum|d|, r_clipped, d_clipped, count] per norm layer. */
static int diag_from_json(brn_diag_acc *d, int n, const json_t *a, const char *path, char *err, size_t errlen)
{
    if (!json_is_array(a) || (int)json_array_size(a) != n)
        return brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: run state: renorm_diag is not an array of %d entries",
                          path, n);
    for (int i = 0; i < n; i++) {
        json_int_t rc = 0, dc = 0, cnt = 0;
        if (json_unpack(json_array_get(a, i), "[F,F,I,I,I]", &d[i].sum_abs_r1, &d[i].sum_abs_d, &rc, &dc, &cnt) ||
            !finite_count(d[i].sum_abs_r1) || !finite_count(d[i].sum_abs_d) || cnt < 0 || rc < 0 || dc < 0 ||
            rc > cnt || dc > cnt)
            return brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: run state: renorm_diag entry %d is malformed",
                              path, i);
        d[i].r_clipped = (double)rc;
        d[i].d_clipped = (double)dc;
        d[i].count = (double)cnt;
    }
    return 0;
}

int brn_checkpoint_state_from_meta(const brn_st_file *f, const char *path, brn_run_state *st, brn_diag_acc *diag,
                                   int n_norms, char *err, size_t errlen)
{
    const char *fmt = brn_st_meta(f, "format"), *text = brn_st_meta(f, "state");
    json_t *j = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL, *dj = NULL;
    json_int_t step = 0, epoch = 0, batch = 0, correct = 0, seen = 0;
    int rc = 0;
    memset(st, 0, sizeof *st);
    if (!fmt || strcmp(fmt, BRN_CHECKPOINT_FORMAT) || !j ||
        json_unpack(j, "{s:I, s:I, s:I, s:F, s:I, s:I, s:F, s?o}", "step", &step, "epoch", &epoch, "batch", &batch,
                    "loss_sum", &st->loss_sum, "correct", &correct, "seen", &seen, "train_seconds",
                    &st->train_seconds, "renorm_diag", &dj)) {
        rc = brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: not a resumable brn checkpoint (no run state in its metadata)",
                        path);
    } else if (epoch < 0 || epoch > INT_MAX) {
        rc = brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: run state: epoch %lld is out of range", path,
                        (long long)epoch);
    } else {
        st->step = step;
        st->epoch = (int)epoch;
        st->batch = batch;
        st->correct = correct;
        st->seen = seen;
        if (dj) rc = diag_from_json(diag, n_norms, dj, path, err, errlen);
    }
    json_decref(j);
    return rc;
}

int brn_checkpoint_load(const char *path, brn_model *m, brn_run_state *st, char **spec_json_out, char *err,
                        size_t errlen)
{
    brn_st_file f;
    int rc = brn_checkpoint_file_read(&f, path, err, errlen);
    if (rc) return rc;
    /* everything is checked before the first upload: a refused file changes nothing */
    brn_diag_acc *diag = st ? calloc(m->n_norms + 1, sizeof *diag) : NULL;
    if (st && !diag) rc = brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory", path);
    if (!rc) rc = check_tensors(m, &f, path, st != NULL, err, errlen);
    if (!rc && st) rc = brn_checkpoint_state_from_meta(&f, path, st, diag, m->n_norms, err, errlen);
    char name[BRN_MODEL_NAME_LEN + 32];
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const brn_tensor_info *t = &m->tensors[i];
        brn_model_write_tensor(m, t, BRN_VIEW_VALUE, brn_st_find(&f, t->name)->data);
        if (st && t->kind == BRN_TENSOR_PARAM) {
            snprintf(name, sizeof name, OPTIM_PREFIX "%s", t->name);
            brn_model_write_tensor(m, t, BRN_VIEW_VELOCITY, brn_st_find(&f, name)->data);
        }
    }
    if (!rc && st) brn_model_diag_write(m, diag); /* zeros when the file has none */
    /* the uploads read from the file's memory: finish them before it is freed */
    int sync = m->be->ops->synchronize(m->be, rc ? NULL : err, errlen);
    if (!rc) rc = sync;
    if (!rc && spec_json_out) {
        const char *s = brn_st_meta(&f, "spec");
        *spec_json_out = s ? strdup(s) : NULL;
    }
    free(diag);
    brn_st_free(&f);
    return rc;
}
