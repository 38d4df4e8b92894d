/* brnctl curves / compare: GetMetrics as a table, CSV, JSON or the SVG picture. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "curves.h"
#include "pb_json.h"

#define MAX_JOBS 64

typedef struct curves_opts {
    int64_t ids[MAX_JOBS];
    int n_ids;
    int csv;
    const char *svg;
    const char *title;
} curves_opts;

static int parse(cli *c, const char *cmd, int argc, char **argv, curves_opts *o)
{
    int rc;
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            if (!strcmp(cmd, "curves"))
                printf("Usage: %s curves ID... [--csv | --json | --svg FILE [--title TEXT]]\n\n"
                       "Per-epoch curves of jobs: a table by default; --svg draws loss and accuracy per epoch.\n",
                       c->prog);
            else
                printf("Usage: %s compare ID... [--svg FILE] [--title TEXT] [--json]\n\n"
                       "Compares jobs (e.g. BN against BRN): a summary table of final and best numbers, and with\n"
                       "--svg the picture: loss and accuracy per epoch, one colour per job, dashed = train.\n",
                       c->prog);
            return -1;
        }
        if (cli_global_opt(c, argc, argv, &i, &rc)) {
            if (rc) return rc;
        } else if (!strcmp(a, "--csv") && !strcmp(cmd, "curves")) {
            o->csv = 1;
        } else if (!strncmp(a, "--svg", 5) && (a[5] == '=' || (a[5] == 0 && i + 1 < argc))) {
            o->svg = a[5] == '=' ? a + 6 : argv[++i];
        } else if (!strncmp(a, "--title", 7) && (a[7] == '=' || (a[7] == 0 && i + 1 < argc))) {
            o->title = a[7] == '=' ? a + 8 : argv[++i];
        } else if (a[0] == '-' && a[1] == '-') {
            return cli_usage(c, cmd, "unknown option or missing value: '%s'", a);
        } else {
            if (o->n_ids == MAX_JOBS) return cli_usage(c, cmd, "at most %d jobs", MAX_JOBS);
            if (cli_parse_id(a, &o->ids[o->n_ids])) return cli_usage(c, cmd, "'%s' is not a job id", a);
            o->n_ids++;
        }
    }
    if (o->n_ids == 0) return cli_usage(c, cmd, "which jobs? give their IDs");
    if (o->csv + c->json + (o->svg != NULL) > 1 && !strcmp(cmd, "curves"))
        return cli_usage(c, cmd, "choose one of --csv, --json, --svg");
    if (o->svg && !o->svg[0]) return cli_usage(c, cmd, "--svg needs a file name");
    return 0;
}

static int fetch(cli *c, const curves_opts *o, Brn__V1__GetMetricsResponse **out)
{
    int rc = cli_connect(c);
    if (rc) return rc;
    Brn__V1__GetMetricsRequest req = BRN__V1__GET_METRICS_REQUEST__INIT;
    req.n_job_ids = (size_t)o->n_ids;
    req.job_ids = (int64_t *)o->ids;
    ProtobufCMessage *resp;
    ctl_status st;
    if (ctl_unary(&c->conn, M_METRICS, &req.base, &brn__v1__get_metrics_response__descriptor, &resp, &st))
        return cli_fail(c, &st, "curves");
    *out = (Brn__V1__GetMetricsResponse *)resp;
    return 0;
}

static int write_svg(cli *c, const curves_opts *o, const Brn__V1__GetMetricsResponse *r, const char *dflt_title)
{
    /* Write beside the target and rename, so a failed run never leaves half a picture. */
    size_t n = strlen(o->svg) + 8;
    char *tmp = malloc(n);
    if (!tmp) return EX_OSERR;
    snprintf(tmp, n, "%s.tmp", o->svg);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %s\n", c->prog, tmp, strerror(errno));
        free(tmp);
        return EX_CANTCREAT;
    }
    int bad = curves_write_svg(f, o->title ? o->title : dflt_title, r->curves, r->n_curves);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, o->svg)) {
        remove(tmp);
        free(tmp);
        fprintf(stderr, "%s: cannot write %s%s\n", c->prog, o->svg, bad ? " (no epoch finished yet?)" : "");
        return bad ? EX_DATAERR : EX_CANTCREAT;
    }
    free(tmp);
    return 0;
}

int cmd_curves(cli *c, int argc, char **argv)
{
    curves_opts o;
    Brn__V1__GetMetricsResponse *r = NULL;
    int rc = parse(c, "curves", argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    if ((rc = fetch(c, &o, &r))) return rc;
    if (o.svg) {
        rc = write_svg(c, &o, r, "loss and accuracy per epoch");
        if (!rc) fprintf(stderr, "wrote %s\n", o.svg);
    } else if (c->json) {
        json_t *arr = json_array();
        for (size_t k = 0; k < r->n_curves; k++) json_array_append_new(arr, pb_to_json(&r->curves[k]->base));
        cli_print_json(arr);
    } else if (o.csv) {
        curves_print_csv(stdout, r->curves, r->n_curves);
    } else {
        curves_print_table(stdout, r->curves, r->n_curves);
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return rc;
}

int cmd_compare(cli *c, int argc, char **argv)
{
    curves_opts o;
    Brn__V1__GetMetricsResponse *r = NULL;
    int rc = parse(c, "compare", argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    if ((rc = fetch(c, &o, &r))) return rc;
    if (c->json) {
        json_t *arr = json_array();
        for (size_t k = 0; k < r->n_curves; k++) json_array_append_new(arr, pb_to_json(&r->curves[k]->base));
        cli_print_json(arr);
    } else {
        curves_print_summary(stdout, r->curves, r->n_curves);
    }
    if (o.svg) {
        rc = write_svg(c, &o, r, "comparison: loss and accuracy per epoch");
        if (!rc) fprintf(stderr, "wrote %s\n", o.svg);
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return rc;
}
