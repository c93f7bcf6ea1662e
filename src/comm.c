#include "comm.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <mpi.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* A barrier for the ranks of one node, in their shared memory: sense-reversing; a waiting rank
 * spins briefly, then sleeps on a futex until the last rank wakes it. When the node has more
 * ranks than cores it sleeps at once, handing its core to the ranks still computing instead of
 * burning its time slice. */
typedef struct NodeBarrier {
    _Atomic int count;
    _Atomic int sense;
    _Atomic int sleepers;
    char pad[52];
} NodeBarrier;

/* The gradient reduction. Within a node every rank writes its gradient straight into its slot
 * of shared memory, each rank sums its own slice over all slots (always in slot order, so every
 * rank gets the same bits) into the result, and every rank reads the result where it lies.
 * With one rank, or with plain MPI, the slot is private memory and the sum is made in place. */
typedef struct Reducer {
    CommShared shm;       /* barrier, then node_size slots, then the result */
    NodeBarrier *barrier;
    float *slot;          /* [node_size][stride] */
    float *result;        /* [stride] */
    float *private_slot;  /* [n]: the buffer when nothing is shared */
    size_t n;             /* floats per buffer; 0: not set up */
    size_t stride;        /* n rounded up to a cache line */
    int sense;            /* this rank's barrier sense */
    int spin;             /* pauses before sleeping: 0 when the node has more ranks than cores */
    _Atomic int *pids;    /* [node_size]: the process of each rank of the node */
    int watch_peers;      /* 1: a waiting rank checks every second that its peers live */
} Reducer;

static void reducer_free(Reducer *r);

struct CommImpl {
    MPI_Comm world;   /* a duplicate of MPI_COMM_WORLD, errors returned to us */
    MPI_Comm node;    /* ranks sharing memory (or a forced smaller group) */
    MPI_Comm leaders; /* the first rank of every node; MPI_COMM_NULL elsewhere */
    Reducer reducer;
    int plain_mpi;    /* 1: MPI_Allreduce instead of the node reduction */
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
    MPI_CHECK(MPI_Comm_split(impl->world, leader ? 0 : MPI_UNDEFINED, c->rank, &impl->leaders));
    const char *how = getenv("MPITRAIN_ALLREDUCE");
    impl->plain_mpi = how != NULL && strcmp(how, "mpi") == 0;
    if (impl->leaders != MPI_COMM_NULL)
        MPI_CHECK(MPI_Comm_set_errhandler(impl->leaders, MPI_ERRORS_RETURN));
    return ERR_OK;
}

void comm_finalize(Comm *c)
{
    if (c->impl != NULL) {
        reducer_free(&c->impl->reducer);
        if (c->impl->leaders != MPI_COMM_NULL)
            MPI_Comm_free(&c->impl->leaders);
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

static long futex_wait(_Atomic int *addr, int val, const struct timespec *timeout)
{
    return syscall(SYS_futex, (int *)addr, FUTEX_WAIT, val, timeout, NULL, 0);
}

static void futex_wake_all(_Atomic int *addr)
{
    syscall(SYS_futex, (int *)addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* A rank that died (SIGKILL, a crash) never reaches the barrier; its peers on the node would
 * wait for it forever if the launcher did not end the job. So a waiting rank looks every second,
 * and ends the job when a peer's process is gone. */
static void check_peers(Comm *c, Reducer *r)
{
    for (int q = 0; q < c->node_size; q++) {
        pid_t pid = atomic_load_explicit(&r->pids[q], memory_order_relaxed);
        if (q != c->node_rank && kill(pid, 0) != 0 && errno == ESRCH) {
            fprintf(stderr,
                    "mpitrain: rank %d: error: rank %d of this node (pid %ld) has died; "
                    "ending the job\n",
                    c->rank, c->rank - c->node_rank + q, (long)pid);
            comm_abort(c, ERR_RUNTIME);
        }
    }
}

static void node_barrier(Comm *c, Reducer *r)
{
    NodeBarrier *b = r->barrier;
    const int sense = r->sense = !r->sense;
    if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) == c->node_size - 1) {
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
        atomic_store_explicit(&b->sense, sense, memory_order_seq_cst);
        if (atomic_load_explicit(&b->sleepers, memory_order_seq_cst) > 0)
            futex_wake_all(&b->sense);
        return;
    }
    for (int i = 0; i < r->spin; i++) {
        if (atomic_load_explicit(&b->sense, memory_order_acquire) == sense)
            return;
        __builtin_ia32_pause();
    }
    const struct timespec second = {1, 0};
    atomic_fetch_add_explicit(&b->sleepers, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&b->sense, memory_order_seq_cst) != sense) {
        /* returns at once if sense changed already, after a second at most */
        if (futex_wait(&b->sense, !sense, &second) != 0 && errno == ETIMEDOUT && r->watch_peers)
            check_peers(c, r);
    }
    atomic_fetch_sub_explicit(&b->sleepers, 1, memory_order_relaxed);
}

void comm_use_plain_allreduce(Comm *c, int on) { c->impl->plain_mpi = on; }

static void reducer_free(Reducer *r)
{
    comm_shared_free(&r->shm);
    free(r->private_slot);
    memset(r, 0, sizeof *r);
}

float *comm_reduce_buffer(Comm *c, size_t n)
{
    Reducer *r = &c->impl->reducer;
    reducer_free(r);
    r->n = n;
    r->stride = (n + 15) / 16 * 16;
    if (c->size == 1 || c->impl->plain_mpi) {
        r->private_slot = calloc(r->stride, sizeof(float));
        if (r->private_slot == NULL) {
            fprintf(stderr, "mpitrain: rank %d: error: out of memory for the gradient buffer\n",
                    c->rank);
            comm_abort(c, ERR_RUNTIME);
        }
        return r->private_slot;
    }
    /* barrier | pids, padded to a cache line | slots | result */
    size_t pid_bytes = ((size_t)c->node_size * sizeof(int) + 63) / 64 * 64;
    size_t bytes = sizeof(NodeBarrier) + pid_bytes +
                   sizeof(float) * r->stride * ((size_t)c->node_size + 1);
    comm_shared_alloc(c, bytes, &r->shm);
    r->barrier = r->shm.ptr;
    r->pids = (_Atomic int *)(r->barrier + 1);
    r->slot = (float *)((char *)r->pids + pid_bytes);
    r->result = r->slot + r->stride * (size_t)c->node_size;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    r->spin = cores > 0 && c->node_size > cores ? 0 : 20000;
    if (c->node_rank == 0)
        memset(r->barrier, 0, sizeof *r->barrier);
    atomic_store(&r->pids[c->node_rank], (int)getpid());
    comm_shared_sync(c, &r->shm);
    /* watch the peers only where their processes can be seen (one pid namespace) */
    int visible = 1;
    for (int q = 0; q < c->node_size; q++)
        visible &= kill((pid_t)atomic_load(&r->pids[q]), 0) == 0 || errno != ESRCH;
    r->watch_peers = visible;
    return r->slot + r->stride * (size_t)c->node_rank;
}

const float *comm_reduce(Comm *c)
{
    Reducer *r = &c->impl->reducer;
    const size_t n = r->n;
    if (r->private_slot != NULL) {
        if (c->size > 1)
            MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, r->private_slot, (int)n, MPI_FLOAT, MPI_SUM,
                                    c->impl->world));
        return r->private_slot;
    }
    const int k = c->node_size;
    node_barrier(c, r); /* every slot written */
    /* this rank's slice, in whole cache lines */
    size_t per = (r->stride / 16 + (size_t)k - 1) / (size_t)k * 16;
    size_t lo = per * (size_t)c->node_rank, hi = lo + per < n ? lo + per : n;
    if (lo < hi) {
        /* slot 0 + slot 1, then + slot 2, ...: the same order on every node */
        float *restrict out = r->result;
        const float *restrict s0 = r->slot, *restrict s1 = r->slot + r->stride;
        if (k == 1)
            memcpy(out + lo, s0 + lo, (hi - lo) * sizeof(float));
        else
            for (size_t i = lo; i < hi; i++)
                out[i] = s0[i] + s1[i];
        for (int q = 2; q < k; q++) {
            const float *restrict in = r->slot + r->stride * (size_t)q;
            for (size_t i = lo; i < hi; i++)
                out[i] += in[i];
        }
    }
    node_barrier(c, r); /* the node's sum complete */
    if (c->n_nodes > 1) {
        /* between nodes: reduce to the first node, then broadcast, so every node ends with
         * the same bits (an allreduce need not promise that) */
        if (c->impl->leaders != MPI_COMM_NULL) {
            int lrank;
            MPI_CHECK(MPI_Comm_rank(c->impl->leaders, &lrank));
            MPI_CHECK(MPI_Reduce(lrank == 0 ? MPI_IN_PLACE : r->result, r->result, (int)n,
                                 MPI_FLOAT, MPI_SUM, 0, c->impl->leaders));
            MPI_CHECK(MPI_Bcast(r->result, (int)n, MPI_FLOAT, 0, c->impl->leaders));
        }
        node_barrier(c, r);
    }
    return r->result;
}

void comm_allreduce_sum(Comm *c, float *buf, size_t n)
{
    /* reduce, then broadcast: every rank receives the root's bits */
    if (c->size == 1)
        return;
    MPI_CHECK(MPI_Reduce(c->rank == 0 ? MPI_IN_PLACE : buf, buf, (int)n, MPI_FLOAT, MPI_SUM, 0,
                         c->impl->world));
    MPI_CHECK(MPI_Bcast(buf, (int)n, MPI_FLOAT, 0, c->impl->world));
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
