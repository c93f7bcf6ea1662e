#include "rng.h"

/* The SplitMix64 finaliser: a bijection on 64 bits with full avalanche. Chaining it over the
 * three key words gives a hash of the key that serves as the random value. */
static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t rng_u64(uint64_t seed, uint64_t stream, uint64_t index)
{
    return mix(mix(mix(seed) ^ stream) ^ index);
}

float rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    return (float)(rng_u64(seed, stream, index) >> 40) * 0x1.0p-24f;
}

uint64_t rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_u64(seed, stream, index) * n) >> 64);
}
