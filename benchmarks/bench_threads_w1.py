"""W1 (TwoLayerNet 784-50-10, batch 100, SGD lr 0.1) on the fused engine, 1 vs 2 OpenMP
threads, dlcore alone in the process (no numpy/torch thread pools interleaved, unlike
benchmarks.suite): does a second thread ever make the small step slower?

    python -m benchmarks.bench_threads_w1 [--reps 15] [--steps 500] [--dtype float64]

Each rep times --steps steps on 1 thread, then on 2 (after 50 warm-up steps each); the two
results are checked bitwise equal first. Prints medians and writes results/threads_w1.json.
"""
import argparse
import os
import statistics
import time

import numpy as np

import dlcore
from benchmarks._harness import machine_info, write_json
from dlcore.engine import FusedTrainer
from dlcore.optimizer import SGD
from dlcore.two_layer_net import TwoLayerNet


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    args = ap.parse_args(argv)
    dt = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    x = rng.random((100, 784)).astype(dt)
    t = rng.integers(0, 10, 100)

    def make():
        np.random.seed(0)
        net = TwoLayerNet(784, 50, 10, dtype=dt)
        return net, FusedTrainer(net, SGD(0.1))

    # same numbers on 1 and 2 threads (checked before timing)
    finals = []
    for n in (1, 2):
        net, ft = make()
        with dlcore.threads(n):
            for _ in range(20):
                ft.step(x, t)
        finals.append(np.concatenate([v.ravel() for v in net.params.values()]))
    if finals[0].tobytes() != finals[1].tobytes():
        raise SystemExit("bench_threads_w1: 1 and 2 threads gave different parameters")

    net, ft = make()
    ms = {1: [], 2: []}
    for _ in range(args.reps):
        for n in (1, 2):
            with dlcore.threads(n):
                for _ in range(50):
                    ft.step(x, t)
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    ft.step(x, t)
                ms[n].append((time.perf_counter() - t0) / args.steps * 1e3)
    med = {n: statistics.median(v) for n, v in ms.items()}
    print(f"W1 fused {args.dtype}: 1 thread {med[1]:.4f} ms/step, 2 threads {med[2]:.4f} "
          f"ms/step (2 vs 1: {med[1] / med[2]:.3f}x); load average {os.getloadavg()[0]:.2f}")
    path = write_json("threads_w1", {"machine": machine_info(), "dtype": args.dtype,
                                     "steps": args.steps, "ms": ms, "median_ms": med,
                                     "load": os.getloadavg()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
