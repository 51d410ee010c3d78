/* kernels_isa.c - every templated kernel body, for one instruction-set level.
 *
 * Not compiled on its own: isa_baseline.c, isa_avx2.c and isa_avx512.c define DL_ISA_SUFFIX
 * and include this file, and CMake compiles each with its own -march. Each template in tmpl/
 * is included twice, for double and for float, and names its functions KFN(op) =
 * dl_<op>_<f32|f64>_<isa>; dispatch.c picks one table of them at run time.
 * Template macros: T (element type), ACC (accumulator, double for both), TSFX (f32|f64),
 * DL_F64 (1 for double, 0 for float: selects intrinsics).
 */
#include "common.h"
#include "blas.h"

#ifndef DL_ISA_SUFFIX
#error "compile kernels_isa.c through isa_<level>.c"
#endif

#define KFN(op) DL_CAT(DL_CAT(DL_CAT(DL_CAT(dl_, op), _), TSFX), DL_ISA_SUFFIX)


#define T double
#define ACC double
#define TSFX f64
#define DL_F64 1
#define TMATH(fn) fn
#include "tmpl/all.inc"
#undef T
#undef ACC
#undef TSFX
#undef DL_F64
#undef TMATH

#define T float
#define ACC double
#define TSFX f32
#define DL_F64 0
#define TMATH(fn) fn##f
#include "tmpl/all.inc"
#undef T
#undef ACC
#undef TSFX
#undef DL_F64
#undef TMATH

#include "tmpl/mt19937.inc"
