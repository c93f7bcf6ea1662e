/* metrics: what the user sees of a run: the per-epoch line on stdout, the live progress bar (only
 * when stdout is a terminal) and the JSON-lines metrics file. Rank 0 alone calls it. */
#ifndef MPITRAIN_METRICS_H
#define MPITRAIN_METRICS_H

#include <stdio.h>

#include "config.h"
#include "err.h"

/* Where the time of a step goes; each is timed on every rank. */
enum {
    PHASE_DATA,       /* uint8 rows to float rows */
    PHASE_COMPUTE,    /* forward, loss, backward */
    PHASE_ALLREDUCE,  /* the gradient allreduce, waiting for the slowest rank included */
    PHASE_OPTIMIZER,  /* scaling the gradient and the SGD step */
    PHASE_EVAL,       /* the test set, rank 0 */
    PHASE_CHECKPOINT, /* writing checkpoints, rank 0; the others wait in it */
    N_PHASES
};
extern const char *const metrics_phase_names[N_PHASES];

typedef struct EpochStats {
    int epoch;          /* 1-based */
    int epochs;
    long step;          /* optimizer steps since the start of the run */
    int complete;       /* 0 when --max-steps or a signal ended the epoch early */
    double lr;          /* the rate this epoch trained at */
    double train_loss;  /* mean over the epoch's samples */
    double test_loss;   /* mean over the test set */
    double test_acc;    /* percent */
    double seconds;     /* training time of the epoch, evaluation excluded */
    double eval_seconds;
    double samples_per_s;
    double phase[N_PHASES][3]; /* seconds in each phase this epoch: min, mean, max over ranks */
} EpochStats;

typedef struct Metrics {
    FILE *json;     /* NULL: no metrics file */
    int quiet;
    int progress;   /* draw the bar: stdout is a terminal and not quiet */
    double last_draw;
} Metrics;

/* Opens path for appending when it is not "" (a resumed run continues the same file). progress
 * is a ProgressMode: auto draws the bar only when stdout is known to be a terminal. */
int metrics_open(Metrics *m, const char *path, int quiet, int progress, Err *e);
void metrics_close(Metrics *m);

/* The epoch's line on stdout (unless quiet) and its object in the metrics file. */
void metrics_epoch(Metrics *m, const EpochStats *s);

/* Redraw the progress bar at most ten times a second; now is comm_time(). */
void metrics_progress(Metrics *m, int epoch, long step, long steps, double loss, double now);

/* The last line of a run, printed even when quiet. */
void metrics_final(Metrics *m, const EpochStats *s, double total_seconds);

/* The time of each phase over the whole run, min / mean / max over the ranks (not when quiet). */
void metrics_phases(Metrics *m, double phase[N_PHASES][3], int ranks, long steps);

/* This process's memory in MiB: peak resident set, and proportional set size now (shared pages
 * divided among the processes that map them); -1 where the system does not tell. */
void metrics_memory_self(double *peak_rss, double *pss);

/* The memory line: peak RSS min / mean / max over ranks, and the PSS of all ranks summed. */
void metrics_memory(Metrics *m, const double rss[3], double pss_total, int ranks);

#endif
