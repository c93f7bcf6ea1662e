#include "check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static long passed, failed;

/* Count one check; on failure print "file:line: " and the formatted message on one line. */
static int record(const char *file, int line, int ok, const char *fmt, va_list ap)
{
    if (ok) {
        passed++;
        return 1;
    }
    failed++;
    printf("%s:%d: FAIL: ", file, line);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    return 0;
}

int check_true(const char *file, int line, int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = record(file, line, ok, fmt, ap);
    va_end(ap);
    return r;
}

/* record() for the typed checks below, which build their message themselves. */
static int report(const char *file, int line, int ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int report(const char *file, int line, int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = record(file, line, ok, fmt, ap);
    va_end(ap);
    return r;
}

int check_int_eq(const char *file, int line, const char *expr, long long got, long long want)
{
    return report(file, line, got == want, "%s: expected %lld, got %lld", expr, want, got);
}

int check_dbl_eq(const char *file, int line, const char *expr, double got, double want)
{
    return report(file, line, got == want, "%s: expected %.17g, got %.17g", expr, want, got);
}

int check_near(const char *file, int line, const char *expr, double got, double want, double tol)
{
    double diff = got > want ? got - want : want - got;
    /* written so that a NaN anywhere fails */
    return report(file, line, diff <= tol, "%s: expected %.9g within %.3g, got %.9g (off by %.3g)",
                  expr, want, tol, got, diff);
}

int check_str_eq(const char *file, int line, const char *expr, const char *got, const char *want)
{
    return report(file, line, strcmp(got, want) == 0, "%s: expected \"%s\", got \"%s\"", expr,
                  want, got);
}

int check_str_has(const char *file, int line, const char *expr, const char *str, const char *sub)
{
    return report(file, line, strstr(str, sub) != NULL, "%s: expected to contain \"%s\", got \"%s\"",
                  expr, sub, str);
}

int check_summary(void)
{
    printf("%ld passed, %ld failed\n", passed, failed);
    fflush(stdout);
    return failed == 0 && passed > 0 ? 0 : 1;
}

uint64_t check_rng_u64(CheckRng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double check_rng_uniform(CheckRng *r, double lo, double hi)
{
    return lo + (hi - lo) * (double)(check_rng_u64(r) >> 11) * 0x1.0p-53;
}
