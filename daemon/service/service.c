/* The service object, its method table, and the job handlers: Submit, Get, List, Cancel. */
#include "svc_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "common/log.h"
#include "admit.h"
#include "spec_proto.h"

int service_create(brn_store *store, store_writer *writer, const char *state_dir, const char *data_dir,
                   const brn_limits *limits, brn_service **out, char *err, size_t errlen)
{
    brn_service *svc = calloc(1, sizeof *svc);
    if (!svc || !(svc->data_dir = strdup(data_dir ? data_dir : "")) || !(svc->state_dir = strdup(state_dir))) {
        if (svc) free(svc->data_dir);
        free(svc);
        snprintf(err, errlen, "out of memory");
        return BRN_ENOMEM;
    }
    svc->store = store;
    svc->writer = writer;
    svc->limits = limits;
    svc->watchers.next = svc->watchers.prev = &svc->watchers;
    const rpc_method m[SVC_N_METHODS] = {
        {"/brn.v1.Trainer/SubmitJob", RPC_UNARY, &brn__v1__submit_job_request__descriptor, svc_submit_job, svc},
        {"/brn.v1.Trainer/GetJob", RPC_UNARY, &brn__v1__get_job_request__descriptor, svc_get_job, svc},
        {"/brn.v1.Trainer/ListJobs", RPC_UNARY, &brn__v1__list_jobs_request__descriptor, svc_list_jobs, svc},
        {"/brn.v1.Trainer/CancelJob", RPC_UNARY, &brn__v1__cancel_job_request__descriptor, svc_cancel_job, svc},
        {"/brn.v1.Trainer/WatchJob", RPC_SERVER_STREAM, &brn__v1__watch_job_request__descriptor, svc_watch_job, svc},
        {"/brn.v1.Trainer/GetMetrics", RPC_UNARY, &brn__v1__get_metrics_request__descriptor, svc_get_metrics, svc},
        {"/brn.v1.Trainer/GetServerInfo", RPC_UNARY, &brn__v1__get_server_info_request__descriptor,
         svc_get_server_info, svc},
        {"/grpc.health.v1.Health/Check", RPC_UNARY, &grpc__health__v1__health_check_request__descriptor,
         svc_health_check, svc},
        {"/brn.v1.Trainer/DeleteJob", RPC_UNARY, &brn__v1__delete_job_request__descriptor, svc_delete_job, svc},
    };
    memcpy(svc->methods, m, sizeof m);
    *out = svc;
    return 0;
}

brn_sched_listener service_listener(brn_service *svc)
{
    brn_sched_listener l = {svc, svc_publish_job, svc_publish_progress, svc_publish_epoch};
    return l;
}

void service_set_scheduler(brn_service *svc, brn_scheduler *sched) { svc->sched = sched; }

const rpc_method *service_methods(brn_service *svc, int *n)
{
    *n = SVC_N_METHODS;
    return svc->methods;
}

void service_set_shutting_down(brn_service *svc) { svc->shutting_down = 1; }

int service_watcher_count(const brn_service *svc) { return svc->n_watchers; }

void service_free(brn_service *svc)
{
    if (!svc) return;
    svc_watchers_free(svc);
    free(svc->state_dir);
    free(svc->data_dir);
    free(svc);
}

void svc_fail_store(brn_rpc_call *call, brn_service *svc, int rc, const char *err)
{
    if (rc == STORE_NOT_FOUND) rpc_call_fail(call, GRPC_STATUS_NOT_FOUND, "%s", err);
    else if (rc == STORE_CONFLICT) rpc_call_fail(call, GRPC_STATUS_FAILED_PRECONDITION, "%s", err);
    else if (rc == STORE_UNAVAILABLE || (rc == BRN_EIO && store_error_is_transient(store_last_error_code(svc->store)))) {
        /* a full disk or a lock held elsewhere: nothing is wrong with the request */
        LOG_WARN_LIMITED("%s: %s", rpc_call_method(call), err);
        rpc_call_fail(call, GRPC_STATUS_UNAVAILABLE, BRN_STATUS_STORE_BUSY ": %s", err);
    } else {
        LOG_ERROR("%s: store: %s", rpc_call_method(call), err);
        rpc_call_fail(call, GRPC_STATUS_INTERNAL, "store: %s", err);
    }
}

void svc_reply_job(brn_rpc_call *call, brn_service *svc, int64_t id)
{
    char err[512];
    brn_job_row row;
    int rc = store_job_get(svc->store, id, &row, err, sizeof err);
    if (rc) {
        svc_fail_store(call, svc, rc, err);
        return;
    }
    Brn__V1__Job *job = convert_job(&row);
    brn_job_row_free(&row);
    if (!job) {
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    rpc_call_reply(call, &job->base);
    protobuf_c_message_free_unpacked(&job->base, NULL);
}

/* validate_only: the job a submit would create, as a QUEUED job with id 0. */
void svc_reply_would_be_job(brn_rpc_call *call, const brn_job_new *j)
{
    json_t *labels = json_object();
    for (int i = 0; labels && i < j->n_labels; i++)
        json_object_set_new(labels, j->labels[i].key, json_string(j->labels[i].value));
    brn_job_row row = {.name = (char *)j->name, .priority = j->priority, .spec_json = (char *)j->spec_json,
                       .state = BRN_JOB_QUEUED,
                       .labels_json = labels ? json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS) : NULL};
    json_decref(labels);
    Brn__V1__Job *job = (j->n_labels == 0 || row.labels_json) ? convert_job(&row) : NULL;
    free(row.labels_json);
    if (!job) {
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    rpc_call_reply(call, &job->base);
    protobuf_c_message_free_unpacked(&job->base, NULL);
}

/* A dataset must be present on this server (synthetic always is). */
static int dataset_ok(brn_service *svc, const char *name, char *err, size_t errlen)
{
    const char *names[16];
    int n = brn_dataset_list_available(svc->data_dir, names, 16);
    if (strcmp(name, "synthetic") == 0) return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return 0;
    size_t o = (size_t)snprintf(err, errlen, "dataset: '%s' is not available on this server (available:", name);
    for (int i = 0; i < n && o < errlen; i++) o += (size_t)snprintf(err + o, errlen - o, " %s", names[i]);
    if (o < errlen) snprintf(err + o, errlen - o, "%s)", n ? "" : " synthetic");
    return -1;
}

void svc_submit_job(brn_rpc_call *call, const ProtobufCMessage *msg, void *user)
{
    brn_service *svc = user;
    const Brn__V1__SubmitJobRequest *req = (const Brn__V1__SubmitJobRequest *)msg;
    brn_job_spec spec;
    char err[1024];
    if (validate_submit(req, &spec, err, sizeof err) || dataset_ok(svc, spec.dataset, err, sizeof err)) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
        return;
    }
    if (scheduler_check_device(svc->sched, &spec, err, sizeof err)) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
        return;
    }
    char note[160], device[32];
    scheduler_budget_device(svc->sched, &spec, device, sizeof device);
    if (admit_job(svc->limits, &spec, device, note, sizeof note, err, sizeof err)) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
        return;
    }
    long queued = 0;
    int rc = store_job_count(svc->store, BRN_JOB_STATE_BIT(BRN_JOB_QUEUED), &queued, err, sizeof err);
    if (rc) {
        svc_fail_store(call, svc, rc, err);
        return;
    }
    if (queued >= svc->limits->max_queued) {
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "queue: %ld jobs are queued, as many as this server "
                      "takes (--max-queued %d); submit again when some have run", queued, svc->limits->max_queued);
        return;
    }
    /* sorted keys: the same spec always gives the same text (idempotency compares it) */
    json_t *j = brn_spec_to_json(&spec);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (!text) {
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    brn_job_label labels[SVC_LABELS_MAX];
    validate_store_labels(req->labels, req->n_labels, labels);
    const brn_job_new job = {.name = req->name ? req->name : "", .priority = req->priority,
                             .idempotency_key = req->idempotency_key, .spec_json = text, .labels = labels,
                             .n_labels = (int)req->n_labels, .dry_run = req->validate_only};
    char summary[320];
    snprintf(summary, sizeof summary, "%s, %s, depth %d, width %d%s%s", spec.dataset, brn_norm_kind_name(spec.norm),
             spec.depth, spec.width, note[0] ? "; " : "", note);
    svc_write_submit(call, svc, &job, summary);
    free(text);
}

int svc_load_job(brn_rpc_call *call, brn_service *svc, int64_t id, brn_job_row *row)
{
    char err[512];
    if (validate_job_id("id", id, err, sizeof err)) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
        return -1;
    }
    int rc = store_job_get(svc->store, id, row, err, sizeof err);
    if (rc) {
        svc_fail_store(call, svc, rc, err);
        return -1;
    }
    return 0;
}

void svc_get_job(brn_rpc_call *call, const ProtobufCMessage *msg, void *user)
{
    const Brn__V1__GetJobRequest *req = (const Brn__V1__GetJobRequest *)msg;
    char err[256];
    if (validate_job_id("id", req->id, err, sizeof err)) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
        return;
    }
    svc_reply_job(call, user, req->id);
}

void svc_list_jobs(brn_rpc_call *call, const ProtobufCMessage *msg, void *user)
{
    brn_service *svc = user;
    const Brn__V1__ListJobsRequest *req = (const Brn__V1__ListJobsRequest *)msg;
    brn_job_filter f;
    char err[512];
    brn_job_label labels[SVC_LABELS_MAX];
    if (validate_list(req, &f, err, sizeof err)) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
        return;
    }
    validate_store_labels(req->labels, req->n_labels, labels);
    f.labels = labels;
    f.n_labels = (int)req->n_labels;
    brn_job_row *rows = NULL;
    int n = 0;
    int64_t next = 0;
    int rc = store_job_list(svc->store, &f, &rows, &n, &next, err, sizeof err);
    if (rc) {
        svc_fail_store(call, svc, rc, err);
        return;
    }
    Brn__V1__ListJobsResponse *resp = malloc(sizeof *resp);
    char token[32];
    if (!resp) goto oom;
    brn__v1__list_jobs_response__init(resp);
    validate_page_token(next, token, sizeof token);
    if (token[0] && !(resp->next_page_token = strdup(token))) {
        resp->next_page_token = (char *)protobuf_c_empty_string;
        goto oom_resp;
    }
    if (n > 0 && !(resp->jobs = calloc((size_t)n, sizeof *resp->jobs))) goto oom_resp;
    for (int i = 0; i < n; i++) {
        if (!(resp->jobs[i] = convert_job(&rows[i]))) goto oom_resp;
        resp->n_jobs++;
    }
    brn_job_rows_free(rows, n);
    rpc_call_reply(call, &resp->base);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return;
oom_resp:
    protobuf_c_message_free_unpacked(&resp->base, NULL);
oom:
    brn_job_rows_free(rows, n);
    rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

void svc_cancel_job(brn_rpc_call *call, const ProtobufCMessage *msg, void *user)
{
    brn_service *svc = user;
    const Brn__V1__CancelJobRequest *req = (const Brn__V1__CancelJobRequest *)msg;
    brn_job_row row;
    if (svc_load_job(call, svc, req->id, &row)) return;
    brn_job_state st = row.state;
    brn_job_row_free(&row);
    if (store_job_state_is_final(st)) {
        rpc_call_fail(call, GRPC_STATUS_FAILED_PRECONDITION, "job %lld is already %s", (long long)req->id,
                      store_job_state_name(st));
        return;
    }
    svc_write_cancel(call, svc, req->id);
}

void svc_delete_job(brn_rpc_call *call, const ProtobufCMessage *msg, void *user)
{
    brn_service *svc = user;
    const Brn__V1__DeleteJobRequest *req = (const Brn__V1__DeleteJobRequest *)msg;
    brn_job_row row;
    if (svc_load_job(call, svc, req->id, &row)) return;
    brn_job_state st = row.state;
    brn_job_row_free(&row);
    if (!store_job_state_is_final(st)) {
        rpc_call_fail(call, GRPC_STATUS_FAILED_PRECONDITION, "job %lld is %s: cancel it first, then delete it",
                      (long long)req->id, store_job_state_name(st));
        return;
    }
    svc_write_delete(call, svc, req->id);
}
