/* The gRPC glue in-process: a server with a tiny method table on a unix socket, driven by
 * a C client thread. Checks unary replies and failures, the bearer token, malformed
 * bytes, unknown methods, a 200-message stream, and a stream left open across shutdown. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "brn/v1/brn.pb-c.h"
#include "check.h"
#include "rpc/rpc.h"

/* ---- server side (loop thread) ---- */

static int hang_done_calls;

static void h_echo(brn_rpc_call *call, const ProtobufCMessage *req, void *user)
{
    const Brn__V1__GetJobRequest *r = (const Brn__V1__GetJobRequest *)req;
    if (r->id < 0) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "id: %lld is negative", (long long)r->id);
        return;
    }
    Brn__V1__Job job = BRN__V1__JOB__INIT;
    job.id = r->id;
    rpc_call_reply(call, &job.base);
}

static void h_count(brn_rpc_call *call, const ProtobufCMessage *req, void *user)
{
    const Brn__V1__WatchJobRequest *r = (const Brn__V1__WatchJobRequest *)req;
    for (int64_t i = 1; i <= r->id; i++) {
        Brn__V1__WatchEvent ev = BRN__V1__WATCH_EVENT__INIT;
        ev.job_id = i;
        rpc_call_send(call, &ev.base, 0); /* queued: one send batch in flight at a time */
    }
    rpc_call_finish(call, GRPC_STATUS_OK, NULL);
}

static void hang_on_done(brn_rpc_call *call, void *user) { hang_done_calls++; }

static void h_hang(brn_rpc_call *call, const ProtobufCMessage *req, void *user)
{
    Brn__V1__WatchEvent ev = BRN__V1__WATCH_EVENT__INIT;
    ev.job_id = 1;
    rpc_call_send(call, &ev.base, 0);
    rpc_call_set_on_done(call, hang_on_done, NULL); /* never finished by us */
}

static const rpc_method METHODS[] = {
    {"/t.T/Echo", RPC_UNARY, &brn__v1__get_job_request__descriptor, h_echo, NULL},
    {"/t.T/Count", RPC_SERVER_STREAM, &brn__v1__watch_job_request__descriptor, h_count, NULL},
    {"/t.T/Hang", RPC_SERVER_STREAM, &brn__v1__watch_job_request__descriptor, h_hang, NULL},
};

static brn_rpc_server *server;
static uv_async_t stop_async;
static int server_stopped;

static void on_stopped(void *user) { server_stopped = 1; }

static void on_stop_request(uv_async_t *a)
{
    rpc_server_shutdown(server, on_stopped, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

/* ---- client side (its own thread, blocking calls) ---- */

typedef struct {
    grpc_status_code status;
    char details[256];
    int n_msgs;
    int64_t ids[256];
    double seconds;
} result;

static char target[256];

static grpc_event wait_tag(grpc_completion_queue *cq, void *tag)
{
    return grpc_completion_queue_pluck(cq, tag, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                             gpr_time_from_seconds(20, GPR_TIMESPAN)), NULL);
}

/* One call: send req (raw bytes), read every message (decoded as Job or WatchEvent ids).
 * stop_after_first: ask the server to shut down once the first message arrived. */
static void client_call(grpc_channel *ch, const char *method, const uint8_t *req, size_t len, int token,
                        int stop_after_first, result *out)
{
    memset(out, 0, sizeof *out);
    gpr_timespec t0 = gpr_now(GPR_CLOCK_MONOTONIC);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice m = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                               gpr_time_add(t0, gpr_time_from_seconds(20, GPR_TIMESPAN)), NULL);
    grpc_slice_unref(m);
    grpc_metadata md;
    memset(&md, 0, sizeof md);
    md.key = grpc_slice_from_static_string("authorization");
    md.value = grpc_slice_from_static_string("Bearer tok");
    grpc_slice body = grpc_slice_from_copied_buffer((const char *)req, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    grpc_metadata_array recv_md, trailing;
    grpc_metadata_array_init(&recv_md);
    grpc_metadata_array_init(&trailing);
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = token ? 1 : 0;
    ops[0].data.send_initial_metadata.metadata = &md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &recv_md;
    CHECK_EQ_INT(grpc_call_start_batch(call, ops, 4, (void *)1, NULL), GRPC_CALL_OK);
    wait_tag(cq, (void *)1);
    grpc_byte_buffer_destroy(bb);
    for (;;) {
        grpc_byte_buffer *msg = NULL;
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &msg;
        CHECK_EQ_INT(grpc_call_start_batch(call, &op, 1, (void *)2, NULL), GRPC_CALL_OK);
        grpc_event ev = wait_tag(cq, (void *)2);
        if (!ev.success || !msg) break;
        grpc_byte_buffer_reader r;
        grpc_byte_buffer_reader_init(&r, msg);
        grpc_slice all = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
        grpc_byte_buffer_destroy(msg);
        int64_t id = -1;
        if (strstr(method, "Echo")) {
            Brn__V1__Job *j = brn__v1__job__unpack(NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
            if (j) id = j->id, brn__v1__job__free_unpacked(j, NULL);
        } else {
            Brn__V1__WatchEvent *e = brn__v1__watch_event__unpack(NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
            if (e) id = e->job_id, brn__v1__watch_event__free_unpacked(e, NULL);
        }
        grpc_slice_unref(all);
        if (out->n_msgs < 256) out->ids[out->n_msgs] = id;
        out->n_msgs++;
        if (stop_after_first && out->n_msgs == 1) uv_async_send(&stop_async);
    }
    grpc_slice details;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &trailing;
    op.data.recv_status_on_client.status = &out->status;
    op.data.recv_status_on_client.status_details = &details;
    CHECK_EQ_INT(grpc_call_start_batch(call, &op, 1, (void *)3, NULL), GRPC_CALL_OK);
    wait_tag(cq, (void *)3);
    size_t n = GRPC_SLICE_LENGTH(details) < sizeof out->details - 1 ? GRPC_SLICE_LENGTH(details) : sizeof out->details - 1;
    memcpy(out->details, GRPC_SLICE_START_PTR(details), n);
    out->details[n] = 0;
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&recv_md);
    grpc_metadata_array_destroy(&trailing);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    out->seconds = gpr_timespec_to_micros(gpr_time_sub(gpr_now(GPR_CLOCK_MONOTONIC), t0)) / 1e6;
}

static size_t pack_id(ProtobufCMessage *m, uint8_t *buf) { return protobuf_c_message_pack(m, buf); }

static result r_ok, r_noauth, r_neg, r_bad, r_unknown, r_count, r_hang;

static void *client_main(void *arg)
{
    grpc_init();
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    uint8_t buf[64];
    Brn__V1__GetJobRequest g = BRN__V1__GET_JOB_REQUEST__INIT;
    g.id = 5;
    size_t n = pack_id(&g.base, buf);
    client_call(ch, "/t.T/Echo", buf, n, 1, 0, &r_ok);
    client_call(ch, "/t.T/Echo", buf, n, 0, 0, &r_noauth);
    g.id = -3;
    n = pack_id(&g.base, buf);
    client_call(ch, "/t.T/Echo", buf, n, 1, 0, &r_neg);
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff};
    client_call(ch, "/t.T/Echo", garbage, sizeof garbage, 1, 0, &r_bad);
    client_call(ch, "/t.T/Nope", buf, n, 1, 0, &r_unknown);
    Brn__V1__WatchJobRequest w = BRN__V1__WATCH_JOB_REQUEST__INIT;
    w.id = 200;
    n = pack_id(&w.base, buf);
    client_call(ch, "/t.T/Count", buf, n, 1, 0, &r_count);
    client_call(ch, "/t.T/Hang", buf, n, 1, 1, &r_hang); /* the server shuts down meanwhile */
    grpc_channel_destroy(ch);
    grpc_shutdown();
    return NULL;
}

static void test_server_round_trip(void)
{
    char dir[] = "/tmp/brn-rpc-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(target, sizeof target, "unix:%s/t.sock", dir);
    const char *listen[] = {target};
    rpc_config cfg = {.listen = listen, .n_listen = 1, .token = "tok"};
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[512] = "";
    CHECK_EQ_INT(rpc_server_create(&loop, &cfg, METHODS, 3, &server, err, sizeof err), 0);
    int rc = rpc_server_start(server, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(strcmp(rpc_server_addresses(server), target) == 0);
    uv_async_init(&loop, &stop_async, on_stop_request);
    pthread_t t;
    pthread_create(&t, NULL, client_main, NULL);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once the server and its handles are closed */
    pthread_join(t, NULL);
    CHECK(server_stopped);
    rpc_server_free(server);
    uv_loop_close(&loop);

    CHECK_EQ_INT(r_ok.status, GRPC_STATUS_OK);
    CHECK_EQ_INT(r_ok.n_msgs, 1);
    CHECK_EQ_INT(r_ok.ids[0], 5);
    CHECK_EQ_INT(r_noauth.status, GRPC_STATUS_UNAUTHENTICATED);
    CHECK_EQ_INT(r_neg.status, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(r_neg.details, "id: -3 is negative");
    CHECK_EQ_INT(r_bad.status, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(r_bad.details, "not a valid brn.v1.GetJobRequest");
    CHECK_EQ_INT(r_unknown.status, GRPC_STATUS_UNIMPLEMENTED);
    CHECK(r_unknown.seconds < 2.0);
    CHECK_EQ_INT(r_count.status, GRPC_STATUS_OK);
    CHECK_EQ_INT(r_count.n_msgs, 200);
    int in_order = 1;
    for (int i = 0; i < 200; i++) in_order &= r_count.ids[i] == i + 1;
    CHECK(in_order);
    CHECK_EQ_INT(r_hang.n_msgs, 1);
    CHECK(r_hang.status != GRPC_STATUS_OK);
    CHECK_EQ_INT(hang_done_calls, 1); /* the handler heard of the end exactly once */
    char sock[300];
    snprintf(sock, sizeof sock, "%s/t.sock", dir);
    unlink(sock);
    rmdir(dir);
}

int main(void)
{
    TEST(test_server_round_trip);
    return CHECK_DONE();
}
