/* ckpt_compare A.h5 B.h5 TOL: compares the /model weights of two HDF5 files. Prints the largest
 * absolute difference and the normwise relative one, max|a-b| / max|a|; exits 0 when that is
 * <= TOL (TOL 0: the weights must be bit-identical), 1 when not, 2 when a file can't be read. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"

static int load(const char *path, Mlp *m)
{
    Err e;
    err_clear(&e);
    int sizes[MLP_MAX_LAYERS + 1], n = 0, normalize = 0;
    if (ckpt_model_shape(path, sizes, MLP_MAX_LAYERS + 1, &n, &normalize, &e) != ERR_OK ||
        mlp_init(m, sizes, n, 1, 0, &e) != ERR_OK || ckpt_load_model(path, m, &e) != ERR_OK) {
        fprintf(stderr, "ckpt_compare: %s\n", e.msg);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ckpt_compare A.h5 B.h5 TOL\n");
        return 2;
    }
    ckpt_init();
    Mlp a, b;
    if (load(argv[1], &a) != 0 || load(argv[2], &b) != 0)
        return 2;
    if (a.n_params != b.n_params || a.n_layers != b.n_layers) {
        fprintf(stderr, "ckpt_compare: the two models have different shapes\n");
        return 1;
    }
    double tol = atof(argv[3]), max_abs = 0, max_a = 0;
    for (size_t i = 0; i < a.n_params; i++) {
        double d = fabs((double)a.params[i] - b.params[i]);
        max_abs = d > max_abs ? d : max_abs;
        max_a = fabs(a.params[i]) > max_a ? fabs(a.params[i]) : max_a;
    }
    double rel = max_a > 0 ? max_abs / max_a : max_abs;
    int identical = memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0;
    printf("%zu weights: max abs diff %.3g, normwise relative %.3g, %s\n", a.n_params, max_abs,
           rel, identical ? "bit-identical" : "not bit-identical");
    int ok = tol == 0 ? identical : rel <= tol;
    mlp_free(&a);
    mlp_free(&b);
    return ok ? 0 : 1;
}
