"""OpenMP forks: which training steps open parallel regions (counted in C by
``dlcore._kernels.fork_count``), and forked kernels give the serial kernels' bits at any fork
threshold (``dlcore._kernels.fork_min_work``)."""
import numpy as np
import pytest

import dlcore
from conftest import assert_close
from dlcore import _kernels
from dlcore.engine import FusedTrainer
from dlcore.multi_layer_net import MultiLayerNet
from dlcore.multi_layer_net_extend import MultiLayerNetExtend
from dlcore.optimizer import SGD, Adam
from dlcore.two_layer_net import TwoLayerNet


@pytest.fixture(autouse=True)
def _restore_threshold():
    old = _kernels.fork_min_work()
    yield
    _kernels.fork_min_work(old)


def _batch(n, d, dtype, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.rand(n, d).astype(dtype)
    t = rng.randint(0, 10, n)
    return x, t


def _forks_per_step(step, threads, steps=3):
    with dlcore.threads(threads):
        step()  # the first call builds the engine's workspaces
        c0 = _kernels.fork_count()
        for _ in range(steps):
            step()
        return (_kernels.fork_count() - c0) / steps


# dlcore's own tiled GEMM (the avx2/avx512 kernel paths, unless DLCORE_GEMM=blas) keeps W1's
# 7.8 MFLOP products on one thread. On the BLAS path they are cut into fixed row blocks that do
# fork, and there the split pays (W1 on 2 threads vs 1, `DLCORE_GEMM=blas python -m
# benchmarks.bench_fork_work --workloads W1`, 2026-11-23 19:05 UTC: fused 1.35x / 1.53x, book
# 1.55x / 1.30x, f64 / f32; with DLCORE_CPU=baseline 1.73x / 1.53x and 1.65x / 1.29x).
OWN_GEMM = _kernels.gemm_own() and dlcore.config()["kernel_path"] != "baseline"
needs_own_gemm = pytest.mark.skipif(not OWN_GEMM, reason="W1's products fork on the BLAS path")


def _w1(dtype):
    np.random.seed(0)
    return TwoLayerNet(784, 50, 10, dtype=dtype), SGD(lr=0.1)


@needs_own_gemm
def test_w1_fused_step_opens_no_parallel_region(dtype):
    """Issue 6's W1 (784-50-10, batch 100, SGD): its products are below DL_OWN_GEMM_FORK_FLOP,
    its update below DL_ENGINE_UPDATE_FORK and its elementwise work below the fork threshold,
    so 2 threads run the 1-thread code: the guarantee behind "2 threads never slower on W1"."""
    net, opt = _w1(dtype)
    ft = FusedTrainer(net, opt)
    x, t = _batch(100, 784, dtype)
    assert _forks_per_step(lambda: ft.step(x, t), 2) == 0


@needs_own_gemm
def test_w1_book_way_opens_no_parallel_region(dtype):
    net, opt = _w1(dtype)
    x, t = _batch(100, 784, dtype)
    assert _forks_per_step(lambda: opt.update(net.params, net.gradient(x, t)), 2) == 0


def test_large_step_forks_on_two_threads_and_never_on_one():
    """The counter can move: W4's first product (256 x 784 x 1024, 411 MFLOP) splits."""
    np.random.seed(0)
    net = MultiLayerNet(784, [1024], 10)
    ft = FusedTrainer(net, Adam())
    x, t = _batch(256, 784, np.float64)
    assert _forks_per_step(lambda: ft.step(x, t), 1) == 0
    assert _forks_per_step(lambda: ft.step(x, t), 2) >= 1


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "book"])
@pytest.mark.parametrize("many", [2, 4])
def test_forced_forks_give_the_serial_bits(dtype, fused, many):
    """With the threshold at 1 operation every DL_PARALLEL_FOR of more than one block forks
    (batch norm, dropout, relu, softmax, the optimizers), on 2 threads and on 4 (more threads
    than this machine class has cores: the team sizes differ, the blocks do not): 5 Adam steps
    of a batch-norm dropout net end with the same parameters, bit for bit, as on 1 thread."""
    x, t = _batch(64, 784, dtype, seed=3)
    out, forks = [], []
    for threads in (1, many):
        np.random.seed(1)
        net = MultiLayerNetExtend(784, [100, 100], 10, use_batchnorm=True, use_dropout=True,
                                  dropout_ration=0.2, dtype=dtype)
        opt = Adam()
        if fused:
            ft = FusedTrainer(net, opt, dropout="fast", seed=5)

            def step():
                ft.step(x, t)
        else:
            def step():
                opt.update(net.params, net.gradient(x, t))
        _kernels.fork_min_work(1)
        with dlcore.threads(threads):
            c0 = _kernels.fork_count()
            for _ in range(5):
                step()
            forks.append(_kernels.fork_count() - c0)
        out.append({k: v.copy() for k, v in net.params.items()})
    assert forks[0] == 0 and forks[1] > 10, forks
    for k in out[0]:
        np.testing.assert_array_equal(out[1][k], out[0][k], err_msg=k)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan")])
def test_fork_min_work_rejects_non_positive(bad):
    before = _kernels.fork_min_work()
    with pytest.raises(ValueError, match="expected a positive number"):
        _kernels.fork_min_work(bad)
    assert _kernels.fork_min_work() == before


def test_fork_min_work_returns_the_previous_value():
    before = _kernels.fork_min_work()
    assert _kernels.fork_min_work(12345) == before
    assert _kernels.fork_min_work() == 12345


def _predict_net(kind, dtype):
    np.random.seed(2)
    if kind == "mlp":  # batch norm and dropout in test mode: running statistics, 1 - p
        net = MultiLayerNetExtend(784, [60, 40], 10, use_batchnorm=True, use_dropout=True,
                                  dropout_ration=0.3, dtype=dtype)
        x, t = _batch(32, 784, dtype, seed=4)
        xt, _ = _batch(250, 784, dtype, seed=5)
        return net, x, t, xt, "W1", "Affine1"
    from dlcore.simple_convnet import SimpleConvNet
    net = SimpleConvNet(input_dim=(1, 12, 12), conv_param={"filter_num": 6, "filter_size": 3,
                        "pad": 1, "stride": 1}, hidden_size=20, dtype=dtype)
    x, t = _batch(32, 144, dtype, seed=4)
    xt, _ = _batch(250, 144, dtype, seed=5)
    return net, x.reshape(-1, 1, 12, 12), t, xt.reshape(-1, 1, 12, 12), "W1", "Conv1"


@pytest.mark.parametrize("kind", ["mlp", "convnet"])
@pytest.mark.parametrize("many", [2, 4])
def test_parallel_predict_gives_the_one_thread_bits(dtype, kind, many):
    """FusedTrainer.predict splits its batch-capacity chunks (here 8 of 32 rows, the last
    partial) between the threads, each on its own copy of the activations: the same bits
    as on one thread, and still right after the parameters are replaced by new arrays (the
    copies must not keep the old pointers)."""
    net, x, t, xt, wkey, layer = _predict_net(kind, dtype)
    ft = FusedTrainer(net, SGD(lr=0.1))
    for _ in range(3):
        ft.step(x, t)
    with dlcore.threads(1):
        one = ft.predict(xt)
    c0 = _kernels.fork_count()
    with dlcore.threads(many):
        two = ft.predict(xt)
    assert _kernels.fork_count() > c0  # the chunks did go to several threads
    np.testing.assert_array_equal(two, one)
    assert_close(one, net.predict(xt), dtype, scale=10.0)  # test mode by default

    new = net.params[wkey] * 0.5  # a new array in the dict and in the layer
    net.params[wkey] = new
    setattr(net.layers[layer], "W", new)
    with dlcore.threads(many):
        after = ft.predict(xt)
    assert not np.array_equal(after, two)
    with dlcore.threads(1):
        np.testing.assert_array_equal(ft.predict(xt), after)
    assert_close(after, net.predict(xt), dtype, scale=10.0)  # test mode by default
