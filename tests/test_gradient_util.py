"""dlcore.gradient (the book's numerical gradients and gradient_check), dlcore.util
(smooth_curve, shuffle_dataset, conv_output_size) and dlcore.layer_naive, against the spec
and the oracle; the docstring examples of the modules of this group."""
import doctest

import numpy as np
import pytest

import dlcore._norm
import dlcore.functions
import dlcore.gradient
import dlcore.layer_naive
import dlcore.optimizer
import dlcore.util
from dlcore.gradient import (_numerical_gradient_1d, gradient_check, numerical_gradient,
                             numerical_gradient_2d)
from dlcore.layer_naive import AddLayer, MulLayer
from dlcore.util import conv_output_size, shuffle_dataset, smooth_curve
from oracle import norm as O

H = 1e-4


# ---------------------------------------------------------------------------- gradients
def test_numerical_gradient_known_function_any_shape():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 2))
    x_before = x.copy()
    seen = []

    def f(a):
        seen.append(a)
        return np.sum(a ** 3)

    g = numerical_gradient(f, x)
    # ((x+h)^3 - (x-h)^3) / 2h = 3x^2 + h^2 exactly; rounding of the O(1) sums / 2h ~ 1e-12
    np.testing.assert_allclose(g, 3 * x_before ** 2 + H * H, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(x, x_before)  # restored bit for bit
    assert all(a is x for a in seen) and len(seen) == 2 * x.size  # f receives the whole x
    assert g.dtype == x.dtype and g.shape == x.shape


def test_numerical_gradient_perturbs_in_place_for_aliased_closures():
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    view = W  # a "layer" holding the same array
    g = numerical_gradient(lambda _: float(np.sum(view * view)), W)
    np.testing.assert_allclose(g, 2 * W, rtol=1e-9)


def test_numerical_gradient_dtypes_as_the_book():
    # integer arrays: x +- h is truncated on assignment, so the result is wrong (spec 4)
    x = np.array([1, 2, 3])
    g = numerical_gradient(lambda a: np.sum(a ** 2), x)
    np.testing.assert_array_equal(g, [5000, 15000, 25000])
    assert g.dtype == x.dtype
    np.testing.assert_array_equal(x, [1, 2, 3])
    x32 = np.array([1.0, 2.0], np.float32)
    assert numerical_gradient(lambda a: np.sum(a * a), x32).dtype == np.float32


def test_numerical_gradient_2d_and_1d():
    X = np.array([[3.0, 4.0], [-1.0, 0.5], [0.0, 2.0]])
    rows = []

    def f(p):
        rows.append(p.shape)
        return p[0] ** 2 + p[1] ** 2

    g = numerical_gradient_2d(f, X)
    np.testing.assert_allclose(g, 2 * X, rtol=1e-9, atol=1e-9)
    assert set(rows) == {(2,)}  # f receives one row at a time
    g1 = numerical_gradient_2d(lambda p: np.sum(p ** 2), np.array([1.0, -2.0]))
    np.testing.assert_allclose(g1, [2.0, -4.0], rtol=1e-9)
    x = np.array([0.5, 1.5, -2.0])
    np.testing.assert_allclose(_numerical_gradient_1d(lambda a: np.sum(np.sin(a)), x),
                               np.cos(x), rtol=1e-8)
    np.testing.assert_array_equal(x, [0.5, 1.5, -2.0])


class _Quadratic:
    """loss = sum((A w - t)^2) over a batch; an exact gradient (optionally corrupted)."""

    def __init__(self, wrong=0.0):
        rng = np.random.default_rng(1)
        self.params = {"w": rng.standard_normal(3), "A": rng.standard_normal((4, 3))}
        self.wrong = wrong

    def loss(self, x, t):
        return np.sum((self.params["A"] @ self.params["w"] * x - t) ** 2)

    def gradient(self, x, t):
        A, w = self.params["A"], self.params["w"]
        r = 2 * (A @ w * x - t) * x
        return {"w": A.T @ r * (1 + self.wrong), "A": np.outer(r, w), "extra": np.ones(1)}


def test_gradient_check_matches_and_detects_errors():
    x, t = np.array([0.5, 1.0, -1.0, 2.0]), np.array([1.0, 0.0, 2.0, -1.0])
    net = _Quadratic()
    d2 = gradient_check(net, x, t)
    d4 = gradient_check(net, x, t, points=4, h=1e-3)
    assert list(d2) == list(d4) == ["w", "A"]
    for key in d2:
        mean2, max2 = d2[key]
        assert isinstance(mean2, float) and 0 <= mean2 <= max2 < 1e-6
        assert d4[key][1] < 1e-9  # the 4-point stencil is exact on a quadratic up to rounding
    bad = gradient_check(_Quadratic(wrong=0.01), x, t, keys=["w"])
    assert list(bad) == ["w"] and bad["w"][1] > 1e-3
    before = {k: v.copy() for k, v in net.params.items()}
    gradient_check(net, x, t)
    for k in before:
        np.testing.assert_array_equal(net.params[k], before[k])  # params restored


def test_gradient_check_bad_input():
    x, t = np.ones(4), np.ones(4)
    with pytest.raises(ValueError, match=r"gradient_check: expected points=2 or 4; got 3"):
        gradient_check(_Quadratic(), x, t, points=3)
    with pytest.raises(ValueError, match="expected a positive step h"):
        gradient_check(_Quadratic(), x, t, h=0)
    with pytest.raises(TypeError, match="expected a network with params, loss and gradient"):
        gradient_check(object(), x, t)
    net = _Quadratic()
    net.params["n"] = np.arange(3)
    with pytest.raises(TypeError, match=r"expected params\['n'\] to be a writable float array"):
        gradient_check(net, x, t)
    net = _Quadratic()
    net.params["z"] = np.zeros(2)
    with pytest.raises(KeyError, match="returned no gradient for 'z'"):
        gradient_check(net, x, t)


# ---------------------------------------------------------------------------------- util
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 9, 10, 11, 12, 37, 200])
def test_smooth_curve_against_oracle(n):
    x = np.cumsum(np.random.default_rng(n).standard_normal(n)) + np.arange(n) * 0.1
    y = smooth_curve(x)
    ref = O.smooth_curve(x)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12 * (np.max(np.abs(x)) + 1))
    if n >= 11:
        assert len(y) == n
    if n == 5:
        assert len(y) == 0  # spec 5 (verified against the book)


def test_smooth_curve_list_constant_and_ramp_end():
    np.testing.assert_allclose(smooth_curve([2.0] * 15), 2.0, rtol=1e-14)
    # a ramp: the start mirror x[10..1] keeps the slope's symmetry, the end mirror starts at
    # the last sample itself (the book's slice), which pins the last output
    r = np.arange(20.0)
    y = smooth_curve(list(r))
    np.testing.assert_allclose(y[:1], O.smooth_curve(r)[:1], rtol=1e-14)
    assert abs(y[0] - 0.0) > 0.1 and abs(y[-1] - 19.0) > 0.1
    np.testing.assert_allclose(y[-1], O.smooth_curve(r)[-1], rtol=1e-14)


def test_shuffle_dataset_rng_parity_and_copies():
    x = np.arange(20.0).reshape(10, 2)
    t = np.arange(10)
    np.random.seed(3)
    perm = np.random.permutation(10)
    state = np.random.get_state()
    np.random.seed(3)
    xs, ts = shuffle_dataset(x, t)
    after = np.random.get_state()
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]
    np.testing.assert_array_equal(xs, x[perm])
    np.testing.assert_array_equal(ts, t[perm])
    assert not np.shares_memory(xs, x) and not np.shares_memory(ts, t)
    x4 = np.arange(2 * 3 * 2 * 2.0).reshape(2, 3, 2, 2)
    t1h = np.eye(2)
    np.random.seed(0)
    p = np.random.permutation(2)
    np.random.seed(0)
    x4s, ts = shuffle_dataset(x4, t1h)
    np.testing.assert_array_equal(x4s, x4[p])
    np.testing.assert_array_equal(ts, t1h[p])


def test_shuffle_dataset_bad_rank():
    with pytest.raises(IndexError, match=r"shuffle_dataset: expected x of shape \(N, D\) or "
                                         r"\(N, C, H, W\); got float64 array of shape \(2, 3, 4\)"):
        shuffle_dataset(np.ones((2, 3, 4)), np.arange(2))
    with pytest.raises(IndexError, match="expected x of shape"):
        shuffle_dataset(np.ones(3), np.arange(3))


def test_conv_output_size_true_division():
    r = conv_output_size(28, 5)
    assert r == 24.0 and isinstance(r, float)
    assert conv_output_size(7, 3, stride=2, pad=1) == 4.0
    assert conv_output_size(6, 3, stride=2) == 2.5  # not floored, as the book


# --------------------------------------------------------------------------- layer_naive
def test_buy_apple_orange():
    apple, apple_num, orange, orange_num, tax = 100, 2, 150, 3, 1.1
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    apple_price = mul_apple.forward(apple, apple_num)
    orange_price = mul_orange.forward(orange, orange_num)
    all_price = add.forward(apple_price, orange_price)
    price = mul_tax.forward(all_price, tax)
    assert price == pytest.approx(715, rel=1e-15)
    dall, dtax = mul_tax.backward(1)
    dapple_price, dorange_price = add.backward(dall)
    dorange, dorange_num = mul_orange.backward(dorange_price)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    assert dtax == 650
    assert (dapple, dapple_num) == pytest.approx((2.2, 110), rel=1e-15)
    assert (dorange, dorange_num) == pytest.approx((3.3, 165), rel=1e-15)
    # chapter 5's apple-only example
    m1, m2 = MulLayer(), MulLayer()
    assert m2.forward(m1.forward(100, 2), 1.1) == pytest.approx(220, rel=1e-15)
    d, dt = m2.backward(1)
    assert dt == 200 and m1.backward(d) == pytest.approx((2.2, 110), rel=1e-15)


def test_naive_layers_on_arrays():
    m = MulLayer()
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    np.testing.assert_array_equal(m.forward(x, y), [3.0, -2.0])
    dx, dy = m.backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(dx, [3.0, -10.0])
    np.testing.assert_array_equal(dy, [1.0, 20.0])
    a, b = AddLayer().backward(np.array([2.0]))
    np.testing.assert_array_equal(a, [2.0])
    with pytest.raises(RuntimeError, match="MulLayer.backward: call forward"):
        MulLayer().backward(1.0)


@pytest.mark.parametrize("module", [dlcore._norm, dlcore.gradient, dlcore.util,
                                    dlcore.layer_naive, dlcore.optimizer, dlcore.functions],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    state = np.random.get_state()
    try:
        res = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    finally:
        np.random.set_state(state)
    assert res.attempted > 0 and res.failed == 0


def test_star_import_surfaces():
    # the book's modules have no __all__: a star import also brings np (spec Gotcha 14)
    for mod, names in (("dlcore.gradient", ("numerical_gradient", "numerical_gradient_2d", "np")),
                       ("dlcore.util", ("smooth_curve", "shuffle_dataset", "conv_output_size",
                                        "np")),
                       ("dlcore.layer_naive", ("MulLayer", "AddLayer")),
                       ("dlcore.layers", ("Dropout", "BatchNormalization", "Affine", "np"))):
        ns = {}
        exec(f"from {mod} import *", ns)
        for name in names:
            assert name in ns, (mod, name)
