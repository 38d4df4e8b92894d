/* The store writer thread: a FIFO of write operations applied on the writer's own
 * connection, retried with back-off while they fail transiently; completions go back to
 * the loop through a uv_async (drained in one callback, in order). */
#include "store/store_writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

typedef struct wop {
    struct wop *next;
    store_apply_fn apply;
    store_done_fn done;
    void *arg;
    int64_t deadline;            /* monotonic ms; 0 = none */
    int rc;
    char what[96];
    char err[512];
} wop;

struct store_writer {
    uv_loop_t *loop;
    uv_async_t async;
    brn_store *db;
    pthread_t thread;
    int thread_started;

    pthread_mutex_t mu;          /* everything below */
    pthread_cond_t cv;
    wop *head, *tail;            /* queued; head is the one being applied */
    int n_queued, n_deadline;
    wop *done_head, *done_tail;  /* finished, for the loop */
    int closing, drained, closed;
    int64_t close_deadline;
    int failing;
    int64_t failing_since;
    long failed_attempts;

    void (*close_done)(void *user);
    void *close_user;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- writer thread ---- */

/* Move op (already unlinked) to the finished list (under mu). */
static void finish_locked(store_writer *w, wop *op, int rc, const char *err)
{
    op->rc = rc;
    if (err != op->err) snprintf(op->err, sizeof op->err, "%s", err ? err : "");
    op->next = NULL;
    if (w->done_tail) w->done_tail->next = op;
    else w->done_head = op;
    w->done_tail = op;
    w->n_queued--;
    if (op->deadline) w->n_deadline--;
}

/* Give up every queued operation for which stop(op) holds (under mu); returns how many. */
static int give_up_locked(store_writer *w, int (*stop)(const wop *, int64_t), int64_t now, const char *why)
{
    int n = 0;
    wop **pp = &w->head, *prev = NULL;
    while (*pp) {
        wop *op = *pp;
        if (!stop(op, now)) {
            prev = op;
            pp = &op->next;
            continue;
        }
        *pp = op->next;
        if (w->tail == op) w->tail = prev;
        char msg[sizeof op->err];
        snprintf(msg, sizeof msg, "%s: nothing was written (%.400s)", why, op->err[0] ? op->err : "no attempt made");
        finish_locked(w, op, STORE_UNAVAILABLE, msg);
        n++;
    }
    return n;
}

static int deadline_passed(const wop *op, int64_t now) { return op->deadline && now >= op->deadline; }
static int always(const wop *op, int64_t now) { return 1; }

static void sleep_locked(store_writer *w, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
}

static void *writer_main(void *arg)
{
    store_writer *w = arg;
    int backoff = STORE_WRITER_BACKOFF_MIN_MS;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->closing) pthread_cond_wait(&w->cv, &w->mu);
        if (w->closing && (!w->head || mono_ms() >= w->close_deadline)) {
            for (wop *op = w->head; op; op = op->next) LOG_ERROR("store: brnd is stopping: %s was not written", op->what);
            give_up_locked(w, always, 0, "brnd stopped before the store could write it");
            w->drained = 1;
            pthread_mutex_unlock(&w->mu);
            uv_async_send(&w->async);
            return NULL;
        }
        wop *op = w->head;
        pthread_mutex_unlock(&w->mu);

        char err[sizeof op->err] = "";
        store_clear_error(w->db);
        int rc = op->apply(w->db, op->arg, err, sizeof err);
        int code = store_last_error_code(w->db);
        int transient = (rc == BRN_EIO && store_error_is_transient(code)) || rc == BRN_ENOMEM;

        pthread_mutex_lock(&w->mu);
        int64_t now = mono_ms();
        if (rc == 0 || !transient) {
            w->head = op->next;
            if (!w->head) w->tail = NULL;
            finish_locked(w, op, rc, err);
            if (rc < 0) LOG_ERROR_LIMITED("store: %s failed (not retried): %s", op->what, err);
            if (rc == 0 && w->failing) { /* limited too: a flapping disk must not flood the log */
                LOG_WARN_LIMITED("store: writing again after %.1f s and %ld failed attempts (%d writes waiting)",
                         (double)(now - w->failing_since) / 1000.0, w->failed_attempts, w->n_queued);
                w->failing = 0;
            }
            backoff = STORE_WRITER_BACKOFF_MIN_MS;
            uv_async_send(&w->async);
            continue;
        }
        snprintf(op->err, sizeof op->err, "%s", err);
        if (!w->failing) {
            w->failing = 1;
            w->failing_since = now;
            w->failed_attempts = 0;
            LOG_ERROR_LIMITED("store: %s failed: %s; retrying with back-off (the service keeps answering; a job "
                              "pauses at its next epoch until its metrics are stored)", op->what, err);
        } else {
            LOG_ERROR_LIMITED("store: still failing after %.1f s (%ld attempts, %d writes waiting): %s: %s",
                              (double)(now - w->failing_since) / 1000.0, w->failed_attempts + 1, w->n_queued,
                              op->what, err);
        }
        w->failed_attempts++;
        if (give_up_locked(w, deadline_passed, now, "the store could not write in time")) uv_async_send(&w->async);
        if (w->head == op) sleep_locked(w, backoff); /* still ours to retry */
        backoff = backoff * 2 > STORE_WRITER_BACKOFF_MAX_MS ? STORE_WRITER_BACKOFF_MAX_MS : backoff * 2;
    }
}

/* ---- loop side ---- */

static void on_closed(uv_handle_t *h)
{
    store_writer *w = h->data;
    w->closed = 1;
    if (w->close_done) w->close_done(w->close_user);
}

static void on_completions(uv_async_t *a)
{
    store_writer *w = a->data;
    pthread_mutex_lock(&w->mu);
    wop *list = w->done_head;
    w->done_head = w->done_tail = NULL;
    int drained = w->drained;
    pthread_mutex_unlock(&w->mu);
    while (list) {
        wop *next = list->next;
        if (list->done) list->done(list->arg, list->rc, list->err);
        else free(list->arg);
        free(list);
        list = next;
    }
    if (drained && !uv_is_closing((uv_handle_t *)&w->async)) uv_close((uv_handle_t *)&w->async, on_closed);
}

int store_writer_start(uv_loop_t *loop, const char *path, store_writer **out, char *err, size_t errlen)
{
    *out = NULL;
    store_writer *w = calloc(1, sizeof *w);
    if (!w) return brn_errorf(err, errlen, BRN_ENOMEM, "store writer: out of memory");
    int rc = store_open(path, &w->db, err, errlen);
    if (rc) goto fail;
    if ((rc = store_set_busy_timeout(w->db, STORE_WRITER_BUSY_MS, err, errlen))) goto fail_db;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (uv_async_init(loop, &w->async, on_completions)) {
        rc = brn_errorf(err, errlen, BRN_EIO, "store writer: uv_async_init failed");
        goto fail_sync;
    }
    w->async.data = w;
    w->loop = loop;
    if (pthread_create(&w->thread, NULL, writer_main, w)) {
        rc = brn_errorf(err, errlen, BRN_ENOMEM, "store writer: cannot start its thread");
        /* the handle is open: close it and let the loop run once to release it */
        uv_close((uv_handle_t *)&w->async, NULL);
        uv_run(loop, UV_RUN_NOWAIT);
        goto fail_sync;
    }
    w->thread_started = 1;
    *out = w;
    return 0;
fail_sync:
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
fail_db:
    store_close(w->db);
fail:
    free(w);
    return rc;
}

int store_writer_post(store_writer *w, const store_write *op, char *err, size_t errlen)
{
    wop *o = calloc(1, sizeof *o);
    if (!o) return brn_errorf(err, errlen, BRN_ENOMEM, "store writer: out of memory");
    o->apply = op->apply;
    o->done = op->done;
    o->arg = op->arg;
    snprintf(o->what, sizeof o->what, "%s", op->what ? op->what : "a write");
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    if (w->drained) {
        rc = brn_errorf(err, errlen, STORE_UNAVAILABLE, "store: brnd is stopping; %s was not written", o->what);
    } else if (op->deadline_ms > 0 && w->n_deadline >= STORE_WRITER_MAX_DEADLINE_OPS) {
        rc = brn_errorf(err, errlen, STORE_UNAVAILABLE, "store: %d writes are waiting already (is the disk full?); "
                        "retry later", w->n_deadline);
    } else {
        if (op->deadline_ms > 0) {
            o->deadline = mono_ms() + op->deadline_ms;
            w->n_deadline++;
        }
        if (w->tail) w->tail->next = o;
        else w->head = o;
        w->tail = o;
        w->n_queued++;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (rc) free(o);
    return rc;
}

int store_writer_pending(const store_writer *w)
{
    pthread_mutex_lock((pthread_mutex_t *)&w->mu);
    int n = w->n_queued;
    pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
    return n;
}

int store_writer_failing(const store_writer *w, int64_t *since_ms)
{
    pthread_mutex_lock((pthread_mutex_t *)&w->mu);
    int f = w->failing;
    if (since_ms) *since_ms = w->failing_since;
    pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
    return f;
}

void store_writer_close(store_writer *w, int timeout_ms, void (*done)(void *user), void *user)
{
    w->close_done = done;
    w->close_user = user;
    pthread_mutex_lock(&w->mu);
    if (w->n_queued) LOG_INFO("store: writing the last %d change%s before stopping (at most %d s)", w->n_queued,
                              w->n_queued == 1 ? "" : "s", timeout_ms / 1000);
    w->closing = 1;
    w->close_deadline = mono_ms() + timeout_ms;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void store_writer_free(store_writer *w)
{
    if (!w) return;
    if (w->thread_started) {
        pthread_mutex_lock(&w->mu);
        w->closing = 1; /* in case close was never called: give up at once */
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    /* completions that never reached the loop: release their memory */
    for (wop *op = w->done_head, *next; op; op = next) {
        next = op->next;
        if (op->done) op->done(op->arg, op->rc, op->err);
        else free(op->arg);
        free(op);
    }
    store_close(w->db);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
