/* brnctl's output: JSON of messages, job table/state names, watch lines and progress bar,
 * curves as CSV/table, the daemon address rules and the sysexits mapping. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sysexits.h>

#include "check.h"
#include "client/addr.h"
#include "client/cli.h"
#include "client/curves.h"
#include "client/job_format.h"
#include "client/pb_json.h"
#include "client/ctl_spec.h"

static char *capture_begin(FILE **f, char **buf, size_t *len)
{
    *buf = NULL;
    *f = open_memstream(buf, len);
    return NULL;
}

static void test_pb_json(void)
{
    Brn__V1__Job j = BRN__V1__JOB__INIT;
    Brn__V1__JobSpec s = BRN__V1__JOB_SPEC__INIT;
    j.id = 12;
    j.name = "bn-run";
    j.state = BRN__V1__JOB_STATE__JOB_STATE_SUCCEEDED;
    j.total_steps = 5000000000LL;
    s.norm_opt_case = BRN__V1__JOB_SPEC__NORM_OPT_NORM;
    s.norm = "brn";
    j.spec = &s;
    json_t *o = pb_to_json(&j.base);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "id")), 12);
    CHECK(!strcmp(json_string_value(json_object_get(o, "state")), "SUCCEEDED"));
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "total_steps")), 5000000000LL);
    json_t *spec = json_object_get(o, "spec");
    CHECK(json_is_object(spec));
    CHECK(!strcmp(json_string_value(json_object_get(spec, "norm")), "brn"));
    CHECK(json_object_get(spec, "depth") == NULL); /* unset oneof: absent */
    CHECK(json_is_array(json_object_get(spec, "milestones")));
    json_decref(o);
    s.seed_opt_case = BRN__V1__JOB_SPEC__SEED_OPT_SEED;
    s.seed = 18446744073709551615ull; /* past JSON's signed integers: kept exact as text */
    o = pb_to_json(&s.base);
    CHECK(json_is_string(json_object_get(o, "seed")));
    CHECK(!strcmp(json_string_value(json_object_get(o, "seed")), "18446744073709551615"));
    json_decref(o);
    s.seed = 7;
    o = pb_to_json(&s.base);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "seed")), 7);
    json_decref(o);
}

static void test_states(void)
{
    CHECK(!strcmp(jobfmt_state_name(BRN__V1__JOB_STATE__JOB_STATE_RUNNING), "RUNNING"));
    CHECK_EQ_INT(jobfmt_state_parse("running"), BRN__V1__JOB_STATE__JOB_STATE_RUNNING);
    CHECK_EQ_INT(jobfmt_state_parse("JOB_STATE_FAILED"), BRN__V1__JOB_STATE__JOB_STATE_FAILED);
    CHECK_EQ_INT(jobfmt_state_parse("Cancelled"), BRN__V1__JOB_STATE__JOB_STATE_CANCELLED);
    CHECK_EQ_INT(jobfmt_state_parse("unspecified"), -1);
    CHECK_EQ_INT(jobfmt_state_parse("bogus"), -1);
    CHECK(jobfmt_state_terminal(BRN__V1__JOB_STATE__JOB_STATE_SUCCEEDED));
    CHECK(!jobfmt_state_terminal(BRN__V1__JOB_STATE__JOB_STATE_QUEUED));
    char d[32];
    jobfmt_duration(d, sizeof d, 850);
    CHECK(!strcmp(d, "850ms"));
    jobfmt_duration(d, sizeof d, 123000);
    CHECK(!strcmp(d, "2m03s"));
    jobfmt_duration(d, sizeof d, 3720000);
    CHECK(!strcmp(d, "1h02m"));
}

static void test_watch_lines(void)
{
    Brn__V1__Progress p = BRN__V1__PROGRESS__INIT;
    p.epoch = 2;
    p.batch = 4;
    p.batches_per_epoch = 8;
    p.loss = 0.5;
    p.acc = 0.8125;
    p.images_per_sec = 1234;
    char line[256];
    jobfmt_progress_bar(line, sizeof line, &p, 3, 100);
    CHECK_STR_CONTAINS(line, "[");
    CHECK_STR_CONTAINS(line, " 50%");
    CHECK_STR_CONTAINS(line, "epoch 2/3 batch 4/8");
    CHECK_STR_CONTAINS(line, "81.2%");
    CHECK(strlen(line) <= 100);
    jobfmt_progress_bar(line, sizeof line, &p, 0, 40); /* narrow: no room for a bar, still fits */
    CHECK(strlen(line) <= 40);
    Brn__V1__EpochMetrics e = BRN__V1__EPOCH_METRICS__INIT;
    e.epoch = 3;
    e.train_loss = 0.25;
    e.train_acc = 0.9;
    jobfmt_epoch_line(line, sizeof line, &e, 3);
    CHECK_STR_CONTAINS(line, "epoch 3/3");
    CHECK_STR_CONTAINS(line, "90.00%");
    CHECK(!strstr(line, "test")); /* not evaluated */
    e.evaluated = 1;
    e.test_acc = 0.875;
    jobfmt_epoch_line(line, sizeof line, &e, 3);
    CHECK_STR_CONTAINS(line, "test loss");
    CHECK_STR_CONTAINS(line, "87.50%");
}

static void test_job_table(void)
{
    Brn__V1__Job j = BRN__V1__JOB__INIT;
    Brn__V1__JobSpec s = BRN__V1__JOB_SPEC__INIT;
    j.id = 5;
    j.state = BRN__V1__JOB_STATE__JOB_STATE_RUNNING;
    j.epoch = 1;
    j.started_ms = 1000;
    s.epochs_opt_case = BRN__V1__JOB_SPEC__EPOCHS_OPT_EPOCHS;
    s.epochs = 3;
    j.spec = &s;
    Brn__V1__Job *jobs[1] = {&j};
    FILE *f;
    char *buf;
    size_t len;
    capture_begin(&f, &buf, &len);
    jobfmt_print_table(f, jobs, 1, 61000);
    fclose(f);
    CHECK_STR_CONTAINS(buf, "ID");
    CHECK_STR_CONTAINS(buf, "RUNNING");
    CHECK_STR_CONTAINS(buf, "1/3");
    CHECK_STR_CONTAINS(buf, "1m00s");
    free(buf);
}

static Brn__V1__JobCurve *make_curve(int64_t id, const char *name, brn_norm_kind norm, int n)
{
    Brn__V1__JobCurve *c = calloc(1, sizeof *c);
    brn__v1__job_curve__init(c);
    c->job_id = id;
    c->name = strdup(name);
    brn_job_spec s;
    char err[128];
    brn_spec_defaults(&s);
    s.norm = norm;
    s.depth = 10;
    s.width = 1;
    s.microbatch = norm == BRN_NORM_BRN ? 4 : 0;
    c->spec = ctl_spec_to_proto(&s, NULL, err, sizeof err);
    c->n_epochs = (size_t)n;
    c->epochs = calloc((size_t)n, sizeof *c->epochs);
    for (int i = 0; i < n; i++) {
        Brn__V1__EpochMetrics *e = calloc(1, sizeof *e);
        brn__v1__epoch_metrics__init(e);
        e->epoch = i + 1;
        e->train_loss = 1.0 / (i + 1);
        e->train_acc = 0.5 + 0.1 * i;
        e->evaluated = i != 0;
        e->test_loss = 1.1 / (i + 1);
        e->test_acc = 0.45 + 0.1 * i;
        c->epochs[i] = e;
    }
    return c;
}

static void test_curves_output(void)
{
    Brn__V1__JobCurve *c[2] = {make_curve(3, "with, comma", BRN_NORM_BRN, 3), make_curve(4, "bn", BRN_NORM_BN, 2)};
    char label[160];
    curve_label(c[0], label, sizeof label);
    CHECK_STR_CONTAINS(label, "#3 with, comma brn WRN-10-1");
    CHECK_STR_CONTAINS(label, "rmax=1.5 dmax=0.5 mb=4");
    curve_label(c[1], label, sizeof label);
    CHECK(!strstr(label, "rmax"));
    FILE *f;
    char *buf;
    size_t len;
    capture_begin(&f, &buf, &len);
    curves_print_csv(f, c, 2);
    fclose(f);
    CHECK_STR_CONTAINS(buf, "job_id,name,norm,epoch,step,train_loss,train_acc,test_loss,test_acc");
    CHECK_STR_CONTAINS(buf, "3,\"with, comma\",brn,1,0,1,0.5,,,"); /* epoch 1 not evaluated */
    CHECK_STR_CONTAINS(buf, "4,bn,bn,2,0,0.5,0.6");
    int lines = 0;
    for (char *p = buf; *p; p++) lines += *p == '\n';
    CHECK_EQ_INT(lines, 6);
    free(buf);
    capture_begin(&f, &buf, &len);
    curves_print_table(f, c, 2);
    fclose(f);
    CHECK_STR_CONTAINS(buf, "train_loss");
    CHECK_STR_CONTAINS(buf, "65.00%");
    free(buf);
    capture_begin(&f, &buf, &len);
    CHECK_EQ_INT(curves_write_svg(f, "t", c, 2), 0);
    fclose(f);
    CHECK_STR_CONTAINS(buf, "#4 bn WRN-10-1"); /* a name equal to the norm is not repeated */
    CHECK(!strstr(buf, "bn bn"));
    free(buf);
    for (int k = 0; k < 2; k++) brn__v1__job_curve__free_unpacked(c[k], NULL);
}

static void test_addr(void)
{
    char out[256];
    CHECK_EQ_INT(addr_default_socket(out, sizeof out, "/x/state", "/home/u", 0), 0);
    CHECK(!strcmp(out, "/x/state/brnd/brnd.sock"));
    CHECK_EQ_INT(addr_default_socket(out, sizeof out, NULL, "/home/u", 1), 0);
    CHECK(!strcmp(out, "/var/lib/brnd/brnd.sock"));
    CHECK_EQ_INT(addr_default_socket(out, sizeof out, "", "/home/u", 0), 0);
    CHECK(!strcmp(out, "/home/u/.local/state/brnd/brnd.sock"));
    CHECK_EQ_INT(addr_default_socket(out, sizeof out, NULL, NULL, 0), -1);
    CHECK_EQ_INT(addr_to_target(out, sizeof out, "/run/b.sock", "/cwd"), 0);
    CHECK(!strcmp(out, "unix:/run/b.sock"));
    CHECK_EQ_INT(addr_to_target(out, sizeof out, "unix:rel.sock", "/cwd"), 0);
    CHECK(!strcmp(out, "unix:/cwd/rel.sock"));
    CHECK_EQ_INT(addr_to_target(out, sizeof out, "127.0.0.1:7070", "/cwd"), 0);
    CHECK(!strcmp(out, "127.0.0.1:7070"));
    CHECK_EQ_INT(addr_to_target(out, sizeof out, ":7070", "/cwd"), 0);
    CHECK(!strcmp(out, "127.0.0.1:7070"));
    CHECK_EQ_INT(addr_to_target(out, sizeof out, "", "/cwd"), -1);
}

static void test_exit_codes(void)
{
    CHECK_EQ_INT(cli_exit_code(GRPC_STATUS_OK), 0);
    CHECK_EQ_INT(cli_exit_code(GRPC_STATUS_UNAVAILABLE), EX_UNAVAILABLE);
    CHECK_EQ_INT(cli_exit_code(GRPC_STATUS_INVALID_ARGUMENT), EX_DATAERR);
    CHECK_EQ_INT(cli_exit_code(GRPC_STATUS_UNAUTHENTICATED), EX_NOPERM);
    CHECK_EQ_INT(cli_exit_code(GRPC_STATUS_NOT_FOUND), EX_NOINPUT);
    int64_t id;
    CHECK_EQ_INT(cli_parse_id("#7", &id), 0);
    CHECK_EQ_INT(id, 7);
    CHECK_EQ_INT(cli_parse_id("7x", &id), -1);
    CHECK_EQ_INT(cli_parse_id("0", &id), -1);
}

int main(void)
{
    TEST(test_pb_json);
    TEST(test_states);
    TEST(test_watch_lines);
    TEST(test_job_table);
    TEST(test_curves_output);
    TEST(test_addr);
    TEST(test_exit_codes);
    return CHECK_DONE();
}
