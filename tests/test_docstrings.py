"""The public API's docstrings: every public name documents its parameters and shows an
example, and the examples run (doctest).

The public names are those the API reference (docs/api/) documents: the modules below, their
``__all__`` where they define one, else their public classes and functions defined in them.
"""
import doctest
import importlib
import inspect
import sys

import numpy as np
import pytest

import dlcore

# The modules of the API reference, in the order of docs/api/.
# Names a module takes from a private module and exposes as its own (the book's surface).
REEXPORTED = {
    "dlcore.layers": ["Dropout", "BatchNormalization", "Convolution", "Pooling", "im2col",
                      "col2im"],
}

PUBLIC_MODULES = [
    "dlcore",
    "dlcore.functions",
    "dlcore.layers",
    "dlcore.layer_naive",
    "dlcore.optimizer",
    "dlcore.gradient",
    "dlcore.util",
    "dlcore.two_layer_net",
    "dlcore.multi_layer_net",
    "dlcore.multi_layer_net_extend",
    "dlcore.simple_convnet",
    "dlcore.deep_convnet",
    "dlcore.trainer",
    "dlcore.engine",
    "dlcore.mnist",
    "dlcore.datasets",
    "dlcore.distributed",
    "dlcore.book",
]


def _public_names(modname):
    """(qualified name, object) of each public class and function of a module: the names in
    its ``__all__``, else those it defines plus its REEXPORTED ones."""
    mod = importlib.import_module(modname)
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n, obj in vars(mod).items()
                 if not n.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
                 and getattr(obj, "__module__", "") == modname]
        names += REEXPORTED.get(modname, [])
    out = []
    for n in names:
        obj = getattr(mod, n)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            out.append((f"{modname}.{n}", obj))
    return out


def _collect():
    """Each public object once, under the first module (in PUBLIC_MODULES order) that
    exposes it."""
    seen, out = set(), []
    for m in PUBLIC_MODULES:
        for qn, obj in _public_names(m):
            if id(obj) not in seen:
                seen.add(id(obj))
                out.append((qn, obj))
    return out


PUBLIC = _collect()


def _takes_parameters(obj):
    """True when a class's constructor or a function has parameters to document."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return False
    params = [p for p in sig.parameters.values() if p.name != "self"]
    if inspect.isclass(obj) and target is object.__init__:
        return False
    return bool(params)


def test_public_names_found():
    assert len(PUBLIC) >= 60, [qn for qn, _ in PUBLIC]
    qualnames = {qn for qn, _ in PUBLIC}
    for expected in ("dlcore.layers.Affine", "dlcore.optimizer.Adam", "dlcore.trainer.Trainer",
                     "dlcore.engine.FusedTrainer", "dlcore.save", "dlcore.threads",
                     "dlcore.mnist.load_mnist", "dlcore.distributed.broadcast_params"):
        assert expected in qualnames


@pytest.mark.parametrize("qualname,obj", PUBLIC, ids=[qn for qn, _ in PUBLIC])
def test_docstring_has_parameters_and_example(qualname, obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{qualname} has no docstring"
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return      # exceptions: a docstring saying when they are raised is enough
    if _takes_parameters(obj):
        assert "\nParameters\n----------" in doc, f"{qualname}: no 'Parameters' section"
    assert "\nExamples\n--------" in doc or "\nExample\n-------" in doc, \
        f"{qualname}: no 'Examples' section"
    assert ">>> " in doc, f"{qualname}: the example has no '>>>' line"


def _doctest_modules():
    return sorted({obj.__module__ for _, obj in PUBLIC} | set(PUBLIC_MODULES))


@pytest.mark.parametrize("modname", _doctest_modules())
def test_doctests(modname, tmp_path, monkeypatch):
    """Run the examples of a module's docstrings (those of its public and private names)."""
    mod = importlib.import_module(modname)
    monkeypatch.chdir(tmp_path)         # examples that write files write them here
    state = np.random.get_state()
    # dlcore.book's examples register the book's module names (common.*, dataset.*); they
    # are restored afterwards, as tests/test_book.py's clean_modules fixture does
    import dlcore.book as book
    aliased = list(book.ALIASES) + list(book.COMPILED_NETS) + ["common", "dataset"]
    saved = {n: sys.modules.get(n) for n in aliased}
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    try:
        tests = [t for t in finder.find(mod, modname, extraglobs={"np": np, "dlcore": dlcore})
                 if t.examples]
        for t in tests:
            runner.run(t, out=report.append)
    finally:
        np.random.set_state(state)
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m
    assert runner.failures == 0, (f"{modname}: {runner.failures} of {runner.tries} examples "
                                  "failed\n" + "".join(report))


def test_api_reference_documents_every_public_module():
    """docs/api/ has an automodule page for each public module, and an explicit autoclass or
    autofunction for each name a module re-exports from a private one."""
    from pathlib import Path
    api = Path(__file__).resolve().parent.parent / "docs" / "api"
    if not api.is_dir():
        pytest.skip("docs/api not present (tests run from an installed copy)")
    text = "\n".join(p.read_text() for p in sorted(api.glob("*.rst")))
    for modname in PUBLIC_MODULES:
        assert f".. automodule:: {modname}\n" in text, f"no docs/api page for {modname}"
    for modname, names in REEXPORTED.items():
        for n in names:
            assert (f".. autoclass:: {modname}.{n}\n" in text
                    or f".. autofunction:: {modname}.{n}\n" in text), \
                f"{modname}.{n} is not in docs/api"
