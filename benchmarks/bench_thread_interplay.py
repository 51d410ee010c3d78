"""dlcore and PyTorch in one process: do their OpenMP pools get in each other's way?

Each mode runs in a fresh interpreter (python -m benchmarks.bench_thread_interplay, or run
the file; needs torch): a loop of dlcore Affine.forward (float32, (256,784) @ (784,256)) and/or
torch.mm of the same shapes, median over 9 repetitions of 200 iterations after a warm-up.
    dlcore / torch     one library alone (the other imported, idle), 2 threads
    both               alternating, both on 2 threads (the default)
    both-torch1        alternating, torch.set_num_threads(1)
    both-dlcore1       alternating, dlcore.set_num_threads(1)
    both-limit1        alternating, inside threadpool_limits(1, user_api="openmp")
It prints which OpenMP runtimes are loaded: a source build of dlcore shares torch's libgomp
(same soname), the wheel brings its own renamed copy (two pools). Results are checked first
(dlcore against numpy). Timings are noisy on a shared 2-core machine: run it a few times.
Writes benchmarks/results/thread_interplay.json.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

MODES = ["dlcore", "torch", "both", "both-torch1", "both-dlcore1", "both-limit1"]

_CHILD = r"""
import json, sys, time
import numpy as np
import dlcore, torch, threadpoolctl
from dlcore.layers import Affine
mode = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.standard_normal((256, 784)).astype(np.float32)
W = rng.standard_normal((784, 256)).astype(np.float32)
b = np.zeros(256, np.float32)
a = Affine(W, b)
np.testing.assert_allclose(a.forward(x), x @ W, rtol=1e-4, atol=1e-3)
tx, tW = torch.from_numpy(x.copy()), torch.from_numpy(W.copy())
def dl(): a.forward(x)
def th(): torch.mm(tx, tW)
def both(): th(); dl()
fn = {"dlcore": dl, "torch": th}.get(mode, both)
if mode == "both-torch1": torch.set_num_threads(1)
if mode == "both-dlcore1": dlcore.set_num_threads(1)
lim = threadpoolctl.threadpool_limits(1, user_api="openmp") if mode == "both-limit1" else None
for _ in range(50): fn()
ts = []
for rep in range(9):
    t0 = time.perf_counter()
    for _ in range(200): fn()
    ts.append((time.perf_counter() - t0) / 200 * 1e6)
omp = sorted(d["filepath"].rsplit("/", 1)[-1] for d in threadpoolctl.threadpool_info()
             if d["user_api"] == "openmp")
print(json.dumps({"mode": mode, "us_median": float(np.median(ts)), "us_min": min(ts),
                  "openmp_runtimes": omp, "dlcore_file": dlcore.__file__,
                  "torch": torch.__version__}))
"""


def main():
    rows = []
    for mode in MODES:
        r = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "2"}, timeout=600)
        if r.returncode != 0:
            sys.exit(f"{mode}: {r.stderr}")
        rows.append(json.loads(r.stdout))
    print(f"dlcore from {rows[0]['dlcore_file']}, torch {rows[0]['torch']}")
    print(f"OpenMP runtimes loaded: {', '.join(rows[0]['openmp_runtimes'])}")
    print(f"{'mode':14s} {'median us/iter':>15s} {'min':>10s}")
    for r in rows:
        print(f"{r['mode']:14s} {r['us_median']:15.1f} {r['us_min']:10.1f}")
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "thread_interplay.json"), "w") as f:
        json.dump({"machine": platform.machine(), "cpus": os.cpu_count(),
                   "load": os.getloadavg(), "time": time.time(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
