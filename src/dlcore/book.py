"""Run the book's scripts unchanged on dlcore.

The book's scripts import its library as top-level packages (``from common.layers import
*``, ``from dataset.mnist import load_mnist``), after ``sys.path.append(os.pardir)``.
:func:`install` registers those module names in ``sys.modules`` as aliases of dlcore's
modules, so the scripts get dlcore whatever their ``sys.path`` holds::

    import dlcore.book
    dlcore.book.install()
    from common.trainer import Trainer      # dlcore.trainer.Trainer

From the command line, ``python -m dlcore.book path/to/script.py [args]`` runs a script
with the aliases installed, the script's directory as the current directory and first on
``sys.path``, and ``sys.argv`` set to the script and its arguments (as ``python script.py``
would, from inside its chapter directory). numpy's BLAS threads are set for the run like
the CLI's thread count: the CPUs that other programs leave free (the CPUs minus the rounded
1-minute load average or the tasks running now, at least 1), as numpy's BLAS threads spin
while they wait and lose badly to a busy core; ``--blas-threads N`` sets a count, 0 leaves
numpy's BLAS as it is, and so does an ``OPENBLAS_NUM_THREADS`` or ``OMP_NUM_THREADS`` set in
the environment. A chapter's own helper files next to the script
(``two_layer_net.py``, ``simple_convnet.py``, ...) are imported as they are and run on
dlcore through ``common.*``; with ``--compiled-nets`` the names ``two_layer_net``,
``layer_naive``, ``simple_convnet`` and ``deep_convnet`` are dlcore's modules instead (note
that chapter 4's ``two_layer_net.py`` is a different, sigmoid network from chapter 5's,
which is the one dlcore provides).
"""
import argparse
import contextlib
import importlib
import numbers
import os
import runpy
import sys
import types

# book module name -> dlcore module
ALIASES = {
    'common.functions': 'dlcore.functions',
    'common.layers': 'dlcore.layers',
    'common.optimizer': 'dlcore.optimizer',
    'common.gradient': 'dlcore.gradient',
    'common.util': 'dlcore.util',
    'common.trainer': 'dlcore.trainer',
    'common.multi_layer_net': 'dlcore.multi_layer_net',
    'common.multi_layer_net_extend': 'dlcore.multi_layer_net_extend',
    'dataset.mnist': 'dlcore.mnist',
}

# the chapters' own helper files, replaced only with --compiled-nets
COMPILED_NETS = {
    'two_layer_net': 'dlcore.two_layer_net',
    'layer_naive': 'dlcore.layer_naive',
    'simple_convnet': 'dlcore.simple_convnet',
    'deep_convnet': 'dlcore.deep_convnet',
}

_PACKAGES = ('common', 'dataset')


def _package(name):
    """The module object registered for a book package (``common``, ``dataset``): an empty
    package whose submodules are the aliases (it finds nothing on disk)."""
    mod = sys.modules.get(name)
    if mod is not None and getattr(mod, "__dlcore_alias__", False):
        return mod
    mod = types.ModuleType(name, f"dlcore's stand-in for the book's '{name}' package "
                                 "(see dlcore.book)")
    mod.__path__ = []
    mod.__package__ = name
    mod.__dlcore_alias__ = True
    return mod


def install(compiled_nets=False):
    """Register the book's module names as aliases of dlcore's modules in ``sys.modules``.

    ``common``, ``common.functions``, ``common.layers``, ``common.optimizer``,
    ``common.gradient``, ``common.util``, ``common.trainer``, ``common.multi_layer_net``,
    ``common.multi_layer_net_extend``, ``dataset`` and ``dataset.mnist``; with
    ``compiled_nets=True`` also ``two_layer_net``, ``layer_naive``, ``simple_convnet`` and
    ``deep_convnet``. Any module already imported under those names is replaced. Returns
    the dict of names registered. Calling it again is harmless.

    Parameters
    ----------
    compiled_nets : bool, default False
        Also alias the chapters' network modules.

    Returns
    -------
    dict
        Module name -> the dlcore module registered under it.

    Examples
    --------
    >>> import sys
    >>> names = install()
    >>> names["common.layers"] is dlcore.layers and sys.modules["common.layers"] is dlcore.layers
    True
    >>> for name in names:      # undo, for the examples that follow
    ...     _ = sys.modules.pop(name)
    """
    table = dict(ALIASES)
    if compiled_nets:
        table.update(COMPILED_NETS)
    else:  # undo an earlier install(compiled_nets=True): the script's own files are used
        for alias, target in COMPILED_NETS.items():
            mod = sys.modules.get(alias)
            if mod is not None and getattr(mod, "__name__", None) == target:
                del sys.modules[alias]
    packages = {name: _package(name) for name in _PACKAGES}
    registered = {}
    for alias, target in table.items():
        mod = importlib.import_module(target)
        sys.modules[alias] = mod
        registered[alias] = mod
        parent, _, child = alias.rpartition('.')
        if parent:
            setattr(packages[parent], child, mod)
    for name, pkg in packages.items():
        sys.modules[name] = pkg
        registered[name] = pkg
    return registered


def _auto_blas_threads():
    """numpy's BLAS threads for a run: None (as they are) when OPENBLAS_NUM_THREADS or
    OMP_NUM_THREADS is set, else the CLI's choice (dlcore._cli.auto_threads)."""
    if os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS"):
        return None
    from . import _cli
    return _cli.auto_threads()[0]


def _blas_limit(threads):
    """A context manager holding numpy's BLAS at `threads` threads (None: as it is)."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(int(threads), user_api="blas")


def run_script(path, args=(), compiled_nets=False, blas_threads="auto"):
    """Run the book script ``path`` as ``__main__`` the way ``python path args`` would from
    inside its directory, with :func:`install` done first. The current directory,
    ``sys.path``, ``sys.argv`` and numpy's BLAS thread count are changed for the run and
    restored afterwards; returns the script's globals.

    Parameters
    ----------
    path : str or os.PathLike
        The script.
    args : sequence of str
        Its command-line arguments.
    compiled_nets : bool, default False
        As for :func:`install`.
    blas_threads : int, None or "auto", default "auto"
        numpy's BLAS threads during the run (``threadpoolctl``); None leaves them as they
        are; "auto": the CPUs other programs leave free (as the CLI's thread count), or as
        they are when ``OPENBLAS_NUM_THREADS`` or ``OMP_NUM_THREADS`` is set.

    Returns
    -------
    dict
        The script's global variables after the run.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    TypeError, ValueError
        If ``blas_threads`` is not None, "auto" or an integer >= 1.

    Examples
    --------
    >>> import os, tempfile
    >>> script = os.path.join(tempfile.mkdtemp(), "ch03.py")
    >>> with open(script, "w") as f:
    ...     _ = f.write("import numpy as np; from common.functions import sigmoid; "
    ...                 "y = sigmoid(np.array([0.0]))")
    >>> run_script(script)["y"]
    array([0.5])
    """
    if isinstance(blas_threads, str):
        if blas_threads != "auto":
            raise ValueError("dlcore.book: expected blas_threads to be an integer >= 1, None "
                             f"or 'auto'; got {blas_threads!r}")
        blas_threads = _auto_blas_threads()
    elif blas_threads is not None:
        if isinstance(blas_threads, bool) or not isinstance(blas_threads, numbers.Integral):
            raise TypeError("dlcore.book: expected blas_threads to be an integer >= 1, None "
                            f"or 'auto'; got {type(blas_threads).__name__}")
        if blas_threads < 1:
            raise ValueError("dlcore.book: expected blas_threads to be an integer >= 1, None "
                             f"or 'auto'; got {blas_threads}")
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"dlcore.book: no script at {path}")
    install(compiled_nets=compiled_nets)
    script_dir = os.path.dirname(path)
    old_cwd, old_path, old_argv = os.getcwd(), list(sys.path), list(sys.argv)
    os.chdir(script_dir)
    sys.path.insert(0, script_dir)
    sys.argv = [path] + list(args)
    try:
        with _blas_limit(blas_threads):
            return runpy.run_path(path, run_name="__main__")
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        sys.argv = old_argv


def main(argv=None):
    """The command line ``python -m dlcore.book [--compiled-nets] SCRIPT [ARGS...]``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when the script ran to its end (a ``sys.exit`` in the script propagates).

    Examples
    --------
    >>> import os, tempfile
    >>> script = os.path.join(tempfile.mkdtemp(), "hello.py")
    >>> with open(script, "w") as f:
    ...     _ = f.write("from common.functions import relu; print(relu(-1.0))")
    >>> main([script])
    0.0
    0
    """
    parser = argparse.ArgumentParser(
        prog="python -m dlcore.book",
        description="Run a script of the book 'Deep Learning from Scratch' unchanged on "
                    "dlcore: common.* and dataset.mnist are dlcore's modules.")
    parser.add_argument("--compiled-nets", action="store_true",
                        help="use dlcore's two_layer_net (chapter 5), layer_naive, "
                             "simple_convnet and deep_convnet instead of the files next "
                             "to the script")
    parser.add_argument("--blas-threads", type=int, default=None, metavar="N",
                        help="numpy's BLAS threads while the script runs (default: the CPUs "
                             "other programs leave free; 0 leaves numpy's BLAS as it is)")
    parser.add_argument("script", help="path to the book script")
    parser.add_argument("args", nargs=argparse.REMAINDER,
                        help="arguments passed to the script")
    ns = parser.parse_args(argv)
    if ns.blas_threads is not None and ns.blas_threads < 0:
        parser.error(f"--blas-threads: expected a count >= 0; got {ns.blas_threads}")
    blas = "auto" if ns.blas_threads is None else (ns.blas_threads or None)
    run_script(ns.script, ns.args, compiled_nets=ns.compiled_nets, blas_threads=blas)
    return 0


if __name__ == "__main__":
    sys.exit(main())
