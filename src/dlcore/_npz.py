"""Checked reading of ``.npz`` files written by others (private): the MNIST-style caches and
the CLI's ``--data``.

:func:`read_npz` reads the ``.npy`` header of every member it is asked for, before reading any
data, and refuses (with the caller's exception class, naming the file) a member that is
missing, whose header does not parse, whose dtype is not a real numeric one, or whose declared
shape needs more bytes than the member holds (or than the caller's bound). Only then are the
arrays read, with ``allow_pickle=False``. So a corrupt or hostile file costs at most its own
size (stored members) or the bytes its shapes declare, which the caller bounds.
"""
import math
import os
import zipfile

import numpy as np

# deflate expands at most ~1032:1; a member that claims more is corrupt
_MAX_DEFLATE_RATIO = 1032


def read_npz(path, keys, exc, *, kinds="biuf", max_bytes=None, hint="", kind="npz"):
    """``{key: array}`` of the members ``keys`` of the ``.npz`` at ``path``.

    Parameters
    ----------
    path : path
    keys : sequence of str
        Members to read (``key.npy`` in the zip).
    exc : exception class
        Raised for every problem with the file (its message names the file).
    kinds : str
        Allowed ``dtype.kind`` letters (object dtypes are always refused).
    max_bytes : dict or int, optional
        Bound on each member's declared data size (a dict: per key; missing keys unbounded
        except by the file).
    hint : str
        Appended to messages (e.g. what to do about a corrupt cache).
    kind : str
        What the file is, for messages ("cache": "unreadable cache file").
    """
    path = os.fspath(path)
    tail = f"; {hint}" if hint else ""

    def fail(why):
        raise exc(f"{path}: {why}{tail}")

    try:
        zf = zipfile.ZipFile(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as e:  # BadZipFile, NotImplementedError (zip version), OSError, ...
        fail(f"unreadable {kind} file: expected an .npz (zip) file ({type(e).__name__}: {e})")
    with zf:
        size = os.path.getsize(path)
        stored = 0
        infos = {}
        for info in zf.infolist():
            stored += info.compress_size
            infos[info.filename] = info
        if stored > size:
            fail(f"expected zip members within the file's {size} bytes; got a directory that "
                 f"declares {stored}")
        missing = [k for k in keys if f"{k}.npy" not in infos]
        if missing:
            fail(f"{kind} lacks the arrays {missing} (expected {list(keys)})")
        for key in keys:
            info = infos[f"{key}.npy"]
            if info.compress_type == zipfile.ZIP_STORED:
                if info.file_size != info.compress_size:
                    fail(f"member {key!r}: expected a stored size equal to its size; got "
                         f"{info.compress_size} and {info.file_size}")
            elif info.file_size > _MAX_DEFLATE_RATIO * max(info.compress_size, 1):
                fail(f"member {key!r}: expected at most {_MAX_DEFLATE_RATIO} bytes per "
                     f"compressed byte; got {info.file_size} bytes declared from "
                     f"{info.compress_size}")
            try:
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                    elif version == (2, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                    else:
                        raise ValueError(f".npy format version {version} (expected 1.0 or "
                                         "2.0)")
            except Exception as e:  # ValueError, tokenize/SyntaxError, zlib, EOF: any bad header
                fail(f"member {key!r}: expected a valid .npy header; got {type(e).__name__}: "
                     f"{str(e)[:200]}")
            if dtype.hasobject or dtype.kind not in kinds or dtype.fields is not None:
                fail(f"member {key!r}: expected a real numeric dtype; got {dtype}")
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > info.file_size:
                fail(f"member {key!r}: expected at most the {info.file_size} bytes it holds; "
                     f"got a header that declares shape {shape} of {dtype} ({nbytes} bytes)")
            bound = max_bytes.get(key) if isinstance(max_bytes, dict) else max_bytes
            if bound is not None and nbytes > bound:
                fail(f"member {key!r}: expected at most {bound} bytes; got a header that "
                     f"declares shape {shape} of {dtype} ({nbytes} bytes)")
        out = {}
        for key in keys:
            try:
                with zf.open(f"{key}.npy") as f:
                    out[key] = np.lib.format.read_array(f, allow_pickle=False)
            except Exception as e:  # CRC errors, truncated data
                fail(f"member {key!r}: unreadable data ({type(e).__name__}: {str(e)[:200]})")
    return out
