/* gRPC C core glue: a server driven from a libuv loop.
 *
 * Threads: one thread blocks on the completion queue and hands every event to the loop
 * (uv_async + a locked queue). Everything else here, including every handler and every
 * rpc_call_* function, runs on the loop thread, so a call's batches need no locks.
 *
 * A handler gets the unpacked request and answers with rpc_call_reply / rpc_call_fail
 * (unary), or rpc_call_send ... rpc_call_finish (server streaming). The request message
 * is freed when the handler returns. A streaming handler that keeps the call must set an
 * on_done callback: after it ran, the call must not be touched again. */
#ifndef BRN_RPC_H
#define BRN_RPC_H

#include <stddef.h>

#include <grpc/grpc.h>
#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <uv.h>

typedef struct brn_rpc_server brn_rpc_server;
typedef struct brn_rpc_call brn_rpc_call;

typedef enum { RPC_UNARY, RPC_SERVER_STREAM } rpc_kind;

typedef void (*rpc_handler_fn)(brn_rpc_call *call, const ProtobufCMessage *req, void *user);

typedef struct rpc_method {
    const char *path;                          /* "/brn.v1.Trainer/GetJob" */
    rpc_kind kind;
    const ProtobufCMessageDescriptor *request;
    rpc_handler_fn handler;
    void *user;
} rpc_method;

typedef struct rpc_config {
    const char *const *listen;   /* "unix:/abs/path" or "host:port" */
    int n_listen;
    const char *token;           /* NULL or "": no authentication */
    const char *tls_cert_pem;    /* PEM contents (not paths); both or neither */
    const char *tls_key_pem;
    int insecure_loopback;       /* without a token, TCP on a literal loopback address is allowed */
} rpc_config;

/* Errors of rpc_server_start that callers map to exit codes. */
enum {
    RPC_EADDR = -30,     /* an address is malformed or refused (TCP without a token) */
    RPC_EBIND = -31,     /* the address could not be bound (in use, no permission) */
};

/* Create the server (calls grpc_init). methods must outlive the server. */
int rpc_server_create(uv_loop_t *loop, const rpc_config *cfg, const rpc_method *methods, int n_methods,
                      brn_rpc_server **out, char *err, size_t errlen);

/* Bind every listener, start the server and the completion-queue thread. */
int rpc_server_start(brn_rpc_server *s, char *err, size_t errlen);

/* Replace the bearer token (loop thread; SIGHUP's reload). An empty token is refused:
 * authentication cannot be switched off while running. Returns 0 or BRN_EINVAL/BRN_ENOMEM. */
int rpc_server_set_token(brn_rpc_server *s, const char *token);

/* The bound addresses, comma-separated, with real ports ("unix:/x/brnd.sock, 127.0.0.1:4711"). */
const char *rpc_server_addresses(const brn_rpc_server *s);

/* Stop: no new calls; calls still open after a short grace period are cancelled; drain
 * the queue; done(user) runs on the loop when the server, its queue and its thread are
 * gone. Then call rpc_server_free. */
void rpc_server_shutdown(brn_rpc_server *s, void (*done)(void *user), void *user);

/* Free the server (after shutdown's done, or if it was never started); calls grpc_shutdown. */
void rpc_server_free(brn_rpc_server *s);

/* ---- one call (loop thread only) ---- */

/* Unary: send resp with status OK. */
void rpc_call_reply(brn_rpc_call *c, const ProtobufCMessage *resp);

/* End the call with a non-OK status; details are printf-formatted. */
void rpc_call_fail(brn_rpc_call *c, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Streaming: queue one message. A droppable message (progress) is skipped when the client
 * is behind. Returns 0, 1 when dropped, or -1 when the call has ended. */
int rpc_call_send(brn_rpc_call *c, const ProtobufCMessage *msg, int droppable);

/* Streaming: end with a status after every queued message went out. */
void rpc_call_finish(brn_rpc_call *c, grpc_status_code code, const char *details);

/* Streaming: fn runs on the loop each time every queued message has gone out (the queue is
 * empty again), so that a long stream can be produced page by page in bounded memory.
 * NULL stops it. */
void rpc_call_set_on_drained(brn_rpc_call *c, void (*fn)(brn_rpc_call *c, void *user), void *user);

/* Called once when the call ends for any reason (status sent, client cancelled, shutdown). */
void rpc_call_set_on_done(brn_rpc_call *c, void (*fn)(brn_rpc_call *c, void *user), void *user);

/* 1 once the call has ended or a final status is queued: sending more is pointless. */
int rpc_call_is_closing(const brn_rpc_call *c);

/* The method path of the call ("/brn.v1.Trainer/GetJob"). */
const char *rpc_call_method(const brn_rpc_call *c);

#endif
