/* alloc_limit: a bound on what mpitrain's own code may allocate inside the fuzz targets. The
 * targets link with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, which sends the calls of the
 * statically linked modules (src/) and of the targets here, while the shared libraries (HDF5,
 * zlib) keep calling malloc itself. A request over the limit is a size taken from the input
 * without a bound: it is reported with its stack and aborts, which libFuzzer counts as a crash.
 * HDF5's own oversized requests are left to ASan (max_allocation_size_mb in tests/fuzz/run.sh):
 * they fail with NULL, as under a memory limit, and HDF5 handles that. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sanitizer/common_interface_defs.h>

#define ALLOC_LIMIT ((size_t)1 << 30) /* 1 GiB: the targets' models and buffers stay far below */

void *__real_malloc(size_t n);
void *__real_calloc(size_t count, size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t count, size_t n);
void *__wrap_realloc(void *p, size_t n);

static void too_big(const char *fn, size_t count, size_t n)
{
    fprintf(stderr,
            "==ERROR: mpitrain's code called %s for %zu x %zu bytes, over the fuzz limit of %zu "
            "(a size read from the input and never bounded?)\n",
            fn, count, n, ALLOC_LIMIT);
    __sanitizer_print_stack_trace();
    abort();
}

void *__wrap_malloc(size_t n)
{
    if (n > ALLOC_LIMIT)
        too_big("malloc", 1, n);
    return __real_malloc(n);
}

void *__wrap_calloc(size_t count, size_t n)
{
    if (n != 0 && count > ALLOC_LIMIT / n)
        too_big("calloc", count, n);
    return __real_calloc(count, n);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (n > ALLOC_LIMIT)
        too_big("realloc", 1, n);
    return __real_realloc(p, n);
}
