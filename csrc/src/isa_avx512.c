/* isa_avx512.c - the kernels compiled for the avx512 path (flags set in CMakeLists.txt). */
#define DL_ISA_SUFFIX _avx512
#include "kernels_isa.c"
