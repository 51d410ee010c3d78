"""The six optimizers against the oracle on the book's 2-D problem f(x, y) = x^2/20 + y^2
from (-7, 2): Python-float params (rebinding, the book's optimizer_compare_naive) and ndarray
params (in place, C kernels) over dtype x layout x threads; the book's state contract."""
import numpy as np
import pytest

from dlcore import optimizer as OPT
from conftest import assert_close, assert_same_bits, make_layout, run_threads
from oracle import optim as O

# The book's learning rates (ch06/optimizer_compare_naive.py); Nesterov and RMSprop, which
# the script leaves out, at rates that move visibly in 30 steps.
CASES = [("SGD", dict(lr=0.95), dict(lr=0.95)),
         ("Momentum", dict(lr=0.1), dict(lr=0.1)),
         ("Nesterov", dict(lr=0.1), dict(lr=0.1)),
         ("AdaGrad", dict(lr=1.5), dict(lr=1.5)),
         ("RMSprop", dict(lr=0.3, decay_rate=0.9), dict(lr=0.3, rho=0.9)),
         ("Adam", dict(lr=0.3), dict(lr=0.3))]
IDS = [c[0] for c in CASES]


def _grad_xy(P):
    return np.stack(O.df2d(P[..., 0], P[..., 1]), axis=-1)


@pytest.mark.parametrize("name,kw,okw", CASES, ids=IDS)
def test_float_params_follow_the_oracle_exactly(name, kw, okw):
    opt = getattr(OPT, name)(**kw)
    params = {"x": -7.0, "y": 2.0}
    path = [(params["x"], params["y"])]
    for _ in range(30):
        gx, gy = O.df2d(params["x"], params["y"])
        opt.update(params, {"x": gx, "y": gy})
        path.append((params["x"], params["y"]))
    ref = O.path_2d(name, **okw)
    # float64 scalar arithmetic is IEEE in both: the same statements give the same bits
    assert [(float(a), float(b)) for a, b in path] == ref
    assert all(np.ndim(v) == 0 and not isinstance(v, np.ndarray) for v in params.values())
    # the path actually moves towards the minimum (0, 0)
    assert O.f2d(*ref[-1]) < 0.2 * O.f2d(*ref[0])


@pytest.mark.parametrize("name,kw,okw", CASES, ids=IDS)
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_array_params_follow_the_oracle(name, kw, okw, dtype, layout):
    # 20001 points (40002 values, several blocks: they fork under run_threads), the book's start first
    rng = np.random.default_rng(len(name))
    P0 = rng.uniform(-8, 8, (20001, 2))
    P0[0] = (-7.0, 2.0)
    P0 = P0.astype(dtype)

    def run():
        P = make_layout(P0, layout)
        alias = P  # a layer holding the same array sees every update
        opt = getattr(OPT, name)(**kw)
        params = {"P": P}
        for _ in range(30):
            opt.update(params, {"P": _grad_xy(params["P"])})
        assert params["P"] is alias
        for state in ("v", "h", "m"):
            s = getattr(opt, state, None)
            if s is not None:
                assert s["P"].dtype == dtype and s["P"].shape == P0.shape
        return np.array(params["P"])

    results = run_threads(run)
    assert_same_bits(results)
    ref = O.path_array(name, P0.astype(np.float64), **okw)[-1]
    if dtype == np.float64:
        # each kernel statement is the book's numpy statement: bit-identical
        np.testing.assert_array_equal(results[0], ref)
    else:
        # float32 vs the float64 path: per-step roundings of values up to 8
        assert_close(results[0], ref, dtype, scale=8.0)


def test_book_start_point_paths_as_arrays():
    """The 2-vector (x, y) as one ndarray param gives the scalar oracle's path."""
    for name, kw, okw in CASES:
        opt = getattr(OPT, name)(**kw)
        params = {"xy": np.array([-7.0, 2.0])}
        path = [tuple(params["xy"])]
        for _ in range(30):
            opt.update(params, {"xy": _grad_xy(params["xy"])})
            path.append(tuple(float(v) for v in params["xy"]))
        assert path == O.path_2d(name, **okw), name


def test_adam_iter_once_per_update_call():
    opt = OPT.Adam(lr=0.1)
    params = {"a": np.ones(3), "b": np.ones(2), "c": 1.0}
    grads = {"a": np.full(3, 0.5), "b": np.full(2, -0.5), "c": 0.25, "extra": np.ones(9)}
    opt.update(params, grads)
    opt.update(params, grads)
    assert opt.iter == 2
    assert set(opt.m) == set(opt.v) == {"a", "b", "c"}
    # per key, two steps of the oracle with t = 1, 2
    for key in ("a", "b", "c"):
        p, st = (np.ones(3) if key == "a" else np.ones(2) if key == "b" else 1.0), {}
        for t in (1, 2):
            st["t"] = t
            p, st = O.adam(p, grads[key], st, lr=0.1)
        np.testing.assert_array_equal(params[key], p)


def test_state_is_lazy_zeros_like_and_keyed_from_params():
    W = np.asfortranarray(np.ones((3, 2), np.float32))
    params = {"W": W, "s": 0.5}
    opt = OPT.Momentum(lr=0.1)
    assert opt.v is None
    opt.update(params, {"W": np.ones((3, 2), np.float32), "s": 1.0})
    assert opt.v["W"].dtype == np.float32 and opt.v["W"].flags.f_contiguous
    assert isinstance(opt.v["s"], (np.ndarray, np.floating))
    np.testing.assert_allclose(W, 0.9, rtol=1e-7)
    assert params["W"] is W
    # a key added after the first update has no state: KeyError, as in the book
    params["new"] = np.zeros(2)
    with pytest.raises(KeyError):
        opt.update(params, {"W": W, "s": 1.0, "new": np.zeros(2)})


def test_momentum_rebinds_v():
    opt = OPT.Momentum(lr=0.1)
    params = {"w": np.ones(4)}
    opt.update(params, {"w": np.ones(4)})
    v1 = opt.v["w"]
    v1_copy = v1.copy()
    opt.update(params, {"w": np.ones(4)})
    assert opt.v["w"] is not v1
    np.testing.assert_array_equal(v1, v1_copy)
    np.testing.assert_allclose(opt.v["w"], 0.9 * -0.1 - 0.1, rtol=1e-15)


@pytest.mark.parametrize("name,kw,okw", CASES, ids=IDS)
def test_missing_grad_key_and_extra_keys(name, kw, okw):
    opt = getattr(OPT, name)(**kw)
    params = {"a": np.ones(2)}
    opt.update(params, {"a": np.ones(2), "unused": np.ones(5)})  # extra keys are ignored
    with pytest.raises(KeyError):
        opt.update(params, {"b": np.ones(2)})


@pytest.mark.parametrize("name,kw,okw", CASES, ids=IDS)
def test_mixed_dtypes_and_readonly(name, kw, okw):
    # float32 params with float64 grads: updated in place, still float32
    p = np.ones(5, np.float32)
    opt = getattr(OPT, name)(**kw)
    params = {"p": p}
    opt.update(params, {"p": np.linspace(-1, 1, 5)})
    assert params["p"] is p and p.dtype == np.float32 and not np.all(p == 1)
    # a read-only param cannot be updated in place: numpy's error, as the book
    ro = make_layout(np.ones(3), "readonly")
    with pytest.raises(ValueError, match="read-only"):
        getattr(OPT, name)(**kw).update({"p": ro}, {"p": np.ones(3)})


def test_hyperparameter_validation():
    with pytest.raises(ValueError, match="Momentum: expected a positive, finite lr"):
        OPT.Momentum(lr=0)
    with pytest.raises(ValueError, match=r"Momentum: expected momentum >= 0; got -0.5"):
        OPT.Momentum(momentum=-0.5)
    with pytest.raises(TypeError, match="Nesterov: expected a number for momentum"):
        OPT.Nesterov(momentum="0.9")
    with pytest.raises(ValueError, match=r"RMSprop: expected decay_rate in \[0, 1\]; got 1.5"):
        OPT.RMSprop(decay_rate=1.5)
    with pytest.raises(ValueError, match=r"Adam: expected beta1 in \[0, 1\); got 1"):
        OPT.Adam(beta1=1)
    with pytest.raises(ValueError, match=r"Adam: expected beta2 in \[0, 1\); got nan"):
        OPT.Adam(beta2=float("nan"))
    with pytest.raises(ValueError, match="AdaGrad: expected a positive, finite lr"):
        OPT.AdaGrad(lr=float("inf"))


def test_defaults_and_star_import_surface():
    assert OPT.Momentum().lr == 0.01 and OPT.Momentum().momentum == 0.9
    assert OPT.Nesterov().momentum == 0.9 and OPT.AdaGrad().lr == 0.01
    assert OPT.RMSprop().decay_rate == 0.99
    a = OPT.Adam()
    assert (a.lr, a.beta1, a.beta2, a.iter, a.m, a.v) == (0.001, 0.9, 0.999, 0, None, None)
    ns = {}
    exec("from dlcore.optimizer import *", ns)
    for name in ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "np"):
        assert name in ns
