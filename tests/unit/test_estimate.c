/* Memory estimates: equal to what the model allocates, growing with batch and threads. */
#include "check.h"
#include "engine.h"
#include "model.h"
#include "model_fixture.h"

static void test_model_estimate_matches_allocation(void)
{
    char err[256];
    brn_model_config mc = {.depth = 10, .width = 2, .in_c = 1, .in_h = 28, .in_w = 28, .classes = 10,
                           .max_batch = 32, .norm = BRN_NORM_BRN, .eps = 1e-5, .microbatch = 4, .gn_groups = 8,
                           .dropout = 0.3};
    brn_backend *be = fixture_cpu(2);
    brn_memory_estimate e;
    CHECK_EQ_INT(brn_model_estimate(&mc, be, &e, err, sizeof err), 0);
    brn_model m;
    CHECK_EQ_INT(brn_model_init(&m, &mc, be, err, sizeof err), 0);
    CHECK_EQ_INT(e.parameters, m.n_params);
    CHECK_EQ_INT(e.activation_bytes + e.scratch_bytes, m.arena_bytes);
    CHECK_EQ_INT(e.scratch_bytes, m.workspace_bytes);
    CHECK_EQ_INT(e.state_bytes, sizeof(float) * (3 * m.n_params + m.n_buffers));
    brn_model_free(&m);
    brn_backend_close(be);
}

static void test_job_estimate_scales(void)
{
    char err[256];
    brn_job_spec s;
    brn_spec_defaults(&s);
    s.depth = 10, s.width = 1, s.threads = 1, s.batch_size = 64;
    brn_job_memory small, threads, big;
    CHECK_EQ_INT(brn_job_estimate(&s, &small, err, sizeof err), 0);
    s.threads = 64;
    CHECK_EQ_INT(brn_job_estimate(&s, &threads, err, sizeof err), 0);
    CHECK(threads.model_bytes > small.model_bytes);
    CHECK_EQ_INT(threads.threads, 64);
    /* fashion-mnist: 70k images of 784 bytes are held in memory */
    CHECK(small.data_bytes > 70000 * 785);
    /* the review's case: WRN-28-10 at batch 1024 on CIFAR needs well over 16 GiB */
    s = (brn_job_spec){0};
    brn_spec_defaults(&s);
    snprintf(s.dataset, sizeof s.dataset, "cifar10");
    s.depth = 28, s.width = 10, s.batch_size = 1024, s.threads = 2;
    CHECK_EQ_INT(brn_job_estimate(&s, &big, err, sizeof err), 0);
    CHECK(big.total_bytes > ((size_t)16 << 30));
    snprintf(s.dataset, sizeof s.dataset, "nope");
    CHECK(brn_job_estimate(&s, &big, err, sizeof err) != 0);
    CHECK_STR_CONTAINS(err, "dataset");
}

/* On a GPU: no per-thread scratch, bf16 halves the activations, both splits are resident
 * as uint8 (cut to the subsets), without the CPU's epoch order. */
static void test_gpu_estimate(void)
{
    char err[256];
    brn_job_spec s;
    brn_spec_defaults(&s);
    snprintf(s.dataset, sizeof s.dataset, "cifar10");
    s.depth = 28, s.width = 10, s.batch_size = 128;
    brn_job_memory cpu, fp32, bf16;
    snprintf(s.device, sizeof s.device, "cpu");
    CHECK_EQ_INT(brn_job_estimate(&s, &cpu, err, sizeof err), 0);
    snprintf(s.device, sizeof s.device, "cuda:0");
    CHECK_EQ_INT(brn_job_estimate(&s, &fp32, err, sizeof err), 0);
    s.precision = BRN_PRECISION_BF16;
    CHECK_EQ_INT(brn_job_estimate(&s, &bf16, err, sizeof err), 0);
    CHECK_EQ_INT(fp32.threads, 0);
    CHECK(fp32.data_bytes < cpu.data_bytes);
    const size_t cifar_bytes = (size_t)(50000 + 10000) * (3 * 32 * 32 + 1);
    CHECK(fp32.data_bytes >= cifar_bytes && fp32.data_bytes < cifar_bytes + ((size_t)1 << 20));
    CHECK(fp32.total_bytes >= fp32.model_bytes + cifar_bytes);
    brn_job_memory cut;
    s.train_subset = 5000, s.test_subset = 1000;
    CHECK_EQ_INT(brn_job_estimate(&s, &cut, err, sizeof err), 0);
    CHECK(cut.data_bytes >= (size_t)6000 * 3073 && cut.data_bytes < (size_t)6000 * 3073 + ((size_t)1 << 20));
    CHECK(bf16.model_bytes < fp32.model_bytes);
    /* WRN-28-10 at batch 128: GiBs of activations, well above the workspace bound */
    CHECK(fp32.model_bytes > ((size_t)2 << 30));
    fprintf(stderr, "  WRN-28-10 b128 cifar10: cpu %.2f GiB, gpu fp32 %.2f GiB, gpu bf16 %.2f GiB\n",
            cpu.total_bytes / 1073741824.0, fp32.total_bytes / 1073741824.0, bf16.total_bytes / 1073741824.0);
}

int main(void)
{
    TEST(test_model_estimate_matches_allocation);
    TEST(test_job_estimate_scales);
    TEST(test_gpu_estimate);
    return CHECK_DONE();
}
