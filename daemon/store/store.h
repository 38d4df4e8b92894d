/* The daemon's SQLite store: jobs, per-epoch metrics, renorm diagnostics, checkpoints.
 *
 * One file (<state>/brnd.db) in WAL mode with foreign keys on. The schema is the list
 * migrations/NNNN_name.sql, embedded into the binary at build time and applied in order
 * by PRAGMA user_version when the store is opened; a database written by a newer binary
 * is refused (STORE_TOO_NEW) rather than touched.
 *
 * Threads: a brn_store (one connection) is NOT thread-safe: one thread uses it. The
 * daemon opens two: the loop's, read-only, for RPC reads; and the store writer's
 * (store_writer.h), on its own thread, for every write. Worker threads never touch either.
 *
 * Errors: every function that can fail returns 0 or a negative code (errors.h codes, or
 * the STORE_* codes below) and writes a one-line reason into err (err may be NULL).
 * SQLite failures are BRN_EIO with SQLite's message. Nothing here exits the process.
 *
 * Times are unix milliseconds (the store stamps them with the wall clock). Ids are
 * SQLite rowids: positive, increasing in submission order, never reused. */
#ifndef BRN_STORE_H
#define BRN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "errors.h"

/* Codes of the store beyond errors.h (kept apart from the engine's range). */
enum {
    STORE_NOT_FOUND = -20, /* no such job, or nothing matches (empty queue, no checkpoint) */
    STORE_CONFLICT = -21,  /* state change not allowed from the job's current state, or an
                              idempotency key reused with a different spec */
    STORE_TOO_NEW = -22,   /* the database's schema is newer than this binary knows */
    STORE_UNAVAILABLE = -23, /* the write could not be made in time (disk full, a lock held
                                elsewhere) or the daemon stopped first: nothing was written */
};

/* Job states as stored (the text in jobs.state is store_job_state_name()). */
typedef enum brn_job_state {
    BRN_JOB_QUEUED,
    BRN_JOB_RUNNING,
    BRN_JOB_SUCCEEDED,
    BRN_JOB_FAILED,
    BRN_JOB_CANCELLED,
    BRN_JOB_STATE_COUNT
} brn_job_state;

/* Bit for a state in a state mask (store_job_list, store_job_count). */
#define BRN_JOB_STATE_BIT(st) (1u << (st))
#define BRN_JOB_STATES_ALL ((1u << BRN_JOB_STATE_COUNT) - 1u)

typedef struct brn_store brn_store;

/* One row of the jobs table. Strings are heap copies owned by the row (NULL when the
 * column is NULL); release them with brn_job_row_free(). */
typedef struct brn_job_row {
    int64_t id;
    char *name;
    int priority;                 /* higher runs first */
    char *idempotency_key;        /* NULL when none was given */
    char *spec_json;              /* brn_spec_to_json() text; convert back with brn_spec_from_json() */
    brn_job_state state;
    char *reason;                 /* human text for FAILED/CANCELLED (NULL otherwise) */
    char *error_code;             /* brn_error_name() of the failure, e.g. "nan_loss" */
    int64_t created_ms;
    int64_t started_ms;           /* 0 until first RUNNING */
    int64_t finished_ms;          /* 0 until a final state */
    long total_steps;             /* 0 until the run has resolved it */
    int epoch;                    /* epochs complete (last reported) */
    long step;                    /* optimizer steps done (last reported) */
    char *device;                 /* device the job runs/ran on, NULL before it starts */
    int cancel_requested;         /* 1 once CancelJob was asked while the job was RUNNING */
    char *labels_json;            /* {"key":"value",...} in key order; NULL when none */
    int attempts;                 /* runs started (counted before the engine starts) */
    int crashes;                  /* runs that ended with brnd dying under them */
    int run_open;                 /* 1 from a run's start until it ends or stops cleanly */
} brn_job_row;

/* One key=value label of a job (strings owned by the caller). */
typedef struct brn_job_label {
    const char *key;
    const char *value;
} brn_job_label;

/* A job to create (store_job_create). */
typedef struct brn_job_new {
    const char *name;
    int priority;
    const char *idempotency_key;  /* NULL or "" = none */
    const char *spec_json;
    const brn_job_label *labels;  /* n_labels pairs with distinct keys (any order) */
    int n_labels;
    int dry_run;                  /* only look: write nothing; *id = 0 for a new job */
} brn_job_new;

/* Filter and page for store_job_list. Zero-initialised means: all states, from the
 * start, oldest first, STORE_LIST_DEFAULT_LIMIT rows. */
typedef struct brn_job_filter {
    unsigned state_mask;          /* BRN_JOB_STATE_BIT()s; 0 = all states */
    int64_t cursor;               /* 0 = from the start; else next_cursor of the previous page */
    int limit;                    /* rows per page; 0 = default; capped at STORE_LIST_MAX_LIMIT */
    int newest_first;             /* 1: descending id; 0: ascending id (submission order) */
    const brn_job_label *labels;  /* only jobs carrying every one of these n_labels pairs */
    int n_labels;
} brn_job_filter;

#define STORE_LIST_DEFAULT_LIMIT 100
#define STORE_LIST_MAX_LIMIT 1000

/* One checkpoint record. */
typedef struct brn_checkpoint_row {
    int64_t job_id;
    int epoch;                    /* epochs complete when it was written */
    long step;                    /* optimizer steps done when it was written (the key) */
    char path[BRN_SPEC_PATH_LEN];
    int64_t bytes;
    int64_t created_ms;
} brn_checkpoint_row;

/* ---- open / close / schema ---- */

/* Open (creating if missing) the database at path, set WAL, foreign keys, busy timeout
 * and synchronous=NORMAL, and apply every pending migration (each in its own
 * transaction with its user_version bump). Refuses a newer schema with STORE_TOO_NEW.
 * On success *out is the store; on failure *out is NULL and nothing is left open. */
int store_open(const char *path, brn_store **out, char *err, size_t errlen);

/* As store_open, but migrates no further than max_version (a test hook: builds a
 * database as an older binary would have left it). max_version < 0 means all. */
int store_open_at_version(const char *path, int max_version, brn_store **out,
                          char *err, size_t errlen);

/* Close the store (finalizes cached statements, checkpoints the WAL). NULL is fine. */
void store_close(brn_store *s);

/* The schema version of the open database (PRAGMA user_version); -1 if unreadable. */
int store_schema_version(brn_store *s);

/* The number of migrations built into this binary (= the newest version it knows). */
int store_migration_count(void);

/* Connection settings of the daemon: a shorter busy timeout, and a connection that may
 * only read (the loop's; the store writer owns every write). */
int store_set_busy_timeout(brn_store *s, int ms, char *err, size_t errlen);
int store_set_query_only(brn_store *s, char *err, size_t errlen);

/* The extended SQLite code of the connection's last failed call (0 after
 * store_clear_error); store_error_is_transient says whether retrying can succeed
 * (a lock, a full disk, an I/O error) or not (a constraint, a bad statement). */
int store_last_error_code(const brn_store *s);
void store_clear_error(brn_store *s);
int store_error_is_transient(int sqlite_code);

/* For file work done as part of a write (a job's directory, old checkpoints): record a
 * failed system call as the SQLite code it resembles (ENOSPC/EDQUOT: SQLITE_FULL, EIO:
 * SQLITE_IOERR, anything else: permanent) and return BRN_EIO with "what: strerror". */
int store_os_error(brn_store *s, int errnum, const char *what, char *err, size_t errlen);

/* Tests only: a SQLite VFS that wraps the default one and fails every write with
 * SQLITE_FULL while faults are on, as a full disk would (store_fault.c). Enable it before
 * opening connections (it becomes the default VFS of the process); then either switch
 * faults with store_fault_set, or give a trigger file whose existence turns them on
 * (for a real brnd: BRND_TEST_STORE_FAULT_FILE). Returns 0 or BRN_EIO. */
#define STORE_TEST_FAULT_ENV "BRND_TEST_STORE_FAULT_FILE"
int store_fault_enable(const char *trigger_file);
void store_fault_set(int on);

/* ---- job states ---- */

/* "QUEUED", "RUNNING", ... (the stored text); "UNKNOWN" for an out-of-range value. */
const char *store_job_state_name(brn_job_state st);

/* Parse the stored text (case-insensitive); returns the state or -1. */
int store_job_state_parse(const char *name);

/* 1 for SUCCEEDED, FAILED, CANCELLED. */
int store_job_state_is_final(brn_job_state st);

/* ---- jobs ---- */

/* store_job_create without labels; existed may be NULL. */
int store_job_insert(brn_store *s, const char *name, int priority, const char *idempotency_key,
                     const char *spec_json, int64_t *id, int *existed, char *err, size_t errlen);

/* Insert a QUEUED job with its labels, in one transaction. With an idempotency key that
 * was already used: *id is that job, *existed = 1, nothing is written, and
 * STORE_CONFLICT is returned instead if the earlier job's spec_json or labels differ.
 * With j->dry_run nothing is ever written (*id = 0 when the job would be new). */
int store_job_create(brn_store *s, const brn_job_new *j, int64_t *id, int *existed, char *err, size_t errlen);

/* Read one job into *row (free with brn_job_row_free). STORE_NOT_FOUND if no such id. */
int store_job_get(brn_store *s, int64_t id, brn_job_row *row, char *err, size_t errlen);

/* Release the strings of a row and zero it. NULL is fine. */
void brn_job_row_free(brn_job_row *row);

/* One page of jobs matching f (NULL = defaults). *rows is a malloc'd array of *n rows
 * (free with brn_job_rows_free); *next_cursor is the cursor for the following page, or
 * 0 when this page is the last. */
int store_job_list(brn_store *s, const brn_job_filter *f, brn_job_row **rows, int *n,
                   int64_t *next_cursor, char *err, size_t errlen);

/* Free an array from store_job_list / store_jobs_in_state. */
void brn_job_rows_free(brn_job_row *rows, int n);

/* Count jobs whose state is in state_mask (0 = all). */
int store_job_count(brn_store *s, unsigned state_mask, long *count, char *err, size_t errlen);

/* Up to max QUEUED jobs in queue order (highest priority first, then oldest: lowest id), for
 * a scheduler that must skip jobs it has already claimed. Free *rows with brn_job_rows_free. */
int store_jobs_queued_first(brn_store *s, int max, brn_job_row **rows, int *n, char *err, size_t errlen);

/* Every job in one state, oldest first (recovery: the RUNNING jobs at start-up).
 * Free *rows with brn_job_rows_free. */
int store_jobs_in_state(brn_store *s, brn_job_state st, brn_job_row **rows, int *n,
                        char *err, size_t errlen);

/* Move a job to state `to` if the move is allowed from its current state:
 *   QUEUED  -> RUNNING (stamps started_ms once, records device; counts an attempt and
 *              opens the run: attempts + 1, run_open = 1), CANCELLED, FAILED
 *   RUNNING -> SUCCEEDED, FAILED, CANCELLED (stamp finished_ms),
 *              QUEUED (recovery: requeue to resume; keeps progress and started_ms)
 * Every move out of RUNNING closes the run (run_open = 0).
 * Final states never change. reason / error_code (may be NULL) are stored for FAILED and
 * CANCELLED and cleared otherwise; device (may be NULL) is recorded on RUNNING.
 * STORE_CONFLICT when not allowed (message names both states), STORE_NOT_FOUND if no job. */
int store_job_set_state(brn_store *s, int64_t id, brn_job_state to, const char *reason,
                        const char *error_code, const char *device, char *err, size_t errlen);

/* A RUNNING job's run stopped cleanly (daemon shutdown; it stays RUNNING to be resumed
 * first at the next start): run_open = 0. STORE_CONFLICT if the job is not RUNNING. */
int store_job_close_run(brn_store *s, int64_t id, char *err, size_t errlen);

/* Start-up: a RUNNING job's run is still open, so brnd died under it: crashes + 1 and
 * run_open = 0, in one statement; *crashes is the new count. STORE_CONFLICT when the job is
 * not RUNNING with an open run. */
int store_job_count_crash(brn_store *s, int64_t id, int *crashes, char *err, size_t errlen);

/* Record in-epoch progress: epochs complete, steps done, and total_steps when > 0
 * (otherwise left as is). One small UPDATE; fine once per log interval. */
int store_job_set_progress(brn_store *s, int64_t id, int epoch, long step, long total_steps,
                           char *err, size_t errlen);

/* Delete a finished job's record and everything stored with it (epochs, diagnostics,
 * checkpoint records, labels). STORE_CONFLICT for a job that is not final (the message
 * names its state), STORE_NOT_FOUND if there is none. */
int store_job_delete(brn_store *s, int64_t id, char *err, size_t errlen);

/* Mark a QUEUED or RUNNING job as cancel-requested (the scheduler then stops it, or the
 * service cancels a QUEUED job directly). STORE_CONFLICT for a final job. */
int store_job_request_cancel(brn_store *s, int64_t id, char *err, size_t errlen);

/* ---- per-epoch metrics ---- */

/* Upsert one epoch's metrics and its m->n_diag renorm diagnostics, and advance the job's
 * epoch/step, in one transaction: writing the same epoch again (replay after a crash)
 * leaves one row per (job, epoch) / (job, epoch, layer) holding the latest values.
 * test_loss/test_acc are stored as NULL when !m->evaluated. */
int store_epoch_upsert(brn_store *s, int64_t job_id, const brn_epoch_metrics *m,
                       char *err, size_t errlen);

/* One job's curve: the epochs > after_epoch (0 = all), ascending. *out is a malloc'd
 * array of *n entries (free with store_epochs_free). With with_diag, each entry's
 * diag/n_diag hold that epoch's renorm diagnostics (ordered by layer name); otherwise
 * diag is NULL. evaluated is 0 where test metrics are NULL. */
int store_epochs_get(brn_store *s, int64_t job_id, int after_epoch, int with_diag,
                     brn_epoch_metrics **out, int *n, char *err, size_t errlen);

/* As store_epochs_get, but at most limit epochs (> 0): one page of a long curve; the
 * next page starts after the last epoch returned. */
int store_epochs_page(brn_store *s, int64_t job_id, int after_epoch, int with_diag, int limit,
                      brn_epoch_metrics **out, int *n, char *err, size_t errlen);

/* Free an array from store_epochs_get (diagnostics included). NULL is fine. */
void store_epochs_free(brn_epoch_metrics *m, int n);

/* ---- checkpoints ---- */

/* Record (or re-record, keyed by job and step) a checkpoint file. */
int store_checkpoint_upsert(brn_store *s, int64_t job_id, int epoch, long step,
                            const char *path, int64_t bytes, char *err, size_t errlen);

/* Forget the records of a job's checkpoint file (retention removed the file). 0 also when
 * there was none. */
int store_checkpoint_forget(brn_store *s, int64_t job_id, const char *path, char *err, size_t errlen);

/* The job's checkpoint with the highest step. STORE_NOT_FOUND when it has none. */
int store_checkpoint_latest(brn_store *s, int64_t job_id, brn_checkpoint_row *out,
                            char *err, size_t errlen);

#endif
