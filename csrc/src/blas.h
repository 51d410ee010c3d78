/* blas.h - the GEMM backend behind dl_gemm (internal).
 *
 * Built with DL_WITH_OPENBLAS: the OpenBLAS of the PyPI package scipy-openblas32
 * (scipy_cblas_* symbols, 32-bit ints). With DL_WITH_CBLAS: a system CBLAS (cblas_*).
 * With neither: no BLAS; dl_cblas_gemm_* return 0 and the templates use their C loops.
 * The BLAS always runs on one thread: dlcore parallelises with OpenMP around it.
 */
#ifndef DLCORE_BLAS_H
#define DLCORE_BLAS_H
#include "dlcore/dlcore.h"

void dl_blas_init(void);
/* Puts the BLAS back on one thread if something (threadpoolctl, a user) raised its count:
 * dlcore calls the BLAS from inside its OpenMP blocks, and two thread pools on the same cores
 * make every call wait for the other pool's spinning threads (packaging note, 3c). Cheap when
 * nothing changed; call it outside parallel regions. */
void dl_blas_pin(void);
/* Row-major C = alpha op(A) op(B) + beta C. Returns 1 when the BLAS did it, 0 when there is
 * no BLAS or a size does not fit its int (the caller then computes it itself). */
int dl_cblas_gemm_f64(double *C, dl_index ldc, const double *A, dl_index lda, int transA,
                      const double *B, dl_index ldb, int transB, dl_index M, dl_index N,
                      dl_index K, double alpha, double beta);
int dl_cblas_gemm_f32(float *C, dl_index ldc, const float *A, dl_index lda, int transA,
                      const float *B, dl_index ldb, int transB, dl_index M, dl_index N,
                      dl_index K, float alpha, float beta);
#endif
