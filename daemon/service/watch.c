/* WatchJob: the job, then the stored epochs page by page (WATCH_PAGE_EPOCHS at a time, the
 * next page once the client has taken the previous one: bounded memory however long the
 * curve), then live events fanned out to every stream watching the job; a stream ends
 * after the job's terminal state.
 *
 * While a stream catches up, live epochs are not sent (they are stored before they are
 * published, so a later page has them), and a job change is sent after the last page.
 * An epoch is never sent twice on a stream: live epochs at or below the last one sent are
 * skipped. */
#include "svc_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Epochs per catch-up page: at most this many epoch messages wait in a stream's queue. */
#define WATCH_PAGE_EPOCHS 256

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
        rpc_call_set_on_drained(w->call, NULL, NULL);
        watcher_on_done(w->call, w);
    }
}

void service_end_watches(brn_service *svc, const char *why)
{
    /* on_done runs later, from the status batch's completion: the list stays intact here */
    for (svc_watcher *w = svc->watchers.next; w != &svc->watchers; w = w->next) {
        rpc_call_set_on_drained(w->call, NULL, NULL);
        rpc_call_finish(w->call, GRPC_STATUS_UNAVAILABLE, why);
    }
}

static void event_init(Brn__V1__WatchEvent *ev, int64_t job_id)
{
    brn__v1__watch_event__init(ev);
    ev->job_id = job_id;
}

/* Send the job as stored now; end the stream when it is final. */
static void send_job(svc_watcher *w)
{
    char err[256];
    brn_job_row row;
    if (store_job_get(w->svc->store, w->job_id, &row, err, sizeof err)) {
        LOG_ERROR_LIMITED("job %lld: watch: %s", (long long)w->job_id, err);
        rpc_call_finish(w->call, GRPC_STATUS_UNAVAILABLE, "cannot read the job now; watch it again");
        return;
    }
    int final = store_job_state_is_final(row.state);
    Brn__V1__WatchEvent ev;
    event_init(&ev, w->job_id);
    ev.event_case = BRN__V1__WATCH_EVENT__EVENT_JOB;
    ev.job = convert_job(&row);
    brn_job_row_free(&row);
    if (!ev.job) {
        rpc_call_finish(w->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    rpc_call_send(w->call, &ev.base, 0);
    protobuf_c_message_free_unpacked(&ev.job->base, NULL);
    if (final) rpc_call_finish(w->call, GRPC_STATUS_OK, NULL);
}

static void send_epoch(svc_watcher *w, const brn_epoch_metrics *m)
{
    Brn__V1__WatchEvent ev;
    event_init(&ev, w->job_id);
    ev.event_case = BRN__V1__WATCH_EVENT__EVENT_EPOCH;
    if (!(ev.epoch = convert_epoch(m))) return;
    if (rpc_call_send(w->call, &ev.base, 0) == 0) w->last_epoch = m->epoch;
    protobuf_c_message_free_unpacked(&ev.epoch->base, NULL);
}

static void catch_up_done(svc_watcher *w)
{
    w->catching_up = 0;
    rpc_call_set_on_drained(w->call, NULL, NULL);
    if (w->final_at_start) rpc_call_finish(w->call, GRPC_STATUS_OK, NULL); /* the job went first */
    else if (w->job_pending) send_job(w);
}

/* One page of stored epochs after the last one sent; the next when the client took it. */
static void send_page(svc_watcher *w)
{
    char err[512];
    if (rpc_call_is_closing(w->call)) return;
    brn_epoch_metrics *eps = NULL;
    int n = 0;
    if (store_epochs_page(w->svc->store, w->job_id, w->last_epoch, 1, WATCH_PAGE_EPOCHS, &eps, &n, err, sizeof err)) {
        LOG_ERROR_LIMITED("job %lld: watch: %s", (long long)w->job_id, err);
        rpc_call_set_on_drained(w->call, NULL, NULL);
        rpc_call_finish(w->call, GRPC_STATUS_UNAVAILABLE, "cannot read the stored epochs now; watch it again");
        return;
    }
    for (int i = 0; i < n; i++) send_epoch(w, &eps[i]);
    store_epochs_free(eps, n);
    if (n < WATCH_PAGE_EPOCHS) catch_up_done(w);
}

static void on_drained(brn_rpc_call *call, void *user)
{
    svc_watcher *w = user;
    if (w->catching_up) send_page(w);
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
    for (svc_watcher *w = svc->watchers.next, *next; w != &svc->watchers; w = next) {
        next = w->next; /* on_done never runs synchronously, but be safe */
        if (w->job_id != job_id || w->final_at_start) continue;
        if (w->catching_up) w->job_pending = 1;
        else send_job(w);
    }
}

void svc_publish_progress(void *user, int64_t job_id, const brn_step_info *s)
{
    brn_service *svc = user;
    if (!has_watchers(svc, job_id)) return;
    Brn__V1__WatchEvent ev;
    event_init(&ev, job_id);
    ev.event_case = BRN__V1__WATCH_EVENT__EVENT_PROGRESS;
    if (!(ev.progress = convert_progress(s))) return;
    for (svc_watcher *w = svc->watchers.next; w != &svc->watchers; w = w->next)
        if (w->job_id == job_id && !w->catching_up) rpc_call_send(w->call, &ev.base, 1);
    protobuf_c_message_free_unpacked(&ev.progress->base, NULL);
}

void svc_publish_epoch(void *user, int64_t job_id, const brn_epoch_metrics *m)
{
    brn_service *svc = user;
    for (svc_watcher *w = svc->watchers.next; w != &svc->watchers; w = w->next)
        if (w->job_id == job_id && !w->catching_up && m->epoch > w->last_epoch) send_epoch(w, m);
}

void svc_watch_job(brn_rpc_call *call, const ProtobufCMessage *msg, void *user)
{
    brn_service *svc = user;
    const Brn__V1__WatchJobRequest *req = (const Brn__V1__WatchJobRequest *)msg;
    brn_job_row row;
    if (svc->n_watchers >= svc->limits->max_watch_streams) {
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "watch: %d streams are open, as many as this server "
                      "allows (--max-watch-streams %d); try again later", svc->n_watchers,
                      svc->limits->max_watch_streams);
        return;
    }
    if (svc_load_job(call, svc, req->id, &row)) return;
    Brn__V1__WatchEvent ev;
    event_init(&ev, req->id);
    ev.event_case = BRN__V1__WATCH_EVENT__EVENT_JOB;
    ev.job = convert_job(&row);
    int final = store_job_state_is_final(row.state);
    brn_job_row_free(&row);
    svc_watcher *w = calloc(1, sizeof *w);
    if (!ev.job || !w) {
        if (ev.job) protobuf_c_message_free_unpacked(&ev.job->base, NULL);
        free(w);
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    rpc_call_send(call, &ev.base, 0);
    protobuf_c_message_free_unpacked(&ev.job->base, NULL);
    /* live from here, in catch-up until the stored epochs are out; everything runs on the
     * loop, so no event slips in between */
    w->svc = svc;
    w->call = call;
    w->job_id = req->id;
    w->catching_up = 1;
    w->final_at_start = final;
    w->next = &svc->watchers;
    w->prev = svc->watchers.prev;
    svc->watchers.prev->next = w;
    svc->watchers.prev = w;
    svc->n_watchers++;
    rpc_call_set_on_done(call, watcher_on_done, w);
    rpc_call_set_on_drained(call, on_drained, w);
    send_page(w);
}
