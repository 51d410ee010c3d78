"""dlcore.distributed and Trainer(distributed=True): single-process units, and runs of
tests/mpi_worker.py under ``mpiexec -n 2`` (loopback, one OpenMP thread per process, each
run bounded by a timeout). The multi-process tests skip only when mpi4py or mpiexec cannot
be found (``pip install "dlcore[mpi]"`` provides both)."""
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import dlcore
from dlcore import distributed as dist
from dlcore.multi_layer_net import MultiLayerNet
from dlcore.trainer import Trainer

WORKER = Path(__file__).with_name("mpi_worker.py")
TIMEOUT = 60  # s per mpiexec run; a hang fails the test instead of blocking the suite


def _mpiexec():
    here = Path(sys.executable).parent / "mpiexec"
    if here.exists():
        return str(here)
    return shutil.which("mpiexec")


MPIEXEC = _mpiexec()
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(
    not (MPIEXEC and HAVE_MPI4PY),
    reason=f"MPI not available (mpi4py {'found' if HAVE_MPI4PY else 'missing'}, mpiexec "
           f"{MPIEXEC or 'missing'}): pip install \"dlcore[mpi]\"")


def _clean_env():
    env = {k: v for k, v in os.environ.items() if k not in dist._LAUNCHER_VARS}
    env["OMP_NUM_THREADS"] = "1"
    env.pop("DLCORE_DEBUG_DISTRIBUTED", None)
    return env


def run_worker(n, *args, timeout=TIMEOUT, check=True):
    """Run the worker under ``mpiexec -n n`` (n=None: as one plain process); returns the
    CompletedProcess; a run that does not end within ``timeout`` fails the test."""
    cmd = [sys.executable, str(WORKER), *map(str, args)]
    if n is not None:
        cmd = [MPIEXEC, "-n", str(n)] + cmd
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=_clean_env())
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} did not end within {timeout} s (hang); stderr: "
                    f"{e.stderr}")
    p.elapsed = time.perf_counter() - t0
    if check and p.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n"
                    f"{p.stderr}")
    return p


# ------------------------------------------------------------------ single process

def test_import_dlcore_does_not_import_mpi4py():
    code = ("import sys, dlcore, dlcore.distributed as d, dlcore.trainer; "
            "assert (d.rank(), d.size(), d.is_root()) == (0, 1, True); "
            "assert d.communicator() is None; "
            "assert 'mpi4py' not in sys.modules, 'mpi4py imported'; print('ok')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=_clean_env(), timeout=TIMEOUT)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


def test_launched_without_mpi4py_raises_clearly():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import dlcore.distributed as d\n"
            "try:\n    d.rank()\nexcept RuntimeError as e:\n    print(e)\n")
    env = _clean_env()
    env.update(PMI_SIZE="2", PMI_RANK="0")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=TIMEOUT)
    assert "with 2 processes but mpi4py cannot be imported" in p.stdout, p.stdout + p.stderr
    assert 'pip install "dlcore[mpi]"' in p.stdout


@pytest.mark.parametrize("n", [0, 1, 2, 7, 10, 11, 256])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_shard_bounds_partition(n, size):
    bounds = [dist.shard_bounds(n, r, size) for r in range(size)]
    # oracle: numpy's array_split gives the same near-equal contiguous partition
    want = [(int(a[0]), int(a[-1]) + 1) if len(a) else None
            for a in np.array_split(np.arange(n), size)]
    got = [b if b[1] > b[0] else None for b in bounds]
    assert got == want
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(bounds[i][1] == bounds[i + 1][0] for i in range(size - 1))


def test_shard_slices_indices_and_arrays():
    batch = np.array([5, 3, 3, 9, 0, 1, 2])
    assert dist.shard(batch, 0, 2).tolist() == [5, 3, 3, 9]
    assert dist.shard(batch, 1, 2).tolist() == [0, 1, 2]
    x = np.arange(14.0).reshape(7, 2)
    part = dist.shard(x, 1, 3)
    assert np.shares_memory(part, x) and part.tolist() == [[6, 7], [8, 9]]
    assert dist.shard(batch).tolist() == batch.tolist()   # one process: the whole batch


@pytest.mark.parametrize("bad, match", [((5, 2, 2), "0 <= rank < size"),
                                        ((5, -1, 2), "0 <= rank < size"),
                                        ((5, 0, 0), "size >= 1"),
                                        ((-1, 0, 1), "n >= 0")])
def test_shard_bounds_rejects_bad_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        dist.shard_bounds(*bad)
    with pytest.raises(TypeError, match="expected an int rank"):
        dist.shard_bounds(5, 0.5, 2)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_averager_single_process_scales_in_place_and_reuses_its_buffer(dt):
    rng = np.random.default_rng(0)
    grads = {"W": rng.standard_normal((3, 4)).astype(dt), "b": rng.standard_normal(4).astype(dt)}
    want = {k: v * dt(0.25) for k, v in grads.items()}
    ids = {k: id(v) for k, v in grads.items()}
    avg = dist.GradientAverager(comm=None)
    out = avg(grads, weight=0.25)
    assert out is grads and {k: id(v) for k, v in grads.items()} == ids
    for k in grads:
        assert grads[k].dtype == dt
        np.testing.assert_array_equal(grads[k], want[k])
    buf = {k: id(b) for k, b in avg._buffers.items()}
    assert list(avg._buffers) == [np.dtype(dt)] and avg.nbytes == 16 * np.dtype(dt).itemsize
    avg(grads)                    # weight 1/size = 1: unchanged
    np.testing.assert_array_equal(grads["W"], want["W"])
    assert {k: id(b) for k, b in avg._buffers.items()} == buf and avg.calls == 2


def test_averager_rejects_bad_input():
    avg = dist.GradientAverager(comm=None)
    with pytest.raises(TypeError, match="expected a dict"):
        avg([np.zeros(2)])
    with pytest.raises(TypeError, match="floating-point"):
        avg({"a": np.zeros(2, np.int64)})
    ro = np.zeros(2)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        avg({"a": ro})
    with pytest.raises(ValueError, match="method 'auto', 'reduce_bcast' or 'allreduce'"):
        dist.GradientAverager(comm=None, method="ring")


@pytest.mark.parametrize("value, on", [("1", True), ("yes", True), ("0", False), ("", False)])
def test_debug_mode_from_the_environment(monkeypatch, value, on):
    monkeypatch.setenv("DLCORE_DEBUG_DISTRIBUTED", value)
    assert dist.debug_enabled() is on
    x, t = _small_problem()
    tr = Trainer(MultiLayerNet(8, [4], 4), x, t, x, t, verbose=False, distributed=True)
    assert tr.distributed_debug is on
    tr = Trainer(MultiLayerNet(8, [4], 4), x, t, x, t, verbose=False, distributed=True,
                 distributed_debug=not on)
    assert tr.distributed_debug is (not on)


def test_allreduce_gradients_function_single_process():
    g = {"W": np.full((2, 3), 3.0, np.float32)}
    assert dist.allreduce_gradients(g) is g          # world of 1: the mean is the array
    np.testing.assert_array_equal(g["W"], np.full((2, 3), 3.0, np.float32))
    dist.allreduce_gradients(g, weight=0.5)
    assert g["W"].dtype == np.float32
    np.testing.assert_array_equal(g["W"], np.full((2, 3), 1.5, np.float32))


def _small_problem():
    rng = np.random.default_rng(3)
    x = rng.random((120, 8))
    t = (x[:, 0] * 4).astype(np.int64)
    return x, t


@pytest.mark.parametrize("fused", ["auto", False])
def test_distributed_trainer_in_one_process_is_the_plain_trainer(fused):
    x, t = _small_problem()
    runs = []
    for distributed in (False, True):
        np.random.seed(5)
        net = MultiLayerNet(8, [10], 4)
        tr = Trainer(net, x, t, x[:30], t[:30], epochs=2, mini_batch_size=12,
                     optimizer="adam", verbose=False, fused=fused, distributed=distributed)
        tr.train()
        assert tr.rank == 0 and tr.world_size == 1
        runs.append((tr.train_loss_list, tr.test_acc_list, net.params["W1"].copy()))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    np.testing.assert_array_equal(runs[0][2], runs[1][2])


def test_trainer_rejects_a_bad_communicator():
    x, t = _small_problem()
    with pytest.raises(TypeError, match="an mpi4py communicator"):
        Trainer(MultiLayerNet(8, [4], 4), x, t, x, t, distributed="world")


def test_demo_parser_has_distributed_flag():
    from dlcore.__main__ import build_parser
    parser, _ = build_parser()
    assert parser.parse_args(["demo", "--distributed"]).distributed is True
    assert parser.parse_args(["demo"]).distributed is False


# ------------------------------------------------------------------ under mpiexec

def _load(d, n):
    return [np.load(d / f"rank{r}.npz", allow_pickle=True) for r in range(n)]


@needs_mpi
@pytest.mark.parametrize("fused, batch, n", [("auto", 10, 2), ("false", 10, 2),
                                             ("auto", 7, 2), ("auto", 10, 3)])
def test_n_processes_match_one_process(tmp_path, fused, batch, n):
    """(a) N=1 vs N=n, float64, same seed and global batch: the losses after 50 steps agree
    to rtol 1e-9, and every rank's forward passes saw only its slice of every global batch;
    (b) the parameters are bitwise identical on every rank (and the debug check, on in the
    worker, raised nothing)."""
    one, many = tmp_path / "one", tmp_path / "many"
    one.mkdir()
    many.mkdir()
    run_worker(None, "train", one, "--fused", fused, "--batch", batch)
    run_worker(n, "train", many, "--fused", fused, "--batch", batch)
    (ref,), ranks = _load(one, 1), _load(many, n)
    assert int(ref["size"]) == 1 and all(int(r["size"]) == n for r in ranks)
    assert bool(ref["fused"]) == (fused == "auto") and all(
        bool(r["fused"]) == (fused == "auto") for r in ranks)

    # the forward passes: 50 steps; rank r saw exactly its contiguous slice of each batch
    ref_ids = np.stack(list(ref["ids"]))
    assert ref_ids.shape == (50, batch)
    for r, data in enumerate(ranks):
        lo, hi = dist.shard_bounds(batch, r, n)
        ids = np.stack(list(data["ids"]))
        assert ids.shape == (50, hi - lo), f"rank {r} saw batches of {ids.shape[1]} samples"
        np.testing.assert_array_equal(ids, ref_ids[:, lo:hi])

    # the losses: the global-batch mean, as one process computes it, to summation order
    for data in ranks:
        assert data["loss"].shape == (50,)
        np.testing.assert_allclose(data["loss"], ref["loss"], rtol=1e-9, atol=0)
        np.testing.assert_array_equal(data["test_acc"], ref["test_acc"])
    assert not np.array_equal(ref["loss"][0], ref["loss"][-1])   # it did train

    # parameters: bitwise identical across ranks, close to one process's, book aliasing kept
    for k in (k for k in ranks[0].files if k.startswith("param_")):
        for data in ranks[1:]:
            assert ranks[0][k].tobytes() == data[k].tobytes(), f"{k} differs across ranks"
        np.testing.assert_allclose(ranks[0][k], ref[k], rtol=1e-8, atol=1e-12)
    assert all(bool(d["aliased"]) for d in ranks)


@needs_mpi
@pytest.mark.parametrize("net", ["dropout", "bn"])
def test_dropout_and_batchnorm_networks_stay_in_sync(tmp_path, net):
    """Dropout masks come from per-rank streams and batch norm uses per-rank statistics:
    not one process's numbers, but every rank holds the same parameters, running statistics
    (averaged), losses and global RNG state (the debug check runs every epoch), the ranks'
    dropout streams differ, and each forward saw only its slice."""
    run_worker(2, "train", tmp_path, "--net", net, "--batch", 10)
    r0, r1 = _load(tmp_path, 2)
    assert bool(r0["fused"])      # MultiLayerNetExtend runs on the fused engine
    for k in (k for k in r0.files if k.startswith("param_")):
        assert r0[k].tobytes() == r1[k].tobytes(), k
    np.testing.assert_array_equal(r0["loss"], r1["loss"])
    assert np.isfinite(r0["loss"]).all() and r0["loss"][-10:].mean() < r0["loss"][:10].mean()
    np.testing.assert_array_equal(r0["rng"], r1["rng"])
    if net == "dropout":
        assert len(r0["rank_rng"]) and not np.array_equal(r0["rank_rng"], r1["rank_rng"])
    ids0, ids1 = np.stack(list(r0["ids"])), np.stack(list(r1["ids"]))
    assert ids0.shape == ids1.shape == (50, 5)


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_units_under_mpiexec(n):
    """(d) sharder and averager against a numpy oracle on n ranks (every method, float32
    and float64, uneven weights, in place, buffer reused, bitwise identical on all ranks),
    broadcast_params."""
    p = run_worker(n, "units")
    # (the ranks' lines may interleave on the shared stdout)
    for r in range(n):
        assert f"rank {r} units ok" in p.stdout, p.stdout


@needs_mpi
def test_desync_is_detected_in_debug_mode(tmp_path):
    p = run_worker(2, "desync", tmp_path, check=False)
    assert p.returncode != 0
    assert "ranks out of sync at epoch 2" in p.stdout
    assert "parameters differ from rank 0's on rank(s) [1]" in p.stdout


@needs_mpi
@pytest.mark.parametrize("fault, rank", [("raise", 1), ("raise", 0), ("exit", 1),
                                         ("kill", 1)])
def test_a_failing_rank_stops_every_rank(tmp_path, fault, rank):
    """(c) a rank raises / exits / is killed (SIGKILL) at step 25 of 50: the job ends in
    bounded time with a non-zero status (a message naming the rank when it raised) and the
    checkpoint rank 0 wrote at step 20 is intact and loadable."""
    p = run_worker(2, "fault", tmp_path, "--fault", fault, "--at", 25, "--fault-rank", rank,
                   check=False, timeout=30)
    assert p.returncode != 0, p.stdout
    assert "finished" not in p.stdout
    if fault == "raise":
        assert (f"rank {rank} of 2 failed with RuntimeError: injected failure on purpose"
                in p.stderr)
        assert "MPI_Abort" in p.stderr
    elif fault == "kill":
        assert "Killed" in p.stderr or "signal 9" in p.stderr or p.returncode in (9, 137, -9)
    ckpt = tmp_path / "checkpoint.npz"
    assert ckpt.exists() and not list(tmp_path.glob("*.tmp*"))
    spec = importlib.util.spec_from_file_location("mpi_worker", WORKER)
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    x, t = worker.data()
    net = MultiLayerNet(12, [16], 5)
    tr = Trainer(net, x[:100], t[:100], x[:20], t[:20], epochs=5, mini_batch_size=10,
                 optimizer="sgd",
                 optimizer_param={"lr": 0.1}, verbose=False, fused=False, resume_from=ckpt)
    assert tr.current_iter == 20 and len(tr.train_loss_list) == 20


@needs_mpi
def test_demo_distributed_matches_single_process(tmp_path):
    """`mpiexec -n 2 python -m dlcore demo --distributed` on a small float64 data set: the
    same printed accuracies as one process, printed once (rank 0 only), one PNG at most."""
    rng = np.random.default_rng(7)
    protos = rng.integers(0, 256, (10, 64))

    def make(n):
        t = rng.integers(0, 10, n).astype(np.uint8)
        x = np.clip(protos[t] + rng.normal(0, 30, (n, 64)), 0, 255).astype(np.uint8)
        return x, t

    (x, t), (xt, tt) = make(400), make(100)
    data = tmp_path / "d.npz"
    np.savez(data, x_train=x, t_train=t, x_test=xt, t_test=tt)
    args = ["-m", "dlcore", "demo", "--data", data, "--epochs", 2, "--batch-size", 20,
            "--dtype", "float64", "--quiet"]
    outs = []
    for n in (None, 2):
        cmd = [sys.executable, *map(str, args), "--output", str(tmp_path / f"p{n}.png")]
        if n is not None:
            cmd = [MPIEXEC, "-n", str(n)] + cmd + ["--distributed"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                           env=_clean_env())
        assert p.returncode == 0, p.stderr
        outs.append([line for line in p.stdout.splitlines() if "accuracy" in line])
    assert len(outs[1]) == 1, outs[1]     # printed by rank 0 only
    assert outs[0][0].split("(")[0] == outs[1][0].split("(")[0]
    assert not (tmp_path / "pNone.png").exists() or (tmp_path / "p2.png").exists()


@needs_mpi
def test_an_unhandled_exception_outside_the_trainer_aborts_every_rank():
    """Once a multi-process world is in use, an exception nothing catches on one rank aborts
    the job (dlcore's excepthook) instead of leaving the others in a collective forever."""
    p = run_worker(2, "unhandled", check=False, timeout=30)
    assert p.returncode != 0 and "finished" not in p.stdout
    assert "RuntimeError: unhandled on purpose" in p.stderr
    assert "rank 1 of 2: unhandled RuntimeError; aborting all ranks" in p.stderr
