"""The book's ``common/layers.py``: layers with ``forward``/``backward``.

Each layer keeps references to the caller's parameter arrays (``W``, ``b``, ``gamma``, ...)
and reads them on every call, so in-place updates by an optimizer or by
``numerical_gradient`` are seen (spec Gotcha 1). Inputs of any layout are converted per call;
float32 and float64 run in C kernels, other dtypes follow the book's numpy code.
``from dlcore.layers import *`` also exposes the functions, ``im2col`` and ``col2im`` and
``np``, as the book's module does.
"""
import math

import numpy as np

from . import _kernels as _K
from ._arrays import (F32, F64, MAX_INDEX, as_c, check_numeric, describe, kernel_dtype,
                      kernel_inplace, ready)
from .functions import *  # noqa: F401,F403  (the book's star-import surface)
from .functions import _loss_operands, softmax, cross_entropy_error


class Relu:
    """ReLU. ``forward`` returns a copy with ``x <= 0`` zeroed (``mask`` records where);
    ``backward`` zeroes the caller's ``dout`` in place and returns that same object.

    Parameters
    ----------
    None
        ``Relu()`` takes no arguments.

    Examples
    --------
    >>> import numpy as np
    >>> r = Relu()
    >>> r.forward(np.array([[-1.0, 0.0, 2.0]]))
    array([[0., 0., 2.]])
    """

    def __init__(self):
        self.mask = None

    def forward(self, x):
        check_numeric(x, "Relu.forward")
        x = np.asarray(x)
        if x.dtype == F64 or x.dtype == F32:
            xc = as_c(x, x.dtype)
            out = np.empty(x.shape, x.dtype)
            mask = np.empty(x.shape, np.bool_)
            _K.relu_forward(out, mask, xc)
            self.mask = mask
            return out
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        what = "Relu.backward"
        mask = self.mask
        if mask is None:
            raise RuntimeError("Relu.backward: call forward first")
        if not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_):
            raise TypeError(f"{what}: expected mask to be the boolean array set by forward; "
                            f"got {describe(mask)}")
        if not isinstance(dout, np.ndarray):
            raise TypeError(f"{what}: expected dout as a numpy array (it is zeroed in place "
                            f"and returned, as in the book); got {describe(dout)}")
        if dout.shape != mask.shape:
            raise ValueError(f"{what}: expected dout of shape {mask.shape} (the last forward "
                             f"input); got {describe(dout)}")
        if not dout.flags.writeable:
            raise ValueError(f"{what}: expected a writable dout (the book zeroes it in place "
                             f"and returns it); got a read-only {describe(dout)}")
        if kernel_inplace(dout, F64) or kernel_inplace(dout, F32):
            _K.relu_backward(dout, np.ascontiguousarray(mask), dout)
            return dout
        dout[mask] = 0
        return dout


class Sigmoid:
    """Sigmoid. ``out`` keeps the forward output; ``backward`` returns
    ``dout * (1 - out) * out`` as a new array.

    Parameters
    ----------
    None
        ``Sigmoid()`` takes no arguments.

    Examples
    --------
    >>> s = Sigmoid()
    >>> s.forward(np.array([0.0, 800.0]))
    array([0.5, 1. ])
    >>> s.backward(np.array([1.0, 1.0]))
    array([0.25, 0.  ])
    """

    def __init__(self):
        self.out = None

    def forward(self, x):
        out = sigmoid(x)  # noqa: F405
        self.out = out
        return out

    def backward(self, dout):
        out = self.out
        if out is None:
            raise RuntimeError("Sigmoid.backward: call forward first")
        dt = out.dtype if type(out) is np.ndarray else None
        if (dt is not None and (dt == F64 or dt == F32) and ready(dout, dt) and ready(out, dt)
                and dout.shape == out.shape):
            dx = np.empty(out.shape, dt)
            _K.sigmoid_backward(dx, dout, out)
            return dx
        check_numeric(dout, "Sigmoid.backward")
        dout = np.asarray(dout)
        dt = kernel_dtype(dout, out)
        if dt is None or dout.shape != out.shape:
            return dout * (1.0 - out) * out
        dx = np.empty(out.shape, dt)
        _K.sigmoid_backward(dx, as_c(dout, dt), as_c(out, dt))
        return dx


class Affine:
    """Fully connected layer ``x @ W + b``; input of any rank >= 2 is flattened to
    ``(N, -1)``. Keeps references to ``W`` (D, M) and ``b`` (M,).

    ``backward`` allocates new ``dW`` and ``db`` on every call (earlier gradient dicts stay
    valid) and returns ``dx`` in the input's original shape.

    Parameters
    ----------
    W : ndarray of shape (D, M)
        Weights, kept by reference and read on every call.
    b : ndarray of shape (M,)
        Biases, kept by reference.

    Attributes
    ----------
    x : ndarray of shape (N, D)
        The last forward input, flattened.
    original_x_shape : tuple
        The shape of the last forward input.
    dW, db : ndarray
        The gradients of the last ``backward``.

    Raises
    ------
    ValueError
        From ``forward``: 1-D input, or a feature count that is not ``W``'s row count.

    Examples
    --------
    >>> layer = Affine(np.ones((3, 2)), np.zeros(2))
    >>> layer.forward(np.array([[1.0, 2.0, 3.0]]))
    array([[6., 6.]])
    >>> layer.backward(np.array([[1.0, 0.0]]))
    array([[1., 1., 1.]])
    >>> layer.dW[:, 0]
    array([1., 2., 3.])
    """

    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def _operands(self, what):
        W, b = self.W, self.b
        check_numeric(W, f"{what} W")
        check_numeric(b, f"{what} b")
        W = np.asarray(W)
        if W.ndim != 2:
            raise ValueError(f"{what}: expected W of shape (D, M); got {describe(W)}")
        return W, b

    def forward(self, x):
        W, b = self.W, self.b
        if (type(x) is np.ndarray and type(W) is np.ndarray and type(b) is np.ndarray
                and x.ndim == 2 and W.ndim == 2 and b.ndim == 1):
            # float32/float64 arrays the kernel takes as they are (the checks of
            # _arrays.ready, spelled out: this runs on every call): the general path below
            # would find the same dtype and shapes and convert nothing
            dt = x.dtype
            if (dt is F64 or dt is F32) and W.dtype is dt and b.dtype is dt:
                fx, fw, fb = x.flags, W.flags, b.flags
                N, D = x.shape
                M = b.shape[0]
                if (fx.c_contiguous and fx.aligned and fw.c_contiguous and fw.aligned
                        and fb.c_contiguous and fb.aligned and W.shape == (D, M)
                        and (N + 1) * (M + 1) * 8 < MAX_INDEX):
                    self.original_x_shape = x.shape
                    self.x = x
                    out = np.empty((N, M), dt)
                    _K.affine_forward(out, x, W, b)
                    return out
        W, b = self._operands("Affine.forward")
        check_numeric(x, "Affine.forward x")
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(
                "Affine.forward: expected x of shape (N, D) or (N, ...) with a batch axis; "
                f"got {describe(x)} (reshape one sample to (1, D))")
        self.original_x_shape = x.shape
        if x.ndim > 2:  # (N, -1), spelled out so that N == 0 works too
            x = x.reshape(x.shape[0], math.prod(x.shape[1:]))
        self.x = x
        if x.shape[1] != W.shape[0]:
            raise ValueError(
                f"Affine.forward: x has {x.shape[1]} features but W expects {W.shape[0]} "
                f"(x.shape={self.original_x_shape}, W.shape={W.shape})")
        M = W.shape[1]
        if x.shape[0] * M * 8 >= MAX_INDEX or M * 8 >= MAX_INDEX:
            raise ValueError(f"Affine.forward: expected an output (N, M) that fits in memory; "
                             f"got N={x.shape[0]}, M={M} (x.shape={self.original_x_shape}, "
                             f"W.shape={W.shape})")
        b_arr = np.asarray(b)
        if b_arr.shape not in ((M,), ()):
            raise ValueError(f"Affine.forward: expected b of shape ({M},); got {describe(b_arr)}")
        # a Python number b is weak in numpy's promotion (float32 x, W with b=0.0 stays
        # float32); an array b, 0-d included, takes part with its dtype
        dt = kernel_dtype(x, W, b if isinstance(b, (int, float)) else b_arr)
        if dt is None or np.result_type(x, W) != dt:
            # (a float32 product with a float64 b: the book rounds x @ W to float32 first)
            return np.dot(x, W) + b
        out = np.empty((x.shape[0], M), dt)
        bc = as_c(b_arr, dt) if b_arr.ndim else np.full(M, b_arr, dt)
        if dt == F64 and x.dtype == F32 and x.shape[1] > 0:
            # float32 images into a float64 network: converted in row blocks in C, not
            # as a whole float64 copy of x (the same values)
            _K.affine_forward_x32(out, as_c(x, F32), as_c(W, dt), bc)
            return out
        _K.affine_forward(out, as_c(x, dt), as_c(W, dt), bc)
        return out

    def backward(self, dout):
        x, W = self.x, self.W
        if x is None:
            raise RuntimeError("Affine.backward: call forward first")
        dt = dout.dtype if type(dout) is np.ndarray and dout.ndim == 2 else None
        if (dt is not None and (dt == F64 or dt == F32) and ready(dout, dt) and ready(x, dt)
                and ready(W, dt) and x.ndim == 2 and W.ndim == 2
                and self.original_x_shape == x.shape and x.shape[1] == W.shape[0]
                and dout.shape[0] == x.shape[0] and dout.shape[1] == W.shape[1]):
            # one dtype throughout, as forward left it: the general path's result, unconverted
            dx = np.empty(x.shape, dt)
            self.dW = np.empty(W.shape, dt)
            self.db = np.empty((W.shape[1],), dt)
            _K.affine_backward(self.dW, self.db, dout, x, W, dx)
            return dx
        what = "Affine.backward"
        W, _ = self._operands(what)
        x = self.x
        check_numeric(x, f"{what} x")
        if not (isinstance(x, np.ndarray) and x.ndim == 2 and x.shape[1] == W.shape[0]):
            raise ValueError(f"{what}: expected x to be the (N, {W.shape[0]}) input of the last "
                             f"forward, matching W of shape {W.shape}; got {describe(x)} (was x "
                             "or W rebound between forward and backward?)")
        shape = self.original_x_shape
        if not (isinstance(shape, tuple) and len(shape) >= 2 and shape[0] == x.shape[0]
                and math.prod(shape) == x.size):
            raise ValueError(f"{what}: expected original_x_shape to be the shape of the last "
                             f"forward input, {x.size} elements in {x.shape[0]} rows; got "
                             f"{shape!r}")
        check_numeric(dout, "Affine.backward dout")
        dout = np.asarray(dout)
        N, M = x.shape[0], W.shape[1]
        if dout.shape != (N, M):
            raise ValueError(f"Affine.backward: expected dout of shape {(N, M)}; "
                             f"got {describe(dout)}")
        dt = kernel_dtype(dout, x, W)
        if dt is None or np.result_type(dout, W) != dt or np.result_type(x, dout) != dt:
            # the book computes dx in dout's and W's dtype, dW in x's and dout's: a mix
            # where those differ takes its statements
            dx = np.dot(dout, W.T)
            self.dW = np.dot(x.T, dout)
            self.db = np.sum(dout, axis=0)
        else:
            dx = np.empty(x.shape, dt)
            dW = np.empty(W.shape, dt)
            db = np.empty((M,), dt)
            _K.affine_backward(dW, db, as_c(dout, dt), as_c(x, dt), as_c(W, dt), dx)
            # numpy would give dW the dtype of (x, dout) and db dout's dtype
            self.dW = dW.astype(np.result_type(x, dout), copy=False)
            self.db = db.astype(dout.dtype, copy=False) if dout.dtype.kind == "f" else db
        return dx.reshape(*self.original_x_shape)


class SoftmaxWithLoss:
    """Softmax followed by the cross-entropy loss (with the book's +1e-7 in the log).

    ``forward(x, t)`` takes labels (N,) or one-hot targets (N, C) and returns the loss as a
    numpy scalar; ``backward(dout=1)`` ignores ``dout`` (as the book does) and returns
    ``(y - onehot(t)) / N``. For 1-D ``x`` (one sample), ``backward`` divides by 1, where the
    book divides by the number of classes.

    Parameters
    ----------
    None
        ``SoftmaxWithLoss()`` takes no arguments.

    Attributes
    ----------
    loss : numpy scalar
        The last forward's loss.
    y : ndarray
        The softmax of the last forward's scores.
    t : ndarray
        The last forward's targets.

    Raises
    ------
    ValueError, IndexError
        From ``forward``, for targets whose count or range does not fit ``x``.

    Examples
    --------
    >>> layer = SoftmaxWithLoss()
    >>> float(layer.forward(np.zeros((2, 2)), np.array([0, 1])).round(6))
    0.693147
    >>> layer.backward()
    array([[-0.25,  0.25],
           [ 0.25, -0.25]])
    """

    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        check_numeric(x, "SoftmaxWithLoss.forward x")
        x = np.asarray(x)
        if x.dtype == F64 or x.dtype == F32:
            x2, labels_ = _loss_operands(x, t, "SoftmaxWithLoss.forward")
            y = np.empty(x2.shape, x.dtype)
            loss = _K.softmax_xent_forward(y, as_c(x2, x.dtype), labels_,
                                           "SoftmaxWithLoss.forward")
            self.y = y.reshape(x.shape)
            self.loss = x.dtype.type(loss)
        else:
            self.y = softmax(x)
            self.loss = cross_entropy_error(self.y, t)
        return self.loss

    def backward(self, dout=1):
        what = "SoftmaxWithLoss.backward"
        if self.y is None:
            raise RuntimeError("SoftmaxWithLoss.backward: call forward first")
        y = self.y
        check_numeric(y, f"{what} y")
        check_numeric(self.t, f"{what} t")
        if not (isinstance(y, np.ndarray) and y.ndim in (1, 2) and y.size):
            raise ValueError(f"{what}: expected y to be the (N, C) softmax output of the last "
                             f"forward; got {describe(y)}")
        y2 = y.reshape(1, -1) if y.ndim == 1 else y
        t = np.asarray(self.t)
        batch_size = y2.shape[0]
        if t.size == y.size:  # one-hot or dense target
            if t.shape not in (y.shape, y2.shape) and not (
                    y2.shape[1] == 1 and t.shape == (y2.shape[0],)):
                raise ValueError(f"{what}: expected one-hot targets of shape {y.shape}, like "
                                 f"y; got {describe(t)}")
            t2 = t.reshape(y2.shape)
            dt = kernel_dtype(y2, t2)
            if dt is None or y2.dtype != dt:
                dx = (y2 - t2) / batch_size
            else:
                dx = np.empty(y2.shape, dt)
                _K.softmax_xent_backward_dense(dx, as_c(y2, dt), as_c(t2, dt))
        else:
            _, labels_ = _loss_operands(y2, t, "SoftmaxWithLoss.backward")
            if y2.dtype == F64 or y2.dtype == F32:
                dx = np.empty(y2.shape, y2.dtype)
                _K.softmax_xent_backward(dx, as_c(y2, y2.dtype), labels_,
                                         "SoftmaxWithLoss.backward")
            else:
                dx = y2.copy()
                dx[np.arange(batch_size), labels_] -= 1
                dx = dx / batch_size
        return dx.reshape(y.shape)


# Layers of the layers issue are imported below, one line per module (keep this marker).
# --- more layers ---
from ._norm import Dropout, BatchNormalization  # noqa: E402,F401
from ._conv import Convolution, Pooling, im2col, col2im  # noqa: E402,F401
