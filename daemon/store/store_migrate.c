/* Schema migrations: bring the database to the newest version this binary knows,
 * one migration per transaction together with its PRAGMA user_version bump, so that a
 * crash mid-upgrade leaves the database at a version that matches its tables.
 *
 * Rules for migration files: no BEGIN/COMMIT of their own (the store wraps each one);
 * foreign keys are ON while they run and cannot be switched off inside a transaction,
 * so a migration that rebuilds a table uses PRAGMA defer_foreign_keys = ON. */
#include <stdio.h>

#include "store/migrations.h"
#include "store_internal.h"

int store_migration_count(void)
{
    return store_migrations_count;
}

/* Version read inside the caller's transaction (another process may have migrated
 * between our open and our BEGIN). */
static int read_version(brn_store *s, int *v, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        rc = brn_errorf(err, errlen, BRN_EIO, "store: reading the schema version: %s",
                        sqlite3_errmsg(s->db));
    else
        *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc;
}

/* Run migration m (the database is at m->version - 1) inside the open transaction. */
static int apply(brn_store *s, const store_migration *m, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = brn_errorf(err, errlen, BRN_EIO, "store: migration %s failed: %s", m->name,
                            msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return rc;
    }
    /* PRAGMA takes no bound parameters; the version is our own integer. */
    char bump[48];
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d", m->version);
    if (sqlite3_exec(s->db, bump, NULL, NULL, NULL) != SQLITE_OK)
        return brn_errorf(err, errlen, BRN_EIO, "store: migration %s: setting version: %s",
                          m->name, sqlite3_errmsg(s->db));
    return 0;
}

int store_migrate(brn_store *s, const char *path, int max_version, char *err, size_t errlen)
{
    int target = store_migrations_count;
    if (max_version >= 0 && max_version < target)
        target = max_version;
    for (;;) {
        int rc, v = 0;
        if ((rc = store_begin(s, err, errlen)) < 0)
            return rc;
        if ((rc = read_version(s, &v, err, errlen)) < 0)
            goto fail;
        if (v > store_migrations_count) {
            rc = brn_errorf(err, errlen, STORE_TOO_NEW,
                            "store: %s has schema version %d, newer than this brnd knows "
                            "(up to %d): it was written by a newer brnd; refusing to open it",
                            path, v, store_migrations_count);
            goto fail;
        }
        if (v >= target)
            return store_commit(s, err, errlen);
        if ((rc = apply(s, &store_migrations[v], err, errlen)) < 0)
            goto fail;
        if ((rc = store_commit(s, err, errlen)) < 0)
            goto fail;
        continue;
    fail:
        store_rollback(s);
        return rc;
    }
}
