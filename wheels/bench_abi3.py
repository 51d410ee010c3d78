"""Per-call cost of the book's small calls in the installed dlcore (abi3 or not).

    python wheels/bench_abi3.py            # prints one JSON line: {call: median us per call}

Run it once per build in alternation (wheels/build.sh --abi3-cost does) and compare medians.
"""
import json
import sys
import timeit

import numpy as np

import dlcore
from dlcore.functions import sigmoid
from dlcore.layers import Affine, Relu, SoftmaxWithLoss

rng = np.random.default_rng(0)
x_relu = rng.standard_normal((100, 50))
x_sig = rng.standard_normal((100, 10))
relu = Relu()
aff_small = Affine(rng.standard_normal((50, 10)), rng.standard_normal(10))
x_small = rng.standard_normal((100, 50))
aff_w1 = Affine(rng.standard_normal((784, 50)) * 0.01, np.zeros(50))
x_w1 = rng.standard_normal((100, 784))
swl = SoftmaxWithLoss()
t = np.eye(10)[rng.integers(0, 10, 100)]
calls = {
    "Relu.forward (100,50)": lambda: relu.forward(x_relu),
    "sigmoid (100,10)": lambda: sigmoid(x_sig),
    "Affine.forward (100,50)@(50,10)": lambda: aff_small.forward(x_small),
    "Affine.forward (100,784)@(784,50)": lambda: aff_w1.forward(x_w1),
    "SoftmaxWithLoss.forward (100,10)": lambda: swl.forward(x_sig, t),
}
dlcore.set_num_threads(1)
out = {"module": dlcore._kernels.__file__.rsplit("/", 1)[-1]}
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 7
for name, f in calls.items():
    n = 2000 if "784" not in name else 300
    f()
    best = sorted(timeit.repeat(f, number=n, repeat=reps))
    out[name] = round(best[len(best) // 2] / n * 1e6, 3)
print(json.dumps(out))
