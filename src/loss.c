#include "loss.h"

#include <math.h>
#include <stddef.h>

int loss_argmax(const float *row, int classes)
{
    int arg = 0;
    for (int j = 1; j < classes; j++)
        if (row[j] > row[arg])
            arg = j;
    return arg;
}

void loss_softmax_xent(const float *logits, const uint8_t *labels, int rows, int classes,
                       float *dlogits, double *loss_sum, long *correct)
{
    double sum = 0;
    long right = 0;
    for (int r = 0; r < rows; r++) {
        const float *z = logits + (long)r * classes;
        const int arg = loss_argmax(z, classes);
        const float top = z[arg];
        /* log-sum-exp around the largest logit: no exp() above 1 */
        float denom = 0.0f;
        for (int j = 0; j < classes; j++)
            denom += expf(z[j] - top);
        const float log_denom = logf(denom);
        const int y = labels[r];
        sum += (double)(log_denom - (z[y] - top));
        right += arg == y;
        if (dlogits != NULL) {
            float *d = dlogits + (long)r * classes;
            const float inv = 1.0f / denom;
            for (int j = 0; j < classes; j++)
                d[j] = expf(z[j] - top) * inv;
            d[y] -= 1.0f;
        }
    }
    *loss_sum += sum;
    *correct += right;
}
