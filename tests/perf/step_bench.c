/* step_bench HIDDEN: seconds of one training step's local work (uint8 rows to floats, forward,
 * loss, backward, SGD step) of a 784-HIDDEN-10 network on one core, for 1 to 100 rows, and the
 * least-squares line time = a + c * rows through them: the compute term of the scaling model
 * (tests/perf/scaling_model.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm.h"
#include "loss.h"
#include "mlp.h"
#include "sgd.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int hidden = argc > 1 ? atoi(argv[1]) : 100;
    int sizes[3] = {784, hidden, 10};
    Mlp m;
    Sgd s;
    Err e;
    gemm_init();
    if (mlp_init(&m, sizes, 3, 100, 2, &e) != ERR_OK ||
        sgd_init(&s, m.n_params, 0.9, 0, 0, 1, &e) != ERR_OK) {
        fprintf(stderr, "step_bench: %s\n", e.msg);
        return 1;
    }
    mlp_init_params(&m, 1);
    uint8_t *pixels = malloc(100 * 784), labels[100];
    float *x = malloc(sizeof(float) * 100 * 784);
    /* like MNIST's digits: 19% of the pixels nonzero, in a disc near the centre (so the first
     * layer takes its sparse path, as in training) */
    for (int i = 0; i < 100 * 784; i++) {
        int row = i / 784, dy = i % 784 / 28 - 14 + row % 3, dx = i % 28 - 14 + row % 5 - 2;
        pixels[i] = dx * dx + dy * dy < 49 ? (uint8_t)(1 + i * 7 % 255) : 0;
    }
    for (int i = 0; i < 100; i++)
        labels[i] = (uint8_t)(i % 10);
    const int rows_list[] = {1, 2, 4, 8, 13, 25, 50, 100};
    const int n = sizeof rows_list / sizeof rows_list[0];
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    printf("rows  us/step\n");
    for (int k = 0; k < n; k++) {
        int rows = rows_list[k], repeat = 3000 / (rows < 10 ? 1 : rows / 10);
        double best = 1e30;
        for (int round = 0; round < 5; round++) {
            double t0 = now();
            for (int r = 0; r < repeat; r++) {
                for (int i = 0; i < rows * 784; i++)
                    x[i] = pixels[i] / 255.0f;
                float *logits = mlp_forward(&m, x, rows);
                double loss = 0;
                long correct = 0;
                loss_softmax_xent(logits, labels, rows, 10, logits, &loss, &correct);
                mlp_backward(&m, x, rows, logits);
                sgd_step(&s, m.params, m.grads, 1.0f / rows, 1e-6);
            }
            double dt = (now() - t0) / repeat;
            best = dt < best ? dt : best;
        }
        printf("%4d %8.1f\n", rows, 1e6 * best);
        sx += rows;
        sy += best;
        sxx += (double)rows * rows;
        sxy += rows * best;
    }
    double c = (n * sxy - sx * sy) / (n * sxx - sx * sx), a = (sy - c * sx) / n;
    printf("fit: step(rows) = %.1f us + %.3f us * rows\n", 1e6 * a, 1e6 * c);
    free(pixels);
    free(x);
    sgd_free(&s);
    mlp_free(&m);
    return 0;
}
