"""BatchNormalization, Dropout and functions.dropout against the oracle: values over the
dtype x layout x threads matrix (bitwise across thread counts), float64 gradient checks,
numpy-RNG parity, the book's attribute/aliasing contract, and bad input."""
from fractions import Fraction

import numpy as np
import pytest

import dlcore
from dlcore import functions as F
from dlcore.layers import BatchNormalization, Dropout
from conftest import assert_close, assert_same_bits, make_layout, run_threads
from oracle import core as OC
from oracle import norm as O

# (N, D) and (N, C, H, W): 1x1, odd sizes, N = 1, and larger shapes (100, 100), (64, 1000),
# (8, 3, 17, 19); run_threads (conftest) lowers the fork threshold so that they fork.
BN_SHAPES = [(1, 1), (2, 3), (7, 65), (100, 100), (64, 1000), (1, 1, 1, 1), (2, 3, 4, 5),
             (8, 3, 17, 19)]


def _bn_operands(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    D = int(np.prod(shape[1:]))
    x = (rng.standard_normal(shape) * 2.0 + 0.5).astype(dtype)
    gamma = (rng.standard_normal(D) + 1.0).astype(dtype)
    beta = rng.standard_normal(D).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    rm = rng.standard_normal(D).astype(dtype)
    rv = rng.uniform(0.5, 2.0, D).astype(dtype)
    return x, gamma, beta, dout, rm, rv


def _bwd_scale(gamma, dout, std, n):
    """Magnitude of the terms the backward sums: |gamma dout / std|, times sqrt(N) for the
    N-term sums that cancel (dmu is ~0)."""
    return float(np.max(np.abs(gamma)) * np.max(np.abs(dout)) / np.min(std)) * np.sqrt(n)


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_bn_train_matrix(shape, dtype, layout):
    x, gamma, beta, dout, _, _ = _bn_operands(shape, dtype, sum(shape))
    xl, doutl = make_layout(x, layout), make_layout(dout, layout)
    gl = make_layout(gamma, "readonly" if layout == "readonly" else "C")

    def run():
        bn = BatchNormalization(gl, beta)
        out = bn.forward(xl, train_flg=True)
        dx = bn.backward(doutl)
        return (out, dx, bn.dgamma, bn.dbeta, bn.xc, bn.xn, bn.std, bn.running_mean,
                bn.running_var)

    results = run_threads(run)
    assert_same_bits(results)
    out, dx, dgamma, dbeta, xc, xn, std, rm, rv = results[0]
    for a in (out, dx, dgamma, dbeta, xc, xn, std, rm, rv):
        assert a.dtype == dtype
    assert out.shape == dx.shape == shape

    rout, cache = O.bn_train_forward(x, gamma, beta)
    N = shape[0]
    mag = float(np.max(np.abs(x))) + 1
    assert_close(out, rout, dtype, scale=float(np.max(np.abs(gamma)) + np.max(np.abs(beta))))
    assert_close(xc, cache["xc"], dtype, scale=mag)
    assert_close(xn, cache["xn"], dtype, scale=mag / float(np.min(cache["std"])))
    assert_close(std, cache["std"], dtype)
    # running stats: 0.9 * 0 + 0.1 * batch statistic
    assert_close(rm, O.running_update(0.0, cache["mean"], 0.9), dtype, scale=mag)
    assert_close(rv, O.running_update(0.0, cache["var"], 0.9), dtype, scale=mag * mag)

    rdx, rdgamma, rdbeta = O.bn_backward(dout, cache, gamma)
    sc = _bwd_scale(gamma, dout, cache["std"], N)
    assert_close(dx, rdx.reshape(shape), dtype, scale=sc)
    assert_close(dx, O.bn_backward_closed_form(dout, cache, gamma).reshape(shape), dtype,
                 scale=sc)
    dmag = float(np.max(np.abs(dout))) * np.sqrt(N)
    assert_close(dgamma, rdgamma, dtype, scale=dmag * mag / float(np.min(cache["std"])))
    assert_close(dbeta, rdbeta, dtype, scale=dmag)


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_bn_test_mode_matrix(shape, dtype, layout):
    x, gamma, beta, _, rm, rv = _bn_operands(shape, dtype, 7 + sum(shape))
    xl = make_layout(x, layout)

    def run():
        bn = BatchNormalization(gamma, beta, running_mean=rm, running_var=rv)
        out = bn.forward(xl, train_flg=False)
        assert bn.running_mean is rm and bn.running_var is rv  # test mode never touches them
        return out

    results = run_threads(run)
    assert_same_bits(results)
    out = results[0]
    assert out.dtype == dtype and out.shape == shape
    ref = O.bn_test_forward(x, gamma, beta, rm, rv)
    assert_close(out, ref, dtype, scale=float(np.max(np.abs(ref))) + 1)


@pytest.mark.parametrize("shape", [(50, 40), (64, 1000), (3000, 7), (8, 3, 17, 19)])
def test_bn_f64_bitwise_equals_the_spec_statements(shape):
    # float64: each kernel statement is the same IEEE operation, in the same order, as the
    # spec's numpy statement (numpy sums axis 0 of a C array row by row, as the kernel does),
    # so forward and backward reproduce the book to the bit
    x, gamma, beta, dout, _, _ = _bn_operands(shape, np.float64, 3)
    bn = BatchNormalization(gamma, beta)
    out = bn.forward(x)
    dx = bn.backward(dout)
    ref, cache = O.bn_train_forward(x, gamma, beta)
    rdx, rdgamma, rdbeta = O.bn_backward(dout, cache, gamma)
    for a, r in ((out, ref), (bn.xn, cache["xn"]), (bn.std, cache["std"]),
                 (dx, rdx.reshape(shape)), (bn.dgamma, rdgamma), (bn.dbeta, rdbeta)):
        np.testing.assert_array_equal(a, r)


@pytest.mark.parametrize("shape", [(5, 4), (3, 2, 3, 2), (1, 3)])
def test_bn_gradient_check(shape):
    x, gamma, beta, dout, _, _ = _bn_operands(shape, np.float64, 11 + sum(shape))
    bn = BatchNormalization(gamma, beta)

    def f():
        return float(np.sum(bn.forward(x, train_flg=True) * dout))

    bn.forward(x, train_flg=True)
    dx = bn.backward(dout)
    dgamma, dbeta = bn.dgamma.copy(), bn.dbeta.copy()
    # 4-point difference, h = 1e-3: truncation O(h^4) ~ 1e-12 relative on this smooth f
    for analytic, var in ((dx, x), (dgamma, gamma), (dbeta, beta)):
        num = OC.central_diff4(f, var)
        assert_close(analytic, num, np.float64, rtol=1e-7, atol=1e-8)


def test_bn_gradient_check_in_a_network():
    """gradient_check on Affine -> BatchNormalization -> Relu -> Affine -> squared error
    (not SoftmaxWithLoss: its +1e-7 inside the log biases the check by ~1e-7)."""
    from dlcore.gradient import gradient_check
    from dlcore.layers import Affine, Relu

    class Net:
        def __init__(self, rng):
            self.params = {"W1": rng.standard_normal((6, 5)), "b1": rng.standard_normal(5),
                           "gamma1": rng.uniform(0.5, 1.5, 5), "beta1": rng.standard_normal(5),
                           "W2": rng.standard_normal((5, 3)), "b2": rng.standard_normal(3)}
            p = self.params
            self.layers = [Affine(p["W1"], p["b1"]), BatchNormalization(p["gamma1"], p["beta1"]),
                           Relu(), Affine(p["W2"], p["b2"])]

        def loss(self, x, t):
            for layer in self.layers:
                x = layer.forward(x)
            self.y = x
            return 0.5 * np.sum((x - t) ** 2)

        def gradient(self, x, t):
            self.loss(x, t)
            d = self.y - t
            for layer in reversed(self.layers):
                d = layer.backward(d)
            a1, bn, _, a2 = self.layers
            return {"W1": a1.dW, "b1": a1.db, "gamma1": bn.dgamma, "beta1": bn.dbeta,
                    "W2": a2.dW, "b2": a2.db}

    rng = np.random.default_rng(29)
    net = Net(rng)
    x, t = rng.standard_normal((8, 6)), rng.standard_normal((8, 3))
    # no pre-activation near the Relu kink (a perturbation moves it by ~1e-2 at most)
    pre = net.layers[1].forward(net.layers[0].forward(x))
    assert np.min(np.abs(pre)) > 0.05
    diffs = gradient_check(net, x, t, points=4, h=1e-3)
    assert list(diffs) == ["W1", "b1", "gamma1", "beta1", "W2", "b2"]
    for key, (mean, mx) in diffs.items():
        assert 0 <= mean <= mx < 1e-8, (key, mean, mx)
    # the book's 2-point difference: O(h^2) = 1e-8 truncation on O(1) curvature
    for key, (mean, mx) in gradient_check(net, x, t).items():
        assert mx < 1e-6, (key, mean, mx)
    # b1 feeds BN, which removes any per-feature shift: its true gradient is 0
    np.testing.assert_allclose(net.gradient(x, t)["b1"], 0, atol=1e-12)

    # a wrong backward is caught
    class Broken(Net):
        def gradient(self, x, t):
            g = super().gradient(x, t)
            g["W2"] = g["W2"] * 1.01
            return g

    bad = gradient_check(Broken(np.random.default_rng(29)), x, t, keys=["W2", "b2"])
    assert list(bad) == ["W2", "b2"] and bad["W2"][1] > 1e-4 and bad["b2"][1] < 1e-6


def test_bn_book_attributes_and_rebinding():
    gamma, beta = np.ones(3), np.zeros(3)
    bn = BatchNormalization(gamma, beta)
    assert not hasattr(bn, "xn")  # created by the first training forward only
    for name in ("gamma", "beta", "momentum", "input_shape", "running_mean", "running_var",
                 "batch_size", "xc", "std", "dgamma", "dbeta"):
        assert hasattr(bn, name)
    assert bn.gamma is gamma and bn.beta is beta and bn.momentum == 0.9
    assert hasattr(BatchNormalization, "_BatchNormalization__forward")
    assert hasattr(BatchNormalization, "_BatchNormalization__backward")
    x = np.array([[1.0, 2.0, 3.0], [3.0, 6.0, 11.0]])
    bn.forward(x)
    assert bn.batch_size == 2 and bn.input_shape == (2, 3)
    assert bn.xc.shape == bn.xn.shape == (2, 3) and bn.std.shape == (3,)
    rm1 = bn.running_mean
    rm1_copy = rm1.copy()
    bn.forward(x)
    assert bn.running_mean is not rm1  # rebound, never written in place
    np.testing.assert_array_equal(rm1, rm1_copy)
    mean = x.mean(axis=0)
    np.testing.assert_allclose(bn.running_mean, 0.9 * (0.1 * mean) + 0.1 * mean, rtol=1e-15)
    # the caller's gamma is read on every call (aliasing with params)
    gamma *= 2
    out = bn.forward(x)
    np.testing.assert_allclose(out, 2 * bn.xn, rtol=1e-15)


def test_bn_lazy_running_stats_even_in_test_mode():
    bn = BatchNormalization(np.ones(2), np.zeros(2))
    x = np.array([[0.5, -1.0]])
    out = bn.forward(x, train_flg=False)
    np.testing.assert_array_equal(bn.running_mean, [0.0, 0.0])
    np.testing.assert_array_equal(bn.running_var, [0.0, 0.0])
    assert bn.running_mean.dtype == np.float64
    # divided by sqrt(0 + 1e-6): scaled by 1000
    np.testing.assert_allclose(out, x * 1000, rtol=1e-12)


def test_bn_dtypes():
    rng = np.random.default_rng(2)
    x32 = rng.standard_normal((4, 3)).astype(np.float32)
    g32, b32 = np.ones(3, np.float32), np.zeros(3, np.float32)
    bn = BatchNormalization(g32, b32)
    assert bn.forward(x32).dtype == np.float32
    assert bn.running_mean.dtype == np.float32  # all-float32 layer stays float32
    assert bn.backward(np.ones((4, 3), np.float32)).dtype == np.float32
    assert bn.dgamma.dtype == bn.dbeta.dtype == np.float32
    assert bn.forward(x32, train_flg=False).dtype == np.float32
    # float32 x with the book's float64 params: numpy promotion, the book's values
    bn = BatchNormalization(np.ones(3), np.zeros(3))
    out = bn.forward(x32)
    assert out.dtype == np.float64 and bn.xn.dtype == np.float32
    ref, _ = O.bn_train_forward(x32, np.ones(3), np.zeros(3))
    assert_close(out, ref, np.float32, scale=3)
    dx = bn.backward(np.ones((4, 3)))
    assert dx.dtype == np.float64
    # integer input (uint8 images): float64 as the book
    bn = BatchNormalization(np.ones(3), np.zeros(3))
    xi = np.array([[1, 2, 3], [5, 2, 0]], np.uint8)
    out = bn.forward(xi)
    assert out.dtype == np.float64
    assert_close(out, O.bn_train_forward(xi, np.ones(3), np.zeros(3))[0], np.float64)


def test_bn_bad_input():
    bn = BatchNormalization(np.ones(12), np.zeros(12))
    with pytest.raises(ValueError, match=r"expected x of shape \(N, D\) or \(N, C, H, W\)"):
        bn.forward(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"expected x of shape"):
        bn.forward(np.ones(12))
    # a per-channel gamma on 4-D input: the book normalises per C*H*W feature
    bn = BatchNormalization(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"expected gamma of shape \(12,\).*per C\*H\*W"):
        bn.forward(np.ones((2, 3, 2, 2)))
    bn = BatchNormalization(np.ones(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"expected beta of shape \(3,\)"):
        bn.forward(np.ones((2, 3)))
    bn = BatchNormalization(np.ones(3), np.zeros(3))
    with pytest.raises(RuntimeError, match="call forward"):
        bn.backward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="at least one sample"):
        bn.forward(np.ones((0, 3)))
    bn.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"expected dout of shape \(2, 3\)"):
        bn.backward(np.ones((3, 3)))
    with pytest.raises(TypeError, match="expected a real numeric array"):
        bn.forward(np.array([["a", "b", "c"]]))
    bn = BatchNormalization(np.ones(3), np.zeros(3), running_mean=np.zeros(2),
                            running_var=np.ones(2))
    with pytest.raises(ValueError, match=r"expected running_mean of shape \(3,\)"):
        bn.forward(np.ones((2, 3)), train_flg=False)


# ---------------------------------------------------------------------------------- dropout
def _rng_state_equal(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


@pytest.mark.parametrize("inverted", [False, True])
@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.5, 1.0])
def test_dropout_rng_parity(ratio, inverted):
    x = np.random.default_rng(0).standard_normal((7, 5, 3))
    np.random.seed(1234)
    expected_mask = np.random.rand(*x.shape) > ratio
    expected_state = np.random.get_state()
    np.random.seed(1234)
    d = Dropout(ratio, inverted=inverted)
    out = d.forward(x, train_flg=True)
    assert d.mask.dtype == np.bool_
    np.testing.assert_array_equal(d.mask, expected_mask)
    assert _rng_state_equal(np.random.get_state(), expected_state)
    if inverted:
        scale = 1.0 / (1.0 - ratio) if ratio < 1 else 0.0
        np.testing.assert_array_equal(out, x * expected_mask * scale)
    else:
        np.testing.assert_array_equal(out, x * expected_mask)


@pytest.mark.parametrize("ratio", [np.float32(0.3), np.float16(0.7), 1, np.int64(0),
                                   Fraction(1, 3)])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_dropout_mask_is_numpys_comparison_for_every_ratio_type(ratio, dt):
    # plain numbers are drawn and compared in C (the engine's dl_dropout_draw), a Fraction by
    # numpy's own comparison: the book's mask and RNG state either way
    x = np.random.default_rng(1).standard_normal((13, 29)).astype(dt)
    np.random.seed(77)
    expected_mask = np.random.rand(*x.shape) > ratio
    expected_state = np.random.get_state()
    np.random.seed(77)
    d = Dropout(ratio)
    out = d.forward(x)
    assert d.mask.dtype == np.bool_ and d.mask.shape == x.shape
    np.testing.assert_array_equal(d.mask, expected_mask)
    assert _rng_state_equal(np.random.get_state(), expected_state)
    np.testing.assert_array_equal(out, x * expected_mask)
    assert out.dtype == dt


def test_dropout_book_semantics(dtype, layout):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((41, 1001)).astype(dtype)  # 41k elements: above the threshold
    dout = rng.standard_normal(x.shape).astype(dtype)
    xl, dl = make_layout(x, layout), make_layout(dout, layout)

    def run():
        np.random.seed(5)
        d = Dropout(0.3)
        out = d.forward(xl)
        dx = d.backward(dl)
        test = d.forward(xl, train_flg=False)
        dx_stale = d.backward(dl)  # the last TRAINING mask is reused, as in the book
        return out, dx, test, dx_stale, d.mask

    results = run_threads(run)
    assert_same_bits(results)
    out, dx, test, dx_stale, mask = results[0]
    np.random.seed(5)
    ref_mask = np.random.rand(*x.shape) > 0.3
    np.testing.assert_array_equal(mask, ref_mask)
    for a in (out, dx, test):
        assert a.dtype == dtype
    np.testing.assert_array_equal(out, x * ref_mask)
    np.testing.assert_array_equal(dx, dout * ref_mask)
    np.testing.assert_array_equal(dx_stale, dx)
    np.testing.assert_array_equal(test, x * (1 - 0.3))


def test_dropout_inverted_layer(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((30, 20)).astype(dtype)
    d = Dropout(0.25, inverted=True)
    assert d.forward(x, train_flg=False) is x  # identity at test time
    np.random.seed(9)
    out = d.forward(x)
    np.random.seed(9)
    mask = np.random.rand(*x.shape) > 0.25
    assert out.dtype == dtype
    # kernel: x * mask * (1/(1-p) rounded to the dtype), numpy's own rounding
    np.testing.assert_array_equal(out, x * mask * dtype.type(1 / 0.75))
    dout = np.ones_like(x)
    np.testing.assert_array_equal(d.backward(dout), dout * mask * dtype.type(1 / 0.75))


def test_dropout_gradient_check_fixed_mask():
    rng = np.random.default_rng(8)
    x, dout = rng.standard_normal((6, 7)), rng.standard_normal((6, 7))
    for inverted in (False, True):
        d = Dropout(0.4, inverted=inverted)

        def f():
            np.random.seed(77)  # the same mask on every evaluation
            return float(np.sum(d.forward(x) * dout))

        f()
        dx = d.backward(dout)
        assert_close(dx, OC.central_diff4(f, x), np.float64, rtol=1e-9, atol=1e-9)


def test_dropout_other_dtypes_follow_numpy():
    xi = np.arange(6).reshape(2, 3)
    np.random.seed(0)
    d = Dropout(0.5)
    out = d.forward(xi)
    assert out.dtype == xi.dtype  # int * bool stays int, as the book
    assert d.forward(xi, train_flg=False).dtype == np.float64
    x16 = np.ones((2, 3), np.float16)
    assert d.forward(x16).dtype == np.float16
    # a numpy-scalar ratio promotes float32 at test time exactly as the book's x * (1 - r)
    x32 = np.ones((2, 2), np.float32)
    assert Dropout(np.float64(0.5)).forward(x32, train_flg=False).dtype == np.float64
    assert Dropout(0.5).forward(x32, train_flg=False).dtype == np.float32


def test_dropout_bad_input():
    for bad in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError, match=r"Dropout: expected dropout_ratio in \[0, 1\]"):
            Dropout(bad)
    with pytest.raises(TypeError, match="expected a number in"):
        Dropout("0.5")
    d = Dropout(0.5)
    with pytest.raises(RuntimeError, match="call forward"):
        d.backward(np.ones(3))
    d.dropout_ratio = 2.0  # rebinding the attribute is checked on use
    with pytest.raises(ValueError, match=r"Dropout.forward: expected dropout_ratio in \[0, 1\]"):
        d.forward(np.ones(3))
    d = Dropout(0.5)
    d.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"expected dout of shape \(2, 3\)"):
        d.backward(np.ones((3, 2)))


# ------------------------------------------------------------------------ functions.dropout
def test_functional_dropout_edges(dtype):
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(dtype)
    state = np.random.get_state()
    y0 = F.dropout(x, 0.0)
    np.testing.assert_array_equal(y0, x)
    assert y0 is not x and y0.dtype == dtype
    y1 = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y1, np.zeros_like(x))
    assert y1.dtype == dtype
    assert _rng_state_equal(np.random.get_state(), state)  # p in {0, 1} draws nothing
    assert F.dropout(x, 0.5, train=False) is x
    for bad in (-0.1, 1.1):
        with pytest.raises(ValueError, match=r"dropout: expected drop_prob in \[0, 1\]"):
            F.dropout(x, bad)
    with pytest.raises(TypeError, match="expected a number"):
        F.dropout(x, None)
    assert "dropout" in F.__all__
    assert F.dropout(np.arange(4), 0.0).dtype == np.float64


def test_functional_dropout_rng_parity():
    x = np.random.default_rng(2).standard_normal((5, 6))
    np.random.seed(42)
    mask = np.random.rand(*x.shape) > 0.3
    state = np.random.get_state()
    np.random.seed(42)
    y = F.dropout(x, 0.3)
    assert _rng_state_equal(np.random.get_state(), state)
    np.testing.assert_array_equal(y, x * mask * (1 / 0.7))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_functional_dropout_statistics(p):
    n = 10 ** 6
    x = np.random.default_rng(int(p * 10)).standard_normal(n) + 1.0
    np.random.seed(2024)
    y = F.dropout(x, p)
    kept = np.count_nonzero(y) / n
    se_kept = np.sqrt(p * (1 - p) / n)
    assert abs(kept - (1 - p)) <= 3 * se_kept
    # E[y | x] = x and Var[y | x] = x^2 p / (1 - p)
    se_mean = np.sqrt(np.mean(x * x) * p / (1 - p) / n)
    assert abs(y.mean() - x.mean()) <= 3 * se_mean
    np.testing.assert_allclose(y[y != 0], x[y != 0] / (1 - p), rtol=1e-15)


def test_dropout_threads_unused_by_rng():
    """The mask comes from numpy's RNG in Python: the thread count cannot change it."""
    x = np.ones((300, 300))

    def run():
        np.random.seed(3)
        return F.dropout(x, 0.5)

    assert_same_bits(run_threads(run))
    assert dlcore.get_num_threads() >= 1


_PATH_PROBE = """
import json, numpy as np, dlcore
from dlcore.layers import BatchNormalization
from dlcore.optimizer import Adam, RMSprop
rng = np.random.default_rng(0)
out = []
for dt in (np.float64, np.float32):
    x = rng.standard_normal((64, 600)).astype(dt)
    g, b = rng.standard_normal(600).astype(dt), rng.standard_normal(600).astype(dt)
    bn = BatchNormalization(g, b)
    y = bn.forward(x)
    dx = bn.backward(x[::-1].copy())
    yt = bn.forward(x, train_flg=False)
    p = {"w": x.copy()}
    for opt in (Adam(lr=0.1), RMSprop(lr=0.1)):
        for _ in range(3):
            opt.update(p, {"w": x})
    out += [a.astype(np.float64).ravel()[::97].tolist() for a in (y, dx, bn.dgamma, yt, p["w"])]
print(json.dumps({"path": dlcore.config()["kernel_path"], "vals": out}))
"""


def test_kernel_paths_give_the_same_bits():
    """baseline / avx2 / avx512 builds of the BN and optimizer kernels agree bit for bit
    (-ffp-contract=off: no FMA contraction, the same IEEE operations on every path)."""
    from conftest import outputs_on_every_kernel_path

    runs = outputs_on_every_kernel_path(_PATH_PROBE)
    for path, res in runs.items():
        assert res["vals"] == runs["baseline"]["vals"], path


def test_inverted_dropout_layer_edges_and_statistics():
    x = np.random.default_rng(6).standard_normal(10 ** 6) + 1.0
    d0 = Dropout(0.0, inverted=True)
    np.random.seed(1)
    np.testing.assert_array_equal(d0.forward(x), x)  # rand() > 0 keeps everything here
    d1 = Dropout(1.0, inverted=True)
    np.testing.assert_array_equal(d1.forward(x[:100]), np.zeros(100))
    np.testing.assert_array_equal(d1.backward(np.ones(100)), np.zeros(100))
    for bad in (-0.1, 1.1):
        with pytest.raises(ValueError, match=r"expected dropout_ratio in \[0, 1\]"):
            Dropout(bad, inverted=True)
    p = 0.3
    np.random.seed(11)
    y = Dropout(p, inverted=True).forward(x)
    n = x.size
    assert abs(np.count_nonzero(y) / n - (1 - p)) <= 3 * np.sqrt(p * (1 - p) / n)
    assert abs(y.mean() - x.mean()) <= 3 * np.sqrt(np.mean(x * x) * p / (1 - p) / n)
