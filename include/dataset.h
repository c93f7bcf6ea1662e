/* dataset: MNIST images and labels in memory, held once per node; the sample order of each
 * epoch; how a global batch is split over the ranks; uint8 rows to float rows. It does no
 * arithmetic on the model. */
#ifndef MPITRAIN_DATASET_H
#define MPITRAIN_DATASET_H

#include <stdint.h>

#include "comm.h"
#include "err.h"

#define DATASET_ROWS 28
#define DATASET_COLS 28
#define DATASET_PIXELS (DATASET_ROWS * DATASET_COLS)
#define DATASET_CLASSES 10

typedef enum { SPLIT_TRAIN, SPLIT_TEST } Split;

typedef struct Dataset {
    int n[2];                /* samples, indexed by Split */
    const uint8_t *images[2]; /* [n][784], row-major 28x28, 0..255 */
    const uint8_t *labels[2]; /* [n], 0..9 */
    CommShared shm;          /* the node-shared memory that holds all four arrays */
} Dataset;

/* Collective. The first rank of each node reads and validates train-images-idx3-ubyte,
 * train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each raw or
 * .gz) from dir into memory its node shares; all ranks agree on the outcome. On failure every
 * rank returns the same code and one rank holds the message. */
int dataset_load(Dataset *d, Comm *c, const char *dir, Err *e);
void dataset_free(Dataset *d);

/* The sample order of an epoch: a permutation of 0..n-1 that depends on (seed, epoch) only, or
 * 0..n-1 itself when shuffle is 0. */
void dataset_order(uint32_t *order, int n, uint64_t seed, int epoch, int shuffle);

/* The part of a global batch of `batch` samples that rank `rank` of `size` takes: `count`
 * samples starting at `first`. The first batch % size ranks take one more. */
void dataset_split(int batch, int rank, int size, int *first, int *count);

/* Rows for samples order[0..n-1] (or first..first+n-1 of the split when order is NULL):
 * pixels / 255 (then (p - 0.1307) / 0.3081 when normalize) into x [n][784], labels into y [n]. */
void dataset_gather(const Dataset *d, Split split, const uint32_t *order, int first, int n,
                    int normalize, float *x, uint8_t *y);

#endif
