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
int dl_openmp_enabled(void);         /* 1 when compiled with OpenMP */
int dl_get_max_threads(void);        /* the team size the next kernel would use */
void dl_set_num_threads(int n);      /* n >= 1; no-op without OpenMP */
const char *dl_status_str(dl_status s);
const char *dl_version(void);

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
