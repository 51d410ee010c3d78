/* isa_avx2.c - the kernels compiled for the avx2 path (flags set in CMakeLists.txt). */
#define DL_ISA_SUFFIX _avx2
#include "kernels_isa.c"
