/* main: parse the options, agree on them, run, and turn the outcome into the exit code. */
#include <stdio.h>

#include "comm.h"
#include "config.h"
#include "err.h"
#include "train.h"
#include "version.h"

static void report(const Comm *c, const Err *e)
{
    if (e->code == ERR_OK || e->msg[0] == '\0')
        return;
    if (c->rank == 0)
        fprintf(stderr, "mpitrain: error: %s\n", e->msg);
    else
        fprintf(stderr, "mpitrain: rank %d: error: %s\n", c->rank, e->msg);
    fflush(stderr);
}

int main(int argc, char **argv)
{
    Comm c;
    Err e;
    err_clear(&e);
    if (comm_init(&c, &argc, &argv, &e) != ERR_OK) {
        fprintf(stderr, "mpitrain: error: %s\n", e.msg);
        return e.code;
    }

    /* Every rank parses the same argv, so every rank reaches the same verdict; only rank 0
     * speaks. */
    Config cfg;
    config_defaults(&cfg);
    ParseResult what = PARSE_RUN;
    int rc = config_parse(&cfg, argc, argv, &what, &e);
    if (rc == ERR_OK && what == PARSE_RUN)
        rc = config_validate(&cfg, c.size, &e);
    if (c.rank != 0)
        e.msg[0] = '\0';
    rc = comm_agree(&c, &e);

    if (rc == ERR_OK && what == PARSE_HELP) {
        if (c.rank == 0)
            config_print_help(stdout);
    } else if (rc == ERR_OK && what == PARSE_VERSION) {
        if (c.rank == 0)
            printf("mpitrain %s\n", MPITRAIN_VERSION);
    } else if (rc == ERR_OK) {
        rc = cfg.mode == MODE_EVAL ? train_eval(&cfg, &c, &e) : train_run(&cfg, &c, &e);
    }
    report(&c, &e);
    comm_finalize(&c);
    return rc;
}
