"""Convolution and Pooling forward + backward at SimpleConvNet's shapes (batch 100, 1x28x28
input, 30 filters 5x5, stride 1, pad 0; then 2x2 max pooling, stride 2, over the 30x24x24
activations): dlcore vs the numpy oracle (tests/oracle/conv.py, the book's algorithm), float64
and float32, 1 and 2 threads, interleaved, median of >= 7 reps.

    python -m benchmarks.bench_conv [--reps 9] [--batch 100]

Results are checked against the oracle before timing. The numpy side returns the book's
transposed views (no extra copies) and computes in float64 for float32 input, as the book
does; numpy's BLAS gets the same thread count as dlcore (threadpoolctl).
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import dlcore
from dlcore.layers import Convolution, Pooling
from benchmarks._harness import machine_info, median_ms, time_interleaved, write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from oracle import conv as O  # noqa: E402


def numpy_conv(x, W, b, dout, stride=1, pad=0):
    """The book's Convolution forward + backward with the oracle's im2col/col2im."""
    FN, C, fh, fw = W.shape
    N, _, H, Wd = x.shape
    oh, ow = O.out_size(H, fh, stride, pad), O.out_size(Wd, fw, stride, pad)
    col = O.im2col(x, fh, fw, stride, pad)
    col_W = W.reshape(FN, -1).T
    out = (np.dot(col, col_W) + b).reshape(N, oh, ow, -1).transpose(0, 3, 1, 2)
    d = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
    db = np.sum(d, axis=0)
    dW = np.dot(col.T, d).transpose(1, 0).reshape(FN, C, fh, fw)
    dx = O.col2im(np.dot(d, col_W.T), x.shape, fh, fw, stride, pad)
    return out, dx, dW, db


def numpy_pool(x, dout, ph=2, pw=2, stride=2):
    """The book's Pooling forward + backward with the oracle's im2col/col2im."""
    N, C, H, W = x.shape
    oh, ow = (H - ph) // stride + 1, (W - pw) // stride + 1
    rows = O.im2col(x, ph, pw, stride, 0).reshape(-1, ph * pw)
    arg_max = np.argmax(rows, axis=1)
    out = np.max(rows, axis=1).reshape(N, oh, ow, C).transpose(0, 3, 1, 2)
    d = dout.transpose(0, 2, 3, 1).reshape(-1)
    dmax = np.zeros((d.size, ph * pw))
    dmax[np.arange(arg_max.size), arg_max] = d
    dx = O.col2im(dmax.reshape(N * oh * ow, -1), x.shape, ph, pw, stride, 0)
    return out, dx


def dlcore_conv(layer, x, dout):
    out = layer.forward(x)
    dx = layer.backward(dout)
    return out, dx, layer.dW, layer.db


def dlcore_pool(layer, x, dout):
    out = layer.forward(x)
    return out, layer.backward(dout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args(argv)
    N = args.batch
    rng = np.random.default_rng(0)
    rows = []
    for dtype in (np.float64, np.float32):
        x = rng.random((N, 1, 28, 28)).astype(dtype)
        W = (0.01 * rng.standard_normal((30, 1, 5, 5))).astype(dtype)
        b = np.zeros(30, dtype)
        dout = rng.standard_normal((N, 30, 24, 24)).astype(dtype)
        px = rng.standard_normal((N, 30, 24, 24)).astype(dtype)  # pooling input (no ties)
        pdout = rng.standard_normal((N, 30, 12, 12)).astype(dtype)
        conv, pool = Convolution(W, b), Pooling(2, 2, stride=2)
        tol = 1e-12 if dtype == np.float64 else 1e-5
        for r, g in zip(numpy_conv(x, W, b, dout), dlcore_conv(conv, x, dout)):
            np.testing.assert_allclose(g, r, rtol=tol, atol=tol * np.abs(r).max())
        for r, g in zip(numpy_pool(px, pdout), dlcore_pool(pool, px, pdout)):
            np.testing.assert_allclose(g, r, rtol=tol, atol=tol * np.abs(r).max())
        for threads in (1, 2):
            with threadpool_limits(threads, user_api="blas"), dlcore.threads(threads):
                s = time_interleaved({
                    "conv_numpy": lambda: numpy_conv(x, W, b, dout),
                    "conv_dlcore": lambda: dlcore_conv(conv, x, dout),
                    "pool_numpy": lambda: numpy_pool(px, pdout),
                    "pool_dlcore": lambda: dlcore_pool(pool, px, pdout),
                }, reps=args.reps, settle=0.25 if threads > 1 else 0.0)
            for layer in ("conv", "pool"):
                np_ms, dl_ms = median_ms(s[f"{layer}_numpy"]), median_ms(s[f"{layer}_dlcore"])
                rows.append({"layer": layer, "dtype": np.dtype(dtype).name, "threads": threads,
                             "numpy_ms": np_ms, "dlcore_ms": dl_ms, "speedup": np_ms / dl_ms,
                             "samples_ms": {k: [1e3 * v for v in vs] for k, vs in s.items()
                                            if k.startswith(layer)}})
    print(f"SimpleConvNet layers, batch {N}: Convolution 1x28x28 -> 30x24x24 (5x5), "
          f"Pooling 30x24x24 -> 30x12x12 (2x2, stride 2); forward+backward, "
          f"median of {args.reps} (ms per step)")
    print(f"{'layer':6} {'dtype':8} {'thr':>3} {'numpy':>9} {'dlcore':>9} {'speedup':>8}")
    for r in rows:
        print(f"{r['layer']:6} {r['dtype']:8} {r['threads']:>3} {r['numpy_ms']:9.3f} "
              f"{r['dlcore_ms']:9.3f} {r['speedup']:7.2f}x")
    path = write_json("bench_conv", {"workload": f"SimpleConvNet conv+pool, batch {N}",
                                     "rows": rows, "machine": machine_info()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
