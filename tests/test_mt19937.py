"""numpy's MT19937 drawn in blocks by dlcore's C code (dl_mt19937_doubles, dl_dropout_draw_mt19937):
the same doubles as numpy's own ``random_sample``, the generator's state advanced exactly as
numpy's draws advance it, and the one-by-one path (numpy's next_double) where the block path
does not apply. The oracle is numpy's legacy global generator itself."""
import numpy as np
import pytest

from conftest import outputs_on_every_kernel_path
from dlcore import _kernels as K
from dlcore.engine import FusedTrainer
from dlcore import optimizer as O
from dlcore.layers import Dropout

BG = np.random.mtrand._rand._bit_generator

# word counts around the 624-word state: a draw of n doubles reads 2n words
ADVANCE = (0, 1, 311, 312, 313, 623, 624, 1000)
SIZES = (1, 2, 311, 312, 313, 624, 625, 5000, 78400)


@pytest.fixture
def blocks():
    """Restores the block switch after a test that turns it off."""
    before = K.mt19937_blocks()
    yield
    K.mt19937_blocks(before)


def _same_state(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2] == b[2]


@pytest.mark.parametrize("advance", ADVANCE)
def test_blocks_give_numpys_doubles_and_state(advance):
    assert K.mt19937_blocks()  # numpy's layout checked out on this numpy
    for n in SIZES:
        np.random.seed(1000 * advance + n)
        np.random.rand(advance)  # any position in the state, including 624 (twist pending)
        start = np.random.get_state()
        want = np.random.rand(n)
        want_state = np.random.get_state()
        np.random.set_state(start)
        got = np.empty(n)
        with BG.lock:
            assert K.mt19937_fill(got, BG)
        np.testing.assert_array_equal(got, want)
        assert _same_state(np.random.get_state(), want_state), (advance, n)


@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.5, 0.999])
def test_dropout_layer_mask_is_the_books_with_and_without_blocks(ratio, blocks):
    x = np.random.default_rng(0).standard_normal((100, 97))  # 9700 doubles: 31 state blocks
    results = []
    for on in (True, False):
        K.mt19937_blocks(on)
        np.random.seed(7)
        np.random.rand(100)  # start mid-state
        layer = Dropout(ratio)
        y = layer.forward(x)
        results.append((layer.mask.copy(), y, np.random.rand(3)))
    np.random.seed(7)
    np.random.rand(100)
    want = np.random.rand(*x.shape) > ratio  # the book's statement
    after = np.random.rand(3)
    for mask, y, nxt in results:
        np.testing.assert_array_equal(mask, want)
        np.testing.assert_array_equal(y, x * want)
        np.testing.assert_array_equal(nxt, after)


@pytest.mark.parametrize("on", [True, False])
def test_engine_book_masks_cross_state_blocks(on, blocks):
    """The fused engine's book-style masks (plan built with blocks on or off) over several
    624-word blocks: numpy's stream in the book's order, and the stream left where the book
    leaves it."""
    from test_engine import Net, batch
    K.mt19937_blocks(on)
    net = Net([12, 300, 200, 4], dropout=0.4)
    ft = FusedTrainer(net, O.SGD())
    x, t = batch(50, 12, classes=4)
    np.random.seed(11)
    ft.gradient(x, t)
    ft.gradient(x, t)
    after = np.random.rand()
    rs = np.random.RandomState(11)
    rs.rand(50, 300), rs.rand(50, 200)  # the first step's masks
    want = [rs.rand(50, 300) > 0.4, rs.rand(50, 200) > 0.4]
    for w, g in zip(want, ft.dropout_masks()):
        np.testing.assert_array_equal(g, w)
    assert after == rs.rand()


def test_a_position_outside_the_state_is_not_drawn_in_blocks():
    """numpy's setter takes any position; the block path refuses one outside [0, 624] and
    draws nothing (the one-by-one path then does what numpy itself does)."""
    np.random.seed(3)
    state = np.random.get_state()
    try:
        for bad in (625, 5000, -1):
            np.random.set_state((state[0], state[1], bad))
            u = np.full(4, -1.0)
            with BG.lock:
                assert K.mt19937_fill(u, BG) is False
            np.testing.assert_array_equal(u, -1.0)
            assert np.random.get_state()[2] == bad
    finally:
        np.random.set_state(state)


def test_other_generators_are_not_read_in_place():
    u = np.full(3, -1.0)
    for g in (np.random.PCG64(1), np.random.Philox(1)):
        assert K.mt19937_fill(u, g) is False

    class MyMT(np.random.MT19937):  # a subclass may keep its state elsewhere
        pass

    assert K.mt19937_fill(u, MyMT(1)) is False
    np.testing.assert_array_equal(u, -1.0)
    mt = np.random.MT19937(5)  # a plain MT19937 other than the global one
    want = np.random.RandomState(np.random.MT19937(5)).random_sample(700)
    got = np.empty(700)
    assert K.mt19937_fill(got, mt)
    np.testing.assert_array_equal(got, want)


def test_fill_refuses_float32():
    with pytest.raises(TypeError, match="^mt19937_fill u: expected float64"):
        with BG.lock:
            K.mt19937_fill(np.empty(3, np.float32), BG)


_PATH_PROBE = r"""
import json, numpy as np, dlcore
from dlcore import _kernels as K
bg = np.random.mtrand._rand._bit_generator
out = {"path": K.isa_selected(), "blocks": K.mt19937_blocks()}
np.random.seed(123)
np.random.rand(77)
u = np.empty(5000)
with bg.lock:
    K.mt19937_fill(u, bg)
out["u"] = u.tobytes().hex()
mask = np.empty(3001, np.uint8)
with bg.lock:
    K.dropout_draw(mask, 0.3, bg)
out["mask"] = mask.tobytes().hex()
out["next"] = np.random.rand(2).tolist()
print(json.dumps(out))
"""


def test_every_kernel_path_draws_the_same_stream():
    """Each kernel path compiles the block loops for its own vectors (tmpl/mt19937.inc); all
    give numpy's stream (checked here against numpy on the path this process runs)."""
    runs = outputs_on_every_kernel_path(_PATH_PROBE)
    np.random.seed(123)
    np.random.rand(77)
    want_u = np.random.rand(5000)
    want_mask = (np.random.rand(3001) > 0.3).astype(np.uint8)
    want_next = np.random.rand(2).tolist()
    for path, res in runs.items():
        assert res["blocks"], path
        np.testing.assert_array_equal(np.frombuffer(bytes.fromhex(res["u"])), want_u)
        np.testing.assert_array_equal(np.frombuffer(bytes.fromhex(res["mask"]), np.uint8),
                                      want_mask)
        assert res["next"] == want_next, path
