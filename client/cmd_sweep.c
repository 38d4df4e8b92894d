/* brnctl sweep: submit a grid of settings x seeds as labelled, idempotent jobs (sweep.h),
 * after checking every job with the daemon (validate_only) so that a bad point submits
 * nothing; --wait then prints one line per finished job. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cli.h"
#include "codec/pb_field.h"
#include "ctl_spec.h"
#include "job_format.h"
#include "labels.h"
#include "pb_json.h"
#include "sweep.h"
#include "text_scalar.h"

/* How often --wait asks for the sweep's jobs. */
#define SWEEP_POLL_MS 1000

static void sweep_help(cli *c)
{
    printf("Usage: %s sweep --name NAME [--grid FIELD=V1,V2,...]... [--seeds N] [--priority P] [--dry-run]\n"
           "       [--wait] [SPEC FLAGS...]\n\n"
           "Submits the cross product of the grids x N seeds as one job each, labelled sweep=NAME, one label\n"
           "per swept field and seed=S. The seeds count up from --seed (default 1). Running the same command\n"
           "again creates no new jobs (each job's idempotency key is derived from the sweep's name, its point\n"
           "and its seed); adding values or seeds adds only the new jobs. A swept field without effect at a\n"
           "point (microbatch under gn, rmax under bn, ...) is left out there and the points it would\n"
           "duplicate are merged. Every job is checked with the daemon before the first is submitted: a bad\n"
           "value fails the whole command and submits nothing.\n\n"
           "Options:\n"
           "  --name NAME        the sweep's name (1..%d of A-Z a-z 0-9 _ . -); also each job's name\n"
           "  --grid F=V1,V2,..  a spec field and its values (repeatable; not seed or milestones)\n"
           "  --seeds N          seeds per point (default 1)\n"
           "  --priority P       the jobs' priority, -1000..1000\n"
           "  --dry-run          check and list the jobs; submit nothing\n"
           "  --wait             then wait for every job: one line per finished job; exit 0 iff all\n"
           "                     SUCCEEDED, 1 otherwise\n"
           "Then `%s report NAME`. Spec flags: those of `%s submit --help`.\n",
           c->prog, SWEEP_NAME_MAX, c->prog, c->prog);
}

typedef struct sweep_job {
    int point;
    uint64_t seed;
    int64_t id;           /* 0 until known */
    int existed;          /* created by an earlier run */
    int finished;         /* --wait printed its line */
    int listed;           /* --wait: seen in the current pass over the sweep's jobs */
    char key[SWEEP_KEY_LEN];
} sweep_job;

/* The SubmitJobRequest of job j; returns 0 or an exit status (message printed). */
static int submit_one(cli *c, const sweep_plan *p, const ctl_spec_given *base_given, sweep_job *j, int priority,
                      int validate_only, Brn__V1__Job **out)
{
    brn_job_spec spec;
    ctl_spec_given given;
    ctl_labels labels;
    char err[1024], point[512];
    int rc = 0;
    *out = NULL;
    ctl_labels_init(&labels);
    sweep_job_spec(p, j->point, j->seed, &spec);
    sweep_job_given(p, base_given, j->point, &given);
    sweep_point_text(p, j->point, point, sizeof point);
    Brn__V1__JobSpec *pspec = ctl_spec_to_proto(&spec, &given, err, sizeof err);
    if (!pspec) {
        fprintf(stderr, "%s sweep: %s seed=%" PRIu64 ": %s\n", c->prog, point, j->seed, err);
        return EX_USAGE;
    }
    if (sweep_job_labels(p, j->point, j->seed, &labels)) {
        rc = EX_OSERR;
        goto out;
    }
    Brn__V1__SubmitJobRequest req = BRN__V1__SUBMIT_JOB_REQUEST__INIT;
    req.spec = pspec;
    req.name = (char *)p->name;
    req.priority = priority;
    req.idempotency_key = j->key;
    req.n_labels = labels.n;
    req.labels = labels.ptrs;
    req.validate_only = validate_only;
    ProtobufCMessage *resp;
    ctl_status st;
    if (ctl_unary(&c->conn, M_SUBMIT, &req.base, &brn__v1__job__descriptor, &resp, &st)) {
        if (st.code == GRPC_STATUS_ALREADY_EXISTS)
            fprintf(stderr, "%s sweep: %s seed=%" PRIu64 ": this sweep already has a job for this point with a "
                    "different spec (%s); use the flags of the first run or a new --name\n", c->prog, point, j->seed,
                    st.message);
        else
            fprintf(stderr, "%s sweep: %s seed=%" PRIu64 ":\n", c->prog, point, j->seed);
        rc = cli_fail(c, &st, validate_only ? "sweep (checking)" : "sweep");
        goto out;
    }
    *out = (Brn__V1__Job *)resp;
out:
    brn__v1__job_spec__free_unpacked(pspec, NULL);
    ctl_labels_free(&labels);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Final and best test accuracy of one job (NAN when it has no evaluated epoch). */
static void job_accuracy(cli *c, int64_t id, double *final, double *best)
{
    *final = *best = NAN;
    Brn__V1__GetMetricsRequest req = BRN__V1__GET_METRICS_REQUEST__INIT;
    req.n_job_ids = 1;
    req.job_ids = &id;
    ProtobufCMessage *resp;
    ctl_status st;
    if (ctl_unary(&c->conn, M_METRICS, &req.base, &brn__v1__get_metrics_response__descriptor, &resp, &st)) return;
    const Brn__V1__GetMetricsResponse *r = (const Brn__V1__GetMetricsResponse *)resp;
    for (size_t i = 0; r->n_curves && i < r->curves[0]->n_epochs; i++) {
        const Brn__V1__EpochMetrics *e = r->curves[0]->epochs[i];
        if (!e->evaluated) continue;
        *final = e->test_acc;
        if (!(*best >= e->test_acc)) *best = e->test_acc;
    }
    protobuf_c_message_free_unpacked(resp, NULL);
}

static void finished_line(cli *c, const sweep_plan *p, const sweep_job *j, const Brn__V1__Job *job, int done,
                          int total)
{
    char point[512], dur[24] = "-", acc[96] = "";
    double final, best;
    sweep_point_text(p, j->point, point, sizeof point);
    if (job->started_ms > 0 && job->finished_ms >= job->started_ms)
        jobfmt_duration(dur, sizeof dur, job->finished_ms - job->started_ms);
    if (job->state == BRN__V1__JOB_STATE__JOB_STATE_SUCCEEDED) {
        job_accuracy(c, job->id, &final, &best);
        if (!isnan(final)) snprintf(acc, sizeof acc, "  test acc %.2f%% (best %.2f%%)", final * 100, best * 100);
    } else if (job->reason && job->reason[0]) {
        snprintf(acc, sizeof acc, "  %.80s", job->reason);
    }
    printf("[%*d/%d] job %lld %-9s %s seed=%" PRIu64 "%s  %s\n", total >= 100 ? 3 : total >= 10 ? 2 : 1, done, total,
           (long long)job->id, jobfmt_state_name(job->state), point, j->seed, acc, dur);
    fflush(stdout);
}

static int job_names_field(const Brn__V1__Job *job, const char *field)
{
    for (size_t i = 0; i < job->n_labels; i++)
        if (!strcmp(job->labels[i]->key, field)) return 1;
    for (size_t i = 0; i < job->n_inert_fields; i++)
        if (!strcmp(job->inert_fields[i], field)) return 1;
    return 0;
}

/* The base flags of a sweep are those of its first run: a new job must equal an existing
 * one of the sweep in every spec field but the seed, the fields either run sweeps (ours:
 * the axes; theirs: its labels) and those inert in either job. Compares the daemon's
 * normalized specs (the would-be job of validate_only, the stored job). Returns 0 when
 * they agree or the sweep has no job yet, else an exit status with the message printed. */
static int check_base_flags(cli *c, const sweep_plan *p, const Brn__V1__Job *would_be)
{
    Brn__V1__Label sweep_label = BRN__V1__LABEL__INIT, *lp = &sweep_label;
    sweep_label.key = "sweep";
    sweep_label.value = (char *)p->name;
    Brn__V1__ListJobsRequest req = BRN__V1__LIST_JOBS_REQUEST__INIT;
    req.n_labels = 1;
    req.labels = &lp;
    req.page_size = 1;
    ProtobufCMessage *resp;
    ctl_status st;
    if (ctl_unary(&c->conn, M_LIST, &req.base, &brn__v1__list_jobs_response__descriptor, &resp, &st))
        return cli_fail(c, &st, "sweep");
    const Brn__V1__ListJobsResponse *r = (const Brn__V1__ListJobsResponse *)resp;
    int rc = 0;
    if (r->n_jobs > 0 && r->jobs[0]->spec && would_be->spec) {
        const Brn__V1__Job *old = r->jobs[0];
        const ProtobufCMessageDescriptor *d = &brn__v1__job_spec__descriptor;
        char diff[512] = "", a[256], b[256];
        size_t o = 0;
        for (unsigned i = 0; i < d->n_fields; i++) {
            const ProtobufCFieldDescriptor *f = &d->fields[i];
            int swept = !strcmp(f->name, "seed") || job_names_field(old, f->name) || job_names_field(would_be, f->name);
            for (int k = 0; !swept && k < p->n_axes; k++) swept = !strcmp(p->axes[k].field, f->name);
            if (swept || pb_field_get_text(&old->spec->base, f, a, sizeof a) ||
                pb_field_get_text(&would_be->spec->base, f, b, sizeof b) || !strcmp(a, b))
                continue;
            const int number = f->type == PROTOBUF_C_TYPE_DOUBLE || f->type == PROTOBUF_C_TYPE_FLOAT;
            if (number && f->label != PROTOBUF_C_LABEL_REPEATED) {
                brn_text_shortest_double(a, sizeof a, strtod(a, NULL));
                brn_text_shortest_double(b, sizeof b, strtod(b, NULL));
            }
            if (o < sizeof diff)
                o += (size_t)snprintf(diff + o, sizeof diff - o, "%s%s %s -> %s", o ? ", " : "", f->name, a, b);
        }
        if (o) {
            fprintf(stderr,
                    "%s sweep: %s was submitted with other base flags (job %lld: %s); use the flags of its first run, "
                    "or a new name\n",
                    c->prog, p->name, (long long)old->id, diff);
            rc = EX_DATAERR;
        }
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

/* Polls the sweep's jobs until every one of ours is final; one line per finished job. */
static int wait_all(cli *c, const sweep_plan *p, sweep_job *jobs, int n)
{
    Brn__V1__Label sweep_label = BRN__V1__LABEL__INIT, *lp = &sweep_label;
    sweep_label.key = "sweep";
    sweep_label.value = (char *)p->name;
    int done = 0, all_ok = 1;
    int64_t lost_since = 0;
    while (done < n) {
        char *token = NULL;
        int failed_rpc = 0;
        for (int i = 0; i < n; i++) jobs[i].listed = 0;
        for (;;) { /* every page of the sweep's jobs */
            Brn__V1__ListJobsRequest req = BRN__V1__LIST_JOBS_REQUEST__INIT;
            req.n_labels = 1;
            req.labels = &lp;
            req.page_size = 1000;
            req.page_token = token ? token : "";
            ProtobufCMessage *resp;
            ctl_status st;
            if (ctl_unary(&c->conn, M_LIST, &req.base, &brn__v1__list_jobs_response__descriptor, &resp, &st)) {
                int64_t now = cli_now_ms();
                if (st.code != GRPC_STATUS_UNAVAILABLE || (lost_since && now - lost_since > CLI_RECONNECT_S * 1000)) {
                    free(token);
                    return cli_fail(c, &st, "sweep --wait");
                }
                if (!lost_since) fprintf(stderr, "%s sweep: lost the daemon; reconnecting...\n", c->prog);
                if (!lost_since) lost_since = now;
                failed_rpc = 1;
                break;
            }
            lost_since = 0;
            const Brn__V1__ListJobsResponse *r = (const Brn__V1__ListJobsResponse *)resp;
            /* newest first: print in id order within a page by walking it backwards */
            for (size_t k = r->n_jobs; k-- > 0;) {
                const Brn__V1__Job *job = r->jobs[k];
                for (int i = 0; i < n; i++)
                    if (jobs[i].id == job->id) jobs[i].listed = 1;
                if (!jobfmt_state_terminal(job->state)) continue;
                for (int i = 0; i < n; i++) {
                    if (jobs[i].id != job->id || jobs[i].finished) continue;
                    jobs[i].finished = 1;
                    done++;
                    if (job->state != BRN__V1__JOB_STATE__JOB_STATE_SUCCEEDED) all_ok = 0;
                    if (c->json) {
                        json_t *o = pb_to_json(&job->base);
                        json_dumpf(o, stdout, JSON_COMPACT);
                        json_decref(o);
                        fputc('\n', stdout);
                        fflush(stdout);
                    } else {
                        finished_line(c, p, &jobs[i], job, done, n);
                    }
                }
            }
            free(token);
            token = r->next_page_token && r->next_page_token[0] ? strdup(r->next_page_token) : NULL;
            int more = token && r->n_jobs > 0;
            protobuf_c_message_free_unpacked(resp, NULL);
            if (!more) break;
        }
        free(token);
        /* a job of ours no longer listed was deleted (by another client) before it finished */
        for (int i = 0; !failed_rpc && i < n; i++) {
            if (jobs[i].finished || jobs[i].listed) continue;
            jobs[i].finished = 1;
            done++;
            all_ok = 0;
            fprintf(stderr, "%s sweep: job %lld is gone (deleted) before it finished\n", c->prog, (long long)jobs[i].id);
        }
        if (done < n) sleep_ms(failed_rpc ? 500 : SWEEP_POLL_MS);
    }
    if (!c->json) printf("sweep %s: %d jobs finished%s\n", p->name, n, all_ok ? ", all SUCCEEDED" : "; some did not succeed");
    return all_ok ? 0 : 1;
}

int cmd_sweep(cli *c, int argc, char **argv)
{
    brn_job_spec base;
    ctl_spec_given given;
    sweep_plan plan;
    char err[1024];
    int *rest = calloc((size_t)argc + 1, sizeof *rest), n_rest = 0, rc = 0, wait = 0, dry = 0, plan_ready = 0;
    const char *name = NULL;
    const char *grids[SWEEP_MAX_AXES + 1];
    int n_grids = 0;
    long priority = 0, seeds = 1;
    sweep_job *jobs = NULL;
    if (!rest) return EX_OSERR;
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            sweep_help(c);
            goto out;
        }
    if (ctl_spec_args_parse(&base, &given, argc, argv, rest, &n_rest, err, sizeof err)) {
        rc = cli_usage(c, "sweep", "%s", err);
        goto out;
    }
    for (int k = 0; k < n_rest; k++) {
        int i = rest[k], grc;
        const char *a = argv[i];
        int lim = k + 1 < n_rest && rest[k + 1] == i + 1 ? argc : i + 1;
        const char *v;
        char *end;
        if (cli_global_opt(c, lim, argv, &i, &grc)) {
            if (grc) {
                rc = grc;
                goto out;
            }
        } else if (!strcmp(a, "--wait")) {
            wait = 1;
        } else if (!strcmp(a, "--dry-run")) {
            dry = 1;
        } else if ((v = cli_opt_value(lim, argv, &i, "--name"))) {
            name = v;
        } else if ((v = cli_opt_value(lim, argv, &i, "--grid"))) {
            if (n_grids == SWEEP_MAX_AXES) {
                rc = cli_usage(c, "sweep", "--grid: at most %d fields", SWEEP_MAX_AXES);
                goto out;
            }
            grids[n_grids++] = v;
        } else if ((v = cli_opt_value(lim, argv, &i, "--seeds"))) {
            seeds = strtol(v, &end, 10);
            if (end == v || *end || seeds < 1 || seeds > SWEEP_MAX_JOBS) {
                rc = cli_usage(c, "sweep", "--seeds: '%s' is not an integer in 1..%d", v, SWEEP_MAX_JOBS);
                goto out;
            }
        } else if ((v = cli_opt_value(lim, argv, &i, "--priority"))) {
            priority = strtol(v, &end, 10);
            if (end == v || *end || priority < -1000 || priority > 1000) {
                rc = cli_usage(c, "sweep", "--priority: '%s' is not an integer in -1000..1000", v);
                goto out;
            }
        } else {
            rc = cli_usage(c, "sweep", "%s '%s'", a[0] == '-' ? "unknown option or missing value:" :
                           "unexpected argument", a);
            goto out;
        }
        while (k + 1 < n_rest && rest[k + 1] <= i) k++;
    }
    if (!name) {
        rc = cli_usage(c, "sweep", "--name NAME is required (the report finds the sweep by it)");
        goto out;
    }
    if (sweep_init(&plan, name, (int)seeds, err, sizeof err)) {
        rc = cli_usage(c, "sweep", "%s", err);
        goto out;
    }
    plan_ready = 1;
    for (int g = 0; g < n_grids; g++)
        if (sweep_add_axis(&plan, grids[g], err, sizeof err)) {
            rc = cli_usage(c, "sweep", "%s", err);
            goto out;
        }
    int erc = sweep_expand(&plan, &base, err, sizeof err);
    if (erc) {
        if (erc == SWEEP_EUSAGE) rc = cli_usage(c, "sweep", "%s", err);
        else {
            fprintf(stderr, "%s sweep: %s\n", c->prog, err);
            rc = EX_DATAERR;
        }
        goto out;
    }
    int n = sweep_job_count(&plan);
    if (!(jobs = calloc((size_t)n, sizeof *jobs))) {
        rc = EX_OSERR;
        goto out;
    }
    for (int j = 0; j < n; j++) {
        sweep_job_at(&plan, j, &jobs[j].point, &jobs[j].seed);
        sweep_job_key(&plan, jobs[j].point, jobs[j].seed, jobs[j].key, sizeof jobs[j].key);
    }
    if ((rc = cli_connect(c))) goto out;
    /* First pass: the daemon checks every job (and finds those that already exist). */
    int existing = 0, checked_base = 0;
    json_t *arr = c->json && (!wait || dry) ? json_array() : NULL;
    for (int j = 0; j < n; j++) {
        Brn__V1__Job *job;
        if ((rc = submit_one(c, &plan, &given, &jobs[j], (int)priority, 1, &job))) {
            fprintf(stderr, "%s sweep: nothing was submitted\n", c->prog);
            json_decref(arr);
            goto out;
        }
        jobs[j].id = job->id;
        jobs[j].existed = job->id != 0;
        existing += jobs[j].existed;
        if (!jobs[j].existed && !checked_base) {   /* the first new job: does it fit the sweep's base? */
            checked_base = 1;
            if ((rc = check_base_flags(c, &plan, job))) {
                fprintf(stderr, "%s sweep: nothing was submitted\n", c->prog);
                protobuf_c_message_free_unpacked(&job->base, NULL);
                json_decref(arr);
                goto out;
            }
        }
        if (arr && dry) json_array_append_new(arr, pb_to_json(&job->base)); /* id 0: would be new */
        protobuf_c_message_free_unpacked(&job->base, NULL);
    }
    if (!dry) {
        for (int j = 0; j < n; j++) {
            Brn__V1__Job *job;
            if ((rc = submit_one(c, &plan, &given, &jobs[j], (int)priority, 0, &job))) {
                fprintf(stderr, "%s sweep: stopped after %d of %d jobs; run the same command again to submit the rest\n",
                        c->prog, j, n);
                json_decref(arr);
                goto out;
            }
            jobs[j].id = job->id;
            if (arr) json_array_append_new(arr, pb_to_json(&job->base));
            protobuf_c_message_free_unpacked(&job->base, NULL);
        }
    }
    if (arr) cli_print_json(arr);
    if (!c->json || dry) {
        char point[512];
        FILE *out = c->json ? stderr : stdout;
        if (dry) {
            for (int j = 0; j < n; j++) {
                sweep_point_text(&plan, jobs[j].point, point, sizeof point);
                fprintf(out, "%-8s %s seed=%" PRIu64 "  key %s\n", jobs[j].existed ? "exists" : "new", point,
                        jobs[j].seed, jobs[j].key);
            }
        }
        fprintf(out, "sweep %s: %d jobs (%d point%s x %d seed%s", plan.name, n, plan.n_points, plan.n_points == 1 ? "" : "s",
                plan.n_seeds, plan.n_seeds == 1 ? "" : "s");
        if (plan.n_merged) fprintf(out, "; %d grid point%s merged: a swept field has no effect there", plan.n_merged,
                                   plan.n_merged == 1 ? "" : "s");
        fprintf(out, "): %d %s, %d already submitted\n", n - existing, dry ? "would be new" : "new", existing);
        fflush(out);
    }
    if (wait && !dry) rc = wait_all(c, &plan, jobs, n);
out:
    if (plan_ready) sweep_free(&plan);
    free(jobs);
    free(rest);
    return rc;
}
