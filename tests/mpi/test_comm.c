/* test_comm: the MPI seam. Run on 3 or more ranks; with MPITRAIN_NODE_SIZE=2 on 4 ranks it
 * checks the forced node grouping too. Every rank checks; rank 0 prints the tally. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"

static int failures = 0, checks = 0;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        checks++;                                                                              \
        if (!(cond)) {                                                                         \
            failures++;                                                                        \
            fprintf(stderr, "FAIL %s:%d (rank %d): ", __FILE__, __LINE__, c.rank);             \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
        }                                                                                      \
    } while (0)

int main(int argc, char **argv)
{
    Comm c;
    Err e;
    err_clear(&e);
    if (comm_init(&c, &argc, &argv, &e) != ERR_OK) {
        fprintf(stderr, "comm_init: %s\n", e.msg);
        return 1;
    }
    if (c.size < 3) {
        if (c.rank == 0)
            fprintf(stderr, "FAIL: test_comm needs at least 3 ranks, got %d\n", c.size);
        comm_finalize(&c);
        return 1;
    }

    /* nodes: one machine is one node unless MPITRAIN_NODE_SIZE splits it */
    const char *force = getenv("MPITRAIN_NODE_SIZE");
    int group = force ? atoi(force) : 0;
    if (group > 0) {
        int expect = c.size % group != 0 && c.rank >= c.size / group * group ? c.size % group : group;
        CHECK(c.node_size == expect, "node_size %d, expected %d", c.node_size, expect);
        CHECK(c.n_nodes == (c.size + group - 1) / group, "n_nodes %d", c.n_nodes);
        CHECK(c.node_rank == c.rank % group, "node_rank %d", c.node_rank);
    } else {
        CHECK(c.n_nodes == 1, "n_nodes %d on one machine", c.n_nodes);
        CHECK(c.node_size == c.size && c.node_rank == c.rank, "node %d/%d", c.node_rank,
              c.node_size);
    }

    /* agreement: nothing failed */
    err_clear(&e);
    CHECK(comm_agree(&c, &e) == ERR_OK && e.code == ERR_OK, "agree on success gave %d", e.code);

    /* agreement: ranks 1 and 2 fail differently; rank 1's code wins, only rank 1 speaks */
    err_clear(&e);
    if (c.rank == 1)
        err_set(&e, ERR_INPUT, "rank one failed");
    if (c.rank == 2)
        err_set(&e, ERR_RUNTIME, "rank two failed");
    int rc = comm_agree(&c, &e);
    CHECK(rc == ERR_INPUT && e.code == ERR_INPUT, "agreed code %d, expected %d", rc, ERR_INPUT);
    CHECK(c.rank == 1 ? strcmp(e.msg, "rank one failed") == 0 : e.msg[0] == '\0',
          "message on rank %d: '%s'", c.rank, e.msg);

    /* allreduce: every rank receives the same bits, close to the exact sum */
    enum { N = 10007 };
    float *v = malloc(N * sizeof *v);
    double *exact = malloc(N * sizeof *exact);
    for (int i = 0; i < N; i++) {
        exact[i] = 0;
        for (int r = 0; r < c.size; r++)
            exact[i] += (float)(sin(i * 0.37 + r) * pow(10.0, (i + r) % 7 - 3));
        v[i] = (float)(sin(i * 0.37 + c.rank) * pow(10.0, (i + c.rank) % 7 - 3));
    }
    comm_allreduce_sum(&c, v, N);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double scale = 0;
        for (int r = 0; r < c.size; r++)
            scale += fabs(sin(i * 0.37 + r) * pow(10.0, (i + r) % 7 - 3));
        double err = fabs(v[i] - exact[i]) / (scale > 0 ? scale : 1);
        worst = err > worst ? err : worst;
    }
    CHECK(worst < 1e-6 * c.size, "allreduce sum off by %.3g (relative to the sum of |terms|)",
          worst);
    CHECK(comm_same_everywhere(&c, v, N * sizeof *v), "allreduce results differ between ranks");

    /* the gradient reduction: written in place, summed, the same bits everywhere; twice, to
     * show the buffers can be reused at once, and once more through plain MPI */
    for (int plain = 0; plain < 2; plain++) {
        comm_use_plain_allreduce(&c, plain);
        float *slot = comm_reduce_buffer(&c, N);
        for (int round = 0; round < 2; round++) {
            for (int i = 0; i < N; i++)
                slot[i] = (float)(sin(i * 0.37 + c.rank) * pow(10.0, (i + c.rank) % 7 - 3)) *
                          (float)(round + 1);
            const float *sum = comm_reduce(&c);
            double worst_r = 0;
            for (int i = 0; i < N; i++) {
                double scale = 0;
                for (int r = 0; r < c.size; r++)
                    scale += fabs(sin(i * 0.37 + r) * pow(10.0, (i + r) % 7 - 3));
                double err = fabs(sum[i] - exact[i] * (round + 1)) / (scale > 0 ? scale : 1);
                worst_r = err > worst_r ? err : worst_r;
            }
            CHECK(worst_r < 2e-6 * c.size, "reduction (plain %d, round %d) off by %.3g", plain,
                  round, worst_r);
            CHECK(comm_same_everywhere(&c, sum, N * sizeof *sum),
                  "reduction (plain %d, round %d) differs between ranks", plain, round);
        }
    }
    comm_use_plain_allreduce(&c, 0);

    /* same_everywhere notices one flipped bit on one rank */
    if (c.rank == c.size - 1)
        ((unsigned char *)v)[N * sizeof *v / 2] ^= 1;
    CHECK(!comm_same_everywhere(&c, v, N * sizeof *v), "a flipped bit went unnoticed");
    free(v);
    free(exact);

    /* statistics over ranks */
    double mam[3];
    comm_min_avg_max(&c, (double)c.rank, mam);
    CHECK(mam[0] == 0 && mam[2] == c.size - 1 && fabs(mam[1] - (c.size - 1) / 2.0) < 1e-12,
          "min/avg/max %g %g %g", mam[0], mam[1], mam[2]);

    /* node-shared memory: the node's first rank writes, all of the node read */
    CommShared s;
    comm_shared_alloc(&c, 4096, &s);
    CHECK(s.bytes == 4096 && s.ptr != NULL, "shared segment of %zu bytes", s.bytes);
    if (c.node_rank == 0 && s.ptr != NULL)
        for (int i = 0; i < 1024; i++)
            ((int *)s.ptr)[i] = i * 7 + c.rank;
    comm_shared_sync(&c, &s);
    int leader = c.rank - c.node_rank; /* node ranks follow world ranks here */
    int bad = 0;
    for (int i = 0; s.ptr != NULL && i < 1024; i++)
        bad += ((int *)s.ptr)[i] != i * 7 + leader;
    CHECK(bad == 0, "%d values in shared memory differ from the leader's", bad);
    comm_shared_free(&s);

    double tally[2] = {checks, failures};
    comm_allreduce_sum_double(&c, tally, 2);
    if (c.rank == 0)
        printf("%.0f passed, %.0f failed\n", tally[0] - tally[1], tally[1]);
    comm_finalize(&c);
    return tally[1] == 0 ? 0 : 1;
}
