/* refparse: reads the PyTorch reference files in tests/ref (see tests/make_reference.py): lines
 * of whitespace-separated tokens, blank and '#' lines skipped; a token is a bare word, a bare
 * number or key=value. It only splits and converts; what the lines mean is for the test. */
#ifndef MPITRAIN_TEST_REFPARSE_H
#define MPITRAIN_TEST_REFPARSE_H

#include <stddef.h>
#include <stdio.h>

typedef struct RefFile {
    FILE *f;
    char path[1024];
    int lineno;   /* of the current line */
    char *line;   /* the current line, split in place (getline's buffer) */
    size_t cap;
    char **tok;   /* [n_tok] tokens of the current line; tok[0] is its keyword */
    int n_tok, cap_tok;
} RefFile;

/* Open MPITRAIN_REF_DIR/name; on failure print why on stderr and return -1. */
int ref_open(RefFile *r, const char *name);
void ref_close(RefFile *r);

/* Read the next line that has tokens: 1, or 0 at the end of the file, or -1 on a read error. */
int ref_next(RefFile *r);

/* Is token i the word w? */
int ref_is(const RefFile *r, int i, const char *w);

/* The index of the first token from `from` on that is the word w, or -1. */
int ref_find(const RefFile *r, const char *w, int from);

/* The value of the token "key=value", or NULL when the line has none. */
const char *ref_value(const RefFile *r, const char *key);

/* Convert tokens from..: float32 values (strtof, exact for '%.9g') or float64 ones (strtod, exact
 * for repr()); stops at the first token that is not entirely a number or after max values.
 * Returns the count. */
int ref_floats(const RefFile *r, int from, float *out, int max);
int ref_doubles(const RefFile *r, int from, double *out, int max);

/* Text to a number, whole string or failure (-1). */
int ref_parse_double(const char *s, double *out);
int ref_parse_int(const char *s, int *out);

/* "2,5,5,9" into out; the count, or -1 when it is not such a list (or has more than max). */
int ref_parse_int_list(const char *s, int *out, int max);

#endif
