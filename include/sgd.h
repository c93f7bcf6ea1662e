/* sgd: stochastic gradient descent with momentum, dampening, Nesterov and weight decay, step for
 * step the update of torch.optim.SGD. It owns the momentum buffer; the rate comes with each step. */
#ifndef MPITRAIN_SGD_H
#define MPITRAIN_SGD_H

#include <stddef.h>

#include "err.h"

typedef struct Sgd {
    size_t n;
    float momentum, one_minus_dampening, weight_decay; /* as torch uses them: float32 */
    int nesterov;
    int has_buf;  /* 0 until the first step: torch's momentum_buffer is None */
    float *buf;   /* [n]: momentum buffer, same layout as the parameters */
} Sgd;

int sgd_init(Sgd *s, size_t n, double momentum, double dampening, double weight_decay,
             int nesterov, Err *e);
void sgd_free(Sgd *s);

/* params -= lr * update(g), torch.optim.SGD's rule, with g = grads * grad_scale (the summed
 * gradient times 1 / batch; a scale of 1 leaves the gradient as it is, bit for bit):
 *   d = g + wd * p;  buf = d on the first step, else buf = momentum * buf + (1 - dampening) * d;
 *   d = nesterov ? d + momentum * buf : buf;  p = p - lr * d. */
void sgd_step(Sgd *s, float *params, const float *grads, float grad_scale, double lr);

#endif
