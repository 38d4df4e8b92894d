/* Which device may run which job: the placement rule of scheduler.h as a table. */
#include <string.h>

#include "check.h"
#include "scheduler/sched_internal.h"

static const brn_device_info CPU = {.id = "cpu", .kind = "cpu"};
static const brn_device_info GPU0 = {.id = "cuda:0", .kind = "cuda"};
static const brn_device_info GPU1 = {.id = "cuda:1", .kind = "cuda"};

static int fits(const brn_device_info *d, const char *device, brn_precision p, int has_gpu)
{
    brn_job_spec s;
    brn_spec_defaults(&s);
    snprintf(s.device, sizeof s.device, "%s", device);
    s.precision = p;
    return sched_device_fits(d, &s, has_gpu);
}

static void test_placement_rule(void)
{
    /* cpu: only the CPU, and only fp32 */
    CHECK(fits(&CPU, "cpu", BRN_PRECISION_FP32, 1));
    CHECK(!fits(&GPU0, "cpu", BRN_PRECISION_FP32, 1));
    CHECK(!fits(&CPU, "cpu", BRN_PRECISION_BF16, 1));
    /* cuda: any GPU; cuda:N: that one */
    CHECK(fits(&GPU0, "cuda", BRN_PRECISION_BF16, 1) && fits(&GPU1, "cuda", BRN_PRECISION_FP32, 1));
    CHECK(!fits(&CPU, "cuda", BRN_PRECISION_FP32, 1));
    CHECK(fits(&GPU1, "cuda:1", BRN_PRECISION_TF32, 1) && !fits(&GPU0, "cuda:1", BRN_PRECISION_TF32, 1));
    CHECK(!fits(&CPU, "cuda:0", BRN_PRECISION_FP32, 0));
    /* auto: the GPUs when the server has any (never the CPU then), else the CPU in fp32 */
    CHECK(fits(&GPU0, "auto", BRN_PRECISION_FP32, 1) && !fits(&CPU, "auto", BRN_PRECISION_FP32, 1));
    CHECK(fits(&CPU, "auto", BRN_PRECISION_FP32, 0));
    CHECK(!fits(&CPU, "auto", BRN_PRECISION_BF16, 0));
}

int main(void)
{
    TEST(test_placement_rule);
    return CHECK_DONE();
}
