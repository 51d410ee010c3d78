/* isa_baseline.c - the kernels compiled for the baseline path (flags set in CMakeLists.txt). */
#define DL_ISA_SUFFIX _baseline
#include "kernels_isa.c"
