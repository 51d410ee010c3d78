"""OpenMP threshold check: 1 vs 2 threads for the elementwise/row kernels at sizes around
DL_OMP_MIN_WORK (csrc/src/common.h, 32768 operations).

    python -m benchmarks.bench_threshold [--reps 9] [--sizes 16384,32768,...]

Each kernel is called through its book layer or function, f64, on n elements; its work is n
times the per-element weight the kernel gives DL_PARALLEL_FOR (WORK_PER_ELEMENT: 1 for relu
and pooling, 20-24 for sigmoid, softmax, Adam). Below the threshold both thread counts run the
same serial loop; above it, 2 threads fork. For each
(kernel, n) the 1- and 2-thread timings are interleaved rep by rep (median of --reps samples,
each sample a loop of calls lasting ~5 ms, preceded by a 50 ms pause so that the idle
OpenMP pool stops spinning), and the load average is recorded with every row: on a shared
2-core machine a busy second core makes 2 threads look worse than they are on a quiet one.
The "crossover" is the smallest n from which 2 threads are at least 10 % faster at every
larger n. Output: benchmarks/results/threshold.json and stdout.
"""
import argparse
import statistics
import sys
import time

import numpy as np

import dlcore
from dlcore import functions as F
from dlcore import layers as L
from dlcore import optimizer as O
from benchmarks._harness import machine_info, write_json


def _loadavg():
    try:
        return [float(a) for a in open("/proc/loadavg").read().split()[:3]]
    except (OSError, ValueError):
        return None


# work per element as the kernels count it for DL_PARALLEL_FOR (csrc/src/tmpl/*.inc): a kernel
# forks when work >= DL_OMP_MIN_WORK (32768) with 2 threads
WORK_PER_ELEMENT = {"relu_forward": 1, "relu_backward": 1, "sigmoid_forward": 20,
                    "softmax_rows": 20, "adam_update": 24, "pool_forward_2x2": 1}


def cases(n):
    """name -> callable doing about n operations on float64 data."""
    rng = np.random.RandomState(0)
    x = rng.randn(n)
    x2 = rng.randn(max(1, n // 100), 100)
    relu = L.Relu()
    relu.forward(x)
    d = rng.randn(n)
    adam = O.Adam()
    p, g = rng.randn(n), rng.randn(n)
    adam.update({"w": p}, {"w": g})
    side = max(2, int(np.sqrt(n / 8)) // 2 * 2)
    px = rng.randn(8, 1, side, side)
    pool = L.Pooling(2, 2)
    return {
        "relu_forward": lambda: relu.forward(x),
        "relu_backward": lambda: relu.backward(d.copy()),
        "sigmoid_forward": lambda: F.sigmoid(x),
        "softmax_rows": lambda: F.softmax(x2),
        "adam_update": lambda: adam.update({"w": p}, {"w": g}),
        "pool_forward_2x2": lambda: pool.forward(px),
    }


def sample(fn, inner):
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--sizes", default="8192,16384,32768,65536,131072,262144,524288,1048576")
    ap.add_argument("--out", default="threshold")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        for name, fn in cases(n).items():
            with dlcore.threads(1):
                fn()
                t0 = time.perf_counter()
                fn()
                inner = max(1, int(0.005 / max(time.perf_counter() - t0, 1e-7)))
            s = {1: [], 2: []}
            load = _loadavg()
            for _ in range(args.reps):
                for th in (1, 2):
                    with dlcore.threads(th):
                        time.sleep(0.05)
                        fn()
                        s[th].append(sample(fn, inner))
            m1, m2 = statistics.median(s[1]), statistics.median(s[2])
            work = WORK_PER_ELEMENT[name] * n
            rows.append({"kernel": name, "n": n, "work": work, "forks": work >= 32768,
                         "us_1thr": 1e6 * m1, "us_2thr": 1e6 * m2,
                         "speedup_2thr": m1 / m2, "loadavg": load})
            print(f"{name:18s} n={n:8d} work={work:9d}{' fork' if work >= 32768 else ' '*5}  1 thr {1e6 * m1:9.1f} us  2 thr {1e6 * m2:9.1f} us  "
                  f"x{m1 / m2:5.2f}  load {load}", flush=True)
    cross = {}
    for name in {r["kernel"] for r in rows}:
        rs = sorted((r for r in rows if r["kernel"] == name), key=lambda r: r["n"])
        c = None
        for i, r in enumerate(rs):
            if all(q["speedup_2thr"] >= 1.1 for q in rs[i:]):
                c = r["n"]
                break
        cross[name] = c
    print("crossover (smallest n from which 2 threads are >= 1.1x faster):", cross)
    path = write_json(args.out, {"command": "python -m benchmarks.bench_threshold " +
                                 " ".join(argv or sys.argv[1:]), "rows": rows,
                                 "crossover": cross, "machine": machine_info()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
