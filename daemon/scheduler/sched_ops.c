/* The scheduler's writes: each is one store-writer operation (applied on the writer
 * thread) and its completion (on the loop), which is where the scheduler acts on it:
 * a job is handed to its worker only once its start is stored, a worker waiting in
 * on_epoch is released only once its epoch is stored, and watchers hear of a change only
 * once it is stored. None has a deadline: they are retried until written. */
#include "sched_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/jobdir.h"
#include "common/log.h"

typedef enum { OP_START, OP_STATE, OP_CLOSE_RUN, OP_PROGRESS, OP_EPOCH, OP_CHECKPOINT, OP_RECOVER } sched_op_type;

/* What recovery did to a job. */
typedef enum { RECOVERED_NONE, RECOVERED_REQUEUED, RECOVERED_CANCELLED, RECOVERED_CRASHED } recover_outcome;

typedef struct sched_op {
    sched_op_type type;
    brn_scheduler *s;
    sched_worker *w;             /* START, PROGRESS, EPOCH */
    int64_t id;
    int claimed;                 /* START, STATE: unclaim when done */
    brn_job_state to;            /* STATE */
    char reason[512], error_code[64];
    int epoch;                   /* PROGRESS, CHECKPOINT */
    long step, total_steps;
    brn_epoch_metrics m;         /* EPOCH (m.diag owned) */
    char path[BRN_SPEC_PATH_LEN + 64];  /* CHECKPOINT */
    brn_job_spec *spec;          /* START (owned) */
    int crash_for_test;          /* START: SCHED_TEST_CRASH_ENV names the job */
    double at;                   /* EPOCH: the worker's time of the event */
    double apply_ms;             /* EPOCH, CHECKPOINT: time spent writing (writer thread) */
    int64_t bytes;               /* CHECKPOINT: the file's size */
    int keep;                    /* CHECKPOINT: epoch-N files to keep (retention) */
    int64_t max_disk;            /* CHECKPOINT in: the job's disk limit */
    int64_t dir_bytes;           /* CHECKPOINT out: the job's files after retention */
    int removed;                 /* CHECKPOINT out: epoch files removed */
    int max_crashes;             /* RECOVER in */
    recover_outcome outcome;     /* RECOVER out */
    int crashes;                 /* RECOVER out: the job's crashes so far */
    int counted;                 /* RECOVER out: this start counted one (its run was open) */
} sched_op;

/* ---- writer thread ---- */

static int mkdir_p(brn_store *st, const char *path, char *err, size_t errlen)
{
    char tmp[BRN_SPEC_PATH_LEN];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1;; p++) {
        if (*p && *p != '/') continue;
        char c = *p;
        *p = 0;
        if (mkdir(tmp, 0700) && errno != EEXIST) {
            char what[BRN_SPEC_PATH_LEN + 64];
            snprintf(what, sizeof what, "cannot create the checkpoint directory %s", tmp);
            return store_os_error(st, errno, what, err, errlen);
        }
        if (!c) return 0;
        *p = c;
    }
}

/* Recovery of one job left RUNNING: idempotent (a retry after a partial attempt decides
 * from what is stored). */
static int apply_recover(brn_store *st, sched_op *op, char *err, size_t errlen)
{
    brn_job_row row;
    int rc = store_job_get(st, op->id, &row, err, errlen);
    if (rc) return rc;
    int state = row.state, open_run = row.run_open, cancel = row.cancel_requested;
    op->crashes = row.crashes;
    brn_job_row_free(&row);
    op->outcome = RECOVERED_NONE;
    if (state != BRN_JOB_RUNNING) return 0;
    if (open_run && (rc = store_job_count_crash(st, op->id, &op->crashes, err, errlen))) return rc;
    op->counted |= open_run;
    if (op->max_crashes > 0 && op->crashes >= op->max_crashes) {
        snprintf(op->reason, sizeof op->reason, "crashed: brnd died while running this job %d time%s "
                 "(--max-crashes %d)", op->crashes, op->crashes == 1 ? "" : "s", op->max_crashes);
        op->outcome = RECOVERED_CRASHED;
        return store_job_set_state(st, op->id, BRN_JOB_FAILED, op->reason, SCHED_ERROR_CRASHED, NULL, err, errlen);
    }
    if (cancel) {
        op->outcome = RECOVERED_CANCELLED;
        return store_job_set_state(st, op->id, BRN_JOB_CANCELLED, "cancelled by request", NULL, NULL, err, errlen);
    }
    op->outcome = RECOVERED_REQUEUED;
    return store_job_set_state(st, op->id, BRN_JOB_QUEUED, NULL, NULL, NULL, err, errlen);
}

typedef struct forget_ctx {
    brn_store *st;
    sched_op *op;
} forget_ctx;

static void forget_removed(const char *path, void *user)
{
    forget_ctx *f = user;
    char e[256];
    f->op->removed++;
    if (store_checkpoint_forget(f->st, f->op->id, path, e, sizeof e)) LOG_WARN("job %lld: %s", (long long)f->op->id, e);
}

/* Record the checkpoint, apply retention to the epoch-N files, measure the directory. */
static int apply_checkpoint(brn_store *st, sched_op *op, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(op->path, &sb)) return store_os_error(st, errno, op->path, err, errlen);
    op->bytes = (int64_t)sb.st_size;
    int rc = store_checkpoint_upsert(st, op->id, op->epoch, op->step, op->path, op->bytes, err, errlen);
    if (rc) return rc;
    char dir[sizeof op->path];
    snprintf(dir, sizeof dir, "%s", op->path);
    char *slash = strrchr(dir, '/');
    if (!slash) return 0;
    *slash = 0;
    forget_ctx f = {.st = st, .op = op};
    op->removed = 0;
    if ((rc = jobdir_retain(dir, op->keep, forget_removed, &f)))
        LOG_WARN("job %lld: removing old checkpoints in %s: %s", (long long)op->id, dir, strerror(-rc));
    op->dir_bytes = jobdir_bytes(dir);
    return 0;
}

static int apply_op(brn_store *st, void *arg, char *err, size_t errlen)
{
    sched_op *op = arg;
    int rc;
    double t0 = sched_now();
    switch (op->type) {
    case OP_START:
        if ((rc = mkdir_p(st, op->spec->checkpoint_dir, err, errlen))) return rc;
        return store_job_set_state(st, op->id, BRN_JOB_RUNNING, NULL, NULL, op->spec->device, err, errlen);
    case OP_STATE:
        return store_job_set_state(st, op->id, op->to, op->reason[0] ? op->reason : NULL,
                                   op->error_code[0] ? op->error_code : NULL, NULL, err, errlen);
    case OP_CLOSE_RUN:
        return store_job_close_run(st, op->id, err, errlen);
    case OP_PROGRESS:
        return store_job_set_progress(st, op->id, op->epoch, op->step, op->total_steps, err, errlen);
    case OP_EPOCH:
        rc = store_epoch_upsert(st, op->id, &op->m, err, errlen);
        op->apply_ms = (sched_now() - t0) * 1e3;
        return rc;
    case OP_CHECKPOINT:
        rc = apply_checkpoint(st, op, err, errlen);
        op->apply_ms = (sched_now() - t0) * 1e3;
        return rc;
    case OP_RECOVER:
        return apply_recover(st, op, err, errlen);
    }
    return brn_errorf(err, errlen, BRN_EINVAL, "scheduler: unknown write %d", (int)op->type);
}

/* ---- loop thread ---- */

static void op_free(sched_op *op)
{
    free((void *)op->m.diag);
    free(op->spec);
    free(op);
}

static void done_start(sched_op *op, int rc, const char *err)
{
    brn_scheduler *s = op->s;
    sched_worker *w = op->w;
    if (op->claimed) sched_unclaim(s, op->id);
    w->starting = 0;
    if (rc) {
        w->busy = 0;
        w->running_id = 0;
        if (rc == STORE_CONFLICT || rc == STORE_NOT_FOUND) /* cancelled or gone meanwhile */
            LOG_INFO("job %lld: not started: %s", (long long)op->id, err);
        else if (rc == STORE_UNAVAILABLE)
            LOG_WARN("job %lld: not started: %s", (long long)op->id, err);
        else {
            char reason[600];
            snprintf(reason, sizeof reason, "cannot start: %s", err);
            LOG_WARN("job %lld failed: %s", (long long)op->id, reason);
            sched_write_state(s, op->id, BRN_JOB_FAILED, reason, brn_error_name(rc), 1);
        }
        sched_check_stopped(s);
        scheduler_kick(s);
        return;
    }
    if (s->stopping) { /* stored RUNNING, but the daemon is stopping: resumed at the next start */
        w->busy = 0;
        w->running_id = 0;
        sched_write_close_run(s, op->id);
        sched_check_stopped(s);
        return;
    }
    worker_hand_over(w, op->id, op->spec, op->crash_for_test);
    LOG_INFO("job %lld: running on %s", (long long)op->id, w->info.name);
    sched_job_changed(s, op->id);
}

static void done_recover(sched_op *op, int rc, const char *err)
{
    brn_scheduler *s = op->s;
    int64_t id = op->id;
    if (rc) LOG_ERROR("job %lld: recovery: %s", (long long)id, err);
    else if (op->outcome == RECOVERED_CRASHED) LOG_ERROR("job %lld failed: %s", (long long)id, op->reason);
    else if (op->outcome == RECOVERED_CANCELLED) LOG_INFO("job %lld: cancelled (asked before the daemon stopped)", (long long)id);
    else if (op->outcome == RECOVERED_REQUEUED) {
        if (op->counted && op->max_crashes > 0)
            LOG_WARN("job %lld: brnd died while running it (crash %d; it fails at %d); resuming it first",
                     (long long)id, op->crashes, op->max_crashes);
        else if (op->counted)
            LOG_WARN("job %lld: brnd died while running it (crash %d); resuming it first", (long long)id, op->crashes);
        else
            LOG_INFO("job %lld: was running when the daemon stopped; resuming it first", (long long)id);
        s->resume_first[s->n_resume++] = id;
    }
    if (!rc && op->outcome != RECOVERED_NONE) sched_job_changed(s, id);
    if (--s->recovering == 0) scheduler_kick(s);
}

static void op_done(void *arg, int rc, const char *err)
{
    sched_op *op = arg;
    brn_scheduler *s = op->s;
    sched_worker *w = op->w;
    int64_t id = op->id;
    switch (op->type) {
    case OP_START:
        done_start(op, rc, err);
        break;
    case OP_STATE:
        if (op->claimed) sched_unclaim(s, id);
        if (rc) LOG_ERROR("job %lld: cannot become %s: %s", (long long)id, store_job_state_name(op->to), err);
        else sched_job_changed(s, id);
        scheduler_kick(s);
        break;
    case OP_CLOSE_RUN:
        if (rc) LOG_ERROR("job %lld: %s", (long long)id, err);
        break;
    case OP_PROGRESS:
        w->progress_op_pending = 0;
        if (rc) LOG_ERROR_LIMITED("job %lld: progress: %s", (long long)id, err);
        if (!rc && op->total_steps > 0) sched_job_changed(s, id);
        break;
    case OP_EPOCH:
        if (rc == STORE_UNAVAILABLE) {
            /* given up at shutdown: the worker stays paused (scheduler_free leaves it so)
             * and the epoch is trained again after the next start, so it cannot run ahead */
            LOG_WARN("job %lld: epoch %d was not stored before the stop: %s", (long long)id, op->m.epoch, err);
            break;
        }
        /* a permanent failure cannot be retried: release the worker rather than hang it */
        if (rc) LOG_ERROR("job %lld: epoch %d could not be stored: %s", (long long)id, op->m.epoch, err);
        w->epoch_pending = 0;
        if (!w->abandoned) worker_ack_epoch(w, op->m.epoch);
        if (!rc) {
            LOG_INFO("job %lld: epoch %d loss %.4f acc %.4f%s", (long long)id, op->m.epoch, op->m.train_loss,
                     op->m.train_acc, op->m.evaluated ? "" : " (not evaluated)");
            /* what an epoch costs beyond training and evaluation: the checkpoint (written by
             * the worker) and the store writes, for bench/rpc_epoch_overhead.py */
            if (w->last_epoch_at > 0)
                LOG_DEBUG("job %lld: epoch %d timing: wall %.4f s, train+eval %.4f s, metrics store %.3f ms, "
                          "checkpoint record %.3f ms, checkpoint %lld bytes", (long long)id, op->m.epoch,
                          op->at - w->last_epoch_at, op->m.seconds, op->apply_ms, w->ckpt_store_ms,
                          (long long)w->ckpt_bytes);
            w->last_epoch_at = op->at;
            if (s->listener.on_epoch) s->listener.on_epoch(s->listener.user, id, &op->m);
        }
        sched_check_stopped(s);
        break;
    case OP_CHECKPOINT:
        if (rc) LOG_ERROR("job %lld: checkpoint record: %s", (long long)id, err);
        w->ckpt_store_ms = op->apply_ms;
        w->ckpt_bytes = op->bytes;
        if (op->removed) LOG_DEBUG("job %lld: removed %d old epoch checkpoint%s", (long long)id, op->removed,
                                   op->removed == 1 ? "" : "s");
        if (!rc && op->dir_bytes > op->max_disk && w->busy && w->running_id == id) {
            char a[32], b[32];
            snprintf(w->stop_reason, sizeof w->stop_reason, "disk: the job's checkpoints take %s, more than this "
                     "server allows per job (--max-job-disk %s)", limits_format_bytes(a, sizeof a, op->dir_bytes),
                     limits_format_bytes(b, sizeof b, op->max_disk));
            int expected = STOP_NONE;
            atomic_compare_exchange_strong(&w->stop, &expected, STOP_FAIL);
        }
        break;
    case OP_RECOVER:
        done_recover(op, rc, err);
        break;
    }
    op_free(op);
}

static sched_op *op_new(brn_scheduler *s, sched_op_type type, int64_t id)
{
    sched_op *op = calloc(1, sizeof *op);
    if (!op) {
        LOG_ERROR("job %lld: out of memory for a store write", (long long)id);
        return NULL;
    }
    op->type = type;
    op->s = s;
    op->id = id;
    return op;
}

/* Queue op; on failure it is released (and logged) and -1 returned. */
static int post(brn_scheduler *s, sched_op *op, const char *what)
{
    char err[512];
    store_write wr = {.what = what, .apply = apply_op, .done = op_done, .arg = op, .deadline_ms = 0};
    int rc = store_writer_post(s->writer, &wr, err, sizeof err);
    if (rc) {
        LOG_ERROR("job %lld: %s", (long long)op->id, err);
        op_free(op);
    }
    return rc;
}

int sched_write_start(brn_scheduler *s, sched_worker *w, int64_t id, const brn_job_spec *spec, int crash_for_test)
{
    sched_op *op = op_new(s, OP_START, id);
    if (!op) return BRN_ENOMEM;
    op->w = w;
    op->crash_for_test = crash_for_test;
    if (!(op->spec = malloc(sizeof *op->spec))) {
        op_free(op);
        return BRN_ENOMEM;
    }
    *op->spec = *spec;
    /* still QUEUED in the store until written: claimed, so that the next pick (another idle
       device's) does not take the same job */
    if (sched_claim(s, id) == 0) op->claimed = 1;
    char what[64];
    snprintf(what, sizeof what, "the start of job %lld", (long long)id);
    int rc = post(s, op, what);
    if (rc) sched_unclaim(s, id);
    return rc;
}

int sched_write_state(brn_scheduler *s, int64_t id, brn_job_state to, const char *reason, const char *error_code,
                      int claim)
{
    sched_op *op = op_new(s, OP_STATE, id);
    if (!op) return BRN_ENOMEM;
    op->to = to;
    snprintf(op->reason, sizeof op->reason, "%s", reason ? reason : "");
    snprintf(op->error_code, sizeof op->error_code, "%s", error_code ? error_code : "");
    if (claim && sched_claim(s, id) == 0) op->claimed = 1;
    char what[64];
    snprintf(what, sizeof what, "job %lld becoming %s", (long long)id, store_job_state_name(to));
    int rc = post(s, op, what);
    if (rc && claim) sched_unclaim(s, id);
    return rc;
}

int sched_write_close_run(brn_scheduler *s, int64_t id)
{
    sched_op *op = op_new(s, OP_CLOSE_RUN, id);
    if (!op) return BRN_ENOMEM;
    char what[64];
    snprintf(what, sizeof what, "the clean stop of job %lld", (long long)id);
    return post(s, op, what);
}

int sched_write_progress(brn_scheduler *s, sched_worker *w, int64_t id, int epoch, long step, long total_steps)
{
    sched_op *op = op_new(s, OP_PROGRESS, id);
    if (!op) return BRN_ENOMEM;
    op->w = w;
    op->epoch = epoch;
    op->step = step;
    op->total_steps = total_steps;
    w->progress_op_pending = 1;
    char what[64];
    snprintf(what, sizeof what, "the progress of job %lld", (long long)id);
    int rc = post(s, op, what);
    if (rc) w->progress_op_pending = 0;
    return rc;
}

int sched_write_epoch(brn_scheduler *s, sched_worker *w, int64_t id, brn_epoch_metrics *m, double at)
{
    sched_op *op = op_new(s, OP_EPOCH, id);
    if (!op) {
        free((void *)m->diag);
        worker_ack_epoch(w, m->epoch); /* nothing to wait for */
        return BRN_ENOMEM;
    }
    op->w = w;
    op->at = at;
    op->m = *m;
    m->diag = NULL; /* now the op's */
    w->epoch_pending = 1;
    w->wait_since_ms = sched_now_ms();
    char what[64];
    snprintf(what, sizeof what, "epoch %d of job %lld", op->m.epoch, (long long)id);
    int epoch = op->m.epoch, rc = post(s, op, what);
    /* without memory, release the worker; when the writer is gone (shutdown) it stays
     * paused and the epoch is trained again after the next start, as after a crash */
    if (rc == BRN_ENOMEM) {
        w->epoch_pending = 0;
        worker_ack_epoch(w, epoch);
    }
    return rc;
}

int sched_write_checkpoint(brn_scheduler *s, sched_worker *w, int64_t id, int epoch, long step, const char *path)
{
    sched_op *op = op_new(s, OP_CHECKPOINT, id);
    if (!op) return BRN_ENOMEM;
    op->w = w;
    op->keep = s->limits ? s->limits->keep_epoch_checkpoints : LIMITS_DEFAULT_KEEP_EPOCH_CHECKPOINTS;
    op->max_disk = s->limits ? s->limits->max_job_disk : LIMITS_DEFAULT_MAX_JOB_DISK;
    op->epoch = epoch;
    op->step = step;
    snprintf(op->path, sizeof op->path, "%s", path);
    char what[64];
    snprintf(what, sizeof what, "a checkpoint record of job %lld", (long long)id);
    return post(s, op, what);
}

int sched_write_recover(brn_scheduler *s, const brn_job_row *row)
{
    sched_op *op = op_new(s, OP_RECOVER, row->id);
    if (!op) return BRN_ENOMEM;
    op->max_crashes = s->limits ? s->limits->max_crashes : LIMITS_DEFAULT_MAX_CRASHES;
    char what[64];
    snprintf(what, sizeof what, "the recovery of job %lld", (long long)row->id);
    s->recovering++;
    int rc = post(s, op, what);
    if (rc) s->recovering--;
    return rc;
}
