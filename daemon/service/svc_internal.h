/* Internals shared by the service's handler files. */
#ifndef BRN_SVC_INTERNAL_H
#define BRN_SVC_INTERNAL_H

#include "convert.h"
#include "grpc/health/v1/health.pb-c.h"
#include "service.h"
#include "validate.h"

typedef struct svc_watcher {
    struct svc_watcher *next, *prev;
    brn_service *svc;
    brn_rpc_call *call;
    int64_t job_id;
} svc_watcher;

#define SVC_N_METHODS 8

struct brn_service {
    brn_store *store;
    brn_scheduler *sched;
    char *data_dir;
    int shutting_down;
    svc_watcher watchers;        /* list head (circular) */
    int n_watchers;
    rpc_method methods[SVC_N_METHODS];
};

/* A store error -> the call's status (NOT_FOUND, FAILED_PRECONDITION, INTERNAL). */
void svc_fail_store(brn_rpc_call *call, int rc, const char *err);

/* Validate a request's job id and load the job; on failure the call is answered
 * (INVALID_ARGUMENT or the store's status) and -1 returned. */
int svc_load_job(brn_rpc_call *call, brn_service *svc, int64_t id, brn_job_row *row);

/* Handlers, one file per area. */
void svc_submit_job(brn_rpc_call *call, const ProtobufCMessage *req, void *user);
void svc_get_job(brn_rpc_call *call, const ProtobufCMessage *req, void *user);
void svc_list_jobs(brn_rpc_call *call, const ProtobufCMessage *req, void *user);
void svc_cancel_job(brn_rpc_call *call, const ProtobufCMessage *req, void *user);
void svc_watch_job(brn_rpc_call *call, const ProtobufCMessage *req, void *user);
void svc_get_metrics(brn_rpc_call *call, const ProtobufCMessage *req, void *user);
void svc_get_server_info(brn_rpc_call *call, const ProtobufCMessage *req, void *user);
void svc_health_check(brn_rpc_call *call, const ProtobufCMessage *req, void *user);

/* watch.c: listener callbacks */
void svc_publish_job(void *user, int64_t job_id);
void svc_publish_progress(void *user, int64_t job_id, const brn_step_info *s);
void svc_publish_epoch(void *user, int64_t job_id, const brn_epoch_metrics *m);
void svc_watchers_free(brn_service *svc);

#endif
