"""The book's ``common/optimizer.py``: ``update(params, grads)`` over dicts.

ndarray parameters of dtype float32/float64 are updated in place by C kernels (so the layers
that alias them see the change); Python-float parameters (the book's 2-D optimizer
comparison) are rebound in the dict, exactly as the book's augmented assignment does. Every
rule matches the book's numpy statements in order and rounding.
"""
import numpy as np  # noqa: F401  (the book's star-import surface exposes np)

from . import _kernels as _K
from ._arrays import F32, F64, as_c, describe


def _check_lr(lr, who):
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)):
        raise TypeError(f"{who}: expected a positive number for lr; got {type(lr).__name__}")
    if not (lr > 0 and np.isfinite(lr)):
        raise ValueError(f"{who}: expected a positive, finite lr; got {lr}")
    return float(lr)


def _check_dicts(params, grads, who):
    """TypeError unless params and grads are dict-like (the book loops over
    ``params.keys()`` and reads ``grads[key]``; a missing key stays a KeyError)."""
    for name, d in (("params", params), ("grads", grads)):
        if not (hasattr(d, "keys") and hasattr(d, "__getitem__")):
            raise TypeError(f"{who}: expected {name} as a dict of arrays (or numbers); got "
                            f"{describe(d)}")


def _may_overlap(a, b):
    """np.may_share_memory(a, b), answered at once for two distinct arrays that each own
    their memory (no view of one can be the other)."""
    if a is not b and a.base is None and b.base is None:
        return False
    return np.may_share_memory(a, b)


def _check_state_aliasing(who, key, p, g, **states):
    """ValueError when a state array shares memory with the parameter, its gradient or another
    state array of the same key (``m[k] is v[k]``, ``h[k] is p``): the book's in-place
    statements then depend on their order, and a fused kernel would give other values."""
    arrays = (p, g) + tuple(states.values())
    if all(getattr(a, "base", 0) is None for a in arrays) and \
            len(set(map(id, arrays))) == len(arrays):
        return  # distinct arrays that each own their memory
    for i in range(2, len(arrays)):
        s = arrays[i]
        if not isinstance(s, np.ndarray):
            continue
        for j in range(i):
            o = arrays[j]
            if isinstance(o, np.ndarray) and _may_overlap(s, o):
                names = [f"params[{key!r}]", f"grads[{key!r}]"] + \
                    [f"{name}[{key!r}]" for name in states]
                raise ValueError(f"{who}: expected optimizer state {names[i]} to share no "
                                 f"memory with the parameter, its gradient or other state; "
                                 f"got {names[i]} sharing memory with {names[j]}")


def _kernel_views(who, p, g, *state):
    """C-contiguous views of a parameter, its gradient and state arrays when a kernel can
    update them in place, else None. Fortran-ordered parameters (the book's ch03 weights) are
    updated through their transposes, which are C-contiguous views of the same memory.
    (Called for every parameter of every update: plain loops, no generators.)"""
    if not isinstance(p, np.ndarray):
        return None
    dt = p.dtype
    pf = p.flags
    if not ((dt == F64 or dt == F32) and pf.writeable and pf.aligned and p.size):
        return None
    g = np.asarray(g)
    if g.dtype.kind not in "biuf":
        # the book's `p -= lr * g` refuses these (complex: a casting error, object: no
        # float loop); a C kernel must not silently drop an imaginary part
        raise TypeError(f"{who}: expected real numeric gradients; got {describe(g)} for a "
                        f"{p.dtype} parameter")
    if g.shape != p.shape or g.dtype != dt:
        # another gradient dtype changes where the book's statements round: a wider one
        # (float64 for float32 p) computes in the wider type, a narrower one (float16, ints)
        # squares or scales g in its own type first; the numpy path reproduces both
        return None
    for s in state:
        if not isinstance(s, np.ndarray):
            return None
        sf = s.flags
        if not (sf.aligned and sf.writeable):
            return None
    if pf.c_contiguous:
        pv, gv, sv = p, g, state
    elif pf.f_contiguous:
        pv, gv, sv = p.T, g.T, tuple(s.T for s in state)
    else:
        return None
    for s in sv:
        if s.dtype != dt or not s.flags.c_contiguous or s.shape != pv.shape:
            return None
    gc = as_c(gv, dt)
    if _may_overlap(gc, pv) and not _same_memory(gc, pv):
        # a gradient that partly overlaps its own parameter (views of one buffer): numpy
        # reads such an operand as if copied first; the kernel would read updated values
        gc = gc.copy()
    for s in sv:
        if _may_overlap(s, pv) or _may_overlap(s, gc):
            return None
    return (pv, gc) + tuple(sv)


def _same_memory(a, b):
    """True when a and b are the same elements (same start, strides and shape)."""
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides and a.shape == b.shape)


class SGD:
    r"""Stochastic gradient descent.

    .. math:: p \leftarrow p - \mathrm{lr}\cdot g

    Same as ``torch.optim.SGD`` without momentum or weight decay.

    Parameters
    ----------
    lr : float, default 0.01
        The learning rate, > 0.

    Raises
    ------
    ValueError
        If ``lr`` is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([1.0, 2.0])}
    >>> SGD(lr=0.5).update(params, {"w": np.array([2.0, 2.0])})
    >>> params["w"]
    array([0., 1.])
    """

    def __init__(self, lr=0.01):
        self.lr = _check_lr(lr, "SGD")

    _states = ()  # the state dicts the update keeps (none)

    def _engine_args(self):
        """The fused engine's update arguments (dlcore.engine), read at every step."""
        return (self.lr,)

    def update(self, params, grads):
        _check_dicts(params, grads, "SGD.update")
        for key in params.keys():
            views = _kernel_views("SGD.update", params[key], grads[key])
            if views is not None:
                _K.sgd_update(views[0], views[1], self.lr)
            else:
                params[key] -= self.lr * grads[key]


# Optimizers of the layers issue are added below (keep this marker).
# --- more optimizers ---


def _check_hyper(value, name, who, lo=0.0, hi=None, hi_open=False):
    """A real number in [lo, hi] (or [lo, hi) when hi_open), as a Python float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{who}: expected a number for {name}; got {type(value).__name__}")
    v = float(value)
    ok = np.isfinite(v) and v >= lo
    if hi is not None:
        ok = ok and (v < hi if hi_open else v <= hi)
    if not ok:
        rng = f"[{lo:g}, {hi:g}{')' if hi_open else ']'}" if hi is not None else f">= {lo:g}"
        raise ValueError(f"{who}: expected {name} {'in ' if hi is not None else ''}{rng}; "
                         f"got {value!r}")
    return v


def _zeros_state(params):
    """The book's lazy state: one ``zeros_like`` per parameter, keyed from ``params.items()``
    (so the state dtype, shape and memory order follow the parameter)."""
    return {key: np.zeros_like(val) for key, val in params.items()}


class Momentum:
    r"""SGD with momentum, the book's form.

    .. math::
        v &\leftarrow \mu\, v - \mathrm{lr}\cdot g \\
        p &\leftarrow p + v

    ``v`` (dict ``self.v``, created lazily as zeros like each parameter) is rebound to a new
    array each step, as the book does. PyTorch's ``SGD(momentum=mu)`` keeps a buffer of
    gradients, :math:`b \leftarrow \mu b + g`, and steps
    :math:`p \leftarrow p - \mathrm{lr}\, b`; for a constant lr that is the same path
    (:math:`v = -\mathrm{lr}\, b`, first step :math:`b = g`), but the buffer holds
    gradients rather than steps, so changing lr mid-run acts differently.

    Parameters
    ----------
    lr : float, default 0.01
        The learning rate, > 0.
    momentum : float, default 0.9
        :math:`\mu`, >= 0.

    Raises
    ------
    ValueError
        If ``lr`` is not positive or ``momentum`` is negative.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([1.0])}
    >>> opt = Momentum(lr=0.1, momentum=0.9)
    >>> opt.update(params, {"w": np.array([1.0])})
    >>> opt.update(params, {"w": np.array([1.0])})
    >>> params["w"], opt.v["w"]
    (array([0.71]), array([-0.19]))
    """

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = _check_lr(lr, "Momentum")
        self.momentum = _check_hyper(momentum, "momentum", "Momentum")
        self.v = None

    _states = ("v",)

    def _engine_args(self):
        return (self.lr, self.momentum)

    def update(self, params, grads):
        _check_dicts(params, grads, "Momentum.update")
        if self.v is None:
            self.v = _zeros_state(params)
        for key in params.keys():
            p, g, v = params[key], grads[key], self.v[key]
            if isinstance(v, np.ndarray):
                v_new = v.copy(order="K")  # the book rebinds v: never write the old array
                views = _kernel_views("Momentum.update", p, g, v_new)
                if views is not None:
                    _K.momentum_update(views[0], views[2], views[1], self.lr, self.momentum)
                    self.v[key] = v_new
                    continue
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


class Nesterov:
    r"""Nesterov's accelerated gradient, the book's form with the 2021 statement order.

    .. math::
        p &\leftarrow p + \mu^2 v - (1 + \mu)\,\mathrm{lr}\cdot g \\
        v &\leftarrow \mu\, v - \mathrm{lr}\cdot g

    (the parameter step uses the old ``v``; ``v`` is updated in place afterwards; book 2 and
    the pre-2021 book used the new ``v``). PyTorch's ``SGD(momentum=mu, nesterov=True)``
    keeps :math:`b \leftarrow \mu b + g` and steps :math:`p \leftarrow p - \mathrm{lr}(g +
    \mu b)`; with :math:`v = -\mathrm{lr}\, b` that is the same path for a constant lr, up to
    rounding (the book rounds :math:`\mu^2` and :math:`(1+\mu)\mathrm{lr}` separately).

    Parameters
    ----------
    lr : float, default 0.01
        The learning rate, > 0.
    momentum : float, default 0.9
        :math:`\mu`, >= 0.

    Raises
    ------
    ValueError
        If ``lr`` is not positive or ``momentum`` is negative.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([1.0])}
    >>> Nesterov(lr=0.1, momentum=0.9).update(params, {"w": np.array([1.0])})
    >>> params["w"]
    array([0.81])
    """

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = _check_lr(lr, "Nesterov")
        self.momentum = _check_hyper(momentum, "momentum", "Nesterov")
        self.v = None

    _states = ("v",)

    def _engine_args(self):
        return (self.lr, self.momentum)

    def update(self, params, grads):
        _check_dicts(params, grads, "Nesterov.update")
        if self.v is None:
            self.v = _zeros_state(params)
        mu, lr = self.momentum, self.lr
        for key in params.keys():
            _check_state_aliasing("Nesterov.update", key, params[key], grads[key], v=self.v[key])
            views = _kernel_views("Nesterov.update", params[key], grads[key], self.v[key])
            if views is not None:
                _K.nesterov_update(views[0], views[2], views[1], lr, mu)
                continue
            params[key] += mu * mu * self.v[key]
            params[key] -= (1 + mu) * lr * grads[key]
            self.v[key] *= mu
            self.v[key] -= lr * grads[key]


class AdaGrad:
    r"""AdaGrad, the book's form.

    .. math::
        h &\leftarrow h + g \odot g \\
        p &\leftarrow p - \mathrm{lr}\cdot g / (\sqrt{h} + 10^{-7})

    Same as ``torch.optim.Adagrad`` with ``lr_decay=0``, ``initial_accumulator_value=0``
    and ``eps=1e-7`` (PyTorch's default eps is 1e-10; both add it after the square root).

    Parameters
    ----------
    lr : float, default 0.01
        The learning rate, > 0.

    Raises
    ------
    ValueError
        If ``lr`` is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([1.0])}
    >>> AdaGrad(lr=0.5).update(params, {"w": np.array([2.0])})
    >>> params["w"].round(6)
    array([0.5])
    """

    def __init__(self, lr=0.01):
        self.lr = _check_lr(lr, "AdaGrad")
        self.h = None

    _states = ("h",)

    def _engine_args(self):
        return (self.lr, 1e-7)

    def update(self, params, grads):
        _check_dicts(params, grads, "AdaGrad.update")
        if self.h is None:
            self.h = _zeros_state(params)
        for key in params.keys():
            _check_state_aliasing("AdaGrad.update", key, params[key], grads[key], h=self.h[key])
            views = _kernel_views("AdaGrad.update", params[key], grads[key], self.h[key])
            if views is not None:
                _K.adagrad_update(views[0], views[2], views[1], self.lr, 1e-7)
                continue
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class RMSprop:
    r"""RMSprop, the book's form.

    .. math::
        h &\leftarrow \rho\, h + (1 - \rho)\, g \odot g \\
        p &\leftarrow p - \mathrm{lr}\cdot g / (\sqrt{h} + 10^{-7})

    Same as ``torch.optim.RMSprop(alpha=rho, eps=1e-7)`` without momentum or centering
    (PyTorch's defaults are ``alpha=0.99``, ``eps=1e-8``; both add eps after the root).

    Parameters
    ----------
    lr : float, default 0.01
        The learning rate, > 0.
    decay_rate : float, default 0.99
        :math:`\rho`.

    Raises
    ------
    ValueError
        If ``lr`` is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([1.0])}
    >>> RMSprop(lr=0.1, decay_rate=0.99).update(params, {"w": np.array([1.0])})
    >>> params["w"].round(4)
    array([0.])
    """

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr = _check_lr(lr, "RMSprop")
        self.decay_rate = _check_hyper(decay_rate, "decay_rate", "RMSprop", 0.0, 1.0)
        self.h = None

    _states = ("h",)

    def _engine_args(self):
        return (self.lr, self.decay_rate, 1e-7)

    def update(self, params, grads):
        _check_dicts(params, grads, "RMSprop.update")
        if self.h is None:
            self.h = _zeros_state(params)
        rho = self.decay_rate
        for key in params.keys():
            _check_state_aliasing("RMSprop.update", key, params[key], grads[key], h=self.h[key])
            views = _kernel_views("RMSprop.update", params[key], grads[key], self.h[key])
            if views is not None:
                _K.rmsprop_update(views[0], views[2], views[1], self.lr, rho, 1e-7)
                continue
            self.h[key] *= rho
            self.h[key] += (1 - rho) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class Adam:
    r"""Adam, the book's form: bias correction folded into the step size.

    With :math:`t` = ``self.iter``, incremented once per ``update`` call (not per key):

    .. math::
        \mathrm{lr}_t &= \mathrm{lr}\,\sqrt{1 - \beta_2^t} / (1 - \beta_1^t) \\
        m &\leftarrow m + (1 - \beta_1)(g - m) \\
        v &\leftarrow v + (1 - \beta_2)(g \odot g - v) \\
        p &\leftarrow p - \mathrm{lr}_t\, m / (\sqrt{v} + 10^{-7})

    This differs from ``torch.optim.Adam``, which steps
    :math:`p \leftarrow p - \mathrm{lr}\,\hat m / (\sqrt{\hat v} + \epsilon)` with
    :math:`\hat m = m/(1-\beta_1^t)`, :math:`\hat v = v/(1-\beta_2^t)` and
    :math:`\epsilon = 10^{-8}`: here :math:`\epsilon = 10^{-7}` is added to the
    *uncorrected* :math:`\sqrt v`, i.e. an effective
    :math:`\epsilon\sqrt{1-\beta_2^t}`, which is much smaller in the first steps.

    Parameters
    ----------
    lr : float, default 0.001
        The learning rate, > 0.
    beta1, beta2 : float, default 0.9 and 0.999
        :math:`\beta_1, \beta_2`, in [0, 1).

    Raises
    ------
    ValueError
        If ``lr`` is not positive or a beta is outside [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([1.0])}
    >>> opt = Adam(lr=0.1)
    >>> opt.update(params, {"w": np.array([0.5])})
    >>> opt.iter, params["w"].round(4)
    (1, array([0.9]))
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = _check_lr(lr, "Adam")
        self.beta1 = _check_hyper(beta1, "beta1", "Adam", 0.0, 1.0, hi_open=True)
        self.beta2 = _check_hyper(beta2, "beta2", "Adam", 0.0, 1.0, hi_open=True)
        self.iter = 0
        self.m = None
        self.v = None

    _states = ("m", "v")

    def _next_lr_t(self):
        """Advances ``iter`` and returns the bias-corrected rate of this update."""
        self.iter += 1
        b1, b2 = self.beta1, self.beta2
        return self.lr * np.sqrt(1.0 - b2 ** self.iter) / (1.0 - b1 ** self.iter)

    def _engine_args(self):
        """Advances ``iter``, as ``update`` does."""
        return (float(self._next_lr_t()), self.beta1, self.beta2, 1e-7)

    def update(self, params, grads):
        _check_dicts(params, grads, "Adam.update")
        if self.m is None:
            self.m = _zeros_state(params)
            self.v = _zeros_state(params)
        lr_t = self._next_lr_t()
        b1, b2 = self.beta1, self.beta2
        for key in params.keys():
            _check_state_aliasing("Adam.update", key, params[key], grads[key], m=self.m[key],
                                  v=self.v[key])
            views = _kernel_views("Adam.update", params[key], grads[key], self.m[key],
                                  self.v[key])
            if views is not None:
                _K.adam_update(views[0], views[2], views[3], views[1], float(lr_t), b1, b2,
                               1e-7)
                continue
            self.m[key] += (1 - b1) * (grads[key] - self.m[key])
            self.v[key] += (1 - b2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)
