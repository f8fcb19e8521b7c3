/* dagnet/rng.h: counter-based random numbers (Philox4x32-10).
 *
 * Every draw is a pure function of (seed, stream, position): no state is
 * carried between calls, so results do not depend on the number of threads
 * or on scheduling. Streams separate the users of randomness (a parameter's
 * initialisation, a dropout node, the epoch shuffle).
 */
#ifndef DAGNET_RNG_H
#define DAGNET_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Philox4x32 with 10 rounds: four 32-bit words from a 128-bit counter
 * (ctr[0..3]) and a 64-bit key. */
void dn_philox4x32(const uint32_t ctr[4], uint64_t key, uint32_t out[4]);

/* The 32-bit word at `position` of the stream (seed, stream): word
 * position % 4 of the block with counter (position / 4, stream). */
uint32_t dn_rng_u32(uint64_t seed, uint64_t stream, uint64_t position);

/* Fill out[0..n) with the words at positions offset .. offset+n-1. */
void dn_rng_fill_u32(uint64_t seed, uint64_t stream, uint64_t offset,
                     uint32_t *out, int64_t n);

/* Uniform floats in [0, 1) (24 random bits each), from the same words. */
void dn_rng_uniform(uint64_t seed, uint64_t stream, uint64_t offset,
                    float *out, int64_t n);

/* Standard normal floats (Box-Muller on pairs of words); element i uses
 * words at positions offset + 2 * (i / 2) and +1. */
void dn_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset,
                   float *out, int64_t n);

/* A uniformly random permutation of 0..n-1 (Fisher-Yates, unbiased). */
void dn_rng_permutation(uint64_t seed, uint64_t stream, int64_t *perm,
                        int64_t n);

/* Map a 32-bit word to a float in [0, 1). */
static inline float dn_u32_to_unit(uint32_t x)
{
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

#ifdef __cplusplus
}
#endif
#endif
