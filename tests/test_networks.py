"""The networks against the numpy oracle of the book (tests/oracle/nets.py): seeded training
runs (RNG draw order included), layer keys and aliasing, backprop vs numerical gradients,
the float32 mode, and (when torch is installed) PyTorch autograd parity."""
import numpy as np
import pytest

from dlcore.two_layer_net import TwoLayerNet
from dlcore.multi_layer_net import MultiLayerNet
from dlcore.multi_layer_net_extend import MultiLayerNetExtend
from dlcore.simple_convnet import SimpleConvNet
from dlcore.deep_convnet import DeepConvNet
from dlcore.trainer import Trainer
from dlcore.layers import Dropout
from oracle import nets as O


@pytest.fixture(autouse=True)
def _one_numpy_blas_thread():
    """The oracle's numpy BLAS calls alternate with dlcore's OpenMP kernels here; with both
    pools at 2 threads on a 2-core machine each switch stalls (packaging note 3c: measured
    10-40x slower). The Trainer holds numpy's BLAS at 1 thread for the same reason."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):
        yield

# The oracle and dlcore differ only in summation order (BLAS, OpenMP blocks, double
# accumulators): ~1e-16 per operation. 200 SGD steps amplify that by the training dynamics
# to about 1e-14 in practice; rtol 1e-6 is the acceptance bound.
RUN_RTOL = 1e-6

CP_SMALL = {'filter_num': 4, 'filter_size': 3, 'pad': 0, 'stride': 1}
CP_PAD = {'filter_num': 3, 'filter_size': 3, 'pad': 1, 'stride': 2}


def make_data(n, shape, classes, seed, one_hot=False):
    """Learnable synthetic data from a private generator (numpy's global RNG untouched):
    labels are the argmax of a fixed random projection."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + tuple(shape))
    proj = rng.standard_normal((int(np.prod(shape)), classes))
    t = np.argmax(x.reshape(n, -1) @ proj, axis=1)
    if one_hot:
        t = np.eye(classes)[t]
    return x, t


# name -> (dlcore constructor(dtype), oracle constructor, sample shape, classes, lr, one_hot)
CASES = {
    "TwoLayerNet": (lambda dt: TwoLayerNet(6, 7, 3, weight_init_std=0.3, dtype=dt),
                    lambda: O.TwoLayerNet(6, 7, 3, 0.3), (6,), 3, 0.1, False),
    "TwoLayerNet-onehot": (lambda dt: TwoLayerNet(6, 7, 3, weight_init_std=0.3, dtype=dt),
                           lambda: O.TwoLayerNet(6, 7, 3, 0.3), (6,), 3, 0.1, True),
    "MultiLayerNet-he-decay": (
        lambda dt: MultiLayerNet(6, [7, 5], 3, weight_decay_lambda=0.05, dtype=dt),
        lambda: O.MultiLayerNet(6, [7, 5], 3, weight_decay_lambda=0.05), (6,), 3, 0.1, False),
    "MultiLayerNet-sigmoid-xavier": (
        lambda dt: MultiLayerNet(6, [7, 5], 3, activation='sigmoid', weight_init_std='Xavier',
                                 dtype=dt),
        lambda: O.MultiLayerNet(6, [7, 5], 3, 'sigmoid', 'Xavier'), (6,), 3, 0.5, False),
    "MultiLayerNet-std": (
        lambda dt: MultiLayerNet(6, [8], 3, weight_init_std=0.2, dtype=dt),
        lambda: O.MultiLayerNet(6, [8], 3, weight_init_std=0.2), (6,), 3, 0.1, False),
    "MultiLayerNetExtend-dropout": (
        lambda dt: MultiLayerNetExtend(6, [7, 5], 3, use_dropout=True, dropout_ration=0.2,
                                       dtype=dt),
        lambda: O.MultiLayerNetExtend(6, [7, 5], 3, use_dropout=True, dropout_ration=0.2),
        (6,), 3, 0.1, False),
    "MultiLayerNetExtend-batchnorm": (
        lambda dt: MultiLayerNetExtend(6, [7, 5], 3, use_batchnorm=True,
                                       weight_decay_lambda=0.01, dtype=dt),
        lambda: O.MultiLayerNetExtend(6, [7, 5], 3, use_batchnorm=True,
                                      weight_decay_lambda=0.01), (6,), 3, 0.1, False),
    "MultiLayerNetExtend-both-sigmoid": (
        lambda dt: MultiLayerNetExtend(6, [7, 5], 3, activation='sigmoid',
                                       weight_init_std='sigmoid', use_dropout=True,
                                       dropout_ration=0.3, use_batchnorm=True, dtype=dt),
        lambda: O.MultiLayerNetExtend(6, [7, 5], 3, 'sigmoid', 'sigmoid', use_dropout=True,
                                      dropout_ration=0.3, use_batchnorm=True),
        (6,), 3, 0.1, True),
    "SimpleConvNet": (
        lambda dt: SimpleConvNet((1, 8, 8), CP_SMALL, 10, 3, weight_init_std=0.1, dtype=dt),
        lambda: O.SimpleConvNet((1, 8, 8), CP_SMALL, 10, 3, 0.1), (1, 8, 8), 3, 0.1, False),
    "SimpleConvNet-pad-stride-2ch": (
        lambda dt: SimpleConvNet((2, 11, 11), CP_PAD, 6, 4, weight_init_std=0.2, dtype=dt),
        lambda: O.SimpleConvNet((2, 11, 11), CP_PAD, 6, 4, 0.2), (2, 11, 11), 4, 0.1, False),
}


def _trainer_run(net, trainer_cls, data, lr):
    x, t = data
    tr = trainer_cls(net, x, t, x[:100], t[:100], epochs=20, mini_batch_size=20,
                     optimizer='SGD', optimizer_param={'lr': lr}, verbose=False)
    tr.train()
    return tr


@pytest.mark.parametrize("name", list(CASES))
def test_seeded_run_matches_oracle(name):
    """200 SGD steps through the Trainer (batches from np.random.choice, dropout masks from
    np.random.rand): the same initial weights (bitwise), losses, accuracies, final weights
    and the same global RNG state afterwards (so no extra or missing draws)."""
    make, make_oracle, shape, classes, lr, one_hot = CASES[name]
    data = make_data(200, shape, classes, seed=len(name), one_hot=one_hot)

    np.random.seed(1234)
    net = make(np.float64)
    init = {k: v.copy() for k, v in net.params.items()}
    tr = _trainer_run(net, Trainer, data, lr)
    state = np.random.get_state()[1].copy()

    np.random.seed(1234)
    ref = make_oracle()
    assert list(net.params) == list(ref.params)
    for k in init:
        np.testing.assert_array_equal(init[k], ref.params[k], err_msg=k)
    rt = _trainer_run(ref, O.Trainer, data, lr)

    assert len(tr.train_loss_list) == 200 and len(tr.test_acc_list) == 20
    np.testing.assert_allclose(tr.train_loss_list, rt.train_loss_list, rtol=RUN_RTOL)
    np.testing.assert_allclose(tr.train_acc_list, rt.train_acc_list, rtol=RUN_RTOL)
    np.testing.assert_allclose(tr.test_acc_list, rt.test_acc_list, rtol=RUN_RTOL)
    for k in net.params:
        np.testing.assert_allclose(net.params[k], ref.params[k], rtol=RUN_RTOL, atol=1e-9,
                                   err_msg=k)
    np.testing.assert_array_equal(state, np.random.get_state()[1])
    # the run learned something, so the comparison is not between two constant curves
    assert tr.train_loss_list[-1] < tr.train_loss_list[0]
    assert all(isinstance(v, np.float64) for v in tr.train_loss_list[:3])


def test_deep_convnet_seeded_steps_match_oracle():
    """DeepConvNet (28x28, the book's architecture): init draws and 3 Adam steps (dropout in
    the post-update loss consumes RNG too), and the test-mode accuracy."""
    x, t = make_data(100, (1, 28, 28), 10, seed=7)
    runs = []
    for cls, trainer in ((DeepConvNet, Trainer), (O.DeepConvNet, O.Trainer)):
        np.random.seed(99)
        net = cls()
        init = {k: v.copy() for k, v in net.params.items()}
        tr = trainer(net, x, t, x, t, epochs=0.3, mini_batch_size=10, optimizer='adam',
                     optimizer_param={'lr': 0.001}, verbose=False)
        tr.train()
        runs.append((init, tr, np.random.get_state()[1].copy(), net))
    (i1, t1, s1, n1), (i2, t2, s2, n2) = runs
    assert list(i1) == list(i2)
    for k in i1:
        np.testing.assert_array_equal(i1[k], i2[k], err_msg=k)
    assert len(t1.train_loss_list) == 3
    np.testing.assert_allclose(t1.train_loss_list, t2.train_loss_list, rtol=RUN_RTOL)
    np.testing.assert_allclose(t1.test_acc_list, t2.test_acc_list, rtol=RUN_RTOL)
    np.testing.assert_array_equal(s1, s2)
    for k in n1.params:
        np.testing.assert_allclose(n1.params[k], n2.params[k], rtol=RUN_RTOL, atol=1e-12)


# ------------------------------------------------------------------- structure, aliasing
def _param_layers(net):
    """(param key, layer, attribute) for every parameter of a dlcore network."""
    if isinstance(net, DeepConvNet):
        idx = (0, 2, 5, 7, 10, 12, 15, 18)
        return [(f'{p}{i + 1}', net.layers[j], a) for i, j in enumerate(idx)
                for p, a in (('W', 'W'), ('b', 'b'))]
    if isinstance(net, SimpleConvNet):
        names = ['Conv1', 'Affine1', 'Affine2']
        return [(f'{p}{i + 1}', net.layers[n], p) for i, n in enumerate(names) for p in 'Wb']
    out = []
    for key in net.params:
        kind, num = key.rstrip('0123456789'), key[len(key.rstrip('0123456789')):]
        if kind in ('W', 'b'):
            out.append((key, net.layers['Affine' + num], kind))
        else:
            out.append((key, net.layers['BatchNorm' + num], kind))
    return out


def _assert_aliased(net):
    pl = _param_layers(net)
    assert sorted(k for k, _, _ in pl) == sorted(net.params)
    for key, layer, attr in pl:
        assert getattr(layer, attr) is net.params[key], key


def test_layer_keys_and_param_order():
    np.random.seed(0)
    net = TwoLayerNet(4, 5, 3)
    assert list(net.layers) == ['Affine1', 'Relu1', 'Affine2']
    assert type(net.lastLayer).__name__ == 'SoftmaxWithLoss'
    net = MultiLayerNet(4, [5, 6], 3, activation='sigmoid')
    assert list(net.layers) == ['Affine1', 'Activation_function1', 'Affine2',
                                'Activation_function2', 'Affine3']
    assert type(net.layers['Activation_function1']).__name__ == 'Sigmoid'
    assert (net.hidden_layer_num, net.input_size, net.output_size) == (2, 4, 3)
    net = MultiLayerNetExtend(4, [5, 6], 3, use_dropout=True, use_batchnorm=True)
    assert list(net.layers) == ['Affine1', 'BatchNorm1', 'Activation_function1', 'Dropout1',
                                'Affine2', 'BatchNorm2', 'Activation_function2', 'Dropout2',
                                'Affine3']
    assert list(net.params) == ['W1', 'b1', 'W2', 'b2', 'W3', 'b3',
                                'gamma1', 'beta1', 'gamma2', 'beta2']
    assert net.layers['BatchNorm1'].momentum == 0.9
    assert net.layers['Dropout1'].dropout_ratio == 0.5
    assert not hasattr(net, 'dropout_ration') and not hasattr(net, 'dropout_ratio')
    net = SimpleConvNet((1, 8, 8), CP_SMALL, 10, 3)
    assert list(net.layers) == ['Conv1', 'Relu1', 'Pool1', 'Affine1', 'Relu2', 'Affine2']
    assert type(net.layers['Pool1']).__name__ == 'Pooling'
    assert (net.layers['Pool1'].pool_h, net.layers['Pool1'].stride) == (2, 2)
    assert net.params['W2'].shape == (36, 10)
    net = DeepConvNet()
    assert isinstance(net.layers, list) and len(net.layers) == 20
    assert [i for i, l in enumerate(net.layers) if hasattr(l, 'W')] == [0, 2, 5, 7, 10, 12,
                                                                       15, 18]
    assert [i for i, l in enumerate(net.layers) if isinstance(l, Dropout)] == [17, 19]
    assert net.params['W7'].shape == (1024, 50) and net.layers[7].pad == 2


@pytest.mark.parametrize("name", list(CASES))
def test_params_alias_layers_and_updates_are_seen(name):
    make, _, shape, classes, lr, one_hot = CASES[name]
    np.random.seed(0)
    net = make(np.float64)
    _assert_aliased(net)
    x, t = make_data(4, shape, classes, seed=1)
    before = net.loss(x, t)
    for v in net.params.values():  # what an optimizer does: in-place updates
        v *= 1.5
    assert net.loss(x, t) != before


def test_gradient_returns_layer_objects():
    np.random.seed(0)
    net = TwoLayerNet(4, 5, 3)
    x, t = make_data(3, (4,), 3, seed=2)
    g = net.gradient(x, t)
    assert g['W1'] is net.layers['Affine1'].dW and g['b2'] is net.layers['Affine2'].db
    net = MultiLayerNet(4, [5], 3)
    g = net.gradient(x, t)
    assert g['W1'] is not net.layers['Affine1'].dW  # dW + lambda * W: a new array
    assert g['b1'] is net.layers['Affine1'].db


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="expected dtype=np.float64 or np.float32"):
        TwoLayerNet(2, 3, 2, dtype=np.int32)
    with pytest.raises(ValueError, match="expected activation 'relu' or 'sigmoid'"):
        MultiLayerNet(2, [3], 2, activation='tanh')
    with pytest.raises(ValueError, match="hidden_size"):
        TwoLayerNet(2, 0, 2)
    with pytest.raises(ValueError, match="conv_param to be a dict with keys"):
        SimpleConvNet(conv_param={'filter_num': 3})
    with pytest.raises(ValueError, match="is an even integer"):
        SimpleConvNet((1, 5, 5), {'filter_num': 2, 'filter_size': 5, 'pad': 0, 'stride': 1})
    with pytest.raises(ValueError, match="is an even integer"):  # 5x5 conv output
        SimpleConvNet((1, 9, 9), {'filter_num': 2, 'filter_size': 5, 'pad': 0, 'stride': 1})


def test_accuracy_book_semantics():
    """Convnets: remainder batch skipped but N is the divisor; < batch_size gives 0.0.
    MLPs: one-hot targets are argmaxed; the result is numpy float64."""
    np.random.seed(0)
    net = SimpleConvNet((1, 8, 8), CP_SMALL, 10, 3)
    x, t = make_data(150, (1, 8, 8), 3, seed=3)
    pred = np.argmax(net.predict(x[:100]), axis=1)
    assert net.accuracy(x, t) == np.sum(pred == t[:100]) / 150
    assert net.accuracy(x[:99], t[:99]) == 0.0
    assert net.accuracy(x, np.eye(3)[t]) == net.accuracy(x, t)
    mlp = MultiLayerNet(6, [5], 3)
    x, t = make_data(10, (6,), 3, seed=4)
    acc = mlp.accuracy(x, np.eye(3)[t])
    assert isinstance(acc, np.float64) and acc == mlp.accuracy(x, t)


# ------------------------------------------------------------------------------ gradients
def _grad4(f, x, idxs, h=1e-4):
    """4-point central difference of f() w.r.t. x at the given indices (x perturbed in
    place and restored)."""
    out = []
    for i in idxs:
        old = x[i]
        vals = []
        for k in (2, 1, -1, -2):
            x[i] = old + k * h
            vals.append(float(f()))
        x[i] = old
        out.append((-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h))
    return np.array(out)


def _all_or_sample(a, limit, rng):
    idx = list(np.ndindex(*a.shape))
    if len(idx) <= limit:
        return idx
    return [idx[i] for i in rng.choice(len(idx), limit, replace=False)]


GRAD_CASES = {
    "TwoLayerNet": lambda: TwoLayerNet(5, 6, 3, weight_init_std=0.5),
    "MultiLayerNet": lambda: MultiLayerNet(5, [6, 4], 3, weight_decay_lambda=0.1),
    "MultiLayerNet-sigmoid": lambda: MultiLayerNet(5, [6], 3, activation='sigmoid'),
    "MultiLayerNetExtend-dropout": lambda: MultiLayerNetExtend(
        5, [6, 4], 3, use_dropout=True, dropout_ration=0.3, weight_decay_lambda=0.1),
    "MultiLayerNetExtend-batchnorm": lambda: MultiLayerNetExtend(
        5, [6, 4], 3, use_batchnorm=True, weight_decay_lambda=0.1),
    "SimpleConvNet": lambda: SimpleConvNet((2, 8, 8), {'filter_num': 3, 'filter_size': 3,
                                                      'pad': 1, 'stride': 1}, 5, 3, 0.3),
    "DeepConvNet": lambda: DeepConvNet(hidden_size=8, output_size=4),
}


def _exact_loss(net, x, t):
    """The training-mode loss with the exact cross-entropy (no +1e-7 in the log), the
    function whose gradient the book's backward computes, plus the weight decay."""
    if isinstance(net, (MultiLayerNetExtend, DeepConvNet)):
        y = net.predict(x, train_flg=True)
    else:
        y = net.predict(x)
    z = y - y.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(len(t)), t].mean()
    lam = getattr(net, 'weight_decay_lambda', 0)
    return loss + sum(0.5 * lam * np.sum(v ** 2) for k, v in net.params.items()
                      if k.startswith('W'))


@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_gradient_vs_numerical(name):
    """Backprop vs a 4-point central difference of the exact training-mode loss (dropout
    masks pinned by reseeding before every evaluation). float64 4-point differences with
    h=1e-4 are accurate to ~1e-10 here; ReLU/max-pool kinks are not crossed for these
    seeds."""
    np.random.seed(5)
    net = GRAD_CASES[name]()
    if isinstance(net, DeepConvNet):
        x, t = make_data(2, (1, 28, 28), 4, seed=6)
    elif isinstance(net, SimpleConvNet):
        x, t = make_data(3, (2, 8, 8), 3, seed=6)
    else:
        x, t = make_data(4, (5,), 3, seed=6)

    def f():
        np.random.seed(11)
        return _exact_loss(net, x, t)

    np.random.seed(11)
    grads = net.gradient(x, t)
    grads = {k: v.copy() for k, v in grads.items()}
    assert sorted(grads) == sorted(net.params)
    rng = np.random.default_rng(0)
    deep = isinstance(net, DeepConvNet)
    # DeepConvNet: thousands of ReLU/max-pool kinks, some within 2h of a weight change
    # (errors ~1e-3 measured at h=1e-4 and 1e-5); h=1e-6 avoids them, and its roundoff
    # (~1e-16 * |f| / h) stays below 1e-8.
    h, atol = (1e-6, 1e-8) if deep else (1e-4, 1e-9)
    for key, p in net.params.items():
        idx = _all_or_sample(p, 4 if deep else 40, rng)
        num = _grad4(f, p, idx, h=h)
        ana = np.array([grads[key][i] for i in idx])
        np.testing.assert_allclose(ana, num, rtol=1e-6, atol=atol, err_msg=key)


@pytest.mark.parametrize("name", ["TwoLayerNet", "MultiLayerNet",
                                  "MultiLayerNetExtend-batchnorm", "SimpleConvNet"])
def test_numerical_gradient_method(name):
    """The networks' own numerical_gradient (the book's 2-point h=1e-4 difference through
    the aliased params) agrees with backprop to the book's level. The bound 1e-6 on the
    mean absolute difference: the book's loss has +1e-7 inside the log, which its backward
    ignores, a bias of about 1e-7 * |g| / p that dominates at these small sizes."""
    np.random.seed(5)
    net = GRAD_CASES[name]()
    if isinstance(net, SimpleConvNet):
        x, t = make_data(2, (2, 8, 8), 3, seed=6)
    else:
        x, t = make_data(4, (5,), 3, seed=6, one_hot=True)
    before = {k: v.copy() for k, v in net.params.items()}
    num = net.numerical_gradient(x, t)
    for k in before:  # perturbations restored
        np.testing.assert_array_equal(before[k], net.params[k])
    ana = net.gradient(x, t)
    assert sorted(num) == sorted(ana) == sorted(net.params)
    for k in ana:
        assert np.mean(np.abs(num[k] - ana[k])) < 1e-6, k


# -------------------------------------------------------------------------------- float32
def _layer_outputs(net, x):
    """Every layer's forward output, in training mode."""
    layers = net.layers if isinstance(net.layers, list) else list(net.layers.values())
    out = []
    for layer in layers:
        if type(layer).__name__ in ('Dropout', 'BatchNormalization'):
            x = layer.forward(x, True)
        else:
            x = layer.forward(x)
        out.append(x)
    return out


F32_CASES = dict(CASES)
F32_CASES["DeepConvNet"] = (lambda dt: DeepConvNet(hidden_size=8, output_size=4, dtype=dt),
                            None, (1, 28, 28), 4, 0.1, False)


@pytest.mark.parametrize("name", list(F32_CASES))
def test_float32_mode(name):
    """float32 networks: the same RNG draws cast to float32, float32 parameters, gradients,
    loss and every layer's output, also for float64 input; values agree with the float64
    network on the same weights. rtol 1e-4: float32 rounding (2^-24) through a handful of
    layers and the loss's log/exp, with double accumulators in the kernels."""
    make, _, shape, classes, lr, one_hot = F32_CASES[name]
    f32 = np.dtype(np.float32)
    np.random.seed(21)
    n64 = make(np.float64)
    s64 = np.random.get_state()[1].copy()
    np.random.seed(21)
    n32 = make(np.float32)
    np.testing.assert_array_equal(s64, np.random.get_state()[1])
    for k, v in n32.params.items():
        assert v.dtype == f32, k
        np.testing.assert_array_equal(v, n64.params[k].astype(np.float32))
        n64.params[k][...] = v  # the float64 net now holds exactly the float32 weights
    _assert_aliased(n32)
    x, t = make_data(4, shape, classes, seed=8, one_hot=one_hot)
    np.random.seed(3)
    g32 = n32.gradient(x, t)
    np.random.seed(3)
    g64 = n64.gradient(x, t)
    # atol scaled by the largest gradient of the net: a bias before BatchNorm has an exact
    # zero gradient that float32 computes as a cancellation residue of the upstream terms
    scale = max(np.max(np.abs(g)) for g in g64.values())
    for k in g32:
        assert g32[k].dtype == f32, k
        np.testing.assert_allclose(g32[k], g64[k], rtol=1e-4, atol=1e-5 * scale, err_msg=k)
    np.random.seed(3)
    loss32 = n32.loss(x, t)
    np.random.seed(3)
    loss64 = n64.loss(x, t)
    assert np.asarray(loss32).dtype == f32
    np.testing.assert_allclose(loss32, loss64, rtol=1e-5)
    assert isinstance(n32.accuracy(x, t), (float, np.floating))
    assert n32.predict(x).dtype == f32  # float64 input is converted
    for out in _layer_outputs(n32, x.astype(np.float32)):
        assert out.dtype == f32


def test_float32_batchnorm_running_stats_stay_float32():
    np.random.seed(0)
    net = MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, dtype=np.float32)
    x, t = make_data(8, (6,), 3, seed=1)
    for _ in range(3):
        net.gradient(x, t)
    bn = net.layers['BatchNorm1']
    assert bn.running_mean.dtype == np.float32 and bn.running_var.dtype == np.float32
    assert net.predict(x).dtype == np.float32


def test_float32_trainer_run():
    np.random.seed(2)
    net = MultiLayerNet(6, [16], 3, dtype=np.float32)
    x, t = make_data(200, (6,), 3, seed=9)
    tr = Trainer(net, x, t, x, t, epochs=10, mini_batch_size=20,
                 optimizer_param={'lr': 0.2}, verbose=False)
    tr.train()
    assert all(np.asarray(v).dtype == np.float32 for v in tr.train_loss_list)
    assert all(v.dtype == np.float32 for v in net.params.values())
    assert tr.test_acc_list[-1] > 0.7


# ------------------------------------------------------------------------- torch parity
def _torch_forward(torch, name, net, x, t):
    """The same network in torch (float64, the dlcore net's weights and dropout masks);
    returns (loss with the book's +1e-7 inside the log, exact CE loss, {key: tensor})."""
    F = torch.nn.functional
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
         for k, v in net.params.items()}
    h = torch.tensor(x, dtype=torch.float64)
    if isinstance(net, DeepConvNet):
        convs = [0, 2, 5, 7, 10, 12]
        for i, j in enumerate(convs, 1):
            layer = net.layers[j]
            h = F.relu(F.conv2d(h, P[f'W{i}'], P[f'b{i}'], stride=layer.stride,
                                padding=layer.pad))
            if i % 2 == 0:
                h = F.max_pool2d(h, 2, 2)
        h = h.reshape(h.shape[0], -1)
        h = F.relu(h @ P['W7'] + P['b7']) * torch.tensor(net.layers[17].mask)
        h = (h @ P['W8'] + P['b8']) * torch.tensor(net.layers[19].mask)
    elif isinstance(net, SimpleConvNet):
        conv = net.layers['Conv1']
        h = F.max_pool2d(F.relu(F.conv2d(h, P['W1'], P['b1'], stride=conv.stride,
                                         padding=conv.pad)), 2, 2)
        h = h.reshape(h.shape[0], -1)
        h = F.relu(h @ P['W2'] + P['b2']) @ P['W3'] + P['b3']
    else:
        L = len([k for k in net.params if k.startswith('W')])
        for i in range(1, L + 1):
            h = h @ P[f'W{i}'] + P[f'b{i}']
            if i == L:
                break
            if f'gamma{i}' in P:
                h = F.batch_norm(h, None, None, P[f'gamma{i}'], P[f'beta{i}'],
                                 training=True, eps=1e-6)
            act = net.layers.get(f'Activation_function{i}', net.layers.get(f'Relu{i}'))
            h = torch.sigmoid(h) if type(act).__name__ == 'Sigmoid' else F.relu(h)
            if f'Dropout{i}' in net.layers:
                h = h * torch.tensor(net.layers[f'Dropout{i}'].mask)
    tt = torch.tensor(t)
    book_loss = -torch.log(F.softmax(h, dim=1)[torch.arange(len(t)), tt] + 1e-7).mean()
    exact = F.cross_entropy(h, tt)
    lam = getattr(net, 'weight_decay_lambda', 0)
    if lam:
        decay = sum(0.5 * lam * (P[k] ** 2).sum() for k in P if k.startswith('W'))
        book_loss, exact = book_loss + decay, exact + decay
    return book_loss, exact, P


@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_torch_autograd_parity(name):
    """Loss and every gradient against PyTorch autograd (float64, same weights, same batch,
    same dropout masks). The book's backward is the exact softmax-CE gradient while its
    loss has +1e-7 inside the log, so the loss is compared with that formula and the
    gradients with autograd of the exact cross-entropy. torch is optional: skipped when it
    is not installed (it is never a test dependency)."""
    torch = pytest.importorskip("torch")
    np.random.seed(5)
    net = GRAD_CASES[name]()
    if isinstance(net, DeepConvNet):
        x, t = make_data(3, (1, 28, 28), 4, seed=12)
    elif isinstance(net, SimpleConvNet):
        x, t = make_data(5, (2, 8, 8), 3, seed=12)
    else:
        x, t = make_data(6, (5,), 3, seed=12)
    np.random.seed(17)
    grads = net.gradient(x, t)  # training-mode forward: dropout masks are now fixed
    loss = net.last_layer.loss if hasattr(net, 'last_layer') else net.lastLayer.loss
    decay = 0
    if getattr(net, 'weight_decay_lambda', 0):
        decay = sum(0.5 * net.weight_decay_lambda * np.sum(v ** 2)
                    for k, v in net.params.items() if k.startswith('W'))
    book_loss, exact, P = _torch_forward(torch, name, net, x, t)
    np.testing.assert_allclose(loss + decay, book_loss.item(), rtol=1e-12)
    exact.backward()
    for k, p in P.items():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-9,
                                   atol=1e-12 * (1 + np.max(np.abs(grads[k]))), err_msg=k)
