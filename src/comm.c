#include "comm.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

struct CommImpl {
    MPI_Comm world; /* a duplicate of MPI_COMM_WORLD, errors returned to us */
    MPI_Comm node;  /* ranks sharing memory (or a forced smaller group) */
};

/* Report a failed MPI call with its place and MPI's own words, then end the job. */
#define MPI_CHECK(call)                                                                        \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != MPI_SUCCESS)                                                                \
            mpi_fail(rc_, #call, __FILE__, __LINE__);                                          \
    } while (0)

static void mpi_fail(int rc, const char *what, const char *file, int line)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0, rank = -1;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", rc);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, "mpitrain: rank %d: error: %s failed at %s:%d: %s\n", rank, what, file, line,
            msg);
    MPI_Abort(MPI_COMM_WORLD, ERR_RUNTIME);
    exit(ERR_RUNTIME);
}

int comm_init(Comm *c, int *argc, char ***argv, Err *e)
{
    c->impl = NULL;
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return err_set(e, ERR_RUNTIME, "MPI_Init failed");
    CommImpl *impl = calloc(1, sizeof *impl);
    if (impl == NULL) {
        fprintf(stderr, "mpitrain: error: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, ERR_RUNTIME);
    }
    c->impl = impl;
    MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &impl->world));
    MPI_CHECK(MPI_Comm_set_errhandler(impl->world, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(impl->world, &c->rank));
    MPI_CHECK(MPI_Comm_size(impl->world, &c->size));

    MPI_Comm shared;
    MPI_CHECK(MPI_Comm_split_type(impl->world, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL,
                                  &shared));
    int shared_rank;
    MPI_CHECK(MPI_Comm_rank(shared, &shared_rank));
    const char *force = getenv("MPITRAIN_NODE_SIZE");
    int group = force != NULL ? atoi(force) : 0;
    if (group > 0) {
        MPI_CHECK(MPI_Comm_split(shared, shared_rank / group, shared_rank, &impl->node));
        MPI_CHECK(MPI_Comm_free(&shared));
    } else {
        impl->node = shared;
    }
    MPI_CHECK(MPI_Comm_set_errhandler(impl->node, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(impl->node, &c->node_rank));
    MPI_CHECK(MPI_Comm_size(impl->node, &c->node_size));
    int leader = c->node_rank == 0;
    MPI_CHECK(MPI_Allreduce(&leader, &c->n_nodes, 1, MPI_INT, MPI_SUM, impl->world));
    return ERR_OK;
}

void comm_finalize(Comm *c)
{
    if (c->impl != NULL) {
        MPI_Comm_free(&c->impl->node);
        MPI_Comm_free(&c->impl->world);
        free(c->impl);
        c->impl = NULL;
    }
    MPI_Finalize();
}

int comm_agree(Comm *c, Err *e)
{
    /* One integer carries both who failed first and how: the lowest failing rank has the
     * largest key, and the code sits in the low bits. */
    int key = e->code != ERR_OK ? (c->size - c->rank) * 8 + e->code : 0;
    int top = 0;
    MPI_CHECK(MPI_Allreduce(&key, &top, 1, MPI_INT, MPI_MAX, c->impl->world));
    if (top == 0)
        return ERR_OK;
    int first = c->size - top / 8;
    if (c->rank != first) {
        e->code = top % 8;
        e->msg[0] = '\0';
    }
    return e->code;
}

void comm_allreduce_sum(Comm *c, float *buf, size_t n)
{
    if (c->size > 1)
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, c->impl->world));
}

void comm_allreduce_sum_double(Comm *c, double *buf, size_t n)
{
    if (c->size > 1)
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, c->impl->world));
}

void comm_bcast(Comm *c, void *buf, size_t bytes, int root)
{
    if (c->size > 1)
        MPI_CHECK(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, c->impl->world));
}

void comm_barrier(Comm *c) { MPI_CHECK(MPI_Barrier(c->impl->world)); }

void comm_min_avg_max(Comm *c, double value, double out[3])
{
    double mm[2] = {-value, value};
    double res[2], sum;
    MPI_CHECK(MPI_Allreduce(mm, res, 2, MPI_DOUBLE, MPI_MAX, c->impl->world));
    MPI_CHECK(MPI_Allreduce(&value, &sum, 1, MPI_DOUBLE, MPI_SUM, c->impl->world));
    out[0] = -res[0];
    out[1] = sum / c->size;
    out[2] = res[1];
}

int comm_same_everywhere(Comm *c, const void *buf, size_t bytes)
{
    /* FNV-1a over the bytes; equal hashes everywhere means equal bytes but for a 2^-64 chance */
    unsigned long long h = 1469598103934665603ULL;
    const unsigned char *p = buf;
    for (size_t i = 0; i < bytes; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    unsigned long long lo, hi;
    MPI_CHECK(MPI_Allreduce(&h, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, c->impl->world));
    MPI_CHECK(MPI_Allreduce(&h, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, c->impl->world));
    return lo == hi;
}

double comm_time(void) { return MPI_Wtime(); }

void comm_shared_alloc(Comm *c, size_t leader_bytes, CommShared *s)
{
    MPI_Win win;
    void *base = NULL;
    MPI_Aint mine = c->node_rank == 0 ? (MPI_Aint)leader_bytes : 0;
    MPI_CHECK(MPI_Win_allocate_shared(mine, 1, MPI_INFO_NULL, c->impl->node, &base, &win));
    MPI_Aint size;
    int disp;
    MPI_CHECK(MPI_Win_shared_query(win, 0, &size, &disp, &s->ptr));
    MPI_CHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, win));
    s->bytes = (size_t)size;
    s->win = malloc(sizeof win);
    if (s->win == NULL) {
        fprintf(stderr, "mpitrain: error: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, ERR_RUNTIME);
    }
    *(MPI_Win *)s->win = win;
}

void comm_shared_sync(Comm *c, CommShared *s)
{
    MPI_Win win = *(MPI_Win *)s->win;
    MPI_CHECK(MPI_Win_sync(win));
    MPI_CHECK(MPI_Barrier(c->impl->node));
    MPI_CHECK(MPI_Win_sync(win));
}

void comm_shared_free(CommShared *s)
{
    if (s->win == NULL)
        return;
    MPI_Win *win = (MPI_Win *)s->win;
    MPI_Win_unlock_all(*win);
    MPI_Win_free(win);
    free(s->win);
    s->win = NULL;
    s->ptr = NULL;
    s->bytes = 0;
}

void comm_abort(Comm *c, int code)
{
    (void)c;
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}
