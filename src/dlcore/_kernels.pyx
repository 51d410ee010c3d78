# _kernels.pyx - the thin, stateless bridge from Python to the C kernels (csrc/).
#
# Every wrapper takes C-contiguous arrays that the Python layer (functions.py, layers.py,
# optimizer.py, ...) has already converted to the compute dtype, checks the sizes it relies on
# (a mismatch here is a bug in dlcore, reported as ValueError rather than a crash), releases
# the GIL and calls the f32 or f64 kernel. Outputs are allocated by the caller. The groups of
# kernels live in the _k_*.pxi files included at the end.
#
# Three ways in. The wrappers the book's layers call once per layer and step (activations,
# losses, affine, optimizers, dropout: _k_core.pxi, _k_optim.pxi, dropout_draw) take their
# arrays through the buffer protocol (`Args` below), ~0.1 us an array; a fused-type
# memoryview signature costs about 1 us more per call in this limited-API module (the
# dispatch reads each argument's dtype through Python attribute lookups), which is a third of
# a (100, 10) call. The batch-norm wrappers (_k_norm.pxi) do the same. The engine
# (_k_engine.pxi) holds the buffers of the arrays its plan binds. The convolution and pooling
# wrappers, whose calls take milliseconds, keep typed memoryviews.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from cython cimport floating
from cpython.buffer cimport (PyObject_GetBuffer, PyBuffer_Release, PyBUF_C_CONTIGUOUS,
                            PyBUF_FORMAT, PyBUF_WRITABLE)
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


def conv_direct(direct=None):
    """Whether stride-1 unpadded convolutions compute their forward output directly (set it
    with direct; the same bits as the im2col product it replaces)."""
    if direct is not None:
        dl_set_conv_direct(1 if direct else 0)
    return bool(dl_conv_direct())


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


cdef int check_status(dl_status s, dl_index bad, str what, const int64_t *t,
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


# ---------------------------------------------------------------- array arguments
# What an argument may be (A_FLOAT, A_U8 or A_I64, plus flags). Every A_FLOAT argument of one
# call has the same dtype, float32 or float64, which picks the kernel (Args.t).
cdef enum:
    A_FLOAT = 1
    A_U8 = 2
    A_I64 = 3
    A_KIND = 3
    A_WRITE = 4      # the kernel writes it: the array must be writable
    A_NONE = 8       # None is accepted (the kernel gets NULL)

cdef enum:
    T_F32 = 1
    T_F64 = 2

cdef enum:
    ARGS_MAX = 12

cdef struct Args:
    Py_buffer v[ARGS_MAX]
    int n            # buffers held (released by args_release)
    int t            # T_F32 or T_F64 once a floating argument is taken, else 0


cdef inline void args_init(Args *A) noexcept:
    A.n = 0
    A.t = 0


cdef void args_release(Args *A) noexcept:
    while A.n > 0:
        A.n -= 1
        PyBuffer_Release(&A.v[A.n])


cdef int _type_code(const Py_buffer *v) noexcept:
    """dl_etype of a buffer's element type (0 float64, 1 float32, 2 uint8, 3 int64, 4 int32),
    or -1."""
    cdef const char *f = v.format
    if f == NULL:
        return 2 if v.itemsize == 1 else -1
    while f[0] == b'<' or f[0] == b'=' or f[0] == b'@' or f[0] == b'|':
        f += 1
    if f[0] == 0 or f[1] != 0:
        return -1
    if f[0] == b'd' and v.itemsize == 8:
        return 0
    if f[0] == b'f' and v.itemsize == 4:
        return 1
    if f[0] == b'B' and v.itemsize == 1:
        return 2
    if (f[0] == b'q' or f[0] == b'l') and v.itemsize == 8:
        return 3
    if (f[0] == b'i' or f[0] == b'l') and v.itemsize == 4:
        return 4
    return -1


cdef int elem_kind(const Py_buffer *v) noexcept:
    """A_FLOAT + 16 * T_F32/T_F64, A_U8 (booleans too: one byte, 0 or 1), A_I64 or 0."""
    cdef int c = _type_code(v)
    if c == 0:
        return A_FLOAT + 16 * T_F64
    if c == 1:
        return A_FLOAT + 16 * T_F32
    if c == 2:
        return A_U8
    if c == 3:
        return A_I64
    if v.itemsize == 1 and v.format != NULL and v.format[0] == c'?' and v.format[1] == 0:
        return A_U8
    return 0


cdef str kind_name(int spec, int t):
    cdef int k = spec & A_KIND
    if k == A_U8:
        return "uint8/bool"
    if k == A_I64:
        return "int64"
    return "float32" if t == T_F32 else "float64" if t == T_F64 else "float32/float64"


cdef int take(Args *A, object o, int spec, int ndim, str name) except -2:
    """Holds o's buffer in the next slot of A and returns the slot (-1 for an accepted None).
    o must be C-contiguous with ndim axes (0: any number, the kernel reads the elements in
    order) and of spec's element kind; a floating one sets or must match A.t. name ("kernel
    argument") starts the error messages."""
    if o is None and (spec & A_NONE):
        return -1
    if A.n == ARGS_MAX:
        raise ValueError(f"{name}: too many array arguments")
    cdef Py_buffer *v = &A.v[A.n]
    cdef int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT
    if spec & A_WRITE:
        flags |= PyBUF_WRITABLE
    try:
        PyObject_GetBuffer(o, v, flags)
    except (TypeError, ValueError, BufferError) as e:
        what = "writable " if spec & A_WRITE else ""
        err = TypeError if isinstance(e, TypeError) else ValueError
        raise err(f"{name}: expected a {what}C-contiguous array of "
                  f"{kind_name(spec, A.t)}; got {type(o).__name__} ({e})") from None
    A.n += 1
    cdef int k = elem_kind(v)
    cdef int want = spec & A_KIND
    if (k & A_KIND) != want or (want == A_FLOAT and A.t != 0 and k >> 4 != A.t):
        raise TypeError(f"{name}: expected {kind_name(spec, A.t)} data; got "
                        f"{getattr(o, 'dtype', type(o).__name__)} data")
    if want == A_FLOAT:
        A.t = k >> 4
    if ndim and v.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} axes; got {v.ndim}")
    return A.n - 1


cdef inline void *ptr(const Args *A, int i) noexcept nogil:
    """The data of slot i, NULL for None or an empty array."""
    if i < 0 or A.v[i].len == 0:
        return NULL
    return A.v[i].buf


cdef inline Py_ssize_t count(const Args *A, int i) noexcept nogil:
    """Elements in slot i (0 for None)."""
    return 0 if i < 0 else A.v[i].len // A.v[i].itemsize


cdef inline Py_ssize_t dim(const Args *A, int i, int axis) noexcept nogil:
    return A.v[i].shape[axis]


include "_k_core.pxi"
include "_k_optim.pxi"
include "_k_norm.pxi"
include "_k_conv.pxi"
include "_k_engine.pxi"
include "_k_perf.pxi"
