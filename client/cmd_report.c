/* brnctl report: a sweep's jobs (ListJobs by its label) and curves (GetMetrics) as a
 * report (report.h) in text, markdown, CSV or JSON, and optionally an SVG. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "report.h"

static void report_help(cli *c)
{
    printf("Usage: %s report NAME [--baseline FIELD=V[,FIELD=V...]] [--csv | --json | --markdown]\n"
           "       [--svg FILE [--band std|minmax] [--title TEXT]]\n\n"
           "The results of sweep NAME: its jobs grouped by the spec settings that differ between them, per\n"
           "group the final and best test accuracy as mean ± sample std over seeds (n = seeds finished),\n"
           "the gap of the final accuracy to the baseline group (default: the first group) ± its standard\n"
           "error, and the time per epoch. A group whose seeds did not all finish says so in its status\n"
           "(\"2/3 done, 1 failed\"). --svg draws each group's mean curves with a band around the test\n"
           "curves: ±1 std over seeds (default) or min..max. CSV and JSON give accuracies as fractions.\n",
           c->prog);
}

/* Every job labelled sweep=NAME (all pages). Returns 0 or an exit status. */
static int fetch_jobs(cli *c, Brn__V1__Label **lp, ProtobufCMessage ***pages, size_t *n_pages, Brn__V1__Job ***jobs,
                      size_t *n_jobs)
{
    char *token = NULL;
    int rc = 0;
    for (;;) {
        Brn__V1__ListJobsRequest req = BRN__V1__LIST_JOBS_REQUEST__INIT;
        req.n_labels = 1;
        req.labels = lp;
        req.page_size = 1000;
        req.page_token = token ? token : "";
        ProtobufCMessage *resp;
        ctl_status st;
        if (ctl_unary(&c->conn, M_LIST, &req.base, &brn__v1__list_jobs_response__descriptor, &resp, &st)) {
            rc = cli_fail(c, &st, "report");
            break;
        }
        const Brn__V1__ListJobsResponse *r = (const Brn__V1__ListJobsResponse *)resp;
        ProtobufCMessage **np = realloc(*pages, (*n_pages + 1) * sizeof *np);
        if (np) *pages = np;
        Brn__V1__Job **nj = np ? realloc(*jobs, (*n_jobs + r->n_jobs + 1) * sizeof *nj) : NULL;
        if (nj) *jobs = nj;
        if (!np || !nj) {
            protobuf_c_message_free_unpacked(resp, NULL);
            rc = EX_OSERR;
            break;
        }
        (*pages)[(*n_pages)++] = resp;
        for (size_t k = 0; k < r->n_jobs; k++) (*jobs)[(*n_jobs)++] = r->jobs[k];
        free(token);
        token = r->next_page_token && r->next_page_token[0] ? strdup(r->next_page_token) : NULL;
        if (!token || r->n_jobs == 0) break;
    }
    free(token);
    return rc;
}

/* The jobs' curves, at most 100 ids per GetMetrics. Returns 0 or an exit status. */
static int fetch_curves(cli *c, Brn__V1__Label **lp, Brn__V1__Job *const *jobs, size_t n_jobs,
                        ProtobufCMessage ***resps, size_t *n_resps, Brn__V1__JobCurve ***curves, size_t *n_curves)
{
    enum { CHUNK = 100 };
    int64_t ids[CHUNK];
    for (size_t at = 0; at < n_jobs; at += CHUNK) {
        size_t n = n_jobs - at < CHUNK ? n_jobs - at : CHUNK;
        for (size_t k = 0; k < n; k++) ids[k] = jobs[at + k]->id;
        Brn__V1__GetMetricsRequest req = BRN__V1__GET_METRICS_REQUEST__INIT;
        req.n_job_ids = n;
        req.job_ids = ids;
        req.n_labels = 1;
        req.labels = lp;
        ProtobufCMessage *resp;
        ctl_status st;
        if (ctl_unary(&c->conn, M_METRICS, &req.base, &brn__v1__get_metrics_response__descriptor, &resp, &st))
            return cli_fail(c, &st, "report");
        const Brn__V1__GetMetricsResponse *r = (const Brn__V1__GetMetricsResponse *)resp;
        ProtobufCMessage **np = realloc(*resps, (*n_resps + 1) * sizeof *np);
        if (np) *resps = np;
        Brn__V1__JobCurve **nc = np ? realloc(*curves, (*n_curves + r->n_curves + 1) * sizeof *nc) : NULL;
        if (nc) *curves = nc;
        if (!np || !nc) {
            protobuf_c_message_free_unpacked(resp, NULL);
            return EX_OSERR;
        }
        (*resps)[(*n_resps)++] = resp;
        for (size_t k = 0; k < r->n_curves; k++) (*curves)[(*n_curves)++] = r->curves[k];
    }
    return 0;
}

static int write_svg(cli *c, const report *r, const char *path, const char *title, int minmax)
{
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n), dflt[160];
    if (!tmp) return EX_OSERR;
    snprintf(tmp, n, "%s.tmp", path);
    snprintf(dflt, sizeof dflt, "sweep %s: mean curves over seeds", r->name);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %s\n", c->prog, tmp, strerror(errno));
        free(tmp);
        return EX_CANTCREAT;
    }
    int bad = report_write_svg(f, r, title ? title : dflt, minmax);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path)) {
        remove(tmp);
        free(tmp);
        fprintf(stderr, "%s: cannot write %s%s\n", c->prog, path, bad ? " (no job of the sweep finished yet?)" : "");
        return bad ? EX_DATAERR : EX_CANTCREAT;
    }
    free(tmp);
    fprintf(stderr, "wrote %s\n", path);
    return 0;
}

int cmd_report(cli *c, int argc, char **argv)
{
    const char *name = NULL, *baseline = NULL, *svg = NULL, *title = NULL, *v;
    int csv = 0, markdown = 0, minmax = 0, rc;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            report_help(c);
            return 0;
        }
        if (cli_global_opt(c, argc, argv, &i, &rc)) {
            if (rc) return rc;
        } else if (!strcmp(a, "--csv")) {
            csv = 1;
        } else if (!strcmp(a, "--markdown")) {
            markdown = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--baseline"))) {
            baseline = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--svg"))) {
            svg = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--title"))) {
            title = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--band"))) {
            if (strcmp(v, "std") && strcmp(v, "minmax")) return cli_usage(c, "report", "--band: '%s' is not std or minmax", v);
            minmax = !strcmp(v, "minmax");
        } else if (a[0] == '-') {
            return cli_usage(c, "report", "unknown option or missing value: '%s'", a);
        } else if (!name) {
            name = a;
        } else {
            return cli_usage(c, "report", "unexpected argument '%s'", a);
        }
    }
    if (!name) return cli_usage(c, "report", "which sweep? give its NAME");
    if (csv + markdown + c->json > 1) return cli_usage(c, "report", "choose one of --csv, --json, --markdown");
    if (svg && !svg[0]) return cli_usage(c, "report", "--svg needs a file name");
    if ((rc = cli_connect(c))) return rc;
    Brn__V1__Label label = BRN__V1__LABEL__INIT, *lp = &label;
    label.key = "sweep";
    label.value = (char *)name;
    ProtobufCMessage **pages = NULL, **resps = NULL;
    Brn__V1__Job **jobs = NULL;
    Brn__V1__JobCurve **curves = NULL;
    size_t n_pages = 0, n_jobs = 0, n_resps = 0, n_curves = 0;
    report r;
    char err[1024];
    int built = 0;
    if ((rc = fetch_jobs(c, &lp, &pages, &n_pages, &jobs, &n_jobs))) goto out;
    if (n_jobs == 0) {
        fprintf(stderr, "%s report: no jobs are labelled sweep=%s (see `%s list --label sweep=%s`)\n", c->prog, name,
                c->prog, name);
        rc = EX_NOINPUT;
        goto out;
    }
    if ((rc = fetch_curves(c, &lp, jobs, n_jobs, &resps, &n_resps, &curves, &n_curves))) goto out;
    if (report_build(&r, name, jobs, n_jobs, curves, n_curves, err, sizeof err)) {
        fprintf(stderr, "%s report: %s\n", c->prog, err);
        rc = EX_SOFTWARE;
        goto out;
    }
    built = 1;
    if (baseline && report_set_baseline(&r, baseline, err, sizeof err)) {
        rc = cli_usage(c, "report", "%s", err);
        goto out;
    }
    if (c->json) cli_print_json(report_to_json(&r));
    else if (csv) report_print_csv(stdout, &r);
    else if (markdown) report_print_markdown(stdout, &r);
    else report_print_text(stdout, &r);
    fflush(stdout);
    if (svg) rc = write_svg(c, &r, svg, title, minmax);
out:
    if (built) report_free(&r);
    for (size_t k = 0; k < n_pages; k++) protobuf_c_message_free_unpacked(pages[k], NULL);
    for (size_t k = 0; k < n_resps; k++) protobuf_c_message_free_unpacked(resps[k], NULL);
    free(pages);
    free(resps);
    free(jobs);
    free(curves);
    return rc;
}
