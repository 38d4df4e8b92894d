/* Per-epoch metrics and renorm diagnostics: written with upserts so that replaying an
 * epoch after a crash is idempotent, read back as one job's curve. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* SQLite stores NaN as NULL; bind it as such explicitly and read NULL back as NaN. */
static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

static double column_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static int upsert_diag(brn_store *s, int64_t job_id, int epoch, const brn_renorm_diag *d,
                       char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = 0;
    STMT_OR_RETURN(st, STMT_DIAG_UPSERT,
        "INSERT INTO renorm_diag (job_id, epoch, layer, mean_abs_r_minus_1, mean_abs_d, "
        " frac_r_clipped, frac_d_clipped) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT (job_id, epoch, layer) DO UPDATE SET "
        " mean_abs_r_minus_1 = excluded.mean_abs_r_minus_1, mean_abs_d = excluded.mean_abs_d, "
        " frac_r_clipped = excluded.frac_r_clipped, frac_d_clipped = excluded.frac_d_clipped");
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int(st, 2, epoch);
    sqlite3_bind_text(st, 3, d->layer, (int)strnlen(d->layer, sizeof d->layer), SQLITE_STATIC);
    bind_real(st, 4, d->mean_abs_r_minus_1);
    bind_real(st, 5, d->mean_abs_d);
    bind_real(st, 6, d->frac_r_clipped);
    bind_real(st, 7, d->frac_d_clipped);
    SQL_CHECK(sqlite3_step(st), SQLITE_DONE);
fail:
    sqlite3_reset(st);
    return rc;
}

static int upsert_metrics(brn_store *s, int64_t job_id, const brn_epoch_metrics *m,
                          char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = 0;
    STMT_OR_RETURN(st, STMT_EPOCH_UPSERT,
        "INSERT INTO epochs (job_id, epoch, step, train_loss, train_acc, test_loss, test_acc, "
        " lr, rmax, dmax, seconds, images_per_sec, written_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
        "ON CONFLICT (job_id, epoch) DO UPDATE SET step = excluded.step, "
        " train_loss = excluded.train_loss, train_acc = excluded.train_acc, "
        " test_loss = excluded.test_loss, test_acc = excluded.test_acc, lr = excluded.lr, "
        " rmax = excluded.rmax, dmax = excluded.dmax, seconds = excluded.seconds, "
        " images_per_sec = excluded.images_per_sec, written_ms = excluded.written_ms");
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int(st, 2, m->epoch);
    sqlite3_bind_int64(st, 3, m->step);
    bind_real(st, 4, m->train_loss);
    bind_real(st, 5, m->train_acc);
    if (m->evaluated) { /* left NULL otherwise: "not evaluated" */
        bind_real(st, 6, m->test_loss);
        bind_real(st, 7, m->test_acc);
    }
    bind_real(st, 8, m->lr);
    bind_real(st, 9, m->rmax);
    bind_real(st, 10, m->dmax);
    bind_real(st, 11, m->seconds);
    bind_real(st, 12, m->images_per_sec);
    sqlite3_bind_int64(st, 13, store_now_ms());
    SQL_CHECK(sqlite3_step(st), SQLITE_DONE);
fail:
    sqlite3_reset(st);
    return rc;
}

/* Move the job's progress to this epoch; STORE_NOT_FOUND when there is no such job. */
static int advance_job(brn_store *s, int64_t job_id, const brn_epoch_metrics *m,
                       char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = 0;
    STMT_OR_RETURN(st, STMT_JOB_ADVANCE, "UPDATE jobs SET epoch = ?2, step = ?3 WHERE id = ?1");
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int(st, 2, m->epoch);
    sqlite3_bind_int64(st, 3, m->step);
    SQL_CHECK(sqlite3_step(st), SQLITE_DONE);
    if (sqlite3_changes(s->db) != 1)
        rc = brn_errorf(err, errlen, STORE_NOT_FOUND, "no job %lld", (long long)job_id);
fail:
    sqlite3_reset(st);
    return rc;
}

int store_epoch_upsert(brn_store *s, int64_t job_id, const brn_epoch_metrics *m,
                       char *err, size_t errlen)
{
    if (m->epoch < 1 || m->step < 0 || m->n_diag < 0 || (m->n_diag > 0 && !m->diag))
        return brn_errorf(err, errlen, BRN_EINVAL, "store: bad epoch metrics (epoch %d, "
                          "step %ld, %d diagnostics)", m->epoch, m->step, m->n_diag);
    int rc = store_begin(s, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = advance_job(s, job_id, m, err, errlen)) < 0 ||
        (rc = upsert_metrics(s, job_id, m, err, errlen)) < 0)
        goto fail;
    for (int i = 0; i < m->n_diag; i++)
        if ((rc = upsert_diag(s, job_id, m->epoch, &m->diag[i], err, errlen)) < 0)
            goto fail;
    if ((rc = store_commit(s, err, errlen)) < 0)
        goto fail;
    return 0;
fail:
    store_rollback(s);
    return rc;
}

/* A growable array of n items of size `size`. */
typedef struct vec {
    void *items;
    int n, cap;
} vec;

static void *vec_push(vec *v, size_t size)
{
    if (v->n == v->cap) {
        int cap = v->cap ? 2 * v->cap : 16;
        void *p = realloc(v->items, (size_t)cap * size);
        if (!p)
            return NULL;
        v->items = p;
        v->cap = cap;
    }
    void *slot = (char *)v->items + (size_t)v->n++ * size;
    memset(slot, 0, size);
    return slot;
}

static int read_metrics(brn_store *s, int64_t job_id, int after_epoch, int limit, vec *out,
                        char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = 0, src;
    /* LIMIT -1: all */
    STMT_OR_RETURN(st, STMT_EPOCHS_GET,
        "SELECT epoch, step, train_loss, train_acc, test_loss, test_acc, lr, rmax, dmax, "
        " seconds, images_per_sec FROM epochs WHERE job_id = ?1 AND epoch > ?2 ORDER BY epoch LIMIT ?3");
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int(st, 2, after_epoch);
    sqlite3_bind_int(st, 3, limit > 0 ? limit : -1);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        brn_epoch_metrics *m = vec_push(out, sizeof *m);
        if (!m) {
            rc = brn_errorf(err, errlen, BRN_ENOMEM, "store: out of memory reading epochs");
            goto fail;
        }
        m->epoch = sqlite3_column_int(st, 0);
        m->step = (long)sqlite3_column_int64(st, 1);
        m->train_loss = column_real(st, 2);
        m->train_acc = column_real(st, 3);
        /* test_acc is never NaN when evaluated, so its NULL marks "not evaluated". */
        m->evaluated = sqlite3_column_type(st, 5) != SQLITE_NULL;
        m->test_loss = m->evaluated ? column_real(st, 4) : 0;
        m->test_acc = m->evaluated ? column_real(st, 5) : 0;
        m->lr = column_real(st, 6);
        m->rmax = column_real(st, 7);
        m->dmax = column_real(st, 8);
        m->seconds = column_real(st, 9);
        m->images_per_sec = column_real(st, 10);
    }
    SQL_CHECK(src, SQLITE_DONE);
fail:
    sqlite3_reset(st);
    return rc;
}

/* Diagnostics of the epochs > after_epoch, ordered by epoch then layer; the epoch of
 * each is written into the parallel vec `epochs` (ints). */
static int read_diag(brn_store *s, int64_t job_id, int after_epoch, int upto_epoch, vec *out, vec *epochs,
                     char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = 0, src;
    STMT_OR_RETURN(st, STMT_DIAG_GET,
        "SELECT epoch, layer, mean_abs_r_minus_1, mean_abs_d, frac_r_clipped, frac_d_clipped "
        "FROM renorm_diag WHERE job_id = ?1 AND epoch > ?2 AND epoch <= ?3 ORDER BY epoch, layer");
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int(st, 2, after_epoch);
    sqlite3_bind_int(st, 3, upto_epoch);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        brn_renorm_diag *d = vec_push(out, sizeof *d);
        int *e = vec_push(epochs, sizeof *e);
        if (!d || !e) {
            rc = brn_errorf(err, errlen, BRN_ENOMEM, "store: out of memory reading diagnostics");
            goto fail;
        }
        *e = sqlite3_column_int(st, 0);
        const char *layer = (const char *)sqlite3_column_text(st, 1);
        snprintf(d->layer, sizeof d->layer, "%s", layer ? layer : "");
        d->mean_abs_r_minus_1 = column_real(st, 2);
        d->mean_abs_d = column_real(st, 3);
        d->frac_r_clipped = column_real(st, 4);
        d->frac_d_clipped = column_real(st, 5);
    }
    SQL_CHECK(src, SQLITE_DONE);
fail:
    sqlite3_reset(st);
    return rc;
}

int store_epochs_get(brn_store *s, int64_t job_id, int after_epoch, int with_diag,
                     brn_epoch_metrics **out, int *n, char *err, size_t errlen)
{
    return store_epochs_page(s, job_id, after_epoch, with_diag, 0, out, n, err, errlen);
}

int store_epochs_page(brn_store *s, int64_t job_id, int after_epoch, int with_diag, int limit,
                      brn_epoch_metrics **out, int *n, char *err, size_t errlen)
{
    vec mv = {0}, dv = {0}, ev = {0};
    *out = NULL;
    *n = 0;
    /* both reads in one snapshot, so the diagnostics match the epochs */
    int rc = store_begin_read(s, err, errlen);
    if (rc)
        return rc;
    rc = read_metrics(s, job_id, after_epoch, limit, &mv, err, errlen);
    if (rc == 0 && with_diag && mv.n > 0)
        rc = read_diag(s, job_id, after_epoch, ((brn_epoch_metrics *)mv.items)[mv.n - 1].epoch, &dv, &ev,
                       err, errlen);
    store_end_read(s);
    if (rc < 0)
        goto done;
    /* One block, metrics then diagnostics, so that a single free() releases both. */
    size_t mbytes = (size_t)mv.n * sizeof(brn_epoch_metrics);
    size_t dbytes = (size_t)dv.n * sizeof(brn_renorm_diag);
    brn_epoch_metrics *m = malloc(mbytes + dbytes + 1);
    if (!m) {
        rc = brn_errorf(err, errlen, BRN_ENOMEM, "store: out of memory reading epochs");
        goto done;
    }
    brn_renorm_diag *d = (brn_renorm_diag *)((char *)m + mbytes);
    if (mbytes)
        memcpy(m, mv.items, mbytes);
    if (dbytes)
        memcpy(d, dv.items, dbytes);
    /* Both lists are sorted by epoch: walk them together. */
    const int *de = ev.items;
    for (int i = 0, j = 0; i < mv.n; i++) {
        while (j < dv.n && de[j] < m[i].epoch)
            j++;
        int first = j;
        while (j < dv.n && de[j] == m[i].epoch)
            j++;
        m[i].diag = j > first ? d + first : NULL;
        m[i].n_diag = j - first;
    }
    *out = m;
    *n = mv.n;
done:
    free(mv.items);
    free(dv.items);
    free(ev.items);
    return rc;
}

void store_epochs_free(brn_epoch_metrics *m, int n)
{
    (void)n; /* one block: see store_epochs_get */
    free(m);
}
