/* fuzz_ckpt: libFuzzer target for the checkpoint reader (src/ckpt.c). Each input becomes a file
 * that ckpt_model_shape reads first; the model built from that shape (or, when there is none or
 * it is too large, the default 784-100-10) with config_defaults' optimizer, schedule and history
 * is then handed to ckpt_load (a whole --resume) and ckpt_load_model (--init-from, eval). The
 * reader must never crash, read or write out of bounds, leak or hit undefined behaviour in
 * mpitrain's code, whatever the file holds. */
#define _GNU_SOURCE /* mkstemps */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ckpt.h"

#define MAX_WIDTH 4096          /* a layer wider than this is not built */
#define MAX_PARAMS (1u << 20)   /* nor a model with more parameters */

/* The input goes into one temporary file, rewritten for each input. Not a memfd: HDF5 resolves
 * the real path of what it opens, and /proc/self/fd/N leads nowhere. tests/fuzz/run.sh points
 * TMPDIR at its own folder, so a file left by a crash is removed with it. */
static int fd = -1;
static char path[4096];

static void remove_input(void) { unlink(path); }

/* Open file descriptors of this process. An HDF5 file, group, dataset or attribute that ckpt
 * leaves open keeps the file open, so the count after an input must be the count before it. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (d == NULL)
        abort();
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* The widths ckpt_model_shape found, if the model is small enough to build. */
static int buildable(const int *sizes, int n)
{
    if (n < 2 || n - 1 > MLP_MAX_LAYERS)
        return 0;
    size_t params = 0;
    for (int i = 0; i < n; i++)
        if (sizes[i] < 1 || sizes[i] > MAX_WIDTH)
            return 0;
    for (int i = 0; i + 1 < n; i++)
        params += (size_t)sizes[i] * sizes[i + 1] + sizes[i + 1];
    return params <= MAX_PARAMS;
}

static void load(const int *sizes, int n)
{
    Err e;
    err_clear(&e);
    Config cfg;
    config_defaults(&cfg);
    Mlp m;
    Sgd sgd;
    if (mlp_init(&m, sizes, n, 1, 0, &e) != ERR_OK)
        abort(); /* buildable() said it fits */
    if (sgd_init(&sgd, m.n_params, cfg.momentum, cfg.dampening, cfg.weight_decay, cfg.nesterov,
                 &e) != ERR_OK)
        abort();
    Scheduler sched;
    sched_init(&sched, &cfg);
    Progress progress = {0};
    EpochStats *history = calloc((size_t)cfg.epochs, sizeof *history);
    if (history == NULL)
        abort();
    CkptState s = {.cfg = &cfg, .mlp = &m, .sgd = &sgd, .sched = &sched, .progress = &progress,
                   .history = history, .n_history = 0, .capacity = cfg.epochs, .world_size = 1};
    if (ckpt_load(path, &s, &e) == ERR_OK && (s.n_history < 0 || s.n_history > s.capacity))
        abort(); /* a load that succeeded must leave a history that fits */
    err_clear(&e);
    ckpt_load_model(path, &m, &e);
    free(history);
    sgd_free(&sgd);
    mlp_free(&m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ckpt_init(); /* HDF5 prints no error stacks */
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/fuzz-ckpt-XXXXXX.h5", tmp != NULL && tmp[0] ? tmp : "/tmp");
    fd = mkstemps(path, 3);
    if (fd < 0) {
        perror("fuzz_ckpt: creating the input file");
        abort();
    }
    atexit(remove_input);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz_ckpt: writing the input");
        abort();
    }
    static const int fallback[] = {784, 100, 10};
    int sizes[MLP_MAX_LAYERS + 2], n = 0, normalize = 0, fds = open_fds();
    Err e;
    err_clear(&e);
    if (ckpt_model_shape(path, sizes, MLP_MAX_LAYERS + 2, &n, &normalize, &e) == ERR_OK &&
        buildable(sizes, n))
        load(sizes, n);
    else
        load(fallback, 3);
    if (open_fds() != fds) {
        fprintf(stderr, "fuzz_ckpt: the checkpoint reader left the file (or an object in it) open\n");
        abort();
    }
    return 0;
}
