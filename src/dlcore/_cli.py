"""Shared pieces of the command line (``python -m dlcore``; private).

Data loading for the demo and the experiments (MNIST, Fashion-MNIST, or an ``.npz`` file
given with the hidden ``--data`` option, which the tests use), threads and seed, timing,
output paths, and the error type the command line turns into a clean message.
"""
import json
import os
import sys
import time

import numpy as np

from . import _arrays

PLOT_HINT = 'pip install "dlcore[plot]"'


class CliError(Exception):
    """An error the command line reports as one clean message (no traceback)."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def dtype_of(name):
    """'float32' / 'float64' -> numpy dtype."""
    return np.dtype({"float32": np.float32, "float64": np.float64}[name])


def _others_running(samples=3, gap=0.005):
    """Tasks running or runnable right now other than the caller (Linux: /proc/loadavg's
    running count, which includes the reader), the fewest of a few reads `gap` seconds apart
    (a program that keeps a core busy is in every one, a passing blip is not); 0 where
    unknown."""
    fewest = None
    for i in range(samples):
        if i:
            time.sleep(gap)
        try:
            with open("/proc/loadavg") as f:
                n = max(0, int(f.read().split()[3].split("/")[0]) - 1)
        except (OSError, IndexError, ValueError):
            return 0
        fewest = n if fewest is None else min(fewest, n)
    return fewest


def auto_threads():
    """(threads, note): all the CPUs this process may use, minus those other programs keep
    busy (the larger of the 1-minute load average, rounded, and the tasks running right
    now), at least 1; None when unknown.

    Two OpenMP threads that wait for each other at every parallel region slow down badly
    when another program holds one of the cores (libgomp's threads spin while the other is
    descheduled): on the 2-core machine the demo took 37-58 s on 2 threads under a load of
    3-6, and 3 s on 1 thread. The load average lags a program that has just started by up to
    a minute (chapter 4's script beside a burner started 5 s before: 55 s, against 24 s once
    the average had caught up); the running count sees it at once. The results do not depend
    on the thread count.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None, ""
    now = _others_running()
    busy = max(int(load + 0.5), now)
    n = max(1, min(cpus, cpus - busy))
    running = f", {now} other task{'s' if now != 1 else ''} running now" if now > load else ""
    note = "" if n == cpus else (f" (auto: load average {load:.1f} on {cpus} CPUs{running}; "
                                 f"--threads N to choose)")
    return n, note


def setup(args):
    """Apply ``--threads`` and ``--seed`` (numpy's global legacy RNG, which the networks,
    the Trainer and dropout draw from, as in the book); return a text such as "2 threads".

    Without ``--threads`` and ``OMP_NUM_THREADS``, the thread count is :func:`auto_threads`.
    """
    import dlcore
    threads = getattr(args, "threads", None)
    note = ""
    if threads is None and not os.environ.get("OMP_NUM_THREADS"):
        if getattr(args, "world_size", 1) > 1:
            # several MPI processes on the machine share its cores: one thread each
            threads, note = 1, " per process (MPI; --threads N to choose)"
        else:
            threads, note = auto_threads()
    if threads is not None:
        dlcore.set_num_threads(threads)
    seed = getattr(args, "seed", None)
    if seed is not None:
        np.random.seed(seed)
    n = dlcore.get_num_threads()
    return f"{n} thread{'s' if n != 1 else ''}{note}"


class Printer:
    """print() to stdout unless quiet; ``result`` lines print even when quiet; nothing at
    all when ``silent`` (the MPI ranks other than 0)."""

    def __init__(self, quiet=False, silent=False):
        self.quiet = quiet or silent
        self.silent = silent

    def __call__(self, *a, **k):
        if not self.quiet:
            print(*a, **k)
            sys.stdout.flush()

    def result(self, *a, **k):
        if not self.silent:
            print(*a, **k)
            sys.stdout.flush()


class Clock:
    """Wall time since construction, in seconds (``perf_counter``)."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self):
        return time.perf_counter() - self.t0


# ---------------------------------------------------------------------------------- data

def _npz_data(path):
    """((x_train, t_train), (x_test, t_test)) from an .npz with those four arrays.

    uint8 images are normalised as ``load_mnist`` does (``astype(float32) / 255``); float
    images are taken as float32. Labels must be integers."""
    from ._npz import read_npz
    keys = ("x_train", "t_train", "x_test", "t_test")
    try:
        arrays = read_npz(path, keys, CliError, kind="--data")
    except CliError as e:
        raise CliError(f"--data: expected an .npz with arrays x_train, t_train, x_test, "
                       f"t_test; got {e}") from None
    except OSError as e:
        raise CliError(f"--data: cannot read {path!r} ({e.strerror or e})") from None
    out = []
    for xk, tk in (("x_train", "t_train"), ("x_test", "t_test")):
        x, t = arrays[xk], arrays[tk]
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise CliError(f"--data: expected {xk} of shape (N, D) with N, D >= 1 in {path!r}; "
                           f"got shape {x.shape}")
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / 255
        elif x.dtype.kind == "f":
            x = x.astype(np.float32)
        else:
            raise CliError(f"--data: expected uint8 or float images in {xk} of {path!r}; got "
                           f"{x.dtype}")
        if t.dtype.kind not in "iu" or t.ndim != 1 or len(t) != len(x):
            raise CliError(f"--data: expected {tk} in {path!r} to be integer labels of shape "
                           f"({len(x)},); got {_arrays.describe(t)}")
        if t.min() < 0:
            raise CliError(f"--data: expected {tk} in {path!r} to be labels >= 0; got "
                           f"{t.min()}")
        out.append((x, t))
    # the commands build one-hot labels: bound them by the file's size
    n = num_classes(out[0][1], out[1][1])
    onehot = 8 * n * (len(out[0][1]) + len(out[1][1]))
    limit = 16 * os.path.getsize(path) + (1 << 20)
    if onehot > limit:
        raise CliError(f"--data: expected labels that need at most {limit} bytes of one-hot "
                       f"rows (16x the file's size); the largest label in {path!r}, "
                       f"{n - 1}, needs {onehot}")
    return tuple(out)


def load_data(args, dataset="mnist"):
    """The training and test sets, as ``load_mnist(normalize=True)`` gives them: float32
    images in [0, 1] of shape (N, D), integer labels (N,).

    ``args.data`` (an .npz) replaces the data set when given. The loaders' own errors
    (:class:`dlcore.mnist.DataUnavailableError`, :class:`dlcore.mnist.DataError`) propagate;
    ``main`` prints them without a traceback.
    """
    path = getattr(args, "data", None)
    if path:
        return _npz_data(path)
    if dataset == "mnist":
        from . import mnist
        return mnist.load_mnist(normalize=True, flatten=True)
    if dataset == "fashion-mnist":
        from . import datasets
        return datasets.load_fashion_mnist(normalize=True, flatten=True)
    raise ValueError(dataset)


def num_classes(*label_arrays):
    """10 for MNIST-like labels; more if the labels need it."""
    return max(10, max(int(np.max(t)) + 1 for t in label_arrays if len(t)))


def one_hot(t, n):
    """float64 one-hot rows of shape (len(t), n), as ``load_mnist(one_hot_label=True)``."""
    out = np.zeros((len(t), n))
    out[np.arange(len(t)), np.asarray(t, dtype=np.intp)] = 1.0
    return out


def as_images(x):
    """(N, D) -> (N, 1, s, s) for square D (the convnet's input)."""
    if x.ndim == 4:
        return x
    side = int(round(np.sqrt(x.shape[1])))
    if side * side != x.shape[1]:
        raise CliError(f"convnet: expected square images (784 = 28 x 28 pixels); got "
                       f"{x.shape[1]} features")
    return x.reshape(len(x), 1, side, side)


# ---------------------------------------------------------------------------------- output

def output_dir(path):
    """Create the output directory if needed and return its absolute path."""
    path = os.path.abspath(os.path.expanduser(path))
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise CliError(f"--output: cannot create the directory {path!r} ({e.strerror})") from None
    return path


def write_json(path, data):
    """Write the results as JSON (numpy scalars and arrays become plain numbers/lists)."""
    def plain(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(type(o).__name__)

    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=plain)
        f.write("\n")
    return path
