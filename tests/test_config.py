"""Thread control, show_config, and the DLCORE_CPU kernel-path switch."""
import json

import numpy as np
import pytest

import dlcore
from conftest import run_python


def test_show_config_reports_everything(capsys):
    dlcore.show_config()
    out = capsys.readouterr().out
    c = dlcore.config()
    assert c["openmp"] is True and "OpenMP:       on" in out
    assert f"{c['threads']} thread(s)" in out
    assert c["blas_backend"] == "scipy-openblas32" and "scipy-openblas32 (core: " in out
    assert c["blas_core"] not in ("", "n/a", "unknown")
    assert c["kernel_path"] in c["kernel_paths_supported"] and c["kernel_path"] in out
    assert dlcore.__version__ == c["version"]
    if c["l2_bytes"]:
        assert f"L2 cache:     {c['l2_bytes'] // 1024} KB" in out
    assert f"(GEMM panel block {c['gemm_panel_bytes'] // 1024} KB)" in out


def test_threads_context_and_validation():
    n0 = dlcore.get_num_threads()
    with dlcore.threads(1):
        assert dlcore.get_num_threads() == 1
    assert dlcore.get_num_threads() == n0
    with pytest.raises(ValueError, match="expected a positive int; got 0"):
        dlcore.set_num_threads(0)
    with pytest.raises(TypeError, match="expected a positive int; got float"):
        dlcore.set_num_threads(1.5)


def test_omp_num_threads_is_honoured():
    r = run_python("import dlcore; print(dlcore.get_num_threads())", {"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


_PROBE = """
import json, numpy as np, dlcore
from dlcore.layers import Affine, Relu, Sigmoid, SoftmaxWithLoss
from dlcore.functions import softmax
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 300)); W = rng.standard_normal((300, 40)); b = rng.standard_normal(40)
t = rng.integers(0, 40, 64)
a = Affine(W, b); h = a.forward(x); s = Sigmoid().forward(h); r = Relu().forward(h)
l = SoftmaxWithLoss(); loss = l.forward(h, t); dx = a.backward(l.backward())
out = {"path": dlcore.config()["kernel_path"], "vals": [float(v) for v in
       np.concatenate([s.ravel()[:50], r.ravel()[:50], softmax(h).ravel()[:50], [loss],
                       dx.ravel()[:50], a.dW.ravel()[:50]])]}
print(json.dumps(out))
"""


def test_every_kernel_path_reports_and_agrees():
    supported = dlcore.config()["kernel_paths_supported"]
    assert supported[0] == "baseline"
    runs = {}
    for path in supported:
        r = run_python(_PROBE, {"DLCORE_CPU": path})
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)
        assert res["path"] == path  # the reported path follows the request
        runs[path] = np.array(res["vals"])
    for path, vals in runs.items():  # same results on every path (f64)
        np.testing.assert_allclose(vals, runs["baseline"], rtol=1e-12, atol=1e-14)


def test_bad_dlcore_cpu_is_a_clear_error():
    r = run_python("import dlcore", {"DLCORE_CPU": "sse9"})
    assert r.returncode != 0
    assert "DLCORE_CPU: expected one of 'baseline', 'avx2', 'avx512'; got 'sse9'" in r.stderr


def test_blas_stays_on_one_thread_under_threadpoolctl():
    """threadpoolctl raising every BLAS to 2 threads must not make dlcore's BLAS (called
    inside its OpenMP blocks) oversubscribe: dlcore puts it back on one thread."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from dlcore.layers import Affine

    def ours():
        return [d for d in threadpoolctl.threadpool_info()
                if "scipy_openblas32" in d.get("filepath", "")]

    assert ours(), "scipy-openblas32's OpenBLAS should be visible to threadpoolctl"
    x, W, b = np.ones((200, 300)), np.ones((300, 100)), np.zeros(100)
    want = Affine(W, b).forward(x)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        got = Affine(W, b).forward(x)
        assert all(d["num_threads"] == 1 for d in ours())
    np.testing.assert_array_equal(got, want)
