/* brnctl: the command-line client of brnd (gRPC). main() parses the global options and
 * dispatches to a command; commands return sysexits statuses. */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "engine.h"

typedef struct command {
    const char *name;
    int (*run)(cli *c, int argc, char **argv);
    const char *args, *help;
} command;

static const command COMMANDS[] = {
    {"submit", cmd_submit, "[SPEC FLAGS] [--label K=V] [--wait]", "queue a job (flags of `brnd train`)"},
    {"list", cmd_list, "[--state S] [--label K=V] [--limit N]", "list jobs, newest first"},
    {"status", cmd_status, "ID...", "show a job and its spec"},
    {"watch", cmd_watch, "ID", "follow a job to its end"},
    {"cancel", cmd_cancel, "ID...", "cancel jobs"},
    {"delete", cmd_delete, "ID...", "delete finished jobs (files, metrics, records)"},
    {"curves", cmd_curves, "ID... [--csv|--json|--svg F]", "per-epoch curves"},
    {"compare", cmd_compare, "ID... --svg FILE", "compare jobs in a table and a picture"},
    {"sweep", cmd_sweep, "--name N --grid F=V1,V2 [--seeds N] [--wait]", "submit a grid x seeds, idempotently"},
    {"report", cmd_report, "NAME [--markdown|--csv|--json] [--svg F]", "a sweep's results: mean ± std over seeds"},
    {"info", cmd_info, "", "daemon version, devices, datasets, queue"},
    {"health", cmd_health, "", "grpc.health.v1 check"},
};
#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *out, const char *prog)
{
    fprintf(out, "Usage: %s [--addr ADDR] [--token TOKEN] [--json] COMMAND [ARGS]\n\nCommands:\n", prog);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-8s %-44s %s\n", COMMANDS[i].name, COMMANDS[i].args, COMMANDS[i].help);
    fprintf(out,
            "\nGlobal options (before or after the command):\n"
            "  --addr ADDR        brnd's address: unix:/path, /path, host:port (env BRN_ADDR; default:\n"
            "                     the unix socket brnd.sock in brnd's default state directory)\n"
            "  --token TOKEN      bearer token for a TCP listener (env BRN_TOKEN)\n"
            "  --token-file FILE  read the token from FILE\n"
            "  --tls              TLS to a TCP address (brnd --tls-cert/--tls-key)\n"
            "  --ca FILE          trust the CA certificates in FILE (PEM; env BRN_CA); implies --tls\n"
            "  --tls-server-name NAME  the name the server's certificate must carry (default: the host)\n"
            "  --timeout SECONDS  deadline of each request (default %.0f)\n"
            "  --json             machine-readable output\n"
            "  --help             this text; `%s COMMAND --help` for a command's options\n"
            "\nExit status: 0 ok; 1 a job waited for did not succeed; 64 usage; 65 invalid request;\n"
            "66 no such job; 69 daemon unreachable; 75 timeout; 76 TLS handshake failed (untrusted certificate,\n"
            "wrong name, or no TLS on the server); 77 not authorized.\n",
            CLI_DEFAULT_TIMEOUT_S, prog);
}

int main(int argc, char **argv)
{
    cli c;
    const char *prog = "brnctl";
    cli_init(&c, prog);
    int i = 1, rc = 0;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") || !strcmp(argv[i], "help")) {
            usage(stdout, prog);
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("brnctl %s\n", BRN_VERSION);
            return 0;
        }
        if (!cli_global_opt(&c, argc, argv, &i, &rc)) break;
        if (rc) return rc;
    }
    if (i >= argc) {
        usage(stderr, prog);
        return EX_USAGE;
    }
    for (size_t k = 0; k < N_COMMANDS; k++) {
        if (strcmp(argv[i], COMMANDS[k].name)) continue;
        rc = COMMANDS[k].run(&c, argc - i - 1, argv + i + 1);
        cli_free(&c);
        return rc;
    }
    return cli_usage(&c, NULL, "unknown command '%s'", argv[i]);
}
