/* fma_peak.c - the machine's FMA peak on one core, measured by the benchmark suite.
 *
 * Each variant keeps NACC independent vector accumulators (more than FMA latency x FMA ports,
 * so that the loop is throughput-bound) and runs a long chain of fused multiply-adds on them.
 * GFLOP/s = 2 * lanes * NACC * iterations / seconds. Built by benchmarks/suite.py with the
 * system C compiler (cc -O2; the accumulators stay in registers); prints one JSON object. Variants the CPU lacks are skipped.
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define NACC 12
#define ITERS 20000000L

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One kernel per (ISA, dtype): NACC accumulators a[i] = a[i] * m + c. */
#define FMA_KERNEL(NAME, ATTR, VT, SET1, FMA, ADD, STORE, LANES, ST)                        \
    __attribute__((target(ATTR), noinline)) static double NAME(void)                        \
    {                                                                                       \
        VT acc[NACC];                                                                       \
        for (int i = 0; i < NACC; i++) acc[i] = SET1((ST)(1.0 + 1e-9 * i));                 \
        const VT m = SET1((ST)0.999999), c = SET1((ST)1e-7);                                \
        double t0 = now();                                                                  \
        for (long it = 0; it < ITERS; it++) {                                               \
            _Pragma("GCC unroll 16") for (int i = 0; i < NACC; i++) acc[i] = FMA(acc[i], m, c); \
        }                                                                                   \
        double dt = now() - t0;                                                             \
        VT s = acc[0];                                                                      \
        for (int i = 1; i < NACC; i++) s = ADD(s, acc[i]);                                  \
        ST out[LANES];                                                                      \
        STORE(out, s);                                                                      \
        if (out[0] == (ST)12345.0) fprintf(stderr, "!");                                    \
        return 2.0 * LANES * NACC * (double)ITERS / dt * 1e-9;                              \
    }

FMA_KERNEL(avx512_f64, "avx512f", __m512d, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd,
           _mm512_storeu_pd, 8, double)
FMA_KERNEL(avx512_f32, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
           _mm512_storeu_ps, 16, float)
FMA_KERNEL(avx2_f64, "avx2,fma", __m256d, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd,
           _mm256_storeu_pd, 4, double)
FMA_KERNEL(avx2_f32, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps,
           _mm256_storeu_ps, 8, float)

/* Best of 3 runs (the machine may be shared). */
static double best(double (*fn)(void))
{
    double b = 0;
    for (int r = 0; r < 3; r++) {
        double g = fn();
        if (g > b) b = g;
    }
    return b;
}

int main(void)
{
    __builtin_cpu_init();
    int has512 = __builtin_cpu_supports("avx512f");
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    printf("{");
    if (has2)
        printf("\"avx2_f64\": %.2f, \"avx2_f32\": %.2f", best(avx2_f64), best(avx2_f32));
    if (has512)
        printf("%s\"avx512_f64\": %.2f, \"avx512_f32\": %.2f", has2 ? ", " : "", best(avx512_f64),
               best(avx512_f32));
    printf("}\n");
    return 0;
}
