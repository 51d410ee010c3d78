"""The Trainer's checkpoints (beyond the book): ``Trainer.save_checkpoint`` /
``Trainer.resume`` write and read a checkpoint in dlcore's safe ``.npz`` format
(:mod:`dlcore._persist`: network, optimizer, counters, lists and numpy's global RNG state),
and :class:`DeferredInterrupt` defers Ctrl-C to the end of a training step so that an
interrupted run saves a checkpoint first.
"""
import json
import signal
import threading

import numpy as np

from . import _nets
from ._persist import (FORMAT, VERSION, _Reader, _fail, _get, _is_optimizer, _network_args, _network_payload, _optimizer_payload, _optimizer_state,
                       _restore_network, _restore_optimizer, _write_npz)


def _list_payload(values, name, who):
    """(kind, array) of a Trainer list of scalars: kind 'float' for Python floats, else the
    numpy scalar dtype (restored as numpy scalars of it)."""
    if all(type(v) is float for v in values):
        return "float", np.asarray(values, dtype=np.float64)
    try:
        a = np.asarray(values)
    except (ValueError, TypeError):
        a = None
    if a is None or a.ndim != 1 or a.dtype.kind not in "biuf":
        raise TypeError(f"{who}: expected {name} to hold numbers; got {values[:3]!r}...")
    return "numpy", a


def _data_desc(a):
    return [list(np.shape(a)), str(np.asarray(a).dtype) if not hasattr(a, "dtype")
            else str(a.dtype)]


def save_trainer(trainer, path):
    """Write a checkpoint of ``trainer`` (network, optimizer, counters, lists, numpy's global
    RNG state) to ``path`` atomically."""
    who = "Trainer.save_checkpoint"
    net = trainer.network
    nmeta, arrays = _network_payload(net, "net/", who)
    try:
        nmeta["args"] = _network_args(net)[1]
    except (TypeError, KeyError, AttributeError, ValueError):
        nmeta["args"] = None  # a duck-typed network: restorable into an existing one only
    if not _is_optimizer(trainer.optimizer):
        raise TypeError(f"{who}: expected a dlcore optimizer; got "
                        f"{type(trainer.optimizer).__name__}")
    ometa, oarrays = _optimizer_payload(trainer.optimizer, "opt/", who)
    arrays.update(oarrays)
    lists = {}
    for name in ("train_loss_list", "train_acc_list", "test_acc_list"):
        kind, a = _list_payload(getattr(trainer, name), name, who)
        lists[name] = kind
        arrays[f"trainer/{name}"] = a
    state = np.random.get_state()
    if state[0] != "MT19937":
        raise ValueError(f"{who}: expected numpy's legacy MT19937 global RNG; got {state[0]}")
    arrays["rng/key"] = state[1]
    tmeta = {"current_iter": int(trainer.current_iter),
             "current_epoch": int(trainer.current_epoch),
             "train_size": int(trainer.train_size), "batch_size": int(trainer.batch_size),
             "iter_per_epoch": float(trainer.iter_per_epoch),
             "epochs": _nets.json_number(trainer.epochs, "epochs"),
             "evaluate_sample_num_per_epoch": trainer.evaluate_sample_num_per_epoch,
             "data": {k: _data_desc(getattr(trainer, k))
                      for k in ("x_train", "t_train", "x_test", "t_test")},
             "lists": lists}
    meta = {"format": FORMAT, "version": VERSION, "kind": "trainer_checkpoint",
            "network": nmeta, "optimizer": ometa, "trainer": tmeta,
            "rng": {"pos": int(state[2]), "has_gauss": int(state[3]),
                    "cached_gaussian": float(state[4])}}
    _write_npz(path, meta, arrays)


def resume_trainer(trainer, path):
    """Restore a checkpoint written by :func:`save_trainer` into ``trainer`` (its network
    and optimizer in place), after checking that it fits: same network parameters (keys,
    shapes, dtypes), optimizer class and hyper-parameters, training-set size, batch size and
    data shapes. Restores numpy's global RNG state."""
    who = "Trainer.resume"
    reader = _Reader(path, who)
    meta = reader.meta
    if _get(meta, "kind", str, who, path) != "trainer_checkpoint":
        _fail(who, path, "expected a Trainer checkpoint; this file holds a "
                         f"{meta.get('kind')!r}")
    tmeta = _get(meta, "trainer", dict, who, path)
    for key in ("train_size", "batch_size"):
        saved = _get(tmeta, key, int, who, path)
        if saved != getattr(trainer, key):
            _fail(who, path, f"the checkpoint was written with {key}={saved}; this trainer has "
                             f"{key}={getattr(trainer, key)}")
    data = _get(tmeta, "data", dict, who, path)
    for key in ("x_train", "t_train", "x_test", "t_test"):
        saved = data.get(key)
        mine = json.loads(json.dumps(_data_desc(getattr(trainer, key))))
        if saved != mine:
            _fail(who, path, f"the checkpoint was written for {key} of shape/dtype {saved}; "
                             f"this trainer has {mine}")
    cur = _get(tmeta, "current_iter", int, who, path)
    epoch = _get(tmeta, "current_epoch", int, who, path)
    if cur < 0 or epoch < 0:
        _fail(who, path, f"negative counters current_iter={cur}, current_epoch={epoch}")
    lists = {}
    kinds = _get(tmeta, "lists", dict, who, path)
    for name in ("train_loss_list", "train_acc_list", "test_acc_list"):
        kind = _get(kinds, name, str, who, path)
        a = reader.array(f"trainer/{name}")
        if a.ndim != 1 or kind not in ("float", "numpy"):
            _fail(who, path, f"malformed {name}")
        lists[name] = a.tolist() if kind == "float" else list(a)
    rmeta = _get(meta, "rng", dict, who, path)
    reader.check_array("rng/key", (624,), np.uint32)
    rng = ("MT19937", reader.array("rng/key"), _get(rmeta, "pos", int, who, path),
           _get(rmeta, "has_gauss", int, who, path),
           _get(rmeta, "cached_gaussian", "number", who, path))
    if not 0 <= rng[2] <= 624:
        _fail(who, path, f"invalid RNG position {rng[2]}")
    # check the optimizer before writing anything into the network
    ometa = _get(meta, "optimizer", dict, who, path)
    oname = _get(ometa, "class", str, who, path)
    if oname != type(trainer.optimizer).__name__:
        _fail(who, path, f"the checkpoint holds {oname} state; this trainer's optimizer is "
                         f"{type(trainer.optimizer).__name__}")
    _optimizer_state(ometa, reader, "opt/", oname, who, path)
    _restore_network(trainer.network, _get(meta, "network", dict, who, path), reader, "net/",
                     who, path)
    _restore_optimizer(trainer.optimizer, ometa, reader, "opt/", who, path)
    trainer.current_iter = cur
    trainer.current_epoch = epoch
    for name, values in lists.items():
        setattr(trainer, name, values)
    np.random.set_state(rng)


class DeferredInterrupt:
    """While active (a context manager, main thread only), the first SIGINT only sets
    ``requested`` (and restores the previous handler, so a second Ctrl-C interrupts at
    once); the Trainer checks it between steps, saves a checkpoint and raises
    KeyboardInterrupt. Elsewhere (other threads, no SIGINT support) it does nothing."""

    def __init__(self, active=True):
        self.active = active
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def __enter__(self):
        if self.active and threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._handler)
            except (ValueError, OSError):
                self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            if signal.getsignal(signal.SIGINT) == self._handler:
                signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False
