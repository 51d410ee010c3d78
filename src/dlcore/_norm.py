"""Dropout and batch normalization, the book's chapter-6 layers (``common/layers.py``).

``Dropout`` draws its mask from numpy's global legacy RNG as the book's own call does
(``np.random.rand(*x.shape) > dropout_ratio``: the same doubles in the same order, compared in
C as they come for float32/float64 input, by the engine's own draw), so seeded scripts
reproduce; the products run in C. ``BatchNormalization`` computes its statistics,
normalisation and backward pass in C (column blocks, thread-count independent); the running
statistics are rebound by the book's numpy statements. Both follow numpy promotion for dtypes
(all-float32 stays float32); dtype mixes the kernels cannot reproduce exactly take the book's
numpy formulas.
"""
import numbers

import numpy as np

from . import _kernels as _K
from ._arrays import F32, F64, as_c, check_numeric, describe, kernel_dtype, ready

# The book writes 10e-7, which is 1e-6 (not 1e-7).
_BN_EPS = 10e-7


def _check_ratio(p, who, name="dropout_ratio"):
    """TypeError unless p is a real number, ValueError unless 0 <= p <= 1 (NaN fails)."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
        raise TypeError(f"{who}: expected a number in [0, 1] for {name}; got {describe(p)}")
    if not 0 <= p <= 1:
        raise ValueError(f"{who}: expected {name} in [0, 1]; got {p!r}")


def _is_kernel_array(a):
    return isinstance(a, np.ndarray) and (a.dtype == F64 or a.dtype == F32)


def _book_mask(x, p):
    """The book's ``np.random.rand(*x.shape) > p``. For a float32/float64 array x and a plain
    int/float p it is drawn in C (dl_dropout_draw, the engine's draw): the same doubles of
    numpy's global generator in the same order, compared as they come, without the array of
    doubles; otherwise (a 0-d x, a Fraction p, which numpy compares its own way) by numpy."""
    if not (_is_kernel_array(x) and x.ndim > 0
            and isinstance(p, (int, float, np.integer, np.floating))):
        return np.random.rand(*np.shape(x)) > p
    mask = np.empty(x.shape, np.bool_)
    bg = np.random.mtrand._rand._bit_generator
    with bg.lock:
        _K.dropout_draw(mask, float(p), bg)
    return mask


def _masked(x, mask, scale, scale_obj):
    """x * mask * scale through the C kernel when it gives numpy's result (x float32/float64
    and ``scale_obj``, the object numpy would multiply by, keeps x's dtype), else None."""
    if not (_is_kernel_array(x) and x.ndim > 0):
        return None
    if scale_obj is not None and np.result_type(x, scale_obj) != x.dtype:
        return None
    if mask is not None:
        if not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_
                and mask.shape == x.shape):
            return None
        mask = np.ascontiguousarray(mask)
    y = np.empty(x.shape, x.dtype)
    _K.dropout_forward(y, as_c(x, x.dtype), mask, scale)
    return y


class Dropout:
    """Dropout, the book's (non-inverted) style by default.

    Training (``train_flg=True``) draws ``mask = np.random.rand(*x.shape) > dropout_ratio``
    from numpy's global legacy RNG (the book's draws, so seeded runs reproduce) and returns
    ``x * mask``; test mode returns ``x * (1 - dropout_ratio)``; ``backward(dout)`` returns
    ``dout * mask`` with the mask of the last training forward (a test-mode forward leaves
    it in place, as in the book; ``backward`` before any training forward raises
    RuntimeError where the book fails on ``mask = None``).

    ``inverted=True`` (beyond the book) gives inverted dropout: the survivors are scaled by
    ``1 / (1 - dropout_ratio)`` in training (zeros when the ratio is 1) and test mode returns
    ``x`` itself. The mask is drawn by the same call.

    Parameters
    ----------
    dropout_ratio : float, default 0.5
        The probability of dropping an element, in [0, 1].
    inverted : bool, default False
        True for inverted dropout (beyond the book).

    Raises
    ------
    ValueError
        If ``dropout_ratio`` is outside [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> np.random.seed(0)
    >>> d = Dropout(0.5)
    >>> d.forward(np.array([[1.0, 2.0, 3.0, 4.0]]))
    array([[1., 2., 3., 4.]])
    >>> d.forward(np.array([[1.0, 2.0, 3.0, 4.0]]), train_flg=False)
    array([[0.5, 1. , 1.5, 2. ]])
    """

    def __init__(self, dropout_ratio=0.5, inverted=False):
        _check_ratio(dropout_ratio, "Dropout")
        self.dropout_ratio = dropout_ratio
        self.inverted = bool(inverted)
        self.mask = None
        self._scale = 1.0

    def forward(self, x, train_flg=True):
        p = self.dropout_ratio
        dt = x.dtype if type(x) is np.ndarray and x.ndim > 0 else None
        if (train_flg is True and dt is not None and (dt == F64 or dt == F32)
                and (type(p) is float or type(p) is int) and 0 <= p <= 1 and ready(x, dt)):
            # a float32/float64 array and a plain ratio: the mask drawn and applied in one
            # kernel call, as _book_mask and _masked below would do in two
            scale = (1.0 / (1.0 - p) if p < 1 else 0.0) if self.inverted else 1.0
            mask = np.empty(x.shape, np.bool_)
            y = np.empty(x.shape, dt)
            bg = np.random.mtrand._rand._bit_generator
            with bg.lock:
                _K.dropout_draw(mask, float(p), bg, y, x, scale)
            self.mask, self._scale = mask, scale
            return y
        _check_ratio(p, "Dropout.forward")
        check_numeric(x, "Dropout.forward x")
        x = np.asarray(x)
        if train_flg:
            self.mask = _book_mask(x, p)
            if self.inverted:
                self._scale = 1.0 / (1.0 - float(p)) if p < 1 else 0.0
                y = _masked(x, self.mask, self._scale, None)
                return x * self.mask * self._scale if y is None else y
            self._scale = 1.0
            y = _masked(x, self.mask, 1.0, None)
            return x * self.mask if y is None else y
        if self.inverted:
            return x
        scale = 1.0 - p
        y = _masked(x, None, float(scale), scale)
        return x * scale if y is None else y

    def backward(self, dout):
        mask = self.mask
        if mask is None:
            raise RuntimeError("Dropout.backward: call forward(x, train_flg=True) first")
        check_numeric(dout, "Dropout.backward dout")
        dout = np.asarray(dout)
        if dout.shape != np.shape(mask):
            raise ValueError(f"Dropout.backward: expected dout of shape {np.shape(mask)} "
                             f"(the last training input); got {describe(dout)}")
        scale = self._scale
        if (_is_kernel_array(dout) and dout.ndim > 0 and isinstance(mask, np.ndarray)
                and mask.dtype == np.bool_):
            dx = np.empty(dout.shape, dout.dtype)
            _K.dropout_backward(dx, as_c(dout, dout.dtype), np.ascontiguousarray(mask), scale)
            return dx
        return dout * mask * scale if self.inverted else dout * mask


def _running_update(rm, rv, mu, var, m):
    """New running averages m * r + (1 - m) * batch statistic (the book rebinds them on every
    training forward): the kernel the fused engine runs, where numpy's promotion keeps the
    statistics' dtype; the book's statements otherwise."""
    dt = mu.dtype
    if (type(m) in (float, int) or (isinstance(m, np.floating) and m.dtype == dt)) and \
            all(isinstance(a, np.ndarray) and a.dtype == dt and a.shape == mu.shape
                for a in (rm, rv, var)) and dt in (F32, F64):
        new_m, new_v = np.empty_like(mu), np.empty_like(mu)
        _K.batchnorm_running_update(new_m, new_v, as_c(rm, dt), as_c(rv, dt), as_c(mu, dt),
                                    as_c(var, dt), float(m))
        return new_m, new_v
    return m * rm + (1 - m) * mu, m * rv + (1 - m) * var


class BatchNormalization:
    """Batch normalization, the book's formulas (eps 1e-6, biased variance).

    Parameters
    ----------
    gamma, beta : arrays of shape (D,)
        Scale and shift, kept by reference and read on every call. For 4-D input
        (N, C, H, W) the layer normalises each of the D = C*H*W features (not per channel,
        as the book does), so gamma and beta have length C*H*W.
    momentum : float
        Running statistics: ``running = momentum * running + (1 - momentum) * batch_stat``,
        rebound (new arrays) on every training forward.
    running_mean, running_var : arrays of shape (D,) or None
        None creates zeros on the first forward, even in test mode (where the zero variance
        then divides by sqrt(1e-6)). They are float64 as in the book, or float32 when x, gamma
        and beta are all float32 (so an all-float32 network stays float32).

    Attributes ``input_shape``, ``batch_size``, ``xc``, ``xn`` (set by the first training
    forward), ``std``, ``dgamma``, ``dbeta`` are the book's.

    Examples
    --------
    >>> import numpy as np
    >>> bn = BatchNormalization(np.ones(2), np.zeros(2))
    >>> bn.forward(np.array([[1.0, 10.0], [3.0, 30.0]])).round(4)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> bn.running_mean
    array([0.2, 2. ])
    """

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.input_shape = None
        self.running_mean = running_mean
        self.running_var = running_var
        self.batch_size = None
        self.xc = None
        self.std = None
        self.dgamma = None
        self.dbeta = None

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _vector(v, D, name, what):
        """A parameter or statistic as an array broadcastable to (D,), checked."""
        check_numeric(v, f"{what} {name}")
        a = np.asarray(v)
        if a.shape not in ((D,), (), (1,)):
            raise ValueError(
                f"{what}: expected {name} of shape ({D},), one value per feature (4-D input "
                f"is normalised per C*H*W feature, not per channel); got {describe(a)}")
        return a

    @staticmethod
    def _as_kernel_vector(a, D, dt):
        # (np.broadcast_to takes 3-6 us a call here: only where the shape needs it)
        return as_c(a if a.shape == (D,) else np.broadcast_to(a, (D,)), dt)

    def _flatten(self, a, what, name):
        check_numeric(a, f"{what} {name}")
        a = np.asarray(a)
        if a.ndim == 2:
            return a
        if a.ndim == 4:
            N, C, H, W = a.shape
            return a.reshape(N, C * H * W)
        raise ValueError(f"{what}: expected {name} of shape (N, D) or (N, C, H, W); "
                         f"got {describe(a)}")

    # ------------------------------------------------------------------ forward
    def forward(self, x, train_flg=True):
        what = "BatchNormalization.forward"
        check_numeric(x, f"{what} x")
        x = np.asarray(x)
        self.input_shape = x.shape
        out = self.__forward(self._flatten(x, what, "x"), train_flg)
        return out.reshape(*self.input_shape)

    def __forward(self, x, train_flg):
        what = "BatchNormalization.forward"
        N, D = x.shape
        gamma = self._vector(self.gamma, D, "gamma", what)
        beta = self._vector(self.beta, D, "beta", what)
        if self.running_mean is None:
            dt = F32 if (x.dtype == gamma.dtype == beta.dtype == F32) else F64
            self.running_mean = np.zeros(D, dt)
            self.running_var = np.zeros(D, dt)

        if train_flg:
            if N == 0:
                raise ValueError(f"{what}: expected at least one sample in training mode; "
                                 f"got {describe(x)}")
            dt = kernel_dtype(x, gamma, beta)
            if dt is not None and x.dtype == dt:
                out = np.empty((N, D), dt)
                xc = np.empty((N, D), dt)
                xn = np.empty((N, D), dt)
                std = np.empty(D, dt)
                mu = np.empty(D, dt)
                var = np.empty(D, dt)
                _K.batchnorm_forward_train(out, xc, xn, std, mu, var, as_c(x, dt),
                                           self._as_kernel_vector(gamma, D, dt),
                                           self._as_kernel_vector(beta, D, dt), _BN_EPS)
            else:  # the book's numpy statements (dtype mixes the kernel would not reproduce)
                mu = x.mean(axis=0)
                xc = x - mu
                var = np.mean(xc ** 2, axis=0)
                std = np.sqrt(var + _BN_EPS)
                xn = xc / std
                out = None
            self.batch_size = N
            self.xc = xc
            self.xn = xn
            self.std = std
            self.running_mean, self.running_var = _running_update(
                self.running_mean, self.running_var, mu, var, self.momentum)
            if out is None:
                out = self.gamma * xn + self.beta
            return out

        rm = self._vector(self.running_mean, D, "running_mean", what)
        rv = self._vector(self.running_var, D, "running_var", what)
        dt = kernel_dtype(x, gamma, beta, rm, rv)
        if dt is not None and x.dtype == dt and rv.dtype == dt:
            out = np.empty((N, D), dt)
            _K.batchnorm_forward_test(out, as_c(x, dt), self._as_kernel_vector(gamma, D, dt),
                                      self._as_kernel_vector(beta, D, dt),
                                      self._as_kernel_vector(rm, D, dt),
                                      self._as_kernel_vector(rv, D, dt), _BN_EPS)
            return out
        xc = x - self.running_mean
        xn = xc / np.sqrt(self.running_var + _BN_EPS)
        return self.gamma * xn + self.beta

    # ------------------------------------------------------------------ backward
    def backward(self, dout):
        what = "BatchNormalization.backward"
        if getattr(self, "xn", None) is None:
            raise RuntimeError(f"{what}: call forward(x, train_flg=True) first")
        dout = self._flatten(dout, what, "dout")
        self._check_cache(dout, what)
        dx = self.__backward(dout)
        return dx.reshape(*self.input_shape)

    def _check_cache(self, dout, what):
        """The caches of the last training forward, checked against dout (N, D): they are
        public attributes and may have been rebound since."""
        for name in ("xn", "xc"):
            a = getattr(self, name)
            check_numeric(a, f"{what} {name}")
            if np.ndim(a) != 2 or np.shape(a) != np.shape(self.xc):
                raise ValueError(f"{what}: expected xn and xc of one (N, D) shape from the last "
                                 f"training forward; got xn {describe(self.xn)}, xc "
                                 f"{describe(self.xc)}")
        if dout.shape != np.shape(self.xc):
            raise ValueError(f"{what}: expected dout of shape {self.input_shape} (the last "
                             f"training input); got {describe(dout)}")
        N, D = dout.shape
        check_numeric(self.std, f"{what} std")
        if np.shape(self.std) != (D,):
            raise ValueError(f"{what}: expected std of shape ({D},) from the last training "
                             f"forward; got {describe(self.std)}")
        bs = self.batch_size
        if isinstance(bs, (bool, np.bool_)) or not isinstance(bs, (int, np.integer)) or bs != N:
            raise ValueError(f"{what}: expected batch_size {N} (the last training forward's "
                             f"batch, the rows of dout); got {bs!r}")

    def __backward(self, dout):
        what = "BatchNormalization.backward"
        xn, xc, std = self.xn, self.xc, self.std
        if dout.shape != xc.shape or self.input_shape is None \
                or int(np.prod(self.input_shape)) != dout.size:
            raise ValueError(f"{what}: expected dout of shape {self.input_shape} (the last "
                             f"training input); got {describe(dout)}")
        N, D = dout.shape
        gamma = self._vector(self.gamma, D, "gamma", what)
        dt = kernel_dtype(dout, xn, xc, std, gamma)
        if (dt is not None and dout.dtype == dt and xn.dtype == dt and xc.dtype == dt
                and std.dtype == dt and std.shape == (D,)):
            dx = np.empty((N, D), dt)
            dgamma = np.empty(D, dt)
            dbeta = np.empty(D, dt)
            _K.batchnorm_backward(dx, dgamma, dbeta, as_c(dout, dt), as_c(xn, dt),
                                  as_c(xc, dt), as_c(std, dt),
                                  self._as_kernel_vector(gamma, D, dt))
        else:  # the book's numpy statements
            batch_size = self.batch_size
            dbeta = dout.sum(axis=0)
            dgamma = np.sum(xn * dout, axis=0)
            dxn = self.gamma * dout
            dxc = dxn / std
            dstd = -np.sum((dxn * xc) / (std * std), axis=0)
            dvar = 0.5 * dstd / std
            dxc += (2.0 / batch_size) * xc * dvar
            dmu = np.sum(dxc, axis=0)
            dx = dxc - dmu / batch_size
        self.dgamma = dgamma
        self.dbeta = dbeta
        return dx
