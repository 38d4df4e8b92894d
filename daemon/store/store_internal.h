/* Shared by the store's source files only: the store struct, the prepared-statement
 * cache and the error helpers. Not part of the store's contract (see store.h). */
#ifndef BRN_STORE_INTERNAL_H
#define BRN_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

#include "errors.h"
#include "store.h"

/* How long a statement waits for a lock held by another connection (e.g. the sqlite3
 * shell or a backup) before failing with SQLITE_BUSY. The daemon shortens it on its
 * connections (store_set_busy_timeout): its writer retries with back-off instead, and its
 * reads answer UNAVAILABLE rather than stall the loop. */
#define STORE_BUSY_TIMEOUT_MS 5000

/* One slot per cached statement. The SQL text lives at the call site; the statement
 * is prepared on first use and kept until store_close. */
typedef enum {
    STMT_BEGIN,
    STMT_BEGIN_READ,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_JOB_INSERT,
    STMT_JOB_BY_KEY,
    STMT_JOB_GET,
    STMT_JOB_STATE,
    STMT_JOB_SET_STATE,
    STMT_JOB_SET_PROGRESS,
    STMT_JOB_REQUEST_CANCEL,
    STMT_JOB_CLOSE_RUN,
    STMT_JOB_DELETE,
    STMT_JOB_QUEUED_FIRST,
    STMT_JOB_COUNT_CRASH,
    STMT_JOB_COUNT,
    STMT_JOB_LIST_ASC,
    STMT_JOB_LIST_DESC,
    STMT_JOB_ADVANCE,
    STMT_EPOCH_UPSERT,
    STMT_DIAG_UPSERT,
    STMT_EPOCHS_GET,
    STMT_DIAG_GET,
    STMT_CHECKPOINT_UPSERT,
    STMT_CHECKPOINT_LATEST,
    STMT_LABEL_INSERT,
    STMT_LABELS_GET,
    STMT_CHECKPOINT_FORGET,
    STMT_COUNT
} store_stmt_id;

struct brn_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[STMT_COUNT];
    int last_code;                /* extended SQLite code of the last failure (store_last_error_code) */
};

/* The cached statement for slot id (preparing sql on first use), reset with its
 * bindings cleared; NULL on failure with the reason in err. */
sqlite3_stmt *store_stmt(brn_store *s, store_stmt_id id, const char *sql, char *err, size_t errlen);

/* Record a failed SQLite call as "store: <what>: <sqlite message> (file:line)" and
 * return BRN_EIO. */
int store_sql_error(brn_store *s, const char *what, const char *file, int line,
                    char *err, size_t errlen);

/* Transactions for multi-statement writes: BEGIN IMMEDIATE takes the write lock at
 * once so a busy database fails at the start, not halfway. */
int store_begin(brn_store *s, char *err, size_t errlen);
/* A read transaction (one snapshot for several SELECTs); end it with store_end_read. */
int store_begin_read(brn_store *s, char *err, size_t errlen);
void store_end_read(brn_store *s);
int store_commit(brn_store *s, char *err, size_t errlen);
void store_rollback(brn_store *s);

/* The wall clock in unix milliseconds. */
int64_t store_now_ms(void);

/* Apply migrations until the schema is at max_version (< 0: all known). */
int store_migrate(brn_store *s, const char *path, int max_version, char *err, size_t errlen);

/* store_labels.c: write a new job's labels (inside the caller's transaction); tell
 * whether a job's stored labels equal the given ones (any order); the {"key":"value"}
 * JSON text of the label filter (malloc'd; NULL on out of memory). */
int store_labels_insert(brn_store *s, int64_t job_id, const brn_job_label *labels, int n,
                        char *err, size_t errlen);
int store_labels_same(brn_store *s, int64_t job_id, const brn_job_label *labels, int n, int *same,
                      char *err, size_t errlen);
char *store_labels_json(const brn_job_label *labels, int n);

/* Get a cached statement into `st` or return the error (needs s, err, errlen, st). */
#define STMT_OR_RETURN(st, id, sql) do { (st) = store_stmt(s, (id), (sql), err, errlen); \
    if (!(st)) return BRN_EIO; } while (0)

/* Check a SQLite result against the expected code; otherwise record the error with the
 * function, file and line into rc and jump to the function's `fail:` label
 * (needs s, rc, err, errlen in scope). */
#define SQL_CHECK(result, expected) do { int _src = (result); if (_src != (expected)) { \
    rc = store_sql_error(s, __func__, __FILE__, __LINE__, err, errlen); goto fail; } } while (0)

#endif
