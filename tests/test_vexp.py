"""dlcore's vectorised exp (csrc/src/tmpl/vexp.inc), used by sigmoid and softmax: accuracy
against an independent reference and the same bits on every kernel path.

Reference: numpy's exp in extended precision (np.longdouble, 64-bit significand on x86-64),
about 2^-63 relative: enough to measure the error of a float64 result in units of its last
place (ulp) to within ~1e-3 ulp. The bound is 1 ulp (the issue's requirement); measured
worst cases on the sweep below are 0.757 ulp (float64) and 0.758 ulp (float32), both on
subnormal results (rounded twice); 0.615 and 0.614 ulp in the normal range.
"""
import numpy as np
import pytest

from dlcore import _kernels as K
from conftest import outputs_on_every_kernel_path

LD = np.longdouble
pytestmark = pytest.mark.skipif(np.finfo(LD).nmant < 63,
                                reason="needs an 80-bit (or wider) long double reference")


def ulp_errors(got, x, dtype):
    """|got - exp(x)| in units of the last place of exp(x) rounded to dtype."""
    ref = np.exp(x.astype(LD))
    with np.errstate(over="ignore", under="ignore"):
        r = ref.astype(dtype)
    finite = np.isfinite(r) & np.isfinite(got)
    spacing = np.spacing(np.abs(r), dtype=dtype).astype(LD)
    spacing[spacing == 0] = np.finfo(dtype).smallest_subnormal
    err = np.zeros(x.shape, LD)
    err[finite] = np.abs(got[finite].astype(LD) - ref[finite]) / spacing[finite]
    # where the correctly rounded result overflows or is 0, dlcore must give the same
    same = ~finite
    assert np.array_equal(got[same], r[same]) or np.all(np.isnan(got[same]) == np.isnan(r[same]))
    return err


def sweep(dtype):
    rng = np.random.default_rng(0)
    if dtype == np.float64:
        lo, hi, sub = -746.0, 710.0, (-745.2, -708.0)
    else:
        lo, hi, sub = -104.0, 89.0, (-104.0, -87.0)
    parts = [np.linspace(lo, hi, 1_000_001), rng.uniform(-1, 1, 300_000),
             rng.uniform(*sub, 300_000), rng.uniform(-0.35, 0.35, 300_000),
             rng.standard_normal(200_000) * 30]
    return np.concatenate(parts).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exp_within_one_ulp_on_a_dense_sweep(dtype):
    x = sweep(dtype)
    y = np.empty_like(x)
    K.exp(y, x)
    err = ulp_errors(y, x, dtype)
    worst = float(err.max())
    assert worst <= 1.0, (worst, x[int(err.argmax())])
    # and correctly rounded almost everywhere: measured 1.58 % (float64) and 1.52 % (float32)
    # of this sweep above 0.5 ulp (the roundings in 2^(j/8) (e^r - 1) and r before the final
    # one, up to ~0.1 ulp); numpy's own float64 exp: 3.9 %, its float32 exp 33 % (worst 2.4 ulp)
    assert float(np.mean(err > 0.5)) < 0.02


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exp_special_values_and_edges(dtype):
    f = np.finfo(dtype)
    big = np.log(f.max.astype(LD))  # the overflow threshold
    tiny = np.log(LD(f.smallest_subnormal))  # the underflow threshold (about)
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, f.tiny, -f.tiny, f.smallest_subnormal,
                  float(big), np.nextafter(dtype(big), dtype(np.inf)),
                  float(tiny), float(tiny) - 1, 1.0, -1.0, 1e3, -1e3, f.max, -f.max], dtype)
    y = np.empty_like(x)
    K.exp(y, x)
    with np.errstate(over="ignore", under="ignore"):
        ref = np.exp(x.astype(LD)).astype(dtype)
    assert np.isnan(y[0])
    np.testing.assert_array_equal(y[1:3], [np.inf, 0.0])
    np.testing.assert_array_equal(y[3:8], [1.0] * 5)
    ok = np.isfinite(ref) & (ref != 0)
    assert np.all(ulp_errors(y[ok], x[ok], dtype) <= 1.0)
    np.testing.assert_array_equal(np.isinf(y), np.isinf(ref))
    np.testing.assert_array_equal(y == 0, ref == 0)


def test_sigmoid_and_softmax_keep_the_book_edges():
    """sigmoid overflows to exactly 0 and 1, softmax of a row with NaN is NaN (numpy's)."""
    from dlcore import functions as F

    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0, np.nan])
    with np.errstate(over="ignore"):
        ref = 1 / (1 + np.exp(-x))
    np.testing.assert_array_equal(F.sigmoid(x), ref)
    s = F.softmax(np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0], [np.inf, 1.0, 0.0]]))
    assert np.isnan(s[0]).all() and np.isnan(s[2]).all()
    np.testing.assert_allclose(s[1], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum(), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("inplace", [False, True])
def test_every_length_gives_the_bits_of_a_long_run(dtype, inplace):
    """The last n mod (vector width) elements go through one masked vector: for every length
    (0 to 40: every remainder on every path), each element has the bits it gets inside a long
    array, and nothing after the n-th element of the output is written."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(40) * 30).astype(dtype)
    full_exp, full_sig = np.empty_like(x), np.empty_like(x)
    K.exp(full_exp, x)
    K.sigmoid_forward(full_sig, x)
    sentinel = np.array(np.nan, dtype)
    for n in range(41):
        for kernel, full in ((K.exp, full_exp), (K.sigmoid_forward, full_sig)):
            buf = np.full(48, sentinel, dtype)
            if inplace:
                buf[:n] = x[:n]
                kernel(buf[:n], buf[:n])
            else:
                kernel(buf[:n], x[:n])
            np.testing.assert_array_equal(buf[:n], full[:n])
            assert np.isnan(buf[n:]).all(), (kernel, n)
        y = np.empty((1, n), dtype)
        if n:
            K.softmax_forward(y, x[None, :n])
            m = x[:n].max()
            e = np.empty(n, dtype)
            K.exp(e, x[:n] - m)
            # softmax.inc's sum: 8 lanes in float64 (element j in lane j % 8 for the whole
            # groups of 8, the rest in lane 0), combined pairwise; then times 1 / sum
            lanes = [0.0] * 8
            whole = n - n % 8
            for j in range(whole):
                lanes[j % 8] += float(e[j])
            for j in range(whole, n):
                lanes[0] += float(e[j])
            total = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + \
                ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
            inv = dtype(1) / dtype(total)
            np.testing.assert_array_equal(y[0], e * inv)


_PATH_PROBE = r"""
import hashlib, json, numpy as np, dlcore
from dlcore import _kernels as K, functions as F
rng = np.random.default_rng(1)
out = {"path": K.isa_selected()}
for dt in (np.float64, np.float32):
    x = np.concatenate([rng.standard_normal(10007) * 40, np.linspace(-800, 800, 4001),
                        [np.nan, np.inf, -np.inf, 0.0]]).astype(dt)
    y = np.empty_like(x)
    K.exp(y, x)
    h = hashlib.sha256(y.tobytes())
    h.update(F.sigmoid(x).tobytes())
    h.update(F.sigmoid_grad(x).tobytes())
    h.update(F.softmax(x[:10000].reshape(100, 100)).tobytes())
    h.update(F.softmax(x[:10003].reshape(7, 1429)).tobytes())
    out[np.dtype(dt).name] = h.hexdigest()
print(json.dumps(out))
"""


def test_every_kernel_path_gives_the_same_bits():
    runs = outputs_on_every_kernel_path(_PATH_PROBE)
    for path, res in runs.items():
        assert res == runs["baseline"], path
