"""Helpers shared by the networks (private).

The networks draw their weights with the book's calls on numpy's global legacy RNG
(``scale * np.random.randn(fan_in, fan_out)``, in the book's order, no extra draws: spec
Gotcha 11), then cast to the network's dtype. float64 (the default) is the book; float32
networks hold float32 parameters and convert their inputs so that every layer computes in
float32.
"""
import math
import numbers

import numpy as np

from ._arrays import F32, F64, MAX_INDEX, check_numeric, describe
from . import _kernels as _K
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


def json_number(v, what):
    """v as a JSON number (int or float) for dlcore.save; TypeError for anything else."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"dlcore.save: expected a number for {what}; got {describe(v)}")
    return int(v) if isinstance(v, numbers.Integral) else float(v)


def conv_param_of(layer):
    """The conv_param dict of a Convolution layer, read from the layer."""
    FN, _, fs, _ = layer.W.shape
    return {"filter_num": int(FN), "filter_size": int(fs), "pad": int(layer.pad),
            "stride": int(layer.stride)}


def weight_decay_loss(lam, weights):
    """The book's weight-decay term, ``sum of 0.5 * lam * np.sum(W ** 2)`` over ``weights``
    in order. Each ``sum(W**2)`` of a float32/float64 array is the kernel the fused engine
    runs (summed in double in index order, rounded to W's dtype), so both paths give the
    same bits; other arrays take numpy's sum."""
    weight_decay = 0
    for W in weights:
        if isinstance(W, np.ndarray) and W.dtype in (F32, F64):
            s = W.dtype.type(_K.sumsq(np.ascontiguousarray(W).reshape(-1)))
        else:
            s = np.sum(W ** 2)
        weight_decay += 0.5 * lam * s
    return weight_decay


def check_total_size(n, who):
    """ValueError when a network would have n parameters, a count whose bytes overflow a
    64-bit size (checked before anything is drawn; counts that fit but exceed the machine's
    memory get numpy's MemoryError)."""
    if n * 8 >= MAX_INDEX:
        raise ValueError(f"{who}: expected sizes whose parameter count fits in memory; got "
                         f"{n} parameters")


def draw(scale, shape, dtype):
    """``scale * np.random.randn(*shape)`` (one draw, the book's), cast to ``dtype``."""
    n = math.prod(int(d) for d in shape)
    if n * 8 >= MAX_INDEX:
        raise ValueError(f"expected parameter sizes whose product fits in memory; got a weight "
                         f"of shape {tuple(shape)} ({n} elements)")
    if np.ndim(scale) != 0 or np.asarray(scale).dtype.kind not in "biuf":
        # the book would build complex or object weights that its layers cannot use
        raise TypeError(f"expected a real number for weight_init_std (the weights' scale); "
                        f"got {describe(scale)}")
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


def accuracy_targets(x, t, who):
    """The labels (N,) that ``accuracy`` compares with: t itself, or the argmax of one-hot
    rows. Checked: the book would answer silently wrong for targets whose length differs from
    x's batch (a single label broadcasts against every prediction) and divide by zero for an
    empty batch."""
    if np.ndim(x) < 1:
        raise ValueError(f"{who}: expected a batch x of shape (N, ...); got {describe(x)}")
    n = np.shape(x)[0]
    if not isinstance(t, np.ndarray):
        raise TypeError(f"{who}: expected t as a numpy array of labels (N,) or one-hot targets "
                        f"(N, C); got {describe(t)}")
    check_numeric(t, f"{who} t")
    if t.ndim not in (1, 2) or t.shape[0] != n:
        raise ValueError(f"{who}: expected t of shape ({n},) or ({n}, C), one target per sample "
                         f"of x; got {describe(t)}")
    if n == 0:
        raise ValueError(f"{who}: the accuracy of an empty batch is undefined; got x of shape "
                         f"{np.shape(x)}")
    return t if t.ndim == 1 else np.argmax(t, axis=1)


def accuracy_batched(net, x, t, batch_size, predict):
    """The book's convnet accuracy: ``int(N / batch_size)`` full batches only (the remainder
    is skipped) but divided by the full N; fewer samples than one batch give 0.0."""
    who = f"{type(net).__name__}.accuracy"
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(
            batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{who}: expected a positive int batch_size; got {describe(batch_size)}")
    t = accuracy_targets(x, t, who)
    acc = 0.0
    for i in range(int(np.shape(x)[0] / batch_size)):
        tx = x[i * batch_size:(i + 1) * batch_size]
        tt = t[i * batch_size:(i + 1) * batch_size]
        y = predict(tx)
        y = np.argmax(y, axis=1)
        acc += np.sum(y == tt)
    return acc / np.shape(x)[0]


def check_positive_int(value, what, who):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
            1 <= value <= 2**40):
        raise ValueError(f"{who}: expected a positive int (at most 2**40) for {what}; got "
                         f"{describe(value)}")
    return int(value)
