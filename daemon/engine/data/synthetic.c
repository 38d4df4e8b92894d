/* The built-in "synthetic" dataset: 10 classes of 3x16x16 images, 4096 train / 1024 test.
 *
 * Class k is a sinusoidal grating: orientation (k mod 5) * 36 degrees, period 8 pixels for
 * k < 5 and 4 pixels for k >= 5, warm colours for k < 5 and cool ones for k >= 5. Each
 * image draws its own phase, contrast, background, colour tint, period jitter and
 * per-pixel noise, so no single pixel (and neither colour nor orientation alone) tells
 * the class, while a small convolutional net learns it in a few epochs.
 *
 * Everything is integer arithmetic with a fixed seed: the bytes are identical on every
 * machine, compiler and optimisation level (floating point with FMA contraction or a
 * different libm could flip a rounding). Labels cycle 0..9 in file order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "errors.h"

#define SYN_CLASSES BRN_SYNTHETIC_CLASSES
#define SYN_C BRN_SYNTHETIC_C
#define SYN_SIDE BRN_SYNTHETIC_SIDE
#define SYN_TRAIN BRN_SYNTHETIC_TRAIN
#define SYN_TEST BRN_SYNTHETIC_TEST
#define SYN_SEED 0x5EED0B12C0FFEEULL   /* fixed: independent of any job's seed */

/* Phase is measured in 1/1024 of a turn. Direction per orientation, scaled so the phase
 * advances 128 units per pixel along the grating's normal (period 8 pixels). */
static const int DIR[5][2] = {{128, 0}, {104, 75}, {40, 122}, {-40, 122}, {-104, 75}};
/* Channel gains in 1/256: warm (red-orange) and cool (blue-cyan) palettes. */
static const int PALETTE[2][3] = {{256, 150, 40}, {40, 150, 256}};

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform integer in [lo, hi]; the modulo bias is irrelevant here. */
static int uniform(uint64_t *s, int lo, int hi)
{
    return lo + (int)(splitmix64(s) % (uint64_t)(hi - lo + 1));
}

/* sin of phase p (1024 per turn), scaled by 4096, by Bhaskara's rational approximation
 * (error below 0.2%): exact integers, no libm. */
static int isin(int p)
{
    p &= 1023;
    int sign = p >= 512 ? -1 : 1;
    long q = p & 511, t = q * (512 - q);
    return sign * (int)(4 * t * 4096 / (327680 - t));
}

static int clamp255(int v)
{
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

static void synth_image(uint8_t *img, int k, uint64_t seed)
{
    uint64_t s = seed;
    int orient = k % 5, fine = k / 5;
    int jitter = uniform(&s, 14, 18);                /* period +-12% in 1/16 steps */
    int ax = DIR[orient][0] * (1 + fine) * jitter / 16;
    int ay = DIR[orient][1] * (1 + fine) * jitter / 16;
    int phase = uniform(&s, 0, 1023);
    int contrast = uniform(&s, 20, 60);
    int background = uniform(&s, 100, 156);
    int gain[SYN_C], base[SYN_C];
    for (int c = 0; c < SYN_C; c++) {
        gain[c] = PALETTE[fine][c] * uniform(&s, 80, 120) / 100;
        base[c] = background + uniform(&s, -12, 12);
    }
    int wave[SYN_SIDE * SYN_SIDE];   /* the grating, shared by the three channels */
    for (int y = 0; y < SYN_SIDE; y++)
        for (int x = 0; x < SYN_SIDE; x++)
            wave[y * SYN_SIDE + x] = isin(phase + ax * (x - SYN_SIDE / 2) + ay * (y - SYN_SIDE / 2));
    for (int c = 0; c < SYN_C; c++) {
        long scale = (long)contrast * gain[c];
        for (int i = 0; i < SYN_SIDE * SYN_SIDE; i++) {
            /* Sum of three uniforms in [0,48] from one draw, centred: roughly Gaussian, sigma ~24. */
            uint64_t r = splitmix64(&s);
            int noise = (int)(((r & 0xFF) * 49 >> 8) + ((r >> 8 & 0xFF) * 49 >> 8) +
                              ((r >> 16 & 0xFF) * 49 >> 8)) - 72;
            int v = base[c] + (int)(scale * wave[i] / (256L * 4096)) + noise;
            img[c * SYN_SIDE * SYN_SIDE + i] = (uint8_t)clamp255(v);
        }
    }
}

static int synth_split(brn_dataset *d, long n, uint64_t split, char *err, size_t errlen)
{
    const size_t per = (size_t)SYN_C * SYN_SIDE * SYN_SIDE;
    memset(d, 0, sizeof *d);
    d->images = malloc((size_t)n * per);
    d->labels = malloc((size_t)n);
    if (!d->images || !d->labels) {
        brn_dataset_free(d);
        if (err && errlen) snprintf(err, errlen, "synthetic dataset: out of memory for %ld images", n);
        return BRN_ENOMEM;
    }
    d->n = n;
    d->c = SYN_C;
    d->h = d->w = SYN_SIDE;
    d->classes = SYN_CLASSES;
    for (long i = 0; i < n; i++) {
        int k = (int)(i % SYN_CLASSES);
        /* Each image has its own stream, so image i does not depend on how many come before. */
        uint64_t s = SYN_SEED ^ (split << 40) ^ (uint64_t)i;
        uint64_t seed = splitmix64(&s);
        d->labels[i] = (uint8_t)k;
        synth_image(d->images + i * per, k, seed);
    }
    return 0;
}

int brn_dataset_load_synthetic(brn_dataset *train, brn_dataset *test, char *err, size_t errlen)
{
    memset(test, 0, sizeof *test);
    int rc = synth_split(train, SYN_TRAIN, 1, err, errlen);
    if (!rc) rc = synth_split(test, SYN_TEST, 2, err, errlen);
    if (rc) brn_dataset_free(train);
    return rc;
}
