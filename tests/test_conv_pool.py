"""Convolution, Pooling, im2col and col2im against the oracle (tests/oracle/conv.py): forward
and backward over dtype x layout x threads (bitwise equal across thread counts), gradient
checks, the book's layouts, tie rule, aliasing, dtypes and bad input."""

import numpy as np
import pytest

import dlcore
from dlcore.layers import Convolution, Pooling, col2im, im2col
from conftest import (assert_close, assert_same_bits, make_layout, outputs_on_every_kernel_path,
                      run_threads)
from oracle import conv as O
from oracle.core import central_diff4

# (N, C, H, W, FN, FH, FW, stride, pad): 1x1, odd sizes, 1 and 3 channels, stride 1 and 2,
# pad 0-2, non-square filters, a filter larger than the image that pad makes fit; the last
# two are the largest (run_threads, conftest, lowers the fork threshold for all).
CONV_SHAPES = [
    (1, 1, 1, 1, 1, 1, 1, 1, 0),
    (2, 1, 5, 7, 3, 3, 3, 1, 0),
    (2, 3, 7, 5, 4, 3, 2, 1, 1),
    (3, 3, 9, 8, 2, 3, 3, 2, 2),
    (1, 1, 3, 3, 2, 5, 5, 2, 2),
    (2, 3, 6, 6, 3, 2, 2, 2, 0),
    (17, 3, 11, 13, 5, 3, 3, 2, 1),
    (8, 1, 28, 28, 30, 5, 5, 1, 0),  # SimpleConvNet's layer
]


def _conv_case(shape, dtype, seed=0):
    N, C, H, W, FN, fh, fw, s, p = shape
    rng = np.random.default_rng(seed + sum(shape))
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    Wt = rng.standard_normal((FN, C, fh, fw)).astype(dtype)
    b = rng.standard_normal(FN).astype(dtype)
    oh, ow = O.out_size(H, fh, s, p), O.out_size(W, fw, s, p)
    dout = rng.standard_normal((N, FN, oh, ow)).astype(dtype)
    return x, Wt, b, dout, s, p


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_convolution_matrix(shape, dtype, layout):
    x, Wt, b, dout, s, p = _conv_case(shape, dtype)
    xl, Wl, dl = make_layout(x, layout), make_layout(Wt, layout), make_layout(dout, layout)

    def run():
        layer = Convolution(Wl, b, stride=s, pad=p)
        out = layer.forward(xl)
        dx = layer.backward(dl)
        return out, dx, layer.dW, layer.db, layer.col

    results = run_threads(run)
    assert_same_bits(results)
    out, dx, dW, db, col = results[0]
    for a in (out, dx, dW, db, col):
        assert a.dtype == dtype
    assert out.flags.c_contiguous and dx.flags.c_contiguous
    x64, W64, b64, d64 = (a.astype(np.float64) for a in (x, Wt, b, dout))
    rout, rcol, _ = O.conv_forward(x64, W64, b64, s, p)
    np.testing.assert_array_equal(col, rcol.astype(dtype))  # im2col is an exact copy
    K = Wt[0].size
    FN, N, oh, ow = dout.shape[1], dout.shape[0], dout.shape[2], dout.shape[3]
    # sums of K (forward), FN*fh*fw (dx) or N*oh*ow (dW, db) products of magnitude ~1
    assert_close(out, rout, dtype, scale=np.sqrt(K))
    rdx, rdW, rdb = O.conv_backward(d64, rcol, W64, x.shape, s, p)
    assert_close(dx, rdx, dtype, scale=np.sqrt(FN * Wt.shape[2] * Wt.shape[3]))
    assert_close(dW, rdW, dtype, scale=np.sqrt(N * oh * ow))
    assert_close(db, rdb, dtype, scale=np.sqrt(N * oh * ow))


def test_convolution_matches_direct_definition():
    # the oracle's im2col route against the plain definition of a strided, padded correlation
    x, Wt, b, _, _, _ = _conv_case((2, 3, 7, 6, 4, 3, 2, 1, 1), np.float64)
    for s, p in ((1, 0), (2, 1), (2, 2), (3, 1)):
        out = Convolution(Wt, b, s, p).forward(x)
        assert_close(out, O.conv_direct(x, Wt, b, s, p), scale=np.sqrt(18))
        assert_close(O.conv_forward(x, Wt, b, s, p)[0], O.conv_direct(x, Wt, b, s, p), scale=5)


# (N, C, H, W, FN, FH, FW, pad), stride 1 and several channels: what conv.inc computes
# directly. Filter counts with every tail of the 8- (4-) filter tiles, output runs with every
# remainder of the vectors, pad 0-2, K = 144 and 288 (two and three of the GEMM's k blocks).
DIRECT_SHAPES = [
    (2, 2, 9, 11, 13, 3, 3, 0), (2, 3, 10, 35, 9, 3, 5, 1), (2, 16, 8, 8, 17, 3, 3, 1),
    (1, 32, 6, 7, 5, 3, 3, 2), (3, 2, 5, 40, 1, 2, 2, 0), (2, 4, 12, 12, 8, 5, 5, 2),
    (2, 3, 4, 4, 7, 4, 4, 0), (1, 2, 3, 50, 3, 3, 1, 1),
]


@pytest.mark.parametrize("shape", DIRECT_SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_direct_convolution_gives_the_im2col_products_bits(shape, dtype):
    """conv.inc's direct kernel (stride 1, several channels, AVX2/AVX-512 with the own GEMM)
    makes each output the same chain of fused multiply-adds as im2col + the own GEMM: the same
    bits with it on and off (DLCORE_CONV=im2col), with and without the col cache, and the
    oracle's values."""
    from dlcore import _kernels as K
    if not (K.gemm_own() and dlcore.config()["kernel_path"] != "baseline"):
        pytest.skip("the direct kernel runs on the AVX2/AVX-512 paths with the own GEMM")
    N, C, H, W, FN, fh, fw, p = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    Wt = rng.standard_normal((FN, C, fh, fw)).astype(dtype)
    b = rng.standard_normal(FN).astype(dtype)
    oh, ow = O.out_size(H, fh, 1, p), O.out_size(W, fw, 1, p)
    outs = {}
    try:
        for direct in (True, False):
            K.conv_direct(direct)
            for cached in (False, True):
                out = np.empty((N, FN, oh, ow), dtype)
                col = np.empty((N * oh * ow, C * fh * fw), dtype) if cached else None
                K.conv_forward(out, col, x, Wt.reshape(FN, -1), b, fh, fw, 1, p)
                outs[direct, cached] = out
                if cached:
                    np.testing.assert_array_equal(col, O.im2col(x, fh, fw, 1, p).astype(dtype))
    finally:
        K.conv_direct(True)
    for key, out in outs.items():
        np.testing.assert_array_equal(out.view(np.uint8), outs[True, False].view(np.uint8),
                                      err_msg=str(key))
    ref = O.conv_direct(x.astype(np.float64), Wt.astype(np.float64), b.astype(np.float64), 1, p)
    assert_close(outs[True, False], ref, dtype, scale=np.sqrt(C * fh * fw))


def test_convolution_gradient_check():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 2, 5, 6))
    Wt = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(3)
    for s, p in ((1, 0), (2, 1), (1, 2)):
        layer = Convolution(Wt, b, stride=s, pad=p)
        dout = rng.standard_normal(layer.forward(x).shape)

        def f():  # sum(out * dout): its gradient is the backward pass of dout
            return float(np.sum(layer.forward(x) * dout))

        layer.forward(x)
        dx = layer.backward(dout)
        dW, db = layer.dW.copy(), layer.db.copy()
        # f is linear in each variable: the 4-point difference is exact up to rounding;
        # W and b are perturbed in place, which the layer must see (aliasing)
        for analytic, var in ((dx, x), (dW, Wt), (db, b)):
            assert_close(analytic, central_diff4(f, var), np.float64, rtol=1e-8, atol=1e-8)


def test_im2col_layout_example():
    # spec 5: N=2, C=2, 3x3 input, 2x2 filter, stride 1: row 0 = the channel-0 patch followed
    # by the channel-1 patch; rows run (n, oh, ow)
    x = np.arange(36).reshape(2, 2, 3, 3)
    col = im2col(x, 2, 2)
    assert col.shape == (8, 8) and col.dtype == np.float64 and col.flags.c_contiguous
    np.testing.assert_array_equal(col[0], [0, 1, 3, 4, 9, 10, 12, 13])
    np.testing.assert_array_equal(col[1], [1, 2, 4, 5, 10, 11, 13, 14])
    np.testing.assert_array_equal(col[4], [18, 19, 21, 22, 27, 28, 30, 31])
    np.testing.assert_array_equal(col[7], [22, 23, 25, 26, 31, 32, 34, 35])
    # the columns match W.reshape(FN, -1): a convolution is col @ W.reshape(FN, -1).T
    Wt = np.arange(8.0).reshape(1, 2, 2, 2)
    out = Convolution(Wt, 0).forward(x.astype(float))
    np.testing.assert_array_equal(out.reshape(2, 4), (col @ Wt.reshape(1, -1).T).reshape(2, 4))


@pytest.mark.parametrize("src", [np.float64, np.float32, np.uint8, np.int32, np.float16, bool])
def test_im2col_any_dtype_gives_float64(src):
    rng = np.random.default_rng(3)
    x = (rng.random((2, 3, 7, 6)) * 100).astype(src)
    for fh, fw, s, p in ((3, 3, 1, 0), (2, 3, 2, 1), (5, 5, 3, 2), (1, 1, 1, 0)):
        col = im2col(x, fh, fw, s, p)
        assert col.dtype == np.float64
        np.testing.assert_array_equal(col, O.im2col(x, fh, fw, s, p))


@pytest.mark.parametrize("layout", ["F", "strided", "readonly"])
def test_im2col_col2im_layouts(layout):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 6, 7))
    np.testing.assert_array_equal(im2col(make_layout(x, layout), 3, 2, 2, 1),
                                  O.im2col(x, 3, 2, 2, 1))
    col = rng.standard_normal((3 * 3 * 4, 12))
    np.testing.assert_array_equal(col2im(make_layout(col, layout), x.shape, 3, 2, 2, 1),
                                  O.col2im(col, x.shape, 3, 2, 2, 1))


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_col2im_equals_book_bitwise(shape):
    # each pixel adds its terms in the book's order, so float64 results are bitwise equal
    N, C, H, W, _, fh, fw, s, p = shape
    oh, ow = O.out_size(H, fh, s, p), O.out_size(W, fw, s, p)
    rng = np.random.default_rng(5)
    col = rng.standard_normal((N * oh * ow, C * fh * fw))
    results = run_threads(lambda: col2im(col, (N, C, H, W), fh, fw, s, p))
    assert_same_bits(results)
    got = results[0]
    assert got.dtype == np.float64 and got.shape == (N, C, H, W)
    np.testing.assert_array_equal(got, O.col2im(col, (N, C, H, W), fh, fw, s, p))
    # any dtype, and any col shape of the right size (the book reshapes it)
    np.testing.assert_array_equal(col2im(col.astype(np.float32).reshape(-1), (N, C, H, W), fh,
                                         fw, s, p),
                                  O.col2im(col.astype(np.float32), (N, C, H, W), fh, fw, s, p))
    # adjoint of im2col: <im2col(x), col> == <x, col2im(col)>
    x = rng.standard_normal((N, C, H, W))
    lhs, rhs = np.sum(im2col(x, fh, fw, s, p) * col), np.sum(x * got)
    assert_close(lhs, rhs, np.float64, scale=np.sqrt(col.size))


# (N, C, H, W, pool_h, pool_w, stride): windows 2 and 3, stride 1 (overlapping) and 2, odd
# sizes (floored), a non-square window; the last two are above the OpenMP threshold.
POOL_SHAPES = [
    (1, 1, 1, 1, 1, 1, 1),
    (2, 3, 5, 5, 2, 2, 2),
    (2, 3, 7, 6, 3, 3, 2),
    (3, 2, 6, 7, 2, 2, 1),
    (2, 1, 9, 8, 3, 3, 1),
    (2, 2, 8, 9, 3, 2, 3),
    (2, 2, 9, 6, 3, 3, 3),  # non-overlapping windows tiling the image exactly
    (1, 2, 9, 11, 2, 3, 4),  # non-overlapping windows with gaps between them
    (30, 30, 24, 24, 2, 2, 2),
    (4, 16, 17, 15, 3, 3, 1),
]


def _pool_input(shape, dtype, seed=0, ties=False):
    N, C, H, W, ph, pw, s = shape
    rng = np.random.default_rng(seed + sum(shape))
    if ties:
        x = rng.integers(-2, 3, (N, C, H, W)).astype(dtype)
    else:  # distinct values, at least 0.5 apart: no ties, well away from kinks
        x = (rng.permutation(N * C * H * W).reshape(N, C, H, W) * 0.5).astype(dtype)
    oh, ow = (H - ph) // s + 1, (W - pw) // s + 1
    dout = rng.standard_normal((N, C, oh, ow)).astype(dtype)
    return x, dout


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("shape", POOL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_pooling_matrix(shape, ties, dtype, layout):
    N, C, H, W, ph, pw, s = shape
    x, dout = _pool_input(shape, dtype, ties=ties)
    xl, dl = make_layout(x, layout), make_layout(dout, layout)

    def run():
        layer = Pooling(ph, pw, stride=s)
        out = layer.forward(xl)
        return out, layer.arg_max, layer.backward(dl)

    results = run_threads(run)
    assert_same_bits(results)
    out, arg_max, dx = results[0]
    assert out.dtype == dtype and dx.dtype == dtype and arg_max.dtype == np.int64
    assert out.flags.c_contiguous and dx.flags.c_contiguous
    rout, ram = O.pool_forward(x.astype(np.float64), ph, pw, s)
    np.testing.assert_array_equal(arg_max, ram)
    np.testing.assert_array_equal(out, rout.astype(dtype))  # a max is exact
    rdx = O.pool_backward(dout.astype(np.float64), ram, x.shape, ph, pw, s)
    if dtype == np.float64:  # same terms added in the same order as the book's col2im
        np.testing.assert_array_equal(dx, rdx)
    else:  # overlapping windows add up to ph*pw terms in float32
        assert_close(dx, rdx, dtype, scale=ph * pw)


def test_pooling_gradient_check():
    for shape in ((2, 2, 6, 7, 2, 2, 2), (1, 2, 7, 7, 3, 3, 1), (1, 1, 8, 9, 3, 2, 3)):
        N, C, H, W, ph, pw, s = shape
        x, dout = _pool_input(shape, np.float64, seed=1)
        layer = Pooling(ph, pw, stride=s)

        def f():
            return float(np.sum(layer.forward(x) * dout))

        layer.forward(x)
        dx = layer.backward(dout)
        # no ties and values 0.5 apart: f is linear around x, so the difference is exact
        assert_close(dx, central_diff4(f, x), np.float64, rtol=1e-8, atol=1e-8)
        assert np.count_nonzero(dx) == np.count_nonzero(
            O.pool_backward(dout, layer.arg_max, x.shape, ph, pw, s))


def test_pooling_tie_rule_and_nan():
    # window values in row-major order; the gradient goes to the first maximum
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]],
                  [[[2.0, 2.0], [2.0, 2.0]]],
                  [[[1.0, np.nan], [5.0, np.nan]]],
                  [[[-np.inf, -np.inf], [-np.inf, -np.inf]]]])
    layer = Pooling(2, 2)
    out = layer.forward(x)
    np.testing.assert_array_equal(layer.arg_max, [1, 0, 1, 0])  # numpy argmax: NaN wins
    np.testing.assert_array_equal(out.reshape(-1), [3.0, 2.0, np.nan, -np.inf])
    dx = layer.backward(np.full((4, 1, 1, 1), 7.0))
    expect = np.zeros_like(x)
    expect[0, 0, 0, 1] = expect[1, 0, 0, 0] = expect[2, 0, 0, 1] = expect[3, 0, 0, 0] = 7.0
    np.testing.assert_array_equal(dx, expect)
    # overlapping windows (stride 1): one pixel that is the max of several windows sums them
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 9.0
    layer = Pooling(2, 2, stride=1)
    layer.forward(x)
    dx = layer.backward(np.arange(1.0, 5.0).reshape(1, 1, 2, 2))
    assert dx[0, 0, 1, 1] == 10.0 and np.count_nonzero(dx) == 1


@pytest.mark.parametrize("shape", [(1, 1, 4, 4, 2, 2, 2), (1, 1, 5, 4, 2, 2, 2),
                                   (1, 1, 6, 6, 2, 2, 3), (1, 1, 4, 4, 2, 2, 1)])
def test_pooling_backward_signed_zero(shape, dtype):
    # the book's col2im adds each term to a zero image: a -0.0 gradient arrives as +0.0
    N, C, H, W, ph, pw, s = shape
    x, _ = _pool_input(shape, dtype)
    layer = Pooling(ph, pw, stride=s)
    out = layer.forward(x)
    dout = np.full(out.shape, -0.0, dtype)
    dx = layer.backward(dout)
    rdx = O.pool_backward(dout.astype(np.float64), layer.arg_max, x.shape, ph, pw, s)
    assert not np.signbit(rdx).any()
    np.testing.assert_array_equal(np.signbit(dx), np.signbit(rdx))
    np.testing.assert_array_equal(dx, rdx)


def test_pooling_arg_max_order():
    # arg_max is (n, oh, ow, c): channels vary fastest
    x = np.zeros((1, 3, 2, 2))
    x[0, 0, 0, 0] = x[0, 1, 0, 1] = x[0, 2, 1, 1] = 1.0
    layer = Pooling(2, 2)
    layer.forward(x)
    np.testing.assert_array_equal(layer.arg_max, [0, 1, 3])
    x = np.zeros((1, 2, 2, 4))
    x[0, 0, 1, 3] = x[0, 1, 1, 0] = 1.0  # (c0, window 1, offset 3), (c1, window 0, offset 2)
    layer.forward(x)
    np.testing.assert_array_equal(layer.arg_max, [0, 2, 3, 0])


def test_convolution_aliasing_contract():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 5, 5))
    W, b = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    layer = Convolution(W, b, stride=1, pad=1)
    layer.forward(x)
    assert layer.W is W and layer.b is b
    assert np.shares_memory(layer.col_W, W) and layer.col_W.shape == (18, 3)
    W *= 2  # an optimizer's in-place update ...
    b += 1
    out = layer.forward(x)  # ... is seen by the next forward
    assert_close(out, O.conv_forward(x, W, b, 1, 1)[0], scale=5)
    layer.W = W[:, :, ::-1, :].copy()  # load_params rebinds W
    assert_close(layer.forward(x), O.conv_forward(x, layer.W, b, 1, 1)[0], scale=5)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)  # dcol comes from col_W (the book's rule)
    assert_close(dx, O.conv_backward(dout, layer.col, layer.W, x.shape, 1, 1)[0], scale=6)
    # dW and db are new arrays on every backward (earlier gradient dicts stay valid)
    dW1 = layer.dW
    layer.backward(2 * dout)
    assert layer.dW is not dW1
    assert_close(layer.dW, 2 * dW1, scale=6)


@pytest.mark.parametrize("shape", [CONV_SHAPES[2], CONV_SHAPES[3], CONV_SHAPES[-1]],
                         ids=lambda s: "x".join(map(str, s)))
def test_convolution_lazy_col(shape, dtype):
    # col is made on first access: reading it or not gives the same bits in backward, it is
    # im2col of x as it was at forward time, and an assigned col is what backward uses
    import copy
    import pickle
    x, Wt, b, dout, s, p = _conv_case(shape, dtype)
    N, C, H, W, FN, fh, fw = shape[:7]

    def grads(read_col, threads):
        layer = Convolution(Wt, b, stride=s, pad=p)
        xc = x.copy()
        with dlcore.threads(threads):
            layer.forward(xc)
            xc += 1.0  # in-place change after forward: the book's col does not see it
            col = layer.col if read_col else None
            dx = layer.backward(dout)
        return dx, layer.dW, layer.db, col, layer

    ref = grads(True, 1)
    for read_col, th in ((False, 1), (False, 2), (True, 2)):
        got = grads(read_col, th)
        assert_same_bits([ref[:3], got[:3]])
    col = ref[3]
    np.testing.assert_array_equal(col, O.conv_forward(x.astype(np.float64), Wt.astype(
        np.float64), b.astype(np.float64), s, p)[1].astype(dtype))
    layer = ref[4]
    assert layer.col is col  # made once per forward
    assert "col" not in vars(layer) or vars(layer)["col"] is col
    # an unread col survives pickling and copying with its forward-time values
    fresh = Convolution(Wt, b, stride=s, pad=p)
    fresh.forward(x)
    for clone in (pickle.loads(pickle.dumps(fresh)), copy.deepcopy(fresh)):
        np.testing.assert_array_equal(clone.col, col)
    # an assigned col is honoured by backward (the book's backward reads self.col)
    layer = Convolution(Wt, b, stride=s, pad=p)
    layer.forward(x)
    layer.col = np.zeros_like(col)
    layer.backward(dout)
    assert not layer.dW.any()
    layer.col = None
    with pytest.raises(RuntimeError, match="call forward first"):
        layer.backward(dout)


def test_dtypes():
    rng = np.random.default_rng(9)
    x64 = rng.standard_normal((2, 1, 6, 6))
    W64, b64 = rng.standard_normal((2, 1, 3, 3)), rng.standard_normal(2)
    x32, W32, b32 = x64.astype(np.float32), W64.astype(np.float32), b64.astype(np.float32)
    # all float32 (a Python-number bias counts): float32 through (documented deviation)
    for b in (b32, 0, 0.5):
        layer = Convolution(W32, b)
        out = layer.forward(x32)
        assert out.dtype == np.float32 and layer.col.dtype == np.float32
        dx = layer.backward(np.ones(out.shape, np.float32))
        assert dx.dtype == layer.dW.dtype == layer.db.dtype == np.float32
    # anything else computes in float64, as the book (whose im2col makes float64); the uint8
    # input from non-negative floats (a negative float's cast to uint8 is undefined: on aarch64
    # numpy warns "invalid value encountered in cast")
    for x, W, b in ((x32, W64, b64), (x64, W32, b32), (x32, W32, b64),
                    (x32, W32, np.float64(0.5)), (np.abs(x64 * 10).astype(np.uint8), W64, b64),
                    (x64.astype(np.float16), W32, b32), (x64, W64, 0)):
        layer = Convolution(W, b)
        out = layer.forward(x)
        assert out.dtype == np.float64 and layer.col.dtype == np.float64
        assert_close(out, O.conv_forward(x.astype(float), W.astype(float),
                                         np.asarray(b, float), 1, 0)[0], scale=3)
        dout = np.ones(out.shape, np.float32)
        dx = layer.backward(dout)
        assert dx.dtype == layer.dW.dtype == np.float64
        assert layer.db.dtype == np.float32  # numpy's sum keeps dout's float dtype
    # ch07/apply_filter.py: a float32 image, float64 filters from params.pkl, b=0
    img = rng.random((1, 1, 9, 9)).astype(np.float32)
    out = Convolution(W64[:1], 0).forward(img)
    assert out.dtype == np.float64 and out.shape == (1, 1, 7, 7)
    # Pooling: float32 stays float32; other inputs give float64
    assert Pooling(2, 2).forward(x32).dtype == np.float32
    assert Pooling(2, 2).forward(x64).dtype == np.float64
    layer = Pooling(2, 2)
    out = layer.forward(np.abs(x64 * 10).astype(np.uint8))
    assert out.dtype == np.float64
    assert layer.backward(np.ones(out.shape, np.float32)).dtype == np.float64
    layer.forward(x32)
    assert layer.backward(np.ones((2, 1, 3, 3))).dtype == np.float64


def test_integer_like_params_and_empty_batch():
    x = np.ones((0, 1, 4, 4))
    layer = Convolution(np.ones((2, 1, 3, 3)), np.zeros(2), stride=np.int64(1), pad=np.int32(1))
    out = layer.forward(x)
    assert out.shape == (0, 2, 4, 4)
    dx = layer.backward(np.zeros(out.shape))
    assert dx.shape == x.shape
    np.testing.assert_array_equal(layer.dW, np.zeros((2, 1, 3, 3)))
    np.testing.assert_array_equal(layer.db, np.zeros(2))
    pool = Pooling(np.int64(2), 2)
    assert pool.forward(x).shape == (0, 1, 2, 2)
    assert pool.backward(np.zeros((0, 1, 2, 2))).shape == x.shape
    assert im2col(x, 2, 2).shape == (0, 4)


def test_star_import_surface():
    import dlcore.layers as L
    ns = {}
    exec("from dlcore.layers import *", ns)
    for name in ("Convolution", "Pooling", "im2col", "col2im"):
        assert ns[name] is getattr(L, name)


def test_bad_input_convolution():
    W, b = np.ones((2, 3, 3, 3)), np.zeros(2)
    layer = Convolution(W, b)
    with pytest.raises(ValueError, match=r"Convolution.forward: expected x of shape \(N, C, H, W\)"
                       r"; got float64 array of shape \(3, 5, 5\)"):
        layer.forward(np.ones((3, 5, 5)))
    with pytest.raises(ValueError, match=r"x has 1 channels but W expects 3 "
                       r"\(x.shape=\(2, 1, 5, 5\), W.shape=\(2, 3, 3, 3\)\)"):
        layer.forward(np.ones((2, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"expected a filter no larger than the padded input "
                       r"\(2x4 with pad=0\); got a 3x3 filter"):
        layer.forward(np.ones((1, 3, 2, 4)))
    with pytest.raises(ValueError, match=r"\(4x4 with pad=1\); got a 5x5 filter"):
        Convolution(np.ones((1, 1, 5, 5)), 0, pad=1).forward(np.ones((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="expected stride >= 1; got stride=0"):
        Convolution(W, b, stride=0)
    with pytest.raises(ValueError, match="expected pad >= 0; got pad=-1"):
        Convolution(W, b, pad=-1)
    with pytest.raises(TypeError, match="expected an integer stride; got float 1.5"):
        Convolution(W, b, stride=1.5)
    layer.stride = 0  # attributes are rebindable; forward re-checks them
    with pytest.raises(ValueError, match="Convolution.forward: expected stride >= 1"):
        layer.forward(np.ones((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"expected W of shape \(FN, C, FH, FW\)"):
        Convolution(np.ones((2, 9)), b).forward(np.ones((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"expected b of shape \(2,\) or a scalar"):
        Convolution(W, np.zeros(3)).forward(np.ones((1, 3, 5, 5)))
    with pytest.raises(TypeError, match="expected a real numeric array"):
        Convolution(W, b).forward(np.full((1, 3, 5, 5), "a"))
    layer = Convolution(W, b)
    with pytest.raises(RuntimeError, match="call forward first"):
        layer.backward(np.ones((1, 2, 3, 3)))
    layer.forward(np.ones((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"expected dout of shape \(1, 2, 3, 3\); got float64 "
                       r"array of shape \(1, 2, 3, 2\)"):
        layer.backward(np.ones((1, 2, 3, 2)))


def test_bad_input_pooling():
    with pytest.raises(ValueError, match="Pooling: expected pad=0 .*; got pad=1"):
        Pooling(2, 2, stride=2, pad=1)
    layer = Pooling(2, 2)
    layer.pad = 1  # rebound after construction: forward refuses it too
    with pytest.raises(ValueError, match="Pooling.forward: expected pad=0 .*; got pad=1"):
        layer.forward(np.ones((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="expected stride >= 1; got stride=0"):
        Pooling(2, 2, stride=0)
    with pytest.raises(ValueError, match="expected pool_h >= 1; got pool_h=0"):
        Pooling(0, 2)
    with pytest.raises(ValueError, match=r"expected x at least as large as the 3x3 pool window; "
                       r"got x of spatial size 2x5"):
        Pooling(3, 3).forward(np.ones((1, 1, 2, 5)))
    with pytest.raises(ValueError, match=r"Pooling.forward: expected x of shape \(N, C, H, W\)"):
        Pooling(2, 2).forward(np.ones((4, 4)))
    layer = Pooling(2, 2)
    with pytest.raises(RuntimeError, match="call forward first"):
        layer.backward(np.ones((1, 1, 2, 2)))
    layer.forward(np.ones((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"expected dout of shape \(1, 1, 2, 2\)"):
        layer.backward(np.ones((1, 1, 2, 3)))
    layer.arg_max = layer.arg_max.copy()
    layer.arg_max[2] = 4  # out of the 2x2 window: reported, never written out of bounds
    with pytest.raises(IndexError, match=r"expected arg_max entries in \[0, 4\); got 4 at "
                       r"position 2"):
        layer.backward(np.ones((1, 1, 2, 2)))


def test_bad_input_im2col_col2im():
    with pytest.raises(ValueError, match=r"im2col: expected input_data of shape \(N, C, H, W\)"):
        im2col(np.ones((3, 3)), 2, 2)
    with pytest.raises(ValueError, match=r"im2col: expected a filter no larger than the padded "
                       r"input \(3x3 with pad=0\); got a 4x2 filter"):
        im2col(np.ones((1, 1, 3, 3)), 4, 2)
    with pytest.raises(ValueError, match="im2col: expected stride >= 1; got stride=0"):
        im2col(np.ones((1, 1, 3, 3)), 2, 2, stride=0)
    with pytest.raises(ValueError, match=r"col2im: expected col of shape \(4, 4\) for input_shape "
                       r"\(1, 1, 3, 3\)"):
        col2im(np.ones((4, 5)), (1, 1, 3, 3), 2, 2)
    with pytest.raises(ValueError, match="col2im: expected input_shape"):
        col2im(np.ones((4, 4)), (1, 3, 3), 2, 2)
    with pytest.raises(ValueError, match="col2im: expected pad >= 0; got pad=-2"):
        col2im(np.ones((4, 4)), (1, 1, 3, 3), 2, 2, pad=-2)



_PATH_PROBE = """
import json, numpy as np, dlcore
from dlcore.layers import Convolution, Pooling
rng = np.random.default_rng(0)
out = {"path": dlcore.config()["kernel_path"]}
for dt in ("float64", "float32"):
    x = rng.integers(-3, 4, (3, 2, 13, 11)).astype(dt)  # ties
    x[0, 0, 0, :5] = np.nan
    conv = Convolution(rng.standard_normal((4, 2, 3, 3)).astype(dt),
                       rng.standard_normal(4).astype(dt), stride=2, pad=1)
    y = conv.forward(np.nan_to_num(x))
    dx = conv.backward(np.ones_like(y))
    vals = [y, dx, conv.dW, conv.db]
    for ph, pw, s in ((2, 2, 2), (3, 3, 1), (2, 3, 3)):
        pool = Pooling(ph, pw, stride=s)
        p = pool.forward(x)
        vals += [p, pool.arg_max, pool.backward(np.arange(p.size, dtype=dt).reshape(p.shape))]
    out[dt] = [np.asarray(v, np.float64).ravel().tolist() for v in vals]
print(json.dumps(out))
"""


def test_every_kernel_path_agrees():
    # the pooling loops are vectorised differently per path (SSE2, AVX2, AVX-512)
    runs = outputs_on_every_kernel_path(_PATH_PROBE)
    base = runs["baseline"]
    for path, res in runs.items():
        for dt in ("float64", "float32"):
            for i, (a, b) in enumerate(zip(res[dt], base[dt])):
                a, b = np.array(a, np.float64), np.array(b, np.float64)
                if i >= 4:  # pooling: exact, NaN included
                    np.testing.assert_array_equal(a, b, err_msg=f"{path} {dt} #{i}")
                else:  # convolution: the same up to rounding
                    np.testing.assert_allclose(a, b, rtol=1e-12 if dt == "float64" else 1e-5,
                                               atol=1e-5, err_msg=f"{path} {dt} #{i}")


def test_util_exposes_im2col_col2im_like_the_book():
    from dlcore import util
    from dlcore import layers
    assert util.im2col is layers.im2col and util.col2im is layers.col2im
    x = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4)
    col = util.im2col(x, 3, 3, stride=1, pad=1)
    assert col.dtype == np.float64 and col.shape == (2 * 4 * 4, 3 * 3 * 3)
