/* The scheduler's loop side: workers per device, picking the next job, dispatch, cancel,
 * and the two-step shutdown. Writes and their completions are in sched_ops.c. */
#include "sched_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "common/jobdir.h"
#include "common/log.h"

/* A kick starts at most this many jobs (or fails at most this many bad ones); the
 * completions of those writes kick again. */
#define KICK_MAX_PICKS 64
/* Queued jobs a kick looks through for one whose device is free. */
#define KICK_SCAN 256
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

static void device_info(brn_device_info *d, const brn_device_desc *desc, int cpu_cores)
{
    memset(d, 0, sizeof *d);
    _Static_assert(sizeof d->id == sizeof desc->id, "device ids are copied whole");
    memcpy(d->id, desc->id, sizeof d->id);
    snprintf(d->kind, sizeof d->kind, "%.*s", (int)sizeof desc->kind, desc->kind);
    if (!strcmp(desc->kind, "cpu") && cpu_cores > 0)
        snprintf(d->name, sizeof d->name, "cpu (%d core%s, OpenBLAS)", cpu_cores, cpu_cores == 1 ? "" : "s");
    else
        snprintf(d->name, sizeof d->name, "%s", desc->name);
    d->memory_bytes = (int64_t)desc->memory_bytes;
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
    /* one worker per device: the CPU, then every usable GPU */
    brn_device_desc devs[1 + BRN_MAX_GPUS];
    s->n_workers = brn_devices_list(devs, 1 + BRN_MAX_GPUS, s->why_no_gpu, sizeof s->why_no_gpu);
    if (s->n_workers > 1) s->why_no_gpu[0] = 0;
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
    for (int i = 0; i < s->n_workers; i++)
        device_info(&s->workers[i].info, &devs[i], s->limits ? s->limits->cpu_cores : 0);
    if (s->n_workers == 1) LOG_INFO("devices: the CPU only (no GPU: %s)", s->why_no_gpu);
    for (int i = 1; i < s->n_workers; i++)
        LOG_INFO("device %s: %s, %.1f GiB", s->workers[i].info.id, s->workers[i].info.name,
                 (double)s->workers[i].info.memory_bytes / (1 << 30));
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

int sched_device_fits(const brn_device_info *d, const brn_job_spec *spec, int server_has_gpu)
{
    const int gpu = !strcmp(d->kind, "cuda");
    int index;
    if (!strcmp(spec->device, "cpu")) return !gpu && spec->precision == BRN_PRECISION_FP32;
    if (!strcmp(spec->device, "cuda")) return gpu;
    if (brn_device_is_cuda(spec->device, &index)) return gpu && !strcmp(d->id, spec->device);
    /* auto: a GPU when the server has one */
    return server_has_gpu ? gpu : spec->precision == BRN_PRECISION_FP32;
}

static int worker_fits(const sched_worker *w, const brn_job_spec *spec, int has_gpu)
{
    return sched_device_fits(&w->info, spec, has_gpu);
}

int scheduler_check_device(const brn_scheduler *s, const brn_job_spec *spec, char *err, size_t errlen)
{
    const int has_gpu = s->n_workers > 1;
    for (int i = 0; i < s->n_workers; i++)
        if (worker_fits(&s->workers[i], spec, has_gpu)) return 0;
    if (!strcmp(spec->device, "cpu") || (!has_gpu && !strcmp(spec->device, "auto"))) {
        snprintf(err, errlen, "precision: %s needs a GPU (the CPU runs fp32 only)%s%s",
                 brn_precision_name(spec->precision), has_gpu ? "" : "; this server has none: ",
                 has_gpu ? "" : s->why_no_gpu);
        return -1;
    }
    if (!has_gpu) {
        snprintf(err, errlen, "device: %s is not available on this server: %s", spec->device, s->why_no_gpu);
        return -1;
    }
    size_t o = (size_t)snprintf(err, errlen, "device: %s is not available on this server (its GPUs:", spec->device);
    for (int i = 1; i < s->n_workers && o < errlen; i++)
        o += (size_t)snprintf(err + o, errlen - o, "%s %s", i > 1 ? "," : "", s->workers[i].info.id);
    if (o < errlen) snprintf(err + o, errlen - o, ")");
    return -1;
}

void scheduler_budget_device(const brn_scheduler *s, const brn_job_spec *spec, char *out, size_t n)
{
    const int has_gpu = s->n_workers > 1;
    for (int i = 0; i < s->n_workers; i++)
        if (worker_fits(&s->workers[i], spec, has_gpu)) {
            snprintf(out, n, "%s", s->workers[i].info.id);
            return;
        }
    snprintf(out, n, "cpu");
}

const char *scheduler_gpu_unavailable(const brn_scheduler *s) { return s->why_no_gpu; }

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

/* The job cannot run: write it FAILED (claimed until written, so it is not picked again). */
static void dispatch_fail(brn_scheduler *s, const brn_job_row *row, int code, const char *reason)
{
    LOG_WARN("job %lld failed: %s (%s)", (long long)row->id, reason, brn_error_name(code));
    sched_write_state(s, row->id, BRN_JOB_FAILED, reason, brn_error_name(code), 1);
}

static sched_worker *idle_worker_for(brn_scheduler *s, const brn_job_spec *spec)
{
    for (int i = 0; i < s->n_workers; i++)
        if (!s->workers[i].busy && worker_fits(&s->workers[i], spec, s->n_workers > 1)) return &s->workers[i];
    return NULL;
}

/* What to do with a queued job now: PLACE it on *w, FINISH it (cancelled while it was
 * being recovered, or unable to run on this server: written here), or leave it WAITING
 * for its device. */
typedef enum { JOB_WAITING, JOB_PLACE, JOB_FINISHED } job_plan;

static job_plan plan_job(brn_scheduler *s, const brn_job_row *row, brn_job_spec *spec, sched_worker **w)
{
    char e[BRN_SPEC_PATH_LEN + 256];
    if (row->cancel_requested) {
        sched_write_state(s, row->id, BRN_JOB_CANCELLED, "cancelled by request", NULL, 1);
        return JOB_FINISHED;
    }
    if (brn_spec_from_json_text(row->spec_json, spec, e, sizeof e) || brn_spec_validate(spec, e, sizeof e)) {
        dispatch_fail(s, row, BRN_EINVAL, e);
        return JOB_FINISHED;
    }
    if (scheduler_check_device(s, spec, e, sizeof e)) { /* e.g. its GPU is gone since it was queued */
        dispatch_fail(s, row, BRN_EDEVICE, e);
        return JOB_FINISHED;
    }
    *w = idle_worker_for(s, spec);
    return *w ? JOB_PLACE : JOB_WAITING;
}

/* The next job that can start now, in order: recovered ones first (while still queued),
 * then the store's queue, skipping claimed jobs and jobs whose devices are all busy (a GPU
 * job waiting does not hold back a CPU job behind it). 0 with *row, *spec and *w filled,
 * STORE_NOT_FOUND, or a read error. Jobs that cannot run at all are finished on the way. */
static int next_job(brn_scheduler *s, brn_job_row *row, brn_job_spec *spec, sched_worker **w)
{
    char e[256];
    for (int i = 0; i < s->n_resume;) {
        int64_t id = s->resume_first[i];
        int rc = claimed(s, id) ? STORE_NOT_FOUND : store_job_get(s->store, id, row, e, sizeof e);
        if (rc && rc != STORE_NOT_FOUND) {
            kick_later(s, e);
            return rc;
        }
        job_plan plan = rc == 0 && row->state == BRN_JOB_QUEUED ? plan_job(s, row, spec, w) : JOB_FINISHED;
        if (plan == JOB_WAITING) {
            brn_job_row_free(row);
            i++;
            continue;
        }
        memmove(s->resume_first + i, s->resume_first + i + 1, (size_t)(--s->n_resume - i) * sizeof *s->resume_first);
        if (plan == JOB_PLACE) return 0;
        if (rc == 0) brn_job_row_free(row);
    }
    brn_job_row *rows = NULL;
    int n = 0, rc = store_jobs_queued_first(s->store, s->n_claimed + KICK_SCAN, &rows, &n, e, sizeof e);
    if (rc) {
        kick_later(s, e);
        return rc;
    }
    rc = STORE_NOT_FOUND;
    for (int i = 0; i < n && rc; i++) {
        if (claimed(s, rows[i].id) || plan_job(s, &rows[i], spec, w) != JOB_PLACE) continue;
        *row = rows[i];
        memset(&rows[i], 0, sizeof rows[i]); /* moved out */
        rc = 0;
    }
    brn_job_rows_free(rows, n);
    return rc;
}

/* Prepare the job's spec for worker w and this server and have its start written; the
 * worker gets it when that write is done (sched_ops.c). */
static void dispatch(brn_scheduler *s, sched_worker *w, brn_job_row *row, brn_job_spec *spec)
{
    /* the cores brnd may use now (the job was admitted with at most those it had then) */
    int cores = s->limits ? s->limits->cpu_cores : 0;
    if (cores > 0 && (spec->threads <= 0 || spec->threads > cores)) {
        if (spec->threads > cores)
            LOG_INFO("job %lld: threads %d clamped to %d (the cores brnd may use)", (long long)row->id, spec->threads,
                     cores);
        spec->threads = cores;
    }
    /* server-side settings: never taken from the client */
    snprintf(spec->device, sizeof spec->device, "%s", w->info.id);
    snprintf(spec->data_dir, sizeof spec->data_dir, "%s", s->data_dir);
    spec->init[0] = 0;
    if (jobdir_path(spec->checkpoint_dir, sizeof spec->checkpoint_dir, s->state_dir, row->id)) {
        dispatch_fail(s, row, BRN_EIO, "the state directory's path is too long for a job directory");
        return;
    }
    w->busy = 1;
    w->starting = 1;
    w->running_id = row->id;
    w->wait_since_ms = sched_now_ms();
    atomic_store(&w->stop, STOP_NONE);
    int crash_for_test = s->test_crash_name && row->name && !strcmp(row->name, s->test_crash_name);
    if (sched_write_start(s, w, row->id, spec, crash_for_test)) {
        w->busy = w->starting = 0;
        w->running_id = 0;
    }
}

static int any_idle(const brn_scheduler *s)
{
    for (int i = 0; i < s->n_workers; i++)
        if (!s->workers[i].busy) return 1;
    return 0;
}

void scheduler_kick(brn_scheduler *s)
{
    if (s->stopping || s->recovering > 0) return;
    s->kick_retry = 0;
    for (int picks = 0; picks < KICK_MAX_PICKS && any_idle(s); picks++) {
        brn_job_row row;
        brn_job_spec spec;
        sched_worker *w = NULL;
        if (next_job(s, &row, &spec, &w)) break;
        dispatch(s, w, &row, &spec);
        brn_job_row_free(&row);
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
