#include "cpu.h"

#include <stdlib.h>
#include <string.h>

/* -1 until first asked */
static int avx2_ok = -1, fma_ok = -1;

static int generic_only(void)
{
    const char *v = getenv("MPITRAIN_GENERIC");
    return v != NULL && strcmp(v, "1") == 0;
}

int cpu_avx2(void)
{
    if (avx2_ok < 0) {
#if defined(__x86_64__) && defined(__GNUC__)
        avx2_ok = !generic_only() && __builtin_cpu_supports("avx2");
#else
        avx2_ok = 0;
#endif
    }
    return avx2_ok;
}

int cpu_fma(void)
{
    if (fma_ok < 0) {
#if defined(__x86_64__) && defined(__GNUC__)
        fma_ok = !generic_only() && __builtin_cpu_supports("fma");
#else
        fma_ok = 0;
#endif
    }
    return fma_ok;
}
