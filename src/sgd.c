#include "sgd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

int sgd_init(Sgd *s, size_t n, double momentum, double dampening, double weight_decay,
             int nesterov, Err *e)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->momentum = (float)momentum;
    s->one_minus_dampening = (float)(1.0 - dampening); /* torch computes it in double */
    s->weight_decay = (float)weight_decay;
    s->nesterov = nesterov;
    if (momentum != 0) {
        s->buf = calloc(n ? n : 1, sizeof(float));
        if (s->buf == NULL)
            return err_set(e, ERR_RUNTIME, "out of memory for the momentum buffer");
    }
    return ERR_OK;
}

void sgd_free(Sgd *s)
{
    free(s->buf);
    memset(s, 0, sizeof *s);
}

static inline __attribute__((always_inline)) void update(Sgd *s, float *restrict params,
                                                         const float *restrict grads,
                                                         float grad_scale, double lr)
{
    const float neg_lr = (float)-lr, wd = s->weight_decay, m = s->momentum;
    const float one_minus_damp = s->one_minus_dampening;
    float *restrict buf = s->buf;
    const size_t n = s->n;
    if (buf == NULL) {
        for (size_t i = 0; i < n; i++) {
            float g = grads[i] * grad_scale;
            float d = wd != 0.0f ? fmaf(wd, params[i], g) : g;
            params[i] = fmaf(neg_lr, d, params[i]);
        }
        return;
    }
    const int first = !s->has_buf;
    s->has_buf = 1;
    for (size_t i = 0; i < n; i++) {
        float g = grads[i] * grad_scale;
        float d = wd != 0.0f ? fmaf(wd, params[i], g) : g;
        float b = first ? d : fmaf(one_minus_damp, d, buf[i] * m);
        buf[i] = b;
        d = s->nesterov ? fmaf(m, b, d) : b;
        params[i] = fmaf(neg_lr, d, params[i]);
    }
}

/* torch computes each "a.add_(b, alpha=k)" as one fused multiply-add, fma(k, b, a), in float32.
 * With FMA hardware update_fma does the same in one instruction and matches torch to the bit;
 * elsewhere update calls fmaf, slower but equal. */
#if CPU_X86
__attribute__((target("fma"))) static void update_fma(Sgd *s, float *restrict params,
                                                          const float *restrict grads,
                                                          float grad_scale, double lr)
{
    update(s, params, grads, grad_scale, lr);
}
#endif

void sgd_step(Sgd *s, float *params, const float *grads, float grad_scale, double lr)
{
#if CPU_X86
    if (cpu_fma()) {
        update_fma(s, params, grads, grad_scale, lr);
        return;
    }
#endif
    update(s, params, grads, grad_scale, lr);
}
