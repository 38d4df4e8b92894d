/* The device worker thread: waits for a job, runs brn_train, and reports through hooks
 * that only copy data into events for the loop (the store and the streams are the loop's). */
#include "sched_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

void sched_post(brn_scheduler *s, sched_event *ev)
{
    pthread_mutex_lock(&s->ev_lock);
    sched_worker *w = ev->w;
    /* keep order: a pending progress goes out before the event that follows it */
    if (w && ev->type != EV_PROGRESS && w->progress_pending) {
        sched_event *p = calloc(1, sizeof *p);
        if (p) {
            p->type = EV_PROGRESS;
            p->w = w;
            p->job_id = w->progress_job;
            p->u.progress = w->progress;
            if (s->ev_tail) s->ev_tail->next = p;
            else s->ev_head = p;
            s->ev_tail = p;
        }
        w->progress_pending = 0;
    }
    ev->next = NULL;
    if (s->ev_tail) s->ev_tail->next = ev;
    else s->ev_head = ev;
    s->ev_tail = ev;
    pthread_mutex_unlock(&s->ev_lock);
    uv_async_send(&s->async);
}

static sched_event *event_new(sched_worker *w, sched_event_type type)
{
    sched_event *ev = calloc(1, sizeof *ev);
    if (!ev) {
        LOG_ERROR("job %lld: out of memory for an event", (long long)w->job_id);
        return NULL;
    }
    ev->type = type;
    ev->w = w;
    ev->job_id = w->job_id;
    ev->at = sched_now();
    return ev;
}

static void hook_start(void *user, const brn_run_info *info)
{
    sched_worker *w = user;
    sched_event *ev = event_new(w, EV_START);
    if (!ev) return;
    ev->u.start.total_steps = info->total_steps;
    ev->u.start.start_step = info->start_step;
    ev->u.start.start_epoch = info->start_epoch;
    snprintf(ev->text, sizeof ev->text, "%s", info->device ? info->device : "");
    sched_post(w->sched, ev);
}

/* Every step: overwrite the one progress slot; the loop takes the latest. */
static void hook_step(void *user, const brn_step_info *st)
{
    sched_worker *w = user;
    brn_scheduler *s = w->sched;
    pthread_mutex_lock(&s->ev_lock);
    w->progress = *st;
    w->progress_job = w->job_id;
    w->progress_pending = 1;
    pthread_mutex_unlock(&s->ev_lock);
    uv_async_send(&s->async);
}

static void hook_epoch(void *user, const brn_epoch_metrics *m)
{
    sched_worker *w = user;
    sched_event *ev = event_new(w, EV_EPOCH);
    if (!ev) return;
    ev->u.epoch = *m;
    ev->u.epoch.diag = NULL;
    ev->u.epoch.n_diag = 0;
    if (m->n_diag > 0 && m->diag) {
        brn_renorm_diag *d = malloc((size_t)m->n_diag * sizeof *d);
        if (d) {
            memcpy(d, m->diag, (size_t)m->n_diag * sizeof *d);
            ev->u.epoch.diag = d;
            ev->u.epoch.n_diag = m->n_diag;
        }
    }
    sched_post(w->sched, ev);
    pthread_mutex_lock(&w->mu);
    while (w->epoch_acked < m->epoch && !w->no_ack_wait) pthread_cond_wait(&w->ack_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void worker_hand_over(sched_worker *w, int64_t id, const brn_job_spec *spec, int crash_for_test)
{
    pthread_mutex_lock(&w->mu);
    w->spec = *spec;
    snprintf(w->resume, sizeof w->resume, "%s/%s", spec->checkpoint_dir, BRN_LAST_CHECKPOINT);
    if (access(w->resume, R_OK) != 0) w->resume[0] = 0;
    else LOG_INFO("job %lld: resuming from %s", (long long)id, w->resume);
    w->job_id = id;
    w->crash_for_test = crash_for_test;
    w->epoch_acked = 0;
    w->has_job = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    w->last_progress_store_ms = w->last_progress_pub_ms = 0;
    w->last_epoch_at = 0;
}

void worker_ack_epoch(sched_worker *w, int epoch)
{
    pthread_mutex_lock(&w->mu);
    if (epoch > w->epoch_acked) w->epoch_acked = epoch;
    pthread_cond_signal(&w->ack_cv);
    pthread_mutex_unlock(&w->mu);
}

static void hook_checkpoint(void *user, const char *path, int epoch, long step)
{
    sched_worker *w = user;
    sched_event *ev = event_new(w, EV_CHECKPOINT);
    if (!ev) return;
    ev->u.checkpoint.epoch = epoch;
    ev->u.checkpoint.step = step;
    snprintf(ev->text, sizeof ev->text, "%s", path);
    sched_post(w->sched, ev);
}

static int hook_should_stop(void *user)
{
    sched_worker *w = user;
    return atomic_load(&w->stop) != STOP_NONE;
}

static void hook_log(void *user, int is_warning, const char *msg)
{
    sched_worker *w = user;
    /* the run's own lines (its renorm schedule, its data) at info: an operator reads what ran */
    brnd_log(is_warning ? BRN_LOG_WARN : BRN_LOG_INFO, "job %lld: %s", (long long)w->job_id, msg);
}

static void *worker_main(void *arg)
{
    sched_worker *w = arg;
    brn_train_hooks hooks = {
        .user = w,
        .on_start = hook_start,
        .on_step = hook_step,
        .on_epoch = hook_epoch,
        .on_checkpoint = hook_checkpoint,
        .should_stop = hook_should_stop,
        .on_log = hook_log,
    };
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->has_job && !w->quit) pthread_cond_wait(&w->cv, &w->mu);
        if (!w->has_job) {
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        brn_job_spec spec = w->spec;
        char resume[sizeof w->resume];
        memcpy(resume, w->resume, sizeof resume);
        int crash = w->crash_for_test;
        w->has_job = 0;
        pthread_mutex_unlock(&w->mu);
        if (crash) {
            LOG_ERROR("job %lld: %s names this job: aborting brnd (test of crash loops)", (long long)w->job_id,
                      SCHED_TEST_CRASH_ENV);
            abort();
        }

        char err[1024] = "";
        int rc = brn_train(&spec, resume[0] ? resume : NULL, &hooks, err, sizeof err);
        /* the previous finish event was handled before this job was handed over */
        sched_event *ev = &w->finish_ev;
        memset(ev, 0, sizeof *ev);
        ev->type = EV_FINISH;
        ev->w = w;
        ev->job_id = w->job_id;
        ev->embedded = 1;
        ev->u.finish.rc = rc;
        snprintf(ev->text, sizeof ev->text, "%s", err);
        sched_post(w->sched, ev);
    }
}

int worker_start(sched_worker *w, char *err, size_t errlen)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->ack_cv, NULL);
    atomic_init(&w->stop, STOP_NONE);
    if (pthread_create(&w->thread, NULL, worker_main, w)) {
        snprintf(err, errlen, "cannot start the %s worker thread", w->info.kind);
        return BRN_ENOMEM;
    }
    w->thread_started = 1;
    return 0;
}

void worker_join(sched_worker *w)
{
    if (!w->thread_started) return;
    pthread_mutex_lock(&w->mu);
    w->quit = 1;
    w->no_ack_wait = 1; /* the loop is here, not acknowledging: never wait for it now */
    pthread_cond_signal(&w->cv);
    pthread_cond_signal(&w->ack_cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    w->thread_started = 0;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->ack_cv);
}
