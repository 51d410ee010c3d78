"""Data-parallel scaling on MPI: training steps per second on 1 and N processes, and the
communication cost per step.

    python benchmarks/bench_mpi.py [--np 1 2] [--reps 7] [--steps 8] [--dtype float32]

Workloads (the suite's): W4 MultiLayerNet 784-1024-1024-10, batch 256, Adam; W5
SimpleConvNet (conv 30 5x5, pool 2, affine 100, affine 10), batch 100, Adam. Each
process runs with one OpenMP thread (OMP_NUM_THREADS=1, dlcore.set_num_threads(1)).

For each process count the script launches itself under ``mpiexec -n N`` (N = 1 runs
as a plain process: that is the single-process baseline, without MPI). A worker builds the
Trainer (``distributed=True`` for N > 1) on random MNIST-shaped data, warms up, then times
``--reps`` blocks of ``--steps`` global steps (``Trainer.train_step``: draw the global
batch, compute on this rank's slice, average, update, post-update loss), each block between
two barriers; the median block gives steps/s. It also records the bytes averaged per step and
the time spent in the gradient averaging inside the training steps (this includes waiting for
the slower rank), and times the averaging alone (after a barrier, median of 20 calls per
rep) for both methods, "reduce_bcast" (bitwise identical on any number of ranks) and
"allreduce" (what the default "auto" takes on 2 ranks). It also times 1 process on B/N
samples per step (one rank's share of the compute, no communication): "ideal" is the
speed-up that share plus the averaging alone would give, without waiting for a slower rank. Results are verified first: the N-process losses of the first steps
must match the 1-process ones (rtol 1e-4 for float32, 1e-9 for float64).

Prints a table, the load average (``uptime``) before and after, and writes
benchmarks/results/mpi.json.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORKLOADS = {
    "W4": dict(net="mlp", sizes=[1024, 1024], batch=256),
    "W5": dict(net="convnet", batch=100),
}


def _uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _mpiexec():
    here = Path(sys.executable).parent / "mpiexec"
    if here.exists():
        return str(here)
    import shutil
    return shutil.which("mpiexec")


# ---------------------------------------------------------------------------- worker
def worker(args):
    import dlcore
    from dlcore import distributed as dist
    from dlcore.trainer import Trainer

    dlcore.set_num_threads(1)
    comm = dist.communicator()
    r, n = dist.rank(comm), dist.size(comm)
    w = WORKLOADS[args.workload]
    dt = np.dtype(args.dtype)
    rng = np.random.RandomState(0)
    np.random.seed(0)
    if w["net"] == "mlp":
        from dlcore.multi_layer_net import MultiLayerNet
        x = rng.rand(6000, 784).astype(dt)
        net = MultiLayerNet(784, w["sizes"], 10, dtype=dt)
    else:
        from dlcore.simple_convnet import SimpleConvNet
        x = rng.rand(6000, 1, 28, 28).astype(dt)
        net = SimpleConvNet(dtype=dt)
    t = rng.randint(0, 10, len(x))
    np.random.seed(1)
    batch = w["batch"] // args.share
    tr = Trainer(net, x, t, x[:100], t[:100], epochs=1000, mini_batch_size=batch,
                 optimizer="Adam", optimizer_param={"lr": 0.001}, verbose=False,
                 distributed=n > 1)
    tr.train_step()        # iteration 0 (evaluates: the epoch start), not timed
    check = [float(v) for v in tr.train_loss_list[:1]]
    for _ in range(2):     # warm-up
        tr.train_step()
    check += [float(v) for v in tr.train_loss_list[1:3]]

    def barrier():
        if comm is not None:
            comm.Barrier()

    avg = tr._averager
    blocks, comm_s = [], []
    for _ in range(args.reps):
        barrier()
        s0 = avg.seconds if avg is not None else 0.0
        t0 = time.perf_counter()
        for _ in range(args.steps):
            tr.train_step()
        barrier()
        blocks.append(time.perf_counter() - t0)
        comm_s.append(((avg.seconds if avg is not None else 0.0) - s0) / args.steps)
    out = {"workload": args.workload, "dtype": dt.name, "processes": n, "batch": batch,
           "method_in_steps": avg.method if avg is not None else None,
           "steps_per_s": args.steps / statistics.median(blocks),
           "block_s": blocks, "steps_per_block": args.steps, "losses_first_3": check,
           "params": int(sum(v.size for v in net.params.values())),
           "bytes_averaged_per_step": avg.nbytes if avg is not None else 0,
           "averaging_in_step_ms_median": 1e3 * statistics.median(comm_s)}
    if n > 1:
        # the averaging alone, each call after a barrier (no waiting for a slower rank)
        grads = {k: np.array(v) for k, v in tr._fused.grads.items()} if tr._fused is not None \
            else {k: np.zeros_like(v) for k, v in net.params.items()}
        for method in ("reduce_bcast", "allreduce"):
            a = dist.GradientAverager(comm, method=method)
            a(grads, 0.5)
            per = []
            for _ in range(args.reps):
                ts = []
                for _ in range(20):
                    comm.Barrier()
                    t0 = time.perf_counter()
                    a(grads, 0.5)
                    ts.append(time.perf_counter() - t0)
                per.append(statistics.median(ts))
            out[f"averaging_alone_ms_{method}"] = 1e3 * statistics.median(per)
            out[f"averaging_alone_ms_{method}_reps"] = [1e3 * v for v in per]
    if r == 0:
        print("RESULT " + json.dumps(out), flush=True)


# ---------------------------------------------------------------------------- launcher
def launch(args):
    mpiexec = _mpiexec()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    results = []
    load_before = _uptime()
    runs = [(wl, n, 1) for wl in args.workloads for n in args.np]
    # the compute of one rank's share alone: 1 process on batch B/N (no communication)
    runs += [(wl, 1, n) for wl in args.workloads for n in args.np if n > 1]
    for wl, n, share in runs:
        if True:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--workload", wl,
                   "--reps", str(args.reps), "--steps", str(args.steps), "--dtype", args.dtype,
                   "--share", str(share)]
            if n > 1:
                if mpiexec is None:
                    print(f"skip {wl} n={n}: no mpiexec (pip install \"dlcore[mpi]\")")
                    continue
                cmd = [mpiexec, "-n", str(n)] + cmd
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
            if p.returncode != 0:
                sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
            line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")][-1]
            res = json.loads(line[7:])
            res["uptime_after"] = _uptime()
            res["share_of"] = share
            results.append(res)
            print(f"{wl} n={n} batch {res['batch']}: {res['steps_per_s']:.2f} steps/s   "
                  f"({res['uptime_after']})", flush=True)
    load_after = _uptime()
    # verify: every N matches N=1 on the first steps' losses
    tol = 1e-4 if args.dtype == "float32" else 1e-9
    for wl in args.workloads:
        rs = [r for r in results if r["workload"] == wl and r["share_of"] == 1]
        base = [r for r in rs if r["processes"] == 1]
        for r in rs:
            if base:
                np.testing.assert_allclose(r["losses_first_3"], base[0]["losses_first_3"],
                                           rtol=tol, err_msg=f"{wl} n={r['processes']}")
    print()
    print(f"{'work':4} {'procs':>5} {'steps/s':>8} {'speed-up':>8} {'ideal':>6} {'MB/step':>8} "
          f"{'avg in step ms':>14} {'reduce+bcast ms':>15} {'allreduce ms':>12}")
    for wl in args.workloads:
        rs = [r for r in results if r["workload"] == wl and r["share_of"] == 1]
        base = next((r["steps_per_s"] for r in rs if r["processes"] == 1), None)
        for r in rs:
            sp = f"{r['steps_per_s'] / base:.2f}" if base else "-"
            # ideal: one rank's share of the compute (1 process on B/N) plus the averaging
            # alone, no waiting for a slower rank
            alone = next((q["steps_per_s"] for q in results if q["workload"] == wl
                          and q["share_of"] == r["processes"] and q["processes"] == 1), None)
            ideal = "-"
            if alone and base and r["processes"] > 1:
                comm_ms = r.get(f"averaging_alone_ms_{r['method_in_steps']}", 0.0)
                r["ideal_steps_per_s"] = 1.0 / (1.0 / alone + comm_ms / 1e3)
                ideal = f"{r['ideal_steps_per_s'] / base:.2f}"
            rb = r.get("averaging_alone_ms_reduce_bcast")
            ar = r.get("averaging_alone_ms_allreduce")
            print(f"{wl:4} {r['processes']:>5} {r['steps_per_s']:>8.2f} {sp:>8} {ideal:>6} "
                  f"{r['bytes_averaged_per_step'] / 1e6:>8.2f} "
                  f"{r['averaging_in_step_ms_median']:>14.2f} "
                  f"{'-' if rb is None else f'{rb:.2f}':>15} "
                  f"{'-' if ar is None else f'{ar:.2f}':>12}")
    print(f"\nload before: {load_before}\nload after:  {load_after}")
    from _harness import machine_info, write_json
    path = write_json("mpi", {"command": " ".join([os.path.basename(sys.executable)] + sys.argv),
                              "load_before": load_before, "load_after": load_after,
                              "machine": machine_info(), "results": results})
    print(f"wrote {path}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--np", type=int, nargs="+", default=[1, 2])
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    p.add_argument("--workload", choices=list(WORKLOADS))
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--share", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.reps < 7:
        p.error("--reps: at least 7 repetitions")
    sys.path.insert(0, str(HERE))
    if args.worker:
        worker(args)
    else:
        launch(args)


if __name__ == "__main__":
    main()
