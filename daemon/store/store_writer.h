/* The store writer: the daemon's one writer to SQLite, on its own thread with its own
 * connection, so that the libuv loop never waits for the disk or for a lock.
 *
 * The loop posts write operations; the writer applies them one at a time in the order
 * posted. A transient failure (a full disk, an I/O error, a lock held by another process:
 * store_error_is_transient) is retried with back-off (STORE_WRITER_BACKOFF_*): an operation
 * without a deadline is never dropped (metrics, state changes: it waits until the disk
 * has room again), one with a deadline (a client's request) gives up with STORE_UNAVAILABLE
 * when it passes. A permanent failure (a constraint, a job that is gone) ends the operation
 * at once. Failures are logged rate-limited, and recovery once.
 *
 * Threads: store_writer_post, _close and the done callbacks run on the loop thread; apply
 * runs on the writer thread with the writer's connection. An operation's arg belongs to it
 * from post until done (done frees it; done NULL: the writer free()s it). */
#ifndef BRN_STORE_WRITER_H
#define BRN_STORE_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "store/store.h"

/* Back-off between attempts of a failing write: doubling from MIN to MAX. */
#define STORE_WRITER_BACKOFF_MIN_MS 20
#define STORE_WRITER_BACKOFF_MAX_MS 1000
/* The writer's busy timeout: short, so that deadlines and shutdown are noticed. */
#define STORE_WRITER_BUSY_MS 100
/* Operations with a deadline that may wait at once (client requests); more are refused. */
#define STORE_WRITER_MAX_DEADLINE_OPS 1024

typedef struct store_writer store_writer;

/* Writer thread: make the write; 0 or a negative code with a message in err. */
typedef int (*store_apply_fn)(brn_store *s, void *arg, char *err, size_t errlen);
/* Loop thread: the write is done (rc 0), failed for good, or gave up (STORE_UNAVAILABLE). */
typedef void (*store_done_fn)(void *arg, int rc, const char *err);

typedef struct store_write {
    const char *what;        /* for the log: "epoch 7 of job 3" (copied) */
    store_apply_fn apply;
    store_done_fn done;      /* NULL: free(arg) */
    void *arg;
    int deadline_ms;         /* 0: retry until it succeeds; else give up after this long */
} store_write;

/* Open the writer's connection to path (the database must exist and be migrated) and
 * start its thread. Completions reach the loop through a uv_async on loop. */
int store_writer_start(uv_loop_t *loop, const char *path, store_writer **out, char *err, size_t errlen);

/* Queue a write. Returns 0; STORE_UNAVAILABLE when too many deadline writes wait already
 * or the writer is closed; BRN_ENOMEM. On failure nothing was queued and done is NOT
 * called (the caller still owns arg). */
int store_writer_post(store_writer *w, const store_write *op, char *err, size_t errlen);

/* Writes queued or in progress. */
int store_writer_pending(const store_writer *w);

/* 1 while the oldest write keeps failing; *since_ms (monotonic) when it started. */
int store_writer_failing(const store_writer *w, int64_t *since_ms);

/* Shutdown: finish the queued writes, for at most timeout_ms; writes still failing then are
 * given up (done with STORE_UNAVAILABLE, and logged: what they were). Then the async
 * handle is closed and done(user) runs on the loop. Posting after this is refused. */
void store_writer_close(store_writer *w, int timeout_ms, void (*done)(void *user), void *user);

/* Join the thread and close the connection (after close's done). NULL is fine. */
void store_writer_free(store_writer *w);

#endif
