/* Job labels: written with their job, compared on an idempotent retry, and turned into
 * the JSON parameter of the label filter (see store_job_list). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

int store_labels_insert(brn_store *s, int64_t job_id, const brn_job_label *labels, int n,
                        char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = 0;
    STMT_OR_RETURN(st, STMT_LABEL_INSERT, "INSERT INTO job_labels (job_id, key, value) VALUES (?1, ?2, ?3)");
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, job_id);
        sqlite3_bind_text(st, 2, labels[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, labels[i].value ? labels[i].value : "", -1, SQLITE_STATIC);
        SQL_CHECK(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
fail:
    sqlite3_reset(st);
    return rc;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const brn_job_label *)a)->key, ((const brn_job_label *)b)->key);
}

int store_labels_same(brn_store *s, int64_t job_id, const brn_job_label *labels, int n, int *same,
                      char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = 0, src, k = 0;
    brn_job_label *sorted = calloc(n > 0 ? (size_t)n : 1, sizeof *sorted);
    if (!sorted)
        return brn_errorf(err, errlen, BRN_ENOMEM, "store: out of memory");
    if (n > 0)
        memcpy(sorted, labels, (size_t)n * sizeof *labels);
    qsort(sorted, (size_t)n, sizeof *sorted, by_key);
    *same = 1;
    st = store_stmt(s, STMT_LABELS_GET, "SELECT key, value FROM job_labels WHERE job_id = ?1 ORDER BY key",
                    err, errlen);
    if (!st) {
        free(sorted);
        return BRN_EIO;
    }
    sqlite3_bind_int64(st, 1, job_id);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0), *value = (const char *)sqlite3_column_text(st, 1);
        if (k == n || strcmp(key, sorted[k].key) || strcmp(value, sorted[k].value ? sorted[k].value : "")) {
            *same = 0;
            break;
        }
        k++;
    }
    if (src == SQLITE_DONE && k != n)
        *same = 0;
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = store_sql_error(s, "reading job labels", __FILE__, __LINE__, err, errlen);
    sqlite3_reset(st);
    free(sorted);
    return rc;
}

char *store_labels_json(const brn_job_label *labels, int n)
{
    json_t *o = json_object();
    char *text = NULL;
    if (!o)
        return NULL;
    for (int i = 0; i < n; i++)
        if (json_object_set_new(o, labels[i].key, json_string(labels[i].value ? labels[i].value : "")))
            goto done;
    text = json_dumps(o, JSON_COMPACT);
done:
    json_decref(o);
    return text;
}
