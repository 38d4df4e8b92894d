/* The layout-boundary kernels (cuda/kernels/layout.cu) under the host emulation: CNHW <->
 * NHWC, OIHW <-> OHWI and fp32 <-> bf16 move values without changing them (bf16: rounded
 * to nearest even), for shapes that cross the 32x32 tiles and vector widths. */
#include "kernel_check.h"

static const kc_tol EXACT = {0, 0};

static void check_act_roundtrip(brn_act_shape s, brn_act_type at)
{
    const size_t n = kc_count(s);
    double *x = kc_randn(n, 0.5, 2);
    float *src = kc_floats(x, n);
    kc_round_to(x, n, at);   /* what the activation type holds */
    void *d = kc_alloc(n * (at == BRN_AT_BF16 ? 2 : 4));
    CHECK_EQ_INT(BRN_K(cnhw_to_nhwc)(NULL, d, at, src, s), 0);
    double *got = kc_from_nhwc(d, s, at);
    char name[96];
    snprintf(name, sizeof name, "cnhw_to_nhwc %s c%d n%d %dx%d", at ? "bf16" : "f32", s.c, s.n, s.h, s.w);
    KC_CHECK(name, got, x, n, EXACT, kc_describe_act, &s);
    float *back = kc_alloc(sizeof(float) * n);
    CHECK_EQ_INT(BRN_K(nhwc_to_cnhw)(NULL, back, d, at, s), 0);
    double *bd = kc_doubles(back, n);
    snprintf(name, sizeof name, "nhwc_to_cnhw %s c%d n%d %dx%d", at ? "bf16" : "f32", s.c, s.n, s.h, s.w);
    KC_CHECK(name, bd, x, n, EXACT, kc_describe_act, &s);
    free(x), free(src), free(d), free(got), free(back), free(bd);
}

static void test_activation_layouts(void)
{
    const brn_act_shape shapes[] = {{.c = 7, .n = 3, .h = 5, .w = 4}, {.c = 40, .n = 2, .h = 9, .w = 7},
                                    {.c = 64, .n = 2, .h = 4, .w = 4}, {.c = 1, .n = 1, .h = 1, .w = 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_act_roundtrip(shapes[i], BRN_AT_F32);
        check_act_roundtrip(shapes[i], BRN_AT_BF16);
    }
}

static void check_weights(int o, int i, int k)
{
    const size_t n = (size_t)o * i * k * k;
    double *w = kc_randn(n, 0, 1);
    float *src = kc_floats(w, n), *ohwi = kc_alloc(sizeof(float) * n), *back = kc_alloc(sizeof(float) * n);
    CHECK_EQ_INT(BRN_K(oihw_to_ohwi)(NULL, ohwi, src, o, i, k, k), 0);
    int bad = 0;
    for (int a = 0; a < o; a++)
        for (int b = 0; b < i; b++)
            for (int y = 0; y < k; y++)
                for (int x = 0; x < k; x++)
                    bad += ohwi[(((size_t)a * k + y) * k + x) * i + b] != src[(((size_t)a * i + b) * k + y) * k + x];
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(BRN_K(ohwi_to_oihw)(NULL, back, ohwi, o, i, k, k), 0);
    CHECK(memcmp(back, src, sizeof(float) * n) == 0);
    fprintf(stderr, "  weights %dx%dx%dx%d: %d misplaced\n", o, i, k, k, bad);
    free(w), free(src), free(ohwi), free(back);
}

static void test_weight_layouts(void)
{
    check_weights(5, 7, 3);
    check_weights(40, 33, 3);
    check_weights(6, 35, 1);
}

/* fp32 -> bf16 on aligned (vector) and odd (scalar) spans; ties included */
static void check_f32_to_bf16(size_t n, size_t offset)
{
    float *src = kc_alloc(sizeof(float) * (n + offset));
    uint16_t *dst = kc_alloc(2 * (n + offset));
    for (size_t i = 0; i < n + offset; i++) {
        float v = (float)(3 * kc_normal());
        if (i % 5 == 0) {   /* exactly halfway between two bf16 values */
            uint32_t u;
            memcpy(&u, &v, 4);
            u = (u & 0xffff0000u) | 0x8000u;
            memcpy(&v, &u, 4);
        }
        src[i] = v;
    }
    CHECK_EQ_INT(BRN_K(f32_to_bf16)(NULL, dst + offset, src + offset, n), 0);
    size_t bad = 0, first = n;
    for (size_t i = 0; i < n; i++)
        if (dst[offset + i] != kc_bf16(src[offset + i])) bad++, first = first < n ? first : i;
    fprintf(stderr, "  f32_to_bf16 n=%zu offset %zu: %zu differ from round-to-nearest-even\n", n, offset, bad);
    CHECK_EQ_INT(bad, 0);
    /* dst += src (bf16) */
    float *acc = kc_alloc(sizeof(float) * (n + offset)), *want = malloc(sizeof(float) * (n + offset));
    for (size_t i = 0; i < n + offset; i++) want[i] = acc[i] = (float)kc_normal();
    for (size_t i = 0; i < n; i++) want[offset + i] += kc_bf16_to_f(dst[offset + i]);
    CHECK_EQ_INT(BRN_K(add_bf16_to_f32)(NULL, acc + offset, dst + offset, n), 0);
    CHECK(memcmp(acc, want, sizeof(float) * (n + offset)) == 0);
    free(src), free(dst), free(acc), free(want);
}

static void test_bf16_conversions(void)
{
    check_f32_to_bf16(1024, 0);
    check_f32_to_bf16(1023, 1);
    check_f32_to_bf16(7, 0);
}

int main(void)
{
    kc_seed();
    TEST(test_activation_layouts);
    TEST(test_weight_layouts);
    TEST(test_bf16_conversions);
    return CHECK_DONE();
}
