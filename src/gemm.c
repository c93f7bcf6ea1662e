#include "gemm.h"

#include <blis.h>
#include <stdio.h>
#include <stdlib.h>

void gemm_init(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    /* The model's products are small (50 to 100 rows a rank). BLIS's Haswell configuration has
     * its "sup" path, which multiplies small matrices without packing them; its Skylake-X
     * configuration always packs, and on CPUs it does not know (AMD Zen 4) BLIS 0.9 falls back to
     * its slow generic kernels. On a Zen 4 core, one step's products for 50 rows take about
     * 180 us with the Haswell kernels, 260-390 us with Skylake-X and over 500 us generic
     * (tests/perf/sgemm_bench 50 100). So any CPU with AVX2 and FMA gets the Haswell kernels;
     * a BLIS_ARCH_TYPE the user set wins. */
    if (getenv("BLIS_ARCH_TYPE") == NULL && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        char id[16];
        snprintf(id, sizeof id, "%d", (int)BLIS_ARCH_HASWELL);
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
