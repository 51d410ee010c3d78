"""dlcore.functions against the oracle: values, dtypes, layouts, threads, edge cases."""
import numpy as np
import pytest

import dlcore
from dlcore import functions as F
from conftest import assert_close, assert_same_bits, make_layout, run_threads
from oracle import core as O

# (1, 1), odd sizes, and 301*257 = 77357 elements; run_threads (conftest) lowers the fork
# threshold, so on 2 threads the multi-block loops take the OpenMP branch.
SHAPES = [(1, 1), (7, 13), (301, 257)]
ELEMENTWISE = [
    (F.sigmoid, O.sigmoid),
    (F.sigmoid_grad, O.sigmoid_grad),
    (F.relu, O.relu),
    (F.relu_grad, O.relu_grad),
    (F.softmax, O.softmax),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fn,oracle", ELEMENTWISE, ids=lambda f: getattr(f, "__name__", ""))
def test_matches_oracle_dtype_layout_threads(fn, oracle, shape, dtype, layout):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    x.flat[0] = 0.0  # an exact kink
    xin = make_layout(x, layout)
    results = run_threads(lambda: fn(xin))
    assert_same_bits(results)
    y = results[0]
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, oracle(x), dtype, scale=1.0)
    if layout == "readonly":
        assert not xin.flags.writeable  # input untouched and still read-only


def test_exact_points_and_ieee_edges():
    x = np.array([-1.0, 0.0, 1.0, np.nan, 800.0, -800.0, -0.0])
    np.testing.assert_array_equal(F.relu(x), O.relu(x))
    np.testing.assert_array_equal(F.relu_grad(x), [0, 1, 1, 0, 1, 0, 1])
    s = F.sigmoid(x)
    assert s[4] == 1.0 and s[5] == 0.0 and np.isnan(s[3]) and s[1] == 0.5
    np.testing.assert_array_equal(F.step_function(x), [0, 0, 1, 0, 1, 0, 0])
    assert F.step_function(x).dtype == np.int64


def test_identity_returns_same_object():
    x = np.ones(3)
    assert F.identity_function(x) is x


def test_book_dtype_rules_for_other_dtypes():
    xi = np.array([-2, 0, 3])
    assert F.relu(xi).dtype == xi.dtype  # ints stay ints
    np.testing.assert_array_equal(F.relu(xi), [0, 0, 3])
    assert F.sigmoid(xi).dtype == np.float64
    assert_close(F.sigmoid(xi), O.sigmoid(xi.astype(float)), np.float64)
    h = np.array([0.5, -1.0], np.float16)
    assert F.sigmoid(h).dtype == np.float16 and F.softmax(h).dtype == np.float16
    assert isinstance(F.sigmoid(0.0), np.floating)
    assert F.softmax(np.array([1, 2, 3])).dtype == np.float64


def test_softmax_last_axis_any_rank():
    rng = np.random.default_rng(2)
    for shape in [(5,), (3, 4), (2, 3, 4), (2, 1, 3, 5)]:
        x = rng.standard_normal(shape)
        assert_close(F.softmax(x), O.softmax(x), np.float64)
    big = np.array([[1000.0, 1000.0], [-1000.0, 0.0]])  # max subtraction keeps it finite
    assert_close(F.softmax(big), [[0.5, 0.5], [0.0, 1.0]], np.float64, atol=0)


@pytest.mark.parametrize("n", [1, 9, 2050])  # 2050 rows: several 1024-row loss chunks
def test_cross_entropy_labels_onehot_1d(dtype, n):
    rng = np.random.default_rng(3)
    y = O.softmax(rng.standard_normal((n, 10))).astype(dtype)
    t = rng.integers(0, 10, n)
    want = O.cross_entropy(y.astype(np.float64), t)
    got = run_threads(lambda: F.cross_entropy_error(y, t))
    assert_same_bits(got)
    assert isinstance(got[0], dtype.type)
    assert_close(got[0], want, dtype)
    onehot = np.eye(10)[t]
    assert_close(F.cross_entropy_error(y, onehot), want, dtype)
    # uint8 labels as load_mnist returns them, read-only
    t8 = t.astype(np.uint8)
    t8.flags.writeable = False
    assert_close(F.cross_entropy_error(y, t8), want, dtype)


def test_cross_entropy_single_sample_forms():
    y = np.array([0.1, 0.7, 0.2])
    want = -np.log(0.7 + 1e-7)
    assert_close(F.cross_entropy_error(y, 1), want)
    assert_close(F.cross_entropy_error(y, np.array([0, 1, 0])), want)
    assert_close(F.cross_entropy_error(y.reshape(1, 3), np.array([[1]])), want)  # ch07 T
    assert_close(F.softmax_loss(np.log(y), 1), want)


def test_sum_squared_error_both_names():
    y, t = np.array([0.1, 0.6, 0.3]), np.array([0, 1, 0])
    assert F.mean_squared_error is F.sum_squared_error
    assert_close(F.sum_squared_error(y, t), 0.5 * np.sum((y - t) ** 2))


def test_bad_input_errors():
    y = np.full((3, 4), 0.25)
    with pytest.raises(IndexError, match=r"expected labels in \[0, 4\); got 4 at position 1"):
        F.cross_entropy_error(y, np.array([0, 4, 1]))
    with pytest.raises(IndexError, match=r"got -1 at position 2"):
        F.cross_entropy_error(y, np.array([0, 1, -1]))
    with pytest.raises(ValueError, match=r"expected labels of shape \(3,\).*\(3, 1\)"):
        F.cross_entropy_error(y, np.array([[0], [1], [2]]))
    with pytest.raises(TypeError, match="expected integer class labels.*float64"):
        F.cross_entropy_error(y, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="empty batch"):
        F.cross_entropy_error(np.zeros((0, 4)), np.zeros(0, int))
    with pytest.raises(ValueError, match=r"expected y of shape \(N, C\)"):
        F.cross_entropy_error(np.zeros((2, 2, 2)), np.zeros(2, int))
    for fn in (F.sigmoid, F.relu, F.softmax, F.relu_grad, F.sigmoid_grad):
        with pytest.raises(TypeError, match="expected a real numeric array"):
            fn(np.array(["a", "b"]))
        with pytest.raises(TypeError, match="expected a real numeric array"):
            fn(np.array([1 + 2j]))


def test_nan_passes_through_like_numpy():
    x = np.array([[np.nan, 1.0, 2.0], [0.0, 1.0, 2.0]])
    y = F.softmax(x)
    assert np.isnan(y[0]).all() and np.isfinite(y[1]).all()
    assert np.isnan(F.relu(x)[0, 0])
