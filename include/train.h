/* train: the loop that ties the modules together: load the data, build the model, then for each
 * epoch walk the global batches (forward, backward, one allreduce, SGD step), evaluate on rank 0,
 * step the schedule and broadcast the rate, checkpoint. It decides what errors end the run. */
#ifndef MPITRAIN_TRAIN_H
#define MPITRAIN_TRAIN_H

#include "comm.h"
#include "config.h"
#include "err.h"

/* Collective. Train as cfg says. Returns the exit code every rank agrees on (ERR_OK, or an error
 * with the message on exactly one rank). */
int train_run(const Config *cfg, Comm *c, Err *e);

/* Collective. `mpitrain eval`: load cfg->checkpoint, print test loss, accuracy, per-class
 * accuracy and the confusion matrix (rank 0). */
int train_eval(const Config *cfg, Comm *c, Err *e);

#endif
