"""The book's functions and layers one call at a time, dlcore vs the book's numpy code, at the
book's shapes, float64 and float32, interleaved in one process (benchmarks/_harness.py):
median time per call and the ratio numpy / dlcore (> 1: dlcore faster).

    python -m benchmarks.bench_functions [--reps 9] [--threads 1] [--dtypes float64,float32]
                                         [--clock wall|cpu]

Calls: sigmoid, relu, softmax, cross_entropy_error (one-hot-free labels), softmax+loss
(SoftmaxWithLoss.forward), and each layer's forward and backward (Affine, Relu, Sigmoid,
BatchNormalization, Dropout, SoftmaxWithLoss) at (100,10), (100,50), (100,100), (100,784),
(256,1024); Convolution and Pooling forward/backward at SimpleConvNet's shapes. The numpy
side is benchmarks/numpy_ref.py (the book's statements) or the book's one-line function.
Output: benchmarks/results/functions.json and a markdown table on stdout.
"""
import argparse
import os
import statistics
import time

import numpy as np

import dlcore
from dlcore import functions as F
from dlcore import layers as L
from dlcore._norm import BatchNormalization, Dropout
from dlcore._conv import Convolution, Pooling

from . import numpy_ref as R
from ._harness import machine_info, time_interleaved, write_json

SHAPES = [(100, 10), (100, 50), (100, 100), (100, 784), (256, 1024)]


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_relu(x):
    return np.maximum(0, x)


def np_softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def np_cross_entropy(y, t):
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


def cases_for(shape, dt, rng):
    """(name, dlcore callable, numpy callable) for one activation shape."""
    N, D = shape
    x = rng.standard_normal(shape).astype(dt)
    t = rng.integers(0, D, N)
    y = F.softmax(x)
    out = []
    out.append(("sigmoid", lambda: F.sigmoid(x), lambda: np_sigmoid(x)))
    out.append(("relu", lambda: F.relu(x), lambda: np_relu(x)))
    out.append(("softmax", lambda: F.softmax(x), lambda: np_softmax(x)))
    out.append(("cross_entropy_error", lambda: F.cross_entropy_error(y, t),
                lambda: np_cross_entropy(y, t)))
    W = (0.01 * rng.standard_normal((D, D))).astype(dt)
    b = np.zeros(D, dt)
    pairs = [
        ("Affine", L.Affine(W, b), R.Affine(W, b)),
        ("Relu", L.Relu(), R.Relu()),
        ("Sigmoid", L.Sigmoid(), R.Sigmoid()),
        ("BatchNormalization", BatchNormalization(np.ones(D, dt), np.zeros(D, dt)),
         R.BatchNorm(np.ones(D, dt), np.zeros(D, dt))),
    ]
    for name, dl, nr in pairs:
        out.append((f"{name}.forward", lambda dl=dl: dl.forward(x), lambda nr=nr: nr.forward(x)))
        dl.forward(x)
        nr.forward(x)
        dout = rng.standard_normal(shape).astype(dt)
        # Relu.backward zeroes dout in place (the book's): each call gets a fresh copy
        out.append((f"{name}.backward", lambda dl=dl: dl.backward(dout.copy()),
                    lambda nr=nr: nr.backward(dout.copy())))
    d_dl, d_np = Dropout(0.5), R.Dropout(0.5)
    out.append(("Dropout.forward", lambda: d_dl.forward(x), lambda: d_np.forward(x)))
    sl_dl, sl_np = L.SoftmaxWithLoss(), R.SoftmaxWithLoss()
    out.append(("SoftmaxWithLoss.forward", lambda: sl_dl.forward(x, t),
                lambda: sl_np.forward(x, t)))
    sl_dl.forward(x, t)
    sl_np.forward(x, t)
    out.append(("SoftmaxWithLoss.backward", lambda: sl_dl.backward(), lambda: sl_np.backward()))
    return out


def conv_cases(dt, rng):
    """SimpleConvNet's conv (30 filters 5x5 on 1x28x28) and pool (2x2) at batch 100."""
    x = rng.standard_normal((100, 1, 28, 28)).astype(dt)
    W = (0.01 * rng.standard_normal((30, 1, 5, 5))).astype(dt)
    b = np.zeros(30, dt)
    c_dl, c_np = Convolution(W, b), R.Convolution(W, b)
    out = [("Convolution.forward", lambda: c_dl.forward(x), lambda: c_np.forward(x))]
    y = c_dl.forward(x)
    c_np.forward(x)
    dy = rng.standard_normal(y.shape).astype(dt)
    out.append(("Convolution.backward", lambda: c_dl.backward(dy), lambda: c_np.backward(dy)))
    p_dl, p_np = Pooling(2, 2, 2), R.Pooling(2, 2, 2)
    out.append(("Pooling.forward", lambda: p_dl.forward(y), lambda: p_np.forward(y)))
    z = p_dl.forward(y)
    p_np.forward(y)
    dz = rng.standard_normal(z.shape).astype(dt)
    out.append(("Pooling.backward", lambda: p_dl.backward(dz), lambda: p_np.backward(dz)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: process CPU time (1 thread on a loaded machine)")
    ap.add_argument("--shapes", default=",".join(f"{a}x{b}" for a, b in SHAPES) + ",conv")
    args = ap.parse_args()
    dlcore.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits
    if args.clock == "cpu" and args.threads != 1:
        ap.error("--clock cpu measures one thread only")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    rows = []
    load0 = os.getloadavg()[0]
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for dtn in args.dtypes.split(","):
            dt = np.dtype(dtn)
            for sh in args.shapes.split(","):
                rng = np.random.default_rng(0)
                if sh == "conv":
                    cases = conv_cases(dt, rng)
                else:
                    a, b = (int(v) for v in sh.split("x"))
                    cases = cases_for((a, b), dt, rng)
                for name, f_dl, f_np in cases:
                    np.random.seed(0)
                    s = time_interleaved({"dlcore": f_dl, "numpy": f_np}, reps=args.reps,
                                         clock=clock)
                    dl, nr = statistics.median(s["dlcore"]), statistics.median(s["numpy"])
                    rows.append({"call": name, "shape": sh, "dtype": dtn, "dlcore_us": 1e6 * dl,
                                 "numpy_us": 1e6 * nr, "ratio": nr / dl})
                    print(f"| {name} | {sh} | {dtn} | {1e6 * dl:.1f} | {1e6 * nr:.1f} | "
                          f"{nr / dl:.2f}x |", flush=True)
    below = [r for r in rows if r["ratio"] < 1.0]
    print(f"{len(below)} of {len(rows)} calls below 1.0x:",
          ", ".join(f"{r['call']} {r['shape']} {r['dtype']} {r['ratio']:.2f}x" for r in below))
    write_json("functions", {"machine": machine_info(), "threads": args.threads,
                             "clock": args.clock,
                             "reps": args.reps, "load_start": load0,
                             "load_end": os.getloadavg()[0],
                             "time_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                             "rows": rows})


if __name__ == "__main__":
    main()
