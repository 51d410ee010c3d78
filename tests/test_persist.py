"""Safe persistence and crash-safe training: dlcore.save / dlcore.load, atomic writes (a
process killed mid-save leaves the previous file), the restricted unpickler against
malicious pickles, and Trainer checkpoints (resume reproduces the uninterrupted run bit for
bit; Ctrl-C saves and stops; a diverged run keeps the last good checkpoint)."""
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import dlcore
from dlcore import _pickle
from dlcore import optimizer as O
from dlcore.deep_convnet import DeepConvNet
from dlcore.multi_layer_net import MultiLayerNet
from dlcore.multi_layer_net_extend import MultiLayerNetExtend
from dlcore.simple_convnet import SimpleConvNet
from dlcore.trainer import Trainer, TrainingDiverged
from dlcore.two_layer_net import TwoLayerNet

SMALL_CONV = {"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1}


def make_net(name, dtype=np.float64):
    np.random.seed(7)
    if name == "TwoLayerNet":
        return TwoLayerNet(5, 4, 3, 0.3, dtype=dtype), (5,)
    if name == "MultiLayerNet":
        return MultiLayerNet(5, [4, 3], 3, activation="sigmoid", weight_decay_lambda=0.05,
                             dtype=dtype), (5,)
    if name == "MultiLayerNetExtend":
        return MultiLayerNetExtend(5, [4, 4], 3, use_batchnorm=True, use_dropout=True,
                                   dropout_ration=0.25, weight_decay_lambda=0.01,
                                   dtype=dtype), (5,)
    if name == "SimpleConvNet":
        return SimpleConvNet((2, 8, 8), SMALL_CONV, hidden_size=6, output_size=3,
                             dtype=dtype), (2, 8, 8)
    return DeepConvNet(hidden_size=6, output_size=3, dtype=dtype), (1, 28, 28)


NETS = ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet"]


# ------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", NETS)
def test_network_round_trip(tmp_path, name, dtype):
    net, shape = make_net(name, dtype)
    x = np.random.default_rng(0).standard_normal((4,) + shape)
    t = np.array([0, 1, 2, 1])
    if name == "MultiLayerNetExtend":  # batch-norm running statistics are state too
        net.loss(x, t, train_flg=True)
    path = tmp_path / "net.npz"
    dlcore.save(net, path)
    state = np.random.get_state()
    back = dlcore.load(path)
    after = np.random.get_state()
    assert after[2] == state[2] and np.array_equal(after[1], state[1])  # RNG untouched
    assert type(back) is type(net) and back.dtype == net.dtype
    assert list(back.params) == list(net.params)
    for k in net.params:
        assert back.params[k].dtype == net.params[k].dtype
        np.testing.assert_array_equal(back.params[k], net.params[k])
    # the loaded parameters are the ones the layers use (aliasing restored)
    if name == "DeepConvNet":
        assert back.layers[0].W is back.params["W1"]
    elif name in ("SimpleConvNet",):
        assert back.layers["Conv1"].W is back.params["W1"]
    else:
        assert back.layers["Affine1"].W is back.params["W1"]
    kw = {"train_flg": False} if name in ("MultiLayerNetExtend", "DeepConvNet") else {}
    np.testing.assert_array_equal(back.predict(x, **kw), net.predict(x, **kw))
    # a plain numpy reader sees an ordinary npz (no pickles)
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["__dlcore__"]))
    assert meta["kind"] == "network" and meta["network"]["class"] == name


OPT_ARGS = {"SGD": {"lr": 0.1}, "Momentum": {"lr": 0.05, "momentum": 0.8},
            "Nesterov": {"lr": 0.05, "momentum": 0.7}, "AdaGrad": {"lr": 0.3},
            "RMSprop": {"lr": 0.02, "decay_rate": 0.9},
            "Adam": {"lr": 0.01, "beta1": 0.8, "beta2": 0.99}}


@pytest.mark.parametrize("steps", [0, 3])
@pytest.mark.parametrize("name", list(OPT_ARGS))
def test_optimizer_round_trip_continues_identically(tmp_path, name, steps):
    rng = np.random.default_rng(1)
    params = {"W": rng.standard_normal((3, 4)), "b": np.zeros(4), "s": 2.0,
              "f": np.asfortranarray(rng.standard_normal((2, 3)), dtype=np.float32)}
    grads = [{k: (rng.standard_normal(np.shape(v)).astype(np.asarray(v).dtype)
                  if isinstance(v, np.ndarray) else float(rng.standard_normal()))
              for k, v in params.items()} for _ in range(6)]
    opt = getattr(O, name)(**OPT_ARGS[name])
    for g in grads[:steps]:
        opt.update(params, g)
    dlcore.save(opt, tmp_path / "opt.npz")
    back = dlcore.load(tmp_path / "opt.npz")
    assert type(back) is type(opt)
    p1 = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v
          for k, v in params.items()}
    p2 = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v
          for k, v in params.items()}
    for g in grads[steps:]:
        opt.update(p1, g)
        back.update(p2, g)
    for k in params:
        assert type(p1[k]) is type(p2[k])
        np.testing.assert_array_equal(p1[k], p2[k])


def test_save_refuses_what_it_cannot_rebuild(tmp_path):
    with pytest.raises(TypeError, match="expected one of dlcore's networks"):
        dlcore.save({"W": np.ones(2)}, tmp_path / "x.npz")

    class Sub(TwoLayerNet):
        pass
    with pytest.raises(TypeError, match="expected one of dlcore's networks"):
        dlcore.save(Sub(2, 2, 2), tmp_path / "x.npz")
    net = TwoLayerNet(2, 2, 2)
    net.params["W1"] = net.params["W1"].astype(np.float32)
    with pytest.raises(ValueError, match="expected every parameter of this TwoLayerNet to be "
                                         "a float64 array"):
        dlcore.save(net, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


# ------------------------------------------------------------------------------ hostile files
def _write_zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _npy(a, allow_pickle=False):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=allow_pickle)
    return buf.getvalue()


def _meta_npy(meta):
    return _npy(np.array(json.dumps(meta)))


def _good_file(tmp_path):
    np.random.seed(0)
    path = tmp_path / "good.npz"
    dlcore.save(TwoLayerNet(3, 2, 2), path)
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def test_load_refuses_pickles_and_object_arrays(tmp_path):
    canary = tmp_path / "canary"
    book = tmp_path / "params.pkl"
    TwoLayerNet(3, 2, 2).save_params(book)
    with pytest.raises(ValueError, match=r"not one \(it is not a zip.*net.load_params"):
        dlcore.load(book)
    # an npz whose member is a pickled object array: refused from its header, never unpickled
    members = {k + ".npy": _npy(v) for k, v in _good_file(tmp_path).items()}
    evil = np.empty(1, object)
    evil[0] = _Evil(str(canary))
    members["net/params/0.npy"] = _npy(evil, allow_pickle=True)
    _write_zip(tmp_path / "evil.npz", members)
    with pytest.raises(ValueError, match="member 'net/params/0' has dtype object"):
        dlcore.load(tmp_path / "evil.npz")
    assert not canary.exists()


class _Evil:
    """Pickles to a call of os.system (used only to build hostile files)."""

    def __init__(self, canary):
        self.canary = canary

    def __reduce__(self):
        return (os.system, (f"/usr/bin/touch {self.canary}",))  # absolute: bare-PATH runs


@pytest.mark.parametrize("mutate, match", [
    (lambda m: m.update(network=dict(m["network"], **{"class": "os.system"})),
     "unknown network class 'os.system'"),
    (lambda m: m["network"]["args"].update(input_size=2**40),
     r"expected 'net/params/0' of shape \(1099511627776, 2\)"),
    (lambda m: m["network"]["args"].update(hidden_size=-3), r"in \[1, 2\*\*40\]; got -3"),
    (lambda m: m["network"]["args"].update(dtype="object"), "expected dtype 'float32' or"),
    (lambda m: m["network"]["args"].update(evil="x"), "expected the constructor arguments"),
    (lambda m: m.update(version=99), "format version 99"),
    (lambda m: m.update(kind="shell"), "unknown kind 'shell'"),
    (lambda m: m.update(format="numpy"), "does not name the dlcore format"),
])
def test_load_checks_metadata_before_allocating(tmp_path, mutate, match):
    arrays = _good_file(tmp_path)
    meta = json.loads(str(arrays.pop("__dlcore__")))
    mutate(meta)
    members = {k + ".npy": _npy(v) for k, v in arrays.items()}
    members["__dlcore__.npy"] = _meta_npy(meta)
    _write_zip(tmp_path / "bad.npz", members)
    with pytest.raises(ValueError, match=match):
        dlcore.load(tmp_path / "bad.npz")


def test_load_checks_headers_against_stored_bytes(tmp_path):
    arrays = _good_file(tmp_path)
    members = {k + ".npy": _npy(v) for k, v in arrays.items()}
    # a header that claims 2**40 elements in a member of a few bytes: refused unread
    head = _npy(np.zeros((2, 2)))
    members["net/params/0.npy"] = head.replace(b"(2, 2)", b"(1048576, 1048576)")
    _write_zip(tmp_path / "bomb.npz", members)
    with pytest.raises(ValueError, match="declares shape .* bytes\\) but stores"):
        dlcore.load(tmp_path / "bomb.npz")
    # compressed members are not what dlcore writes
    with zipfile.ZipFile(tmp_path / "z.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in arrays.items():
            zf.writestr(k + ".npy", _npy(v))
    with pytest.raises(ValueError, match="is compressed"):
        dlcore.load(tmp_path / "z.npz")
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04" + os.urandom(200))
    with pytest.raises(ValueError):
        dlcore.load(tmp_path / "garbage.npz")
    with pytest.raises(FileNotFoundError):
        dlcore.load(tmp_path / "missing.npz")


# ------------------------------------------------------------------------------ malicious pickles
def _evil_pickles(canary):
    """Pickles that would run a shell command (or other code) when unpickled: a __reduce__
    calling os.system at top level and nested in a params dict, builtins.eval and
    subprocess via the GLOBAL/STACK_GLOBAL opcodes, in every protocol."""
    out = []
    for proto in range(0, pickle.HIGHEST_PROTOCOL + 1):
        out.append((f"os.system-p{proto}", pickle.dumps(_Evil(canary), protocol=proto)))
        out.append((f"nested-p{proto}", pickle.dumps({"W1": np.ones(2), "b1": _Evil(canary)},
                                                     protocol=proto)))
    out.append(("eval", b"cbuiltins\neval\n(V__import__('os').system('touch " +
                canary.encode() + b"')\ntR."))
    out.append(("subprocess", pickle.dumps(_Popen(canary), protocol=4)))
    return out


class _Popen:
    def __init__(self, canary):
        self.canary = canary

    def __reduce__(self):
        return (subprocess.call, (["touch", self.canary],))


def test_malicious_pickles_are_refused_without_running(tmp_path):
    canary = str(tmp_path / "pwned")
    for label, data in _evil_pickles(canary):
        path = tmp_path / f"{label}.pkl"
        path.write_bytes(data)
        net = TwoLayerNet(2, 2, 2)
        with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
            net.load_params(path)
        with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
            _pickle.load(io.BytesIO(data))
        with pytest.raises(ValueError, match="not one"):
            dlcore.load(path)
        assert not os.path.exists(canary), f"{label} ran code"
    # the sanity check of this test: plain pickle would have run it
    subprocess.run([sys.executable, "-c", "import pickle,sys; pickle.loads(sys.stdin.buffer."
                    "read())"], input=_evil_pickles(canary)[0][1], check=False)
    assert os.path.exists(canary)


def test_corrupt_pickle_is_an_unpickling_error(tmp_path):
    TwoLayerNet(2, 2, 2).save_params(tmp_path / "p.pkl")
    data = (tmp_path / "p.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(pickle.UnpicklingError, match="not a valid pickle"):
        TwoLayerNet(2, 2, 2).load_params(tmp_path / "cut.pkl")


def test_save_params_is_atomic_and_still_the_books_format(tmp_path):
    net = TwoLayerNet(3, 2, 2)
    net.save_params(tmp_path / "p.pkl")
    with open(tmp_path / "p.pkl", "rb") as f:
        plain = pickle.load(f)  # the book reads it with plain pickle
    assert set(plain) == set(net.params)
    assert [p.name for p in tmp_path.iterdir()] == ["p.pkl"]  # no temporary left behind


# ------------------------------------------------------------------------------ atomic writes
_CHILD_SAVE = r"""
import io, os, sys, time
import numpy as np
import dlcore
from dlcore.multi_layer_net import MultiLayerNet
path, signal_path, mode = sys.argv[1:4]
np.random.seed(1)
net = MultiLayerNet(2000, [2000, 2000], 10)   # about 8 million parameters, 64 MB
for v in net.params.values():
    v[...] = 2.0                                 # version 2 (the parent wrote version 1)
if mode == "before-rename":                      # everything written, then stuck in fsync
    real = os.fsync
    def stuck(fd):
        real(fd)
        open(signal_path, "w").close()
        time.sleep(600)
    os.fsync = stuck
elif mode == "mid-data":                         # half of the file written, then stuck
    real = np.savez
    def half(f, **kw):
        buf = io.BytesIO()
        real(buf, **kw)
        data = buf.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        open(signal_path, "w").close()
        time.sleep(600)
    np.savez = half
else:                                            # an ordinary save, killed at some point
    open(signal_path, "w").close()
dlcore.save(net, path)
print("saved")
"""


def _version_one(path):
    np.random.seed(1)
    net = MultiLayerNet(2000, [2000, 2000], 10)
    for v in net.params.values():
        v[...] = 1.0
    dlcore.save(net, path)


@pytest.mark.parametrize("mode", ["mid-data", "before-rename", "anytime"])
def test_killed_save_leaves_the_previous_file(tmp_path, mode):
    path = tmp_path / "net.npz"
    _version_one(path)
    before = path.read_bytes()
    sig = tmp_path / "writing"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD_SAVE, str(path), str(sig), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not sig.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.time() < deadline
            time.sleep(0.005)
        if mode == "anytime":  # let the write get going: wait for the temporary to grow
            while proc.poll() is None and not any(
                    p.name.endswith(".tmp") and p.stat().st_size > 1 << 20
                    for p in tmp_path.iterdir()) and time.time() < deadline:
                time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)
    assert proc.returncode in (-signal.SIGKILL, 0)
    after = path.read_bytes()
    if mode != "anytime" or proc.returncode == -signal.SIGKILL and after == before:
        assert after == before  # the previous file, byte for byte
        net = dlcore.load(path)
        assert all((v == 1.0).all() for v in net.params.values())
    else:  # the rename happened before the kill: then it is the complete new file
        net = dlcore.load(path)
        assert all((v == 2.0).all() for v in net.params.values())
    if mode != "anytime":  # the killed writer's temporary is what remains beside it
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_failed_write_removes_its_temporary(tmp_path, monkeypatch):
    path = tmp_path / "net.npz"
    dlcore.save(TwoLayerNet(2, 2, 2), path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="No space left"):
        dlcore.save(TwoLayerNet(3, 3, 3), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.npz"]


# ------------------------------------------------------------------------------ checkpoints
def _data(n=60, d=5, c=3, seed=11):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    t = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)
    return x, t, x[:20], t[:20]


def _trainer(seed, ckpt_dir=None, **kw):
    np.random.seed(seed)
    net = MultiLayerNetExtend(5, [8, 6], 3, use_batchnorm=True, use_dropout=True,
                              dropout_ration=0.2)
    x, t, xt, tt = _data()
    args = dict(epochs=4, mini_batch_size=10, optimizer="Adam",
                optimizer_param={"lr": 0.01}, verbose=False)
    args.update(kw)
    return Trainer(net, x, t, xt, tt, checkpoint_dir=ckpt_dir, **args)


def _final_state(tr):
    return ({k: v.copy() for k, v in tr.network.params.items()},
            [tr.network.layers[k].running_mean.copy() for k in ("BatchNorm1", "BatchNorm2")],
            list(tr.train_loss_list), list(tr.train_acc_list), list(tr.test_acc_list),
            tr.current_iter, tr.current_epoch, tr.optimizer.iter,
            {k: v.copy() for k, v in tr.optimizer.m.items()}, np.random.get_state())


def _assert_same_run(a, b):
    for k in a[0]:
        np.testing.assert_array_equal(a[0][k], b[0][k])
    for x, y in zip(a[1], b[1]):
        np.testing.assert_array_equal(x, y)
    for i in (2, 3, 4):  # the lists, value and type
        assert [type(v) for v in a[i]] == [type(v) for v in b[i]]
        np.testing.assert_array_equal(np.asarray(a[i]), np.asarray(b[i]))
    assert a[5:8] == b[5:8]
    for k in a[8]:
        np.testing.assert_array_equal(a[8][k], b[8][k])
    assert a[9][2] == b[9][2] and np.array_equal(a[9][1], b[9][1])  # the RNG carried on


class _Stop(Exception):
    pass


def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(tmp_path):
    full = _trainer(0, tmp_path / "a")
    full.train()
    reference = _final_state(full)

    # the same run, stopped by a failure in the middle of epoch 3 (after the checkpoint
    # written at the end of epoch 2)
    def crash(trainer):
        if trainer.current_epoch == 3:
            raise _Stop
    part = _trainer(0, tmp_path / "b", checkpoint_every=2, callback=crash)
    with pytest.raises(_Stop):
        part.train()
    meta = json.loads(str(np.load(tmp_path / "b" / "checkpoint.npz")["__dlcore__"]))
    assert meta["trainer"]["current_iter"] == 12  # 2 epochs of 6 iterations

    # a new process would start from other weights and another seed: all are replaced
    resumed = _trainer(12345, tmp_path / "c", resume_from=tmp_path / "b" / "checkpoint.npz")
    assert resumed.current_iter == 12
    resumed.train()
    _assert_same_run(reference, _final_state(resumed))


_CHILD_TRAIN = r"""
import sys
sys.path.insert(0, sys.argv[2])
import test_persist as T
tr = T._trainer(0, sys.argv[1], epochs=300)
tr.train()
"""


def test_resume_after_sigkill_of_a_training_process(tmp_path):
    """A training process killed (SIGKILL) at an arbitrary point after its first
    checkpoint; resuming from whatever checkpoint is on disk reproduces the uninterrupted
    run."""
    ckpt = tmp_path / "ckpt" / "checkpoint.npz"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD_TRAIN, str(ckpt.parent),
                             os.path.dirname(__file__)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not ckpt.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.time() < deadline
            time.sleep(0.002)
        time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)
    resumed = _trainer(99, resume_from=ckpt, epochs=300)
    assert 0 < resumed.current_iter < resumed.max_iter  # killed in the middle of the run
    resumed.train()
    full = _trainer(0, epochs=300)
    full.train()
    _assert_same_run(_final_state(full), _final_state(resumed))


def test_keyboard_interrupt_saves_a_checkpoint_and_stops(tmp_path):
    full = _trainer(0)
    full.train()
    reference = _final_state(full)

    def ctrl_c(trainer):  # the user presses Ctrl-C during epoch 2's evaluation
        if trainer.current_epoch == 2:
            signal.raise_signal(signal.SIGINT)
    tr = _trainer(0, tmp_path, callback=ctrl_c)
    previous = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match=r"interrupted after iteration 7; checkpoint "
                                                r"saved to .*checkpoint.npz"):
        tr.train()
    assert signal.getsignal(signal.SIGINT) is previous  # the handler is put back
    assert tr.current_iter == 7  # the step in progress was completed, not torn
    resumed = _trainer(5, resume_from=tmp_path / "checkpoint.npz")
    resumed.train()
    _assert_same_run(reference, _final_state(resumed))


def test_without_checkpoints_ctrl_c_interrupts_at_once():
    def ctrl_c(trainer):
        signal.raise_signal(signal.SIGINT)
    tr = _trainer(0, callback=ctrl_c)
    with pytest.raises(KeyboardInterrupt) as e:
        tr.train()
    assert "checkpoint" not in str(e.value)
    assert tr.current_iter == 0  # raised inside the first step, as in the book


class _Exploding(TwoLayerNet):
    """A TwoLayerNet whose loss turns NaN from its n-th training step on (one gradient
    call per step)."""

    def __init__(self, n, *a, **k):
        super().__init__(*a, **k)
        self.steps, self.n = 0, n

    def gradient(self, x, t):
        self.steps += 1
        return super().gradient(x, t)

    def loss(self, x, t):
        value = super().loss(x, t)
        return value * np.nan if self.steps >= self.n else value


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    np.random.seed(0)
    x, t, xt, tt = _data()
    net = _Exploding(15, 5, 4, 3)  # 6 iterations per epoch: diverges in epoch 3
    tr = Trainer(net, x, t, xt, tt, epochs=5, mini_batch_size=10, verbose=False,
                 checkpoint_dir=tmp_path)
    with pytest.raises(TrainingDiverged, match="became nan at iteration 14"):
        tr.train()
    ck = tmp_path / "checkpoint.npz"
    meta = json.loads(str(np.load(ck)["__dlcore__"]))
    assert meta["trainer"]["current_iter"] == 12  # the end of epoch 2, before the NaN
    assert meta["network"]["args"] is None  # a subclass: restorable into a network only
    with np.load(ck) as npz:
        losses = npz["trainer/train_loss_list"]
    assert len(losses) == 12 and np.isfinite(losses).all()
    np.random.seed(1)
    again = Trainer(TwoLayerNet(5, 4, 3), x, t, xt, tt, epochs=5, mini_batch_size=10,
                    verbose=False, resume_from=ck)
    assert again.current_iter == 12
    with np.load(ck) as npz:
        np.testing.assert_array_equal(again.network.params["W1"], npz["net/params/0"])


def test_checkpoint_schedule_and_final_checkpoint(tmp_path, monkeypatch):
    saved = []
    real = Trainer.save_checkpoint

    def spy(self, path=None):
        saved.append(self.current_iter)
        return real(self, path)
    monkeypatch.setattr(Trainer, "save_checkpoint", spy)
    tr = _trainer(0, tmp_path, epochs=5, checkpoint_every=2)
    tr.train()
    assert saved == [12, 24, 30]  # every 2 epochs of 6 iterations, and the end
    np.random.seed(3)
    back = dlcore.load(tmp_path / "checkpoint.npz")  # the network of a checkpoint
    for k in back.params:
        np.testing.assert_array_equal(back.params[k], tr.network.params[k])


def test_resume_refuses_a_checkpoint_that_does_not_fit(tmp_path):
    tr = _trainer(0, tmp_path, epochs=1)
    tr.train()
    ck = tmp_path / "checkpoint.npz"
    with pytest.raises(ValueError, match="batch_size=10; this trainer has batch_size=5"):
        _trainer(0, resume_from=ck, mini_batch_size=5)
    with pytest.raises(ValueError, match="holds Adam state; this trainer's optimizer is SGD"):
        _trainer(0, resume_from=ck, optimizer="SGD")
    with pytest.raises(ValueError, match=r"Adam\(lr=0.01\); this optimizer has lr=0.02"):
        _trainer(0, resume_from=ck, optimizer_param={"lr": 0.02})
    x, t, xt, tt = _data()
    other = Trainer(MultiLayerNetExtend(5, [8, 7], 3, use_batchnorm=True), x, t, xt, tt,
                    mini_batch_size=10, optimizer="Adam", optimizer_param={"lr": 0.01})
    with pytest.raises(ValueError, match="expected 'net/params/2' of shape \\(8, 7\\)"):
        other.resume(ck)
    assert other.current_iter == 0  # nothing was restored
    dlcore.save(TwoLayerNet(2, 2, 2), tmp_path / "net.npz")
    with pytest.raises(ValueError, match="expected a Trainer checkpoint"):
        _trainer(0, resume_from=tmp_path / "net.npz")


def test_checkpoint_of_a_duck_typed_network(tmp_path):
    class Quadratic:
        def __init__(self):
            self.params = {"w": np.array([3.0, -2.0])}

        def gradient(self, x, t):
            return {"w": 2 * self.params["w"]}

        def loss(self, x, t):
            return np.float64(np.sum(self.params["w"] ** 2))

        def accuracy(self, x, t):
            return np.float64(0.5)

    x, t = np.zeros((10, 1)), np.zeros(10, int)
    np.random.seed(0)
    a = Trainer(Quadratic(), x, t, x, t, epochs=6, mini_batch_size=5, verbose=False,
                optimizer="Momentum", optimizer_param={"lr": 0.1}, checkpoint_dir=tmp_path,
                checkpoint_every=3)
    a.train()
    b = Trainer(Quadratic(), x, t, x, t, epochs=9, mini_batch_size=5, verbose=False,
                optimizer="Momentum", optimizer_param={"lr": 0.1},
                resume_from=tmp_path / "checkpoint.npz")
    assert b.current_iter == 12 and b.train_loss_list == a.train_loss_list
    np.testing.assert_array_equal(b.network.params["w"], a.network.params["w"])
    np.testing.assert_array_equal(b.optimizer.v["w"], a.optimizer.v["w"])
    b.train()
    assert b.current_iter == 18 and len(b.train_loss_list) == 18


def test_checkpoint_options_leave_the_books_output_alone(tmp_path, capsys):
    _trainer(0, verbose=True, epochs=2).train()
    plain = capsys.readouterr().out
    _trainer(0, tmp_path, verbose=True, epochs=2).train()
    assert capsys.readouterr().out == plain
    assert plain.count("train loss:") == 12 and "=== epoch:1, train acc:" in plain


@pytest.mark.parametrize("bad, match", [
    ({"checkpoint_every": 0}, "positive number of epochs for checkpoint_every"),
    ({"checkpoint_every": float("nan")}, "checkpoint_every"),
    ({"checkpoint_every": True}, "checkpoint_every"),
])
def test_checkpoint_arguments(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        _trainer(0, tmp_path, **bad)


def test_save_checkpoint_needs_a_path():
    with pytest.raises(ValueError, match="expected a path"):
        _trainer(0).save_checkpoint()


def test_trainer_checkpoint_source_names_no_code():
    """The checkpoint's JSON is data only: no module paths that a loader would import."""
    with open(os.path.join(os.path.dirname(dlcore.__file__), "_persist.py")) as f:
        src = f.read()
    assert "importlib" not in src and "__import__" not in src and "eval(" not in src
