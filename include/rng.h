/* rng: a counter-based random generator. The value at (seed, stream, index) is a pure function of
 * those three numbers: no state to carry, save or split across ranks. It is not cryptographic. */
#ifndef MPITRAIN_RNG_H
#define MPITRAIN_RNG_H

#include <stdint.h>

/* Streams in use; each draws from its own part of the (stream, index) space. */
enum {
    RNG_STREAM_INIT = 1,        /* + layer: weight initialisation */
    RNG_STREAM_SHUFFLE = 1000   /* + epoch: the sample order of that epoch */
};

/* 64 random bits for (seed, stream, index). */
uint64_t rng_u64(uint64_t seed, uint64_t stream, uint64_t index);

/* Uniform float in [0, 1) with 24 random bits. */
float rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);

/* Uniform integer in [0, n), n > 0 (bias below n / 2^64). */
uint64_t rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t n);

#endif
