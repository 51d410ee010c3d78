#!/usr/bin/env bash
# wheels/cross_check.sh - compile-only checks of csrc/ for the platforms this machine cannot
# run: macOS (arm64, x86-64) and Windows (x86-64, mingw-w64 ABI), with zig's clang (the PyPI
# package ziglang), each with OpenMP (LLVM's omp.h from the PyPI package cmeel-libomp) and
# without it (the serial fallback), warnings as errors.
#
#   bash wheels/cross_check.sh [PYTHON]     PYTHON has ziglang, cmeel-libomp, scipy-openblas32
#
# Prints one line per target and mode and exits non-zero if any compile fails. Nothing is
# linked or run: a compile check, not a test (README, "Install").
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PY=${1:-python3}
zig=$("$PY" -c "import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), 'zig'))")
omp_inc=$("$PY" -c "import sysconfig, os; print(os.path.join(sysconfig.get_paths()['purelib'], 'cmeel.prefix', 'include'))")
ob_inc=$("$PY" -c "import scipy_openblas32 as s; print(s.get_include_dir())")
[ -f "$omp_inc/omp.h" ] || { echo "cross_check: no omp.h under $omp_inc (pip install cmeel-libomp)"; exit 2; }
out=$(mktemp -d /tmp/dlcore-cross.XXXXXX)
trap 'rm -rf "$out"' EXIT

# sources per target: isa_avx2.c / isa_avx512.c only on x86-64 (as CMakeLists.txt does)
common=(csrc/src/dispatch.c csrc/src/blas.c csrc/src/engine.c csrc/src/isa_baseline.c)
fails=0
cd "$root"
for target in aarch64-macos.11.0 x86_64-macos.10.15 x86_64-windows-gnu; do
  for mode in openmp serial; do
    flags=(-std=gnu11 -O2 -Wall -Wextra -Werror -ffp-contract=off -fno-math-errno
           -Icsrc/include -Icsrc/src -I"$ob_inc" -DDL_WITH_OPENBLAS -DDLCORE_VERSION=\"cross\")
    if [ "$mode" = openmp ]; then
      flags+=(-fopenmp=libomp -I"$omp_inc")
    else
      flags+=(-Wno-unknown-pragmas)
    fi
    srcs=("${common[@]}")
    case "$target" in x86_64-*) flags+=(-DDL_X86_DISPATCH) ;; esac
    log="$out/$target-$mode.log"
    ok=1
    for src in "${srcs[@]}"; do
      "$zig" cc -target "$target" "${flags[@]}" -c "$src" -o "$out/$(basename "$src").o" >>"$log" 2>&1 || ok=0
    done
    case "$target" in x86_64-*)
      "$zig" cc -target "$target" "${flags[@]}" -mcpu=x86_64_v3 -c csrc/src/isa_avx2.c -o "$out/avx2.o" >>"$log" 2>&1 || ok=0
      "$zig" cc -target "$target" "${flags[@]}" -mcpu=x86_64_v4 -mprefer-vector-width=512 -c csrc/src/isa_avx512.c -o "$out/avx512.o" >>"$log" 2>&1 || ok=0
    esac
    if [ $ok = 1 ]; then
      echo "cross_check: ok     $target ($mode)"
    else
      fails=$((fails + 1))
      echo "cross_check: FAILED $target ($mode):"
      grep -E "error|warning" "$log" | sort | uniq -c | sort -rn | head -8 | sed 's/^/    /'
    fi
  done
done
echo "cross_check: $((6 - fails)) of 6 target/mode compiles passed"
[ $fails = 0 ]
