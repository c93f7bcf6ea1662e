#include "gemm.h"

#include <blis.h>
#include <stdio.h>
#include <stdlib.h>

void gemm_init(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    /* The model's products are small (50 to 100 rows a rank). BLIS's Zen 3 kernel set has a
     * "sup" path that multiplies small matrices without packing them; its Skylake-X set always
     * packs, and where BLIS 0.9 does not know the CPU model it falls back to slow generic
     * kernels (seen on a Zen 4 machine: about a third of the speed). Measured on a Zen 4 core
     * (tests/perf/sgemm_bench 50 100): one step's products for 50 rows take 164-192 us with the
     * Zen 3 kernels, 190-200 with Haswell's and 260-360 with Skylake-X's. The Zen 3 kernels need
     * AVX2 and FMA only, so every CPU that has them gets those; a BLIS_ARCH_TYPE the user set
     * wins. */
    if (getenv("BLIS_ARCH_TYPE") == NULL && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        char id[16];
        snprintf(id, sizeof id, "%d", (int)BLIS_ARCH_ZEN3);
        setenv("BLIS_ARCH_TYPE", id, 0);
    }
#endif
    bli_thread_set_num_threads(1);
}

const char *gemm_kernels(void) { return bli_arch_string(bli_arch_query_id()); }

void gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
          const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m == 0 || n == 0)
        return;
    /* A row-major matrix with row stride ld is BLIS's (rs = ld, cs = 1); a transpose is the
     * same memory with the strides swapped, which BLIS takes through trans_t. */
    bli_sgemm(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
              trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, m, n, k, &alpha, (float *)a, lda, 1,
              (float *)b, ldb, 1, &beta, c, ldc, 1);
}

void gemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                float av = trans_a ? a[(long)p * lda + i] : a[(long)i * lda + p];
                float bv = trans_b ? b[(long)j * ldb + p] : b[(long)p * ldb + j];
                s += (double)av * bv;
            }
            float *cv = &c[(long)i * ldc + j];
            *cv = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *cv));
        }
}
