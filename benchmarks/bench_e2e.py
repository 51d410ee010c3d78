"""E2E benchmark (issue 6): the ``backprop-mnist`` and ``dropout-overfit`` experiments end to end,
``python -m dlcore experiment NAME`` against the book's code for the same experiment in numpy.

    python -m benchmarks.bench_e2e [--full] [--reps 3] [--threads 1] [--experiments A,B]

Both sides run as separate processes with the same settings and seed (numpy's global legacy
RNG, seeded before the network is built, so both draw the same initial weights, batches and
dropout masks), interleaved rep by rep; the wall time of the whole command (start-up, data
loading, training, evaluations) is measured from outside, with the CPU time of the process
(user + system, all threads: on a shared machine the fairer number at 1 thread), and each side
also reports its own training time (wall, inside the process). The final accuracies of the two sides are compared (they compute the same
thing, so they agree to rounding; a mismatch is reported).

The numpy side (``--run-numpy NAME``, this module) is written from the behaviour of the book's
scripts in spec/book-api.md, built on benchmarks/numpy_ref.py:
  backprop-mnist  ch05/train_neuralnet.py: TwoLayerNet 784-50-10 (weights 0.01 randn), one-hot
                  labels as the book loads them, batches of 100 drawn with replacement, manual
                  SGD lr 0.1, the loss of every batch after the update, train and test
                  accuracy on the full sets every 600 iterations.
  dropout-overfit ch06/overfit_dropout.py: the first 300 training images, MultiLayerNetExtend
                  784-[100]x6-10 (He init, weight decay 0 still summed in the loss as the
                  book does) through the book's Trainer (SGD lr 0.01, batch 100, 3 iterations
                  per epoch, the loss after each update, train accuracy on the 300 images and
                  test accuracy on all 10000 test images every epoch, and a final test
                  accuracy), without and with dropout 0.2.

Default (shortened) settings, so that a rep takes about 40 s: backprop-mnist 5000
iterations (the book: 10000) and dropout-overfit 31 epochs (the book: 301); both are
dominated by the same per-iteration and per-epoch work as the full runs. --full uses the
book's settings. Output: benchmarks/results/e2e.json and e2e.md (plus stdout).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHORT = {"backprop-mnist": {"iters": 5000}, "dropout-overfit": {"epochs": 31}}
FULL = {"backprop-mnist": {"iters": 10000}, "dropout-overfit": {"epochs": 301}}


# ---------------------------------------------------------------------------- numpy side
def _load():
    from dlcore.mnist import load_mnist
    (xtr, ttr), (xte, tte) = load_mnist(normalize=True, flatten=True)
    return xtr, ttr, xte, tte


def _accuracy(net, x, t, train_flg=None):
    y = net.predict(x) if train_flg is None else net.predict(x, train_flg)
    y = np.argmax(y, axis=1)
    if t.ndim != 1:
        t = np.argmax(t, axis=1)
    return float(np.sum(y == t) / float(x.shape[0]))


class _OneHotLoss:
    """SoftmaxWithLoss for one-hot labels (the book's cross entropy of a one-hot t)."""

    def __init__(self):
        self.y = self.t = self.loss = None

    def forward(self, x, t):
        from benchmarks.numpy_ref import softmax
        self.t = t
        self.y = softmax(x)
        n = self.y.shape[0]
        self.loss = -np.sum(t * np.log(self.y + 1e-7)) / n
        return self.loss

    def backward(self, dout=1):
        return (self.y - self.t) / self.t.shape[0]


def numpy_backprop_mnist(iters, seed):
    from benchmarks import numpy_ref as R
    xtr, ttr, xte, tte = _load()
    xtr, xte = xtr.astype(np.float32), xte.astype(np.float32)
    eye = np.eye(10)
    ttr, tte = eye[ttr], eye[tte]  # the book loads one-hot labels for this script
    np.random.seed(seed)
    params = {"W1": 0.01 * np.random.randn(784, 50), "b1": np.zeros(50),
              "W2": 0.01 * np.random.randn(50, 10), "b2": np.zeros(10)}
    net = R.mlp(params, 1, np.float64)
    net.last_layer = _OneHotLoss()
    p = net.params
    train_size, batch, lr = xtr.shape[0], 100, 0.1
    iter_per_epoch = max(train_size / batch, 1)
    t0 = time.perf_counter()
    losses, evals = [], []
    for i in range(iters):
        mask = np.random.choice(train_size, batch)
        xb, tb = xtr[mask], ttr[mask]
        grad = net.gradient(xb, tb)
        for key in ("W1", "b1", "W2", "b2"):
            p[key] -= lr * grad[key]
        losses.append(net.loss(xb, tb))
        if i % iter_per_epoch == 0:
            evals.append((_accuracy(net, xtr, ttr), _accuracy(net, xte, tte)))
    final = (_accuracy(net, xtr, ttr), _accuracy(net, xte, tte))
    return {"train_time_s": time.perf_counter() - t0, "final_train_acc": final[0],
            "final_test_acc": final[1], "evaluations": evals}


def numpy_dropout_overfit(epochs, seed):
    from benchmarks import numpy_ref as R
    xtr, ttr, xte, tte = _load()
    xtr, ttr = xtr[:300], ttr[:300]
    sizes = [784] + [100] * 6 + [10]
    runs = {}
    t0 = time.perf_counter()
    for use_dropout in (False, True):
        np.random.seed(seed)
        params = {}
        for i in range(1, len(sizes)):  # MultiLayerNetExtend's 'relu' (He) init
            params[f"W{i}"] = np.sqrt(2.0 / sizes[i - 1]) * np.random.randn(sizes[i - 1], sizes[i])
            params[f"b{i}"] = np.zeros(sizes[i])
        net = R.mlp(params, 6, np.float64, dropout=0.2 if use_dropout else None)
        p, wd = net.params, 0.0
        n_w = len(sizes) - 1

        def loss(x, t, train_flg=False):
            decay = 0
            for i in range(1, n_w + 1):  # the book sums the decay term even at lambda 0
                decay += 0.5 * wd * np.sum(p[f"W{i}"] ** 2)
            return net.last_layer.forward(net.predict(x, train_flg), t) + decay

        def gradient(x, t):
            loss(x, t, train_flg=True)
            dout = net.last_layer.backward(1)
            for layer in reversed(list(net.layers.values())):
                dout = layer.backward(dout)
            g = {}
            for i in range(1, n_w + 1):
                a = net.layers[f"Affine{i}"]
                g[f"W{i}"] = a.dW + wd * p[f"W{i}"]
                g[f"b{i}"] = a.db
            return g

        opt = R.SGD(lr=0.01)
        train_size, batch = xtr.shape[0], 100
        iter_per_epoch = max(train_size / batch, 1)
        max_iter = int(epochs * iter_per_epoch)
        tr_acc, te_acc, losses = [], [], []
        for it in range(max_iter):
            mask = np.random.choice(train_size, batch)
            xb, tb = xtr[mask], ttr[mask]
            opt.update(p, gradient(xb, tb))
            losses.append(loss(xb, tb))
            if it % iter_per_epoch == 0:
                tr_acc.append(_accuracy(net, xtr, ttr, False))
                te_acc.append(_accuracy(net, xte, tte, False))
        final_test = _accuracy(net, xte, tte, False)
        runs["dropout" if use_dropout else "plain"] = {
            "final_train_acc": tr_acc[-1], "final_test_acc": te_acc[-1],
            "final_test_acc_trainer": final_test}
    return {"train_time_s": time.perf_counter() - t0, "runs": runs}


# ---------------------------------------------------------------------------- runner
def _dlcore_cmd(name, settings, threads, seed, out):
    cmd = [sys.executable, "-m", "dlcore", "experiment", name, "--threads", str(threads),
           "--seed", str(seed), "--quiet", "--output", out]
    for k, v in settings.items():
        cmd += [f"--{k}", str(v)]
    return cmd


def _numpy_cmd(name, settings, threads, seed):
    return [sys.executable, "-m", "benchmarks.bench_e2e", "--run-numpy", name, "--threads",
            str(threads), "--seed", str(seed)] + sum(
        ([f"--{k}", str(v)] for k, v in settings.items()), [])


def _loadavg():
    try:
        return [float(a) for a in open("/proc/loadavg").read().split()[:3]]
    except (OSError, ValueError):
        return None


def _timed(cmd, env):
    """(wall s, CPU s of the child: user + system, all its threads, stdout)."""
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(HERE.parent))
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, r.stdout


def _dlcore_summary(name, out):
    d = json.loads((Path(out) / f"{name}.json").read_text())
    if name == "backprop-mnist":
        return {"train_time_s": d["train_time_s"], "final_train_acc": d["final_train_acc"],
                "final_test_acc": d["final_test_acc"]}
    runs = list(d["runs"].values())
    return {"train_time_s": sum(r["time_s"] for r in runs),
            "runs": {("dropout" if r["use_dropout"] else "plain"):
                     {"final_train_acc": r["final_train_acc"],
                      "final_test_acc": r["final_test_acc"]} for r in runs}}


def _same_result(name, a, b):
    """The two sides' final accuracies agree (to one image in 10000, for rounding)."""
    if name == "backprop-mnist":
        pairs = [(a["final_test_acc"], b["final_test_acc"]),
                 (a["final_train_acc"], b["final_train_acc"])]
    else:
        pairs = [(a["runs"][k][m], b["runs"][k][m]) for k in ("plain", "dropout")
                 for m in ("final_train_acc", "final_test_acc")]
    return all(abs(x - y) <= 2e-4 for x, y in pairs), pairs


def run(experiments=("backprop-mnist", "dropout-overfit"), full=False, reps=3, threads=(1,),
        seed=0, log=print):
    """Rows {experiment, settings, threads, dlcore/numpy wall and train times, ratios}."""
    rows = []
    env = dict(os.environ)
    for name in experiments:
        settings = (FULL if full else SHORT)[name]
        for th in threads:
            e = dict(env, OMP_NUM_THREADS=str(th))
            walls = {"dlcore": [], "numpy": []}
            cpus = {"dlcore": [], "numpy": []}
            trains = {"dlcore": [], "numpy": []}
            loads = []
            check = None
            for rep in range(reps):
                with tempfile.TemporaryDirectory() as out:
                    loads.append(_loadavg())
                    w, c, _ = _timed(_dlcore_cmd(name, settings, th, seed, out), e)
                    d = _dlcore_summary(name, out)
                walls["dlcore"].append(w)
                cpus["dlcore"].append(c)
                trains["dlcore"].append(d["train_time_s"])
                w, c, so = _timed(_numpy_cmd(name, settings, th, seed), e)
                n = json.loads(so.strip().splitlines()[-1])
                walls["numpy"].append(w)
                cpus["numpy"].append(c)
                trains["numpy"].append(n["train_time_s"])
                if check is None:
                    check = _same_result(name, d, n)
                log(f"{name} thr={th} rep {rep}: dlcore {walls['dlcore'][-1]:.2f} s "
                    f"(cpu {cpus['dlcore'][-1]:.2f}, train {trains['dlcore'][-1]:.2f}), numpy "
                    f"{walls['numpy'][-1]:.2f} s (cpu {cpus['numpy'][-1]:.2f}, train "
                    f"{trains['numpy'][-1]:.2f}); load {loads[-1]}")
            med = {k: statistics.median(v) for k, v in walls.items()}
            medc = {k: statistics.median(v) for k, v in cpus.items()}
            medt = {k: statistics.median(v) for k, v in trains.items()}
            rows.append({"experiment": name, "settings": settings, "full": full, "threads": th,
                         "reps": reps, "wall_s": walls, "cpu_s": cpus, "train_s": trains,
                         "median_wall_s": med, "median_cpu_s": medc, "median_train_s": medt,
                         "ratio_wall": med["numpy"] / med["dlcore"],
                         "ratio_cpu": medc["numpy"] / medc["dlcore"],
                         "ratio_train": medt["numpy"] / medt["dlcore"],
                         "results_agree": check[0], "final_acc_pairs": check[1],
                         "loadavg": loads})
    return rows


def table(rows):
    head = ("| experiment | settings | thr | dlcore s (wall) | numpy s (wall) | ratio (wall) | "
            "dlcore s (CPU) | numpy s (CPU) | ratio (CPU) | "
            "dlcore s (train) | numpy s (train) | ratio (train) | same accuracies | load |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        s = ", ".join(f"{k} {v}" for k, v in r["settings"].items())
        loads = [a[0] for a in r["loadavg"] if a]
        load = f"{min(loads):.1f}-{max(loads):.1f}" if loads else "?"
        lines.append(
            f"| {r['experiment']} | {s}{'' if r['full'] else ' (shortened)'} | {r['threads']} | "
            f"{r['median_wall_s']['dlcore']:.2f} | {r['median_wall_s']['numpy']:.2f} | "
            f"{r['ratio_wall']:.2f}x | {r['median_cpu_s']['dlcore']:.2f} | "
            f"{r['median_cpu_s']['numpy']:.2f} | {r['ratio_cpu']:.2f}x | "
            f"{r['median_train_s']['dlcore']:.2f} | "
            f"{r['median_train_s']['numpy']:.2f} | {r['ratio_train']:.2f}x | "
            f"{'yes' if r['results_agree'] else 'NO'} | {load} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", default="backprop-mnist,dropout-overfit")
    ap.add_argument("--full", action="store_true", help="the book's settings (slow)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="e2e")
    ap.add_argument("--run-numpy", metavar="NAME", help=argparse.SUPPRESS)
    ap.add_argument("--iters", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.run_numpy:  # child: the numpy side of one experiment, JSON on the last line
        from threadpoolctl import threadpool_limits
        with threadpool_limits(int(args.threads), user_api="blas"):
            if args.run_numpy == "backprop-mnist":
                res = numpy_backprop_mnist(args.iters, args.seed)
            else:
                res = numpy_dropout_overfit(args.epochs, args.seed)
        print(json.dumps(res))
        return
    from benchmarks._harness import machine_info, write_json
    rows = run(args.experiments.split(","), args.full, args.reps,
               [int(t) for t in args.threads.split(",")], args.seed)
    md = table(rows)
    cmd = "python -m benchmarks.bench_e2e " + " ".join(argv or sys.argv[1:])
    path = write_json(args.out, {"command": cmd, "rows": rows, "machine": machine_info()})
    (HERE / "results" / f"{args.out}.md").write_text(md + "\n")
    print(md)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
