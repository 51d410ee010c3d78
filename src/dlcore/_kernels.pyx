# _kernels.pyx - the thin, stateless bridge from Python to the C kernels (csrc/).
#
# Every wrapper takes C-contiguous memoryviews that the Python layer (functions.py, layers.py,
# optimizer.py, ...) has already converted to the compute dtype, checks the sizes it relies on
# (a mismatch here is a bug in dlcore, reported as ValueError rather than a crash), releases
# the GIL and calls the f32 or f64 kernel. Outputs are allocated by the caller. The groups of
# kernels live in the _k_*.pxi files included at the end.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from cython cimport floating
from dlcore._csrc cimport *


# ---------------------------------------------------------------- set-up and introspection
def init(request=None):
    """Select the kernel path, capped by `request` ('baseline', 'avx2', 'avx512' or None)."""
    cdef bytes req = b"" if request is None else str(request).encode()
    if dl_init(req) != DL_OK:
        raise ValueError(
            f"DLCORE_CPU: expected one of 'baseline', 'avx2', 'avx512'; got {request!r}")


def isa_selected():
    return dl_isa_name(dl_isa_selected()).decode()


def isa_supported():
    """The kernel paths this build and CPU can run, best last."""
    return [dl_isa_name(<dl_isa>i).decode()
            for i in range(DL_ISA_BASELINE, DL_ISA_AVX512 + 1) if dl_isa_supported(<dl_isa>i)]


def blas_backend():
    return dl_blas_backend().decode()


def blas_core():
    return dl_blas_core().decode()


def gemm_own(own=None):
    """Whether dlcore's own tiled GEMM replaces the BLAS where it applies (set it with own)."""
    if own is not None:
        dl_set_gemm_own(1 if own else 0)
    return bool(dl_gemm_own())


def l2_bytes():
    """The per-core L2 cache in bytes as the CPU reports it (0 where unknown)."""
    return int(dl_l2_bytes())


def gemm_panel_bytes(nbytes=None):
    """The own GEMM's block of B panels in bytes (from the L2 size); nbytes > 0 fixes it, 0
    goes back to the CPU's. Results do not depend on it."""
    if nbytes is not None:
        if nbytes < 0:
            raise ValueError(f"gemm_panel_bytes: expected a size >= 0; got {nbytes}")
        dl_set_gemm_panel_bytes(nbytes)
    return int(dl_gemm_panel_bytes())


def openmp_enabled():
    return bool(dl_openmp_enabled())


def get_max_threads():
    return dl_get_max_threads()


def set_num_threads(int n):
    """n >= 1: process-wide thread count; 0: none (follow OpenMP's per-thread setting)."""
    dl_set_num_threads(n)


def max_threads_cap():
    return dl_max_threads_cap()


def fork_count():
    """OpenMP parallel regions dlcore's kernels have opened since load (diagnostics)."""
    return dl_fork_count()


def fork_min_work(work=None):
    """The work from which elementwise/row kernels fork; sets it when given (returns the old)."""
    if work is None:
        return dl_fork_min_work(0.0)
    if not work > 0:
        raise ValueError(f"fork_min_work: expected a positive number; got {work!r}")
    return dl_fork_min_work(float(work))


def version():
    return dl_version().decode()


cdef int raise_status(dl_status s, str what, str index_message) except -1:
    """The one mapping of a kernel status to a Python exception: DL_ERR_INDEX to IndexError
    (with the caller's message naming the bad entry), DL_ERR_NOMEM to MemoryError, anything
    else to ValueError."""
    if s == DL_OK:
        return 0
    if s == DL_ERR_INDEX:
        raise IndexError(f"{what}: {index_message}")
    if s == DL_ERR_NOMEM:
        raise MemoryError(f"{what}: out of memory for scratch buffers")
    raise ValueError(f"{what}: invalid arguments ({dl_status_str(s).decode()})")


cdef int check_status(dl_status s, dl_index bad, str what, const int64_t[::1] t,
                      dl_index C) except -1:
    """raise_status for the label kernels: the bad label and its position."""
    if s == DL_ERR_INDEX:
        return raise_status(s, what, f"expected labels in [0, {C}); got {t[bad]} at position "
                                     f"{bad}")
    return raise_status(s, what, "")


cdef inline int same_size(Py_ssize_t a, Py_ssize_t b, str what) except -1:
    if a != b:
        raise ValueError(f"{what}: internal size mismatch ({a} != {b})")
    return 0


include "_k_core.pxi"
include "_k_optim.pxi"
include "_k_norm.pxi"
include "_k_conv.pxi"
include "_k_engine.pxi"
include "_k_perf.pxi"
