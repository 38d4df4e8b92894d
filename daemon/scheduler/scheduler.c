/* The scheduler's loop side: picks jobs, hands them to workers, applies worker events to
 * the store and tells the listener. */
#include "sched_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/* Progress reaches the store at most this often (one UPDATE), and watchers at most
 * PUB_MS apart: a tiny model can step thousands of times a second. */
#define PROGRESS_STORE_MS 1000
#define PROGRESS_PUB_MS 50

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

double sched_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void on_events(uv_async_t *a);

static void cpu_info(brn_device_info *d)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    snprintf(d->name, sizeof d->name, "cpu (%ld cores)", cores > 0 ? cores : 1);
    snprintf(d->kind, sizeof d->kind, "cpu");
    d->memory_bytes = pages > 0 && page > 0 ? (int64_t)pages * page : 0;
}

int scheduler_create(uv_loop_t *loop, brn_store *store, const brn_sched_config *cfg,
                     const brn_sched_listener *listener, brn_scheduler **out, char *err, size_t errlen)
{
    int rc = BRN_ENOMEM;
    *out = NULL;
    brn_scheduler *s = calloc(1, sizeof *s);
    if (!s) goto fail;
    s->loop = loop;
    s->store = store;
    s->listener = *listener;
    s->state_dir = strdup(cfg->state_dir);
    s->data_dir = strdup(cfg->data_dir ? cfg->data_dir : "");
    s->limits = cfg->limits;
    const char *crash = getenv(SCHED_TEST_CRASH_ENV);
    if (crash && crash[0]) {
        s->test_crash_name = strdup(crash);
        LOG_WARN("%s is set: the job named '%s' aborts brnd when it starts (a test of crash loops)",
                 SCHED_TEST_CRASH_ENV, crash);
    }
    /* one worker per device: the CPU for now (a CUDA worker joins when that backend exists) */
    s->n_workers = 1;
    s->workers = calloc((size_t)s->n_workers, sizeof *s->workers);
    if (!s->state_dir || !s->data_dir || !s->workers) goto fail_free;
    pthread_mutex_init(&s->ev_lock, NULL);
    if (uv_async_init(loop, &s->async, on_events)) {
        snprintf(err, errlen, "uv_async_init failed");
        rc = BRN_EIO;
        goto fail_lock;
    }
    s->async.data = s;
    cpu_info(&s->workers[0].info);
    for (int i = 0; i < s->n_workers; i++) {
        s->workers[i].sched = s;
        if ((rc = worker_start(&s->workers[i], err, errlen))) goto fail_workers;
    }
    *out = s;
    return 0;
fail_workers:
    scheduler_free(s); /* the memory goes with the async handle's close callback */
    return rc;
fail_lock:
    pthread_mutex_destroy(&s->ev_lock);
fail_free:
    free(s->workers);
    free(s->state_dir);
    free(s->data_dir);
    free(s->test_crash_name);
    free(s);
fail:
    if (rc == BRN_ENOMEM) snprintf(err, errlen, "out of memory");
    return rc;
}

int scheduler_device_available(const brn_scheduler *s, const char *device)
{
    if (!device || !device[0] || strcmp(device, "auto") == 0) return s->n_workers > 0;
    for (int i = 0; i < s->n_workers; i++)
        if (strcmp(s->workers[i].info.kind, device) == 0) return 1;
    return 0;
}

int scheduler_devices(const brn_scheduler *s, brn_device_info *out, int max)
{
    int n = 0;
    for (int i = 0; i < s->n_workers && n < max; i++) {
        out[n] = s->workers[i].info;
        out[n++].running_job = s->workers[i].busy ? s->workers[i].running_id : 0;
    }
    return n;
}

/* ---- recovery ---- */

/* A RUNNING job found at start-up whose run was open: brnd died under it. Returns 1 when
 * the job is FAILED for good (too many crashes), 0 when it may run again. */
static int count_crash(brn_scheduler *s, const brn_job_row *row)
{
    char e[256];
    int crashes = 0;
    if (store_job_count_crash(s->store, row->id, &crashes, e, sizeof e)) {
        LOG_ERROR("job %lld: cannot count its crash: %s", (long long)row->id, e);
        return 0;
    }
    int max = s->limits ? s->limits->max_crashes : LIMITS_DEFAULT_MAX_CRASHES;
    if (max > 0 && crashes >= max) {
        char reason[256];
        snprintf(reason, sizeof reason, "crashed: brnd died while running this job %d time%s (--max-crashes %d)",
                 crashes, crashes == 1 ? "" : "s", max);
        if (store_job_set_state(s->store, row->id, BRN_JOB_FAILED, reason, SCHED_ERROR_CRASHED, NULL, e, sizeof e))
            LOG_ERROR("job %lld: %s", (long long)row->id, e);
        LOG_ERROR("job %lld failed: %s", (long long)row->id, reason);
        return 1;
    }
    LOG_WARN("job %lld: brnd died while running it (crash %d of at most %d); resuming it", (long long)row->id,
             crashes, max);
    return 0;
}

int scheduler_recover(brn_scheduler *s, char *err, size_t errlen)
{
    brn_job_row *rows = NULL;
    int n = 0, rc;
    if ((rc = store_jobs_in_state(s->store, BRN_JOB_RUNNING, &rows, &n, err, errlen))) return rc;
    s->resume_first = n ? calloc((size_t)n, sizeof *s->resume_first) : NULL;
    for (int i = 0; i < n; i++) {
        char e[256];
        if (rows[i].run_open && count_crash(s, &rows[i])) continue;
        if (rows[i].cancel_requested) {
            if (store_job_set_state(s->store, rows[i].id, BRN_JOB_CANCELLED, "cancelled by request", NULL, NULL, e,
                                    sizeof e))
                LOG_ERROR("job %lld: %s", (long long)rows[i].id, e);
            continue;
        }
        if (store_job_set_state(s->store, rows[i].id, BRN_JOB_QUEUED, NULL, NULL, NULL, e, sizeof e)) {
            LOG_ERROR("job %lld: cannot re-queue: %s", (long long)rows[i].id, e);
            continue;
        }
        LOG_INFO("job %lld: was running when the daemon stopped; resuming it first", (long long)rows[i].id);
        if (s->resume_first) s->resume_first[s->n_resume++] = rows[i].id;
    }
    brn_job_rows_free(rows, n);
    return 0;
}

/* ---- dispatch ---- */

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[BRN_SPEC_PATH_LEN];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, mode) && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, mode) && errno != EEXIST ? -1 : 0;
}

/* The next job: recovered ones first (if still queued), then the store's queue order. */
static int next_job(brn_scheduler *s, brn_job_row *row)
{
    char e[256];
    while (s->n_resume > 0) {
        int64_t id = s->resume_first[0];
        memmove(s->resume_first, s->resume_first + 1, (size_t)(--s->n_resume) * sizeof *s->resume_first);
        if (store_job_get(s->store, id, row, e, sizeof e) == 0) {
            if (row->state == BRN_JOB_QUEUED) return 0;
            brn_job_row_free(row);
        }
    }
    int rc = store_job_next_queued(s->store, row, e, sizeof e);
    if (rc && rc != STORE_NOT_FOUND) LOG_ERROR("scheduler: %s", e);
    return rc;
}

static void job_fail(brn_scheduler *s, int64_t id, int code, const char *reason)
{
    char e[256];
    if (store_job_set_state(s->store, id, BRN_JOB_FAILED, reason, brn_error_name(code), NULL, e, sizeof e))
        LOG_ERROR("job %lld: %s", (long long)id, e);
    LOG_WARN("job %lld failed: %s (%s)", (long long)id, reason, brn_error_name(code));
    if (s->listener.on_job_changed) s->listener.on_job_changed(s->listener.user, id);
}

/* Prepare the job's spec for this server and hand it to worker w. Returns 0 when started. */
static int dispatch(brn_scheduler *s, sched_worker *w, brn_job_row *row)
{
    char e[BRN_SPEC_PATH_LEN + 256];
    brn_job_spec spec;
    if (brn_spec_from_json_text(row->spec_json, &spec, e, sizeof e) || brn_spec_validate(&spec, e, sizeof e)) {
        job_fail(s, row->id, BRN_EINVAL, e);
        return -1;
    }
    if (strcmp(spec.device, "auto") && strcmp(spec.device, w->info.kind)) {
        snprintf(e, sizeof e, "device: %s is not available on this server", spec.device);
        job_fail(s, row->id, BRN_EDEVICE, e);
        return -1;
    }
    /* server-side settings: never taken from the client */
    snprintf(spec.device, sizeof spec.device, "%s", w->info.kind);
    snprintf(spec.data_dir, sizeof spec.data_dir, "%s", s->data_dir);
    spec.init[0] = 0;
    int n = snprintf(spec.checkpoint_dir, sizeof spec.checkpoint_dir, "%s/jobs/%lld", s->state_dir,
                     (long long)row->id);
    if (n >= (int)sizeof spec.checkpoint_dir || mkdir_p(spec.checkpoint_dir, 0700)) {
        snprintf(e, sizeof e, "cannot create the checkpoint directory %s: %s", spec.checkpoint_dir, strerror(errno));
        job_fail(s, row->id, BRN_EIO, e);
        return -1;
    }
    if (store_job_set_state(s->store, row->id, BRN_JOB_RUNNING, NULL, NULL, w->info.kind, e, sizeof e)) {
        LOG_ERROR("job %lld: cannot start: %s", (long long)row->id, e);
        return -1;
    }
    pthread_mutex_lock(&w->mu);
    w->spec = spec;
    snprintf(w->resume, sizeof w->resume, "%s/%s", spec.checkpoint_dir, BRN_LAST_CHECKPOINT);
    if (access(w->resume, R_OK) != 0) w->resume[0] = 0;
    else LOG_INFO("job %lld: resuming from %s", (long long)row->id, w->resume);
    w->job_id = row->id;
    w->crash_for_test = s->test_crash_name && row->name && !strcmp(row->name, s->test_crash_name);
    w->epoch_acked = 0;
    atomic_store(&w->stop, STOP_NONE);
    w->has_job = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    w->busy = 1;
    w->running_id = row->id;
    w->last_progress_store_ms = w->last_progress_pub_ms = 0;
    w->last_epoch_at = 0;
    LOG_INFO("job %lld: running on %s", (long long)row->id, w->info.name);
    if (s->listener.on_job_changed) s->listener.on_job_changed(s->listener.user, row->id);
    return 0;
}

void scheduler_kick(brn_scheduler *s)
{
    if (s->stopping) return;
    for (int i = 0; i < s->n_workers; i++) {
        sched_worker *w = &s->workers[i];
        while (!w->busy) {
            brn_job_row row;
            if (next_job(s, &row)) return;
            dispatch(s, w, &row);
            brn_job_row_free(&row);
        }
    }
}

int scheduler_cancel(brn_scheduler *s, int64_t job_id)
{
    for (int i = 0; i < s->n_workers; i++) {
        sched_worker *w = &s->workers[i];
        if (w->busy && w->running_id == job_id) {
            int expected = STOP_NONE;
            atomic_compare_exchange_strong(&w->stop, &expected, STOP_CANCEL);
            return 1;
        }
    }
    return 0;
}

/* ---- worker events ---- */

static void job_finished(brn_scheduler *s, sched_worker *w, int64_t id, int rc, const char *msg)
{
    char e[256];
    int stop = atomic_load(&w->stop);
    w->busy = 0;
    w->running_id = 0;
    if (rc == BRN_OK) {
        if (store_job_set_state(s->store, id, BRN_JOB_SUCCEEDED, NULL, NULL, NULL, e, sizeof e))
            LOG_ERROR("job %lld: %s", (long long)id, e);
        LOG_INFO("job %lld: succeeded", (long long)id);
    } else if (rc == BRN_STOPPED && stop == STOP_CANCEL) {
        if (store_job_set_state(s->store, id, BRN_JOB_CANCELLED, "cancelled by request", NULL, NULL, e, sizeof e))
            LOG_ERROR("job %lld: %s", (long long)id, e);
        LOG_INFO("job %lld: cancelled", (long long)id);
    } else if (rc == BRN_STOPPED && stop == STOP_SHUTDOWN) {
        /* shutdown: stays RUNNING so the next start resumes it from its checkpoint; the run
         * is closed so that the next start does not count it as a crash */
        if (store_job_close_run(s->store, id, e, sizeof e)) LOG_ERROR("job %lld: %s", (long long)id, e);
        LOG_INFO("job %lld: stopped for shutdown at a batch boundary; it resumes at the next start", (long long)id);
    } else if (rc == BRN_STOPPED) {
        /* stopped without being asked: run it again from its checkpoint rather than strand it */
        LOG_WARN("job %lld: the engine stopped without a request; re-queued to resume", (long long)id);
        if (store_job_set_state(s->store, id, BRN_JOB_QUEUED, NULL, NULL, NULL, e, sizeof e))
            LOG_ERROR("job %lld: %s", (long long)id, e);
    } else {
        job_fail(s, id, rc < 0 ? rc : BRN_EINVAL, msg[0] ? msg : brn_error_name(rc));
        return;
    }
    if (s->listener.on_job_changed) s->listener.on_job_changed(s->listener.user, id);
}

static void handle_event(brn_scheduler *s, sched_event *ev)
{
    char e[256];
    sched_worker *w = ev->w;
    int64_t id = ev->job_id;
    switch (ev->type) {
    case EV_START:
        if (store_job_set_progress(s->store, id, ev->u.start.start_epoch, ev->u.start.start_step,
                                   ev->u.start.total_steps, e, sizeof e))
            LOG_ERROR("job %lld: %s", (long long)id, e);
        LOG_INFO("job %lld: %ld steps on %s%s", (long long)id, ev->u.start.total_steps, ev->text,
                 ev->u.start.start_step ? " (resumed)" : "");
        if (s->listener.on_job_changed) s->listener.on_job_changed(s->listener.user, id);
        break;
    case EV_PROGRESS: {
        uint64_t t = now_ms();
        const brn_step_info *p = &ev->u.progress;
        if (t - w->last_progress_store_ms >= PROGRESS_STORE_MS) {
            w->last_progress_store_ms = t;
            if (store_job_set_progress(s->store, id, p->epoch - 1, p->step, 0, e, sizeof e))
                LOG_ERROR("job %lld: %s", (long long)id, e);
        }
        if (t - w->last_progress_pub_ms >= PROGRESS_PUB_MS || p->batch == p->batches_per_epoch) {
            w->last_progress_pub_ms = t;
            if (s->listener.on_progress) s->listener.on_progress(s->listener.user, id, p);
        }
        break;
    }
    case EV_EPOCH: {
        double t0 = sched_now();
        if (store_epoch_upsert(s->store, id, &ev->u.epoch, e, sizeof e)) LOG_ERROR("job %lld: %s", (long long)id, e);
        worker_ack_epoch(w, ev->u.epoch.epoch);
        LOG_INFO("job %lld: epoch %d loss %.4f acc %.4f%s", (long long)id, ev->u.epoch.epoch, ev->u.epoch.train_loss,
                 ev->u.epoch.train_acc, ev->u.epoch.evaluated ? "" : " (not evaluated)");
        /* what an epoch costs beyond training and evaluation (the checkpoint write, on the
         * worker) and the metrics write (on the loop), for bench/rpc_epoch_overhead.py */
        if (w->last_epoch_at > 0)
            LOG_DEBUG("job %lld: epoch %d timing: wall %.4f s, train+eval %.4f s, metrics store %.3f ms, "
                      "checkpoint record %.3f ms, checkpoint %lld bytes",
                      (long long)id, ev->u.epoch.epoch, ev->at - w->last_epoch_at, ev->u.epoch.seconds,
                      (sched_now() - t0) * 1e3, w->ckpt_store_ms, (long long)w->ckpt_bytes);
        w->last_epoch_at = ev->at;
        if (s->listener.on_epoch) s->listener.on_epoch(s->listener.user, id, &ev->u.epoch);
        break;
    }
    case EV_CHECKPOINT: {
        struct stat st;
        double t0 = sched_now();
        int64_t bytes = stat(ev->text, &st) == 0 ? (int64_t)st.st_size : 0;
        if (store_checkpoint_upsert(s->store, id, ev->u.checkpoint.epoch, ev->u.checkpoint.step, ev->text, bytes, e,
                                    sizeof e))
            LOG_ERROR("job %lld: %s", (long long)id, e);
        w->ckpt_store_ms = (sched_now() - t0) * 1e3;
        w->ckpt_bytes = bytes;
        break;
    }
    case EV_FINISH:
        job_finished(s, w, id, ev->u.finish.rc, ev->text);
        break;
    }
}

static void on_events(uv_async_t *a)
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
        if (list->type == EV_EPOCH) free((void *)list->u.epoch.diag);
        if (!list->embedded) free(list);
        list = next;
    }
    for (int i = 0; i < n_tail; i++)
        if (tail[i].w->busy && tail[i].w->running_id == tail[i].job_id) handle_event(s, &tail[i]);
    if (!finished) return;
    if (s->stopping) {
        for (int i = 0; i < s->n_workers; i++)
            if (s->workers[i].busy) return;
        void (*done)(void *) = s->stop_done;
        s->stop_done = NULL;
        if (done) done(s->stop_user);
    } else {
        scheduler_kick(s);
    }
}

/* ---- shutdown ---- */

void scheduler_stop(brn_scheduler *s, void (*done)(void *user), void *user)
{
    s->stopping = 1;
    int busy = 0;
    for (int i = 0; i < s->n_workers; i++) {
        sched_worker *w = &s->workers[i];
        if (!w->busy) continue;
        busy = 1;
        int expected = STOP_NONE;
        atomic_compare_exchange_strong(&w->stop, &expected, STOP_SHUTDOWN);
        LOG_INFO("job %lld: stopping at the next batch boundary (checkpoint first)", (long long)w->running_id);
    }
    if (!busy) {
        if (done) done(user);
        return;
    }
    s->stop_done = done;
    s->stop_user = user;
}

static void on_async_closed(uv_handle_t *h)
{
    brn_scheduler *s = h->data;
    /* events posted after the last drain (none expected once workers are joined) */
    while (s->ev_head) {
        sched_event *n = s->ev_head->next;
        if (s->ev_head->type == EV_EPOCH) free((void *)s->ev_head->u.epoch.diag);
        if (!s->ev_head->embedded) free(s->ev_head);
        s->ev_head = n;
    }
    pthread_mutex_destroy(&s->ev_lock);
    free(s->workers);
    free(s->resume_first);
    free(s->test_crash_name);
    free(s->state_dir);
    free(s->data_dir);
    free(s);
}

void scheduler_free(brn_scheduler *s)
{
    if (!s) return;
    s->stopping = 1;
    for (int i = 0; i < s->n_workers; i++) {
        atomic_store(&s->workers[i].stop, STOP_SHUTDOWN);
        worker_join(&s->workers[i]);
    }
    uv_close((uv_handle_t *)&s->async, on_async_closed);
}
