/* Opening and closing the store: connection settings, the statement cache and the
 * small helpers every store file uses. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_internal.h"

int store_sql_error(brn_store *s, const char *what, const char *file, int line,
                    char *err, size_t errlen)
{
    const char *base = strrchr(file, '/');
    if (s && s->db) s->last_code = sqlite3_extended_errcode(s->db);
    return brn_errorf(err, errlen, BRN_EIO, "store: %s: %s (%s:%d)", what,
                      s && s->db ? sqlite3_errmsg(s->db) : "no database",
                      base ? base + 1 : file, line);
}

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

sqlite3_stmt *store_stmt(brn_store *s, store_stmt_id id, const char *sql, char *err, size_t errlen)
{
    sqlite3_stmt *st = s->stmt[id];
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return st;
    }
    /* PERSISTENT: these live as long as the connection. */
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        s->last_code = sqlite3_extended_errcode(s->db);
        brn_errorf(err, errlen, BRN_EIO, "store: preparing \"%.60s...\": %s", sql,
                   sqlite3_errmsg(s->db));
        return NULL;
    }
    s->stmt[id] = st;
    return st;
}

/* Run one statement that returns nothing we need (BEGIN, COMMIT, ...). */
static int step_done(brn_store *s, store_stmt_id id, const char *sql, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    STMT_OR_RETURN(st, id, sql);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        s->last_code = sqlite3_extended_errcode(s->db);
        return brn_errorf(err, errlen, BRN_EIO, "store: %s: %s", sql, sqlite3_errmsg(s->db));
    }
    return 0;
}

int store_begin(brn_store *s, char *err, size_t errlen)
{
    return step_done(s, STMT_BEGIN, "BEGIN IMMEDIATE", err, errlen);
}

int store_begin_read(brn_store *s, char *err, size_t errlen)
{
    return step_done(s, STMT_BEGIN_READ, "BEGIN", err, errlen);
}

void store_end_read(brn_store *s)
{
    store_rollback(s);
}

int store_commit(brn_store *s, char *err, size_t errlen)
{
    return step_done(s, STMT_COMMIT, "COMMIT", err, errlen);
}

void store_rollback(brn_store *s)
{
    /* Some errors (SQLITE_FULL, IOERR...) already rolled the transaction back. */
    if (!sqlite3_get_autocommit(s->db))
        step_done(s, STMT_ROLLBACK, "ROLLBACK", NULL, 0);
}

/* Connection settings: must run outside a transaction (journal_mode, foreign_keys). */
static int configure(brn_store *s, const char *path, char *err, size_t errlen)
{
    if (sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS) != SQLITE_OK)
        return brn_errorf(err, errlen, BRN_EIO, "store: %s: busy timeout: %s", path,
                          sqlite3_errmsg(s->db));
    /* Ask for WAL and read back what we got: a file system without shared memory
     * support silently keeps another mode. ":memory:" answers "memory". */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        int rc = brn_errorf(err, errlen, BRN_EIO, "store: %s: setting WAL mode: %s", path,
                            sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return rc;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    int ok = mode && (!strcmp(mode, "wal") || !strcmp(mode, "memory"));
    if (!ok) {
        brn_errorf(err, errlen, BRN_EIO, "store: %s: journal mode is \"%s\", WAL is needed "
                   "(is the file system shared or read-only?)", path, mode ? mode : "?");
        sqlite3_finalize(st);
        return BRN_EIO;
    }
    sqlite3_finalize(st);
    /* NORMAL is durable per checkpoint and consistent per commit in WAL mode: a crash
     * may lose the last commits, which the upserted replay then restores. */
    char *msg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     &msg) != SQLITE_OK) {
        int rc = brn_errorf(err, errlen, BRN_EIO, "store: %s: %s", path, msg ? msg : "pragma failed");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

int store_open_at_version(const char *path, int max_version, brn_store **out,
                          char *err, size_t errlen)
{
    *out = NULL;
    if (!path || !*path)
        return brn_errorf(err, errlen, BRN_EINVAL, "store: no database path");
    brn_store *s = calloc(1, sizeof *s);
    if (!s)
        return brn_errorf(err, errlen, BRN_ENOMEM, "store: out of memory");
    int rc;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        rc = brn_errorf(err, errlen, BRN_EIO, "store: cannot open %s: %s", path,
                        s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if ((rc = configure(s, path, err, errlen)) < 0)
        goto fail;
    if ((rc = store_migrate(s, path, max_version, err, errlen)) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    store_close(s);
    return rc;
}

int store_open(const char *path, brn_store **out, char *err, size_t errlen)
{
    return store_open_at_version(path, -1, out, err, errlen);
}

void store_close(brn_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    /* The last connection to close checkpoints the WAL and removes -wal/-shm. */
    sqlite3_close(s->db);
    free(s);
}

int store_schema_version(brn_store *s)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

int store_set_busy_timeout(brn_store *s, int ms, char *err, size_t errlen)
{
    if (sqlite3_busy_timeout(s->db, ms) != SQLITE_OK)
        return store_sql_error(s, "busy timeout", __FILE__, __LINE__, err, errlen);
    return 0;
}

int store_set_query_only(brn_store *s, char *err, size_t errlen)
{
    if (sqlite3_exec(s->db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK)
        return store_sql_error(s, "query_only", __FILE__, __LINE__, err, errlen);
    return 0;
}

int store_last_error_code(const brn_store *s)
{
    return s->last_code;
}

void store_clear_error(brn_store *s)
{
    s->last_code = 0;
}

int store_os_error(brn_store *s, int errnum, const char *what, char *err, size_t errlen)
{
    s->last_code = errnum == ENOSPC || errnum == EDQUOT ? SQLITE_FULL : errnum == EIO ? SQLITE_IOERR : 0;
    return brn_errorf(err, errlen, BRN_EIO, "%s: %s", what, strerror(errnum));
}

int store_error_is_transient(int code)
{
    switch (code & 0xff) { /* the primary code of an extended one */
    case SQLITE_BUSY:       /* another connection holds a lock */
    case SQLITE_LOCKED:
    case SQLITE_FULL:       /* disk full, or a file size limit */
    case SQLITE_IOERR:      /* a failing write, fsync, ... */
    case SQLITE_CANTOPEN:   /* the WAL or a temporary file could not be created */
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:   /* a lock race in WAL: "try again" */
    case SQLITE_INTERRUPT:
        return 1;
    default:
        return 0;
    }
}
