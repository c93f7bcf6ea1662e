/* metrics: what the user sees of a run: the per-epoch line on stdout, the live progress bar (only
 * when stdout is a terminal) and the JSON-lines metrics file. Rank 0 alone calls it. */
#ifndef MPITRAIN_METRICS_H
#define MPITRAIN_METRICS_H

#include <stdio.h>

#include "config.h"
#include "err.h"

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

#endif
