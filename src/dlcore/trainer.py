"""The book's ``common/trainer.py``: mini-batch training with per-epoch evaluation.

``Trainer(network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
optimizer='SGD', optimizer_param={'lr': 0.01}, evaluate_sample_num_per_epoch=None,
verbose=True)`` behaves as the book's (spec section 7, Gotcha 12): batches drawn with
``np.random.choice(train_size, batch_size)`` (with replacement, from numpy's global RNG),
the loss recorded *after* the update, ``iter_per_epoch`` a float and an epoch evaluation
whenever ``current_iter % iter_per_epoch == 0`` (float modulo: at iteration 0, and only
there when the ratio is not an integer), the same printed lines and lists.

Beyond the book (keyword-only):

- ``progress=True``: a progress bar (tqdm when installed, else a plain one-line bar on
  stderr) instead of the per-iteration "train loss:" lines; epoch lines still print when
  ``verbose``.
- ``callback``: called as ``callback(trainer)`` after each epoch evaluation.
- ``stop_on_nonfinite=True``: a NaN or infinite training loss stops training by raising
  :class:`TrainingDiverged` (a ``FloatingPointError``) that says where it happened; the
  loss is appended to ``train_loss_list`` first. The book would train on, printing
  ``train loss:nan``; ``stop_on_nonfinite=False`` restores that.
- ``checkpoint_dir=DIR``, ``checkpoint_every=N`` (epochs, default 1): ``train()`` writes
  ``DIR/checkpoint.npz`` (:meth:`Trainer.save_checkpoint`: network, optimizer state, counters,
  lists and numpy's global RNG state; atomic, so a crash never leaves a partial file)
  after every ``round(N * iter_per_epoch)`` iterations and at the end. A diverged run
  (TrainingDiverged) keeps the last good checkpoint. While it trains with checkpoints, the
  first Ctrl-C (SIGINT, main thread) is deferred to the end of the current step: the
  trainer saves a checkpoint and raises KeyboardInterrupt (a second Ctrl-C interrupts at
  once).
- ``resume_from=PATH`` (or :meth:`Trainer.resume`): restore such a checkpoint into this trainer's
  network and optimizer; ``train()`` then runs the remaining iterations. With the same
  data, network class and optimizer settings the resumed run reproduces the uninterrupted
  one bit for bit (numpy's RNG state is part of the checkpoint).

- ``fused="auto"``: when the network is one of dlcore's book networks (exact class) and the
  optimizer one of dlcore's, each step's gradient and update run on the fused C engine
  (:class:`dlcore.engine.FusedTrainer`: one C call per half, no per-layer Python, no
  allocation per step, dropout masks from numpy's global RNG in the book's order), and so
  does the post-update loss where the book computes it in test mode without weight decay.
  Same printed lines, lists, RNG stream and bits as the per-layer path. Whatever the engine
  cannot run (another optimizer, a callback that rebinds a parameter to a Fortran-ordered or
  float32 array, ...) continues on the per-layer path (said once when verbose): ``"auto"``
  never raises where ``fused=False`` trains. ``fused=False`` always takes the per-layer
  path; ``fused=True`` raises :class:`dlcore.engine.NotFusable` when the engine does not
  apply.

- ``distributed=True`` (or an mpi4py communicator): data-parallel training on MPI, run
  under ``mpiexec -n N`` (see :mod:`dlcore.distributed`). When the trainer is built, rank
  0's numpy global RNG state and parameters are broadcast to every rank. Each step every
  rank draws the same global batch of ``mini_batch_size`` indices, computes the gradient on
  its contiguous slice (``B // N`` or one more), the gradients (and batch-norm running
  statistics) are averaged weighted by the slices' sizes (the gradient of the global-batch
  mean loss, also when N does not divide B), every rank applies the same update, and the
  recorded loss is the global-batch mean. Evaluations are shared: each rank scores a slice
  of the evaluated samples and the correct counts are summed, so every rank holds the same
  lists. Only rank 0 prints, shows progress and writes checkpoints; ``callback`` runs on
  every rank. An exception on one rank aborts every rank (MPI_Abort) with a message naming
  it. ``distributed_debug=True`` (default: the environment variable
  DLCORE_DEBUG_DISTRIBUTED=1) checks after every epoch evaluation that all ranks hold
  bitwise identical parameters and RNG states. Dropout layers draw their masks from a
  per-rank stream (so that numpy's global stream, which draws the batches, stays the same
  on every rank): dropout networks train correctly but not on the same random numbers as a
  single process. Without an MPI launcher, ``distributed=True`` trains as one process.

Bad arguments raise ValueError/TypeError naming them (the book fails later, or divides by
zero): data without a batch axis, targets whose length differs from the inputs', an empty
training or test set, a batch size or ``evaluate_sample_num_per_epoch`` below 1, negative or
non-finite ``epochs``.

While it trains, numpy's BLAS is held at one thread (``threadpoolctl``) so that numpy's and
dlcore's thread pools never run back to back (they stall each other on small machines).
"""
import numbers
import os  # noqa: F401  (the book's module namespace, exposed by star imports)
import sys

import numpy as np

from .optimizer import *  # noqa: F401,F403  (the book's star-import surface: np, optimizers)
from . import optimizer as _optimizer
from . import _checkpoint


def _check_arguments(x_train, t_train, x_test, t_test, epochs, batch_size, eval_num):
    """The Trainer's data and sizes (the book fails later, or divides by zero, on these)."""
    from ._arrays import describe
    for (xn, x), (tn, t) in ((("x_train", x_train), ("t_train", t_train)),
                             (("x_test", x_test), ("t_test", t_test))):
        for name, a in ((xn, x), (tn, t)):
            if not isinstance(a, np.ndarray) or a.ndim < 1:
                raise TypeError(f"Trainer: expected {name} as a numpy array with a batch axis; "
                                f"got {describe(a)}")
        if x.shape[0] != t.shape[0]:
            raise ValueError(f"Trainer: expected {tn} with one target per sample of {xn} "
                             f"({x.shape[0]}); got {describe(t)}")
        if x.shape[0] == 0:
            raise ValueError(f"Trainer: expected at least one sample in {xn}; got "
                             f"{describe(x)}")
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(
            batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"Trainer: expected a positive int mini_batch_size; got "
                         f"{batch_size!r}")
    if isinstance(epochs, (bool, np.bool_)) or not isinstance(epochs, numbers.Real) \
            or not 0 <= epochs < float("inf"):
        raise ValueError(f"Trainer: expected a finite number of epochs >= 0; got {epochs!r}")
    if eval_num is not None and (isinstance(eval_num, (bool, np.bool_)) or not isinstance(
            eval_num, numbers.Integral) or eval_num < 1):
        raise ValueError(f"Trainer: expected None or a positive int for "
                         f"evaluate_sample_num_per_epoch; got {eval_num!r}")


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite (raised by :class:`Trainer`).

    Attributes: ``loss`` (the value), ``iteration`` (0-based), ``epoch`` (the trainer's
    ``current_epoch`` at that point) and ``trainer``."""

    def __init__(self, message, loss, iteration, epoch, trainer):
        super().__init__(message)
        self.loss = loss
        self.iteration = iteration
        self.epoch = epoch
        self.trainer = trainer


def _optimizer_classes():
    names = {'sgd': 'SGD', 'momentum': 'Momentum', 'nesterov': 'Nesterov',
             'adagrad': 'AdaGrad', 'rmsprop': 'RMSprop', 'adam': 'Adam'}
    return {key: getattr(_optimizer, cls) for key, cls in names.items()
            if hasattr(_optimizer, cls)}


_blas_controller = None


def _one_blas_thread():
    """A context manager holding every BLAS library in the process at 1 thread."""
    global _blas_controller
    from threadpoolctl import ThreadpoolController
    if _blas_controller is None:  # inspecting the loaded libraries costs ~ms: once
        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


class _TextBar:
    """Minimal progress bar on stderr, used when tqdm is not installed."""

    def __init__(self, total, file=None):
        self.total = total
        self.n = 0
        self.file = file if file is not None else sys.stderr
        self.postfix = ""
        self._last = -1

    def update(self, n=1):
        self.n += n
        shown = self.n * 40 // max(self.total, 1)
        if shown != self._last or self.n == self.total:
            self._last = shown
            bar = "#" * shown + "." * (40 - shown)
            self.file.write(f"\r[{bar}] {self.n}/{self.total} {self.postfix}")
            self.file.flush()

    def set_postfix_str(self, s, refresh=True):
        self.postfix = s

    def write(self, s):
        # like tqdm.write: clear the bar's line, print the message on stdout
        self.file.write("\r" + " " * (self._width()) + "\r")
        self.file.flush()
        print(s, flush=True)

    def _width(self):
        return 44 + len(f"{self.n}/{self.total} {self.postfix}")

    def close(self):
        self.file.write("\n")
        self.file.flush()


def _make_bar(total):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _TextBar(total)
    return tqdm(total=total, unit="it", dynamic_ncols=True)


class _NoContextType:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


_NoContext = _NoContextType()


class _SwappedRng:
    """Makes the trainer's per-rank RNG state numpy's global one for the duration (the
    global state is put back after, and the rank's saved)."""

    def __init__(self, trainer):
        self.trainer = trainer

    def __enter__(self):
        self.saved = np.random.get_state()
        np.random.set_state(self.trainer._rank_rng_state)

    def __exit__(self, *exc):
        self.trainer._rank_rng_state = np.random.get_state()
        np.random.set_state(self.saved)
        return False


class Trainer:
    """Trains ``network`` (anything with ``params``, ``gradient(x, t)``, ``loss(x, t)`` and
    ``accuracy(x, t)``) with a book optimizer chosen by name ('SGD', 'Momentum',
    'Nesterov', 'AdaGrad', 'RMSprop', 'Adam'; case-insensitive), built with
    ``**optimizer_param``.

    ``train()`` runs ``max_iter = int(epochs * iter_per_epoch)`` steps, then prints the
    accuracy on the full test set (when ``verbose``). Lists: ``train_loss_list`` (one loss
    per step, after the update), ``train_acc_list`` and ``test_acc_list`` (one per epoch
    evaluation, on the first ``evaluate_sample_num_per_epoch`` samples, or all).

    Parameters
    ----------
    network : object
        A book network, or anything with ``params``, ``gradient``, ``loss`` and ``accuracy``.
    x_train, t_train, x_test, t_test : ndarray
        The data; the labels as integers or one-hot rows.
    epochs : int, default 20
    mini_batch_size : int, default 100
        Batches are drawn with replacement, ``np.random.choice(train_size, batch_size)``.
    optimizer : str, default 'SGD'
    optimizer_param : dict, default {'lr': 0.01}
    evaluate_sample_num_per_epoch : int, optional
        Evaluate each epoch on the first this many samples (default: all).
    verbose : bool, default True
        Print the book's per-iteration and per-epoch lines.
    progress : bool, keyword-only, default False
        A progress bar (tqdm, or a plain one) instead of the per-iteration lines.
    callback : callable, keyword-only, optional
        Called as ``callback(trainer)`` after each epoch evaluation.
    stop_on_nonfinite : bool, keyword-only, default True
        Raise :class:`TrainingDiverged` when the loss becomes NaN or Inf (the book trains on);
        False for the book's behaviour.
    checkpoint_dir : path, keyword-only, optional
        Write ``checkpoint.npz`` there every ``checkpoint_every`` epochs; the first Ctrl-C then
        finishes the step, saves and raises KeyboardInterrupt.
    checkpoint_every : int, keyword-only, default 1
    resume_from : path, keyword-only, optional
        A checkpoint to continue from (see :meth:`resume`).
    fused : "auto", True or False, keyword-only, default "auto"
        Run the steps on :class:`dlcore.engine.FusedTrainer` when the network allows it; the
        printed lines, lists and random stream are unchanged.
    distributed : bool, keyword-only, default False
        Data-parallel training over MPI (:mod:`dlcore.distributed`).
    distributed_debug : bool, keyword-only, optional
        Check every epoch that the ranks hold identical parameters (default: the environment
        variable ``DLCORE_DEBUG_DISTRIBUTED``).

    Raises
    ------
    ValueError
        For an unknown optimizer name, data of mismatched lengths or non-positive sizes.

    Examples
    --------
    >>> import numpy as np
    >>> from dlcore.two_layer_net import TwoLayerNet
    >>> np.random.seed(0)
    >>> x = np.random.rand(20, 4); t = (x.sum(axis=1) > 2).astype(int)
    >>> tr = Trainer(TwoLayerNet(4, 8, 2), x, t, x, t, epochs=2, mini_batch_size=10,
    ...              verbose=False)
    >>> tr.train()
    >>> len(tr.train_loss_list), len(tr.test_acc_list)
    (4, 2)
    """

    def __init__(self, network, x_train, t_train, x_test, t_test,
                 epochs=20, mini_batch_size=100,
                 optimizer='SGD', optimizer_param={'lr': 0.01},
                 evaluate_sample_num_per_epoch=None, verbose=True, *,
                 progress=False, callback=None, stop_on_nonfinite=True,
                 checkpoint_dir=None, checkpoint_every=1, resume_from=None, fused="auto",
                 distributed=False, distributed_debug=None):
        _check_arguments(x_train, t_train, x_test, t_test, epochs, mini_batch_size,
                         evaluate_sample_num_per_epoch)
        self.network = network
        self._setup_distributed(distributed, distributed_debug, mini_batch_size)
        verbose = verbose and self._rank == 0
        progress = progress and self._rank == 0
        self.verbose = verbose
        self.x_train = x_train
        self.t_train = t_train
        self.x_test = x_test
        self.t_test = t_test
        self.epochs = epochs
        self.batch_size = mini_batch_size
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch

        classes = _optimizer_classes()
        try:
            optimizer_class = classes[optimizer.lower()]
        except (KeyError, AttributeError):
            raise ValueError(f"Trainer: expected optimizer to be one of "
                             f"{', '.join(repr(c.__name__) for c in classes.values())}; "
                             f"got {optimizer!r}") from None
        self.optimizer = optimizer_class(**optimizer_param)

        self.train_size = x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0

        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []

        if callback is not None and not callable(callback):
            raise TypeError(f"Trainer: expected a callable for callback; "
                            f"got {type(callback).__name__}")
        self.progress = progress
        self.callback = callback
        self.stop_on_nonfinite = stop_on_nonfinite
        self._bar = None
        if fused not in ("auto", True, False):
            raise ValueError(f"Trainer: expected fused='auto', True or False; got {fused!r}")
        self.fused = fused
        self._stepper = None  # the step strategy, chosen at the first step (see _steps.py)
        if fused is True:
            self._make_stepper(strict=True)

        if isinstance(checkpoint_every, (bool, np.bool_)) or not isinstance(
                checkpoint_every, numbers.Real) or not 0 < checkpoint_every < float("inf"):
            raise ValueError(f"Trainer: expected a positive number of epochs for "
                             f"checkpoint_every; got {checkpoint_every!r}")
        if checkpoint_dir is not None:
            checkpoint_dir = os.fspath(checkpoint_dir)
            if self._rank == 0:
                os.makedirs(checkpoint_dir, exist_ok=True)
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self._resume_iter = 0
        if resume_from is not None:
            self.resume(resume_from)

    # ------------------------------------------------------------------ distributed mode
    def _setup_distributed(self, distributed, debug, batch_size):
        self._comm, self._rank, self._size = None, 0, 1
        self._averager = None
        self._rank_rng_state = None
        self._has_dropout = False
        self._bn = []
        self.distributed = distributed is not False and distributed is not None
        if not self.distributed:
            self.distributed_debug = False
            return
        from . import distributed as dist
        comm = dist.communicator() if distributed is True else distributed
        if comm is not None and not (hasattr(comm, "Get_rank") and hasattr(comm, "Bcast")):
            raise TypeError(f"Trainer: expected distributed=True, False or an mpi4py "
                            f"communicator; got {distributed!r}")
        self._comm = comm
        self._rank, self._size = dist.rank(comm), dist.size(comm)
        self.distributed_debug = dist.debug_enabled() if debug is None else bool(debug)
        if self._size > batch_size:
            raise ValueError(f"Trainer: expected mini_batch_size >= the number of MPI "
                             f"processes ({self._size}) so that every rank gets a sample; got "
                             f"{batch_size}")
        if self._size == 1:
            return
        network = self.network
        np.random.set_state(comm.bcast(np.random.get_state(), root=0))
        dist.broadcast_params(network, comm=comm)
        self._averager = dist.GradientAverager(comm)
        self._bn = dist._bn_buffers(network)
        layers = getattr(network, "layers", None)
        layers = layers.values() if hasattr(layers, "values") else (layers or ())
        self._has_dropout = any(type(l).__name__ == "Dropout" or hasattr(l, "dropout_ratio")
                                for l in layers)
        if self._has_dropout:
            # the ranks' dropout masks come from their own streams, seeded from the shared
            # global state and the rank
            st = np.random.get_state()
            ss = np.random.SeedSequence([int(v) for v in st[1][:8]] + [int(st[2])],
                                        spawn_key=(self._rank,))
            self._rank_rng_state = np.random.RandomState(
                np.random.MT19937(ss)).get_state()

    @property
    def rank(self):
        """This process's MPI rank (0 unless distributed)."""
        return self._rank

    @property
    def world_size(self):
        """The number of processes training together (1 unless distributed)."""
        return self._size

    def _local(self):
        """A context in which the rank's own RNG stream is numpy's global one (distributed
        dropout networks); a no-op otherwise."""
        if self._rank_rng_state is None:
            return _NoContext
        return _SwappedRng(self)

    def _accuracy(self, x, t):
        """network.accuracy(x, t) (on the fused engine's predict when the step runs there:
        the same value); shared across the ranks in distributed mode (each scores a slice,
        the correct counts are summed: the same value as one process gets)."""
        if self._size == 1:
            if self._stepper is not None:
                return self._stepper.accuracy(x, t)
            return self.network.accuracy(x, t)
        from . import distributed as dist
        lo, hi = dist.shard_bounds(len(x), self._rank, self._size)
        correct = 0
        if hi > lo:
            correct = round(float(self.network.accuracy(x[lo:hi], t[lo:hi])) * (hi - lo))
        total = dist.sum_scalars([correct], self._comm)[0]
        return np.float64(total) / float(x.shape[0])

    def _check_sync(self, where):
        if self._size > 1:
            from . import distributed as dist
            dist.check_in_sync(self.network, self._comm, where)

    def _print(self, line):
        if self._bar is not None:
            self._bar.write(line)
        else:
            print(line)

    def train_step(self):
        """One step: sample a batch, update, record the loss; evaluate at epoch starts."""
        with _one_blas_thread():
            self._step()

    @property
    def _fused(self):
        """The FusedTrainer the steps run on, or None (per-layer path, or not chosen yet)."""
        return self._stepper.fused if self._stepper is not None else None

    def _make_stepper(self, strict=False):
        """The step strategy (see _steps.py): fused when ``fused`` allows it and the engine
        takes this network and optimizer, else per-layer; wrapped for distributed runs."""
        from . import _steps
        inner = self._fused_step(strict) if self.fused is not False else None
        if inner is None:
            inner = _steps.LayerStep(self)
        self._stepper = _steps.DistributedStep(self, inner) if self._size > 1 else inner
        return self._stepper

    def _fused_step(self, strict):
        from . import _steps, engine
        fused_loss = type(self.network).__dict__.get("_dlcore_fused_loss")
        try:
            if fused_loss is None:
                raise engine.NotFusable(f"{type(self.network).__name__} is not one of "
                                        "dlcore's book networks")
            ft = engine.FusedTrainer(self.network, self.optimizer)
        except engine.NotFusable:
            if strict:
                raise
            self.fused = False
            return None
        fused_loss = fused_loss and not getattr(self.network, "weight_decay_lambda", 0)
        return _steps.FusedStep(self, ft, fused_loss)

    def _fall_back(self, reason):
        """fused='auto' continues on the per-layer path (said once when verbose)."""
        if self.verbose:
            self._print(f"Trainer: the fused engine cannot run this step ({reason}); "
                        "continuing on the per-layer path")
        self.fused = False
        self._make_stepper()

    def _step(self):
        batch_mask = np.random.choice(self.train_size, self.batch_size)
        if self._size > 1:  # this rank's contiguous slice of the global batch
            from .distributed import shard
            batch_mask = shard(batch_mask, self._rank, self._size)
        x_batch = self.x_train[batch_mask]
        t_batch = self.t_train[batch_mask]

        stepper = self._stepper
        if stepper is None or (self.fused is False and stepper.fused is not None):
            stepper = self._make_stepper()  # first step, or fused switched off since
        if stepper.fused is None:
            loss = stepper.step(x_batch, t_batch)
        else:
            from .engine import NotFusable
            try:
                loss = stepper.step(x_batch, t_batch)
            except NotFusable as exc:  # raised before anything was drawn or computed
                if self.fused is True:
                    raise
                self._fall_back(exc)
                loss = self._stepper.step(x_batch, t_batch)
        self.train_loss_list.append(loss)
        if self._bar is not None:
            self._bar.set_postfix_str(f"loss {float(loss):.4f}", refresh=False)
            self._bar.update(1)
        elif self.verbose:
            print("train loss:" + str(loss))
        if self.stop_on_nonfinite and not np.isfinite(loss):
            self._diverged(loss)

        if self.current_iter % self.iter_per_epoch == 0:
            self.current_epoch += 1

            x_train_sample, t_train_sample = self.x_train, self.t_train
            x_test_sample, t_test_sample = self.x_test, self.t_test
            if self.evaluate_sample_num_per_epoch is not None:
                t = self.evaluate_sample_num_per_epoch
                x_train_sample, t_train_sample = self.x_train[:t], self.t_train[:t]
                x_test_sample, t_test_sample = self.x_test[:t], self.t_test[:t]

            train_acc = self._accuracy(x_train_sample, t_train_sample)
            test_acc = self._accuracy(x_test_sample, t_test_sample)
            self.train_acc_list.append(train_acc)
            self.test_acc_list.append(test_acc)
            if self.distributed_debug:
                self._check_sync(f"at epoch {self.current_epoch} (iteration "
                                 f"{self.current_iter})")

            if self.verbose:
                self._print("=== epoch:" + str(self.current_epoch) + ", train acc:"
                            + str(train_acc) + ", test acc:" + str(test_acc) + " ===")
            if self.callback is not None:
                self.callback(self)
        self.current_iter += 1

    def _diverged(self, loss):
        msg = (f"Trainer: the training loss became {loss} at iteration {self.current_iter} "
               f"(epoch {self.current_epoch}); training stopped. Try a smaller learning "
               f"rate (optimizer_param), or pass stop_on_nonfinite=False to train on as "
               f"the book does")
        raise TrainingDiverged(msg, loss, self.current_iter, self.current_epoch, self)

    @property
    def checkpoint_path(self):
        """``checkpoint_dir/checkpoint.npz``, or None without a checkpoint_dir."""
        if self.checkpoint_dir is None:
            return None
        return os.path.join(self.checkpoint_dir, "checkpoint.npz")

    def save_checkpoint(self, path=None):
        """Write a checkpoint (network parameters and batch-norm statistics, optimizer state,
        counters, the three lists, numpy's global RNG state) to ``path`` (default
        :attr:`checkpoint_path`) atomically; returns the path."""
        path = self.checkpoint_path if path is None else path
        if path is None:
            raise ValueError("Trainer.save_checkpoint: expected a path (or a trainer built "
                             "with checkpoint_dir); got None")
        _checkpoint.save_trainer(self, path)
        return path

    def resume(self, path):
        """Restore a checkpoint written by :meth:`save_checkpoint` into this trainer (its
        network and optimizer are updated in place, numpy's global RNG state is restored);
        the next ``train()`` runs the iterations from ``current_iter`` to ``max_iter``."""
        _checkpoint.resume_trainer(self, path)
        self._resume_iter = self.current_iter

    def train(self):
        """Run ``max_iter`` steps (the remaining ones after :meth:`resume`), then evaluate
        on the full test set."""
        if self._size == 1:
            return self._train()
        from . import distributed as dist
        with dist.abort_on_error(self._comm, consistent=(dist.DistributedError,
                                                         TrainingDiverged)):
            self._check_sync("at the start of train()")
            self._train()
            if self.distributed_debug:
                self._check_sync("at the end of train()")

    def _train(self):
        start, self._resume_iter = self._resume_iter, 0
        ckpt = self.checkpoint_dir is not None and self._rank == 0
        every = max(1, round(self.checkpoint_every * self.iter_per_epoch))
        with _one_blas_thread(), _checkpoint.DeferredInterrupt(ckpt) as interrupt:
            if self.progress:
                self._bar = _make_bar(self.max_iter - start)
            try:
                for i in range(start, self.max_iter):
                    self._step()
                    if ckpt and (self.current_iter % every == 0
                                 or i + 1 == self.max_iter or interrupt.requested):
                        self.save_checkpoint()
                    if interrupt.requested:
                        raise KeyboardInterrupt(
                            f"Trainer: interrupted after iteration {self.current_iter}; "
                            f"checkpoint saved to {self.checkpoint_path} (resume with "
                            f"Trainer(..., resume_from=path))")
            finally:
                if self._bar is not None:
                    self._bar.close()
                    self._bar = None
            test_acc = self._accuracy(self.x_test, self.t_test)

        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))
