"""The C <-> Python contract is written in one place, csrc/include/dlcore (kernels.def for
the kernels, dlcore.h for the enums); the Cython declarations and the Python constants that
mirror it are checked against it here, so that a kernel added, removed or re-signed in C
without its twin fails the suite instead of miscompiling or passing wrong integers."""
import re
from pathlib import Path

import pytest

from dlcore import engine

ROOT = Path(__file__).resolve().parents[1]
DEF = ROOT / "csrc" / "include" / "dlcore" / "kernels.def"
HDR = ROOT / "csrc" / "include" / "dlcore" / "dlcore.h"
PXD = ROOT / "src" / "dlcore" / "_csrc.pxd"
ENGINE_PXI = ROOT / "src" / "dlcore" / "_k_engine.pxi"

pytestmark = pytest.mark.skipif(not DEF.exists(), reason="needs the source tree (csrc/)")


def _strip_comments(text):
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def _split_params(params):
    """Top-level comma-separated items of a parameter list (no nested parentheses here)."""
    params = params.strip()
    return [p.strip() for p in params.split(",")] if params else []


def kernels():
    """{name: [parameter declarations with DL_T]} from kernels.def."""
    text = _strip_comments(DEF.read_text())
    out = {}
    for m in re.finditer(r"DL_KERNEL\(\s*([\w ]+?)\s*,\s*(\w+)\s*,\s*\(([^()]*)\)", text):
        out[m.group(2)] = (m.group(1), _split_params(m.group(3)))
    return out


def pxd_functions():
    """{c name: (return type, [parameters])} declared in _csrc.pxd."""
    out = {}
    for m in re.finditer(r"^\s+([\w ]+?\**)\s*\*?(dl_\w+)\(([^()]*)\)", PXD.read_text(), re.M):
        out[m.group(2)] = (m.group(1), _split_params(m.group(3)))
    return out


def _norm_type(decl, dtype):
    """A parameter's type with DL_T spelled for dtype, the name dropped, spaces folded."""
    decl = decl.replace("DL_T", dtype)
    decl = re.sub(r"\b(DL_RESTRICT|restrict)\b", "", decl)
    decl = re.sub(r"\s*\*\s*", " * ", decl)
    words = decl.split()
    if words and re.fullmatch(r"\w+", words[-1]) and len(words) > 1:
        words = words[:-1]  # the parameter's name
    return " ".join(words)


def test_every_kernel_is_declared_for_cython_with_its_signature():
    ks, decl = kernels(), pxd_functions()
    assert len(ks) > 30  # the parser found the list
    for name, (ret, params) in ks.items():
        for suffix, ctype in (("f64", "double"), ("f32", "float")):
            cname = f"dl_{name}_{suffix}"
            assert cname in decl, f"{cname} (kernels.def) is not declared in _csrc.pxd"
            pret, pparams = decl[cname]
            assert [_norm_type(p, ctype) for p in params] == \
                [_norm_type(p, ctype) for p in pparams], cname
            assert _norm_type(ret + " x", ctype) == _norm_type(pret + " x", ctype), cname


def test_no_cython_declaration_without_a_kernel():
    ks = kernels()
    for cname in pxd_functions():
        m = re.fullmatch(r"dl_(\w+)_(f32|f64)", cname)
        if m:
            assert m.group(1) in ks, f"{cname} is declared in _csrc.pxd but not in kernels.def"


def header_enums():
    """{NAME: value} of every enumerator in dlcore.h (explicit values or counting on)."""
    text = _strip_comments(HDR.read_text())
    out = {}
    for body in re.findall(r"enum\s+\w*\s*\{([^}]*)\}", text):
        value = -1
        for item in body.split(","):
            item = item.strip()
            if not item:
                continue
            if "=" in item:
                name, v = (s.strip() for s in item.split("="))
                value = int(v, 0)
            else:
                name, value = item, value + 1
            out[name] = value
    return out


def test_engine_constants_match_the_header():
    e = header_enums()
    kinds = {"AFFINE": engine._AFFINE, "RELU": engine._RELU, "SIGMOID": engine._SIGMOID,
             "DROPOUT": engine._DROPOUT, "BATCHNORM": engine._BATCHNORM, "CONV": engine._CONV,
             "POOL": engine._POOL}
    for k, v in kinds.items():
        assert e[f"DL_EOP_{k}"] == v, k
    slots = {"P0": engine._SLOT_P, "G0": engine._SLOT_G, "S1_0": engine._SLOT_S1,
             "S2_0": engine._SLOT_S2, "RMEAN": engine._SLOT_RMEAN, "RVAR": engine._SLOT_RVAR}
    for k, v in slots.items():
        assert e[f"DL_SLOT_{k}"] == v, k
    for name, v in engine._OPT.items():
        assert e[f"DL_OPT_{name.upper()}"] == v, name
    pxi = ENGINE_PXI.read_text()
    for name in ("F64", "F32", "NONE"):
        m = re.search(rf"^ENGINE_TYPE_{name} = (\d+)", pxi, re.M)
        assert m and int(m.group(1)) == e[f"DL_TYPE_{name}"], name


def test_the_parsers_see_a_mismatch():
    """The checks above can fail: a signature or a value off by one is noticed."""
    assert _norm_type("const DL_T *x", "double") != _norm_type("DL_T *x", "double")
    assert _norm_type("dl_index n", "float") == _norm_type("dl_index  m", "float")
    assert header_enums()["DL_EOP_RELU"] != engine._SIGMOID
