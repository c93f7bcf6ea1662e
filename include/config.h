/* config: every option of mpitrain, its default, its validation and its --help text, all generated
 * from one table in config.c. It parses and checks; it does not read files or talk to MPI. */
#ifndef MPITRAIN_CONFIG_H
#define MPITRAIN_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"

#define CONFIG_MAX_HIDDEN 8      /* hidden layers at most */
#define CONFIG_MAX_MILESTONES 64 /* MultiStepLR milestones at most */
#define CONFIG_PATH_MAX 1024

typedef enum { MODE_TRAIN, MODE_EVAL } RunMode;

typedef enum {
    SCHED_NONE,
    SCHED_STEP,
    SCHED_MULTISTEP,
    SCHED_EXPONENTIAL,
    SCHED_COSINE,
    SCHED_PLATEAU
} SchedType;

typedef enum { PLATEAU_MAX, PLATEAU_MIN } PlateauMode;
typedef enum { METRIC_VAL_ACC, METRIC_VAL_LOSS } PlateauMetric;
typedef enum { THRESHOLD_REL, THRESHOLD_ABS } ThresholdMode;
typedef enum { PROGRESS_AUTO, PROGRESS_ON, PROGRESS_OFF } ProgressMode;
typedef enum { LR_SCALING_NONE, LR_SCALING_LINEAR } LrScaling;

typedef struct Config {
    RunMode mode; /* `mpitrain eval ...` evaluates a checkpoint instead of training */

    /* data */
    char data_dir[CONFIG_PATH_MAX];
    int normalize; /* 1: subtract MNIST's mean 0.1307 and divide by its std 0.3081 after /255 */

    /* model */
    int hidden[CONFIG_MAX_HIDDEN]; /* widths of the hidden layers, input side first */
    int n_hidden;
    uint64_t seed;

    /* training */
    int batch_size; /* global batch, split across the ranks */
    int epochs;
    long max_steps; /* 0: no limit */
    int shuffle;
    int drop_last;

    /* optimizer (torch.optim.SGD) */
    double lr, momentum, dampening, weight_decay;
    int nesterov;
    LrScaling lr_scaling; /* linear: the rate is lr * batch_size / lr_base_batch */
    int lr_base_batch;

    /* learning-rate schedule (torch.optim.lr_scheduler), stepped once per epoch */
    SchedType sched;
    int step_size;
    double gamma;
    int milestones[CONFIG_MAX_MILESTONES];
    int n_milestones;
    int t_max; /* 0: the number of epochs */
    double eta_min;
    PlateauMode plateau_mode;
    PlateauMetric plateau_metric;
    double factor;
    int patience;
    double threshold;
    ThresholdMode threshold_mode;
    int cooldown;
    double min_lr;
    double plateau_eps;
    int warmup_epochs;

    /* output */
    int quiet;
    ProgressMode progress;
    char metrics_path[CONFIG_PATH_MAX]; /* "": no metrics file */

    /* checkpoints */
    char checkpoint_dir[CONFIG_PATH_MAX]; /* "": no checkpoints */
    int checkpoint_every_epochs;          /* 0: not at epoch ends */
    long checkpoint_every_steps;          /* 0: not mid-epoch */
    int keep;
    char resume[CONFIG_PATH_MAX];      /* "", "auto" or a file */
    char init_from[CONFIG_PATH_MAX];   /* "": fresh weights from --seed */
    char checkpoint[CONFIG_PATH_MAX];  /* for `mpitrain eval` */
} Config;

/* What config_parse found besides options. */
typedef enum { PARSE_RUN, PARSE_HELP, PARSE_VERSION } ParseResult;

/* Fill cfg with every default. */
void config_defaults(Config *cfg);

/* Parse argv (argv[0] is the program). On success sets *what and returns ERR_OK; on a bad option
 * or value returns ERR_INPUT with the message in e. Does not check relations between options. */
int config_parse(Config *cfg, int argc, char **argv, ParseResult *what, Err *e);

/* Check values and their relations for a run on world_size ranks: ERR_INPUT with one message,
 * or ERR_OK. */
int config_validate(const Config *cfg, int world_size, Err *e);

/* The --help text, generated from the option table. */
void config_print_help(FILE *out);

/* The effective configuration, one "name value" pair per option, in table order. */
void config_print(const Config *cfg, FILE *out);

/* Iterate over the options, for writing them into a checkpoint: the number of options, the name
 * of option i (without "--"), and its current value as text (as --help and config_print show it). */
int config_count(void);
const char *config_name(int i);
void config_format(const Config *cfg, int i, char *buf, size_t len);

/* Width of each layer, input first: {784, hidden..., 10}; returns the number of layers + 1. */
int config_layer_sizes(const Config *cfg, int *sizes, int max);

/* The learning rate the run starts from: --lr, scaled linearly with the batch when asked. */
double config_base_lr(const Config *cfg);

/* The name of a schedule type ("plateau", "step", ...). */
const char *config_sched_name(SchedType t);

#endif
