"""Thread control and build/run-time introspection."""
import contextlib
import os
import platform

from . import _kernels


# The count set through set_num_threads/threads (None: none set); the C library holds the
# value its kernels read, this mirrors it so that threads() can restore "none set".
_setting = None


def get_num_threads():
    """Number of threads the next dlcore kernel called from *this* thread uses.

    It is the count given to :func:`set_num_threads`, the same in every thread; before any
    is set, OpenMP's setting (``OMP_NUM_THREADS``, or the number of processors). A thread whose
    own OpenMP setting was changed (``threadpoolctl.threadpool_limits``,
    ``omp_set_num_threads``) uses the smaller of the two. Never more than
    ``max(64, 4 x processors)``.

    Returns
    -------
    int
        The OpenMP thread count of the next parallel region.

    Examples
    --------
    >>> with dlcore.threads(2):
    ...     dlcore.get_num_threads()
    2
    """
    return _kernels.get_max_threads()


def set_num_threads(n):
    """Set the number of threads of every later dlcore kernel call, from any Python thread
    (a process-wide setting; OpenMP's ``omp_set_num_threads`` would set it for the calling
    thread only). Counts above ``max(64, 4 x processors)`` are capped there.

    Results do not depend on it: the kernels cut their work into blocks that depend only on
    the shapes, and add partial sums in a fixed order.

    Parameters
    ----------
    n : int
        At least 1.

    Raises
    ------
    ValueError
        If ``n`` is below 1.

    Examples
    --------
    >>> before = dlcore.get_num_threads()
    >>> dlcore.set_num_threads(1)
    >>> dlcore.get_num_threads()
    1
    >>> dlcore.set_num_threads(before)
    """
    global _setting
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: expected a positive int; got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive int; got {n}")
    n = min(n, _kernels.max_threads_cap())
    _kernels.set_num_threads(n)
    _setting = n


@contextlib.contextmanager
def threads(n):
    """Context manager: run the enclosed code with ``n`` dlcore threads, then restore the
    previous setting. Like :func:`set_num_threads` it is process-wide: it applies to dlcore
    calls from every thread while it is active.

    Parameters
    ----------
    n : int
        The thread count inside the ``with`` block.

    Examples
    --------
    >>> import dlcore
    >>> with dlcore.threads(1):
    ...     dlcore.get_num_threads()
    1
    """
    global _setting
    old = _setting
    set_num_threads(n)
    try:
        yield
    finally:
        _kernels.set_num_threads(0 if old is None else old)
        _setting = old


def _cap_openmp_request():
    """Warn (once, at import) when OMP_NUM_THREADS asks for more threads than dlcore forks:
    libgomp exits the process when it cannot create a team that large."""
    raw = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    cap = _kernels.max_threads_cap()
    if raw.isdigit() and int(raw) > cap:
        import warnings
        warnings.warn(f"dlcore: OMP_NUM_THREADS={raw} asks for more threads than dlcore "
                      f"forks; its kernels use at most {cap} (max(64, 4 x processors))",
                      RuntimeWarning, stacklevel=3)


def config():
    """The build and run-time configuration as a dict (what :func:`show_config` prints).

    Returns
    -------
    dict
        Keys include ``version``, ``openmp``, ``threads``, ``blas_backend``, ``kernel_path``,
        ``l2_bytes`` (the per-core L2 as the CPU reports it, 0 where unknown) and
        ``gemm_panel_bytes`` (the own GEMM's block of copied B panels, sized from it).

    Examples
    --------
    >>> cfg = dlcore.config()
    >>> cfg["version"] == dlcore.__version__
    True
    """
    return {
        "version": _kernels.version(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "openmp": _kernels.openmp_enabled(),
        "threads": get_num_threads(),
        "blas_backend": _kernels.blas_backend(),
        "blas_core": _kernels.blas_core(),
        "kernel_path": _kernels.isa_selected(),
        "kernel_paths_supported": _kernels.isa_supported(),
        "l2_bytes": _kernels.l2_bytes(),
        "gemm_panel_bytes": _kernels.gemm_panel_bytes(),
        "DLCORE_CPU": os.environ.get("DLCORE_CPU"),
    }


def show_config():
    """Print version, OpenMP status, thread count, BLAS backend and core, kernel path, L2.

    Returns
    -------
    None

    Examples
    --------
    >>> dlcore.show_config()  # doctest: +ELLIPSIS
    dlcore ...
    """
    c = config()
    print(f"dlcore {c['version']} (Python {c['python']}, {c['machine']})")
    print(f"  OpenMP:       {'on' if c['openmp'] else 'off'}, {c['threads']} thread(s)")
    print(f"  BLAS:         {c['blas_backend']} (core: {c['blas_core']}), 1 BLAS thread")
    cap = f", capped by DLCORE_CPU={c['DLCORE_CPU']}" if c["DLCORE_CPU"] else ""
    print(f"  kernel path:  {c['kernel_path']}{cap} "
          f"(supported: {', '.join(c['kernel_paths_supported'])})")
    l2 = f"{c['l2_bytes'] // 1024} KB" if c["l2_bytes"] else "unknown"
    print(f"  L2 cache:     {l2} (GEMM panel block {c['gemm_panel_bytes'] // 1024} KB)")
