/* WatchJob: the catch-up (job + stored epochs) then live events fanned out to every
 * stream watching the job; a stream ends after the job's terminal state. */
#include "svc_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static void watcher_on_done(brn_rpc_call *call, void *user)
{
    svc_watcher *w = user;
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->svc->n_watchers--;
    free(w);
}

void svc_watchers_free(brn_service *svc)
{
    while (svc->watchers.next != &svc->watchers) {
        svc_watcher *w = svc->watchers.next;
        rpc_call_set_on_done(w->call, NULL, NULL);
        watcher_on_done(w->call, w);
    }
}

void service_end_watches(brn_service *svc, const char *why)
{
    /* on_done runs later, from the status batch's completion: the list stays intact here */
    for (svc_watcher *w = svc->watchers.next; w != &svc->watchers; w = w->next)
        rpc_call_finish(w->call, GRPC_STATUS_UNAVAILABLE, why);
}

static int send_event(brn_rpc_call *call, Brn__V1__WatchEvent *ev, int droppable)
{
    return rpc_call_send(call, &ev->base, droppable);
}

static void event_init(Brn__V1__WatchEvent *ev, int64_t job_id)
{
    brn__v1__watch_event__init(ev);
    ev->job_id = job_id;
}

/* Send ev to every watcher of job_id; end their streams when final. */
static void fan_out(brn_service *svc, int64_t job_id, Brn__V1__WatchEvent *ev, int droppable, int final)
{
    svc_watcher *w = svc->watchers.next;
    while (w != &svc->watchers) {
        svc_watcher *next = w->next; /* on_done never runs synchronously, but be safe */
        if (w->job_id == job_id) {
            send_event(w->call, ev, droppable);
            if (final) rpc_call_finish(w->call, GRPC_STATUS_OK, NULL);
        }
        w = next;
    }
}

static int has_watchers(const brn_service *svc, int64_t job_id)
{
    for (const svc_watcher *w = svc->watchers.next; w != &svc->watchers; w = w->next)
        if (w->job_id == job_id) return 1;
    return 0;
}

void svc_publish_job(void *user, int64_t job_id)
{
    brn_service *svc = user;
    if (!has_watchers(svc, job_id)) return;
    char err[256];
    brn_job_row row;
    if (store_job_get(svc->store, job_id, &row, err, sizeof err)) {
        LOG_ERROR("job %lld: %s", (long long)job_id, err);
        return;
    }
    int final = store_job_state_is_final(row.state);
    Brn__V1__WatchEvent ev;
    event_init(&ev, job_id);
    ev.event_case = BRN__V1__WATCH_EVENT__EVENT_JOB;
    ev.job = convert_job(&row);
    brn_job_row_free(&row);
    if (!ev.job) return;
    fan_out(svc, job_id, &ev, 0, final);
    protobuf_c_message_free_unpacked(&ev.job->base, NULL);
}

void svc_publish_progress(void *user, int64_t job_id, const brn_step_info *s)
{
    brn_service *svc = user;
    if (!has_watchers(svc, job_id)) return;
    Brn__V1__WatchEvent ev;
    event_init(&ev, job_id);
    ev.event_case = BRN__V1__WATCH_EVENT__EVENT_PROGRESS;
    if (!(ev.progress = convert_progress(s))) return;
    fan_out(svc, job_id, &ev, 1, 0);
    protobuf_c_message_free_unpacked(&ev.progress->base, NULL);
}

void svc_publish_epoch(void *user, int64_t job_id, const brn_epoch_metrics *m)
{
    brn_service *svc = user;
    if (!has_watchers(svc, job_id)) return;
    Brn__V1__WatchEvent ev;
    event_init(&ev, job_id);
    ev.event_case = BRN__V1__WATCH_EVENT__EVENT_EPOCH;
    if (!(ev.epoch = convert_epoch(m))) return;
    fan_out(svc, job_id, &ev, 0, 0);
    protobuf_c_message_free_unpacked(&ev.epoch->base, NULL);
}

void svc_watch_job(brn_rpc_call *call, const ProtobufCMessage *msg, void *user)
{
    brn_service *svc = user;
    const Brn__V1__WatchJobRequest *req = (const Brn__V1__WatchJobRequest *)msg;
    char err[512];
    brn_job_row row;
    if (svc_load_job(call, svc, req->id, &row)) return;
    int final = store_job_state_is_final(row.state);
    Brn__V1__WatchEvent ev;
    event_init(&ev, req->id);
    ev.event_case = BRN__V1__WATCH_EVENT__EVENT_JOB;
    ev.job = convert_job(&row);
    brn_job_row_free(&row);
    svc_watcher *w = final ? NULL : calloc(1, sizeof *w);
    if (!ev.job || (!final && !w)) {
        if (ev.job) protobuf_c_message_free_unpacked(&ev.job->base, NULL);
        free(w);
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    send_event(call, &ev, 0);
    protobuf_c_message_free_unpacked(&ev.job->base, NULL);

    /* catch up: every epoch stored so far, in order */
    brn_epoch_metrics *eps = NULL;
    int n = 0;
    if (store_epochs_get(svc->store, req->id, 0, 1, &eps, &n, err, sizeof err) == 0) {
        for (int i = 0; i < n; i++) {
            event_init(&ev, req->id);
            ev.event_case = BRN__V1__WATCH_EVENT__EVENT_EPOCH;
            if (!(ev.epoch = convert_epoch(&eps[i]))) break;
            send_event(call, &ev, 0);
            protobuf_c_message_free_unpacked(&ev.epoch->base, NULL);
        }
        store_epochs_free(eps, n);
    } else {
        LOG_ERROR("job %lld: %s", (long long)req->id, err);
    }
    if (final) {
        rpc_call_finish(call, GRPC_STATUS_OK, NULL);
        return;
    }
    /* live from here: everything runs on the loop, so no event slips in between */
    w->svc = svc;
    w->call = call;
    w->job_id = req->id;
    w->next = &svc->watchers;
    w->prev = svc->watchers.prev;
    svc->watchers.prev->next = w;
    svc->watchers.prev = w;
    svc->n_watchers++;
    rpc_call_set_on_done(call, watcher_on_done, w);
}
