/* Worker events on the loop: each becomes a store write (sched_ops.c); progress also goes
 * straight to watchers (it is not part of the stored record beyond a coarse counter). */
#include "sched_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Progress reaches the store at most this often (one UPDATE), and watchers at most
 * PUB_MS apart: a tiny model can step thousands of times a second. */
#define PROGRESS_STORE_MS 1000
#define PROGRESS_PUB_MS 50

void sched_free_event(sched_event *ev)
{
    if (ev->type == EV_EPOCH) free((void *)ev->u.epoch.diag);
    if (!ev->embedded) free(ev);
}

static void job_finished(brn_scheduler *s, sched_worker *w, int64_t id, int rc, const char *msg)
{
    int stop = atomic_load(&w->stop);
    w->busy = 0;
    w->running_id = 0;
    if (rc == BRN_OK) {
        LOG_INFO("job %lld: succeeded", (long long)id);
        sched_write_state(s, id, BRN_JOB_SUCCEEDED, NULL, NULL, 0);
    } else if (rc == BRN_STOPPED && stop == STOP_CANCEL) {
        LOG_INFO("job %lld: cancelled", (long long)id);
        sched_write_state(s, id, BRN_JOB_CANCELLED, "cancelled by request", NULL, 0);
    } else if (rc == BRN_STOPPED && stop == STOP_FAIL) {
        LOG_WARN("job %lld failed: %s", (long long)id, w->stop_reason);
        sched_write_state(s, id, BRN_JOB_FAILED, w->stop_reason, "limit", 0);
    } else if (rc == BRN_STOPPED && stop == STOP_SHUTDOWN) {
        /* shutdown: stays RUNNING so the next start resumes it from its checkpoint; the run
         * is closed so that the next start does not count it as a crash */
        LOG_INFO("job %lld: stopped for shutdown at a batch boundary; it resumes at the next start", (long long)id);
        sched_write_close_run(s, id);
    } else if (rc == BRN_STOPPED) {
        /* stopped without being asked: run it again from its checkpoint rather than strand it */
        LOG_WARN("job %lld: the engine stopped without a request; re-queued to resume", (long long)id);
        sched_write_state(s, id, BRN_JOB_QUEUED, NULL, NULL, 1);
    } else {
        const char *reason = msg[0] ? msg : brn_error_name(rc);
        LOG_WARN("job %lld failed: %s (%s)", (long long)id, reason, brn_error_name(rc < 0 ? rc : BRN_EINVAL));
        sched_write_state(s, id, BRN_JOB_FAILED, reason, brn_error_name(rc < 0 ? rc : BRN_EINVAL), 0);
    }
}

static void handle_event(brn_scheduler *s, sched_event *ev)
{
    sched_worker *w = ev->w;
    int64_t id = ev->job_id;
    switch (ev->type) {
    case EV_START:
        LOG_INFO("job %lld: %ld steps on %s%s", (long long)id, ev->u.start.total_steps, ev->text,
                 ev->u.start.start_step ? " (resumed)" : "");
        sched_write_progress(s, w, id, ev->u.start.start_epoch, ev->u.start.start_step, ev->u.start.total_steps);
        break;
    case EV_PROGRESS: {
        uint64_t t = sched_now_ms();
        const brn_step_info *p = &ev->u.progress;
        if (t - w->last_progress_store_ms >= PROGRESS_STORE_MS && !w->progress_op_pending) {
            w->last_progress_store_ms = t;
            sched_write_progress(s, w, id, p->epoch - 1, p->step, 0);
        }
        if (t - w->last_progress_pub_ms >= PROGRESS_PUB_MS || p->batch == p->batches_per_epoch) {
            w->last_progress_pub_ms = t;
            if (s->listener.on_progress) s->listener.on_progress(s->listener.user, id, p);
        }
        break;
    }
    case EV_EPOCH:
        sched_write_epoch(s, w, id, &ev->u.epoch, ev->at); /* takes the diagnostics */
        break;
    case EV_CHECKPOINT:
        sched_write_checkpoint(s, w, id, ev->u.checkpoint.epoch, ev->u.checkpoint.step, ev->text);
        break;
    case EV_FINISH:
        job_finished(s, w, id, ev->u.finish.rc, ev->text);
        break;
    }
}

void sched_on_events(uv_async_t *a)
{
    brn_scheduler *s = a->data;
    pthread_mutex_lock(&s->ev_lock);
    sched_event *list = s->ev_head;
    s->ev_head = s->ev_tail = NULL;
    /* the latest step of each worker, taken after the queue so it is the newest news */
    sched_event tail[8];
    int n_tail = 0;
    for (int i = 0; i < s->n_workers && n_tail < 8; i++) {
        sched_worker *w = &s->workers[i];
        if (!w->progress_pending) continue;
        memset(&tail[n_tail], 0, sizeof tail[n_tail]);
        tail[n_tail].type = EV_PROGRESS;
        tail[n_tail].w = w;
        tail[n_tail].job_id = w->progress_job;
        tail[n_tail].u.progress = w->progress;
        n_tail++;
        w->progress_pending = 0;
    }
    pthread_mutex_unlock(&s->ev_lock);
    int finished = 0;
    while (list) {
        sched_event *next = list->next;
        handle_event(s, list);
        finished |= list->type == EV_FINISH;
        sched_free_event(list);
        list = next;
    }
    for (int i = 0; i < n_tail; i++)
        if (tail[i].w->busy && tail[i].w->running_id == tail[i].job_id) handle_event(s, &tail[i]);
    if (!finished) return;
    if (s->stopping) sched_check_stopped(s);
    else scheduler_kick(s);
}
