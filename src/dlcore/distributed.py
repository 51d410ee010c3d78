"""Data-parallel training over several processes and machines on MPI (``mpi4py``).

Install the optional extra (``pip install "dlcore[mpi]"``: mpi4py and the ``mpich`` wheel,
which brings ``mpiexec``), then launch N copies of a script or of the demo::

    mpiexec -n 2 python -m dlcore demo --distributed

Every rank runs the same program on the same data. With the :class:`~dlcore.trainer.Trainer`
(``Trainer(..., distributed=True)``) each rank draws the same global batch of B indices from
numpy's global RNG (the RNG state is broadcast from rank 0 when the trainer is built, so the
streams stay in step), computes the gradient on its own contiguous slice of that batch
(:func:`shard`), the gradients are averaged (:func:`allreduce_gradients`, weighted by the
slices' sizes so that the result is the gradient of the mean loss over the whole batch), and
every rank applies the same update. The result matches 1-process training up to summation
order.

``mpi4py`` is imported lazily: ``import dlcore`` never imports it, and without an MPI launcher
(no ``mpiexec``) nothing here imports it either: :func:`rank`, :func:`size`, :func:`is_root`
answer 0, 1, True and the collectives are no-ops (one process is the whole world). Launched by
``mpiexec`` with more than one process but without mpi4py, they raise ``RuntimeError`` rather
than let each process train alone and write the same files.

Determinism: the parameters must stay bitwise identical on every rank. MPI_Allreduce does not
promise that on more than 2 ranks (each rank may add the contributions in another order), so
``"reduce_bcast"`` is MPI_Reduce to rank 0 then MPI_Bcast of rank 0's sums: identical on
every rank by construction. ``"allreduce"`` is one MPI_Allreduce, faster (on the 2-core test
machine, 2 ranks, W4's 7.45 MB: 1.4-2.5 ms instead of 2.9-6.9 ms) but only safe on 2 ranks, where every element is
one addition a + b == b + a whatever the algorithm. The default, ``"auto"``, takes
"allreduce" on 2 ranks and "reduce_bcast" on more; ``benchmarks/bench_mpi.py`` measures
both, and the tests check bitwise identity on 2 and 3 ranks.

Faults: :func:`abort_on_error` (around ``Trainer.train`` and the demo) turns an exception on
one rank into a message naming the rank and MPI_Abort of the whole job; once a multi-process
world is in use, an exception that nothing catches does the same (an excepthook; MPICH would
otherwise leave the other ranks waiting forever in their next collective). A rank killed by a
signal, or that exits, makes ``mpiexec`` end the others.

Batch normalization uses each rank's own batch statistics in the forward pass (as PyTorch's
DistributedDataParallel without SyncBatchNorm). Its running statistics are averaged across
ranks in the same message as the gradients (weighted by the slices' sizes: the running mean
then follows the global batch mean, up to rounding, the running variance the mean of the per-rank
variances), so every rank evaluates the same model.
"""
import contextlib
import hashlib
import os
import sys
import time
import traceback

import numpy as np

__all__ = ["communicator", "rank", "size", "is_root", "launched", "broadcast_params",
           "allreduce_gradients", "GradientAverager", "shard", "shard_bounds",
           "sum_scalars", "abort_on_error", "params_digest", "check_in_sync",
           "DistributedError", "debug_enabled"]

# Environment variables that MPI launchers set in the processes they start (MPICH's hydra
# and other PMI launchers, Open MPI, PMIx-based ones such as Slurm's srun --mpi=pmix).
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")
_LAUNCHER_VARS = _LAUNCHER_SIZE_VARS + ("PMI_RANK", "PMI_FD", "PMIX_RANK", "MPI_LOCALNRANKS",
                                        "OMPI_COMM_WORLD_RANK", "PMI_PORT")

MPI_HINT = 'pip install "dlcore[mpi]"'


class DistributedError(RuntimeError):
    """The ranks disagree (parameters not bitwise identical, RNG streams out of step, ...)
    or MPI is not usable; raised on every rank alike."""


def launched():
    """True when this process was started by an MPI launcher (``mpiexec``, ``mpirun``,
    ``srun``): one of the launchers' environment variables is set.

    Returns
    -------
    bool

    Examples
    --------
    >>> launched()          # under pytest, not under mpiexec
    False
    """
    return any(v in os.environ for v in _LAUNCHER_VARS)


def _launcher_size():
    for v in _LAUNCHER_SIZE_VARS:
        try:
            return int(os.environ[v])
        except (KeyError, ValueError):
            continue
    return None


def _check_pmi():
    """DistributedError when the PMI variables of an MPI launcher are left over from another
    process (a shell that exported them, a child of an MPI job): MPICH's MPI_Init would abort
    the process when it cannot reach the launcher. PMI_FD must be an open socket of this
    process; PMI_PORT (when PMI_FD is not set) must be host:port and accept a connection."""
    import socket
    import stat
    fd = os.environ.get("PMI_FD")
    port = os.environ.get("PMI_PORT")
    stale = None
    if fd is not None:
        try:
            ok = stat.S_ISSOCK(os.fstat(int(fd)).st_mode)
        except (ValueError, OSError):
            ok = False
        if not ok:
            stale = f"PMI_FD={fd!r} is not an open socket of this process"
    elif port is not None:
        host, _, num = port.rpartition(":")
        try:
            with socket.create_connection((host, int(num)), timeout=2.0):
                pass
        except (ValueError, OSError) as e:
            stale = f"PMI_PORT={port!r} does not accept a connection ({e})"
    if stale:
        raise DistributedError(
            f"dlcore.distributed: expected to run under the MPI launcher named by the "
            f"environment; got {stale}. It looks left over from another process: unset "
            f"PMI_FD, PMI_PORT, PMI_RANK and PMI_SIZE, or start the program with mpiexec.")


_world = None


def communicator():
    """``mpi4py.MPI.COMM_WORLD`` when the process runs under an MPI launcher, else None (a
    single process: the helpers below treat it as a world of size 1).

    Raises RuntimeError when launched with several processes but mpi4py cannot be imported.

    Returns
    -------
    mpi4py.MPI.Comm or None

    Examples
    --------
    >>> communicator() is None      # a single process
    True
    """
    global _world
    if _world is not None:
        return _world
    if not launched():
        return None
    _check_pmi()
    try:
        from mpi4py import MPI
    except ImportError as e:
        n = _launcher_size()
        if n is not None and n <= 1:
            return None
        raise RuntimeError(f"dlcore.distributed: started by an MPI launcher"
                           f"{'' if n is None else f' with {n} processes'} but mpi4py cannot "
                           f"be imported ({e}); install it with: {MPI_HINT}") from None
    _world = MPI.COMM_WORLD
    if _world.Get_size() > 1:
        _install_excepthook(_world)
    return _world


def _install_excepthook(comm):
    """An exception that nothing catches on one rank would leave the others waiting in
    their next collective forever (MPICH does not end the job when a rank exits through
    MPI_Finalize): after the usual traceback, abort every rank (what ``python -m mpi4py``
    does). Installed once, when a multi-process world is first used."""
    previous = sys.excepthook

    def hook(tp, value, tb):
        if previous is not sys.__excepthook__:
            previous(tp, value, tb)
            text = ""
        else:
            text = "".join(traceback.format_exception(tp, value, tb))
        _abort(comm, text + f"dlcore.distributed: rank {comm.Get_rank()} of "
               f"{comm.Get_size()}: unhandled {tp.__name__}; aborting all ranks (MPI_Abort)\n")

    sys.excepthook = hook


def _comm(comm):
    return communicator() if comm is None else comm


def rank(comm=None):
    """This process's rank (0 without MPI).

    Parameters
    ----------
    comm : mpi4py communicator, optional
        Default: :func:`communicator`.

    Returns
    -------
    int

    Examples
    --------
    >>> rank()
    0
    """
    c = _comm(comm)
    return 0 if c is None else c.Get_rank()


def size(comm=None):
    """The number of processes (1 without MPI).

    Parameters
    ----------
    comm : mpi4py communicator, optional
        Default: :func:`communicator`.

    Returns
    -------
    int

    Examples
    --------
    >>> size()
    1
    """
    c = _comm(comm)
    return 1 if c is None else c.Get_size()


def is_root(comm=None, root=0):
    """True on rank ``root`` (and without MPI).

    Parameters
    ----------
    comm : mpi4py communicator, optional
        Default: :func:`communicator`.
    root : int, default 0

    Returns
    -------
    bool

    Examples
    --------
    >>> is_root()
    True
    """
    return rank(comm) == root


def debug_enabled():
    """True when the environment variable DLCORE_DEBUG_DISTRIBUTED is set to 1 (or yes,
    true, on): the Trainer then checks every epoch that the ranks hold bitwise identical
    parameters.

    Returns
    -------
    bool

    Examples
    --------
    >>> import os
    >>> debug_enabled() == (os.environ.get("DLCORE_DEBUG_DISTRIBUTED", "").lower()
    ...                     in ("1", "yes", "true", "on"))
    True
    """
    return os.environ.get("DLCORE_DEBUG_DISTRIBUTED", "").strip().lower() in (
        "1", "yes", "true", "on")


# ------------------------------------------------------------------------------ sharding

def shard_bounds(n, rank, size):
    """(start, stop) of rank ``rank``'s contiguous slice of ``n`` items split over ``size``
    ranks: the first ``n % size`` ranks get one item more; slices are disjoint, in rank
    order, and cover ``range(n)``.

    Parameters
    ----------
    n : int
        The number of items.
    rank, size : int
        The rank and the number of ranks.

    Returns
    -------
    (int, int)

    Examples
    --------
    >>> [shard_bounds(7, r, 3) for r in range(3)]
    [(0, 3), (3, 5), (5, 7)]
    """
    for name, v in (("n", n), ("rank", rank), ("size", size)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"shard: expected an int {name}; got {type(v).__name__}")
    if size < 1 or not 0 <= rank < size or n < 0:
        raise ValueError(f"shard: expected size >= 1, 0 <= rank < size and n >= 0; got "
                         f"n={n}, rank={rank}, size={size}")
    q, r = divmod(int(n), int(size))
    start = rank * q + min(rank, r)
    return start, start + q + (1 if rank < r else 0)


def shard(batch, rank=None, size=None):
    """Rank ``rank``'s contiguous slice (a view for arrays) of ``batch`` (batch indices, or
    the samples themselves: anything with ``len`` and slicing along the first axis) split
    over ``size`` ranks (default: this process's rank and the world's size).

    Parameters
    ----------
    batch : sequence or ndarray
        Sliced along the first axis.
    rank, size : int, optional
        Default: this process's rank and the world's size.

    Returns
    -------
    The slice, of ``batch``'s type.

    Examples
    --------
    >>> shard(list(range(7)), 0, 2), shard(list(range(7)), 1, 2)
    ([0, 1, 2, 3], [4, 5, 6])
    """
    if rank is None:
        rank = globals()["rank"]()
    if size is None:
        size = globals()["size"]()
    start, stop = shard_bounds(len(batch), rank, size)
    return batch[start:stop]


# ------------------------------------------------------------------------------ collectives

def _mpi():
    from mpi4py import MPI
    return MPI


def _bn_buffers(network):
    """[(name, layer, attr)] of the batch-norm running statistics of ``network``'s layers."""
    layers = getattr(network, "layers", None)
    if layers is None:
        return []
    items = layers.items() if hasattr(layers, "items") else enumerate(layers)
    out = []
    for name, layer in items:
        for attr in ("running_mean", "running_var"):
            if hasattr(layer, attr) and hasattr(layer, "momentum"):
                out.append((f"{name}.{attr}", layer, attr))
    return out


def broadcast_params(network, root=0, comm=None):
    """Copy rank ``root``'s parameters (every array of ``network.params``) and batch-norm
    running statistics into every rank's arrays, in place: the layers keep holding the
    same arrays as ``network.params`` (the book's aliasing). No-op without MPI.

    Parameters
    ----------
    network : object
        Anything with a ``params`` dict (and batch-norm layers in ``layers``).
    root : int, default 0
    comm : mpi4py communicator, optional

    Returns
    -------
    None

    Examples
    --------
    >>> from dlcore.two_layer_net import TwoLayerNet
    >>> net = TwoLayerNet(4, 5, 3)
    >>> before = net.params["W1"].copy()
    >>> broadcast_params(net)       # one process: nothing to copy
    >>> bool((net.params["W1"] == before).all())
    True
    """
    c = _comm(comm)
    params = getattr(network, "params", None)
    if not isinstance(params, dict):
        raise TypeError(f"broadcast_params: expected a network with a params dict; got "
                        f"{type(network).__name__}")
    if c is None or c.Get_size() == 1:
        return
    bufs = _bn_buffers(network)
    me = c.Get_rank()
    # what root has: the keys, shapes and dtypes (the others must match)
    meta = None
    if me == root:
        meta = ([(k, np.shape(v), np.asarray(v).dtype.str) for k, v in sorted(params.items())],
                [(n, None if getattr(l, a) is None else
                  (np.shape(getattr(l, a)), np.asarray(getattr(l, a)).dtype.str))
                 for n, l, a in bufs])
    meta = c.bcast(meta, root=root)
    mine = [(k, np.shape(v), np.asarray(v).dtype.str) for k, v in sorted(params.items())]
    bad = mine != meta[0] or [n for n, _, _ in bufs] != [n for n, _ in meta[1]]
    if c.allreduce(int(bad), op=_mpi().MAX):
        raise DistributedError(f"broadcast_params: the ranks hold different networks (rank "
                               f"{me}: params {[m[:2] for m in mine]})")
    arrays = [params[k] for k, _, _ in meta[0]]
    for (n, layer, attr), (_, m) in zip(bufs, meta[1]):
        if m is None:
            setattr(layer, attr, None)
            continue
        a = getattr(layer, attr)
        if a is None:   # the book creates them on the first forward
            a = np.zeros(m[0], np.dtype(m[1]))
            setattr(layer, attr, a)
        arrays.append(a)
    for a in arrays:
        if isinstance(a, np.ndarray) and a.flags.c_contiguous and a.flags.writeable:
            c.Bcast(a, root=root)
        else:
            tmp = np.ascontiguousarray(a)
            c.Bcast(tmp, root=root)
            np.copyto(a, tmp)


class GradientAverager:
    """Averages gradient dicts across ranks in place through one preallocated contiguous
    buffer per dtype (one buffer in practice: float32 networks stay float32), reused every
    step: pack (each local gradient times its weight), one reduction, unpack.

    ``method``: "reduce_bcast" (MPI_Reduce to rank 0 then MPI_Bcast: bitwise identical
    results on every rank for any number of ranks), "allreduce" (one MPI_Allreduce;
    identical on 2 ranks, not guaranteed beyond) or "auto" (default: "allreduce" on 2
    ranks, else "reduce_bcast").

    Attributes: ``nbytes`` (bytes reduced per call), ``calls``, ``seconds`` (wall time spent
    in the MPI calls, summed).

    Parameters
    ----------
    comm : mpi4py communicator, optional
        Default: :func:`communicator`.
    method : {"auto", "reduce_bcast", "allreduce"}, default "auto"
    root : int, default 0
        The rank that reduces for "reduce_bcast".

    Raises
    ------
    ValueError
        For an unknown ``method``.

    Examples
    --------
    >>> avg = GradientAverager()
    >>> grads = {"W": np.ones(3)}
    >>> avg(grads, 0.5)["W"]        # one process: only the weight applies
    array([0.5, 0.5, 0.5])
    """

    METHODS = ("auto", "reduce_bcast", "allreduce")

    def __init__(self, comm=None, method="auto", root=0):
        if method not in self.METHODS:
            raise ValueError(f"GradientAverager: expected method 'auto', 'reduce_bcast' or "
                             f"'allreduce'; got {method!r}")
        self.comm = _comm(comm)
        if method == "auto":
            method = "allreduce" if self.comm is not None and \
                self.comm.Get_size() == 2 else "reduce_bcast"
        self.method = method
        self.root = root
        self._layout = None
        self._buffers = {}
        self.nbytes = 0
        self.calls = 0
        self.seconds = 0.0

    def _plan(self, arrays):
        """(key, dtype, offset, size, shape) per array, grouped by dtype; rebuilt only when
        the keys, shapes or dtypes change."""
        sig = tuple((k, a.shape, a.dtype.str) for k, a in arrays)
        if self._layout is not None and self._layout[0] == sig:
            return self._layout[1]
        plan, totals = [], {}
        for k, a in arrays:
            if a.dtype.kind != "f":
                raise TypeError(f"allreduce_gradients: expected floating-point gradients; got "
                                f"{a.dtype} for {k!r}")
            off = totals.get(a.dtype, 0)
            plan.append((k, a.dtype, off, a.size))
            totals[a.dtype] = off + a.size
        self._buffers = {dt: np.empty(n, dt) for dt, n in totals.items()}
        self.nbytes = sum(b.nbytes for b in self._buffers.values())
        self._layout = (sig, plan)
        return plan

    def __call__(self, grads, weight=None):
        """Replace every array of the dict ``grads`` by the sum over ranks of ``weight`` times
        it (default weight 1/size: the mean), in place; returns ``grads``.

        With uneven slices pass ``weight = local_count / global_count``: the result is then
        the global-batch mean of per-sample gradients (and the same for weight decay terms,
        since the weights sum to 1)."""
        if not isinstance(grads, dict):
            raise TypeError(f"allreduce_gradients: expected a dict of arrays; got "
                            f"{type(grads).__name__}")
        c = self.comm
        n = 1 if c is None else c.Get_size()
        w = 1.0 / n if weight is None else float(weight)
        arrays = []
        for k in sorted(grads, key=str):
            a = grads[k]
            if not isinstance(a, np.ndarray):
                raise TypeError(f"allreduce_gradients: expected numpy arrays; got "
                                f"{type(a).__name__} for {k!r}")
            if not a.flags.writeable:
                raise ValueError(f"allreduce_gradients: expected writable arrays (they are "
                                 f"averaged in place); got a read-only array for {k!r}")
            arrays.append((k, a))
        plan = self._plan(arrays)
        bufs = self._buffers
        for (k, a), (_, dt, off, sz) in zip(arrays, plan):
            seg = bufs[dt][off:off + sz].reshape(a.shape)
            if w == 1.0:
                np.copyto(seg, a)
            else:
                np.multiply(a, dt.type(w), out=seg)
        if c is not None and n > 1:
            import time
            MPI = _mpi()
            t0 = time.perf_counter()
            for dt in sorted(bufs, key=lambda d: d.str):
                b = bufs[dt]
                if self.method == "allreduce":
                    c.Allreduce(MPI.IN_PLACE, b, op=MPI.SUM)
                else:
                    if c.Get_rank() == self.root:
                        c.Reduce(MPI.IN_PLACE, b, op=MPI.SUM, root=self.root)
                    else:
                        c.Reduce(b, None, op=MPI.SUM, root=self.root)
                    c.Bcast(b, root=self.root)
            self.seconds += time.perf_counter() - t0
        self.calls += 1
        for (k, a), (_, dt, off, sz) in zip(arrays, plan):
            np.copyto(a, bufs[dt][off:off + sz].reshape(a.shape))
        return grads


_default_averagers = {}


def allreduce_gradients(grads, weight=None, comm=None, method="auto"):
    """Average the dict of gradient arrays ``grads`` across ranks in place (see
    :class:`GradientAverager`; one buffer per communicator and method is kept and reused);
    returns ``grads``. Without MPI (one process) the arrays are only multiplied by
    ``weight`` when it is given and not 1.

    Parameters
    ----------
    grads : dict of ndarray
        Averaged in place.
    weight : float, optional
        This rank's share of the global batch (its samples / the batch size).
    comm : mpi4py communicator, optional
    method : {"auto", "reduce_bcast", "allreduce"}, default "auto"

    Returns
    -------
    dict
        ``grads``.

    Examples
    --------
    >>> allreduce_gradients({"b": np.array([2.0, 4.0])}, weight=0.5)["b"]
    array([1., 2.])
    """
    c = _comm(comm)
    key = (id(c), method)
    avg = _default_averagers.get(key)
    if avg is None or avg.comm is not c:
        avg = _default_averagers[key] = GradientAverager(c, method)
    return avg(grads, weight)


def sum_scalars(values, comm=None, root=0):
    """The sums over ranks of a few floats (float64), identical on every rank (reduce to
    ``root`` then broadcast).

    Parameters
    ----------
    values : sequence of float
    comm : mpi4py communicator, optional
    root : int, default 0

    Returns
    -------
    ndarray of float64

    Examples
    --------
    >>> sum_scalars([1.0, 2.5])
    array([1. , 2.5])
    """
    buf = np.array(values, dtype=np.float64)
    c = _comm(comm)
    if c is None or c.Get_size() == 1:
        return buf
    MPI = _mpi()
    if c.Get_rank() == root:
        c.Reduce(MPI.IN_PLACE, buf, op=MPI.SUM, root=root)
    else:
        c.Reduce(buf, None, op=MPI.SUM, root=root)
    c.Bcast(buf, root=root)
    return buf


# ------------------------------------------------------------------------------ checks

def params_digest(network):
    """A hex digest of the bytes of every parameter (sorted by key) and batch-norm running
    statistic of ``network``.

    Parameters
    ----------
    network : object
        Anything with a ``params`` dict.

    Returns
    -------
    str

    Examples
    --------
    >>> from dlcore.two_layer_net import TwoLayerNet
    >>> np.random.seed(0); a = TwoLayerNet(4, 5, 3)
    >>> np.random.seed(0); b = TwoLayerNet(4, 5, 3)
    >>> params_digest(a) == params_digest(b)
    True
    """
    h = hashlib.blake2b(digest_size=16)
    for k, v in sorted(network.params.items()):
        a = np.ascontiguousarray(v)
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    for n, layer, attr in _bn_buffers(network):
        a = getattr(layer, attr)
        if a is not None:
            h.update(n.encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _rng_digest():
    state = np.random.get_state()
    h = hashlib.blake2b(digest_size=8)
    h.update(np.asarray(state[1]).tobytes())
    h.update(str(state[2:]).encode())
    return h.hexdigest()


def check_in_sync(network, comm=None, where="", rng=True):
    """Raise :class:`DistributedError` on every rank when the ranks' parameters (and
    batch-norm running statistics) are not bitwise identical, or (``rng``) their numpy
    global RNG states differ. One allgather of two short digests.

    Parameters
    ----------
    network : object
        Anything with a ``params`` dict.
    comm : mpi4py communicator, optional
    where : str
        Named in the error message.
    rng : bool, default True
        Also compare numpy's global RNG state.

    Returns
    -------
    None

    Raises
    ------
    DistributedError
        When the ranks differ.

    Examples
    --------
    >>> from dlcore.two_layer_net import TwoLayerNet
    >>> check_in_sync(TwoLayerNet(4, 5, 3))     # one process: always in sync
    """
    c = _comm(comm)
    if c is None or c.Get_size() == 1:
        return
    mine = (params_digest(network), _rng_digest() if rng else "")
    every = c.allgather(mine)
    bad_p = [r for r, d in enumerate(every) if d[0] != every[0][0]]
    bad_r = [r for r, d in enumerate(every) if d[1] != every[0][1]]
    if bad_p or bad_r:
        what = []
        if bad_p:
            what.append(f"parameters differ from rank 0's on rank(s) {bad_p}")
        if bad_r:
            what.append(f"numpy's global RNG state differs from rank 0's on rank(s) {bad_r} "
                        f"(the global batches are no longer the same)")
        raise DistributedError(f"dlcore.distributed: ranks out of sync{' ' + where if where else ''}: "
                               f"{'; '.join(what)}; digests per rank: {every}")


# ------------------------------------------------------------------------------ faults

@contextlib.contextmanager
def abort_on_error(comm=None, consistent=(DistributedError,), brief=()):
    """Around the code of a multi-process run: an exception on one rank prints its traceback
    (only its message for the ``brief`` types) and a line naming the rank to stderr, then
    calls MPI_Abort so that every rank stops (the others would otherwise wait forever in the
    next collective; ``mpiexec`` exits non-zero). Exceptions of the ``consistent`` types
    (raised on every rank at the same point) propagate normally, as does everything when
    there is a single process.

    Parameters
    ----------
    comm : mpi4py communicator, optional
    consistent : tuple of exception types
        Raised on every rank alike: propagate instead of aborting.
    brief : tuple of exception types
        Print only their message.

    Examples
    --------
    >>> with abort_on_error():
    ...     total = sum_scalars([1.0])[0]
    >>> float(total)
    1.0
    """
    c = _comm(comm)
    try:
        yield
    except BaseException as e:
        if c is None or c.Get_size() == 1 or isinstance(e, consistent):
            raise
        # (SystemExit too, even with status 0: the other ranks would be left waiting, and
        # mpiexec may then report success for a run that did not finish)
        r, n = c.Get_rank(), c.Get_size()
        try:
            sys.stdout.flush()
        except Exception:  # noqa: BLE001  (a closed stdout must not stop the abort)
            pass
        text = "" if isinstance(e, brief) else traceback.format_exc()
        _abort(c, text + f"dlcore.distributed: rank {r} of {n} failed with "
               f"{type(e).__name__}: {e}; aborting all {n} ranks (MPI_Abort)\n")


def _abort(comm, text):
    """Write ``text`` to stderr in one piece, give the launcher a moment to forward it, then
    MPI_Abort and never return. (Written piecewise, the last lines of a traceback were
    sometimes lost: the launcher tears down its output forwarding when the job aborts.)"""
    try:
        try:
            sys.stderr.flush()
        except Exception:  # noqa: BLE001  (a closed stderr must not stop the abort)
            pass
        data = text.encode("utf-8", "replace")
        while data:
            data = data[os.write(2, data):]
        time.sleep(0.2)
    except Exception:  # noqa: BLE001
        pass
    finally:
        try:
            comm.Abort(1)
        finally:
            # MPICH's MPI_Abort may return before the launcher kills the job: never let
            # this rank go on (it would leave the with-block as if nothing happened)
            os._exit(1)
