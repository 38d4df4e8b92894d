/* brnctl submit: the same flags as `brnd train`, sent as a SubmitJobRequest. */
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "pb_json.h"
#include "ctl_spec.h"
#include "labels.h"

static void submit_help(cli *c)
{
    printf("Usage: %s submit [--name NAME] [--label KEY=VALUE]... [--priority N] [--idempotency-key KEY] [--wait]\n"
           "       [SPEC FLAGS...]\n\n"
           "Queues a training job on brnd. The spec flags are those of `brnd train`; flags not given take\n"
           "the daemon's defaults. --wait streams the job's progress and exits 0 iff it SUCCEEDED.\n"
           "data-dir, init and checkpoint-dir are local-run options the daemon does not accept.\n\n"
           "Job options:\n"
           "  --name NAME             a name (at most 64 characters)\n"
           "  --label KEY=VALUE       a label (repeatable): key of a-z 0-9 _ . - (at most 63), value at\n"
           "                          most 256 bytes; `list --label` selects jobs by them\n"
           "  --priority N            -1000..1000, higher runs first (default 0)\n"
           "  --idempotency-key KEY   a retried submit with the same key returns the same job\n"
           "  --wait                  watch the job to its end\n\n"
           "Spec flags:\n", c->prog);
    brn_spec_print_help(stdout);
}

int cmd_submit(cli *c, int argc, char **argv)
{
    brn_job_spec spec;
    ctl_spec_given given;
    char err[512];
    int *rest = calloc((size_t)argc + 1, sizeof *rest), n_rest = 0, rc = 0, wait = 0;
    const char *name = NULL, *key = NULL;
    long priority = 0;
    Brn__V1__JobSpec *pspec = NULL;
    ctl_labels labels;
    ctl_labels_init(&labels);
    if (!rest) return EX_OSERR;
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            submit_help(c);
            goto out;
        }
    if (ctl_spec_args_parse(&spec, &given, argc, argv, rest, &n_rest, err, sizeof err)) {
        rc = cli_usage(c, "submit", "%s", err);
        goto out;
    }
    /* What the spec parser did not take: brnctl's own options. */
    for (int k = 0; k < n_rest; k++) {
        int i = rest[k], grc;
        const char *a = argv[i], *v;
        /* An option's value is the next token only if the spec parser left it too. */
        int lim = k + 1 < n_rest && rest[k + 1] == i + 1 ? argc : i + 1;
        if (cli_global_opt(c, lim, argv, &i, &grc)) {
            if (grc) {
                rc = grc;
                goto out;
            }
        } else if (!strcmp(a, "--wait")) {
            wait = 1;
        } else if ((v = cli_opt_value(lim, argv, &i, "--name"))) {
            name = v;
        } else if ((v = cli_opt_value(lim, argv, &i, "--label"))) {
            if (ctl_labels_add_arg(&labels, v, err, sizeof err)) {
                rc = cli_usage(c, "submit", "%s", err);
                goto out;
            }
        } else if ((v = cli_opt_value(lim, argv, &i, "--idempotency-key"))) {
            key = v;
        } else if ((v = cli_opt_value(lim, argv, &i, "--priority"))) {
            char *end;
            priority = strtol(v, &end, 10);
            if (end == v || *end || priority < -1000 || priority > 1000) {
                rc = cli_usage(c, "submit", "--priority: '%s' is not an integer in -1000..1000", v);
                goto out;
            }
        } else {
            rc = cli_usage(c, "submit", "%s '%s'", a[0] == '-' ? "unknown option or missing value:" :
                           "unexpected argument", a);
            goto out;
        }
        /* a value taken with its option is also in rest[]: skip it */
        while (k + 1 < n_rest && rest[k + 1] <= i) k++;
    }
    if (!(pspec = ctl_spec_to_proto(&spec, &given, err, sizeof err))) {
        rc = cli_usage(c, "submit", "%s", err);
        goto out;
    }
    if ((rc = cli_connect(c))) goto out;
    Brn__V1__SubmitJobRequest req = BRN__V1__SUBMIT_JOB_REQUEST__INIT;
    req.spec = pspec;
    req.name = (char *)(name ? name : "");
    req.priority = (int32_t)priority;
    req.idempotency_key = (char *)(key ? key : "");
    req.n_labels = labels.n;
    req.labels = labels.ptrs;
    ProtobufCMessage *resp;
    ctl_status st;
    if (ctl_unary(&c->conn, M_SUBMIT, &req.base, &brn__v1__job__descriptor, &resp, &st)) {
        rc = cli_fail(c, &st, "submit");
        goto out;
    }
    Brn__V1__Job *job = (Brn__V1__Job *)resp;
    int64_t id = job->id;
    if (c->json && !wait) cli_print_json(pb_to_json(resp));
    else if (!c->json) {
        printf("submitted job %lld (%s)\n", (long long)id, pb_enum_short_name(&brn__v1__job_state__descriptor, job->state));
        fflush(stdout);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    if (wait) rc = cli_watch_job(c, id);
out:
    if (pspec) brn__v1__job_spec__free_unpacked(pspec, NULL);
    ctl_labels_free(&labels);
    free(rest);
    return rc;
}
