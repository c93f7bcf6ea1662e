/* err: the error codes every module returns and the one-line message that goes with them.
 * It formats messages; it never prints them and never exits (train and main decide that). */
#ifndef MPITRAIN_ERR_H
#define MPITRAIN_ERR_H

#include <stddef.h>

/* Exit codes of the program, and the return codes of library-style functions. */
enum {
    ERR_OK = 0,      /* done */
    ERR_RUNTIME = 1, /* runtime failure: out of memory, I/O error, MPI failure, divergence */
    ERR_INPUT = 2,   /* bad usage or bad input: options, data files, checkpoints */
    ERR_STOPPED = 3  /* stopped early by a signal, checkpoint written */
};

typedef struct Err {
    int code;       /* one of the codes above; ERR_OK when nothing failed */
    char msg[1024]; /* one line, no trailing newline, without the "mpitrain: error: " prefix */
} Err;

/* Record a failure: sets e->code and formats e->msg; returns code so callers can
 * `return err_set(e, ERR_INPUT, "...")`. A NULL e is allowed and ignored. */
int err_set(Err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reset to ERR_OK with an empty message. */
void err_clear(Err *e);

#endif
