/* brn_train: the training loop around the model, batcher, optimizer and checkpoints. */
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "batcher.h"
#include "checkpoint.h"
#include "checkpoint_file.h"
#include "data/dataset.h"
#include "engine.h"
#include "model.h"
#include "rng.h"
#include "schedule.h"

typedef struct run {
    brn_job_spec spec;
    const brn_train_hooks *hooks;
    brn_dataset train, test;
    brn_batcher batcher;
    brn_resolved res;
    brn_backend *be;
    brn_model model;
    brn_device_data train_data, test_data;   /* the splits in backend memory */
    brn_diag_acc *diag;       /* the epoch's renorm diagnostics, read back from the backend */
    brn_run_state st;
    int epochs;
    char *err;
    size_t errlen;
} run;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run_log(run *r, int warning, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void run_log(run *r, int warning, const char *fmt, ...)
{
    if (!r->hooks || !r->hooks->on_log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->hooks->on_log(r->hooks->user, warning, msg);
}

static int stop_requested(run *r)
{
    return r->hooks && r->hooks->should_stop && r->hooks->should_stop(r->hooks->user);
}

static int save_checkpoint(run *r, const char *file)
{
    if (!r->spec.checkpoint_dir[0]) return 0;
    char path[BRN_SPEC_PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/%s", r->spec.checkpoint_dir, file);
    int rc = brn_checkpoint_save(path, &r->model, &r->spec, &r->st, r->err, r->errlen);
    if (!rc && r->hooks && r->hooks->on_checkpoint)
        r->hooks->on_checkpoint(r->hooks->user, path, r->st.epoch, r->st.step);
    return rc;
}

/* One checkpoint: loaded, its stored spec compatible with the job, its run state in range
 * for this run. The state is kept in r->st only when all of it holds. */
static int resume_one(run *r, const char *path, char *err, size_t errlen)
{
    brn_run_state st = r->st;
    char *stored = NULL;
    int rc = brn_checkpoint_load(path, &r->model, &st, &stored, err, errlen);
    if (!rc) rc = brn_checkpoint_spec_check(stored, &r->spec, path, err, errlen);
    const brn_run_geometry g = {
        .steps_per_epoch = r->res.steps_per_epoch, .total_steps = r->res.total_steps, .epochs = r->epochs,
    };
    if (!rc) rc = brn_run_state_check(&st, &r->spec, &g, path, err, errlen);
    free(stored);
    if (rc) return rc;
    st.channels = r->st.channels; /* the input normalization is this run's own */
    memcpy(st.input_mean, r->st.input_mean, sizeof st.input_mean);
    memcpy(st.input_std, r->st.input_std, sizeof st.input_std);
    r->st = st;
    return 0;
}

/* Resume from `resume`, or when it cannot be used (truncated, corrupt, inconsistent) from
 * the newest usable checkpoint beside it: last.safetensors, then epoch-N from the highest
 * N down. Every candidate overwrites every tensor, so a failed one leaves nothing behind. */
static int resume_from(run *r, const char *resume)
{
    char (*paths)[BRN_SPEC_PATH_LEN + 64] = calloc(BRN_CHECKPOINT_MAX_CANDIDATES + 1, sizeof *paths);
    char dir[BRN_SPEC_PATH_LEN + 64], first_err[512] = "";
    if (!paths) return brn_errorf(r->err, r->errlen, BRN_ENOMEM, "out of memory");
    snprintf(paths[0], sizeof paths[0], "%s", resume);
    snprintf(dir, sizeof dir, "%s", resume);
    int n = 1 + brn_checkpoint_candidates(dirname(dir), paths + 1, BRN_CHECKPOINT_MAX_CANDIDATES);
    for (int i = 0; i < n; i++) {
        if (i > 0 && !strcmp(paths[i], resume)) continue;
        int rc = resume_one(r, paths[i], i == 0 ? first_err : r->err, i == 0 ? sizeof first_err : r->errlen);
        if (rc == 0) {
            if (i > 0)
                run_log(r, 1, "resumed from %s (step %ld, epoch %d): %s", paths[i], r->st.step, r->st.epoch,
                        first_err);
            free(paths);
            return 0;
        }
        if (rc != BRN_ECHECKPOINT && rc != BRN_EIO) { /* out of memory, a device error */
            if (i == 0) snprintf(r->err, r->errlen, "%s", first_err);
            free(paths);
            return rc;
        }
        if (i > 0) run_log(r, 1, "checkpoint %s not usable either: %s", paths[i], r->err);
    }
    free(paths);
    return brn_errorf(r->err, r->errlen, BRN_ECHECKPOINT, "no usable checkpoint to resume from: %s", first_err);
}

static int setup(run *r, const char *resume)
{
    brn_job_spec *s = &r->spec;
    int rc = brn_spec_validate(s, r->err, r->errlen);
    if (rc) return BRN_EINVAL;
    if ((rc = brn_backend_open(s, &r->be, r->err, r->errlen))) return rc;

    if ((rc = brn_dataset_load(s->dataset, s->data_dir, &r->train, &r->test, r->err, r->errlen))) return rc;
    brn_dataset_truncate(&r->train, s->train_subset);
    brn_dataset_truncate(&r->test, s->test_subset);
    if (r->test.n < 1) {
        snprintf(r->err, r->errlen, "test-subset: the test set is empty");
        return BRN_EINVAL;
    }
    if ((rc = brn_batcher_init(&r->batcher, &r->train, s, r->err, r->errlen))) return rc;
    r->st.channels = r->train.c;
    memcpy(r->st.input_mean, r->batcher.mean, sizeof r->st.input_mean);
    memcpy(r->st.input_std, r->batcher.std, sizeof r->st.input_std);
    brn_spec_resolve(s, r->train.n, &r->res);
    const long spe = r->res.steps_per_epoch > 0 ? r->res.steps_per_epoch : 1;
    const long epochs = s->steps ? (s->steps + spe - 1) / spe : s->epochs;
    if (epochs > BRN_SPEC_MAX_EPOCHS)
        return brn_errorf(r->err, r->errlen, BRN_EINVAL, "steps: %ld steps are %ld epochs of %ld steps; at most %d",
                          s->steps, epochs, spe, BRN_SPEC_MAX_EPOCHS);
    r->epochs = (int)epochs;
    if (s->checkpoint_dir[0]) {
        int stale = brn_checkpoint_remove_stale(s->checkpoint_dir);
        if (stale) run_log(r, 0, "removed %d unfinished checkpoint file(s) left in %s", stale, s->checkpoint_dir);
    }

    const brn_model_config mc = {
        .depth = s->depth, .width = s->width, .in_c = r->train.c, .in_h = r->train.h, .in_w = r->train.w,
        .classes = r->train.classes, .max_batch = s->batch_size, .norm = s->norm, .eps = s->norm_eps,
        .microbatch = s->microbatch, .gn_groups = s->gn_groups, .dropout = s->dropout, .capture = 1,
    };
    if ((rc = brn_model_init(&r->model, &mc, r->be, r->err, r->errlen))) return rc;
    brn_batch_source train_src, test_src;
    brn_batcher_source(&r->batcher, &r->train, &train_src);
    brn_batcher_source(&r->batcher, &r->test, &test_src);
    if ((rc = brn_backend_data_upload(r->be, &train_src, &r->train_data, r->err, r->errlen))) return rc;
    if ((rc = brn_backend_data_upload(r->be, &test_src, &r->test_data, r->err, r->errlen))) return rc;
    r->diag = calloc(r->model.n_norms, sizeof *r->diag);
    if (!r->diag) {
        snprintf(r->err, r->errlen, "out of memory");
        return BRN_ENOMEM;
    }
    if (resume) {
        rc = resume_from(r, resume);
    } else {
        /* a weights-only init file may lack buffers: initialize everything first */
        rc = brn_model_init_weights(&r->model, s->seed, r->err, r->errlen);
        if (!rc && s->init[0]) rc = brn_checkpoint_load(s->init, &r->model, NULL, NULL, r->err, r->errlen);
    }
    return rc;
}

static void teardown(run *r)
{
    brn_model_free(&r->model);
    brn_backend_data_free(r->be, &r->train_data);
    brn_backend_data_free(r->be, &r->test_data);
    if (r->be) brn_backend_close(r->be);
    brn_batcher_free(&r->batcher);
    brn_dataset_free(&r->train);
    brn_dataset_free(&r->test);
    free(r->diag);
}

static void announce(run *r)
{
    const brn_job_spec *s = &r->spec;
    const brn_run_info info = {
        .steps_per_epoch = r->res.steps_per_epoch, .total_steps = r->res.total_steps, .epochs = r->epochs,
        .start_step = r->st.step, .start_epoch = r->st.epoch, .renorm_warmup = r->res.renorm_warmup,
        .rmax_steps = r->res.rmax_steps, .dmax_steps = r->res.dmax_steps, .norm_momentum = r->res.norm_momentum,
        .train_examples = r->train.n, .test_examples = r->test.n, .in_c = r->train.c, .in_h = r->train.h,
        .in_w = r->train.w, .classes = r->train.classes, .parameters = (long)r->model.n_params,
        .device = r->be->description,
    };
    if (r->hooks && r->hooks->on_start) r->hooks->on_start(r->hooks->user, &info);
    if (s->norm == BRN_NORM_BRN) {
        char line[512];
        brn_spec_describe_renorm(s, &r->res, line, sizeof line);
        run_log(r, 0, "%s", line);
        if (r->res.renorm_never)
            run_log(r, 1,
                    "renorm-warmup %ld covers the whole run (%ld steps): BRN trains as plain BN; lower "
                    "--renorm-warmup (or leave it out: 25%% of the run)",
                    r->res.renorm_warmup, r->res.total_steps);
        if (r->res.ramp_end_before_start)
            run_log(r, 1,
                    "rmax-steps %ld / dmax-steps %ld come before the end of the warm-up (step %ld): the limits jump "
                    "to their final values there, with no ramp",
                    r->res.rmax_steps, r->res.dmax_steps, r->res.renorm_warmup);
        if (r->res.renorm_before_converged && !r->res.momentum_too_slow)   /* else the warning below says it */
            run_log(r, 1,
                    "renorm-warmup %ld: r and d start before the running averages converged (~%.0f steps at "
                    "norm-momentum %g) and are clipped against their initial values; raise --renorm-warmup or "
                    "--norm-momentum",
                    r->res.renorm_warmup, BRN_MOMENTUM_CONVERGED_STEPS(r->res.norm_momentum), r->res.norm_momentum);
    }
    if (s->sampling == BRN_SAMPLING_NON_IID)
        run_log(r, 0, "non-i.i.d. batches: %d labels x %d examples%s", r->batcher.labels_per_batch,
                s->batch_size / r->batcher.labels_per_batch, s->labels_per_batch == BRN_SPEC_AUTO ? " (auto)" : "");
    if (r->res.momentum_too_slow)
        run_log(r, 1,
              "norm-momentum %g: the running statistics need ~%.0f steps to converge but the run has %ld; "
              "evaluation with moving statistics will suffer (raise --norm-momentum or train longer)",
              r->res.norm_momentum, BRN_MOMENTUM_CONVERGED_STEPS(r->res.norm_momentum), r->res.total_steps);
}

/* The epoch's per-layer renorm diagnostics (BRN layers only). */
static int fill_diag(run *r, brn_renorm_diag *out, int *n_out)
{
    int rc = brn_model_diag_read(&r->model, r->diag, r->err, r->errlen);
    if (rc) return rc;
    int k = 0;
    for (int i = 0; i < r->model.n_norms; i++) {
        const brn_diag_acc *d = &r->diag[i];
        if (!d->count) continue;
        brn_renorm_diag *o = &out[k++];
        snprintf(o->layer, sizeof o->layer, "%s", r->model.norms[i]->name);
        o->mean_abs_r_minus_1 = d->sum_abs_r1 / d->count;
        o->mean_abs_d = d->sum_abs_d / d->count;
        o->frac_r_clipped = d->r_clipped / d->count;
        o->frac_d_clipped = d->d_clipped / d->count;
    }
    *n_out = k;
    return 0;
}

/* Returns 0, BRN_STOPPED, or an error. */
static int evaluate(run *r, double *loss, double *acc)
{
    const int B = r->spec.batch_size, batch_stats = r->spec.eval_stats == BRN_EVAL_BATCH;
    double loss_sum = 0;
    long hits = 0;
    for (long start = 0; start < r->test.n; start += B) {
        if (stop_requested(r)) return BRN_STOPPED;
        int n = r->test.n - start < B ? (int)(r->test.n - start) : B, correct = 0;
        double ls = 0;
        brn_batcher_eval_plan(start, n, r->batcher.plan);   /* n <= the batch size */
        int rc = brn_model_set_plan(&r->model, &r->test_data, r->batcher.plan, n, r->err, r->errlen);
        if (!rc) rc = brn_model_eval_batch(&r->model, n, batch_stats, r->err, r->errlen);
        if (!rc) rc = brn_model_step_result(&r->model, &ls, &correct, r->err, r->errlen);
        if (rc) return rc;
        ls *= n;
        loss_sum += ls;
        hits += correct;
    }
    *loss = loss_sum / r->test.n;
    *acc = (double)hits / r->test.n;
    return 0;
}

static int train_epoch(run *r, int epoch)
{
    const brn_job_spec *s = &r->spec;
    brn_run_state *st = &r->st;
    const long spe = r->res.steps_per_epoch;
    const brn_sgd opt = {.momentum = s->momentum, .weight_decay = s->weight_decay, .nesterov = s->nesterov};
    double t0 = now_seconds(), lr = 0, rmax = 1, dmax = 0;
    if (st->batch == 0) {
        st->loss_sum = 0;
        st->correct = st->seen = 0;
        st->train_seconds = 0;
        brn_model_diag_reset(&r->model);
    }
    const double seconds_before = st->train_seconds;
    for (; st->batch < spe && st->step < r->res.total_steps; st->batch++) {
        if (stop_requested(r)) {
            st->train_seconds = seconds_before + now_seconds() - t0;
            int rc = save_checkpoint(r, BRN_LAST_CHECKPOINT);
            return rc ? rc : BRN_STOPPED;
        }
        const long t = st->step;
        brn_batcher_train_plan(&r->batcher, epoch, st->batch, t, r->batcher.plan);
        lr = brn_schedule_lr(s, &r->res, t);
        brn_schedule_renorm(s, &r->res, t, &rmax, &dmax);
        const brn_step_scalars sc = {.lr = lr, .norm_momentum = r->res.norm_momentum, .rmax = rmax, .dmax = dmax,
                                     .dropout_seed = brn_rng_derive(s->seed, BRN_RNG_DROPOUT, (uint64_t)t)};
        int rc = brn_model_set_plan(&r->model, &r->train_data, r->batcher.plan, s->batch_size, r->err, r->errlen);
        if (rc) return rc;
        brn_model_set_scalars(&r->model, &sc);
        /* the update is queued before the loss is read; a failed job's weights are not kept */
        rc = brn_model_train_update(&r->model, s->batch_size, &opt, r->err, r->errlen);
        if (rc) return rc;
        double loss;
        int correct;
        if ((rc = brn_model_step_result(&r->model, &loss, &correct, r->err, r->errlen))) return rc;
        if (!isfinite(loss)) {
            snprintf(r->err, r->errlen, "the loss became %s at step %ld (epoch %d, batch %ld, lr %g); try a lower --lr",
                     isnan(loss) ? "NaN" : "infinite", t, epoch + 1, st->batch + 1, lr);
            return BRN_ENAN;
        }
        st->step++;
        st->loss_sum += loss;
        st->correct += correct;
        st->seen += s->batch_size;
        if (r->hooks && r->hooks->on_step) {
            double secs = seconds_before + now_seconds() - t0;
            const brn_step_info si = {.epoch = epoch + 1, .step = st->step, .batch = st->batch + 1,
                                      .batches_per_epoch = spe, .loss = loss,
                                      .acc = (double)correct / s->batch_size, .lr = lr, .rmax = rmax, .dmax = dmax,
                                      .images_per_sec = secs > 0 ? st->seen / secs : 0};
            r->hooks->on_step(r->hooks->user, &si);
        }
    }
    st->train_seconds = seconds_before + now_seconds() - t0;
    return 0;
}

static int run_epochs(run *r)
{
    const brn_job_spec *s = &r->spec;
    brn_run_state *st = &r->st;
    brn_renorm_diag *diag = calloc(r->model.n_norms, sizeof *diag);
    if (!diag) return BRN_ENOMEM;
    int rc = 0;
    for (int epoch = st->epoch; epoch < r->epochs && !rc; epoch++) {
        if ((rc = train_epoch(r, epoch))) break;
        const long batches = st->batch;
        const int last = epoch + 1 == r->epochs;
        brn_epoch_metrics m = {0};
        m.epoch = epoch + 1;
        m.step = st->step;
        m.train_loss = batches ? st->loss_sum / batches : 0;
        m.train_acc = st->seen ? (double)st->correct / st->seen : 0;
        m.lr = brn_schedule_lr(s, &r->res, st->step > 0 ? st->step - 1 : 0);
        brn_schedule_renorm(s, &r->res, st->step > 0 ? st->step - 1 : 0, &m.rmax, &m.dmax);
        m.images_per_sec = st->train_seconds > 0 ? st->seen / st->train_seconds : 0;
        const double eval_start = now_seconds();
        if (last || (s->eval_every > 0 && (epoch + 1) % s->eval_every == 0)) {
            rc = evaluate(r, &m.test_loss, &m.test_acc);
            if (rc == BRN_STOPPED) {
                /* the epoch's training is done: a resume goes straight to its evaluation */
                int ck = save_checkpoint(r, BRN_LAST_CHECKPOINT);
                rc = ck ? ck : BRN_STOPPED;
            }
            if (rc) break;
            m.evaluated = 1;
        }
        m.seconds = st->train_seconds + (now_seconds() - eval_start);
        if ((rc = fill_diag(r, diag, &m.n_diag))) break;
        m.diag = diag;
        /* Report before checkpointing: a crash in between replays this epoch after the resume
           (the same numbers, stored again idempotently) instead of losing it. */
        if (r->hooks && r->hooks->on_epoch) r->hooks->on_epoch(r->hooks->user, &m);
        st->epoch = epoch + 1;
        st->batch = 0;
        if ((rc = save_checkpoint(r, BRN_LAST_CHECKPOINT))) break;
        if (s->save_every > 0 && (epoch + 1) % s->save_every == 0) {
            char name[64];
            snprintf(name, sizeof name, "epoch-%d.safetensors", epoch + 1);
            if ((rc = save_checkpoint(r, name))) break;
        }
    }
    free(diag);
    return rc;
}

int brn_train(const brn_job_spec *spec, const char *resume, const brn_train_hooks *hooks, char *err, size_t errlen)
{
    run *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return BRN_ENOMEM;
    }
    r->spec = *spec;
    r->hooks = hooks;
    r->err = err;
    r->errlen = errlen;
    err[0] = 0;
    int rc = setup(r, resume);
    if (!rc) {
        announce(r);
        rc = run_epochs(r);
    }
    teardown(r);
    free(r);
    return rc;
}
