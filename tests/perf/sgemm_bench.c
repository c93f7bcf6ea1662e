/* sgemm_bench ROWS HIDDEN [REPEAT]: the roofline of this machine for the model's matrix products.
 * Times BLIS sgemm (through the gemm module) on exactly the products one training step of a
 * 784-HIDDEN-10 network makes for ROWS rows per rank (forward of both layers, the weight
 * gradients of both, the input gradient of the second), and the evaluation's forward on 1000
 * rows; prints GFLOP/s for each shape and for a whole step's products. */
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

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: sgemm_bench ROWS HIDDEN [REPEAT]\n");
        return 2;
    }
    int rows = atoi(argv[1]), h = atoi(argv[2]), repeat = argc > 3 ? atoi(argv[3]) : 200;
    gemm_init();
    const Shape step[] = {
        {"fwd  fc1  X W1^T", 0, 1, rows, h, 784},
        {"fwd  fc2  H W2^T", 0, 1, rows, 10, h},
        {"grad fc2  D2^T H", 1, 0, 10, h, rows},
        {"back fc2  D2 W2", 0, 0, rows, h, 10},
        {"grad fc1  D1^T X", 1, 0, h, 784, rows},
    };
    const Shape eval = {"eval fc1  1000 rows", 0, 1, 1000, h, 784};
    double step_time = 0, step_flops = 0;
    printf("%-22s %6s %6s %6s %10s %9s\n", "product", "m", "n", "k", "us/call", "GFLOP/s");
    for (size_t i = 0; i < sizeof step / sizeof step[0]; i++) {
        double t = time_shape(&step[i], repeat), f = 2.0 * step[i].m * step[i].n * step[i].k;
        step_time += t;
        step_flops += f;
        printf("%-22s %6d %6d %6d %10.2f %9.2f\n", step[i].what, step[i].m, step[i].n, step[i].k,
               1e6 * t, f / t * 1e-9);
    }
    double te = time_shape(&eval, repeat / 10 > 0 ? repeat / 10 : 1);
    printf("%-22s %6d %6d %6d %10.2f %9.2f\n", eval.what, eval.m, eval.n, eval.k, 1e6 * te,
           2.0 * eval.m * eval.n * eval.k / te * 1e-9);
    printf("step products: %.1f us, %.3f MFLOP, %.2f GFLOP/s\n", 1e6 * step_time,
           step_flops * 1e-6, step_flops / step_time * 1e-9);
    return 0;
}
