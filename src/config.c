#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"

/* How the text of a value is stored into the Config. */
typedef enum {
    KIND_INT,    /* int */
    KIND_LONG,   /* long */
    KIND_U64,    /* uint64_t */
    KIND_DOUBLE, /* double */
    KIND_PATH,   /* char[CONFIG_PATH_MAX] */
    KIND_CHOICE, /* int, one of a list of words */
    KIND_LIST,   /* int array with a count: hidden sizes, milestones */
    KIND_FLAG    /* int; --name sets 1, --no-name sets 0 */
} Kind;

typedef struct Option {
    const char *name;  /* without "--" */
    Kind kind;
    size_t offset;     /* of the value in Config */
    size_t aux;        /* KIND_LIST: offset of the count; KIND_PATH: unused */
    int list_max;      /* KIND_LIST: capacity */
    const char *const *choices; /* KIND_CHOICE: NULL-terminated words, index = value */
    const char *def;   /* default, as text parsed by the same code as argv */
    const char *group; /* heading in --help; NULL continues the previous group */
    const char *help;
} Option;

static const char *const sched_words[] = {"none", "step", "multistep", "exponential", "cosine",
                                          "plateau", NULL};
static const char *const mode_words[] = {"max", "min", NULL};
static const char *const metric_words[] = {"val_acc", "val_loss", NULL};
static const char *const threshold_words[] = {"rel", "abs", NULL};
static const char *const progress_words[] = {"auto", "on", "off", NULL};
static const char *const scaling_words[] = {"none", "linear", NULL};

#define OFF(field) offsetof(Config, field)

static const Option options[] = {
    {"data", KIND_PATH, OFF(data_dir), 0, 0, NULL, "data/mnist", "Data",
     "folder with the four MNIST IDX files, raw or .gz (Fashion-MNIST works too)"},
    {"normalize", KIND_FLAG, OFF(normalize), 0, 0, NULL, "0", NULL,
     "after scaling pixels to [0,1], subtract 0.1307 and divide by 0.3081"},

    {"hidden", KIND_LIST, OFF(hidden), OFF(n_hidden), CONFIG_MAX_HIDDEN, NULL, "100", "Model",
     "hidden layer widths, comma-separated (784 -> hidden... -> 10, ReLU between)"},
    {"seed", KIND_U64, OFF(seed), 0, 0, NULL, "1", NULL,
     "seed of the weight initialisation and of every epoch's sample order"},

    {"batch-size", KIND_INT, OFF(batch_size), 0, 0, NULL, "100", "Training",
     "global batch size, split as evenly as possible across the ranks"},
    {"epochs", KIND_INT, OFF(epochs), 0, 0, NULL, "10", NULL, "number of epochs"},
    {"max-steps", KIND_LONG, OFF(max_steps), 0, 0, NULL, "0", NULL,
     "stop after this many optimizer steps in all (0: no limit)"},
    {"shuffle", KIND_FLAG, OFF(shuffle), 0, 0, NULL, "1", NULL,
     "a new sample order each epoch, from (seed, epoch); --no-shuffle keeps file order"},
    {"drop-last", KIND_FLAG, OFF(drop_last), 0, 0, NULL, "0", NULL,
     "drop the last partial batch of an epoch instead of training on it"},

    {"lr", KIND_DOUBLE, OFF(lr), 0, 0, NULL, "0.1", "Optimizer (torch.optim.SGD)",
     "learning rate"},
    {"momentum", KIND_DOUBLE, OFF(momentum), 0, 0, NULL, "0.9", NULL, "momentum factor"},
    {"nesterov", KIND_FLAG, OFF(nesterov), 0, 0, NULL, "1", NULL,
     "Nesterov momentum; --no-nesterov for classical momentum"},
    {"dampening", KIND_DOUBLE, OFF(dampening), 0, 0, NULL, "0", NULL, "dampening of momentum"},
    {"weight-decay", KIND_DOUBLE, OFF(weight_decay), 0, 0, NULL, "0", NULL,
     "L2 penalty added to the gradient"},
    {"lr-scaling", KIND_CHOICE, OFF(lr_scaling), 0, 0, scaling_words, "none", NULL,
     "linear: train at lr * batch-size / lr-base-batch (Goyal et al., 2017; pair it with\n"
     "--warmup-epochs); none: at lr"},
    {"lr-base-batch", KIND_INT, OFF(lr_base_batch), 0, 0, NULL, "100", NULL,
     "the batch size --lr is meant for, with --lr-scaling linear"},

    {"sched", KIND_CHOICE, OFF(sched), 0, 0, sched_words, "plateau",
     "Learning-rate schedule (stepped after every epoch)",
     "none | step (StepLR) | multistep (MultiStepLR) | exponential (ExponentialLR) |\n"
     "cosine (CosineAnnealingLR) | plateau (ReduceLROnPlateau)"},
    {"step-size", KIND_INT, OFF(step_size), 0, 0, NULL, "1", NULL,
     "step: epochs between decays"},
    {"gamma", KIND_DOUBLE, OFF(gamma), 0, 0, NULL, "0.1", NULL,
     "step, multistep, exponential: decay factor"},
    {"milestones", KIND_LIST, OFF(milestones), OFF(n_milestones), CONFIG_MAX_MILESTONES, NULL, "",
     NULL, "multistep: epochs at which to decay, comma-separated, non-decreasing\n(counted from the end of the warm-up)"},
    {"t-max", KIND_INT, OFF(t_max), 0, 0, NULL, "0", NULL,
     "cosine: half period in epochs (0: --epochs minus --warmup-epochs)"},
    {"eta-min", KIND_DOUBLE, OFF(eta_min), 0, 0, NULL, "0", NULL, "cosine: lowest rate"},
    {"plateau-mode", KIND_CHOICE, OFF(plateau_mode), 0, 0, mode_words, "max", NULL,
     "plateau: max (metric should rise) or min; torch's default is min"},
    {"plateau-metric", KIND_CHOICE, OFF(plateau_metric), 0, 0, metric_words, "val_acc", NULL,
     "plateau: val_acc (test accuracy in percent) or val_loss"},
    {"factor", KIND_DOUBLE, OFF(factor), 0, 0, NULL, "0.1", NULL,
     "plateau: new rate = rate * factor"},
    {"patience", KIND_INT, OFF(patience), 0, 0, NULL, "0", NULL,
     "plateau: epochs without improvement before a decay; torch's default is 10"},
    {"threshold", KIND_DOUBLE, OFF(threshold), 0, 0, NULL, "1e-4", NULL,
     "plateau: smallest change that counts as an improvement"},
    {"threshold-mode", KIND_CHOICE, OFF(threshold_mode), 0, 0, threshold_words, "rel", NULL,
     "plateau: rel (relative to the best) or abs"},
    {"cooldown", KIND_INT, OFF(cooldown), 0, 0, NULL, "0", NULL,
     "plateau: epochs to wait after a decay before counting again"},
    {"min-lr", KIND_DOUBLE, OFF(min_lr), 0, 0, NULL, "0", NULL, "plateau: lower bound of the rate"},
    {"plateau-eps", KIND_DOUBLE, OFF(plateau_eps), 0, 0, NULL, "1e-8", NULL,
     "plateau: a decay smaller than this is not applied"},
    {"warmup-epochs", KIND_INT, OFF(warmup_epochs), 0, 0, NULL, "0", NULL,
     "linear warm-up before any schedule: epoch e < N trains at lr*(e+1)/N"},

    {"quiet", KIND_FLAG, OFF(quiet), 0, 0, NULL, "0", "Output",
     "print only the final line (errors always go to stderr)"},
    {"progress", KIND_CHOICE, OFF(progress), 0, 0, progress_words, "auto", NULL,
     "progress bar within an epoch: auto (only when stdout is a terminal), on, off"},
    {"metrics", KIND_PATH, OFF(metrics_path), 0, 0, NULL, "", NULL,
     "write one JSON object per epoch to this file"},

    {"checkpoint-dir", KIND_PATH, OFF(checkpoint_dir), 0, 0, NULL, "", "Checkpoints",
     "write HDF5 checkpoints into this folder (\"\": none)"},
    {"checkpoint-every-epochs", KIND_INT, OFF(checkpoint_every_epochs), 0, 0, NULL, "1", NULL,
     "checkpoint after every N epochs (0: never at an epoch's end)"},
    {"checkpoint-every-steps", KIND_LONG, OFF(checkpoint_every_steps), 0, 0, NULL, "0", NULL,
     "also checkpoint every N optimizer steps, mid-epoch (0: never)"},
    {"keep", KIND_INT, OFF(keep), 0, 0, NULL, "3", NULL,
     "keep this many newest checkpoints, remove older ones"},
    {"resume", KIND_PATH, OFF(resume), 0, 0, NULL, "", NULL,
     "auto: continue from the newest valid checkpoint in --checkpoint-dir, if any;\n"
     "FILE: continue from that checkpoint"},
    {"init-from", KIND_PATH, OFF(init_from), 0, 0, NULL, "", NULL,
     "start from the /model weights of this HDF5 file (fresh optimizer)"},
    {"checkpoint", KIND_PATH, OFF(checkpoint), 0, 0, NULL, "", NULL,
     "eval: the checkpoint to evaluate"},
};

#define N_OPTIONS ((int)(sizeof options / sizeof options[0]))

static void *field(Config *cfg, const Option *o) { return (char *)cfg + o->offset; }
static const void *cfield(const Config *cfg, const Option *o)
{
    return (const char *)cfg + o->offset;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_value(Config *cfg, const Option *o, const char *text, Err *e)
{
    void *p = field(cfg, o);
    long l;
    switch (o->kind) {
    case KIND_INT:
        if (parse_long(text, INT_MIN, INT_MAX, &l) != 0)
            return err_set(e, ERR_INPUT, "--%s: '%s' is not an integer", o->name, text);
        *(int *)p = (int)l;
        return ERR_OK;
    case KIND_LONG:
        if (parse_long(text, LONG_MIN, LONG_MAX, &l) != 0)
            return err_set(e, ERR_INPUT, "--%s: '%s' is not an integer", o->name, text);
        *(long *)p = l;
        return ERR_OK;
    case KIND_U64: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || text[0] < '0' || text[0] > '9')
            return err_set(e, ERR_INPUT, "--%s: '%s' is not a non-negative integer", o->name,
                           text);
        *(uint64_t *)p = (uint64_t)v;
        return ERR_OK;
    }
    case KIND_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (errno != 0 || end == text || *end != '\0' || !isfinite(v))
            return err_set(e, ERR_INPUT, "--%s: '%s' is not a finite number", o->name, text);
        *(double *)p = v;
        return ERR_OK;
    }
    case KIND_PATH:
        if (strlen(text) >= CONFIG_PATH_MAX)
            return err_set(e, ERR_INPUT, "--%s: path longer than %d characters", o->name,
                           CONFIG_PATH_MAX - 1);
        strcpy((char *)p, text);
        return ERR_OK;
    case KIND_CHOICE:
        for (int i = 0; o->choices[i] != NULL; i++)
            if (strcmp(text, o->choices[i]) == 0) {
                *(int *)p = i;
                return ERR_OK;
            }
        {
            char words[256] = "";
            for (int i = 0; o->choices[i] != NULL; i++) {
                strncat(words, i ? ", " : "", sizeof words - strlen(words) - 1);
                strncat(words, o->choices[i], sizeof words - strlen(words) - 1);
            }
            return err_set(e, ERR_INPUT, "--%s: unknown value '%s' (one of: %s)", o->name, text,
                           words);
        }
    case KIND_LIST: {
        int *vals = (int *)p;
        int *count = (int *)((char *)cfg + o->aux);
        int n = 0;
        const char *s = text;
        while (*s != '\0') {
            char item[32];
            size_t len = strcspn(s, ",");
            if (len == 0 || len >= sizeof item || n == o->list_max)
                return err_set(e, ERR_INPUT,
                               "--%s: '%s' is not a comma-separated list of at most %d integers",
                               o->name, text, o->list_max);
            memcpy(item, s, len);
            item[len] = '\0';
            if (parse_long(item, INT_MIN, INT_MAX, &l) != 0)
                return err_set(e, ERR_INPUT, "--%s: '%s' is not an integer", o->name, item);
            vals[n++] = (int)l;
            s += len;
            if (*s == ',' && *++s == '\0')
                return err_set(e, ERR_INPUT, "--%s: '%s' ends with a comma", o->name, text);
        }
        *count = n;
        return ERR_OK;
    }
    case KIND_FLAG:
        if (parse_long(text, 0, 1, &l) != 0)
            return err_set(e, ERR_INPUT, "--%s: '%s' is not 0 or 1", o->name, text);
        *(int *)p = (int)l;
        return ERR_OK;
    }
    return err_set(e, ERR_RUNTIME, "--%s: unknown option kind", o->name);
}

void config_defaults(Config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mode = MODE_TRAIN;
    for (int i = 0; i < N_OPTIONS; i++) {
        Err e;
        if (parse_value(cfg, &options[i], options[i].def, &e) != ERR_OK) {
            /* A default that does not parse is a programmer mistake in the table. */
            fprintf(stderr, "mpitrain: internal error: default of --%s: %s\n", options[i].name,
                    e.msg);
            abort();
        }
    }
}

static const Option *find_option(const char *name, size_t len)
{
    for (int i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

int config_parse(Config *cfg, int argc, char **argv, ParseResult *what, Err *e)
{
    *what = PARSE_RUN;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "eval") == 0 && cfg->mode == MODE_TRAIN) { /* the one subcommand */
            cfg->mode = MODE_EVAL;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *what = PARSE_HELP;
            return ERR_OK;
        }
        if (strcmp(arg, "--version") == 0) {
            *what = PARSE_VERSION;
            return ERR_OK;
        }
        if (strncmp(arg, "--", 2) != 0)
            return err_set(e, ERR_INPUT, "unexpected argument '%s' (options start with --; see --help)",
                           arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const Option *o = find_option(name, len);
        if (o == NULL && eq == NULL && strncmp(name, "no-", 3) == 0) {
            const Option *neg = find_option(name + 3, len - 3);
            if (neg != NULL && neg->kind == KIND_FLAG) {
                *(int *)field(cfg, neg) = 0;
                continue;
            }
        }
        if (o == NULL)
            return err_set(e, ERR_INPUT, "unknown option '--%.*s' (see --help)", (int)len, name);
        const char *value;
        if (eq != NULL)
            value = eq + 1;
        else if (o->kind == KIND_FLAG)
            value = "1";
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return err_set(e, ERR_INPUT, "option --%s needs a value", o->name);
        int rc = parse_value(cfg, o, value, e);
        if (rc != ERR_OK)
            return rc;
    }
    return ERR_OK;
}

int config_validate(const Config *c, int world_size, Err *e)
{
    if (c->mode == MODE_EVAL) {
        if (c->checkpoint[0] == '\0')
            return err_set(e, ERR_INPUT, "eval needs --checkpoint FILE");
        return ERR_OK;
    }
    if (c->n_hidden < 1)
        return err_set(e, ERR_INPUT, "--hidden: give at least one hidden layer width");
    for (int i = 0; i < c->n_hidden; i++)
        if (c->hidden[i] < 1 || c->hidden[i] > 65536)
            return err_set(e, ERR_INPUT, "--hidden: width %d is not in 1..65536", c->hidden[i]);
    if (c->batch_size < 1)
        return err_set(e, ERR_INPUT, "--batch-size: %d is not positive", c->batch_size);
    if (c->batch_size < world_size)
        return err_set(e, ERR_INPUT,
                       "--batch-size %d is smaller than the %d ranks: every rank needs a sample "
                       "(raise --batch-size or use fewer ranks)",
                       c->batch_size, world_size);
    if (c->epochs < 1)
        return err_set(e, ERR_INPUT, "--epochs: %d is not positive", c->epochs);
    if (c->max_steps < 0)
        return err_set(e, ERR_INPUT, "--max-steps: %ld is negative", c->max_steps);
    if (!(c->lr > 0))
        return err_set(e, ERR_INPUT, "--lr: %g is not positive", c->lr);
    if (c->lr_base_batch < 1)
        return err_set(e, ERR_INPUT, "--lr-base-batch: %d is not positive", c->lr_base_batch);
    if (c->momentum < 0)
        return err_set(e, ERR_INPUT, "--momentum: %g is negative", c->momentum);
    if (c->dampening < 0 || c->dampening > 1)
        return err_set(e, ERR_INPUT, "--dampening: %g is not in [0, 1]", c->dampening);
    if (c->weight_decay < 0)
        return err_set(e, ERR_INPUT, "--weight-decay: %g is negative", c->weight_decay);
    if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
        return err_set(e, ERR_INPUT,
                       "Nesterov momentum requires --momentum > 0 and --dampening 0 "
                       "(or give --no-nesterov)");
    if (c->sched == SCHED_STEP && c->step_size < 1)
        return err_set(e, ERR_INPUT, "--step-size: %d is not positive", c->step_size);
    if ((c->sched == SCHED_STEP || c->sched == SCHED_MULTISTEP || c->sched == SCHED_EXPONENTIAL) &&
        !(c->gamma > 0))
        return err_set(e, ERR_INPUT, "--gamma: %g is not positive", c->gamma);
    if (c->sched == SCHED_MULTISTEP) {
        if (c->n_milestones == 0)
            return err_set(e, ERR_INPUT, "--sched multistep needs --milestones (e.g. 5,8)");
        for (int i = 0; i < c->n_milestones; i++) {
            if (c->milestones[i] < 1)
                return err_set(e, ERR_INPUT, "--milestones: %d is not positive", c->milestones[i]);
            if (i > 0 && c->milestones[i] < c->milestones[i - 1])
                return err_set(e, ERR_INPUT, "--milestones: %d comes after %d; give them in order",
                               c->milestones[i], c->milestones[i - 1]);
        }
    }
    if (c->sched == SCHED_COSINE) {
        if (c->t_max < 0)
            return err_set(e, ERR_INPUT, "--t-max: %d is negative", c->t_max);
        if (c->eta_min < 0 || c->eta_min > c->lr)
            return err_set(e, ERR_INPUT, "--eta-min: %g is not in [0, lr]", c->eta_min);
    }
    if (c->sched == SCHED_PLATEAU) {
        if (!(c->factor > 0 && c->factor < 1))
            return err_set(e, ERR_INPUT, "--factor: %g is not in (0, 1)", c->factor);
        if (c->patience < 0)
            return err_set(e, ERR_INPUT, "--patience: %d is negative", c->patience);
        if (c->threshold < 0)
            return err_set(e, ERR_INPUT, "--threshold: %g is negative", c->threshold);
        if (c->cooldown < 0)
            return err_set(e, ERR_INPUT, "--cooldown: %d is negative", c->cooldown);
        if (c->min_lr < 0)
            return err_set(e, ERR_INPUT, "--min-lr: %g is negative", c->min_lr);
        if (c->plateau_eps < 0)
            return err_set(e, ERR_INPUT, "--plateau-eps: %g is negative", c->plateau_eps);
    }
    if (c->warmup_epochs < 0)
        return err_set(e, ERR_INPUT, "--warmup-epochs: %d is negative", c->warmup_epochs);
    if (c->checkpoint_every_epochs < 0)
        return err_set(e, ERR_INPUT, "--checkpoint-every-epochs: %d is negative",
                       c->checkpoint_every_epochs);
    if (c->checkpoint_every_steps < 0)
        return err_set(e, ERR_INPUT, "--checkpoint-every-steps: %ld is negative",
                       c->checkpoint_every_steps);
    if (c->keep < 1)
        return err_set(e, ERR_INPUT, "--keep: %d is not positive", c->keep);
    if (strcmp(c->resume, "auto") == 0 && c->checkpoint_dir[0] == '\0')
        return err_set(e, ERR_INPUT, "--resume auto needs --checkpoint-dir");
    if (c->resume[0] != '\0' && c->init_from[0] != '\0')
        return err_set(e, ERR_INPUT, "--resume and --init-from exclude each other");
    return ERR_OK;
}

void config_format(const Config *cfg, int i, char *buf, size_t len)
{
    const Option *o = &options[i];
    const void *p = cfield(cfg, o);
    switch (o->kind) {
    case KIND_INT:
    case KIND_FLAG:
        snprintf(buf, len, "%d", *(const int *)p);
        return;
    case KIND_LONG:
        snprintf(buf, len, "%ld", *(const long *)p);
        return;
    case KIND_U64:
        snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)p);
        return;
    case KIND_DOUBLE:
        /* the shortest text that reads back as the same double */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, len, "%.*g", prec, *(const double *)p);
            if (strtod(buf, NULL) == *(const double *)p)
                break;
        }
        return;
    case KIND_PATH:
        snprintf(buf, len, "%s", (const char *)p);
        return;
    case KIND_CHOICE:
        snprintf(buf, len, "%s", o->choices[*(const int *)p]);
        return;
    case KIND_LIST: {
        const int *vals = (const int *)p;
        int n = *(const int *)((const char *)cfg + o->aux);
        size_t used = 0;
        buf[0] = '\0';
        for (int k = 0; k < n && used + 1 < len; k++)
            used += (size_t)snprintf(buf + used, len - used, k ? ",%d" : "%d", vals[k]);
        return;
    }
    }
}

int config_count(void) { return N_OPTIONS; }
const char *config_name(int i) { return options[i].name; }

void config_print(const Config *cfg, FILE *out)
{
    fprintf(out, "mpitrain %s:", MPITRAIN_VERSION);
    int col = 80;
    for (int i = 0; i < N_OPTIONS; i++) {
        char value[CONFIG_PATH_MAX + 32];
        config_format(cfg, i, value, sizeof value);
        int len = (int)(strlen(options[i].name) + strlen(value)) + 4;
        if (col + len > 96) {
            fprintf(out, "\n ");
            col = 1;
        }
        col += fprintf(out, " %s=%s", options[i].name, value[0] ? value : "\"\"");
    }
    fputc('\n', out);
}

void config_print_help(FILE *out)
{
    fprintf(out,
            "usage: mpirun -np N mpitrain [OPTION...]\n"
            "       mpirun -np N mpitrain eval --checkpoint FILE [--data DIR]\n"
            "\n"
            "Trains a 784-hidden-10 ReLU network on MNIST with synchronous data-parallel SGD over\n"
            "MPI. Every option takes a value (--name VALUE or --name=VALUE); flags also take\n"
            "--name and --no-name. With no options it runs the classic tutorial's best setting:\n"
            "batch 100, lr 0.1, momentum 0.9 Nesterov, ReduceLROnPlateau(max, factor 0.1,\n"
            "patience 0) on test accuracy, 10 epochs.\n");
    for (int i = 0; i < N_OPTIONS; i++) {
        const Option *o = &options[i];
        if (o->group != NULL)
            fprintf(out, "\n%s:\n", o->group);
        char head[64];
        if (o->kind == KIND_FLAG)
            snprintf(head, sizeof head, "--[no-]%s", o->name);
        else
            snprintf(head, sizeof head, "--%s %s", o->name,
                     o->kind == KIND_PATH     ? "PATH"
                     : o->kind == KIND_LIST   ? "LIST"
                     : o->kind == KIND_CHOICE ? "WORD"
                     : o->kind == KIND_DOUBLE ? "X"
                                              : "N");
        fprintf(out, "  %-30s ", head);
        for (const char *h = o->help; *h; h++) {
            fputc(*h, out);
            if (*h == '\n')
                fprintf(out, "  %-30s ", "");
        }
        if (o->kind == KIND_FLAG)
            fprintf(out, " [default: %s]\n", strcmp(o->def, "1") == 0 ? "on" : "off");
        else
            fprintf(out, " [default: %s]\n", o->def[0] ? o->def : "\"\"");
    }
    fprintf(out,
            "\n  --help                         this text\n"
            "  --version                      the program's version\n"
            "\nExit codes:\n"
            "  0  done\n"
            "  1  runtime error (out of memory, I/O or MPI failure, loss became NaN/inf)\n"
            "  2  bad usage or bad input (options, data files, checkpoints)\n"
            "  3  stopped early by SIGTERM, SIGINT or SIGUSR1, checkpoint written; resume to "
            "continue\n");
}

int config_layer_sizes(const Config *cfg, int *sizes, int max)
{
    int n = 0;
    if (max < cfg->n_hidden + 2)
        return -1;
    sizes[n++] = 784;
    for (int i = 0; i < cfg->n_hidden; i++)
        sizes[n++] = cfg->hidden[i];
    sizes[n++] = 10;
    return n;
}

const char *config_sched_name(SchedType t) { return sched_words[t]; }

double config_base_lr(const Config *cfg)
{
    if (cfg->lr_scaling == LR_SCALING_LINEAR)
        return cfg->lr * cfg->batch_size / cfg->lr_base_batch;
    return cfg->lr;
}
