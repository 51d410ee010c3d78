"""Array conventions shared by the Python layer (private).

The book's contract (spec Gotchas 1-8): layers keep the caller's arrays and read them on every
call; any dtype, memory order, strides or read-only input is accepted and converted *per call*
into scratch (never stored); the compute dtype follows numpy promotion. The C kernels exist
for float32 and float64; every other dtype takes a numpy path that reproduces the book.
"""
import numpy as np

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
I64 = np.dtype(np.int64)
_KERNEL_DTYPES = (F32, F64)
_NUMERIC_KINDS = "biuf"


def describe(x):
    """Short description of a value for error messages: 'float64 array of shape (2, 3)'."""
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array of shape {x.shape}"
    return f"{type(x).__name__} {x!r}" if np.isscalar(x) else type(x).__name__


def check_numeric(x, what):
    """TypeError unless x is a real numeric (bool/int/uint/float) array or scalar."""
    dt = x.dtype if isinstance(x, np.ndarray) else np.asarray(x).dtype
    if dt.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{what}: expected a real numeric array; got {describe(x)}"
                        if isinstance(x, np.ndarray) else
                        f"{what}: expected a real numeric array; got {dt} data from {type(x).__name__}")


def kernel_dtype(*operands):
    """The float32/float64 dtype numpy promotion gives these operands, or None when the
    result is another dtype (ints, float16, ...), which then takes the numpy path."""
    dt = np.result_type(*operands)
    return dt if dt in _KERNEL_DTYPES else None


def as_c(x, dt):
    """x as an aligned, C-contiguous array of dtype dt (native byte order): x itself when it
    already is one (no copy). Misaligned views (e.g. ``np.frombuffer(buf[1:], ...)``) are
    copied: the C kernels load whole elements and must not see a misaligned pointer."""
    a = np.ascontiguousarray(x, dtype=dt)
    return a if a.flags.aligned else a.copy()


def ready(a, dt):
    """True when the kernels can take ``a`` as it is: an ndarray (not a subclass) of dtype
    ``dt`` (native byte order), C-contiguous and aligned. The layers' fast paths test it before
    the general conversions, which give the same result for such an array."""
    return type(a) is np.ndarray and a.dtype == dt and a.flags.c_contiguous and a.flags.aligned


def kernel_inplace(a, dt):
    """True when the C kernels may write ``a`` itself: an aligned, writable, C-contiguous
    ndarray of dtype ``dt`` (native byte order)."""
    return (isinstance(a, np.ndarray) and a.dtype == dt and a.flags.c_contiguous
            and a.flags.aligned and a.flags.writeable)


# Sizes handed to the C kernels, and every product of them the kernels or the Cython bridge
# form (N*oh*ow, C*fh*fw, H + 2*pad, ...), stay below this bound, so that no signed 64-bit
# index arithmetic can overflow (C99 undefined behaviour). Real arrays are far smaller.
MAX_INDEX = 2**62


def check_index_range(what, **values):
    """ValueError unless every value (a size or a product of sizes) is below MAX_INDEX."""
    for name, v in values.items():
        if not -MAX_INDEX < v < MAX_INDEX:
            raise ValueError(f"{what}: expected sizes whose products fit in 62 bits; got "
                             f"{name}={v}")


def check_not_bool(x, what, why="numpy cannot negate or subtract booleans"):
    """TypeError for boolean input where the book's numpy code fails on it."""
    dt = x.dtype if isinstance(x, np.ndarray) else np.asarray(x).dtype
    if dt.kind == "b":
        raise TypeError(f"{what}: expected a real numeric, non-boolean array ({why}); "
                        f"got {describe(x) if isinstance(x, np.ndarray) else 'bool data'}")


def labels(t, n, what):
    """Integer class labels as a C-contiguous int64 array of shape (n,).

    Accepts any integer dtype and shape (n,); shape (1, 1) when n == 1 (the book's ch07 gradient
    check uses T = [[1]]). (n, 1) for n > 1 is refused: the book silently computes a wrong loss
    from it (an n x n fancy index)."""
    t = np.asarray(t)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{what}: expected integer class labels or a one-hot array; "
                        f"got {describe(t)}")
    if t.dtype.kind == "u" and t.dtype.itemsize == 8 and t.size and t.max() > 2**63 - 1:
        bad = int(np.argmax(t.reshape(-1) > 2**63 - 1))
        raise IndexError(f"{what}: expected labels in [0, number of classes); got "
                         f"{int(t.reshape(-1)[bad])} at position {bad}")
    if t.ndim == 1 and t.shape[0] == n:
        return as_c(t, np.int64)
    if t.size == n == 1:
        return as_c(t.reshape(1), np.int64)
    raise ValueError(f"{what}: expected labels of shape ({n},) or one-hot targets; "
                     f"got {describe(t)}")
