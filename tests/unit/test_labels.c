/* Job labels end to end below the RPC layer: the request rules (validate_labels), the
 * store (written with the job, an idempotent retry compares them, the ListJobs filter,
 * dry runs, a database from before labels upgraded), the Job message (labels in key
 * order, inert fields) and which spec fields are inert (brn_spec_field_inert). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "service/convert.h"
#include "service/validate.h"
#include "store/store.h"

static char tmpdir[256];

static int check_labels(const char *const *kv, int n, char *err, size_t errlen)
{
    Brn__V1__Label l[40], *p[40];
    for (int i = 0; i < n; i++) {
        brn__v1__label__init(&l[i]);
        l[i].key = (char *)kv[2 * i];
        l[i].value = (char *)kv[2 * i + 1];
        p[i] = &l[i];
    }
    return validate_labels("labels", p, (size_t)n, err, errlen);
}

static void test_validate(void)
{
    char err[512];
    const char *good[] = {"sweep", "claim1.small", "norm", "brn", "seed", "3", "a-b_c.9", "", "x", "μ ± σ"};
    CHECK_EQ_INT(check_labels(good, 5, err, sizeof err), 0);
    struct { const char *k, *v, *says; } bad[] = {
        {"Sweep", "x", "labels[1].key: 'Sweep' is not 1..63 characters of a-z 0-9 _ . -"},
        {"", "x", "labels[1].key: '' is not"},
        {"a b", "x", "labels[1].key"},
        {"ok", "tab\there", "labels[1].value: contains control characters"},
        {"ok", "\xff\xfe", "labels[1].value: is not valid UTF-8"},
        {"sweep", "again", "labels[1].key: 'sweep' is given twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *kv[] = {"sweep", "s", bad[i].k, bad[i].v};
        CHECK_EQ_INT(check_labels(kv, 2, err, sizeof err), -1);
        CHECK_STR_CONTAINS(err, bad[i].says);
    }
    char key64[65], value257[258];
    memset(key64, 'k', 64);
    key64[64] = 0;
    memset(value257, 'v', 257);
    value257[257] = 0;
    const char *long_key[] = {key64, "x"}, *long_value[] = {"k", value257};
    CHECK_EQ_INT(check_labels(long_key, 1, err, sizeof err), -1);
    CHECK_EQ_INT(check_labels(long_value, 1, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "labels[0].value: longer than 256 bytes");
    key64[63] = 0;
    value257[256] = 0;
    const char *at_limit[] = {key64, value257};
    CHECK_EQ_INT(check_labels(at_limit, 1, err, sizeof err), 0);
    const char *many[2 * 33];
    char keys[33][8];
    for (int i = 0; i < 33; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        many[2 * i] = keys[i];
        many[2 * i + 1] = "v";
    }
    CHECK_EQ_INT(check_labels(many, 32, err, sizeof err), 0);
    CHECK_EQ_INT(check_labels(many, 33, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "labels: 33 labels, at most 32");
    /* through the request validators */
    Brn__V1__Label l = BRN__V1__LABEL__INIT, *lp = &l;
    l.key = "Bad";
    l.value = "";
    Brn__V1__SubmitJobRequest sub = BRN__V1__SUBMIT_JOB_REQUEST__INIT;
    brn_job_spec spec;
    sub.n_labels = 1;
    sub.labels = &lp;
    CHECK_EQ_INT(validate_submit(&sub, &spec, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "labels[0].key");
    Brn__V1__ListJobsRequest list = BRN__V1__LIST_JOBS_REQUEST__INIT;
    brn_job_filter f;
    list.n_labels = 1;
    list.labels = &lp;
    CHECK_EQ_INT(validate_list(&list, &f, err, sizeof err), -1);
    Brn__V1__GetMetricsRequest m = BRN__V1__GET_METRICS_REQUEST__INIT;
    CHECK_EQ_INT(validate_metrics(&m, err, sizeof err), -1);
    l.key = "sweep";
    m.n_labels = 1;
    m.labels = &lp;
    CHECK_EQ_INT(validate_metrics(&m, err, sizeof err), 0); /* labels alone select jobs */
}

static const char *SPEC = "{\"norm\":\"bn\"}";

static int64_t create(brn_store *s, const char *key, const brn_job_label *l, int n, int dry, int *existed, int *rc)
{
    char err[256];
    int64_t id = -1;
    brn_job_new j = {.name = "j", .idempotency_key = key, .spec_json = SPEC, .labels = l, .n_labels = n, .dry_run = dry};
    *rc = store_job_create(s, &j, &id, existed, err, sizeof err);
    return id;
}

static int list_ids(brn_store *s, const brn_job_label *l, int n, int limit, int64_t cursor, int64_t *ids, int64_t *next)
{
    char err[256];
    brn_job_row *rows;
    int count = 0;
    brn_job_filter f = {.labels = l, .n_labels = n, .limit = limit, .cursor = cursor};
    CHECK_EQ_INT(store_job_list(s, &f, &rows, &count, next, err, sizeof err), 0);
    for (int i = 0; i < count; i++) ids[i] = rows[i].id;
    brn_job_rows_free(rows, count);
    return count;
}

static void test_store(void)
{
    char path[512], err[256];
    brn_store *s = NULL;
    snprintf(path, sizeof path, "%s/labels.db", tmpdir);
    CHECK_EQ_INT(store_open(path, &s, err, sizeof err), 0);
    const brn_job_label a1[] = {{"sweep", "a"}, {"norm", "bn"}, {"seed", "1"}};
    const brn_job_label a2[] = {{"seed", "2"}, {"sweep", "a"}, {"norm", "brn"}};
    const brn_job_label b1[] = {{"sweep", "b"}, {"norm", "bn"}};
    int existed, rc;
    int64_t id1 = create(s, "k1", a1, 3, 0, &existed, &rc);
    CHECK(rc == 0 && id1 == 1 && !existed);
    int64_t id2 = create(s, NULL, a2, 3, 0, &existed, &rc);
    CHECK(rc == 0 && id2 == 2);
    CHECK_EQ_INT(create(s, NULL, b1, 2, 0, &existed, &rc), 3);
    CHECK_EQ_INT(create(s, NULL, NULL, 0, 0, &existed, &rc), 4);
    /* labels come back in key order; none reads as NULL */
    brn_job_row row;
    CHECK_EQ_INT(store_job_get(s, 2, &row, err, sizeof err), 0);
    CHECK(row.labels_json && !strcmp(row.labels_json, "{\"norm\":\"brn\",\"seed\":\"2\",\"sweep\":\"a\"}"));
    brn_job_row_free(&row);
    CHECK_EQ_INT(store_job_get(s, 4, &row, err, sizeof err), 0);
    CHECK(row.labels_json == NULL);
    brn_job_row_free(&row);
    /* the filter: every pair must match */
    int64_t ids[16], next;
    const brn_job_label fa[] = {{"sweep", "a"}}, fbn[] = {{"norm", "bn"}}, fabn[] = {{"sweep", "a"}, {"norm", "bn"}},
                        fnone[] = {{"sweep", "c"}}, fval[] = {{"sweep", "a"}, {"norm", "gn"}};
    CHECK_EQ_INT(list_ids(s, fa, 1, 0, 0, ids, &next), 2);
    CHECK(ids[0] == 1 && ids[1] == 2);
    CHECK_EQ_INT(list_ids(s, fbn, 1, 0, 0, ids, &next), 2);
    CHECK(ids[0] == 1 && ids[1] == 3);
    CHECK_EQ_INT(list_ids(s, fabn, 2, 0, 0, ids, &next), 1);
    CHECK(ids[0] == 1);
    CHECK_EQ_INT(list_ids(s, fnone, 1, 0, 0, ids, &next), 0);
    CHECK_EQ_INT(list_ids(s, fval, 2, 0, 0, ids, &next), 0);
    CHECK_EQ_INT(list_ids(s, NULL, 0, 0, 0, ids, &next), 4);
    /* pages of a filtered list */
    CHECK_EQ_INT(list_ids(s, fa, 1, 1, 0, ids, &next), 1);
    CHECK(ids[0] == 1 && next == 1);
    CHECK_EQ_INT(list_ids(s, fa, 1, 1, next, ids, &next), 1);
    CHECK(ids[0] == 2 && next == 0);
    /* an idempotent retry: same labels in another order -> the same job; other labels -> conflict */
    const brn_job_label a1_shuffled[] = {{"seed", "1"}, {"norm", "bn"}, {"sweep", "a"}};
    CHECK_EQ_INT(create(s, "k1", a1_shuffled, 3, 0, &existed, &rc), 1);
    CHECK(rc == 0 && existed);
    CHECK_EQ_INT(create(s, "k1", a1, 2, 0, &existed, &rc), 1);
    CHECK_EQ_INT(rc, STORE_CONFLICT);
    CHECK_EQ_INT(create(s, "k1", NULL, 0, 0, &existed, &rc), 1);
    CHECK_EQ_INT(rc, STORE_CONFLICT);
    /* a dry run writes nothing: id 0 for a new key, the job for a known one */
    CHECK_EQ_INT(create(s, "k9", a1, 3, 1, &existed, &rc), 0);
    CHECK(rc == 0 && !existed);
    CHECK_EQ_INT(create(s, "k1", a1, 3, 1, &existed, &rc), 1);
    CHECK(rc == 0 && existed);
    CHECK_EQ_INT(create(s, "k1", b1, 2, 1, &existed, &rc), 1);
    CHECK_EQ_INT(rc, STORE_CONFLICT);
    long count = 0;
    CHECK_EQ_INT(store_job_count(s, 0, &count, err, sizeof err), 0);
    CHECK_EQ_INT(count, 4);
    /* duplicate keys in one job are refused by the table (the service refuses them first) */
    const brn_job_label dup[] = {{"a", "1"}, {"a", "2"}};
    CHECK_EQ_INT(create(s, NULL, dup, 2, 0, &existed, &rc), 0);
    CHECK(rc < 0);
    CHECK_EQ_INT(store_job_count(s, 0, &count, err, sizeof err), 0);
    CHECK_EQ_INT(count, 4); /* rolled back: no job without its labels */
    store_close(s);
}

static void test_upgrade(void)
{
    /* A database as the binary before labels left it (schema 3) gains the table. */
    char path[512], err[256];
    brn_store *s = NULL;
    snprintf(path, sizeof path, "%s/old.db", tmpdir);
    CHECK_EQ_INT(store_open_at_version(path, 3, &s, err, sizeof err), 0);
    CHECK_EQ_INT(store_schema_version(s), 3);
    store_close(s);
    CHECK_EQ_INT(store_open(path, &s, err, sizeof err), 0);
    CHECK(store_schema_version(s) >= 4);
    const brn_job_label l[] = {{"sweep", "x"}};
    int existed, rc;
    CHECK_EQ_INT(create(s, NULL, l, 1, 0, &existed, &rc), 1);
    CHECK_EQ_INT(rc, 0);
    store_close(s);
}

static void test_job_message(void)
{
    brn_job_row row = {.id = 5, .name = "j", .spec_json = "{\"norm\":\"gn\",\"sampling\":\"non_iid\"}",
                       .labels_json = "{\"seed\":\"1\",\"norm\":\"gn\",\"sweep\":\"a\"}"};
    Brn__V1__Job *j = convert_job(&row);
    CHECK(j != NULL);
    if (!j) return;
    CHECK_EQ_INT(j->n_labels, 3);
    CHECK(!strcmp(j->labels[0]->key, "norm") && !strcmp(j->labels[1]->key, "seed") &&
          !strcmp(j->labels[2]->key, "sweep") && !strcmp(j->labels[2]->value, "a"));
    int mb = 0, groups = 0, lpb = 0, rmax = 0;
    for (size_t i = 0; i < j->n_inert_fields; i++) {
        mb |= !strcmp(j->inert_fields[i], "microbatch");
        groups |= !strcmp(j->inert_fields[i], "gn_groups");
        lpb |= !strcmp(j->inert_fields[i], "labels_per_batch");
        rmax |= !strcmp(j->inert_fields[i], "rmax");
        CHECK(strcmp(j->inert_fields[i], "data_dir")); /* not an API field */
    }
    CHECK(mb && rmax && !groups && !lpb);
    protobuf_c_message_free_unpacked(&j->base, NULL);
}

static void test_inert(void)
{
    brn_job_spec s;
    brn_spec_defaults(&s); /* bn, iid, cosine, linear renorm schedule */
    CHECK(!brn_spec_field_inert(&s, "microbatch") && !brn_spec_field_inert(&s, "norm_momentum"));
    CHECK(brn_spec_field_inert(&s, "rmax") && brn_spec_field_inert(&s, "renorm_warmup"));
    CHECK(brn_spec_field_inert(&s, "gn_groups") && brn_spec_field_inert(&s, "labels_per_batch"));
    CHECK(brn_spec_field_inert(&s, "milestones") && !brn_spec_field_inert(&s, "epochs"));
    CHECK(!brn_spec_field_inert(&s, "lr") && !brn_spec_field_inert(&s, "norm") && !brn_spec_field_inert(&s, "seed"));
    s.norm = BRN_NORM_BRN;
    CHECK(!brn_spec_field_inert(&s, "rmax") && !brn_spec_field_inert(&s, "rmax_steps"));
    CHECK(brn_spec_field_inert(&s, "t_delta"));
    s.renorm_schedule = BRN_RENORM_LOGISTIC;
    CHECK(!brn_spec_field_inert(&s, "t_delta") && brn_spec_field_inert(&s, "rmax_steps"));
    s.norm = BRN_NORM_GN;
    CHECK(brn_spec_field_inert(&s, "microbatch") && brn_spec_field_inert(&s, "eval_stats") &&
          !brn_spec_field_inert(&s, "gn_groups") && !brn_spec_field_inert(&s, "norm_eps"));
    s.norm = BRN_NORM_NONE;
    CHECK(brn_spec_field_inert(&s, "norm_eps"));
    s.sampling = BRN_SAMPLING_NON_IID;
    s.lr_schedule = BRN_LR_STEP;
    s.steps = 100;
    CHECK(!brn_spec_field_inert(&s, "labels_per_batch") && !brn_spec_field_inert(&s, "lr_factor"));
    CHECK(brn_spec_field_inert(&s, "epochs"));
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/brn-labels-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) return 1;
    TEST(test_validate);
    TEST(test_store);
    TEST(test_upgrade);
    TEST(test_job_message);
    TEST(test_inert);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
    return CHECK_DONE();
}
