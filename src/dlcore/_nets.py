"""Helpers shared by the networks (private).

The networks draw their weights with the book's calls on numpy's global legacy RNG
(``scale * np.random.randn(fan_in, fan_out)``, in the book's order, no extra draws: spec
Gotcha 11), then cast to the network's dtype. float64 (the default) is the book; float32
networks hold float32 parameters and convert their inputs so that every layer computes in
float32.
"""
import numpy as np

from ._arrays import F32, F64, describe
from . import _pickle


def net_dtype(dtype, who):
    """np.dtype(float32) or np.dtype(float64); anything else raises."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (F32, F64):
        raise ValueError(f"{who}: expected dtype=np.float64 or np.float32; got {dtype!r}")
    return dt


def draw(scale, shape, dtype):
    """``scale * np.random.randn(*shape)`` (one draw, the book's), cast to ``dtype``."""
    w = scale * np.random.randn(*shape)
    return w if dtype == F64 else w.astype(dtype)


def zeros(n, dtype):
    return np.zeros(n, dtype=dtype)


def ones(n, dtype):
    return np.ones(n, dtype=dtype)


def as_input(x, dtype):
    """Network input in the network's dtype: unchanged for float64 networks (the book: the
    layers promote as numpy does), converted to float32 for float32 networks."""
    if dtype == F64:
        return x
    x = np.asarray(x)
    return x if x.dtype == dtype else x.astype(dtype)


def as_target(t, dtype):
    """Targets for the loss: float one-hot targets follow a float32 network's dtype (so the
    loss gradient stays float32); integer labels are untouched."""
    if dtype == F64 or not isinstance(t, np.ndarray) or t.dtype.kind != "f" or t.dtype == dtype:
        return t
    return t.astype(dtype)


def load_params(net, file_name, who):
    """Read the book's parameter pickle into ``net.params`` with the restricted unpickler,
    replacing the entries the file holds (a subset is fine; the others are kept). Arrays are
    converted to the network's dtype (no copy when they already have it); a key the network
    does not have, or an array of another shape, raises ValueError before anything is
    replaced."""
    loaded = _pickle.load_param_dict(file_name, who)
    unknown = [key for key in loaded if key not in net.params]
    if unknown:  # the book would store them, and the next optimizer step fails on them
        raise ValueError(f"{who}: {file_name!r} holds {', '.join(map(repr, unknown))}, which "
                         f"this network does not have (its parameters: "
                         f"{', '.join(net.params)})")
    for key, val in loaded.items():
        old = net.params[key]
        if np.shape(old) != val.shape:
            raise ValueError(f"{who}: {key!r} in {file_name!r} has shape {val.shape} but the "
                             f"network's {key} has shape {np.shape(old)}; was the file saved "
                             "by a network of another size?")
    for key, val in loaded.items():
        net.params[key] = val if val.dtype == net.dtype else val.astype(net.dtype)


def save_params(net, file_name):
    _pickle.save_param_dict(net.params, file_name)


def accuracy_batched(net, x, t, batch_size, predict):
    """The book's convnet accuracy: ``int(N / batch_size)`` full batches only (the remainder
    is skipped) but divided by the full N; fewer samples than one batch give 0.0."""
    if t.ndim != 1:
        t = np.argmax(t, axis=1)
    acc = 0.0
    for i in range(int(x.shape[0] / batch_size)):
        tx = x[i * batch_size:(i + 1) * batch_size]
        tt = t[i * batch_size:(i + 1) * batch_size]
        y = predict(tx)
        y = np.argmax(y, axis=1)
        acc += np.sum(y == tt)
    return acc / x.shape[0]


def check_positive_int(value, what, who):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{who}: expected a positive int for {what}; got {describe(value)}")
    return int(value)
