/* Counter-based randomness: every random draw of a run is a pure function of
 * (seed, purpose, step, index), so a resumed run draws exactly what an uninterrupted one
 * would, whatever the thread count, with no generator state to save. */
#ifndef BRN_RNG_H
#define BRN_RNG_H

#include <math.h>
#include <stdint.h>

/* The counter-based draws are also compiled into CUDA kernels (dropout masks equal to the
 * CPU's): nvcc builds them for host and device. */
#ifdef __CUDACC__
#define BRN_RNG_FN static inline __host__ __device__
#else
#define BRN_RNG_FN static inline
#endif

/* splitmix64's finalizer: a bijective 64-bit mix */
BRN_RNG_FN uint64_t brn_rng_mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A seed for one purpose at one step, from the job seed. */
BRN_RNG_FN uint64_t brn_rng_derive(uint64_t seed, uint64_t purpose, uint64_t step)
{
    return brn_rng_mix(brn_rng_mix(brn_rng_mix(seed) ^ purpose) ^ step);
}

/* Uniform in [0,1) for element i of a stream. */
BRN_RNG_FN double brn_rng_uniform_at(uint64_t seed, uint64_t i)
{
    return (double)(brn_rng_mix(seed ^ brn_rng_mix(i)) >> 11) * 0x1.0p-53;
}

/* A sequential generator for shuffles and initialization. */
typedef struct brn_rng {
    uint64_t state;
} brn_rng;

static inline void brn_rng_init(brn_rng *r, uint64_t seed) { r->state = seed; }

static inline uint64_t brn_rng_next(brn_rng *r)
{
    r->state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = r->state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline double brn_rng_uniform(brn_rng *r) { return (double)(brn_rng_next(r) >> 11) * 0x1.0p-53; }

/* uniform integer in [0, n) without modulo bias worth mentioning for n << 2^64 */
static inline uint64_t brn_rng_below(brn_rng *r, uint64_t n) { return (uint64_t)(brn_rng_uniform(r) * (double)n); }

static inline double brn_rng_normal(brn_rng *r)
{
    double u1 = brn_rng_uniform(r), u2 = brn_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Purposes, so streams never collide. */
enum { BRN_RNG_INIT = 1, BRN_RNG_SHUFFLE = 2, BRN_RNG_AUGMENT = 3, BRN_RNG_DROPOUT = 4, BRN_RNG_SAMPLING = 5 };

#endif
