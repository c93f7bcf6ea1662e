/* gemm: row-major single-precision matrix products, C = alpha * op(A) * op(B) + beta * C, where
 * op(X) is X or its transpose. The fast path goes through BLIS; gemm_ref is a plain triple loop
 * that tests compare against. For a left factor that is mostly zeros (MNIST's images: 81% of the
 * pixels are 0) there is a sparse path: gemm_sparse_pack keeps the nonzeros of A by rows,
 * gemm_sparse_transpose those of its transpose, gemm_sparse multiplies either with a dense B.
 * No other file includes blis.h. */
#ifndef MPITRAIN_GEMM_H
#define MPITRAIN_GEMM_H

#include "err.h"

/* Call once per process before the first product: pins BLIS to one thread (one rank per core)
 * and picks its kernels where BLIS's own CPU detection would fall back to generic ones. */
void gemm_init(void);

/* BLIS 0.9's small-matrix kernels read (never write) one float past the end of a row-major C
 * for some narrow products (seen with valgrind for n = 2, 3, 10 and 11, the output layer's 10
 * among them, with beta 0 and 1). A buffer that may end a C gets this many floats after it. */
#define GEMM_C_SLACK 16

/* The name of the kernel set BLIS runs ("skx", "haswell", "zen3", "generic", ...). */
const char *gemm_kernels(void);

/* op(A) is m x k, op(B) is k x n, C is m x n; lda, ldb, ldc are row strides (elements). */
void gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
          const float *b, int ldb, float beta, float *c, int ldc);

/* The same product by definition, accumulated in double. For tests. */
void gemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

/* A rows x cols matrix by its nonzeros, row after row, columns ascending (compressed sparse rows):
 * row r holds col[start[r] .. start[r+1]-1] and val[the same]. */
typedef struct GemmSparseRows {
    int rows, cols;
    int *start; /* [rows + 1] */
    int *col;   /* [capacity] */
    float *val; /* [capacity] */
} GemmSparseRows;

/* A dense matrix packed both ways, in buffers allocated once for max_rows x max_cols and at most
 * `limit` nonzeros: half of max_rows x max_cols (a denser matrix is faster dense), and never
 * more than GEMM_SPARSE_MAX_NONZEROS. */
typedef struct GemmSparse {
    GemmSparseRows a;  /* A: rows x cols */
    GemmSparseRows at; /* A transposed: cols x rows */
    int max_rows, max_cols;
    long limit;
} GemmSparse;

#define GEMM_SPARSE_MAX_NONZEROS (1L << 26)

int gemm_sparse_init(GemmSparse *s, int max_rows, int max_cols, Err *e);
void gemm_sparse_free(GemmSparse *s);

/* Pack the nonzeros of the row-major rows x cols matrix a (row stride lda; rows <= max_rows,
 * cols <= max_cols) into s->a. Returns how many there are, or -1 when there are more than
 * s->limit (s->a is then unusable: multiply densely). */
long gemm_sparse_pack(GemmSparse *s, const float *a, int rows, int cols, int lda);

/* s->at = the transpose of s->a (after gemm_sparse_pack). */
void gemm_sparse_transpose(GemmSparse *s);

/* C = A * B + beta * C with A sparse (m x k), B dense k x n (row stride ldb), C m x n (row stride
 * ldc), beta 0 or 1. Each element of C is summed in the order of A's columns, starting from
 * beta * C. */
void gemm_sparse(const GemmSparseRows *a, int n, const float *b, int ldb, float beta, float *c,
                 int ldc);

#endif
