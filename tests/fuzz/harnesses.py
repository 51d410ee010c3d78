"""Coverage-guided fuzz harnesses (atheris / libFuzzer) for dlcore's readers and layers.

    python tests/fuzz/harnesses.py NAME [libFuzzer options] [corpus directories]

NAME is one of :data:`HARNESSES`. Each harness feeds the fuzzer's bytes to one entry point and
returns normally when it gives a result or raises one of the exceptions that entry point
documents (:data:`ALLOWED`); any other exception, a crash, a hang (``-timeout``) or a memory
blow-up (``-rss_limit_mb``) is a finding. dlcore and the pure-Python parsers it relies on
(zipfile, pickle, gzip, numpy's ``.npy`` header code) are instrumented for coverage
(``atheris.instrument_imports``); the C extension is not (that needs a sanitizer build of
libFuzzer's runtime), so crashes in C are found but C edges do not guide the search.

``tests/fuzz/run.py`` runs every harness for a bounded time on the seed corpus in
``tests/fuzz/corpus/NAME`` (made by ``tests/fuzz/make_corpus.py``).
"""
import inspect
import io
import os
import pickle
import sys
import tempfile
import warnings

try:
    import atheris
except ImportError:  # the regression tests call the harnesses without the fuzzer
    atheris = None

import numpy as np
import dlcore
from dlcore import _cli, _idx, _pickle, _sources
from dlcore import layers as L

# Instrumented for coverage when fuzzing: dlcore, and the pure-Python parsers it relies on.
# Function by function (atheris.instrument_func patches each code object in place):
# instrument_imports skips dlcore's editable install (a custom loader), and instrument_all
# (everything numpy loaded too) costs ~40 s per start.
_INSTRUMENT = ("dlcore", "zipfile", "pickle", "pickletools", "gzip", "numpy.lib._format_impl",
               "numpy.lib.format")


def _instrument():
    import sys
    seen = set()
    for name, mod in list(sys.modules.items()):
        if mod is None or not name.startswith(_INSTRUMENT):
            continue
        for obj in list(vars(mod).values()):
            funcs = [obj] if inspect.isfunction(obj) else (
                [v for v in vars(obj).values() if inspect.isfunction(v)]
                if inspect.isclass(obj) else [])
            for f in funcs:
                if f.__module__ == name and id(f) not in seen:
                    seen.add(id(f))
                    try:
                        atheris.instrument_func(f)
                    except Exception:  # a few builtins-backed helpers cannot be patched
                        pass


if atheris and __name__ == "__main__":
    import gzip, pickletools, zipfile  # noqa: E401,F401 (loaded, so that they are instrumented)
    _instrument()

warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow/invalid warnings
_TMP = tempfile.mkdtemp(prefix="dlcore-fuzz-")

# Small data set used by the MNIST-cache harness (the known shapes bound what may be read).
SMALL = {"train_img": (6, 4, 4), "train_label": (6,), "test_img": (3, 4, 4), "test_label": (3,)}
SPEC = _sources.DatasetSpec(
    name="small", title="small",
    files={k: _sources.FileSpec(f"{k}-idx.gz", "0" * 64, s) for k, s in SMALL.items()})


def _to_file(data, name):
    path = os.path.join(_TMP, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# -------------------------------------------------------------------------------- readers
def fuzz_load_params(data):
    """The restricted unpickler as load_params uses it: a bad file is UnpicklingError, a
    well-formed pickle of the wrong content TypeError."""
    path = _to_file(data, "params.pkl")
    try:
        _pickle.load_param_dict(path, "fuzz")
    except (pickle.UnpicklingError, TypeError):
        pass


def fuzz_dlcore_load(data):
    """dlcore.load: any file that is not a valid dlcore file is ValueError."""
    path = _to_file(data, "net.npz")
    try:
        dlcore.load(path)
    except ValueError:
        pass


def fuzz_idx(data):
    """The IDX reader, gzipped or not (first byte), with and without a known shape."""
    if not data:
        return
    gz, shape = data[0] & 1, ((6, 4, 4) if data[0] & 2 else None)
    try:
        _idx.read_idx(io.BytesIO(data[1:]), "fuzz.idx", shape, gz=bool(gz), max_bytes=1 << 20)
    except _idx.DataError:
        pass
    try:
        _idx.parse_idx(data[1:], "fuzz.idx")
    except _idx.DataError:
        pass


def fuzz_mnist_cache(data):
    """The MNIST-style npz cache: a corrupt cache is DataError naming it."""
    d = os.path.join(_TMP, "cache")
    os.makedirs(d, exist_ok=True)
    _to_file(data, os.path.join("cache", "small.npz"))
    try:
        _sources.NpzCache(d).fetch(SPEC)
    except _idx.DataError:
        pass


def fuzz_cli_data(data):
    """The CLI's --data reader: every bad file is one CliError."""
    path = _to_file(data, "data.npz")
    try:
        _cli._npz_data(path)
    except _cli.CliError:
        pass


# --------------------------------------------------------------------------------- layers
_DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int32, np.uint8, np.bool_,
           np.complex128, ">f8"]


def _array(fdp, shape):
    dtype = np.dtype(_DTYPES[fdp.ConsumeIntInRange(0, len(_DTYPES) - 1)])
    n = int(np.prod(shape)) if shape else 1
    vals = np.array([fdp.ConsumeFloatInRange(-4.0, 4.0) for _ in range(min(n, 64))] or [0.0])
    a = np.resize(vals, n).reshape(shape)
    if fdp.ConsumeIntInRange(0, 7) == 0:
        a.flat[0] = [np.nan, np.inf, -np.inf, 1e300][fdp.ConsumeIntInRange(0, 3)]
    with np.errstate(all="ignore"):
        a = a.astype(dtype)
    layout = fdp.ConsumeIntInRange(0, 4)
    if layout == 1:
        a = np.asfortranarray(a)
    elif layout == 2 and a.ndim:  # a strided view of a larger array
        big = np.repeat(a, 2, axis=-1)
        a = big[..., ::2]
    elif layout == 3:
        a = a.copy()
        a.flags.writeable = False
    elif layout == 4 and a.ndim:
        a = a[..., ::-1]
    return a


def _shape(fdp, lo=0, hi=4):
    return tuple(fdp.ConsumeIntInRange(0, 5) for _ in range(fdp.ConsumeIntInRange(lo, hi)))


def fuzz_layers(data):
    """Forward and backward of the book's layers with fuzzed shapes, strides, dtypes and
    values: ValueError, TypeError or IndexError for what they refuse, never a crash."""
    fdp = atheris.FuzzedDataProvider(data)
    which = fdp.ConsumeIntInRange(0, 7)
    try:
        if which == 0:
            x = _array(fdp, _shape(fdp, 1, 4))
            W, b = _array(fdp, _shape(fdp, 2, 2)), _array(fdp, _shape(fdp, 1, 1))
            layer = L.Affine(W, b)
            out = layer.forward(x)
            layer.backward(_array(fdp, np.shape(out)))
        elif which == 1:
            layer = [L.Relu, L.Sigmoid][fdp.ConsumeIntInRange(0, 1)]()
            x = _array(fdp, _shape(fdp))
            out = layer.forward(x)
            layer.backward(_array(fdp, np.shape(out)))
        elif which == 2:
            layer = L.SoftmaxWithLoss()
            x = _array(fdp, _shape(fdp, 1, 2))
            t = _array(fdp, _shape(fdp, 0, 2))
            layer.forward(x, t)
            layer.backward()
        elif which == 3:
            W = _array(fdp, _shape(fdp, 4, 4))
            b = _array(fdp, _shape(fdp, 1, 1))
            layer = L.Convolution(W, b, stride=fdp.ConsumeIntInRange(-1, 3),
                                  pad=fdp.ConsumeIntInRange(-1, 3))
            out = layer.forward(_array(fdp, _shape(fdp, 4, 4)))
            layer.backward(_array(fdp, np.shape(out)))
        elif which == 4:
            layer = L.Pooling(fdp.ConsumeIntInRange(-1, 4), fdp.ConsumeIntInRange(-1, 4),
                              stride=fdp.ConsumeIntInRange(-1, 3),
                              pad=fdp.ConsumeIntInRange(0, 1))
            out = layer.forward(_array(fdp, _shape(fdp, 4, 4)))
            layer.backward(_array(fdp, np.shape(out)))
        elif which == 5:
            D = fdp.ConsumeIntInRange(0, 5)
            layer = L.BatchNormalization(_array(fdp, (D,)), _array(fdp, (D,)))
            train = fdp.ConsumeBool()
            out = layer.forward(_array(fdp, _shape(fdp, 2, 4)), train_flg=train)
            if train:  # backward after a test-mode forward is a documented RuntimeError
                layer.backward(_array(fdp, np.shape(out)))
        elif which == 6:
            layer = L.Dropout(fdp.ConsumeFloatInRange(-0.5, 1.5))
            train = fdp.ConsumeBool()
            out = layer.forward(_array(fdp, _shape(fdp)), train_flg=train)
            if train:  # backward after a test-mode forward is a documented RuntimeError
                layer.backward(_array(fdp, np.shape(out)))
        else:
            from dlcore import util as U
            x = _array(fdp, _shape(fdp, 4, 4))
            fh, fw = fdp.ConsumeIntInRange(-1, 4), fdp.ConsumeIntInRange(-1, 4)
            s, p = fdp.ConsumeIntInRange(-1, 3), fdp.ConsumeIntInRange(-1, 2)
            col = U.im2col(x, fh, fw, s, p)
            U.col2im(col, x.shape, fh, fw, s, p)
    except (ValueError, TypeError, IndexError):
        pass


HARNESSES = {f.__name__[len("fuzz_"):]: f for f in (
    fuzz_load_params, fuzz_dlcore_load, fuzz_idx, fuzz_mnist_cache, fuzz_cli_data,
    fuzz_layers)}

# What each harness treats as documented (for the runner's report).
ALLOWED = {"load_params": "pickle.UnpicklingError, TypeError", "dlcore_load": "ValueError",
           "idx": "DataError", "mnist_cache": "DataError", "cli_data": "CliError",
           "layers": "ValueError, TypeError, IndexError"}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in HARNESSES:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(HARNESSES)}}} [libFuzzer options]")
    target = HARNESSES[sys.argv[1]]
    atheris.Setup([sys.argv[0]] + sys.argv[2:], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
