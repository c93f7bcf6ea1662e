/* cpu: which of the x86 vector instructions the hand-vectorized paths (pixel conversion, the
 * sparse product, the SGD step) may use: those the CPU has, or none when the environment sets
 * MPITRAIN_GENERIC=1, so that tests can run the plain C paths too on any machine. It chooses
 * nothing for BLIS (gemm_init does). */
#ifndef MPITRAIN_CPU_H
#define MPITRAIN_CPU_H

/* 1 where the hand-vectorized paths exist at all: x86-64 with GCC's or clang's intrinsics and
 * target attributes. */
#if defined(__x86_64__) && defined(__GNUC__)
#define CPU_X86 1
#else
#define CPU_X86 0
#endif

/* 1 when AVX2 (FMA) may be used; 0 elsewhere, on other architectures, and under
 * MPITRAIN_GENERIC=1. Read once, then cached. */
int cpu_avx2(void);
int cpu_fma(void);

#endif
