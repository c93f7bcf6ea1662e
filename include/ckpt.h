/* ckpt: checkpoint files in HDF5. Writes them atomically (temporary file, fsync, rename), finds
 * the newest valid one, verifies and loads them, and reads /model weights from any HDF5 file laid
 * out like a PyTorch state_dict. No other file includes hdf5.h. It reads and writes the state it
 * is handed; train decides when, and on which rank. */
#ifndef MPITRAIN_CKPT_H
#define MPITRAIN_CKPT_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "metrics.h"
#include "mlp.h"
#include "sched.h"
#include "sgd.h"

#define CKPT_FORMAT "mpitrain-checkpoint"
#define CKPT_FORMAT_VERSION 1

/* Where a run stands: the position in the sequence of global batches and the running sums of the
 * epoch in progress. train advances it; a checkpoint saves it. */
typedef struct Progress {
    int epoch;        /* the epoch in progress (0-based) */
    long step;        /* steps of that epoch already taken */
    long global_step; /* steps since the start of the run */
    double loss_sum;  /* summed train loss of the epoch's samples so far */
    long samples;     /* samples of the epoch so far */
} Progress;

/* The state one checkpoint holds. ckpt_write reads it; ckpt_load fills it (mlp, sgd and the
 * history array must already be allocated for the configured model and cfg->epochs). */
typedef struct CkptState {
    const Config *cfg;
    Mlp *mlp;
    Sgd *sgd;
    Scheduler *sched;
    Progress *progress;
    EpochStats *history; /* [capacity]: complete epochs so far */
    int n_history;
    int capacity;
    int world_size;
} CkptState;

/* Silence HDF5's own error printing (errors come back as one line in Err). Call once. */
void ckpt_init(void);

/* Make dir if needed and prove it writable by creating and removing a file in it. */
int ckpt_check_dir(const char *dir, Err *e);

/* Take dir/.lock for this process (an flock, released by ckpt_unlock or when the process
 * ends, however it ends), so that two jobs never write into one folder; then remove the
 * temporary files a crashed writer may have left. ERR_INPUT naming the holder's pid when another
 * process holds it. *fd receives the lock's descriptor. */
int ckpt_lock(const char *dir, int *fd, Err *e);
void ckpt_unlock(int fd);

/* Write dir/step-<global step>.h5 through a temporary file in dir, then remove all but the keep
 * newest checkpoints. On failure nothing but the temporary file is touched, and it is removed.
 * The final path goes into path (len bytes). */
int ckpt_write(const char *dir, int keep, const CkptState *s, char *path, size_t len, Err *e);

/* Load a checkpoint into s after checking that it is one, of a known format version, for the
 * same architecture. ERR_INPUT for a file that is not a valid checkpoint of this model. */
int ckpt_load(const char *path, CkptState *s, Err *e);

/* The newest checkpoint in dir that loads; corrupt ones are skipped with a warning line on
 * stderr. Returns ERR_OK with path set, ERR_OK with path "" when dir has no checkpoint, or the
 * error of a checkpoint that is readable but unusable (another architecture), or ERR_INPUT
 * when every checkpoint there is corrupt. */
int ckpt_load_latest(const char *dir, CkptState *s, char *path, size_t len, Err *e);

/* The layer widths stored under /model of an HDF5 file (fc1.weight, fc2.weight, ...):
 * sizes[0] inputs ... sizes[n-1] outputs; *n_sizes set. And the file's normalize option if it
 * records one (else 0). */
int ckpt_model_shape(const char *path, int *sizes, int max, int *n_sizes, int *normalize,
                     Err *e);

/* Read /model/fcN.weight and fcN.bias into m->params; shapes must match m. */
int ckpt_load_model(const char *path, Mlp *m, Err *e);

#endif
