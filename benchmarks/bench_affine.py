"""Affine forward + backward at the book's first layer, (100, 784) x (784, 50): dlcore vs the
book's numpy code, float64 and float32, 1 and 2 threads, interleaved, median of >= 7 reps.

    python -m benchmarks.bench_affine [--reps 9]

Results are checked for equality before timing. numpy's BLAS gets the same thread count as
dlcore (threadpoolctl); dlcore's own BLAS always runs on one thread inside its OpenMP blocks.
"""
import argparse

import numpy as np
from threadpoolctl import threadpool_limits

import dlcore
from dlcore.layers import Affine
from benchmarks._harness import machine_info, median_ms, time_interleaved, write_json


def numpy_affine(x, W, b, dout):
    out = np.dot(x, W) + b
    dx = np.dot(dout, W.T)
    dW = np.dot(x.T, dout)
    db = np.sum(dout, axis=0)
    return out, dx, dW, db


def dlcore_affine(layer, x, dout):
    out = layer.forward(x)
    dx = layer.backward(dout)
    return out, dx, layer.dW, layer.db


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--shape", default="100,784,50", help="N,D,M")
    args = ap.parse_args(argv)
    N, D, M = (int(v) for v in args.shape.split(","))
    rng = np.random.default_rng(0)
    rows = []
    for dtype in (np.float64, np.float32):
        x = rng.standard_normal((N, D)).astype(dtype)
        W = (0.01 * rng.standard_normal((D, M))).astype(dtype)
        b = np.zeros(M, dtype)
        dout = rng.standard_normal((N, M)).astype(dtype)
        layer = Affine(W, b)
        ref = numpy_affine(x, W, b, dout)
        got = dlcore_affine(layer, x, dout)
        tol = 1e-12 if dtype == np.float64 else 1e-5
        for r, g in zip(ref, got):  # equal results before timing
            np.testing.assert_allclose(g, r, rtol=tol, atol=tol * np.abs(r).max())
        for threads in (1, 2):
            with threadpool_limits(threads, user_api="blas"), dlcore.threads(threads):
                s = time_interleaved({
                    "numpy": lambda: numpy_affine(x, W, b, dout),
                    "dlcore": lambda: dlcore_affine(layer, x, dout),
                }, reps=args.reps, settle=0.25 if threads > 1 else 0.0)
            np_ms, dl_ms = median_ms(s["numpy"]), median_ms(s["dlcore"])
            rows.append({"dtype": np.dtype(dtype).name, "threads": threads,
                         "numpy_ms": np_ms, "dlcore_ms": dl_ms, "speedup": np_ms / dl_ms,
                         "samples_ms": {k: [1e3 * v for v in vs] for k, vs in s.items()}})
    print(f"Affine forward+backward {N}x{D} @ {D}x{M}, median of {args.reps} (ms per step)")
    print(f"{'dtype':8} {'thr':>3} {'numpy':>9} {'dlcore':>9} {'speedup':>8}")
    for r in rows:
        print(f"{r['dtype']:8} {r['threads']:>3} {r['numpy_ms']:9.4f} {r['dlcore_ms']:9.4f} "
              f"{r['speedup']:7.2f}x")
    path = write_json("bench_affine", {"workload": f"affine {N}x{D}x{M}", "rows": rows,
                                       "machine": machine_info()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
