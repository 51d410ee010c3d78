"""The fused engine against the per-layer path, bit for bit, on random networks.

The engine is a scheduler over the layers' own kernels, so for every chain it accepts the
losses, gradients, updated parameters, optimizer states, batch-norm running statistics,
dropout masks and predictions must be the same bits as the book's way: ``network.gradient``
(each layer's forward and backward) then ``optimizer.update``. The oracle here is that
per-layer path, itself checked against numpy in test_layers_core / test_conv_pool /
test_norm / test_optim. Networks are drawn from Affine, Relu, Sigmoid, both Dropout styles,
BatchNormalization, Convolution (stride, pad) and Pooling (overlapping windows, stride 1),
in any order a network can have, in float32 and float64, on 1 and 2 threads (the fork
threshold lowered so that every multi-block loop forks), with each of the six optimizers.
"""
import copy
import gc
import subprocess
import sys
import textwrap
import threading
import warnings
import weakref
from collections import OrderedDict

import numpy as np
import pytest

import dlcore
from dlcore import _kernels, engine
from dlcore._nets import weight_decay_loss
from dlcore.engine import FusedTrainer, fused_step
from dlcore.layers import Affine, Relu, Sigmoid, SoftmaxWithLoss
from dlcore._norm import BatchNormalization, Dropout
from dlcore._conv import Convolution, Pooling
from dlcore.optimizer import SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam

OPTIMIZERS = {
    "SGD": lambda: SGD(lr=0.1),
    "Momentum": lambda: Momentum(lr=0.05, momentum=0.8),
    "Nesterov": lambda: Nesterov(lr=0.05, momentum=0.7),
    "AdaGrad": lambda: AdaGrad(lr=0.05),
    "RMSprop": lambda: RMSprop(lr=0.01, decay_rate=0.9),
    "Adam": lambda: Adam(lr=0.01),
}


class Net:
    """A network of dlcore layers trained the book's way (MultiLayerNetExtend's
    ``gradient``): the per-layer path."""

    def __init__(self, params, layers, weight_decay_lambda=0.0):
        self.params = params
        self.layers = layers
        self.last_layer = SoftmaxWithLoss()
        self.weight_decay_lambda = weight_decay_lambda

    def predict(self, x, train_flg=False):
        for layer in self.layers.values():
            if isinstance(layer, (Dropout, BatchNormalization)):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def loss(self, x, t, train_flg=False):
        y = self.predict(x, train_flg)
        ws = [l.W for l in self.layers.values() if isinstance(l, Affine)]
        wd = weight_decay_loss(self.weight_decay_lambda, ws) if self.weight_decay_lambda else 0
        return self.last_layer.forward(y, t) + wd

    def gradient(self, x, t):
        self.last_loss = self.loss(x, t, train_flg=True)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        lam = self.weight_decay_lambda
        grads = {}
        for name, layer in self.layers.items():
            if isinstance(layer, Affine):
                grads["W" + name] = layer.dW + lam * layer.W if lam else layer.dW
                grads["b" + name] = layer.db
            elif isinstance(layer, Convolution):
                grads["W" + name] = layer.dW
                grads["b" + name] = layer.db
            elif isinstance(layer, BatchNormalization):
                grads["gamma" + name] = layer.dgamma
                grads["beta" + name] = layer.dbeta
        return grads


def random_net(seed, dtype):
    """A random chain ending in an Affine to the classes, its input batch and labels."""
    rng = np.random.default_rng(seed)
    N = int(rng.integers(2, 6))
    image = rng.random() < 0.5
    shape = (int(rng.integers(1, 3)), int(rng.integers(4, 8)), int(rng.integers(4, 8))) \
        if image else (int(rng.integers(2, 9)),)
    in_shape = shape
    params, layers = {}, OrderedDict()

    def add_affine(name, out):
        D = int(np.prod(shape))
        W = (0.5 * rng.standard_normal((D, out))).astype(dtype)
        b = (0.1 * rng.standard_normal(out)).astype(dtype)
        params["W" + name], params["b" + name] = W, b
        layers[name] = Affine(W, b)
        return (out,)

    for i in range(int(rng.integers(1, 6))):
        name = str(i)
        choices = ["affine", "relu", "sigmoid", "dropout", "dropout_inv", "bn"]
        if len(shape) == 3:
            choices += ["conv", "conv", "pool", "pool"]
        kind = choices[int(rng.integers(len(choices)))]
        if kind == "affine":
            shape = add_affine(name, int(rng.integers(2, 8)))
        elif kind == "relu":
            layers[name] = Relu()
        elif kind == "sigmoid":
            layers[name] = Sigmoid()
        elif kind in ("dropout", "dropout_inv"):
            layers[name] = Dropout(float(rng.choice([0.0, 0.2, 0.5, 0.9])),
                                   inverted=kind == "dropout_inv")
        elif kind == "bn":
            D = int(np.prod(shape))
            g = (1 + 0.2 * rng.standard_normal(D)).astype(dtype)
            b = (0.1 * rng.standard_normal(D)).astype(dtype)
            params["gamma" + name], params["beta" + name] = g, b
            layers[name] = BatchNormalization(g, b, momentum=float(rng.choice([0.0, 0.5, 0.9])))
        elif kind == "conv":
            C, H, W_ = shape
            fh, fw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
            s, p = int(rng.integers(1, 3)), int(rng.integers(0, 2))
            if H + 2 * p < fh or W_ + 2 * p < fw:
                continue
            FN = int(rng.integers(1, 4))
            Wc = (0.5 * rng.standard_normal((FN, C, fh, fw))).astype(dtype)
            bc = (0.1 * rng.standard_normal(FN)).astype(dtype)
            params["W" + name], params["b" + name] = Wc, bc
            layers[name] = Convolution(Wc, bc, stride=s, pad=p)
            shape = (FN, (H + 2 * p - fh) // s + 1, (W_ + 2 * p - fw) // s + 1)
        elif kind == "pool":
            C, H, W_ = shape
            ph, pw, s = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
            if H < ph or W_ < pw:
                continue
            layers[name] = Pooling(ph, pw, stride=s)
            shape = (C, (H - ph) // s + 1, (W_ - pw) // s + 1)
    classes = int(rng.integers(2, 5))
    add_affine("out", classes)
    lam = float(rng.choice([0.0, 0.0, 0.1]))
    x = rng.standard_normal((N,) + in_shape).astype(dtype)
    t = rng.integers(0, classes, N)
    return Net(params, layers, lam), x, t


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def assert_bits(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (what, a.dtype, b.dtype, a.shape, b.shape)
    if not np.array_equal(bits(a), bits(b)):
        diff = np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))
        raise AssertionError(f"{what}: fused and per-layer differ (max |diff| {diff})")


def compare(net_a, x, t, opt_name, steps=2, change=None):
    """Runs `steps` steps on the per-layer path (net_a) and on the engine (a deep copy) from
    the same numpy RNG state; asserts every observable is the same bits. `change(net, opt,
    step)` edits both sides between steps."""
    net_b = copy.deepcopy(net_a)
    opt_a, opt_b = OPTIMIZERS[opt_name](), OPTIMIZERS[opt_name]()
    ft = FusedTrainer(net_b, opt_b)
    for step in range(steps):
        if change is not None and step > 0:
            change(net_a, opt_a, step)
            change(net_b, opt_b, step)
        np.random.seed(1000 + step)
        grads_a = net_a.gradient(x, t)
        np.random.seed(1000 + step)
        grads_b = ft.gradient(x, t)
        assert_bits(np.asarray(net_a.last_loss, x.dtype), np.asarray(ft.last_loss), "loss")
        for k in grads_a:
            assert_bits(grads_a[k], grads_b[k], f"grad {k} step {step}")
        drops_a = [l.mask for l in net_a.layers.values() if isinstance(l, Dropout)]
        for ma, mb in zip(drops_a, ft.dropout_masks()):
            np.testing.assert_array_equal(ma, mb)
        opt_a.update(net_a.params, grads_a)
        ft.update()
        for k in net_a.params:
            assert_bits(net_a.params[k], net_b.params[k], f"param {k} step {step}")
        for attr in type(opt_a)._states:
            for k in net_a.params:
                assert_bits(getattr(opt_a, attr)[k], getattr(opt_b, attr)[k],
                            f"{opt_name}.{attr}[{k}]")
        for (n, la), lb in zip(net_a.layers.items(), net_b.layers.values()):
            if isinstance(la, BatchNormalization):
                assert_bits(la.running_mean, lb.running_mean, f"running_mean {n}")
                assert_bits(la.running_var, lb.running_var, f"running_var {n}")
    if opt_name == "Adam":
        assert opt_a.iter == opt_b.iter
    assert_bits(net_a.predict(x, False), ft.predict(x), "predict")
    assert_bits(np.asarray(net_a.loss(x, t), x.dtype), np.asarray(ft.loss(x, t)), "test loss")


def _threads(n):
    """dlcore on n threads with every multi-block loop forking (conftest.run_threads)."""
    class _Ctx:
        def __enter__(self):
            self.old = _kernels.fork_min_work(1)
            self.t = dlcore.threads(n)
            self.t.__enter__()

        def __exit__(self, *exc):
            self.t.__exit__(*exc)
            _kernels.fork_min_work(self.old)
    return _Ctx()


# 128 structures x 2 dtypes x 6 optimizers x 2 thread counts = 3072 networks
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_random_networks_fused_equals_per_layer(opt_name, dtype, threads):
    base = {"SGD": 0, "Momentum": 1, "Nesterov": 2, "AdaGrad": 3, "RMSprop": 4, "Adam": 5}
    checked = 0
    with _threads(threads):
        for k in range(128):
            seed = 100000 * base[opt_name] + 1000 * (dtype is np.float32) + k
            net, x, t = random_net(seed, dtype)
            try:
                compare(net, x, t, opt_name)
            except AssertionError as e:
                raise AssertionError(f"seed {seed}: {list(net.layers.items())}: {e}") from e
            checked += 1
    assert checked == 128


def test_generator_covers_every_layer_kind():
    """The random chains above do contain every layer kind, in several orders."""
    seen, pairs = set(), set()
    for k in range(128):
        net, _, _ = random_net(k, np.float64)
        names = [type(l).__name__ + ("Inv" if getattr(l, "inverted", False) else "")
                 for l in net.layers.values()]
        seen.update(names)
        pairs.update(zip(names, names[1:]))
    assert seen >= {"Affine", "Relu", "Sigmoid", "Dropout", "DropoutInv", "BatchNormalization",
                    "Convolution", "Pooling"}
    assert {("Relu", "Sigmoid"), ("Sigmoid", "DropoutInv"), ("Convolution", "Pooling")} <= pairs


# ---------------------------------------------------------------- hyper-parameters between steps
def _mlp(dtype=np.float64, drop=None, bn=False, lam=0.0, act="relu"):
    rng = np.random.default_rng(3)
    params = {"W1": rng.standard_normal((6, 5)).astype(dtype), "b1": np.zeros(5, dtype),
              "W2": rng.standard_normal((5, 3)).astype(dtype), "b2": np.zeros(3, dtype)}
    layers = OrderedDict()
    layers["1"] = Affine(params["W1"], params["b1"])
    if bn:
        params["gammabn"], params["betabn"] = np.ones(5, dtype), np.zeros(5, dtype)
        layers["bn"] = BatchNormalization(params["gammabn"], params["betabn"])
    layers["act"] = Relu() if act == "relu" else Sigmoid()
    if drop is not None:
        layers["drop"] = Dropout(0.5, inverted=drop == "inverted")
    layers["2"] = Affine(params["W2"], params["b2"])
    net = Net(params, layers, lam)
    x = rng.standard_normal((4, 6)).astype(dtype)
    t = np.array([0, 1, 2, 1])
    return net, x, t


@pytest.mark.parametrize("change", ["dropout_ratio", "inverted", "momentum", "weight_decay",
                                    "lr", "beta"])
def test_hyper_parameter_changed_between_steps_is_used(change):
    net, x, t = _mlp(drop="book", bn=True, lam=0.05)

    def edit(n, opt, step):
        if change == "dropout_ratio":
            n.layers["drop"].dropout_ratio = 0.1 * step
        elif change == "inverted":
            n.layers["drop"].inverted = bool(step % 2)
        elif change == "momentum":
            n.layers["bn"].momentum = 0.5 / step
        elif change == "weight_decay":
            n.weight_decay_lambda = 0.3 * step
        elif change == "lr":
            opt.lr = 0.5 / step
        else:
            opt.beta1 = 0.5
    compare(net, x, t, "Adam", steps=4, change=edit)


def test_dropout_ratio_changed_after_first_step_predicts_with_it():
    """The issue's case: ratio changed after the first step was ignored (predict off by 0.75)."""
    net, x, t = _mlp(drop="book")
    ft = FusedTrainer(net, SGD())
    ft.step(x, t)
    net.layers["drop"].dropout_ratio = 0.25
    np.testing.assert_array_equal(ft.predict(x), net.predict(x, False))


def test_weight_decay_changed_after_first_step_is_in_the_gradient():
    net, x, t = _mlp()
    ft = FusedTrainer(net, SGD())
    ft.step(x, t)
    ref = copy.deepcopy(net)
    net.weight_decay_lambda = ref.weight_decay_lambda = 1.0
    g = ft.gradient(x, t)
    gr = ref.gradient(x, t)
    assert_bits(g["W1"], gr["W1"], "W1")


def test_dropout_schedule_from_trainer_callback_matches_per_layer():
    """A dropout schedule set from a Trainer callback: fused and per-layer runs agree."""
    from dlcore.trainer import Trainer
    from dlcore.multi_layer_net_extend import MultiLayerNetExtend

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 8))
    t = rng.integers(0, 3, 60)
    runs = []
    for fused in (False, "auto"):
        np.random.seed(5)
        net = MultiLayerNetExtend(8, [6, 6], 3, use_dropout=True, dropout_ration=0.5)
        drops = [l for l in net.layers.values() if isinstance(l, Dropout)]

        def cb(tr, drops=drops):
            for d in drops:
                d.dropout_ratio = max(0.0, d.dropout_ratio - 0.1)
        Trainer(net, x, t, x, t, epochs=3, mini_batch_size=20, optimizer="sgd",
                verbose=False, fused=fused, callback=cb).train()
        runs.append({k: v.copy() for k, v in net.params.items()})
    for k in runs[0]:
        assert_bits(runs[0][k], runs[1][k], k)


# ---------------------------------------------------------------- the other cases
@pytest.mark.parametrize("chain", [("relu", "sigmoid"), ("sigmoid", "sigmoid"),
                                   ("sigmoid", "dropout_inv"), ("relu", "dropout", "sigmoid")])
def test_activation_chains_that_ran_in_place(chain):
    rng = np.random.default_rng(1)
    params = {"W1": rng.standard_normal((5, 4)), "b1": rng.standard_normal(4),
              "W2": rng.standard_normal((4, 3)), "b2": np.zeros(3)}
    layers = OrderedDict()
    layers["1"] = Affine(params["W1"], params["b1"])
    for i, c in enumerate(chain):
        layers[f"a{i}"] = {"relu": Relu, "sigmoid": Sigmoid}[c]() if c in ("relu", "sigmoid") \
            else Dropout(0.3, inverted=c == "dropout_inv")
    layers["2"] = Affine(params["W2"], params["b2"])
    net = Net(params, layers)
    compare(net, rng.standard_normal((6, 5)), rng.integers(0, 3, 6), "SGD")


def test_parameter_rebound_to_another_shape_raises():
    net, x, t = _mlp()
    ft = FusedTrainer(net, SGD())
    ft.step(x, t)
    W = net.params["W1"].reshape(5, 6).copy()
    net.params["W1"] = net.layers["1"].W = W
    with pytest.raises(ValueError, match="Affine W"):
        ft.step(x, t)
    with pytest.raises(ValueError):  # the per-layer path refuses it too
        net.gradient(x, t)


def test_parameter_reshaped_in_place_raises():
    net, x, t = _mlp()
    ft = FusedTrainer(net, SGD())
    ft.step(x, t)
    with warnings.catch_warnings():  # NumPy >= 2.5 deprecates setting .shape; users still can
        warnings.simplefilter("ignore", DeprecationWarning)
        net.params["W2"].shape = (3, 5)
    with pytest.raises(ValueError):
        ft.step(x, t)


def test_dropout_masks_before_a_step_and_after_a_rebind():
    net, x, t = _mlp(drop="book")
    ft = FusedTrainer(net, SGD())
    with pytest.raises(ValueError, match="expected a training step"):
        ft.dropout_masks()
    ft.step(x, t)
    assert ft.dropout_masks()[0].shape == (4, 5)
    net.params["W1"] = net.layers["1"].W = np.ones((6, 5))
    assert ft.dropout_masks()[0].shape == (4, 5)  # the last step's, from the engine's record
    ft.gradient(x[:2], t[:2])
    assert ft.dropout_masks()[0].shape == (2, 5)


def test_one_trainer_from_two_threads_while_rebinding():
    """Two Python threads step one FusedTrainer while one of them rebinds params['W1']:
    serialised by the trainer's lock (a subprocess, so that a crash fails only this test)."""
    code = textwrap.dedent("""
        import threading, numpy as np
        from collections import OrderedDict
        from dlcore.layers import Affine, Relu, SoftmaxWithLoss
        from dlcore.optimizer import SGD
        from dlcore.engine import FusedTrainer
        class Net: pass
        rng = np.random.default_rng(0)
        net = Net()
        net.params = {"W1": rng.standard_normal((50, 40)), "b1": np.zeros(40),
                      "W2": rng.standard_normal((40, 10)), "b2": np.zeros(10)}
        net.layers = OrderedDict(A1=Affine(net.params["W1"], net.params["b1"]), R=Relu(),
                                 A2=Affine(net.params["W2"], net.params["b2"]))
        net.last_layer = SoftmaxWithLoss()
        ft = FusedTrainer(net, SGD(lr=0.01))
        x = rng.standard_normal((64, 50)); t = rng.integers(0, 10, 64)
        def stepper():
            for _ in range(300):
                ft.step(x, t)
        def rebinder():
            for _ in range(300):
                W = net.params["W1"].copy()
                net.params["W1"] = net.layers["A1"].W = W
                ft.step(x, t)
        ths = [threading.Thread(target=stepper), threading.Thread(target=rebinder)]
        [th.start() for th in ths]; [th.join() for th in ths]
        assert np.isfinite(net.params["W1"]).all()
        print("ok")
    """)
    for _ in range(3):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-2000:])


def test_fused_step_cache_does_not_keep_networks_alive():
    refs = []
    for _ in range(61):
        net, x, t = _mlp()
        opt = SGD()
        fused_step(net, opt, x, t)
        refs.append(weakref.ref(net))
        del net
    gc.collect()
    assert sum(r() is not None for r in refs) == 0
    assert len(engine._cache) == 0


def test_engine_keeps_bound_arrays_alive():
    """The engine holds a reference to every array it reads: a parameter dropped by its
    owners between steps is still valid memory until the engine rebinds."""
    net, x, t = _mlp()
    ft = FusedTrainer(net, SGD())
    ft.step(x, t)
    W = net.params["W1"]
    ref = weakref.ref(W)
    del net.params["W1"], W
    gc.collect()
    assert ref() is not None  # still bound in the engine


@pytest.mark.parametrize("kind", ["int", "bool"])
def test_trainer_auto_takes_integer_and_bool_one_hot_targets(kind):
    from dlcore.trainer import Trainer
    from dlcore.two_layer_net import TwoLayerNet

    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 6))
    lab = rng.integers(0, 3, 40)
    onehot = np.eye(3, dtype=np.int64 if kind == "int" else bool)[lab]
    runs = []
    for fused in (False, "auto"):
        np.random.seed(4)
        net = TwoLayerNet(6, 5, 3)
        Trainer(net, x, onehot, x, onehot, epochs=2, mini_batch_size=10, optimizer="sgd",
                verbose=False, fused=fused).train()
        runs.append(net.params["W1"].copy())
    assert_bits(runs[0], runs[1], "W1")


@pytest.mark.parametrize("rebind", ["fortran", "float32"])
def test_trainer_auto_falls_back_when_a_callback_makes_the_net_unfusable(rebind):
    from dlcore.trainer import Trainer
    from dlcore.two_layer_net import TwoLayerNet

    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 6))
    t = rng.integers(0, 3, 40)
    runs = []
    for fused in (False, "auto"):
        np.random.seed(4)
        net = TwoLayerNet(6, 5, 3)

        def cb(tr, net=net):
            W = net.params["W1"]
            W = np.asfortranarray(W) if rebind == "fortran" else W.astype(np.float32)
            net.params["W1"] = net.layers["Affine1"].W = W
        Trainer(net, x, t, x, t, epochs=3, mini_batch_size=10, optimizer="sgd",
                verbose=False, fused=fused, callback=cb).train()
        runs.append(np.asarray(net.params["W2"]).copy())
    assert_bits(runs[0], runs[1], "W2")


def test_trainer_chooses_one_step_strategy_and_says_when_it_falls_back(capsys):
    """One strategy per Trainer (dlcore._steps): fused for a book network under "auto",
    per-layer for fused=False and for a subclass; a fall-back during training is said once
    when verbose, and ``tr.fused = False`` set between steps moves to the per-layer step."""
    from dlcore import _steps
    from dlcore.trainer import Trainer
    from dlcore.two_layer_net import TwoLayerNet

    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 6))
    t = rng.integers(0, 3, 40)

    class Sub(TwoLayerNet):
        pass

    def make(net_cls, fused, **kw):
        np.random.seed(4)
        return Trainer(net_cls(6, 5, 3), x, t, x, t, epochs=1, mini_batch_size=10,
                       optimizer="sgd", verbose=False, fused=fused, **kw)

    tr = make(TwoLayerNet, "auto")
    tr.train_step()
    assert type(tr._stepper) is _steps.FusedStep and tr._fused is not None
    tr.fused = False
    tr.train_step()
    assert type(tr._stepper) is _steps.LayerStep and tr._fused is None
    for cls, fused in ((TwoLayerNet, False), (Sub, "auto")):
        tr = make(cls, fused)
        tr.train_step()
        assert type(tr._stepper) is _steps.LayerStep, (cls, fused)

    def cb(tr):
        net = tr.network
        net.params["W1"] = net.layers["Affine1"].W = np.asfortranarray(net.params["W1"])
    tr = Trainer(TwoLayerNet(6, 5, 3), x, t, x, t, epochs=3, mini_batch_size=10,
                 optimizer="sgd", verbose=True, fused="auto", callback=cb)
    tr.train()
    out = capsys.readouterr().out
    assert out.count("continuing on the per-layer path") == 1
    assert type(tr._stepper) is _steps.LayerStep


def test_hyper_parameter_changed_in_place_is_seen():
    """A dropout ratio held as a 0-d array and changed in place between steps: the plan's
    record is a copy, so the next step rebuilds with the new ratio (1.0: nothing kept)."""
    from dlcore.multi_layer_net_extend import MultiLayerNetExtend
    np.random.seed(0)
    net = MultiLayerNetExtend(6, [5], 3, use_dropout=True, dropout_ration=0.2)
    drop = next(l for l in net.layers.values() if isinstance(l, Dropout))
    drop.dropout_ratio = np.array(0.2)
    x = np.random.rand(40, 6)
    t = np.random.randint(0, 3, 40)
    ft = FusedTrainer(net, SGD())
    ft.step(x, t)
    assert ft.dropout_masks()[0].mean() > 0.5
    drop.dropout_ratio[...] = 1.0
    ft.step(x, t)
    assert not ft.dropout_masks()[0].any()
