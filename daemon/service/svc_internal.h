/* Internals shared by the service's handler files. */
#ifndef BRN_SVC_INTERNAL_H
#define BRN_SVC_INTERNAL_H

#include "common/status.h"
#include "convert.h"
#include "grpc/health/v1/health.pb-c.h"
#include "service.h"
#include "validate.h"

typedef struct svc_watcher {
    struct svc_watcher *next, *prev;
    brn_service *svc;
    brn_rpc_call *call;
    int64_t job_id;
    int catching_up;             /* stored epochs are still being sent, page by page */
    int last_epoch;              /* the highest epoch sent on this stream */
    int job_pending;             /* the job changed during the catch-up: send it after */
    int final_at_start;          /* the job had ended: the stream ends after the catch-up */
} svc_watcher;

#define SVC_N_METHODS 9

struct brn_service {
    brn_store *store;            /* the loop's read-only connection */
    store_writer *writer;
    const brn_limits *limits;
    brn_scheduler *sched;
    char *state_dir, *data_dir;
    int shutting_down;
    svc_watcher watchers;        /* list head (circular) */
    int n_watchers;
    rpc_method methods[SVC_N_METHODS];
};

/* A store error -> the call's status (NOT_FOUND, FAILED_PRECONDITION, UNAVAILABLE for a
 * write that could not be made in time or a read that met a lock, INTERNAL). */
void svc_fail_store(brn_rpc_call *call, brn_service *svc, int rc, const char *err);

/* Validate a request's job id and load the job; on failure the call is answered
 * (INVALID_ARGUMENT or the store's status) and -1 returned. */
int svc_load_job(brn_rpc_call *call, brn_service *svc, int64_t id, brn_job_row *row);

/* How long a client's write may wait for the store (a full disk, a lock held elsewhere)
 * before the call answers UNAVAILABLE with nothing written. */
#define SVC_WRITE_DEADLINE_MS 5000

/* write.c: a request's write through the store writer; the call is answered when it is
 * done (or forgotten if the client went away meanwhile). */
/* job is copied (strings and labels included) */
void svc_write_submit(brn_rpc_call *call, brn_service *svc, const brn_job_new *job, const char *summary);
void svc_write_cancel(brn_rpc_call *call, brn_service *svc, int64_t id);
/* DeleteJob: the job's files, then its record; refused unless the job is final. */
void svc_write_delete(brn_rpc_call *call, brn_service *svc, int64_t id);

/* Reply with the job as stored now. */
void svc_reply_job(brn_rpc_call *call, brn_service *svc, int64_t id);

/* Reply to a validate_only submit with the job it would create. */
void svc_reply_would_be_job(brn_rpc_call *call, const brn_job_new *j);

/* Handlers, one file per area. */
void svc_submit_job(brn_rpc_call *call, const ProtobufCMessage *req, void *user);
void svc_get_job(brn_rpc_call *call, const ProtobufCMessage *req, void *user);
void svc_list_jobs(brn_rpc_call *call, const ProtobufCMessage *req, void *user);
void svc_cancel_job(brn_rpc_call *call, const ProtobufCMessage *req, void *user);
void svc_delete_job(brn_rpc_call *call, const ProtobufCMessage *req, void *user);
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
