"""The fused training engine (dlcore.engine): same results as the per-layer path, the same
bits on 1 and 2 threads, no allocation per step, the book's dropout stream, rebinding.

The reference is dlcore's per-layer path (the layers' forward/backward and the optimizers'
update, themselves tested against the numpy oracle), on a network built the book's way
(MultiLayerNetExtend's layer order and names) by the helper class below, so these tests do not
depend on the networks module."""
import tracemalloc
from collections import OrderedDict

import numpy as np
import pytest

import dlcore
from dlcore import _kernels
from dlcore import layers as L
from dlcore import optimizer as O
from dlcore.engine import FusedTrainer, NotFusable, fused_step, supports
from conftest import assert_close, assert_same_bits


class Net:
    """Affine{i} [BatchNorm{i}] Activation_function{i} [Dropout{i}] ... Affine{L+1}, the
    book's MultiLayerNetExtend structure; gradient() is the book's."""

    def __init__(self, sizes, dtype=np.float64, act="relu", dropout=None, bn=False, wd=0.0,
                 seed=0, inverted=False):
        rng = np.random.RandomState(seed)
        self.params, self.layers = {}, OrderedDict()
        self.weight_decay_lambda = wd
        n = len(sizes) - 1
        for i in range(1, n + 1):
            self.params[f"W{i}"] = (np.sqrt(2.0 / sizes[i - 1]) *
                                    rng.randn(sizes[i - 1], sizes[i])).astype(dtype)
            self.params[f"b{i}"] = (0.1 * rng.randn(sizes[i])).astype(dtype)
        for i in range(1, n + 1):
            self.layers[f"Affine{i}"] = L.Affine(self.params[f"W{i}"], self.params[f"b{i}"])
            if i == n:
                break
            if bn:
                self.params[f"gamma{i}"] = (1 + 0.1 * rng.randn(sizes[i])).astype(dtype)
                self.params[f"beta{i}"] = (0.1 * rng.randn(sizes[i])).astype(dtype)
                self.layers[f"BatchNorm{i}"] = L.BatchNormalization(
                    self.params[f"gamma{i}"], self.params[f"beta{i}"],
                    running_mean=np.zeros(sizes[i], dtype), running_var=np.zeros(sizes[i], dtype))
            self.layers[f"Activation_function{i}"] = L.Relu() if act == "relu" else L.Sigmoid()
            if dropout is not None:
                self.layers[f"Dropout{i}"] = L.Dropout(dropout, inverted=inverted)
        self.last_layer = L.SoftmaxWithLoss()
        self.n = n

    def predict(self, x, train_flg=False):
        for key, layer in self.layers.items():
            x = layer.forward(x, train_flg) if ("Dropout" in key or "BatchNorm" in key) \
                else layer.forward(x)
        return x

    def decay(self):
        return sum(0.5 * self.weight_decay_lambda * np.sum(self.params[f"W{i}"] ** 2)
                   for i in range(1, self.n + 1))

    def loss(self, x, t, train_flg=False):
        return self.last_layer.forward(self.predict(x, train_flg), t) + self.decay()

    def gradient(self, x, t):
        self.loss(x, t, train_flg=True)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        g = {}
        for i in range(1, self.n + 1):
            a = self.layers[f"Affine{i}"]
            g[f"W{i}"] = a.dW + self.weight_decay_lambda * a.W
            g[f"b{i}"] = a.db
            if f"BatchNorm{i}" in self.layers:
                g[f"gamma{i}"] = self.layers[f"BatchNorm{i}"].dgamma
                g[f"beta{i}"] = self.layers[f"BatchNorm{i}"].dbeta
        return g


OPTS = {"SGD": dict(lr=0.1), "Momentum": dict(lr=0.05), "Nesterov": dict(lr=0.05),
        "AdaGrad": dict(lr=0.05), "RMSprop": dict(lr=0.01), "Adam": dict(lr=0.01)}


def batch(n, d, classes=10, seed=1, dtype=np.float32):
    rng = np.random.RandomState(seed)
    return rng.rand(n, d).astype(dtype), rng.randint(0, classes, n)


def states(opt):
    out = {}
    for attr in ("v", "h", "m"):
        d = getattr(opt, attr, None)
        if isinstance(d, dict):
            out.update({f"{attr}.{k}": v for k, v in d.items()})
    return out


def assert_nets_close(a, b, dtype, what=""):
    for k in a.params:
        assert_close(b.params[k], a.params[k], dtype, scale=np.abs(a.params[k]).max())
    for k, layer in a.layers.items():
        if isinstance(layer, L.BatchNormalization):
            other = b.layers[k]
            assert_close(other.running_mean, layer.running_mean, dtype, scale=1.0)
            assert_close(other.running_var, layer.running_var, dtype, scale=1.0)


CONFIGS = [
    dict(),
    dict(act="sigmoid"),
    dict(dropout=0.2),
    dict(dropout=0.3, inverted=True),
    dict(bn=True),
    dict(bn=True, dropout=0.25, wd=0.01),
    dict(wd=0.05),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
@pytest.mark.parametrize("opt", list(OPTS))
def test_fused_matches_per_layer(cfg, opt, dtype):
    sizes = [20, 16, 12, 10]
    a, b = Net(sizes, dtype, **cfg), Net(sizes, dtype, **cfg)
    oa, ob = getattr(O, opt)(**OPTS[opt]), getattr(O, opt)(**OPTS[opt])
    ft = FusedTrainer(b, ob)
    for step in range(4):
        x, t = batch(8, 20, seed=step)
        np.random.seed(100 + step)
        ga = a.gradient(x, t)
        la = a.last_layer.loss + a.decay()
        oa.update(a.params, ga)
        np.random.seed(100 + step)
        lb = ft.step(x, t)
        assert lb.dtype == np.dtype(dtype)
        assert_close(lb, la, dtype, scale=abs(float(la)) + 1)
    assert_nets_close(a, b, dtype)
    sa, sb = states(oa), states(ob)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert_close(sb[k], sa[k], dtype, scale=np.abs(sa[k]).max() + 1e-30)
    if opt == "Adam":
        assert oa.iter == ob.iter == 4


def test_f64_bitwise_equal_to_per_layer_without_batchnorm():
    """Same kernels over the same blocks: the fused path reproduces the per-layer bits."""
    sizes = [300, 200, 64, 10]
    a, b = Net(sizes, dropout=0.2, wd=0.01), Net(sizes, dropout=0.2, wd=0.01)
    oa, ob = O.Adam(lr=0.01), O.Adam(lr=0.01)
    ft = FusedTrainer(b, ob)
    x, t = batch(150, 300)
    for step in range(3):
        np.random.seed(step)
        oa.update(a.params, a.gradient(x, t))
        np.random.seed(step)
        ft.step(x, t)
    for k in a.params:
        np.testing.assert_array_equal(b.params[k], a.params[k])


def test_grads_equal_book_gradient_and_two_halves(dtype):
    a, b = Net([30, 25, 10], dtype, bn=True, wd=0.1), Net([30, 25, 10], dtype, bn=True, wd=0.1)
    x, t = batch(16, 30)
    ga = a.gradient(x, t)
    ft = FusedTrainer(b, O.SGD(lr=0.1))
    gb = ft.gradient(x, t)
    assert sorted(gb) == sorted(ga)
    for k in ga:
        assert_close(gb[k], ga[k], dtype, scale=np.abs(ga[k]).max())
    assert_close(ft.last_loss, a.last_layer.loss + a.decay(), dtype, scale=10)
    # the second half applies exactly optimizer.update(params, grads)
    O.SGD(lr=0.1).update(a.params, ga)
    ft.update()
    for k in a.params:
        assert_close(b.params[k], a.params[k], dtype, scale=1.0)


@pytest.mark.parametrize("mode", ["book", "fast"])
def test_same_bits_on_1_and_2_threads(mode, dtype):
    """Sizes above the OpenMP threshold, so that 2 threads really split the work."""
    def run():
        net = Net([400, 300, 200, 10], dtype, dropout=0.3, bn=True)
        ft = FusedTrainer(net, O.Adam(lr=0.01), dropout=mode, seed=5)
        x, t = batch(256, 400)
        np.random.seed(3)
        losses = [ft.step(x, t) for _ in range(3)]
        return [np.array(losses)] + [net.params[k].copy() for k in sorted(net.params)]

    with dlcore.threads(2):
        assert dlcore.get_num_threads() == 2
    res = []
    for n in (1, 2):
        with dlcore.threads(n):
            res.append(run())
    assert_same_bits(res)


def test_book_dropout_masks_are_numpys_stream():
    net = Net([12, 9, 7, 4], dropout=0.4)
    ft = FusedTrainer(net, O.SGD())
    x, t = batch(5, 12, classes=4)
    np.random.seed(42)
    ft.gradient(x, t)
    after = np.random.rand()
    rs = np.random.RandomState(42)
    want = [rs.rand(5, 9) > 0.4, rs.rand(5, 7) > 0.4]
    got = ft.dropout_masks()
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)
    assert after == rs.rand()  # the global stream advanced by exactly the book's draws


def test_fast_dropout_masks():
    net = Net([64, 400, 10], dropout=0.25)
    ft = FusedTrainer(net, O.SGD(lr=0.01), dropout="fast", seed=9)
    x, t = batch(200, 64)
    state = np.random.get_state()[1].copy()
    ft.gradient(x, t)
    m1 = ft.dropout_masks()[0]
    ft.gradient(x, t)
    m2 = ft.dropout_masks()[0]
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # numpy's RNG untouched
    assert abs(m1.mean() - 0.75) < 0.01 and abs(m2.mean() - 0.75) < 0.01
    assert (m1 != m2).mean() > 0.3  # a new mask every step
    other = FusedTrainer(Net([64, 400, 10], dropout=0.25), O.SGD(lr=0.01), dropout="fast", seed=9)
    other.gradient(x, t)
    np.testing.assert_array_equal(other.dropout_masks()[0], m1)  # reproducible from the seed


def test_no_allocation_per_step():
    net = Net([100, 80, 60, 10], dropout=0.2, bn=True)
    ft = FusedTrainer(net, O.Adam(lr=0.001))
    x, t = batch(64, 100)
    for _ in range(3):
        ft.step(x, t)
    c0 = _kernels.engine_alloc_count()
    tracemalloc.start()
    try:
        ft.step(x, t)
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(50):
            ft.step(x, t)
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _kernels.engine_alloc_count() == c0
    # one (64, 80) float64 array alone would be 40 KB; a step keeps only scalars around
    assert cur - base < 2048, (base, cur)
    assert peak - base < 4096, (base, peak)


def test_switching_paths_keeps_state():
    """Per-layer steps, then fused, then per-layer again == per-layer all along."""
    a, b = Net([20, 15, 10], bn=True, dropout=0.1), Net([20, 15, 10], bn=True, dropout=0.1)
    oa, ob = O.Adam(lr=0.01), O.Adam(lr=0.01)
    ft = FusedTrainer(b, ob)
    for step in range(6):
        x, t = batch(10, 20, seed=step)
        np.random.seed(step)
        oa.update(a.params, a.gradient(x, t))
        np.random.seed(step)
        if step in (2, 3):
            ft.step(x, t)
        else:
            ob.update(b.params, b.gradient(x, t))
    assert_nets_close(a, b, np.float64)
    for k, v in states(oa).items():
        assert_close(states(ob)[k], v, np.float64, scale=np.abs(v).max() + 1e-30)


def test_rebinds_replaced_params():
    """load_params replaces params entries and rebinds the layers: the engine follows."""
    net = Net([10, 8, 4])
    ft = FusedTrainer(net, O.SGD(lr=0.5))
    x, t = batch(6, 10, classes=4)
    ft.step(x, t)
    new_w = np.full((10, 8), 0.01)
    net.params["W1"] = new_w
    net.layers["Affine1"].W = new_w
    ref = Net([10, 8, 4])
    for k in net.params:
        ref.params[k][...] = net.params[k]
    g = ref.gradient(x, t)
    ft.step(x, t)
    assert net.params["W1"] is new_w
    assert_close(new_w, 0.01 - 0.5 * g["W1"], np.float64, scale=1.0)


def test_predict_matches_per_layer(dtype):
    net = Net([30, 20, 20, 10], dtype, bn=True, dropout=0.3)
    ft = FusedTrainer(net, O.SGD(lr=0.1))
    for s in range(3):
        x, t = batch(16, 30, seed=s)
        ft.step(x, t)
    xt, tt = batch(50, 30, seed=9)  # more rows than the batch capacity: chunked
    got, want = ft.predict(xt), net.predict(xt, train_flg=False)
    if ft.predicts_like_layers:  # the own kernels: each row the same bits in any chunk
        np.testing.assert_array_equal(got, want)
        onehot = np.eye(10)[tt]
        hits = np.sum(np.argmax(want, axis=1) == tt) / 50.0
        assert ft.accuracy(xt, tt) == hits == ft.accuracy(xt, onehot)
    else:  # the BLAS cuts chunks and whole batch into other row blocks
        assert_close(got, want, dtype, scale=10.0)
    own = _kernels.gemm_own() and _kernels.isa_selected() != "baseline"
    assert ft.predicts_like_layers == own


def test_fused_loop_reproduces_the_book_loop():
    """backprop-mnist's loop on the engine (step with SGD, loss after the update, accuracy)
    against the book's (net.gradient, params -= lr * grad, net.loss, net.accuracy): the same
    losses, parameters and accuracies bit for bit."""
    from dlcore.two_layer_net import TwoLayerNet
    rng = np.random.RandomState(3)
    x = rng.rand(300, 64)
    t = rng.randint(0, 10, 300)
    runs = []
    for fused in (False, True):
        np.random.seed(0)
        net = TwoLayerNet(64, 20, 10)
        ft = FusedTrainer(net, O.SGD(lr=0.3)) if fused else None
        losses, accs = [], []
        for i in range(40):
            m = np.random.choice(300, 25)
            if fused:
                ft.step(x[m], t[m])
                losses.append(ft.loss(x[m], t[m]))
                accs.append(ft.accuracy(x, t))
            else:
                g = net.gradient(x[m], t[m])
                for k in ("W1", "b1", "W2", "b2"):
                    net.params[k] -= 0.3 * g[k]
                losses.append(net.loss(x[m], t[m]))
                accs.append(net.accuracy(x, t))
        runs.append((losses, accs, {k: v.copy() for k, v in net.params.items()}))
    (l0, a0, p0), (l1, a1, p1) = runs
    assert l1 == l0
    for k in p0:
        np.testing.assert_array_equal(p1[k], p0[k])
    assert a1 == a0


def test_fused_step_cache_and_inputs():
    net = Net([6, 5, 3])
    opt = O.SGD(lr=0.1)
    x = np.arange(24, dtype=np.uint8).reshape(4, 6)  # uint8 input, converted in C
    t = np.array([0, 1, 2, 1], dtype=np.uint8)
    l1 = fused_step(net, opt, x, t)
    l2 = fused_step(net, opt, x.astype(np.float32), t.astype(np.int32))
    assert np.isfinite(l1) and np.isfinite(l2) and l2 != l1
    onehot = np.eye(3)[t]
    ref = Net([6, 5, 3])
    for k in net.params:
        ref.params[k][...] = net.params[k]
    g = ref.gradient(x.astype(np.float64), onehot)
    ft = FusedTrainer(net)
    gb = ft.gradient(x, onehot)
    for k in g:
        assert_close(gb[k], g[k], np.float64, scale=np.abs(g[k]).max())


def test_errors():
    net = Net([6, 5, 3])
    ft = FusedTrainer(net, O.SGD())
    with pytest.raises(IndexError, match="labels"):
        ft.gradient(np.ones((2, 6)), np.array([0, 3]))
    with pytest.raises(ValueError, match="expected dropout"):
        FusedTrainer(net, dropout="nope")

    class Odd:
        def forward(self, x):
            return x

    net.layers["Odd"] = Odd()
    ok, why = supports(net)
    assert not ok and "Odd" in why
    with pytest.raises(NotFusable, match="not a dlcore layer"):
        FusedTrainer(net)
    with pytest.raises(ValueError, match="call gradient first"):
        FusedTrainer(Net([6, 5, 3]), O.SGD()).update()


class ConvNet:
    """SimpleConvNet's structure (conv-relu-pool-affine-relu-affine), or with deep=True a
    DeepConvNet-like start (conv-relu-conv(pad 1)-relu-pool ... dropout), small sizes."""

    def __init__(self, dtype=np.float64, deep=False, seed=0):
        rng = np.random.RandomState(seed)
        self.params, self.layers = {}, OrderedDict()
        p = self.params
        p["W1"] = (0.3 * rng.randn(4, 2, 3, 3)).astype(dtype)
        p["b1"] = (0.1 * rng.randn(4)).astype(dtype)
        self.layers["Conv1"] = L.Convolution(p["W1"], p["b1"], stride=1, pad=1 if deep else 0)
        self.layers["Relu1"] = L.Relu()
        c, hw = 4, 9 if not deep else 11  # conv1 output side (11 - 3 + 1, or pad 1)
        if deep:
            p["Wd"] = (0.2 * rng.randn(6, 4, 3, 3)).astype(dtype)
            p["bd"] = (0.1 * rng.randn(6)).astype(dtype)
            self.layers["Conv2"] = L.Convolution(p["Wd"], p["bd"], stride=2, pad=1)
            self.layers["Relu2"] = L.Relu()
            c, hw = 6, 6
        self.layers["Pool1"] = L.Pooling(2, 2, stride=2)
        d = c * (hw // 2) ** 2
        p["W2"] = (0.2 * rng.randn(d, 12)).astype(dtype)
        p["b2"] = (0.1 * rng.randn(12)).astype(dtype)
        p["W3"] = (0.2 * rng.randn(12, 5)).astype(dtype)
        p["b3"] = (0.1 * rng.randn(5)).astype(dtype)
        self.layers["Affine1"] = L.Affine(p["W2"], p["b2"])
        self.layers["Relu3"] = L.Relu()
        if deep:
            self.layers["Dropout1"] = L.Dropout(0.3)
        self.layers["Affine2"] = L.Affine(p["W3"], p["b3"])
        self.last_layer = L.SoftmaxWithLoss()

    def gradient(self, x, t):
        for key, layer in self.layers.items():
            x = layer.forward(x, True) if "Dropout" in key else layer.forward(x)
        self.last_layer.forward(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        g = {}
        for key, layer in self.layers.items():
            if key.startswith(("Conv", "Affine")):
                for attr, grad in (("W", layer.dW), ("b", layer.db)):
                    k = next(k for k, v in self.params.items() if v is getattr(layer, attr))
                    g[k] = grad
        return g


@pytest.mark.parametrize("deep", [False, True], ids=["simple", "deep"])
def test_convnet_fused_matches_per_layer(deep, dtype):
    a, b = ConvNet(dtype, deep), ConvNet(dtype, deep)
    oa, ob = O.Adam(lr=0.01), O.Adam(lr=0.01)
    ft = FusedTrainer(b, ob)
    rng = np.random.RandomState(3)
    for step in range(3):
        x = rng.rand(7, 2, 11, 11).astype(np.float32)
        t = rng.randint(0, 5, 7)
        np.random.seed(step)
        oa.update(a.params, a.gradient(x, t))
        np.random.seed(step)
        ft.step(x, t)
    for k in a.params:
        assert_close(b.params[k], a.params[k], dtype, scale=np.abs(a.params[k]).max())
    xs = rng.rand(9, 2, 11, 11)
    want = a.layers
    y = xs.astype(dtype)
    for key, layer in want.items():
        y = layer.forward(y, False) if "Dropout" in key else layer.forward(y)
    assert_close(ft.predict(xs), y, dtype, scale=np.abs(y).max())


def test_convnet_same_bits_on_1_and_2_threads():
    def run():
        net = ConvNet(np.float64, deep=True)
        ft = FusedTrainer(net, O.SGD(lr=0.1), dropout="fast")
        x = np.random.RandomState(1).rand(64, 2, 11, 11)
        t = np.arange(64) % 5
        for _ in range(2):
            ft.step(x, t)
        return [net.params[k].copy() for k in sorted(net.params)]
    res = []
    for n in (1, 2):
        with dlcore.threads(n):
            res.append(run())
    assert_same_bits(res)


def _train(net_factory, fused, capsys, **kw):
    from dlcore.trainer import Trainer
    rng = np.random.RandomState(0)
    xtr, ttr = rng.rand(60, 784).astype(np.float32), rng.randint(0, 10, 60).astype(np.uint8)
    xte, tte = rng.rand(40, 784).astype(np.float32), rng.randint(0, 10, 40).astype(np.uint8)
    np.random.seed(3)
    net = net_factory()
    if kw.pop("conv", False):
        xtr, xte = xtr.reshape(-1, 1, 28, 28), xte.reshape(-1, 1, 28, 28)
    tr = Trainer(net, xtr, ttr, xte, tte, epochs=2, mini_batch_size=20, fused=fused, **kw)
    tr.train()
    out = capsys.readouterr().out
    return tr, out, np.random.rand()


def test_trainer_uses_fused_path_with_identical_output(capsys):
    from dlcore.multi_layer_net_extend import MultiLayerNetExtend

    def factory():
        return MultiLayerNetExtend(784, [30, 20], 10, use_dropout=True, dropout_ration=0.2,
                                   use_batchnorm=True)
    kw = dict(optimizer="Adam", optimizer_param={"lr": 0.01})
    a, out_a, rng_a = _train(factory, False, capsys, **kw)
    b, out_b, rng_b = _train(factory, "auto", capsys, **kw)
    assert a._fused is None and b._fused is not None
    assert out_b == out_a and "train loss:" in out_a  # same lines, same digits
    assert rng_a == rng_b  # the same draws from numpy's global RNG
    assert b.train_loss_list == a.train_loss_list and b.test_acc_list == a.test_acc_list
    for k in a.network.params:
        np.testing.assert_array_equal(b.network.params[k], a.network.params[k])


def test_trainer_fused_convnet_and_opt_out(capsys):
    from dlcore.simple_convnet import SimpleConvNet
    from dlcore.two_layer_net import TwoLayerNet
    kw = dict(optimizer="SGD", optimizer_param={"lr": 0.1}, conv=True)
    a, _, _ = _train(lambda: SimpleConvNet(conv_param={"filter_num": 4, "filter_size": 5,
                                                       "pad": 0, "stride": 1}), False, capsys, **kw)
    b, _, _ = _train(lambda: SimpleConvNet(conv_param={"filter_num": 4, "filter_size": 5,
                                                       "pad": 0, "stride": 1}), True, capsys, **kw)
    assert b._fused is not None
    assert_close(np.array(b.train_loss_list), np.array(a.train_loss_list), np.float64, scale=3.0)

    class Custom(TwoLayerNet):  # a user subclass may override gradient: never fused
        pass
    c, _, _ = _train(lambda: Custom(784, 10, 10), "auto", capsys)
    assert c._fused is None
    with pytest.raises(NotFusable):
        _train(lambda: Custom(784, 10, 10), True, capsys)
