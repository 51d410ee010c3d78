"""wheels/check_isa.py can fail: tiny shared libraries with AVX code in the wrong place.

Needs the source tree (wheels/), gcc and GNU binutils; skipped otherwise (e.g. when the suite
runs against an installed wheel on a machine state without a compiler).
"""
import importlib.util
import pathlib
import shutil
import subprocess

import pytest

_CHECKER = pathlib.Path(__file__).resolve().parents[1] / "wheels" / "check_isa.py"
pytestmark = pytest.mark.skipif(
    not _CHECKER.exists() or not all(shutil.which(t) for t in ("gcc", "objdump", "readelf", "strip")),
    reason="needs the source tree's wheels/check_isa.py, gcc and binutils")

_SRC = """
void scale_{name}(float *restrict y, const float *restrict x, long n)
{{
    for (long i = 0; i < n; i++)
        y[i] = 3.0f * x[i] + 1.0f;
}}
"""


@pytest.fixture(scope="module")
def checker():
    spec = importlib.util.spec_from_file_location("check_isa", _CHECKER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _build(tmp_path, parts):
    """A shared library from (function suffix, gcc flags) pairs, one object file each."""
    objs = []
    for i, (name, flags) in enumerate(parts):
        c = tmp_path / f"part{i}.c"
        c.write_text(_SRC.format(name=name))
        o = tmp_path / f"part{i}.o"
        subprocess.run(["gcc", "-O3", "-fPIC", "-c", *flags, str(c), "-o", str(o)], check=True)
        objs.append(str(o))
    so = tmp_path / "libprobe.so"
    subprocess.run(["gcc", "-shared", *objs, "-o", str(so)], check=True)
    return str(so)


def test_dispatched_variants_pass(tmp_path, checker):
    so = _build(tmp_path, [("baseline", []), ("avx2", ["-march=x86-64-v3"]),
                           ("avx512", ["-march=x86-64-v4", "-mprefer-vector-width=512"])])
    rep = checker.check_file(so)
    assert rep["violations"] == []
    assert rep["paths"]["avx512"].get("zmm", 0) > 0  # the check saw AVX-512 where allowed
    assert rep["paths"]["avx2"].get("ymm", 0) > 0


def test_avx_in_baseline_code_fails(tmp_path, checker):
    so = _build(tmp_path, [("plain", ["-march=x86-64-v3"])])  # no _avx2 suffix: baseline
    rep = checker.check_file(so)
    assert any("[baseline] scale_plain" in v and "vex" in v for v in rep["violations"])


def test_avx512_in_avx2_variant_fails(tmp_path, checker):
    so = _build(tmp_path, [("avx2", ["-march=x86-64-v4", "-mprefer-vector-width=512"])])
    rep = checker.check_file(so)
    assert any("[avx2] scale_avx2" in v and "evex" in v for v in rep["violations"])


def test_sse4_in_baseline_code_fails(tmp_path, checker):
    src = tmp_path / "round.c"
    src.write_text("#include <math.h>\ndouble rnd_old(double x) { return floor(x); }\n")
    o = tmp_path / "round.o"
    subprocess.run(["gcc", "-O2", "-fPIC", "-msse4.1", "-c", str(src), "-o", str(o)], check=True)
    so = tmp_path / "libround.so"
    subprocess.run(["gcc", "-shared", str(o), "-o", str(so)], check=True)
    rep = checker.check_file(str(so))
    assert any("sse4.1 roundsd" in v for v in rep["violations"]), rep["violations"]


def test_stripped_library_is_an_error(tmp_path, checker):
    so = _build(tmp_path, [("avx2", ["-march=x86-64-v3"])])
    subprocess.run(["strip", "--strip-unneeded", so], check=True)
    rep = checker.check_file(so)
    assert any("stripped" in v for v in rep["violations"])
