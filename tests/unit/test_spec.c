/* The job spec: flags, validation messages naming the field, JSON round trip. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "spec.h"

static int parse(brn_job_spec *s, char *err, size_t n, int argc, char **argv)
{
    brn_spec_defaults(s);
    return brn_spec_parse_args(s, argc, argv, err, n, 0, NULL, NULL);
}

static void test_flags(void)
{
    brn_job_spec s;
    char err[256];
    char *argv[] = {"--depth", "28", "--width=10", "--norm", "brn", "--no-augment", "--nesterov", "--milestones",
                    "60,120,160", "--microbatch", "4", "--sampling", "non-iid", "--seed", "18446744073709551615",
                    "--renorm-schedule=logistic", "--t-delta", "0.5", "--eval-stats", "batch", "--lr-schedule", "step"};
    CHECK_EQ_INT(parse(&s, err, sizeof err, sizeof argv / sizeof argv[0], argv), 0);
    CHECK_EQ_INT(s.depth, 28);
    CHECK_EQ_INT(s.width, 10);
    CHECK_EQ_INT(s.norm, BRN_NORM_BRN);
    CHECK_EQ_INT(s.augment, 0);
    CHECK_EQ_INT(s.nesterov, 1);
    CHECK_EQ_INT(s.n_milestones, 3);
    CHECK_EQ_INT(s.milestones[2], 160);
    CHECK_EQ_INT(s.microbatch, 4);
    CHECK_EQ_INT(s.sampling, BRN_SAMPLING_NON_IID);
    CHECK(s.seed == UINT64_MAX);
    CHECK_EQ_INT(s.renorm_schedule, BRN_RENORM_LOGISTIC);
    CHECK_CLOSE(s.t_delta, 0.5, 0, 0);
    CHECK_EQ_INT(s.eval_stats, BRN_EVAL_BATCH);
    CHECK_EQ_INT(brn_spec_validate(&s, err, sizeof err), 0);
}

static void expect_parse_error(const char *flag, const char *value, const char *needle)
{
    brn_job_spec s;
    char err[256] = "";
    char *argv[] = {(char *)flag, (char *)value};
    CHECK(parse(&s, err, sizeof err, value ? 2 : 1, argv) != 0);
    CHECK_STR_CONTAINS(err, needle);
}

static void test_parse_errors(void)
{
    expect_parse_error("--depth", "ten", "depth");
    expect_parse_error("--norm", "batchnorm", "norm: 'batchnorm' is not one of bn, brn, gn, ln, none");
    expect_parse_error("--lr", "nan", "lr");
    expect_parse_error("--bogus", "1", "unknown option '--bogus'");
    expect_parse_error("--milestones", "3,x", "milestones");
    expect_parse_error("--batch-size", NULL, "needs a value");
    expect_parse_error("--seed", "-1", "seed");
}

static void expect_invalid(void (*mutate)(brn_job_spec *), const char *needle)
{
    brn_job_spec s;
    char err[256] = "";
    brn_spec_defaults(&s);
    mutate(&s);
    CHECK(brn_spec_validate(&s, err, sizeof err) != 0);
    CHECK_STR_CONTAINS(err, needle);
}

static void m_depth(brn_job_spec *s) { s->depth = 12; }
static void m_width(brn_job_spec *s) { s->width = 0; }
static void m_dropout(brn_job_spec *s) { s->dropout = 1; }
static void m_dataset(brn_job_spec *s) { strcpy(s->dataset, "imagenet"); }
static void m_micro(brn_job_spec *s) { s->microbatch = 5; }
static void m_rmax(brn_job_spec *s) { s->norm = BRN_NORM_BRN, s->rmax = 0.5; }
static void m_gn(brn_job_spec *s) { s->norm = BRN_NORM_GN, s->gn_groups = 3; }
static void m_nesterov(brn_job_spec *s) { s->nesterov = 1, s->momentum = 0; }
static void m_labels(brn_job_spec *s) { s->sampling = BRN_SAMPLING_NON_IID, s->labels_per_batch = 5; }
static void m_steps(brn_job_spec *s) { s->lr_schedule = BRN_LR_STEP, s->n_milestones = 0; }
static void m_device(brn_job_spec *s) { strcpy(s->device, "tpu"); }
static void m_eps(brn_job_spec *s) { s->norm_eps = 0; }
static void m_labels_classes(brn_job_spec *s) { s->sampling = BRN_SAMPLING_NON_IID, s->labels_per_batch = 16; }
static void m_labels_zero(brn_job_spec *s) { s->sampling = BRN_SAMPLING_NON_IID, s->labels_per_batch = 0; }
static void m_cuda_empty(brn_job_spec *s) { strcpy(s->device, "cuda:"); }
static void m_cuda_negative(brn_job_spec *s) { strcpy(s->device, "cuda:-1"); }
static void m_cuda_too_many(brn_job_spec *s) { strcpy(s->device, "cuda:64"); }
static void m_cuda_junk(brn_job_spec *s) { strcpy(s->device, "cuda:1x"); }

static void test_validation_names_the_field(void)
{
    expect_invalid(m_depth, "depth: 12 is not 6n+4");
    expect_invalid(m_width, "width");
    expect_invalid(m_dropout, "dropout");
    expect_invalid(m_dataset, "dataset: 'imagenet'");
    expect_invalid(m_micro, "microbatch: 5 does not divide batch-size 128");
    expect_invalid(m_rmax, "rmax");
    expect_invalid(m_gn, "gn-groups");
    expect_invalid(m_nesterov, "nesterov");
    expect_invalid(m_labels, "labels-per-batch");
    expect_invalid(m_steps, "milestones");
    expect_invalid(m_device, "device");
    expect_invalid(m_eps, "norm-eps");
    expect_invalid(m_labels_classes, "labels-per-batch: 16 is more than the 10 classes of fashion-mnist");
    expect_invalid(m_labels_zero, "labels-per-batch: 0 is not positive");
    expect_invalid(m_cuda_empty, "device: 'cuda:'");
    expect_invalid(m_cuda_negative, "device: 'cuda:-1'");
    expect_invalid(m_cuda_too_many, "device: 'cuda:64'");
    expect_invalid(m_cuda_junk, "device: 'cuda:1x'");
}

static void test_devices_and_precision(void)
{
    brn_job_spec s;
    char err[256];
    int index = -1;
    CHECK(brn_device_is_cuda("cuda", &index) && index == 0);
    CHECK(brn_device_is_cuda("cuda:7", &index) && index == 7);
    CHECK(!brn_device_is_cuda("cpu", &index));
    brn_spec_defaults(&s);
    CHECK_EQ_INT(s.precision, BRN_PRECISION_FP32);
    CHECK_EQ_INT(brn_spec_set(&s, "device", "cuda:3", err, sizeof err), 0);
    CHECK_EQ_INT(brn_spec_validate(&s, err, sizeof err), 0);
    CHECK_EQ_INT(brn_spec_set(&s, "precision", "bf16", err, sizeof err), 0);
    CHECK_EQ_INT(s.precision, BRN_PRECISION_BF16);
    CHECK_STR_CONTAINS(brn_precision_name(s.precision), "bf16");
    CHECK(brn_spec_set(&s, "precision", "fp16", err, sizeof err) != 0);
    /* non-i.i.d. labels per batch: few, dividing the batch, within the dataset's classes */
    brn_spec_defaults(&s);
    CHECK_EQ_INT(brn_spec_labels_per_batch(&s, 10), 4);     /* batch 128, at most 5 */
    CHECK_EQ_INT(brn_spec_labels_per_batch(&s, 100), 16);
    s.batch_size = 30;
    CHECK_EQ_INT(brn_spec_labels_per_batch(&s, 10), 5);
    s.labels_per_batch = 3;
    CHECK_EQ_INT(brn_spec_labels_per_batch(&s, 10), 3);
    CHECK_STR_CONTAINS(err, "precision: 'fp16' is not one of fp32, tf32, bf16");
}

static int count_field(const char *name, const char *value, void *user)
{
    (void)name, (void)value;
    (*(int *)user)++;
    return 0;
}

static void test_json_round_trip(void)
{
    brn_job_spec a, b;
    char err[256];
    char *argv[] = {"--norm", "gn", "--gn-groups", "4", "--milestones", "2,5", "--seed", "12345678901234",
                    "--dropout", "0.25", "--renorm-warmup", "17"};
    CHECK_EQ_INT(parse(&a, err, sizeof err, 12, argv), 0);
    json_t *j = brn_spec_to_json(&a);
    brn_spec_defaults(&b);
    CHECK_EQ_INT(brn_spec_from_json(&b, j, err, sizeof err), 0);
    json_decref(j);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    int n = 0;
    brn_spec_for_each(&a, count_field, &n);
    CHECK(n >= 40);
    /* unknown keys are errors, not silently ignored */
    json_t *bad = json_pack("{s:i}", "depht", 16);
    CHECK(brn_spec_from_json(&b, bad, err, sizeof err) != 0);
    CHECK_STR_CONTAINS(err, "depht");
    json_decref(bad);
}

int main(void)
{
    TEST(test_flags);
    TEST(test_parse_errors);
    TEST(test_validation_names_the_field);
    TEST(test_json_round_trip);
    TEST(test_devices_and_precision);
    return CHECK_DONE();
}
