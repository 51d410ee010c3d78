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
import os
import pickle

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
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name} from {self._source}: a parameter file "
                "may contain only dicts, lists, tuples, numbers, strings and numpy arrays "
                "(this file names another global, which could run code when unpickled)")
        return obj

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(
            f"refusing to load {self._source}: it uses persistent ids, which a parameter "
            "file never needs")


def load(file_name):
    """Unpickle ``file_name`` (path relative to the current directory, or a binary file
    object) with :class:`RestrictedUnpickler`."""
    if hasattr(file_name, "read"):
        return RestrictedUnpickler(file_name, source=repr(file_name)).load()
    path = os.fspath(file_name)
    with open(path, "rb") as f:
        return RestrictedUnpickler(f, source=repr(path)).load()


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
    does."""
    if hasattr(file_name, "write"):
        pickle.dump(dict(params), file_name)
        return
    with open(os.fspath(file_name), "wb") as f:
        pickle.dump(dict(params), f)
