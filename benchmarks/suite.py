"""dlcore's benchmark suite (issue 6): train steps and inference of the book's networks,
dlcore vs the book's numpy code vs PyTorch eager, float64 and float32, 1 and 2 threads.

    python -m benchmarks.suite [--quick] [--workloads W1,W2,...,E2E] [--reps 7] [--env-both]

Workloads (batches from MNIST when dlcore.mnist finds it, else synthetic data of the same
shape; the JSON says which):
  W1 TwoLayerNet 784-50-10, batch 100, SGD(lr=0.1)
  W2 MultiLayerNetExtend 784-[100]x6-10, dropout 0.2, batch 100, SGD(lr=0.01)
  W3 MultiLayerNetExtend 784-[100]x6-10, batch norm, batch 100, Adam(lr=0.001)
  W4 MultiLayerNet 784-1024-1024-10, batch 256, Adam(lr=0.001)
  W5 SimpleConvNet (conv 30 5x5, pool 2, affine 100, affine 10), batch 100, Adam(lr=0.001)
  I2 W2's network, inference on 10000 images (one batch, as MultiLayerNetExtend.accuracy)
  I5 W5's network, inference on 10000 images (batches of 100, as SimpleConvNet.accuracy)
  E2E the backprop-mnist and dropout-overfit experiments end to end, `python -m dlcore
      experiment NAME` vs the book's code in numpy (benchmarks/bench_e2e.py: shortened
      settings unless --e2e-full, median of --e2e-reps, --e2e-threads), as ratios of wall,
      CPU and training times; JSON key "e2e", a second markdown table

Implementations (each skipped cleanly when unavailable):
  numpy  benchmarks/numpy_ref.py, the book's code in numpy
  book   dlcore's networks used the book's way (net.gradient + optimizer.update)
  fused  dlcore.engine.FusedTrainer on a dlcore network (W2: book-mode dropout; "fused-fast"
         is the counter-based dropout mode)
  torch  PyTorch eager CPU (benchmarks/torch_ref.py)

Every implementation starts from the same weights and batch; before timing, the losses and
gradients of one step (or the inference scores) are checked against the numpy code within the
dtype's tolerance. Timing: each (workload, dtype, threads) group interleaves its
implementations rep by rep (benchmarks/_harness.py), median of --reps samples after warm-up;
numpy's BLAS gets the thread count through threadpoolctl, dlcore through dlcore.threads and
torch through torch.set_num_threads; with 2 threads each sample is preceded by a pause so that
the previous library's idle workers stop spinning (packaging note 3c). Then dlcore alone
(book, fused, fused-fast) runs on 1 and 2 threads interleaved sample by sample, every sample
after the same pause: the "2 threads vs 1" ratios (JSON key "scaling", second markdown table,
with the OpenMP regions a call opens on 2 threads). GFLOP/s counts 3x the
forward GEMM/conv flop for a train step (forward, dW, dx) and 1x for inference, minus the
first layer's dx for the implementations that skip it (fused, torch): the flop each one
executes (JSON rows: gflop_nominal, gflop_executed, gflops_executed, and the load average).
% of peak is against the FMA peak measured by benchmarks/fma_peak.c (AVX-512, 1 core x
threads; best of many short undisturbed runs, re-measured when implausible, with the load
recorded: machine.fma_peak_gflops_1core); with a suspect peak no % is printed.

--env-both re-runs numpy and dlcore in a subprocess with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
unset (env -u ...), and reports those numbers too (torch does not use OpenBLAS).
Output: benchmarks/results/suite.json and suite.md (plus stdout).
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks import numpy_ref as R
from benchmarks._harness import (blas_info, forks_per_call, machine_info, median_ms, thread_case,
                                time_interleaved, write_json)

HERE = Path(__file__).resolve().parent

WORKLOADS = {
    "W1": dict(net="two_layer", sizes=[784, 50, 10], batch=100, opt=("SGD", {"lr": 0.1}),
               std=0.01),
    "W2": dict(net="extend", sizes=[784] + [100] * 6 + [10], batch=100, dropout=0.2,
               opt=("SGD", {"lr": 0.01})),
    "W3": dict(net="extend", sizes=[784] + [100] * 6 + [10], batch=100, batchnorm=True,
               opt=("Adam", {"lr": 0.001})),
    "W4": dict(net="mlp", sizes=[784, 1024, 1024, 10], batch=256, opt=("Adam", {"lr": 0.001})),
    "W5": dict(net="convnet", batch=100, opt=("Adam", {"lr": 0.001})),
    "I2": dict(net="extend", sizes=[784] + [100] * 6 + [10], batch=100, dropout=0.2,
               opt=("SGD", {"lr": 0.01}), infer=10000, infer_batch=None),
    "I5": dict(net="convnet", batch=100, opt=("Adam", {"lr": 0.001}), infer=10000,
               infer_batch=100),
}
TRAIN = ["W1", "W2", "W3", "W4", "W5"]


# ---------------------------------------------------------------------------- set-up
def _cpu_busy_s():
    """Busy CPU seconds of the whole machine so far (all cores, from /proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(a) for a in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _loadavg():
    try:
        return [float(a) for a in open("/proc/loadavg").read().split()[:3]]
    except (OSError, ValueError):
        return None


def peak_problems(peak):
    """Reasons why a measured FMA peak is implausible (empty list: plausible)."""
    g = (peak or {}).get("gflops") or {}
    bad = []
    for isa in ("avx2", "avx512"):
        f64, f32 = g.get(isa + "_f64"), g.get(isa + "_f32")
        if f64 and f32 and f32 < 1.6 * f64:
            bad.append(f"{isa}_f32 {f32} < 1.6 x {isa}_f64 {f64} (f32 has twice the lanes)")
    for dt in ("f64", "f32"):
        a2, a5 = g.get("avx2_" + dt), g.get("avx512_" + dt)
        if a2 and a5 and a5 < 0.9 * a2:
            bad.append(f"avx512_{dt} {a5} below avx2_{dt} {a2}")
    for k, r in ((peak or {}).get("runs") or {}).items():
        if not r.get("undisturbed"):
            bad.append(f"{k}: no run had the core to itself (CPU time < 97 % of wall time)")
    return bad


def fma_peak(tries=3):
    """The FMA peak on one core from benchmarks/fma_peak.c (None without a C compiler):
    {"gflops": {avx512_f64: GFLOP/s, ...}, "runs": {...}, "load": {...}, "problems": [...]}.

    The program takes the best of 25 short interleaved runs per variant, counting only runs
    that were not descheduled. If the result is still implausible (peak_problems: an AVX-512
    number below the AVX2 one, f32 not ~2x f64, or no undisturbed run) it is re-measured up to
    `tries` times, keeping the best value of each variant; what remains implausible is listed
    in "problems", and the suite then prints no "% of peak" (table()). The load average and
    the CPU time other processes used during the measurement are recorded with it."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        return None
    with tempfile.TemporaryDirectory() as d:
        exe = Path(d) / "fma_peak"
        r = subprocess.run([cc, "-O2", "-o", str(exe), str(HERE / "fma_peak.c")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return None
        best = None
        load_before = _loadavg()
        attempts = []
        for _ in range(tries):
            busy0, ch0, t0 = _cpu_busy_s(), os.times(), time.perf_counter()
            out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
            wall = time.perf_counter() - t0
            busy1, ch1 = _cpu_busy_s(), os.times()
            res = json.loads(out.stdout)
            own = (ch1.children_user + ch1.children_system) - (ch0.children_user +
                                                                 ch0.children_system)
            other = None if busy0 is None else max(0.0, (busy1 - busy0) - own) / wall
            attempts.append({"gflops": res["gflops"], "runs": res["runs"],
                             "other_processes_cores": None if other is None else round(other, 2)})
            if best is None:
                best = res
            else:
                for k, v in res["gflops"].items():
                    if v > best["gflops"].get(k, 0):
                        best["gflops"][k] = v
                        best["runs"][k] = res["runs"][k]
            if not peak_problems(best):
                break
        best["attempts"] = attempts
        best["load"] = {"loadavg_before": load_before, "loadavg_after": _loadavg(),
                        "other_processes_cores": [a["other_processes_cores"] for a in attempts]}
        best["problems"] = peak_problems(best)
        return best


def load_data():
    """(x_train, t_train, x_test, t_test, source): MNIST normalized, or synthetic."""
    try:
        from dlcore.mnist import load_mnist
        (xtr, ttr), (xte, tte) = load_mnist(normalize=True, flatten=True)
        return xtr, ttr, xte, tte, "MNIST (dlcore.mnist.load_mnist)"
    except Exception as exc:  # noqa: BLE001  (no data source installed: synthetic)
        reason = f"{type(exc).__name__}: {exc}"
    rng = np.random.RandomState(12345)
    xtr = rng.rand(2000, 784).astype(np.float32)
    xte = rng.rand(10000, 784).astype(np.float32)
    return (xtr, rng.randint(0, 10, 2000).astype(np.uint8), xte,
            rng.randint(0, 10, 10000).astype(np.uint8), f"synthetic uniform ({reason[:120]})")


def init_params(w):
    """The book's initial weights for workload w (numpy RandomState(0))."""
    rng = np.random.RandomState(0)
    p = {}
    if w["net"] == "convnet":
        p["W1"] = 0.01 * rng.randn(30, 1, 5, 5)
        p["b1"] = np.zeros(30)
        p["W2"] = 0.01 * rng.randn(4320, 100)
        p["b2"] = np.zeros(100)
        p["W3"] = 0.01 * rng.randn(100, 10)
        p["b3"] = np.zeros(10)
        return p
    sizes = w["sizes"]
    for i in range(1, len(sizes)):
        std = w.get("std") or np.sqrt(2.0 / sizes[i - 1])
        p[f"W{i}"] = std * rng.randn(sizes[i - 1], sizes[i])
        p[f"b{i}"] = np.zeros(sizes[i])
    if w.get("batchnorm"):
        for i in range(1, len(sizes) - 1):
            p[f"gamma{i}"] = np.ones(sizes[i])
            p[f"beta{i}"] = np.zeros(sizes[i])
    return p


def flop(w, n):
    """Forward GEMM/conv flop for n samples."""
    if w["net"] == "convnet":
        return 2.0 * n * (24 * 24 * 30 * 25 + 4320 * 100 + 100 * 10)
    s = w["sizes"]
    return 2.0 * n * sum(s[i - 1] * s[i] for i in range(1, len(s)))


def first_layer_flop(w, n):
    """Forward flop of the first (conv or affine) layer for n samples: the flop of its dx,
    which the fused step and PyTorch skip (nobody needs the gradient of the input)."""
    if w["net"] == "convnet":
        return 2.0 * n * 24 * 24 * 30 * 25
    return 2.0 * n * w["sizes"][0] * w["sizes"][1]


# implementations that do not compute the first layer's dx in a train step
SKIPS_FIRST_DX = ("fused", "fused-fast", "torch")


def executed_gflop(w, impl):
    """GFLOP one step (or inference pass) of impl actually performs in GEMMs/convolutions:
    inference 1x the forward flop; a train step 3x (forward, dW, dx) for the book's code,
    which also computes the first layer's dx, and 3x minus that dx for SKIPS_FIRST_DX."""
    n = w.get("infer") or w["batch"]
    if w.get("infer"):
        return flop(w, n) * 1e-9
    g = 3 * flop(w, n)
    if impl in SKIPS_FIRST_DX:
        g -= first_layer_flop(w, n)
    return g * 1e-9


# ---------------------------------------------------------------------------- implementations
def numpy_net(w, params, dt, mask_source=None):
    if w["net"] == "convnet":
        return R.simple_convnet(params, dt)
    hidden = len(w["sizes"]) - 2
    return R.mlp(params, hidden, dt, dropout=w.get("dropout"), batchnorm=w.get("batchnorm", False),
                 mask_source=mask_source)


def numpy_opt(w):
    name, kw = w["opt"]
    return getattr(R, name)(**kw)


class LayerNet:
    """dlcore's layers composed exactly as the book's network (names, order, aliasing,
    MultiLayerNetExtend's gradient); used only when dlcore's network modules are missing."""

    def __init__(self, w, params, dt):
        from collections import OrderedDict
        import dlcore.layers as L
        p = self.params = {k: np.array(v, dtype=dt) for k, v in params.items()}
        self.layers = OrderedDict()
        if w["net"] == "convnet":
            self.layers["Conv1"] = L.Convolution(p["W1"], p["b1"], 1, 0)
            self.layers["Relu1"] = L.Relu()
            self.layers["Pool1"] = L.Pooling(2, 2, stride=2)
            self.layers["Affine1"] = L.Affine(p["W2"], p["b2"])
            self.layers["Relu2"] = L.Relu()
            self.layers["Affine2"] = L.Affine(p["W3"], p["b3"])
            self.keys = {"W1": ("Conv1", "dW"), "b1": ("Conv1", "db"), "W2": ("Affine1", "dW"),
                         "b2": ("Affine1", "db"), "W3": ("Affine2", "dW"), "b3": ("Affine2", "db")}
        else:
            n = len(w["sizes"]) - 1
            self.keys = {}
            for i in range(1, n + 1):
                self.layers[f"Affine{i}"] = L.Affine(p[f"W{i}"], p[f"b{i}"])
                self.keys[f"W{i}"], self.keys[f"b{i}"] = (f"Affine{i}", "dW"), (f"Affine{i}", "db")
                if i == n:
                    break
                if w.get("batchnorm"):
                    self.layers[f"BatchNorm{i}"] = L.BatchNormalization(p[f"gamma{i}"], p[f"beta{i}"])
                    self.keys[f"gamma{i}"] = (f"BatchNorm{i}", "dgamma")
                    self.keys[f"beta{i}"] = (f"BatchNorm{i}", "dbeta")
                self.layers[f"Activation_function{i}"] = L.Relu()
                if w.get("dropout") is not None:
                    self.layers[f"Dropout{i}"] = L.Dropout(w["dropout"])
        self.last_layer = L.SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        for key, layer in self.layers.items():
            x = layer.forward(x, train_flg) if ("Dropout" in key or "BatchNorm" in key) \
                else layer.forward(x)
        return x

    def gradient(self, x, t):
        self.last_layer.forward(self.predict(x, True), t)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        return {k: getattr(self.layers[n], a) for k, (n, a) in self.keys.items()}


def dlcore_net(w, params, dt):
    """A dlcore book network with params overwritten in place (the aliasing is kept)."""
    try:
        return _dlcore_book_net(w, params, dt)
    except ImportError:
        NOTES.add("dlcore's network modules are not installed: 'book' and 'fused' use dlcore's "
                  "layers composed as the book's networks (benchmarks/suite.py LayerNet)")
        return LayerNet(w, params, dt)


NOTES = set()


def _dlcore_book_net(w, params, dt):
    if w["net"] == "two_layer":
        from dlcore.two_layer_net import TwoLayerNet
        net = TwoLayerNet(784, 50, 10, dtype=dt)
    elif w["net"] == "extend":
        from dlcore.multi_layer_net_extend import MultiLayerNetExtend
        kw = {}
        if w.get("dropout") is not None:
            kw.update(use_dropout=True, dropout_ration=w["dropout"])
        if w.get("batchnorm"):
            kw.update(use_batchnorm=True)
        net = MultiLayerNetExtend(784, w["sizes"][1:-1], 10, dtype=dt, **kw)
    elif w["net"] == "mlp":
        from dlcore.multi_layer_net import MultiLayerNet
        net = MultiLayerNet(784, w["sizes"][1:-1], 10, dtype=dt)
    else:
        from dlcore.simple_convnet import SimpleConvNet
        net = SimpleConvNet(dtype=dt)
    for k, v in params.items():
        net.params[k][...] = v
    return net


def dlcore_opt(w):
    import dlcore.optimizer as O
    name, kw = w["opt"]
    return getattr(O, name)(**kw)


def dlcore_grads(net, x, t):
    return net.gradient(x, t)


# ---------------------------------------------------------------------------- checking
def check_close(name, got, ref, dt, what):
    """Arrays equal within the dtype's tolerance (atol scaled to the reference's size)."""
    rtol = 1e-9 if dt == np.float64 else 2e-3
    # atol: rtol x the largest reference value of the whole set (a bias right before batch
    # norm has a zero gradient in exact arithmetic: its values are rounding noise)
    top = max(float(np.abs(np.asarray(v, np.float64)).max()) for v in ref.values())
    for k in ref:
        r, g = np.asarray(ref[k], np.float64), np.asarray(got[k], np.float64)
        scale = max(np.abs(r).max(), 1e-3 * top, 1e-30)
        if r.shape != g.shape or not np.allclose(g, r, rtol=rtol, atol=rtol * scale):
            err = np.abs(g - r).max() / scale if r.shape == g.shape else "shape"
            raise AssertionError(f"{name} {what} {k}: differs from numpy (max err/scale {err})")


# ---------------------------------------------------------------------------- one group
class Group:
    """All implementations of one workload at one dtype: built, checked, then timed."""

    def __init__(self, wname, w, dt, data, impls, torch_mod):
        self.wname, self.w, self.dt = wname, w, np.dtype(dt)
        self.cases, self.notes, self.skipped = {}, [], {}
        xtr, ttr, xte, tte = data
        conv = w["net"] == "convnet"
        params = init_params(w)
        if w.get("infer"):
            n = w["infer"]
            x = xte[:n].astype(dt)
            self.t = tte[:n].astype(np.int64)
        else:
            idx = np.random.RandomState(1).choice(xtr.shape[0], w["batch"])
            x = xtr[idx].astype(dt)
            self.t = ttr[idx].astype(np.int64)
        self.x = x.reshape(-1, 1, 28, 28) if conv else x
        self.params = params
        self.torch = torch_mod
        self.infer = w.get("infer")
        for impl in impls:
            try:
                getattr(self, "_build_" + impl.replace("-", "_"))()
            except Exception as exc:  # noqa: BLE001  (an implementation not available yet)
                self.skipped[impl] = f"{type(exc).__name__}: {exc}"[:200]

    # -- numpy
    def _build_numpy(self):
        w, dt, x, t = self.w, self.dt, self.x, self.t
        net, opt = numpy_net(w, self.params, dt), numpy_opt(w)
        self.np_net = net
        if self.infer:
            b = self.w["infer_batch"]
            self.ref = R.predict_batched(net, x, b) if b else None
            self.ref_scores = self._np_scores(net)
            self.cases["numpy"] = (lambda: R.predict_batched(net, x, b)) if b else \
                (lambda: net.predict(x))
            return
        np.random.seed(7)
        self.ref_grads = {k: np.array(v) for k, v in net.gradient(x, t).items()}
        self.ref_loss = float(net.last_layer.loss)
        self.cases["numpy"] = lambda: opt.update(net.params, net.gradient(x, t))

    def _np_scores(self, net):
        b = self.w["infer_batch"] or self.x.shape[0]
        n = min(self.x.shape[0], 2 * b)
        return np.concatenate([net.predict(self.x[i:i + b]) for i in range(0, n, b)])

    def _check_scores(self, name, scores):
        n = self.ref_scores.shape[0]
        check_close(name, {"scores": scores[:n]}, {"scores": self.ref_scores}, self.dt, "scores")

    # -- dlcore, the book's way
    def _build_book(self):
        w, x, t = self.w, self.x, self.t
        net, opt = dlcore_net(w, self.params, self.dt), dlcore_opt(w)
        if self.infer:
            b = w["infer_batch"]
            self._check_scores("book", np.concatenate(
                [net.predict(x[i:i + (b or x.shape[0])]) for i in range(0, self.ref_scores.shape[0], b or x.shape[0])]))
            if b:
                self.cases["book"] = lambda: [np.argmax(net.predict(x[i:i + b]), axis=1)
                                              for i in range(0, x.shape[0] - b + 1, b)]
            else:
                self.cases["book"] = lambda: net.predict(x)
            return
        np.random.seed(7)
        g = net.gradient(x, t)
        check_close("book", g, self.ref_grads, self.dt, "gradient")
        self.cases["book"] = lambda: opt.update(net.params, net.gradient(x, t))

    # -- dlcore fused engine
    def _fused(self, mode):
        from dlcore.engine import FusedTrainer
        w, x, t = self.w, self.x, self.t
        net, opt = dlcore_net(w, self.params, self.dt), dlcore_opt(w)
        ft = FusedTrainer(net, opt, dropout=mode, seed=11)
        if self.infer:
            ft.gradient(x[:w["batch"]], t[:w["batch"]])  # builds the engine at the train batch
            for k, v in self.params.items():  # gradient() leaves the weights as they are
                np.testing.assert_array_equal(net.params[k], v.astype(self.dt))
            self._check_scores("fused", ft.predict(x[:self.ref_scores.shape[0]]))
            b = w["infer_batch"]
            if b:
                return lambda: np.argmax(ft.predict(x), axis=1)
            return lambda: ft.predict(x)
        np.random.seed(7)
        g = ft.gradient(x, t)
        if mode == "fast" and w.get("dropout") is not None:
            masks = iter(ft.dropout_masks())
            ref = numpy_net(w, self.params, self.dt, mask_source=lambda layer, shape: next(masks))
            rg = ref.gradient(x, t)
            check_close("fused-fast", g, rg, self.dt, "gradient")
        else:
            check_close("fused", g, self.ref_grads, self.dt, "gradient")
        return lambda: ft.step(x, t)

    def _build_fused(self):
        self.cases["fused"] = self._fused("book")

    def _build_fused_fast(self):
        if self.w.get("dropout") is None or self.infer:
            raise RuntimeError("no dropout in this workload")
        self.cases["fused-fast"] = self._fused("fast")

    # -- torch
    def _build_torch(self):
        if self.torch is None:
            raise RuntimeError("torch is not installed")
        from benchmarks.torch_ref import TorchNet
        torch = self.torch
        w = self.w
        kind = "convnet" if w["net"] == "convnet" else "mlp"
        net = TorchNet(kind, self.params, self.dt, dropout=w.get("dropout"),
                       batchnorm=w.get("batchnorm", False),
                       hidden_layers=0 if kind == "convnet" else len(w["sizes"]) - 2,
                       optimizer=w["opt"])
        x = torch.from_numpy(np.ascontiguousarray(self.x))
        t = torch.from_numpy(self.t)
        if self.infer:
            b = w["infer_batch"]
            n = self.ref_scores.shape[0]
            self._check_scores("torch", net.predict(x[:n], b).numpy())
            if b:
                self.cases["torch"] = lambda: net.predict(x, b).argmax(1)
            else:
                self.cases["torch"] = lambda: net.predict(x)
            return
        if w.get("dropout") is not None:  # replay the numpy code's masks for the check
            np.random.seed(7)
            shapes = [(x.shape[0], s) for s in w["sizes"][1:-1]]
            net.masks = [torch.from_numpy(np.random.rand(*s) > w["dropout"]) for s in shapes]
        net.gradient(x, t)
        net.masks = None
        check_close("torch", net.grads(), self.ref_grads, self.dt, "gradient")
        self.cases["torch"] = lambda: net.step(x, t)

    # -- timing
    def time(self, threads, reps):
        torch = self.torch
        inf = bool(self.infer)
        settle = 0.3 if threads > 1 else 0.0
        if torch is not None:
            torch.set_num_threads(threads)
        import dlcore
        with threadpool_limits(threads, user_api="blas"), dlcore.threads(threads):
            s = time_interleaved(self.cases, reps=reps, warmup=1 if inf else 2,
                                 target_s=0.0 if inf else 0.05, settle=settle)
        return {k: [1e3 * v for v in vs] for k, vs in s.items()}

    def time_scaling(self, reps):
        """dlcore alone on 1 and 2 threads, interleaved sample by sample, every sample after
        the same pause and a whole sample of warm-up. The binding "2 threads vs 1" ratios come
        from here: in time() the 1- and 2-thread rows are measured minutes apart, with the
        other libraries' pools and the machine's clock changing in between (W1's fused step
        forks no OpenMP region, yet its two rows differed by up to 13 %). Also counts the
        OpenMP regions one call opens on 2 threads (_kernels.fork_count), and times a second,
        identical 1-thread case ("1 again") as a control: the ratio of two runs of the same
        code is the noise a 2-vs-1 ratio has to be read against. Ratios are given of the
        medians and as the median of the per-rep ratios (each rep runs every case once, so the
        paired ratio cancels the machine's slower drifts)."""
        import dlcore
        inf = bool(self.infer)
        cases = {f"{impl} {name}": thread_case(self.cases[impl], th)
                 for impl in ("book", "fused", "fused-fast") if impl in self.cases
                 for th, name in ((1, "1"), (2, "2"), (1, "1 again"))}
        with dlcore.threads(1):  # the thread count is restored afterwards
            forks = {k: forks_per_call(fn) for k, fn in cases.items()}
            s = time_interleaved(cases, reps=reps, warmup=1 if inf else 2,
                                 target_s=0.0 if inf else 0.05, settle=0.3)
        ms = {k: 1e3 * float(np.median(v)) for k, v in s.items()}
        impls = [i for i in ("book", "fused", "fused-fast") if f"{i} 1" in cases]

        def paired(a, b):
            return float(np.median([x / y for x, y in zip(s[a], s[b])]))
        return {"ms": ms, "forks": forks,
                "samples_ms": {k: [1e3 * v for v in vs] for k, vs in s.items()},
                "speedup_2thr": {i: ms[f"{i} 1"] / ms[f"{i} 2"] for i in impls},
                "paired_speedup_2thr": {i: paired(f"{i} 1", f"{i} 2") for i in impls},
                "control_1v1": {i: ms[f"{i} 1"] / ms[f"{i} 1 again"] for i in impls},
                "paired_control_1v1": {i: paired(f"{i} 1", f"{i} 1 again") for i in impls}}


# ---------------------------------------------------------------------------- reporting
def table(rows, peak):
    """Markdown: one line per (workload, dtype, threads, env)."""
    impls = ["numpy", "book", "fused", "fused-fast", "torch"]
    head = ("| workload | dtype | thr | OpenBLAS env | " + " | ".join(f"{i} ms" for i in impls) +
            " | fused vs numpy | fused vs torch | book vs numpy | fused GFLOP/s | fused % of peak |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        ms = r["ms"]

        def ratio(a, b):
            return f"{ms[a] / ms[b]:.2f}x" if a in ms and b in ms else "-"
        cells = [f"{ms[i]:.3f}" if i in ms else "-" for i in impls]
        gf = pct = "-"
        if "fused" in ms:
            ex = (r.get("gflop_executed") or {}).get("fused", r["gflop"])
            g = ex / (ms["fused"] * 1e-3)
            gf = f"{g:.1f}"
            pk = ((peak or {}).get("gflops") or {}).get(
                "avx512_f64" if r["dtype"] == "float64" else "avx512_f32")
            if pk and not (peak or {}).get("problems"):
                pct = f"{100 * g / (pk * r['threads']):.0f} %"
            elif pk:
                pct = "n/a (peak suspect)"
        lines.append(f"| {r['workload']} | {r['dtype'][5:]} | {r['threads']} | {r['env']} | "
                     + " | ".join(cells) + f" | {ratio('numpy', 'fused')} | "
                     f"{ratio('torch', 'fused')} | {ratio('numpy', 'book')} | {gf} | {pct} |")
    return "\n".join(lines)


def scaling_table(scaling):
    impls = ["book", "fused", "fused-fast"]
    head = ("| workload | dtype | OpenBLAS env | " + " | ".join(
        f"{i} 1 thr ms | {i} 2 thr ms | {i} 2 vs 1 (paired) | {i} 1 vs 1 again (paired) | "
        f"{i} forks" for i in impls) + " |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for sc in scaling:
        cells = []
        for i in impls:
            if f"{i} 1" in sc["ms"]:
                cells += [f"{sc['ms'][i + ' 1']:.3f}", f"{sc['ms'][i + ' 2']:.3f}",
                          f"{sc['speedup_2thr'][i]:.2f}x ({sc['paired_speedup_2thr'][i]:.2f}x)",
                          f"{sc['control_1v1'][i]:.2f}x ({sc['paired_control_1v1'][i]:.2f}x)",
                          str(sc["forks"][i + " 2"])]
            else:
                cells += ["-"] * 5
        lines.append(f"| {sc['workload']} | {sc['dtype'][5:]} | {sc['env']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args):
    try:
        import torch
        torch_mod = None if args.no_torch else torch
    except ImportError:
        torch_mod = None
    data = load_data()
    source = data[4]
    data = data[:4]
    impls = args.impls.split(",")
    if "numpy" not in impls:
        raise SystemExit("benchmarks.suite: expected 'numpy' in --impls (the book's numpy code "
                         "is the reference every implementation is checked against and the "
                         f"baseline of the ratios); got --impls {args.impls}")
    if torch_mod is None and "torch" in impls:
        impls.remove("torch")
    rows, scaling, notes = [], [], {}
    env = "unset" if os.environ.get("DLCORE_SUITE_CHILD") else "as set"
    threads = [int(v) for v in args.threads.split(",")]
    for wname in args.workloads.split(","):
        w = WORKLOADS[wname]
        if args.quick and w.get("infer"):
            w = dict(w, infer=1000 if w["infer_batch"] else 2000)
        for dt in (np.float64, np.float32):
            t0 = time.perf_counter()
            g = Group(wname, w, dt, data, impls, torch_mod)
            for k, v in g.skipped.items():
                if not v.startswith("RuntimeError: no dropout"):
                    notes[f"{wname} {np.dtype(dt).name} {k}"] = v
            if not g.cases:
                continue
            n = w.get("infer") or w["batch"]
            gflop = flop(w, n) * (1 if w.get("infer") else 3) * 1e-9
            for th in threads:
                samples = g.time(th, args.reps)
                ms = {k: float(np.median(v)) for k, v in samples.items()}
                ex = {k: executed_gflop(w, k) for k in ms}
                row = {"workload": wname, "dtype": np.dtype(dt).name, "threads": th, "env": env,
                       "ms": ms, "samples_ms": samples, "gflop": gflop,
                       "gflop_nominal": gflop, "gflop_executed": ex,
                       "gflops_executed": {k: ex[k] / (ms[k] * 1e-3) for k in ms},
                       "loadavg": _loadavg()}
                rows.append(row)
                write_json(args.out + "-partial", {"rows": rows})  # survives an interrupted run
                print(f"{wname} {np.dtype(dt).name} thr={th} env={env}: " +
                      ", ".join(f"{k} {v:.3f} ms" for k, v in ms.items()), flush=True)
            if {1, 2} <= set(threads) and any(k in g.cases for k in ("book", "fused")):
                sc = g.time_scaling(args.reps)
                sc.update(workload=wname, dtype=np.dtype(dt).name, env=env,
                          loadavg=_loadavg())
                scaling.append(sc)
                write_json(args.out + "-partial", {"rows": rows, "scaling": scaling})
                print(f"{wname} {np.dtype(dt).name} env={env} dlcore 1 vs 2 threads: " +
                      ", ".join(f"{k} {v:.3f} ms ({sc['forks'][k]} forks)"
                                for k, v in sc["ms"].items()), flush=True)
            print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return rows, scaling, notes, source


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="inference on 1000/2000 images instead of 10000, 7 reps")
    ap.add_argument("--workloads", default=",".join(list(WORKLOADS) + ["E2E"]))
    ap.add_argument("--e2e-full", action="store_true",
                    help="E2E with the book's settings (10000 iterations, 301 epochs: slow)")
    ap.add_argument("--e2e-reps", type=int, default=3)
    ap.add_argument("--e2e-threads", default="1")
    ap.add_argument("--impls", default="numpy,book,fused,fused-fast,torch")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--env-both", action="store_true",
                    help="also run numpy and dlcore with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset")
    ap.add_argument("--out", default="suite", help="name of the JSON/markdown in results/")
    args = ap.parse_args(argv)
    if args.quick:
        args.reps = min(args.reps, 7)
    if args.reps < 7 and not os.environ.get("DLCORE_SUITE_CHILD"):
        ap.error("--reps must be >= 7")
    peak = None if os.environ.get("DLCORE_SUITE_CHILD") else fma_peak()
    wl = args.workloads.split(",")
    e2e = "E2E" in wl
    args.workloads = ",".join(w for w in wl if w != "E2E")
    rows, scaling, notes, source = (run(args) if args.workloads
                                    else ([], [], {}, load_data()[4]))
    e2e_rows = []
    if e2e and not os.environ.get("DLCORE_SUITE_CHILD"):
        from benchmarks import bench_e2e
        e2e_rows = bench_e2e.run(full=args.e2e_full, reps=args.e2e_reps,
                                 threads=[int(t) for t in args.e2e_threads.split(",")])
    if args.env_both and args.workloads:
        child = [sys.executable, "-m", "benchmarks.suite", "--workloads", args.workloads,
                 "--impls", ",".join(i for i in args.impls.split(",") if i != "torch"),
                 "--threads", args.threads, "--reps", str(args.reps), "--out", args.out + "-unset"]
        if args.quick:
            child.append("--quick")
        env = {k: v for k, v in os.environ.items()
               if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        env["DLCORE_SUITE_CHILD"] = "1"
        subprocess.run(child, env=env, check=True, cwd=str(HERE.parent))
        sub = json.loads((HERE / "results" / f"{args.out}-unset.json").read_text())
        rows += sub["rows"]
        scaling += sub["scaling"]
        notes.update({"unset: " + k: v for k, v in sub["notes"].items()})
    info = machine_info()
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_threads_default"] = torch.get_num_threads()
    except ImportError:
        info["torch"] = None
    info["fma_peak_gflops_1core"] = peak
    info["data"] = source
    info["blas_unset_env"] = None
    if args.env_both and args.workloads:
        info["blas_unset_env"] = sub["machine"]["blas"]
    for n in NOTES:
        notes["note"] = n
    payload = {"command": "python -m benchmarks.suite " + " ".join(argv or sys.argv[1:]),
               "rows": rows, "scaling": scaling, "notes": notes, "machine": info,
               "e2e": e2e_rows}
    path = write_json(args.out, payload)
    md = table(rows, peak)
    if scaling:
        md += ("\n\n2 threads vs 1, dlcore alone (the two thread counts interleaved sample by "
               "sample, same pause before every sample; forks = OpenMP regions one call opens on "
               "2 threads):\n\n" + scaling_table(scaling))
    if e2e_rows:
        from benchmarks import bench_e2e
        md += ("\n\nE2E (benchmarks/bench_e2e.py; ratio = numpy time / dlcore time, median of "
               f"{args.e2e_reps}):\n\n" + bench_e2e.table(e2e_rows))
    if not os.environ.get("DLCORE_SUITE_CHILD"):
        cpu = info["cpu"]
        kern = ", ".join(sorted({f"{b.get('internal_api')}:{b.get('architecture')}"
                                 for b in info["blas"] if b.get("internal_api") == "openblas"}))
        pk = (peak or {}).get("gflops")
        if peak and peak.get("problems"):
            pk = f"{pk} (SUSPECT, no % of peak reported: {'; '.join(peak['problems'])})"
        loads = [r["loadavg"][0] for r in rows if r.get("loadavg")]
        load = f"{min(loads):.2f}-{max(loads):.2f}" if loads else "?"
        header = (f"CPU {cpu}, {info['cores']} cores; FMA peak per core (GFLOP/s): {pk}; "
                  f"load average (1 min) during the rows: {load}; "
                  f"OpenBLAS kernels: {kern}; numpy {np.__version__}, torch {info['torch']}, "
                  f"dlcore {info['dlcore']['version']} ({info['dlcore']['kernel_path']}); "
                  f"data: {source}. Median ms per step (train) or per pass (inference); "
                  "fused GFLOP/s and % of peak count the flop the fused step executes: 3x the "
                  "forward GEMM/conv flop of a train step minus the first layer's dx, which it "
                  "skips (the book's code computes it; JSON: gflop_nominal, gflop_executed), "
                  "1x for inference.")
        (HERE / "results" / f"{args.out}.md").write_text(header + "\n\n" + md + "\n")
        print()
        print(header)
        print(md)
        if notes:
            print("\nskipped:")
            for k, v in notes.items():
                print(f"  {k}: {v}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
