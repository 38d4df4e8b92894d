/* The scheduler's loop side: workers per device, picking the next job, dispatch, cancel,
 * and the two-step shutdown. Writes and their completions are in sched_ops.c. */
#include "sched_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/* A kick starts at most this many jobs (or fails at most this many bad ones); the
 * completions of those writes kick again. */
#define KICK_MAX_PICKS 64
/* How often the scheduler's timer runs while it retries a failed read or watches a stop. */
#define SCHED_TIMER_MS 100

uint64_t sched_now_ms(void)
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

static void cpu_info(brn_device_info *d, int cores)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    snprintf(d->name, sizeof d->name, "cpu (%d cores)", cores > 0 ? cores : 1);
    snprintf(d->kind, sizeof d->kind, "cpu");
    d->memory_bytes = pages > 0 && page > 0 ? (int64_t)pages * page : 0;
}

static void on_timer(uv_timer_t *t);

int scheduler_create(uv_loop_t *loop, brn_store *store, store_writer *writer, const brn_sched_config *cfg,
                     const brn_sched_listener *listener, brn_scheduler **out, char *err, size_t errlen)
{
    int rc = BRN_ENOMEM;
    *out = NULL;
    brn_scheduler *s = calloc(1, sizeof *s);
    if (!s) goto fail;
    s->loop = loop;
    s->store = store;
    s->writer = writer;
    s->listener = *listener;
    s->limits = cfg->limits;
    s->state_dir = strdup(cfg->state_dir);
    s->data_dir = strdup(cfg->data_dir ? cfg->data_dir : "");
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
    if (uv_async_init(loop, &s->async, sched_on_events) || uv_timer_init(loop, &s->timer)) {
        snprintf(err, errlen, "uv handle init failed");
        rc = BRN_EIO;
        goto fail_lock; /* uv_async_init and uv_timer_init fail only on bad arguments */
    }
    s->async.data = s->timer.data = s;
    s->handles_open = 2;
    cpu_info(&s->workers[0].info, s->limits ? s->limits->cpu_cores : (int)sysconf(_SC_NPROCESSORS_ONLN));
    for (int i = 0; i < s->n_workers; i++) {
        s->workers[i].sched = s;
        if ((rc = worker_start(&s->workers[i], err, errlen))) goto fail_workers;
    }
    *out = s;
    return 0;
fail_workers:
    scheduler_free(s); /* the memory goes with the handles' close callbacks */
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

void sched_job_changed(brn_scheduler *s, int64_t id)
{
    if (s->listener.on_job_changed) s->listener.on_job_changed(s->listener.user, id);
}

/* ---- claims: jobs whose state write is in flight ---- */

static int claimed(const brn_scheduler *s, int64_t id)
{
    for (int i = 0; i < s->n_claimed; i++)
        if (s->claimed[i] == id) return 1;
    return 0;
}

int sched_claim(brn_scheduler *s, int64_t id)
{
    if (s->n_claimed == s->cap_claimed) {
        int cap = s->cap_claimed ? 2 * s->cap_claimed : 8;
        int64_t *p = realloc(s->claimed, (size_t)cap * sizeof *p);
        if (!p) return BRN_ENOMEM;
        s->claimed = p;
        s->cap_claimed = cap;
    }
    s->claimed[s->n_claimed++] = id;
    return 0;
}

void sched_unclaim(brn_scheduler *s, int64_t id)
{
    for (int i = 0; i < s->n_claimed; i++)
        if (s->claimed[i] == id) {
            s->claimed[i] = s->claimed[--s->n_claimed];
            return;
        }
}

/* ---- picking and dispatching ---- */

static void timer_want(brn_scheduler *s)
{
    if (s->timer_active) return;
    s->timer_active = 1;
    uv_timer_start(&s->timer, on_timer, SCHED_TIMER_MS, SCHED_TIMER_MS);
}

/* A failed read: try the kick again from the timer (the loop's reads fail fast rather
 * than wait for a lock). */
static void kick_later(brn_scheduler *s, const char *e)
{
    LOG_WARN_LIMITED("scheduler: cannot read the queue now (%s); trying again", e);
    s->kick_retry = 1;
    timer_want(s);
}

/* The next job: recovered ones first (if still queued), then the store's queue order,
 * skipping claimed jobs. 0 with *row filled, STORE_NOT_FOUND, or a read error. */
static int next_job(brn_scheduler *s, brn_job_row *row)
{
    char e[256];
    while (s->n_resume > 0) {
        int64_t id = s->resume_first[0];
        int rc = claimed(s, id) ? STORE_NOT_FOUND : store_job_get(s->store, id, row, e, sizeof e);
        if (rc && rc != STORE_NOT_FOUND) {
            kick_later(s, e);
            return rc;
        }
        memmove(s->resume_first, s->resume_first + 1, (size_t)(--s->n_resume) * sizeof *s->resume_first);
        if (rc == 0) {
            if (row->state == BRN_JOB_QUEUED) return 0;
            brn_job_row_free(row);
        }
    }
    brn_job_row *rows = NULL;
    int n = 0, rc = store_jobs_queued_first(s->store, s->n_claimed + 1, &rows, &n, e, sizeof e);
    if (rc) {
        kick_later(s, e);
        return rc;
    }
    rc = STORE_NOT_FOUND;
    for (int i = 0; i < n; i++) {
        if (claimed(s, rows[i].id)) continue;
        *row = rows[i];
        memset(&rows[i], 0, sizeof rows[i]); /* moved out */
        rc = 0;
        break;
    }
    brn_job_rows_free(rows, n);
    return rc;
}

/* The job cannot run: write it FAILED (claimed until written, so it is not picked again). */
static void dispatch_fail(brn_scheduler *s, const brn_job_row *row, int code, const char *reason)
{
    LOG_WARN("job %lld failed: %s (%s)", (long long)row->id, reason, brn_error_name(code));
    sched_write_state(s, row->id, BRN_JOB_FAILED, reason, brn_error_name(code), 1);
}

/* Prepare the job's spec for this server and have its start written; the worker gets it
 * when that write is done (sched_ops.c). */
static void dispatch(brn_scheduler *s, sched_worker *w, brn_job_row *row)
{
    char e[BRN_SPEC_PATH_LEN + 256];
    brn_job_spec spec;
    if (row->cancel_requested) { /* asked while it was being recovered */
        sched_write_state(s, row->id, BRN_JOB_CANCELLED, "cancelled by request", NULL, 1);
        return;
    }
    if (brn_spec_from_json_text(row->spec_json, &spec, e, sizeof e) || brn_spec_validate(&spec, e, sizeof e)) {
        dispatch_fail(s, row, BRN_EINVAL, e);
        return;
    }
    if (strcmp(spec.device, "auto") && strcmp(spec.device, w->info.kind)) {
        snprintf(e, sizeof e, "device: %s is not available on this server", spec.device);
        dispatch_fail(s, row, BRN_EDEVICE, e);
        return;
    }
    /* the cores brnd may use now (the job was admitted with at most those it had then) */
    int cores = s->limits ? s->limits->cpu_cores : 0;
    if (cores > 0 && (spec.threads <= 0 || spec.threads > cores)) {
        if (spec.threads > cores)
            LOG_INFO("job %lld: threads %d clamped to %d (the cores brnd may use)", (long long)row->id, spec.threads,
                     cores);
        spec.threads = cores;
    }
    /* server-side settings: never taken from the client */
    snprintf(spec.device, sizeof spec.device, "%s", w->info.kind);
    snprintf(spec.data_dir, sizeof spec.data_dir, "%s", s->data_dir);
    spec.init[0] = 0;
    int n = snprintf(spec.checkpoint_dir, sizeof spec.checkpoint_dir, "%s/jobs/%lld", s->state_dir,
                     (long long)row->id);
    if (n >= (int)sizeof spec.checkpoint_dir) {
        dispatch_fail(s, row, BRN_EIO, "the state directory's path is too long for a job directory");
        return;
    }
    w->busy = 1;
    w->starting = 1;
    w->running_id = row->id;
    w->wait_since_ms = sched_now_ms();
    atomic_store(&w->stop, STOP_NONE);
    int crash_for_test = s->test_crash_name && row->name && !strcmp(row->name, s->test_crash_name);
    if (sched_write_start(s, w, row->id, &spec, crash_for_test)) {
        w->busy = w->starting = 0;
        w->running_id = 0;
    }
}

void scheduler_kick(brn_scheduler *s)
{
    if (s->stopping || s->recovering > 0) return;
    s->kick_retry = 0;
    int picks = 0;
    for (int i = 0; i < s->n_workers; i++) {
        sched_worker *w = &s->workers[i];
        while (!w->busy && picks++ < KICK_MAX_PICKS) {
            brn_job_row row;
            if (next_job(s, &row)) break;
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

/* ---- shutdown ---- */

/* A busy worker waiting longer than the grace on a write (its start, its epoch) that keeps
 * failing; anything else busy is still finishing its batch. */
static int stuck_on_write(const sched_worker *w, uint64_t now)
{
    return (w->starting || w->epoch_pending) && now - w->wait_since_ms >= SCHED_STOP_GRACE_MS;
}

void sched_check_stopped(brn_scheduler *s)
{
    if (!s->stopping || !s->stop_done) return;
    uint64_t now = sched_now_ms();
    for (int i = 0; i < s->n_workers; i++) {
        const sched_worker *w = &s->workers[i];
        if (w->busy && !stuck_on_write(w, now)) return;
    }
    for (int i = 0; i < s->n_workers; i++) {
        sched_worker *w = &s->workers[i];
        if (!w->busy) continue;
        w->abandoned = 1;
        if (w->epoch_pending)
            LOG_WARN("job %lld: its last epoch could not be stored; the job stays paused and resumes from its "
                     "previous checkpoint at the next start (the epoch is trained again)", (long long)w->running_id);
        else
            LOG_WARN("job %lld: its start could not be stored; it starts again at the next start",
                     (long long)w->running_id);
    }
    void (*done)(void *) = s->stop_done;
    s->stop_done = NULL;
    if (s->timer_active) {
        uv_timer_stop(&s->timer);
        s->timer_active = 0;
    }
    done(s->stop_user);
}

static void on_timer(uv_timer_t *t)
{
    brn_scheduler *s = t->data;
    if (s->stopping) {
        sched_check_stopped(s);
        return;
    }
    if (s->kick_retry) scheduler_kick(s);
    if (!s->kick_retry && s->timer_active) {
        uv_timer_stop(&s->timer);
        s->timer_active = 0;
    }
}

void scheduler_stop(brn_scheduler *s, void (*done)(void *user), void *user)
{
    s->stopping = 1;
    s->stop_done = done;
    s->stop_user = user;
    for (int i = 0; i < s->n_workers; i++) {
        sched_worker *w = &s->workers[i];
        if (!w->busy) continue;
        int expected = STOP_NONE;
        atomic_compare_exchange_strong(&w->stop, &expected, STOP_SHUTDOWN);
        LOG_INFO("job %lld: stopping at the next batch boundary (checkpoint first)", (long long)w->running_id);
    }
    if (s->timer_active) uv_timer_stop(&s->timer);
    s->timer_active = 1;
    uv_timer_start(&s->timer, on_timer, SCHED_TIMER_MS, SCHED_TIMER_MS);
    sched_check_stopped(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    brn_scheduler *s = h->data;
    if (--s->handles_open > 0) return;
    /* events posted after the last drain (none expected once workers are joined) */
    while (s->ev_head) {
        sched_event *n = s->ev_head->next;
        sched_free_event(s->ev_head);
        s->ev_head = n;
    }
    int abandoned = 0;
    for (int i = 0; i < s->n_workers; i++) abandoned |= s->workers[i].thread_started;
    if (abandoned) return; /* a paused worker still points into this memory: the exit reclaims it */
    pthread_mutex_destroy(&s->ev_lock);
    free(s->workers);
    free(s->resume_first);
    free(s->claimed);
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
        sched_worker *w = &s->workers[i];
        atomic_store(&w->stop, STOP_SHUTDOWN);
        if (w->abandoned && w->epoch_pending) continue; /* paused in on_epoch: must not run ahead */
        worker_join(w);
    }
    if (s->timer_active) uv_timer_stop(&s->timer);
    s->timer_active = 0;
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->async, on_handle_closed);
}
