#include "gemm.h"

#include <blis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#if CPU_X86
#include <immintrin.h>
#endif

void gemm_init(void)
{
#if CPU_X86
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

/* ---------------------------------------------------------------- sparse left factor --- */

static int rows_init(GemmSparseRows *s, int rows, size_t capacity)
{
    s->start = malloc(((size_t)rows + 1) * sizeof *s->start);
    s->col = malloc((capacity ? capacity : 1) * sizeof *s->col);
    s->val = malloc((capacity ? capacity : 1) * sizeof *s->val);
    return s->start != NULL && s->col != NULL && s->val != NULL ? 0 : -1;
}

static void rows_free(GemmSparseRows *s)
{
    free(s->start);
    free(s->col);
    free(s->val);
}

#if CPU_X86
/* For each mask of 8 lanes, the set lanes in order (then zeros): a shuffle that moves a
 * vector's nonzeros to its front. */
static uint8_t compress_lanes[256][8];

static void compress_lanes_init(void)
{
    for (int mask = 0; mask < 256; mask++)
        for (int lane = 0, n = 0; lane < 8; lane++)
            if (mask & (1 << lane))
                compress_lanes[mask][n++] = (uint8_t)lane;
}
#endif

int gemm_sparse_init(GemmSparse *s, int max_rows, int max_cols, Err *e)
{
    memset(s, 0, sizeof *s);
    s->max_rows = max_rows;
    s->max_cols = max_cols;
    const long half = (long)max_rows * (long)max_cols / 2;
    s->limit = half < GEMM_SPARSE_MAX_NONZEROS ? half : GEMM_SPARSE_MAX_NONZEROS;
    /* a row packed while at most `limit` are taken adds at most max_cols, and pack_row_avx2
     * stores 8 at a time */
    const size_t capacity = (size_t)s->limit + (size_t)max_cols + 8;
#if CPU_X86
    compress_lanes_init();
#endif
    if (rows_init(&s->a, max_rows, capacity) != 0 || rows_init(&s->at, max_cols, capacity) != 0) {
        gemm_sparse_free(s);
        return err_set(e, ERR_RUNTIME, "out of memory for a %d x %d sparse matrix", max_rows,
                       max_cols);
    }
    return ERR_OK;
}

void gemm_sparse_free(GemmSparse *s)
{
    rows_free(&s->a);
    rows_free(&s->at);
    memset(s, 0, sizeof *s);
}

/* The nonzeros of columns [j, n) of one row into col and val from position k; returns the new k.
 * Every element is written and the position moves only past a nonzero, so there is no branch
 * on the data (MNIST's zeros and nonzeros alternate too often to predict); 8 zeros in a row (an
 * image's border) are skipped at once. Zeros are tested on the bits without the sign: -0 is a
 * zero too. */
static long pack_row(const float *row, int j, int n, int *col, float *val, long k)
{
    for (; j + 8 <= n; j += 8) {
        uint32_t bits[8], any = 0;
        memcpy(bits, row + j, sizeof bits);
        for (int t = 0; t < 8; t++)
            any |= bits[t] << 1;
        if (any == 0)
            continue;
        for (int t = 0; t < 8; t++) {
            col[k] = j + t;
            memcpy(&val[k], &bits[t], sizeof val[k]);
            k += (bits[t] << 1) != 0;
        }
    }
    for (; j < n; j++) {
        uint32_t bits;
        memcpy(&bits, row + j, sizeof bits);
        col[k] = j;
        memcpy(&val[k], &bits, sizeof val[k]);
        k += (bits << 1) != 0;
    }
    return k;
}

#if CPU_X86
/* pack_row 8 floats at a time: compare, shuffle the nonzeros to the front, store all 8 (col and
 * val have room for them: see gemm_sparse_init's capacity). */
__attribute__((target("avx2"))) static long pack_row_avx2(const float *row, int n, int *col,
                                                         float *val, long k)
{
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_loadu_ps(row + j);
        __m256i magnitude = _mm256_slli_epi32(_mm256_castps_si256(v), 1);
        __m256i zero = _mm256_cmpeq_epi32(magnitude, _mm256_setzero_si256());
        unsigned mask = ~(unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(zero)) & 0xffu;
        if (mask == 0)
            continue;
        __m256i lanes = _mm256_cvtepu8_epi32(
            _mm_loadl_epi64((const __m128i *)(const void *)compress_lanes[mask]));
        _mm256_storeu_ps(val + k, _mm256_permutevar8x32_ps(v, lanes));
        _mm256_storeu_si256((__m256i *)(void *)(col + k),
                            _mm256_add_epi32(lanes, _mm256_set1_epi32(j)));
        k += __builtin_popcount(mask);
    }
    return pack_row(row, j, n, col, val, k);
}
#endif

long gemm_sparse_pack(GemmSparse *s, const float *a, int rows, int cols, int lda)
{
    GemmSparseRows *sa = &s->a;
    sa->rows = rows;
    sa->cols = cols;
    int *restrict col = sa->col, *restrict start = sa->start;
    float *restrict val = sa->val;
    const int avx2 = cpu_avx2();
    long k = 0;
    for (int r = 0; r < rows; r++) {
        if (k > s->limit)
            return -1;
        start[r] = (int)k;
        const float *row = a + (size_t)r * lda;
#if CPU_X86
        if (avx2) {
            k = pack_row_avx2(row, cols, col, val, k);
            continue;
        }
#endif
        k = pack_row(row, 0, cols, col, val, k);
    }
    start[rows] = (int)k;
    (void)avx2;
    return k <= s->limit ? k : -1;
}

void gemm_sparse_transpose(GemmSparse *s)
{
    /* a counting sort of A's nonzeros by column; the rows of A stay ascending in each */
    const GemmSparseRows *sa = &s->a;
    GemmSparseRows *st = &s->at;
    const int rows = sa->rows, cols = sa->cols;
    const int *restrict col = sa->col, *restrict start = sa->start;
    const float *restrict val = sa->val;
    const long k = start[rows];
    st->rows = cols;
    st->cols = rows;
    int *restrict tstart = st->start, *restrict tcol = st->col;
    float *restrict tval = st->val;
    memset(tstart, 0, ((size_t)cols + 1) * sizeof *tstart);
    for (long q = 0; q < k; q++)
        tstart[col[q] + 1]++;
    for (int j = 0; j < cols; j++)
        tstart[j + 1] += tstart[j];
    for (int r = 0; r < rows; r++) {
        const int q1 = start[r + 1];
        for (int q = start[r]; q < q1; q++) {
            int at = tstart[col[q]]++;
            tcol[at] = r;
            tval[at] = val[q];
        }
    }
    /* the sort advanced each start to the next column's: shift back */
    for (int j = cols; j > 0; j--)
        tstart[j] = tstart[j - 1];
    tstart[0] = 0;
}

typedef float V8 __attribute__((vector_size(32)));

/* Columns [0, 8 * nv + tail) of one row of C, tail < 8 (nv and whether tail > 0 are constants
 * after inlining, so the accumulators live in registers): c += the row's nonzeros times the
 * matching rows of B. The last tail columns are the upper lanes of a vector that ends at the
 * block's end; its lower lanes repeat columns of the block and are not stored (the row has
 * 8 columns or more before the block's end). */
static inline __attribute__((always_inline)) void sparse_block(const int *col, const float *val,
                                                              int nnz, const float *b, int ldb,
                                                              float beta, float *c, int nv,
                                                              int has_tail, int tail)
{
    V8 acc[13];
    const int last = 8 * nv + tail - 8; /* where the tail's vector starts */
#pragma GCC unroll 13
    for (int v = 0; v < nv + has_tail; v++) {
        acc[v] = (V8){0};
        if (beta != 0.0f)
            memcpy(&acc[v], c + (v < nv ? 8 * v : last), sizeof acc[v]);
    }
    for (int q = 0; q < nnz; q++) {
        const float *brow = b + (size_t)col[q] * (size_t)ldb;
        __asm__("" : "+r"(brow)); /* one base register for the row: no spilled bases */
        const float x = val[q];
#pragma GCC unroll 13
        for (int v = 0; v < nv + has_tail; v++) {
            V8 w;
            memcpy(&w, brow + (v < nv ? 8 * v : last), sizeof w);
            acc[v] += x * w;
        }
    }
#pragma GCC unroll 12
    for (int v = 0; v < nv; v++)
        memcpy(c + 8 * v, &acc[v], sizeof acc[v]);
    if (has_tail) {
        float lanes[8];
        memcpy(lanes, &acc[nv], sizeof lanes);
        for (int t = 8 - tail; t < 8; t++)
            c[last + t] = lanes[t];
    }
}

/* Columns [*j, n - tail) of one row of C in blocks of 8 * nv, from *j on. When the blocks end
 * exactly where the last tail columns start, the last block takes them too and it returns 1
 * (the row is done); else it returns 0 with *j after the last whole block. nv is a constant
 * after inlining. */
static inline __attribute__((always_inline)) int sparse_blocks(const int *col, const float *val,
                                                               int nnz, const float *b, int ldb,
                                                               float beta, float *crow, int nv,
                                                               int *j, int n, int tail)
{
    for (; *j + 8 * nv < n - tail; *j += 8 * nv)
        sparse_block(col, val, nnz, b + *j, ldb, beta, crow + *j, nv, 0, 0);
    if (*j + 8 * nv != n - tail)
        return 0;
    if (tail > 0)
        sparse_block(col, val, nnz, b + *j, ldb, beta, crow + *j, nv, 1, tail);
    else
        sparse_block(col, val, nnz, b + *j, ldb, beta, crow + *j, nv, 0, 0);
    return 1;
}

static inline __attribute__((always_inline)) void sparse_rows(const GemmSparseRows *a, int n,
                                                              const float *b, int ldb,
                                                              float beta, float *c, int ldc)
{
    for (int r = 0; r < a->rows; r++) {
        const int *col = a->col + a->start[r];
        const float *val = a->val + a->start[r];
        const int nnz = a->start[r + 1] - a->start[r];
        float *crow = c + (size_t)r * (size_t)ldc;
        /* blocks of 96, 32 and 8 columns; the last n % 8 columns go with the last block */
        const int tail = n >= 8 ? n % 8 : n;
        int j = 0;
        if (sparse_blocks(col, val, nnz, b, ldb, beta, crow, 12, &j, n, tail) ||
            sparse_blocks(col, val, nnz, b, ldb, beta, crow, 4, &j, n, tail) ||
            sparse_blocks(col, val, nnz, b, ldb, beta, crow, 1, &j, n, tail))
            continue;
        for (; j < n; j++) { /* fewer than 8 columns in all */
            float s = beta != 0.0f ? crow[j] : 0.0f;
            for (int q = 0; q < nnz; q++)
                s += val[q] * b[(size_t)col[q] * (size_t)ldb + j];
            crow[j] = s;
        }
    }
}

/* In the FMA variant each product and sum fuse into one rounding (GCC contracts a * b + c in
 * its default gnu11 mode, -ffp-contract=fast, which CMakeLists.txt keeps); elsewhere they are two
 * operations. Either way the order of the sums is A's column order. */
#if CPU_X86
__attribute__((target("fma"))) static void sparse_rows_fma(const GemmSparseRows *a, int n,
                                                                const float *b, int ldb,
                                                                float beta, float *c, int ldc)
{
    sparse_rows(a, n, b, ldb, beta, c, ldc);
}
#endif

void gemm_sparse(const GemmSparseRows *a, int n, const float *b, int ldb, float beta, float *c,
                 int ldc)
{
#if CPU_X86
    if (cpu_fma()) {
        sparse_rows_fma(a, n, b, ldb, beta, c, ldc);
        return;
    }
#endif
    sparse_rows(a, n, b, ldb, beta, c, ldc);
}
