"""Safe persistence (beyond the book): ``dlcore.save`` / ``dlcore.load`` for networks and
optimizers, and the format that the Trainer's checkpoints (:mod:`dlcore._checkpoint`) use.

Format: an uncompressed ``.npz`` (a zip of ``.npy`` arrays) that is read with
``allow_pickle=False``, plus one JSON document, stored as a 0-d unicode array under
``__dlcore__``, naming the class (looked up in a fixed table of dlcore classes: nothing named in
a file is ever imported or called), its constructor arguments, an optimizer's hyper-parameters
and counters, a trainer's counters and numpy's RNG state. Arrays are stored under numbered
names (``net/params/0``, ...); their dict keys are in the JSON. Loading checks, before reading
any data: every member is a ``.npy`` whose header declares a real numeric dtype and no more
bytes than the member holds; the JSON has the expected structure and types; and the parameter
shapes equal what the named class builds from the named arguments. So a hostile file can make
``load`` raise, but not run code or allocate more than the file's own size.

Writes are atomic (:func:`dlcore._atomic.atomic_write`): a temporary file in the target's
directory is written, flushed and fsynced, renamed over the target with ``os.replace``, and the
directory is fsynced. A process killed at any moment leaves either the previous file or the
complete new one (a stale hidden ``.<name>.*.tmp`` may remain beside it). A symbolic link is
followed (its target is replaced); a directory, device, FIFO or socket raises; a replaced file
keeps its mode (and owner, where permitted).
"""
import json
import math
import os
import zipfile

import numpy as np

from ._arrays import describe
from . import _nets
from ._atomic import atomic_write, fsync_dir as _fsync_dir  # noqa: F401 (re-exported)

FORMAT = "dlcore"
VERSION = 1
META = "__dlcore__"
_MAX_META = 1 << 20  # characters of JSON; real documents are a few kB


def _write_npz(path, meta, arrays):
    payload = {META: np.array(json.dumps(meta, allow_nan=True))}
    payload.update(arrays)
    atomic_write(path, lambda f: np.savez(f, **payload))


# ------------------------------------------------------------------------------ reading
class _Reader:
    """A checked ``.npz``: the JSON document and the members' (shape, dtype), read from the
    headers; ``array(name)`` reads one member (allow_pickle=False)."""

    def __init__(self, path, who):
        self.who = who
        self.path = os.fspath(path)
        self.headers = {}
        try:
            self._scan()
        except ValueError:
            raise
        except OSError as e:
            if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)):
                raise
            raise ValueError(f"{who}: {self.path!r} is corrupt ({type(e).__name__}: "
                             f"{e})") from None
        except Exception as e:  # zipfile, struct, json: any malformed input
            raise ValueError(f"{who}: {self.path!r} is corrupt ({type(e).__name__}: "
                             f"{e})") from None

    def _scan(self):
        who = self.who
        try:
            zf = zipfile.ZipFile(self.path)
        except zipfile.BadZipFile:
            raise ValueError(self._not_ours("it is not a zip (.npz) file")) from None
        with zf:
            stored = 0
            for info in zf.infolist():
                name = info.filename
                stored += info.compress_size
                if info.compress_type != zipfile.ZIP_STORED or info.file_size != \
                        info.compress_size:
                    raise ValueError(self._not_ours(f"member {name!r} is compressed; dlcore "
                                                    "writes uncompressed .npz files"))
                if not name.endswith(".npy") or info.is_dir():
                    raise ValueError(self._not_ours(f"it holds a member {name!r} that is not "
                                                    "a .npy array"))
                key = name[:-4]
                with zf.open(info) as f:
                    try:
                        version = np.lib.format.read_magic(f)
                        if version == (1, 0):
                            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                        else:
                            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                    except (ValueError, OSError, EOFError) as e:
                        raise ValueError(self._not_ours(f"member {name!r} has no valid .npy "
                                                        f"header ({e})")) from None
                allowed = "U" if key == META else "biuf"
                if dtype.kind not in allowed or dtype.hasobject:
                    raise ValueError(f"{who}: refusing {self.path!r}: member {key!r} has dtype "
                                     f"{dtype}; expected a real numeric array")
                nbytes = math.prod(shape) * dtype.itemsize
                if nbytes > info.file_size:
                    raise ValueError(f"{who}: {self.path!r} is corrupt: member {key!r} declares "
                                     f"shape {shape} ({nbytes} bytes) but stores "
                                     f"{info.file_size} bytes")
                self.headers[key] = (tuple(shape), dtype)
        if stored > os.path.getsize(self.path):
            raise ValueError(f"{who}: {self.path!r} is corrupt: its zip directory declares "
                             "more data than the file holds")
        if META not in self.headers:
            raise ValueError(self._not_ours("it has no __dlcore__ metadata"))
        shape, dtype = self.headers[META]
        if shape != () or dtype.itemsize // 4 > _MAX_META:
            raise ValueError(f"{who}: {self.path!r} is corrupt: the __dlcore__ metadata is not "
                             "a short string")
        try:
            meta = json.loads(str(self.array(META)))
        except (json.JSONDecodeError, RecursionError) as e:
            raise ValueError(f"{who}: {self.path!r} is corrupt: its metadata is not JSON "
                             f"({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(self._not_ours("its metadata does not name the dlcore format"))
        if meta.get("version") != VERSION:
            raise ValueError(f"{who}: {self.path!r} has format version "
                             f"{meta.get('version')!r}; this dlcore reads version {VERSION}")
        self.meta = meta

    def _not_ours(self, why):
        return (f"{self.who}: expected a file written by dlcore.save or a Trainer checkpoint; "
                f"{self.path!r} is not one ({why}). The book's pickled parameter files load "
                "with net.load_params(path), through a restricted unpickler.")

    def array(self, key):
        if key not in self.headers:
            raise ValueError(f"{self.who}: {self.path!r} is corrupt: the array {key!r} is "
                             "missing")
        try:
            with np.load(self.path, allow_pickle=False) as npz:
                return npz[key]
        except Exception as e:  # any malformed member
            raise ValueError(f"{self.who}: {self.path!r} is corrupt: cannot read {key!r} "
                             f"({e})") from None

    def check_array(self, key, shape, dtype=None):
        """ValueError unless the member ``key`` has this shape (and dtype, when given)."""
        if key not in self.headers:
            raise ValueError(f"{self.who}: {self.path!r} is corrupt: the array {key!r} is "
                             "missing")
        got_shape, got_dtype = self.headers[key]
        if got_shape != tuple(shape) or (dtype is not None and got_dtype != np.dtype(dtype)):
            want = f"shape {tuple(shape)}" + (f" and dtype {np.dtype(dtype)}" if dtype else "")
            raise ValueError(f"{self.who}: {self.path!r}: expected {key!r} of {want}; got shape "
                             f"{got_shape}, dtype {got_dtype}")


def _fail(who, path, msg):
    raise ValueError(f"{who}: {os.fspath(path)!r}: {msg}")


def _get(d, key, kind, who, path, where="metadata"):
    """d[key], checked to be of JSON kind (int, float, str, bool, list, dict, 'number', None
    allowed when kind is a tuple containing type(None))."""
    if not isinstance(d, dict) or key not in d:
        _fail(who, path, f"the {where} lacks {key!r}")
    v = d[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = False
    for k in kinds:
        if k == "number":
            ok = ok or (isinstance(v, (int, float)) and not isinstance(v, bool))
        elif k is int:
            ok = ok or (isinstance(v, int) and not isinstance(v, bool))
        else:
            ok = ok or isinstance(v, k)
    if not ok:
        _fail(who, path, f"expected {where} {key!r} of type "
                         f"{' or '.join(getattr(k, '__name__', str(k)) for k in kinds)}; "
                         f"got {v!r}")
    return v


# ------------------------------------------------------------------------------ networks
def _network_classes():
    from .two_layer_net import TwoLayerNet
    from .multi_layer_net import MultiLayerNet
    from .multi_layer_net_extend import MultiLayerNetExtend
    from .simple_convnet import SimpleConvNet
    from .deep_convnet import DeepConvNet
    return {c.__name__: c for c in (TwoLayerNet, MultiLayerNet, MultiLayerNetExtend,
                                     SimpleConvNet, DeepConvNet)}


def _network_args(net):
    """(class name, constructor arguments) that rebuild ``net``'s structure, as the network
    describes itself (``_constructor_args``), checked against its parameters' shapes."""
    classes = _network_classes()
    name = type(net).__name__
    if classes.get(name) is not type(net):
        raise TypeError(f"dlcore.save: expected one of dlcore's networks "
                        f"({', '.join(classes)}) or optimizers; got {type(net).__module__}."
                        f"{type(net).__qualname__}")
    p = net.params
    bad = [k for k, v in p.items() if not (isinstance(v, np.ndarray) and v.dtype == net.dtype)]
    if bad:
        raise ValueError(f"dlcore.save: expected every parameter of this {name} to be a "
                         f"{np.dtype(net.dtype)} array (the network's dtype); got "
                         f"{', '.join(f'{k}: {describe(p[k])}' for k in bad)}")
    args = net._constructor_args()
    args["dtype"] = np.dtype(net.dtype).name
    _, shapes = _param_shapes(name, json.loads(json.dumps(args)), "dlcore.save", "<network>")
    got = {k: tuple(np.shape(v)) for k, v in p.items()}
    if got != shapes:
        raise ValueError(f"dlcore.save: this {name} does not have the parameters its "
                         f"constructor arguments build (were params replaced?): expected "
                         f"{shapes}; got {got}")
    return name, args


def _int_arg(d, key, who, path, minimum=1):
    v = _get(d, key, int, who, path, "constructor argument")
    if not minimum <= v <= 2**40:
        _fail(who, path, f"expected constructor argument {key!r} in [{minimum}, 2**40]; "
                         f"got {v}")
    return v


def _real_arg(d, key, who, path, lo, hi, where="constructor argument"):
    """d[key]: a finite number in [lo, hi]."""
    v = _get(d, key, "number", who, path, where)
    if not (math.isfinite(v) and lo <= v <= hi):
        _fail(who, path, f"expected {where} {key!r} to be a finite number in [{lo:g}, {hi:g}]; "
                         f"got {v!r}")
    return v


def _conv_arg(d, key, who, path):
    cp = _get(d, key, dict, who, path, "constructor argument")
    if set(cp) != {"filter_num", "filter_size", "pad", "stride"}:
        _fail(who, path, f"expected {key} with keys filter_num, filter_size, pad, stride; "
                         f"got {sorted(cp)}")
    return {"filter_num": _int_arg(cp, "filter_num", who, path),
            "filter_size": _int_arg(cp, "filter_size", who, path),
            "pad": _int_arg(cp, "pad", who, path, 0),
            "stride": _int_arg(cp, "stride", who, path)}


_ARG_NAMES = {
    "TwoLayerNet": {"input_size", "hidden_size", "output_size"},
    "MultiLayerNet": {"input_size", "hidden_size_list", "output_size", "activation",
                      "weight_decay_lambda"},
    "MultiLayerNetExtend": {"input_size", "hidden_size_list", "output_size", "activation",
                            "weight_decay_lambda", "use_dropout", "dropout_ration",
                            "use_batchnorm"},
    "SimpleConvNet": {"input_dim", "conv_param", "hidden_size", "output_size"},
    "DeepConvNet": {"input_dim", "hidden_size", "output_size"} | {f"conv_param_{i}"
                                                                   for i in range(1, 7)},
}


def _param_shapes(name, args, who, path):
    """The constructor keyword arguments and the {key: shape} of the parameters that class
    ``name`` builds from the file's ``args`` (computed, nothing allocated; every argument
    type-checked)."""
    if name not in _ARG_NAMES:
        _fail(who, path, f"unknown network class {name!r} (dlcore.load builds only "
                         f"{', '.join(_ARG_NAMES)})")
    if not isinstance(args, dict) or set(args) != _ARG_NAMES[name] | {"dtype"}:
        _fail(who, path, f"expected the constructor arguments "
                         f"{sorted(_ARG_NAMES[name] | {'dtype'})} for {name}; got "
                         f"{sorted(args) if isinstance(args, dict) else args!r}")
    dtype = _get(args, "dtype", str, who, path, "constructor argument")
    if dtype not in ("float32", "float64"):
        _fail(who, path, f"expected dtype 'float32' or 'float64'; got {dtype!r}")
    kw = {"dtype": np.dtype(dtype)}
    if name == "TwoLayerNet":
        i, h, o = (_int_arg(args, k, who, path) for k in ("input_size", "hidden_size",
                                                            "output_size"))
        kw.update(input_size=i, hidden_size=h, output_size=o)
    elif name in ("MultiLayerNet", "MultiLayerNetExtend"):
        i = _int_arg(args, "input_size", who, path)
        o = _int_arg(args, "output_size", who, path)
        hs = _get(args, "hidden_size_list", list, who, path, "constructor argument")
        if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 2**40
                   for v in hs):
            _fail(who, path, f"expected hidden_size_list of positive ints; got {hs!r}")
        act = _get(args, "activation", str, who, path, "constructor argument")
        lam = _real_arg(args, "weight_decay_lambda", who, path, 0.0, math.inf)
        kw.update(input_size=i, hidden_size_list=list(hs), output_size=o, activation=act,
                  weight_decay_lambda=lam)
        if name == "MultiLayerNetExtend":
            kw.update(use_dropout=_get(args, "use_dropout", bool, who, path),
                      dropout_ration=_real_arg(args, "dropout_ration", who, path, 0.0, 1.0),
                      use_batchnorm=_get(args, "use_batchnorm", bool, who, path))
    elif name == "SimpleConvNet":
        dim = _get(args, "input_dim", list, who, path, "constructor argument")
        if len(dim) != 3 or not all(isinstance(v, int) and not isinstance(v, bool)
                                    and 1 <= v <= 2**40 for v in dim):
            _fail(who, path, f"expected input_dim of 3 positive ints; got {dim!r}")
        cp = _conv_arg(args, "conv_param", who, path)
        hid = _int_arg(args, "hidden_size", who, path)
        out = _int_arg(args, "output_size", who, path)
        kw.update(input_dim=tuple(dim), conv_param=cp, hidden_size=hid, output_size=out)
    else:  # DeepConvNet
        dim = _get(args, "input_dim", list, who, path, "constructor argument")
        if len(dim) != 3 or not all(isinstance(v, int) and not isinstance(v, bool)
                                    and 1 <= v <= 2**40 for v in dim):
            _fail(who, path, f"expected input_dim of 3 positive ints; got {dim!r}")
        kw["input_dim"] = tuple(dim)
        for i in range(1, 7):
            kw[f"conv_param_{i}"] = _conv_arg(args, f"conv_param_{i}", who, path)
        kw.update(hidden_size=_int_arg(args, "hidden_size", who, path),
                  output_size=_int_arg(args, "output_size", who, path))
    shapes = _network_classes()[name]._param_shapes(kw)
    return kw, shapes


def _bn_layers(net):
    """(name, layer) of the network's BatchNormalization layers (their running statistics
    are state outside ``params``)."""
    from ._norm import BatchNormalization
    layers = getattr(net, "layers", None)
    if isinstance(layers, dict):
        items = layers.items()
    elif isinstance(layers, (list, tuple)):
        items = ((str(i), layer) for i, layer in enumerate(layers))
    else:
        return []
    return [(str(k), layer) for k, layer in items if isinstance(layer, BatchNormalization)]


def _network_payload(net, prefix, who):
    """(meta, arrays) of a network's parameters and batch-norm running statistics."""
    params = getattr(net, "params", None)
    if not isinstance(params, dict):
        raise TypeError(f"{who}: expected a network with a params dict; got "
                        f"{type(net).__name__}")
    keys, arrays = [], {}
    for i, (key, val) in enumerate(params.items()):
        if not isinstance(key, str):
            raise TypeError(f"{who}: expected str parameter names; got {key!r}")
        if not (isinstance(val, np.ndarray) and val.dtype.kind in "biuf"):
            raise TypeError(f"{who}: expected params[{key!r}] to be a real numeric array; got "
                            f"{describe(val)}")
        keys.append(key)
        arrays[f"{prefix}params/{i}"] = val
    bn = {}
    for j, (name, layer) in enumerate(_bn_layers(net)):
        entry = {"momentum": _nets.json_number(layer.momentum, f"{name}.momentum"), "running": False}
        if layer.running_mean is not None and layer.running_var is not None:
            entry["running"] = True
            arrays[f"{prefix}bn/{j}/running_mean"] = np.asarray(layer.running_mean)
            arrays[f"{prefix}bn/{j}/running_var"] = np.asarray(layer.running_var)
        bn[name] = entry
    meta = {"class": type(net).__name__, "params": keys, "batchnorm": bn}
    return meta, arrays


def _restore_network(net, meta, reader, prefix, who, path):
    """Write the file's parameters into ``net.params`` in place (the layers keep aliasing
    them) and its batch-norm statistics into the BatchNormalization layers, after checking
    every key, shape and dtype against the network."""
    keys = _get(meta, "params", list, who, path)
    params = net.params
    if keys != list(params):
        _fail(who, path, f"the file holds the parameters {keys}; the network has "
                         f"{list(params)}")
    for i, key in enumerate(keys):
        dst = params[key]
        if not (isinstance(dst, np.ndarray) and dst.flags.writeable):
            _fail(who, path, f"the network's params[{key!r}] is not a writable array")
        reader.check_array(f"{prefix}params/{i}", dst.shape, dst.dtype)
    bn_meta = _get(meta, "batchnorm", dict, who, path)
    layers = dict(_bn_layers(net))
    if set(bn_meta) != set(layers):
        _fail(who, path, f"the file has batch-norm statistics for {sorted(bn_meta)}; the "
                         f"network's BatchNormalization layers are {sorted(layers)}")
    restored_bn = []
    for j, name in enumerate(bn_meta):
        entry = bn_meta[name]
        momentum = _real_arg(entry, "momentum", who, path, 0.0, 1.0, f"batch-norm {name}")
        running = _get(entry, "running", bool, who, path)
        rm = rv = None
        if running:
            # the statistics BatchNormalization keeps: one per feature of gamma, float32 or
            # float64 (float32 only when the inputs and gamma were float32)
            want = (np.size(layers[name].gamma),)
            for stat in ("running_mean", "running_var"):
                key = f"{prefix}bn/{j}/{stat}"
                reader.check_array(key, want)
                if reader.headers[key][1] not in (np.dtype(np.float32), np.dtype(np.float64)):
                    _fail(who, path, f"expected {stat} of batch-norm {name} as float32 or "
                                     f"float64; got {reader.headers[key][1]}")
            rm = reader.array(f"{prefix}bn/{j}/running_mean")
            rv = reader.array(f"{prefix}bn/{j}/running_var")
            if not (np.all(np.isfinite(rm)) and np.all(np.isfinite(rv)) and np.all(rv >= 0)):
                _fail(who, path, f"expected finite running statistics of batch-norm {name} "
                                 "(running_var >= 0); got NaN, inf or a negative variance")
        restored_bn.append((layers[name], momentum, rm, rv))
    # everything checked: now write
    for i, key in enumerate(keys):
        params[key][...] = reader.array(f"{prefix}params/{i}")
    for layer, momentum, rm, rv in restored_bn:
        layer.momentum = momentum
        layer.running_mean = rm
        layer.running_var = rv


# ------------------------------------------------------------------------------ optimizers
_OPT_HYPER = {"SGD": ("lr",), "Momentum": ("lr", "momentum"), "Nesterov": ("lr", "momentum"),
              "AdaGrad": ("lr",), "RMSprop": ("lr", "decay_rate"),
              "Adam": ("lr", "beta1", "beta2")}
_OPT_STATE = {"SGD": (), "Momentum": ("v",), "Nesterov": ("v",), "AdaGrad": ("h",),
              "RMSprop": ("h",), "Adam": ("m", "v")}


def _optimizer_classes():
    from . import optimizer as O
    return {name: getattr(O, name) for name in _OPT_HYPER}


def _is_optimizer(obj):
    cls = _optimizer_classes().get(type(obj).__name__)
    return cls is type(obj)


def _optimizer_payload(opt, prefix, who):
    name = type(opt).__name__
    meta = {"class": name,
            "hyper": {h: _nets.json_number(getattr(opt, h), h) for h in _OPT_HYPER[name]},
            "state": {}}
    if name == "Adam":
        meta["iter"] = int(opt.iter)
    arrays = {}
    for sname in _OPT_STATE[name]:
        state = getattr(opt, sname)
        if state is None:
            meta["state"][sname] = None
            continue
        if not isinstance(state, dict):
            raise TypeError(f"{who}: expected {name}.{sname} to be None or a dict; got "
                            f"{type(state).__name__}")
        entries = []
        for i, (key, val) in enumerate(state.items()):
            if not isinstance(key, str):
                raise TypeError(f"{who}: expected str parameter names; got {key!r}")
            a = np.asarray(val)
            if a.dtype.kind not in "biuf":
                raise TypeError(f"{who}: expected {name}.{sname}[{key!r}] to be real numeric; "
                                f"got {describe(val)}")
            kind = "array" if isinstance(val, np.ndarray) else (
                "float" if isinstance(val, float) and not isinstance(val, np.generic)
                else "scalar")
            entries.append([key, kind])
            arrays[f"{prefix}{sname}/{i}"] = a
        meta["state"][sname] = entries
    return meta, arrays


def _optimizer_state(meta, reader, prefix, name, who, path):
    """{state name: dict or None} read from the file (arrays checked real numeric)."""
    states = _get(meta, "state", dict, who, path)
    if set(states) != set(_OPT_STATE[name]):
        _fail(who, path, f"expected the state {list(_OPT_STATE[name])} for {name}; got "
                         f"{sorted(states)}")
    out = {}
    for sname in _OPT_STATE[name]:
        entries = states[sname]
        if entries is None:
            out[sname] = None
            continue
        if not isinstance(entries, list):
            _fail(who, path, f"expected a list of entries for {sname}; got {entries!r}")
        d = {}
        for i, entry in enumerate(entries):
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                    and entry[1] in ("array", "scalar", "float")):
                _fail(who, path, f"malformed {sname} entry {entry!r}")
            a = reader.array(f"{prefix}{sname}/{i}")
            if entry[1] == "array":
                d[entry[0]] = a
            elif a.shape != ():
                _fail(who, path, f"expected a scalar for {sname}[{entry[0]!r}]; got shape "
                                 f"{a.shape}")
            else:
                d[entry[0]] = float(a) if entry[1] == "float" else a[()]
        out[sname] = d
    return out


def _restore_optimizer(opt, meta, reader, prefix, who, path):
    name = _get(meta, "class", str, who, path)
    if name != type(opt).__name__:
        _fail(who, path, f"the file holds {name} state; the optimizer is "
                         f"{type(opt).__name__}")
    hyper = _get(meta, "hyper", dict, who, path)
    for h in _OPT_HYPER[name]:
        saved = _get(hyper, h, "number", who, path)
        if float(saved) != float(getattr(opt, h)):
            _fail(who, path, f"the file was written with {name}({h}={saved!r}); this optimizer "
                             f"has {h}={getattr(opt, h)!r}")
    state = _optimizer_state(meta, reader, prefix, name, who, path)
    if name == "Adam":
        it = _get(meta, "iter", int, who, path)
        if it < 0:
            _fail(who, path, f"expected Adam iter >= 0; got {it}")
        opt.iter = it
    for sname, d in state.items():
        setattr(opt, sname, d)


def _build_optimizer(meta, reader, prefix, who, path):
    name = _get(meta, "class", str, who, path)
    if name not in _OPT_HYPER:
        _fail(who, path, f"unknown optimizer class {name!r} (dlcore.load builds only "
                         f"{', '.join(_OPT_HYPER)})")
    hyper = _get(meta, "hyper", dict, who, path)
    if set(hyper) != set(_OPT_HYPER[name]):
        _fail(who, path, f"expected the hyper-parameters {list(_OPT_HYPER[name])} for {name}; "
                         f"got {sorted(hyper)}")
    kw = {h: _get(hyper, h, "number", who, path) for h in _OPT_HYPER[name]}
    opt = _optimizer_classes()[name](**kw)
    _restore_optimizer(opt, meta, reader, prefix, who, path)
    return opt


# ------------------------------------------------------------------------------ public API
def save(obj, path):
    """Save a dlcore network or optimizer to ``path`` in a format that cannot run code.

    The file is an ``.npz`` readable with ``np.load(path, allow_pickle=False)``; the book's
    ``params.pkl`` format stays available through ``net.save_params``.

    Parameters
    ----------
    obj : TwoLayerNet, MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, DeepConvNet, or an
        optimizer (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam)
        Networks are saved with their class, constructor arguments (read from the network's
        structure), parameters and batch-norm running statistics; optimizers with their
        hyper-parameters, ``iter`` (Adam) and state dicts.
    path : str or os.PathLike
        Written atomically (see the module notes); used as given (no suffix is added; ``.npz``
        is the natural one).

    Returns
    -------
    None

    Raises
    ------
    TypeError
        If ``obj`` is not one of the classes above.

    Examples
    --------
    >>> import numpy as np, os, tempfile, dlcore
    >>> from dlcore.two_layer_net import TwoLayerNet
    >>> net = TwoLayerNet(4, 5, 3)
    >>> path = os.path.join(tempfile.mkdtemp(), "net.npz")
    >>> dlcore.save(net, path)
    >>> net2 = dlcore.load(path)
    >>> all(np.array_equal(net.params[k], net2.params[k]) for k in net.params)
    True
    """
    who = "dlcore.save"
    if _is_optimizer(obj):
        ometa, arrays = _optimizer_payload(obj, "opt/", who)
        meta = {"format": FORMAT, "version": VERSION, "kind": "optimizer", "optimizer": ometa}
    else:
        name, args = _network_args(obj)
        nmeta, arrays = _network_payload(obj, "net/", who)
        nmeta["args"] = args
        meta = {"format": FORMAT, "version": VERSION, "kind": "network", "network": nmeta}
    _write_npz(path, meta, arrays)


def load(path):
    """Load a network or optimizer written by :func:`save` (or the network of a Trainer
    checkpoint).

    Only dlcore's own classes are built (from a fixed table; nothing named in the file is
    imported), with constructor arguments checked for type and against the stored array
    shapes before anything is allocated; arrays are read with ``allow_pickle=False``.
    Building a network does not disturb numpy's global RNG. A file of another kind raises
    ValueError (a pickle included: the book's pickles load with ``net.load_params``).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save` or a Trainer checkpoint.

    Returns
    -------
    network or optimizer
        A new object of the saved class.

    Raises
    ------
    ValueError
        If the file is not one that :func:`save` writes, or its content is inconsistent.

    Examples
    --------
    >>> import os, tempfile
    >>> from dlcore.optimizer import Adam
    >>> path = os.path.join(tempfile.mkdtemp(), "adam.npz")
    >>> dlcore.save(Adam(lr=0.01), path)
    >>> dlcore.load(path).lr
    0.01
    """
    who = "dlcore.load"
    reader = _Reader(path, who)
    meta = reader.meta
    kind = _get(meta, "kind", str, who, path)
    if kind == "optimizer":
        return _build_optimizer(_get(meta, "optimizer", dict, who, path), reader, "opt/", who,
                                path)
    if kind not in ("network", "trainer_checkpoint"):
        _fail(who, path, f"unknown kind {kind!r}")
    nmeta = _get(meta, "network", dict, who, path)
    name = _get(nmeta, "class", str, who, path)
    args = _get(nmeta, "args", (dict, type(None)), who, path)
    if args is None:
        _fail(who, path, f"the checkpoint's network is a {name}, which dlcore.load cannot "
                         "rebuild; resume it with Trainer(..., resume_from=path) instead")
    kw, shapes = _param_shapes(name, args, who, path)
    keys = _get(nmeta, "params", list, who, path)
    if keys != list(shapes):
        _fail(who, path, f"expected the parameters {list(shapes)} for {name}; got {keys}")
    for i, key in enumerate(keys):
        reader.check_array(f"net/params/{i}", shapes[key], kw["dtype"])
    rng = np.random.get_state()
    try:
        net = _network_classes()[name](**kw)
    finally:
        np.random.set_state(rng)
    _restore_network(net, nmeta, reader, "net/", who, path)
    return net
