"""``python -m dlcore demo``: train a network on MNIST, show progress, plot the curves.

The network trains through the book's :class:`~dlcore.trainer.Trainer` (mini-batches drawn
with replacement, an evaluation at the start of every epoch) with its progress bar, on float32
by default. Epoch ``k`` in the printed lines and the plot is the evaluation after ``k`` epochs
of training (the Trainer evaluates after the first step of each epoch, so epoch 0 is after one
mini-batch); the last one is taken after the final step. Train accuracy is measured on the
first 10000 training images (as many as the test set has), test accuracy on the whole test
set.
"""
import os

import numpy as np

from . import _cli, _plots

# name -> (class label, default epochs); the builders are in _build_network.
NETWORKS = {
    "twolayer": "TwoLayerNet (chapter 5)",
    "mlp": "MultiLayerNet",
    "mlp-extend": "MultiLayerNetExtend with batch normalization",
    "convnet": "SimpleConvNet (chapter 7)",
}
DEFAULT_EPOCHS = {"twolayer": 8, "mlp": 6, "mlp-extend": 5, "convnet": 2}
HIDDEN = 100

# optimizer name -> (class name in dlcore.optimizer, default learning rate for the demo)
OPTIMIZERS = {
    "sgd": ("SGD", 0.1),
    "momentum": ("Momentum", 0.01),
    "nesterov": ("Nesterov", 0.01),
    "adagrad": ("AdaGrad", 0.01),
    "rmsprop": ("RMSprop", 0.001),
    "adam": ("Adam", 0.001),
}

DEFAULT_OUTPUT = "dlcore-demo.png"


def _build_network(name, input_shape, n_classes, dtype):
    """(network, description) for ``--network``; ``input_shape`` is one sample's shape."""
    if name == "twolayer":
        from .two_layer_net import TwoLayerNet
        d = int(np.prod(input_shape))
        return (TwoLayerNet(d, HIDDEN, n_classes, dtype=dtype),
                f"TwoLayerNet {d}-{HIDDEN}-{n_classes} (ReLU)")
    if name == "mlp":
        from .multi_layer_net import MultiLayerNet
        d = int(np.prod(input_shape))
        return (MultiLayerNet(d, [HIDDEN, HIDDEN], n_classes, dtype=dtype),
                f"MultiLayerNet {d}-{HIDDEN}-{HIDDEN}-{n_classes} (ReLU, He init)")
    if name == "mlp-extend":
        from .multi_layer_net_extend import MultiLayerNetExtend
        d = int(np.prod(input_shape))
        return (MultiLayerNetExtend(d, [HIDDEN, HIDDEN], n_classes, use_batchnorm=True,
                                    dtype=dtype),
                f"MultiLayerNetExtend {d}-{HIDDEN}-{HIDDEN}-{n_classes} "
                f"(ReLU, He init, batch norm)")
    if name == "convnet":
        from .simple_convnet import SimpleConvNet
        return (SimpleConvNet(input_dim=tuple(input_shape), hidden_size=HIDDEN,
                              output_size=n_classes, dtype=dtype),
                f"SimpleConvNet conv 30x5x5 - pool - {HIDDEN} - {n_classes} "
                f"on {'x'.join(map(str, input_shape))} images")
    raise ValueError(name)


def _output_path(path):
    """The PNG path: ``path``, or ``DEFAULT_OUTPUT`` inside it when it is a directory (an
    existing one, or any path ending with a separator); missing directories are made."""
    path = os.path.expanduser(path or DEFAULT_OUTPUT)
    is_dir = path.endswith(("/", os.sep))
    path = os.path.abspath(path)
    if is_dir or os.path.isdir(path):
        path = os.path.join(path, DEFAULT_OUTPUT)
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise _cli.CliError(f"--output: cannot create the directory {parent!r} "
                            f"({e.strerror})") from None
    return path


def run(args):
    """The demo; with ``--distributed`` under ``mpiexec -n N``, every process runs it, the
    Trainer trains data-parallel, only rank 0 prints and plots, and an error on one rank
    aborts them all (a clean message for the user's errors, a traceback otherwise)."""
    comm, rank, world = None, 0, 1
    if getattr(args, "distributed", False):
        from . import distributed as dist
        try:
            comm = dist.communicator()
        except RuntimeError as e:
            raise _cli.CliError(str(e)) from None
        rank, world = dist.rank(comm), dist.size(comm)
    args.world_size, args.rank = world, rank
    if world == 1:
        return _run(args, comm)
    from ._idx import DataError, DataUnavailableError
    from .trainer import TrainingDiverged
    with dist.abort_on_error(comm, consistent=(dist.DistributedError, TrainingDiverged),
                             brief=(_cli.CliError, DataError, DataUnavailableError)):
        return _run(args, comm)


def _run(args, comm):
    from .trainer import Trainer

    root = args.rank == 0
    say = _cli.Printer(args.quiet, silent=not root)
    clock = _cli.Clock()
    threads = _cli.setup(args)
    dtype = _cli.dtype_of(args.dtype)
    epochs = args.epochs if args.epochs is not None else DEFAULT_EPOCHS[args.network]
    opt_class, default_lr = OPTIMIZERS[args.optimizer]
    lr = args.lr if args.lr is not None else default_lr
    batch = args.batch_size
    out_path = _output_path(args.output) if root else None
    plotting = root and _plots.have_matplotlib()

    (x_train, t_train), (x_test, t_test) = _cli.load_data(args, "mnist")
    data_time = clock()
    if args.network == "convnet":
        x_train, x_test = _cli.as_images(x_train), _cli.as_images(x_test)
    if args.train_size is not None:
        x_train, t_train = x_train[:args.train_size], t_train[:args.train_size]
    n = len(x_train)
    if n > batch and n % batch:
        # The Trainer evaluates when current_iter % (n / batch) == 0 (a float modulo, as the
        # book's): with a fractional ratio it would evaluate only once. Whole batches only.
        n = n - n % batch
        say(f"note: training on the first {n} of {len(x_train)} images (a whole number of "
            f"batches of {batch}, so that the Trainer evaluates every epoch)")
        x_train, t_train = x_train[:n], t_train[:n]
    n_classes = _cli.num_classes(t_train, t_test)

    net, desc = _build_network(args.network, x_train.shape[1:], n_classes, dtype)
    source = "data from --data" if getattr(args, "data", None) else "MNIST"
    say(f"dlcore demo: {desc}")
    say(f"  {source}: {len(x_train)} training / {len(x_test)} test images; {opt_class} "
        f"lr={lr:g}, batch {batch}, {epochs} epoch{'s' if epochs != 1 else ''}, "
        f"{dtype.name}, {threads}, seed {args.seed}")
    if args.world_size > 1:
        say(f"  data-parallel on {args.world_size} MPI processes: {batch // args.world_size}"
            f"{'' if batch % args.world_size == 0 else '-' + str(-(-batch // args.world_size))}"
            f" samples of every batch of {batch} per process")
    elif getattr(args, "distributed", False):
        say("  note: --distributed without an MPI launcher: training as one process (run "
            "it as: mpiexec -n 2 python -m dlcore demo --distributed)")
    if not plotting and root:
        say(f"  note: matplotlib is not installed, so no plot will be drawn "
            f"(install it with: {_cli.PLOT_HINT})")

    # The train accuracy uses the first len(test) training images when that is fewer.
    k_eval = len(x_test) if len(x_test) < len(x_train) else None
    train_clock = _cli.Clock()

    def on_epoch(trainer):
        if args.quiet or not root:
            return
        k = trainer.current_epoch - 1
        trainer._print(f"epoch {k:>2}/{epochs}  train acc {trainer.train_acc_list[-1]:.4f}"
                       f"  test acc {trainer.test_acc_list[-1]:.4f}  "
                       f"({train_clock():.1f} s)")

    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=epochs,
                      mini_batch_size=batch, optimizer=opt_class,
                      optimizer_param={"lr": lr}, evaluate_sample_num_per_epoch=k_eval,
                      verbose=False, progress=not args.quiet, callback=on_epoch,
                      distributed=comm if comm is not None else False)
    trainer.train()
    train_time = train_clock()

    xs, ts = (x_train, t_train) if k_eval is None else (x_train[:k_eval], t_train[:k_eval])
    final_train = float(trainer._accuracy(xs, ts))   # shared by the ranks when distributed
    final_test = float(trainer._accuracy(x_test, t_test))
    train_acc = [float(a) for a in trainer.train_acc_list]
    test_acc = [float(a) for a in trainer.test_acc_list]
    if trainer.max_iter > (len(train_acc) - 1) * trainer.iter_per_epoch:
        train_acc.append(final_train)
        test_acc.append(final_test)
        say(f"epoch {epochs:>2}/{epochs}  train acc {final_train:.4f}  test acc "
            f"{final_test:.4f}  ({train_time:.1f} s)")

    say.result(f"test accuracy: {final_test:.4f}  (training {train_time:.1f} s, "
               f"total {clock():.1f} s with {data_time:.1f} s loading data)")
    if plotting:
        title = (f"dlcore demo: {desc.split(' (')[0]} on {source}, {opt_class} "
                 f"lr={lr:g}, {dtype.name} - test accuracy {final_test:.4f}")
        train_label = ("train" if k_eval is None
                       else f"train (first {k_eval} images)")
        _plots.demo(out_path, trainer.train_loss_list, trainer.iter_per_epoch,
                    list(range(len(train_acc))), train_acc, test_acc, title, train_label)
        say.result(f"plot: {out_path}")
    elif root:
        say.result(f"plot: not written: matplotlib is not installed; install it with: "
                   f"{_cli.PLOT_HINT}")
    return 0
