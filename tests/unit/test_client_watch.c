/* brnctl watch's exit status against a stand-in server (the daemon's rpc layer with a
 * scripted WatchJob): 0 when the job SUCCEEDED and the stream ended OK, 1 when it FAILED,
 * and a sysexits code, not 0, when the stream broke after the job's final state arrived
 * (a finished job's epochs follow its state: a broken catch-up lost some of them). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "brn/v1/brn.pb-c.h"
#include "check.h"
#include "client/cli.h"
#include "rpc/rpc.h"

/* The job id says what the stand-in does: 1 SUCCEEDED then OK, 2 FAILED then OK,
 * 3 SUCCEEDED, two epochs, then RESOURCE_EXHAUSTED. */
static void h_watch(brn_rpc_call *call, const ProtobufCMessage *req, void *user)
{
    const Brn__V1__WatchJobRequest *r = (const Brn__V1__WatchJobRequest *)req;
    Brn__V1__Job job = BRN__V1__JOB__INIT;
    job.id = r->id;
    job.state = r->id == 2 ? BRN__V1__JOB_STATE__JOB_STATE_FAILED : BRN__V1__JOB_STATE__JOB_STATE_SUCCEEDED;
    Brn__V1__WatchEvent ev = BRN__V1__WATCH_EVENT__INIT;
    ev.job_id = r->id;
    ev.event_case = BRN__V1__WATCH_EVENT__EVENT_JOB;
    ev.job = &job;
    rpc_call_send(call, &ev.base, 0);
    if (r->id == 3) {
        Brn__V1__EpochMetrics m = BRN__V1__EPOCH_METRICS__INIT;
        ev.event_case = BRN__V1__WATCH_EVENT__EVENT_EPOCH;
        ev.epoch = &m;
        for (int e = 1; e <= 2; e++) {
            m.epoch = e;
            rpc_call_send(call, &ev.base, 0);
        }
        rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "client reads too slowly");
        return;
    }
    rpc_call_finish(call, GRPC_STATUS_OK, NULL);
}

static const rpc_method METHODS[] = {
    {"/brn.v1.Trainer/WatchJob", RPC_SERVER_STREAM, &brn__v1__watch_job_request__descriptor, h_watch, NULL},
};

static brn_rpc_server *server;
static uv_async_t stop_async;
static char target[300];
static int rc_ok, rc_failed, rc_broken;

static void on_stopped(void *user) {}

static void on_stop_request(uv_async_t *a)
{
    rpc_server_shutdown(server, on_stopped, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static int watch(int64_t id)
{
    cli c;
    cli_init(&c, "brnctl");
    c.addr = target;
    c.json = 1; /* quiet: one line per event */
    int rc = cli_watch_job(&c, id);
    cli_free(&c);
    return rc;
}

static void *client_main(void *arg)
{
    rc_ok = watch(1);
    rc_failed = watch(2);
    rc_broken = watch(3);
    uv_async_send(&stop_async);
    return NULL;
}

static void test_watch_exit_codes(void)
{
    char dir[] = "/tmp/brn-watch-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(target, sizeof target, "unix:%s/w.sock", dir);
    const char *listen[] = {target};
    rpc_config cfg = {.listen = listen, .n_listen = 1};
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[512] = "";
    CHECK_EQ_INT(rpc_server_create(&loop, &cfg, METHODS, 1, &server, err, sizeof err), 0);
    int rc = rpc_server_start(server, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    uv_async_init(&loop, &stop_async, on_stop_request);
    pthread_t t;
    pthread_create(&t, NULL, client_main, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    pthread_join(t, NULL);
    rpc_server_free(server);
    uv_loop_close(&loop);
    CHECK_EQ_INT(rc_ok, 0);
    CHECK_EQ_INT(rc_failed, 1);
    CHECK_EQ_INT(rc_broken, EX_TEMPFAIL);
    char sock[320];
    snprintf(sock, sizeof sock, "%s/w.sock", dir);
    unlink(sock);
    rmdir(dir);
}

int main(void)
{
    TEST(test_watch_exit_codes);
    return CHECK_DONE();
}
