/* brnctl's shared command-line state: global options, the connection, exit codes.
 *
 * Commands are functions int cmd_x(cli *c, int argc, char **argv) returning a process
 * exit status (sysexits.h); only main() exits. */
#ifndef BRNCTL_CLI_H
#define BRNCTL_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "ctl_rpc.h"

/* The service's method paths (package brn.v1, service Trainer). */
#define M_SUBMIT "/brn.v1.Trainer/SubmitJob"
#define M_GET "/brn.v1.Trainer/GetJob"
#define M_LIST "/brn.v1.Trainer/ListJobs"
#define M_CANCEL "/brn.v1.Trainer/CancelJob"
#define M_WATCH "/brn.v1.Trainer/WatchJob"
#define M_METRICS "/brn.v1.Trainer/GetMetrics"
#define M_INFO "/brn.v1.Trainer/GetServerInfo"
#define M_DELETE "/brn.v1.Trainer/DeleteJob"
#define M_HEALTH "/grpc.health.v1.Health/Check"

#define CLI_DEFAULT_TIMEOUT_S 30.0
/* A watch lasts as long as the job: the deadline only guards against a stream that
 * never ends (a CPU run of a large WRN can take days). */
#define CLI_WATCH_DEADLINE_S (30.0 * 24 * 3600)
/* How long `watch` keeps trying to reconnect when the daemon restarts mid-job. */
#define CLI_RECONNECT_S 60.0

typedef struct cli {
    const char *prog;
    const char *addr;          /* --addr (NULL: BRN_ADDR or the default socket) */
    const char *token;         /* --token (NULL: BRN_TOKEN) */
    const char *token_file;    /* --token-file */
    char token_buf[512];
    int tls;                   /* --tls (implied by --ca) */
    const char *ca_file;       /* --ca (NULL: BRN_CA, else gRPC's default roots) */
    const char *tls_server_name; /* --tls-server-name */
    char *ca_pem;
    int json;                  /* --json */
    double timeout_s;          /* --timeout */
    ctl_conn conn;
    int connected;
} cli;

void cli_init(cli *c, const char *prog);
void cli_free(cli *c);

/* If argv[*i] is a global option, consumes it (and its value), sets *rc on a usage
 * error and returns 1; returns 0 when it is not a global option. */
int cli_global_opt(cli *c, int argc, char **argv, int *i, int *rc);

/* "--name=value" or "--name value" at argv[*i]: the value (advancing *i past it), else NULL. */
const char *cli_opt_value(int argc, char **argv, int *i, const char *name);

/* Opens the channel once; returns 0 or an exit status (message printed). */
int cli_connect(cli *c);

/* Prints "prog: CODE: message" (with a hint when unreachable) and returns the exit status. */
int cli_fail(cli *c, const ctl_status *st, const char *what);

/* sysexits status for a gRPC code. */
int cli_exit_code(grpc_status_code code);

/* Usage error: prints the message and a pointer to --help; returns EX_USAGE. */
int cli_usage(cli *c, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parses a job id ("7" or "#7"); returns 0 or -1. */
int cli_parse_id(const char *s, int64_t *id);

/* Writes j to stdout (indented) and frees it. */
void cli_print_json(json_t *j);

int64_t cli_now_ms(void);

int cmd_submit(cli *c, int argc, char **argv);
int cmd_watch(cli *c, int argc, char **argv);
int cmd_list(cli *c, int argc, char **argv);
int cmd_status(cli *c, int argc, char **argv);
int cmd_cancel(cli *c, int argc, char **argv);
int cmd_delete(cli *c, int argc, char **argv);
int cmd_curves(cli *c, int argc, char **argv);
int cmd_compare(cli *c, int argc, char **argv);
int cmd_info(cli *c, int argc, char **argv);
int cmd_health(cli *c, int argc, char **argv);
int cmd_sweep(cli *c, int argc, char **argv);
int cmd_report(cli *c, int argc, char **argv);

/* Streams a job's events to the terminal until it ends; returns 0 iff it SUCCEEDED,
 * 1 when it FAILED or was CANCELLED, or an exit status for an RPC failure. */
int cli_watch_job(cli *c, int64_t id);

#endif
