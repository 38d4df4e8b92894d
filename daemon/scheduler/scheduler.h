/* The job scheduler: one worker thread per device runs brn_train; the loop thread picks
 * jobs (priority, then submission order), has every state change and metric written by
 * the store writer, and tells the service (watchers) through a listener once stored.
 *
 * The store never blocks the loop: reads use the loop's read-only connection, writes go
 * to the store writer and their results come back as callbacks. While a write fails (a
 * full disk, a lock held elsewhere) it is retried: a job pauses at its next epoch until
 * that epoch is stored (it never runs ahead of its stored curve), a job that ended keeps
 * its final state queued until it is written, and a queued job waits to start.
 *
 * Threads: every function here runs on the loop thread. Workers only run the engine and
 * post events (uv_async + a locked queue); a worker's should_stop reads an atomic flag. */
#ifndef BRN_SCHEDULER_H
#define BRN_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/limits.h"
#include "engine.h"
#include "store/store.h"
#include "store/store_writer.h"

typedef struct brn_scheduler brn_scheduler;

/* What the service hears about, on the loop thread, after the store was written. */
typedef struct brn_sched_listener {
    void *user;
    void (*on_job_changed)(void *user, int64_t job_id);     /* state, device, total_steps */
    void (*on_progress)(void *user, int64_t job_id, const brn_step_info *s);
    void (*on_epoch)(void *user, int64_t job_id, const brn_epoch_metrics *m);
} brn_sched_listener;

typedef struct brn_device_info {
    char id[32];        /* "cpu", "cuda:0": what a job's device names */
    char name[128];     /* "cpu (2 cores, OpenBLAS)", "NVIDIA H200" */
    char kind[16];      /* cpu | cuda */
    int64_t memory_bytes;
    int64_t running_job; /* 0 when idle */
} brn_device_info;

typedef struct brn_sched_config {
    const char *state_dir;  /* jobs' checkpoints go to <state_dir>/jobs/<id> */
    const char *data_dir;   /* "" = the engine's default search */
    const brn_limits *limits; /* lives as long as the scheduler */
} brn_sched_config;

/* The error code of a job FAILED because brnd died under it limits->max_crashes times. */
#define SCHED_ERROR_CRASHED "crashed"

/* Tests only: when this environment variable names a job, the worker aborts the process
 * as that job starts (after its attempt is stored), like a job that kills brnd. */
#define SCHED_TEST_CRASH_ENV "BRND_TEST_CRASH_JOB_NAME"

/* At shutdown, a worker paused this long on a write that keeps failing (its epoch's
 * metrics, its start) is left paused: the job resumes from its previous checkpoint at the
 * next start and replays that epoch, so nothing is lost. */
#define SCHED_STOP_GRACE_MS 2000

int scheduler_create(uv_loop_t *loop, brn_store *store, store_writer *writer, const brn_sched_config *cfg,
                     const brn_sched_listener *listener, brn_scheduler **out, char *err, size_t errlen);

/* Start-up recovery: jobs left RUNNING are re-queued to run first (resuming from their
 * checkpoint); those whose cancel was requested become CANCELLED. A job whose run was
 * still open had brnd die under it: its crash is counted, and at limits->max_crashes it
 * becomes FAILED (error SCHED_ERROR_CRASHED) instead of killing the daemon again.
 * The changes are written by the store writer; no job starts before they are done.
 * Fails only when the RUNNING jobs cannot be read. */
int scheduler_recover(brn_scheduler *s, char *err, size_t errlen);

/* Start queued jobs on idle workers (after a submit, a finish, recovery). */
void scheduler_kick(brn_scheduler *s);

/* Ask the worker running (or starting) job_id to stop at the next batch boundary; the job
 * then becomes CANCELLED. Returns 1 if the job was running here, 0 otherwise. */
int scheduler_cancel(brn_scheduler *s, int64_t job_id);

/* Placement. One worker per device: the CPU, then every usable GPU. A job's device picks
 * its workers: "cpu"; "cuda:N"; "cuda" (any GPU); "auto" (any GPU when the server has one,
 * else the CPU: a job is never moved to the CPU just because the GPUs are busy). A job
 * whose precision is not fp32 needs a GPU. 0 when some worker here can run the job, else
 * -1 with "device: ..." or "precision: ..." in err, saying what the server has. */
int scheduler_check_device(const brn_scheduler *s, const brn_job_spec *spec, char *err, size_t errlen);

/* The device a job is admitted against (memory budget, estimate): the CPU, or the first
 * GPU it may run on. */
void scheduler_budget_device(const brn_scheduler *s, const brn_job_spec *spec, char *out, size_t n);

int scheduler_devices(const brn_scheduler *s, brn_device_info *out, int max);

/* Why the server runs no GPU job ("" when it has one). */
const char *scheduler_gpu_unavailable(const brn_scheduler *s);

/* Shutdown, step 1: start nothing new, ask running jobs to stop (they checkpoint and stay
 * RUNNING for the next start to resume); done(user) runs once every worker is idle, or
 * paused for SCHED_STOP_GRACE_MS on a write that fails. Then close the store writer
 * (its last writes still reach the scheduler), then scheduler_free. */
void scheduler_stop(brn_scheduler *s, void (*done)(void *user), void *user);

/* Shutdown, step 2 (after the store writer is closed): join the idle worker threads and
 * close the handles; the memory is released from the close callbacks, so keep running
 * the loop until it has no handles. A worker left paused is not joined (it holds no
 * resource the exit needs) and its memory is left to the process's end. */
void scheduler_free(brn_scheduler *s);

#endif
