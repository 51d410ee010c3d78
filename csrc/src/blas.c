/* blas.c - binds dl_cblas_gemm_* to the configured BLAS (see blas.h). */
#include "blas.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* A switch that is on unless the environment variable var reads off; *state caches it
 * (-1: not read yet) and the dl_set_* functions overwrite it. */
static int dl_env_switch(int *state, const char *var, const char *off)
{
    if (*state < 0) {
        const char *v = getenv(var);
        *state = !(v && strcmp(v, off) == 0);
    }
    return *state;
}

static int dl_own_gemm = -1, dl_direct_conv = -1;

int dl_gemm_own(void) { return dl_env_switch(&dl_own_gemm, "DLCORE_GEMM", "blas"); }

void dl_set_gemm_own(int own) { dl_own_gemm = own ? 1 : 0; }

int dl_conv_direct(void) { return dl_env_switch(&dl_direct_conv, "DLCORE_CONV", "im2col"); }

void dl_set_conv_direct(int direct) { dl_direct_conv = direct ? 1 : 0; }

#if defined(DL_WITH_OPENBLAS) || defined(DL_WITH_CBLAS)
#define DL_HAVE_BLAS 1
/* The standard CBLAS enum values, declared here so that no cblas.h is needed. */
enum { DL_ROW_MAJOR = 101, DL_NO_TRANS = 111, DL_TRANS = 112 };
#if defined(DL_WITH_OPENBLAS)
#define DL_SGEMM scipy_cblas_sgemm
#define DL_DGEMM scipy_cblas_dgemm
void scipy_openblas_set_num_threads(int num_threads);
int scipy_openblas_get_num_threads(void);
char *scipy_openblas_get_corename(void);
#else
#define DL_SGEMM cblas_sgemm
#define DL_DGEMM cblas_dgemm
#endif
void DL_SGEMM(int order, int ta, int tb, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc);
void DL_DGEMM(int order, int ta, int tb, int M, int N, int K, double alpha, const double *A,
              int lda, const double *B, int ldb, double beta, double *C, int ldc);

static int fits_int(dl_index M, dl_index N, dl_index K, dl_index lda, dl_index ldb, dl_index ldc)
{
    return M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
           ldc <= INT_MAX;
}
#else
#define DL_HAVE_BLAS 0
#endif

void dl_blas_init(void)
{
#if defined(DL_WITH_OPENBLAS)
    scipy_openblas_set_num_threads(1);
#endif
}

void dl_blas_pin(void)
{
#if defined(DL_WITH_OPENBLAS)
    if (scipy_openblas_get_num_threads() != 1)
        scipy_openblas_set_num_threads(1);
#endif
}

const char *dl_blas_backend(void)
{
#if defined(DL_WITH_OPENBLAS)
    return "scipy-openblas32";
#elif defined(DL_WITH_CBLAS)
    return "cblas";
#else
    return "reference";
#endif
}

const char *dl_blas_core(void)
{
#if defined(DL_WITH_OPENBLAS)
    const char *name = scipy_openblas_get_corename();
    return name ? name : "unknown";
#else
    return "n/a";
#endif
}

#define DL_GEMM_BODY(GEMM)                                                                    \
    if (!DL_HAVE_BLAS || !fits_int(M, N, K, lda, ldb, ldc))                                   \
        return 0;                                                                             \
    /* BLAS requires leading dimensions >= 1 even for empty operands. */                      \
    GEMM(DL_ROW_MAJOR, transA ? DL_TRANS : DL_NO_TRANS, transB ? DL_TRANS : DL_NO_TRANS,      \
         (int)M, (int)N, (int)K, alpha, A, lda > 0 ? (int)lda : 1, B, ldb > 0 ? (int)ldb : 1, \
         beta, C, ldc > 0 ? (int)ldc : 1);                                                    \
    return 1;

#if DL_HAVE_BLAS
int dl_cblas_gemm_f64(double *C, dl_index ldc, const double *A, dl_index lda, int transA,
                      const double *B, dl_index ldb, int transB, dl_index M, dl_index N,
                      dl_index K, double alpha, double beta)
{
    DL_GEMM_BODY(DL_DGEMM)
}
int dl_cblas_gemm_f32(float *C, dl_index ldc, const float *A, dl_index lda, int transA,
                      const float *B, dl_index ldb, int transB, dl_index M, dl_index N,
                      dl_index K, float alpha, float beta)
{
    DL_GEMM_BODY(DL_SGEMM)
}
#else
int dl_cblas_gemm_f64(double *C, dl_index ldc, const double *A, dl_index lda, int transA,
                      const double *B, dl_index ldb, int transB, dl_index M, dl_index N,
                      dl_index K, double alpha, double beta)
{
    (void)C; (void)ldc; (void)A; (void)lda; (void)transA; (void)B; (void)ldb; (void)transB;
    (void)M; (void)N; (void)K; (void)alpha; (void)beta;
    return 0;
}
int dl_cblas_gemm_f32(float *C, dl_index ldc, const float *A, dl_index lda, int transA,
                      const float *B, dl_index ldb, int transB, dl_index M, dl_index N,
                      dl_index K, float alpha, float beta)
{
    (void)C; (void)ldc; (void)A; (void)lda; (void)transA; (void)B; (void)ldb; (void)transB;
    (void)M; (void)N; (void)K; (void)alpha; (void)beta;
    return 0;
}
#endif
