/* sched: learning-rate schedules stepped once per epoch, each with torch.optim.lr_scheduler's
 * exact arithmetic (the chainable forms, in double), plus an optional linear warm-up. It holds
 * the rate and the state a checkpoint needs; it does not touch the optimizer. */
#ifndef MPITRAIN_SCHED_H
#define MPITRAIN_SCHED_H

#include "config.h"

typedef struct Scheduler {
    SchedType type;
    double base_lr;
    double lr;      /* the rate the next epoch trains at */
    int last_epoch; /* steps taken: the epoch that trains at lr */

    /* settings, from the configuration */
    int warmup_epochs; /* epochs 0..W-1 train at base_lr * (e + 1) / W; the schedule's own
                          epoch 0 is epoch W */
    int step_size;
    double gamma;
    int milestones[CONFIG_MAX_MILESTONES]; /* counted from the end of the warm-up */
    int n_milestones;
    int t_max;
    double eta_min;
    PlateauMode mode;
    ThresholdMode threshold_mode;
    double factor, threshold, min_lr, eps;
    int patience, cooldown;

    /* ReduceLROnPlateau's state */
    double best;          /* +inf (min) or -inf (max) until the first metric */
    int num_bad_epochs;
    int cooldown_counter;
} Scheduler;

/* The schedule the configuration asks for, at epoch 0, from config_base_lr. t_max 0 means
 * epochs - warmup. */
void sched_init(Scheduler *s, const Config *cfg);

/* After an epoch: the metric (only ReduceLROnPlateau reads it) moves the schedule to the next
 * epoch. Returns the rate of the next epoch (also s->lr). */
double sched_step(Scheduler *s, double metric);

#endif
