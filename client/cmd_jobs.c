/* brnctl list / status / cancel / info / health: one unary RPC each. */
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "grpc/health/v1/health.pb-c.h"
#include "job_format.h"
#include "labels.h"
#include "pb_json.h"

/* Parses global options and job ids; returns 0, or an exit status (help printed = -1). */
static int parse_ids(cli *c, const char *cmd, const char *help, int argc, char **argv, int64_t *ids, int *n,
                     int max)
{
    int rc;
    *n = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("%s", help);
            return -1;
        }
        if (cli_global_opt(c, argc, argv, &i, &rc)) {
            if (rc) return rc;
            continue;
        }
        if (*n == max) return cli_usage(c, cmd, "at most %d job ids", max);
        if (cli_parse_id(argv[i], &ids[*n])) return cli_usage(c, cmd, "'%s' is not a job id", argv[i]);
        (*n)++;
    }
    if (*n == 0) return cli_usage(c, cmd, "which job? give its ID");
    return 0;
}

int cmd_status(cli *c, int argc, char **argv)
{
    int64_t ids[64];
    int n, rc = parse_ids(c, "status", "Usage: brnctl status ID... [--json]\n\nShows a job: state, progress, times and its full spec.\n",
                          argc, argv, ids, &n, 64);
    if (rc) return rc < 0 ? 0 : rc;
    if ((rc = cli_connect(c))) return rc;
    json_t *arr = c->json && n > 1 ? json_array() : NULL;
    for (int k = 0; k < n; k++) {
        Brn__V1__GetJobRequest req = BRN__V1__GET_JOB_REQUEST__INIT;
        req.id = ids[k];
        ProtobufCMessage *resp;
        ctl_status st;
        if (ctl_unary(&c->conn, M_GET, &req.base, &brn__v1__job__descriptor, &resp, &st)) {
            json_decref(arr);
            return cli_fail(c, &st, "status");
        }
        if (arr) json_array_append_new(arr, pb_to_json(resp));
        else if (c->json) cli_print_json(pb_to_json(resp));
        else {
            if (k) printf("\n");
            jobfmt_print_detail(stdout, (Brn__V1__Job *)resp, cli_now_ms());
        }
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    if (arr) cli_print_json(arr);
    return 0;
}

int cmd_cancel(cli *c, int argc, char **argv)
{
    int64_t ids[64];
    int n, rc = parse_ids(c, "cancel", "Usage: brnctl cancel ID... [--json]\n\nCancels jobs: a queued job at once, a running one at its next batch.\n",
                          argc, argv, ids, &n, 64);
    if (rc) return rc < 0 ? 0 : rc;
    if ((rc = cli_connect(c))) return rc;
    for (int k = 0; k < n; k++) {
        Brn__V1__CancelJobRequest req = BRN__V1__CANCEL_JOB_REQUEST__INIT;
        req.id = ids[k];
        ProtobufCMessage *resp;
        ctl_status st;
        if (ctl_unary(&c->conn, M_CANCEL, &req.base, &brn__v1__job__descriptor, &resp, &st))
            return cli_fail(c, &st, "cancel");
        const Brn__V1__Job *j = (const Brn__V1__Job *)resp;
        if (c->json) cli_print_json(pb_to_json(resp));
        else if (j->state == BRN__V1__JOB_STATE__JOB_STATE_CANCELLED) printf("job %lld: CANCELLED\n", (long long)j->id);
        else printf("job %lld: cancel requested (%s; it stops at the next batch)\n", (long long)j->id,
                    jobfmt_state_name(j->state));
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return 0;
}

int cmd_delete(cli *c, int argc, char **argv)
{
    int64_t ids[64];
    int n, rc = parse_ids(c, "delete", "Usage: brnctl delete ID... [--json]\n\nDeletes finished jobs for good: their "
                          "checkpoint files, metrics and records.\nA queued or running job is refused: cancel it "
                          "first.\n", argc, argv, ids, &n, 64);
    if (rc) return rc < 0 ? 0 : rc;
    if ((rc = cli_connect(c))) return rc;
    for (int k = 0; k < n; k++) {
        Brn__V1__DeleteJobRequest req = BRN__V1__DELETE_JOB_REQUEST__INIT;
        req.id = ids[k];
        ProtobufCMessage *resp;
        ctl_status st;
        if (ctl_unary(&c->conn, M_DELETE, &req.base, &brn__v1__delete_job_response__descriptor, &resp, &st))
            return cli_fail(c, &st, "delete");
        const Brn__V1__DeleteJobResponse *d = (const Brn__V1__DeleteJobResponse *)resp;
        if (c->json) cli_print_json(pb_to_json(resp));
        else printf("job %lld: deleted (%.1f MiB of checkpoints freed)\n", (long long)d->id,
                    d->bytes_freed / (1024.0 * 1024));
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return 0;
}

/* Parses "--state a,b" values into the request's state list. */
static int add_states(cli *c, const char *v, int *states, size_t *n, size_t max)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int s = jobfmt_state_parse(t);
        if (s < 0) return cli_usage(c, "list", "--state: '%s' is not one of queued, running, succeeded, failed, cancelled", t);
        if (*n < max) states[(*n)++] = s;
    }
    return 0;
}

int cmd_list(cli *c, int argc, char **argv)
{
    int states[16], rc;
    size_t n_states = 0;
    long limit = 50;
    ctl_labels labels;
    char err[256];
    ctl_labels_init(&labels);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("Usage: %s list [--state STATE[,STATE...]] [--label KEY=VALUE]... [--limit N] [--json]\n\n"
                   "Lists jobs, newest first (default: the 50 newest, all states). With --label, only the\n"
                   "jobs carrying every label given.\n", c->prog);
            ctl_labels_free(&labels);
            return 0;
        }
        if (cli_global_opt(c, argc, argv, &i, &rc)) {
            if (rc) goto done;
        } else if (!strncmp(a, "--label", 7) && (a[7] == '=' || (a[7] == 0 && i + 1 < argc))) {
            if (ctl_labels_add_arg(&labels, a[7] == '=' ? a + 8 : argv[++i], err, sizeof err)) {
                rc = cli_usage(c, "list", "%s", err);
                goto done;
            }
        } else if (!strncmp(a, "--state", 7) && (a[7] == '=' || (a[7] == 0 && i + 1 < argc))) {
            if ((rc = add_states(c, a[7] == '=' ? a + 8 : argv[++i], states, &n_states, 16))) goto done;
        } else if (!strncmp(a, "--limit", 7) && (a[7] == '=' || (a[7] == 0 && i + 1 < argc))) {
            const char *v = a[7] == '=' ? a + 8 : argv[++i];
            char *end;
            limit = strtol(v, &end, 10);
            if (end == v || *end || limit < 1 || limit > 1000000) {
                rc = cli_usage(c, "list", "--limit: '%s' is not a positive integer", v);
                goto done;
            }
        } else {
            rc = cli_usage(c, "list", "unexpected argument '%s'", a);
            goto done;
        }
    }
    if ((rc = cli_connect(c))) goto done;
    Brn__V1__Job **jobs = NULL;
    ProtobufCMessage **pages = NULL;
    size_t n_jobs = 0, n_pages = 0;
    char *token = NULL;
    rc = 0;
    while ((long)n_jobs < limit) {
        Brn__V1__ListJobsRequest req = BRN__V1__LIST_JOBS_REQUEST__INIT;
        req.n_states = n_states;
        req.states = (Brn__V1__JobState *)states;
        long want = limit - (long)n_jobs;
        req.page_size = (int32_t)(want > 1000 ? 1000 : want);
        req.page_token = token ? token : "";
        req.n_labels = labels.n;
        req.labels = labels.ptrs;
        ProtobufCMessage *resp;
        ctl_status st;
        if (ctl_unary(&c->conn, M_LIST, &req.base, &brn__v1__list_jobs_response__descriptor, &resp, &st)) {
            rc = cli_fail(c, &st, "list");
            break;
        }
        Brn__V1__ListJobsResponse *r = (Brn__V1__ListJobsResponse *)resp;
        ProtobufCMessage **np = realloc(pages, (n_pages + 1) * sizeof *np);
        if (np) pages = np;
        Brn__V1__Job **nj = np ? realloc(jobs, (n_jobs + r->n_jobs + 1) * sizeof *nj) : NULL;
        if (nj) jobs = nj;
        if (!np || !nj) {
            protobuf_c_message_free_unpacked(resp, NULL);
            rc = EX_OSERR;
            break;
        }
        pages[n_pages++] = resp;
        for (size_t k = 0; k < r->n_jobs && (long)n_jobs < limit; k++) jobs[n_jobs++] = r->jobs[k];
        free(token);
        token = r->next_page_token && r->next_page_token[0] ? strdup(r->next_page_token) : NULL;
        if (!token || r->n_jobs == 0) break;
    }
    if (!rc) {
        if (c->json) {
            json_t *arr = json_array();
            for (size_t k = 0; k < n_jobs; k++) json_array_append_new(arr, pb_to_json(&jobs[k]->base));
            cli_print_json(arr);
        } else {
            jobfmt_print_table(stdout, jobs, n_jobs, cli_now_ms());
        }
    }
    for (size_t k = 0; k < n_pages; k++) protobuf_c_message_free_unpacked(pages[k], NULL);
    free(pages);
    free(jobs);
    free(token);
done:
    ctl_labels_free(&labels);
    return rc;
}

int cmd_info(cli *c, int argc, char **argv)
{
    int rc;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("Usage: %s info [--json]\n\nThe daemon's version, devices, datasets and queue.\n", c->prog);
            return 0;
        }
        if (cli_global_opt(c, argc, argv, &i, &rc)) {
            if (rc) return rc;
        } else {
            return cli_usage(c, "info", "unexpected argument '%s'", argv[i]);
        }
    }
    if ((rc = cli_connect(c))) return rc;
    Brn__V1__GetServerInfoRequest req = BRN__V1__GET_SERVER_INFO_REQUEST__INIT;
    ProtobufCMessage *resp;
    ctl_status st;
    if (ctl_unary(&c->conn, M_INFO, &req.base, &brn__v1__get_server_info_response__descriptor, &resp, &st))
        return cli_fail(c, &st, "info");
    const Brn__V1__GetServerInfoResponse *r = (const Brn__V1__GetServerInfoResponse *)resp;
    if (c->json) {
        cli_print_json(pb_to_json(resp));
    } else {
        printf("brnd %s at %s\n", r->version, c->conn.target);
        printf("queue: %d running, %d queued\n", r->running, r->queued);
        printf("devices:\n");
        for (size_t k = 0; k < r->n_devices; k++) {
            const Brn__V1__Device *d = r->devices[k];
            printf("  %-7s %s", d->id && d->id[0] ? d->id : d->kind, d->name);
            if (d->memory_bytes > 0) printf("  (%.1f GiB", d->memory_bytes / (1024.0 * 1024 * 1024));
            if (d->memory_bytes > 0 && d->memory_budget_bytes > 0)
                printf(", budget per job %.1f GiB", d->memory_budget_bytes / (1024.0 * 1024 * 1024));
            if (d->memory_bytes > 0) printf(")");
            if (d->running_job > 0) printf("  running job %lld", (long long)d->running_job);
            printf("\n");
        }
        if (r->gpu_unavailable && r->gpu_unavailable[0]) printf("  (no GPU: %s)\n", r->gpu_unavailable);
        const Brn__V1__ServerLimits *l = r->limits;
        if (l)
            printf("limits: %d cores; per job %d epochs, %lld steps, %.1f GiB of checkpoints (the newest %d epoch "
                   "files kept); %d queued jobs, %d watch streams; a job crashing brnd %d times fails\n",
                   l->cpu_cores, l->max_epochs, (long long)l->max_steps,
                   l->max_job_disk_bytes / (1024.0 * 1024 * 1024), l->keep_epoch_checkpoints, l->max_queued,
                   l->max_watch_streams, l->max_crashes);
        printf("datasets:");
        for (size_t k = 0; k < r->n_datasets; k++) printf(" %s", r->datasets[k]);
        printf("%s\n", r->n_datasets ? "" : " (none found)");
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

int cmd_health(cli *c, int argc, char **argv)
{
    int rc;
    const char *service = "";
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("Usage: %s health [SERVICE]\n\ngrpc.health.v1 Check: prints SERVING and exits 0 when the daemon serves.\n",
                   c->prog);
            return 0;
        }
        if (cli_global_opt(c, argc, argv, &i, &rc)) {
            if (rc) return rc;
        } else {
            service = argv[i];
        }
    }
    if ((rc = cli_connect(c))) return rc;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    ProtobufCMessage *resp;
    ctl_status st;
    if (ctl_unary(&c->conn, M_HEALTH, &req.base, &grpc__health__v1__health_check_response__descriptor, &resp, &st))
        return cli_fail(c, &st, "health");
    const Grpc__Health__V1__HealthCheckResponse *r = (const Grpc__Health__V1__HealthCheckResponse *)resp;
    const char *name = pb_enum_short_name(&grpc__health__v1__health_check_response__serving_status__descriptor, r->status);
    if (c->json) cli_print_json(pb_to_json(resp));
    else printf("%s\n", name);
    rc = r->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING ? 0 : EX_UNAVAILABLE;
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}
