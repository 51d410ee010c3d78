/* dlcore.h - public C API of dlcore's kernels.
 *
 * Every kernel works on raw, C-contiguous buffers (the inner dimension contiguous) and exists
 * in two precisions: dl_<op>_<pass>_f32 and dl_<op>_<pass>_f64, declared from the single list
 * in <dlcore/kernels.def> (one line per kernel with its shape contract). Outputs come first,
 * inputs are const, sizes are dl_index (ptrdiff_t). Kernels never print, exit or abort: the
 * ones that can fail return a dl_status. Results do not depend on the number of OpenMP
 * threads: work is cut into fixed blocks and reductions add block results in a fixed order.
 */
#ifndef DLCORE_DLCORE_H
#define DLCORE_DLCORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef ptrdiff_t dl_index;

typedef enum dl_status {
    DL_OK = 0,
    DL_ERR_INDEX = -1,  /* a label or index out of range; *bad says which row */
    DL_ERR_NOMEM = -2,  /* a scratch allocation failed */
    DL_ERR_ARG = -3     /* an argument is invalid (negative size, NULL buffer, ...) */
} dl_status;

/* Kernel paths selectable at run time (x86-64 builds with GCC/Clang; elsewhere only baseline). */
typedef enum dl_isa {
    DL_ISA_BASELINE = 0, /* the x86-64 baseline the wheel targets (SSE2) */
    DL_ISA_AVX2 = 1,     /* x86-64-v3: AVX2 + FMA */
    DL_ISA_AVX512 = 2    /* x86-64-v4: AVX-512 F/BW/CD/DQ/VL, 512-bit vectors */
} dl_isa;

/* ---- library set-up and introspection (not templated) ---- */

/* Selects the kernel path: the best the CPU supports, capped by `request` ("baseline", "avx2",
 * "avx512", or NULL/"" for no cap). Returns DL_ERR_ARG for an unknown name (the selection is
 * then left as it was). Also pins the BLAS to one thread. Safe to call more than once, but not
 * while kernels run. */
dl_status dl_init(const char *request);
dl_isa dl_isa_selected(void);
int dl_isa_supported(dl_isa isa);    /* 1 when this build has the path and the CPU runs it */
const char *dl_isa_name(dl_isa isa); /* "baseline", "avx2", "avx512" */
const char *dl_blas_backend(void);   /* "scipy-openblas32", "cblas" or "reference" */
const char *dl_blas_core(void);      /* the BLAS's kernel name (e.g. "Haswell"), or "n/a" */
/* 1 (default; 0 with DLCORE_GEMM=blas): products whose shape dlcore's own register-tiled
 * kernel handles (AVX2/AVX-512 paths) use it instead of the BLAS. Not while kernels run. */
int dl_gemm_own(void);
void dl_set_gemm_own(int own);
/* 1 (default; 0 with DLCORE_CONV=im2col): convolutions of stride 1 without padding compute
 * their forward output directly from x where the own GEMM is in use, the same bits as its
 * im2col product. Not while kernels run. */
int dl_conv_direct(void);
void dl_set_conv_direct(int direct);
/* The per-core L2 cache in bytes as the CPU reports it (cpuid; 0 where unknown). */
dl_index dl_l2_bytes(void);
/* The bytes of B the own GEMM copies into one block of panels: 2/5 of the L2 (512 KB where the
 * L2 is unknown), between 64 KB and 4 MB; dl_set_gemm_panel_bytes(n > 0) fixes it, 0 goes back
 * to the CPU's (not while kernels run). The block size moves data only: results are the same
 * bits for every size. */
dl_index dl_gemm_panel_bytes(void);
void dl_set_gemm_panel_bytes(dl_index bytes);
int dl_openmp_enabled(void);         /* 1 when compiled with OpenMP */
/* The team size the next kernel called from this thread would use: the count set with
 * dl_set_num_threads (process-wide), or, when none is set, this thread's OpenMP ICV
 * (OMP_NUM_THREADS, omp_set_num_threads); a thread whose ICV was changed from the process's
 * OpenMP default gets the smaller of that and the set count. At most dl_max_threads_cap(). */
int dl_get_max_threads(void);
/* n >= 1: the thread count of every later kernel call, from any thread (capped at
 * dl_max_threads_cap()); n == 0: none set, follow OpenMP again. No-op without OpenMP. */
void dl_set_num_threads(int n);
/* The most threads dlcore forks: 4 per processor, at least 64. */
int dl_max_threads_cap(void);
/* OpenMP parallel regions dlcore's kernels have opened since the library loaded (diagnostics:
 * a workload whose count does not move runs the same serial code on any thread count). */
long long dl_fork_count(void);
/* The work (simple operations) from which an elementwise/row kernel forks: sets it when
 * work > 0, returns the previous value (work <= 0 only reads it). Not thread-safe: set it
 * before kernels run (tests and benchmarks; the default is measured, common.h). */
double dl_fork_min_work(double work);
const char *dl_status_str(dl_status s);
const char *dl_version(void);

/* ---- fused training engine (engine.c; the step is the templated engine_* kernels) ----
 * Build: dl_engine_new, one dl_engine_add per layer in forward order, dl_engine_finish
 * (allocates every workspace: nothing is allocated per step afterwards), then bind the
 * caller's parameter / gradient / state arrays with dl_engine_bind. A step is
 * dl_engine_forward_<T> (train mode) + dl_engine_backward_<T> (gradients into the bound
 * gradient arrays) + dl_engine_update_<T> (the optimizer over every parameter in one pass);
 * the three may be called separately (e.g. an all-reduce between backward and update). */
typedef struct dl_engine dl_engine;
typedef enum dl_eop_kind {
    DL_EOP_AFFINE = 1,    /* iargs: M (output features)                              */
    DL_EOP_RELU = 2,
    DL_EOP_SIGMOID = 3,
    DL_EOP_DROPOUT = 4,   /* dargs: ratio, inverted (0: the book's dropout)          */
    DL_EOP_BATCHNORM = 5, /* dargs: momentum, eps; per C*H*W feature for 4-D input      */
    DL_EOP_CONV = 6,      /* iargs: FN, fh, fw, stride, pad                            */
    DL_EOP_POOL = 7       /* iargs: ph, pw, stride (max pooling, no padding)           */
} dl_eop_kind;
typedef enum dl_eslot {   /* what dl_engine_bind binds */
    DL_SLOT_P0 = 0, DL_SLOT_P1 = 1,   /* W / gamma, b / beta (updated in place)           */
    DL_SLOT_G0 = 2, DL_SLOT_G1 = 3,   /* their gradients (written by backward)            */
    DL_SLOT_S1_0 = 4, DL_SLOT_S1_1 = 5, /* first optimizer state of P0 / P1 (v, h, m)     */
    DL_SLOT_S2_0 = 6, DL_SLOT_S2_1 = 7, /* second state (Adam's v)                        */
    DL_SLOT_RMEAN = 8, DL_SLOT_RVAR = 9 /* batchnorm running statistics (updated in place) */
} dl_eslot;
typedef enum dl_eopt {
    DL_OPT_NONE = 0, DL_OPT_SGD, DL_OPT_MOMENTUM, DL_OPT_NESTEROV, DL_OPT_ADAGRAD,
    DL_OPT_RMSPROP, DL_OPT_ADAM
} dl_eopt;
typedef enum dl_erng {
    DL_RNG_EXTERNAL = 0, /* dropout masks: u > ratio with u from next_double(state), drawn
                            serially in the book's order (numpy's global MT19937 stream)    */
    DL_RNG_COUNTER = 1,  /* u from a hash of (seed, op, step, element): any thread count    */
    DL_RNG_MT19937 = 2   /* as DL_RNG_EXTERNAL, state a dl_mt19937 (numpy's MT19937, checked
                            by the caller) drawn in blocks; next_double where its pos is bad */
} dl_erng;
/* Element types of the engine's inputs (x and labels/targets). */
typedef enum dl_etype { DL_TYPE_F64 = 0, DL_TYPE_F32 = 1, DL_TYPE_U8 = 2, DL_TYPE_I64 = 3,
                        DL_TYPE_I32 = 4, DL_TYPE_NONE = 5 } dl_etype;

/* elem: 8 (float64) or 4 (float32); input per sample (C, H, W), (D, 1, 1) for flat input. */
dl_engine *dl_engine_new(int elem, dl_index cap, dl_index C, dl_index H, dl_index W);
dl_status dl_engine_add(dl_engine *e, int kind, const dl_index *iargs, const double *dargs);
/* Allocates the workspaces; the last op's output width is the number of classes. */
dl_status dl_engine_finish(dl_engine *e);
/* Binds op `op`'s slot to `ptr` (n elements, checked against the op's size). */
dl_status dl_engine_bind(dl_engine *e, int op, int slot, void *ptr, dl_index n);
dl_status dl_engine_set_optimizer(dl_engine *e, int opt, double weight_decay);
void dl_engine_set_rng(dl_engine *e, int mode, double (*next_double)(void *), void *state,
                       uint64_t seed);
/* The book's dropout mask, np.random.rand(n) > ratio: mask[i] = u_i > ratio for the next n
 * doubles u_i of a generator (numpy's bit generator: its next_double, called serially in
 * order; the caller holds the generator's lock). The Dropout layer and the engine draw with
 * it. */
void dl_dropout_draw(uint8_t *mask, dl_index n, double ratio, double (*next_double)(void *),
                     void *state);
/* numpy's MT19937 state (numpy/random/src/mt19937/mt19937.h: the 624 words and the position
 * of the next one); the callers check that a generator's state has this layout before they
 * hand it over (dlcore._kernels: compared with the generator's public `state`). */
typedef struct dl_mt19937 {
    uint32_t key[624];
    int pos;
} dl_mt19937;
/* The next n doubles of that stream, as numpy's next_double gives them one by one
 * (dl_mt19937_doubles), or the dropout mask dl_dropout_draw would draw from it; s advances as
 * numpy's own draws would advance it. -1 (nothing drawn) when s->pos is outside [0, 624]. */
int dl_mt19937_doubles(double *u, dl_index n, dl_mt19937 *s);
int dl_dropout_draw_mt19937(uint8_t *mask, dl_index n, double ratio, dl_mt19937 *s);
dl_index dl_engine_classes(const dl_engine *e);
dl_index dl_engine_capacity(const dl_engine *e);
/* The dropout mask of op `op` from the last training forward (cap * out_n bytes), or NULL. */
const uint8_t *dl_engine_mask(const dl_engine *e, int op);
/* Elements per sample of op's output (the dropout mask's row length), or -1. */
dl_index dl_engine_out_size(const dl_engine *e, int op);
void dl_engine_free(dl_engine *e);
/* Workspace allocations made by all engines so far (tests: constant across steps). */
long long dl_engine_alloc_count(void);

/* ---- kernels ---- */
#define DL_KERNEL(ret, name, params, args) \
    ret dl_##name##_f64 params;
#define DL_T double
#include "kernels.def"
#undef DL_T
#undef DL_KERNEL

#define DL_KERNEL(ret, name, params, args) \
    ret dl_##name##_f32 params;
#define DL_T float
#include "kernels.def"
#undef DL_T
#undef DL_KERNEL

#ifdef __cplusplus
}
#endif
#endif /* DLCORE_DLCORE_H */
