"""Convolution and max pooling (the book's ``Convolution`` and ``Pooling`` of
``common/layers.py``) and ``im2col`` / ``col2im`` (``common/util.py``), on C kernels.

Book parity: the same constructor arguments, attributes (``W``, ``b``, ``stride``, ``pad``,
``x``, ``col``, ``col_W``, ``dW``, ``db``; ``pool_h``, ``pool_w``, ``stride``, ``pad``, ``x``,
``arg_max``), ``col`` in the book's im2col layout and ``arg_max`` in its (n, oh, ow, c) order.
Documented differences: outputs are C-contiguous arrays holding the book's values (the book
returns transposed views and a slice of a padded buffer); float32 operands compute in float32
(the book's im2col promotes to float64); bad input raises ValueError/TypeError with an
"expected ...; got ..." message where the book crashes obscurely or returns garbage.
"""
import operator

import numpy as np

from . import _kernels as _K
from ._arrays import F32, F64, MAX_INDEX, as_c, check_index_range, check_numeric, describe

__all__ = ["Convolution", "Pooling", "im2col", "col2im"]


def _int_arg(value, name, minimum, what):
    """value as a Python int >= minimum (TypeError for non-integers, ValueError below)."""
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{what}: expected an integer {name}; got {describe(value)}") from None
    if v < minimum:
        raise ValueError(f"{what}: expected {name} >= {minimum}; got {name}={v}")
    if v >= MAX_INDEX:
        raise ValueError(f"{what}: expected {name} < 2**62; got {name}={v}")
    return v


def _array4(x, name, what):
    """x as an ndarray of shape (N, C, H, W) with C, H, W >= 1 (numeric)."""
    check_numeric(x, f"{what} {name}")
    a = np.asarray(x)
    if a.ndim != 4:
        raise ValueError(f"{what}: expected {name} of shape (N, C, H, W); got {describe(a)}")
    if min(a.shape[1:]) < 1:
        raise ValueError(f"{what}: expected {name} with C, H, W >= 1; got {describe(a)}")
    return a


def _conv_out(H, W, fh, fw, stride, pad, what, N=0, C=1, FN=1):
    """(oh, ow) of an fh x fw filter over an H x W input padded by pad.

    Also checks that every size the kernels compute from these (padded sizes, N*oh*ow,
    C*fh*fw, the col and output element counts) fits comfortably in a signed 64-bit index,
    so that no size arithmetic in C can overflow (ValueError otherwise)."""
    check_index_range(what, padded_height=H + 2 * pad, padded_width=W + 2 * pad)
    if fh > H + 2 * pad or fw > W + 2 * pad:
        raise ValueError(
            f"{what}: expected a filter no larger than the padded input "
            f"({H + 2 * pad}x{W + 2 * pad} with pad={pad}); got a {fh}x{fw} filter")
    oh, ow = (H + 2 * pad - fh) // stride + 1, (W + 2 * pad - fw) // stride + 1
    K = C * fh * fw
    check_index_range(what, out_pixels=oh * ow, patch_size=K, col_rows=N * oh * ow,
                      col_size=N * oh * ow * K, out_size=N * FN * oh * ow, filter_size=FN * K,
                      input_size=N * C * H * W, sample_out_bytes=8 * FN * oh * ow,
                      sample_col_bytes=8 * oh * ow * K)
    return oh, ow


def _is_f32(v):
    """True for float32 arrays/scalars and for Python numbers (weak under numpy promotion)."""
    if isinstance(v, (np.ndarray, np.generic)):
        return v.dtype == F32
    return isinstance(v, (bool, int, float))


def _f64_or_raise(what, *operands):
    dt = np.result_type(F64, *operands)
    if dt != F64:
        raise TypeError(f"{what}: expected float64-compatible operands; got {dt} "
                        "(float32/float64 kernels only)")
    return F64


def _cached_x_shape(x, what):
    """The (N, C, H, W) shape of a layer's cached forward input ``x`` (checked: the attribute
    is public and may have been rebound between forward and backward)."""
    shape = np.shape(x) if isinstance(x, np.ndarray) else None
    if shape is None or len(shape) != 4 or min(shape[1:]) < 1:
        raise ValueError(f"{what}: expected x to be the (N, C, H, W) input of the last forward; "
                         f"got {describe(x)} (was x rebound between forward and backward?)")
    return tuple(shape)


# ---------------------------------------------------------------- im2col / col2im
def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """Unfold filter-sized patches of a batch of images into the rows of a matrix.

    Parameters
    ----------
    input_data : array of shape (N, C, H, W), any real dtype
    filter_h, filter_w : int
    stride : int, default 1
    pad : int, default 0 (zero padding on the spatial axes)

    Returns
    -------
    col : new C-contiguous float64 array of shape (N*out_h*out_w, C*filter_h*filter_w)
        Row (n*out_h + oh)*out_w + ow holds the patch of output pixel (oh, ow) of sample n;
        column (c*filter_h + fh)*filter_w + fw matches ``W.reshape(FN, -1)``. Always float64,
        as the book's (the values are exact copies).

    Examples
    --------
    >>> import numpy as np
    >>> im2col(np.arange(9.0).reshape(1, 1, 3, 3), 2, 2)
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    what = "im2col"
    x = _array4(input_data, "input_data", what)
    fh = _int_arg(filter_h, "filter_h", 1, what)
    fw = _int_arg(filter_w, "filter_w", 1, what)
    stride = _int_arg(stride, "stride", 1, what)
    pad = _int_arg(pad, "pad", 0, what)
    N, C, H, W = x.shape
    oh, ow = _conv_out(H, W, fh, fw, stride, pad, what, N, C)
    col = np.empty((N * oh * ow, C * fh * fw), F64)
    _K.im2col(col, as_c(x, F64), fh, fw, stride, pad)
    return col


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of :func:`im2col` (not its inverse): patches are summed back into images.

    Parameters
    ----------
    col : array with N*out_h*out_w*C*filter_h*filter_w elements, any real dtype
        Read as the book does, in im2col's layout (usually shape (N*out_h*out_w, C*fh*fw)).
    input_shape : 4 ints (N, C, H, W)
    filter_h, filter_w, stride, pad : int

    Returns
    -------
    x : float64 array of shape (N, C, H, W)
        Overlapping contributions summed; the padding dropped. Each pixel sums its terms in
        the book's order, so the values equal the book's bitwise. The book returns a
        non-contiguous slice of a padded buffer; this is a new C-contiguous array.

    Examples
    --------
    >>> import numpy as np
    >>> col2im(np.ones((4, 4)), (1, 1, 3, 3), 2, 2)
    array([[[[1., 2., 1.],
             [2., 4., 2.],
             [1., 2., 1.]]]])
    """
    what = "col2im"
    try:
        shape = tuple(operator.index(v) for v in input_shape)
    except TypeError:
        raise TypeError(f"{what}: expected input_shape as 4 integers (N, C, H, W); "
                        f"got {input_shape!r}") from None
    if len(shape) != 4 or min(shape) < 0 or min(shape[1:]) < 1:
        raise ValueError(f"{what}: expected input_shape (N, C, H, W) with C, H, W >= 1; "
                         f"got {input_shape!r}")
    check_index_range(what, **{"input_shape[%d]" % i: v for i, v in enumerate(shape)})
    fh = _int_arg(filter_h, "filter_h", 1, what)
    fw = _int_arg(filter_w, "filter_w", 1, what)
    stride = _int_arg(stride, "stride", 1, what)
    pad = _int_arg(pad, "pad", 0, what)
    N, C, H, W = shape
    oh, ow = _conv_out(H, W, fh, fw, stride, pad, what, N, C)
    check_numeric(col, f"{what} col")
    c = np.asarray(col)
    rows, K = N * oh * ow, C * fh * fw
    if c.size != rows * K:
        raise ValueError(f"{what}: expected col of shape ({rows}, {K}) for input_shape {shape}, "
                         f"filter {fh}x{fw}, stride {stride}, pad {pad}; got {describe(c)}")
    x = np.empty(shape, F64)
    _K.col2im(x, as_c(c, F64).reshape(rows, K), fh, fw, stride, pad)
    return x


# ---------------------------------------------------------------- Convolution
class Convolution:
    """2-D convolution (cross-correlation) layer, im2col + GEMM as the book's.

    Parameters
    ----------
    W : array of shape (FN, C, FH, FW)
        Filters; the layer keeps this very object and reads it on every call.
    b : array of shape (FN,), or a Python scalar (``ch07/apply_filter.py`` passes 0)
    stride : int >= 1, default 1
    pad : int >= 0, default 0

    Attributes
    ----------
    x : the last forward input. col : im2col(x), shape (N*out_h*out_w, C*FH*FW), made on
        first access (see Notes); assignable, and backward then uses the assigned array.
    col_W : ``W.reshape(FN, -1).T`` (a view of W when W is contiguous).
    dW : array of shape (FN, C, FH, FW) and db : array of shape (FN,), new on every backward.

    Notes
    -----
    ``forward(x)`` returns a new C-contiguous (N, FN, out_h, out_w) array with the values of
    the book's transposed view; out_h = (H + 2 pad - FH) // stride + 1. ``backward(dout)``
    returns dx of x's shape (C-contiguous, where the book returns a slice).

    ``col`` is lazy: forward keeps a private copy of x (taken at forward time, so later
    in-place changes to x do not show, as in the book) and builds the (N*out_h*out_w,
    C*FH*FW) matrix only when ``col`` is read, once per forward; an unread col is never
    materialised (backward rebuilds each sample's patches in a small scratch: for the book's
    SimpleConvNet batch this avoids writing and re-reading 11.5 MB per step). ``layer.col``
    always reads as im2col of the last forward input (a new array per forward), and
    assigning it is honoured by backward. Results are bitwise the same either way.

    dtypes: when x, W and b are all float32 (b may be a Python number), the layer computes in
    float32 and ``forward``, ``col``, ``backward`` and ``dW`` are float32. This deviates from
    the book, whose im2col always makes float64 (and so a float64 output). Any other operand
    dtypes (uint8 or float16 images, float64 params) compute in float64 as the book does.

    Examples
    --------
    >>> conv = Convolution(np.ones((1, 1, 2, 2)), np.zeros(1))
    >>> conv.forward(np.arange(9.0).reshape(1, 1, 3, 3))
    array([[[[ 8., 12.],
             [20., 24.]]]])

    Examples
    --------
    >>> import numpy as np
    >>> conv = Convolution(np.ones((1, 1, 2, 2)), np.zeros(1))
    >>> conv.forward(np.arange(9.0).reshape(1, 1, 3, 3))
    array([[[[ 8., 12.],
             [20., 24.]]]])
    """

    _col = None  # the col array, once made or assigned
    _colsrc = None  # (x copy, fh, fw, stride, pad) of the last forward while col is unmade

    def __init__(self, W, b, stride=1, pad=0):
        _int_arg(stride, "stride", 1, "Convolution")
        _int_arg(pad, "pad", 0, "Convolution")
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x = None
        self.col = None
        self.col_W = None
        self.dW = None
        self.db = None

    @property
    def col(self):
        """im2col of the last forward input (made on first access after each forward)."""
        src = self._colsrc
        if self._col is None and src is not None:
            xs, fh, fw, stride, pad = src
            N, C, H, W = xs.shape
            oh, ow = (H + 2 * pad - fh) // stride + 1, (W + 2 * pad - fw) // stride + 1
            col = np.empty((N * oh * ow, C * fh * fw), xs.dtype)
            if col.size:
                _K.im2col(col, xs, fh, fw, stride, pad)
            self._col = col
            self._colsrc = None
        return self._col

    @col.setter
    def col(self, value):
        self._col = value
        self._colsrc = None

    def __setstate__(self, state):  # pickles made when col was a plain attribute
        state = dict(state)
        if "col" in state:
            state["_col"] = state.pop("col")
        self.__dict__.update(state)

    def _filters(self, what):
        check_numeric(self.W, f"{what} W")
        W = np.asarray(self.W)
        if W.ndim != 4 or min(W.shape) < 1:
            raise ValueError(f"{what}: expected W of shape (FN, C, FH, FW) with every size "
                             f">= 1; got {describe(W)}")
        return W

    def forward(self, x):
        what = "Convolution.forward"
        W = self._filters(what)
        b = self.b
        x = _array4(x, "x", what)
        stride = _int_arg(self.stride, "stride", 1, what)
        pad = _int_arg(self.pad, "pad", 0, what)
        N, C, H, Wd = x.shape
        FN, Cw, fh, fw = W.shape
        if C != Cw:
            raise ValueError(f"{what}: x has {C} channels but W expects {Cw} "
                             f"(x.shape={x.shape}, W.shape={W.shape})")
        oh, ow = _conv_out(H, Wd, fh, fw, stride, pad, what, N, C, FN)
        check_numeric(b, f"{what} b")
        b_arr = np.asarray(b)
        if b_arr.ndim > 1 or b_arr.size not in (1, FN):
            raise ValueError(f"{what}: expected b of shape ({FN},) or a scalar; "
                             f"got {describe(b_arr)}")
        if x.dtype == F32 and W.dtype == F32 and _is_f32(b):
            dt = F32
        else:
            dt = _f64_or_raise(what, x.dtype, W, b_arr)
        Wf = as_c(W.reshape(FN, -1), dt)
        bc = as_c(np.broadcast_to(b_arr.reshape(-1), (FN,)), dt)
        out = np.empty((N, FN, oh, ow), dt)
        xs = np.array(x, dtype=dt, order="C", copy=True)  # private: col's source (see Notes)
        _K.conv_forward(out, None, xs, Wf, bc, fh, fw, stride, pad)
        self.x = x
        self.col = None
        self._colsrc = (xs, fh, fw, stride, pad)
        self.col_W = W.reshape(FN, -1).T
        return out

    def backward(self, dout):
        what = "Convolution.backward"
        if (self._col is None and self._colsrc is None) or self.x is None:
            raise RuntimeError(f"{what}: call forward first")
        W = self._filters(what)
        FN, C, fh, fw = W.shape
        stride = _int_arg(self.stride, "stride", 1, what)
        pad = _int_arg(self.pad, "pad", 0, what)
        x_shape = _cached_x_shape(self.x, what)
        N, Cx, H, Wd = x_shape
        oh, ow = _conv_out(H, Wd, fh, fw, stride, pad, what, N, C, FN)
        K = C * fh * fw
        check_numeric(dout, f"{what} dout")
        dout = np.asarray(dout)
        if dout.shape != (N, FN, oh, ow):
            raise ValueError(f"{what}: expected dout of shape {(N, FN, oh, ow)}; "
                             f"got {describe(dout)}")
        Wf = np.asarray(self.col_W).T  # the book takes dcol from col_W, not from W
        src = self._colsrc
        if self._col is None and src is not None and src[1:] == (fh, fw, stride, pad) and \
                src[0].shape == x_shape and Cx == C and Wf.shape == (FN, K):
            # col unread and unassigned: the kernel rebuilds it per sample from the x copy
            xs = src[0]
            if xs.dtype == F32 and dout.dtype == F32 and Wf.dtype == F32:
                dt = F32
            else:
                dt = _f64_or_raise(what, xs.dtype, dout.dtype, Wf.dtype)
            if dt == xs.dtype:
                dx = np.empty(x_shape, dt)
                dW = np.empty((FN, K), dt)
                db = np.empty((FN,), dt)
                _K.conv_backward_x(as_c(dout, dt), xs, as_c(Wf, dt), fh, fw, stride, pad,
                                   dx, dW, db)
                self.dW = dW.reshape(FN, C, fh, fw)
                self.db = db.astype(dout.dtype, copy=False) if dout.dtype.kind == "f" else db
                return dx
        col = np.asarray(self.col)
        if Cx != C or col.shape != (N * oh * ow, K) or Wf.shape != (FN, K):
            raise ValueError(
                f"{what}: expected col of shape {(N * oh * ow, K)} and col_W of shape "
                f"{(K, FN)} from forward with W.shape={W.shape}; got col {describe(col)}, "
                f"col_W {describe(np.asarray(self.col_W))}")
        if col.dtype == F32 and dout.dtype == F32 and Wf.dtype == F32:
            dt = F32
        else:
            dt = _f64_or_raise(what, col.dtype, dout.dtype, Wf.dtype)
        dx = np.empty(x_shape, dt)
        dW = np.empty((FN, K), dt)
        db = np.empty((FN,), dt)
        _K.conv_backward(as_c(dout, dt), as_c(col, dt), as_c(Wf, dt), x_shape, fh, fw, stride,
                         pad, dx, dW, db)
        self.dW = dW.reshape(FN, C, fh, fw)
        # numpy's sum gives db dout's float dtype
        self.db = db.astype(dout.dtype, copy=False) if dout.dtype.kind == "f" else db
        return dx


# ---------------------------------------------------------------- Pooling
class Pooling:
    """Max pooling over pool_h x pool_w windows (no padding).

    Parameters
    ----------
    pool_h, pool_w : int >= 1
    stride : int >= 1, default 2 (the book's default since 2020; the printed book shows 1)
    pad : must be 0. The book accepts pad > 0 but then crashes in forward (its output size
        ignores pad); dlcore raises ValueError instead.

    Attributes
    ----------
    x : the last forward input.
    arg_max : int64 array of shape (N*out_h*out_w*C,), in the book's (n, oh, ow, c) order: the
        row-major offset of the first maximum in each window (a NaN counts as the maximum, as
        in numpy's argmax). Ties send the whole gradient to the first maximum.

    Notes
    -----
    out_h = (H - pool_h) // stride + 1 (odd sizes are floored). ``forward`` returns a new
    C-contiguous (N, C, out_h, out_w) array with the values of the book's transposed view.
    dtypes: float32 input gives float32 output and a float32 dx for a float32 dout (the book
    makes float64, through im2col); every other input dtype gives float64, as the book.

    Examples
    --------
    >>> pool = Pooling(2, 2, stride=2)
    >>> pool.forward(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 5.,  7.],
             [13., 15.]]]])

    Examples
    --------
    >>> import numpy as np
    >>> pool = Pooling(2, 2)
    >>> pool.forward(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self._check_params("Pooling", pool_h, pool_w, stride, pad)
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None
        self.arg_max = None

    @staticmethod
    def _check_params(what, pool_h, pool_w, stride, pad):
        ph = _int_arg(pool_h, "pool_h", 1, what)
        pw = _int_arg(pool_w, "pool_w", 1, what)
        s = _int_arg(stride, "stride", 1, what)
        p = _int_arg(pad, "pad", 0, what)
        if p != 0:
            raise ValueError(f"{what}: expected pad=0 (padding is not supported: the book's "
                             f"Pooling ignores pad in its output size and crashes); got pad={p}")
        return ph, pw, s

    def forward(self, x):
        what = "Pooling.forward"
        ph, pw, s = self._check_params(what, self.pool_h, self.pool_w, self.stride, self.pad)
        x = _array4(x, "x", what)
        N, C, H, W = x.shape
        if ph > H or pw > W:
            raise ValueError(f"{what}: expected x at least as large as the {ph}x{pw} pool "
                             f"window; got x of spatial size {H}x{W} (x.shape={x.shape})")
        oh, ow = (H - ph) // s + 1, (W - pw) // s + 1
        check_index_range(what, window=ph * pw, out_size=N * C * oh * ow)
        dt = F32 if x.dtype == F32 else F64
        out = np.empty((N, C, oh, ow), dt)
        arg_max = np.empty((N * oh * ow * C,), np.int64)
        _K.pool_forward(out, arg_max, as_c(x, dt), ph, pw, s)
        self.x = x
        self.arg_max = arg_max
        return out

    def backward(self, dout):
        what = "Pooling.backward"
        if self.arg_max is None or self.x is None:
            raise RuntimeError(f"{what}: call forward first")
        ph, pw, s = self._check_params(what, self.pool_h, self.pool_w, self.stride, self.pad)
        x_shape = _cached_x_shape(self.x, what)
        N, C, H, W = x_shape
        if ph > H or pw > W:
            raise ValueError(f"{what}: expected the last forward input to be at least as large "
                             f"as the {ph}x{pw} pool window; got x of shape {x_shape} (were "
                             "pool_h/pool_w or x rebound after forward?)")
        oh, ow = (H - ph) // s + 1, (W - pw) // s + 1
        check_index_range(what, window=ph * pw, out_size=N * C * oh * ow)
        check_numeric(dout, f"{what} dout")
        dout = np.asarray(dout)
        if dout.shape != (N, C, oh, ow):
            raise ValueError(f"{what}: expected dout of shape {(N, C, oh, ow)}; "
                             f"got {describe(dout)}")
        arg_max = np.asarray(self.arg_max)
        if arg_max.size != N * oh * ow * C or arg_max.dtype.kind not in "iu":
            raise ValueError(f"{what}: expected an integer arg_max of {N * oh * ow * C} "
                             f"entries from forward; got {describe(arg_max)}")
        dt = F32 if (dout.dtype == F32 and np.asarray(self.x).dtype == F32) else F64
        dx = np.empty(x_shape, dt)
        _K.pool_backward(dx, as_c(dout, dt), as_c(arg_max.reshape(-1), np.int64), ph, pw, s)
        return dx
