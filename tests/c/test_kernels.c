/* test_kernels.c - checks the C kernels against naive loops, on one kernel path.
 * Usage: test_kernels [baseline|avx2|avx512]. Exits 77 (ctest: skipped) when the CPU or the
 * build lacks the path, 1 on any failure. Prints "N passed, M failed". */
#include "harness.h"
#ifdef _OPENMP
#include <omp.h>
#endif

int g_pass = 0, g_fail = 0;

void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "";
    if (dl_init(path) != DL_OK) {
        fprintf(stderr, "unknown kernel path '%s'\n", path);
        return 2;
    }
    if (path[0] && strcmp(dl_isa_name(dl_isa_selected()), path) != 0) {
        printf("kernel path %s not supported here (selected %s): skipped\n", path,
               dl_isa_name(dl_isa_selected()));
        return 77;
    }
    /* every loop of more than one block forks on 2 threads, whatever DL_OMP_MIN_WORK is: the
     * 1- vs 2-thread comparisons below then cover the parallel branches */
    dl_fork_min_work(1.0);
    printf("kernel path %s, BLAS %s (%s), OpenMP %d\n", dl_isa_name(dl_isa_selected()),
           dl_blas_backend(), dl_blas_core(), dl_openmp_enabled());
    run_core_tests();
    run_optim_tests();
    run_batchnorm_tests();
    run_conv_tests();
    run_engine_tests();
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
