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
import _codecs
import io
import math
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


class RefusedPickle(pickle.UnpicklingError):
    """A pickle names a global outside the allowed table (raised before it is imported or
    called), gives an allowed global arguments that are refused, nests deeper than
    :data:`MAX_DEPTH`, or would allocate more than its size allows."""


MAX_DEPTH = 100  # containers within containers; the book's pickles nest 4 deep
_NUMERIC_KINDS = "biufc"


def _budget_of(nbytes):
    """Bytes the objects of a pickle of ``nbytes`` may allocate beyond the pickle itself: every
    array or bytes object a valid pickle builds is a copy of bytes it contains."""
    return 4 * nbytes + (1 << 20)


class RestrictedUnpickler(pickle._Unpickler):
    """An Unpickler that builds only dicts, lists, tuples, numbers, strings, bytes and numpy
    arrays, dtypes and scalars. Any other global (``os.system``, ``builtins.eval``, a class)
    raises :class:`pickle.UnpicklingError` without being imported or called.

    The allowed globals are called through wrappers that check their arguments before
    anything is built: real numeric dtypes only (object, void and string dtypes are refused),
    array data whose length matches the declared shape, ``bytes``/``bytearray`` only from
    bytes or strings (never from a size), and a running total of the bytes all of them
    allocate, bounded by a small multiple of the pickle's length (``budget``). It is the
    pure-Python unpickler, so ``BUILD`` is checked too: it may only set the state of a fresh
    numpy array or dtype."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, *, source="the pickle", budget=None):
        super().__init__(file)
        self._source = source
        self._left = _budget_of(1 << 20) if budget is None else budget
        self._fresh = set()  # ids of arrays/dtypes built here whose state is not yet set
        self._keep = []      # keeps them alive, so that their ids stay theirs

        def ndarray(*args, **kwargs):
            self._refuse("numpy.ndarray may be named only as the subtype given to "
                         "_reconstruct; calling it would allocate any shape and dtype")
        self._ndarray = ndarray  # what the global numpy.ndarray resolves to

    # -- helpers ------------------------------------------------------------------------
    def _refuse(self, what):
        raise RefusedPickle(f"refusing to load {self._source}: {what}")

    def _spend(self, nbytes, what):
        if nbytes > self._left:
            self._refuse(f"{what} needs {nbytes} bytes; expected at most {max(self._left, 0)} "
                         "more for a file of this size")
        self._left -= nbytes

    def _dtype(self, dt, who):
        if not isinstance(dt, np.dtype):
            self._refuse(f"{who}: expected a numpy dtype; got {type(dt).__name__}")
        if dt.kind not in _NUMERIC_KINDS or dt.hasobject or dt.fields is not None \
                or dt.subdtype is not None:
            self._refuse(f"{who}: expected a real or complex numeric dtype; got {dt}")
        return dt

    def _shape(self, shape, who):
        if not (isinstance(shape, tuple) and len(shape) <= 64 and all(
                type(d) is int and 0 <= d < 2**62 for d in shape)):
            self._refuse(f"{who}: expected a shape (a tuple of at most 64 non-negative ints); "
                         f"got {_short(shape)}")
        return shape

    def _nbytes(self, shape, dt):
        return math.prod(shape) * dt.itemsize

    def _fresh_obj(self, obj):
        self._fresh.add(id(obj))
        self._keep.append(obj)
        return obj

    # -- the allowed globals, checked -------------------------------------------------------
    def _g_reconstruct(self, subtype, shape, dtype_code):
        who = "numpy _reconstruct"
        if subtype is not self._ndarray:
            self._refuse(f"{who}: expected the subtype numpy.ndarray; got {_short(subtype)}")
        self._shape(shape, who)
        if not isinstance(dtype_code, (bytes, str)) or len(dtype_code) > 8:
            self._refuse(f"{who}: expected a short dtype code; got {_short(dtype_code)}")
        dt = self._dtype(np.dtype(dtype_code if isinstance(dtype_code, str)
                                  else dtype_code.decode("latin1")), who)
        self._spend(self._nbytes(shape, dt), who)
        return self._fresh_obj(_multiarray._reconstruct(np.ndarray, shape, dt))

    def _g_dtype(self, spec, align=False, copy=True):
        who = "numpy.dtype"
        if not (isinstance(spec, str) and len(spec) <= 8):
            self._refuse(f"{who}: expected a short dtype name; got {_short(spec)}")
        try:
            dt = np.dtype(spec)
        except TypeError as e:
            self._refuse(f"{who}: {e}")
        self._dtype(dt, who)
        # always a copy: BUILD then sets the state of this object, never numpy's shared
        # built-in dtype (copy=False would return it)
        return self._fresh_obj(np.dtype(spec, bool(align), True))

    def _g_scalar(self, dtype, obj=None):
        who = "numpy scalar"
        dt = self._dtype(dtype, who)
        if isinstance(obj, str):
            obj = obj.encode("latin1")
        if not (isinstance(obj, (bytes, bytearray)) and len(obj) == dt.itemsize):
            self._refuse(f"{who}: expected {dt.itemsize} bytes of {dt}; got {_short(obj)}")
        return _multiarray.scalar(dt, obj)

    def _g_frombuffer(self, buf, dtype, shape, order):
        who = "numpy _frombuffer"
        dt = self._dtype(dtype, who)
        self._shape(shape, who)
        if not isinstance(buf, (bytes, bytearray)):
            self._refuse(f"{who}: expected in-band bytes; got {_short(buf)}")
        if len(buf) != self._nbytes(shape, dt) or order not in ("C", "F"):
            self._refuse(f"{who}: expected {self._nbytes(shape, dt)} bytes for shape {shape} "
                         f"of {dt} in order C or F; got {len(buf)} bytes, order {_short(order)}")
        return _numeric._frombuffer(buf, dt, shape, order)

    def _g_encode(self, obj, encoding="utf-8", errors="strict"):
        who = "_codecs.encode"
        if not (isinstance(obj, str) and encoding in ("latin1", "latin-1", "utf-8", "utf8")
                and errors == "strict"):
            self._refuse(f"{who}: expected a str and the latin1 or utf-8 encoding; got "
                         f"{_short(obj)}, {_short(encoding)}")
        self._spend(len(obj) * (1 if encoding.startswith("latin") else 4), who)
        return _codecs.encode(obj, encoding)

    def _bytes_arg(self, who, args):
        if len(args) == 0:
            return b""
        if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
            self._spend(len(args[0]), who)
            return args[0]
        if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
            self._spend(len(args[0]), who)
            return args[0].encode("latin1")
        self._refuse(f"{who}: expected bytes, or a str and the latin1 encoding; got "
                     f"({', '.join(_short(a) for a in args)})")

    def _g_bytes(self, *args):
        return bytes(self._bytes_arg("bytes", args))

    def _g_bytearray(self, *args):
        return bytearray(self._bytes_arg("bytearray", args))

    def _g_complex(self, real=0.0, imag=0.0):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in (real, imag)):
            self._refuse(f"complex: expected two real numbers; got {_short(real)}, "
                         f"{_short(imag)}")
        return complex(real, imag)

    def find_class(self, module, name):
        key = _ALLOWED_NAMES.get((module, name))
        if key is None:
            raise RefusedPickle(
                f"refusing to load {module}.{name} from {self._source}: a parameter file "
                "may contain only dicts, lists, tuples, numbers, strings and numpy arrays "
                "(this file names another global, which could run code when unpickled)")
        if key == "ndarray":
            return self._ndarray
        return getattr(self, "_g_" + key)

    def persistent_load(self, pid):
        raise RefusedPickle(
            f"refusing to load {self._source}: it uses persistent ids, which a parameter "
            "file never needs")

    # -- opcodes that run code or set state ---------------------------------------------------
    def load_build(self):
        state = self.stack[-1]
        inst = self.stack[-2]
        if id(inst) not in self._fresh:
            self._refuse(f"BUILD may only set the state of a new numpy array or dtype; got "
                         f"{_short(inst)}")
        self._fresh.discard(id(inst))
        if isinstance(inst, np.dtype):
            # (version, byte order, subarray, names, fields, elsize, alignment, flags)
            if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3
                    and state[1] in ("<", ">", "|", "=") and state[2:5] == (None,) * 3
                    and state[5:7] == (-1, -1) and type(state[7]) is int):
                self._refuse(f"expected the state of a numeric dtype; got {_short(state)}")
        else:
            if isinstance(state, tuple) and len(state) == 5:
                state = state[1:]
            if not (isinstance(state, tuple) and len(state) == 4):
                self._refuse(f"expected an array state (shape, dtype, order, data); got "
                             f"{_short(state)}")
            shape, dt, fortran, raw = state
            who = "numpy array state"
            self._shape(shape, who)
            self._dtype(dt, who)
            if not isinstance(raw, (bytes, bytearray, str)) or \
                    len(raw) != self._nbytes(shape, dt) or type(fortran) not in (bool, int):
                self._refuse(f"{who}: expected {self._nbytes(shape, dt)} bytes of data for "
                             f"shape {shape} of {dt}; got {_short(raw)}")
            self._spend(len(raw), who)
        super().load_build()
    dispatch[pickle.BUILD[0]] = load_build

    def _no_new(self):
        self._refuse("it creates objects with NEWOBJ, which a parameter file never needs")
    dispatch[pickle.NEWOBJ[0]] = _no_new
    dispatch[pickle.NEWOBJ_EX[0]] = _no_new


_ALLOWED_NAMES = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED_NAMES[(_mod, "_reconstruct")] = "reconstruct"
    _ALLOWED_NAMES[(_mod, "scalar")] = "scalar"
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    # protocol-5 pickles of contiguous arrays: frombuffer(buf, dtype).reshape(shape)
    _ALLOWED_NAMES[(_mod, "_frombuffer")] = "frombuffer"
_ALLOWED_NAMES[("numpy", "ndarray")] = "ndarray"
_ALLOWED_NAMES[("numpy", "dtype")] = "dtype"
# protocols 0-2 spell bytes and complex numbers through these
_ALLOWED_NAMES[("_codecs", "encode")] = "encode"
for _mod in ("builtins", "__builtin__"):  # protocols < 3 write Python 2's module name
    for _name in ("bytes", "bytearray", "complex"):
        _ALLOWED_NAMES[(_mod, _name)] = _name
del _mod, _name


def _short(obj, limit=80):
    """A bounded description of ``obj`` for messages (never a full repr of a deep object)."""
    if isinstance(obj, (bool, int, float, type(None))):
        text = repr(obj)
    elif isinstance(obj, (str, bytes, bytearray)):
        text = repr(obj[:limit]) + ("..." if len(obj) > limit else "")
    elif isinstance(obj, np.dtype):
        text = f"dtype {obj}"
    else:
        n = len(obj) if isinstance(obj, (tuple, list, dict)) else None
        text = type(obj).__name__ + ("" if n is None else f" of length {n}")
    return text[:limit + 20]


_MARK = pickletools.markobject


def _prescan(data, source):
    """Walk the opcodes of ``data`` (pure Python, no objects built) and refuse a stream whose
    length fields promise more bytes than it holds, whose frames overrun it, whose memo
    indices are out of all proportion, or whose containers nest deeper than
    :data:`MAX_DEPTH`: CPython allocates a declared length (or grows its memo to an index)
    *before* it reads, and hashes a tuple used as a dict key recursively in C.

    The nesting depth is followed on a model of the unpickler's stack (one depth per object,
    marks as None, the memo's depths by index); a tuple's depth is exact, since a tuple cannot
    change after it is built."""
    ops = 0
    stack, memo = [], {}
    try:
        for op, arg, pos in pickletools.genops(data):
            ops += 1
            name = op.name
            if name in ("PUT", "BINPUT", "LONG_BINPUT") and not 0 <= int(arg) <= ops:
                raise pickle.UnpicklingError(f"{source} is not a valid pickle (memo index "
                                             f"{arg} at byte {pos})")
            if name == "FRAME" and int(arg) > len(data) - pos:
                raise pickle.UnpicklingError(f"{source} is not a valid pickle (a frame of "
                                             f"{arg} bytes at byte {pos} overruns the data)")
            before, after = op.stack_before, op.stack_after
            consumed = []
            if _MARK in before:
                while stack and stack[-1] is not None:
                    consumed.append(stack.pop())
                if not stack:
                    raise pickle.UnpicklingError(f"{source} is not a valid pickle (no mark "
                                                 f"for {name} at byte {pos})")
                stack.pop()
                below = before.index(_MARK)
            else:
                below = len(before)
            target = None
            for _ in range(below):
                if not stack or stack[-1] is None:
                    raise pickle.UnpicklingError(f"{source} is not a valid pickle (stack "
                                                 f"underflow at {name}, byte {pos})")
                target = stack.pop()
                consumed.append(target)
            if name == "MARK":
                stack.append(None)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                if stack:
                    memo[int(arg)] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = consumed[0]
                stack.append(consumed[0])
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(int(arg), 0))
            elif name == "DUP":
                stack.extend(consumed * 2)
            elif after:
                if name in ("APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"):
                    others = consumed[:-1] if below else consumed
                    depth = max([target or 0] + [1 + d for d in others])
                elif before:
                    depth = 1 + max(consumed, default=0)
                else:
                    depth = 1 if name.startswith("EMPTY_") else 0
                if depth > MAX_DEPTH:
                    raise RefusedPickle(f"refusing to load {source}: it nests containers more "
                                        f"than {MAX_DEPTH} deep (at byte {pos})")
                stack.extend([depth] * len(after))
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
        return RestrictedUnpickler(io.BytesIO(data), source=source,
                                   budget=_budget_of(len(data))).load()
    except RefusedPickle:
        raise
    except RecursionError:
        raise pickle.UnpicklingError(f"{source} is not a valid pickle (nested too deeply)") \
            from None
    except Exception as e:  # truncated or corrupt data: EOFError, ValueError, KeyError, ...
        raise pickle.UnpicklingError(f"{source} is not a valid pickle (corrupt or truncated: "
                                     f"{type(e).__name__}: {str(e)[:200]})") from None


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
    from ._atomic import atomic_write  # a killed process leaves the previous file
    atomic_write(file_name, lambda f: pickle.dump(dict(params), f))
