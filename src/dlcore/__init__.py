"""dlcore: the code of *Deep Learning from Scratch* (Koki Saitoh), compiled.

The classes and functions mirror the book's ``common`` package (``dlcore.functions``,
``dlcore.layers``, ``dlcore.optimizer``, ...); the heavy loops run in C kernels with OpenMP,
and matrix products in the OpenBLAS of ``scipy-openblas32`` on one BLAS thread.
"""
import os as _os

# OpenMP workers sleep between parallel regions instead of spinning (libgomp reads this when
# _kernels loads it): with another process busy on the machine, spinning workers took the
# core it needed and a fused step ran 2-3x slower on 2 threads than on 1; passive workers made
# 2 threads the fastest again (benchmarks/bench_load.py). A value the user set is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "passive")

# Loads libscipy_openblas.so with RTLD_GLOBAL so that _kernels finds its GEMM (packaging note).
import scipy_openblas32 as _scipy_openblas32  # noqa: F401

from . import _kernels

_kernels.init(_os.environ.get("DLCORE_CPU") or None)

from ._config import (  # noqa: E402
    get_num_threads,
    set_num_threads,
    show_config,
    config,
    threads,
)

from ._config import _cap_openmp_request  # noqa: E402

_cap_openmp_request()

from ._version import __version__  # noqa: E402  (the one version source)

__all__ = ["get_num_threads", "set_num_threads", "threads", "show_config", "config",
           "save", "load", "__version__"]


def __getattr__(name):
    # save/load (safe .npz persistence, beyond the book) import their module on first use:
    # a book script that never saves does not pay for zipfile, signal and tempfile
    if name in ("save", "load"):
        from . import _persist
        return getattr(_persist, name)
    raise AttributeError(f"module 'dlcore' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"save", "load"})
