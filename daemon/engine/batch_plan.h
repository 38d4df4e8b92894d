/* A training or evaluation batch in two parts: its plan and its materialization.
 *
 * The plan says, per example of the batch, which example of the dataset it is and how it
 * is augmented (crop offset, flip): every random draw, made by the batcher (batcher.c).
 * Materializing a plan gathers the example's uint8 pixels, shifts them by (dy, dx) inside
 * a zero border of BRN_CROP_PAD pixels, mirrors them when flip is set (before the shift),
 * scales to [0,1] and normalizes per channel. The CPU does it here, into [C][N][H][W]
 * floats (brn_batch_materialize); a GPU backend does it in a kernel from the same plan and
 * the table brn_batch_lut makes, so that both see the same numbers bit for bit. A backend
 * builds batches from a plan in its own memory (backend.h: dataset_upload, batch_build),
 * so that a recorded step gathers its batch too. */
#ifndef BRN_BATCH_PLAN_H
#define BRN_BATCH_PLAN_H

#include <stddef.h>
#include <stdint.h>

#define BRN_CROP_PAD 4       /* random crops shift by up to this many pixels */
#define BRN_MAX_CHANNELS 4   /* input channels a batch source may have */
#define BRN_LUT_LEVELS 256   /* uint8 pixel values */

/* One example of a batch (8 bytes, the same on the host and on a GPU). */
typedef struct brn_batch_entry {
    int32_t index;       /* the example in the dataset, in [0, n) */
    int8_t dy, dx;       /* crop offset, each in [-BRN_CROP_PAD, BRN_CROP_PAD] */
    uint8_t flip;        /* 1: mirrored left-right */
    uint8_t reserved;    /* 0 */
} brn_batch_entry;

/* A dataset as batches see it: its images and labels (host memory) and the input
 * normalization (the training set's per-channel mean and std on the [0,1] scale). */
typedef struct brn_batch_source {
    const uint8_t *images;   /* [n][c][h][w] */
    const uint8_t *labels;   /* [n] */
    long n;
    int c, h, w;
    float mean[BRN_MAX_CHANNELS], std[BRN_MAX_CHANNELS];
} brn_batch_source;

/* 0, or BRN_EINVAL naming the first entry out of range (index, offsets, flip). */
int brn_batch_plan_check(const brn_batch_source *src, const brn_batch_entry *plan, int n, char *err, size_t errlen);

/* x[C][n][H][W] and labels[n] (labels may be NULL) of the plan's n entries. */
void brn_batch_materialize(const brn_batch_source *src, const brn_batch_entry *plan, int n, float *x, int *labels);

/* lut[c * BRN_LUT_LEVELS + v]: the value brn_batch_materialize writes for pixel value v of
 * channel c (v = 0 also for the zero border), for c < src->c. */
void brn_batch_lut(const brn_batch_source *src, float *lut);

#endif
