#include "sched.h"

#include <math.h>
#include <string.h>

void sched_init(Scheduler *s, const Config *cfg)
{
    memset(s, 0, sizeof *s);
    s->type = cfg->sched;
    s->base_lr = config_base_lr(cfg);
    s->warmup_epochs = cfg->warmup_epochs;
    s->lr = s->warmup_epochs > 0 ? s->base_lr / s->warmup_epochs : s->base_lr;
    s->step_size = cfg->step_size;
    s->gamma = cfg->gamma;
    memcpy(s->milestones, cfg->milestones, sizeof s->milestones);
    s->n_milestones = cfg->n_milestones;
    s->t_max = cfg->t_max > 0 ? cfg->t_max : cfg->epochs - cfg->warmup_epochs;
    if (s->t_max < 1)
        s->t_max = 1;
    s->eta_min = cfg->eta_min;
    s->mode = cfg->plateau_mode;
    s->threshold_mode = cfg->threshold_mode;
    s->factor = cfg->factor;
    s->threshold = cfg->threshold;
    s->min_lr = cfg->min_lr;
    s->eps = cfg->plateau_eps;
    s->patience = cfg->patience;
    s->cooldown = cfg->cooldown;
    s->best = s->mode == PLATEAU_MIN ? INFINITY : -INFINITY;
}

/* ReduceLROnPlateau.is_better */
static int is_better(const Scheduler *s, double a)
{
    if (s->mode == PLATEAU_MIN)
        return s->threshold_mode == THRESHOLD_REL ? a < s->best * (1.0 - s->threshold)
                                                  : a < s->best - s->threshold;
    return s->threshold_mode == THRESHOLD_REL ? a > s->best * (s->threshold + 1.0)
                                              : a > s->best + s->threshold;
}

/* ReduceLROnPlateau.step */
static void plateau_step(Scheduler *s, double metric)
{
    if (is_better(s, metric)) {
        s->best = metric;
        s->num_bad_epochs = 0;
    } else {
        s->num_bad_epochs++;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->num_bad_epochs = 0;
    }
    if (s->num_bad_epochs > s->patience) {
        double new_lr = fmax(s->lr * s->factor, s->min_lr);
        if (s->lr - new_lr > s->eps)
            s->lr = new_lr;
        s->cooldown_counter = s->cooldown;
        s->num_bad_epochs = 0;
    }
}

/* The chainable get_lr of the epoch-driven schedules, at the schedule's own epoch e >= 1. */
static double chain_lr(const Scheduler *s, int e)
{
    double lr = s->lr;
    switch (s->type) {
    case SCHED_STEP:
        return e % s->step_size == 0 ? lr * s->gamma : lr;
    case SCHED_MULTISTEP: {
        int count = 0;
        for (int i = 0; i < s->n_milestones; i++)
            count += s->milestones[i] == e;
        return count > 0 ? lr * pow(s->gamma, count) : lr;
    }
    case SCHED_EXPONENTIAL:
        return lr * s->gamma;
    case SCHED_COSINE: {
        const double pi = 3.141592653589793, t = s->t_max;
        if ((e - 1 - s->t_max) % (2 * s->t_max) == 0)
            return lr + (s->base_lr - s->eta_min) * (1 - cos(pi / t)) / 2;
        return (1 + cos(pi * e / t)) / (1 + cos(pi * (e - 1) / t)) * (lr - s->eta_min) +
               s->eta_min;
    }
    case SCHED_NONE:
    case SCHED_PLATEAU:
        break;
    }
    return lr;
}

double sched_step(Scheduler *s, double metric)
{
    s->last_epoch++;
    const int w = s->warmup_epochs;
    if (s->last_epoch < w) {
        s->lr = s->base_lr * (s->last_epoch + 1) / w;
    } else if (s->last_epoch == w) {
        s->lr = s->base_lr; /* the schedule's own epoch 0 */
    } else if (s->type == SCHED_PLATEAU) {
        plateau_step(s, metric);
    } else {
        s->lr = chain_lr(s, s->last_epoch - w);
    }
    return s->lr;
}
