"""dlcore's OpenMP runtime as other libraries see it.

threadpoolctl must find the OpenMP runtime dlcore runs on (GNU libgomp in a gcc source build;
LLVM's libomp in the manylinux2014 wheel, vendored by auditwheel as
dlcore.libs/libomp-<hash>.so), and its limits must reach
dlcore's kernels: `threadpool_limits(1, user_api="openmp")` makes dlcore.get_num_threads()
report 1 inside and the old count after, and results do not change (blocks depend on shapes
only). With PyTorch in the same process the same limit reaches torch's OpenMP too, whichever
is imported first: in a source build the two share one libgomp (torch's libgomp.so.1 and the
system's have the same soname, so the first one loaded serves both); with the wheel there are
two runtimes (the vendored copy is renamed) and threadpoolctl limits both.
"""
import importlib.util
import json
import os
import sys

import numpy as np
import pytest

import dlcore
from conftest import assert_same_bits, run_python

threadpoolctl = pytest.importorskip("threadpoolctl")

linux_only = pytest.mark.skipif(not os.path.exists("/proc/self/maps"),
                                reason="reads /proc/self/maps (Linux)")

# In a fresh interpreter that imports nothing but dlcore (and threadpoolctl): the OpenMP
# runtimes (libgomp, LLVM libomp, Intel libiomp) mapped into the process, and what threadpoolctl reports for OpenMP.
_VISIBLE = """
import json, os, threadpoolctl, dlcore
mapped = set()
with open('/proc/self/maps') as f:
    for line in f:
        parts = line.split()
        if len(parts) >= 6 and os.path.basename(parts[5]).startswith(('libgomp', 'libomp', 'libiomp')):
            mapped.add(os.path.realpath(parts[5]))
omp = [d for d in threadpoolctl.threadpool_info() if d['user_api'] == 'openmp']
print(json.dumps({'mapped': sorted(mapped),
                  'seen': sorted(os.path.realpath(d['filepath']) for d in omp),
                  'threads': [d['num_threads'] for d in omp],
                  'dlcore': dlcore.get_num_threads(),
                  'kernels': os.path.realpath(dlcore._kernels.__file__)}))
"""


@linux_only
def test_dlcore_openmp_runtime_is_visible_to_threadpoolctl():
    r = run_python(_VISIBLE, {"OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    # importing dlcore loads exactly one OpenMP runtime, and threadpoolctl sees that one
    assert len(res["mapped"]) == 1, res
    assert res["seen"] == res["mapped"], res
    assert res["threads"] == [2] and res["dlcore"] == 2, res
    gomp = res["mapped"][0]
    if "dlcore.libs" in gomp:  # an auditwheel-repaired wheel: the vendored copy, beside us
        site = os.path.dirname(os.path.dirname(res["kernels"]))
        assert os.path.dirname(gomp) == os.path.join(site, "dlcore.libs"), res


def _run_book_layers():
    """Affine + SoftmaxWithLoss forward and backward, large enough to fork (see common.h)."""
    from dlcore.layers import Affine, SoftmaxWithLoss

    rng = np.random.default_rng(7)
    x = rng.standard_normal((300, 200))
    W, b = rng.standard_normal((200, 100)), rng.standard_normal(100)
    t = rng.integers(0, 100, 300)
    a, last = Affine(W, b), SoftmaxWithLoss()
    loss = last.forward(a.forward(x), t)
    dx = a.backward(last.backward())
    return dx, a.dW, a.db, np.array(loss)


@pytest.mark.parametrize("user_api", ["openmp", None], ids=["openmp", "all-apis"])
def test_threadpool_limits_reach_dlcore(user_api):
    with dlcore.threads(2):
        want = _run_book_layers()
        with threadpoolctl.threadpool_limits(1, user_api=user_api):
            assert dlcore.get_num_threads() == 1
            omp = [d for d in threadpoolctl.threadpool_info() if d["user_api"] == "openmp"]
            assert omp and all(d["num_threads"] == 1 for d in omp)
            got = _run_book_layers()
        assert dlcore.get_num_threads() == 2  # restored on exit
        again = _run_book_layers()
    assert_same_bits([want, got, again])


def test_threadpool_limits_leave_dlcore_blas_on_one_thread():
    """Raising every pool (numpy's OpenBLAS too) must not raise the BLAS dlcore calls from
    inside its own OpenMP blocks: that is the oversubscription the packaging note measured."""
    import numpy  # noqa: F401  (numpy's own OpenBLAS is then loaded and visible)

    with threadpoolctl.threadpool_limits(2):
        _run_book_layers()
        ours = [d for d in threadpoolctl.threadpool_info()
                if d["user_api"] == "blas" and "scipy_openblas32" in d["filepath"]]
        assert ours and all(d["num_threads"] == 1 for d in ours)


# PyTorch in the same process, imported before or after dlcore (a fresh interpreter each).
_WITH_TORCH = """
import json, os, threadpoolctl
import {first}, {second}
import dlcore, torch
before = [dlcore.get_num_threads(), torch.get_num_threads()]
x = torch.ones(256, 256)
with threadpoolctl.threadpool_limits(1, user_api='openmp'):
    inside = [dlcore.get_num_threads(), torch.get_num_threads()]
    (x @ x).sum().item()
after = [dlcore.get_num_threads(), torch.get_num_threads()]
omp = [d for d in threadpoolctl.threadpool_info() if d['user_api'] == 'openmp']
print(json.dumps({{'before': before, 'inside': inside, 'after': after,
                  'runtimes': sorted(os.path.basename(d['filepath']) for d in omp)}}))
"""


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
@pytest.mark.parametrize("first,second", [("dlcore", "torch"), ("torch", "dlcore")])
def test_threadpool_limits_reach_dlcore_and_torch(first, second):
    r = run_python(_WITH_TORCH.format(first=first, second=second), {"OMP_NUM_THREADS": "2"},
                   timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["before"] == [2, 2], res
    assert res["inside"] == [1, 1], res
    assert res["after"] == [2, 2], res
    # one shared libgomp (source build) or dlcore's vendored copy plus torch's (wheel)
    assert 1 <= len(res["runtimes"]) <= 2, res
    print(f"{first} first: OpenMP runtimes {res['runtimes']}", file=sys.stderr)
