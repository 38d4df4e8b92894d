/* Checkpoint records: which files a job wrote, so that recovery resumes from the newest. */
#include <stdio.h>
#include <string.h>

#include "store_internal.h"

int store_checkpoint_upsert(brn_store *s, int64_t job_id, int epoch, long step,
                            const char *path, int64_t bytes, char *err, size_t errlen)
{
    if (!path || !*path || epoch < 0 || step < 0 || bytes < 0)
        return brn_errorf(err, errlen, BRN_EINVAL, "store: bad checkpoint record");
    brn_checkpoint_row probe;
    if (strlen(path) >= sizeof probe.path) /* it must fit when read back */
        return brn_errorf(err, errlen, BRN_EINVAL, "store: checkpoint path longer than %zu bytes",
                          sizeof probe.path - 1);
    sqlite3_stmt *st;
    int rc = 0;
    STMT_OR_RETURN(st, STMT_CHECKPOINT_UPSERT,
        "INSERT INTO checkpoints (job_id, step, epoch, path, bytes, created_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (job_id, step) DO UPDATE SET "
        " epoch = excluded.epoch, path = excluded.path, bytes = excluded.bytes, "
        " created_ms = excluded.created_ms");
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int64(st, 2, step);
    sqlite3_bind_int(st, 3, epoch);
    sqlite3_bind_text(st, 4, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, bytes);
    sqlite3_bind_int64(st, 6, store_now_ms());
    int src = sqlite3_step(st);
    if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        rc = brn_errorf(err, errlen, STORE_NOT_FOUND, "no job %lld", (long long)job_id);
    else
        SQL_CHECK(src, SQLITE_DONE);
fail:
    sqlite3_reset(st);
    return rc;
}

int store_checkpoint_latest(brn_store *s, int64_t job_id, brn_checkpoint_row *out,
                            char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = 0;
    memset(out, 0, sizeof *out);
    STMT_OR_RETURN(st, STMT_CHECKPOINT_LATEST,
        "SELECT step, epoch, path, bytes, created_ms FROM checkpoints WHERE job_id = ?1 "
        "ORDER BY step DESC LIMIT 1");
    sqlite3_bind_int64(st, 1, job_id);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        out->job_id = job_id;
        out->step = (long)sqlite3_column_int64(st, 0);
        out->epoch = sqlite3_column_int(st, 1);
        const char *path = (const char *)sqlite3_column_text(st, 2);
        snprintf(out->path, sizeof out->path, "%s", path ? path : "");
        out->bytes = sqlite3_column_int64(st, 3);
        out->created_ms = sqlite3_column_int64(st, 4);
    } else if (src == SQLITE_DONE) {
        rc = brn_errorf(err, errlen, STORE_NOT_FOUND, "job %lld has no checkpoint",
                        (long long)job_id);
    } else {
        SQL_CHECK(src, SQLITE_DONE);
    }
fail:
    sqlite3_reset(st);
    return rc;
}

int store_checkpoint_forget(brn_store *s, int64_t job_id, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = 0;
    STMT_OR_RETURN(st, STMT_CHECKPOINT_FORGET, "DELETE FROM checkpoints WHERE job_id = ?1 AND path = ?2");
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    SQL_CHECK(sqlite3_step(st), SQLITE_DONE);
fail:
    sqlite3_reset(st);
    return rc;
}
