/* Internals shared by the rpc files: tags, the call and server structs. */
#ifndef BRN_RPC_INTERNAL_H
#define BRN_RPC_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc.h"

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

/* Every completion-queue tag is one of these, embedded in its owner. */
typedef struct rpc_tag {
    void (*fn)(struct rpc_tag *t, int ok);
} rpc_tag;

typedef struct rpc_registered {
    const rpc_method *method;
    void *handle;                 /* grpc_server_register_method's result */
} rpc_registered;

struct brn_rpc_call {
    brn_rpc_server *srv;
    const rpc_registered *reg;    /* NULL: a generic call (unknown method) */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_call_details details;    /* generic calls only */
    grpc_byte_buffer *payload;    /* registered calls: the request */
    char method_path[128];
    int refs;                     /* 1 for the call's life + 1 per batch in flight */

    rpc_tag tag_request;          /* the call arrived */
    rpc_tag tag_send;             /* initial metadata / message / status */
    rpc_tag tag_close;            /* RECV_CLOSE_ON_SERVER */
    int close_cancelled;

    int md_sent;
    int send_busy;                /* one send batch in flight at most */
    grpc_byte_buffer *in_flight;
    grpc_byte_buffer **queue;     /* messages waiting for the send batch */
    int q_head, q_len, q_cap;
    int status_pending, status_sent;
    grpc_status_code status;
    char *status_details;
    int ended;                    /* on_done ran (or will never be needed) */

    void (*on_done)(brn_rpc_call *c, void *user);
    void *on_done_user;
    void (*on_drained)(brn_rpc_call *c, void *user);
    void *on_drained_user;
};

typedef struct rpc_event {
    rpc_tag *tag;
    int ok;
} rpc_event;

struct brn_rpc_server {
    uv_loop_t *loop;
    grpc_server *server;
    grpc_completion_queue *cq;
    rpc_registered *methods;
    int n_methods;
    char *token;                  /* NULL: no authentication (unix sockets, --insecure-loopback) */
    int insecure_loopback;        /* TCP on a literal loopback address without a token allowed */
    uint64_t auth_log_window_ms;  /* rate limit of the auth-failure log lines */
    int auth_log_count, auth_log_suppressed;
    char *tls_cert, *tls_key;
    char **listen;
    int n_listen;
    char addresses[2048];

    pthread_t cq_thread;
    int thread_started;
    uv_async_t async;
    int async_open;
    pthread_mutex_t lock;
    rpc_event *events;            /* filled by the queue thread, swapped out by the loop */
    int n_events, cap_events;
    int queue_done;               /* the thread saw GRPC_QUEUE_SHUTDOWN */

    int grpc_inited, started, shutting_down, free_pending;
    rpc_tag tag_shutdown;
    uv_timer_t grace;             /* shutdown: cancel the calls left after it */
    void (*shutdown_done)(void *user);
    void *shutdown_user;
    long live_calls;
};

/* rpc_call.c */
brn_rpc_call *rpc_call_new(brn_rpc_server *s, const rpc_registered *reg);
void rpc_call_arrived(brn_rpc_call *c);     /* tag_request completed with ok */
void rpc_call_discard(brn_rpc_call *c);     /* tag_request completed without a call */

/* rpc_server.c */
void rpc_server_arm(brn_rpc_server *s, const rpc_registered *reg);
void rpc_server_call_freed(brn_rpc_server *s);
/* RPC_AUTH_OK (0) when no token is configured or the call carries "Bearer <token>". */
enum { RPC_AUTH_OK = 0, RPC_AUTH_MISSING = -1, RPC_AUTH_NOT_BEARER = -2, RPC_AUTH_WRONG_TOKEN = -3 };
int rpc_server_check_auth(const brn_rpc_server *s, const grpc_metadata_array *md);
const char *rpc_auth_failure_name(int rc);
void rpc_server_log_auth_failure(brn_rpc_server *s, const char *method, const char *peer, int rc);

#define RPC_AUTH_LOG_WINDOW_MS 60000
#define RPC_AUTH_LOG_BURST 20

/* rpc_listen.c */
int rpc_listen_add(brn_rpc_server *s, const char *addr, char *bound, size_t boundlen, char *err, size_t errlen);
/* 1 for unix: addresses and for TCP on a literal loopback address (127.0.0.0/8, ::1,
 * ::ffff:127.x.y.z); a host name never counts, whatever it starts with. */
int rpc_listen_is_loopback(const char *addr);

#endif
