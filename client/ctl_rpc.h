/* Blocking gRPC calls to brnd with protobuf-c messages (gRPC C core).
 *
 * One completion queue per call (pluck), a deadline on every call, and the bearer token
 * (when set) sent as "authorization: Bearer <token>". Functions return the gRPC status
 * code (GRPC_STATUS_OK = 0) and fill st with the code and the server's message; they
 * never exit. Not thread-safe: one conn per thread. */
#ifndef BRNCTL_CTL_RPC_H
#define BRNCTL_CTL_RPC_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

typedef struct ctl_status {
    grpc_status_code code;
    char message[1024];
} ctl_status;

/* Transport security of a channel: plaintext (unix sockets, loopback) or TLS. */
typedef struct ctl_tls {
    int enabled;
    const char *ca_pem;       /* trusted roots, PEM text; NULL: gRPC's default roots */
    const char *server_name;  /* the name the certificate must carry; NULL: the target's host */
} ctl_tls;

typedef struct ctl_conn {
    grpc_channel *channel;
    char target[1100];
    int tls;                  /* the channel uses TLS (for error hints) */
    char *bearer;             /* "Bearer <token>" or NULL */
    double timeout_s;         /* deadline of unary calls */
} ctl_conn;

/* Opens the channel (connection happens lazily on the first call). token and tls may be NULL. */
int ctl_open(ctl_conn *c, const char *target, const char *token, const ctl_tls *tls, double timeout_s);

/* 1 when a failed call's message says the TLS handshake failed (untrusted certificate, a
 * name mismatch, a plaintext server). */
int ctl_status_is_tls_failure(const ctl_status *st);
void ctl_close(ctl_conn *c);

/* Unary call: method is "/brn.v1.Trainer/GetJob". On OK, *resp is a message of resp_desc
 * to free with protobuf_c_message_free_unpacked(*resp, NULL). */
grpc_status_code ctl_unary(ctl_conn *c, const char *method, const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                           ctl_status *st);

/* Called per streamed message (owned by the callee only during the call); return
 * non-zero to stop reading (the call is then cancelled and the function returns OK). */
typedef int (*ctl_stream_fn)(const ProtobufCMessage *msg, void *user);

/* Server-streaming call with a deadline of timeout_s seconds for the whole stream. */
grpc_status_code ctl_stream(ctl_conn *c, const char *method, const ProtobufCMessage *req,
                                   const ProtobufCMessageDescriptor *resp_desc, double timeout_s,
                                   ctl_stream_fn fn, void *user, ctl_status *st);

/* Unary call with raw bytes both ways (for probes); *resp_bytes is malloc'd. */
grpc_status_code ctl_unary_raw(ctl_conn *c, const char *method, const void *req, size_t req_len,
                               void **resp_bytes, size_t *resp_len, ctl_status *st);

/* "UNAVAILABLE" etc. */
const char *ctl_code_name(grpc_status_code code);

#endif
