/* sgemm_bench ROWS HIDDEN [REPEAT]: the roofline of this machine for the model's matrix products.
 * Times BLIS sgemm (through the gemm module) on exactly the products one training step of a
 * 784-HIDDEN-10 network makes for ROWS rows per rank (forward of both layers, the weight
 * gradients of both, the input gradient of the second), and the evaluation's forward on 1000
 * rows; prints GFLOP/s for each shape and for a whole step's products. Then the first layer
 * the way training runs it on MNIST's mostly-zero pixels: sparse, against BLIS's two products. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gemm.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

typedef struct Shape {
    const char *what;
    int ta, tb, m, n, k;
} Shape;

static float *filled(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (p == NULL) {
        fprintf(stderr, "sgemm_bench: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* Seconds per call of one shape, best of 5 batches of `repeat` calls. */
static double time_shape(const Shape *s, int repeat)
{
    float *a = filled((size_t)s->m * s->k), *b = filled((size_t)s->k * s->n),
          *c = filled((size_t)s->m * s->n);
    int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        double t0 = now();
        for (int r = 0; r < repeat; r++)
            gemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
        double t = (now() - t0) / repeat;
        best = t < best ? t : best;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

/* The first layer as training runs it on MNIST (without --normalize): the rows' nonzeros packed,
 * then the forward and the weight gradient through gemm_sparse. The rows are digit-like: 19% of
 * the pixels nonzero, in a disc near the centre, as MNIST's. */
static void sparse_first_layer(int rows, int h, int repeat, double dense_fc1)
{
    float *x = filled((size_t)rows * 784), *wt = filled((size_t)784 * h),
          *d = filled((size_t)rows * h), *out = filled((size_t)rows * h),
          *grad = filled((size_t)784 * h);
    for (int i = 0; i < rows * 784; i++) {
        int r = i / 784, dy = i % 784 / 28 - 14 + r % 3, dx = i % 28 - 14 + r % 5 - 2;
        x[i] = dx * dx + dy * dy < 49 ? (float)(1 + i * 7 % 255) / 255.0f : 0.0f;
    }
    GemmSparse s;
    Err e;
    if (gemm_sparse_init(&s, rows, 784, &e) != ERR_OK) {
        fprintf(stderr, "sgemm_bench: %s\n", e.msg);
        exit(1);
    }
    double best[4] = {1e30, 1e30, 1e30, 1e30};
    long nnz = 0;
    for (int round = 0; round < 5; round++) {
        double t[5];
        t[0] = now();
        for (int r = 0; r < repeat; r++)
            nnz = gemm_sparse_pack(&s, x, rows, 784, 784);
        t[1] = now();
        for (int r = 0; r < repeat; r++)
            gemm_sparse(&s.a, h, wt, h, 1.0f, out, h);
        t[2] = now();
        for (int r = 0; r < repeat; r++)
            gemm_sparse_transpose(&s);
        t[3] = now();
        for (int r = 0; r < repeat; r++)
            gemm_sparse(&s.at, h, d, h, 0.0f, grad, h);
        t[4] = now();
        for (int k = 0; k < 4; k++)
            best[k] = fmin(best[k], (t[k + 1] - t[k]) / repeat);
    }
    printf("fc1 with sparse input (%.0f%% nonzeros): pack %.1f us, forward %.1f, transpose %.1f, "
           "weight gradient %.1f, in all %.1f us against %.1f for BLIS's two products\n",
           100.0 * nnz / (rows * 784.0), 1e6 * best[0], 1e6 * best[1], 1e6 * best[2],
           1e6 * best[3], 1e6 * (best[0] + best[1] + best[2] + best[3]), 1e6 * dense_fc1);
    gemm_sparse_free(&s);
    free(x);
    free(wt);
    free(d);
    free(out);
    free(grad);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: sgemm_bench ROWS HIDDEN [REPEAT]\n");
        return 2;
    }
    int rows = atoi(argv[1]), h = atoi(argv[2]), repeat = argc > 3 ? atoi(argv[3]) : 200;
    gemm_init();
    /* the products as mlp makes them: fc1's weight stored [in][out] (W1^T), fc2's [out][in] */
    const Shape step[] = {
        {"fwd  fc1  X W1^T", 0, 0, rows, h, 784},
        {"fwd  fc2  H W2^T", 0, 1, rows, 10, h},
        {"grad fc2  D2^T H", 1, 0, 10, h, rows},
        {"back fc2  D2 W2", 0, 0, rows, h, 10},
        {"grad fc1  X^T D1", 1, 0, 784, h, rows},
    };
    const Shape eval = {"eval fc1  1000 rows", 0, 0, 1000, h, 784};
    double step_time = 0, step_flops = 0, dense_fc1 = 0;
    printf("%-22s %6s %6s %6s %10s %9s\n", "product", "m", "n", "k", "us/call", "GFLOP/s");
    for (size_t i = 0; i < sizeof step / sizeof step[0]; i++) {
        double t = time_shape(&step[i], repeat), f = 2.0 * step[i].m * step[i].n * step[i].k;
        step_time += t;
        step_flops += f;
        if (i == 0 || i == sizeof step / sizeof step[0] - 1) /* fc1's forward and gradient */
            dense_fc1 += t;
        printf("%-22s %6d %6d %6d %10.2f %9.2f\n", step[i].what, step[i].m, step[i].n, step[i].k,
               1e6 * t, f / t * 1e-9);
    }
    double te = time_shape(&eval, repeat / 10 > 0 ? repeat / 10 : 1);
    printf("%-22s %6d %6d %6d %10.2f %9.2f\n", eval.what, eval.m, eval.n, eval.k, 1e6 * te,
           2.0 * eval.m * eval.n * eval.k / te * 1e-9);
    printf("step products: %.1f us, %.3f MFLOP, %.2f GFLOP/s\n", 1e6 * step_time,
           step_flops * 1e-6, step_flops / step_time * 1e-9);
    sparse_first_layer(rows, h, repeat, dense_fc1);
    return 0;
}
