#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Whether stdout ends at a terminal. Open MPI's mpirun hands each rank a pseudo-terminal even
 * when its own output goes to a file or a pipe, so under it ask where the launcher's stdout goes
 * (the parent process, when it is mpirun on this node); when that cannot be known, say no. */
static int stdout_is_terminal(void)
{
    if (!isatty(STDOUT_FILENO))
        return 0;
    if (getenv("OMPI_COMM_WORLD_SIZE") == NULL)
        return 1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd/1", (long)getppid());
    int fd = open(path, O_WRONLY | O_NOCTTY);
    if (fd < 0)
        return 0;
    int tty = isatty(fd);
    close(fd);
    return tty;
}

const char *const metrics_phase_names[N_PHASES] = {"data",      "compute", "allreduce",
                                                    "optimizer", "eval",    "checkpoint"};

int metrics_open(Metrics *m, const char *path, int quiet, int progress, Err *e)
{
    memset(m, 0, sizeof *m);
    m->quiet = quiet;
    m->progress = !quiet && (progress == PROGRESS_AUTO ? stdout_is_terminal() : progress == PROGRESS_ON);
    m->last_draw = -1;
    if (path[0] != '\0') {
        m->json = fopen(path, "a");
        if (m->json == NULL)
            return err_set(e, ERR_INPUT, "%s: cannot open the metrics file: %s", path,
                           strerror(errno));
    }
    return ERR_OK;
}

void metrics_close(Metrics *m)
{
    if (m->json != NULL)
        fclose(m->json);
    m->json = NULL;
}

static void clear_bar(Metrics *m)
{
    if (m->progress && m->last_draw >= 0) {
        printf("\r%*s\r", 79, "");
        m->last_draw = -1;
    }
}

void metrics_epoch(Metrics *m, const EpochStats *s)
{
    clear_bar(m);
    if (!m->quiet) {
        printf("epoch %3d/%d  lr %-10.6g  train_loss %.4f  test_loss %.4f  test_acc %6.2f%%  "
               "time %.2fs  %.0f samples/s%s\n",
               s->epoch, s->epochs, s->lr, s->train_loss, s->test_loss, s->test_acc, s->seconds,
               s->samples_per_s, s->complete ? "" : "  (partial epoch)");
        fflush(stdout);
    }
    if (m->json != NULL) {
        fprintf(m->json,
                "{\"epoch\":%d,\"step\":%ld,\"complete\":%s,\"lr\":%.17g,\"train_loss\":%.9g,"
                "\"test_loss\":%.9g,\"test_acc\":%.4f,\"seconds\":%.6f,\"eval_seconds\":%.6f,"
                "\"samples_per_s\":%.1f,\"phases\":{",
                s->epoch, s->step, s->complete ? "true" : "false", s->lr, s->train_loss,
                s->test_loss, s->test_acc, s->seconds, s->eval_seconds, s->samples_per_s);
        for (int k = 0; k < N_PHASES; k++)
            fprintf(m->json, "%s\"%s\":[%.6f,%.6f,%.6f]", k ? "," : "", metrics_phase_names[k],
                    s->phase[k][0], s->phase[k][1], s->phase[k][2]);
        fprintf(m->json, "}}\n");
        fflush(m->json);
    }
}

void metrics_progress(Metrics *m, int epoch, long step, long steps, double loss, double now)
{
    if (!m->progress || (m->last_draw >= 0 && now - m->last_draw < 0.1 && step < steps))
        return;
    m->last_draw = now;
    const int width = 30;
    int done = steps > 0 ? (int)(width * step / steps) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < done ? '#' : '.';
    bar[width] = '\0';
    printf("\repoch %3d [%s] %6ld/%ld  loss %.4f", epoch, bar, step, steps, loss);
    fflush(stdout);
}

void metrics_final(Metrics *m, const EpochStats *s, double total_seconds)
{
    clear_bar(m);
    printf("final: epoch %d/%d  step %ld  test_loss %.4f  test_acc %.2f%%  total %.2fs\n",
           s->epoch, s->epochs, s->step, s->test_loss, s->test_acc, total_seconds);
    fflush(stdout);
}

void metrics_phases(Metrics *m, double phase[N_PHASES][3], int ranks, long steps)
{
    if (m->quiet)
        return;
    printf("time per phase, whole run (seconds; min / mean / max over %d rank%s; per step):\n",
           ranks, ranks == 1 ? "" : "s");
    for (int k = 0; k < N_PHASES; k++)
        printf("  %-10s %9.3f %9.3f %9.3f   %8.1f us/step\n", metrics_phase_names[k],
               phase[k][0], phase[k][1], phase[k][2],
               steps > 0 ? 1e6 * phase[k][1] / steps : 0.0);
    fflush(stdout);
}

void metrics_memory_self(double *peak_rss, double *pss)
{
    struct rusage ru;
    *peak_rss = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss / 1024.0 : -1;
    *pss = -1;
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (f == NULL)
        return;
    char line[256];
    long kb;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Pss: %ld kB", &kb) == 1) {
            *pss = kb / 1024.0;
            break;
        }
    fclose(f);
}

void metrics_memory(Metrics *m, const double rss[3], double pss_total, int ranks)
{
    if (m->quiet)
        return;
    printf("memory: peak RSS per rank %.1f / %.1f / %.1f MiB (min / mean / max); "
           "PSS of all %d rank%s %.1f MiB\n",
           rss[0], rss[1], rss[2], ranks, ranks == 1 ? "" : "s", pss_total);
    fflush(stdout);
}
