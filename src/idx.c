#include "idx.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* The data type byte of IDX for unsigned bytes, the only type MNIST uses. */
#define IDX_TYPE_UBYTE 0x08

static int fail(IdxReader *r, Err *e, int code, const char *what)
{
    err_set(e, code, "%s: %s", r->path, what);
    idx_close(r);
    return code;
}

/* gzread until n bytes or end of file; returns bytes read or -1 on a zlib error. */
static long long read_full(gzFile gz, void *dst, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t chunk = n - got > (1u << 30) ? (1u << 30) : n - got;
        int k = gzread(gz, (char *)dst + got, (unsigned)chunk);
        if (k < 0)
            return -1;
        if (k == 0) {
            /* zlib reports a stream cut short (its CRC never checked) as a 0-byte read with an
             * error set, not as -1 */
            int errnum;
            gzerror(gz, &errnum);
            if (errnum != Z_OK)
                return -1;
            break;
        }
        got += (size_t)k;
    }
    return (long long)got;
}

/* A failed gzread: an I/O error, or (for compressed files) corrupt or cut-off gzip data. */
static int read_error(IdxReader *r, Err *e)
{
    int errnum;
    const char *m = gzerror((gzFile)r->gz, &errnum);
    char msg[300];
    if (errnum == Z_ERRNO)
        snprintf(msg, sizeof msg, "read error: %s", strerror(errno));
    else
        snprintf(msg, sizeof msg, "corrupt or truncated gzip data (%s)", m);
    return fail(r, e, ERR_INPUT, msg);
}

int idx_open(IdxReader *r, const char *path, int want_ndim, Err *e)
{
    memset(r, 0, sizeof *r);
    r->raw_size = -1;
    snprintf(r->path, sizeof r->path, "%s", path);

    struct stat st;
    if (stat(path, &st) != 0)
        return err_set(e, ERR_INPUT, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return err_set(e, ERR_INPUT, "%s: not a regular file", path);
    gzFile gz = gzopen(path, "rb");
    if (gz == NULL)
        return err_set(e, ERR_INPUT, "%s: %s", path, errno ? strerror(errno) : "cannot open");
    r->gz = gz;
    gzbuffer(gz, 1u << 17);

    uint8_t head[4];
    long long got = read_full(gz, head, sizeof head);
    if (got < 0)
        return read_error(r, e);
    if (got == 0)
        return fail(r, e, ERR_INPUT, "empty file");
    if (got < 4)
        return fail(r, e, ERR_INPUT, "truncated: shorter than the 4-byte IDX magic number");
    if (gzdirect(gz))
        r->raw_size = (long long)st.st_size;
    if (head[0] != 0 || head[1] != 0 || head[2] != IDX_TYPE_UBYTE || head[3] != want_ndim) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "wrong magic number 0x%02x%02x%02x%02x (expected 0x000008%02x: unsigned bytes, "
                 "%d dimension%s)",
                 head[0], head[1], head[2], head[3], want_ndim, want_ndim,
                 want_ndim == 1 ? "" : "s");
        return fail(r, e, ERR_INPUT, msg);
    }
    if (want_ndim < 1 || want_ndim > IDX_MAX_DIMS)
        return fail(r, e, ERR_RUNTIME, "unsupported number of dimensions");
    r->ndim = want_ndim;

    uint8_t dimbytes[4 * IDX_MAX_DIMS];
    got = read_full(gz, dimbytes, 4 * (size_t)want_ndim);
    if (got < 0)
        return read_error(r, e);
    if (got < 4 * want_ndim)
        return fail(r, e, ERR_INPUT, "truncated inside the header");
    size_t total = 1;
    for (int i = 0; i < want_ndim; i++) {
        const uint8_t *b = dimbytes + 4 * i;
        r->dims[i] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (r->dims[i] == 0)
            return fail(r, e, ERR_INPUT, "a dimension in the header is 0");
        if (total > ((size_t)1 << 40) / r->dims[i])
            return fail(r, e, ERR_INPUT, "dimensions in the header are implausibly large");
        total *= r->dims[i];
    }
    r->data_bytes = total;
    /* deflate expands at most 1032:1, so a gzip file of n bytes holds at most 1032 n bytes: a
     * header promising more is refused before anyone allocates for it */
    const long long header = 4 + 4LL * want_ndim;
    if (r->raw_size < 0 && (long long)total + header > 1032LL * (long long)st.st_size + 1032) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "header promises %u items (%zu bytes), more than a %lld-byte gzip file can hold; "
                 "truncated or corrupt",
                 r->dims[0], total, (long long)st.st_size);
        return fail(r, e, ERR_INPUT, msg);
    }
    if (r->raw_size >= 0) {
        long long want = 4 + 4LL * want_ndim + (long long)total;
        if (r->raw_size != want) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "file has %lld bytes but its header promises %u items (%lld bytes); %s",
                     r->raw_size, r->dims[0], want,
                     r->raw_size < want ? "truncated?" : "extra data at the end");
            return fail(r, e, ERR_INPUT, msg);
        }
    }
    return ERR_OK;
}

int idx_read(IdxReader *r, uint8_t *dst, Err *e)
{
    gzFile gz = (gzFile)r->gz;
    long long got = read_full(gz, dst, r->data_bytes);
    if (got < 0)
        return read_error(r, e);
    if ((size_t)got < r->data_bytes) {
        char msg[200];
        snprintf(msg, sizeof msg, "truncated: header promises %u items (%zu data bytes), file has %lld",
                 r->dims[0], r->data_bytes, got);
        return fail(r, e, ERR_INPUT, msg);
    }
    uint8_t extra;
    got = read_full(gz, &extra, 1);
    if (got < 0)
        return read_error(r, e);
    if (got > 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "extra data after the %u items its header promises", r->dims[0]);
        return fail(r, e, ERR_INPUT, msg);
    }
    return ERR_OK;
}

void idx_close(IdxReader *r)
{
    if (r->gz != NULL)
        gzclose((gzFile)r->gz);
    r->gz = NULL;
}

int idx_find(const char *dir, const char *base, char *path, size_t len, Err *e)
{
    struct stat st;
    snprintf(path, len, "%s/%s", dir, base);
    if (stat(path, &st) == 0)
        return ERR_OK;
    snprintf(path, len, "%s/%s.gz", dir, base);
    if (stat(path, &st) == 0)
        return ERR_OK;
    return err_set(e, ERR_INPUT,
                   "%s/%s: no such file (nor %s.gz); run data/get_mnist.sh or give --data DIR", dir,
                   base, base);
}
