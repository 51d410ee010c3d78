"""Train steps beside a CPU-burning process: is dlcore's default thread setting fair to a busy
machine? Each configuration runs in its own process (OpenMP reads its environment once):

  default   dlcore as imported (its own choice of threads and OpenMP wait policy)
  1, 2      dlcore.set_num_threads(1 / 2)
  2-spin    2 threads with OMP_WAIT_POLICY=active (libgomp's spinning workers)
  2-passive 2 threads with OMP_WAIT_POLICY=passive (workers sleep between regions)

for the fused train step of W1-W5 (the suite's workloads), with --burners processes spinning
on the CPU meanwhile (default 1: one of a 2-core machine's cores busy). Reports the median
time per step of each configuration and default / best fixed thread count.

    python -m benchmarks.bench_load [--burners 1] [--reps 5] [--workloads W1,W5]

Output: benchmarks/results/load.json and a table on stdout. State the machine's load.
"""
import argparse
import contextlib
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORKER = r'''
import sys, time, json
import numpy as np
import dlcore
from dlcore.engine import FusedTrainer
from dlcore.two_layer_net import TwoLayerNet
from dlcore.multi_layer_net import MultiLayerNet
from dlcore.multi_layer_net_extend import MultiLayerNetExtend
from dlcore.simple_convnet import SimpleConvNet
from dlcore.optimizer import SGD, Adam
w, threads, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
if threads != "default":
    dlcore.set_num_threads(int(threads))
np.random.seed(0)
rng = np.random.default_rng(0)
if w == "W1":
    net, opt, n, shape = TwoLayerNet(784, 50, 10), SGD(0.1), 100, (784,)
elif w == "W2":
    net = MultiLayerNetExtend(784, [100] * 6, 10, use_dropout=True, dropout_ration=0.2)
    opt, n, shape = SGD(0.01), 100, (784,)
elif w == "W3":
    net = MultiLayerNetExtend(784, [100] * 6, 10, use_batchnorm=True)
    opt, n, shape = Adam(0.001), 100, (784,)
elif w == "W4":
    net, opt, n, shape = MultiLayerNet(784, [1024, 1024], 10), Adam(0.001), 256, (784,)
else:
    net, opt, n, shape = SimpleConvNet(), Adam(0.001), 100, (1, 28, 28)
x = rng.random((n,) + shape)
t = rng.integers(0, 10, n)
ft = FusedTrainer(net, opt)
ft.step(x, t)
times = []
end = time.perf_counter() + seconds
while time.perf_counter() < end or len(times) < 3:
    t0 = time.perf_counter()
    ft.step(x, t)
    times.append(time.perf_counter() - t0)
print(json.dumps(sorted(times)[len(times) // 2]))
'''

CONFIGS = {"default": ("default", {}), "1": ("1", {}), "2": ("2", {}),
           "2-spin": ("2", {"OMP_WAIT_POLICY": "active"}),
           "2-passive": ("2", {"OMP_WAIT_POLICY": "passive"})}


def _burn(stop):
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x += 1


@contextlib.contextmanager
def burning(n):
    """n CPU-burning processes for the duration of the block."""
    stop = mp.Event()
    burners = [mp.Process(target=_burn, args=(stop,), daemon=True) for _ in range(n)]
    for b in burners:
        b.start()
    try:
        yield
    finally:
        stop.set()
        for b in burners:
            b.join(timeout=5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--burners", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0, help="per sample")
    ap.add_argument("--workloads", default="W1,W2,W3,W4,W5")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    args = ap.parse_args()
    rows = []
    load0 = os.getloadavg()[0]
    with burning(args.burners):
        for w in args.workloads.split(","):
            samples = {c: [] for c in args.configs.split(",")}
            for r in range(args.reps):
                for c in samples:  # interleaved: every configuration sees the same load
                    threads, extra = CONFIGS[c]
                    env = dict(os.environ, **extra)
                    if not extra:
                        env.pop("OMP_WAIT_POLICY", None)
                    out = subprocess.run([sys.executable, "-c", WORKER, w, threads,
                                          str(args.seconds)], env=env, capture_output=True,
                                         text=True, check=True)
                    samples[c].append(json.loads(out.stdout))
            med = {c: statistics.median(v) for c, v in samples.items()}
            fixed = [med[c] for c in ("1", "2") if c in med]
            row = {"workload": w, "median_ms": {c: 1e3 * v for c, v in med.items()}}
            if fixed and "default" in med:
                row["default_over_best_fixed"] = med["default"] / min(fixed)
            rows.append(row)
            print(w, "  ".join(f"{c} {1e3 * v:7.2f} ms" for c, v in med.items()),
                  f" default/best fixed {row.get('default_over_best_fixed', float('nan')):.2f}",
                  flush=True)
    res = {"burners": args.burners, "cpus": os.cpu_count(), "load_start": load0,
           "load_end": os.getloadavg()[0], "time_utc": time.strftime("%Y-%m-%d %H:%M",
                                                                    time.gmtime()),
           "rows": rows}
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "load.json").write_text(json.dumps(res, indent=1))
    print(f"load average {load0:.2f} -> {res['load_end']:.2f}")


if __name__ == "__main__":
    main()
