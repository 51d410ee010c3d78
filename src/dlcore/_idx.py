"""The IDX file format of MNIST-style data sets: parse, rebuild, hash (private).

An IDX stream is a 4-byte magic ``0x00 0x00 <type code> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then the elements in C order (big-endian for multi-byte types). MNIST and
Fashion-MNIST use type code 0x08 (unsigned byte): images (N, 28, 28), labels (N,).

Data sets are verified against the sha256 of the *uncompressed IDX byte stream, header
included*. Sources that do not store IDX (the zarr zip, the npz cache) rebuild that stream from
the decoded array with :func:`idx_header` and hash it with :func:`idx_sha256`, so every source
is checked against the same table of hashes.
"""
import gzip
import hashlib
import math
import os
import zlib

import numpy as np

# IDX type code -> element dtype (big-endian where it matters), and back.
IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPES.items()}


class DataError(ValueError):
    """A data file is corrupt, truncated, of the wrong layout, or fails its sha256 check."""


class DataUnavailableError(FileNotFoundError):
    """No source of the requested data set is available (the message says what to install)."""


def idx_header(shape, dtype=np.uint8):
    """The IDX header (magic and big-endian dimensions) of an array of this shape and dtype."""
    dt = np.dtype(dtype)
    code = _CODE_OF.get((dt.kind, dt.itemsize))
    if code is None:
        allowed = ", ".join(str(d) for d in IDX_TYPES.values())
        raise ValueError(f"IDX: expected an element type in ({allowed}); got {dt}")
    if not 1 <= len(shape) <= 255:
        raise ValueError(f"IDX: expected 1 to 255 dimensions; got shape {tuple(shape)}")
    for d in shape:
        if not 0 <= int(d) < 2**32:
            raise ValueError(f"IDX: every dimension must fit in uint32; got shape {tuple(shape)}")
    return bytes([0, 0, code, len(shape)]) + np.asarray(shape, dtype=">u4").tobytes()


def _idx_parts(arr):
    """(header, C-contiguous data in the IDX element type) of an array."""
    arr = np.asarray(arr)
    head = idx_header(arr.shape, arr.dtype)
    return head, np.ascontiguousarray(arr, dtype=IDX_TYPES[head[2]])


def idx_bytes(arr):
    """The complete IDX byte stream of ``arr`` (header and big-endian data)."""
    head, data = _idx_parts(arr)
    return head + data.tobytes()


def idx_sha256(arr):
    """sha256 hex digest of the IDX byte stream of ``arr``, without building the stream."""
    head, data = _idx_parts(arr)
    h = hashlib.sha256(head)
    h.update(data.reshape(-1).view(np.uint8))
    return h.hexdigest()


def _check_head(mv, name):
    """DataError naming ``name`` unless ``mv`` starts with an IDX magic and holds the whole
    header (magic and dimensions)."""
    if len(mv) < 4:
        raise DataError(f"{name}: not an IDX file: expected at least a 4-byte header; "
                        f"got {len(mv)} bytes")
    zero0, zero1, code, ndim = mv[0], mv[1], mv[2], mv[3]
    if zero0 != 0 or zero1 != 0 or code not in IDX_TYPES or ndim == 0:
        raise DataError(f"{name}: not an IDX file: expected magic 00 00 <type in "
                        f"{{{', '.join(f'{c:02x}' for c in IDX_TYPES)}}}> <ndim >= 1>; "
                        f"got {bytes(mv[:4]).hex(' ')}")
    head = 4 + 4 * ndim
    if len(mv) < head:
        raise DataError(f"{name}: truncated IDX header: expected {head} bytes for {ndim} "
                        f"dimensions; got {len(mv)} bytes")


def _check_dims(shape, name):
    """DataError unless numpy can hold an array of ``shape`` (a zero dimension makes the size
    0, but the other dimensions must still multiply to an addressable size)."""
    if math.prod(d for d in shape if d) >= 2**62:
        raise DataError(f"{name}: expected IDX dimensions whose product fits in 62 bits; got "
                        f"shape {shape}")


def _check_payload(got, expected, shape, name):
    if got < expected:
        raise DataError(f"{name}: truncated IDX data: expected {expected} bytes after the header "
                        f"for shape {shape}; got {got}")
    if got > expected:
        raise DataError(f"{name}: IDX size mismatch: expected {expected} bytes after the header "
                        f"for shape {shape}; got {got} ({got - expected} extra)")


def parse_idx(data, name="IDX data"):
    """Decode an IDX byte stream into a read-only array that views ``data``.

    Raises DataError naming ``name`` when the magic is wrong, the header is cut short, or the
    payload is shorter (truncated) or longer than the dimensions say.
    """
    mv = memoryview(data).cast("B")
    _check_head(mv, name)
    head = 4 + 4 * mv[3]
    shape = tuple(int(d) for d in np.frombuffer(mv[4:head], dtype=">u4"))
    _check_dims(shape, name)
    dt = IDX_TYPES[mv[2]]
    _check_payload(len(mv) - head, dt.itemsize * math.prod(shape), shape, name)
    return np.frombuffer(mv[head:], dtype=dt).reshape(shape)


# Bound on the data of an IDX file whose expected shape is not known (bytes after the header).
MAX_IDX_BYTES = 256 << 20


def read_idx(source, name, shape=None, gz=None, max_bytes=MAX_IDX_BYTES):
    """Read an IDX stream from ``source`` (a path, or a binary file object) into an array,
    gunzipping it when ``gz`` (default: the path ends in ``.gz``), without ever holding more
    than the data its header declares.

    The header is read first; a header declaring more data than ``shape`` (the data set's known
    shape, whose elements are bytes) or, when ``shape`` is None, than ``max_bytes`` raises
    DataError naming ``name`` before the data are read or decompressed. Decompression then
    stops one byte past the declared size (the extra byte shows a file that is too long).
    Corrupt gzip data, a bad magic, or a short or long payload raise DataError naming ``name``.
    """
    if gz is None:
        gz = isinstance(source, (str, os.PathLike)) and os.fspath(source).endswith(".gz")
    raw = open(source, "rb") if isinstance(source, (str, os.PathLike)) else source
    try:
        f = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        head = f.read(4)
        if len(head) == 4 and head[3]:
            head += f.read(4 * head[3])
        _check_head(head, name)
        dims = tuple(int(d) for d in np.frombuffer(head[4:], dtype=">u4"))
        _check_dims(dims, name)
        dt = IDX_TYPES[head[2]]
        nbytes = dt.itemsize * math.prod(dims)
        limit = max_bytes if shape is None else math.prod(shape)
        if nbytes > limit:
            expected = (f"the {limit} bytes of shape {tuple(shape)} of uint8" if shape is not None
                        else f"at most {limit} bytes")
            raise DataError(f"{name}: expected {expected}; got an IDX header declaring shape "
                            f"{dims} of {dt} ({nbytes} bytes) (refused before reading the data)")
        body = f.read(nbytes + 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{name}: corrupt or truncated gzip data ({e})") from e
    finally:
        if raw is not source:
            raw.close()
    if len(body) > nbytes:
        raise DataError(f"{name}: IDX size mismatch: expected {nbytes} bytes after the header "
                        f"for shape {dims}; got more (refused without reading the rest)")
    _check_payload(len(body), nbytes, dims, name)
    return np.frombuffer(body, dtype=dt, count=nbytes // dt.itemsize).reshape(dims)


def read_maybe_gz(path, max_bytes=MAX_IDX_BYTES):
    """The bytes of ``path``, gunzipped when it ends in ``.gz``, at most ``max_bytes`` of them
    (DataError beyond); DataError naming the file when the gzip stream is corrupt or cut
    short."""
    path = os.fspath(path)
    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
            data = f.read(max_bytes + 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupt or truncated gzip file ({e})") from e
    if len(data) > max_bytes:
        raise DataError(f"{path}: expected at most {max_bytes} bytes; got more (refused)")
    return data


def check_sha256(arr, expected, name):
    """DataError naming ``name`` unless the IDX stream of ``arr`` hashes to ``expected``."""
    got = idx_sha256(arr)
    if got != expected:
        raise DataError(f"{name}: sha256 mismatch of the uncompressed IDX data: expected "
                        f"{expected}; got {got}. The file is corrupt or not the expected "
                        f"data set; it was not used.")
