/* The server: creation, the completion-queue thread, event hand-off to the loop, request
 * arming, bearer-token check and the shutdown sequence. */
#include "rpc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "errors.h"
#include "common/log.h"

/* Requests kept armed per registered method, so bursts of calls (256 watchers
 * connecting at once) are matched without waiting for a loop round trip each. */
#define RPC_ARMED_PER_METHOD 8

/* Calls still running this long after shutdown began are cancelled: enough for streams
 * that were just finished to flush their status, short enough not to delay a stop. */
#define RPC_SHUTDOWN_GRACE_MS 1000

static char *dup_or_null(const char *s) { return s && s[0] ? strdup(s) : NULL; }

/* gRPC's own log lines go through ours: one format, one level filter. The failures
 * that matter are reported by us as well, so gRPC's errors are only warnings here. */
static void grpc_log_hook(gpr_log_func_args *a)
{
    brnd_log(a->severity == GPR_LOG_SEVERITY_ERROR ? BRN_LOG_WARN : BRN_LOG_DEBUG, "grpc: %s", a->message);
}

int rpc_server_create(uv_loop_t *loop, const rpc_config *cfg, const rpc_method *methods, int n_methods,
                      brn_rpc_server **out, char *err, size_t errlen)
{
    *out = NULL;
    if ((cfg->tls_cert_pem == NULL) != (cfg->tls_key_pem == NULL)) {
        snprintf(err, errlen, "tls: a certificate and a key are needed together");
        return RPC_EADDR;
    }
    brn_rpc_server *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->loop = loop;
    pthread_mutex_init(&s->lock, NULL);
    s->methods = calloc((size_t)(n_methods ? n_methods : 1), sizeof *s->methods);
    s->listen = calloc((size_t)(cfg->n_listen ? cfg->n_listen : 1), sizeof *s->listen);
    if (!s->methods || !s->listen) goto oom_free;
    s->n_methods = n_methods;
    for (int i = 0; i < n_methods; i++) s->methods[i].method = &methods[i];
    for (int i = 0; i < cfg->n_listen; i++) {
        if (!(s->listen[i] = strdup(cfg->listen[i]))) goto oom_free;
        s->n_listen++;
    }
    s->token = dup_or_null(cfg->token);
    s->insecure_loopback = cfg->insecure_loopback;
    s->tls_cert = dup_or_null(cfg->tls_cert_pem);
    s->tls_key = dup_or_null(cfg->tls_key_pem);
    gpr_set_log_function(grpc_log_hook);
    grpc_init();
    s->grpc_inited = 1;
    *out = s;
    return 0;
oom_free:
    rpc_server_free(s);
oom:
    snprintf(err, errlen, "out of memory");
    return BRN_ENOMEM;
}

/* ---- the completion-queue thread and the hand-off ---- */

static void *cq_thread_main(void *arg)
{
    brn_rpc_server *s = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        pthread_mutex_lock(&s->lock);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            s->queue_done = 1;
        } else if (ev.type == GRPC_OP_COMPLETE) {
            while (s->n_events == s->cap_events) {
                int cap = s->cap_events ? s->cap_events * 2 : 256;
                rpc_event *e = realloc(s->events, (size_t)cap * sizeof *e);
                if (e) {
                    s->events = e;
                    s->cap_events = cap;
                    break;
                }
                /* a completion cannot be dropped: let the loop drain (and free), retry */
                pthread_mutex_unlock(&s->lock);
                uv_async_send(&s->async);
                usleep(1000);
                pthread_mutex_lock(&s->lock);
            }
            s->events[s->n_events].tag = ev.tag;
            s->events[s->n_events].ok = ev.success;
            s->n_events++;
        }
        int done = s->queue_done;
        pthread_mutex_unlock(&s->lock);
        uv_async_send(&s->async);
        if (done) return NULL;
    }
}

static void server_finish_shutdown(brn_rpc_server *s);
static void on_async_closed(uv_handle_t *h);
static void server_release(brn_rpc_server *s);

/* uv_async coalesces sends: take the whole batch of events and run their tags in order. */
static void on_async(uv_async_t *a)
{
    brn_rpc_server *s = a->data;
    rpc_event *batch = NULL;
    int n = 0, done;
    pthread_mutex_lock(&s->lock);
    batch = s->events;
    n = s->n_events;
    s->events = NULL;
    s->n_events = s->cap_events = 0;
    done = s->queue_done;
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < n; i++) batch[i].tag->fn(batch[i].tag, batch[i].ok);
    free(batch);
    if (done && s->thread_started) server_finish_shutdown(s);
}

/* ---- arming requests ---- */

void rpc_server_arm(brn_rpc_server *s, const rpc_registered *reg)
{
    brn_rpc_call *c = rpc_call_new(s, reg);
    if (!c) {
        LOG_ERROR("out of memory arming a request");
        return;
    }
    grpc_call_error e;
    if (reg)
        e = grpc_server_request_registered_call(s->server, reg->handle, &c->call, &c->deadline, &c->md,
                                                &c->payload, s->cq, s->cq, &c->tag_request);
    else
        e = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq, s->cq, &c->tag_request);
    if (e != GRPC_CALL_OK) {
        LOG_ERROR("cannot arm a request for %s (%d)", reg ? reg->method->path : "unknown methods", (int)e);
        rpc_call_discard(c);
    }
}

void rpc_server_call_freed(brn_rpc_server *s) { s->live_calls--; }

/* Constant-time compare so the token cannot be guessed byte by byte from timings. Reads
 * exactly alen bytes of a (none when alen is 0: a header of just "Bearer "). */
static int token_equal(const unsigned char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    unsigned diff = (unsigned)(alen ^ blen);
    for (size_t i = 0; i < blen; i++) {
        unsigned char ai = i < alen ? a[i] : 0;
        diff |= (unsigned)(ai ^ (unsigned char)b[i]);
    }
    return diff == 0 && alen == blen;
}

#define BEARER_PREFIX "Bearer "
#define BEARER_PREFIX_LEN (sizeof BEARER_PREFIX - 1)

int rpc_server_check_auth(const brn_rpc_server *s, const grpc_metadata_array *md)
{
    if (!s->token) return RPC_AUTH_OK;
    for (size_t i = 0; i < md->count; i++) {
        if (grpc_slice_str_cmp(md->metadata[i].key, "authorization") != 0) continue;
        const unsigned char *v = GRPC_SLICE_START_PTR(md->metadata[i].value);
        size_t len = GRPC_SLICE_LENGTH(md->metadata[i].value);
        if (len < BEARER_PREFIX_LEN || strncasecmp((const char *)v, BEARER_PREFIX, BEARER_PREFIX_LEN) != 0)
            return RPC_AUTH_NOT_BEARER;
        return token_equal(v + BEARER_PREFIX_LEN, len - BEARER_PREFIX_LEN, s->token) ? RPC_AUTH_OK
                                                                                     : RPC_AUTH_WRONG_TOKEN;
    }
    return RPC_AUTH_MISSING;
}

const char *rpc_auth_failure_name(int rc)
{
    switch (rc) {
    case RPC_AUTH_MISSING: return "no authorization header";
    case RPC_AUTH_NOT_BEARER: return "the authorization header is not 'Bearer <token>'";
    case RPC_AUTH_WRONG_TOKEN: return "wrong bearer token";
    default: return "authorized";
    }
}

/* Logged at warn with the peer, but at most RPC_AUTH_LOG_BURST lines per window: a client
 * hammering the port with bad tokens must not flood the log. */
void rpc_server_log_auth_failure(brn_rpc_server *s, const char *method, const char *peer, int rc)
{
    uint64_t now = uv_now(s->loop);
    if (now - s->auth_log_window_ms >= RPC_AUTH_LOG_WINDOW_MS) {
        if (s->auth_log_suppressed)
            LOG_WARN("auth: %d more failed call(s) not logged in the last %d s", s->auth_log_suppressed,
                     RPC_AUTH_LOG_WINDOW_MS / 1000);
        s->auth_log_window_ms = now;
        s->auth_log_count = 0;
        s->auth_log_suppressed = 0;
    }
    if (s->auth_log_count++ < RPC_AUTH_LOG_BURST)
        LOG_WARN("auth: %s from %s refused: %s", method, peer ? peer : "(unknown peer)", rpc_auth_failure_name(rc));
    else
        s->auth_log_suppressed++;
}

int rpc_server_set_token(brn_rpc_server *s, const char *token)
{
    if (!token || !token[0]) return BRN_EINVAL;
    char *t = strdup(token);
    if (!t) return BRN_ENOMEM;
    free(s->token);
    s->token = t;
    return 0;
}

/* ---- start ---- */

int rpc_server_start(brn_rpc_server *s, char *err, size_t errlen)
{
    int rc;
    grpc_arg arg;
    memset(&arg, 0, sizeof arg);
    arg.type = GRPC_ARG_INTEGER;
    arg.key = (char *)GRPC_ARG_ALLOW_REUSEPORT; /* a second brnd on the same port must fail */
    arg.value.integer = 0;
    grpc_channel_args args = {1, &arg};

    s->server = grpc_server_create(&args, NULL);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    if (!s->server || !s->cq) {
        snprintf(err, errlen, "cannot create the gRPC server");
        return BRN_ENOMEM;
    }
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    for (int i = 0; i < s->n_methods; i++) {
        s->methods[i].handle = grpc_server_register_method(s->server, s->methods[i].method->path, NULL,
                                                           GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
        if (!s->methods[i].handle) {
            snprintf(err, errlen, "cannot register %s", s->methods[i].method->path);
            return BRN_EINVAL;
        }
    }
    size_t o = 0;
    for (int i = 0; i < s->n_listen; i++) {
        char bound[512];
        rc = rpc_listen_add(s, s->listen[i], bound, sizeof bound, err, errlen);
        if (rc) return rc;
        o += (size_t)snprintf(s->addresses + o, sizeof s->addresses - o, "%s%s", i ? ", " : "", bound);
        if (o >= sizeof s->addresses) o = sizeof s->addresses - 1;
    }
    if (uv_async_init(s->loop, &s->async, on_async)) {
        snprintf(err, errlen, "uv_async_init failed");
        return BRN_EIO;
    }
    s->async.data = s;
    s->async_open = 1;
    grpc_server_start(s->server);
    s->started = 1;
    if (pthread_create(&s->cq_thread, NULL, cq_thread_main, s)) {
        snprintf(err, errlen, "cannot start the completion-queue thread");
        uv_close((uv_handle_t *)&s->async, on_async_closed); /* rpc_server_free waits for it */
        return BRN_ENOMEM;
    }
    s->thread_started = 1;
    for (int i = 0; i < s->n_methods; i++)
        for (int k = 0; k < RPC_ARMED_PER_METHOD; k++) rpc_server_arm(s, &s->methods[i]);
    rpc_server_arm(s, NULL);
    rpc_server_arm(s, NULL);
    return 0;
}

const char *rpc_server_addresses(const brn_rpc_server *s) { return s->addresses; }

/* ---- shutdown: notify → cancel all → (tag) destroy server → shutdown queue → (thread
 * sees GRPC_QUEUE_SHUTDOWN) join, destroy queue → done. grpc_shutdown in free. ---- */

static void on_async_closed(uv_handle_t *h)
{
    brn_rpc_server *s = h->data;
    s->async_open = 0;
    if (s->shutdown_done) s->shutdown_done(s->shutdown_user);
    if (s->free_pending) server_release(s);
}

static void server_finish_shutdown(brn_rpc_server *s)
{
    pthread_join(s->cq_thread, NULL);
    s->thread_started = 0;
    grpc_completion_queue_destroy(s->cq);
    s->cq = NULL;
    if (s->live_calls) LOG_DEBUG("rpc: %ld call records left at shutdown", s->live_calls);
    uv_close((uv_handle_t *)&s->async, on_async_closed);
}

static void on_grace_over(uv_timer_t *t)
{
    brn_rpc_server *s = t->data;
    if (s->server) grpc_server_cancel_all_calls(s->server);
}

static void on_server_shutdown(rpc_tag *t, int ok)
{
    brn_rpc_server *s = container_of(t, brn_rpc_server, tag_shutdown);
    uv_timer_stop(&s->grace);
    uv_close((uv_handle_t *)&s->grace, NULL);
    grpc_server_destroy(s->server);
    s->server = NULL;
    grpc_completion_queue_shutdown(s->cq);
}

void rpc_server_shutdown(brn_rpc_server *s, void (*done)(void *user), void *user)
{
    s->shutdown_done = done;
    s->shutdown_user = user;
    if (s->shutting_down) return;
    s->shutting_down = 1;
    if (!s->started || !s->thread_started) {
        if (done) done(user);
        return;
    }
    s->tag_shutdown.fn = on_server_shutdown;
    grpc_server_shutdown_and_notify(s->server, s->cq, &s->tag_shutdown);
    /* the tag only comes once every call is done: cancel the rest after a grace period */
    uv_timer_init(s->loop, &s->grace);
    s->grace.data = s;
    uv_timer_start(&s->grace, on_grace_over, RPC_SHUTDOWN_GRACE_MS, 0);
}

void rpc_server_free(brn_rpc_server *s)
{
    if (!s) return;
    if (s->thread_started) {
        /* the shutdown sequence was never run: leaking beats freeing under the thread */
        LOG_WARN("rpc_server_free without shutdown");
        return;
    }
    if (s->async_open) {
        s->free_pending = 1; /* the handle's close callback finishes the job */
        return;
    }
    server_release(s);
}

static void server_release(brn_rpc_server *s)
{
    if (s->server) grpc_server_destroy(s->server);
    if (s->cq) {
        grpc_completion_queue_shutdown(s->cq);
        while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
               GRPC_QUEUE_SHUTDOWN) {
        }
        grpc_completion_queue_destroy(s->cq);
    }
    for (int i = 0; i < s->n_listen; i++) free(s->listen[i]);
    free(s->listen);
    free(s->methods);
    free(s->token);
    free(s->tls_cert);
    free(s->tls_key);
    free(s->events);
    pthread_mutex_destroy(&s->lock);
    if (s->grpc_inited) grpc_shutdown();
    free(s);
}
