/* mlp: a multi-layer perceptron with ReLU between its linear layers. Parameters, gradients and
 * any buffer of the same layout (momentum) are one flat float array each, with named views;
 * forward and backward work on a batch of rows. It knows nothing of losses, optimizers or MPI. */
#ifndef MPITRAIN_MLP_H
#define MPITRAIN_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "gemm.h"

#define MLP_MAX_LAYERS 9 /* linear layers */

typedef struct MlpLayer {
    int in, out;
    int in_major; /* the weight is stored [in][out]: the first layer, so that a sparse input row
                     is a sum of weight rows; the others are [out][in] as nn.Linear's */
    size_t w; /* offset of the weight in a flat buffer (fcN.weight; mlp_weight_index maps, and
                 checkpoints hold PyTorch's [out][in] order) */
    size_t b; /* offset of the bias [out] (fcN.bias) */
} MlpLayer;

typedef struct Mlp {
    int n_layers;
    MlpLayer layer[MLP_MAX_LAYERS];
    size_t n_params;
    int max_rows;                      /* the largest batch forward/backward accept */
    float *params;                     /* [n_params]: fc1.weight, fc1.bias, fc2.weight, ... */
    float *grads;                      /* [n_params + grad_extra]: where backward writes: same
                                          layout, then the caller's extra slots, so one
                                          allreduce moves everything; own_grads or the
                                          caller's buffer (mlp_use_grads) */
    float *own_grads;                  /* the buffer mlp_init allocates */
    float *act[MLP_MAX_LAYERS];        /* act[l]: [max_rows][layer[l].out], output of layer l
                                          (after ReLU except the last: the logits) */
    float *delta[2];                   /* [max_rows][widest layer]: backward scratch */
    GemmSparse x_sparse;               /* the input rows' nonzeros, when mostly zeros */
    int x_is_sparse;                   /* the last forward took the sparse path */
} Mlp;

/* Where weight element [o][i] of layer L (PyTorch's fcN.weight[o][i]) is in a flat buffer. */
size_t mlp_weight_index(const MlpLayer *L, int o, int i);

/* Layer l's weight of the flat buffer buf in PyTorch's [out][in] order into torch, and back. */
void mlp_weight_to_torch(const Mlp *m, int l, const float *buf, float *torch);
void mlp_weight_from_torch(const Mlp *m, int l, const float *torch, float *buf);

/* sizes[0] inputs, sizes[n_sizes-1] outputs, hidden widths between; n_sizes - 1 linear layers.
 * Allocates everything; parameters start at zero (see mlp_init_params). */
int mlp_init(Mlp *m, const int *sizes, int n_sizes, int max_rows, size_t grad_extra, Err *e);
void mlp_free(Mlp *m);

/* Let backward write into buf [n_params + grad_extra] instead (for example memory the ranks
 * reduce in); the caller keeps it alive and frees it. */
void mlp_use_grads(Mlp *m, float *buf);

/* PyTorch's default for nn.Linear: weights and biases uniform in [-1/sqrt(in), 1/sqrt(in)],
 * drawn from the counter-based generator keyed by seed. */
void mlp_init_params(Mlp *m, uint64_t seed);

/* The name of layer l's weight ("fc1.weight", ...) or bias ("fc1.bias"). */
void mlp_param_name(int l, int bias, char *buf, size_t len);

/* Forward x [rows][in] (rows <= max_rows); returns the logits [rows][out] (m->act[last]). When
 * most of x is zeros (MNIST's pixels without --normalize), the first layer multiplies only its
 * nonzeros. */
float *mlp_forward(Mlp *m, const float *x, int rows);

/* Backward after mlp_forward of the same x: dlogits [rows][out] is the gradient of the loss with
 * respect to the logits (it is overwritten). Writes the gradient of every parameter into
 * m->grads (not accumulated); rows == 0 gives zeros. */
void mlp_backward(Mlp *m, const float *x, int rows, float *dlogits);

#endif
