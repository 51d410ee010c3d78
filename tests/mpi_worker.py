"""The program tests/test_distributed.py runs under ``mpiexec -n N`` (and as one process).

    python tests/mpi_worker.py train OUT_DIR [--fused auto|false] [--batch B] [--steps S]
    python tests/mpi_worker.py fault OUT_DIR --fault raise|exit|kill [--at STEP]
    python tests/mpi_worker.py desync OUT_DIR
    python tests/mpi_worker.py units

``train`` trains a float64 MultiLayerNet (no dropout, no batch norm) with the Trainer in
distributed mode for S steps and writes OUT_DIR/rank<R>.npz: the losses, the sample indices
each gradient call (forward pass) of this rank received, and the final parameters. Column 0
of every sample holds its index / 1024 (exact in binary), so the indices can be read back
from what the network saw.
"""
import argparse
import json
import os
import signal
import sys

import numpy as np

import dlcore
from dlcore import distributed as dist
from dlcore.engine import FusedTrainer
from dlcore.multi_layer_net import MultiLayerNet
from dlcore.multi_layer_net_extend import MultiLayerNetExtend
from dlcore.trainer import Trainer

N_TRAIN, D, CLASSES = 500, 12, 5


def data(seed=1):
    rng = np.random.default_rng(seed)
    x = rng.random((N_TRAIN, D))
    x[:, 0] = np.arange(N_TRAIN) / 1024.0
    t = (3 * x[:, 1] + 2 * x[:, 2] + x[:, 3]).astype(np.int64) % CLASSES
    return x, t


def ids_of(x):
    return np.rint(np.asarray(x, np.float64)[:, 0] * 1024).astype(np.int64)


def record_forwards(network, log):
    """Every training forward of ``network`` (per-layer ``gradient`` or the fused engine's)
    appends the sample indices it received to ``log``."""
    orig_gradient = network.gradient

    def gradient(x, t):
        log.append(ids_of(x))
        return orig_gradient(x, t)

    network.gradient = gradient
    orig_fused = FusedTrainer.gradient

    def fused_gradient(self, x, t):
        if self.network is network:
            log.append(ids_of(x))
        return orig_fused(self, x, t)

    FusedTrainer.gradient = fused_gradient


def train(args):
    x, t = data()
    np.random.seed(0)
    # rank 1 initialises differently: broadcast_params must make it rank 0's network
    if dist.rank() == 1:
        np.random.seed(99)
    if args.net == "mlp":
        net = MultiLayerNet(D, [16, 16], CLASSES)
    else:   # dropout or batch norm: not equivalent to one process, but in sync across ranks
        net = MultiLayerNetExtend(D, [16, 16], CLASSES, use_dropout=args.net == "dropout",
                                  dropout_ration=0.3, use_batchnorm=args.net == "bn")
    np.random.seed(0)   # the same seed everywhere (the trainer also broadcasts rank 0's state)
    log = []
    record_forwards(net, log)
    iters = N_TRAIN / args.batch
    tr = Trainer(net, x, t, x[:50], t[:50], epochs=args.steps / iters,
                 mini_batch_size=args.batch, optimizer=args.optimizer,
                 optimizer_param={"lr": 0.01}, verbose=False,
                 fused={"auto": "auto", "false": False}[args.fused],
                 distributed=True, distributed_debug=True)
    tr.train()
    fused = tr._fused is not None
    assert tr.max_iter == args.steps, tr.max_iter
    out = {f"param_{k}": v for k, v in net.params.items()}
    np.savez(os.path.join(args.out, f"rank{dist.rank()}.npz"),
             loss=np.array([float(v) for v in tr.train_loss_list]),
             test_acc=np.array([float(v) for v in tr.test_acc_list]),
             rng=np.random.get_state()[1], rank_rng=(tr._rank_rng_state[1] if
                                                     tr._rank_rng_state is not None else []),
             ids=np.array(log, dtype=object) if len({len(v) for v in log}) > 1 else np.array(log),
             fused=fused, size=dist.size(), aliased=all(
                 getattr(layer, a) is net.params[f"{a}{i}"]
                 for i, layer in ((int(n[6:]), l) for n, l in net.layers.items()
                                  if n.startswith("Affine"))
                 for a in ("W", "b")),
             **out)


def fault(args):
    x, t = data()
    np.random.seed(0)
    net = MultiLayerNet(D, [16], CLASSES)
    calls = [0]
    orig = net.gradient

    def gradient(xb, tb):
        calls[0] += 1
        if calls[0] == args.at and dist.rank() == args.fault_rank:
            if args.fault == "raise":
                raise RuntimeError("injected failure on purpose")
            if args.fault == "exit":
                os._exit(7)
            os.kill(os.getpid(), signal.SIGKILL)
        return orig(xb, tb)

    net.gradient = gradient
    tr = Trainer(net, x[:100], t[:100], x[:20], t[:20], epochs=5, mini_batch_size=10,
                 optimizer="sgd", optimizer_param={"lr": 0.1}, verbose=False, fused=False,
                 checkpoint_dir=args.out, checkpoint_every=1, distributed=True)
    tr.train()
    print(f"rank {dist.rank()} finished", flush=True)


def desync(args):
    """Rank 1 perturbs one weight after the first epoch: the debug check must stop all."""
    x, t = data()
    np.random.seed(0)
    net = MultiLayerNet(D, [16], CLASSES)

    def callback(trainer):
        if dist.rank() == 1 and trainer.current_epoch == 1:
            net.params["W1"][0, 0] += 1e-12

    tr = Trainer(net, x[:100], t[:100], x[:20], t[:20], epochs=3, mini_batch_size=10,
                 verbose=False, callback=callback, distributed=True, distributed_debug=True)
    try:
        tr.train()
    except dist.DistributedError as e:
        print(f"rank {dist.rank()} caught: {e}", flush=True)
        sys.exit(3)


def unhandled(args):
    """Rank 1 raises outside any handler while rank 0 waits in a collective."""
    comm = dist.communicator()
    if dist.rank() == 1:
        raise RuntimeError("unhandled on purpose")
    comm.allgather(1)
    print("rank 0 finished", flush=True)


def units(args):
    r, n = dist.rank(), dist.size()
    comm = dist.communicator()
    assert comm is not None and n == comm.Get_size() and r == comm.Get_rank()
    assert dist.is_root() == (r == 0)

    # sharder: disjoint, contiguous, covers the batch, sizes differ by at most one
    for b in (1, 2, 7, 10, 256):
        if b < n:
            continue
        batch = np.arange(100, 100 + b)
        mine = dist.shard(batch)
        every = comm.allgather(mine.tolist())
        assert sum(every, []) == batch.tolist(), (b, every)
        assert max(map(len, every)) - min(map(len, every)) <= 1

    # the averager against a numpy oracle, for both methods, float32 and float64
    def local(rank, dt):
        g = np.random.default_rng(1000 + rank)
        return {"W1": g.standard_normal((7, 5)).astype(dt), "b1": g.standard_normal(5).astype(dt),
                "W2": g.standard_normal((5, 3)).astype(dt)}

    for method in dist.GradientAverager.METHODS:
        for dt in (np.float64, np.float32):
            avg = dist.GradientAverager(method=method)
            counts = [3 + k for k in range(n)]          # uneven local batches
            total = sum(counts)
            for step in range(2):
                grads = local(r, dt)
                ids = {k: id(v) for k, v in grads.items()}
                avg(grads, counts[r] / total)
                bufs = {dtk: id(b) for dtk, b in avg._buffers.items()}
                if step == 0:
                    first_bufs = bufs
                assert bufs == first_bufs, "the buffer is reallocated between steps"
                assert {k: id(v) for k, v in grads.items()} == ids, "not in place"
                for k, v in grads.items():
                    assert v.dtype == dt, (k, v.dtype)
                    # oracle: each rank's gradient times its weight (in its dtype), summed in
                    # rank order in float64 (2 ranks: one addition, exact order irrelevant)
                    parts = [(local(q, dt)[k] * dt(counts[q] / total)).astype(np.float64)
                             for q in range(n)]
                    want = np.sum(parts, axis=0)
                    tol = 1e-12 if dt == np.float64 else 1e-6
                    np.testing.assert_allclose(v, want.astype(dt), rtol=tol, atol=tol)
                assert avg.nbytes == sum(a.nbytes for a in grads.values())
                assert avg.calls == step + 1
            digests = comm.allgather(b"".join(v.tobytes() for _, v in sorted(grads.items())))
            assert all(d == digests[0] for d in digests), f"{method}: ranks differ"

    # broadcast_params: rank-dependent networks become rank 0's, aliasing kept, BN stats too
    np.random.seed(10 + r)
    net = MultiLayerNetExtend(6, [4], 3, use_batchnorm=True)
    xb = np.random.rand(5, 6)
    net.predict(xb, train_flg=True)   # creates running statistics (rank-dependent)
    w0 = comm.bcast(net.params["W1"].copy() if r == 0 else None)
    dist.broadcast_params(net)
    assert np.array_equal(net.params["W1"], w0)
    assert net.layers["Affine1"].W is net.params["W1"]
    assert net.layers["BatchNorm1"].gamma is net.params["gamma1"]
    dig = comm.allgather(dist.params_digest(net))
    assert all(d == dig[0] for d in dig), dig
    dist.check_in_sync(net, rng=False)
    print(f"rank {r} units ok", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=("train", "fault", "desync", "units", "unhandled"))
    p.add_argument("out", nargs="?")
    p.add_argument("--fused", default="auto")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--net", choices=("mlp", "dropout", "bn"), default="mlp")
    p.add_argument("--fault", default="raise")
    p.add_argument("--at", type=int, default=25)
    p.add_argument("--fault-rank", type=int, default=1)
    args = p.parse_args()
    dlcore.set_num_threads(1)
    {"train": train, "fault": fault, "desync": desync, "units": units,
     "unhandled": unhandled}[args.mode](args)


if __name__ == "__main__":
    main()
