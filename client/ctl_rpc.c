/* gRPC C core client calls (see rpc.h). */
#include "ctl_rpc.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Curves with per-layer renorm diagnostics grow past gRPC's 4 MiB default. */
#define RPC_MAX_MESSAGE (64 * 1024 * 1024)

int ctl_open(ctl_conn *c, const char *target, const char *token, const ctl_tls *tls, double timeout_s)
{
    memset(c, 0, sizeof *c);
    c->tls = tls && tls->enabled;
    snprintf(c->target, sizeof c->target, "%s", target);
    c->timeout_s = timeout_s;
    if (token && token[0]) {
        size_t n = strlen(token) + 8;
        c->bearer = malloc(n);
        if (!c->bearer) return -1;
        snprintf(c->bearer, n, "Bearer %s", token);
    }
    grpc_init();
    /* Short reconnect backoff: `watch` follows a daemon that restarts within seconds. */
    grpc_arg args[4];
    memset(args, 0, sizeof args);
    args[0].type = args[1].type = args[2].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = RPC_MAX_MESSAGE;
    args[1].key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    args[1].value.integer = 200;
    args[2].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[2].value.integer = 1000;
    grpc_channel_args ca = {3, args};
    if (c->tls && tls->server_name && tls->server_name[0]) {
        args[3].type = GRPC_ARG_STRING;
        args[3].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[3].value.string = (char *)tls->server_name;
        ca.num_args = 4;
    }
    grpc_channel_credentials *cred = c->tls ? grpc_ssl_credentials_create(tls->ca_pem, NULL, NULL, NULL)
                                            : grpc_insecure_credentials_create();
    if (!cred) return -1;
    c->channel = grpc_channel_create(target, cred, &ca);
    grpc_channel_credentials_release(cred);
    return c->channel ? 0 : -1;
}

void ctl_close(ctl_conn *c)
{
    if (c->channel) {
        grpc_channel_destroy(c->channel);
        grpc_shutdown();
    }
    free(c->bearer);
    memset(c, 0, sizeof *c);
}

static gpr_timespec deadline_in(double seconds)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis((int64_t)(seconds * 1000.0), GPR_TIMESPAN));
}

static void set_status(ctl_status *st, grpc_status_code code, grpc_slice details)
{
    st->code = code;
    size_t n = GRPC_SLICE_LENGTH(details);
    if (n >= sizeof st->message) n = sizeof st->message - 1;
    memcpy(st->message, GRPC_SLICE_START_PTR(details), n);
    st->message[n] = 0;
}

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* Flattens a received buffer into one slice (caller unrefs). */
static grpc_slice flatten(grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader r;
    grpc_slice s = grpc_empty_slice();
    if (grpc_byte_buffer_reader_init(&r, bb)) {
        s = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
    }
    return s;
}

/* One call in flight: its queue, the call, and the status fields gRPC fills. */
typedef struct call_ctx {
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_metadata md[1];
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code code;
    grpc_slice details;
} call_ctx;

static void call_begin(call_ctx *x, ctl_conn *c, const char *method, double timeout_s)
{
    memset(x, 0, sizeof *x);
    x->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice m = grpc_slice_from_copied_string(method);
    x->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, x->cq, m, NULL,
                                       deadline_in(timeout_s), NULL);
    grpc_slice_unref(m);
    grpc_metadata_array_init(&x->initial_md);
    grpc_metadata_array_init(&x->trailing_md);
    x->details = grpc_empty_slice();
    if (c->bearer) {
        x->md[0].key = grpc_slice_from_static_string("authorization");
        x->md[0].value = grpc_slice_from_copied_string(c->bearer);
    }
}

static void call_end(call_ctx *x, ctl_conn *c)
{
    if (c->bearer) grpc_slice_unref(x->md[0].value);
    grpc_metadata_array_destroy(&x->initial_md);
    grpc_metadata_array_destroy(&x->trailing_md);
    grpc_slice_unref(x->details);
    grpc_call_unref(x->call);
    grpc_completion_queue_shutdown(x->cq);
    grpc_completion_queue_destroy(x->cq);
}

static int wait_tag(call_ctx *x, void *tag)
{
    grpc_event ev = grpc_completion_queue_pluck(x->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

/* Initial ops every call starts with: metadata, the request, half-close, initial metadata. */
static size_t fill_send_ops(grpc_op *ops, call_ctx *x, ctl_conn *c, grpc_byte_buffer *req)
{
    memset(ops, 0, sizeof(grpc_op) * 4);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = c->bearer ? 1 : 0;
    ops[0].data.send_initial_metadata.metadata = c->bearer ? x->md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &x->initial_md;
    return 4;
}

static grpc_status_code unary_bb(ctl_conn *c, const char *method, grpc_byte_buffer *req,
                                 grpc_slice *resp, int *have_resp, ctl_status *st)
{
    call_ctx x;
    grpc_op ops[6];
    grpc_byte_buffer *rbb = NULL;
    call_begin(&x, c, method, c->timeout_s);
    size_t n = fill_send_ops(ops, &x, c, req);
    memset(&ops[n], 0, sizeof(grpc_op) * 2);
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n].data.recv_message.recv_message = &rbb;
    ops[n + 1].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[n + 1].data.recv_status_on_client.trailing_metadata = &x.trailing_md;
    ops[n + 1].data.recv_status_on_client.status = &x.code;
    ops[n + 1].data.recv_status_on_client.status_details = &x.details;
    void *tag = (void *)(intptr_t)1;
    grpc_call_error e = grpc_call_start_batch(x.call, ops, n + 2, tag, NULL);
    if (e != GRPC_CALL_OK) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof st->message, "grpc_call_start_batch failed (%d)", (int)e);
    } else {
        wait_tag(&x, tag);
        set_status(st, x.code, x.details);
        *have_resp = rbb != NULL;
        if (rbb) {
            *resp = flatten(rbb);
            grpc_byte_buffer_destroy(rbb);
        }
    }
    call_end(&x, c);
    return st->code;
}

grpc_status_code ctl_unary(ctl_conn *c, const char *method, const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                           ctl_status *st)
{
    *resp = NULL;
    grpc_byte_buffer *bb = pack(req);
    grpc_slice s;
    int have = 0;
    unary_bb(c, method, bb, &s, &have, st);
    grpc_byte_buffer_destroy(bb);
    if (st->code == GRPC_STATUS_OK && !have) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof st->message, "no response message");
    }
    if (have) {
        if (st->code == GRPC_STATUS_OK) {
            *resp = protobuf_c_message_unpack(resp_desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
            if (!*resp) {
                st->code = GRPC_STATUS_INTERNAL;
                snprintf(st->message, sizeof st->message, "malformed %s response", resp_desc->name);
            }
        }
        grpc_slice_unref(s);
    }
    return st->code;
}

grpc_status_code ctl_unary_raw(ctl_conn *c, const char *method, const void *req, size_t req_len,
                               void **resp_bytes, size_t *resp_len, ctl_status *st)
{
    *resp_bytes = NULL;
    *resp_len = 0;
    grpc_slice in = grpc_slice_from_copied_buffer(req, req_len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&in, 1);
    grpc_slice_unref(in);
    grpc_slice s;
    int have = 0;
    unary_bb(c, method, bb, &s, &have, st);
    grpc_byte_buffer_destroy(bb);
    if (have) {
        *resp_len = GRPC_SLICE_LENGTH(s);
        *resp_bytes = malloc(*resp_len + 1);
        if (*resp_bytes) memcpy(*resp_bytes, GRPC_SLICE_START_PTR(s), *resp_len);
        grpc_slice_unref(s);
    }
    return st->code;
}

grpc_status_code ctl_stream(ctl_conn *c, const char *method, const ProtobufCMessage *req,
                                   const ProtobufCMessageDescriptor *resp_desc, double timeout_s,
                                   ctl_stream_fn fn, void *user, ctl_status *st)
{
    call_ctx x;
    grpc_op ops[4], sop, rop;
    void *t_send = (void *)(intptr_t)1, *t_recv = (void *)(intptr_t)2, *t_status = (void *)(intptr_t)3;
    grpc_byte_buffer *bb = pack(req), *rbb = NULL;
    int stopped = 0, bad = 0;
    call_begin(&x, c, method, timeout_s);
    size_t n = fill_send_ops(ops, &x, c, bb);
    memset(&sop, 0, sizeof sop);
    sop.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    sop.data.recv_status_on_client.trailing_metadata = &x.trailing_md;
    sop.data.recv_status_on_client.status = &x.code;
    sop.data.recv_status_on_client.status_details = &x.details;
    if (grpc_call_start_batch(x.call, ops, n, t_send, NULL) != GRPC_CALL_OK ||
        grpc_call_start_batch(x.call, &sop, 1, t_status, NULL) != GRPC_CALL_OK) {
        /* Cannot happen with a fresh call; report rather than hang. */
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof st->message, "grpc_call_start_batch failed");
        grpc_call_cancel(x.call, NULL);
        grpc_byte_buffer_destroy(bb);
        call_end(&x, c);
        return st->code;
    }
    wait_tag(&x, t_send);
    grpc_byte_buffer_destroy(bb);
    for (;;) {
        memset(&rop, 0, sizeof rop);
        rop.op = GRPC_OP_RECV_MESSAGE;
        rop.data.recv_message.recv_message = &rbb;
        rbb = NULL;
        if (grpc_call_start_batch(x.call, &rop, 1, t_recv, NULL) != GRPC_CALL_OK) break;
        wait_tag(&x, t_recv);
        if (!rbb) break; /* end of stream or failure: the status says which */
        grpc_slice s = flatten(rbb);
        grpc_byte_buffer_destroy(rbb);
        ProtobufCMessage *m = protobuf_c_message_unpack(resp_desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        grpc_slice_unref(s);
        if (!m) {
            bad = 1;
            grpc_call_cancel(x.call, NULL);
            break;
        }
        int r = fn(m, user);
        protobuf_c_message_free_unpacked(m, NULL);
        if (r) {
            stopped = 1;
            grpc_call_cancel(x.call, NULL);
            break;
        }
    }
    wait_tag(&x, t_status);
    set_status(st, x.code, x.details);
    if (stopped) {
        st->code = GRPC_STATUS_OK;
        st->message[0] = 0;
    } else if (bad) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof st->message, "malformed %s in stream", resp_desc->name);
    }
    call_end(&x, c);
    return st->code;
}

int ctl_status_is_tls_failure(const ctl_status *st)
{
    return st->code == GRPC_STATUS_UNAVAILABLE &&
           (strstr(st->message, "andshake") || strstr(st->message, "CERTIFICATE_VERIFY_FAILED") ||
            strstr(st->message, "SSL_ERROR") || strstr(st->message, "WRONG_VERSION_NUMBER") ||
            strstr(st->message, "peer certificate"));
}

const char *ctl_code_name(grpc_status_code code)
{
    static const char *const names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED"};
    if ((unsigned)code < sizeof names / sizeof names[0]) return names[code];
    return "UNKNOWN";
}
