"""Relu, Sigmoid, Affine, SoftmaxWithLoss and SGD against the oracle; the book's array
contract (aliasing, in-place dout, dtype promotion); gradient checks; bad input."""
import os

import numpy as np
import pytest

import dlcore
from dlcore.layers import Affine, Relu, Sigmoid, SoftmaxWithLoss
from dlcore.optimizer import SGD
from conftest import assert_close, assert_same_bits, make_layout, run_threads
from oracle import core as O

# (1,1,1), odd sizes, and (100,784,50) = the book's first layer (7.8 Mflop); (301, 130, 7)
# spans several GEMM row blocks. run_threads (conftest) lowers the fork threshold.
AFFINE_SHAPES = [(1, 1, 1), (3, 5, 7), (100, 784, 50), (301, 130, 7)]


@pytest.mark.parametrize("N,D,M", AFFINE_SHAPES)
def test_affine_matrix(N, D, M, dtype, layout):
    rng = np.random.default_rng(N + D + M)
    x = rng.standard_normal((N, D)).astype(dtype)
    W = rng.standard_normal((D, M)).astype(dtype)
    b = rng.standard_normal(M).astype(dtype)
    dout = rng.standard_normal((N, M)).astype(dtype)
    xl, Wl, doutl = make_layout(x, layout), make_layout(W, layout), make_layout(dout, layout)

    def run():
        layer = Affine(Wl, b)
        out = layer.forward(xl)
        dx = layer.backward(doutl)
        return out, dx, layer.dW, layer.db

    results = run_threads(run)
    assert_same_bits(results)
    out, dx, dW, db = results[0]
    for a in (out, dx, dW, db):
        assert a.dtype == dtype
    x64, W64, d64 = x.astype(float), W.astype(float), dout.astype(float)
    # products sum D (or N) terms of magnitude ~1: atol scales with sqrt of the count
    assert_close(out, O.affine_forward(x64, W64, b.astype(float)), dtype, scale=np.sqrt(D))
    rdx, rdW, rdb = O.affine_backward(d64, x64, W64)
    assert_close(dx, rdx, dtype, scale=np.sqrt(M))
    assert_close(dW, rdW, dtype, scale=np.sqrt(N))
    assert_close(db, rdb, dtype, scale=np.sqrt(N))


def test_affine_flattens_4d_and_restores_shape():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 5))
    W, b = rng.standard_normal((60, 4)), rng.standard_normal(4)
    layer = Affine(W, b)
    out = layer.forward(x)
    assert layer.original_x_shape == (2, 3, 4, 5) and layer.x.shape == (2, 60)
    assert_close(out, O.affine_forward(x, W, b), scale=8)
    dx = layer.backward(np.ones((2, 4)))
    assert dx.shape == x.shape


def test_affine_gradient_check():
    rng = np.random.default_rng(6)
    x, W, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((4, 3))
    layer = Affine(W, b)

    def f():  # sum(out * dout): its gradient is the backward pass of dout
        return float(np.sum(layer.forward(x) * dout))

    layer.forward(x)
    dx = layer.backward(dout)
    dW, db = layer.dW, layer.db
    # 4-point differences of a function that is linear in each variable: exact up to rounding
    for analytic, var in ((dx, x), (dW, W), (db, b)):
        assert_close(analytic, O.central_diff4(f, var), np.float64, rtol=1e-9, atol=1e-9)


def test_affine_aliasing_contract():
    W, b = np.ones((3, 2)), np.zeros(2)
    layer = Affine(W, b)
    x = np.ones((1, 3))
    np.testing.assert_array_equal(layer.forward(x), [[3.0, 3.0]])
    W *= 2  # an optimizer's in-place update ...
    b += 1
    np.testing.assert_array_equal(layer.forward(x), [[7.0, 7.0]])  # ... is seen
    assert layer.W is W and layer.b is b
    # numerical_gradient-style perturbation of one entry in place
    h = 1e-4
    W[0, 0] += h
    up = layer.forward(x)[0, 0]
    W[0, 0] -= 2 * h
    down = layer.forward(x)[0, 0]
    W[0, 0] += h
    assert_close((up - down) / (2 * h), 1.0, rtol=1e-9)  # d out[0,0] / d W[0,0] = x[0,0]


def test_affine_dtype_promotion():
    W64, b64 = np.ones((2, 2)), np.zeros(2)
    assert Affine(W64, b64).forward(np.ones((1, 2), np.float32)).dtype == np.float64
    assert Affine(W64, b64).forward(np.ones((1, 2), np.uint8)).dtype == np.float64
    W32, b32 = W64.astype(np.float32), b64.astype(np.float32)
    assert Affine(W32, b32).forward(np.ones((1, 2), np.float32)).dtype == np.float32
    assert Affine(W32, b64).forward(np.ones((1, 2), np.float32)).dtype == np.float64
    # Fortran-ordered float32 weights (the book's ch03 sample_weight.pkl)
    WF = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    out = Affine(WF, np.zeros(3, np.float32)).forward(np.ones((1, 2), np.float32))
    np.testing.assert_array_equal(out, [[3, 5, 7]])
    # a Python-scalar bias broadcasts
    np.testing.assert_array_equal(Affine(W64, 0).forward(np.ones((1, 2))), [[2.0, 2.0]])


@pytest.mark.parametrize("N, D, M", [(1, 1, 1), (3, 5, 2), (65, 33, 7), (130, 784, 50)])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_affine_float32_input_float64_params(N, D, M, layout):
    # float32 images into a float64 network take the block-converting kernel: the values of
    # the float64 product of the converted x (the oracle), the same bits on 1 and 2 threads
    rng = np.random.default_rng(N + D + M)
    x = rng.standard_normal((N, D)).astype(np.float32)
    W, b = rng.standard_normal((D, M)), rng.standard_normal(M)
    xl = make_layout(x, layout)
    results = run_threads(lambda: Affine(W, b).forward(xl))
    assert_same_bits(results)
    out = results[0]
    assert out.dtype == np.float64
    assert_close(out, O.affine_forward(x.astype(np.float64), W, b), np.float64)
    ref = Affine(W, b).forward(x.astype(np.float64))
    if dlcore.config()["kernel_path"] != "baseline" and os.environ.get("DLCORE_GEMM") != "blas":
        # dlcore's own GEMM gives each row the same bits whatever the row blocks (the BLAS,
        # on the baseline path, may not)
        np.testing.assert_array_equal(out, ref)
    else:
        assert_close(out, ref, np.float64)


def test_affine_backward_float32_input_float64_params():
    # a float32 x into a float64 layer: backward's results are those of the float64 x (the
    # oracle's, and the same bits as the layer on x converted), for batches of changing values
    # and shapes, and no earlier result changes on a later call
    rng = np.random.default_rng(3)
    W, b = rng.standard_normal((20, 6)), rng.standard_normal(6)
    layer, ref = Affine(W, b), Affine(W, b)
    kept = []
    for n in (5, 5, 9, 5):
        x = rng.standard_normal((n, 20)).astype(np.float32)
        dout = rng.standard_normal((n, 6))
        layer.forward(x)
        dx = layer.backward(dout)
        ref.forward(x.astype(np.float64))
        np.testing.assert_array_equal(dx, ref.backward(dout))
        np.testing.assert_array_equal(layer.dW, ref.dW)
        np.testing.assert_array_equal(layer.db, ref.db)
        assert_close(layer.dW, x.astype(np.float64).T @ dout, np.float64)
        assert layer.x is x  # the layer's x is the caller's array, as the book keeps it
        kept.append((dx, layer.dW, dx.copy(), layer.dW.copy()))
    for dx, dW, dx0, dW0 in kept:
        np.testing.assert_array_equal(dx, dx0)
        np.testing.assert_array_equal(dW, dW0)


def test_affine_empty_batch():
    layer = Affine(np.ones((3, 2)), np.zeros(2))
    out = layer.forward(np.zeros((0, 3)))
    assert out.shape == (0, 2)
    dx = layer.backward(np.zeros((0, 2)))
    assert dx.shape == (0, 3)
    np.testing.assert_array_equal(layer.dW, np.zeros((3, 2)))
    np.testing.assert_array_equal(layer.db, np.zeros(2))


def test_affine_bad_input():
    layer = Affine(np.ones((4, 5)), np.zeros(5))
    with pytest.raises(ValueError, match=r"x has 3 features but W expects 4 \(x.shape=\(2, 3\)"):
        layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="expected x of shape .* got float64 array of shape \\(4,\\)"):
        layer.forward(np.ones(4))
    with pytest.raises(TypeError, match="expected a real numeric array"):
        layer.forward(np.array([["a"] * 4]))
    with pytest.raises(ValueError, match=r"expected b of shape \(5,\)"):
        Affine(np.ones((4, 5)), np.zeros(3)).forward(np.ones((2, 4)))
    layer.forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"expected dout of shape \(2, 5\)"):
        layer.backward(np.ones((2, 4)))
    with pytest.raises(RuntimeError, match="call forward first"):
        Affine(np.ones((4, 5)), np.zeros(5)).backward(np.ones((2, 5)))


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (301, 257)])
def test_relu_layer(shape, dtype, layout):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[0] = 0.0
    xin = make_layout(x, layout)
    before = np.array(xin, copy=True)

    def run():
        r = Relu()
        out = r.forward(xin)
        dout = np.full(shape, 3, dtype)
        dx = r.backward(dout)
        assert dx is dout  # the book zeroes dout in place and returns it
        return out, dx, r.mask

    results = run_threads(run)
    assert_same_bits(results)
    out, dx, mask = results[0]
    ref, ref_mask = O.relu_layer_forward(x)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(mask, ref_mask)
    assert mask.dtype == np.bool_
    np.testing.assert_array_equal(dx, np.where(ref_mask, 0, 3).astype(dtype))
    np.testing.assert_array_equal(np.asarray(xin), before)  # input not modified


def test_relu_layer_semantics_book():
    r = Relu()
    x = np.array([[-1.0, 0.0, np.nan, 2.0]])
    out = r.forward(x)
    np.testing.assert_array_equal(r.mask, [[True, True, False, False]])
    assert out[0, 1] == 0 and np.isnan(out[0, 2])
    dout = np.ones((1, 4))
    assert r.backward(dout) is dout
    np.testing.assert_array_equal(dout, [[0, 0, 1, 1]])  # gradient at 0 is 0, NaN passes
    # non-contiguous dout is still zeroed in place
    r.forward(np.array([[-1.0, 1.0]]))
    big = np.ones((1, 4))
    view = big[:, ::2]
    assert r.backward(view) is view
    np.testing.assert_array_equal(big, [[0, 1, 1, 1]])
    # ints keep the book's dtype
    np.testing.assert_array_equal(Relu().forward(np.array([-3, 4])), [0, 4])


def test_sigmoid_layer(dtype, layout):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((301, 257)).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    xin, din = make_layout(x, layout), make_layout(dout, layout)

    def run():
        s = Sigmoid()
        return s.forward(xin), s.backward(din)

    results = run_threads(run)
    assert_same_bits(results)
    out, dx = results[0]
    ref = O.sigmoid(x.astype(float))
    assert out.dtype == dtype and dx.dtype == dtype
    assert_close(out, ref, dtype)
    assert_close(dx, dout * (1.0 - ref) * ref, dtype)


def test_sigmoid_gradient_check():
    rng = np.random.default_rng(9)
    x, dout = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    s = Sigmoid()
    s.forward(x)
    dx = s.backward(dout)
    num = O.central_diff4(lambda: float(np.sum(Sigmoid().forward(x) * dout)), x)
    assert_close(dx, num, rtol=1e-9, atol=1e-10)  # O(h^4) = 1e-12 truncation, rounding ~1e-13/h


# C >= 2: with C == 1 a label array has the size of y and the book reads it as one-hot
@pytest.mark.parametrize("N,C", [(1, 2), (1, 10), (7, 3), (2050, 10)])
def test_softmax_with_loss(N, C, dtype, layout):
    rng = np.random.default_rng(N * C)
    x = (rng.standard_normal((N, C)) * 3).astype(dtype)
    t = rng.integers(0, C, N)
    xin = make_layout(x, layout)

    def run(target):
        layer = SoftmaxWithLoss()
        loss = layer.forward(xin, target)
        return loss, layer.backward(), layer.y

    res = run_threads(lambda: run(t))
    assert_same_bits(res)
    loss, dx, y = res[0]
    assert isinstance(loss, dtype.type) and dx.dtype == dtype
    y_ref = O.softmax(x.astype(float))
    assert_close(y, y_ref, dtype)
    assert_close(loss, O.cross_entropy(y_ref, t), dtype)
    assert_close(dx, O.softmax_with_loss_backward(y_ref, t), dtype, scale=1.0 / N)
    loss1, dx1, _ = run(np.eye(C, dtype=dtype)[t])  # one-hot gives the same loss and gradient
    assert_close(loss1, loss, dtype, rtol=0, atol=0)
    assert_close(dx1, dx, dtype, scale=1.0 / N)


def test_softmax_with_loss_gradient_and_dout_ignored():
    rng = np.random.default_rng(10)
    x, t = rng.standard_normal((4, 5)), np.array([0, 4, 2, 2])
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward(dout=123.0)  # the book ignores dout
    num = O.central_diff4(lambda: float(SoftmaxWithLoss().forward(x, t)), x)
    # the 1e-7 inside the log perturbs the gradient by ~1e-7 relative: not in backward (book)
    assert_close(dx, num, rtol=1e-5, atol=1e-7)
    assert layer.t is t


def test_softmax_with_loss_bad_labels():
    layer = SoftmaxWithLoss()
    with pytest.raises(IndexError, match=r"expected labels in \[0, 3\); got 3 at position 0"):
        layer.forward(np.zeros((2, 3)), np.array([3, 0]))
    with pytest.raises(ValueError, match=r"expected labels of shape \(2,\)"):
        layer.forward(np.zeros((2, 3)), np.array([0, 1, 2]))


def test_sgd_in_place_float_and_f32():
    W = np.ones((2, 3))
    params = {"W": W, "b": 1.5}
    SGD(lr=0.1).update(params, {"W": np.full((2, 3), 2.0), "b": 1.0, "extra": 0})
    assert params["W"] is W  # in place: layers aliasing W see it
    np.testing.assert_array_equal(W, np.full((2, 3), 1 - 0.1 * 2.0))
    assert params["b"] == 1.5 - 0.1  # a Python float is rebound
    p32 = {"w": np.ones(40000, np.float32)}  # several blocks
    g = np.arange(40000, dtype=np.float32)
    SGD(lr=0.01).update(p32, {"w": g})
    assert p32["w"].dtype == np.float32
    np.testing.assert_array_equal(p32["w"], np.float32(1) - np.float32(0.01) * g)
    WF = np.asfortranarray(np.ones((3, 4)))
    SGD(lr=1.0).update({"w": WF}, {"w": np.arange(12.0).reshape(3, 4)})
    np.testing.assert_array_equal(WF, 1 - np.arange(12.0).reshape(3, 4))
    with pytest.raises(KeyError):
        SGD().update({"w": np.ones(2)}, {})
    with pytest.raises(ValueError, match="expected a positive, finite lr; got -1"):
        SGD(lr=-1)


def test_relu_gradient_check_away_from_kinks():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 6))
    x[np.abs(x) < 0.05] = 0.5  # keep every input at least 10 h from the kink at 0
    dout = rng.standard_normal((4, 6))
    r = Relu()
    r.forward(x)
    dx = r.backward(dout.copy())
    num = O.central_diff4(lambda: float(np.sum(Relu().forward(x) * dout)), x, h=1e-3)
    assert_close(dx, num, rtol=1e-9, atol=1e-10)  # piecewise linear: exact up to rounding
