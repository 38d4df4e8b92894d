#include "checkpoint.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "safetensors.h"

#define OPTIM_PREFIX "optim.momentum."

static void shape64(const brn_tensor_info *t, int64_t *out)
{
    for (int i = 0; i < t->ndim; i++) out[i] = t->shape[i];
}

/* Renorm diagnostics of the epoch in progress, so a resumed epoch reports the same. */
static json_t *diag_to_json(brn_model *m)
{
    json_t *a = json_array();
    for (int i = 0; i < m->n_norms; i++) {
        const brn_norm_diag_acc *d = &m->norms[i]->diag;
        json_array_append_new(a, json_pack("[f,f,I,I,I]", d->sum_abs_r1, d->sum_abs_d, (json_int_t)d->r_clipped,
                                           (json_int_t)d->d_clipped, (json_int_t)d->count));
    }
    return a;
}

static void diag_from_json(brn_model *m, const json_t *a)
{
    for (int i = 0; i < m->n_norms && i < (int)json_array_size(a); i++) {
        brn_norm_diag_acc *d = &m->norms[i]->diag;
        json_int_t rc = 0, dc = 0, cnt = 0;
        json_unpack(json_array_get(a, i), "[F,F,I,I,I]", &d->sum_abs_r1, &d->sum_abs_d, &rc, &dc, &cnt);
        d->r_clipped = rc;
        d->d_clipped = dc;
        d->count = cnt;
    }
}

int brn_checkpoint_save(const char *path, brn_model *m, const float *velocity, const brn_job_spec *spec,
                    const brn_run_state *st, char *err, size_t errlen)
{
    brn_st_file f;
    brn_st_init(&f);
    int rc = 0;
    char name[BRN_MODEL_NAME_LEN + 32], buf[64];
    int64_t sh[4];
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const brn_tensor_info *t = &m->tensors[i];
        shape64(t, sh);
        rc = brn_st_add(&f, t->name, BRN_ST_F32, t->ndim, sh, brn_model_tensor_data(m, t));
        if (!rc && velocity && t->kind == BRN_TENSOR_PARAM) {
            snprintf(name, sizeof name, OPTIM_PREFIX "%s", t->name);
            rc = brn_st_add(&f, name, BRN_ST_F32, t->ndim, sh, velocity + t->offset);
        }
    }
    json_t *js = brn_spec_to_json(spec);
    char *spec_text = json_dumps(js, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(js);
    json_t *state = json_pack("{s:I, s:i, s:I, s:f, s:I, s:I, s:f, s:o}", "step", (json_int_t)st->step, "epoch",
                              st->epoch, "batch", (json_int_t)st->batch, "loss_sum", st->loss_sum, "correct",
                              (json_int_t)st->correct, "seen", (json_int_t)st->seen, "train_seconds",
                              st->train_seconds, "renorm_diag", diag_to_json(m));
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
    if (rc) snprintf(err, errlen, "%s: out of memory building the checkpoint", path);
    else rc = brn_st_write(&f, path, err, errlen);
    brn_st_free(&f);
    return rc;
}

static int copy_tensor(const brn_st_file *f, const char *path, const char *name, const brn_tensor_info *t, float *dst,
                       char *err, size_t errlen)
{
    const brn_st_tensor *s = brn_st_find(f, name);
    if (!s) {
        snprintf(err, errlen, "%s: tensor '%s' is missing (a checkpoint of another model?)", path, name);
        return BRN_ECHECKPOINT;
    }
    int same = s->dtype == BRN_ST_F32 && s->ndim == t->ndim;
    for (int k = 0; same && k < t->ndim; k++) same = s->shape[k] == t->shape[k];
    if (!same) {
        snprintf(err, errlen, "%s: tensor '%s' has another dtype or shape than the model's", path, name);
        return BRN_ECHECKPOINT;
    }
    memcpy(dst, s->data, s->nbytes);
    return 0;
}

int brn_checkpoint_load(const char *path, brn_model *m, float *velocity, brn_run_state *st, char **spec_json_out,
                    char *err, size_t errlen)
{
    brn_st_file f;
    int rc = brn_st_read(&f, path, err, errlen);
    if (rc) return rc;
    char name[BRN_MODEL_NAME_LEN + 32];
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const brn_tensor_info *t = &m->tensors[i];
        rc = copy_tensor(&f, path, t->name, t, brn_model_tensor_data(m, t), err, errlen);
        if (!rc && velocity && t->kind == BRN_TENSOR_PARAM) {
            snprintf(name, sizeof name, OPTIM_PREFIX "%s", t->name);
            rc = copy_tensor(&f, path, name, t, velocity + t->offset, err, errlen);
        }
    }
    if (!rc && st) {
        const char *fmt = brn_st_meta(&f, "format"), *text = brn_st_meta(&f, "state");
        json_t *j = text ? json_loads(text, 0, NULL) : NULL;
        json_int_t step = 0, batch = 0, correct = 0, seen = 0;
        json_t *diag = NULL;
        memset(st, 0, sizeof *st);
        if (!fmt || strcmp(fmt, BRN_CHECKPOINT_FORMAT) || !j ||
            json_unpack(j, "{s:I, s:i, s:I, s:F, s:I, s:I, s:F, s?o}", "step", &step, "epoch", &st->epoch, "batch",
                        &batch, "loss_sum", &st->loss_sum, "correct", &correct, "seen", &seen, "train_seconds",
                        &st->train_seconds, "renorm_diag", &diag)) {
            snprintf(err, errlen, "%s: not a resumable brn checkpoint (no run state in its metadata)", path);
            rc = BRN_ECHECKPOINT;
        } else {
            st->step = step;
            st->batch = batch;
            st->correct = correct;
            st->seen = seen;
            if (diag) diag_from_json(m, diag);
        }
        json_decref(j);
    }
    if (!rc && spec_json_out) {
        const char *s = brn_st_meta(&f, "spec");
        *spec_json_out = s ? strdup(s) : NULL;
    }
    brn_st_free(&f);
    return rc;
}
