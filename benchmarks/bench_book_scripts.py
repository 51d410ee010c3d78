"""The main loop of each chapter's scripts (chapters 3-8), on dlcore vs the book's numpy code.

    python -m benchmarks.bench_book_scripts [--reps 5] [--steps 20] [--chapters ch03,ch05]

The book's scripts themselves (oreilly-japan/deep-learning-from-scratch) are not in this
repository and cannot be fetched where it is built (no network), so this script times the
repository's own equivalents of what those scripts spend their time on, one per chapter:

  ch03  neuralnet_mnist.py: a 784-50-100-10 sigmoid network's forward pass over the 10000
        test images in batches of 100 (dlcore.functions vs numpy)
  ch04  train_neuralnet.py: one numerical gradient (h = 1e-4, central difference) of a
        TwoLayerNet 784-5-10 on a batch of 10 (every parameter, two losses each)
  ch05  train_neuralnet.py: TwoLayerNet 784-50-10, batch 100, backprop + SGD(lr=0.1)
  ch06  optimizer_compare_mnist.py: MultiLayerNet 784-[100]x4-10, batch 128, Adam
        overfit_dropout.py: MultiLayerNetExtend 784-[100]x6-10, dropout 0.2, batch 100, SGD
        batch_norm_test.py: MultiLayerNetExtend 784-[100]x5-10 with batch norm, batch 100, SGD
  ch07  train_convnet.py: SimpleConvNet (30 5x5 filters), batch 100, Adam
  ch08  train_deepnet.py: DeepConvNet, batch 100, Adam

"dlcore" is dlcore's classes used the book's way (``net.gradient`` + ``optimizer.update``, no
fused engine: what ``python -m dlcore.book`` runs); "numpy" is benchmarks/numpy_ref.py, the
book's code in numpy that the benchmark suite also uses, built from the same initial weights.
Both sides run in this process on one thread (dlcore.threads(1), numpy's BLAS limited to one
thread by threadpoolctl), interleaved rep by rep; the time is the median of --reps samples
of --steps steps (ch03: one pass over the test set; ch04: one numerical gradient).
Output: benchmarks/results/book_scripts.json and a markdown table on stdout.
"""
import argparse
import json
import os
import statistics
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import dlcore
from benchmarks import numpy_ref as R
from benchmarks._harness import machine_info

HERE = Path(__file__).resolve().parent


def load_data():
    """MNIST (normalized, flat) through dlcore.mnist, else synthetic data of the same shape."""
    try:
        from dlcore.mnist import load_mnist
        (xtr, ttr), (xte, tte) = load_mnist(normalize=True, flatten=True)
        return xtr, ttr, xte, tte, "MNIST"
    except Exception as exc:  # noqa: BLE001  (no data source: synthetic)
        rng = np.random.RandomState(1)
        return (rng.rand(2000, 784).astype(np.float32), rng.randint(0, 10, 2000),
                rng.rand(10000, 784).astype(np.float32), rng.randint(0, 10, 10000),
                f"synthetic ({type(exc).__name__})")


def _train_pair(make_dlcore, make_numpy_layers, opt_dl, opt_np, x, t, batch, steps):
    """(dlcore step loop, numpy step loop) over the same batches."""
    np.random.seed(0)
    net = make_dlcore()
    ref = make_numpy_layers(net.params)
    rng = np.random.RandomState(0)
    batches = [rng.choice(x.shape[0], batch) for _ in range(steps)]

    def run_dl():
        for idx in batches:
            g = net.gradient(x[idx], t[idx])
            opt_dl.update(net.params, g)

    def run_np():
        for idx in batches:
            g = ref.gradient(x[idx], t[idx])
            opt_np.update(ref.params, g)

    return run_dl, run_np


def _deep_numpy(params):
    """numpy_ref layers in DeepConvNet's order (the book's ch08/deep_convnet.py)."""
    p = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    conv = [(1, 1), (2, 1), (3, 1), (4, 2), (5, 1), (6, 1)]     # (index, pad)
    layers, keys = OrderedDict(), {}
    relu = 0
    for n, (i, pad) in enumerate(conv):
        layers[f"Conv{i}"] = R.Convolution(p[f"W{i}"], p[f"b{i}"], 1, pad)
        keys[f"W{i}"], keys[f"b{i}"] = (f"Conv{i}", "dW"), (f"Conv{i}", "db")
        relu += 1
        layers[f"Relu{relu}"] = R.Relu()
        if n % 2 == 1:
            layers[f"Pool{n // 2 + 1}"] = R.Pooling(2, 2, stride=2)
    layers["Affine1"] = R.Affine(p["W7"], p["b7"])
    keys["W7"], keys["b7"] = ("Affine1", "dW"), ("Affine1", "db")
    layers["Relu7"] = R.Relu()
    layers["Dropout1"] = R.Dropout(0.5)
    layers["Affine2"] = R.Affine(p["W8"], p["b8"])
    keys["W8"], keys["b8"] = ("Affine2", "dW"), ("Affine2", "db")
    layers["Dropout2"] = R.Dropout(0.5)
    return R.Net(p, layers, {k: keys[k] for k in p})


def cases(data, steps):
    from dlcore.deep_convnet import DeepConvNet
    from dlcore.functions import sigmoid, softmax
    from dlcore.gradient import numerical_gradient
    from dlcore.multi_layer_net import MultiLayerNet
    from dlcore.multi_layer_net_extend import MultiLayerNetExtend
    from dlcore.optimizer import SGD, Adam
    from dlcore.simple_convnet import SimpleConvNet
    from dlcore.two_layer_net import TwoLayerNet

    xtr, ttr, xte, tte, _ = data
    xtr64 = xtr.astype(np.float64)
    ximg = xtr.reshape(-1, 1, 28, 28)
    out = OrderedDict()

    # ch03: inference of the sample network's shape (random weights: sample_weight.pkl is
    # the book's file, not in this repository)
    rng = np.random.RandomState(0)
    W = [0.1 * rng.randn(784, 50), 0.1 * rng.randn(50, 100), 0.1 * rng.randn(100, 10)]
    b = [np.zeros(50), np.zeros(100), np.zeros(10)]

    def ch03(sig, soft):
        def run():
            for i in range(0, 10000, 100):
                x = xte[i:i + 100]
                z = sig(np.dot(x, W[0]) + b[0])
                z = sig(np.dot(z, W[1]) + b[1])
                soft(np.dot(z, W[2]) + b[2])
        return run

    def np_sigmoid(x):
        return 1 / (1 + np.exp(-x))

    out["ch03 neuralnet_mnist (inference, 10000 images)"] = (
        ch03(sigmoid, softmax), ch03(np_sigmoid, R.softmax), "per pass")

    # ch04: one numerical gradient of a small TwoLayerNet (the book's numerical_gradient)
    np.random.seed(0)
    net4 = TwoLayerNet(784, 5, 10)
    x4, t4 = xtr64[:10], ttr[:10]
    ref4 = R.mlp(net4.params, 1, np.float64)

    def np_numerical_gradient(f, x):
        h = 1e-4
        grad = np.zeros_like(x)
        it = np.nditer(x, flags=['multi_index'], op_flags=['readwrite'])
        while not it.finished:
            idx = it.multi_index
            tmp = x[idx]
            x[idx] = float(tmp) + h
            fxh1 = f(x)
            x[idx] = tmp - h
            fxh2 = f(x)
            grad[idx] = (fxh1 - fxh2) / (2 * h)
            x[idx] = tmp
            it.iternext()
        return grad

    def ch04_dl():
        for k in net4.params:
            numerical_gradient(lambda _: net4.loss(x4, t4), net4.params[k])

    def ch04_np():
        for k in ref4.params:
            np_numerical_gradient(lambda _: ref4.loss(x4, t4), ref4.params[k])

    out["ch04 train_neuralnet (numerical gradient, 784-5-10)"] = (ch04_dl, ch04_np,
                                                                   "per gradient")

    out["ch05 train_neuralnet (TwoLayerNet, SGD)"] = _train_pair(
        lambda: TwoLayerNet(784, 50, 10), lambda p: R.mlp(p, 1, np.float64),
        SGD(0.1), R.SGD(0.1), xtr64, ttr, 100, steps) + (f"per {steps} steps",)
    out["ch06 optimizer_compare_mnist (MultiLayerNet x4, Adam)"] = _train_pair(
        lambda: MultiLayerNet(784, [100] * 4, 10), lambda p: R.mlp(p, 4, np.float64),
        Adam(), R.Adam(), xtr64, ttr, 128, steps) + (f"per {steps} steps",)
    out["ch06 overfit_dropout (MultiLayerNetExtend x6, dropout 0.2)"] = _train_pair(
        lambda: MultiLayerNetExtend(784, [100] * 6, 10, use_dropout=True, dropout_ration=0.2),
        lambda p: R.mlp(p, 6, np.float64, dropout=0.2),
        SGD(0.01), R.SGD(0.01), xtr64, ttr, 100, steps) + (f"per {steps} steps",)
    out["ch06 batch_norm_test (MultiLayerNetExtend x5, batch norm)"] = _train_pair(
        lambda: MultiLayerNetExtend(784, [100] * 5, 10, use_batchnorm=True,
                                    weight_init_std=0.01),
        lambda p: R.mlp(p, 5, np.float64, batchnorm=True),
        SGD(0.01), R.SGD(0.01), xtr64, ttr, 100, steps) + (f"per {steps} steps",)
    out["ch07 train_convnet (SimpleConvNet, Adam)"] = _train_pair(
        lambda: SimpleConvNet(), lambda p: R.simple_convnet(p, np.float64),
        Adam(), R.Adam(), ximg.astype(np.float64), ttr, 100, steps) + (f"per {steps} steps",)
    deep_steps = max(1, steps // 4)
    out["ch08 train_deepnet (DeepConvNet, Adam)"] = _train_pair(
        lambda: DeepConvNet(), _deep_numpy, Adam(), R.Adam(), ximg.astype(np.float64), ttr,
        100, deep_steps) + (f"per {deep_steps} steps",)
    return out


def _loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="train steps per sample")
    ap.add_argument("--chapters", default="", help="e.g. ch05,ch07 (default: all)")
    args = ap.parse_args(argv)
    data = load_data()
    wanted = [c for c in args.chapters.split(",") if c]
    rows = []
    with threadpool_limits(1), dlcore.threads(1):
        for name, (run_dl, run_np, unit) in cases(data, args.steps).items():
            if wanted and name.split()[0] not in wanted:
                continue
            load0 = _loadavg()
            run_dl()
            run_np()                      # warm-up
            t_dl, t_np = [], []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                run_dl()
                t_dl.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                run_np()
                t_np.append(time.perf_counter() - t0)
            dl, nu = statistics.median(t_dl), statistics.median(t_np)
            row = {"script": name, "unit": unit, "dlcore_s": dl, "numpy_s": nu,
                   "speedup": nu / dl, "samples_dlcore_s": t_dl, "samples_numpy_s": t_np,
                   "loadavg": [load0, _loadavg()]}
            rows.append(row)
            print(f"{name}: dlcore {dl * 1e3:.1f} ms, numpy {nu * 1e3:.1f} ms {unit}, "
                  f"{nu / dl:.2f}x (load {load0:.1f})", flush=True)
    payload = {"command": "python -m benchmarks.bench_book_scripts "
                          + " ".join(argv if argv is not None else os.sys.argv[1:]),
               "data": data[4], "reps": args.reps, "steps": args.steps, "rows": rows,
               "machine": machine_info(), "when_utc": time.strftime("%Y-%m-%d %H:%M",
                                                                    time.gmtime())}
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / "book_scripts.json"
    path.write_text(json.dumps(payload, indent=1, default=str))
    print("\n| script | unit | dlcore ms | numpy ms | numpy / dlcore |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['script']} | {r['unit']} | {r['dlcore_s'] * 1e3:.1f} | "
              f"{r['numpy_s'] * 1e3:.1f} | {r['speedup']:.2f}x |")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
