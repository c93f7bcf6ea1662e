/* fuzz_idx: libFuzzer target for the IDX reader (src/idx.c). Each input becomes a file twice,
 * as it is and gzip-compressed (so that the fuzzer's header and sizes also reach idx through a
 * valid gzip stream), and each file is opened as 1-D labels and as 3-D images; whatever opens is
 * read into a buffer of exactly r.data_bytes (when that is at most 64 MiB) and closed. The
 * reader must never crash, read or write out of bounds, leak or hit undefined behaviour. */
#define _GNU_SOURCE /* memfd_create */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "idx.h"

#define READ_CAP ((size_t)64 << 20)

typedef struct File {
    int fd;
    char path[64]; /* /proc/self/fd/N: a path that idx_open can stat and gzopen */
} File;

static File raw_file, gz_file;

static void file_make(File *f, const char *name)
{
    f->fd = memfd_create(name, 0);
    if (f->fd < 0) {
        perror("fuzz_idx: memfd_create");
        abort();
    }
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

static void file_set(File *f, const void *data, size_t size)
{
    if (ftruncate(f->fd, 0) != 0 || (size > 0 && pwrite(f->fd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz_idx: writing the input");
        abort();
    }
}

/* data, gzip-compressed, into f. */
static void file_set_gz(File *f, const uint8_t *data, size_t size)
{
    z_stream z = {0};
    uLong cap = compressBound((uLong)size) + 64;
    uint8_t *out = malloc(cap);
    /* windowBits 15 + 16: a gzip header and trailer around the deflate stream */
    if (out == NULL || deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)size;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    file_set(f, out, cap - z.avail_out);
    deflateEnd(&z);
    free(out);
}

/* Open file descriptors of this process: a gzFile idx forgets to close keeps one. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (d == NULL)
        abort();
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* Open path as ndim dimensions and, if that works, read it all. */
static void try_read(const char *path, int ndim)
{
    IdxReader r;
    Err e;
    err_clear(&e);
    if (idx_open(&r, path, ndim, &e) != ERR_OK) {
        idx_close(&r); /* documented as safe after a failed open */
        return;
    }
    if (r.ndim != ndim || r.data_bytes == 0)
        abort(); /* idx_open promised a valid header */
    if (r.data_bytes <= READ_CAP) {
        uint8_t *dst = malloc(r.data_bytes);
        if (dst == NULL)
            abort();
        idx_read(&r, dst, &e);
        free(dst);
    }
    idx_close(&r);
    idx_close(&r); /* twice: documented as safe */
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    file_make(&raw_file, "fuzz-idx");
    file_make(&gz_file, "fuzz-idx.gz");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    file_set(&raw_file, data, size);
    file_set_gz(&gz_file, data, size);
    int fds = open_fds();
    for (int ndim = 1; ndim <= 3; ndim += 2) {
        try_read(raw_file.path, ndim);
        try_read(gz_file.path, ndim);
    }
    if (open_fds() != fds) {
        fprintf(stderr, "fuzz_idx: the IDX reader left a file open\n");
        abort();
    }
    return 0;
}
