/* unit_gradcheck: mlp_backward after loss_softmax_xent against central finite differences of the
 * summed loss, computed by an independent double-precision forward pass written here. Also:
 * backward over zero rows gives zero gradients; a ReLU unit dead for the whole batch gets
 * exactly zero gradient on its weights, its bias and its outgoing weights; backward leaves the
 * caller's extra gradient slots alone; the loss may write its gradient over the logits; and
 * mlp_init_params draws in PyTorch's nn.Linear range. The finite differences run twice: on
 * dense inputs and on inputs that are mostly zeros, which take the sparse first-layer path.
 *
 * Tolerance. The finite difference is taken in double with h = 1e-5 on the double copy of the
 * parameters: truncation error ~ h^2 |f'''| ~ 1e-10, cancellation ~ 1e-16 |f| / h ~ 1e-10, so it
 * is exact to ~1e-9 for this small net. The float32 backward pass carries rounding errors of a
 * few units of 2^-24 times the magnitudes it sums (|terms| <~ 10 over the batch of 8), i.e.
 * absolute errors below ~1e-6. With the relative error |a - b| / max(1e-3, |a| + |b|) that is
 * at most ~1e-3 for the smallest gradients and ~1e-6 for the large ones; we require 1e-3. A
 * wrong transpose, a missing ReLU mask or a missing bias row gives errors of order 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gemm.h"
#include "loss.h"
#include "mlp.h"

#define N_SIZES 4
#define ROWS 8
#define MAX_WIDTH 32
#define FD_H 1e-5
#define REL_TOL 1e-3

static const int sizes[N_SIZES] = {20, 16, 12, 10};

/* The sign pattern of every hidden pre-activation: a finite difference across a ReLU kink is
 * not a derivative, so such parameters are skipped (and counted). */
typedef struct Pattern {
    unsigned char pos[ROWS][N_SIZES][MAX_WIDTH];
} Pattern;

/* The summed softmax cross-entropy of the net with double parameters p (the layout of m). */
static double ref_loss(const Mlp *m, const double *p, const float *x, const uint8_t *y, int rows,
                       Pattern *pat)
{
    double total = 0;
    for (int r = 0; r < rows; r++) {
        double in[MAX_WIDTH], out[MAX_WIDTH];
        for (int i = 0; i < m->layer[0].in; i++)
            in[i] = x[r * m->layer[0].in + i];
        for (int l = 0; l < m->n_layers; l++) {
            const MlpLayer *L = &m->layer[l];
            for (int o = 0; o < L->out; o++) {
                double z = p[L->b + o];
                for (int i = 0; i < L->in; i++)
                    z += p[mlp_weight_index(L, o, i)] * in[i];
                if (l + 1 < m->n_layers) {
                    pat->pos[r][l][o] = z > 0;
                    z = z > 0 ? z : 0;
                }
                out[o] = z;
            }
            memcpy(in, out, sizeof in);
        }
        const int classes = m->layer[m->n_layers - 1].out;
        double top = in[0];
        for (int j = 1; j < classes; j++)
            top = fmax(top, in[j]);
        double s = 0;
        for (int j = 0; j < classes; j++)
            s += exp(in[j] - top);
        total += log(s) + top - in[y[r]];
    }
    return total;
}

/* Forward, loss (gradient of the sum into dlogits) and backward; returns the float loss sum. */
static double float_pass(Mlp *m, const float *x, const uint8_t *y, int rows, float *dlogits)
{
    const int classes = m->layer[m->n_layers - 1].out;
    const float *logits = mlp_forward(m, x, rows);
    double loss = 0;
    long correct = 0;
    loss_softmax_xent(logits, y, rows, classes, dlogits, &loss, &correct);
    mlp_backward(m, x, rows, dlogits);
    return loss;
}

/* sparse: 75% of the inputs are zero (the first layer takes its sparse path) */
static void test_finite_differences(int sparse)
{
    Mlp m;
    Err e;
    err_clear(&e);
    if (!CHECK_MSG(mlp_init(&m, sizes, N_SIZES, ROWS, 0, &e) == ERR_OK, "mlp_init: %s", e.msg))
        return;
    mlp_init_params(&m, 123);
    CheckRng rng = {99};
    float x[ROWS * 20], dlogits[ROWS * 10];
    uint8_t y[ROWS];
    for (int i = 0; i < ROWS * 20; i++) {
        x[i] = (float)check_rng_uniform(&rng, -1, 1);
        if (sparse && (i % 20 + 7 * (i / 20)) % 20 < 15) /* 15 zeros a row, moving each row */
            x[i] = 0.0f;
    }
    for (int r = 0; r < ROWS; r++)
        y[r] = (uint8_t)(check_rng_u64(&rng) % 10);

    /* loss.h allows dlogits to be the logits array itself: same loss, same gradient */
    {
        float sep[ROWS * 10], inplace[ROWS * 10];
        const float *logits = mlp_forward(&m, x, ROWS);
        memcpy(inplace, logits, sizeof inplace);
        double loss1 = 0, loss2 = 0;
        long correct1 = 0, correct2 = 0;
        loss_softmax_xent(logits, y, ROWS, 10, sep, &loss1, &correct1);
        loss_softmax_xent(inplace, y, ROWS, 10, inplace, &loss2, &correct2);
        CHECK_MSG(loss2 == loss1 && correct2 == correct1,
                  "in-place loss: expected %.17g (%ld correct), got %.17g (%ld)", loss1, correct1,
                  loss2, correct2);
        CHECK_MSG(memcmp(inplace, sep, sizeof sep) == 0,
                  "in-place loss: the gradient differs from the one written to a separate array");
    }
    double loss_f = float_pass(&m, x, y, ROWS, dlogits);
    CHECK_MSG(m.x_is_sparse == sparse, "inputs %s: expected the %s first-layer path",
              sparse ? "mostly zeros" : "dense", sparse ? "sparse" : "dense");

    double *p = malloc(m.n_params * sizeof(double));
    Pattern *base = malloc(sizeof *base), *plus = malloc(sizeof *plus), *minus = malloc(sizeof *minus);
    if (p == NULL || base == NULL || plus == NULL || minus == NULL) {
        fprintf(stderr, "test_gradcheck: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < m.n_params; i++)
        p[i] = m.params[i];
    memset(base, 0, sizeof *base);
    double loss_d = ref_loss(&m, p, x, y, ROWS, base);
    CHECK_MSG(fabs(loss_f - loss_d) <= 1e-5 * fabs(loss_d),
              "float loss sum %.9g vs double reference %.9g", loss_f, loss_d);

    /* how many hidden units are active, to make sure the ReLU masks matter here */
    int active = 0, total_units = 0;
    for (int r = 0; r < ROWS; r++)
        for (int l = 0; l + 1 < m.n_layers; l++)
            for (int o = 0; o < m.layer[l].out; o++) {
                active += base->pos[r][l][o];
                total_units++;
            }
    CHECK_MSG(active > total_units / 5 && active < total_units * 4 / 5,
              "want a mix of active and inactive units, got %d of %d active", active,
              total_units);

    double worst = 0, worst_fd = 0;
    size_t worst_i = 0, skipped = 0, n_bad = 0, nonzero = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        const double saved = p[i];
        memset(plus, 0, sizeof *plus);
        memset(minus, 0, sizeof *minus);
        p[i] = saved + FD_H;
        double fp = ref_loss(&m, p, x, y, ROWS, plus);
        p[i] = saved - FD_H;
        double fm = ref_loss(&m, p, x, y, ROWS, minus);
        p[i] = saved;
        if (memcmp(plus, minus, sizeof *plus) != 0) {
            skipped++;
            continue;
        }
        double fd = (fp - fm) / (2 * FD_H);
        double a = m.grads[i];
        double rel = fabs(a - fd) / fmax(1e-3, fabs(a) + fabs(fd));
        nonzero += fd != 0;
        if (!(rel <= REL_TOL))
            n_bad++;
        if (!(rel <= worst)) {
            worst = rel;
            worst_i = i;
            worst_fd = fd;
        }
    }
    CHECK_MSG(n_bad == 0,
              "%zu of %zu gradients differ from finite differences by more than %g (relative); "
              "worst: param %zu: backward %.9g, finite difference %.9g",
              n_bad, m.n_params, REL_TOL, worst_i, m.grads[worst_i], worst_fd);
    CHECK_MSG(skipped < m.n_params / 20, "%zu of %zu parameters skipped at ReLU kinks", skipped,
              m.n_params);
    CHECK_MSG(nonzero > m.n_params / 2, "only %zu of %zu finite differences are nonzero", nonzero,
              m.n_params);
    printf("gradcheck: %zu parameters, max relative error %.3g (param %zu), %zu skipped at kinks\n",
           m.n_params, worst, worst_i, skipped);
    free(p);
    free(base);
    free(plus);
    free(minus);
    mlp_free(&m);
}

/* rows == 0: every gradient is zero, whatever the buffer held before. */
static void test_zero_rows(void)
{
    Mlp m;
    Err e;
    if (!CHECK_MSG(mlp_init(&m, sizes, N_SIZES, ROWS, 0, &e) == ERR_OK, "mlp_init: %s", e.msg))
        return;
    mlp_init_params(&m, 5);
    for (size_t i = 0; i < m.n_params; i++)
        m.grads[i] = NAN;
    float x[20] = {0}, dlogits[10] = {0};
    mlp_forward(&m, x, 0);
    mlp_backward(&m, x, 0, dlogits);
    size_t nonzero = 0, first = m.n_params;
    for (size_t i = 0; i < m.n_params; i++)
        if (!(m.grads[i] == 0.0f) && nonzero++ == 0)
            first = i;
    CHECK_MSG(nonzero == 0, "rows == 0: expected all %zu gradients 0, got %zu nonzero (first: "
              "param %zu = %g)", m.n_params, nonzero, first,
              first < m.n_params ? m.grads[first] : 0.0f);
    mlp_free(&m);
}

/* A hidden unit that no row activates: its weight row, bias and outgoing weight column get
 * exactly zero gradient, while its neighbours do not. */
static void test_dead_unit(void)
{
    Mlp m;
    Err e;
    const size_t extra = 3; /* the caller's slots after the gradients: backward leaves them */
    if (!CHECK_MSG(mlp_init(&m, sizes, N_SIZES, ROWS, extra, &e) == ERR_OK, "mlp_init: %s",
                   e.msg))
        return;
    mlp_init_params(&m, 77);
    for (size_t i = 0; i < extra; i++)
        m.grads[m.n_params + i] = 7.0f + (float)i;
    const int dead = 3; /* unit 3 of the first hidden layer */
    const MlpLayer *L0 = &m.layer[0], *L1 = &m.layer[1];
    m.params[L0->b + dead] = -100.0f; /* inputs are in [-1, 1]: pre-activation < -90 */
    CheckRng rng = {4};
    float x[ROWS * 20], dlogits[ROWS * 10];
    uint8_t y[ROWS];
    for (int i = 0; i < ROWS * 20; i++)
        x[i] = (float)check_rng_uniform(&rng, -1, 1);
    for (int r = 0; r < ROWS; r++)
        y[r] = (uint8_t)(r % 10);
    for (size_t i = 0; i < m.n_params; i++)
        m.grads[i] = NAN;
    float_pass(&m, x, y, ROWS, dlogits);

    int dead_nonzero = 0, live_nonzero = 0;
    for (int i = 0; i < L0->in; i++) {
        dead_nonzero += m.grads[mlp_weight_index(L0, dead, i)] != 0.0f;
    }
    dead_nonzero += m.grads[L0->b + dead] != 0.0f;
    for (size_t i = 0; i < extra; i++)
        CHECK_MSG(m.grads[m.n_params + i] == 7.0f + (float)i,
                  "extra gradient slot %zu: expected %g, got %g", i, 7.0 + (double)i,
                  m.grads[m.n_params + i]);
    for (int o = 0; o < L1->out; o++) /* the dead unit's outgoing weights: column `dead` */
        dead_nonzero += m.grads[mlp_weight_index(L1, o, dead)] != 0.0f;
    CHECK_MSG(dead_nonzero == 0,
              "dead ReLU unit: expected its %d weight, bias and outgoing gradients all exactly 0, "
              "got %d nonzero", L0->in + 1 + L1->out, dead_nonzero);
    for (int r = 0; r < ROWS; r++)
        CHECK_MSG(m.act[0][r * L0->out + dead] == 0.0f, "dead unit active in row %d: %g", r,
                  m.act[0][r * L0->out + dead]);
    /* a unit that is alive for some rows has a nonzero weight gradient (else the check above
     * proves nothing) */
    int live = -1;
    for (int u = 0; u < L0->out && live < 0; u++)
        for (int r = 0; r < ROWS; r++)
            if (u != dead && m.act[0][r * L0->out + u] > 0.0f)
                live = u;
    if (CHECK_MSG(live >= 0, "no unit of the first hidden layer is active in any row")) {
        for (int i = 0; i < L0->in; i++)
            live_nonzero += m.grads[mlp_weight_index(L0, live, i)] != 0.0f;
        CHECK_MSG(live_nonzero > 0, "unit %d is active but has an all-zero weight gradient", live);
    }
    mlp_free(&m);
}

/* mlp_init starts at zero; mlp_init_params draws every layer uniformly in [-1/sqrt(in),
 * 1/sqrt(in)] (both signs, centred), the same for the same seed and different for another. */
static void test_init_params(void)
{
    Mlp m, m2;
    Err e;
    if (!CHECK_MSG(mlp_init(&m, sizes, N_SIZES, ROWS, 0, &e) == ERR_OK, "mlp_init: %s", e.msg))
        return;
    if (!CHECK_MSG(mlp_init(&m2, sizes, N_SIZES, ROWS, 0, &e) == ERR_OK, "mlp_init: %s", e.msg)) {
        mlp_free(&m);
        return;
    }
    size_t nonzero = 0;
    for (size_t i = 0; i < m.n_params; i++)
        nonzero += m.params[i] != 0.0f;
    CHECK_MSG(nonzero == 0, "after mlp_init: expected all parameters 0, got %zu nonzero", nonzero);
    size_t want_params = 0;
    for (int l = 0; l + 1 < N_SIZES; l++)
        want_params += (size_t)sizes[l] * sizes[l + 1] + (size_t)sizes[l + 1];
    CHECK_INT_EQ(m.n_params, want_params);

    mlp_init_params(&m, 2024);
    for (int l = 0; l < m.n_layers; l++) {
        const MlpLayer *L = &m.layer[l];
        const double bound = 1.0 / sqrt((double)L->in);
        const size_t n = (size_t)L->in * L->out;
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        for (int part = 0; part < 2; part++) {
            const float *v = m.params + (part ? L->b : L->w);
            for (size_t i = 0; i < (part ? (size_t)L->out : n); i++) {
                lo = fmin(lo, v[i]);
                hi = fmax(hi, v[i]);
                sum += v[i];
            }
        }
        double mean = sum / (double)(n + L->out);
        /* float rounding of the bound: allow 1e-6 relative */
        CHECK_MSG(lo >= -bound * (1 + 1e-6) && hi <= bound * (1 + 1e-6),
                  "layer %d: parameters in [%.6g, %.6g], expected within +-%.6g", l, lo, hi, bound);
        /* >= 130 uniform draws: the extremes come within 20% of the bound, the mean within 25%
         * of it (5 standard deviations) */
        CHECK_MSG(lo < -0.8 * bound && hi > 0.8 * bound,
                  "layer %d: parameters span only [%.6g, %.6g] of +-%.6g", l, lo, hi, bound);
        CHECK_MSG(fabs(mean) < 0.25 * bound, "layer %d: mean %.6g, expected near 0 (bound %.6g)",
                  l, mean, bound);
    }
    mlp_init_params(&m2, 2024);
    CHECK_MSG(memcmp(m.params, m2.params, m.n_params * sizeof(float)) == 0,
              "mlp_init_params with the same seed gave different parameters");
    mlp_init_params(&m2, 2025);
    size_t same = 0;
    for (size_t i = 0; i < m.n_params; i++)
        same += m.params[i] == m2.params[i];
    CHECK_MSG(same < m.n_params / 100, "seeds 2024 and 2025 share %zu of %zu parameters", same,
              m.n_params);
    mlp_free(&m);
    mlp_free(&m2);
}

int main(void)
{
    gemm_init();
    test_init_params();
    test_finite_differences(0);
    test_finite_differences(1);
    test_zero_rows();
    test_dead_unit();
    return check_summary();
}
