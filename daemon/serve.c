/* `brnd serve`: options and config file, state directory, then store → service →
 * scheduler → gRPC server on one libuv loop; SIGTERM/SIGINT stop in the reverse order;
 * SIGHUP reloads (the token file) and never stops the daemon. */
#include "serve.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include <uv.h>

#include "engine.h"
#include "rpc/rpc.h"
#include "common/limits.h"
#include "common/log.h"
#include "scheduler/scheduler.h"
#include "service/service.h"
#include "store/store.h"
#include "store/store_writer.h"

#define MAX_LISTEN 16

typedef struct serve_opts {
    char state_dir[PATH_MAX];
    char data_dir[PATH_MAX];
    char *listen[MAX_LISTEN];
    int n_listen;
    char token_file[PATH_MAX];
    char tls_cert[PATH_MAX], tls_key[PATH_MAX];
    int insecure_loopback;
    int log_level;
    char log_file[PATH_MAX];
    brn_limits limits;
} serve_opts;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: brnd [serve] [options]\n"
            "  --state-dir DIR     jobs, checkpoints, brnd.db and brnd.sock (mode 0700)\n"
            "                      default: $XDG_STATE_HOME/brnd, /var/lib/brnd as root, ~/.local/state/brnd\n"
            "  --data-dir DIR      datasets directory (default: %s)\n"
            "  --listen ADDR       unix:PATH or HOST:PORT, repeatable (default: unix:<state-dir>/brnd.sock);\n"
            "                      TCP needs --token-file (or --insecure-loopback)\n"
            "  --token-file FILE   clients must send 'authorization: Bearer <token>'; SIGHUP re-reads it\n"
            "  --insecure-loopback allow TCP without a token on a literal loopback address (127.0.0.1,\n"
            "                      [::1]): every local user can then use the daemon\n"
            "  --tls-cert FILE     PEM certificate for TCP listeners (with --tls-key)\n"
            "  --tls-key FILE      PEM private key\n"
            "  --log-level LEVEL   error | warn | info | debug (default: info)\n"
            "  --log-file FILE     append log lines to FILE instead of stderr\n"
            "%s"
            "  --config FILE       JSON object with the same keys (state_dir, data_dir, listen (string or\n"
            "                      array), token_file, tls_cert, tls_key, insecure_loopback (boolean),\n"
            "                      log_level, log_file, and the limits above with '_': max_epochs,\n"
            "                      memory_budget, ...); flags override it\n",
            "/usr/share/datasets", LIMITS_USAGE);
}

/* ---- options ---- */

static int set_path(char *dst, const char *key, const char *v)
{
    if (!v[0] || strlen(v) >= PATH_MAX) {
        fprintf(stderr, "brnd: %s: %s\n", key, v[0] ? "path too long" : "empty value");
        return EX_USAGE;
    }
    strcpy(dst, v);
    return 0;
}

static int add_listen(serve_opts *o, const char *v)
{
    if (o->n_listen == MAX_LISTEN || !v[0]) {
        fprintf(stderr, "brnd: listen: %s\n", v[0] ? "too many addresses" : "empty address");
        return EX_USAGE;
    }
    o->listen[o->n_listen++] = strdup(v);
    return 0;
}

/* One option by name (flag without dashes, or config key with '_'). */
static int set_option(serve_opts *o, const char *name, const char *v)
{
    char key[64];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof key; i++) key[i] = name[i] == '-' ? '_' : name[i];
    key[i] = 0;
    if (!strcmp(key, "state_dir")) return set_path(o->state_dir, key, v);
    if (!strcmp(key, "data_dir")) return set_path(o->data_dir, key, v);
    if (!strcmp(key, "token_file")) return set_path(o->token_file, key, v);
    if (!strcmp(key, "tls_cert")) return set_path(o->tls_cert, key, v);
    if (!strcmp(key, "tls_key")) return set_path(o->tls_key, key, v);
    if (!strcmp(key, "log_file")) return set_path(o->log_file, key, v);
    if (!strcmp(key, "listen")) return add_listen(o, v);
    if (!strcmp(key, "log_level")) {
        if ((o->log_level = brnd_log_parse_level(v)) < 0) {
            fprintf(stderr, "brnd: log_level: '%s' is not one of error, warn, info, debug\n", v);
            return EX_USAGE;
        }
        return 0;
    }
    char err[256];
    int lrc = limits_set_option(&o->limits, key, v, err, sizeof err);
    if (lrc <= 0) {
        if (lrc) fprintf(stderr, "brnd: %s\n", err);
        return lrc ? EX_USAGE : 0;
    }
    fprintf(stderr, "brnd: unknown option '%s'\n", name);
    return EX_USAGE;
}

static int load_config(serve_opts *o, const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        if (je.line > 0) fprintf(stderr, "brnd: config %s:%d: %s\n", path, je.line, je.text);
        else fprintf(stderr, "brnd: config %s: %s\n", path, je.text);
        return access(path, R_OK) ? EX_NOINPUT : EX_CONFIG;
    }
    int rc = 0;
    const char *key;
    json_t *v;
    if (!json_is_object(j)) {
        fprintf(stderr, "brnd: config %s: not a JSON object\n", path);
        rc = EX_CONFIG;
    }
    static const char *const KEYS[] = {"state_dir", "data_dir", "listen", "token_file",
                                       "tls_cert", "tls_key", "insecure_loopback", "log_level", "log_file"};
    json_object_foreach(j, key, v) {
        if (rc) break;
        int known = limits_is_key(key);
        for (size_t k = 0; k < sizeof KEYS / sizeof KEYS[0]; k++) known |= !strcmp(key, KEYS[k]);
        /* limits may be written as JSON numbers */
        char num[32];
        const char *sval = json_is_string(v) ? json_string_value(v) : NULL;
        if (json_is_integer(v) && limits_is_key(key)) {
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            sval = num;
        }
        if (!known) {
            fprintf(stderr, "brnd: config %s: unknown key '%s'\n", path, key);
            rc = EX_CONFIG;
        } else if (!strcmp(key, "insecure_loopback")) {
            if (!json_is_boolean(v)) {
                fprintf(stderr, "brnd: config %s: insecure_loopback: must be true or false\n", path);
                rc = EX_CONFIG;
            } else {
                o->insecure_loopback = json_is_true(v);
            }
        } else if (!strcmp(key, "listen") && json_is_array(v)) {
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x) {
                if (!json_is_string(x)) {
                    fprintf(stderr, "brnd: config %s: listen: entries must be strings\n", path);
                    rc = EX_CONFIG;
                    break;
                }
                if (add_listen(o, json_string_value(x))) rc = EX_CONFIG;
            }
        } else if (!sval) {
            fprintf(stderr, "brnd: config %s: %s: must be a string%s\n", path, key,
                    limits_is_key(key) ? " or a whole number" : "");
            rc = EX_CONFIG;
        } else if (set_option(o, key, sval)) {
            fprintf(stderr, "brnd: config %s: key '%s' rejected\n", path, key);
            rc = EX_CONFIG;
        }
    }
    json_decref(j);
    return rc;
}

static void free_listen(serve_opts *o)
{
    for (int i = 0; i < o->n_listen; i++) free(o->listen[i]);
    o->n_listen = 0;
}

/* Flags override the config file; --listen on the command line replaces its list. */
static int parse_options(serve_opts *o, int argc, char **argv, int *help)
{
    int rc;
    const char *config = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) *help = 1;
        if (!strncmp(argv[i], "--config=", 9)) config = argv[i] + 9;
        else if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[i + 1];
    }
    if (*help) return 0;
    if (config && (rc = load_config(o, config))) return rc;
    int cli_listen = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '='), *v;
        char name[64];
        if (strncmp(a, "--", 2) || !a[2]) {
            fprintf(stderr, "brnd: unexpected argument '%s'\n", a);
            return EX_USAGE;
        }
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, a + 2, len);
        name[len] = 0;
        if (!strcmp(name, "insecure-loopback") || !strcmp(name, "insecure_loopback")) {
            if (eq) {
                fprintf(stderr, "brnd: --insecure-loopback takes no value\n");
                return EX_USAGE;
            }
            o->insecure_loopback = 1;
            continue;
        }
        if (eq) v = eq + 1;
        else if (i + 1 < argc) v = argv[++i];
        else {
            fprintf(stderr, "brnd: --%s needs a value\n", name);
            return EX_USAGE;
        }
        if (!strcmp(name, "config")) continue;
        if (!strcmp(name, "listen") && !cli_listen++) free_listen(o);
        if ((rc = set_option(o, name, v))) return rc;
    }
    return 0;
}

/* ---- files ---- */

static int default_state_dir(char *dst, size_t n)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (xdg && xdg[0] == '/') return snprintf(dst, n, "%s/brnd", xdg) >= (int)n ? -1 : 0;
    if (geteuid() == 0) return snprintf(dst, n, "/var/lib/brnd") >= (int)n ? -1 : 0;
    if (home && home[0] == '/') return snprintf(dst, n, "%s/.local/state/brnd", home) >= (int)n ? -1 : 0;
    return -1;
}

/* Create the state directory (and parents) and make it private to this user. */
static int prepare_state_dir(const char *dir)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0700) && errno != EEXIST) goto fail;
        *p = '/';
    }
    if (mkdir(tmp, 0700) && errno != EEXIST) goto fail;
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "brnd: state directory %s: not a directory\n", dir);
        return EX_CANTCREAT;
    }
    if (st.st_uid != geteuid()) {
        fprintf(stderr, "brnd: state directory %s: owned by another user\n", dir);
        return EX_CANTCREAT;
    }
    if ((st.st_mode & 077) && chmod(dir, 0700)) goto fail;
    if (access(dir, W_OK | X_OK)) goto fail;
    return 0;
fail:
    fprintf(stderr, "brnd: state directory %s: %s\n", dir, strerror(errno));
    return EX_CANTCREAT;
}

/* One daemon per state directory: a second one would share the database and the jobs'
 * checkpoints. The lock lives as long as the returned descriptor (the process). */
static int lock_state_dir(const char *dir, int *fd_out)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/brnd.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "brnd: %s: %s\n", path, strerror(errno));
        return EX_CANTCREAT;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        fprintf(stderr, "brnd: state directory %s is in use by another brnd\n", dir);
        close(fd);
        return EX_CANTCREAT;
    }
    *fd_out = fd;
    return 0;
}

/* Read a small file whole (tokens, PEM files). Returns NULL with a message. */
static char *read_file(const char *what, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "brnd: %s %s: %s\n", what, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    return buf;
}

static char *read_token(const char *path)
{
    char *t = read_file("token file", path);
    if (!t) return NULL;
    size_t n = strlen(t);
    while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ' || t[n - 1] == '\t')) t[--n] = 0;
    if (n == 0 || strpbrk(t, "\r\n")) {
        fprintf(stderr, "brnd: token file %s: must hold one non-empty line\n", path);
        free(t);
        return NULL;
    }
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        LOG_WARN("token file %s is readable by other users (chmod 600 it)", path);
    return t;
}

/* systemd Type=notify readiness, without linking libsystemd. */
static void notify_systemd(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    if (!path || !path[0] || strlen(path) >= sizeof sa.sun_path) return;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    if (path[0] == '@') sa.sun_path[0] = 0; /* abstract namespace */
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
        LOG_DEBUG("sd_notify: %s", strerror(errno));
    close(fd);
}

/* ---- running and stopping ---- */

/* The loop's reads wait at most this long for a lock held by another process (a backup,
 * the sqlite3 shell) and then answer UNAVAILABLE: a read must not stall every RPC. */
#define SERVE_READ_BUSY_MS 100
/* At shutdown, the store writer gets this long to write what is queued. */
#define SERVE_STORE_FLUSH_MS 5000

typedef struct serve_ctx {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint, sighup;
    const char *token_file;   /* re-read on SIGHUP; NULL without one */
    brn_store *store;            /* the loop's, read-only */
    store_writer *writer;
    brn_service *svc;
    brn_scheduler *sched;
    brn_rpc_server *rpc;
    int stopping;
} serve_ctx;

static void on_writer_closed(void *user)
{
    serve_ctx *x = user;
    scheduler_free(x->sched);
    x->sched = NULL;
    if (x->sigterm.data) {
        uv_close((uv_handle_t *)&x->sigterm, NULL);
        uv_close((uv_handle_t *)&x->sigint, NULL);
        uv_close((uv_handle_t *)&x->sighup, NULL);
    }
}

static void on_rpc_stopped(void *user)
{
    serve_ctx *x = user;
    LOG_INFO("server stopped");
    /* the scheduler still hears how its last writes went; then it goes */
    store_writer_close(x->writer, SERVE_STORE_FLUSH_MS, on_writer_closed, x);
}

static void on_sched_stopped(void *user)
{
    serve_ctx *x = user;
    LOG_INFO("workers idle; stopping the gRPC server");
    service_end_watches(x->svc, "brnd is stopping; running jobs resume when it starts again");
    rpc_server_shutdown(x->rpc, on_rpc_stopped, x);
}

static void on_signal(uv_signal_t *h, int signum)
{
    serve_ctx *x = h->data;
    if (x->stopping++) {
        LOG_WARN("%s again: still stopping (waiting for the running job's checkpoint)", strsignal(signum));
        return;
    }
    LOG_INFO("%s: stopping", strsignal(signum));
    notify_systemd("STOPPING=1");
    service_set_shutting_down(x->svc);
    scheduler_stop(x->sched, on_sched_stopped, x);
}

/* SIGHUP: re-read what can change under a running daemon. A bad new token file keeps the
 * old token (never an open door); the daemon goes on either way. */
static void reload_token(serve_ctx *x)
{
    if (!x->token_file) return;
    char *t = read_token(x->token_file);
    if (!t) {
        LOG_ERROR("SIGHUP: token file %s not reloaded; the previous token stays in force", x->token_file);
        return;
    }
    if (rpc_server_set_token(x->rpc, t)) LOG_ERROR("SIGHUP: token not replaced (out of memory)");
    else LOG_INFO("SIGHUP: token file %s reloaded", x->token_file);
    free(t);
}

static void on_sighup(uv_signal_t *h, int signum)
{
    serve_ctx *x = h->data;
    if (x->stopping) return;
    /* reopen first: after logrotate moved the file, the lines below go to the new one */
    int rc = brnd_log_reopen();
    LOG_INFO("SIGHUP: reloading");
    if (rc) LOG_ERROR("SIGHUP: cannot reopen the log file: %s; still writing to the old one", strerror(-rc));
    reload_token(x);
}

static int store_exit_code(int rc)
{
    return rc == STORE_TOO_NEW ? EX_DATAERR : rc == BRN_ENOMEM ? EX_OSERR : EX_CANTCREAT;
}

int serve_main(int argc, char **argv)
{
    serve_opts o;
    memset(&o, 0, sizeof o);
    o.log_level = BRN_LOG_INFO;
    limits_defaults(&o.limits);
    int help = 0, rc = parse_options(&o, argc, argv, &help), exit_code = EX_SOFTWARE;
    char err[1024], path[PATH_MAX + 32];
    char *token = NULL, *cert = NULL, *key = NULL;
    int lock_fd = -1;
    serve_ctx x;
    memset(&x, 0, sizeof x);
    if (help) {
        usage(stdout);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "brnd: see brnd serve --help\n");
        free_listen(&o);
        return rc;
    }
    brnd_log_set_level((brn_log_level)o.log_level);
    if (o.log_file[0] && (rc = brnd_log_set_file(o.log_file))) {
        fprintf(stderr, "brnd: log file %s: %s\n", o.log_file, strerror(-rc));
        free_listen(&o);
        return EX_CANTCREAT;
    }
    signal(SIGPIPE, SIG_IGN);
    limits_resolve(&o.limits);

    if (!o.state_dir[0] && default_state_dir(o.state_dir, sizeof o.state_dir)) {
        fprintf(stderr, "brnd: no state directory: set --state-dir (or HOME / XDG_STATE_HOME)\n");
        exit_code = EX_USAGE;
        goto out_opts;
    }
    if ((exit_code = prepare_state_dir(o.state_dir)) || (exit_code = lock_state_dir(o.state_dir, &lock_fd)))
        goto out_opts;
    exit_code = EX_SOFTWARE;
    if (o.n_listen == 0) {
        snprintf(path, sizeof path, "unix:%s/brnd.sock", o.state_dir);
        add_listen(&o, path);
    }
    if (o.token_file[0] && !(token = read_token(o.token_file))) {
        exit_code = EX_NOINPUT;
        goto out_opts;
    }
    if (!o.tls_cert[0] != !o.tls_key[0]) {
        fprintf(stderr, "brnd: --tls-cert and --tls-key go together\n");
        exit_code = EX_USAGE;
        goto out_opts;
    }
    if (o.tls_cert[0] && (!(cert = read_file("TLS certificate", o.tls_cert)) || !(key = read_file("TLS key", o.tls_key)))) {
        exit_code = EX_NOINPUT;
        goto out_opts;
    }

    if (uv_loop_init(&x.loop)) {
        fprintf(stderr, "brnd: cannot create the event loop\n");
        exit_code = EX_OSERR;
        goto out_opts;
    }
    const char *fault = getenv(STORE_TEST_FAULT_ENV);
    if (fault && fault[0]) {
        if (store_fault_enable(fault)) {
            fprintf(stderr, "brnd: %s: cannot install the test VFS\n", STORE_TEST_FAULT_ENV);
            goto out_loop;
        }
        LOG_WARN("%s is set: store writes fail with SQLITE_FULL while %s exists (a test of full disks)",
                 STORE_TEST_FAULT_ENV, fault);
    }
    snprintf(path, sizeof path, "%s/brnd.db", o.state_dir);
    if ((rc = store_open(path, &x.store, err, sizeof err))) {
        fprintf(stderr, "brnd: store %s: %s\n", path, err);
        exit_code = store_exit_code(rc);
        goto out_loop;
    }
    if (store_set_busy_timeout(x.store, SERVE_READ_BUSY_MS, err, sizeof err) ||
        store_set_query_only(x.store, err, sizeof err))
        goto out_err_store;
    if ((rc = store_writer_start(&x.loop, path, &x.writer, err, sizeof err))) {
        exit_code = store_exit_code(rc);
        goto out_err_store;
    }
    if (service_create(x.store, x.writer, o.state_dir, o.data_dir, &o.limits, &x.svc, err, sizeof err)) goto out_err_writer;
    brn_sched_listener listener = service_listener(x.svc);
    brn_sched_config sc = {.state_dir = o.state_dir, .data_dir = o.data_dir, .limits = &o.limits};
    if (scheduler_create(&x.loop, x.store, x.writer, &sc, &listener, &x.sched, err, sizeof err)) goto out_err_svc;
    service_set_scheduler(x.svc, x.sched);
    if ((rc = scheduler_recover(x.sched, err, sizeof err))) {
        exit_code = store_exit_code(rc);
        goto out_err_sched;
    }

    int n_methods;
    const rpc_method *methods = service_methods(x.svc, &n_methods);
    rpc_config rc_cfg = {.listen = (const char *const *)o.listen, .n_listen = o.n_listen, .token = token,
                         .tls_cert_pem = cert, .tls_key_pem = key, .insecure_loopback = o.insecure_loopback};
    if (rpc_server_create(&x.loop, &rc_cfg, methods, n_methods, &x.rpc, err, sizeof err)) goto out_err_sched;
    if ((rc = rpc_server_start(x.rpc, err, sizeof err))) {
        exit_code = rc == RPC_EADDR ? EX_USAGE : rc == RPC_EBIND ? EX_UNAVAILABLE : EX_SOFTWARE;
        goto out_err_rpc;
    }

    uv_signal_init(&x.loop, &x.sigterm);
    uv_signal_init(&x.loop, &x.sigint);
    uv_signal_init(&x.loop, &x.sighup);
    x.sigterm.data = x.sigint.data = x.sighup.data = &x;
    x.token_file = o.token_file[0] ? o.token_file : NULL;
    uv_signal_start(&x.sigterm, on_signal, SIGTERM);
    uv_signal_start(&x.sigint, on_signal, SIGINT);
    uv_signal_start(&x.sighup, on_sighup, SIGHUP);

    LOG_INFO("state directory %s, data directory %s%s", o.state_dir, o.data_dir[0] ? o.data_dir : "(default)",
             token ? ", bearer token required" : "");
    fprintf(stderr, "brnd: ready on %s\n", rpc_server_addresses(x.rpc));
    fflush(stderr);
    notify_systemd("READY=1");
    scheduler_kick(x.sched);

    uv_run(&x.loop, UV_RUN_DEFAULT);
    rpc_server_free(x.rpc);
    service_free(x.svc);
    store_writer_free(x.writer);
    store_close(x.store);
    uv_loop_close(&x.loop);
    LOG_INFO("stopped");
    exit_code = 0;
    goto out_opts;

out_err_rpc:
    fprintf(stderr, "brnd: %s\n", err);
    /* not started: nothing to drain; the scheduler's handle still needs the loop to close */
    rpc_server_free(x.rpc);
    goto out_sched;
out_err_sched:
    fprintf(stderr, "brnd: %s\n", err);
out_sched:
    /* recovery writes may be queued: give them up, let their completions reach the
     * scheduler, then free it (on_writer_closed) and let the handles close */
    scheduler_stop(x.sched, NULL, NULL);
    store_writer_close(x.writer, 0, on_writer_closed, &x);
    uv_run(&x.loop, UV_RUN_DEFAULT);
    service_free(x.svc);
    store_writer_free(x.writer);
    store_close(x.store);
    goto out_loop;
out_err_svc:
    fprintf(stderr, "brnd: %s\n", err);
    service_free(x.svc);
    goto out_writer;
out_err_writer:
    fprintf(stderr, "brnd: %s\n", err);
out_writer:
    store_writer_close(x.writer, 0, NULL, NULL);
    uv_run(&x.loop, UV_RUN_DEFAULT);
    store_writer_free(x.writer);
    store_close(x.store);
    goto out_loop;
out_err_store:
    fprintf(stderr, "brnd: %s\n", err);
    store_close(x.store);
out_loop:
    uv_loop_close(&x.loop);
out_opts:
    brnd_log_close();
    if (lock_fd >= 0) close(lock_fd);
    free(token);
    free(cert);
    free(key);
    free_listen(&o);
    return exit_code;
}
