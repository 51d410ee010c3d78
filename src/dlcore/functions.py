"""The book's ``common/functions.py``: activations and losses.

float32 and float64 arrays run in C kernels (OpenMP above a size threshold); any other input
(ints, bools, float16, Python scalars, 0-d arrays) takes the book's own numpy formula, so the
result dtype and values are the book's. ``mean_squared_error`` is the book text's name for
``sum_squared_error``.
"""
import numpy as np

from . import _kernels as _K
from ._arrays import F32, F64, I64, as_c, check_not_bool, check_numeric, describe, labels, ready
from ._norm import _book_mask, _check_ratio, _masked

__all__ = ["identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu",
           "relu_grad", "softmax", "sum_squared_error", "mean_squared_error",
           "cross_entropy_error", "softmax_loss", "dropout", "np"]


def _kernel_input(x):
    """x as a C-contiguous float32/float64 array when a kernel applies, else None (a float
    array is numeric: the callers check other input only where this gives None)."""
    if isinstance(x, np.ndarray) and x.ndim >= 1 and (x.dtype == F64 or x.dtype == F32):
        return x if ready(x, x.dtype) else as_c(x, x.dtype)
    return None


def _elementwise(kernel, x, what):
    xc = _kernel_input(x)
    if xc is None:
        return None
    y = np.empty(xc.shape, xc.dtype)
    kernel(y, xc)
    return y


def identity_function(x):
    """Return ``x`` itself (the same object).

    Parameters
    ----------
    x : object
        Anything.

    Returns
    -------
    object
        ``x``.

    Examples
    --------
    >>> x = np.array([1.0, -2.0])
    >>> identity_function(x) is x
    True
    """
    return x


def step_function(x):
    """1 where ``x > 0``, else 0, as an int64 array (the book's ``astype(int)``).

    Parameters
    ----------
    x : array_like of real numbers
        Any shape.

    Returns
    -------
    ndarray of int64
        The shape of ``x``.

    Raises
    ------
    TypeError
        If ``x`` is not real numeric (object, complex, string arrays).

    Examples
    --------
    >>> step_function(np.array([-1.0, 0.0, 2.0]))
    array([0, 0, 1])
    """
    check_numeric(x, "step_function")
    return np.array(np.asarray(x) > 0, dtype=int)


def sigmoid(x):
    """``1 / (1 + exp(-x))``, unclipped: exactly 0.0 or 1.0 where exp overflows.

    float dtypes are kept; ints give float64.

    Parameters
    ----------
    x : array_like of real numbers
        Any shape; booleans are refused as the book's numpy code fails on them.

    Returns
    -------
    ndarray
        The shape of ``x``; float32 stays float32, float64 and integers give float64.

    Raises
    ------
    TypeError
        If ``x`` is boolean or not real numeric.

    Examples
    --------
    >>> import numpy as np
    >>> sigmoid(np.array([0.0, 800.0, -800.0]))
    array([0.5, 1. , 0. ])
    """
    y = _elementwise(_K.sigmoid_forward, x, "sigmoid")
    if y is not None:
        return y
    check_numeric(x, "sigmoid")
    check_not_bool(x, "sigmoid")
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def sigmoid_grad(x):
    """``(1 - sigmoid(x)) * sigmoid(x)``; ``x`` is the pre-activation.

    Parameters
    ----------
    x : array_like of real numbers
        The pre-activation, any shape.

    Returns
    -------
    ndarray
        The shape and float dtype of ``sigmoid(x)``.

    Raises
    ------
    TypeError
        If ``x`` is boolean or not real numeric.

    Examples
    --------
    >>> sigmoid_grad(np.array([0.0]))
    array([0.25])
    """
    y = _elementwise(_K.sigmoid_grad, x, "sigmoid_grad")
    if y is not None:
        return y
    check_numeric(x, "sigmoid_grad")
    check_not_bool(x, "sigmoid_grad")
    s = sigmoid(x)
    return (1.0 - s) * s


def relu(x):
    """``maximum(0, x)``: keeps the dtype (ints stay ints), NaN passes through.

    Parameters
    ----------
    x : array_like of real numbers
        Any shape.

    Returns
    -------
    ndarray
        A new array of the shape and dtype of ``x``.

    Raises
    ------
    TypeError
        If ``x`` is not real numeric.

    Examples
    --------
    >>> relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    >>> relu(np.array([-3, 4]))
    array([0, 4])
    """
    xc = _kernel_input(x)
    if xc is None:
        check_numeric(x, "relu")
        return np.maximum(0, x)
    y = np.empty(xc.shape, xc.dtype)
    _K.relu_forward(y, None, xc)
    return y


def relu_grad(x):
    """1 where ``x >= 0`` (so 1 at exactly 0, unlike the Relu layer), else 0; dtype of x.

    Parameters
    ----------
    x : array_like of real numbers
        The pre-activation, any shape.

    Returns
    -------
    ndarray
        0 or 1, the shape and dtype of ``x``.

    Raises
    ------
    TypeError
        If ``x`` is not real numeric.

    Examples
    --------
    >>> relu_grad(np.array([-1.0, 0.0, 2.0]))
    array([0., 1., 1.])
    """
    y = _elementwise(_K.relu_grad, x, "relu_grad")
    if y is not None:
        return y
    check_numeric(x, "relu_grad")
    grad = np.zeros_like(x)
    grad[x >= 0] = 1
    return grad


def softmax(x):
    """Softmax over the last axis, for any ndim (max-subtracted). float32 stays float32.

    Parameters
    ----------
    x : array_like of real numbers
        Scores; the softmax runs over the last axis, for any number of dimensions.

    Returns
    -------
    ndarray
        The shape of ``x``; float32 stays float32, other inputs give float64. Each row sums
        to 1.

    Raises
    ------
    TypeError
        If ``x`` is boolean or not real numeric.

    Examples
    --------
    >>> softmax(np.array([[0.0, 0.0], [0.0, np.log(3.0)]]))
    array([[0.5 , 0.5 ],
           [0.25, 0.75]])
    """
    xc = _kernel_input(x)
    if xc is None:
        check_numeric(x, "softmax")
        check_not_bool(x, "softmax")
        x = np.asarray(x)
        shifted = x - np.max(x, axis=-1, keepdims=True)
        return np.exp(shifted) / np.sum(np.exp(shifted), axis=-1, keepdims=True)
    y = np.empty(xc.shape, xc.dtype)
    if xc.size:
        cols = xc.shape[-1]
        _K.softmax_forward(y.reshape(-1, cols), xc.reshape(-1, cols))
    return y


def sum_squared_error(y, t):
    """``0.5 * sum((y - t)**2)`` over all elements (no division by the batch size).

    Parameters
    ----------
    y : array_like
        The network's output.
    t : array_like
        The target, the shape of ``y``.

    Returns
    -------
    numpy scalar
        The sum over all elements.

    Raises
    ------
    ValueError
        If the shapes differ.

    Examples
    --------
    >>> float(sum_squared_error(np.array([0.6, 0.4]), np.array([1.0, 0.0])).round(6))
    0.16
    """
    check_numeric(y, "sum_squared_error y")
    check_numeric(t, "sum_squared_error t")
    if np.asarray(y).dtype.kind == "b" and np.asarray(t).dtype.kind == "b":
        check_not_bool(y, "sum_squared_error y", "numpy cannot subtract two boolean arrays")
    # through numpy even for Python numbers: a huge difference squares to inf (with numpy's
    # overflow warning) where Python floats raise OverflowError
    return 0.5 * np.sum((np.asarray(y) - np.asarray(t)) ** 2)


mean_squared_error = sum_squared_error


def _loss_operands(y, t, what):
    """The book's reshaping rules: 1-D y is one sample; t the same size as y is one-hot.
    Returns (y as 2-D, int64 labels)."""
    y = np.asarray(y)
    t = np.asarray(t)
    check_numeric(y, f"{what} y")
    if y.ndim == 1:
        y = y.reshape(1, y.size)
        t = t.reshape(1, t.size)
    if y.ndim != 2:
        raise ValueError(f"{what}: expected y of shape (N, C) or (C,); got {describe(y)}")
    if y.shape[0] == 0:
        raise ValueError(f"{what}: the loss of an empty batch is undefined; got {describe(y)}")
    if y.shape[1] == 0:
        raise ValueError(f"{what}: expected y with at least one class (N, C >= 1); got "
                         f"{describe(y)}")
    if t.size == y.size:  # one-hot (or any dense target): the book takes its argmax
        check_numeric(t, f"{what} t")
        if t.shape != y.shape and not (y.shape[1] == 1 and t.shape == (y.shape[0],)):
            # e.g. transposed targets: the book answers wrong or fails (labels of a
            # one-class y have its size, and are taken as one-hot, as the book does)
            raise ValueError(f"{what}: expected one-hot targets of shape {y.shape}, like y; "
                             f"got {describe(t)}")
        t = t.reshape(y.shape).argmax(axis=1)
    return y, labels(t, y.shape[0], what)


def cross_entropy_error(y, t):
    """``-sum(log(y[i, t_i] + 1e-7)) / N`` for labels t, or one-hot t (same size as y).

    1-D y is one sample. Returns a numpy scalar of y's float dtype. Unlike the book, labels
    of shape (N, 1) with N > 1, negative or too large labels raise instead of answering wrong.

    Parameters
    ----------
    y : ndarray of shape (N, C) or (C,)
        Probabilities (the softmax of the scores).
    t : ndarray of shape (N,), (N, C), () or (C,)
        Integer labels in ``[0, C)``, or one-hot rows of the shape of ``y``.

    Returns
    -------
    numpy scalar
        The mean over the batch, of ``y``'s float dtype.

    Raises
    ------
    ValueError
        If ``t`` has another number of samples than ``y``, or (N, 1) labels with N > 1.
    IndexError
        If a label is negative or not below C.

    Examples
    --------
    >>> y = np.array([[0.1, 0.9], [0.8, 0.2]])
    >>> float(cross_entropy_error(y, np.array([1, 0])).round(6))
    0.164252
    """
    if (type(y) is np.ndarray and (y.dtype == F64 or y.dtype == F32) and y.ndim == 2
            and y.shape[0] and y.shape[1] > 1 and ready(y, y.dtype) and ready(t, I64)
            and t.ndim == 1 and t.shape[0] == y.shape[0]):
        # labels as the kernel takes them: what the general path below would pass it
        return y.dtype.type(_K.cross_entropy_forward(y, t, "cross_entropy_error"))
    y, t = _loss_operands(y, t, "cross_entropy_error")
    if y.dtype == F64 or y.dtype == F32:
        loss = _K.cross_entropy_forward(as_c(y, y.dtype), t, "cross_entropy_error")
        return y.dtype.type(loss)
    if t.size and (t.min() < 0 or t.max() >= y.shape[1]):
        bad = int(np.flatnonzero((t < 0) | (t >= y.shape[1]))[0])
        raise IndexError(f"cross_entropy_error: expected labels in [0, {y.shape[1]}); "
                         f"got {t[bad]} at position {bad}")
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


def softmax_loss(X, t):
    """``cross_entropy_error(softmax(X), t)``.

    Parameters
    ----------
    X : ndarray of shape (N, C)
        Scores.
    t : ndarray
        Labels or one-hot targets, as for :func:`cross_entropy_error`.

    Returns
    -------
    numpy scalar
        The mean cross-entropy.

    Examples
    --------
    >>> float(softmax_loss(np.zeros((2, 4)), np.array([0, 3])).round(6))
    1.386294
    """
    return cross_entropy_error(softmax(X), t)


def dropout(x, drop_prob, train=True):
    """Inverted dropout (beyond the book, whose ``Dropout`` layer is not inverted).

    In training each element is kept with probability ``1 - drop_prob`` and scaled by
    ``1 / (1 - drop_prob)``, so the expected output equals ``x``; the mask is
    ``np.random.rand(*x.shape) > drop_prob`` from numpy's global legacy RNG, as the book's
    layer draws it, so seeded runs reproduce. ``drop_prob=0`` returns a copy of ``x`` and
    ``drop_prob=1`` zeros (neither draws from the RNG); ``train=False`` returns ``x`` itself.
    The result is float (ints give float64; float32 stays float32). ``drop_prob`` outside
    [0, 1] raises ValueError.

    Parameters
    ----------
    x : array_like of real numbers
        Any shape.
    drop_prob : float
        The probability of dropping an element, in [0, 1].
    train : bool, default True
        False returns ``x`` itself.

    Returns
    -------
    ndarray
        The shape of ``x``.

    Raises
    ------
    ValueError
        If ``drop_prob`` is outside [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> np.random.seed(0)
    >>> dropout(np.ones((2, 3)), 0.5)
    array([[2., 2., 2.],
           [2., 0., 2.]])
    """
    _check_ratio(drop_prob, "dropout", "drop_prob")
    check_numeric(x, "dropout x")
    if not train:
        return x
    x = np.asarray(x)
    p = float(drop_prob)
    dt = np.result_type(x, 1.0)
    if p == 0:
        return np.array(x, dtype=dt)
    if p == 1:
        return np.zeros(x.shape, dt)
    mask = _book_mask(x, p)
    scale = 1.0 / (1.0 - p)
    y = _masked(x, mask, scale, None)
    return x * mask * scale if y is None else y
