#!/usr/bin/env bash
# tools/sanitize.sh - build dlcore with AddressSanitizer + UndefinedBehaviorSanitizer and run
#   1. the standalone C tests (ctest; every kernel, every kernel path), and
#   2. the whole pytest suite against a sanitized build of the Python extension, installed in
#      its own virtual environment, with libasan preloaded into the (uninstrumented) python.
# Any ASan or UBSan report fails the run (-fno-sanitize-recover=all, halt_on_error=1).
#
# Usage: tools/sanitize.sh [pytest args...]      (default: tests -q)
# Environment: DLCORE_SANITIZE (default address,undefined), SANITIZE_DIR (default
# build/sanitize: C build, Python build and venv), PYTHON (default python3), CC.
# Leak checking is off for the Python run (CPython keeps interned objects alive at exit, which
# LeakSanitizer reports); it stays on for the C tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
san=${DLCORE_SANITIZE:-address,undefined}
out=${SANITIZE_DIR:-$root/build/sanitize}
python=${PYTHON:-python3}
cc=${CC:-gcc}
mkdir -p "$out"

case ",$san," in
  *,address,*) libasan=$("$cc" -print-file-name=libasan.so) ;;
  *) libasan="" ;;
esac
if [ -n "$libasan" ] && [ ! -e "$libasan" ]; then
  echo "sanitize: $cc has no libasan.so (got '$libasan')" >&2
  exit 2
fi
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "sanitize: [1/2] standalone C library and C tests with -fsanitize=$san"
CC=$cc cmake -S "$root" -B "$out/c" -G Ninja -DDLCORE_BUILD_PYTHON=OFF \
  -DDLCORE_SANITIZE="$san" -DCMAKE_C_FLAGS=-Werror >/dev/null
cmake --build "$out/c"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1} \
  ctest --test-dir "$out/c" --output-on-failure

echo "sanitize: [2/2] Python extension with -fsanitize=$san, pytest under LD_PRELOAD=$libasan"
venv=$out/venv
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
# the build requirements of pyproject.toml (the build runs without isolation), CMake and
# Ninja from PyPI (pyproject's cmake.version floor), and what the tests import
mapfile -t build_reqs < <("$venv/bin/python" - "$root/pyproject.toml" <<'PY'
import sys, tomllib
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["build-system"]["requires"]))
PY
)
"$venv/bin/python" -m pip install --quiet "${build_reqs[@]}" "cmake>=3.26" ninja \
  numpy pytest hypothesis threadpoolctl
CC=$cc "$venv/bin/python" -m pip install --quiet --no-build-isolation --force-reinstall \
  --no-deps -Cbuild-dir="$out/py" -Ccmake.define.DLCORE_SANITIZE="$san" \
  -Ccmake.define.CMAKE_C_FLAGS=-Werror "$root"

# Canary: the run must be able to fail. An out-of-bounds read in an instrumented kernel (called
# through ctypes with n one larger than the buffers) has to be reported by ASan.
if [ -n "$libasan" ]; then
  canary=$(cd "$out" && LD_PRELOAD=$libasan ASAN_OPTIONS=detect_leaks=0 "$venv/bin/python" -c '
import ctypes, numpy as np, dlcore._kernels as k
lib = ctypes.CDLL(k.__file__)
f = lib.dl_relu_forward_f64
f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ssize_t]
x, y = np.ones(8), np.empty(8)
f(y.ctypes.data, None, x.ctypes.data, 9)
print("canary: no report")' 2>&1 || true)
  if ! grep -q "heap-buffer-overflow" <<<"$canary"; then
    echo "sanitize: the ASan canary was not caught; the extension is not instrumented:" >&2
    echo "$canary" | tail -5 >&2
    exit 1
  fi
  echo "sanitize: canary out-of-bounds read reported by ASan, as it must be"
fi

if [ $# -eq 0 ]; then
  set -- tests -q
fi
# Run from the repository root so that tests/ and its conftest are found, but import the
# installed (sanitized) dlcore, never src/: the tests do not put src/ on sys.path.
# Reports go to files (log_path), so that those of child processes (the crash-isolated
# corpus, kill tests) and of tests whose stderr pytest captures are seen too.
# allocator_may_return_null=1: an impossible allocation (tests ask numpy and pickle for
# some on purpose) returns NULL, i.e. Python's MemoryError, as without ASan.
reports=$out/reports
rm -rf "$reports"
mkdir -p "$reports"
status=0
LD_PRELOAD=$libasan \
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1:log_path=$reports/asan} \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan \
  "$venv/bin/python" -m pytest -p no:cacheprovider "$@" || status=$?
if compgen -G "$reports/*" >/dev/null; then
  echo "sanitize: sanitizer reports:" >&2
  for f in "$reports"/*; do echo "== $f" >&2; cat "$f" >&2; done
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "sanitize: pytest failed (exit $status) without a sanitizer report" >&2
  exit "$status"
fi
echo "sanitize: clean (no ASan/UBSan report)"
