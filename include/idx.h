/* idx: reads and validates IDX files (the MNIST file format), raw or gzip-compressed. It checks
 * the format (magic, dimensions, sizes); what the values mean is for dataset to check. */
#ifndef MPITRAIN_IDX_H
#define MPITRAIN_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define IDX_MAX_DIMS 4

typedef struct IdxReader {
    void *gz;                     /* the open gzFile; NULL when closed */
    char path[1024];              /* for messages */
    int ndim;
    uint32_t dims[IDX_MAX_DIMS];  /* dims[0] is the item count */
    size_t data_bytes;            /* product of dims: bytes of unsigned-byte data */
    long long raw_size;           /* file size when not compressed, else -1 */
} IdxReader;

/* Open path and validate its header: unsigned-byte data with want_ndim dimensions, all
 * positive; for an uncompressed file, also that its size is exactly header plus data. */
int idx_open(IdxReader *r, const char *path, int want_ndim, Err *e);

/* Read all r->data_bytes of data into dst and check that the file ends right there. */
int idx_read(IdxReader *r, uint8_t *dst, Err *e);

/* Close (safe to call twice or on a reader that failed to open). */
void idx_close(IdxReader *r);

/* Find dir/base or dir/base.gz, whichever exists (raw first). Returns ERR_OK and the path, or
 * ERR_INPUT with a message naming both. */
int idx_find(const char *dir, const char *base, char *path, size_t len, Err *e);

#endif
