/* The jobs table: submit, read, list, queue order and state changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store_internal.h"

/* Indexed by brn_job_state; the same words as the CHECK in 0001_jobs.sql. */
static const char *const state_names[BRN_JOB_STATE_COUNT] = {
    [BRN_JOB_QUEUED] = "QUEUED",
    [BRN_JOB_RUNNING] = "RUNNING",
    [BRN_JOB_SUCCEEDED] = "SUCCEEDED",
    [BRN_JOB_FAILED] = "FAILED",
    [BRN_JOB_CANCELLED] = "CANCELLED",
};

const char *store_job_state_name(brn_job_state st)
{
    return (unsigned)st < BRN_JOB_STATE_COUNT ? state_names[st] : "UNKNOWN";
}

int store_job_state_parse(const char *name)
{
    for (int i = 0; name && i < BRN_JOB_STATE_COUNT; i++)
        if (!strcasecmp(name, state_names[i]))
            return i;
    return -1;
}

int store_job_state_is_final(brn_job_state st)
{
    return st == BRN_JOB_SUCCEEDED || st == BRN_JOB_FAILED || st == BRN_JOB_CANCELLED;
}

/* The column list every row-reading query selects, in the order read_row expects. */
#define JOB_COLUMNS "id, name, priority, idempotency_key, spec_json, state, reason, error_code, " \
    "created_ms, started_ms, finished_ms, total_steps, epoch, step, device, cancel_requested, " \
    "(SELECT json_group_object(key, value) FROM job_labels WHERE job_id = jobs.id), " \
    "attempts, crashes, run_open"

static char *dup_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}

/* Fill row from the current result row of a JOB_COLUMNS query. */
static int read_row(sqlite3_stmt *st, brn_job_row *row, char *err, size_t errlen)
{
    memset(row, 0, sizeof *row);
    row->id = sqlite3_column_int64(st, 0);
    row->priority = sqlite3_column_int(st, 2);
    int state = store_job_state_parse((const char *)sqlite3_column_text(st, 5));
    row->state = state < 0 ? BRN_JOB_FAILED : (brn_job_state)state; /* CHECK rules it out */
    row->created_ms = sqlite3_column_int64(st, 8);
    row->started_ms = sqlite3_column_int64(st, 9);
    row->finished_ms = sqlite3_column_int64(st, 10);
    row->total_steps = (long)sqlite3_column_int64(st, 11);
    row->epoch = sqlite3_column_int(st, 12);
    row->step = (long)sqlite3_column_int64(st, 13);
    row->cancel_requested = sqlite3_column_int(st, 15);
    row->attempts = sqlite3_column_int(st, 17);
    row->crashes = sqlite3_column_int(st, 18);
    row->run_open = sqlite3_column_int(st, 19);
    row->name = dup_text(st, 1);
    row->idempotency_key = dup_text(st, 3);
    row->spec_json = dup_text(st, 4);
    row->reason = dup_text(st, 6);
    row->error_code = dup_text(st, 7);
    row->device = dup_text(st, 14);
    /* the primary key walks a job's labels in key order; no labels reads as "{}" */
    const char *labels = (const char *)sqlite3_column_text(st, 16);
    if (labels && strcmp(labels, "{}") && !(row->labels_json = strdup(labels))) {
        brn_job_row_free(row);
        return brn_errorf(err, errlen, BRN_ENOMEM, "store: out of memory reading job");
    }
    /* name and spec_json are NOT NULL columns: a NULL here is a failed strdup. */
    if (!row->name || !row->spec_json ||
        (sqlite3_column_type(st, 3) != SQLITE_NULL && !row->idempotency_key) ||
        (sqlite3_column_type(st, 6) != SQLITE_NULL && !row->reason) ||
        (sqlite3_column_type(st, 7) != SQLITE_NULL && !row->error_code) ||
        (sqlite3_column_type(st, 14) != SQLITE_NULL && !row->device)) {
        brn_job_row_free(row);
        return brn_errorf(err, errlen, BRN_ENOMEM, "store: out of memory reading job");
    }
    return 0;
}

void brn_job_row_free(brn_job_row *row)
{
    if (!row)
        return;
    free(row->name);
    free(row->idempotency_key);
    free(row->spec_json);
    free(row->reason);
    free(row->error_code);
    free(row->device);
    free(row->labels_json);
    memset(row, 0, sizeof *row);
}

void brn_job_rows_free(brn_job_row *rows, int n)
{
    for (int i = 0; rows && i < n; i++)
        brn_job_row_free(&rows[i]);
    free(rows);
}

/* Step a query expected to yield at most one job row. */
static int read_one(brn_store *s, sqlite3_stmt *st, brn_job_row *row, const char *what,
                    char *err, size_t errlen)
{
    int rc, src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        rc = read_row(st, row, err, errlen);
    else if (src == SQLITE_DONE)
        rc = brn_errorf(err, errlen, STORE_NOT_FOUND, "%s", what);
    else
        rc = store_sql_error(s, what, __FILE__, __LINE__, err, errlen);
    sqlite3_reset(st);
    return rc;
}

int store_job_get(brn_store *s, int64_t id, brn_job_row *row, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    char what[64];
    memset(row, 0, sizeof *row);
    STMT_OR_RETURN(st, STMT_JOB_GET, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?1");
    sqlite3_bind_int64(st, 1, id);
    snprintf(what, sizeof what, "no job %lld", (long long)id);
    return read_one(s, st, row, what, err, errlen);
}

int store_jobs_queued_first(brn_store *s, int max, brn_job_row **rows, int *n, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    *rows = NULL;
    *n = 0;
    if (max < 1)
        return brn_errorf(err, errlen, BRN_EINVAL, "store: max must be positive");
    /* The literal state = 'QUEUED' lets SQLite use the partial index jobs_queue. */
    STMT_OR_RETURN(st, STMT_JOB_QUEUED_FIRST, "SELECT " JOB_COLUMNS " FROM jobs "
                   "WHERE state = 'QUEUED' ORDER BY priority DESC, id LIMIT ?1");
    sqlite3_bind_int(st, 1, max);
    brn_job_row *out = calloc((size_t)max, sizeof *out);
    if (!out) {
        sqlite3_reset(st);
        return brn_errorf(err, errlen, BRN_ENOMEM, "store: out of memory");
    }
    int rc = 0, count = 0, src = SQLITE_DONE;
    while (count < max && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = read_row(st, &out[count], err, errlen)) < 0)
            break;
        count++;
    }
    if (rc == 0 && count < max && src != SQLITE_DONE)
        rc = store_sql_error(s, "reading the queue", __FILE__, __LINE__, err, errlen);
    sqlite3_reset(st);
    if (rc < 0) {
        brn_job_rows_free(out, count);
        return rc;
    }
    *rows = out;
    *n = count;
    return 0;
}

/* Look up the job holding an idempotency key: 0 with *id set, or STORE_NOT_FOUND. */
static int job_by_key(brn_store *s, const char *key, int64_t *id, char **spec_json,
                      char *err, size_t errlen)
{
    sqlite3_stmt *st;
    STMT_OR_RETURN(st, STMT_JOB_BY_KEY, "SELECT id, spec_json FROM jobs WHERE idempotency_key = ?1");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = 0, src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        *spec_json = dup_text(st, 1);
        if (!*spec_json)
            rc = brn_errorf(err, errlen, BRN_ENOMEM, "store: out of memory");
    } else if (src == SQLITE_DONE) {
        rc = STORE_NOT_FOUND;
    } else {
        rc = store_sql_error(s, "looking up idempotency key", __FILE__, __LINE__, err, errlen);
    }
    sqlite3_reset(st);
    return rc;
}

int store_job_create(brn_store *s, const brn_job_new *j, int64_t *id, int *existed, char *err, size_t errlen)
{
    int dummy;
    if (!existed)
        existed = &dummy;
    *existed = 0;
    *id = 0;
    if (!j->spec_json)
        return brn_errorf(err, errlen, BRN_EINVAL, "store: job without a spec");
    const char *key = j->idempotency_key && *j->idempotency_key ? j->idempotency_key : NULL;
    if (key) {
        /* One writer (see store.h): nobody can insert the key between this look-up
         * and our INSERT, so the look-up needs no transaction. */
        char *old_spec = NULL;
        int rc = job_by_key(s, key, id, &old_spec, err, errlen);
        if (rc == 0) {
            *existed = 1;
            int same = !strcmp(old_spec, j->spec_json);
            free(old_spec);
            if (same && (rc = store_labels_same(s, *id, j->labels, j->n_labels, &same, err, errlen)) < 0)
                return rc;
            if (!same)
                return brn_errorf(err, errlen, STORE_CONFLICT, "idempotency key \"%s\" was "
                                  "already used by job %lld with a different spec or labels", key,
                                  (long long)*id);
            return 0;
        }
        if (rc != STORE_NOT_FOUND)
            return rc;
        *id = 0;
    }
    if (j->dry_run)
        return 0;
    sqlite3_stmt *st;
    STMT_OR_RETURN(st, STMT_JOB_INSERT, "INSERT INTO jobs (name, priority, idempotency_key, "
                   "spec_json, state, created_ms) VALUES (?1, ?2, ?3, ?4, 'QUEUED', ?5)");
    int rc = j->n_labels > 0 ? store_begin(s, err, errlen) : 0;
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, j->name ? j->name : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, j->priority);
    if (key)
        sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, j->spec_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, store_now_ms());
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = store_sql_error(s, "inserting job", __FILE__, __LINE__, err, errlen);
    else
        *id = sqlite3_last_insert_rowid(s->db);
    sqlite3_reset(st);
    if (rc == 0 && j->n_labels > 0)
        rc = store_labels_insert(s, *id, j->labels, j->n_labels, err, errlen);
    if (j->n_labels > 0) {
        if (rc == 0)
            rc = store_commit(s, err, errlen);
        if (rc < 0)
            store_rollback(s);
    }
    if (rc < 0)
        *id = 0;
    return rc;
}

int store_job_insert(brn_store *s, const char *name, int priority, const char *idempotency_key,
                     const char *spec_json, int64_t *id, int *existed, char *err, size_t errlen)
{
    const brn_job_new j = {.name = name, .priority = priority, .idempotency_key = idempotency_key,
                           .spec_json = spec_json};
    return store_job_create(s, &j, id, existed, err, errlen);
}

/* A state set as SQL: "state IN (?1, ..., ?5)" with one parameter per state, bound to
 * the state's name when it is in the mask and to NULL (which matches nothing) when not,
 * so one cached statement serves every filter and the jobs_by_state index applies. */
#define STATE_SET_SQL "state IN (?1, ?2, ?3, ?4, ?5)"
#define STATE_SET_PARAMS 5
_Static_assert(STATE_SET_PARAMS == BRN_JOB_STATE_COUNT, "STATE_SET_SQL needs one parameter per state");

/* A label filter as SQL: ?8 pairs given as the JSON object ?9; a job matches when it
 * carries all of them. The subquery does not depend on the row: SQLite runs it once. */
#define LABEL_SET_SQL "(?8 = 0 OR id IN (SELECT l.job_id FROM job_labels l JOIN json_each(?9) p " \
    "ON l.key = p.key AND l.value = p.value GROUP BY l.job_id HAVING count(*) = ?8))"

static void bind_state_set(sqlite3_stmt *st, unsigned mask)
{
    if (!mask)
        mask = BRN_JOB_STATES_ALL;
    for (int i = 0; i < BRN_JOB_STATE_COUNT; i++)
        if (mask & BRN_JOB_STATE_BIT(i))
            sqlite3_bind_text(st, 1 + i, state_names[i], -1, SQLITE_STATIC);
}

int store_job_count(brn_store *s, unsigned state_mask, long *count, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    *count = 0;
    STMT_OR_RETURN(st, STMT_JOB_COUNT, "SELECT count(*) FROM jobs WHERE " STATE_SET_SQL);
    bind_state_set(st, state_mask);
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        *count = (long)sqlite3_column_int64(st, 0);
    else
        rc = store_sql_error(s, "counting jobs", __FILE__, __LINE__, err, errlen);
    sqlite3_reset(st);
    return rc;
}

int store_job_list(brn_store *s, const brn_job_filter *f, brn_job_row **rows, int *n,
                   int64_t *next_cursor, char *err, size_t errlen)
{
    static const brn_job_filter defaults;
    if (!f)
        f = &defaults;
    *rows = NULL;
    *n = 0;
    if (next_cursor)
        *next_cursor = 0;
    if (f->limit < 0 || f->cursor < 0)
        return brn_errorf(err, errlen, BRN_EINVAL, "store: negative page limit or cursor");
    int limit = f->limit ? f->limit : STORE_LIST_DEFAULT_LIMIT;
    if (limit > STORE_LIST_MAX_LIMIT)
        limit = STORE_LIST_MAX_LIMIT;
    sqlite3_stmt *st;
    /* The cursor is the last id of the previous page; one row beyond the page tells
     * whether another page follows. */
    if (f->newest_first)
        STMT_OR_RETURN(st, STMT_JOB_LIST_DESC, "SELECT " JOB_COLUMNS " FROM jobs WHERE "
                       STATE_SET_SQL " AND id < ?6 AND " LABEL_SET_SQL " ORDER BY id DESC LIMIT ?7");
    else
        STMT_OR_RETURN(st, STMT_JOB_LIST_ASC, "SELECT " JOB_COLUMNS " FROM jobs WHERE "
                       STATE_SET_SQL " AND id > ?6 AND " LABEL_SET_SQL " ORDER BY id LIMIT ?7");
    bind_state_set(st, f->state_mask);
    char *labels = NULL;
    if (f->n_labels > 0) {
        if (!(labels = store_labels_json(f->labels, f->n_labels))) {
            sqlite3_reset(st);
            return brn_errorf(err, errlen, BRN_ENOMEM, "store: out of memory listing jobs");
        }
        sqlite3_bind_int(st, 8, f->n_labels);
        sqlite3_bind_text(st, 9, labels, -1, free);
    } else {
        sqlite3_bind_int(st, 8, 0);
    }
    /* Descending from the start means below every id. */
    int64_t cursor = f->newest_first && !f->cursor ? INT64_MAX : f->cursor;
    sqlite3_bind_int64(st, STATE_SET_PARAMS + 1, cursor);
    sqlite3_bind_int(st, STATE_SET_PARAMS + 2, limit + 1);
    brn_job_row *out = calloc((size_t)limit + 1, sizeof *out);
    if (!out) {
        sqlite3_reset(st);
        return brn_errorf(err, errlen, BRN_ENOMEM, "store: out of memory listing jobs");
    }
    int rc = 0, count = 0, src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == limit) { /* the look-ahead row: there is a next page */
            if (next_cursor)
                *next_cursor = out[count - 1].id;
            break;
        }
        if ((rc = read_row(st, &out[count], err, errlen)) < 0)
            break;
        count++;
    }
    if (rc == 0 && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = store_sql_error(s, "listing jobs", __FILE__, __LINE__, err, errlen);
    sqlite3_reset(st);
    if (rc < 0) {
        brn_job_rows_free(out, count);
        if (next_cursor)
            *next_cursor = 0;
        return rc;
    }
    *rows = out;
    *n = count;
    return 0;
}

int store_jobs_in_state(brn_store *s, brn_job_state st, brn_job_row **rows, int *n,
                        char *err, size_t errlen)
{
    *rows = NULL;
    *n = 0;
    if ((unsigned)st >= BRN_JOB_STATE_COUNT)
        return brn_errorf(err, errlen, BRN_EINVAL, "store: bad job state %d", (int)st);
    /* Page through store_job_list so the result has no size limit. */
    brn_job_filter f = { .state_mask = BRN_JOB_STATE_BIT(st), .limit = STORE_LIST_MAX_LIMIT };
    brn_job_row *all = NULL;
    int total = 0;
    for (;;) {
        brn_job_row *page;
        int count;
        int64_t next;
        int rc = store_job_list(s, &f, &page, &count, &next, err, errlen);
        if (rc < 0) {
            brn_job_rows_free(all, total);
            return rc;
        }
        brn_job_row *grown = realloc(all, ((size_t)total + count + 1) * sizeof *grown);
        if (!grown) {
            brn_job_rows_free(page, count);
            brn_job_rows_free(all, total);
            return brn_errorf(err, errlen, BRN_ENOMEM, "store: out of memory");
        }
        all = grown;
        memcpy(all + total, page, (size_t)count * sizeof *page);
        total += count;
        free(page); /* the strings moved into all */
        if (!next)
            break;
        f.cursor = next;
    }
    *rows = all;
    *n = total;
    return 0;
}

/* Current state of a job: 0, or STORE_NOT_FOUND. */
static int job_state(brn_store *s, int64_t id, brn_job_state *state, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    STMT_OR_RETURN(st, STMT_JOB_STATE, "SELECT state FROM jobs WHERE id = ?1");
    sqlite3_bind_int64(st, 1, id);
    int rc = 0, src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *state = (brn_job_state)store_job_state_parse((const char *)sqlite3_column_text(st, 0));
    else if (src == SQLITE_DONE)
        rc = brn_errorf(err, errlen, STORE_NOT_FOUND, "no job %lld", (long long)id);
    else
        rc = store_sql_error(s, "reading job state", __FILE__, __LINE__, err, errlen);
    sqlite3_reset(st);
    return rc;
}

/* The allowed moves of store_job_set_state (see store.h). */
static int move_allowed(brn_job_state from, brn_job_state to)
{
    switch (from) {
    case BRN_JOB_QUEUED:
        return to == BRN_JOB_RUNNING || to == BRN_JOB_CANCELLED || to == BRN_JOB_FAILED;
    case BRN_JOB_RUNNING:
        return to == BRN_JOB_QUEUED || store_job_state_is_final(to);
    default:
        return 0;
    }
}

int store_job_set_state(brn_store *s, int64_t id, brn_job_state to, const char *reason,
                        const char *error_code, const char *device, char *err, size_t errlen)
{
    if ((unsigned)to >= BRN_JOB_STATE_COUNT)
        return brn_errorf(err, errlen, BRN_EINVAL, "store: bad job state %d", (int)to);
    brn_job_state from;
    int rc = job_state(s, id, &from, err, errlen);
    if (rc < 0)
        return rc;
    if (!move_allowed(from, to))
        return brn_errorf(err, errlen, STORE_CONFLICT, "job %lld is %s and cannot become %s",
                          (long long)id, store_job_state_name(from), store_job_state_name(to));
    sqlite3_stmt *st;
    /* ?5 = now. started_ms is stamped on the first RUNNING only (a resumed job keeps
     * it); finished_ms on the final state. The state in WHERE guards the move. */
    STMT_OR_RETURN(st, STMT_JOB_SET_STATE,
        "UPDATE jobs SET state = ?2, "
        " reason = CASE WHEN ?2 IN ('FAILED', 'CANCELLED') THEN ?3 END, "
        " error_code = CASE WHEN ?2 IN ('FAILED', 'CANCELLED') THEN ?4 END, "
        " started_ms = CASE WHEN ?2 = 'RUNNING' THEN coalesce(started_ms, ?5) ELSE started_ms END, "
        " finished_ms = CASE WHEN ?2 IN ('SUCCEEDED', 'FAILED', 'CANCELLED') THEN ?5 END, "
        " device = CASE WHEN ?2 = 'RUNNING' AND ?6 IS NOT NULL THEN ?6 ELSE device END, "
        " attempts = attempts + (?2 = 'RUNNING'), "
        " run_open = (?2 = 'RUNNING') "
        "WHERE id = ?1 AND state = ?7");
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, store_job_state_name(to), -1, SQLITE_STATIC);
    if (reason)
        sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    if (error_code)
        sqlite3_bind_text(st, 4, error_code, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, store_now_ms());
    if (device)
        sqlite3_bind_text(st, 6, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, store_job_state_name(from), -1, SQLITE_STATIC);
    SQL_CHECK(sqlite3_step(st), SQLITE_DONE);
    if (sqlite3_changes(s->db) != 1) /* only another connection could cause this */
        rc = brn_errorf(err, errlen, STORE_CONFLICT, "job %lld changed state concurrently",
                        (long long)id);
fail:
    sqlite3_reset(st);
    return rc;
}

int store_job_set_progress(brn_store *s, int64_t id, int epoch, long step, long total_steps,
                           char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = 0;
    STMT_OR_RETURN(st, STMT_JOB_SET_PROGRESS, "UPDATE jobs SET epoch = ?2, step = ?3, "
                   "total_steps = CASE WHEN ?4 > 0 THEN ?4 ELSE total_steps END WHERE id = ?1");
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, epoch);
    sqlite3_bind_int64(st, 3, step);
    sqlite3_bind_int64(st, 4, total_steps);
    SQL_CHECK(sqlite3_step(st), SQLITE_DONE);
    if (sqlite3_changes(s->db) != 1)
        rc = brn_errorf(err, errlen, STORE_NOT_FOUND, "no job %lld", (long long)id);
fail:
    sqlite3_reset(st);
    return rc;
}

int store_job_request_cancel(brn_store *s, int64_t id, char *err, size_t errlen)
{
    brn_job_state from;
    int rc = job_state(s, id, &from, err, errlen);
    if (rc < 0)
        return rc;
    if (store_job_state_is_final(from))
        return brn_errorf(err, errlen, STORE_CONFLICT, "job %lld is already %s",
                          (long long)id, store_job_state_name(from));
    sqlite3_stmt *st;
    STMT_OR_RETURN(st, STMT_JOB_REQUEST_CANCEL,
                   "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1");
    sqlite3_bind_int64(st, 1, id);
    SQL_CHECK(sqlite3_step(st), SQLITE_DONE);
fail:
    sqlite3_reset(st);
    return rc;
}

int store_job_close_run(brn_store *s, int64_t id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = 0;
    STMT_OR_RETURN(st, STMT_JOB_CLOSE_RUN, "UPDATE jobs SET run_open = 0 WHERE id = ?1 AND state = 'RUNNING'");
    sqlite3_bind_int64(st, 1, id);
    SQL_CHECK(sqlite3_step(st), SQLITE_DONE);
    if (sqlite3_changes(s->db) != 1)
        rc = brn_errorf(err, errlen, STORE_CONFLICT, "job %lld is not RUNNING", (long long)id);
fail:
    sqlite3_reset(st);
    return rc;
}

int store_job_count_crash(brn_store *s, int64_t id, int *crashes, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = 0, src;
    *crashes = 0;
    STMT_OR_RETURN(st, STMT_JOB_COUNT_CRASH, "UPDATE jobs SET crashes = crashes + 1, run_open = 0 "
                   "WHERE id = ?1 AND state = 'RUNNING' AND run_open = 1 RETURNING crashes");
    sqlite3_bind_int64(st, 1, id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *crashes = sqlite3_column_int(st, 0);
        src = sqlite3_step(st);
    } else if (src == SQLITE_DONE) {
        rc = brn_errorf(err, errlen, STORE_CONFLICT, "job %lld is not RUNNING with an open run", (long long)id);
    }
    SQL_CHECK(src, SQLITE_DONE);
fail:
    sqlite3_reset(st);
    return rc;
}

int store_job_delete(brn_store *s, int64_t id, char *err, size_t errlen)
{
    brn_job_state st_now;
    int rc = job_state(s, id, &st_now, err, errlen);
    if (rc < 0)
        return rc;
    if (!store_job_state_is_final(st_now))
        return brn_errorf(err, errlen, STORE_CONFLICT, "job %lld is %s: cancel it first, then delete it",
                          (long long)id, store_job_state_name(st_now));
    sqlite3_stmt *st;
    /* the foreign keys cascade to epochs, renorm_diag, checkpoints and job_labels */
    STMT_OR_RETURN(st, STMT_JOB_DELETE, "DELETE FROM jobs WHERE id = ?1 AND state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')");
    sqlite3_bind_int64(st, 1, id);
    SQL_CHECK(sqlite3_step(st), SQLITE_DONE);
    if (sqlite3_changes(s->db) != 1)
        rc = brn_errorf(err, errlen, STORE_CONFLICT, "job %lld changed state concurrently", (long long)id);
fail:
    sqlite3_reset(st);
    return rc;
}
