/* Request validation messages ("field: rule"), store-state mapping, listen addresses. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "rpc/rpc_internal.h"
#include "service/convert.h"
#include "service/validate.h"

static int submit(Brn__V1__SubmitJobRequest *req, char *err, size_t n)
{
    brn_job_spec s;
    return validate_submit(req, &s, err, n);
}

static void test_submit_messages(void)
{
    char err[512];
    Brn__V1__JobSpec spec = BRN__V1__JOB_SPEC__INIT;
    Brn__V1__SubmitJobRequest req = BRN__V1__SUBMIT_JOB_REQUEST__INIT;
    req.spec = &spec;
    CHECK_EQ_INT(submit(&req, err, sizeof err), 0); /* all defaults: a valid job */
    req.spec = NULL;
    CHECK_EQ_INT(submit(&req, err, sizeof err), 0); /* no spec at all: defaults too */
    req.spec = &spec;

    spec.depth_opt_case = BRN__V1__JOB_SPEC__DEPTH_OPT_DEPTH;
    spec.depth = 11;
    CHECK_EQ_INT(submit(&req, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "depth: 11 is not 6n+4");
    spec.depth = 10;

    spec.batch_size_opt_case = BRN__V1__JOB_SPEC__BATCH_SIZE_OPT_BATCH_SIZE;
    spec.batch_size = 0;
    CHECK_EQ_INT(submit(&req, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "batch_size: 0 is not in");
    spec.batch_size = 64;

    spec.microbatch_opt_case = BRN__V1__JOB_SPEC__MICROBATCH_OPT_MICROBATCH;
    spec.microbatch = 5;
    CHECK_EQ_INT(submit(&req, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "microbatch: 5 does not divide batch-size 64");
    spec.microbatch = 8;
    CHECK_EQ_INT(submit(&req, err, sizeof err), 0);

    req.priority = 1001;
    CHECK_EQ_INT(submit(&req, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "priority: 1001 is not in -1000..1000");
    req.priority = -1000;
    CHECK_EQ_INT(submit(&req, err, sizeof err), 0);

    char name[100];
    memset(name, 'a', 65);
    name[65] = 0;
    req.name = name;
    CHECK_EQ_INT(submit(&req, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "name: longer than 64 bytes");
    req.name = "bad\nname";
    CHECK_EQ_INT(submit(&req, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "name: contains control characters");
    req.name = "bad \xff name";
    CHECK_EQ_INT(submit(&req, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "name: is not valid UTF-8");
    req.name = "\xc0\xaf"; /* overlong '/' */
    CHECK_EQ_INT(submit(&req, err, sizeof err), -1);
    req.name = "\xed\xa0\x80"; /* a surrogate */
    CHECK_EQ_INT(submit(&req, err, sizeof err), -1);
    req.name = "r\xc3\xa9sum\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x9a\x80";
    CHECK_EQ_INT(submit(&req, err, sizeof err), 0);
    req.name = "ok name";

    char key[200];
    memset(key, 'k', 129);
    key[129] = 0;
    req.idempotency_key = key;
    CHECK_EQ_INT(submit(&req, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "idempotency_key: longer than 128 bytes");
}

static void test_list_and_ids(void)
{
    char err[256];
    brn_job_filter f;
    Brn__V1__ListJobsRequest req = BRN__V1__LIST_JOBS_REQUEST__INIT;
    CHECK_EQ_INT(validate_list(&req, &f, err, sizeof err), 0);
    CHECK_EQ_INT(f.state_mask, 0);
    CHECK_EQ_INT(f.newest_first, 1);

    Brn__V1__JobState states[2] = {BRN__V1__JOB_STATE__JOB_STATE_QUEUED, BRN__V1__JOB_STATE__JOB_STATE_FAILED};
    req.states = states;
    req.n_states = 2;
    CHECK_EQ_INT(validate_list(&req, &f, err, sizeof err), 0);
    CHECK_EQ_INT(f.state_mask, BRN_JOB_STATE_BIT(BRN_JOB_QUEUED) | BRN_JOB_STATE_BIT(BRN_JOB_FAILED));
    states[1] = BRN__V1__JOB_STATE__JOB_STATE_UNSPECIFIED;
    CHECK_EQ_INT(validate_list(&req, &f, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "states: 0 is not a job state");
    req.n_states = 0;

    req.page_size = 1001;
    CHECK_EQ_INT(validate_list(&req, &f, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "page_size: 1001 is not in 0..1000");
    req.page_size = 10;

    char tok[32];
    validate_page_token(42, tok, sizeof tok);
    req.page_token = tok;
    CHECK_EQ_INT(validate_list(&req, &f, err, sizeof err), 0);
    CHECK_EQ_INT(f.cursor, 42);
    CHECK_EQ_INT(f.limit, 10);
    req.page_token = "-3";
    CHECK_EQ_INT(validate_list(&req, &f, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "page_token:");
    validate_page_token(0, tok, sizeof tok);
    CHECK(tok[0] == 0);

    CHECK_EQ_INT(validate_job_id("id", 0, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "id: 0 is not a job id");
    CHECK_EQ_INT(validate_job_id("id", 7, err, sizeof err), 0);

    Brn__V1__GetMetricsRequest m = BRN__V1__GET_METRICS_REQUEST__INIT;
    CHECK_EQ_INT(validate_metrics(&m, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "job_ids: at least one");
    int64_t ids[2] = {3, -1};
    m.job_ids = ids;
    m.n_job_ids = 2;
    CHECK_EQ_INT(validate_metrics(&m, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "job_ids: -1");
}

static void test_states_map_both_ways(void)
{
    for (int st = 0; st < BRN_JOB_STATE_COUNT; st++) {
        int p = (int)convert_job_state((brn_job_state)st);
        CHECK(p != BRN__V1__JOB_STATE__JOB_STATE_UNSPECIFIED);
        CHECK_EQ_INT(convert_job_state_from_proto(p), st);
    }
    CHECK_EQ_INT(convert_job_state_from_proto(0), -1);
    CHECK_EQ_INT(convert_job_state_from_proto(99), -1);
    CHECK_EQ_INT(convert_job_state(BRN_JOB_CANCELLED), BRN__V1__JOB_STATE__JOB_STATE_CANCELLED);
}

static void test_loopback_addresses(void)
{
    CHECK(rpc_listen_is_loopback("unix:/tmp/x.sock"));
    CHECK(rpc_listen_is_loopback("127.0.0.1:5000"));
    CHECK(rpc_listen_is_loopback("127.9.8.7:5000"));
    CHECK(rpc_listen_is_loopback("[::1]:5000"));
    CHECK(rpc_listen_is_loopback("[::ffff:127.0.0.1]:5000"));
    CHECK(!rpc_listen_is_loopback("0.0.0.0:5000"));
    CHECK(!rpc_listen_is_loopback(":5000"));
    CHECK(!rpc_listen_is_loopback("[::]:5000"));
    CHECK(!rpc_listen_is_loopback("10.1.2.3:5000"));
    CHECK(!rpc_listen_is_loopback("127.0.0.1"));
    /* only a literal address counts: a name can resolve anywhere */
    CHECK(!rpc_listen_is_loopback("localhost:5000"));
    CHECK(!rpc_listen_is_loopback("127.evil.example.com:5000"));
    CHECK(!rpc_listen_is_loopback("127.0.0.1.nip.io:5000"));
    CHECK(!rpc_listen_is_loopback("127.1:5000")); /* inet_aton's short forms are not literal enough */
    CHECK(!rpc_listen_is_loopback("[::ffff:10.0.0.1]:5000"));
}

/* The authorization value ends exactly at a page followed by an inaccessible one: a
 * check that reads one byte past "Bearer " faults here instead of passing silently. */
static int auth_with_value(const char *value)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *mem = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return 99;
    mprotect(mem + page, (size_t)page, PROT_NONE);
    size_t n = strlen(value);
    unsigned char *v = mem + page - n;
    memcpy(v, value, n);
    brn_rpc_server s;
    memset(&s, 0, sizeof s);
    s.token = "s3cret";
    grpc_metadata md = {.key = grpc_slice_from_static_string("authorization"),
                        .value = grpc_slice_from_static_buffer(v, n)};
    grpc_metadata_array arr = {.count = 1, .capacity = 1, .metadata = &md};
    int rc = rpc_server_check_auth(&s, &arr);
    munmap(mem, (size_t)page * 2);
    return rc;
}

static void test_bearer_header(void)
{
    CHECK_EQ_INT(auth_with_value("Bearer s3cret"), 0);
    CHECK_EQ_INT(auth_with_value("bearer s3cret"), 0);
    CHECK(auth_with_value("Bearer ") != 0);   /* exactly the prefix: no read past the value */
    CHECK(auth_with_value("Bearer") != 0);
    CHECK(auth_with_value("Bearer s3cre") != 0);
    CHECK(auth_with_value("Bearer s3cretx") != 0);
    CHECK(auth_with_value("Basic s3cret") != 0);
    CHECK(auth_with_value("") != 0);
    brn_rpc_server s;
    memset(&s, 0, sizeof s);
    s.token = "s3cret";
    grpc_metadata_array none = {0};
    CHECK(rpc_server_check_auth(&s, &none) != 0);
}

static void test_epoch_conversion(void)
{
    brn_renorm_diag diag[2] = {{"blocks.0.bn1", 0.1, 0.2, 0.3, 0.4}, {"bn", 1, 2, 3, 4}};
    brn_epoch_metrics m = {.epoch = 3, .step = 300, .train_loss = 1.5, .train_acc = 0.5, .evaluated = 0,
                           .test_loss = 9, .lr = 0.1, .rmax = 2, .dmax = 1, .seconds = 4, .images_per_sec = 100,
                           .diag = diag, .n_diag = 2};
    Brn__V1__EpochMetrics *e = convert_epoch(&m);
    CHECK(e != NULL);
    if (!e) return;
    CHECK_EQ_INT(e->epoch, 3);
    CHECK(!e->evaluated && e->test_loss == 0);
    CHECK_EQ_INT((long)e->n_renorm, 2);
    CHECK(strcmp(e->renorm[0]->layer, "blocks.0.bn1") == 0 && e->renorm[1]->frac_d_clipped == 4);
    protobuf_c_message_free_unpacked(&e->base, NULL);
}

int main(void)
{
    TEST(test_submit_messages);
    TEST(test_list_and_ids);
    TEST(test_states_map_both_ways);
    TEST(test_bearer_header);
    TEST(test_loopback_addresses);
    TEST(test_epoch_conversion);
    return CHECK_DONE();
}
