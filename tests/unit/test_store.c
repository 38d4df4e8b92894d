/* The SQLite store: migrations (fresh, upgrade, newer refused), jobs (idempotency, queue
 * order, listing, state changes), idempotent epoch upserts, checkpoints, persistence. */
#include <glob.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "store/store.h"

static char tmpdir[256];
static int db_counter;

/* A fresh database path in the test's temporary directory. */
static const char *new_db_path(void)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/brnd-%d.db", tmpdir, ++db_counter);
    return path;
}

static brn_store *open_fresh(char *path_out, size_t n)
{
    char err[256] = "";
    const char *path = new_db_path();
    if (path_out)
        snprintf(path_out, n, "%s", path);
    brn_store *s = NULL;
    int rc = store_open(path, &s, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc)
        fprintf(stderr, "store_open: %s\n", err);
    return s;
}

/* One integer from a query on a separate plain connection (what another reader sees). */
static long long raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -999;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "raw_int(%s): %s\n", sql, db ? sqlite3_errmsg(db) : "open failed");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static int64_t submit(brn_store *s, const char *name, int priority)
{
    int64_t id = 0;
    char err[256];
    CHECK_EQ_INT(store_job_insert(s, name, priority, NULL, "{\"depth\":10}", &id, NULL, err,
                                  sizeof err), 0);
    return id;
}

static void test_fresh_database_gets_all_migrations(void)
{
    char path[512];
    brn_store *s = open_fresh(path, sizeof path);
    if (!s)
        return;
    glob_t g;
    if (glob("migrations/*.sql", 0, NULL, &g) == 0) { /* run from the repository root */
        CHECK_EQ_INT(store_migration_count(), g.gl_pathc);
        globfree(&g);
    }
    CHECK(store_migration_count() >= 2);
    CHECK_EQ_INT(store_schema_version(s), store_migration_count());
    store_close(s);
    CHECK_EQ_INT(raw_int(path, "PRAGMA user_version"), store_migration_count());
    CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                         "name IN ('jobs', 'epochs', 'renorm_diag', 'checkpoints')"), 4);
    CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND "
                         "name IN ('jobs_by_state', 'jobs_queue')"), 2);
    /* WAL is a property of the file: a plain connection sees it too. */
    sqlite3 *db;
    sqlite3_stmt *st;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_STR_CONTAINS((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* Opening again applies nothing and keeps the version. */
    char err[256];
    CHECK_EQ_INT(store_open(path, &s, err, sizeof err), 0);
    CHECK_EQ_INT(store_schema_version(s), store_migration_count());
    store_close(s);
}

static void test_upgrade_from_version_1_keeps_data(void)
{
    const char *p = new_db_path();
    char path[512], err[256];
    snprintf(path, sizeof path, "%s", p);
    brn_store *s;
    CHECK_EQ_INT(store_open_at_version(path, 1, &s, err, sizeof err), 0);
    if (!s)
        return;
    CHECK_EQ_INT(store_schema_version(s), 1);
    int64_t id = submit(s, "old", 3);
    store_close(s);
    /* as a version-1 brnd would have left a running job (this binary's UPDATE needs newer columns) */
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE jobs SET state = 'RUNNING', device = 'cpu', started_ms = 1 WHERE id = %lld",
             (long long)id);
    CHECK_EQ_INT(raw_exec(path, sql), SQLITE_OK);
    CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'epochs'"), 0);

    CHECK_EQ_INT(store_open(path, &s, err, sizeof err), 0);
    if (!s)
        return;
    CHECK_EQ_INT(store_schema_version(s), store_migration_count());
    brn_job_row row;
    CHECK_EQ_INT(store_job_get(s, id, &row, err, sizeof err), 0);
    CHECK_STR_CONTAINS(row.name, "old");
    CHECK_EQ_INT(row.priority, 3);
    CHECK_EQ_INT(row.state, BRN_JOB_RUNNING);
    CHECK_STR_CONTAINS(row.device, "cpu");
    /* 0004: a run left by an older brnd is not counted as a crash */
    CHECK_EQ_INT(row.attempts, 0);
    CHECK_EQ_INT(row.crashes, 0);
    CHECK_EQ_INT(row.run_open, 0);
    brn_job_row_free(&row);
    /* The new tables work for the old job. */
    brn_epoch_metrics m = { .epoch = 1, .step = 10, .train_loss = 2.0, .train_acc = 0.1 };
    CHECK_EQ_INT(store_epoch_upsert(s, id, &m, err, sizeof err), 0);
    CHECK_EQ_INT(store_checkpoint_upsert(s, id, 1, 10, "/tmp/x.safetensors", 5, err, sizeof err), 0);
    store_close(s);
}

static void test_failed_migration_rolls_back(void)
{
    char path[512], err[256] = "";
    snprintf(path, sizeof path, "%s", new_db_path());
    brn_store *s;
    CHECK_EQ_INT(store_open_at_version(path, 1, &s, err, sizeof err), 0);
    store_close(s);
    /* A stray table makes migration 2 fail halfway: epochs is created, renorm_diag not. */
    CHECK_EQ_INT(raw_exec(path, "CREATE TABLE renorm_diag (x)"), SQLITE_OK);
    CHECK_EQ_INT(store_open(path, &s, err, sizeof err), BRN_EIO);
    CHECK(s == NULL);
    CHECK_STR_CONTAINS(err, "0002_epochs");
    CHECK_EQ_INT(raw_int(path, "PRAGMA user_version"), 1);
    CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'epochs'"), 0);
}

static void test_newer_database_refused(void)
{
    char path[512], err[256] = "";
    brn_store *s = open_fresh(path, sizeof path);
    if (!s)
        return;
    store_close(s);
    char sql[64];
    int newer = store_migration_count() + 1;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", newer);
    CHECK_EQ_INT(raw_exec(path, sql), SQLITE_OK);

    s = (brn_store *)1; /* must be reset to NULL */
    CHECK_EQ_INT(store_open(path, &s, err, sizeof err), STORE_TOO_NEW);
    CHECK(s == NULL);
    CHECK_STR_CONTAINS(err, "newer");
    CHECK_STR_CONTAINS(err, path);
    CHECK_EQ_INT(raw_int(path, "PRAGMA user_version"), newer); /* left untouched */
}

static void test_not_a_database(void)
{
    char path[512], err[256] = "";
    snprintf(path, sizeof path, "%s/garbage.db", tmpdir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    for (int i = 0; i < 200; i++)
        fputs("this is not a sqlite database ", f);
    fclose(f);
    brn_store *s = NULL;
    CHECK_EQ_INT(store_open(path, &s, err, sizeof err), BRN_EIO);
    CHECK(s == NULL);
    CHECK_STR_CONTAINS(err, "not a database");
}

static brn_epoch_metrics metrics(int epoch, double base)
{
    brn_epoch_metrics m = {
        .epoch = epoch, .step = 100L * epoch, .train_loss = base, .train_acc = base / 10,
        .evaluated = 1, .test_loss = base + 0.5, .test_acc = base / 20, .lr = 0.1,
        .rmax = 1.5, .dmax = 0.5, .seconds = 12.5, .images_per_sec = 4000,
    };
    return m;
}

static void test_epoch_upsert_is_idempotent(void)
{
    char path[512], err[256];
    brn_store *s = open_fresh(path, sizeof path);
    if (!s)
        return;
    int64_t id = submit(s, "brn", 0);
    brn_renorm_diag d1[2] = {
        { "blocks.0.bn1", 0.1, 0.2, 0.01, 0.02 },
        { "blocks.0.bn2", 0.3, 0.4, 0.03, 0.04 },
    };
    brn_renorm_diag d2[2] = {
        { "blocks.0.bn1", 0.5, 0.6, 0.05, 0.06 },
        { "blocks.0.bn2", 0.7, 0.8, 0.07, 0.08 },
    };
    brn_epoch_metrics m = metrics(3, 1.0);
    m.diag = d1;
    m.n_diag = 2;
    CHECK_EQ_INT(store_epoch_upsert(s, id, &m, err, sizeof err), 0);
    m = metrics(3, 2.0); /* the replay after a crash: same epoch, other values */
    m.diag = d2;
    m.n_diag = 2;
    CHECK_EQ_INT(store_epoch_upsert(s, id, &m, err, sizeof err), 0);
    CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM epochs"), 1);
    CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM renorm_diag"), 2);

    brn_epoch_metrics *got;
    int n;
    CHECK_EQ_INT(store_epochs_get(s, id, 0, 1, &got, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_INT(got[0].epoch, 3);
        CHECK_EQ_INT(got[0].step, 300);
        CHECK_CLOSE(got[0].train_loss, 2.0, 0, 0);
        CHECK_CLOSE(got[0].test_loss, 2.5, 0, 0);
        CHECK_CLOSE(got[0].test_acc, 0.1, 0, 0);
        CHECK_EQ_INT(got[0].evaluated, 1);
        CHECK_EQ_INT(got[0].n_diag, 2);
        if (got[0].n_diag == 2) {
            CHECK_STR_CONTAINS(got[0].diag[1].layer, "blocks.0.bn2");
            CHECK_CLOSE(got[0].diag[0].mean_abs_r_minus_1, 0.5, 0, 0);
            CHECK_CLOSE(got[0].diag[1].frac_d_clipped, 0.08, 0, 0);
        }
    }
    store_epochs_free(got, n);

    /* The job's progress follows the reported epoch. */
    brn_job_row row;
    CHECK_EQ_INT(store_job_get(s, id, &row, err, sizeof err), 0);
    CHECK_EQ_INT(row.epoch, 3);
    CHECK_EQ_INT(row.step, 300);
    brn_job_row_free(&row);
    store_close(s);
}

static void test_epochs_curve(void)
{
    char err[256];
    brn_store *s = open_fresh(NULL, 0);
    if (!s)
        return;
    int64_t a = submit(s, "a", 0), b = submit(s, "b", 0);
    brn_renorm_diag d = { "bn", 0.25, 0.125, 0.5, 0.75 };
    /* Written out of order, epoch 2 not evaluated, only epoch 4 with diagnostics. */
    int order[] = { 4, 1, 3, 2 };
    for (int i = 0; i < 4; i++) {
        brn_epoch_metrics m = metrics(order[i], order[i]);
        if (order[i] == 2)
            m.evaluated = 0;
        if (order[i] == 4) {
            m.diag = &d;
            m.n_diag = 1;
        }
        CHECK_EQ_INT(store_epoch_upsert(s, a, &m, err, sizeof err), 0);
    }
    brn_epoch_metrics other = metrics(1, 9);
    CHECK_EQ_INT(store_epoch_upsert(s, b, &other, err, sizeof err), 0);

    brn_epoch_metrics *got;
    int n;
    CHECK_EQ_INT(store_epochs_get(s, a, 0, 1, &got, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 4);
    for (int i = 0; i < n && n == 4; i++) {
        CHECK_EQ_INT(got[i].epoch, i + 1);
        CHECK_CLOSE(got[i].train_loss, i + 1, 0, 0);
        CHECK_EQ_INT(got[i].evaluated, i + 1 != 2);
        CHECK_EQ_INT(got[i].n_diag, i + 1 == 4);
    }
    if (n == 4 && got[3].n_diag == 1) {
        CHECK_STR_CONTAINS(got[3].diag[0].layer, "bn");
        CHECK_CLOSE(got[3].diag[0].frac_r_clipped, 0.5, 0, 0);
    }
    store_epochs_free(got, n);

    /* A late watcher asks only for what it missed; without diagnostics. */
    CHECK_EQ_INT(store_epochs_get(s, a, 2, 0, &got, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_INT(got[0].epoch, 3);
        CHECK(got[1].diag == NULL);
        CHECK_EQ_INT(got[1].n_diag, 0);
    }
    store_epochs_free(got, n);

    /* NaN survives the round trip (SQLite would otherwise store NULL as 0). */
    brn_epoch_metrics nan_m = metrics(5, 1);
    nan_m.train_loss = NAN;
    CHECK_EQ_INT(store_epoch_upsert(s, a, &nan_m, err, sizeof err), 0);
    CHECK_EQ_INT(store_epochs_get(s, a, 4, 0, &got, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 1);
    if (n == 1)
        CHECK(isnan(got[0].train_loss));
    store_epochs_free(got, n);

    CHECK_EQ_INT(store_epochs_get(s, 999, 0, 1, &got, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 0);
    store_epochs_free(got, n);

    brn_epoch_metrics bad = metrics(0, 1);
    CHECK_EQ_INT(store_epoch_upsert(s, a, &bad, err, sizeof err), BRN_EINVAL);
    store_close(s);
}

static void test_idempotency_key(void)
{
    char path[512], err[256];
    brn_store *s = open_fresh(path, sizeof path);
    if (!s)
        return;
    int64_t id1, id2, id3;
    int existed = -1;
    CHECK_EQ_INT(store_job_insert(s, "j", 1, "key-1", "{\"a\":1}", &id1, &existed, err, sizeof err), 0);
    CHECK_EQ_INT(existed, 0);
    CHECK_EQ_INT(store_job_insert(s, "j", 1, "key-1", "{\"a\":1}", &id2, &existed, err, sizeof err), 0);
    CHECK_EQ_INT(existed, 1);
    CHECK_EQ_INT(id2, id1);
    CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM jobs"), 1);

    /* The same key for a different request is a conflict that names the first job. */
    CHECK_EQ_INT(store_job_insert(s, "j", 1, "key-1", "{\"a\":2}", &id3, &existed, err, sizeof err),
                 STORE_CONFLICT);
    CHECK_EQ_INT(id3, id1);
    CHECK_STR_CONTAINS(err, "key-1");

    /* No key (or an empty one) never deduplicates. */
    CHECK_EQ_INT(store_job_insert(s, "j", 1, NULL, "{\"a\":1}", &id2, &existed, err, sizeof err), 0);
    CHECK_EQ_INT(store_job_insert(s, "j", 1, "", "{\"a\":1}", &id3, &existed, err, sizeof err), 0);
    CHECK(id2 != id1 && id3 != id2);
    CHECK_EQ_INT(existed, 0);
    brn_job_row row;
    CHECK_EQ_INT(store_job_get(s, id3, &row, err, sizeof err), 0);
    CHECK(row.idempotency_key == NULL);
    CHECK_EQ_INT(row.state, BRN_JOB_QUEUED);
    CHECK(row.created_ms > 1600000000000LL);
    brn_job_row_free(&row);

    /* The spec must be JSON (the schema checks it). */
    CHECK_EQ_INT(store_job_insert(s, "j", 1, NULL, "{not json", &id3, NULL, err, sizeof err), BRN_EIO);
    CHECK_EQ_INT(store_job_get(s, 12345, &row, err, sizeof err), STORE_NOT_FOUND);
    CHECK_STR_CONTAINS(err, "12345");
    store_close(s);
}

/* The first job of the queue (store_jobs_queued_first with max 1) into *row; STORE_NOT_FOUND
 * when the queue is empty. */
static int next_queued(brn_store *s, brn_job_row *row)
{
    brn_job_row *rows;
    char err[256];
    int n, rc = store_jobs_queued_first(s, 1, &rows, &n, err, sizeof err);
    if (rc) return rc;
    if (n == 0) {
        free(rows);
        return STORE_NOT_FOUND;
    }
    *row = rows[0];
    free(rows);
    return 0;
}

static void test_next_queued_order(void)
{
    char err[256];
    brn_store *s = open_fresh(NULL, 0);
    if (!s)
        return;
    brn_job_row row;
    CHECK_EQ_INT(next_queued(s, &row), STORE_NOT_FOUND);
    int64_t low = submit(s, "low", 0);
    int64_t high1 = submit(s, "high1", 5);
    int64_t mid = submit(s, "mid", 2);
    int64_t high2 = submit(s, "high2", 5);
    int64_t neg = submit(s, "neg", -1);
    int64_t expect[] = { high1, high2, mid, low, neg };
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(next_queued(s, &row), 0);
        CHECK_EQ_INT(row.id, expect[i]);
        CHECK_STR_CONTAINS(row.spec_json, "depth");
        CHECK_EQ_INT(store_job_set_state(s, row.id, BRN_JOB_RUNNING, NULL, NULL, "cpu", err,
                                         sizeof err), 0);
        brn_job_row_free(&row);
    }
    CHECK_EQ_INT(next_queued(s, &row), STORE_NOT_FOUND);
    /* A job requeued at recovery is first among its priority again. */
    CHECK_EQ_INT(store_job_set_state(s, high2, BRN_JOB_QUEUED, NULL, NULL, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(store_job_set_state(s, low, BRN_JOB_QUEUED, NULL, NULL, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(next_queued(s, &row), 0);
    CHECK_EQ_INT(row.id, high2);
    brn_job_row_free(&row);
    store_close(s);
}

static void test_list_filter_and_paging(void)
{
    char err[256];
    brn_store *s = open_fresh(NULL, 0);
    if (!s)
        return;
    int64_t ids[7];
    for (int i = 0; i < 7; i++)
        ids[i] = submit(s, "job", 0);
    /* 1, 3, 5 RUNNING; 5 then SUCCEEDED; the rest QUEUED. */
    for (int i = 1; i < 7; i += 2)
        CHECK_EQ_INT(store_job_set_state(s, ids[i], BRN_JOB_RUNNING, NULL, NULL, "cpu", err, sizeof err), 0);
    CHECK_EQ_INT(store_job_set_state(s, ids[5], BRN_JOB_SUCCEEDED, NULL, NULL, NULL, err, sizeof err), 0);

    /* All, oldest first, pages of 3: 3 + 3 + 1. */
    brn_job_filter f = { .limit = 3 };
    brn_job_row *rows;
    int n, pages = 0, seen = 0;
    int64_t next;
    do {
        CHECK_EQ_INT(store_job_list(s, &f, &rows, &n, &next, err, sizeof err), 0);
        for (int i = 0; i < n; i++)
            CHECK_EQ_INT(rows[i].id, ids[seen + i]);
        seen += n;
        pages++;
        brn_job_rows_free(rows, n);
        f.cursor = next;
    } while (next && pages < 10);
    CHECK_EQ_INT(seen, 7);
    CHECK_EQ_INT(pages, 3);

    /* Exactly a full last page: no next cursor. */
    f = (brn_job_filter){ .limit = 7 };
    CHECK_EQ_INT(store_job_list(s, &f, &rows, &n, &next, err, sizeof err), 0);
    CHECK_EQ_INT(n, 7);
    CHECK_EQ_INT(next, 0);
    brn_job_rows_free(rows, n);

    /* Newest first, QUEUED or SUCCEEDED: 6, 5, | 4, 2, | 0. */
    f = (brn_job_filter){ .limit = 2, .newest_first = 1,
        .state_mask = BRN_JOB_STATE_BIT(BRN_JOB_QUEUED) | BRN_JOB_STATE_BIT(BRN_JOB_SUCCEEDED) };
    int expect[] = { 6, 5, 4, 2, 0 };
    seen = 0;
    pages = 0;
    do {
        CHECK_EQ_INT(store_job_list(s, &f, &rows, &n, &next, err, sizeof err), 0);
        for (int i = 0; i < n && seen + i < 5; i++)
            CHECK_EQ_INT(rows[i].id, ids[expect[seen + i]]);
        seen += n;
        pages++;
        brn_job_rows_free(rows, n);
        f.cursor = next;
    } while (next && pages < 10);
    CHECK_EQ_INT(seen, 5);
    CHECK_EQ_INT(pages, 3);

    /* Defaults (NULL filter) list everything. */
    CHECK_EQ_INT(store_job_list(s, NULL, &rows, &n, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(n, 7);
    brn_job_rows_free(rows, n);

    long count;
    CHECK_EQ_INT(store_job_count(s, BRN_JOB_STATE_BIT(BRN_JOB_RUNNING), &count, err, sizeof err), 0);
    CHECK_EQ_INT(count, 2);
    CHECK_EQ_INT(store_job_count(s, 0, &count, err, sizeof err), 0);
    CHECK_EQ_INT(count, 7);

    /* Recovery: the RUNNING jobs, oldest first. */
    CHECK_EQ_INT(store_jobs_in_state(s, BRN_JOB_RUNNING, &rows, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_INT(rows[0].id, ids[1]);
        CHECK_EQ_INT(rows[1].id, ids[3]);
    }
    brn_job_rows_free(rows, n);

    f = (brn_job_filter){ .limit = -1 };
    CHECK_EQ_INT(store_job_list(s, &f, &rows, &n, &next, err, sizeof err), BRN_EINVAL);
    store_close(s);
}

static void test_state_transitions(void)
{
    char err[256];
    brn_store *s = open_fresh(NULL, 0);
    if (!s)
        return;
    int64_t id = submit(s, "t", 0);
    brn_job_row row;

    CHECK_EQ_INT(store_job_set_state(s, id, BRN_JOB_SUCCEEDED, NULL, NULL, NULL, err, sizeof err),
                 STORE_CONFLICT);
    CHECK_STR_CONTAINS(err, "QUEUED");
    CHECK_STR_CONTAINS(err, "SUCCEEDED");

    CHECK_EQ_INT(store_job_set_state(s, id, BRN_JOB_RUNNING, NULL, NULL, "cuda:0", err, sizeof err), 0);
    CHECK_EQ_INT(store_job_set_progress(s, id, 2, 250, 1000, err, sizeof err), 0);
    CHECK_EQ_INT(store_job_set_progress(s, id, 2, 260, 0, err, sizeof err), 0); /* total kept */
    CHECK_EQ_INT(store_job_get(s, id, &row, err, sizeof err), 0);
    CHECK_EQ_INT(row.state, BRN_JOB_RUNNING);
    CHECK(row.started_ms > 0);
    CHECK_EQ_INT(row.finished_ms, 0);
    CHECK_STR_CONTAINS(row.device, "cuda:0");
    CHECK_EQ_INT(row.total_steps, 1000);
    CHECK_EQ_INT(row.step, 260);
    int64_t started = row.started_ms;
    brn_job_row_free(&row);

    /* Requeue at recovery and start again: the first start time stays. */
    CHECK_EQ_INT(store_job_set_state(s, id, BRN_JOB_QUEUED, NULL, NULL, NULL, err, sizeof err), 0);
    usleep(2000);
    CHECK_EQ_INT(store_job_set_state(s, id, BRN_JOB_RUNNING, NULL, NULL, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(store_job_request_cancel(s, id, err, sizeof err), 0);
    CHECK_EQ_INT(store_job_set_state(s, id, BRN_JOB_FAILED, "loss is NaN at step 261", "nan_loss",
                                     NULL, err, sizeof err), 0);
    CHECK_EQ_INT(store_job_get(s, id, &row, err, sizeof err), 0);
    CHECK_EQ_INT(row.state, BRN_JOB_FAILED);
    CHECK_EQ_INT(row.started_ms, started);
    CHECK(row.finished_ms >= row.started_ms);
    CHECK_STR_CONTAINS(row.reason, "NaN");
    CHECK_STR_CONTAINS(row.error_code, "nan_loss");
    CHECK_STR_CONTAINS(row.device, "cuda:0"); /* NULL device keeps the old one */
    CHECK_EQ_INT(row.cancel_requested, 1);
    brn_job_row_free(&row);

    /* Final states never change. */
    for (int to = 0; to < BRN_JOB_STATE_COUNT; to++)
        CHECK_EQ_INT(store_job_set_state(s, id, to, NULL, NULL, NULL, err, sizeof err), STORE_CONFLICT);
    CHECK_EQ_INT(store_job_request_cancel(s, id, err, sizeof err), STORE_CONFLICT);
    CHECK_STR_CONTAINS(err, "FAILED");

    /* A queued job can be cancelled directly, with a reason. */
    int64_t q = submit(s, "q", 0);
    CHECK_EQ_INT(store_job_set_state(s, q, BRN_JOB_CANCELLED, "cancelled by client", NULL, NULL,
                                     err, sizeof err), 0);
    CHECK_EQ_INT(store_job_get(s, q, &row, err, sizeof err), 0);
    CHECK_EQ_INT(row.state, BRN_JOB_CANCELLED);
    CHECK_STR_CONTAINS(row.reason, "by client");
    CHECK(row.error_code == NULL);
    CHECK_EQ_INT(row.started_ms, 0);
    CHECK(row.finished_ms > 0);
    brn_job_row_free(&row);

    CHECK_EQ_INT(store_job_set_state(s, 777, BRN_JOB_RUNNING, NULL, NULL, NULL, err, sizeof err),
                 STORE_NOT_FOUND);
    CHECK_EQ_INT(store_job_set_progress(s, 777, 1, 1, 1, err, sizeof err), STORE_NOT_FOUND);
    CHECK_EQ_INT(store_job_request_cancel(s, 777, err, sizeof err), STORE_NOT_FOUND);
    CHECK_EQ_INT(store_job_set_state(s, q, (brn_job_state)42, NULL, NULL, NULL, err, sizeof err),
                 BRN_EINVAL);

    CHECK_EQ_INT(store_job_state_parse("running"), BRN_JOB_RUNNING);
    CHECK_EQ_INT(store_job_state_parse("nope"), -1);
    CHECK_STR_CONTAINS(store_job_state_name(BRN_JOB_CANCELLED), "CANCELLED");
    CHECK(store_job_state_is_final(BRN_JOB_SUCCEEDED) && !store_job_state_is_final(BRN_JOB_RUNNING));
    store_close(s);
}

static void test_checkpoints(void)
{
    char err[256];
    brn_store *s = open_fresh(NULL, 0);
    if (!s)
        return;
    int64_t id = submit(s, "c", 0);
    brn_checkpoint_row c;
    CHECK_EQ_INT(store_checkpoint_latest(s, id, &c, err, sizeof err), STORE_NOT_FOUND);
    CHECK_EQ_INT(store_checkpoint_upsert(s, id, 1, 100, "/ck/epoch-1", 10, err, sizeof err), 0);
    CHECK_EQ_INT(store_checkpoint_upsert(s, id, 3, 300, "/ck/epoch-3", 30, err, sizeof err), 0);
    CHECK_EQ_INT(store_checkpoint_upsert(s, id, 2, 200, "/ck/epoch-2", 20, err, sizeof err), 0);
    CHECK_EQ_INT(store_checkpoint_latest(s, id, &c, err, sizeof err), 0);
    CHECK_EQ_INT(c.step, 300);
    CHECK_EQ_INT(c.epoch, 3);
    CHECK_EQ_INT(c.bytes, 30);
    CHECK_STR_CONTAINS(c.path, "/ck/epoch-3");
    CHECK_EQ_INT(c.job_id, id);
    /* The same step again replaces the record. */
    CHECK_EQ_INT(store_checkpoint_upsert(s, id, 3, 300, "/ck/last", 31, err, sizeof err), 0);
    CHECK_EQ_INT(store_checkpoint_latest(s, id, &c, err, sizeof err), 0);
    CHECK_STR_CONTAINS(c.path, "/ck/last");
    CHECK_EQ_INT(c.bytes, 31);
    CHECK_EQ_INT(store_checkpoint_upsert(s, id, 1, 1, "", 1, err, sizeof err), BRN_EINVAL);
    store_close(s);
}

static void test_foreign_keys_enforced(void)
{
    char path[512], err[256];
    brn_store *s = open_fresh(path, sizeof path);
    if (!s)
        return;
    /* These rely on the schema's foreign keys being on for the store's connection. */
    CHECK_EQ_INT(store_checkpoint_upsert(s, 4242, 1, 1, "/x", 1, err, sizeof err), STORE_NOT_FOUND);
    brn_epoch_metrics m = metrics(1, 1);
    CHECK_EQ_INT(store_epoch_upsert(s, 4242, &m, err, sizeof err), STORE_NOT_FOUND);
    CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM epochs"), 0);
    CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM checkpoints"), 0);
    store_close(s);
    /* And at the SQL level, as the store sets up its connection. */
    sqlite3 *db;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL), SQLITE_OK);
    CHECK(sqlite3_exec(db, "INSERT INTO renorm_diag (job_id, epoch, layer) VALUES (1, 1, 'bn')",
                       NULL, NULL, NULL) != SQLITE_OK);
    sqlite3_close(db);
}

static void test_persistence_across_reopen(void)
{
    char path[512], err[256];
    brn_store *s = open_fresh(path, sizeof path);
    if (!s)
        return;
    int64_t id;
    CHECK_EQ_INT(store_job_insert(s, "persist", 7, "k", "{\"depth\":16}", &id, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(store_job_set_state(s, id, BRN_JOB_RUNNING, NULL, NULL, "cpu", err, sizeof err), 0);
    for (int e = 1; e <= 2; e++) {
        brn_epoch_metrics m = metrics(e, e);
        CHECK_EQ_INT(store_epoch_upsert(s, id, &m, err, sizeof err), 0);
    }
    CHECK_EQ_INT(store_checkpoint_upsert(s, id, 2, 200, "/ck/last", 99, err, sizeof err), 0);
    store_close(s);

    CHECK_EQ_INT(store_open(path, &s, err, sizeof err), 0);
    if (!s)
        return;
    brn_job_row *rows;
    int n;
    CHECK_EQ_INT(store_jobs_in_state(s, BRN_JOB_RUNNING, &rows, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_INT(rows[0].id, id);
        CHECK_STR_CONTAINS(rows[0].name, "persist");
        CHECK_STR_CONTAINS(rows[0].idempotency_key, "k");
        CHECK_STR_CONTAINS(rows[0].spec_json, "\"depth\":16");
        CHECK_EQ_INT(rows[0].priority, 7);
        CHECK_EQ_INT(rows[0].epoch, 2);
    }
    brn_job_rows_free(rows, n);
    brn_epoch_metrics *got;
    CHECK_EQ_INT(store_epochs_get(s, id, 0, 0, &got, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 2);
    store_epochs_free(got, n);
    brn_checkpoint_row c;
    CHECK_EQ_INT(store_checkpoint_latest(s, id, &c, err, sizeof err), 0);
    CHECK_EQ_INT(c.step, 200);
    /* The key still deduplicates after a restart. */
    int64_t again;
    int existed = 0;
    CHECK_EQ_INT(store_job_insert(s, "persist", 7, "k", "{\"depth\":16}", &again, &existed, err,
                                  sizeof err), 0);
    CHECK_EQ_INT(again, id);
    CHECK_EQ_INT(existed, 1);
    store_close(s);
}

static void remove_tmpdir(void)
{
    glob_t g;
    char pattern[300];
    snprintf(pattern, sizeof pattern, "%s/*", tmpdir);
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            unlink(g.gl_pathv[i]);
        globfree(&g);
    }
    rmdir(tmpdir);
}

/* Crash-loop bookkeeping: every start counts an attempt and opens the run; a clean stop
 * closes it; a start-up that finds it open counts a crash (and only once). */
static void test_attempts_and_crashes(void)
{
    char err[256];
    brn_store *s = open_fresh(NULL, 0);
    if (!s)
        return;
    int64_t id = submit(s, "crashy", 0);
    brn_job_row row;
    int crashes = -1;
    CHECK_EQ_INT(store_job_count_crash(s, id, &crashes, err, sizeof err), STORE_CONFLICT); /* QUEUED */
    CHECK_EQ_INT(store_job_set_state(s, id, BRN_JOB_RUNNING, NULL, NULL, "cpu", err, sizeof err), 0);
    CHECK_EQ_INT(store_job_get(s, id, &row, err, sizeof err), 0);
    CHECK_EQ_INT(row.attempts, 1);
    CHECK_EQ_INT(row.run_open, 1);
    CHECK_EQ_INT(row.crashes, 0);
    brn_job_row_free(&row);

    /* brnd died: the next start counts it, once */
    CHECK_EQ_INT(store_job_count_crash(s, id, &crashes, err, sizeof err), 0);
    CHECK_EQ_INT(crashes, 1);
    CHECK_EQ_INT(store_job_count_crash(s, id, &crashes, err, sizeof err), STORE_CONFLICT);
    CHECK_EQ_INT(store_job_set_state(s, id, BRN_JOB_QUEUED, NULL, NULL, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(store_job_set_state(s, id, BRN_JOB_RUNNING, NULL, NULL, NULL, err, sizeof err), 0);

    /* a clean stop closes the run: not a crash */
    CHECK_EQ_INT(store_job_close_run(s, id, err, sizeof err), 0);
    CHECK_EQ_INT(store_job_count_crash(s, id, &crashes, err, sizeof err), STORE_CONFLICT);
    CHECK_EQ_INT(store_job_get(s, id, &row, err, sizeof err), 0);
    CHECK_EQ_INT(row.attempts, 2);
    CHECK_EQ_INT(row.crashes, 1);
    CHECK_EQ_INT(row.run_open, 0);
    CHECK_EQ_INT(row.state, BRN_JOB_RUNNING);
    brn_job_row_free(&row);

    /* a final state closes it too */
    CHECK_EQ_INT(store_job_set_state(s, id, BRN_JOB_QUEUED, NULL, NULL, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(store_job_set_state(s, id, BRN_JOB_RUNNING, NULL, NULL, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(store_job_set_state(s, id, BRN_JOB_SUCCEEDED, NULL, NULL, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(store_job_get(s, id, &row, err, sizeof err), 0);
    CHECK_EQ_INT(row.attempts, 3);
    CHECK_EQ_INT(row.run_open, 0);
    brn_job_row_free(&row);
    CHECK_EQ_INT(store_job_close_run(s, id, err, sizeof err), STORE_CONFLICT);
    store_close(s);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/brn-store-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    TEST(test_fresh_database_gets_all_migrations);
    TEST(test_upgrade_from_version_1_keeps_data);
    TEST(test_attempts_and_crashes);
    TEST(test_failed_migration_rolls_back);
    TEST(test_newer_database_refused);
    TEST(test_not_a_database);
    TEST(test_epoch_upsert_is_idempotent);
    TEST(test_epochs_curve);
    TEST(test_idempotency_key);
    TEST(test_next_queued_order);
    TEST(test_list_filter_and_paging);
    TEST(test_state_transitions);
    TEST(test_checkpoints);
    TEST(test_foreign_keys_enforced);
    TEST(test_persistence_across_reopen);
    remove_tmpdir();
    return CHECK_DONE();
}
