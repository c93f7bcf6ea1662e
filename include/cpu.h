/* cpu: which of the x86 vector instructions the hand-vectorized paths (pixel conversion, the
 * sparse product, the SGD step) may use: those the CPU has, or none when the environment sets
 * MPITRAIN_GENERIC=1, so that tests can run the plain C paths too on any machine. It chooses
 * nothing for BLIS (gemm_init does). */
#ifndef MPITRAIN_CPU_H
#define MPITRAIN_CPU_H

/* 1 when AVX2 (FMA) may be used; 0 elsewhere, on other architectures, and under
 * MPITRAIN_GENERIC=1. Read once, then cached. */
int cpu_avx2(void);
int cpu_fma(void);

#endif
