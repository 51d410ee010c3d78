"""The book's ``common/optimizer.py``: ``update(params, grads)`` over dicts.

ndarray parameters of dtype float32/float64 are updated in place by C kernels (so the layers
that alias them see the change); Python-float parameters (the book's 2-D optimizer
comparison) are rebound in the dict, exactly as the book's augmented assignment does. Every
rule matches the book's numpy statements in order and rounding.
"""
import numpy as np  # noqa: F401  (the book's star-import surface exposes np)

from . import _kernels as _K
from ._arrays import F32, F64, as_c, flat


def _check_lr(lr, who):
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)):
        raise TypeError(f"{who}: expected a positive number for lr; got {type(lr).__name__}")
    if not (lr > 0 and np.isfinite(lr)):
        raise ValueError(f"{who}: expected a positive, finite lr; got {lr}")
    return float(lr)


def _kernel_views(p, g, *state):
    """Flat C-order views of a parameter, its gradient and state arrays when a kernel can
    update them in place, else None. Fortran-ordered parameters (the book's ch03 weights) are
    updated through their transposes, which are C-contiguous views of the same memory."""
    if not (isinstance(p, np.ndarray) and (p.dtype == F64 or p.dtype == F32)
            and p.flags.writeable and p.size):
        return None
    g = np.asarray(g)
    if g.shape != p.shape:
        return None
    if p.flags.c_contiguous:
        pv, gv, sv = p, g, state
    elif p.flags.f_contiguous:
        pv, gv, sv = p.T, g.T, tuple(s.T for s in state)
    else:
        return None
    if not all(s.dtype == p.dtype and s.flags.c_contiguous and s.shape == pv.shape
               for s in sv):
        return None
    return (flat(pv), flat(as_c(gv, p.dtype))) + tuple(flat(s) for s in sv)


class SGD:
    r"""Stochastic gradient descent.

    .. math:: p \leftarrow p - \mathrm{lr}\cdot g

    Same as ``torch.optim.SGD`` without momentum or weight decay.

    >>> import numpy as np
    >>> params = {"w": np.array([1.0, 2.0])}
    >>> SGD(lr=0.5).update(params, {"w": np.array([2.0, 2.0])})
    >>> params["w"]
    array([0., 1.])
    """

    def __init__(self, lr=0.01):
        self.lr = _check_lr(lr, "SGD")

    def update(self, params, grads):
        for key in params.keys():
            views = _kernel_views(params[key], grads[key])
            if views is not None:
                _K.sgd_update(views[0], views[1], self.lr)
            else:
                params[key] -= self.lr * grads[key]


# Optimizers of the layers issue are added below (keep this marker).
# --- more optimizers ---
