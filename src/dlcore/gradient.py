"""The book's ``common/gradient.py`` (numerical gradients), plus ``gradient_check``.

Every function takes a central difference with h = 1e-4 by perturbing ``x`` **in place**,
calling ``f`` and restoring the entry afterwards: the book's networks pass functions that
ignore their argument and see the perturbation through the parameter arrays their layers
share (spec Gotcha 1). The gradient buffer is ``zeros_like(x)``, so it has x's dtype;
integer arrays give wrong results (x + h is truncated), as in the book.
"""
import numpy as np

_H = 1e-4


def _check_array(x, who):
    """The point must be a numpy array: it is perturbed in place, entry by entry (a list or
    a number could not carry the perturbation to f; the book fails on them obscurely)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{who}: expected x as a numpy array (perturbed in place); got "
                        f"{type(x).__name__}")
    if not x.flags.writeable:
        raise ValueError(f"{who}: expected a writable array x (perturbed in place); got a "
                         f"read-only {x.dtype} array of shape {x.shape}")


def _set(x, idx, value, who):
    """x[idx] = value; ValueError (not OverflowError) when an integer x cannot hold x +- h
    (integer arrays give wrong gradients anyway: x + h is truncated, as in the book)."""
    try:
        x[idx] = value
    except OverflowError as e:
        raise ValueError(f"{who}: x[{idx}] +- h does not fit x's dtype {x.dtype} ({e})") from e


def _central_difference(f, x, idx):
    """(f(x + h e_idx) - f(x - h e_idx)) / 2h with x perturbed in place at ``idx``."""
    old = x[idx]
    try:
        _set(x, idx, float(old) + _H, "numerical_gradient")
        f_plus = f(x)
        _set(x, idx, old - _H, "numerical_gradient")
        f_minus = f(x)
    finally:  # restored even when f raises (the book leaves x perturbed then)
        x[idx] = old
    return (f_plus - f_minus) / (2 * _H)


def _numerical_gradient_1d(f, x):
    """Central-difference gradient of f at a 1-D array x (f receives the whole x)."""
    grad = np.zeros_like(x)
    for i in range(x.size):
        grad[i] = _central_difference(f, x, i)
    return grad


def numerical_gradient_2d(f, X):
    """The gradient of f at each row of X (f receives one row); 1-D X is one point.

    Parameters
    ----------
    f : callable
        Takes a 1-D array and returns a scalar.
    X : ndarray of shape (N, D) or (D,)
        The points; perturbed in place during the call and restored.

    Returns
    -------
    ndarray
        The shape of ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> numerical_gradient_2d(lambda p: p[0] ** 2 + p[1] ** 2,
    ...                       np.array([[3.0, 4.0], [0.0, 2.0]])).round(6)
    array([[6., 8.],
           [0., 4.]])
    """
    _check_array(X, "numerical_gradient_2d")
    if X.ndim == 1:
        return _numerical_gradient_1d(f, X)
    grad = np.zeros_like(X)
    for i, row in enumerate(X):
        grad[i] = _numerical_gradient_1d(f, row)
    return grad


def numerical_gradient(f, x):
    """Central-difference gradient of the scalar function f at x, for x of any shape.

    Each entry (walked by ``np.nditer`` in C order) is set to x + h and x - h in place,
    ``f(x)`` is called with the whole array, and the entry is restored, so ``x`` is
    unchanged afterwards.

    Parameters
    ----------
    f : callable
        Takes ``x`` (the whole array) and returns a scalar.
    x : ndarray of floats
        Any shape; writable (it is perturbed in place and restored, also when ``f`` raises).

    Returns
    -------
    ndarray
        The gradient, of ``x``'s shape (h = 1e-4).

    Raises
    ------
    TypeError
        If ``x`` is not a writable numpy array.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> numerical_gradient(lambda a: np.sum(a ** 2), x).round(6)
    array([[2., 4.],
           [6., 8.]])
    """
    _check_array(x, "numerical_gradient")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        grad[idx] = _central_difference(f, x, idx)
        it.iternext()
    return grad


def _numerical_gradient_4pt(f, x, h):
    """Fourth-order central difference (-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / (12h),
    perturbing x in place like ``numerical_gradient``."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        old = x[idx]
        vals = []
        try:
            for k in (2, 1, -1, -2):
                x[idx] = float(old) + k * h
                vals.append(f(x))
        finally:
            x[idx] = old
        grad[idx] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
        it.iternext()
    return grad


def _numerical_gradient_h(f, x, h):
    """``numerical_gradient`` with a step other than the book's 1e-4."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        old = x[idx]
        try:
            x[idx] = float(old) + h
            f_plus = f(x)
            x[idx] = float(old) - h
            f_minus = f(x)
        finally:
            x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * h)
        it.iternext()
    return grad


def gradient_check(net, x, t, *, points=2, h=1e-4, keys=None):
    """Compare backprop gradients with numerical ones, per parameter (beyond the book).

    Works on any object with ``params`` (a dict of float arrays that its layers share),
    ``loss(x, t)`` and ``gradient(x, t)``, as the book's networks have. ``net.gradient`` is
    called first and its arrays are copied; then each parameter is perturbed in place while
    ``net.loss(x, t)`` is evaluated, by the book's 2-point central difference (``points=2``)
    or a 4-point one (``points=4``, error O(h^4)). Layers that draw random masks in ``loss``
    (dropout) or update state (batch-norm running statistics) make the numbers meaningless
    or change that state, as in the book's own gradient-check scripts.

    Parameters
    ----------
    net : object with ``params``, ``loss`` and ``gradient``
    x, t : the batch passed to ``loss`` and ``gradient``
    points : 2 or 4
        The central-difference stencil.
    h : float
        The step (the book uses 1e-4).
    keys : iterable of str, optional
        Only these parameters (default: all of ``net.params``, in its order).

    Returns
    -------
    dict
        ``{key: (mean_abs_diff, max_abs_diff)}`` as Python floats.

    Examples
    --------
    >>> import numpy as np
    >>> class Quadratic:
    ...     def __init__(self):
    ...         self.params = {"W": np.array([1.0, -2.0])}
    ...     def loss(self, x, t):
    ...         return np.sum((self.params["W"] * x - t) ** 2)
    ...     def gradient(self, x, t):
    ...         return {"W": 2 * (self.params["W"] * x - t) * x}
    >>> diffs = gradient_check(Quadratic(), np.array([0.5, 3.0]), np.array([1.0, 1.0]))
    >>> diffs["W"][1] < 1e-6
    True
    """
    if points not in (2, 4):
        raise ValueError(f"gradient_check: expected points=2 or 4; got {points!r}")
    if not (isinstance(h, (int, float, np.floating)) and np.isfinite(h) and h > 0):
        raise ValueError(f"gradient_check: expected a positive step h; got {h!r}")
    for name in ("params", "loss", "gradient"):
        if not hasattr(net, name):
            raise TypeError(f"gradient_check: expected a network with params, loss and "
                            f"gradient; got {type(net).__name__} without {name!r}")
    params = net.params
    keys = list(params.keys()) if keys is None else list(keys)
    for key in keys:
        p = params[key]
        if not (isinstance(p, np.ndarray) and p.dtype.kind == "f" and p.flags.writeable):
            raise TypeError(f"gradient_check: expected params[{key!r}] to be a writable "
                            f"float array; got {type(p).__name__}"
                            + (f" of dtype {p.dtype}" if isinstance(p, np.ndarray) else ""))
    backprop = {k: np.array(v, dtype=np.float64, copy=True)
                for k, v in net.gradient(x, t).items() if k in keys}

    def loss(_):
        return net.loss(x, t)

    result = {}
    for key in keys:
        if key not in backprop:
            raise KeyError(f"gradient_check: net.gradient returned no gradient for {key!r}")
        p = params[key]
        if points == 4:
            num = _numerical_gradient_4pt(loss, p, float(h))
        elif h == _H:
            num = numerical_gradient(loss, p)
        else:
            num = _numerical_gradient_h(loss, p, float(h))
        if backprop[key].shape != p.shape:
            raise ValueError(f"gradient_check: gradient {key!r} has shape "
                             f"{backprop[key].shape} but the parameter {p.shape}")
        diff = np.abs(backprop[key] - num.astype(np.float64))
        result[key] = (float(np.mean(diff)) if diff.size else 0.0,
                       float(np.max(diff)) if diff.size else 0.0)
    return result
