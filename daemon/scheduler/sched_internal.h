/* Internals shared by the scheduler's files: scheduler.c (create, dispatch, cancel, stop),
 * sched_events.c (worker events), sched_ops.c (the writes and their completions),
 * sched_recover.c (start-up), worker.c (the device thread). */
#ifndef BRN_SCHED_INTERNAL_H
#define BRN_SCHED_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "scheduler.h"
#include "spec.h"

/* Why a worker is asked to stop: cancel (CANCELLED), shutdown (stays RUNNING), or a limit
 * the job broke (FAILED with the worker's stop_reason). */
enum { STOP_NONE = 0, STOP_CANCEL = 1, STOP_SHUTDOWN = 2, STOP_FAIL = 3 };

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
    char stop_reason[320];          /* STOP_FAIL: why (loop side) */
    sched_event finish_ev;          /* the end of a run must reach the loop even without memory */

    /* on_epoch waits until the loop has stored the epoch (under mu): a checkpoint written
     * after it then never runs ahead of the stored curve, even across a kill -9 */
    pthread_cond_t ack_cv;
    int epoch_acked;
    int no_ack_wait;

    /* loop side */
    int busy;                       /* a job is starting or running here */
    int starting;                   /* its start (RUNNING, attempt) is being written */
    int64_t running_id;
    int epoch_pending;              /* the worker waits for this epoch's write */
    uint64_t wait_since_ms;         /* when starting / epoch_pending began */
    int progress_op_pending;        /* a progress write is queued (at most one) */
    int abandoned;                  /* left paused at shutdown: never acknowledged again */
    uint64_t last_progress_store_ms, last_progress_pub_ms;
    double last_epoch_at;           /* worker time of the previous stored epoch (0: none) */
    double ckpt_store_ms;           /* writer time recording the last checkpoint */
    int64_t ckpt_bytes;

    /* latest step, coalesced (under sched->ev_lock) */
    int progress_pending;
    brn_step_info progress;
    int64_t progress_job;
} sched_worker;

struct brn_scheduler {
    uv_loop_t *loop;
    brn_store *store;               /* the loop's read-only connection */
    store_writer *writer;
    brn_sched_listener listener;
    char *state_dir, *data_dir;
    const brn_limits *limits;
    char *test_crash_name;          /* SCHED_TEST_CRASH_ENV, or NULL */
    sched_worker *workers;          /* [0] the CPU, then the GPUs */
    int n_workers;
    char why_no_gpu[256];

    uv_async_t async;
    pthread_mutex_t ev_lock;
    sched_event *ev_head, *ev_tail;

    uv_timer_t timer;               /* retries a kick whose read failed; watches a stop */
    int timer_active, kick_retry;
    int handles_open;

    int64_t *resume_first;          /* recovered jobs, run before the rest of the queue */
    int n_resume;
    int recovering;                 /* recovery writes not yet done: nothing starts */

    int64_t *claimed;               /* jobs with a state write in flight: not picked again */
    int n_claimed, cap_claimed;

    int stopping;
    void (*stop_done)(void *user);
    void *stop_user;
};

double sched_now(void);
uint64_t sched_now_ms(void);

/* scheduler.c */
/* Can device d run a job asking for spec's device and precision (see scheduler.h)? */
int sched_device_fits(const brn_device_info *d, const brn_job_spec *spec, int server_has_gpu);
int sched_claim(brn_scheduler *s, int64_t id);
void sched_unclaim(brn_scheduler *s, int64_t id);
void sched_check_stopped(brn_scheduler *s);
void sched_job_changed(brn_scheduler *s, int64_t id);

/* sched_ops.c: the writes. Each returns 0 when posted (its completion follows), or < 0
 * when it could not be posted (logged). */
int sched_write_start(brn_scheduler *s, sched_worker *w, int64_t id, const brn_job_spec *spec, int crash_for_test);
/* to: a final state, or QUEUED (re-run); claim: the job is claimed until it is written */
int sched_write_state(brn_scheduler *s, int64_t id, brn_job_state to, const char *reason, const char *error_code,
                      int claim);
int sched_write_close_run(brn_scheduler *s, int64_t id);
int sched_write_progress(brn_scheduler *s, sched_worker *w, int64_t id, int epoch, long step, long total_steps);
/* takes the metrics' diag (malloc'd) */
int sched_write_epoch(brn_scheduler *s, sched_worker *w, int64_t id, brn_epoch_metrics *m, double at);
int sched_write_checkpoint(brn_scheduler *s, sched_worker *w, int64_t id, int epoch, long step, const char *path);
int sched_write_recover(brn_scheduler *s, const brn_job_row *row);

/* sched_events.c */
void sched_on_events(uv_async_t *a);
void sched_free_event(sched_event *ev);

/* worker.c */
int worker_start(sched_worker *w, char *err, size_t errlen);
void worker_join(sched_worker *w);
/* Loop side: the epoch is stored; release the worker waiting in on_epoch. */
void worker_ack_epoch(sched_worker *w, int epoch);
/* Hand a started job to the worker thread (loop side). */
void worker_hand_over(sched_worker *w, int64_t id, const brn_job_spec *spec, int crash_for_test);
/* Post an event to the loop (worker thread). Takes ownership of ev. */
void sched_post(brn_scheduler *s, sched_event *ev);

#endif
