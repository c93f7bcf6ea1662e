#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Everything a run holds; built by trainer_init, released by trainer_free. */
typedef struct Trainer {
    const Config *cfg;
    Comm *comm;
    Dataset data;
    Mlp mlp;
    Sgd sgd;
    Scheduler sched;
    Metrics metrics;  /* rank 0 only */
    uint32_t *order;  /* [n_train]: this epoch's sample order */
    float *x;         /* [mlp.max_rows][784]: the current rows as floats */
    uint8_t *y;       /* [mlp.max_rows]: their labels */
    long steps_per_epoch;
} Trainer;

static void trainer_free(Trainer *t)
{
    if (t->comm->rank == 0)
        metrics_close(&t->metrics);
    free(t->order);
    free(t->x);
    free(t->y);
    sgd_free(&t->sgd);
    mlp_free(&t->mlp);
    dataset_free(&t->data);
}

/* Collective. Loads the data and builds model, optimizer and schedule; on failure frees what it
 * built and returns the agreed code. */
static int trainer_init(Trainer *t, const Config *cfg, Comm *c, Err *e)
{
    memset(t, 0, sizeof *t);
    t->cfg = cfg;
    t->comm = c;
    gemm_init();
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
        if (t->order == NULL || t->x == NULL || t->y == NULL)
            err_set(e, ERR_RUNTIME, "out of memory for the batch buffers");
    }
    if (e->code == ERR_OK && c->rank == 0)
        metrics_open(&t->metrics, cfg->metrics_path, cfg->quiet, cfg->progress, e);
    if (comm_agree(c, e) != ERR_OK) {
        trainer_free(t);
        return e->code;
    }
    mlp_init_params(&t->mlp, cfg->seed);
    sched_init(&t->sched, cfg);
    t->steps_per_epoch = cfg->drop_last ? n_train / cfg->batch_size
                                        : (n_train + cfg->batch_size - 1) / cfg->batch_size;
    if (t->steps_per_epoch == 0) {
        err_set(e, ERR_INPUT, "--batch-size %d is larger than the %d training samples and "
                              "--drop-last leaves no batch", cfg->batch_size, n_train);
        if (c->rank != 0)
            e->msg[0] = '\0';
        trainer_free(t);
        return ERR_INPUT;
    }
    return ERR_OK;
}

/* Rank 0: mean loss and accuracy (percent) on the test set; confusion[true][predicted] when not
 * NULL. */
static void evaluate(Trainer *t, double *loss, double *acc, long confusion[10][10])
{
    const int n = t->data.n[SPLIT_TEST];
    double loss_sum = 0;
    long correct = 0;
    for (int first = 0; first < n; first += t->mlp.max_rows) {
        int rows = n - first < t->mlp.max_rows ? n - first : t->mlp.max_rows;
        dataset_gather(&t->data, SPLIT_TEST, NULL, first, rows, t->cfg->normalize, t->x, t->y);
        const float *logits = mlp_forward(&t->mlp, t->x, rows);
        loss_softmax_xent(logits, t->y, rows, DATASET_CLASSES, NULL, &loss_sum, &correct);
        if (confusion != NULL)
            for (int r = 0; r < rows; r++) {
                const float *z = logits + (size_t)r * DATASET_CLASSES;
                int arg = 0;
                for (int j = 1; j < DATASET_CLASSES; j++)
                    if (z[j] > z[arg])
                        arg = j;
                confusion[t->y[r]][arg]++;
            }
    }
    *loss = loss_sum / n;
    *acc = 100.0 * (double)correct / n;
}

/* One optimizer step on global batch `step` of the epoch: this rank's slice forward and
 * backward, one allreduce of gradient and loss, the same SGD step on every rank. Returns the
 * global batch's summed loss (NaN or inf when the run diverged; the weights are then left as
 * they were). */
static double train_step(Trainer *t, long step, double lr)
{
    const Config *cfg = t->cfg;
    Mlp *m = &t->mlp;
    const int n_train = t->data.n[SPLIT_TRAIN];
    const long start = step * cfg->batch_size;
    const int batch = n_train - start < cfg->batch_size ? (int)(n_train - start) : cfg->batch_size;
    int first, rows;
    dataset_split(batch, t->comm->rank, t->comm->size, &first, &rows);
    dataset_gather(&t->data, SPLIT_TRAIN, t->order, (int)start + first, rows, cfg->normalize,
                   t->x, t->y);

    float *logits = mlp_forward(m, t->x, rows);
    double loss = 0;
    long correct = 0;
    loss_softmax_xent(logits, t->y, rows, DATASET_CLASSES, logits, &loss, &correct);
    mlp_backward(m, t->x, rows, logits);

    float *slots = m->grads + m->n_params;
    slots[SLOT_LOSS] = (float)loss;
    slots[SLOT_STOP] = 0.0f;
    comm_allreduce_sum(t->comm, m->grads, m->n_params + N_SLOTS);
    double batch_loss = slots[SLOT_LOSS];
    if (!isfinite(batch_loss))
        return batch_loss;
    const float inv = 1.0f / (float)batch;
    for (size_t i = 0; i < m->n_params; i++)
        m->grads[i] *= inv;
    sgd_step(&t->sgd, m->params, m->grads, lr);
    return batch_loss;
}

int train_run(const Config *cfg, Comm *c, Err *e)
{
    Trainer t;
    int rc = trainer_init(&t, cfg, c, e);
    if (rc != ERR_OK)
        return rc;
    const int root = c->rank == 0;
    if (root && !cfg->quiet) {
        config_print(cfg, stdout);
        printf("ranks %d on %d node(s); %d train and %d test images; %zu parameters; "
               "%ld steps per epoch\n",
               c->size, c->n_nodes, t.data.n[SPLIT_TRAIN], t.data.n[SPLIT_TEST], t.mlp.n_params,
               t.steps_per_epoch);
        fflush(stdout);
    }

    const double t_start = comm_time();
    EpochStats st;
    memset(&st, 0, sizeof st);
    long global_step = 0;
    int done = 0;
    for (int epoch = 0; epoch < cfg->epochs && !done; epoch++) {
        dataset_order(t.order, t.data.n[SPLIT_TRAIN], cfg->seed, epoch, cfg->shuffle);
        const double lr = t.sched.lr;
        const double t0 = comm_time();
        double loss_sum = 0;
        long samples = 0, step;
        for (step = 0; step < t.steps_per_epoch; step++) {
            double batch_loss = train_step(&t, step, lr);
            const int n_train = t.data.n[SPLIT_TRAIN];
            const long batch = n_train - step * cfg->batch_size < cfg->batch_size
                                   ? n_train - step * cfg->batch_size
                                   : cfg->batch_size;
            if (!isfinite(batch_loss)) {
                err_set(e, ERR_RUNTIME,
                        "training diverged: the loss is %s at step %ld (epoch %d); lower --lr",
                        isnan(batch_loss) ? "NaN" : "infinite", global_step + 1, epoch + 1);
                if (!root)
                    e->msg[0] = '\0';
                trainer_free(&t);
                return ERR_RUNTIME;
            }
            loss_sum += batch_loss;
            samples += batch;
            global_step++;
            if (root)
                metrics_progress(&t.metrics, epoch + 1, step + 1, t.steps_per_epoch,
                                 batch_loss / batch, comm_time());
            if (cfg->max_steps > 0 && global_step >= cfg->max_steps) {
                done = 1;
                step++;
                break;
            }
        }
        const double seconds = comm_time() - t0;

        st.epoch = epoch + 1;
        st.epochs = cfg->epochs;
        st.step = global_step;
        st.complete = step == t.steps_per_epoch;
        st.lr = lr;
        st.train_loss = samples > 0 ? loss_sum / samples : 0;
        st.seconds = seconds;
        st.samples_per_s = seconds > 0 ? samples / seconds : 0;
        double next_lr = lr;
        if (root) {
            const double t1 = comm_time();
            evaluate(&t, &st.test_loss, &st.test_acc, NULL);
            st.eval_seconds = comm_time() - t1;
            if (st.complete)
                next_lr = sched_step(&t.sched, cfg->plateau_metric == METRIC_VAL_ACC
                                                   ? st.test_acc
                                                   : st.test_loss);
            metrics_epoch(&t.metrics, &st);
        }
        comm_bcast(c, &next_lr, sizeof next_lr, 0);
        t.sched.lr = next_lr;
    }
    if (root)
        metrics_final(&t.metrics, &st, comm_time() - t_start);
    trainer_free(&t);
    return ERR_OK;
}

int train_eval(const Config *cfg, Comm *c, Err *e)
{
    (void)cfg;
    (void)c;
    return err_set(e, ERR_INPUT, "eval needs checkpoint support");
}
