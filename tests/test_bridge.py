"""The Cython bridge's argument checks (_kernels.pyx, `Args`/`take`): the wrappers that take
their arrays through the buffer protocol refuse a wrong dtype, a dtype mix, a strided or
read-only array, a wrong number of axes, a missing array and a size mismatch with a clear
TypeError/ValueError naming the argument, and hold no buffer (no reference) after any call.

These are bugs in dlcore's Python layer when they happen (it converts before calling), so the
checks guard against a crash or a silent wrong read rather than user input.
"""
import sys

import numpy as np
import pytest

from dlcore import _kernels as K

rng = np.random.default_rng(7)


def _x(*shape):
    return rng.standard_normal(shape)


def _z(*shape):
    return np.zeros(shape)


def _labels(n, c):
    return rng.integers(0, c, n)


def _prob(n, c):
    e = np.exp(_x(n, c))
    return e / e.sum(axis=1, keepdims=True)


def _mask(n):
    return (rng.random(n) < 0.5).astype(np.uint8)


def _pos(*shape):
    return 0.5 + rng.random(shape)


# name -> (fresh valid arguments, the axes each array argument must have (0: any), the array
# arguments the kernel writes, the array arguments that may be None)
CASES = {
    "relu_forward": (lambda: [_z(6), _z(6).astype(np.uint8), _x(6)], (0, 0, 0), {0, 1}, {1}),
    "relu_backward": (lambda: [_z(6), _mask(6), _x(6)], (0, 0, 0), {0}, set()),
    "relu_grad": (lambda: [_z(6), _x(6)], (0, 0), {0}, set()),
    "exp": (lambda: [_z(6), _x(6)], (0, 0), {0}, set()),
    "sigmoid_forward": (lambda: [_z(6), _x(6)], (0, 0), {0}, set()),
    "sigmoid_grad": (lambda: [_z(6), _x(6)], (0, 0), {0}, set()),
    "sigmoid_backward": (lambda: [_z(6), _x(6), _x(6)], (0, 0, 0), {0}, set()),
    "softmax_forward": (lambda: [_z(3, 4), _x(3, 4)], (2, 2), {0}, set()),
    "cross_entropy_forward": (lambda: [_prob(3, 4), _labels(3, 4), "ce"], (2, 1), set(),
                              set()),
    "softmax_xent_forward": (lambda: [_z(3, 4), _x(3, 4), _labels(3, 4), "sx"], (2, 2, 1),
                             {0}, set()),
    "softmax_xent_backward": (lambda: [_z(3, 4), _prob(3, 4), _labels(3, 4), "sx"],
                              (2, 2, 1), {0}, set()),
    "softmax_xent_backward_dense": (lambda: [_z(3, 4), _prob(3, 4), _prob(3, 4)], (2, 2, 2),
                                    {0}, set()),
    "affine_forward": (lambda: [_z(3, 5), _x(3, 4), _x(4, 5), _x(5)], (2, 2, 2, 1), {0},
                       set()),
    "affine_backward": (lambda: [_z(4, 5), _z(5), _x(3, 5), _x(3, 4), _x(4, 5), _z(3, 4)],
                        (2, 1, 2, 2, 2, 2), {0, 1, 5}, {5}),
    "gemm": (lambda: [_z(3, 5), _x(3, 4), False, _x(4, 5), False], (2, 2, None, 2), {0},
             set()),
    "sgd_update": (lambda: [_x(6), _x(6), 0.1], (0, 0), {0}, set()),
    "momentum_update": (lambda: [_x(6), _x(6), _x(6), 0.1, 0.9], (0, 0, 0), {0, 1}, set()),
    "nesterov_update": (lambda: [_x(6), _x(6), _x(6), 0.1, 0.9], (0, 0, 0), {0, 1}, set()),
    "adagrad_update": (lambda: [_x(6), _z(6), _x(6), 0.1, 1e-7], (0, 0, 0), {0, 1}, set()),
    "rmsprop_update": (lambda: [_x(6), _z(6), _x(6), 0.1, 0.99, 1e-7], (0, 0, 0), {0, 1},
                       set()),
    "adam_update": (lambda: [_x(6), _z(6), _z(6), _x(6), 0.1, 0.9, 0.999, 1e-7],
                    (0, 0, 0, 0), {0, 1, 2}, set()),
    "dropout_forward": (lambda: [_z(6), _x(6), _mask(6), 2.0], (0, 0, 0), {0}, {2}),
    "dropout_backward": (lambda: [_z(6), _x(6), _mask(6), 2.0], (0, 0, 0), {0}, {2}),
    "batchnorm_forward_train": (
        lambda: [_z(3, 4), _z(3, 4), _z(3, 4), _z(4), _z(4), _z(4), _x(3, 4), _x(4), _x(4), 1e-6],
        (2, 2, 2, 1, 1, 1, 2, 1, 1), {0, 1, 2, 3, 4, 5}, set()),
    "batchnorm_forward_test": (
        lambda: [_z(3, 4), _x(3, 4), _x(4), _x(4), _x(4), _pos(4), 1e-6], (2, 2, 1, 1, 1, 1), {0},
        set()),
    "batchnorm_backward": (
        lambda: [_z(3, 4), _z(4), _z(4), _x(3, 4), _x(3, 4), _x(3, 4), _pos(4), _x(4)],
        (2, 1, 1, 2, 2, 2, 1, 1), {0, 1, 2}, set()),
    "batchnorm_running_update": (
        lambda: [_z(4), _z(4), _x(4), _pos(4), _x(4), _pos(4), 0.9], (1, 1, 1, 1, 1, 1), {0, 1},
        set()),
}


def _arrays(args):
    return [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]


def _call(name, args):
    """Calls the wrapper and checks that it let go of every argument (each held buffer keeps
    a reference to its array until PyBuffer_Release)."""
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    before = [sys.getrefcount(a) for a in arrays]
    try:
        return getattr(K, name)(*args)
    finally:
        after = [sys.getrefcount(a) for a in arrays]
        assert after == before, f"{name}: reference counts {before} -> {after} (a buffer held)"


@pytest.mark.parametrize("name", sorted(CASES))
def test_valid_call_runs_and_releases(name):
    """Both dtypes run (the float32 kernel on the float32 copies of the same inputs) and
    agree to float32 precision: the dtype picks the kernel, not a wrong reading of the data."""
    make, _, out, _ = CASES[name]
    args = make()
    args32 = [a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == np.float64
              else a for a in args]
    r64 = _call(name, args)
    r32 = _call(name, args32)
    assert (r64 is None) == (r32 is None)
    if r64 is not None:
        np.testing.assert_allclose(r32, r64, rtol=1e-5)
    # float32 rounding of inputs of size ~1 (6e-8 relative) grows through exp and a division
    # or two; 1e-5 is far below any wrong reading of the data
    for i in out:
        assert args32[i].dtype == args[i].dtype.type(0).astype(args32[i].dtype).dtype
        np.testing.assert_allclose(args32[i], args[i], rtol=1e-5, atol=1e-6)


def _floats(args):
    return [i for i in _arrays(args) if args[i].dtype == np.float64]


@pytest.mark.parametrize("name", sorted(n for n in CASES if len(_floats(CASES[n][0]())) > 1))
def test_float32_beside_float64_is_a_type_error(name):
    make, _, _, _ = CASES[name]
    for i in _floats(make()):
        args = make()
        args[i] = args[i].astype(np.float32)
        with pytest.raises(TypeError, match=rf"^{name} \w+: expected float(32|64) data; got "
                                             r"float(32|64) data"):
            _call(name, args)


@pytest.mark.parametrize("name", sorted(CASES))
def test_other_dtypes_are_type_errors(name):
    make, _, _, _ = CASES[name]
    for i in _arrays(make()):
        args = make()
        args[i] = args[i].astype(np.int32 if args[i].dtype != np.int32 else np.float64)
        with pytest.raises(TypeError, match=rf"^{name} \w+: expected \S+ data; got int32 data"):
            _call(name, args)


@pytest.mark.parametrize("name", sorted(CASES))
def test_strided_arrays_are_value_errors(name):
    make, _, _, _ = CASES[name]
    for i in _arrays(make()):
        args = make()
        a = args[i]
        strided = np.repeat(a, 2, axis=-1)[..., ::2]  # same shape, values and dtype, strided
        assert np.array_equal(strided, a) and not strided.flags.c_contiguous
        args[i] = strided
        with pytest.raises(ValueError, match=rf"^{name} \w+: expected a (writable )?"
                                             r"C-contiguous array of .*not C-contiguous"):
            _call(name, args)


@pytest.mark.parametrize("name", sorted(CASES))
def test_read_only_outputs_are_value_errors_and_untouched(name):
    make, _, out, _ = CASES[name]
    for i in out:
        args = make()
        args[i].flags.writeable = False
        keep = args[i].copy()
        with pytest.raises(ValueError, match=rf"^{name} \w+: expected a writable C-contiguous "
                                             r"array of .*read-only"):
            _call(name, args)
        assert np.array_equal(args[i], keep)
    for i in set(_arrays(make())) - out:  # inputs may be read-only
        args = make()
        args[i].flags.writeable = False
        _call(name, args)


@pytest.mark.parametrize("name", sorted(CASES))
def test_missing_arrays(name):
    make, _, _, optional = CASES[name]
    for i in _arrays(make()):
        args = make()
        args[i] = None
        if i in optional:
            _call(name, args)
        else:
            with pytest.raises(TypeError, match=rf"^{name} \w+: expected a (writable )?"
                                                r"C-contiguous array of .*got NoneType"):
                _call(name, args)


@pytest.mark.parametrize("name", sorted(CASES))
def test_wrong_number_of_axes(name):
    make, ndims, _, _ = CASES[name]
    for i, nd in zip(_arrays(make()), ndims):
        if not nd:
            continue
        args = make()
        args[i] = args[i][np.newaxis]
        with pytest.raises(ValueError, match=rf"^{name} \w+: expected {nd} axes; got {nd + 1}"):
            _call(name, args)


@pytest.mark.parametrize("name", sorted(CASES))
def test_size_mismatches_are_value_errors(name):
    make, _, _, _ = CASES[name]
    for i in _arrays(make()):
        args = make()
        args[i] = args[i][:-1].copy()  # one row (or element) short
        with pytest.raises(ValueError, match="internal size mismatch"):
            _call(name, args)


def test_element_wise_kernels_read_any_c_contiguous_shape():
    """The element-wise wrappers read a (2, 3, 4) array as its 24 elements in order: the same
    bits as the flat call, and numpy's sigmoid to within rounding."""
    x = rng.standard_normal((2, 3, 4))
    y3, y1 = np.empty_like(x), np.empty(24)
    K.sigmoid_forward(y3, x)
    K.sigmoid_forward(y1, x.ravel())
    assert np.array_equal(y3.ravel(), y1)
    # a few ulp: exp and the division each round once, numpy's exp is another <= 1 ulp one
    np.testing.assert_allclose(y3, 1 / (1 + np.exp(-x)), rtol=4e-16, atol=0)
    dx = np.empty((4, 6))  # another shape of the same size
    K.sigmoid_backward(dx, np.ones(24), y1)
    np.testing.assert_allclose(dx.ravel(), (1 - y1) * y1, rtol=0, atol=0)


@pytest.mark.parametrize("dt", [np.int64, np.longlong])
def test_labels_of_either_64_bit_integer_format(dt):
    """int64 is 'l' on Linux and 'q' (long long) on Windows: both are labels."""
    y = _prob(3, 4)
    t = np.array([0, 3, 1], dt)
    want = -np.mean(np.log(y[np.arange(3), t] + 1e-7))
    np.testing.assert_allclose(K.cross_entropy_forward(y, t, "ce"), want, rtol=1e-15)


def test_a_bad_label_is_still_an_index_error_naming_it():
    with pytest.raises(IndexError, match=r"^ce: expected labels in \[0, 4\); got 9 at position 1"):
        K.cross_entropy_forward(_prob(3, 4), np.array([0, 9, 1]), "ce")


def test_dropout_draw_draws_numpys_stream_and_applies_the_mask():
    """dropout_draw(mask, p, bg, y, x, scale): mask is numpy's ``rand(n) > p`` from the same
    generator state, y = x * mask * scale; without y and x only the mask; y without x, or
    sizes that differ, are refused before anything is drawn."""
    bg = np.random.mtrand._rand._bit_generator
    x = rng.standard_normal((3, 7))
    for dt in (np.float64, np.float32):
        xd = x.astype(dt)
        np.random.seed(5)
        want = np.random.rand(3, 7) > 0.3
        np.random.seed(5)
        mask, y = np.empty((3, 7), np.bool_), np.empty((3, 7), dt)
        _call("dropout_draw", [mask, 0.3, bg, y, xd, 2.0])
        assert np.array_equal(mask, want)
        # x * mask * 2 and x * 1 * 2 round alike: each is one product by a power of two
        np.testing.assert_array_equal(y, xd * want * dt(2.0))
    np.random.seed(5)
    mask = np.empty(21, np.uint8)
    _call("dropout_draw", [mask, 0.3, bg])
    assert np.array_equal(mask.astype(bool), want.ravel())
    _, keys, pos, *_ = np.random.get_state()
    with pytest.raises(TypeError, match="^dropout_draw x: expected"):
        _call("dropout_draw", [mask, 0.3, bg, np.empty(21), None])
    with pytest.raises(ValueError, match="internal size mismatch"):
        _call("dropout_draw", [mask, 0.3, bg, np.empty(20), np.ones(20)])
    _, keys2, pos2, *_ = np.random.get_state()
    assert pos2 == pos and np.array_equal(keys2, keys)  # nothing drawn
