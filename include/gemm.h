/* gemm: row-major single-precision matrix products, C = alpha * op(A) * op(B) + beta * C, where
 * op(X) is X or its transpose. The fast path goes through BLIS; gemm_ref is a plain triple loop
 * that tests compare against. No other file includes blis.h. */
#ifndef MPITRAIN_GEMM_H
#define MPITRAIN_GEMM_H

/* Call once per process before the first product: pins BLIS to one thread (one rank per core)
 * and picks its kernels where BLIS's own CPU detection would fall back to generic ones. */
void gemm_init(void);

/* The name of the kernel set BLIS runs ("skx", "haswell", "zen3", "generic", ...). */
const char *gemm_kernels(void);

/* op(A) is m x k, op(B) is k x n, C is m x n; lda, ldb, ldc are row strides (elements). */
void gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
          const float *b, int ldb, float beta, float *c, int ldc);

/* The same product by definition, accumulated in double. For tests. */
void gemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

#endif
