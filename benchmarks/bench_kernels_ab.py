"""Two builds' element-wise kernels in one process: this dlcore's ``_kernels`` against another
build's (``pip install --no-deps --target DIR`` of it), loaded side by side, each call timed
alternately in process CPU time, one thread.

    python -m benchmarks.bench_kernels_ab --against DIR [--ops exp,sigmoid_forward,...]
                                          [--shapes 100x784,256x1024] [--reps 31]

The element-wise twin of bench_gemm_ab (which explains why one process and interleaved samples:
this machine class's speed moves by a third between runs). Each sample is ten calls of one
build, then ten of the other, the order alternating; the ratio printed is the median of the
per-sample ratios (>1: this build is faster). Both builds are run with one thread each
(``set_num_threads(1)`` on the other module too: left at its default it would fork, and CPU
time would count its second thread). Outputs are compared bit for bit.

Ops: exp, sigmoid_forward, sigmoid_grad, relu_forward, softmax_forward (rows of the shape).
Writes results/bench_kernels_ab.json.
"""
import argparse
import time

import numpy as np

import dlcore
from dlcore import _kernels as K
from benchmarks._harness import machine_info, write_json
from benchmarks.bench_gemm_ab import load_other

OPS = ("exp", "sigmoid_forward", "sigmoid_grad", "relu_forward", "softmax_forward")


def _call(mod, op, y, x, mask):
    if op == "relu_forward":
        mod.relu_forward(y, mask, x)
    else:
        getattr(mod, op)(y, x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", required=True, help="site dir of the other build")
    ap.add_argument("--ops", default="exp,sigmoid_forward,softmax_forward")
    ap.add_argument("--shapes", default="100x10,100x50,100x784,256x1024")
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--reps", type=int, default=31)
    args = ap.parse_args(argv)
    ops = args.ops.split(",")
    for op in ops:
        if op not in OPS:
            ap.error(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    other = load_other(args.against)
    rows = []
    with dlcore.threads(1):
        other.set_num_threads(1)
        rng = np.random.default_rng(0)
        w = rng.standard_normal(4096)
        t0 = time.time()
        while time.time() - t0 < 1.0:  # warm-up: clocks and caches, both builds
            K.exp(w, w * 0)
            other.exp(w, w * 0)
        for shape in shapes:
            for dt in args.dtypes.split(","):
                x = (rng.standard_normal(shape) * 4).astype(dt)
                mask = np.empty(shape, np.bool_)
                for op in ops:
                    y_this, y_other = np.empty_like(x), np.empty_like(x)
                    _call(K, op, y_this, x, mask)
                    _call(other, op, y_other, x, mask)
                    same = bool(np.array_equal(y_this.view(np.uint8), y_other.view(np.uint8)))
                    t = {"this": [], "other": []}
                    for rep in range(args.reps):
                        order = (("this", K, y_this), ("other", other, y_other))
                        for name, mod, y in (order if rep % 2 else order[::-1]):
                            c0 = time.process_time()
                            for _ in range(10):
                                _call(mod, op, y, x, mask)
                            t[name].append((time.process_time() - c0) / 10)
                    ratio = float(np.median(np.array(t["other"]) / np.array(t["this"])))
                    row = {"op": op, "shape": "x".join(map(str, shape)), "dtype": dt,
                           "this_us": float(np.median(t["this"])) * 1e6,
                           "other_us": float(np.median(t["other"])) * 1e6,
                           "speedup": ratio, "same_bits": same}
                    rows.append(row)
                    print(f"{op:16s} {row['shape']:9s} {dt}: this {row['this_us']:9.2f} us, "
                          f"other {row['other_us']:9.2f} us, this/other speed {ratio:.2f}x, "
                          f"same bits {same}", flush=True)
    print("wrote", write_json("bench_kernels_ab", {"rows": rows, "against": args.against,
                                                   "reps": args.reps,
                                                   "machine": machine_info()}))


if __name__ == "__main__":
    main()
