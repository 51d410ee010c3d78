"""Shared fixtures and helpers for dlcore's tests.

The oracle (tests/oracle/) is an independent numpy implementation written from the spec
(../shared/spec/book-api.md). Tolerances: float64 rtol 1e-12 (BLAS and OpenMP reorder sums;
spec Gotcha 16), float32 rtol 1e-5 (about 100 ulp at 2^-24: sums of a few hundred terms in
float32 plus numpy's pairwise vs our double accumulation), each with an atol scaled to the
operands because sums cancel.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import dlcore

RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


def assert_close(actual, desired, dtype=None, scale=1.0, rtol=None, atol=None):
    """assert_allclose with the dtype's default tolerance; atol = rtol * scale, where scale
    is the magnitude of the terms that were summed (cancellation leaves an absolute error)."""
    dtype = np.dtype(dtype or np.asarray(actual).dtype)
    r = RTOL.get(dtype, 1e-12) if rtol is None else rtol
    a = r * scale if atol is None else atol
    np.testing.assert_allclose(actual, desired, rtol=r, atol=a)


@pytest.fixture(params=[np.float64, np.float32], ids=["f64", "f32"])
def dtype(request):
    return np.dtype(request.param)


LAYOUTS = ["C", "F", "strided", "readonly"]


def make_layout(a, layout):
    """The same values as ``a`` in another memory layout (all are valid inputs)."""
    a = np.array(a)
    if layout == "C":
        return np.ascontiguousarray(a)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype) if a.ndim else a.copy()
        if a.ndim == 0:
            return big
        big[..., ::2] = a
        v = big[..., ::2]
        assert not v.flags.c_contiguous or a.shape[-1] <= 1
        return v
    if layout == "readonly":
        a = np.ascontiguousarray(a).copy()
        a.flags.writeable = False
        return a
    raise ValueError(layout)


@pytest.fixture(params=LAYOUTS)
def layout(request):
    return request.param


def run_threads(fn, counts=(1, 2)):
    """fn() under each thread count; returns the list of results. The fork threshold is
    lowered to 1 operation meanwhile, so that on 2 threads every loop of more than one block
    forks (the default, DL_OMP_MIN_WORK, keeps most test shapes serial)."""
    from dlcore import _kernels

    out = []
    old = _kernels.fork_min_work(1)
    try:
        for n in counts:
            with dlcore.threads(n):
                out.append(fn())
    finally:
        _kernels.fork_min_work(old)
    return out


def assert_same_bits(results):
    """Every result (an array or a tuple of arrays) is bitwise equal to the first."""
    first = results[0]
    for other in results[1:]:
        if isinstance(first, (tuple, list)):
            for a, b in zip(first, other):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        else:
            np.testing.assert_array_equal(np.asarray(first), np.asarray(other))


def outputs_on_every_kernel_path(probe):
    """{path: result} of the probe run in a fresh interpreter on every kernel path this CPU
    supports (DLCORE_CPU=path); the probe prints one JSON object whose "path" key is
    dlcore's selected path (checked, then dropped)."""
    import json

    runs = {}
    for path in dlcore.config()["kernel_paths_supported"]:
        r = run_python(probe, {"DLCORE_CPU": path})
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)  # json writes and reads NaN as a bare NaN
        assert res.pop("path") == path
        runs[path] = res
    assert "baseline" in runs
    return runs


def run_python(code, env=None, timeout=120):
    """Runs code in a fresh interpreter; returns CompletedProcess (for env-var tests)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=e, timeout=timeout)
