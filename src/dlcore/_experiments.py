"""``python -m dlcore experiment NAME``: the book's experiments and the dropout tutorial's.

Each experiment prints its progress and results with wall times, and writes ``NAME.png``
(when matplotlib is installed) and ``NAME.json`` (settings, numbers, times) into ``--output``.
The defaults are the book's settings (float64, the book's sizes, step counts and learning
rates); ``--seed`` seeds numpy's global legacy RNG, which the networks, the Trainer and
dropout draw from as the book's code does. Smaller settings (``--iters``, ``--epochs``, ...)
make quick runs; the acceptance lines then say whether the reduced run reached the bound.

- ``gradient-check`` (``ch05/gradient_check.py``): TwoLayerNet 784-50-10 on the first 3
  training images with one-hot labels; the mean absolute difference per parameter between
  backprop and the book's central difference (h = 1e-4), and a 4-point central difference.
- ``backprop-mnist`` (``ch05/train_neuralnet.py``): TwoLayerNet 784-50-10, 10000 iterations
  of batch 100 drawn with replacement, manual SGD with lr 0.1, train and test accuracy every
  600 iterations.
- ``dropout-overfit`` (``ch06/overfit_dropout.py``): the first 300 training images,
  MultiLayerNetExtend 784-[100]x6-10 through the Trainer, 301 epochs of batch 100, SGD lr 0.01,
  without and with dropout 0.2 (the book's non-inverted dropout).
- ``fashion-dropout`` (the dropout chapter of *Dive into Deep Learning*, "from scratch"):
  Fashion-MNIST, MLP 784-256-256-10 with ReLU and inverted dropout 0.2 / 0.5 after the two
  hidden layers, weights from N(0, 0.01^2), SGD lr 0.5 on the batch-mean loss, batch 256, 5
  epochs over reshuffled data.
- ``optimizer-compare`` (``ch06/optimizer_compare_mnist.py``): MultiLayerNet 784-[100]x4-10
  trained by SGD, Momentum, AdaGrad and Adam at their defaults on the same batches of 128 for
  2000 iterations.
"""
import os

import numpy as np

from . import _cli, _plots

# Steps of the central differences. H_BOOK is the book's. H_4POINT was chosen by measurement
# on the real data (README, "gradient-check"): the 4-point formula's truncation error (h^4)
# is negligible from h = 1e-3 down, its rounding error grows like 1e-16 * loss / h (about
# 1e-11 at h = 1e-5), and above about 1e-4 a perturbation of W1 or b1 can push a hidden
# pre-activation across the ReLU kink, which costs 1e-8 to 1e-5. 3e-5 keeps every term near
# 5e-12; the experiment also lowers h when a pre-activation lies closer to the kink than
# the perturbation reaches.
H_BOOK = 1e-4
H_4POINT = 3e-5


def _finish(args, name, say, results, plot_fn, clock):
    """Write NAME.json and (when matplotlib is there) NAME.png; print where they went."""
    out = _cli.output_dir(args.output or ".")
    png = os.path.join(out, name + ".png")
    plot_path = None
    plot_clock = _cli.Clock()
    if _plots.have_matplotlib():
        plot_path = plot_fn(png)
    plot_time = plot_clock()
    results["wall_time_s"] = clock()
    results["plot_time_s"] = plot_time
    results["plot"] = plot_path
    path = _cli.write_json(os.path.join(out, name + ".json"), results)
    say.result(f"wall time: {results['wall_time_s']:.1f} s")
    if plot_path:
        say.result(f"plot: {plot_path}")
    else:
        say.result(f"plot: not written: matplotlib is not installed; install it with: "
                   f"{_cli.PLOT_HINT}")
    say.result(f"results: {path}")
    return 0


def _settings(args, **extra):
    keys = [k for k in vars(args) if k not in ("func", "command", "experiment", "quiet")]
    d = {k: getattr(args, k) for k in keys}
    d.update(extra)
    return d


def _start(args, name, data="mnist", what="MNIST"):
    """What every experiment starts with: the printer, the wall clock, the thread set-up, the
    dtype (None without --dtype), the data with its header line, and the number of classes."""
    say, clock = _cli.Printer(args.quiet), _cli.Clock()
    threads = _cli.setup(args)
    dtype = _cli.dtype_of(args.dtype) if hasattr(args, "dtype") else None
    (x_train, t_train), (x_test, t_test) = _cli.load_data(args, data)
    src = "data from --data" if getattr(args, "data", None) else what
    say(f"dlcore experiment {name}: {src}, {len(x_train)} training / {len(x_test)} test images "
        f"(loaded in {clock():.1f} s), {threads}")
    return say, clock, threads, dtype, (x_train, t_train), (x_test, t_test), \
        _cli.num_classes(t_train, t_test)


def _yes(ok):
    return "yes" if ok else "NO"


# -------------------------------------------------------------------------- gradient-check

class ExactCrossEntropy:
    """A network whose ``loss`` is the exact softmax cross-entropy of its scores.

    The book's ``SoftmaxWithLoss`` adds 1e-7 inside the log, but its backward pass returns
    ``(y - t) / N``, the gradient of the exact cross-entropy: the two differ by
    ``(y - t) * 1e-7 / (y_t + 1e-7) / N``, about 1e-7 on b2 for an untrained network (y_t
    near 0.1), whatever the finite-difference step. To measure the finite-difference error
    alone, the 4-point check differentiates ``mean(logsumexp(z) - z_t)`` of the scores
    ``z = net.predict(x)`` (float64); ``params`` and ``gradient`` are the network's.
    """

    def __init__(self, net):
        self.net = net
        self.params = net.params

    def gradient(self, x, t):
        return self.net.gradient(x, t)

    def loss(self, x, t):
        z = np.asarray(self.net.predict(x), dtype=np.float64)
        m = z.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
        zt = np.sum(t * z, axis=1) if t.ndim == 2 else z[np.arange(len(z)), t]
        return float(np.mean(lse - zt))


def _kink_safe_step(net, x, h):
    """The largest step <= h with which no 4-point perturbation (up to 2h, times |x| for
    W1) moves a hidden pre-activation of TwoLayerNet across the ReLU kink at 0; also the
    nearest pre-activation's distance from the kink."""
    a = np.asarray(x, np.float64) @ net.params["W1"] + net.params["b1"]
    nearest = float(np.min(np.abs(a)))
    reach = 2 * max(1.0, float(np.max(np.abs(x))))
    return min(h, nearest / (2 * reach)), nearest


def gradient_check(args):
    from .gradient import gradient_check as check
    from .two_layer_net import TwoLayerNet

    say, clock, threads, _, (x_train, t_train), (x_test, t_test), n_classes = \
        _start(args, "gradient-check")
    x = x_train[:args.samples]
    t = _cli.one_hot(t_train[:args.samples], n_classes)
    np.random.seed(args.seed)
    net = TwoLayerNet(x.shape[1], args.hidden_size, n_classes)
    say(f"TwoLayerNet {x.shape[1]}-{args.hidden_size}-{n_classes} (float64), first "
        f"{len(x)} training images, one-hot labels")
    h4, nearest = _kink_safe_step(net, x, args.h4)
    if h4 < args.h4:
        say(f"note: a hidden pre-activation lies {nearest:.2e} from the ReLU kink; the "
            f"4-point step is lowered from {args.h4:g} to {h4:.3g} so that no perturbation "
            f"crosses it")

    # (label, loss, points, step, acceptance bound)
    plan = (("book", "book", net, 2, args.h, 1e-6),
            ("4-point (book loss)", "book", net, 4, h4, None),
            ("4-point", "exact", ExactCrossEntropy(net), 4, h4, 1e-9))
    methods = {}
    for label, loss_name, target, points, h, bound in plan:
        c = _cli.Clock()
        diffs = check(target, x, t, points=points, h=h)
        methods[label] = {"points": points, "h": h, "loss": loss_name, "bound": bound,
                          "time_s": c(),
                          "mean_abs_diff": {k: v[0] for k, v in diffs.items()},
                          "max_abs_diff": {k: v[1] for k, v in diffs.items()}}
    keys = list(net.params)
    cols = list(methods)
    say.result("mean |backprop - numerical| per parameter ('exact': of the exact "
               "cross-entropy;\n  the book's loss adds 1e-7 inside the log, which its backprop "
               "ignores):")
    heads = {"book": f"book: 2-point h={args.h:g}",
             "4-point (book loss)": f"4-point h={h4:.3g}, book loss",
             "4-point": f"4-point h={h4:.3g}, exact"}
    say.result(f"  {'':<4}" + "".join(f"{heads[c]:>28}" for c in cols))
    for k in keys:
        say.result(f"  {k + ':':<4}" + "".join(
            f"{methods[c]['mean_abs_diff'][k]:>28.3e}" for c in cols))
    say.result(f"  {'max':<4}" + "".join(
        f"{max(methods[c]['max_abs_diff'].values()):>28.3e}" for c in cols))
    ok = {}
    for label, m in methods.items():
        if m["bound"] is None:
            continue
        ok[label] = all(v < m["bound"] for v in m["mean_abs_diff"].values())
        say.result(f"all below {m['bound']:g} ({heads[label]}): {_yes(ok[label])}  "
                   f"({m['time_s']:.1f} s)")

    results = {"experiment": "gradient-check", "settings": _settings(args, threads=threads),
               "h4_used": h4, "nearest_preactivation": nearest, "methods": methods,
               "accepted": ok}

    def plot(path):
        return _plots.gradient_check(
            path, keys,
            {heads[c]: ([methods[c]["mean_abs_diff"][k] for k in keys], methods[c]["bound"])
             for c in cols},
            f"Gradient check: TwoLayerNet {x.shape[1]}-{args.hidden_size}-{n_classes}, "
            f"{len(x)} images")
    return _finish(args, "gradient-check", say, results, plot, clock)


# -------------------------------------------------------------------------- backprop-mnist

def backprop_mnist(args):
    from .engine import FusedTrainer
    from .optimizer import SGD
    from .trainer import _one_blas_thread
    from .two_layer_net import TwoLayerNet

    say, clock, threads, dtype, (x_train, t_train), (x_test, t_test), n_classes = \
        _start(args, "backprop-mnist")
    np.random.seed(args.seed)
    net = TwoLayerNet(x_train.shape[1], args.hidden_size, n_classes, dtype=dtype)
    train_size, batch, lr = len(x_train), args.batch_size, args.lr
    iter_per_epoch = max(train_size / batch, 1)
    say(f"TwoLayerNet {x_train.shape[1]}-{args.hidden_size}-{n_classes} ({dtype.name}), "
        f"{args.iters} iterations of batch {batch}, SGD lr {lr:g}, an evaluation every "
        f"{iter_per_epoch:g} iterations")

    # The book's loop (net.gradient, params -= lr * grad, net.loss after the update,
    # net.accuracy) on the fused engine: a FusedTrainer step with SGD is that gradient and
    # update with the same bits, its loss the same forward, its accuracy the network's.
    ft = FusedTrainer(net, SGD(lr=lr))

    def accuracy(x, t):
        return float(ft.accuracy(x, t))

    losses, evals = [], []
    train_clock = _cli.Clock()
    with _one_blas_thread():
        for i in range(args.iters):
            mask = np.random.choice(train_size, batch)
            xb, tb = x_train[mask], t_train[mask]
            ft.step(xb, tb)
            losses.append(float(ft.loss(xb, tb)))
            if i % iter_per_epoch == 0:
                tr = accuracy(x_train, t_train)
                te = accuracy(x_test, t_test)
                evals.append((i, tr, te))
                say(f"iteration {i:>5}  epoch {len(evals) - 1:>2}  train acc {tr:.4f}  "
                    f"test acc {te:.4f}  ({train_clock():.1f} s)")
        final_train = accuracy(x_train, t_train)
        final_test = accuracy(x_test, t_test)
    train_time = train_clock()
    ok = final_test >= 0.965
    say.result(f"after {args.iters} iterations: train acc {final_train:.4f}, test acc "
               f"{final_test:.4f} (training {train_time:.1f} s)")
    say.result(f"test accuracy >= 0.965: {_yes(ok)}")

    results = {"experiment": "backprop-mnist", "settings": _settings(args, threads=threads),
               "evaluations": [{"iteration": i, "train_acc": a, "test_acc": b}
                               for i, a, b in evals],
               "final_train_acc": final_train, "final_test_acc": final_test,
               "train_time_s": train_time, "accepted": ok,
               "loss_first": losses[:1], "loss_last": losses[-1:]}

    def plot(path):
        its = [e[0] for e in evals] + [args.iters]
        tr = [e[1] for e in evals] + [final_train]
        te = [e[2] for e in evals] + [final_test]
        ep = [i / iter_per_epoch for i in its]
        return _plots.curves(
            path, [("train", ep, tr, {"marker": "o"}),
                   ("test", ep, te, {"marker": "s", "linestyle": "--"})],
            f"Backprop on MNIST: TwoLayerNet {x_train.shape[1]}-{args.hidden_size}-"
            f"{n_classes}, SGD lr {lr:g} - test {final_test:.4f}",
            f"epoch ({iter_per_epoch:g} iterations)", "accuracy", ylim=(0, 1.0),
            legend_loc="lower right")
    return _finish(args, "backprop-mnist", say, results, plot, clock)


# -------------------------------------------------------------------------- dropout-overfit

def dropout_overfit(args):
    from .multi_layer_net_extend import MultiLayerNetExtend
    from .trainer import Trainer

    say, clock, threads, dtype, (x_train, t_train), (x_test, t_test), n_classes = \
        _start(args, "dropout-overfit")
    x_train, t_train = x_train[:args.train_size], t_train[:args.train_size]
    hidden = [100] * 6
    say(f"MultiLayerNetExtend {x_train.shape[1]}-[100]x6-{n_classes} ({dtype.name}) on the "
        f"first {len(x_train)} training images, {args.epochs} epochs of batch "
        f"{args.batch_size}, SGD lr {args.lr:g}")

    runs = {}
    for label, use_dropout in (("without dropout", False),
                               (f"dropout {args.dropout:g}", True)):
        np.random.seed(args.seed)   # the same initial weights for both runs
        net = MultiLayerNetExtend(x_train.shape[1], hidden, n_classes,
                                  use_dropout=use_dropout, dropout_ration=args.dropout,
                                  dtype=dtype)
        c = _cli.Clock()
        step = max(1, args.epochs // 12)

        def on_epoch(tr, label=label, c=c, step=step):
            e = tr.current_epoch - 1
            if e % step == 0 or tr.current_epoch == args.epochs:
                say(f"  {label}: epoch {e:>3}  train acc {tr.train_acc_list[-1]:.4f}  "
                    f"test acc {tr.test_acc_list[-1]:.4f}  ({c():.1f} s)")

        trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=args.epochs,
                          mini_batch_size=args.batch_size, optimizer="sgd",
                          optimizer_param={"lr": args.lr}, verbose=False,
                          callback=on_epoch)
        trainer.train()
        tr_acc = [float(a) for a in trainer.train_acc_list]
        te_acc = [float(a) for a in trainer.test_acc_list]
        last = min(10, len(tr_acc))
        runs[label] = {"use_dropout": use_dropout, "time_s": c(),
                       "train_acc": tr_acc, "test_acc": te_acc,
                       "final_train_acc": tr_acc[-1], "final_test_acc": te_acc[-1],
                       "gap": tr_acc[-1] - te_acc[-1],
                       "gap_last10_mean": float(np.mean(np.subtract(tr_acc, te_acc)[-last:]))}
    (l0, r0), (l1, r1) = runs.items()
    ok = r1["gap"] < r0["gap"]
    say.result("final epoch (train acc on the training images, test acc on the test set):")
    for label, r in runs.items():
        say.result(f"  {label + ':':<17} train {r['final_train_acc']:.4f}  test "
                   f"{r['final_test_acc']:.4f}  gap {r['gap']:.4f}  (mean gap over the "
                   f"last 10 epochs {r['gap_last10_mean']:.4f}; {r['time_s']:.1f} s)")
    say.result(f"smaller train-test gap with dropout: {_yes(ok)}")

    results = {"experiment": "dropout-overfit", "settings": _settings(args, threads=threads),
               "runs": runs, "accepted": ok}

    def plot(path):
        panel_list = []
        for label, r in runs.items():
            ep = list(range(len(r["train_acc"])))
            panel_list.append((f"{label} (gap {r['gap']:.3f})",
                               [("train", ep, r["train_acc"], {}),
                                ("test", ep, r["test_acc"], {"linestyle": "--"})]))
        return _plots.panels(
            path, panel_list,
            f"Overfitting {len(x_train)} images: MultiLayerNetExtend "
            f"{x_train.shape[1]}-[100]x6-{n_classes}, SGD lr {args.lr:g}",
            "epoch", "accuracy", ylim=(0, 1.02))
    return _finish(args, "dropout-overfit", say, results, plot, clock)


# -------------------------------------------------------------------------- fashion-dropout

# Test accuracy after epochs 1-5 of the published run (the dropout chapter of Dive into
# Deep Learning, from scratch, same settings).
FASHION_REFERENCE = (0.785, 0.810, 0.854, 0.858, 0.864)


class DropoutMLP:
    """784-256-256-10 MLP: Affine-ReLU-Dropout-Affine-ReLU-Dropout-Affine, softmax loss.

    Inverted dropout (``Dropout(ratio, inverted=True)``) in training only; weights drawn as
    ``std * np.random.randn`` in the order W1, W2, W3, biases zero. ``params``/``gradient``
    follow the book's networks, so the book's optimizers update it.
    """

    def __init__(self, sizes, drop, std=0.01, dtype=np.float64):
        from collections import OrderedDict

        from .layers import Affine, Dropout, Relu, SoftmaxWithLoss
        self.params = {}
        for i in range(len(sizes) - 1):
            w = std * np.random.randn(sizes[i], sizes[i + 1])
            self.params[f"W{i + 1}"] = w.astype(dtype, copy=False)
            self.params[f"b{i + 1}"] = np.zeros(sizes[i + 1], dtype=dtype)
        self.dtype = np.dtype(dtype)
        self.layers = OrderedDict()
        last = len(sizes) - 1
        for i in range(1, last + 1):
            self.layers[f"Affine{i}"] = Affine(self.params[f"W{i}"], self.params[f"b{i}"])
            if i < last:
                self.layers[f"Relu{i}"] = Relu()
                self.layers[f"Dropout{i}"] = Dropout(drop[i - 1], inverted=True)
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        x = x if x.dtype == self.dtype else x.astype(self.dtype)
        for key, layer in self.layers.items():
            x = layer.forward(x, train_flg) if key.startswith("Dropout") else layer.forward(x)
        return x

    def loss(self, x, t, train_flg=False):
        return self.last_layer.forward(self.predict(x, train_flg), t)

    def gradient(self, x, t):
        self.loss(x, t, train_flg=True)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        for key, layer in self.layers.items():
            if key.startswith("Affine"):
                i = key[len("Affine"):]
                grads["W" + i], grads["b" + i] = layer.dW, layer.db
        return grads

    def accuracy(self, x, t, batch_size=10000):
        hits = 0
        for s in range(0, len(x), batch_size):
            y = self.predict(x[s:s + batch_size])
            hits += int(np.sum(np.argmax(y, axis=1) == t[s:s + batch_size]))
        return hits / len(x)


def fashion_dropout(args):
    from .optimizer import SGD
    from .trainer import _one_blas_thread

    say, clock, threads, dtype, (x_train, t_train), (x_test, t_test), n_classes = \
        _start(args, "fashion-dropout", "fashion-mnist", "Fashion-MNIST")
    sizes = [x_train.shape[1], 256, 256, n_classes]
    drop = (args.dropout1, args.dropout2)
    np.random.seed(args.seed)
    net = DropoutMLP(sizes, drop, std=0.01, dtype=dtype)
    opt = SGD(lr=args.lr)
    partial_opt = SGD(lr=args.lr)
    n, batch = len(x_train), args.batch_size
    say(f"MLP {'-'.join(map(str, sizes))} ({dtype.name}), ReLU, inverted dropout "
        f"{drop[0]:g} / {drop[1]:g}, W ~ N(0, 0.01^2), SGD lr {args.lr:g}, batch {batch}, "
        f"{args.epochs} epochs" + (f"; the last batch of {n % batch} images takes a step "
                                   f"scaled by {n % batch}/{batch}"
                                   if n % batch and args.partial_batch == "scaled" else ""))
    say(f"  {'epoch':>5} {'train loss':>10} {'train acc':>9} {'test acc':>8} "
        f"{'reference':>9}")
    epochs_out = []
    train_clock = _cli.Clock()
    with _one_blas_thread():
        for epoch in range(1, args.epochs + 1):
            perm = np.random.permutation(n)
            loss_sum, hits = 0.0, 0
            for s in range(0, n, batch):
                idx = perm[s:s + batch]
                xb, tb = x_train[idx], t_train[idx]
                grads = net.gradient(xb, tb)   # forward in training mode, then backward
                loss_sum += float(net.last_layer.loss) * len(idx)
                hits += int(np.sum(np.argmax(net.last_layer.y, axis=1) == tb))
                if len(idx) < batch and args.partial_batch == "scaled":
                    partial_opt.lr = args.lr * len(idx) / batch
                    partial_opt.update(net.params, grads)
                else:
                    opt.update(net.params, grads)
            test_acc = float(net.accuracy(x_test, t_test))
            ref = FASHION_REFERENCE[epoch - 1] if epoch <= len(FASHION_REFERENCE) else None
            row = {"epoch": epoch, "train_loss": loss_sum / n, "train_acc": hits / n,
                   "test_acc": test_acc, "reference_test_acc": ref, "time_s": train_clock()}
            epochs_out.append(row)
            ref_text = "" if ref is None else f"{ref:.3f}"
            say(f"  {epoch:>5} {row['train_loss']:>10.4f} {row['train_acc']:>9.4f} "
                f"{test_acc:>8.4f} {ref_text:>9}  ({row['time_s']:.1f} s)")
    train_time = train_clock()
    final = epochs_out[-1]["test_acc"]
    ok = final >= 0.85
    refs = ", ".join(f"{r:.3f}" for r in FASHION_REFERENCE)
    accs = ", ".join(f"{r['test_acc']:.4f}" for r in epochs_out)
    say.result(f"test accuracy per epoch: {accs} (reference: {refs}); "
               f"training {train_time:.1f} s")
    say.result(f"final test accuracy {final:.4f} >= 0.85: {_yes(ok)}")

    results = {"experiment": "fashion-dropout", "settings": _settings(args, threads=threads),
               "epochs": epochs_out, "reference_test_acc": list(FASHION_REFERENCE),
               "final_test_acc": final, "train_time_s": train_time, "accepted": ok}

    def plot(path):
        ep = [r["epoch"] for r in epochs_out]
        series = [("train (with dropout, during the epoch)", ep,
                   [r["train_acc"] for r in epochs_out], {"marker": "o"}),
                  ("test", ep, [r["test_acc"] for r in epochs_out], {"marker": "s"}),
                  ("published reference (test)", list(range(1, len(FASHION_REFERENCE) + 1)),
                   list(FASHION_REFERENCE), {"marker": "x", "linestyle": ":",
                                             "color": "gray"})]
        return _plots.curves(
            path, series,
            f"Fashion-MNIST, MLP {'-'.join(map(str, sizes))}, dropout {drop[0]:g}/"
            f"{drop[1]:g} - test {final:.4f}", "epoch", "accuracy", ylim=(0.5, 1.0),
            legend_loc="lower right")
    return _finish(args, "fashion-dropout", say, results, plot, clock)


# -------------------------------------------------------------------------- optimizer-compare

def optimizer_compare(args):
    from .multi_layer_net import MultiLayerNet
    from .optimizer import SGD, AdaGrad, Adam, Momentum
    from .trainer import _one_blas_thread
    from .util import smooth_curve

    say, clock, threads, dtype, (x_train, t_train), (x_test, t_test), n_classes = \
        _start(args, "optimizer-compare")
    np.random.seed(args.seed)
    optimizers = {"SGD": SGD(), "Momentum": Momentum(), "AdaGrad": AdaGrad(), "Adam": Adam()}
    nets = {k: MultiLayerNet(x_train.shape[1], [100] * 4, n_classes, dtype=dtype)
            for k in optimizers}
    losses = {k: [] for k in optimizers}
    train_size, batch = len(x_train), args.batch_size
    say(f"MultiLayerNet {x_train.shape[1]}-[100]x4-{n_classes} ({dtype.name}, ReLU, He "
        f"init) x 4, {args.iters} iterations of batch {batch}, the same batches for all")
    say("  " + f"{'iteration':>9}" + "".join(f"{k:>10}" for k in optimizers))
    train_clock = _cli.Clock()
    with _one_blas_thread():
        for i in range(args.iters):
            mask = np.random.choice(train_size, batch)
            xb, tb = x_train[mask], t_train[mask]
            for k, opt in optimizers.items():
                grads = nets[k].gradient(xb, tb)
                opt.update(nets[k].params, grads)
                losses[k].append(float(nets[k].loss(xb, tb)))
            if i % 100 == 0 or i == args.iters - 1:
                say("  " + f"{i:>9}" + "".join(f"{losses[k][-1]:>10.4f}" for k in optimizers)
                    + f"  ({train_clock():.1f} s)")
        test_acc = {k: float(nets[k].accuracy(x_test, t_test)) for k in optimizers}
    train_time = train_clock()
    last = min(100, args.iters)
    mean_last = {k: float(np.mean(v[-last:])) for k, v in losses.items()}
    say.result(f"mean training loss over the last {last} iterations, and test accuracy:")
    for k in optimizers:
        say.result(f"  {k + ':':<9} loss {mean_last[k]:.4f}  test acc {test_acc[k]:.4f}")
    say.result(f"training {train_time:.1f} s")

    results = {"experiment": "optimizer-compare", "settings": _settings(args, threads=threads),
               "mean_loss_last": mean_last, "last_iterations": last, "test_acc": test_acc,
               "train_time_s": train_time,
               "loss_every_100": {k: v[::100] for k, v in losses.items()}}

    def plot(path):
        series = []
        for k, v in losses.items():
            y = smooth_curve(np.asarray(v)) if len(v) >= 11 else np.asarray(v)
            series.append((k, np.arange(len(y)), y, {}))
        return _plots.curves(
            path, series,
            f"Optimizers on MNIST: MultiLayerNet {x_train.shape[1]}-[100]x4-{n_classes}, "
            f"batch {batch}", "iterations", "loss (smoothed)", ylim=(0, 1),
            legend_loc="upper right")
    return _finish(args, "optimizer-compare", say, results, plot, clock)


EXPERIMENTS = {
    "gradient-check": gradient_check,
    "backprop-mnist": backprop_mnist,
    "dropout-overfit": dropout_overfit,
    "fashion-dropout": fashion_dropout,
    "optimizer-compare": optimizer_compare,
}
