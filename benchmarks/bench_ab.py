"""Two builds of dlcore side by side in one run: the fused and the book-way train step of the
suite's workloads W1-W5, each build in its own worker process, samples interleaved (A, B,
A, B, ...) so that both see the same machine load. Reports medians and the B/A time ratio.

    python -m benchmarks.bench_ab --a /path/to/site-packages-of-A --b "" [--reps 9] [--pairs 5]

``--a``/``--b`` name a directory put first on the worker's sys.path (a ``pip install
--target`` of a build), or "" for the dlcore that this Python imports. ``--pairs N`` repeats
the whole comparison with N fresh pairs of worker processes and reports, per case, the median
over the pairs of each pair's paired ratio: a process's memory layout alone can move a small
step's time by up to 30 % for as long as the process lives (W1 float32 fused in ten fresh
processes of one build: 0.206-0.277 ms), so one pair is one draw. Run it from a Python
environment without an editable dlcore (its import hook would win over sys.path; the worker
checks and stops). ``--clock cpu`` times the worker's main thread's CPU time instead of the
wall clock (with one thread, all of a step's work runs there), for a shared, busy machine.
Output:
benchmarks/results/ab.json (and a table on stdout). Threads: --threads (default 1).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from ._harness import write_json

WORKER = r'''
import sys, time, json
path = sys.argv[1]
if path:
    sys.path.insert(0, path)
import numpy as np
import dlcore
if path and not dlcore.__file__.startswith(path):
    sys.exit(f"bench_ab: asked for the dlcore under {path}, imported {dlcore.__file__} "
             "(an editable install takes precedence: run from a Python without one)")
from dlcore.engine import FusedTrainer
from dlcore.two_layer_net import TwoLayerNet
from dlcore.multi_layer_net import MultiLayerNet
from dlcore.multi_layer_net_extend import MultiLayerNetExtend
from dlcore.simple_convnet import SimpleConvNet
from dlcore.optimizer import SGD, Adam
dlcore.set_num_threads(int(sys.argv[2]))
clock = time.thread_time if sys.argv[3] == "cpu" else time.perf_counter

def make(w, dt):
    np.random.seed(0)
    rng = np.random.default_rng(0)
    if w == "W1":
        net, opt, n, shape = TwoLayerNet(784, 50, 10, dtype=dt), SGD(0.1), 100, (784,)
    elif w == "W2":
        net = MultiLayerNetExtend(784, [100] * 6, 10, use_dropout=True, dropout_ration=0.2,
                                  dtype=dt)
        opt, n, shape = SGD(0.01), 100, (784,)
    elif w == "W3":
        net = MultiLayerNetExtend(784, [100] * 6, 10, use_batchnorm=True, dtype=dt)
        opt, n, shape = Adam(0.001), 100, (784,)
    elif w == "W4":
        net, opt, n, shape = MultiLayerNet(784, [1024, 1024], 10, dtype=dt), Adam(0.001), 256, (784,)
    else:
        net, opt, n, shape = SimpleConvNet(dtype=dt), Adam(0.001), 100, (1, 28, 28)
    x = rng.random((n,) + shape).astype(dt)
    t = rng.integers(0, 10, n)
    return net, opt, x, t

cases = {}
for line in sys.stdin:
    w, dt, impl, iters = line.split()
    key = (w, dt, impl)
    if key not in cases:
        net, opt, x, t = make(w, np.dtype(dt))
        if impl == "fused":
            ft = FusedTrainer(net, opt)
            fn = lambda ft=ft, x=x, t=t: ft.step(x, t)
        else:
            def fn(net=net, opt=opt, x=x, t=t):
                opt.update(net.params, net.gradient(x, t))
        fn()
        cases[key] = fn
    fn = cases[key]
    t0 = clock()
    for _ in range(int(iters)):
        fn()
    print(json.dumps((clock() - t0) / int(iters)), flush=True)
'''

ITERS = {"W1": 40, "W2": 20, "W3": 20, "W4": 4, "W5": 6}


def run_pair(args, k):
    """One comparison on a fresh pair of worker processes: a row per case."""
    workers = {}
    for name, path in (("A", args.a), ("B", args.b)):
        workers[name] = subprocess.Popen([sys.executable, "-c", WORKER, path, str(args.threads),
                                          args.clock],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True)

    def sample(name, w, dt, impl):
        p = workers[name]
        p.stdin.write(f"{w} {dt} {impl} {ITERS[w]}\n")
        p.stdin.flush()
        return json.loads(p.stdout.readline())

    rows = []
    tag = f"pair {k + 1}/{args.pairs} " if args.pairs > 1 else ""
    for w in args.workloads.split(","):
        for dt in args.dtypes.split(","):
            for impl in args.impls.split(","):
                for name in ("A", "B"):  # warm-up
                    sample(name, w, dt, impl)
                times = {"A": [], "B": []}
                for r in range(args.reps):
                    order = ("A", "B") if r % 2 == 0 else ("B", "A")
                    for name in order:
                        times[name].append(sample(name, w, dt, impl))
                ma, mb = statistics.median(times["A"]), statistics.median(times["B"])
                paired = statistics.median(b / a for a, b in zip(times["A"], times["B"]))
                rows.append({"workload": w, "dtype": dt, "impl": impl, "a_ms": 1e3 * ma,
                             "b_ms": 1e3 * mb, "b_over_a": mb / ma, "paired_b_over_a": paired})
                print(f"{tag}{w} {dt:8s} {impl:6s} A {1e3 * ma:8.2f} ms  B {1e3 * mb:8.2f} ms  "
                      f"B/A {mb / ma:5.3f} (paired {paired:5.3f})", flush=True)
    for p in workers.values():
        p.stdin.close()
        p.wait()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--pairs", type=int, default=1,
                    help="fresh pairs of worker processes; the median over them is reported")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workloads", default="W1,W2,W3,W4,W5")
    ap.add_argument("--impls", default="fused,book")
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: the worker's main-thread CPU time (time.thread_time), which "
                         "time slices lost to other processes do not inflate; one thread only")
    args = ap.parse_args()
    if args.pairs < 1 or args.reps < 1:
        ap.error(f"--pairs and --reps must be >= 1; got {args.pairs} and {args.reps}")
    if args.clock == "cpu" and args.threads != 1:
        ap.error("--clock cpu measures one thread: use it with --threads 1")
    load0 = os.getloadavg()[0]
    per_pair = [run_pair(args, k) for k in range(args.pairs)]
    rows = per_pair[0]
    if args.pairs > 1:
        rows = []
        for i, first in enumerate(per_pair[0]):
            ratios = [pp[i]["paired_b_over_a"] for pp in per_pair]
            row = {key: first[key] for key in ("workload", "dtype", "impl")}
            row.update(a_ms=statistics.median(pp[i]["a_ms"] for pp in per_pair),
                       b_ms=statistics.median(pp[i]["b_ms"] for pp in per_pair),
                       paired_b_over_a=statistics.median(ratios), pairs=ratios)
            row["b_over_a"] = row["b_ms"] / row["a_ms"]
            rows.append(row)
            print(f"{row['workload']} {row['dtype']:8s} {row['impl']:6s} median over "
                  f"{args.pairs} pairs: paired B/A {row['paired_b_over_a']:5.3f} "
                  f"(pairs {', '.join(f'{r:.3f}' for r in ratios)})", flush=True)
    res = {"a": args.a, "b": args.b, "threads": args.threads, "reps": args.reps,
           "pairs": args.pairs,
           "clock": args.clock,
           "load_start": load0, "load_end": os.getloadavg()[0],
           "time_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "rows": rows}
    write_json("ab", res)
    print(f"load average {load0:.2f} -> {res['load_end']:.2f}")


if __name__ == "__main__":
    main()
