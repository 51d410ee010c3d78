"""Thread control and build/run-time introspection."""
import contextlib
import os
import platform

from . import _kernels


def get_num_threads():
    """Number of OpenMP threads dlcore's kernels use (honours ``OMP_NUM_THREADS``).

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
    """Set the number of OpenMP threads for dlcore's kernels (and this process's OpenMP).

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
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: expected a positive int; got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive int; got {n}")
    _kernels.set_num_threads(n)


@contextlib.contextmanager
def threads(n):
    """Context manager: run the enclosed code with ``n`` dlcore threads, then restore.

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
    old = get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(old)


def config():
    """The build and run-time configuration as a dict (what :func:`show_config` prints).

    Returns
    -------
    dict
        Keys include ``version``, ``openmp``, ``threads``, ``blas`` and ``kernel_path``.

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
        "DLCORE_CPU": os.environ.get("DLCORE_CPU"),
    }


def show_config():
    """Print version, OpenMP status, thread count, BLAS backend and core, kernel path.

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
