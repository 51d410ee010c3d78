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

/* Work (in simple operations; kernels weight an element by its cost, e.g. 1 for relu, 20 for
 * sigmoid, 24 for Adam) below which a kernel stays serial. Chosen on the book's workloads, not on
 * isolated kernels (`python -m benchmarks.bench_fork_work`, 2026-11-23 17:29-17:35 UTC, load
 * 0.2-1.1, 2 threads vs 1, 7 reps, W1-W5 and I2, fused and the book way):
 * with 32768 the book way of W1 and W2 forked once per step (the SGD update of W1's 39200
 * weights) and lost 1-8 %, the fused W3 step forked 32 times (batch norm over 100 x 100) for
 * nothing (1.00-1.05x, the same as with no fork at all); 262144 removes those forks and keeps
 * every fork that pays: W4 (1.8x fused, 1.7-1.9x book), W5 (1.7-2.0x; from 4194304 its conv
 * and pooling loops stop forking and W5 drops to 1.3-1.5x) and the book-way I2 (1.8-2.0x) are
 * unchanged within noise from 32768 to 1048576. The isolated-kernel sweep
 * (`python -m benchmarks.bench_threshold`) is dominated by allocation and page faults of the
 * outputs and by the pool waking up, so it did not decide. Tests lower it at run time
 * (dl_fork_min_work) to make every loop fork. */
#define DL_OMP_MIN_WORK 262144
/* Rows a reduction block sums before its partial is added (fixed, thread-count independent). */
#define DL_REDUCE_ROWS 1024
/* Columns one column-block of a column reduction covers (partials live on the stack). */
#define DL_COL_BLOCK 256
/* On the BLAS path a GEMM is cut into at most DL_GEMM_MAX_BLOCKS row blocks of at least
 * DL_GEMM_MIN_BLOCK_FLOP flop each; the count is a power of two and depends only on the shape
 * (the own kernels take one block per thread: gemm.inc). */
#define DL_GEMM_MAX_BLOCKS 8
#define DL_GEMM_MIN_BLOCK_FLOP 2000000.0
/* Products on dlcore's own tiled kernels fork (one row block per thread) only from this many
 * flop, and take one thread per half of it: ~150 us of one core in f64. Below it a fork/join
 * and the idle pool's spinning cost more than the second core saves on this 2-core machine
 * class: the suite measured W1's fused step (its GEMMs are 7.8 MFLOP) at 0.17 ms on 1 thread
 * and 0.27 ms on 2 with a 2 MFLOP threshold (benchmarks/suite.py, W1 thr=2); W4's and W5's
 * products (86-540 MFLOP) still split. */
#define DL_OWN_GEMM_FORK_FLOP 16000000.0

/* Counts one fork (DL_PARALLEL_FOR's parallel branch; read with dl_fork_count). */
void dl_fork_note(void);

/* The threshold in use: DL_OMP_MIN_WORK unless dl_fork_min_work changed it (tests force forks
 * with a low value to check that results do not depend on the thread count). */
extern double dl_omp_min_work;

/* `omp atomic read` / `omp atomic write` are OpenMP 3.1; MSVC's default /openmp is 2.0 and
 * rejects them. There (and without OpenMP) they become nothing: an aligned load or store of
 * at most 8 bytes is atomic on x86-64 and arm64, which is all these counters need. */
#if defined(_OPENMP) && !(defined(_MSC_VER) && !defined(__clang__) && _OPENMP < 201107)
#define DL_OMP_ATOMIC_READ _Pragma("omp atomic read")
#define DL_OMP_ATOMIC_WRITE _Pragma("omp atomic write")
#else
#define DL_OMP_ATOMIC_READ
#define DL_OMP_ATOMIC_WRITE
#endif

/* C99 restrict under the name every compiler takes (MSVC spells it __restrict). */
#if defined(_MSC_VER)
#define DL_RESTRICT __restrict
#else
#define DL_RESTRICT restrict
#endif

/* 64-byte aligned memory: C11 aligned_alloc, which the Windows C runtimes lack (there
 * _aligned_malloc, whose blocks must go back through _aligned_free, never free). */
#if defined(_WIN32)
#include <malloc.h>
static inline void *dl_aligned_alloc(size_t align, size_t bytes) { return _aligned_malloc(bytes, align); }
static inline void dl_aligned_free(void *p) { _aligned_free(p); }
#else
static inline void *dl_aligned_alloc(size_t align, size_t bytes) { return aligned_alloc(align, bytes); }
static inline void dl_aligned_free(void *p) { free(p); }
#endif

/* The GCC/Clang vector extension (vector_size), which MSVC lacks: code that uses it keeps a
 * plain-C branch under #if !DL_HAVE_VECTOR_EXT. */
#if defined(__GNUC__) || defined(__clang__)
#define DL_HAVE_VECTOR_EXT 1
#else
#define DL_HAVE_VECTOR_EXT 0
#endif

#define DL_CAT_(a, b) a##b
#define DL_CAT(a, b) DL_CAT_(a, b)

/* The processors this process may run on (omp_get_num_procs: the affinity mask), read with
 * the thread count: no loop forks wider, since threads beyond them only share its cores. */
extern int dl_fork_procs;

/* The team a loop of `work` operations over `nblocks` independent blocks forks on, with at
 * most `team` threads (and dl_fork_procs): as many threads as get dl_omp_min_work / 2
 * operations each (so that on 2 threads a loop forks from dl_omp_min_work, the threshold
 * measured on this 2-core machine class, and on 16 cores a loop takes the threads its work
 * pays for, not all of them), no more than the blocks; 1 (serial) below two threads' worth,
 * or inside a parallel region. The blocks are fixed by the shapes, so the team size changes
 * no result. */
static inline int dl_fork_team(double work, dl_index nblocks, int team)
{
#ifdef _OPENMP
    if (team > dl_fork_procs) team = dl_fork_procs;
    if (team < 2 || nblocks < 2 || work < dl_omp_min_work || omp_in_parallel())
        return 1;
    const double per = 2.0 * work / dl_omp_min_work; /* >= 2 */
    if (per < (double)team) team = (int)per;
    if (nblocks < (dl_index)team) team = (int)nblocks;
    return team;
#else
    (void)work;
    (void)nblocks;
    (void)team;
    return 1;
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

/* for (i = 0; i < n; i++) { body } - forked over dl_fork_team(work, n, team) OpenMP threads
 * (static schedule) when that is more than one, else a plain serial loop. The iterations must
 * be independent; each writes its own outputs. */
#define DL_PARALLEL_FOR_TEAM(team, work, n, i, ...)                                           \
    do {                                                                                      \
        const dl_index dl_n_ = (n);                                                           \
        const int dl_team_ = dl_fork_team((double)(work), dl_n_, (team));                     \
        if (dl_team_ > 1) {                                                                   \
            dl_index i;                                                                       \
            dl_fork_note();                                                                   \
            _Pragma("omp parallel for schedule(static) num_threads(dl_team_)")                \
            for (i = 0; i < dl_n_; i++)                                                       \
            {                                                                                 \
                __VA_ARGS__                                                                   \
            }                                                                                 \
        } else {                                                                              \
            for (dl_index i = 0; i < dl_n_; i++) {                                            \
                __VA_ARGS__                                                                   \
            }                                                                                 \
        }                                                                                     \
    } while (0)

/* DL_PARALLEL_FOR_TEAM on the team dl_get_max_threads() gives now. */
#define DL_PARALLEL_FOR(work, n, i, ...) DL_PARALLEL_FOR_TEAM(dl_get_max_threads(), work, n, i, __VA_ARGS__)

#endif /* DLCORE_COMMON_H */
