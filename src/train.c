#include "train.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "dataset.h"
#include "gemm.h"
#include "loss.h"
#include "metrics.h"
#include "mlp.h"
#include "sched.h"
#include "sgd.h"

#define EVAL_ROWS 1000 /* test images per forward pass on rank 0 */

/* Slots after the gradient in the one buffer each step allreduces. */
enum { SLOT_LOSS, SLOT_STOP, N_SLOTS };

/* Set by SIGTERM, SIGINT or SIGUSR1; read at every step boundary. */
static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) { stop_signal = sig; }

static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends the program at once */
    sigaction(SIGINT, &sa, NULL);
}

/* Everything a run holds; built by trainer_init, released by trainer_free. */
typedef struct Trainer {
    const Config *cfg;
    Comm *comm;
    Dataset data;
    Mlp mlp;
    Sgd sgd;
    Scheduler sched;
    Progress progress;
    Metrics metrics;      /* rank 0 only */
    EpochStats *history;  /* [cfg->epochs]: complete epochs */
    int n_history;
    uint32_t *order;      /* [n_train]: this epoch's sample order */
    float *x;             /* [mlp.max_rows][784]: the current rows as floats */
    uint8_t *y;           /* [mlp.max_rows]: their labels */
    long steps_per_epoch;
    long last_saved_step; /* global step of the newest checkpoint written or loaded; -1: none */
    double phase[N_PHASES];   /* seconds in each phase since the epoch began, this rank */
    double total[N_PHASES];   /* the same over the whole run */
    int lock_fd;              /* rank 0: the checkpoint folder's lock; -1: none */
} Trainer;

/* Add the time since *mark to phase k and move the mark to now. */
static void lap(Trainer *t, int k, double *mark)
{
    double now = comm_time();
    t->phase[k] += now - *mark;
    *mark = now;
}

static void trainer_free(Trainer *t)
{
    if (t->comm->rank == 0) {
        metrics_close(&t->metrics);
        ckpt_unlock(t->lock_fd);
    }
    free(t->history);
    free(t->order);
    free(t->x);
    free(t->y);
    sgd_free(&t->sgd);
    mlp_free(&t->mlp);
    dataset_free(&t->data);
}

/* A failure every rank has seen at once (from the same allreduced numbers): the same code
 * everywhere, the message on rank 0 alone. */
static int fail_everywhere(const Comm *c, Err *e, int code)
{
    e->code = code;
    if (c->rank != 0)
        e->msg[0] = '\0';
    return code;
}

static CkptState ckpt_state(Trainer *t)
{
    CkptState s = {t->cfg, &t->mlp, &t->sgd, &t->sched, &t->progress,
                   t->history, t->n_history, t->cfg->epochs, t->comm->size};
    return s;
}

/* Collective. Loads the data and builds model, optimizer and schedule; on failure frees what it
 * built and returns the agreed code. */
static int trainer_init(Trainer *t, const Config *cfg, Comm *c, Err *e)
{
    memset(t, 0, sizeof *t);
    t->cfg = cfg;
    t->comm = c;
    t->last_saved_step = -1;
    t->lock_fd = -1;
    gemm_init();
    ckpt_init();
    int rc = dataset_load(&t->data, c, cfg->data_dir, e);
    if (rc != ERR_OK)
        return rc;

    int sizes[CONFIG_MAX_HIDDEN + 2];
    int n_sizes = config_layer_sizes(cfg, sizes, CONFIG_MAX_HIDDEN + 2);
    int local_max = (cfg->batch_size + c->size - 1) / c->size;
    int max_rows = c->rank == 0 && local_max < EVAL_ROWS ? EVAL_ROWS : local_max;
    const int n_train = t->data.n[SPLIT_TRAIN];
    if (mlp_init(&t->mlp, sizes, n_sizes, max_rows, N_SLOTS, e) == ERR_OK &&
        sgd_init(&t->sgd, t->mlp.n_params, cfg->momentum, cfg->dampening, cfg->weight_decay,
                 cfg->nesterov, e) == ERR_OK) {
        t->order = malloc((size_t)n_train * sizeof *t->order);
        t->x = malloc((size_t)max_rows * DATASET_PIXELS * sizeof *t->x);
        t->y = malloc((size_t)max_rows);
        t->history = calloc((size_t)cfg->epochs, sizeof *t->history);
        if (t->order == NULL || t->x == NULL || t->y == NULL || t->history == NULL)
            err_set(e, ERR_RUNTIME, "out of memory for the batch buffers");
    }
    t->steps_per_epoch = cfg->drop_last ? n_train / cfg->batch_size
                                        : (n_train + cfg->batch_size - 1) / cfg->batch_size;
    if (e->code == ERR_OK && c->rank == 0) {
        if (t->steps_per_epoch == 0)
            err_set(e, ERR_INPUT,
                    "--batch-size %d is larger than the %d training samples and --drop-last "
                    "leaves no batch",
                    cfg->batch_size, n_train);
        else if (cfg->checkpoint_dir[0] != '\0' &&
                 ckpt_check_dir(cfg->checkpoint_dir, e) == ERR_OK)
            ckpt_lock(cfg->checkpoint_dir, &t->lock_fd, e);
        if (e->code == ERR_OK)
            metrics_open(&t->metrics, cfg->metrics_path, cfg->quiet, cfg->progress, e);
    }
    if (comm_agree(c, e) != ERR_OK) {
        trainer_free(t);
        return e->code;
    }
    mlp_use_grads(&t->mlp, comm_reduce_buffer(c, t->mlp.n_params + N_SLOTS));
    mlp_init_params(&t->mlp, cfg->seed);
    sched_init(&t->sched, cfg);
    return ERR_OK;
}

/* Collective. --init-from or --resume: rank 0 reads the file, every rank receives the state. */
static int trainer_restore(Trainer *t, Err *e)
{
    const Config *cfg = t->cfg;
    Comm *c = t->comm;
    char path[CONFIG_PATH_MAX + 64] = "";
    int resumed = 0;
    if (cfg->init_from[0] == '\0' && cfg->resume[0] == '\0')
        return ERR_OK;
    if (c->rank == 0) {
        CkptState s = ckpt_state(t);
        const double asked_lr = t->sched.base_lr;
        int rc;
        if (cfg->init_from[0] != '\0') {
            rc = ckpt_load_model(cfg->init_from, &t->mlp, e);
        } else if (strcmp(cfg->resume, "auto") == 0) {
            rc = ckpt_load_latest(cfg->checkpoint_dir, &s, path, sizeof path, e);
        } else {
            snprintf(path, sizeof path, "%s", cfg->resume);
            rc = ckpt_load(path, &s, e);
        }
        resumed = rc == ERR_OK && path[0] != '\0';
        t->n_history = s.n_history;
        /* the schedule's other settings are this run's; its rates are the checkpoint's */
        if (resumed && t->sched.base_lr != asked_lr)
            fprintf(stderr,
                    "mpitrain: warning: %s was trained with base rate %g and continues with it "
                    "(now at %g); this run's rate %g is not used (to train its weights at a new "
                    "rate, use --init-from)\n",
                    path, t->sched.base_lr, t->sched.lr, asked_lr);
        if (resumed && t->progress.epoch > cfg->epochs)
            err_set(e, ERR_INPUT, "%s: checkpoint is at epoch %d, past --epochs %d", path,
                    t->progress.epoch, cfg->epochs);
    }
    if (comm_agree(c, e) != ERR_OK)
        return e->code;
    comm_bcast(c, &resumed, sizeof resumed, 0);
    comm_bcast(c, t->mlp.params, t->mlp.n_params * sizeof(float), 0);
    if (!resumed) {
        if (c->rank == 0 && !cfg->quiet)
            printf("initial weights from %s\n", cfg->init_from[0] ? cfg->init_from
                                                                  : "--seed (no checkpoint yet)");
        return ERR_OK;
    }
    if (t->sgd.buf != NULL) {
        comm_bcast(c, &t->sgd.has_buf, sizeof t->sgd.has_buf, 0);
        comm_bcast(c, t->sgd.buf, t->sgd.n * sizeof(float), 0);
    }
    comm_bcast(c, &t->sched, sizeof t->sched, 0);
    comm_bcast(c, &t->progress, sizeof t->progress, 0);
    t->last_saved_step = t->progress.global_step;
    if (c->rank == 0 && !cfg->quiet)
        printf("resumed from %s: epoch %d, step %ld of %ld in it, global step %ld, lr %g\n", path,
               t->progress.epoch + 1, t->progress.step, t->steps_per_epoch,
               t->progress.global_step, t->sched.lr);
    return ERR_OK;
}

/* Collective. Every rank must hold the very same weights; a difference is a bug or a hardware
 * fault, and no checkpoint should hide it. */
static int check_ranks_agree(Trainer *t, Err *e)
{
    if (comm_same_everywhere(t->comm, t->mlp.params, t->mlp.n_params * sizeof(float)))
        return ERR_OK;
    err_set(e, ERR_RUNTIME, "the ranks hold different weights at global step %ld",
            t->progress.global_step);
    return fail_everywhere(t->comm, e, ERR_RUNTIME);
}

/* Collective. Rank 0 writes a checkpoint of the current state, if the run has a folder and this
 * state is not already saved; first all ranks check that they hold the same weights. */
static int trainer_save(Trainer *t, Err *e)
{
    if (check_ranks_agree(t, e) != ERR_OK)
        return e->code;
    if (t->cfg->checkpoint_dir[0] == '\0' || t->last_saved_step == t->progress.global_step)
        return ERR_OK;
    double mark = comm_time();
    if (t->comm->rank == 0) {
        CkptState s = ckpt_state(t);
        char path[CONFIG_PATH_MAX + 64];
        if (ckpt_write(t->cfg->checkpoint_dir, t->cfg->keep, &s, path, sizeof path, e) == ERR_OK &&
            !t->cfg->quiet && !t->metrics.progress)
            printf("checkpoint %s\n", path);
        fflush(stdout);
    }
    int rc = comm_agree(t->comm, e);
    lap(t, PHASE_CHECKPOINT, &mark);
    if (rc != ERR_OK)
        return rc;
    t->last_saved_step = t->progress.global_step;
    return ERR_OK;
}

/* Rank 0: mean loss and accuracy (percent) on the test set; confusion[true][predicted] when not
 * NULL. */
static void evaluate(const Dataset *d, Mlp *m, int normalize, float *x, uint8_t *y, double *loss,
                     double *acc, long confusion[DATASET_CLASSES][DATASET_CLASSES])
{
    const int n = d->n[SPLIT_TEST];
    double loss_sum = 0;
    long correct = 0;
    for (int first = 0; first < n; first += m->max_rows) {
        int rows = n - first < m->max_rows ? n - first : m->max_rows;
        dataset_gather(d, SPLIT_TEST, NULL, first, rows, normalize, x, y);
        const float *logits = mlp_forward(m, x, rows);
        loss_softmax_xent(logits, y, rows, DATASET_CLASSES, NULL, &loss_sum, &correct);
        if (confusion != NULL)
            for (int r = 0; r < rows; r++)
                confusion[y[r]][loss_argmax(logits + (size_t)r * DATASET_CLASSES,
                                            DATASET_CLASSES)]++;
    }
    *loss = loss_sum / n;
    *acc = 100.0 * (double)correct / n;
}

/* The size of global batch `step` of an epoch (the last one may be partial). */
static int batch_size_of(const Trainer *t, long step)
{
    long left = t->data.n[SPLIT_TRAIN] - step * t->cfg->batch_size;
    return left < t->cfg->batch_size ? (int)left : t->cfg->batch_size;
}

/* One optimizer step on global batch `step` of the epoch: this rank's slice forward and
 * backward, one allreduce of gradient, loss and stop flag, the same SGD step on every rank.
 * Returns the global batch's summed loss (NaN or inf when the run diverged: the weights are then
 * left as they were); *stop is set when any rank has caught a stop signal. */
static double train_step(Trainer *t, long step, double lr, int *stop)
{
    const Config *cfg = t->cfg;
    Mlp *m = &t->mlp;
    const long start = step * cfg->batch_size;
    const int batch = batch_size_of(t, step);
    int first, rows;
    double mark = comm_time();
    dataset_split(batch, t->comm->rank, t->comm->size, &first, &rows);
    dataset_gather(&t->data, SPLIT_TRAIN, t->order, (int)start + first, rows, cfg->normalize,
                   t->x, t->y);
    lap(t, PHASE_DATA, &mark);

    float *logits = mlp_forward(m, t->x, rows);
    double loss = 0;
    long correct = 0;
    loss_softmax_xent(logits, t->y, rows, DATASET_CLASSES, logits, &loss, &correct);
    mlp_backward(m, t->x, rows, logits);
    lap(t, PHASE_COMPUTE, &mark);

    float *slots = m->grads + m->n_params;
    slots[SLOT_LOSS] = (float)loss;
    slots[SLOT_STOP] = stop_signal != 0 ? 1.0f : 0.0f;
    const float *sum = comm_reduce(t->comm); /* m->grads is this rank's reduce buffer */
    lap(t, PHASE_ALLREDUCE, &mark);
    *stop = sum[m->n_params + SLOT_STOP] > 0.0f;
    double batch_loss = sum[m->n_params + SLOT_LOSS];
    if (!isfinite(batch_loss))
        return batch_loss;
    sgd_step(&t->sgd, m->params, sum, 1.0f / (float)batch, lr);
    lap(t, PHASE_OPTIMIZER, &mark);
    return batch_loss;
}

/* Rank 0 at the end of an epoch (or of a partial one): evaluate, and for a complete epoch step
 * the schedule and record the epoch. Returns the rate of the next epoch. */
static double finish_epoch(Trainer *t, EpochStats *st)
{
    double mark = comm_time();
    evaluate(&t->data, &t->mlp, t->cfg->normalize, t->x, t->y, &st->test_loss, &st->test_acc,
             NULL);
    st->eval_seconds = comm_time() - mark;
    lap(t, PHASE_EVAL, &mark);
    double next = t->sched.lr;
    if (st->complete) {
        next = sched_step(&t->sched, t->cfg->plateau_metric == METRIC_VAL_ACC ? st->test_acc
                                                                              : st->test_loss);
        if (t->n_history < t->cfg->epochs)
            t->history[t->n_history++] = *st;
    }
    return next;
}

/* Collective: the epoch's phase times, min / mean / max over the ranks, into st; then the
 * epoch's clocks start again. */
static void gather_phases(Trainer *t, EpochStats *st)
{
    for (int k = 0; k < N_PHASES; k++) {
        comm_min_avg_max(t->comm, t->phase[k], st->phase[k]);
        t->total[k] += t->phase[k];
        t->phase[k] = 0;
    }
}

/* The steps of one epoch from wherever t->progress stands, until its end, --max-steps or a stop
 * signal. Returns ERR_OK or an agreed error; sets *stop and *done. */
static int train_epoch(Trainer *t, double lr, int *stop, int *done, Err *e)
{
    const Config *cfg = t->cfg;
    Progress *p = &t->progress;
    while (p->step < t->steps_per_epoch) {
        double batch_loss = train_step(t, p->step, lr, stop);
        if (!isfinite(batch_loss)) {
            err_set(e, ERR_RUNTIME,
                    "training diverged: the loss is %s at step %ld (epoch %d); that step was "
                    "not applied and no checkpoint of it written; lower --lr",
                    isnan(batch_loss) ? "NaN" : "infinite", p->global_step + 1, p->epoch + 1);
            return fail_everywhere(t->comm, e, ERR_RUNTIME);
        }
        const int batch = batch_size_of(t, p->step);
        p->loss_sum += batch_loss;
        p->samples += batch;
        p->step++;
        p->global_step++;
        if (t->comm->rank == 0)
            metrics_progress(&t->metrics, p->epoch + 1, p->step, t->steps_per_epoch,
                             batch_loss / batch, comm_time());
        *done = cfg->max_steps > 0 && p->global_step >= cfg->max_steps;
        if (*stop || *done)
            break;
        if (cfg->checkpoint_every_steps > 0 && p->global_step % cfg->checkpoint_every_steps == 0 &&
            p->step < t->steps_per_epoch && trainer_save(t, e) != ERR_OK)
            return e->code;
    }
    return ERR_OK;
}

/* The loop over epochs, from wherever t->progress stands. Returns ERR_OK, ERR_STOPPED or an
 * agreed error; *last holds the last epoch line. */
static int train_loop(Trainer *t, EpochStats *last, Err *e)
{
    const Config *cfg = t->cfg;
    Comm *c = t->comm;
    Progress *p = &t->progress;
    const int root = c->rank == 0;
    int stop = 0, done = 0;
    while (p->epoch < cfg->epochs && !done && !stop) {
        dataset_order(t->order, t->data.n[SPLIT_TRAIN], cfg->seed, p->epoch, cfg->shuffle);
        const double lr = t->sched.lr;
        const double t0 = comm_time();
        const long first_samples = p->samples;
        if (train_epoch(t, lr, &stop, &done, e) != ERR_OK)
            return e->code;
        const double seconds = comm_time() - t0;
        memset(last, 0, sizeof *last);
        last->epoch = p->epoch + 1;
        last->epochs = cfg->epochs;
        last->step = p->global_step;
        last->complete = p->step == t->steps_per_epoch;
        last->lr = lr;
        last->train_loss = p->samples > 0 ? p->loss_sum / p->samples : 0;
        last->seconds = seconds;
        last->samples_per_s = seconds > 0 ? (double)(p->samples - first_samples) / seconds : 0;
        if (!last->complete && stop)
            break; /* a signal: checkpoint and leave without evaluating */
        double next_lr = lr;
        if (root)
            next_lr = finish_epoch(t, last);
        if (last->complete) {
            comm_bcast(c, &next_lr, sizeof next_lr, 0);
            t->sched.lr = next_lr;
            p->epoch++;
            p->step = 0;
            p->loss_sum = 0;
            p->samples = 0;
            const int every = cfg->checkpoint_every_epochs;
            if (((every > 0 && p->epoch % every == 0) || stop) && trainer_save(t, e) != ERR_OK)
                return e->code;
        }
        gather_phases(t, last);
        if (root)
            metrics_epoch(&t->metrics, last);
    }
    if (trainer_save(t, e) != ERR_OK)
        return e->code;
    return stop ? ERR_STOPPED : ERR_OK;
}

int train_run(const Config *cfg, Comm *c, Err *e)
{
    install_signal_handlers(); /* before the data loads, so an early signal is not fatal */
    Trainer t;
    int rc = trainer_init(&t, cfg, c, e);
    if (rc != ERR_OK)
        return rc;
    const int root = c->rank == 0;
    if (root && !cfg->quiet) {
        config_print(cfg, stdout);
        printf("ranks %d on %d node(s); %d train and %d test images; %zu parameters; "
               "%ld steps per epoch; BLIS kernels %s\n",
               c->size, c->n_nodes, t.data.n[SPLIT_TRAIN], t.data.n[SPLIT_TEST], t.mlp.n_params,
               t.steps_per_epoch, gemm_kernels());
        if (cfg->lr_scaling == LR_SCALING_LINEAR)
            printf("lr %g = %g * batch %d / %d (--lr-scaling linear)\n", config_base_lr(cfg),
                   cfg->lr, cfg->batch_size, cfg->lr_base_batch);
        fflush(stdout);
    }
    rc = trainer_restore(&t, e);
    if (rc != ERR_OK) {
        trainer_free(&t);
        return rc;
    }
    const double t_start = comm_time();
    EpochStats last;
    memset(&last, 0, sizeof last);
    if (t.n_history > 0)
        last = t.history[t.n_history - 1];
    rc = train_loop(&t, &last, e);
    if (rc == ERR_OK || rc == ERR_STOPPED) {
        EpochStats rest; /* what the last epoch line did not count: the final checkpoint */
        gather_phases(&t, &rest);
        double run[N_PHASES][3];
        for (int k = 0; k < N_PHASES; k++)
            comm_min_avg_max(c, t.total[k], run[k]);
        double rss, pss, rss_stats[3], pss_stats[3];
        metrics_memory_self(&rss, &pss);
        comm_min_avg_max(c, rss, rss_stats);
        comm_min_avg_max(c, pss, pss_stats);
        if (root) {
            metrics_phases(&t.metrics, run, c->size, t.progress.global_step);
            metrics_memory(&t.metrics, rss_stats, pss_stats[1] * c->size, c->size);
        }
    }
    if (root && rc == ERR_OK && !cfg->quiet && c->size > 1)
        printf("weights bit-identical on all %d ranks (compared at every checkpoint and at the "
               "end)\n", c->size);
    if (root && rc == ERR_OK)
        metrics_final(&t.metrics, &last, comm_time() - t_start);
    if (root && rc == ERR_STOPPED)
        printf("stopped by signal %d at global step %ld: %s\n", (int)stop_signal,
               t.progress.global_step,
               cfg->checkpoint_dir[0] ? "checkpoint written; resume with --resume auto"
                                      : "no --checkpoint-dir, nothing saved");
    fflush(stdout);
    trainer_free(&t);
    return rc;
}

int train_eval(const Config *cfg, Comm *c, Err *e)
{
    Dataset data;
    gemm_init();
    ckpt_init();
    int rc = dataset_load(&data, c, cfg->data_dir, e);
    if (rc != ERR_OK)
        return rc;
    Mlp m;
    memset(&m, 0, sizeof m);
    float *x = NULL;
    uint8_t *y = NULL;
    int sizes[MLP_MAX_LAYERS + 1], n_sizes = 0, normalize = 0;
    if (c->rank == 0 &&
        ckpt_model_shape(cfg->checkpoint, sizes, MLP_MAX_LAYERS + 1, &n_sizes, &normalize, e) ==
            ERR_OK) {
        if (sizes[0] != DATASET_PIXELS || sizes[n_sizes - 1] != DATASET_CLASSES)
            err_set(e, ERR_INPUT, "%s: the model takes %d inputs and gives %d outputs; "
                    "MNIST needs %d and %d", cfg->checkpoint, sizes[0], sizes[n_sizes - 1],
                    DATASET_PIXELS, DATASET_CLASSES);
        else if (mlp_init(&m, sizes, n_sizes, EVAL_ROWS, 0, e) == ERR_OK &&
                 ckpt_load_model(cfg->checkpoint, &m, e) == ERR_OK) {
            x = malloc((size_t)EVAL_ROWS * DATASET_PIXELS * sizeof *x);
            y = malloc(EVAL_ROWS);
            if (x == NULL || y == NULL)
                err_set(e, ERR_RUNTIME, "out of memory for the evaluation buffers");
        }
    }
    rc = comm_agree(c, e);
    if (rc == ERR_OK && c->rank == 0) {
        long confusion[DATASET_CLASSES][DATASET_CLASSES];
        memset(confusion, 0, sizeof confusion);
        double loss, acc;
        evaluate(&data, &m, normalize, x, y, &loss, &acc, confusion);
        printf("checkpoint %s\ntest_loss %.6f  test_acc %.2f%%  (%d images)\n\n", cfg->checkpoint,
               loss, acc, data.n[SPLIT_TEST]);
        printf("class  accuracy   images\n");
        for (int k = 0; k < DATASET_CLASSES; k++) {
            long total = 0;
            for (int j = 0; j < DATASET_CLASSES; j++)
                total += confusion[k][j];
            printf("%5d  %7.2f%%  %7ld\n", k, total ? 100.0 * confusion[k][k] / total : 0.0,
                   total);
        }
        printf("\nconfusion matrix (rows: true class, columns: predicted)\n     ");
        for (int j = 0; j < DATASET_CLASSES; j++)
            printf("%6d", j);
        printf("\n");
        for (int k = 0; k < DATASET_CLASSES; k++) {
            printf("%5d", k);
            for (int j = 0; j < DATASET_CLASSES; j++)
                printf("%6ld", confusion[k][j]);
            printf("\n");
        }
    }
    free(x);
    free(y);
    mlp_free(&m);
    dataset_free(&data);
    return rc;
}
