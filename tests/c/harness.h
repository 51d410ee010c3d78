/* harness.h - a tiny test harness for the C kernel tests (no dependencies).
 * CHECK(cond, fmt, ...) counts a pass or a failure (printing the failure); run_* functions
 * in the test_*.c files call it; main() in test_kernels.c prints "N passed, M failed". */
#ifndef DLCORE_TEST_HARNESS_H
#define DLCORE_TEST_HARNESS_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dlcore/dlcore.h"

extern int g_pass, g_fail;

#define CHECK(cond, ...)                                                           \
    do {                                                                           \
        if (cond) {                                                                \
            g_pass++;                                                              \
        } else {                                                                   \
            g_fail++;                                                              \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                   \
            fprintf(stderr, __VA_ARGS__);                                          \
            fprintf(stderr, "\n");                                                 \
        }                                                                          \
    } while (0)

/* Deterministic pseudo-random numbers in [-1, 1) (xorshift64*). */
static inline double trand(unsigned long long *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ULL) >> 11) / 4503599627370496.0 - 1.0;
}
static inline void tfill_d(double *a, dl_index n, unsigned long long seed)
{
    for (dl_index i = 0; i < n; i++) a[i] = trand(&seed);
}
static inline void tfill_f(float *a, dl_index n, unsigned long long seed)
{
    for (dl_index i = 0; i < n; i++) a[i] = (float)trand(&seed);
}
/* max |a - b| / (atol + rtol |b|) <= 1 ? */
static inline int tclose_d(const double *a, const double *b, dl_index n, double rtol, double atol)
{
    for (dl_index i = 0; i < n; i++)
        if (!(fabs(a[i] - b[i]) <= atol + rtol * fabs(b[i]))) return 0;
    return 1;
}
static inline int tclose_f(const float *a, const float *b, dl_index n, double rtol, double atol)
{
    for (dl_index i = 0; i < n; i++)
        if (!(fabs((double)a[i] - (double)b[i]) <= atol + rtol * fabs((double)b[i]))) return 0;
    return 1;
}
/* Runs fn once on 1 thread and once on 2, and reports whether the n outputs are bitwise equal
 * (callers write the output of the first run to a and of the second to b). */
void set_threads(int n);

void run_core_tests(void);
void run_optim_tests(void);
void run_batchnorm_tests(void);
void run_conv_tests(void);
void run_engine_tests(void);
#endif
