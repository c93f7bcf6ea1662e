/* allreduce_bench [N] [REPEAT]: microseconds per allreduce of N floats (default 79512: the
 * 784-100-10 gradient plus the loss and stop slots), through mpitrain's node reduction and
 * through plain MPI_Allreduce, in the same run. Rank 0 prints min / mean / max over ranks of the
 * mean time per call. */
#include <stdio.h>
#include <stdlib.h>

#include "comm.h"

static void run(Comm *c, size_t n, int repeat, int plain)
{
    comm_use_plain_allreduce(c, plain);
    float *buf = comm_reduce_buffer(c, n);
    for (size_t i = 0; i < n; i++)
        buf[i] = (float)c->rank;
    for (int i = 0; i < 50; i++) /* warm up */
        comm_reduce(c);
    comm_barrier(c);
    double in_reduce = 0, sink = 0;
    for (int i = 0; i < repeat; i++) {
        /* as in training: the whole buffer written before each reduction and the whole sum
         * read after it, so the data moves between the cores' caches as it does there; only
         * the reduction is timed */
        for (size_t j = 0; j < n; j++)
            buf[j] = (float)((i + j) & 1023);
        double t0 = comm_time();
        const float *sum = comm_reduce(c);
        in_reduce += comm_time() - t0;
        for (size_t j = 0; j < n; j += 16)
            sink += sum[j];
    }
    if (sink < 0)
        printf("impossible\n"); /* keeps the reads */
    double per = in_reduce / repeat, s[3];
    comm_min_avg_max(c, per, s);
    if (c->rank == 0)
        printf("%-26s ranks %d  nodes %d  %9.1f %9.1f %9.1f us/call\n",
               plain ? "MPI_Allreduce" : "node reduction (mpitrain)", c->size, c->n_nodes,
               1e6 * s[0], 1e6 * s[1], 1e6 * s[2]);
}

int main(int argc, char **argv)
{
    Comm c;
    Err e;
    if (comm_init(&c, &argc, &argv, &e) != ERR_OK) {
        fprintf(stderr, "allreduce_bench: %s\n", e.msg);
        return 1;
    }
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 79512;
    int repeat = argc > 2 ? atoi(argv[2]) : 2000;
    run(&c, n, repeat, 1);
    run(&c, n, repeat, 0);
    comm_finalize(&c);
    return 0;
}
