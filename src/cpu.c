#include "cpu.h"

#include <stdlib.h>
#include <string.h>

#if CPU_X86
#define HAS(feature) (__builtin_cpu_supports(feature) != 0)
#else
#define HAS(feature) 0
#endif

/* *known: -1 until first asked, then whether the feature may be used */
static int decide(int *known, int has)
{
    if (*known < 0) {
        const char *v = getenv("MPITRAIN_GENERIC");
        *known = has && !(v != NULL && strcmp(v, "1") == 0);
    }
    return *known;
}

int cpu_avx2(void)
{
    static int known = -1;
    return known >= 0 ? known : decide(&known, HAS("avx2"));
}

int cpu_fma(void)
{
    static int known = -1;
    return known >= 0 ? known : decide(&known, HAS("fma"));
}
