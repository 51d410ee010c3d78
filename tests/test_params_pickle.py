"""save_params / load_params: the book's pickle format (a plain dict of arrays), aliasing
restored after loading, the restricted unpickler (a pickle that tries to run code is refused
without running it), and the parameter files the book ships (../shared/book-params)."""
import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from dlcore import _pickle
from dlcore.deep_convnet import DeepConvNet
from dlcore.multi_layer_net import MultiLayerNet
from dlcore.multi_layer_net_extend import MultiLayerNetExtend
from dlcore.optimizer import SGD
from dlcore.simple_convnet import SimpleConvNet
from dlcore.two_layer_net import TwoLayerNet
from oracle import nets as O


@pytest.fixture(autouse=True)
def _one_numpy_blas_thread():
    """The oracle's numpy BLAS calls alternate with dlcore's OpenMP kernels here; with both
    pools at 2 threads on a 2-core machine each switch stalls (packaging note 3c: measured
    10-40x slower). The Trainer holds numpy's BLAS at 1 thread for the same reason."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):
        yield

BOOK_PARAMS = Path(os.environ.get("DLCORE_BOOK_PARAMS",
                                  Path(__file__).resolve().parents[2] / "shared" / "book-params"))
CP = {'filter_num': 3, 'filter_size': 3, 'pad': 0, 'stride': 1}


def book_file(name):
    path = BOOK_PARAMS / name
    if not path.is_file():
        pytest.skip(f"the book's parameter files are not here: {path} is absent (set "
                    "DLCORE_BOOK_PARAMS to the folder holding the book's ch07_params.pkl etc.)")
    return path


def mnist_test(flatten):
    """The real MNIST test set, or skip with the loader's reason."""
    mnist = pytest.importorskip("dlcore.mnist", reason="dlcore.mnist is not available")
    try:
        _, (x, t) = mnist.load_mnist(flatten=flatten)
    except mnist.DataUnavailableError as e:
        pytest.skip(f"real MNIST is not available: {str(e).splitlines()[0]}")
    return x, t


def small_nets():
    np.random.seed(0)
    return {
        "TwoLayerNet": (TwoLayerNet(4, 5, 3), [('Affine1', 'W1', 'b1'), ('Affine2', 'W2', 'b2')]),
        "MultiLayerNet": (MultiLayerNet(4, [5, 6], 3), None),
        "MultiLayerNetExtend": (MultiLayerNetExtend(4, [5], 3, use_batchnorm=True), None),
        "SimpleConvNet": (SimpleConvNet((1, 6, 6), CP, 5, 3),
                          [('Conv1', 'W1', 'b1'), ('Affine1', 'W2', 'b2'),
                           ('Affine2', 'W3', 'b3')]),
        "DeepConvNet": (DeepConvNet(hidden_size=6, output_size=3), None),
    }


def assert_aliased(net):
    if isinstance(net, DeepConvNet):
        for i, j in enumerate((0, 2, 5, 7, 10, 12, 15, 18), 1):
            assert net.layers[j].W is net.params[f'W{i}']
            assert net.layers[j].b is net.params[f'b{i}']
    elif isinstance(net, SimpleConvNet):
        for i, name in enumerate(('Conv1', 'Affine1', 'Affine2'), 1):
            assert net.layers[name].W is net.params[f'W{i}']
            assert net.layers[name].b is net.params[f'b{i}']
    else:
        for key, v in net.params.items():
            kind = key.rstrip('0123456789')
            num = key[len(kind):]
            if kind in ('W', 'b'):
                assert getattr(net.layers['Affine' + num], kind) is v, key
            else:
                assert getattr(net.layers['BatchNorm' + num], kind) is v, key


@pytest.mark.parametrize("name", list(small_nets()))
def test_save_load_roundtrip_plain_pickle_and_aliasing(name, tmp_path, monkeypatch):
    """save_params writes a plain dict of arrays (plain pickle reads it; the relative path is
    against the current directory); load_params restores values into another net and
    rebinds its layers, so an optimizer step is seen by the layers."""
    monkeypatch.chdir(tmp_path)
    nets = small_nets()
    net, _ = nets[name]
    for v in net.params.values():
        v += np.random.default_rng(1).standard_normal(v.shape)
    net.save_params("p.pkl")
    with open(tmp_path / "p.pkl", "rb") as f:
        plain = pickle.load(f)
    assert type(plain) is dict and list(plain) == list(net.params)
    for k, v in plain.items():
        assert type(v) is np.ndarray
        np.testing.assert_array_equal(v, net.params[k])

    np.random.seed(1)
    other, _ = small_nets()[name]
    other.load_params("p.pkl")
    for k in net.params:
        np.testing.assert_array_equal(other.params[k], net.params[k])
        assert other.params[k].flags.writeable
    assert_aliased(other)
    before = {k: v.copy() for k, v in other.params.items()}
    SGD(lr=1.0).update(other.params, {k: np.ones_like(v) for k, v in other.params.items()})
    for k in before:
        np.testing.assert_array_equal(other.params[k], before[k] - 1)
    assert_aliased(other)


def test_default_file_name_is_params_pkl(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.random.seed(0)
    net = SimpleConvNet((1, 6, 6), CP, 5, 3)
    net.save_params()
    assert (tmp_path / "params.pkl").is_file()
    other = SimpleConvNet((1, 6, 6), CP, 5, 3)
    other.load_params()
    np.testing.assert_array_equal(other.params['W1'], net.params['W1'])
    with open(tmp_path / "q.pkl", "wb") as f:  # a file object works too
        net.save_params(f)
    with open(tmp_path / "q.pkl", "rb") as f:
        other.load_params(f)


def test_loaded_simpleconvnet_matches_oracle(tmp_path):
    """Parameters written by the test in the book's format (protocol 4, float64) give the
    oracle's predictions after load_params."""
    np.random.seed(3)
    ref = O.SimpleConvNet((1, 6, 6), CP, 5, 3, 0.5)
    path = tmp_path / "params.pkl"
    with open(path, "wb") as f:
        pickle.dump({k: v for k, v in ref.params.items()}, f, protocol=4)
    np.random.seed(99)
    net = SimpleConvNet((1, 6, 6), CP, 5, 3)
    net.load_params(path)
    x = np.random.default_rng(0).standard_normal((4, 1, 6, 6))
    np.testing.assert_allclose(net.predict(x), ref.predict(x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
def test_ch03_format_fortran_float32(protocol, tmp_path):
    """The ch03 sample_weight.pkl format: float32, Fortran-ordered W, keys in another order,
    loaded into MultiLayerNet(784-like sizes, sigmoid). A float64 net converts to float64,
    a float32 net keeps float32; layouts other than C work through the layers."""
    rng = np.random.default_rng(protocol)
    d = {'b2': rng.standard_normal(6).astype(np.float32),
         'W1': np.asfortranarray(rng.standard_normal((8, 5)).astype(np.float32)),
         'b1': rng.standard_normal(5).astype(np.float32),
         'W2': np.asfortranarray(rng.standard_normal((5, 6)).astype(np.float32)),
         'W3': np.asfortranarray(rng.standard_normal((6, 3)).astype(np.float32)),
         'b3': rng.standard_normal(3).astype(np.float32)}
    path = tmp_path / "sample_weight.pkl"
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=protocol)
    x = rng.standard_normal((7, 8)).astype(np.float32)

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))
    a = sigmoid(x.astype(float) @ d['W1'] + d['b1'])
    a = sigmoid(a @ d['W2'] + d['b2'])
    expected = a @ d['W3'] + d['b3']
    for dt, rtol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        net = MultiLayerNet(8, [5, 6], 3, activation='sigmoid', dtype=dt)
        net.load_params(path)
        assert all(v.dtype == dt for v in net.params.values())
        assert_aliased(net)
        np.testing.assert_allclose(net.predict(x), expected, rtol=rtol, atol=rtol)


def test_load_params_errors(tmp_path):
    np.random.seed(0)
    net = SimpleConvNet((1, 6, 6), CP, 5, 3)
    cases = {
        "list.pkl": ([1, 2], TypeError, "expected a pickled dict of arrays"),
        "strs.pkl": ({'W1': "abc"}, TypeError, "expected a real numeric array for 'W1'"),
        # object dtypes are refused while unpickling, before any array is built
        "obj.pkl": ({'W1': np.array([None])}, pickle.UnpicklingError,
                    "expected a real or complex numeric dtype; got object"),
        "shape.pkl": ({'b1': np.ones(3), 'W1': np.zeros((2, 2))}, ValueError,
                      r"'W1' .* has shape \(2, 2\)"),
        "extra.pkl": ({'W9': np.zeros(2)}, ValueError, "holds 'W9', which this network"),
    }
    before = {k: v.copy() for k, v in net.params.items()}
    for fname, (obj, exc, msg) in cases.items():
        with open(tmp_path / fname, "wb") as f:
            pickle.dump(obj, f)
        with pytest.raises(exc, match=msg):
            net.load_params(tmp_path / fname)
    for k in before:  # nothing replaced by a refused file
        np.testing.assert_array_equal(net.params[k], before[k])
    with pytest.raises(FileNotFoundError):
        net.load_params(tmp_path / "missing.pkl")
    # a partial file is fine: only its keys are replaced (and rebound)
    with open(tmp_path / "part.pkl", "wb") as f:
        pickle.dump({'b3': np.ones(3)}, f)
    w1 = net.params['W1']
    net.load_params(tmp_path / "part.pkl")
    assert net.params['W1'] is w1 and net.layers['Affine2'].b is net.params['b3']
    np.testing.assert_array_equal(net.layers['Affine2'].b, np.ones(3))


# ------------------------------------------------------------------- malicious pickles
class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


def _evil_payloads(marker):
    cmd = f"/usr/bin/touch {marker}"  # absolute: the wheel check runs with a bare PATH
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    return {
        "os.system": _Evil(os.system, cmd),
        "builtins.eval": _Evil(eval, code),
        "builtins.exec-in-dict": {'W1': np.zeros(3), 'b1': _Evil(exec, code)},
        "nested-in-list": {'W1': [np.zeros(2), (_Evil(os.system, cmd),)]},
        "numpy-load": _Evil(np.load, str(marker)),  # a numpy global outside the allowlist
    }


@pytest.mark.parametrize("payload", list(_evil_payloads("x")))
@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_malicious_pickle_refused_without_running(payload, protocol, tmp_path):
    marker = tmp_path / "marker"
    obj = _evil_payloads(marker)[payload]
    data = pickle.dumps(obj, protocol=protocol)
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    np.random.seed(0)
    net = SimpleConvNet((1, 6, 6), CP, 5, 3)
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(pickle.UnpicklingError, match="refusing to load .* could run code"):
        net.load_params(path)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        _pickle.load(io.BytesIO(data))
    assert not marker.exists()
    for k in before:  # nothing half-loaded
        np.testing.assert_array_equal(net.params[k], before[k])
    if payload == "os.system":  # the same bytes do run code through plain pickle
        pickle.loads(data)
        assert marker.exists()


def test_restricted_unpickler_accepts_plain_data():
    obj = {'a': [1, 2.5, 3 + 4j, "s", b"by", b"", None, True], 't': (np.float64(2.0),
           np.int32(7)), 'arr': np.arange(6, dtype=np.int16).reshape(2, 3),
           'f': np.asfortranarray(np.ones((2, 3), np.float32)),
           'nc': np.arange(10.0)[::2], 'dt': np.dtype('>f4')}
    for proto in range(0, pickle.HIGHEST_PROTOCOL + 1):
        back = _pickle.load(io.BytesIO(pickle.dumps(obj, protocol=proto)))
        assert back['a'] == obj['a'] and back['t'] == obj['t'] and back['dt'] == obj['dt']
        for k in ('arr', 'f', 'nc'):
            np.testing.assert_array_equal(back[k], obj[k])
            assert back[k].dtype == obj[k].dtype
        assert back['f'].flags.f_contiguous


# --------------------------------------------------------------- the book's shipped files
def _plain(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def test_shipped_ch07_params_load_into_simpleconvnet():
    path = book_file("ch07_params.pkl")
    np.random.seed(0)
    net = SimpleConvNet()
    net.load_params(path)
    ref = _plain(path)
    assert list(ref) == ['W1', 'b1', 'W2', 'b2', 'W3', 'b3']
    for k, v in ref.items():
        assert net.params[k].dtype == np.float64
        np.testing.assert_array_equal(net.params[k], v)
    assert_aliased(net)


def test_shipped_ch08_params_load_into_deepconvnet():
    path = book_file("ch08_deep_convnet_params.pkl")
    np.random.seed(0)
    net = DeepConvNet()
    net.load_params(path)
    ref = _plain(path)
    assert sorted(ref) == sorted(net.params)
    for k, v in ref.items():
        np.testing.assert_array_equal(net.params[k], v)
    assert_aliased(net)


def test_shipped_ch03_sample_weight_loads():
    path = book_file("ch03_sample_weight.pkl")
    d = _pickle.load(path)
    assert list(d) == ['b2', 'W1', 'b1', 'W2', 'W3', 'b3']
    assert d['W1'].dtype == np.float32 and d['W1'].flags.f_contiguous
    assert not d['W1'].flags.c_contiguous
    for k, v in _plain(path).items():
        np.testing.assert_array_equal(d[k], v)
    net = MultiLayerNet(784, [50, 100], 10, activation='sigmoid')
    net.load_params(path)
    assert_aliased(net)


def test_shipped_simpleconvnet_accuracy_on_mnist():
    """ch07's params.pkl on the MNIST test set: 0.9600, the value an independent numpy
    forward pass (sliding windows + einsum) also gives with this file. (The brief and the
    book quote ~0.99 for SimpleConvNet after the book's 20-epoch training run; the shipped
    file gives 0.96.)"""
    path = book_file("ch07_params.pkl")
    x, t = mnist_test(flatten=False)
    net = SimpleConvNet()
    net.load_params(path)
    acc = net.accuracy(x, t)
    assert abs(acc - 0.9600) <= 2e-4, acc  # at most 2 borderline images may flip
    net32 = SimpleConvNet(dtype=np.float32)  # the fast path gives the same accuracy
    net32.load_params(path)
    assert abs(net32.accuracy(x[:2000], t[:2000]) - net.accuracy(x[:2000], t[:2000])) <= 0.001


def test_shipped_deepconvnet_accuracy_on_mnist():
    """ch08's deep_convnet_params.pkl: 0.976 on the first 1000 test images (0.9797 on all
    10000), the values an independent numpy forward pass gives with this file (the book
    quotes ~0.993)."""
    path = book_file("ch08_deep_convnet_params.pkl")
    x, t = mnist_test(flatten=False)
    net = DeepConvNet()
    net.load_params(path)
    acc = net.accuracy(x[:1000], t[:1000])
    assert abs(acc - 0.976) <= 2e-3, acc  # at most 2 borderline images may flip


def test_shipped_ch03_accuracy_on_mnist():
    """ch03's 3-layer sigmoid net: the book's text gives 0.9352 on the test set."""
    path = book_file("ch03_sample_weight.pkl")
    x, t = mnist_test(flatten=True)
    net = MultiLayerNet(784, [50, 100], 10, activation='sigmoid')
    net.load_params(path)
    assert abs(net.accuracy(x, t) - 0.9352) < 5e-4
