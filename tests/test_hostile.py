"""Hostile files and environments (issue 15): every reader refuses, with its documented
exception naming the file, an input that would need more memory than a small multiple of its
own size (or of the data set's known size) or nesting deeper than a fixed bound, before
allocating it. Each dangerous case runs in a fresh interpreter, which also measures the peak
memory of the refusal (tracemalloc and the growth of ru_maxrss above the baseline taken just
before the call); the bound asserted is 64 MiB above that baseline.
"""
import json
import os
import pickle
import struct
import sys
import textwrap

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
    assert exc in outcome.split(":")[0].split(","), outcome
    import re
    assert re.search(match, outcome), outcome
    if path is not None:
        assert str(path) in outcome, f"the message does not name {path}: {outcome}"
    assert traced < PEAK_LIMIT, f"traced peak {traced / MiB:.1f} MiB while refusing: {outcome}"
    assert rss < PEAK_LIMIT, f"ru_maxrss grew {rss / MiB:.1f} MiB while refusing: {outcome}"


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
