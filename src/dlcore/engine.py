"""Fused training steps: a whole network's forward, backward and optimizer update in C.

A network whose layers are all dlcore's own (Affine, Relu, Sigmoid, Dropout,
BatchNormalization on 2-D input, Convolution, Pooling, ending in SoftmaxWithLoss) can be run
by a C engine that does a training step in one call per half, with the GIL released, no
Python per layer and no allocation per step: every workspace is allocated once, when the
engine is built for a batch size.

The book's contract is kept. The engine reads and writes the network's own ``params`` arrays
in place (they ARE the weights: the layers, the optimizer and the engine share them), the
optimizer's state arrays (``Momentum.v``, ``AdaGrad.h``, ``Adam.m``/``Adam.v``, created the
book's way on first use) and ``Adam.iter``, and BatchNormalization's running statistics, so
that switching between the fused and the per-layer paths at any step continues the same
training. Before each step it checks cheaply that those arrays are still the bound ones
(``load_params`` and the book's Momentum/BatchNormalization rebind arrays) and rebinds if not.

Results: the same bits as the per-layer path. The engine owns no arithmetic of a layer: each
op calls the C kernel that its layer class calls, with the same arguments, so losses,
gradients, updated parameters, optimizer states, running statistics and dropout masks are
bitwise equal to ``network.gradient`` + ``optimizer.update``, in float32 and float64, on any
thread count.

The plan is a cache: before each step the engine compares what it was built from (each
layer's hyper-parameters such as ``dropout_ratio`` or ``momentum``, the network's
``weight_decay_lambda``, every parameter's shape and identity) with the network as it is now,
and rebuilds or rebinds when they differ. One FusedTrainer may be used from several threads:
its calls are serialised by a lock.

Dropout: ``dropout="book"`` (default) draws each mask from numpy's global legacy RNG exactly
as the book's ``np.random.rand(*x.shape) > ratio`` does, in the book's order, so seeded runs
match the per-layer path; ``dropout="fast"`` uses a counter-based generator in C (a hash of
(seed, layer, step, element)), faster and independent of the thread count, but a different
random stream.

Differences from ``network.gradient``: the returned gradient dict is the engine's and is
overwritten by the next step (the book allocates new arrays each time), and the layers'
caches (``x``, ``mask``, ``dW``, ...) are not updated by fused steps.

>>> import numpy as np
>>> from collections import OrderedDict
>>> from dlcore.layers import Affine, Relu, SoftmaxWithLoss
>>> from dlcore.optimizer import SGD
>>> class Net:
...     def __init__(self):
...         rng = np.random.default_rng(0)
...         self.params = {"W1": 0.1 * rng.standard_normal((4, 5)), "b1": np.zeros(5),
...                        "W2": 0.1 * rng.standard_normal((5, 3)), "b2": np.zeros(3)}
...         self.layers = OrderedDict(Affine1=Affine(self.params["W1"], self.params["b1"]),
...                                   Relu1=Relu(),
...                                   Affine2=Affine(self.params["W2"], self.params["b2"]))
...         self.last_layer = SoftmaxWithLoss()
>>> net = Net()
>>> ft = FusedTrainer(net, SGD(lr=0.1))
>>> loss = ft.step(np.ones((2, 4)), np.array([0, 2]))
>>> sorted(ft.grads)
['W1', 'W2', 'b1', 'b2']
"""
import threading
import weakref

import numpy as np

from . import _kernels as _K
from ._arrays import F32, F64, as_c, check_numeric

__all__ = ["FusedTrainer", "NotFusable", "fused_step", "supports"]

# dl_eop_kind, dl_eslot, dl_eopt, dl_etype (csrc/include/dlcore/dlcore.h)
_AFFINE, _RELU, _SIGMOID, _DROPOUT, _BATCHNORM, _CONV, _POOL = range(1, 8)
_SLOT_P, _SLOT_G, _SLOT_S1, _SLOT_S2, _SLOT_RMEAN, _SLOT_RVAR = 0, 2, 4, 6, 8, 9
_OPT = {"SGD": 1, "Momentum": 2, "Nesterov": 3, "AdaGrad": 4, "RMSprop": 5, "Adam": 6}
_X_OK = (np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.uint8))
_T_OK = (np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.uint8))


class NotFusable(ValueError):
    """The network (or optimizer, or input) cannot run on the fused engine; the message says
    why. The per-layer path always works."""


def _layer_kind(layer):
    """(engine op kind, name) of a dlcore layer object, or raise NotFusable."""
    cls = type(layer)
    mod = getattr(cls, "__module__", "") or ""
    name = cls.__name__
    if not mod.startswith("dlcore."):
        raise NotFusable(f"layer {name} from {mod or '?'} is not a dlcore layer")
    kinds = {"Affine": _AFFINE, "Relu": _RELU, "Sigmoid": _SIGMOID, "Dropout": _DROPOUT,
             "BatchNormalization": _BATCHNORM, "Convolution": _CONV, "Pooling": _POOL}
    if name not in kinds:
        raise NotFusable(f"layer {name} has no fused op")
    return kinds[name]


def _layers(network):
    layers = getattr(network, "layers", None)
    if layers is None:
        raise NotFusable("network has no layers")
    return list(layers.values()) if hasattr(layers, "values") else list(layers)


def _last_layer(network):
    last = getattr(network, "last_layer", None)
    if last is None:
        last = getattr(network, "lastLayer", None)
    if last is None or type(last).__name__ != "SoftmaxWithLoss" or \
            not type(last).__module__.startswith("dlcore."):
        raise NotFusable("network does not end in dlcore's SoftmaxWithLoss")
    return last


def _param_attrs(kind):
    if kind in (_AFFINE, _CONV):
        return ("W", "b")
    if kind == _BATCHNORM:
        return ("gamma", "beta")
    return ()


def supports(network, optimizer=None):
    """(True, "") when FusedTrainer can run ``network`` (and ``optimizer``), else
    (False, reason).

    Parameters
    ----------
    network : object
        A network built of dlcore layers.
    optimizer : dlcore optimizer, optional

    Returns
    -------
    (bool, str)

    Examples
    --------
    >>> from dlcore.two_layer_net import TwoLayerNet
    >>> from dlcore.optimizer import Adam
    >>> supports(TwoLayerNet(4, 5, 3), Adam())
    (True, '')
    """
    try:
        _describe(network)
        if optimizer is not None:
            _optimizer_kind(optimizer)
    except NotFusable as exc:
        return False, str(exc)
    return True, ""


def _optimizer_kind(optimizer):
    cls = type(optimizer)
    if not cls.__module__.startswith("dlcore.") or cls.__name__ not in _OPT:
        raise NotFusable(f"optimizer {cls.__name__} has no fused update")
    return cls.__name__


def _describe(network):
    """The network as a list of (kind, layer, param keys) plus its dtype; raises NotFusable."""
    params = getattr(network, "params", None)
    if not isinstance(params, dict) or not params:
        raise NotFusable("network has no params dict")
    by_id = {id(v): k for k, v in params.items()}
    ops, keys_used, dtype = [], [], None
    for layer in _layers(network):
        kind = _layer_kind(layer)
        keys = []
        for attr in _param_attrs(kind):
            arr = getattr(layer, attr, None)
            key = by_id.get(id(arr))
            if key is None:
                raise NotFusable(f"{type(layer).__name__}.{attr} is not one of network.params")
            if not isinstance(arr, np.ndarray) or arr.dtype not in (F32, F64) or \
                    not arr.flags.c_contiguous or not arr.flags.writeable:
                raise NotFusable(f"params[{key!r}] must be a writable C-contiguous float32 or "
                                 "float64 array")
            if dtype is None:
                dtype = arr.dtype
            elif arr.dtype != dtype:
                raise NotFusable("params mix float32 and float64")
            keys.append(key)
        if kind == _POOL and getattr(layer, "pad", 0) != 0:
            raise NotFusable("Pooling with pad > 0")
        ops.append((kind, layer, keys))
        keys_used += keys
    if set(keys_used) != set(params) or len(keys_used) != len(params):
        raise NotFusable("network.params holds arrays that no layer uses (or shares one)")
    _last_layer(network)
    return ops, dtype


class FusedTrainer:
    """Runs ``network``'s training steps on the fused C engine.

    Parameters
    ----------
    network : a book network (TwoLayerNet, MultiLayerNet, MultiLayerNetExtend,
        SimpleConvNet, ...) or anything with ``params``, ``layers`` and ``last_layer`` /
        ``lastLayer`` made of dlcore layers.
    optimizer : a dlcore optimizer (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam), or None
        for gradients only.
    dropout : "book" (numpy's global RNG, the book's stream) or "fast" (counter-based, C).
    seed : int, the fast generator's seed (default 0; it never draws from numpy's RNG, so
        the book's stream is left untouched).

    Attributes: ``grads`` (dict key -> gradient array, overwritten by every step),
    ``last_loss``.

    Raises
    ------
    NotFusable
        If the network has a layer or the optimizer is of a kind the engine does not run
        (:func:`supports` says which).

    Examples
    --------
    >>> from dlcore.two_layer_net import TwoLayerNet
    >>> from dlcore.optimizer import Adam
    >>> np.random.seed(0)
    >>> net = TwoLayerNet(4, 5, 3)
    >>> ft = FusedTrainer(net, Adam(lr=0.01))
    >>> loss = ft.step(np.random.rand(6, 4), np.array([0, 1, 2, 0, 1, 2]))
    >>> sorted(ft.grads) == sorted(net.params)
    True
    """

    def __init__(self, network, optimizer=None, *, dropout="book", seed=0):
        if dropout not in ("book", "fast"):
            raise ValueError(f"FusedTrainer: expected dropout='book' or 'fast'; got {dropout!r}")
        self._network = network
        self._network_ref = None
        self.optimizer = optimizer
        self.dropout = dropout
        self.seed = int(seed)
        self._ops, self.dtype = _describe(network)
        self._opt_name = _optimizer_kind(optimizer) if optimizer is not None else None
        self.grads = {k: np.zeros_like(network.params[k])
                      for _, _, keys in self._ops for k in keys}
        self._engine = None
        self._in_shape = None
        self._cap = 0
        self._watch = ()
        self._sig = None
        self._shapes = ()
        self._last_rows = 0
        self._has_dropout = any(k == _DROPOUT for k, _, _ in self._ops)
        self._lock = threading.RLock()
        self.last_loss = None

    @property
    def network(self):
        """The network this trainer steps."""
        if self._network_ref is not None:
            net = self._network_ref()
            if net is None:
                raise ReferenceError("FusedTrainer: the network was garbage-collected")
            return net
        return self._network

    def _hold_weakly(self):
        """Refer to the network by a weak reference only (the per-network cache of
        fused_step must not keep networks alive)."""
        self._network_ref = weakref.ref(self._network)
        self._network = None

    def _signature(self):
        """What the plan was built from, read from the layers now: each layer's
        hyper-parameters (dropout ratio and style, batch-norm momentum, conv/pool geometry),
        each parameter's shape, the network's weight decay. A step whose signature differs
        from the plan's rebuilds the plan. The values are read as they are (no conversion):
        this runs before every step and costs about 1 us per layer."""
        sig = [getattr(self.network, "weight_decay_lambda", 0)]
        ap = sig.append
        for kind, layer, _ in self._ops:
            if kind == _DROPOUT:
                ap(layer.dropout_ratio)
                ap(getattr(layer, "inverted", False))
            elif kind == _BATCHNORM:
                ap(layer.momentum)
            elif kind == _AFFINE or kind == _CONV:
                ap(_shape(layer.W))
                ap(_shape(layer.b))
                if kind == _CONV:
                    ap(layer.stride)
                    ap(layer.pad)
            elif kind == _POOL:
                ap(layer.pool_h)
                ap(layer.pool_w)
                ap(layer.stride)
                ap(layer.pad)
        return sig

    # ------------------------------------------------------------------ building / binding
    def _build(self, in_shape, cap):
        try:
            self._build_engine(in_shape, cap)
        except ValueError as e:
            if isinstance(e, NotFusable):
                raise
            self._engine = None
            raise ValueError(f"FusedTrainer: expected inputs this network accepts; samples of "
                             f"shape {tuple(in_shape)} do not fit its layers ({e})") from None

    def _build_engine(self, in_shape, cap):
        if len(in_shape) == 1:
            C, H, W = in_shape[0], 1, 1
        elif len(in_shape) == 3:
            C, H, W = in_shape
        else:
            raise NotFusable(f"input of per-sample shape {in_shape}")
        sig = self._signature()
        wd = float(sig[0] or 0)
        if not np.isfinite(wd):
            raise ValueError(f"FusedTrainer: expected a finite weight_decay_lambda; got {wd}")
        eng = _K.Engine(self.dtype.itemsize, cap, C, H, W)
        shapes, shape = [], tuple(in_shape)  # per-sample: (D,) or (C, H, W)
        for kind, layer, _ in self._ops:
            if kind in (_CONV, _POOL) and len(shape) != 3:
                raise ValueError(f"{type(layer).__name__} needs (C, H, W) samples; gets "
                                 f"{shape}")
            if kind == _AFFINE:
                if layer.W.ndim != 2 or layer.b.shape != (layer.W.shape[1],) or \
                        layer.W.shape[0] != int(np.prod(shape)):
                    raise ValueError(f"Affine W {layer.W.shape} and b {layer.b.shape} do not "
                                     f"take inputs of {int(np.prod(shape))} features")
                eng.add(kind, (layer.W.shape[1],))
                shape = (layer.W.shape[1],)
            elif kind == _DROPOUT:
                ratio = float(layer.dropout_ratio)
                if not 0.0 <= ratio <= 1.0:
                    raise ValueError(f"Dropout: expected dropout_ratio in [0, 1]; got {ratio}")
                eng.add(kind, (), (ratio, float(bool(getattr(layer, "inverted", False)))))
            elif kind == _BATCHNORM:
                D = int(np.prod(shape))
                if layer.gamma.shape != (D,) or layer.beta.shape != (D,):
                    raise ValueError(f"BatchNormalization gamma {layer.gamma.shape} and beta "
                                     f"{layer.beta.shape} do not take {D} features")
                eng.add(kind, (), (float(layer.momentum), 10e-7))
            elif kind == _CONV:
                if layer.W.ndim != 4 or layer.W.shape[1] != shape[0] or \
                        layer.b.shape != (layer.W.shape[0],):
                    raise ValueError(f"Convolution W {layer.W.shape} and b {layer.b.shape} do "
                                     f"not take inputs of {shape[0]} channels")
                FN, _, fh, fw = layer.W.shape
                s_, p_ = int(layer.stride), int(layer.pad)
                eng.add(kind, (FN, fh, fw, s_, p_))
                shape = (FN, (shape[1] + 2 * p_ - fh) // s_ + 1, (shape[2] + 2 * p_ - fw) // s_ + 1)
            elif kind == _POOL:
                ph, pw, s_ = int(layer.pool_h), int(layer.pool_w), int(layer.stride)
                eng.add(kind, (ph, pw, s_))
                shape = (shape[0], (shape[1] - ph) // s_ + 1, (shape[2] - pw) // s_ + 1)
            else:
                eng.add(kind)
            shapes.append(shape)
        eng.finish()
        if self.dropout == "fast":
            eng.set_rng_counter(self.seed)
        else:
            eng.set_rng_numpy(np.random.mtrand._rand._bit_generator)
        eng.set_optimizer(_OPT.get(self._opt_name, 0), wd)
        self._engine = eng
        self._in_shape = in_shape
        self._cap = cap
        # arrays (a 0-d ratio, say) copied: the live one may later change in place
        self._sig = [v.copy() if isinstance(v, np.ndarray) else v for v in sig]
        self._shapes = tuple(shapes)
        self._last_rows = 0
        self._bind()

    def _opt_states(self):
        """The optimizer's state dicts, created as the book's update does on first use."""
        opt = self.optimizer
        out = []
        for attr in (type(opt)._states if opt is not None else ()):
            d = getattr(opt, attr, None)
            if d is None:
                d = {k: np.zeros_like(v) for k, v in self.network.params.items()}
                setattr(opt, attr, d)
            out.append(d)
        return out

    def _bind(self):
        """(Re)binds every array the engine uses and records what to watch."""
        eng, params, dt = self._engine, self.network.params, self.dtype
        states = self._opt_states() if self._opt_name is not None else []
        watch = []
        for i, (kind, layer, keys) in enumerate(self._ops):
            for s, (attr, key) in enumerate(zip(_param_attrs(kind), keys)):
                arr = params[key]
                if getattr(layer, attr) is not arr:
                    raise NotFusable(f"layer attribute {attr} is not params[{key!r}]")
                if not isinstance(arr, np.ndarray) or arr.dtype != dt or \
                        not arr.flags.c_contiguous or not arr.flags.writeable or \
                        not arr.flags.aligned:
                    raise NotFusable(f"params[{key!r}] must be a writable, aligned, "
                                     f"C-contiguous {dt} array")
                eng.bind(i, _SLOT_P + s, arr)
                eng.bind(i, _SLOT_G + s, self.grads[key])
                watch.append((params, key, arr))
                watch.append((layer.__dict__, attr, arr))
                for j, d in enumerate(states):
                    st = d.get(key)
                    if not isinstance(st, np.ndarray) or st.dtype != dt or st.shape != arr.shape \
                            or not st.flags.c_contiguous or not st.flags.writeable \
                            or not st.flags.aligned:
                        raise NotFusable(f"optimizer state for {key!r} is not a {dt} array "
                                         "shaped like the parameter")
                    eng.bind(i, (_SLOT_S1 if j == 0 else _SLOT_S2) + s, st)
                    watch.append((d, key, st))
            if kind == _BATCHNORM:
                for slot, attr in ((_SLOT_RMEAN, "running_mean"), (_SLOT_RVAR, "running_var")):
                    rs = getattr(layer, attr)
                    if rs is None:  # the book creates them lazily (zeros) on first forward
                        rs = np.zeros(layer.gamma.shape[0], dt)
                        setattr(layer, attr, rs)
                    if not isinstance(rs, np.ndarray) or rs.dtype != dt or \
                            not rs.flags.c_contiguous or not rs.flags.writeable or \
                            not rs.flags.aligned:
                        raise NotFusable(f"BatchNormalization.{attr} is not a writable {dt} array")
                    eng.bind(i, slot, rs)
                    watch.append((layer.__dict__, attr, rs))
        if self.optimizer is not None:
            for attr in type(self.optimizer)._states:
                watch.append((self.optimizer.__dict__, attr, getattr(self.optimizer, attr)))
        self._watch = tuple(watch)

    def _ready(self, x):
        """Builds the engine for x's sample shape and batch, rebuilds it when a layer's
        hyper-parameters or a parameter's shape changed, or rebinds stale arrays."""
        in_shape = x.shape[1:]
        if self._engine is None or in_shape != self._in_shape or x.shape[0] > self._cap or \
                self._signature() != self._sig:
            if self._engine is not None and in_shape == self._in_shape:
                cap = max(x.shape[0], self._cap)
            else:
                cap = x.shape[0]
            self._build(in_shape, cap)
            return
        self._rebind_if_stale()

    def _rebind_if_stale(self):
        for d, k, a in self._watch:
            if d.get(k) is not a:
                self._bind()
                return

    # ------------------------------------------------------------------ inputs
    def _x(self, x):
        check_numeric(x, "FusedTrainer x")  # (complex would lose its imaginary part)
        if not isinstance(x, np.ndarray) or x.dtype not in _X_OK or not x.flags.c_contiguous \
                or not x.flags.aligned:
            x = as_c(x, self.dtype)
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"FusedTrainer: expected a batch of inputs (N, ...); got shape "
                             f"{x.shape}")
        if x.ndim != 2 and x.ndim != 4:
            x = x.reshape(x.shape[0], -1)  # the book's Affine flattens (N, ...) to (N, -1)
        return x

    def _t(self, t, n):
        t = np.asarray(t)
        if t.dtype.kind in "iub" and t.ndim == 2 and t.shape[1] > 1 and t.shape[0] == n:
            # integer or bool one-hot rows: the per-layer loss takes them as numbers
            t = t.astype(self.dtype)
        if t.dtype.kind in "iu":
            if t.size == n and t.ndim <= 2:
                t = t.reshape(n)
            if t.dtype not in _T_OK or not t.flags.c_contiguous or not t.flags.aligned:
                t = as_c(t, np.int64)
            if t.shape != (n,):
                raise ValueError(f"FusedTrainer: expected labels of shape ({n},) or one-hot "
                                 f"targets; got shape {t.shape}")
            return t
        if t.dtype.kind == "f":
            classes = self._classes()
            if t.shape != (n, classes):
                raise ValueError(f"FusedTrainer: expected integer labels ({n},) or one-hot "
                                 f"targets ({n}, {classes}); got {t.dtype} targets of shape "
                                 f"{t.shape}")
            if t.dtype != self.dtype or not t.flags.c_contiguous or not t.flags.aligned:
                t = as_c(t, self.dtype)
            return t
        raise TypeError(f"FusedTrainer: expected integer labels or one-hot targets; got {t.dtype}")

    def _classes(self):
        """The number of classes: the output width of the last Affine layer."""
        for kind, layer, _ in reversed(self._ops):
            if kind == _AFFINE:
                return layer.W.shape[1]
        raise NotFusable("no Affine layer before the loss")

    # ------------------------------------------------------------------ the step
    def gradient(self, x, t):
        """Training forward + backward: fills and returns ``self.grads`` (W with the
        network's weight decay added, as the book's ``gradient``); ``self.last_loss`` is the
        training-mode loss of this forward pass."""
        x = self._x(x)
        t = self._t(t, x.shape[0])
        with self._lock:
            self._ready(x)
            eng = self._engine
            self._last_rows = 0
            if self._has_dropout and self.dropout == "book":
                with np.random.mtrand._rand._bit_generator.lock:
                    loss = eng.forward(x, t, 1)
            else:
                loss = eng.forward(x, t, 1)
            self._last_rows = x.shape[0]
            eng.backward()
            self.last_loss = self.dtype.type(loss)
        return self.grads

    def update(self, grads=None):
        """The optimizer's update of every parameter with ``self.grads`` in one pass (what
        ``optimizer.update(network.params, grads)`` does). ``grads`` other than
        ``self.grads`` are copied in first (e.g. after an all-reduce into other arrays)."""
        opt = self.optimizer
        if opt is None:
            raise ValueError("FusedTrainer.update: no optimizer was given")
        with self._lock:
            if grads is not None and grads is not self.grads:
                for k, g in self.grads.items():
                    np.copyto(g, grads[k])
            self._ready_update()
            self._engine.update(*opt._engine_args())

    def _ready_update(self):
        if self._engine is None:
            raise ValueError("FusedTrainer.update: call gradient first")
        if self._signature() != self._sig:
            raise ValueError("FusedTrainer.update: the network's layers or parameter shapes "
                             "changed since the last gradient; call gradient again")
        self._rebind_if_stale()

    def step(self, x, t):
        """One training step (gradient, then update); returns the training-mode loss."""
        opt = self.optimizer
        if opt is None:
            raise ValueError("FusedTrainer.step: no optimizer was given")
        with self._lock:
            self.gradient(x, t)
            # gradient checked the plan and the bindings under this lock, and nothing of
            # the caller's has run since: update's own checks would repeat them
            self._engine.update(*opt._engine_args())
            return self.last_loss

    def loss(self, x, t):
        """Test-mode loss (dropout scaled, batch norm with running statistics) plus weight
        decay, as the book networks' ``loss(x, t)`` with default flags; nothing is updated."""
        x = self._x(x)
        t = self._t(t, x.shape[0])
        with self._lock:
            if self._engine is None or x.shape[1:] != self._in_shape or x.shape[0] > self._cap:
                self._ready(x)
            else:
                self._ready(x[:1])
            return self.dtype.type(self._engine.forward(x, t, 0))

    def predict(self, x):
        """Test-mode scores (N, classes) of any number of rows, in chunks of the engine's
        batch capacity (dropout scaled, batch norm with running statistics). With several
        dlcore threads the chunks are split between them, each thread on its own copy of the
        activations (made on first use): the same bits as on one thread."""
        x = self._x(x)
        with self._lock:
            if self._engine is None or x.shape[1:] != self._in_shape:
                self._ready(x[:min(x.shape[0], 100)])
            else:
                self._ready(x[:1])
            out = np.empty((x.shape[0], self._engine.classes), self.dtype)
            self._engine.predict(x, out)
            return out

    @property
    def predicts_like_layers(self):
        """True when :meth:`predict` gives the bits of the network's own test-mode
        ``predict``: the products run on dlcore's own kernels (AVX2/AVX-512), which give each
        row the same bits whatever rows a call gets. With the BLAS (``DLCORE_GEMM=blas``, the
        baseline kernel path) predict's chunks are cut into other row blocks than the whole
        batch, and the last bits may differ."""
        return bool(_K.gemm_own()) and _K.isa_selected() != "baseline"

    def accuracy(self, x, t):
        """The network's ``accuracy(x, t)`` (numpy float64; t: labels or one-hot rows): the
        fraction of argmax hits of :meth:`predict` where :attr:`predicts_like_layers`, else the
        network's own ``accuracy`` (the engine's predict may differ in the last bits there)."""
        if not self.predicts_like_layers:
            return self.network.accuracy(x, t)
        from . import _nets
        t = _nets.accuracy_targets(x, t, "FusedTrainer.accuracy")
        y = np.argmax(self.predict(x), axis=1)
        return np.sum(y == t) / float(np.shape(x)[0])

    def dropout_masks(self):
        """Boolean masks of the dropout layers from the last training forward (copies), each
        shaped like that layer's input, ``(N, ...)``, as the book's ``Dropout.mask``."""
        with self._lock:
            n = self._last_rows
            if self._engine is None or n == 0:
                raise ValueError("FusedTrainer.dropout_masks: expected a training step "
                                 "(gradient or step) first; none has run on this plan")
            out = []
            for i, (kind, _, _) in enumerate(self._ops):
                if kind == _DROPOUT:
                    shape = self._shapes[i]
                    m = np.frombuffer(self._engine.mask(i, n), np.uint8)
                    out.append(m.reshape((n,) + shape).astype(bool))
            return out


def _shape(a):
    """a.shape, or np.shape(a) for what is not an array."""
    try:
        return a.shape
    except AttributeError:
        return np.shape(a)


_cache = weakref.WeakKeyDictionary()


def fused_step(network, optimizer, x, t, **kwargs):
    """One fused training step of ``network`` with ``optimizer`` (the FusedTrainer is built
    on first use and cached per network, without keeping the network alive); returns the
    loss.

    Parameters
    ----------
    network : object
        A network :class:`FusedTrainer` supports.
    optimizer : dlcore optimizer
    x : ndarray
        The batch's inputs.
    t : ndarray
        The batch's labels or one-hot targets.
    **kwargs
        Passed to :class:`FusedTrainer` when it is built.

    Returns
    -------
    float
        The batch's loss before the update.

    Examples
    --------
    >>> from dlcore.two_layer_net import TwoLayerNet
    >>> from dlcore.optimizer import SGD
    >>> np.random.seed(0)
    >>> net, opt = TwoLayerNet(4, 5, 3), SGD(lr=0.1)
    >>> x, t = np.random.rand(8, 4), np.arange(8) % 3
    >>> first = fused_step(net, opt, x, t)
    >>> for _ in range(20):
    ...     last = fused_step(net, opt, x, t)
    >>> bool(last < first)
    True
    """
    ft = _cache.get(network)
    if ft is None or ft.optimizer is not optimizer:
        ft = FusedTrainer(network, optimizer, **kwargs)
        ft._hold_weakly()
        _cache[network] = ft
    return ft.step(x, t)
