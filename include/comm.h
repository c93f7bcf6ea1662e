/* comm: everything that talks to MPI: ranks and nodes, the gradient allreduce, broadcasts,
 * agreeing on errors, node-shared memory and timers. No other file includes mpi.h. A failed MPI
 * call ends the whole job through MPI_Abort: agreement is impossible after one. */
#ifndef MPITRAIN_COMM_H
#define MPITRAIN_COMM_H

#include <stddef.h>

#include "err.h"

typedef struct CommImpl CommImpl;

typedef struct Comm {
    int rank, size;           /* in the world */
    int node_rank, node_size; /* in this rank's node (ranks sharing memory) */
    int n_nodes;
    CommImpl *impl;
} Comm;

/* Memory that every rank of a node maps; the node's first rank allocates it. */
typedef struct CommShared {
    void *ptr;
    size_t bytes;
    void *win; /* the MPI window, owned by comm */
} CommShared;

/* Start MPI and find the nodes. The environment variable MPITRAIN_NODE_SIZE=K splits each
 * node into groups of K ranks that act as separate nodes (to test the multi-node path on one
 * machine). Returns ERR_RUNTIME if MPI cannot start. */
int comm_init(Comm *c, int *argc, char ***argv, Err *e);
void comm_finalize(Comm *c);

/* Collective: every rank passes its own Err; afterwards every rank holds the same code (the
 * lowest failing rank's), and only that rank keeps its message (others get ""). Returns the
 * code. */
int comm_agree(Comm *c, Err *e);

/* The gradient reduction, in two calls. comm_reduce_buffer (collective) sets up and returns
 * this rank's buffer of n floats, to write its contribution into (it stays valid until the next
 * comm_reduce_buffer or comm_finalize). comm_reduce (collective) sums all ranks' buffers and
 * returns the sum, the same bits on every rank, valid until the next comm_reduce; the rank's
 * own buffer may be written again as soon as it returns. Within a node the ranks sum in their
 * shared memory, each rank its own slice; between nodes the first rank of each node reduces
 * and broadcasts over MPI. */
float *comm_reduce_buffer(Comm *c, size_t n);
const float *comm_reduce(Comm *c);

/* 1: comm_reduce_buffer from now on sets up plain MPI_Allreduce instead of the shared-memory
 * reduction (for comparison; MPITRAIN_ALLREDUCE=mpi sets it at start). */
void comm_use_plain_allreduce(Comm *c, int on);

/* In-place sum over all ranks (reduce, then broadcast); every rank receives the same bits. */
void comm_allreduce_sum(Comm *c, float *buf, size_t n);

/* In-place sum of doubles (small statistics). */
void comm_allreduce_sum_double(Comm *c, double *buf, size_t n);

void comm_bcast(Comm *c, void *buf, size_t bytes, int root);
void comm_barrier(Comm *c);

/* Minimum, mean and maximum of one value over all ranks, known to every rank. */
void comm_min_avg_max(Comm *c, double value, double out[3]);

/* Collective: 1 when buf holds the same bytes on every rank, else 0 (compares a 64-bit hash). */
int comm_same_everywhere(Comm *c, const void *buf, size_t bytes);

/* Seconds since an arbitrary point (MPI_Wtime). */
double comm_time(void);

/* Collective over the node: the node's first rank allocates leader_bytes, every rank of the
 * node gets the same memory in s. */
void comm_shared_alloc(Comm *c, size_t leader_bytes, CommShared *s);
/* Collective over the node: what the node's ranks wrote becomes visible to all of them. */
void comm_shared_sync(Comm *c, CommShared *s);
void comm_shared_free(CommShared *s);

/* Last resort: end every rank of the job with this exit code. */
void comm_abort(Comm *c, int code);

#endif
