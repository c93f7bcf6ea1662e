/* check: the assertions of the unit tests. A failed check prints one line, "file:line: what was
 * expected, what was got", and is counted; check_summary prints "N passed, M failed" and gives
 * the exit code. Also a small seeded random generator, independent of the code under test. */
#ifndef MPITRAIN_TEST_CHECK_H
#define MPITRAIN_TEST_CHECK_H

#include <stdint.h>

/* Each macro evaluates to 1 when the check passed, 0 when it failed. */
#define CHECK(cond) check_true(__FILE__, __LINE__, (cond) != 0, "%s", #cond)
#define CHECK_MSG(cond, ...) check_true(__FILE__, __LINE__, (cond) != 0, __VA_ARGS__)
#define CHECK_INT_EQ(got, want) \
    check_int_eq(__FILE__, __LINE__, #got, (long long)(got), (long long)(want))
/* exact equality of doubles, printed with %.17g */
#define CHECK_DBL_EQ(got, want) check_dbl_eq(__FILE__, __LINE__, #got, (got), (want))
/* |got - want| <= tol */
#define CHECK_NEAR(got, want, tol) check_near(__FILE__, __LINE__, #got, (got), (want), (tol))
#define CHECK_STR_EQ(got, want) check_str_eq(__FILE__, __LINE__, #got, (got), (want))
/* the string contains the substring */
#define CHECK_STR_HAS(str, sub) check_str_has(__FILE__, __LINE__, #str, (str), (sub))

int check_true(const char *file, int line, int ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int check_int_eq(const char *file, int line, const char *expr, long long got, long long want);
int check_dbl_eq(const char *file, int line, const char *expr, double got, double want);
int check_near(const char *file, int line, const char *expr, double got, double want, double tol);
int check_str_eq(const char *file, int line, const char *expr, const char *got, const char *want);
int check_str_has(const char *file, int line, const char *expr, const char *str, const char *sub);

/* Prints "N passed, M failed" on stdout; returns the exit code (0 only when nothing failed and
 * at least one check ran). */
int check_summary(void);

/* A seeded SplitMix64 stream for test inputs. */
typedef struct CheckRng {
    uint64_t state;
} CheckRng;

uint64_t check_rng_u64(CheckRng *r);
/* uniform in [lo, hi) */
double check_rng_uniform(CheckRng *r, double lo, double hi);

#endif
