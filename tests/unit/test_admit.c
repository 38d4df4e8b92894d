/* Admission at SubmitJob (service/admit.c) with extreme specs: huge models and batches
 * beyond the memory budget, threads beyond the cores, epochs and steps beyond the limits
 * (also implied ones), checkpoints beyond the disk limit; and the limit options' parsing. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "common/limits.h"
#include "service/admit.h"

static brn_limits lim;

static void reset(void)
{
    limits_defaults(&lim);
    lim.cpu_cores = 2;
    char err[256];
    CHECK_EQ_INT(limits_set_option(&lim, "memory_budget", "cpu=8G", err, sizeof err), 0);
}

static brn_job_spec spec_of(const char *dataset, int depth, int width, int batch)
{
    brn_job_spec s;
    brn_spec_defaults(&s);
    snprintf(s.dataset, sizeof s.dataset, "%s", dataset);
    s.depth = depth;
    s.width = width;
    s.batch_size = batch;
    return s;
}

static int admit(brn_job_spec *s, char *err, size_t n)
{
    char note[160];
    return admit_job(&lim, s, "cpu", note, sizeof note, err, n);
}

static void test_small_job_passes(void)
{
    reset();
    char err[512] = "", note[160];
    brn_job_spec s = spec_of("synthetic", 10, 1, 32);
    s.threads = 0; /* all the cores brnd may use */
    CHECK_EQ_INT(admit_job(&lim, &s, "cpu", note, sizeof note, err, sizeof err), 0);
    CHECK_EQ_INT(s.threads, 2);
    CHECK_EQ_INT(note[0], 0); /* 0 threads is not a clamp worth a note */
}

static void test_huge_models_exceed_the_budget(void)
{
    reset();
    char err[512];
    brn_job_spec s = spec_of("cifar10", 28, 10, 1024); /* the review's 18 GiB arena */
    CHECK_EQ_INT(admit(&s, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "memory: the job needs about");
    CHECK_STR_CONTAINS(err, "GiB");
    CHECK_STR_CONTAINS(err, "on cpu");
    CHECK_STR_CONTAINS(err, "memory budget on this server is 8.0 GiB");
    s = spec_of("cifar10", 16, 8, 4096); /* 34 GiB */
    CHECK_EQ_INT(admit(&s, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "memory:");
    s = spec_of("cifar10", 1000, 64, 65536); /* the largest the spec allows: no overflow */
    CHECK_EQ_INT(admit(&s, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "memory:");
    /* a bigger budget takes the first one */
    CHECK_EQ_INT(limits_set_option(&lim, "memory-budget", "64G", err, sizeof err), 0);
    s = spec_of("cifar10", 28, 10, 1024);
    CHECK_EQ_INT(admit(&s, err, sizeof err), 0);
}

static void test_threads_are_clamped(void)
{
    reset();
    char err[512], note[160];
    brn_job_spec s = spec_of("cifar10", 10, 1, 128);
    s.threads = 1024;
    CHECK_EQ_INT(admit_job(&lim, &s, "cpu", note, sizeof note, err, sizeof err), 0);
    CHECK_EQ_INT(s.threads, 2);
    CHECK_STR_CONTAINS(note, "threads 1024 clamped to 2");
    /* the estimate is the clamped job's: 1024 threads of scratch would not fit 8 GiB */
    brn_job_memory m;
    CHECK_EQ_INT(brn_job_estimate(&s, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.threads, 2);
}

static void test_epochs_and_steps_limits(void)
{
    reset();
    char err[512];
    brn_job_spec s = spec_of("synthetic", 10, 1, 32);
    s.epochs = 100000;
    CHECK_EQ_INT(admit(&s, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "epochs: 100000 is more than this server allows (max_epochs 10000)");
    s.epochs = 10;
    s.steps = 900000000L;
    CHECK_EQ_INT(admit(&s, err, sizeof err), -1); /* 900M steps imply far more than 10000 epochs */
    CHECK_STR_CONTAINS(err, "steps: 900000000 steps of");
    CHECK_STR_CONTAINS(err, "max_epochs 10000");
    CHECK_EQ_INT(limits_set_option(&lim, "max_steps", "1000", err, sizeof err), 0);
    s.steps = 5000;
    CHECK_EQ_INT(admit(&s, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "steps: 5000 is more than this server allows (max_steps 1000)");
    s.steps = 0;
    s.epochs = 10000; /* epochs x steps per epoch beyond max_steps */
    CHECK_EQ_INT(admit(&s, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "max_steps 1000");
}

static void test_disk_limit(void)
{
    reset();
    char err[512];
    CHECK_EQ_INT(limits_set_option(&lim, "max_job_disk", "1G", err, sizeof err), 0);
    CHECK_EQ_INT(limits_set_option(&lim, "memory_budget", "cpu=1T", err, sizeof err), 0);
    brn_job_spec s = spec_of("cifar10", 28, 10, 8); /* ~36.5 M parameters: ~292 MB per checkpoint */
    s.epochs = 100;
    s.save_every = 1;
    CHECK_EQ_INT(admit(&s, err, sizeof err), -1); /* last + 3 kept + 1 being written */
    CHECK_STR_CONTAINS(err, "disk: the job would keep about");
    CHECK_STR_CONTAINS(err, "5 files");
    s.save_every = 0; /* last and one being written: ~584 MB */
    CHECK_EQ_INT(admit(&s, err, sizeof err), 0);
}

static void test_limit_options(void)
{
    brn_limits l;
    limits_defaults(&l);
    char err[256];
    int64_t b;
    CHECK_EQ_INT(limits_parse_size("12G", &b), 0);
    CHECK_EQ_INT(b, 12LL << 30);
    CHECK_EQ_INT(limits_parse_size("1.5GiB", &b), 0);
    CHECK_EQ_INT(b, 3LL << 29);
    CHECK_EQ_INT(limits_parse_size("512MB", &b), 0);
    CHECK_EQ_INT(b, 512LL << 20);
    CHECK_EQ_INT(limits_parse_size("-1G", &b), -1);
    CHECK_EQ_INT(limits_parse_size("12Q", &b), -1);
    CHECK_EQ_INT(limits_set_option(&l, "memory-budget", "cpu=4G,cuda:0=70G", err, sizeof err), 0);
    CHECK_EQ_INT(limits_memory_budget(&l, "cpu"), 4LL << 30);
    CHECK_EQ_INT(limits_memory_budget(&l, "cuda:0"), 70LL << 30);
    CHECK_EQ_INT(limits_memory_budget(&l, "cuda:1"), -1);
    CHECK_EQ_INT(limits_set_option(&l, "memory_budget", "cpu=", err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "memory_budget:");
    CHECK_EQ_INT(limits_set_option(&l, "max-epochs", "0", err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "max_epochs: '0' is not a whole number in 1..100000");
    CHECK_EQ_INT(limits_set_option(&l, "max_crashes", "0", err, sizeof err), 0);
    CHECK_EQ_INT(l.max_crashes, 0);
    CHECK_EQ_INT(limits_set_option(&l, "keep_epoch_checkpoints", "x", err, sizeof err), -1);
    CHECK_EQ_INT(limits_set_option(&l, "state_dir", "/x", err, sizeof err), 1); /* not a limit */
    /* the machine's default: a CPU budget and at least one core */
    brn_limits m;
    limits_defaults(&m);
    limits_resolve(&m);
    CHECK(limits_memory_budget(&m, "cpu") > 0);
    CHECK(m.cpu_cores >= 1);
}

int main(void)
{
    TEST(test_small_job_passes);
    TEST(test_huge_models_exceed_the_budget);
    TEST(test_threads_are_clamped);
    TEST(test_epochs_and_steps_limits);
    TEST(test_disk_limit);
    TEST(test_limit_options);
    return CHECK_DONE();
}
