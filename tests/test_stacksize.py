"""Small OpenMP thread stacks (OMP_STACKSIZE=16K/64K, as some HPC sites set): no kernel keeps
large arrays on a worker's stack, so the fused and per-layer conv nets train and predict on 2
threads with every loop forking. In a subprocess, so that a stack overflow fails only this
test."""
import os
import subprocess
import sys

import pytest

PROBE = r"""
import numpy as np, dlcore
from dlcore.simple_convnet import SimpleConvNet
from dlcore.deep_convnet import DeepConvNet
from dlcore.multi_layer_net_extend import MultiLayerNetExtend
from dlcore.engine import FusedTrainer
from dlcore.optimizer import Adam
dlcore._kernels.fork_min_work(1)
with dlcore.threads(2):
    nets = ((SimpleConvNet(), (1, 28, 28)), (DeepConvNet(), (1, 28, 28)),
            (MultiLayerNetExtend(784, [100] * 3, 10, use_batchnorm=True, use_dropout=True),
             (784,)))
    for net, shape in nets:
        ft = FusedTrainer(net, Adam())
        x = np.random.rand(16, *shape)
        t = np.arange(16) % 10
        for _ in range(2):
            ft.step(x, t)
        ft.predict(np.random.rand(300, *shape))
        net.gradient(x, t)
        net.predict(x)
print("ok")
"""


@pytest.mark.parametrize("size", ["16K", "64K"])
def test_small_openmp_stacks(size):
    if size == "16K" and "libasan" in os.environ.get("LD_PRELOAD", ""):
        # tools/sanitize.sh: ASan's redzones around every stack object make frames several
        # times larger (the deepest frame, 4.7 KB in the release build, overflowed 16K there)
        pytest.skip("16K stacks are for the uninstrumented build; 64K runs under ASan")
    env = dict(os.environ, OMP_STACKSIZE=size)
    for _ in range(2):  # an overflow depends on which thread runs what: try twice
        r = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-2000:])
