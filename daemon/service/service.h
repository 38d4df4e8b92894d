/* The RPC handlers of brn.v1.Trainer and grpc.health.v1.Health: validate the request,
 * then call the store (reads, submits) and the scheduler (kick, cancel). WatchJob
 * streams fan out from the scheduler's listener. Loop thread only. */
#ifndef BRN_SERVICE_H
#define BRN_SERVICE_H

#include <stddef.h>

#include "rpc/rpc.h"
#include "scheduler/scheduler.h"
#include "common/limits.h"
#include "store/store.h"
#include "store/store_writer.h"

typedef struct brn_service brn_service;

/* store: the loop's read-only connection; writer: every write; state_dir: where the jobs'
 * directories are (DeleteJob removes them); limits: lives as long as svc. */
int service_create(brn_store *store, store_writer *writer, const char *state_dir, const char *data_dir,
                   const brn_limits *limits, brn_service **out, char *err, size_t errlen);

/* The listener to give scheduler_create; then hand the scheduler back here. */
brn_sched_listener service_listener(brn_service *svc);
void service_set_scheduler(brn_service *svc, brn_scheduler *sched);

/* The method table for rpc_server_create (lives as long as svc). */
const rpc_method *service_methods(brn_service *svc, int *n);

/* Health answers NOT_SERVING from now on. */
void service_set_shutting_down(brn_service *svc);

/* End every WatchJob stream with UNAVAILABLE and this message (before a shutdown), so
 * clients learn why rather than seeing a cancelled call. */
void service_end_watches(brn_service *svc, const char *why);

/* The number of open WatchJob streams. */
int service_watcher_count(const brn_service *svc);

void service_free(brn_service *svc);

#endif
