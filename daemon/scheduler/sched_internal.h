/* Internals shared by the scheduler's loop side (scheduler.c) and worker side (worker.c). */
#ifndef BRN_SCHED_INTERNAL_H
#define BRN_SCHED_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "scheduler.h"
#include "spec.h"

enum { STOP_NONE = 0, STOP_CANCEL = 1, STOP_SHUTDOWN = 2 };

typedef enum { EV_START, EV_PROGRESS, EV_EPOCH, EV_CHECKPOINT, EV_FINISH } sched_event_type;

typedef struct sched_event {
    struct sched_event *next;
    sched_event_type type;
    struct sched_worker *w;
    int64_t job_id;
    union {
        struct { long total_steps, start_step; int start_epoch; } start;
        brn_step_info progress;
        brn_epoch_metrics epoch;    /* diag is a malloc'd copy owned by the event */
        struct { int epoch; long step; } checkpoint;
        struct { int rc; } finish;
    } u;
    char text[1024];                /* checkpoint path, or the failure message */
    double at;                      /* monotonic seconds when the worker posted it */
    int embedded;                   /* lives in its worker (never freed) */
} sched_event;

typedef struct sched_worker {
    brn_scheduler *sched;
    brn_device_info info;
    pthread_t thread;
    int thread_started;

    /* hand-over from the loop (under mu) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int has_job, quit;
    int crash_for_test;             /* SCHED_TEST_CRASH_ENV named this job */
    int64_t job_id;
    brn_job_spec spec;
    char resume[BRN_SPEC_PATH_LEN + 32];

    atomic_int stop;                /* STOP_*: read by should_stop between steps */
    sched_event finish_ev;          /* the end of a run must reach the loop even without memory */

    /* on_epoch waits until the loop has stored the epoch (under mu): a checkpoint written
     * after it then never runs ahead of the stored curve, even across a kill -9 */
    pthread_cond_t ack_cv;
    int epoch_acked;
    int no_ack_wait;

    /* loop side */
    int busy;
    int64_t running_id;
    uint64_t last_progress_store_ms, last_progress_pub_ms;
    double last_epoch_at;           /* worker time of the previous epoch event (0: none) */
    double ckpt_store_ms;           /* loop time recording the epoch's checkpoint */
    int64_t ckpt_bytes;

    /* latest step, coalesced (under sched->ev_lock) */
    int progress_pending;
    brn_step_info progress;
    int64_t progress_job;
} sched_worker;

struct brn_scheduler {
    uv_loop_t *loop;
    brn_store *store;
    brn_sched_listener listener;
    char *state_dir, *data_dir;
    const brn_limits *limits;
    char *test_crash_name;          /* SCHED_TEST_CRASH_ENV, or NULL */
    sched_worker *workers;
    int n_workers;

    uv_async_t async;
    pthread_mutex_t ev_lock;
    sched_event *ev_head, *ev_tail;

    int64_t *resume_first;          /* recovered jobs, run before the rest of the queue */
    int n_resume;

    int stopping;
    void (*stop_done)(void *user);
    void *stop_user;
};

double sched_now(void);

/* worker.c */
int worker_start(sched_worker *w, char *err, size_t errlen);
void worker_join(sched_worker *w);
/* Loop side: the epoch is stored; release the worker waiting in on_epoch. */
void worker_ack_epoch(sched_worker *w, int epoch);
/* Post an event to the loop (worker thread). Takes ownership of ev. */
void sched_post(brn_scheduler *s, sched_event *ev);

#endif
