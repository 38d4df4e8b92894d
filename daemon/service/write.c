/* The writes of SubmitJob and CancelJob: applied by the store writer (never on the loop),
 * with a deadline (SVC_WRITE_DEADLINE_MS) so that a client gets UNAVAILABLE rather than
 * wait on a full disk; the reply is sent when the write is done. A client that went away
 * meanwhile is noticed through the call's on_done and not answered. */
#include "svc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jobdir.h"
#include "common/log.h"

typedef enum { W_SUBMIT, W_CANCEL, W_DELETE } write_kind;

typedef struct svc_write_op {
    write_kind kind;
    brn_service *svc;
    brn_rpc_call *call;          /* NULL once the client went away */
    int64_t id;                  /* CANCEL in; SUBMIT out */
    /* SUBMIT: job points into the copies below */
    brn_job_new job;
    char name[SVC_NAME_MAX + 1], key[SVC_KEY_MAX + 1];
    char *spec_text;
    brn_job_label labels[SVC_LABELS_MAX];
    char label_text[SVC_LABELS_MAX][SVC_LABEL_KEY_MAX + 1 + SVC_LABEL_VALUE_MAX + 1];
    char summary[320];           /* for the log */
    int existed;
    /* CANCEL out: the state the job was in */
    brn_job_state was;
    /* DELETE: the job's directory; out: the bytes its files took */
    char dir[BRN_SPEC_PATH_LEN];
    int64_t bytes_freed;
} svc_write_op;

static void call_gone(brn_rpc_call *call, void *user)
{
    svc_write_op *op = user;
    op->call = NULL;
}

/* ---- writer thread ---- */

static int apply_cancel(brn_store *st, svc_write_op *op, char *err, size_t errlen)
{
    brn_job_row row;
    int rc = store_job_get(st, op->id, &row, err, errlen);
    if (rc) return rc;
    op->was = row.state;
    brn_job_row_free(&row);
    if (store_job_state_is_final(op->was))
        return brn_errorf(err, errlen, STORE_CONFLICT, "job %lld is already %s", (long long)op->id,
                          store_job_state_name(op->was));
    if (op->was == BRN_JOB_QUEUED)
        return store_job_set_state(st, op->id, BRN_JOB_CANCELLED, "cancelled by request", NULL, NULL, err, errlen);
    /* RUNNING: the worker stops at the next batch boundary; the job turns CANCELLED then */
    return store_job_request_cancel(st, op->id, err, errlen);
}

/* The files first: a delete that fails halfway leaves a finished job without files (which
 * it no longer needs) rather than files without a job; deleting again finishes it. */
static int apply_delete(brn_store *st, svc_write_op *op, char *err, size_t errlen)
{
    brn_job_row row;
    int rc = store_job_get(st, op->id, &row, err, errlen);
    if (rc) return rc;
    brn_job_state state = row.state;
    brn_job_row_free(&row);
    if (!store_job_state_is_final(state))
        return brn_errorf(err, errlen, STORE_CONFLICT, "job %lld is %s: cancel it first, then delete it",
                          (long long)op->id, store_job_state_name(state));
    op->bytes_freed = jobdir_bytes(op->dir);
    if ((rc = jobdir_remove(op->dir))) return store_os_error(st, -rc, op->dir, err, errlen);
    return store_job_delete(st, op->id, err, errlen);
}

static int apply_write(brn_store *st, void *arg, char *err, size_t errlen)
{
    svc_write_op *op = arg;
    if (op->kind == W_CANCEL) return apply_cancel(st, op, err, errlen);
    if (op->kind == W_DELETE) return apply_delete(st, op, err, errlen);
    return store_job_create(st, &op->job, &op->id, &op->existed, err, errlen);
}

/* ---- loop thread ---- */

static void done_submit(svc_write_op *op, int rc, const char *err)
{
    brn_service *svc = op->svc;
    if (rc == 0 && op->job.dry_run && !op->existed) {
        if (op->call) svc_reply_would_be_job(op->call, &op->job);
        return;
    }
    if (rc == 0 && !op->existed) {
        LOG_INFO("job %lld: submitted (%s)", (long long)op->id, op->summary);
        scheduler_kick(svc->sched);
    }
    if (!op->call) return;
    if (rc == STORE_CONFLICT)
        rpc_call_fail(op->call, GRPC_STATUS_ALREADY_EXISTS,
                      "idempotency_key: already used by job %lld with a different spec or labels", (long long)op->id);
    else if (rc)
        svc_fail_store(op->call, svc, rc, err);
    else
        svc_reply_job(op->call, svc, op->id);
}

static void done_cancel(svc_write_op *op, int rc, const char *err)
{
    brn_service *svc = op->svc;
    if (rc == 0 && op->was == BRN_JOB_QUEUED) {
        LOG_INFO("job %lld: cancelled while queued", (long long)op->id);
        svc_publish_job(svc, op->id);
    } else if (rc == 0) {
        if (!scheduler_cancel(svc->sched, op->id))
            LOG_WARN("job %lld: RUNNING in the store but on no worker", (long long)op->id);
        LOG_INFO("job %lld: cancel requested", (long long)op->id);
    }
    if (!op->call) return;
    if (rc) svc_fail_store(op->call, svc, rc, err);
    else svc_reply_job(op->call, svc, op->id);
}

static void done_delete(svc_write_op *op, int rc, const char *err)
{
    if (rc == 0) LOG_INFO("job %lld: deleted (%lld bytes of checkpoints)", (long long)op->id, (long long)op->bytes_freed);
    if (!op->call) return;
    if (rc) {
        svc_fail_store(op->call, op->svc, rc, err);
        return;
    }
    Brn__V1__DeleteJobResponse resp = BRN__V1__DELETE_JOB_RESPONSE__INIT;
    resp.id = op->id;
    resp.bytes_freed = op->bytes_freed;
    rpc_call_reply(op->call, &resp.base);
}

static void done_write(void *arg, int rc, const char *err)
{
    svc_write_op *op = arg;
    if (op->call) rpc_call_set_on_done(op->call, NULL, NULL);
    if (op->kind == W_SUBMIT) done_submit(op, rc, err);
    else if (op->kind == W_DELETE) done_delete(op, rc, err);
    else done_cancel(op, rc, err);
    free(op->spec_text);
    free(op);
}

static void post(svc_write_op *op, brn_rpc_call *call, const char *what)
{
    char err[512];
    op->call = call;
    store_write wr = {.what = what, .apply = apply_write, .done = done_write, .arg = op,
                      .deadline_ms = SVC_WRITE_DEADLINE_MS};
    int rc = store_writer_post(op->svc->writer, &wr, err, sizeof err);
    if (rc) {
        svc_fail_store(call, op->svc, rc, err);
        free(op->spec_text);
        free(op);
        return;
    }
    rpc_call_set_on_done(call, call_gone, op);
}

void svc_write_submit(brn_rpc_call *call, brn_service *svc, const brn_job_new *job, const char *summary)
{
    svc_write_op *op = calloc(1, sizeof *op);
    if (!op || !(op->spec_text = strdup(job->spec_json))) {
        free(op);
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    op->kind = W_SUBMIT;
    op->svc = svc;
    /* validate_submit bounded every length: the copies fit */
    snprintf(op->name, sizeof op->name, "%s", job->name ? job->name : "");
    snprintf(op->key, sizeof op->key, "%s", job->idempotency_key ? job->idempotency_key : "");
    int n = job->n_labels < SVC_LABELS_MAX ? job->n_labels : SVC_LABELS_MAX;
    for (int i = 0; i < n; i++) {
        char *t = op->label_text[i];
        size_t k = strlen(job->labels[i].key) + 1;
        snprintf(t, sizeof op->label_text[i], "%s", job->labels[i].key);
        snprintf(t + k, sizeof op->label_text[i] - k, "%s", job->labels[i].value ? job->labels[i].value : "");
        op->labels[i] = (brn_job_label){.key = t, .value = t + k};
    }
    op->job = (brn_job_new){.name = op->name, .priority = job->priority, .idempotency_key = op->key,
                            .spec_json = op->spec_text, .labels = op->labels, .n_labels = n, .dry_run = job->dry_run};
    snprintf(op->summary, sizeof op->summary, "%s", summary);
    post(op, call, job->dry_run ? "a job to validate" : "a submitted job");
}

void svc_write_cancel(brn_rpc_call *call, brn_service *svc, int64_t id)
{
    svc_write_op *op = calloc(1, sizeof *op);
    if (!op) {
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    op->kind = W_CANCEL;
    op->svc = svc;
    op->id = id;
    char what[64];
    snprintf(what, sizeof what, "the cancel of job %lld", (long long)id);
    post(op, call, what);
}

void svc_write_delete(brn_rpc_call *call, brn_service *svc, int64_t id)
{
    svc_write_op *op = calloc(1, sizeof *op);
    if (!op) {
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    op->kind = W_DELETE;
    op->svc = svc;
    op->id = id;
    if (jobdir_path(op->dir, sizeof op->dir, svc->state_dir, id)) {
        free(op);
        rpc_call_fail(call, GRPC_STATUS_INTERNAL, "the state directory's path is too long");
        return;
    }
    char what[64];
    snprintf(what, sizeof what, "the deletion of job %lld", (long long)id);
    post(op, call, what);
}
