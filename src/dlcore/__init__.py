"""dlcore: the code of *Deep Learning from Scratch* (Koki Saitoh), compiled.

The classes and functions mirror the book's ``common`` package (``dlcore.functions``,
``dlcore.layers``, ``dlcore.optimizer``, ...); the heavy loops run in C kernels with OpenMP,
and matrix products in the OpenBLAS of ``scipy-openblas32`` on one BLAS thread.
"""
import os as _os

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
from ._persist import save, load  # noqa: E402  (safe .npz persistence, beyond the book)

__all__ = ["get_num_threads", "set_num_threads", "threads", "show_config", "config",
           "save", "load", "__version__"]
