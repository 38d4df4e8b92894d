/* Global options, connection and exit codes of brnctl (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "addr.h"
#include "common/status.h"

void cli_init(cli *c, const char *prog)
{
    memset(c, 0, sizeof *c);
    c->prog = prog;
    c->timeout_s = CLI_DEFAULT_TIMEOUT_S;
}

void cli_free(cli *c)
{
    if (c->connected) ctl_close(&c->conn);
    c->connected = 0;
    free(c->ca_pem);
    c->ca_pem = NULL;
}

int cli_usage(cli *c, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s%s%s: ", c->prog, cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s %s%s--help'.\n", c->prog, cmd ? cmd : "", cmd ? " " : "");
    return EX_USAGE;
}

const char *cli_opt_value(int argc, char **argv, int *i, const char *name)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) == 0 && a[n] == '=') return a + n + 1;
    if (strcmp(a, name) == 0 && *i + 1 < argc) return argv[++*i];
    return NULL;
}

static int is_opt(const char *a, const char *name)
{
    size_t n = strlen(name);
    return strncmp(a, name, n) == 0 && (a[n] == 0 || a[n] == '=');
}

int cli_global_opt(cli *c, int argc, char **argv, int *i, int *rc)
{
    const char *a = argv[*i], *v;
    *rc = 0;
    if (!strcmp(a, "--json")) {
        c->json = 1;
        return 1;
    }
    if (!strcmp(a, "--tls")) {
        c->tls = 1;
        return 1;
    }
    static const char *const with_value[] = {"--addr", "--token", "--token-file", "--timeout", "--ca",
                                             "--tls-server-name"};
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) {
        if (!is_opt(a, with_value[k])) continue;
        if (!(v = cli_opt_value(argc, argv, i, with_value[k]))) {
            *rc = cli_usage(c, NULL, "%s needs a value", with_value[k]);
            return 1;
        }
        if (k == 0) c->addr = v;
        else if (k == 1) c->token = v;
        else if (k == 2) c->token_file = v;
        else if (k == 4) c->ca_file = v, c->tls = 1;
        else if (k == 5) c->tls_server_name = v, c->tls = 1;
        else {
            char *end;
            double t = strtod(v, &end);
            if (*end || !(t > 0 && t < 1e7)) *rc = cli_usage(c, NULL, "--timeout: '%s' is not a positive number of seconds", v);
            else c->timeout_s = t;
        }
        return 1;
    }
    return 0;
}

static int load_token(cli *c, const char **token)
{
    *token = c->token ? c->token : getenv("BRN_TOKEN");
    if (!c->token_file) return 0;
    FILE *f = fopen(c->token_file, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot read token file %s\n", c->prog, c->token_file);
        return EX_NOINPUT;
    }
    size_t n = fread(c->token_buf, 1, sizeof c->token_buf - 1, f);
    fclose(f);
    c->token_buf[n] = 0;
    /* the file's trailing newline is not part of the token */
    while (n && (c->token_buf[n - 1] == '\n' || c->token_buf[n - 1] == '\r' || c->token_buf[n - 1] == ' '))
        c->token_buf[--n] = 0;
    *token = c->token_buf;
    return 0;
}

/* The CA bundle for TLS: --ca, else BRN_CA (either implies TLS). */
static int load_ca(cli *c)
{
    const char *path = c->ca_file ? c->ca_file : getenv("BRN_CA");
    if (!path || !path[0]) return 0;
    c->tls = 1;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot read the CA file %s: %s\n", c->prog, path, strerror(errno));
        return EX_NOINPUT;
    }
    size_t cap = 1 << 20, n;
    c->ca_pem = malloc(cap);
    n = c->ca_pem ? fread(c->ca_pem, 1, cap - 1, f) : 0;
    fclose(f);
    if (!c->ca_pem) return EX_OSERR;
    c->ca_pem[n] = 0;
    if (!strstr(c->ca_pem, "-----BEGIN CERTIFICATE-----")) {
        fprintf(stderr, "%s: %s holds no PEM certificate\n", c->prog, path);
        return EX_DATAERR;
    }
    return 0;
}

int cli_connect(cli *c)
{
    char target[1100], err[256];
    const char *token;
    int rc;
    if (c->connected) return 0;
    if (addr_resolve(target, sizeof target, c->addr, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", c->prog, err);
        return EX_USAGE;
    }
    if ((rc = load_token(c, &token)) || (rc = load_ca(c))) return rc;
    if (c->tls && !strncmp(target, "unix:", 5)) {
        fprintf(stderr, "%s: --tls needs a TCP address (host:port), not %s\n", c->prog, target);
        return EX_USAGE;
    }
    const ctl_tls tls = {.enabled = c->tls, .ca_pem = c->ca_pem, .server_name = c->tls_server_name};
    if (ctl_open(&c->conn, target, token, &tls, c->timeout_s)) {
        fprintf(stderr, "%s: cannot create a channel to %s\n", c->prog, target);
        return EX_UNAVAILABLE;
    }
    c->connected = 1;
    return 0;
}

int cli_exit_code(grpc_status_code code)
{
    switch (code) {
    case GRPC_STATUS_OK: return 0;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_OUT_OF_RANGE:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_ALREADY_EXISTS: return EX_DATAERR;
    case GRPC_STATUS_NOT_FOUND: return EX_NOINPUT;
    case GRPC_STATUS_UNAUTHENTICATED:
    case GRPC_STATUS_PERMISSION_DENIED: return EX_NOPERM;
    case GRPC_STATUS_UNAVAILABLE: return EX_UNAVAILABLE;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
    case GRPC_STATUS_CANCELLED:
    case GRPC_STATUS_ABORTED: return EX_TEMPFAIL;
    case GRPC_STATUS_UNIMPLEMENTED: return EX_PROTOCOL; /* and a failed TLS handshake (cli_fail) */
    default: return EX_SOFTWARE;
    }
}

int cli_fail(cli *c, const ctl_status *st, const char *what)
{
    fprintf(stderr, "%s: %s: %s: %s\n", c->prog, what, ctl_code_name(st->code), st->message);
    if (c->conn.tls && ctl_status_is_tls_failure(st)) {
        fprintf(stderr,
                "%s: TLS handshake with %s failed: its certificate is not signed by the CA in %s, does not name the "
                "host (see --tls-server-name), or the server does not use TLS\n",
                c->prog, c->conn.target, c->ca_file ? c->ca_file : getenv("BRN_CA") ? getenv("BRN_CA") : "gRPC's default roots");
        return EX_PROTOCOL;
    }
    if (st->code == GRPC_STATUS_UNAVAILABLE && !strncmp(st->message, BRN_STATUS_STORE_BUSY, strlen(BRN_STATUS_STORE_BUSY)))
        fprintf(stderr, "%s: brnd is up but cannot use its database now (a full disk, or a lock held by another "
                "process); nothing was changed: try again later\n", c->prog);
    else if (st->code == GRPC_STATUS_UNAVAILABLE)
        fprintf(stderr, "%s: cannot reach brnd at %s (is it running? set --addr or BRN_ADDR)\n", c->prog,
                c->conn.target);
    else if (st->code == GRPC_STATUS_UNAUTHENTICATED)
        fprintf(stderr, "%s: the daemon wants a bearer token: set --token, --token-file or BRN_TOKEN\n", c->prog);
    return cli_exit_code(st->code);
}

int cli_parse_id(const char *s, int64_t *id)
{
    char *end;
    if (*s == '#') s++;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || v <= 0) return -1;
    *id = v;
    return 0;
}

void cli_print_json(json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(j);
}

int64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
