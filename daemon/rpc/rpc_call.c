/* The call state machine (loop thread only).
 *
 *   arrived ──▶ RECV_CLOSE_ON_SERVER started at once (learns of cancellation early)
 *     │         auth check, unpack request (bad bytes → INVALID_ARGUMENT), handler
 *     ▼
 *   send batches, one in flight: [initial metadata] [message] [status when nothing is left]
 *     ▼
 *   ended: status batch completed, or the client went away (close reports cancelled)
 *
 * refs: one for the call's life (dropped when RECV_CLOSE completes) and one per batch in
 * flight; the struct and the grpc_call are released when the count reaches zero. */
#include "rpc_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>

#include "common/log.h"

/* A slow stream reader: progress is dropped beyond this many queued messages, and the
 * call is cancelled beyond the hard cap (state and epoch events are never dropped). */
#define RPC_QUEUE_SOFT 32
#define RPC_QUEUE_HARD 8192

static void call_on_request(rpc_tag *t, int ok);
static void call_on_send(rpc_tag *t, int ok);
static void call_on_close(rpc_tag *t, int ok);

brn_rpc_call *rpc_call_new(brn_rpc_server *s, const rpc_registered *reg)
{
    brn_rpc_call *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->srv = s;
    c->reg = reg;
    grpc_metadata_array_init(&c->md);
    grpc_call_details_init(&c->details);
    c->tag_request.fn = call_on_request;
    c->tag_send.fn = call_on_send;
    c->tag_close.fn = call_on_close;
    s->live_calls++;
    return c;
}

static void call_free(brn_rpc_call *c)
{
    if (c->call) grpc_call_unref(c->call);
    grpc_metadata_array_destroy(&c->md);
    grpc_call_details_destroy(&c->details);
    if (c->payload) grpc_byte_buffer_destroy(c->payload);
    if (c->in_flight) grpc_byte_buffer_destroy(c->in_flight);
    for (int i = 0; i < c->q_len; i++) grpc_byte_buffer_destroy(c->queue[(c->q_head + i) % c->q_cap]);
    free(c->queue);
    free(c->status_details);
    brn_rpc_server *s = c->srv;
    free(c);
    rpc_server_call_freed(s);
}

void rpc_call_discard(brn_rpc_call *c) { call_free(c); }

static void call_unref(brn_rpc_call *c)
{
    if (--c->refs == 0) call_free(c);
}

static void call_end(brn_rpc_call *c)
{
    if (c->ended) return;
    c->ended = 1;
    if (c->on_done) c->on_done(c, c->on_done_user);
}

static void queue_clear(brn_rpc_call *c)
{
    for (int i = 0; i < c->q_len; i++) grpc_byte_buffer_destroy(c->queue[(c->q_head + i) % c->q_cap]);
    c->q_len = c->q_head = 0;
}

/* Start the next send batch if none is in flight: pending initial metadata, the oldest
 * queued message, and the status once the queue is empty (in the same batch if possible). */
static void call_pump(brn_rpc_call *c)
{
    if (c->send_busy || c->status_sent || c->ended) return;
    if (c->q_len == 0 && !c->status_pending) return;
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    grpc_slice details;
    int have_details = 0;
    if (!c->md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->md_sent = 1;
    }
    if (c->q_len > 0) {
        c->in_flight = c->queue[c->q_head];
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->in_flight;
    }
    if (c->q_len == 0 && c->status_pending) {
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = c->status;
        if (c->status_details && c->status_details[0]) {
            details = grpc_slice_from_copied_string(c->status_details);
            have_details = 1;
            ops[n].data.send_status_from_server.status_details = &details;
        }
        n++;
        c->status_sent = 1;
    }
    c->send_busy = 1;
    c->refs++;
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->tag_send, NULL);
    if (have_details) grpc_slice_unref(details);
    if (e != GRPC_CALL_OK) {
        LOG_ERROR("%s: start_batch failed (%d)", c->method_path, (int)e);
        c->send_busy = 0;
        if (c->in_flight) grpc_byte_buffer_destroy(c->in_flight);
        c->in_flight = NULL;
        grpc_call_cancel(c->call, NULL);
        call_unref(c);
    }
}

static void call_on_send(rpc_tag *t, int ok)
{
    brn_rpc_call *c = container_of(t, brn_rpc_call, tag_send);
    c->send_busy = 0;
    if (c->in_flight) grpc_byte_buffer_destroy(c->in_flight);
    c->in_flight = NULL;
    if (!ok) {
        /* the stream broke (client gone, shutdown): nothing more can be sent */
        queue_clear(c);
        call_end(c);
    } else if (c->status_sent) {
        call_end(c);
    } else {
        call_pump(c);
        if (!c->send_busy && c->q_len == 0 && !c->status_pending && !c->ended && c->on_drained)
            c->on_drained(c, c->on_drained_user);
    }
    call_unref(c);
}

static void call_on_close(rpc_tag *t, int ok)
{
    brn_rpc_call *c = container_of(t, brn_rpc_call, tag_close);
    if (c->close_cancelled) {
        LOG_DEBUG("%s: cancelled by the client or shutdown", c->method_path);
        queue_clear(c);
        call_end(c);
    }
    c->refs--;     /* the batch's ref; the life ref below is still held */
    call_unref(c); /* the life ref: no new batch starts after the close */
}

static void call_start_close(brn_rpc_call *c)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->close_cancelled;
    c->refs++;
    if (grpc_call_start_batch(c->call, &op, 1, &c->tag_close, NULL) != GRPC_CALL_OK) {
        LOG_ERROR("%s: cannot start RECV_CLOSE_ON_SERVER", c->method_path);
        c->refs--;
        c->refs--; /* no close will come to drop the life ref; the caller holds a ref */
        grpc_call_cancel(c->call, NULL);
    }
}

static void slice_copy(char *dst, size_t n, grpc_slice s)
{
    size_t len = GRPC_SLICE_LENGTH(s);
    if (len >= n) len = n - 1;
    memcpy(dst, GRPC_SLICE_START_PTR(s), len);
    dst[len] = 0;
}

static ProtobufCMessage *call_unpack(brn_rpc_call *c)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, c->payload)) return NULL;
    grpc_slice all = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    ProtobufCMessage *m = protobuf_c_message_unpack(c->reg->method->request, NULL, GRPC_SLICE_LENGTH(all),
                                                    GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    return m;
}

static void call_on_request(rpc_tag *t, int ok)
{
    brn_rpc_call *c = container_of(t, brn_rpc_call, tag_request);
    brn_rpc_server *s = c->srv;
    if (!ok || !c->call) {
        call_free(c); /* shutdown: the request was never matched */
        return;
    }
    /* keep one request armed per method (and the generic one) */
    if (!s->shutting_down) rpc_server_arm(s, c->reg);
    rpc_call_arrived(c);
}

void rpc_call_arrived(brn_rpc_call *c)
{
    brn_rpc_server *s = c->srv;
    c->refs = 2; /* life + this function's own */
    if (c->reg) snprintf(c->method_path, sizeof c->method_path, "%s", c->reg->method->path);
    else slice_copy(c->method_path, sizeof c->method_path, c->details.method);
    call_start_close(c);
    LOG_DEBUG("call %s", c->method_path);

    int auth = rpc_server_check_auth(s, &c->md);
    if (auth != RPC_AUTH_OK) {
        char *peer = grpc_call_get_peer(c->call);
        rpc_server_log_auth_failure(s, c->method_path, peer, auth);
        gpr_free(peer);
        rpc_call_fail(c, GRPC_STATUS_UNAUTHENTICATED, "missing or wrong bearer token");
    } else if (!c->reg) {
        rpc_call_fail(c, GRPC_STATUS_UNIMPLEMENTED, "unknown method %s", c->method_path);
    } else if (s->shutting_down) {
        rpc_call_fail(c, GRPC_STATUS_UNAVAILABLE, "the server is shutting down");
    } else if (!c->payload) {
        rpc_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "no request message");
    } else {
        ProtobufCMessage *req = call_unpack(c);
        if (!req) {
            rpc_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "request is not a valid %s message",
                          c->reg->method->request->name);
        } else {
            c->reg->method->handler(c, req, c->reg->method->user);
            protobuf_c_message_free_unpacked(req, NULL);
        }
    }
    if (c->payload) {
        grpc_byte_buffer_destroy(c->payload);
        c->payload = NULL;
    }
    call_unref(c);
}

static grpc_byte_buffer *pack(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice sl = grpc_slice_malloc(len);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(sl));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return bb;
}

static int queue_push(brn_rpc_call *c, grpc_byte_buffer *bb)
{
    if (c->q_len == c->q_cap) {
        int cap = c->q_cap ? c->q_cap * 2 : 8;
        grpc_byte_buffer **q = malloc((size_t)cap * sizeof *q);
        if (!q) return -1;
        for (int i = 0; i < c->q_len; i++) q[i] = c->queue[(c->q_head + i) % c->q_cap];
        free(c->queue);
        c->queue = q;
        c->q_cap = cap;
        c->q_head = 0;
    }
    c->queue[(c->q_head + c->q_len) % c->q_cap] = bb;
    c->q_len++;
    return 0;
}

int rpc_call_is_closing(const brn_rpc_call *c) { return c->ended || c->status_pending || c->close_cancelled; }

const char *rpc_call_method(const brn_rpc_call *c) { return c->method_path; }

void rpc_call_set_on_done(brn_rpc_call *c, void (*fn)(brn_rpc_call *, void *), void *user)
{
    c->on_done = fn;
    c->on_done_user = user;
}

void rpc_call_set_on_drained(brn_rpc_call *c, void (*fn)(brn_rpc_call *, void *), void *user)
{
    c->on_drained = fn;
    c->on_drained_user = user;
}

int rpc_call_send(brn_rpc_call *c, const ProtobufCMessage *msg, int droppable)
{
    if (rpc_call_is_closing(c)) return -1;
    if (droppable && c->q_len >= RPC_QUEUE_SOFT) return 1;
    if (c->q_len >= RPC_QUEUE_HARD) {
        LOG_WARN("%s: client too slow, %d messages queued: cancelling the stream", c->method_path, c->q_len);
        grpc_call_cancel_with_status(c->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "client reads too slowly", NULL);
        return -1;
    }
    grpc_byte_buffer *bb = pack(msg);
    if (!bb || queue_push(c, bb)) {
        if (bb) grpc_byte_buffer_destroy(bb);
        return -1;
    }
    call_pump(c);
    return 0;
}

void rpc_call_finish(brn_rpc_call *c, grpc_status_code code, const char *details)
{
    if (rpc_call_is_closing(c)) return;
    c->status = code;
    c->status_details = details ? strdup(details) : NULL;
    c->status_pending = 1;
    call_pump(c);
}

void rpc_call_reply(brn_rpc_call *c, const ProtobufCMessage *resp)
{
    if (rpc_call_is_closing(c)) return;
    grpc_byte_buffer *bb = pack(resp);
    if (!bb || queue_push(c, bb)) {
        if (bb) grpc_byte_buffer_destroy(bb);
        rpc_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    rpc_call_finish(c, GRPC_STATUS_OK, NULL);
}

void rpc_call_fail(brn_rpc_call *c, grpc_status_code code, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (code != GRPC_STATUS_OK) LOG_DEBUG("%s: status %d: %s", c->method_path, (int)code, buf);
    queue_clear(c);
    rpc_call_finish(c, code, buf);
}
