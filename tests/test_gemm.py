"""The matrix products (``dlcore._kernels.gemm``, the hook onto csrc's dl_gemm) against a numpy
oracle, in every transpose combination and at shapes that reach each branch of the own tiled
kernels (gemm_tiled.inc): row tails of 1-7 rows, column strips with a masked last vector and
AVX-512's 4-vector last strip, packed B panels (B's rows >= 2 KB apart, 4 row tiles and
more), packed A blocks (4 strips and more), B^T through transposed panels (k below 4 vectors,
or 64 columns and more) and the dot-product kernel (the rest of A @ B^T), with k crossing the
128-wide k block. And the property the thread split relies on: each row of C has the same bits
whatever rows the call gets (which also shows that packing, taken for some row counts and not
for others, never changes a sum)."""
import itertools

import numpy as np
import pytest

import dlcore
from dlcore import _kernels

OWN = _kernels.gemm_own() and dlcore.config()["kernel_path"] != "baseline"

MS = (1, 7, 16, 30, 37, 130)
NS = (1, 23, 33, 64, 130)
KS = (1, 5, 31, 64, 300)
# wide B (rows 4.8 KB apart in float64, 2.4 KB in float32) and a tall A^T: the packed panels
# and A blocks, with row counts on both sides of the packing threshold (4 tiles of 8 rows);
# K = 520 puts A's own rows 4160 / 2080 bytes apart, so that they are copied too
WIDE = [(40, 600, 150), (20, 600, 150), (600, 200, 150), (40, 600, 520)]


def _operands(M, N, K, ta, tb, dtype, seed):
    rng = np.random.default_rng(seed)
    A = rng.uniform(-1, 1, (K, M) if ta else (M, K)).astype(dtype)
    B = rng.uniform(-1, 1, (N, K) if tb else (K, N)).astype(dtype)
    return A, B


def _oracle(A, ta, B, tb):
    a = A.astype(np.float64).T if ta else A.astype(np.float64)
    b = B.astype(np.float64).T if tb else B.astype(np.float64)
    return a @ b


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm_matches_numpy_on_every_branch(dtype, ta, tb):
    for i, (M, N, K) in enumerate(list(itertools.product(MS, NS, KS)) + WIDE):
        A, B = _operands(M, N, K, ta, tb, dtype, i)
        C = np.full((M, N), np.nan, dtype)
        _kernels.gemm(C, A, ta, B, tb)
        # K products of |x| <= 1, each rounded once and summed in dtype: the error is at most
        # about K * eps (|C| <= K); 4 K eps leaves room for the oracle's own order
        tol = 4 * K * np.finfo(dtype).eps
        err = np.abs(C - _oracle(A, ta, B, tb)).max()
        assert err <= tol, (M, N, K, ta, tb, err, tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gemm_accumulates_with_beta_one(dtype):
    for i, (M, N, K) in enumerate([(37, 130, 300), (130, 33, 64), (16, 64, 5)]):
        for ta, tb in [(0, 0), (1, 0), (0, 1), (1, 1)]:
            A, B = _operands(M, N, K, ta, tb, dtype, 100 + i)
            C0 = np.random.default_rng(i).uniform(-1, 1, (M, N)).astype(dtype)
            C = C0.copy()
            _kernels.gemm(C, A, ta, B, tb, 1, 1)
            tol = 4 * (K + 1) * np.finfo(dtype).eps  # as above, one more term (C's own)
            err = np.abs(C - (C0.astype(np.float64) + _oracle(A, ta, B, tb))).max()
            assert err <= tol, (M, N, K, ta, tb, err)


@pytest.mark.skipif(not OWN, reason="the BLAS path makes no promise per row range")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_own_gemm_rows_have_the_same_bits_whatever_rows_the_call_gets(dtype, ta, tb):
    # gemm_rows hands each thread a row range; its results must not depend on the split
    for i, (M, N, K) in enumerate([(130, 130, 300), (37, 64, 31), (130, 23, 64), (40, 33, 5)]
                                  + WIDE):
        A, B = _operands(M, N, K, ta, tb, dtype, 200 + i)
        full = np.empty((M, N), dtype)
        _kernels.gemm(full, A, ta, B, tb)
        for r0, r1 in [(0, 1), (3, 20), (5, M), (M - 9, M)]:
            Ar = np.ascontiguousarray(A[:, r0:r1] if ta else A[r0:r1])
            part = np.empty((r1 - r0, N), dtype)
            _kernels.gemm(part, Ar, ta, B, tb)
            np.testing.assert_array_equal(part, full[r0:r1], err_msg=str((M, N, K, r0, r1)))


@pytest.mark.skipif(not OWN, reason="the panel size is the own kernels'")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_own_gemm_gives_the_same_bits_for_every_panel_size(dtype):
    # the panel block (sized from the CPU's L2) decides how much of B is copied at a time,
    # never a sum: the smallest block (one strip), 96 KB (4 strips a block: (600, 500) then
    # copies all of A^T's k block once, where the default copies it 96 rows at a time), the
    # default, and a block wider than B
    default = _kernels.gemm_panel_bytes()
    try:
        for i, (M, N, K) in enumerate([(40, 600, 300), (130, 1100, 150), (600, 200, 150),
                                       (600, 500, 150), (40, 600, 520)]):
            for ta, tb in [(0, 0), (1, 0), (0, 1)]:
                A, B = _operands(M, N, K, ta, tb, dtype, 300 + i)
                got = []
                for nbytes in (1, 96 << 10, 0, 64 << 20):
                    _kernels.gemm_panel_bytes(nbytes)
                    C = np.empty((M, N), dtype)
                    _kernels.gemm(C, A, ta, B, tb)
                    got.append(C)
                for j in (0, 1, 3):
                    np.testing.assert_array_equal(got[j], got[2],
                                                  err_msg=str((M, N, K, ta, tb, j)))
    finally:
        _kernels.gemm_panel_bytes(0)
    assert _kernels.gemm_panel_bytes() == default


def test_gemm_panel_bytes_follows_the_l2_and_refuses_negative_sizes():
    l2 = _kernels.l2_bytes()
    assert l2 >= 0
    expect = min(max(l2 // 5 * 2, 64 << 10), 4 << 20) if l2 else 512 << 10
    assert _kernels.gemm_panel_bytes() == expect
    assert dlcore.config()["l2_bytes"] == l2
    with pytest.raises(ValueError, match="expected a size >= 0; got -1"):
        _kernels.gemm_panel_bytes(-1)
    assert _kernels.gemm_panel_bytes() == expect
