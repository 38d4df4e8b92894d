#include "batch_plan.h"

#include <stdio.h>

#include "errors.h"

int brn_batch_plan_check(const brn_batch_source *src, const brn_batch_entry *plan, int n, char *err, size_t errlen)
{
    for (int j = 0; j < n; j++) {
        const brn_batch_entry *e = &plan[j];
        if (e->index < 0 || e->index >= src->n)
            return brn_errorf(err, errlen, BRN_EINVAL, "batch plan: entry %d names example %ld of %ld", j,
                              (long)e->index, src->n);
        if (e->dy < -BRN_CROP_PAD || e->dy > BRN_CROP_PAD || e->dx < -BRN_CROP_PAD || e->dx > BRN_CROP_PAD)
            return brn_errorf(err, errlen, BRN_EINVAL, "batch plan: entry %d shifts by (%d, %d), at most %d", j, e->dy,
                              e->dx, BRN_CROP_PAD);
        if (e->flip > 1)
            return brn_errorf(err, errlen, BRN_EINVAL, "batch plan: entry %d has flip %d (0 or 1)", j, e->flip);
    }
    return 0;
}

/* The per-channel affine map from a raw pixel value to the network's input. */
static float scale_of(const brn_batch_source *src, int c) { return 1.0f / (255.0f * src->std[c]); }
static float shift_of(const brn_batch_source *src, int c) { return -src->mean[c] / src->std[c]; }

/* Write example `idx` into slot j of the [C][N][H][W] batch x, shifted by (dy, dx) inside
 * a zero border and optionally mirrored. Border pixels are raw 0. */
static void put_example(const brn_batch_source *src, long idx, int j, int n, float *x, int dy, int dx, int flip)
{
    const int H = src->h, W = src->w;
    const size_t hw = (size_t)H * W;
    for (int c = 0; c < src->c; c++) {
        const uint8_t *img = src->images + ((size_t)idx * src->c + c) * hw;
        float *dst = x + ((size_t)c * n + j) * hw;
        const float scale = scale_of(src, c), shift = shift_of(src, c);
        for (int h = 0; h < H; h++) {
            int sh = h + dy;
            for (int w = 0; w < W; w++) {
                int sw = (flip ? W - 1 - w : w) + dx;
                float raw = (sh >= 0 && sh < H && sw >= 0 && sw < W) ? img[(size_t)sh * W + sw] : 0.0f;
                dst[(size_t)h * W + w] = raw * scale + shift;
            }
        }
    }
}

void brn_batch_materialize(const brn_batch_source *src, const brn_batch_entry *plan, int n, float *x, int *labels)
{
    for (int j = 0; j < n; j++) {
        const brn_batch_entry *e = &plan[j];
        put_example(src, e->index, j, n, x, e->dy, e->dx, e->flip);
        if (labels) labels[j] = src->labels[e->index];
    }
}

void brn_batch_lut(const brn_batch_source *src, float *lut)
{
    for (int c = 0; c < src->c; c++) {
        const float scale = scale_of(src, c), shift = shift_of(src, c);
        for (int v = 0; v < BRN_LUT_LEVELS; v++) {
            float raw = (float)v;
            lut[c * BRN_LUT_LEVELS + v] = raw * scale + shift;
        }
    }
}
