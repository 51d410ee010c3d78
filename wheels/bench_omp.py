"""A fused training step's time in the installed dlcore, on the OpenMP runtime it loaded.

    python wheels/bench_omp.py THREADS [W4|W5] [STEPS]

Prints one JSON line: the OpenMP library mapped into the process (libgomp or LLVM libomp),
the thread count, and the median / min step time in ms. wheels/build.sh --omp-bench runs it
per runtime, thread count and machine load (idle, or one core kept busy by `yes`).
W4: MultiLayerNet 784-1024-1024-10, batch 256, Adam (f32); W5: SimpleConvNet, batch 100, Adam.
"""
import json
import os
import sys
import time

import numpy as np

import dlcore
from dlcore.engine import FusedTrainer
from dlcore.optimizer import Adam

threads = int(sys.argv[1])
work = sys.argv[2] if len(sys.argv) > 2 else "W4"
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 30
dlcore.set_num_threads(threads)
rng = np.random.default_rng(0)
if work == "W4":
    from dlcore.multi_layer_net import MultiLayerNet
    net = MultiLayerNet(784, [1024, 1024], 10, dtype=np.float32)
    x = rng.random((256, 784), dtype=np.float32)
    t = rng.integers(0, 10, 256)
else:
    from dlcore.simple_convnet import SimpleConvNet
    net = SimpleConvNet(dtype=np.float32)
    x = rng.random((100, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 100)
ft = FusedTrainer(net, Adam(lr=0.001))
for _ in range(3):
    ft.step(x, t)
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    ft.step(x, t)
    times.append((time.perf_counter() - t0) * 1e3)
times.sort()
omp = sorted({line.split()[-1].rsplit("/", 1)[-1] for line in open("/proc/self/maps")
              if "omp" in line.rsplit("/", 1)[-1] and ".so" in line})
print(json.dumps({"omp": omp, "threads": threads, "work": work, "median_ms": round(times[len(times) // 2], 3),
                  "min_ms": round(times[0], 3), "load": os.environ.get("BENCH_LOAD", "")}))
