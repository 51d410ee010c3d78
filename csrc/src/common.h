/* common.h - internal helpers shared by every kernel source (not installed).
 *
 * Threading idiom (house style): an explicit C branch, serial below DL_OMP_MIN_WORK, an
 * `omp parallel for schedule(static)` over fixed blocks above it. Never `parallel if(...)`
 * (a serialised region still builds a team, ~4 us per call). Block boundaries depend only on
 * the shapes, never on the thread count, so results are bitwise identical on 1 or N threads.
 */
#ifndef DLCORE_COMMON_H
#define DLCORE_COMMON_H

#include "dlcore/dlcore.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Work (in simple operations) below which a kernel stays serial. 32768 = about 1 us per
 * thread of fork/join cost at ~2e9 op/s, x8 threads, doubled for margin (STYLE.md): an
 * estimate, not yet a per-kernel measurement. benchmarks/bench_threshold.py measures 1 vs 2
 * threads for relu/sigmoid/softmax/Adam/pooling from 8K to 1M elements. Its two runs on
 * 2026-11-23 (load average 0.7-2.6: the second core was shared with another job) were noisy
 * but agree on one thing: at and just above the threshold the fork loses (relu forward at
 * 32768 elements: 2 threads 2.7x slower; sigmoid and Adam, weighted 20-24 per element, fork
 * from ~1.5K elements and were 1.3-2.5x slower on 2 threads up to 32K elements); 2 threads won
 * (1.4-1.9x) only from ~64K elements, and not consistently. The value stays until the
 * benchmark runs on a quiet machine (raising it then, per kernel, is the likely outcome). */
#define DL_OMP_MIN_WORK 32768
/* Rows a reduction block sums before its partial is added (fixed, thread-count independent). */
#define DL_REDUCE_ROWS 1024
/* Columns one column-block of a column reduction covers (partials live on the stack). */
#define DL_COL_BLOCK 256
/* A GEMM is cut into at most DL_GEMM_MAX_BLOCKS row blocks of at least DL_GEMM_MIN_BLOCK_FLOP
 * flop each; the count is a power of two and depends only on the shape. */
#define DL_GEMM_MAX_BLOCKS 8
#define DL_GEMM_MIN_BLOCK_FLOP 2000000.0
/* Products on dlcore's own tiled kernels fork (one row block per thread) only from this many
 * flop: ~150 us of one core in f64. Below it a fork/join and the idle pool's spinning cost more
 * than the second core saves on this 2-core machine class: the suite measured W1's fused step
 * (its GEMMs are 7.8 MFLOP) at 0.17 ms on 1 thread and 0.27 ms on 2 with a 2 MFLOP threshold
 * (benchmarks/suite.py, W1 thr=2); W4's and W5's products (86-540 MFLOP) still split. */
#define DL_OWN_GEMM_FORK_FLOP 16000000.0

#define DL_CAT_(a, b) a##b
#define DL_CAT(a, b) DL_CAT_(a, b)

/* 1 when a loop of `work` operations over `nblocks` independent blocks should fork. */
static inline int dl_should_fork(double work, dl_index nblocks)
{
#ifdef _OPENMP
    return work >= (double)DL_OMP_MIN_WORK && nblocks > 1 && !omp_in_parallel() &&
           omp_get_max_threads() > 1;
#else
    (void)work;
    (void)nblocks;
    return 0;
#endif
}

/* Number of row blocks for a GEMM of rows x (flop) work: a power of two in
 * [1, DL_GEMM_MAX_BLOCKS], each block at least DL_GEMM_MIN_BLOCK_FLOP and one row. */
static inline dl_index dl_gemm_blocks(dl_index rows, double flop)
{
    dl_index nb = 1;
    while (nb < DL_GEMM_MAX_BLOCKS && 2 * nb <= rows && flop / (double)(2 * nb) >= DL_GEMM_MIN_BLOCK_FLOP)
        nb *= 2;
    return nb;
}

/* [begin, end) of block b of n items cut into nb near-equal blocks. */
static inline dl_index dl_block_begin(dl_index n, dl_index nb, dl_index b)
{
    return (dl_index)(((long long)n * b) / nb);
}

/* for (i = 0; i < n; i++) { body } - forked over OpenMP threads (static schedule) when the
 * loop does `work` operations in all and dl_should_fork agrees, else a plain serial loop. The
 * iterations must be independent; each writes its own outputs. */
#define DL_PARALLEL_FOR(work, n, i, ...)                                                      \
    do {                                                                                      \
        const dl_index dl_n_ = (n);                                                           \
        if (dl_should_fork((double)(work), dl_n_)) {                                          \
            dl_index i;                                                                       \
            _Pragma("omp parallel for schedule(static)") for (i = 0; i < dl_n_; i++)          \
            {                                                                                 \
                __VA_ARGS__                                                                   \
            }                                                                                 \
        } else {                                                                              \
            for (dl_index i = 0; i < dl_n_; i++) {                                            \
                __VA_ARGS__                                                                   \
            }                                                                                 \
        }                                                                                     \
    } while (0)

#endif /* DLCORE_COMMON_H */
