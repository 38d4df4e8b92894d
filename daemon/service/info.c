/* GetMetrics (curves), GetServerInfo, grpc.health.v1.Health/Check. */
#include "svc_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "engine.h"
#include "admit.h"
#include "spec_proto.h"

/* The curve of one stored job (row is only read). NULL with *rc and err on failure. */
static Brn__V1__JobCurve *curve_new(brn_service *svc, const brn_job_row *row, int *rc, char *err, size_t errlen)
{
    Brn__V1__JobCurve *c = malloc(sizeof *c);
    brn_epoch_metrics *eps = NULL;
    int n = 0;
    if (!c) goto oom;
    brn__v1__job_curve__init(c);
    c->job_id = row->id;
    c->state = convert_job_state(row->state);
    if (row->name && row->name[0] && !(c->name = strdup(row->name))) {
        c->name = (char *)protobuf_c_empty_string;
        goto oom_curve;
    }
    brn_job_spec spec;
    if (brn_spec_from_json_text(row->spec_json, &spec, err, errlen) == 0) c->spec = spec_to_proto(&spec, err, errlen);
    if ((*rc = store_epochs_get(svc->store, row->id, 0, 1, &eps, &n, err, errlen))) goto fail_curve;
    if (n > 0 && !(c->epochs = calloc((size_t)n, sizeof *c->epochs))) goto oom_curve;
    for (int i = 0; i < n; i++) {
        if (!(c->epochs[i] = convert_epoch(&eps[i]))) goto oom_curve;
        c->n_epochs++;
    }
    store_epochs_free(eps, n);
    return c;
oom_curve:
    store_epochs_free(eps, n);
    protobuf_c_message_free_unpacked(&c->base, NULL);
oom:
    *rc = BRN_ENOMEM;
    snprintf(err, errlen, "out of memory");
    return NULL;
fail_curve:
    store_epochs_free(eps, n);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    return NULL;
}

/* 1 when the row carries every label of the request (its labels_json is {"key":"value"}). */
static int row_has_labels(const brn_job_row *row, Brn__V1__Label *const *labels, size_t n)
{
    if (n == 0) return 1;
    json_t *o = row->labels_json ? json_loads(row->labels_json, 0, NULL) : NULL;
    int all = 1;
    for (size_t i = 0; i < n && all; i++) {
        const char *v = json_string_value(json_object_get(o, labels[i]->key));
        all = v && !strcmp(v, labels[i]->value ? labels[i]->value : "");
    }
    json_decref(o);
    return all;
}

/* The jobs a GetMetrics request names: its job_ids (in order) that carry its labels, or
 * with no job_ids every job carrying the labels, oldest first. Answers the call and
 * returns -1 on failure. */
static int metrics_rows(brn_rpc_call *call, brn_service *svc, const Brn__V1__GetMetricsRequest *req,
                        brn_job_row **rows, int *n)
{
    char err[512];
    int rc;
    *rows = NULL;
    *n = 0;
    if (req->n_job_ids == 0) {
        brn_job_label labels[SVC_LABELS_MAX];
        validate_store_labels(req->labels, req->n_labels, labels);
        brn_job_filter f = {.labels = labels, .n_labels = (int)req->n_labels, .limit = SVC_METRICS_MAX_JOBS};
        int64_t next = 0;
        if ((rc = store_job_list(svc->store, &f, rows, n, &next, err, sizeof err))) {
            svc_fail_store(call, svc, rc, err);
            return -1;
        }
        if (next) {
            brn_job_rows_free(*rows, *n);
            rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                          "labels: more than %d jobs carry these labels; list them with ListJobs and ask by job_ids",
                          SVC_METRICS_MAX_JOBS);
            return -1;
        }
        return 0;
    }
    if (!(*rows = calloc(req->n_job_ids, sizeof **rows))) {
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < req->n_job_ids; i++) {
        brn_job_row *row = &(*rows)[*n];
        if ((rc = store_job_get(svc->store, req->job_ids[i], row, err, sizeof err))) {
            brn_job_rows_free(*rows, *n);
            if (rc == STORE_NOT_FOUND) rpc_call_fail(call, GRPC_STATUS_NOT_FOUND, "job_ids: job %lld not found",
                                                     (long long)req->job_ids[i]);
            else svc_fail_store(call, svc, rc, err);
            return -1;
        }
        if (row_has_labels(row, req->labels, req->n_labels)) (*n)++;
        else brn_job_row_free(row);
    }
    return 0;
}

void svc_get_metrics(brn_rpc_call *call, const ProtobufCMessage *msg, void *user)
{
    brn_service *svc = user;
    const Brn__V1__GetMetricsRequest *req = (const Brn__V1__GetMetricsRequest *)msg;
    char err[512];
    brn_job_row *rows;
    int n;
    if (validate_metrics(req, err, sizeof err)) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
        return;
    }
    if (metrics_rows(call, svc, req, &rows, &n)) return;
    Brn__V1__GetMetricsResponse *resp = malloc(sizeof *resp);
    if (resp) {
        brn__v1__get_metrics_response__init(resp);
        resp->curves = calloc(n ? (size_t)n : 1, sizeof *resp->curves);
    }
    if (!resp || !resp->curves) {
        free(resp);
        brn_job_rows_free(rows, n);
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        int rc = 0;
        Brn__V1__JobCurve *c = curve_new(svc, &rows[i], &rc, err, sizeof err);
        if (!c) {
            protobuf_c_message_free_unpacked(&resp->base, NULL);
            brn_job_rows_free(rows, n);
            svc_fail_store(call, svc, rc, err);
            return;
        }
        resp->curves[resp->n_curves++] = c;
    }
    brn_job_rows_free(rows, n);
    rpc_call_reply(call, &resp->base);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

void svc_get_server_info(brn_rpc_call *call, const ProtobufCMessage *msg, void *user)
{
    brn_service *svc = user;
    Brn__V1__GetServerInfoResponse resp;
    brn__v1__get_server_info_response__init(&resp);
    resp.version = (char *)BRN_VERSION;

    brn_device_info dev[1 + BRN_MAX_GPUS];
    Brn__V1__Device dmsg[1 + BRN_MAX_GPUS], *dptr[1 + BRN_MAX_GPUS];
    int nd = scheduler_devices(svc->sched, dev, 1 + BRN_MAX_GPUS);
    for (int i = 0; i < nd; i++) {
        brn__v1__device__init(&dmsg[i]);
        dmsg[i].name = dev[i].name;
        dmsg[i].kind = dev[i].kind;
        dmsg[i].id = dev[i].id;
        dmsg[i].memory_bytes = dev[i].memory_bytes;
        dmsg[i].running_job = dev[i].running_job;
        const int64_t budget = limits_memory_budget(svc->limits, dev[i].id);
        dmsg[i].memory_budget_bytes = budget > 0 ? budget : 0;
        dptr[i] = &dmsg[i];
    }
    resp.devices = dptr;
    resp.n_devices = (size_t)nd;
    resp.gpu_unavailable = (char *)scheduler_gpu_unavailable(svc->sched);

    const char *names[16];
    int nn = brn_dataset_list_available(svc->data_dir, names, 16);
    resp.datasets = (char **)names;
    resp.n_datasets = (size_t)(nn > 0 ? nn : 0);

    long queued = 0, running = 0;
    char err[256];
    if (store_job_count(svc->store, BRN_JOB_STATE_BIT(BRN_JOB_QUEUED), &queued, err, sizeof err) ||
        store_job_count(svc->store, BRN_JOB_STATE_BIT(BRN_JOB_RUNNING), &running, err, sizeof err)) {
        svc_fail_store(call, svc, BRN_EIO, err);
        return;
    }
    resp.queued = (int32_t)queued;
    resp.running = (int32_t)running;
    const brn_limits *l = svc->limits;
    Brn__V1__ServerLimits lim = BRN__V1__SERVER_LIMITS__INIT;
    lim.max_epochs = l->max_epochs;
    lim.max_steps = l->max_steps;
    lim.max_queued = l->max_queued;
    lim.max_watch_streams = l->max_watch_streams;
    lim.max_job_disk_bytes = l->max_job_disk;
    lim.keep_epoch_checkpoints = l->keep_epoch_checkpoints;
    lim.max_crashes = l->max_crashes;
    lim.cpu_cores = l->cpu_cores;
    resp.limits = &lim;
    /* everything here is on the stack or static: pack only, never free_unpacked */
    rpc_call_reply(call, &resp.base);
}

void svc_health_check(brn_rpc_call *call, const ProtobufCMessage *msg, void *user)
{
    brn_service *svc = user;
    const Grpc__Health__V1__HealthCheckRequest *req = (const Grpc__Health__V1__HealthCheckRequest *)msg;
    const char *name = req->service ? req->service : "";
    if (name[0] && strcmp(name, "brn.v1.Trainer") != 0 && strcmp(name, "grpc.health.v1.Health") != 0) {
        rpc_call_fail(call, GRPC_STATUS_NOT_FOUND, "service: '%s' is not served here", name);
        return;
    }
    Grpc__Health__V1__HealthCheckResponse resp;
    grpc__health__v1__health_check_response__init(&resp);
    resp.status = svc->shutting_down ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
                                     : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    rpc_call_reply(call, &resp.base);
}
