/* The CUDA execution-model emulation (cuda/emu/) that runs our kernels in these tests:
 * barriers, warp shuffles, shared memory and launch geometry behave as on a GPU, and what
 * would be undefined there (divergent barriers, missing shuffle lanes, bad launch shapes)
 * is reported as a launch error. Kernels: tests/unit/emu_selftest.cu. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

int emu_selftest_reduce(float *out, const float *in, int n);
int emu_selftest_divergent(int *out);
int emu_selftest_shuffle(int *out);
int emu_selftest_shuffle_missing(int *out);
int emu_selftest_geometry(int *out, int *bad, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                          unsigned bz);
int emu_selftest_dynamic_smem(float *out, int threads);
int emu_selftest_missing_barrier(float *out, int threads);
int emu_selftest_bad_block(float *out);
int emu_selftest_bf16(uint16_t *out, const float *in, int n);
const char *emu_selftest_last_error(void);

#define ERR_INVALID_CONFIGURATION 9
#define ERR_LAUNCH_FAILURE 719

static void test_reduce(void)
{
    enum { N = 1000 };
    float in[N], out = 0;
    double want = 0;
    for (int i = 0; i < N; i++) want += in[i] = (float)((i % 7) - 2.5);
    for (int rep = 0; rep < 3; rep++) {   /* stacks and shared memory are reused between launches */
        CHECK_EQ_INT(emu_selftest_reduce(&out, in, N), 0);
        CHECK_CLOSE(out, want, 1e-3, 0);
    }
}

static void test_divergent_barrier_is_an_error(void)
{
    int out[128] = {0};
    CHECK_EQ_INT(emu_selftest_divergent(out), ERR_LAUNCH_FAILURE);
    CHECK_STR_CONTAINS(emu_selftest_last_error(), "divergent __syncthreads()");
    CHECK_STR_CONTAINS(emu_selftest_last_error(), "thread (5,0,0) exited");
    CHECK_STR_CONTAINS(emu_selftest_last_error(), "divergent_kernel");
    /* the emulation recovers: the next launch works */
    float in[4] = {1, 2, 3, 4}, s = 0;
    CHECK_EQ_INT(emu_selftest_reduce(&s, in, 4), 0);
    CHECK_CLOSE(s, 10, 0, 0);
}

static void test_shuffles(void)
{
    int out[4 * 64];
    CHECK_EQ_INT(emu_selftest_shuffle(out), 0);
    int bad = 0;
    for (int t = 0; t < 64; t++) {
        const int lane = t % 32, warp0 = t - lane, v = 100 + t;
        const int seg16 = lane & ~15, seg8 = lane & ~7;
        const int want_xor = 100 + warp0 + (lane ^ 1);
        const int want_down = lane + 3 < seg16 + 16 ? v + 3 : v;
        const int want_up = lane >= 2 ? v - 2 : v;
        const int want_idx = 100 + warp0 + seg8 + 7;
        bad += out[4 * t] != want_xor || out[4 * t + 1] != want_down || out[4 * t + 2] != want_up ||
               out[4 * t + 3] != want_idx;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_shuffle_with_a_missing_lane_is_an_error(void)
{
    int out[32] = {0};
    CHECK_EQ_INT(emu_selftest_shuffle_missing(out), ERR_LAUNCH_FAILURE);
    CHECK_STR_CONTAINS(emu_selftest_last_error(), "lane 3 exited");
}

static void test_geometry(void)
{
    const unsigned g[3] = {3, 2, 2}, b[3] = {5, 3, 2};
    const int total = 3 * 2 * 2 * 5 * 3 * 2;
    int *out = calloc(total, sizeof(int)), bad = 0;
    CHECK_EQ_INT(emu_selftest_geometry(out, &bad, g[0], g[1], g[2], b[0], b[1], b[2]), 0);
    int once = 0;
    for (int i = 0; i < total; i++) once += out[i] == 1;
    CHECK_EQ_INT(once, total);   /* every (block, thread) ran exactly once */
    CHECK_EQ_INT(bad, 0);
    free(out);
}

static void test_dynamic_shared_memory(void)
{
    enum { T = 96 };
    float out[T + 1];
    CHECK_EQ_INT(emu_selftest_dynamic_smem(out, T), 0);
    CHECK(isnan(out[0]));   /* never written: the poison shows */
    int bad = 0;
    for (int t = 0; t < T; t++) bad += out[1 + t] != 2.0f * ((t + 1) % T);
    CHECK_EQ_INT(bad, 0);
}

/* Not a guarantee (the emulation cannot see races), but the alternating order makes this
 * missing barrier visible as stale values. */
static void test_missing_barrier_shows(void)
{
    enum { T = 64 };
    float out[T];
    CHECK_EQ_INT(emu_selftest_missing_barrier(out, T), 0);
    int stale = 0;
    for (int t = 0; t < T; t++) stale += out[t] != 2.0f * ((t + 1) % T);
    fprintf(stderr, "  missing barrier: %d of %d reads stale\n", stale, T);
    CHECK(stale > 0);
}

static void test_bad_launch_configuration(void)
{
    float out[1];
    CHECK_EQ_INT(emu_selftest_bad_block(out), ERR_INVALID_CONFIGURATION);
    CHECK_STR_CONTAINS(emu_selftest_last_error(), "invalid launch configuration");
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void test_bf16_rounding(void)
{
    /* ties go to even, both ways; halfway-plus rounds up; overflow to inf; NaN stays NaN */
    const float in[] = {1.0f, 1.00390625f, 1.01171875f, 1.0039064f, -1.00390625f, 3.4028235e38f, 1e-40f,
                        -0.0f, INFINITY, NAN};
    const uint16_t want[] = {0x3f80, 0x3f80, 0x3f82, 0x3f81, 0xbf80, 0x7f80, (uint16_t)(f2u(1e-40f) >> 16), 0x8000,
                             0x7f80, 0x7fff};
    enum { N = sizeof in / sizeof in[0] };
    uint16_t out[N];
    CHECK_EQ_INT(emu_selftest_bf16(out, in, N), 0);
    for (int i = 0; i < N; i++) CHECK_EQ_INT(out[i], want[i]);
}

int main(void)
{
    TEST(test_reduce);
    TEST(test_divergent_barrier_is_an_error);
    TEST(test_shuffles);
    TEST(test_shuffle_with_a_missing_lane_is_an_error);
    TEST(test_geometry);
    TEST(test_dynamic_shared_memory);
    TEST(test_missing_barrier_shows);
    TEST(test_bad_launch_configuration);
    TEST(test_bf16_rounding);
    return CHECK_DONE();
}
