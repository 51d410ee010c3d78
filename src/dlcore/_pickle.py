"""Reading and writing the book's parameter pickles (private).

The book's networks save their parameters as a plain pickled ``dict`` of numpy arrays
(spec section 14, Gotcha 15). Unpickling can run arbitrary code, so dlcore loads these files
through :class:`RestrictedUnpickler`: it resolves only the globals that a pickle of dicts,
lists, tuples, numbers, strings and numpy arrays/dtypes/scalars refers to, and refuses every
other global *before* anything is called (``find_class`` runs when the pickle names the
global, before the ``REDUCE`` that would call it).

What ``save_params`` writes is an ordinary pickle (default protocol), so plain
``pickle.load`` reads it.
"""
import io
import os
import pickle
import pickletools

import numpy as np

try:  # numpy >= 2 moved the implementation modules to numpy._core
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric


def _allowed_globals():
    """(module, name) -> object for everything a pickle of arrays and plain data may name.

    Both spellings of numpy's core modules are listed (files written by numpy 1.x name
    ``numpy.core``, numpy 2.x writes ``numpy._core``); they are resolved here without
    importing the deprecated ``numpy.core`` shim."""
    table = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(mod, "_reconstruct")] = _multiarray._reconstruct
        table[(mod, "scalar")] = _multiarray.scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        # protocol-5 pickles of contiguous arrays: frombuffer(buf, dtype).reshape(shape)
        if hasattr(_numeric, "_frombuffer"):
            table[(mod, "_frombuffer")] = _numeric._frombuffer
    table[("numpy", "ndarray")] = np.ndarray
    table[("numpy", "dtype")] = np.dtype
    # protocols 0-2 spell bytes and complex numbers through these
    table[("_codecs", "encode")] = __import__("_codecs").encode
    for mod in ("builtins", "__builtin__"):  # protocols < 3 write Python 2's module name
        table[(mod, "bytes")] = bytes
        table[(mod, "bytearray")] = bytearray
        table[(mod, "complex")] = complex
    return table


_ALLOWED = _allowed_globals()


class RefusedPickle(pickle.UnpicklingError):
    """A pickle names a global outside the allowed table (raised before it is imported or
    called)."""


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that builds only dicts, lists, tuples, numbers, strings, bytes and numpy
    arrays, dtypes and scalars. Any other global (``os.system``, ``builtins.eval``, a class)
    raises :class:`pickle.UnpicklingError` without being imported or called."""

    def __init__(self, file, *, source="the pickle"):
        super().__init__(file)
        self._source = source

    def find_class(self, module, name):
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise RefusedPickle(
                f"refusing to load {module}.{name} from {self._source}: a parameter file "
                "may contain only dicts, lists, tuples, numbers, strings and numpy arrays "
                "(this file names another global, which could run code when unpickled)")
        return obj

    def persistent_load(self, pid):
        raise RefusedPickle(
            f"refusing to load {self._source}: it uses persistent ids, which a parameter "
            "file never needs")


def _prescan(data, source):
    """Walk the opcodes of ``data`` (pure Python, no objects built) and refuse a stream whose
    length fields promise more bytes than it holds, whose frames overrun it, or whose memo
    indices are out of all proportion: CPython's unpickler allocates a declared length (or
    grows its memo to an index) *before* it reads, so a few corrupt bytes could otherwise
    request exabytes."""
    ops = 0
    try:
        for op, arg, pos in pickletools.genops(data):
            ops += 1
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and not 0 <= int(arg) <= ops:
                raise pickle.UnpicklingError(f"{source} is not a valid pickle (memo index "
                                             f"{arg} at byte {pos})")
            if op.name == "FRAME" and int(arg) > len(data) - pos:
                raise pickle.UnpicklingError(f"{source} is not a valid pickle (a frame of "
                                             f"{arg} bytes at byte {pos} overruns the data)")
    except pickle.UnpicklingError:
        raise
    except Exception as e:  # pickletools: truncated data, bad opcodes, bad lengths
        raise pickle.UnpicklingError(f"{source} is not a valid pickle (corrupt or truncated: "
                                     f"{type(e).__name__}: {e})") from None


def _restricted_load(f, source):
    data = f.read()  # bounded by the file: every length is then checked against it
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"expected a binary file; {source} gave {type(data).__name__}")
    _prescan(data, source)
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=source).load()
    except RefusedPickle:
        raise
    except Exception as e:  # truncated or corrupt data: EOFError, ValueError, KeyError, ...
        raise pickle.UnpicklingError(f"{source} is not a valid pickle (corrupt or truncated: "
                                     f"{type(e).__name__}: {e})") from e


def load(file_name):
    """Unpickle ``file_name`` (path relative to the current directory, or a binary file
    object) with :class:`RestrictedUnpickler`. A refused global, or a corrupt or truncated
    file, raises :class:`pickle.UnpicklingError`."""
    if hasattr(file_name, "read"):
        return _restricted_load(file_name, repr(file_name))
    path = os.fspath(file_name)
    with open(path, "rb") as f:
        return _restricted_load(f, repr(path))


def load_param_dict(file_name, who):
    """The parameter dict stored in ``file_name``: a ``dict`` mapping str to real numeric
    arrays (anything else raises TypeError naming the file)."""
    params = load(file_name)
    if not isinstance(params, dict):
        raise TypeError(f"{who}: expected a pickled dict of arrays in {file_name!r}; "
                        f"got {type(params).__name__}")
    for key, val in params.items():
        if not isinstance(key, str):
            raise TypeError(f"{who}: expected str keys in {file_name!r}; got {key!r}")
        if not (isinstance(val, np.ndarray) and val.dtype.kind in "biuf"):
            what = f"{val.dtype} array" if isinstance(val, np.ndarray) else type(val).__name__
            raise TypeError(f"{who}: expected a real numeric array for {key!r} in "
                            f"{file_name!r}; got {what}")
    return params


def save_param_dict(params, file_name):
    """Pickle ``{key: array}`` (the same array objects) to ``file_name`` (a path relative to
    the current directory, or a binary file object) with the default protocol, as the book
    does; a path is written atomically (temporary file, fsync, rename)."""
    if hasattr(file_name, "write"):
        pickle.dump(dict(params), file_name)
        return
    from ._persist import atomic_write  # a killed process leaves the previous file
    atomic_write(file_name, lambda f: pickle.dump(dict(params), f))
