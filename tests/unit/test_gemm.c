/* unit_gemm: gemm (BLIS) against gemm_ref (a double-accumulated triple loop) for all four
 * transpose combinations, many shapes, row strides wider than the matrices, and alpha/beta
 * combinations; beta 0 must ignore (even NaN) contents of C, and nothing outside C may change.
 * The sparse path (gemm_sparse_pack and gemm_sparse_transpose, then gemm_sparse with A or A^T)
 * the same way, for left factors from all zeros to all nonzeros, with every block width of its
 * kernel, and the pack's limit on nonzeros.
 *
 * Error bound. Each entry is c = alpha * sum_p a_ip b_pj + beta * c0. In float32 arithmetic with
 * unit roundoff u = 2^-24 the computed value differs from the exact one by at most
 * gamma_(k+3) * S, S = |alpha| * sum_p |a_ip b_pj| + |beta * c0|, whatever the order of the sums
 * (k products and k-1 sums, the alpha and beta products, the final sum; Higham, Accuracy and
 * Stability of Numerical Algorithms, sec. 3.5). gemm_ref is exact up to its final rounding to
 * float, u * |c|. So we require |gemm - gemm_ref| <= (k + 4) * 2u * S (2u = FLT_EPSILON, a margin
 * of two over the worst case). A wrong index, transpose or stride gives errors of the order of S
 * itself. The test also reports the largest error seen in units of u * S. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gemm.h"

#define PAD_SENTINEL 12345.0f /* in C's padding: must survive the call unchanged */

static double worst_in_u; /* largest |gemm - gemm_ref| / (u * S) over all products */

static float *alloc_floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (p == NULL) {
        fprintf(stderr, "test_gemm: out of memory\n");
        exit(1);
    }
    return p;
}

/* A rows x cols matrix with row stride ld: random values in [-1, 1) inside, NaN in the padding
 * (a gemm that reads the padding turns its result into NaN). */
static float *random_matrix(CheckRng *rng, int rows, int cols, int ld)
{
    float *x = alloc_floats((size_t)rows * ld);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < ld; j++)
            x[(size_t)i * ld + j] = j < cols ? (float)check_rng_uniform(rng, -1, 1) : NAN;
    return x;
}

/* Keep a fraction `density` of A's entries (rows x cols, stride ld); zero the others, some as
 * -0. */
static void thin_out(CheckRng *rng, float *a, int rows, int cols, int ld, double density)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            if (check_rng_uniform(rng, 0, 1) >= density)
                a[(size_t)i * ld + j] = check_rng_uniform(rng, 0, 1) < 0.1 ? -0.0f : 0.0f;
}

/* Pack a (stored rows x cols, stride lda) and check both packings against it: nonzeros only,
 * columns ascending, every nonzero present. Returns 1 when they agree. */
static int check_pack(GemmSparse *s, const float *a, int rows, int cols, int lda)
{
    long nnz = gemm_sparse_pack(s, a, rows, cols, lda), want = 0, bad = 0;
    gemm_sparse_transpose(s);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            want += a[(size_t)i * lda + j] != 0.0f;
    const GemmSparseRows *by[2] = {&s->a, &s->at};
    for (int t = 0; t < 2; t++) {
        const GemmSparseRows *x = by[t];
        bad += x->rows != (t ? cols : rows) || x->cols != (t ? rows : cols) || x->start[0] != 0 ||
               x->start[x->rows] != want;
        for (int r = 0; r < x->rows && bad == 0; r++)
            for (int q = x->start[r]; q < x->start[r + 1]; q++) {
                int i = t ? x->col[q] : r, j = t ? r : x->col[q];
                bad += x->val[q] == 0.0f || x->val[q] != a[(size_t)i * lda + j] ||
                       (q > x->start[r] && x->col[q] <= x->col[q - 1]);
            }
    }
    return CHECK_MSG(nnz == want && bad == 0,
                     "gemm_sparse_pack of a %d x %d matrix: %ld nonzeros, expected %ld; %ld "
                     "entries of its packings wrong", rows, cols, nnz, want, bad);
}

/* One product: gemm and gemm_ref from the same C; compare C inside, and C's padding. With
 * density >= 0, A keeps that fraction of nonzeros and the product goes through the sparse path
 * (tb = 0, alpha = 1, beta 0 or 1). */
static void check_product_path(CheckRng *rng, int ta, int tb, int m, int n, int k, int pad,
                               float alpha, float beta, double density)
{
    /* stored shapes: A is m x k (or k x m when transposed), B is k x n (or n x k) */
    int a_rows = ta ? k : m, a_cols = ta ? m : k;
    int b_rows = tb ? n : k, b_cols = tb ? k : n;
    int lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
    float *a = random_matrix(rng, a_rows, a_cols, lda);
    float *b = random_matrix(rng, b_rows, b_cols, ldb);
    float *c = alloc_floats((size_t)m * ldc);
    float *c_ref = alloc_floats((size_t)m * ldc);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < ldc; j++)
            c[(size_t)i * ldc + j] =
                j >= n ? PAD_SENTINEL : beta == 0.0f ? NAN : (float)check_rng_uniform(rng, -1, 1);
    memcpy(c_ref, c, (size_t)m * ldc * sizeof(float));

    if (density >= 0) {
        GemmSparse sp;
        Err e;
        thin_out(rng, a, a_rows, a_cols, lda, density);
        /* room for twice the rows: its limit (half the elements) then takes any density */
        if (!CHECK_MSG(gemm_sparse_init(&sp, 2 * a_rows + 1, a_cols, &e) == ERR_OK, "%s", e.msg))
            exit(1);
        if (check_pack(&sp, a, a_rows, a_cols, lda))
            gemm_sparse(ta ? &sp.at : &sp.a, n, b, ldb, beta, c, ldc);
        gemm_sparse_free(&sp);
    } else {
        gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
    gemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c_ref, ldc);

    double worst_ratio = 0;     /* largest err / (u * S) */
    double worst_excess = -1;   /* largest err / bound among the failures */
    double worst_err = 0, worst_bound = 0;
    int wi = -1, wj = -1, n_bad = 0, bad_pad = 0, nan_count = 0;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0; /* S of the bound */
            for (int p = 0; p < k; p++) {
                float av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                float bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += fabs((double)av * bv);
            }
            s = fabs(alpha) * s + fabs(beta) * 1.0; /* |c0| < 1, and beta 0 drops it */
            double got = c[(size_t)i * ldc + j], want = c_ref[(size_t)i * ldc + j];
            double err = fabs(got - want);
            double bound = (k + 4) * (double)FLT_EPSILON * s;
            nan_count += isnan(got) != 0;
            if (s > 0 && err / (0.5 * FLT_EPSILON * s) > worst_ratio)
                worst_ratio = err / (0.5 * FLT_EPSILON * s);
            if (!(err <= bound)) { /* also a NaN */
                double excess = bound > 0 ? err / bound : INFINITY;
                if (n_bad++ == 0 || excess > worst_excess) {
                    worst_excess = excess;
                    wi = i;
                    wj = j;
                    worst_err = err;
                    worst_bound = bound;
                }
            }
        }
        for (int j = n; j < ldc; j++)
            if (memcmp(&c[(size_t)i * ldc + j], &(float){PAD_SENTINEL}, sizeof(float)) != 0)
                bad_pad++;
    }
    if (worst_ratio > worst_in_u)
        worst_in_u = worst_ratio;

    char what[200];
    snprintf(what, sizeof what, "%s(ta=%d, tb=%d, m=%d, n=%d, k=%d, pad=%d, alpha=%g, beta=%g, "
             "density=%g)", density >= 0 ? "gemm_sparse" : "gemm", ta, tb, m, n, k, pad, alpha,
             beta, density);
    CHECK_MSG(nan_count == 0, "%s: %d NaN entries in C (beta 0 must not read C, and the padding "
              "of A and B must not be read)", what, nan_count);
    CHECK_MSG(n_bad == 0,
              "%s: %d entries off; worst C[%d][%d]: expected %.9g within %.3g, got %.9g (error %.3g)",
              what, n_bad, wi, wj, wi < 0 ? 0.0 : c_ref[(size_t)wi * ldc + wj], worst_bound,
              wi < 0 ? 0.0 : c[(size_t)wi * ldc + wj], worst_err);
    CHECK_MSG(bad_pad == 0, "%s: %d entries of C's padding changed (expected %g)", what, bad_pad,
              PAD_SENTINEL);
    free(a);
    free(b);
    free(c);
    free(c_ref);
}

static void check_product(CheckRng *rng, int ta, int tb, int m, int n, int k, int pad,
                          float alpha, float beta)
{
    check_product_path(rng, ta, tb, m, n, k, pad, alpha, beta, -1);
}

/* gemm_sparse_pack takes at most half of max_rows x max_cols nonzeros: exactly the limit is
 * packed, one more is refused with -1, and a refusal leaves the next pack working. */
static void check_sparse_limit(void)
{
    enum { ROWS = 6, COLS = 50 };
    static float a[ROWS * COLS];
    GemmSparse sp;
    Err e;
    if (!CHECK_MSG(gemm_sparse_init(&sp, ROWS, COLS, &e) == ERR_OK, "%s", e.msg))
        return;
    CHECK_INT_EQ(sp.limit, ROWS * COLS / 2);
    for (long extra = 0; extra < 2; extra++) {
        memset(a, 0, sizeof a);
        for (long i = 0; i < sp.limit + extra; i++)
            a[(i * 7) % (ROWS * COLS)] = 1.0f + (float)i; /* 7 is prime to 300: all distinct */
        long got = gemm_sparse_pack(&sp, a, ROWS, COLS, COLS);
        CHECK_MSG(got == (extra ? -1 : sp.limit), "gemm_sparse_pack of %ld nonzeros (limit %ld): "
                  "returned %ld", sp.limit + extra, sp.limit, got);
    }
    memset(a, 0, sizeof a);
    a[3] = 2.0f;
    CHECK_MSG(gemm_sparse_pack(&sp, a, ROWS, COLS, COLS) == 1 && sp.a.col[0] == 3 &&
                  sp.a.val[0] == 2.0f,
              "gemm_sparse_pack after a refusal: the single nonzero was not packed");
    gemm_sparse_free(&sp);
}

/* The sparse path: every block width of the kernel (96, 32 and 8 columns, then the last n % 8),
 * A from all zeros to all nonzeros, empty rows and columns, a row stride wider than A, both
 * packings, beta 0 and 1; and the shapes of the default model's first layer with MNIST's
 * density (19% nonzeros). */
static void check_sparse(CheckRng *rng)
{
    static const int widths[] = {1, 7, 8, 9, 31, 32, 40, 95, 96, 100, 105, 129, 200, 1024};
    static const double densities[] = {0, 0.02, 0.19, 0.6, 1};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++)
        for (size_t d = 0; d < sizeof densities / sizeof densities[0]; d++)
            for (int ta = 0; ta < 2; ta++)
                for (int beta = 0; beta < 2; beta++)
                    check_product_path(rng, ta, 0, 7, widths[w], 23, (int)(w % 3) * 2, 1.0f,
                                       (float)beta, densities[d]);
    check_product_path(rng, 0, 0, 100, 100, 784, 0, 1.0f, 1.0f, 0.19);  /* forward */
    check_product_path(rng, 1, 0, 784, 100, 100, 0, 1.0f, 0.0f, 0.19);  /* weight gradient */
    check_product_path(rng, 1, 0, 784, 1024, 50, 3, 1.0f, 0.0f, 0.19); /* hidden 1024 */
    check_product_path(rng, 0, 0, 0, 100, 784, 0, 1.0f, 0.0f, 0.19);    /* no rows */
    check_product_path(rng, 1, 0, 784, 100, 0, 0, 1.0f, 0.0f, 0.19);    /* no rows: zeros */
    check_product_path(rng, 0, 0, 7, 0, 23, 2, 1.0f, 1.0f, 0.19);       /* no columns of C */
    check_sparse_limit();
}

/* beta 1 accumulates: two products of alpha 1 into the same C equal one product of alpha 2. */
static void check_accumulate(CheckRng *rng)
{
    const int m = 13, n = 17, k = 19;
    float *a = random_matrix(rng, m, k, k);
    float *b = random_matrix(rng, k, n, n);
    float *c = alloc_floats((size_t)m * n), *c_ref = alloc_floats((size_t)m * n);
    for (int i = 0; i < m * n; i++)
        c[i] = c_ref[i] = NAN;
    gemm(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
    gemm(0, 0, m, n, k, 1.0f, a, k, b, n, 1.0f, c, n);
    gemm_ref(0, 0, m, n, k, 2.0f, a, k, b, n, 0.0f, c_ref, n);
    double worst = 0;
    for (int i = 0; i < m * n; i++)
        worst = fmax(worst, fabs((double)c[i] - c_ref[i]));
    /* each of the two products is off by <= (k+4) eps * k (|a|,|b| <= 1); the sum adds one more */
    double bound = 2 * (k + 5) * (double)FLT_EPSILON * k;
    CHECK_MSG(worst <= bound, "beta 1 accumulation: max |C - 2AB| = %.3g, bound %.3g", worst,
              bound);
    free(a);
    free(b);
    free(c);
    free(c_ref);
}

/* k = 0: the product is empty, so C = beta * C; beta 0 gives exact zeros even over NaN. */
static void check_empty_k(void)
{
    float c[6] = {NAN, NAN, NAN, NAN, NAN, NAN}, one = 1.0f;
    gemm(0, 0, 2, 3, 0, 1.0f, &one, 1, &one, 3, 0.0f, c, 3);
    int zeros = 0;
    for (int i = 0; i < 6; i++)
        zeros += c[i] == 0.0f;
    CHECK_MSG(zeros == 6, "k=0, beta=0: expected C all 0, got %d of 6 zeros (C[0] = %g)", zeros,
              c[0]);
    float d[6] = {1, 2, 3, 4, 5, 6};
    gemm(1, 1, 2, 3, 0, 1.0f, &one, 2, &one, 1, 0.5f, d, 3);
    int halves = 0;
    for (int i = 0; i < 6; i++)
        halves += d[i] == 0.5f * (float)(i + 1);
    CHECK_MSG(halves == 6, "k=0, beta=0.5: expected C halved, got %d of 6 right (C[0] = %g)",
              halves, d[0]);
}

int main(void)
{
    gemm_init();
    CheckRng rng = {7};

    /* m, n, k: degenerate, odd, and the shapes of the default 784-100-10 model with batch 100
     * (forward 100x100x784 and 100x10x100; weight gradients 100x784x100 and 10x100x100) */
    static const int shapes[][3] = {
        {1, 1, 1},    {1, 50, 7},     {50, 1, 7},     {1, 1, 64},    {9, 11, 1},
        {37, 53, 29}, {5, 3, 2},      {16, 16, 16},   {65, 33, 129}, {100, 100, 784},
        {100, 10, 100}, {100, 784, 100}, {10, 100, 100}, {100, 784, 10},
    };
    static const float ab[][2] = {{1, 0}, {1, 1}, {0.5f, -2}, {-1.25f, 0.75f}, {0, 1}, {3, 0}};
    const int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
    const int n_ab = (int)(sizeof ab / sizeof ab[0]);

    for (int s = 0; s < n_shapes; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                const int big = (long)m * n * k > 100000;
                /* the big shapes once per (ta, tb) plus a padded view; small ones everything */
                if (big) {
                    check_product(&rng, ta, tb, m, n, k, 0, 1.0f, 0.0f);
                    check_product(&rng, ta, tb, m, n, k, 3, 1.0f, 1.0f);
                    continue;
                }
                for (int i = 0; i < n_ab; i++) {
                    check_product(&rng, ta, tb, m, n, k, 0, ab[i][0], ab[i][1]);
                    check_product(&rng, ta, tb, m, n, k, 5, ab[i][0], ab[i][1]);
                }
            }
    check_accumulate(&rng);
    check_empty_k();
    check_sparse(&rng);

    printf("largest gemm error: %.3g u*S (u = 2^-24; the test allows (k + 4) * 2 u*S)\n",
           worst_in_u);
    return check_summary();
}
