#include "ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "version.h"

#define NAME_MAX_LEN 64
#define MAX_CHECKPOINTS 4096 /* in one folder, considered by ckpt_load_latest */

/* ---------------------------------------------------------------- small HDF5 helpers ---
 * Each returns 0 on success and -1 on failure; the caller names the failure. Handles start
 * invalid (-1) and are closed in reverse order of opening. */

static int close_id(hid_t id, herr_t (*closer)(hid_t))
{
    return id >= 0 ? closer(id) : 0;
}

static int attr_write(hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                      const void *value)
{
    hid_t space = H5Screate(H5S_SCALAR), attr = -1;
    int rc = -1;
    if (space >= 0 && (attr = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT)) >= 0)
        rc = H5Awrite(attr, mem_type, value) < 0 ? -1 : 0;
    close_id(attr, H5Aclose);
    close_id(space, H5Sclose);
    return rc;
}

static int attr_long(hid_t obj, const char *name, long long v)
{
    return attr_write(obj, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, &v);
}

static int attr_double(hid_t obj, const char *name, double v)
{
    return attr_write(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

static int attr_string(hid_t obj, const char *name, const char *s)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    int rc = -1;
    if (type >= 0 && H5Tset_size(type, strlen(s) + 1) >= 0 && H5Tset_strpad(type, H5T_STR_NULLTERM) >= 0)
        rc = attr_write(obj, name, type, type, s);
    close_id(type, H5Tclose);
    return rc;
}

static int attr_read(hid_t obj, const char *name, hid_t mem_type, void *value)
{
    if (H5Aexists(obj, name) <= 0)
        return -1;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    int rc = attr >= 0 && H5Aread(attr, mem_type, value) >= 0 ? 0 : -1;
    close_id(attr, H5Aclose);
    return rc;
}

static int attr_read_long(hid_t obj, const char *name, long long *v)
{
    return attr_read(obj, name, H5T_NATIVE_LLONG, v);
}

static int attr_read_double(hid_t obj, const char *name, double *v)
{
    return attr_read(obj, name, H5T_NATIVE_DOUBLE, v);
}

/* A string attribute of fixed or variable length into buf. */
static int attr_read_string(hid_t obj, const char *name, char *buf, size_t len)
{
    if (H5Aexists(obj, name) <= 0)
        return -1;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT), ftype = -1, mtype = -1;
    int rc = -1;
    if (attr >= 0 && (ftype = H5Aget_type(attr)) >= 0 && H5Tget_class(ftype) == H5T_STRING) {
        if (H5Tis_variable_str(ftype) > 0) {
            char *s = NULL;
            mtype = H5Tcopy(H5T_C_S1);
            if (mtype >= 0 && H5Tset_size(mtype, H5T_VARIABLE) >= 0 &&
                H5Aread(attr, mtype, &s) >= 0 && s != NULL) {
                snprintf(buf, len, "%s", s);
                H5free_memory(s);
                rc = 0;
            }
        } else {
            size_t n = H5Tget_size(ftype);
            char *tmp = calloc(n + 1, 1);
            mtype = H5Tcopy(H5T_C_S1);
            if (tmp != NULL && mtype >= 0 && H5Tset_size(mtype, n + 1) >= 0 &&
                H5Tset_strpad(mtype, H5T_STR_NULLTERM) >= 0 && H5Aread(attr, mtype, tmp) >= 0) {
                snprintf(buf, len, "%s", tmp);
                rc = 0;
            }
            free(tmp);
        }
    }
    close_id(mtype, H5Tclose);
    close_id(ftype, H5Tclose);
    close_id(attr, H5Aclose);
    return rc;
}

/* A dataset of rank 1 or 2, chunked as one chunk with the Fletcher-32 checksum filter. An empty
 * one (dims[0] == 0) is extendible so that it can still be chunked. */
static int dataset_write(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, int rank,
                         const hsize_t *dims, const void *data)
{
    hsize_t maxdims[2] = {dims[0], rank > 1 ? dims[1] : 0};
    hsize_t chunk[2] = {dims[0], rank > 1 ? dims[1] : 0};
    if (dims[0] == 0) {
        maxdims[0] = H5S_UNLIMITED;
        chunk[0] = 64;
    }
    hid_t space = H5Screate_simple(rank, dims, maxdims), dcpl = -1, dset = -1;
    int rc = -1;
    if (space >= 0 && (dcpl = H5Pcreate(H5P_DATASET_CREATE)) >= 0 &&
        H5Pset_chunk(dcpl, rank, chunk) >= 0 && H5Pset_fletcher32(dcpl) >= 0 &&
        (dset = H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) >= 0)
        rc = dims[0] == 0 || H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0
                 ? 0
                 : -1;
    close_id(dset, H5Dclose);
    close_id(dcpl, H5Pclose);
    close_id(space, H5Sclose);
    return rc;
}

static int floats_write(hid_t loc, const char *name, int rank, const hsize_t *dims, const float *v)
{
    return dataset_write(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims, v);
}

/* A dataset stored as one chunk with the Fletcher-32 filter, as mpitrain writes them, takes
 * exactly its values plus the 4-byte checksum. HDF5 1.10 does not check that before running the
 * filter (a chunk recorded as shorter than 4 bytes crashes it; one recorded as huge makes it
 * allocate that much), and the chunk index has no checksum of its own; so check it here. Other
 * layouts (h5py's contiguous datasets, say) pass. */
static int checksummed_size_ok(hid_t dset, hsize_t values)
{
    hid_t dcpl = H5Dget_create_plist(dset), type = H5Dget_type(dset);
    int ok = dcpl >= 0 && type >= 0;
    if (ok && H5Pget_layout(dcpl) == H5D_CHUNKED) {
        int fletcher = 0, n = H5Pget_nfilters(dcpl);
        for (int i = 0; i < n; i++) {
            unsigned flags, config;
            size_t nelmts = 0;
            char fname[64];
            if (H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelmts, NULL, sizeof fname, fname,
                               &config) == H5Z_FILTER_FLETCHER32)
                fletcher = 1;
        }
        hsize_t chunk[2] = {0, 0};
        int crank = H5Pget_chunk(dcpl, 2, chunk);
        hsize_t per_chunk = crank == 1 ? chunk[0] : crank == 2 ? chunk[0] * chunk[1] : 0;
        if (fletcher && n == 1 && per_chunk == values)
            ok = H5Dget_storage_size(dset) == values * H5Tget_size(type) + 4;
    }
    close_id(type, H5Tclose);
    close_id(dcpl, H5Pclose);
    return ok;
}

/* Read a dataset whose shape must be exactly dims (rank 1 or 2) into mem. Returns 0, -1 when it
 * is missing or cannot be read (checksum failures land here), -2 on a shape mismatch, with the
 * found shape in found[]. */
static int dataset_read(hid_t loc, const char *name, hid_t mem_type, int rank, const hsize_t *dims,
                        void *mem, hsize_t found[2])
{
    found[0] = found[1] = 0;
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
        return -1;
    hid_t dset = H5Dopen2(loc, name, H5P_DEFAULT), space = -1;
    int rc = -1;
    if (dset >= 0 && (space = H5Dget_space(dset)) >= 0) {
        int r = H5Sget_simple_extent_ndims(space);
        if (r >= 1 && r <= 2) {
            H5Sget_simple_extent_dims(space, found, NULL);
            if (r != rank || found[0] != dims[0] || (rank > 1 && found[1] != dims[1]))
                rc = -2;
            else if (dims[0] == 0)
                rc = 0;
            else
                rc = checksummed_size_ok(dset, dims[0] * (rank > 1 ? dims[1] : 1)) &&
                             H5Dread(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, mem) >= 0
                         ? 0
                         : -1;
        } else {
            rc = -2;
        }
    }
    close_id(space, H5Sclose);
    close_id(dset, H5Dclose);
    return rc;
}

/* ------------------------------------------------------------------------ file level --- */

void ckpt_init(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

int ckpt_check_dir(const char *dir, Err *e)
{
    char path[CONFIG_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s", dir);
    /* mkdir -p */
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return err_set(e, ERR_INPUT, "%s: cannot create checkpoint folder: %s", path,
                           strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return err_set(e, ERR_INPUT, "%s: cannot create checkpoint folder: %s", dir,
                       strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(e, ERR_INPUT, "%s: not a folder (--checkpoint-dir)", dir);
    snprintf(path, sizeof path, "%s/.write-test.%ld", dir, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return err_set(e, ERR_INPUT, "%s: checkpoint folder is not writable: %s", dir,
                       strerror(errno));
    close(fd);
    unlink(path);
    return ERR_OK;
}

int ckpt_lock(const char *dir, int *fd, Err *e)
{
    char path[CONFIG_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/.lock", dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0)
        return err_set(e, ERR_INPUT, "%s: cannot open the lock file: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        char holder[32] = "";
        ssize_t n = pread(*fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(*fd);
        *fd = -1;
        return err_set(e, ERR_INPUT,
                       "%s: another mpitrain job (pid %s) is using this checkpoint folder; "
                       "give each job its own --checkpoint-dir",
                       dir, holder[0] ? holder : "unknown");
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(*fd, 0) != 0 || pwrite(*fd, pid, (size_t)len, 0) != len)
        return err_set(e, ERR_INPUT, "%s: cannot write the lock file: %s", path, strerror(errno));
    /* temporary files of a writer that died before its rename */
    DIR *d = opendir(dir);
    struct dirent *ent;
    while (d != NULL && (ent = readdir(d)) != NULL)
        if (strncmp(ent->d_name, ".tmp-step-", 10) == 0) {
            char old[CONFIG_PATH_MAX + 300];
            snprintf(old, sizeof old, "%s/%s", dir, ent->d_name);
            unlink(old);
        }
    if (d != NULL)
        closedir(d);
    return ERR_OK;
}

void ckpt_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the only descriptor releases the flock */
}

/* The global step of a file named step-<digits>.h5, or -1. */
static long step_of(const char *name)
{
    size_t n = strlen(name);
    if (n < 9 || strncmp(name, "step-", 5) != 0 || strcmp(name + n - 3, ".h5") != 0)
        return -1;
    long v = 0;
    for (size_t i = 5; i < n - 3; i++) {
        if (name[i] < '0' || name[i] > '9' || v > 100000000000L)
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    return v;
}

static int cmp_desc(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

/* The steps of the checkpoints in dir, newest first; returns how many (at most max), -1 when the
 * folder cannot be read. */
static int list_steps(const char *dir, long *steps, int max)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : -1;
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL && n < max) {
        long s = step_of(ent->d_name);
        if (s >= 0)
            steps[n++] = s;
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof *steps, cmp_desc);
    return n;
}

static void step_path(char *buf, size_t len, const char *dir, long step)
{
    snprintf(buf, len, "%s/step-%08ld.h5", dir, step);
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* ---------------------------------------------------------------------------- write --- */

/* The most floats one weight of m holds. */
static size_t largest_weight(const Mlp *m)
{
    size_t n = 1;
    for (int l = 0; l < m->n_layers; l++)
        if ((size_t)m->layer[l].in * m->layer[l].out > n)
            n = (size_t)m->layer[l].in * m->layer[l].out;
    return n;
}

static int write_model_group(hid_t file, const char *group, const Mlp *m, const float *buf)
{
    hid_t g = H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    float *torch = malloc(largest_weight(m) * sizeof *torch); /* PyTorch's [out][in] order */
    int rc = g >= 0 && torch != NULL ? 0 : -1;
    for (int l = 0; l < m->n_layers && rc == 0; l++) {
        char name[NAME_MAX_LEN];
        const MlpLayer *L = &m->layer[l];
        hsize_t wd[2] = {(hsize_t)L->out, (hsize_t)L->in}, bd[1] = {(hsize_t)L->out};
        mlp_param_name(l, 0, name, sizeof name);
        mlp_weight_to_torch(m, l, buf, torch);
        rc = floats_write(g, name, 2, wd, torch);
        mlp_param_name(l, 1, name, sizeof name);
        if (rc == 0)
            rc = floats_write(g, name, 1, bd, buf + L->b);
    }
    free(torch);
    close_id(g, H5Gclose);
    return rc;
}

static int write_optimizer(hid_t file, const CkptState *s)
{
    const Config *c = s->cfg;
    int has_buf = s->sgd->buf != NULL && s->sgd->has_buf;
    hid_t g = -1;
    int rc = 0;
    if (has_buf)
        rc = write_model_group(file, "/optimizer", s->mlp, s->sgd->buf);
    else
        rc = (g = H5Gcreate2(file, "/optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0 ? 0 : -1;
    if (rc == 0 && g < 0)
        g = H5Gopen2(file, "/optimizer", H5P_DEFAULT);
    if (rc == 0 && g >= 0)
        rc = attr_string(g, "type", "SGD") | attr_double(g, "lr", s->sched->lr) |
             attr_double(g, "momentum", c->momentum) | attr_double(g, "dampening", c->dampening) |
             attr_double(g, "weight_decay", c->weight_decay) |
             attr_long(g, "nesterov", c->nesterov) | attr_long(g, "has_momentum_buffer", has_buf);
    else
        rc = -1;
    close_id(g, H5Gclose);
    return rc;
}

static const char *const mode_names[] = {"max", "min"};
static const char *const threshold_names[] = {"rel", "abs"};

static int write_scheduler(hid_t file, const Scheduler *s)
{
    hid_t g = H5Gcreate2(file, "/scheduler", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return -1;
    int rc = attr_string(g, "type", config_sched_name(s->type)) |
             attr_double(g, "base_lr", s->base_lr) | attr_double(g, "lr", s->lr) |
             attr_long(g, "last_epoch", s->last_epoch) |
             attr_long(g, "warmup_epochs", s->warmup_epochs) |
             attr_long(g, "step_size", s->step_size) | attr_double(g, "gamma", s->gamma) |
             attr_long(g, "T_max", s->t_max) | attr_double(g, "eta_min", s->eta_min) |
             attr_string(g, "mode", mode_names[s->mode]) |
             attr_string(g, "threshold_mode", threshold_names[s->threshold_mode]) |
             attr_double(g, "factor", s->factor) | attr_double(g, "threshold", s->threshold) |
             attr_double(g, "min_lr", s->min_lr) | attr_double(g, "eps", s->eps) |
             attr_long(g, "patience", s->patience) | attr_long(g, "cooldown", s->cooldown) |
             attr_double(g, "best", s->best) | attr_long(g, "num_bad_epochs", s->num_bad_epochs) |
             attr_long(g, "cooldown_counter", s->cooldown_counter);
    long long ms[CONFIG_MAX_MILESTONES];
    for (int i = 0; i < s->n_milestones; i++)
        ms[i] = s->milestones[i];
    hsize_t md[1] = {(hsize_t)s->n_milestones};
    if (rc == 0)
        rc = dataset_write(g, "milestones", H5T_STD_I64LE, H5T_NATIVE_LLONG, 1, md, ms);
    close_id(g, H5Gclose);
    return rc;
}

static int write_progress(hid_t file, const CkptState *s)
{
    hid_t g = H5Gcreate2(file, "/progress", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return -1;
    const Progress *p = s->progress;
    int rc = attr_long(g, "epoch", p->epoch) | attr_long(g, "step_in_epoch", p->step) |
             attr_long(g, "global_step", p->global_step) |
             attr_long(g, "seed", (long long)s->cfg->seed) |
             attr_long(g, "batch_size", s->cfg->batch_size) |
             attr_double(g, "epoch_loss_sum", p->loss_sum) |
             attr_long(g, "epoch_samples", p->samples);
    close_id(g, H5Gclose);
    return rc;
}

static int write_config(hid_t file, const Config *cfg)
{
    hid_t g = H5Gcreate2(file, "/config", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < config_count() && rc == 0; i++) {
        char value[CONFIG_PATH_MAX + 32];
        config_format(cfg, i, value, sizeof value);
        rc = attr_string(g, config_name(i), value);
    }
    close_id(g, H5Gclose);
    return rc;
}

/* The columns of /history: one 1-D dataset each, a row per complete epoch. */
enum { H_EPOCH, H_STEP, H_LR, H_TRAIN_LOSS, H_TEST_LOSS, H_TEST_ACC, H_SECONDS, H_EVAL_SECONDS,
       N_HISTORY_COLUMNS };
static const char *const history_names[N_HISTORY_COLUMNS] = {
    "epoch", "step", "lr", "train_loss", "test_loss", "test_acc", "seconds", "eval_seconds"};

static double *history_column(EpochStats *h, int col)
{
    switch (col) {
    case H_LR: return &h->lr;
    case H_TRAIN_LOSS: return &h->train_loss;
    case H_TEST_LOSS: return &h->test_loss;
    case H_TEST_ACC: return &h->test_acc;
    case H_SECONDS: return &h->seconds;
    default: return &h->eval_seconds;
    }
}

static int write_history(hid_t file, const CkptState *s)
{
    hid_t g = H5Gcreate2(file, "/history", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return -1;
    int n = s->n_history, rc = 0;
    hsize_t dims[1] = {(hsize_t)n};
    double *col = malloc(sizeof(double) * (size_t)(n ? n : 1));
    long long *icol = malloc(sizeof(long long) * (size_t)(n ? n : 1));
    if (col == NULL || icol == NULL)
        rc = -1;
    for (int c = 0; c < N_HISTORY_COLUMNS && rc == 0; c++) {
        if (c == H_EPOCH || c == H_STEP) {
            for (int i = 0; i < n; i++)
                icol[i] = c == H_EPOCH ? s->history[i].epoch : s->history[i].step;
            rc = dataset_write(g, history_names[c], H5T_STD_I64LE, H5T_NATIVE_LLONG, 1, dims, icol);
        } else {
            for (int i = 0; i < n; i++)
                col[i] = *history_column(&s->history[i], c);
            rc = dataset_write(g, history_names[c], H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims, col);
        }
    }
    free(col);
    free(icol);
    close_id(g, H5Gclose);
    return rc;
}

/* Bob Jenkins' lookup3 hash (hashlittle, byte by byte), the checksum HDF5 puts on metadata. */
static uint32_t rot32(uint32_t x, int k) { return x << k | x >> (32 - k); }

static uint32_t lookup3(const unsigned char *k, size_t n)
{
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)n;
    for (; n > 12; n -= 12, k += 12) {
        a += k[0] | (uint32_t)k[1] << 8 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 24;
        b += k[4] | (uint32_t)k[5] << 8 | (uint32_t)k[6] << 16 | (uint32_t)k[7] << 24;
        c += k[8] | (uint32_t)k[9] << 8 | (uint32_t)k[10] << 16 | (uint32_t)k[11] << 24;
        a -= c; a ^= rot32(c, 4);  c += b;
        b -= a; b ^= rot32(a, 6);  a += c;
        c -= b; c ^= rot32(b, 8);  b += a;
        a -= c; a ^= rot32(c, 16); c += b;
        b -= a; b ^= rot32(a, 19); a += c;
        c -= b; c ^= rot32(b, 4);  b += a;
    }
    if (n == 0)
        return c;
    unsigned char t[12] = {0};
    memcpy(t, k, n);
    a += t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
    b += t[4] | (uint32_t)t[5] << 8 | (uint32_t)t[6] << 16 | (uint32_t)t[7] << 24;
    c += t[8] | (uint32_t)t[9] << 8 | (uint32_t)t[10] << 16 | (uint32_t)t[11] << 24;
    c ^= b; c -= rot32(b, 14);
    a ^= c; a -= rot32(c, 11);
    b ^= a; b -= rot32(a, 25);
    c ^= b; c -= rot32(b, 16);
    a ^= c; a -= rot32(c, 4);
    b ^= a; b -= rot32(a, 14);
    c ^= b; c -= rot32(b, 24);
    return c;
}

/* HDF5 1.10's H5Fget_file_image clears the "open for writing" flag in the image's superblock
 * (version 2 or 3) but keeps the checksum of the flagged one, so the image would not open.
 * Recompute that checksum: signature 8, version, sizes and flags 4, four addresses, checksum. */
static int fix_superblock_checksum(unsigned char *img, size_t size)
{
    if (size < 12 || memcmp(img, "\211HDF\r\n\032\n", 8) != 0)
        return -1;
    if (img[8] < 2)
        return 0; /* versions 0 and 1 carry no checksum */
    size_t body = 12 + 4 * (size_t)img[9];
    if (img[8] > 3 || size < body + 4)
        return -1;
    uint32_t sum = lookup3(img, body);
    for (int i = 0; i < 4; i++)
        img[body + i] = (unsigned char)(sum >> 8 * i);
    return 0;
}

/* Build the whole checkpoint as an HDF5 file image in memory (the core driver, no backing
 * store): HDF5 never touches the disk, so a full or failing disk cannot leave it with a file it
 * failed to close. Returns the image (free it) and its size, or NULL. */
static void *build_image(const char *name, const CkptState *s, size_t *size)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), file = -1;
    int rc = -1;
    void *image = NULL;
    /* 1.8+ object headers carry checksums of the metadata too */
    if (fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 20, 0) >= 0 &&
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) >= 0 &&
        (file = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) >= 0) {
        rc = attr_string(file, "format", CKPT_FORMAT) |
             attr_long(file, "format_version", CKPT_FORMAT_VERSION) |
             attr_string(file, "program_version", MPITRAIN_VERSION) |
             attr_long(file, "world_size", s->world_size);
        if (rc == 0)
            rc = write_model_group(file, "/model", s->mlp, s->mlp->params);
        if (rc == 0)
            rc = write_optimizer(file, s);
        if (rc == 0)
            rc = write_scheduler(file, s->sched);
        if (rc == 0)
            rc = write_progress(file, s);
        if (rc == 0)
            rc = write_config(file, s->cfg);
        if (rc == 0)
            rc = write_history(file, s);
        ssize_t n = rc == 0 && H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0
                        ? H5Fget_file_image(file, NULL, 0)
                        : -1;
        if (n > 0 && (image = malloc((size_t)n)) != NULL &&
            H5Fget_file_image(file, image, (size_t)n) == n &&
            fix_superblock_checksum(image, (size_t)n) == 0) {
            *size = (size_t)n;
        } else {
            free(image);
            image = NULL;
        }
    }
    if (file >= 0 && H5Fclose(file) < 0) {
        free(image);
        image = NULL;
    }
    close_id(fapl, H5Pclose);
    return image;
}

/* Write the image to path, a new file, and sync it. Returns 0, or -1 with errno set. */
static int write_synced(const char *path, const void *image, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    const char *p = image;
    while (size > 0) {
        ssize_t k = write(fd, p, size);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int saved = k < 0 ? errno : ENOSPC;
            close(fd);
            errno = saved;
            return -1;
        }
        p += k;
        size -= (size_t)k;
    }
    if (fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return close(fd);
}

int ckpt_write(const char *dir, int keep, const CkptState *s, char *path, size_t len, Err *e)
{
    char tmp[CONFIG_PATH_MAX + 64];
    step_path(path, len, dir, s->progress->global_step);
    snprintf(tmp, sizeof tmp, "%s/.tmp-step-%08ld.%ld.h5", dir, s->progress->global_step,
             (long)getpid());
    unlink(tmp);
    size_t size = 0;
    void *image = build_image(tmp, s, &size);
    if (image == NULL)
        return err_set(e, ERR_RUNTIME, "%s: cannot build the checkpoint in memory (out of memory?)",
                       path);
    int wrote = write_synced(tmp, image, size);
    int saved = errno;
    free(image);
    if (wrote != 0) {
        unlink(tmp);
        return err_set(e, ERR_RUNTIME, "%s: cannot write checkpoint: %s", path, strerror(saved));
    }
    const char *hook = getenv("MPITRAIN_TEST_STOP_BEFORE_RENAME");
    if (hook != NULL && hook[0] == '1')
        raise(SIGSTOP); /* fault-injection tests kill the process here */
    if (rename(tmp, path) != 0) {
        saved = errno;
        unlink(tmp);
        return err_set(e, ERR_RUNTIME, "%s: cannot rename checkpoint into place: %s", path,
                       strerror(saved));
    }
    if (fsync_path(dir, O_RDONLY | O_DIRECTORY) != 0)
        return err_set(e, ERR_RUNTIME, "%s: cannot sync the checkpoint folder: %s", dir,
                       strerror(errno));
    long steps[MAX_CHECKPOINTS];
    int n = list_steps(dir, steps, MAX_CHECKPOINTS);
    for (int i = keep; i < n; i++) {
        char old[CONFIG_PATH_MAX + 64];
        step_path(old, sizeof old, dir, steps[i]);
        unlink(old);
    }
    return ERR_OK;
}

/* ----------------------------------------------------------------------------- read --- */

/* "784-100-10" */
static void arch_text(const int *sizes, int n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used + 1 < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? "-%d" : "%d", sizes[i]);
}

/* HDF5's oldest file format (superblock version 0 or 1: what h5py writes unless told
 * libver="latest") has no checksums on its metadata, and HDF5 1.10 decodes a damaged object
 * header or local heap of such a file without bounds checks (the fuzzer found a heap overflow
 * and a NULL read, tests/fuzz/README.md). So mpitrain reads only files whose superblock is
 * version 2 or 3, whose metadata HDF5 verifies by checksum before decoding it. The superblock
 * is where HDF5 looks for it: at offset 0, 512, 1024, 2048, ... Returns ERR_OK also when there
 * is no HDF5 signature at all, which H5Fopen then reports. */
static int check_format(const char *path, off_t size, Err *e)
{
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return err_set(e, ERR_INPUT, "%s: %s", path, strerror(errno));
    int rc = ERR_OK;
    for (off_t at = 0; at + 9 <= size; at = at == 0 ? 512 : 2 * at) {
        unsigned char head[9];
        if (pread(fd, head, sizeof head, at) != (ssize_t)sizeof head) {
            rc = err_set(e, ERR_INPUT, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
        if (memcmp(head, signature, sizeof signature) != 0)
            continue;
        if (head[8] < 2)
            rc = err_set(e, ERR_INPUT,
                         "%s: HDF5's oldest file format (superblock version %d), whose metadata "
                         "has no checksums; rewrite it with 'h5repack --latest %s NEW.h5' (or "
                         "write it with h5py.File(..., libver=\"latest\"))",
                         path, head[8], path);
        break;
    }
    close(fd);
    return rc;
}

static int open_file(const char *path, hid_t *file, Err *e)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return err_set(e, ERR_INPUT, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return err_set(e, ERR_INPUT, "%s: not a regular file", path);
    if (check_format(path, st.st_size, e) != ERR_OK)
        return ERR_INPUT;
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*file < 0)
        return err_set(e, ERR_INPUT, "%s: not a readable HDF5 file (truncated, corrupt or not HDF5)",
                       path);
    return ERR_OK;
}

/* The widths of the fcN layers under /model: returns the count of widths (layers + 1), or -1
 * with a message for an inconsistent or missing /model. */
static int model_shape(hid_t file, const char *path, int *sizes, int max, Err *e)
{
    if (H5Lexists(file, "/model", H5P_DEFAULT) <= 0) {
        err_set(e, ERR_INPUT, "%s: no /model group (fc1.weight, fc1.bias, ...)", path);
        return -1;
    }
    hid_t g = H5Gopen2(file, "/model", H5P_DEFAULT);
    int n = 0;
    for (int l = 0; g >= 0; l++) {
        char name[NAME_MAX_LEN];
        mlp_param_name(l, 0, name, sizeof name);
        if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
            break;
        hid_t d = H5Dopen2(g, name, H5P_DEFAULT), sp = d >= 0 ? H5Dget_space(d) : -1;
        hsize_t dims[2] = {0, 0};
        int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
        if (rank == 2)
            H5Sget_simple_extent_dims(sp, dims, NULL);
        close_id(sp, H5Sclose);
        close_id(d, H5Dclose);
        if (rank != 2 || dims[0] == 0 || dims[1] == 0 || dims[0] > 1u << 20 || dims[1] > 1u << 20) {
            err_set(e, ERR_INPUT, "%s: /model/%s is not a 2-D [out][in] matrix", path, name);
            n = -1;
            break;
        }
        if (l + 2 > max) {
            err_set(e, ERR_INPUT, "%s: more layers under /model than this program builds", path);
            n = -1;
            break;
        }
        if (l == 0)
            sizes[0] = (int)dims[1];
        else if (sizes[l] != (int)dims[1]) {
            err_set(e, ERR_INPUT, "%s: /model/%s takes %d inputs but the layer before gives %d",
                    path, name, (int)dims[1], sizes[l]);
            n = -1;
            break;
        }
        sizes[l + 1] = (int)dims[0];
        n = l + 2;
    }
    close_id(g, H5Gclose);
    if (n == 0)
        err_set(e, ERR_INPUT, "%s: /model has no fc1.weight", path);
    return n > 0 ? n : -1;
}

/* Read a model-shaped group (/model or /optimizer) into buf [n_params]. */
static int read_model_group(hid_t file, const char *group, const char *path, const Mlp *m,
                            float *buf, Err *e)
{
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
    if (g < 0)
        return err_set(e, ERR_INPUT, "%s: no %s group", path, group);
    float *torch = malloc(largest_weight(m) * sizeof *torch); /* PyTorch's [out][in] order */
    int rc = torch != NULL ? ERR_OK : err_set(e, ERR_RUNTIME, "out of memory reading %s", path);
    for (int l = 0; l < m->n_layers && rc == ERR_OK; l++) {
        const MlpLayer *L = &m->layer[l];
        for (int bias = 0; bias < 2 && rc == ERR_OK; bias++) {
            char name[NAME_MAX_LEN];
            mlp_param_name(l, bias, name, sizeof name);
            hsize_t dims[2] = {(hsize_t)L->out, (hsize_t)L->in}, found[2];
            int r = dataset_read(g, name, H5T_NATIVE_FLOAT, bias ? 1 : 2, dims,
                                 bias ? buf + L->b : torch, found);
            if (r == 0 && !bias)
                mlp_weight_from_torch(m, l, torch, buf);
            if (r == -2)
                rc = err_set(e, ERR_INPUT, "%s: %s/%s has the wrong shape", path, group, name);
            else if (r != 0)
                rc = err_set(e, ERR_INPUT, "%s: cannot read %s/%s (missing, or fails its checksum)",
                             path, group, name);
        }
    }
    free(torch);
    close_id(g, H5Gclose);
    return rc;
}

/* Check that the open file's /model fits m; names both architectures when it does not. */
static int check_arch(hid_t file, const char *path, const Mlp *m, Err *e)
{
    int found[MLP_MAX_LAYERS + 2], want[MLP_MAX_LAYERS + 2];
    int n = model_shape(file, path, found, MLP_MAX_LAYERS + 2, e);
    if (n < 0)
        return ERR_INPUT;
    want[0] = m->layer[0].in;
    for (int l = 0; l < m->n_layers; l++)
        want[l + 1] = m->layer[l].out;
    int same = n == m->n_layers + 1;
    for (int i = 0; same && i < n; i++)
        same = found[i] == want[i];
    if (!same) {
        char a[128], b[128];
        arch_text(found, n, a, sizeof a);
        arch_text(want, m->n_layers + 1, b, sizeof b);
        return err_set(e, ERR_INPUT,
                       "%s: checkpoint holds a %s network but this run builds %s "
                       "(match --hidden, or use another checkpoint)",
                       path, a, b);
    }
    return ERR_OK;
}

static int read_scheduler(hid_t file, const char *path, Scheduler *s, int *corrupt, Err *e)
{
    hid_t g = H5Gopen2(file, "/scheduler", H5P_DEFAULT);
    char type[32] = "";
    long long last_epoch = 0, bad = 0, cool = 0;
    int rc = g >= 0 && attr_read_string(g, "type", type, sizeof type) == 0 &&
                     attr_read_double(g, "base_lr", &s->base_lr) == 0 &&
                     attr_read_double(g, "lr", &s->lr) == 0 &&
                     attr_read_long(g, "last_epoch", &last_epoch) == 0 &&
                     attr_read_double(g, "best", &s->best) == 0 &&
                     attr_read_long(g, "num_bad_epochs", &bad) == 0 &&
                     attr_read_long(g, "cooldown_counter", &cool) == 0
                 ? ERR_OK
                 : err_set(e, ERR_INPUT, "%s: /scheduler is missing or incomplete", path);
    if (rc != ERR_OK)
        *corrupt = 1;
    close_id(g, H5Gclose);
    if (rc == ERR_OK && strcmp(type, config_sched_name(s->type)) != 0)
        rc = err_set(e, ERR_INPUT, "%s: checkpoint was trained with --sched %s, this run asks for "
                                   "--sched %s", path, type, config_sched_name(s->type));
    s->last_epoch = (int)last_epoch;
    s->num_bad_epochs = (int)bad;
    s->cooldown_counter = (int)cool;
    return rc;
}

static int read_history(hid_t file, const char *path, CkptState *s, int *corrupt, Err *e)
{
    hid_t g = H5Gopen2(file, "/history", H5P_DEFAULT), d = -1, sp = -1;
    hsize_t n = 0;
    if (g >= 0 && (d = H5Dopen2(g, "epoch", H5P_DEFAULT)) >= 0 && (sp = H5Dget_space(d)) >= 0)
        H5Sget_simple_extent_dims(sp, &n, NULL);
    close_id(sp, H5Sclose);
    close_id(d, H5Dclose);
    int rc = ERR_OK;
    if (g < 0)
        rc = err_set(e, ERR_INPUT, "%s: no /history group", path);
    else if (n > (hsize_t)s->capacity)
        rc = err_set(e, ERR_INPUT, "%s: checkpoint has trained %llu epochs, more than --epochs %d",
                     path, (unsigned long long)n, s->capacity);
    double *col = NULL;
    long long *icol = NULL;
    if (rc == ERR_OK) { /* n is known to be at most the capacity */
        col = malloc(sizeof(double) * (size_t)(n ? n : 1));
        icol = malloc(sizeof(long long) * (size_t)(n ? n : 1));
    }
    if (rc == ERR_OK && (col == NULL || icol == NULL))
        rc = err_set(e, ERR_RUNTIME, "out of memory reading /history");
    for (int c = 0; c < N_HISTORY_COLUMNS && rc == ERR_OK; c++) {
        hsize_t dims[1] = {n}, found[2];
        int isint = c == H_EPOCH || c == H_STEP;
        if (dataset_read(g, history_names[c], isint ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE, 1,
                         dims, isint ? (void *)icol : (void *)col, found) != 0) {
            rc = err_set(e, ERR_INPUT, "%s: cannot read /history/%s", path, history_names[c]);
            *corrupt = 1;
            break;
        }
        for (hsize_t i = 0; i < n; i++) {
            EpochStats *h = &s->history[i];
            if (c == H_EPOCH) {
                memset(h, 0, sizeof *h);
                h->epoch = (int)icol[i];
                h->complete = 1;
            } else if (c == H_STEP) {
                h->step = (long)icol[i];
            } else {
                *history_column(h, c) = col[i];
            }
        }
    }
    if (rc == ERR_OK)
        s->n_history = (int)n;
    free(col);
    free(icol);
    close_id(g, H5Gclose);
    return rc;
}

static int read_progress(hid_t file, const char *path, CkptState *s, int *corrupt, Err *e)
{
    hid_t g = H5Gopen2(file, "/progress", H5P_DEFAULT);
    long long epoch, step, gstep, seed, batch, samples;
    double loss_sum;
    int ok = g >= 0 && attr_read_long(g, "epoch", &epoch) == 0 &&
             attr_read_long(g, "step_in_epoch", &step) == 0 &&
             attr_read_long(g, "global_step", &gstep) == 0 && attr_read_long(g, "seed", &seed) == 0 &&
             attr_read_long(g, "batch_size", &batch) == 0 &&
             attr_read_double(g, "epoch_loss_sum", &loss_sum) == 0 &&
             attr_read_long(g, "epoch_samples", &samples) == 0;
    close_id(g, H5Gclose);
    if (!ok || epoch < 0 || step < 0 || gstep < 0 || samples < 0) {
        *corrupt = 1;
        return err_set(e, ERR_INPUT, "%s: /progress is missing, incomplete or negative", path);
    }
    if (step > 0 && (batch != s->cfg->batch_size || (uint64_t)seed != s->cfg->seed))
        return err_set(e, ERR_INPUT,
                       "%s: checkpoint stopped mid-epoch with --batch-size %lld --seed %lld; "
                       "resume with the same values",
                       path, batch, seed);
    Progress *p = s->progress;
    p->epoch = (int)epoch;
    p->step = (long)step;
    p->global_step = (long)gstep;
    p->loss_sum = loss_sum;
    p->samples = (long)samples;
    return ERR_OK;
}

/* Load path into s. *corrupt is set when the file is unreadable or fails a checksum (as opposed
 * to a readable file that does not fit this run). Nothing in s changes unless all of it loads. */
static int load_file(const char *path, CkptState *s, int *corrupt, Err *e)
{
    *corrupt = 0;
    hid_t file = -1;
    int rc = open_file(path, &file, e);
    if (rc != ERR_OK) {
        *corrupt = 1;
        return rc;
    }
    char format[64] = "";
    long long version = 0, has_buf = 0;
    if (attr_read_string(file, "format", format, sizeof format) != 0 ||
        strcmp(format, CKPT_FORMAT) != 0)
        rc = err_set(e, ERR_INPUT, "%s: not an mpitrain checkpoint (no format attribute \"%s\")",
                     path, CKPT_FORMAT);
    else if (attr_read_long(file, "format_version", &version) != 0 ||
             version != CKPT_FORMAT_VERSION)
        rc = err_set(e, ERR_INPUT,
                     "%s: unknown checkpoint format version %lld (this program reads %d)", path,
                     version, CKPT_FORMAT_VERSION);
    else
        rc = check_arch(file, path, s->mlp, e);
    if (rc != ERR_OK) {
        H5Fclose(file);
        return rc;
    }

    /* Everything is read into copies and committed only when all of it loaded. */
    const size_t n = s->mlp->n_params;
    float *params = malloc(n * sizeof(float)), *buf = malloc(n * sizeof(float));
    EpochStats *history = malloc(sizeof(EpochStats) * (size_t)(s->capacity ? s->capacity : 1));
    Scheduler sched = *s->sched;
    Progress progress = *s->progress;
    CkptState copy = *s;
    copy.sched = &sched;
    copy.progress = &progress;
    copy.history = history;
    if (params == NULL || buf == NULL || history == NULL)
        rc = err_set(e, ERR_RUNTIME, "out of memory loading %s", path);
    hid_t opt = rc == ERR_OK ? H5Gopen2(file, "/optimizer", H5P_DEFAULT) : -1;
    if (rc == ERR_OK && (opt < 0 || attr_read_long(opt, "has_momentum_buffer", &has_buf) != 0)) {
        rc = err_set(e, ERR_INPUT, "%s: /optimizer is missing or incomplete", path);
        *corrupt = 1;
    }
    close_id(opt, H5Gclose);
    if (rc == ERR_OK && (rc = read_model_group(file, "/model", path, s->mlp, params, e)) != ERR_OK)
        *corrupt = 1;
    if (rc == ERR_OK && has_buf && s->sgd->buf != NULL &&
        (rc = read_model_group(file, "/optimizer", path, s->mlp, buf, e)) != ERR_OK)
        *corrupt = 1;
    if (rc == ERR_OK)
        rc = read_scheduler(file, path, &sched, corrupt, e);
    if (rc == ERR_OK)
        rc = read_progress(file, path, &copy, corrupt, e);
    if (rc == ERR_OK)
        rc = read_history(file, path, &copy, corrupt, e);
    if (H5Fclose(file) < 0 && rc == ERR_OK) {
        rc = err_set(e, ERR_INPUT, "%s: cannot close the file cleanly", path);
        *corrupt = 1;
    }
    if (rc == ERR_OK) {
        memcpy(s->mlp->params, params, n * sizeof(float));
        if (s->sgd->buf != NULL) {
            s->sgd->has_buf = has_buf != 0;
            if (has_buf)
                memcpy(s->sgd->buf, buf, n * sizeof(float));
        }
        *s->sched = sched;
        *s->progress = progress;
        memcpy(s->history, history, sizeof(EpochStats) * (size_t)copy.n_history);
        s->n_history = copy.n_history;
    }
    free(params);
    free(buf);
    free(history);
    return rc;
}

int ckpt_load(const char *path, CkptState *s, Err *e)
{
    int corrupt;
    return load_file(path, s, &corrupt, e);
}

int ckpt_load_latest(const char *dir, CkptState *s, char *path, size_t len, Err *e)
{
    path[0] = '\0';
    long steps[MAX_CHECKPOINTS];
    int n = list_steps(dir, steps, MAX_CHECKPOINTS);
    if (n < 0)
        return err_set(e, ERR_INPUT, "%s: cannot read the checkpoint folder: %s", dir,
                       strerror(errno));
    for (int i = 0; i < n; i++) {
        step_path(path, len, dir, steps[i]);
        int corrupt;
        if (load_file(path, s, &corrupt, e) == ERR_OK) {
            err_clear(e); /* forget the corrupt ones skipped before */
            return ERR_OK;
        }
        if (!corrupt)
            return e->code;
        fprintf(stderr, "mpitrain: warning: skipping %s\n", e->msg);
    }
    path[0] = '\0';
    if (n > 0)
        return err_set(e, ERR_INPUT, "%s: none of its %d checkpoint%s is readable", dir, n,
                       n == 1 ? "" : "s");
    err_clear(e);
    return ERR_OK;
}

int ckpt_model_shape(const char *path, int *sizes, int max, int *n_sizes, int *normalize, Err *e)
{
    hid_t file = -1;
    int rc = open_file(path, &file, e);
    if (rc != ERR_OK)
        return rc;
    int n = model_shape(file, path, sizes, max, e);
    *normalize = 0;
    char value[16];
    hid_t g = H5Lexists(file, "/config", H5P_DEFAULT) > 0 ? H5Gopen2(file, "/config", H5P_DEFAULT)
                                                         : -1;
    if (g >= 0 && attr_read_string(g, "normalize", value, sizeof value) == 0)
        *normalize = strcmp(value, "1") == 0;
    close_id(g, H5Gclose);
    H5Fclose(file);
    if (n < 0)
        return ERR_INPUT;
    *n_sizes = n;
    return ERR_OK;
}

int ckpt_load_model(const char *path, Mlp *m, Err *e)
{
    hid_t file = -1;
    int rc = open_file(path, &file, e);
    if (rc != ERR_OK)
        return rc;
    rc = check_arch(file, path, m, e);
    float *params = rc == ERR_OK ? malloc(m->n_params * sizeof(float)) : NULL;
    if (rc == ERR_OK && params == NULL)
        rc = err_set(e, ERR_RUNTIME, "out of memory loading %s", path);
    if (rc == ERR_OK)
        rc = read_model_group(file, "/model", path, m, params, e);
    H5Fclose(file);
    if (rc == ERR_OK)
        memcpy(m->params, params, m->n_params * sizeof(float));
    free(params);
    return rc;
}
